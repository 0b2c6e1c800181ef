/* Saving a snapshot: streamed into a temporary file, then made durable and
 * visible atomically (write, fsync, rename, fsync the directory). */
#include "snap/snap_int.h"
#include "common/crc32c.h"
#include "common/endian.h"
#include "common/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUF_SIZE (256u * 1024)

struct snap_writer {
    int fd;
    uint32_t crc;
    uint64_t len;
    size_t used;
    char *dir;
    char path[4096];
    char tmp[4200];
    uint8_t buf[BUF_SIZE];
};

void snap_seterr(char *err, size_t len, const char *fmt, ...)
{
    if (!err || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

void snap_file_name(char *buf, size_t len, uint64_t term, uint64_t index)
{
    snprintf(buf, len, "%016" PRIx64 "-%016" PRIx64 ".snap", term, index);
}

static int flush(snap_writer_t *sw)
{
    int rc = fs_write_all(sw->fd, sw->buf, sw->used);
    sw->used = 0;
    return rc;
}

static int put(snap_writer_t *sw, const void *data, size_t len)
{
    const uint8_t *p = data;
    sw->crc = crc32c(sw->crc, p, len);
    while (len) {
        if (sw->used == BUF_SIZE) {
            int rc = flush(sw);
            if (rc)
                return rc;
        }
        size_t k = BUF_SIZE - sw->used;
        if (k > len)
            k = len;
        memcpy(sw->buf + sw->used, p, k);
        sw->used += k;
        p += k;
        len -= k;
    }
    return 0;
}

int snap_writer_begin(snap_writer_t **out, const char *dir, uint64_t term, uint64_t index,
                      char *err, size_t err_len)
{
    *out = NULL;
    int rc = fs_mkdir_all(dir);
    if (rc) {
        snap_seterr(err, err_len, "cannot create %s: %s", dir, strerror(-rc));
        return rc;
    }
    snap_writer_t *sw = calloc(1, sizeof(*sw));
    if (!sw || !(sw->dir = strdup(dir))) {
        free(sw);
        return -ENOMEM;
    }
    char name[64];
    snap_file_name(name, sizeof(name), term, index);
    snprintf(sw->path, sizeof(sw->path), "%s/%s", dir, name);
    snprintf(sw->tmp, sizeof(sw->tmp), "%s.tmp", sw->path);
    sw->fd = open(sw->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (sw->fd < 0) {
        rc = -errno;
        snap_seterr(err, err_len, "cannot create %s: %s", sw->tmp, strerror(errno));
        free(sw->dir);
        free(sw);
        return rc;
    }
    uint8_t h[SNAP_HDR_SIZE] = {0};
    memcpy(h, SNAP_MAGIC, 8);
    le_put64(h + 8, term);
    le_put64(h + 16, index);
    put(sw, h, sizeof(h)); /* buffered: cannot fail */
    *out = sw;
    return 0;
}

int snap_writer_write(snap_writer_t *sw, const void *buf, size_t len)
{
    sw->len += len;
    return put(sw, buf, len);
}

void snap_writer_abort(snap_writer_t *sw)
{
    if (!sw)
        return;
    close(sw->fd);
    unlink(sw->tmp);
    free(sw->dir);
    free(sw);
}

int snap_writer_commit(snap_writer_t *sw, char *err, size_t err_len)
{
    uint8_t t[SNAP_TRAILER_SIZE];
    le_put64(t, sw->len);
    int rc = put(sw, t, 8);
    uint32_t crc = sw->crc;
    t[8] = (uint8_t)crc, t[9] = (uint8_t)(crc >> 8), t[10] = (uint8_t)(crc >> 16),
    t[11] = (uint8_t)(crc >> 24);
    memcpy(t + 12, SNAP_TRAILER_MAGIC, 4);
    if (!rc)
        rc = put(sw, t + 8, 8);
    if (!rc)
        rc = flush(sw);
    if (!rc && fsync(sw->fd) < 0)
        rc = -errno;
    if (!rc && rename(sw->tmp, sw->path) < 0)
        rc = -errno;
    if (!rc) {
        int dfd = open(sw->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
            rc = -errno;
        if (dfd >= 0)
            close(dfd);
    }
    if (rc) {
        snap_seterr(err, err_len, "cannot save %s: %s", sw->path, strerror(-rc));
        snap_writer_abort(sw);
        return rc;
    }
    close(sw->fd);
    free(sw->dir);
    free(sw);
    return 0;
}

int snap_save_stream(const char *dir, uint64_t term, uint64_t index, snap_produce_cb produce,
                     void *arg, char *err, size_t err_len)
{
    snap_writer_t *sw;
    int rc = snap_writer_begin(&sw, dir, term, index, err, err_len);
    if (rc)
        return rc;
    rc = produce(arg, sw);
    if (rc) {
        snap_seterr(err, err_len, "snapshot payload failed: %s", strerror(-rc));
        snap_writer_abort(sw);
        return rc;
    }
    return snap_writer_commit(sw, err, err_len);
}

int snap_save(const char *dir, uint64_t term, uint64_t index, const void *data, size_t len,
              char *err, size_t err_len)
{
    snap_writer_t *sw;
    int rc = snap_writer_begin(&sw, dir, term, index, err, err_len);
    if (rc)
        return rc;
    rc = snap_writer_write(sw, data, len);
    if (rc) {
        snap_seterr(err, err_len, "cannot write the snapshot: %s", strerror(-rc));
        snap_writer_abort(sw);
        return rc;
    }
    return snap_writer_commit(sw, err, err_len);
}
