/*
 * src/peer/tcp_int.h - the TCP transport's objects, shared by tcp.c
 * (the transport and its ops), tcp_stream.c (outgoing streams),
 * tcp_inbound.c (accepted connections), snapshot_send.c and
 * snapshot_recv.c. Everything runs on the transport's loop.
 */
#ifndef METCD_PEER_TCP_INT_H
#define METCD_PEER_TCP_INT_H

#include <time.h>

#include "src/peer/peer_int.h"

#define TCP_MAX_BACKOFF_LEVELS 16
#define TCP_WRITE_BATCH        64           /* frames per writev */
#define TCP_SNAP_CHUNK         (256u << 10) /* snapshot bytes per write */

struct tcp_transport {
    peer_transport_t base;
    struct peer_config cfg; /* version points at our own copy */
    char *version;
    h2o_loop_t *loop;
    struct peer_set peers; /* entry->impl is a struct tcp_peer */
    struct peer_defer defer;
    /* h2o timeouts have one fixed interval each: one per backoff step. */
    h2o_timeout_t backoff[TCP_MAX_BACKOFF_LEVELS];
    size_t n_backoff;
    h2o_timeout_t handshake;  /* connect + preamble bound */
    h2o_timeout_t snap_idle;  /* a snapshot connection without progress */
    h2o_timeout_t flush_soon; /* 0 ms: writes queued by a send (tcp_stream.c) */
    h2o_socket_t **listeners;
    SSL_CTX **listener_tls; /* per listener: its TLS context, or NULL (borrowed) */
    size_t n_listeners;
    h2o_linklist_t inbound;    /* struct tcp_inbound */
    h2o_linklist_t snap_sends; /* struct tcp_snap_send */
    struct peer_log_limit log_limit[PEER_LOG_LIMIT_SLOTS];
};

struct tcp_frame {
    uint8_t *data; /* malloc'd, owned by the queue or the write in flight */
    size_t len;
};

enum tcp_stream_state {
    TCP_STREAM_WAIT,       /* backing off before the next dial */
    TCP_STREAM_CONNECTING, /* TCP connect in progress */
    TCP_STREAM_HANDSHAKE,  /* request sent, waiting for the 200 */
    TCP_STREAM_STREAMING,  /* frames flow */
};

/* One outgoing stream (msg or app) to one peer. */
struct tcp_stream {
    struct tcp_peer *peer;
    enum peer_conn_kind kind;
    enum tcp_stream_state state;
    h2o_socket_t *sock;
    struct tcp_frame *queue; /* ring of queue_len frames */
    size_t q_head, q_len;
    struct tcp_frame inflight[TCP_WRITE_BATCH]; /* alive until the write callback */
    h2o_iovec_t iov[TCP_WRITE_BATCH];
    size_t n_inflight;
    bool writing; /* one write outstanding per socket */
    char head[512];
    char host[256]; /* of the URL dialed: the name its TLS certificate must carry */
    bool tls;       /* the URL dialed is https:// */
    unsigned level; /* backoff step of the next retry */
    h2o_timeout_entry_t retry, deadline;
    h2o_timeout_entry_t flush_entry; /* on t->flush_soon while a write waits */
    struct timespec dial_at;
    bool down; /* failed since the last success (log once per outage) */
    bool full_logged;
    bool removed_reported; /* on_removed queued since the last success */
};

struct tcp_peer {
    struct tcp_transport *t;
    struct peer_entry *entry;     /* owned by t->peers */
    struct tcp_stream streams[2]; /* [0] msg, [1] app */
};

/* An accepted connection: the HTTP preamble, then a message stream, a
 * snapshot, or one plain HTTP answer. */
enum tcp_inbound_state {
    TCP_IN_HEAD,
    TCP_IN_STREAM,
    TCP_IN_SNAP_META,
    TCP_IN_SNAP_DATA,
    TCP_IN_DONE, /* answered: close once the answer is written */
};

struct tcp_inbound {
    h2o_linklist_t link;
    struct tcp_transport *t;
    h2o_socket_t *sock;
    enum tcp_inbound_state state;
    enum peer_conn_kind kind;
    uint64_t from;
    h2o_timeout_entry_t deadline;
    char *out;     /* the bytes being written, owned until the write callback */
    char *pending; /* an answer queued behind them, owned */
    size_t pending_len;
    bool writing;
    bool busy;   /* inside a handler callback: close later */
    bool doomed; /* close when no longer busy */
    /* snapshot being received */
    struct raft_message snap; /* decoded metadata, owned */
    bool has_snap;
    uint64_t snap_size, snap_got;
    int snap_fd; /* the driver's, -1 when none */
};

/* tcp_stream.c */
void tcp_stream_init(struct tcp_stream *s, struct tcp_peer *p, enum peer_conn_kind kind);
/* Dials now (first connection, or new URLs). */
void tcp_stream_dial_now(struct tcp_stream *s);
/* Takes ownership of the frame: queues it or drops it (link down, queue
 * full), reporting the peer unreachable as etcd does. */
void tcp_stream_enqueue(struct tcp_stream *s, uint8_t *frame, size_t len);
/* Closes the connection, frees queued frames, unlinks timers. */
void tcp_stream_dispose(struct tcp_stream *s);

/* tcp_inbound.c */
/* Accepts one connection on listener; ssl_ctx (or NULL) is the listener's TLS context. */
void tcp_inbound_accept(struct tcp_transport *t, h2o_socket_t *listener, SSL_CTX *ssl_ctx);
/* Closes (now, or after the current callback) every connection from `id`. */
void tcp_inbound_close_from(struct tcp_transport *t, uint64_t id);
void tcp_inbound_close(struct tcp_inbound *in);
/* Queues `out` (owned) as the last bytes of the connection. */
void tcp_inbound_answer(struct tcp_inbound *in, char *out, size_t len);

/* snapshot_recv.c: returns false when the connection must close. */
bool tcp_snap_recv_process(struct tcp_inbound *in);
/* Tells the driver a transfer ended unfinished and frees its state. */
void tcp_snap_recv_abort(struct tcp_inbound *in);

/* snapshot_send.c */
void tcp_snap_send_start(struct tcp_transport *t, struct peer_entry *e,
                         const struct raft_message *m);
/* Ends every transfer to `id` (all if id == 0); report=false when the
 * transport is being freed. */
void tcp_snap_send_abort(struct tcp_transport *t, uint64_t id, bool report);

/* tcp.c */
void tcp_update_active(struct tcp_peer *p);
uint64_t tcp_elapsed_us(const struct timespec *since);

#endif /* METCD_PEER_TCP_INT_H */
