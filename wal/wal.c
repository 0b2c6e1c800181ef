/*
 * The log object: buffering appends on the loop thread, the worker thread
 * that writes and fdatasyncs batches (group commit), completions, release
 * and purge. Reading an existing log is in wal/reader.c.
 */
#include "wal/wal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

int wal_write_all(const wal_io_t *io, int fd, const void *p, size_t len, uint64_t off);

void wal_seterr(char *err, size_t len, const char *fmt, ...)
{
    if (!err || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

void wal_logf(const wal_t *w, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (w->log)
        w->log(w->log_arg, line);
    else
        fprintf(stderr, "%s\n", line);
}

int wal_alloc(wal_t **out, const wal_options_t *opt, char *err, size_t err_len)
{
    *out = NULL;
    wal_t *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->lock_fd = -1;
    w->event_fd = -1;
    w->tail.fd = -1;
    w->dir = strdup(opt->dir);
    w->segment_size = opt->segment_size ? opt->segment_size : WAL_DEFAULT_SEGMENT_SIZE;
    w->max_wals = opt->max_wals;
    w->on_sync = opt->on_sync;
    w->on_sync_arg = opt->on_sync_arg;
    w->log = opt->log;
    w->log_arg = opt->log_arg;
    w->io = opt->io ? opt->io : &wal_io_default;
    w->queue_tail = &w->queue;
    w->done_tail = &w->done;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    pthread_cond_init(&w->done_cond, NULL);
    if (!w->dir) {
        wal_free(w);
        return -ENOMEM;
    }
    int fd = wal_lock_dir(w->dir, err, err_len);
    if (fd < 0) {
        wal_free(w);
        return fd;
    }
    w->lock_fd = fd;
    w->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->event_fd < 0) {
        int e = -errno;
        wal_seterr(err, err_len, "eventfd: %s", strerror(-e));
        wal_free(w);
        return e;
    }
    *out = w;
    return 0;
}

static void free_batch(wal_batch_t *b)
{
    if (b) {
        free(b->buf);
        free(b);
    }
}

void wal_free(wal_t *w)
{
    if (!w)
        return;
    wal_batch_t *b, *nb;
    for (b = w->queue; b; b = nb) {
        nb = b->next;
        free_batch(b);
    }
    for (b = w->free_batches; b; b = nb) {
        nb = b->next;
        free_batch(b);
    }
    free_batch(w->pending);
    for (b = w->done; b; b = nb) {
        nb = b->next;
        free_batch(b);
    }
    if (w->tail.fd >= 0)
        close(w->tail.fd);
    if (w->event_fd >= 0)
        close(w->event_fd);
    wal_unlock_dir(w->lock_fd);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cond);
    pthread_cond_destroy(&w->done_cond);
    free(w->segs);
    free(w->metadata);
    free(w->dir);
    free(w);
}

int wal_segs_push(wal_t *w, uint64_t seq, uint64_t first_index)
{
    if (w->n_segs == w->cap_segs) {
        size_t cap = w->cap_segs ? w->cap_segs * 2 : 16;
        wal_segment_t *v = realloc(w->segs, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        w->segs = v;
        w->cap_segs = cap;
    }
    w->segs[w->n_segs].seq = seq;
    w->segs[w->n_segs].first_index = first_index;
    w->n_segs++;
    return 0;
}

bool wal_exists(const char *dir)
{
    wal_segment_t *s;
    size_t n;
    if (wal_segment_list(dir, &s, &n) < 0)
        return false;
    free(s);
    return n > 0;
}

/* ------------------------------------------------------------------ */
/* the worker                                                          */

/* Undoes a failed group: the segments it created are removed and the log
 * ends where it ended before, on disk too, so the failed records can never
 * reappear after a crash. Returns 0, or an error if the disk would not even
 * take that (the log is then unusable until reopened). */
static int rollback(wal_t *w, const wal_tail_t *save)
{
    int rc = 0;
    if (w->tail.fd != save->fd) {
        /* drop the failed records before the names go, in case an unlink
         * is lost in a crash */
        if (w->io->ftruncate(w->tail.fd, (off_t)w->tail.header_end) == 0)
            w->io->fdatasync(w->tail.fd);
        close(w->tail.fd);
    }
    /* the segments this group created; the directory is fsynced before the
     * old tail gets its zeroed preallocation back, so a crash can never
     * leave a sealed segment that ends in zeros */
    bool removed = false;
    pthread_mutex_lock(&w->mu);
    while (w->n_segs && w->segs[w->n_segs - 1].seq > save->seq) {
        wal_segment_t s = w->segs[--w->n_segs];
        char name[64], path[4200];
        wal_segment_name(name, sizeof(name), s.seq, s.first_index);
        snprintf(path, sizeof(path), "%s/%s", w->dir, name);
        unlink(path);
        removed = true;
    }
    pthread_mutex_unlock(&w->mu);
    if (removed && wal_fsync_dir(w->io, w->dir) < 0)
        rc = -EIO;
    w->tail = *save;
    if (rc)
        return rc;
    if (w->io->ftruncate(save->fd, (off_t)save->offset) < 0)
        return -errno;
    (void)w->io->fallocate(save->fd, (off_t)w->segment_size); /* best effort */
    if (w->io->fdatasync(save->fd) < 0)
        return -errno;
    return 0;
}

/* Tracks what the tail needs for the next segment header and name. */
static void note_record(wal_tail_t *t, const uint8_t *rec)
{
    uint64_t word = le_get64(rec);
    int type = (int)((word >> 24) & 0xff);
    const uint8_t *p = rec + WAL_HDR_SIZE;
    if (type == WAL_REC_ENTRY)
        t->last_index = le_get64(p);
    else if (type == WAL_REC_SNAPSHOT && le_get64(p) > t->last_index)
        t->last_index = le_get64(p); /* a snapshot moves the log forward, as in etcd */
    else if (type == WAL_REC_HARD_STATE) {
        t->hs.term = le_get64(p);
        t->hs.vote = le_get64(p + 8);
        t->hs.commit = le_get64(p + 16);
    }
}

/* Cuts the current segment at its last record and starts the next one
 * (etcd: wal.cut). The old one is truncated to its data and synced first,
 * so only the last segment can ever end in zeros. The group's first tail
 * (save_fd) stays open for a rollback; later ones are closed at once (a
 * rollback deletes them by name). */
static int cut(wal_t *w, int save_fd)
{
    wal_tail_t *t = &w->tail;
    if (w->io->ftruncate(t->fd, (off_t)t->offset) < 0)
        return -errno;
    if (w->io->fdatasync(t->fd) < 0)
        return -errno;
    int fd = t->fd;
    pthread_mutex_lock(&w->mu);
    int rc = wal_segs_push(w, t->seq + 1, t->last_index + 1);
    pthread_mutex_unlock(&w->mu);
    if (rc)
        return rc;
    rc = wal_segment_create(w, t, t->seq + 1, t->last_index + 1);
    if (rc) {
        pthread_mutex_lock(&w->mu);
        w->n_segs--;
        pthread_mutex_unlock(&w->mu);
        return rc;
    }
    if (fd != save_fd)
        close(fd);
    return 0;
}

static int write_group(wal_t *w, wal_batch_t *group, bool *broken)
{
    if (!group)
        return 0;
    wal_tail_t save = w->tail;
    int rc = 0;
    for (wal_batch_t *b = group; b && !rc; b = b->next) {
        size_t pos = 0, chunk = 0;
        while (pos < b->len) {
            uint8_t *rec = b->buf + pos;
            size_t size = wal_record_size(le_get64(rec) & 0xffffff);
            uint64_t at = w->tail.offset + (pos - chunk);
            /* cut when full, but never before the first record after the
             * headers: a record larger than a segment gets one of its own */
            if (at + size > w->segment_size && at > w->tail.header_end) {
                rc = wal_write_all(w->io, w->tail.fd, b->buf + chunk, pos - chunk, w->tail.offset);
                if (rc)
                    break;
                w->tail.offset = at;
                chunk = pos;
                rc = cut(w, save.fd);
                if (rc)
                    break;
            }
            w->tail.crc = wal_record_seal(rec, w->tail.crc);
            note_record(&w->tail, rec);
            pos += size;
        }
        if (!rc && pos > chunk) {
            rc = wal_write_all(w->io, w->tail.fd, b->buf + chunk, pos - chunk, w->tail.offset);
            if (!rc)
                w->tail.offset += pos - chunk;
        }
    }
    if (!rc && w->io->fdatasync(w->tail.fd) < 0)
        rc = -errno;
    if (!rc) {
        if (w->tail.fd != save.fd)
            close(save.fd);
        return 0;
    }
    int rb = rollback(w, &save);
    if (rb) {
        wal_logf(w,
                 "wal: cannot undo a failed write in %s (%s); the log is unusable until "
                 "reopened",
                 w->dir, strerror(-rb));
        *broken = true;
    }
    return rc;
}

/* mu held */
static void complete(wal_t *w, wal_batch_t *b, int status, uint64_t last_index)
{
    b->result.batch = b->id;
    b->result.status = status;
    b->result.last_index = last_index;
    b->next = NULL;
    *w->done_tail = b;
    w->done_tail = &b->next;
    if (b->id > w->done_id)
        w->done_id = b->id;
}

/* mu held; keep a few buffers for reuse, not unbounded memory */
static void recycle(wal_t *w, wal_batch_t *b)
{
    if (b->cap > (8u << 20) || w->n_free >= 4) {
        free_batch(b);
        return;
    }
    b->len = 0;
    b->next = w->free_batches;
    w->free_batches = b;
    w->n_free++;
}

static void *worker_main(void *arg)
{
    wal_t *w = arg;
    bool broken = false; /* a rollback failed: nothing more is written */
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->queue && !w->stop)
            pthread_cond_wait(&w->cond, &w->mu);
        if (!w->queue)
            break;
        wal_batch_t *taken = w->queue;
        w->queue = NULL;
        w->queue_tail = &w->queue;
        uint64_t gen = w->gen;
        w->protect_seq = w->tail.seq;
        bool poisoned = w->poisoned;
        int fail_status = w->fail_status;
        pthread_mutex_unlock(&w->mu);

        /* batches submitted before the loop saw a failure are cancelled:
         * writing them would leave a hole in the log */
        wal_batch_t *cancel = NULL, **ct = &cancel, *group = NULL, **gt = &group;
        for (wal_batch_t *b = taken, *nb; b; b = nb) {
            nb = b->next;
            b->next = NULL;
            if (poisoned || broken || b->gen != gen) {
                *ct = b;
                ct = &b->next;
            } else {
                *gt = b;
                gt = &b->next;
            }
        }
        int status = broken ? -EIO : write_group(w, group, &broken);

        pthread_mutex_lock(&w->mu);
        for (wal_batch_t *b = cancel, *nb; b; b = nb) {
            nb = b->next;
            complete(w, b, broken ? -EIO : fail_status, w->tail.last_index);
        }
        for (wal_batch_t *b = group, *nb; b; b = nb) {
            nb = b->next;
            complete(w, b, status, w->tail.last_index);
        }
        w->protect_seq = w->tail.seq;
        if (status && group) {
            w->poisoned = true;
            w->fail_status = status;
        }
        /* signalled under mu, and drained under mu by wal_poll(): the fd is
         * readable exactly while completions wait */
        uint64_t one = 1;
        if (write(w->event_fd, &one, sizeof(one)) < 0) {
            /* cannot overflow in practice; wal_poll() drains it */
        }
        pthread_cond_broadcast(&w->done_cond);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int wal_start(wal_t *w)
{
    w->loop_last_index = w->tail.last_index;
    w->protect_seq = w->tail.seq;
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc)
        return -rc;
    w->thread_started = true;
    return 0;
}

/* ------------------------------------------------------------------ */
/* the loop side                                                       */

static uint8_t *reserve(wal_t *w, size_t size)
{
    wal_batch_t *b = w->pending;
    if (!b) {
        pthread_mutex_lock(&w->mu);
        b = w->free_batches;
        if (b) {
            w->free_batches = b->next;
            w->n_free--;
        }
        pthread_mutex_unlock(&w->mu);
        if (!b && !(b = calloc(1, sizeof(*b))))
            return NULL;
        b->next = NULL;
        b->len = 0;
        w->pending = b;
    }
    if (b->len + size > b->cap) {
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < b->len + size)
            cap *= 2;
        uint8_t *nb = realloc(b->buf, cap);
        if (!nb)
            return NULL;
        b->buf = nb;
        b->cap = cap;
    }
    uint8_t *p = b->buf + b->len;
    b->len += size;
    return p;
}

/* A record whose payload is a fixed prefix (up to 24 bytes) then data. */
static int append(wal_t *w, int type, const uint8_t *pre, size_t pre_len, const void *data,
                  size_t len)
{
    if (len > WAL_MAX_RECORD_PAYLOAD - pre_len)
        return -E2BIG;
    size_t plen = pre_len + len;
    size_t size = wal_record_size(plen);
    uint8_t *p = reserve(w, size);
    if (!p)
        return -ENOMEM;
    le_put64(p, (uint64_t)plen | ((uint64_t)type << 24));
    memcpy(p + WAL_HDR_SIZE, pre, pre_len);
    if (len)
        memcpy(p + WAL_HDR_SIZE + pre_len, data, len);
    memset(p + WAL_HDR_SIZE + plen, 0, size - WAL_HDR_SIZE - plen);
    return 0;
}

int wal_append_entry(wal_t *w, uint64_t index, uint64_t term, uint8_t type, const void *data,
                     size_t len)
{
    uint8_t pre[17];
    le_put64(pre, index);
    le_put64(pre + 8, term);
    pre[16] = type;
    int rc = append(w, WAL_REC_ENTRY, pre, 17, data, len);
    if (!rc)
        w->loop_last_index = index;
    return rc;
}

int wal_append_hard_state(wal_t *w, const wal_hard_state_t *hs)
{
    uint8_t pre[24];
    le_put64(pre, hs->term);
    le_put64(pre + 8, hs->vote);
    le_put64(pre + 16, hs->commit);
    return append(w, WAL_REC_HARD_STATE, pre, 24, NULL, 0);
}

int wal_append_snapshot(wal_t *w, uint64_t index, uint64_t term)
{
    uint8_t pre[16];
    le_put64(pre, index);
    le_put64(pre + 8, term);
    return append(w, WAL_REC_SNAPSHOT, pre, 16, NULL, 0);
}

uint64_t wal_sync_async(wal_t *w)
{
    wal_batch_t *b = w->pending;
    if (!b || b->len == 0)
        return w->last_batch_id;
    w->pending = NULL;
    pthread_mutex_lock(&w->mu);
    b->id = ++w->last_batch_id;
    b->gen = w->gen;
    b->next = NULL;
    *w->queue_tail = b;
    w->queue_tail = &b->next;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    return b->id;
}

int wal_event_fd(const wal_t *w)
{
    return w->event_fd;
}

uint64_t wal_last_index(const wal_t *w)
{
    return w->loop_last_index;
}

int wal_poll(wal_t *w)
{
    uint64_t cnt;
    pthread_mutex_lock(&w->mu);
    if (read(w->event_fd, &cnt, sizeof(cnt)) < 0) {
        /* EAGAIN: nothing signalled */
    }
    wal_batch_t *list = w->done;
    w->done = NULL;
    w->done_tail = &w->done;
    bool discard = false;
    uint64_t last = 0;
    for (wal_batch_t *c = list; c; c = c->next) {
        /* The first failure of the current generation: everything appended
         * before now is dropped and later batches start a new generation. */
        if (c->result.status && c->gen == w->gen) {
            w->gen++;
            w->poisoned = false;
            discard = true;
            last = c->result.last_index;
        }
    }
    pthread_mutex_unlock(&w->mu);
    if (discard) {
        if (w->pending)
            w->pending->len = 0;
        w->loop_last_index = last;
    }
    int n = 0;
    for (wal_batch_t *c = list; c; c = c->next, n++) {
        if (c->result.batch == w->sync_waiting)
            w->sync_status = c->result.status;
        if (w->on_sync)
            w->on_sync(w->on_sync_arg, &c->result);
    }
    if (list) {
        pthread_mutex_lock(&w->mu);
        for (wal_batch_t *c = list, *nc; c; c = nc) {
            nc = c->next;
            recycle(w, c);
        }
        pthread_mutex_unlock(&w->mu);
    }
    return n;
}

int wal_sync(wal_t *w)
{
    uint64_t id = wal_sync_async(w);
    if (id == 0)
        return 0;
    pthread_mutex_lock(&w->mu);
    while (w->done_id < id)
        pthread_cond_wait(&w->done_cond, &w->mu);
    pthread_mutex_unlock(&w->mu);
    w->sync_waiting = id;
    w->sync_status = 0;
    wal_poll(w);
    w->sync_waiting = 0;
    return w->sync_status;
}

int wal_release_to(wal_t *w, uint64_t index)
{
    int deleted = 0, rc = 0;
    pthread_mutex_lock(&w->mu);
    if (index > w->released_index)
        w->released_index = index;
    /* keep the segment a reader with this snapshot starts at (the last one
     * whose first index is <= index, see wal_open) and all after it */
    size_t keep = 0;
    for (size_t i = 0; i < w->n_segs; i++)
        if (w->segs[i].first_index <= w->released_index)
            keep = i;
    /* never the tail segment of a group in flight (a rollback returns to it) */
    size_t del = 0;
    while (del < keep && w->max_wals && w->n_segs - del > w->max_wals) {
        wal_segment_t s = w->segs[del];
        if (s.seq >= w->protect_seq)
            break;
        char name[64], path[4200];
        wal_segment_name(name, sizeof(name), s.seq, s.first_index);
        snprintf(path, sizeof(path), "%s/%s", w->dir, name);
        if (unlink(path) < 0 && errno != ENOENT) {
            rc = -errno;
            wal_logf(w, "wal: cannot remove %s: %s", path, strerror(errno));
            break;
        }
        del++;
        deleted++;
    }
    memmove(w->segs, w->segs + del, (w->n_segs - del) * sizeof(*w->segs));
    w->n_segs -= del;
    pthread_mutex_unlock(&w->mu);
    return rc ? rc : deleted;
}

void wal_close(wal_t *w)
{
    if (!w)
        return;
    if (w->thread_started) {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
    }
    wal_free(w);
}

int wal_create(wal_t **out, const wal_options_t *opt, const void *metadata, size_t metadata_len,
               char *err, size_t err_len)
{
    *out = NULL;
    if (metadata_len > WAL_MAX_RECORD_PAYLOAD)
        return -E2BIG;
    int rc = fs_mkdir_all(opt->dir);
    if (rc) {
        wal_seterr(err, err_len, "cannot create %s: %s", opt->dir, strerror(-rc));
        return rc;
    }
    wal_t *w;
    rc = wal_alloc(&w, opt, err, err_len);
    if (rc)
        return rc;
    wal_segment_remove_tmp(w->dir);
    if (wal_exists(w->dir)) {
        wal_seterr(err, err_len, "%s already holds a WAL", w->dir);
        wal_free(w);
        return -EEXIST;
    }
    w->metadata = malloc(metadata_len ? metadata_len : 1);
    if (!w->metadata) {
        wal_free(w);
        return -ENOMEM;
    }
    if (metadata_len)
        memcpy(w->metadata, metadata, metadata_len);
    w->metadata_len = metadata_len;
    rc = wal_segment_create(w, &w->tail, 0, 0);
    if (!rc)
        rc = wal_segs_push(w, 0, 0);
    if (!rc)
        rc = wal_start(w);
    /* etcd starts every WAL with an empty snapshot marker */
    if (!rc)
        rc = wal_append_snapshot(w, 0, 0);
    if (!rc)
        rc = wal_sync(w);
    if (rc) {
        wal_seterr(err, err_len, "cannot create a WAL in %s: %s", w->dir, strerror(-rc));
        wal_close(w);
        return rc;
    }
    *out = w;
    return 0;
}
