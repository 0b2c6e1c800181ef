/*
 * store/engine_int.h: what the engine files share. Not a public interface:
 * only store/ and tests/store/ include it.
 *
 * store/engine.c turns the v2-shaped interface of store/engine.h into
 * operations on one sorted byte keyspace; a backend (engine_mem.c,
 * engine_lmdb.c, engine_leveldb.c) only has to store sorted bytes: get,
 * cursors, an atomic write of many changes, snapshots, sync.
 */
#ifndef METCD_STORE_ENGINE_INT_H
#define METCD_STORE_ENGINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/engine.h"

/* ---- Growable byte buffers (store/engine_key.c) ---- */

typedef struct engine_buf {
    uint8_t *p; /* malloc'd, owned by the buffer; free with engine_buf_free */
    size_t len, cap;
} engine_buf_t;

void engine_buf_reserve(engine_buf_t *b, size_t extra);
void engine_buf_add(engine_buf_t *b, const void *p, size_t n);
void engine_buf_byte(engine_buf_t *b, uint8_t c);
void engine_buf_free(engine_buf_t *b);

/* ---- The keyspace (store/engine_key.c) ---- */

/*
 * Every record's key starts with its table's byte; the rest is described in
 * store/engine_key.c.
 */
#define ENGINE_TABLE_DATA 'd' /* 'd' + path key                 -> value */
#define ENGINE_TABLE_TTL  't' /* 't' + be64(deadline) + path key -> "" */
#define ENGINE_TABLE_META 'm' /* 'm' "meta"                      -> meta record */

/* Path key bytes (store/engine_key.c). */
#define ENGINE_KEY_LAST  0x00 /* starts the last component */
#define ENGINE_KEY_INNER 0x01 /* starts every other component */
#define ENGINE_KEY_ESC   0x02 /* escapes name bytes 0x00-0x02 */

/* Checks a path (see store/engine.h). Returns 0 or -EINVAL. */
int engine_path_check(const char *path, size_t len);

/* Appends the key of path (not "/") to out. path must pass engine_path_check. */
void engine_key_append(engine_buf_t *out, const char *path, size_t len);

/*
 * Appends the prefix every direct child of dir has (for "/": the lone byte
 * ENGINE_KEY_LAST). Descendants below the children start with the same bytes
 * but ENGINE_KEY_INNER as the last one, so [prefix, prefix with its last byte
 * + 2) covers the whole subtree of dir and nothing else.
 */
void engine_key_children_prefix(engine_buf_t *out, const char *dir, size_t len);

/*
 * Decodes a path key (without its table byte) into out as "/a/b",
 * NUL-terminated (the NUL not counted in out->len). Returns 0 or -EINVAL for
 * bytes that are no path key.
 */
int engine_key_decode(engine_buf_t *out, const uint8_t *key, size_t len);

/* Deadlines as big-endian bytes with the sign bit flipped: they sort as numbers. */
void engine_key_put_deadline(uint8_t out[8], int64_t deadline_ns);
int64_t engine_key_get_deadline(const uint8_t in[8]);

/* ---- A sorted map: a skip list (store/engine_skiplist.c) ---- */

/*
 * An immutable key/value pair, reference counted so that the memory engine's
 * views and a committed batch can share it with the map. tomb marks a delete
 * (in a batch's pending changes).
 */
typedef struct engine_blob {
    unsigned refs;
    bool tomb;
    size_t klen, vlen;
    uint8_t data[]; /* key, then value */
} engine_blob_t;

/* Ownership: one reference, released by engine_blob_release. */
engine_blob_t *engine_blob_new(const uint8_t *k, size_t kl, const void *v, size_t vl, bool tomb);
engine_blob_t *engine_blob_retain(engine_blob_t *b);
void engine_blob_release(engine_blob_t *b);
static inline const uint8_t *engine_blob_key(const engine_blob_t *b)
{
    return b->data;
}
static inline const uint8_t *engine_blob_value(const engine_blob_t *b)
{
    return b->data + b->klen;
}

typedef struct engine_map_node {
    engine_blob_t *blob;
    unsigned height;
    struct engine_map_node *next[]; /* next[0]: the following key */
} engine_map_node_t;

typedef struct engine_map engine_map_t;

/* Ownership: free with engine_map_free (releases every blob). */
engine_map_t *engine_map_new(void);
void engine_map_free(engine_map_t *m);
size_t engine_map_count(const engine_map_t *m);
/* Inserts or replaces; takes over the caller's reference to blob. */
void engine_map_put(engine_map_t *m, engine_blob_t *blob);
/* Removes key; returns whether it was there. */
bool engine_map_remove(engine_map_t *m, const uint8_t *k, size_t kl);
/* The node holding key, or NULL. Borrowed until the map changes. */
engine_map_node_t *engine_map_find(const engine_map_t *m, const uint8_t *k, size_t kl);
/* The first node with a key >= k (kl == 0: the first node), or NULL. */
engine_map_node_t *engine_map_seek(const engine_map_t *m, const uint8_t *k, size_t kl);

/* Bytewise key order, shorter first on a tie (memcmp order of the keys). */
int engine_key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl);

/* ---- Backends ---- */

/*
 * A backend's cursor walks its committed state (snap == NULL) or a snapshot.
 * Pointers from cursor_get stay valid until the cursor moves or closes.
 * A cursor on the committed state is closed before the next write.
 */
/*
 * What a backend's write returns when the LMDB map is full: nothing was
 * written; grow() then write() again (engine_commit.c).
 */
#define ENGINE_WRITE_FULL 1

typedef struct engine_backend {
    const char *name;
    /*
     * Whether write() may run on the commit thread (engine_commit.c) while
     * the engine's own thread reads the committed state (get, cursors, with
     * snap == NULL) and views: the backend then takes no state of its own
     * that reads touch, and a read of the committed state started before
     * the write ends sees all of the write or none of it.
     */
    bool threaded;
    /* Opens; *be is the backend's state. Errors: negative errno and err. */
    int (*open)(const engine_options_t *o, void **be, char *err, size_t err_len);
    void (*close)(void *be);
    /* The longest key the backend stores (SIZE_MAX: no limit). */
    size_t (*max_key)(void *be);
    /*
     * Writes every change of `changes` (tombstones delete) atomically.
     * Returns 0, a negative errno, or ENGINE_WRITE_FULL (nothing written).
     * Reads of the committed state may see the write only after refresh().
     */
    int (*write)(void *be, const engine_map_t *changes, char *err, size_t err_len);
    /*
     * After ENGINE_WRITE_FULL: makes room (LMDB: doubles the map, which
     * moves every page). The caller sees to it that no thread reads the
     * backend meanwhile, but through views lent with lend(). NULL: a
     * backend that is never full.
     */
    int (*grow)(void *be, char *err, size_t err_len);
    /* Makes reads of the committed state see every write so far. NULL:
     * they see each write as soon as it ends. */
    int (*refresh)(void *be, char *err, size_t err_len);
    int (*sync)(void *be, char *err, size_t err_len);
    /* Returns 1 found, 0 absent, <0 error. *v valid until the next get or write. */
    int (*get)(void *be, void *snap, const uint8_t *k, size_t kl, const uint8_t **v, size_t *vl);
    void *(*snap_open)(void *be);
    void (*snap_close)(void *be, void *snap);
    void *(*cursor_open)(void *be, void *snap);
    void (*cursor_close)(void *cur);
    void (*cursor_seek)(void *cur, const uint8_t *k, size_t kl); /* first key >= k */
    void (*cursor_next)(void *cur);
    /* false at the end; else the current pair. */
    bool (*cursor_get)(void *cur, const uint8_t **k, size_t *kl, const uint8_t **v, size_t *vl);
    /* Whether the cursor stopped on a read error rather than at the end. */
    bool (*cursor_failed)(void *cur);
    /* Describes the settings in use (engine_settings), one line in out. */
    void (*settings)(void *be, char *out, size_t len);
    /* engine_view_lend / engine_view_return; NULL: nothing to do. */
    void (*lend)(void *be);
    void (*give_back)(void *be);
} engine_backend_t;

extern const engine_backend_t engine_backend_memory;
extern const engine_backend_t engine_backend_lmdb;
extern const engine_backend_t engine_backend_leveldb;

/* ---- Engine internals shared by engine.c and engine_iter.c ---- */

struct engine_read {
    engine_t *engine;
    void *snap;            /* a view's backend snapshot, or NULL */
    engine_map_t *changes; /* a batch's pending changes, or NULL */
};

typedef struct engine_committer engine_committer_t;

struct engine {
    const engine_backend_t *be_ops;
    void *be;
    engine_kind_t kind;
    engine_read_t reader;
    engine_batch_t *batch; /* the open batch, if any */
    unsigned views, live_iters;
    engine_meta_t meta;
    uint8_t *meta_stats; /* meta.stats, malloc'd */
    /*
     * A sealed batch (engine_batch_seal): its changes, the metadata record
     * included, being written by the commit thread. Readers of the
     * committed state and of a batch see them below the open batch's and
     * above the backend's (engine_iter.c, engine_get), until the owner
     * takes the result (engine_commit.c), which frees them. Immutable while
     * sealed: the commit thread and the readers only read them. NULL when
     * no commit is in flight.
     */
    engine_map_t *sealed;
    engine_meta_t sealed_meta;     /* its metadata: e->meta once written */
    uint8_t *sealed_stats;         /* sealed_meta.stats, malloc'd */
    engine_committer_t *committer; /* the commit thread; NULL until the first seal */
    int commit_failed;             /* a failed sealed commit's error: every later one fails */
    engine_buf_t scratch;
    size_t max_key; /* be_ops->max_key, asked once at open */
    char errmsg[256];
    char settings[160];
};

struct engine_batch {
    engine_t *engine;
    engine_map_t *changes;
    engine_read_t reader;
};

struct engine_view {
    engine_t *engine;
    engine_read_t reader;
};

void engine_set_error(engine_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Replaces e->meta with a copy of m (stats copied). */
void engine_keep_meta(engine_t *e, const engine_meta_t *m);

/* ---- Commits (store/engine_commit.c) ---- */

/*
 * Writes changes on this thread, growing the map as often as it takes,
 * and refreshes the committed state's reads. No commit may be in flight.
 * Returns 0 or a negative errno (e->errmsg says why).
 */
int engine_write_now(engine_t *e, const engine_map_t *changes);

/*
 * Hands changes (the batch's, metadata record included, meta copied) to
 * the commit thread, started on the first call. They become e->sealed:
 * the engine owns them from here and frees them when the result is taken.
 * No commit may be in flight. Returns 0 or a negative errno (the thread
 * cannot start; nothing is sealed, the caller keeps changes).
 */
int engine_commit_post(engine_t *e, engine_map_t *changes, const engine_meta_t *meta);

/* Stops the commit thread (no commit in flight); closes its eventfd. */
void engine_commit_stop(engine_t *e);

/* The committed state's layer of pending changes for reader r: a sealed
 * batch's, for any reader but a view's. */
static inline const engine_map_t *engine_sealed_for(const engine_read_t *r)
{
    return r->snap ? NULL : r->engine->sealed;
}

/* Layers of pending changes above the backend: the open batch's, then a sealed one's. */
#define ENGINE_LAYERS 2

/*
 * A cursor over a reader: the backend's cursor merged with the layers of
 * pending changes (a newer layer wins over an older one and over the
 * backend on equal keys; a tombstone hides the key below it).
 */
typedef struct engine_cursor {
    const engine_backend_t *ops;
    void *cur;
    const engine_map_t *layers[ENGINE_LAYERS]; /* newest first; NULL: none */
    engine_map_node_t *ch[ENGINE_LAYERS]; /* each layer's next change at or after the position */
    bool from_be, from_ch[ENGINE_LAYERS], valid;
    const uint8_t *k, *v;
    size_t kl, vl;
} engine_cursor_t;

void engine_cursor_open(engine_cursor_t *c, engine_read_t *r);
void engine_cursor_close(engine_cursor_t *c);
void engine_cursor_seek(engine_cursor_t *c, const uint8_t *k, size_t kl);
void engine_cursor_next(engine_cursor_t *c);

#endif /* METCD_STORE_ENGINE_INT_H */
