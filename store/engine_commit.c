/*
 * store/engine_commit.c: writing a batch into the backend, on the calling
 * thread (engine_batch_commit) or on the engine's commit thread
 * (engine_batch_seal).
 *
 * Why a thread: an LMDB commit at a million keys writes thousands of pages
 * and fdatasyncs them, 20-30 ms during which the thread that commits can
 * do nothing else; in the server that thread owns raft and the WAL and
 * holds the lock every HTTP loop reads the store under. A sealed batch is
 * written by the commit thread instead, outside every lock of the
 * store's. Its changes stay readable meanwhile as a layer (e->sealed, read
 * by engine_get and engine_iter.c) between the open batch and the
 * backend, whose reads of the committed state keep the state from before
 * the write: LMDB's read transaction is renewed only when the owner takes
 * the result. Only backends that say so (engine_backend_t.threaded: LMDB)
 * get a thread; the others commit in place.
 *
 * The rules:
 *  - One commit in flight. Sealing another, a commit in place, a sync, a
 *    view and closing wait for it first (engine_commit_wait): commits
 *    reach the backend in order, and whoever needs the engine at the
 *    index of its last commit (snapshots, releasing the log) has it.
 *  - The thread reads only the sealed changes (immutable until the result
 *    is taken) and calls the backend's write(); every other field of the
 *    engine belongs to the owner, the thread that seals. The result passes
 *    under `mu`. The owner takes it (engine_commit_poll when the eventfd
 *    says it is there, or engine_commit_wait) and only then refreshes the
 *    backend's reads, moves the metadata and frees the sealed changes; the
 *    owner does that under the lock its readers take, so a reader sees the
 *    state from before (old reads plus the layer) or after, never a mix.
 *  - LMDB: the write transaction is begun and committed on the commit
 *    thread (a write transaction belongs to the thread that began it). A
 *    full map is not grown there, since growing remaps every page under
 *    the readers: write() returns ENGINE_WRITE_FULL having written nothing,
 *    and the owner grows the map when it takes that result, when no reader
 *    is inside LMDB (readers read under the owner's lock; a view lent to
 *    another thread holds the backend's remap lock, which grow() takes),
 *    then hands the same changes to the thread again.
 *  - A failed commit is final: e->commit_failed fails every later commit,
 *    sync and view, and the sealed changes stay readable, so the store
 *    keeps reading what it applied until its owner stops it (the server's
 *    WAL holds every entry the engine lacks).
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "store/engine_int.h"
#include "store/store_int.h"

struct engine_committer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    /* Readable exactly while a result waits to be taken: written by the
     * thread and drained by the owner, both under mu. */
    int event_fd;
    const engine_backend_t *ops;
    void *be;
    /* Under mu: */
    const engine_map_t *job; /* the changes to write; NULL: none */
    bool finished;           /* job is written (or failed): rc and err say how */
    bool stop;
    int rc;
    char err[256];
};

static void *commit_main(void *arg)
{
    engine_committer_t *c = arg;
    char err[sizeof(c->err)];
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->stop && (!c->job || c->finished))
            pthread_cond_wait(&c->cond, &c->mu);
        if (c->stop)
            break;
        const engine_map_t *job = c->job;
        pthread_mutex_unlock(&c->mu);
        err[0] = '\0';
        int rc = c->ops->write(c->be, job, err, sizeof(err));
        pthread_mutex_lock(&c->mu);
        c->rc = rc;
        memcpy(c->err, err, sizeof(err));
        c->finished = true;
        uint64_t one = 1;
        if (write(c->event_fd, &one, sizeof(one)) < 0) {
            /* Cannot fail: the owner drains the counter at every result. */
        }
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/*
 * The engine's committer, started on first use. NULL (errmsg set) when
 * the thread or its eventfd cannot be had. Ownership: the engine's,
 * stopped by engine_commit_stop.
 */
static engine_committer_t *committer(engine_t *e)
{
    if (e->committer)
        return e->committer;
    engine_committer_t *c = store_xcalloc(1, sizeof(*c));
    c->ops = e->be_ops;
    c->be = e->be;
    c->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->event_fd < 0) {
        engine_set_error(e, "cannot start the commit thread: eventfd: %s", strerror(errno));
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    int rc = pthread_create(&c->thread, NULL, commit_main, c);
    if (rc) {
        engine_set_error(e, "cannot start the commit thread: %s", strerror(rc));
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cond);
        close(c->event_fd);
        free(c);
        return NULL;
    }
    e->committer = c;
    return c;
}

static void post(engine_committer_t *c, const engine_map_t *job)
{
    pthread_mutex_lock(&c->mu);
    c->job = job;
    c->finished = false;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
}

/*
 * Takes the thread's result into *rc (its message into err when it
 * failed), waiting for it when `wait`. Returns false when there is none
 * yet.
 */
static bool take(engine_committer_t *c, bool wait, int *rc, char *err, size_t err_len)
{
    pthread_mutex_lock(&c->mu);
    while (wait && c->job && !c->finished)
        pthread_cond_wait(&c->cond, &c->mu);
    bool done = c->job && c->finished;
    if (done) {
        *rc = c->rc;
        if (c->rc < 0)
            snprintf(err, err_len, "%s", c->err);
        c->job = NULL;
        c->finished = false;
        uint64_t n;
        if (read(c->event_fd, &n, sizeof(n)) < 0) {
            /* Nothing to drain: a result is always signalled, so not here. */
        }
    }
    pthread_mutex_unlock(&c->mu);
    return done;
}

/*
 * The owner's side of a finished write (write()'s rc). Returns 1 when the
 * sealed batch is in the backend and its changes are freed, 0 when it went
 * back to the thread after the map grew, or a negative errno.
 */
static int finish(engine_t *e, int rc)
{
    if (rc == ENGINE_WRITE_FULL) {
        rc = e->be_ops->grow(e->be, e->errmsg, sizeof(e->errmsg));
        if (rc == 0) {
            post(e->committer, e->sealed);
            return 0;
        }
    }
    if (rc == 0 && e->be_ops->refresh)
        rc = e->be_ops->refresh(e->be, e->errmsg, sizeof(e->errmsg));
    if (rc < 0) {
        e->commit_failed = rc;
        return rc;
    }
    /* Iterators hold pointers into the layer and into the old reads. */
    assert(e->live_iters == 0);
    engine_keep_meta(e, &e->sealed_meta);
    free(e->sealed_stats);
    e->sealed_stats = NULL;
    engine_map_free(e->sealed);
    e->sealed = NULL;
    return 1;
}

int engine_write_now(engine_t *e, const engine_map_t *changes)
{
    assert(!e->sealed);
    int rc;
    while ((rc = e->be_ops->write(e->be, changes, e->errmsg, sizeof(e->errmsg))) ==
           ENGINE_WRITE_FULL)
        if ((rc = e->be_ops->grow(e->be, e->errmsg, sizeof(e->errmsg))) != 0)
            return rc;
    if (rc == 0 && e->be_ops->refresh)
        rc = e->be_ops->refresh(e->be, e->errmsg, sizeof(e->errmsg));
    return rc;
}

int engine_commit_post(engine_t *e, engine_map_t *changes, const engine_meta_t *meta)
{
    assert(!e->sealed && e->commit_failed == 0);
    engine_committer_t *c = committer(e);
    if (!c)
        return -EAGAIN;
    e->sealed = changes;
    e->sealed_meta = *meta;
    e->sealed_stats = NULL;
    if (meta->stats_len) {
        e->sealed_stats = store_xmalloc(meta->stats_len);
        memcpy(e->sealed_stats, meta->stats, meta->stats_len);
    }
    e->sealed_meta.stats = e->sealed_stats;
    post(c, changes);
    return 0;
}

void engine_commit_stop(engine_t *e)
{
    engine_committer_t *c = e->committer;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stop = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
    close(c->event_fd);
    free(c);
    e->committer = NULL;
    /* Left by a failed commit (kept readable until now). */
    engine_map_free(e->sealed);
    e->sealed = NULL;
    free(e->sealed_stats);
    e->sealed_stats = NULL;
}

bool engine_commit_busy(const engine_t *e)
{
    return e->sealed && e->commit_failed == 0;
}

int engine_commit_fd(engine_t *e)
{
    if (!e->be_ops->threaded)
        return -1;
    engine_committer_t *c = committer(e);
    return c ? c->event_fd : -1;
}

int engine_commit_poll(engine_t *e)
{
    if (e->commit_failed)
        return e->commit_failed;
    int rc;
    if (!e->sealed || !take(e->committer, false, &rc, e->errmsg, sizeof(e->errmsg)))
        return 0;
    return finish(e, rc);
}

int engine_commit_wait(engine_t *e)
{
    while (e->sealed && e->commit_failed == 0) {
        int rc = 0;
        take(e->committer, true, &rc, e->errmsg, sizeof(e->errmsg));
        if ((rc = finish(e, rc)) < 0)
            return rc;
    }
    return e->commit_failed;
}
