/* src/peer/tcp_inbound.c - connections accepted on the peer port.
 *
 * The first bytes are an HTTP/1.1 request head. Stream and snapshot
 * requests are checked as etcd's rafthttp checks them: another cluster's
 * ID gets 412 Precondition Failed, a removed member 410 Gone, an unknown
 * sender 404; each refusal is logged with the sender's ID. Accepted streams
 * then carry frames, delivered to on_message one by one. Plain GETs
 * (`/members`, `/version`) are answered through the handler's http(). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "src/peer/tcp_int.h"

static void on_read(h2o_socket_t *sock, const char *err);
static void on_written(h2o_socket_t *sock, const char *err);

static void on_deadline(h2o_timeout_entry_t *entry)
{
    struct tcp_inbound *in = H2O_STRUCT_FROM_MEMBER(struct tcp_inbound, deadline, entry);
    if (in->state == TCP_IN_HEAD)
        log_line('W', PEER_LOG_COMPONENT, "closed a peer connection that sent no request in time");
    else
        log_line('W', PEER_LOG_COMPONENT,
                 "closed a snapshot connection from %" PRIx64 " without progress", in->from);
    tcp_inbound_close(in);
}

/* The TLS handshake of an https:// peer listener is done (its failures are
 * logged by the TLS context): read the preamble, part of which may already
 * be decrypted into sock->input. */
static void on_tls_accepted(h2o_socket_t *sock, const char *err)
{
    struct tcp_inbound *in = sock->data;
    if (err != NULL) {
        tcp_inbound_close(in);
        return;
    }
    h2o_socket_read_start(sock, on_read);
    if (sock->input->size > 0)
        on_read(sock, NULL);
}

void tcp_inbound_accept(struct tcp_transport *t, h2o_socket_t *listener, SSL_CTX *ssl_ctx)
{
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock == NULL)
        return;
    struct tcp_inbound *in = peer_xcalloc(1, sizeof(*in));
    in->t = t;
    in->sock = sock;
    in->state = TCP_IN_HEAD;
    in->snap_fd = -1;
    in->deadline.cb = on_deadline;
    sock->data = in;
    h2o_linklist_insert(&t->inbound, &in->link);
    /* The handshake bound covers TLS too: a silent client is closed. */
    h2o_timeout_link(t->loop, &t->handshake, &in->deadline);
    if (ssl_ctx != NULL)
        h2o_socket_ssl_handshake(sock, ssl_ctx, NULL, on_tls_accepted);
    else
        h2o_socket_read_start(sock, on_read);
}

void tcp_inbound_close(struct tcp_inbound *in)
{
    if (in->busy) {
        in->doomed = true;
        return;
    }
    tcp_snap_recv_abort(in);
    if (h2o_timeout_is_linked(&in->deadline))
        h2o_timeout_unlink(&in->deadline);
    h2o_socket_close(in->sock);
    h2o_linklist_unlink(&in->link);
    free(in->out);
    free(in->pending);
    free(in);
}

void tcp_inbound_close_from(struct tcp_transport *t, uint64_t id)
{
    h2o_linklist_t *node = t->inbound.next;
    while (node != &t->inbound) {
        struct tcp_inbound *in = H2O_STRUCT_FROM_MEMBER(struct tcp_inbound, link, node);
        node = node->next;
        if (in->state != TCP_IN_HEAD && in->state != TCP_IN_DONE && in->from == id)
            tcp_inbound_close(in);
    }
}

void tcp_inbound_answer(struct tcp_inbound *in, char *out, size_t len)
{
    in->state = TCP_IN_DONE;
    if (in->writing) { /* sent when the write in flight (the 200) ends */
        free(in->pending);
        in->pending = out;
        in->pending_len = len;
        return;
    }
    free(in->out);
    in->out = out;
    in->writing = true;
    h2o_iovec_t iov = h2o_iovec_init(out, len);
    h2o_socket_write(in->sock, &iov, 1, on_written);
}

static void answer_status(struct tcp_inbound *in, int status, const char *body)
{
    struct tcp_transport *t = in->t;
    size_t len;
    char *out = peer_response_format(status, "text/plain; charset=utf-8", body, strlen(body), true,
                                     t->cfg.cluster_id, t->cfg.version, &len);
    tcp_inbound_answer(in, out, len);
}

static void answer_http(struct tcp_inbound *in, const struct peer_request *req)
{
    struct tcp_transport *t = in->t;
    const struct peer_handler *h = &t->cfg.handler;
    if (strcmp(req->method, "GET") != 0 || h->http == NULL) {
        answer_status(in, strcmp(req->method, "GET") != 0 ? 405 : 404, "404 page not found\n");
        return;
    }
    char *body = NULL;
    size_t body_len = 0;
    const char *ctype = "application/json";
    in->busy = true;
    int status = h->http(h->ctx, req->method, req->path, &body, &body_len, &ctype);
    in->busy = false;
    size_t len;
    char *out = peer_response_format(status, ctype, body ? body : "", body ? body_len : 0, true,
                                     t->cfg.cluster_id, t->cfg.version, &len);
    free(body);
    tcp_inbound_answer(in, out, len);
}

/* The checks of etcd's stream and snapshot handlers, in its order. */
static void accept_head(struct tcp_inbound *in, const struct peer_request *req)
{
    struct tcp_transport *t = in->t;
    if (req->kind == PEER_KIND_NONE) {
        answer_http(in, req);
        return;
    }
    if (!req->has_from || !req->has_cluster) {
        answer_status(in, 400, "missing X-Server-From or X-Etcd-Cluster-ID\n");
        return;
    }
    if (req->cluster_id != t->cfg.cluster_id) {
        if (peer_log_allow(t->log_limit, req->from, 412))
            log_line('W', PEER_LOG_COMPONENT,
                     "rejected connection from %" PRIx64 ": cluster ID mismatch (local %" PRIx64
                     ", remote %" PRIx64 ")",
                     req->from, t->cfg.cluster_id, req->cluster_id);
        answer_status(in, 412, "cluster ID mismatch\n");
        return;
    }
    if (peer_set_is_removed(&t->peers, req->from)) {
        if (peer_log_allow(t->log_limit, req->from, 410))
            log_line('W', PEER_LOG_COMPONENT, "rejected connection from removed member %" PRIx64,
                     req->from);
        answer_status(in, 410, "removed member\n");
        return;
    }
    if (req->has_to && req->to != t->cfg.self_id) {
        if (peer_log_allow(t->log_limit, req->from, 4120))
            log_line('W', PEER_LOG_COMPONENT,
                     "rejected connection from %" PRIx64 ": addressed to %" PRIx64
                     ", I am %" PRIx64,
                     req->from, req->to, t->cfg.self_id);
        answer_status(in, 412, "to field mismatch\n");
        return;
    }
    if (peer_set_find(&t->peers, req->from) == NULL) {
        /* etcd: the sender may be newer than our view of the membership. */
        if (peer_log_allow(t->log_limit, req->from, 404))
            log_line('W', PEER_LOG_COMPONENT, "rejected connection from unknown member %" PRIx64,
                     req->from);
        answer_status(in, 404, "error sender not found\n");
        return;
    }
    in->from = req->from;
    in->kind = req->kind;
    in->state = req->kind == PEER_KIND_SNAP ? TCP_IN_SNAP_META : TCP_IN_STREAM;
    h2o_timeout_unlink(&in->deadline);
    if (in->state == TCP_IN_SNAP_META)
        h2o_timeout_link(t->loop, &t->snap_idle, &in->deadline);
    size_t len;
    in->out =
        peer_response_format(200, NULL, NULL, 0, false, t->cfg.cluster_id, t->cfg.version, &len);
    in->writing = true;
    h2o_iovec_t iov = h2o_iovec_init(in->out, len);
    h2o_socket_write(in->sock, &iov, 1, on_written);
    if (in->kind != PEER_KIND_SNAP)
        log_line('I', PEER_LOG_COMPONENT,
                 "established a TCP streaming connection with peer %" PRIx64 " (stream %s reader)",
                 in->from, in->kind == PEER_KIND_APP ? "app" : "msg");
}

/* Delivers every whole frame; false when the connection must close. */
static bool read_frames(struct tcp_inbound *in)
{
    struct tcp_transport *t = in->t;
    h2o_socket_t *sock = in->sock;
    while (!in->doomed) {
        size_t payload;
        ssize_t n = peer_frame_next((const uint8_t *)sock->input->bytes, sock->input->size,
                                    t->cfg.max_frame, &payload);
        if (n == 0)
            return true;
        if (n < 0) {
            log_line('W', PEER_LOG_COMPONENT, "frame from %" PRIx64 " longer than %zu bytes",
                     in->from, t->cfg.max_frame);
            return false;
        }
        if (peer_set_is_removed(&t->peers, in->from)) {
            if (peer_log_allow(t->log_limit, in->from, 410))
                log_line('W', PEER_LOG_COMPONENT, "dropped messages from removed member %" PRIx64,
                         in->from);
            return false;
        }
        struct peer_entry *e = peer_set_find(&t->peers, in->from);
        if (e == NULL)
            return false;
        struct raft_message m;
        int rc = raft_decode_message(sock->input->bytes + PEER_FRAME_HEADER, payload, &m);
        if (rc != 0) {
            log_line('W', PEER_LOG_COMPONENT, "malformed message from %" PRIx64 ": %s", in->from,
                     raft_strerror(rc));
            return false;
        }
        h2o_buffer_consume(&sock->input, (size_t)n);
        if (m.from != in->from || m.to != t->cfg.self_id || m.type == RAFT_MSG_SNAP) {
            log_line('W', PEER_LOG_COMPONENT,
                     "dropped %s from %" PRIx64 " to %" PRIx64 " on the stream of %" PRIx64,
                     raft_msg_type_name(m.type), m.from, m.to, in->from);
            raft_message_free(&m);
            return false;
        }
        e->stats.received_bytes += (uint64_t)n;
        e->stats.received_msgs++;
        in->busy = true;
        t->cfg.handler.on_message(t->cfg.handler.ctx, &m);
        in->busy = false;
        raft_message_free(&m);
    }
    return true;
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    struct tcp_inbound *in = sock->data;
    if (err != NULL) {
        tcp_inbound_close(in);
        return;
    }
    bool keep = true;
    if (in->state == TCP_IN_HEAD) {
        struct peer_request req;
        int n = peer_request_parse(sock->input->bytes, sock->input->size, &req);
        if (n == 0)
            return;
        if (n < 0) {
            answer_status(in, 400, "malformed request\n");
            return;
        }
        h2o_buffer_consume(&sock->input, (size_t)n);
        accept_head(in, &req);
    }
    switch (in->state) {
    case TCP_IN_STREAM:
        keep = read_frames(in);
        break;
    case TCP_IN_SNAP_META:
    case TCP_IN_SNAP_DATA:
        keep = tcp_snap_recv_process(in);
        break;
    case TCP_IN_HEAD:
    case TCP_IN_DONE:
        /* nothing more is read once answered */
        h2o_buffer_consume(&sock->input, sock->input->size);
        break;
    }
    if (!keep || in->doomed) {
        in->doomed = false;
        tcp_inbound_close(in);
    }
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    struct tcp_inbound *in = sock->data;
    in->writing = false;
    free(in->out);
    in->out = NULL;
    if (err != NULL) {
        tcp_inbound_close(in);
        return;
    }
    if (in->pending != NULL) {
        in->out = in->pending;
        in->pending = NULL;
        in->writing = true;
        h2o_iovec_t iov = h2o_iovec_init(in->out, in->pending_len);
        h2o_socket_write(sock, &iov, 1, on_written);
        return;
    }
    /* An answer ends the connection, as etcd's handlers reply and return. */
    if (in->state == TCP_IN_DONE)
        tcp_inbound_close(in);
}
