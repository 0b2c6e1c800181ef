/*
 * The raft node driver. See src/raft_node.h for the sequence; the comments
 * here give the rules and where they come from.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "raft/raft.h"
#include "snap/snap.h"
#include "src/envelope.h"
#include "src/log.h"
#include "src/raft_node.h"
#include "src/snapshotter.h"
#include "src/wal_faults.h"
#include "wal/wal.h"

/* Entries kept in memory behind a snapshot for followers that lag (etcd's
 * snapshotCatchUpEntries = 5000). */
#define CATCH_UP_ENTRIES 5000
/* WAL metadata: magic, member id, cluster id (etcd stores the same pair). */
#define WAL_META_MAGIC "METCDWM1"
#define WAL_META_SIZE  24

typedef struct waiter {
    uint64_t id;
    api_propose_cb cb;
    void *ctx;
} waiter_t;

struct raft_node {
    raft_node_config_t cfg;
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

    snapshotter_t snapper;
    uint64_t marker_batch; /* WAL batch of a snapshot marker in flight */
    uint64_t marker_index, marker_term;
};

/* ---- waiters ---- */

static int waiter_push(raft_node_t *n, uint64_t id, api_propose_cb cb, void *ctx)
{
    if (n->w_n == n->w_cap) {
        size_t cap = n->w_cap ? n->w_cap * 2 : 64;
        waiter_t *w = malloc(cap * sizeof(*w));
        if (w == NULL)
            return -1;
        for (size_t i = 0; i < n->w_n; i++)
            w[i] = n->waiters[(n->w_head + i) % n->w_cap];
        free(n->waiters);
        n->waiters = w;
        n->w_cap = cap;
        n->w_head = 0;
    }
    n->waiters[(n->w_head + n->w_n) % n->w_cap] = (waiter_t){id, cb, ctx};
    n->w_n++;
    return 0;
}

static waiter_t waiter_pop(raft_node_t *n)
{
    waiter_t w = n->waiters[n->w_head];
    n->w_head = (n->w_head + 1) % n->w_cap;
    n->w_n--;
    return w;
}

static void waiter_fail(raft_node_t *n, waiter_t w, const char *cause)
{
    store_error_t err = {0};
    /* etcd answers a write it could not complete with 300 "Raft Internal
     * Error" and the cause, index 0 (v2error.NewError(EcodeRaftInternal)). */
    store_error_set(&err, STORE_E_RAFT_INTERNAL, cause, 0);
    (void)n;
    w.cb(w.ctx, -STORE_E_RAFT_INTERNAL, NULL, &err);
    store_error_clear(&err);
}

static void fail_all_waiters(raft_node_t *n, const char *cause)
{
    while (n->w_n > 0)
        waiter_fail(n, waiter_pop(n), cause);
}

/*
 * The waiter of request `id`, or NULL. A leader appends its own proposals in
 * the order they were made, so waiters older than `id` still in the queue
 * were lost (dropped by a leader change): they fail.
 */
static bool waiter_take(raft_node_t *n, uint64_t id, waiter_t *out)
{
    while (n->w_n > 0 && n->waiters[n->w_head].id < id)
        waiter_fail(n, waiter_pop(n), "etcdserver: request lost by a leader change");
    if (n->w_n > 0 && n->waiters[n->w_head].id == id) {
        *out = waiter_pop(n);
        return true;
    }
    return false;
}

/* ---- apply ---- */

static void apply_entry(raft_node_t *n, const struct raft_entry *e)
{
    if (e->type == RAFT_ENTRY_CONF_CHANGE) {
        struct raft_conf_change cc;
        if (raft_decode_conf_change(e->data, e->len, &cc) == 0) {
            raft_apply_conf_change(n->raft, &cc, NULL);
            raft_conf_change_free(&cc);
        }
        return;
    }
    if (e->len == 0)
        return; /* a new leader's empty entry (Raft paper 5.4.2, 8) */
    envelope_t env;
    if (envelope_decode(e->data, e->len, &env) != 0) {
        log_line('E', "etcdserver", "entry %" PRIu64 " is not a request; skipped", e->index);
        return;
    }
    store_event_t *ev = NULL;
    store_error_t err = {0};
    int rc = store_apply(n->store, env.payload, env.payload_len, &ev, &err);
    waiter_t w;
    if (env.member_id == n->cfg.member_id && env.request_id != 0 &&
        waiter_take(n, env.request_id, &w)) {
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

/* ---- snapshots ---- */

static void maybe_snapshot(raft_node_t *n)
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

static void on_snapshot_saved(void *arg, int status, uint64_t index, uint64_t term)
{
    raft_node_t *n = arg;
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

static void on_marker_durable(raft_node_t *n)
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

/* ---- Ready ---- */

static void rebuild_raft(raft_node_t *n);
static bool single_voter(const raft_node_t *n);

static void apply_committed(raft_node_t *n)
{
    struct raft_ready *rd = &n->rd;
    for (size_t i = 0; i < rd->n_committed; i++)
        apply_entry(n, &rd->committed[i]);
    if (rd->n_committed > 0)
        n->applied = rd->committed[rd->n_committed - 1].index;
    n->rd_applied = true;
}

static void finish_ready(raft_node_t *n)
{
    struct raft_ready *rd = &n->rd;
    if (rd->has_hard_state)
        raft_storage_mem_set_hard_state(n->mem, &rd->hard_state);
    if (rd->n_entries > 0 && raft_storage_mem_append(n->mem, rd->entries, rd->n_entries) != 0)
        log_line('E', "raft", "out of memory caching entries");
    if (rd->n_entries > 0)
        n->durable_index = rd->entries[rd->n_entries - 1].index;
    /* One member: no messages to send (the peer transport sends them). */
    if (!n->rd_applied)
        apply_committed(n);
    if (n->disk_failed && rd->n_entries > 0) {
        n->disk_failed = false;
        log_line('N', "etcdserver", "the write-ahead log is writable again");
    }
    raft_advance(n->raft, rd);
    n->rd_out = false;
    n->rd_applied = false;
    n->rd_batch = 0;
    maybe_snapshot(n);
}

static void fail_ready(raft_node_t *n, int status)
{
    char cause[160];
    snprintf(cause, sizeof(cause), "etcdserver: cannot write the log: %s", strerror(-status));
    if (!n->disk_failed)
        log_line('E', "etcdserver",
                 "failed to persist the raft log (%s): failing %zu waiting writes; writes "
                 "are refused until the disk works again",
                 strerror(-status), n->w_n);
    n->disk_failed = true;
    raft_ready_free(&n->rd);
    n->rd_out = false;
    n->rd_applied = false;
    n->rd_batch = 0;
    /* Nothing of the failed batch was applied; its clients and every write
     * proposed after it (not yet in the log) fail. */
    fail_all_waiters(n, cause);
    rebuild_raft(n);
}

static void on_wal_sync(void *arg, const wal_sync_result_t *res)
{
    raft_node_t *n = arg;
    if (n->marker_batch != 0 && res->batch == n->marker_batch) {
        n->marker_batch = 0;
        if (res->status == 0)
            on_marker_durable(n);
        else {
            log_line('E', "etcdserver", "cannot record the snapshot in the log: %s",
                     strerror(-res->status));
            n->snap_failed_at = n->marker_index;
        }
    }
    if (n->rd_out && n->rd_batch != 0 && res->batch == n->rd_batch) {
        if (res->status == 0)
            finish_ready(n);
        else
            fail_ready(n, res->status);
    }
}

void raft_node_process(raft_node_t *n)
{
    while (!n->rd_out && n->raft != NULL && raft_has_ready(n->raft)) {
        if (raft_ready(n->raft, &n->rd) != 0) {
            log_line('E', "raft", "cannot take a ready batch: out of memory");
            return;
        }
        n->rd_out = true;
        struct raft_ready *rd = &n->rd;
        int rc = 0;
        if (rd->has_hard_state) {
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
        /*
         * Committed entries that are already durable here are applied (and
         * their clients answered) now, while the new entries of this Ready
         * go to disk, as etcd's server does: a committed entry is durable on
         * a majority, and these are durable on this member too. The leader
         * counts its own entries toward commitment only once they are
         * durable (raft_advance), so under load this saves a whole fsync of
         * latency per write. Anything else waits for the fsync.
         */
        if (rd->n_committed > 0 && rd->committed[rd->n_committed - 1].index <= n->durable_index)
            apply_committed(n);
        /*
         * Entries and a changed term or vote must be durable before anything
         * that depends on them (Raft paper, Figure 2: "persistent state ...
         * updated on stable storage before responding to RPCs"). A commit
         * index alone needs no fsync (etcd's MustSync): it rides with the next
         * batch.
         */
        if (rd->n_entries > 0 || rd->must_sync) {
            n->rd_batch = wal_sync_async(n->wal);
            return;
        }
        finish_ready(n);
    }
}

/* ---- the raft core ---- */

static int new_raft(raft_node_t *n, uint64_t applied)
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
static void rebuild_raft(raft_node_t *n)
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
    int rc = new_raft(n, n->applied);
    if (rc != 0) {
        log_line('E', "raft", "cannot rebuild the raft node: %s", raft_strerror(rc));
        return;
    }
    n->campaign_pending = true;
}

static bool single_voter(const raft_node_t *n)
{
    return n->conf.n_voters == 1 && n->conf.voters[0] == n->cfg.member_id;
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    raft_node_t *n = H2O_STRUCT_FROM_MEMBER(raft_node_t, tick_entry, entry);
    if (n->raft == NULL)
        rebuild_raft(n);
    if (n->raft != NULL) {
        raft_tick(n->raft);
        if (n->campaign_pending && !n->rd_out && single_voter(n)) {
            n->campaign_pending = false;
            raft_campaign(n->raft);
        }
    }
    h2o_timeout_link(n->loop, &n->tick_timeout, &n->tick_entry);
}

static void on_wal_event(h2o_socket_t *sock, const char *err)
{
    raft_node_t *n = sock->data;
    (void)err;
    wal_poll(n->wal);
    raft_node_process(n);
}

/* ---- open ---- */

typedef struct marker_list {
    wal_marker_t *m;
    size_t n;
} marker_list_t;

static bool accept_snapshot(void *arg, uint64_t term, uint64_t index)
{
    const marker_list_t *ml = arg;
    for (size_t i = 0; i < ml->n; i++)
        if (ml->m[i].index == index && ml->m[i].term == term)
            return true;
    return false;
}

static void wal_log(void *arg, const char *line)
{
    (void)arg;
    log_line('W', "wal", "%s", line);
}

static void snap_log(void *arg, const char *line)
{
    (void)arg;
    log_line('W', "snap", "%s", line);
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int check_metadata(raft_node_t *n, const uint8_t *m, size_t len, char *err, size_t err_len)
{
    if (len != WAL_META_SIZE || memcmp(m, WAL_META_MAGIC, 8) != 0) {
        snprintf(err, err_len, "%s: the write-ahead log was not written by metcd", n->wal_dir);
        return -1;
    }
    uint64_t member = get64(m + 8), cluster = get64(m + 16);
    /* etcd refuses a data dir whose WAL names another member or cluster. */
    if (member != n->cfg.member_id || cluster != n->cfg.cluster_id) {
        snprintf(err, err_len,
                 "data directory %s belongs to member %" PRIx64 " of cluster %" PRIx64
                 ", not to member %" PRIx64 " of cluster %" PRIx64
                 " (check --name, --initial-cluster and --initial-cluster-token)",
                 n->cfg.data_dir, member, cluster, n->cfg.member_id, n->cfg.cluster_id);
        return -1;
    }
    return 0;
}

/* Everything the WAL held at start is durable. */
static void note_durable_log(raft_node_t *n)
{
    struct raft_storage *st = raft_storage_mem_iface(n->mem);
    uint64_t last = 0;
    if (st->last_index(st->ctx, &last) == 0)
        n->durable_index = last;
}

/* Applies the committed entries the log holds beyond the snapshot before the
 * member serves (etcd replays them through raft at start the same way). */
static int replay(raft_node_t *n, char *err, size_t err_len)
{
    while (raft_has_ready(n->raft)) {
        if (raft_ready(n->raft, &n->rd) != 0) {
            snprintf(err, err_len, "out of memory replaying the log");
            return -1;
        }
        n->rd_out = true;
        struct raft_ready *rd = &n->rd;
        if (rd->has_hard_state) {
            wal_hard_state_t hs = {rd->hard_state.term, rd->hard_state.vote, rd->hard_state.commit};
            wal_append_hard_state(n->wal, &hs);
        }
        for (size_t i = 0; i < rd->n_entries; i++)
            wal_append_entry(n->wal, rd->entries[i].index, rd->entries[i].term, rd->entries[i].type,
                             rd->entries[i].data, rd->entries[i].len);
        if (rd->has_hard_state || rd->n_entries > 0) {
            int rc = wal_sync(n->wal);
            if (rc != 0) {
                snprintf(err, err_len, "cannot write the log in %s: %s", n->wal_dir, strerror(-rc));
                raft_ready_free(rd);
                n->rd_out = false;
                return -1;
            }
        }
        finish_ready(n);
    }
    return 0;
}

static int load_state(raft_node_t *n, store_t **store_out, const store_config_t *scfg,
                      wal_options_t *wo, char *err, size_t err_len)
{
    marker_list_t ml = {0};
    int rc = wal_read_markers(n->wal_dir, &ml.m, &ml.n);
    if (rc != 0) {
        snprintf(err, err_len, "cannot read the log in %s: %s", n->wal_dir, strerror(-rc));
        return -1;
    }
    snap_loaded_t snap;
    char serr[512] = "";
    rc = snap_load_newest(n->snap_dir, accept_snapshot, &ml, snap_log, NULL, &snap, serr,
                          sizeof(serr));
    free(ml.m);
    store_t *store = NULL;
    if (rc == 0) {
        char lerr[256] = "";
        store = store_load(scfg, snap.data, snap.len, lerr, sizeof(lerr));
        n->snap_index = snap.index;
        n->snap_term = snap.term;
        snap_release(&snap);
        if (store == NULL) {
            snprintf(err, err_len,
                     "cannot load the snapshot %016" PRIx64 "-%016" PRIx64 ".snap: %s",
                     n->snap_term, n->snap_index, lerr);
            return -1;
        }
        log_line('I', "etcdserver", "recovered store from snapshot at index %" PRIu64,
                 n->snap_index);
    } else if (rc == -ENOENT) {
        store = store_new(scfg);
        if (store == NULL) {
            snprintf(err, err_len, "out of memory");
            return -1;
        }
    } else {
        snprintf(err, err_len, "cannot load a snapshot from %s: %s", n->snap_dir,
                 serr[0] ? serr : strerror(-rc));
        return -1;
    }
    *store_out = store;
    n->store = store;

    wal_read_result_t res = {0};
    rc = wal_open(&n->wal, wo, n->snap_index, n->snap_term, &res, err, err_len);
    if (rc != 0) {
        if (err[0] == '\0')
            snprintf(err, err_len, "cannot open the log in %s: %s", n->wal_dir, strerror(-rc));
        return -1;
    }
    if (check_metadata(n, res.metadata, res.metadata_len, err, err_len) != 0) {
        wal_read_result_free(&res);
        return -1;
    }
    if (n->snap_index > 0) {
        struct raft_snapshot s = {.meta = {.index = n->snap_index, .term = n->snap_term}};
        s.meta.conf = n->conf;
        rc = raft_storage_mem_apply_snapshot(n->mem, &s);
        if (rc != 0) {
            snprintf(err, err_len, "cannot restore the snapshot: %s", raft_strerror(rc));
            wal_read_result_free(&res);
            return -1;
        }
    }
    struct raft_hard_state hs = {res.hard_state.term, res.hard_state.vote, res.hard_state.commit};
    if (hs.commit < n->snap_index)
        hs.commit = n->snap_index; /* the snapshot holds only committed state */
    /*
     * The commit index of the last batch travels in the next one (a commit
     * alone needs no fsync, etcd's MustSync), so the log may end with
     * entries past the last recorded commit. In a cluster whose only voter
     * has always been this member, an entry durable here is durable on a
     * majority and therefore committed (Raft paper 5.3; the 5.4.2 caveat is
     * about other voters' copies), so the restart applies all of them before
     * serving and comes back at the index it acknowledged last.
     */
    if (single_voter(n) && res.n_entries > 0 && res.entries[res.n_entries - 1].index > hs.commit)
        hs.commit = res.entries[res.n_entries - 1].index;
    raft_storage_mem_set_hard_state(n->mem, &hs);
    if (res.n_entries > 0) {
        struct raft_entry *ents = calloc(res.n_entries, sizeof(*ents));
        if (ents == NULL) {
            snprintf(err, err_len, "out of memory");
            wal_read_result_free(&res);
            return -1;
        }
        for (size_t i = 0; i < res.n_entries; i++)
            ents[i] = (struct raft_entry){.term = res.entries[i].term,
                                          .index = res.entries[i].index,
                                          .type = res.entries[i].type,
                                          .data = (void *)res.entries[i].data,
                                          .len = res.entries[i].len};
        rc = raft_storage_mem_append(n->mem, ents, res.n_entries);
        free(ents);
        if (rc != 0) {
            snprintf(err, err_len, "cannot cache the log: %s", raft_strerror(rc));
            wal_read_result_free(&res);
            return -1;
        }
    }
    log_line('I', "etcdserver",
             "restarting member %" PRIx64 " in cluster %" PRIx64 " at commit index %" PRIu64
             " (%zu entries after the snapshot)",
             n->cfg.member_id, n->cfg.cluster_id, hs.commit, res.n_entries);
    wal_read_result_free(&res);
    return 0;
}

int raft_node_open(raft_node_t **out, store_t **store_out, const raft_node_config_t *cfg, char *err,
                   size_t err_len)
{
    *out = NULL;
    *store_out = NULL;
    err[0] = '\0';
    raft_node_t *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    n->cfg = *cfg;
    n->loop = cfg->loop;
    n->voters[0] = cfg->member_id;
    n->conf.voters = n->voters;
    n->conf.n_voters = 1;
    if (asprintf(&n->wal_dir, "%s/member/wal", cfg->data_dir) < 0)
        n->wal_dir = NULL;
    if (asprintf(&n->snap_dir, "%s/member/snap", cfg->data_dir) < 0)
        n->snap_dir = NULL;
    n->mem = raft_storage_mem_new();
    if (n->wal_dir == NULL || n->snap_dir == NULL || n->mem == NULL) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    mkdir(n->snap_dir, 0700);
    /* Bootstrap: this member is the one voter of the configuration in force
     * at index 0 (raft_storage_mem_set_conf_state). */
    raft_storage_mem_set_conf_state(n->mem, &n->conf);
    snapshotter_init(&n->snapper, n->loop, n->snap_dir, on_snapshot_saved, n);

    store_config_t scfg = {.history_size = cfg->watch_history};
    wal_options_t wo = {.dir = n->wal_dir,
                        .max_wals = cfg->max_wals,
                        .on_sync = on_wal_sync,
                        .on_sync_arg = n,
                        .log = wal_log,
                        .io = wal_faults_from_env()};
    /* Process tests use small segments to cut and release them quickly. */
    const char *seg = getenv("METCD_TEST_WAL_SEGMENT_SIZE");
    if (seg != NULL && *seg != '\0')
        wo.segment_size = strtoull(seg, NULL, 10);
    if (wal_exists(n->wal_dir)) {
        if (load_state(n, store_out, &scfg, &wo, err, err_len) != 0)
            goto fail;
    } else {
        uint8_t meta[WAL_META_SIZE];
        memcpy(meta, WAL_META_MAGIC, 8);
        put64(meta + 8, cfg->member_id);
        put64(meta + 16, cfg->cluster_id);
        if (wal_create(&n->wal, &wo, meta, sizeof(meta), err, err_len) != 0) {
            if (err[0] == '\0')
                snprintf(err, err_len, "cannot create the log in %s", n->wal_dir);
            goto fail;
        }
        n->store = *store_out = store_new(&scfg);
        if (n->store == NULL) {
            snprintf(err, err_len, "out of memory");
            goto fail;
        }
    }
    n->applied = n->snap_index;
    note_durable_log(n);
    int rc = new_raft(n, n->snap_index);
    if (rc != 0) {
        snprintf(err, err_len, "cannot start raft: %s", raft_strerror(rc));
        goto fail;
    }
    if (replay(n, err, err_len) != 0)
        goto fail;
    *out = n;
    return 0;
fail:
    raft_node_free(n);
    if (*store_out != NULL)
        store_free(*store_out);
    *store_out = NULL;
    return -1;
}

int raft_node_start(raft_node_t *n)
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
    n->started = true;
    /* A one-voter cluster need not wait an election timeout: it can only
     * elect itself (etcd fast-forwards its ticks for the same reason). */
    if (single_voter(n))
        raft_campaign(n->raft);
    raft_node_process(n);
    return 0;
}

int raft_node_propose(raft_node_t *n, const uint8_t *req, size_t len, api_propose_cb cb,
                      void *cb_ctx, store_error_t *err)
{
    raft_node_info_t info;
    raft_node_get_info(n, &info);
    if (n->raft == NULL || !info.is_leader)
        /* A member without a leader cannot take writes; etcd answers them
         * with 300 once its request times out, we answer at once. */
        return store_error_set(err, STORE_E_RAFT_INTERNAL,
                               n->disk_failed ? "etcdserver: the write-ahead log cannot be written"
                                              : "etcdserver: no leader",
                               0);
    uint64_t id = cb != NULL ? ++n->next_request_id : 0;
    uint8_t *data = NULL;
    size_t dlen = 0;
    if (envelope_encode(n->cfg.member_id, id, req, len, &data, &dlen) != 0)
        return store_error_set(err, STORE_E_RAFT_INTERNAL, "etcdserver: out of memory", 0);
    if (cb != NULL && waiter_push(n, id, cb, cb_ctx) != 0) {
        free(data);
        return store_error_set(err, STORE_E_RAFT_INTERNAL, "etcdserver: out of memory", 0);
    }
    int rc = raft_propose(n->raft, data, dlen);
    free(data);
    if (rc != 0) {
        if (cb != NULL)
            n->w_n--; /* the waiter just pushed is the newest */
        return store_error_set(
            err, STORE_E_RAFT_INTERNAL,
            rc == RAFT_ENOLEADER ? "etcdserver: no leader" : "etcdserver: proposal dropped", 0);
    }
    return 0;
}

void raft_node_get_info(raft_node_t *n, raft_node_info_t *out)
{
    memset(out, 0, sizeof(*out));
    out->applied = n->applied;
    if (n->raft == NULL)
        return;
    struct raft_status st;
    raft_get_status(n->raft, &st);
    out->commit = st.hs.commit;
    out->term = st.hs.term;
    out->leader = st.ss.lead;
    out->is_leader = st.ss.state == RAFT_LEADER;
}

void raft_node_stop(raft_node_t *n)
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
    fail_all_waiters(n, "etcdserver: server stopped");
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
}

void raft_node_free(raft_node_t *n)
{
    if (n == NULL)
        return;
    raft_node_stop(n);
    if (n->rd_out)
        raft_ready_free(&n->rd);
    raft_free(n->raft);
    if (n->wal != NULL)
        wal_close(n->wal);
    if (n->mem != NULL)
        raft_storage_mem_free(n->mem);
    free(n->waiters);
    free(n->wal_dir);
    free(n->snap_dir);
    free(n);
}
