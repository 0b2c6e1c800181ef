/*
 * wal/ internals shared by its files and its tests. Not part of the public
 * interface.
 */
#ifndef METCD_WAL_INT_H
#define METCD_WAL_INT_H

#include "common/crc32c.h"
#include "common/endian.h"
#include "common/fs.h"
#include "wal/wal.h"

#include <pthread.h>
#include <stdarg.h>
#include <sys/types.h>

/* ---- I/O shim: every call that can fail on a bad disk goes through it, so
 * tests can inject short writes, ENOSPC and fsync errors. Each returns what
 * the system call returns (-1 with errno set on failure). ---- */

/* ---- records ---- */
enum {
    WAL_REC_METADATA = 1,
    WAL_REC_ENTRY = 2,
    WAL_REC_HARD_STATE = 3,
    WAL_REC_SNAPSHOT = 4,
    WAL_REC_CRC = 5,
    WAL_REC_MAX = 5,
};

#define WAL_HDR_SIZE 8u
#define WAL_PAD8(n)  (((n) + 7u) & ~(size_t)7u)

static inline size_t wal_record_size(size_t payload_len)
{
    return WAL_HDR_SIZE + WAL_PAD8(payload_len);
}

/* Writes the header (CRC left 0) and the payload with its zero padding at
 * dst, which has room for wal_record_size(len). Returns the record size. */
size_t wal_record_encode(uint8_t *dst, int type, const void *payload, size_t len);
/* Computes the chained CRC of the encoded record at rec, stores it in the
 * header and returns it. */
uint32_t wal_record_seal(uint8_t *rec, uint32_t prev_crc);

/* Outcome of decoding one record at buf[off] of a file of `size` bytes. */
enum wal_decode {
    WAL_DEC_OK = 0,
    WAL_DEC_END,     /* a zero word: the end of what was written */
    WAL_DEC_TORN,    /* partial or with an all-zero sector: a torn write */
    WAL_DEC_CORRUPT, /* anything else that does not verify */
};
typedef struct wal_record {
    int type;
    const uint8_t *payload;
    size_t len;
    size_t size; /* whole record */
    uint32_t crc;
} wal_record_t;
/* what (on WAL_DEC_CORRUPT) says why, e.g. "crc mismatch". */
enum wal_decode wal_record_decode(const uint8_t *buf, size_t size, size_t off, uint32_t prev_crc,
                                  wal_record_t *rec, const char **what);

/* ---- segments ---- */
typedef struct wal_segment {
    uint64_t seq;
    uint64_t first_index;
} wal_segment_t;

/* "%016lx-%016lx.wal" into buf (>= 40 bytes). */
void wal_segment_name(char *buf, size_t len, uint64_t seq, uint64_t first_index);
/* Lists dir's segments sorted by seq (malloc'd array, caller frees).
 * -ENOENT if dir is missing. */
int wal_segment_list(const char *dir, wal_segment_t **out, size_t *n);
/* Removes "*.wal.tmp" files (segments being prepared when a process died).
 * Only under the directory lock: another process may be preparing one. */
void wal_segment_remove_tmp(const char *dir);
/* fsync a directory through io. */
int wal_fsync_dir(const wal_io_t *io, const char *dir);

/* ---- the log object ---- */

/* A batch of encoded records (CRC fields still zero) handed to the worker. */
typedef struct wal_batch {
    struct wal_batch *next;
    uint64_t id;
    uint64_t gen;
    uint8_t *buf;
    size_t len, cap;
    wal_sync_result_t result; /* filled by the worker when done: a completion
                                 never needs an allocation */
} wal_batch_t;

/* Where the log ends on disk. Owned by the worker once it runs. */
typedef struct wal_tail {
    int fd;              /* the last segment, O_RDWR */
    uint64_t seq;        /* its sequence number */
    uint64_t offset;     /* end of its last good record */
    uint64_t header_end; /* end of its header records */
    uint32_t crc;        /* chain value after the last good record */
    uint64_t last_index; /* index of the last entry record */
    wal_hard_state_t hs; /* the last hard state written */
} wal_tail_t;

struct wal {
    char *dir;
    uint64_t segment_size;
    unsigned max_wals;
    wal_sync_cb on_sync;
    void *on_sync_arg;
    wal_log_cb log;
    void *log_arg;
    const wal_io_t *io;
    int lock_fd;
    int event_fd;
    uint8_t *metadata;
    size_t metadata_len;

    /* loop thread only */
    wal_batch_t *pending;
    uint64_t loop_last_index;
    uint64_t last_batch_id;
    int sync_status; /* wal_sync(): status of the batch it waits for */
    uint64_t sync_waiting;

    /* worker only */
    wal_tail_t tail;

    /* shared, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cond;      /* worker: work or stop */
    pthread_cond_t done_cond; /* wal_sync(): a completion arrived */
    pthread_t thread;
    bool thread_started;
    bool stop;
    bool poisoned; /* a write failed and the loop has not seen it yet */
    int fail_status;
    uint64_t gen; /* bumped by the loop when it sees a failure */
    wal_batch_t *queue, **queue_tail;
    wal_batch_t *free_batches;
    wal_batch_t *done, **done_tail; /* completed, not yet delivered */
    size_t n_free;
    uint64_t done_id;    /* highest batch id completed */
    wal_segment_t *segs; /* every segment on disk, by seq */
    size_t n_segs, cap_segs;
    uint64_t released_index;
    uint64_t protect_seq; /* tail segment when the group in flight started */
};

/* wal.c */
void wal_logf(const wal_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wal_seterr(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int wal_alloc(wal_t **out, const wal_options_t *opt, char *err, size_t err_len);
void wal_free(wal_t *w);
int wal_start(wal_t *w);
int wal_segs_push(wal_t *w, uint64_t seq, uint64_t first_index);
/* Creates segment (seq, first_index) as described in wal.h, with its header
 * records chained from t->crc; on success updates t (fd, seq, offset, crc). */
int wal_segment_create(wal_t *w, wal_tail_t *t, uint64_t seq, uint64_t first_index);

#endif /* METCD_WAL_INT_H */
