/*
 * The request envelope: what a member proposes to the raft log. It wraps the
 * store request bytes (store_request_encode()) with the proposing member's id
 * and a request id, so that the member that proposed an entry can find the
 * client waiting for it when the entry is applied (etcd's etcdserver wraps a
 * v2 request in a pb.Request with an ID for the same reason, and keeps a
 * wait.Wait keyed by it). Entries proposed by another member, or replayed
 * from the log at start, find no waiter and are only applied.
 *
 * Layout (little-endian): kind byte, member id (8 bytes), request id
 * (8 bytes, 0 for internal requests nobody waits for), the payload:
 *   ENVELOPE_REQUEST (1, the only kind before clusters): a store request;
 *   ENVELOPE_ATTRIBUTES (2): a member publishing its name and client URLs
 *     (membership_member_encode()), as etcd's members publish theirs
 *     through raft after they start (EtcdServer.publish).
 */
#ifndef METCD_ENVELOPE_H
#define METCD_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_REQUEST     1
#define ENVELOPE_ATTRIBUTES  2
#define ENVELOPE_HEADER_SIZE 17

typedef struct envelope {
    uint8_t kind; /* ENVELOPE_REQUEST or ENVELOPE_ATTRIBUTES */
    uint64_t member_id;
    uint64_t request_id;
    const uint8_t *payload; /* borrowed from the decoded buffer */
    size_t payload_len;
} envelope_t;

/*
 * Writes the envelope of (kind, member_id, request_id, payload) into a new
 * buffer. Ownership: *out is malloc'd; the caller frees it. Returns 0 or -1
 * (ENOMEM).
 */
int envelope_encode(uint8_t kind, uint64_t member_id, uint64_t request_id, const uint8_t *payload,
                    size_t len, uint8_t **out, size_t *out_len);

/* Decodes data; env->payload points into data. Returns 0, or -1 for bytes
 * that are not an envelope. */
int envelope_decode(const uint8_t *data, size_t len, envelope_t *env);

#endif /* METCD_ENVELOPE_H */
