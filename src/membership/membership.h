/*
 * The cluster's member table (etcd's membership.RaftCluster): who the
 * members are (ID, name, peer URLs, client URLs) and which IDs were removed.
 * It is replicated state: it changes only when the raft node driver applies
 * a configuration change (add, remove, update peer URLs) or a member's
 * published attributes (name, client URLs), so every member holds the same
 * table at the same index. It travels in snapshots (membership_encode) and
 * in configuration-change contexts (membership_member_encode).
 *
 * Ownership: a membership_t owns every string and array in it; members are
 * kept sorted by ID (etcd lists them so). Out of memory aborts.
 */
#ifndef METCD_MEMBERSHIP_H
#define METCD_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct membership_member {
    uint64_t id;
    char *name;       /* "" until the member has published it */
    char **peer_urls; /* sorted */
    size_t n_peer_urls;
    char **client_urls; /* as published, in the member's order */
    size_t n_client_urls;
} membership_member_t;

typedef struct membership {
    uint64_t cluster_id;
    membership_member_t *members; /* sorted by id */
    size_t n;
    uint64_t *removed; /* IDs removed from the cluster: never reused, refused */
    size_t n_removed;
} membership_t;

void membership_init(membership_t *m, uint64_t cluster_id);
void membership_free(membership_t *m);
/* Deep copy into dst (which must not hold anything). */
void membership_copy(membership_t *dst, const membership_t *src);

/* The member with this ID, or NULL. The pointer is valid until the next
 * change to m. */
const membership_member_t *membership_find(const membership_t *m, uint64_t id);
/* The member one of whose peer URLs is `url`, or NULL. */
const membership_member_t *membership_find_peer_url(const membership_t *m, const char *url);
bool membership_is_removed(const membership_t *m, uint64_t id);

/* Adds (copied) a member; replaces its peer URLs if it exists. Returns 0,
 * or -1 when the ID was removed before (etcd never reuses an ID). */
int membership_add(membership_t *m, const membership_member_t *mb);
/* Removes a member and remembers its ID as removed. Returns 0 or -1 if
 * unknown. */
int membership_remove(membership_t *m, uint64_t id);
/* Replaces the peer URLs of a member (copied, then sorted). 0 or -1. */
int membership_update_peer_urls(membership_t *m, uint64_t id, const char *const *urls, size_t n);
/* Sets the name and client URLs a member published (copied). 0 or -1. */
int membership_set_attributes(membership_t *m, uint64_t id, const char *name,
                              const char *const *client_urls, size_t n);

/*
 * The initial cluster of --initial-cluster: entry i names member names[i]
 * with peer URL urls[i] (a name may repeat: one member with several peer
 * URLs). IDs as etcd computes them from the sorted peer URLs and the token;
 * the cluster ID from the sorted member IDs. Returns 0, or -1 with err set
 * (a peer URL used by two members).
 */
int membership_from_initial_cluster(membership_t *m, const char *const *names,
                                    const char *const *urls, size_t n, const char *token, char *err,
                                    size_t err_len);

/* ---- encodings (versioned, little-endian; decoders check every length) -- */

/* One member. *out is malloc'd (the caller frees it). */
void membership_member_encode(const membership_member_t *mb, uint8_t **out, size_t *len);
/* Decodes into *mb, which then owns copies (free with
 * membership_member_free). Returns 0 or -1 for bytes that are not one. */
int membership_member_decode(const uint8_t *data, size_t len, membership_member_t *mb);
void membership_member_free(membership_member_t *mb);

/* The whole table. *out is malloc'd (the caller frees it). */
void membership_encode(const membership_t *m, uint8_t **out, size_t *len);
/* Decodes into *m (which must not hold anything). 0 or -1. */
int membership_decode(const uint8_t *data, size_t len, membership_t *m);

/*
 * etcd's peer endpoint GET /members: a JSON array of the members,
 * [{"id":N,"name":"..","peerURLs":[..],"clientURLs":[..]}], IDs as numbers
 * as etcd encodes them there. A joining member reads it to learn the
 * cluster. Returns a malloc'd NUL-terminated string the caller frees.
 */
char *membership_members_json(const membership_t *m);

#endif /* METCD_MEMBERSHIP_H */
