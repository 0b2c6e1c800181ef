/*
 * store/engine_leveldb.c: the LevelDB engine. The keyspace of
 * store/engine_int.h with LevelDB's bytewise comparator; a commit is one
 * WriteBatch written without sync (the WAL is the durability point; LevelDB's
 * own log is still written before the call returns, so a process crash
 * loses nothing). engine_sync() writes an empty batch with sync set, which
 * fsyncs LevelDB's log and so every write before it.
 *
 * Not threaded (store/engine_commit.c): a commit here waits for no disk,
 * so the commit thread would spare the owner little, and although LevelDB
 * takes concurrent reads and writes, its memtable publishes new entries
 * with atomics inside the library, which ThreadSanitizer cannot see: every
 * read beside a write would be reported as a race, leaving the
 * ThreadSanitizer runs blind to real ones.
 *
 * Defaults: a 64 MiB block cache and a 16 MiB write buffer (LevelDB's 8 MiB
 * and 4 MiB make many small level-0 files and miss the cache for any data
 * set worth an engine), and a 10-bit Bloom filter so that a GET of a missing
 * key rarely reads a block.
 */
#include <errno.h>
#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "store/engine_int.h"
#include "store/store_int.h"

#define DEFAULT_CACHE        ((size_t)64 << 20)
#define DEFAULT_WRITE_BUFFER ((size_t)16 << 20)

typedef struct ldb {
    leveldb_t *db;
    leveldb_options_t *opts;
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *filter;
    leveldb_readoptions_t *ro;
    leveldb_writeoptions_t *wo, *wo_sync;
    char *last_get; /* the value engine_get lent out last (leveldb_get mallocs) */
    size_t cache_size, write_buffer_size;
} ldb_t;

typedef struct ldb_snap {
    const leveldb_snapshot_t *snap;
    leveldb_readoptions_t *ro;
} ldb_snap_t;

static int fail(char *err, size_t err_len, const char *what, char *lerr)
{
    if (err)
        snprintf(err, err_len, "leveldb: %s: %s", what, lerr ? lerr : "unknown error");
    leveldb_free(lerr);
    return -EIO;
}

static int ldb_open(const engine_options_t *o, void **be, char *err, size_t err_len)
{
    if (!o->dir) {
        snprintf(err, err_len, "leveldb: no directory given");
        return -EINVAL;
    }
    int rc = fs_mkdir_all(o->dir);
    if (rc) {
        snprintf(err, err_len, "leveldb: cannot create %s: %s", o->dir, strerror(-rc));
        return rc;
    }
    ldb_t *l = store_xcalloc(1, sizeof(*l));
    l->opts = leveldb_options_create();
    l->cache_size = o->leveldb_cache_size ? o->leveldb_cache_size : DEFAULT_CACHE;
    l->write_buffer_size =
        o->leveldb_write_buffer_size ? o->leveldb_write_buffer_size : DEFAULT_WRITE_BUFFER;
    l->cache = leveldb_cache_create_lru(l->cache_size);
    l->filter = leveldb_filterpolicy_create_bloom(10);
    leveldb_options_set_create_if_missing(l->opts, 1);
    leveldb_options_set_cache(l->opts, l->cache);
    leveldb_options_set_filter_policy(l->opts, l->filter);
    leveldb_options_set_write_buffer_size(l->opts, l->write_buffer_size);
    char *lerr = NULL;
    l->db = leveldb_open(l->opts, o->dir, &lerr);
    if (lerr) {
        leveldb_options_destroy(l->opts);
        leveldb_cache_destroy(l->cache);
        leveldb_filterpolicy_destroy(l->filter);
        free(l);
        return fail(err, err_len, "open", lerr);
    }
    l->ro = leveldb_readoptions_create();
    l->wo = leveldb_writeoptions_create();
    l->wo_sync = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(l->wo_sync, 1);
    *be = l;
    return 0;
}

static void ldb_close(void *be)
{
    ldb_t *l = be;
    leveldb_free(l->last_get);
    leveldb_close(l->db);
    leveldb_readoptions_destroy(l->ro);
    leveldb_writeoptions_destroy(l->wo);
    leveldb_writeoptions_destroy(l->wo_sync);
    leveldb_options_destroy(l->opts);
    leveldb_cache_destroy(l->cache);
    leveldb_filterpolicy_destroy(l->filter);
    free(l);
}

static size_t ldb_max_key(void *be)
{
    (void)be;
    return SIZE_MAX;
}

static int ldb_write(void *be, const engine_map_t *changes, char *err, size_t err_len)
{
    ldb_t *l = be;
    leveldb_writebatch_t *wb = leveldb_writebatch_create();
    for (engine_map_node_t *n = engine_map_seek(changes, NULL, 0); n; n = n->next[0]) {
        const engine_blob_t *b = n->blob;
        const char *k = (const char *)engine_blob_key(b);
        if (b->tomb)
            leveldb_writebatch_delete(wb, k, b->klen);
        else
            leveldb_writebatch_put(wb, k, b->klen, (const char *)engine_blob_value(b), b->vlen);
    }
    char *lerr = NULL;
    leveldb_write(l->db, l->wo, wb, &lerr);
    leveldb_writebatch_destroy(wb);
    return lerr ? fail(err, err_len, "write", lerr) : 0;
}

static int ldb_sync(void *be, char *err, size_t err_len)
{
    ldb_t *l = be;
    leveldb_writebatch_t *wb = leveldb_writebatch_create();
    char *lerr = NULL;
    leveldb_write(l->db, l->wo_sync, wb, &lerr);
    leveldb_writebatch_destroy(wb);
    return lerr ? fail(err, err_len, "sync", lerr) : 0;
}

static int ldb_get(void *be, void *snap, const uint8_t *k, size_t kl, const uint8_t **v, size_t *vl)
{
    ldb_t *l = be;
    leveldb_free(l->last_get);
    l->last_get = NULL;
    char *lerr = NULL;
    size_t n = 0;
    char *val =
        leveldb_get(l->db, snap ? ((ldb_snap_t *)snap)->ro : l->ro, (const char *)k, kl, &n, &lerr);
    if (lerr) {
        leveldb_free(lerr);
        return -EIO;
    }
    if (!val)
        return 0;
    l->last_get = val;
    *v = (const uint8_t *)val;
    *vl = n;
    return 1;
}

static void *ldb_snap_open(void *be)
{
    ldb_t *l = be;
    ldb_snap_t *s = store_xcalloc(1, sizeof(*s));
    s->snap = leveldb_create_snapshot(l->db);
    s->ro = leveldb_readoptions_create();
    leveldb_readoptions_set_snapshot(s->ro, s->snap);
    /* A snapshot is read once, end to end: keep it out of the block cache. */
    leveldb_readoptions_set_fill_cache(s->ro, 0);
    return s;
}

static void ldb_snap_close(void *be, void *snap)
{
    ldb_t *l = be;
    ldb_snap_t *s = snap;
    leveldb_readoptions_destroy(s->ro);
    leveldb_release_snapshot(l->db, s->snap);
    free(s);
}

static void *ldb_cursor_open(void *be, void *snap)
{
    ldb_t *l = be;
    return leveldb_create_iterator(l->db, snap ? ((ldb_snap_t *)snap)->ro : l->ro);
}

static void ldb_cursor_close(void *cur)
{
    leveldb_iter_destroy(cur);
}

static void ldb_cursor_seek(void *cur, const uint8_t *k, size_t kl)
{
    if (kl)
        leveldb_iter_seek(cur, (const char *)k, kl);
    else
        leveldb_iter_seek_to_first(cur);
}

static void ldb_cursor_next(void *cur)
{
    if (leveldb_iter_valid(cur))
        leveldb_iter_next(cur);
}

static bool ldb_cursor_get(void *cur, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl)
{
    if (!leveldb_iter_valid(cur))
        return false;
    *k = (const uint8_t *)leveldb_iter_key(cur, kl);
    *v = (const uint8_t *)leveldb_iter_value(cur, vl);
    return true;
}

static bool ldb_cursor_failed(void *cur)
{
    char *lerr = NULL;
    leveldb_iter_get_error(cur, &lerr);
    leveldb_free(lerr);
    return lerr != NULL;
}

static void ldb_settings(void *be, char *out, size_t len)
{
    ldb_t *l = be;
    snprintf(out, len, "block cache %zu bytes, write buffer %zu bytes, 10-bit Bloom filter",
             l->cache_size, l->write_buffer_size);
}

const engine_backend_t engine_backend_leveldb = {
    .name = "leveldb",
    .open = ldb_open,
    .close = ldb_close,
    .max_key = ldb_max_key,
    .write = ldb_write,
    .sync = ldb_sync,
    .get = ldb_get,
    .snap_open = ldb_snap_open,
    .snap_close = ldb_snap_close,
    .cursor_open = ldb_cursor_open,
    .cursor_close = ldb_cursor_close,
    .cursor_seek = ldb_cursor_seek,
    .cursor_next = ldb_cursor_next,
    .cursor_get = ldb_cursor_get,
    .cursor_failed = ldb_cursor_failed,
    .settings = ldb_settings,
};
