/*
 * wait=true: long polls and streams (etcd's handleKeyWatch).
 *
 * Status and headers go out at once (etcd flushes them before the first
 * event), X-Etcd-Index is the store index when the watch was registered, and
 * each event is its JSON plus "\n". A one-shot watch ends after its event; a
 * stream sends every event as one line.
 *
 * Fan-out. The store calls on_event() for every matching watcher while it
 * applies a write, before the write's own client is answered. Writing to
 * 10,000 sockets there made the PUT wait for all of them (about 140 ms), so
 * on_event() only queues: it takes a reference to the event's frame (encoded
 * once for all its watchers, watch_frame.c) and puts the watch on the API's
 * ready queue. The writer's answer goes out as soon as apply returns; the
 * ready queue is then served FANOUT_BATCH watches per loop turn, so reads,
 * writes and accepts keep being served during a large fan-out. etcd does not
 * wait for its watchers either: its WatcherHub only puts the event on each
 * watcher's channel (v2store/watcher_hub.go), and each watcher's own handler
 * goroutine writes it.
 *
 * Costs: an idle HTTP/1.1 watcher is this struct, its socket and one epoll
 * registration, about 0.7 KB (see WATCH_RAW below); no timer and no CPU. It
 * notices its client leaving by reading the socket. Other HTTP/1 watchers
 * (HTTP/1.0) are noticed through an epoll set that asks only for EPOLLRDHUP
 * on their connections (h2o stops reading a connection while its request is
 * pending, so it would only notice at the next write). HTTP/2 streams are
 * reset by h2o.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>

#include "api/api_int.h"
#include <h2o/http1.h> /* after h2o.h, which it needs */

/*
 * A stream whose reader lags by more than this many unsent bytes is ended
 * with a final error line (etcd bug 4: its stream stalls forever; the reader
 * here sees the end and can resume with waitIndex).
 */
#define API_WATCH_MAX_PENDING (256 * 1024)

/*
 * Watches written per loop turn. A write to a watcher's socket costs about
 * 10 us of (mostly kernel) CPU here, so a batch keeps a turn under a
 * millisecond: other clients wait at most that long behind a fan-out. A
 * turn more costs one epoll_wait, which is cheap beside 64 writes.
 */
#define FANOUT_BATCH 64

/* Frames handed to h2o in one send. */
#define SEND_MAX_FRAMES 64

/*
 * How a watch reaches its client. Through h2o's request (HTTP/2, HTTP/1.0,
 * and a one-shot answered from history), or, for an HTTP/1.1 watch that
 * waits, on the connection's socket itself: h2o's upgrade hands the socket
 * over once the headers are out, and frees the connection's request, its
 * memory pool and its input buffer, which are most of what an idle watcher
 * costs (two 4 KB blocks). The socket goes back to h2o as a fresh
 * keep-alive connection when the watch ends.
 */
enum watch_mode { WATCH_H2O, WATCH_UPGRADING, WATCH_RAW };

/* Malloc'd; freed by watch_free() once neither h2o nor the socket refer to it. */
struct api_watch {
    h2o_generator_t gen; /* first: h2o hands it back to proceed/stop */
    api_t *api;
    h2o_req_t *req;             /* WATCH_H2O: until the request goes away */
    h2o_socket_t *sock;         /* WATCH_RAW */
    store_watcher_t *sw;        /* NULL once the store is done with it */
    api_watch_t *prev, *next;   /* api->watches */
    api_watch_t *rprev, *rnext; /* api's ready queue */
    /*
     * Frames not yet acknowledged by h2o, oldest first, in a ring: the first
     * n_inflight are in the send in progress. A one-shot watch needs one
     * slot; a stream grows the ring (malloc'd) only while its reader lags.
     */
    api_watch_frame_t **q;
    api_watch_frame_t *q_inline[2];
    uint32_t q_head, q_len, q_cap, n_inflight;
    size_t q_bytes;      /* bytes of the queued frames, for the lag limit */
    h2o_iovec_t tail;    /* a last line of this watch's own (malloc'd), sent before the end */
    uint64_t next_index; /* where a reader resumes after an overflow */
    int fd;              /* connection fd in the hang-up set, or -1 */
    uint8_t mode;        /* enum watch_mode */
    bool own_chunked, persistent;
    bool in_list, in_ready, started, sending, final_queued, finished, stream, overflow;
    bool hung_up; /* the client left while a send was in flight */
    char chunk_head[20];
};

/* The request's hold on its watch (request pool): tells it when the request goes. */
typedef struct watch_slot {
    api_watch_t *w;
} watch_slot_t;

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
    api->metrics->watches--;
}

/*
 * The hang-up set is keyed by fd, and a watch that ends leaves its fd in the
 * set: removing it would be one more syscall per watcher in a fan-out, and a
 * kept-alive connection usually carries the next watch. A report for an fd
 * with no watch removes it then; closing a connection removes its fd from
 * the set by itself (the kernel drops closed files from epoll sets).
 */
struct api_hup_slot {
    api_watch_t *w;
    bool in_set;
};

static void hup_remove(api_t *api, api_watch_t *w)
{
    if (w->fd >= 0 && api != NULL) {
        if ((size_t)w->fd < api->hup_cap && api->hup_slots[w->fd].w == w)
            api->hup_slots[w->fd].w = NULL;
        w->fd = -1;
    }
}

/* The slot table grows by doubling; the API owns it (freed by api_watch_dispose()). */
static void hup_add(api_t *api, api_watch_t *w, int fd)
{
    if ((size_t)fd >= api->hup_cap) {
        size_t cap = api->hup_cap ? api->hup_cap : 1024;
        while (cap <= (size_t)fd)
            cap *= 2;
        struct api_hup_slot *a = realloc(api->hup_slots, cap * sizeof(*a));
        if (a == NULL)
            return; /* no early hang-up detection; the next write notices */
        memset(a + api->hup_cap, 0, (cap - api->hup_cap) * sizeof(*a));
        api->hup_slots = a;
        api->hup_cap = cap;
    }
    struct api_hup_slot *slot = &api->hup_slots[fd];
    struct epoll_event ev = {.events = EPOLLRDHUP, .data.fd = fd};
    /* The fd may be in the set from an earlier watch, or gone with its connection. */
    int rc = -1;
    if (slot->in_set)
        rc = epoll_ctl(api->hup_epfd, EPOLL_CTL_MOD, fd, &ev);
    if (rc != 0)
        rc = epoll_ctl(api->hup_epfd, EPOLL_CTL_ADD, fd, &ev);
    if (rc != 0 && errno == EEXIST)
        rc = epoll_ctl(api->hup_epfd, EPOLL_CTL_MOD, fd, &ev);
    slot->in_set = rc == 0;
    if (rc == 0) {
        slot->w = w;
        w->fd = fd;
    }
}

/* ---- The ready queue ---- */

static void ready_remove(api_t *api, api_watch_t *w)
{
    if (!w->in_ready)
        return;
    if (w->rprev)
        w->rprev->rnext = w->rnext;
    else
        api->ready_head = w->rnext;
    if (w->rnext)
        w->rnext->rprev = w->rprev;
    else
        api->ready_tail = w->rprev;
    w->rprev = w->rnext = NULL;
    w->in_ready = false;
}

static void kick(api_t *api)
{
    if (api->kicked || api->kick_fd < 0)
        return;
    uint64_t one = 1;
    if (write(api->kick_fd, &one, sizeof(one)) == sizeof(one))
        api->kicked = true;
}

/* Queues w to be written on a later loop turn (nothing when it cannot send now). */
static void schedule(api_watch_t *w)
{
    api_t *api = w->api;
    if (api == NULL || w->in_ready || !w->started || w->sending || w->finished)
        return;
    w->rprev = api->ready_tail;
    w->rnext = NULL;
    if (api->ready_tail)
        api->ready_tail->rnext = w;
    else
        api->ready_head = w;
    api->ready_tail = w;
    w->in_ready = true;
    kick(api);
}

/* ---- Frame queue of one watch ---- */

static api_watch_frame_t *q_at(const api_watch_t *w, uint32_t i)
{
    return w->q[(w->q_head + i) % w->q_cap];
}

static size_t frame_size(const api_watch_t *w, const api_watch_frame_t *f)
{
    return w->own_chunked ? api_watch_frame_chunk(f).len : f->body_len;
}

/* Takes a reference to f. Grows the ring by doubling (malloc'd, freed by q_free()). */
static void q_push(api_watch_t *w, api_watch_frame_t *f)
{
    if (w->q_len == w->q_cap) {
        uint32_t cap = w->q_cap * 2;
        api_watch_frame_t **a = malloc(cap * sizeof(*a));
        if (a == NULL)
            abort();
        for (uint32_t i = 0; i < w->q_len; i++)
            a[i] = q_at(w, i);
        if (w->q != w->q_inline)
            free(w->q);
        w->q = a;
        w->q_cap = cap;
        w->q_head = 0;
    }
    w->q[(w->q_head + w->q_len) % w->q_cap] = api_watch_frame_retain(f);
    w->q_len++;
    w->q_bytes += frame_size(w, f);
}

/* Releases the first n frames (their send completed). */
static void q_pop(api_watch_t *w, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        api_watch_frame_t *f = q_at(w, 0);
        w->q_bytes -= frame_size(w, f);
        api_watch_frame_release(f);
        w->q_head = (w->q_head + 1) % w->q_cap;
        w->q_len--;
    }
}

static void q_free(api_watch_t *w)
{
    q_pop(w, w->q_len);
    if (w->q != w->q_inline)
        free(w->q);
    w->q = w->q_inline;
    w->q_cap = sizeof(w->q_inline) / sizeof(w->q_inline[0]);
    w->q_head = w->n_inflight = 0;
}

static void watch_free(api_watch_t *w)
{
    q_free(w);
    free(w->tail.base);
    free(w);
}

/* Unlinks w from the store and the API (it will not be written to again). */
static void watch_detach(api_watch_t *w)
{
    api_t *api = w->api;
    if (api == NULL)
        return;
    if (w->sw != NULL) {
        store_watcher_remove(api->host.store, w->sw);
        w->sw = NULL;
    }
    hup_remove(api, w);
    ready_remove(api, w);
    list_remove(api, w);
}

/* Runs when the request goes away, answered or aborted (or handed over by the upgrade). */
static void on_req_dispose(void *p)
{
    watch_slot_t *slot = p;
    api_watch_t *w = slot->w;
    if (w == NULL)
        return;
    api_t *api = w->api;
    api_enter(api);
    w->req = NULL;
    if (w->mode != WATCH_UPGRADING) { /* else on_upgraded() takes it from here */
        watch_detach(w);
        watch_free(w);
    }
    api_leave(api);
}

/* Ends a socket-owned watch: the socket back to h2o (keep-alive) or closed. */
static void raw_end(api_watch_t *w, bool keep)
{
    h2o_socket_t *sock = w->sock;
    api_t *api = w->api;
    watch_detach(w);
    w->sock = NULL;
    h2o_socket_read_stop(sock);
    /* Anything the client sent meanwhile (a pipelined request) is still in sock->input. */
    if (keep && api != NULL && w->persistent && sock->input->size < (64 << 10)) {
        struct timeval now;
        gettimeofday(&now, NULL);
        h2o_http1_accept(&api->accept_ctx, sock, now);
    } else {
        h2o_socket_close(sock);
    }
    watch_free(w);
}

static void on_raw_written(h2o_socket_t *sock, const char *err);

/* Slots build_send() may fill: the frames, then at most three of framing and tail. */
#define SEND_MAX_BUFS (SEND_MAX_FRAMES + 3)

/* Whether w may hand something to h2o now (the host's lock held). */
static bool can_send(const api_watch_t *w)
{
    if (!w->started || w->sending || w->finished)
        return false;
    if (w->mode == WATCH_UPGRADING || (w->mode == WATCH_H2O && w->req == NULL))
        return false;
    return w->q_len > 0 || w->final_queued;
}

/*
 * What w sends next: the queued frames (at most SEND_MAX_FRAMES) and, last,
 * the tail line and the end, into bufs (SEND_MAX_BUFS slots); returns how
 * many slots it filled (0 is possible for a final send). Marks the frames in
 * flight; they stay referenced until the send completes (proceed, or the
 * socket's write callback, or dispose after a final send): h2o writes from
 * them, it does not copy. The host's lock held, and can_send(w).
 */
static size_t build_send(api_watch_t *w, h2o_iovec_t *bufs, bool *final)
{
    uint32_t n = w->q_len < SEND_MAX_FRAMES ? w->q_len : SEND_MAX_FRAMES;
    *final = w->final_queued && n == w->q_len;
    size_t nb = 0;
    /*
     * HTTP/1.1 framing of our own. h2o 2.2.5 sends nothing for an empty
     * h2o_send, so the headers could not go out before the first event. The
     * first send is a lone "0": the start of the next chunk-size line, whose
     * leading zeros are legal (RFC 7230 4.1). Each frame is a whole chunk
     * ("<hex>\r\n<data>\r\n") that completes the dangling size line; every
     * send ends with "0" again, or ends the body with "0\r\n\r\n" (or
     * "\r\n\r\n" after the dangling "0" alone).
     */
    for (uint32_t i = 0; i < n; i++) {
        api_watch_frame_t *f = q_at(w, i);
        bufs[nb++] = w->own_chunked ? api_watch_frame_chunk(f) : api_watch_frame_line(f);
    }
    if (*final && w->tail.len > 0) {
        if (w->own_chunked) {
            int hl = snprintf(w->chunk_head, sizeof(w->chunk_head), "%zx\r\n", w->tail.len);
            bufs[nb++] = h2o_iovec_init(w->chunk_head, (size_t)hl);
            bufs[nb++] = w->tail;
            bufs[nb++] = h2o_iovec_init(H2O_STRLIT("\r\n0\r\n\r\n"));
        } else {
            bufs[nb++] = w->tail;
        }
    } else if (w->own_chunked) {
        if (!*final)
            bufs[nb++] = h2o_iovec_init(H2O_STRLIT("0"));
        else if (nb > 0)
            bufs[nb++] = h2o_iovec_init(H2O_STRLIT("0\r\n\r\n"));
        else
            bufs[nb++] = h2o_iovec_init(H2O_STRLIT("\r\n\r\n"));
    }
    w->n_inflight = n;
    return nb;
}

/* Hands what w has queued to h2o (the host's lock held). */
static void flush(api_watch_t *w)
{
    if (!can_send(w))
        return;
    h2o_iovec_t bufs[SEND_MAX_BUFS];
    bool final;
    size_t nb = build_send(w, bufs, &final);
    if (w->mode == WATCH_RAW) {
        /* The socket copies the vector, not the bytes (chunk_head is in w). */
        w->sending = true;
        w->finished = final;
        h2o_socket_write(w->sock, bufs, nb, on_raw_written);
        return;
    }
    h2o_send_state_t state = H2O_SEND_STATE_IN_PROGRESS;
    if (final) {
        state = H2O_SEND_STATE_FINAL;
        w->finished = true;
        hup_remove(w->api, w);
    } else {
        w->sending = true;
    }
    h2o_send(w->req, bufs, nb, state);
}

static void raw_written(api_watch_t *w, const char *err)
{
    w->sending = false;
    q_pop(w, w->n_inflight);
    w->n_inflight = 0;
    if (err != NULL) {
        raw_end(w, false);
        return;
    }
    if (w->finished) {
        raw_end(w, true);
        return;
    }
    flush(w);
}

/* h2o's callbacks take the host's lock: on_event() may queue frames meanwhile. */
static void on_raw_written(h2o_socket_t *sock, const char *err)
{
    api_watch_t *w = sock->data;
    api_t *api = w->api;
    api_enter(api);
    raw_written(w, err);
    api_leave(api);
}

/* The client sent something or left while its watch waits on the socket. */
static void on_raw_read(h2o_socket_t *sock, const char *err)
{
    api_watch_t *w = sock->data;
    if (err != NULL || sock->input->size > (64 << 10)) {
        /* Gone (or flooding): a write in flight fails too, so end it now. */
        api_t *api = w->api;
        api_enter(api);
        raw_end(w, false);
        api_leave(api);
    }
    /* A request pipelined behind the watch waits in sock->input for h2o. */
}

/* The headers are out; the socket is ours (NULL: the client left first). */
static void upgraded(api_watch_t *w, h2o_socket_t *sock, size_t reqsize)
{
    if (sock == NULL || w->api == NULL) {
        watch_detach(w);
        if (sock != NULL)
            h2o_socket_close(sock);
        watch_free(w);
        return;
    }
    /* The request is answered: its bytes go, and with them the input buffer. */
    h2o_buffer_consume(&sock->input, reqsize);
    w->mode = WATCH_RAW;
    w->sock = sock;
    sock->data = w;
    w->sending = false;
    h2o_socket_read_start(sock, on_raw_read);
    flush(w);
}

static void on_upgraded(void *data, h2o_socket_t *sock, size_t reqsize)
{
    api_watch_t *w = data;
    api_t *api = w->api;
    api_enter(api);
    upgraded(w, sock, reqsize);
    api_leave(api);
}

static void proceed(api_watch_t *w, h2o_req_t *req)
{
    w->sending = false;
    q_pop(w, w->n_inflight);
    w->n_inflight = 0;
    if (w->hung_up && !w->finished) {
        w->finished = true;
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    flush(w);
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    api_watch_t *w = (api_watch_t *)gen;
    api_t *api = w->api;
    api_enter(api);
    proceed(w, req);
    api_leave(api);
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)req;
    api_watch_t *w = (api_watch_t *)gen;
    api_t *api = w->api;
    api_enter(api);
    w->finished = true;
    api_leave(api);
}

/*
 * The frame of ev, encoded on its first watcher and shared by the rest: the
 * hub hands the same event to all of them in a row. The API keeps a
 * reference to the event so that its address cannot be reused by another.
 */
static api_watch_frame_t *frame_of(api_t *api, store_event_t *ev)
{
    if (api->frame_ev == ev)
        return api->frame;
    store_event_release(api->frame_ev);
    api_watch_frame_release(api->frame);
    api->frame_ev = store_event_retain(ev);
    api->frame = api_watch_frame_new(ev);
    return api->frame;
}

/* The store's callback: the event is borrowed. Queues; writes nothing. */
static void on_event(void *ctx, store_event_t *ev)
{
    api_watch_t *w = ctx;
    if (w->final_queued || w->finished)
        return;
    if (ev == NULL) {
        /* The store ended the watch (it is being freed): end the response. */
        w->sw = NULL;
        w->final_queued = true;
        schedule(w);
        return;
    }
    if (!w->stream)
        w->sw = NULL; /* the store removes a one-shot watcher after this call */
    api_watch_frame_t *f = frame_of(w->api, ev);
    if (w->stream && w->q_len > 0 && w->q_bytes + frame_size(w, f) > API_WATCH_MAX_PENDING) {
        /*
         * The reader lags: drop this event and every later one, and end the
         * stream after what is queued with an error that says where to
         * resume (the index of this event: the reader has every one before).
         */
        w->next_index = ev->etcd_index;
        char cause[96];
        snprintf(cause, sizeof(cause), "slow reader: resume with waitIndex=%llu",
                 (unsigned long long)w->next_index);
        api_buf_t line;
        api_buf_init(&line, NULL); /* owned by w (tail), freed with it */
        api_json_error(&line, STORE_E_WATCHER_CLEARED, cause, strlen(cause),
                       store_index(w->api->host.store));
        api_buf_append(&line, "\n", 1);
        w->tail = h2o_iovec_init(line.data, line.len);
        w->overflow = true;
        w->final_queued = true;
        if (w->sw != NULL) {
            /* Nothing more is wanted from the store. */
            store_watcher_remove(w->api->host.store, w->sw);
            w->sw = NULL;
        }
        schedule(w);
        return;
    }
    q_push(w, f);
    w->next_index = ev->etcd_index + 1;
    if (!w->stream)
        w->final_queued = true;
    schedule(w);
}

/*
 * The ready queue, FANOUT_BATCH watches per loop turn. The writes to
 * socket-owned watches (HTTP/1.1, nearly all of a large fan-out) are made
 * after the host's lock is left: each costs about 10 us of kernel time (the
 * loopback's receive path runs on the sender's CPU), and inside the lock
 * the loops wrote their watchers in turn, one at a time, and held up the
 * owner's next write. Outside it they write in parallel. That is safe: only
 * this loop's thread touches a watch's socket, a watch marked as sending is
 * left alone by the store's callback (schedule()), and the frames written
 * stay referenced until the write's callback, which takes the lock again.
 */
#define KICK_BUFS (FANOUT_BATCH * 4)

static void on_kick(h2o_socket_t *sock, const char *err)
{
    (void)err;
    api_t *api = sock->data;
    struct {
        api_watch_t *w;
        h2o_iovec_t *bufs;
        size_t nb;
    } out[FANOUT_BATCH];
    h2o_iovec_t bufs[KICK_BUFS];
    size_t n_out = 0, used = 0;
    api_enter(api);
    if (api->host.deliver != NULL)
        api->host.deliver(api->host.ctx); /* the writers' answers first */
    for (int i = 0; i < FANOUT_BATCH && api->ready_head != NULL; i++) {
        api_watch_t *w = api->ready_head;
        if (w->mode == WATCH_RAW && can_send(w) && used + SEND_MAX_BUFS > KICK_BUFS)
            break; /* no room for its vector: next turn */
        ready_remove(api, w);
        if (w->mode != WATCH_RAW || !can_send(w)) {
            flush(w);
            continue;
        }
        bool final;
        out[n_out].w = w;
        out[n_out].bufs = bufs + used;
        out[n_out].nb = build_send(w, bufs + used, &final);
        used += out[n_out].nb;
        n_out++;
        w->sending = true;
        w->finished = final;
    }
    if (api->ready_head == NULL && api->kicked) {
        /* Empty: drain the eventfd so that epoll stops reporting it. */
        uint64_t v;
        if (read(api->kick_fd, &v, sizeof(v)) == sizeof(v))
            api->kicked = false;
    }
    api_leave(api);
    for (size_t i = 0; i < n_out; i++)
        h2o_socket_write(out[i].w->sock, out[i].bufs, out[i].nb, on_raw_written);
}

static void on_hup(h2o_socket_t *sock, const char *err)
{
    (void)err;
    api_t *api = sock->data;
    struct epoll_event evs[64];
    int n = epoll_wait(api->hup_epfd, evs, 64, 0);
    api_enter(api);
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        api_watch_t *w = (size_t)fd < api->hup_cap ? api->hup_slots[fd].w : NULL;
        if (w == NULL) {
            /* A connection whose watch has ended: nothing to watch for now. */
            epoll_ctl(api->hup_epfd, EPOLL_CTL_DEL, fd, NULL);
            if ((size_t)fd < api->hup_cap)
                api->hup_slots[fd].in_set = false;
            continue;
        }
        hup_remove(api, w);
        if (w->req == NULL || w->finished)
            continue;
        if (w->sending) {
            w->hung_up = true; /* ended when the write in flight completes */
            continue;
        }
        /* An error state closes the HTTP/1 connection, which disposes the request. */
        ready_remove(api, w);
        w->finished = true;
        h2o_send(w->req, NULL, 0, H2O_SEND_STATE_ERROR);
    }
    api_leave(api);
}

void api_watch_init(api_t *api)
{
    api->hup_epfd = epoll_create1(EPOLL_CLOEXEC);
    api->hup_sock = NULL;
    api->hup_slots = NULL;
    api->hup_cap = 0;
    if (api->hup_epfd >= 0) {
        api->hup_sock =
            h2o_evloop_socket_create(api->loop, api->hup_epfd, H2O_SOCKET_FLAG_DONT_READ);
        api->hup_sock->data = api;
        h2o_socket_read_start(api->hup_sock, on_hup);
    }
    api->ready_head = api->ready_tail = NULL;
    api->kicked = false;
    api->frame_ev = NULL;
    api->frame = NULL;
    api->kick_sock = NULL;
    api->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (api->kick_fd < 0)
        abort(); /* no fan-out without it; only fd exhaustion at startup gets here */
    api->kick_sock = h2o_evloop_socket_create(api->loop, api->kick_fd, H2O_SOCKET_FLAG_DONT_READ);
    api->kick_sock->data = api;
    h2o_socket_read_start(api->kick_sock, on_kick);
}

void api_watch_dispose(api_t *api)
{
    /*
     * Detach pending watches: their requests are disposed with their
     * connections, possibly after the API is gone, and then touch nothing
     * but their own frames.
     */
    api_watch_t *next;
    for (api_watch_t *w = api->watches; w != NULL; w = next) {
        next = w->next;
        if (w->mode == WATCH_RAW) {
            raw_end(w, false); /* the socket is ours: close it now */
            continue;
        }
        if (w->sw != NULL) {
            store_watcher_remove(api->host.store, w->sw);
            w->sw = NULL;
        }
        hup_remove(api, w);
        ready_remove(api, w);
        w->in_list = false;
        w->api = NULL;
    }
    api->watches = NULL;
    api->metrics->watches -= api->n_watches;
    api->n_watches = 0;
    if (api->hup_sock != NULL) {
        h2o_socket_read_stop(api->hup_sock);
        h2o_socket_close(api->hup_sock); /* closes the epoll fd */
        api->hup_sock = NULL;
    }
    free(api->hup_slots);
    api->hup_slots = NULL;
    api->hup_cap = 0;
    if (api->kick_sock != NULL) {
        h2o_socket_read_stop(api->kick_sock);
        h2o_socket_close(api->kick_sock); /* closes the eventfd */
        api->kick_sock = NULL;
        api->kick_fd = -1;
    }
    store_event_release(api->frame_ev);
    api_watch_frame_release(api->frame);
    api->frame_ev = NULL;
    api->frame = NULL;
}

int api_watch_start(api_t *api, h2o_req_t *req, const api_keys_req_t *kr)
{
    api_watch_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        abort();
    watch_slot_t *slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), on_req_dispose);
    slot->w = w;
    w->gen.proceed = on_proceed;
    w->gen.stop = on_stop;
    w->api = api;
    w->req = req;
    w->fd = -1;
    w->stream = kr->stream;
    w->q = w->q_inline;
    w->q_cap = sizeof(w->q_inline) / sizeof(w->q_inline[0]);
    /* Known before any event is queued: it decides which view of a frame counts. */
    w->own_chunked = req->version == 0x101;

    uint64_t start_index = store_index(api->host.store);
    store_error_t err = {0};
    store_watcher_t *sw = NULL;
    int rc = store_watch(api->host.store, kr->key, kr->key_len, kr->recursive, kr->stream,
                         kr->wait_index, on_event, w, &sw, &err);
    if (rc != 0) {
        slot->w = NULL;
        watch_free(w);
        api_send_store_error(api, req, &err);
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
    uint64_t cluster_id, raft_index, raft_term;
    api_header_info(api, &cluster_id, &raft_index, &raft_term);
    api_add_header_u64(req, "x-raft-index", "X-Raft-Index", raft_index);
    api_add_header_u64(req, "x-raft-term", "X-Raft-Term", raft_term);
    api_metrics_count(api, API_M_GET, 200);

    w->next = api->watches;
    if (api->watches)
        api->watches->prev = w;
    api->watches = w;
    w->in_list = true;
    api->n_watches++;
    api->metrics->watches++;

    /* Not for HEAD: h2o's path is the one that keeps a HEAD answer bodiless. */
    bool takeover = w->own_chunked && !w->final_queued && kr->method == API_M_GET &&
                    req->conn->callbacks->get_socket(req->conn) != NULL;
    if (req->version < 0x200 && api->hup_epfd >= 0 && !w->final_queued && !takeover) {
        h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
        int fd = sock ? h2o_socket_get_fd(sock) : -1;
        if (fd >= 0)
            hup_add(api, w, fd);
    }

    if (w->own_chunked)
        api_add_header(req, H2O_TOKEN_TRANSFER_ENCODING, "Transfer-Encoding",
                       H2O_STRLIT("chunked"));
    if (takeover) {
        /*
         * Hand the connection's socket to the watch once the headers and the
         * first "0" of the chunk framing are out (see flush()). h2o's
         * upgrade announces "Connection: upgrade" where it would have said
         * "keep-alive"; etcd sends neither, and a client keeps the
         * connection either way.
         */
        w->mode = WATCH_UPGRADING;
        w->persistent = req->http1_is_persistent;
        w->started = true;
        w->sending = true;
        static h2o_iovec_t zero = {"0", 1};
        h2o_http1_upgrade(req, &zero, 1, on_upgraded, w);
        return 0;
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
