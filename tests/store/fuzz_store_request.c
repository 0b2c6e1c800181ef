/*
 * tests/store/fuzz_store_request.c: libFuzzer target. Decodes the input as a
 * request (it must never crash or read out of bounds) and, when it decodes,
 * applies it to a fresh store that already holds a few keys, a TTL and a
 * watcher, then checks that the store still answers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static void ignore_cb(void *ctx, store_event_t *ev)
{
    (void)ctx;
    (void)ev;
}

static void seed(store_t *s, store_op_t op, const char *key, const char *value, bool dir,
                 int64_t ttl)
{
    store_request_t r = {.op = op, .time_ns = 1000000000, .key = key, .key_len = strlen(key)};
    if (value) {
        r.value = value;
        r.value_len = strlen(value);
    }
    r.dir = dir;
    if (ttl >= 0) {
        r.has_ttl = true;
        r.ttl_sec = (uint64_t)ttl;
    }
    uint8_t *buf;
    size_t len;
    if (store_request_encode(&r, &buf, &len) == 0) {
        store_apply(s, buf, len, NULL, NULL);
        free(buf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    store_request_t req;
    if (store_request_decode(data, size, &req) != 0)
        return 0;
    /* What decodes must encode back to the same bytes. */
    uint8_t *again;
    size_t again_len;
    if (store_request_encode(&req, &again, &again_len) == 0) {
        if (again_len != size || memcmp(again, data, size) != 0)
            abort();
        free(again);
    }
    store_config_t cfg = {.history_size = 8};
    store_t *s = store_new(&cfg);
    if (!s)
        return 0;
    seed(s, STORE_OP_SET, "/a", "1", false, -1);
    seed(s, STORE_OP_SET, "/d/x/y", "2", false, 5);
    seed(s, STORE_OP_SET, "/e", NULL, true, 1);
    seed(s, STORE_OP_SET, "/_h", "3", false, -1);
    store_watcher_t *w = NULL;
    store_watch(s, "/d", 2, true, true, 0, ignore_cb, NULL, &w, NULL);
    uint64_t before = store_index(s);
    store_event_t *ev = NULL;
    store_error_t err = {0};
    int rc = store_apply(s, data, size, &ev, &err);
    bool internal = req.op == STORE_OP_SYNC || req.op == STORE_OP_RESUME;
    if (rc == 0 && !internal && store_index(s) != before + 1)
        abort(); /* one success, one index */
    if (req.op == STORE_OP_RESUME && store_index(s) != before)
        abort(); /* RESUME moves deadlines only */
    if (rc != 0 && store_index(s) != before)
        abort(); /* a failure takes none */
    store_event_release(ev);
    store_error_clear(&err);
    store_event_t *get = NULL;
    if (store_get(s, "/", 1, true, true, 0, &get, NULL) == 0)
        store_event_release(get);
    store_free(s);
    return 0;
}
