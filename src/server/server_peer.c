/*
 * The server's side of the peer transport: it creates the TCP transport on
 * the peer listeners and forwards the transport's callbacks to the raft
 * node driver; it answers the plain GETs etcd serves on its peer port.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "src/peer/peer.h"
#include "src/server/server_int.h"
#include "src/server/tls_context.h"

static void on_message(void *ctx, const struct raft_message *m)
{
    server_t *s = ctx;
    node_step(s->node, m);
}

static void on_unreachable(void *ctx, uint64_t id)
{
    server_t *s = ctx;
    node_report_unreachable(s->node, id);
}

static void on_snapshot_sent(void *ctx, uint64_t id, bool failed)
{
    server_t *s = ctx;
    node_report_snapshot(s->node, id, failed);
}

static void on_removed(void *ctx, uint64_t by)
{
    server_t *s = ctx;
    /* A peer answered 410: this member was removed while it was away
     * (etcd's rafthttp then stops the member). */
    if (!s->stopping)
        log_line('E', "rafthttp",
                 "the member has been permanently removed from the cluster (told by %" PRIx64
                 "); stopping",
                 by);
    s->removed = true;
    s->stopping = true;
}

static int snapshot_open(void *ctx, uint64_t index, uint64_t term, uint64_t *size)
{
    server_t *s = ctx;
    return node_snapshot_open(s->node, index, term, size);
}

static int snapshot_receive_begin(void *ctx, uint64_t from, uint64_t index, uint64_t term,
                                  uint64_t size)
{
    server_t *s = ctx;
    return node_snapshot_receive_begin(s->node, from, index, term, size);
}

static int snapshot_receive_end(void *ctx, int fd, bool ok)
{
    server_t *s = ctx;
    return node_snapshot_receive_end(s->node, fd, ok);
}

/* GET /members (a joining member reads it) and /version, as etcd's peer
 * handler serves them. */
static int peer_http(void *ctx, const char *method, const char *path, char **body, size_t *body_len,
                     const char **content_type)
{
    server_t *s = ctx;
    (void)method;
    *content_type = "application/json";
    size_t plen = strcspn(path, "?");
    if (plen == 8 && memcmp(path, "/members", 8) == 0) {
        *body = membership_members_json(node_members(s->node));
        *body_len = strlen(*body);
        return 200;
    }
    if (plen == 8 && memcmp(path, "/version", 8) == 0) {
        if (asprintf(body, "{\"etcdserver\":\"%s\",\"etcdcluster\":\"%s\"}", METCD_ETCD_VERSION,
                     "3.4.0") < 0)
            abort();
        *body_len = strlen(*body);
        return 200;
    }
    *content_type = "text/plain; charset=utf-8";
    *body = strdup("404 page not found\n");
    if (*body == NULL)
        abort();
    *body_len = strlen(*body);
    return 404;
}

int server_peer_start(server_t *s, char *err, size_t err_len)
{
    struct peer_config pc = {
        .loop = s->loop,
        .self_id = s->member_id,
        .cluster_id = s->cluster_id,
        .version = METCD_ETCD_VERSION,
        .handler = {.ctx = s,
                    .on_message = on_message,
                    .on_unreachable = on_unreachable,
                    .on_snapshot_sent = on_snapshot_sent,
                    .on_removed = on_removed,
                    .snapshot_open = snapshot_open,
                    .snapshot_receive_begin = snapshot_receive_begin,
                    .snapshot_receive_end = snapshot_receive_end,
                    .http = peer_http},
        .tls_dialer = s->peer_tls != NULL ? tls_context_dialer(s->peer_tls) : NULL,
    };
    int rc = peer_tcp_new(&pc, &s->transport);
    if (rc != 0) {
        snprintf(err, err_len, "cannot start the peer transport: %s", peer_strerror(rc));
        return -1;
    }
    for (size_t i = 0; i < s->n_peer_fds; i++) {
        /* bind_peers() bound one fd per --listen-peer-urls URL, in order. */
        bool tls = strcmp(s->cfg->listen_peer.urls[i].scheme, "https") == 0;
        rc = peer_tcp_listen_tls(s->transport, s->peer_fds[i],
                                 tls ? tls_context_server(s->peer_tls) : NULL);
        s->peer_fds[i] = -1; /* the transport owns it now */
        if (rc != 0) {
            snprintf(err, err_len, "cannot serve peers: %s", peer_strerror(rc));
            return -1;
        }
    }
    node_attach_transport(s->node, s->transport);
    return 0;
}
