/*
 * Unit tests of the etcd data dir decoders (src/etcdimport/): Go times, the
 * protobuf reader, WAL segments (CRC chain, overwritten entries, torn
 * tails) and the replay of v2 requests, plain and inside an
 * InternalRaftRequest, /0 changes and configuration changes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/crc32c.h"
#include "common/endian.h"
#include "src/etcdimport/etcdimport_int.h"

/* ---- protobuf encoding, for building records ---- */

static void pb_varint(eimp_buf_t *b, uint64_t v)
{
    eimp_buf_uvarint(b, v);
}

static void pb_u(eimp_buf_t *b, uint32_t num, uint64_t v)
{
    pb_varint(b, (uint64_t)num << 3);
    pb_varint(b, v);
}

static void pb_bytes(eimp_buf_t *b, uint32_t num, const void *p, size_t n)
{
    pb_varint(b, (uint64_t)num << 3 | 2);
    pb_varint(b, n);
    eimp_buf_put(b, p, n);
}

static void pb_str(eimp_buf_t *b, uint32_t num, const char *s)
{
    pb_bytes(b, num, s, strlen(s));
}

/* A v2 Request as etcd marshals it (ID first). */
static eimp_buf_t request(const char *method, const char *path, const char *val, int64_t exp)
{
    eimp_buf_t b = {0};
    pb_u(&b, 1, 42);
    pb_str(&b, 2, method);
    pb_str(&b, 3, path);
    pb_str(&b, 4, val);
    pb_u(&b, 5, 0);
    pb_str(&b, 6, "");
    pb_u(&b, 7, 0);
    pb_u(&b, 9, (uint64_t)exp);
    return b;
}

/* ---- Go times ---- */

static void test_time(void **state)
{
    (void)state;
    int64_t ns = -1;
    assert_int_equal(eimp_parse_time("0001-01-01T00:00:00Z", 20, &ns), 0);
    assert_int_equal(ns, 0);
    const char *t = "2026-12-06T23:37:15.952436406Z";
    assert_int_equal(eimp_parse_time(t, strlen(t), &ns), 0);
    assert_int_equal(ns, 1796600235952436406LL);
    t = "2026-12-07T00:37:15.952436406+01:00";
    assert_int_equal(eimp_parse_time(t, strlen(t), &ns), 0);
    assert_int_equal(ns, 1796600235952436406LL);
    t = "1970-01-01T00:00:01.5Z";
    assert_int_equal(eimp_parse_time(t, strlen(t), &ns), 0);
    assert_int_equal(ns, 1500000000LL);
    const char *bad[] = {"",
                         "2026-12-06",
                         "2026-13-06T00:00:00Z",
                         "2026-12-06T00:00:00",
                         "2026-12-06T00:00:00.Z",
                         "2026-12-06T00:00:00+0100"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        assert_int_equal(eimp_parse_time(bad[i], strlen(bad[i]), &ns), -1);
}

/* ---- the protobuf reader ---- */

static void test_pb(void **state)
{
    (void)state;
    eimp_buf_t b = {0};
    pb_u(&b, 3, 300);
    pb_str(&b, 4, "abc");
    eimp_pb_reader_t r = {b.p, b.len};
    eimp_pb_field_t f;
    assert_int_equal(eimp_pb_next(&r, &f), 1);
    assert_int_equal(f.num, 3);
    assert_int_equal(f.u, 300);
    assert_int_equal(eimp_pb_next(&r, &f), 1);
    assert_int_equal(f.len, 3);
    assert_memory_equal(f.data, "abc", 3);
    assert_int_equal(eimp_pb_next(&r, &f), 0);
    /* A length past the end, a group, field 0. */
    const uint8_t past[] = {0x22, 0x05, 'a'}, group[] = {0x0b}, zero[] = {0x00, 0x01};
    eimp_pb_reader_t r1 = {past, sizeof(past)}, r2 = {group, 1}, r3 = {zero, 2};
    assert_int_equal(eimp_pb_next(&r1, &f), -1);
    assert_int_equal(eimp_pb_next(&r2, &f), -1);
    assert_int_equal(eimp_pb_next(&r3, &f), -1);
    free(b.p);
}

/* ---- WAL segments ---- */

typedef struct segment {
    eimp_buf_t b;
    uint32_t crc;
} segment_t;

static void frame(segment_t *s, uint64_t type, const eimp_buf_t *data)
{
    eimp_buf_t rec = {0};
    pb_u(&rec, 1, type);
    if (type == 4) {
        pb_u(&rec, 2, s->crc);
    } else {
        s->crc = crc32c(s->crc, data->p ? data->p : (const uint8_t *)"", data->len);
        pb_u(&rec, 2, s->crc);
        pb_bytes(&rec, 3, data->p, data->len);
    }
    size_t pad = (8 - rec.len % 8) % 8;
    uint64_t lf = rec.len | (pad ? ((uint64_t)(0x80 | pad) << 56) : 0);
    eimp_buf_u64(&s->b, lf);
    eimp_buf_put(&s->b, rec.p, rec.len);
    eimp_buf_put(&s->b, "\0\0\0\0\0\0\0", pad);
    free(rec.p);
}

static void entry(segment_t *s, uint64_t index, uint64_t term, const char *val)
{
    eimp_buf_t req = request("PUT", "/1/k", val, 0), e = {0};
    pb_u(&e, 1, 0);
    pb_u(&e, 2, term);
    pb_u(&e, 3, index);
    pb_bytes(&e, 4, req.p, req.len);
    frame(s, 2, &e);
    free(req.p);
    free(e.p);
}

static void test_wal(void **state)
{
    (void)state;
    segment_t s = {0};
    eimp_buf_t empty = {0}, hs = {0};
    frame(&s, 4, &empty); /* the chain's start */
    frame(&s, 1, &empty); /* metadata */
    entry(&s, 1, 1, "a");
    entry(&s, 2, 1, "b");
    entry(&s, 3, 1, "c");
    entry(&s, 2, 2, "B"); /* a new leader overwrote 2 and 3 */
    pb_u(&hs, 1, 2);
    pb_u(&hs, 3, 2);
    frame(&s, 3, &hs);
    char err[256];
    eimp_wal_t w = {0};
    assert_int_equal(eimp_wal_parse_segment(&w, s.b.p, s.b.len, false, err, sizeof(err)), 0);
    assert_int_equal(w.n_entries, 2);
    assert_int_equal(w.entries[1].index, 2);
    assert_int_equal(w.entries[1].term, 2);
    assert_int_equal(w.hs_commit, 2);
    eimp_wal_free(&w);

    /* A torn last record: a crash left the sectors after its first one
     * zero (etcd's isTornEntry). */
    size_t whole = s.b.len;
    char big[1200];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    entry(&s, 3, 2, big);
    size_t sector = (whole / 512 + 1) * 512;
    memset(s.b.p + sector, 0, s.b.len - sector);
    assert_int_equal(eimp_wal_parse_segment(&w, s.b.p, s.b.len, true, err, sizeof(err)), 0);
    assert_int_equal(w.n_entries, 2);
    eimp_wal_free(&w);
    /* Not the last file: the same bytes are damage. */
    assert_int_equal(eimp_wal_parse_segment(&w, s.b.p, s.b.len, false, err, sizeof(err)), -1);
    eimp_wal_free(&w);
    /* A changed byte in the middle: a CRC mismatch, wherever it is. */
    s.b.len = whole;
    uint8_t *value = memmem(s.b.p, s.b.len,
                            "\x22\x01"
                            "a",
                            3);
    assert_non_null(value);
    value[2] = 'A';
    assert_int_equal(eimp_wal_parse_segment(&w, s.b.p, s.b.len, true, err, sizeof(err)), -1);
    eimp_wal_free(&w);
    free(s.b.p);
    free(hs.p);
}

/* ---- replay ---- */

static void replay(eimp_replay_t *rp, uint64_t type, const eimp_buf_t *data)
{
    eimp_entry_t e = {.index = 1, .term = 1, .type = type, .data = data->p, .len = data->len};
    char err[256];
    assert_int_equal(eimp_replay_entry(rp, &e, err, sizeof(err)), 0);
    assert_int_equal(eimp_replay_flush(rp, err, sizeof(err)), 0);
}

static void test_replay(void **state)
{
    (void)state;
    store_config_t cfg = {.history_size = 100};
    eimp_replay_t rp = {.store = store_new(&cfg), .history_size = 100};
    eimp_buf_t put = request("PUT", "/1/a", "x", 0);
    replay(&rp, 0, &put);
    assert_int_equal(store_index(rp.store), 1);
    /* The same inside an InternalRaftRequest (ID 1, v2 2), and a v3-only one. */
    eimp_buf_t put2 = request("PUT", "/1/b", "y", 0), irr = {0}, v3 = {0}, hdr = {0};
    pb_u(&hdr, 1, 9);
    pb_u(&irr, 1, 43);
    pb_bytes(&irr, 2, put2.p, put2.len);
    replay(&rp, 0, &irr);
    assert_int_equal(store_index(rp.store), 2);
    pb_u(&v3, 1, 44);
    pb_bytes(&v3, 100, hdr.p, hdr.len);
    pb_bytes(&v3, 4, "\x0a\x01k", 3); /* a v3 put */
    replay(&rp, 0, &v3);
    assert_int_equal(store_index(rp.store), 2);
    assert_int_equal(rp.skipped_v3, 1);
    /* /0: a member's attributes, then a member removed (two changes). */
    eimp_buf_t attr = request("PUT", "/0/members/1/attributes", "{}", 0), cc = {0};
    replay(&rp, 0, &attr);
    assert_int_equal(store_index(rp.store), 3);
    pb_u(&cc, 1, 7);
    pb_u(&cc, 2, 1);
    pb_u(&cc, 3, 5);
    replay(&rp, 1, &cc);
    assert_int_equal(store_index(rp.store), 5);
    assert_int_equal(store_node_count(rp.store), 2);
    /* A TTL: the deadline is etcd's Expiration, to the nanosecond. */
    rp.next_sync_ns = 1800000000000000000LL;
    eimp_buf_t ttl = request("PUT", "/1/t", "z", 1800000030123456789LL);
    replay(&rp, 0, &ttl);
    assert_int_equal(store_next_expiration(rp.store), 1800000030123456789LL);
    /* A failed create uses no index, as in etcd. */
    eimp_buf_t dup = request("POST", "/1/a", "q", 0);
    replay(&rp, 0, &dup); /* a POST under a file: Not a directory */
    assert_int_equal(store_index(rp.store), 6);
    store_free(rp.store);
    free(rp.pending);
    free(rp.scratch.p);
    free(put.p);
    free(put2.p);
    free(irr.p);
    free(v3.p);
    free(hdr.p);
    free(attr.p);
    free(cc.p);
    free(ttl.p);
    free(dup.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_pb),
        cmocka_unit_test(test_wal),
        cmocka_unit_test(test_replay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
