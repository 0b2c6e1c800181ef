/*
 * The raft node driver: proposals, the Ready loop with the WAL, apply, and
 * failures. See src/server/node.h for the sequence; the comments here give
 * the rules and where they come from. Start-up is in node_open.c, snapshots
 * in node_snapshot.c, peers, membership and reads in node_cluster.c, the
 * waiting clients in node_wait.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "src/server/envelope.h"
#include "src/server/node_int.h"

int64_t node_now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t request_deadline(const node_t *n)
{
    return node_now_mono() + (int64_t)n->cfg.request_timeout_ms * 1000000;
}

/* ---- apply ---- */

static void apply_entry(node_t *n, const struct raft_entry *e)
{
    if (e->type == RAFT_ENTRY_CONF_CHANGE) {
        node_apply_conf_change(n, e);
        return;
    }
    if (e->len == 0)
        return; /* a new leader's empty entry (Raft paper 5.4.2, 8) */
    envelope_t env;
    if (envelope_decode(e->data, e->len, &env) != 0) {
        log_line('E', "etcdserver", "entry %" PRIu64 " is not a request; skipped", e->index);
        return;
    }
    if (env.kind == ENVELOPE_ATTRIBUTES) {
        node_apply_attributes(n, e->index, env.member_id, env.payload, env.payload_len);
        return;
    }
    /* The engine's image already holds this entry (it was committed before
     * the restart): applying it again would count it twice. */
    if (e->index <= n->engine_applied)
        return;
    store_event_t *ev = NULL;
    store_error_t err = {0};
    int rc = store_apply(n->store, env.payload, env.payload_len, &ev, &err);
    waiter_t w;
    if (env.member_id == n->cfg.member_id && env.request_id != 0 &&
        waiters_take(n, env.request_id, &w)) {
        w.cb(w.ctx, rc, rc == 0 ? ev : NULL, rc == 0 ? NULL : &err);
        ev = NULL;
    } else if (rc != 0 && env.request_id == 0) {
        const char *m = store_error_message(err.code);
        log_line('E', "etcdserver", "applying an internal request failed: %s (%d)", m ? m : "?",
                 err.code);
    }
    if (ev != NULL)
        store_event_release(ev);
    store_error_clear(&err);
}

/* ---- Ready ---- */

/*
 * When the store's engine commits (lmdb, leveldb; the memory backend has
 * nothing to commit). An LMDB commit writes its pages and fdatasyncs them
 * (store/engine_lmdb.c), so one per Ready made every batch of writes pay
 * two syncs, the WAL's and the engine's: the LMDB backend took about a
 * quarter of the memory backend's PUTs. The WAL is the durability point
 * (a write is answered once its entry is fsynced there), and a restart
 * replays the WAL entries after the engine's applied index (node_open.c),
 * so the engine may lag behind: its batch takes the changes of several
 * Readys (reads see them through the batch, store/cache.c) and is committed
 * once it holds NODE_ENGINE_COMMIT_ENTRIES entries, at the next tick, and
 * before a snapshot, a WAL release or a stop need it at the applied index.
 *
 * The first two are written by the engine's commit thread
 * (store_commit_start): an LMDB commit at a million keys takes 20-30 ms,
 * which the owner (raft, the WAL, new writes) and every HTTP loop waiting
 * for the lock spent waiting when the owner wrote it. While one is in
 * flight the next batch keeps gathering entries instead of waiting for it;
 * when it ends (the engine's eventfd, node_engine_poll) a batch that has
 * reached NODE_ENGINE_COMMIT_ENTRIES meanwhile is sealed at once, a
 * smaller one at the next tick. With random keys among a million, 1024
 * entries made PUT's p99 twice the 256's (59 against 29 ms) for 15% more
 * PUTs when the owner committed (docs/benchmarks.md).
 */
#define NODE_ENGINE_COMMIT_ENTRIES 256

/* The engine cannot take the applied entries: the member stops rather
 * than go on from a store its engine does not hold (the WAL keeps them). */
_Noreturn static void engine_failed(node_t *n, uint64_t index)
{
    log_line('E', "etcdserver",
             "cannot write the store to its backend at index %" PRIu64 ": %s; stopping", index,
             store_engine_error(n->store));
    abort();
}

void node_engine_drain(node_t *n)
{
    if (store_commit_wait(n->store) != 0)
        engine_failed(n, store_applied_index(n->store));
}

void node_engine_commit(node_t *n)
{
    node_engine_drain(n);
    if (n->engine_pending == 0)
        return;
    n->engine_pending = 0;
    if (store_commit(n->store, n->applied) != 0)
        engine_failed(n, n->applied);
}

/* Hands the batch to the commit thread, unless a commit is in flight: the
 * batch then goes on gathering (node_engine_poll seals it). */
static void engine_commit_start(node_t *n)
{
    if (n->engine_pending == 0 || store_commit_busy(n->store))
        return;
    n->engine_pending = 0;
    if (store_commit_start(n->store, n->applied) != 0)
        engine_failed(n, n->applied);
}

void node_engine_poll(node_t *n)
{
    int rc = store_commit_poll(n->store);
    if (rc < 0)
        engine_failed(n, store_applied_index(n->store));
    if (rc > 0 && n->engine_pending >= NODE_ENGINE_COMMIT_ENTRIES)
        engine_commit_start(n);
}

static void on_engine_event(h2o_socket_t *sock, const char *err)
{
    (void)err;
    node_engine_poll(sock->data);
}

void node_watch_engine(node_t *n)
{
    if (n->engine_sock != NULL) {
        h2o_socket_read_stop(n->engine_sock);
        h2o_socket_close(n->engine_sock);
        n->engine_sock = NULL;
    }
    int efd = store_commit_fd(n->store);
    if (efd < 0)
        return;        /* no engine, or one that commits in place */
    int fd = dup(efd); /* h2o closes its socket's fd; the engine owns the original */
    if (fd < 0) {
        log_line('E', "etcdserver", "cannot watch the store's backend: %s", strerror(errno));
        abort();
    }
    n->engine_sock = h2o_evloop_socket_create(n->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    n->engine_sock->data = n;
    h2o_socket_read_start(n->engine_sock, on_engine_event);
}

static void rebuild_raft(node_t *n);

static void apply_committed(node_t *n)
{
    struct raft_ready *rd = &n->rd;
    for (size_t i = 0; i < rd->n_committed; i++) {
        apply_entry(n, &rd->committed[i]);
        n->applied = rd->committed[i].index;
    }
    /*
     * Crash tests stop here: the entries are durable in the WAL and
     * applied, and not yet in the engine.
     */
    if (rd->n_committed > 0 && n->cfg.crash_point)
        n->cfg.crash_point("engine-commit");
    if (rd->n_committed > 0 && n->applied > n->engine_applied) {
        n->engine_pending += (uint32_t)rd->n_committed;
        /* The commit in flight may have ended before its eventfd is seen
         * (or watched at all: the replay at start comes before it). */
        if (n->engine_pending >= NODE_ENGINE_COMMIT_ENTRIES) {
            node_engine_poll(n);
            engine_commit_start(n);
        }
    }
    n->rd_applied = true;
    node_answer_reads(n);
}

void node_finish_ready(node_t *n)
{
    struct raft_ready *rd = &n->rd;
    if (rd->has_snapshot) {
        /* The snapshot is durable (its file, and its marker in the WAL):
         * apply it before the entries that follow it (raft.h, step 3). */
        if (node_install_snapshot(n, &rd->snapshot) != 0)
            log_line('E', "etcdserver", "cannot install the snapshot at index %" PRIu64,
                     rd->snapshot.meta.index);
    }
    if (rd->has_hard_state)
        raft_storage_mem_set_hard_state(n->mem, &rd->hard_state);
    if (rd->n_entries > 0 && raft_storage_mem_append(n->mem, rd->entries, rd->n_entries) != 0)
        log_line('E', "raft", "out of memory caching entries");
    if (rd->n_entries > 0)
        n->durable_index = rd->entries[rd->n_entries - 1].index;
    /* A follower's acknowledgements promise durability: they go only now. */
    node_send_messages(n, false);
    if (!n->rd_applied)
        apply_committed(n);
    if (n->disk_failed && rd->n_entries > 0) {
        n->disk_failed = false;
        log_line('N', "etcdserver", "the write-ahead log is writable again");
    }
    raft_advance(n->raft, rd);
    n->rd_out = false;
    n->rd_applied = false;
    n->rd_sent = false;
    n->rd_batch = 0;
    node_maybe_snapshot(n);
    node_trim_log(n);
}

static void fail_ready(node_t *n, int status)
{
    char cause[160];
    snprintf(cause, sizeof(cause), "etcdserver: cannot write the log: %s", strerror(-status));
    if (!n->disk_failed)
        log_line('E', "etcdserver",
                 "failed to persist the raft log (%s): failing %zu waiting writes; writes "
                 "are refused until the disk works again",
                 strerror(-status), n->waiters.n);
    n->disk_failed = true;
    raft_ready_free(&n->rd);
    n->rd_out = false;
    n->rd_applied = false;
    n->rd_sent = false;
    n->rd_batch = 0;
    /* Nothing of the failed batch was applied; its clients and every write
     * proposed after it (not yet in the log) fail. */
    waiters_fail_all(n, cause);
    rebuild_raft(n);
}

void node_on_wal_sync(void *arg, const wal_sync_result_t *res)
{
    node_t *n = arg;
    if (n->marker_batch != 0 && res->batch == n->marker_batch) {
        n->marker_batch = 0;
        if (res->status == 0)
            node_on_marker_durable(n);
        else {
            log_line('E', "etcdserver", "cannot record the snapshot in the log: %s",
                     strerror(-res->status));
            n->snap_failed_at = n->marker_index;
        }
    }
    if (n->rd_out && n->rd_batch != 0 && res->batch == n->rd_batch) {
        if (res->status == 0)
            node_finish_ready(n);
        else
            fail_ready(n, res->status);
    }
}

/*
 * A new leader's first proposal: STORE_OP_RESUME, so that TTL keys get back
 * the time nobody could refresh them (no leader, or every member down); etcd
 * lets them expire right after the election, which its users reported as a
 * bug. It is proposed as soon as the core reports the new leadership (see
 * node_check_leader, called after every step), so no proposal stamped with
 * a clock of the new term can come before it in the log.
 */
static void propose_resume(node_t *n, int64_t now)
{
    store_request_t r = {.op = STORE_OP_RESUME, .time_ns = now, .key = "/", .key_len = 1};
    uint8_t *data = NULL, *env = NULL;
    size_t len = 0, elen = 0;
    /* Straight to the core, ahead of proposals kept while there was no
     * leader: they were stamped before this term began. */
    if (store_request_encode(&r, &data, &len) != 0 ||
        envelope_encode(ENVELOPE_REQUEST, n->cfg.member_id, 0, data, len, &env, &elen) != 0 ||
        raft_propose(n->raft, env, elen) != 0)
        log_line('W', "etcdserver", "cannot give TTL keys back the time without a leader");
    free(env);
    free(data);
}

void node_check_leader(node_t *n)
{
    if (n->raft == NULL)
        return;
    struct raft_status st;
    raft_get_status(n->raft, &st);
    if (st.ss.lead == n->lead)
        return;
    bool became_leader = false;
    if (st.ss.lead != RAFT_NONE) {
        /* etcd counts every new leader it sees, including itself. */
        n->leader_changes++;
        if (st.ss.lead != n->lead_seen) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            n->lead_seen = st.ss.lead;
            n->lead_seen_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        }
        if (st.ss.lead == n->cfg.member_id && st.ss.state == RAFT_LEADER) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            n->leader_since_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
            became_leader = true;
        }
        log_line('I', "raft", "raft.node: %" PRIx64 " elected leader %" PRIx64 " at term %" PRIu64,
                 n->cfg.member_id, st.ss.lead, st.hs.term);
    } else {
        log_line('I', "raft", "raft.node: %" PRIx64 " lost leader %" PRIx64 " at term %" PRIu64,
                 n->cfg.member_id, n->lead, st.hs.term);
    }
    n->lead = st.ss.lead;
    if (became_leader)
        propose_resume(n, n->leader_since_ns);
    /* Proposals and reads that waited for a leader go now. */
    if (n->lead != RAFT_NONE)
        node_retry(n, node_now_mono());
}

void node_process(node_t *n)
{
    while (!n->rd_out && n->raft != NULL && raft_has_ready(n->raft)) {
        if (raft_ready(n->raft, &n->rd) != 0) {
            log_line('E', "raft", "cannot take a ready batch: out of memory");
            return;
        }
        n->rd_out = true;
        struct raft_ready *rd = &n->rd;
        node_check_leader(n);
        node_note_read_states(n);
        int rc = 0;
        if (rd->has_snapshot) {
            /* The file arrived whole before the core saw the snapshot
             * (node_snapshot_receive_end); the WAL records it, as etcd's
             * SaveSnap does, so a restart starts from it. */
            rc = wal_append_snapshot(n->wal, rd->snapshot.meta.index, rd->snapshot.meta.term);
        }
        if (rc == 0 && rd->has_hard_state) {
            wal_hard_state_t hs = {rd->hard_state.term, rd->hard_state.vote, rd->hard_state.commit};
            rc = wal_append_hard_state(n->wal, &hs);
        }
        for (size_t i = 0; rc == 0 && i < rd->n_entries; i++) {
            const struct raft_entry *e = &rd->entries[i];
            rc = wal_append_entry(n->wal, e->index, e->term, e->type, e->data, e->len);
        }
        if (rc != 0) {
            /* A record the WAL cannot take (too large, no memory): nothing of
             * this Ready is submitted; wal_sync_async() would carry the part
             * already buffered, so the batch is written and failed as one. */
            n->rd_batch = wal_sync_async(n->wal);
            fail_ready(n, rc);
            return;
        }
        /* A leader's appends go out while its own copy is being written
         * (Raft thesis 10.2.1): it counts itself toward commitment only
         * once the entries are durable (raft_advance). */
        node_send_messages(n, true);
        /*
         * Committed entries that are already durable here are applied (and
         * their clients answered) now, while the new entries of this Ready
         * go to disk, as etcd's server does: a committed entry is durable on
         * a majority, and these are durable on this member too. Anything
         * else waits for the fsync.
         */
        if (!rd->has_snapshot && rd->n_committed > 0 &&
            rd->committed[rd->n_committed - 1].index <= n->durable_index)
            apply_committed(n);
        /*
         * Entries and a changed term or vote must be durable before anything
         * that depends on them (Raft paper, Figure 2: "persistent state ...
         * updated on stable storage before responding to RPCs"). A commit
         * index alone needs no fsync (etcd's MustSync): it rides with the next
         * batch.
         */
        if (rd->n_entries > 0 || rd->must_sync || rd->has_snapshot) {
            n->rd_batch = wal_sync_async(n->wal);
            return;
        }
        node_finish_ready(n);
    }
}

/* ---- the raft core ---- */

int node_new_raft(node_t *n, uint64_t applied)
{
    int election = n->cfg.heartbeat_ms ? (int)(n->cfg.election_ms / n->cfg.heartbeat_ms) : 10;
    if (election < 2)
        election = 2;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct raft_config rc = {
        .id = n->cfg.member_id,
        .election_tick = election,
        .heartbeat_tick = 1,
        .storage = raft_storage_mem_iface(n->mem),
        .applied = applied,
        .max_size_per_msg = 1024 * 1024, /* etcd's maxSizePerMsg */
        .max_inflight_msgs = 4096 / 8,   /* etcd's maxInflightMsgs */
        .check_quorum = true,
        .pre_vote = true,
        .seed = n->cfg.member_id ^ (uint64_t)ts.tv_nsec,
    };
    return raft_new(&rc, &n->raft);
}

/* After a disk failure: forget what raft holds beyond the durable log and
 * start again from it, as a restart would. */
static void rebuild_raft(node_t *n)
{
    raft_free(n->raft);
    n->raft = NULL;
    /* Entries applied early (above) are durable and committed, though the
     * commit index that says so may have been in the failed batch. */
    struct raft_hard_state hs;
    raft_storage_mem_hard_state(n->mem, &hs);
    if (hs.commit < n->applied) {
        hs.commit = n->applied;
        raft_storage_mem_set_hard_state(n->mem, &hs);
    }
    /* The rebuilt core starts from its storage's configuration and is given
     * only the entries after `applied`: the configuration must be the one
     * applied so far. */
    raft_storage_mem_set_conf_state(n->mem, &n->conf);
    int rc = node_new_raft(n, n->applied);
    if (rc != 0) {
        log_line('E', "raft", "cannot rebuild the raft node: %s", raft_strerror(rc));
        return;
    }
    n->lead = RAFT_NONE;
    n->campaign_pending = true;
}

bool node_single_voter(const node_t *n)
{
    return n->conf.n_voters == 1 && n->conf.voters[0] == n->cfg.member_id &&
           n->conf.n_voters_outgoing == 0;
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    node_t *n = H2O_STRUCT_FROM_MEMBER(node_t, tick_entry, entry);
    if (n->raft == NULL)
        rebuild_raft(n);
    if (n->raft != NULL) {
        raft_tick(n->raft);
        if (n->campaign_pending && !n->rd_out && node_single_voter(n)) {
            n->campaign_pending = false;
            raft_campaign(n->raft);
        }
        node_check_leader(n);
    }
    /* An engine at most a tick (and a commit in flight) behind the store,
     * even with no more writes. Polled here too in case its eventfd is
     * not watched (a start that failed half-way). */
    node_engine_poll(n);
    engine_commit_start(n);
    int64_t now = node_now_mono();
    waiters_expire(n, now);
    node_retry(n, now);
    h2o_timeout_link(n->loop, &n->tick_timeout, &n->tick_entry);
}

static void on_wal_event(h2o_socket_t *sock, const char *err)
{
    node_t *n = sock->data;
    (void)err;
    wal_poll(n->wal);
    node_process(n);
}

int node_start(node_t *n)
{
    int fd = dup(wal_event_fd(n->wal)); /* h2o closes its socket's fd; the WAL owns the original */
    if (fd < 0)
        return -1;
    n->wal_sock = h2o_evloop_socket_create(n->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    n->wal_sock->data = n;
    h2o_socket_read_start(n->wal_sock, on_wal_event);
    h2o_timeout_init(n->loop, &n->tick_timeout, n->cfg.heartbeat_ms ? n->cfg.heartbeat_ms : 100);
    n->tick_entry.cb = on_tick;
    h2o_timeout_link(n->loop, &n->tick_timeout, &n->tick_entry);
    node_watch_engine(n);
    n->started = true;
    node_sync_peers(n);
    /* A one-voter cluster need not wait an election timeout: it can only
     * elect itself (etcd fast-forwards its ticks for the same reason). */
    if (node_single_voter(n)) {
        raft_campaign(n->raft);
        node_check_leader(n);
    }
    node_process(n);
    return 0;
}

int node_propose_envelope(node_t *n, const uint8_t *data, size_t len, int64_t deadline)
{
    if (n->lead == RAFT_NONE || n->n_pending > 0) {
        /* No leader known: keep it until one is (node_retry), as etcd's
         * proposals wait in raft's propc while there is no leader. Behind
         * proposals still kept, a new one waits too: one proposer's
         * entries reach the log in request-id order, which the waiters
         * rely on (waiters_take). */
        if (n->n_pending == n->cap_pending) {
            n->cap_pending = n->cap_pending ? n->cap_pending * 2 : 16;
            n->pending = realloc(n->pending, n->cap_pending * sizeof(*n->pending));
            if (n->pending == NULL)
                abort();
        }
        uint8_t *copy = malloc(len);
        if (copy == NULL)
            abort();
        memcpy(copy, data, len);
        n->pending[n->n_pending++] = (pending_prop_t){copy, len, deadline};
        return 0;
    }
    return raft_propose(n->raft, data, len);
}

static int propose_kind(node_t *n, uint8_t kind, const uint8_t *req, size_t len, node_done_cb cb,
                        void *cb_ctx, store_error_t *err)
{
    if (n->raft == NULL || n->disk_failed || n->removed) {
        n->proposals_failed++;
        return store_error_set(err, STORE_E_RAFT_INTERNAL,
                               n->removed ? "etcdserver: the member has been permanently "
                                            "removed from the cluster"
                               : n->disk_failed
                                   ? "etcdserver: the write-ahead log cannot be written"
                                   : "etcdserver: no leader",
                               0);
    }
    /* A leader takes writes only once its RESUME is proposed (see
     * propose_resume); until the core's new leadership is noted here, the
     * proposal waits like one made without a leader. */
    uint64_t id = cb != NULL ? ++n->next_request_id : 0;
    uint8_t *data = NULL;
    size_t dlen = 0;
    if (envelope_encode(kind, n->cfg.member_id, id, req, len, &data, &dlen) != 0)
        abort();
    int64_t deadline = request_deadline(n);
    if (cb != NULL)
        waiters_push(&n->waiters, (waiter_t){id, cb, cb_ctx, deadline});
    int rc = node_propose_envelope(n, data, dlen, deadline);
    free(data);
    if (rc != 0) {
        if (cb != NULL)
            n->waiters.n--; /* the waiter just pushed is the newest */
        n->proposals_failed++;
        return store_error_set(
            err, STORE_E_RAFT_INTERNAL,
            rc == RAFT_ENOLEADER ? "etcdserver: no leader" : "etcdserver: proposal dropped", 0);
    }
    return 0;
}

int node_propose(node_t *n, const uint8_t *req, size_t len, node_done_cb cb, void *cb_ctx,
                 store_error_t *err)
{
    return propose_kind(n, ENVELOPE_REQUEST, req, len, cb, cb_ctx, err);
}

/* Internal: a member's attributes (node_cluster.c publishes them). */
int node_propose_attributes(node_t *n, const uint8_t *data, size_t len);
int node_propose_attributes(node_t *n, const uint8_t *data, size_t len)
{
    store_error_t err = {0};
    int rc = propose_kind(n, ENVELOPE_ATTRIBUTES, data, len, NULL, NULL, &err);
    store_error_clear(&err);
    return rc;
}

void node_get_info(node_t *n, node_info_t *out)
{
    memset(out, 0, sizeof(*out));
    out->applied = n->applied;
    out->leader_since_ns = n->leader_since_ns;
    out->leader_changes = n->leader_changes;
    out->published = n->published;
    out->app_sent = n->app_sent;
    out->app_received = n->app_received;
    out->lead_seen = n->lead_seen;
    out->lead_seen_ns = n->lead_seen_ns;
    out->pending = n->waiters.n + n->n_reads;
    out->failed = n->proposals_failed;
    if (n->raft == NULL)
        return;
    struct raft_status st;
    raft_get_status(n->raft, &st);
    out->commit = st.hs.commit;
    out->term = st.hs.term;
    out->leader = st.ss.lead;
    out->is_leader = st.ss.state == RAFT_LEADER;
}

void node_stop(node_t *n)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (n->rd_out && n->rd_batch != 0) {
        h2o_evloop_run(n->loop, 10);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= 3)
            break;
    }
    /* Flush a commit index still waiting in the WAL's buffer, so that a
     * clean stop leaves nothing for the next start to settle. */
    if (!n->rd_out && n->wal != NULL && n->started)
        wal_sync(n->wal);
    /* A clean stop leaves the engine at the applied index: nothing to replay. */
    if (n->started)
        node_engine_commit(n);
    waiters_fail_all(n, "etcdserver: server stopped");
    snapshotter_cancel(&n->snapper);
    if (n->started) {
        if (h2o_timeout_is_linked(&n->tick_entry))
            h2o_timeout_unlink(&n->tick_entry);
        h2o_timeout_dispose(n->loop, &n->tick_timeout);
        n->started = false;
    }
    if (n->wal_sock != NULL) {
        h2o_socket_read_stop(n->wal_sock);
        h2o_socket_close(n->wal_sock);
        n->wal_sock = NULL;
    }
    if (n->engine_sock != NULL) {
        h2o_socket_read_stop(n->engine_sock);
        h2o_socket_close(n->engine_sock);
        n->engine_sock = NULL;
    }
}

void node_free(node_t *n)
{
    if (n == NULL)
        return;
    node_stop(n);
    if (n->rd_out)
        raft_ready_free(&n->rd);
    raft_free(n->raft);
    if (n->wal != NULL)
        wal_close(n->wal);
    if (n->mem != NULL)
        raft_storage_mem_free(n->mem);
    if (n->recv_fd >= 0)
        close(n->recv_fd);
    waiters_free(n);
    raft_conf_state_free(&n->conf);
    raft_conf_state_free(&n->snap_conf);
    membership_free(&n->members);
    membership_free(&n->synced);
    free(n->followers);
    free(n->wal_dir);
    free(n->snap_dir);
    free(n);
}

void node_attach_transport(node_t *n, struct peer_transport *t)
{
    n->cfg.transport = t;
}

uint64_t node_member_id(const node_t *n)
{
    return n->cfg.member_id;
}

uint64_t node_cluster_id(const node_t *n)
{
    return n->cfg.cluster_id;
}

void node_test_point(const node_t *n, const char *where)
{
    if (n->cfg.crash_point)
        n->cfg.crash_point(where);
}
