/*
 * store/store_int.h: internals shared by the files of store/. Not a public
 * interface: only store/ and tests/store/ include it.
 */
#ifndef METCD_STORE_INT_H
#define METCD_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store/engine_int.h"
#include "store/store.h"

#define STORE_NO_POS          UINT32_MAX
#define STORE_DEFAULT_HISTORY 1000u
#define STORE_NS_PER_SEC      1000000000LL
/* POST names: the new index, zero-padded to 20 digits (etcd: "%020s"). */
#define STORE_UNIQUE_NAME_LEN 20
/* Paths are counted in 32 bits inside the tree; nothing legitimate comes close. */
#define STORE_MAX_KEY_LEN (1u << 30)
/* etcd's minExpireTime: deadlines before 2000-01-01T00:00:00Z mean "permanent". */
#define STORE_MIN_EXPIRE_NS (946684800LL * STORE_NS_PER_SEC)

/*
 * Allocation inside apply must not fail half-way: every member applies the
 * same log and must end in the same state, so a member that cannot allocate
 * stops (abort) rather than diverge. These never return NULL.
 */
void *store_xmalloc(size_t n);
void *store_xcalloc(size_t n, size_t size);
void *store_xrealloc(void *p, size_t n);

/* store_error_set with a counted cause of len bytes, which may hold NUL;
 * NULL cause means none. The error owns a NUL-terminated copy. */
int store_error_setn(store_error_t *err, int code, const char *cause, size_t len, uint64_t index);

/* ---- Tree nodes (store/node.c) ---- */

typedef struct store_tnode tnode_t;
struct store_tnode {
    tnode_t *parent;
    tnode_t **children; /* dirs: n_children live entries, unordered unless `sorted` */
    char *value;        /* files: NUL-terminated, NULL means ""; in this allocation or malloc'd */
    size_t value_len;
    uint64_t hash; /* of path, for the node table */
    uint64_t created_index;
    uint64_t modified_index;
    int64_t expire_ns;   /* deadline (Unix ns), meaningful when heap_pos != STORE_NO_POS */
    uint32_t heap_pos;   /* position in the TTL heap, STORE_NO_POS when permanent */
    uint32_t parent_pos; /* position in parent->children */
    uint32_t n_children;
    uint32_t cap_children;
    uint32_t path_len;
    uint32_t name_off;   /* path + name_off is the last component */
    uint32_t inline_cap; /* bytes for a value after the path, in this allocation */
    bool dir;
    bool sorted;      /* children[] is known to be in bytewise name order */
    bool complete;    /* dirs: every child is in memory (see store/cache.c) */
    bool ref;         /* looked up since eviction last sampled it (store/cache.c) */
    bool path_plain;  /* path is plain JSON text (common/jsontext.h) */
    bool value_plain; /* value is plain JSON text */
    char path[];      /* full path, NUL-terminated ("/" for the root) */
};

/* Ownership: the node is malloc'd; free with tnode_free (not its children). */
tnode_t *tnode_new(const char *path, size_t path_len, bool dir, uint64_t index);
/* A file whose value lives in the node's own allocation (one malloc a key). */
tnode_t *tnode_new_file(const char *path, size_t path_len, const char *value, size_t value_len,
                        uint64_t index);
void tnode_free(tnode_t *n);
/* Replaces a file's value (copies it). */
void tnode_set_value(tnode_t *n, const char *value, size_t len);
static inline bool tnode_has_ttl(const tnode_t *n)
{
    return n->heap_pos != STORE_NO_POS;
}
static inline const char *tnode_name(const tnode_t *n, size_t *len)
{
    *len = n->path_len - n->name_off;
    return n->path + n->name_off;
}
/* Hidden nodes: a name starting with '_' (etcd: node.IsHidden). */
static inline bool tnode_is_hidden(const tnode_t *n)
{
    return n->path_len > n->name_off && n->path[n->name_off] == '_';
}
void tnode_add_child(tnode_t *dir, tnode_t *child);
void tnode_remove_child(tnode_t *dir, tnode_t *child);
/* Sorts dir's children bytewise by name (cached until the next insertion). */
void tnode_sort_children(tnode_t *dir);
/* A malloc'd copy of dir's children in bytewise order (the caller frees it). */
tnode_t **tnode_children_sorted_copy(const tnode_t *dir);
/* expiration and ttl as etcd computes them against `now_ns` (0/0 if permanent). */
void tnode_expiration_ttl(const tnode_t *n, int64_t now_ns, int64_t *exp, int64_t *ttl);
/* A borrowed view of n (no children) as etcd's Repr(false, false). */
void tnode_view(const tnode_t *n, int64_t now_ns, store_node_t *out);

/* ---- Node table: full path -> node (store/tree.c) ---- */

typedef struct node_table {
    uint64_t seed;
    tnode_t **slots;
    size_t mask;
    size_t count;
} node_table_t;

/*
 * A 64-bit hash of a path, keyed by `seed`. Each store picks its seed from
 * where its memory lies (randomised by the OS), so clients cannot choose keys
 * that all land in one probe chain; nothing observable depends on it.
 */
uint64_t store_hash(uint64_t seed, const char *p, size_t n);
int node_table_init(node_table_t *t, uint64_t seed);
/* Inserts n, computing n->hash. */
void node_table_destroy(node_table_t *t);
tnode_t *node_table_find(const node_table_t *t, const char *path, size_t len, uint64_t hash);
void node_table_insert(node_table_t *t, tnode_t *n);
void node_table_delete(node_table_t *t, tnode_t *n);
/* Shrinks a table most of whose slots are empty. */
void node_table_fit(node_table_t *t);

/*
 * Go's path.Clean(path.Join("/", in)) into out (at least len + 2 bytes).
 * Returns the length written (out is NUL-terminated).
 */
size_t store_path_clean(const char *in, size_t len, char *out);
/* True when `p` is already clean and absolute. */
bool store_path_is_clean(const char *p, size_t len);
/* The length of the parent path of a clean absolute path ("/" for "/a"). */
static inline size_t store_path_parent_len(const char *path, size_t len)
{
    const char *slash = memrchr(path, '/', len);
    size_t l = slash ? (size_t)(slash - path) : 0;
    return l ? l : 1;
}
/* The end of the component of path (clean) that starts at i. */
static inline size_t store_path_component_end(const char *path, size_t len, size_t i)
{
    while (i < len && path[i] != '/')
        i++;
    return i;
}

/* ---- TTL heap (store/ttl_heap.c): nodes ordered by (expire_ns, path) ---- */

typedef struct ttl_heap {
    tnode_t **a;
    uint32_t n;
    uint32_t cap;
} ttl_heap_t;

void ttl_heap_destroy(ttl_heap_t *h);
void ttl_heap_push(ttl_heap_t *h, tnode_t *n);
void ttl_heap_remove(ttl_heap_t *h, tnode_t *n);
void ttl_heap_update(ttl_heap_t *h, tnode_t *n);
static inline tnode_t *ttl_heap_top(const ttl_heap_t *h)
{
    return h->n ? h->a[0] : NULL;
}

/* ---- Events (store/event.c) ---- */

/*
 * A new event (refcount 1) with copies of node / prev (prev may be NULL).
 * The views' nodes[] are ignored. Ownership: the caller releases it.
 */
store_event_t *store_event_new(store_action_t action, const store_node_t *node,
                               const store_node_t *prev, uint64_t etcd_index);
/* A `get` event for n: the listing etcd's Get returns. */
store_event_t *store_event_new_get(tnode_t *n, bool recursive, bool sorted, int64_t now_ns,
                                   uint64_t etcd_index);

/* ---- Event history (store/event_history.c) ---- */

typedef struct event_history {
    store_event_t **ring;
    uint32_t cap;
    uint32_t head; /* ring position of the oldest event */
    uint32_t count;
} event_history_t;

int event_history_init(event_history_t *h, uint32_t cap);
void event_history_destroy(event_history_t *h);
/* Keeps a reference to ev (its index must follow the previous one). */
void event_history_add(event_history_t *h, store_event_t *ev);
/* Index of the oldest kept event, 0 when empty. */
uint64_t event_history_start(const event_history_t *h);
uint64_t event_history_last(const event_history_t *h);
/* The i-th kept event (0 = oldest), borrowed. */
store_event_t *event_history_at(const event_history_t *h, uint32_t i);

/*
 * Whether an event concerns a watch on (key, recursive): the event's own
 * key; for a recursive watch, a descendant without hidden components below
 * the watched key; and for the delete or expiry of a directory, any key below
 * it. Whole path components only (etcd matched "/foobar" for "/foo").
 */
bool store_event_matches(const store_event_t *ev, const char *key, size_t key_len, bool recursive);

/* ---- Watcher hub (store/watcher_hub.c) ---- */

typedef struct watch_entry watch_entry_t;

typedef struct watcher_hub {
    uint64_t seed;
    watch_entry_t **buckets;
    size_t mask;
    size_t n_entries;
    size_t n_watchers;
    store_watcher_t **buf; /* matches collected for one notification */
    size_t buf_cap;
    unsigned depth;             /* > 0 while callbacks run */
    store_watcher_t *graveyard; /* removed during callbacks, freed afterwards */
} watcher_hub_t;

void watcher_hub_init(watcher_hub_t *h, uint64_t seed);
/* Ends every watcher with cb(ctx, NULL), then frees the hub. */
void watcher_hub_destroy(watcher_hub_t *h);
store_watcher_t *watcher_hub_add(watcher_hub_t *h, const char *key, size_t key_len, bool recursive,
                                 bool stream, uint64_t since_index, store_watch_cb cb, void *ctx);
void watcher_hub_remove(watcher_hub_t *h, store_watcher_t *w);
/* Delivers a live event to every matching watcher (see store_event_matches). */
void watcher_hub_notify(watcher_hub_t *h, store_event_t *ev);

/* ---- The store (store/store.c) ---- */

struct store {
    uint64_t index;
    uint64_t replaced; /* store_replaced() */
    tnode_t *root;
    node_table_t table;
    ttl_heap_t heap;
    event_history_t history;
    watcher_hub_t hub;
    store_stats_t stats;
    uint32_t history_size;
    int64_t last_time_ns; /* latest time_ns of an applied request (STORE_OP_RESUME) */
    /* The engine holding the store's image (store/persist.c), or NULL. */
    engine_t *engine;
    engine_batch_t *batch; /* changes since the last store_commit, or NULL */
    int persist_rc;        /* the first change the batch could not take */
    engine_buf_t pbuf;     /* scratch: an engine path */
    engine_buf_t rbuf;     /* scratch: a record */
    /*
     * partial: the tree is a cache of the engine's image (store/cache.c):
     * a node missing from the table may still be in the engine, and a
     * directory lists only what is loaded unless it is `complete`.
     */
    bool partial;
    size_t cache_cap;   /* nodes kept in memory before eviction; 0: all */
    uint64_t evict_rng; /* the state of the random slots eviction samples */
    uint64_t n_nodes;   /* nodes in the engine's image (partial stores) */
};

/* ---- The tree as a cache of the engine (store/cache.c) ---- */

/*
 * Loads the node `path` (clean, absolute) and its missing ancestors from the
 * engine; NULL when it does not exist. Only for partial stores.
 */
tnode_t *store_fill(store_t *s, const char *path, size_t len);
/*
 * For a read that changes nothing: the node of path as store_lookup finds
 * it, except that when the cache is full a file read from the engine may
 * stay out of the tree (*detached set): it is then in no table and no
 * directory, and the caller frees it with tnode_free once done with it.
 */
tnode_t *store_lookup_read(store_t *s, const char *path, size_t len, bool *detached);
/* Loads every child of dir that is not in memory yet; dir is then complete. */
void store_complete_dir(store_t *s, tnode_t *dir);
/* The same for every directory below top (top included): a recursive read. */
void store_complete_subtree(store_t *s, tnode_t *top);
/* Whether dir has no child, in memory or in the engine. */
bool store_dir_empty(store_t *s, tnode_t *dir);
/* Evicts nodes the clock finds unused until at most cache_cap are loaded
 * (nothing while a caller may hold a node pointer: between operations). */
void store_cache_trim(store_t *s);

/* ---- The image in the engine (store/persist.c); no-ops without one ---- */

/* Writes n's record (after any change to it). */
void persist_node(store_t *s, const tnode_t *n);
/* Deletes the records of n and its subtree (before n is freed); returns how
 * many node records went (0 without an engine). */
uint64_t persist_remove(store_t *s, const tnode_t *n);
/* Adds (or removes) n's entry at `deadline` in the engine's TTL index. */
void persist_ttl(store_t *s, const tnode_t *n, bool add, int64_t deadline);
void persist_ttl_of(store_t *s, const char *path, size_t path_len, uint64_t created, bool add,
                    int64_t deadline);
/* A node record's fields, borrowed from the record. */
typedef struct persist_rec {
    bool dir, ttl;
    uint64_t created, modified;
    int64_t expire;
    const char *path; /* apart: from the record; else left as the caller set it */
    size_t path_len;
    const char *value; /* files */
    size_t value_len;
} persist_rec_t;
/* Decodes a node record; false when damaged (its path not clean included). */
bool persist_decode_record(const uint8_t *v, size_t vl, bool apart, persist_rec_t *r);
/* The fields of n's record (borrowed from n). */
persist_rec_t persist_rec_of(const tnode_t *n);
/* Writes a node's record from its fields (persist_node for one in the tree). */
void persist_record(store_t *s, const persist_rec_t *rec);
/* The engine path of the records kept apart ("/l"): none there, none apart. */
#define PERSIST_APART_DIR "/l"
/* The engine path under which a node's record is: "/k" + its v2 path. */
#define PERSIST_NODE_DIR     "/k"
#define PERSIST_NODE_DIR_LEN 2

/* The engine path of the node record of `path` in s->pbuf ("/k" + path). */
size_t persist_node_key(store_t *s, const char *path, size_t len);
/* True when n's record lives apart (a path too long for the engine's keys). */
bool persist_is_apart(store_t *s, const tnode_t *n);
/* Records ev in the history; evicted (or NULL) is the event it pushed out. */
void persist_event(store_t *s, const store_event_t *ev, const store_event_t *evicted);
/* Deletes the record of a node below one persist_remove was called for,
 * when it lives apart (a path too long for the engine's keys); returns 1
 * when it did. */
uint64_t persist_remove_long(store_t *s, const tnode_t *n);

/* The /v2/stats/store counters in a fixed order (snapshots, engine metadata). */
void store_stats_to_array(const store_stats_t *st, uint64_t out[15]);
void store_stats_from_array(store_stats_t *st, const uint64_t in[15]);

/* Lookup by clean absolute path, read from the engine when a partial store
 * does not hold it (store/cache.c); NULL when missing. */
tnode_t *store_lookup(store_t *s, const char *path, size_t len);
/* The same among the nodes in memory only (no read of the engine). */
tnode_t *store_lookup_loaded(const store_t *s, const char *path, size_t len);
/*
 * etcd's internalGet: the node, or NULL with err filled: 100 with the first
 * missing prefix as cause, 104 with the file in the way.
 */
tnode_t *store_internal_get(store_t *s, const char *path, size_t len, store_error_t *err);
/* The same for a read that changes nothing: the node may be detached, as
 * store_lookup_read says (the caller then frees it). */
tnode_t *store_internal_read(store_t *s, const char *path, size_t len, bool *detached,
                             store_error_t *err);
/*
 * The directory `path` (clean, absolute), created with `index` (and its
 * missing ancestors) when missing: etcd's walk(checkDir). NULL and 104 when a
 * file is in the way.
 */
tnode_t *store_ensure_dir(store_t *s, const char *path, size_t len, uint64_t index,
                          store_error_t *err);
/*
 * Puts the node of a record read back (from the engine or a snapshot) under
 * `parent`: table, children, and the heap when it has a TTL. Writes nothing
 * to the engine. Returns the node (owned by the tree).
 */
tnode_t *store_attach_node(store_t *s, tnode_t *parent, const persist_rec_t *rec);
/* Inserts a new node under `parent` (table, children). */
tnode_t *store_insert_node(store_t *s, tnode_t *parent, const char *path, size_t len, bool dir,
                           uint64_t index);
/* Sets or clears a node's deadline, keeping the heap in step. */
void store_node_set_expire(store_t *s, tnode_t *n, bool has, int64_t expire_ns);
/*
 * Removes n and its subtree from the tree, the table and the heap, and frees
 * them (etcd: node.Remove with dir and recursive).
 */
void store_remove_subtree(store_t *s, tnode_t *n);
/* Records ev in the history and notifies watchers unless it is a refresh. */
void store_record_event(store_t *s, store_event_t *ev);

/* Operations (store/ops.c): each returns 0 and a new event, or -code. */
int store_op_apply(store_t *s, const store_request_t *req, store_event_t **ev_out,
                   store_error_t *err);

#endif /* METCD_STORE_INT_H */
