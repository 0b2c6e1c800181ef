/*
 * metcdctl's commands. Each builds the request etcd's Go client
 * (go.etcd.io/etcd/client, v3.4) would send for the same etcdctl command and
 * prints the answer the way etcdctl/ctlv2 does.
 */
#include "ctl.h"
#include "go_json.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- errors, printed as etcdctl's handleError does ("Error: " + Println) ---- */

static int fail_text(const char *msg, int code)
{
    fprintf(stderr, "Error:  %s\n", msg);
    return code;
}

static int fail_cluster(const ctl_cluster_error_t *cerr, int code)
{
    if (cerr->single) {
        return fail_text(cerr->message, code);
    }
    /* ClusterError: Error() then Detail(), each through Println. */
    fprintf(stderr, "Error:  %s\n%s\n", cerr->message, cerr->detail);
    return code;
}

static int fail_keys(const ctl_keys_result_t *r)
{
    if (r->invalid_json) {
        return fail_text("client: response is invalid json. The endpoint is probably not "
                         "valid etcd cluster endpoint",
                         CTL_EXIT_SERVER_ERROR);
    }
    /* client.Error.Error(): "<code>: <message> (<cause>) [<index>]" */
    fprintf(stderr, "Error:  %" JSON_INTEGER_FORMAT ": %s (%s) [%" JSON_INTEGER_FORMAT "]\n",
            r->error_code, r->message, r->cause, r->error_index);
    return CTL_EXIT_SERVER_ERROR;
}

/* ---- node field access ---- */

static const char *node_str(const json_t *node, const char *name, size_t *len)
{
    const json_t *v = json_object_get(node, name);
    if (!json_is_string(v)) {
        if (len != NULL) {
            *len = 0;
        }
        return "";
    }
    if (len != NULL) {
        *len = json_string_length(v);
    }
    return json_string_value(v);
}

static json_int_t node_int(const json_t *node, const char *name)
{
    const json_t *v = json_object_get(node, name);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static bool node_is_dir(const json_t *node)
{
    return json_is_true(json_object_get(node, "dir"));
}

/* ---- output (etcdctl's printResponseKey) ---- */

static void print_value_line(const json_t *node, const char *name)
{
    size_t len;
    const char *v = node_str(node, name, &len);
    fwrite(v, 1, len, stdout);
    fputc('\n', stdout);
}

static void print_response(const ctl_ctx_t *ctx, const ctl_keys_result_t *r)
{
    bool is_delete = strcmp(r->action, "delete") == 0;
    if (strcmp(ctx->output, "simple") == 0) {
        if (!is_delete) {
            print_value_line(r->node, "value");
        } else {
            fputs("PrevNode.Value: ", stdout);
            print_value_line(r->prev_node, "value");
        }
    } else if (strcmp(ctx->output, "extended") == 0) {
        /* An RFC 2822-like block, then the value after a blank line. */
        printf("Key: %s\n", node_str(r->node, "key", NULL));
        printf("Created-Index: %" JSON_INTEGER_FORMAT "\n", node_int(r->node, "createdIndex"));
        printf("Modified-Index: %" JSON_INTEGER_FORMAT "\n", node_int(r->node, "modifiedIndex"));
        if (r->prev_node != NULL) {
            fputs("PrevNode.Value: ", stdout);
            print_value_line(r->prev_node, "value");
        }
        printf("TTL: %" JSON_INTEGER_FORMAT "\n", node_int(r->node, "ttl"));
        printf("Index: %" PRIu64 "\n", r->index);
        if (!is_delete) {
            fputc('\n', stdout);
            print_value_line(r->node, "value");
        }
    } else if (strcmp(ctx->output, "json") == 0) {
        ctl_json_write_response(stdout, r->action, r->node, r->prev_node);
        fputc('\n', stdout);
    } else {
        fprintf(stderr, "Unsupported output format: %s\n", ctx->output);
    }
    fflush(stdout);
}

/* ---- requests ---- */

/*
 * Sends a keys request and parses the answer. Returns -1 with *r filled on
 * success, or the exit code after printing the error (nothing to free).
 */
static int keys_call(ctl_ctx_t *ctx, const char *method, const char *key, const char *query,
                     const char *form, int timeout_ms, ctl_keys_result_t *r)
{
    /* etcd's client sends create-only sets and deletes once (one shot). */
    bool one_shot = strcmp(method, "DELETE") == 0 || (strcmp(method, "PUT") == 0 && query != NULL &&
                                                      strstr(query, "prevExist=false") != NULL);
    char *target = ctl_keys_target(key, query);
    if (target == NULL) {
        return fail_text("out of memory", CTL_EXIT_BAD_ARGS);
    }
    httpc_response_t res;
    ctl_cluster_error_t cerr;
    int rc = one_shot
                 ? ctl_client_do_once(&ctx->client, method, target, form, timeout_ms, &res, &cerr)
                 : ctl_client_do(&ctx->client, method, target, form, timeout_ms, &res, &cerr);
    free(target);
    if (rc < 0) {
        return fail_cluster(&cerr, CTL_EXIT_SERVER_ERROR);
    }
    if (ctl_keys_parse(&res, r) < 0) {
        httpc_response_free(&res);
        return fail_text("client: response is empty", CTL_EXIT_SERVER_ERROR);
    }
    httpc_response_free(&res);
    if (r->is_error || r->invalid_json || r->node == NULL) {
        int code = fail_keys(r);
        ctl_keys_result_free(r);
        return code;
    }
    return -1;
}

static const char *bool_text(bool b)
{
    return b ? "true" : "false";
}

/*
 * etcdctl's argOrStdin: the argument, else all of stdin (empty is an error).
 * Returns a malloc'd copy the caller frees, or NULL when there is no value.
 */
static char *arg_or_stdin(const ctl_ctx_t *ctx, int i)
{
    if (i < ctx->nargs) {
        return strdup(ctx->args[i]);
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, stdin);
        if (n == 0) {
            break;
        }
        len += n;
    }
    if (buf == NULL || len == 0 || ferror(stdin)) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* PrevExist as etcd's client sends it: ignore (absent), true, or false. */
enum prev_exist { PREV_IGNORE, PREV_EXIST, PREV_NO_EXIST };

struct set_opts {
    const char *value; /* NULL for a dir */
    const char *prev_value;
    long long prev_index;
    enum prev_exist prev_exist;
    long long ttl;
    bool dir;
};

/*
 * The Go client's setAction: dir/prevExist/prevIndex/prevValue in the query
 * (url.Values.Encode sorts by name), ttl and value in the form. Returns -1
 * with *r filled (free with ctl_keys_result_free()), or an exit code.
 */
static int set_call(ctl_ctx_t *ctx, const char *key, const struct set_opts *o, ctl_keys_result_t *r)
{
    char *query = NULL, *form = strdup("");
    char num[32];
    int bad = form == NULL;
    if (o->dir) {
        bad |= ctl_form_add(&query, "dir", "true");
    }
    if (o->prev_exist != PREV_IGNORE) {
        bad |= ctl_form_add(&query, "prevExist", o->prev_exist == PREV_EXIST ? "true" : "false");
    }
    if (o->prev_index != 0) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)o->prev_index);
        bad |= ctl_form_add(&query, "prevIndex", num);
    }
    if (!o->dir && o->prev_value != NULL && o->prev_value[0] != '\0') {
        bad |= ctl_form_add(&query, "prevValue", o->prev_value);
    }
    if (o->ttl > 0) {
        snprintf(num, sizeof(num), "%lld", o->ttl);
        bad |= ctl_form_add(&form, "ttl", num);
    }
    if (!o->dir) {
        bad |= ctl_form_add(&form, "value", o->value);
    }
    int rc = bad ? fail_text("out of memory", CTL_EXIT_BAD_ARGS)
                 : keys_call(ctx, "PUT", key, query, form, ctx->client.timeout_ms, r);
    free(query);
    free(form);
    return rc;
}

static int need_key(const ctl_ctx_t *ctx)
{
    if (ctx->nargs == 0) {
        return fail_text("key required", CTL_EXIT_BAD_ARGS);
    }
    return -1;
}

int ctl_cmd_get(ctl_ctx_t *ctx)
{
    int rc = need_key(ctx);
    if (rc >= 0) {
        return rc;
    }
    char query[96];
    snprintf(query, sizeof(query), "quorum=%s&recursive=false&sorted=%s", bool_text(ctx->quorum),
             bool_text(ctx->sort));
    ctl_keys_result_t r;
    rc = keys_call(ctx, "GET", ctx->args[0], query, NULL, ctx->client.timeout_ms, &r);
    if (rc >= 0) {
        return rc;
    }
    if (node_is_dir(r.node)) {
        fprintf(stderr, "%s: is a directory\n", node_str(r.node, "key", NULL));
        ctl_keys_result_free(&r);
        return 1;
    }
    print_response(ctx, &r);
    ctl_keys_result_free(&r);
    return CTL_EXIT_SUCCESS;
}

static void ls_print(const ctl_ctx_t *ctx, const json_t *node)
{
    printf("%s%s\n", node_str(node, "key", NULL), node_is_dir(node) && ctx->slash ? "/" : "");
    const json_t *nodes = json_object_get(node, "nodes");
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        ls_print(ctx, json_array_get(nodes, i));
    }
}

int ctl_cmd_ls(ctl_ctx_t *ctx)
{
    const char *key = ctx->nargs > 0 ? ctx->args[0] : "/";
    char query[96];
    snprintf(query, sizeof(query), "quorum=%s&recursive=%s&sorted=%s", bool_text(ctx->quorum),
             bool_text(ctx->recursive), bool_text(ctx->sort));
    ctl_keys_result_t r;
    int rc = keys_call(ctx, "GET", key, query, NULL, ctx->client.timeout_ms, &r);
    if (rc >= 0) {
        return rc;
    }
    if (strcmp(ctx->output, "simple") == 0) {
        if (!node_is_dir(r.node)) {
            printf("%s\n", node_str(r.node, "key", NULL));
        }
        const json_t *nodes = json_object_get(r.node, "nodes");
        for (size_t i = 0; i < json_array_size(nodes); i++) {
            ls_print(ctx, json_array_get(nodes, i));
        }
    } else {
        print_response(ctx, &r);
    }
    ctl_keys_result_free(&r);
    return CTL_EXIT_SUCCESS;
}

/* set, mk and update share this: a value from the args or stdin. */
static int value_command(ctl_ctx_t *ctx, enum prev_exist prev_exist, bool swap)
{
    int rc = need_key(ctx);
    if (rc >= 0) {
        return rc;
    }
    char *value = arg_or_stdin(ctx, 1);
    if (value == NULL) {
        return fail_text("value required", CTL_EXIT_BAD_ARGS);
    }
    ctl_keys_result_t r;
    if (ctx->in_order) {
        /* createInOrderAction: POST value (and ttl) as a form. */
        char *form = strdup("");
        char num[32];
        int bad = form == NULL;
        if (ctx->ttl > 0) {
            snprintf(num, sizeof(num), "%lld", ctx->ttl);
            bad |= ctl_form_add(&form, "ttl", num);
        }
        bad |= ctl_form_add(&form, "value", value);
        rc = bad ? fail_text("out of memory", CTL_EXIT_BAD_ARGS)
                 : keys_call(ctx, "POST", ctx->args[0], NULL, form, ctx->client.timeout_ms, &r);
        free(form);
    } else {
        struct set_opts o = {.value = value,
                             .prev_exist = prev_exist,
                             .ttl = ctx->ttl,
                             .prev_value = swap ? ctx->prev_value : NULL,
                             .prev_index = swap ? ctx->prev_index : 0};
        rc = set_call(ctx, ctx->args[0], &o, &r);
    }
    free(value);
    if (rc >= 0) {
        return rc;
    }
    print_response(ctx, &r);
    ctl_keys_result_free(&r);
    return CTL_EXIT_SUCCESS;
}

int ctl_cmd_set(ctl_ctx_t *ctx)
{
    return value_command(ctx, PREV_IGNORE, true);
}

int ctl_cmd_mk(ctl_ctx_t *ctx)
{
    return value_command(ctx, PREV_NO_EXIST, false);
}

int ctl_cmd_update(ctl_ctx_t *ctx)
{
    return value_command(ctx, PREV_EXIST, false);
}

/* mkdir, setdir and updatedir: a dir=true PUT, silent in simple output. */
static int dir_command(ctl_ctx_t *ctx, enum prev_exist prev_exist)
{
    int rc = need_key(ctx);
    if (rc >= 0) {
        return rc;
    }
    struct set_opts o = {.dir = true, .prev_exist = prev_exist, .ttl = ctx->ttl};
    ctl_keys_result_t r;
    rc = set_call(ctx, ctx->args[0], &o, &r);
    if (rc >= 0) {
        return rc;
    }
    if (strcmp(ctx->output, "simple") != 0) {
        print_response(ctx, &r);
    }
    ctl_keys_result_free(&r);
    return CTL_EXIT_SUCCESS;
}

int ctl_cmd_mkdir(ctl_ctx_t *ctx)
{
    return dir_command(ctx, PREV_NO_EXIST);
}

int ctl_cmd_setdir(ctl_ctx_t *ctx)
{
    return dir_command(ctx, PREV_IGNORE);
}

int ctl_cmd_updatedir(ctl_ctx_t *ctx)
{
    return dir_command(ctx, PREV_EXIST);
}

static int delete_command(ctl_ctx_t *ctx, bool dir, bool recursive, const char *prev_value,
                          long long prev_index)
{
    int rc = need_key(ctx);
    if (rc >= 0) {
        return rc;
    }
    /* deleteAction: dir, prevIndex, prevValue, recursive (sorted). */
    char *query = NULL;
    char num[32];
    int bad = 0;
    if (dir) {
        bad |= ctl_form_add(&query, "dir", "true");
    }
    if (prev_index != 0) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)prev_index);
        bad |= ctl_form_add(&query, "prevIndex", num);
    }
    if (prev_value != NULL && prev_value[0] != '\0') {
        bad |= ctl_form_add(&query, "prevValue", prev_value);
    }
    if (recursive) {
        bad |= ctl_form_add(&query, "recursive", "true");
    }
    ctl_keys_result_t r;
    rc = bad ? fail_text("out of memory", CTL_EXIT_BAD_ARGS)
             : keys_call(ctx, "DELETE", ctx->args[0], query, NULL, ctx->client.timeout_ms, &r);
    free(query);
    if (rc >= 0) {
        return rc;
    }
    if (!node_is_dir(r.node) || strcmp(ctx->output, "simple") != 0) {
        print_response(ctx, &r);
    }
    ctl_keys_result_free(&r);
    return CTL_EXIT_SUCCESS;
}

int ctl_cmd_rm(ctl_ctx_t *ctx)
{
    return delete_command(ctx, ctx->dir, ctx->recursive, ctx->prev_value, ctx->prev_index);
}

int ctl_cmd_rmdir(ctl_ctx_t *ctx)
{
    return delete_command(ctx, true, false, NULL, 0);
}

/* ---- watches ---- */

static void exit_on_interrupt(int sig)
{
    (void)sig;
    /* etcdctl exits 0 on Ctrl+C during a watch. */
    _exit(0);
}

/*
 * The Go client's httpWatcher.Next: long-poll with waitIndex; an empty body
 * means "ask again"; the next waitIndex is the event's modifiedIndex + 1.
 * Returns -1 with *r filled, or an exit code after printing the error.
 */
static int watch_next(ctl_ctx_t *ctx, const char *key, bool recursive, uint64_t *wait_index,
                      ctl_keys_result_t *r)
{
    for (;;) {
        char query[96];
        snprintf(query, sizeof(query), "recursive=%s&wait=true&waitIndex=%" PRIu64,
                 bool_text(recursive), *wait_index);
        char *target = ctl_keys_target(key, query);
        if (target == NULL) {
            return fail_text("out of memory", CTL_EXIT_SERVER_ERROR);
        }
        httpc_response_t res;
        ctl_cluster_error_t cerr;
        int rc = ctl_client_do(&ctx->client, "GET", target, NULL, -1, &res, &cerr);
        free(target);
        if (rc < 0) {
            return fail_cluster(&cerr, CTL_EXIT_SERVER_ERROR);
        }
        rc = ctl_keys_parse(&res, r);
        httpc_response_free(&res);
        if (rc < 0) {
            continue;
        }
        if (r->is_error || r->invalid_json || r->node == NULL) {
            int code = fail_keys(r);
            ctl_keys_result_free(r);
            return code;
        }
        *wait_index = (uint64_t)node_int(r->node, "modifiedIndex") + 1;
        return -1;
    }
}

int ctl_cmd_watch(ctl_ctx_t *ctx)
{
    int rc = need_key(ctx);
    if (rc >= 0) {
        return rc;
    }
    signal(SIGINT, exit_on_interrupt);
    uint64_t wait_index = ctx->after_index > 0 ? (uint64_t)ctx->after_index + 1 : 0;
    for (;;) {
        ctl_keys_result_t r;
        rc = watch_next(ctx, ctx->args[0], ctx->recursive, &wait_index, &r);
        if (rc >= 0) {
            return rc;
        }
        if (node_is_dir(r.node)) {
            ctl_keys_result_free(&r);
            continue;
        }
        if (ctx->recursive) {
            printf("[%s] %s\n", r.action, node_str(r.node, "key", NULL));
        }
        print_response(ctx, &r);
        ctl_keys_result_free(&r);
        if (!ctx->forever) {
            return CTL_EXIT_SUCCESS;
        }
    }
}

static void reap_children(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

/* Runs argv with ETCD_WATCH_* added to the environment; does not wait. */
static void spawn_for_event(char **argv, int argc, const ctl_keys_result_t *r)
{
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "fork: %s\n", strerror(errno));
        return;
    }
    if (pid > 0) {
        return;
    }
    char num[32];
    snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, node_int(r->node, "modifiedIndex"));
    setenv("ETCD_WATCH_ACTION", r->action, 1);
    setenv("ETCD_WATCH_MODIFIED_INDEX", num, 1);
    setenv("ETCD_WATCH_KEY", node_str(r->node, "key", NULL), 1);
    setenv("ETCD_WATCH_VALUE", node_str(r->node, "value", NULL), 1);
    char **args = calloc((size_t)argc + 1, sizeof(*args));
    if (args == NULL) {
        _exit(1);
    }
    memcpy(args, argv, (size_t)argc * sizeof(*args));
    execvp(args[0], args);
    fprintf(stderr, "exec: \"%s\": %s", args[0], strerror(errno));
    _exit(1);
}

int ctl_cmd_exec_watch(ctl_ctx_t *ctx)
{
    if (ctx->nargs < 2) {
        return fail_text("key and command to exec required", CTL_EXIT_BAD_ARGS);
    }
    /* etcdctl: "<key> -- <command> [args...]", or the key given last. */
    const char *key;
    char **cmd;
    int ncmd;
    bool sep = false;
    for (int i = 1; i < ctx->nargs; i++) {
        sep |= strcmp(ctx->args[i], "--") == 0;
    }
    if (sep) {
        key = ctx->args[0];
        cmd = ctx->args + 2;
        ncmd = ctx->nargs - 2;
    } else {
        key = ctx->args[ctx->nargs - 1];
        cmd = ctx->args;
        ncmd = ctx->nargs - 1;
    }
    if (ncmd < 1) {
        return fail_text("key and command to exec required", CTL_EXIT_BAD_ARGS);
    }
    signal(SIGINT, exit_on_interrupt);
    uint64_t wait_index = ctx->after_index > 0 ? (uint64_t)ctx->after_index + 1 : 0;
    for (;;) {
        ctl_keys_result_t r;
        int rc = watch_next(ctx, key, ctx->recursive, &wait_index, &r);
        reap_children();
        if (rc >= 0) {
            return rc;
        }
        if (node_is_dir(r.node)) {
            fprintf(stderr, "Ignored dir %s change\n", node_str(r.node, "key", NULL));
        } else {
            fflush(stdout);
            spawn_for_event(cmd, ncmd, &r);
        }
        ctl_keys_result_free(&r);
    }
}

/* ---- members ---- */

/*
 * GETs a members path. Returns the parsed body (a new reference: the caller
 * json_decref()s it), or NULL after printing the error.
 */
static json_t *members_get(ctl_ctx_t *ctx, const char *target, bool *conn_failed)
{
    httpc_response_t res;
    ctl_cluster_error_t cerr;
    *conn_failed = false;
    if (ctl_client_do(&ctx->client, "GET", target, NULL, ctx->client.timeout_ms, &res, &cerr) < 0) {
        *conn_failed = true;
        fprintf(stderr, "%s\n", cerr.message);
        return NULL;
    }
    json_t *root = NULL;
    if (res.status == 200) {
        root = json_loadb(res.body, res.body_len, JSON_ALLOW_NUL, NULL);
    } else {
        fprintf(stderr, "unexpected status code %d\n", res.status);
    }
    httpc_response_free(&res);
    return root;
}

static void print_joined(const json_t *arr)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        printf("%s%s", i > 0 ? "," : "", json_string_value(json_array_get(arr, i)));
    }
}

int ctl_cmd_member_list(ctl_ctx_t *ctx)
{
    if (ctx->nargs != 0) {
        fprintf(stderr, "No arguments accepted\n");
        return 1;
    }
    bool conn_failed;
    json_t *root = members_get(ctx, "/v2/members", &conn_failed);
    const json_t *members = json_object_get(root, "members");
    if (!json_is_array(members)) {
        json_decref(root);
        return 1;
    }
    json_t *leader = members_get(ctx, "/v2/members/leader", &conn_failed);
    if (leader == NULL) {
        json_decref(root);
        return 1;
    }
    const char *leader_id = node_str(leader, "id", NULL);
    for (size_t i = 0; i < json_array_size(members); i++) {
        const json_t *m = json_array_get(members, i);
        const char *id = node_str(m, "id", NULL);
        const char *name = node_str(m, "name", NULL);
        if (name[0] == '\0') {
            printf("%s[unstarted]: peerURLs=", id);
            print_joined(json_object_get(m, "peerURLs"));
            printf("\n");
            continue;
        }
        printf("%s: name=%s peerURLs=", id, name);
        print_joined(json_object_get(m, "peerURLs"));
        printf(" clientURLs=");
        print_joined(json_object_get(m, "clientURLs"));
        printf(" isLeader=%s\n", bool_text(strcmp(id, leader_id) == 0));
    }
    json_decref(leader);
    json_decref(root);
    return CTL_EXIT_SUCCESS;
}

/* One round of etcdctl's cluster-health; returns the number of healthy members. */
static size_t health_round(ctl_ctx_t *ctx, const json_t *members)
{
    size_t healthy = 0;
    for (size_t i = 0; i < json_array_size(members); i++) {
        const json_t *m = json_array_get(members, i);
        const char *id = node_str(m, "id", NULL);
        const json_t *urls = json_object_get(m, "clientURLs");
        if (json_array_size(urls) == 0) {
            printf("member %s is unreachable: no available published client urls\n", id);
            continue;
        }
        bool checked = false;
        for (size_t j = 0; j < json_array_size(urls) && !checked; j++) {
            const char *url = json_string_value(json_array_get(urls, j));
            httpc_endpoint_t ep;
            char err[512];
            httpc_response_t res;
            if (url == NULL) {
                continue;
            }
            if (httpc_endpoint_parse(&ep, url, err, sizeof(err)) < 0) {
                printf("failed to check the health of member %s on %s: %s\n", id, url, err);
                continue;
            }
            int rc = ctl_client_do_url(&ctx->client, &ep, "GET", "/health", ctx->client.timeout_ms,
                                       &res, err, sizeof(err));
            httpc_endpoint_free(&ep);
            if (rc < 0) {
                printf("failed to check the health of member %s on %s: Get \"%s/health\": %s\n", id,
                       url, url, err);
                continue;
            }
            /* {"health":"true"} (etcd 3.x) or {"health":true} (older). */
            json_t *body = json_loadb(res.body, res.body_len, JSON_ALLOW_NUL, NULL);
            httpc_response_free(&res);
            if (!json_is_object(body)) {
                printf("failed to check the health of member %s on %s: invalid character in "
                       "response\n",
                       id, url);
                json_decref(body);
                continue;
            }
            checked = true;
            const json_t *h = json_object_get(body, "health");
            bool ok =
                json_is_true(h) || (json_is_string(h) && strcmp(json_string_value(h), "true") == 0);
            if (ok) {
                printf("member %s is healthy: got healthy result from %s\n", id, url);
                healthy++;
            } else {
                printf("member %s is unhealthy: got unhealthy result from %s\n", id, url);
            }
            json_decref(body);
        }
        if (!checked) {
            printf("member %s is unreachable: [", id);
            for (size_t j = 0; j < json_array_size(urls); j++) {
                printf("%s%s", j > 0 ? " " : "", json_string_value(json_array_get(urls, j)));
            }
            printf("] are all unreachable\n");
        }
    }
    return healthy;
}

int ctl_cmd_cluster_health(ctl_ctx_t *ctx)
{
    if (ctx->forever) {
        signal(SIGINT, exit_on_interrupt);
    }
    httpc_response_t res;
    ctl_cluster_error_t cerr;
    if (ctl_client_do(&ctx->client, "GET", "/v2/members", NULL, ctx->client.timeout_ms, &res,
                      &cerr) < 0) {
        printf("cluster may be unhealthy: failed to list members\n");
        fflush(stdout);
        return fail_cluster(&cerr, CTL_EXIT_SERVER_ERROR);
    }
    json_t *root =
        res.status == 200 ? json_loadb(res.body, res.body_len, JSON_ALLOW_NUL, NULL) : NULL;
    httpc_response_free(&res);
    const json_t *members = json_object_get(root, "members");
    if (!json_is_array(members)) {
        printf("cluster may be unhealthy: failed to list members\n");
        fflush(stdout);
        json_decref(root);
        return fail_text("client: unexpected response to /v2/members", CTL_EXIT_SERVER_ERROR);
    }
    for (;;) {
        size_t healthy = health_round(ctx, members);
        size_t n = json_array_size(members);
        if (healthy == n) {
            printf("cluster is healthy\n");
        } else if (healthy == 0) {
            printf("cluster is unavailable\n");
        } else {
            printf("cluster is degraded\n");
        }
        fflush(stdout);
        if (!ctx->forever) {
            json_decref(root);
            return healthy == n ? CTL_EXIT_SUCCESS : CTL_EXIT_CLUSTER_NOT_HEALTHY;
        }
        printf("\nnext check after 10 second...\n\n");
        fflush(stdout);
        sleep(10);
    }
}

/* ---- member add / remove / update ---- */

/*
 * Checks a peer URL as etcd's types.NewURLs does. Returns 0, or -1 with
 * etcd's message in err.
 */
static int check_peer_url(const char *url, char *err, size_t err_len)
{
    const char *hostport;
    if (strncmp(url, "http://", 7) == 0) {
        hostport = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        hostport = url + 8;
    } else {
        snprintf(err, err_len, "URL scheme must be http, https, unix, or unixs: %s", url);
        return -1;
    }
    const char *slash = strchr(hostport, '/');
    const char *colon = strrchr(hostport, ':');
    if (colon == NULL || (slash != NULL && colon > slash) || colon[1] == '\0' || colon[1] == '/') {
        snprintf(err, err_len, "URL address does not have the form \"host:port\": %s", url);
        return -1;
    }
    if (slash != NULL && slash[1] != '\0') {
        snprintf(err, err_len, "URL must not contain a path: %s", url);
        return -1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Builds {"peerURLs":[...]} from a comma-separated list, sorted as
 * types.NewURLs sorts them. Returns a malloc'd string the caller frees, or
 * NULL with a message in err.
 */
static char *peer_urls_body(const char *list, char *err, size_t err_len)
{
    char *copy = strdup(list);
    size_t n = 1;
    for (const char *p = list; *p; p++) {
        n += *p == ',';
    }
    char **urls = calloc(n, sizeof(*urls));
    json_t *arr = json_array();
    char *body = NULL;
    size_t k = 0;
    if (copy == NULL || urls == NULL || arr == NULL) {
        snprintf(err, err_len, "out of memory");
        goto out;
    }
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        if (check_peer_url(t, err, err_len) < 0) {
            goto out;
        }
        urls[k++] = t;
    }
    qsort(urls, k, sizeof(*urls), cmp_str);
    for (size_t i = 0; i < k; i++) {
        json_array_append_new(arr, json_string(urls[i]));
    }
    json_t *obj = json_pack("{s:O}", "peerURLs", arr);
    body = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (body == NULL) {
        snprintf(err, err_len, "out of memory");
    }
out:
    json_decref(arr);
    free(urls);
    free(copy);
    return body;
}

/* Go's %q for the plain strings member names and URLs are. */
static void print_go_quoted(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            putchar('\\');
        }
        putchar(*s);
    }
    putchar('"');
}

/* Sends a members request; returns the HTTP status, or -1 after printing. */
static int members_call(ctl_ctx_t *ctx, const char *method, const char *target, const char *body,
                        httpc_response_t *res)
{
    ctl_cluster_error_t cerr;
    if (ctl_client_do(&ctx->client, method, target, body, ctx->client.timeout_ms, res, &cerr) < 0) {
        fprintf(stderr, "%s\n", cerr.message);
        return -1;
    }
    return res->status;
}

/* The "message" of a members API error body, or Go's status error. */
static void print_members_error(const httpc_response_t *res, const char *prefix)
{
    json_t *e = json_loadb(res->body, res->body_len, JSON_ALLOW_NUL, NULL);
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (msg != NULL) {
        fprintf(stderr, "%s%s\n", prefix, msg);
    } else {
        fprintf(stderr, "%sunexpected status code %d\n", prefix, res->status);
    }
    json_decref(e);
}

int ctl_cmd_member_add(ctl_ctx_t *ctx)
{
    if (ctx->nargs != 2) {
        fprintf(stderr, "Provide a name and a single member peerURL\n");
        return 1;
    }
    char err[512];
    char *body = peer_urls_body(ctx->args[1], err, sizeof(err));
    if (body == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    httpc_response_t res;
    int status = members_call(ctx, "POST", "/v2/members", body, &res);
    free(body);
    if (status < 0) {
        return 1;
    }
    if (status != 201) {
        print_members_error(&res, "");
        httpc_response_free(&res);
        return 1;
    }
    json_t *added = json_loadb(res.body, res.body_len, JSON_ALLOW_NUL, NULL);
    httpc_response_free(&res);
    const char *new_id = node_str(added, "id", NULL);
    const char *new_name = ctx->args[0];
    printf("Added member named %s with ID %s to cluster\n", new_name, new_id);
    bool conn_failed;
    json_t *root = members_get(ctx, "/v2/members", &conn_failed);
    const json_t *members = json_object_get(root, "members");
    if (!json_is_array(members)) {
        json_decref(root);
        json_decref(added);
        return 1;
    }
    printf("\nETCD_NAME=");
    print_go_quoted(new_name);
    printf("\nETCD_INITIAL_CLUSTER=\"");
    bool first = true;
    for (size_t i = 0; i < json_array_size(members); i++) {
        const json_t *m = json_array_get(members, i);
        const char *name =
            strcmp(node_str(m, "id", NULL), new_id) == 0 ? new_name : node_str(m, "name", NULL);
        const json_t *urls = json_object_get(m, "peerURLs");
        for (size_t j = 0; j < json_array_size(urls); j++) {
            printf("%s%s=%s", first ? "" : ",", name, json_string_value(json_array_get(urls, j)));
            first = false;
        }
    }
    printf("\"\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n");
    json_decref(root);
    json_decref(added);
    return CTL_EXIT_SUCCESS;
}

int ctl_cmd_member_remove(ctl_ctx_t *ctx)
{
    if (ctx->nargs != 1) {
        fprintf(stderr, "Provide a single member ID\n");
        return 1;
    }
    const char *id = ctx->args[0];
    httpc_response_t res;
    int status = members_call(ctx, "GET", "/v2/members", NULL, &res);
    if (status < 0) {
        return 1;
    }
    json_t *root = status == 200 ? json_loadb(res.body, res.body_len, JSON_ALLOW_NUL, NULL) : NULL;
    httpc_response_free(&res);
    const json_t *members = json_object_get(root, "members");
    if (!json_is_array(members)) {
        fprintf(stderr,
                "Error while verifying ID against known members: unexpected status code "
                "%d\n",
                status);
        json_decref(root);
        return 1;
    }
    bool found = false;
    for (size_t i = 0; i < json_array_size(members); i++) {
        const json_t *m = json_array_get(members, i);
        found |= strcmp(node_str(m, "id", NULL), id) == 0;
        if (strcmp(node_str(m, "name", NULL), id) == 0) {
            fprintf(stderr,
                    "Found a member named %s; if this is correct, please use its ID, eg:\n"
                    "\tetcdctl member remove %s\n",
                    id, node_str(m, "id", NULL));
            fprintf(stderr, "For more details, read the documentation at "
                            "https://github.com/etcd-io/etcd/blob/master/Documentation/"
                            "runtime-configuration.md#remove-a-member\n\n");
        }
    }
    json_decref(root);
    if (!found) {
        fprintf(stderr, "Couldn't find a member in the cluster with an ID of %s.\n", id);
        return 1;
    }
    char target[128];
    snprintf(target, sizeof(target), "/v2/members/%.100s", id);
    status = members_call(ctx, "DELETE", target, NULL, &res);
    if (status < 0) {
        return 1;
    }
    httpc_response_free(&res);
    if (status != 204 && status != 410) {
        /* etcdctl prints this one without a newline. */
        fprintf(stderr, "Received an error trying to remove member %s: unexpected status code %d",
                id, status);
        return 1;
    }
    printf("Removed member %s from cluster\n", id);
    return CTL_EXIT_SUCCESS;
}

int ctl_cmd_member_update(ctl_ctx_t *ctx)
{
    if (ctx->nargs != 2) {
        fprintf(stderr, "Provide an ID and a list of comma separated peerURL (0xabcd "
                        "http://example.com,http://example1.com)\n");
        return 1;
    }
    char err[512];
    char *body = peer_urls_body(ctx->args[1], err, sizeof(err));
    if (body == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    char target[128];
    snprintf(target, sizeof(target), "/v2/members/%.100s", ctx->args[0]);
    httpc_response_t res;
    int status = members_call(ctx, "PUT", target, body, &res);
    free(body);
    if (status < 0) {
        return 1;
    }
    if (status != 204) {
        if (status == 404 || status == 409) {
            print_members_error(&res, "");
        } else {
            fprintf(stderr, "unexpected status code %d\n", status);
        }
        httpc_response_free(&res);
        return 1;
    }
    httpc_response_free(&res);
    printf("Updated member with ID %s in cluster\n", ctx->args[0]);
    return CTL_EXIT_SUCCESS;
}
