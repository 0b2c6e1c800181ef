/* Directory lock: one process (and one wal_t) per WAL directory, as etcd's
 * flock on its WAL files ensures. */
#include "wal/wal_int.h"

#include <stdio.h>
#include <unistd.h>

int wal_lock_dir(const char *dir, char *err, size_t err_len)
{
    char path[4096], what[4200];
    snprintf(path, sizeof(path), "%s/LOCK", dir);
    snprintf(what, sizeof(what), "directory %s", dir);
    return fs_lock_file(path, what, err, err_len);
}

void wal_unlock_dir(int fd)
{
    if (fd >= 0)
        close(fd);
}
