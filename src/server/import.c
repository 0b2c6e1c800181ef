/*
 * metcd --import-etcd-data-dir: a new member's data directory made from an
 * etcd 3.4 data directory (src/etcdimport/), before the member starts.
 *
 * The result is what the member would have written itself had it held that
 * store when its cluster began: the WAL with its member and cluster IDs and
 * the cluster's first entries (one configuration change per initial member,
 * node_open.c's bootstrap), then a snapshot at the last of them holding the
 * cluster section and the imported store, and its marker in the WAL. The
 * raft log starts afresh (etcd's raft indexes mean nothing to a new
 * cluster); the store keeps etcd's indexes. Every member of a new cluster
 * imports the same etcd data and so starts from the same snapshot at the
 * same raft index.
 *
 * The WAL is written in "member/wal.import" and renamed to "member/wal" only
 * once the snapshot and its marker are durable: an import cut short leaves
 * no log, so the next start imports again instead of serving an empty store.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/endian.h"
#include "common/log.h"
#include "snap/snap.h"
#include "src/etcdimport/etcdimport.h"
#include "src/server/data_dir.h"
#include "src/server/node_int.h"
#include "src/server/server_int.h"

void node_bootstrap_entry(const membership_member_t *mb, uint8_t **out, size_t *len);

typedef struct produce_arg {
    const uint8_t *prefix;
    size_t prefix_len;
    const store_t *store;
} produce_arg_t;

static int write_to_snap(void *ctx, const void *buf, size_t len)
{
    return snap_writer_write(ctx, buf, len);
}

static int produce(void *arg, snap_writer_t *sw)
{
    const produce_arg_t *a = arg;
    if (snap_writer_write(sw, a->prefix, a->prefix_len) != 0)
        return -1;
    return store_save(a->store, write_to_snap, sw);
}

/* "<a>/<b>", malloc'd (the caller frees it). */
static char *join(const char *a, const char *b)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", a, b) < 0)
        abort();
    return p;
}

/* Removes a leftover "wal.import" of an import that was cut short. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *p = join(dir, de->d_name);
        unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* The WAL and snapshot of a new cluster `initial` whose store is `store`. */
static int write_member(const char *member_dir, const membership_t *initial, uint64_t member_id,
                        const store_t *store, char *err, size_t err_len)
{
    char *tmp = join(member_dir, "wal.import"), *wal_dir = join(member_dir, "wal");
    char *snap_dir = join(member_dir, "snap");
    remove_dir(tmp);
    uint8_t meta[WAL_META_SIZE];
    memcpy(meta, WAL_META_MAGIC, 8);
    le_put64(meta + 8, member_id);
    le_put64(meta + 16, initial->cluster_id);
    wal_options_t wo = {.dir = tmp};
    wal_t *w = NULL;
    if (wal_create(&w, &wo, meta, sizeof(meta), err, err_len) != 0) {
        free(tmp);
        free(wal_dir);
        free(snap_dir);
        return -1;
    }
    /* The cluster's first entries and the configuration they make, with
     * names and client URLs left for each member to publish (node_open.c). */
    membership_t members;
    membership_init(&members, initial->cluster_id);
    struct raft_conf_state conf = {0};
    conf.voters = calloc(initial->n + 1, sizeof(uint64_t));
    if (conf.voters == NULL)
        abort();
    int rc = 0;
    for (size_t i = 0; i < initial->n && rc == 0; i++) {
        membership_member_t mb = initial->members[i];
        mb.name = "";
        mb.n_client_urls = 0;
        membership_add(&members, &mb);
        conf.voters[conf.n_voters++] = mb.id;
        uint8_t *data = NULL;
        size_t len = 0;
        node_bootstrap_entry(&mb, &data, &len);
        rc = wal_append_entry(w, i + 1, 1, RAFT_ENTRY_CONF_CHANGE, data, len);
        free(data);
    }
    uint64_t index = initial->n;
    wal_hard_state_t hs = {.term = 1, .vote = 0, .commit = index};
    if (rc == 0)
        rc = wal_append_hard_state(w, &hs);
    if (rc == 0)
        rc = wal_sync(w);
    uint8_t *prefix = NULL;
    size_t plen = 0;
    node_encode_cluster_state(&conf, &members, &prefix, &plen);
    produce_arg_t arg = {prefix, plen, store};
    char serr[512] = "";
    if (rc == 0 && snap_save_stream(snap_dir, 1, index, produce, &arg, serr, sizeof(serr)) != 0) {
        snprintf(err, err_len, "cannot save the snapshot in %s: %s", snap_dir, serr);
        rc = -1;
    } else if (rc != 0) {
        snprintf(err, err_len, "cannot write the log in %s: %s", tmp, strerror(-rc));
    }
    free(prefix);
    raft_conf_state_free(&conf);
    membership_free(&members);
    /* The marker, once the file is durable (node_snapshot.c's order). */
    if (rc == 0 && (wal_append_snapshot(w, index, 1) != 0 || wal_sync(w) != 0)) {
        snprintf(err, err_len, "cannot record the snapshot in %s", tmp);
        rc = -1;
    }
    wal_close(w);
    if (rc == 0 && (rename(tmp, wal_dir) != 0 || fsync_dir(member_dir) != 0)) {
        snprintf(err, err_len, "cannot rename %s to %s: %s", tmp, wal_dir, strerror(errno));
        rc = -1;
    }
    free(tmp);
    free(wal_dir);
    free(snap_dir);
    return rc;
}

static double since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The members --initial-cluster and its token make, and the ID of the one
 * --name names (0 when none). Fills *m (free with membership_free()). */
static int initial_members(const config_t *cfg, membership_t *m, uint64_t *member_id, char *err,
                           size_t err_len)
{
    size_t n = cfg->n_initial_cluster;
    const char **names = calloc(n + 1, sizeof(*names));
    const char **urls = calloc(n + 1, sizeof(*urls));
    if (names == NULL || urls == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        names[i] = cfg->initial_cluster[i].name;
        urls[i] = cfg->initial_cluster[i].peer_url.text;
    }
    int rc = membership_from_initial_cluster(m, names, urls, n, cfg->initial_cluster_token, err,
                                             err_len);
    free(names);
    free(urls);
    *member_id = 0;
    for (size_t i = 0; rc == 0 && i < m->n; i++)
        if (strcmp(m->members[i].name, cfg->name) == 0)
            *member_id = m->members[i].id;
    return rc;
}

int server_import_etcd(const config_t *cfg, const char *etcd_dir, char *err, size_t err_len)
{
    if (cfg->proxy != CONFIG_PROXY_OFF) {
        snprintf(err, err_len, "--import-etcd-data-dir makes a member's data; a proxy holds none");
        return SERVER_E_CONFIG;
    }
    if (cfg->discovery != NULL || cfg->discovery_srv != NULL) {
        snprintf(err, err_len,
                 "--import-etcd-data-dir needs the new cluster's members from "
                 "--initial-cluster, not from discovery");
        return SERVER_E_CONFIG;
    }
    if (strcmp(cfg->initial_cluster_state, "existing") == 0) {
        snprintf(err, err_len,
                 "--import-etcd-data-dir makes the data of a new cluster; a member joining "
                 "an existing one (--initial-cluster-state existing) gets its data from it");
        return SERVER_E_CONFIG;
    }
    membership_t initial = {0};
    uint64_t member_id = 0;
    if (initial_members(cfg, &initial, &member_id, err, err_len) != 0) {
        membership_free(&initial);
        return SERVER_E_CONFIG;
    }
    if (member_id == 0) {
        /* The configuration check refuses this first; never write a log
         * for a member that is not in its cluster. */
        snprintf(err, err_len, "couldn't find local name \"%s\" in the initial cluster", cfg->name);
        membership_free(&initial);
        return SERVER_E_CONFIG;
    }
    int lock_fd = -1;
    int rc = data_dir_open(cfg->data_dir, &lock_fd, err, err_len);
    if (rc != 0) {
        membership_free(&initial);
        return SERVER_E_RUNTIME;
    }
    char *member_dir = join(cfg->data_dir, "member"), *wal_dir = join(member_dir, "wal");
    bool have_log = wal_exists(wal_dir);
    free(wal_dir);
    if (have_log) {
        /* Imported before (or a member with data of its own): keep it. */
        log_line('W', "etcdimport",
                 "%s already holds a log: not importing %s again; starting on the data "
                 "directory as it is",
                 cfg->data_dir, etcd_dir);
        membership_free(&initial);
        free(member_dir);
        close(lock_fd);
        return 0;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    log_line('I', "etcdimport", "importing the etcd data directory %s into %s", etcd_dir,
             cfg->data_dir);
    store_t *store = NULL;
    etcdimport_info_t info;
    rc = etcdimport_load(etcd_dir, cfg->watch_history, &store, &info, err, err_len);
    if (rc == 0) {
        log_line('I', "etcdimport",
                 "read etcd's snapshot at raft index %" PRIu64 " and %" PRIu64
                 " committed entries after it (%" PRIu64 " v2 requests, %" PRIu64
                 " v3-only skipped, %" PRIu64 " uncommitted left out) in %.3fs",
                 info.snap_index, info.entries_applied, info.v2_requests, info.skipped_v3,
                 info.entries_uncommitted, since(&t0));
        rc = write_member(member_dir, &initial, member_id, store, err, err_len);
    }
    if (rc == 0)
        log_line('I', "etcdimport",
                 "imported %" PRIu64 " keys and directories at etcd index %" PRIu64 " in %.3fs",
                 info.nodes, info.store_index, since(&t0));
    if (store)
        store_free(store);
    membership_free(&initial);
    free(member_dir);
    close(lock_fd);
    return rc == 0 ? 0 : SERVER_E_RUNTIME;
}
