/*
 * src/peer/peer_int.h - internals shared by the files of src/peer/.
 * Not for use outside src/peer/ and tests/peer/.
 */
#ifndef METCD_PEER_INT_H
#define METCD_PEER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <h2o.h>

#include "common/endian.h"

#include "src/peer/peer.h"

#define PEER_LOG_COMPONENT "rafthttp" /* etcd logs its transport under this name */

/* Out of memory outside raft/ aborts, as h2o's allocators do. */
__attribute__((noreturn)) void peer_oom(size_t n);
void *peer_xmalloc(size_t n);
void *peer_xcalloc(size_t n, size_t size);
void *peer_xrealloc(void *p, size_t n);
char *peer_xstrdup(const char *s);

/* ---- frame.c: length-prefixed raft messages ------------------------------ */

/* A frame: u32 little-endian payload length, then the payload. */
#define PEER_FRAME_HEADER      4
#define PEER_DEFAULT_MAX_FRAME (64u << 20)

/* Encodes `m` (borrowed) into one frame. On success *out is a malloc'd
 * buffer of *out_len bytes owned by the caller. PEER_EINVAL if raft
 * refuses to encode it or it exceeds `max`. */
int peer_frame_encode(const struct raft_message *m, size_t max, uint8_t **out, size_t *out_len);
/* Looks at the bytes at `buf`: returns 0 when more are needed, the whole
 * frame length (header included) when one frame is complete (its payload
 * is buf + PEER_FRAME_HEADER, *payload_len bytes), or PEER_EINVAL when it
 * announces more than `max` payload bytes. */
ssize_t peer_frame_next(const uint8_t *buf, size_t len, size_t max, size_t *payload_len);

/* ---- handshake.c: the HTTP/1.1 preamble of every connection ------------- */

#define PEER_HEAD_MAX 8192 /* longest request or response head accepted */

enum peer_conn_kind {
    PEER_KIND_NONE = 0, /* a plain HTTP request (GET /members, /version) */
    PEER_KIND_MSG,      /* stream of everything but MSG_APP */
    PEER_KIND_APP,      /* stream of MSG_APP */
    PEER_KIND_SNAP,     /* one snapshot */
};

#define PEER_PATH_MSG  "/raft/metcd/stream/msg"
#define PEER_PATH_APP  "/raft/metcd/stream/app"
#define PEER_PATH_SNAP "/raft/metcd/snapshot"

struct peer_request {
    char method[8];
    char path[256]; /* raw, NUL-terminated; truncated requests are refused */
    enum peer_conn_kind kind;
    bool has_from, has_to, has_cluster;
    uint64_t from, to, cluster_id;
    char version[32];
};

/* Parses a request head. Returns its length (up to and including the
 * blank line) when complete, 0 when more bytes are needed, -1 when it is
 * malformed or longer than PEER_HEAD_MAX. Header names are matched without
 * case, IDs are hex as etcd writes them. */
int peer_request_parse(const char *buf, size_t len, struct peer_request *req);
/* Writes the head of a `kind` connection into buf (NUL-terminated);
 * returns its length, or 0 if it does not fit. */
size_t peer_request_format(char *buf, size_t cap, enum peer_conn_kind kind, uint64_t from,
                           uint64_t to, uint64_t cluster_id, const char *version);
/* Parses a response head: returns its length when complete (the status in
 * *status), 0 when more bytes are needed, -1 when malformed or too long. */
int peer_response_parse(const char *buf, size_t len, int *status);
/* Builds a response: head (Content-Length when `close`, none for a 200 that
 * opens a stream) and body. Returns a malloc'd buffer owned by the caller. */
char *peer_response_format(int status, const char *content_type, const char *body, size_t body_len,
                           bool close, uint64_t cluster_id, const char *version, size_t *out_len);

/* ---- url.c ---------------------------------------------------------------- */

/* Checks that `url` is http://host:port (0) or https://host:port
 * (PEER_ETLS: usable only with a TLS dialer); PEER_EURL otherwise. */
int peer_url_check(const char *url);
/* Resolves `url` into *addr; *tls says https, `host` (host_cap bytes)
 * receives the host to verify the peer's certificate against. Numeric
 * hosts never block; a name is looked up with getaddrinfo (which may
 * block: peer URLs are normally addresses). */
int peer_url_resolve(const char *url, struct sockaddr_storage *addr, socklen_t *len, bool *tls,
                     char *host, size_t host_cap);
/* The outcome of a client TLS handshake that h2o reports: true when the
 * connection may be used. h2o checks the host name after the handshake
 * with DNS names only; the dialer's own verification (X509_check_ip_asc /
 * X509_check_host in the server's TLS context, or none with peer auto
 * TLS, as etcd's InsecureSkipVerify) has already decided, so its name
 * verdicts are not errors here. */
bool peer_tls_dial_ok(const char *err);

/* ---- peer_set.c: known members, removed IDs, counters ------------------- */

struct peer_entry {
    uint64_t id;
    char **urls; /* owned */
    size_t n_urls;
    size_t url_next; /* the URL to dial next: rotates on failure, as etcd's urlPicker */
    struct peer_stats stats;
    void *impl; /* the implementation's per-peer state, owned by it */
};

struct peer_set {
    struct peer_entry **v;
    size_t n, cap;
    uint64_t *removed; /* IDs are never reused in etcd: remember them all */
    size_t n_removed, cap_removed;
};

struct peer_entry *peer_set_find(const struct peer_set *s, uint64_t id);
/* Adds `id` with copies of `urls`; the set owns the entry. */
struct peer_entry *peer_set_add(struct peer_set *s, uint64_t id, const char *const *urls, size_t n);
void peer_set_set_urls(struct peer_entry *e, const char *const *urls, size_t n);
/* Frees the entry (its impl must be gone) and remembers `id` as removed. */
void peer_set_remove(struct peer_set *s, uint64_t id);
bool peer_set_is_removed(const struct peer_set *s, uint64_t id);
void peer_set_dispose(struct peer_set *s);
/* Checks every URL; returns the first error (https:// ones are fine when
 * `tls`, PEER_ETLS otherwise). */
int peer_urls_check(const char *const *urls, size_t n, bool tls);

/* ---- defer.c: handler callbacks run from the loop, never inside an op --- */

enum peer_event_kind { PEER_EV_UNREACHABLE, PEER_EV_SNAP_SENT, PEER_EV_REMOVED };

struct peer_event {
    enum peer_event_kind kind;
    uint64_t id;
    bool failed;
};

struct peer_defer {
    h2o_loop_t *loop;
    const struct peer_handler *handler; /* borrowed from the owner */
    h2o_timeout_t zero;
    h2o_timeout_entry_t entry;
    struct peer_event *v;
    size_t n, cap;
};

void peer_defer_init(struct peer_defer *d, h2o_loop_t *loop, const struct peer_handler *h);
/* Queues one callback for the next loop turn. Repeated unreachable reports
 * for one peer in one turn are folded into one. */
void peer_defer_push(struct peer_defer *d, enum peer_event_kind kind, uint64_t id, bool failed);
/* Drops pending events without calling them. */
void peer_defer_dispose(struct peer_defer *d);

/* Refusals repeat at every reconnect attempt of the refused member: log
 * each (member, reason) at most once a minute, so the log keeps one clear
 * line instead of ten a second. */
#define PEER_LOG_LIMIT_SLOTS 32
struct peer_log_limit {
    uint64_t id;
    int what;
    uint64_t at_ms;
};
/* True when the line for (id, what) may be logged now. */
bool peer_log_allow(struct peer_log_limit *slots, uint64_t id, int what);

/* Fills defaults into a copy of the config. */
void peer_config_defaults(struct peer_config *c);
/* Checks a message given to send(). */
int peer_check_outgoing(const struct peer_config *c, const struct raft_message *m);

#endif /* METCD_PEER_INT_H */
