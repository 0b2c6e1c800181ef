/*
 * A new member's initial cluster from discovery instead of --initial-cluster
 * (etcd's NewServer with ShouldDiscover, and PeerURLsMapAndToken for DNS):
 * --discovery registers the member under the token and waits for the
 * others; --discovery-srv reads the SRV records of the domain.
 */
#ifndef METCD_SERVER_BOOTSTRAP_H
#define METCD_SERVER_BOOTSTRAP_H

#include <stddef.h>

#include "src/config/config.h"

/* Returned by bootstrap_discover when the token's cluster is full. */
#define BOOTSTRAP_E_FULL (-3)

/* The initial cluster a discovery source gave. */
typedef struct bootstrap {
    config_member_t *members; /* owned */
    size_t n;
    char *token; /* the token member IDs are computed with (owned) */
} bootstrap_t;

/*
 * Fills *b from cfg's --discovery or --discovery-srv (the caller checks that
 * one is set and that the member has no log yet). Blocks until the cluster
 * is known. Returns 0, BOOTSTRAP_E_FULL (err says so), or -1 with err.
 * Ownership: free *b with bootstrap_free().
 */
int bootstrap_discover(const config_t *cfg, bootstrap_t *b, char *err, size_t err_len);
void bootstrap_free(bootstrap_t *b);

#endif /* METCD_SERVER_BOOTSTRAP_H */
