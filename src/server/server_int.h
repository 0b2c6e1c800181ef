/*
 * Internals of the server shared by src/server/server.c (building, running,
 * the API's host) and server_peer.c (the peer transport's callbacks). Not
 * for other users: see src/server/server.h.
 */
#ifndef METCD_SERVER_INT_H
#define METCD_SERVER_INT_H

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
};

/* server_peer.c: creates the TCP transport on the bound peer listeners and
 * attaches it to the node. 0 or -1 with err. */
int server_peer_start(server_t *s, char *err, size_t err_len);

#endif /* METCD_SERVER_INT_H */
