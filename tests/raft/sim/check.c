/* tests/raft/sim/check.c - the safety properties of Raft (paper figure 3),
 * checked against the whole history of a simulated cluster. */
#include "tests/raft/sim/sim.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void sim_fail(struct sim *s, const char *fmt, ...)
{
    if (s->failed)
        return;
    s->failed = true;
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(s->failure, sizeof(s->failure), "tick %llu: ", (unsigned long long)s->now);
    vsnprintf(s->failure + n, sizeof(s->failure) - (size_t)n, fmt, ap);
    va_end(ap);
    if (s->trace)
        printf("!! %s\n", s->failure);
}

struct sim_index_rec *sim_rec(struct sim *s, uint64_t i)
{
    if (i >= s->cap_idx) {
        size_t cap = s->cap_idx ? s->cap_idx : 256;
        while (cap <= i)
            cap *= 2;
        struct sim_index_rec *a = realloc(s->idx, cap * sizeof(*a));
        if (!a)
            abort();
        memset(a + s->cap_idx, 0, (cap - s->cap_idx) * sizeof(*a));
        s->idx = a;
        s->cap_idx = cap;
    }
    return &s->idx[i];
}

uint64_t sim_hash_entry(const struct raft_entry *e)
{
    uint64_t h = 1469598103934665603ull ^ e->type;
    const uint8_t *p = e->data;
    for (size_t i = 0; i < e->len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static size_t lm_slot(struct sim *s, uint64_t index, uint64_t term)
{
    uint64_t h = (index * 0x9E3779B97F4A7C15ull) ^ (term * 0xC2B2AE3D27D4EB4Full);
    size_t mask = s->cap_lm - 1, i = (size_t)(h ^ (h >> 29)) & mask;
    while (s->lm[i].index != 0 && (s->lm[i].index != index || s->lm[i].term != term))
        i = (i + 1) & mask;
    return i;
}

static void lm_grow(struct sim *s)
{
    struct sim_lm *old = s->lm;
    size_t oldcap = s->cap_lm;
    s->cap_lm = oldcap ? oldcap * 2 : 1024;
    s->lm = calloc(s->cap_lm, sizeof(*s->lm));
    if (!s->lm)
        abort();
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].index)
            s->lm[lm_slot(s, old[i].index, old[i].term)] = old[i];
    free(old);
}

/* Log Matching (paper 5.3): an (index, term) pair names one entry with one
 * predecessor, whichever node holds it. By induction this makes logs that
 * share an (index, term) identical up to it. */
void sim_check_persisted(struct sim *s, struct sim_node *n, const struct raft_entry *ents,
                         size_t cnt)
{
    struct raft_storage *st = raft_storage_mem_iface(n->st);
    for (size_t k = 0; k < cnt; k++) {
        const struct raft_entry *e = &ents[k];
        uint64_t prev = 0;
        if (st->term(st->ctx, e->index - 1, &prev) != 0)
            prev = UINT64_MAX; /* compacted: unknown */
        if ((s->n_lm + 1) * 2 > s->cap_lm)
            lm_grow(s);
        size_t i = lm_slot(s, e->index, e->term);
        uint64_t h = sim_hash_entry(e);
        if (s->lm[i].index == 0) {
            s->lm[i] = (struct sim_lm){e->index, e->term, h, prev};
            s->n_lm++;
            continue;
        }
        if (s->lm[i].hash != h)
            sim_fail(s, "log matching: node %llu entry %llu/%llu differs from another node's",
                     (unsigned long long)n->id, (unsigned long long)e->index,
                     (unsigned long long)e->term);
        if (prev != UINT64_MAX && s->lm[i].prev_term != UINT64_MAX && s->lm[i].prev_term != prev)
            sim_fail(s, "log matching: node %llu entry %llu/%llu follows term %llu, elsewhere %llu",
                     (unsigned long long)n->id, (unsigned long long)e->index,
                     (unsigned long long)e->term, (unsigned long long)prev,
                     (unsigned long long)s->lm[i].prev_term);
    }
}

/* State Machine Safety (paper 5.4.3): one entry per index, everywhere. */
void sim_check_applied(struct sim *s, struct sim_node *n, uint64_t index, uint64_t term,
                       uint64_t hash)
{
    struct sim_index_rec *r = sim_rec(s, index);
    if (!r->applied_set) {
        r->applied_set = true;
        r->applied_term = term;
        r->applied_hash = hash;
    } else if (r->applied_term != term || r->applied_hash != hash) {
        sim_fail(s, "state machine safety: node %llu applied %llu/%llu, another node %llu/%llu",
                 (unsigned long long)n->id, (unsigned long long)index, (unsigned long long)term,
                 (unsigned long long)index, (unsigned long long)r->applied_term);
    }
    if (r->committed_term && r->committed_term != term)
        sim_fail(s, "node %llu applied %llu/%llu but %llu/%llu was committed",
                 (unsigned long long)n->id, (unsigned long long)index, (unsigned long long)term,
                 (unsigned long long)index, (unsigned long long)r->committed_term);
}

void sim_check_chain(struct sim *s, uint64_t index, uint64_t chain)
{
    if (index == 0)
        return;
    struct sim_index_rec *r = sim_rec(s, index);
    if (!r->chain_set) {
        r->chain_set = true;
        r->chain = chain;
    } else if (r->chain != chain) {
        sim_fail(s, "state machines diverged at index %llu", (unsigned long long)index);
    }
}

void sim_check_node(struct sim *s, struct sim_node *n)
{
    struct raft_status st;
    raft_get_status(n->r, &st);
    /* The commit index never decreases while a node runs. */
    if (st.hs.commit < n->last_commit)
        sim_fail(s, "node %llu commit went back from %llu to %llu", (unsigned long long)n->id,
                 (unsigned long long)n->last_commit, (unsigned long long)st.hs.commit);
    /* Paper 5.4.2 (the rule figure 8 motivates): a leader advances its
     * commit index only to an entry of its own term; older entries commit
     * indirectly, with it. */
    if (st.ss.state == RAFT_LEADER && n->last_state == RAFT_LEADER && n->last_term == st.hs.term &&
        st.hs.commit > n->last_commit && raft_log_term_at(n->r, st.hs.commit) != st.hs.term)
        sim_fail(s, "commit rule: leader %llu of term %llu committed up to %llu of term %llu",
                 (unsigned long long)n->id, (unsigned long long)st.hs.term,
                 (unsigned long long)st.hs.commit,
                 (unsigned long long)raft_log_term_at(n->r, st.hs.commit));
    n->last_state = st.ss.state;
    n->last_term = st.hs.term;
    n->last_commit = st.hs.commit;
    /* Record what it considers committed; a committed index never changes
     * its entry. */
    for (uint64_t i = n->recorded_commit + 1; i <= st.hs.commit; i++) {
        uint64_t t = raft_log_term_at(n->r, i);
        if (t == 0)
            continue; /* compacted here: its entry was checked when applied */
        struct sim_index_rec *r = sim_rec(s, i);
        if (r->committed_term == 0) {
            r->committed_term = t;
            r->commit_obs_term = st.hs.term;
            s->stats.commits++;
        } else if (r->committed_term != t) {
            sim_fail(s, "node %llu committed %llu/%llu but %llu/%llu was committed before",
                     (unsigned long long)n->id, (unsigned long long)i, (unsigned long long)t,
                     (unsigned long long)i, (unsigned long long)r->committed_term);
        } else if (st.hs.term < r->commit_obs_term) {
            r->commit_obs_term = st.hs.term;
        }
    }
    if (st.hs.commit > n->recorded_commit)
        n->recorded_commit = st.hs.commit;
    if (st.hs.commit > s->max_commit)
        s->max_commit = st.hs.commit;
    if (st.ss.state != RAFT_LEADER)
        return;
    /* Election Safety (paper 5.2): at most one leader per term. */
    uint64_t term = st.hs.term;
    if (term >= s->cap_terms) {
        size_t cap = s->cap_terms ? s->cap_terms : 64;
        while (cap <= term)
            cap *= 2;
        uint64_t *a = realloc(s->leader_of_term, cap * sizeof(*a));
        if (!a)
            abort();
        memset(a + s->cap_terms, 0, (cap - s->cap_terms) * sizeof(*a));
        s->leader_of_term = a;
        s->cap_terms = cap;
    }
    if (s->leader_of_term[term] == 0) {
        s->leader_of_term[term] = n->id;
        s->stats.elections++;
    } else if (s->leader_of_term[term] != n->id) {
        sim_fail(s, "election safety: nodes %llu and %llu both lead term %llu",
                 (unsigned long long)s->leader_of_term[term], (unsigned long long)n->id,
                 (unsigned long long)term);
    }
    /* Leader Completeness (paper 5.4): everything committed in an earlier
     * term is in this leader's log. */
    if (n->verified_term != term) {
        n->verified_term = term;
        n->verified_upto = 0;
    }
    for (uint64_t i = n->verified_upto + 1; i <= s->max_commit; i++) {
        struct sim_index_rec *r = sim_rec(s, i);
        if (r->committed_term == 0) {
            n->verified_upto = i;
            continue;
        }
        if (r->commit_obs_term >= term)
            break;
        if (i + 1 >= st.first_index) {
            uint64_t t = raft_log_term_at(n->r, i);
            if (t != r->committed_term) {
                sim_fail(s,
                         "leader completeness: leader %llu of term %llu has %llu/%llu, "
                         "committed %llu/%llu in term %llu",
                         (unsigned long long)n->id, (unsigned long long)term, (unsigned long long)i,
                         (unsigned long long)t, (unsigned long long)i,
                         (unsigned long long)r->committed_term,
                         (unsigned long long)r->commit_obs_term);
                return;
            }
        }
        n->verified_upto = i;
    }
}

void sim_check_all(struct sim *s)
{
    for (int k = 0; k < s->n_all; k++)
        if (s->nodes[k].up)
            sim_check_node(s, &s->nodes[k]);
}

/* No committed entry is lost across restarts: what the node persisted as
 * committed is still the committed entry. */
void sim_check_restart(struct sim *s, struct sim_node *n)
{
    struct raft_hard_state hs;
    raft_storage_mem_hard_state(n->st, &hs);
    struct raft_storage *st = raft_storage_mem_iface(n->st);
    uint64_t first = 0;
    st->first_index(st->ctx, &first);
    for (uint64_t i = first; i <= hs.commit; i++) {
        uint64_t t;
        if (st->term(st->ctx, i, &t) != 0) {
            sim_fail(s, "node %llu restarted without committed entry %llu",
                     (unsigned long long)n->id, (unsigned long long)i);
            return;
        }
        struct sim_index_rec *r = sim_rec(s, i);
        if (r->committed_term && r->committed_term != t)
            sim_fail(s, "node %llu restarted with %llu/%llu, committed %llu/%llu",
                     (unsigned long long)n->id, (unsigned long long)i, (unsigned long long)t,
                     (unsigned long long)i, (unsigned long long)r->committed_term);
    }
}

/* ReadIndex (thesis 6.4): the read point covers every entry committed
 * before the request was made. */
void sim_check_read(struct sim *s, struct sim_node *n, const struct raft_read_state *rs)
{
    if (rs->context_len != 8)
        return sim_fail(s, "node %llu: read state with a foreign context",
                        (unsigned long long)n->id);
    uint64_t id;
    memcpy(&id, rs->context, 8);
    if (id >= s->n_reads)
        return sim_fail(s, "node %llu: read state for unknown request", (unsigned long long)n->id);
    s->stats.reads++;
    if (rs->index < s->read_floor[id])
        sim_fail(s, "linearizability: read %llu answered at %llu, but %llu was committed before",
                 (unsigned long long)id, (unsigned long long)rs->index,
                 (unsigned long long)s->read_floor[id]);
}

void sim_check_free(struct sim *s)
{
    free(s->idx);
    free(s->leader_of_term);
    free(s->lm);
    free(s->read_floor);
}
