/*
 * A minimal blocking HTTP/1.1 client for metcdctl: one request per
 * connection ("Connection: close"), Content-Length, chunked or
 * read-until-close bodies. Plain http:// only.
 */
#ifndef METCD_CTL_HTTP_CLIENT_H
#define METCD_CTL_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One parsed endpoint URL such as "http://127.0.0.1:2379". */
typedef struct ctl_endpoint {
    char *url;  /* as given, without a trailing slash (owned) */
    char *host; /* without brackets (owned) */
    char *port; /* decimal text (owned) */
} ctl_endpoint_t;

typedef struct ctl_response {
    int status;
    char *body; /* NUL-terminated, body_len bytes before the NUL (owned) */
    size_t body_len;
    bool has_etcd_index;
    uint64_t etcd_index; /* X-Etcd-Index */
} ctl_response_t;

/*
 * Parses url into ep. Returns 0, or -1 with a message in err.
 * Ownership: ep owns its strings; free with ctl_endpoint_free().
 */
int ctl_endpoint_parse(ctl_endpoint_t *ep, const char *url, char *err, size_t err_len);
void ctl_endpoint_free(ctl_endpoint_t *ep);

/*
 * Sends one request and reads the whole response. target is the path and
 * query ("/v2/keys/a?recursive=true"), already escaped. form is NULL (no
 * body), an application/x-www-form-urlencoded body, or a JSON object (a
 * body starting with '{', sent as application/json). timeout_ms bounds the
 * whole exchange; a negative value waits forever (watches).
 * Returns 0 with *res filled, or -1 with a Go-style message in err such as
 * "dial tcp 127.0.0.1:1: connect: connection refused".
 * Ownership: res->body is malloc'd; free with ctl_response_free().
 */
int ctl_http_request(const ctl_endpoint_t *ep, const char *method, const char *target,
                     const char *form, int timeout_ms, ctl_response_t *res, char *err,
                     size_t err_len);
void ctl_response_free(ctl_response_t *res);

#endif
