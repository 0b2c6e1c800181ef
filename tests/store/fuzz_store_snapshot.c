/*
 * tests/store/fuzz_store_snapshot.c: libFuzzer target for store_load(). The
 * input is a snapshot without its CRC trailer; the harness appends a valid
 * CRC-32C so that the fuzzer reaches the record parser. Whatever loads must
 * save again to the same bytes and accept writes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static uint32_t crc32c(const uint8_t *p, size_t n)
{
    uint32_t crc = ~0u;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78u : crc >> 1;
    }
    return ~crc;
}

typedef struct buf {
    uint8_t *p;
    size_t len;
} buf_t;

static int append(void *ctx, const void *data, size_t len)
{
    buf_t *b = ctx;
    uint8_t *p = realloc(b->p, b->len + len);
    if (!p)
        return -1;
    memcpy(p + b->len, data, len);
    b->p = p;
    b->len += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *snap = malloc(size + 4);
    if (!snap)
        return 0;
    if (size)
        memcpy(snap, data, size);
    uint32_t crc = crc32c(data, size);
    for (int i = 0; i < 4; i++)
        snap[size + (size_t)i] = (uint8_t)(crc >> (8 * i));
    char err[128];
    store_config_t cfg = {.history_size = 4};
    store_t *s = store_load(&cfg, snap, size + 4, err, sizeof(err));
    if (s) {
        buf_t out = {0};
        if (store_save(s, append, &out) != 0)
            abort();
        store_t *again = store_load(&cfg, out.p, out.len, err, sizeof(err));
        if (!again)
            abort(); /* what we write, we read */
        store_free(again);
        free(out.p);
        store_request_t r = {.op = STORE_OP_SYNC, .time_ns = INT64_MAX};
        uint8_t *req;
        size_t req_len;
        if (store_request_encode(&r, &req, &req_len) == 0) {
            store_apply(s, req, req_len, NULL, NULL);
            free(req);
        }
        store_event_t *ev = NULL;
        if (store_get(s, "/", 1, true, true, 0, &ev, NULL) == 0)
            store_event_release(ev);
        store_free(s);
    }
    free(snap);
    return 0;
}
