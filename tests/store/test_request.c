/* tests/store/test_request.c: the binary request encoding. */
#include "store_test.h"

static void roundtrip(const store_request_t *r)
{
    uint8_t *buf;
    size_t len;
    assert_int_equal(store_request_encode(r, &buf, &len), 0);
    store_request_t d;
    assert_int_equal(store_request_decode(buf, len, &d), 0);
    assert_int_equal(d.op, r->op);
    assert_int_equal(d.time_ns, r->time_ns);
    assert_int_equal(d.key_len, r->key_len);
    assert_memory_equal(d.key, r->key, r->key_len);
    if (r->value) {
        assert_non_null(d.value);
        assert_int_equal(d.value_len, r->value_len);
        if (r->value_len)
            assert_memory_equal(d.value, r->value, r->value_len);
    } else {
        assert_null(d.value);
    }
    assert_int_equal(d.has_prev_value, r->has_prev_value);
    if (r->has_prev_value) {
        assert_int_equal(d.prev_value_len, r->prev_value_len);
        if (r->prev_value_len)
            assert_memory_equal(d.prev_value, r->prev_value, r->prev_value_len);
    }
    assert_int_equal(d.prev_index, r->prev_index);
    assert_int_equal(d.has_ttl, r->has_ttl);
    if (r->has_ttl)
        assert_int_equal(d.ttl_sec, r->ttl_sec);
    assert_int_equal(d.dir, r->dir);
    assert_int_equal(d.recursive, r->recursive);
    assert_int_equal(d.refresh, r->refresh);
    /* Every strict prefix is refused, and so are trailing bytes. */
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(store_request_decode(buf, cut, &d), -1);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    assert_int_equal(store_request_decode(longer, len + 1, &d), -1);
    free(longer);
    free(buf);
}

static void test_roundtrips(void **state)
{
    (void)state;
    store_request_t r = {.op = STORE_OP_SET,
                         .time_ns = T0,
                         .key = "/a/b",
                         .key_len = 4,
                         .value = "hello",
                         .value_len = 5};
    roundtrip(&r);
    r.value = "";
    r.value_len = 0; /* empty but present */
    roundtrip(&r);
    r.value = NULL;
    roundtrip(&r);
    store_request_t cas = {.op = STORE_OP_CAS,
                           .time_ns = -5,
                           .key = "/k",
                           .key_len = 2,
                           .value = "v\0x",
                           .value_len = 3,
                           .prev_value = "old",
                           .prev_value_len = 3,
                           .has_prev_value = true,
                           .prev_index = UINT64_MAX,
                           .ttl_sec = UINT64_MAX,
                           .has_ttl = true,
                           .refresh = true};
    roundtrip(&cas);
    store_request_t del = {.op = STORE_OP_DELETE,
                           .time_ns = INT64_MAX,
                           .key = "/d",
                           .key_len = 2,
                           .dir = true,
                           .recursive = true};
    roundtrip(&del);
    store_request_t sync = {.op = STORE_OP_SYNC, .time_ns = T0};
    roundtrip(&sync);
    static char big[70000];
    memset(big, 'x', sizeof(big));
    big[0] = '/';
    store_request_t b = {.op = STORE_OP_CREATE_UNIQUE,
                         .key = big,
                         .key_len = 300,
                         .value = big,
                         .value_len = sizeof(big)};
    roundtrip(&b);
}

static void test_compact(void **state)
{
    (void)state;
    store_request_t r = {
        .op = STORE_OP_SET, .time_ns = T0, .key = "/a", .key_len = 2, .value = "1", .value_len = 1};
    uint8_t *buf;
    size_t len;
    assert_int_equal(store_request_encode(&r, &buf, &len), 0);
    /* version, op, flags, time(8), key(1+2), value(1+1), prev_index(1) */
    assert_int_equal(len, 3 + 8 + 3 + 2 + 1);
    assert_int_equal(buf[0], 1);
    free(buf);
}

static void test_rejects_garbage(void **state)
{
    (void)state;
    store_request_t r = {.op = STORE_OP_SET, .time_ns = T0, .key = "/a", .key_len = 2};
    uint8_t *buf;
    size_t len;
    store_request_t d;
    assert_int_equal(store_request_encode(&r, &buf, &len), 0);
    assert_int_equal(store_request_decode(buf, len, &d), 0);
    buf[0] = 2; /* unknown version */
    assert_int_equal(store_request_decode(buf, len, &d), -1);
    buf[0] = 1;
    buf[1] = 0; /* unknown op */
    assert_int_equal(store_request_decode(buf, len, &d), -1);
    buf[1] = STORE_OP_RESUME + 1;
    assert_int_equal(store_request_decode(buf, len, &d), -1);
    buf[1] = STORE_OP_SET;
    buf[2] = 0x40; /* unknown flag */
    assert_int_equal(store_request_decode(buf, len, &d), -1);
    buf[2] = 0;
    buf[11] = 0x7f; /* key length past the end */
    assert_int_equal(store_request_decode(buf, len, &d), -1);
    free(buf);
    /* An 11-byte varint overflows. */
    uint8_t over[11 + 11] = {1, STORE_OP_SET, 0};
    memset(over + 11, 0xff, 10);
    over[21] = 0x01;
    assert_int_equal(store_request_decode(over, sizeof(over), &d), -1);
    assert_int_equal(store_request_decode(NULL, 0, &d), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrips),
        cmocka_unit_test(test_compact),
        cmocka_unit_test(test_rejects_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
