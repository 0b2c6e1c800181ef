/* tests/store/test_watch.c: watchers and the event history. */
#include "store_test.h"
#include "store/store_int.h"

typedef struct recorder {
    store_event_t *evs[64];
    int n;
    int ended; /* callbacks with ev == NULL */
    int total; /* every delivered event, stored or not */
    store_t *s;
    store_watcher_t *victim; /* removed from inside the callback when set */
    bool remove_self;
    store_watcher_t *self;
} recorder_t;

static void record_cb(void *ctx, store_event_t *ev)
{
    recorder_t *r = ctx;
    if (!ev) {
        r->ended++;
        return;
    }
    r->total++;
    if (r->n < 64)
        r->evs[r->n++] = store_event_retain(ev);
    if (r->victim) {
        store_watcher_remove(r->s, r->victim);
        r->victim = NULL;
    }
    if (r->remove_self && r->self) {
        store_watcher_remove(r->s, r->self);
        r->self = NULL;
    }
}

static void rec_clear(recorder_t *r)
{
    for (int i = 0; i < r->n; i++)
        store_event_release(r->evs[i]);
    r->n = 0;
}

static store_watcher_t *watch(store_t *s, const char *key, bool recursive, bool stream,
                              uint64_t since, recorder_t *r)
{
    store_watcher_t *w = NULL;
    store_error_t err = {0};
    int rc = store_watch(s, key, strlen(key), recursive, stream, since, record_cb, r, &w, &err);
    if (rc)
        fail_msg("watch %s failed: %d %s", key, err.code, err.cause ? err.cause : "");
    return w;
}

static void test_one_shot_live(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    recorder_t r = {0};
    store_watcher_t *w = watch(s, "/a", false, false, 0, &r);
    assert_non_null(w);
    assert_int_equal(store_watcher_count(s), 1);
    put(s, "/b", "x");
    assert_int_equal(r.n, 0);
    put(s, "/a", "1");
    assert_int_equal(r.n, 1);
    assert_int_equal(r.evs[0]->action, STORE_ACTION_SET);
    check_node(&r.evs[0]->node, "/a", "1", 2, 2, false);
    assert_int_equal(store_watcher_count(s), 0); /* one-shot: gone */
    put(s, "/a", "2");
    assert_int_equal(r.n, 1);
    rec_clear(&r);
    store_free(s);
}

static void test_dir_watch_recursive_and_hidden(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    recorder_t plain = {0}, rec = {0};
    store_watcher_t *wp = watch(s, "/d", false, true, 0, &plain);
    store_watcher_t *wr = watch(s, "/d", true, true, 0, &rec);
    put(s, "/d/x", "1");    /* 1: recursive only */
    put(s, "/d/_h", "2");   /* 2: hidden: nobody */
    put(s, "/d/_g/y", "3"); /* 3: hidden dir: nobody */
    put(s, "/dd", "4");     /* 4: not below /d */
    store_event_release(ok_req(s, STORE_OP_UPDATE, "/d", OPTS(.ttl = 50))); /* 5: both */
    assert_int_equal(plain.n, 1);
    assert_int_equal(plain.evs[0]->node.modified_index, 5);
    assert_int_equal(rec.n, 2);
    assert_int_equal(rec.evs[0]->node.modified_index, 1);
    assert_int_equal(rec.evs[1]->node.modified_index, 5);
    /* A watch on a hidden key itself sees it. */
    recorder_t hid = {0};
    watch(s, "/d/_h", false, false, 0, &hid);
    put(s, "/d/_h", "again");
    assert_int_equal(hid.n, 1);
    /* Recursive watch from inside a hidden dir sees its descendants. */
    recorder_t inside = {0};
    watch(s, "/d/_g", true, false, 0, &inside);
    put(s, "/d/_g/z", "5");
    assert_int_equal(inside.n, 1);
    store_watcher_remove(s, wp);
    store_watcher_remove(s, wr);
    assert_int_equal(store_watcher_count(s), 0);
    rec_clear(&plain);
    rec_clear(&rec);
    rec_clear(&hid);
    rec_clear(&inside);
    store_free(s);
}

static void test_component_boundary(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/foo/x", "1");
    put(s, "/foobar", "2");
    recorder_t r = {0}, rr = {0};
    watch(s, "/foobar", false, true, 0, &r);
    watch(s, "/foo", true, true, 0, &rr);
    store_event_release(ok_req(s, STORE_OP_DELETE, "/foo", OPTS(.recursive = true))); /* 3 */
    assert_int_equal(r.n, 0);
    assert_int_equal(rr.n, 1);
    put(s, "/foobar", "3"); /* 4 */
    assert_int_equal(r.n, 1);
    assert_int_equal(rr.n, 1);
    rec_clear(&r);
    rec_clear(&rr);
    /* The same from history. */
    recorder_t h = {0};
    store_watcher_t *w = watch(s, "/foobar/k", false, false, 3, &h);
    assert_non_null(w); /* nothing in history matched: registered */
    assert_int_equal(h.n, 0);
    store_watcher_remove(s, w);
    store_free(s);
}

static void test_delete_dir_reaches_watchers_below(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/d/s/k", "v"); /* 1 */
    put(s, "/other", "o"); /* 2 */
    recorder_t live = {0}, missing = {0}, parent = {0};
    watch(s, "/d/s/k", false, false, 0, &live);
    watch(s, "/d/s/nothere", false, false, 0, &missing);
    watch(s, "/", false, false, 0, &parent); /* non-recursive on an ancestor: no */
    store_event_release(ok_req(s, STORE_OP_DELETE, "/d", OPTS(.recursive = true))); /* 3 */
    assert_int_equal(live.n, 1);
    assert_int_equal(live.evs[0]->action, STORE_ACTION_DELETE);
    check_node(&live.evs[0]->node, "/d", NULL, 3, 1, true);
    /* A key that never existed below /d gets the delete too: etcd's history
     * scan matches it, and metcd answers the live watch the same way (etcd's
     * live notify reaches only nodes it removed; see docs/api.md). */
    assert_int_equal(missing.n, 1);
    check_node(&missing.evs[0]->node, "/d", NULL, 3, 1, true);
    assert_int_equal(parent.n, 0);
    /* From history. */
    recorder_t hist = {0}, hist_missing = {0};
    assert_null(watch(s, "/d/s/k", false, false, 2, &hist));
    assert_int_equal(hist.n, 1);
    assert_string_equal(hist.evs[0]->node.key, "/d");
    assert_null(watch(s, "/d/s/nothere", false, false, 3, &hist_missing));
    assert_int_equal(hist_missing.n, 1);
    check_node(&hist_missing.evs[0]->node, "/d", NULL, 3, 1, true);
    /* A file delete does not reach keys "below" it. */
    put(s, "/f", "1"); /* 4 */
    recorder_t below_file = {0};
    store_watcher_t *w = watch(s, "/f/x", false, false, 0, &below_file);
    store_event_release(ok_req(s, STORE_OP_DELETE, "/f", OPTS(0)));
    assert_int_equal(below_file.n, 0);
    store_watcher_remove(s, w);
    rec_clear(&live);
    rec_clear(&missing);
    rec_clear(&hist);
    rec_clear(&hist_missing);
    store_free(s);
    assert_int_equal(parent.ended, 1); /* store_free ends pending watchers */
}

static void test_expire_reaches_watchers(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    store_event_release(ok_req(s, STORE_OP_SET, "/d", OPTS(.dir = true, .ttl = 2))); /* 1 */
    put(s, "/d/a/b", "v");                                                           /* 2 */
    recorder_t r = {0}, root = {0};
    watch(s, "/d/a/b", false, false, 0, &r);
    watch(s, "/", true, false, 0, &root);
    store_event_release(ok_req(s, STORE_OP_SYNC, NULL, OPTS(.time_ns = T0 + SEC)));
    assert_int_equal(store_index(s), 2);
    assert_int_equal(r.n, 0);
    store_event_release(ok_req(s, STORE_OP_SYNC, NULL, OPTS(.time_ns = T0 + 2 * SEC)));
    assert_int_equal(store_index(s), 3);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.evs[0]->action, STORE_ACTION_EXPIRE);
    check_node(&r.evs[0]->node, "/d", NULL, 3, 1, true);
    assert_int_equal(root.n, 1);
    rec_clear(&r);
    rec_clear(&root);
    store_free(s);
}

static void test_history_and_since(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/a", "1"); /* 1 */
    put(s, "/b", "1"); /* 2 */
    put(s, "/a", "2"); /* 3 */
    recorder_t r = {0};
    /* The first matching event with index >= since. */
    assert_null(watch(s, "/a", false, false, 2, &r));
    assert_int_equal(r.n, 1);
    assert_int_equal(r.evs[0]->node.modified_index, 3);
    rec_clear(&r);
    assert_null(watch(s, "/a", false, false, 1, &r));
    assert_int_equal(r.evs[0]->node.modified_index, 1);
    rec_clear(&r);
    /* A future index skips the events before it. */
    store_watcher_t *w = watch(s, "/a", false, false, 6, &r);
    assert_non_null(w);
    put(s, "/a", "3"); /* 4 */
    put(s, "/a", "4"); /* 5 */
    assert_int_equal(r.n, 0);
    put(s, "/a", "5"); /* 6 */
    assert_int_equal(r.n, 1);
    assert_int_equal(r.evs[0]->node.modified_index, 6);
    rec_clear(&r);
    /* Index 0 is "the next event", even when history has a match. */
    w = watch(s, "/a", false, false, 0, &r);
    assert_non_null(w);
    assert_int_equal(r.n, 0);
    store_watcher_remove(s, w);
    store_free(s);
}

static void test_history_cleared(void **state)
{
    (void)state;
    store_t *s = new_store(5);
    for (int i = 0; i < 8; i++)
        put(s, "/k", "v"); /* 1..8, history keeps 4..8 */
    recorder_t r = {0};
    store_watcher_t *w = NULL;
    store_error_t err = {0};
    int rc = store_watch(s, "/k", 2, false, false, 3, record_cb, &r, &w, &err);
    assert_int_equal(rc, -STORE_E_EVENT_INDEX_CLEARED);
    assert_int_equal(err.code, 401);
    assert_string_equal(err.cause, "the requested history has been cleared [4/3]");
    assert_int_equal(err.index, 8);
    assert_null(w);
    assert_int_equal(r.n, 0);
    store_error_clear(&err);
    assert_null(watch(s, "/k", false, false, 4, &r));
    assert_int_equal(r.evs[0]->node.modified_index, 4);
    rec_clear(&r);
    store_free(s);
}

static void test_default_history_is_1000(void **state)
{
    (void)state;
    store_t *s = store_new(NULL);
    for (int i = 0; i < 1001; i++)
        put(s, "/k", "v");
    store_error_t err = {0};
    store_watcher_t *w;
    recorder_t r = {0};
    assert_int_equal(store_watch(s, "/k", 2, false, false, 1, record_cb, &r, &w, &err),
                     -STORE_E_EVENT_INDEX_CLEARED);
    assert_string_equal(err.cause, "the requested history has been cleared [2/1]");
    store_error_clear(&err);
    store_free(s);
}

static void test_stream_replays_all(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/s/a", "1");  /* 1 */
    put(s, "/x", "1");    /* 2 */
    put(s, "/s/b", "2");  /* 3 */
    put(s, "/s/_h", "h"); /* 4: hidden, never shown to a recursive watch */
    store_event_release(ok_req(s, STORE_OP_UPDATE, "/s/a", OPTS(.refresh = true, .ttl = 9)));
    recorder_t r = {0};
    store_watcher_t *w = watch(s, "/s", true, true, 1, &r);
    assert_non_null(w);
    assert_int_equal(r.n, 2); /* 1 and 3; the refresh (5) and hidden (4) are skipped */
    assert_int_equal(r.evs[0]->node.modified_index, 1);
    assert_int_equal(r.evs[1]->node.modified_index, 3);
    put(s, "/s/c", "3"); /* 6: live */
    assert_int_equal(r.n, 3);
    assert_int_equal(r.evs[2]->node.modified_index, 6);
    /* Refresh events are not delivered live either. */
    store_event_release(ok_req(s, STORE_OP_SET, "/s/c", OPTS(.refresh = true, .ttl = 9)));
    assert_int_equal(r.n, 3);
    store_watcher_remove(s, w);
    rec_clear(&r);
    store_free(s);
}

static void test_remove_during_callback(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    recorder_t a = {0}, b = {0}, c = {0};
    a.s = b.s = c.s = s;
    store_watcher_t *wa = watch(s, "/k", false, true, 0, &a);
    store_watcher_t *wb = watch(s, "/k", false, true, 0, &b);
    store_watcher_t *wc = watch(s, "/", true, true, 0, &c);
    /* Whichever runs first removes the other two; nobody is called after removal. */
    a.victim = wb;
    b.victim = wa;
    c.self = wc;
    c.remove_self = true;
    put(s, "/k", "v");
    assert_int_equal(a.n + b.n, 1);
    assert_int_equal(c.n, 1);
    assert_int_equal(store_watcher_count(s), 1);
    put(s, "/k", "w");
    assert_int_equal(a.n + b.n, 2);
    assert_int_equal(c.n, 1);
    store_watcher_remove(s, a.n == 2 ? wa : wb);
    assert_int_equal(store_watcher_count(s), 0);
    rec_clear(&a);
    rec_clear(&b);
    rec_clear(&c);
    store_free(s);
}

static void test_many_idle_watchers(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    enum { N = 10000 };
    static store_watcher_t *ws[N];
    recorder_t r = {0};
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "/w/%d", i % 100);
        ws[i] = watch(s, key, false, true, 0, &r);
    }
    assert_int_equal(store_watcher_count(s), N);
    store_stats_t st;
    store_get_stats(s, &st);
    assert_int_equal(st.watchers, N);
    put(s, "/w/7", "x");
    assert_int_equal(r.total, N / 100);
    rec_clear(&r);
    assert_int_equal(s->hub.n_entries, 100 + 2); /* "/", "/w" and the 100 keys */
    for (int i = 0; i < N; i++)
        store_watcher_remove(s, ws[i]);
    assert_int_equal(store_watcher_count(s), 0);
    assert_int_equal(s->hub.n_entries, 0); /* emptied entries are freed */
    store_free(s);
}

static void test_events_no_failures(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/k", "v");
    recorder_t r = {0};
    watch(s, "/", true, true, 0, &r);
    fail_req(s, STORE_OP_CREATE, "/k", OPTS(0), STORE_E_NODE_EXIST, "/k", 1);
    fail_req(s, STORE_OP_CAS, "/k", OPTS(.prev_value = "x"), STORE_E_TEST_FAILED, "[x != v]", 1);
    fail_req(s, STORE_OP_CAD, "/k", OPTS(.prev_index = 9), STORE_E_TEST_FAILED, "[9 != 1]", 1);
    assert_int_equal(r.n, 0);
    store_free(s);
    assert_int_equal(r.ended, 1);
}

static void test_history_hides_hidden_and_children(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/_x", "1");   /* 1 */
    put(s, "/d/_y", "2"); /* 2 */
    put(s, "/d/c", "3");  /* 3 */
    put(s, "/d/c", "4");  /* 4 */
    recorder_t r = {0};
    /* etcd's history scan returned hidden keys to recursive watches; not here. */
    assert_null(watch(s, "/", true, false, 1, &r));
    assert_int_equal(r.n, 1);
    assert_int_equal(r.evs[0]->node.modified_index, 3);
    rec_clear(&r);
    /* A non-recursive watch on a dir does not see its children from history either. */
    store_watcher_t *w = watch(s, "/d", false, false, 1, &r);
    assert_non_null(w);
    assert_int_equal(r.n, 0);
    store_watcher_remove(s, w);
    /* The hidden key itself is visible to a watch on it. */
    assert_null(watch(s, "/_x", false, false, 1, &r));
    assert_int_equal(r.n, 1);
    rec_clear(&r);
    store_free(s);
}

static void test_dir_delete_delivered_once(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    put(s, "/d/a/b", "1"); /* 1 */
    recorder_t on_dir = {0}, below = {0}, rec_below = {0};
    store_watcher_t *w1 = watch(s, "/d", false, true, 0, &on_dir);
    store_watcher_t *w2 = watch(s, "/d/a/b", false, true, 0, &below);
    store_watcher_t *w3 = watch(s, "/d/a", true, true, 0, &rec_below);
    store_event_release(ok_req(s, STORE_OP_DELETE, "/d", OPTS(.recursive = true)));
    /* etcd delivered the event twice to a stream on the directory itself. */
    assert_int_equal(on_dir.total, 1);
    assert_int_equal(below.total, 1);
    assert_int_equal(rec_below.total, 1);
    assert_string_equal(below.evs[0]->node.key, "/d");
    store_watcher_remove(s, w1);
    store_watcher_remove(s, w2);
    store_watcher_remove(s, w3);
    rec_clear(&on_dir);
    rec_clear(&below);
    rec_clear(&rec_below);
    store_free(s);
}

static void test_deep_watch(void **state)
{
    (void)state;
    enum { DEPTH = 2000 };
    store_t *s = new_store(0);
    char *key = malloc(2 * DEPTH + 1);
    for (int i = 0; i < DEPTH; i++) {
        key[2 * i] = '/';
        key[2 * i + 1] = 'x';
    }
    key[2 * DEPTH] = '\0';
    recorder_t deep = {0}, mid = {0};
    store_watcher_t *w = watch(s, key, false, true, 0, &deep);
    key[1000] = '\0';
    watch(s, key, true, false, 0, &mid);
    key[1000] = '/';
    assert_int_equal(s->hub.n_entries, DEPTH + 1);
    put(s, key, "v");
    assert_int_equal(deep.total, 1);
    assert_int_equal(mid.total, 1);
    store_event_release(ok_req(s, STORE_OP_DELETE, "/x", OPTS(.recursive = true)));
    assert_int_equal(deep.total, 2);
    assert_string_equal(deep.evs[1]->node.key, "/x");
    store_watcher_remove(s, w);
    assert_int_equal(s->hub.n_entries, 0);
    rec_clear(&deep);
    rec_clear(&mid);
    free(key);
    store_free(s);
}

static void test_watch_key_cleaned(void **state)
{
    (void)state;
    store_t *s = new_store(0);
    recorder_t r = {0};
    store_watcher_t *w = watch(s, "a//b/", false, true, 0, &r);
    put(s, "/a/b", "1");
    assert_int_equal(r.n, 1);
    store_watcher_remove(s, w);
    rec_clear(&r);
    store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_shot_live),
        cmocka_unit_test(test_dir_watch_recursive_and_hidden),
        cmocka_unit_test(test_component_boundary),
        cmocka_unit_test(test_delete_dir_reaches_watchers_below),
        cmocka_unit_test(test_expire_reaches_watchers),
        cmocka_unit_test(test_history_and_since),
        cmocka_unit_test(test_history_cleared),
        cmocka_unit_test(test_default_history_is_1000),
        cmocka_unit_test(test_stream_replays_all),
        cmocka_unit_test(test_remove_during_callback),
        cmocka_unit_test(test_many_idle_watchers),
        cmocka_unit_test(test_events_no_failures),
        cmocka_unit_test(test_history_hides_hidden_and_children),
        cmocka_unit_test(test_dir_delete_delivered_once),
        cmocka_unit_test(test_watch_key_cleaned),
        cmocka_unit_test(test_deep_watch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
