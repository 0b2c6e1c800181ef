/*
 * The server: one cluster member (etcd calls this etcdserver). It owns the
 * event loop, the store and the HTTP API, and joins them:
 *
 *   api -> propose() -> stamp the time, encode -> server_submit()
 *       -> raft (src/raft_node.h): WAL, group commit, fsync -> apply -> answer
 *
 * Threads: everything runs on the loop thread; the WAL's worker thread and
 * the snapshot child process stay behind wal/ and src/snapshotter.h.
 */
#ifndef METCD_SERVER_H
#define METCD_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "api/api.h"
#include "src/config.h"
#include "store/store.h"

/* server_new() failures: the exit status main() uses. */
#define SERVER_E_RUNTIME (-1) /* exit 1: a port in use, a locked data dir, ... */
#define SERVER_E_CONFIG  (-2) /* exit 2: a configuration this version cannot run */

typedef struct server server_t;

/*
 * Builds the member from cfg: computes the member and cluster IDs, opens and
 * locks the data directory, binds every client and peer URL, creates the
 * store and the API. cfg must outlive the server. Returns 0 with *out
 * (free with server_free()), or SERVER_E_* with one line in err.
 */
int server_new(const config_t *cfg, server_t **out, char *err, size_t err_len);

/*
 * Serves until SIGINT or SIGTERM, then stops accepting and ends the watches.
 * Returns 0.
 */
int server_run(server_t *s);

/* Frees everything server_new() made. */
void server_free(server_t *s);

/*
 * Where an applied request's result goes (same contract as api_propose_cb:
 * rc == 0: ev is a new reference the callee releases (NULL for SYNC);
 * rc < 0: err describes the v2 error and the callee clears it).
 */
typedef api_propose_cb server_apply_cb;

/*
 * Proposes one encoded request (from store_request_encode()) through raft;
 * takes ownership of `data` (malloc'd). Returns 0 when accepted: cb (may be
 * NULL) is then called exactly once, after this returns, when the entry is
 * durable in the WAL and applied, or when it failed (error 300). Returns
 * -code with err filled when it cannot be proposed (no leader).
 */
int server_submit(server_t *s, uint8_t *data, size_t len, server_apply_cb cb, void *cb_ctx,
                  store_error_t *err);

/* The IDs etcd would give this member and its cluster. */
uint64_t server_member_id(const server_t *s);
uint64_t server_cluster_id(const server_t *s);

#endif /* METCD_SERVER_H */
