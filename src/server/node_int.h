/*
 * Internals of the raft node driver shared by src/server/node.c (the Ready
 * loop, proposals, apply), node_open.c (start-up: snapshot, WAL, replay,
 * bootstrap), node_snapshot.c (taking snapshots, releasing the log behind
 * them, sending and installing them), node_cluster.c (peers, membership,
 * read barriers, leadership transfer) and node_wait.c (waiters and their
 * deadlines). Not for other users: see src/server/node.h.
 */
#ifndef METCD_SERVER_NODE_INT_H
#define METCD_SERVER_NODE_INT_H

#include "raft/raft.h"
#include "src/peer/peer.h"
#include "src/server/node.h"
#include "src/server/snapshotter.h"
#include "wal/wal.h"

/* Entries kept in memory behind a snapshot for followers that lag (etcd's
 * snapshotCatchUpEntries = 5000). */
#define CATCH_UP_ENTRIES 5000
/* WAL metadata: magic, member id, cluster id (etcd stores the same pair).
 * "METCDWM1": written before clusters; its member was the one voter of a
 * configuration set at index 0. "METCDWM2": the configuration is in the log
 * (the first entries of a new cluster add its members, as etcd's do) and in
 * snapshots. */
#define WAL_META_MAGIC_V1 "METCDWM1"
#define WAL_META_MAGIC    "METCDWM2"
#define WAL_META_SIZE     24

/* A client waiting for its entry (or its read) to be applied. */
typedef struct waiter {
    uint64_t id;
    node_done_cb cb;
    void *ctx;
    int64_t deadline; /* monotonic ns: etcd's request timeout */
} waiter_t;

typedef struct waiter_queue {
    waiter_t *v; /* ring, in request-id order */
    size_t cap, head, n;
} waiter_queue_t;

/* A proposal made while no leader was known: proposed once one is. */
typedef struct pending_prop {
    uint8_t *data; /* the envelope (owned) */
    size_t len;
    int64_t deadline;
} pending_prop_t;

/* A quorum read (ReadIndex, Raft thesis 6.4). */
typedef struct read_waiter {
    uint64_t id;
    uint64_t index; /* the read index once the leader confirmed it; 0 before */
    void (*done)(void *ctx, int rc, store_error_t *err);
    void *ctx;
    int64_t deadline; /* the request fails after it */
    int64_t reissue;  /* asked again after this if still unanswered */
    bool issued;
} read_waiter_t;

/* Latency of heartbeats to one follower, for /v2/stats/leader. */
typedef struct follower_stats {
    uint64_t id;
    int64_t hb_sent_ns; /* monotonic time of the last heartbeat sent (0: none out) */
    double current_ms, min_ms, max_ms, sum_ms, sum_sq_ms;
    uint64_t samples;
    uint64_t success, fail;
} follower_stats_t;

struct node {
    node_config_t cfg;
    char *wal_dir, *snap_dir;
    h2o_evloop_t *loop;
    store_t *store; /* borrowed: the server owns it */
    struct raft_storage_mem *mem;
    struct raft *raft;
    wal_t *wal;
    h2o_socket_t *wal_sock;
    h2o_socket_t *engine_sock;   /* the store's commit eventfd (node_watch_engine), or NULL */
    struct raft_conf_state conf; /* the configuration applied (owned arrays) */
    membership_t members;        /* the member table applied */
    membership_t synced;         /* the members last given to the transport */
    bool legacy_single;          /* a WAL from before clusters (METCDWM1) */

    h2o_timeout_t tick_timeout;
    h2o_timeout_entry_t tick_entry;
    bool started;

    struct raft_ready rd;
    bool rd_out;       /* a Ready is taken and not advanced */
    uint64_t rd_batch; /* its WAL batch, 0 when it needed none */
    bool rd_sent;      /* its messages that may go before the fsync went */

    uint64_t applied;        /* last raft index applied to the store */
    uint64_t engine_applied; /* entries up to here are in the engine at start: not reapplied */
    uint32_t engine_pending; /* entries applied since the engine's last commit */
    uint64_t durable_index;  /* last entry index known durable in the WAL */
    uint64_t boot_index;     /* last entry index the WAL held at start */
    bool rd_applied;         /* the Ready's committed entries are applied already */
    uint64_t snap_index, snap_term;
    uint64_t snap_failed_at; /* applied index of the last failed attempt */
    uint64_t trimmed_index;  /* the in-memory log was trimmed up to here (node_trim_log) */
    uint64_t next_request_id;

    waiter_queue_t waiters; /* writes, in request-id order */
    pending_prop_t *pending;
    size_t n_pending, cap_pending;
    read_waiter_t *reads;
    size_t n_reads, cap_reads;
    uint64_t next_read_id;

    bool campaign_pending; /* rebuilt after a disk failure: campaign at the next tick */
    bool disk_failed;      /* logged once per failure period */
    bool removed;          /* this member was removed from the cluster */

    uint64_t lead; /* the leader in the last soft state seen */
    uint64_t leader_changes;
    int64_t leader_since_ns;
    uint64_t lead_seen;
    int64_t lead_seen_ns;
    uint64_t proposals_failed;
    bool published; /* this member's attributes are applied */
    int64_t publish_at;

    follower_stats_t *followers;
    size_t n_followers;
    uint64_t app_sent, app_received; /* MSG_APP messages (etcd's append request counts) */

    snapshotter_t snapper;
    struct raft_conf_state snap_conf; /* the configuration at the snapshot in flight */
    uint64_t marker_batch;            /* WAL batch of a snapshot marker in flight */
    uint64_t marker_index, marker_term;
    bool marker_in_engine; /* the snapshot being recorded holds no store (node_snapshot.c) */
    bool snap_in_engine;   /* the newest snapshot holds no store: its engine had it */
    int recv_fd;           /* a snapshot being received (-1: none) */
    uint64_t recv_index, recv_term;
};

/*
 * node_force.c (--force-new-cluster), called by start-up with the log read
 * and the hard state: commits every entry of res, writes to the WAL one
 * removal of each other member after them and commits those too
 * (hs->commit moves). *forced (malloc'd, each entry's data too; the caller
 * frees them) gets those entries for the in-memory log. 0 or -1 with err.
 */
int node_force_new_cluster(node_t *n, wal_read_result_t *res, struct raft_hard_state *hs,
                           struct raft_entry **forced, size_t *n_forced, char *err, size_t err_len);

/* node.c */
int node_new_raft(node_t *n, uint64_t applied);
bool node_single_voter(const node_t *n);
/* Persisted (or nothing to persist): cache, apply, advance. */
void node_finish_ready(node_t *n);
/* wal_options_t.on_sync */
void node_on_wal_sync(void *arg, const wal_sync_result_t *res);
/* Notes a new leader (after every step, tick or campaign): counters, and a
 * new leader's RESUME before any other proposal of its term. */
void node_check_leader(node_t *n);
int64_t node_now_mono(void);
/* Proposes an envelope (borrowed), or keeps it until a leader is known. */
int node_propose_envelope(node_t *n, const uint8_t *data, size_t len, int64_t deadline);

/* node_wait.c */
void waiters_push(waiter_queue_t *q, waiter_t w);
/* The waiter of request `id`; older ones still queued were lost and fail. */
bool waiters_take(node_t *n, uint64_t id, waiter_t *out);
void waiter_fail(node_t *n, waiter_t w, int code, const char *cause);
void waiters_fail_all(node_t *n, const char *cause);
/* Fails what waited past its deadline (writes and reads). */
void waiters_expire(node_t *n, int64_t now);
void waiters_free(node_t *n);

/* node_cluster.c */
/* Applies a committed configuration change entry. */
void node_apply_conf_change(node_t *n, const struct raft_entry *e);
/* Applies a member's published attributes. */
void node_apply_attributes(node_t *n, uint64_t index, uint64_t from, const uint8_t *data,
                           size_t len);
/* Gives every member but this one to the transport. */
void node_sync_peers(node_t *n);
/* Sends the Ready's messages: early (before the fsync) only those a leader
 * may send before persisting, else the rest. */
void node_send_messages(node_t *n, bool early);
/* Read states of a Ready, and reads whose index is now applied. */
void node_note_read_states(node_t *n);
void node_answer_reads(node_t *n);
/* Issues reads and pending proposals once a leader is known; publishes. */
void node_retry(node_t *n, int64_t now);

/* node_snapshot.c */
/* Starts a snapshot when --snapshot-count entries were applied since the
 * last, or at once when peers joined a log trimmed past the last one. */
void node_maybe_snapshot(node_t *n);
/*
 * Commits the store's changes not yet in its engine (none: nothing to do),
 * with the applied index, on this thread, after the commit in flight if
 * any (node_engine_drain); a member whose engine cannot take them stops
 * (abort), as at every commit. Called before anything that needs the engine
 * at the applied index: a snapshot, a WAL release, a stop.
 */
void node_engine_commit(node_t *n);
/* Waits for the commit in flight on the engine's commit thread, if any;
 * stops the member (abort) if it failed. */
void node_engine_drain(node_t *n);
/* Takes the result of a commit that ended on the commit thread (stops the
 * member if it failed) and seals the next batch if it is full already. */
void node_engine_poll(node_t *n);
/* Watches the store's commit eventfd on the owner's loop (again after the
 * store got another engine); none for a store that commits in place. */
void node_watch_engine(node_t *n);
/* A one-member cluster's in-memory log kept at most --snapshot-count
 * entries long, snapshot or not. */
void node_trim_log(node_t *n);
/* snapshotter_done_cb */
void node_on_snapshot_saved(void *arg, int status, uint64_t index, uint64_t term);
/* The WAL marker of the snapshot in flight is durable: release what it covers. */
void node_on_marker_durable(node_t *n);
/* A leader's snapshot in the Ready: the store, members and configuration
 * are replaced by the file received for it. 0 or -1. */
int node_install_snapshot(node_t *n, const struct raft_snapshot *s);

/* ---- the engine's directory (node_engine.c) ---- */

/* Opens the backend of n's configuration in dir. Returns 0 or -1 with err. */
int node_engine_open_at(const node_t *n, const char *dir, engine_t **out, char *err,
                        size_t err_len);
/* At start, before the engine opens: finishes or undoes a replacement a
 * crash interrupted. Returns 0 or -1 with err. */
int node_engine_recover(const node_t *n, char *err, size_t err_len);
/* Opens the engine in its directory (member/<kind>). */
int node_engine_open(const node_t *n, engine_t **out, char *err, size_t err_len);
/*
 * Builds the store of a snapshot (its store section) beside the engine and
 * swaps it into the engine's directory. Returns 0, or -1 with err (nothing
 * changed unless the swap itself failed). An engine open on the old
 * directory now lives in <kind>.old: close it before opening the new one
 * (LevelDB refuses a second open of a path in one process), then
 * node_engine_drop_old.
 */
int node_engine_replace(const node_t *n, const uint8_t *sdata, size_t slen, uint64_t index,
                        char *err, size_t err_len);
void node_engine_drop_old(const node_t *n);
/* The snapshot markers of a WAL (wal_read_markers). */
typedef struct node_markers {
    wal_marker_t *m;
    size_t n;
} node_markers_t;
/* snap_accept_cb over a node_markers_t: a snapshot counts only if the WAL
 * records it (a crash between the file and its marker leaves one that
 * does not). */
bool node_snapshot_recorded(void *markers, uint64_t term, uint64_t index);

#define NODE_ENGINE_MARK_LEN 16 /* "METCDENG" and the index */
/* The cluster section of a snapshot file: configuration and members. *out
 * is malloc'd (the caller frees it). */
void node_encode_cluster_state(const struct raft_conf_state *cs, const membership_t *m,
                               uint8_t **out, size_t *len);
/* Splits a snapshot payload into its cluster section (decoded into *cs and
 * *m, which then own their memory) and the store bytes. A payload without
 * one (written before clusters) leaves *has_cluster false. 0 or -1. */
int node_decode_snapshot(const uint8_t *data, size_t len, bool *has_cluster,
                         struct raft_conf_state *cs, membership_t *m, const uint8_t **store,
                         size_t *store_len);
/* Whether the payload's cluster section carries its own CRC (checked by
 * node_decode_snapshot), so that it can be trusted without the file's. */
bool node_snapshot_section_checked(const uint8_t *data, size_t len);
/* Whether a snapshot's store bytes (from node_decode_snapshot) only say
 * that the member's engine held the store (node_snapshot.c): such a
 * snapshot cannot be loaded into memory or sent to a follower. */
bool node_snapshot_in_engine(const uint8_t *store, size_t len);
/* A snapshot payload split by node_decode_snapshot; node_decoded_free()
 * frees what the cluster section holds unless the caller took it. */
typedef struct node_decoded {
    int rc; /* node_decode_snapshot's */
    bool has_cluster;
    struct raft_conf_state cs;
    membership_t members;
    const uint8_t *sdata;
    size_t slen;
} node_decoded_t;
void node_decode_payload(const uint8_t *data, size_t len, node_decoded_t *d);
void node_decoded_free(node_decoded_t *d);
/* The store bytes of such a snapshot for `index`. */
void node_snapshot_engine_mark(uint64_t index, uint8_t out[NODE_ENGINE_MARK_LEN]);

#endif /* METCD_SERVER_NODE_INT_H */
