/* See http_client.h. */
#include "src/httpc/httpc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

int httpc_endpoint_parse(httpc_endpoint_t *ep, const char *url, char *err, size_t err_len)
{
    memset(ep, 0, sizeof(*ep));
    const char *p = url;
    /* etcdctl defaults a missing scheme to http. */
    if (strncmp(p, "http://", 7) == 0) {
        p += 7;
    } else if (strncmp(p, "https://", 8) == 0) {
        p += 8;
        ep->tls = true;
    } else if (strstr(p, "://") != NULL) {
        snprintf(err, err_len, "unsupported protocol scheme in %s", url);
        return -1;
    }
    const char *host_start, *host_end, *rest;
    if (*p == '[') {
        host_start = p + 1;
        host_end = strchr(p, ']');
        if (host_end == NULL) {
            snprintf(err, err_len, "parse %s: missing ']' in host", url);
            return -1;
        }
        rest = host_end + 1;
    } else {
        host_start = p;
        host_end = p + strcspn(p, ":/");
        rest = host_end;
    }
    const char *port_start = ep->tls ? "443" : "80";
    size_t port_len = ep->tls ? 3 : 2;
    if (*rest == ':') {
        port_start = rest + 1;
        port_len = strcspn(port_start, "/");
        if (port_len == 0 || port_len > 5) {
            snprintf(err, err_len, "parse %s: invalid port", url);
            return -1;
        }
        for (size_t i = 0; i < port_len; i++) {
            if (!isdigit((unsigned char)port_start[i])) {
                snprintf(err, err_len, "parse %s: invalid port", url);
                return -1;
            }
        }
    }
    if (host_end == host_start) {
        snprintf(err, err_len, "parse %s: missing host", url);
        return -1;
    }
    size_t url_len = strlen(url);
    while (url_len > 0 && url[url_len - 1] == '/') {
        url_len--;
    }
    ep->host = strndup(host_start, (size_t)(host_end - host_start));
    ep->port = strndup(port_start, port_len);
    if (strstr(url, "://") == NULL) {
        /* No scheme: store the canonical form, as etcdctl prints it. */
        size_t n = url_len + 8;
        ep->url = malloc(n);
        if (ep->url != NULL) {
            snprintf(ep->url, n, "http://%.*s", (int)url_len, url);
        }
    } else {
        ep->url = strndup(url, url_len);
    }
    if (ep->host == NULL || ep->port == NULL || ep->url == NULL) {
        httpc_endpoint_free(ep);
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    return 0;
}

void httpc_endpoint_free(httpc_endpoint_t *ep)
{
    free(ep->url);
    free(ep->host);
    free(ep->port);
    memset(ep, 0, sizeof(*ep));
}

void httpc_response_free(httpc_response_t *res)
{
    free(res->body);
    free(res->head);
    memset(res, 0, sizeof(*res));
}

int httpc_response_header(const httpc_response_t *res, const char *name, char *out, size_t out_len)
{
    size_t name_len = strlen(name);
    if (res->head == NULL)
        return -1;
    for (const char *line = strstr(res->head, "\r\n"); line != NULL;
         line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, name_len) != 0 || h[name_len] != ':')
            continue;
        const char *v = h + name_len + 1;
        v += strspn(v, " \t");
        size_t n = strcspn(v, "\r\n");
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
            n--;
        if (n >= out_len)
            n = out_len > 0 ? out_len - 1 : 0;
        if (out_len > 0) {
            memcpy(out, v, n);
            out[n] = '\0';
        }
        return 0;
    }
    return -1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left before deadline (-1: none), at least 0. */
static int remaining(int64_t deadline)
{
    if (deadline < 0) {
        return -1;
    }
    int64_t left = deadline - now_ms();
    return left < 0 ? 0 : (int)left;
}

/* Formats "ip:port" of addr as Go's net package prints it. */
static void addr_text(const struct addrinfo *ai, char *out, size_t out_len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ai->ai_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        port = ntohs(sin->sin_port);
        snprintf(out, out_len, "%s:%u", ip, port);
    } else {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ai->ai_addr;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
        port = ntohs(sin6->sin6_port);
        snprintf(out, out_len, "[%s]:%u", ip, port);
    }
}

static int dial(const httpc_endpoint_t *ep, int64_t deadline, char *err, size_t err_len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *ais = NULL;
    int rc = getaddrinfo(ep->host, ep->port, &hints, &ais);
    if (rc != 0) {
        snprintf(err, err_len, "dial tcp: lookup %s: %s", ep->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = ais; ai != NULL; ai = ai->ai_next) {
        char where[INET6_ADDRSTRLEN + 16];
        addr_text(ai, where, sizeof(where));
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            snprintf(err, err_len, "dial tcp %s: socket: %s", where, strerror(errno));
            continue;
        }
        int e = 0;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            e = errno;
            if (e == EINPROGRESS) {
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                int n;
                do {
                    n = poll(&pfd, 1, remaining(deadline));
                } while (n < 0 && errno == EINTR);
                if (n == 0) {
                    e = ETIMEDOUT;
                } else {
                    socklen_t len = sizeof(e);
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
                }
            }
        }
        if (e == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            break;
        }
        if (e == ETIMEDOUT) {
            snprintf(err, err_len, "dial tcp %s: i/o timeout", where);
        } else {
            /* Go prints syscall errors in lower case: "connection refused". */
            char msg[128];
            snprintf(msg, sizeof(msg), "%s", strerror(e));
            msg[0] = (char)tolower((unsigned char)msg[0]);
            snprintf(err, err_len, "dial tcp %s: connect: %s", where, msg);
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ais);
    return fd;
}

/* --cert-file, --key-file, --ca-file (borrowed: they live as long as argv). */
static const char *tls_cert, *tls_key, *tls_ca;
static SSL_CTX *tls_ctx; /* made at the first https:// request, kept until exit */
static bool tls_skip_verify;

void httpc_tls_skip_verify(bool skip)
{
    tls_skip_verify = skip;
}

void httpc_tls_configure(const char *cert_file, const char *key_file, const char *ca_file)
{
    tls_cert = cert_file;
    tls_key = key_file;
    tls_ca = ca_file;
}

static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "TLS handshake failure";
}

/* etcdctl's TLS client: the CA bundle (else the system's), the client pair when given. */
static SSL_CTX *tls_context(char *err, size_t err_len)
{
    if (tls_ctx != NULL)
        return tls_ctx;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, err_len, "tls: %s", ssl_reason());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, tls_skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    int ok = tls_skip_verify               ? 1
             : tls_ca != NULL && tls_ca[0] ? SSL_CTX_load_verify_locations(ctx, tls_ca, NULL)
                                           : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        snprintf(err, err_len, "open %s: %s", tls_ca, ssl_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (tls_cert != NULL && tls_cert[0] &&
        (SSL_CTX_use_certificate_chain_file(ctx, tls_cert) != 1 ||
         SSL_CTX_use_PrivateKey_file(ctx, tls_key ? tls_key : "", SSL_FILETYPE_PEM) != 1)) {
        snprintf(err, err_len, "tls: cannot load %s and %s: %s", tls_cert, tls_key ? tls_key : "",
                 ssl_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    tls_ctx = ctx;
    return ctx;
}

/*
 * OpenSSL writes with write(2): a server that closed the connection would
 * raise SIGPIPE. As Go does for sockets (and unlike stdout, where etcdctl
 * still dies of it), the TLS calls run with SIGPIPE blocked and a pending
 * one is discarded. Returns the call's result.
 */
static int no_sigpipe(int (*fn)(SSL *, void *, int), SSL *ssl, void *buf, int len)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    int rc = fn(ssl, buf, len);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static int do_connect(SSL *ssl, void *buf, int len)
{
    (void)buf;
    (void)len;
    return SSL_connect(ssl);
}

static int do_read(SSL *ssl, void *buf, int len)
{
    return SSL_read(ssl, buf, len);
}

static int do_write(SSL *ssl, void *buf, int len)
{
    return SSL_write(ssl, buf, len);
}

/* Waits until fd is ready for what the TLS layer wants; 0, or -1 (timeout or error). */
static int tls_wait(SSL *ssl, int fd, int rc, int64_t deadline)
{
    int e = SSL_get_error(ssl, rc);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        return -1;
    struct pollfd pfd = {.fd = fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
    int n;
    do {
        n = poll(&pfd, 1, remaining(deadline));
    } while (n < 0 && errno == EINTR);
    if (n == 0)
        errno = ETIMEDOUT;
    return n > 0 ? 0 : -1;
}

/*
 * The TLS handshake on a connected fd; the server's certificate must chain
 * to the CA and name the endpoint's host (IP or DNS), as Go's client checks.
 * Returns the connection (free with SSL_free) or NULL with err.
 */
static SSL *tls_connect(int fd, const httpc_endpoint_t *ep, int64_t deadline, char *err,
                        size_t err_len)
{
    SSL_CTX *ctx = tls_context(err, err_len);
    if (ctx == NULL)
        return NULL;
    SSL *ssl = SSL_new(ctx);
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    struct in6_addr a6;
    if (inet_pton(AF_INET, ep->host, &a6) == 1 || inet_pton(AF_INET6, ep->host, &a6) == 1)
        X509_VERIFY_PARAM_set1_ip_asc(vp, ep->host);
    else {
        X509_VERIFY_PARAM_set1_host(vp, ep->host, 0);
        SSL_set_tlsext_host_name(ssl, ep->host);
    }
    SSL_set_fd(ssl, fd);
    for (;;) {
        int rc = no_sigpipe(do_connect, ssl, NULL, 0);
        if (rc == 1)
            return ssl;
        if (tls_wait(ssl, fd, rc, deadline) == 0)
            continue;
        long v = tls_skip_verify ? X509_V_OK : SSL_get_verify_result(ssl);
        if (v != X509_V_OK)
            snprintf(err, err_len, "x509: %s", X509_verify_cert_error_string(v));
        else if (errno == ETIMEDOUT)
            snprintf(err, err_len, "net/http: TLS handshake timeout");
        else
            snprintf(err, err_len, "remote error: tls: %s", ssl_reason());
        SSL_free(ssl);
        return NULL;
    }
}

/* Why the last TLS read failed (etcdctl reports it without "read tcp"). */
static char tls_read_error[160];

/* recv() or SSL_read() within the deadline: >0 bytes, 0 end of stream, -1 with errno. */
static ssize_t conn_recv(int fd, SSL *ssl, char *buf, size_t len, int64_t deadline)
{
    for (;;) {
        if (ssl != NULL) {
            int n = no_sigpipe(do_read, ssl, buf, (int)len);
            if (n > 0)
                return n;
            int e = SSL_get_error(ssl, n);
            if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
                return 0; /* close_notify, or the peer closed without one */
            unsigned long reason = ERR_peek_last_error();
            if (ERR_GET_REASON(reason) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
                reason = 0; /* closed without an alert: Go says EOF */
            if (tls_wait(ssl, fd, n, deadline) == 0)
                continue;
            if (errno != ETIMEDOUT) {
                /* Go's TLS client: the server's alert, or EOF when it just closed. */
                snprintf(tls_read_error, sizeof(tls_read_error), "%s%s",
                         reason ? "remote error: tls: " : "EOF",
                         reason ? ERR_reason_error_string(reason) : "");
                ERR_clear_error();
                errno = EPROTO;
            }
            return -1;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = poll(&pfd, 1, remaining(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        ssize_t got = recv(fd, buf, len, 0);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        return got;
    }
}

static int write_all(int fd, SSL *ssl, const char *buf, size_t len, int64_t deadline)
{
    while (ssl != NULL && len > 0) {
        int n = no_sigpipe(do_write, ssl, (void *)buf, (int)len);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
        } else if (tls_wait(ssl, fd, n, deadline) != 0) {
            return -1;
        }
    }
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (poll(&pfd, 1, remaining(deadline)) == 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            continue;
        }
        return -1;
    }
    return 0;
}

/*
 * Decodes a chunked body in place: src[0..len) -> dst. Returns 1 when the
 * terminating chunk was seen, 0 when more input is needed, -1 on bad framing.
 */
static int dechunk(const char *src, size_t len, char *dst, size_t *dst_len)
{
    size_t pos = 0, out = 0;
    for (;;) {
        const char *eol = memmem(src + pos, len - pos, "\r\n", 2);
        if (eol == NULL) {
            return 0;
        }
        char *end;
        unsigned long long size = strtoull(src + pos, &end, 16);
        if (end == src + pos) {
            return -1;
        }
        pos = (size_t)(eol - src) + 2;
        if (size == 0) {
            *dst_len = out;
            return 1; /* trailers, if any, are ignored */
        }
        if (len - pos < size + 2) {
            return 0;
        }
        memmove(dst + out, src + pos, size);
        out += size;
        pos += size + 2;
    }
}

int httpc_request(const httpc_endpoint_t *ep, const char *method, const char *target,
                  const char *form, int timeout_ms, httpc_response_t *res, char *err,
                  size_t err_len)
{
    memset(res, 0, sizeof(*res));
    int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    int fd = dial(ep, deadline, err, err_len);
    if (fd < 0) {
        return -1;
    }
    SSL *ssl = NULL;
    if (ep->tls && (ssl = tls_connect(fd, ep, deadline, err, err_len)) == NULL) {
        close(fd);
        return -1;
    }
    size_t form_len = form != NULL ? strlen(form) : 0;
    char *req = NULL;
    size_t req_len = 0;
    FILE *f = open_memstream(&req, &req_len);
    if (f == NULL) {
        SSL_free(ssl);
        close(fd);
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    fprintf(f, "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: %s\r\n", method, target, ep->host,
            ep->port, program_invocation_short_name);
    if (form != NULL) {
        /* The members API takes JSON; the keys API takes forms. */
        fprintf(f, "Content-Type: %s\r\nContent-Length: %zu\r\n",
                form[0] == '{' ? "application/json" : "application/x-www-form-urlencoded",
                form_len);
    }
    fprintf(f, "Connection: close\r\n\r\n");
    if (form != NULL) {
        fwrite(form, 1, form_len, f);
    }
    fclose(f);
    int rc = write_all(fd, ssl, req, req_len, deadline);
    free(req);
    if (rc < 0) {
        snprintf(err, err_len, "write tcp %s:%s: %s", ep->host, ep->port, strerror(errno));
        SSL_free(ssl);
        close(fd);
        return -1;
    }

    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t head_len = 0;        /* bytes of the header block, once known */
    long long content_len = -1; /* -1: not given */
    bool chunked = false, done = false, is_head = strcmp(method, "HEAD") == 0;
    while (!done) {
        if (buf == NULL) {
            snprintf(err, err_len, "out of memory");
            SSL_free(ssl);
            close(fd);
            return -1;
        }
        if (len + 1 >= cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                continue;
            }
            buf = nb;
        }
        ssize_t got = conn_recv(fd, ssl, buf + len, cap - len - 1, deadline);
        if (got < 0 && errno == ETIMEDOUT) {
            snprintf(err, err_len, "read tcp %s:%s: i/o timeout", ep->host, ep->port);
            goto fail;
        }
        if (got < 0 && errno == EPROTO && ssl != NULL) {
            snprintf(err, err_len, "%s", tls_read_error);
            goto fail;
        }
        if (got < 0) {
            snprintf(err, err_len, "read tcp %s:%s: %s", ep->host, ep->port, strerror(errno));
            goto fail;
        }
        len += (size_t)got;
        buf[len] = '\0';
        if (head_len == 0) {
            char *eoh = memmem(buf, len, "\r\n\r\n", 4);
            if (eoh == NULL) {
                if (got == 0) {
                    snprintf(err, err_len, "malformed HTTP response from %s", ep->url);
                    goto fail;
                }
                continue;
            }
            head_len = (size_t)(eoh - buf) + 4;
            if (sscanf(buf, "HTTP/1.%*d %d", &res->status) != 1) {
                snprintf(err, err_len, "malformed HTTP response from %s", ep->url);
                goto fail;
            }
            for (char *line = strstr(buf, "\r\n") + 2; line < eoh;
                 line = strstr(line, "\r\n") + 2) {
                if (strncasecmp(line, "Content-Length:", 15) == 0) {
                    content_len = strtoll(line + 15, NULL, 10);
                } else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
                           strstr(line, "chunked") != NULL) {
                    chunked = true;
                } else if (strncasecmp(line, "X-Etcd-Index:", 13) == 0) {
                    res->has_etcd_index = true;
                    res->etcd_index = strtoull(line + 13, NULL, 10);
                }
            }
            res->head = strndup(buf, head_len - 2);
            if (res->head == NULL) {
                snprintf(err, err_len, "out of memory");
                goto fail;
            }
            if (is_head || res->status == 204 || res->status == 304) {
                content_len = 0;
                chunked = false;
            }
        }
        size_t body_have = len - head_len;
        if (chunked && got > 0 && !(body_have >= 5 && memcmp(buf + len - 5, "0\r\n\r\n", 5) == 0)) {
            /* Not at the last chunk yet (Go's server sends no trailers):
             * keep reading instead of decoding the whole body again. */
            continue;
        }
        if (chunked) {
            /* Decode into a scratch copy; the raw bytes stay for the next pass. */
            char *tmp = malloc(body_have + 1);
            size_t out = 0;
            int c = tmp != NULL ? dechunk(buf + head_len, body_have, tmp, &out) : -1;
            if (c < 0) {
                free(tmp);
                snprintf(err, err_len, "malformed chunked encoding from %s", ep->url);
                goto fail;
            }
            if (c == 1) {
                tmp[out] = '\0';
                res->body = tmp;
                res->body_len = out;
                done = true;
            } else {
                free(tmp);
                if (got == 0) {
                    snprintf(err, err_len, "unexpected EOF");
                    goto fail;
                }
            }
        } else if (content_len >= 0) {
            if (body_have >= (size_t)content_len) {
                done = true;
            } else if (got == 0) {
                snprintf(err, err_len, "unexpected EOF");
                goto fail;
            }
        } else if (got == 0) {
            done = true;
        }
    }
    SSL_free(ssl);
    close(fd);
    if (res->body == NULL) {
        size_t body_len = len - head_len;
        if (content_len >= 0 && (size_t)content_len < body_len) {
            body_len = (size_t)content_len;
        }
        memmove(buf, buf + head_len, body_len);
        buf[body_len] = '\0';
        res->body = buf;
        res->body_len = body_len;
    } else {
        free(buf);
    }
    return 0;
fail:
    free(res->head);
    res->head = NULL;
    free(buf);
    SSL_free(ssl);
    close(fd);
    return -1;
}
