/* src/peer/snapshot_send.c - sending a snapshot on its own connection.
 *
 * raft's MSG_SNAP carries only the metadata; the data is the store
 * snapshot file, which the driver opens (snapshot_open) and we stream in
 * chunks, one write outstanding, so that neither side ever holds it whole
 * (etcd's snapshotSender streams the file as the request body for the same
 * reason). The outcome is reported with on_snapshot_sent, which the driver
 * turns into raft_report_snapshot: on failure raft goes back to probing
 * and sends a new snapshot later (etcd's ReportSnapshot(SnapshotFailure)). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "src/peer/tcp_int.h"

enum snap_send_state { SS_CONNECTING, SS_HANDSHAKE, SS_DATA, SS_ACK };

struct tcp_snap_send {
    h2o_linklist_t link;
    struct tcp_transport *t;
    uint64_t to, index, term;
    h2o_socket_t *sock;
    enum snap_send_state state;
    int fd; /* owned: closed when the transfer ends */
    uint64_t size, sent;
    char head[512];
    char host[256]; /* of the URL dialed: the name its TLS certificate must carry */
    bool tls;       /* the URL dialed is https:// */
    uint8_t *meta;  /* the MSG_SNAP frame and the data size */
    size_t meta_len;
    uint8_t *chunk; /* TCP_SNAP_CHUNK bytes, alive until the write callback */
    bool writing;   /* one write outstanding per socket */
    bool meta_sent;
    h2o_timeout_entry_t deadline;
};

static void finish(struct tcp_snap_send *ss, bool failed, const char *why, bool report)
{
    struct tcp_transport *t = ss->t;
    struct peer_entry *e = peer_set_find(&t->peers, ss->to);
    if (failed)
        log_line('W', PEER_LOG_COMPONENT,
                 "failed to send snapshot [index: %" PRIu64 ", term: %" PRIu64 "] to %" PRIx64
                 ": %s",
                 ss->index, ss->term, ss->to, why);
    else
        log_line('I', PEER_LOG_COMPONENT,
                 "sent snapshot [index: %" PRIu64 ", term: %" PRIu64 ", %" PRIu64
                 " bytes] to %" PRIx64,
                 ss->index, ss->term, ss->size, ss->to);
    if (e != NULL) {
        if (failed)
            e->stats.send_failures++;
        else
            e->stats.sent_msgs++;
    }
    if (report)
        peer_defer_push(&t->defer, PEER_EV_SNAP_SENT, ss->to, failed);
    if (ss->sock != NULL)
        h2o_socket_close(ss->sock);
    if (h2o_timeout_is_linked(&ss->deadline))
        h2o_timeout_unlink(&ss->deadline);
    if (ss->fd >= 0)
        close(ss->fd);
    h2o_linklist_unlink(&ss->link);
    free(ss->meta);
    free(ss->chunk);
    free(ss);
}

static void touch(struct tcp_snap_send *ss, h2o_timeout_t *which)
{
    if (h2o_timeout_is_linked(&ss->deadline))
        h2o_timeout_unlink(&ss->deadline);
    h2o_timeout_link(ss->t->loop, which, &ss->deadline);
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    struct tcp_snap_send *ss = H2O_STRUCT_FROM_MEMBER(struct tcp_snap_send, deadline, entry);
    finish(ss, true, "timed out", true);
}

static void on_written(h2o_socket_t *sock, const char *err);

/* Starts the next write, if none is outstanding: the metadata frame, then
 * the file chunk by chunk, then waits for the receiver's verdict. */
static void pump(struct tcp_snap_send *ss)
{
    if (ss->writing || ss->state != SS_DATA)
        return;
    struct peer_entry *e = peer_set_find(&ss->t->peers, ss->to);
    h2o_iovec_t iov;
    if (!ss->meta_sent) {
        ss->meta_sent = true;
        iov = h2o_iovec_init(ss->meta, ss->meta_len);
        if (e != NULL)
            e->stats.sent_bytes += ss->meta_len;
    } else if (ss->sent == ss->size) {
        ss->state = SS_ACK;
        return;
    } else {
        uint64_t left = ss->size - ss->sent;
        size_t want = left < TCP_SNAP_CHUNK ? (size_t)left : TCP_SNAP_CHUNK;
        ssize_t n;
        do
            n = read(ss->fd, ss->chunk, want);
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
            finish(ss, true, n < 0 ? strerror(errno) : "snapshot file shorter than announced",
                   true);
            return;
        }
        ss->sent += (uint64_t)n;
        if (e != NULL)
            e->stats.sent_bytes += (uint64_t)n;
        iov = h2o_iovec_init(ss->chunk, (size_t)n);
    }
    ss->writing = true;
    h2o_socket_write(ss->sock, &iov, 1, on_written);
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    struct tcp_snap_send *ss = sock->data;
    ss->writing = false;
    if (err != NULL) {
        finish(ss, true, err, true);
        return;
    }
    touch(ss, &ss->t->snap_idle);
    pump(ss);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    struct tcp_snap_send *ss = sock->data;
    if (err != NULL) {
        finish(ss, true, err, true);
        return;
    }
    if (ss->state == SS_HANDSHAKE) {
        int status = 0;
        int n = peer_response_parse(sock->input->bytes, sock->input->size, &status);
        if (n == 0)
            return;
        if (n < 0 || status != 200) {
            char why[64];
            snprintf(why, sizeof(why), "refused by peer (HTTP status %d)", n < 0 ? 0 : status);
            if (status == 410)
                peer_defer_push(&ss->t->defer, PEER_EV_REMOVED, ss->to, false);
            finish(ss, true, why, true);
            return;
        }
        h2o_buffer_consume(&sock->input, (size_t)n);
        ss->state = SS_DATA;
        pump(ss);
        return;
    }
    if (sock->input->size == 0)
        return;
    /* The verdict may be read before the last write's callback runs. */
    bool all_sent = ss->state == SS_DATA && ss->meta_sent && ss->sent == ss->size;
    if (ss->state != SS_ACK && !all_sent) {
        finish(ss, true, "peer answered before the end of the data", true);
        return;
    }
    bool ok = sock->input->bytes[0] == 0;
    finish(ss, !ok, "refused by the receiving server", true);
}

static void send_head(struct tcp_snap_send *ss, h2o_socket_t *sock);

static void on_tls_ready(h2o_socket_t *sock, const char *err)
{
    struct tcp_snap_send *ss = sock->data;
    if (!peer_tls_dial_ok(err)) {
        finish(ss, true, err, true);
        return;
    }
    send_head(ss, sock);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    struct tcp_snap_send *ss = sock->data;
    if (err != NULL) {
        finish(ss, true, err, true);
        return;
    }
    if (ss->tls) { /* https:// peer URL: TLS first, then the same preamble */
        h2o_socket_ssl_handshake(sock, ss->t->cfg.tls_dialer, ss->host, on_tls_ready);
        return;
    }
    send_head(ss, sock);
}

static void send_head(struct tcp_snap_send *ss, h2o_socket_t *sock)
{
    struct tcp_transport *t = ss->t;
    size_t n = peer_request_format(ss->head, sizeof(ss->head), PEER_KIND_SNAP, t->cfg.self_id,
                                   ss->to, t->cfg.cluster_id, t->cfg.version);
    ss->state = SS_HANDSHAKE;
    ss->writing = true;
    h2o_iovec_t iov = h2o_iovec_init(ss->head, n);
    h2o_socket_write(sock, &iov, 1, on_written);
    h2o_socket_read_start(sock, on_read);
}

void tcp_snap_send_start(struct tcp_transport *t, struct peer_entry *e,
                         const struct raft_message *m)
{
    const struct peer_handler *h = &t->cfg.handler;
    struct tcp_snap_send *ss = peer_xcalloc(1, sizeof(*ss));
    ss->t = t;
    ss->to = m->to;
    ss->index = m->snapshot.meta.index;
    ss->term = m->snapshot.meta.term;
    ss->fd = -1;
    ss->deadline.cb = on_deadline;
    h2o_linklist_insert(&t->snap_sends, &ss->link);
    uint8_t *frame;
    size_t len;
    if (peer_frame_encode(m, t->cfg.max_frame, &frame, &len) != 0) {
        finish(ss, true, "cannot encode the snapshot message", true);
        return;
    }
    ss->meta = peer_xrealloc(frame, len + 8);
    ss->meta_len = len + 8;
    ss->fd = h->snapshot_open ? h->snapshot_open(h->ctx, ss->index, ss->term, &ss->size) : -1;
    if (ss->fd < 0) {
        finish(ss, true, "no snapshot file to send", true);
        return;
    }
    le_put64(ss->meta + len, ss->size);
    ss->chunk = peer_xmalloc(TCP_SNAP_CHUNK);
    const char *url = e->urls[e->url_next % e->n_urls];
    struct sockaddr_storage sa;
    socklen_t salen;
    int rc = peer_url_resolve(url, &sa, &salen, &ss->tls, ss->host, sizeof(ss->host));
    if (rc == 0 && ss->tls && t->cfg.tls_dialer == NULL)
        rc = PEER_ETLS;
    if (rc != 0) {
        finish(ss, true, peer_strerror(rc), true);
        return;
    }
    ss->sock = h2o_socket_connect(t->loop, (struct sockaddr *)&sa, salen, on_connect);
    if (ss->sock == NULL) {
        finish(ss, true, "connect failed", true);
        return;
    }
    ss->sock->data = ss;
    touch(ss, &t->handshake);
    log_line('I', PEER_LOG_COMPONENT,
             "sending snapshot [index: %" PRIu64 ", term: %" PRIu64 ", %" PRIu64
             " bytes] to %" PRIx64,
             ss->index, ss->term, ss->size, ss->to);
}

void tcp_snap_send_abort(struct tcp_transport *t, uint64_t id, bool report)
{
    h2o_linklist_t *node = t->snap_sends.next;
    while (node != &t->snap_sends) {
        struct tcp_snap_send *ss = H2O_STRUCT_FROM_MEMBER(struct tcp_snap_send, link, node);
        node = node->next;
        if (id == 0 || ss->to == id)
            finish(ss, true, "aborted", report);
    }
}
