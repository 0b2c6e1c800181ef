/*
 * etcdimport_load: the newest usable v2 snapshot, then the committed WAL
 * entries after it, as etcd 3.4 rebuilds its v2 store at start
 * (etcdserver/server.go NewServer and the replay of the log).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "src/etcdimport/etcdimport_int.h"

static bool has_marker(const eimp_wal_t *w, uint64_t term, uint64_t index)
{
    for (size_t i = 0; i < w->n_markers; i++)
        if (w->markers[i].index == index && w->markers[i].term == term)
            return true;
    return false;
}

/* Maps a whole file read-only. 0 or -1 (errno set). */
static int map_file(const char *path, void **p, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || st.st_size == 0) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (*p == MAP_FAILED)
        return -1;
    *len = (size_t)st.st_size;
    return 0;
}

/*
 * The newest "<term>-<index>.snap" that the WAL has a marker for and that
 * verifies (etcd 3.4.23 picks the same: snapshotter LoadNewestAvailable),
 * loaded as a store. *s stays NULL when there is none: the log then holds
 * everything from the first entry.
 */
static int load_snapshot(const char *snap_dir, const eimp_wal_t *w, unsigned history_size,
                         store_t **s, etcdimport_info_t *info, char *err, size_t err_len)
{
    *s = NULL;
    DIR *d = opendir(snap_dir);
    if (d == NULL)
        return errno == ENOENT
                   ? 0
                   : (snprintf(err, err_len, "cannot open %s: %s", snap_dir, strerror(errno)), -1);
    size_t n;
    char **names = eimp_dir_names(d, ".snap", 38, &n);
    closedir(d);
    int rc = 0;
    for (size_t j = n; j > 0 && *s == NULL && rc == 0; j--) { /* newest first */
        size_t i = j - 1;
        uint64_t term, index;
        if (sscanf(names[i], "%16" SCNx64 "-%16" SCNx64 ".snap", &term, &index) != 2 ||
            !has_marker(w, term, index))
            continue;
        char *path = NULL;
        if (asprintf(&path, "%s/%s", snap_dir, names[i]) < 0)
            abort();
        void *m;
        size_t len;
        int mrc = map_file(path, &m, &len);
        if (mrc != 0)
            fprintf(stderr, "etcdimport: skipping %s: %s\n", path, strerror(errno));
        if (mrc != 0) {
            free(path);
            continue;
        }
        uint64_t si, st;
        const uint8_t *json;
        size_t jlen;
        char serr[256];
        if (eimp_snap_decode(m, len, &si, &st, &json, &jlen, serr, sizeof(serr)) != 0 ||
            si != index || st != term) {
            /* etcd too passes over a broken snapshot to an older one. */
            fprintf(stderr, "etcdimport: skipping %s: %s\n", path,
                    si != index ? "its name and contents disagree" : serr);
            munmap(m, len);
            free(path);
            continue;
        }
        free(path);
        *s = eimp_store_from_json(json, jlen, history_size, err, err_len);
        munmap(m, len);
        if (*s == NULL)
            rc = -1;
        info->snap_index = index;
        info->snap_term = term;
    }
    eimp_dir_names_free(names, n);
    return rc;
}

int etcdimport_load(const char *data_dir, unsigned history_size, store_t **out,
                    etcdimport_info_t *info, char *err, size_t err_len)
{
    memset(info, 0, sizeof(*info));
    *out = NULL;
    char wal_dir[4096], snap_dir[4096];
    snprintf(wal_dir, sizeof(wal_dir), "%s/member/wal", data_dir);
    snprintf(snap_dir, sizeof(snap_dir), "%s/member/snap", data_dir);
    struct stat st;
    if (stat(wal_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, err_len, "%s is not an etcd data directory (no member/wal)", data_dir);
        return -1;
    }
    eimp_wal_t w = {0};
    eimp_replay_t rp = {.history_size = history_size};
    int rc = eimp_wal_read_dir(&w, wal_dir, err, err_len);
    if (rc == 0)
        rc = load_snapshot(snap_dir, &w, history_size, &rp.store, info, err, err_len);
    if (rc == 0 && rp.store == NULL) {
        store_config_t cfg = {.history_size = history_size};
        rp.store = store_new(&cfg);
        if (rp.store == NULL)
            abort();
    }
    info->commit_index = w.hs_commit;
    /* Entries after the snapshot, up to the last commit etcd recorded. */
    size_t first = 0;
    while (rc == 0 && first < w.n_entries && w.entries[first].index <= info->snap_index)
        first++;
    if (rc == 0 && first < w.n_entries && w.entries[first].index != info->snap_index + 1) {
        snprintf(err, err_len,
                 "the log starts at entry %" PRIu64 " but the newest usable snapshot is at %" PRIu64
                 ": entries are missing",
                 w.entries[first].index, info->snap_index);
        rc = -1;
    }
    /* The time of the next SYNC after each entry: the clock a TTL is read at. */
    int64_t *next_sync = calloc(w.n_entries + 1, sizeof(*next_sync));
    if (next_sync == NULL)
        abort();
    for (size_t i = w.n_entries; rc == 0 && i-- > first;) {
        int64_t t = eimp_entry_sync_time(&w.entries[i]);
        next_sync[i] = t ? t : next_sync[i + 1];
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    rp.now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    for (size_t i = first; rc == 0 && i < w.n_entries; i++) {
        if (w.entries[i].index > w.hs_commit) {
            info->entries_uncommitted++;
            continue;
        }
        rp.next_sync_ns = next_sync[i + 1];
        rc = eimp_replay_entry(&rp, &w.entries[i], err, err_len);
        info->entries_applied++;
    }
    if (rc == 0)
        rc = eimp_replay_flush(&rp, err, err_len);
    /* Replayed requests carried times of their own; like a restarted etcd,
     * the result gives TTL keys no time back (see store_json.c). */
    if (rc == 0 && info->entries_applied > 0) {
        rp.store = eimp_store_patch(rp.store, history_size, NULL, 0, 0, err, err_len);
        rc = rp.store ? 0 : -1;
    }
    free(next_sync);
    info->v2_requests = rp.v2_requests;
    info->skipped_v3 = rp.skipped_v3;
    free(rp.pending);
    free(rp.scratch.p);
    eimp_wal_free(&w);
    if (rc != 0) {
        if (rp.store)
            store_free(rp.store);
        return -1;
    }
    info->store_index = store_index(rp.store);
    info->nodes = store_node_count(rp.store);
    *out = rp.store;
    return 0;
}
