/*
 * tests/store/bench_store.c: a micro benchmark of the store (not a test: it
 * asserts nothing about time). Usage:
 *     store-bench [keys [memory|lmdb|leveldb [cache nodes]]]
 * (default 1000000 keys, no engine). Prints ns per set and per get, the
 * cost of a sorted recursive listing of 1000 keys, heap bytes per key, and
 * heap bytes per idle watcher. With an engine, the keys are written to it
 * (in a temporary directory, removed after) before the gets, which then
 * run through a cache of `cache nodes` (default 262144) as a member's do.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "common/fs.h"
#include "store/engine.h"
#include "store/store_int.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static void set_key(store_t *s, const char *key, const char *value, size_t value_len)
{
    store_request_t r = {.op = STORE_OP_SET,
                         .time_ns = 1700000000000000000LL,
                         .key = key,
                         .key_len = strlen(key),
                         .value = value,
                         .value_len = value_len};
    uint8_t *buf;
    size_t len;
    if (store_request_encode(&r, &buf, &len) || store_apply(s, buf, len, NULL, NULL)) {
        fprintf(stderr, "set failed\n");
        exit(1);
    }
    free(buf);
}

/* Moves s onto a new engine of that kind in a temporary directory (dir). */
static void attach_engine(store_t *s, const char *kind, size_t cache, char dir[64])
{
    engine_kind_t k = strcmp(kind, "lmdb") == 0      ? ENGINE_LMDB
                      : strcmp(kind, "leveldb") == 0 ? ENGINE_LEVELDB
                                                     : ENGINE_MEMORY;
    snprintf(dir, 64, "/tmp/metcd-store-bench-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    engine_options_t o = {.kind = k, .dir = dir};
    engine_t *e = NULL;
    char err[256] = "";
    if (engine_open(&o, &e, err, sizeof(err)) || store_engine_rewrite(s, e, 1)) {
        fprintf(stderr, "engine %s: %s\n", kind, err);
        exit(1);
    }
    s->cache_cap = cache;
    store_cache_trim(s);
}

/* One get of a key that exists (a function of its own, so that a profiler
 * can count the gets apart: valgrind --toggle-collect=get_one). */
__attribute__((noinline)) static void get_one(store_t *s, const char *key)
{
    store_event_t *ev;
    if (store_get(s, key, strlen(key), false, false, 0, &ev, NULL)) {
        fprintf(stderr, "get failed\n");
        exit(1);
    }
    store_event_release(ev);
}

static void noop_cb(void *ctx, store_event_t *ev)
{
    (void)ctx;
    (void)ev;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    char value[100];
    memset(value, 'v', sizeof(value));
    char key[64];
    size_t heap0 = heap_used();
    store_t *s = store_new(NULL);

    double t = now_s();
    for (long i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "/bench/%ld", i);
        set_key(s, key, value, sizeof(value));
    }
    double set_s = now_s() - t;
    size_t heap1 = heap_used();
    char dir[64] = "";
    if (argc > 2)
        attach_engine(s, argv[2], argc > 3 ? (size_t)atol(argv[3]) : 262144, dir);

    t = now_s();
    for (long i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "/bench/%ld", (i * 7919) % n);
        get_one(s, key);
    }
    double get_s = now_s() - t;

    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "/list/%d", (i * 7919) % 1000);
        set_key(s, key, value, sizeof(value));
    }
    int reps = 200;
    t = now_s();
    for (int i = 0; i < reps; i++) {
        store_event_t *ev;
        store_get(s, "/list", 5, true, true, 0, &ev, NULL);
        store_event_release(ev);
        /* disturb the order again so every listing sorts */
        set_key(s, "/list/000", value, 1);
    }
    double list_s = (now_s() - t) / reps;

    size_t heap2 = heap_used();
    enum { W = 10000 };
    static store_watcher_t *ws[W];
    for (int i = 0; i < W; i++) {
        snprintf(key, sizeof(key), "/bench/%d", i % 1000);
        store_watch(s, key, strlen(key), false, true, 0, noop_cb, NULL, &ws[i], NULL);
    }
    size_t heap3 = heap_used();
    for (int i = 0; i < W; i++)
        store_watcher_remove(s, ws[i]);

    printf("keys: %ld (100-byte values)%s%s\n", n, argc > 2 ? ", gets on " : "",
           argc > 2 ? argv[2] : "");
    printf("set (encode+apply): %.0f ns/op\n", set_s / (double)n * 1e9);
    printf("get (one key):      %.0f ns/op\n", get_s / (double)n * 1e9);
    printf("sorted recursive listing of 1000 keys: %.1f us\n", list_s * 1e6);
    printf("heap per key:       %.0f bytes\n", (double)(heap1 - heap0) / (double)n);
    printf("heap per idle watcher (10000 on 1000 paths): %.0f bytes\n",
           (double)(heap3 - heap2) / W);
    store_free(s);
    if (dir[0])
        fs_remove_tree(dir, NULL, 0);
    return 0;
}
