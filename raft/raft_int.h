/* raft/raft_int.h - internals shared by the files of raft/. Not public. */
#ifndef METCD_RAFT_INT_H
#define METCD_RAFT_INT_H

#include "raft/raft.h"

#include <stdlib.h>
#include <string.h>

/* ---- small helpers (util.c) ---- */
int raft_entry_copy(struct raft_entry *dst, const struct raft_entry *src);
/* Deep-copies n entries into a new array (*out owned by caller). */
int raft_entries_copy(struct raft_entry **out, const struct raft_entry *src, size_t n);
int raft_snapshot_copy(struct raft_snapshot *dst, const struct raft_snapshot *src);
void *raft_memdup(const void *p, size_t len);
bool raft_ids_contains(const uint64_t *ids, size_t n, uint64_t id);

/* ---- the log (log.c): stable part in storage, unstable tail in memory ---- */
struct raft_log {
    struct raft_storage *storage;
    bool has_usnap;             /* snapshot received, not yet persisted */
    struct raft_snapshot usnap; /* owned */
    struct raft_entry *ents;    /* unstable entries, owned, ents[i].index = offset + i */
    size_t n_ents, cap_ents;
    uint64_t offset;
    uint64_t committed; /* highest index known committed */
    uint64_t applied;   /* highest index the caller applied */
};

int raft_log_init(struct raft_log *l, struct raft_storage *s);
void raft_log_close(struct raft_log *l);
uint64_t raft_log_first_index(struct raft_log *l);
uint64_t raft_log_last_index(struct raft_log *l);
/* Last index known durable (0 if a snapshot is still unstable). */
uint64_t raft_log_persisted_last(struct raft_log *l);
/* Term of entry i; 0 with rc 0 if i is outside [first-1, last]. */
int raft_log_term(struct raft_log *l, uint64_t i, uint64_t *term);
uint64_t raft_log_term_or_zero(struct raft_log *l, uint64_t i);
uint64_t raft_log_last_term(struct raft_log *l);
bool raft_log_match_term(struct raft_log *l, uint64_t i, uint64_t term);
bool raft_log_is_up_to_date(struct raft_log *l, uint64_t lasti, uint64_t term);
/* Paper 5.3 AppendEntries receiver rules 2-5. Returns 1 and *lastnew on
 * success, 0 when the previous entry does not match, <0 on error. */
int raft_log_maybe_append(struct raft_log *l, uint64_t index, uint64_t log_term, uint64_t commit,
                          const struct raft_entry *ents, size_t n, uint64_t *lastnew);
int raft_log_append(struct raft_log *l, const struct raft_entry *ents, size_t n);
/* Entries [lo, hi) limited to max_bytes (at least one). *out owned by caller. */
int raft_log_slice(struct raft_log *l, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                   struct raft_entry **out, size_t *n);
bool raft_log_maybe_commit(struct raft_log *l, uint64_t max_index, uint64_t term);
void raft_log_commit_to(struct raft_log *l, uint64_t tocommit);
void raft_log_applied_to(struct raft_log *l, uint64_t i);
void raft_log_stable_to(struct raft_log *l, uint64_t i, uint64_t t);
void raft_log_stable_snap_to(struct raft_log *l, uint64_t i);
int raft_log_restore(struct raft_log *l, const struct raft_snapshot *s);
bool raft_log_has_next_ents(struct raft_log *l);
int raft_log_next_ents(struct raft_log *l, struct raft_entry **out, size_t *n);
/* Paper 5.3 optimisation: last index <= `index` whose term is <= `term`. */
uint64_t raft_log_find_conflict_by_term(struct raft_log *l, uint64_t index, uint64_t term,
                                        uint64_t *found_term);

/* ---- progress of one peer, seen from the leader (progress.c) ---- */
enum raft_progress_state {
    RAFT_PROGRESS_PROBE = 0,     /* one APP per heartbeat until a match is found */
    RAFT_PROGRESS_REPLICATE = 1, /* pipelined APPs within the in-flight window */
    RAFT_PROGRESS_SNAPSHOT = 2,  /* waiting for a snapshot transfer */
};

struct raft_inflights {
    uint64_t *buf; /* ring of last indexes of in-flight APPs */
    size_t start, count, size;
};

struct raft_progress {
    uint64_t id;
    uint64_t match, next;
    enum raft_progress_state state;
    bool probe_sent;
    uint64_t pending_snapshot;
    bool recent_active;
    bool is_learner;
    struct raft_inflights ins;
};

void raft_progress_reset(struct raft_progress *pr, uint64_t next);
void raft_progress_become_probe(struct raft_progress *pr);
void raft_progress_become_replicate(struct raft_progress *pr);
void raft_progress_become_snapshot(struct raft_progress *pr, uint64_t snapi);
bool raft_progress_maybe_update(struct raft_progress *pr, uint64_t n);
void raft_progress_optimistic_update(struct raft_progress *pr, uint64_t n);
bool raft_progress_maybe_decr_to(struct raft_progress *pr, uint64_t rejected, uint64_t match_hint);
bool raft_progress_is_paused(const struct raft_progress *pr);
void raft_inflights_add(struct raft_inflights *in, uint64_t idx);
void raft_inflights_free_le(struct raft_inflights *in, uint64_t to);
void raft_inflights_free_first(struct raft_inflights *in);
bool raft_inflights_full(const struct raft_inflights *in);

/* ---- configuration, progress set and quorums (tracker.c) ---- */
enum raft_vote_result { RAFT_VOTE_PENDING, RAFT_VOTE_LOST, RAFT_VOTE_WON };

struct raft_vote {
    uint64_t id;
    bool granted;
};

struct raft_tracker {
    struct raft_conf_state conf; /* owned */
    struct raft_progress *prs;   /* every voter (both halves) and learner */
    size_t n_prs;
    size_t max_inflight;
    struct raft_vote *votes;
    size_t n_votes;
};

int raft_tracker_init(struct raft_tracker *t, size_t max_inflight);
void raft_tracker_close(struct raft_tracker *t);
struct raft_progress *raft_tracker_get(struct raft_tracker *t, uint64_t id);
/* Installs configuration `cs` (copied): progress kept for surviving ids,
 * created (next = next_index) for new ones, dropped for the others. */
int raft_tracker_set_conf(struct raft_tracker *t, const struct raft_conf_state *cs,
                          uint64_t next_index);
bool raft_tracker_is_voter(const struct raft_tracker *t, uint64_t id);
bool raft_tracker_is_joint(const struct raft_tracker *t);
uint64_t raft_tracker_committed(const struct raft_tracker *t);
void raft_tracker_reset_votes(struct raft_tracker *t);
int raft_tracker_record_vote(struct raft_tracker *t, uint64_t id, bool granted);
enum raft_vote_result raft_tracker_tally(const struct raft_tracker *t);
/* The same votes counted against another configuration. */
enum raft_vote_result raft_tracker_tally_conf(const struct raft_tracker *t,
                                              const struct raft_conf_state *c);
bool raft_tracker_quorum_active(const struct raft_tracker *t, uint64_t self);
/* Result of a vote where `acks` (n ids) granted and nobody refused. */
enum raft_vote_result raft_tracker_acks(const struct raft_tracker *t, const uint64_t *acks,
                                        size_t n);

/* ---- ReadIndex bookkeeping (read_only.c), thesis 6.4 ---- */
struct raft_read_request {
    uint64_t index; /* commit index when the request arrived */
    uint64_t from;  /* RAFT_NONE or self for local requests */
    void *ctx;      /* owned */
    size_t ctx_len;
    uint64_t *acks; /* owned */
    size_t n_acks;
};

struct raft_read_only {
    struct raft_read_request *reqs; /* FIFO */
    size_t n, cap;
};

void raft_read_only_close(struct raft_read_only *ro);
int raft_read_only_add(struct raft_read_only *ro, uint64_t index, uint64_t from, const void *ctx,
                       size_t ctx_len, uint64_t self);
/* Records an ack for ctx; returns the request or NULL. */
struct raft_read_request *raft_read_only_ack(struct raft_read_only *ro, uint64_t from,
                                             const void *ctx, size_t ctx_len);
/* Removes and returns (count in *n) every request up to the one with ctx;
 * the array is owned by the caller, which frees each with
 * raft_read_request_free and then the array. */
int raft_read_only_advance(struct raft_read_only *ro, const void *ctx, size_t ctx_len,
                           struct raft_read_request **out, size_t *n);
void raft_read_request_free(struct raft_read_request *rq);

/* ---- the node ---- */
struct raft {
    uint64_t id;
    uint64_t term;
    uint64_t vote;
    uint64_t lead;
    enum raft_state state;
    struct raft_log log;
    struct raft_tracker trk;
    bool is_learner;

    uint64_t max_msg_size;
    int election_elapsed;
    int heartbeat_elapsed;
    int election_timeout;
    int heartbeat_timeout;
    int randomized_election_timeout;
    bool check_quorum;
    bool pre_vote;
    bool disable_proposal_forwarding;
    uint64_t rng;

    uint64_t lead_transferee;
    uint64_t pending_conf_index;
    /* During an election: the configuration the log leads to, when it
     * differs from the applied one (election.c). */
    bool has_campaign_conf;
    struct raft_conf_state campaign_conf;

    struct raft_read_only ro;
    /* ReadIndex requests waiting for a commit in the leader's term. */
    struct raft_message *pending_reads;
    size_t n_pending_reads, cap_pending_reads;

    struct raft_message *msgs; /* outbox, owned */
    size_t n_msgs, cap_msgs;
    struct raft_read_state *read_states; /* owned */
    size_t n_read_states, cap_read_states;

    /* Ready bookkeeping (node.c). */
    struct raft_soft_state prev_ss;
    struct raft_hard_state prev_hs;
    bool ready_outstanding;
    uint64_t rd_last_index, rd_last_term, rd_snap_index, rd_applied;
};

/* raft.c */
void raft_become_follower(struct raft *r, uint64_t term, uint64_t lead);
void raft_become_candidate(struct raft *r);
void raft_become_pre_candidate(struct raft *r);
int raft_become_leader(struct raft *r);
int raft_step_internal(struct raft *r, const struct raft_message *m);
/* Queues m (takes ownership of what it points to on success and failure). */
int raft_send(struct raft *r, struct raft_message *m);
bool raft_promotable(const struct raft *r);
int raft_append_entries_leader(struct raft *r, struct raft_entry *ents, size_t n);
void raft_abort_leader_transfer(struct raft *r);
int raft_add_read_state(struct raft *r, uint64_t index, const void *ctx, size_t len);

/* election.c */
int raft_hup(struct raft *r, bool transfer);
int raft_step_vote_request(struct raft *r, const struct raft_message *m);
int raft_handle_vote_response(struct raft *r, const struct raft_message *m);
void raft_learn_commit_hint(struct raft *r, const struct raft_message *m);
int raft_send_timeout_now(struct raft *r, uint64_t to);
void raft_reset_randomized_timeout(struct raft *r);

/* replication.c */
bool raft_maybe_send_append(struct raft *r, uint64_t to, bool send_if_empty);
void raft_send_append(struct raft *r, uint64_t to);
void raft_bcast_append(struct raft *r);
void raft_bcast_heartbeat(struct raft *r, const void *ctx, size_t ctx_len);
bool raft_maybe_commit(struct raft *r);
int raft_handle_append(struct raft *r, const struct raft_message *m);
int raft_handle_heartbeat(struct raft *r, const struct raft_message *m);
int raft_handle_snapshot(struct raft *r, const struct raft_message *m);
int raft_handle_append_response(struct raft *r, const struct raft_message *m);
int raft_handle_heartbeat_response(struct raft *r, const struct raft_message *m);
int raft_handle_read_index(struct raft *r, const struct raft_message *m);
int raft_release_pending_reads(struct raft *r);
int raft_leader_after_commit(struct raft *r);

/* confchange.c */
int raft_conf_apply(const struct raft_conf_state *cur, const struct raft_conf_change *cc,
                    struct raft_conf_state *out);
int raft_switch_to_conf(struct raft *r, const struct raft_conf_state *cs);

#endif
