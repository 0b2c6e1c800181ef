/*
 * api/ internals shared by the files of the layer. Not for other layers.
 */
#ifndef METCD_API_INT_H
#define METCD_API_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <h2o.h>

#include "api/api.h"
#include "store/store.h"

/* ---- A growable byte buffer (json_writer.c). ---- */

/*
 * Bytes appended in place. With a pool, memory comes from the request's h2o
 * pool and lives as long as the request; without one it is malloc'd and the
 * owner calls api_buf_free(). Allocation failure aborts, as h2o's pool does.
 */
typedef struct api_buf {
    char *data;
    size_t len;
    size_t cap;
    h2o_mem_pool_t *pool;
} api_buf_t;

void api_buf_init(api_buf_t *b, h2o_mem_pool_t *pool);
void api_buf_reserve(api_buf_t *b, size_t extra);
static inline void api_buf_append(api_buf_t *b, const void *data, size_t len)
{
    if (len == 0)
        return;
    if (b->len + len > b->cap)
        api_buf_reserve(b, len);
    memcpy(b->data + b->len, data, len);
    b->len += len;
}
void api_buf_append_str(api_buf_t *b, const char *s);
void api_buf_append_u64(api_buf_t *b, uint64_t v);
void api_buf_append_i64(api_buf_t *b, int64_t v);
void api_buf_free(api_buf_t *b); /* malloc'd buffers only */
/* Decimal digits of v into out (21 bytes); returns the length. */
size_t api_format_u64(char *out, uint64_t v);

/* ---- Go-compatible JSON (json_writer.c). ---- */

/* Appends s as a JSON string, quotes included, escaped as Go's encoding/json. */
void api_json_string(api_buf_t *b, const char *s, size_t len);
/*
 * Formats a Unix-ns time as Go's RFC3339Nano in UTC
 * ("2026-11-22T15:34:51.754419444Z", fractional zeros trimmed). out needs 40
 * bytes; returns the length (no NUL counted, one written).
 */
size_t api_format_rfc3339(char *out, int64_t unix_ns);
/* A size to reserve before encoding ev: exact when nothing needs escaping. */
size_t api_json_event_size_hint(const store_event_t *ev);
/* Appends a node in etcd's field order (Go omitempty rules, see store.h). */
void api_json_node(api_buf_t *b, const store_node_t *n);
/*
 * Appends an event: {"action","node","prevNode"}. With no_node the node and
 * prevNode are left out (noValueOnSuccess). No trailing newline.
 */
void api_json_event(api_buf_t *b, const store_event_t *ev, bool no_node);
/* Appends {"errorCode","message","cause","index"}; cause (cause_len bytes,
 * NUL allowed) left out when empty or NULL. */
void api_json_error(api_buf_t *b, int code, const char *cause, size_t cause_len, uint64_t index);
/* Lower-case hex without leading zeros, as Go's strconv.FormatUint(id, 16). */
size_t api_format_hex_id(char *out, uint64_t id);
/* Appends an id as a JSON string of api_format_hex_id's digits (misc_handlers.c). */
void api_json_hex_id(api_buf_t *b, uint64_t id);
/*
 * Appends a float64 as Go's encoding/json writes it: the shortest decimal
 * that reads back to the same value, in %f form, or %e form (e-07, not
 * e-007) below 1e-6 and from 1e21. Not for NaN or infinities, which Go
 * refuses to encode.
 */
void api_json_float(api_buf_t *b, double v);

/* ---- One encoded event shared by its watchers (watch_frame.c). ---- */

/*
 * An event's JSON line ("{...}\n") between HTTP/1.1 chunk framing:
 * "<hex>\r\n" + line + "\r\n". HTTP/1.1 watchers send the whole chunk,
 * others (HTTP/2, HTTP/1.0) and GET answers the line alone. Reference
 * counted; never changed after creation. bytes[] holds API_FRAME_HEAD_MAX
 * bytes for the chunk head (right-aligned: it ends where the line starts),
 * then the line.
 */
#define API_FRAME_HEAD_MAX 18 /* "<hex size>\r\n": a size_t is at most 16 hex digits */
typedef struct api_watch_frame {
    unsigned refcount;
    uint32_t head_len; /* "<hex>\r\n", the last head_len of the API_FRAME_HEAD_MAX */
    size_t body_len;   /* the JSON line, newline included */
    char bytes[];
} api_watch_frame_t;

/*
 * Encodes ev (etcd's watch output, and a GET's answer: the event and "\n").
 * Ownership: the frame starts with one reference, the caller's.
 */
api_watch_frame_t *api_watch_frame_new(const store_event_t *ev);
static inline api_watch_frame_t *api_watch_frame_retain(api_watch_frame_t *f)
{
    f->refcount++;
    return f;
}
/* Drops one reference; the last one frees the frame. NULL is ignored. */
void api_watch_frame_release(api_watch_frame_t *f);
static inline h2o_iovec_t api_watch_frame_chunk(const api_watch_frame_t *f)
{
    return h2o_iovec_init(f->bytes + API_FRAME_HEAD_MAX - f->head_len,
                          f->head_len + f->body_len + 2);
}
static inline h2o_iovec_t api_watch_frame_line(const api_watch_frame_t *f)
{
    return h2o_iovec_init(f->bytes + API_FRAME_HEAD_MAX, f->body_len);
}

/* ---- Request parsing (keys_parse.c). ---- */

typedef enum api_method {
    API_M_OTHER = 0,
    API_M_GET,
    API_M_HEAD,
    API_M_PUT,
    API_M_POST,
    API_M_DELETE,
    API_M_OPTIONS,
} api_method_t;

api_method_t api_method_from(const char *m, size_t len);
const char *api_method_name(api_method_t m);

/* A decoded form/query pair; strings in the pool, NUL-terminated. */
typedef struct api_form_pair {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} api_form_pair_t;

typedef struct api_form {
    api_form_pair_t *pairs;
    size_t n, cap;
} api_form_t;

/*
 * A parse failure. code is a v2 errorCode (201..212), reported with index 0
 * (etcd's request errors), or 0 with http_status for plain HTTP errors.
 */
typedef struct api_parse_error {
    int code;
    char cause[96];
} api_parse_error_t;

/*
 * Parses an x-www-form-urlencoded string as Go's url.ParseQuery does,
 * appending pairs to form (pool memory). Returns 0, or -1 with the first
 * error's text in err->cause (parsing continues past it, as Go's does).
 */
int api_form_parse(api_form_t *form, h2o_mem_pool_t *pool, const char *s, size_t len,
                   api_parse_error_t *err);
/* The first value of name, or NULL when absent. */
const api_form_pair_t *api_form_get(const api_form_t *form, const char *name);

/* What a /v2/keys request asks for, after etcd's parseKeyRequest. */
typedef struct api_keys_req {
    api_method_t method;
    const char *key; /* "/a/b", "/" for the root; pool memory */
    size_t key_len;
    const char *value; /* NULL when absent */
    size_t value_len;
    const char *prev_value; /* NULL when absent */
    size_t prev_value_len;
    uint64_t prev_index;
    uint64_t wait_index;
    uint64_t ttl;
    bool has_ttl;
    bool recursive, sorted, wait, dir, quorum, stream, no_value_on_success;
    int prev_exist; /* -1 absent, 0 false, 1 true */
    int refresh;    /* -1 absent, 0 false, 1 true */
} api_keys_req_t;

/*
 * The outcome of looking at a request's raw path: decode it, and decide
 * whether Go's ServeMux would redirect it (//, /./, /../).
 */
typedef struct api_path {
    const char *path; /* decoded (pool) */
    size_t path_len;
    const char *redirect; /* when non-NULL: the Location for a 301 (pool) */
    size_t redirect_len;
} api_path_t;

/*
 * Decodes the raw request target (path and query). Returns 0, or -1 when the
 * path holds a bad %-escape (Go's server answers 400 Bad Request).
 */
int api_path_parse(h2o_mem_pool_t *pool, const char *target, size_t target_len, api_path_t *out);

/* Go's path.Clean. out must hold len + 1 bytes; returns the cleaned length. */
size_t api_path_clean(const char *p, size_t len, char *out);

/* Whether a Content-Type's media type is x-www-form-urlencoded (Go's rule). */
bool api_media_type_is_form(const char *ct, size_t len);

/*
 * Parses a /v2/keys request: key from the decoded path (after "/v2/keys"),
 * parameters from the query and (PUT/POST with a form Content-Type) the body.
 * Returns 0, or -1 with err filled (a v2 request error, index 0).
 */
int api_keys_parse(h2o_mem_pool_t *pool, api_method_t method, const char *key_part,
                   size_t key_part_len, const char *query, size_t query_len,
                   const char *content_type, size_t content_type_len, const char *body,
                   size_t body_len, api_keys_req_t *out, api_parse_error_t *err);

/*
 * Reads the body of POST/PUT /v2/members as etcd does (Go's encoding/json
 * into {"peerURLs":[...]}, then types.NewURLs). Returns 0 with *urls the
 * checked URLs, sorted (pool memory, *n_urls >= 1), or -1 with Go's error
 * text appended to err (for a 400 {"message":...}).
 */
int api_members_parse_body(h2o_mem_pool_t *pool, const char *body, size_t len, const char ***urls,
                           size_t *n_urls, api_buf_t *err);

/* Go's strconv.ParseBool / ParseUint(s, 10, 64). Return 0 or -1. */
int api_parse_uint64(const char *s, size_t len, uint64_t *out);

/* ---- The server object (server.c). ---- */

typedef struct api_watch api_watch_t;
typedef struct api_ticket api_ticket_t;

/* Request counters by method and status, for /metrics. */
#define API_METRIC_METHODS  7
#define API_METRIC_STATUSES 16
#define API_LATENCY_BUCKETS 14

typedef struct api_metrics {
    int statuses[API_METRIC_STATUSES]; /* status code of each column (0 = unused) */
    uint64_t requests[API_METRIC_METHODS][API_METRIC_STATUSES];
    uint64_t latency_buckets[API_LATENCY_BUCKETS]; /* cumulative at print time */
    uint64_t latency_count;
    double latency_sum;
    size_t watches;         /* pending watches of every loop (inside the host's lock) */
    uint64_t failed_logins; /* auth: credentials that did not check (inside the lock) */
    /* Client connections open on every loop, and the loops accepting them (atomic; server.c). */
    size_t client_conns;
    unsigned accepting_loops;
} api_metrics_t;

struct api {
    h2o_globalconf_t globalconf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_iovec_t default_authority; /* what h2o puts in a request without Host */
    h2o_loop_t *loop;
    api_config_t cfg;
    char version[32];
    char cluster_version[32];
    api_host_t host;
    h2o_socket_t **listeners;
    size_t n_listeners;
    /* Accepted client connections still open (server.c), for api_shutdown(). */
    struct api_conn *conns;
    size_t n_conns;
    bool accepts_clients; /* counted in metrics->accepting_loops */
    /* Pending watches (intrusive list) and the hang-up detector (watch.c). */
    api_watch_t *watches;
    size_t n_watches;
    int hup_epfd;
    h2o_socket_t *hup_sock;
    struct api_hup_slot *hup_slots; /* by fd: the watch it reports for (watch.c) */
    size_t hup_cap;
    /*
     * Fan-out (watch.c): watches with bytes to send, served a batch per loop
     * turn; an eventfd that stays readable while the queue is not empty
     * makes the loop come back to it after the I/O that is ready.
     */
    api_watch_t *ready_head, *ready_tail;
    int kick_fd;
    h2o_socket_t *kick_sock;
    bool kicked;
    /* The last event encoded (retained) and its frame: shared by its watchers. */
    store_event_t *frame_ev;
    api_watch_frame_t *frame;
    /* Writes in flight whose answer is still wanted or not (keys_handler.c). */
    api_ticket_t *free_tickets;
    /* Recent listings' answers (list_cache.c); NULL until the first. */
    struct api_list_cache *list_cache;
    struct api_auth *auth; /* v2 auth state (auth_int.h) */
    /* Request counts of every loop's API (the first one's own_metrics). */
    api_metrics_t *metrics;
    api_metrics_t own_metrics;
};

/*
 * Before a request waits for the host (a write): keeps its HTTP/1
 * connection's read registration as it is (server.c says when and why).
 */
void api_read_while_waiting(h2o_req_t *req);

/* The host's lock (see api_host_t.enter); nothing with one loop. */
static inline void api_enter(api_t *api)
{
    if (api != NULL && api->host.enter != NULL)
        api->host.enter(api->host.ctx);
}
static inline void api_leave(api_t *api)
{
    if (api != NULL && api->host.leave != NULL)
        api->host.leave(api->host.ctx);
}

/* ---- Responses (errors.c). ---- */

/* CORS headers etcd puts on every response. */
void api_add_cors(h2o_req_t *req);
/*
 * Adds "name: value" (orig_name is the HTTP/1 spelling). lcname and
 * orig_name are kept, not copied: string literals only; value is borrowed
 * until the answer is sent (the request's pool, or static).
 */
void api_add_header(h2o_req_t *req, const h2o_token_t *token, const char *orig_name,
                    const char *value, size_t len);
void api_add_header_u64(h2o_req_t *req, const char *lcname, const char *orig_name, uint64_t v);
void api_add_cluster_id(api_t *api, h2o_req_t *req);
/* The host's cluster id and raft index and term (api_host_t.header_info). */
void api_header_info(api_t *api, uint64_t *cluster_id, uint64_t *raft_index, uint64_t *raft_term);
/*
 * Sends status + body, counting it for /metrics. ctype may be NULL. The body
 * is not copied: it must live as long as the request (request pool or static).
 */
void api_send(api_t *api, h2o_req_t *req, int status, const char *ctype, const char *body,
              size_t len);
/* 400 text/plain, connection closed after the body (Go's server-level rejections). */
void api_send_bad_request_close(api_t *api, h2o_req_t *req, const char *body);
/* 404 "404 page not found\n" (Go's http.NotFound). */
void api_send_not_found(api_t *api, h2o_req_t *req);
/* 405 with Allow: allow (none when NULL), body "Method Not Allowed\n" (Go's http.Error). */
void api_send_method_not_allowed(api_t *api, h2o_req_t *req, const char *allow);
/* The HTTP status etcd gives a v2 errorCode (400 for codes it does not map). */
int api_error_status(int code);
/* A v2 error: X-Etcd-Index = index, JSON body + "\n". cause is a C string
 * (or NULL), copied. */
void api_send_v2_error(api_t *api, h2o_req_t *req, int code, const char *cause, uint64_t index);
/* The same for an error from the store or the server: the whole counted
 * cause (it may quote a key or value holding NUL); code 0 becomes 300
 * (raftInternal). err stays the caller's. */
void api_send_store_error(api_t *api, h2o_req_t *req, const store_error_t *err);
/* 301 to location as Go's ServeMux redirect does. */
void api_send_redirect(api_t *api, h2o_req_t *req, api_method_t m, const char *location,
                       size_t len);

/* ---- Directory listings kept encoded per store index (list_cache.c). ---- */

#define API_LIST_CACHE_SLOTS 8
typedef struct api_list_cache api_list_cache_t;

/*
 * The answer of an earlier listing with kr's key and flags, still valid (the
 * store is at the index it was read at), or NULL. Inside the host's lock.
 * Borrowed: api_send_frame() takes its own reference.
 */
api_watch_frame_t *api_list_cache_find(api_t *api, const api_keys_req_t *kr);
/* Whether ev is a listing whose answer may be kept (a directory, no TTL shown). */
bool api_list_cache_wants(const store_event_t *ev);
/*
 * Keeps f as kr's answer read at store index `index` (store_replaced()
 * `replaced`), unless the store has moved on or f is too small or too large
 * to keep. Inside the host's lock. Takes its own reference to f.
 */
void api_list_cache_put(api_t *api, const api_keys_req_t *kr, uint64_t index, uint64_t replaced,
                        api_watch_frame_t *f);
void api_list_cache_dispose(api_t *api);
/* Sends f's JSON line as the whole answer; the request holds a reference until it ends. */
void api_send_frame(api_t *api, h2o_req_t *req, int status, api_watch_frame_t *f);

/* ---- Handlers. ---- */

void api_handle_keys(api_t *api, h2o_req_t *req, api_method_t m, const char *key_part,
                     size_t key_part_len);
int api_watch_start(api_t *api, h2o_req_t *req, const api_keys_req_t *kr);
void api_watch_init(api_t *api);
void api_watch_dispose(api_t *api);
void api_tickets_dispose(api_t *api);

void api_handle_version(api_t *api, h2o_req_t *req, api_method_t m);
void api_handle_health(api_t *api, h2o_req_t *req, api_method_t m);
void api_handle_machines(api_t *api, h2o_req_t *req, api_method_t m);
void api_handle_members(api_t *api, h2o_req_t *req, api_method_t m, const char *sub, size_t len);
void api_handle_auth(api_t *api, h2o_req_t *req, api_method_t m, const char *sub, size_t len);
/* etcd's grpc-gateway (/v3/...): this member has no v3 API, so every path is its 404. */
void api_send_v3_not_found(api_t *api, h2o_req_t *req);
void api_handle_stats(api_t *api, h2o_req_t *req, api_method_t m, const char *which, size_t len);
void api_handle_metrics(api_t *api, h2o_req_t *req, api_method_t m);

/* /metrics bookkeeping (metrics.c). */
void api_metrics_count(api_t *api, api_method_t m, int status);
void api_metrics_observe_apply(api_t *api, double seconds);

/* Unix ns from the wall clock. */
int64_t api_now_ns(void);

#endif /* METCD_API_INT_H */
