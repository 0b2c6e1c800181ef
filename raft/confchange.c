/* raft/confchange.c - membership changes: one voter at a time (thesis
 * 4.1) or through a joint configuration (thesis 4.3), and what a node does
 * when a new configuration takes effect (applied, as in etcd). */
#include "raft/raft_int.h"

static int add_id(uint64_t **ids, size_t *n, uint64_t id)
{
    if (raft_ids_contains(*ids, *n, id))
        return 0;
    uint64_t *a = realloc(*ids, (*n + 1) * sizeof(uint64_t));
    if (!a)
        return RAFT_ENOMEM;
    a[(*n)++] = id;
    *ids = a;
    return 0;
}

static void remove_id(uint64_t *ids, size_t *n, uint64_t id)
{
    for (size_t i = 0; i < *n; i++) {
        if (ids[i] == id) {
            ids[i] = ids[--(*n)];
            return;
        }
    }
}

static size_t voters_changed(const struct raft_conf_state *cur, const struct raft_conf_change *cc)
{
    size_t k = 0;
    for (size_t i = 0; i < cc->n_changes; i++) {
        const struct raft_conf_change_single *c = &cc->changes[i];
        bool voter = raft_ids_contains(cur->voters, cur->n_voters, c->node_id);
        if ((c->type == RAFT_CC_ADD_NODE && !voter) || (c->type == RAFT_CC_REMOVE_NODE && voter))
            k++;
    }
    return k;
}

int raft_conf_apply(const struct raft_conf_state *cur, const struct raft_conf_change *cc,
                    struct raft_conf_state *out)
{
    memset(out, 0, sizeof(*out));
    bool joint = cur->n_voters_outgoing > 0;
    struct raft_conf_state c;
    int rc = raft_conf_state_copy(&c, cur);
    if (rc)
        return rc;
    if (cc->n_changes == 0) {
        /* Thesis 4.3: C_old,new -> C_new. */
        if (!joint) {
            raft_conf_state_free(&c);
            return RAFT_ECONFCHANGE;
        }
        free(c.voters_outgoing);
        c.voters_outgoing = NULL;
        c.n_voters_outgoing = 0;
        c.auto_leave = false;
        *out = c;
        return 0;
    }
    if (joint) {
        raft_conf_state_free(&c);
        return RAFT_ECONFCHANGE; /* leave the joint configuration first */
    }
    /* Thesis 4.1: a change of one voter is safe directly; anything larger
     * needs the joint configuration (C_old,new) first. */
    bool enter_joint = cc->joint || voters_changed(cur, cc) > 1;
    if (enter_joint && cur->n_voters) {
        c.voters_outgoing = raft_memdup(cur->voters, cur->n_voters * sizeof(uint64_t));
        if (!c.voters_outgoing) {
            raft_conf_state_free(&c);
            return RAFT_ENOMEM;
        }
        c.n_voters_outgoing = cur->n_voters;
        c.auto_leave = true;
    }
    for (size_t i = 0; i < cc->n_changes && rc == 0; i++) {
        const struct raft_conf_change_single *ch = &cc->changes[i];
        uint64_t id = ch->node_id;
        if (id == RAFT_NONE) {
            rc = RAFT_ECONFCHANGE;
            break;
        }
        switch (ch->type) {
        case RAFT_CC_ADD_NODE:
            remove_id(c.learners, &c.n_learners, id);
            rc = add_id(&c.voters, &c.n_voters, id);
            break;
        case RAFT_CC_ADD_LEARNER:
            /* Demoting a voter would need a "learner next" set during the
             * joint configuration: refused. */
            if (raft_ids_contains(c.voters, c.n_voters, id) ||
                raft_ids_contains(c.voters_outgoing, c.n_voters_outgoing, id))
                rc = RAFT_ECONFCHANGE;
            else
                rc = add_id(&c.learners, &c.n_learners, id);
            break;
        case RAFT_CC_REMOVE_NODE:
            remove_id(c.voters, &c.n_voters, id);
            remove_id(c.learners, &c.n_learners, id);
            break;
        case RAFT_CC_UPDATE_NODE:
            break;
        default:
            rc = RAFT_ECONFCHANGE;
        }
    }
    if (rc == 0 && c.n_voters == 0)
        rc = RAFT_ECONFCHANGE; /* a cluster needs a voter */
    if (rc) {
        raft_conf_state_free(&c);
        return rc;
    }
    *out = c;
    return 0;
}

int raft_switch_to_conf(struct raft *r, const struct raft_conf_state *cs)
{
    int rc = raft_tracker_set_conf(&r->trk, cs, raft_log_last_index(&r->log) + 1);
    if (rc)
        return rc;
    struct raft_progress *self = raft_tracker_get(&r->trk, r->id);
    r->is_learner = self && self->is_learner;
    if ((r->state == RAFT_CANDIDATE || r->state == RAFT_PRE_CANDIDATE) && !raft_promotable(r)) {
        /* An election started under the previous configuration must not
         * be won under one that no longer lets us lead. */
        raft_become_follower(r, r->term, RAFT_NONE);
        return 0;
    }
    if (r->state != RAFT_LEADER)
        return 0;
    if (!raft_tracker_is_voter(&r->trk, r->id)) {
        /* Thesis 4.2.2: a leader that is no longer in the configuration
         * steps down once the change is committed. It hands over to the
         * most up-to-date voter so that the cluster does not wait for an
         * election timeout. */
        uint64_t last = raft_log_last_index(&r->log), best = RAFT_NONE;
        for (size_t i = 0; i < r->trk.n_prs; i++) {
            struct raft_progress *pr = &r->trk.prs[i];
            if (!pr->is_learner && pr->match == last)
                best = pr->id;
        }
        if (best != RAFT_NONE)
            raft_send_timeout_now(r, best);
        raft_become_follower(r, r->term, RAFT_NONE);
        return 0;
    }
    if (r->lead_transferee != RAFT_NONE && !raft_tracker_is_voter(&r->trk, r->lead_transferee))
        raft_abort_leader_transfer(r);
    /* The quorum may have changed: commit what the new one allows, and
     * start replicating to new members. */
    if (raft_maybe_commit(r))
        return raft_leader_after_commit(r);
    raft_bcast_append(r);
    return 0;
}

int raft_apply_conf_change(struct raft *r, const struct raft_conf_change *cc,
                           struct raft_conf_state *out)
{
    struct raft_conf_state next;
    int rc = raft_conf_apply(&r->trk.conf, cc, &next);
    if (rc)
        return rc;
    rc = raft_switch_to_conf(r, &next);
    if (rc == 0 && out)
        *out = next;
    else
        raft_conf_state_free(&next);
    return rc;
}
