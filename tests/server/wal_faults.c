/*
 * Test hooks of metcd-hooks, the test-only build of the server (see
 * src/server/hooks.h): environment variables that shrink WAL segments and
 * inject disk faults.
 *
 * METCD_TEST_WAL_SEGMENT_SIZE: bytes per WAL segment.
 * METCD_TEST_WAL_FAULTS: a file read before every WAL write and fdatasync:
 * "enospc" makes writes (and preallocation) fail with ENOSPC, "eio" makes
 * fdatasync fail with EIO, "eio-once" fails the next fdatasync only (and
 * removes the file); a missing or empty file means a healthy disk. A test
 * flips the disk's health while the member runs by writing or removing it.
 * METCD_TEST_CRASH_AT=<point>:<n>: the member kills itself (SIGKILL, as
 * kill -9 would) the n-th time it reaches a crash point of node_config_t
 * (engine-commit, wal-release).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/server/hooks.h"
#include "wal/wal.h"

static const char *fault_file;

/* The fault currently asked for: 0 none, 1 ENOSPC on writes, 2 EIO on
 * fdatasync, 3 EIO on the next fdatasync only (the file is then removed). */
static int current_fault(void)
{
    int fd = open(fault_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[16] = {0};
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    if (strncmp(buf, "enospc", 6) == 0)
        return 1;
    if (strncmp(buf, "eio-once", 8) == 0)
        return 3;
    if (strncmp(buf, "eio", 3) == 0)
        return 2;
    return 0;
}

static ssize_t fault_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    if (current_fault() == 1) {
        errno = ENOSPC;
        return -1;
    }
    return wal_io_default.pwrite(fd, buf, len, off);
}

static int fault_fdatasync(int fd)
{
    int f = current_fault();
    if (f == 3)
        unlink(fault_file);
    if (f == 2 || f == 3) {
        errno = EIO;
        return -1;
    }
    return wal_io_default.fdatasync(fd);
}

static int fault_fallocate(int fd, off_t len)
{
    if (current_fault() == 1) {
        errno = ENOSPC;
        return -1;
    }
    return wal_io_default.fallocate(fd, len);
}

static wal_io_t fault_io;

static char crash_at[64];
static unsigned long crash_left;
static char pause_at[64];
static unsigned long pause_ms;

/* Also called from the snapshot thread or child: reads only what
 * server_test_hooks set before the node started. */
static void crash_point(const char *where)
{
    if (strcmp(where, crash_at) == 0 && crash_left > 0 && --crash_left == 0) {
        fprintf(stderr, "metcd-hooks: crashing at %s\n", where);
        raise(SIGKILL);
    }
    if (strcmp(where, pause_at) == 0 && pause_ms > 0)
        usleep((useconds_t)(pause_ms * 1000));
}

/* "WHERE:N" into where (sizeof 64) and *n; false when malformed. */
static bool point_arg(const char *v, char *where, unsigned long *n)
{
    const char *colon = v ? strchr(v, ':') : NULL;
    if (colon == NULL || (size_t)(colon - v) >= 64)
        return false;
    memcpy(where, v, (size_t)(colon - v));
    where[colon - v] = '\0';
    *n = strtoul(colon + 1, NULL, 10);
    return true;
}

void server_test_hooks(node_config_t *cfg)
{
    /* Process tests use small segments to cut and release them quickly. */
    const char *seg = getenv("METCD_TEST_WAL_SEGMENT_SIZE");
    if (seg != NULL && *seg != '\0')
        cfg->wal_segment_size = strtoull(seg, NULL, 10);
    /* METCD_TEST_CRASH_AT=WHERE:N: SIGKILL at the Nth call of crash point
     * WHERE; METCD_TEST_PAUSE_AT=WHERE:MS: sleep MS ms at each call. */
    if (point_arg(getenv("METCD_TEST_CRASH_AT"), crash_at, &crash_left))
        cfg->crash_point = crash_point;
    if (point_arg(getenv("METCD_TEST_PAUSE_AT"), pause_at, &pause_ms))
        cfg->crash_point = crash_point;
    const char *f = getenv("METCD_TEST_WAL_FAULTS");
    if (f == NULL || *f == '\0')
        return;
    fault_file = f;
    fault_io = wal_io_default;
    fault_io.pwrite = fault_pwrite;
    fault_io.fdatasync = fault_fdatasync;
    fault_io.fallocate = fault_fallocate;
    cfg->wal_io = &fault_io;
}
