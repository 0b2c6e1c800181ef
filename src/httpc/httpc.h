/*
 * A minimal blocking HTTP/1.1 client: metcdctl's requests and the requests
 * a member makes before it serves (discovery, joining a cluster). One
 * request per connection ("Connection: close"), Content-Length, chunked or
 * read-until-close bodies; http:// and https:// (OpenSSL: the files of
 * httpc_tls_configure(), etcdctl's --cert-file, --key-file and --ca-file).
 * The User-Agent is the program's name.
 */
#ifndef METCD_HTTPC_H
#define METCD_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One parsed endpoint URL such as "http://127.0.0.1:2379". */
typedef struct httpc_endpoint {
    char *url;  /* as given, without a trailing slash (owned) */
    char *host; /* without brackets (owned) */
    char *port; /* decimal text (owned) */
    bool tls;   /* https:// */
} httpc_endpoint_t;

/*
 * The TLS files of every https:// request (etcdctl's --cert-file,
 * --key-file, --ca-file; NULL or "" when not given: no client
 * certificate, the system's CA bundle). The strings are borrowed and must
 * outlive the requests. Read at the first https:// request; the server's
 * certificate must chain to the CA and name the endpoint's host.
 */
void httpc_tls_configure(const char *cert_file, const char *key_file, const char *ca_file);

/*
 * skip: https:// servers are not verified at all (no CA, no host check),
 * as etcd's TLS client does with a self-signed --peer-auto-tls
 * certificate. Read at the first https:// request, like the files.
 */
void httpc_tls_skip_verify(bool skip);

typedef struct httpc_response {
    int status;
    char *body; /* NUL-terminated, body_len bytes before the NUL (owned) */
    size_t body_len;
    bool has_etcd_index;
    uint64_t etcd_index; /* X-Etcd-Index */
    char *head;          /* the status line and headers, NUL-terminated (owned) */
} httpc_response_t;

/*
 * Parses url into ep. Returns 0, or -1 with a message in err.
 * Ownership: ep owns its strings; free with httpc_endpoint_free().
 */
int httpc_endpoint_parse(httpc_endpoint_t *ep, const char *url, char *err, size_t err_len);
void httpc_endpoint_free(httpc_endpoint_t *ep);

/*
 * Sends one request and reads the whole response. target is the path and
 * query ("/v2/keys/a?recursive=true"), already escaped. form is NULL (no
 * body), an application/x-www-form-urlencoded body, or a JSON object (a
 * body starting with '{', sent as application/json). timeout_ms bounds the
 * whole exchange; a negative value waits forever (watches).
 * Returns 0 with *res filled, or -1 with a Go-style message in err such as
 * "dial tcp 127.0.0.1:1: connect: connection refused".
 * Ownership: res->body is malloc'd; free with httpc_response_free().
 */
int httpc_request(const httpc_endpoint_t *ep, const char *method, const char *target,
                  const char *form, int timeout_ms, httpc_response_t *res, char *err,
                  size_t err_len);
void httpc_response_free(httpc_response_t *res);

/*
 * The value of the first header called name (case-insensitive) of res,
 * copied into out (at most out_len - 1 bytes, NUL-terminated, surrounding
 * blanks removed). Returns 0, or -1 when res has no such header.
 */
int httpc_response_header(const httpc_response_t *res, const char *name, char *out, size_t out_len);

#endif
