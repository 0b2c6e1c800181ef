#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "src/server/data_dir.h"

int data_dir_open(const char *dir, int *lock_fd, char *err, size_t err_len)
{
    char *member = NULL, *lock = NULL;
    int rc = -1;
    *lock_fd = -1;
    if (asprintf(&member, "%s/member", dir) < 0 || asprintf(&lock, "%s/.lock", member) < 0) {
        snprintf(err, err_len, "out of memory");
        member = lock = NULL;
        goto out;
    }
    const char *dirs[] = {dir, member};
    for (size_t i = 0; i < 2; i++) {
        int e = fs_mkdir_all(dirs[i]);
        if (e != 0) {
            snprintf(err, err_len, "cannot create directory %s: %s", dirs[i], strerror(-e));
            goto out;
        }
        struct stat st;
        if (stat(dirs[i], &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, err_len, "%s is not a directory", dirs[i]);
            goto out;
        }
    }
    char what[4200];
    snprintf(what, sizeof(what), "data directory %s", dir);
    int fd = fs_lock_file(lock, what, err, err_len);
    if (fd < 0) {
        if (fd == -EBUSY)
            rc = DATA_DIR_E_LOCKED;
        goto out;
    }
    *lock_fd = fd;
    rc = 0;
out:
    free(member);
    free(lock);
    return rc;
}
