/*
 * tests/store/test_engine.c: the contract of store/engine.h, the same cases
 * run against every engine (memory, LMDB, LevelDB), plus the key encoding of
 * store/engine_key.c on its own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_fixture.h"
#include "store/engine_int.h"

/* ---- Fixture: one engine in a fresh temporary directory ---- */

static void reopen(fx_t *f)
{
    engine_close(f->e);
    f->e = NULL;
    open_engine(f);
}

static bool persistent(const fx_t *f)
{
    return f->kind != ENGINE_MEMORY;
}

/* ---- Helpers ---- */

static const engine_meta_t no_meta = {0};

static void put(engine_batch_t *b, const char *path, const char *value)
{
    assert_int_equal(engine_batch_put(b, path, strlen(path), value, strlen(value)), 0);
}

static void commit(engine_batch_t *b)
{
    assert_int_equal(engine_batch_commit(b, &no_meta), 0);
}

/* Puts each "path=value" in one committed batch. */
static void put_all(engine_t *e, const char *const *pairs, size_t n)
{
    engine_batch_t *b = engine_batch_begin(e);
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(pairs[i], '=');
        assert_int_equal(
            engine_batch_put(b, pairs[i], (size_t)(eq - pairs[i]), eq + 1, strlen(eq + 1)), 0);
    }
    commit(b);
}

/* Appends bytes to out at *n, writing bytes outside 0x20-0x7e as \xHH. */
static void add_printable(char *out, size_t cap, size_t *n, const void *p, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f)
            *n += (size_t)snprintf(out + *n, cap - *n, "%c", b[i]);
        else
            *n += (size_t)snprintf(out + *n, cap - *n, "\\x%02x", b[i]);
        assert_true(*n < cap);
    }
}

/* Every item of it as "path=value,..." (with_depth: "depth:path=value"). */
static char *drain(engine_iter_t *it, bool with_depth)
{
    static char out[8192];
    size_t n = 0;
    engine_item_t item;
    int rc;
    out[0] = 0;
    while ((rc = engine_iter_next(it, &item)) == 1) {
        assert_int_equal(strlen(item.path) <= item.path_len, 1);
        assert_int_equal(item.path[item.path_len], 0);
        if (n)
            out[n++] = ',';
        if (with_depth)
            n += (size_t)snprintf(out + n, sizeof(out) - n, "%u:", item.depth);
        add_printable(out, sizeof(out), &n, item.path, item.path_len);
        out[n++] = '=';
        add_printable(out, sizeof(out), &n, item.value, item.value_len);
        out[n] = 0;
    }
    assert_int_equal(rc, 0);
    engine_iter_free(it);
    return out;
}

static char *children(engine_read_t *r, const char *dir)
{
    engine_iter_t *it;
    assert_int_equal(engine_iter_children(r, dir, strlen(dir), &it), 0);
    return drain(it, false);
}

static char *descendants(engine_read_t *r, const char *dir)
{
    engine_iter_t *it;
    assert_int_equal(engine_iter_descendants(r, dir, strlen(dir), &it), 0);
    return drain(it, true);
}

static char *due(engine_read_t *r, int64_t until)
{
    static char out[1024];
    size_t n = 0;
    engine_iter_t *it;
    engine_item_t item;
    int rc;
    out[0] = 0;
    assert_int_equal(engine_iter_due(r, until, &it), 0);
    while ((rc = engine_iter_next(it, &item)) == 1)
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%lld%s", n ? "," : "",
                              (long long)item.deadline_ns, item.path);
    assert_int_equal(rc, 0);
    engine_iter_free(it);
    return out;
}

/* ---- Contract cases ---- */

static void test_put_get_delete(void **state)
{
    fx_t *f = *state;
    engine_read_t *r = engine_reader(f->e);
    assert_string_equal(get(r, "/a"), "<absent>");
    engine_batch_t *b = engine_batch_begin(f->e);
    put(b, "/a", "1");
    put(b, "/b/c", "2");
    put(b, "/empty", "");
    commit(b);
    assert_string_equal(get(r, "/a"), "1");
    assert_string_equal(get(r, "/b/c"), "2");
    assert_string_equal(get(r, "/b"), "<absent>");
    assert_string_equal(get(r, "/empty"), "");

    b = engine_batch_begin(f->e);
    put(b, "/a", "one");
    assert_int_equal(engine_batch_delete(b, "/b/c", 4), 0);
    assert_int_equal(engine_batch_delete(b, "/never", 6), 0); /* absent: no-op */
    commit(b);
    assert_string_equal(get(r, "/a"), "one");
    assert_string_equal(get(r, "/b/c"), "<absent>");
}

static void test_bad_paths(void **state)
{
    fx_t *f = *state;
    const char *bad[] = {"", "a", "/a/", "//a", "/a//b", "/"};
    engine_batch_t *b = engine_batch_begin(f->e);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(engine_batch_put(b, bad[i], strlen(bad[i]), "v", 1), -EINVAL);
        assert_int_equal(engine_batch_ttl_add(b, 1, bad[i], strlen(bad[i])), -EINVAL);
    }
    engine_iter_t *it;
    assert_int_equal(engine_iter_children(engine_batch_reader(b), "/a/", 3, &it), -EINVAL);
    assert_int_equal(engine_batch_delete_subtree(b, "a", 1), -EINVAL);
    engine_batch_abort(b);
    assert_true(strlen(engine_errmsg(f->e)) > 0);
}

/* LMDB stores keys of up to 511 bytes; the others have no limit. */
static void test_key_length_limit(void **state)
{
    fx_t *f = *state;
    char path[700];
    path[0] = '/';
    memset(path + 1, 'k', sizeof(path) - 2);
    path[sizeof(path) - 1] = 0;
    engine_batch_t *b = engine_batch_begin(f->e);
    int rc = engine_batch_put(b, path, strlen(path), "v", 1);
    if (f->kind == ENGINE_LMDB) {
        assert_int_equal(rc, -ENAMETOOLONG);
        assert_non_null(strstr(engine_errmsg(f->e), "511"));
    } else {
        assert_int_equal(rc, 0);
    }
    commit(b);
    assert_string_equal(get(engine_reader(f->e), path), f->kind == ENGINE_LMDB ? "<absent>" : "v");
}

static void test_uncommitted_batch_leaves_nothing(void **state)
{
    fx_t *f = *state;
    engine_meta_t meta = {.applied_index = 3, .store_index = 2};
    engine_batch_t *b = engine_batch_begin(f->e);
    put(b, "/keep", "1");
    assert_int_equal(engine_batch_commit(b, &meta), 0);

    b = engine_batch_begin(f->e);
    put(b, "/x", "1");
    put(b, "/keep", "2");
    assert_int_equal(engine_batch_ttl_add(b, 10, "/x", 2), 0);
    /* The batch sees its writes; nobody else does. */
    assert_string_equal(get(engine_batch_reader(b), "/x"), "1");
    assert_string_equal(get(engine_reader(f->e), "/x"), "<absent>");
    engine_batch_abort(b);

    engine_read_t *r = engine_reader(f->e);
    assert_string_equal(get(r, "/x"), "<absent>");
    assert_string_equal(get(r, "/keep"), "1");
    assert_string_equal(due(r, 100), "");
    assert_int_equal(engine_meta(f->e)->applied_index, 3);
    if (persistent(f)) {
        reopen(f);
        assert_string_equal(get(engine_reader(f->e), "/x"), "<absent>");
        assert_int_equal(engine_meta(f->e)->applied_index, 3);
    }
}

static void test_batch_reads_its_own_writes(void **state)
{
    fx_t *f = *state;
    /* The store keeps a key for every directory: descendants are reached
     * through them. */
    const char *base[] = {"/a=1", "/b=2", "/d=dir", "/d/x=3"};
    put_all(f->e, base, 4);
    engine_batch_t *b = engine_batch_begin(f->e);
    engine_read_t *br = engine_batch_reader(b);
    put(b, "/c", "new");
    put(b, "/b", "changed");
    assert_int_equal(engine_batch_delete(b, "/a", 2), 0);
    put(b, "/d/w", "4");
    assert_string_equal(get(br, "/a"), "<absent>");
    assert_string_equal(get(br, "/b"), "changed");
    assert_string_equal(children(br, "/"), "/b=changed,/c=new,/d=dir");
    assert_string_equal(children(br, "/d"), "/d/w=4,/d/x=3");
    assert_string_equal(descendants(br, "/"), "1:/b=changed,1:/c=new,1:/d=dir,2:/d/w=4,2:/d/x=3");
    /* A deleted then re-put key is back. */
    put(b, "/a", "again");
    assert_string_equal(get(br, "/a"), "again");
    assert_string_equal(children(engine_reader(f->e), "/"), "/a=1,/b=2,/d=dir");
    commit(b);
    assert_string_equal(children(engine_reader(f->e), "/"), "/a=again,/b=changed,/c=new,/d=dir");
}

static void test_meta_committed_with_data(void **state)
{
    fx_t *f = *state;
    assert_int_equal(engine_meta(f->e)->applied_index, 0);
    assert_null(engine_meta(f->e)->stats);
    uint8_t stats[] = {1, 0, 2, 0xff};
    engine_meta_t meta = {.applied_index = 42,
                          .store_index = 17,
                          .last_request_ns = -5,
                          .stats = stats,
                          .stats_len = sizeof(stats)};
    engine_batch_t *b = engine_batch_begin(f->e);
    put(b, "/k", "v");
    assert_int_equal(engine_batch_commit(b, &meta), 0);
    stats[0] = 9; /* the engine kept a copy */
    if (persistent(f))
        reopen(f);
    else
        assert_string_equal(get(engine_reader(f->e), "/k"), "v");
    const engine_meta_t *m = engine_meta(f->e);
    assert_int_equal(m->applied_index, 42);
    assert_int_equal(m->store_index, 17);
    assert_int_equal(m->last_request_ns, -5);
    assert_int_equal(m->stats_len, 4);
    assert_memory_equal(m->stats, ((uint8_t[]){1, 0, 2, 0xff}), 4);
    assert_string_equal(get(engine_reader(f->e), "/k"), "v");

    /* A later commit replaces it; an empty stats blob reads back as empty. */
    b = engine_batch_begin(f->e);
    engine_meta_t meta2 = {.applied_index = 43, .store_index = 17};
    assert_int_equal(engine_batch_commit(b, &meta2), 0);
    if (persistent(f))
        reopen(f);
    assert_int_equal(engine_meta(f->e)->applied_index, 43);
    assert_int_equal(engine_meta(f->e)->stats_len, 0);
}

static void test_subtree_delete(void **state)
{
    fx_t *f = *state;
    engine_batch_t *b = engine_batch_begin(f->e);
    const char *paths[] = {"/d",   "/d/x",   "/d/x/y", "/d/x/y/z", "/d/z",
                           "/d~e", "/d~e/q", "/c",     "/e"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        put(b, paths[i], "v");
    const char nul_name[] = "/d\0";
    assert_int_equal(engine_batch_put(b, nul_name, 3, "n", 1), 0);
    assert_int_equal(engine_batch_put(b, "/d/\0", 4, "n", 1), 0);
    commit(b);

    b = engine_batch_begin(f->e);
    put(b, "/d/new/deep", "v"); /* pending writes are deleted too */
    assert_int_equal(engine_batch_delete_subtree(b, "/d", 2), 7);
    assert_string_equal(descendants(engine_batch_reader(b), "/d"), "");
    commit(b);
    engine_read_t *r = engine_reader(f->e);
    assert_string_equal(get(r, "/d"), "<absent>");
    assert_string_equal(get(r, "/d/x/y/z"), "<absent>");
    assert_string_equal(children(r, "/d"), "");
    /* Names that start like /d survive: /d~e, /d\0, and the rest. */
    assert_string_equal(get(r, "/d~e/q"), "v");
    const uint8_t *v;
    size_t vl;
    assert_int_equal(engine_get(r, nul_name, 3, &v, &vl), 1);
    assert_int_equal(engine_batch_delete_subtree(b = engine_batch_begin(f->e), "/d~e", 4), 2);
    commit(b);
    assert_string_equal(descendants(r, "/"), "1:/c=v,1:/d\\x00=n,1:/e=v");

    b = engine_batch_begin(f->e);
    assert_int_equal(engine_batch_delete_subtree(b, "/", 1), 3);
    commit(b);
    assert_string_equal(descendants(r, "/"), "");
}

/* Names that are prefixes of each other and the bytes the encoding escapes. */
static const char *const tricky_names[] = {"a",    "a~b",  "a\x01", "a\x02", "a\xff", "\x01",
                                           "\x02", "\x03", "\xff",  "b",     "ab",    "a b"};
#define N_TRICKY (sizeof(tricky_names) / sizeof(tricky_names[0]))

typedef struct path {
    char p[64];
    size_t len;
} path_t;

/* Every path of the tricky tree: /d/<name>, /d/<name>/<name2>, /d~e/<name>,
 * /d<0x00>/<name>, /d<0x00>... plus the directories themselves. Names with
 * a 0x00 byte come from "\x01"-free literals with one 0x00 appended. */
static size_t tricky_paths(path_t *out)
{
    size_t n = 0;
    static const char *const tops[] = {"/d", "/d~e", "/d\x01", "/c", "/e"};
    for (size_t t = 0; t < 5; t++) {
        const char *top = tops[t];
        out[n].len = (size_t)snprintf(out[n].p, sizeof(out[n].p), "%s", top);
        n++;
        for (size_t i = 0; i < N_TRICKY + 1; i++) {
            path_t child;
            child.len = (size_t)snprintf(child.p, sizeof(child.p), "%s/", top);
            if (i < N_TRICKY) {
                memcpy(child.p + child.len, tricky_names[i], strlen(tricky_names[i]));
                child.len += strlen(tricky_names[i]);
            } else {
                memcpy(child.p + child.len, "x\0y", 3); /* a name with a 0x00 inside */
                child.len += 3;
            }
            out[n++] = child;
            if (t == 0 && i < 3) { /* grandchildren under /d/a, /d/a~b, /d/a\x01 */
                for (size_t j = 0; j < 4; j++) {
                    path_t g = child;
                    g.p[g.len++] = '/';
                    const char *nm = tricky_names[j * 3];
                    memcpy(g.p + g.len, nm, strlen(nm));
                    g.len += strlen(nm);
                    out[n++] = g;
                }
            }
        }
    }
    /* A name that is just 0x00 under /d. */
    memcpy(out[n].p, "/d/\0", 4);
    out[n++].len = 4;
    return n;
}

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = memcmp(a, b, n);
    return c ? c : (al > bl) - (al < bl);
}

/* Component-wise bytewise order: the depth-first order of a listing. */
static int cmp_tree(const void *pa, const void *pb)
{
    const path_t *a = pa, *b = pb;
    size_t i = 1, j = 1;
    for (;;) {
        if (i > a->len || j > b->len)
            return (i <= a->len) - (j <= b->len);
        size_t ie = i, je = j;
        while (ie < a->len && a->p[ie] != '/')
            ie++;
        while (je < b->len && b->p[je] != '/')
            je++;
        int c = cmp_bytes(a->p + i, ie - i, b->p + j, je - j);
        if (c)
            return c;
        i = ie + 1;
        j = je + 1;
    }
}

static bool parent_is(const path_t *p, const char *dir, size_t dl)
{
    size_t slash = p->len - 1;
    while (p->p[slash] != '/')
        slash--;
    size_t plen = slash ? slash : 1;
    return plen == dl && memcmp(p->p, dir, dl) == 0;
}

static bool is_below(const path_t *p, const char *dir, size_t dl)
{
    if (dl == 1)
        return p->len > 1;
    return p->len > dl && memcmp(p->p, dir, dl) == 0 && p->p[dl] == '/';
}

/*
 * subtree: every path below dir exactly once, each after its parent, and the
 * children of one directory in the order engine_iter_children gives.
 */
static void check_subtree(engine_read_t *r, const char *dir, size_t dl, const path_t *all, size_t n)
{
    size_t seen_at[256];
    for (size_t i = 0; i < n; i++)
        seen_at[i] = SIZE_MAX;
    engine_iter_t *it;
    engine_item_t item;
    size_t count = 0;
    assert_int_equal(engine_iter_subtree(r, dir, dl, &it), 0);
    int rc;
    while ((rc = engine_iter_next(it, &item)) == 1) {
        size_t i = 0;
        while (i < n &&
               !(all[i].len == item.path_len && memcmp(all[i].p, item.path, item.path_len) == 0))
            i++;
        assert_true(i < n);
        assert_true(is_below(&all[i], dir, dl));
        assert_int_equal(seen_at[i], SIZE_MAX);
        assert_memory_equal(item.value, all[i].p, all[i].len);
        seen_at[i] = count;
        count++;
        /* The parent, when below dir, came before; an earlier sibling of
         * the same parent sorts before this one (all[] is in tree order). */
        for (size_t j = 0; j < n; j++) {
            size_t slash = all[i].len - 1;
            while (all[i].p[slash] != '/')
                slash--;
            if (slash > dl && all[j].len == slash && memcmp(all[j].p, all[i].p, slash) == 0)
                assert_true(seen_at[j] < count - 1);
            if (j != i && seen_at[j] != SIZE_MAX && seen_at[j] < count - 1 &&
                parent_is(&all[j], all[i].p, slash ? slash : 1))
                assert_true(j < i);
        }
    }
    assert_int_equal(rc, 0);
    engine_iter_free(it);
    for (size_t i = 0; i < n; i++)
        assert_true(is_below(&all[i], dir, dl) == (seen_at[i] != SIZE_MAX));
}

/* Children and descendants of every directory of the tricky tree, checked
 * against a brute-force answer computed from the path list alone. */
static void test_children_and_descendants_order(void **state)
{
    fx_t *f = *state;
    path_t all[256];
    size_t n = tricky_paths(all);
    assert_true(n < 256);
    engine_batch_t *b = engine_batch_begin(f->e);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(engine_batch_put(b, all[i].p, all[i].len, all[i].p, all[i].len), 0);
    commit(b);
    qsort(all, n, sizeof(all[0]), cmp_tree);
    engine_read_t *r = engine_reader(f->e);

    path_t dirs[258];
    size_t nd = 0;
    dirs[nd].p[0] = '/', dirs[nd++].len = 1;
    for (size_t i = 0; i < n; i++)
        dirs[nd++] = all[i];
    for (size_t d = 0; d < nd; d++) {
        const char *dir = dirs[d].p;
        size_t dl = dirs[d].len;
        /* children: exactly the paths whose parent is dir, in bytewise order */
        engine_iter_t *it;
        engine_item_t item;
        assert_int_equal(engine_iter_children(r, dir, dl, &it), 0);
        for (size_t i = 0; i < n; i++) {
            if (!parent_is(&all[i], dir, dl))
                continue;
            assert_int_equal(engine_iter_next(it, &item), 1);
            assert_int_equal(item.path_len, all[i].len);
            assert_memory_equal(item.path, all[i].p, all[i].len);
            assert_memory_equal(item.value, all[i].p, all[i].len);
            assert_int_equal(item.depth, 1);
        }
        assert_int_equal(engine_iter_next(it, &item), 0);
        engine_iter_free(it);
        /* descendants: every path below dir, depth first */
        assert_int_equal(engine_iter_descendants(r, dir, dl, &it), 0);
        for (size_t i = 0; i < n; i++) {
            if (!is_below(&all[i], dir, dl))
                continue;
            assert_int_equal(engine_iter_next(it, &item), 1);
            assert_int_equal(item.path_len, all[i].len);
            assert_memory_equal(item.path, all[i].p, all[i].len);
            unsigned depth = 0;
            for (size_t k = dl == 1 ? 0 : dl; k < all[i].len; k++)
                depth += all[i].p[k] == '/';
            assert_int_equal(item.depth, depth);
        }
        assert_int_equal(engine_iter_next(it, &item), 0);
        engine_iter_free(it);
        check_subtree(r, dir, dl, all, n);
    }
}

static void test_ttl_index(void **state)
{
    fx_t *f = *state;
    engine_batch_t *b = engine_batch_begin(f->e);
    assert_int_equal(engine_batch_ttl_add(b, 300, "/a", 2), 0);
    assert_int_equal(engine_batch_ttl_add(b, 100, "/d", 2), 0);
    assert_int_equal(engine_batch_ttl_add(b, 200, "/c/x", 4), 0);
    assert_int_equal(engine_batch_ttl_add(b, 100, "/b", 2), 0);
    assert_int_equal(engine_batch_ttl_add(b, -7, "/neg", 4), 0);
    put(b, "/a", "not in the index"); /* data and index do not mix */
    assert_string_equal(due(engine_batch_reader(b), 150), "-7/neg,100/b,100/d");
    commit(b);
    engine_read_t *r = engine_reader(f->e);
    assert_string_equal(due(r, -8), "");
    assert_string_equal(due(r, 99), "-7/neg");
    assert_string_equal(due(r, 100), "-7/neg,100/b,100/d");
    assert_string_equal(due(r, 250), "-7/neg,100/b,100/d,200/c/x");
    assert_string_equal(children(r, "/"), "/a=not in the index");

    /* Moving /b's deadline: remove the old pair, add the new one. */
    b = engine_batch_begin(f->e);
    assert_int_equal(engine_batch_ttl_remove(b, 100, "/b", 2), 0);
    assert_int_equal(engine_batch_ttl_add(b, 400, "/b", 2), 0);
    assert_int_equal(engine_batch_ttl_remove(b, -7, "/neg", 4), 0);
    commit(b);
    assert_string_equal(due(r, 150), "100/d");
    assert_string_equal(due(r, INT64_MAX), "100/d,200/c/x,300/a,400/b");
    if (persistent(f)) {
        reopen(f);
        assert_string_equal(due(engine_reader(f->e), INT64_MAX), "100/d,200/c/x,300/a,400/b");
    }
}

static void test_view_isolation(void **state)
{
    fx_t *f = *state;
    const char *base[] = {"/a=1", "/b=1", "/dir=d", "/dir/x=1"};
    put_all(f->e, base, 4);
    engine_batch_t *b = engine_batch_begin(f->e);
    assert_int_equal(engine_batch_ttl_add(b, 5, "/a", 2), 0);
    engine_meta_t meta = {.applied_index = 10};
    assert_int_equal(engine_batch_commit(b, &meta), 0);

    engine_view_t *v = engine_view_open(f->e);
    assert_non_null(v);
    engine_read_t *vr = engine_view_reader(v);
    /* An iterator opened before the writes, read after them. */
    engine_iter_t *early;
    assert_int_equal(engine_iter_children(vr, "/", 1, &early), 0);

    b = engine_batch_begin(f->e);
    put(b, "/a", "2");
    assert_int_equal(engine_batch_delete(b, "/b", 2), 0);
    put(b, "/c", "1");
    assert_int_equal(engine_batch_delete_subtree(b, "/dir", 4), 2);
    assert_int_equal(engine_batch_ttl_remove(b, 5, "/a", 2), 0);
    meta.applied_index = 11;
    assert_int_equal(engine_batch_commit(b, &meta), 0);

    assert_string_equal(get(vr, "/a"), "1");
    assert_string_equal(get(vr, "/b"), "1");
    assert_string_equal(get(vr, "/c"), "<absent>");
    assert_string_equal(drain(early, false), "/a=1,/b=1,/dir=d");
    assert_string_equal(descendants(vr, "/"), "1:/a=1,1:/b=1,1:/dir=d,2:/dir/x=1");
    assert_string_equal(children(vr, "/dir"), "/dir/x=1");
    assert_string_equal(due(vr, 10), "5/a");

    engine_read_t *r = engine_reader(f->e);
    assert_string_equal(get(r, "/a"), "2");
    assert_string_equal(children(r, "/"), "/a=2,/c=1");
    assert_string_equal(due(r, 10), "");

    /* The raw stream of the view: the data, the TTL pair and the metadata
     * of its time (applied index 10), in key order. */
    engine_iter_t *it;
    engine_item_t item;
    assert_int_equal(engine_iter_raw(vr, &it), 0);
    size_t n = 0;
    bool saw_meta = false;
    const uint8_t *prev = NULL;
    size_t prev_len = 0;
    uint8_t prev_buf[64];
    while (engine_iter_next(it, &item) == 1) {
        if (prev)
            assert_true(engine_key_cmp(prev, prev_len, item.raw_key, item.raw_key_len) < 0);
        assert_true(item.raw_key_len <= sizeof(prev_buf));
        memcpy(prev_buf, item.raw_key, item.raw_key_len);
        prev = prev_buf;
        prev_len = item.raw_key_len;
        if (item.raw_key[0] == ENGINE_TABLE_META) {
            saw_meta = true;
            assert_int_equal(item.value[1], 10); /* little-endian applied index */
        }
        n++;
    }
    engine_iter_free(it);
    assert_true(saw_meta);
    assert_int_equal(n, 6); /* /a /b /dir /dir/x, one TTL pair, the metadata */
    engine_view_close(v);
}

static void test_reopen_after_unsynced_commits(void **state)
{
    fx_t *f = *state;
    for (int i = 0; i < 20; i++) {
        engine_batch_t *b = engine_batch_begin(f->e);
        char path[32], value[32];
        snprintf(path, sizeof(path), "/k/%02d", i);
        snprintf(value, sizeof(value), "v%d", i);
        put(b, path, value);
        engine_meta_t meta = {.applied_index = (uint64_t)i + 1, .store_index = (uint64_t)i};
        assert_int_equal(engine_batch_commit(b, &meta), 0);
    }
    reopen(f); /* no engine_sync: a process that stops still keeps its commits */
    engine_read_t *r = engine_reader(f->e);
    assert_int_equal(engine_meta(f->e)->applied_index, 20);
    assert_string_equal(get(r, "/k/00"), "v0");
    assert_string_equal(get(r, "/k/19"), "v19");
    engine_iter_t *it;
    engine_item_t item;
    assert_int_equal(engine_iter_children(r, "/k", 2, &it), 0);
    int n = 0;
    while (engine_iter_next(it, &item) == 1)
        n++;
    engine_iter_free(it);
    assert_int_equal(n, 20);
    assert_int_equal(engine_sync(f->e), 0);
}

/* A map that must grow while a view and its iterator are open: the commit
 * succeeds (MDB_MAP_FULL never reaches the caller) and the view reads on. */
static void test_growth_under_open_view(void **state)
{
    fx_t *f = *state;
    const char *base[] = {"/a=1", "/b=2", "/c=3"};
    put_all(f->e, base, 3);
    engine_view_t *v = engine_view_open(f->e);
    engine_iter_t *it;
    engine_item_t item;
    assert_int_equal(engine_iter_children(engine_view_reader(v), "/", 1, &it), 0);
    assert_int_equal(engine_iter_next(it, &item), 1);
    assert_string_equal(item.path, "/a");

    static char value[1000];
    memset(value, 'x', sizeof(value) - 1);
    for (int batch = 0; batch < 8; batch++) {
        engine_batch_t *b = engine_batch_begin(f->e);
        for (int i = 0; i < 250; i++) {
            char path[32];
            snprintf(path, sizeof(path), "/big/%d/%03d", batch, i);
            put(b, path, value);
        }
        assert_int_equal(engine_batch_commit(b, &no_meta), 0);
    }
    if (f->kind == ENGINE_LMDB) { /* the file outgrew the first map */
        char file[128];
        struct stat st;
        snprintf(file, sizeof(file), "%s/data.mdb", f->dir);
        assert_int_equal(stat(file, &st), 0);
        assert_true(st.st_size > 4 * (128 << 10));
    }
    assert_int_equal(engine_iter_next(it, &item), 1);
    assert_string_equal(item.path, "/b");
    assert_memory_equal(item.value, "2", 1);
    assert_int_equal(engine_iter_next(it, &item), 1);
    assert_string_equal(item.path, "/c");
    assert_int_equal(engine_iter_next(it, &item), 0);
    engine_iter_free(it);
    assert_string_equal(get(engine_view_reader(v), "/big/0/000"), "<absent>");
    engine_view_close(v);
    const uint8_t *got;
    size_t got_len;
    assert_int_equal(engine_get(engine_reader(f->e), "/big/7/249", 10, &got, &got_len), 1);
    assert_int_equal(got_len, sizeof(value) - 1);
}

static void test_many_keys(void **state)
{
    fx_t *f = *state;
    enum { DIRS = 5, PER = 1000 };
    for (int d = 0; d < DIRS; d++) {
        engine_batch_t *b = engine_batch_begin(f->e);
        for (int i = PER - 1; i >= 0; i--) { /* out of order on purpose */
            char path[32], value[16];
            snprintf(path, sizeof(path), "/d%d/%04d", d, i);
            snprintf(value, sizeof(value), "%d", i);
            put(b, path, value);
        }
        commit(b);
    }
    engine_read_t *r = engine_reader(f->e);
    for (int d = 0; d < DIRS; d++) {
        char dir[8];
        snprintf(dir, sizeof(dir), "/d%d", d);
        engine_iter_t *it;
        engine_item_t item;
        assert_int_equal(engine_iter_children(r, dir, strlen(dir), &it), 0);
        int i = 0;
        while (engine_iter_next(it, &item) == 1) {
            char want[32];
            snprintf(want, sizeof(want), "/d%d/%04d", d, i++);
            assert_string_equal(item.path, want);
        }
        engine_iter_free(it);
        assert_int_equal(i, PER);
    }
    assert_string_equal(get(r, "/d3/0777"), "777");
}

/* ---- The key encoding, engine-independent ---- */

static void test_key_encoding(void **state)
{
    (void)state;
    path_t all[256];
    size_t n = tricky_paths(all);
    engine_buf_t key = {0}, back = {0};
    /* Round trip, and no 0x00/0x01 inside an escaped name. */
    for (size_t i = 0; i < n; i++) {
        key.len = 0;
        engine_key_append(&key, all[i].p, all[i].len);
        assert_int_equal(engine_key_decode(&back, key.p, key.len), 0);
        assert_int_equal(back.len, all[i].len);
        assert_memory_equal(back.p, all[i].p, back.len);
        assert_int_equal(back.p[back.len], 0);
    }
    /* Keys sort so that each directory's children form one contiguous run:
     * sort the keys, then check that between the first and the last child of
     * every directory there is no key that is not its child. */
    typedef struct {
        uint8_t k[160];
        size_t kl;
        size_t path;
    } kp_t;
    static kp_t keys[256];
    for (size_t i = 0; i < n; i++) {
        key.len = 0;
        engine_key_append(&key, all[i].p, all[i].len);
        assert_true(key.len <= sizeof(keys[i].k));
        memcpy(keys[i].k, key.p, key.len);
        keys[i].kl = key.len;
        keys[i].path = i;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort by key */
        for (size_t j = i;
             j > 0 && engine_key_cmp(keys[j - 1].k, keys[j - 1].kl, keys[j].k, keys[j].kl) > 0;
             j--) {
            kp_t t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    for (size_t d = 0; d <= n; d++) {
        const char *dir = d == n ? "/" : all[d].p;
        size_t dl = d == n ? 1 : all[d].len;
        size_t first = SIZE_MAX, last = 0, count = 0;
        for (size_t i = 0; i < n; i++)
            if (parent_is(&all[keys[i].path], dir, dl)) {
                if (first == SIZE_MAX)
                    first = i;
                last = i;
                count++;
            }
        if (count)
            assert_int_equal(last - first + 1, count);
        /* and the children prefix selects exactly them */
        engine_buf_t prefix = {0};
        engine_key_children_prefix(&prefix, dir, dl);
        for (size_t i = 0; i < n; i++) {
            bool has = keys[i].kl >= prefix.len && memcmp(keys[i].k, prefix.p, prefix.len) == 0;
            assert_int_equal(has, parent_is(&all[keys[i].path], dir, dl));
        }
        engine_buf_free(&prefix);
    }
    /* Siblings keep the bytewise order of their names, escapes included. */
    for (size_t i = 0; i + 1 < n; i++) {
        const path_t *a = &all[keys[i].path], *b = &all[keys[i + 1].path];
        if (a->len && b->len && parent_is(b, a->p, 0) == parent_is(a, a->p, 0)) {
            size_t sa = a->len - 1, sb = b->len - 1;
            while (a->p[sa] != '/')
                sa--;
            while (b->p[sb] != '/')
                sb--;
            if (sa == sb && memcmp(a->p, b->p, sa) == 0)
                assert_true(
                    cmp_bytes(a->p + sa + 1, a->len - sa - 1, b->p + sb + 1, b->len - sb - 1) < 0);
        }
    }
    /* Bytes that are no key. */
    assert_int_equal(engine_key_decode(&back,
                                       (const uint8_t *)"\x01"
                                                        "a",
                                       2),
                     -EINVAL);
    assert_int_equal(engine_key_decode(&back, (const uint8_t *)"\x00", 1), -EINVAL);
    assert_int_equal(engine_key_decode(&back,
                                       (const uint8_t *)"\x00"
                                                        "a\x02\x09",
                                       4),
                     -EINVAL);
    /* Deadlines sort as numbers. */
    uint8_t x[8], y[8];
    int64_t ds[] = {INT64_MIN, -1000, -1, 0, 1, 1700000000000000000LL, INT64_MAX};
    for (size_t i = 0; i + 1 < sizeof(ds) / sizeof(ds[0]); i++) {
        engine_key_put_deadline(x, ds[i]);
        engine_key_put_deadline(y, ds[i + 1]);
        assert_true(memcmp(x, y, 8) < 0);
        assert_int_equal(engine_key_get_deadline(x), ds[i]);
    }
    engine_buf_free(&key);
    engine_buf_free(&back);
}

static void test_unknown_kind(void **state)
{
    (void)state;
    engine_t *e = NULL;
    char err[128];
    engine_options_t o = {.kind = (engine_kind_t)99};
    assert_int_equal(engine_open(&o, &e, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "unknown engine"));
    o = (engine_options_t){.kind = ENGINE_LMDB};
    assert_int_equal(engine_open(&o, &e, err, sizeof(err)), -EINVAL);
}

#define CONTRACT(i)                                                                                \
    ON(i, test_put_get_delete, setup), ON(i, test_bad_paths, setup),                               \
        ON(i, test_key_length_limit, setup), ON(i, test_uncommitted_batch_leaves_nothing, setup),  \
        ON(i, test_batch_reads_its_own_writes, setup),                                             \
        ON(i, test_meta_committed_with_data, setup), ON(i, test_subtree_delete, setup),            \
        ON(i, test_children_and_descendants_order, setup), ON(i, test_ttl_index, setup),           \
        ON(i, test_view_isolation, setup), ON(i, test_many_keys, setup),                           \
        ON(i, test_growth_under_open_view, setup_small_map)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_encoding),
        cmocka_unit_test(test_unknown_kind),
        CONTRACT(0),
        CONTRACT(1),
        CONTRACT(2),
        /* Persistence: the engines that have files. */
        ON(1, test_reopen_after_unsynced_commits, setup),
        ON(2, test_reopen_after_unsynced_commits, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
