/*
 * store/engine_iter.c: cursors and listings over a reader.
 *
 * A cursor merges the backend's cursor with the pending changes above it:
 * the open batch's and those of a batch being committed on the commit
 * thread (engine_commit.c). A newer change wins over an older one and over
 * the backend's pair with the same key; a tombstone hides it. So a batch
 * lists what it has written, and a commit in flight is seen before the
 * backend holds it.
 *
 * Listings are ranges of the keyspace of store/engine_key.c: children are
 * one range; descendants are walked depth first, a directory's children
 * range read in order with one seek into each child's own range and one
 * seek back; a subtree is one range read in key order, without a seek per
 * node.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/engine_int.h"
#include "store/store_int.h"

/* ---- Merged cursors ---- */

void engine_cursor_open(engine_cursor_t *c, engine_read_t *r)
{
    engine_t *e = r->engine;
    *c = (engine_cursor_t){.ops = e->be_ops, .layers = {r->changes, engine_sealed_for(r)}};
    c->cur = e->be_ops->cursor_open(e->be, r->snap);
    if (!c->cur) {
        /* Only running out of memory gets here (LMDB: mdb_cursor_open). */
        fprintf(stderr, "metcd: %s: cannot open a cursor\n", e->be_ops->name);
        abort();
    }
}

void engine_cursor_close(engine_cursor_t *c)
{
    if (c->cur)
        c->ops->cursor_close(c->cur);
    c->cur = NULL;
}

/*
 * Positions c on the first visible pair at or after every source's
 * position: the smallest key among the backend and the layers, taken from
 * the newest source that holds it. Every source at that key steps past it
 * together, so an older pair under a newer change is never seen.
 */
static void settle(engine_cursor_t *c)
{
    for (;;) {
        const uint8_t *bk = NULL, *bv = NULL;
        size_t bkl = 0, bvl = 0;
        bool have_be = c->ops->cursor_get(c->cur, &bk, &bkl, &bv, &bvl);
        const engine_blob_t *top = NULL; /* the newest change at the smallest key */
        for (int i = 0; i < ENGINE_LAYERS; i++) {
            const engine_blob_t *b = c->ch[i] ? c->ch[i]->blob : NULL;
            if (b && (!top || engine_key_cmp(engine_blob_key(b), b->klen, engine_blob_key(top),
                                             top->klen) < 0))
                top = b;
        }
        if (!have_be && !top) {
            c->valid = false;
            return;
        }
        int cmp = !have_be ? 1
                  : !top   ? -1
                           : engine_key_cmp(bk, bkl, engine_blob_key(top), top->klen);
        if (cmp < 0) {
            c->from_be = true;
            for (int i = 0; i < ENGINE_LAYERS; i++)
                c->from_ch[i] = false;
            c->k = bk, c->kl = bkl, c->v = bv, c->vl = bvl;
            c->valid = true;
            return;
        }
        c->from_be = cmp == 0;
        for (int i = 0; i < ENGINE_LAYERS; i++) {
            const engine_blob_t *b = c->ch[i] ? c->ch[i]->blob : NULL;
            c->from_ch[i] = b && engine_key_cmp(engine_blob_key(b), b->klen, engine_blob_key(top),
                                                top->klen) == 0;
        }
        if (top->tomb) {
            if (c->from_be)
                c->ops->cursor_next(c->cur);
            for (int i = 0; i < ENGINE_LAYERS; i++)
                if (c->from_ch[i])
                    c->ch[i] = c->ch[i]->next[0];
            continue;
        }
        c->k = engine_blob_key(top), c->kl = top->klen;
        c->v = engine_blob_value(top), c->vl = top->vlen;
        c->valid = true;
        return;
    }
}

void engine_cursor_seek(engine_cursor_t *c, const uint8_t *k, size_t kl)
{
    c->ops->cursor_seek(c->cur, k, kl);
    for (int i = 0; i < ENGINE_LAYERS; i++)
        c->ch[i] = c->layers[i] ? engine_map_seek(c->layers[i], k, kl) : NULL;
    settle(c);
}

void engine_cursor_next(engine_cursor_t *c)
{
    if (!c->valid)
        return;
    if (c->from_be)
        c->ops->cursor_next(c->cur);
    for (int i = 0; i < ENGINE_LAYERS; i++)
        if (c->from_ch[i])
            c->ch[i] = c->ch[i]->next[0];
    settle(c);
}

/* ---- Iterators ---- */

typedef enum { IT_CHILDREN, IT_DESCENDANTS, IT_SUBTREE, IT_DUE, IT_RAW } iter_kind_t;

/* A directory being walked: its children prefix, and where to go on in it. */
typedef struct frame {
    engine_buf_t prefix, resume;
} frame_t;

struct engine_iter {
    engine_t *engine;
    iter_kind_t kind;
    bool live; /* over the committed state or a batch: counted in live_iters */
    bool started;
    engine_cursor_t cur;
    engine_buf_t path;
    int64_t until_ns;
    /* children: frames[0].prefix. descendants: the stack, n_frames deep. */
    frame_t *frames;
    size_t n_frames, cap_frames;
    engine_buf_t pending; /* descendants: the key to descend into next */
    bool has_pending;
};

static engine_iter_t *iter_new(engine_read_t *r, iter_kind_t kind)
{
    engine_iter_t *it = store_xcalloc(1, sizeof(*it));
    it->engine = r->engine;
    it->kind = kind;
    it->live = r->snap == NULL;
    if (it->live)
        r->engine->live_iters++;
    engine_cursor_open(&it->cur, r);
    return it;
}

static frame_t *push_frame(engine_iter_t *it)
{
    if (it->n_frames == it->cap_frames) {
        size_t cap = it->cap_frames ? 2 * it->cap_frames : 8;
        it->frames = store_xrealloc(it->frames, cap * sizeof(*it->frames));
        memset(it->frames + it->cap_frames, 0, (cap - it->cap_frames) * sizeof(*it->frames));
        it->cap_frames = cap;
    }
    frame_t *f = &it->frames[it->n_frames++];
    f->prefix.len = 0;
    f->resume.len = 0;
    return f;
}

static int start_dir(engine_read_t *r, iter_kind_t kind, const char *path, size_t len,
                     engine_iter_t **out)
{
    if (engine_path_check(path, len)) {
        engine_set_error(r->engine, "not a path: \"%.*s\"", (int)(len > 200 ? 200 : len), path);
        return -EINVAL;
    }
    engine_iter_t *it = iter_new(r, kind);
    frame_t *f = push_frame(it);
    engine_buf_byte(&f->prefix, ENGINE_TABLE_DATA);
    engine_key_children_prefix(&f->prefix, path, len);
    *out = it;
    return 0;
}

int engine_iter_children(engine_read_t *r, const char *path, size_t path_len, engine_iter_t **out)
{
    return start_dir(r, IT_CHILDREN, path, path_len, out);
}

int engine_iter_descendants(engine_read_t *r, const char *path, size_t path_len,
                            engine_iter_t **out)
{
    return start_dir(r, IT_DESCENDANTS, path, path_len, out);
}

int engine_iter_subtree(engine_read_t *r, const char *path, size_t path_len, engine_iter_t **out)
{
    return start_dir(r, IT_SUBTREE, path, path_len, out);
}

int engine_iter_due(engine_read_t *r, int64_t until_ns, engine_iter_t **out)
{
    engine_iter_t *it = iter_new(r, IT_DUE);
    it->until_ns = until_ns;
    *out = it;
    return 0;
}

int engine_iter_raw(engine_read_t *r, engine_iter_t **out)
{
    *out = iter_new(r, IT_RAW);
    return 0;
}

static bool has_prefix(const engine_cursor_t *c, const engine_buf_t *p)
{
    return c->valid && c->kl >= p->len && memcmp(c->k, p->p, p->len) == 0;
}

static int yield_path(engine_iter_t *it, engine_item_t *item, const uint8_t *key, size_t len)
{
    if (engine_key_decode(&it->path, key, len)) {
        engine_set_error(it->engine, "%s: a damaged key in the data", it->engine->be_ops->name);
        return -EIO;
    }
    item->path = (const char *)it->path.p;
    item->path_len = it->path.len;
    return 1;
}

/* The first call seeks to the first key >= start; the next ones step on. */
static void advance(engine_iter_t *it, const uint8_t *start, size_t start_len)
{
    if (!it->started)
        engine_cursor_seek(&it->cur, start, start_len);
    else
        engine_cursor_next(&it->cur);
    it->started = true;
}

static int next_children(engine_iter_t *it, engine_item_t *item)
{
    const engine_buf_t *prefix = &it->frames[0].prefix;
    advance(it, prefix->p, prefix->len);
    if (!has_prefix(&it->cur, prefix))
        return 0;
    item->value = it->cur.v;
    item->value_len = it->cur.vl;
    item->depth = 1;
    return yield_path(it, item, it->cur.k + 1, it->cur.kl - 1);
}

static int next_descendants(engine_iter_t *it, engine_item_t *item)
{
    if (!it->started) {
        it->started = true;
        engine_cursor_seek(&it->cur, it->frames[0].prefix.p, it->frames[0].prefix.len);
    } else if (it->has_pending) {
        /* Go into the node yielded last: its children's prefix is its own key
         * with the parent's final ENGINE_KEY_LAST made ENGINE_KEY_INNER, plus
         * ENGINE_KEY_LAST. Come back to the smallest key after it. */
        it->has_pending = false;
        size_t at = it->frames[it->n_frames - 1].prefix.len - 1;
        frame_t *top = &it->frames[it->n_frames - 1];
        top->resume.len = 0;
        engine_buf_add(&top->resume, it->pending.p, it->pending.len);
        engine_buf_byte(&top->resume, 0);
        frame_t *f = push_frame(it);
        engine_buf_add(&f->prefix, it->pending.p, it->pending.len);
        f->prefix.p[at] = ENGINE_KEY_INNER;
        engine_buf_byte(&f->prefix, ENGINE_KEY_LAST);
        engine_cursor_seek(&it->cur, f->prefix.p, f->prefix.len);
    }
    while (it->n_frames > 0) {
        frame_t *top = &it->frames[it->n_frames - 1];
        if (has_prefix(&it->cur, &top->prefix)) {
            it->pending.len = 0;
            engine_buf_add(&it->pending, it->cur.k, it->cur.kl);
            it->has_pending = true;
            item->value = it->cur.v;
            item->value_len = it->cur.vl;
            item->depth = (unsigned)it->n_frames;
            return yield_path(it, item, it->cur.k + 1, it->cur.kl - 1);
        }
        if (--it->n_frames == 0)
            break;
        top = &it->frames[it->n_frames - 1];
        engine_cursor_seek(&it->cur, top->resume.p, top->resume.len);
    }
    return 0;
}

/*
 * The subtree of a directory is the range of keys that start with its
 * children prefix, the last byte of which is ENGINE_KEY_LAST (a child) or
 * ENGINE_KEY_INNER (deeper): [prefix, prefix with its last byte + 2). A
 * parent's key (P, LAST, name) sorts before its children's (P, INNER, name,
 * ...), so the range yields every parent before its children.
 */
static int next_subtree(engine_iter_t *it, engine_item_t *item)
{
    const engine_buf_t *prefix = &it->frames[0].prefix;
    advance(it, prefix->p, prefix->len);
    const engine_cursor_t *c = &it->cur;
    size_t at = prefix->len - 1;
    if (!c->valid || c->kl <= prefix->len || memcmp(c->k, prefix->p, at) != 0 ||
        (c->k[at] != ENGINE_KEY_LAST && c->k[at] != ENGINE_KEY_INNER))
        return 0;
    item->value = c->v;
    item->value_len = c->vl;
    return yield_path(it, item, c->k + 1, c->kl - 1);
}

static int next_due(engine_iter_t *it, engine_item_t *item)
{
    static const uint8_t table = ENGINE_TABLE_TTL;
    advance(it, &table, 1);
    const engine_cursor_t *c = &it->cur;
    if (!c->valid || c->kl < 1 + 8 + 2 || c->k[0] != ENGINE_TABLE_TTL)
        return 0;
    int64_t deadline = engine_key_get_deadline(c->k + 1);
    if (deadline > it->until_ns)
        return 0;
    item->deadline_ns = deadline;
    return yield_path(it, item, c->k + 9, c->kl - 9);
}

static int next_raw(engine_iter_t *it, engine_item_t *item)
{
    advance(it, NULL, 0);
    if (!it->cur.valid)
        return 0;
    item->raw_key = it->cur.k;
    item->raw_key_len = it->cur.kl;
    item->value = it->cur.v;
    item->value_len = it->cur.vl;
    return 1;
}

static int next_item(engine_iter_t *it, engine_item_t *item)
{
    switch (it->kind) {
    case IT_CHILDREN:
        return next_children(it, item);
    case IT_DESCENDANTS:
        return next_descendants(it, item);
    case IT_SUBTREE:
        return next_subtree(it, item);
    case IT_DUE:
        return next_due(it, item);
    case IT_RAW:
        return next_raw(it, item);
    }
    return -EINVAL;
}

int engine_iter_next(engine_iter_t *it, engine_item_t *item)
{
    *item = (engine_item_t){0};
    int rc = next_item(it, item);
    /* A listing cut short by a read error must not pass for a short one. */
    if (rc == 0 && it->cur.ops->cursor_failed(it->cur.cur)) {
        engine_set_error(it->engine, "%s: a read failed during a listing",
                         it->engine->be_ops->name);
        return -EIO;
    }
    return rc;
}

void engine_iter_free(engine_iter_t *it)
{
    if (!it)
        return;
    if (it->live) {
        assert(it->engine->live_iters > 0);
        it->engine->live_iters--;
    }
    engine_cursor_close(&it->cur);
    for (size_t i = 0; i < it->cap_frames; i++) {
        engine_buf_free(&it->frames[i].prefix);
        engine_buf_free(&it->frames[i].resume);
    }
    free(it->frames);
    engine_buf_free(&it->path);
    engine_buf_free(&it->pending);
    free(it);
}
