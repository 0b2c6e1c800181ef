/*
 * --force-new-cluster: etcd's disaster recovery. A member whose cluster
 * lost its quorum for good restarts as the only member of the same cluster
 * (same cluster and member IDs), keeping its whole log. As etcd's
 * restartAsStandaloneNode does, it appends one configuration change per
 * other member removing it, at the current term, and commits them by
 * itself. Unlike etcd it keeps the entries past its commit index instead of
 * dropping them: a follower learns that an entry is committed only from a
 * later message of the leader (Raft paper 5.3), so a survivor's tail may
 * hold writes the lost leader already acknowledged; dropping them would
 * lose acknowledged data. Committing them as well can only settle writes
 * whose clients got no answer (a timeout), whose outcome was open. The removals are
 * ordinary log entries: they are applied like any configuration change (the
 * raft configuration and the member table lose the others), and they stay
 * in the log and in later snapshots, so a restart without the flag comes
 * back as the same one-member cluster.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "src/server/node_int.h"

void node_removal_entry(uint64_t id, uint8_t **out, size_t *len);

/* Adds id to the set ids[0..*n) (capacity cap) unless present. */
static void id_add(uint64_t **ids, size_t *n, size_t *cap, uint64_t id)
{
    for (size_t i = 0; i < *n; i++)
        if ((*ids)[i] == id)
            return;
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        *ids = realloc(*ids, *cap * sizeof(**ids));
        if (*ids == NULL)
            abort();
    }
    (*ids)[(*n)++] = id;
}

static void id_remove(uint64_t *ids, size_t *n, uint64_t id)
{
    for (size_t i = 0; i < *n; i++)
        if (ids[i] == id) {
            ids[i] = ids[--*n];
            return;
        }
}

static int id_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Every node of the configuration in force at index `upto`: the one of the
 * snapshot (n->conf), changed by the configuration changes of the log up to
 * there (etcd's getIDs). *out is malloc'd; the caller frees it.
 */
static void members_at(const node_t *n, const wal_read_result_t *res, uint64_t upto, uint64_t **out,
                       size_t *n_out)
{
    uint64_t *ids = NULL;
    size_t k = 0, cap = 0;
    const struct raft_conf_state *cs = &n->conf;
    for (size_t i = 0; i < cs->n_voters; i++)
        id_add(&ids, &k, &cap, cs->voters[i]);
    for (size_t i = 0; i < cs->n_voters_outgoing; i++)
        id_add(&ids, &k, &cap, cs->voters_outgoing[i]);
    for (size_t i = 0; i < cs->n_learners; i++)
        id_add(&ids, &k, &cap, cs->learners[i]);
    for (size_t i = 0; i < res->n_entries && res->entries[i].index <= upto; i++) {
        if (res->entries[i].type != RAFT_ENTRY_CONF_CHANGE)
            continue;
        struct raft_conf_change cc;
        if (raft_decode_conf_change(res->entries[i].data, res->entries[i].len, &cc) != 0)
            continue;
        for (size_t c = 0; c < cc.n_changes; c++) {
            if (cc.changes[c].type == RAFT_CC_REMOVE_NODE)
                id_remove(ids, &k, cc.changes[c].node_id);
            else if (cc.changes[c].type == RAFT_CC_ADD_NODE ||
                     cc.changes[c].type == RAFT_CC_ADD_LEARNER)
                id_add(&ids, &k, &cap, cc.changes[c].node_id);
        }
        raft_conf_change_free(&cc);
    }
    if (k > 1)
        qsort(ids, k, sizeof(*ids), id_cmp);
    *out = ids;
    *n_out = k;
}

int node_force_new_cluster(node_t *n, wal_read_result_t *res, struct raft_hard_state *hs,
                           struct raft_entry **forced, size_t *n_forced, char *err, size_t err_len)
{
    *forced = NULL;
    *n_forced = 0;
    /* The whole log stays and becomes committed (see above). */
    if (res->n_entries > 0 && res->entries[res->n_entries - 1].index > hs->commit) {
        log_line('W', "etcdserver",
                 "--force-new-cluster: committing %" PRIu64
                 " entries past the commit index %" PRIu64 " (acknowledged by the lost leader or "
                 "never answered)",
                 res->entries[res->n_entries - 1].index - hs->commit, hs->commit);
        hs->commit = res->entries[res->n_entries - 1].index;
    }

    uint64_t *ids = NULL;
    size_t k = 0;
    members_at(n, res, hs->commit, &ids, &k);
    bool self = false;
    for (size_t i = 0; i < k; i++)
        self = self || ids[i] == n->cfg.member_id;
    if (!self) {
        free(ids);
        snprintf(err, err_len,
                 "--force-new-cluster: member %" PRIx64
                 " is not in the configuration its log ends with",
                 n->cfg.member_id);
        return -1;
    }
    struct raft_entry *ents = calloc(k, sizeof(*ents));
    if (ents == NULL)
        abort();
    size_t m = 0;
    int rc = 0;
    for (size_t i = 0; i < k; i++) {
        if (ids[i] == n->cfg.member_id)
            continue;
        uint8_t *data = NULL;
        size_t len = 0;
        node_removal_entry(ids[i], &data, &len);
        ents[m] = (struct raft_entry){.term = hs->term,
                                      .index = hs->commit + m + 1,
                                      .type = RAFT_ENTRY_CONF_CHANGE,
                                      .data = data,
                                      .len = len};
        if (rc == 0)
            rc = wal_append_entry(n->wal, ents[m].index, ents[m].term, ents[m].type, data, len);
        log_line('W', "etcdserver",
                 "--force-new-cluster: removing member %" PRIx64 " at index %" PRIu64, ids[i],
                 ents[m].index);
        m++;
    }
    free(ids);
    if (m > 0) {
        hs->commit = ents[m - 1].index;
        wal_hard_state_t whs = {hs->term, hs->vote, hs->commit};
        if (rc == 0)
            rc = wal_append_hard_state(n->wal, &whs);
        if (rc == 0)
            rc = wal_sync(n->wal);
    }
    if (rc != 0) {
        for (size_t i = 0; i < m; i++)
            free(ents[i].data);
        free(ents);
        snprintf(err, err_len, "--force-new-cluster: cannot write the log in %s: %s", n->wal_dir,
                 strerror(rc < 0 ? -rc : rc));
        return -1;
    }
    log_line('W', "etcdserver",
             "--force-new-cluster: member %" PRIx64
             " restarts as the only member of cluster %" PRIx64 " at commit index %" PRIu64,
             n->cfg.member_id, n->cfg.cluster_id, hs->commit);
    *forced = ents;
    *n_forced = m;
    return 0;
}
