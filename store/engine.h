/*
 * store/engine.h: storage engines, the bytes under the v2 store.
 *
 * One interface, three implementations: memory (a skip list), LMDB (a
 * memory-mapped B+tree: the cheapest reads) and LevelDB (an LSM tree: the
 * cheapest writes). An engine stores opaque values under v2 paths ("/a/b"),
 * a TTL index of (deadline, path) pairs and one metadata record; the v2
 * semantics (directories, indexes, TTL rules, events, errors) stay in the
 * store above it. The engine never interprets a value.
 *
 * Writes: one batch per applied Ready. A batch collects puts, deletes,
 * subtree deletes and TTL index changes; engine_batch_commit() writes all of
 * them and the metadata (applied raft index, store index, last request time,
 * stats) in one atomic step, so that after a restart the data and the index
 * it covers always agree and the WAL is replayed from exactly that index.
 * Commits are not durable one by one (LevelDB: non-sync writes; LMDB:
 * MDB_NOMETASYNC, whose commits fsync their data pages but not the meta page,
 * so that a power cut can undo commits but not damage the B-tree, see
 * engine_lmdb.c): the WAL is the durability point. engine_sync() makes every
 * commit so far durable; the server calls it before it releases WAL entries
 * the engine covers.
 *
 * Reads go through a reader (engine_read_t): the engine's committed state, a
 * batch (its committed state plus its own uncommitted writes, so that the
 * entries of one Ready see each other), or a view (a frozen, consistent
 * image for snapshots: an LMDB read transaction, a LevelDB snapshot, a copy
 * of the memory engine's index).
 *
 * Listings: a directory's direct children are contiguous in the engine's key
 * order (store/engine_key.c), so a listing reads only its children.
 * Descendants are yielded depth first, each directory's children in key
 * order, which is the order of a nested recursive listing: it streams.
 * Key order is bytewise order of the names.
 *
 * Paths: absolute, "/" separated, no empty component, no trailing "/", any
 * byte but '/' in a name (0x00 included). "/" (the root) may be listed and
 * subtree-deleted but holds no value of its own.
 *
 * Errors: functions return 0 (or a count / 1 where stated) or a negative
 * errno: -EINVAL for a bad path or misuse, -ENAMETOOLONG for a key the
 * engine cannot store (LMDB keys are limited to 511 bytes), -EIO for an
 * engine failure; engine_errmsg() then says why in one line. Running out of
 * memory aborts (one policy outside raft/).
 *
 * Threads: an engine and everything it hands out belong to one thread at a
 * time, its owner. The one exception is the commit thread of
 * engine_batch_seal(), which writes a sealed batch while the owner goes on
 * reading and gathering the next one.
 */
#ifndef METCD_STORE_ENGINE_H
#define METCD_STORE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum engine_kind {
    ENGINE_MEMORY = 1,
    ENGINE_LMDB,
    ENGINE_LEVELDB,
} engine_kind_t;

/* "memory", "lmdb", "leveldb"; NULL for an unknown kind. */
const char *engine_kind_name(engine_kind_t kind);

typedef struct engine_options {
    engine_kind_t kind;
    /* The engine's directory (created 0700 if missing); unused by memory. */
    const char *dir;
    /* LMDB: the first map size; it doubles whenever a commit needs more.
     * 0: 256 MiB (virtual address space, not disk or RAM). */
    size_t lmdb_map_size;
    /* LevelDB: block cache and write buffer. 0: 64 MiB and 16 MiB (LevelDB's
     * own 8 MiB / 4 MiB make a large data set compact and miss too often). */
    size_t leveldb_cache_size;
    size_t leveldb_write_buffer_size;
} engine_options_t;

/*
 * The metadata committed with every batch. `stats` is an opaque blob (the
 * store's /v2/stats/store counters, encoded by the store).
 */
typedef struct engine_meta {
    uint64_t applied_index;  /* last raft index the committed data covers */
    uint64_t store_index;    /* the v2 store index (X-Etcd-Index) */
    int64_t last_request_ns; /* the latest request time applied (Unix ns) */
    const uint8_t *stats;
    size_t stats_len;
} engine_meta_t;

typedef struct engine engine_t;
typedef struct engine_batch engine_batch_t;
typedef struct engine_view engine_view_t;
typedef struct engine_read engine_read_t;
typedef struct engine_iter engine_iter_t;

/*
 * Opens (creating if needed) the engine opts->kind in opts->dir and reads
 * its metadata back (engine_meta()). Returns 0 and *out, or a negative errno
 * with the reason in err (err_len bytes, NUL-terminated; err may be NULL).
 * Ownership: the caller closes the engine with engine_close().
 */
int engine_open(const engine_options_t *opts, engine_t **out, char *err, size_t err_len);

/*
 * Closes the engine. Every batch, view and iterator must be gone. Closing
 * does not sync: commits since the last engine_sync() are in the page
 * cache, so a process exit or crash loses none of them and only a machine
 * crash can (the WAL covers that).
 */
void engine_close(engine_t *e);

engine_kind_t engine_kind(const engine_t *e);

/*
 * The settings the engine runs with, one line for the log ("block cache
 * 67108864 bytes, ..."): what it handed to the library, defaults applied.
 * Owned by the engine; valid until its next call.
 */
const char *engine_settings(engine_t *e);

/* The last error, one line. Owned by the engine; valid until its next call. */
const char *engine_errmsg(const engine_t *e);

/*
 * The metadata of the last commit (all zero before the first one, stats
 * NULL). Owned by the engine: valid until the next commit or engine_close().
 */
const engine_meta_t *engine_meta(const engine_t *e);

/*
 * 0 when path can be stored (engine_batch_put would take it), -ENAMETOOLONG
 * when its key is longer than the engine stores, -EINVAL for a bad path.
 */
int engine_path_fits(engine_t *e, const char *path, size_t path_len);

/* Makes every commit so far durable (fsync), a sealed one included. */
int engine_sync(engine_t *e);

/* ---- Write batches ---- */

/*
 * Starts the batch of one Ready. One batch at a time per engine.
 * Ownership: the batch is the caller's until engine_batch_commit() or
 * engine_batch_abort() consumes it.
 */
engine_batch_t *engine_batch_begin(engine_t *e);

/* Sets path's value (copied). Visible to reads through the batch at once. */
int engine_batch_put(engine_batch_t *b, const char *path, size_t path_len, const void *value,
                     size_t value_len);

/* Deletes path's value (absent: no-op). Children are not touched. */
int engine_batch_delete(engine_batch_t *b, const char *path, size_t path_len);

/*
 * Deletes path and every descendant ("/" deletes every path). The TTL index
 * is not touched: the store removes the entries it knows of, and skips any
 * due entry whose path is gone (it must check a due entry anyway).
 * Returns the number of paths deleted, or a negative errno.
 */
int engine_batch_delete_subtree(engine_batch_t *b, const char *path, size_t path_len);

/*
 * The TTL index: a set of (deadline, path) pairs, read in deadline order by
 * engine_iter_due(). A key's deadline moves by deleting the old pair and
 * adding the new one (the store knows the old deadline: it is in the node).
 */
int engine_batch_ttl_add(engine_batch_t *b, int64_t deadline_ns, const char *path, size_t path_len);
int engine_batch_ttl_remove(engine_batch_t *b, int64_t deadline_ns, const char *path,
                            size_t path_len);

/*
 * Writes the batch and meta (copied) atomically and frees the batch, whether
 * it succeeds or not. On failure nothing of the batch is written. Not
 * synced: see engine_sync().
 */
int engine_batch_commit(engine_batch_t *b, const engine_meta_t *meta);

/* Drops the batch: nothing of it is written. */
void engine_batch_abort(engine_batch_t *b);

/* ---- Commits on a thread of their own ---- */

/*
 * Seals the batch and hands it to the engine's commit thread, which
 * writes it and meta (copied) as engine_batch_commit() would; the next
 * batch may begin at once. Until the result is taken (engine_commit_poll
 * or engine_commit_wait) every reader but a view's sees the sealed
 * changes below the open batch's, and engine_meta() is the previous
 * commit's. One sealed batch at a time: a second seal first waits for the
 * first. Engines whose commits wait for no disk (memory, LevelDB) commit
 * in place instead. Consumes b. Returns 0, or a negative errno: an earlier
 * sealed commit failed, or the thread cannot start (nothing is written
 * then).
 */
int engine_batch_seal(engine_batch_t *b, const engine_meta_t *meta);

/* Whether a sealed batch is being written. */
bool engine_commit_busy(const engine_t *e);

/*
 * An eventfd (nonblocking) that becomes readable when the commit thread
 * has finished a sealed batch, or -1 for an engine that commits in place
 * (the memory engine) or whose thread cannot start. Owned by the engine:
 * valid until engine_close().
 */
int engine_commit_fd(engine_t *e);

/*
 * Takes a finished commit's result, if there is one: the committed state
 * then holds the sealed batch, whose changes are freed, so nothing read
 * from the engine before this call is valid after it (as after a commit).
 * Like a commit, it must not run beside a reader of the engine (but a
 * lent view): on the owner's thread, with other readers locked out.
 * Returns 1 when a commit finished, 0 when none did (or none is in
 * flight), or the failed commit's negative errno (engine_errmsg says why;
 * it stays failed).
 */
int engine_commit_poll(engine_t *e);

/* Waits for the commit in flight, if any, and takes its result. Returns 0
 * or the failed commit's negative errno. */
int engine_commit_wait(engine_t *e);

/* ---- Views: frozen, consistent images (snapshots for followers) ---- */

/*
 * A view sees the committed state at the time it was opened, whatever is
 * committed later; a sealed batch in flight is waited for first. Ownership:
 * close it with engine_view_close() before the engine. Cheap on LMDB and
 * LevelDB; O(keys) pointer copies on memory. NULL (engine_errmsg says why)
 * when LMDB's reader table (126) is full or a sealed commit failed.
 */
engine_view_t *engine_view_open(engine_t *e);
void engine_view_close(engine_view_t *v);

/*
 * Reading a view on another thread (a snapshot streamed from it): that
 * thread calls engine_view_lend(v) before its first read of v and
 * engine_view_return(v) after its last. In between, only v (its reader and
 * iterators over it) is used there, beside the engine's own thread, which
 * goes on committing. On LMDB a commit that must grow the map waits for the
 * return, since the remap moves the pages the view is reading. Open and
 * close the view on the engine's thread. Not for the memory engine, whose
 * views share its values.
 */
void engine_view_lend(engine_view_t *v);
void engine_view_return(engine_view_t *v);

/* ---- Reads ---- */

/*
 * Readers. Borrowed from their owner, valid as long as it is: the engine's
 * committed state, a batch's state (committed plus the batch's writes), or
 * a view's frozen image.
 */
engine_read_t *engine_reader(engine_t *e);
engine_read_t *engine_batch_reader(engine_batch_t *b);
engine_read_t *engine_view_reader(engine_view_t *v);

/*
 * Looks path up. Returns 1 with *value and *value_len set, 0 when absent, or a
 * negative errno (a path too long for the engine is absent: it could not
 * have been put). The value is borrowed: valid until the next read or
 * commit on the same engine (or close of the view).
 */
int engine_get(engine_read_t *r, const char *path, size_t path_len, const uint8_t **value,
               size_t *value_len);

/* What an iterator yields. Every pointer is borrowed: valid until the next
 * engine_iter_next() or engine_iter_free() of the iterator. */
typedef struct engine_item {
    const char *path; /* decoded v2 path, NUL-terminated as well as counted */
    size_t path_len;
    const uint8_t *value; /* children, descendants, raw; NULL for due */
    size_t value_len;
    unsigned depth;         /* descendants: 1 for a direct child; children: 1 */
    int64_t deadline_ns;    /* due only */
    const uint8_t *raw_key; /* raw only: the engine's own key bytes */
    size_t raw_key_len;
} engine_item_t;

/*
 * Iterators. Each returns 0 and a new iterator (freed by engine_iter_free)
 * or a negative errno. An iterator over the engine's or a batch's reader
 * must be freed before the next write to the batch or the next commit; an
 * iterator over a view lives as long as the view.
 *
 * children:    the direct children of path, in key order.
 * descendants: every path below `path`, depth first: a path, then its
 *              descendants, then its next sibling; siblings in key order.
 *              A path is reached through its parent's key (the store keeps
 *              a key for every directory): below a path that has no key of
 *              its own, nothing is listed.
 * subtree:     every path below `path` in the engine's key order: each
 *              path after its parent (not depth first: a directory's
 *              children, then their children, ...), siblings in key order.
 *              One range read, where descendants seeks twice per path: for
 *              reading a whole tree back (depth is 0).
 * due:         every TTL pair with deadline <= until_ns, by deadline then
 *              path.
 * raw:         every record of the engine (data, TTL index, metadata) in
 *              the engine's key order: what a snapshot stream carries.
 */
int engine_iter_children(engine_read_t *r, const char *path, size_t path_len, engine_iter_t **out);
int engine_iter_descendants(engine_read_t *r, const char *path, size_t path_len,
                            engine_iter_t **out);
int engine_iter_subtree(engine_read_t *r, const char *path, size_t path_len, engine_iter_t **out);
int engine_iter_due(engine_read_t *r, int64_t until_ns, engine_iter_t **out);
int engine_iter_raw(engine_read_t *r, engine_iter_t **out);

/* Returns 1 with *item filled, 0 at the end, or a negative errno. */
int engine_iter_next(engine_iter_t *it, engine_item_t *item);
void engine_iter_free(engine_iter_t *it);

#endif /* METCD_STORE_ENGINE_H */
