/* tests/raft/sim/sim.c - one simulated cluster run: nodes driven through
 * the Ready/advance loop, a network that loses, delays, reorders and
 * duplicates messages and can be partitioned (both ways or one way),
 * crashes and restarts that keep only persisted state, membership changes,
 * leader transfers, compaction and snapshots. Everything is decided by one
 * seeded PRNG, so a seed replays exactly. */
#include "tests/raft/sim/sim.h"

#include <stdlib.h>
#include <string.h>

#define ELECTION_TICK    10
#define CHAOS_TICKS      400
#define HEAL_LIMIT_TICKS 500

/* Set to true to apply and send before persisting (a deliberate bug the
 * checks must catch; see README of the simulator). */
#ifndef SIM_APPLY_BEFORE_PERSIST
#define SIM_APPLY_BEFORE_PERSIST 0
#endif

uint64_t sim_rand(struct sim_rng *g)
{
    uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t sim_below(struct sim_rng *g, uint64_t n)
{
    return n ? sim_rand(g) % n : 0;
}

bool sim_one_in(struct sim_rng *g, uint64_t n)
{
    return sim_below(g, n) == 0;
}

#define TRACE(s, ...)                                                                              \
    do {                                                                                           \
        if ((s)->trace) {                                                                          \
            printf("%5llu ", (unsigned long long)(s)->now);                                        \
            printf(__VA_ARGS__);                                                                   \
            putchar('\n');                                                                         \
        }                                                                                          \
    } while (0)

static struct sim_node *node(struct sim *s, uint64_t id)
{
    if (id == 0 || id > (uint64_t)s->n_all)
        return NULL;
    return &s->nodes[id - 1];
}

/* ---- the state machine: a hash chain, snapshotted as (index, chain) ---- */

static uint64_t mix(uint64_t h, uint64_t a, uint64_t b)
{
    h ^= a + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h ^= b + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h * 0xFF51AFD7ED558CCDull;
}

static bool conf_has(const struct raft_conf_state *c, uint64_t id)
{
    for (size_t i = 0; i < c->n_voters; i++)
        if (c->voters[i] == id)
            return true;
    for (size_t i = 0; i < c->n_voters_outgoing; i++)
        if (c->voters_outgoing[i] == id)
            return true;
    for (size_t i = 0; i < c->n_learners; i++)
        if (c->learners[i] == id)
            return true;
    return false;
}

/* Takes ownership of *next. */
static void set_conf(struct sim *s, struct sim_node *n, struct raft_conf_state *next)
{
    /* A member removed by a configuration that took effect is retired for
     * good, as in etcd, where member IDs are never reused. */
    const uint64_t *lists[3] = {n->conf.voters, n->conf.voters_outgoing, n->conf.learners};
    size_t counts[3] = {n->conf.n_voters, n->conf.n_voters_outgoing, n->conf.n_learners};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < counts[l]; i++)
            if (!conf_has(next, lists[l][i]) && lists[l][i] <= SIM_MAX_NODES)
                s->retired[lists[l][i]] = true;
    raft_conf_state_free(&n->conf);
    n->conf = *next;
}

static void app_restore(struct sim *s, struct sim_node *n, const struct raft_snapshot *snap)
{
    uint64_t v[2] = {0, 0};
    if (snap->len == sizeof(v))
        memcpy(v, snap->data, sizeof(v));
    else if (snap->meta.index != 0)
        sim_fail(s, "node %llu: snapshot without state", (unsigned long long)n->id);
    if (v[0] != snap->meta.index)
        sim_fail(s, "node %llu: snapshot state at %llu, metadata %llu", (unsigned long long)n->id,
                 (unsigned long long)v[0], (unsigned long long)snap->meta.index);
    n->applied = snap->meta.index;
    n->chain = v[1];
    sim_check_chain(s, n->applied, n->chain);
    struct raft_conf_state c;
    if (raft_conf_state_copy(&c, &snap->meta.conf))
        abort();
    set_conf(s, n, &c);
}

static void apply_entry(struct sim *s, struct sim_node *n, const struct raft_entry *e)
{
    if (e->index != n->applied + 1) {
        sim_fail(s, "node %llu applied %llu after %llu", (unsigned long long)n->id,
                 (unsigned long long)e->index, (unsigned long long)n->applied);
        return;
    }
    uint64_t h = sim_hash_entry(e);
    sim_check_applied(s, n, e->index, e->term, h);
    n->applied = e->index;
    n->chain = mix(n->chain, e->term, h);
    sim_check_chain(s, n->applied, n->chain);
    if (e->type != RAFT_ENTRY_CONF_CHANGE)
        return;
    struct raft_conf_change cc;
    if (raft_decode_conf_change(e->data, e->len, &cc) != 0) {
        sim_fail(s, "node %llu: undecodable conf change at %llu", (unsigned long long)n->id,
                 (unsigned long long)e->index);
        return;
    }
    struct raft_conf_state out;
    int rc = raft_apply_conf_change(n->r, &cc, &out);
    if (rc == 0) {
        set_conf(s, n, &out);
        TRACE(s, "node %llu applies conf change at %llu: %zu voters, %zu outgoing, %zu learners",
              (unsigned long long)n->id, (unsigned long long)e->index, n->conf.n_voters,
              n->conf.n_voters_outgoing, n->conf.n_learners);
    } else if (rc != RAFT_ECONFCHANGE) {
        sim_fail(s, "node %llu: apply conf change: %s", (unsigned long long)n->id,
                 raft_strerror(rc));
    }
    raft_conf_change_free(&cc);
}

/* ---- network ---- */

static void net_push(struct sim *s, const struct raft_message *m)
{
    struct raft_buf b = {0};
    if (raft_encode_message(&b, m) != 0)
        abort();
    if (s->n_net == s->cap_net) {
        s->cap_net = s->cap_net ? s->cap_net * 2 : 64;
        s->net = realloc(s->net, s->cap_net * sizeof(*s->net));
        if (!s->net)
            abort();
    }
    uint64_t delay = 1 + sim_below(&s->rng, s->max_delay);
    s->net[s->n_net++] = (struct sim_msg){b.data, b.len, m->from, m->to, m->type, s->now + delay};
}

static void report_snapshot(struct sim *s, uint64_t from, uint64_t to, bool failed)
{
    struct sim_node *f = node(s, from);
    if (f && f->up)
        raft_report_snapshot(f->r, to, failed);
}

static void crash(struct sim *s, struct sim_node *n)
{
    TRACE(s, "node %llu crashes", (unsigned long long)n->id);
    raft_free(n->r);
    n->r = NULL;
    n->up = false;
    s->stats.faults++;
}

static void send_all(struct sim *s, struct sim_node *n, struct raft_ready *rd)
{
    for (size_t i = 0; i < rd->n_messages; i++) {
        const struct raft_message *m = &rd->messages[i];
        if (m->from != n->id && m->type != RAFT_MSG_PROP && m->type != RAFT_MSG_TRANSFER_LEADER &&
            m->type != RAFT_MSG_READ_INDEX)
            sim_fail(s, "node %llu sent %s from %llu", (unsigned long long)n->id,
                     raft_msg_type_name(m->type), (unsigned long long)m->from);
        net_push(s, m);
    }
}

static void persist(struct sim *s, struct sim_node *n, struct raft_ready *rd)
{
    if (rd->has_snapshot) {
        int rc = raft_storage_mem_apply_snapshot(n->st, &rd->snapshot);
        if (rc)
            sim_fail(s, "node %llu: persist snapshot: %s", (unsigned long long)n->id,
                     raft_strerror(rc));
    }
    if (rd->n_entries) {
        int rc = raft_storage_mem_append(n->st, rd->entries, rd->n_entries);
        if (rc)
            sim_fail(s, "node %llu: persist entries: %s", (unsigned long long)n->id,
                     raft_strerror(rc));
        sim_check_persisted(s, n, rd->entries, rd->n_entries);
    }
    if (rd->has_hard_state) {
        struct raft_hard_state old;
        raft_storage_mem_hard_state(n->st, &old);
        if (rd->hard_state.commit < old.commit)
            sim_fail(s, "node %llu persisted commit %llu below %llu", (unsigned long long)n->id,
                     (unsigned long long)rd->hard_state.commit, (unsigned long long)old.commit);
        if (rd->hard_state.term < old.term)
            sim_fail(s, "node %llu persisted term went back", (unsigned long long)n->id);
        raft_storage_mem_set_hard_state(n->st, &rd->hard_state);
    }
}

static void apply_all(struct sim *s, struct sim_node *n, struct raft_ready *rd)
{
    if (rd->has_snapshot) {
        s->stats.snapshots++;
        TRACE(s, "node %llu installs snapshot at %llu/%llu", (unsigned long long)n->id,
              (unsigned long long)rd->snapshot.meta.index,
              (unsigned long long)rd->snapshot.meta.term);
        app_restore(s, n, &rd->snapshot);
    }
    for (size_t i = 0; i < rd->n_committed && !s->failed; i++)
        apply_entry(s, n, &rd->committed[i]);
    for (size_t i = 0; i < rd->n_read_states; i++)
        sim_check_read(s, n, &rd->read_states[i]);
}

/* The node loop: persist, send, apply, advance (raft.h). A crash may
 * strike between persisting and the rest. */
static enum raft_state node_state(struct sim_node *n)
{
    struct raft_status st;
    raft_get_status(n->r, &st);
    return st.ss.state;
}

static void process_ready(struct sim *s, struct sim_node *n)
{
    int rounds = 0;
    while (n->up && raft_has_ready(n->r) && !s->failed) {
        if (++rounds > 1000) {
            sim_fail(s, "node %llu: Ready never settles", (unsigned long long)n->id);
            return;
        }
        struct raft_ready rd;
        int rc = raft_ready(n->r, &rd);
        if (rc) {
            sim_fail(s, "node %llu: ready: %s", (unsigned long long)n->id, raft_strerror(rc));
            return;
        }
        if (rd.has_soft_state)
            TRACE(s, "node %llu is %s (leader %llu)", (unsigned long long)n->id,
                  raft_state_name(rd.soft_state.state), (unsigned long long)rd.soft_state.lead);
        bool crash_mid =
            s->crash_after_persist || (s->chaos && s->storm && sim_one_in(&s->rng, 150));
        /* A leader that just learned of a commitment dies before telling
         * anyone: the commitment then survives only in the logs (paper
         * figure 8 is this case). */
        if (s->chaos && s->storm && rd.has_hard_state &&
            rd.hard_state.commit > n->persisted_commit && node_state(n) == RAFT_LEADER &&
            s->leader_kill && sim_one_in(&s->rng, s->leader_kill))
            crash_mid = true;
        /* A new leader dies with its first entry written only locally. */
        if (s->chaos && s->storm && rd.has_soft_state && rd.soft_state.state == RAFT_LEADER &&
            s->leader_kill && sim_one_in(&s->rng, s->leader_kill))
            crash_mid = true;
        if (rd.has_hard_state)
            n->persisted_commit = rd.hard_state.commit;
        if (!SIM_APPLY_BEFORE_PERSIST) {
            persist(s, n, &rd);
            sim_check_node(s, n); /* records what it now knows committed */
            if (crash_mid) {
                raft_ready_free(&rd);
                crash(s, n);
                return;
            }
            send_all(s, n, &rd);
            apply_all(s, n, &rd);
        } else {
            send_all(s, n, &rd);
            apply_all(s, n, &rd);
            if (crash_mid) {
                raft_ready_free(&rd);
                crash(s, n);
                return;
            }
            persist(s, n, &rd);
            sim_check_node(s, n);
        }
        rc = raft_advance(n->r, &rd);
        if (rc && rc != RAFT_EPROPOSALDROPPED)
            sim_fail(s, "node %llu: advance: %s", (unsigned long long)n->id, raft_strerror(rc));
    }
}

static void start_node(struct sim *s, struct sim_node *n)
{
    struct raft_snapshot snap = {0};
    struct raft_storage *st = raft_storage_mem_iface(n->st);
    if (st->snapshot(st->ctx, &snap) != 0)
        abort();
    /* The state machine restarts from the snapshot: forget the old one
     * (so that no member seems removed by going back in time). */
    raft_conf_state_free(&n->conf);
    app_restore(s, n, &snap);
    struct raft_config cfg = s->base_cfg;
    cfg.id = n->id;
    cfg.storage = st;
    cfg.applied = snap.meta.index;
    cfg.seed = sim_rand(&s->rng);
    raft_snapshot_free(&snap);
    int rc = raft_new(&cfg, &n->r);
    if (rc) {
        sim_fail(s, "node %llu: raft_new: %s", (unsigned long long)n->id, raft_strerror(rc));
        return;
    }
    struct raft_hard_state hs;
    raft_storage_mem_hard_state(n->st, &hs);
    n->up = true;
    n->last_commit = hs.commit;
    n->persisted_commit = hs.commit;
    n->last_state = RAFT_FOLLOWER;
    n->last_term = hs.term;
    n->recorded_commit = 0;
    n->verified_term = n->verified_upto = 0;
}

static void restart(struct sim *s, struct sim_node *n)
{
    TRACE(s, "node %llu restarts", (unsigned long long)n->id);
    sim_check_restart(s, n);
    start_node(s, n);
}

static void trace_msg(struct sim *s, const char *what, const struct raft_message *m)
{
    TRACE(s, "%s %s %llu->%llu term %llu index %llu logterm %llu commit %llu ents %zu%s%s", what,
          raft_msg_type_name(m->type), (unsigned long long)m->from, (unsigned long long)m->to,
          (unsigned long long)m->term, (unsigned long long)m->index,
          (unsigned long long)m->log_term, (unsigned long long)m->commit, m->n_entries,
          m->reject ? " reject" : "", m->type == RAFT_MSG_SNAP ? " (snapshot)" : "");
}

/* Like etcd's transport, which refuses traffic from removed members, the
 * network drops vote requests from retired nodes: a removed node that never
 * learned of its removal would otherwise disrupt elections forever (thesis
 * 4.2.3). Its answers still flow: a remaining member may need its refusal
 * (which carries the commit index) to learn that its removal committed. */
static bool removed(struct sim *s, uint64_t from, uint8_t type)
{
    return from <= SIM_MAX_NODES && s->retired[from] &&
           (type == RAFT_MSG_VOTE || type == RAFT_MSG_PRE_VOTE);
}

static void deliver(struct sim *s, struct sim_msg *sm)
{
    struct sim_node *to = node(s, sm->to);
    bool lost = !to || !to->up || s->cut[sm->from][sm->to] || removed(s, sm->from, sm->type);
    if (!lost && s->drop_pct && sim_below(&s->rng, 100) < s->drop_pct) {
        lost = true;
        s->stats.faults++;
    }
    if (lost) {
        if (s->trace)
            TRACE(s, "drop %s %llu->%llu", raft_msg_type_name(sm->type),
                  (unsigned long long)sm->from, (unsigned long long)sm->to);
        if (sm->type == RAFT_MSG_SNAP)
            report_snapshot(s, sm->from, sm->to, true);
        else if (sim_one_in(&s->rng, 4)) {
            struct sim_node *f = node(s, sm->from);
            if (f && f->up)
                raft_report_unreachable(f->r, sm->to);
        }
        return;
    }
    struct raft_message m;
    int rc = raft_decode_message(sm->bytes, sm->len, &m);
    if (rc) {
        sim_fail(s, "undecodable message: %s", raft_strerror(rc));
        return;
    }
    s->stats.steps++;
    if (s->trace)
        trace_msg(s, "recv", &m);
    rc = raft_step(to->r, &m);
    if (rc && rc != RAFT_ESTEPPEERNOTFOUND && rc != RAFT_ENOLEADER && rc != RAFT_EPROPOSALDROPPED)
        sim_fail(s, "node %llu: step %s: %s", (unsigned long long)to->id,
                 raft_msg_type_name(m.type), raft_strerror(rc));
    raft_message_free(&m);
    process_ready(s, to);
    if (sm->type == RAFT_MSG_SNAP)
        report_snapshot(s, sm->from, sm->to, false);
    sim_check_all(s);
}

static void deliver_due(struct sim *s)
{
    /* Due messages in random order; new ones are due at a later tick. */
    for (;;) {
        size_t due[4096], nd = 0;
        for (size_t i = 0; i < s->n_net && nd < 4096; i++)
            if (s->net[i].deliver_at <= s->now)
                due[nd++] = i;
        if (nd == 0 || s->failed)
            return;
        size_t pick = due[sim_below(&s->rng, nd)];
        struct sim_msg sm = s->net[pick];
        bool dup = s->dup_pct && sim_below(&s->rng, 100) < s->dup_pct;
        if (dup) {
            /* Deliver a copy now and keep the original for later. */
            s->stats.faults++;
            struct sim_msg c = sm;
            c.bytes = malloc(sm.len);
            memcpy(c.bytes, sm.bytes, sm.len);
            s->net[pick].deliver_at = s->now + 1 + sim_below(&s->rng, s->max_delay + 3);
            deliver(s, &c);
            free(c.bytes);
        } else {
            s->net[pick] = s->net[--s->n_net];
            deliver(s, &sm);
            free(sm.bytes);
        }
    }
}

/* ---- faults and client actions ---- */

static struct sim_node *random_up(struct sim *s)
{
    int k = (int)sim_below(&s->rng, (uint64_t)s->n_all);
    for (int i = 0; i < s->n_all; i++) {
        struct sim_node *n = &s->nodes[(k + i) % s->n_all];
        if (n->up)
            return n;
    }
    return NULL;
}

static struct sim_node *leader(struct sim *s)
{
    struct sim_node *best = NULL;
    uint64_t best_term = 0;
    for (int i = 0; i < s->n_all; i++) {
        struct sim_node *n = &s->nodes[i];
        if (!n->up)
            continue;
        struct raft_status st;
        raft_get_status(n->r, &st);
        if (st.ss.state == RAFT_LEADER && st.hs.term >= best_term) {
            best = n;
            best_term = st.hs.term;
        }
    }
    return best;
}

static void propose(struct sim *s, struct sim_node *n)
{
    char buf[48];
    int len = snprintf(buf, sizeof(buf), "v%llu-%llu", (unsigned long long)s->seed,
                       (unsigned long long)++s->proposals);
    int rc = raft_propose(n->r, buf, (size_t)len);
    TRACE(s, "node %llu propose %s: %s", (unsigned long long)n->id, buf, raft_strerror(rc));
    if (rc && rc != RAFT_ENOLEADER && rc != RAFT_EPROPOSALDROPPED)
        sim_fail(s, "propose: %s", raft_strerror(rc));
}

static void change_partition(struct sim *s)
{
    memset(s->cut, 0, sizeof(s->cut));
    s->stats.faults++;
    switch (sim_below(&s->rng, 4)) {
    case 0:
        TRACE(s, "partition healed");
        break;
    case 1: { /* symmetric split */
        uint64_t side = sim_rand(&s->rng);
        for (int a = 1; a <= s->n_all; a++)
            for (int b = 1; b <= s->n_all; b++)
                s->cut[a][b] = ((side >> a) & 1) != ((side >> b) & 1);
        TRACE(s, "partition: split %llx", (unsigned long long)(side & 0xfe));
        break;
    }
    case 2: { /* one node isolated */
        int x = 1 + (int)sim_below(&s->rng, (uint64_t)s->n_all);
        for (int b = 1; b <= s->n_all; b++)
            s->cut[x][b] = s->cut[b][x] = true;
        TRACE(s, "partition: node %d isolated", x);
        break;
    }
    default: { /* one-way cuts */
        int k = 1 + (int)sim_below(&s->rng, 4);
        for (int i = 0; i < k; i++) {
            int a = 1 + (int)sim_below(&s->rng, (uint64_t)s->n_all);
            int b = 1 + (int)sim_below(&s->rng, (uint64_t)s->n_all);
            s->cut[a][b] = true;
            TRACE(s, "partition: %d cannot reach %d", a, b);
        }
    }
    }
}

static void conf_change(struct sim *s)
{
    struct sim_node *l = leader(s);
    if (!l)
        return;
    const struct raft_conf_state *c = &l->conf;
    struct raft_conf_change_single ch[2];
    struct raft_conf_change cc = {.changes = ch};
    uint64_t x = 1 + sim_below(&s->rng, (uint64_t)s->n_all);
    if (s->retired[x])
        return;
    bool voter = false, learner = false;
    for (size_t i = 0; i < c->n_voters; i++)
        voter |= c->voters[i] == x;
    for (size_t i = 0; i < c->n_learners; i++)
        learner |= c->learners[i] == x;
    if (c->n_voters_outgoing) {
        cc.n_changes = 0; /* leave joint explicitly (auto-leave may be first) */
    } else if (voter) {
        if (c->n_voters <= 2 && !sim_one_in(&s->rng, 4))
            return; /* keep the cluster interesting */
        ch[0] = (struct raft_conf_change_single){RAFT_CC_REMOVE_NODE, x};
        cc.n_changes = 1;
    } else if (learner || sim_one_in(&s->rng, 2)) {
        ch[0] = (struct raft_conf_change_single){RAFT_CC_ADD_NODE, x};
        cc.n_changes = 1;
    } else {
        ch[0] = (struct raft_conf_change_single){RAFT_CC_ADD_LEARNER, x};
        cc.n_changes = 1;
    }
    if (cc.n_changes == 1 && sim_one_in(&s->rng, 3)) {
        /* Two voters at once, through the joint configuration. */
        uint64_t y = 1 + sim_below(&s->rng, (uint64_t)s->n_all);
        bool yv = false;
        for (size_t i = 0; i < c->n_voters; i++)
            yv |= c->voters[i] == y;
        if (y != x && (yv || !s->retired[y])) {
            ch[1] =
                (struct raft_conf_change_single){yv ? RAFT_CC_REMOVE_NODE : RAFT_CC_ADD_NODE, y};
            cc.n_changes = 2;
        }
        cc.joint = true;
    }
    int rc = raft_propose_conf_change(l->r, &cc);
    s->stats.conf_changes++;
    TRACE(s, "node %llu proposes conf change (%zu changes, first %d on %llu): %s",
          (unsigned long long)l->id, cc.n_changes, cc.n_changes ? ch[0].type : -1,
          (unsigned long long)(cc.n_changes ? ch[0].node_id : 0), raft_strerror(rc));
    if (rc && rc != RAFT_EPROPOSALDROPPED)
        sim_fail(s, "propose conf change: %s", raft_strerror(rc));
}

static void compact(struct sim *s, struct sim_node *n)
{
    struct raft_storage *st = raft_storage_mem_iface(n->st);
    uint64_t first = 0, last = 0;
    st->first_index(st->ctx, &first);
    st->last_index(st->ctx, &last);
    if (n->applied < first + 3 || n->applied > last)
        return;
    uint64_t v[2] = {n->applied, n->chain};
    int rc = raft_storage_mem_create_snapshot(n->st, n->applied, &n->conf, v, sizeof(v));
    if (rc == RAFT_ESNAPOUTOFDATE)
        return;
    if (rc) {
        sim_fail(s, "node %llu: create snapshot: %s", (unsigned long long)n->id, raft_strerror(rc));
        return;
    }
    uint64_t keep = sim_below(&s->rng, 4);
    uint64_t to = n->applied > keep ? n->applied - keep : n->applied;
    if (to > first) {
        rc = raft_storage_mem_compact(n->st, to);
        if (rc && rc != RAFT_ECOMPACTED)
            sim_fail(s, "node %llu: compact: %s", (unsigned long long)n->id, raft_strerror(rc));
    }
    TRACE(s, "node %llu snapshot at %llu, compacted to %llu", (unsigned long long)n->id,
          (unsigned long long)n->applied, (unsigned long long)to);
}

static void read_index(struct sim *s, struct sim_node *n)
{
    if (s->n_reads == s->cap_reads) {
        s->cap_reads = s->cap_reads ? s->cap_reads * 2 : 64;
        s->read_floor = realloc(s->read_floor, s->cap_reads * sizeof(uint64_t));
        if (!s->read_floor)
            abort();
    }
    uint64_t id = s->n_reads;
    s->read_floor[s->n_reads++] = s->max_commit;
    int rc = raft_read_index(n->r, &id, sizeof(id));
    TRACE(s, "node %llu read index #%llu: %s", (unsigned long long)n->id, (unsigned long long)id,
          raft_strerror(rc));
    if (rc && rc != RAFT_ENOLEADER)
        sim_fail(s, "read index: %s", raft_strerror(rc));
}

static void tick_all(struct sim *s)
{
    int order[SIM_MAX_NODES];
    for (int i = 0; i < s->n_all; i++)
        order[i] = i;
    for (int i = s->n_all - 1; i > 0; i--) {
        int j = (int)sim_below(&s->rng, (uint64_t)i + 1);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < s->n_all; i++) {
        struct sim_node *n = &s->nodes[order[i]];
        if (!n->up)
            continue;
        /* A paused node (GC, slow disk) misses ticks now and then. */
        if (s->chaos && s->storm && sim_one_in(&s->rng, 50))
            continue;
        s->stats.steps++;
        raft_tick(n->r);
        process_ready(s, n);
        sim_check_all(s);
    }
}

static void faults(struct sim *s)
{
    struct sim_node *n;
    if (sim_one_in(&s->rng, 40))
        change_partition(s);
    if (sim_one_in(&s->rng, 45) && (n = random_up(s)))
        crash(s, n);
    /* Leaders die young: the paper's figure 8 needs leaders that crash
     * before their entries spread, leaving different uncommitted entries
     * at the same index on different nodes. */
    if (sim_one_in(&s->rng, 60) && (n = leader(s)))
        crash(s, n);
    if (sim_one_in(&s->rng, 40) && (n = leader(s))) {
        propose(s, n);
        s->crash_after_persist = true;
        process_ready(s, n);
        s->crash_after_persist = false;
    }
    if (sim_one_in(&s->rng, 60)) {
        s->drop_pct = (unsigned)sim_below(&s->rng, 25);
        s->dup_pct = (unsigned)sim_below(&s->rng, 10);
        s->max_delay = 1 + (unsigned)sim_below(&s->rng, 5);
        s->stats.faults++;
        TRACE(s, "network: drop %u%% dup %u%% delay <= %u", s->drop_pct, s->dup_pct, s->max_delay);
    }
}

static void chaos_step(struct sim *s)
{
    struct sim_node *n;
    /* Storms of faults alternate with calm spells in which the cluster
     * repairs itself (catch-up, snapshots, commits). */
    if (sim_one_in(&s->rng, 40)) {
        s->storm = !s->storm;
        TRACE(s, "%s", s->storm ? "storm" : "calm");
        if (!s->storm) {
            memset(s->cut, 0, sizeof(s->cut));
            s->drop_pct = (unsigned)sim_below(&s->rng, 3);
            s->dup_pct = (unsigned)sim_below(&s->rng, 3);
            s->max_delay = 1 + (unsigned)sim_below(&s->rng, 2);
        }
    }
    if (s->storm)
        faults(s);
    for (int i = 0; i < s->n_all; i++)
        if (!s->nodes[i].up && sim_one_in(&s->rng, s->storm ? 15 : 4))
            restart(s, &s->nodes[i]);
    if (sim_one_in(&s->rng, 3) && (n = random_up(s)))
        propose(s, n);
    if (sim_one_in(&s->rng, 50))
        conf_change(s);
    if (sim_one_in(&s->rng, 60) && (n = leader(s))) {
        uint64_t to = 1 + sim_below(&s->rng, (uint64_t)s->n_all);
        s->stats.transfers++;
        TRACE(s, "node %llu transfers leadership to %llu", (unsigned long long)n->id,
              (unsigned long long)to);
        raft_transfer_leader(n->r, to);
    }
    if (sim_one_in(&s->rng, 8) && (n = random_up(s)))
        read_index(s, n);
    if (sim_one_in(&s->rng, 12) && (n = random_up(s)))
        compact(s, n);
    for (int i = 0; i < s->n_all; i++)
        if (s->nodes[i].up)
            process_ready(s, &s->nodes[i]);
    sim_check_all(s);
}

static void heal(struct sim *s)
{
    TRACE(s, "faults heal");
    memset(s->cut, 0, sizeof(s->cut));
    s->drop_pct = s->dup_pct = 0;
    s->max_delay = 1;
    s->chaos = false;
    for (int i = 0; i < s->n_all; i++)
        if (!s->nodes[i].up)
            restart(s, &s->nodes[i]);
}

/* Liveness: once the faults heal, a leader is elected and a proposal
 * commits within a bounded number of ticks. */
static void check_liveness(struct sim *s)
{
    uint64_t deadline = s->now + HEAL_LIMIT_TICKS;
    uint64_t want = 0; /* index of our proposal once appended */
    uint64_t want_term = 0;
    while (s->now < deadline && !s->failed) {
        s->now++;
        tick_all(s);
        deliver_due(s);
        struct sim_node *l = leader(s);
        if (!l)
            continue;
        struct raft_status st;
        raft_get_status(l->r, &st);
        if (want && want_term == st.hs.term && l->applied >= want)
            return;
        if (!want || want_term != st.hs.term) {
            propose(s, l);
            raft_get_status(l->r, &st);
            want = st.last_index;
            want_term = st.hs.term;
            process_ready(s, l);
        }
    }
    if (s->failed)
        return;
    sim_fail(s, "liveness: no proposal committed within %d ticks after healing", HEAL_LIMIT_TICKS);
    for (int i = 0; i < s->n_all && s->trace; i++) {
        struct sim_node *n = &s->nodes[i];
        struct raft_status st;
        raft_get_status(n->r, &st);
        printf("   node %llu: %s term %llu vote %llu lead %llu commit %llu applied %llu "
               "log [%llu, %llu] last term %llu member %d learner %d conf voters %zu/%zu\n",
               (unsigned long long)n->id, raft_state_name(st.ss.state),
               (unsigned long long)st.hs.term, (unsigned long long)st.hs.vote,
               (unsigned long long)st.ss.lead, (unsigned long long)st.hs.commit,
               (unsigned long long)st.applied, (unsigned long long)st.first_index,
               (unsigned long long)st.last_index,
               (unsigned long long)raft_log_term_at(n->r, st.last_index), st.is_member,
               st.is_learner, n->conf.n_voters, n->conf.n_voters_outgoing);
    }
}

int sim_run(uint64_t seed, bool trace, struct sim_stats *stats, char *why, size_t why_len)
{
    struct sim *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->seed = seed;
    s->trace = trace;
    s->rng.s = seed * 0xD1B54A32D192ED03ull + 12345;
    static const int sizes[3] = {3, 5, 7};
    s->n_nodes = sizes[sim_below(&s->rng, 3)];
    s->n_all = s->n_nodes + 2;
    s->base_cfg = (struct raft_config){
        .election_tick = ELECTION_TICK,
        .heartbeat_tick = 1 + (int)sim_below(&s->rng, 3),
        .max_size_per_msg = sim_one_in(&s->rng, 2) ? 0 : 64 + sim_below(&s->rng, 512),
        .max_inflight_msgs = 1 + sim_below(&s->rng, 8),
        .check_quorum = !sim_one_in(&s->rng, 3),
        .pre_vote = !sim_one_in(&s->rng, 3),
    };
    s->max_delay = 1 + (unsigned)sim_below(&s->rng, 3);
    s->chaos = true;
    s->storm = true;
    /* How hard this seed goes after fresh leaders (one in N; 0: never). */
    static const unsigned kill[4] = {0, 3, 8, 20};
    s->leader_kill = kill[sim_below(&s->rng, 4)];
    TRACE(s,
          "seed %llu: %d voters + 2 spares, heartbeat %d, check_quorum %d, pre_vote %d, "
          "max msg %llu, inflight %zu",
          (unsigned long long)seed, s->n_nodes, s->base_cfg.heartbeat_tick,
          s->base_cfg.check_quorum, s->base_cfg.pre_vote,
          (unsigned long long)s->base_cfg.max_size_per_msg, s->base_cfg.max_inflight_msgs);

    /* Every node, the spares included, knows the bootstrap configuration. */
    uint64_t voters[SIM_MAX_NODES];
    for (int i = 0; i < s->n_nodes; i++)
        voters[i] = (uint64_t)i + 1;
    struct raft_conf_state boot = {.voters = voters, .n_voters = (size_t)s->n_nodes};
    for (int i = 0; i < s->n_all; i++) {
        struct sim_node *n = &s->nodes[i];
        n->id = (uint64_t)i + 1;
        n->st = raft_storage_mem_new();
        raft_storage_mem_set_conf_state(n->st, &boot);
        start_node(s, n);
    }
    while (s->now < CHAOS_TICKS && !s->failed) {
        s->now++;
        tick_all(s);
        chaos_step(s);
        deliver_due(s);
    }
    if (!s->failed) {
        heal(s);
        check_liveness(s);
    }

    int rc = s->failed ? 1 : 0;
    if (rc && why)
        snprintf(why, why_len, "%s", s->failure);
    if (stats) {
        stats->steps += s->stats.steps;
        stats->elections += s->stats.elections;
        stats->commits += s->stats.commits;
        stats->faults += s->stats.faults;
        stats->reads += s->stats.reads;
        stats->snapshots += s->stats.snapshots;
        stats->conf_changes += s->stats.conf_changes;
        stats->transfers += s->stats.transfers;
    }
    for (int i = 0; i < s->n_all; i++) {
        raft_free(s->nodes[i].r);
        raft_storage_mem_free(s->nodes[i].st);
        raft_conf_state_free(&s->nodes[i].conf);
    }
    for (size_t i = 0; i < s->n_net; i++)
        free(s->net[i].bytes);
    free(s->net);
    sim_check_free(s);
    free(s);
    return rc;
}
