/*
 * libFuzzer target for the etcd data dir decoders (src/etcdimport/): the
 * first byte picks what the rest is: a WAL segment (the last one, so a torn
 * tail ends it, or not), a .snap file, a raft entry replayed onto a store
 * (normal or configuration change), or the v2 store JSON. None may crash,
 * leak or read out of bounds, whatever the bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "src/etcdimport/etcdimport_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    /* A private copy, so that reads past the end are caught exactly. */
    uint8_t *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    for (size_t i = 0; i < size; i++)
        buf[i] = data[i];
    char err[256];
    switch (mode % 5) {
    case 0:
    case 1: {
        eimp_wal_t w = {0};
        eimp_wal_parse_segment(&w, buf, size, mode % 5 == 1, err, sizeof(err));
        eimp_wal_free(&w);
        break;
    }
    case 2: {
        uint64_t index, term;
        const uint8_t *payload;
        size_t plen;
        eimp_snap_decode(buf, size, &index, &term, &payload, &plen, err, sizeof(err));
        break;
    }
    case 3: {
        store_config_t cfg = {.history_size = 16};
        eimp_replay_t rp = {.store = store_new(&cfg), .history_size = 16};
        eimp_entry_t e = {.index = 1, .term = 1, .type = (mode >> 3) & 1, .data = buf, .len = size};
        if (eimp_replay_entry(&rp, &e, err, sizeof(err)) == 0)
            eimp_replay_flush(&rp, err, sizeof(err));
        if (rp.store)
            store_free(rp.store);
        free(rp.pending);
        free(rp.scratch.p);
        break;
    }
    case 4: {
        store_t *s = eimp_store_from_json(buf, size, 16, err, sizeof(err));
        if (s)
            store_free(s);
        break;
    }
    }
    free(buf);
    return 0;
}
