/*
 * The load itself: worker threads, each with an epoll set of keep-alive
 * HTTP/1.1 connections. Every connection has at most one request in flight
 * (no pipelining), like wrk and etcd's own benchmark tool.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- targets ---- */

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr)) {
            return true;
        }
        /* ::ffff:127.x.y.z */
        return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && sin6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

int bench_target_parse(bench_target_t *t, const char *url, char *err, size_t err_len)
{
    memset(t, 0, sizeof(*t));
    const char *p = url;
    if (strncmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strncmp(p, "https://", 8) == 0) {
        p += 8;
        t->tls = true;
    } else if (strstr(p, "://") != NULL) {
        snprintf(err, err_len, "%s: only http:// and https:// endpoints are supported", url);
        return -1;
    }
    char host[200];
    const char *port = t->tls ? "443" : "80";
    const char *rest;
    size_t hl;
    if (*p == '[') {
        const char *end = strchr(p, ']');
        if (end == NULL) {
            snprintf(err, err_len, "%s: missing ']'", url);
            return -1;
        }
        hl = (size_t)(end - p - 1);
        if (hl >= sizeof(host)) {
            snprintf(err, err_len, "%s: host too long", url);
            return -1;
        }
        memcpy(host, p + 1, hl);
        rest = end + 1;
    } else {
        hl = strcspn(p, ":/");
        if (hl >= sizeof(host)) {
            snprintf(err, err_len, "%s: host too long", url);
            return -1;
        }
        memcpy(host, p, hl);
        rest = p + hl;
    }
    host[hl] = '\0';
    snprintf(t->host, sizeof(t->host), "%s", host);
    char portbuf[8];
    if (*rest == ':') {
        size_t pl = strcspn(rest + 1, "/");
        if (pl == 0 || pl >= sizeof(portbuf)) {
            snprintf(err, err_len, "%s: bad port", url);
            return -1;
        }
        memcpy(portbuf, rest + 1, pl);
        portbuf[pl] = '\0';
        port = portbuf;
    }
    if (hl == 0) {
        snprintf(err, err_len, "%s: missing host", url);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ais = NULL;
    int rc = getaddrinfo(host, port, &hints, &ais);
    if (rc != 0) {
        snprintf(err, err_len, "%s: %s", url, gai_strerror(rc));
        return -1;
    }
    /* Every address must be loopback: this tool must never load a machine
     * other than the one it runs on. */
    for (struct addrinfo *ai = ais; ai != NULL; ai = ai->ai_next) {
        if (!is_loopback(ai->ai_addr)) {
            freeaddrinfo(ais);
            snprintf(err, err_len,
                     "refusing %s: it is not a loopback address (metcd-bench only loads "
                     "127.0.0.0/8 and ::1)",
                     url);
            return -1;
        }
    }
    memcpy(&t->addr, ais->ai_addr, ais->ai_addrlen);
    t->addr_len = ais->ai_addrlen;
    freeaddrinfo(ais);
    snprintf(t->url, sizeof(t->url), "%s", url);
    size_t ul = strlen(t->url);
    while (ul > 0 && t->url[ul - 1] == '/') {
        t->url[--ul] = '\0';
    }
    snprintf(t->host_header, sizeof(t->host_header), "%s%s%s:%s", strchr(host, ':') ? "[" : "",
             host, strchr(host, ':') ? "]" : "", port);
    return 0;
}

/* ---- HTTP response framing ---- */

/*
 * Looks for one complete response at the start of buf. Returns its total
 * length (headers + body) with *status set, 0 when more bytes are needed,
 * -1 on bad framing. *close_after is set for "Connection: close".
 */
static long parse_response(const char *buf, size_t len, int *status, bool *close_after)
{
    const char *eoh = memmem(buf, len, "\r\n\r\n", 4);
    if (eoh == NULL) {
        return len > 65536 ? -1 : 0;
    }
    size_t head = (size_t)(eoh - buf) + 4;
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0) {
        return -1;
    }
    *status = atoi(buf + 9);
    long long content_len = -1;
    bool chunked = false;
    *close_after = false;
    for (const char *line = memchr(buf, '\n', head) + 1; line < eoh;) {
        const char *next = memchr(line, '\n', (size_t)(eoh + 2 - line));
        if (next == NULL) {
            break;
        }
        if (strncasecmp(line, "content-length:", 15) == 0) {
            content_len = strtoll(line + 15, NULL, 10);
        } else if (strncasecmp(line, "transfer-encoding:", 18) == 0) {
            chunked = memmem(line, (size_t)(next - line), "chunked", 7) != NULL;
        } else if (strncasecmp(line, "connection:", 11) == 0) {
            *close_after = memmem(line, (size_t)(next - line), "close", 5) != NULL;
        }
        line = next + 1;
    }
    if (*status == 204 || *status == 304 || (*status >= 100 && *status < 200)) {
        return (long)head;
    }
    if (chunked) {
        size_t pos = head;
        for (;;) {
            const char *eol = memmem(buf + pos, len - pos, "\r\n", 2);
            if (eol == NULL) {
                return 0;
            }
            char *end;
            unsigned long size = strtoul(buf + pos, &end, 16);
            if (end == buf + pos) {
                return -1;
            }
            pos = (size_t)(eol - buf) + 2;
            if (size == 0) {
                /* no trailers from etcd: just the final CRLF */
                if (len - pos < 2) {
                    return 0;
                }
                return (long)(pos + 2);
            }
            if (len - pos < size + 2) {
                return 0;
            }
            pos += size + 2;
        }
    }
    if (content_len < 0) {
        return -1; /* read-until-close bodies do not fit keep-alive */
    }
    if (len - head < (size_t)content_len) {
        return 0;
    }
    return (long)(head + (size_t)content_len);
}

/* ---- connections ---- */

enum conn_role { ROLE_NORMAL, ROLE_WATCHER };

typedef struct conn {
    int fd;
    SSL *ssl; /* https:// targets: the TLS connection on fd */
    const bench_target_t *target;
    enum conn_role role;
    char *out;
    size_t out_len, out_off;
    char *in;
    size_t in_len, in_cap;
    uint64_t started_ns;
    bool is_write, connecting;
    uint64_t next_wait_index;
    int lock_held;       /* lock: -1, or the key this connection created and must delete */
    unsigned lock_asked; /* lock: the key of the create in flight */
} conn_t;

typedef struct worker {
    pthread_t thread;
    const bench_config_t *cfg;
    const bench_target_t *targets;
    size_t n_targets;
    unsigned first_conn, n_conns;
    conn_t *conns;
    int epfd;
    uint64_t rng;
    uint64_t deadline_ns;
    uint64_t *global_requests; /* shared counter for --requests */
    uint64_t *next_key;        /* fill: the next key to write, shared */
    unsigned *finished;        /* workers done, for the progress line */
    /* results */
    uint32_t *lat_us;
    size_t n_lat, cap_lat;
    uint64_t requests, errors, writes, events, resyncs, lat_max_us;
    double lat_sum_us;
    char first_error[256];
    char *value; /* value_size bytes of 'x', form-ready */
} worker_t;

static uint64_t next_rand(worker_t *w)
{
    /* xorshift64* */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 2685821657736338717ull;
}

static void note_error(worker_t *w, const char *fmt, const char *arg)
{
    w->errors++;
    if (w->first_error[0] == '\0') {
        snprintf(w->first_error, sizeof(w->first_error), fmt, arg);
    }
}

static int conn_open(worker_t *w, conn_t *c)
{
    c->fd = socket(c->target->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        note_error(w, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->connecting = false;
    if (connect(c->fd, (const struct sockaddr *)&c->target->addr, c->target->addr_len) < 0) {
        if (errno != EINPROGRESS) {
            note_error(w, "connect: %s", strerror(errno));
            close(c->fd);
            c->fd = -1;
            return -1;
        }
        c->connecting = true;
    }
    c->ssl = c->target->tls ? bench_tls_new(c->target, c->fd) : NULL;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

static void conn_close(worker_t *w, conn_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        SSL_free(c->ssl);
        c->ssl = NULL;
        close(c->fd);
        c->fd = -1;
    }
    c->in_len = 0;
    c->out_len = c->out_off = 0;
}

/*
 * Builds the next request of this connection into c->out (malloc'd, owned
 * by the connection: replaced here, freed by bench_run()). Returns 0, 1 when
 * a fill has no key left to write, -1 when out of memory.
 */
static int build_request(worker_t *w, conn_t *c)
{
    const bench_config_t *cfg = w->cfg;
    unsigned key = (unsigned)(next_rand(w) % cfg->keys);
    bool write;
    if (cfg->op == BENCH_FILL) {
        uint64_t k = __atomic_fetch_add(w->next_key, 1, __ATOMIC_RELAXED);
        if (k >= cfg->keys) {
            return 1;
        }
        key = (unsigned)k;
    }
    if (c->role == ROLE_WATCHER) {
        write = false;
    } else if (cfg->op == BENCH_PUT || cfg->op == BENCH_WATCH || cfg->op == BENCH_FILL ||
               cfg->op == BENCH_LOCK) {
        write = true;
    } else if (cfg->op == BENCH_MIXED || cfg->op == BENCH_LIST) {
        write = next_rand(w) % 100 < cfg->write_percent;
    } else {
        write = false;
    }
    free(c->out);
    c->out = NULL;
    int n;
    if (c->role == ROLE_WATCHER) {
        /* A recursive long poll on the prefix: every write wakes one of them. */
        if (c->next_wait_index > 0) {
            n = asprintf(&c->out,
                         "GET /v2/keys%s?wait=true&recursive=true&waitIndex=%llu HTTP/1.1\r\n"
                         "Host: %s\r\n\r\n",
                         cfg->prefix, (unsigned long long)c->next_wait_index,
                         c->target->host_header);
        } else {
            n = asprintf(&c->out,
                         "GET /v2/keys%s?wait=true&recursive=true HTTP/1.1\r\nHost: %s\r\n\r\n",
                         cfg->prefix, c->target->host_header);
        }
    } else if (cfg->op == BENCH_LOCK && c->lock_held >= 0) {
        /* Release the lock this connection holds. */
        n = asprintf(&c->out, "DELETE /v2/keys%s-locks/k%d HTTP/1.1\r\nHost: %s\r\n\r\n",
                     cfg->prefix, c->lock_held, c->target->host_header);
    } else if (cfg->op == BENCH_LOCK) {
        /* Take a lock: create the key only if nobody holds it. */
        c->lock_asked = key;
        n = asprintf(&c->out,
                     "PUT /v2/keys%s-locks/k%u?prevExist=false HTTP/1.1\r\nHost: %s\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n"
                     "Content-Length: %u\r\n\r\nvalue=%s",
                     cfg->prefix, key, c->target->host_header, cfg->value_size + 6, w->value);
    } else if (cfg->op == BENCH_LIST && !write) {
        n = asprintf(&c->out, "GET /v2/keys%s HTTP/1.1\r\nHost: %s\r\n\r\n", cfg->prefix,
                     c->target->host_header);
    } else if (write) {
        n = asprintf(&c->out,
                     "PUT /v2/keys%s/k%u HTTP/1.1\r\nHost: %s\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n"
                     "Content-Length: %u\r\n\r\nvalue=%s",
                     cfg->prefix, key, c->target->host_header, cfg->value_size + 6, w->value);
    } else {
        n = asprintf(&c->out, "GET /v2/keys%s/k%u HTTP/1.1\r\nHost: %s\r\n\r\n", cfg->prefix, key,
                     c->target->host_header);
    }
    if (n < 0) {
        c->out = NULL;
        return -1;
    }
    c->out_len = (size_t)n;
    c->out_off = 0;
    c->is_write = write;
    c->started_ns = now_ns();
    return 0;
}

/* Appends a sample to w->lat_us (owned by the worker, freed by bench_run()). */
static void record_latency(worker_t *w, uint64_t ns)
{
    uint64_t us = ns / 1000;
    if (us > w->lat_max_us) {
        w->lat_max_us = us;
    }
    w->lat_sum_us += (double)us;
    if (w->n_lat == w->cap_lat) {
        size_t cap = w->cap_lat ? w->cap_lat * 2 : 65536;
        if (cap > BENCH_MAX_SAMPLES / BENCH_MAX_THREADS) {
            return; /* keep max and mean; the percentiles use the samples kept */
        }
        uint32_t *nl = realloc(w->lat_us, cap * sizeof(*nl));
        if (nl == NULL) {
            return;
        }
        w->lat_us = nl;
        w->cap_lat = cap;
    }
    w->lat_us[w->n_lat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* Extracts "modifiedIndex":N from a watch event body (the node's comes first). */
static uint64_t event_index(const char *buf, size_t len)
{
    const char *p = memmem(buf, len, "\"modifiedIndex\":", 16);
    return p != NULL ? strtoull(p + 16, NULL, 10) : 0;
}

static bool budget_left(worker_t *w)
{
    if (w->cfg->max_requests == 0) {
        return true;
    }
    return __atomic_load_n(w->global_requests, __ATOMIC_RELAXED) < w->cfg->max_requests;
}

/* Drives one connection as far as it can go without blocking. */
static void conn_step(worker_t *w, conn_t *c)
{
    for (;;) {
        if (c->fd < 0) {
            return;
        }
        if (c->out_off < c->out_len) {
            if (c->out_off == 0) {
                /* The clock starts when the first byte leaves, so a
                 * connection still being set up does not count. */
                c->started_ns = now_ns();
            }
            ssize_t n = bench_io(c->fd, c->ssl, c->out + c->out_off, c->out_len - c->out_off, true);
            if (n < 0) {
                if (errno == EAGAIN || errno == ENOTCONN) {
                    return;
                }
                note_error(w, "send: %s", strerror(errno));
                conn_close(w, c);
                return;
            }
            c->out_off += (size_t)n;
            continue;
        }
        if (c->in_cap - c->in_len < 4096) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 16384;
            char *ni = realloc(c->in, cap);
            if (ni == NULL) {
                note_error(w, "%s", "out of memory");
                conn_close(w, c);
                return;
            }
            c->in = ni;
            c->in_cap = cap;
        }
        ssize_t n = bench_io(c->fd, c->ssl, c->in + c->in_len, c->in_cap - c->in_len, false);
        if (n < 0) {
            if (errno == EAGAIN) {
                return;
            }
            note_error(w, "recv: %s", strerror(errno));
            conn_close(w, c);
            return;
        }
        if (n == 0) {
            note_error(w, "%s", "connection closed by the server");
            conn_close(w, c);
            return;
        }
        c->in_len += (size_t)n;
        int status = 0;
        bool close_after = false;
        long used = parse_response(c->in, c->in_len, &status, &close_after);
        if (used < 0) {
            note_error(w, "%s", "malformed HTTP response");
            conn_close(w, c);
            return;
        }
        if (used == 0) {
            continue;
        }
        uint64_t t = now_ns();
        /* 412: the lock is held by another connection, the recipe's normal
         * "try again" answer. */
        bool lock_busy = w->cfg->op == BENCH_LOCK && status == 412;
        if (w->cfg->op == BENCH_LOCK) {
            c->lock_held = c->lock_held < 0 && status == 201 ? (int)c->lock_asked : -1;
        }
        if (t < w->deadline_ns) {
            if ((status >= 200 && status < 300) || lock_busy) {
                if (c->role == ROLE_WATCHER) {
                    w->events++;
                    uint64_t idx = event_index(c->in, (size_t)used);
                    c->next_wait_index = idx > 0 ? idx + 1 : 0;
                } else {
                    record_latency(w, t - c->started_ns);
                    w->requests++;
                    w->writes += c->is_write;
                    __atomic_add_fetch(w->global_requests, 1, __ATOMIC_RELAXED);
                }
            } else if (c->role == ROLE_WATCHER && status == 400) {
                /* 401: the watcher fell more than the history window
                 * behind the writers; like a real client, start again
                 * from the current index. Not an error of the server. */
                w->resyncs++;
                c->next_wait_index = 0;
            } else {
                /* The status and the start of the body (the v2 error's
                 * cause says why), so that a failed run can be explained. */
                char st[200];
                const char *body = memmem(c->in, (size_t)used, "\r\n\r\n", 4);
                int blen = body ? (int)((c->in + used) - (body + 4)) : 0;
                snprintf(st, sizeof(st), "%d %.*s", status, blen > 160 ? 160 : blen,
                         body ? body + 4 : "");
                note_error(w, "HTTP status %s", st);
                if (c->role == ROLE_WATCHER) {
                    c->next_wait_index = 0; /* e.g. 401: start again from now */
                }
            }
        }
        memmove(c->in, c->in + used, c->in_len - (size_t)used);
        c->in_len -= (size_t)used;
        if (close_after) {
            conn_close(w, c);
            return;
        }
        if (t >= w->deadline_ns || !budget_left(w) || build_request(w, c) != 0) {
            c->out_len = c->out_off = 0;
            return;
        }
    }
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (w->epfd < 0) {
        note_error(w, "epoll_create1: %s", strerror(errno));
        return NULL;
    }
    for (unsigned i = 0; i < w->n_conns; i++) {
        conn_t *c = &w->conns[i];
        if (conn_open(w, c) == 0 && build_request(w, c) == 0) {
            conn_step(w, c);
        }
    }
    bool fill = w->cfg->op == BENCH_FILL;
    struct epoll_event evs[256];
    uint64_t last_retry = now_ns();
    for (;;) {
        uint64_t t = now_ns();
        if (t >= w->deadline_ns || !budget_left(w)) {
            break;
        }
        if (fill && __atomic_load_n(w->next_key, __ATOMIC_RELAXED) >= w->cfg->keys) {
            /* Every key is handed out: done when nothing is in flight here. */
            bool busy = false;
            for (unsigned i = 0; i < w->n_conns && !busy; i++) {
                busy = w->conns[i].fd >= 0 && w->conns[i].out_len > 0;
            }
            if (!busy) {
                break;
            }
        }
        int timeout = (int)((w->deadline_ns - t) / 1000000) + 1;
        if (timeout > 100) {
            timeout = 100;
        }
        int n = epoll_wait(w->epfd, evs, 256, timeout);
        for (int i = 0; i < n; i++) {
            conn_step(w, evs[i].data.ptr);
        }
        /* Reopen dropped connections, at most every 100 ms. */
        if (now_ns() - last_retry > 100000000u) {
            last_retry = now_ns();
            for (unsigned i = 0; i < w->n_conns; i++) {
                conn_t *c = &w->conns[i];
                if (c->fd < 0 && conn_open(w, c) == 0 && build_request(w, c) == 0) {
                    conn_step(w, c);
                }
            }
        }
    }
    for (unsigned i = 0; i < w->n_conns; i++) {
        conn_close(w, &w->conns[i]);
    }
    close(w->epfd);
    __atomic_add_fetch(w->finished, 1, __ATOMIC_RELEASE);
    return NULL;
}

/*
 * Rewrites one status line on stderr (a terminal) until every worker is
 * done: elapsed time, requests so far and the rate over the last interval.
 */
static void show_progress(const bench_config_t *cfg, unsigned threads, const unsigned *finished,
                          const uint64_t *requests, uint64_t start)
{
    uint64_t last_n = 0, last_t = start;
    while (__atomic_load_n(finished, __ATOMIC_ACQUIRE) < threads) {
        struct timespec ts = {.tv_nsec = 250 * 1000 * 1000};
        nanosleep(&ts, NULL);
        uint64_t t = now_ns(), n = __atomic_load_n(requests, __ATOMIC_RELAXED);
        double rate = t > last_t ? (double)(n - last_n) * 1e9 / (double)(t - last_t) : 0;
        fprintf(stderr, "\r\033[K%s: %.1f/%.1f s, %llu requests, %.0f req/s", cfg->progress,
                (double)(t - start) / 1e9, cfg->duration_ms / 1000.0, (unsigned long long)n, rate);
        last_n = n;
        last_t = t;
    }
    fprintf(stderr, "\r\033[K");
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int bench_run(const bench_target_t *targets, size_t n_targets, const bench_config_t *cfg,
              bench_result_t *res, char *err, size_t err_len)
{
    memset(res, 0, sizeof(*res));
    unsigned threads = cfg->threads;
    if (threads > cfg->conns) {
        threads = cfg->conns;
    }
    worker_t *ws = calloc(threads, sizeof(*ws));
    conn_t *conns = calloc(cfg->conns, sizeof(*conns));
    char *value = malloc(cfg->value_size + 1);
    if (ws == NULL || conns == NULL || value == NULL) {
        free(ws);
        free(conns);
        free(value);
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    memset(value, 'x', cfg->value_size);
    value[cfg->value_size] = '\0';
    /* watch: half the connections wait for events, the rest write. */
    unsigned watchers = cfg->op == BENCH_WATCH ? cfg->conns / 2 : 0;
    for (unsigned i = 0; i < cfg->conns; i++) {
        conns[i].fd = -1;
        conns[i].target = &targets[i % n_targets];
        conns[i].role = i % 2 == 0 && i / 2 < watchers ? ROLE_WATCHER : ROLE_NORMAL;
        conns[i].lock_held = -1;
    }
    uint64_t global_requests = 0, next_key = 0;
    unsigned finished = 0;
    uint64_t start = now_ns();
    uint64_t deadline = start + (uint64_t)cfg->duration_ms * 1000000u;
    unsigned next = 0;
    for (unsigned i = 0; i < threads; i++) {
        worker_t *w = &ws[i];
        w->cfg = cfg;
        w->targets = targets;
        w->n_targets = n_targets;
        w->first_conn = next;
        w->n_conns = cfg->conns / threads + (i < cfg->conns % threads);
        w->conns = conns + next;
        next += w->n_conns;
        w->rng = 0x9E3779B97F4A7C15ull * (i + 1) ^ start;
        w->deadline_ns = deadline;
        w->global_requests = &global_requests;
        w->next_key = &next_key;
        w->finished = &finished;
        w->value = value;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            snprintf(err, err_len, "pthread_create failed");
            threads = i;
            break;
        }
    }
    if (cfg->progress != NULL) {
        show_progress(cfg, threads, &finished, &global_requests, start);
    }
    size_t total = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(ws[i].thread, NULL);
        total += ws[i].n_lat;
    }
    uint64_t end = now_ns();
    res->seconds = (double)((end < deadline ? end : deadline) - start) / 1e9;
    uint32_t *all = malloc((total ? total : 1) * sizeof(*all));
    size_t k = 0;
    double sum = 0;
    uint64_t max = 0;
    for (unsigned i = 0; i < threads; i++) {
        worker_t *w = &ws[i];
        if (all != NULL && w->n_lat > 0) { /* a worker with no answer has no samples */
            memcpy(all + k, w->lat_us, w->n_lat * sizeof(*all));
            k += w->n_lat;
        }
        res->requests += w->requests;
        res->errors += w->errors;
        res->writes += w->writes;
        res->events += w->events;
        res->resyncs += w->resyncs;
        sum += w->lat_sum_us;
        if (w->lat_max_us > max) {
            max = w->lat_max_us;
        }
        if (res->first_error[0] == '\0' && w->first_error[0] != '\0') {
            snprintf(res->first_error, sizeof(res->first_error), "%s", w->first_error);
        }
        free(w->lat_us);
    }
    for (unsigned i = 0; i < cfg->conns; i++) {
        free(conns[i].out);
        free(conns[i].in);
    }
    if (all != NULL && k > 0) {
        qsort(all, k, sizeof(*all), cmp_u32);
        res->p50_ms = all[(size_t)((double)(k - 1) * 0.50)] / 1000.0;
        res->p90_ms = all[(size_t)((double)(k - 1) * 0.90)] / 1000.0;
        res->p99_ms = all[(size_t)((double)(k - 1) * 0.99)] / 1000.0;
        res->max_ms = (double)max / 1000.0;
        uint64_t n = res->requests;
        res->mean_ms = n ? sum / (double)n / 1000.0 : 0;
    }
    free(all);
    free(ws);
    free(conns);
    free(value);
    return 0;
}

/* ---- population (one connection, sequential PUTs) ---- */

int bench_populate(const bench_target_t *t, const bench_config_t *cfg, char *err, size_t err_len)
{
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&t->addr, t->addr_len) < 0) {
        snprintf(err, err_len, "%s: connect: %s", t->url, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SSL *ssl = t->tls ? bench_tls_new(t, fd) : NULL; /* blocking: the handshake runs in I/O */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char *value = malloc(cfg->value_size + 1);
    size_t cap = 65536;
    char *in = malloc(cap);
    int rc = 0;
    if (value == NULL || in == NULL) {
        snprintf(err, err_len, "out of memory");
        rc = -1;
        goto out;
    }
    memset(value, 'x', cfg->value_size);
    value[cfg->value_size] = '\0';
    for (unsigned i = 0; i < cfg->keys && rc == 0; i++) {
        char *req = NULL;
        int n = asprintf(&req,
                         "PUT /v2/keys%s/k%u HTTP/1.1\r\nHost: %s\r\n"
                         "Content-Type: application/x-www-form-urlencoded\r\n"
                         "Content-Length: %u\r\n\r\nvalue=%s",
                         cfg->prefix, i, t->host_header, cfg->value_size + 6, value);
        if (n < 0) {
            snprintf(err, err_len, "out of memory");
            rc = -1;
            break;
        }
        size_t off = 0;
        while (off < (size_t)n) {
            ssize_t s = bench_io(fd, ssl, req + off, (size_t)n - off, true);
            if (s <= 0) {
                snprintf(err, err_len, "%s: send: %s", t->url, strerror(errno));
                rc = -1;
                break;
            }
            off += (size_t)s;
        }
        free(req);
        size_t len = 0;
        while (rc == 0) {
            ssize_t r = bench_io(fd, ssl, in + len, cap - len, false);
            if (r <= 0) {
                snprintf(err, err_len, "%s: no answer while writing keys", t->url);
                rc = -1;
                break;
            }
            len += (size_t)r;
            int status;
            bool close_after;
            long used = parse_response(in, len, &status, &close_after);
            if (used < 0 || (used == 0 && len == cap)) {
                snprintf(err, err_len, "%s: malformed answer while writing keys", t->url);
                rc = -1;
            } else if (used > 0) {
                if (status != 200 && status != 201) {
                    snprintf(err, err_len, "%s: PUT %s/k%u answered %d", t->url, cfg->prefix, i,
                             status);
                    rc = -1;
                }
                break;
            }
        }
    }
out:
    free(value);
    free(in);
    SSL_free(ssl);
    close(fd);
    return rc;
}
