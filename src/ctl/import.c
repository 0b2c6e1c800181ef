/*
 * metcdctl import: copies a live v2 keyspace (etcd's, or any v2 endpoint's)
 * into the cluster of --endpoints, then optionally follows the source.
 *
 * The copy reads the source once (a recursive, sorted GET, and the hidden
 * keys named by --hidden, which no listing shows) and writes every
 * directory and key in the order the source created them (createdIndex), so
 * directories come before their children and the target's createdIndex
 * order is the source's; in-order keys keep their names. A TTL is written as
 * the seconds the source had left. A node the target already holds with the
 * same value, kind and TTL presence is skipped, so a copy that was cut short
 * resumes by running the same command again.
 *
 * --follow then watches the source recursively from its X-Etcd-Index + 1
 * (the index of the listing: nothing written after it is missed, the
 * source's history replays what happened meanwhile) and applies each event
 * to the target until interrupted. A source that moved past its history
 * (error 401) is copied again, then followed from there.
 *
 * A plain API copy cannot keep the source's indexes: the target numbers the
 * writes itself (metcd --import-etcd-data-dir keeps them, docs/migration.md).
 */
#include "ctl.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct src_node {
    const char *key;   /* borrowed from the listing */
    const char *value; /* NULL for a directory */
    json_int_t ttl;    /* 0: permanent */
    json_int_t created;
    size_t depth;
} src_node_t;

typedef struct node_list {
    src_node_t *v;
    size_t n, cap;
} node_list_t;

static void on_stop(int sig)
{
    (void)sig;
    /* A follow blocked in a long poll ends here; the copy is resumable. */
    _exit(0);
}

static int fail_import(const char *msg)
{
    fprintf(stderr, "Error:  %s\n", msg);
    return CTL_EXIT_BAD_ARGS;
}

static json_int_t jint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static void add_node(node_list_t *l, const json_t *n)
{
    const char *key = json_string_value(json_object_get(n, "key"));
    if (key == NULL) {
        return; /* the root */
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->v = realloc(l->v, l->cap * sizeof(*l->v));
        if (l->v == NULL) {
            abort();
        }
    }
    size_t depth = 0;
    for (const char *p = key; *p; p++) {
        depth += *p == '/';
    }
    bool dir = json_is_true(json_object_get(n, "dir"));
    const char *value = json_string_value(json_object_get(n, "value"));
    l->v[l->n++] = (src_node_t){key, dir ? NULL : (value ? value : ""), jint(n, "ttl"),
                                jint(n, "createdIndex"), depth};
}

static void flatten(node_list_t *l, const json_t *n)
{
    add_node(l, n);
    const json_t *kids = json_object_get(n, "nodes");
    size_t i;
    const json_t *c;
    json_array_foreach(kids, i, c)
    {
        flatten(l, c);
    }
}

static int by_creation(const void *a, const void *b)
{
    const src_node_t *x = a, *y = b;
    if (x->created != y->created) {
        return x->created < y->created ? -1 : 1;
    }
    if (x->depth != y->depth) {
        return x->depth < y->depth ? -1 : 1; /* a dir made with its first key */
    }
    return strcmp(x->key, y->key);
}

/* GET key (recursive, sorted) on c. Returns 0 with *body (owned) and
 * *index, 1 for a key that does not exist, or -1 after printing why. */
static int get_tree(ctl_client_t *c, const char *who, const char *key, json_t **body,
                    uint64_t *index)
{
    char *target = ctl_keys_target(key, "recursive=true&sorted=true");
    httpc_response_t res;
    ctl_cluster_error_t cerr;
    int rc = ctl_client_do(c, "GET", target, NULL, c->timeout_ms, &res, &cerr);
    free(target);
    if (rc < 0) {
        fprintf(stderr, "Error:  %s: %s\n%s\n", who, cerr.message, cerr.detail);
        return -1;
    }
    ctl_keys_result_t r;
    if (ctl_keys_parse(&res, &r) < 0) {
        httpc_response_free(&res);
        fprintf(stderr, "Error:  %s: empty answer\n", who);
        return -1;
    }
    *index = res.etcd_index;
    httpc_response_free(&res);
    if (r.is_error && r.error_code == 100) {
        ctl_keys_result_free(&r);
        return 1;
    }
    if (r.is_error || r.invalid_json || r.node == NULL) {
        fprintf(stderr, "Error:  %s: %" JSON_INTEGER_FORMAT ": %s (%s)\n", who, r.error_code,
                r.message, r.cause);
        ctl_keys_result_free(&r);
        return -1;
    }
    *body = json_incref(r.body);
    ctl_keys_result_free(&r);
    return 0;
}

/* ---- writing to the target ---- */

/* PUT or DELETE one key on the target. Returns 0, or an exit code after
 * printing the error. A delete of a key already gone is fine. */
static int write_key(ctl_ctx_t *ctx, const char *method, const char *key, const char *value,
                     bool dir, json_int_t ttl, bool dir_exists)
{
    char *form = NULL, ttl_text[32];
    const char *query = NULL;
    if (strcmp(method, "DELETE") == 0) {
        query = dir ? "recursive=true" : NULL;
    } else if (dir) {
        ctl_form_add(&form, "dir", "true");
        /* etcd refuses dir=true on an existing directory without prevExist. */
        if (dir_exists) {
            ctl_form_add(&form, "prevExist", "true");
        }
    } else {
        ctl_form_add(&form, "value", value);
    }
    if (ttl > 0 && form != NULL) {
        snprintf(ttl_text, sizeof(ttl_text), "%" JSON_INTEGER_FORMAT, ttl);
        ctl_form_add(&form, "ttl", ttl_text);
    }
    char *target = ctl_keys_target(key, query);
    httpc_response_t res;
    ctl_cluster_error_t cerr;
    int rc = ctl_client_do(&ctx->client, method, target, form ? form : "", ctx->client.timeout_ms,
                           &res, &cerr);
    free(target);
    free(form);
    if (rc < 0) {
        fprintf(stderr, "Error:  target: %s\n%s\n", cerr.message, cerr.detail);
        return CTL_EXIT_BAD_CONNECTION;
    }
    ctl_keys_result_t r;
    rc = ctl_keys_parse(&res, &r);
    httpc_response_free(&res);
    if (rc == 0 && r.is_error && !(r.error_code == 100 && strcmp(method, "DELETE") == 0)) {
        fprintf(stderr, "Error:  target: %s %s: %" JSON_INTEGER_FORMAT ": %s (%s)\n", method, key,
                r.error_code, r.message, r.cause);
        ctl_keys_result_free(&r);
        return CTL_EXIT_SERVER_ERROR;
    }
    if (rc == 0) {
        ctl_keys_result_free(&r);
    }
    return -1;
}

/* ---- the copy ---- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void progress(size_t done, size_t total, bool tty, double *last)
{
    if (!tty || (done != total && now_s() - *last < 0.1)) {
        return;
    }
    *last = now_s();
    int width = 40, fill = total ? (int)((double)done * width / (double)total) : width;
    fprintf(stderr, "\rimporting [%.*s%*s] %zu/%zu", fill,
            "########################################", width - fill, "", done, total);
    if (done == total) {
        fputc('\n', stderr);
    }
    fflush(stderr);
}

/* The target's copy of a node: 1 equal, 0 different or missing. */
static int same_on_target(const json_t *have, const src_node_t *n, bool *exists)
{
    const json_t *t = json_object_get(have, n->key);
    *exists = t != NULL;
    if (t == NULL) {
        return 0;
    }
    bool tdir = json_is_true(json_object_get(t, "dir"));
    const char *tv = json_string_value(json_object_get(t, "value"));
    bool tttl = json_object_get(t, "ttl") != NULL;
    if (tdir != (n->value == NULL) || tttl != (n->ttl > 0)) {
        return 0;
    }
    return n->value == NULL || (tv != NULL && strcmp(tv, n->value) == 0);
}

/* Indexes the target's nodes by key (a JSON object: key -> node). */
static void index_nodes(json_t *map, const json_t *n)
{
    const char *key = json_string_value(json_object_get(n, "key"));
    if (key != NULL) {
        json_object_set(map, key, (json_t *)n);
    }
    size_t i;
    const json_t *c;
    json_array_foreach(json_object_get(n, "nodes"), i, c)
    {
        index_nodes(map, c);
    }
}

static char **split_list(const char *list, size_t *n)
{
    *n = 0;
    char **v = NULL;
    if (list == NULL || *list == '\0') {
        return NULL;
    }
    char *copy = strdup(list), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        v = realloc(v, (*n + 1) * sizeof(*v));
        v[(*n)++] = strdup(t);
    }
    free(copy);
    return v;
}

/*
 * Copies the whole source once. Returns -1 with *index (the source's
 * X-Etcd-Index of the listing), or an exit code.
 */
static int copy_all(ctl_ctx_t *ctx, ctl_client_t *src, char **hidden, size_t n_hidden,
                    uint64_t *index)
{
    json_t *trees[65];
    size_t n_trees = 0;
    node_list_t list = {0};
    int code = -1;
    uint64_t idx = 0;
    if (n_hidden > 64) {
        return fail_import("at most 64 --hidden keys");
    }
    for (size_t i = 0; i <= n_hidden && code < 0; i++) {
        json_t *body = NULL;
        uint64_t hidx;
        int rc = get_tree(src, "source", i == 0 ? "/" : hidden[i - 1], &body, &hidx);
        if (rc < 0) {
            code = CTL_EXIT_BAD_CONNECTION;
        } else if (rc == 0) {
            trees[n_trees++] = body;
            flatten(&list, json_object_get(body, "node"));
            if (i == 0) {
                idx = hidx;
            }
        }
    }
    json_t *have = json_object();
    json_t *tbody = NULL;
    uint64_t tidx;
    if (code < 0 && get_tree(&ctx->client, "target", "/", &tbody, &tidx) < 0) {
        code = CTL_EXIT_BAD_CONNECTION;
    }
    if (tbody) {
        index_nodes(have, json_object_get(tbody, "node"));
    }
    for (size_t i = 0; i < n_hidden && code < 0; i++) {
        json_t *hb = NULL;
        if (get_tree(&ctx->client, "target", hidden[i], &hb, &tidx) == 0) {
            index_nodes(have, json_object_get(hb, "node"));
            json_decref(hb);
        }
    }
    if (code < 0) {
        qsort(list.v, list.n, sizeof(*list.v), by_creation);
    }
    bool tty = isatty(2);
    double last = 0;
    size_t written = 0, skipped = 0;
    for (size_t i = 0; i < list.n && code < 0; i++) {
        const src_node_t *n = &list.v[i];
        bool exists;
        if (same_on_target(have, n, &exists)) {
            skipped++;
        } else {
            code = write_key(ctx, "PUT", n->key, n->value, n->value == NULL, n->ttl,
                             exists && n->value == NULL);
            written++;
        }
        progress(i + 1, list.n, tty, &last);
    }
    if (code < 0) {
        fprintf(stderr,
                "imported %zu keys and directories from index %" PRIu64 " (%zu written, %zu "
                "already there)\n",
                list.n, idx, written, skipped);
    }
    for (size_t i = 0; i < n_trees; i++) {
        json_decref(trees[i]);
    }
    json_decref(tbody);
    json_decref(have);
    free(list.v);
    *index = idx;
    return code;
}

/* ---- following the source ---- */

/*
 * One long poll on the source from *wait_index. Returns 0 with *r, 1 when
 * the index left the source's history (401), or -1 after printing why.
 */
static int watch_source(ctl_client_t *src, uint64_t *wait_index, ctl_keys_result_t *r)
{
    for (;;) {
        char query[96];
        snprintf(query, sizeof(query), "recursive=true&wait=true&waitIndex=%" PRIu64, *wait_index);
        char *target = ctl_keys_target("/", query);
        httpc_response_t res;
        ctl_cluster_error_t cerr;
        int rc = ctl_client_do(src, "GET", target, NULL, -1, &res, &cerr);
        free(target);
        if (rc < 0) {
            fprintf(stderr, "Error:  source: %s\n%s\n", cerr.message, cerr.detail);
            return -1;
        }
        rc = ctl_keys_parse(&res, r);
        httpc_response_free(&res);
        if (rc < 0) {
            continue; /* the long poll ended without an event */
        }
        if (r->is_error && r->error_code == 401) {
            ctl_keys_result_free(r);
            return 1;
        }
        if (r->is_error || r->invalid_json || r->node == NULL) {
            fprintf(stderr, "Error:  source: %" JSON_INTEGER_FORMAT ": %s (%s)\n", r->error_code,
                    r->message, r->cause);
            ctl_keys_result_free(r);
            return -1;
        }
        *wait_index = (uint64_t)jint(r->node, "modifiedIndex") + 1;
        return 0;
    }
}

/* Applies one source event to the target. -1, or an exit code. */
static int apply_event(ctl_ctx_t *ctx, const ctl_keys_result_t *r)
{
    const json_t *n = r->node;
    const char *key = json_string_value(json_object_get(n, "key"));
    bool dir = json_is_true(json_object_get(n, "dir"));
    const char *a = r->action;
    if (key == NULL) {
        return -1;
    }
    if (strcmp(a, "delete") == 0 || strcmp(a, "compareAndDelete") == 0 ||
        strcmp(a, "expire") == 0) {
        return write_key(ctx, "DELETE", key, NULL, dir, 0, false);
    }
    const char *value = json_string_value(json_object_get(n, "value"));
    /* A directory event other than its creation changes its TTL. */
    bool dir_exists = dir && strcmp(a, "create") != 0 && r->prev_node != NULL;
    return write_key(ctx, "PUT", key, value ? value : "", dir, jint(n, "ttl"), dir_exists);
}

static int follow(ctl_ctx_t *ctx, ctl_client_t *src, char **hidden, size_t n_hidden, uint64_t index)
{
    uint64_t wait_index = index + 1;
    fprintf(stderr, "following the source from index %" PRIu64 "\n", wait_index);
    for (;;) {
        ctl_keys_result_t r;
        int rc = watch_source(src, &wait_index, &r);
        if (rc < 0) {
            return CTL_EXIT_BAD_CONNECTION;
        }
        if (rc == 1) {
            fprintf(stderr, "the source moved past its event history: copying again\n");
            int code = copy_all(ctx, src, hidden, n_hidden, &index);
            if (code >= 0) {
                return code;
            }
            wait_index = index + 1;
            continue;
        }
        int code = apply_event(ctx, &r);
        if (code < 0) {
            printf("%" PRIu64 " %s %s\n", wait_index - 1, r.action,
                   json_string_value(json_object_get(r.node, "key")));
            fflush(stdout);
        }
        ctl_keys_result_free(&r);
        if (code >= 0) {
            return code;
        }
    }
}

int ctl_cmd_import(ctl_ctx_t *ctx)
{
    if (ctx->from == NULL || ctx->from[0] == '\0') {
        return fail_import("import needs --from, the source's client URL(s)");
    }
    if (ctx->nargs > 0) {
        return fail_import("import takes no arguments");
    }
    ctl_client_t src;
    char err[512];
    if (ctl_client_init(&src, ctx->from, err, sizeof(err)) != 0) {
        return fail_import(err);
    }
    src.timeout_ms = ctx->client.timeout_ms;
    size_t n_hidden = 0;
    char **hidden = split_list(ctx->hidden, &n_hidden);
    for (size_t i = 0; i < n_hidden; i++) {
        if (hidden[i][0] != '/') {
            hidden[i] = realloc(hidden[i], strlen(hidden[i]) + 2);
            memmove(hidden[i] + 1, hidden[i], strlen(hidden[i]) + 1);
            hidden[i][0] = '/';
        }
    }
    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);
    uint64_t index = 0;
    int code = copy_all(ctx, &src, hidden, n_hidden, &index);
    if (code < 0 && ctx->follow) {
        code = follow(ctx, &src, hidden, n_hidden, index);
    }
    for (size_t i = 0; i < n_hidden; i++) {
        free(hidden[i]);
    }
    free(hidden);
    ctl_client_free(&src);
    return code < 0 ? CTL_EXIT_SUCCESS : code;
}
