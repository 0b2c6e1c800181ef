/* raft/read_only.c - pending ReadIndex requests (thesis 6.4, "safe" mode):
 * a request is answered once a quorum acknowledged a heartbeat that carried
 * its context, which proves the leader was still the leader when the
 * request arrived. Requests are released in arrival order. */
#include "raft/raft_int.h"

void raft_read_request_free(struct raft_read_request *rq)
{
    free(rq->ctx);
    free(rq->acks);
    memset(rq, 0, sizeof(*rq));
}

void raft_read_only_close(struct raft_read_only *ro)
{
    for (size_t i = 0; i < ro->n; i++)
        raft_read_request_free(&ro->reqs[i]);
    free(ro->reqs);
    memset(ro, 0, sizeof(*ro));
}

static ssize_t find(struct raft_read_only *ro, const void *ctx, size_t len)
{
    for (size_t i = 0; i < ro->n; i++)
        if (ro->reqs[i].ctx_len == len && (len == 0 || memcmp(ro->reqs[i].ctx, ctx, len) == 0))
            return (ssize_t)i;
    return -1;
}

int raft_read_only_add(struct raft_read_only *ro, uint64_t index, uint64_t from, const void *ctx,
                       size_t ctx_len, uint64_t self)
{
    if (find(ro, ctx, ctx_len) >= 0)
        return 0; /* already pending: the earlier heartbeat round answers it */
    if (ro->n == ro->cap) {
        size_t cap = ro->cap ? ro->cap * 2 : 8;
        struct raft_read_request *a = realloc(ro->reqs, cap * sizeof(*a));
        if (!a)
            return RAFT_ENOMEM;
        ro->reqs = a;
        ro->cap = cap;
    }
    struct raft_read_request rq = {.index = index, .from = from, .ctx_len = ctx_len};
    rq.ctx = raft_memdup(ctx, ctx_len);
    rq.acks = malloc(sizeof(uint64_t));
    if ((ctx_len && !rq.ctx) || !rq.acks) {
        raft_read_request_free(&rq);
        return RAFT_ENOMEM;
    }
    rq.acks[0] = self; /* the leader acknowledges itself */
    rq.n_acks = 1;
    ro->reqs[ro->n++] = rq;
    return 0;
}

struct raft_read_request *raft_read_only_ack(struct raft_read_only *ro, uint64_t from,
                                             const void *ctx, size_t ctx_len)
{
    ssize_t i = find(ro, ctx, ctx_len);
    if (i < 0)
        return NULL;
    struct raft_read_request *rq = &ro->reqs[i];
    if (!raft_ids_contains(rq->acks, rq->n_acks, from)) {
        uint64_t *a = realloc(rq->acks, (rq->n_acks + 1) * sizeof(uint64_t));
        if (!a)
            return rq; /* the ack is lost; a later heartbeat may bring it */
        rq->acks = a;
        rq->acks[rq->n_acks++] = from;
    }
    return rq;
}

int raft_read_only_advance(struct raft_read_only *ro, const void *ctx, size_t ctx_len,
                           struct raft_read_request **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    ssize_t i = find(ro, ctx, ctx_len);
    if (i < 0)
        return 0;
    /* A quorum acknowledging this heartbeat also acknowledges every request
     * queued before it. */
    size_t cnt = (size_t)i + 1;
    struct raft_read_request *a = malloc(cnt * sizeof(*a));
    if (!a)
        return RAFT_ENOMEM;
    memcpy(a, ro->reqs, cnt * sizeof(*a));
    memmove(ro->reqs, ro->reqs + cnt, (ro->n - cnt) * sizeof(*a));
    ro->n -= cnt;
    *out = a;
    *n = cnt;
    return 0;
}
