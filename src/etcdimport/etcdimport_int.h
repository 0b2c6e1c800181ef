/*
 * Internals of src/etcdimport/. Not for other layers (tests and the fuzz
 * target include it to reach the decoders).
 */
#ifndef METCD_ETCDIMPORT_INT_H
#define METCD_ETCDIMPORT_INT_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/etcdimport/etcdimport.h"

/* The bytes of a metcd store snapshot (docs/snapshot-format.md). */
typedef struct eimp_buf {
    uint8_t *p;
    size_t len, cap;
} eimp_buf_t;

/* ---- protobuf wire format (pb.c) ---- */

enum { EIMP_PB_VARINT = 0, EIMP_PB_FIXED64 = 1, EIMP_PB_BYTES = 2, EIMP_PB_FIXED32 = 5 };

typedef struct eimp_pb_reader {
    const uint8_t *p;
    size_t left;
} eimp_pb_reader_t;

typedef struct eimp_pb_field {
    uint32_t num;
    uint8_t wire;
    uint64_t u;          /* varint and fixed values */
    const uint8_t *data; /* EIMP_PB_BYTES: borrowed from the reader's buffer */
    size_t len;
} eimp_pb_field_t;

/* Returns 1 with *f filled, 0 at the end, -1 for bytes that are not a
 * protobuf message (groups, field 0, a length past the end). */
int eimp_pb_next(eimp_pb_reader_t *r, eimp_pb_field_t *f);

/* ---- etcd's WAL (wal_read.c) ---- */

typedef struct eimp_entry {
    uint64_t index, term;
    uint64_t type;       /* raftpb.EntryType: 0 normal, 1 conf change */
    const uint8_t *data; /* borrowed from the segment buffers */
    size_t len;
} eimp_entry_t;

typedef struct eimp_marker {
    uint64_t index, term;
} eimp_marker_t;

typedef struct eimp_wal {
    eimp_entry_t *entries; /* consecutive indexes, the latest copy of each */
    size_t n_entries, cap_entries;
    eimp_marker_t *markers; /* snapshot records, in log order */
    size_t n_markers, cap_markers;
    uint64_t hs_term, hs_vote, hs_commit; /* the last HardState record */
    uint32_t crc;                         /* the running CRC chain */
    bool seen_record;
    struct eimp_map {
        void *p;
        size_t len;
    } * maps; /* the segment files (read-only mappings) the entries point into */
    size_t n_maps;
} eimp_wal_t;

/*
 * Parses one WAL segment (the whole file) into w. `last`: the newest file,
 * whose torn last record or preallocated zeros end the log. The segment
 * bytes must outlive w (entries point into them). Returns 0 or -1 with err.
 */
int eimp_wal_parse_segment(eimp_wal_t *w, const uint8_t *data, size_t len, bool last, char *err,
                           size_t err_len);
/*
 * The names in d that end in `suffix` and, when exact_len is not 0, are
 * exact_len bytes long, sorted by strcmp; *n_out gets their count. The
 * caller owns the array and its strings (eimp_dir_names_free); NULL when
 * there is none. Aborts when memory runs out.
 */
char **eimp_dir_names(DIR *d, const char *suffix, size_t exact_len, size_t *n_out);
void eimp_dir_names_free(char **names, size_t n);
/* Reads every "*.wal" of dir in name order. 0 or -1 with err. */
int eimp_wal_read_dir(eimp_wal_t *w, const char *dir, char *err, size_t err_len);
void eimp_wal_free(eimp_wal_t *w);

/* ---- etcd's snapshot files (snap_read.c) ---- */

/*
 * Decodes a .snap file: snappb.Snapshot{crc, data} whose data (checked
 * against the CRC-32C) is a raftpb.Snapshot{data, metadata{index, term}}.
 * *payload (the v2 store JSON) points into file. 0 or -1 with err.
 */
int eimp_snap_decode(const uint8_t *file, size_t len, uint64_t *index, uint64_t *term,
                     const uint8_t **payload, size_t *payload_len, char *err, size_t err_len);

/* ---- the v2 store JSON (store_json.c) ---- */

/* Unix ns of a Go time in RFC 3339 ("2006-01-02T15:04:05.999999999Z07:00");
 * Go's zero time gives 0. Returns 0 or -1. */
int eimp_parse_time(const char *s, size_t len, int64_t *ns);

/* Where metcd's v2 auth keeps its records in the store (api/auth_int.h's
 * API_AUTH_ROOT: a name no client can reach). */
#define EIMP_AUTH_ROOT     "/_\0auth"
#define EIMP_AUTH_ROOT_LEN 7

/*
 * The metcd store path of an etcd store path: "/1/..." (the keys) without
 * its prefix, "/2/..." (v2 auth) below EIMP_AUTH_ROOT (written in scratch,
 * valid until its next use); NULL for anything else (/0, the cluster table).
 */
const char *eimp_map_path(const char *p, size_t len, size_t *out_len, eimp_buf_t *scratch);

/* Builds the store that etcd's v2 store JSON describes (its /1 subtree, its
 * index, its history and counters). Returns NULL with err. Ownership: the
 * caller frees the store. */
store_t *eimp_store_from_json(const uint8_t *json, size_t len, unsigned history_size, char *err,
                              size_t err_len);

/* ---- metcd store snapshots, rewritten (store_patch.c) ---- */

/* A change etcd made under /0 (its cluster table): one index, one event
 * that no watcher receives; `counter` is the /v2/stats/store counter it
 * bumps (0 getsSuccess ... 14 expireCount, in the snapshot's order). */
typedef struct eimp_hidden_change {
    uint8_t action; /* store_action_t */
    uint8_t counter;
} eimp_hidden_change_t;

/*
 * Saves s, appends the given changes (each takes the next index) and sets
 * the last request time to last_time_ns, then loads the result. Frees s.
 * Returns the new store, or NULL with err.
 */
store_t *eimp_store_patch(store_t *s, unsigned history_size, const eimp_hidden_change_t *changes,
                          size_t n_changes, int64_t last_time_ns, char *err, size_t err_len);

void eimp_buf_put(eimp_buf_t *b, const void *p, size_t n);
void eimp_buf_u8(eimp_buf_t *b, uint8_t v);
void eimp_buf_u64(eimp_buf_t *b, uint64_t v);
void eimp_buf_uvarint(eimp_buf_t *b, uint64_t v);
void eimp_buf_string(eimp_buf_t *b, const char *s, size_t n);
/* Header of a store snapshot: magic, version 2, index, counts, counters,
 * last time. */
#define EIMP_STATS_COUNT 15
void eimp_buf_header(eimp_buf_t *b, uint64_t index, uint64_t n_nodes, uint64_t n_events,
                     const uint64_t *counters, int64_t last_time_ns);
/* Appends the CRC-32C of everything in b. */
void eimp_buf_finish(eimp_buf_t *b);

/* ---- replaying WAL entries (replay.c) ---- */

typedef struct eimp_replay {
    store_t *store;
    unsigned history_size;
    int64_t last_sync_ns;          /* the newest SYNC time seen so far */
    int64_t next_sync_ns;          /* the time of the next SYNC in the log (0: none) */
    int64_t now_ns;                /* the import clock: the last resort */
    eimp_hidden_change_t *pending; /* /0 changes not yet in the store */
    eimp_buf_t scratch;
    size_t n_pending, cap_pending;
    uint64_t v2_requests, skipped_v3;
} eimp_replay_t;

/* Applies one committed entry. 0 or -1 with err (a malformed entry). */
int eimp_replay_entry(eimp_replay_t *rp, const eimp_entry_t *e, char *err, size_t err_len);
/* The time of a SYNC entry (etcd's leader clock), else 0. */
int64_t eimp_entry_sync_time(const eimp_entry_t *e);
/* Writes pending /0 changes into the store. 0 or -1 with err. */
int eimp_replay_flush(eimp_replay_t *rp, char *err, size_t err_len);

#endif /* METCD_ETCDIMPORT_INT_H */
