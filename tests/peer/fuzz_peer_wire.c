/* tests/peer/fuzz_peer_wire.c - libFuzzer target for what a peer connection
 * parses from the network: the request head, the response head, then
 * frames of raft messages, as tcp_inbound.c reads them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/peer/peer_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct peer_request req;
    int status;
    int head = peer_request_parse((const char *)data, size, &req);
    (void)peer_response_parse((const char *)data, size, &status);
    size_t pos = head > 0 ? (size_t)head : 0;
    for (;;) {
        size_t payload;
        ssize_t n = peer_frame_next(data + pos, size - pos, 1u << 20, &payload);
        if (n <= 0)
            break;
        struct raft_message m;
        if (raft_decode_message(data + pos + PEER_FRAME_HEADER, payload, &m) == 0) {
            /* what decodes must encode back to the same bytes */
            uint8_t *frame;
            size_t len;
            if (peer_frame_encode(&m, 1u << 20, &frame, &len) == 0) {
                if (len != (size_t)n || memcmp(frame, data + pos, len) != 0)
                    abort();
                free(frame);
            }
            raft_message_free(&m);
        }
        pos += (size_t)n;
    }
    return 0;
}
