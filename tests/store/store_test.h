/*
 * tests/store/store_test.h: helpers shared by the store tests: build a
 * request, encode it, apply it, and check node fields.
 */
#ifndef METCD_STORE_TEST_H
#define METCD_STORE_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

#define T0     1700000000000000000LL /* a fixed "now" (Unix ns) */
#define SEC    1000000000LL
#define NO_TTL (-1)

typedef struct req_opts {
    const char *value;      /* NULL: no value */
    const char *prev_value; /* NULL: none */
    uint64_t prev_index;
    int64_t ttl; /* NO_TTL or seconds */
    bool dir, recursive, refresh;
    int64_t time_ns; /* 0: T0 */
} req_opts_t;

/* Encodes and applies one request. ev (optional) gets a new reference. */
static inline int apply_req(store_t *s, store_op_t op, const char *key, req_opts_t o,
                            store_event_t **ev, store_error_t *err)
{
    store_request_t r = {0};
    r.op = op;
    r.time_ns = o.time_ns ? o.time_ns : T0;
    r.key = key;
    r.key_len = key ? strlen(key) : 0;
    if (o.value) {
        r.value = o.value;
        r.value_len = strlen(o.value);
    }
    if (o.prev_value) {
        r.prev_value = o.prev_value;
        r.prev_value_len = strlen(o.prev_value);
        r.has_prev_value = true;
    }
    r.prev_index = o.prev_index;
    if (o.ttl != NO_TTL) {
        r.has_ttl = true;
        r.ttl_sec = (uint64_t)o.ttl;
    }
    r.dir = o.dir;
    r.recursive = o.recursive;
    r.refresh = o.refresh;
    uint8_t *buf;
    size_t len;
    assert_int_equal(store_request_encode(&r, &buf, &len), 0);
    store_error_t local = {0};
    int rc = store_apply(s, buf, len, ev, err ? err : &local);
    store_error_clear(&local);
    free(buf);
    return rc;
}

#define OPTS(...) ((req_opts_t){.ttl = NO_TTL, __VA_ARGS__})

/* Applies and expects success; returns the event (caller releases). */
static inline store_event_t *ok_req(store_t *s, store_op_t op, const char *key, req_opts_t o)
{
    store_event_t *ev = NULL;
    store_error_t err = {0};
    int rc = apply_req(s, op, key, o, &ev, &err);
    if (rc != 0)
        fail_msg("op %d on %s failed: %d %s", op, key ? key : "(null)", err.code,
                 err.cause ? err.cause : "");
    store_error_clear(&err);
    return ev;
}

static inline void put(store_t *s, const char *key, const char *value)
{
    store_event_release(ok_req(s, STORE_OP_SET, key, OPTS(.value = value)));
}

/* Applies and expects error `code` with `cause` (NULL: no cause) at `index`. */
static inline void fail_req(store_t *s, store_op_t op, const char *key, req_opts_t o, int code,
                            const char *cause, uint64_t index)
{
    store_event_t *ev = NULL;
    store_error_t err = {0};
    uint64_t before = store_index(s);
    int rc = apply_req(s, op, key, o, &ev, &err);
    assert_int_equal(rc, -code);
    assert_null(ev);
    assert_int_equal(err.code, code);
    if (cause) {
        assert_non_null(err.cause);
        assert_string_equal(err.cause, cause);
    } else {
        assert_null(err.cause);
    }
    assert_int_equal(err.index, index);
    assert_int_equal(store_index(s), before);
    store_error_clear(&err);
}

static inline void check_node(const store_node_t *n, const char *key, const char *value,
                              uint64_t modified, uint64_t created, bool dir)
{
    assert_int_equal(n->key_len, strlen(key));
    assert_memory_equal(n->key, key, n->key_len);
    assert_int_equal(n->key[n->key_len], '\0');
    if (value) {
        assert_non_null(n->value);
        assert_int_equal(n->value_len, strlen(value));
        assert_string_equal(n->value, value);
    } else {
        assert_null(n->value);
    }
    assert_int_equal(n->modified_index, modified);
    assert_int_equal(n->created_index, created);
    assert_int_equal(n->dir, dir);
}

static inline store_event_t *get_ok(store_t *s, const char *key, bool recursive, bool sorted)
{
    store_event_t *ev = NULL;
    store_error_t err = {0};
    int rc = store_get(s, key, strlen(key), recursive, sorted, T0, &ev, &err);
    if (rc != 0)
        fail_msg("get %s failed: %d %s", key, err.code, err.cause ? err.cause : "");
    assert_int_equal(ev->action, STORE_ACTION_GET);
    return ev;
}

static inline void get_fail(store_t *s, const char *key, int code, const char *cause)
{
    store_event_t *ev = NULL;
    store_error_t err = {0};
    int rc = store_get(s, key, strlen(key), false, false, T0, &ev, &err);
    assert_int_equal(rc, -code);
    assert_int_equal(err.code, code);
    assert_string_equal(err.cause, cause);
    assert_int_equal(err.index, store_index(s));
    store_error_clear(&err);
}

static inline store_t *new_store(unsigned history)
{
    store_config_t cfg = {.history_size = history};
    store_t *s = store_new(&cfg);
    assert_non_null(s);
    return s;
}

#endif /* METCD_STORE_TEST_H */
