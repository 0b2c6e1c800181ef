/*
 * Clients waiting for the raft node driver: writes waiting for their entry
 * to be applied, proposals waiting for a leader, quorum reads waiting for
 * their read index. Every wait is bounded by etcd's request timeout; past
 * it the client gets 300 "etcdserver: request timed out", as etcd's v2
 * handlers answer (v2error.EcodeRaftInternal with the server error).
 */
#include <stdlib.h>
#include <string.h>

#include "src/server/node_int.h"

void waiters_push(waiter_queue_t *q, waiter_t w)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        waiter_t *v = malloc(cap * sizeof(*v));
        if (v == NULL)
            abort(); /* one policy outside raft/: out of memory ends the process */
        for (size_t i = 0; i < q->n; i++)
            v[i] = q->v[(q->head + i) % q->cap];
        free(q->v);
        q->v = v;
        q->cap = cap;
        q->head = 0;
    }
    q->v[(q->head + q->n) % q->cap] = w;
    q->n++;
}

static waiter_t waiters_pop(waiter_queue_t *q)
{
    waiter_t w = q->v[q->head];
    q->head = (q->head + 1) % q->cap;
    q->n--;
    return w;
}

void waiter_fail(node_t *n, waiter_t w, int code, const char *cause)
{
    store_error_t err = {0};
    /* etcd answers a write it could not complete with its server error as
     * the cause of a v2 error, index 0 (v2error.NewError(code, cause, 0)). */
    store_error_set(&err, code, cause, 0);
    n->proposals_failed++;
    w.cb(w.ctx, -code, NULL, &err);
    store_error_clear(&err);
}

void waiters_fail_all(node_t *n, const char *cause)
{
    while (n->waiters.n > 0)
        waiter_fail(n, waiters_pop(&n->waiters), STORE_E_RAFT_INTERNAL, cause);
    for (size_t i = 0; i < n->n_reads; i++) {
        store_error_t err = {0};
        store_error_set(&err, STORE_E_RAFT_INTERNAL, cause, 0);
        n->reads[i].done(n->reads[i].ctx, -STORE_E_RAFT_INTERNAL, &err);
        store_error_clear(&err);
    }
    n->n_reads = 0;
}

/*
 * Request ids grow with each proposal of this member, and the leader
 * appends one proposer's entries in the order they reach it (one stream per
 * peer), so when entry `id` is applied, older ids still waiting will never
 * be: they were dropped by a leader change or a lost forward, and fail.
 */
bool waiters_take(node_t *n, uint64_t id, waiter_t *out)
{
    waiter_queue_t *q = &n->waiters;
    while (q->n > 0 && q->v[q->head].id < id)
        waiter_fail(n, waiters_pop(q), STORE_E_RAFT_INTERNAL,
                    "etcdserver: request lost by a leader change");
    if (q->n > 0 && q->v[q->head].id == id) {
        *out = waiters_pop(q);
        return true;
    }
    return false;
}

void waiters_expire(node_t *n, int64_t now)
{
    /* Deadlines grow with request ids: only the oldest can be due. */
    waiter_queue_t *q = &n->waiters;
    while (q->n > 0 && q->v[q->head].deadline <= now)
        waiter_fail(n, waiters_pop(q), STORE_E_RAFT_INTERNAL, "etcdserver: request timed out");
    size_t keep = 0;
    for (size_t i = 0; i < n->n_pending; i++) {
        if (n->pending[i].deadline <= now)
            free(n->pending[i].data); /* its waiter, if any, timed out above */
        else
            n->pending[keep++] = n->pending[i];
    }
    n->n_pending = keep;
    keep = 0;
    for (size_t i = 0; i < n->n_reads; i++) {
        read_waiter_t r = n->reads[i];
        if (r.deadline > now) {
            n->reads[keep++] = r;
            continue;
        }
        store_error_t err = {0};
        store_error_set(&err, STORE_E_RAFT_INTERNAL, "etcdserver: request timed out", 0);
        n->proposals_failed++;
        r.done(r.ctx, -STORE_E_RAFT_INTERNAL, &err);
        store_error_clear(&err);
    }
    n->n_reads = keep;
}

void waiters_free(node_t *n)
{
    free(n->waiters.v);
    memset(&n->waiters, 0, sizeof(n->waiters));
    for (size_t i = 0; i < n->n_pending; i++)
        free(n->pending[i].data);
    free(n->pending);
    n->pending = NULL;
    n->n_pending = 0;
    free(n->reads);
    n->reads = NULL;
    n->n_reads = 0;
}
