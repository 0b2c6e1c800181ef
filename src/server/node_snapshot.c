/*
 * Snapshots of the member (etcd's EtcdServer.snapshot and its purge): every
 * --snapshot-count applied entries a forked child saves the store; then the
 * WAL records a marker, and once that is durable the segments and older
 * snapshots it covers are released and the in-memory log is compacted.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "snap/snap.h"
#include "common/log.h"
#include "src/server/node_int.h"

void node_maybe_snapshot(node_t *n)
{
    if (n->cfg.snapshot_count == 0 || snapshotter_busy(&n->snapper) || n->marker_batch != 0)
        return;
    /* After a failed attempt the next one waits for another snapshot-count
     * of entries, so a disk that cannot take snapshots does not get a fork
     * per write. */
    uint64_t since = n->snap_index > n->snap_failed_at ? n->snap_index : n->snap_failed_at;
    if (n->applied - since < n->cfg.snapshot_count)
        return;
    uint64_t term = raft_log_term_at(n->raft, n->applied);
    if (term == 0)
        return;
    log_line('I', "etcdserver", "start to snapshot (applied: %" PRIu64 ", lastsnap: %" PRIu64 ")",
             n->applied, n->snap_index);
    if (snapshotter_start(&n->snapper, n->store, n->applied, term) != 0) {
        log_line('E', "etcdserver", "cannot start a snapshot: %s", strerror(errno));
        n->snap_failed_at = n->applied;
    }
}

void node_on_snapshot_saved(void *arg, int status, uint64_t index, uint64_t term)
{
    node_t *n = arg;
    if (status != 0) {
        log_line('E', "etcdserver", "saving the snapshot at index %" PRIu64 " failed", index);
        n->snap_failed_at = index;
        return;
    }
    /*
     * The snapshot file is durable; now the WAL records that it exists. Only
     * once that marker is durable may segments before it go (a crash in
     * between leaves a snapshot without a marker, which the start skips:
     * etcd 3.5's order).
     */
    if (wal_append_snapshot(n->wal, index, term) != 0) {
        log_line('E', "etcdserver", "cannot record the snapshot at index %" PRIu64, index);
        n->snap_failed_at = index;
        return;
    }
    n->marker_index = index;
    n->marker_term = term;
    n->marker_batch = wal_sync_async(n->wal);
}

void node_on_marker_durable(node_t *n)
{
    uint64_t index = n->marker_index;
    n->snap_index = index;
    n->snap_term = n->marker_term;
    log_line('I', "etcdserver", "saved snapshot at index %" PRIu64, index);
    int rc = wal_release_to(n->wal, index);
    if (rc < 0)
        log_line('W', "etcdserver", "cannot release WAL segments: %s", strerror(-rc));
    rc = snap_purge(n->snap_dir, n->cfg.max_snapshots);
    if (rc < 0)
        log_line('W', "etcdserver", "cannot purge old snapshots: %s", strerror(-rc));
    /* The in-memory log keeps a tail behind the snapshot (etcd: compact to
     * snapshot index - snapshotCatchUpEntries). */
    if (raft_storage_mem_create_snapshot(n->mem, index, &n->conf, NULL, 0) == 0 &&
        index > CATCH_UP_ENTRIES)
        raft_storage_mem_compact(n->mem, index - CATCH_UP_ENTRIES);
}