/*
 * tests/store/test_random.c: random operations on a small key space, with
 * the store's internal invariants checked after every step: the tree, the
 * path table, the TTL heap, the history, and the one-index-per-success rule.
 * The same runs on LMDB and LevelDB commit every few steps and now and then
 * close the store and reopen it on the engine: the reopened store must
 * save to the same snapshot bytes as the one that was closed. There the
 * tree is a cache of the engine (store/cache.c) kept to a few nodes, so
 * most lookups read the engine and most nodes are evicted again; a memory
 * store beside it takes the same requests, and every answer, event and
 * snapshot must be the same.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "store_test.h"
#include "common/fs.h"
#include "store/store_int.h"

static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33) % n;
}

static size_t check_subtree(store_t *s, const tnode_t *dir)
{
    size_t count = 0;
    assert_true(dir->dir);
    for (uint32_t i = 0; i < dir->n_children; i++) {
        const tnode_t *c = dir->children[i];
        assert_ptr_equal(c->parent, dir);
        assert_int_equal(c->parent_pos, i);
        assert_ptr_equal(store_lookup(s, c->path, c->path_len), c);
        /* The path is the parent's path plus one component. */
        size_t plen = dir->path_len == 1 ? 0 : dir->path_len;
        assert_memory_equal(c->path, dir->path, plen);
        assert_int_equal(c->path[plen], '/');
        assert_int_equal(c->name_off, plen + 1);
        assert_null(memchr(c->path + plen + 1, '/', c->path_len - plen - 1));
        assert_true(c->created_index <= s->index);
        assert_true(c->modified_index <= s->index);
        assert_true(c->created_index <= c->modified_index);
        if (tnode_has_ttl(c))
            assert_ptr_equal(s->heap.a[c->heap_pos], c);
        if (!c->dir)
            assert_int_equal(c->n_children, 0);
        if (i && dir->sorted) {
            size_t la, lb;
            const char *a = tnode_name(dir->children[i - 1], &la);
            const char *b = tnode_name(c, &lb);
            int cmp = memcmp(a, b, la < lb ? la : lb);
            assert_true(cmp < 0 || (cmp == 0 && la < lb));
        }
        count += 1 + (c->dir ? check_subtree(s, c) : 0);
    }
    return count;
}

static void check_store(store_t *s)
{
    size_t n = check_subtree(s, s->root);
    if (!s->partial)
        assert_int_equal(n, store_node_count(s));
    assert_int_equal(s->table.count, n + 1);
    for (uint32_t i = 0; i < s->heap.n; i++) {
        assert_int_equal(s->heap.a[i]->heap_pos, i);
        if (i)
            assert_true(s->heap.a[(i - 1) / 2]->expire_ns <= s->heap.a[i]->expire_ns);
        assert_ptr_equal(store_lookup(s, s->heap.a[i]->path, s->heap.a[i]->path_len), s->heap.a[i]);
    }
    /* One event per index, the newest being the current index. */
    if (s->history.count) {
        assert_int_equal(event_history_last(&s->history), s->index);
        for (uint32_t i = 1; i < s->history.count; i++)
            assert_int_equal(event_history_at(&s->history, i)->node.modified_index,
                             event_history_at(&s->history, i - 1)->node.modified_index + 1);
    }
    assert_int_equal(store_next_expiration(s), s->heap.n ? s->heap.a[0]->expire_ns : 0);
}

/* The last name is long: three of it make a path too long for an LMDB key,
 * which the engine keeps apart (store/persist.c). */
#define LONG_NAME                                                                                  \
    "LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL" \
    "L"                                                                                            \
    "LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL" \
    "L"                                                                                            \
    "LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL" \
    "L"
static const char *names[] = {"a", "b", "_h", "c", LONG_NAME};

static void random_key(char *buf)
{
    int depth = 1 + (int)rnd(3);
    size_t o = 0;
    for (int i = 0; i < depth; i++) {
        buf[o++] = '/';
        const char *n = names[rnd(5)];
        size_t l = strlen(n);
        memcpy(buf + o, n, l);
        o += l;
    }
    buf[o] = '\0';
}

typedef struct counter {
    int events;
} counter_t;

static void count_cb(void *ctx, store_event_t *ev)
{
    counter_t *c = ctx;
    if (ev) {
        c->events++;
        assert_false(ev->refresh);
    }
}

static int mem_write(void *ctx, const void *buf, size_t len)
{
    uint8_t **pp = ctx;
    size_t *lenp = (size_t *)(pp + 1);
    uint8_t *p = realloc(*pp, *lenp + len);
    assert_non_null(p);
    memcpy(p + *lenp, buf, len);
    *pp = p;
    *lenp += len;
    return 0;
}

typedef struct saved {
    uint8_t *p;
    size_t len;
} saved_t;

static engine_t *open_engine(engine_kind_t kind, const char *dir)
{
    engine_options_t o = {.kind = kind, .dir = dir};
    engine_t *e = NULL;
    char err[256] = "";
    if (engine_open(&o, &e, err, sizeof(err)) != 0)
        fail_msg("engine_open(%s): %s", engine_kind_name(kind), err);
    return e;
}

/* Records kept apart (paths too long for the engine's keys) seen after reopens. */
static size_t apart_seen;

static size_t count_children(engine_t *e, const char *dir)
{
    engine_iter_t *it;
    engine_item_t item;
    size_t n = 0;
    assert_int_equal(engine_iter_children(engine_reader(e), dir, strlen(dir), &it), 0);
    while (engine_iter_next(it, &item) == 1)
        n++;
    engine_iter_free(it);
    return n;
}

/* Snapshots written from an engine's view (store_saver_run). */
static size_t saver_runs;

/* Nodes a store on an engine keeps in memory here: most reads miss. */
#define CACHE_NODES 4

static void save_whole(store_t *s, saved_t *out)
{
    store_load_all(s);
    assert_int_equal(store_save(s, mem_write, out), 0);
}

/* Commits, closes the store and its engine, and reopens it on the engine. */
static store_t *reopen(store_t *s, engine_kind_t kind, const char *dir, uint64_t applied)
{
    assert_int_equal(store_commit(s, applied), 0);
    saved_t a = {0}, b = {0}, c = {0};
    uint64_t nodes = store_node_count(s);
    /* A snapshot from the engine's view loads as the snapshot of the tree
     * (its nodes come in another order: saved again, the same bytes). */
    store_saver_t *sv = store_saver_new(s);
    save_whole(s, &a);
    if (sv) {
        assert_int_equal(store_saver_run(sv, mem_write, &c), 0);
        store_saver_free(sv);
        assert_int_equal(a.len, c.len);
        store_config_t lc = {.history_size = 50};
        char lerr[256] = "";
        store_t *l = store_load(&lc, c.p, c.len, lerr, sizeof(lerr));
        if (!l)
            fail_msg("loading the view's snapshot: %s", lerr);
        saved_t d = {0};
        assert_int_equal(store_save(l, mem_write, &d), 0);
        assert_int_equal(a.len, d.len);
        assert_memory_equal(a.p, d.p, a.len);
        store_free(l);
        free(c.p);
        free(d.p);
        saver_runs++;
    }
    store_free(s);
    engine_t *e = open_engine(kind, dir);
    assert_int_equal(engine_meta(e)->applied_index, applied);
    store_config_t cfg = {.history_size = 50, .cache_nodes = CACHE_NODES};
    char err[256] = "";
    s = store_open_engine(&cfg, e, err, sizeof(err));
    if (!s)
        fail_msg("store_open_engine: %s", err);
    check_store(s);
    assert_int_equal(store_node_count(s), nodes);
    apart_seen += count_children(s->engine, "/l");
    assert_true(count_children(s->engine, "/h") <= 50);
    save_whole(s, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.p, b.p, a.len);
    free(a.p);
    free(b.p);
    return s;
}

static void same_node(const store_node_t *a, const store_node_t *b)
{
    assert_int_equal(a->key_len, b->key_len);
    assert_memory_equal(a->key, b->key, a->key_len);
    assert_int_equal(a->dir, b->dir);
    assert_int_equal(!a->value, !b->value);
    assert_int_equal(a->value_len, b->value_len);
    if (a->value_len)
        assert_memory_equal(a->value, b->value, a->value_len);
    assert_int_equal(a->created_index, b->created_index);
    assert_int_equal(a->modified_index, b->modified_index);
    assert_int_equal(a->expiration_ns, b->expiration_ns);
    assert_int_equal(a->ttl, b->ttl);
    assert_int_equal(a->n_nodes, b->n_nodes);
    for (size_t i = 0; i < a->n_nodes; i++)
        same_node(&a->nodes[i], &b->nodes[i]);
}

static void same_event(const store_event_t *a, const store_event_t *b)
{
    assert_int_equal(!a, !b);
    if (!a)
        return;
    assert_int_equal(a->action, b->action);
    assert_int_equal(a->etcd_index, b->etcd_index);
    assert_int_equal(a->has_prev_node, b->has_prev_node);
    same_node(&a->node, &b->node);
    if (a->has_prev_node)
        same_node(&a->prev_node, &b->prev_node);
}

/*
 * Makes the engine in dir look as data written before the TTL index: the
 * index emptied and the metadata's counters without the node count. A
 * start must read every node, and write the index back with its next
 * commit.
 */
static void make_legacy(engine_kind_t kind, const char *dir)
{
    engine_t *e = open_engine(kind, dir);
    const engine_meta_t *m = engine_meta(e);
    assert_int_equal(m->stats_len, 16 * 8);
    uint8_t stats[15 * 8];
    memcpy(stats, m->stats, sizeof(stats));
    engine_meta_t old = *m;
    old.stats = stats;
    old.stats_len = sizeof(stats);
    engine_iter_t *it;
    engine_item_t item;
    struct {
        int64_t d;
        char p[1024];
        size_t l;
    } due[64];
    size_t n = 0;
    assert_int_equal(engine_iter_due(engine_reader(e), INT64_MAX, &it), 0);
    while (engine_iter_next(it, &item) == 1) {
        assert_true(n < 64 && item.path_len < 1024);
        due[n].d = item.deadline_ns;
        memcpy(due[n].p, item.path, item.path_len);
        due[n++].l = item.path_len;
    }
    engine_iter_free(it);
    engine_batch_t *b = engine_batch_begin(e);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(engine_batch_ttl_remove(b, due[i].d, due[i].p, due[i].l), 0);
    assert_true(engine_batch_delete_subtree(b, "/t", 2) >= 0);
    assert_int_equal(engine_batch_commit(b, &old), 0);
    engine_close(e);
}

static void run_seed(uint64_t seed, engine_kind_t kind)
{
    rng_state = seed;
    store_t *s = new_store(50);
    /* On an engine: the same requests to a memory store (the reference). */
    store_t *m = kind ? new_store(50) : NULL;
    store_t *ref = m ? m : s;
    char dir[64] = "";
    if (kind) {
        snprintf(dir, sizeof(dir), "/tmp/metcd-random-XXXXXX");
        assert_non_null(mkdtemp(dir));
        assert_int_equal(store_engine_rewrite(s, open_engine(kind, dir), 0), 0);
        s->cache_cap = CACHE_NODES;
    }
    int64_t now = T0;
    store_watcher_t *ws[16] = {0};
    counter_t counters[16] = {{0}};
    char key[1024];
    for (int step = 0; step < 400; step++) {
        random_key(key);
        store_op_t op = (store_op_t)(1 + rnd(8));
        req_opts_t o = OPTS(.time_ns = now);
        if (rnd(3))
            o.value = rnd(2) ? "x" : "y";
        if (rnd(3) == 0)
            o.ttl = rnd(4);
        if (op == STORE_OP_CAS || op == STORE_OP_CAD || op == STORE_OP_UPDATE) {
            /* Aim at an existing file half of the time. */
            size_t start = rnd((uint32_t)ref->table.mask + 1);
            bool aim = rnd(2);
            for (size_t k = 0; aim && k <= ref->table.mask; k++) {
                tnode_t *f = ref->table.slots[(start + k) & ref->table.mask];
                if (f && !f->dir) {
                    memcpy(key, f->path, f->path_len + 1);
                    break;
                }
            }
        }
        if (op == STORE_OP_CAS || op == STORE_OP_CAD) {
            tnode_t *cur = store_lookup(ref, key, strlen(key));
            if (cur && !cur->dir && rnd(2)) {
                /* Conditions that hold, so that successes are common too. */
                o.prev_index = rnd(2) ? cur->modified_index : 0;
                if (cur->value_len && (rnd(2) || !o.prev_index))
                    o.prev_value = cur->value;
                if (!o.prev_value && !o.prev_index)
                    o.prev_index = cur->modified_index;
            } else {
                if (rnd(2))
                    o.prev_value = rnd(2) ? "x" : "y";
                if (rnd(2) || !o.prev_value)
                    o.prev_index = rnd((uint32_t)store_index(s) + 2);
            }
        }
        o.dir = rnd(4) == 0;
        o.recursive = rnd(4) == 0;
        if (rnd(6) == 0 && o.ttl != NO_TTL && (op == STORE_OP_SET || op == STORE_OP_UPDATE)) {
            o.refresh = true;
            o.value = NULL;
        }
        if (op == STORE_OP_SYNC) {
            now += rnd(3) * SEC;
            o.time_ns = now;
        }
        uint64_t before = store_index(s);
        uint32_t hist_before = s->history.count;
        store_event_t *ev = NULL;
        store_error_t err = {0};
        int rc = apply_req(s, op, key, o, &ev, &err);
        if (m) {
            store_event_t *mev = NULL;
            store_error_t merr = {0};
            int mrc = apply_req(m, op, key, o, &mev, &merr);
            assert_int_equal(rc, mrc);
            assert_int_equal(err.code, merr.code);
            assert_string_equal(err.cause ? err.cause : "", merr.cause ? merr.cause : "");
            same_event(ev, mev);
            assert_int_equal(store_node_count(s), store_node_count(m));
            assert_int_equal(store_next_expiration(s), store_next_expiration(m));
            if (mev)
                store_event_release(mev);
            store_error_clear(&merr);
            /* Between operations the cache may shrink at any time. */
            store_cache_trim(s);
        }
        if (op == STORE_OP_SYNC) {
            assert_int_equal(rc, 0);
            assert_null(ev);
        } else if (rc == 0) {
            assert_int_equal(store_index(s), before + 1);
            assert_non_null(ev);
            assert_int_equal(ev->etcd_index, before + 1);
            assert_int_equal(ev->node.modified_index, before + 1);
            store_event_release(ev);
        } else {
            assert_int_equal(store_index(s), before);
            assert_null(ev);
            assert_int_equal(err.index, before);
            assert_int_equal(-rc, err.code);
            assert_int_equal(s->history.count, hist_before);
        }
        store_error_clear(&err);
        check_store(s);

        /* Watchers come and go. */
        int wi = (int)rnd(16);
        if (ws[wi] && rnd(2)) {
            store_watcher_remove(s, ws[wi]);
            ws[wi] = NULL;
        } else if (!ws[wi]) {
            random_key(key);
            store_watch(s, key, strlen(key), rnd(2), true, 0, count_cb, &counters[wi], &ws[wi],
                        NULL);
        }
        /* The engine: a commit per few steps, a restart now and then. */
        if (kind && rnd(4) == 0)
            assert_int_equal(store_commit(s, (uint64_t)step + 1), 0);
        if (kind && rnd(90) == 0) {
            for (int i = 0; i < 16; i++)
                ws[i] = NULL; /* ended by the restart */
            s = reopen(s, kind, dir, (uint64_t)step + 1);
        }
        /* A listing now and then (sorted ones reorder children). */
        if (rnd(10) == 0) {
            store_event_t *g = NULL, *mg = NULL;
            bool sorted = rnd(2), recursive = rnd(2);
            random_key(key);
            const char *k = rnd(2) ? "/" : key;
            int rc = store_get(s, k, strlen(k), recursive, sorted, now, &g, NULL);
            if (m) {
                int mrc = store_get(m, k, strlen(k), recursive, sorted, now, &mg, NULL);
                assert_int_equal(rc, mrc);
                if (sorted)
                    same_event(g, mg);
                if (mg)
                    store_event_release(mg);
            }
            if (g)
                store_event_release(g);
        }
    }
    /* The snapshot of the result loads, and saves back to the same bytes. */
    saved_t a = {0}, b = {0};
    save_whole(s, &a);
    if (m) {
        saved_t ma = {0};
        assert_int_equal(store_save(m, mem_write, &ma), 0);
        assert_int_equal(a.len, ma.len);
        assert_memory_equal(a.p, ma.p, a.len);
        free(ma.p);
        store_free(m);
    }
    store_config_t cfg = {.history_size = 50};
    if (kind) {
        /* An engine built from the snapshot without a tree holds the same store. */
        char bdir[64];
        snprintf(bdir, sizeof(bdir), "/tmp/metcd-build-XXXXXX");
        assert_non_null(mkdtemp(bdir));
        engine_t *be = open_engine(kind, bdir);
        char err[256] = "";
        if (store_build_engine(&cfg, be, a.p, a.len, 77, err, sizeof(err)) != 0)
            fail_msg("store_build_engine: %s", err);
        assert_int_equal(engine_meta(be)->applied_index, 77);
        store_config_t ccfg = {.history_size = 50, .cache_nodes = CACHE_NODES};
        store_t *bs = store_open_engine(&ccfg, be, err, sizeof(err));
        if (!bs)
            fail_msg("store_open_engine: %s", err);
        check_store(bs);
        assert_int_equal(store_node_count(bs), store_node_count(s));
        saved_t c = {0};
        save_whole(bs, &c);
        assert_int_equal(a.len, c.len);
        assert_memory_equal(a.p, c.p, a.len);
        free(c.p);
        store_free(bs);
        fs_remove_tree(bdir, NULL, 0);
    }
    store_t *l = store_load(&cfg, a.p, a.len, NULL, 0);
    assert_non_null(l);
    check_store(l);
    assert_int_equal(store_save(l, mem_write, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.p, b.p, a.len);
    free(a.p);
    free(b.p);
    store_free(l);
    if (kind) {
        s = reopen(s, kind, dir, 1000);
        /* Data from before the TTL index opens the same, and gets the index. */
        assert_int_equal(store_commit(s, 1001), 0);
        uint64_t nodes = store_node_count(s);
        int64_t next = store_next_expiration(s);
        saved_t x = {0};
        save_whole(s, &x);
        store_free(s);
        make_legacy(kind, dir);
        store_config_t lcfg = {.history_size = 50, .cache_nodes = CACHE_NODES};
        char err[256] = "";
        s = store_open_engine(&lcfg, open_engine(kind, dir), err, sizeof(err));
        if (!s)
            fail_msg("store_open_engine (legacy): %s", err);
        assert_int_equal(store_node_count(s), nodes);
        assert_int_equal(store_next_expiration(s), next);
        s = reopen(s, kind, dir, 1002);
        assert_int_equal(store_node_count(s), nodes);
        assert_int_equal(store_next_expiration(s), next);
        saved_t y = {0};
        save_whole(s, &y);
        assert_int_equal(x.len, y.len);
        assert_memory_equal(x.p, y.p, x.len);
        free(x.p);
        free(y.p);
    }
    store_free(s);
    /* After the engine is closed: LevelDB writes its files until then. */
    if (kind)
        fs_remove_tree(dir, NULL, 0);
}

static void test_random_ops(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 60; seed++)
        run_seed(seed, 0);
}

static void test_random_ops_lmdb(void **state)
{
    (void)state;
    apart_seen = 0;
    saver_runs = 0;
    for (uint64_t seed = 1; seed <= 30; seed++)
        run_seed(seed, ENGINE_LMDB);
    assert_true(apart_seen > 0);
    assert_true(saver_runs > 0);
}

static void test_random_ops_leveldb(void **state)
{
    (void)state;
    apart_seen = 0;
    saver_runs = 0;
    for (uint64_t seed = 1; seed <= 30; seed++)
        run_seed(seed, ENGINE_LEVELDB);
    assert_int_equal(apart_seen, 0); /* LevelDB keys have no such limit */
    assert_true(saver_runs >= 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_ops),
        cmocka_unit_test(test_random_ops_lmdb),
        cmocka_unit_test(test_random_ops_leveldb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
