/*
 * tests/store/engine_fixture.h: the fixture the engine tests share: one
 * engine of each kind (memory, LMDB, LevelDB) in a fresh temporary
 * directory, opened before each case and removed after it, and reading a
 * path's value as a string.
 */
#ifndef METCD_TESTS_STORE_ENGINE_FIXTURE_H
#define METCD_TESTS_STORE_ENGINE_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "store/engine.h"

typedef struct fx {
    engine_kind_t kind;
    char root[64];
    char dir[96];
    engine_t *e;
    engine_options_t opts;
} fx_t;

static const engine_kind_t kinds[] = {ENGINE_MEMORY, ENGINE_LMDB, ENGINE_LEVELDB};

static inline void open_engine(fx_t *f)
{
    char err[256] = "";
    int rc = engine_open(&f->opts, &f->e, err, sizeof(err));
    if (rc)
        fail_msg("engine_open(%s): %d %s", engine_kind_name(f->kind), rc, err);
}

/* *state: the engine kind; becomes the fixture (freed by teardown). */
static inline int setup_opts(void **state, size_t lmdb_map_size)
{
    fx_t *f = calloc(1, sizeof(*f));
    f->kind = *(const engine_kind_t *)*state;
    snprintf(f->root, sizeof(f->root), "/tmp/metcd-engine-XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/db", f->root);
    f->opts = (engine_options_t){.kind = f->kind, .dir = f->dir, .lmdb_map_size = lmdb_map_size};
    open_engine(f);
    *state = f;
    return 0;
}

static inline int setup(void **state)
{
    return setup_opts(state, 0);
}

/* LMDB from a 128 KiB map, so that a few commits must grow it. */
static inline int setup_small_map(void **state)
{
    return setup_opts(state, 128 << 10);
}

static inline int teardown(void **state)
{
    fx_t *f = *state;
    engine_close(f->e);
    fs_remove_tree(f->root, NULL, 0);
    free(f);
    return 0;
}

/* The value of path as a string ("" when empty), or "<absent>". Static buffer. */
static inline const char *get(engine_read_t *r, const char *path)
{
    static char buf[2048];
    const uint8_t *v;
    size_t vl;
    int rc = engine_get(r, path, strlen(path), &v, &vl);
    assert_true(rc == 0 || rc == 1);
    if (rc == 0)
        return "<absent>";
    assert_true(vl < sizeof(buf));
    memcpy(buf, v, vl);
    buf[vl] = 0;
    return buf;
}

/* A case on one engine (index into kinds), named after both. */
#define ON(kind_index, fn, su)                                                                     \
    {                                                                                              \
        (kind_index) == 0   ? "memory: " #fn                                                       \
        : (kind_index) == 1 ? "lmdb: " #fn                                                         \
                            : "leveldb: " #fn,                                                     \
            fn, su, teardown, (void *)&kinds[kind_index]                                           \
    }

#endif /* METCD_TESTS_STORE_ENGINE_FIXTURE_H */
