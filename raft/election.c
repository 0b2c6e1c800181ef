/* raft/election.c - leader election (paper 5.2, 5.4.1), pre-vote (thesis
 * 9.6), and the randomised election timeout (paper 5.2, "randomized
 * election timeouts ... to ensure that split votes are rare"). */
#include "raft/raft_int.h"

/* splitmix64: the only source of randomness, seeded from the config. */
static uint64_t next_rand(struct raft *r)
{
    uint64_t z = (r->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void raft_reset_randomized_timeout(struct raft *r)
{
    r->randomized_election_timeout =
        r->election_timeout + (int)(next_rand(r) % (uint64_t)r->election_timeout);
}

/* Is a committed but unapplied configuration change pending? A node must
 * not lead under a configuration it has not applied yet. */
static bool has_unapplied_conf_change(struct raft *r)
{
    if (r->log.committed <= r->log.applied)
        return false;
    struct raft_entry *ents;
    size_t n;
    uint64_t lo = r->log.applied + 1;
    uint64_t first = raft_log_first_index(&r->log);
    if (lo < first)
        lo = first;
    if (raft_log_slice(&r->log, lo, r->log.committed + 1, UINT64_MAX, &ents, &n))
        return true; /* cannot tell: do not campaign */
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= ents[i].type == RAFT_ENTRY_CONF_CHANGE;
    raft_entries_free(ents, n);
    return found;
}

/* The configuration the log will lead to once every configuration change
 * in it beyond the applied index is applied. Configurations take effect
 * when applied (as in etcd), but a candidate also needs a majority of this
 * one, as the thesis (4.1, 4.3) has servers use the latest configuration in
 * their log: otherwise members of an old configuration that did not learn
 * that a newer one was committed could elect a leader among themselves
 * while the new configuration commits without them. */
static int projected_conf(struct raft *r, struct raft_conf_state *out, bool *differs)
{
    *differs = false;
    int rc = raft_conf_state_copy(out, &r->trk.conf);
    if (rc)
        return rc;
    uint64_t lo = r->log.applied + 1, first = raft_log_first_index(&r->log);
    uint64_t hi = raft_log_last_index(&r->log) + 1;
    if (lo < first)
        lo = first;
    if (lo >= hi)
        return 0;
    struct raft_entry *ents;
    size_t n;
    rc = raft_log_slice(&r->log, lo, hi, UINT64_MAX, &ents, &n);
    if (rc) {
        raft_conf_state_free(out);
        return rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (ents[i].type != RAFT_ENTRY_CONF_CHANGE)
            continue;
        struct raft_conf_change cc;
        if (raft_decode_conf_change(ents[i].data, ents[i].len, &cc) != 0)
            continue;
        struct raft_conf_state next;
        rc = raft_conf_apply(out, &cc, &next);
        raft_conf_change_free(&cc);
        if (rc == RAFT_ECONFCHANGE) {
            rc = 0; /* refused when applied, everywhere: no effect */
            continue;
        }
        if (rc)
            break;
        raft_conf_state_free(out);
        *out = next;
        *differs = true;
    }
    raft_entries_free(ents, n);
    if (rc)
        raft_conf_state_free(out);
    return rc;
}

/* Election result: a majority of the applied configuration and, if the log
 * holds later changes, of the projected one. */
static enum raft_vote_result election_result(struct raft *r)
{
    enum raft_vote_result a = raft_tracker_tally(&r->trk);
    if (!r->has_campaign_conf)
        return a;
    enum raft_vote_result b = raft_tracker_tally_conf(&r->trk, &r->campaign_conf);
    if (a == RAFT_VOTE_LOST || b == RAFT_VOTE_LOST)
        return RAFT_VOTE_LOST;
    return a == RAFT_VOTE_WON && b == RAFT_VOTE_WON ? RAFT_VOTE_WON : RAFT_VOTE_PENDING;
}

static void send_vote_requests(struct raft *r, const struct raft_conf_state *c, uint8_t type,
                               uint64_t term, bool transfer, uint64_t *sent, size_t *n_sent)
{
    uint64_t li = raft_log_last_index(&r->log), lt = raft_log_last_term(&r->log);
    const uint64_t *lists[2] = {c->voters, c->voters_outgoing};
    size_t counts[2] = {c->n_voters, c->n_voters_outgoing};
    for (int h = 0; h < 2; h++) {
        for (size_t i = 0; i < counts[h]; i++) {
            uint64_t id = lists[h][i];
            if (id == r->id || raft_ids_contains(sent, *n_sent, id))
                continue;
            if (*n_sent < 64)
                sent[(*n_sent)++] = id;
            struct raft_message m = {
                .type = type, .to = id, .term = term, .index = li, .log_term = lt};
            if (transfer) {
                m.context = raft_memdup("transfer", 8);
                m.context_len = m.context ? 8 : 0;
            }
            raft_send(r, &m);
        }
    }
}

static int campaign(struct raft *r, bool pre, bool transfer)
{
    if (!raft_promotable(r))
        return 0;
    struct raft_conf_state proj;
    bool differs;
    int prc = projected_conf(r, &proj, &differs);
    if (prc)
        return prc;
    uint64_t term;
    uint8_t type;
    if (pre) {
        raft_become_pre_candidate(r);
        type = RAFT_MSG_PRE_VOTE;
        term = r->term + 1;
    } else {
        raft_become_candidate(r);
        type = RAFT_MSG_VOTE;
        term = r->term;
    }
    raft_conf_state_free(&r->campaign_conf);
    r->has_campaign_conf = differs;
    if (differs)
        r->campaign_conf = proj;
    else
        raft_conf_state_free(&proj);
    int rc = raft_tracker_record_vote(&r->trk, r->id, true);
    if (rc)
        return rc;
    if (election_result(r) == RAFT_VOTE_WON) {
        /* A single-voter configuration wins at once. */
        if (pre)
            return campaign(r, false, transfer);
        rc = raft_become_leader(r);
        if (rc == 0)
            raft_bcast_append(r); /* learners */
        return rc;
    }
    uint64_t sent[64];
    size_t n_sent = 0;
    send_vote_requests(r, &r->trk.conf, type, term, transfer, sent, &n_sent);
    if (r->has_campaign_conf)
        send_vote_requests(r, &r->campaign_conf, type, term, transfer, sent, &n_sent);
    return 0;
}

int raft_hup(struct raft *r, bool transfer)
{
    if (r->state == RAFT_LEADER)
        return 0;
    if (!raft_promotable(r))
        return 0;
    if (has_unapplied_conf_change(r))
        return 0;
    if (r->pre_vote && !transfer)
        return campaign(r, true, false);
    return campaign(r, false, transfer);
}

int raft_step_vote_request(struct raft *r, const struct raft_message *m)
{
    bool pre = m->type == RAFT_MSG_PRE_VOTE;
    /* Paper 5.2: at most one vote per term, first come first served. We
     * may repeat a vote we already cast; a pre-vote for a future term is
     * not a vote. A follower that knows a leader for this term refuses. */
    bool can_vote = r->vote == m->from || (r->vote == RAFT_NONE && r->lead == RAFT_NONE) ||
                    (pre && m->term > r->term);
    /* Paper 5.4.1: only for a candidate whose log is at least as
     * up-to-date as ours. */
    struct raft_message resp = {.to = m->from};
    resp.type = pre ? RAFT_MSG_PRE_VOTE_RESP : RAFT_MSG_VOTE_RESP;
    if (can_vote && raft_log_is_up_to_date(&r->log, m->index, m->log_term)) {
        /* The response carries the request's term so that a stale
         * candidate's pre-vote is not confused with a current one. */
        resp.term = m->term;
        if (!pre) {
            r->election_elapsed = 0;
            r->vote = m->from;
        }
    } else {
        resp.term = r->term;
        resp.reject = true;
        /* Tell the candidate what we know is committed (see
         * raft_learn_commit_hint). */
        resp.commit = r->log.committed;
        resp.log_term = raft_log_term_or_zero(&r->log, r->log.committed);
    }
    return raft_send(r, &resp);
}

/* A refused vote carries the voter's commit index and the term of the
 * entry there. If we hold that same entry, Log Matching (paper 5.3) makes
 * our log identical up to it, so all of it is committed. Without this, a
 * configuration change that removed a leader could be committed while the
 * remaining voters, which apply configurations only once they learn of the
 * commitment, still need the removed node's vote, which it refuses to a
 * shorter log: no election could ever succeed. */
void raft_learn_commit_hint(struct raft *r, const struct raft_message *m)
{
    if (m->reject && m->commit > r->log.committed && m->log_term != 0 &&
        raft_log_match_term(&r->log, m->commit, m->log_term))
        raft_log_commit_to(&r->log, m->commit);
}

int raft_handle_vote_response(struct raft *r, const struct raft_message *m)
{
    bool pre = r->state == RAFT_PRE_CANDIDATE;
    if ((m->type == RAFT_MSG_PRE_VOTE_RESP) != pre)
        return 0; /* a response to an election we are no longer in */
    int rc = raft_tracker_record_vote(&r->trk, m->from, !m->reject);
    if (rc)
        return rc;
    switch (election_result(r)) {
    case RAFT_VOTE_WON:
        if (!raft_promotable(r)) {
            raft_become_follower(r, r->term, RAFT_NONE);
            return 0;
        }
        if (pre)
            return campaign(r, false, false);
        rc = raft_become_leader(r);
        if (rc == 0)
            raft_bcast_append(r);
        return rc;
    case RAFT_VOTE_LOST:
        /* Pre-vote responses carry a term no newer than ours here. */
        raft_become_follower(r, r->term, RAFT_NONE);
        return 0;
    case RAFT_VOTE_PENDING:
        return 0;
    }
    return 0;
}

int raft_send_timeout_now(struct raft *r, uint64_t to)
{
    struct raft_message m = {.type = RAFT_MSG_TIMEOUT_NOW, .to = to};
    return raft_send(r, &m);
}
