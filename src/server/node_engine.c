/*
 * The engine's directory (member/lmdb or member/leveldb) replaced by the
 * store of a snapshot: when a follower installs the leader's snapshot, and
 * at a start whose engine is behind the newest snapshot (after an offline
 * conversion from the memory backend).
 *
 * The new engine is built beside the old one, in member/<kind>.new, by
 * store_build_engine, which streams the snapshot's records in bounded
 * commits (no tree in memory), and synced. Then member/<kind> becomes
 * member/<kind>.old and member/<kind>.new becomes member/<kind>: the
 * second rename is the commit point. node_engine_recover, at every start,
 * finishes or undoes what a crash interrupted: a .new beside the engine is
 * half built and goes; a .new without it was complete (it is renamed only
 * once synced) and takes its place; an .old always goes. An engine left
 * behind by a crash is never wrong, only old: the WAL and the snapshot
 * still hold everything after its applied index.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fs.h"
#include "common/log.h"
#include "src/server/node_int.h"

/* member/<kind><suffix>. Ownership: the caller frees it. */
static char *engine_dir(const node_t *n, const char *suffix)
{
    char *dir = NULL;
    if (asprintf(&dir, "%s/member/%s%s", n->cfg.data_dir,
                 engine_kind_name((engine_kind_t)n->cfg.backend), suffix) < 0)
        abort();
    return dir;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int node_engine_open_dir(engine_kind_t kind, const char *dir, uint64_t leveldb_cache_bytes,
                         uint64_t leveldb_write_buffer_bytes, engine_t **out, char *err,
                         size_t err_len)
{
    engine_options_t o = {.kind = kind,
                          .dir = dir,
                          .leveldb_cache_size = (size_t)leveldb_cache_bytes,
                          .leveldb_write_buffer_size = (size_t)leveldb_write_buffer_bytes};
    char eerr[256] = "";
    if (engine_open(&o, out, eerr, sizeof(eerr)) != 0) {
        snprintf(err, err_len, "cannot open the %s backend in %s: %s", engine_kind_name(kind), dir,
                 eerr);
        return -1;
    }
    return 0;
}

int node_engine_open_at(const node_t *n, const char *dir, engine_t **out, char *err, size_t err_len)
{
    return node_engine_open_dir((engine_kind_t)n->cfg.backend, dir, n->cfg.leveldb_cache_bytes,
                                n->cfg.leveldb_write_buffer_bytes, out, err, err_len);
}

int node_engine_open(const node_t *n, engine_t **out, char *err, size_t err_len)
{
    char *dir = engine_dir(n, "");
    int rc = node_engine_open_at(n, dir, out, err, err_len);
    free(dir);
    return rc;
}

int node_engine_recover(const node_t *n, char *err, size_t err_len)
{
    char *dir = engine_dir(n, ""), *fresh = engine_dir(n, ".new"), *old = engine_dir(n, ".old");
    char *member = NULL;
    if (asprintf(&member, "%s/member", n->cfg.data_dir) < 0)
        abort();
    int rc = 0;
    if (exists(fresh)) {
        if (exists(dir)) {
            rc = fs_remove_tree(fresh, err, err_len);
        } else if (fs_rename(fresh, dir, err, err_len) != 0) {
            rc = -1;
        } else {
            log_line('I', "etcdserver", "finished replacing the backend in %s", dir);
        }
    }
    if (rc == 0)
        rc = fs_remove_tree(old, err, err_len);
    if (rc == 0)
        rc = fs_sync_dir(member, err, err_len);
    free(dir);
    free(fresh);
    free(old);
    free(member);
    return rc;
}

int node_engine_replace(const node_t *n, const uint8_t *sdata, size_t slen, uint64_t index,
                        char *err, size_t err_len)
{
    char *dir = engine_dir(n, ""), *fresh = engine_dir(n, ".new"), *old = engine_dir(n, ".old");
    char *member = NULL;
    if (asprintf(&member, "%s/member", n->cfg.data_dir) < 0)
        abort();
    engine_t *e = NULL;
    int ret = -1;
    store_config_t scfg = {.history_size = n->cfg.watch_history};
    if (fs_remove_tree(fresh, err, err_len) != 0 || fs_remove_tree(old, err, err_len) != 0 ||
        node_engine_open_at(n, fresh, &e, err, err_len) != 0)
        goto fail;
    char berr[256] = "";
    int rc = store_build_engine(&scfg, e, sdata, slen, index, berr, sizeof(berr));
    engine_close(e);
    e = NULL;
    if (rc != 0) {
        snprintf(err, err_len, "cannot write the snapshot to %s: %s", fresh, berr);
        goto fail;
    }
    /* The commit point is the second rename; fsync the directory so that
     * it survives a power cut (node_engine_recover handles a crash before). */
    if (n->cfg.crash_point)
        n->cfg.crash_point("engine-replace-built");
    if (exists(dir) && fs_rename(dir, old, err, err_len) != 0)
        goto fail;
    if (n->cfg.crash_point)
        n->cfg.crash_point("engine-replace-swapping");
    if (fs_rename(fresh, dir, err, err_len) != 0 || fs_sync_dir(member, err, err_len) != 0)
        goto fail;
    log_line('I', "etcdserver", "wrote the store at index %" PRIu64 " to the %s backend", index,
             engine_kind_name((engine_kind_t)n->cfg.backend));
    ret = 0;
fail:
    free(dir);
    free(fresh);
    free(old);
    free(member);
    return ret;
}

void node_engine_drop_old(const node_t *n)
{
    char *old = engine_dir(n, ".old");
    char err[256];
    if (fs_remove_tree(old, err, sizeof(err)) != 0)
        log_line('W', "etcdserver", "%s", err);
    free(old);
}
