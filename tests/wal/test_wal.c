/* Unit tests of wal/: framing, chaining, cutting, repair, corruption,
 * release, group commit, fault injection, locking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/wal/wal_test_util.h"

#include <poll.h>
#include <sys/wait.h>

static char logbuf[8192];
static int log_lines;

static void capture_log(void *arg, const char *line)
{
    (void)arg;
    log_lines++;
    snprintf(logbuf, sizeof(logbuf), "%s", line);
}

static wal_options_t opts(const char *dir, uint64_t seg)
{
    wal_options_t o = {.dir = dir, .segment_size = seg, .log = capture_log, .io = &shim_io};
    return o;
}

static void fill(uint8_t *buf, uint64_t index, uint64_t term, size_t len)
{
    uint64_t x = index * 0x9E3779B97F4A7C15ull + term;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (uint8_t)(x | 1); /* never zero: no all-zero sector by accident */
    }
}

static size_t len_of(uint64_t index)
{
    return 20 + (size_t)(index * 37 % 180);
}

static void append_range(wal_t *w, uint64_t from, uint64_t to, uint64_t term)
{
    uint8_t buf[4096];
    for (uint64_t i = from; i <= to; i++) {
        size_t l = len_of(i);
        fill(buf, i, term, l);
        assert_int_equal(wal_append_entry(w, i, term, (uint8_t)(i % 3), buf, l), 0);
    }
}

static void check_entries(const wal_read_result_t *r, uint64_t first, uint64_t last, uint64_t term)
{
    uint8_t buf[4096];
    assert_int_equal(r->n_entries, last >= first ? last - first + 1 : 0);
    for (size_t k = 0; k < r->n_entries; k++) {
        const wal_entry_t *e = &r->entries[k];
        assert_int_equal(e->index, first + k);
        assert_int_equal(e->term, term);
        assert_int_equal(e->type, e->index % 3);
        assert_int_equal(e->len, len_of(e->index));
        fill(buf, e->index, term, e->len);
        assert_memory_equal(e->data, buf, e->len);
    }
}

static char *new_wal(uint64_t seg, uint64_t n)
{
    char *dir = make_tmpdir();
    assert_non_null(dir);
    faults_reset();
    wal_options_t o = opts(dir, seg);
    wal_t *w;
    char err[512];
    assert_int_equal(wal_create(&w, &o, "meta", 4, err, sizeof(err)), 0);
    append_range(w, 1, n, 1);
    wal_hard_state_t hs = {1, 2, n};
    assert_int_equal(wal_append_hard_state(w, &hs), 0);
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);
    return dir;
}

static int open_dir(const char *dir, uint64_t seg, uint64_t si, uint64_t st, wal_t **w,
                    wal_read_result_t *r, char *err)
{
    wal_options_t o = opts(dir, seg);
    return wal_open(w, &o, si, st, r, err, 512);
}

static void seg_path(const char *dir, size_t which, char *out, size_t len)
{
    wal_segment_t *s;
    size_t n;
    assert_int_equal(wal_segment_list(dir, &s, &n), 0);
    assert_true(which < n);
    char name[64];
    wal_segment_name(name, sizeof(name), s[which].seq, s[which].first_index);
    snprintf(out, len, "%s/%s", dir, name);
    free(s);
}

static size_t nsegs(const char *dir)
{
    return count_files(dir, ".wal");
}

/* ---- framing and CRC ---- */

static void test_crc_vectors(void **state)
{
    (void)state;
    uint8_t b[32];
    assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
    memset(b, 0, 32);
    assert_int_equal(crc32c(0, b, 32), 0x8A9136AAu);
    memset(b, 0xff, 32);
    assert_int_equal(crc32c(0, b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    assert_int_equal(crc32c(0, b, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)(31 - i);
    assert_int_equal(crc32c(0, b, 32), 0x113FDB5Cu);
    /* continuation equals the CRC of the concatenation, at any split and
     * alignment, for the hardware and table paths alike */
    extern uint32_t crc32c_sw(uint32_t, const void *, size_t);
    uint8_t big[1031];
    fill(big, 7, 7, sizeof(big));
    uint32_t whole = crc32c(0, big, sizeof(big));
    assert_int_equal(crc32c_sw(0, big, sizeof(big)), whole);
    for (size_t cut = 0; cut <= sizeof(big); cut += 13) {
        assert_int_equal(crc32c(crc32c(0, big, cut), big + cut, sizeof(big) - cut), whole);
        assert_int_equal(crc32c_sw(crc32c_sw(0, big, cut), big + cut, sizeof(big) - cut), whole);
    }
    for (size_t a = 0; a < 8; a++)
        assert_int_equal(crc32c(0, big + a, 500), crc32c_sw(0, big + a, 500));
}

static void test_record_framing(void **state)
{
    (void)state;
    uint8_t buf[256], payload[64];
    fill(payload, 1, 1, sizeof(payload));
    for (size_t len = 0; len <= 40; len++) {
        memset(buf, 0xAA, sizeof(buf));
        size_t sz = wal_record_encode(buf, WAL_REC_ENTRY, payload, len);
        assert_int_equal(sz % 8, 0);
        assert_int_equal(sz, 8 + (len + 7) / 8 * 8);
        uint32_t crc = wal_record_seal(buf, 0x1234);
        wal_record_t rec;
        const char *what;
        assert_int_equal(wal_record_decode(buf, sz, 0, 0x1234, &rec, &what), WAL_DEC_OK);
        assert_int_equal(rec.type, WAL_REC_ENTRY);
        assert_int_equal(rec.len, len);
        assert_int_equal(rec.size, sz);
        assert_int_equal(rec.crc, crc);
        assert_memory_equal(rec.payload, payload, len);
        /* the chain: the same record after a different predecessor fails */
        assert_int_equal(wal_record_decode(buf, sz, 0, 0x1235, &rec, &what), WAL_DEC_CORRUPT);
        assert_string_equal(what, "crc mismatch");
        /* a partial record is torn, at any length */
        for (size_t k = 1; k < sz; k++)
            assert_int_equal(wal_record_decode(buf, k, 0, 0x1234, &rec, &what), WAL_DEC_TORN);
        /* the padding must be zero */
        if (len % 8) {
            buf[8 + len] = 1;
            assert_int_equal(wal_record_decode(buf, sz, 0, 0x1234, &rec, &what), WAL_DEC_CORRUPT);
        }
        /* an unknown type is refused */
        memset(buf, 0, sizeof(buf));
        wal_record_encode(buf, 9, payload, len);
        wal_record_seal(buf, 0);
        assert_int_equal(wal_record_decode(buf, sz, 0, 0, &rec, &what), WAL_DEC_CORRUPT);
    }
    memset(buf, 0, sizeof(buf));
    wal_record_t rec;
    const char *what;
    assert_int_equal(wal_record_decode(buf, sizeof(buf), 0, 0, &rec, &what), WAL_DEC_END);
    assert_int_equal(wal_record_decode(buf, 16, 16, 0, &rec, &what), WAL_DEC_END);
}

/* ---- create, append, reopen ---- */

static void test_roundtrip(void **state)
{
    (void)state;
    char *dir = new_wal(1 << 20, 100);
    wal_t *w;
    wal_read_result_t r;
    char err[512];
    assert_int_equal(open_dir(dir, 1 << 20, 0, 0, &w, &r, err), 0);
    assert_int_equal(r.metadata_len, 4);
    assert_memory_equal(r.metadata, "meta", 4);
    assert_int_equal(r.hard_state.term, 1);
    assert_int_equal(r.hard_state.vote, 2);
    assert_int_equal(r.hard_state.commit, 100);
    check_entries(&r, 1, 100, 1);
    assert_int_equal(wal_last_index(w), 100);
    /* appends continue the chain after a reopen */
    append_range(w, 101, 150, 1);
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);
    wal_read_result_free(&r);
    assert_int_equal(open_dir(dir, 1 << 20, 0, 0, &w, &r, err), 0);
    check_entries(&r, 1, 150, 1);
    wal_close(w);
    wal_read_result_free(&r);
    /* creating over an existing log is refused */
    wal_options_t o = opts(dir, 1 << 20);
    assert_int_equal(wal_create(&w, &o, "x", 1, err, sizeof(err)), -EEXIST);
    rm_rf(dir);
    free(dir);
    char *empty = make_tmpdir();
    assert_int_equal(open_dir(empty, 1 << 20, 0, 0, &w, &r, err), -ENOENT);
    assert_false(wal_exists(empty));
    rm_rf(empty);
    free(empty);
}

static void test_overwrite_tail(void **state)
{
    (void)state;
    char *dir = new_wal(1 << 20, 10);
    wal_t *w;
    wal_read_result_t r;
    char err[512];
    assert_int_equal(open_dir(dir, 1 << 20, 0, 0, &w, &r, err), 0);
    wal_read_result_free(&r);
    /* a new leader (term 2) replaces entries 8.. (Raft paper 5.3) */
    append_range(w, 8, 9, 2);
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);
    assert_int_equal(open_dir(dir, 1 << 20, 0, 0, &w, &r, err), 0);
    assert_int_equal(r.n_entries, 9);
    check_entries(&(wal_read_result_t){.entries = r.entries, .n_entries = 7}, 1, 7, 1);
    check_entries(&(wal_read_result_t){.entries = r.entries + 7, .n_entries = 2}, 8, 9, 2);
    wal_close(w);
    wal_read_result_free(&r);
    rm_rf(dir);
    free(dir);
}

static void test_cut_segments(void **state)
{
    (void)state;
    const uint64_t seg = 4096;
    char *dir = new_wal(seg, 300);
    size_t n = nsegs(dir);
    assert_true(n > 5);
    {
        wal_t *w0;
        wal_read_result_t r0;
        char e0[512];
        assert_int_equal(open_dir(dir, seg, 0, 0, &w0, &r0, e0), 0);
        wal_read_result_free(&r0);
        assert_int_equal(wal_append_snapshot(w0, 120, 1), 0);
        assert_int_equal(wal_sync(w0), 0);
        wal_close(w0);
        wal_marker_t *m;
        size_t nm;
        assert_int_equal(wal_read_markers(dir, &m, &nm), 0); /* across segments */
        assert_int_equal(nm, 2);
        assert_int_equal(m[1].index, 120);
        free(m);
    }
    wal_segment_t *s;
    size_t ns;
    assert_int_equal(wal_segment_list(dir, &s, &ns), 0);
    assert_int_equal(ns, n);
    for (size_t i = 0; i < ns; i++) {
        assert_int_equal(s[i].seq, i);
        if (i)
            assert_true(s[i].first_index > s[i - 1].first_index);
        char name[64], path[4200];
        wal_segment_name(name, sizeof(name), s[i].seq, s[i].first_index);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        if (i + 1 < ns)
            assert_true((uint64_t)st.st_size <= seg); /* sealed: cut at its data */
        else
            assert_int_equal(st.st_size, seg); /* preallocated */
    }
    wal_t *w;
    wal_read_result_t r;
    char err[512];
    assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), 0);
    check_entries(&r, 1, 300, 1);
    assert_int_equal(r.hard_state.commit, 300);
    /* a snapshot at 150: only what follows is returned, from the segment
     * that holds 151 on */
    assert_int_equal(wal_append_snapshot(w, 150, 1), 0);
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);
    wal_read_result_free(&r);
    assert_int_equal(open_dir(dir, seg, 150, 1, &w, &r, err), 0);
    check_entries(&r, 151, 300, 1);
    wal_close(w);
    wal_read_result_free(&r);
    free(s);
    rm_rf(dir);
    free(dir);
}

/* ---- torn tails ---- */

static void read_file(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc(*len);
    assert_int_equal(fread(*buf, 1, *len, f), *len);
    fclose(f);
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

/* The offset where the log of dir ends and the size of its last record
 * (an entry of len_of(last) bytes). */
static size_t end_offset(const char *dir, uint64_t seg)
{
    wal_t *w;
    wal_read_result_t r;
    char err[512];
    assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), 0);
    size_t end = w->tail.offset;
    wal_close(w);
    wal_read_result_free(&r);
    return end;
}

static void test_torn_every_truncation_point(void **state)
{
    (void)state;
    const uint64_t seg = 64 * 1024;
    char *dir = make_tmpdir();
    wal_options_t o = opts(dir, seg);
    wal_t *w;
    char err[512];
    assert_int_equal(wal_create(&w, &o, "m", 1, err, sizeof(err)), 0);
    append_range(w, 1, 20, 1);
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);
    size_t end = end_offset(dir, seg);
    size_t last = wal_record_size(17 + len_of(20));
    char path[4200];
    seg_path(dir, 0, path, sizeof(path));
    uint8_t *orig;
    size_t olen;
    read_file(path, &orig, &olen);
    for (size_t k = end - last; k < end; k++) {
        write_file(path, orig, k); /* the file ends inside the last record */
        wal_read_result_t r;
        log_lines = 0;
        assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), 0);
        check_entries(&r, 1, 19, 1);
        if (k > end - last)
            assert_non_null(strstr(logbuf, "torn tail"));
        wal_read_result_free(&r);
        if (k % 7 == 0) {
            /* the repaired log takes appends again */
            append_range(w, 20, 21, 1);
            assert_int_equal(wal_sync(w), 0);
            wal_close(w);
            assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), 0);
            check_entries(&r, 1, 21, 1);
            wal_read_result_free(&r);
        }
        wal_close(w);
    }
    free(orig);
    rm_rf(dir);
    free(dir);
}

static void test_zeroed_tail(void **state)
{
    (void)state;
    const uint64_t seg = 64 * 1024;
    char *dir = make_tmpdir();
    wal_options_t o = opts(dir, seg);
    wal_t *w;
    char err[512];
    assert_int_equal(wal_create(&w, &o, "m", 1, err, sizeof(err)), 0);
    append_range(w, 1, 5, 1);
    uint8_t big[3000];
    fill(big, 6, 1, sizeof(big));
    assert_int_equal(wal_append_entry(w, 6, 1, 0, big, sizeof(big)), 0);
    assert_int_equal(wal_sync(w), 0);
    size_t end = w->tail.offset, start = end - wal_record_size(17 + sizeof(big));
    wal_close(w);
    char path[4200];
    seg_path(dir, 0, path, sizeof(path));
    uint8_t *orig;
    size_t olen;
    read_file(path, &orig, &olen);
    assert_int_equal(olen, seg);
    /* sectors lost in a crash read back as zeros: from the record's start
     * and from every sector boundary inside it */
    for (size_t z = start; z < end; z = (z / 512 + 1) * 512) {
        uint8_t *c = malloc(olen);
        memcpy(c, orig, olen);
        memset(c + z, 0, olen - z);
        write_file(path, c, olen);
        free(c);
        wal_read_result_t r;
        assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), 0);
        check_entries(&r, 1, 5, 1);
        wal_read_result_free(&r);
        wal_close(w);
    }
    /* a lost sector in the middle of the record, the rest written */
    uint8_t *c = malloc(olen);
    memcpy(c, orig, olen);
    size_t mid = (start / 512 + 2) * 512;
    memset(c + mid, 0, 512);
    write_file(path, c, olen);
    free(c);
    wal_read_result_t r;
    assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), 0);
    check_entries(&r, 1, 5, 1);
    /* and the stale bytes after the cut are gone: a short append later
     * reopens cleanly */
    append_range(w, 6, 6, 1);
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);
    wal_read_result_free(&r);
    assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), 0);
    check_entries(&r, 1, 6, 1);
    wal_close(w);
    wal_read_result_free(&r);
    free(orig);
    rm_rf(dir);
    free(dir);
}

/* Power loss during the last batch: the sectors it wrote reach the disk in
 * any subset (the drive reorders), the rest still hold the preallocated
 * zeros. The log must open, never refuse, and hold every entry of the
 * earlier synced batches, intact, followed by an intact prefix of the lost
 * batch. */
static void test_power_loss_sector_subsets(void **state)
{
    (void)state;
    const uint64_t seg = 256 * 1024;
    char *dir = make_tmpdir();
    wal_options_t o = opts(dir, seg);
    wal_t *w;
    char err[512];
    assert_int_equal(wal_create(&w, &o, "m", 1, err, sizeof(err)), 0);
    append_range(w, 1, 50, 1);
    assert_int_equal(wal_sync(w), 0);
    size_t from = w->tail.offset;
    char path[4200];
    seg_path(dir, 0, path, sizeof(path));
    uint8_t *before, *after;
    size_t lb, la;
    read_file(path, &before, &lb);
    append_range(w, 51, 120, 1);
    wal_hard_state_t hs = {1, 1, 120};
    assert_int_equal(wal_append_hard_state(w, &hs), 0);
    assert_int_equal(wal_sync(w), 0);
    size_t to = w->tail.offset;
    wal_close(w);
    read_file(path, &after, &la);
    assert_int_equal(la, lb);
    uint8_t *img = malloc(la);
    srand(7);
    for (int trial = 0; trial < 200; trial++) {
        memcpy(img, before, la);
        size_t first = from / 512 * 512;
        size_t prefix = first + (size_t)rand() % (to - first + 512);
        for (size_t s = first; s < to; s += 512) {
            bool persisted = trial % 3 == 0 ? s < prefix : rand() % 2;
            size_t n = s + 512 <= la ? 512 : la - s;
            if (persisted)
                memcpy(img + s, after + s, n);
        }
        write_file(path, img, la);
        wal_read_result_t r;
        int rc = open_dir(dir, seg, 0, 0, &w, &r, err);
        if (rc)
            fail_msg("trial %d: open refused: %s", trial, err);
        assert_true(r.n_entries >= 50);
        check_entries(&r, 1, r.n_entries, 1);
        if (trial % 50 == 0) {
            /* the repaired log goes on */
            uint64_t next = r.n_entries + 1;
            wal_read_result_free(&r);
            append_range(w, next, next + 2, 1);
            assert_int_equal(wal_sync(w), 0);
            wal_close(w);
            assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), 0);
            check_entries(&r, 1, next + 2, 1);
        }
        wal_read_result_free(&r);
        wal_close(w);
    }
    free(img);
    free(before);
    free(after);
    rm_rf(dir);
    free(dir);
}

/* ---- corruption ---- */

static void test_bitflip_sealed_segment(void **state)
{
    (void)state;
    const uint64_t seg = 4096;
    char *dir = new_wal(seg, 100);
    assert_true(nsegs(dir) >= 3);
    char path[4200];
    seg_path(dir, 1, path, sizeof(path));
    uint8_t *orig;
    size_t olen;
    read_file(path, &orig, &olen);
    const char *base = strrchr(path, '/') + 1;
    srand(42);
    for (int round = 0; round < 200; round++) {
        size_t byte = (size_t)rand() % olen;
        int bit = rand() % 8;
        orig[byte] ^= (uint8_t)(1 << bit);
        write_file(path, orig, olen);
        orig[byte] ^= (uint8_t)(1 << bit);
        wal_t *w = NULL;
        wal_read_result_t r;
        char err[512] = "";
        int rc = open_dir(dir, seg, 0, 0, &w, &r, err);
        if (rc != -EBADMSG)
            fail_msg("flip of bit %d at %zu: open returned %d (%s)", bit, byte, rc, err);
        assert_null(w);
        assert_non_null(strstr(err, base));
        assert_non_null(strstr(err, "offset"));
        /* the offset named is that of the damaged record or one after it */
        const char *o = strstr(err, "offset ");
        size_t at = strtoul(o + 7, NULL, 10);
        assert_true(at <= byte + 8 || at <= olen);
    }
    write_file(path, orig, olen);
    free(orig);
    rm_rf(dir);
    free(dir);
}

static void test_corrupt_inside_last_segment(void **state)
{
    (void)state;
    const uint64_t seg = 64 * 1024;
    char *dir = new_wal(seg, 50);
    char path[4200];
    seg_path(dir, 0, path, sizeof(path));
    uint8_t *buf;
    size_t len;
    read_file(path, &buf, &len);
    /* entry 10's data, followed by valid records: not a torn tail */
    size_t off = 0;
    for (int i = 0; i < 3 + 1 + 9; i++) /* headers, snapshot marker, entries 1-9 */
        off += wal_record_size(le_get64(buf + off) & 0xffffff);
    buf[off + 30] ^= 4;
    write_file(path, buf, len);
    wal_t *w;
    wal_read_result_t r;
    char err[512];
    assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), -EBADMSG);
    char want[64];
    snprintf(want, sizeof(want), "offset %zu", off);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "crc mismatch"));
    /* two records swapped: each is intact but out of place */
    buf[off + 30] ^= 4;
    size_t a = off, sa = wal_record_size(le_get64(buf + a) & 0xffffff);
    size_t b = a + sa, sb = wal_record_size(le_get64(buf + b) & 0xffffff);
    uint8_t *tmp = malloc(sa + sb);
    memcpy(tmp, buf + b, sb);
    memcpy(tmp + sb, buf + a, sa);
    memcpy(buf + a, tmp, sa + sb);
    free(tmp);
    write_file(path, buf, len);
    assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), -EBADMSG);
    assert_non_null(strstr(err, "crc mismatch"));
    free(buf);
    rm_rf(dir);
    free(dir);
}

static void test_missing_or_swapped_segment(void **state)
{
    (void)state;
    const uint64_t seg = 4096;
    char *dir = new_wal(seg, 100);
    char p1[4200], p2[4200];
    seg_path(dir, 1, p1, sizeof(p1));
    seg_path(dir, 2, p2, sizeof(p2));
    char t[4300];
    snprintf(t, sizeof(t), "%s.x", p1);
    /* a segment from elsewhere in the chain under another name */
    assert_int_equal(rename(p1, t), 0);
    wal_t *w;
    wal_read_result_t r;
    char err[512];
    assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), -EBADMSG);
    assert_non_null(strstr(err, "missing"));
    /* a sealed segment emptied */
    write_file(p1, (const uint8_t *)"", 0);
    assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), -EBADMSG);
    /* a sealed segment that lost its last record, cut cleanly at a record
     * boundary: only the chain into the next segment shows it */
    uint8_t *b1;
    size_t l1, off = 0, prev = 0;
    assert_int_equal(rename(t, p1), 0);
    read_file(p1, &b1, &l1);
    while (off < l1) {
        prev = off;
        off += wal_record_size(le_get64(b1 + off) & 0xffffff);
    }
    assert_int_equal(off, l1);
    write_file(p1, b1, prev);
    assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), -EBADMSG);
    assert_non_null(strstr(err, "crc chain broken"));
    write_file(p1, b1, l1);
    free(b1);
    assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), 0);
    wal_close(w);
    wal_read_result_free(&r);
    uint8_t *b2;
    size_t l2;
    read_file(p2, &b2, &l2);
    write_file(p1, b2, l2); /* segment 2's content as segment 1 */
    assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), -EBADMSG);
    free(b2);
    rm_rf(dir);
    free(dir);
}

static void test_snapshot_marker_checks(void **state)
{
    (void)state;
    char *dir = new_wal(1 << 20, 20);
    wal_t *w;
    wal_read_result_t r;
    char err[512];
    assert_int_equal(open_dir(dir, 1 << 20, 0, 0, &w, &r, err), 0);
    wal_read_result_free(&r);
    assert_int_equal(wal_append_snapshot(w, 10, 1), 0);
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);
    assert_int_equal(open_dir(dir, 1 << 20, 10, 2, &w, &r, err), -ESRCH); /* term differs */
    assert_int_equal(open_dir(dir, 1 << 20, 12, 1, &w, &r, err), -ESRCH); /* no marker */
    assert_non_null(strstr(err, "no snapshot marker"));
    assert_int_equal(open_dir(dir, 1 << 20, 10, 1, &w, &r, err), 0);
    check_entries(&r, 11, 20, 1);
    wal_marker_t *m;
    size_t nm;
    assert_int_equal(wal_read_markers(dir, &m, &nm), 0); /* works while open */
    assert_int_equal(nm, 2);
    assert_int_equal(m[0].index, 0);
    assert_int_equal(m[1].index, 10);
    assert_int_equal(m[1].term, 1);
    free(m);
    wal_close(w);
    wal_read_result_free(&r);
    rm_rf(dir);
    free(dir);
}

/* The snapshot marker sits in the segment before the one that starts right
 * after it; and a follower's snapshot install jumps the index forward. */
static void append_big(wal_t *w, uint64_t index)
{
    uint8_t big[3000];
    fill(big, index, 1, sizeof(big));
    assert_int_equal(wal_append_entry(w, index, 1, 0, big, sizeof(big)), 0);
}

static void check_big(const wal_entry_t *e, uint64_t index)
{
    uint8_t big[3000];
    fill(big, index, 1, sizeof(big));
    assert_int_equal(e->index, index);
    assert_int_equal(e->len, sizeof(big));
    assert_memory_equal(e->data, big, sizeof(big));
}

static void test_marker_segment_boundaries(void **state)
{
    (void)state;
    const uint64_t seg = 4096;
    char *dir = make_tmpdir();
    wal_options_t o = opts(dir, seg);
    wal_t *w;
    char err[512];
    assert_int_equal(wal_create(&w, &o, "m", 1, err, sizeof(err)), 0);
    append_range(w, 1, 10, 1);
    assert_int_equal(wal_append_snapshot(w, 10, 1), 0);
    append_big(w, 11); /* does not fit: the next segment starts at 11, after the marker */
    append_range(w, 12, 200, 1);
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);
    wal_segment_t *s;
    size_t n;
    assert_int_equal(wal_segment_list(dir, &s, &n), 0);
    assert_true(n > 3);
    assert_int_equal(s[1].first_index, 11);
    free(s);
    wal_read_result_t r;
    assert_int_equal(open_dir(dir, seg, 10, 1, &w, &r, err), 0);
    assert_int_equal(r.n_entries, 190);
    check_big(&r.entries[0], 11);
    check_entries(&(wal_read_result_t){.entries = r.entries + 1, .n_entries = 189}, 12, 200, 1);
    wal_read_result_free(&r);
    /* a snapshot from the leader at 1000 (entries 201-1000 never reach this
     * log), and the next segment cut right after its marker */
    assert_int_equal(wal_append_snapshot(w, 1000, 1), 0);
    append_big(w, 1001);
    append_range(w, 1002, 1300, 1);
    assert_int_equal(wal_sync(w), 0);
    assert_int_equal(wal_release_to(w, 1000), 0); /* max_wals 0: nothing deleted */
    wal_close(w);
    assert_int_equal(open_dir(dir, seg, 1000, 1, &w, &r, err), 0);
    assert_int_equal(r.n_entries, 300);
    check_big(&r.entries[0], 1001);
    check_entries(&(wal_read_result_t){.entries = r.entries + 1, .n_entries = 299}, 1002, 1300, 1);
    wal_close(w);
    wal_read_result_free(&r);
    /* the older snapshot meets a hole: refused, not silently served */
    assert_int_equal(open_dir(dir, seg, 10, 1, &w, &r, err), -ERANGE);
    o.max_wals = 1;
    assert_int_equal(wal_open(&w, &o, 1000, 1, &r, err, sizeof(err)), 0);
    wal_read_result_free(&r);
    assert_true(wal_release_to(w, 1000) > 0);
    wal_close(w);
    assert_int_equal(open_dir(dir, seg, 1000, 1, &w, &r, err), 0);
    assert_int_equal(r.n_entries, 300);
    wal_close(w);
    wal_read_result_free(&r);
    rm_rf(dir);
    free(dir);
}

/* ---- release and purge ---- */

static void test_release_purge(void **state)
{
    (void)state;
    const uint64_t seg = 4096;
    char *dir = make_tmpdir();
    wal_options_t o = opts(dir, seg);
    o.max_wals = 3;
    wal_t *w;
    char err[512];
    assert_int_equal(wal_create(&w, &o, "m", 1, err, sizeof(err)), 0);
    append_range(w, 1, 400, 1);
    assert_int_equal(wal_append_snapshot(w, 200, 1), 0);
    assert_int_equal(wal_sync(w), 0);
    size_t before = nsegs(dir);
    assert_true(before > 8);
    /* nothing covered yet: nothing deleted */
    assert_int_equal(wal_release_to(w, 0), 0);
    assert_int_equal(nsegs(dir), before);
    int del = wal_release_to(w, 200);
    assert_true(del > 0);
    size_t after = nsegs(dir);
    assert_int_equal(after, before - (size_t)del);
    assert_true(after >= 3);
    /* the oldest remaining segment may hold 201 */
    wal_segment_t *s;
    size_t n;
    assert_int_equal(wal_segment_list(dir, &s, &n), 0);
    assert_true(s[0].first_index <= 201);
    free(s);
    wal_close(w);
    wal_read_result_t r;
    assert_int_equal(open_dir(dir, seg, 200, 1, &w, &r, err), 0);
    check_entries(&r, 201, 400, 1);
    wal_read_result_free(&r);
    /* everything covered: the limit holds */
    append_range(w, 401, 402, 1);
    assert_int_equal(wal_append_snapshot(w, 402, 1), 0);
    assert_int_equal(wal_sync(w), 0);
    assert_int_equal(wal_release_to(w, 402), 0); /* max_wals 0: keep all */
    wal_close(w);
    assert_int_equal(wal_open(&w, &o, 402, 1, &r, err, sizeof(err)), 0);
    assert_int_equal(r.n_entries, 0);
    wal_read_result_free(&r);
    assert_true(wal_release_to(w, 402) > 0);
    assert_int_equal(nsegs(dir), 3);
    wal_close(w);
    /* an older snapshot's entries are gone now */
    assert_int_equal(open_dir(dir, seg, 100, 1, &w, &r, err), -ERANGE);
    rm_rf(dir);
    free(dir);
}

/* ---- group commit ---- */

typedef struct seen {
    uint64_t batch[64];
    int status[64];
    uint64_t last[64];
    int n;
} seen_t;

static void on_sync(void *arg, const wal_sync_result_t *r)
{
    seen_t *s = arg;
    if (s->n < 64) {
        s->batch[s->n] = r->batch;
        s->status[s->n] = r->status;
        s->last[s->n] = r->last_index;
        s->n++;
    }
}

static wal_t *fresh(char **dir, uint64_t seg, seen_t *seen)
{
    *dir = make_tmpdir();
    memset(seen, 0, sizeof(*seen));
    faults_reset();
    wal_options_t o = opts(*dir, seg);
    o.on_sync = on_sync;
    o.on_sync_arg = seen;
    wal_t *w;
    char err[512];
    assert_int_equal(wal_create(&w, &o, "m", 1, err, sizeof(err)), 0);
    memset(seen, 0, sizeof(*seen));
    faults_reset();
    return w;
}

static void wait_done(wal_t *w, seen_t *s, int n)
{
    for (int i = 0; i < 2000 && s->n < n; i++) {
        struct pollfd p = {.fd = wal_event_fd(w), .events = POLLIN};
        poll(&p, 1, 10);
        wal_poll(w);
    }
    assert_int_equal(s->n, n);
}

static void test_group_commit_one_fsync(void **state)
{
    (void)state;
    char *dir;
    seen_t seen;
    wal_t *w = fresh(&dir, 1 << 20, &seen);
    append_range(w, 1, 500, 1);
    uint64_t id = wal_sync_async(w);
    assert_int_equal(id, 2);                 /* batch 1 was the creation */
    assert_int_equal(wal_sync_async(w), id); /* nothing new */
    /* the event fd becomes readable when the batch is done, and is drained
     * by wal_poll() */
    struct pollfd p = {.fd = wal_event_fd(w), .events = POLLIN};
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_int_equal(wal_poll(w), 1);
    p.revents = 0;
    assert_int_equal(poll(&p, 1, 0), 0);
    assert_int_equal(wal_poll(w), 0);
    assert_int_equal(seen.batch[0], id);
    assert_int_equal(seen.status[0], 0);
    assert_int_equal(seen.last[0], 500);
    assert_int_equal(faults_fdatasyncs(), 1);
    wal_close(w);
    rm_rf(dir);
    free(dir);
}

static void test_close_finishes_submitted(void **state)
{
    (void)state;
    char *dir;
    seen_t seen;
    wal_t *w = fresh(&dir, 1 << 20, &seen);
    append_range(w, 1, 40, 1);
    wal_sync_async(w);
    append_range(w, 41, 50, 1); /* never submitted: dropped by close */
    wal_close(w);
    wal_read_result_t r;
    char err[512];
    assert_int_equal(open_dir(dir, 1 << 20, 0, 0, &w, &r, err), 0);
    check_entries(&r, 1, 40, 1);
    wal_close(w);
    wal_read_result_free(&r);
    rm_rf(dir);
    free(dir);
}

static void test_group_commit_merge_and_order(void **state)
{
    (void)state;
    char *dir;
    seen_t seen;
    wal_t *w = fresh(&dir, 1 << 20, &seen);
    gate_close();
    append_range(w, 1, 10, 1);
    uint64_t first = wal_sync_async(w);
    gate_wait_parked(); /* batch `first` is inside its fdatasync */
    uint64_t ids[5];
    for (int i = 0; i < 5; i++) {
        append_range(w, 11 + 10 * (uint64_t)i, 20 + 10 * (uint64_t)i, 1);
        ids[i] = wal_sync_async(w);
        assert_int_equal(ids[i], first + 1 + (uint64_t)i);
    }
    /* nothing is durable yet, nothing reported */
    assert_int_equal(wal_poll(w), 0);
    gate_open();
    wait_done(w, &seen, 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(seen.batch[i], first + (uint64_t)i);
        assert_int_equal(seen.status[i], 0);
    }
    assert_int_equal(seen.last[0], 10);
    assert_int_equal(seen.last[5], 60);
    /* the five queued batches shared one fdatasync */
    assert_int_equal(faults_fdatasyncs(), 2);
    wal_close(w);
    wal_read_result_t r;
    char err[512];
    assert_int_equal(open_dir(dir, 1 << 20, 0, 0, &w, &r, err), 0);
    check_entries(&r, 1, 60, 1);
    wal_close(w);
    wal_read_result_free(&r);
    rm_rf(dir);
    free(dir);
}

/* ---- bad disks ---- */

static void test_enospc_short_write(void **state)
{
    (void)state;
    char *dir;
    seen_t seen;
    wal_t *w = fresh(&dir, 1 << 20, &seen);
    append_range(w, 1, 10, 1);
    assert_int_equal(wal_sync(w), 0);
    pthread_mutex_lock(&faults.mu);
    faults.enospc_after = 300; /* part of the batch fits, then the disk is full */
    pthread_mutex_unlock(&faults.mu);
    append_range(w, 11, 30, 1);
    assert_int_equal(wal_sync(w), -ENOSPC);
    assert_int_equal(seen.status[seen.n - 1], -ENOSPC);
    assert_int_equal(seen.last[seen.n - 1], 10);
    assert_int_equal(wal_last_index(w), 10);
    /* nothing of the failed batch is in the file */
    wal_close(w);
    wal_read_result_t r;
    char err[512];
    assert_int_equal(open_dir(dir, 1 << 20, 0, 0, &w, &r, err), 0);
    check_entries(&r, 1, 10, 1);
    wal_read_result_free(&r);
    wal_close(w);
    /* without reopening: space comes back and appends work */
    memset(&seen, 0, sizeof(seen));
    wal_options_t o = opts(dir, 1 << 20);
    o.on_sync = on_sync;
    o.on_sync_arg = &seen;
    assert_int_equal(wal_open(&w, &o, 0, 0, &r, err, sizeof(err)), 0);
    wal_read_result_free(&r);
    pthread_mutex_lock(&faults.mu);
    faults.enospc_after = 0;
    pthread_mutex_unlock(&faults.mu);
    append_range(w, 11, 12, 1);
    assert_int_equal(wal_sync(w), -ENOSPC);
    pthread_mutex_lock(&faults.mu);
    faults.enospc_after = -1;
    pthread_mutex_unlock(&faults.mu);
    append_range(w, 11, 20, 1);
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);
    assert_int_equal(open_dir(dir, 1 << 20, 0, 0, &w, &r, err), 0);
    check_entries(&r, 1, 20, 1);
    wal_close(w);
    wal_read_result_free(&r);
    rm_rf(dir);
    free(dir);
}

static void test_fsync_error_then_recover(void **state)
{
    (void)state;
    char *dir;
    seen_t seen;
    wal_t *w = fresh(&dir, 1 << 20, &seen);
    append_range(w, 1, 5, 1);
    assert_int_equal(wal_sync(w), 0);
    pthread_mutex_lock(&faults.mu);
    faults.fail_fdatasync = 1;
    pthread_mutex_unlock(&faults.mu);
    append_range(w, 6, 9, 1);
    assert_int_equal(wal_sync(w), -EIO);
    append_range(w, 6, 8, 1);
    wal_hard_state_t hs = {3, 1, 8};
    assert_int_equal(wal_append_hard_state(w, &hs), 0);
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);
    wal_read_result_t r;
    char err[512];
    assert_int_equal(open_dir(dir, 1 << 20, 0, 0, &w, &r, err), 0);
    check_entries(&r, 1, 8, 1);
    assert_int_equal(r.hard_state.term, 3);
    wal_close(w);
    wal_read_result_free(&r);
    rm_rf(dir);
    free(dir);
}

static void test_failure_cancels_queued(void **state)
{
    (void)state;
    char *dir;
    seen_t seen;
    wal_t *w = fresh(&dir, 1 << 20, &seen);
    append_range(w, 1, 5, 1);
    assert_int_equal(wal_sync(w), 0);
    gate_close();
    pthread_mutex_lock(&faults.mu);
    faults.fail_fdatasync = 1;
    pthread_mutex_unlock(&faults.mu);
    append_range(w, 6, 10, 1);
    uint64_t a = wal_sync_async(w);
    gate_wait_parked();
    append_range(w, 11, 15, 1);
    uint64_t b = wal_sync_async(w); /* queued behind the failing one */
    append_range(w, 16, 17, 1);     /* appended, not submitted */
    gate_open();
    wait_done(w, &seen, 3);
    assert_int_equal(seen.batch[1], a);
    assert_int_equal(seen.status[1], -EIO);
    assert_int_equal(seen.batch[2], b);
    assert_int_equal(seen.status[2], -EIO); /* would have left a hole */
    assert_int_equal(wal_last_index(w), 5);
    /* the unsubmitted records were dropped too: this batch holds only 6-7 */
    append_range(w, 6, 7, 1);
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);
    wal_read_result_t r;
    char err[512];
    assert_int_equal(open_dir(dir, 1 << 20, 0, 0, &w, &r, err), 0);
    check_entries(&r, 1, 7, 1);
    wal_close(w);
    wal_read_result_free(&r);
    rm_rf(dir);
    free(dir);
}

static void test_failure_during_cut(void **state)
{
    (void)state;
    const uint64_t seg = 4096;
    char *dir;
    seen_t seen;
    wal_t *w = fresh(&dir, seg, &seen);
    append_range(w, 1, 10, 1);
    assert_int_equal(wal_sync(w), 0);
    size_t segs_before = nsegs(dir);
    pthread_mutex_lock(&faults.mu);
    faults.fail_fallocate = 1; /* the next segment cannot be prepared */
    pthread_mutex_unlock(&faults.mu);
    append_range(w, 11, 100, 1);
    assert_int_equal(wal_sync(w), -ENOSPC);
    assert_int_equal(nsegs(dir), segs_before);
    assert_int_equal(count_files(dir, ".tmp"), 0);
    /* the old segment's sync at the cut fails */
    pthread_mutex_lock(&faults.mu);
    faults.fail_fdatasync = 1;
    pthread_mutex_unlock(&faults.mu);
    append_range(w, 11, 100, 1);
    assert_int_equal(wal_sync(w), -EIO);
    assert_int_equal(nsegs(dir), segs_before);
    append_range(w, 11, 100, 1);
    assert_int_equal(wal_sync(w), 0);
    assert_true(nsegs(dir) > segs_before);
    wal_close(w);
    wal_read_result_t r;
    char err[512];
    assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), 0);
    check_entries(&r, 1, 100, 1);
    wal_close(w);
    wal_read_result_free(&r);
    rm_rf(dir);
    free(dir);
}

/* The failure comes after a cut has created a segment: the segment goes. */
static int syncs_left_ok;
static int late_fdatasync(int fd)
{
    if (syncs_left_ok-- == 0) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static void test_failure_after_cut_removes_segment(void **state)
{
    (void)state;
    const uint64_t seg = 4096;
    char *dir = make_tmpdir();
    wal_io_t io = shim_io;
    io.fdatasync = late_fdatasync;
    syncs_left_ok = 1000;
    wal_options_t o = opts(dir, seg);
    o.io = &io;
    wal_t *w;
    char err[512];
    assert_int_equal(wal_create(&w, &o, "m", 1, err, sizeof(err)), 0);
    append_range(w, 1, 10, 1);
    assert_int_equal(wal_sync(w), 0);
    size_t before = nsegs(dir);
    /* syncs in a group with cuts: old segment, new segment's header, ...,
     * the final one. Let the first cut happen, fail later. */
    syncs_left_ok = 2;
    append_range(w, 11, 100, 1);
    assert_int_equal(wal_sync(w), -EIO);
    assert_int_equal(nsegs(dir), before);
    syncs_left_ok = 1000;
    append_range(w, 11, 100, 1);
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);
    wal_read_result_t r;
    assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), 0);
    check_entries(&r, 1, 100, 1);
    wal_close(w);
    wal_read_result_free(&r);
    rm_rf(dir);
    free(dir);
}

static void test_big_group_and_big_record(void **state)
{
    (void)state;
    const uint64_t seg = 4096;
    char *dir = make_tmpdir();
    wal_io_t io = shim_io;
    io.fdatasync = late_fdatasync;
    syncs_left_ok = 1000000;
    wal_options_t o = opts(dir, seg);
    o.io = &io;
    wal_t *w;
    char err[512];
    assert_int_equal(wal_create(&w, &o, "m", 1, err, sizeof(err)), 0);
    size_t before = nsegs(dir);
    /* one batch cutting ~100 segments, failing near its end */
    syncs_left_ok = 150;
    append_range(w, 1, 3000, 1);
    assert_int_equal(wal_sync(w), -EIO);
    assert_int_equal(nsegs(dir), before);
    syncs_left_ok = 1000000;
    append_range(w, 1, 3000, 1);
    assert_int_equal(wal_sync(w), 0);
    assert_true(nsegs(dir) > 90);
    /* a record larger than a segment gets a segment of its own */
    uint8_t *big = malloc(10000);
    memset(big, 7, 10000);
    assert_int_equal(wal_append_entry(w, 3001, 1, 0, big, 10000), 0);
    append_range(w, 3002, 3002, 1);
    assert_int_equal(wal_sync(w), 0);
    wal_close(w);
    wal_read_result_t r;
    assert_int_equal(open_dir(dir, seg, 0, 0, &w, &r, err), 0);
    assert_int_equal(r.n_entries, 3002);
    check_entries(&(wal_read_result_t){.entries = r.entries, .n_entries = 3000}, 1, 3000, 1);
    assert_int_equal(r.entries[3000].len, 10000);
    assert_memory_equal(r.entries[3000].data, big, 10000);
    free(big);
    wal_close(w);
    wal_read_result_free(&r);
    rm_rf(dir);
    free(dir);
}

/* ---- lock ---- */

static void test_lock(void **state)
{
    (void)state;
    char *dir = new_wal(1 << 20, 3);
    wal_t *w, *w2;
    wal_read_result_t r, r2;
    char err[512];
    assert_int_equal(open_dir(dir, 1 << 20, 0, 0, &w, &r, err), 0);
    /* a segment the running one is preparing is left alone by a second
     * opener, which is refused */
    char tmp[4300];
    snprintf(tmp, sizeof(tmp), "%s/0000000000000009-0000000000000009.wal.tmp", dir);
    write_file(tmp, (const uint8_t *)"x", 1);
    assert_int_equal(open_dir(dir, 1 << 20, 0, 0, &w2, &r2, err), -EBUSY);
    assert_non_null(strstr(err, "in use"));
    assert_non_null(strstr(err, dir));
    assert_int_equal(access(tmp, F_OK), 0);
    /* another process is refused too */
    pid_t pid = fork();
    if (pid == 0) {
        char e[512];
        int fd = wal_lock_dir(dir, e, sizeof(e));
        _exit(fd == -EBUSY ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    wal_close(w);
    wal_read_result_free(&r);
    /* left over by a crash: removed at the next open */
    assert_int_equal(open_dir(dir, 1 << 20, 0, 0, &w, &r, err), 0);
    assert_int_equal(access(tmp, F_OK), -1);
    wal_close(w);
    wal_read_result_free(&r);
    rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_vectors),
        cmocka_unit_test(test_record_framing),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_overwrite_tail),
        cmocka_unit_test(test_cut_segments),
        cmocka_unit_test(test_torn_every_truncation_point),
        cmocka_unit_test(test_zeroed_tail),
        cmocka_unit_test(test_power_loss_sector_subsets),
        cmocka_unit_test(test_bitflip_sealed_segment),
        cmocka_unit_test(test_corrupt_inside_last_segment),
        cmocka_unit_test(test_missing_or_swapped_segment),
        cmocka_unit_test(test_snapshot_marker_checks),
        cmocka_unit_test(test_marker_segment_boundaries),
        cmocka_unit_test(test_release_purge),
        cmocka_unit_test(test_group_commit_one_fsync),
        cmocka_unit_test(test_group_commit_merge_and_order),
        cmocka_unit_test(test_close_finishes_submitted),
        cmocka_unit_test(test_enospc_short_write),
        cmocka_unit_test(test_fsync_error_then_recover),
        cmocka_unit_test(test_failure_cancels_queued),
        cmocka_unit_test(test_failure_during_cut),
        cmocka_unit_test(test_failure_after_cut_removes_segment),
        cmocka_unit_test(test_big_group_and_big_record),
        cmocka_unit_test(test_lock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
