/* raft/replication.c - log replication (paper 5.3): the leader's append
 * and heartbeat traffic, the follower's answers, commitment (5.4.2),
 * snapshots for followers behind the compaction point (paper 7), and the
 * ReadIndex heartbeat round (thesis 6.4). */
#include "raft/raft_int.h"

static int send_snapshot(struct raft *r, struct raft_progress *pr)
{
    /* Only to a follower we heard from recently: a snapshot is large. */
    if (!pr->recent_active)
        return 0;
    struct raft_message m = {.type = RAFT_MSG_SNAP, .to = pr->id};
    struct raft_storage *s = r->log.storage;
    int rc = s->snapshot(s->ctx, &m.snapshot);
    if (rc)
        return rc; /* RAFT_ESNAPTEMPUNAVAIL: try again later */
    /* A snapshot older than the log's start (raft_storage_mem_trim) would
     * leave the follower as far behind as before: wait for a newer one. */
    if (raft_snapshot_is_empty(&m.snapshot) ||
        m.snapshot.meta.index + 1 < raft_log_first_index(&r->log)) {
        raft_snapshot_free(&m.snapshot);
        return RAFT_ESNAPTEMPUNAVAIL;
    }
    raft_progress_become_snapshot(pr, m.snapshot.meta.index);
    raft_send(r, &m);
    return 1;
}

bool raft_maybe_send_append(struct raft *r, uint64_t to, bool send_if_empty)
{
    struct raft_progress *pr = raft_tracker_get(&r->trk, to);
    if (!pr || raft_progress_is_paused(pr))
        return false;
    struct raft_message m = {.type = RAFT_MSG_APP, .to = to};
    uint64_t term;
    int rc_t = raft_log_term(&r->log, pr->next - 1, &term);
    int rc_e = raft_log_slice(&r->log, pr->next, raft_log_last_index(&r->log) + 1, r->max_msg_size,
                              &m.entries, &m.n_entries);
    if (rc_e == 0 && m.n_entries == 0 && !send_if_empty)
        return false;
    if (rc_t == RAFT_ECOMPACTED || rc_e == RAFT_ECOMPACTED ||
        (rc_t == 0 && term == 0 && pr->next - 1 > 0 &&
         pr->next - 1 < raft_log_first_index(&r->log))) {
        raft_entries_free(m.entries, m.n_entries);
        return send_snapshot(r, pr) > 0;
    }
    if (rc_t || rc_e) {
        raft_entries_free(m.entries, m.n_entries);
        return false;
    }
    m.index = pr->next - 1;
    m.log_term = term;
    m.commit = r->log.committed;
    if (m.n_entries) {
        uint64_t last = m.entries[m.n_entries - 1].index;
        if (pr->state == RAFT_PROGRESS_REPLICATE) {
            /* Pipelining: assume success, bounded by the window. */
            raft_progress_optimistic_update(pr, last);
            raft_inflights_add(&pr->ins, last);
        } else if (pr->state == RAFT_PROGRESS_PROBE) {
            pr->probe_sent = true;
        }
    }
    raft_send(r, &m);
    return true;
}

void raft_send_append(struct raft *r, uint64_t to)
{
    raft_maybe_send_append(r, to, true);
}

void raft_bcast_append(struct raft *r)
{
    for (size_t i = 0; i < r->trk.n_prs; i++)
        if (r->trk.prs[i].id != r->id)
            raft_send_append(r, r->trk.prs[i].id);
}

void raft_bcast_heartbeat(struct raft *r, const void *ctx, size_t ctx_len)
{
    for (size_t i = 0; i < r->trk.n_prs; i++) {
        struct raft_progress *pr = &r->trk.prs[i];
        if (pr->id == r->id)
            continue;
        /* Never tell a follower to commit past what it is known to hold:
         * its log beyond `match` may still differ from ours. */
        uint64_t commit = pr->match < r->log.committed ? pr->match : r->log.committed;
        struct raft_message m = {.type = RAFT_MSG_HEARTBEAT, .to = pr->id, .commit = commit};
        if (ctx_len) {
            m.context = raft_memdup(ctx, ctx_len);
            if (!m.context)
                continue;
            m.context_len = ctx_len;
        }
        raft_send(r, &m);
    }
}

bool raft_maybe_commit(struct raft *r)
{
    return raft_log_maybe_commit(&r->log, raft_tracker_committed(&r->trk), r->term);
}

/* After the leader's commit index moved: tell the followers, and serve the
 * ReadIndex requests that waited for a commit in this term. */
int raft_leader_after_commit(struct raft *r)
{
    raft_bcast_append(r);
    return raft_release_pending_reads(r);
}

int raft_handle_append(struct raft *r, const struct raft_message *m)
{
    struct raft_message resp = {.type = RAFT_MSG_APP_RESP, .to = m->from};
    if (m->index < r->log.committed) {
        /* Everything up to our commit index is already settled. */
        resp.index = r->log.committed;
        return raft_send(r, &resp);
    }
    uint64_t lastnew;
    int ok = raft_log_maybe_append(&r->log, m->index, m->log_term, m->commit, m->entries,
                                   m->n_entries, &lastnew);
    if (ok < 0)
        return ok;
    if (ok) {
        resp.index = lastnew;
        return raft_send(r, &resp);
    }
    /* Rejection with a hint (paper 5.3, end): the last index <= m->index
     * whose term is <= m->log_term lets the leader skip whole terms. */
    uint64_t hint_term;
    uint64_t hint = raft_log_find_conflict_by_term(&r->log, m->index, m->log_term, &hint_term);
    resp.index = m->index;
    resp.reject = true;
    resp.reject_hint = hint;
    resp.log_term = hint_term;
    return raft_send(r, &resp);
}

int raft_handle_heartbeat(struct raft *r, const struct raft_message *m)
{
    raft_log_commit_to(&r->log, m->commit);
    struct raft_message resp = {.type = RAFT_MSG_HEARTBEAT_RESP, .to = m->from};
    if (m->context_len) {
        resp.context = raft_memdup(m->context, m->context_len);
        if (!resp.context)
            return RAFT_ENOMEM;
        resp.context_len = m->context_len;
    }
    return raft_send(r, &resp);
}

static bool restore(struct raft *r, const struct raft_snapshot *s, int *rc)
{
    *rc = 0;
    if (s->meta.index <= r->log.committed)
        return false;
    if (raft_log_match_term(&r->log, s->meta.index, s->meta.term)) {
        /* We already hold the snapshot's last entry: just commit to it
         * and keep the entries after it (paper 7, "retain"). */
        raft_log_commit_to(&r->log, s->meta.index);
        return false;
    }
    *rc = raft_log_restore(&r->log, s);
    if (*rc)
        return false;
    *rc = raft_switch_to_conf(r, &s->meta.conf);
    return *rc == 0;
}

int raft_handle_snapshot(struct raft *r, const struct raft_message *m)
{
    int rc;
    struct raft_message resp = {.type = RAFT_MSG_APP_RESP, .to = m->from};
    if (restore(r, &m->snapshot, &rc))
        resp.index = raft_log_last_index(&r->log);
    else if (rc)
        return rc;
    else
        resp.index = r->log.committed;
    return raft_send(r, &resp);
}

int raft_handle_append_response(struct raft *r, const struct raft_message *m)
{
    struct raft_progress *pr = raft_tracker_get(&r->trk, m->from);
    pr->recent_active = true;
    if (m->reject) {
        uint64_t next_probe = m->reject_hint;
        if (m->log_term > 0) {
            /* Skip our entries of terms the follower does not have. */
            uint64_t t;
            next_probe = raft_log_find_conflict_by_term(&r->log, m->reject_hint, m->log_term, &t);
        }
        if (raft_progress_maybe_decr_to(pr, m->index, next_probe)) {
            if (pr->state == RAFT_PROGRESS_REPLICATE)
                raft_progress_become_probe(pr);
            raft_send_append(r, m->from);
        }
        return 0;
    }
    bool was_paused = raft_progress_is_paused(pr);
    if (raft_progress_maybe_update(pr, m->index)) {
        if (pr->state == RAFT_PROGRESS_PROBE) {
            raft_progress_become_replicate(pr);
        } else if (pr->state == RAFT_PROGRESS_SNAPSHOT && pr->match >= pr->pending_snapshot) {
            raft_progress_become_probe(pr);
            raft_progress_become_replicate(pr);
        } else if (pr->state == RAFT_PROGRESS_REPLICATE) {
            raft_inflights_free_le(&pr->ins, m->index);
        }
        if (raft_maybe_commit(r)) {
            int rc = raft_leader_after_commit(r);
            if (rc)
                return rc;
        } else if (was_paused) {
            raft_send_append(r, m->from);
        }
        /* Fill the window while entries remain. */
        while (raft_maybe_send_append(r, m->from, false)) {
        }
        if (m->from == r->lead_transferee && pr->match == raft_log_last_index(&r->log)) {
            /* Thesis 3.10: the target is caught up: let it campaign. */
            return raft_send_timeout_now(r, m->from);
        }
    }
    return 0;
}

int raft_handle_heartbeat_response(struct raft *r, const struct raft_message *m)
{
    struct raft_progress *pr = raft_tracker_get(&r->trk, m->from);
    pr->recent_active = true;
    pr->probe_sent = false;
    if (pr->state == RAFT_PROGRESS_REPLICATE && raft_inflights_full(&pr->ins))
        raft_inflights_free_first(&pr->ins);
    if (pr->match < raft_log_last_index(&r->log))
        raft_send_append(r, m->from);
    if (m->context_len == 0)
        return 0;
    struct raft_read_request *rq = raft_read_only_ack(&r->ro, m->from, m->context, m->context_len);
    if (!rq || raft_tracker_acks(&r->trk, rq->acks, rq->n_acks) != RAFT_VOTE_WON)
        return 0;
    struct raft_read_request *done;
    size_t n;
    int rc = raft_read_only_advance(&r->ro, m->context, m->context_len, &done, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct raft_read_request *q = &done[i];
        if (rc == 0) {
            if (q->from == RAFT_NONE || q->from == r->id) {
                rc = raft_add_read_state(r, q->index, q->ctx, q->ctx_len);
            } else {
                struct raft_message resp = {.type = RAFT_MSG_READ_INDEX_RESP,
                                            .to = q->from,
                                            .index = q->index,
                                            .context = q->ctx,
                                            .context_len = q->ctx_len};
                q->ctx = NULL;
                raft_send(r, &resp);
            }
        }
        raft_read_request_free(q);
    }
    free(done);
    return rc;
}

static bool committed_in_current_term(struct raft *r)
{
    return raft_log_term_or_zero(&r->log, r->log.committed) == r->term;
}

static int serve_read_index(struct raft *r, const struct raft_message *m)
{
    uint64_t from = m->from == r->id ? RAFT_NONE : m->from;
    if (r->trk.conf.n_voters == 1 && r->trk.conf.n_voters_outgoing == 0 &&
        r->trk.conf.voters[0] == r->id) {
        /* A single voter is its own quorum. */
        if (from == RAFT_NONE)
            return raft_add_read_state(r, r->log.committed, m->context, m->context_len);
        struct raft_message resp = {
            .type = RAFT_MSG_READ_INDEX_RESP, .to = from, .index = r->log.committed};
        if (m->context_len) {
            resp.context = raft_memdup(m->context, m->context_len);
            if (!resp.context)
                return RAFT_ENOMEM;
            resp.context_len = m->context_len;
        }
        return raft_send(r, &resp);
    }
    int rc = raft_read_only_add(&r->ro, r->log.committed, from, m->context, m->context_len, r->id);
    if (rc)
        return rc;
    raft_bcast_heartbeat(r, m->context, m->context_len);
    return 0;
}

int raft_handle_read_index(struct raft *r, const struct raft_message *m)
{
    if (m->context_len == 0)
        return RAFT_EINVAL; /* the context is how the answer is matched */
    if (!committed_in_current_term(r)) {
        /* Thesis 6.4 step 1: until the leader has committed an entry of
         * its term it does not know the commit index; hold the request. */
        if (r->n_pending_reads == r->cap_pending_reads) {
            size_t cap = r->cap_pending_reads ? r->cap_pending_reads * 2 : 4;
            struct raft_message *a = realloc(r->pending_reads, cap * sizeof(*a));
            if (!a)
                return RAFT_ENOMEM;
            r->pending_reads = a;
            r->cap_pending_reads = cap;
        }
        struct raft_message c = {.type = m->type, .from = m->from};
        c.context = raft_memdup(m->context, m->context_len);
        if (!c.context)
            return RAFT_ENOMEM;
        c.context_len = m->context_len;
        r->pending_reads[r->n_pending_reads++] = c;
        return 0;
    }
    return serve_read_index(r, m);
}

int raft_release_pending_reads(struct raft *r)
{
    if (r->n_pending_reads == 0 || !committed_in_current_term(r))
        return 0;
    int rc = 0;
    size_t n = r->n_pending_reads;
    r->n_pending_reads = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = serve_read_index(r, &r->pending_reads[i]);
        raft_message_free(&r->pending_reads[i]);
    }
    return rc;
}
