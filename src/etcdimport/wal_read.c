/*
 * etcd's WAL (wal/decoder.go, wal/wal.go ReadAll). A segment is a sequence
 * of frames: an 8-byte little-endian length field, then a walpb.Record
 * {type, crc, data}, then padding to 8 bytes. When the length field's top
 * bit is set, its top byte's low 3 bits count the padding bytes. A zero
 * length is the preallocated rest of the file. Record types: 1 metadata,
 * 2 raftpb.Entry, 3 raftpb.HardState, 4 CRC (the chain's value at the end of
 * the previous segment), 5 walpb.Snapshot (a snapshot marker). The CRC of a
 * record is CRC-32C over the data of every record since the chain began,
 * carried from segment to segment by the type-4 record that opens each one.
 * An entry whose index is not past the last one replaces it and everything
 * after it (a new leader overwrote an uncommitted tail).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/endian.h"
#include "src/etcdimport/etcdimport_int.h"

enum { REC_METADATA = 1, REC_ENTRY = 2, REC_STATE = 3, REC_CRC = 4, REC_SNAPSHOT = 5 };

#define SECTOR 512 /* etcd's minSectorSize: the unit a torn write leaves zeroed */

/* etcd's isTornEntry: a record some sector of which is all zeros was cut
 * short by a crash (the file was preallocated with zeros). */
static bool is_torn(const uint8_t *seg, size_t off, size_t n)
{
    size_t end = off + n;
    while (off < end) {
        size_t next = (off / SECTOR + 1) * SECTOR;
        if (next > end)
            next = end;
        bool zero = true;
        for (size_t i = off; i < next && zero; i++)
            zero = seg[i] == 0;
        if (zero)
            return true;
        off = next;
    }
    return false;
}

static int add_entry(eimp_wal_t *w, const eimp_entry_t *e, char *err, size_t err_len)
{
    if (w->n_entries > 0) {
        uint64_t first = w->entries[0].index, last = w->entries[w->n_entries - 1].index;
        if (e->index <= last)
            w->n_entries = e->index > first ? (size_t)(e->index - first) : 0;
        else if (e->index != last + 1) {
            snprintf(err, err_len, "the log skips from entry %llu to %llu",
                     (unsigned long long)last, (unsigned long long)e->index);
            return -1;
        }
    }
    if (w->n_entries == w->cap_entries) {
        w->cap_entries = w->cap_entries ? 2 * w->cap_entries : 1024;
        w->entries = realloc(w->entries, w->cap_entries * sizeof(*w->entries));
        if (w->entries == NULL)
            abort();
    }
    w->entries[w->n_entries++] = *e;
    return 0;
}

static int decode_entry(const uint8_t *p, size_t len, eimp_entry_t *e)
{
    eimp_pb_reader_t r = {p, len};
    eimp_pb_field_t f;
    int rc;
    memset(e, 0, sizeof(*e));
    while ((rc = eimp_pb_next(&r, &f)) == 1) {
        if (f.num == 1 && f.wire == EIMP_PB_VARINT)
            e->type = f.u;
        else if (f.num == 2 && f.wire == EIMP_PB_VARINT)
            e->term = f.u;
        else if (f.num == 3 && f.wire == EIMP_PB_VARINT)
            e->index = f.u;
        else if (f.num == 4 && f.wire == EIMP_PB_BYTES) {
            e->data = f.data;
            e->len = f.len;
        } else if (f.num <= 4)
            return -1;
    }
    return rc;
}

/* One record's payload: 0, or -1 when it does not decode. */
static int handle_record(eimp_wal_t *w, uint64_t type, const uint8_t *data, size_t len, char *err,
                         size_t err_len)
{
    eimp_pb_reader_t r = {data, len};
    eimp_pb_field_t f;
    int rc;
    switch (type) {
    case REC_ENTRY: {
        eimp_entry_t e;
        if (decode_entry(data, len, &e) != 0) {
            snprintf(err, err_len, "an entry record does not decode");
            return -1;
        }
        return add_entry(w, &e, err, err_len);
    }
    case REC_STATE:
        while ((rc = eimp_pb_next(&r, &f)) == 1) {
            if (f.wire != EIMP_PB_VARINT)
                continue;
            if (f.num == 1)
                w->hs_term = f.u;
            else if (f.num == 2)
                w->hs_vote = f.u;
            else if (f.num == 3)
                w->hs_commit = f.u;
        }
        break;
    case REC_SNAPSHOT: {
        eimp_marker_t m = {0, 0};
        while ((rc = eimp_pb_next(&r, &f)) == 1) {
            if (f.num == 1 && f.wire == EIMP_PB_VARINT)
                m.index = f.u;
            else if (f.num == 2 && f.wire == EIMP_PB_VARINT)
                m.term = f.u;
        }
        if (rc == 0) {
            if (w->n_markers == w->cap_markers) {
                w->cap_markers = w->cap_markers ? 2 * w->cap_markers : 16;
                w->markers = realloc(w->markers, w->cap_markers * sizeof(*w->markers));
                if (w->markers == NULL)
                    abort();
            }
            w->markers[w->n_markers++] = m;
        }
        break;
    }
    case REC_METADATA:
        return 0;
    default:
        snprintf(err, err_len, "unknown WAL record type %llu", (unsigned long long)type);
        return -1;
    }
    if (rc != 0)
        snprintf(err, err_len, "a WAL record of type %llu does not decode",
                 (unsigned long long)type);
    return rc == 0 ? 0 : -1;
}

int eimp_wal_parse_segment(eimp_wal_t *w, const uint8_t *seg, size_t len, bool last, char *err,
                           size_t err_len)
{
    size_t off = 0;
    while (len - off >= 8) {
        uint64_t lf = le_get64(seg + off);
        if (lf == 0)
            break; /* the preallocated rest of the file */
        uint64_t rec = lf & ~((uint64_t)0xff << 56);
        uint64_t pad = (lf >> 63) ? (lf >> 56) & 7 : 0;
        size_t body = off + 8;
        if (rec > len - body || pad > len - body - rec) {
            if (last)
                return 0; /* cut short by a crash: the log ends here */
            snprintf(err, err_len, "a WAL record at offset %zu runs past the end of its file", off);
            return -1;
        }
        eimp_pb_reader_t r = {seg + body, (size_t)rec};
        eimp_pb_field_t f;
        uint64_t type = 0, crc = 0;
        const uint8_t *data = NULL;
        size_t dlen = 0;
        int rc;
        while ((rc = eimp_pb_next(&r, &f)) == 1) {
            if (f.num == 1 && f.wire == EIMP_PB_VARINT)
                type = f.u;
            else if (f.num == 2 && f.wire == EIMP_PB_VARINT)
                crc = f.u;
            else if (f.num == 3 && f.wire == EIMP_PB_BYTES) {
                data = f.data;
                dlen = f.len;
            }
        }
        bool bad = rc != 0 || type == 0 || crc > UINT32_MAX;
        if (!bad && type == REC_CRC) {
            /* A new segment restates the chain; it must go on from ours. */
            if (w->seen_record && w->crc != 0 && w->crc != (uint32_t)crc) {
                snprintf(err, err_len, "WAL CRC chain broken at offset %zu", off);
                return -1;
            }
            w->crc = (uint32_t)crc;
        } else if (!bad) {
            uint32_t want = crc32c(w->crc, data ? data : (const uint8_t *)"", dlen);
            bad = want != (uint32_t)crc;
            if (!bad)
                w->crc = want;
        }
        if (bad) {
            if (last && is_torn(seg, off, (size_t)(8 + rec + pad)))
                return 0;
            snprintf(err, err_len, "WAL record at offset %zu: %s", off,
                     rc != 0 ? "does not decode" : "CRC mismatch");
            return -1;
        }
        w->seen_record = true;
        if (type != REC_CRC && handle_record(w, type, data, dlen, err, err_len) != 0)
            return -1;
        off = body + (size_t)rec + (size_t)pad;
    }
    return 0;
}

int eimp_wal_read_dir(eimp_wal_t *w, const char *dir, char *err, size_t err_len)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err, err_len, "cannot open %s: %s", dir, strerror(errno));
        return -1;
    }
    size_t n;
    char **names = eimp_dir_names(d, ".wal", 0, &n);
    closedir(d);
    if (n == 0) {
        snprintf(err, err_len, "%s holds no WAL file", dir);
        return -1;
    }
    int rc = 0;
    w->maps = calloc(n, sizeof(*w->maps));
    if (w->maps == NULL)
        abort();
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, names[i]) < 0)
            abort();
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        void *m = MAP_FAILED;
        if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0)
            m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (fd >= 0 && st.st_size == 0) {
            close(fd);
            free(path);
            continue;
        }
        if (m == MAP_FAILED) {
            snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            free(path);
            rc = -1;
            break;
        }
        close(fd);
        w->maps[w->n_maps++] = (struct eimp_map){m, (size_t)st.st_size};
        char perr[256];
        if (eimp_wal_parse_segment(w, m, (size_t)st.st_size, i + 1 == n, perr, sizeof(perr)) != 0) {
            snprintf(err, err_len, "%s: %s", path, perr);
            rc = -1;
        }
        free(path);
    }
    eimp_dir_names_free(names, n);
    return rc;
}

void eimp_wal_free(eimp_wal_t *w)
{
    for (size_t i = 0; i < w->n_maps; i++)
        munmap(w->maps[i].p, w->maps[i].len);
    free(w->maps);
    free(w->entries);
    free(w->markers);
    memset(w, 0, sizeof(*w));
}
