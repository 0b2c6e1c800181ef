/*
 * Proxy mode (--proxy on|readonly, and the fallback of a member that found
 * its discovery token full): etcd's v2 httpproxy. The process holds no data;
 * it forwards every client request to a member of the cluster, learns the
 * members' client URLs from their peer URLs (GET /members), refreshes them
 * every --proxy-refresh-interval, keeps them in <data-dir>/proxy/cluster,
 * and tries the next member when one cannot be reached, leaving that one
 * out for --proxy-failure-wait. Answers are relayed as they arrive, so a
 * long-poll or streaming watch passes through unbuffered. A readonly proxy
 * answers every method but GET with 501 Not Implemented, as etcd's does.
 */
#ifndef METCD_PROXY_H
#define METCD_PROXY_H

#include <stddef.h>

#include "src/config/config.h"

/*
 * Starts the proxy on cfg's --listen-client-urls and serves until SIGINT or
 * SIGTERM. notify (may be NULL) is told "READY=1" once every listener
 * accepts and "STOPPING=1" when a signal ends it (systemd's states). Returns
 * 0 after a clean stop, or -1 with err when it cannot start (no cluster to
 * proxy to, a port in use).
 */
int proxy_run(const config_t *cfg, void (*notify)(const char *state), char *err, size_t err_len);

/* The data directory holds a proxy's state (<data-dir>/proxy). */
int proxy_dir_exists(const char *data_dir);

#endif /* METCD_PROXY_H */
