/* tests/raft/cluster.h - a tiny synchronous cluster for the unit tests:
 * nodes with in-memory storage, a message queue, and helpers that persist,
 * deliver and apply like a real server would. Header-only for the tests. */
#ifndef METCD_TESTS_RAFT_CLUSTER_H
#define METCD_TESTS_RAFT_CLUSTER_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"
#include "raft/raft_int.h"

#define TC_MAX 8

struct tc_node {
    struct raft *r;
    struct raft_storage_mem *st;
    uint64_t applied_n;             /* count of applied entries */
    struct raft_entry applied[256]; /* term/index/type only, data copied */
    struct raft_read_state reads[16];
    size_t n_reads;
};

struct tc {
    int n;
    struct tc_node nodes[TC_MAX];
    struct raft_message *q; /* pending messages (owned) */
    size_t nq, capq;
    bool drop_to[TC_MAX + 1];   /* messages to id are lost */
    bool drop_from[TC_MAX + 1]; /* messages from id are lost */
    bool drop_type[RAFT_MSG_TYPE_COUNT];
};

static inline struct raft_config tc_config(uint64_t id, struct raft_storage_mem *st)
{
    struct raft_config c = {
        .id = id,
        .election_tick = 10,
        .heartbeat_tick = 1,
        .storage = raft_storage_mem_iface(st),
        .max_size_per_msg = UINT64_MAX,
        .max_inflight_msgs = 256,
        .seed = id * 7919,
    };
    return c;
}

/* n voters with ids 1..n, plus `learners` learner ids n+1.. */
static inline struct tc *tc_new_opts(int n, int learners, bool pre_vote, bool check_quorum)
{
    struct tc *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->n = n + learners;
    uint64_t voters[TC_MAX], lrn[TC_MAX];
    for (int i = 0; i < n; i++)
        voters[i] = (uint64_t)i + 1;
    for (int i = 0; i < learners; i++)
        lrn[i] = (uint64_t)(n + i) + 1;
    struct raft_conf_state cs = {
        .voters = voters, .n_voters = (size_t)n, .learners = lrn, .n_learners = (size_t)learners};
    for (int i = 0; i < c->n; i++) {
        struct tc_node *nd = &c->nodes[i];
        nd->st = raft_storage_mem_new();
        assert_int_equal(raft_storage_mem_set_conf_state(nd->st, &cs), 0);
        struct raft_config cfg = tc_config((uint64_t)i + 1, nd->st);
        cfg.pre_vote = pre_vote;
        cfg.check_quorum = check_quorum;
        assert_int_equal(raft_new(&cfg, &nd->r), 0);
    }
    return c;
}

static inline struct tc *tc_new(int n)
{
    return tc_new_opts(n, 0, false, false);
}

static inline struct tc_node *tc_node(struct tc *c, uint64_t id)
{
    return &c->nodes[id - 1];
}

static inline void tc_push(struct tc *c, const struct raft_message *m)
{
    if (c->nq == c->capq) {
        c->capq = c->capq ? c->capq * 2 : 64;
        c->q = realloc(c->q, c->capq * sizeof(*c->q));
        assert_non_null(c->q);
    }
    /* Deep copy through the codec, as the wire would. */
    struct raft_buf b = {0};
    assert_int_equal(raft_encode_message(&b, m), 0);
    assert_int_equal(raft_decode_message(b.data, b.len, &c->q[c->nq]), 0);
    raft_buf_free(&b);
    c->nq++;
}

/* Persist, queue messages, apply, advance: until the node is quiet. */
static inline void tc_ready(struct tc *c, uint64_t id)
{
    struct tc_node *nd = tc_node(c, id);
    while (nd->r && raft_has_ready(nd->r)) {
        struct raft_ready rd;
        assert_int_equal(raft_ready(nd->r, &rd), 0);
        if (rd.has_snapshot)
            assert_int_equal(raft_storage_mem_apply_snapshot(nd->st, &rd.snapshot), 0);
        assert_int_equal(raft_storage_mem_append(nd->st, rd.entries, rd.n_entries), 0);
        if (rd.has_hard_state)
            raft_storage_mem_set_hard_state(nd->st, &rd.hard_state);
        for (size_t i = 0; i < rd.n_messages; i++)
            tc_push(c, &rd.messages[i]);
        for (size_t i = 0; i < rd.n_committed; i++) {
            struct raft_entry *e = &rd.committed[i];
            if (nd->applied_n < 256) {
                struct raft_entry *a = &nd->applied[nd->applied_n];
                *a = *e;
                a->data = e->len ? malloc(e->len) : NULL;
                if (e->len)
                    memcpy(a->data, e->data, e->len);
            }
            nd->applied_n++;
            if (e->type == RAFT_ENTRY_CONF_CHANGE) {
                struct raft_conf_change cc;
                assert_int_equal(raft_decode_conf_change(e->data, e->len, &cc), 0);
                raft_apply_conf_change(nd->r, &cc, NULL);
                raft_conf_change_free(&cc);
            }
        }
        for (size_t i = 0; i < rd.n_read_states && nd->n_reads < 16; i++) {
            nd->reads[nd->n_reads] = rd.read_states[i];
            nd->reads[nd->n_reads].context = malloc(rd.read_states[i].context_len);
            memcpy(nd->reads[nd->n_reads].context, rd.read_states[i].context,
                   rd.read_states[i].context_len);
            nd->n_reads++;
        }
        raft_advance(nd->r, &rd);
    }
}

static inline void tc_ready_all(struct tc *c)
{
    for (int i = 0; i < c->n; i++)
        tc_ready(c, (uint64_t)i + 1);
}

/* Delivers queued messages (FIFO) until none is left. */
static inline void tc_settle(struct tc *c)
{
    tc_ready_all(c);
    for (int rounds = 0; c->nq > 0 && rounds < 100000; rounds++) {
        struct raft_message m = c->q[0];
        memmove(c->q, c->q + 1, (c->nq - 1) * sizeof(*c->q));
        c->nq--;
        bool lost = m.to == 0 || m.to > (uint64_t)c->n || c->drop_to[m.to] ||
                    c->drop_from[m.from] || c->drop_type[m.type] || !tc_node(c, m.to)->r;
        if (!lost) {
            raft_step(tc_node(c, m.to)->r, &m);
            tc_ready(c, m.to);
        }
        raft_message_free(&m);
    }
}

static inline void tc_drop_queue(struct tc *c)
{
    for (size_t i = 0; i < c->nq; i++)
        raft_message_free(&c->q[i]);
    c->nq = 0;
}

/* Ticks node id until it has campaigned (or n ticks). */
static inline void tc_campaign(struct tc *c, uint64_t id)
{
    assert_int_equal(raft_campaign(tc_node(c, id)->r), 0);
    tc_settle(c);
}

static inline struct raft_status tc_status(struct tc *c, uint64_t id)
{
    struct raft_status st;
    raft_get_status(tc_node(c, id)->r, &st);
    return st;
}

static inline void tc_free(struct tc *c)
{
    tc_drop_queue(c);
    free(c->q);
    for (int i = 0; i < c->n; i++) {
        struct tc_node *nd = &c->nodes[i];
        raft_free(nd->r);
        raft_storage_mem_free(nd->st);
        for (uint64_t k = 0; k < nd->applied_n && k < 256; k++)
            free(nd->applied[k].data);
        for (size_t k = 0; k < nd->n_reads; k++)
            free(nd->reads[k].context);
    }
    free(c);
}

/* Builds a node whose storage holds entries with the given terms at
 * indexes 1..n, and hard state term `term`. */
static inline struct tc_node tc_node_with_log(uint64_t id, int nvoters, const uint64_t *terms,
                                              size_t n, uint64_t term, bool pre_vote,
                                              bool check_quorum)
{
    struct tc_node nd = {0};
    nd.st = raft_storage_mem_new();
    uint64_t voters[TC_MAX];
    for (int i = 0; i < nvoters; i++)
        voters[i] = (uint64_t)i + 1;
    struct raft_conf_state cs = {.voters = voters, .n_voters = (size_t)nvoters};
    raft_storage_mem_set_conf_state(nd.st, &cs);
    for (size_t i = 0; i < n; i++) {
        struct raft_entry e = {.term = terms[i], .index = i + 1};
        raft_storage_mem_append(nd.st, &e, 1);
    }
    struct raft_hard_state hs = {.term = term};
    raft_storage_mem_set_hard_state(nd.st, &hs);
    struct raft_config cfg = tc_config(id, nd.st);
    cfg.pre_vote = pre_vote;
    cfg.check_quorum = check_quorum;
    assert_int_equal(raft_new(&cfg, &nd.r), 0);
    return nd;
}

/* Replaces node id of c by nd (freeing the old one). */
static inline void tc_replace(struct tc *c, uint64_t id, struct tc_node nd)
{
    struct tc_node *old = tc_node(c, id);
    raft_free(old->r);
    raft_storage_mem_free(old->st);
    *old = nd;
}

static inline bool tc_logs_equal(struct tc *c, uint64_t a, uint64_t b)
{
    struct raft_status sa = tc_status(c, a), sb = tc_status(c, b);
    if (sa.last_index != sb.last_index)
        return false;
    for (uint64_t i = 1; i <= sa.last_index; i++)
        if (raft_log_term_at(tc_node(c, a)->r, i) != raft_log_term_at(tc_node(c, b)->r, i))
            return false;
    return true;
}

#endif
