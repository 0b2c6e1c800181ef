/*
 * Writing metcd store snapshots (docs/snapshot-format.md): the builder used
 * for etcd's JSON (store_json.c), and the rewrite that gives a store the
 * indexes of etcd's /0 changes. The store cannot take an index without a
 * change of its own tree, so the rewrite goes through a snapshot: save,
 * append one history event per change, flagged as never delivered (the flag
 * a TTL refresh uses: kept for its index, skipped by watchers), and load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/endian.h"
#include "src/etcdimport/etcdimport_int.h"

#define SNAP_MAGIC   "METCDSTR"
#define SNAP_VERSION 2
#define EV_REFRESH   2
#define HIDDEN_KEY   "/0" /* etcd's name for its cluster table; never shown */

void eimp_buf_put(eimp_buf_t *b, const void *p, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (b->p == NULL)
            abort();
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

void eimp_buf_u8(eimp_buf_t *b, uint8_t v)
{
    eimp_buf_put(b, &v, 1);
}

void eimp_buf_u64(eimp_buf_t *b, uint64_t v)
{
    uint8_t x[8];
    le_put64(x, v);
    eimp_buf_put(b, x, 8);
}

void eimp_buf_uvarint(eimp_buf_t *b, uint64_t v)
{
    uint8_t x[10];
    size_t n = 0;
    while (v >= 0x80) {
        x[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    x[n++] = (uint8_t)v;
    eimp_buf_put(b, x, n);
}

void eimp_buf_string(eimp_buf_t *b, const char *s, size_t n)
{
    eimp_buf_uvarint(b, n);
    eimp_buf_put(b, s, n);
}

void eimp_buf_header(eimp_buf_t *b, uint64_t index, uint64_t n_nodes, uint64_t n_events,
                     const uint64_t *counters, int64_t last_time_ns)
{
    eimp_buf_put(b, SNAP_MAGIC, 8);
    eimp_buf_u8(b, SNAP_VERSION);
    eimp_buf_u64(b, index);
    eimp_buf_uvarint(b, n_nodes);
    eimp_buf_uvarint(b, n_events);
    for (int i = 0; i < EIMP_STATS_COUNT; i++)
        eimp_buf_uvarint(b, counters[i]);
    eimp_buf_u64(b, (uint64_t)last_time_ns);
}

void eimp_buf_finish(eimp_buf_t *b)
{
    uint8_t x[4];
    le_put32(x, crc32c(0, b->p, b->len));
    eimp_buf_put(b, x, 4);
}

static int save_cb(void *ctx, const void *p, size_t n)
{
    eimp_buf_put(ctx, p, n);
    return 0;
}

static bool get_uvarint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64 && *off < len; shift += 7) {
        uint8_t c = p[(*off)++];
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

store_t *eimp_store_patch(store_t *s, unsigned history_size, const eimp_hidden_change_t *changes,
                          size_t n_changes, int64_t last_time_ns, char *err, size_t err_len)
{
    eimp_buf_t in = {0};
    int rc = store_save(s, save_cb, &in);
    store_free(s);
    size_t off = 9;
    uint64_t index = 0, n_nodes = 0, n_events = 0, counters[EIMP_STATS_COUNT];
    bool ok = rc == 0 && in.len > 9 + 8 + 4 && in.p[8] == SNAP_VERSION;
    if (ok) {
        index = le_get64(in.p + off);
        off += 8;
        ok =
            get_uvarint(in.p, in.len, &off, &n_nodes) && get_uvarint(in.p, in.len, &off, &n_events);
        for (int i = 0; ok && i < EIMP_STATS_COUNT; i++)
            ok = get_uvarint(in.p, in.len, &off, &counters[i]);
        off += 8; /* the old last time */
        ok = ok && off <= in.len - 4;
    }
    if (!ok) {
        free(in.p);
        snprintf(err, err_len, "cannot rewrite the store snapshot");
        return NULL;
    }
    for (size_t i = 0; i < n_changes; i++)
        if (changes[i].counter < EIMP_STATS_COUNT)
            counters[changes[i].counter]++;
    eimp_buf_t out = {0};
    eimp_buf_header(&out, index + n_changes, n_nodes, n_events + n_changes, counters, last_time_ns);
    eimp_buf_put(&out, in.p + off, in.len - 4 - off);
    for (size_t i = 0; i < n_changes; i++) {
        uint64_t idx = index + 1 + i;
        eimp_buf_u8(&out, changes[i].action);
        eimp_buf_u8(&out, EV_REFRESH);
        eimp_buf_uvarint(&out, idx);
        eimp_buf_u8(&out, 0); /* event node: a file without a value */
        eimp_buf_string(&out, HIDDEN_KEY, strlen(HIDDEN_KEY));
        eimp_buf_u64(&out, 0);
        eimp_buf_u64(&out, 0);
        eimp_buf_uvarint(&out, idx);
        eimp_buf_uvarint(&out, idx);
    }
    eimp_buf_finish(&out);
    free(in.p);
    store_config_t cfg = {.history_size = history_size};
    store_t *ns = store_load(&cfg, out.p, out.len, err, err_len);
    free(out.p);
    return ns;
}
