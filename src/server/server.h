/*
 * The server: one cluster member (etcd calls this etcdserver). It owns the
 * event loop, the store and the HTTP API, and joins them:
 *
 *   api (host.propose) -> server_propose(): stamp the time, encode
 *       -> node_propose() (src/server/node.h): envelope, waiter
 *       -> raft_propose(): the log -> WAL, group commit, fsync -> apply
 *       -> the waiter's callback answers the client
 *
 * Threads: everything runs on the loop thread; the WAL's worker thread and
 * the snapshot child process stay behind wal/ and src/server/snapshotter.h.
 */
#ifndef METCD_SERVER_H
#define METCD_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "src/config/config.h"

/* server_new() failures: the exit status main() uses. */
#define SERVER_E_RUNTIME        (-1) /* exit 1: a port in use, a locked data dir, ... */
#define SERVER_E_CONFIG         (-2) /* exit 2: a configuration this version cannot run */
#define SERVER_E_DISCOVERY_FULL (-3) /* exit 1, or a proxy: the discovery token is full */

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
 * --import-etcd-data-dir (src/server/import.c): when cfg's data directory
 * holds no log yet, makes one from the etcd 3.4 data directory etcd_dir:
 * the member of the new cluster cfg describes, holding etcd's v2 keyspace
 * with its indexes. A data directory that already holds a log is left as it
 * is (one warning line). Run it before server_new(). Returns 0, or
 * SERVER_E_* with one line in err.
 */
int server_import_etcd(const config_t *cfg, const char *etcd_dir, char *err, size_t err_len);

/*
 * --migrate-backend (src/server/migrate.c): converts the stopped member's
 * data directory cfg->data_dir from the backend it was created with to
 * cfg->backend, keeping every key, TTL, index and the watch history, and
 * returns without starting a member. Refused while a member holds the data
 * dir's lock, and for a data dir with no member log. Returns 0, or
 * SERVER_E_RUNTIME with one line in err.
 */
int server_migrate_backend(const config_t *cfg, char *err, size_t err_len);

/*
 * Tells systemd state ("READY=1", "STOPPING=1") on $NOTIFY_SOCKET when it
 * is set, and logs what happened; a failed notification stops nothing. A
 * proxy (src/proxy) is ready once it listens, as etcd's proxy notifies.
 */
void server_notify_systemd(const char *state);

/* The IDs etcd would give this member and its cluster. */
uint64_t server_member_id(const server_t *s);
uint64_t server_cluster_id(const server_t *s);

#endif /* METCD_SERVER_H */
