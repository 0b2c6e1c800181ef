/* src/peer/frame.c - the framing of raft messages on a stream connection:
 * a u32 little-endian length, then raft_encode_message() bytes. The length
 * is checked against a bound before anything is buffered, so a peer cannot
 * make us allocate more than max_frame for one message. */
#include <string.h>

#include "src/peer/peer_int.h"

int peer_frame_encode(const struct raft_message *m, size_t max, uint8_t **out, size_t *out_len)
{
    /* Encode straight after a reserved header so the frame is one buffer,
     * written with one iovec. */
    struct raft_buf b = {peer_xmalloc(256), PEER_FRAME_HEADER, 256};
    int rc = raft_encode_message(&b, m);
    if (rc == RAFT_ENOMEM) {
        peer_oom(b.cap); /* one policy outside raft/: abort */
    }
    size_t payload = b.len - PEER_FRAME_HEADER;
    if (rc != 0 || payload > max || payload > UINT32_MAX) {
        raft_buf_free(&b);
        return PEER_EINVAL;
    }
    le_put32(b.data, (uint32_t)payload);
    *out = b.data;
    *out_len = b.len;
    return 0;
}

ssize_t peer_frame_next(const uint8_t *buf, size_t len, size_t max, size_t *payload_len)
{
    if (len < PEER_FRAME_HEADER)
        return 0;
    uint32_t n = le_get32(buf);
    if (n > max)
        return PEER_EINVAL;
    if (len - PEER_FRAME_HEADER < n)
        return 0;
    *payload_len = n;
    return (ssize_t)(PEER_FRAME_HEADER + (size_t)n);
}
