/*
 * The h2o front end: configuration, accepting connections (HTTP/1.1 with
 * keep-alive and pipelining, h2c by prior knowledge or Upgrade), and routing
 * as etcd's Go ServeMux does (clean-path 301s, exact and prefix patterns,
 * 404 for the rest), behind etcd's CORS wrapper.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/auth_int.h"
#include "api/ui_int.h"

#define DEFAULT_MAX_REQUEST_BYTES (1536 * 1024)
#define IDLE_TIMEOUT_MS           (3600 * 1000)

struct api_handler {
    h2o_handler_t super;
    api_t *api;
};

static bool path_is(const api_path_t *p, const char *s)
{
    size_t n = strlen(s);
    return p->path_len == n && memcmp(p->path, s, n) == 0;
}

static bool path_has_prefix(const api_path_t *p, const char *s)
{
    size_t n = strlen(s);
    return p->path_len >= n && memcmp(p->path, s, n) == 0;
}

static bool conn_metrics_only(h2o_req_t *req);

static void route(api_t *api, h2o_req_t *req);

/* Every handler runs inside the host's lock (see api_host_t.enter). */
static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    api_t *api = ((struct api_handler *)self)->api;
    api_enter(api);
    route(api, req);
    api_leave(api);
    return 0;
}

static void route(api_t *api, h2o_req_t *req)
{
    api_method_t m = api_method_from(req->method.base, req->method.len);

    api_path_t p;
    /* h2o gives a request without Host the default host's name: Go rejects it. */
    if (req->version == 0x101 && req->input.authority.base == api->default_authority.base) {
        api_send_bad_request_close(api, req, "400 Bad Request: missing required Host header");
        return;
    }
    if (api_path_parse(&req->pool, req->path.base, req->path.len, &p) != 0) {
        /* Go's server rejects a request line whose path does not unescape. */
        api_send_bad_request_close(api, req, "400 Bad Request");
        return;
    }
    /* etcd's CORS wrapper: the headers on every response; OPTIONS answered here. */
    api_add_cors(req);
    if (m == API_M_OPTIONS) {
        api_send(api, req, 200, NULL, "", 0);
        return;
    }
    if (p.redirect != NULL) {
        api_send_redirect(api, req, m, p.redirect, p.redirect_len);
        return;
    }
    if (conn_metrics_only(req)) {
        /* etcd's metrics listener serves these two paths and nothing else. */
        if (path_is(&p, "/health"))
            api_handle_health(api, req, m);
        else if (path_is(&p, "/metrics"))
            api_handle_metrics(api, req, m);
        else
            api_send_not_found(api, req);
    } else if (path_is(&p, "/v2/keys")) {
        api_handle_keys(api, req, m, "", 0);
    } else if (path_has_prefix(&p, "/v2/keys/")) {
        api_handle_keys(api, req, m, p.path + 8, p.path_len - 8);
    } else if (path_is(&p, "/v2/machines")) {
        api_handle_machines(api, req, m);
    } else if (path_is(&p, "/v2/members")) {
        api_handle_members(api, req, m, "", 0);
    } else if (path_has_prefix(&p, "/v2/members/")) {
        api_handle_members(api, req, m, p.path + 12, p.path_len - 12);
    } else if (path_is(&p, "/v2/stats/self") || path_is(&p, "/v2/stats/store") ||
               path_is(&p, "/v2/stats/leader")) {
        api_handle_stats(api, req, m, p.path + 10, p.path_len - 10);
    } else if (path_is(&p, "/version")) {
        api_handle_version(api, req, m);
    } else if (path_is(&p, "/health")) {
        api_handle_health(api, req, m);
    } else if (path_is(&p, "/metrics")) {
        api_handle_metrics(api, req, m);
    } else if (path_has_prefix(&p, "/v2/auth/")) {
        api_handle_auth(api, req, m, p.path + 8, p.path_len - 8);
    } else if (api->cfg.ui && (path_is(&p, "/ui") || path_has_prefix(&p, "/ui/"))) {
        api_handle_ui(api, req, m, p.path + 3, p.path_len - 3);
    } else if (path_has_prefix(&p, "/v3/") || path_has_prefix(&p, "/v3beta/") ||
               path_has_prefix(&p, "/v3alpha/")) {
        api_send_v3_not_found(api, req);
    } else {
        api_send_not_found(api, req);
    }
}

static void copy_str(char *dst, size_t size, const char *src, const char *dflt)
{
    const char *s = src != NULL ? src : dflt;
    size_t n = strlen(s);
    if (n >= size)
        n = size - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

api_t *api_new(void *loop, const api_config_t *cfg, const api_host_t *owner)
{
    api_t *api = calloc(1, sizeof(*api));
    if (api == NULL)
        return NULL;
    api->metrics = &api->own_metrics;
    signal(SIGPIPE, SIG_IGN);
    api->loop = loop;
    api->cfg = *cfg;
    if (api->cfg.max_request_bytes == 0)
        api->cfg.max_request_bytes = DEFAULT_MAX_REQUEST_BYTES;
    copy_str(api->version, sizeof(api->version), cfg->version, "3.4.23");
    copy_str(api->cluster_version, sizeof(api->cluster_version), cfg->cluster_version, "3.4.0");
    api->cfg.version = api->version;
    api->cfg.cluster_version = api->cluster_version;
    api->host = *owner;
    api->hup_epfd = -1;

    h2o_config_init(&api->globalconf);
    /* etcd sends no Server header. */
    api->globalconf.server_name = h2o_iovec_init(H2O_STRLIT(""));
    /*
     * A form body over max_request_bytes gets etcd's 400 (error 210) from the
     * keys handler. h2o buffers a body whole before any handler runs, so its
     * own limit sits 1 MiB higher: past it HTTP/1 gets h2o's 413 and HTTP/2 a
     * refused stream (h2o 2.2.5), before the body is buffered, where etcd
     * would read 10 MiB and answer 400. Nothing changes either way.
     */
    api->globalconf.max_request_entity_size = api->cfg.max_request_bytes + (1 << 20);
    /*
     * etcd's Go server never closes an idle keep-alive connection; h2o would
     * after 10 s, and clients that reuse pooled connections for a PUT would
     * see resets. Keep idle connections for an hour.
     */
    api->globalconf.http1.req_timeout = IDLE_TIMEOUT_MS;
    api->globalconf.http2.idle_timeout = IDLE_TIMEOUT_MS;
    h2o_hostconf_t *host =
        h2o_config_register_host(&api->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    api->default_authority = host->authority.hostport;
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    struct api_handler *h = (void *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
    h->api = api;
    h2o_context_init(&api->ctx, loop, &api->globalconf);
    api->accept_ctx.ctx = &api->ctx;
    api->accept_ctx.hosts = api->globalconf.hosts;
    api_watch_init(api);
    api_auth_init(api);
    return api;
}

api_t *api_new_sibling(void *loop, api_t *first, const api_host_t *host)
{
    api_t *api = api_new(loop, &first->cfg, host);
    if (api != NULL)
        api->metrics = first->metrics;
    return api;
}

/*
 * One accepted connection. h2o owns the socket; its on_close hook (which h2o
 * calls when it disposes the socket, whatever closed it) unlinks this record,
 * so the API always knows which connections are open and can end them at
 * shutdown: h2o 2.2.5 cannot dispose a context while any is open.
 */
struct api_conn {
    api_t *api;
    h2o_socket_t *sock;
    struct api_conn *prev, *next;
    bool metrics_only; /* accepted on a --listen-metrics-urls listener */
};

/* The connection was accepted on a metrics listener (api_listen_metrics). */
static bool conn_metrics_only(h2o_req_t *req)
{
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL
                             ? req->conn->callbacks->get_socket(req->conn)
                             : NULL;
    if (sock == NULL || sock->on_close.data == NULL)
        return false;
    return ((struct api_conn *)sock->on_close.data)->metrics_only;
}

static void on_conn_close(void *data)
{
    struct api_conn *c = data;
    api_t *api = c->api;
    if (!c->metrics_only)
        __atomic_sub_fetch(&api->metrics->client_conns, 1, __ATOMIC_RELAXED);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        api->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    api->n_conns--;
    free(c);
}

static void accept_conns(h2o_socket_t *listener, const char *err, bool metrics_only)
{
    if (err != NULL)
        return;
    /* Each listener carries its accept context: the API's, or a TLS copy of it. */
    h2o_accept_ctx_t *accept_ctx = listener->data;
    api_t *api = H2O_STRUCT_FROM_MEMBER(api_t, ctx, accept_ctx->ctx);
    /* A few per wakeup so that one busy listener cannot starve the loop. */
    int max = 16;
    /*
     * With several loops (--threads) the kernel wakes them all for a new
     * connection and the first awake took up to 16: of 10,000 watchers one
     * of two loops held up to 57%, and so wrote that share of a fan-out
     * while the other had finished. A loop that holds more than its share
     * (by more than 16) takes one connection a wakeup and leaves the rest
     * of a burst to the others (then 50.3-50.9%); it never refuses one, so
     * a busy sibling cannot stall an accept.
     */
    unsigned loops = __atomic_load_n(&api->metrics->accepting_loops, __ATOMIC_RELAXED);
    if (!metrics_only && loops > 1 &&
        api->n_conns * loops >
            __atomic_load_n(&api->metrics->client_conns, __ATOMIC_RELAXED) + 16 * loops)
        max = 1;
    for (int i = 0; i < max; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        struct api_conn *c = malloc(sizeof(*c));
        if (c == NULL) {
            h2o_socket_close(sock); /* out of memory: refuse this client */
            continue;
        }
        *c = (struct api_conn){
            .api = api, .sock = sock, .next = api->conns, .metrics_only = metrics_only};
        if (api->conns != NULL)
            api->conns->prev = c;
        api->conns = c;
        api->n_conns++;
        if (!metrics_only)
            __atomic_add_fetch(&api->metrics->client_conns, 1, __ATOMIC_RELAXED);
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = c;
        h2o_accept(accept_ctx, sock);
    }
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    accept_conns(listener, err, false);
}

static void on_accept_metrics(h2o_socket_t *listener, const char *err)
{
    accept_conns(listener, err, true);
}

static int listen_with(api_t *api, int fd, h2o_socket_cb cb, SSL_CTX *ssl_ctx)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
        return -1;
    h2o_socket_t **ls = realloc(api->listeners, (api->n_listeners + 1) * sizeof(*ls));
    if (ls == NULL)
        return -1;
    api->listeners = ls;
    h2o_accept_ctx_t *accept_ctx = &api->accept_ctx;
    if (ssl_ctx != NULL) {
        accept_ctx = h2o_mem_alloc(sizeof(*accept_ctx));
        *accept_ctx = api->accept_ctx;
        accept_ctx->ssl_ctx = ssl_ctx;
    }
    h2o_socket_t *sock = h2o_evloop_socket_create(api->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = accept_ctx;
    h2o_socket_read_start(sock, cb);
    api->listeners[api->n_listeners++] = sock;
    if (cb == on_accept && !api->accepts_clients) {
        api->accepts_clients = true;
        __atomic_add_fetch(&api->metrics->accepting_loops, 1, __ATOMIC_RELAXED);
    }
    return 0;
}

int api_listen(api_t *api, int fd)
{
    return listen_with(api, fd, on_accept, NULL);
}

int api_listen_tls(api_t *api, int fd, void *ssl_ctx)
{
    return listen_with(api, fd, on_accept, ssl_ctx);
}

int api_listen_metrics(api_t *api, int fd, void *ssl_ctx)
{
    return listen_with(api, fd, on_accept_metrics, ssl_ctx);
}

static void close_listeners(api_t *api)
{
    for (size_t i = 0; i < api->n_listeners; i++) {
        if (api->listeners[i]->data != &api->accept_ctx)
            free(api->listeners[i]->data); /* a TLS listener's own accept context */
        h2o_socket_read_stop(api->listeners[i]);
        h2o_socket_close(api->listeners[i]);
    }
    free(api->listeners);
    api->listeners = NULL;
    api->n_listeners = 0;
    if (api->accepts_clients) {
        api->accepts_clients = false;
        __atomic_sub_fetch(&api->metrics->accepting_loops, 1, __ATOMIC_RELAXED);
    }
}

/* Reading was started again while a request waits: stop at the first sign of input. */
static void on_read_while_waiting(h2o_socket_t *sock, const char *err)
{
    (void)err; /* a close is seen by h2o itself once the answer is written */
    h2o_socket_read_stop(sock);
}

/*
 * h2o stops reading an HTTP/1 connection once its request is complete and
 * starts again once the answer is out. For a write, which waits for raft,
 * those are two more epoll_ctl calls (a DEL, then an ADD): 10-12% of a
 * PUT's server CPU in perf. Reading is started again here, at once, with a
 * callback that only stops it when something arrives (a pipelined request
 * or the client's close), so that the registration is left as it was; when
 * the answer is out, h2o puts its own callback back and takes up whatever
 * arrived meanwhile from sock->input (its reqread_start).
 *
 * A read may move sock->input, which an HTTP/1 request points into. Only a
 * request with a body qualifies: h2o has then copied its method, path and
 * headers into the request's pool (its fixup_request), and the body itself
 * is used only before the proposal, which copies what it needs. Plain
 * connections only (a TLS read may have to write).
 */
void api_read_while_waiting(h2o_req_t *req)
{
    if (req->version >= 0x200 || req->entity.base == NULL ||
        req->conn->callbacks->get_socket == NULL)
        return;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL || sock->ssl != NULL || h2o_socket_is_reading(sock))
        return;
    h2o_socket_read_start(sock, on_read_while_waiting);
}

size_t api_shutdown(api_t *api)
{
    close_listeners(api);
    /*
     * Half-close every client connection: h2o sees the end of the stream on
     * its next read and disposes the connection (pending watches included)
     * from the loop, which is the only safe place to do it.
     */
    for (struct api_conn *c = api->conns; c != NULL; c = c->next)
        shutdown(h2o_socket_get_fd(c->sock), SHUT_RDWR);
    return api->n_conns;
}

size_t api_connection_count(const api_t *api)
{
    return api->n_conns;
}

void api_free(api_t *api)
{
    if (api == NULL)
        return;
    close_listeners(api);
    api_watch_dispose(api);
    api_tickets_dispose(api);
    api_list_cache_dispose(api);
    api_auth_dispose(api);
    h2o_context_dispose(&api->ctx);
    /* h2o 2.2.5 destroys the context's multithread queue but leaves its struct to us. */
    free(api->ctx.queue);
    h2o_config_dispose(&api->globalconf);
    free(api);
}
