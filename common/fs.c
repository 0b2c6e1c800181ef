/* Directories and lock files: see common/fs.h. */
#include "common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int fs_write_all(int fd, const void *p, size_t len)
{
    const char *c = p;
    while (len > 0) {
        ssize_t n = write(fd, c, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -ENOSPC;
        c += n;
        len -= (size_t)n;
    }
    return 0;
}

int fs_mkdir_all(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0700) == 0) {
                /* a new directory is durable once its parent is fsynced */
                char *slash = strrchr(buf, '/');
                char parent[4096];
                if (slash == buf)
                    strcpy(parent, "/");
                else if (slash)
                    snprintf(parent, sizeof(parent), "%.*s", (int)(slash - buf), buf);
                else
                    strcpy(parent, ".");
                int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd >= 0) {
                    int rc = fsync(fd);
                    close(fd);
                    if (rc < 0)
                        return -errno;
                }
            } else if (errno != EEXIST) {
                return -errno;
            }
            buf[i] = c;
        }
    }
    return 0;
}

/* Whether the pid written in the lock file is a live process (unknown: yes). */
static bool holder_alive(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return true;
    buf[n] = 0;
    char *end = NULL;
    long pid = strtol(buf, &end, 10);
    if (end == buf || pid <= 0)
        return true;
    return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

int fs_lock_file(const char *path, const char *what, char *err, size_t err_len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        snprintf(err, err_len, "cannot open lock file %s: %s", path, strerror(e));
        return -e;
    }
    int rc, e = 0;
    /*
     * A member killed while its snapshot child runs leaves the lock with
     * that child for the moment the child needs to die with it (it gets
     * SIGKILL when its parent dies and drops the lock's descriptor). When the
     * pid the file names is gone, wait for that, bounded (2 s).
     */
    for (int tries = 0;; tries++) {
        if ((rc = flock(fd, LOCK_EX | LOCK_NB)) == 0)
            break;
        e = errno;
        if (e != EWOULDBLOCK || tries >= 100 || holder_alive(fd))
            break;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (rc < 0) {
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        close(fd);
        if (e == EWOULDBLOCK) {
            snprintf(err, err_len, "%s is in use by another member (lock held on %s by pid %s)",
                     what, path, pid[0] ? pid : "unknown");
            return -EBUSY;
        }
        snprintf(err, err_len, "cannot lock %s: %s", path, strerror(e));
        return -e;
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) < 0) {
        /* the pid is only informative */
    }
    return fd;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

int fs_remove_tree(const char *path, char *err, size_t err_len)
{
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT)
        return 0;
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        snprintf(err, err_len, "cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int fs_sync_dir(const char *dir, char *err, size_t err_len)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd < 0 || fsync(fd) != 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        snprintf(err, err_len, "cannot sync %s: %s", dir, strerror(rc));
    return rc ? -1 : 0;
}

int fs_rename(const char *from, const char *to, char *err, size_t err_len)
{
    if (rename(from, to) == 0)
        return 0;
    snprintf(err, err_len, "cannot rename %s to %s: %s", from, to, strerror(errno));
    return -1;
}
