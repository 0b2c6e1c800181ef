/*
 * src/bench/floor.c: `metcd-bench floor`, the least a server can do for
 * the benchmark's loads: HTTP/1.1 keep-alive on loopback, every complete
 * request answered with one fixed answer of the size of metcd's (the same
 * headers, a 190-byte body, as a GET of a 100-byte value), by N threads
 * with one epoll loop each and no parsing beyond finding where a request
 * ends. With --sync DIR each loop also appends the requests
 * it read in one wakeup to its own file in DIR and fdatasyncs it once
 * before answering them, as a durable PUT must. Measured like a server
 * (`metcd-bench compare --b-pid`), it gives the CPU per request below
 * which no server on this machine's kernel can go.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/bench/bench.h"

#define FLOOR_MAX_CONNS 4096
#define FLOOR_BUF       65536

static const char answer_head[] =
    "HTTP/1.1 200 OK\r\n"
    "Date: Mon, 07 Dec 2026 09:17:25 GMT\r\n"
    "Connection: keep-alive\r\n"
    "Content-Length: 190\r\n"
    "Access-Control-Allow-Origin: *\r\n"
    "Access-Control-Allow-Methods: POST, GET, OPTIONS, PUT, DELETE\r\n"
    "Access-Control-Allow-Headers: accept, content-type, authorization\r\n"
    "X-Etcd-Cluster-Id: 534a021c215e0774\r\n"
    "X-Etcd-Index: 1\r\n"
    "X-Raft-Index: 5\r\n"
    "X-Raft-Term: 2\r\n"
    "Content-Type: application/json\r\n\r\n";

typedef struct floor_conn {
    int fd;
    size_t len; /* bytes of in[] not yet part of an answered request */
    char in[FLOOR_BUF];
} floor_conn_t;

typedef struct floor_loop {
    int listen_fd;
    int sync_fd; /* -1 without --sync */
    char answer[sizeof(answer_head) + 190];
    size_t answer_len;
} floor_loop_t;

/* The length of the first complete request in buf (head and a
 * Content-Length body), 0 when more bytes are needed. */
static size_t request_len(const char *buf, size_t len)
{
    const char *eoh = memmem(buf, len, "\r\n\r\n", 4);
    if (eoh == NULL)
        return 0;
    size_t head = (size_t)(eoh - buf) + 4, body = 0;
    for (const char *p = buf; p < eoh; p++) {
        if ((*p == 'C' || *p == 'c') && strncasecmp(p, "content-length:", 15) == 0) {
            body = strtoul(p + 15, NULL, 10);
            break;
        }
    }
    return len - head >= body ? head + body : 0;
}

static void conn_drop(int ep, floor_conn_t *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Reads what c has; returns the requests it completed (answers owed), -1
 * when the connection is gone. Requests go to sync_fd when there is one. */
static int conn_read(floor_loop_t *l, floor_conn_t *c)
{
    ssize_t n = read(c->fd, c->in + c->len, sizeof(c->in) - c->len);
    if (n <= 0)
        return n < 0 && errno == EAGAIN ? 0 : -1;
    c->len += (size_t)n;
    int done = 0;
    size_t r;
    while ((r = request_len(c->in, c->len)) > 0) {
        if (l->sync_fd >= 0 && write(l->sync_fd, c->in, r) != (ssize_t)r)
            return -1;
        memmove(c->in, c->in + r, c->len - r);
        c->len -= r;
        done++;
    }
    return c->len == sizeof(c->in) ? -1 : done;
}

static void *floor_loop_run(void *arg)
{
    floor_loop_t *l = arg;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, l->listen_fd, &ev);
    struct epoll_event evs[256];
    floor_conn_t *owed[256];
    int owed_n[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        int k = 0;
        for (int i = 0; i < n; i++) {
            floor_conn_t *c = evs[i].data.ptr;
            if (c == NULL) {
                int fd = accept4(l->listen_fd, NULL, NULL, SOCK_NONBLOCK);
                if (fd < 0)
                    continue;
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                c = calloc(1, sizeof(*c));
                if (c == NULL) {
                    close(fd);
                    continue;
                }
                c->fd = fd;
                struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                continue;
            }
            int done = conn_read(l, c);
            if (done < 0) {
                conn_drop(ep, c);
            } else if (done > 0) {
                owed[k] = c;
                owed_n[k++] = done;
            }
        }
        /* One fdatasync for all the requests of this wakeup (group commit). */
        if (l->sync_fd >= 0 && k > 0 && fdatasync(l->sync_fd) != 0)
            return NULL;
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < owed_n[i]; j++) {
                if (write(owed[i]->fd, l->answer, l->answer_len) != (ssize_t)l->answer_len)
                    break; /* the next read sees the connection gone */
            }
        }
    }
    return NULL;
}

int bench_floor_main(int argc, char **argv)
{
    int port = 0, threads = 2;
    const char *sync_dir = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--sync") == 0 && i + 1 < argc) {
            sync_dir = argv[++i];
        } else {
            fprintf(stderr, "usage: metcd-bench floor --listen PORT [--threads N] [--sync DIR]\n"
                            "  answers every HTTP/1.1 request on 127.0.0.1:PORT with one fixed\n"
                            "  answer (metcd's headers, a 190-byte body); --sync DIR: fdatasync\n"
                            "  the requests of each wakeup to a file in DIR first\n");
            return 2;
        }
    }
    if (port <= 0 || port > 65535 || threads < 1 || threads > 64) {
        fprintf(stderr, "metcd-bench floor: --listen PORT (1-65535) and --threads 1-64\n");
        return 2;
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 1024) != 0) {
        fprintf(stderr, "metcd-bench floor: 127.0.0.1:%d: %s\n", port, strerror(errno));
        return 1;
    }
    pthread_t tid[64];
    floor_loop_t loops[64];
    for (int t = 0; t < threads; t++) {
        floor_loop_t *l = &loops[t];
        l->listen_fd = lfd;
        l->sync_fd = -1;
        if (sync_dir != NULL) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/floor-%d.log", sync_dir, t);
            l->sync_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);
            if (l->sync_fd < 0) {
                fprintf(stderr, "metcd-bench floor: %s: %s\n", path, strerror(errno));
                return 1;
            }
        }
        memcpy(l->answer, answer_head, sizeof(answer_head) - 1);
        memset(l->answer + sizeof(answer_head) - 1, 'v', 190);
        l->answer_len = sizeof(answer_head) - 1 + 190;
        if (pthread_create(&tid[t], NULL, floor_loop_run, l) != 0) {
            fprintf(stderr, "metcd-bench floor: cannot start a thread\n");
            return 1;
        }
    }
    printf("metcd-bench floor: listening on 127.0.0.1:%d, %d threads%s%s\n", port, threads,
           sync_dir ? ", requests synced to " : "", sync_dir ? sync_dir : "");
    fflush(stdout);
    for (int t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    return 1;
}
