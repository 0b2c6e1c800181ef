/*
 * The v2 keys client behind metcdctl: endpoint failover, the request URLs and
 * form bodies etcd's Go client sends, and parsing of keys responses and v2
 * errors.
 */
#ifndef METCD_CTL_CLIENT_H
#define METCD_CTL_CLIENT_H

#include "src/httpc/httpc.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct ctl_client {
    httpc_endpoint_t *eps; /* owned */
    size_t n_eps;
    size_t pinned;  /* the endpoint that answered last */
    int timeout_ms; /* per command (--total-timeout) */
    bool debug;     /* print each request as a curl command on stderr */
} ctl_client_t;

/* When every endpoint failed: etcd's ClusterError text and its Detail(). */
typedef struct ctl_cluster_error {
    char message[4096];
    char detail[4096];
    bool all_connection; /* every endpoint failed to connect or read (not 5xx) */
    bool single;         /* a one-shot request: message is that one error, no detail */
} ctl_cluster_error_t;

/* A parsed /v2/keys answer: either a success or a v2 error. */
typedef struct ctl_keys_result {
    json_t *body;            /* parsed body (owned) */
    bool is_error;           /* a v2 error object (errorCode...) */
    bool invalid_json;       /* the body was not what etcd sends */
    const char *action;      /* borrowed from body, "" when absent */
    const json_t *node;      /* borrowed, NULL when absent */
    const json_t *prev_node; /* borrowed, NULL when absent */
    uint64_t index;          /* X-Etcd-Index of a success */
    json_int_t error_code;
    const char *message, *cause; /* borrowed, "" when absent */
    json_int_t error_index;
    int status;
} ctl_keys_result_t;

/*
 * Sets up c from a comma-separated endpoint list. Returns 0, or -1 with a
 * message in err. Ownership: c owns its endpoints; free with
 * ctl_client_free().
 */
int ctl_client_init(ctl_client_t *c, const char *endpoints, char *err, size_t err_len);
void ctl_client_free(ctl_client_t *c);

/*
 * Replaces the endpoints by the members' client URLs from /v2/members, as
 * etcdctl does unless --no-sync. Returns 0 (also when the members could
 * not be read for another reason: the given endpoints stay); -1 with *cerr
 * filled when no endpoint could be connected to; -2 when the cluster
 * published no client URLs.
 */
int ctl_client_sync(ctl_client_t *c, ctl_cluster_error_t *cerr);

/*
 * Sends a request to the pinned endpoint, failing over to the next ones.
 * As etcd's client does, a 5xx answer counts as a failure of that endpoint
 * ("has no leader" for 500 and 503). timeout_ms < 0 waits forever. Returns 0
 * with *res filled (any status below 500), or -1 with *cerr filled. Ownership: free res with
 * httpc_response_free().
 */
int ctl_client_do(ctl_client_t *c, const char *method, const char *target, const char *form,
                  int timeout_ms, httpc_response_t *res, ctl_cluster_error_t *cerr);

/*
 * Same for a request that must not be sent twice (etcd's client marks
 * create-only sets and deletes "one shot"): the first failure is returned
 * as it is (cerr->single) and the next endpoint is pinned for later.
 */
int ctl_client_do_once(ctl_client_t *c, const char *method, const char *target, const char *form,
                       int timeout_ms, httpc_response_t *res, ctl_cluster_error_t *cerr);

/* Same, sending to one given endpoint only (cluster-health). */
int ctl_client_do_url(ctl_client_t *c, const httpc_endpoint_t *ep, const char *method,
                      const char *target, int timeout_ms, httpc_response_t *res, char *err,
                      size_t err_len);

/*
 * Parses a keys response as etcd's Go client does (200/201: success; any
 * other status: a v2 error). Returns 0; -1 for an empty 200 body (a watch
 * that ended without an event). Ownership: free with ctl_keys_result_free().
 */
int ctl_keys_parse(const httpc_response_t *res, ctl_keys_result_t *out);
void ctl_keys_result_free(ctl_keys_result_t *r);

/*
 * Builds "/v2/keys<key>" as etcd's client does (leading slash added, the
 * path cleaned, a trailing slash kept, Go's path escaping), then appends
 * query (already encoded, may be NULL or ""). Ownership: malloc'd, caller
 * frees.
 */
char *ctl_keys_target(const char *key, const char *query);

/* Appends "&name=value" (or "name=value" when *buf is empty) with Go's
 * QueryEscape to a malloc'd buffer; *buf may be NULL. Returns 0 or -1. */
int ctl_form_add(char **buf, const char *name, const char *value);

#endif
