/*
 * store/store.c: the store object, the apply entry point, reads and watches.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

store_t *store_new(const store_config_t *cfg)
{
    store_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->history_size = cfg && cfg->history_size ? cfg->history_size : STORE_DEFAULT_HISTORY;
    s->cache_cap = cfg ? cfg->cache_nodes : 0;
    /* Hash seeds: the store's address, randomised by ASLR (see store_hash). */
    uint64_t seed = (uint64_t)(uintptr_t)s * 0x9e3779b97f4a7c15ull;
    seed ^= seed >> 29;
    if (node_table_init(&s->table, seed) < 0 ||
        event_history_init(&s->history, s->history_size) < 0) {
        node_table_destroy(&s->table);
        free(s);
        return NULL;
    }
    watcher_hub_init(&s->hub, seed * 0xbf58476d1ce4e5b9ull + 1);
    /* The root exists from the start with indexes 0 (etcd's "/1" namespace dir). */
    s->root = tnode_new("/", 1, true, 0);
    node_table_insert(&s->table, s->root);
    return s;
}

void store_free(store_t *s)
{
    if (!s)
        return;
    watcher_hub_destroy(&s->hub);
    for (size_t i = 0; i <= s->table.mask; i++)
        tnode_free(s->table.slots[i]);
    node_table_destroy(&s->table);
    ttl_heap_destroy(&s->heap);
    event_history_destroy(&s->history);
    if (s->batch)
        engine_batch_abort(s->batch);
    engine_close(s->engine);
    engine_buf_free(&s->pbuf);
    engine_buf_free(&s->rbuf);
    free(s);
}

void store_replace(store_t *dst, store_t *src)
{
    /*
     * etcd ends its v2 watchers when a snapshot replaces its store: they get
     * error 400, "watcher is cleared due to etcd recovery", and resume from
     * the new state with a new watch.
     */
    watcher_hub_destroy(&dst->hub);
    store_t old = *dst;
    *dst = *src; /* the new tree, engine, history, counters; src's empty hub */
    *src = old;  /* the old tree and engine, freed with src */
    dst->replaced = old.replaced + 1;
    watcher_hub_init(&src->hub, 1);
    store_free(src);
}

uint64_t store_index(const store_t *s)
{
    return s->index;
}

uint64_t store_replaced(const store_t *s)
{
    return s->replaced;
}

void store_record_event(store_t *s, store_event_t *ev)
{
    const store_event_t *evicted =
        s->history.count == s->history.cap ? event_history_at(&s->history, 0) : NULL;
    persist_event(s, ev, evicted);
    event_history_add(&s->history, ev);
    /* Refresh events stay in the history (they hold an index) but wake nobody. */
    if (!ev->refresh)
        watcher_hub_notify(&s->hub, ev);
}

int store_apply(store_t *s, const uint8_t *data, size_t len, store_event_t **ev_out,
                store_error_t *err)
{
    store_error_t local = {0};
    store_error_t *e = err ? err : &local;
    if (ev_out)
        *ev_out = NULL;
    store_request_t req;
    if (store_request_decode(data, len, &req) < 0)
        return store_error_set(err, STORE_E_RAFT_INTERNAL, "malformed request", s->index);
    int rc = store_op_apply(s, &req, ev_out, e);
    store_error_clear(&local);
    return rc;
}

/* The clean form of a caller's key: borrowed when already clean, else in buf/heap. */
static const char *clean_key(const char *key, size_t *len, char *buf, size_t buf_len, char **heap)
{
    *heap = NULL;
    if (key && store_path_is_clean(key, *len))
        return key;
    if (!key) {
        *len = 1;
        return "/";
    }
    char *out = *len + 2 <= buf_len ? buf : (*heap = store_xmalloc(*len + 2));
    *len = store_path_clean(key, *len, out);
    return out;
}

void store_count_failed_get(store_t *s)
{
    s->stats.gets_fail++;
}

void store_count_successful_get(store_t *s)
{
    s->stats.gets_success++;
}

int store_get(store_t *s, const char *key, size_t key_len, bool recursive, bool sorted,
              int64_t now_ns, store_event_t **ev_out, store_error_t *err)
{
    char buf[256], *heap;
    store_error_t local = {0};
    const char *k = clean_key(key, &key_len, buf, sizeof(buf), &heap);
    bool detached;
    tnode_t *n = store_internal_read(s, k, key_len, &detached, err ? err : &local);
    free(heap);
    if (!n) {
        store_cache_trim(s);
        s->stats.gets_fail++;
        int code = err ? err->code : local.code;
        store_error_clear(&local);
        return -code;
    }
    s->stats.gets_success++;
    /* A listing needs every child in memory (store/cache.c). */
    if (recursive)
        store_complete_subtree(s, n);
    else
        store_complete_dir(s, n);
    *ev_out = store_event_new_get(n, recursive, sorted, now_ns, s->index);
    if (detached)
        tnode_free(n);
    store_cache_trim(s);
    return 0;
}

int store_watch(store_t *s, const char *key, size_t key_len, bool recursive, bool stream,
                uint64_t since_index, store_watch_cb cb, void *ctx, store_watcher_t **out,
                store_error_t *err)
{
    char buf[256], *heap;
    const char *k = clean_key(key, &key_len, buf, sizeof(buf), &heap);
    *out = NULL;
    uint64_t since = since_index ? since_index : s->index + 1;
    if (since_index) {
        uint64_t start = event_history_start(&s->history);
        uint64_t last = event_history_last(&s->history);
        if (since < start) {
            char cause[96];
            snprintf(cause, sizeof(cause),
                     "the requested history has been cleared [%" PRIu64 "/%" PRIu64 "]", start,
                     since);
            free(heap);
            return store_error_set(err, STORE_E_EVENT_INDEX_CLEARED, cause, s->index);
        }
        if (s->history.count && since <= last) {
            /*
             * Replay from history. A one-shot watch takes the first match; a
             * stream takes every match and then goes on live (etcd's stream
             * sent the first one and then stalled).
             */
            for (uint32_t i = (uint32_t)(since - start); i < s->history.count; i++) {
                store_event_t *ev = event_history_at(&s->history, i);
                if (ev->refresh || !store_event_matches(ev, k, key_len, recursive))
                    continue;
                cb(ctx, ev);
                if (!stream) {
                    free(heap);
                    return 0;
                }
            }
            since = last + 1;
        }
    }
    *out = watcher_hub_add(&s->hub, k, key_len, recursive, stream, since, cb, ctx);
    free(heap);
    return 0;
}

void store_watcher_remove(store_t *s, store_watcher_t *w)
{
    watcher_hub_remove(&s->hub, w);
}

size_t store_watcher_count(const store_t *s)
{
    return s->hub.n_watchers;
}

int64_t store_next_expiration(const store_t *s)
{
    tnode_t *n = ttl_heap_top(&s->heap);
    return n ? n->expire_ns : 0;
}

void store_get_stats(const store_t *s, store_stats_t *out)
{
    *out = s->stats;
    out->watchers = s->hub.n_watchers;
}

uint64_t store_node_count(const store_t *s)
{
    return s->partial ? s->n_nodes : s->table.count - 1;
}
