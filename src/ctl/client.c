/* See client.h. */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_client_init(ctl_client_t *c, const char *endpoints, char *err, size_t err_len)
{
    memset(c, 0, sizeof(*c));
    c->timeout_ms = 5000;
    char *copy = strdup(endpoints);
    if (copy == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    size_t n = 1;
    for (const char *p = copy; *p; p++) {
        n += *p == ',';
    }
    c->eps = calloc(n, sizeof(*c->eps));
    if (c->eps == NULL) {
        free(copy);
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (httpc_endpoint_parse(&c->eps[c->n_eps], tok, err, err_len) < 0) {
            free(copy);
            ctl_client_free(c);
            return -1;
        }
        c->n_eps++;
    }
    free(copy);
    if (c->n_eps == 0) {
        snprintf(err, err_len, "client: no endpoints available");
        ctl_client_free(c);
        return -1;
    }
    return 0;
}

void ctl_client_free(ctl_client_t *c)
{
    for (size_t i = 0; i < c->n_eps; i++) {
        httpc_endpoint_free(&c->eps[i]);
    }
    free(c->eps);
    memset(c, 0, sizeof(*c));
}

static void debug_curl(const ctl_client_t *c, const httpc_endpoint_t *ep, const char *method,
                       const char *target, const char *form)
{
    if (!c->debug) {
        return;
    }
    fprintf(stderr, "cURL Command: curl -X %s %s%s", method, ep->url, target);
    if (form != NULL) {
        fprintf(stderr, " -d \"%s\"", form);
    }
    fputc('\n', stderr);
}

int ctl_client_do_url(ctl_client_t *c, const httpc_endpoint_t *ep, const char *method,
                      const char *target, int timeout_ms, httpc_response_t *res, char *err,
                      size_t err_len)
{
    debug_curl(c, ep, method, target, NULL);
    return httpc_request(ep, method, target, NULL, timeout_ms, res, err, err_len);
}

/* Go's http.StatusText for the 5xx codes. */
static const char *server_error_text(int status)
{
    switch (status) {
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    case 506:
        return "Variant Also Negotiates";
    case 507:
        return "Insufficient Storage";
    case 508:
        return "Loop Detected";
    case 510:
        return "Not Extended";
    case 511:
        return "Network Authentication Required";
    default:
        return "";
    }
}

static int do_request(ctl_client_t *c, const char *method, const char *target, const char *form,
                      int timeout_ms, bool one_shot, httpc_response_t *res,
                      ctl_cluster_error_t *cerr)
{
    /* etcd's client: try each endpoint once, starting at the pinned one; if
     * all fail, report every error in a ClusterError. */
    int mlen = snprintf(cerr->message, sizeof(cerr->message),
                        "client: etcd cluster is unavailable or misconfigured");
    int dlen = 0;
    cerr->detail[0] = '\0';
    cerr->all_connection = true;
    cerr->single = false;
    for (size_t i = 0; i < c->n_eps; i++) {
        size_t k = (c->pinned + i) % c->n_eps;
        char err[512];
        debug_curl(c, &c->eps[k], method, target, form);
        if (httpc_request(&c->eps[k], method, target, form, timeout_ms, res, err, sizeof(err)) ==
            0) {
            if (res->status / 100 != 5) {
                c->pinned = k;
                return 0;
            }
            /* etcd's client treats a 5xx as that member failing. */
            if (res->status == 500 || res->status == 503) {
                snprintf(err, sizeof(err), "client: etcd member %s has no leader", c->eps[k].url);
            } else {
                snprintf(err, sizeof(err), "client: etcd member %s returns server error [%s]",
                         c->eps[k].url, server_error_text(res->status));
            }
            httpc_response_free(res);
            cerr->all_connection = false;
        } else if (strncmp(err, "dial ", 5) != 0 && strncmp(err, "read ", 5) != 0) {
            /* etcdctl's isConnectionError: dial and read failures only. */
            cerr->all_connection = false;
        }
        if (one_shot) {
            c->pinned = (k + 1) % c->n_eps;
            snprintf(cerr->message, sizeof(cerr->message), "%s", err);
            cerr->single = true;
            return -1;
        }
        if (mlen >= 0 && (size_t)mlen < sizeof(cerr->message)) {
            mlen += snprintf(cerr->message + mlen, sizeof(cerr->message) - (size_t)mlen,
                             "; error #%zu: %s\n", i, err);
        }
        if (dlen >= 0 && (size_t)dlen < sizeof(cerr->detail)) {
            dlen += snprintf(cerr->detail + dlen, sizeof(cerr->detail) - (size_t)dlen,
                             "error #%zu: %s\n", i, err);
        }
    }
    return -1;
}

int ctl_client_do(ctl_client_t *c, const char *method, const char *target, const char *form,
                  int timeout_ms, httpc_response_t *res, ctl_cluster_error_t *cerr)
{
    return do_request(c, method, target, form, timeout_ms, false, res, cerr);
}

int ctl_client_do_once(ctl_client_t *c, const char *method, const char *target, const char *form,
                       int timeout_ms, httpc_response_t *res, ctl_cluster_error_t *cerr)
{
    return do_request(c, method, target, form, timeout_ms, true, res, cerr);
}

int ctl_client_sync(ctl_client_t *c, ctl_cluster_error_t *cerr)
{
    httpc_response_t res;
    if (ctl_client_do(c, "GET", "/v2/members", NULL, c->timeout_ms, &res, cerr) < 0) {
        /* etcdctl gives up only when it cannot connect at all. */
        return cerr->all_connection ? -1 : 0;
    }
    json_t *root = NULL;
    if (res.status == 200) {
        root = json_loadb(res.body, res.body_len, JSON_ALLOW_NUL, NULL);
    }
    httpc_response_free(&res);
    const json_t *members = json_object_get(root, "members");
    if (!json_is_array(members)) {
        /* Like etcd's client, keep the given endpoints when sync fails
         * for a reason other than connectivity. */
        json_decref(root);
        return 0;
    }
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(members); i++) {
        n += json_array_size(json_object_get(json_array_get(members, i), "clientURLs"));
    }
    if (n == 0) {
        json_decref(root);
        return -2;
    }
    httpc_endpoint_t *eps = calloc(n, sizeof(*eps));
    size_t got = 0;
    for (size_t i = 0; eps != NULL && i < json_array_size(members); i++) {
        const json_t *urls = json_object_get(json_array_get(members, i), "clientURLs");
        for (size_t j = 0; j < json_array_size(urls); j++) {
            const char *u = json_string_value(json_array_get(urls, j));
            char err[256];
            if (u != NULL && httpc_endpoint_parse(&eps[got], u, err, sizeof(err)) == 0) {
                got++;
            }
        }
    }
    json_decref(root);
    if (got == 0) {
        /* https-only or unparsable URLs: keep what the user gave. */
        free(eps);
        return 0;
    }
    for (size_t i = 0; i < c->n_eps; i++) {
        httpc_endpoint_free(&c->eps[i]);
    }
    free(c->eps);
    c->eps = eps;
    c->n_eps = got;
    c->pinned = 0;
    return 0;
}

static const char *str_field(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s != NULL ? s : "";
}

int ctl_keys_parse(const httpc_response_t *res, ctl_keys_result_t *out)
{
    memset(out, 0, sizeof(*out));
    out->status = res->status;
    out->action = out->message = out->cause = "";
    if ((res->status == 200 || res->status == 201) && res->body_len == 0) {
        return -1;
    }
    out->body = json_loadb(res->body, res->body_len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(out->body)) {
        out->invalid_json = true;
        return 0;
    }
    if (res->status == 200 || res->status == 201) {
        out->action = str_field(out->body, "action");
        out->node = json_object_get(out->body, "node");
        out->prev_node = json_object_get(out->body, "prevNode");
        if (!json_is_object(out->node)) {
            out->node = NULL;
        }
        if (!json_is_object(out->prev_node)) {
            out->prev_node = NULL;
        }
        out->index = res->etcd_index;
        return 0;
    }
    out->is_error = true;
    const json_t *code = json_object_get(out->body, "errorCode");
    out->error_code = json_is_integer(code) ? json_integer_value(code) : 0;
    out->message = str_field(out->body, "message");
    out->cause = str_field(out->body, "cause");
    const json_t *index = json_object_get(out->body, "index");
    out->error_index = json_is_integer(index) ? json_integer_value(index) : 0;
    return 0;
}

void ctl_keys_result_free(ctl_keys_result_t *r)
{
    json_decref(r->body);
    memset(r, 0, sizeof(*r));
}

/* Go's url path escaping (shouldEscape with encodePath). */
static int path_char_ok(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return 1;
    }
    return strchr("-_.~$&+,/:;=@", c) != NULL && c != '\0';
}

/*
 * etcd's client cleans the path (pkg/pathutil CanonicalURLPath: Go's
 * path.Clean, keeping a trailing slash). Works on a copy; returns malloc'd.
 */
static char *clean_path(const char *p)
{
    size_t len = strlen(p);
    char *out = malloc(len + 2);
    if (out == NULL) {
        return NULL;
    }
    size_t o = 0;
    out[o++] = '/';
    size_t i = 0;
    while (i < len) {
        while (i < len && p[i] == '/') {
            i++;
        }
        size_t start = i;
        while (i < len && p[i] != '/') {
            i++;
        }
        size_t seg = i - start;
        if (seg == 0 || (seg == 1 && p[start] == '.')) {
            continue;
        }
        if (seg == 2 && p[start] == '.' && p[start + 1] == '.') {
            /* drop the previous component */
            if (o > 1) {
                o--; /* the '/' after the last component */
                while (o > 1 && out[o - 1] != '/') {
                    o--;
                }
            }
            continue;
        }
        memcpy(out + o, p + start, seg);
        o += seg;
        out[o++] = '/';
    }
    if (o > 1 && !(len > 0 && p[len - 1] == '/')) {
        o--; /* no trailing slash unless the input had one */
    }
    out[o] = '\0';
    return out;
}

char *ctl_keys_target(const char *key, const char *query)
{
    size_t klen = strlen(key);
    char *joined = malloc(klen + 16);
    if (joined == NULL) {
        return NULL;
    }
    snprintf(joined, klen + 16, "/v2/keys%s%s", (key[0] == '/' || key[0] == '\0') ? "" : "/", key);
    char *clean = clean_path(joined);
    free(joined);
    if (clean == NULL) {
        return NULL;
    }
    size_t qlen = query != NULL ? strlen(query) : 0;
    size_t cap = strlen(clean) * 3 + qlen + 2;
    char *out = malloc(cap);
    if (out == NULL) {
        free(clean);
        return NULL;
    }
    size_t o = 0;
    for (const unsigned char *s = (const unsigned char *)clean; *s; s++) {
        if (path_char_ok(*s)) {
            out[o++] = (char)*s;
        } else {
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", *s);
        }
    }
    if (qlen > 0) {
        out[o++] = '?';
        memcpy(out + o, query, qlen);
        o += qlen;
    }
    out[o] = '\0';
    free(clean);
    return out;
}

int ctl_form_add(char **buf, const char *name, const char *value)
{
    size_t old = *buf != NULL ? strlen(*buf) : 0;
    size_t cap = old + strlen(name) + strlen(value) * 3 + 3;
    char *nb = realloc(*buf, cap);
    if (nb == NULL) {
        return -1;
    }
    size_t o = old;
    if (o > 0) {
        nb[o++] = '&';
    }
    o += (size_t)snprintf(nb + o, cap - o, "%s=", name);
    /* Go's url.QueryEscape: unreserved kept, space as '+', rest %XX. */
    for (const unsigned char *s = (const unsigned char *)value; *s; s++) {
        unsigned char ch = *s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            nb[o++] = (char)ch;
        } else if (ch == ' ') {
            nb[o++] = '+';
        } else {
            o += (size_t)snprintf(nb + o, cap - o, "%%%02X", ch);
        }
    }
    nb[o] = '\0';
    *buf = nb;
    return 0;
}
