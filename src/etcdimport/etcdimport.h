/*
 * src/etcdimport/: reads an etcd 3.4 data directory offline and rebuilds its
 * v2 keyspace as a metcd store, with etcd's indexes.
 *
 * etcd 3.4 keeps the v2 store in two places (the v3 keyspace in member/snap/db
 * is not read): the newest v2 snapshot, member/snap/<term>-<index>.snap, whose
 * payload is the v2 store as JSON (etcd's v2store Save), and the WAL,
 * member/wal/<seq>-<index>.wal, whose committed entries after the snapshot
 * are replayed here as etcd replays them at start (etcdserver/apply_v2.go).
 * The result has the same tree (every key, directory, value, TTL deadline
 * and hidden key of the /v2/keys space), the same createdIndex and
 * modifiedIndex on every node, the same store index (X-Etcd-Index), and the
 * event history etcd would hold after a restart, so a client's waitIndex
 * inside that history keeps working.
 *
 * etcd keeps its cluster table in the same store, under /0, and the user's
 * keys under /1. Only /1 becomes the metcd tree; each change etcd made under
 * /0 keeps its index as a history event that no watcher ever receives, so
 * the indexes after it stay etcd's.
 *
 * Nothing here writes: the caller saves the store (src/server/import.c).
 */
#ifndef METCD_ETCDIMPORT_H
#define METCD_ETCDIMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct etcdimport_info {
    uint64_t snap_index, snap_term; /* the etcd snapshot used; 0 when none */
    uint64_t commit_index;          /* etcd's last recorded commit index */
    uint64_t entries_applied;       /* WAL entries replayed after the snapshot */
    uint64_t entries_uncommitted;   /* WAL entries past the commit index, left out */
    uint64_t v2_requests;           /* of the applied entries, v2 requests */
    uint64_t skipped_v3;            /* entries carrying v3 requests (not v2 data) */
    uint64_t store_index;           /* X-Etcd-Index of the result */
    uint64_t nodes;                 /* keys and directories of the result */
} etcdimport_info_t;

/*
 * Reads the etcd data directory `data_dir` (the one given to etcd's
 * --data-dir; its member/ directory is read) and returns the store.
 * history_size: events kept for waitIndex (metcd's --watch-history).
 * Returns 0 and *out (the caller frees it with store_free()), or -1 with one
 * line in err: a directory that is not an etcd data dir, a damaged snapshot
 * or WAL record (CRC mismatch), or entries missing between the snapshot and
 * the log. A torn last record of the last WAL file (etcd was killed while
 * writing it) ends the log, as etcd's own start repairs it.
 */
int etcdimport_load(const char *data_dir, unsigned history_size, store_t **out,
                    etcdimport_info_t *info, char *err, size_t err_len);

#endif /* METCD_ETCDIMPORT_H */
