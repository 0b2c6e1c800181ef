/* tests/store/test_errors.c: every v2 error the store returns, with etcd's cause and index. */
#include "store_test.h"

static void test_error_table(void **state)
{
    (void)state;
    assert_string_equal(store_error_message(100), "Key not found");
    assert_string_equal(store_error_message(401),
                        "The event in requested index is outdated and cleared");
    assert_null(store_error_message(999));
    assert_string_equal(store_action_name(STORE_ACTION_CAS), "compareAndSwap");
    assert_string_equal(store_action_name(STORE_ACTION_CAD), "compareAndDelete");
    assert_string_equal(store_action_name(STORE_ACTION_EXPIRE), "expire");
    store_error_t e = {0};
    assert_int_equal(store_error_set(&e, 100, "/x", 7), -100);
    assert_string_equal(e.cause, "/x");
    assert_int_equal(e.index, 7);
    store_error_clear(&e);
    assert_null(e.cause);
    store_error_clear(&e);
}

static void test_key_not_found(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/p/a/b/c", "1");
    /* The first missing prefix. */
    get_fail(s, "/no/such/key", STORE_E_KEY_NOT_FOUND, "/no");
    get_fail(s, "/p/a/b/d/e", STORE_E_KEY_NOT_FOUND, "/p/a/b/d");
    get_fail(s, "/p/x", STORE_E_KEY_NOT_FOUND, "/p/x");
    fail_req(s, STORE_OP_UPDATE, "/p/a/x/y", OPTS(.value = "v"), STORE_E_KEY_NOT_FOUND, "/p/a/x",
             1);
    fail_req(s, STORE_OP_UPDATE, "/p/a/y", OPTS(.value = "v"), STORE_E_KEY_NOT_FOUND, "/p/a/y", 1);
    fail_req(s, STORE_OP_CAS, "/q", OPTS(.prev_value = "1"), STORE_E_KEY_NOT_FOUND, "/q", 1);
    fail_req(s, STORE_OP_DELETE, "/q/r", OPTS(0), STORE_E_KEY_NOT_FOUND, "/q", 1);
    fail_req(s, STORE_OP_CAD, "/q/r", OPTS(.prev_index = 3), STORE_E_KEY_NOT_FOUND, "/q", 1);
    store_free(s);
}

static void test_not_dir(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/f", "file");
    put(s, "/d/g", "file");
    get_fail(s, "/f/child", STORE_E_NOT_DIR, "/f");
    get_fail(s, "/f/child/x", STORE_E_NOT_DIR, "/f");
    get_fail(s, "/d/g/x/y", STORE_E_NOT_DIR, "/d/g");
    fail_req(s, STORE_OP_SET, "/f/child", OPTS(.value = "2"), STORE_E_NOT_DIR, "/f", 2);
    fail_req(s, STORE_OP_SET, "/f/x/y", OPTS(.value = "3"), STORE_E_NOT_DIR, "/f", 2);
    fail_req(s, STORE_OP_CREATE, "/d/g/x", OPTS(.value = "3"), STORE_E_NOT_DIR, "/d/g", 2);
    fail_req(s, STORE_OP_CREATE_UNIQUE, "/f", OPTS(.value = "3"), STORE_E_NOT_DIR, "/f", 2);
    fail_req(s, STORE_OP_DELETE, "/f/x", OPTS(0), STORE_E_NOT_DIR, "/f", 2);
    fail_req(s, STORE_OP_UPDATE, "/f/x", OPTS(0), STORE_E_NOT_DIR, "/f", 2);
    assert_int_equal(store_node_count(s), 3);
    store_free(s);
}

static void test_not_file(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/d/x", "1");
    fail_req(s, STORE_OP_SET, "/d", OPTS(.value = "1"), STORE_E_NOT_FILE, "/d", 1);
    fail_req(s, STORE_OP_SET, "/d", OPTS(0), STORE_E_NOT_FILE, "/d", 1);
    fail_req(s, STORE_OP_SET, "/d", OPTS(.dir = true), STORE_E_NOT_FILE, "/d", 1);
    fail_req(s, STORE_OP_CAS, "/d", OPTS(.prev_value = "1", .value = "2"), STORE_E_NOT_FILE, "/d",
             1);
    fail_req(s, STORE_OP_CAS, "/d", OPTS(.prev_index = 1, .value = "2"), STORE_E_NOT_FILE, "/d", 1);
    fail_req(s, STORE_OP_CAD, "/d", OPTS(.prev_value = "1"), STORE_E_NOT_FILE, "/d", 1);
    fail_req(s, STORE_OP_CAD, "/d", OPTS(.prev_index = 1, .recursive = true), STORE_E_NOT_FILE,
             "/d", 1);
    fail_req(s, STORE_OP_DELETE, "/d", OPTS(0), STORE_E_NOT_FILE, "/d", 1);
    fail_req(s, STORE_OP_UPDATE, "/d", OPTS(.value = "x"), STORE_E_NOT_FILE, "/d", 1);
    /* A refresh set on a dir replaces nothing: 102 as well. */
    fail_req(s, STORE_OP_SET, "/d", OPTS(.refresh = true, .ttl = 5), STORE_E_NOT_FILE, "/d", 1);
    store_free(s);
}

static void test_exists_and_not_empty(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/a", "1");
    put(s, "/d/x", "1");
    fail_req(s, STORE_OP_CREATE, "/a", OPTS(.value = "2"), STORE_E_NODE_EXIST, "/a", 2);
    fail_req(s, STORE_OP_CREATE, "/d", OPTS(.value = "2"), STORE_E_NODE_EXIST, "/d", 2);
    fail_req(s, STORE_OP_CREATE, "/a", OPTS(.dir = true), STORE_E_NODE_EXIST, "/a", 2);
    fail_req(s, STORE_OP_DELETE, "/d", OPTS(.dir = true), STORE_E_DIR_NOT_EMPTY, "/d", 2);
    store_free(s);
}

static void test_root_read_only(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/a", "1");
    const store_op_t ops[] = {STORE_OP_SET, STORE_OP_CREATE, STORE_OP_UPDATE, STORE_OP_CAS,
                              STORE_OP_DELETE};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        fail_req(s, ops[i], "/", OPTS(.value = "1"), STORE_E_ROOT_RONLY, "/", 1);
        fail_req(s, ops[i], "/", OPTS(.dir = true, .recursive = true, .ttl = 5), STORE_E_ROOT_RONLY,
                 "/", 1);
    }
    fail_req(s, STORE_OP_CAS, "/", OPTS(.prev_value = "x"), STORE_E_ROOT_RONLY, "/", 1);
    fail_req(s, STORE_OP_UPDATE, "/", OPTS(.refresh = true, .ttl = 5), STORE_E_ROOT_RONLY, "/", 1);
    /* DELETE /?prevValue=x: etcd answers 102 with no cause. */
    fail_req(s, STORE_OP_CAD, "/", OPTS(.prev_value = "x"), STORE_E_NOT_FILE, NULL, 1);
    fail_req(s, STORE_OP_SET, "", OPTS(.value = "1"), STORE_E_ROOT_RONLY, "/", 1);
    fail_req(s, STORE_OP_SET, "/a/..", OPTS(.value = "1"), STORE_E_ROOT_RONLY, "/", 1);
    store_free(s);
}

static void test_compare_failed(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/k", "owner1");
    fail_req(s, STORE_OP_CAD, "/k", OPTS(.prev_value = "owner2"), STORE_E_TEST_FAILED,
             "[owner2 != owner1]", 1);
    fail_req(s, STORE_OP_CAD, "/k", OPTS(.prev_value = "2", .prev_index = 9), STORE_E_TEST_FAILED,
             "[2 != owner1] [9 != 1]", 1);
    /* An empty prevValue is no condition (etcd). */
    store_event_t *ev = ok_req(s, STORE_OP_CAS, "/k", OPTS(.prev_value = "", .value = "x"));
    assert_int_equal(ev->action, STORE_ACTION_CAS);
    store_event_release(ev);
    /* Empty current value in the cause. */
    put(s, "/e", "");
    fail_req(s, STORE_OP_CAS, "/e", OPTS(.prev_value = "a"), STORE_E_TEST_FAILED, "[a != ]", 3);
    store_free(s);
}

/* Applies a request whose key, value and prevValue are counted byte strings
 * (they may hold NUL) and expects `code` with the counted `cause`. */
static void fail_bytes(store_t *s, store_op_t op, const char *key, size_t key_len,
                       const char *prev_value, size_t prev_value_len, uint64_t prev_index, int code,
                       const char *cause, size_t cause_len)
{
    store_request_t r = {.op = op,
                         .time_ns = T0,
                         .key = key,
                         .key_len = key_len,
                         .value = "y",
                         .value_len = 1,
                         .prev_index = prev_index};
    if (prev_value) {
        r.prev_value = prev_value;
        r.prev_value_len = prev_value_len;
        r.has_prev_value = true;
    }
    uint8_t *buf;
    size_t len;
    assert_int_equal(store_request_encode(&r, &buf, &len), 0);
    store_error_t err = {0};
    store_event_t *ev = NULL;
    assert_int_equal(store_apply(s, buf, len, &ev, &err), -code);
    free(buf);
    assert_null(ev);
    assert_int_equal(err.code, code);
    assert_int_equal(err.cause_len, cause_len);
    assert_memory_equal(err.cause, cause, cause_len);
    assert_int_equal(err.cause[cause_len], '\0');
    store_error_clear(&err);
    assert_null(err.cause);
    assert_int_equal(err.cause_len, 0);
}

/*
 * etcd's causes are Go strings: a key or value with a NUL inside is quoted
 * whole ("[q != a\u0000b]", "/k\u0000x/y"). They were cut at the NUL.
 */
static void test_cause_with_nul(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    store_request_t r = {.op = STORE_OP_SET,
                         .time_ns = T0,
                         .key = "/v",
                         .key_len = 2,
                         .value = "a\0b",
                         .value_len = 3};
    uint8_t *buf;
    size_t len;
    assert_int_equal(store_request_encode(&r, &buf, &len), 0);
    store_error_t err = {0};
    assert_int_equal(store_apply(s, buf, len, NULL, &err), 0);
    free(buf);
    r = (store_request_t){.op = STORE_OP_SET,
                          .time_ns = T0,
                          .key = "/k\0x/y",
                          .key_len = 6,
                          .value = "1",
                          .value_len = 1};
    assert_int_equal(store_request_encode(&r, &buf, &len), 0);
    assert_int_equal(store_apply(s, buf, len, NULL, &err), 0);
    free(buf);
    /* 101 on CAS and CAD, one bracket or both. */
    fail_bytes(s, STORE_OP_CAS, "/v", 2, "q", 1, 0, STORE_E_TEST_FAILED, "[q != a\0b]", 10);
    fail_bytes(s, STORE_OP_CAD, "/v", 2, "q\0", 2, 0, STORE_E_TEST_FAILED, "[q\0 != a\0b]", 11);
    fail_bytes(s, STORE_OP_CAS, "/v", 2, "q", 1, 9, STORE_E_TEST_FAILED, "[q != a\0b] [9 != 1]",
               19);
    /* 104: the file in the way; 100: the first missing prefix; 105: the key. */
    fail_bytes(s, STORE_OP_SET, "/k\0x/y/z", 8, NULL, 0, 0, STORE_E_NOT_DIR, "/k\0x/y", 6);
    fail_bytes(s, STORE_OP_UPDATE, "/n\0/a", 5, NULL, 0, 0, STORE_E_KEY_NOT_FOUND, "/n\0", 3);
    fail_bytes(s, STORE_OP_CREATE, "/k\0x/y", 6, NULL, 0, 0, STORE_E_NODE_EXIST, "/k\0x/y", 6);
    /* 102 on a dir whose name holds NUL. */
    fail_bytes(s, STORE_OP_SET, "/k\0x", 4, NULL, 0, 0, STORE_E_NOT_FILE, "/k\0x", 4);
    /* A C-string cause keeps its length too. */
    assert_int_equal(store_error_set(&err, 100, "/x", 7), -100);
    assert_int_equal(err.cause_len, 2);
    store_error_clear(&err);
    store_free(s);
}

static void test_malformed_request(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/a", "1");
    store_error_t err = {0};
    store_event_t *ev = NULL;
    const uint8_t junk[] = {9, 9, 9};
    assert_int_equal(store_apply(s, junk, sizeof(junk), &ev, &err), -STORE_E_RAFT_INTERNAL);
    assert_int_equal(err.code, 300);
    assert_int_equal(err.index, 1);
    assert_null(ev);
    store_error_clear(&err);
    assert_int_equal(store_apply(s, NULL, 0, NULL, NULL), -STORE_E_RAFT_INTERNAL);
    /* etcd takes a NUL inside a key like any other byte. */
    store_request_t r = {.op = STORE_OP_SET, .time_ns = T0, .key = "/a\0b", .key_len = 4};
    uint8_t *buf;
    size_t len;
    assert_int_equal(store_request_encode(&r, &buf, &len), 0);
    assert_int_equal(store_apply(s, buf, len, &ev, &err), 0);
    assert_int_equal(ev->node.key_len, 4);
    assert_memory_equal(ev->node.key, "/a\0b", 5);
    store_event_release(ev);
    free(buf);
    assert_int_equal(store_get(s, "/a\0b", 4, false, false, T0, &ev, &err), 0);
    assert_int_equal(ev->node.modified_index, 2);
    store_event_release(ev);
    /* "/a" is still the file "1", a different key. */
    ev = get_ok(s, "/a", false, false);
    check_node(&ev->node, "/a", "1", 1, 1, false);
    store_event_release(ev);
    store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_key_not_found),
        cmocka_unit_test(test_not_dir),
        cmocka_unit_test(test_not_file),
        cmocka_unit_test(test_exists_and_not_empty),
        cmocka_unit_test(test_root_read_only),
        cmocka_unit_test(test_compare_failed),
        cmocka_unit_test(test_cause_with_nul),
        cmocka_unit_test(test_malformed_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
