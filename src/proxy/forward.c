/*
 * One client connection of the proxy (etcd's reverseProxy.ServeHTTP): each
 * request is read whole (head and body, chunked or with a length), sent to the first
 * available member that takes it, and the answer relayed byte for byte as it
 * arrives. A member that cannot be reached, or closes before its answer's
 * head, is marked failed and the next one is tried, as etcd's proxy does
 * (so a write may be sent twice, as there). The hop-by-hop headers are
 * dropped both ways and X-Forwarded-For is set.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "src/proxy/proxy_int.h"

#define MAX_HEAD     65536
#define MAX_BODY     (64u << 20)
#define RELAY_BUFFER 16384

/* Added to every answer, as etcd's CORS wrapper (--cors '*') does. */
#define CORS_HEADERS                                                                               \
    "Access-Control-Allow-Headers: accept, content-type, authorization\r\n"                        \
    "Access-Control-Allow-Methods: POST, GET, OPTIONS, PUT, DELETE\r\n"                            \
    "Access-Control-Allow-Origin: *\r\n"

typedef struct request {
    char head[MAX_HEAD + 1]; /* NUL-terminated head as received */
    size_t head_len;         /* through the blank line */
    char *body;              /* malloc'd */
    size_t body_len;
    bool chunked; /* the client sent it chunked: it goes on with a length */
    char method[16];
    char target[8192];
    bool keep_alive;
} request_t;

/* Leftover bytes read past the request, for the next one (pipelining). */
typedef struct conn {
    int fd;
    char buf[MAX_HEAD + 1];
    size_t len;
} conn_t;

/* Go's hop-by-hop list (etcd's singleHopHeaders). */
static bool hop_by_hop(const char *line)
{
    static const char *const names[] = {"Connection",          "Keep-Alive", "Proxy-Authenticate",
                                        "Proxy-Authorization", "Te",         "Trailers",
                                        "Transfer-Encoding",   "Upgrade"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n = strlen(names[i]);
        if (strncasecmp(line, names[i], n) == 0 && line[n] == ':')
            return true;
    }
    return false;
}

/* The value of header name in a head (first match), or NULL; *len its length. */
static const char *header(const char *head, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (const char *l = strstr(head, "\r\n"); l != NULL; l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, name, n) == 0 && l[2 + n] == ':') {
            const char *v = l + 3 + n;
            v += strspn(v, " \t");
            *len = strcspn(v, "\r\n");
            return v;
        }
    }
    return NULL;
}

static void send_simple(int fd, int status, const char *reason, const char *extra,
                        const char *ctype, const char *body)
{
    char out[1024];
    int n = snprintf(out, sizeof(out),
                     "HTTP/1.1 %d %s\r\n" CORS_HEADERS "%s%s%s%sContent-Length: %zu\r\n\r\n%s",
                     status, reason, extra, ctype ? "Content-Type: " : "", ctype ? ctype : "",
                     ctype ? "\r\n" : "", strlen(body), body);
    (void)fs_write_all(fd, out, (size_t)n);
}

/* etcd's httptypes.HTTPError: {"message":"httpproxy: ..."}. */
static void send_error(int fd, int status, const char *reason, const char *msg)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"message\":\"httpproxy: %s\"}", msg);
    send_simple(fd, status, reason, "", "application/json", body);
}

/* Reads more of the connection into c->buf. false when the client closed. */
static bool conn_fill(conn_t *c)
{
    for (;;) {
        if (c->len >= MAX_HEAD)
            return false;
        ssize_t n = recv(c->fd, c->buf + c->len, MAX_HEAD - c->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        c->len += (size_t)n;
        return true;
    }
}

/* Takes one CRLF-ended line (at most max - 1 bytes, CR and LF dropped) off
 * the connection. 1, 0 when the client closed, -1 when it is too long. */
static int conn_line(conn_t *c, char *out, size_t max)
{
    char *nl;
    while ((nl = memchr(c->buf, '\n', c->len)) == NULL) {
        if (c->len >= max)
            return -1;
        if (!conn_fill(c))
            return 0;
    }
    size_t n = (size_t)(nl - c->buf);
    if (n >= max)
        return -1;
    size_t l = n > 0 && c->buf[n - 1] == '\r' ? n - 1 : n;
    memcpy(out, c->buf, l);
    out[l] = '\0';
    memmove(c->buf, nl + 1, c->len - n - 1);
    c->len -= n + 1;
    return 1;
}

/* Appends `want` bytes of the connection to r->body (grown as needed). */
static bool conn_take(conn_t *c, request_t *r, size_t want)
{
    r->body = realloc(r->body, r->body_len + want + 1);
    if (r->body == NULL)
        abort();
    while (want > 0) {
        if (c->len == 0 && !conn_fill(c))
            return false;
        size_t take = c->len < want ? c->len : want;
        memcpy(r->body + r->body_len, c->buf, take);
        memmove(c->buf, c->buf + take, c->len - take);
        c->len -= take;
        r->body_len += take;
        want -= take;
    }
    return true;
}

/*
 * A chunked body (RFC 9112 7.1), decoded into r->body: etcd's proxy reads
 * the whole body before it picks a member (it may have to send it twice),
 * and sends it on with its length. 1, 0 when the client closed, -1 on bad
 * framing (etcd's 500 "failed to read request body: ...") or a body over
 * MAX_BODY (an answer was sent).
 */
static int read_chunked(conn_t *c, request_t *r)
{
    char line[4096];
    const char *why = NULL; /* Go's words for the framing error */
    for (;;) {
        int rc = conn_line(c, line, sizeof(line));
        if (rc == 0)
            return 0;
        char *end = line;
        unsigned long long size = rc == 1 ? strtoull(line, &end, 16) : 0;
        if (rc < 0) {
            why = "header line too long";
            break;
        }
        if (end == line || (*end != '\0' && *end != ';' && *end != ' ')) {
            why = "invalid byte in chunk length";
            break;
        }
        if (size > MAX_BODY - r->body_len) {
            send_simple(c->fd, 413, "Request Entity Too Large", "Connection: close\r\n", NULL, "");
            return -1;
        }
        if (size == 0) {
            for (;;) { /* trailers, dropped as Go's proxy drops them, up to the blank line */
                rc = conn_line(c, line, sizeof(line));
                if (rc <= 0) {
                    if (rc == 0)
                        return 0;
                    why = "header line too long";
                    break;
                }
                if (line[0] == '\0')
                    return 1;
            }
            break;
        }
        if (!conn_take(c, r, (size_t)size))
            return 0;
        rc = conn_line(c, line, sizeof(line)); /* the CRLF after the data */
        if (rc == 0)
            return 0;
        if (rc < 0 || line[0] != '\0') {
            why = "malformed chunked encoding";
            break;
        }
    }
    /* etcd's proxy: 500 {"message":"httpproxy: failed to read request body: ..."} */
    char msg[128];
    snprintf(msg, sizeof(msg), "failed to read request body: %s", why);
    send_error(c->fd, 500, "Internal Server Error", msg);
    return -1;
}

/* Reads one request. 1 with *r (r->body is malloc'd: the caller frees it),
 * 0 when the client closed, -1 on bad input (an answer was sent). */
static int read_request(conn_t *c, request_t *r)
{
    char *eoh;
    while ((eoh = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL) {
        if (c->len >= MAX_HEAD) {
            send_simple(c->fd, 431, "Request Header Fields Too Large", "Connection: close\r\n",
                        NULL, "");
            return -1;
        }
        ssize_t n = recv(c->fd, c->buf + c->len, MAX_HEAD - c->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        c->len += (size_t)n;
    }
    r->head_len = (size_t)(eoh - c->buf) + 4;
    memcpy(r->head, c->buf, r->head_len);
    r->head[r->head_len] = '\0';
    memmove(c->buf, c->buf + r->head_len, c->len - r->head_len);
    c->len -= r->head_len;
    int minor = 1;
    if (sscanf(r->head, "%15s %8191s HTTP/1.%d", r->method, r->target, &minor) != 3) {
        send_simple(c->fd, 400, "Bad Request", "Connection: close\r\n", NULL, "");
        return -1;
    }
    size_t vl;
    const char *v = header(r->head, "Connection", &vl);
    r->keep_alive = minor >= 1;
    if (v != NULL && vl >= 5 && strncasecmp(v, "close", 5) == 0)
        r->keep_alive = false;
    if (v != NULL && vl >= 10 && strncasecmp(v, "keep-alive", 10) == 0)
        r->keep_alive = true;
    v = header(r->head, "Transfer-Encoding", &vl);
    if (v != NULL && !(vl == 7 && strncasecmp(v, "chunked", 7) == 0)) {
        /* Go's server: any coding but chunked alone is 501. */
        send_simple(c->fd, 501, "Not Implemented", "Connection: close\r\n",
                    "text/plain; charset=utf-8", "Unsupported transfer encoding");
        return -1;
    }
    r->chunked = v != NULL;
    v = header(r->head, "Expect", &vl);
    if (v != NULL && vl >= 12 && strncasecmp(v, "100-continue", 12) == 0 && c->len == 0)
        /* Go's server answers this when the handler reads the body. */
        (void)fs_write_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    if (r->chunked) {
        r->body = NULL;
        r->body_len = 0;
        return read_chunked(c, r);
    }
    v = header(r->head, "Content-Length", &vl);
    unsigned long long want = v != NULL ? strtoull(v, NULL, 10) : 0;
    if (want > MAX_BODY) {
        send_simple(c->fd, 413, "Request Entity Too Large", "Connection: close\r\n", NULL, "");
        return -1;
    }
    r->body = malloc(want + 1);
    if (r->body == NULL)
        abort();
    r->body_len = 0;
    size_t have = c->len < want ? c->len : (size_t)want;
    memcpy(r->body, c->buf, have);
    memmove(c->buf, c->buf + have, c->len - have);
    c->len -= have;
    r->body_len = have;
    while (r->body_len < want) {
        ssize_t n = recv(c->fd, r->body + r->body_len, want - r->body_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        r->body_len += (size_t)n;
    }
    return 1;
}

/* Connects to ep within dial_ms; sends then block at most write_ms. fd or
 * -1 with err. */
static int dial(const proxy_endpoint_t *ep, unsigned dial_ms, unsigned write_ms, char *err,
                size_t err_len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(ep->host, ep->port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, err_len, "dial tcp: lookup %s: %s", ep->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, e = 0;
    for (struct addrinfo *a = ai; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            e = errno;
            continue;
        }
        e = 0;
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            e = errno;
            if (e == EINPROGRESS) {
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                if (poll(&pfd, 1, dial_ms > 0 ? (int)dial_ms : -1) <= 0) {
                    e = ETIMEDOUT;
                } else {
                    socklen_t l = sizeof(e);
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l);
                }
            }
        }
        if (e != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        snprintf(err, err_len, "dial tcp %s:%s: %s", ep->host, ep->port,
                 e == ETIMEDOUT ? "i/o timeout" : strerror(e));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (write_ms > 0) {
        struct timeval tv = {.tv_sec = write_ms / 1000, .tv_usec = (write_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    return fd;
}

/* The request as sent to a member: the client's head without hop-by-hop
 * headers, X-Forwarded-For extended, one request per connection.
 * Ownership: the result (*len bytes) is malloc'd; the caller frees it. */
static char *upstream_request(const request_t *r, const char *client_ip, size_t *len)
{
    char *out = NULL;
    FILE *f = open_memstream(&out, len);
    if (f == NULL)
        abort();
    const char *eol = strstr(r->head, "\r\n");
    fprintf(f, "%s %s HTTP/1.1\r\n", r->method, r->target);
    char prior[1024] = "";
    for (const char *l = eol + 2; l < r->head + r->head_len - 2;) {
        const char *next = strstr(l, "\r\n");
        size_t n = (size_t)(next - l);
        if (strncasecmp(l, "X-Forwarded-For:", 16) == 0) {
            const char *v = l + 16;
            v += strspn(v, " \t");
            snprintf(prior + strlen(prior), sizeof(prior) - strlen(prior), "%.*s, ",
                     (int)(next - v), v);
        } else if (!hop_by_hop(l) && strncasecmp(l, "Expect:", 7) != 0 &&
                   !(r->chunked && strncasecmp(l, "Content-Length:", 15) == 0)) {
            /* The body goes with the head: no interim answer to wait for. */
            fprintf(f, "%.*s\r\n", (int)n, l);
        }
        l = next + 2;
    }
    if (r->chunked) /* the decoded body goes on with its length */
        fprintf(f, "Content-Length: %zu\r\n", r->body_len);
    /* etcd: prior X-Forwarded-For values joined with ", ", then this client. */
    fprintf(f, "X-Forwarded-For: %s%s\r\nConnection: close\r\n\r\n", prior, client_ip);
    fwrite(r->body, 1, r->body_len, f);
    fclose(f);
    return out;
}

/* Waits until fd is readable, ending early when the client hangs up.
 * 1 readable, 0 timeout, -1 client gone. */
static int wait_readable(int fd, int client_fd, unsigned timeout_ms)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = client_fd, .events = POLLRDHUP}};
    for (;;) {
        int n = poll(p, 2, timeout_ms > 0 ? (int)timeout_ms : -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return 0;
        if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR))
            return -1;
        return 1;
    }
}

/* Reads the answer's head from a member. Returns its length (bytes past it
 * stay in buf), 0 when the member failed, -1 when the client went away. */
static long read_answer_head(int up, int client_fd, unsigned read_ms, char *buf, size_t cap,
                             size_t *len)
{
    *len = 0;
    for (;;) {
        char *eoh = memmem(buf, *len, "\r\n\r\n", 4);
        if (eoh != NULL && *len >= 12 && memcmp(buf, "HTTP/1.", 7) == 0 && buf[9] == '1') {
            /* An interim 1xx answer: the real one follows. */
            size_t skip = (size_t)(eoh - buf) + 4;
            memmove(buf, buf + skip, *len - skip);
            *len -= skip;
            continue;
        }
        if (eoh != NULL)
            return (long)(eoh - buf) + 4;
        if (*len >= cap)
            return 0;
        int w = wait_readable(up, client_fd, read_ms);
        if (w <= 0)
            return w < 0 ? -1 : 0;
        ssize_t n = recv(up, buf + *len, cap - *len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        *len += (size_t)n;
    }
}

/* Tracks a chunked body as it passes, to know where it ends. */
typedef struct chunk_state {
    enum { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER } state;
    unsigned long long left; /* data bytes left in the chunk */
    char line[64];
    size_t line_len;
    bool last; /* the zero-size chunk was seen */
    bool done;
} chunk_state_t;

static void chunk_feed(chunk_state_t *c, const char *p, size_t n)
{
    for (size_t i = 0; i < n && !c->done; i++) {
        char ch = p[i];
        switch (c->state) {
        case CH_SIZE:
        case CH_TRAILER:
            if (ch != '\n') {
                if (c->line_len < sizeof(c->line) - 1)
                    c->line[c->line_len++] = ch;
                break;
            }
            c->line[c->line_len] = '\0';
            if (c->state == CH_TRAILER) {
                if (c->line_len <= 1) /* "\r" only: the blank line */
                    c->done = true;
            } else {
                c->left = strtoull(c->line, NULL, 16);
                c->state = c->left == 0 ? CH_TRAILER : CH_DATA;
            }
            c->line_len = 0;
            break;
        case CH_DATA: {
            size_t take = n - i < c->left ? n - i : (size_t)c->left;
            c->left -= take;
            i += take - 1;
            if (c->left == 0)
                c->state = CH_DATA_END;
            break;
        }
        case CH_DATA_END:
            if (ch == '\n')
                c->state = CH_SIZE;
            break;
        }
    }
}

typedef enum relay_result { RELAY_DONE, RELAY_CLOSE } relay_result_t;

/*
 * Sends the member's answer to the client as it arrives. head/head_len is
 * its head, extra/extra_len the body bytes read with it. RELAY_DONE when the
 * answer ended and the connection may serve another request.
 */
static relay_result_t relay_answer(int up, int client_fd, const request_t *r, unsigned read_ms,
                                   char *buf, size_t head_len, size_t have)
{
    /* The head as a string while it is parsed; the body starts after it. */
    char saved = buf[head_len];
    buf[head_len] = '\0';
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    size_t vl;
    const char *te = header(buf, "Transfer-Encoding", &vl);
    bool chunked = te != NULL && vl >= 7 && strncasecmp(te, "chunked", 7) == 0;
    const char *cl = header(buf, "Content-Length", &vl);
    long long length = cl != NULL ? strtoll(cl, NULL, 10) : -1;
    bool no_body =
        strcmp(r->method, "HEAD") == 0 || status / 100 == 1 || status == 204 || status == 304;
    bool until_close = !no_body && !chunked && length < 0;
    bool keep = r->keep_alive && !until_close;

    /* The head: status line, etcd's CORS headers, the member's headers but
     * the hop-by-hop ones (the chunked framing is relayed as it is). */
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    if (f == NULL)
        abort();
    const char *eol = strstr(buf, "\r\n");
    fprintf(f, "%.*s\r\n" CORS_HEADERS, (int)(eol - buf), buf);
    for (const char *l = eol + 2; l < buf + head_len - 2;) {
        const char *next = strstr(l, "\r\n");
        if (!hop_by_hop(l))
            fprintf(f, "%.*s\r\n", (int)(next - l), l);
        l = next + 2;
    }
    fprintf(f, "%s%s\r\n", chunked && !no_body ? "Transfer-Encoding: chunked\r\n" : "",
            keep ? "" : "Connection: close\r\n");
    fclose(f);
    buf[head_len] = saved;
    bool ok = fs_write_all(client_fd, out, out_len) == 0;
    free(out);
    if (!ok)
        return RELAY_CLOSE;
    if (no_body)
        return keep ? RELAY_DONE : RELAY_CLOSE;

    chunk_state_t ch = {0};
    long long left = length;
    size_t pending = have - head_len;
    memmove(buf, buf + head_len, pending);
    for (;;) {
        if (pending > 0) {
            size_t send_n = pending;
            if (!chunked && !until_close && (long long)send_n > left)
                send_n = (size_t)left;
            if (chunked)
                chunk_feed(&ch, buf, send_n);
            if (fs_write_all(client_fd, buf, send_n) != 0)
                return RELAY_CLOSE;
            if (!chunked && !until_close)
                left -= (long long)send_n;
            pending = 0;
        }
        if ((chunked && ch.done) || (!chunked && !until_close && left <= 0))
            return keep ? RELAY_DONE : RELAY_CLOSE;
        int w = wait_readable(up, client_fd, read_ms);
        if (w <= 0)
            return RELAY_CLOSE; /* the client left, or the member went quiet */
        ssize_t n = recv(up, buf, RELAY_BUFFER, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return RELAY_CLOSE; /* end of a close-delimited body, or a cut answer */
        pending = (size_t)n;
    }
}

/* Serves one request. RELAY_DONE when the connection may go on. */
static relay_result_t serve(proxy_t *p, int fd, const request_t *r, const char *client_ip)
{
    bool is_get = strcmp(r->method, "GET") == 0;
    /* etcd's readonly handler wraps everything, its own config endpoint too. */
    if (p->readonly && !is_get) {
        send_simple(fd, 501, "Not Implemented", "", NULL, "");
        return r->keep_alive ? RELAY_DONE : RELAY_CLOSE;
    }
    proxy_endpoint_t *eps = NULL;
    size_t n = proxy_director_endpoints(&p->director, &eps);
    if (strcmp(r->target, "/v2/config/local/proxy") == 0 ||
        strncmp(r->target, "/v2/config/local/proxy?", 23) == 0) {
        if (!is_get) {
            send_simple(fd, 405, "Method Not Allowed",
                        "Allow: GET\r\nX-Content-Type-Options: nosniff\r\n",
                        "text/plain; charset=utf-8", "Method Not Allowed\n");
        } else {
            char body[8192] = "{\"endpoints\":[";
            for (size_t i = 0; i < n; i++)
                snprintf(body + strlen(body), sizeof(body) - strlen(body), "%s\"%s\"", i ? "," : "",
                         eps[i].url);
            snprintf(body + strlen(body), sizeof(body) - strlen(body), "]}\n");
            send_simple(fd, 200, "OK", "", "text/plain; charset=utf-8", body);
        }
        free(eps);
        return r->keep_alive ? RELAY_DONE : RELAY_CLOSE;
    }
    if (n == 0) {
        free(eps);
        log_line('I', "proxy/httpproxy", "zero endpoints currently available");
        send_error(fd, 503, "Service Unavailable", "zero endpoints currently available");
        return r->keep_alive ? RELAY_DONE : RELAY_CLOSE;
    }
    size_t req_len = 0;
    char *req = upstream_request(r, client_ip, &req_len);
    char *buf = malloc(MAX_HEAD + RELAY_BUFFER);
    if (buf == NULL)
        abort();
    relay_result_t result = RELAY_CLOSE;
    bool answered = false;
    for (size_t i = 0; i < n && !answered; i++) {
        char why[512];
        int up = dial(&eps[i], p->dial_timeout_ms, p->write_timeout_ms, why, sizeof(why));
        if (up >= 0 && fs_write_all(up, req, req_len) != 0) {
            snprintf(why, sizeof(why), "write tcp %s: %s", eps[i].url, strerror(errno));
            close(up);
            up = -1;
        }
        if (up < 0) {
            log_line('I', "proxy/httpproxy", "failed to direct request to %s: %s", eps[i].url, why);
            proxy_director_failed(&p->director, eps[i].url);
            continue;
        }
        size_t have = 0;
        long head = read_answer_head(up, fd, p->read_timeout_ms, buf, MAX_HEAD, &have);
        if (head < 0) {
            close(up);
            log_line('I', "proxy/httpproxy", "client %s closed request prematurely", client_ip);
            answered = true; /* nobody to answer */
            break;
        }
        if (head == 0) {
            close(up);
            log_line('I', "proxy/httpproxy", "failed to direct request to %s: no answer",
                     eps[i].url);
            proxy_director_failed(&p->director, eps[i].url);
            continue;
        }
        result = relay_answer(up, fd, r, p->read_timeout_ms, buf, (size_t)head, have);
        close(up);
        answered = true;
    }
    if (!answered) {
        char msg[96];
        snprintf(msg, sizeof(msg), "unable to get response from %zu endpoint(s)", n);
        log_line('I', "proxy/httpproxy", "%s", msg);
        send_error(fd, 502, "Bad Gateway", msg);
        result = r->keep_alive ? RELAY_DONE : RELAY_CLOSE;
    }
    free(buf);
    free(req);
    free(eps);
    return result;
}

void proxy_forward_connection(proxy_t *p, int fd, const char *client_ip)
{
    conn_t *c = calloc(1, sizeof(*c));
    request_t *r = calloc(1, sizeof(*r));
    if (c == NULL || r == NULL)
        abort();
    c->fd = fd;
    for (;;) {
        int rc = read_request(c, r);
        if (rc <= 0)
            break;
        relay_result_t res = serve(p, fd, r, client_ip);
        free(r->body);
        r->body = NULL;
        if (res != RELAY_DONE)
            break;
    }
    free(r->body);
    free(r);
    free(c);
    close(fd);
}
