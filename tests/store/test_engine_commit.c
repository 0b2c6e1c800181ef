/*
 * tests/store/test_engine_commit.c: batches sealed and written by the
 * engine's commit thread (store/engine_commit.c). While a sealed batch is
 * in flight every reader but a view's sees it, below the open batch and
 * above the backend; waiting, syncing and sealing again take its result in
 * order; a map that fills up during a sealed commit grows on the owner's
 * thread; the store reads back nodes it evicted through the sealed
 * changes; and a failed sealed commit fails everything after it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_fixture.h"
#include "store_test.h"
#include "store/engine_int.h"
#include "store/store_int.h"

static void eput(engine_batch_t *b, const char *path, const char *value)
{
    assert_int_equal(engine_batch_put(b, path, strlen(path), value, strlen(value)), 0);
}

static void edel(engine_batch_t *b, const char *path)
{
    assert_int_equal(engine_batch_delete(b, path, strlen(path)), 0);
}

static engine_meta_t meta_at(uint64_t applied)
{
    return (engine_meta_t){.applied_index = applied, .store_index = applied};
}

/* The children of dir as "name=value,...". Static buffer. */
static const char *list(engine_read_t *r, const char *dir)
{
    static char out[1024];
    size_t n = 0;
    engine_iter_t *it;
    engine_item_t item;
    int rc;
    out[0] = 0;
    assert_int_equal(engine_iter_children(r, dir, strlen(dir), &it), 0);
    while ((rc = engine_iter_next(it, &item)) == 1)
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s=%.*s", n ? "," : "", item.path,
                              (int)item.value_len, (const char *)item.value);
    assert_int_equal(rc, 0);
    engine_iter_free(it);
    return out;
}

/* Whether fd becomes readable within a few seconds. */
static bool readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1;
}

/*
 * A sealed batch read before its result is taken (the backend may or may
 * not hold it yet: the readers must not tell), under an open batch, then
 * the eventfd, the result and a reopen.
 */
static void test_reads_through_sealed_batch(void **state)
{
    fx_t *f = *state;
    engine_batch_t *b = engine_batch_begin(f->e);
    eput(b, "/a", "1");
    eput(b, "/b", "2");
    eput(b, "/c", "3");
    eput(b, "/d", "4");
    engine_meta_t m = meta_at(1);
    assert_int_equal(engine_batch_commit(b, &m), 0);

    b = engine_batch_begin(f->e);
    eput(b, "/b", "20");
    edel(b, "/c");
    eput(b, "/e", "5");
    m = meta_at(2);
    assert_int_equal(engine_batch_seal(b, &m), 0);
    bool threaded = f->kind == ENGINE_LMDB; /* the others commit in place */
    assert_int_equal(engine_commit_busy(f->e), threaded);
    assert_int_equal(engine_commit_fd(f->e) >= 0, threaded);
    /* The previous commit's metadata until the result is taken. */
    assert_int_equal(engine_meta(f->e)->applied_index, threaded ? 1 : 2);

    engine_read_t *r = engine_reader(f->e);
    assert_string_equal(get(r, "/a"), "1");
    assert_string_equal(get(r, "/b"), "20");
    assert_string_equal(get(r, "/c"), "<absent>");
    assert_string_equal(get(r, "/e"), "5");
    assert_string_equal(list(r, "/"), "/a=1,/b=20,/d=4,/e=5");

    /* The next batch gathers on top of the sealed one. */
    b = engine_batch_begin(f->e);
    eput(b, "/c", "30");
    edel(b, "/a");
    eput(b, "/b", "200");
    engine_read_t *br = engine_batch_reader(b);
    assert_string_equal(get(br, "/a"), "<absent>");
    assert_string_equal(get(br, "/c"), "30");
    assert_string_equal(get(br, "/e"), "5");
    assert_string_equal(list(br, "/"), "/b=200,/c=30,/d=4,/e=5");
    assert_string_equal(list(r, "/"), "/a=1,/b=20,/d=4,/e=5");
    assert_int_equal(engine_batch_delete_subtree(b, "/", 1), 4);
    assert_string_equal(list(br, "/"), "");
    eput(b, "/f", "6");

    if (threaded) {
        assert_true(readable(engine_commit_fd(f->e), 5000));
        assert_int_equal(engine_commit_poll(f->e), 1);
        assert_false(readable(engine_commit_fd(f->e), 0));
        assert_false(engine_commit_busy(f->e));
    }
    assert_int_equal(engine_commit_poll(f->e), 0);
    assert_int_equal(engine_meta(f->e)->applied_index, 2);
    assert_string_equal(list(r, "/"), "/a=1,/b=20,/d=4,/e=5");
    assert_string_equal(list(br, "/"), "/f=6");

    /* Sealing while one is in flight waits for it: both land, in order. */
    m = meta_at(3);
    assert_int_equal(engine_batch_seal(b, &m), 0);
    b = engine_batch_begin(f->e);
    eput(b, "/f", "60");
    eput(b, "/g", "7");
    m = meta_at(4);
    assert_int_equal(engine_batch_seal(b, &m), 0);
    assert_string_equal(list(r, "/"), "/f=60,/g=7");
    assert_int_equal(engine_commit_wait(f->e), 0);
    assert_false(engine_commit_busy(f->e));
    assert_int_equal(engine_meta(f->e)->applied_index, 4);
    assert_string_equal(list(r, "/"), "/f=60,/g=7");

    if (f->kind == ENGINE_MEMORY)
        return;
    /* Closing waits for a sealed batch: a reopen finds it. */
    b = engine_batch_begin(f->e);
    eput(b, "/h", "8");
    m = meta_at(5);
    assert_int_equal(engine_batch_seal(b, &m), 0);
    engine_close(f->e);
    f->e = NULL;
    open_engine(f);
    assert_int_equal(engine_meta(f->e)->applied_index, 5);
    assert_string_equal(list(engine_reader(f->e), "/"), "/f=60,/g=7,/h=8");
}

/* A sync and a view take a sealed commit's result first. */
static void test_sync_and_view_wait(void **state)
{
    fx_t *f = *state;
    engine_batch_t *b = engine_batch_begin(f->e);
    eput(b, "/a", "1");
    engine_meta_t m = meta_at(7);
    assert_int_equal(engine_batch_seal(b, &m), 0);
    assert_int_equal(engine_sync(f->e), 0);
    assert_false(engine_commit_busy(f->e));
    assert_int_equal(engine_meta(f->e)->applied_index, 7);

    b = engine_batch_begin(f->e);
    eput(b, "/b", "2");
    m = meta_at(8);
    assert_int_equal(engine_batch_seal(b, &m), 0);
    engine_view_t *v = engine_view_open(f->e);
    assert_non_null(v);
    assert_false(engine_commit_busy(f->e));
    assert_string_equal(get(engine_view_reader(v), "/b"), "2");
    engine_view_close(v);
}

/*
 * Sealed batches that outgrow a 128 KiB map: the commit thread gives the
 * full map back, the owner grows it and the thread writes again. The owner
 * reads through the sealed changes meanwhile, every value right.
 */
static void test_growth_while_sealed(void **state)
{
    fx_t *f = *state;
    static char value[1000];
    memset(value, 'x', sizeof(value) - 1);
    char path[32];
    for (int batch = 0; batch < 8; batch++) {
        engine_batch_t *b = engine_batch_begin(f->e);
        for (int i = 0; i < 250; i++) {
            snprintf(path, sizeof(path), "/big/%d/%03d", batch, i);
            value[0] = (char)('a' + batch);
            eput(b, path, value);
        }
        engine_meta_t m = meta_at((uint64_t)batch + 1);
        assert_int_equal(engine_batch_seal(b, &m), 0);
        engine_read_t *r = engine_reader(f->e);
        int rounds = 0;
        do {
            for (int i = 0; i < 250; i += 7) {
                snprintf(path, sizeof(path), "/big/%d/%03d", batch, i);
                assert_int_equal(get(r, path)[0], 'a' + batch);
            }
            rounds++;
        } while (engine_commit_poll(f->e) == 0 && engine_commit_busy(f->e));
        assert_false(engine_commit_busy(f->e));
        assert_int_equal(engine_meta(f->e)->applied_index, (uint64_t)batch + 1);
    }
    if (f->kind == ENGINE_LMDB) {
        char file[128];
        struct stat st;
        snprintf(file, sizeof(file), "%s/data.mdb", f->dir);
        assert_int_equal(stat(file, &st), 0);
        assert_true(st.st_size > 4 * (128 << 10));
    }
    engine_read_t *r = engine_reader(f->e);
    for (int batch = 0; batch < 8; batch++) {
        snprintf(path, sizeof(path), "/big/%d/249", batch);
        assert_int_equal(get(r, path)[0], 'a' + batch);
    }
}

/*
 * A store on an engine, its cache smaller than its keys: nodes evicted
 * after a commit is started are read back from the sealed changes, and a
 * commit waited for leaves the store's applied index there.
 */
static void test_store_reads_evicted_nodes(void **state)
{
    fx_t *f = *state;
    store_t *s = new_store(10);
    assert_int_equal(store_engine_rewrite(s, f->e, 0), 0);
    f->e = NULL; /* the store's now */
    s->cache_cap = 64;
    char key[64], value[16];
    uint64_t applied = 0;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 500; i++) {
            snprintf(key, sizeof(key), "/k/%04d", i);
            snprintf(value, sizeof(value), "r%d-%d", round, i);
            put(s, key, value);
        }
        assert_int_equal(store_commit_start(s, ++applied), 0);
        assert_true(s->table.count < 500); /* evicted: read back from the engine */
        for (int i = 0; i < 500; i += 3) {
            snprintf(key, sizeof(key), "/k/%04d", i);
            snprintf(value, sizeof(value), "r%d-%d", round, i);
            store_event_t *ev = get_ok(s, key, false, false);
            assert_string_equal(ev->node.value, value);
            store_event_release(ev);
            store_cache_trim(s);
        }
    }
    assert_int_equal(store_commit_wait(s), 0);
    assert_false(store_commit_busy(s));
    assert_int_equal(store_applied_index(s), applied);
    store_free(s);
}

/* ---- A commit that fails on the commit thread ---- */

static int failing_write(void *be, const engine_map_t *changes, char *err, size_t err_len)
{
    (void)be;
    (void)changes;
    snprintf(err, err_len, "test: the disk is gone");
    return -EIO;
}

/*
 * The memory engine with a write that fails, run as a threaded backend:
 * the failure is reported once the result is taken, the sealed changes
 * stay readable, and every later commit, sync and view fails with it.
 */
static void test_failed_sealed_commit(void **state)
{
    fx_t *f = *state;
    static engine_backend_t failing;
    failing = engine_backend_memory;
    failing.threaded = true;
    failing.write = failing_write;
    f->e->be_ops = &failing;

    engine_batch_t *b = engine_batch_begin(f->e);
    eput(b, "/a", "1");
    engine_meta_t m = meta_at(1);
    assert_int_equal(engine_batch_seal(b, &m), 0);
    assert_true(readable(engine_commit_fd(f->e), 5000));
    assert_int_equal(engine_commit_poll(f->e), -EIO);
    assert_non_null(strstr(engine_errmsg(f->e), "the disk is gone"));
    assert_false(engine_commit_busy(f->e));
    assert_int_equal(engine_meta(f->e)->applied_index, 0);
    assert_string_equal(get(engine_reader(f->e), "/a"), "1");

    assert_int_equal(engine_commit_poll(f->e), -EIO);
    assert_int_equal(engine_commit_wait(f->e), -EIO);
    assert_int_equal(engine_sync(f->e), -EIO);
    assert_null(engine_view_open(f->e));
    b = engine_batch_begin(f->e);
    eput(b, "/b", "2");
    assert_int_equal(engine_batch_seal(b, &m), -EIO);
    b = engine_batch_begin(f->e);
    eput(b, "/b", "2");
    assert_int_equal(engine_batch_commit(b, &m), -EIO);
    /* teardown closes it: the thread stops and the sealed changes go. */
}

#define CASES(i)                                                                                   \
    ON(i, test_reads_through_sealed_batch, setup), ON(i, test_sync_and_view_wait, setup),          \
        ON(i, test_growth_while_sealed, setup_small_map),                                          \
        ON(i, test_store_reads_evicted_nodes, setup)

int main(void)
{
    const struct CMUnitTest tests[] = {
        CASES(0),
        CASES(1),
        CASES(2),
        ON(0, test_failed_sealed_commit, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
