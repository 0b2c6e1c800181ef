/*
 * wait=true: long polls and streams (etcd's handleKeyWatch).
 *
 * Status and headers go out at once (etcd flushes them before the first
 * event), X-Etcd-Index is the store index when the watch was registered, and
 * each event is its JSON plus "\n". A one-shot watch ends after its event; a
 * stream sends every event as one line.
 *
 * Costs: an idle watcher is one struct in its request's pool and one epoll
 * registration; no timer and no CPU. Dropped HTTP/1 clients are noticed at
 * once through an epoll set that asks only for EPOLLRDHUP on each watcher's
 * connection (h2o stops reading a connection while its request is pending, so
 * it would only notice at the next write). HTTP/2 streams are reset by h2o.
 */
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "api/api_int.h"

/*
 * A stream whose reader lags by more than this many unsent bytes is ended
 * with a final error line (etcd bug 4: its stream stalls forever; the reader
 * here sees the end and can resume with waitIndex).
 */
#define API_WATCH_MAX_PENDING (256 * 1024)

struct api_watch {
    h2o_generator_t gen; /* first: h2o hands it back to proceed/stop */
    api_t *api;
    h2o_req_t *req;
    store_watcher_t *sw; /* NULL once the store is done with it */
    api_watch_t *prev, *next;
    api_buf_t pending;   /* encoded events not yet handed to h2o (malloc'd) */
    api_buf_t inflight;  /* the bytes of the send in progress (malloc'd) */
    uint64_t next_index; /* where a reader resumes after an overflow */
    int fd;              /* connection fd in the hang-up set, or -1 */
    char chunk_head[24]; /* own chunk framing (HTTP/1.1), see flush() */
    bool own_chunked;
    bool in_list, started, sending, final_queued, finished, stream, overflow;
    bool hung_up; /* the client left while a send was in flight */
};

static void list_remove(api_t *api, api_watch_t *w)
{
    if (!w->in_list)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        api->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->in_list = false;
    api->n_watches--;
}

static void hup_remove(api_t *api, api_watch_t *w)
{
    if (w->fd >= 0 && api != NULL) {
        epoll_ctl(api->hup_epfd, EPOLL_CTL_DEL, w->fd, NULL);
        w->fd = -1;
    }
}

/* Runs when the request goes away, answered or aborted. */
static void on_watch_dispose(void *p)
{
    api_watch_t *w = p;
    api_t *api = w->api;
    if (api == NULL) {
        /* The API was freed first (api_free): only the buffers are left. */
        api_buf_free(&w->pending);
        api_buf_free(&w->inflight);
        w->req = NULL;
        return;
    }
    if (w->sw != NULL) {
        store_watcher_remove(api->host.store, w->sw);
        w->sw = NULL;
    }
    hup_remove(api, w);
    list_remove(api, w);
    api_buf_free(&w->pending);
    api_buf_free(&w->inflight);
    w->req = NULL;
}

static void flush(api_watch_t *w)
{
    if (!w->started || w->sending || w->finished || w->req == NULL)
        return;
    if (w->pending.len == 0 && !w->final_queued)
        return;
    api_buf_t tmp = w->inflight;
    w->inflight = w->pending;
    w->pending = tmp;
    w->pending.len = 0;
    h2o_send_state_t state = H2O_SEND_STATE_IN_PROGRESS;
    if (w->final_queued) {
        state = H2O_SEND_STATE_FINAL;
        w->finished = true;
        hup_remove(w->api, w);
    } else {
        w->sending = true;
    }
    if (!w->own_chunked) {
        h2o_iovec_t buf = h2o_iovec_init(w->inflight.data, w->inflight.len);
        h2o_send(w->req, &buf, buf.len ? 1 : 0, state);
        return;
    }
    /*
     * HTTP/1.1 framing of our own. h2o 2.2.5 sends nothing for an empty
     * h2o_send, so the headers could not go out before the first event. The
     * first send is a lone "0": the start of the next chunk-size line, whose
     * leading zeros are legal (RFC 7230 4.1). Every later send completes it
     * ("<hex>\r\n<data>\r\n") and starts the next one with "0" again, or ends
     * the body ("\r\n\r\n" completes the last-chunk "0\r\n\r\n").
     */
    h2o_iovec_t bufs[3];
    size_t n = 0;
    if (w->inflight.len > 0) {
        int hl = snprintf(w->chunk_head, sizeof(w->chunk_head), "%zx\r\n", w->inflight.len);
        bufs[n++] = h2o_iovec_init(w->chunk_head, (size_t)hl);
        bufs[n++] = h2o_iovec_init(w->inflight.data, w->inflight.len);
        if (state == H2O_SEND_STATE_FINAL)
            bufs[n++] = h2o_iovec_init(H2O_STRLIT("\r\n0\r\n\r\n"));
        else
            bufs[n++] = h2o_iovec_init(H2O_STRLIT("\r\n0"));
    } else {
        bufs[n++] = h2o_iovec_init(H2O_STRLIT("\r\n\r\n"));
    }
    h2o_send(w->req, bufs, n, state);
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    api_watch_t *w = (api_watch_t *)gen;
    w->sending = false;
    if (w->hung_up && !w->finished) {
        w->finished = true;
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    flush(w);
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)req;
    api_watch_t *w = (api_watch_t *)gen;
    w->finished = true;
}

/* The store's callback: the event is borrowed. */
static void on_event(void *ctx, store_event_t *ev)
{
    api_watch_t *w = ctx;
    if (w->final_queued || w->finished)
        return;
    if (ev == NULL) {
        /* The store ended the watch (it is being freed): end the response. */
        w->sw = NULL;
        w->final_queued = true;
        flush(w);
        return;
    }
    if (!w->stream)
        w->sw = NULL; /* the store removes a one-shot watcher after this call */
    size_t before = w->pending.len;
    api_json_event(&w->pending, ev, false);
    api_buf_append(&w->pending, "\n", 1);
    w->next_index = ev->etcd_index + 1;
    if (w->stream && before > 0 && w->pending.len > API_WATCH_MAX_PENDING) {
        /* Drop this event (the reader resumes from it) and end the stream. */
        w->pending.len = before;
        w->next_index = ev->etcd_index;
        char cause[96];
        snprintf(cause, sizeof(cause), "slow reader: resume with waitIndex=%llu",
                 (unsigned long long)w->next_index);
        api_json_error(&w->pending, STORE_E_WATCHER_CLEARED, cause,
                       store_index(w->api->host.store));
        api_buf_append(&w->pending, "\n", 1);
        w->overflow = true;
        w->final_queued = true;
    }
    if (!w->stream)
        w->final_queued = true;
    flush(w);
}

static void on_hup(h2o_socket_t *sock, const char *err)
{
    (void)err;
    api_t *api = sock->data;
    struct epoll_event evs[64];
    int n = epoll_wait(api->hup_epfd, evs, 64, 0);
    for (int i = 0; i < n; i++) {
        api_watch_t *w = evs[i].data.ptr;
        hup_remove(api, w);
        if (w->req == NULL || w->finished)
            continue;
        if (w->sending) {
            w->hung_up = true; /* ended when the write in flight completes */
            continue;
        }
        /* An error state closes the HTTP/1 connection, which disposes the request. */
        w->finished = true;
        h2o_send(w->req, NULL, 0, H2O_SEND_STATE_ERROR);
    }
}

void api_watch_init(api_t *api)
{
    api->hup_epfd = epoll_create1(EPOLL_CLOEXEC);
    api->hup_sock = NULL;
    if (api->hup_epfd < 0)
        return;
    api->hup_sock = h2o_evloop_socket_create(api->loop, api->hup_epfd, H2O_SOCKET_FLAG_DONT_READ);
    api->hup_sock->data = api;
    h2o_socket_read_start(api->hup_sock, on_hup);
}

void api_watch_dispose(api_t *api)
{
    /*
     * Detach pending watches: their requests are disposed with their
     * connections, possibly after the API is gone, and then touch nothing.
     */
    api_watch_t *next;
    for (api_watch_t *w = api->watches; w != NULL; w = next) {
        next = w->next;
        if (w->sw != NULL) {
            store_watcher_remove(api->host.store, w->sw);
            w->sw = NULL;
        }
        hup_remove(api, w);
        w->in_list = false;
        w->api = NULL;
    }
    api->watches = NULL;
    api->n_watches = 0;
    if (api->hup_sock != NULL) {
        h2o_socket_read_stop(api->hup_sock);
        h2o_socket_close(api->hup_sock); /* closes the epoll fd */
        api->hup_sock = NULL;
    }
}

int api_watch_start(api_t *api, h2o_req_t *req, const api_keys_req_t *kr)
{
    api_watch_t *w = h2o_mem_alloc_shared(&req->pool, sizeof(*w), on_watch_dispose);
    memset(w, 0, sizeof(*w));
    w->gen.proceed = on_proceed;
    w->gen.stop = on_stop;
    w->api = api;
    w->req = req;
    w->fd = -1;
    w->stream = kr->stream;
    api_buf_init(&w->pending, NULL);
    api_buf_init(&w->inflight, NULL);

    uint64_t start_index = store_index(api->host.store);
    store_error_t err = {0};
    store_watcher_t *sw = NULL;
    int rc = store_watch(api->host.store, kr->key, kr->key_len, kr->recursive, kr->stream,
                         kr->wait_index, on_event, w, &sw, &err);
    if (rc != 0) {
        api_send_v2_error(api, req, err.code, err.cause, err.index);
        store_error_clear(&err);
        return -1;
    }
    /* A one-shot watch answered from history has no watcher left (sw == NULL). */
    if (!w->final_queued)
        w->sw = sw;

    req->res.status = 200;
    req->res.reason = "OK";
    api_add_header(req, H2O_TOKEN_CONTENT_TYPE, "Content-Type", H2O_STRLIT("application/json"));
    api_add_header_u64(req, "x-etcd-index", "X-Etcd-Index", start_index);
    api_server_info_t info;
    memset(&info, 0, sizeof(info));
    api->host.server_info(api->host.ctx, &info);
    api_add_header_u64(req, "x-raft-index", "X-Raft-Index", info.raft_index);
    api_add_header_u64(req, "x-raft-term", "X-Raft-Term", info.raft_term);
    api_metrics_count(api, API_M_GET, 200);

    w->next = api->watches;
    if (api->watches)
        api->watches->prev = w;
    api->watches = w;
    w->in_list = true;
    api->n_watches++;

    if (req->version < 0x200 && api->hup_epfd >= 0 && !w->final_queued) {
        h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
        int fd = sock ? h2o_socket_get_fd(sock) : -1;
        struct epoll_event ev = {.events = EPOLLRDHUP, .data.ptr = w};
        if (fd >= 0 && epoll_ctl(api->hup_epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
            w->fd = fd;
    }

    if (req->version == 0x101) {
        w->own_chunked = true;
        api_add_header(req, H2O_TOKEN_TRANSFER_ENCODING, "Transfer-Encoding",
                       H2O_STRLIT("chunked"));
    }
    h2o_start_response(req, &w->gen);
    w->started = true;
    /* Flush the status and headers now, before any event (etcd does). */
    w->sending = true;
    if (w->own_chunked) {
        static const h2o_iovec_t zero = {"0", 1};
        h2o_send(req, (h2o_iovec_t *)&zero, 1, H2O_SEND_STATE_IN_PROGRESS);
    } else {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_IN_PROGRESS);
    }
    return 0;
}
