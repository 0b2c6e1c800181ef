/* src/peer/handshake.c - the HTTP/1.1 preamble of a peer connection.
 *
 * Like etcd's rafthttp, every connection opens with a request whose headers
 * say who sends (X-Server-From), to whom (X-Raft-To), for which cluster
 * (X-Etcd-Cluster-ID) and at which version (X-Server-Version); the path
 * names the stream. The listener answers with a status and, on 200, the
 * connection carries frames. Putting the identity in the first bytes also
 * lets a test relay tell which pair of members a connection links.
 * The parser reads only what is in the buffer and bounds the head length,
 * so a peer cannot make it read or keep more than PEER_HEAD_MAX bytes. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "src/peer/peer_int.h"

static const char *kind_path(enum peer_conn_kind kind)
{
    switch (kind) {
    case PEER_KIND_MSG:
        return PEER_PATH_MSG;
    case PEER_KIND_APP:
        return PEER_PATH_APP;
    case PEER_KIND_SNAP:
        return PEER_PATH_SNAP;
    default:
        return NULL;
    }
}

size_t peer_request_format(char *buf, size_t cap, enum peer_conn_kind kind, uint64_t from,
                           uint64_t to, uint64_t cluster_id, const char *version)
{
    const char *path = kind_path(kind);
    if (path == NULL)
        return 0;
    int n = snprintf(buf, cap,
                     "POST %s HTTP/1.1\r\n"
                     "Host: metcd\r\n"
                     "X-Server-From: %" PRIx64 "\r\n"
                     "X-Raft-To: %" PRIx64 "\r\n"
                     "X-Etcd-Cluster-ID: %" PRIx64 "\r\n"
                     "X-Server-Version: %s\r\n"
                     "Content-Type: application/octet-stream\r\n"
                     "\r\n",
                     path, from, to, cluster_id, version);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    return (size_t)n;
}

/* Length of the head up to and including "\r\n\r\n"; 0 if not there yet;
 * -1 if it would be longer than PEER_HEAD_MAX. */
static int head_length(const char *buf, size_t len)
{
    size_t lim = len < PEER_HEAD_MAX ? len : PEER_HEAD_MAX;
    for (size_t i = 0; i + 4 <= lim; i++)
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
            return (int)(i + 4);
    return len >= PEER_HEAD_MAX ? -1 : 0;
}

/* A member ID as etcd prints it: 1 to 16 lowercase or uppercase hex digits. */
static bool parse_hex_id(const char *p, size_t n, uint64_t *out)
{
    if (n == 0 || n > 16)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return true;
}

static bool header_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Copies [p, p+n) into dst (cap bytes with the NUL); false if too long. */
static bool copy_token(char *dst, size_t cap, const char *p, size_t n)
{
    if (n >= cap)
        return false;
    memcpy(dst, p, n);
    dst[n] = '\0';
    return true;
}

/* Finds the end of the line starting at p (before end); NULL if none. */
static const char *line_end(const char *p, const char *end)
{
    for (const char *q = p; q + 1 < end; q++)
        if (q[0] == '\r' && q[1] == '\n')
            return q;
    return NULL;
}

static bool parse_header(struct peer_request *req, const char *p, const char *eol)
{
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (colon == NULL || colon == p)
        return false;
    size_t name_len = (size_t)(colon - p);
    const char *v = colon + 1;
    while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
    const char *ve = eol;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    size_t vn = (size_t)(ve - v);
    if (header_is(p, name_len, "X-Server-From"))
        return (req->has_from = parse_hex_id(v, vn, &req->from));
    if (header_is(p, name_len, "X-Raft-To"))
        return (req->has_to = parse_hex_id(v, vn, &req->to));
    if (header_is(p, name_len, "X-Etcd-Cluster-ID"))
        return (req->has_cluster = parse_hex_id(v, vn, &req->cluster_id));
    if (header_is(p, name_len, "X-Server-Version"))
        return copy_token(req->version, sizeof(req->version), v, vn);
    return true; /* other headers are ignored */
}

int peer_request_parse(const char *buf, size_t len, struct peer_request *req)
{
    memset(req, 0, sizeof(*req));
    int head = head_length(buf, len);
    if (head <= 0)
        return head;
    const char *end = buf + head;
    const char *eol = line_end(buf, end);
    /* request line: METHOD SP PATH SP HTTP/1.x */
    const char *sp1 = memchr(buf, ' ', (size_t)(eol - buf));
    if (sp1 == NULL || !copy_token(req->method, sizeof(req->method), buf, (size_t)(sp1 - buf)))
        return -1;
    const char *path = sp1 + 1;
    const char *sp2 = memchr(path, ' ', (size_t)(eol - path));
    if (sp2 == NULL || sp2 == path ||
        !copy_token(req->path, sizeof(req->path), path, (size_t)(sp2 - path)))
        return -1;
    if ((size_t)(eol - (sp2 + 1)) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return -1;
    for (const char *p = eol + 2; p < end - 2;) {
        const char *e = line_end(p, end);
        if (!parse_header(req, p, e))
            return -1;
        p = e + 2;
    }
    if (strcmp(req->method, "POST") == 0) {
        if (strcmp(req->path, PEER_PATH_MSG) == 0)
            req->kind = PEER_KIND_MSG;
        else if (strcmp(req->path, PEER_PATH_APP) == 0)
            req->kind = PEER_KIND_APP;
        else if (strcmp(req->path, PEER_PATH_SNAP) == 0)
            req->kind = PEER_KIND_SNAP;
    }
    return head;
}

int peer_response_parse(const char *buf, size_t len, int *status)
{
    int head = head_length(buf, len);
    if (head <= 0)
        return head;
    /* "HTTP/1.x NNN" */
    if (head < 14 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
        return -1;
    int v = 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return -1;
        v = v * 10 + (buf[i] - '0');
    }
    if (buf[12] != ' ' && buf[12] != '\r')
        return -1;
    *status = v;
    return head;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 410:
        return "Gone";
    case 412:
        return "Precondition Failed";
    case 500:
        return "Internal Server Error";
    default:
        return "Status";
    }
}

char *peer_response_format(int status, const char *content_type, const char *body, size_t body_len,
                           bool close, uint64_t cluster_id, const char *version, size_t *out_len)
{
    char head[512];
    int n;
    if (close)
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\n"
                     "X-Etcd-Cluster-ID: %" PRIx64 "\r\n"
                     "X-Server-Version: %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "Connection: close\r\n"
                     "\r\n",
                     status, reason(status), cluster_id, version, content_type, body_len);
    else
        n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\n"
                     "X-Etcd-Cluster-ID: %" PRIx64 "\r\n"
                     "X-Server-Version: %s\r\n"
                     "Content-Type: application/octet-stream\r\n"
                     "\r\n",
                     status, reason(status), cluster_id, version);
    if (n < 0 || (size_t)n >= sizeof(head))
        n = snprintf(head, sizeof(head), "HTTP/1.1 500 Internal Server Error\r\n\r\n");
    char *out = peer_xmalloc((size_t)n + body_len);
    memcpy(out, head, (size_t)n);
    if (body_len)
        memcpy(out + n, body, body_len);
    *out_len = (size_t)n + body_len;
    return out;
}
