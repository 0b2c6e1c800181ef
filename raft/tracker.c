/* raft/tracker.c - the configuration in force, the progress of every
 * member, and the quorum rules. In a joint configuration (thesis 4.3)
 * decisions need a majority of both the incoming and the outgoing voters. */
#include "raft/raft_int.h"

int raft_tracker_init(struct raft_tracker *t, size_t max_inflight)
{
    memset(t, 0, sizeof(*t));
    t->max_inflight = max_inflight ? max_inflight : 256;
    return 0;
}

static void free_prs(struct raft_progress *prs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(prs[i].ins.buf);
    free(prs);
}

void raft_tracker_close(struct raft_tracker *t)
{
    free_prs(t->prs, t->n_prs);
    free(t->votes);
    raft_conf_state_free(&t->conf);
    memset(t, 0, sizeof(*t));
}

struct raft_progress *raft_tracker_get(struct raft_tracker *t, uint64_t id)
{
    for (size_t i = 0; i < t->n_prs; i++)
        if (t->prs[i].id == id)
            return &t->prs[i];
    return NULL;
}

bool raft_tracker_is_voter(const struct raft_tracker *t, uint64_t id)
{
    return raft_ids_contains(t->conf.voters, t->conf.n_voters, id) ||
           raft_ids_contains(t->conf.voters_outgoing, t->conf.n_voters_outgoing, id);
}

bool raft_tracker_is_joint(const struct raft_tracker *t)
{
    return t->conf.n_voters_outgoing > 0;
}

static bool in_conf(const struct raft_conf_state *cs, uint64_t id)
{
    return raft_ids_contains(cs->voters, cs->n_voters, id) ||
           raft_ids_contains(cs->voters_outgoing, cs->n_voters_outgoing, id) ||
           raft_ids_contains(cs->learners, cs->n_learners, id);
}

int raft_tracker_set_conf(struct raft_tracker *t, const struct raft_conf_state *cs,
                          uint64_t next_index)
{
    struct raft_conf_state c;
    if (raft_conf_state_copy(&c, cs))
        return RAFT_ENOMEM;
    size_t n = cs->n_voters + cs->n_voters_outgoing + cs->n_learners;
    struct raft_progress *prs = calloc(n ? n : 1, sizeof(*prs));
    if (!prs) {
        raft_conf_state_free(&c);
        return RAFT_ENOMEM;
    }
    size_t k = 0;
    const uint64_t *lists[3] = {cs->voters, cs->voters_outgoing, cs->learners};
    size_t counts[3] = {cs->n_voters, cs->n_voters_outgoing, cs->n_learners};
    for (int li = 0; li < 3; li++) {
        for (size_t i = 0; i < counts[li]; i++) {
            uint64_t id = lists[li][i];
            bool dup = false;
            for (size_t j = 0; j < k; j++)
                dup |= prs[j].id == id;
            if (dup)
                continue;
            struct raft_progress *old = raft_tracker_get(t, id);
            if (old) {
                prs[k] = *old; /* its window moves over on success */
            } else {
                prs[k].id = id;
                prs[k].ins.size = t->max_inflight;
                prs[k].ins.buf = calloc(t->max_inflight, sizeof(uint64_t));
                if (!prs[k].ins.buf) {
                    for (size_t j = 0; j < k; j++)
                        if (!raft_tracker_get(t, prs[j].id))
                            free(prs[j].ins.buf);
                    free(prs);
                    raft_conf_state_free(&c);
                    return RAFT_ENOMEM;
                }
                raft_progress_reset(&prs[k], next_index);
                /* A new member counts as active so that check-quorum does
                 * not depose the leader before it has heard from it. */
                prs[k].recent_active = true;
            }
            prs[k].is_learner = !raft_ids_contains(cs->voters, cs->n_voters, id) &&
                                !raft_ids_contains(cs->voters_outgoing, cs->n_voters_outgoing, id);
            k++;
        }
    }
    for (size_t i = 0; i < t->n_prs; i++)
        if (in_conf(cs, t->prs[i].id))
            t->prs[i].ins.buf = NULL; /* moved to the new array */
    free_prs(t->prs, t->n_prs);
    t->prs = prs;
    t->n_prs = k;
    raft_conf_state_free(&t->conf);
    t->conf = c;
    return 0;
}

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Highest index replicated on a majority of `ids` (paper 5.3/5.4.2). */
static uint64_t majority_committed(const struct raft_tracker *t, const uint64_t *ids, size_t n)
{
    if (n == 0)
        return UINT64_MAX; /* an empty half never restricts */
    uint64_t stack[16], *m = n <= 16 ? stack : malloc(n * sizeof(uint64_t));
    if (!m)
        return 0; /* no progress is safe */
    for (size_t i = 0; i < n; i++) {
        m[i] = 0;
        for (size_t j = 0; j < t->n_prs; j++)
            if (t->prs[j].id == ids[i])
                m[i] = t->prs[j].match;
    }
    qsort(m, n, sizeof(uint64_t), cmp_desc);
    uint64_t r = m[n / 2];
    if (m != stack)
        free(m);
    return r;
}

uint64_t raft_tracker_committed(const struct raft_tracker *t)
{
    uint64_t a = majority_committed(t, t->conf.voters, t->conf.n_voters);
    uint64_t b = majority_committed(t, t->conf.voters_outgoing, t->conf.n_voters_outgoing);
    uint64_t c = a < b ? a : b;
    return c == UINT64_MAX ? 0 : c;
}

void raft_tracker_reset_votes(struct raft_tracker *t)
{
    t->n_votes = 0;
}

int raft_tracker_record_vote(struct raft_tracker *t, uint64_t id, bool granted)
{
    for (size_t i = 0; i < t->n_votes; i++)
        if (t->votes[i].id == id)
            return 0; /* the first answer counts */
    struct raft_vote *v = realloc(t->votes, (t->n_votes + 1) * sizeof(*v));
    if (!v)
        return RAFT_ENOMEM;
    t->votes = v;
    v[t->n_votes++] = (struct raft_vote){id, granted};
    return 0;
}

static enum raft_vote_result half_result(const struct raft_tracker *t, const uint64_t *ids,
                                         size_t n)
{
    if (n == 0)
        return RAFT_VOTE_WON;
    size_t yes = 0, missing = 0;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < t->n_votes; j++) {
            if (t->votes[j].id == ids[i]) {
                found = true;
                yes += t->votes[j].granted;
            }
        }
        missing += !found;
    }
    size_t q = n / 2 + 1;
    if (yes >= q)
        return RAFT_VOTE_WON;
    if (yes + missing >= q)
        return RAFT_VOTE_PENDING;
    return RAFT_VOTE_LOST;
}

static enum raft_vote_result joint_result(enum raft_vote_result a, enum raft_vote_result b)
{
    if (a == RAFT_VOTE_LOST || b == RAFT_VOTE_LOST)
        return RAFT_VOTE_LOST;
    if (a == RAFT_VOTE_WON && b == RAFT_VOTE_WON)
        return RAFT_VOTE_WON;
    return RAFT_VOTE_PENDING;
}

enum raft_vote_result raft_tracker_tally(const struct raft_tracker *t)
{
    return joint_result(half_result(t, t->conf.voters, t->conf.n_voters),
                        half_result(t, t->conf.voters_outgoing, t->conf.n_voters_outgoing));
}

enum raft_vote_result raft_tracker_tally_conf(const struct raft_tracker *t,
                                              const struct raft_conf_state *c)
{
    return joint_result(half_result(t, c->voters, c->n_voters),
                        half_result(t, c->voters_outgoing, c->n_voters_outgoing));
}

static size_t count_in(const uint64_t *ids, size_t n, const uint64_t *acks, size_t na)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += raft_ids_contains(acks, na, ids[i]);
    return c;
}

enum raft_vote_result raft_tracker_acks(const struct raft_tracker *t, const uint64_t *acks,
                                        size_t na)
{
    const struct raft_conf_state *c = &t->conf;
    bool a = c->n_voters == 0 || count_in(c->voters, c->n_voters, acks, na) >= c->n_voters / 2 + 1;
    bool b = c->n_voters_outgoing == 0 || count_in(c->voters_outgoing, c->n_voters_outgoing, acks,
                                                   na) >= c->n_voters_outgoing / 2 + 1;
    return a && b ? RAFT_VOTE_WON : RAFT_VOTE_PENDING;
}

/* CheckQuorum (thesis 6.2): did a quorum talk to the leader recently? */
bool raft_tracker_quorum_active(const struct raft_tracker *t, uint64_t self)
{
    uint64_t stack[16] = {0}, *acks = t->n_prs <= 16 ? stack : malloc(t->n_prs * sizeof(uint64_t));
    if (!acks)
        return true; /* keep leading rather than fail on ENOMEM */
    size_t n = 0;
    for (size_t i = 0; i < t->n_prs; i++)
        if (t->prs[i].id == self || t->prs[i].recent_active)
            acks[n++] = t->prs[i].id;
    bool ok = raft_tracker_acks(t, acks, n) == RAFT_VOTE_WON;
    if (acks != stack)
        free(acks);
    return ok;
}
