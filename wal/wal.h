/*
 * wal/: the write-ahead log. Files only: it persists opaque records and knows
 * nothing about raft or the store.
 *
 * Layout: a directory (the server uses <data-dir>/member/wal) of segment
 * files named "%016x-%016x.wal" (sequence number, first raft index the
 * segment may hold), each preallocated to `segment_size` bytes and cut when
 * full. A new segment is written under "<name>.tmp", fsynced, renamed and the
 * directory fsynced, so a segment either exists whole (with its header
 * records) or not at all.
 *
 * Records are 8-byte aligned: one 64-bit little-endian word (payload length in
 * bits 0-23, type in bits 24-31, CRC32C in bits 32-63), then the payload padded
 * with zeros to a multiple of 8. The length therefore never straddles a sector
 * and can never be torn. The CRC covers the first four bytes of the word and
 * the payload and is seeded with the previous record's CRC, so the running
 * value is the CRC32C of everything written so far: a record out of place, a
 * missing record or a swapped segment breaks the chain. Each segment starts
 * with a CRC record (carrying the chain value at the end of the previous
 * segment), the metadata and the latest hard state, as etcd's WAL does, so a
 * segment can be verified and read without the ones before it.
 *
 * Threads: a wal_t belongs to one thread (the event loop) for appends,
 * wal_sync_async(), wal_poll() and wal_close(). A private worker thread does
 * every write and fdatasync. wal_release_to() may be called from any thread.
 *
 * Group commit: wal_append_*() only copies the record into a memory buffer.
 * wal_sync_async() hands everything appended so far to the worker as one
 * batch and returns the batch id; batches that queue up while an fsync is in
 * flight are written together and covered by one fdatasync. When a batch is
 * durable (or failed) the worker signals an eventfd (wal_event_fd()); the
 * loop calls wal_poll(), which invokes `on_sync` once per batch id, in
 * increasing order. Only after `on_sync` reports status 0 for the batch
 * holding an entry may anything that depends on that entry be acknowledged.
 *
 * How the server uses it with raft and snap (etcd's etcdserver does the same):
 *   start:    wal_read_markers(waldir) lists the snapshot markers;
 *             snap_load_newest(snapdir, accept = "has a marker") picks the
 *             snapshot; wal_open(waldir, snap.index, snap.term) returns the
 *             metadata, hard state and entries after it (-ENOENT: a new
 *             member, wal_create() with the cluster/member ids as metadata).
 *   ready:    wal_append_hard_state() if it changed, wal_append_entry() for
 *             each entry, wal_sync_async(); on_sync(status 0) then lets the
 *             loop send what depended on it, answer clients, raft_advance().
 *             A failure: answer the batch's proposals with error 300, apply
 *             nothing, and re-append from result->last_index + 1.
 *   snapshot: snap_save*() (on a worker), then wal_append_snapshot(index,
 *             term) and a sync, then wal_release_to(index) and snap_purge().
 *             A crash between the two leaves a snapshot file without a
 *             marker, which the accept callback at start skips (etcd 3.5's
 *             order and check).
 */
#ifndef METCD_WAL_H
#define METCD_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Defaults (etcd: wal.SegmentSizeBytes = 64 MB, --max-wals = 5). */
#define WAL_DEFAULT_SEGMENT_SIZE (64u * 1024 * 1024)
#define WAL_DEFAULT_MAX_WALS     5u
/* Largest payload of one record (the length field has 24 bits). An entry's
 * payload is its data plus 17 bytes of index, term and type. */
#define WAL_MAX_RECORD_PAYLOAD ((1u << 24) - 1)

typedef struct wal wal_t;
/*
 * The I/O shim: every write, sync and size change of the WAL goes through
 * one of these, so tests can inject short writes, ENOSPC and fsync errors.
 * wal_options_t.io == NULL means wal_io_default (the real system calls).
 */
typedef struct wal_io {
    ssize_t (*pwrite)(int fd, const void *buf, size_t len, off_t off);
    int (*fdatasync)(int fd);
    int (*fsync)(int fd); /* directories */
    int (*ftruncate)(int fd, off_t len);
    int (*fallocate)(int fd, off_t len); /* make the file at least len bytes, zeros */
} wal_io_t;

extern const wal_io_t wal_io_default;

/* The raft hard state (Raft paper, Figure 2: currentTerm, votedFor, plus the
 * commit index etcd persists with them). */
typedef struct wal_hard_state {
    uint64_t term;
    uint64_t vote;
    uint64_t commit;
} wal_hard_state_t;

/* What a completed batch reports to on_sync. */
typedef struct wal_sync_result {
    uint64_t batch;      /* the id wal_sync_async() returned */
    int status;          /* 0: durable; else a negative errno (-ENOSPC, -EIO, ...) */
    uint64_t last_index; /* index of the last entry record durable in the log after this
                            batch (on failure: as it was before the failed records) */
} wal_sync_result_t;

/* Called on the loop thread from wal_poll() (or wal_sync()). */
typedef void (*wal_sync_cb)(void *arg, const wal_sync_result_t *result);
/* Warnings (a repaired torn tail, ...): one line without a newline. NULL: stderr. */
typedef void (*wal_log_cb)(void *arg, const char *line);

typedef struct wal_options {
    const char *dir;       /* the WAL directory, created by wal_create() if missing */
    uint64_t segment_size; /* 0: WAL_DEFAULT_SEGMENT_SIZE (tests use small ones) */
    unsigned max_wals;     /* segments kept by wal_release_to(); 0: keep all */
    wal_sync_cb on_sync;   /* may be NULL */
    void *on_sync_arg;
    wal_log_cb log; /* may be NULL */
    void *log_arg;
    const struct wal_io *io; /* NULL: the real system calls */
} wal_options_t;

/* One entry read back by wal_open(). */
typedef struct wal_entry {
    uint64_t index;
    uint64_t term;
    uint8_t type;        /* the caller's entry type (raft: normal, conf change) */
    const uint8_t *data; /* valid until wal_read_result_free() */
    size_t len;
} wal_entry_t;

/* What wal_open() read: the state after the caller's snapshot. */
typedef struct wal_read_result {
    uint8_t *metadata; /* as given to wal_create() */
    size_t metadata_len;
    wal_hard_state_t hard_state; /* the last one written (zero if none) */
    wal_entry_t *entries;        /* index snap_index+1 ... in order, no gaps */
    size_t n_entries;
    void *priv; /* buffers the entries point into */
} wal_read_result_t;

/* Frees everything in *r and zeroes it. */
void wal_read_result_free(wal_read_result_t *r);

/*
 * Creates a new, empty WAL in opt->dir (created with its parents if missing),
 * holding `metadata` (opaque, e.g. cluster and member ids) and a snapshot
 * marker at index 0. Fails with -EEXIST if the directory already holds
 * segments. On success *out is open for appends and owns the directory lock;
 * free it with wal_close(). err (may be NULL) gets one line on failure.
 */
int wal_create(wal_t **out, const wal_options_t *opt, const void *metadata, size_t metadata_len,
               char *err, size_t err_len);

/*
 * Opens an existing WAL after the caller loaded the snapshot (snap_index,
 * snap_term) (0, 0 when none). Verifies the CRC chain of every record from
 * the segment that holds the snapshot's marker to the end, and fills *res with the
 * metadata, the last hard state and the entries after snap_index. A raft
 * entry that reappears with a lower or equal index replaces the entries from
 * that index on (a new leader overwrote the uncommitted tail, Raft paper
 * 5.3), as etcd's WAL reader does.
 *
 * A torn tail of the last segment (a partial last record, a record with an
 * all-zero sector, the zeroed preallocated space) is cut off and logged.
 * Anything else that does not verify refuses to open with -EBADMSG and a
 * message naming the file and offset: serving a wrong state is worse than
 * not starting. Other errors: -ENOENT (no WAL; use wal_create), -EBUSY (the
 * directory is locked by another wal_t or process), -ESRCH (the snapshot
 * marker (snap_index, snap_term) is not in the log), -ERANGE (entries are
 * missing after snap_index, a newer snapshot is needed).
 *
 * On success *out is ready for appends after the last record read; *res is
 * owned by the caller (wal_read_result_free()).
 */
int wal_open(wal_t **out, const wal_options_t *opt, uint64_t snap_index, uint64_t snap_term,
             wal_read_result_t *res, char *err, size_t err_len);

/* A snapshot marker found in the log. */
typedef struct wal_marker {
    uint64_t index;
    uint64_t term;
} wal_marker_t;

/*
 * Lists the snapshot markers of the log in dir, in log order, reading every
 * segment and verifying the CRC chain up to the first record that does not
 * verify (read only: no lock, no repair). The server uses it to pick the
 * newest snapshot file that has a marker in the log (a snapshot file saved
 * just before a crash may have none), as etcd 3.5's ValidSnapshotEntries
 * does; see snap_load_newest()'s accept callback. *out is malloc'd (caller
 * frees). Returns 0 or a negative errno (-ENOENT: no WAL).
 */
int wal_read_markers(const char *dir, wal_marker_t **out, size_t *n);

/* True if dir holds at least one segment. */
bool wal_exists(const char *dir);

/*
 * Buffer one record for the next batch (loop thread; no I/O). The bytes are
 * copied. Return 0, -ENOMEM, or -E2BIG (payload over WAL_MAX_RECORD_PAYLOAD).
 */
int wal_append_entry(wal_t *w, uint64_t index, uint64_t term, uint8_t type, const void *data,
                     size_t len);
int wal_append_hard_state(wal_t *w, const wal_hard_state_t *hs);
/* Records that a snapshot at (index, term) exists; wal_open() later checks
 * the caller's snapshot against these markers, as etcd does. */
int wal_append_snapshot(wal_t *w, uint64_t index, uint64_t term);

/*
 * Hands the records appended since the last call to the worker as one batch
 * and returns its id (ids start at 1 and increase by one per batch). Returns
 * the id of the previous batch if nothing was appended since. Never blocks on
 * the disk. Returns 0 only if no batch was ever submitted.
 *
 * Failure: if a batch cannot be written or fsynced (ENOSPC, EIO, ...), its
 * records are cut off the file again and on_sync reports the error for it.
 * Every record appended before the loop sees that failure (in wal_poll())
 * is discarded too (batches already submitted report the same error): the
 * log never has a hole. The log then ends at result->last_index; the caller
 * re-appends what it still needs (hard state, entries), and appends work
 * again as soon as the disk does, without reopening.
 */
uint64_t wal_sync_async(wal_t *w);

/* Synchronous form for tests and startup: submits, waits until that batch is
 * done, delivers completions and returns its status. */
int wal_sync(wal_t *w);

/* An eventfd (nonblocking) that becomes readable when completions are
 * waiting; the loop watches it and calls wal_poll(). Owned by w. */
int wal_event_fd(const wal_t *w);

/* Delivers waiting completions to on_sync, in batch order. Returns how many. */
int wal_poll(wal_t *w);

/* Index of the last entry appended (buffered or written) and not discarded. */
uint64_t wal_last_index(const wal_t *w);

/*
 * A snapshot covering `index` is durable: segments holding only records up
 * to index are released, and the oldest released segments are deleted while
 * more than opt.max_wals segments remain (etcd's --max-wals). Thread-safe;
 * it unlinks files, so the server may call it from its snapshot worker.
 * Returns the number of segments deleted, or a negative errno.
 */
int wal_release_to(wal_t *w, uint64_t index);

/*
 * Stops the worker after it finished the batches already submitted (records
 * appended but not submitted are dropped), closes files, releases the lock
 * and frees w. Undelivered completions are dropped.
 */
void wal_close(wal_t *w);

/*
 * Locks a directory: creates <dir>/LOCK holding this process id and takes an
 * exclusive flock on it, without waiting. Returns the lock's fd (>= 0; close
 * it with wal_unlock_dir()) or -EBUSY with a message naming the directory and
 * the holder's pid. The server may use it for the data directory itself.
 */
int wal_lock_dir(const char *dir, char *err, size_t err_len);
void wal_unlock_dir(int fd);

#endif /* METCD_WAL_H */
