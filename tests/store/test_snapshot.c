/* tests/store/test_snapshot.c: store_save / store_load round trips and damage. */
#include "store_test.h"

typedef struct membuf {
    uint8_t *p;
    size_t len;
    size_t cap;
    int calls;
    int fail_at; /* > 0: that call fails */
} membuf_t;

static int mem_write(void *ctx, const void *buf, size_t len)
{
    membuf_t *m = ctx;
    if (++m->calls == m->fail_at)
        return -5;
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->p = realloc(m->p, m->cap);
    }
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return 0;
}

static membuf_t save(const store_t *s)
{
    membuf_t m = {0};
    assert_int_equal(store_save(s, mem_write, &m), 0);
    return m;
}

static store_t *load(const membuf_t *m, unsigned history)
{
    store_config_t cfg = {.history_size = history};
    char err[128] = "";
    store_t *s = store_load(&cfg, m->p, m->len, err, sizeof(err));
    if (!s)
        fail_msg("load failed: %s", err);
    return s;
}

static store_t *sample_store(void)
{
    store_t *s = new_store(0);
    put(s, "/a", "1");
    put(s, "/dir/sub/x", "x");
    put(s, "/dir/_hidden", "h");
    store_event_release(ok_req(s, STORE_OP_SET, "/ttl", OPTS(.value = "t", .ttl = 30)));
    store_event_release(ok_req(s, STORE_OP_SET, "/tdir", OPTS(.dir = true, .ttl = 10)));
    put(s, "/tdir/child", "c");
    store_event_release(ok_req(s, STORE_OP_UPDATE, "/a", OPTS(.value = "2")));
    store_event_release(ok_req(s, STORE_OP_UPDATE, "/ttl", OPTS(.refresh = true, .ttl = 40)));
    store_event_release(ok_req(s, STORE_OP_CREATE_UNIQUE, "/q", OPTS(.value = "job")));
    store_event_release(ok_req(s, STORE_OP_DELETE, "/dir/sub", OPTS(.recursive = true)));
    put(s, "/empty", "");
    /* A value with a NUL byte inside. */
    store_request_t r = {.op = STORE_OP_SET,
                         .time_ns = T0,
                         .key = "/bin",
                         .key_len = 4,
                         .value = "a\0b",
                         .value_len = 3};
    uint8_t *buf;
    size_t len;
    assert_int_equal(store_request_encode(&r, &buf, &len), 0);
    assert_int_equal(store_apply(s, buf, len, NULL, NULL), 0);
    free(buf);
    return s;
}

static void same_node(const store_node_t *a, const store_node_t *b)
{
    assert_int_equal(a->key_len, b->key_len);
    assert_memory_equal(a->key, b->key, a->key_len);
    assert_int_equal(a->value == NULL, b->value == NULL);
    if (a->value) {
        assert_int_equal(a->value_len, b->value_len);
        assert_memory_equal(a->value, b->value, a->value_len);
    }
    assert_int_equal(a->expiration_ns, b->expiration_ns);
    assert_int_equal(a->ttl, b->ttl);
    assert_int_equal(a->modified_index, b->modified_index);
    assert_int_equal(a->created_index, b->created_index);
    assert_int_equal(a->dir, b->dir);
    assert_int_equal(a->n_nodes, b->n_nodes);
    for (size_t i = 0; i < a->n_nodes; i++)
        same_node(&a->nodes[i], &b->nodes[i]);
}

static void same_get(store_t *a, store_t *b, const char *key)
{
    store_event_t *ea = get_ok(a, key, true, true), *eb = get_ok(b, key, true, true);
    same_node(&ea->node, &eb->node);
    assert_int_equal(ea->etcd_index, eb->etcd_index);
    store_event_release(ea);
    store_event_release(eb);
}

typedef struct first {
    store_event_t *ev;
} first_t;

static void first_cb(void *ctx, store_event_t *ev)
{
    first_t *f = ctx;
    if (ev && !f->ev)
        f->ev = store_event_retain(ev);
}

static void test_roundtrip(void **state)
{
    (void)state;
    store_t *s = sample_store();
    membuf_t m = save(s);
    store_t *l = load(&m, 0);
    assert_int_equal(store_index(l), store_index(s));
    assert_int_equal(store_node_count(l), store_node_count(s));
    assert_int_equal(store_next_expiration(l), store_next_expiration(s));
    store_stats_t sa, sb;
    store_get_stats(s, &sa);
    store_get_stats(l, &sb);
    assert_int_equal(sa.sets_success, 8);
    assert_int_equal(sa.update_success, 2);
    assert_memory_equal(&sa, &sb, sizeof(sa));
    same_get(s, l, "/");
    same_get(s, l, "/dir/_hidden");
    same_get(s, l, "/tdir");
    same_get(s, l, "/bin");

    /* The loaded store saves to the same bytes as the original (same reads made on both). */
    membuf_t m2 = save(l), m3 = save(s);
    assert_int_equal(m2.len, m3.len);
    assert_memory_equal(m2.p, m3.p, m3.len);
    free(m2.p);
    free(m3.p);

    /* History: every waitIndex finds the same event in both. */
    for (uint64_t i = 1; i <= store_index(s); i++) {
        first_t fa = {0}, fb = {0};
        store_watcher_t *wa, *wb;
        assert_int_equal(store_watch(s, "/", 1, true, false, i, first_cb, &fa, &wa, NULL), 0);
        assert_int_equal(store_watch(l, "/", 1, true, false, i, first_cb, &fb, &wb, NULL), 0);
        assert_int_equal(fa.ev == NULL, fb.ev == NULL);
        if (fa.ev) {
            assert_int_equal(fa.ev->action, fb.ev->action);
            assert_int_equal(fa.ev->has_prev_node, fb.ev->has_prev_node);
            same_node(&fa.ev->node, &fb.ev->node);
            if (fa.ev->has_prev_node)
                same_node(&fa.ev->prev_node, &fb.ev->prev_node);
            store_event_release(fa.ev);
            store_event_release(fb.ev);
        } else {
            store_watcher_remove(s, wa);
            store_watcher_remove(l, wb);
        }
    }

    /* Both expire the same keys at the same indexes. */
    for (int t = 1; t <= 50; t += 7) {
        store_request_t r = {.op = STORE_OP_SYNC, .time_ns = T0 + t * SEC};
        uint8_t *buf;
        size_t len;
        assert_int_equal(store_request_encode(&r, &buf, &len), 0);
        assert_int_equal(store_apply(s, buf, len, NULL, NULL), 0);
        assert_int_equal(store_apply(l, buf, len, NULL, NULL), 0);
        free(buf);
        assert_int_equal(store_index(s), store_index(l));
        same_get(s, l, "/");
    }
    /* And the same writes give the same indexes. */
    put(s, "/after", "x");
    put(l, "/after", "x");
    same_get(s, l, "/");
    free(m.p);
    store_free(s);
    store_free(l);
}

static void test_empty_store(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    membuf_t m = save(s);
    store_t *l = load(&m, 0);
    assert_int_equal(store_index(l), 0);
    assert_int_equal(store_node_count(l), 0);
    put(l, "/k", "v");
    assert_int_equal(store_index(l), 1);
    free(m.p);
    store_free(s);
    store_free(l);
}

static void test_smaller_history(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    for (int i = 0; i < 20; i++)
        put(s, "/k", "v");
    membuf_t m = save(s);
    store_t *l = load(&m, 5);
    store_error_t err = {0};
    store_watcher_t *w;
    first_t f = {0};
    assert_int_equal(store_watch(l, "/k", 2, false, false, 15, first_cb, &f, &w, &err),
                     -STORE_E_EVENT_INDEX_CLEARED);
    assert_string_equal(err.cause, "the requested history has been cleared [16/15]");
    store_error_clear(&err);
    assert_int_equal(store_watch(l, "/k", 2, false, false, 16, first_cb, &f, &w, &err), 0);
    assert_non_null(f.ev);
    assert_int_equal(f.ev->node.modified_index, 16);
    store_event_release(f.ev);
    free(m.p);
    store_free(s);
    store_free(l);
}

static void test_damage_is_refused(void **state)
{
    (void)state;
    store_t *s = sample_store();
    membuf_t m = save(s);
    char err[128];
    store_config_t cfg = {0};
    for (size_t cut = 0; cut < m.len; cut++)
        assert_null(store_load(&cfg, m.p, cut, err, sizeof(err)));
    for (size_t i = 0; i < m.len; i++) {
        m.p[i] ^= 0x20;
        assert_null(store_load(&cfg, m.p, m.len, err, sizeof(err)));
        m.p[i] ^= 0x20;
    }
    assert_null(store_load(&cfg, m.p, m.len - 1, NULL, 0));
    m.p[0] = 'X';
    assert_null(store_load(&cfg, m.p, m.len, err, sizeof(err)));
    assert_string_equal(err, "not a store snapshot");
    free(m.p);
    store_free(s);
}

static void test_write_error(void **state)
{
    (void)state;
    store_t *s = sample_store();
    membuf_t m = {.fail_at = 1};
    assert_int_equal(store_save(s, mem_write, &m), -5);
    free(m.p);
    store_free(s);
}

/* The time of the last request survives a snapshot, so a restart from one
 * gives back the time the member was down. */
static void test_resume_after_snapshot(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    store_event_release(ok_req(s, STORE_OP_SET, "/k", OPTS(.value = "v", .ttl = 10)));
    assert_int_equal(apply_req(s, STORE_OP_SYNC, NULL, OPTS(.time_ns = T0 + 4 * SEC), NULL, NULL),
                     0);
    membuf_t m = save(s);
    store_t *loaded = load(&m, 0);
    free(m.p);
    store_free(s);
    assert_int_equal(
        apply_req(loaded, STORE_OP_RESUME, NULL, OPTS(.time_ns = T0 + 100 * SEC), NULL, NULL), 0);
    assert_int_equal(store_next_expiration(loaded), T0 + 106 * SEC);
    store_free(loaded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_after_snapshot), cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_empty_store),           cmocka_unit_test(test_smaller_history),
        cmocka_unit_test(test_damage_is_refused),     cmocka_unit_test(test_write_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
