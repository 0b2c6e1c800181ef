/*
 * Joining a running cluster: the IDs a member added with `member add` gets
 * from the cluster before its first start (see join.c).
 */
#ifndef METCD_SERVER_JOIN_H
#define METCD_SERVER_JOIN_H

#include <stddef.h>
#include <stdint.h>

#include "src/config/config.h"
#include "src/membership/membership.h"

/*
 * Asks each other member of --initial-cluster (bounded: 2 s each) for the
 * member list; returns 0 with this member's ID (the member whose peer URLs
 * are --initial-advertise-peer-urls), the cluster ID and the members as the
 * peer answered (IDs and peer URLs, into *members, which the caller frees
 * with membership_free), or -1 with err. Blocks: call it before the loop
 * serves.
 */
int join_fetch_ids(const config_t *cfg, uint64_t *member, uint64_t *cluster, membership_t *members,
                   char *err, size_t err_len);

#endif /* METCD_SERVER_JOIN_H */
