/*
 * Start-up of the raft node (etcd's etcdserver NewServer / restartNode):
 * the newest snapshot the WAL has a marker for, the WAL after it (checked
 * against this member and cluster), the in-memory raft storage, and the
 * replay of every committed entry before the member serves. A new member
 * of a new cluster creates the WAL with its ids as metadata and writes the
 * cluster's first entries: one configuration change adding each initial
 * member, committed at term 1, the same bytes on every member (etcd's
 * StartNode does the same), so the configuration and the member table live
 * in the log and in snapshots from then on. A member joining a running
 * cluster starts with an empty log.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/endian.h"
#include "common/fs.h"
#include "snap/snap.h"
#include "common/log.h"
#include "src/server/data_dir.h"
#include "src/server/node_int.h"
#include "src/server/data_dir.h"
#include "src/server/hooks.h"

static void wal_log(void *arg, const char *line)
{
    (void)arg;
    log_line('W', "wal", "%s", line);
}

static void snap_log(void *arg, const char *line)
{
    (void)arg;
    log_line('W', "snap", "%s", line);
}

static int check_metadata(node_t *n, const uint8_t *m, size_t len, char *err, size_t err_len)
{
    if (len != WAL_META_SIZE ||
        (memcmp(m, WAL_META_MAGIC, 8) != 0 && memcmp(m, WAL_META_MAGIC_V1, 8) != 0)) {
        snprintf(err, err_len, "%s: the write-ahead log was not written by metcd", n->wal_dir);
        return -1;
    }
    n->legacy_single = memcmp(m, WAL_META_MAGIC_V1, 8) == 0;
    uint64_t member = le_get64(m + 8), cluster = le_get64(m + 16);
    if (n->cfg.join) {
        /* A member added at run time has the IDs the cluster gave it; its
         * restart takes them from its log, as etcd's does. */
        n->cfg.member_id = member;
        n->cfg.cluster_id = cluster;
        return 0;
    }
    /* etcd refuses a data dir whose WAL names another member or cluster. */
    if (member != n->cfg.member_id || cluster != n->cfg.cluster_id) {
        snprintf(err, err_len,
                 "data directory %s belongs to member %" PRIx64 " of cluster %" PRIx64
                 ", not to member %" PRIx64 " of cluster %" PRIx64
                 " (check --name, --initial-cluster and --initial-cluster-token)",
                 n->cfg.data_dir, member, cluster, n->cfg.member_id, n->cfg.cluster_id);
        return -1;
    }
    return 0;
}

/* A data dir written before clusters: this member alone, the one voter of
 * the configuration in force at index 0. */
static void legacy_configuration(node_t *n)
{
    raft_conf_state_free(&n->conf);
    n->conf.voters = malloc(sizeof(uint64_t));
    if (n->conf.voters == NULL)
        abort();
    n->conf.voters[0] = n->cfg.member_id;
    n->conf.n_voters = 1;
    membership_free(&n->members);
    membership_init(&n->members, n->cfg.cluster_id);
    const membership_member_t *self =
        n->cfg.bootstrap ? membership_find(n->cfg.bootstrap, n->cfg.member_id) : NULL;
    membership_member_t mb = {.id = n->cfg.member_id, .name = ""};
    membership_add(&n->members, self ? self : &mb);
}

/*
 * True when every configuration from the snapshot through the end of the
 * log has had this member as its only voter: then an entry durable here is
 * durable on a majority and therefore committed (Raft paper 5.3; the 5.4.2
 * caveat is about other voters' copies).
 */
static bool always_single_voter(const node_t *n, const wal_read_result_t *res)
{
    bool self = false;
    size_t others = 0;
    for (size_t i = 0; i < n->conf.n_voters; i++) {
        if (n->conf.voters[i] == n->cfg.member_id)
            self = true;
        else
            others++;
    }
    for (size_t i = 0; i < res->n_entries; i++) {
        if (res->entries[i].type != RAFT_ENTRY_CONF_CHANGE)
            continue;
        struct raft_conf_change cc;
        if (raft_decode_conf_change(res->entries[i].data, res->entries[i].len, &cc) != 0)
            return false;
        for (size_t k = 0; k < cc.n_changes; k++) {
            bool me = cc.changes[k].node_id == n->cfg.member_id;
            if (cc.changes[k].type == RAFT_CC_ADD_NODE) {
                if (me)
                    self = true;
                else
                    others++;
            } else if (cc.changes[k].type == RAFT_CC_REMOVE_NODE && me) {
                self = false;
            }
        }
        raft_conf_change_free(&cc);
        if (others > 0)
            return false;
    }
    return self && others == 0;
}

/* Everything the WAL held at start is durable. */
static void note_durable_log(node_t *n)
{
    struct raft_storage *st = raft_storage_mem_iface(n->mem);
    uint64_t last = 0;
    if (st->last_index(st->ctx, &last) == 0)
        n->durable_index = n->boot_index = last;
}

/* Applies the committed entries the log holds beyond the snapshot before the
 * member serves (etcd replays them through raft at start the same way). */
static int replay(node_t *n, char *err, size_t err_len)
{
    while (raft_has_ready(n->raft)) {
        if (raft_ready(n->raft, &n->rd) != 0) {
            snprintf(err, err_len, "out of memory replaying the log");
            return -1;
        }
        n->rd_out = true;
        struct raft_ready *rd = &n->rd;
        if (rd->has_hard_state) {
            wal_hard_state_t hs = {rd->hard_state.term, rd->hard_state.vote, rd->hard_state.commit};
            wal_append_hard_state(n->wal, &hs);
        }
        for (size_t i = 0; i < rd->n_entries; i++)
            wal_append_entry(n->wal, rd->entries[i].index, rd->entries[i].term, rd->entries[i].type,
                             rd->entries[i].data, rd->entries[i].len);
        if (rd->has_hard_state || rd->n_entries > 0) {
            int rc = wal_sync(n->wal);
            if (rc != 0) {
                snprintf(err, err_len, "cannot write the log in %s: %s", n->wal_dir, strerror(-rc));
                raft_ready_free(rd);
                n->rd_out = false;
                return -1;
            }
        }
        node_finish_ready(n);
    }
    return 0;
}

/*
 * The store of a member with an engine. The engine holds the store as of
 * its applied index; when that is at or past the snapshot, the store comes
 * from the engine and the log is replayed from there (apply_entry skips the
 * entries it covers). Otherwise (a new engine beside an existing data dir,
 * after an offline conversion) the snapshot's store is written to a new
 * engine that replaces it (node_engine.c). On success the store owns the
 * engine (*engine is NULL).
 */
static store_t *store_from_engine(node_t *n, engine_t **engine, const store_config_t *scfg,
                                  const uint8_t *sdata, size_t slen, char *lerr, size_t lerr_len)
{
    store_t *store = NULL;
    uint64_t ea = engine_meta(*engine)->applied_index;
    if (ea >= n->snap_index) {
        store = store_open_engine(scfg, *engine, lerr, lerr_len);
        if (store)
            *engine = NULL;
        return store;
    }
    /* The engine is behind the snapshot: the snapshot's store is written
     * to a new engine beside it, which then takes its place. */
    engine_close(*engine);
    *engine = NULL;
    engine_t *e = NULL;
    if (node_engine_replace(n, sdata, slen, n->snap_index, lerr, lerr_len) != 0 ||
        node_engine_open(n, &e, lerr, lerr_len) != 0)
        return NULL;
    node_engine_drop_old(n);
    store = store_open_engine(scfg, e, lerr, lerr_len);
    if (store == NULL)
        engine_close(e);
    return store;
}

/*
 * The newest usable snapshot, decoded. With an engine at or past a snapshot
 * only its cluster section is read (store_from_engine): the file's CRC is
 * not checked, the section's own is. A section without one, or one that
 * does not check, sends the file through the whole check after all, which
 * renames a corrupt file .broken and falls back to an older snapshot.
 */
static int load_snapshot(node_t *n, node_markers_t *ml, uint64_t covered, snap_loaded_t *snap,
                         node_decoded_t *d, char *serr, size_t serr_len)
{
    int rc = snap_load_newest_covered(n->snap_dir, node_snapshot_recorded, ml, snap_log, NULL,
                                      covered, snap, serr, serr_len);
    if (rc != 0)
        return rc;
    node_decode_payload(snap->data, snap->len, d);
    if (snap->index > covered ||
        (d->rc == 0 && node_snapshot_section_checked(snap->data, snap->len)))
        return 0;
    node_decoded_free(d);
    snap_release(snap);
    rc = snap_load_newest(n->snap_dir, node_snapshot_recorded, ml, snap_log, NULL, snap, serr,
                          serr_len);
    if (rc == 0)
        node_decode_payload(snap->data, snap->len, d);
    return rc;
}

static int load_state(node_t *n, store_t **store_out, const store_config_t *scfg, wal_options_t *wo,
                      engine_t **engine, char *err, size_t err_len)
{
    node_markers_t ml = {0};
    int rc = wal_read_markers(n->wal_dir, &ml.m, &ml.n);
    if (rc != 0) {
        snprintf(err, err_len, "cannot read the log in %s: %s", n->wal_dir, strerror(-rc));
        return -1;
    }
    snap_loaded_t snap;
    node_decoded_t d = {0};
    char serr[512] = "";
    bool had_engine = *engine != NULL;
    uint64_t covered = had_engine ? engine_meta(*engine)->applied_index : 0;
    rc = load_snapshot(n, &ml, covered, &snap, &d, serr, sizeof(serr));
    free(ml.m);
    store_t *store = NULL;
    if (rc == 0) {
        char lerr[256] = "";
        n->snap_index = snap.index;
        n->snap_term = snap.term;
        n->snap_in_engine = d.rc == 0 && node_snapshot_in_engine(d.sdata, d.slen);
        if (d.rc != 0)
            snprintf(lerr, sizeof(lerr), "its cluster section is malformed");
        else if (n->snap_in_engine && !(*engine && covered >= snap.index))
            /* Written once the engine was synced at that index
             * (node_snapshot.c): only a replaced or damaged engine is
             * behind it, and nothing else holds that store. */
            snprintf(lerr, sizeof(lerr),
                     "its store was in the %s backend, which %s; restore the data directory "
                     "from a backup",
                     *engine ? engine_kind_name(engine_kind(*engine)) : "lmdb or leveldb",
                     *engine ? "is behind it" : "this start does not use");
        else if (*engine)
            store = store_from_engine(n, engine, scfg, d.sdata, d.slen, lerr, sizeof(lerr));
        else
            store = store_load(scfg, d.sdata, d.slen, lerr, sizeof(lerr));
        snap_release(&snap);
        if (store == NULL) {
            node_decoded_free(&d);
            snprintf(err, err_len,
                     "cannot load the snapshot %016" PRIx64 "-%016" PRIx64 ".snap: %s",
                     n->snap_term, n->snap_index, lerr);
            return -1;
        }
        if (d.has_cluster) {
            n->conf = d.cs;
            n->members = d.members;
        }
        /* An engine at or past the snapshot was opened as it is
         * (store_from_engine): the snapshot gave only its cluster section. */
        bool from_engine = had_engine && covered >= n->snap_index;
        log_line('I', "etcdserver", "recovered store from %s at index %" PRIu64,
                 from_engine ? "the backend" : "snapshot",
                 from_engine ? store_applied_index(store) : n->snap_index);
    } else if (rc == -ENOENT) {
        char lerr[256] = "out of memory";
        store = *engine ? store_from_engine(n, engine, scfg, NULL, 0, lerr, sizeof(lerr))
                        : store_new(scfg);
        if (store == NULL) {
            snprintf(err, err_len, "cannot load the store: %s", lerr);
            return -1;
        }
    } else {
        snprintf(err, err_len, "cannot load a snapshot from %s: %s", n->snap_dir,
                 serr[0] ? serr : strerror(-rc));
        return -1;
    }
    *store_out = store;
    n->store = store;
    n->engine_applied = store_applied_index(store);
    if (n->engine_applied > n->snap_index)
        log_line('I', "etcdserver",
                 "the store's backend holds the log up to index %" PRIu64 "; entries after it "
                 "are applied again",
                 n->engine_applied);

    wal_read_result_t res = {0};
    rc = wal_open(&n->wal, wo, n->snap_index, n->snap_term, &res, err, err_len);
    if (rc != 0) {
        if (err[0] == '\0')
            snprintf(err, err_len, "cannot open the log in %s: %s", n->wal_dir, strerror(-rc));
        return -1;
    }
    if (check_metadata(n, res.metadata, res.metadata_len, err, err_len) != 0) {
        wal_read_result_free(&res);
        return -1;
    }
    /* A snapshot without a cluster section, or none in a log from before
     * clusters: this member alone. Otherwise the configuration comes from
     * the snapshot, or from the log's first entries (replayed below). */
    if (!d.has_cluster && (n->legacy_single || n->snap_index > 0))
        legacy_configuration(n);
    if (n->snap_index == 0)
        raft_storage_mem_set_conf_state(n->mem, &n->conf);
    raft_conf_state_copy(&n->snap_conf, &n->conf);
    if (n->snap_index > 0) {
        struct raft_snapshot s = {.meta = {.index = n->snap_index, .term = n->snap_term}};
        s.meta.conf = n->conf;
        rc = raft_storage_mem_apply_snapshot(n->mem, &s);
        if (rc != 0) {
            snprintf(err, err_len, "cannot restore the snapshot: %s", raft_strerror(rc));
            wal_read_result_free(&res);
            return -1;
        }
    }
    struct raft_hard_state hs = {res.hard_state.term, res.hard_state.vote, res.hard_state.commit};
    if (hs.commit < n->snap_index)
        hs.commit = n->snap_index; /* the snapshot holds only committed state */
    /*
     * The commit index of the last batch travels in the next one (a commit
     * alone needs no fsync, etcd's MustSync), so the log may end with
     * entries past the last recorded commit. In a cluster whose only voter
     * has always been this member those are committed (always_single_voter),
     * so the restart applies all of them before serving and comes back at
     * the index it acknowledged last.
     */
    if (always_single_voter(n, &res) && res.n_entries > 0 &&
        res.entries[res.n_entries - 1].index > hs.commit)
        hs.commit = res.entries[res.n_entries - 1].index;
    struct raft_entry *forced = NULL;
    size_t n_forced = 0;
    if (n->cfg.force_new_cluster &&
        node_force_new_cluster(n, &res, &hs, &forced, &n_forced, err, err_len) != 0) {
        wal_read_result_free(&res);
        return -1;
    }
    raft_storage_mem_set_hard_state(n->mem, &hs);
    if (res.n_entries > 0) {
        struct raft_entry *ents = calloc(res.n_entries, sizeof(*ents));
        if (ents == NULL) {
            snprintf(err, err_len, "out of memory");
            wal_read_result_free(&res);
            return -1;
        }
        for (size_t i = 0; i < res.n_entries; i++)
            ents[i] = (struct raft_entry){.term = res.entries[i].term,
                                          .index = res.entries[i].index,
                                          .type = res.entries[i].type,
                                          .data = (void *)res.entries[i].data,
                                          .len = res.entries[i].len};
        rc = raft_storage_mem_append(n->mem, ents, res.n_entries);
        free(ents);
        if (rc != 0) {
            snprintf(err, err_len, "cannot cache the log: %s", raft_strerror(rc));
            wal_read_result_free(&res);
            return -1;
        }
    }
    if (n_forced > 0) {
        rc = raft_storage_mem_append(n->mem, forced, n_forced);
        for (size_t i = 0; i < n_forced; i++)
            free(forced[i].data);
        if (rc != 0) {
            free(forced);
            snprintf(err, err_len, "cannot cache the log: %s", raft_strerror(rc));
            wal_read_result_free(&res);
            return -1;
        }
    }
    free(forced);
    log_line('I', "etcdserver",
             "restarting member %" PRIx64 " in cluster %" PRIx64 " at commit index %" PRIu64
             " (%zu entries after the snapshot)",
             n->cfg.member_id, n->cfg.cluster_id, hs.commit, res.n_entries);
    wal_read_result_free(&res);
    return 0;
}

void node_bootstrap_entry(const membership_member_t *mb, uint8_t **out, size_t *len);

/*
 * A new cluster's first entries, in the log of each of its members: one
 * configuration change per initial member, in ID order, at term 1, and a
 * hard state that commits them. Every member writes the same bytes, so the
 * logs match (Raft's Log Matching property holds from index 1).
 */
static int bootstrap_log(node_t *n, char *err, size_t err_len)
{
    const membership_t *m = n->cfg.bootstrap;
    struct raft_entry *ents = calloc(m->n ? m->n : 1, sizeof(*ents));
    if (ents == NULL)
        abort();
    int rc = 0;
    for (size_t i = 0; i < m->n; i++) {
        /* Names and client URLs are published by each member later. */
        membership_member_t mb = m->members[i];
        mb.name = "";
        mb.n_client_urls = 0;
        uint8_t *data = NULL;
        size_t len = 0;
        node_bootstrap_entry(&mb, &data, &len);
        ents[i] = (struct raft_entry){
            .term = 1, .index = i + 1, .type = RAFT_ENTRY_CONF_CHANGE, .data = data, .len = len};
        if (rc == 0)
            rc = wal_append_entry(n->wal, i + 1, 1, RAFT_ENTRY_CONF_CHANGE, data, len);
    }
    struct raft_hard_state hs = {.term = 1, .vote = 0, .commit = m->n};
    wal_hard_state_t whs = {hs.term, hs.vote, hs.commit};
    if (rc == 0)
        rc = wal_append_hard_state(n->wal, &whs);
    if (rc == 0)
        rc = wal_sync(n->wal);
    if (rc == 0)
        rc = raft_storage_mem_append(n->mem, ents, m->n) == 0 ? 0 : -ENOMEM;
    if (rc == 0)
        raft_storage_mem_set_hard_state(n->mem, &hs);
    for (size_t i = 0; i < m->n; i++)
        free(ents[i].data);
    free(ents);
    if (rc != 0) {
        snprintf(err, err_len, "cannot write the first entries to %s: %s", n->wal_dir,
                 strerror(-rc));
        return -1;
    }
    log_line('I', "etcdserver",
             "starting member %" PRIx64 " in a new cluster %" PRIx64 " of %zu members",
             n->cfg.member_id, n->cfg.cluster_id, m->n);
    return 0;
}

/* Opens the engine of cfg.backend in <data_dir>/member/<backend>. */
static int open_engine(node_t *n, engine_t **out, char *err, size_t err_len)
{
    engine_kind_t kind = (engine_kind_t)n->cfg.backend;
    char *dir = NULL;
    if (asprintf(&dir, "%s/member/%s", n->cfg.data_dir, engine_kind_name(kind)) < 0)
        abort();
    int rc = node_engine_recover(n, err, err_len);
    if (rc == 0)
        rc = node_engine_open(n, out, err, err_len);
    if (rc == 0)
        log_line('I', "etcdserver", "opened the %s backend in %s (%s)", engine_kind_name(kind), dir,
                 engine_settings(*out));
    free(dir);
    return rc != 0 ? -1 : 0;
}

int node_open(node_t **out, store_t **store_out, const node_config_t *cfg, char *err,
              size_t err_len)
{
    engine_t *engine = NULL;
    *out = NULL;
    *store_out = NULL;
    err[0] = '\0';
    node_t *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    n->cfg = *cfg;
    server_test_hooks(&n->cfg);
    n->loop = cfg->loop;
    n->recv_fd = -1;
    membership_init(&n->members, cfg->cluster_id);
    n->wal_dir = data_dir_wal_path(cfg->data_dir, cfg->wal_dir);
    if (asprintf(&n->snap_dir, "%s/member/snap", cfg->data_dir) < 0)
        n->snap_dir = NULL;
    n->mem = raft_storage_mem_new();
    if (n->wal_dir == NULL || n->snap_dir == NULL || n->mem == NULL) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    fs_mkdir_all(n->snap_dir); /* a failure shows when the first snapshot is saved */
    snapshotter_init(&n->snapper, n->loop, n->snap_dir, node_on_snapshot_saved, n);
    n->snapper.hook = n->cfg.crash_point;

    store_config_t scfg = {.history_size = cfg->watch_history,
                           .cache_nodes = (size_t)cfg->backend_cache_nodes};
    /* The data dir keeps the backend it was created with (data_dir_backend). */
    const char *backend = cfg->backend ? engine_kind_name((engine_kind_t)cfg->backend) : "memory";
    if (data_dir_backend(cfg->data_dir, backend, wal_exists(n->wal_dir), err, err_len) != 0)
        goto fail;
    if (cfg->backend && open_engine(n, &engine, err, err_len) != 0)
        goto fail;
    wal_options_t wo = {.dir = n->wal_dir,
                        .max_wals = cfg->max_wals,
                        .on_sync = node_on_wal_sync,
                        .on_sync_arg = n,
                        .log = wal_log,
                        .io = n->cfg.wal_io,
                        .segment_size = n->cfg.wal_segment_size};
    if (wal_exists(n->wal_dir)) {
        if (load_state(n, store_out, &scfg, &wo, &engine, err, err_len) != 0)
            goto fail;
    } else {
        if (!cfg->join && cfg->bootstrap == NULL) {
            snprintf(err, err_len, "no log in %s and no initial cluster to start one", n->wal_dir);
            goto fail;
        }
        uint8_t meta[WAL_META_SIZE];
        memcpy(meta, WAL_META_MAGIC, 8);
        le_put64(meta + 8, cfg->member_id);
        le_put64(meta + 16, cfg->cluster_id);
        if (wal_create(&n->wal, &wo, meta, sizeof(meta), err, err_len) != 0) {
            if (err[0] == '\0')
                snprintf(err, err_len, "cannot create the log in %s", n->wal_dir);
            goto fail;
        }
        if (engine && engine_meta(engine)->applied_index > 0) {
            /* Data without the log it came from: not this member's. */
            snprintf(err, err_len,
                     "the %s backend in %s/member holds data at index %" PRIu64
                     " but there is no log in %s",
                     backend, cfg->data_dir, engine_meta(engine)->applied_index, n->wal_dir);
            goto fail;
        }
        char lerr[256] = "out of memory";
        n->store = *store_out =
            engine ? store_open_engine(&scfg, engine, lerr, sizeof(lerr)) : store_new(&scfg);
        if (n->store == NULL) {
            snprintf(err, err_len, "cannot create the store: %s", lerr);
            goto fail;
        }
        engine = NULL;
        if (cfg->bootstrap != NULL && bootstrap_log(n, err, err_len) != 0)
            goto fail;
    }
    n->applied = n->snap_index;
    note_durable_log(n);
    int rc = node_new_raft(n, n->snap_index);
    if (rc != 0) {
        snprintf(err, err_len, "cannot start raft: %s", raft_strerror(rc));
        goto fail;
    }
    if (replay(n, err, err_len) != 0)
        goto fail;
    *out = n;
    return 0;
fail:
    engine_close(engine);
    node_free(n);
    if (*store_out != NULL)
        store_free(*store_out);
    *store_out = NULL;
    return -1;
}