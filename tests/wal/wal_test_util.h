/* Helpers for the wal/ and snap/ tests: temporary directories and an I/O
 * shim that counts calls and injects faults. */
#ifndef METCD_WAL_TEST_UTIL_H
#define METCD_WAL_TEST_UTIL_H

#include "wal/wal_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static inline void rm_rf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline char *make_tmpdir(void)
{
    char tmpl[] = "/tmp/metcd-wal-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

/* ---- the fault-injecting shim ---- */
typedef struct fault_state {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int fdatasyncs; /* calls so far */
    int pwrites;
    int fail_fdatasync; /* fail the next N fdatasyncs with EIO */
    int enospc_after;   /* >= 0: pwrite accepts this many more bytes, then ENOSPC */
    int fail_fallocate; /* fail the next N fallocates with ENOSPC */
    bool gate_closed;   /* fdatasync waits while closed */
    int waiting;        /* fdatasyncs waiting at the gate */
} fault_state_t;

static fault_state_t faults = {
    PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, -1, 0, false, 0};

static inline void faults_reset(void)
{
    pthread_mutex_lock(&faults.mu);
    faults.fdatasyncs = 0;
    faults.pwrites = 0;
    faults.fail_fdatasync = 0;
    faults.enospc_after = -1;
    faults.fail_fallocate = 0;
    faults.gate_closed = false;
    faults.waiting = 0;
    pthread_mutex_unlock(&faults.mu);
}

static ssize_t shim_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    pthread_mutex_lock(&faults.mu);
    faults.pwrites++;
    if (faults.enospc_after >= 0) {
        if (faults.enospc_after == 0) {
            pthread_mutex_unlock(&faults.mu);
            errno = ENOSPC;
            return -1;
        }
        if (len > (size_t)faults.enospc_after)
            len = (size_t)faults.enospc_after; /* a short write */
        faults.enospc_after -= (int)len;
    }
    pthread_mutex_unlock(&faults.mu);
    return pwrite(fd, buf, len, off);
}

static int shim_fdatasync(int fd)
{
    pthread_mutex_lock(&faults.mu);
    faults.fdatasyncs++;
    faults.waiting++;
    pthread_cond_broadcast(&faults.cond);
    while (faults.gate_closed)
        pthread_cond_wait(&faults.cond, &faults.mu);
    faults.waiting--;
    if (faults.fail_fdatasync > 0) {
        faults.fail_fdatasync--;
        pthread_mutex_unlock(&faults.mu);
        errno = EIO;
        return -1;
    }
    pthread_mutex_unlock(&faults.mu);
    return fdatasync(fd);
}

static int shim_fsync(int fd)
{
    return fsync(fd);
}

static int shim_ftruncate(int fd, off_t len)
{
    return ftruncate(fd, len);
}

static int shim_fallocate(int fd, off_t len)
{
    pthread_mutex_lock(&faults.mu);
    if (faults.fail_fallocate > 0) {
        faults.fail_fallocate--;
        pthread_mutex_unlock(&faults.mu);
        errno = ENOSPC;
        return -1;
    }
    pthread_mutex_unlock(&faults.mu);
    return wal_io_default.fallocate(fd, len);
}

static const wal_io_t shim_io = {shim_pwrite, shim_fdatasync, shim_fsync, shim_ftruncate,
                                 shim_fallocate};

static inline int faults_fdatasyncs(void)
{
    pthread_mutex_lock(&faults.mu);
    int n = faults.fdatasyncs;
    pthread_mutex_unlock(&faults.mu);
    return n;
}

static inline void gate_close(void)
{
    pthread_mutex_lock(&faults.mu);
    faults.gate_closed = true;
    pthread_mutex_unlock(&faults.mu);
}

static inline void gate_open(void)
{
    pthread_mutex_lock(&faults.mu);
    faults.gate_closed = false;
    pthread_cond_broadcast(&faults.cond);
    pthread_mutex_unlock(&faults.mu);
}

/* Waits until an fdatasync is parked at the closed gate. */
static inline void gate_wait_parked(void)
{
    pthread_mutex_lock(&faults.mu);
    while (faults.waiting == 0)
        pthread_cond_wait(&faults.cond, &faults.mu);
    pthread_mutex_unlock(&faults.mu);
}

static inline size_t count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    size_t n = 0, sl = strlen(suffix);
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

#endif
