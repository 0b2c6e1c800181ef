/*
 * api/list_cache.c: directory listings encoded once per store index.
 *
 * A listing is the dearest read there is: every child copied out of the
 * store under its lock, then encoded (a 1000-child directory of 100-byte
 * values is 170 KB of JSON). Clients that poll a directory (confd-style
 * configuration, service discovery) ask for the same answer again and again
 * while nothing changes. Each loop keeps its last few listings' answers,
 * encoded once, keyed by the request's key and flags, and valid while the
 * store is at the index they were read at: every mutation, an expiry
 * included, moves the index (etcd's CurrentIndex), and store_replace() is
 * counted too. A listing that shows a TTL is never kept, since its "ttl"
 * counts down with the clock while the index stays.
 *
 * Everything here belongs to one loop (api_t is per loop), so the answers'
 * reference counts need no atomics; the store is read inside the host's
 * lock, as every read is.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"

/* Smaller answers cost less to encode than to keep; larger ones would crowd the rest out. */
#define LIST_CACHE_MIN_BYTES   4096
#define LIST_CACHE_MAX_BYTES   (4u << 20)
#define LIST_CACHE_TOTAL_BYTES (16u << 20)

typedef struct list_entry {
    char *key; /* NULL: a free slot */
    size_t key_len;
    bool recursive, sorted;
    api_watch_frame_t *frame; /* one reference, the cache's */
    uint64_t last_use;
} list_entry_t;

struct api_list_cache {
    uint64_t index, replaced; /* the store's, when the entries were read */
    list_entry_t e[API_LIST_CACHE_SLOTS];
    size_t bytes;
    uint64_t uses;
};

static void drop(api_list_cache_t *c, list_entry_t *e)
{
    c->bytes -= e->frame->body_len;
    api_watch_frame_release(e->frame);
    free(e->key);
    memset(e, 0, sizeof(*e));
}

static void clear(api_list_cache_t *c)
{
    for (size_t i = 0; i < API_LIST_CACHE_SLOTS; i++)
        if (c->e[i].key != NULL)
            drop(c, &c->e[i]);
}

/* Drops every entry when the store moved on since they were read. */
static void follow_store(api_list_cache_t *c, const store_t *s)
{
    uint64_t index = store_index(s), replaced = store_replaced(s);
    if (c->index != index || c->replaced != replaced) {
        clear(c);
        c->index = index;
        c->replaced = replaced;
    }
}

static list_entry_t *lookup(api_list_cache_t *c, const api_keys_req_t *kr)
{
    for (size_t i = 0; i < API_LIST_CACHE_SLOTS; i++) {
        list_entry_t *e = &c->e[i];
        if (e->key != NULL && e->key_len == kr->key_len && e->recursive == kr->recursive &&
            e->sorted == kr->sorted && memcmp(e->key, kr->key, kr->key_len) == 0)
            return e;
    }
    return NULL;
}

api_watch_frame_t *api_list_cache_find(api_t *api, const api_keys_req_t *kr)
{
    api_list_cache_t *c = api->list_cache;
    if (c == NULL || c->bytes == 0)
        return NULL;
    follow_store(c, api->host.store);
    list_entry_t *e = lookup(c, kr);
    if (e == NULL)
        return NULL;
    e->last_use = ++c->uses;
    return e->frame;
}

bool api_list_cache_wants(const store_event_t *ev)
{
    return ev->action == STORE_ACTION_GET && ev->node.dir && !ev->timed && ev->node.n_nodes != 0;
}

void api_list_cache_put(api_t *api, const api_keys_req_t *kr, uint64_t index, uint64_t replaced,
                        api_watch_frame_t *f)
{
    size_t len = f->body_len;
    if (len < LIST_CACHE_MIN_BYTES || len > LIST_CACHE_MAX_BYTES)
        return;
    if (api->list_cache == NULL) {
        api->list_cache = calloc(1, sizeof(*api->list_cache));
        if (api->list_cache == NULL)
            abort(); /* the API's policy, as h2o's allocators: die if impossible */
    }
    api_list_cache_t *c = api->list_cache;
    follow_store(c, api->host.store);
    /* Read at an index the store has left since: already stale. */
    if (index != c->index || replaced != c->replaced)
        return;
    list_entry_t *e = lookup(c, kr);
    if (e != NULL)
        drop(c, e); /* another listing of it, read at the same index, got here first */
    /* The least recently used go until the new one fits in slots and bytes. */
    for (;;) {
        list_entry_t *free_slot = NULL, *victim = NULL;
        for (size_t i = 0; i < API_LIST_CACHE_SLOTS; i++) {
            list_entry_t *x = &c->e[i];
            if (x->key == NULL)
                free_slot = free_slot != NULL ? free_slot : x;
            else if (victim == NULL || x->last_use < victim->last_use)
                victim = x;
        }
        if (free_slot != NULL && c->bytes + len <= LIST_CACHE_TOTAL_BYTES) {
            e = free_slot;
            break;
        }
        drop(c, victim); /* not NULL: an empty cache has a slot and room for len */
    }
    e->key = malloc(kr->key_len ? kr->key_len : 1);
    if (e->key == NULL)
        abort();
    memcpy(e->key, kr->key, kr->key_len);
    e->key_len = kr->key_len;
    e->recursive = kr->recursive;
    e->sorted = kr->sorted;
    e->frame = api_watch_frame_retain(f);
    e->last_use = ++c->uses;
    c->bytes += len;
}

void api_list_cache_dispose(api_t *api)
{
    if (api->list_cache != NULL) {
        clear(api->list_cache);
        free(api->list_cache);
        api->list_cache = NULL;
    }
}

/* The request's pool holds one reference until the answer is sent and the request ends. */
typedef struct frame_slot {
    api_watch_frame_t *frame;
} frame_slot_t;

static void on_frame_slot_dispose(void *p)
{
    api_watch_frame_release(((frame_slot_t *)p)->frame);
}

void api_send_frame(api_t *api, h2o_req_t *req, int status, api_watch_frame_t *f)
{
    frame_slot_t *slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), on_frame_slot_dispose);
    slot->frame = api_watch_frame_retain(f);
    h2o_iovec_t line = api_watch_frame_line(f);
    api_send(api, req, status, "application/json", line.base, line.len);
}
