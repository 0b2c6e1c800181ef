/* raft/node.c - the public driving interface: requests from the
 * application, and the Ready / advance handshake. */
#include "raft/raft_int.h"

static bool is_local_type(int t)
{
    return t == RAFT_MSG_HUP || t == RAFT_MSG_BEAT || t == RAFT_MSG_UNREACHABLE ||
           t == RAFT_MSG_SNAP_STATUS || t == RAFT_MSG_CHECK_QUORUM;
}

static bool is_response_type(int t)
{
    return t == RAFT_MSG_APP_RESP || t == RAFT_MSG_VOTE_RESP || t == RAFT_MSG_HEARTBEAT_RESP ||
           t == RAFT_MSG_PRE_VOTE_RESP;
}

int raft_step(struct raft *r, const struct raft_message *m)
{
    if (m->type >= RAFT_MSG_TYPE_COUNT)
        return RAFT_EINVAL;
    if (is_local_type(m->type))
        return RAFT_ESTEPLOCAL;
    if (is_response_type(m->type) && !raft_tracker_get(&r->trk, m->from) &&
        m->type != RAFT_MSG_VOTE_RESP && m->type != RAFT_MSG_PRE_VOTE_RESP)
        return RAFT_ESTEPPEERNOTFOUND;
    if (m->from == RAFT_NONE)
        return RAFT_EINVAL;
    return raft_step_internal(r, m);
}

int raft_propose(struct raft *r, const void *data, size_t len)
{
    struct raft_entry e = {.type = RAFT_ENTRY_NORMAL, .data = (void *)data, .len = len};
    struct raft_message m = {.type = RAFT_MSG_PROP, .from = r->id, .entries = &e, .n_entries = 1};
    return raft_step_internal(r, &m);
}

int raft_propose_conf_change(struct raft *r, const struct raft_conf_change *cc)
{
    struct raft_buf b = {0};
    int rc = raft_encode_conf_change(&b, cc);
    if (rc)
        return rc;
    struct raft_entry e = {.type = RAFT_ENTRY_CONF_CHANGE, .data = b.data, .len = b.len};
    struct raft_message m = {.type = RAFT_MSG_PROP, .from = r->id, .entries = &e, .n_entries = 1};
    rc = raft_step_internal(r, &m);
    raft_buf_free(&b);
    return rc;
}

int raft_campaign(struct raft *r)
{
    struct raft_message m = {.type = RAFT_MSG_HUP, .from = r->id};
    return raft_step_internal(r, &m);
}

int raft_read_index(struct raft *r, const void *ctx, size_t len)
{
    if (len == 0)
        return RAFT_EINVAL;
    struct raft_message m = {
        .type = RAFT_MSG_READ_INDEX, .from = r->id, .context = (void *)ctx, .context_len = len};
    return raft_step_internal(r, &m);
}

int raft_transfer_leader(struct raft *r, uint64_t transferee)
{
    if (transferee == RAFT_NONE)
        return RAFT_EINVAL;
    struct raft_message m = {.type = RAFT_MSG_TRANSFER_LEADER, .from = transferee};
    return raft_step_internal(r, &m);
}

int raft_report_unreachable(struct raft *r, uint64_t id)
{
    struct raft_message m = {.type = RAFT_MSG_UNREACHABLE, .from = id};
    return raft_step_internal(r, &m);
}

int raft_report_snapshot(struct raft *r, uint64_t id, bool failed)
{
    struct raft_message m = {.type = RAFT_MSG_SNAP_STATUS, .from = id, .reject = failed};
    return raft_step_internal(r, &m);
}

static struct raft_hard_state cur_hs(const struct raft *r)
{
    return (struct raft_hard_state){r->term, r->vote, r->log.committed};
}

bool raft_has_ready(const struct raft *r)
{
    struct raft *rw = (struct raft *)r;
    struct raft_hard_state hs = cur_hs(r);
    if (r->lead != r->prev_ss.lead || r->state != r->prev_ss.state)
        return true;
    if (memcmp(&hs, &r->prev_hs, sizeof(hs)) != 0)
        return true;
    if (r->log.has_usnap || r->log.n_ents || r->n_msgs || r->n_read_states)
        return true;
    return raft_log_has_next_ents(&rw->log);
}

void raft_ready_free(struct raft_ready *rd)
{
    raft_entries_free(rd->entries, rd->n_entries);
    raft_entries_free(rd->committed, rd->n_committed);
    raft_snapshot_free(&rd->snapshot);
    for (size_t i = 0; i < rd->n_messages; i++)
        raft_message_free(&rd->messages[i]);
    free(rd->messages);
    for (size_t i = 0; i < rd->n_read_states; i++)
        free(rd->read_states[i].context);
    free(rd->read_states);
    memset(rd, 0, sizeof(*rd));
}

int raft_ready(struct raft *r, struct raft_ready *rd)
{
    memset(rd, 0, sizeof(*rd));
    if (r->ready_outstanding)
        return RAFT_EINVAL;
    int rc = raft_entries_copy(&rd->entries, r->log.ents, r->log.n_ents);
    if (rc)
        return rc;
    rd->n_entries = r->log.n_ents;
    rc = raft_log_next_ents(&r->log, &rd->committed, &rd->n_committed);
    if (rc == 0 && r->log.has_usnap) {
        rc = raft_snapshot_copy(&rd->snapshot, &r->log.usnap);
        rd->has_snapshot = rc == 0;
    }
    if (rc) {
        raft_ready_free(rd);
        return rc;
    }
    struct raft_hard_state hs = cur_hs(r);
    if (memcmp(&hs, &r->prev_hs, sizeof(hs)) != 0) {
        rd->has_hard_state = true;
        rd->hard_state = hs;
    }
    struct raft_soft_state ss = {r->lead, r->state};
    if (ss.lead != r->prev_ss.lead || ss.state != r->prev_ss.state) {
        rd->has_soft_state = true;
        rd->soft_state = ss;
    }
    rd->must_sync = rd->n_entries > 0 || hs.term != r->prev_hs.term || hs.vote != r->prev_hs.vote;
    /* Messages and read states change hands: the Ready owns them now. */
    rd->messages = r->msgs;
    rd->n_messages = r->n_msgs;
    r->msgs = NULL;
    r->n_msgs = r->cap_msgs = 0;
    rd->read_states = r->read_states;
    rd->n_read_states = r->n_read_states;
    r->read_states = NULL;
    r->n_read_states = r->cap_read_states = 0;

    r->prev_hs = hs;
    r->prev_ss = ss;
    r->rd_last_index = rd->n_entries ? rd->entries[rd->n_entries - 1].index : 0;
    r->rd_last_term = rd->n_entries ? rd->entries[rd->n_entries - 1].term : 0;
    r->rd_snap_index = rd->has_snapshot ? rd->snapshot.meta.index : 0;
    r->rd_applied = rd->n_committed ? rd->committed[rd->n_committed - 1].index : 0;
    r->ready_outstanding = true;
    return 0;
}

static int maybe_auto_leave(struct raft *r)
{
    /* Thesis 4.3: once C_old,new is applied the leader proposes C_new. */
    if (r->state != RAFT_LEADER || !raft_tracker_is_joint(&r->trk) || !r->trk.conf.auto_leave ||
        r->pending_conf_index > r->log.applied)
        return 0;
    struct raft_conf_change leave = {0};
    int rc = raft_propose_conf_change(r, &leave);
    return rc == RAFT_EPROPOSALDROPPED ? 0 : rc;
}

int raft_advance(struct raft *r, struct raft_ready *rd)
{
    if (!r->ready_outstanding)
        return RAFT_ENOTREADY;
    r->ready_outstanding = false;
    if (r->rd_snap_index) {
        raft_log_stable_snap_to(&r->log, r->rd_snap_index);
        if (r->rd_snap_index > r->log.applied && r->rd_snap_index <= r->log.committed)
            r->log.applied = r->rd_snap_index;
    }
    if (r->rd_applied > r->log.applied)
        raft_log_applied_to(&r->log, r->rd_applied);
    if (r->rd_last_index)
        raft_log_stable_to(&r->log, r->rd_last_index, r->rd_last_term);
    raft_ready_free(rd);
    int rc = 0;
    if (r->state == RAFT_LEADER) {
        /* The leader's own entries count toward commitment once durable. */
        struct raft_progress *self = raft_tracker_get(&r->trk, r->id);
        if (self && raft_progress_maybe_update(self, raft_log_persisted_last(&r->log)) &&
            raft_maybe_commit(r))
            rc = raft_leader_after_commit(r);
        if (rc == 0)
            rc = maybe_auto_leave(r);
    }
    return rc;
}

void raft_get_status(const struct raft *r, struct raft_status *st)
{
    struct raft *rw = (struct raft *)r;
    st->id = r->id;
    st->hs = cur_hs(r);
    st->ss = (struct raft_soft_state){r->lead, r->state};
    st->applied = r->log.applied;
    st->last_index = raft_log_last_index(&rw->log);
    st->first_index = raft_log_first_index(&rw->log);
    st->lead_transferee = r->lead_transferee;
    st->is_learner = r->is_learner;
    st->is_member = raft_tracker_get(&rw->trk, r->id) != NULL;
}

uint64_t raft_log_term_at(struct raft *r, uint64_t i)
{
    return raft_log_term_or_zero(&r->log, i);
}
