/* Segment files: names, listing, creation. See wal/wal.h for the layout. */
#include "wal/wal_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void wal_segment_name(char *buf, size_t len, uint64_t seq, uint64_t first_index)
{
    snprintf(buf, len, "%016" PRIx64 "-%016" PRIx64 ".wal", seq, first_index);
}

static bool parse_name(const char *name, wal_segment_t *s)
{
    unsigned long long a, b;
    int n = 0;
    if (strlen(name) != 37 || sscanf(name, "%16llx-%16llx.wal%n", &a, &b, &n) != 2 || n != 37)
        return false;
    s->seq = a;
    s->first_index = b;
    return true;
}

static int by_seq(const void *a, const void *b)
{
    const wal_segment_t *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int wal_segment_list(const char *dir, wal_segment_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    wal_segment_t *v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        wal_segment_t s;
        if (!parse_name(de->d_name, &s))
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            wal_segment_t *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
        }
        v[cnt++] = s;
    }
    closedir(d);
    if (rc) {
        free(v);
        return rc;
    }
    if (cnt)
        qsort(v, cnt, sizeof(*v), by_seq);
    *out = v;
    *n = cnt;
    return 0;
}

void wal_segment_remove_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > 8 && strcmp(de->d_name + l - 8, ".wal.tmp") == 0)
            unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}

int wal_fsync_dir(const wal_io_t *io, const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = io->fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

static int write_all(const wal_io_t *io, int fd, const uint8_t *p, size_t len, uint64_t off)
{
    while (len) {
        ssize_t n = io->pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -ENOSPC;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Exposed to wal.c through this prototype only. */
int wal_write_all(const wal_io_t *io, int fd, const void *p, size_t len, uint64_t off);
int wal_write_all(const wal_io_t *io, int fd, const void *p, size_t len, uint64_t off)
{
    return write_all(io, fd, p, len, off);
}

int wal_segment_create(wal_t *w, wal_tail_t *t, uint64_t seq, uint64_t first_index)
{
    char name[64], path[4096], tmp[4200];
    wal_segment_name(name, sizeof(name), seq, first_index);
    snprintf(path, sizeof(path), "%s/%s", w->dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);

    /* header records: CRC (the chain so far), metadata, hard state */
    size_t hlen = wal_record_size(4) + wal_record_size(w->metadata_len) + wal_record_size(24);
    uint8_t *h = calloc(1, hlen);
    if (!h)
        return -ENOMEM;
    uint8_t p[24];
    size_t off = 0;
    uint32_t crc = t->crc;
    p[0] = (uint8_t)crc, p[1] = (uint8_t)(crc >> 8), p[2] = (uint8_t)(crc >> 16),
    p[3] = (uint8_t)(crc >> 24);
    size_t r = wal_record_encode(h + off, WAL_REC_CRC, p, 4);
    crc = wal_record_seal(h + off, crc);
    off += r;
    r = wal_record_encode(h + off, WAL_REC_METADATA, w->metadata, w->metadata_len);
    crc = wal_record_seal(h + off, crc);
    off += r;
    le_put64(p, t->hs.term);
    le_put64(p + 8, t->hs.vote);
    le_put64(p + 16, t->hs.commit);
    r = wal_record_encode(h + off, WAL_REC_HARD_STATE, p, 24);
    crc = wal_record_seal(h + off, crc);
    off += r;

    int rc = 0;
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        free(h);
        return rc;
    }
    uint64_t prealloc = w->segment_size > hlen ? w->segment_size : hlen;
    if (w->io->fallocate(fd, (off_t)prealloc) < 0)
        rc = -errno;
    if (!rc)
        rc = write_all(w->io, fd, h, hlen, 0);
    if (!rc && w->io->fdatasync(fd) < 0)
        rc = -errno;
    if (!rc && rename(tmp, path) < 0)
        rc = -errno;
    if (!rc)
        rc = wal_fsync_dir(w->io, w->dir);
    free(h);
    if (rc) {
        close(fd);
        unlink(tmp);
        unlink(path);
        return rc;
    }
    t->fd = fd;
    t->seq = seq;
    t->offset = hlen;
    t->header_end = hlen;
    t->crc = crc;
    return 0;
}
