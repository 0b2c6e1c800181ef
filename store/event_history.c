/*
 * store/event_history.c: the last `cap` events of the whole store, in a ring
 * (etcd keeps 1000: EventHistory). Every index has exactly one event, so the
 * event for index i sits at offset i - start from the oldest one.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

int event_history_init(event_history_t *h, uint32_t cap)
{
    memset(h, 0, sizeof(*h));
    h->cap = cap ? cap : STORE_DEFAULT_HISTORY;
    h->ring = calloc(h->cap, sizeof(*h->ring));
    return h->ring ? 0 : -1;
}

void event_history_destroy(event_history_t *h)
{
    for (uint32_t i = 0; i < h->count; i++)
        store_event_release(event_history_at(h, i));
    free(h->ring);
    memset(h, 0, sizeof(*h));
}

void event_history_add(event_history_t *h, store_event_t *ev)
{
    store_event_retain(ev);
    if (h->count == h->cap) {
        store_event_release(h->ring[h->head]);
        h->ring[h->head] = ev;
        h->head = (h->head + 1) % h->cap;
        return;
    }
    h->ring[(h->head + h->count) % h->cap] = ev;
    h->count++;
}

store_event_t *event_history_at(const event_history_t *h, uint32_t i)
{
    return h->ring[(h->head + i) % h->cap];
}

uint64_t event_history_start(const event_history_t *h)
{
    return h->count ? h->ring[h->head]->node.modified_index : 0;
}

uint64_t event_history_last(const event_history_t *h)
{
    return h->count ? event_history_at(h, h->count - 1)->node.modified_index : 0;
}

/* `key` is strictly below `dir` (whole components; "/" holds everything). */
static bool is_below(const char *key, size_t key_len, const char *dir, size_t dir_len)
{
    if (dir_len == 1 && dir[0] == '/')
        return key_len > 1;
    return key_len > dir_len && key[dir_len] == '/' && memcmp(key, dir, dir_len) == 0;
}

/* Whether the part of `key` below `dir` has a hidden component ("/_x"). */
static bool hidden_below(const char *key, size_t key_len, size_t dir_len)
{
    for (size_t i = dir_len; i + 1 < key_len; i++)
        if (key[i] == '/' && key[i + 1] == '_')
            return true;
    return false;
}

bool store_event_matches(const store_event_t *ev, const char *key, size_t key_len, bool recursive)
{
    const store_node_t *n = &ev->node;
    if (n->key_len == key_len && memcmp(n->key, key, key_len) == 0)
        return true;
    if (recursive && is_below(n->key, n->key_len, key, key_len)) {
        size_t from = key_len == 1 ? 0 : key_len;
        if (!hidden_below(n->key, n->key_len, from))
            return true;
    }
    /*
     * The delete or expiry of a directory ends everything below it: etcd
     * tells watchers of those keys too, with node.key the directory.
     */
    if ((ev->action == STORE_ACTION_DELETE || ev->action == STORE_ACTION_EXPIRE) &&
        ev->has_prev_node && ev->prev_node.dir && is_below(key, key_len, n->key, n->key_len))
        return true;
    return false;
}
