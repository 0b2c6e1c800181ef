/* Directory lock: one process (and one wal_t) per data directory, as etcd's
 * flock on its WAL files ensures. */
#include "wal/wal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int wal_lock_dir(const char *dir, char *err, size_t err_len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/LOCK", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        wal_seterr(err, err_len, "cannot open lock file %s: %s", path, strerror(e));
        return -e;
    }
    /* flock locks belong to the open file description, so a second open in
     * the same process conflicts too. */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        close(fd);
        if (e == EWOULDBLOCK) {
            wal_seterr(err, err_len, "directory %s is in use by another metcd (pid %s)", dir,
                       pid[0] ? pid : "unknown");
            return -EBUSY;
        }
        wal_seterr(err, err_len, "cannot lock %s: %s", path, strerror(e));
        return -e;
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) < 0) {
        /* the pid is only informative */
    }
    return fd;
}

void wal_unlock_dir(int fd)
{
    if (fd >= 0)
        close(fd);
}
