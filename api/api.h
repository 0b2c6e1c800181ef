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
 * Threads: everything here runs on the event-loop thread.
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

/* What /v2/stats/self, /v2/stats/leader and the headers need. Borrowed. */
typedef struct api_server_info {
    uint64_t cluster_id; /* X-Etcd-Cluster-Id, lower-case hex without padding */
    uint64_t self_id;
    uint64_t leader_id;  /* 0 while there is no leader */
    uint64_t raft_index; /* X-Raft-Index: the commit index */
    uint64_t raft_term;  /* X-Raft-Term */
    bool is_leader;
    int64_t start_time_ns;        /* Unix ns when this member started */
    int64_t leader_start_time_ns; /* when this member became leader (if leader) */
    uint64_t recv_append_requests, send_append_requests;
    /* For /metrics under etcd's names (etcd_server_*). */
    uint64_t leader_changes;      /* leaders seen since start */
    uint64_t proposals_committed; /* raft entries committed */
    uint64_t proposals_applied;   /* raft entries applied */
    uint64_t proposals_pending;   /* proposals waiting for their answer */
    uint64_t proposals_failed;    /* proposals answered with an error */
    const api_member_t *members;
    size_t n_members;
} api_server_info_t;

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
} api_host_t;

typedef struct api_config {
    uint64_t max_request_bytes;  /* bodies over this get 413 and change nothing */
    const char *version;         /* "3.4.23": what /version reports as etcdserver */
    const char *cluster_version; /* "3.4.0" */
} api_config_t;

typedef struct api api_t;

/*
 * Creates the HTTP front end on `loop` (an h2o_loop_t *, kept opaque here so
 * that users of this header need not include h2o). The API serves on the
 * listening sockets given to api_listen(). Ownership: free with api_free().
 */
api_t *api_new(void *loop, const api_config_t *cfg, const api_host_t *owner);

/*
 * Starts accepting on an already bound, listening socket fd (the API takes
 * it over). Returns 0 or -1.
 */
int api_listen(api_t *api, int fd);

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
