/* src/peer/defer.c - handler callbacks queued for the next loop turn.
 *
 * send() runs inside the driver's Ready loop; reporting a failure from
 * there would re-enter raft (raft_report_unreachable) in the middle of it.
 * So failures are queued and reported from the loop, as etcd's rafthttp
 * reports them from its own goroutines. */
#include <stdlib.h>
#include <string.h>

#include "src/peer/peer_int.h"

static void on_zero_timeout(h2o_timeout_entry_t *entry)
{
    struct peer_defer *d = H2O_STRUCT_FROM_MEMBER(struct peer_defer, entry, entry);
    /* Take the batch: callbacks may queue more, for the next turn. */
    struct peer_event *v = d->v;
    size_t n = d->n;
    d->v = NULL;
    d->n = d->cap = 0;
    const struct peer_handler *h = d->handler;
    for (size_t i = 0; i < n; i++) {
        switch (v[i].kind) {
        case PEER_EV_UNREACHABLE:
            if (h->on_unreachable)
                h->on_unreachable(h->ctx, v[i].id);
            break;
        case PEER_EV_SNAP_SENT:
            if (h->on_snapshot_sent)
                h->on_snapshot_sent(h->ctx, v[i].id, v[i].failed);
            break;
        case PEER_EV_REMOVED:
            if (h->on_removed)
                h->on_removed(h->ctx, v[i].id);
            break;
        }
    }
    free(v);
}

void peer_defer_init(struct peer_defer *d, h2o_loop_t *loop, const struct peer_handler *h)
{
    memset(d, 0, sizeof(*d));
    d->loop = loop;
    d->handler = h;
    h2o_timeout_init(loop, &d->zero, 0);
    d->entry.cb = on_zero_timeout;
}

void peer_defer_push(struct peer_defer *d, enum peer_event_kind kind, uint64_t id, bool failed)
{
    if (kind == PEER_EV_UNREACHABLE)
        for (size_t i = 0; i < d->n; i++)
            if (d->v[i].kind == kind && d->v[i].id == id)
                return;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 8;
        d->v = peer_xrealloc(d->v, d->cap * sizeof(*d->v));
    }
    d->v[d->n++] = (struct peer_event){kind, id, failed};
    if (!h2o_timeout_is_linked(&d->entry))
        h2o_timeout_link(d->loop, &d->zero, &d->entry);
}

void peer_defer_dispose(struct peer_defer *d)
{
    if (h2o_timeout_is_linked(&d->entry))
        h2o_timeout_unlink(&d->entry);
    h2o_timeout_dispose(d->loop, &d->zero);
    free(d->v);
    d->v = NULL;
    d->n = d->cap = 0;
}
