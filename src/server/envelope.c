#include <stdlib.h>
#include <string.h>

#include "common/endian.h"
#include "src/server/envelope.h"

int envelope_encode(uint8_t kind, uint64_t member_id, uint64_t request_id, const uint8_t *payload,
                    size_t len, uint8_t **out, size_t *out_len)
{
    uint8_t *b = malloc(ENVELOPE_HEADER_SIZE + len);
    if (b == NULL)
        return -1;
    b[0] = kind;
    le_put64(b + 1, member_id);
    le_put64(b + 9, request_id);
    if (len > 0)
        memcpy(b + ENVELOPE_HEADER_SIZE, payload, len);
    *out = b;
    *out_len = ENVELOPE_HEADER_SIZE + len;
    return 0;
}

int envelope_decode(const uint8_t *data, size_t len, envelope_t *env)
{
    if (len < ENVELOPE_HEADER_SIZE ||
        (data[0] != ENVELOPE_REQUEST && data[0] != ENVELOPE_ATTRIBUTES))
        return -1;
    env->kind = data[0];
    env->member_id = le_get64(data + 1);
    env->request_id = le_get64(data + 9);
    env->payload = data + ENVELOPE_HEADER_SIZE;
    env->payload_len = len - ENVELOPE_HEADER_SIZE;
    return 0;
}
