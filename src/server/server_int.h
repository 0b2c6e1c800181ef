/*
 * Internals of the server shared by src/server/server.c (building, running,
 * the API's host) and server_peer.c (the peer transport's callbacks). Not
 * for other users: see src/server/server.h.
 */
#ifndef METCD_SERVER_INT_H
#define METCD_SERVER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <h2o.h>

#include "api/api.h"
#include "src/membership/membership.h"
#include "src/server/bootstrap.h"
#include "src/server/node.h"
#include "src/server/server.h"

/* The etcd release whose behaviour metcd serves (/version, X-Server-Version). */
#define METCD_ETCD_VERSION "3.4.23"

/* The lock of what the threads share (loops.c): a mutex, re-entrant per thread. */
typedef struct server_lock {
    pthread_mutex_t m;
    unsigned waiting; /* threads blocked in server_lock_enter() (atomic) */
} server_lock_t;

/* One HTTP loop of --threads (loops.c). */
typedef struct server_loop server_loop_t;

struct server {
    const config_t *cfg;
    h2o_evloop_t *loop;
    store_t *store;
    node_t *node;
    api_t *api;
    api_host_t host;
    struct peer_transport *transport;
    int lock_fd;
    struct tls_context *client_tls; /* https:// client URLs (tls_context.h), or NULL */
    struct tls_context *peer_tls;   /* https:// peer URLs, or NULL */

    int *peer_fds; /* bound peer listeners, until the transport takes them */
    size_t n_peer_fds;
    char **client_addrs; /* "127.0.0.1:2379" per client listener, for the log */
    size_t n_client_addrs;

    h2o_timeout_t sync_timeout;
    h2o_timeout_entry_t sync_entry;
    bool sync_timeout_ready;

    h2o_socket_t *signal_sock;
    bool stopping;
    bool removed;   /* removed from the cluster: stop */
    bool undrained; /* connections still open: h2o's context cannot be disposed */

    uint64_t member_id, cluster_id;
    int64_t start_time_ns;
    membership_t initial;     /* --initial-cluster, for a new cluster's first entries */
    membership_t remote;      /* the members a joining member was told of */
    bootstrap_t boot;         /* the initial cluster discovery gave, if used */
    const char **client_urls; /* borrowed from cfg */

    /* What server_info hands the API: rebuilt on each call. */
    api_member_t *members;
    size_t cap_members;
    api_follower_stats_t *followers;
    size_t cap_followers;
    api_peer_stats_t *peers;
    size_t cap_peers;

    /*
     * --threads N > 1: N HTTP loops serve the clients (loops.c) and the
     * server's loop keeps the store, raft and the WAL, inside the lock.
     */
    bool notified_ready; /* READY=1 sent to systemd */
    unsigned threads;    /* --threads, 0 resolved to the number of cores */
    server_loop_t **loops;
    size_t n_loops;
    int *client_fds;   /* the bound client listeners, handed to the loops */
    void **client_ssl; /* per listener: its SSL_CTX (https), or NULL */
    size_t n_client_fds;
    server_lock_t lock;
    bool lock_ready;
    int owner_wake_fd; /* a loop proposed: the owner runs node_process() */
    bool owner_woken;  /* atomic: a wakeup written and not yet read (loops.c) */
    h2o_socket_t *owner_wake_sock;
    int owner_epoll_fd;
};

/* server_peer.c: creates the TCP transport on the bound peer listeners and
 * attaches it to the node. 0 or -1 with err. */
int server_peer_start(server_t *s, char *err, size_t err_len);

/* After each turn of the owner's loop: node_process(), systemd readiness. */
void server_turn_done(server_t *s);

void server_lock_init(server_lock_t *l);
void server_lock_destroy(server_lock_t *l);
/* Takes the lock, or counts one more level when this thread holds it. */
void server_lock_enter(server_lock_t *l);
/* Gives back one level; the last one releases the lock. */
void server_lock_leave(server_lock_t *l);

/* Creates n HTTP loops, each listening on its own copy of fds. Returns 0 or -1 with err. */
int server_loops_create(server_t *s, unsigned n, const int *fds, void *const *ssl_ctx, size_t n_fds,
                        char *err, size_t err_len);
/* Starts their threads. Returns 0 or -1 with err. */
int server_loops_start(server_t *s, char *err, size_t err_len);
/* The owner's loop until s->stopping; returns with the lock held (depth 1). */
void server_loops_run_owner(server_t *s);
/* Ends every loop's connections and joins the threads (lock held at depth 1). */
void server_loops_stop(server_t *s);
/* Frees what server_loops_create() made (threads joined). */
void server_loops_free(server_t *s);

#endif /* METCD_SERVER_INT_H */
