/*
 * etcd's v2 discovery protocol (etcdserver/api/v2discovery in etcd 3.4).
 * A token is a directory of a v2 keys API: <token>/_config/size holds the
 * cluster size; each member creates <token>/<member ID in hex> with its
 * "name=peerURL" entries (prevExist=false); the first size members by
 * createdIndex are the cluster. A member that finds the cluster full before
 * it registers gives up (so that a proxy may take its place); one that is
 * registered waits with a recursive watch until size members are there.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "src/discovery/discovery.h"
#include "src/httpc/httpc.h"

/* etcd's client.DefaultRequestTimeout for one request to the token. */
#define REQUEST_TIMEOUT_MS 5000
/* etcd's backoff doubles from 2 s and stops doubling after 8 retries. */
#define MAX_EXPONENTIAL_RETRIES 8

typedef struct node {
    char *key;   /* full key (owned) */
    char *value; /* owned */
    uint64_t created_index;
} node_t;

typedef struct nodes {
    node_t *v;
    size_t n;
} nodes_t;

typedef struct discovery {
    httpc_endpoint_t ep; /* the discovery server, or the HTTP proxy */
    char *origin;        /* "http://host:port" when sent through a proxy, else "" (owned) */
    char *durl;          /* as given, for messages (owned) */
    char *token;         /* the URL's path, without a trailing slash (owned) */
    uint64_t self_id;    /* 0: not registering */
    unsigned retries;
} discovery_t;

static void nodes_free(nodes_t *ns)
{
    for (size_t i = 0; i < ns->n; i++) {
        free(ns->v[i].key);
        free(ns->v[i].value);
    }
    free(ns->v);
    ns->v = NULL;
    ns->n = 0;
}

/* Appends copies of key and value to ns (freed by nodes_free). */
static void nodes_push(nodes_t *ns, const char *key, const char *value, uint64_t created)
{
    node_t *v = realloc(ns->v, (ns->n + 1) * sizeof(*v));
    if (v == NULL)
        abort();
    ns->v = v;
    v[ns->n].key = strdup(key);
    v[ns->n].value = strdup(value);
    v[ns->n].created_index = created;
    if (v[ns->n].key == NULL || v[ns->n].value == NULL)
        abort();
    ns->n++;
}

static const char *base_name(const char *key)
{
    const char *slash = strrchr(key, '/');
    return slash != NULL ? slash + 1 : key;
}

static void discovery_free(discovery_t *d)
{
    httpc_endpoint_free(&d->ep);
    free(d->origin);
    free(d->durl);
    free(d->token);
}

/* Splits durl into the server and the token path (d owns the copies: free
 * with discovery_free, also after a failure) (etcd: url.Parse, token =
 * u.Path); with dproxy, requests go to the proxy with absolute URLs. */
static int discovery_init(discovery_t *d, const char *durl, const char *dproxy, uint64_t self_id,
                          char *err, size_t err_len)
{
    memset(d, 0, sizeof(*d));
    d->self_id = self_id;
    d->durl = strdup(durl);
    const char *p = strstr(durl, "://");
    if (p == NULL || strncmp(durl, "http", 4) != 0) {
        snprintf(err, err_len, "discovery: invalid URL %s", durl);
        return DISCOVERY_E_FAILED;
    }
    const char *path = strchr(p + 3, '/');
    size_t origin_len = path != NULL ? (size_t)(path - durl) : strlen(durl);
    char *origin = strndup(durl, origin_len);
    d->token = strdup(path != NULL ? path : "");
    if (d->durl == NULL || origin == NULL || d->token == NULL)
        abort();
    size_t tl = strlen(d->token);
    while (tl > 0 && d->token[tl - 1] == '/')
        d->token[--tl] = '\0';
    int rc;
    if (dproxy != NULL && dproxy[0] != '\0') {
        /* etcd: a proxy given without a scheme means http://. */
        char *purl = NULL;
        if (asprintf(&purl, "%s%s", strstr(dproxy, "://") ? "" : "http://", dproxy) < 0)
            abort();
        rc = httpc_endpoint_parse(&d->ep, purl, err, err_len);
        free(purl);
        d->origin = origin;
        log_line('I', "discovery", "using proxy %s for the discovery traffic", dproxy);
    } else {
        rc = httpc_endpoint_parse(&d->ep, origin, err, err_len);
        free(origin);
        d->origin = strdup("");
    }
    if (rc != 0)
        return DISCOVERY_E_FAILED;
    if (strncmp(durl, "https://", 8) == 0) {
        snprintf(err, err_len, "discovery: https discovery URLs are not supported by metcd");
        return DISCOVERY_E_FAILED;
    }
    return 0;
}

/* Percent-encodes s for a form value (Go's url.QueryEscape). Owned by the caller. */
static char *form_escape(const char *s)
{
    char *out = malloc(strlen(s) * 3 + 1), *o = out;
    if (out == NULL)
        abort();
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~')
            *o++ = (char)*p;
        else if (*p == ' ')
            *o++ = '+';
        else
            o += sprintf(o, "%%%02X", *p);
    }
    *o = '\0';
    return out;
}

typedef enum outcome {
    OUT_OK,       /* a 2xx answer */
    OUT_V2_ERROR, /* a v2 error answer: err holds "code: message (cause) [index]" */
    OUT_CLUSTER,  /* the server could not be reached or answered 5xx: retried */
} outcome_t;

/* One request to key (a path under the server) with query. res is filled on
 * OUT_OK and OUT_V2_ERROR (free it with httpc_response_free). */
static outcome_t request(discovery_t *d, const char *method, const char *key, const char *query,
                         const char *form, int timeout_ms, httpc_response_t *res, char *err,
                         size_t err_len)
{
    char *target = NULL;
    if (asprintf(&target, "%s%s%s", d->origin, key, query) < 0)
        abort();
    char why[256];
    int rc = httpc_request(&d->ep, method, target, form, timeout_ms, res, why, sizeof(why));
    free(target);
    if (rc != 0) {
        snprintf(err, err_len, "client: etcd cluster is unavailable or misconfigured; error #0: %s",
                 why);
        return OUT_CLUSTER;
    }
    if (res->status / 100 == 2)
        return OUT_OK;
    json_t *j = json_loads(res->body, 0, NULL);
    json_t *code = json_object_get(j, "errorCode");
    if (res->status / 100 == 5 && !json_is_integer(code)) {
        snprintf(err, err_len,
                 "client: etcd cluster is unavailable or misconfigured; error #0: client: endpoint "
                 "%s exceeded header timeout or answered %d",
                 d->durl, res->status);
        json_decref(j);
        httpc_response_free(res);
        return OUT_CLUSTER;
    }
    if (json_is_integer(code)) {
        /* Go's client.Error: "%v: %v (%v) [%v]". */
        snprintf(err, err_len, "%" JSON_INTEGER_FORMAT ": %s (%s) [%" JSON_INTEGER_FORMAT "]",
                 json_integer_value(code), json_string_value(json_object_get(j, "message")),
                 json_string_value(json_object_get(j, "cause")),
                 json_integer_value(json_object_get(j, "index")));
    } else {
        snprintf(err, err_len,
                 "client: response is invalid json. The endpoint is probably not "
                 "valid etcd cluster endpoint.");
    }
    json_decref(j);
    return OUT_V2_ERROR;
}

static void backoff(discovery_t *d, const char *step)
{
    d->retries++;
    unsigned r = d->retries > MAX_EXPONENTIAL_RETRIES ? MAX_EXPONENTIAL_RETRIES : d->retries;
    log_line('I', "discovery", "during %s, retrying in %u s", step, 1u << r);
    sleep(1u << r);
}

/*
 * Reads the size and the registered members (etcd's checkCluster). On 0 or
 * DISCOVERY_E_FULL, *ns holds the members by createdIndex (cut to size when
 * full), *index the X-Etcd-Index of the listing. Connection failures are
 * retried with backoff.
 */
static int check_cluster(discovery_t *d, nodes_t *ns, uint64_t *size, uint64_t *index, char *err,
                         size_t err_len)
{
    for (;;) {
        char *key = NULL;
        httpc_response_t res;
        if (asprintf(&key, "%s/_config/size", d->token) < 0)
            abort();
        outcome_t o = request(d, "GET", key, "", NULL, REQUEST_TIMEOUT_MS, &res, err, err_len);
        free(key);
        if (o == OUT_CLUSTER) {
            log_line('W', "discovery", "cannot read the size of %s: %s", d->durl, err);
            backoff(d, "cluster status check");
            continue;
        }
        if (o == OUT_V2_ERROR) {
            /* etcd 3.4 reports the keys API's error as it is (its check for
             * ErrSizeNotFound never matches): "100: Key not found ...". */
            httpc_response_free(&res);
            return DISCOVERY_E_FAILED;
        }
        json_t *j = json_loads(res.body, 0, NULL);
        const char *v = json_string_value(json_object_get(json_object_get(j, "node"), "value"));
        char *end = NULL;
        *size = v != NULL && v[0] >= '0' && v[0] <= '9' ? strtoull(v, &end, 10) : 0;
        bool bad = v == NULL || end == NULL || *end != '\0';
        json_decref(j);
        httpc_response_free(&res);
        if (bad) {
            snprintf(err, err_len, "discovery: size key is bad");
            return DISCOVERY_E_FAILED;
        }

        o = request(d, "GET", d->token, "", NULL, REQUEST_TIMEOUT_MS, &res, err, err_len);
        if (o == OUT_CLUSTER) {
            log_line('W', "discovery", "cannot list %s: %s", d->durl, err);
            backoff(d, "cluster status check");
            continue;
        }
        if (o == OUT_V2_ERROR) {
            httpc_response_free(&res);
            return DISCOVERY_E_FAILED;
        }
        *index = res.has_etcd_index ? res.etcd_index : 0;
        j = json_loads(res.body, 0, NULL);
        httpc_response_free(&res);
        json_t *arr = json_object_get(json_object_get(j, "node"), "nodes");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            json_t *n = json_array_get(arr, i);
            const char *k = json_string_value(json_object_get(n, "key"));
            const char *val = json_string_value(json_object_get(n, "value"));
            if (k == NULL || strcmp(base_name(k), "_config") == 0)
                continue;
            nodes_push(ns, k, val != NULL ? val : "",
                       (uint64_t)json_integer_value(json_object_get(n, "createdIndex")));
        }
        json_decref(j);
        /* Registration order decides who is in (etcd sorts by createdIndex). */
        for (size_t i = 1; i < ns->n; i++)
            for (size_t k = i; k > 0 && ns->v[k - 1].created_index > ns->v[k].created_index; k--) {
                node_t t = ns->v[k];
                ns->v[k] = ns->v[k - 1];
                ns->v[k - 1] = t;
            }
        char self[32];
        snprintf(self, sizeof(self), "%" PRIx64, d->self_id);
        for (size_t i = 0; i < ns->n; i++) {
            if (d->self_id != 0 && strcmp(base_name(ns->v[i].key), self) == 0)
                break;
            /* etcd computes size-1 unsigned: a size of 0 is never full. */
            if (*size > 0 && i >= *size - 1) {
                while (ns->n > *size) {
                    ns->n--;
                    free(ns->v[ns->n].key);
                    free(ns->v[ns->n].value);
                }
                snprintf(err, err_len, "discovery: cluster is full");
                return DISCOVERY_E_FULL;
            }
        }
        return 0;
    }
}

/* Creates this member's key (etcd's createSelf). */
static int create_self(discovery_t *d, const char *contents, char *err, size_t err_len)
{
    char *key = NULL, *value = form_escape(contents), *form = NULL;
    if (asprintf(&key, "%s/%" PRIx64, d->token, d->self_id) < 0 ||
        asprintf(&form, "value=%s", value) < 0)
        abort();
    free(value);
    httpc_response_t res;
    outcome_t o =
        request(d, "PUT", key, "?prevExist=false", form, REQUEST_TIMEOUT_MS, &res, err, err_len);
    free(key);
    free(form);
    if (o == OUT_OK) {
        httpc_response_free(&res);
        return 0;
    }
    if (o == OUT_V2_ERROR) {
        bool exists = res.status == 412 && strncmp(err, "105:", 4) == 0;
        httpc_response_free(&res);
        if (exists) {
            snprintf(err, err_len, "discovery: found duplicate id");
            return DISCOVERY_E_DUPLICATE_ID;
        }
    }
    return DISCOVERY_E_FAILED; /* etcd does not retry the registration either */
}

/* Waits until size members registered (etcd's waitNodes); ns grows. */
static int wait_nodes(discovery_t *d, nodes_t *ns, uint64_t size, uint64_t index, char *err,
                      size_t err_len)
{
    while (ns->n > size) {
        ns->n--;
        free(ns->v[ns->n].key);
        free(ns->v[ns->n].value);
    }
    char self[32];
    snprintf(self, sizeof(self), "%" PRIx64, d->self_id);
    for (size_t i = 0; i < ns->n; i++)
        log_line('I', "discovery", "found %s %s in the cluster",
                 strcmp(base_name(ns->v[i].key), self) == 0 ? "self" : "peer",
                 base_name(ns->v[i].key));
    uint64_t wait_index = index + 1;
    while (ns->n < size) {
        log_line('I', "discovery", "found %zu peer(s), waiting for %" PRIu64 " more", ns->n,
                 size - ns->n);
        char query[96];
        snprintf(query, sizeof(query), "?wait=true&recursive=true&waitIndex=%" PRIu64, wait_index);
        httpc_response_t res;
        outcome_t o = request(d, "GET", d->token, query, NULL, -1, &res, err, err_len);
        if (o == OUT_CLUSTER) {
            log_line('W', "discovery", "error while waiting for peers: %s", err);
            backoff(d, "waiting for other nodes");
            nodes_t fresh = {0};
            int rc = check_cluster(d, &fresh, &size, &index, err, err_len);
            if (rc != 0) {
                nodes_free(&fresh);
                return rc;
            }
            nodes_free(ns);
            *ns = fresh;
            return wait_nodes(d, ns, size, index, err, err_len);
        }
        if (o == OUT_V2_ERROR) {
            httpc_response_free(&res);
            return DISCOVERY_E_FAILED;
        }
        json_t *j = json_loads(res.body, 0, NULL);
        httpc_response_free(&res);
        json_t *n = json_object_get(j, "node");
        const char *k = json_string_value(json_object_get(n, "key"));
        const char *v = json_string_value(json_object_get(n, "value"));
        wait_index = (uint64_t)json_integer_value(json_object_get(n, "modifiedIndex")) + 1;
        if (k != NULL) {
            log_line('I', "discovery", "found peer %s in the cluster", base_name(k));
            nodes_push(ns, k, v != NULL ? v : "",
                       (uint64_t)json_integer_value(json_object_get(n, "createdIndex")));
        }
        json_decref(j);
    }
    log_line('I', "discovery", "found %zu needed peer(s)", ns->n);
    return 0;
}

/* The members' values joined (etcd's nodesToCluster): every entry must be
 * "name=URL" and the names must be size distinct ones. */
static int nodes_to_cluster(const nodes_t *ns, uint64_t size, char **cluster, char *err,
                            size_t err_len)
{
    size_t len = 1;
    for (size_t i = 0; i < ns->n; i++)
        len += strlen(ns->v[i].value) + 1;
    char *s = calloc(1, len);
    if (s == NULL)
        abort();
    for (size_t i = 0; i < ns->n; i++) {
        if (i > 0)
            strcat(s, ",");
        strcat(s, ns->v[i].value);
    }
    /* Count the distinct names and check each entry. */
    char *copy = strdup(s), *save = NULL;
    const char *names[512];
    size_t n_names = 0;
    bool bad = copy == NULL;
    for (char *e = copy != NULL ? strtok_r(copy, ",", &save) : NULL; e != NULL && !bad;
         e = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(e, '=');
        if (eq == NULL || eq == e ||
            (strncmp(eq + 1, "http://", 7) != 0 && strncmp(eq + 1, "https://", 8) != 0)) {
            bad = true;
            break;
        }
        *eq = '\0';
        bool seen = false;
        for (size_t k = 0; k < n_names && !seen; k++)
            seen = strcmp(names[k], e) == 0;
        if (!seen && n_names < 512)
            names[n_names++] = e;
    }
    free(copy);
    if (bad) {
        free(s);
        snprintf(err, err_len, "discovery: invalid URL");
        return DISCOVERY_E_FAILED;
    }
    if (n_names != size) {
        free(s);
        snprintf(err, err_len, "discovery: found duplicate name");
        return DISCOVERY_E_DUPLICATE_NAME;
    }
    *cluster = s;
    return 0;
}

int discovery_join(const char *durl, const char *dproxy, uint64_t self_id, const char *self_cluster,
                   char **cluster, char *err, size_t err_len)
{
    discovery_t d;
    nodes_t ns = {0};
    uint64_t size = 0, index = 0;
    int rc = discovery_init(&d, durl, dproxy, self_id, err, err_len);
    /* A full cluster fails before registering, so that this member may
     * become a proxy without taking a place. */
    if (rc == 0)
        rc = check_cluster(&d, &ns, &size, &index, err, err_len);
    nodes_free(&ns);
    if (rc == 0)
        rc = create_self(&d, self_cluster, err, err_len);
    if (rc == 0)
        rc = check_cluster(&d, &ns, &size, &index, err, err_len);
    if (rc == 0)
        rc = wait_nodes(&d, &ns, size, index, err, err_len);
    if (rc == 0)
        rc = nodes_to_cluster(&ns, size, cluster, err, err_len);
    nodes_free(&ns);
    discovery_free(&d);
    return rc;
}

int discovery_get_cluster(const char *durl, const char *dproxy, char **cluster, char *err,
                          size_t err_len)
{
    discovery_t d;
    nodes_t ns = {0};
    uint64_t size = 0, index = 0;
    int rc = discovery_init(&d, durl, dproxy, 0, err, err_len);
    if (rc == 0)
        rc = check_cluster(&d, &ns, &size, &index, err, err_len);
    if (rc == DISCOVERY_E_FULL)
        rc = nodes_to_cluster(&ns, size, cluster, err, err_len);
    else if (rc == 0 && (rc = wait_nodes(&d, &ns, size, index, err, err_len)) == 0)
        rc = nodes_to_cluster(&ns, size, cluster, err, err_len);
    nodes_free(&ns);
    discovery_free(&d);
    return rc;
}
