/*
 * Bootstrap sources other than a static --initial-cluster, as etcd 3.4 has
 * them: the v2 discovery protocol (--discovery URL: a directory of a v2 keys
 * API, reached directly or through a discovery service) and DNS SRV records
 * (--discovery-srv DOMAIN). Both answer with an initial cluster in
 * --initial-cluster's syntax, "name=peerURL,name=peerURL". They block:
 * call them before a member or a proxy serves.
 */
#ifndef METCD_DISCOVERY_H
#define METCD_DISCOVERY_H

#include <stddef.h>
#include <stdint.h>

/* Errors, as etcd's v2discovery names them. */
#define DISCOVERY_E_FAILED         (-1) /* any other failure; err says why */
#define DISCOVERY_E_FULL           (-2) /* "discovery: cluster is full" */
#define DISCOVERY_E_DUPLICATE_ID   (-3) /* "discovery: found duplicate id" */
#define DISCOVERY_E_DUPLICATE_NAME (-4) /* "discovery: found duplicate name" */

/*
 * Registers this member under the token of durl (its key is the member ID in
 * hex, its value self_cluster, this member's "name=peerURL,..." entries),
 * waits until as many members as the token's _config/size registered, and
 * returns the first size of them (in registration order) as *cluster.
 * dproxy: an HTTP proxy for the discovery traffic, or NULL. Connection
 * failures are retried with etcd's backoff (1 s doubling up to 256 s, no
 * limit); the wait for the other members has no bound, as in etcd.
 * Returns 0, or a DISCOVERY_E_* code with a message in err.
 * Ownership: *cluster is malloc'd; the caller frees it.
 */
int discovery_join(const char *durl, const char *dproxy, uint64_t self_id, const char *self_cluster,
                   char **cluster, char *err, size_t err_len);

/*
 * The cluster of durl's token without registering (what a proxy uses):
 * the members once the token holds size of them; when the cluster is full
 * already, its first size members at once.
 * Returns 0 or a DISCOVERY_E_* code with err. Ownership: as discovery_join.
 */
int discovery_get_cluster(const char *durl, const char *dproxy, char **cluster, char *err,
                          size_t err_len);

/*
 * The initial cluster from the SRV records of domain (etcd's
 * GetDNSClusterNames): _etcd-server-ssl<suffix>._tcp.<domain> as https URLs
 * and _etcd-server<suffix>._tcp.<domain> as http URLs, suffix being
 * "-<srv_name>" when srv_name is not empty. A target whose address and port
 * are those of one of self_peer_urls gets the name self_name; the others are
 * named "0", "1", ... in the order of the answers.
 * The DNS server is the system's (/etc/resolv.conf), unless the environment
 * variable METCD_DNS_SERVER names one as "IPv4:port" (or "IPv4", port 53).
 * Returns 0 with *cluster, or -1 with err. Ownership: *cluster is malloc'd.
 */
int discovery_srv_cluster(const char *domain, const char *srv_name, const char *self_name,
                          const char *const *self_peer_urls, size_t n_self_peer_urls,
                          char **cluster, char *err, size_t err_len);

#endif /* METCD_DISCOVERY_H */
