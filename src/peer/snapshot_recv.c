/* src/peer/snapshot_recv.c - receiving a snapshot on an accepted
 * connection.
 *
 * After the 200 the sender writes one frame (the MSG_SNAP: metadata only),
 * the data size (u64 little-endian), then the data. Bytes go straight from
 * the socket buffer to the driver's file: the snapshot is never whole in
 * memory (etcd's snapshot handler likewise copies the body into a file).
 * Only when every byte is stored and the driver accepts the file is the
 * MSG_SNAP handed to raft, so raft never installs a snapshot it does not
 * have (paper section 7: the follower replaces its state only with a
 * complete snapshot). The last byte written back tells the sender the
 * outcome: 0 stored and accepted, 1 refused. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "src/peer/tcp_int.h"

#define SNAP_ACK_OK     0
#define SNAP_ACK_FAILED 1

void tcp_snap_recv_abort(struct tcp_inbound *in)
{
    const struct peer_handler *h = &in->t->cfg.handler;
    if (in->snap_fd >= 0) {
        int fd = in->snap_fd;
        in->snap_fd = -1;
        log_line('W', PEER_LOG_COMPONENT,
                 "snapshot from %" PRIx64 " ended after %" PRIu64 " of %" PRIu64 " bytes", in->from,
                 in->snap_got, in->snap_size);
        h->snapshot_receive_end(h->ctx, fd, false);
    }
    if (in->has_snap) {
        raft_message_free(&in->snap);
        in->has_snap = false;
    }
}

static void answer(struct tcp_inbound *in, uint8_t code)
{
    char *b = peer_xmalloc(1);
    b[0] = (char)code;
    tcp_inbound_answer(in, b, 1);
}

/* The whole snapshot is in the driver's file: let it decide, then raft. */
static void finish(struct tcp_inbound *in)
{
    struct tcp_transport *t = in->t;
    const struct peer_handler *h = &t->cfg.handler;
    int fd = in->snap_fd;
    in->snap_fd = -1;
    in->busy = true;
    int rc = h->snapshot_receive_end(h->ctx, fd, true);
    struct peer_entry *e = peer_set_find(&t->peers, in->from);
    if (rc == 0 && e != NULL) {
        log_line('I', PEER_LOG_COMPONENT,
                 "received snapshot [index: %" PRIu64 ", term: %" PRIu64 ", %" PRIu64
                 " bytes] from %" PRIx64,
                 in->snap.snapshot.meta.index, in->snap.snapshot.meta.term, in->snap_size,
                 in->from);
        e->stats.received_msgs++;
        t->cfg.handler.on_message(h->ctx, &in->snap);
    } else {
        log_line('W', PEER_LOG_COMPONENT, "snapshot from %" PRIx64 " was refused by the server",
                 in->from);
    }
    in->busy = false;
    raft_message_free(&in->snap);
    in->has_snap = false;
    answer(in, rc == 0 && e != NULL ? SNAP_ACK_OK : SNAP_ACK_FAILED);
}

static bool read_meta(struct tcp_inbound *in)
{
    struct tcp_transport *t = in->t;
    h2o_socket_t *sock = in->sock;
    const uint8_t *b = (const uint8_t *)sock->input->bytes;
    size_t payload;
    ssize_t n = peer_frame_next(b, sock->input->size, t->cfg.max_frame, &payload);
    if (n < 0)
        return false;
    if (n == 0 || sock->input->size < (size_t)n + 8)
        return true; /* wait for more */
    int rc = raft_decode_message(b + PEER_FRAME_HEADER, payload, &in->snap);
    if (rc != 0)
        return false;
    in->has_snap = true;
    if (in->snap.type != RAFT_MSG_SNAP || in->snap.from != in->from ||
        in->snap.to != t->cfg.self_id) {
        log_line('W', PEER_LOG_COMPONENT, "bad snapshot message from %" PRIx64, in->from);
        return false;
    }
    in->snap_size = le_get64(b + n);
    in->snap_got = 0;
    h2o_buffer_consume(&sock->input, (size_t)n + 8);
    const struct peer_handler *h = &t->cfg.handler;
    in->busy = true;
    int fd = h->snapshot_receive_begin(h->ctx, in->from, in->snap.snapshot.meta.index,
                                       in->snap.snapshot.meta.term, in->snap_size);
    in->busy = false;
    if (fd < 0) {
        log_line('W', PEER_LOG_COMPONENT, "cannot store the snapshot from %" PRIx64, in->from);
        raft_message_free(&in->snap);
        in->has_snap = false;
        answer(in, SNAP_ACK_FAILED);
        return true;
    }
    in->snap_fd = fd;
    in->state = TCP_IN_SNAP_DATA;
    return true;
}

bool tcp_snap_recv_process(struct tcp_inbound *in)
{
    struct tcp_transport *t = in->t;
    h2o_socket_t *sock = in->sock;
    if (in->state == TCP_IN_SNAP_META) {
        if (!read_meta(in))
            return false;
        if (in->state != TCP_IN_SNAP_DATA)
            return true;
    }
    if (h2o_timeout_is_linked(&in->deadline))
        h2o_timeout_unlink(&in->deadline);
    h2o_timeout_link(t->loop, &t->snap_idle, &in->deadline);
    uint64_t left = in->snap_size - in->snap_got;
    size_t n = sock->input->size < left ? sock->input->size : (size_t)left;
    if (n > 0) {
        if (fs_write_all(in->snap_fd, sock->input->bytes, n) != 0) {
            log_line('E', PEER_LOG_COMPONENT, "writing the snapshot from %" PRIx64 ": %s", in->from,
                     strerror(errno));
            return false;
        }
        h2o_buffer_consume(&sock->input, n);
        in->snap_got += n;
        struct peer_entry *e = peer_set_find(&t->peers, in->from);
        if (e != NULL)
            e->stats.received_bytes += n;
    }
    if (in->snap_got == in->snap_size) {
        h2o_timeout_unlink(&in->deadline);
        finish(in);
    }
    return true;
}
