/* Unit tests of the Raft rules, each scenario named after the paper
 * (Ongaro & Ousterhout, "In Search of an Understandable Consensus
 * Algorithm") or Ongaro's thesis section it checks. */
#include "tests/raft/cluster.h"

static void propose_str(struct tc *c, uint64_t id, const char *s, int expect)
{
    assert_int_equal(raft_propose(tc_node(c, id)->r, s, strlen(s)), expect);
}

static bool applied_contains(struct tc_node *nd, const char *s)
{
    for (uint64_t i = 0; i < nd->applied_n && i < 256; i++)
        if (nd->applied[i].len == strlen(s) &&
            memcmp(nd->applied[i].data, s, nd->applied[i].len) == 0)
            return true;
    return false;
}

/* 5.2: a single voter elects itself and commits alone. */
static void test_single_node(void **state)
{
    (void)state;
    struct tc *c = tc_new(1);
    for (int i = 0; i < 30 && tc_status(c, 1).ss.state != RAFT_LEADER; i++) {
        raft_tick(tc_node(c, 1)->r);
        tc_settle(c);
    }
    assert_int_equal(tc_status(c, 1).ss.state, RAFT_LEADER);
    propose_str(c, 1, "a", 0);
    tc_settle(c);
    assert_true(applied_contains(tc_node(c, 1), "a"));
    assert_int_equal(tc_status(c, 1).hs.commit, 2); /* blank entry + "a" */
    tc_free(c);
}

/* 5.2: an election timeout starts an election that a majority decides. */
static void test_election_by_timeout(void **state)
{
    (void)state;
    struct tc *c = tc_new(3);
    for (int i = 0; i < 30; i++) {
        raft_tick(tc_node(c, 1)->r); /* only node 1's clock runs */
        tc_settle(c);
    }
    assert_int_equal(tc_status(c, 1).ss.state, RAFT_LEADER);
    assert_int_equal(tc_status(c, 1).hs.term, 1);
    assert_int_equal(tc_status(c, 2).ss.lead, 1);
    assert_int_equal(tc_status(c, 3).ss.lead, 1);
    assert_int_equal(tc_status(c, 2).hs.vote, 1);
    /* The leader's blank entry commits everywhere (paper 8). */
    assert_int_equal(tc_status(c, 3).hs.commit, 1);
    tc_free(c);
}

/* 5.4.1: a vote is refused to a candidate whose log is less up-to-date. */
static void test_vote_refused_to_shorter_log(void **state)
{
    (void)state;
    struct tc *c = tc_new(3);
    uint64_t longer[2] = {1, 1}, shorter[1] = {1};
    tc_replace(c, 1, tc_node_with_log(1, 3, shorter, 1, 1, false, false));
    tc_replace(c, 2, tc_node_with_log(2, 3, longer, 2, 1, false, false));
    tc_replace(c, 3, tc_node_with_log(3, 3, longer, 2, 1, false, false));
    tc_campaign(c, 1);
    assert_int_not_equal(tc_status(c, 1).ss.state, RAFT_LEADER);
    /* Same last term but longer wins; a higher last term wins too. */
    tc_campaign(c, 2);
    assert_int_equal(tc_status(c, 2).ss.state, RAFT_LEADER);
    tc_free(c);
}

/* 5.2: at most one vote per term, first come first served. */
static void test_one_vote_per_term(void **state)
{
    (void)state;
    struct tc *c = tc_new(3);
    struct raft *r = tc_node(c, 2)->r;
    struct raft_message v = {.type = RAFT_MSG_VOTE, .from = 1, .to = 2, .term = 5};
    assert_int_equal(raft_step(r, &v), 0);
    v.from = 3;
    assert_int_equal(raft_step(r, &v), 0);
    v.from = 1; /* a repeated request from the same candidate is granted again */
    assert_int_equal(raft_step(r, &v), 0);
    struct raft_ready rd;
    assert_int_equal(raft_ready(r, &rd), 0);
    assert_int_equal(rd.n_messages, 3);
    assert_false(rd.messages[0].reject);
    assert_int_equal(rd.messages[0].to, 1);
    assert_true(rd.messages[1].reject);
    assert_int_equal(rd.messages[1].to, 3);
    assert_false(rd.messages[2].reject);
    assert_true(rd.has_hard_state);
    assert_int_equal(rd.hard_state.vote, 1);
    assert_int_equal(rd.hard_state.term, 5);
    assert_true(rd.must_sync);
    raft_advance(r, &rd);
    tc_free(c);
}

/* Thesis 9.6: a partitioned pre-candidate does not inflate its term, and
 * rejoining does not depose the leader. */
static void test_prevote_keeps_term(void **state)
{
    (void)state;
    struct tc *c = tc_new_opts(3, 0, true, false);
    tc_campaign(c, 1);
    assert_int_equal(tc_status(c, 1).ss.state, RAFT_LEADER);
    uint64_t term = tc_status(c, 1).hs.term;
    c->drop_to[3] = c->drop_from[3] = true;
    for (int i = 0; i < 100; i++) {
        raft_tick(tc_node(c, 3)->r);
        tc_settle(c);
    }
    assert_int_equal(tc_status(c, 3).hs.term, term);
    assert_int_equal(tc_status(c, 3).ss.state, RAFT_PRE_CANDIDATE);
    c->drop_to[3] = c->drop_from[3] = false;
    raft_tick(tc_node(c, 1)->r); /* heartbeat */
    tc_settle(c);
    assert_int_equal(tc_status(c, 1).ss.state, RAFT_LEADER);
    assert_int_equal(tc_status(c, 1).hs.term, term);
    assert_int_equal(tc_status(c, 3).ss.lead, 1);
    tc_free(c);
}

/* Thesis 6.2: a leader cut off from a quorum steps down after an election
 * timeout (CheckQuorum). */
static void test_check_quorum_steps_down(void **state)
{
    (void)state;
    struct tc *c = tc_new_opts(3, 0, false, true);
    tc_campaign(c, 1);
    assert_int_equal(tc_status(c, 1).ss.state, RAFT_LEADER);
    c->drop_from[2] = c->drop_from[3] = true;
    for (int i = 0; i < 25; i++) {
        raft_tick(tc_node(c, 1)->r);
        tc_settle(c);
    }
    assert_int_equal(tc_status(c, 1).ss.state, RAFT_FOLLOWER);
    assert_int_equal(tc_status(c, 1).ss.lead, RAFT_NONE);
    tc_free(c);
}

/* Thesis 4.2.3: within the leader's lease a follower ignores a vote
 * request of a higher term (a disruptive server). */
static void test_lease_ignores_disruptive_vote(void **state)
{
    (void)state;
    struct tc *c = tc_new_opts(3, 0, false, true);
    tc_campaign(c, 1);
    uint64_t term = tc_status(c, 2).hs.term;
    struct raft_message v = {
        .type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = term + 5, .index = 100, .log_term = 100};
    assert_int_equal(raft_step(tc_node(c, 2)->r, &v), 0);
    assert_int_equal(tc_status(c, 2).hs.term, term);
    assert_int_equal(tc_status(c, 2).ss.lead, 1);
    /* After the lease (an election timeout without the leader) it votes. */
    for (int i = 0; i < 10; i++)
        raft_tick(tc_node(c, 2)->r);
    tc_drop_queue(c);
    assert_int_equal(raft_step(tc_node(c, 2)->r, &v), 0);
    assert_int_equal(tc_status(c, 2).hs.term, term + 5);
    assert_int_equal(tc_status(c, 2).hs.vote, 3);
    tc_free(c);
}

/* Paper figure 7: whatever a follower's log looks like (missing entries,
 * extra uncommitted entries, entries of other terms), the leader of term 8
 * makes it identical to its own. */
static void test_figure7(void **state)
{
    (void)state;
    static const uint64_t leader[10] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
    static const struct {
        uint64_t terms[12];
        size_t n;
    } followers[6] = {
        {{1, 1, 1, 4, 4, 5, 5, 6, 6}, 9},           /* (a) */
        {{1, 1, 1, 4}, 4},                          /* (b) */
        {{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}, 11},    /* (c) */
        {{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}, 12}, /* (d) */
        {{1, 1, 1, 4, 4, 4, 4}, 7},                 /* (e) */
        {{1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}, 11},    /* (f) */
    };
    for (int k = 0; k < 6; k++) {
        struct tc *c = tc_new(3);
        tc_replace(c, 1, tc_node_with_log(1, 3, leader, 10, 7, false, false));
        tc_replace(c, 2,
                   tc_node_with_log(2, 3, followers[k].terms, followers[k].n, 7, false, false));
        tc_replace(c, 3, tc_node_with_log(3, 3, leader, 10, 7, false, false));
        tc_campaign(c, 1);
        assert_int_equal(tc_status(c, 1).ss.state, RAFT_LEADER);
        assert_int_equal(tc_status(c, 1).hs.term, 8);
        propose_str(c, 1, "x", 0);
        tc_settle(c);
        assert_true(tc_logs_equal(c, 1, 2));
        assert_int_equal(tc_status(c, 2).last_index, 12);
        assert_int_equal(tc_status(c, 2).hs.commit, 12);
        assert_int_equal(raft_log_term_at(tc_node(c, 2)->r, 11), 8);
        tc_free(c);
    }
}

/* Paper figure 8 / 5.4.2: a leader never commits an entry of an earlier
 * term by counting replicas; it commits only once an entry of its own
 * term is on a majority. */
static void test_figure8_no_commit_of_old_term(void **state)
{
    (void)state;
    struct tc *c = tc_new(3);
    uint64_t l1[2] = {1, 2}, l2[1] = {1};
    tc_replace(c, 1, tc_node_with_log(1, 3, l1, 2, 3, false, false));
    tc_replace(c, 2, tc_node_with_log(2, 3, l2, 1, 3, false, false));
    tc_replace(c, 3, tc_node_with_log(3, 3, l2, 1, 3, false, false));
    /* Lose every append that carries the leader's own (term 4) entry, and
     * send one entry per message. */
    tc_node(c, 1)->r->max_msg_size = 0;
    c->drop_type[RAFT_MSG_APP] = true;
    tc_campaign(c, 1);
    assert_int_equal(tc_status(c, 1).ss.state, RAFT_LEADER);
    assert_int_equal(tc_status(c, 1).hs.term, 4);
    /* Deliver by hand: appends lose their term-4 entries. */
    for (int round = 0; round < 10; round++) {
        raft_tick(tc_node(c, 1)->r);
        tc_ready(c, 1);
        size_t n = c->nq;
        for (size_t i = 0; i < n; i++) {
            struct raft_message m = c->q[0];
            memmove(c->q, c->q + 1, (c->nq - 1) * sizeof(*c->q));
            c->nq--;
            /* Strip the leader's term-4 entries from appends. */
            while (m.type == RAFT_MSG_APP && m.n_entries > 0 &&
                   m.entries[m.n_entries - 1].term == 4) {
                free(m.entries[m.n_entries - 1].data);
                m.n_entries--;
            }
            raft_step(tc_node(c, m.to)->r, &m);
            tc_ready(c, m.to);
            raft_message_free(&m);
        }
    }
    /* Index 2 (term 2) is on all three nodes, yet not committed. */
    assert_int_equal(raft_log_term_at(tc_node(c, 2)->r, 2), 2);
    assert_int_equal(tc_status(c, 1).hs.commit, 0);
    /* Once the term-4 entry replicates, both commit together. */
    c->drop_type[RAFT_MSG_APP] = false;
    raft_tick(tc_node(c, 1)->r);
    tc_settle(c);
    assert_int_equal(tc_status(c, 1).hs.commit, 3);
    assert_int_equal(tc_status(c, 2).hs.commit, 3);
    tc_free(c);
}

/* A follower forwards proposals to its leader; with no leader known the
 * proposal fails with a distinct error. */
static void test_proposal_forwarding(void **state)
{
    (void)state;
    struct tc *c = tc_new(3);
    propose_str(c, 2, "early", RAFT_ENOLEADER);
    tc_campaign(c, 1);
    propose_str(c, 2, "fwd", 0);
    tc_settle(c);
    for (uint64_t id = 1; id <= 3; id++)
        assert_true(applied_contains(tc_node(c, id), "fwd"));
    tc_free(c);
}

/* Thesis 6.4: ReadIndex answers with the commit index after a heartbeat
 * round, and waits for an entry of the leader's term to commit. */
static void test_read_index(void **state)
{
    (void)state;
    struct tc *c = tc_new(3);
    assert_int_equal(raft_read_index(tc_node(c, 2)->r, "r0", 2), RAFT_ENOLEADER);
    tc_campaign(c, 1);
    propose_str(c, 1, "w", 0);
    tc_settle(c);
    uint64_t commit = tc_status(c, 1).hs.commit;
    assert_int_equal(raft_read_index(tc_node(c, 1)->r, "r1", 2), 0);
    tc_settle(c);
    assert_int_equal(tc_node(c, 1)->n_reads, 1);
    assert_int_equal(tc_node(c, 1)->reads[0].index, commit);
    assert_memory_equal(tc_node(c, 1)->reads[0].context, "r1", 2);
    /* From a follower: forwarded, answered to the follower. */
    assert_int_equal(raft_read_index(tc_node(c, 3)->r, "r2", 2), 0);
    tc_settle(c);
    assert_int_equal(tc_node(c, 3)->n_reads, 1);
    assert_int_equal(tc_node(c, 3)->reads[0].index, commit);
    /* Without a quorum of heartbeat acks there is no answer. */
    c->drop_from[2] = c->drop_from[3] = true;
    assert_int_equal(raft_read_index(tc_node(c, 1)->r, "r3", 2), 0);
    tc_settle(c);
    assert_int_equal(tc_node(c, 1)->n_reads, 1);
    tc_free(c);
}

static void test_read_index_waits_for_term_commit(void **state)
{
    (void)state;
    struct tc *c = tc_new(3);
    tc_campaign(c, 1);
    /* A new leader of term 2 whose blank entry is not committed yet. */
    c->drop_type[RAFT_MSG_APP] = true;
    c->drop_type[RAFT_MSG_APP_RESP] = true;
    tc_campaign(c, 2);
    assert_int_equal(tc_status(c, 2).ss.state, RAFT_LEADER);
    assert_int_equal(raft_read_index(tc_node(c, 2)->r, "rr", 2), 0);
    tc_settle(c);
    assert_int_equal(tc_node(c, 2)->n_reads, 0);
    c->drop_type[RAFT_MSG_APP] = c->drop_type[RAFT_MSG_APP_RESP] = false;
    raft_tick(tc_node(c, 2)->r);
    tc_settle(c);
    assert_int_equal(tc_node(c, 2)->n_reads, 1);
    assert_int_equal(tc_node(c, 2)->reads[0].index, tc_status(c, 2).hs.commit);
    tc_free(c);
}

/* Thesis 3.10: leadership transfer catches the target up, then it
 * campaigns at once; proposals are refused meanwhile. */
static void test_leader_transfer(void **state)
{
    (void)state;
    struct tc *c = tc_new_opts(3, 0, true, true);
    tc_campaign(c, 1);
    c->drop_to[3] = true;
    propose_str(c, 1, "behind", 0);
    tc_settle(c);
    c->drop_to[3] = false;
    assert_int_equal(raft_transfer_leader(tc_node(c, 1)->r, 3), 0);
    propose_str(c, 1, "refused", RAFT_EPROPOSALDROPPED);
    tc_settle(c);
    assert_int_equal(tc_status(c, 3).ss.state, RAFT_LEADER);
    assert_int_equal(tc_status(c, 1).ss.lead, 3);
    propose_str(c, 1, "after", 0);
    tc_settle(c);
    assert_true(applied_contains(tc_node(c, 2), "after"));
    tc_free(c);
}

static void propose_cc(struct tc *c, uint64_t id, int type, uint64_t node, bool joint)
{
    struct raft_conf_change_single ch = {.type = (uint8_t)type, .node_id = node};
    struct raft_conf_change cc = {.changes = &ch, .n_changes = 1, .joint = joint};
    assert_int_equal(raft_propose_conf_change(tc_node(c, id)->r, &cc), 0);
    tc_settle(c);
}

/* Membership: a learner receives the log without voting; promoted, it
 * counts; a removed leader steps down and the others elect a new one. */
static void test_membership(void **state)
{
    (void)state;
    struct tc *c = tc_new_opts(3, 1, false, false); /* node 4: learner */
    tc_campaign(c, 1);
    propose_str(c, 1, "l", 0);
    tc_settle(c);
    assert_true(applied_contains(tc_node(c, 4), "l"));
    assert_true(tc_status(c, 4).is_learner);
    tc_campaign(c, 4); /* a learner never campaigns */
    assert_int_equal(tc_status(c, 4).ss.state, RAFT_FOLLOWER);
    propose_cc(c, 1, RAFT_CC_ADD_NODE, 4, false);
    assert_false(tc_status(c, 4).is_learner);
    /* Four voters: commitment needs three. */
    c->drop_to[3] = c->drop_to[4] = true;
    propose_str(c, 1, "needs3", 0);
    tc_settle(c);
    assert_false(applied_contains(tc_node(c, 1), "needs3"));
    c->drop_to[3] = c->drop_to[4] = false;
    raft_tick(tc_node(c, 1)->r);
    tc_settle(c);
    assert_true(applied_contains(tc_node(c, 1), "needs3"));
    /* Remove the leader. */
    propose_cc(c, 1, RAFT_CC_REMOVE_NODE, 1, false);
    assert_int_not_equal(tc_status(c, 1).ss.state, RAFT_LEADER);
    assert_false(tc_status(c, 1).is_member);
    for (int i = 0; i < 40 && tc_status(c, 2).ss.lead == 1; i++) {
        raft_tick(tc_node(c, 2)->r);
        tc_settle(c);
    }
    uint64_t lead = tc_status(c, 2).ss.lead;
    assert_true(lead >= 2 && lead <= 4);
    propose_str(c, lead, "after-remove", 0);
    tc_settle(c);
    assert_true(applied_contains(tc_node(c, 3), "after-remove"));
    tc_free(c);
}

/* Thesis 4.3: two voters changed at once go through a joint configuration
 * that the leader leaves by itself. */
static void test_joint_consensus(void **state)
{
    (void)state;
    struct tc *c = tc_new_opts(3, 0, false, false);
    raft_free(tc_node(c, 1)->r); /* restart node 1 knowing 5 slots */
    c->n = 5;
    for (uint64_t id = 4; id <= 5; id++) {
        struct tc_node *nd = tc_node(c, id);
        nd->st = raft_storage_mem_new();
        uint64_t v[3] = {1, 2, 3};
        struct raft_conf_state cs = {.voters = v, .n_voters = 3};
        raft_storage_mem_set_conf_state(nd->st, &cs);
        struct raft_config cfg = tc_config(id, nd->st);
        assert_int_equal(raft_new(&cfg, &nd->r), 0);
    }
    struct raft_config cfg = tc_config(1, tc_node(c, 1)->st);
    assert_int_equal(raft_new(&cfg, &tc_node(c, 1)->r), 0);
    tc_campaign(c, 1);
    struct raft_conf_change_single ch[3] = {
        {RAFT_CC_ADD_NODE, 4}, {RAFT_CC_ADD_NODE, 5}, {RAFT_CC_REMOVE_NODE, 3}};
    struct raft_conf_change cc = {.changes = ch, .n_changes = 3};
    assert_int_equal(raft_propose_conf_change(tc_node(c, 1)->r, &cc), 0);
    tc_settle(c);
    /* Auto-leave has run: the final configuration is {1, 2, 4, 5}. */
    struct raft *r = tc_node(c, 1)->r;
    assert_false(raft_tracker_is_joint(&r->trk));
    assert_int_equal(r->trk.conf.n_voters, 4);
    assert_false(raft_tracker_is_voter(&r->trk, 3));
    assert_true(raft_tracker_is_voter(&r->trk, 5));
    assert_false(tc_status(c, 3).is_member);
    /* Commitment now needs 3 of {1, 2, 4, 5}. */
    c->drop_to[4] = c->drop_to[5] = true;
    propose_str(c, 1, "q", 0);
    tc_settle(c);
    assert_false(applied_contains(tc_node(c, 1), "q"));
    c->drop_to[5] = false;
    raft_tick(r);
    tc_settle(c);
    assert_true(applied_contains(tc_node(c, 1), "q"));
    tc_free(c);
}

/* A candidate whose configuration drops it mid-election (it applied the
 * change meanwhile) must not win: found by the simulator (seed 13019). */
static void test_candidate_removed_mid_election(void **state)
{
    (void)state;
    struct tc *c = tc_new(3);
    c->drop_type[RAFT_MSG_VOTE_RESP] = true;
    tc_campaign(c, 3);
    assert_int_equal(tc_status(c, 3).ss.state, RAFT_CANDIDATE);
    struct raft_conf_change_single ch = {RAFT_CC_REMOVE_NODE, 3};
    struct raft_conf_change cc = {.changes = &ch, .n_changes = 1};
    assert_int_equal(raft_apply_conf_change(tc_node(c, 3)->r, &cc, NULL), 0);
    struct raft_message grant = {
        .type = RAFT_MSG_VOTE_RESP, .from = 1, .to = 3, .term = tc_status(c, 3).hs.term};
    raft_step(tc_node(c, 3)->r, &grant);
    grant.from = 2;
    raft_step(tc_node(c, 3)->r, &grant);
    assert_int_not_equal(tc_status(c, 3).ss.state, RAFT_LEADER);
    tc_free(c);
}

/* A refused vote carries the voter's commit index; a candidate holding the
 * same entry there learns it is committed (so that a voter that has not
 * applied its removal can still finish it; simulator seeds 162, 85860). */
static void test_commit_hint_in_vote_refusal(void **state)
{
    (void)state;
    uint64_t terms[3] = {1, 1, 1};
    struct tc *c = tc_new(3);
    tc_replace(c, 2, tc_node_with_log(2, 3, terms, 3, 1, false, false));
    struct raft *r = tc_node(c, 2)->r;
    tc_drop_queue(c);
    assert_int_equal(raft_campaign(r), 0);
    uint64_t term = tc_status(c, 2).hs.term;
    struct raft_message no = {.type = RAFT_MSG_VOTE_RESP,
                              .from = 3,
                              .to = 2,
                              .term = term,
                              .reject = true,
                              .commit = 3,
                              .log_term = 2};
    assert_int_equal(raft_step(r, &no), 0);
    assert_int_equal(tc_status(c, 2).hs.commit, 0); /* different entry there */
    no.from = 1;
    no.log_term = 1;
    assert_int_equal(raft_step(r, &no), 0);
    assert_int_equal(tc_status(c, 2).hs.commit, 3);
    /* Stale refusals count too. */
    no.commit = 2;
    no.term = term - 1;
    assert_int_equal(raft_step(r, &no), 0);
    assert_int_equal(tc_status(c, 2).hs.commit, 3);
    tc_free(c);
}

/* Thesis 4.1: a candidate also needs a majority of the configuration its
 * log leads to, not only of the applied one: members of an old
 * configuration must not elect a leader by themselves. */
static void test_candidate_needs_projected_configuration(void **state)
{
    (void)state;
    struct tc *c = tc_new(3);
    /* Node 1 holds an unapplied, uncommitted change removing node 3. */
    struct raft_conf_change_single ch = {RAFT_CC_REMOVE_NODE, 3};
    struct raft_conf_change cc = {.changes = &ch, .n_changes = 1};
    struct raft_buf b = {0};
    assert_int_equal(raft_encode_conf_change(&b, &cc), 0);
    struct raft_entry e = {
        .term = 1, .index = 1, .type = RAFT_ENTRY_CONF_CHANGE, .data = b.data, .len = b.len};
    struct tc_node *n1 = tc_node(c, 1);
    raft_free(n1->r);
    assert_int_equal(raft_storage_mem_append(n1->st, &e, 1), 0);
    struct raft_hard_state hs = {.term = 1};
    raft_storage_mem_set_hard_state(n1->st, &hs);
    struct raft_config cfg = tc_config(1, n1->st);
    assert_int_equal(raft_new(&cfg, &n1->r), 0);
    raft_buf_free(&b);
    /* Node 3's vote alone would be a majority of {1, 2, 3}, not of {1, 2}. */
    c->drop_to[2] = true;
    tc_campaign(c, 1);
    assert_int_not_equal(tc_status(c, 1).ss.state, RAFT_LEADER);
    c->drop_to[2] = false;
    tc_campaign(c, 1);
    assert_int_equal(tc_status(c, 1).ss.state, RAFT_LEADER);
    tc_free(c);
}

/* A change while another is pending is replaced by an empty entry. */
static void test_one_conf_change_at_a_time(void **state)
{
    (void)state;
    struct tc *c = tc_new(3);
    tc_campaign(c, 1);
    c->drop_type[RAFT_MSG_APP] = true;
    struct raft_conf_change_single ch = {RAFT_CC_ADD_LEARNER, 4};
    struct raft_conf_change cc = {.changes = &ch, .n_changes = 1};
    assert_int_equal(raft_propose_conf_change(tc_node(c, 1)->r, &cc), 0);
    ch.node_id = 5;
    assert_int_equal(raft_propose_conf_change(tc_node(c, 1)->r, &cc), 0);
    tc_settle(c);
    c->drop_type[RAFT_MSG_APP] = false;
    raft_tick(tc_node(c, 1)->r);
    tc_settle(c);
    struct raft *r = tc_node(c, 1)->r;
    assert_non_null(raft_tracker_get(&r->trk, 4));
    assert_null(raft_tracker_get(&r->trk, 5));
    tc_free(c);
}

/* Node 3 restored node 1's snapshot at `applied` (its log starts after
 * it); once the transfer is reported, replication to it resumes. */
static void check_snapshot_restored(struct tc *c, uint64_t applied)
{
    assert_int_equal(tc_status(c, 3).first_index, applied + 1);
    assert_int_equal(tc_status(c, 3).hs.commit, applied);
    raft_report_snapshot(tc_node(c, 1)->r, 3, false);
    propose_str(c, 1, "post", 0);
    tc_settle(c);
    assert_true(applied_contains(tc_node(c, 3), "post"));
}

/* Paper 7: a follower behind the compaction point gets a snapshot. */
static void test_snapshot_catch_up(void **state)
{
    (void)state;
    struct tc *c = tc_new(3);
    tc_campaign(c, 1);
    c->drop_to[3] = true;
    for (int i = 0; i < 10; i++)
        propose_str(c, 1, "s", 0);
    tc_settle(c);
    uint64_t applied = tc_status(c, 1).applied;
    uint64_t v[3] = {1, 2, 3};
    struct raft_conf_state cs = {.voters = v, .n_voters = 3};
    struct raft_storage_mem *st = tc_node(c, 1)->st;
    assert_int_equal(raft_storage_mem_create_snapshot(st, applied, &cs, "SNAP", 4), 0);
    assert_int_equal(raft_storage_mem_compact(st, applied), 0);
    c->drop_to[3] = false;
    raft_tick(tc_node(c, 1)->r);
    tc_settle(c);
    check_snapshot_restored(c, applied);
    tc_free(c);
}

/*
 * A log trimmed past the newest snapshot (raft_storage_mem_trim): the
 * follower behind it is not sent that snapshot, which would leave it as
 * far behind; once a newer snapshot exists it is sent and the follower
 * catches up.
 */
static void test_trimmed_log_waits_for_snapshot(void **state)
{
    (void)state;
    struct tc *c = tc_new(3);
    tc_campaign(c, 1);
    c->drop_to[3] = true;
    propose_str(c, 1, "a", 0);
    tc_settle(c);
    uint64_t v[3] = {1, 2, 3};
    struct raft_conf_state cs = {.voters = v, .n_voters = 3};
    struct raft_storage_mem *st = tc_node(c, 1)->st;
    uint64_t old = tc_status(c, 1).applied;
    assert_int_equal(raft_storage_mem_create_snapshot(st, old, &cs, "OLD", 3), 0);
    for (int i = 0; i < 10; i++)
        propose_str(c, 1, "s", 0);
    tc_settle(c);
    uint64_t applied = tc_status(c, 1).applied;
    assert_int_equal(raft_storage_mem_compact(st, applied), RAFT_EUNAVAILABLE);
    assert_int_equal(raft_storage_mem_trim(st, applied), 0);
    assert_int_equal(raft_storage_mem_trim(st, applied), RAFT_ECOMPACTED);
    uint64_t behind = tc_status(c, 3).hs.commit;
    assert_true(behind <= old);
    c->drop_to[3] = false;
    raft_tick(tc_node(c, 1)->r);
    tc_settle(c);
    /* Nothing reached node 3: the old snapshot is not sent. */
    assert_int_equal(tc_status(c, 3).hs.commit, behind);
    assert_int_equal(tc_status(c, 3).first_index, 1);
    assert_int_equal(raft_storage_mem_create_snapshot(st, applied, &cs, "NEW", 3), 0);
    raft_tick(tc_node(c, 1)->r);
    tc_settle(c);
    check_snapshot_restored(c, applied);
    tc_free(c);
}

/* Paper 5.3: a rejection carries a hint that skips a whole term. */
static void test_rejection_hint(void **state)
{
    (void)state;
    uint64_t lead[7] = {1, 1, 1, 4, 4, 4, 4}, fol[11] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3};
    struct tc *c = tc_new(2);
    tc_replace(c, 1, tc_node_with_log(1, 2, lead, 7, 5, false, false));
    tc_replace(c, 2, tc_node_with_log(2, 2, fol, 11, 5, false, false));
    tc_campaign(c, 1);
    assert_int_equal(tc_status(c, 1).ss.state, RAFT_LEADER);
    assert_true(tc_logs_equal(c, 1, 2));
    tc_free(c);
    /* Directly: follower rejects APP(index 10, term 4) with hint (3, 1)... */
    struct tc *d = tc_new(2);
    tc_replace(d, 2, tc_node_with_log(2, 2, fol, 11, 5, false, false));
    struct raft_message app = {
        .type = RAFT_MSG_APP, .from = 1, .to = 2, .term = 6, .index = 10, .log_term = 4};
    assert_int_equal(raft_step(tc_node(d, 2)->r, &app), 0);
    struct raft_ready rd;
    assert_int_equal(raft_ready(tc_node(d, 2)->r, &rd), 0);
    assert_int_equal(rd.n_messages, 1);
    assert_true(rd.messages[0].reject);
    assert_int_equal(rd.messages[0].reject_hint, 10);
    assert_int_equal(rd.messages[0].log_term, 3);
    raft_advance(tc_node(d, 2)->r, &rd);
    tc_free(d);
}

/* Local message types are refused by raft_step; Ready owns its memory. */
static void test_api_contract(void **state)
{
    (void)state;
    struct tc *c = tc_new(3);
    struct raft_message m = {.type = RAFT_MSG_HUP, .from = 2};
    assert_int_equal(raft_step(tc_node(c, 1)->r, &m), RAFT_ESTEPLOCAL);
    struct raft_ready rd;
    assert_int_equal(raft_advance(tc_node(c, 1)->r, &rd), RAFT_ENOTREADY);
    raft_campaign(tc_node(c, 1)->r);
    assert_true(raft_has_ready(tc_node(c, 1)->r));
    assert_int_equal(raft_ready(tc_node(c, 1)->r, &rd), 0);
    struct raft_ready rd2;
    assert_int_equal(raft_ready(tc_node(c, 1)->r, &rd2), RAFT_EINVAL);
    /* Stepping between ready and advance leaves the Ready intact. */
    struct raft_message resp = {.type = RAFT_MSG_VOTE_RESP, .from = 2, .to = 1, .term = 1};
    assert_int_equal(raft_step(tc_node(c, 1)->r, &resp), 0);
    assert_int_equal(rd.n_messages, 2);
    assert_int_equal(rd.messages[0].type, RAFT_MSG_VOTE);
    assert_int_equal(raft_advance(tc_node(c, 1)->r, &rd), 0);
    assert_int_equal(tc_status(c, 1).ss.state, RAFT_LEADER);
    assert_string_equal(raft_strerror(RAFT_ENOLEADER), "no leader");
    tc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_node),
        cmocka_unit_test(test_election_by_timeout),
        cmocka_unit_test(test_vote_refused_to_shorter_log),
        cmocka_unit_test(test_one_vote_per_term),
        cmocka_unit_test(test_prevote_keeps_term),
        cmocka_unit_test(test_check_quorum_steps_down),
        cmocka_unit_test(test_lease_ignores_disruptive_vote),
        cmocka_unit_test(test_figure7),
        cmocka_unit_test(test_figure8_no_commit_of_old_term),
        cmocka_unit_test(test_proposal_forwarding),
        cmocka_unit_test(test_read_index),
        cmocka_unit_test(test_read_index_waits_for_term_commit),
        cmocka_unit_test(test_leader_transfer),
        cmocka_unit_test(test_membership),
        cmocka_unit_test(test_joint_consensus),
        cmocka_unit_test(test_one_conf_change_at_a_time),
        cmocka_unit_test(test_candidate_removed_mid_election),
        cmocka_unit_test(test_commit_hint_in_vote_refusal),
        cmocka_unit_test(test_candidate_needs_projected_configuration),
        cmocka_unit_test(test_trimmed_log_waits_for_snapshot),
        cmocka_unit_test(test_snapshot_catch_up),
        cmocka_unit_test(test_rejection_hint),
        cmocka_unit_test(test_api_contract),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
