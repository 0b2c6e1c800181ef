/*
 * tests/store/bench_engine.c: a micro benchmark of the storage engines (not
 * a test: it asserts nothing about time). Usage: engine-bench [keys] [dir]
 * (default 200000 keys, a fresh directory under /tmp, removed at the end).
 * For each engine: ns per put (batches of 100 puts, one commit each, with
 * the metadata), ns per random get, the cost of listing a 1000-child
 * directory (children) and of a depth-first walk of it (descendants).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fs.h"
#include "store/engine.h"

#define BATCH    100
#define PER_DIR  1000
#define LISTINGS 200

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t key_of(char *buf, size_t cap, long i)
{
    /* Directories of PER_DIR keys; the key order is not the insertion order. */
    long scrambled = (i * 7919) % 1000003;
    return (size_t)snprintf(buf, cap, "/bench/d%04ld/k%07ld", i / PER_DIR, scrambled);
}

static void die(engine_t *e, const char *what)
{
    fprintf(stderr, "engine-bench: %s: %s\n", what, e ? engine_errmsg(e) : "");
    exit(1);
}

static void run(engine_kind_t kind, const char *root, long n)
{
    char dir[512], err[256];
    snprintf(dir, sizeof(dir), "%s/%s", root, engine_kind_name(kind));
    engine_options_t o = {.kind = kind, .dir = dir};
    engine_t *e;
    if (engine_open(&o, &e, err, sizeof(err))) {
        fprintf(stderr, "engine-bench: %s\n", err);
        exit(1);
    }
    char value[100], key[64];
    memset(value, 'v', sizeof(value));

    double t = now_s();
    engine_batch_t *b = engine_batch_begin(e);
    for (long d = 0; d * PER_DIR < n; d++) { /* the store keeps a key per directory */
        size_t kl = (size_t)snprintf(key, sizeof(key), "/bench/d%04ld", d);
        if (engine_batch_put(b, key, kl, "", 0))
            die(e, "put");
    }
    if (engine_batch_put(b, "/bench", 6, "", 0))
        die(e, "put");
    for (long i = 0; i < n; i++) {
        size_t kl = key_of(key, sizeof(key), i);
        if (engine_batch_put(b, key, kl, value, sizeof(value)))
            die(e, "put");
        if ((i + 1) % BATCH == 0 || i + 1 == n) {
            engine_meta_t meta = {.applied_index = (uint64_t)i + 1, .store_index = (uint64_t)i};
            if (engine_batch_commit(b, &meta))
                die(e, "commit");
            if (i + 1 < n)
                b = engine_batch_begin(e);
        }
    }
    double put_ns = (now_s() - t) * 1e9 / (double)n;
    t = now_s();
    if (engine_sync(e))
        die(e, "sync");
    double sync_ms = (now_s() - t) * 1e3;

    engine_read_t *r = engine_reader(e);
    unsigned long long seed = 88172645463325252ull;
    t = now_s();
    for (long i = 0; i < n; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        size_t kl = key_of(key, sizeof(key), (long)(seed % (unsigned long long)n));
        const uint8_t *v;
        size_t vl;
        if (engine_get(r, key, kl, &v, &vl) != 1)
            die(e, "get");
    }
    double get_ns = (now_s() - t) * 1e9 / (double)n;

    double list_us[2];
    for (int mode = 0; mode < 2; mode++) {
        t = now_s();
        for (int l = 0; l < LISTINGS; l++) {
            engine_iter_t *it;
            engine_item_t item;
            size_t kl = (size_t)snprintf(key, sizeof(key), "/bench/d%04d", l % 10);
            int rc = mode == 0 ? engine_iter_children(r, key, kl, &it)
                               : engine_iter_descendants(r, key, kl, &it);
            if (rc)
                die(e, "iter");
            long count = 0;
            while (engine_iter_next(it, &item) == 1)
                count++;
            engine_iter_free(it);
            if (n >= 10 * PER_DIR && count != PER_DIR)
                die(e, "listing");
        }
        list_us[mode] = (now_s() - t) * 1e6 / LISTINGS;
    }
    printf(
        "%-8s put %7.0f ns  get %6.0f ns  list-1000 %7.1f us  walk-1000 %7.1f us  sync %.1f ms\n",
        engine_kind_name(kind), put_ns, get_ns, list_us[0], list_us[1], sync_ms);
    engine_close(e);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    char root[256];
    bool own = argc <= 2;
    if (own) {
        snprintf(root, sizeof(root), "/tmp/metcd-engine-bench-XXXXXX");
        if (!mkdtemp(root)) {
            perror("mkdtemp");
            return 1;
        }
    } else {
        snprintf(root, sizeof(root), "%s", argv[2]);
    }
    printf("%ld keys of 100 bytes, %d per directory; puts in batches of %d\n", n, PER_DIR, BATCH);
    run(ENGINE_MEMORY, root, n);
    run(ENGINE_LMDB, root, n);
    run(ENGINE_LEVELDB, root, n);
    if (own)
        fs_remove_tree(root, NULL, 0);
    return 0;
}
