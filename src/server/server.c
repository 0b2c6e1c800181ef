/*
 * The server of one member: the loop, the store, the API, the raft node
 * and its peer transport, the TTL sync timer and the listening sockets.
 * See src/server/server.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>

#include "common/log.h"
#include "src/membership/member_id.h"
#include "src/peer/peer.h"
#include "src/httpc/httpc.h"
#include "src/server/data_dir.h"
#include "src/server/join.h"
#include "src/server/listener.h"
#include "src/server/notify.h"
#include "src/server/tls_context.h"
#include "src/server/server_int.h"
#include "wal/wal.h"

/* etcd's leader proposes a SYNC every 500 ms while keys with a TTL exist
 * (etcdserver/server.go, the SyncTicker of EtcdServer.run). */
#define SYNC_INTERVAL_MS 500

/* Go's net/http ParseForm reads at most 10 MiB of a form body (maxFormSize). */
#define V2_FORM_LIMIT (UINT64_C(10) << 20)

/* The write end of the self-pipe the signal handler writes to. */
static int signal_pipe_wr = -1;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t server_member_id(const server_t *s)
{
    return s->member_id;
}

uint64_t server_cluster_id(const server_t *s)
{
    return s->cluster_id;
}

/* ---- The write path: see server.h. ---- */

/* api_host_t.propose: stamp the proposer's clock, encode, propose to raft. */
static int server_propose(void *ctx, const store_request_t *req, api_propose_cb done,
                          void *done_ctx, store_error_t *err)
{
    server_t *s = ctx;
    store_request_t r = *req;
    /*
     * The time is stamped once, at proposal, and travels in the entry: apply
     * never reads a clock, so every member computes the same deadlines.
     */
    r.time_ns = now_ns();
    uint8_t *data = NULL;
    size_t len = 0;
    if (store_request_encode(&r, &data, &len) != 0)
        return store_error_set(err, STORE_E_RAFT_INTERNAL, NULL, store_index(s->store));
    /* done runs once the entry is durable and applied (or failed), never
     * before this returns. */
    int rc = node_propose(s->node, data, len, done, done_ctx, err);
    free(data);
    return rc;
}

/* api_host_t.header_info: server_info()'s cluster id, commit index and term alone. */
static void header_info(void *ctx, uint64_t *cluster_id, uint64_t *raft_index, uint64_t *raft_term)
{
    server_t *s = ctx;
    node_info_t info;
    node_get_info(s->node, &info);
    *cluster_id = s->cluster_id;
    *raft_index = info.commit;
    *raft_term = info.term;
}

/* api_host_t.server_info: the member table as applied, and raft's state. */
static void server_info(void *ctx, api_server_info_t *out)
{
    server_t *s = ctx;
    memset(out, 0, sizeof(*out));
    out->cluster_id = s->cluster_id;
    out->self_id = s->member_id;
    node_info_t info;
    node_get_info(s->node, &info);
    out->leader_id = info.leader;
    out->not_ready = !info.published;
    out->send_append_requests = info.app_sent;
    out->recv_append_requests = info.app_received;
    out->is_leader = info.is_leader;
    out->raft_index = info.commit;
    out->raft_term = info.term;
    out->start_time_ns = s->start_time_ns;
    /* leaderInfo: the leader this member last heard of, and since when
     * (etcd keeps both when the leader is lost). */
    out->leader_info_id = info.lead_seen;
    out->leader_start_time_ns = info.lead_seen_ns ? info.lead_seen_ns : s->start_time_ns;
    out->leader_changes = info.leader_changes;
    out->proposals_committed = info.commit;
    out->proposals_applied = info.applied;
    out->proposals_pending = info.pending;
    out->proposals_failed = info.failed;
    const membership_t *m = node_members(s->node);
    if (m->n > s->cap_members) {
        s->cap_members = m->n * 2;
        s->members = realloc(s->members, s->cap_members * sizeof(*s->members));
        if (s->members == NULL)
            abort();
    }
    for (size_t i = 0; i < m->n; i++) {
        const membership_member_t *mb = &m->members[i];
        s->members[i] = (api_member_t){.id = mb->id,
                                       .name = mb->name,
                                       .peer_urls = (const char *const *)mb->peer_urls,
                                       .n_peer_urls = mb->n_peer_urls,
                                       .client_urls = (const char *const *)mb->client_urls,
                                       .n_client_urls = mb->n_client_urls};
    }
    out->members = s->members;
    out->n_members = m->n;
    if (info.is_leader) {
        node_follower_info_t fi[64];
        size_t nf = node_followers(s->node, fi, 64);
        if (nf > s->cap_followers) {
            s->cap_followers = nf * 2;
            s->followers = realloc(s->followers, s->cap_followers * sizeof(*s->followers));
            if (s->followers == NULL)
                abort();
        }
        for (size_t i = 0; i < nf; i++) {
            api_follower_stats_t *f = &s->followers[i];
            api_follower_stats_init(f, fi[i].id);
            if (fi[i].samples > 0) {
                f->current_ms = fi[i].current_ms;
                f->average_ms = fi[i].average_ms;
                f->standard_deviation_ms = fi[i].stddev_ms;
                f->minimum_ms = fi[i].min_ms;
                f->maximum_ms = fi[i].max_ms;
            }
            f->success = fi[i].success;
            f->fail = fi[i].fail;
        }
        out->followers = s->followers;
        out->n_followers = nf;
    }
    /* Peer traffic for etcd's etcd_network_peer_* counters. */
    if (m->n > s->cap_peers) {
        s->cap_peers = m->n * 2;
        s->peers = realloc(s->peers, s->cap_peers * sizeof(*s->peers));
        if (s->peers == NULL)
            abort();
    }
    size_t np = 0;
    for (size_t i = 0; i < m->n; i++) {
        struct peer_stats ps;
        if (m->members[i].id == s->member_id || s->transport == NULL ||
            peer_stats(s->transport, m->members[i].id, &ps) != 0)
            continue;
        s->peers[np++] = (api_peer_stats_t){.id = m->members[i].id,
                                            .sent_bytes = ps.sent_bytes,
                                            .received_bytes = ps.received_bytes,
                                            .sent_failures = ps.send_failures,
                                            .active = ps.active};
    }
    out->peers = s->peers;
    out->n_peers = np;
}

/* ---- Membership changes (POST, DELETE, PUT /v2/members). ---- */

typedef struct member_op {
    server_t *s;
    api_member_cb done;
    void *done_ctx;
    membership_member_t mb; /* the member as proposed (owned copies) */
    api_member_op_t op;
} member_op_t;

static void member_op_free(member_op_t *op)
{
    for (size_t i = 0; i < op->mb.n_peer_urls; i++)
        free(op->mb.peer_urls[i]);
    free(op->mb.peer_urls);
    free(op);
}

static void on_member_applied(void *ctx, int rc, store_event_t *ev, store_error_t *err)
{
    member_op_t *op = ctx;
    if (ev != NULL)
        store_event_release(ev);
    if (rc != 0) {
        op->done(op->done_ctx, API_MEMBER_E_INTERNAL, NULL,
                 err && err->cause ? err->cause : "membership change failed");
        store_error_clear(err);
    } else {
        /* etcd answers an add with the new member as proposed: no name and
         * no client URLs until it starts and publishes them. */
        api_member_t m = {.id = op->mb.id,
                          .name = "",
                          .peer_urls = (const char *const *)op->mb.peer_urls,
                          .n_peer_urls = op->mb.n_peer_urls};
        op->done(op->done_ctx, 0, op->op == API_MEMBER_REMOVE ? NULL : &m, NULL);
    }
    member_op_free(op);
}

static size_t started_members(const membership_t *m, uint64_t except)
{
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->members[i].id != except && m->members[i].name != NULL && m->members[i].name[0])
            k++;
    return k;
}

/* api_host_t.member_change: checked as etcd checks it, then proposed. */
static int server_member_change(void *ctx, const api_member_change_t *ch, api_member_cb done,
                                void *done_ctx)
{
    server_t *s = ctx;
    const membership_t *m = node_members(s->node);
    uint64_t id = ch->id;
    if (ch->op == API_MEMBER_ADD) {
        /* etcd's NewMember for an added member: no name, no cluster name,
         * the time of the request. */
        id = member_id_compute_added(ch->peer_urls, ch->n_peer_urls, "", now_ns() / 1000000000);
    }
    if (membership_is_removed(m, id))
        return ch->op == API_MEMBER_ADD ? API_MEMBER_E_ID_EXISTS : API_MEMBER_E_REMOVED;
    const membership_member_t *cur = membership_find(m, id);
    if (ch->op == API_MEMBER_ADD && cur != NULL)
        return API_MEMBER_E_ID_EXISTS;
    if (ch->op != API_MEMBER_ADD && cur == NULL)
        return API_MEMBER_E_NOT_FOUND;
    for (size_t i = 0; i < ch->n_peer_urls; i++) {
        const membership_member_t *o = membership_find_peer_url(m, ch->peer_urls[i]);
        if (o != NULL && o->id != id)
            return API_MEMBER_E_PEER_URL_EXISTS;
    }
    /*
     * etcd 3.4 checks reconfigurations strictly by default: a member is
     * added only if the started members would still be a quorum of the new
     * cluster, and removed only if the started members left are a quorum.
     * A second member may always join a one-member cluster (etcd's
     * IsReadyToAddVotingMember: how a cluster is grown from one member or
     * restored from a backup).
     */
    size_t started = started_members(m, 0);
    if (ch->op == API_MEMBER_ADD && !(m->n == 1 && started == 1) && started < (m->n + 1) / 2 + 1)
        return API_MEMBER_E_INTERNAL;
    if (ch->op == API_MEMBER_REMOVE && m->n > 1 && started_members(m, id) < (m->n - 1) / 2 + 1)
        return API_MEMBER_E_INTERNAL;
    member_op_t *op = calloc(1, sizeof(*op));
    if (op == NULL)
        abort();
    op->s = s;
    op->done = done;
    op->done_ctx = done_ctx;
    op->op = ch->op;
    op->mb.id = id;
    op->mb.name = "";
    const char *const *urls = ch->op == API_MEMBER_REMOVE && cur != NULL
                                  ? (const char *const *)cur->peer_urls
                                  : ch->peer_urls;
    size_t n_urls = ch->op == API_MEMBER_REMOVE && cur != NULL ? cur->n_peer_urls : ch->n_peer_urls;
    op->mb.peer_urls = calloc(n_urls + 1, sizeof(char *));
    if (op->mb.peer_urls == NULL)
        abort();
    for (size_t i = 0; i < n_urls; i++)
        if ((op->mb.peer_urls[i] = strdup(urls[i])) == NULL)
            abort();
    op->mb.n_peer_urls = n_urls;
    node_member_op_t nop = ch->op == API_MEMBER_ADD      ? NODE_MEMBER_ADD
                           : ch->op == API_MEMBER_REMOVE ? NODE_MEMBER_REMOVE
                                                         : NODE_MEMBER_UPDATE;
    store_error_t err = {0};
    if (node_propose_member(s->node, nop, &op->mb, on_member_applied, op, &err) != 0) {
        log_line('W', "etcdserver", "membership change refused: %s",
                 err.cause ? err.cause : "no leader");
        store_error_clear(&err);
        member_op_free(op);
        return API_MEMBER_E_INTERNAL;
    }
    return 0;
}

/* api_host_t.read_barrier: quorum=true reads (ReadIndex, Raft thesis 6.4). */
static int server_read_barrier(void *ctx, void (*done)(void *done_ctx, int rc, store_error_t *err),
                               void *done_ctx, store_error_t *err)
{
    server_t *s = ctx;
    (void)err;
    return node_read_barrier(s->node, done, done_ctx);
}

/* ---- TTL: the leader's clock reaches the store through SYNC entries. ---- */

static void propose_sync(server_t *s, int64_t now)
{
    store_request_t r = {.op = STORE_OP_SYNC, .time_ns = now, .key = "/", .key_len = 1};
    uint8_t *data = NULL;
    size_t len = 0;
    if (store_request_encode(&r, &data, &len) != 0) {
        log_line('E', "etcdserver", "cannot encode a SYNC request: out of memory");
        return;
    }
    store_error_t err = {0};
    if (node_propose(s->node, data, len, NULL, NULL, &err) != 0)
        store_error_clear(&err); /* no leader now: the next tick tries again */
    free(data);
}

static void on_sync_tick(h2o_timeout_entry_t *entry)
{
    server_t *s = H2O_STRUCT_FROM_MEMBER(server_t, sync_entry, entry);
    /*
     * etcd's leader proposes a SYNC carrying its clock every 500 ms while
     * the store holds TTL keys (EtcdServer.run: "if HasTTLKeys() sync()"),
     * whether or not one is due: each SYNC takes a raft index, as in etcd.
     * Applying it expires whatever is due, so a ttl=1 key is gone 1.0-1.5 s
     * after it was set.
     */
    node_info_t info;
    node_get_info(s->node, &info);
    if (info.is_leader && store_next_expiration(s->store) != 0)
        propose_sync(s, now_ns());
    h2o_timeout_link(s->loop, &s->sync_timeout, &s->sync_entry);
}

/* ---- Signals: a self-pipe read by the loop. ---- */

static void on_signal(int signo)
{
    int saved = errno;
    unsigned char b = (unsigned char)signo;
    if (signal_pipe_wr >= 0 && write(signal_pipe_wr, &b, 1) < 0) {
        /* the pipe is full: a stop is already pending */
    }
    errno = saved;
}

static void on_signal_readable(h2o_socket_t *sock, const char *err)
{
    server_t *s = sock->data;
    unsigned char b[16];
    ssize_t n = err ? 0 : read(h2o_socket_get_fd(sock), b, sizeof(b));
    if (n > 0 && !s->stopping)
        log_line('N', "etcdmain", "received %s signal, shutting down...",
                 b[0] == SIGINT ? "interrupt" : "terminated");
    s->stopping = true;
}

static int install_signals(server_t *s, char *err, size_t err_len)
{
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(err, err_len, "pipe: %s", strerror(errno));
        return -1;
    }
    signal_pipe_wr = p[1];
    s->signal_sock = h2o_evloop_socket_create(s->loop, p[0], H2O_SOCKET_FLAG_DONT_READ);
    s->signal_sock->data = s;
    h2o_socket_read_start(s->signal_sock, on_signal_readable);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* h2o writes to sockets that peers may have closed */
    return 0;
}

static void remove_signals(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (signal_pipe_wr >= 0)
        close(signal_pipe_wr);
    signal_pipe_wr = -1;
}

/* ---- Building and freeing the member. ---- */

static bool any_https(const config_url_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->urls[i].scheme, "https") == 0)
            return true;
    return false;
}

static int check_config(const config_t *cfg, char *err, size_t err_len)
{
    /*
     * etcd serves https:// metrics URLs with the client TLS settings
     * (embed's serveMetrics) and exits when there is no certificate for them.
     */
    const config_tls_t *t = &cfg->client_tls;
    for (size_t i = 0; i < cfg->listen_metrics.n; i++) {
        const config_url_t *u = &cfg->listen_metrics.urls[i];
        if (strcmp(u->scheme, "https") == 0 && t->cert_file == NULL && !t->auto_tls) {
            snprintf(err, err_len,
                     "cannot listen on TLS for %s:%u: KeyFile and CertFile are not presented",
                     u->host, (unsigned)u->port);
            return SERVER_E_CONFIG;
        }
    }
    return 0;
}

/* The TLS context of each side that has an https:// listen URL. */
static int make_tls(server_t *s, char *err, size_t err_len)
{
    const config_t *cfg = s->cfg;
    if ((any_https(&cfg->listen_client) || any_https(&cfg->listen_metrics)) &&
        tls_context_new(cfg, false, &s->client_tls, err, err_len) != 0)
        return SERVER_E_RUNTIME;
    /* Peers: to serve https:// peer URLs, and to dial the members that have them. */
    bool peer_https = any_https(&cfg->listen_peer);
    for (size_t i = 0; i < cfg->n_initial_cluster; i++)
        peer_https |= strcmp(cfg->initial_cluster[i].peer_url.scheme, "https") == 0;
    bool peer_certs = cfg->peer_tls.cert_file != NULL || cfg->peer_tls.auto_tls;
    if (peer_https && peer_certs && tls_context_new(cfg, true, &s->peer_tls, err, err_len) != 0)
        return SERVER_E_RUNTIME;
    return 0;
}

/*
 * Who this member is: for a new cluster, the IDs etcd computes from
 * --initial-cluster and the token; for a member joining a running cluster
 * without a log yet, the IDs the cluster gave it (join.c); a member with a
 * log keeps the IDs written in it (checked, or taken, by node_open).
 */
static int compute_ids(server_t *s, bool after_lock, bool have_log, char *err, size_t err_len)
{
    const config_t *cfg = s->cfg;
    membership_free(&s->initial);
    /* Discovery replaces --initial-cluster and, for --discovery, the token. */
    const config_member_t *list = s->boot.members ? s->boot.members : cfg->initial_cluster;
    size_t n = s->boot.members ? s->boot.n : cfg->n_initial_cluster;
    const char *token = s->boot.members ? s->boot.token : cfg->initial_cluster_token;
    const char **names = calloc(n + 1, sizeof(*names));
    const char **urls = calloc(n + 1, sizeof(*urls));
    if (names == NULL || urls == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        names[i] = list[i].name;
        urls[i] = list[i].peer_url.text;
    }
    int rc = membership_from_initial_cluster(&s->initial, names, urls, n, token, err, err_len);
    free(names);
    free(urls);
    if (rc != 0)
        return SERVER_E_CONFIG;
    if (!after_lock)
        return 0;
    s->cluster_id = s->initial.cluster_id;
    for (size_t i = 0; i < s->initial.n; i++)
        if (strcmp(s->initial.members[i].name, cfg->name) == 0)
            s->member_id = s->initial.members[i].id;
    if (strcmp(cfg->initial_cluster_state, "existing") == 0 && !have_log) {
        /* https:// members are asked with the peer certificate, as etcd's joining member does. */
        httpc_tls_configure(cfg->peer_tls.cert_file, cfg->peer_tls.key_file,
                            cfg->peer_tls.trusted_ca_file);
        /*
         * etcd's --peer-auto-tls (no --peer-cert-file) makes a self-signed
         * certificate and its peer client skips verifying the others
         * (transport.SelfCert: InsecureSkipVerify); the join request too.
         * No client certificate is shown: members on --peer-auto-tls alone
         * do not ask for one.
         */
        httpc_tls_skip_verify(cfg->peer_tls.cert_file == NULL && cfg->peer_tls.auto_tls);
        if (join_fetch_ids(cfg, &s->member_id, &s->cluster_id, &s->remote, err, err_len) != 0)
            return SERVER_E_RUNTIME;
    }
    for (size_t i = 0; i < cfg->advertise_client.n; i++)
        s->client_urls[i] = cfg->advertise_client.urls[i].text;
    return 0;
}

/* The peer listeners: bound now, so that a port in use fails the start;
 * served by the transport once the node is open. */
static int bind_peers(server_t *s, char *err, size_t err_len)
{
    const config_t *cfg = s->cfg;
    s->peer_fds = calloc(cfg->listen_peer.n + 1, sizeof(*s->peer_fds));
    if (s->peer_fds == NULL)
        abort();
    for (size_t i = 0; i < cfg->listen_peer.n; i++) {
        int fd = listener_bind(&cfg->listen_peer.urls[i], err, err_len);
        if (fd < 0)
            return SERVER_E_RUNTIME;
        s->peer_fds[s->n_peer_fds++] = fd;
        log_line('I', "embed", "listening for peers on %s", cfg->listen_peer.urls[i].text);
    }
    return 0;
}

static int bind_all(server_t *s, char *err, size_t err_len)
{
    const config_t *cfg = s->cfg;
    s->client_addrs = calloc(cfg->listen_client.n + 1, sizeof(*s->client_addrs));
    s->client_fds = calloc(cfg->listen_client.n + 1, sizeof(*s->client_fds));
    s->client_ssl = calloc(cfg->listen_client.n + 1, sizeof(*s->client_ssl));
    if (s->client_addrs == NULL || s->client_fds == NULL || s->client_ssl == NULL) {
        snprintf(err, err_len, "out of memory");
        return SERVER_E_RUNTIME;
    }
    for (size_t i = 0; i < cfg->listen_client.n; i++) {
        int fd = listener_bind(&cfg->listen_client.urls[i], err, err_len);
        if (fd < 0)
            return SERVER_E_RUNTIME;
        char where[80];
        listener_describe(fd, where, sizeof(where));
        bool tls = strcmp(cfg->listen_client.urls[i].scheme, "https") == 0;
        void *ssl_ctx = tls ? tls_context_server(s->client_tls) : NULL;
        if (s->threads > 1) {
            /* The HTTP loops serve it (server_loops_create). */
            s->client_ssl[s->n_client_fds] = ssl_ctx;
            s->client_fds[s->n_client_fds++] = fd;
        } else if (api_listen_tls(s->api, fd, ssl_ctx) != 0) {
            close(fd);
            snprintf(err, err_len, "cannot serve client requests on %s", where);
            return SERVER_E_RUNTIME;
        }
        s->client_addrs[s->n_client_addrs++] = strdup(where);
        log_line('I', "embed", "listening for client requests on %s",
                 cfg->listen_client.urls[i].text);
    }
    /* --listen-metrics-urls: /metrics and /health only, as etcd serves them. */
    for (size_t i = 0; i < cfg->listen_metrics.n; i++) {
        int fd = listener_bind(&cfg->listen_metrics.urls[i], err, err_len);
        if (fd < 0)
            return SERVER_E_RUNTIME;
        bool tls = strcmp(cfg->listen_metrics.urls[i].scheme, "https") == 0;
        if (api_listen_metrics(s->api, fd, tls ? tls_context_server(s->client_tls) : NULL) != 0) {
            close(fd);
            snprintf(err, err_len, "cannot serve metrics on %s", cfg->listen_metrics.urls[i].text);
            return SERVER_E_RUNTIME;
        }
        log_line('I', "etcdmain", "listening for metrics on %s", cfg->listen_metrics.urls[i].text);
    }
    return 0;
}

/*
 * Each client connection (an idle HTTP/1.1 watcher too) holds a descriptor:
 * take the hard limit, as Go's runtime does for etcd at start.
 */
static void raise_open_files(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        log_line('I', "etcdmain", "open files limit raised from %llu to %llu",
                 (unsigned long long)was, (unsigned long long)rl.rlim_cur);
}

static void on_removed(void *ctx)
{
    server_t *s = ctx;
    /* etcd stops a member once it applies its own removal. */
    s->removed = true;
    s->stopping = true;
}

int server_new(const config_t *cfg, server_t **out, char *err, size_t err_len)
{
    *out = NULL;
    int rc = check_config(cfg, err, err_len);
    if (rc != 0)
        return rc;
    server_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, err_len, "out of memory");
        return SERVER_E_RUNTIME;
    }
    s->cfg = cfg;
    s->lock_fd = -1;
    s->owner_wake_fd = -1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    s->threads = cfg->threads ? cfg->threads : cores > 0 ? (unsigned)cores : 1;
    raise_open_files();
    s->start_time_ns = now_ns();
    s->client_urls = calloc(cfg->advertise_client.n + 1, sizeof(*s->client_urls));
    if (s->client_urls == NULL)
        abort();
    /* A bad --initial-cluster is a configuration error: nothing is created. */
    rc = compute_ids(s, false, false, err, err_len);
    if (rc != 0)
        goto fail;
    log_line('I', "etcdmain", "metcd Version: %s (etcd API %s)", METCD_VERSION, METCD_ETCD_VERSION);
    log_line('I', "etcdserver", "name = %s", cfg->name);
    log_line('I', "etcdserver", "data dir = %s", cfg->data_dir);
    log_line('I', "etcdserver", "heartbeat = %ums, election = %ums, watch history = %u",
             cfg->heartbeat_interval_ms, cfg->election_timeout_ms, cfg->watch_history);

    rc = data_dir_open(cfg->data_dir, &s->lock_fd, err, err_len);
    if (rc != 0) {
        rc = SERVER_E_RUNTIME;
        goto fail;
    }
    rc = make_tls(s, err, err_len);
    if (rc != 0)
        goto fail;
    rc = bind_peers(s, err, err_len);
    if (rc != 0)
        goto fail;
    if (data_dir_check_wal(cfg->data_dir, cfg->wal_dir, wal_exists, err, err_len) != 0) {
        rc = SERVER_E_RUNTIME;
        goto fail;
    }
    char *wal_dir = data_dir_wal_path(cfg->data_dir, cfg->wal_dir);
    bool have_log = wal_exists(wal_dir);
    if (cfg->wal_dir != NULL)
        log_line('I', "etcdserver", "wal dir = %s", wal_dir);
    free(wal_dir);
    bool join = strcmp(cfg->initial_cluster_state, "existing") == 0;
    /* etcd asks the discovery source only before the member's first start. */
    if (!have_log && !join && (cfg->discovery != NULL || cfg->discovery_srv != NULL)) {
        rc = bootstrap_discover(cfg, &s->boot, err, err_len);
        if (rc != 0) {
            rc = rc == BOOTSTRAP_E_FULL ? SERVER_E_DISCOVERY_FULL : SERVER_E_RUNTIME;
            goto fail;
        }
    }
    rc = compute_ids(s, true, have_log, err, err_len);
    if (rc != 0)
        goto fail;
    s->loop = h2o_evloop_create();
    node_config_t ncfg = {
        .loop = s->loop,
        .data_dir = cfg->data_dir,
        .wal_dir = cfg->wal_dir,
        .member_id = s->member_id,
        .cluster_id = s->cluster_id,
        .heartbeat_ms = cfg->heartbeat_interval_ms,
        .election_ms = cfg->election_timeout_ms,
        .snapshot_count = cfg->snapshot_count,
        .max_wals = cfg->max_wals,
        .max_snapshots = cfg->max_snapshots,
        .watch_history = cfg->watch_history,
        .backend = cfg->backend == CONFIG_BACKEND_LMDB      ? ENGINE_LMDB
                   : cfg->backend == CONFIG_BACKEND_LEVELDB ? ENGINE_LEVELDB
                                                            : 0,
        .leveldb_cache_bytes = cfg->leveldb_cache_bytes,
        .leveldb_write_buffer_bytes = cfg->leveldb_wbuf_bytes,
        .backend_cache_nodes = cfg->backend_cache_nodes,
        .bootstrap = join ? NULL : &s->initial,
        /* A discovered member's restart takes its IDs from its log: etcd
         * does not ask the discovery source again, and the flags alone do
         * not say who the members are. */
        .join = join || (have_log && (cfg->discovery != NULL || cfg->discovery_srv != NULL)),
        .force_new_cluster = cfg->force_new_cluster,
        .name = cfg->name,
        .client_urls = s->client_urls,
        .n_client_urls = cfg->advertise_client.n,
        /* etcd's v2 request timeout: 5 s plus two election timeouts. */
        .request_timeout_ms = 5000 + 2 * cfg->election_timeout_ms,
        .on_removed = on_removed,
        .cb_ctx = s,
    };
    if (node_open(&s->node, &s->store, &ncfg, err, err_len) != 0) {
        rc = SERVER_E_RUNTIME;
        goto fail;
    }
    s->member_id = node_member_id(s->node);
    s->cluster_id = node_cluster_id(s->node);
    if (server_peer_start(s, err, err_len) != 0) {
        rc = SERVER_E_RUNTIME;
        goto fail;
    }
    /* A member joining with an empty log knows the others only from their
     * answer: the transport must reach them before the log says who they
     * are (etcd's joining member adds the remote peers the same way). */
    for (size_t i = 0; i < s->remote.n; i++)
        if (s->remote.members[i].id != s->member_id)
            peer_add(s->transport, s->remote.members[i].id,
                     (const char *const *)s->remote.members[i].peer_urls,
                     s->remote.members[i].n_peer_urls);
    s->host = (api_host_t){.ctx = s,
                           .store = s->store,
                           .propose = server_propose,
                           .server_info = server_info,
                           .header_info = header_info,
                           .read_barrier = server_read_barrier,
                           .member_change = server_member_change};
    /*
     * etcd applies --max-request-bytes to v3 requests only; its v2 API takes
     * any form body up to Go's ParseForm limit of 10 MiB, whatever the flag
     * says (etcd 3.4.23 with --max-request-bytes 1024 stores a 4 KiB value).
     * metcd does the same.
     */
    uint64_t body_limit = V2_FORM_LIMIT;
    api_config_t acfg = {.max_request_bytes = body_limit,
                         .version = METCD_ETCD_VERSION,
                         .cluster_version = "3.4.0",
                         /* etcd: with --client-cert-auth a certificate's CN is a v2 user. */
                         .client_cert_auth = cfg->client_tls.client_cert_auth,
                         .client_cert_cn = api_client_cert_cn,
                         .ui = cfg->ui};
    s->api = api_new(s->loop, &acfg, &s->host);
    if (s->api == NULL) {
        snprintf(err, err_len, "cannot create the HTTP API");
        rc = SERVER_E_RUNTIME;
        goto fail;
    }
    rc = bind_all(s, err, err_len);
    if (rc != 0)
        goto fail;
    if (s->threads > 1) {
        int lrc = server_loops_create(s, s->threads, s->client_fds, s->client_ssl, s->n_client_fds,
                                      err, err_len);
        for (size_t i = 0; i < s->n_client_fds; i++)
            close(s->client_fds[i]); /* each loop has its own copy */
        s->n_client_fds = 0;
        if (lrc != 0) {
            rc = SERVER_E_RUNTIME;
            goto fail;
        }
        log_line('I', "embed", "serving clients on %u HTTP loops (--threads)", s->threads);
    }
    if (install_signals(s, err, err_len) != 0) {
        rc = SERVER_E_RUNTIME;
        goto fail;
    }
    h2o_timeout_init(s->loop, &s->sync_timeout, SYNC_INTERVAL_MS);
    s->sync_timeout_ready = true;
    s->sync_entry.cb = on_sync_tick;
    h2o_timeout_link(s->loop, &s->sync_timeout, &s->sync_entry);
    if (node_start(s->node) != 0) {
        snprintf(err, err_len, "cannot watch the write-ahead log: %s", strerror(errno));
        rc = SERVER_E_RUNTIME;
        goto fail;
    }
    const membership_t *m = node_members(s->node);
    log_line('I', "etcdserver", "starting member %" PRIx64 " in cluster %" PRIx64 " (%zu members)",
             s->member_id, s->cluster_id, m->n);
    *out = s;
    return 0;
fail:
    server_free(s);
    return rc;
}

/*
 * Ends the open client connections (keep-alive, watches) so that the API and
 * h2o's context can be freed cleanly. Bounded: gives up after 3 s.
 */
/*
 * Ends every client connection (api_shutdown) and runs the loop until h2o
 * has disposed them, at most 3 s: h2o 2.2.5 cannot dispose its context while
 * any connection is open.
 */
static void drain(server_t *s)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    /* Answers written just now, outside a run (node_stop), may have their
     * sockets on h2o's pending list: let those callbacks run before any
     * connection is closed (h2o 2.2 frees a closed socket before it walks
     * that list; src/peer/tcp_stream.c has the whole story). */
    h2o_evloop_run(s->loop, 0);
    api_shutdown(s->api);
    for (;;) {
        size_t left = api_connection_count(s->api);
        if (left == 0)
            return;
        h2o_evloop_run(s->loop, 20);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= 3) {
            log_line('W', "etcdserver", "%zu client connections still open at exit", left);
            s->undrained = true;
            return;
        }
    }
}

void server_notify_systemd(const char *state)
{
    int rc = notify_systemd(state);
    if (rc == 1)
        log_line('I', "etcdmain", "notified systemd: %s", state);
    else if (rc < 0)
        log_line('W', "etcdmain", "cannot notify systemd (%s): %s", state, strerror(-rc));
}

void server_turn_done(server_t *s)
{
    /* Work the turn produced (proposals, a durable batch) goes to the
     * WAL now: one Ready per turn at most, the rest waits for the next. */
    node_process(s->node);
    if (!s->notified_ready) {
        /* etcd tells systemd it is ready once it has published itself
         * to the cluster (its ReadyNotify), not when it binds. */
        node_info_t info;
        node_get_info(s->node, &info);
        if (info.published) {
            s->notified_ready = true;
            server_notify_systemd("READY=1");
        }
    }
}

int server_run(server_t *s)
{
    node_process(s->node);
    node_info_t info;
    node_get_info(s->node, &info);
    log_line('I', "raft", "%" PRIx64 " is %s at term %" PRIu64, s->member_id,
             info.is_leader ? "leader" : "a follower", info.term);
    for (size_t i = 0; i < s->n_client_addrs; i++)
        log_line('I', "embed", "ready to serve client requests on %s", s->client_addrs[i]);
    char err[256];
    if (s->n_loops > 0 && server_loops_start(s, err, sizeof(err)) != 0) {
        log_line('E', "etcdserver", "%s", err);
        s->stopping = true; /* stop as after a signal */
    }
    if (s->n_loops > 0) {
        server_loops_run_owner(s); /* returns holding the lock */
    } else {
        while (!s->stopping) {
            /* -1 with EINTR when a signal arrives: the self-pipe then wakes us. */
            h2o_evloop_run(s->loop, INT32_MAX);
            server_turn_done(s);
        }
    }
    server_notify_systemd("STOPPING=1");
    log_line('I', "etcdserver", "stopping member %" PRIx64, s->member_id);
    /* A planned stop of the leader hands leadership over first, so the
     * cluster does not wait an election timeout (etcd's Stop does the same). */
    if (!s->removed)
        node_transfer_leadership(s->node, 2 * s->cfg->election_timeout_ms);
    node_stop(s->node); /* answers the writes still waiting, on their loops */
    if (s->n_loops > 0) {
        server_loops_stop(s);
        server_lock_leave(&s->lock);
    }
    drain(s);
    return 0;
}

void server_free(server_t *s)
{
    if (s == NULL)
        return;
    if (s->sync_timeout_ready) {
        if (h2o_timeout_is_linked(&s->sync_entry))
            h2o_timeout_unlink(&s->sync_entry);
        h2o_timeout_dispose(s->loop, &s->sync_timeout);
    }
    /*
     * Stop accepting and end the pending watches before the store goes.
     * With connections still open h2o would abort in h2o_context_dispose:
     * leave the API to the exiting process then.
     */
    /* Writes still waiting are answered (error 300) while the API exists. */
    if (s->node != NULL)
        node_stop(s->node);
    if (s->loops != NULL || s->lock_ready)
        server_loops_free(s); /* before the first API: they share its metrics */
    if (s->api != NULL && !s->undrained)
        api_free(s->api);
    for (size_t i = 0; i < s->n_peer_fds; i++)
        if (s->peer_fds[i] >= 0)
            close(s->peer_fds[i]);
    if (s->signal_sock != NULL) {
        h2o_socket_read_stop(s->signal_sock);
        h2o_socket_close(s->signal_sock);
        remove_signals();
    }
    /* The transport first: freeing it may still end a snapshot being
     * received through the node (snapshot_receive_end). */
    peer_free(s->transport);
    s->transport = NULL;
    if (s->node != NULL)
        node_free(s->node);
    if (s->store != NULL)
        store_free(s->store);
    if (s->loop != NULL) {
        /* Let the loop release the sockets closed above, then destroy it. */
        h2o_evloop_run(s->loop, 0);
        h2o_evloop_destroy(s->loop);
    }
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    for (size_t i = 0; i < s->n_client_addrs; i++)
        free(s->client_addrs[i]);
    free(s->client_addrs);
    for (size_t i = 0; i < s->n_client_fds; i++)
        close(s->client_fds[i]);
    free(s->client_fds);
    free(s->client_ssl);
    free(s->peer_fds);
    free(s->client_urls);
    free(s->members);
    free(s->followers);
    free(s->peers);
    membership_free(&s->initial);
    membership_free(&s->remote);
    bootstrap_free(&s->boot);
    /* Connections still open hold their own reference to the SSL_CTX. */
    tls_context_free(s->client_tls);
    tls_context_free(s->peer_tls);
    free(s);
}
