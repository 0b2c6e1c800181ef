/* raft/raft.c - node state transitions (paper 5.1, figure 4), the term
 * rules applied to every message (figure 2, "all servers"), and the
 * dispatch of messages to the role that handles them. */
#include "raft/raft_int.h"

bool raft_promotable(const struct raft *r)
{
    /* Only a voter of the current configuration may campaign, and not
     * while a snapshot it received is still unpersisted. */
    return raft_tracker_is_voter(&r->trk, r->id) && !r->log.has_usnap;
}

int raft_send(struct raft *r, struct raft_message *m)
{
    m->from = r->id;
    if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_VOTE_RESP || m->type == RAFT_MSG_PRE_VOTE ||
        m->type == RAFT_MSG_PRE_VOTE_RESP) {
        /* The term is set by the caller (a pre-vote carries the term the
         * candidate would use, thesis 9.6). */
    } else if (m->type == RAFT_MSG_PROP || m->type == RAFT_MSG_READ_INDEX) {
        /* Forwarded requests travel without a term, like local ones. */
        m->term = 0;
    } else {
        m->term = r->term;
    }
    if (r->n_msgs == r->cap_msgs) {
        size_t cap = r->cap_msgs ? r->cap_msgs * 2 : 16;
        struct raft_message *a = realloc(r->msgs, cap * sizeof(*a));
        if (!a) {
            /* Dropping a message is always safe in Raft. */
            raft_message_free(m);
            return RAFT_ENOMEM;
        }
        r->msgs = a;
        r->cap_msgs = cap;
    }
    r->msgs[r->n_msgs++] = *m;
    return 0;
}

int raft_add_read_state(struct raft *r, uint64_t index, const void *ctx, size_t len)
{
    if (r->n_read_states == r->cap_read_states) {
        size_t cap = r->cap_read_states ? r->cap_read_states * 2 : 4;
        struct raft_read_state *a = realloc(r->read_states, cap * sizeof(*a));
        if (!a)
            return RAFT_ENOMEM;
        r->read_states = a;
        r->cap_read_states = cap;
    }
    void *c = raft_memdup(ctx, len);
    if (len && !c)
        return RAFT_ENOMEM;
    r->read_states[r->n_read_states++] = (struct raft_read_state){index, c, len};
    return 0;
}

void raft_abort_leader_transfer(struct raft *r)
{
    r->lead_transferee = RAFT_NONE;
}

static void free_pending_reads(struct raft *r)
{
    for (size_t i = 0; i < r->n_pending_reads; i++)
        raft_message_free(&r->pending_reads[i]);
    r->n_pending_reads = 0;
}

static void reset(struct raft *r, uint64_t term)
{
    if (r->term != term) {
        r->term = term;
        r->vote = RAFT_NONE;
    }
    r->lead = RAFT_NONE;
    r->election_elapsed = 0;
    r->heartbeat_elapsed = 0;
    raft_reset_randomized_timeout(r);
    raft_abort_leader_transfer(r);
    raft_tracker_reset_votes(&r->trk);
    uint64_t last = raft_log_last_index(&r->log);
    for (size_t i = 0; i < r->trk.n_prs; i++) {
        struct raft_progress *pr = &r->trk.prs[i];
        raft_progress_reset(pr, last + 1);
        pr->recent_active = false;
        if (pr->id == r->id) {
            /* The leader counts only what it has persisted itself. */
            pr->match = raft_log_persisted_last(&r->log);
            pr->recent_active = true;
        }
    }
    r->pending_conf_index = 0;
    raft_read_only_close(&r->ro);
    free_pending_reads(r);
}

void raft_become_follower(struct raft *r, uint64_t term, uint64_t lead)
{
    reset(r, term);
    r->lead = lead;
    r->state = RAFT_FOLLOWER;
}

void raft_become_candidate(struct raft *r)
{
    /* Paper 5.2: increment the term and vote for self. */
    reset(r, r->term + 1);
    r->vote = r->id;
    r->state = RAFT_CANDIDATE;
}

void raft_become_pre_candidate(struct raft *r)
{
    /* Thesis 9.6: a pre-candidate changes neither its term nor its vote. */
    raft_tracker_reset_votes(&r->trk);
    r->lead = RAFT_NONE;
    r->state = RAFT_PRE_CANDIDATE;
}

int raft_become_leader(struct raft *r)
{
    reset(r, r->term);
    r->lead = r->id;
    r->state = RAFT_LEADER;
    struct raft_progress *self = raft_tracker_get(&r->trk, r->id);
    if (self) {
        raft_progress_become_replicate(self);
        self->next = raft_log_last_index(&r->log) + 1;
    }
    /* Conservatively treat the whole log as possibly holding a
     * configuration change not applied yet. */
    r->pending_conf_index = raft_log_last_index(&r->log);
    /* Paper 8 / thesis 6.4: a new leader commits a blank entry of its term
     * to learn what is committed (and to serve ReadIndex). */
    struct raft_entry e = {.type = RAFT_ENTRY_NORMAL};
    return raft_append_entries_leader(r, &e, 1);
}

int raft_append_entries_leader(struct raft *r, struct raft_entry *ents, size_t n)
{
    uint64_t li = raft_log_last_index(&r->log);
    for (size_t i = 0; i < n; i++) {
        ents[i].term = r->term;
        ents[i].index = li + 1 + i;
    }
    int rc = raft_log_append(&r->log, ents, n);
    if (rc)
        return rc;
    /* The leader's own progress advances when the entries are persisted
     * (raft_advance), so its vote for commitment is always durable
     * (thesis 10.2.1 lets it write in parallel with the followers). */
    return 0;
}

static int step_leader(struct raft *r, const struct raft_message *m);
static int step_candidate(struct raft *r, const struct raft_message *m);
static int step_follower(struct raft *r, const struct raft_message *m);

static bool is_transfer_campaign(const struct raft_message *m)
{
    return m->context_len == 8 && memcmp(m->context, "transfer", 8) == 0;
}

int raft_step_internal(struct raft *r, const struct raft_message *m)
{
    if (m->term == 0) {
        /* local message */
    } else if (m->term > r->term) {
        if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE) {
            /* Thesis 4.2.3 / 6.2: within the lease of a leader it heard
             * from, a node ignores vote requests, so that a removed or
             * partitioned node cannot depose a healthy leader. A transfer
             * (thesis 3.10) is deliberate and bypasses the lease. */
            bool in_lease = r->check_quorum && r->lead != RAFT_NONE &&
                            r->election_elapsed < r->election_timeout;
            if (!is_transfer_campaign(m) && in_lease)
                return 0;
        }
        if (m->type == RAFT_MSG_PRE_VOTE) {
            /* Never change term for a pre-vote request. */
        } else if (m->type == RAFT_MSG_PRE_VOTE_RESP && !m->reject) {
            /* A granted pre-vote carries the future term; the term
             * changes only if the pre-election is won. */
        } else if (m->type == RAFT_MSG_APP || m->type == RAFT_MSG_HEARTBEAT ||
                   m->type == RAFT_MSG_SNAP) {
            raft_become_follower(r, m->term, m->from);
        } else {
            /* Figure 2: on a higher term, adopt it and become follower. */
            raft_become_follower(r, m->term, RAFT_NONE);
        }
    } else if (m->term < r->term) {
        if ((r->check_quorum || r->pre_vote) &&
            (m->type == RAFT_MSG_HEARTBEAT || m->type == RAFT_MSG_APP)) {
            /* A stale leader (e.g. one partitioned away while we moved on
             * via pre-vote) would otherwise never learn the newer term,
             * since our vote requests do not reach it through the lease. */
            struct raft_message resp = {.type = RAFT_MSG_APP_RESP, .to = m->from};
            return raft_send(r, &resp);
        } else if (m->type == RAFT_MSG_PRE_VOTE) {
            struct raft_message resp = {
                .type = RAFT_MSG_PRE_VOTE_RESP, .to = m->from, .term = r->term, .reject = true};
            resp.commit = r->log.committed;
            resp.log_term = raft_log_term_or_zero(&r->log, r->log.committed);
            return raft_send(r, &resp);
        } else if ((m->type == RAFT_MSG_VOTE_RESP || m->type == RAFT_MSG_PRE_VOTE_RESP) &&
                   r->state != RAFT_LEADER) {
            /* A stale refusal still tells what the voter knows committed. */
            raft_learn_commit_hint(r, m);
        }
        return 0; /* ignore other stale messages */
    }

    if ((m->type == RAFT_MSG_VOTE_RESP || m->type == RAFT_MSG_PRE_VOTE_RESP) &&
        r->state != RAFT_LEADER)
        raft_learn_commit_hint(r, m);
    switch (m->type) {
    case RAFT_MSG_HUP:
        return raft_hup(r, false);
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PRE_VOTE:
        return raft_step_vote_request(r, m);
    default:
        break;
    }
    switch (r->state) {
    case RAFT_LEADER:
        return step_leader(r, m);
    case RAFT_CANDIDATE:
    case RAFT_PRE_CANDIDATE:
        return step_candidate(r, m);
    case RAFT_FOLLOWER:
        return step_follower(r, m);
    }
    return 0;
}

static int propose_leader(struct raft *r, const struct raft_message *m)
{
    if (m->n_entries == 0)
        return RAFT_EINVAL;
    if (!raft_tracker_get(&r->trk, r->id))
        return RAFT_EPROPOSALDROPPED; /* removed from the configuration */
    if (r->lead_transferee != RAFT_NONE)
        return RAFT_EPROPOSALDROPPED; /* thesis 3.10: stop accepting */
    struct raft_entry *ents;
    int rc = raft_entries_copy(&ents, m->entries, m->n_entries);
    if (rc)
        return rc;
    uint64_t li = raft_log_last_index(&r->log);
    for (size_t i = 0; i < m->n_entries; i++) {
        if (ents[i].type != RAFT_ENTRY_CONF_CHANGE)
            continue;
        struct raft_conf_change cc;
        bool ok = raft_decode_conf_change(ents[i].data, ents[i].len, &cc) == 0;
        bool joint = raft_tracker_is_joint(&r->trk);
        bool leave = ok && cc.n_changes == 0;
        if (ok)
            raft_conf_change_free(&cc);
        /* Thesis 4.1: one change at a time. A change is refused while an
         * earlier one is not applied, a joint configuration accepts only
         * the change that leaves it, and only it may be empty. The entry
         * stays (as an empty normal entry) so the proposer's index is used. */
        if (!ok || r->pending_conf_index > r->log.applied || joint != leave) {
            free(ents[i].data);
            ents[i].data = NULL;
            ents[i].len = 0;
            ents[i].type = RAFT_ENTRY_NORMAL;
        } else {
            r->pending_conf_index = li + 1 + i;
        }
    }
    rc = raft_append_entries_leader(r, ents, m->n_entries);
    raft_entries_free(ents, m->n_entries);
    if (rc)
        return rc;
    raft_bcast_append(r);
    return 0;
}

static int transfer_leader(struct raft *r, const struct raft_message *m)
{
    uint64_t target = m->from;
    struct raft_progress *pr = raft_tracker_get(&r->trk, target);
    if (!pr || pr->is_learner)
        return 0;
    if (r->lead_transferee != RAFT_NONE) {
        if (r->lead_transferee == target)
            return 0;
        raft_abort_leader_transfer(r);
    }
    if (target == r->id)
        return 0;
    /* Thesis 3.10: the transfer must finish within an election timeout. */
    r->election_elapsed = 0;
    r->lead_transferee = target;
    if (pr->match == raft_log_last_index(&r->log))
        return raft_send_timeout_now(r, target);
    raft_send_append(r, target);
    return 0;
}

static int step_leader(struct raft *r, const struct raft_message *m)
{
    switch (m->type) {
    case RAFT_MSG_BEAT:
        raft_bcast_heartbeat(r, NULL, 0);
        return 0;
    case RAFT_MSG_CHECK_QUORUM:
        /* Thesis 6.2: without a quorum heard within an election timeout,
         * step down so that clients can find the real leader. */
        if (!raft_tracker_quorum_active(&r->trk, r->id))
            raft_become_follower(r, r->term, RAFT_NONE);
        for (size_t i = 0; i < r->trk.n_prs; i++)
            if (r->trk.prs[i].id != r->id)
                r->trk.prs[i].recent_active = false;
        return 0;
    case RAFT_MSG_PROP:
        return propose_leader(r, m);
    case RAFT_MSG_READ_INDEX:
        return raft_handle_read_index(r, m);
    default:
        break;
    }
    struct raft_progress *pr = raft_tracker_get(&r->trk, m->from);
    if (!pr)
        return 0;
    switch (m->type) {
    case RAFT_MSG_APP_RESP:
        return raft_handle_append_response(r, m);
    case RAFT_MSG_HEARTBEAT_RESP:
        return raft_handle_heartbeat_response(r, m);
    case RAFT_MSG_SNAP_STATUS:
        if (pr->state != RAFT_PROGRESS_SNAPSHOT)
            return 0;
        if (m->reject)
            pr->pending_snapshot = 0; /* retry from scratch */
        raft_progress_become_probe(pr);
        /* Wait for a heartbeat response before probing again. */
        pr->probe_sent = true;
        return 0;
    case RAFT_MSG_UNREACHABLE:
        if (pr->state == RAFT_PROGRESS_REPLICATE)
            raft_progress_become_probe(pr);
        return 0;
    case RAFT_MSG_TRANSFER_LEADER:
        return transfer_leader(r, m);
    default:
        return 0;
    }
}

static int step_candidate(struct raft *r, const struct raft_message *m)
{
    switch (m->type) {
    case RAFT_MSG_PROP:
        return RAFT_ENOLEADER;
    case RAFT_MSG_APP:
        raft_become_follower(r, m->term, m->from);
        return raft_handle_append(r, m);
    case RAFT_MSG_HEARTBEAT:
        raft_become_follower(r, m->term, m->from);
        return raft_handle_heartbeat(r, m);
    case RAFT_MSG_SNAP:
        raft_become_follower(r, m->term, m->from);
        return raft_handle_snapshot(r, m);
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PRE_VOTE_RESP:
        return raft_handle_vote_response(r, m);
    case RAFT_MSG_READ_INDEX:
        return RAFT_ENOLEADER;
    default:
        return 0;
    }
}

static int forward(struct raft *r, const struct raft_message *m)
{
    struct raft_message f = {.type = m->type, .to = r->lead, .index = m->index};
    if (raft_entries_copy(&f.entries, m->entries, m->n_entries))
        return RAFT_ENOMEM;
    f.n_entries = m->n_entries;
    if (m->context_len) {
        f.context = raft_memdup(m->context, m->context_len);
        if (!f.context) {
            raft_message_free(&f);
            return RAFT_ENOMEM;
        }
        f.context_len = m->context_len;
    }
    int rc = raft_send(r, &f);
    if (rc == 0 && m->from != r->id && m->from != RAFT_NONE)
        r->msgs[r->n_msgs - 1].from = m->from; /* keep the origin */
    return rc;
}

static int step_follower(struct raft *r, const struct raft_message *m)
{
    switch (m->type) {
    case RAFT_MSG_PROP:
        if (r->lead == RAFT_NONE)
            return RAFT_ENOLEADER;
        if (r->disable_proposal_forwarding)
            return RAFT_EPROPOSALDROPPED;
        return forward(r, m);
    case RAFT_MSG_APP:
        r->election_elapsed = 0;
        r->lead = m->from;
        return raft_handle_append(r, m);
    case RAFT_MSG_HEARTBEAT:
        r->election_elapsed = 0;
        r->lead = m->from;
        return raft_handle_heartbeat(r, m);
    case RAFT_MSG_SNAP:
        r->election_elapsed = 0;
        r->lead = m->from;
        return raft_handle_snapshot(r, m);
    case RAFT_MSG_TRANSFER_LEADER:
        if (r->lead == RAFT_NONE)
            return RAFT_ENOLEADER;
        return forward(r, m);
    case RAFT_MSG_TIMEOUT_NOW:
        /* Thesis 3.10: campaign at once, skipping pre-vote, even inside
         * the lease of the current leader. */
        return raft_hup(r, true);
    case RAFT_MSG_READ_INDEX:
        if (r->lead == RAFT_NONE)
            return RAFT_ENOLEADER;
        return forward(r, m);
    case RAFT_MSG_READ_INDEX_RESP:
        return raft_add_read_state(r, m->index, m->context, m->context_len);
    default:
        return 0;
    }
}

/* ---- construction and ticks ---- */

int raft_new(const struct raft_config *cfg, struct raft **out)
{
    *out = NULL;
    if (cfg->id == RAFT_NONE || cfg->heartbeat_tick <= 0 ||
        cfg->election_tick <= cfg->heartbeat_tick || !cfg->storage)
        return RAFT_EINVAL;
    struct raft *r = calloc(1, sizeof(*r));
    if (!r)
        return RAFT_ENOMEM;
    r->id = cfg->id;
    r->max_msg_size = cfg->max_size_per_msg;
    r->election_timeout = cfg->election_tick;
    r->heartbeat_timeout = cfg->heartbeat_tick;
    r->check_quorum = cfg->check_quorum;
    r->pre_vote = cfg->pre_vote;
    r->disable_proposal_forwarding = cfg->disable_proposal_forwarding;
    r->rng = cfg->seed ^ (cfg->id * 0x9E3779B97F4A7C15ull) ^ 0x5DEECE66Dull;
    int rc = raft_log_init(&r->log, cfg->storage);
    if (rc) {
        free(r);
        return rc;
    }
    raft_tracker_init(&r->trk, cfg->max_inflight_msgs);
    struct raft_hard_state hs;
    struct raft_conf_state cs;
    rc = cfg->storage->initial_state(cfg->storage->ctx, &hs, &cs);
    if (rc)
        goto fail;
    rc = raft_tracker_set_conf(&r->trk, &cs, raft_log_last_index(&r->log) + 1);
    raft_conf_state_free(&cs);
    if (rc)
        goto fail;
    if (hs.term || hs.vote || hs.commit) {
        uint64_t first = raft_log_first_index(&r->log), last = raft_log_last_index(&r->log);
        if (hs.commit < first - 1 || hs.commit > last) {
            rc = RAFT_EINVAL; /* storage does not hold what it committed */
            goto fail;
        }
        r->log.committed = hs.commit;
        r->term = hs.term;
        r->vote = hs.vote;
    }
    if (cfg->applied > 0) {
        if (cfg->applied > r->log.committed || cfg->applied < r->log.applied) {
            rc = RAFT_EINVAL;
            goto fail;
        }
        r->log.applied = cfg->applied;
    }
    r->is_learner = raft_tracker_get(&r->trk, r->id) && !raft_tracker_is_voter(&r->trk, r->id);
    raft_become_follower(r, r->term, RAFT_NONE);
    r->prev_hs = (struct raft_hard_state){r->term, r->vote, r->log.committed};
    r->prev_ss = (struct raft_soft_state){r->lead, r->state};
    *out = r;
    return 0;
fail:
    raft_free(r);
    return rc;
}

void raft_free(struct raft *r)
{
    if (!r)
        return;
    raft_log_close(&r->log);
    raft_tracker_close(&r->trk);
    raft_conf_state_free(&r->campaign_conf);
    raft_read_only_close(&r->ro);
    free_pending_reads(r);
    free(r->pending_reads);
    for (size_t i = 0; i < r->n_msgs; i++)
        raft_message_free(&r->msgs[i]);
    free(r->msgs);
    for (size_t i = 0; i < r->n_read_states; i++)
        free(r->read_states[i].context);
    free(r->read_states);
    free(r);
}

int raft_tick(struct raft *r)
{
    struct raft_message m = {.from = r->id};
    if (r->state != RAFT_LEADER) {
        r->election_elapsed++;
        if (raft_promotable(r) && r->election_elapsed >= r->randomized_election_timeout) {
            r->election_elapsed = 0;
            m.type = RAFT_MSG_HUP;
            return raft_step_internal(r, &m);
        }
        return 0;
    }
    r->heartbeat_elapsed++;
    r->election_elapsed++;
    if (r->election_elapsed >= r->election_timeout) {
        r->election_elapsed = 0;
        if (r->check_quorum) {
            m.type = RAFT_MSG_CHECK_QUORUM;
            int rc = raft_step_internal(r, &m);
            if (rc)
                return rc;
        }
        /* Thesis 3.10: a transfer that did not finish within an election
         * timeout is abandoned and proposals resume. */
        if (r->state == RAFT_LEADER && r->lead_transferee != RAFT_NONE)
            raft_abort_leader_transfer(r);
    }
    if (r->state != RAFT_LEADER)
        return 0;
    if (r->heartbeat_elapsed >= r->heartbeat_timeout) {
        r->heartbeat_elapsed = 0;
        m.type = RAFT_MSG_BEAT;
        return raft_step_internal(r, &m);
    }
    return 0;
}
