/*
 * store/engine_lmdb.c: the LMDB engine. One unnamed database holds the
 * whole keyspace (store/engine_int.h); a commit is one write transaction.
 *
 * MDB_NOMETASYNC: a commit fsyncs the data pages it wrote but not the meta
 * page that points at them (engine_sync(), mdb_env_sync, flushes that one
 * too, before the WAL entries a commit covers are released). A machine
 * crash can then undo the last commits, which the WAL replays, but never
 * leave a meta page pointing at pages that did not reach the disk. That
 * is what MDB_NOSYNC risks: its commits write in no order, and after a power
 * cut LMDB's documentation gives no integrity unless the file system keeps
 * write order; a damaged B-tree is not something a WAL replay can repair.
 * The WAL stays the durability point either way (a process crash loses
 * nothing: the pages are in the page cache). The price is one fdatasync per
 * commit, that is per applied batch of entries, not per request.
 *
 * MDB_NOTLS: the engine holds one read transaction for its committed state
 * and one per view; without MDB_NOTLS a thread may hold only one, and a
 * read transaction could not be used by the HTTP loops' threads in turn
 * (they read under the server's lock, one at a time). The committed
 * state's transaction stays open while a write runs, on the commit thread
 * (store/engine_commit.c) or not: LMDB keeps the pages of an older state
 * for as long as a reader holds it, so the loops read the state from
 * before the write while it runs, and lm_refresh moves them to the new one
 * after it, on the owner's thread.
 *
 * The map grows on demand: a write that hits MDB_MAP_FULL is aborted
 * (ENGINE_WRITE_FULL, nothing written), the owner's thread grows the map
 * (lm_grow) and the write runs again from the batch's changes, so
 * MDB_MAP_FULL never reaches the store. Growing remaps the file, which
 * moves every page: it runs only when no reader is inside LMDB (see
 * lm_grow), open cursors save their key first and seek back to it after,
 * and borrowed values from before the commit are void (as store/engine.h
 * says of every commit). Open read transactions survive it: they point at
 * pages by number, not by address.
 */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "store/engine_int.h"
#include "store/store_int.h"

#define DEFAULT_MAP_SIZE ((size_t)256 << 20)

typedef struct lm_cursor lm_cursor_t;

typedef struct lm {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *rtxn; /* the committed state, as of the last lm_refresh */
    size_t map_size;
    lm_cursor_t *cursors; /* every open cursor: they must follow a remap */
    /*
     * A view lent to another thread (engine_view_lend) holds `remap` for
     * reading until it is returned; growing the map takes it for writing,
     * since the remap moves every page a reader may be looking at.
     * `list` guards `cursors`, opened and closed on both threads then.
     */
    pthread_rwlock_t remap;
    pthread_mutex_t list;
} lm_t;

typedef struct lm_snap {
    MDB_txn *txn;
} lm_snap_t;

struct lm_cursor {
    lm_t *lm;
    MDB_txn *txn;
    MDB_cursor *c;
    bool valid, failed;
    MDB_val k, v;
    engine_buf_t saved; /* the key across a remap */
    lm_cursor_t *prev, *next;
};

static int fail(char *err, size_t err_len, const char *what, int rc)
{
    if (err)
        snprintf(err, err_len, "lmdb: %s: %s", what, mdb_strerror(rc));
    return rc == ENOMEM || rc == ENOSPC ? -rc : -EIO;
}

static int lm_open(const engine_options_t *o, void **be, char *err, size_t err_len)
{
    if (!o->dir) {
        snprintf(err, err_len, "lmdb: no directory given");
        return -EINVAL;
    }
    int rc = fs_mkdir_all(o->dir);
    if (rc) {
        snprintf(err, err_len, "lmdb: cannot create %s: %s", o->dir, strerror(-rc));
        return rc;
    }
    lm_t *lm = store_xcalloc(1, sizeof(*lm));
    pthread_rwlock_init(&lm->remap, NULL);
    pthread_mutex_init(&lm->list, NULL);
    MDB_txn *txn = NULL;
    const char *what = "mdb_env_create";
    if ((rc = mdb_env_create(&lm->env)))
        goto out;
    what = "mdb_env_set_mapsize";
    if ((rc = mdb_env_set_mapsize(lm->env, o->lmdb_map_size ? o->lmdb_map_size : DEFAULT_MAP_SIZE)))
        goto out;
    /* NORDAHEAD: random reads of a data set larger than RAM should not
     * evict useful pages with read-ahead of useless ones. */
    what = "mdb_env_open";
    if ((rc = mdb_env_open(lm->env, o->dir, MDB_NOMETASYNC | MDB_NOTLS | MDB_NORDAHEAD, 0600)))
        goto out;
    MDB_envinfo info;
    mdb_env_info(lm->env, &info);
    lm->map_size = info.me_mapsize; /* a larger existing file sets its own */
    what = "opening the database";
    if ((rc = mdb_txn_begin(lm->env, NULL, 0, &txn)))
        goto out;
    if ((rc = mdb_dbi_open(txn, NULL, 0, &lm->dbi)))
        goto out;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc)
        goto out;
    if ((rc = mdb_txn_begin(lm->env, NULL, MDB_RDONLY, &lm->rtxn)))
        goto out;
    *be = lm;
    return 0;
out:
    if (txn)
        mdb_txn_abort(txn);
    if (lm->env)
        mdb_env_close(lm->env);
    pthread_rwlock_destroy(&lm->remap);
    pthread_mutex_destroy(&lm->list);
    free(lm);
    return fail(err, err_len, what, rc);
}

static void lm_close(void *be)
{
    lm_t *lm = be;
    mdb_txn_abort(lm->rtxn);
    mdb_env_close(lm->env);
    pthread_rwlock_destroy(&lm->remap);
    pthread_mutex_destroy(&lm->list);
    free(lm);
}

static size_t lm_max_key(void *be)
{
    lm_t *lm = be;
    return (size_t)mdb_env_get_maxkeysize(lm->env);
}

static void step(lm_cursor_t *c, MDB_cursor_op op);

/* Doubles the map. Runs between transactions of this process's writer (lm_grow). */
static int grow(lm_t *lm)
{
    for (lm_cursor_t *c = lm->cursors; c; c = c->next) {
        c->saved.len = 0;
        if (c->valid)
            engine_buf_add(&c->saved, c->k.mv_data, c->k.mv_size);
    }
    int rc = mdb_env_set_mapsize(lm->env, lm->map_size * 2);
    if (rc)
        return rc;
    lm->map_size *= 2;
    for (lm_cursor_t *c = lm->cursors; c; c = c->next) {
        if ((rc = mdb_cursor_renew(c->txn, c->c)))
            return rc;
        if (c->valid) {
            c->k = (MDB_val){c->saved.len, c->saved.p};
            step(c, MDB_SET_RANGE);
        }
    }
    return 0;
}

static int write_once(lm_t *lm, const engine_map_t *changes)
{
    MDB_txn *w;
    int rc = mdb_txn_begin(lm->env, NULL, 0, &w);
    if (rc)
        return rc;
    for (engine_map_node_t *n = engine_map_seek(changes, NULL, 0); n && !rc; n = n->next[0]) {
        const engine_blob_t *b = n->blob;
        MDB_val k = {b->klen, (void *)engine_blob_key(b)};
        if (b->tomb) {
            rc = mdb_del(w, lm->dbi, &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        } else {
            MDB_val v = {b->vlen, (void *)engine_blob_value(b)};
            rc = mdb_put(w, lm->dbi, &k, &v, 0);
        }
    }
    if (rc) {
        mdb_txn_abort(w);
        return rc;
    }
    return mdb_txn_commit(w);
}

/* On any thread, as the commit thread does; never grows the map (lm_grow). */
static int lm_write(void *be, const engine_map_t *changes, char *err, size_t err_len)
{
    lm_t *lm = be;
    int rc = write_once(lm, changes);
    if (rc == MDB_MAP_FULL)
        return ENGINE_WRITE_FULL;
    return rc ? fail(err, err_len, "write", rc) : 0;
}

/*
 * On the owner's thread, between writes, with none of its readers inside
 * LMDB: those on its own thread and the HTTP loops read under the lock the
 * owner holds (store/engine_commit.c). A view lent to another thread reads
 * without that lock and holds `remap` for reading instead, so the write
 * lock here waits for it to be returned.
 */
static int lm_grow(void *be, char *err, size_t err_len)
{
    lm_t *lm = be;
    pthread_rwlock_wrlock(&lm->remap);
    pthread_mutex_lock(&lm->list);
    int rc = grow(lm);
    pthread_mutex_unlock(&lm->list);
    pthread_rwlock_unlock(&lm->remap);
    return rc ? fail(err, err_len, "growing the map", rc) : 0;
}

/* After a write: the committed state's reads move to it. On the owner's thread. */
static int lm_refresh(void *be, char *err, size_t err_len)
{
    lm_t *lm = be;
    mdb_txn_reset(lm->rtxn);
    int rc = mdb_txn_renew(lm->rtxn);
    return rc ? fail(err, err_len, "renewing the read transaction", rc) : 0;
}

static int lm_sync(void *be, char *err, size_t err_len)
{
    lm_t *lm = be;
    int rc = mdb_env_sync(lm->env, 1);
    return rc ? fail(err, err_len, "mdb_env_sync", rc) : 0;
}

static int lm_get(void *be, void *snap, const uint8_t *k, size_t kl, const uint8_t **v, size_t *vl)
{
    lm_t *lm = be;
    MDB_txn *txn = snap ? ((lm_snap_t *)snap)->txn : lm->rtxn;
    MDB_val key = {kl, (void *)k}, val;
    int rc = mdb_get(txn, lm->dbi, &key, &val);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return -EIO;
    *v = val.mv_data;
    *vl = val.mv_size;
    return 1;
}

static void *lm_snap_open(void *be)
{
    lm_t *lm = be;
    lm_snap_t *s = store_xcalloc(1, sizeof(*s));
    int rc = mdb_txn_begin(lm->env, NULL, MDB_RDONLY, &s->txn);
    if (rc) {
        /* Only a full reader table (126 readers) gets here. */
        free(s);
        return NULL;
    }
    return s;
}

static void lm_snap_close(void *be, void *snap)
{
    (void)be;
    lm_snap_t *s = snap;
    mdb_txn_abort(s->txn);
    free(s);
}

static void lm_lend(void *be)
{
    pthread_rwlock_rdlock(&((lm_t *)be)->remap);
}

static void lm_give_back(void *be)
{
    pthread_rwlock_unlock(&((lm_t *)be)->remap);
}

static void *lm_cursor_open(void *be, void *snap)
{
    lm_t *lm = be;
    lm_cursor_t *c = store_xcalloc(1, sizeof(*c));
    c->lm = lm;
    c->txn = snap ? ((lm_snap_t *)snap)->txn : lm->rtxn;
    if (mdb_cursor_open(c->txn, lm->dbi, &c->c)) {
        free(c);
        return NULL;
    }
    pthread_mutex_lock(&lm->list);
    c->next = lm->cursors;
    if (lm->cursors)
        lm->cursors->prev = c;
    lm->cursors = c;
    pthread_mutex_unlock(&lm->list);
    return c;
}

static void lm_cursor_close(void *cur)
{
    lm_cursor_t *c = cur;
    pthread_mutex_lock(&c->lm->list);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->lm->cursors = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&c->lm->list);
    mdb_cursor_close(c->c);
    engine_buf_free(&c->saved);
    free(c);
}

static void step(lm_cursor_t *c, MDB_cursor_op op)
{
    int rc = mdb_cursor_get(c->c, &c->k, &c->v, op);
    c->valid = rc == 0;
    c->failed = rc != 0 && rc != MDB_NOTFOUND;
}

static void lm_cursor_seek(void *cur, const uint8_t *k, size_t kl)
{
    lm_cursor_t *c = cur;
    c->k = (MDB_val){kl, (void *)k};
    step(c, kl ? MDB_SET_RANGE : MDB_FIRST);
}

static void lm_cursor_next(void *cur)
{
    lm_cursor_t *c = cur;
    if (c->valid)
        step(c, MDB_NEXT);
}

static bool lm_cursor_get(void *cur, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl)
{
    lm_cursor_t *c = cur;
    if (!c->valid)
        return false;
    *k = c->k.mv_data;
    *kl = c->k.mv_size;
    *v = c->v.mv_data;
    *vl = c->v.mv_size;
    return true;
}

static bool lm_cursor_failed(void *cur)
{
    return ((lm_cursor_t *)cur)->failed;
}

static void lm_settings(void *be, char *out, size_t len)
{
    lm_t *lm = be;
    snprintf(out, len, "map size %zu bytes, doubled when full", lm->map_size);
}

const engine_backend_t engine_backend_lmdb = {
    .name = "lmdb",
    .threaded = true,
    .open = lm_open,
    .close = lm_close,
    .max_key = lm_max_key,
    .write = lm_write,
    .grow = lm_grow,
    .refresh = lm_refresh,
    .sync = lm_sync,
    .get = lm_get,
    .snap_open = lm_snap_open,
    .snap_close = lm_snap_close,
    .cursor_open = lm_cursor_open,
    .cursor_close = lm_cursor_close,
    .cursor_seek = lm_cursor_seek,
    .cursor_next = lm_cursor_next,
    .cursor_get = lm_cursor_get,
    .cursor_failed = lm_cursor_failed,
    .settings = lm_settings,
    .lend = lm_lend,
    .give_back = lm_give_back,
};
