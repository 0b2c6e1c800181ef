/*
 * metcdctl: command-line client for the etcd v2 API, compatible with
 * `ETCDCTL_API=2 etcdctl` (3.4) for set, get, mk, mkdir, setdir, rm, rmdir,
 * ls, update, updatedir, watch, exec-watch, member list and cluster-health.
 *
 * Argument syntax follows etcdctl's (urfave/cli over Go's flag package):
 * global flags before the command, command flags anywhere after it until
 * "--", "-f", "--f", "-f=v", "--f=v" and "-f v" spellings.
 */
#include "ctl.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum flag_type { FLAG_BOOL, FLAG_INT, FLAG_STRING };

/* A command flag: names (long, optional short), type, and where it lands. */
typedef struct flag_def {
    const char *name, *alias;
    enum flag_type type;
    size_t offset; /* into ctl_ctx_t */
    const char *usage;
} flag_def_t;

#define BOOLF(n, a, field, u)                                                                      \
    {                                                                                              \
        n, a, FLAG_BOOL, offsetof(ctl_ctx_t, field), u                                             \
    }
#define INTF(n, field, u)                                                                          \
    {                                                                                              \
        n, NULL, FLAG_INT, offsetof(ctl_ctx_t, field), u                                           \
    }
#define STRF(n, field, u)                                                                          \
    {                                                                                              \
        n, NULL, FLAG_STRING, offsetof(ctl_ctx_t, field), u                                        \
    }
#define TTL_FLAG INTF("ttl", ttl, "key time-to-live in seconds (default: 0)")

typedef struct command_def {
    const char *name;
    const char *usage;
    const char *args_usage;
    ctl_command_fn fn;
    bool sync; /* etcdctl syncs the member list first (mustNewKeyAPI) */
    flag_def_t flags[5];
} command_def_t;

static const command_def_t commands[] = {
    {"cluster-health",
     "check the health of the etcd cluster",
     "",
     ctl_cmd_cluster_health,
     false,
     {BOOLF("forever", "f", forever, "forever check the health every 10 second until CTRL+C")}},
    {"import",
     "copy every key of a live v2 keyspace (--from) into this cluster, then follow it",
     "",
     ctl_cmd_import,
     false,
     {STRF("from", from, "the source's client URL(s), comma-separated"),
      BOOLF("follow", NULL, follow, "keep applying the source's changes until interrupted"),
      STRF("hidden", hidden,
           "hidden keys to copy, comma-separated (no listing shows them: name them)")}},
    {"mk",
     "make a new key with a given value",
     "<key> <value>",
     ctl_cmd_mk,
     true,
     {BOOLF("in-order", NULL, in_order, "create in-order key under directory <key>"), TTL_FLAG}},
    {"mkdir", "make a new directory", "<key>", ctl_cmd_mkdir, true, {TTL_FLAG}},
    {"rm",
     "remove a key or a directory",
     "<key>",
     ctl_cmd_rm,
     true,
     {BOOLF("dir", NULL, dir, "removes the key if it is an empty directory or a key-value pair"),
      BOOLF("recursive", "r", recursive,
            "removes the key and all child keys(if it is a directory)"),
      STRF("with-value", prev_value, "previous value"),
      INTF("with-index", prev_index, "previous index (default: 0)")}},
    {"rmdir",
     "removes the key if it is an empty directory or a key-value pair",
     "<key>",
     ctl_cmd_rmdir,
     true,
     {{0}}},
    {"get",
     "retrieve the value of a key",
     "<key>",
     ctl_cmd_get,
     true,
     {BOOLF("sort", NULL, sort, "returns result in sorted order"),
      BOOLF("quorum", "q", quorum, "require quorum for get request")}},
    {"ls",
     "retrieve a directory",
     "[key]",
     ctl_cmd_ls,
     true,
     {BOOLF("sort", NULL, sort, "returns result in sorted order"),
      BOOLF("recursive", "r", recursive, "returns all key names recursively for the given path"),
      BOOLF("p", NULL, slash, "append slash (/) to directories"),
      BOOLF("quorum", "q", quorum, "require quorum for get request")}},
    {"set",
     "set the value of a key",
     "<key> <value>",
     ctl_cmd_set,
     true,
     {TTL_FLAG, STRF("swap-with-value", prev_value, "previous value"),
      INTF("swap-with-index", prev_index, "previous index (default: 0)")}},
    {"setdir",
     "create a new directory or update an existing directory TTL",
     "<key>",
     ctl_cmd_setdir,
     true,
     {TTL_FLAG}},
    {"update",
     "update an existing key with a given value",
     "<key> <value>",
     ctl_cmd_update,
     true,
     {TTL_FLAG}},
    {"updatedir",
     "update an existing directory",
     "<key> <value>",
     ctl_cmd_updatedir,
     true,
     {TTL_FLAG}},
    {"watch",
     "watch a key for changes",
     "<key>",
     ctl_cmd_watch,
     true,
     {BOOLF("forever", "f", forever, "forever watch a key until CTRL+C"),
      INTF("after-index", after_index, "watch after the given index (default: 0)"),
      BOOLF("recursive", "r", recursive, "returns all values for key and child keys")}},
    {"exec-watch",
     "watch a key for changes and exec an executable",
     "<key> <command> [args...]",
     ctl_cmd_exec_watch,
     true,
     {INTF("after-index", after_index, "watch after the given index (default: 0)"),
      BOOLF("recursive", "r", recursive, "watch all values for key and child keys")}},
    {"member list", "enumerate existing cluster members", "", ctl_cmd_member_list, true, {{0}}},
    {"member add",
     "add a new member to the etcd cluster",
     "<name> <peerURL>",
     ctl_cmd_member_add,
     true,
     {{0}}},
    {"member remove",
     "remove an existing member from the etcd cluster",
     "<memberID>",
     ctl_cmd_member_remove,
     true,
     {{0}}},
    {"member update",
     "update an existing member in the etcd cluster",
     "<memberID> <peerURLs>",
     ctl_cmd_member_update,
     true,
     {{0}}},
};

static void print_main_help(FILE *out)
{
    fprintf(out, "NAME:\n   metcdctl - A simple command line client for etcd.\n\n"
                 "USAGE:\n   metcdctl [global options] command [command options] "
                 "[arguments...]\n\nVERSION:\n   " METCDCTL_VERSION "\n\nCOMMANDS:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(out, "   %-15s %s\n", commands[i].name, commands[i].usage);
    }
    fprintf(out,
            "\nGLOBAL OPTIONS:\n"
            "   --debug                     output cURL commands which can be used to reproduce "
            "the request\n"
            "   --no-sync                   don't synchronize cluster information before "
            "sending request\n"
            "   --output simple, -o simple  output response in the given format (simple, "
            "`extended` or `json`) (default: \"simple\")\n"
            "   --peers value, -C value     DEPRECATED - \"--endpoints\" should be used instead\n"
            "   --endpoint value            DEPRECATED - \"--endpoints\" should be used instead\n"
            "   --endpoints value           a comma-delimited list of machine addresses in the "
            "cluster (default: \"http://127.0.0.1:2379,http://127.0.0.1:4001\")\n"
            "   --timeout value             connection timeout per request (default: 2s)\n"
            "   --total-timeout value       timeout for the command execution (except watch) "
            "(default: 5s)\n"
            "   --help, -h                  show help\n"
            "   --version, -v               print the version\n");
}

static void print_command_help(FILE *out, const command_def_t *cmd)
{
    fprintf(out, "NAME:\n   metcdctl %s - %s\n\nUSAGE:\n   metcdctl %s [command options] %s\n",
            cmd->name, cmd->usage, cmd->name, cmd->args_usage);
    if (cmd->flags[0].name != NULL) {
        fprintf(out, "\nOPTIONS:\n");
        for (const flag_def_t *f = cmd->flags; f->name != NULL; f++) {
            char names[64];
            snprintf(names, sizeof(names), "%s%s%s%s%s", strlen(f->name) > 1 ? "--" : "-", f->name,
                     f->alias ? ", -" : "", f->alias ? f->alias : "",
                     f->type == FLAG_BOOL ? "" : " value");
            fprintf(out, "   %-24s %s\n", names, f->usage);
        }
    }
}

/* Go's strconv.ParseInt(s, 0, 64), as the flag package uses for int flags. */
static int parse_go_int(const char *s, long long *out)
{
    char *end;
    if (*s == '\0') {
        return -1;
    }
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (*end != '\0' || errno != 0) {
        return -1;
    }
    *out = v;
    return 0;
}

/* Go's strconv.ParseBool. */
static int parse_go_bool(const char *s, bool *out)
{
    static const char *yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Go's time.ParseDuration for the forms people type: "5s", "500ms", "1m30s". */
static int parse_go_duration_ms(const char *s, long long *ms)
{
    double total = 0;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s) {
            return -1;
        }
        s = end;
        double unit;
        if (strncmp(s, "ms", 2) == 0) {
            unit = 1, s += 2;
        } else if (strncmp(s, "us", 2) == 0) {
            unit = 1e-3, s += 2;
        } else if (strncmp(s, "ns", 2) == 0) {
            unit = 1e-6, s += 2;
        } else if (*s == 's') {
            unit = 1000, s += 1;
        } else if (*s == 'm') {
            unit = 60000, s += 1;
        } else if (*s == 'h') {
            unit = 3600000, s += 1;
        } else {
            return -1;
        }
        total += v * unit;
    }
    *ms = (long long)total;
    return 0;
}

/* The reply to a bad command flag, as urfave/cli prints it. */
static int usage_error(const command_def_t *cmd, const char *msg)
{
    printf("Incorrect Usage: %s\n\n", msg);
    print_command_help(stdout, cmd);
    fprintf(stderr, "%s\n", msg);
    return CTL_EXIT_BAD_ARGS;
}

/*
 * Parses the command's flags (anywhere before "--", as urfave/cli reorders
 * them) and collects the positional arguments into ctx->args.
 * Returns -1 when fine, else an exit code (help printed: 0).
 */
static int parse_command_flags(ctl_ctx_t *ctx, const command_def_t *cmd, int argc, char **argv)
{
    ctx->args = calloc((size_t)argc + 1, sizeof(char *));
    if (ctx->args == NULL) {
        return 1;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            /* exec-watch keeps the separator to find the key. */
            if (cmd->fn == ctl_cmd_exec_watch) {
                ctx->args[ctx->nargs++] = argv[i];
            }
            for (i++; i < argc; i++) {
                ctx->args[ctx->nargs++] = argv[i];
            }
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            ctx->args[ctx->nargs++] = argv[i];
            continue;
        }
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        char msg[512];
        if ((name_len == 1 && name[0] == 'h') || (name_len == 4 && strncmp(name, "help", 4) == 0)) {
            print_command_help(stdout, cmd);
            return 0;
        }
        const flag_def_t *f = NULL;
        for (const flag_def_t *d = cmd->flags; d->name != NULL; d++) {
            if ((strlen(d->name) == name_len && strncmp(d->name, name, name_len) == 0) ||
                (d->alias && strlen(d->alias) == name_len &&
                 strncmp(d->alias, name, name_len) == 0)) {
                f = d;
                break;
            }
        }
        if (f == NULL) {
            snprintf(msg, sizeof(msg), "flag provided but not defined: -%.*s", (int)name_len, name);
            return usage_error(cmd, msg);
        }
        void *field = (char *)ctx + f->offset;
        if (f->type == FLAG_BOOL) {
            bool v = true;
            if (eq != NULL && parse_go_bool(eq + 1, &v) < 0) {
                snprintf(msg, sizeof(msg), "invalid boolean value \"%s\" for -%s: parse error",
                         eq + 1, f->name);
                return usage_error(cmd, msg);
            }
            *(bool *)field = v;
            continue;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (value == NULL) {
            if (i + 1 >= argc) {
                snprintf(msg, sizeof(msg), "flag needs an argument: -%s", f->name);
                return usage_error(cmd, msg);
            }
            value = argv[++i];
        }
        if (f->type == FLAG_STRING) {
            *(const char **)field = value;
        } else if (parse_go_int(value, (long long *)field) < 0) {
            snprintf(msg, sizeof(msg), "invalid value \"%s\" for flag -%s: parse error", value,
                     f->name);
            return usage_error(cmd, msg);
        }
    }
    return -1;
}

/* Global options (before the command). */
typedef struct globals {
    const char *endpoints, *endpoint, *peers, *output;
    const char *timeout, *total_timeout;
    const char *cert_file, *key_file, *ca_file;
    bool debug, no_sync, help, version;
} globals_t;

/* Returns the index of the command word, or a negative exit code - 1. */
static int parse_globals(globals_t *g, int argc, char **argv)
{
    static const struct {
        const char *name, *alias;
        size_t offset;
        bool is_bool;
    } defs[] = {
        {"endpoints", NULL, offsetof(globals_t, endpoints), false},
        {"endpoint", NULL, offsetof(globals_t, endpoint), false},
        {"peers", "C", offsetof(globals_t, peers), false},
        {"output", "o", offsetof(globals_t, output), false},
        {"timeout", NULL, offsetof(globals_t, timeout), false},
        {"total-timeout", NULL, offsetof(globals_t, total_timeout), false},
        {"debug", NULL, offsetof(globals_t, debug), true},
        {"no-sync", NULL, offsetof(globals_t, no_sync), true},
        {"help", "h", offsetof(globals_t, help), true},
        {"version", "v", offsetof(globals_t, version), true},
        {"cert-file", NULL, offsetof(globals_t, cert_file), false},
        {"key-file", NULL, offsetof(globals_t, key_file), false},
        {"ca-file", NULL, offsetof(globals_t, ca_file), false},
        /* accepted for compatibility, unused (no auth or DNS discovery) */
        {"discovery-srv", "D", SIZE_MAX, false},
        {"insecure-discovery", NULL, SIZE_MAX, true},
        {"username", "u", SIZE_MAX, false},
    };
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            return i + 1;
        }
        if (a[0] != '-' || a[1] == '\0') {
            return i;
        }
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        size_t k;
        size_t n_defs = sizeof(defs) / sizeof(defs[0]);
        for (k = 0; k < n_defs; k++) {
            if ((strlen(defs[k].name) == name_len && strncmp(defs[k].name, name, name_len) == 0) ||
                (defs[k].alias && strlen(defs[k].alias) == name_len &&
                 strncmp(defs[k].alias, name, name_len) == 0)) {
                break;
            }
        }
        if (k == n_defs) {
            printf("Incorrect Usage: flag provided but not defined: -%.*s\n\n", (int)name_len,
                   name);
            print_main_help(stdout);
            fprintf(stderr, "flag provided but not defined: -%.*s\n", (int)name_len, name);
            return -1 - CTL_EXIT_BAD_ARGS;
        }
        if (defs[k].is_bool) {
            bool v = true;
            if (eq != NULL && parse_go_bool(eq + 1, &v) < 0) {
                fprintf(stderr, "invalid boolean value \"%s\" for -%s: parse error\n", eq + 1,
                        defs[k].name);
                return -1 - CTL_EXIT_BAD_ARGS;
            }
            if (defs[k].offset != SIZE_MAX) {
                *(bool *)((char *)g + defs[k].offset) = v;
            }
            continue;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (value == NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "flag needs an argument: -%s\n", defs[k].name);
                return -1 - CTL_EXIT_BAD_ARGS;
            }
            value = argv[++i];
        }
        if (defs[k].offset != SIZE_MAX) {
            *(const char **)((char *)g + defs[k].offset) = value;
        }
    }
    return i;
}

/* etcdctl's getPeersFlagValue order: flag, env, deprecated flag, env, ... */
static const char *pick_endpoints(const globals_t *g)
{
    const char *candidates[] = {g->endpoints, getenv("ETCDCTL_ENDPOINTS"),
                                g->endpoint,  getenv("ETCDCTL_ENDPOINT"),
                                g->peers,     getenv("ETCDCTL_PEERS")};
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        if (candidates[i] != NULL && candidates[i][0] != '\0') {
            return candidates[i];
        }
    }
    return "http://127.0.0.1:2379,http://127.0.0.1:4001";
}

/* --debug: the endpoint list on stderr, as etcdctl prints it. */
static void print_endpoints(const ctl_client_t *c, const char *sep)
{
    for (size_t i = 0; i < c->n_eps; i++) {
        fprintf(stderr, "%s%s", i > 0 ? sep : "", c->eps[i].url);
    }
}

int main(int argc, char **argv)
{
    globals_t g = {.output = "simple"};
    int at = parse_globals(&g, argc, argv);
    if (at < 0) {
        return -at - 1;
    }
    if (g.version) {
        printf("metcdctl version: %s\nAPI version: 2\n", METCDCTL_VERSION);
        return 0;
    }
    if (at >= argc || g.help) {
        print_main_help(stdout);
        return 0;
    }
    const char *word = argv[at];
    const command_def_t *cmd = NULL;
    int rest = at + 1;
    if (strcmp(word, "member") == 0) {
        char full[64];
        snprintf(full, sizeof(full), "member %s", rest < argc ? argv[rest] : "");
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
            if (strcmp(commands[i].name, full) == 0) {
                cmd = &commands[i];
            }
        }
        if (cmd == NULL) {
            fprintf(stderr, "metcdctl member: use list, add, remove or update\n");
            return CTL_EXIT_BAD_ARGS;
        }
        rest++;
    } else if (strcmp(word, "help") == 0 || strcmp(word, "h") == 0) {
        print_main_help(stdout);
        return 0;
    } else {
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
            if (strcmp(commands[i].name, word) == 0) {
                cmd = &commands[i];
            }
        }
    }
    if (cmd == NULL) {
        /* urfave/cli's reply to an unknown command. */
        fprintf(stderr, "No help topic for '%s'\n", word);
        return 3;
    }

    ctl_ctx_t ctx = {.output = g.output};
    int code = parse_command_flags(&ctx, cmd, argc - rest, argv + rest);
    if (code >= 0) {
        free(ctx.args);
        return code;
    }
    char err[512];
    /* etcdctl: each TLS flag, else its ETCDCTL_* variable. */
    httpc_tls_configure(g.cert_file ? g.cert_file : getenv("ETCDCTL_CERT_FILE"),
                        g.key_file ? g.key_file : getenv("ETCDCTL_KEY_FILE"),
                        g.ca_file ? g.ca_file : getenv("ETCDCTL_CA_FILE"));
    if (ctl_client_init(&ctx.client, pick_endpoints(&g), err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        free(ctx.args);
        return 1;
    }
    ctx.client.debug = g.debug;
    long long ms;
    if (g.total_timeout != NULL) {
        if (parse_go_duration_ms(g.total_timeout, &ms) < 0) {
            fprintf(stderr, "invalid value \"%s\" for flag -total-timeout: parse error\n",
                    g.total_timeout);
            code = CTL_EXIT_BAD_ARGS;
            goto out;
        }
        ctx.client.timeout_ms = ms > 0 ? (int)ms : -1;
    }
    if (g.timeout != NULL && parse_go_duration_ms(g.timeout, &ms) < 0) {
        fprintf(stderr, "invalid value \"%s\" for flag -timeout: parse error\n", g.timeout);
        code = CTL_EXIT_BAD_ARGS;
        goto out;
    }
    if (cmd->sync && !g.no_sync) {
        ctl_cluster_error_t cerr;
        if (g.debug) {
            fprintf(stderr, "start to sync cluster using endpoints(");
            print_endpoints(&ctx.client, ",");
            fprintf(stderr, ")\n");
        }
        int rc = ctl_client_sync(&ctx.client, &cerr);
        if (rc == -1) {
            /* etcdctl: a sync that cannot connect is ExitBadConnection. */
            fprintf(stderr, "Error:  %s\n%s\n", cerr.message, cerr.detail);
            code = CTL_EXIT_BAD_CONNECTION;
            goto out;
        }
        if (rc == -2) {
            fprintf(stderr, "etcd cluster has no published client endpoints.\n");
            fprintf(stderr,
                    "Try '--no-sync' if you want to access non-published client "
                    "endpoints(%s).\n",
                    pick_endpoints(&g));
            fprintf(stderr, "Error:  client: no endpoints available\n");
            code = CTL_EXIT_SERVER_ERROR;
            goto out;
        }
    }
    if (g.debug) {
        if (cmd->sync && !g.no_sync) {
            fprintf(stderr, "got endpoints(");
            print_endpoints(&ctx.client, ",");
            fprintf(stderr, ") after sync\n");
        }
        fprintf(stderr, "Cluster-Endpoints: ");
        print_endpoints(&ctx.client, ", ");
        fprintf(stderr, "\n");
    }
    code = cmd->fn(&ctx);
out:
    fflush(stdout);
    ctl_client_free(&ctx.client);
    free(ctx.args);
    return code;
}
