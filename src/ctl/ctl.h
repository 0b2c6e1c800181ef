/*
 * metcdctl: the etcd v2 command-line client (compatible with
 * `ETCDCTL_API=2 etcdctl` for the common commands: same arguments, same
 * output, same exit codes).
 */
#ifndef METCD_CTL_CTL_H
#define METCD_CTL_CTL_H

#include "client.h"

#include <stdbool.h>

#define METCDCTL_VERSION "0.1.0"

/* etcdctl v2's exit codes (etcdctl/ctlv2/command/error.go). */
enum {
    CTL_EXIT_SUCCESS = 0,
    CTL_EXIT_BAD_ARGS = 1,
    CTL_EXIT_BAD_CONNECTION = 2,
    CTL_EXIT_BAD_AUTH = 3,
    CTL_EXIT_SERVER_ERROR = 4,
    CTL_EXIT_CLUSTER_NOT_HEALTHY = 5,
};

/* Everything a command needs: global options, its own flags, its args. */
typedef struct ctl_ctx {
    ctl_client_t client;
    const char *output; /* "simple", "extended" or "json" */
    bool no_sync;
    bool client_ready;
    /* command flags (only those a command declares can be set) */
    bool sort, recursive, slash, quorum, dir, forever, in_order;
    long long ttl, prev_index, after_index;
    const char *prev_value;
    const char *from, *hidden; /* import */
    bool follow;
    /* positional arguments after the command's flags (borrowed from argv) */
    int nargs;
    char **args;
} ctl_ctx_t;

typedef int (*ctl_command_fn)(ctl_ctx_t *ctx);

/* Commands; each returns the process exit code. */
int ctl_cmd_get(ctl_ctx_t *ctx);
int ctl_cmd_ls(ctl_ctx_t *ctx);
int ctl_cmd_set(ctl_ctx_t *ctx);
int ctl_cmd_mk(ctl_ctx_t *ctx);
int ctl_cmd_mkdir(ctl_ctx_t *ctx);
int ctl_cmd_setdir(ctl_ctx_t *ctx);
int ctl_cmd_update(ctl_ctx_t *ctx);
int ctl_cmd_updatedir(ctl_ctx_t *ctx);
int ctl_cmd_rm(ctl_ctx_t *ctx);
int ctl_cmd_rmdir(ctl_ctx_t *ctx);
int ctl_cmd_watch(ctl_ctx_t *ctx);
int ctl_cmd_exec_watch(ctl_ctx_t *ctx);
int ctl_cmd_member_list(ctl_ctx_t *ctx);
int ctl_cmd_member_add(ctl_ctx_t *ctx);
int ctl_cmd_member_remove(ctl_ctx_t *ctx);
int ctl_cmd_member_update(ctl_ctx_t *ctx);
int ctl_cmd_cluster_health(ctl_ctx_t *ctx);
/* metcdctl's own: copy a live v2 keyspace into --endpoints (import.c). */
int ctl_cmd_import(ctl_ctx_t *ctx);

#endif
