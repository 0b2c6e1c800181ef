/*
 * snap/: snapshot files. Files only: the payload is opaque bytes (the store
 * serialises itself); snap/ knows nothing about raft or the store.
 *
 * A snapshot is "<dir>/%016x-%016x.snap" (term, index), as etcd names them;
 * the server uses <data-dir>/member/snap. Layout: a 32-byte header (magic
 * "METCDSN1", term, index, zero), the payload, and a 16-byte trailer
 * (payload length, CRC32C of everything before the CRC, magic "SEND"). It is
 * written to "<name>.tmp", fsynced, renamed and the directory fsynced, so a
 * snapshot file that exists under its final name is complete unless the disk
 * corrupted it later.
 *
 * Threads: no global state. Saving may run on any thread (the server writes
 * snapshots on a worker); the functions touching one directory should not
 * race with each other except a save racing a load or purge (a .tmp file is
 * never looked at by them).
 */
#ifndef METCD_SNAP_H
#define METCD_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_DEFAULT_MAX_SNAPSHOTS 5u /* etcd's --max-snapshots */

/* Warnings (a corrupt snapshot renamed .broken): one line, no newline.
 * NULL: stderr. */
typedef void (*snap_log_cb)(void *arg, const char *line);

/* ---- saving, streamed ---- */
typedef struct snap_writer snap_writer_t;

/*
 * Starts "<dir>/<term>-<index>.snap.tmp" (dir is created if missing).
 * Returns 0 and *out (owned by the caller until snap_writer_commit() or
 * snap_writer_abort(), which free it), or a negative errno with one line in
 * err (may be NULL).
 */
int snap_writer_begin(snap_writer_t **out, const char *dir, uint64_t term, uint64_t index,
                      char *err, size_t err_len);
/* Appends payload bytes (buffered; copied). 0 or a negative errno. */
int snap_writer_write(snap_writer_t *sw, const void *buf, size_t len);
/* Finishes the file: trailer, fsync, rename, directory fsync. Frees sw
 * whatever the outcome (on failure the temporary file is removed). */
int snap_writer_commit(snap_writer_t *sw, char *err, size_t err_len);
/* Drops the file and frees sw. */
void snap_writer_abort(snap_writer_t *sw);

/* Producer form: `produce` is called once and streams the payload through
 * write(sw, ...); it returns 0 or a negative errno (which aborts the save). */
typedef int (*snap_produce_cb)(void *arg, snap_writer_t *sw);
int snap_save_stream(const char *dir, uint64_t term, uint64_t index, snap_produce_cb produce,
                     void *arg, char *err, size_t err_len);
/* Whole-buffer form. */
int snap_save(const char *dir, uint64_t term, uint64_t index, const void *data, size_t len,
              char *err, size_t err_len);

/* ---- loading ---- */

/* A loaded snapshot. The payload is a read-only mapping of the file, so a
 * large store is not held twice in memory; valid until snap_release(). */
typedef struct snap_loaded {
    uint64_t term;
    uint64_t index;
    const uint8_t *data;
    size_t len;
    void *map_; /* private */
    size_t map_len_;
} snap_loaded_t;

/* Lets the caller skip snapshots it cannot use (e.g. ones whose marker is
 * not in the WAL, as etcd 3.5's ValidSnapshotEntries does). Return true to
 * accept. */
typedef bool (*snap_accept_cb)(void *arg, uint64_t term, uint64_t index);

/*
 * Loads the newest valid snapshot of dir (highest index, then term) that
 * `accept` (may be NULL) accepts. A file that does not verify (bad magic,
 * length, CRC, or a header that disagrees with its name) is renamed to
 * "<name>.broken" with a warning, and the next older one is tried, as etcd
 * does. Leftover "*.snap.tmp" files are removed, so call it only while
 * holding the data directory's lock (wal_lock_dir()): another process may be
 * saving there otherwise. Returns 0 with *out filled
 * (release with snap_release()), -ENOENT if there is no usable snapshot, or
 * another negative errno.
 */
int snap_load_newest(const char *dir, snap_accept_cb accept, void *accept_arg, snap_log_cb log,
                     void *log_arg, snap_loaded_t *out, char *err, size_t err_len);
/*
 * The same, for a caller that already holds the state of every snapshot
 * at or below index `covered` (a storage engine) and reads only the head
 * of such a payload: their CRC is not checked, so that a start does not
 * read a whole large file it does not use. Magic, length and name are.
 */
int snap_load_newest_covered(const char *dir, snap_accept_cb accept, void *accept_arg,
                             snap_log_cb log, void *log_arg, uint64_t covered, snap_loaded_t *out,
                             char *err, size_t err_len);
void snap_release(snap_loaded_t *s);

/*
 * Deletes the oldest "*.snap" files so that at most max_snapshots remain
 * (0: keep all). Returns how many were deleted, or a negative errno.
 */
int snap_purge(const char *dir, unsigned max_snapshots);

#endif /* METCD_SNAP_H */
