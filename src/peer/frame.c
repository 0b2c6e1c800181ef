/* src/peer/frame.c - the framing of raft messages on a stream connection:
 * a u32 little-endian length, then raft_encode_message() bytes. The length
 * is checked against a bound before anything is buffered, so a peer cannot
 * make us allocate more than max_frame for one message. */
#include <string.h>

#include "src/peer/peer_int.h"

void peer_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t peer_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

void peer_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t peer_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

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
    peer_put_u32(b.data, (uint32_t)payload);
    *out = b.data;
    *out_len = b.len;
    return 0;
}

ssize_t peer_frame_next(const uint8_t *buf, size_t len, size_t max, size_t *payload_len)
{
    if (len < PEER_FRAME_HEADER)
        return 0;
    uint32_t n = peer_get_u32(buf);
    if (n > max)
        return PEER_EINVAL;
    if (len - PEER_FRAME_HEADER < n)
        return 0;
    *payload_len = n;
    return (ssize_t)(PEER_FRAME_HEADER + (size_t)n);
}
