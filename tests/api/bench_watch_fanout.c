/*
 * bench-watch-fanout: watch fan-out figures for docs/benchmarks.md (a
 * benchmark, not a test: nothing here asserts a speed).
 *
 *   bench-watch-fanout fanout PORT N [ROUNDS [PID]]
 *       N HTTP/1.1 long polls on one key, then one PUT on it, ROUNDS times:
 *       when the PUT was answered and when each watcher had its whole
 *       answer, from the moment the PUT was sent; checks that every watcher
 *       got exactly the PUT's event and that the PUT was answered first.
 *       With PID: the CPU time the server (all its threads) used meanwhile.
 *   bench-watch-fanout idle PORT N PID
 *       N idle HTTP/1.1 long polls (one connection each, distinct keys):
 *       the server's RSS growth per watcher and its CPU time over 5 s idle.
 *   bench-watch-fanout floor N WRITERS [ROUNDS]
 *       The machine's floor for the fan-out, with no HTTP server: N loopback
 *       TCP connections held by WRITERS processes (as the server's loops),
 *       each writes one watch answer of the size metcd sends (one writev a
 *       connection) to each of its connections at once; when the last one
 *       has been read by this process (one epoll thread, as for fanout), and
 *       the writers' CPU time.
 *   bench-watch-fanout stream PORT N RATE SECONDS
 *       N stream watchers on one key while PUTs are sent at RATE per second
 *       (over 32 connections) for SECONDS: events delivered per second, and
 *       how many watchers were ended as slow readers.
 *
 * Loopback only (127.0.0.1). Every phase has a time bound. Raise the
 * open-file limit (ulimit -n) above N + 100 first.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUF_CAP 8192

typedef struct conn {
    int fd;
    size_t len;
    bool head_done, body_done, is_writer;
    int64_t done_ns;
    uint64_t events;   /* stream: complete lines received */
    bool got_error;    /* stream: an errorCode line arrived */
    char buf[BUF_CAP]; /* one-shot: the whole answer; stream: the unparsed tail */
} conn_t;

static int port;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static int connect_lo(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write");
        s += w;
        n -= (size_t)w;
    }
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void raise_nofile(size_t need)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < need) {
        fprintf(stderr, "need %zu open files, the limit is %llu\n", need,
                (unsigned long long)rl.rlim_cur);
        exit(2);
    }
}

/* Reads what is there; returns false at EOF or on an error. */
static bool read_some(conn_t *c)
{
    for (int i = 0; i < 64; i++) {
        if (c->len == BUF_CAP)
            return true;
        ssize_t r = read(c->fd, c->buf + c->len, BUF_CAP - c->len);
        if (r > 0) {
            c->len += (size_t)r;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return true;
        return false;
    }
    return true;
}

static const char *find(const conn_t *c, const char *s)
{
    return memmem(c->buf, c->len, s, strlen(s));
}

static bool answer_done(const conn_t *c)
{
    return c->len >= 5 && memcmp(c->buf + c->len - 5, "0\r\n\r\n", 5) == 0;
}

/*
 * Reads a one-shot watcher's answer until it is complete (usually one read:
 * the server sends it in one write). 1: complete; 0: more to come; -1: the
 * connection ended first.
 */
static int read_answer(conn_t *c)
{
    while (c->len < BUF_CAP) {
        ssize_t r = read(c->fd, c->buf + c->len, BUF_CAP - c->len);
        if (r > 0) {
            c->len += (size_t)r;
            if (answer_done(c))
                return 1;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        return -1;
    }
    return -1; /* larger than any answer to this watch */
}

/*
 * Opens n watches (path from fmt with %d = i), waits for every header; bounded
 * by 60 s. oneshot: each watcher is left registered with EPOLLONESHOT, armed,
 * so that the fan-out costs the client one read per watcher and no epoll_ctl.
 */
static conn_t *open_watchers(int ep, size_t n, const char *fmt, bool oneshot)
{
    uint32_t events = EPOLLIN | (oneshot ? EPOLLONESHOT : 0);
    conn_t *cs = calloc(n, sizeof(*cs));
    if (cs == NULL)
        die("calloc");
    size_t heads = 0, i = 0;
    int64_t deadline = now_ns() + 60 * 1000000000LL;
    struct epoll_event evs[256];
    while (heads < n) {
        /* Connect in waves so that the listen backlog never overflows. */
        while (i < n && i - heads < 512) {
            conn_t *c = &cs[i];
            c->fd = connect_lo();
            char path[128], req[256];
            snprintf(path, sizeof(path), fmt, (int)i);
            int l = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
            send_all(c->fd, req, (size_t)l);
            set_nonblock(c->fd);
            struct epoll_event ev = {.events = events, .data.ptr = c};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
                die("epoll_ctl");
            i++;
        }
        int k = epoll_wait(ep, evs, 256, 1000);
        for (int j = 0; j < k; j++) {
            conn_t *c = evs[j].data.ptr;
            if (!read_some(c)) {
                fprintf(stderr, "a watcher was closed before its headers\n");
                exit(1);
            }
            const char *e = find(c, "\r\n\r\n");
            if (!c->head_done && e != NULL) {
                if (memcmp(c->buf, "HTTP/1.1 200", 12) != 0) {
                    fprintf(stderr, "watch answered: %.*s\n", (int)(e - c->buf), c->buf);
                    exit(1);
                }
                c->head_done = true;
                /* Keep only what follows the headers (the dangling chunk "0"). */
                size_t off = (size_t)(e + 4 - c->buf);
                memmove(c->buf, c->buf + off, c->len - off);
                c->len -= off;
                heads++;
            }
            if (oneshot) {
                struct epoll_event ev = {.events = events, .data.ptr = c};
                if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
                    die("epoll_ctl");
            }
        }
        if (now_ns() > deadline) {
            fprintf(stderr, "only %zu of %zu watches started within 60 s\n", heads, n);
            exit(1);
        }
    }
    return cs;
}

static const char *header_value(const char *buf, size_t len, const char *name)
{
    const char *p = memmem(buf, len, name, strlen(name));
    return p ? p + strlen(name) : NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double ms(int64_t ns)
{
    return (double)ns / 1e6;
}

static int64_t self_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

/* Per-thread CPU of process `pid` (schedstat, ns), up to max threads; returns how many. */
#define MAX_TASKS 256
typedef struct task_cpu {
    int tid;
    int64_t ns;
} task_cpu_t;

static size_t proc_task_cpu(int pid, task_cpu_t *out, size_t max)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/task", pid);
    DIR *d = opendir(p);
    if (d == NULL)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        if (e->d_name[0] == '.')
            continue;
        char f[320];
        snprintf(f, sizeof(f), "/proc/%d/task/%s/schedstat", pid, e->d_name);
        FILE *fp = fopen(f, "r");
        long long v = 0;
        if (fp != NULL) {
            if (fscanf(fp, "%lld", &v) == 1) {
                out[n].tid = atoi(e->d_name);
                out[n].ns = v;
                n++;
            }
            fclose(fp);
        }
    }
    closedir(d);
    return n;
}

/* CPU time of every thread of process `pid` in ns (the schedstat of each task), or -1. */
static int64_t proc_cpu_ns(int pid)
{
    task_cpu_t tasks[MAX_TASKS];
    size_t n = proc_task_cpu(pid, tasks, MAX_TASKS);
    if (n == 0)
        return -1;
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += tasks[i].ns;
    return total;
}

/* "a+b+c ms": the CPU each thread used between two snapshots, the busiest first, 1 ms or more. */
static void format_task_cpu(char *buf, size_t cap, const task_cpu_t *a, size_t na,
                            const task_cpu_t *b, size_t nb)
{
    int64_t d[MAX_TASKS];
    size_t nd = 0;
    for (size_t i = 0; i < nb && nd < MAX_TASKS; i++) {
        int64_t before = 0;
        for (size_t j = 0; j < na; j++)
            if (a[j].tid == b[i].tid)
                before = a[j].ns;
        if (b[i].ns - before >= 1000000)
            d[nd++] = b[i].ns - before;
    }
    /* Busiest first (a handful of threads: insertion sort). */
    for (size_t i = 1; i < nd; i++)
        for (size_t j = i; j > 0 && d[j] > d[j - 1]; j--) {
            int64_t t = d[j];
            d[j] = d[j - 1];
            d[j - 1] = t;
        }
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < nd && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%.1f", i ? "+" : "", (double)d[i] / 1e6);
    if (nd == 0)
        snprintf(buf, cap, "0");
}

static int run_fanout(size_t n, int rounds, int pid)
{
    raise_nofile(n + 100);
    int ep = epoll_create1(0);
    int64_t *lat = calloc(n, sizeof(*lat));
    int bad = 0;
    for (int round = 0; round < rounds; round++) {
        conn_t *cs = open_watchers(ep, n, "/v2/keys/fanout?wait=true", true);
        usleep(200000); /* let the server settle */
        conn_t *w = calloc(1, sizeof(*w));
        w->fd = connect_lo();
        w->is_writer = true;
        char body[64], req[256];
        int bl = snprintf(body, sizeof(body), "value=round%d", round);
        int l = snprintf(req, sizeof(req),
                         "PUT /v2/keys/fanout HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Content-Type: application/x-www-form-urlencoded\r\n"
                         "Content-Length: %d\r\n\r\n%s",
                         bl, body);
        set_nonblock(w->fd);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
        epoll_ctl(ep, EPOLL_CTL_ADD, w->fd, &ev);
        /* A GET sent as soon as the PUT is answered: is the loop serving during the fan-out? */
        conn_t *probe = calloc(1, sizeof(*probe));
        probe->fd = connect_lo();
        probe->is_writer = true;
        set_nonblock(probe->fd);
        struct epoll_event pev = {.events = EPOLLIN, .data.ptr = probe};
        epoll_ctl(ep, EPOLL_CTL_ADD, probe->fd, &pev);
        int64_t get_sent = 0, get_ns = 0;
        size_t done_at_get = 0;
        task_cpu_t tasks0[MAX_TASKS], tasks1[MAX_TASKS];
        size_t ntasks0 = pid > 0 ? proc_task_cpu(pid, tasks0, MAX_TASKS) : 0;
        int64_t cpu0 = pid > 0 ? proc_cpu_ns(pid) : 0, self0 = self_cpu_ns();
        int64_t t0 = now_ns();
        send_all(w->fd, req, (size_t)l);
        size_t done = 0;
        int64_t put_ns = 0;
        uint64_t put_index = 0;
        struct epoll_event evs[512];
        int64_t deadline = t0 + 30 * 1000000000LL;
        while ((done < n || put_ns == 0 || get_ns == 0) && now_ns() < deadline) {
            int k = epoll_wait(ep, evs, 512, 1000);
            int64_t t = now_ns();
            for (int j = 0; j < k; j++) {
                conn_t *c = evs[j].data.ptr;
                if (!c->is_writer) {
                    /*
                     * A watcher is done when its whole answer has been read;
                     * the time is taken then, not when epoll reported it.
                     */
                    int rc = read_answer(c);
                    if (rc == 1) {
                        c->body_done = true;
                        c->done_ns = now_ns() - t0;
                        lat[done++] = c->done_ns;
                    } else if (rc == 0) {
                        struct epoll_event again = {.events = EPOLLIN | EPOLLONESHOT,
                                                    .data.ptr = c};
                        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &again);
                    } else {
                        fprintf(stderr, "a watcher was closed before its event\n");
                        c->body_done = true;
                        bad++;
                    }
                    continue;
                }
                read_some(c);
                if (c == probe) {
                    const char *e = find(c, "\r\n\r\n");
                    const char *cl = header_value(c->buf, c->len, "Content-Length: ");
                    if (get_ns == 0 && e && cl &&
                        c->len >= (size_t)(e + 4 - c->buf) + strtoul(cl, NULL, 10)) {
                        get_ns = t - get_sent;
                        done_at_get = done;
                        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    }
                    continue;
                }
                if (c->is_writer) {
                    const char *e = find(c, "\r\n\r\n");
                    const char *cl = header_value(c->buf, c->len, "Content-Length: ");
                    if (put_ns == 0 && e && cl &&
                        c->len >= (size_t)(e + 4 - c->buf) + strtoul(cl, NULL, 10)) {
                        put_ns = t - t0;
                        const char *xi = header_value(c->buf, c->len, "X-Etcd-Index: ");
                        put_index = xi ? strtoull(xi, NULL, 10) : 0;
                        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                        static const char get[] =
                            "GET /v2/keys/fanout HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
                        get_sent = now_ns();
                        send_all(probe->fd, get, sizeof(get) - 1);
                    }
                }
            }
        }
        int64_t cpu = pid > 0 ? proc_cpu_ns(pid) - cpu0 : 0, self = self_cpu_ns() - self0;
        size_t ntasks1 = pid > 0 ? proc_task_cpu(pid, tasks1, MAX_TASKS) : 0;
        char per_thread[256];
        format_task_cpu(per_thread, sizeof(per_thread), tasks0, ntasks0, tasks1, ntasks1);
        /* Every watcher: exactly one event, the PUT's. */
        char want[64];
        snprintf(want, sizeof(want), "\"modifiedIndex\":%llu,", (unsigned long long)put_index);
        size_t before_put = 0;
        for (size_t i = 0; i < n; i++) {
            conn_t *c = &cs[i];
            const char *a = find(c, "\"action\":\"set\"");
            if (!c->body_done || a == NULL ||
                memmem(a + 1, c->len - (size_t)(a + 1 - c->buf), "\"action\"", 8) != NULL ||
                find(c, want) == NULL)
                bad++;
            if (c->body_done && c->done_ns < put_ns)
                before_put++;
            close(c->fd);
        }
        close(w->fd);
        close(probe->fd);
        free(probe);
        qsort(lat, done, sizeof(*lat), cmp_i64);
        printf("round %d: %zu watchers, PUT answered after %.2f ms; watchers complete: first "
               "%.2f ms, median %.2f ms, p99 %.2f ms, last %.2f ms; %zu before the PUT's answer; "
               "%d wrong; server CPU %.2f ms; a GET sent then took %.2f ms (%zu watchers had "
               "their event by then); server threads %s ms; this client's CPU %.2f ms\n",
               round + 1, n, ms(put_ns), done ? ms(lat[0]) : 0, done ? ms(lat[done / 2]) : 0,
               done ? ms(lat[done * 99 / 100]) : 0, done ? ms(lat[done - 1]) : 0, before_put, bad,
               ms(cpu), ms(get_ns), done_at_get, per_thread, ms(self));
        fflush(stdout);
        free(cs);
        free(w);
        usleep(300000);
    }
    free(lat);
    close(ep);
    return bad ? 1 : 0;
}

static long proc_rss_kb(int pid)
{
    char p[64], line[256];
    snprintf(p, sizeof(p), "/proc/%d/status", pid);
    FILE *f = fopen(p, "r");
    long kb = -1;
    if (f == NULL)
        die("open /proc/PID/status");
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static long proc_cpu_ticks(int pid)
{
    char p[64], buf[1024];
    snprintf(p, sizeof(p), "/proc/%d/stat", pid);
    FILE *f = fopen(p, "r");
    if (f == NULL)
        die("open /proc/PID/stat");
    size_t r = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[r] = '\0';
    const char *s = strrchr(buf, ')');
    long utime = 0, stime = 0;
    /* Fields after the command: state is 3, utime 14, stime 15. */
    if (s == NULL ||
        sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &utime, &stime) != 2)
        return -1;
    return utime + stime;
}

static int run_idle(size_t n, int pid)
{
    raise_nofile(n + 100);
    int ep = epoll_create1(0);
    long before = proc_rss_kb(pid);
    conn_t *cs = open_watchers(ep, n, "/v2/keys/benchw/%d?wait=true", false);
    sleep(1);
    long after = proc_rss_kb(pid);
    long c0 = proc_cpu_ticks(pid);
    sleep(5);
    long c1 = proc_cpu_ticks(pid);
    printf("%zu idle watchers: server RSS %ld -> %ld KB, %.0f bytes each; %ld CPU ticks (1/100 s) "
           "in 5 idle seconds\n",
           n, before, after, (double)(after - before) * 1024.0 / (double)n, c1 - c0);
    for (size_t i = 0; i < n; i++)
        close(cs[i].fd);
    free(cs);
    close(ep);
    return 0;
}

/* Counts complete lines in a stream's decoded body; keeps the partial tail. */
static void stream_consume(conn_t *c)
{
    /* The body is chunked; lines never contain "\r\n", so count '\n' not preceded by '\r'. */
    size_t last = 0;
    for (size_t i = 0; i < c->len; i++) {
        if (c->buf[i] == '\n' && (i == 0 || c->buf[i - 1] != '\r')) {
            c->events++;
            if (memmem(c->buf + last, i - last, "\"errorCode\"", 11) != NULL)
                c->got_error = true;
            last = i + 1;
        }
    }
    /* Keep at most the tail after the last line (a partial line or framing). */
    memmove(c->buf, c->buf + last, c->len - last);
    c->len -= last;
}

static int run_stream(size_t n, unsigned rate, unsigned seconds)
{
    enum { WRITERS = 32 };
    raise_nofile(n + WRITERS + 100);
    int ep = epoll_create1(0);
    conn_t *cs = open_watchers(ep, n, "/v2/keys/streamkey?wait=true&stream=true", false);
    conn_t *ws = calloc(WRITERS, sizeof(*ws));
    bool busy[WRITERS] = {0};
    for (int i = 0; i < WRITERS; i++) {
        ws[i].fd = connect_lo();
        ws[i].is_writer = true;
        set_nonblock(ws[i].fd);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &ws[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, ws[i].fd, &ev);
    }
    static const char put[] =
        "PUT /v2/keys/streamkey HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 106\r\n\r\nvalue="
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxx";
    int64_t t0 = now_ns(), end = t0 + (int64_t)seconds * 1000000000LL;
    uint64_t sent = 0, answered = 0;
    struct epoll_event evs[512];
    while (now_ns() < end + 2000000000LL) {
        int64_t t = now_ns();
        /* Send what the rate allows so far, one PUT in flight per writer. */
        uint64_t due = t < end ? (uint64_t)((double)(t - t0) / 1e9 * rate) : 0;
        for (int i = 0; i < WRITERS && sent < due; i++)
            if (!busy[i]) {
                send_all(ws[i].fd, put, sizeof(put) - 1);
                busy[i] = true;
                sent++;
            }
        int k = epoll_wait(ep, evs, 512, 1);
        for (int j = 0; j < k; j++) {
            conn_t *c = evs[j].data.ptr;
            bool open = read_some(c);
            if (c->is_writer) {
                /* Each answer is one JSON line after its headers: count "}\n". */
                const char *p;
                while ((p = memmem(c->buf, c->len, "}\n", 2)) != NULL) {
                    size_t off = (size_t)(p + 2 - c->buf);
                    memmove(c->buf, c->buf + off, c->len - off);
                    c->len -= off;
                    answered++;
                    busy[c - ws] = false;
                }
                continue;
            }
            stream_consume(c);
            if (!open) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                c->body_done = true;
            }
        }
        if (t >= end && answered == sent) {
            /* Done writing: stop once every open watcher has every event. */
            bool behind = false;
            for (size_t i = 0; i < n && !behind; i++)
                behind = !cs[i].body_done && cs[i].events < answered;
            if (!behind)
                break;
        }
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    uint64_t total = 0, min = UINT64_MAX, ended = 0;
    for (size_t i = 0; i < n; i++) {
        total += cs[i].events;
        if (cs[i].events < min)
            min = cs[i].events;
        ended += cs[i].got_error;
        close(cs[i].fd);
    }
    printf("%zu stream watchers, %llu PUTs answered in %.1f s (%.0f/s): %.0f events/s delivered "
           "in all, %llu to the slowest watcher of %llu each at most; %llu ended as slow readers\n",
           n, (unsigned long long)answered, secs, (double)answered / secs, (double)total / secs,
           (unsigned long long)min, (unsigned long long)answered, (unsigned long long)ended);
    for (int i = 0; i < WRITERS; i++)
        close(ws[i].fd);
    free(ws);
    free(cs);
    close(ep);
    return 0;
}

static void read_full(int fd, void *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("read");
        p = (char *)p + r;
        n -= (size_t)r;
    }
}

/*
 * A floor writer: accepts `share` connections from the listener, says so on
 * `report`, then each round waits for a byte on `go`, writes the answer to
 * every connection and reports its CPU time for the writes.
 */
static void floor_writer(int lfd, size_t share, int go, int report, int rounds)
{
    int *fds = calloc(share, sizeof(*fds));
    if (fds == NULL)
        die("calloc");
    for (size_t i = 0; i < share; i++)
        if ((fds[i] = accept(lfd, NULL, NULL)) < 0)
            die("accept");
    close(lfd);
    char ok = 1;
    send_all(report, &ok, 1);
    /* An event line of the size metcd sends for this benchmark's PUT. */
    static char chunk[256];
    int body = 200;
    int hl = snprintf(chunk, sizeof(chunk), "%x\r\n", body);
    memset(chunk + hl, 'x', (size_t)body);
    memcpy(chunk + hl + body, "\r\n", 2);
    static char end[] = "0\r\n\r\n";
    for (int r = 0; r < rounds; r++) {
        read_full(go, &ok, 1);
        int64_t c0 = self_cpu_ns();
        for (size_t i = 0; i < share; i++) {
            struct iovec v[2] = {{chunk, (size_t)(hl + body + 2)}, {end, sizeof(end) - 1}};
            if (writev(fds[i], v, 2) < 0)
                die("writev");
        }
        int64_t cpu = self_cpu_ns() - c0;
        send_all(report, (char *)&cpu, sizeof(cpu));
    }
    exit(0);
}

static int run_floor(size_t n, int writers, int rounds)
{
    if (writers < 1 || writers > 16)
        return 2;
    raise_nofile(n + 100);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 4096) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) != 0)
        die("listen");
    port = ntohs(a.sin_port);
    int go[16][2], report[2];
    pid_t pids[16];
    if (pipe(report) != 0)
        die("pipe");
    for (int k = 0; k < writers; k++) {
        if (pipe(go[k]) != 0)
            die("pipe");
        size_t share = n / (size_t)writers + ((size_t)k < n % (size_t)writers);
        if ((pids[k] = fork()) < 0)
            die("fork");
        if (pids[k] == 0) {
            close(report[0]);
            close(go[k][1]);
            floor_writer(lfd, share, go[k][0], report[1], rounds);
        }
        close(go[k][0]);
    }
    close(lfd);
    close(report[1]);
    int ep = epoll_create1(0);
    conn_t *cs = calloc(n, sizeof(*cs));
    if (cs == NULL)
        die("calloc");
    for (size_t i = 0; i < n; i++) {
        cs[i].fd = connect_lo();
        set_nonblock(cs[i].fd);
    }
    char ok;
    for (int k = 0; k < writers; k++)
        read_full(report[0], &ok, 1);
    int64_t *lat = calloc(n, sizeof(*lat));
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < n; i++) {
            cs[i].len = 0;
            struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = &cs[i]};
            if (epoll_ctl(ep, r == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, cs[i].fd, &ev) != 0)
                die("epoll_ctl");
        }
        usleep(200000);
        int64_t c0 = self_cpu_ns(), t0 = now_ns();
        for (int k = 0; k < writers; k++)
            send_all(go[k][1], &ok, 1);
        size_t done = 0;
        struct epoll_event evs[512];
        int64_t deadline = t0 + 30 * 1000000000LL;
        while (done < n && now_ns() < deadline) {
            int k = epoll_wait(ep, evs, 512, 1000);
            for (int j = 0; j < k; j++) {
                conn_t *c = evs[j].data.ptr;
                int rc = read_answer(c);
                if (rc == 1) {
                    lat[done++] = now_ns() - t0;
                } else if (rc == 0) {
                    struct epoll_event again = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &again);
                } else {
                    fprintf(stderr, "a connection ended before its answer\n");
                    return 1;
                }
            }
        }
        int64_t client_cpu = self_cpu_ns() - c0, writers_cpu = 0, cpu;
        for (int k = 0; k < writers; k++) {
            read_full(report[0], &cpu, sizeof(cpu));
            writers_cpu += cpu;
        }
        qsort(lat, done, sizeof(*lat), cmp_i64);
        printf("round %d: %zu connections, %d writer processes, no HTTP: read complete: median "
               "%.2f ms, last %.2f ms; writers' CPU %.2f ms; reader's CPU %.2f ms\n",
               r + 1, done, writers, done ? ms(lat[done / 2]) : 0, done ? ms(lat[done - 1]) : 0,
               ms(writers_cpu), ms(client_cpu));
        fflush(stdout);
        if (done < n)
            return 1;
    }
    for (size_t i = 0; i < n; i++)
        close(cs[i].fd);
    for (int k = 0; k < writers; k++) {
        close(go[k][1]);
        waitpid(pids[k], NULL, 0);
    }
    free(cs);
    free(lat);
    close(ep);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr,
                "usage: %s fanout PORT N [ROUNDS [PID]] | idle PORT N PID | "
                "stream PORT N RATE SECONDS | floor N WRITERS [ROUNDS]\n",
                argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "floor") == 0)
        return run_floor(strtoul(argv[2], NULL, 10), atoi(argv[3]), argc > 4 ? atoi(argv[4]) : 3);
    port = atoi(argv[2]);
    size_t n = strtoul(argv[3], NULL, 10);
    if (n == 0 || n > 1000000)
        return 2;
    if (strcmp(argv[1], "fanout") == 0)
        return run_fanout(n, argc > 4 ? atoi(argv[4]) : 3, argc > 5 ? atoi(argv[5]) : 0);
    if (strcmp(argv[1], "idle") == 0 && argc > 4)
        return run_idle(n, atoi(argv[4]));
    if (strcmp(argv[1], "stream") == 0 && argc > 5)
        return run_stream(n, (unsigned)atoi(argv[4]), (unsigned)atoi(argv[5]));
    fprintf(stderr, "bad arguments\n");
    return 2;
}
