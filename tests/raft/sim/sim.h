/* tests/raft/sim/sim.h - a deterministic in-process Raft cluster: nodes,
 * a faulty network, crashes, and the safety checks run after every step. */
#ifndef METCD_RAFT_SIM_H
#define METCD_RAFT_SIM_H

#include "raft/raft.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SIM_MAX_NODES 10

struct sim_rng {
    uint64_t s;
};
uint64_t sim_rand(struct sim_rng *g);
/* Uniform in [0, n). */
uint64_t sim_below(struct sim_rng *g, uint64_t n);
/* True with probability 1/n. */
bool sim_one_in(struct sim_rng *g, uint64_t n);

struct sim_node {
    uint64_t id;
    bool up;
    struct raft *r;
    struct raft_storage_mem *st; /* the persisted state: survives crashes */
    /* The state machine: the index applied and a hash chain over it. */
    uint64_t applied;
    uint64_t chain;
    struct raft_conf_state conf; /* configuration as of `applied` */
    /* Bookkeeping for the checks. */
    uint64_t last_commit;                  /* commit index seen in this life */
    uint64_t recorded_commit;              /* committed indexes recorded from this node */
    uint64_t persisted_commit;             /* commit in the last persisted hard state */
    uint64_t verified_term, verified_upto; /* leader completeness progress */
    enum raft_state last_state;
    uint64_t last_term;
};

struct sim_msg {
    uint8_t *bytes; /* encoded message: the network carries the wire format */
    size_t len;
    uint64_t from, to;
    uint8_t type;
    uint64_t deliver_at;
};

/* Per-index record of the cluster's history, for the checks. */
struct sim_index_rec {
    uint64_t committed_term;  /* term of the committed entry (0: unknown) */
    uint64_t commit_obs_term; /* lowest term in which its commitment was seen */
    uint64_t applied_term;
    uint64_t applied_hash;
    uint64_t chain; /* state-machine hash after applying it */
    bool applied_set, chain_set;
};

struct sim_stats {
    uint64_t steps, elections, commits, faults, reads, snapshots, conf_changes, transfers;
};

struct sim {
    uint64_t seed;
    bool trace;
    struct sim_rng rng;
    int n_nodes; /* initial voters 1..n_nodes; two spares follow */
    int n_all;
    struct sim_node nodes[SIM_MAX_NODES];
    struct raft_config base_cfg;

    struct sim_msg *net;
    size_t n_net, cap_net;
    bool cut[SIM_MAX_NODES + 1][SIM_MAX_NODES + 1]; /* cut[from][to] */

    uint64_t now;      /* ticks */
    unsigned drop_pct; /* faults in force */
    unsigned dup_pct;
    unsigned max_delay;
    bool chaos;
    unsigned leader_kill;
    bool retired[SIM_MAX_NODES + 1]; /* removed for good: never re-added */
    bool storm;
    bool crash_after_persist; /* the next Ready is persisted, then the node dies */

    struct sim_index_rec *idx;
    size_t cap_idx;
    uint64_t max_commit;
    uint64_t *leader_of_term;
    size_t cap_terms;

    /* (index, term) -> (entry hash, previous term): Log Matching. */
    struct sim_lm {
        uint64_t index, term, hash, prev_term;
    } * lm;
    size_t cap_lm, n_lm;

    /* ReadIndex requests: ctx number -> max commit when issued. */
    uint64_t *read_floor;
    size_t n_reads, cap_reads;

    uint64_t proposals;
    struct sim_stats stats;
    char failure[512];
    bool failed;
};

/* Runs one seed; returns 0 if every check held. */
int sim_run(uint64_t seed, bool trace, struct sim_stats *stats, char *why, size_t why_len);

/* check.c */
void sim_fail(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct sim_index_rec *sim_rec(struct sim *s, uint64_t i);
uint64_t sim_hash_entry(const struct raft_entry *e);
void sim_check_persisted(struct sim *s, struct sim_node *n, const struct raft_entry *ents,
                         size_t cnt);
void sim_check_applied(struct sim *s, struct sim_node *n, uint64_t index, uint64_t term,
                       uint64_t hash);
void sim_check_chain(struct sim *s, uint64_t index, uint64_t chain);
void sim_check_all(struct sim *s);
void sim_check_node(struct sim *s, struct sim_node *n);
void sim_check_restart(struct sim *s, struct sim_node *n);
void sim_check_read(struct sim *s, struct sim_node *n, const struct raft_read_state *rs);
void sim_check_free(struct sim *s);

#endif
