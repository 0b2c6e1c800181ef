/* src/peer/tcp_stream.c - one outgoing stream connection to one peer.
 *
 * The sender dials, states who it is in the HTTP preamble, waits for the
 * 200, then writes frames: pipelined (many frames per writev, no waiting
 * for answers: raft's answers come back on the peer's own streams) with one
 * write outstanding. While the link is down messages are dropped and the
 * peer reported unreachable, as etcd's rafthttp does when a stream is not
 * working: raft then probes the follower instead of pipelining appends into
 * the void. The queue is bounded (etcd drops past 4096 buffered messages). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "src/peer/tcp_int.h"

static const char *kind_name(enum peer_conn_kind k)
{
    return k == PEER_KIND_APP ? "app" : "msg";
}

static void on_retry(h2o_timeout_entry_t *entry);
static void on_deadline(h2o_timeout_entry_t *entry);
static void on_flush_soon(h2o_timeout_entry_t *entry);

void tcp_stream_init(struct tcp_stream *s, struct tcp_peer *p, enum peer_conn_kind kind)
{
    memset(s, 0, sizeof(*s));
    s->peer = p;
    s->kind = kind;
    s->state = TCP_STREAM_WAIT;
    s->queue = peer_xcalloc(p->t->cfg.queue_len, sizeof(*s->queue));
    s->retry.cb = on_retry;
    s->deadline.cb = on_deadline;
    s->flush_entry.cb = on_flush_soon;
}

static void free_inflight(struct tcp_stream *s, bool count_failed)
{
    for (size_t i = 0; i < s->n_inflight; i++)
        free(s->inflight[i].data);
    if (count_failed)
        s->peer->entry->stats.send_failures += s->n_inflight;
    s->n_inflight = 0;
}

static size_t drop_queue(struct tcp_stream *s)
{
    size_t cap = s->peer->t->cfg.queue_len, n = s->q_len;
    for (size_t i = 0; i < s->q_len; i++)
        free(s->queue[(s->q_head + i) % cap].data);
    s->q_head = s->q_len = 0;
    return n;
}

static void close_sock(struct tcp_stream *s)
{
    if (s->sock != NULL) {
        /* h2o does not call the write callback of a closed socket: the
         * frames in flight are ours to free. */
        h2o_socket_close(s->sock);
        s->sock = NULL;
    }
    s->writing = false;
    if (h2o_timeout_is_linked(&s->deadline))
        h2o_timeout_unlink(&s->deadline);
    if (h2o_timeout_is_linked(&s->flush_entry))
        h2o_timeout_unlink(&s->flush_entry);
}

void tcp_stream_dispose(struct tcp_stream *s)
{
    close_sock(s);
    free_inflight(s, false);
    drop_queue(s);
    free(s->queue);
    s->queue = NULL;
    if (h2o_timeout_is_linked(&s->retry))
        h2o_timeout_unlink(&s->retry);
}

/* The link failed: drop what was queued, tell raft, retry later. */
static void stream_fail(struct tcp_stream *s, const char *why)
{
    struct tcp_peer *p = s->peer;
    struct tcp_transport *t = p->t;
    bool was_up = s->state == TCP_STREAM_STREAMING;
    close_sock(s);
    free_inflight(s, true);
    p->entry->stats.send_failures += drop_queue(s);
    if (was_up || !s->down)
        log_line('W', PEER_LOG_COMPONENT,
                 "%s the TCP streaming connection with peer %" PRIx64 " (stream %s): %s",
                 was_up ? "lost" : "failed to open", p->entry->id, kind_name(s->kind), why);
    s->down = true;
    s->state = TCP_STREAM_WAIT;
    tcp_update_active(p);
    peer_defer_push(&t->defer, PEER_EV_UNREACHABLE, p->entry->id, true);
    h2o_timeout_link(t->loop, &t->backoff[s->level], &s->retry);
    if (s->level + 1 < t->n_backoff)
        s->level++;
}

static void on_frames_written(h2o_socket_t *sock, const char *err);

static void flush(struct tcp_stream *s)
{
    if (s->state != TCP_STREAM_STREAMING || s->writing || s->q_len == 0)
        return;
    size_t cap = s->peer->t->cfg.queue_len;
    size_t bytes = 0;
    s->n_inflight = 0;
    /* Batch frames into one writev, up to about a megabyte, so a burst of
     * appends costs one syscall and a heartbeat queued behind them on the
     * same stream waits for little. */
    while (s->q_len > 0 && s->n_inflight < TCP_WRITE_BATCH && bytes < (1u << 20)) {
        struct tcp_frame f = s->queue[s->q_head];
        s->q_head = (s->q_head + 1) % cap;
        s->q_len--;
        s->inflight[s->n_inflight] = f;
        s->iov[s->n_inflight] = h2o_iovec_init(f.data, f.len);
        s->n_inflight++;
        bytes += f.len;
    }
    if (s->q_len < cap / 2)
        s->full_logged = false;
    s->writing = true;
    h2o_socket_write(s->sock, s->iov, s->n_inflight, on_frames_written);
}

static void on_frames_written(h2o_socket_t *sock, const char *err)
{
    struct tcp_stream *s = sock->data;
    s->writing = false;
    if (err != NULL) {
        stream_fail(s, err);
        return;
    }
    struct peer_stats *st = &s->peer->entry->stats;
    for (size_t i = 0; i < s->n_inflight; i++)
        st->sent_bytes += s->inflight[i].len;
    st->sent_msgs += s->n_inflight;
    free_inflight(s, false);
    flush(s);
}

void tcp_stream_enqueue(struct tcp_stream *s, uint8_t *frame, size_t len)
{
    struct tcp_peer *p = s->peer;
    struct tcp_transport *t = p->t;
    size_t cap = t->cfg.queue_len;
    if (s->state == TCP_STREAM_WAIT || s->q_len == cap) {
        if (s->q_len == cap && !s->full_logged) {
            log_line('W', PEER_LOG_COMPONENT,
                     "dropped messages to peer %" PRIx64
                     " since the %s stream buffer is full (overloaded network)",
                     p->entry->id, kind_name(s->kind));
            s->full_logged = true;
        }
        free(frame);
        p->entry->stats.send_failures++;
        peer_defer_push(&t->defer, PEER_EV_UNREACHABLE, p->entry->id, true);
        return;
    }
    s->queue[(s->q_head + s->q_len) % cap] = (struct tcp_frame){frame, len};
    s->q_len++;
    /*
     * Written from a 0 ms timeout, inside the loop's next run, not here:
     * a send comes from outside a run (node_process), and a write that
     * completes at once puts its socket on h2o's list of pending callbacks,
     * run only in the next run. h2o 2.2 frees a closed socket at the start
     * of a run, before it walks that list, so a socket written here and
     * closed before that run (the transport freed at shutdown, a peer
     * removed by the same Ready) was read after it was freed. Inside a run
     * h2o runs the pending callbacks after each timeout's.
     */
    if (s->state == TCP_STREAM_STREAMING && !s->writing && !h2o_timeout_is_linked(&s->flush_entry))
        h2o_timeout_link(t->loop, &t->flush_soon, &s->flush_entry);
}

static void on_flush_soon(h2o_timeout_entry_t *entry)
{
    flush(H2O_STRUCT_FROM_MEMBER(struct tcp_stream, flush_entry, entry));
}

static void on_response(h2o_socket_t *sock, const char *err);
static void on_head_written(h2o_socket_t *sock, const char *err);

static void send_head(struct tcp_stream *s, h2o_socket_t *sock);

static void on_tls_ready(h2o_socket_t *sock, const char *err)
{
    struct tcp_stream *s = sock->data;
    if (!peer_tls_dial_ok(err)) {
        s->peer->entry->url_next++;
        stream_fail(s, err);
        return;
    }
    send_head(s, sock);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    struct tcp_stream *s = sock->data;
    struct tcp_peer *p = s->peer;
    if (err != NULL) {
        p->entry->url_next++; /* try the next advertised URL next time */
        stream_fail(s, err);
        return;
    }
    if (s->tls) { /* https:// peer URL: TLS first, then the same preamble */
        h2o_socket_ssl_handshake(sock, p->t->cfg.tls_dialer, s->host, on_tls_ready);
        return;
    }
    send_head(s, sock);
}

static void send_head(struct tcp_stream *s, h2o_socket_t *sock)
{
    struct tcp_peer *p = s->peer;
    struct tcp_transport *t = p->t;
    size_t n = peer_request_format(s->head, sizeof(s->head), s->kind, t->cfg.self_id, p->entry->id,
                                   t->cfg.cluster_id, t->cfg.version);
    h2o_iovec_t iov = h2o_iovec_init(s->head, n);
    s->state = TCP_STREAM_HANDSHAKE;
    s->writing = true;
    h2o_socket_write(sock, &iov, 1, on_head_written);
    h2o_socket_read_start(sock, on_response);
}

static void on_head_written(h2o_socket_t *sock, const char *err)
{
    struct tcp_stream *s = sock->data;
    s->writing = false;
    if (err != NULL) {
        stream_fail(s, err);
        return;
    }
    flush(s);
}

static void refused(struct tcp_stream *s, int status)
{
    struct tcp_peer *p = s->peer;
    uint64_t id = p->entry->id;
    char why[96];
    switch (status) {
    case 412:
        /* etcd answers 412 to a member of another cluster (or a wrong
         * X-Raft-To); retrying cannot help until the configuration changes,
         * so the backoff grows to its maximum. */
        snprintf(why, sizeof(why), "refused by peer: cluster ID mismatch (412)");
        break;
    case 410:
        snprintf(why, sizeof(why), "refused by peer: this member was removed (410)");
        if (!s->removed_reported)
            peer_defer_push(&p->t->defer, PEER_EV_REMOVED, id, false);
        s->removed_reported = true;
        break;
    case 404:
        snprintf(why, sizeof(why), "refused by peer: it does not know this member (404)");
        break;
    default:
        snprintf(why, sizeof(why), "refused by peer: HTTP status %d", status);
        break;
    }
    /* A refusal is worth a line even in the middle of an outage: it says
     * why the link stays down. */
    if (s->down && peer_log_allow(p->t->log_limit, id, -status))
        log_line('E', PEER_LOG_COMPONENT, "peer %" PRIx64 " (stream %s): %s", id,
                 kind_name(s->kind), why);
    stream_fail(s, why);
}

static void on_response(h2o_socket_t *sock, const char *err)
{
    struct tcp_stream *s = sock->data;
    if (err != NULL) {
        stream_fail(s, err);
        return;
    }
    if (s->state != TCP_STREAM_HANDSHAKE) {
        /* The receiver never writes on a stream after its 200. */
        h2o_buffer_consume(&sock->input, sock->input->size);
        return;
    }
    int status = 0;
    int n = peer_response_parse(sock->input->bytes, sock->input->size, &status);
    if (n == 0)
        return;
    if (n < 0) {
        stream_fail(s, "malformed response");
        return;
    }
    h2o_buffer_consume(&sock->input, (size_t)n);
    if (status != 200) {
        refused(s, status);
        return;
    }
    struct tcp_peer *p = s->peer;
    h2o_timeout_unlink(&s->deadline);
    s->state = TCP_STREAM_STREAMING;
    s->level = 0;
    p->entry->stats.rtt_us = tcp_elapsed_us(&s->dial_at);
    tcp_update_active(p);
    log_line('I', PEER_LOG_COMPONENT,
             "established a TCP streaming connection with peer %" PRIx64 " (stream %s writer)",
             p->entry->id, kind_name(s->kind));
    s->down = false;
    s->removed_reported = false;
    flush(s);
}

static void dial(struct tcp_stream *s)
{
    struct tcp_peer *p = s->peer;
    struct tcp_transport *t = p->t;
    struct peer_entry *e = p->entry;
    const char *url = e->urls[e->url_next % e->n_urls];
    struct sockaddr_storage ss;
    socklen_t len;
    s->state = TCP_STREAM_CONNECTING;
    clock_gettime(CLOCK_MONOTONIC, &s->dial_at);
    int rc = peer_url_resolve(url, &ss, &len, &s->tls, s->host, sizeof(s->host));
    if (rc != 0) {
        e->url_next++;
        stream_fail(s, peer_strerror(rc));
        return;
    }
    s->sock = h2o_socket_connect(t->loop, (struct sockaddr *)&ss, len, on_connect);
    if (s->sock == NULL) {
        e->url_next++;
        stream_fail(s, "connect failed");
        return;
    }
    s->sock->data = s;
    h2o_timeout_link(t->loop, &t->handshake, &s->deadline);
}

void tcp_stream_dial_now(struct tcp_stream *s)
{
    if (h2o_timeout_is_linked(&s->retry))
        h2o_timeout_unlink(&s->retry);
    dial(s);
}

static void on_retry(h2o_timeout_entry_t *entry)
{
    dial(H2O_STRUCT_FROM_MEMBER(struct tcp_stream, retry, entry));
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    stream_fail(H2O_STRUCT_FROM_MEMBER(struct tcp_stream, deadline, entry), "handshake timed out");
}
