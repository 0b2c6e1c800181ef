/*
 * store/: the etcd v2 key store.
 *
 * A tree of keys and directories, a TTL min-heap, a WatcherHub with an event
 * history ring, and every v2 operation as etcd 3.4.23 performs it
 * (etcdserver/api/v2store). Nothing here reads a clock or does I/O: time
 * arrives as an argument (the time the leader stamped on a request, or the
 * caller's "now" for reads), so every member that applies the same requests
 * in the same order ends in the same state.
 *
 * Writes reach the store only through store_apply(), which takes a request
 * encoded by store_request_encode(). This is the seam the raft log uses: the
 * server proposes the encoded bytes, and every member applies them when they
 * are committed.
 *
 * Threads: a store_t belongs to one thread (the event loop). No locks.
 */
#ifndef METCD_STORE_H
#define METCD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/engine.h"

/*
 * v2 errors: name, errorCode, message. One table, so the two can never
 * disagree (etcd: etcdserver/api/v2error/error.go); the HTTP status of each
 * code is the API's business (api/errors.c). Codes that
 * etcd defines but never sends from the v2 keys API are kept so that the
 * numbers stay reserved.
 */
#define STORE_ERRORS(X)                                                                            \
    X(KEY_NOT_FOUND, 100, "Key not found")                                                         \
    X(TEST_FAILED, 101, "Compare failed")                                                          \
    X(NOT_FILE, 102, "Not a file")                                                                 \
    X(NO_MORE_PEER, 103, "Reached the max number of peers in the cluster")                         \
    X(NOT_DIR, 104, "Not a directory")                                                             \
    X(NODE_EXIST, 105, "Key already exists")                                                       \
    X(KEY_IS_PRESERVED, 106, "The prefix of given key is a keyword in etcd")                       \
    X(ROOT_RONLY, 107, "Root is read only")                                                        \
    X(DIR_NOT_EMPTY, 108, "Directory not empty")                                                   \
    X(EXISTING_PEER_ADDR, 109, "Peer address has existed")                                         \
    X(UNAUTHORIZED, 110, "The request requires user authentication")                               \
    X(VALUE_REQUIRED, 200, "Value is Required in POST form")                                       \
    X(PREV_VALUE_REQUIRED, 201, "PrevValue is Required in POST form")                              \
    X(TTL_NAN, 202, "The given TTL in POST form is not a number")                                  \
    X(INDEX_NAN, 203, "The given index in POST form is not a number")                              \
    X(VALUE_OR_TTL_REQUIRED, 204, "Value or TTL is required in POST form")                         \
    X(TIMEOUT_NAN, 205, "The given timeout in POST form is not a number")                          \
    X(NAME_REQUIRED, 206, "Name is required in POST form")                                         \
    X(INDEX_OR_VALUE_REQUIRED, 207, "Index or value is required")                                  \
    X(INDEX_VALUE_MUTEX, 208, "Index and value cannot both be specified")                          \
    X(INVALID_FIELD, 209, "Invalid field")                                                         \
    X(INVALID_FORM, 210, "Invalid POST form")                                                      \
    X(REFRESH_VALUE, 211, "Value provided on refresh")                                             \
    X(REFRESH_TTL_REQUIRED, 212, "A TTL must be provided on refresh")                              \
    X(RAFT_INTERNAL, 300, "Raft Internal Error")                                                   \
    X(LEADER_ELECT, 301, "During Leader Election")                                                 \
    X(WATCHER_CLEARED, 400, "watcher is cleared due to etcd recovery")                             \
    X(EVENT_INDEX_CLEARED, 401, "The event in requested index is outdated and cleared")            \
    X(STANDBY_INTERNAL, 402, "Standby Internal Error")                                             \
    X(INVALID_ACTIVE_SIZE, 403, "Invalid active size")                                             \
    X(INVALID_REMOVE_DELAY, 404, "Standby remove delay")                                           \
    X(CLIENT_INTERNAL, 500, "Client Internal Error")

/* STORE_E_KEY_NOT_FOUND == 100, ... Functions return 0 or -STORE_E_x. */
enum store_error_code {
#define STORE_ERROR_ENUM(name, code, msg) STORE_E_##name = code,
    STORE_ERRORS(STORE_ERROR_ENUM)
#undef STORE_ERROR_ENUM
};

/* The message of an errorCode; NULL for an unknown code. */
const char *store_error_message(int code);

/*
 * A v2 error as etcd reports it: {"errorCode","message","cause","index"}.
 * `cause` is owned by the error (malloc'd, may be NULL for no cause); release
 * it with store_error_clear(). `index` is the store index etcd reports.
 * `cause_len` counts its bytes: a cause quotes keys and values, which may hold
 * NUL (etcd's causes are Go strings and keep every byte), so readers must use
 * the length; cause[cause_len] is always a terminating NUL.
 */
typedef struct store_error {
    int code;
    char *cause;
    size_t cause_len;
    uint64_t index;
} store_error_t;

/* Frees the cause and zeroes the error. Safe on a zeroed error. */
void store_error_clear(store_error_t *err);
/* Fills err (clearing it first) with a copy of the C string cause (may be
 * NULL). Returns -code. */
int store_error_set(store_error_t *err, int code, const char *cause, uint64_t index);

/* ---- Requests: what is proposed through raft and applied. ---- */

typedef enum store_op {
    STORE_OP_SET = 1,       /* PUT (no prevExist, no prev conditions) */
    STORE_OP_CREATE,        /* PUT prevExist=false */
    STORE_OP_CREATE_UNIQUE, /* POST: in-order key under `key` */
    STORE_OP_UPDATE,        /* PUT prevExist=true without prev conditions */
    STORE_OP_CAS,           /* PUT with prevValue and/or prevIndex */
    STORE_OP_DELETE,        /* DELETE without prev conditions */
    STORE_OP_CAD,           /* DELETE with prevValue and/or prevIndex */
    STORE_OP_SYNC,          /* leader's clock: expire every node due by time_ns */
    STORE_OP_RESUME,        /* a new leader took over at time_ns: see below */
} store_op_t;

/*
 * STORE_OP_RESUME gives TTL keys back the time they spent without a leader,
 * when no client could refresh them (etcd bug: keys expiring right after an
 * election or a restart). The store remembers the latest time_ns of every
 * request it applied (the last sign of life of the previous leader: with
 * TTL keys present the leader stamps a SYNC every 500 ms); applying RESUME
 * moves every deadline forward by (time_ns - that time), when positive. A
 * deadline that was already due stays due. No index, no event, like SYNC.
 * A new leader proposes it before it accepts any write of its term.
 */

/*
 * A decoded request. Strings are not NUL-terminated and are borrowed: from the
 * caller when encoding, from the encoded buffer after store_request_decode().
 * `key` is the cleaned absolute path ("/a/b"; "/" for the root).
 */
typedef struct store_request {
    store_op_t op;
    int64_t time_ns; /* the proposer's clock (Unix ns); deadlines = time_ns + ttl */
    const char *key;
    size_t key_len;
    const char *value; /* may be NULL (etcd treats a missing value as "") */
    size_t value_len;
    const char *prev_value; /* CAS/CAD condition when has_prev_value */
    size_t prev_value_len;
    uint64_t prev_index; /* CAS/CAD condition when != 0 (etcd: 0 means absent) */
    uint64_t ttl_sec;    /* valid when has_ttl */
    bool has_ttl;        /* false: permanent (set/create) or TTL removed (update) */
    bool has_prev_value;
    bool dir;
    bool recursive;
    bool refresh; /* refresh=true: keep the value, renew the TTL, no watch event */
} store_request_t;

/*
 * Encodes req into a compact, versioned binary form.
 * Ownership: *out is malloc'd; the caller frees it. Returns 0 or -1 (ENOMEM).
 */
int store_request_encode(const store_request_t *req, uint8_t **out, size_t *out_len);

/*
 * Decodes an encoded request. Strings in *req point into `data`, which must
 * outlive *req. Returns 0, or -1 for bytes that are not a valid request.
 */
int store_request_decode(const uint8_t *data, size_t len, store_request_t *req);

/* ---- Results: nodes and events, immutable and reference counted. ---- */

typedef enum store_action {
    STORE_ACTION_GET = 1,
    STORE_ACTION_SET,
    STORE_ACTION_CREATE,
    STORE_ACTION_UPDATE,
    STORE_ACTION_CAS, /* "compareAndSwap" */
    STORE_ACTION_DELETE,
    STORE_ACTION_CAD, /* "compareAndDelete" */
    STORE_ACTION_EXPIRE,
} store_action_t;

/* The JSON name etcd gives an action ("set", "compareAndSwap", ...). */
const char *store_action_name(store_action_t action);

/*
 * A node as etcd serialises it (NodeExtern). The fields follow Go's
 * omitempty: an encoder leaves out key when key_len == 0, dir when false,
 * value when value == NULL, expiration when expiration_ns == 0, ttl when 0,
 * nodes when n_nodes == 0, and each index when 0 (the root listing has no key
 * and no indexes). Field order in JSON: key, dir, value, expiration, ttl,
 * nodes, modifiedIndex, createdIndex.
 * Strings are NUL-terminated as well as counted.
 */
typedef struct store_node {
    const char *key;
    size_t key_len;
    const char *value; /* NULL for dirs and for delete/expire event nodes */
    size_t value_len;
    int64_t expiration_ns; /* Unix ns; 0 = permanent */
    int64_t ttl;           /* seconds left, rounded up, as etcd computes it */
    uint64_t modified_index;
    uint64_t created_index;
    struct store_node *nodes; /* children (listings), n_nodes of them */
    size_t n_nodes;
    bool dir;
    /* Known to be plain JSON text (common/jsontext.h), so an encoder may copy
     * it as it is; false also when not known. */
    bool key_plain;
    bool value_plain;
} store_node_t;

/*
 * The result of an operation, and what watchers receive.
 * `etcd_index` is the store index after the operation (a write's own index;
 * the current index for a GET). Reference counted: every event handed to a
 * caller is a new reference that the caller releases; a watcher callback
 * borrows the event for the duration of the call (retain it to keep it).
 */
typedef struct store_event {
    store_action_t action;
    store_node_t node;
    store_node_t prev_node;
    bool has_prev_node;
    bool refresh; /* a TTL refresh: not delivered to watchers, skipped by history */
    /*
     * A GET whose nodes show a TTL somewhere ("ttl", "expiration"): its
     * answer changes with the clock even while the store index stays.
     */
    bool timed;
    uint64_t etcd_index;
    unsigned refcount;
} store_event_t;

store_event_t *store_event_retain(store_event_t *ev);
void store_event_release(store_event_t *ev);

/* ---- The store. ---- */

typedef struct store store_t;

typedef struct store_config {
    unsigned history_size; /* events kept for waitIndex; etcd keeps 1000 */
    /*
     * On an engine (store_open_engine): how many nodes stay in memory. The
     * tree is then a cache of the engine's image, loaded on demand and
     * trimmed by eviction; 0 keeps every node that was loaded.
     */
    size_t cache_nodes;
} store_config_t;

/* Ownership: the caller frees the store with store_free(). NULL on ENOMEM. */
store_t *store_new(const store_config_t *cfg);
/* Frees the store; pending watchers are ended with WATCHER_CLEARED first. */
void store_free(store_t *s);

/*
 * Replaces dst's contents (tree, index, history, TTLs, counters, and the
 * engine: src's, from store_open_engine on an engine built from a snapshot,
 * or none) with src's, as a follower installing a leader's snapshot must,
 * and frees src with dst's old contents (closing dst's old engine). dst's
 * watchers end first (their callbacks get NULL: error 400, as etcd clears
 * its watchers on recovery). dst keeps its address, so its users keep their
 * pointer.
 */
void store_replace(store_t *dst, store_t *src);

/* The current store index: the index of the last successful mutation. */
uint64_t store_index(const store_t *s);

/*
 * How many times store_replace() gave s new contents. A read answered at
 * store index I stays the answer while store_index() is I and this count
 * has not moved (a replace may restore the same index: the same tree by
 * Raft's state machine safety, but nothing here has to rely on that).
 */
uint64_t store_replaced(const store_t *s);

/*
 * Applies one committed request (bytes from store_request_encode()).
 * On success returns 0 and, when ev_out is not NULL, a new reference to the
 * request's event (NULL for SYNC). Watchers are notified before it returns:
 * for a SYNC, one `expire` event per expired node, each with its own index.
 * On failure returns -code and fills err (the store is unchanged, no index is
 * used). A request that does not decode fails with RAFT_INTERNAL.
 */
int store_apply(store_t *s, const uint8_t *data, size_t len, store_event_t **ev_out,
                store_error_t *err);

/*
 * GET: returns 0 and a new reference to a `get` event, or -code and err.
 * now_ns is the caller's clock, used for the `ttl` fields. Listings leave
 * out hidden (`_`) children; sorted orders every level bytewise.
 */
int store_get(store_t *s, const char *key, size_t key_len, bool recursive, bool sorted,
              int64_t now_ns, store_event_t **ev_out, store_error_t *err);

/*
 * Watches. The callback gets each matching event (borrowed), or ev == NULL
 * when the store ends the watch (store_free; the API reports WATCHER_CLEARED).
 * A one-shot watcher (stream == false) is removed by the store right after
 * its callback returns: the caller must not use the handle after that.
 */
typedef struct store_watcher store_watcher_t;
typedef void (*store_watch_cb)(void *ctx, store_event_t *ev);
/*
 * Inside a callback the caller may remove any watcher (its own included) and
 * register new ones; a watcher removed there is not called again, even for
 * the event being delivered. An event replayed from history is the stored
 * one: its etcd_index is its own index, not the index at registration.
 */

/*
 * Registers a watch on key. since_index == 0 means "the next event"; a
 * since_index in the history replays matching events from there (for a
 * one-shot watch, the first one; for a stream, every one, then live events:
 * etcd's stream stalls after the first, we do not). A since_index older than
 * the history fails with EVENT_INDEX_CLEARED (cause "the requested history has
 * been cleared [oldest/since]").
 * Matching is by whole path components (etcd's "/foo" matched "/foobar"; we
 * do not). A recursive watch never sees hidden descendants, live or from
 * history. A watcher below a deleted or expired directory gets that event,
 * whose node.key is the directory.
 * Returns 0 with *out set to the watcher, or to NULL when a one-shot watch was
 * already answered from history (cb has been called). Returns -code and err
 * on failure (cb not called).
 */
int store_watch(store_t *s, const char *key, size_t key_len, bool recursive, bool stream,
                uint64_t since_index, store_watch_cb cb, void *ctx, store_watcher_t **out,
                store_error_t *err);

/* Removes a watcher (client gone). Its callback is not called again. */
void store_watcher_remove(store_t *s, store_watcher_t *w);

/* Number of registered watchers. */
size_t store_watcher_count(const store_t *s);

/*
 * The earliest TTL deadline in the store (Unix ns), or 0 when no node
 * expires. The leader uses it to decide when to propose a SYNC.
 */
int64_t store_next_expiration(const store_t *s);

/* Counters etcd reports at /v2/stats/store (and watchers via the hub). */
typedef struct store_stats {
    uint64_t gets_success, gets_fail;
    uint64_t sets_success, sets_fail;
    uint64_t delete_success, delete_fail;
    uint64_t update_success, update_fail;
    uint64_t create_success, create_fail;
    uint64_t compare_and_swap_success, compare_and_swap_fail;
    uint64_t compare_and_delete_success, compare_and_delete_fail;
    uint64_t expire_count;
    uint64_t watchers;
} store_stats_t;

void store_get_stats(const store_t *s, store_stats_t *out);

/*
 * Counts one failed GET without reading anything. etcd's v2 keys handler
 * checks whether auth is enabled for every request that parses, by reading
 * a key that does not exist in its store, so getsFail grows by one per such
 * request; the API calls this to keep /v2/stats/store equal to etcd's.
 */
void store_count_failed_get(store_t *s);
/* Counts one successful GET without reading anything (the same, once the key exists). */
void store_count_successful_get(store_t *s);

/* Number of keys (files and dirs, the root excluded). */
uint64_t store_node_count(const store_t *s);

/*
 * Snapshots (format: docs/snapshot-format.md). The whole store: every node
 * with its indexes, value and TTL deadline, the current index, the
 * /v2/stats/store counters, and the event history (so that waitIndex keeps
 * working across a restart), in a versioned binary form ending in a CRC-32C.
 * Watchers are not saved. Members holding the same data write the same bytes.
 *
 * store_save streams the snapshot through write(ctx, buf, len) in pieces;
 * buf is only valid during the call. Returns 0, -1 when out of memory, or the
 * first negative value write returned (the output is then incomplete).
 */
int store_save(const store_t *s, int (*write)(void *ctx, const void *buf, size_t len), void *ctx);

/*
 * Rebuilds a store from a complete snapshot (data is not kept). cfg as for
 * store_new (its history size may differ from the saved one: the newest
 * events are kept). Returns NULL for a damaged or unknown snapshot, with a
 * reason in err (err_len bytes, NUL-terminated; err may be NULL).
 * Ownership: the caller frees the store with store_free().
 */
store_t *store_load(const store_config_t *cfg, const uint8_t *data, size_t len, char *err,
                    size_t err_len);

/*
 * Storage engines (store/engine.h, store/persist.c). An attached engine
 * holds the store's image: every change goes into the engine's batch, and
 * store_commit() writes the batch with the applied raft index, the store
 * index, the last request time and the counters in one atomic step. A
 * restart opens the engine and replays only the log after
 * store_applied_index(). Without an engine (the memory backend) these are
 * no-ops and the tree in memory is the whole store.
 *
 * On an engine the tree is a cache (store/cache.c): a node is read from the
 * engine when first looked up, and cfg->cache_nodes bounds how many stay.
 */

/*
 * A store on e's contents (empty if e is new). It reads at once only the
 * nodes with a TTL (from the engine's TTL index, with their parents), the
 * records kept apart and the event history; the rest is read on demand.
 * On success the store owns e (store_free closes it); on failure NULL, err
 * says why and the caller keeps e. Ownership: the caller frees the store
 * with store_free().
 */
store_t *store_open_engine(const store_config_t *cfg, engine_t *e, char *err, size_t err_len);

/*
 * Replaces everything in e with s's contents, applied at applied_index, in
 * one commit, and attaches e to s (s owns it from then on; an engine
 * already attached must be e). For an offline conversion (migrate.c).
 * Returns 0 or a negative errno (store_engine_error says why).
 */
int store_engine_rewrite(store_t *s, engine_t *e, uint64_t applied_index);

/*
 * Commits the changes since the last commit, with applied_index, in one
 * atomic step (not synced), on this thread, after a commit in flight
 * (store_commit_start). Returns 0 or a negative errno: the server must
 * then stop, since the engine no longer matches the log.
 */
int store_commit(store_t *s, uint64_t applied_index);

/*
 * The same, written by the engine's commit thread (lmdb; the others
 * commit here): the changes are sealed and the store goes on at once,
 * reading them (reads see them as if committed) and gathering the next
 * ones. One commit in flight: a second waits for the first. Its result is
 * taken by store_commit_poll (when store_commit_fd is readable) or
 * store_commit_wait; until then store_applied_index() is the previous
 * commit's. Returns 0 or a negative errno (an earlier commit failed; as
 * for store_commit, the server must stop).
 */
int store_commit_start(store_t *s, uint64_t applied_index);

/* Whether a commit started by store_commit_start is in flight. */
bool store_commit_busy(const store_t *s);

/*
 * An eventfd that becomes readable when a commit in flight ends (starts
 * the engine's commit thread), or -1 when commits are never in flight (no
 * engine, or one that commits in place). Borrowed: valid as long as the
 * engine, that is until store_free, store_replace or a detach.
 */
int store_commit_fd(store_t *s);

/*
 * Takes the result of a commit in flight that has ended. Returns 1 when
 * one ended, 0 when none did, or its negative errno (the server must stop;
 * store_engine_error says why). As for any write to the store, no reader
 * may run meanwhile (the server holds its lock), and so for
 * store_commit_wait.
 */
int store_commit_poll(store_t *s);

/* Waits for a commit in flight, if any: 0 or its negative errno, as above. */
int store_commit_wait(store_t *s);

/* Makes every commit so far durable (one in flight included): before the
 * log entries it covers go. */
int store_sync(store_t *s);

/*
 * Takes the attached engine off s (uncommitted changes are dropped) and
 * returns it, or NULL without one; s keeps its tree as a memory store.
 * Ownership: the caller closes the engine. For an offline conversion from
 * one engine to another (store_engine_rewrite then attaches the new one).
 */
engine_t *store_engine_detach(store_t *s);

/*
 * Writes the store of snapshot `data` (store_save's bytes) into e, which
 * must be empty, without building the tree: records go in commits of a
 * bounded size, the last one with applied_index, then e is synced. A crash
 * half-way leaves an engine whose applied index is 0. e stays the caller's.
 * Returns 0, or -1 with err (a bad snapshot, or the engine failed).
 */
int store_build_engine(const store_config_t *cfg, engine_t *e, const uint8_t *data, size_t len,
                       uint64_t applied_index, char *err, size_t err_len);

/*
 * Snapshots of a large store without holding it in memory: a saver
 * freezes, on the store's thread, what a snapshot needs (a read view of the
 * engine, the header, the history) and writes store_save's format from the
 * view on any thread, while the store goes on. The nodes come in the
 * engine's key order (parents first, not depth first): store_load gives
 * the same store as from store_save's bytes, which may differ. NULL when the store has no
 * lmdb or leveldb engine, has uncommitted changes, or keeps records apart
 * (very long paths): then store_load_all() and store_save() (a forked
 * child) do it. Ownership: free it with store_saver_free() on the store's
 * thread, after store_saver_run() has returned.
 */
typedef struct store_saver store_saver_t;
store_saver_t *store_saver_new(store_t *s);
/* Returns 0, or -1 (a write failed, the view could not be read, or it was
 * cancelled). */
int store_saver_run(store_saver_t *sv, int (*write)(void *ctx, const void *buf, size_t len),
                    void *ctx);
/* Makes a running store_saver_run stop soon with -1 (any thread). */
void store_saver_cancel(store_saver_t *sv);
void store_saver_free(store_saver_t *sv);

/*
 * Loads every node of the engine's image that is not in memory (a store
 * opened on an engine holds only what was read lately): before the whole
 * tree is walked (store_save, a detach). Aborts when the engine cannot be
 * read, like any failed read of the image.
 */
void store_load_all(store_t *s);

/* The raft index of the engine's last commit (0 without an engine). */
uint64_t store_applied_index(const store_t *s);

/*
 * Detaches s's engine without reading the nodes it alone holds: s's tree is
 * then incomplete and fit only to be replaced (store_replace) or freed.
 * Ownership: the caller closes the engine.
 */
engine_t *store_engine_detach_unloaded(store_t *s);

/* Whether s has an engine attached (lmdb or leveldb). */
bool store_has_engine(const store_t *s);

/* The engine's last error, one line ("" without one). Borrowed. */
const char *store_engine_error(const store_t *s);

#endif /* METCD_STORE_H */
