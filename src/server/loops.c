/*
 * --threads N: N HTTP event loops serve the clients, each on its own thread
 * with its own h2o context and api_t; the store, the raft node and the WAL
 * keep their owner thread, the server's loop. See server_int.h.
 *
 * One lock guards everything the threads share (the store and its
 * watchers, the node, the server's tables). The owner holds it whenever it
 * runs and gives it up only while it waits for events and between two loop
 * turns; an HTTP loop takes it inside every API handler and watch callback
 * (api_host_t.enter), and leaves it while it encodes and sends a GET's
 * answer, which reads only the GET's own copy of the nodes. A read thus
 * sees the store at one index, and a watch's history scan and its
 * registration happen with no write between them (v2 semantics unchanged).
 * A busy owner steps aside between turns when a loop waits for the lock.
 *
 * Answers to writes, quorum reads and membership changes are produced on
 * the owner thread; each is handed to the loop of its request through the
 * loop's mailbox (an eventfd) and sent there, since only a loop's thread
 * may touch its h2o objects. A watcher's event is queued by the owner on
 * the watch's own API, which wakes its loop (api/watch.c).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "src/server/server_int.h"

/*
 * ---- The lock: a mutex, re-entrant on one thread. ----
 *
 * Not a fair (ticket) lock: on a machine with more runnable threads than
 * cores, handing the lock in turn to a thread that is not running stalls
 * everyone behind it (a ticket lock measured 0.46x the GETs of one loop
 * here, under a load average of 20). A plain mutex lets the thread that
 * runs take it; the owner, which holds it for whole turns, steps aside
 * between turns when a loop waits (server_loops_run_owner()).
 */

static __thread unsigned lock_depth;

void server_lock_init(server_lock_t *l)
{
    pthread_mutex_init(&l->m, NULL);
    l->waiting = 0;
}

void server_lock_destroy(server_lock_t *l)
{
    pthread_mutex_destroy(&l->m);
}

void server_lock_enter(server_lock_t *l)
{
    if (lock_depth++ > 0)
        return;
    if (pthread_mutex_trylock(&l->m) == 0)
        return;
    __atomic_add_fetch(&l->waiting, 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&l->m);
    __atomic_sub_fetch(&l->waiting, 1, __ATOMIC_RELAXED);
}

void server_lock_leave(server_lock_t *l)
{
    if (--lock_depth > 0)
        return;
    pthread_mutex_unlock(&l->m);
}

static bool lock_wanted(server_lock_t *l)
{
    return __atomic_load_n(&l->waiting, __ATOMIC_RELAXED) > 0;
}

/* ---- Answers handed from the owner to a loop ---- */

enum relay_kind { RELAY_PROPOSE, RELAY_BARRIER, RELAY_MEMBER };

/* Malloc'd by the loop's host call, filled by the owner, freed by the loop. */
typedef struct relay {
    struct relay *next;
    server_loop_t *l;
    enum relay_kind kind;
    api_propose_cb propose_done;
    void (*barrier_done)(void *ctx, int rc, store_error_t *err);
    api_member_cb member_done;
    void *done_ctx;
    bool answered;
    int rc;
    store_event_t *ev; /* propose: the reference the owner handed over */
    store_error_t err; /* taken over from the owner's callback */
    /* member: a copy of the added member and of the message */
    bool has_member;
    api_member_t member;
    char *strings; /* malloc'd: name, URLs and the pointer arrays of member */
    char *message;
} relay_t;

struct server_loop {
    server_t *s;
    pthread_t thread;
    bool started;
    h2o_evloop_t *loop;
    api_t *api;
    api_host_t host;
    int mail_fd;
    h2o_socket_t *mail_sock;
    /* Inside the lock: */
    relay_t *mail_head, *mail_tail;
    bool stop;
    /* The loop's thread only: */
    bool stopping;
    bool undrained;
    h2o_timeout_t wake_timeout; /* of 0 ms: runs at the end of the loop's turn */
    h2o_timeout_entry_t wake_entry;
};

static void wake_fd(int fd)
{
    if (fd < 0)
        return; /* the loop has ended */
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof(one));
    (void)n; /* a full counter is still readable: the wakeup is not lost */
}

/* On the owner thread, inside the lock. */
static void post(relay_t *r)
{
    server_loop_t *l = r->l;
    r->answered = true;
    r->next = NULL;
    /*
     * One wakeup per batch: a mailbox that is not empty has had its wakeup
     * written and not yet taken (on_mail() takes the whole list inside the
     * lock after reading the eventfd). strace counted one write a PUT here.
     */
    if (l->mail_tail != NULL) {
        l->mail_tail->next = r;
        l->mail_tail = r;
        return;
    }
    l->mail_head = l->mail_tail = r;
    wake_fd(l->mail_fd);
}

static void relay_free(relay_t *r)
{
    store_event_release(r->ev);
    store_error_clear(&r->err);
    free(r->strings);
    free(r->message);
    free(r);
}

/* Runs the loop-side callback; the loop holds the lock. */
static void deliver(relay_t *r)
{
    switch (r->kind) {
    case RELAY_PROPOSE:
        r->propose_done(r->done_ctx, r->rc, r->ev, r->rc != 0 ? &r->err : NULL);
        r->ev = NULL; /* the callee releases it */
        break;
    case RELAY_BARRIER:
        r->barrier_done(r->done_ctx, r->rc, r->rc != 0 ? &r->err : NULL);
        break;
    case RELAY_MEMBER:
        r->member_done(r->done_ctx, r->rc, r->has_member ? &r->member : NULL, r->message);
        break;
    }
    relay_free(r);
}

static void take_error(relay_t *r, int rc, store_error_t *err)
{
    if (rc != 0 && err != NULL) {
        r->err = *err; /* the callee clears it: this one takes it over */
        memset(err, 0, sizeof(*err));
    }
}

static void relay_proposed(void *ctx, int rc, store_event_t *ev, store_error_t *err)
{
    relay_t *r = ctx;
    r->rc = rc;
    r->ev = ev;
    take_error(r, rc, err);
    post(r);
}

static void relay_barrier(void *ctx, int rc, store_error_t *err)
{
    relay_t *r = ctx;
    r->rc = rc;
    take_error(r, rc, err);
    post(r);
}

/* m and message are borrowed for the call: copied into one block. */
static void relay_member(void *ctx, int rc, const api_member_t *m, const char *message)
{
    relay_t *r = ctx;
    r->rc = rc;
    if (message != NULL && (r->message = strdup(message)) == NULL)
        abort();
    if (m != NULL) {
        size_t n_ptrs = m->n_peer_urls + m->n_client_urls;
        size_t size = n_ptrs * sizeof(char *) + strlen(m->name ? m->name : "") + 1;
        for (size_t i = 0; i < m->n_peer_urls; i++)
            size += strlen(m->peer_urls[i]) + 1;
        for (size_t i = 0; i < m->n_client_urls; i++)
            size += strlen(m->client_urls[i]) + 1;
        char *block = malloc(size);
        if (block == NULL)
            abort();
        const char **ptrs = (const char **)block;
        char *next = block + n_ptrs * sizeof(char *);
#define COPY_STR(dst, src)                                                                         \
    do {                                                                                           \
        size_t len_ = strlen(src) + 1;                                                             \
        memcpy(next, (src), len_);                                                                 \
        (dst) = next;                                                                              \
        next += len_;                                                                              \
    } while (0)
        r->member = (api_member_t){.id = m->id,
                                   .peer_urls = ptrs,
                                   .n_peer_urls = m->n_peer_urls,
                                   .client_urls = ptrs + m->n_peer_urls,
                                   .n_client_urls = m->n_client_urls};
        COPY_STR(r->member.name, m->name ? m->name : "");
        for (size_t i = 0; i < m->n_peer_urls; i++)
            COPY_STR(ptrs[i], m->peer_urls[i]);
        for (size_t i = 0; i < m->n_client_urls; i++)
            COPY_STR(ptrs[m->n_peer_urls + i], m->client_urls[i]);
#undef COPY_STR
        r->strings = block;
        r->has_member = true;
    }
    post(r);
}

static relay_t *relay_new(server_loop_t *l, enum relay_kind kind, void *done_ctx)
{
    relay_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    r->l = l;
    r->kind = kind;
    r->done_ctx = done_ctx;
    return r;
}

/* ---- The host of a loop's API: the server's, answered through the mailbox. ---- */

/*
 * The owner runs node_process() after its turn: wake it for what a loop
 * proposed, once until it has read the wakeup. The flag is atomic: the
 * loops set it outside the lock, the owner clears it inside its turn,
 * before node_process() takes what was proposed before the turn began.
 */
static void wake_owner(server_t *s)
{
    if (__atomic_exchange_n(&s->owner_woken, true, __ATOMIC_ACQ_REL))
        return;
    wake_fd(s->owner_wake_fd);
}

static void on_wake_owner(h2o_timeout_entry_t *entry)
{
    server_loop_t *l = H2O_STRUCT_FROM_MEMBER(server_loop_t, wake_entry, entry);
    wake_owner(l->s);
}

/*
 * The owner is woken once the loop has handled every request its last
 * poll returned (a timeout of 0 runs at the end of h2o's turn), not at the
 * first proposal: woken at once, the owner took the lock for its turn
 * while the loop was still reading the requests after it, and the loop
 * then slept on the lock for each of them (futex wait and wake, two
 * thread switches).
 */
static void wake_owner_after_turn(server_loop_t *l)
{
    if (!h2o_timeout_is_linked(&l->wake_entry))
        h2o_timeout_link(l->loop, &l->wake_timeout, &l->wake_entry);
}

static int loop_propose(void *ctx, const store_request_t *req, api_propose_cb done, void *done_ctx,
                        store_error_t *err)
{
    server_loop_t *l = ctx;
    relay_t *r = relay_new(l, RELAY_PROPOSE, done_ctx);
    r->propose_done = done;
    int rc = l->s->host.propose(l->s->host.ctx, req, relay_proposed, r, err);
    if (rc != 0)
        free(r);
    wake_owner_after_turn(l);
    return rc;
}

static int loop_read_barrier(void *ctx, void (*done)(void *done_ctx, int rc, store_error_t *err),
                             void *done_ctx, store_error_t *err)
{
    server_loop_t *l = ctx;
    relay_t *r = relay_new(l, RELAY_BARRIER, done_ctx);
    r->barrier_done = done;
    int rc = l->s->host.read_barrier(l->s->host.ctx, relay_barrier, r, err);
    if (rc != 0)
        free(r);
    wake_owner_after_turn(l);
    return rc;
}

static int loop_member_change(void *ctx, const api_member_change_t *ch, api_member_cb done,
                              void *done_ctx)
{
    server_loop_t *l = ctx;
    relay_t *r = relay_new(l, RELAY_MEMBER, done_ctx);
    r->member_done = done;
    int rc = l->s->host.member_change(l->s->host.ctx, ch, relay_member, r);
    if (rc != 0)
        free(r);
    wake_owner_after_turn(l);
    return rc;
}

static void loop_server_info(void *ctx, api_server_info_t *out)
{
    server_loop_t *l = ctx;
    l->s->host.server_info(l->s->host.ctx, out);
}

static void loop_header_info(void *ctx, uint64_t *cluster_id, uint64_t *raft_index,
                             uint64_t *raft_term)
{
    server_loop_t *l = ctx;
    l->s->host.header_info(l->s->host.ctx, cluster_id, raft_index, raft_term);
}

static void loop_enter(void *ctx)
{
    server_loop_t *l = ctx;
    server_lock_enter(&l->s->lock);
}

static void loop_leave(void *ctx)
{
    server_loop_t *l = ctx;
    server_lock_leave(&l->s->lock);
}

/*
 * The answers in the mailbox, each inside the lock (it may read the store
 * or the node), which the caller holds. The mailbox's eventfd may stay
 * readable: on_mail() then finds it empty.
 */
static void loop_deliver(void *ctx)
{
    server_loop_t *l = ctx;
    relay_t *r = l->mail_head;
    l->mail_head = l->mail_tail = NULL;
    while (r != NULL) {
        relay_t *next = r->next;
        deliver(r);
        r = next;
    }
}

/* ---- A loop's thread ---- */

/* The mailbox: answers from the owner, and the order to stop. */
static void on_mail(h2o_socket_t *sock, const char *err)
{
    (void)err;
    server_loop_t *l = sock->data;
    uint64_t v;
    ssize_t n = read(l->mail_fd, &v, sizeof(v));
    (void)n;
    server_lock_enter(&l->s->lock);
    if (l->stop)
        l->stopping = true;
    loop_deliver(l);
    server_lock_leave(&l->s->lock);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Frees every block parked in one of h2o's recycle bins (each starts with its link). */
static void free_bin(h2o_mem_recycle_t *bin)
{
    struct recycled {
        struct recycled *next;
    };
    for (struct recycled *c = (struct recycled *)bin->_link, *next; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    bin->_link = NULL;
    bin->cnt = 0;
}

/*
 * The HTTP/2 write buffers' prototype, a static thread-local of h2o 2.2.5
 * (lib/http2/connection.c): the library's thread-local block is the pool
 * chunks' bin, h2o_socket_buffer_prototype, then this one. Trusted only if
 * it looks like it (a bin of 16, buffers of H2O_HTTP2_DEFAULT_OUTBUF_SIZE,
 * 80 KiB); NULL otherwise, and the sanitizer build then reports the bin.
 */
static h2o_buffer_prototype_t *http2_wbuf_prototype(void)
{
    /* Through an integer: the compiler would otherwise see one object only. */
    volatile uintptr_t next = (uintptr_t)(&h2o_socket_buffer_prototype + 1);
    h2o_buffer_prototype_t *p = (h2o_buffer_prototype_t *)next;
    if (p->allocator.max != 16 || p->_initial_buf.capacity != 81920 ||
        p->_initial_buf.bytes != NULL || p->allocator.cnt > p->allocator.max)
        return NULL;
    return p;
}

/*
 * h2o 2.2.5 keeps freed pool chunks and buffers for reuse in per-thread
 * recycle bins (lib/common/memory.c, socket.c, http2/connection.c), which
 * a thread that ends leaves behind. The socket and HTTP/2 write buffers'
 * bins are reachable; the chunks' bin is emptied by taking more chunks
 * than it holds (16) through a pool and freeing them here. Runs at the end
 * of a loop's thread, once its connections are all disposed.
 */
static void release_thread_caches(void)
{
    free_bin(&h2o_socket_buffer_prototype.allocator);
    h2o_buffer_prototype_t *wbuf = http2_wbuf_prototype();
    if (wbuf != NULL)
        free_bin(&wbuf->allocator);
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    for (int i = 0; i < 32 * 8; i++)
        h2o_mem_alloc_pool(&pool, 400); /* small: from chunks, about 8 a chunk */
    /* The chunks are linked as the bins' blocks are: free them as one bin. */
    h2o_mem_recycle_t chunks = {.max = 0, .cnt = 0, ._link = (void *)pool.chunks};
    pool.chunks = NULL;
    h2o_mem_clear_pool(&pool);
    free_bin(&chunks);
}

/* Runs what the loop's last sockets left, then frees the loop. */
static void loop_destroy(server_loop_t *l)
{
    h2o_evloop_run(l->loop, 0);
    if (h2o_timeout_is_linked(&l->wake_entry))
        h2o_timeout_unlink(&l->wake_entry);
    h2o_timeout_dispose(l->loop, &l->wake_timeout);
    h2o_evloop_destroy(l->loop);
    l->loop = NULL;
}

static void *loop_main(void *arg)
{
    server_loop_t *l = arg;
    while (!l->stopping)
        h2o_evloop_run(l->loop, INT32_MAX);
    /* As the owner's drain(): end every connection, at most 3 s. */
    api_shutdown(l->api);
    int64_t start = mono_ms();
    while (api_connection_count(l->api) > 0) {
        if (mono_ms() - start >= 3000) {
            log_line('W', "etcdserver", "%zu client connections still open at exit",
                     api_connection_count(l->api));
            l->undrained = true;
            break;
        }
        h2o_evloop_run(l->loop, 20);
    }
    server_lock_enter(&l->s->lock);
    l->mail_fd = -1; /* closed with mail_sock below: the owner posts nothing more */
    if (!l->undrained) {
        api_free(l->api); /* removes its watchers from the store */
        l->api = NULL;
    }
    server_lock_leave(&l->s->lock);
    if (!l->undrained) {
        /* The loop's last sockets go now, on this thread, then h2o's caches. */
        h2o_socket_read_stop(l->mail_sock);
        h2o_socket_close(l->mail_sock);
        l->mail_sock = NULL;
        loop_destroy(l);
        release_thread_caches();
    }
    return NULL;
}

/* ---- The owner ---- */

static void on_owner_wake(h2o_socket_t *sock, const char *err)
{
    (void)err;
    server_t *s = sock->data;
    /*
     * Read, then clear: a loop that finds the flag still set after the
     * read writes nothing, and what it proposed is taken by the
     * node_process() of this turn. Cleared first, a loop could set it and
     * write between the two steps, the read would swallow that write, and
     * the flag would stay set with the eventfd empty: no loop would wake
     * the owner again, which then ran only on its ticks and WAL syncs (a
     * write load fell from 22,000/s to 3,000/s for good).
     */
    uint64_t v;
    ssize_t n = read(s->owner_wake_fd, &v, sizeof(v));
    (void)n; /* the turn that follows runs node_process() */
    node_test_point(s->node, "owner-wake");
    __atomic_store_n(&s->owner_woken, false, __ATOMIC_RELEASE); /* see wake_owner() */
}

/*
 * The epoll instance behind h2o's loop, to wait on it outside the lock:
 * h2o 2.2.5's epoll loop is its public part followed by the epoll fd
 * (lib/common/socket/evloop/epoll.c.h). Checked to be an epoll instance
 * before it is trusted; -1 otherwise.
 */
static int loop_epoll_fd(h2o_evloop_t *loop)
{
    struct evloop_epoll {
        h2o_evloop_t super;
        int ep;
    };
    int fd = ((struct evloop_epoll *)loop)->ep;
    char path[64], target[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n <= 0)
        return -1;
    target[n] = '\0';
    return strcmp(target, "anon_inode:[eventpoll]") == 0 ? fd : -1;
}

int server_loops_create(server_t *s, unsigned n, const int *fds, void *const *ssl_ctx, size_t n_fds,
                        char *err, size_t err_len)
{
    s->owner_epoll_fd = loop_epoll_fd(s->loop);
    if (s->owner_epoll_fd < 0) {
        snprintf(err, err_len, "--threads: cannot find the event loop's epoll instance");
        return -1;
    }
    server_lock_init(&s->lock);
    s->lock_ready = true;
    s->owner_wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->owner_wake_fd < 0) {
        snprintf(err, err_len, "--threads: eventfd: %s", strerror(errno));
        return -1;
    }
    s->owner_wake_sock =
        h2o_evloop_socket_create(s->loop, s->owner_wake_fd, H2O_SOCKET_FLAG_DONT_READ);
    s->owner_wake_sock->data = s;
    h2o_socket_read_start(s->owner_wake_sock, on_owner_wake);
    s->loops = calloc(n, sizeof(*s->loops));
    if (s->loops == NULL)
        abort();
    for (unsigned i = 0; i < n; i++) {
        server_loop_t *l = calloc(1, sizeof(*l));
        if (l == NULL)
            abort();
        s->loops[s->n_loops++] = l;
        l->s = s;
        l->loop = h2o_evloop_create();
        h2o_timeout_init(l->loop, &l->wake_timeout, 0);
        l->wake_entry = (h2o_timeout_entry_t){.cb = on_wake_owner};
        l->host = (api_host_t){.ctx = l,
                               .store = s->store,
                               .propose = loop_propose,
                               .server_info = loop_server_info,
                               .header_info = s->host.header_info ? loop_header_info : NULL,
                               .read_barrier = s->host.read_barrier ? loop_read_barrier : NULL,
                               .member_change = s->host.member_change ? loop_member_change : NULL,
                               .enter = loop_enter,
                               .leave = loop_leave,
                               .deliver = loop_deliver};
        l->api = api_new_sibling(l->loop, s->api, &l->host);
        l->mail_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (l->api == NULL || l->mail_fd < 0) {
            snprintf(err, err_len, "--threads: cannot create HTTP loop %u", i + 1);
            return -1;
        }
        l->mail_sock = h2o_evloop_socket_create(l->loop, l->mail_fd, H2O_SOCKET_FLAG_DONT_READ);
        l->mail_sock->data = l;
        h2o_socket_read_start(l->mail_sock, on_mail);
        /* Every loop accepts on every client listener (its own descriptor). */
        for (size_t k = 0; k < n_fds; k++) {
            int fd = dup(fds[k]);
            if (fd < 0 || api_listen_tls(l->api, fd, ssl_ctx[k]) != 0) {
                if (fd >= 0)
                    close(fd);
                snprintf(err, err_len, "--threads: cannot listen on loop %u", i + 1);
                return -1;
            }
        }
    }
    return 0;
}

static void stop_and_join(server_t *s);

int server_loops_start(server_t *s, char *err, size_t err_len)
{
    for (size_t i = 0; i < s->n_loops; i++) {
        server_loop_t *l = s->loops[i];
        int rc = pthread_create(&l->thread, NULL, loop_main, l);
        if (rc != 0) {
            snprintf(err, err_len, "--threads: pthread_create: %s", strerror(rc));
            stop_and_join(s); /* the ones started */
            return -1;
        }
        l->started = true;
    }
    return 0;
}

/* Orders every loop to stop and joins the started ones; the caller does not hold the lock. */
static void stop_and_join(server_t *s)
{
    server_lock_enter(&s->lock);
    for (size_t i = 0; i < s->n_loops; i++) {
        s->loops[i]->stop = true;
        wake_fd(s->loops[i]->mail_fd);
    }
    server_lock_leave(&s->lock);
    for (size_t i = 0; i < s->n_loops; i++) {
        server_loop_t *l = s->loops[i];
        if (l->started) {
            pthread_join(l->thread, NULL);
            l->started = false;
        }
    }
}

/* Called by the owner with the lock held once (depth 1); returns the same way. */
void server_loops_stop(server_t *s)
{
    server_lock_leave(&s->lock);
    stop_and_join(s);
    server_lock_enter(&s->lock);
}

void server_loops_free(server_t *s)
{
    for (size_t i = 0; i < s->n_loops; i++) {
        server_loop_t *l = s->loops[i];
        if (l->started) /* a start that failed half way: stop the rest first */
            continue;
        /* Answers nobody took (the loop stopped first) are dropped. */
        for (relay_t *r = l->mail_head, *next; r != NULL; r = next) {
            next = r->next;
            relay_free(r);
        }
        if (l->undrained)
            continue; /* h2o cannot dispose a context with connections open */
        if (l->api != NULL)
            api_free(l->api);
        if (l->mail_sock != NULL) {
            h2o_socket_read_stop(l->mail_sock);
            h2o_socket_close(l->mail_sock);
        }
        if (l->loop != NULL)
            loop_destroy(l);
        free(l);
    }
    free(s->loops);
    s->loops = NULL;
    s->n_loops = 0;
    if (s->owner_wake_sock != NULL) {
        h2o_socket_read_stop(s->owner_wake_sock);
        h2o_socket_close(s->owner_wake_sock);
        s->owner_wake_sock = NULL;
    }
    if (s->lock_ready) {
        server_lock_destroy(&s->lock);
        s->lock_ready = false;
    }
}

/*
 * The owner's turn with loops beside it: h2o's loop runs without waiting,
 * node_process() hands the turn's work to the WAL, and the wait for the
 * next events happens outside the lock, on the loop's epoll instance. h2o
 * keeps sockets whose registration changed in a list it applies at the
 * start of a run: with any there, the next turn starts at once, since the
 * epoll instance does not know of them yet. Timers bound the wait.
 */
void server_loops_run_owner(server_t *s)
{
    server_lock_enter(&s->lock);
    while (!s->stopping) {
        h2o_evloop_run(s->loop, 0);
        server_turn_done(s);
        int wait = 0;
        if (s->loop->_statechanged.head == NULL) {
            uint64_t wake = h2o_timeout_get_wake_at(&s->loop->_timeouts), now = h2o_now(s->loop);
            wait = wake <= now ? 0 : wake - now > INT_MAX ? INT_MAX : (int)(wake - now);
        }
        server_lock_leave(&s->lock);
        if (wait != 0) {
            struct pollfd p = {.fd = s->owner_epoll_fd, .events = POLLIN};
            poll(&p, 1, wait); /* EINTR: the signal's self-pipe is then readable */
        } else if (lock_wanted(&s->lock)) {
            sched_yield(); /* a loop waits: let it take the lock first */
        }
        server_lock_enter(&s->lock);
    }
}
