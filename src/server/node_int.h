/*
 * Internals of the raft node driver shared by src/server/node.c (the Ready
 * loop, proposals, apply), src/node_open.c (start-up: snapshot, WAL,
 * replay) and src/node_snapshot.c (taking snapshots, releasing the log
 * behind them). Not for other users: see src/server/node.h.
 */
#ifndef METCD_SERVER_NODE_INT_H
#define METCD_SERVER_NODE_INT_H

#include "raft/raft.h"
#include "src/server/node.h"
#include "src/server/snapshotter.h"
#include "wal/wal.h"

/* Entries kept in memory behind a snapshot for followers that lag (etcd's
 * snapshotCatchUpEntries = 5000). */
#define CATCH_UP_ENTRIES 5000
/* WAL metadata: magic, member id, cluster id (etcd stores the same pair). */
#define WAL_META_MAGIC "METCDWM1"
#define WAL_META_SIZE  24

typedef struct waiter {
    uint64_t id;
    node_done_cb cb;
    void *ctx;
} waiter_t;

struct node {
    node_config_t cfg;
    char *wal_dir, *snap_dir;
    h2o_evloop_t *loop;
    store_t *store; /* borrowed: the server owns it */
    struct raft_storage_mem *mem;
    struct raft *raft;
    wal_t *wal;
    h2o_socket_t *wal_sock;
    uint64_t voters[1];
    struct raft_conf_state conf;

    h2o_timeout_t tick_timeout;
    h2o_timeout_entry_t tick_entry;
    bool started;

    struct raft_ready rd;
    bool rd_out;       /* a Ready is taken and not advanced */
    uint64_t rd_batch; /* its WAL batch, 0 when it needed none */

    uint64_t applied;       /* last raft index applied to the store */
    uint64_t durable_index; /* last entry index known durable in the WAL */
    bool rd_applied;        /* the Ready's committed entries are applied already */
    uint64_t snap_index, snap_term;
    uint64_t snap_failed_at; /* applied index of the last failed attempt */
    uint64_t next_request_id;

    waiter_t *waiters; /* FIFO ring, in proposal order */
    size_t w_cap, w_head, w_n;

    bool campaign_pending; /* rebuilt after a disk failure: campaign at the next tick */
    bool disk_failed;      /* logged once per failure period */

    uint64_t lead; /* the leader in the last soft state seen */
    uint64_t leader_changes;
    int64_t leader_since_ns;
    uint64_t proposals_failed;

    snapshotter_t snapper;
    uint64_t marker_batch; /* WAL batch of a snapshot marker in flight */
    uint64_t marker_index, marker_term;
};

/* node.c */
int node_new_raft(node_t *n, uint64_t applied);
bool node_single_voter(const node_t *n);
/* Persisted (or nothing to persist): cache, apply, advance. */
void node_finish_ready(node_t *n);
/* wal_options_t.on_sync */
void node_on_wal_sync(void *arg, const wal_sync_result_t *res);

/* node_snapshot.c */
/* Starts a snapshot when --snapshot-count entries were applied since the last. */
void node_maybe_snapshot(node_t *n);
/* snapshotter_done_cb */
void node_on_snapshot_saved(void *arg, int status, uint64_t index, uint64_t term);
/* The WAL marker of the snapshot in flight is durable: release what it covers. */
void node_on_marker_durable(node_t *n);

#endif /* METCD_SERVER_NODE_INT_H */
