/* tests/store/test_ttl.c: the TTL heap and expiry through SYNC. */
#include "store_test.h"
#include "store/store_int.h"

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void check_heap(const ttl_heap_t *h)
{
    for (uint32_t i = 0; i < h->n; i++) {
        assert_int_equal(h->a[i]->heap_pos, i);
        if (i)
            assert_true(h->a[(i - 1) / 2]->expire_ns <= h->a[i]->expire_ns);
    }
}

static void test_heap_ops(void **state)
{
    (void)state;
    enum { N = 2000 };
    ttl_heap_t h = {0};
    tnode_t *nodes[N];
    char path[32];
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "/k%d", i);
        nodes[i] = tnode_new(path, strlen(path), false, 1);
        nodes[i]->expire_ns = (int64_t)(rng() % 1000);
        ttl_heap_push(&h, nodes[i]);
    }
    check_heap(&h);
    for (int i = 0; i < N; i += 3)
        ttl_heap_remove(&h, nodes[i]);
    check_heap(&h);
    for (int i = 1; i < N; i += 3) {
        nodes[i]->expire_ns = (int64_t)(rng() % 1000);
        ttl_heap_update(&h, nodes[i]);
    }
    check_heap(&h);
    assert_int_equal(h.n, N - (N + 2) / 3);
    int64_t last = -1;
    while (h.n) {
        tnode_t *t = ttl_heap_top(&h);
        assert_true(t->expire_ns >= last);
        last = t->expire_ns;
        ttl_heap_remove(&h, t);
        assert_int_equal(t->heap_pos, STORE_NO_POS);
        check_heap(&h);
    }
    for (int i = 0; i < N; i++)
        tnode_free(nodes[i]);
    ttl_heap_destroy(&h);
}

static void sync_at(store_t *s, int64_t t)
{
    store_event_t *ev = (store_event_t *)1;
    assert_int_equal(apply_req(s, STORE_OP_SYNC, NULL, OPTS(.time_ns = t), &ev, NULL), 0);
    assert_null(ev);
}

typedef struct collect {
    store_event_t *evs[16];
    int n;
} collect_t;

static void collect_cb(void *ctx, store_event_t *ev)
{
    collect_t *c = ctx;
    if (ev && c->n < 16)
        c->evs[c->n++] = store_event_retain(ev);
}

static void test_expire_events(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    store_event_release(ok_req(s, STORE_OP_SET, "/b", OPTS(.value = "vb", .ttl = 2))); /* 1 */
    store_event_release(ok_req(s, STORE_OP_SET, "/a", OPTS(.value = "va", .ttl = 2))); /* 2 */
    store_event_release(ok_req(s, STORE_OP_SET, "/c", OPTS(.value = "vc", .ttl = 1))); /* 3 */
    put(s, "/p", "perm");                                                              /* 4 */
    assert_int_equal(store_next_expiration(s), T0 + SEC);
    collect_t c = {0};
    store_watcher_t *w;
    store_error_t err = {0};
    assert_int_equal(store_watch(s, "/", 1, true, true, 0, collect_cb, &c, &w, &err), 0);

    sync_at(s, T0 + SEC - 1); /* nothing due: no index used */
    assert_int_equal(store_index(s), 4);
    sync_at(s, T0 + 2 * SEC + SEC / 2); /* all three, earliest first, ties by path */
    assert_int_equal(store_index(s), 7);
    assert_int_equal(c.n, 3);
    const char *order[] = {"/c", "/a", "/b"};
    const char *vals[] = {"vc", "va", "vb"};
    const uint64_t created[] = {3, 2, 1};
    for (int i = 0; i < 3; i++) {
        store_event_t *ev = c.evs[i];
        assert_int_equal(ev->action, STORE_ACTION_EXPIRE);
        check_node(&ev->node, order[i], NULL, 5 + (uint64_t)i, created[i], false);
        assert_int_equal(ev->node.expiration_ns, 0);
        assert_int_equal(ev->node.ttl, 0);
        assert_int_equal(ev->etcd_index, 5 + (uint64_t)i);
        assert_true(ev->has_prev_node);
        check_node(&ev->prev_node, order[i], vals[i], created[i], created[i], false);
        assert_int_equal(ev->prev_node.expiration_ns, T0 + (i == 0 ? 1 : 2) * SEC);
    }
    /* 0.5 s late: ttl 0 (omitted); 1.5 s late: ceil gives -1 as in etcd. */
    assert_int_equal(c.evs[1]->prev_node.ttl, 0);
    assert_int_equal(c.evs[0]->prev_node.ttl, -1);
    assert_int_equal(store_next_expiration(s), 0);
    get_fail(s, "/a", STORE_E_KEY_NOT_FOUND, "/a");
    store_stats_t st;
    store_get_stats(s, &st);
    assert_int_equal(st.expire_count, 3);
    assert_int_equal(store_node_count(s), 1);
    for (int i = 0; i < c.n; i++)
        store_event_release(c.evs[i]);
    store_watcher_remove(s, w);
    store_free(s);
}

static void test_dir_expiry_takes_children(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    store_event_release(ok_req(s, STORE_OP_SET, "/d", OPTS(.dir = true, .ttl = 1)));    /* 1 */
    store_event_release(ok_req(s, STORE_OP_SET, "/d/x", OPTS(.value = "1", .ttl = 5))); /* 2 */
    put(s, "/d/y/z", "2");                                                              /* 3 */
    collect_t c = {0};
    store_watcher_t *w;
    assert_int_equal(store_watch(s, "/d/y/z", 6, false, false, 0, collect_cb, &c, &w, NULL), 0);
    sync_at(s, T0 + SEC);
    assert_int_equal(store_index(s), 4);
    assert_int_equal(c.n, 1);
    check_node(&c.evs[0]->node, "/d", NULL, 4, 1, true);
    check_node(&c.evs[0]->prev_node, "/d", NULL, 1, 1, true);
    assert_int_equal(c.evs[0]->prev_node.expiration_ns, T0 + SEC);
    store_event_release(c.evs[0]);
    assert_int_equal(store_node_count(s), 0);
    /* The child's own deadline left the heap with it. */
    assert_int_equal(store_next_expiration(s), 0);
    sync_at(s, T0 + 10 * SEC);
    assert_int_equal(store_index(s), 4);
    store_free(s);
}

static void test_deadline_changes(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    store_event_release(ok_req(s, STORE_OP_SET, "/r", OPTS(.value = "v", .ttl = 1))); /* 1 */
    /* A refresh moves the deadline. */
    store_event_release(ok_req(s, STORE_OP_UPDATE, "/r",
                               OPTS(.refresh = true, .ttl = 10, .time_ns = T0 + SEC / 2))); /* 2 */
    sync_at(s, T0 + 2 * SEC);
    assert_int_equal(store_index(s), 2);
    assert_int_equal(store_next_expiration(s), T0 + SEC / 2 + 10 * SEC);
    /* Set without ttl makes it permanent; delete of a TTL key clears its deadline. */
    put(s, "/r", "perm"); /* 3 */
    assert_int_equal(store_next_expiration(s), 0);
    store_event_release(ok_req(s, STORE_OP_SET, "/t", OPTS(.value = "v", .ttl = 3))); /* 4 */
    store_event_release(ok_req(s, STORE_OP_DELETE, "/t", OPTS(0)));                   /* 5 */
    assert_int_equal(store_next_expiration(s), 0);
    /* CAS with a ttl adds one; ttl=0 expires at the next sweep. */
    store_event_release(
        ok_req(s, STORE_OP_CAS, "/r", OPTS(.prev_value = "perm", .ttl = 0))); /* 6 */
    assert_int_equal(store_next_expiration(s), T0);
    sync_at(s, T0);
    assert_int_equal(store_index(s), 7);
    get_fail(s, "/r", STORE_E_KEY_NOT_FOUND, "/r");
    /*
     * Huge TTLs wrap around as in etcd (Duration(ttl) * Second, UnixNano):
     * 2^63-1 and 2^64-1 seconds are both one second in the past.
     */
    store_event_t *ev = ok_req(s, STORE_OP_SET, "/big", OPTS(.value = "v", .ttl = INT64_MAX));
    assert_int_equal(ev->node.expiration_ns, T0 - SEC);
    assert_int_equal(ev->node.ttl, -1);
    store_event_release(ev);
    store_request_t r = {.op = STORE_OP_SET,
                         .time_ns = T0,
                         .key = "/max",
                         .key_len = 4,
                         .has_ttl = true,
                         .ttl_sec = UINT64_MAX};
    uint8_t *buf;
    size_t len;
    assert_int_equal(store_request_encode(&r, &buf, &len), 0);
    assert_int_equal(store_apply(s, buf, len, &ev, NULL), 0);
    free(buf);
    assert_int_equal(ev->node.ttl, -1);
    store_event_release(ev);
    /* A deadline that wraps below 2000-01-01 means no TTL at all. */
    ev = ok_req(s, STORE_OP_SET, "/wrap", OPTS(.value = "v", .ttl = 9000000000LL));
    assert_int_equal(ev->node.expiration_ns, 0);
    assert_int_equal(ev->node.ttl, 0);
    store_event_release(ev);
    /* An update takes such a deadline as it is (etcd's UpdateTTL has no floor). */
    ev = ok_req(s, STORE_OP_UPDATE, "/wrap", OPTS(.value = "w", .ttl = 9000000000LL));
    int64_t wrapped = (int64_t)((uint64_t)T0 + 9000000000ull * 1000000000ull);
    assert_true(wrapped < T0);
    assert_int_equal(ev->node.expiration_ns, wrapped);
    store_event_release(ev);
    uint64_t before = store_index(s);
    sync_at(s, T0);
    assert_int_equal(store_index(s), before + 3); /* /big, /max and /wrap */
    get_fail(s, "/big", STORE_E_KEY_NOT_FOUND, "/big");
    ev = ok_req(s, STORE_OP_SET, "/large", OPTS(.value = "v", .ttl = 3153600000));
    assert_int_equal(ev->node.ttl, 3153600000);
    store_event_release(ev);
    store_free(s);
}

static void resume_at(store_t *s, int64_t t)
{
    uint64_t before = store_index(s);
    store_event_t *ev = (store_event_t *)1;
    assert_int_equal(apply_req(s, STORE_OP_RESUME, NULL, OPTS(.time_ns = t), &ev, NULL), 0);
    assert_null(ev);
    assert_int_equal(store_index(s), before); /* no index, no event */
}

/* A new leader gives TTL keys back the time without a leader (etcd bug 5). */
static void test_resume_gives_time_back(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    /* deadlines T0+10 s and T0+2 s; the last request applied is at T0+3 s */
    store_event_release(ok_req(s, STORE_OP_SET, "/long", OPTS(.value = "l", .ttl = 10)));
    store_event_release(ok_req(s, STORE_OP_SET, "/due", OPTS(.value = "d", .ttl = 2)));
    put(s, "/p", "perm"); /* 3 */
    store_event_release(
        ok_req(s, STORE_OP_SET, "/w", OPTS(.value = "w", .time_ns = T0 + 3 * SEC))); /* 4 */

    /* 60 s without a leader: every deadline moves 57 s (since T0+3 s). */
    resume_at(s, T0 + 60 * SEC);
    store_event_t *ev = get_ok(s, "/long", false, false);
    assert_int_equal(ev->node.expiration_ns, T0 + 67 * SEC);
    store_event_release(ev);
    /* /due was already due at T0+3 s: it stays due and goes at the next sweep. */
    assert_int_equal(store_next_expiration(s), T0 + 59 * SEC);
    sync_at(s, T0 + 60 * SEC);
    get_fail(s, "/due", STORE_E_KEY_NOT_FOUND, "/due");
    assert_int_equal(store_index(s), 5);
    /* /long keeps the 7 s it had left at T0+3 s. */
    sync_at(s, T0 + 67 * SEC - 1);
    store_event_release(get_ok(s, "/long", false, false));
    sync_at(s, T0 + 67 * SEC);
    get_fail(s, "/long", STORE_E_KEY_NOT_FOUND, "/long");

    /* A RESUME no later than the last request applied changes nothing. */
    store_event_release(
        ok_req(s, STORE_OP_SET, "/k", OPTS(.value = "k", .ttl = 5, .time_ns = T0 + 100 * SEC)));
    resume_at(s, T0 + 100 * SEC);
    resume_at(s, T0 + 90 * SEC);
    assert_int_equal(store_next_expiration(s), T0 + 105 * SEC);
    /* A fresh store has no earlier time: nothing to give back. */
    store_t *fresh = new_store(0);
    resume_at(fresh, T0);
    store_free(fresh);
    store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_ops),
        cmocka_unit_test(test_expire_events),
        cmocka_unit_test(test_dir_expiry_takes_children),
        cmocka_unit_test(test_deadline_changes),
        cmocka_unit_test(test_resume_gives_time_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
