/* The real system calls behind the wal_io shim (wal/wal_int.h). */
#include "wal/wal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static ssize_t real_pwrite(int fd, const void *buf, size_t len, off_t off)
{
    return pwrite(fd, buf, len, off);
}

static int real_fdatasync(int fd)
{
    return fdatasync(fd);
}

static int real_fsync(int fd)
{
    return fsync(fd);
}

static int real_ftruncate(int fd, off_t len)
{
    return ftruncate(fd, len);
}

/* Preallocation as etcd does (fileutil.Preallocate): the blocks are reserved
 * now, so appends do not allocate and an fdatasync need not update the size. */
static int real_fallocate(int fd, off_t len)
{
    int rc = posix_fallocate(fd, 0, len);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return 0;
}

const wal_io_t wal_io_default = {
    .pwrite = real_pwrite,
    .fdatasync = real_fdatasync,
    .fsync = real_fsync,
    .ftruncate = real_ftruncate,
    .fallocate = real_fallocate,
};
