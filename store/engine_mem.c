/*
 * store/engine_mem.c: the memory engine, a backend like the others: its
 * state is one skip list (store/engine_skiplist.c) and nothing survives
 * engine_close(). A batch's committed changes move into it by reference
 * (the blobs are shared, not copied). A snapshot is a sorted array of
 * references to the blobs of the moment: O(keys) to take, and then
 * untouched by later commits, which replace blobs instead of editing them.
 *
 * Not threaded (store/engine_commit.c): a write edits the skip list its
 * readers walk, with no lock of its own, so it commits in place; it costs
 * no disk either.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/engine_int.h"
#include "store/store_int.h"

typedef struct mem {
    engine_map_t *map;
} mem_t;

typedef struct mem_snap {
    engine_blob_t **a;
    size_t n;
} mem_snap_t;

typedef struct mem_cursor {
    mem_t *mem;
    mem_snap_t *snap;
    engine_map_node_t *node; /* live */
    size_t i;                /* snapshot */
} mem_cursor_t;

static int mem_open(const engine_options_t *o, void **be, char *err, size_t err_len)
{
    (void)o;
    (void)err;
    (void)err_len;
    mem_t *m = store_xcalloc(1, sizeof(*m));
    m->map = engine_map_new();
    *be = m;
    return 0;
}

static void mem_close(void *be)
{
    mem_t *m = be;
    engine_map_free(m->map);
    free(m);
}

static size_t mem_max_key(void *be)
{
    (void)be;
    return SIZE_MAX;
}

static int mem_write(void *be, const engine_map_t *changes, char *err, size_t err_len)
{
    (void)err;
    (void)err_len;
    mem_t *m = be;
    for (engine_map_node_t *n = engine_map_seek(changes, NULL, 0); n; n = n->next[0]) {
        if (n->blob->tomb)
            engine_map_remove(m->map, engine_blob_key(n->blob), n->blob->klen);
        else
            engine_map_put(m->map, engine_blob_retain(n->blob));
    }
    return 0;
}

static int mem_sync(void *be, char *err, size_t err_len)
{
    (void)be;
    (void)err;
    (void)err_len;
    return 0;
}

/* The first index of s with a key >= k. */
static size_t snap_lower_bound(const mem_snap_t *s, const uint8_t *k, size_t kl)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const engine_blob_t *b = s->a[mid];
        if (engine_key_cmp(engine_blob_key(b), b->klen, k, kl) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int mem_get(void *be, void *snap, const uint8_t *k, size_t kl, const uint8_t **v, size_t *vl)
{
    mem_t *m = be;
    const engine_blob_t *b = NULL;
    if (snap) {
        mem_snap_t *s = snap;
        size_t i = snap_lower_bound(s, k, kl);
        if (i < s->n && engine_key_cmp(engine_blob_key(s->a[i]), s->a[i]->klen, k, kl) == 0)
            b = s->a[i];
    } else {
        engine_map_node_t *n = engine_map_find(m->map, k, kl);
        b = n ? n->blob : NULL;
    }
    if (!b)
        return 0;
    *v = engine_blob_value(b);
    *vl = b->vlen;
    return 1;
}

static void *mem_snap_open(void *be)
{
    mem_t *m = be;
    mem_snap_t *s = store_xcalloc(1, sizeof(*s));
    s->a = store_xmalloc((engine_map_count(m->map) + 1) * sizeof(s->a[0]));
    for (engine_map_node_t *n = engine_map_seek(m->map, NULL, 0); n; n = n->next[0])
        s->a[s->n++] = engine_blob_retain(n->blob);
    return s;
}

static void mem_snap_close(void *be, void *snap)
{
    (void)be;
    mem_snap_t *s = snap;
    for (size_t i = 0; i < s->n; i++)
        engine_blob_release(s->a[i]);
    free(s->a);
    free(s);
}

static void *mem_cursor_open(void *be, void *snap)
{
    mem_cursor_t *c = store_xcalloc(1, sizeof(*c));
    c->mem = be;
    c->snap = snap;
    c->i = SIZE_MAX;
    return c;
}

static void mem_cursor_close(void *cur)
{
    free(cur);
}

static void mem_cursor_seek(void *cur, const uint8_t *k, size_t kl)
{
    mem_cursor_t *c = cur;
    if (c->snap)
        c->i = snap_lower_bound(c->snap, k, kl);
    else
        c->node = engine_map_seek(c->mem->map, k, kl);
}

static void mem_cursor_next(void *cur)
{
    mem_cursor_t *c = cur;
    if (c->snap)
        c->i++;
    else if (c->node)
        c->node = c->node->next[0];
}

static bool mem_cursor_get(void *cur, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl)
{
    mem_cursor_t *c = cur;
    const engine_blob_t *b;
    if (c->snap)
        b = c->i < c->snap->n ? c->snap->a[c->i] : NULL;
    else
        b = c->node ? c->node->blob : NULL;
    if (!b)
        return false;
    *k = engine_blob_key(b);
    *kl = b->klen;
    *v = engine_blob_value(b);
    *vl = b->vlen;
    return true;
}

static bool mem_cursor_failed(void *cur)
{
    (void)cur;
    return false;
}

static void mem_settings(void *be, char *out, size_t len)
{
    (void)be;
    snprintf(out, len, "a skip list in memory");
}

const engine_backend_t engine_backend_memory = {
    .name = "memory",
    .open = mem_open,
    .close = mem_close,
    .max_key = mem_max_key,
    .write = mem_write,
    .sync = mem_sync,
    .get = mem_get,
    .snap_open = mem_snap_open,
    .snap_close = mem_snap_close,
    .cursor_open = mem_cursor_open,
    .cursor_close = mem_cursor_close,
    .cursor_seek = mem_cursor_seek,
    .cursor_next = mem_cursor_next,
    .cursor_get = mem_cursor_get,
    .cursor_failed = mem_cursor_failed,
    .settings = mem_settings,
};
