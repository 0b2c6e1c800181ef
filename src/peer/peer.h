/*
 * src/peer/peer.h - the peer transport: raft messages between members
 * (what etcd calls rafthttp).
 *
 * One `peer_transport_t` per member, behind a small vtable with two
 * implementations:
 *   - TCP (peer_tcp_new): production. Each connection starts with one
 *     HTTP/1.1 request naming the sender, the receiver and the cluster
 *     (`X-Server-From`, `X-Raft-To`, `X-Etcd-Cluster-ID`, as etcd's rafthttp
 *     does); after a 200 it carries length-prefixed frames of
 *     raft_encode_message() bytes. Per peer and direction there are two
 *     stream connections, one for MSG_APP and one for everything else, so
 *     that heartbeats and votes never wait behind large appends (etcd keeps
 *     its msgapp and message streams apart for the same reason), and one
 *     connection per snapshot, streamed in chunks from and to files.
 *   - in memory (peer_mem_new on a peer_mem_net): tests. Every member of a
 *     cluster runs in one process on one loop; the net can cut links and
 *     drop a seeded fraction of messages.
 *
 * Delivery guarantees: none, as raft expects (a message may be lost; the
 * core retries). Handler callbacks are never called from inside an ops
 * call: they run from the event loop, so the driver may call any op (but
 * never peer_free) from inside a callback.
 *
 * Threads: everything runs on the loop given at creation; no locks.
 */
#ifndef METCD_PEER_H
#define METCD_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/* Errors: 0 is success, every failure is one of these negative codes. */
#define PEER_ERRORS(X)                                                                             \
    X(PEER_EINVAL, -1, "invalid argument")                                                         \
    X(PEER_EEXIST, -2, "peer already exists")                                                      \
    X(PEER_ENOENT, -3, "no such peer")                                                             \
    X(PEER_EURL, -4, "invalid peer URL")                                                           \
    X(PEER_ETLS, -5, "https peer URLs need peer TLS (--peer-cert-file or --peer-auto-tls)")        \
    X(PEER_EREMOVED, -6, "member was removed from the cluster")                                    \
    X(PEER_ESYS, -7, "system call failed")

enum {
#define PEER_ERR_ENUM(name, code, msg) name = code,
    PEER_ERRORS(PEER_ERR_ENUM)
#undef PEER_ERR_ENUM
};

/* Returns a static string describing `err` (never NULL). */
const char *peer_strerror(int err);

/* Counters per peer, for etcd's metrics etcd_network_peer_sent_bytes_total
 * {To}, etcd_network_peer_received_bytes_total{From} and
 * etcd_network_peer_round_trip_time_seconds. Bytes are frame bytes (raft
 * messages and snapshot data), without the connection's HTTP preamble. */
struct peer_stats {
    uint64_t sent_bytes;
    uint64_t sent_msgs;
    uint64_t received_bytes;
    uint64_t received_msgs;
    uint64_t send_failures; /* messages dropped: queue full, link down */
    uint64_t rtt_us;        /* last connection handshake round trip; 0 if none */
    bool active;            /* a stream to the peer is connected (TCP) */
};

/* What the transport calls back. Every callback runs on the loop, never
 * inside an ops call. `ctx` is passed back untouched. */
struct peer_handler {
    void *ctx;
    /* A message for this member; `m` is borrowed for the call (the driver
     * calls raft_step). A MSG_SNAP arrives only after its data was stored
     * whole and snapshot_receive_end(ok=true) returned 0; its
     * snapshot.data is empty: the data is in the driver's file. */
    void (*on_message)(void *ctx, const struct raft_message *m);
    /* Sending to `id` failed (connection lost, queue full, link cut): the
     * driver calls raft_report_unreachable. May come once per message. */
    void (*on_unreachable)(void *ctx, uint64_t id);
    /* A snapshot sent to `id` was received whole (failed=false) or not
     * (failed=true): the driver calls raft_report_snapshot. */
    void (*on_snapshot_sent)(void *ctx, uint64_t id, bool failed);
    /* Optional: peer `by` answered 410 Gone: this member was removed from
     * the cluster (etcd then stops the member). */
    void (*on_removed)(void *ctx, uint64_t by);
    /* For a MSG_SNAP being sent: returns a readable fd positioned at the
     * start of the store snapshot file for (index, term) and its size in
     * *size, or -1 (the send is then reported failed). The transport owns
     * the fd from then on and closes it. */
    int (*snapshot_open)(void *ctx, uint64_t index, uint64_t term, uint64_t *size);
    /* A snapshot of `size` bytes from `from` is arriving: returns a
     * writable fd (a temp file the driver owns; the transport only writes
     * to it) or -1 to refuse it. */
    int (*snapshot_receive_begin)(void *ctx, uint64_t from, uint64_t index, uint64_t term,
                                  uint64_t size);
    /* The transfer begun on `fd` ended: ok=true when every byte was
     * written. The driver closes (or keeps) the fd. Return 0 to accept the
     * snapshot (its MSG_SNAP is then delivered to on_message and the sender
     * told it succeeded), anything else to reject it. */
    int (*snapshot_receive_end)(void *ctx, int fd, bool ok);
    /* Optional: the plain HTTP GETs etcd serves on its peer port (`/members`,
     * `/version`). `path` (NUL-terminated, raw, with any query) is borrowed.
     * Returns the HTTP status and sets *body to a malloc'd body that the
     * transport frees, *body_len, and *content_type to a static string.
     * NULL handler: 404 for everything. */
    int (*http)(void *ctx, const char *method, const char *path, char **body, size_t *body_len,
                const char **content_type);
};

struct peer_config {
    void *loop;          /* h2o_loop_t * (kept void so users need no h2o) */
    uint64_t self_id;    /* this member, != 0 */
    uint64_t cluster_id; /* stated on, and required of, every connection */
    const char *version; /* X-Server-Version (copied); NULL: "3.4.23" */
    struct peer_handler handler;
    size_t queue_len;        /* messages queued per stream; 0: 4096 as etcd */
    unsigned backoff_min_ms; /* reconnect backoff; 0: 100 */
    unsigned backoff_max_ms; /* 0: 1000 */
    unsigned handshake_ms;   /* connect + HTTP preamble bound; 0: 5000 */
    size_t max_frame;        /* largest message accepted; 0: 64 MiB */
    /* The OpenSSL SSL_CTX * that dials https:// peer URLs (borrowed: it
     * outlives the transport; it verifies the peer's certificate and
     * presents this member's). NULL: https:// URLs are refused (PEER_ETLS). */
    void *tls_dialer;
};

typedef struct peer_transport peer_transport_t;

struct peer_ops {
    /* Adds member `id` reachable at `urls` (http://host:port, copied);
     * outgoing connections start at once. PEER_EEXIST if known,
     * PEER_EURL / PEER_ETLS for a URL it cannot use. A removed id may not
     * come back (etcd IDs are never reused): PEER_EREMOVED. */
    int (*add_peer)(peer_transport_t *t, uint64_t id, const char *const *urls, size_t n);
    /* Replaces the URLs of `id` (copied); connections reopen on them. */
    int (*update_peer)(peer_transport_t *t, uint64_t id, const char *const *urls, size_t n);
    /* Forgets `id`, closes its connections, and remembers it as removed:
     * from then on its connections are refused (410) and its messages
     * dropped with one log line. */
    int (*remove_peer)(peer_transport_t *t, uint64_t id);
    /* Queues `m` for m->to. `m` is borrowed: it is encoded before the call
     * returns. Never blocks. A failure to queue (unknown peer, full queue,
     * link down) is reported through on_unreachable (or on_snapshot_sent
     * for a MSG_SNAP) from the loop, as etcd's rafthttp does, and counted
     * in send_failures; the return value is then still 0. PEER_EINVAL for
     * a local message type or m->from != self. */
    int (*send)(peer_transport_t *t, const struct raft_message *m);
    /* Copies the counters of `id` into *out; PEER_ENOENT if unknown. */
    int (*stats)(peer_transport_t *t, uint64_t id, struct peer_stats *out);
    /* Closes everything and frees `t`. Outgoing snapshots in flight are
     * reported to nobody (the driver is going away too); an incoming one
     * still gets snapshot_receive_end(fd, false), from inside this call, so
     * the driver can delete its temp file. Never call it from inside a
     * handler callback. After it, run the loop once so h2o can free the
     * closed sockets. */
    void (*free)(peer_transport_t *t);
};

/* The common head of every implementation. */
struct peer_transport {
    const struct peer_ops *ops;
};

static inline int peer_add(peer_transport_t *t, uint64_t id, const char *const *urls, size_t n)
{
    return t->ops->add_peer(t, id, urls, n);
}
static inline int peer_update(peer_transport_t *t, uint64_t id, const char *const *urls, size_t n)
{
    return t->ops->update_peer(t, id, urls, n);
}
static inline int peer_remove(peer_transport_t *t, uint64_t id)
{
    return t->ops->remove_peer(t, id);
}
static inline int peer_send(peer_transport_t *t, const struct raft_message *m)
{
    return t->ops->send(t, m);
}
static inline int peer_stats(peer_transport_t *t, uint64_t id, struct peer_stats *out)
{
    return t->ops->stats(t, id, out);
}
static inline void peer_free(peer_transport_t *t)
{
    if (t)
        t->ops->free(t);
}

/* ---- TCP ---------------------------------------------------------------- */

/* Creates a TCP transport; *out is owned by the caller (peer_free).
 * PEER_EINVAL on a bad config. */
int peer_tcp_new(const struct peer_config *cfg, peer_transport_t **out);
/* Serves an already bound, listening, non-blocking fd (the transport owns
 * it from then on and closes it in peer_free). */
int peer_tcp_listen(peer_transport_t *t, int fd);
/* peer_tcp_listen() for an https:// peer URL: each accepted connection
 * starts with a TLS handshake on ssl_ctx (an SSL_CTX *, borrowed). */
int peer_tcp_listen_tls(peer_transport_t *t, int fd, void *ssl_ctx);

/* ---- in memory (tests) -------------------------------------------------- */

/* A simulated network on one loop: delivery is always asynchronous (a later
 * loop turn, never inside send), in order per pair of members. */
struct peer_mem_net;
/* Returns a net owned by the caller (peer_mem_net_free, after every
 * transport on it was freed). `seed` drives the drop PRNG. */
struct peer_mem_net *peer_mem_net_new(void *loop, uint64_t seed);
void peer_mem_net_free(struct peer_mem_net *net);
/* Drops all traffic between a and b in both directions (symmetric), until
 * healed. Messages already queued between them are dropped too. */
void peer_mem_net_cut(struct peer_mem_net *net, uint64_t a, uint64_t b);
void peer_mem_net_heal(struct peer_mem_net *net, uint64_t a, uint64_t b);
/* Heals every cut. */
void peer_mem_net_heal_all(struct peer_mem_net *net);
/* Drops each message with probability `fraction` (0 to 1). */
void peer_mem_net_set_drop(struct peer_mem_net *net, double fraction);
/* Messages queued and not yet delivered. */
size_t peer_mem_net_pending(const struct peer_mem_net *net);
/* Creates member cfg->self_id's transport on `net` (cfg->loop is ignored:
 * the net's loop is used); *out is owned by the caller (peer_free). The
 * urls given to add_peer are kept but unused. */
int peer_mem_new(struct peer_mem_net *net, const struct peer_config *cfg, peer_transport_t **out);

#endif /* METCD_PEER_H */
