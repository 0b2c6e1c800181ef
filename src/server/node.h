/*
 * The raft node driver (etcd's etcdserver/raft.go): it joins the raft core,
 * the WAL, the snapshot files and the store of one member.
 *
 *   propose: the request, wrapped in an envelope (src/server/envelope.h),
 *            goes to raft_propose() (or waits for a leader); its client
 *            waits, keyed by request id, at most the request timeout.
 *   ready:   after each loop turn that produced work, one Ready is taken:
 *            hard state and entries are appended to the WAL and handed to
 *            its worker (wal_sync_async()); the loop goes on serving.
 *   synced:  on the WAL's eventfd completion the entries join the in-memory
 *            raft storage, committed entries are applied to the store in
 *            order, their clients are answered, raft_advance() runs and the
 *            next Ready is taken. Only one Ready is outstanding, so every
 *            proposal that arrives while an fsync is in flight goes into the
 *            next batch: that is the group commit.
 *   snapshot: every --snapshot-count applied entries a forked child saves
 *            the store (src/server/snapshotter.h); then the WAL gets a snapshot
 *            marker, and once that is durable old segments and snapshots are
 *            released and the in-memory log is compacted, keeping a tail of
 *            entries for slow followers (etcd keeps 5000).
 *   peers:   the leader's appends go to the transport while its own copy
 *            is written (Raft thesis 10.2.1); every other message waits for
 *            the fsync. A follower forwards proposals to the leader; the
 *            client is answered by the member it asked, once the entry is
 *            applied there. Quorum reads use ReadIndex (thesis 6.4).
 *   members: the configuration and the member table change only when a
 *            configuration-change entry is applied; a new cluster's first
 *            entries add its initial members (node_open.c).
 *   failure: a WAL write or fsync failure (ENOSPC, EIO) fails every waiting
 *            write with v2 error 300, applies nothing of the failed batch,
 *            and rebuilds the raft node from what is durable; it campaigns
 *            again at the next tick, so writes work again once the disk does.
 *
 * Threads: everything runs on the loop thread (the WAL's worker and the
 * snapshot child are behind wal/ and snapshotter).
 */
#ifndef METCD_SERVER_NODE_H
#define METCD_SERVER_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <h2o.h>

#include "raft/raft.h"
#include "src/membership/membership.h"
#include "store/store.h"

typedef struct node node_t;
struct peer_transport;

/*
 * The answer to a proposal, once its entry is applied (the same contract as
 * api_propose_cb, so the API's callback is passed through unchanged):
 * rc == 0: ev is a new reference the callee releases (NULL for internal
 * requests); rc < 0: err describes the v2 error and the callee clears it.
 */
typedef void (*node_done_cb)(void *ctx, int rc, store_event_t *ev, store_error_t *err);

typedef struct node_config {
    h2o_evloop_t *loop;
    const char *data_dir; /* the WAL is <data_dir>/member/wal, snapshots <data_dir>/member/snap */
    const char *wal_dir;  /* etcd's --wal-dir: the WAL there instead (NULL: under data_dir) */
    uint64_t member_id;
    uint64_t cluster_id;
    unsigned heartbeat_ms;
    unsigned election_ms;
    uint64_t snapshot_count;
    unsigned max_wals;
    unsigned max_snapshots;
    unsigned watch_history;
    /* The storage backend: 0 for memory (the tree alone, rebuilt from the
     * snapshot and the log at start), else the engine_kind_t holding the
     * store's image in <data_dir>/member/<kind>. */
    int backend;
    /* LevelDB's block cache and write buffer in bytes (0: the engine's
     * defaults); only the leveldb backend uses them. */
    uint64_t leveldb_cache_bytes;
    uint64_t leveldb_write_buffer_bytes;
    /* On lmdb and leveldb: nodes the store keeps in memory (0: no limit). */
    uint64_t backend_cache_nodes;
    /* The peer transport (borrowed; NULL: no peers). The node gives it the
     * members' peer URLs as the configuration changes. */
    struct peer_transport *transport;
    /* How a member without a log starts: `bootstrap` (borrowed) lists the
     * members of a new cluster, written as its first entries (one
     * configuration change per member, as etcd's StartNode does); with
     * `join` the member was added to a running cluster (member add) and
     * starts with an empty log that the leader fills. Both are ignored when
     * the WAL exists: the log and the snapshot say who the members are. */
    const membership_t *bootstrap;
    bool join;
    /* etcd's --force-new-cluster: a member with a log restarts as the only
     * member of its cluster (node_force.c). Ignored without a log. */
    bool force_new_cluster;
    /* The name and client URLs this member publishes once it has a leader. */
    const char *name;
    const char *const *client_urls;
    size_t n_client_urls;
    /* How long a request waits for its entry to be applied before it fails
     * with 300 "etcdserver: request timed out" (etcd: 5 s + 2 x election). */
    unsigned request_timeout_ms;
    /* This member was removed from the cluster (it stops, as etcd's does). */
    void (*on_removed)(void *ctx);
    void *cb_ctx;
    /* Set only by the test hooks (src/server/hooks.h): 0/NULL in production. */
    uint64_t wal_segment_size;   /* bytes per WAL segment (0: the WAL's default) */
    const struct wal_io *wal_io; /* WAL I/O calls (NULL: the real ones) */
    /* Called at the points where a crash tests the engine's recovery:
     * "engine-commit" (entries durable in the WAL, applied, not yet in the
     * engine), "wal-release" (engine synced, WAL not yet released), the
     * engine swaps (node_engine.c) and "snapshot-save" (called by the
     * snapshot's thread or child before it writes: tests slow it there),
     * and "owner-wake" (the owner thread between reading its wakeup and
     * clearing its flag, src/server/loops.c). */
    void (*crash_point)(const char *where);
} node_config_t;

/*
 * Loads the newest usable snapshot, opens (or creates, for a new member) the
 * WAL, checks that it belongs to this member and cluster, rebuilds the store
 * and replays every committed entry into it. On success *out (free with
 * node_free()) and *store_out (owned by the caller, who frees it after
 * the node) are set. Returns 0 or -1 with one line in err.
 */
/*
 * Opens the engine `kind` in dir with LevelDB's block cache and write buffer
 * sizes (0: the engine's defaults). Returns 0, or -1 with err naming the
 * backend and the directory. Ownership: the caller closes the engine. For
 * the node's engine (node_engine.c) and an offline conversion (migrate.c).
 */
int node_engine_open_dir(engine_kind_t kind, const char *dir, uint64_t leveldb_cache_bytes,
                         uint64_t leveldb_write_buffer_bytes, engine_t **out, char *err,
                         size_t err_len);

int node_open(node_t **out, store_t **store_out, const node_config_t *cfg, char *err,
              size_t err_len);

/* The IDs this member runs with: from the configuration, or for a member
 * that joined a running cluster, from its log. */
uint64_t node_member_id(const node_t *n);
uint64_t node_cluster_id(const node_t *n);

/* Gives the node its peer transport (borrowed) before node_start(). */
void node_attach_transport(node_t *n, struct peer_transport *t);

/* Starts the tick timer and the WAL completions, and campaigns (a one-voter
 * cluster elects itself at once). */
int node_start(node_t *n);

/*
 * Proposes a store request (bytes of store_request_encode(), borrowed). cb
 * (NULL for internal requests) is called once the entry is applied or has
 * failed. Returns 0 when accepted (cb will be called), or -code with err
 * filled when it cannot be proposed (no leader: error 300).
 */
int node_propose(node_t *n, const uint8_t *req, size_t len, node_done_cb cb, void *cb_ctx,
                 store_error_t *err);

/* Takes and starts persisting the next Ready if none is outstanding. Call
 * after every loop turn. */
void node_process(node_t *n);

/*
 * A linearizable-read barrier (ReadIndex, Raft thesis 6.4; also asked on a
 * follower, which asks the leader): done(ctx, 0, NULL) once this member has
 * applied everything committed before the call, or done(ctx, -code, err)
 * (300, request timed out); the callee clears err. No log entry is written.
 * Returns 0 (done will be called, never before this returns).
 */
int node_read_barrier(node_t *n, void (*done)(void *ctx, int rc, store_error_t *err), void *ctx);

/* Membership changes (etcd's /v2/members POST, DELETE, PUT). */
typedef enum node_member_op {
    NODE_MEMBER_ADD,
    NODE_MEMBER_REMOVE,
    NODE_MEMBER_UPDATE,
} node_member_op_t;
/*
 * Proposes a configuration change for member mb (borrowed; for REMOVE only
 * its id counts). cb is called once it is applied (rc 0, ev NULL) or failed
 * (300: timed out, no leader). Returns 0, or -code with err filled.
 */
int node_propose_member(node_t *n, node_member_op_t op, const membership_member_t *mb,
                        node_done_cb cb, void *cb_ctx, store_error_t *err);

/* The member table as applied (valid until the next loop turn). */
const membership_t *node_members(const node_t *n);

/* The transport's callbacks (src/peer/peer.h), forwarded by the server. */
/* Calls the test hook at `where` (node_config_t.crash_point); nothing in
 * production. */
void node_test_point(const node_t *n, const char *where);
void node_step(node_t *n, const struct raft_message *m);
void node_report_unreachable(node_t *n, uint64_t id);
void node_report_snapshot(node_t *n, uint64_t id, bool failed);
int node_snapshot_open(node_t *n, uint64_t index, uint64_t term, uint64_t *size);
int node_snapshot_receive_begin(node_t *n, uint64_t from, uint64_t index, uint64_t term,
                                uint64_t size);
int node_snapshot_receive_end(node_t *n, int fd, bool ok);

/* Heartbeat latency and append counts of one follower, for the leader's
 * /v2/stats/leader (etcd's LeaderStats). */
typedef struct node_follower_info {
    uint64_t id;
    uint64_t samples; /* latencies measured (0: none yet) */
    double current_ms, average_ms, stddev_ms, min_ms, max_ms;
    uint64_t success, fail;
} node_follower_info_t;
/* Fills up to max entries; returns how many. */
size_t node_followers(const node_t *n, node_follower_info_t *out, size_t max);

/*
 * Hands leadership to the most up-to-date voter before a planned stop, so
 * that a restart costs no election (etcd's TransferLeadership on SIGTERM).
 * Runs the loop until another member leads or timeout_ms passes. Returns
 * true when leadership moved.
 */
bool node_transfer_leadership(node_t *n, unsigned timeout_ms);

typedef struct node_info {
    uint64_t commit;
    uint64_t term;
    uint64_t leader;
    bool is_leader;
    uint64_t applied;
    int64_t leader_since_ns; /* Unix ns when this member last became leader (0: never) */
    uint64_t leader_changes; /* leaders seen since start (etcd_server_leader_changes_seen_total) */
    bool published;          /* this member's name and client URLs are applied */
    uint64_t app_sent;       /* append requests sent and received (etcd's ServerStats) */
    uint64_t app_received;
    uint64_t lead_seen;   /* the last leader this member heard of (0: none yet) */
    int64_t lead_seen_ns; /* Unix ns when it first heard of that leader */
    uint64_t pending;     /* proposals waiting for their answer */
    uint64_t failed;      /* proposals answered with an error by the server */
} node_info_t;
void node_get_info(node_t *n, node_info_t *out);

/*
 * Stops: waits (bounded, 3 s) for the batch in flight, then fails the
 * writes still waiting with error 300 and stops a running snapshot.
 */
void node_stop(node_t *n);

/* Closes the WAL and frees the node (not the store). */
void node_free(node_t *n);

#endif /* METCD_SERVER_NODE_H */
