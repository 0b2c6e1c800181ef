/*
 * Responses every handler shares: CORS, v2 error JSON, Go's plain-text
 * errors (404, 405) and ServeMux's 301, all as etcd 3.4.23 sends them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"

/*
 * Appends one response header. h2o_add_header() copies orig_name into the
 * request's pool and grows the list from 4 entries; every name here is a
 * string literal, so it is pointed to, and the list starts at 16 (a key's
 * answer has 9 or 10 headers). value is borrowed until the answer is sent.
 */
static void push_header(h2o_req_t *req, h2o_iovec_t *name, const char *orig_name, const char *value,
                        size_t len)
{
    h2o_headers_t *h = &req->res.headers;
    if (h->size == h->capacity)
        h2o_vector_reserve(&req->pool, h, h->size < 16 ? 16 : h->size * 2);
    h->entries[h->size++] = (h2o_header_t){name, orig_name, h2o_iovec_init(value, len)};
}

void api_add_header(h2o_req_t *req, const h2o_token_t *token, const char *orig_name,
                    const char *value, size_t len)
{
    push_header(req, (h2o_iovec_t *)&token->buf, orig_name, value, len);
}

static void add_header_by_str(h2o_req_t *req, const char *lcname, const char *orig_name,
                              const char *value, size_t len)
{
    h2o_iovec_t *name = h2o_mem_alloc_pool(&req->pool, sizeof(*name));
    *name = h2o_iovec_init(lcname, strlen(lcname));
    push_header(req, name, orig_name, value, len);
}

void api_add_header_u64(h2o_req_t *req, const char *lcname, const char *orig_name, uint64_t v)
{
    char *s = h2o_mem_alloc_pool(&req->pool, 24);
    size_t n = api_format_u64(s, v);
    add_header_by_str(req, lcname, orig_name, s, n);
}

/* etcd wraps its client handler in a CORS handler: these three on every response. */
void api_add_cors(h2o_req_t *req)
{
    add_header_by_str(req, "access-control-allow-origin", "Access-Control-Allow-Origin",
                      H2O_STRLIT("*"));
    add_header_by_str(req, "access-control-allow-methods", "Access-Control-Allow-Methods",
                      H2O_STRLIT("POST, GET, OPTIONS, PUT, DELETE"));
    add_header_by_str(req, "access-control-allow-headers", "Access-Control-Allow-Headers",
                      H2O_STRLIT("accept, content-type, authorization"));
}

void api_header_info(api_t *api, uint64_t *cluster_id, uint64_t *raft_index, uint64_t *raft_term)
{
    if (api->host.header_info != NULL) {
        api->host.header_info(api->host.ctx, cluster_id, raft_index, raft_term);
        return;
    }
    api_server_info_t info;
    memset(&info, 0, sizeof(info));
    api->host.server_info(api->host.ctx, &info);
    *cluster_id = info.cluster_id;
    *raft_index = info.raft_index;
    *raft_term = info.raft_term;
}

void api_add_cluster_id(api_t *api, h2o_req_t *req)
{
    uint64_t cluster_id, raft_index, raft_term;
    api_header_info(api, &cluster_id, &raft_index, &raft_term);
    char *s = h2o_mem_alloc_pool(&req->pool, 20);
    size_t n = api_format_hex_id(s, cluster_id);
    add_header_by_str(req, "x-etcd-cluster-id", "X-Etcd-Cluster-Id", s, n);
}

/* Go's http.StatusText for the statuses the API sends. */
static const char *status_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Request Entity Too Large";
    case 415:
        return "Unsupported Media Type";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

void api_send(api_t *api, h2o_req_t *req, int status, const char *ctype, const char *body,
              size_t len)
{
    req->res.status = status;
    req->res.reason = status_reason(status);
    if (ctype != NULL)
        api_add_header(req, H2O_TOKEN_CONTENT_TYPE, "Content-Type", ctype, strlen(ctype));
    api_metrics_count(api, api_method_from(req->method.base, req->method.len), status);
    /* Without a length HTTP/1.1 goes chunked (200) or closes the connection (others). */
    req->res.content_length = len;
    /* Go writes no Content-Length on a 204 (nor does h2o frame one without it). */
    if (status == 204)
        req->res.content_length = SIZE_MAX;
    /* No copy (h2o_send_inline would make one): the body outlives the request. */
    static h2o_generator_t generator = {NULL, NULL};
    h2o_start_response(req, &generator);
    h2o_iovec_t buf = h2o_iovec_init(body, len);
    bool head = req->input.method.len == 4 && memcmp(req->input.method.base, "HEAD", 4) == 0;
    h2o_send(req, &buf, head || len == 0 ? 0 : 1, H2O_SEND_STATE_FINAL);
}

/*
 * Go's server rejects some requests before any handler (a path that does not
 * unescape, an HTTP/1.1 request without Host): plain text, no CORS, and the
 * connection closes after the body (no Content-Length).
 */
void api_send_bad_request_close(api_t *api, h2o_req_t *req, const char *body)
{
    req->http1_is_persistent = 0;
    req->res.status = 400;
    req->res.reason = "Bad Request";
    api_add_header(req, H2O_TOKEN_CONTENT_TYPE, "Content-Type",
                   H2O_STRLIT("text/plain; charset=utf-8"));
    api_metrics_count(api, api_method_from(req->method.base, req->method.len), 400);
    h2o_send_inline(req, body, strlen(body));
}

void api_send_not_found(api_t *api, h2o_req_t *req)
{
    add_header_by_str(req, "x-content-type-options", "X-Content-Type-Options",
                      H2O_STRLIT("nosniff"));
    api_send(api, req, 404, "text/plain; charset=utf-8", H2O_STRLIT("404 page not found\n"));
}

void api_send_method_not_allowed(api_t *api, h2o_req_t *req, const char *allow)
{
    if (allow != NULL)
        add_header_by_str(req, "allow", "Allow", allow, strlen(allow));
    add_header_by_str(req, "x-content-type-options", "X-Content-Type-Options",
                      H2O_STRLIT("nosniff"));
    api_send(api, req, 405, "text/plain; charset=utf-8", H2O_STRLIT("Method Not Allowed\n"));
}

/*
 * The HTTP status of a v2 errorCode: etcd's v2error maps these codes and
 * answers every other one with 400 Bad Request.
 */
int api_error_status(int code)
{
    switch (code) {
    case STORE_E_KEY_NOT_FOUND:
        return 404;
    case STORE_E_NOT_FILE:
    case STORE_E_DIR_NOT_EMPTY:
        return 403;
    case STORE_E_TEST_FAILED:
    case STORE_E_NODE_EXIST:
        return 412;
    case STORE_E_UNAUTHORIZED:
        return 401;
    case STORE_E_RAFT_INTERNAL:
    case STORE_E_LEADER_ELECT:
        return 500;
    default:
        return 400;
    }
}

/* v2error.Error.WriteTo: X-Etcd-Index, application/json, JSON + "\n". */
static void send_error(api_t *api, h2o_req_t *req, int code, const char *cause, size_t cause_len,
                       uint64_t index)
{
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    api_json_error(&b, code, cause, cause_len, index);
    api_buf_append(&b, "\n", 1);
    api_add_header_u64(req, "x-etcd-index", "X-Etcd-Index", index);
    api_send(api, req, api_error_status(code), "application/json", b.data, b.len);
}

void api_send_v2_error(api_t *api, h2o_req_t *req, int code, const char *cause, uint64_t index)
{
    send_error(api, req, code, cause, cause ? strlen(cause) : 0, index);
}

void api_send_store_error(api_t *api, h2o_req_t *req, const store_error_t *err)
{
    send_error(api, req, err->code ? err->code : STORE_E_RAFT_INTERNAL, err->cause, err->cause_len,
               err->index);
}

/* Go's html.EscapeString subset used by http.Redirect's body. */
static void html_escape(api_buf_t *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '<':
            api_buf_append_str(b, "&lt;");
            break;
        case '>':
            api_buf_append_str(b, "&gt;");
            break;
        case '&':
            api_buf_append_str(b, "&amp;");
            break;
        case '\'':
            api_buf_append_str(b, "&#39;");
            break;
        case '"':
            api_buf_append_str(b, "&#34;");
            break;
        default:
            api_buf_append(b, &s[i], 1);
        }
    }
}

/*
 * Go's http.Redirect(w, r, url, 301): GET and HEAD get text/html, and GET a
 * small body; other methods get neither.
 */
void api_send_redirect(api_t *api, h2o_req_t *req, api_method_t m, const char *location, size_t len)
{
    add_header_by_str(req, "location", "Location", location, len);
    if (m == API_M_HEAD) {
        /* Go writes no body for HEAD, so it sends no Content-Length either. */
        req->res.status = 301;
        req->res.reason = "Moved Permanently";
        api_add_header(req, H2O_TOKEN_CONTENT_TYPE, "Content-Type",
                       H2O_STRLIT("text/html; charset=utf-8"));
        api_metrics_count(api, m, 301);
        h2o_send_inline(req, "", 0);
        return;
    }
    if (m == API_M_GET) {
        api_buf_t b;
        api_buf_init(&b, &req->pool);
        api_buf_append_str(&b, "<a href=\"");
        html_escape(&b, location, len);
        api_buf_append_str(&b, "\">Moved Permanently</a>.\n\n");
        api_send(api, req, 301, "text/html; charset=utf-8", b.data, b.len);
    } else {
        api_send(api, req, 301, NULL, "", 0);
    }
}
