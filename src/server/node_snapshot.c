/*
 * Snapshots of the member (etcd's EtcdServer.snapshot and its purge): every
 * --snapshot-count applied entries a forked child saves the cluster state
 * and the store; then the WAL records a marker, and once that is durable
 * the segments and older snapshots it covers are released and the in-memory
 * log is compacted. A follower too far behind gets the leader's newest
 * snapshot file over the peer transport and installs it.
 *
 * A snapshot file's payload: "METCDCS2", the length of the cluster section
 * (u32), the CRC32C of the section (u32), the section (the raft
 * configuration and the member table at the snapshot's index), then the
 * store (store_save). The section's own CRC lets a start whose engine
 * already holds the store check only the section, not the whole file.
 * "METCDCS1" is the same without the CRC (older snapshots); a payload with
 * neither magic was written before clusters: all store, one member.
 *
 * A member alone on lmdb or leveldb writes no store into its snapshots: the
 * store part is "METCDENG" and the applied index, written once the engine
 * is synced at that index. etcd 3.4 does the same (its .snap files hold
 * only the v2 store of members; the data is in bbolt), and for the same
 * reason: a whole-store snapshot every --snapshot-count entries costs time
 * and memory that grow with the data set, while the engine already holds
 * the store durably and a restart replays the WAL after the engine's
 * applied index. Nobody is sent such a snapshot: a member that gets peers
 * takes a whole one at once (node_maybe_snapshot), and until then the
 * leader refuses to send it (node_snapshot_open; raft tries again).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/endian.h"
#include "common/log.h"
#include "snap/snap.h"
#include "src/server/node_int.h"

#define CLUSTER_MAGIC     "METCDCS2"
#define CLUSTER_MAGIC_V1  "METCDCS1"
#define CLUSTER_MAGIC_LEN 8
#define CLUSTER_HEAD      (CLUSTER_MAGIC_LEN + 4 + 4) /* magic, length, CRC */
#define ENGINE_MAGIC      "METCDENG"

/* ---- the cluster section ---- */

static void put_ids(uint8_t **p, size_t *len, const uint64_t *ids, size_t n)
{
    *p = realloc(*p, *len + 4 + 8 * n);
    if (*p == NULL)
        abort();
    le_put32(*p + *len, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        le_put64(*p + *len + 4 + 8 * i, ids[i]);
    *len += 4 + 8 * n;
}

void node_encode_cluster_state(const struct raft_conf_state *cs, const membership_t *m,
                               uint8_t **out, size_t *len)
{
    uint8_t *b = NULL;
    size_t n = CLUSTER_HEAD;
    b = malloc(n);
    if (b == NULL)
        abort();
    memcpy(b, CLUSTER_MAGIC, CLUSTER_MAGIC_LEN);
    put_ids(&b, &n, cs->voters, cs->n_voters);
    put_ids(&b, &n, cs->voters_outgoing, cs->n_voters_outgoing);
    put_ids(&b, &n, cs->learners, cs->n_learners);
    uint8_t *menc = NULL;
    size_t mlen = 0;
    membership_encode(m, &menc, &mlen);
    b = realloc(b, n + 4 + mlen);
    if (b == NULL)
        abort();
    le_put32(b + n, (uint32_t)mlen);
    memcpy(b + n + 4, menc, mlen);
    n += 4 + mlen;
    free(menc);
    le_put32(b + CLUSTER_MAGIC_LEN, (uint32_t)(n - CLUSTER_HEAD));
    le_put32(b + CLUSTER_MAGIC_LEN + 4, crc32c(0, b + CLUSTER_HEAD, n - CLUSTER_HEAD));
    *out = b;
    *len = n;
}

static int get_ids(const uint8_t *p, size_t len, size_t *off, uint64_t **ids, size_t *n)
{
    if (len - *off < 4)
        return -1;
    uint32_t c = le_get32(p + *off);
    *off += 4;
    if (c > (len - *off) / 8)
        return -1;
    *ids = malloc((c ? c : 1) * sizeof(**ids));
    if (*ids == NULL)
        abort();
    for (uint32_t i = 0; i < c; i++)
        (*ids)[i] = le_get64(p + *off + 8 * i);
    *off += 8 * (size_t)c;
    *n = c;
    return 0;
}

bool node_snapshot_section_checked(const uint8_t *data, size_t len)
{
    return len >= CLUSTER_HEAD && memcmp(data, CLUSTER_MAGIC, CLUSTER_MAGIC_LEN) == 0;
}

int node_decode_snapshot(const uint8_t *data, size_t len, bool *has_cluster,
                         struct raft_conf_state *cs, membership_t *m, const uint8_t **store,
                         size_t *store_len)
{
    memset(cs, 0, sizeof(*cs));
    *has_cluster = false;
    bool v2 = node_snapshot_section_checked(data, len);
    bool v1 = !v2 && len >= CLUSTER_MAGIC_LEN + 4 &&
              memcmp(data, CLUSTER_MAGIC_V1, CLUSTER_MAGIC_LEN) == 0;
    if (!v1 && !v2) {
        *store = data;
        *store_len = len;
        return 0;
    }
    size_t head = v2 ? CLUSTER_HEAD : CLUSTER_MAGIC_LEN + 4;
    size_t sec = le_get32(data + CLUSTER_MAGIC_LEN);
    if (sec > len - head)
        return -1;
    size_t end = head + sec;
    if (v2 && crc32c(0, data + head, sec) != le_get32(data + CLUSTER_MAGIC_LEN + 4))
        return -1;
    size_t off = head;
    if (get_ids(data, end, &off, &cs->voters, &cs->n_voters) != 0 ||
        get_ids(data, end, &off, &cs->voters_outgoing, &cs->n_voters_outgoing) != 0 ||
        get_ids(data, end, &off, &cs->learners, &cs->n_learners) != 0 || end - off < 4) {
        raft_conf_state_free(cs);
        return -1;
    }
    size_t mlen = le_get32(data + off);
    off += 4;
    if (mlen != end - off || membership_decode(data + off, mlen, m) != 0) {
        raft_conf_state_free(cs);
        return -1;
    }
    *has_cluster = true;
    *store = data + end;
    *store_len = len - end;
    return 0;
}

bool node_snapshot_recorded(void *markers, uint64_t term, uint64_t index)
{
    const node_markers_t *ml = markers;
    for (size_t i = 0; i < ml->n; i++)
        if (ml->m[i].index == index && ml->m[i].term == term)
            return true;
    return false;
}

bool node_snapshot_in_engine(const uint8_t *store, size_t len)
{
    return len == NODE_ENGINE_MARK_LEN && memcmp(store, ENGINE_MAGIC, CLUSTER_MAGIC_LEN) == 0;
}

void node_decode_payload(const uint8_t *data, size_t len, node_decoded_t *d)
{
    memset(d, 0, sizeof(*d));
    d->rc =
        node_decode_snapshot(data, len, &d->has_cluster, &d->cs, &d->members, &d->sdata, &d->slen);
}

void node_decoded_free(node_decoded_t *d)
{
    if (d->rc == 0 && d->has_cluster) {
        raft_conf_state_free(&d->cs);
        membership_free(&d->members);
    }
    d->has_cluster = false;
}

void node_snapshot_engine_mark(uint64_t index, uint8_t out[NODE_ENGINE_MARK_LEN])
{
    memcpy(out, ENGINE_MAGIC, CLUSTER_MAGIC_LEN);
    le_put64(out + CLUSTER_MAGIC_LEN, index);
}

/* ---- taking snapshots ---- */

/* One voter and no learner: nobody is ever sent this member's entries. */
static bool trims_log(const node_t *n)
{
    return node_single_voter(n) && n->conf.n_learners == 0;
}

/*
 * The in-memory log exists to send entries to followers (a restart reads
 * the WAL, and the WAL keeps every entry until a snapshot covers it), so a
 * one-member cluster need not keep more than etcd keeps after a snapshot
 * (snapshotCatchUpEntries) plus --snapshot-count. Compacting it only
 * behind a snapshot let it grow as long as a snapshot took: on lmdb with
 * millions of keys more than the member's memory, a snapshot took a
 * minute, the log gained a million entries meanwhile and a member in a
 * 512 MB memory cgroup was killed. A member that gets peers later takes a
 * snapshot at once (node_maybe_snapshot), the only way to catch them up.
 */
void node_trim_log(node_t *n)
{
    if (n->cfg.snapshot_count == 0 || !trims_log(n) || n->applied <= CATCH_UP_ENTRIES)
        return;
    uint64_t kept = n->snap_index > n->trimmed_index ? n->snap_index : n->trimmed_index;
    uint64_t to = n->applied - CATCH_UP_ENTRIES;
    if (to <= kept || to - kept < n->cfg.snapshot_count)
        return;
    if (raft_storage_mem_trim(n->mem, to) == 0) {
        n->trimmed_index = to;
        log_line('I', "etcdserver",
                 "compacted raft log at %" PRIu64 " (no snapshot covers it yet; the WAL keeps it)",
                 to);
    }
}

/*
 * Writes a snapshot whose store is the engine's (the header comment), at
 * the applied index: the engine is synced first, so the file never names
 * an index the engine could lose. Small and written at once, on this
 * thread; then recorded in the WAL as any snapshot.
 */
static void save_in_engine(node_t *n, uint64_t term, const uint8_t *prefix, size_t plen)
{
    char err[512] = "";
    if (store_sync(n->store) != 0) {
        snprintf(err, sizeof(err), "cannot sync the store's backend: %s",
                 store_engine_error(n->store));
    } else {
        size_t len = plen + NODE_ENGINE_MARK_LEN;
        uint8_t *b = malloc(len);
        if (b == NULL)
            abort();
        memcpy(b, prefix, plen);
        node_snapshot_engine_mark(n->applied, b + plen);
        if (n->cfg.crash_point)
            n->cfg.crash_point("snapshot-save");
        if (snap_save(n->snap_dir, term, n->applied, b, len, err, sizeof(err)) == 0)
            err[0] = '\0';
        else if (err[0] == '\0')
            snprintf(err, sizeof(err), "%s", strerror(errno));
        free(b);
    }
    if (err[0] != '\0')
        log_line('E', "etcdserver", "failed to save the snapshot at index %" PRIu64 ": %s",
                 n->applied, err);
    node_on_snapshot_saved(n, err[0] ? -1 : 0, n->applied, term);
}

void node_maybe_snapshot(node_t *n)
{
    if (n->cfg.snapshot_count == 0 || snapshotter_busy(&n->snapper) || n->marker_batch != 0)
        return;
    /* After a failed attempt the next one waits for another snapshot-count
     * of entries, so a disk that cannot take snapshots does not get a fork
     * per write. */
    uint64_t since = n->snap_index > n->snap_failed_at ? n->snap_index : n->snap_failed_at;
    /* Peers joined a member whose log was trimmed past its newest snapshot
     * (node_trim_log): they can only be caught up by a newer one. */
    bool stale = !trims_log(n) && n->trimmed_index > since;
    /* Likewise when the newest snapshot holds no store (it cannot be sent);
     * after a failed attempt, the usual wait. */
    if (!trims_log(n) && n->snap_in_engine && n->snap_failed_at <= n->snap_index)
        stale = true;
    if (n->applied - since < n->cfg.snapshot_count && !stale)
        return;
    uint64_t term = raft_log_term_at(n->raft, n->applied);
    if (term == 0)
        return;
    /* The engine's batch may lag behind the applied index (node.c): no more. */
    node_engine_commit(n);
    /* Alone on an engine: a snapshot of the cluster section only (the
     * header comment). The engine must hold exactly the applied index. */
    bool in_engine = trims_log(n) && store_has_engine(n->store);
    if (in_engine && store_applied_index(n->store) != n->applied)
        return;
    log_line('I', "etcdserver", "start to snapshot (applied: %" PRIu64 ", lastsnap: %" PRIu64 ")",
             n->applied, n->snap_index);
    uint8_t *prefix = NULL;
    size_t plen = 0;
    node_encode_cluster_state(&n->conf, &n->members, &prefix, &plen);
    raft_conf_state_free(&n->snap_conf);
    raft_conf_state_copy(&n->snap_conf, &n->conf);
    n->marker_in_engine = in_engine;
    if (in_engine) {
        save_in_engine(n, term, prefix, plen);
        free(prefix);
        return;
    }
    /*
     * On lmdb and leveldb a thread writes the snapshot from the engine's
     * read view, taken now, at the applied index (every applied entry was
     * committed just above). Otherwise a forked child saves
     * the tree it inherits, which must then hold every node (the next
     * commit trims the cache again; the child keeps its own image).
     */
    store_saver_t *sv = store_saver_new(n->store);
    int rc;
    if (sv != NULL) {
        rc = snapshotter_start_saver(&n->snapper, sv, n->applied, term, prefix, plen);
    } else {
        store_load_all(n->store);
        rc = snapshotter_start(&n->snapper, n->store, n->applied, term, prefix, plen);
    }
    if (rc != 0) {
        log_line('E', "etcdserver", "cannot start a snapshot: %s", strerror(errno));
        n->snap_failed_at = n->applied;
    }
    free(prefix);
}

void node_on_snapshot_saved(void *arg, int status, uint64_t index, uint64_t term)
{
    node_t *n = arg;
    if (status != 0) {
        log_line('E', "etcdserver", "saving the snapshot at index %" PRIu64 " failed", index);
        n->snap_failed_at = index;
        return;
    }
    /*
     * The snapshot file is durable; now the WAL records that it exists. Only
     * once that marker is durable may segments before it go (a crash in
     * between leaves a snapshot without a marker, which the start skips:
     * etcd 3.5's order).
     */
    if (wal_append_snapshot(n->wal, index, term) != 0) {
        log_line('E', "etcdserver", "cannot record the snapshot at index %" PRIu64, index);
        n->snap_failed_at = index;
        return;
    }
    n->marker_index = index;
    n->marker_term = term;
    n->marker_batch = wal_sync_async(n->wal);
}

static void release_behind(node_t *n, uint64_t index)
{
    /* The engine commits without fsync; the WAL entries it covers may go
     * only once its commits are durable, or a power loss would lose both.
     * Its batch may also hold entries not committed yet (node.c). */
    node_engine_commit(n);
    int rc = store_sync(n->store);
    if (rc != 0) {
        log_line('W', "etcdserver", "cannot sync the store's backend, keeping the WAL: %s",
                 store_engine_error(n->store));
        return;
    }
    if (n->cfg.crash_point)
        n->cfg.crash_point("wal-release");
    rc = wal_release_to(n->wal, index);
    if (rc < 0)
        log_line('W', "etcdserver", "cannot release WAL segments: %s", strerror(-rc));
    rc = snap_purge(n->snap_dir, n->cfg.max_snapshots);
    if (rc < 0)
        log_line('W', "etcdserver", "cannot purge old snapshots: %s", strerror(-rc));
}

void node_on_marker_durable(node_t *n)
{
    uint64_t index = n->marker_index;
    n->snap_index = index;
    n->snap_term = n->marker_term;
    n->snap_in_engine = n->marker_in_engine;
    log_line('I', "etcdserver", "saved snapshot at index %" PRIu64 "%s", index,
             n->snap_in_engine ? " (the store is in the backend)" : "");
    release_behind(n, index);
    /* The in-memory log keeps a tail behind the snapshot (etcd: compact to
     * snapshot index - snapshotCatchUpEntries); a follower behind that tail
     * gets the snapshot file. */
    if (raft_storage_mem_create_snapshot(n->mem, index, &n->snap_conf, NULL, 0) == 0 &&
        index > CATCH_UP_ENTRIES)
        raft_storage_mem_compact(n->mem, index - CATCH_UP_ENTRIES);
    /* Entries applied while this snapshot was being written may already
     * call for the next one; with no write after them the check at the end
     * of a Ready would never come (etcd checks after every apply). Between
     * Readies only: a batch in flight checks when it finishes. */
    if (!n->rd_out)
        node_maybe_snapshot(n);
}

/* ---- sending and receiving snapshot files ---- */

static char *snap_path(const node_t *n, uint64_t term, uint64_t index, const char *suffix)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%016" PRIx64 "-%016" PRIx64 ".snap%s", n->snap_dir, term, index, suffix) <
        0)
        abort();
    return p;
}

int node_snapshot_open(node_t *n, uint64_t index, uint64_t term, uint64_t *size)
{
    if (n->snap_in_engine && index == n->snap_index) {
        /* A whole one is on its way (node_maybe_snapshot). */
        log_line('I', "etcdserver",
                 "the snapshot at index %" PRIu64 " holds no store; waiting for a whole one "
                 "before sending a snapshot",
                 index);
        return -1;
    }
    char *path = snap_path(n, term, index, "");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) != 0) {
        close(fd);
        fd = -1;
    }
    if (fd < 0)
        log_line('W', "etcdserver", "cannot open snapshot %s to send: %s", path, strerror(errno));
    else
        *size = (uint64_t)st.st_size;
    free(path);
    return fd;
}

int node_snapshot_receive_begin(node_t *n, uint64_t from, uint64_t index, uint64_t term,
                                uint64_t size)
{
    if (n->recv_fd >= 0 || index <= n->applied)
        return -1; /* one at a time; an old one is of no use */
    char *path = snap_path(n, term, index, ".recv");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        log_line('E', "etcdserver", "cannot receive a snapshot into %s: %s", path, strerror(errno));
    else
        log_line('I', "etcdserver",
                 "receiving database snapshot [index: %" PRIu64 ", from: %" PRIx64
                 ", size: %" PRIu64 " bytes]",
                 index, from, size);
    free(path);
    n->recv_fd = fd;
    n->recv_index = index;
    n->recv_term = term;
    return fd;
}

static bool accept_exact(void *arg, uint64_t term, uint64_t index)
{
    const uint64_t *want = arg;
    return want[0] == term && want[1] == index;
}

int node_snapshot_receive_end(node_t *n, int fd, bool ok)
{
    if (fd != n->recv_fd)
        return -1;
    n->recv_fd = -1;
    char *tmp = snap_path(n, n->recv_term, n->recv_index, ".recv");
    char *path = snap_path(n, n->recv_term, n->recv_index, "");
    /* Durable before raft hears of it: the WAL will record the snapshot and
     * a restart must find the file (the same order as a local snapshot). */
    int rc = ok && fsync(fd) == 0 ? 0 : -1;
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc == 0) {
        int dfd = open(n->snap_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        /* Check it whole (magic, length, CRC) before accepting it. */
        uint64_t want[2] = {n->recv_term, n->recv_index};
        snap_loaded_t s;
        char err[256] = "";
        if (snap_load_newest(n->snap_dir, accept_exact, want, NULL, NULL, &s, err, sizeof(err)) ==
            0)
            snap_release(&s);
        else
            rc = -1;
    } else {
        unlink(tmp);
    }
    log_line(rc == 0 ? 'I' : 'W', "etcdserver", "%s database snapshot at index %" PRIu64,
             rc == 0 ? "received" : "refused", n->recv_index);
    free(tmp);
    free(path);
    return rc;
}

int node_install_snapshot(node_t *n, const struct raft_snapshot *rs)
{
    uint64_t want[2] = {rs->meta.term, rs->meta.index};
    snap_loaded_t s;
    char err[256] = "";
    if (snap_load_newest(n->snap_dir, accept_exact, want, NULL, NULL, &s, err, sizeof(err)) != 0) {
        log_line('E', "etcdserver", "the snapshot at index %" PRIu64 " is missing: %s",
                 rs->meta.index, err);
        return -1;
    }
    bool has_cluster = false;
    struct raft_conf_state cs;
    membership_t m = {0};
    const uint8_t *sdata = NULL;
    size_t slen = 0;
    store_t *fresh = NULL;
    char lerr[256] = "";
    bool beside = store_has_engine(n->store);
    if (node_decode_snapshot(s.data, s.len, &has_cluster, &cs, &m, &sdata, &slen) == 0 &&
        node_snapshot_in_engine(sdata, slen)) {
        /* Never sent (node_snapshot_open): the sender's engine held it. */
        snprintf(lerr, sizeof(lerr), "it holds no store");
    } else if (has_cluster) {
        store_config_t scfg = {.history_size = n->cfg.watch_history,
                               .cache_nodes = (size_t)n->cfg.backend_cache_nodes};
        if (beside) {
            /* On lmdb and leveldb the snapshot's store goes to a new engine
             * built beside the one in use, then swapped in (node_engine.c):
             * no tree of the whole store in memory, and a crash leaves the
             * old engine or the new one. A snapshot thread reading the old
             * engine must be done first. */
            snapshotter_cancel(&n->snapper);
            /* Nor may a commit of the old engine still be running: its
             * failure would go unseen once the engine is closed. */
            node_engine_drain(n);
            if (node_engine_replace(n, sdata, slen, rs->meta.index, lerr, sizeof(lerr)) == 0) {
                /* Swapped: the old engine goes now (the store keeps its
                 * tree until store_replace); from here a failure stops the
                 * member, whose restart finds the new engine in place. */
                engine_close(store_engine_detach_unloaded(n->store));
                engine_t *e = NULL;
                if (node_engine_open(n, &e, lerr, sizeof(lerr)) != 0 ||
                    (fresh = store_open_engine(&scfg, e, lerr, sizeof(lerr))) == NULL) {
                    log_line('E', "etcdserver",
                             "cannot open the store written from the snapshot at index %" PRIu64
                             ": %s; stopping",
                             rs->meta.index, lerr);
                    abort();
                }
            }
        } else {
            fresh = store_load(&scfg, sdata, slen, lerr, sizeof(lerr));
        }
    }
    snap_release(&s);
    if (fresh == NULL || !has_cluster) {
        log_line('E', "etcdserver", "cannot load the snapshot at index %" PRIu64 ": %s",
                 rs->meta.index, lerr[0] ? lerr : "no cluster section");
        if (has_cluster) {
            raft_conf_state_free(&cs);
            membership_free(&m);
        }
        store_free(fresh);
        return -1;
    }
    /* The store now is exactly the snapshot (on an engine: the new engine
     * too; the old one's directory goes), so entries after it are applied
     * again. */
    store_replace(n->store, fresh);
    if (beside)
        node_engine_drop_old(n);
    n->engine_applied = rs->meta.index;
    n->engine_pending = 0; /* the old store's batch went with it */
    node_watch_engine(n);  /* and its commit thread */
    raft_conf_state_free(&n->conf);
    n->conf = cs;
    membership_free(&n->members);
    n->members = m;
    struct raft_snapshot meta = {.meta = {.index = rs->meta.index, .term = rs->meta.term}};
    meta.meta.conf = n->conf;
    raft_storage_mem_apply_snapshot(n->mem, &meta);
    n->applied = rs->meta.index;
    if (n->durable_index < rs->meta.index)
        n->durable_index = rs->meta.index;
    n->snap_index = rs->meta.index;
    n->snap_term = rs->meta.term;
    n->snap_in_engine = false;
    raft_conf_state_free(&n->snap_conf);
    raft_conf_state_copy(&n->snap_conf, &n->conf);
    log_line('I', "etcdserver", "applied incoming snapshot at index %" PRIu64, rs->meta.index);
    /* The marker went into the WAL with this Ready and is durable now. */
    release_behind(n, rs->meta.index);
    node_sync_peers(n);
    return 0;
}
