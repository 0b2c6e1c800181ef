/*
 * api/: the etcd v2 client API over HTTP/1.1 and HTTP/2 (libh2o, evloop).
 *
 * Endpoints: /v2/keys, /v2/members, /v2/members/leader, /v2/machines,
 * /v2/stats/{self,store,leader}, /version, /health, /metrics. Responses match
 * etcd 3.4.23 (--enable-v2=true) byte for byte apart from indexes and times.
 *
 * The API reads the store directly (GET, watches: the loop thread owns the
 * store) and sends every write through the host's propose(), which answers
 * once the write is durable and applied. It knows nothing of raft or disks.
 *
 * Threads: an api_t runs on its event-loop thread. A server with several
 * loops (--threads) gives each loop its own api_t (api_new_sibling()) and a
 * lock through api_host_t.enter/leave: every request handler and every
 * watch callback runs inside it, except the encoding and sending of a GET's
 * answer, which works on the GET's own copy of the nodes.
 */
#ifndef METCD_API_H
#define METCD_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/*
 * Called exactly once per accepted proposal, on the loop thread, possibly
 * before propose() returns. rc == 0: ev is a new reference the callee
 * releases. rc < 0: err describes a v2 error (e.g. RAFT_INTERNAL for a disk
 * failure, LEADER_ELECT with no leader); the callee clears it.
 */
typedef void (*api_propose_cb)(void *cb_ctx, int rc, store_event_t *ev, store_error_t *err);

/* A cluster member as /v2/members shows it. Strings are borrowed. */
typedef struct api_member {
    uint64_t id;
    const char *name;
    const char *const *peer_urls;
    size_t n_peer_urls;
    const char *const *client_urls;
    size_t n_client_urls;
} api_member_t;

/*
 * One follower as the leader's /v2/stats/leader shows it (etcd's v2stats
 * FollowerStats): the time the leader took to send an append to it, in
 * milliseconds, and how many sends succeeded or failed. etcd keeps one per
 * peer from the moment the transport knows it, even before any send, and
 * keeps counting across terms; the server owns these and updates them with
 * api_follower_stats_succeed() / _fail() so the numbers are etcd's.
 */
typedef struct api_follower_stats {
    uint64_t id;
    double current_ms, average_ms, standard_deviation_ms, minimum_ms, maximum_ms;
    double average_square_ms; /* running mean of squares, for the deviation; not shown */
    uint64_t fail, success;
} api_follower_stats_t;

/* A follower with no send yet: minimum starts at 2^63 ms, as etcd's does. */
void api_follower_stats_init(api_follower_stats_t *fs, uint64_t id);
/* One append sent in latency_ns (etcd's FollowerStats.Succ, same arithmetic). */
void api_follower_stats_succeed(api_follower_stats_t *fs, int64_t latency_ns);
/* One append that could not be sent (FollowerStats.Fail). */
void api_follower_stats_fail(api_follower_stats_t *fs);

/* Traffic with one peer, for etcd's etcd_network_peer_* counters. */
typedef struct api_peer_stats {
    uint64_t id;
    uint64_t sent_bytes, received_bytes, sent_failures;
    bool active; /* connected now */
} api_peer_stats_t;

/* What /v2/stats/self, /v2/stats/leader and the headers need. Borrowed. */
typedef struct api_server_info {
    uint64_t cluster_id; /* X-Etcd-Cluster-Id, lower-case hex without padding */
    uint64_t self_id;
    uint64_t leader_id;  /* 0 while there is no leader */
    bool not_ready;      /* the member has not joined yet: /health answers 503 */
    uint64_t raft_index; /* X-Raft-Index: the commit index */
    uint64_t raft_term;  /* X-Raft-Term */
    /*
     * /v2/stats/self's "state" (StateLeader or StateFollower) and whether
     * /v2/stats/leader answers (403 "not current leader" otherwise).
     */
    bool is_leader;
    int64_t start_time_ns; /* Unix ns when this member started */
    /*
     * /v2/stats/self's leaderInfo (etcd's ServerStats.LeaderInfo): the leader
     * this member last heard from and since when. etcd sets it when the
     * member becomes leader, or when a follower gets its first append from a
     * leader it had not heard from; losing the leader does not clear it.
     * leader_info_id 0 means none yet ("leader":""); leader_start_time_ns 0
     * means start_time_ns (etcd starts both clocks together). "uptime" is the
     * time since leader_start_time_ns.
     */
    uint64_t leader_info_id;
    int64_t leader_start_time_ns;
    uint64_t recv_append_requests, send_append_requests;
    /*
     * etcd's recvPkgRate/recvBandwidthRate and sendPkgRate/sendBandwidthRate
     * (appends and bytes per second over the last 200 appends, 0 when the
     * newest is over a second old). 0, NaN or infinite: left out, as Go's
     * omitempty leaves out 0.
     */
    double recv_pkg_rate, recv_bandwidth_rate, send_pkg_rate, send_bandwidth_rate;
    /* The leader's followers for /v2/stats/leader (any order; shown by id as text). */
    const api_follower_stats_t *followers;
    size_t n_followers;
    /* For /metrics under etcd's names (etcd_server_*). */
    uint64_t leader_changes;      /* leaders seen since start */
    uint64_t proposals_committed; /* raft entries committed */
    uint64_t proposals_applied;   /* raft entries applied */
    uint64_t proposals_pending;   /* proposals waiting for their answer */
    uint64_t proposals_failed;    /* proposals answered with an error */
    const api_member_t *members;
    size_t n_members;
    const api_peer_stats_t *peers; /* every other member the transport knows */
    size_t n_peers;
} api_server_info_t;

/* ---- Membership changes: POST, DELETE and PUT /v2/members (etcd's membersHandler). ---- */

typedef enum api_member_op {
    API_MEMBER_ADD,    /* POST /v2/members {"peerURLs":[...]} */
    API_MEMBER_REMOVE, /* DELETE /v2/members/<id> */
    API_MEMBER_UPDATE, /* PUT /v2/members/<id> {"peerURLs":[...]} */
} api_member_op_t;

/*
 * One change, checked as etcd checks the request before it proposes it: the
 * peer URLs passed etcd's types.NewURLs (http, https, unix or unixs,
 * host:port, no path; surrounding spaces trimmed) and are sorted bytewise, as
 * NewURLs sorts them. For ADD the server picks the new member's id as etcd's
 * membership.NewMember does (name "", cluster name "", the current time), so
 * that two adds of the same URLs in different seconds get different ids.
 * Everything is borrowed for the duration of the member_change() call.
 */
typedef struct api_member_change {
    api_member_op_t op;
    uint64_t id;                  /* REMOVE, UPDATE; 0 for ADD */
    const char *const *peer_urls; /* ADD, UPDATE */
    size_t n_peer_urls;
} api_member_change_t;

/*
 * How a change fails. The HTTP answer depends on the operation, because
 * etcd's handler looks for each error only where it expects it and answers
 * every other error with 500 {"message":"Internal Server Error"}:
 *   NOT_FOUND        REMOVE, UPDATE: 404 "No such member: <id>"
 *   REMOVED          REMOVE: 410 "Member permanently removed: <id>"
 *   ID_EXISTS        ADD: 409 "membership: ID exists"
 *   PEER_URL_EXISTS  ADD, UPDATE: 409 "membership: peerURL exists"
 *   INTERNAL         anything else (no leader, timed out, not enough started
 *                    members, a peer not connected, stopping): 500
 * etcd checks those in the order of its ValidateConfigurationChange: a
 * removed id first, then not found / exists, then the peer URLs.
 */
#define API_MEMBER_E_NOT_FOUND       (-1)
#define API_MEMBER_E_REMOVED         (-2)
#define API_MEMBER_E_ID_EXISTS       (-3)
#define API_MEMBER_E_PEER_URL_EXISTS (-4)
#define API_MEMBER_E_INTERNAL        (-5)

/*
 * Called once per accepted change, on the loop thread, possibly before
 * member_change() returns. rc 0: applied; m is the added member (ADD; its
 * name and client URLs are empty until it starts, as etcd answers) or NULL
 * (REMOVE, UPDATE). rc < 0: an API_MEMBER_E_* code; message says why, for
 * the log (etcd logs the cause and answers only "Internal Server Error").
 * m and message are borrowed for the call; either may be NULL.
 */
typedef void (*api_member_cb)(void *cb_ctx, int rc, const api_member_t *m, const char *message);

/*
 * What the API needs from the server that owns it. Every function is called
 * on the loop thread.
 */
typedef struct api_host {
    void *ctx;
    store_t *store;
    /*
     * Proposes a write. Returns 0 when accepted (done will be called once),
     * or -code with err filled (done is not called).
     */
    int (*propose)(void *ctx, const store_request_t *req, api_propose_cb done, void *done_ctx,
                   store_error_t *err);
    /* Fills *out; the pointers in it stay valid until the next loop turn. */
    void (*server_info)(void *ctx, api_server_info_t *out);
    /*
     * Optional (NULL: taken from server_info). Only what every answer's
     * headers carry (X-Etcd-Cluster-Id, X-Raft-Index, X-Raft-Term): a key
     * GET asked server_info() for them twice, a tenth of its instructions.
     */
    void (*header_info)(void *ctx, uint64_t *cluster_id, uint64_t *raft_index, uint64_t *raft_term);
    /*
     * Optional (NULL: quorum=true GETs are served at once, which is right
     * for a single member). A linearizable-read barrier for quorum=true GETs
     * (ReadIndex, Raft thesis 6.4): call done(done_ctx, 0, NULL) once this
     * member's store has applied everything committed before the call, or
     * done(done_ctx, -code, err) (e.g. LEADER_ELECT); the callee clears err.
     * Returns 0 when accepted (done is called once, possibly before it
     * returns), or -code with err filled (done is not called).
     */
    int (*read_barrier)(void *ctx, void (*done)(void *done_ctx, int rc, store_error_t *err),
                        void *done_ctx, store_error_t *err);
    /*
     * Optional (NULL: every valid change is refused with 500 "membership
     * changes are not supported"). Proposes a membership change through
     * raft (etcd's configure(): a conf change, answered once applied on this
     * member). Returns 0 when accepted (done is called once, possibly before
     * it returns), or an API_MEMBER_E_* code (done is not called), e.g.
     * NOT_FOUND when the id is not a member or INTERNAL with no leader.
     */
    int (*member_change)(void *ctx, const api_member_change_t *ch, api_member_cb done,
                         void *done_ctx);
    /*
     * Optional (NULL: one loop, nothing shared). The lock that guards what
     * the loops share (the store, the raft node, watchers): enter() takes
     * it and may be called again on the same thread (it counts), leave()
     * gives back one level. The callbacks above then run inside it on this
     * loop's thread, never on another.
     */
    void (*enter)(void *ctx);
    void (*leave)(void *ctx);
    /*
     * Optional (NULL: answers arrive only through the host's own wakeup).
     * Called inside the lock before each turn of watcher writes: runs the
     * done callbacks of this loop's writes that have been applied. A write
     * wakes its watchers while it is applied, before its answer is posted,
     * so the loop would otherwise write a turn of watchers first (64
     * sockets, about a millisecond) and the writer would wait behind the
     * fan-out it caused; etcd answers the writer without waiting for them.
     */
    void (*deliver)(void *ctx);
} api_host_t;

typedef struct api_config {
    uint64_t max_request_bytes;  /* a form body over this: 400 error 210 (Go's ParseForm limit) */
    const char *version;         /* "3.4.23": what /version reports as etcdserver */
    const char *cluster_version; /* "3.4.0" */
    /*
     * --client-cert-auth: a request without an Authorization header is made
     * by the user its verified client certificate's common name names, when
     * that user exists (etcd's userFromClientCertificate). client_cert_cn
     * returns that common name for a request (an h2o_req_t *), borrowed for
     * the call, or NULL when the request has no verified certificate. NULL
     * function: no request has one.
     */
    bool client_cert_auth;
    const char *(*client_cert_cn)(void *req);
    bool ui; /* serve the web console at /ui/ (--ui) */
} api_config_t;

/*
 * The common name of the client certificate on the connection of req (an
 * h2o_req_t *), verified during the TLS handshake (against
 * --trusted-ca-file and the CRL); NULL on plain HTTP, without a
 * certificate, or with no CN. Allocated from the request's pool (lives as
 * long as the request). The server gives it as api_config_t.client_cert_cn.
 */
const char *api_client_cert_cn(void *req);

typedef struct api api_t;

/*
 * Creates the HTTP front end on `loop` (an h2o_loop_t *, kept opaque here so
 * that users of this header need not include h2o). The API serves on the
 * listening sockets given to api_listen(). Ownership: free with api_free().
 */
api_t *api_new(void *loop, const api_config_t *cfg, const api_host_t *owner);

/*
 * Another front end on another loop (thread) of the same server: same
 * configuration, and /metrics counts the requests of all of them. host
 * must have enter and leave. Ownership: free with api_free(), before first.
 */
api_t *api_new_sibling(void *loop, api_t *first, const api_host_t *host);

/*
 * Starts accepting on an already bound, listening socket fd (the API takes
 * it over). Returns 0 or -1.
 */
int api_listen(api_t *api, int fd);

/*
 * Like api_listen(), for a --listen-metrics-urls socket: its connections
 * get /metrics and /health only (404 for any other path), as etcd's
 * metrics listener does. ssl_ctx: NULL for http://, else the SSL_CTX of
 * an https:// metrics URL (borrowed, as for api_listen_tls(); etcd uses the
 * client TLS settings). Returns 0 or -1.
 */
int api_listen_metrics(api_t *api, int fd, void *ssl_ctx);

/*
 * api_listen() for an https:// URL: connections on fd start with a TLS
 * handshake on ssl_ctx (an OpenSSL SSL_CTX *, borrowed: it must outlive
 * the API), which picks HTTP/2 or HTTP/1.1 by ALPN. Returns 0 or -1.
 */
int api_listen_tls(api_t *api, int fd, void *ssl_ctx);

/*
 * Stops accepting and half-closes every client connection; the loop then
 * disposes them (pending watches end with their connections). Returns the
 * number of connections still open: run the loop until
 * api_connection_count() is 0 (bounded by the caller) before api_free().
 */
size_t api_shutdown(api_t *api);

/* Client connections currently open. */
size_t api_connection_count(const api_t *api);

/*
 * Ends pending watches and frees the API; closes its listening sockets.
 * Call it once api_connection_count() is 0: h2o 2.2.5 cannot dispose a
 * context with open connections. A process that is exiting may skip it.
 */
void api_free(api_t *api);

#endif /* METCD_API_H */
