/* libFuzzer target: arbitrary bytes never crash the raft decoders, and a
 * successful decode re-encodes to the same bytes. */
#include "raft/raft.h"

#include <stdlib.h>
#include <string.h>

static void decode_all(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_all(data, size);
    /* Again behind a valid version byte, so that mutations reach past it
     * without a seed corpus. */
    uint8_t *v = malloc(size + 1);
    if (!v)
        return 0;
    v[0] = RAFT_ENCODING_VERSION;
    memcpy(v + 1, data, size);
    decode_all(v, size + 1);
    free(v);
    return 0;
}

static void decode_all(const uint8_t *data, size_t size)
{
    struct raft_message m;
    if (raft_decode_message(data, size, &m) == 0) {
        struct raft_buf b = {0};
        if (raft_encode_message(&b, &m) != 0 || b.len != size || memcmp(b.data, data, size) != 0)
            abort();
        raft_buf_free(&b);
        raft_message_free(&m);
    }
    struct raft_conf_change cc;
    if (raft_decode_conf_change(data, size, &cc) == 0)
        raft_conf_change_free(&cc);
    struct raft_hard_state hs;
    (void)raft_decode_hard_state(data, size, &hs);
    struct raft_entry e;
    size_t used;
    if (raft_decode_entry(data, size, &e, &used) == 0)
        free(e.data);
    struct raft_snapshot_meta meta;
    if (raft_decode_snapshot_meta(data, size, &meta, &used) == 0)
        raft_conf_state_free(&meta.conf);
}
