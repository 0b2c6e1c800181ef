#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/data_dir.h"

/* mkdir -p with mode 0700 for every directory it creates (etcd: TouchDirAll). */
static int mkdir_all(const char *path, char *err, size_t err_len)
{
    char *p = strdup(path);
    if (p == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            snprintf(err, err_len, "cannot create directory %s: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, err_len, "%s is not a directory", path);
        free(p);
        return -1;
    }
    free(p);
    return 0;
}

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
    if (mkdir_all(dir, err, err_len) != 0 || mkdir_all(member, err, err_len) != 0)
        goto out;
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_len, "cannot open lock file %s: %s", lock, strerror(errno));
        goto out;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) {
            snprintf(err, err_len,
                     "data directory %s is in use by another member (lock held on %s)", dir, lock);
            rc = DATA_DIR_E_LOCKED;
        } else {
            snprintf(err, err_len, "cannot lock %s: %s", lock, strerror(e));
        }
        goto out;
    }
    *lock_fd = fd;
    rc = 0;
out:
    free(member);
    free(lock);
    return rc;
}
