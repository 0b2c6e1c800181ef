/*
 * Opening an existing log: verify the CRC chain from the segment that holds
 * the caller's snapshot on, collect the state after it, repair a torn tail.
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct read_priv {
    void **maps;
    size_t *lens;
    size_t n;
} read_priv_t;

void wal_read_result_free(wal_read_result_t *r)
{
    if (!r)
        return;
    read_priv_t *p = r->priv;
    if (p) {
        for (size_t i = 0; i < p->n; i++)
            munmap(p->maps[i], p->lens[i]);
        free(p->maps);
        free(p->lens);
        free(p);
    }
    free(r->metadata);
    free(r->entries);
    memset(r, 0, sizeof(*r));
}

typedef struct reader {
    wal_t *w;
    wal_read_result_t *res;
    uint64_t snap_index, snap_term;
    bool snap_found;
    size_t cap_entries;
    char *err;
    size_t err_len;
} reader_t;

static int push_entry(reader_t *r, uint64_t index, uint64_t term, uint8_t type, const uint8_t *data,
                      size_t len, const char *file, size_t off)
{
    wal_read_result_t *res = r->res;
    if (index <= r->snap_index)
        return 0;
    uint64_t next = res->n_entries ? res->entries[res->n_entries - 1].index + 1 : r->snap_index + 1;
    if (index < next) {
        /* a later leader replaced the uncommitted tail (Raft paper 5.3) */
        res->n_entries = (size_t)(index - (r->snap_index + 1));
    } else if (index > next) {
        wal_seterr(r->err, r->err_len,
                   "%s/%s offset %zu: entry %" PRIu64 " follows %" PRIu64
                   ": entries are missing after snapshot %" PRIu64,
                   r->w->dir, file, off, index, next - 1, r->snap_index);
        return -ERANGE;
    }
    if (res->n_entries == r->cap_entries) {
        size_t cap = r->cap_entries ? r->cap_entries * 2 : 1024;
        wal_entry_t *v = realloc(res->entries, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        res->entries = v;
        r->cap_entries = cap;
    }
    wal_entry_t *e = &res->entries[res->n_entries++];
    e->index = index;
    e->term = term;
    e->type = type;
    e->data = data;
    e->len = len;
    return 0;
}

static int map_file(const char *path, int *fd_out, uint8_t **map, size_t *size)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    *size = (size_t)st.st_size;
    *map = NULL;
    if (st.st_size > 0) {
        void *m = mmap(NULL, *size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            int e = -errno;
            close(fd);
            return e;
        }
        *map = m;
    }
    *fd_out = fd;
    return 0;
}

static bool zero_from(const uint8_t *p, size_t off, size_t size)
{
    for (size_t i = off; i < size; i++)
        if (p[i])
            return false;
    return true;
}

int wal_open(wal_t **out, const wal_options_t *opt, uint64_t snap_index, uint64_t snap_term,
             wal_read_result_t *res, char *err, size_t err_len)
{
    *out = NULL;
    memset(res, 0, sizeof(*res));
    wal_tail_t t = {.fd = -1};
    wal_segment_t *segs = NULL;
    size_t n = 0;
    if (!wal_exists(opt->dir)) {
        wal_seterr(err, err_len, "no WAL in %s", opt->dir);
        return -ENOENT;
    }
    wal_t *w;
    int rc = wal_alloc(&w, opt, err, err_len); /* takes the lock */
    if (rc)
        return rc;
    wal_segment_remove_tmp(w->dir);
    rc = wal_segment_list(w->dir, &segs, &n);
    if (rc || n == 0) {
        wal_seterr(err, err_len, "no WAL in %s", opt->dir);
        free(segs);
        wal_free(w);
        return rc ? rc : -ENOENT;
    }
    read_priv_t *priv = calloc(1, sizeof(*priv));
    if (priv) {
        priv->maps = calloc(n, sizeof(void *));
        priv->lens = calloc(n, sizeof(size_t));
    }
    res->priv = priv;
    if (!priv || !priv->maps || !priv->lens) {
        rc = -ENOMEM;
        goto fail;
    }
    for (size_t i = 1; i < n; i++) {
        if (segs[i].seq != segs[i - 1].seq + 1) {
            wal_seterr(err, err_len, "%s: segment %016" PRIx64 " is missing", opt->dir,
                       segs[i - 1].seq + 1);
            rc = -EBADMSG;
            goto fail;
        }
    }
    /* The reader starts at the last segment whose first index is at most
     * snap_index (etcd: searchIndex). A segment is named after the index
     * following the last entry or snapshot marker written before it, so
     * every entry after the snapshot, and the snapshot's marker, are in that
     * segment or later ones. */
    size_t start = SIZE_MAX;
    for (size_t i = 0; i < n; i++)
        if (segs[i].first_index <= snap_index)
            start = i;
    if (start == SIZE_MAX) {
        wal_seterr(err, err_len,
                   "%s: the oldest segment starts after index %" PRIu64
                   ": entries after the snapshot are missing",
                   opt->dir, snap_index);
        rc = -ERANGE;
        goto fail;
    }

    reader_t r = {.w = w,
                  .res = res,
                  .snap_index = snap_index,
                  .snap_term = snap_term,
                  .snap_found = snap_index == 0,
                  .err = err,
                  .err_len = err_len};
    uint32_t crc = 0;
    t.last_index = segs[start].first_index ? segs[start].first_index - 1 : 0;
    for (size_t i = start; i < n; i++) {
        bool last = i == n - 1;
        char name[64], path[4200];
        wal_segment_name(name, sizeof(name), segs[i].seq, segs[i].first_index);
        snprintf(path, sizeof(path), "%s/%s", w->dir, name);
        int fd = -1;
        uint8_t *buf = NULL;
        size_t size = 0;
        rc = map_file(path, &fd, &buf, &size);
        if (rc) {
            wal_seterr(err, err_len, "cannot read %s: %s", path, strerror(-rc));
            goto fail;
        }
        if (buf) {
            priv->maps[priv->n] = buf;
            priv->lens[priv->n++] = size;
        }
        if (i == start && size >= 16) {
            /* the chain seed of the first segment read is its CRC record */
            uint64_t word = le_get64(buf);
            if (((word >> 24) & 0xff) == WAL_REC_CRC && (word & 0xffffff) == 4)
                crc = (uint32_t)le_get64(buf + 8);
        }
        size_t off = 0, nrec = 0;
        enum wal_decode d;
        const char *what = NULL;
        for (;; nrec++) {
            wal_record_t rec;
            d = wal_record_decode(buf, size, off, crc, &rec, &what);
            if (d != WAL_DEC_OK)
                break;
            const uint8_t *p = rec.payload;
            if ((nrec == 0) != (rec.type == WAL_REC_CRC)) {
                what = nrec == 0 ? "segment does not start with a crc record"
                                 : "crc record inside a segment";
                d = WAL_DEC_CORRUPT;
                break;
            }
            switch (rec.type) {
            case WAL_REC_CRC:
                if (rec.len != 4 ||
                    (uint32_t)(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24) != crc) {
                    what = "crc chain broken between segments";
                    d = WAL_DEC_CORRUPT;
                }
                break;
            case WAL_REC_METADATA:
                if (!res->metadata) {
                    res->metadata = malloc(rec.len ? rec.len : 1);
                    if (!res->metadata) {
                        rc = -ENOMEM;
                        close(fd);
                        goto fail;
                    }
                    memcpy(res->metadata, p, rec.len);
                    res->metadata_len = rec.len;
                } else if (rec.len != res->metadata_len || memcmp(p, res->metadata, rec.len)) {
                    what = "metadata differs from the previous segment's";
                    d = WAL_DEC_CORRUPT;
                }
                break;
            case WAL_REC_ENTRY:
                if (rec.len < 17) {
                    what = "short entry record";
                    d = WAL_DEC_CORRUPT;
                    break;
                }
                t.last_index = le_get64(p);
                rc = push_entry(&r, le_get64(p), le_get64(p + 8), p[16], p + 17, rec.len - 17, name,
                                off);
                if (rc) {
                    close(fd);
                    goto fail;
                }
                break;
            case WAL_REC_HARD_STATE:
                if (rec.len != 24) {
                    what = "bad hard state record";
                    d = WAL_DEC_CORRUPT;
                    break;
                }
                res->hard_state.term = le_get64(p);
                res->hard_state.vote = le_get64(p + 8);
                res->hard_state.commit = le_get64(p + 16);
                break;
            case WAL_REC_SNAPSHOT:
                if (rec.len != 16) {
                    what = "bad snapshot record";
                    d = WAL_DEC_CORRUPT;
                    break;
                }
                /* a snapshot moves the log forward (etcd: SaveSnapshot) */
                if (le_get64(p) > t.last_index)
                    t.last_index = le_get64(p);
                if (le_get64(p) == snap_index && snap_index != 0) {
                    /* etcd: ErrSnapshotMismatch */
                    if (le_get64(p + 8) != snap_term) {
                        wal_seterr(err, err_len,
                                   "%s offset %zu: snapshot marker %" PRIu64 " has term %" PRIu64
                                   ", the loaded snapshot has term %" PRIu64,
                                   path, off, snap_index, le_get64(p + 8), snap_term);
                        rc = -ESRCH;
                        close(fd);
                        goto fail;
                    }
                    r.snap_found = true;
                }
                break;
            }
            if (d != WAL_DEC_OK)
                break;
            crc = rec.crc;
            off += rec.size;
            if (nrec == 2)
                t.header_end = off;
        }
        if (d == WAL_DEC_END && off < size && !last) {
            what = "zeros inside a sealed segment";
            d = WAL_DEC_CORRUPT;
        }
        if (d == WAL_DEC_TORN && !last) {
            what = "truncated record in a sealed segment";
            d = WAL_DEC_CORRUPT;
        }
        if (d == WAL_DEC_CORRUPT && nrec == 0 && i > start)
            what = "crc chain broken between segments (the previous one lost records?)";
        /* every segment starts with three header records, written before
         * its name appeared */
        if (d == WAL_DEC_CORRUPT || nrec < 3) {
            wal_seterr(err, err_len, "%s: corrupt at offset %zu: %s; refusing to open", path, off,
                       what ? what : "incomplete segment header");
            rc = -EBADMSG;
            close(fd);
            goto fail;
        }
        if (!last) {
            close(fd);
            continue;
        }
        /* The last segment: cut off whatever follows the last good record
         * and restore the zeroed preallocation, so that a later shorter
         * write can never be followed by stale bytes. */
        bool dirty = !zero_from(buf, off, size);
        if (dirty || d == WAL_DEC_TORN)
            wal_logf(w, "wal: %s: torn tail at offset %zu (crash during a write); truncated", path,
                     off);
        if (dirty || size < w->segment_size) {
            if (w->io->ftruncate(fd, (off_t)off) < 0 ||
                w->io->fallocate(fd, (off_t)(w->segment_size > off ? w->segment_size : off)) < 0 ||
                w->io->fdatasync(fd) < 0) {
                rc = -errno;
                wal_seterr(err, err_len, "cannot repair %s: %s", path, strerror(errno));
                close(fd);
                goto fail;
            }
        }
        t.fd = fd;
        t.seq = segs[i].seq;
        t.offset = off;
        t.crc = crc;
    }
    if (!r.snap_found) {
        wal_seterr(err, err_len,
                   "%s: no snapshot marker for index %" PRIu64 " term %" PRIu64 " in the WAL",
                   w->dir, snap_index, snap_term);
        rc = -ESRCH;
        goto fail;
    }
    t.hs = res->hard_state;
    w->tail = t;
    t.fd = -1;
    w->metadata = malloc(res->metadata_len ? res->metadata_len : 1);
    if (!w->metadata) {
        rc = -ENOMEM;
        goto fail;
    }
    memcpy(w->metadata, res->metadata, res->metadata_len);
    w->metadata_len = res->metadata_len;
    for (size_t i = 0; i < n && !rc; i++)
        rc = wal_segs_push(w, segs[i].seq, segs[i].first_index);
    if (!rc)
        rc = wal_start(w);
    if (rc)
        goto fail;
    free(segs);
    *out = w;
    return 0;
fail:
    if (t.fd >= 0)
        close(t.fd);
    free(segs);
    wal_free(w);
    wal_read_result_free(res);
    return rc;
}

int wal_read_markers(const char *dir, wal_marker_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    wal_segment_t *segs;
    size_t ns;
    int rc = wal_segment_list(dir, &segs, &ns);
    if (rc)
        return rc;
    if (ns == 0) {
        free(segs);
        return -ENOENT;
    }
    wal_marker_t *v = NULL;
    size_t cnt = 0, cap = 0;
    uint32_t crc = 0;
    bool stop = false;
    for (size_t i = 0; i < ns && !stop; i++) {
        char name[64], path[4200];
        wal_segment_name(name, sizeof(name), segs[i].seq, segs[i].first_index);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            rc = -errno;
            if (fd >= 0)
                close(fd);
            break;
        }
        size_t size = (size_t)st.st_size;
        uint8_t *buf = size ? mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0) : NULL;
        close(fd);
        if (buf == MAP_FAILED) {
            rc = -errno;
            break;
        }
        if (i == 0 && size >= 16)
            crc = (uint32_t)le_get64(buf + 8); /* the first segment's CRC record */
        size_t off = 0;
        for (;;) {
            wal_record_t rec;
            const char *what;
            enum wal_decode d = wal_record_decode(buf, size, off, crc, &rec, &what);
            if (d != WAL_DEC_OK) {
                stop = d != WAL_DEC_END || off < size;
                break;
            }
            if (rec.type == WAL_REC_SNAPSHOT && rec.len == 16) {
                if (cnt == cap) {
                    cap = cap ? cap * 2 : 16;
                    wal_marker_t *nv = realloc(v, cap * sizeof(*v));
                    if (!nv) {
                        rc = -ENOMEM;
                        stop = true;
                        break;
                    }
                    v = nv;
                }
                v[cnt].index = le_get64(rec.payload);
                v[cnt].term = le_get64(rec.payload + 8);
                cnt++;
            }
            crc = rec.crc;
            off += rec.size;
        }
        if (buf)
            munmap(buf, size);
    }
    free(segs);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}
