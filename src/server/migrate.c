/*
 * --migrate-backend: converts a stopped member's data dir from the backend
 * it was created with (member/backend) to --backend, offline.
 *
 * What a member needs at start is the same on every backend: the newest
 * snapshot and the WAL after it (both written whatever the backend, and
 * the WAL released only behind a snapshot), plus on lmdb and leveldb an
 * engine holding the store at some applied index at or past that snapshot,
 * from which the WAL is replayed (node_open.c). So:
 *   - engine to engine: the source engine's store (every node, TTL, the
 *     store index, the counters and the event history that waitIndex reads)
 *     is written to a new engine at the same applied index;
 *   - memory to an engine: the new engine starts empty and the first start
 *     writes the newest snapshot's store to it, then replays the WAL (the
 *     path node_open.c takes for an engine behind the snapshot);
 *   - an engine to memory: the first start loads the snapshot and replays
 *     the WAL, as the memory backend always does; the engine is removed.
 *     A member alone on an engine writes snapshots without the store
 *     (node_snapshot.c): the engine's store is then first written as a
 *     whole snapshot at the engine's applied index and recorded in the WAL
 *     (whole_snapshot).
 * The new engine is built beside the old one (member/<kind>.converting),
 * synced and renamed into place; the rename of member/backend is the
 * commit point. A crash before it leaves the data dir on its old backend
 * (the next conversion removes the half-built directory); after it, on the
 * new one, with at most the old engine's directory left to remove.
 * The data dir lock keeps a running member's data dir from being converted.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "raft/raft.h"
#include "snap/snap.h"
#include "src/server/data_dir.h"
#include "src/server/node.h"
#include "src/server/node_int.h"
#include "src/server/server.h"
#include "store/engine.h"
#include "store/store.h"
#include "wal/wal.h"

static engine_kind_t kind_of(const char *name)
{
    return strcmp(name, "lmdb") == 0      ? ENGINE_LMDB
           : strcmp(name, "leveldb") == 0 ? ENGINE_LEVELDB
                                          : 0;
}

static int open_engine(const config_t *cfg, engine_kind_t kind, const char *dir, engine_t **out,
                       char *err, size_t err_len)
{
    return node_engine_open_dir(kind, dir, cfg->leveldb_cache_bytes, cfg->leveldb_wbuf_bytes, out,
                                err, err_len);
}

/*
 * Writes the store of the engine in from_dir to a new engine of kind `to`
 * in to_dir, at the same applied index, synced. Returns 0 or -1 with err.
 */
static int copy_engine(const config_t *cfg, engine_kind_t from, const char *from_dir,
                       engine_kind_t to, const char *to_dir, char *err, size_t err_len)
{
    engine_t *src = NULL, *dst = NULL;
    if (open_engine(cfg, from, from_dir, &src, err, err_len) != 0)
        return -1;
    store_config_t scfg = {.history_size = cfg->watch_history};
    char lerr[256] = "";
    store_t *s = store_open_engine(&scfg, src, lerr, sizeof(lerr));
    if (s == NULL) {
        snprintf(err, err_len, "cannot read the store from %s: %s", from_dir, lerr);
        engine_close(src);
        return -1;
    }
    uint64_t applied = store_applied_index(s);
    engine_close(store_engine_detach(s));
    if (open_engine(cfg, to, to_dir, &dst, err, err_len) != 0) {
        store_free(s);
        return -1;
    }
    /* The store owns dst from here, even when the rewrite fails. */
    int rc = store_engine_rewrite(s, dst, applied);
    if (rc == 0)
        rc = store_sync(s);
    if (rc != 0)
        snprintf(err, err_len, "cannot write the store to %s: %s", to_dir, store_engine_error(s));
    else
        log_line('I', "etcdserver",
                 "wrote the store at index %" PRIu64 " (store index %" PRIu64 ") from the %s "
                 "backend to the %s backend",
                 applied, store_index(s), engine_kind_name(from), engine_kind_name(to));
    store_free(s);
    return rc != 0 ? -1 : 0;
}

/* ---- engine to memory: a whole snapshot from the engine ---- */

typedef struct whole {
    const uint8_t *section; /* the cluster section, from the newest snapshot */
    size_t section_len;
    store_t *store;
    store_saver_t *saver; /* NULL: store_save from the loaded tree */
} whole_t;

static int write_to_snap(void *ctx, const void *buf, size_t len)
{
    return snap_writer_write(ctx, buf, len);
}

static int produce_whole(void *arg, snap_writer_t *sw)
{
    whole_t *w = arg;
    if (snap_writer_write(sw, w->section, w->section_len) != 0)
        return -1;
    return w->saver ? store_saver_run(w->saver, write_to_snap, sw)
                    : store_save(w->store, write_to_snap, sw);
}

/*
 * The term of entry `index`, from the WAL read after the snapshot (snap_index,
 * snap_term). A membership change between the snapshot and `index` would
 * be missing from the snapshot's cluster section if the snapshot moved to
 * `index`: refused, with what to do. 0 or -1 with err.
 */
static int term_at(const wal_read_result_t *res, uint64_t snap_index, uint64_t snap_term,
                   uint64_t index, const char *from, uint64_t *term, char *err, size_t err_len)
{
    if (index == snap_index) {
        *term = snap_term;
        return 0;
    }
    if (index - snap_index > res->n_entries) {
        snprintf(err, err_len,
                 "the %s backend is at index %" PRIu64 ", past the log's last entry %" PRIu64, from,
                 index, snap_index + res->n_entries);
        return -1;
    }
    for (uint64_t i = 0; i < index - snap_index; i++) {
        if (res->entries[i].type == RAFT_ENTRY_CONF_CHANGE) {
            snprintf(err, err_len,
                     "entry %" PRIu64 " after the snapshot at index %" PRIu64
                     " changes the cluster's members: start the member on the %s backend until "
                     "it saves a snapshot, then convert",
                     res->entries[i].index, snap_index, from);
            return -1;
        }
    }
    *term = res->entries[index - snap_index - 1].term;
    return 0;
}

/* With the snapshot and the store open: the file, then its WAL record. */
static int save_whole(const config_t *cfg, const char *snap_dir, const snap_loaded_t *snap,
                      size_t section_len, store_t *s, const char *from, char *err, size_t err_len)
{
    uint64_t applied = store_applied_index(s);
    wal_options_t wo = {.dir = data_dir_wal_path(cfg->data_dir, cfg->wal_dir)};
    wal_t *w = NULL;
    wal_read_result_t res = {0};
    uint64_t term = 0;
    int rc = wal_open(&w, &wo, snap->index, snap->term, &res, err, err_len);
    if (rc != 0 && err[0] == '\0')
        snprintf(err, err_len, "cannot open the log in %s: %s", wo.dir, strerror(-rc));
    if (rc == 0)
        rc = term_at(&res, snap->index, snap->term, applied, from, &term, err, err_len);
    wal_read_result_free(&res);
    whole_t wh = {snap->data, section_len, s, store_saver_new(s)};
    if (rc == 0 && wh.saver == NULL)
        store_load_all(s);
    if (rc == 0)
        rc = snap_save_stream(snap_dir, term, applied, produce_whole, &wh, err, err_len);
    /* The same index: the file replaced the one the WAL records already. */
    if (rc == 0 && applied != snap->index &&
        (wal_append_snapshot(w, applied, term) != 0 || wal_sync(w) != 0)) {
        snprintf(err, err_len, "cannot record the snapshot at index %" PRIu64 " in %s", applied,
                 wo.dir);
        rc = -1;
    }
    if (wh.saver)
        store_saver_free(wh.saver);
    if (w)
        wal_close(w);
    free((char *)wo.dir);
    if (rc == 0)
        log_line('I', "etcdserver",
                 "wrote the %s backend's store as the snapshot at index %" PRIu64, from, applied);
    return rc == 0 ? 0 : -1;
}

/*
 * Before an engine -> memory conversion: when the newest snapshot leaves
 * the store to the engine, writes the engine's store as a whole snapshot
 * at its applied index. 0 (also when nothing was needed) or -1 with err.
 */
static int whole_snapshot(const config_t *cfg, const char *member, engine_kind_t from,
                          const char *from_dir, char *err, size_t err_len)
{
    char *snap_dir = NULL, *wal_dir = data_dir_wal_path(cfg->data_dir, cfg->wal_dir);
    if (asprintf(&snap_dir, "%s/snap", member) < 0)
        abort();
    node_markers_t ml = {0};
    snap_loaded_t snap;
    int rc = wal_read_markers(wal_dir, &ml.m, &ml.n);
    free(wal_dir);
    if (rc == 0)
        rc = snap_load_newest(snap_dir, node_snapshot_recorded, &ml, NULL, NULL, &snap, err,
                              err_len);
    free(ml.m);
    if (rc != 0) {
        free(snap_dir);
        if (rc == -ENOENT)
            return 0; /* no snapshot: the WAL holds everything */
        if (err[0] == '\0')
            snprintf(err, err_len, "cannot read the newest snapshot: %s", strerror(-rc));
        return -1;
    }
    node_decoded_t d;
    node_decode_payload(snap.data, snap.len, &d);
    node_decoded_free(&d); /* only the split is used */
    if (d.rc != 0 || !node_snapshot_in_engine(d.sdata, d.slen)) {
        /* A whole one (or one the start will refuse with its reason). */
        snap_release(&snap);
        free(snap_dir);
        return 0;
    }
    engine_t *e = NULL;
    store_t *s = NULL;
    char lerr[256] = "";
    rc = open_engine(cfg, from, from_dir, &e, err, err_len);
    if (rc == 0 && (s = store_open_engine(&(store_config_t){.history_size = cfg->watch_history}, e,
                                          lerr, sizeof(lerr))) == NULL) {
        snprintf(err, err_len, "cannot read the store from %s: %s", from_dir, lerr);
        engine_close(e);
        rc = -1;
    }
    if (rc == 0 && store_applied_index(s) < snap.index) {
        snprintf(err, err_len,
                 "the %s backend is at index %" PRIu64 ", behind the snapshot at index %" PRIu64
                 " whose store it holds",
                 engine_kind_name(from), store_applied_index(s), snap.index);
        rc = -1;
    }
    if (rc == 0)
        rc = save_whole(cfg, snap_dir, &snap, (size_t)(d.sdata - snap.data), s,
                        engine_kind_name(from), err, err_len);
    store_free(s);
    snap_release(&snap);
    free(snap_dir);
    return rc;
}

/* The conversion with the data dir locked; paths in member/. */
static int convert(const config_t *cfg, const char *member, const char *from, const char *to,
                   char *err, size_t err_len)
{
    engine_kind_t fk = kind_of(from), tk = kind_of(to);
    char *from_dir = NULL, *to_dir = NULL, *tmp_dir = NULL;
    if (asprintf(&from_dir, "%s/%s", member, from) < 0 ||
        asprintf(&to_dir, "%s/%s", member, to) < 0 ||
        asprintf(&tmp_dir, "%s/%s.converting", member, to) < 0)
        abort();
    int rc = -1;
    /* A half-built engine of an earlier conversion, or a database left by
     * a data dir that once ran on `to`: neither holds this member's data
     * now, and the start would trust an engine it finds there. */
    if (fs_remove_tree(tmp_dir, err, err_len) != 0 || fs_remove_tree(to_dir, err, err_len) != 0)
        goto out;
    if (fk && tk) {
        if (copy_engine(cfg, fk, from_dir, tk, tmp_dir, err, err_len) != 0)
            goto out;
        if (fs_rename(tmp_dir, to_dir, err, err_len) != 0)
            goto out;
    }
    if (fk && !tk && whole_snapshot(cfg, member, fk, from_dir, err, err_len) != 0)
        goto out;
    if (fs_sync_dir(member, err, err_len) != 0)
        goto out;
    if (data_dir_set_backend(cfg->data_dir, to, err, err_len) != 0)
        goto out;
    if (fk && fs_remove_tree(from_dir, err, err_len) != 0) {
        /* Converted: only a stale directory is left. */
        log_line('W', "etcdserver", "%s", err);
        err[0] = '\0';
    }
    if (!tk)
        log_line('I', "etcdserver",
                 "the next start loads the newest snapshot and replays the WAL after it");
    else if (!fk)
        log_line('I', "etcdserver",
                 "the next start writes the newest snapshot's store to the %s backend and "
                 "replays the WAL after it",
                 to);
    log_line('N', "etcdserver", "converted data directory %s from the %s backend to the %s backend",
             cfg->data_dir, from, to);
    rc = 0;
out:
    free(from_dir);
    free(to_dir);
    free(tmp_dir);
    return rc;
}

int server_migrate_backend(const config_t *cfg, char *err, size_t err_len)
{
    const char *to = cfg->backend == CONFIG_BACKEND_LMDB      ? "lmdb"
                     : cfg->backend == CONFIG_BACKEND_LEVELDB ? "leveldb"
                                                              : "memory";
    char *wal = data_dir_wal_path(cfg->data_dir, cfg->wal_dir);
    bool has_log = wal_exists(wal);
    if (!has_log)
        snprintf(err, err_len, "no member data to convert in %s (no log in %s)", cfg->data_dir,
                 wal);
    free(wal);
    if (!has_log)
        return SERVER_E_RUNTIME;
    int lock_fd = -1;
    int rc = data_dir_open(cfg->data_dir, &lock_fd, err, err_len);
    if (rc == DATA_DIR_E_LOCKED) {
        /* Append: data_dir_open said which process holds it. */
        size_t l = strlen(err);
        snprintf(err + l, err_len - l, "; stop the member before converting its backend");
    }
    if (rc != 0)
        return SERVER_E_RUNTIME;
    char from[32];
    rc = data_dir_backend_of(cfg->data_dir, from, sizeof(from), err, err_len);
    if (rc == 0 && strcmp(from, "memory") != 0 && !kind_of(from)) {
        snprintf(err, err_len, "data directory %s names an unknown backend \"%s\"", cfg->data_dir,
                 from);
        rc = -1;
    }
    if (rc == 0 && strcmp(from, to) == 0) {
        log_line('N', "etcdserver", "data directory %s already uses the %s backend", cfg->data_dir,
                 to);
    } else if (rc == 0) {
        char *member = NULL;
        if (asprintf(&member, "%s/member", cfg->data_dir) < 0)
            abort();
        rc = convert(cfg, member, from, to, err, err_len);
        free(member);
    }
    close(lock_fd);
    return rc != 0 ? SERVER_E_RUNTIME : 0;
}
