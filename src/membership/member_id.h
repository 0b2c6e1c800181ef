/*
 * Member and cluster IDs, computed as etcd 3.4 does so that a metcd member
 * shows the IDs an etcd member with the same configuration would
 * (etcdserver/api/membership: NewMember and RaftCluster.genID).
 */
#ifndef METCD_MEMBER_ID_H
#define METCD_MEMBER_ID_H

#include <stddef.h>
#include <stdint.h>

/*
 * A member's ID: the first 8 bytes, big endian, of SHA-1 over its peer URLs
 * sorted and joined with no separator, followed by the cluster token.
 * (etcd appends the time as well for a member added at run time; a member of
 * the initial cluster has none.) peer_urls need not be sorted.
 */
uint64_t member_id_compute(const char *const *peer_urls, size_t n, const char *token);

/*
 * The ID of a member added at run time (POST /v2/members): etcd appends the
 * time of the request, in Unix seconds as decimal digits, after the token,
 * so that a member re-added with the same URLs gets a new ID.
 */
uint64_t member_id_compute_added(const char *const *peer_urls, size_t n, const char *token,
                                 int64_t unix_seconds);

/*
 * The cluster's ID: the first 8 bytes, big endian, of SHA-1 over the member
 * IDs sorted ascending, each as 8 big-endian bytes.
 */
uint64_t cluster_id_compute(const uint64_t *member_ids, size_t n);

#endif /* METCD_MEMBER_ID_H */
