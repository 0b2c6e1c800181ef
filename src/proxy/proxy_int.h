/*
 * Internals of proxy mode (the files of src/proxy): the director (which members to
 * send to), the cluster source (where their URLs come from) and the
 * forwarding of one client connection. Threads: one per client connection,
 * one refreshing the members; the director's lock is the only shared state.
 */
#ifndef METCD_PROXY_INT_H
#define METCD_PROXY_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "src/config/config.h"

/* One member's client URL, as the director hands it out (a copy). */
typedef struct proxy_endpoint {
    char url[256];  /* "http://127.0.0.1:2379" */
    char host[256]; /* without brackets */
    char port[8];
    int64_t unavailable_until_ms; /* monotonic; 0: available */
} proxy_endpoint_t;

/* etcd's director: the current endpoints, each left out for failure_wait
 * after a failure; a refresh replaces them all (available again). */
typedef struct proxy_director {
    pthread_mutex_t lock;
    proxy_endpoint_t *eps; /* owned */
    size_t n;
    unsigned failure_wait_ms;
} proxy_director_t;

void proxy_director_init(proxy_director_t *d, unsigned failure_wait_ms);
void proxy_director_free(proxy_director_t *d);
/* Replaces the endpoints by urls (copied), in a random order so that
 * proxies do not all stick to one member (etcd shuffles too). */
void proxy_director_set(proxy_director_t *d, char *const *urls, size_t n);
/* The available endpoints, copied into *out (malloc'd; the caller frees
 * it). Returns their count. */
size_t proxy_director_endpoints(proxy_director_t *d, proxy_endpoint_t **out);
/* Leaves url out for failure_wait_ms. */
void proxy_director_failed(proxy_director_t *d, const char *url);

/* Where the members' URLs come from and go (etcd's startProxy). */
typedef struct proxy_cluster {
    char *file;       /* <data-dir>/proxy/cluster (owned) */
    char **peer_urls; /* owned */
    size_t n_peer_urls;
} proxy_cluster_t;

/*
 * The peer URLs to start from: the cluster file when it exists, else the
 * discovery token, the SRV records or --initial-cluster. Creates
 * <data-dir>/proxy. Returns 0 or -1 with err.
 */
int proxy_cluster_init(proxy_cluster_t *c, const config_t *cfg, char *err, size_t err_len);
void proxy_cluster_free(proxy_cluster_t *c);
/*
 * Asks the peers for the member list (GET /members on a peer URL, as etcd's
 * GetClusterFromRemotePeers); on an answer, keeps its peer URLs (in memory
 * and in the cluster file) and returns every member's client URLs in *urls
 * (malloc'd strings in a malloc'd array; free each and the array). Returns
 * the count, 0 when no peer answered.
 */
size_t proxy_cluster_client_urls(proxy_cluster_t *c, char ***urls);

/* What every connection thread shares. */
typedef struct proxy {
    proxy_director_t director;
    proxy_cluster_t cluster;
    bool readonly;
    /* Copied from the configuration, which main frees at exit while these
     * threads may still run. */
    unsigned dial_timeout_ms, write_timeout_ms, read_timeout_ms, refresh_interval_ms;
} proxy_t;

/* Serves one accepted client connection until it closes; closes fd. */
void proxy_forward_connection(proxy_t *p, int fd, const char *client_ip);

int64_t proxy_now_ms(void);

#endif /* METCD_PROXY_INT_H */
