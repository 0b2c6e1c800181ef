/*
 * store/engine.c: the engine interface of store/engine.h on top of a
 * backend (store/engine_int.h): opening, the metadata record, batches,
 * views and point reads. Listings are in store/engine_iter.c.
 *
 * A batch's changes live in a skip list until commit, where the backend
 * writes them in one atomic step together with the metadata record. Keeping
 * them here, not in a backend transaction, gives every backend the same
 * read-your-writes within a batch (a LevelDB WriteBatch cannot be read),
 * lets the LMDB backend rerun a write that hit MDB_MAP_FULL, costs no
 * open write transaction while a Ready is being applied, and lets a sealed
 * batch be read while the commit thread writes it (store/engine_commit.c).
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/endian.h"
#include "store/engine_int.h"
#include "store/store_int.h"

#define META_VERSION 1
#define META_FIXED   (1 + 8 + 8 + 8) /* version, applied, store index, time */

static const uint8_t meta_key[] = {ENGINE_TABLE_META, 'm', 'e', 't', 'a'};

const char *engine_kind_name(engine_kind_t kind)
{
    switch (kind) {
    case ENGINE_MEMORY:
        return "memory";
    case ENGINE_LMDB:
        return "lmdb";
    case ENGINE_LEVELDB:
        return "leveldb";
    }
    return NULL;
}

static const engine_backend_t *backend_of(engine_kind_t kind)
{
    switch (kind) {
    case ENGINE_MEMORY:
        return &engine_backend_memory;
    case ENGINE_LMDB:
        return &engine_backend_lmdb;
    case ENGINE_LEVELDB:
        return &engine_backend_leveldb;
    }
    return NULL;
}

void engine_set_error(engine_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->errmsg, sizeof(e->errmsg), fmt, ap);
    va_end(ap);
}

void engine_keep_meta(engine_t *e, const engine_meta_t *m)
{
    free(e->meta_stats);
    e->meta_stats = NULL;
    e->meta = *m;
    if (m->stats_len) {
        e->meta_stats = store_xmalloc(m->stats_len);
        memcpy(e->meta_stats, m->stats, m->stats_len);
    }
    e->meta.stats = e->meta_stats;
}

static int read_meta(engine_t *e)
{
    const uint8_t *v;
    size_t vl;
    int rc = e->be_ops->get(e->be, NULL, meta_key, sizeof(meta_key), &v, &vl);
    if (rc <= 0)
        return rc;
    if (vl < META_FIXED || v[0] != META_VERSION) {
        engine_set_error(e, "%s: the metadata record is damaged or of an unknown version",
                         e->be_ops->name);
        return -EIO;
    }
    engine_meta_t m = {.applied_index = le_get64(v + 1),
                       .store_index = le_get64(v + 9),
                       .last_request_ns = (int64_t)le_get64(v + 17),
                       .stats = v + META_FIXED,
                       .stats_len = vl - META_FIXED};
    engine_keep_meta(e, &m);
    return 0;
}

int engine_open(const engine_options_t *opts, engine_t **out, char *err, size_t err_len)
{
    char local[256];
    if (!err) {
        err = local;
        err_len = sizeof(local);
    }
    const engine_backend_t *ops = backend_of(opts->kind);
    if (!ops) {
        snprintf(err, err_len, "unknown engine kind %d", (int)opts->kind);
        return -EINVAL;
    }
    engine_t *e = store_xcalloc(1, sizeof(*e));
    e->be_ops = ops;
    e->kind = opts->kind;
    e->reader = (engine_read_t){.engine = e};
    int rc = ops->open(opts, &e->be, err, err_len);
    if (rc) {
        free(e);
        return rc;
    }
    e->max_key = ops->max_key(e->be);
    if ((rc = read_meta(e))) {
        snprintf(err, err_len, "%s", e->errmsg);
        engine_close(e);
        return rc;
    }
    *out = e;
    return 0;
}

void engine_close(engine_t *e)
{
    if (!e)
        return;
    assert(!e->batch && e->views == 0 && e->live_iters == 0);
    /* A commit in flight ends first; its failure no longer matters to
     * anyone (closing does not sync either). */
    engine_commit_wait(e);
    engine_commit_stop(e);
    e->be_ops->close(e->be);
    engine_buf_free(&e->scratch);
    free(e->meta_stats);
    free(e);
}

const char *engine_settings(engine_t *e)
{
    e->be_ops->settings(e->be, e->settings, sizeof(e->settings));
    return e->settings;
}

engine_kind_t engine_kind(const engine_t *e)
{
    return e->kind;
}

const char *engine_errmsg(const engine_t *e)
{
    return e->errmsg;
}

const engine_meta_t *engine_meta(const engine_t *e)
{
    return &e->meta;
}

int engine_sync(engine_t *e)
{
    int rc = engine_commit_wait(e); /* every commit so far: the one in flight too */
    return rc ? rc : e->be_ops->sync(e->be, e->errmsg, sizeof(e->errmsg));
}

/* ---- Batches ---- */

engine_batch_t *engine_batch_begin(engine_t *e)
{
    assert(!e->batch); /* one Ready at a time */
    engine_batch_t *b = store_xcalloc(1, sizeof(*b));
    b->engine = e;
    b->changes = engine_map_new();
    b->reader = (engine_read_t){.engine = e, .changes = b->changes};
    e->batch = b;
    return b;
}

static void batch_free(engine_batch_t *b)
{
    b->engine->batch = NULL;
    engine_map_free(b->changes);
    free(b);
}

/* Builds table + path key in e->scratch. */
static int make_key(engine_t *e, uint8_t table, const int64_t *deadline, const char *path,
                    size_t len)
{
    if (engine_path_check(path, len) || len == 1) {
        engine_set_error(e, "not a path to a key: \"%.*s\"", (int)(len > 200 ? 200 : len), path);
        return -EINVAL;
    }
    e->scratch.len = 0;
    engine_buf_byte(&e->scratch, table);
    if (deadline) {
        engine_buf_reserve(&e->scratch, 8);
        engine_key_put_deadline(e->scratch.p + e->scratch.len, *deadline);
        e->scratch.len += 8;
    }
    engine_key_append(&e->scratch, path, len);
    if (e->scratch.len > e->max_key) {
        engine_set_error(e, "%s: key of %zu bytes is longer than the %zu the engine stores",
                         e->be_ops->name, e->scratch.len, e->max_key);
        return -ENAMETOOLONG;
    }
    return 0;
}

int engine_path_fits(engine_t *e, const char *path, size_t len)
{
    return make_key(e, ENGINE_TABLE_DATA, NULL, path, len);
}

static void change(engine_batch_t *b, const engine_buf_t *key, const void *v, size_t vl, bool tomb)
{
    assert(b->engine->live_iters == 0); /* iterators hold pointers into the changes */
    engine_map_put(b->changes, engine_blob_new(key->p, key->len, v, vl, tomb));
}

int engine_batch_put(engine_batch_t *b, const char *path, size_t path_len, const void *value,
                     size_t value_len)
{
    int rc = make_key(b->engine, ENGINE_TABLE_DATA, NULL, path, path_len);
    if (rc)
        return rc;
    change(b, &b->engine->scratch, value, value_len, false);
    return 0;
}

int engine_batch_delete(engine_batch_t *b, const char *path, size_t path_len)
{
    int rc = make_key(b->engine, ENGINE_TABLE_DATA, NULL, path, path_len);
    if (rc)
        return rc;
    change(b, &b->engine->scratch, NULL, 0, true);
    return 0;
}

int engine_batch_delete_subtree(engine_batch_t *b, const char *path, size_t path_len)
{
    engine_t *e = b->engine;
    if (engine_path_check(path, path_len)) {
        engine_set_error(e, "not a path: \"%.*s\"", (int)(path_len > 200 ? 200 : path_len), path);
        return -EINVAL;
    }
    /* The subtree is [E(path) 0x00, E(path) 0x02) (store/engine_key.c), plus
     * path's own key. Keys are gathered first: the cursor reads the changes
     * that the tombstones would replace. */
    engine_buf_t lo = {0}, keys = {0};
    engine_buf_byte(&lo, ENGINE_TABLE_DATA);
    engine_key_children_prefix(&lo, path, path_len);
    engine_cursor_t c;
    engine_cursor_open(&c, &b->reader);
    int count = 0;
    if (path_len > 1) {
        engine_buf_t own = {0};
        engine_buf_byte(&own, ENGINE_TABLE_DATA);
        engine_key_append(&own, path, path_len);
        engine_cursor_seek(&c, own.p, own.len);
        if (c.valid && engine_key_cmp(c.k, c.kl, own.p, own.len) == 0) {
            engine_buf_add(&keys, &own.len, sizeof(own.len));
            engine_buf_add(&keys, own.p, own.len);
            count++;
        }
        engine_buf_free(&own);
    }
    size_t plen = lo.len - 1; /* the bytes before the final ENGINE_KEY_LAST */
    for (engine_cursor_seek(&c, lo.p, lo.len); c.valid; engine_cursor_next(&c)) {
        if (c.kl <= plen || memcmp(c.k, lo.p, plen) != 0 || c.k[plen] > ENGINE_KEY_INNER)
            break;
        engine_buf_add(&keys, &c.kl, sizeof(c.kl));
        engine_buf_add(&keys, c.k, c.kl);
        count++;
    }
    engine_cursor_close(&c);
    for (size_t off = 0; off < keys.len;) {
        size_t kl;
        memcpy(&kl, keys.p + off, sizeof(kl));
        off += sizeof(kl);
        engine_map_put(b->changes, engine_blob_new(keys.p + off, kl, NULL, 0, true));
        off += kl;
    }
    engine_buf_free(&keys);
    engine_buf_free(&lo);
    return count;
}

int engine_batch_ttl_add(engine_batch_t *b, int64_t deadline_ns, const char *path, size_t path_len)
{
    int rc = make_key(b->engine, ENGINE_TABLE_TTL, &deadline_ns, path, path_len);
    if (rc)
        return rc;
    change(b, &b->engine->scratch, NULL, 0, false);
    return 0;
}

int engine_batch_ttl_remove(engine_batch_t *b, int64_t deadline_ns, const char *path,
                            size_t path_len)
{
    int rc = make_key(b->engine, ENGINE_TABLE_TTL, &deadline_ns, path, path_len);
    if (rc)
        return rc;
    change(b, &b->engine->scratch, NULL, 0, true);
    return 0;
}

/* Puts meta's record into the batch's changes: written in the same step. */
static void add_meta_record(engine_batch_t *b, const engine_meta_t *meta)
{
    engine_buf_t rec = {0};
    engine_buf_reserve(&rec, META_FIXED + meta->stats_len);
    rec.p[0] = META_VERSION;
    le_put64(rec.p + 1, meta->applied_index);
    le_put64(rec.p + 9, meta->store_index);
    le_put64(rec.p + 17, (uint64_t)meta->last_request_ns);
    rec.len = META_FIXED;
    engine_buf_add(&rec, meta->stats, meta->stats_len);
    engine_map_put(b->changes, engine_blob_new(meta_key, sizeof(meta_key), rec.p, rec.len, false));
    engine_buf_free(&rec);
}

int engine_batch_commit(engine_batch_t *b, const engine_meta_t *meta)
{
    engine_t *e = b->engine;
    assert(e->live_iters == 0); /* a commit moves what they point into */
    /* After the commit in flight, if any: commits are written in order. */
    int rc = engine_commit_wait(e);
    if (rc == 0) {
        add_meta_record(b, meta);
        rc = engine_write_now(e, b->changes);
    }
    if (rc == 0)
        engine_keep_meta(e, meta);
    batch_free(b);
    return rc;
}

int engine_batch_seal(engine_batch_t *b, const engine_meta_t *meta)
{
    engine_t *e = b->engine;
    if (!e->be_ops->threaded)
        return engine_batch_commit(b, meta);
    assert(e->live_iters == 0);     /* the batch's changes move to the commit thread */
    int rc = engine_commit_wait(e); /* one sealed batch at a time */
    if (rc == 0) {
        add_meta_record(b, meta);
        rc = engine_commit_post(e, b->changes, meta);
    }
    if (rc == 0)
        b->changes = NULL; /* the engine's now, as e->sealed */
    batch_free(b);
    return rc;
}

void engine_batch_abort(engine_batch_t *b)
{
    if (b)
        batch_free(b);
}

/* ---- Views and readers ---- */

engine_view_t *engine_view_open(engine_t *e)
{
    /* The committed state includes a commit in flight: a view waits for it
     * (reads of the committed state see it through e->sealed, a view only
     * sees the backend). */
    if (engine_commit_wait(e) != 0)
        return NULL;
    void *snap = e->be_ops->snap_open(e->be);
    if (!snap) {
        engine_set_error(e, "%s: cannot open a read view", e->be_ops->name);
        return NULL;
    }
    engine_view_t *v = store_xcalloc(1, sizeof(*v));
    v->engine = e;
    v->reader = (engine_read_t){.engine = e, .snap = snap};
    e->views++;
    return v;
}

void engine_view_close(engine_view_t *v)
{
    if (!v)
        return;
    v->engine->views--;
    v->engine->be_ops->snap_close(v->engine->be, v->reader.snap);
    free(v);
}

void engine_view_lend(engine_view_t *v)
{
    if (v->engine->be_ops->lend)
        v->engine->be_ops->lend(v->engine->be);
}

void engine_view_return(engine_view_t *v)
{
    if (v->engine->be_ops->give_back)
        v->engine->be_ops->give_back(v->engine->be);
}

engine_read_t *engine_reader(engine_t *e)
{
    return &e->reader;
}

engine_read_t *engine_batch_reader(engine_batch_t *b)
{
    return &b->reader;
}

engine_read_t *engine_view_reader(engine_view_t *v)
{
    return &v->reader;
}

int engine_get(engine_read_t *r, const char *path, size_t path_len, const uint8_t **value,
               size_t *value_len)
{
    engine_t *e = r->engine;
    int rc = make_key(e, ENGINE_TABLE_DATA, NULL, path, path_len);
    if (rc == -ENAMETOOLONG)
        return 0; /* a key the engine cannot store was never stored */
    if (rc)
        return rc;
    /* The open batch's changes, then a sealed batch's, then the backend. */
    const engine_map_t *layers[ENGINE_LAYERS] = {r->changes, engine_sealed_for(r)};
    for (int i = 0; i < ENGINE_LAYERS; i++) {
        engine_map_node_t *n =
            layers[i] ? engine_map_find(layers[i], e->scratch.p, e->scratch.len) : NULL;
        if (n) {
            if (n->blob->tomb)
                return 0;
            *value = engine_blob_value(n->blob);
            *value_len = n->blob->vlen;
            return 1;
        }
    }
    rc = e->be_ops->get(e->be, r->snap, e->scratch.p, e->scratch.len, value, value_len);
    if (rc < 0)
        engine_set_error(e, "%s: read failed", e->be_ops->name);
    return rc;
}
