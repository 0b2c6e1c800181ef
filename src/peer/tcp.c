/* src/peer/tcp.c - the TCP transport: creation, the ops, listening.
 * Streams are in tcp_stream.c, accepted connections in tcp_inbound.c,
 * snapshots in snapshot_send.c and snapshot_recv.c. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "src/peer/tcp_int.h"

static struct tcp_peer *impl_of(struct peer_entry *e)
{
    return e ? (struct tcp_peer *)e->impl : NULL;
}

uint64_t tcp_elapsed_us(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t us =
        (int64_t)(now.tv_sec - since->tv_sec) * 1000000 + (now.tv_nsec - since->tv_nsec) / 1000;
    return us > 0 ? (uint64_t)us : 0;
}

void tcp_update_active(struct tcp_peer *p)
{
    p->entry->stats.active =
        p->streams[0].state == TCP_STREAM_STREAMING || p->streams[1].state == TCP_STREAM_STREAMING;
}

static int tcp_add_peer(peer_transport_t *base, uint64_t id, const char *const *urls, size_t n)
{
    struct tcp_transport *t = (struct tcp_transport *)base;
    if (id == 0 || id == t->cfg.self_id)
        return PEER_EINVAL;
    if (peer_set_is_removed(&t->peers, id))
        return PEER_EREMOVED;
    if (peer_set_find(&t->peers, id))
        return PEER_EEXIST;
    int rc = peer_urls_check(urls, n, t->cfg.tls_dialer != NULL);
    if (rc) {
        log_line('E', PEER_LOG_COMPONENT, "cannot add peer %" PRIx64 ": %s", id, peer_strerror(rc));
        return rc;
    }
    struct peer_entry *e = peer_set_add(&t->peers, id, urls, n);
    struct tcp_peer *p = peer_xcalloc(1, sizeof(*p));
    p->t = t;
    p->entry = e;
    e->impl = p;
    /* etcd starts a peer's streams as soon as it is added, so the first
     * heartbeat finds them open. */
    tcp_stream_init(&p->streams[0], p, PEER_KIND_MSG);
    tcp_stream_init(&p->streams[1], p, PEER_KIND_APP);
    tcp_stream_dial_now(&p->streams[0]);
    tcp_stream_dial_now(&p->streams[1]);
    log_line('I', PEER_LOG_COMPONENT, "added peer %" PRIx64, id);
    return 0;
}

static int tcp_update_peer(peer_transport_t *base, uint64_t id, const char *const *urls, size_t n)
{
    struct tcp_transport *t = (struct tcp_transport *)base;
    struct peer_entry *e = peer_set_find(&t->peers, id);
    if (e == NULL)
        return PEER_ENOENT;
    int rc = peer_urls_check(urls, n, t->cfg.tls_dialer != NULL);
    if (rc)
        return rc;
    peer_set_set_urls(e, urls, n);
    struct tcp_peer *p = impl_of(e);
    for (int i = 0; i < 2; i++) {
        tcp_stream_dispose(&p->streams[i]);
        tcp_stream_init(&p->streams[i], p, i == 0 ? PEER_KIND_MSG : PEER_KIND_APP);
        tcp_stream_dial_now(&p->streams[i]);
    }
    tcp_update_active(p);
    log_line('I', PEER_LOG_COMPONENT, "updated peer %" PRIx64, id);
    return 0;
}

static int tcp_remove_peer(peer_transport_t *base, uint64_t id)
{
    struct tcp_transport *t = (struct tcp_transport *)base;
    struct peer_entry *e = peer_set_find(&t->peers, id);
    if (e == NULL && peer_set_is_removed(&t->peers, id))
        return 0;
    if (e != NULL) {
        struct tcp_peer *p = impl_of(e);
        tcp_stream_dispose(&p->streams[0]);
        tcp_stream_dispose(&p->streams[1]);
        free(p);
        e->impl = NULL;
    }
    tcp_snap_send_abort(t, id, true);
    peer_set_remove(&t->peers, id);
    tcp_inbound_close_from(t, id);
    log_line('I', PEER_LOG_COMPONENT, "removed peer %" PRIx64, id);
    return 0;
}

static int tcp_send(peer_transport_t *base, const struct raft_message *m)
{
    struct tcp_transport *t = (struct tcp_transport *)base;
    int rc = peer_check_outgoing(&t->cfg, m);
    if (rc)
        return rc;
    struct peer_entry *e = peer_set_find(&t->peers, m->to);
    if (e == NULL) {
        /* raft may address a member the driver has not added yet (or has
         * removed): the message is lost, as any message may be. */
        peer_defer_push(&t->defer,
                        m->type == RAFT_MSG_SNAP ? PEER_EV_SNAP_SENT : PEER_EV_UNREACHABLE, m->to,
                        true);
        return 0;
    }
    if (m->type == RAFT_MSG_SNAP) {
        tcp_snap_send_start(t, e, m);
        return 0;
    }
    uint8_t *frame;
    size_t len;
    if (peer_frame_encode(m, t->cfg.max_frame, &frame, &len) != 0) {
        log_line('E', PEER_LOG_COMPONENT, "cannot encode %s to %" PRIx64 " (larger than %zu?)",
                 raft_msg_type_name(m->type), m->to, t->cfg.max_frame);
        e->stats.send_failures++;
        peer_defer_push(&t->defer, PEER_EV_UNREACHABLE, m->to, true);
        return 0;
    }
    struct tcp_peer *p = impl_of(e);
    tcp_stream_enqueue(&p->streams[m->type == RAFT_MSG_APP ? 1 : 0], frame, len);
    return 0;
}

static int tcp_stats(peer_transport_t *base, uint64_t id, struct peer_stats *out)
{
    struct tcp_transport *t = (struct tcp_transport *)base;
    struct peer_entry *e = peer_set_find(&t->peers, id);
    if (e == NULL)
        return PEER_ENOENT;
    *out = e->stats;
    return 0;
}

static void tcp_free(peer_transport_t *base)
{
    struct tcp_transport *t = (struct tcp_transport *)base;
    for (size_t i = 0; i < t->n_listeners; i++)
        h2o_socket_close(t->listeners[i]);
    free(t->listeners);
    free(t->listener_tls);
    while (!h2o_linklist_is_empty(&t->inbound))
        tcp_inbound_close(H2O_STRUCT_FROM_MEMBER(struct tcp_inbound, link, t->inbound.next));
    tcp_snap_send_abort(t, 0, false);
    for (size_t i = 0; i < t->peers.n; i++) {
        struct tcp_peer *p = impl_of(t->peers.v[i]);
        tcp_stream_dispose(&p->streams[0]);
        tcp_stream_dispose(&p->streams[1]);
        free(p);
    }
    peer_set_dispose(&t->peers);
    peer_defer_dispose(&t->defer);
    for (size_t i = 0; i < t->n_backoff; i++)
        h2o_timeout_dispose(t->loop, &t->backoff[i]);
    h2o_timeout_dispose(t->loop, &t->handshake);
    h2o_timeout_dispose(t->loop, &t->snap_idle);
    h2o_timeout_dispose(t->loop, &t->flush_soon);
    free(t->version);
    free(t);
}

static const struct peer_ops tcp_ops = {
    .add_peer = tcp_add_peer,
    .update_peer = tcp_update_peer,
    .remove_peer = tcp_remove_peer,
    .send = tcp_send,
    .stats = tcp_stats,
    .free = tcp_free,
};

int peer_tcp_new(const struct peer_config *cfg, peer_transport_t **out)
{
    if (cfg->loop == NULL || cfg->self_id == 0 || cfg->handler.on_message == NULL)
        return PEER_EINVAL;
    struct tcp_transport *t = peer_xcalloc(1, sizeof(*t));
    t->base.ops = &tcp_ops;
    t->cfg = *cfg;
    peer_config_defaults(&t->cfg);
    t->version = peer_xstrdup(t->cfg.version);
    t->cfg.version = t->version;
    t->loop = cfg->loop;
    peer_defer_init(&t->defer, t->loop, &t->cfg.handler);
    /* Reconnect backoff: min, doubling, up to max (etcd retries its streams
     * every 100 ms; doubling spares a member that is down for long). */
    unsigned ms = t->cfg.backoff_min_ms;
    for (;;) {
        h2o_timeout_init(t->loop, &t->backoff[t->n_backoff++], ms);
        if (ms >= t->cfg.backoff_max_ms || t->n_backoff == TCP_MAX_BACKOFF_LEVELS)
            break;
        ms = ms * 2 < t->cfg.backoff_max_ms ? ms * 2 : t->cfg.backoff_max_ms;
    }
    h2o_timeout_init(t->loop, &t->handshake, t->cfg.handshake_ms);
    h2o_timeout_init(t->loop, &t->snap_idle, (uint64_t)t->cfg.handshake_ms * 6);
    h2o_timeout_init(t->loop, &t->flush_soon, 0);
    h2o_linklist_init_anchor(&t->inbound);
    h2o_linklist_init_anchor(&t->snap_sends);
    *out = &t->base;
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    struct tcp_transport *t = listener->data;
    for (size_t i = 0; i < t->n_listeners; i++)
        if (t->listeners[i] == listener)
            tcp_inbound_accept(t, listener, t->listener_tls[i]);
}

int peer_tcp_listen(peer_transport_t *base, int fd)
{
    return peer_tcp_listen_tls(base, fd, NULL);
}

int peer_tcp_listen_tls(peer_transport_t *base, int fd, void *ssl_ctx)
{
    if (base == NULL || base->ops != &tcp_ops || fd < 0)
        return PEER_EINVAL;
    struct tcp_transport *t = (struct tcp_transport *)base;
    h2o_socket_t *l = h2o_evloop_socket_create(t->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    l->data = t;
    t->listeners = peer_xrealloc(t->listeners, (t->n_listeners + 1) * sizeof(*t->listeners));
    t->listener_tls =
        peer_xrealloc(t->listener_tls, (t->n_listeners + 1) * sizeof(*t->listener_tls));
    t->listener_tls[t->n_listeners] = ssl_ctx;
    t->listeners[t->n_listeners++] = l;
    h2o_socket_read_start(l, on_accept);
    return 0;
}
