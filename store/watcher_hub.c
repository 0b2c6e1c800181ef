/*
 * store/watcher_hub.c: the registered watches (etcd: WatcherHub).
 *
 * Watchers hang off one entry per watched path, found by a hash of the path.
 * Entries also form a tree (each entry exists while it has watchers or child
 * entries), so an event on /a/b/c visits the entries of /a/b/c, /a/b, /a and
 * / by following parent links from the deepest one that exists, and the
 * delete or expiry of a directory reaches every watcher below it without a
 * scan of all watchers. An idle watcher is one small struct and no timer.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

struct watch_entry {
    watch_entry_t *parent;
    watch_entry_t *hnext;
    watch_entry_t *first_child;
    watch_entry_t *next_sibling;
    watch_entry_t *prev_sibling;
    store_watcher_t *head;
    uint64_t hash;
    size_t path_len;
    char path[];
};

struct store_watcher {
    store_watcher_t *prev;
    store_watcher_t *next; /* also links the graveyard */
    watch_entry_t *entry;
    store_watch_cb cb;
    void *ctx;
    uint64_t since_index;
    bool recursive;
    bool stream;
    bool removed;
};

void watcher_hub_init(watcher_hub_t *h, uint64_t seed)
{
    memset(h, 0, sizeof(*h));
    h->seed = seed;
}

static watch_entry_t *entry_find(const watcher_hub_t *h, const char *path, size_t len,
                                 uint64_t hash)
{
    if (!h->buckets)
        return NULL;
    for (watch_entry_t *e = h->buckets[hash & h->mask]; e; e = e->hnext)
        if (e->hash == hash && e->path_len == len && memcmp(e->path, path, len) == 0)
            return e;
    return NULL;
}

static void buckets_grow(watcher_hub_t *h)
{
    size_t n = h->buckets ? (h->mask + 1) * 2 : 64;
    watch_entry_t **b = store_xcalloc(n, sizeof(*b));
    if (h->buckets) {
        for (size_t i = 0; i <= h->mask; i++) {
            watch_entry_t *e = h->buckets[i];
            while (e) {
                watch_entry_t *next = e->hnext;
                e->hnext = b[e->hash & (n - 1)];
                b[e->hash & (n - 1)] = e;
                e = next;
            }
        }
        free(h->buckets);
    }
    h->buckets = b;
    h->mask = n - 1;
}

static watch_entry_t *entry_new(watcher_hub_t *h, const char *path, size_t len, uint64_t hash,
                                watch_entry_t *parent)
{
    if (!h->buckets || h->n_entries + 1 > h->mask + 1)
        buckets_grow(h);
    watch_entry_t *e = store_xcalloc(1, sizeof(*e) + len + 1);
    memcpy(e->path, path, len);
    e->path_len = len;
    e->hash = hash;
    e->parent = parent;
    if (parent) {
        e->next_sibling = parent->first_child;
        if (parent->first_child)
            parent->first_child->prev_sibling = e;
        parent->first_child = e;
    }
    e->hnext = h->buckets[hash & h->mask];
    h->buckets[hash & h->mask] = e;
    h->n_entries++;
    return e;
}

/* The entry of `path`, created with its missing ancestors (no recursion: keys can be deep). */
static watch_entry_t *entry_get(watcher_hub_t *h, const char *path, size_t len)
{
    uint64_t hash = store_hash(h->seed, path, len);
    watch_entry_t *e = entry_find(h, path, len, hash);
    if (e)
        return e;
    /* The deepest ancestor that has an entry... */
    size_t l = len;
    watch_entry_t *anc = NULL;
    while (!(l == 1 && path[0] == '/')) {
        l = store_path_parent_len(path, l);
        anc = entry_find(h, path, l, store_hash(h->seed, path, l));
        if (anc)
            break;
    }
    /* ...then every missing one below it, down to `path`. */
    if (!anc)
        anc = entry_new(h, "/", 1, store_hash(h->seed, "/", 1), NULL);
    while (anc->path_len != len) {
        size_t next = anc->path_len == 1 ? 1 : anc->path_len + 1;
        while (next < len && path[next] != '/')
            next++;
        anc = entry_new(h, path, next, store_hash(h->seed, path, next), anc);
    }
    return anc;
}

/* Frees entries that no longer hold watchers or child entries. */
static void entry_prune(watcher_hub_t *h, watch_entry_t *e)
{
    while (e && !e->head && !e->first_child) {
        watch_entry_t *parent = e->parent;
        if (parent) {
            if (e->prev_sibling)
                e->prev_sibling->next_sibling = e->next_sibling;
            else
                parent->first_child = e->next_sibling;
            if (e->next_sibling)
                e->next_sibling->prev_sibling = e->prev_sibling;
        }
        watch_entry_t **pp = &h->buckets[e->hash & h->mask];
        while (*pp != e)
            pp = &(*pp)->hnext;
        *pp = e->hnext;
        h->n_entries--;
        free(e);
        e = parent;
    }
}

store_watcher_t *watcher_hub_add(watcher_hub_t *h, const char *key, size_t key_len, bool recursive,
                                 bool stream, uint64_t since_index, store_watch_cb cb, void *ctx)
{
    watch_entry_t *e = entry_get(h, key, key_len);
    store_watcher_t *w = store_xcalloc(1, sizeof(*w));
    w->entry = e;
    w->cb = cb;
    w->ctx = ctx;
    w->since_index = since_index;
    w->recursive = recursive;
    w->stream = stream;
    w->next = e->head;
    if (e->head)
        e->head->prev = w;
    e->head = w;
    h->n_watchers++;
    return w;
}

void watcher_hub_remove(watcher_hub_t *h, store_watcher_t *w)
{
    if (!w || w->removed)
        return;
    watch_entry_t *e = w->entry;
    if (w->prev)
        w->prev->next = w->next;
    else
        e->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->removed = true;
    w->entry = NULL;
    h->n_watchers--;
    entry_prune(h, e);
    if (h->depth > 0) {
        /* A callback is running: pointers to w may still be in a match list. */
        w->next = h->graveyard;
        h->graveyard = w;
    } else {
        free(w);
    }
}

static void bury(watcher_hub_t *h)
{
    while (h->graveyard) {
        store_watcher_t *w = h->graveyard;
        h->graveyard = w->next;
        free(w);
    }
}

typedef struct match_list {
    store_watcher_t **a;
    size_t n;
    size_t cap;
} match_list_t;

static void match_push(match_list_t *m, store_watcher_t *w)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->a = store_xrealloc(m->a, m->cap * sizeof(*m->a));
    }
    m->a[m->n++] = w;
}

static bool hidden_below(const char *key, size_t key_len, size_t dir_len)
{
    for (size_t i = dir_len; i + 1 < key_len; i++)
        if (key[i] == '/' && key[i + 1] == '_')
            return true;
    return false;
}

/* Every watcher strictly below entry e (a deleted or expired directory). */
static void collect_below(match_list_t *m, watch_entry_t *e, uint64_t index)
{
    watch_entry_t *c = e->first_child;
    while (c) {
        for (store_watcher_t *w = c->head; w; w = w->next)
            if (index >= w->since_index)
                match_push(m, w);
        if (c->first_child) {
            c = c->first_child;
            continue;
        }
        while (c != e && !c->next_sibling)
            c = c->parent;
        if (c == e)
            break;
        c = c->next_sibling;
    }
}

void watcher_hub_notify(watcher_hub_t *h, store_event_t *ev)
{
    if (h->n_watchers == 0 || ev->refresh)
        return;
    const char *key = ev->node.key;
    size_t len = ev->node.key_len;
    uint64_t index = ev->node.modified_index;

    /* The deepest watched path among the key and its ancestors. */
    watch_entry_t *e = NULL;
    size_t l = len;
    for (;;) {
        e = entry_find(h, key, l, store_hash(h->seed, key, l));
        if (e || (l == 1 && key[0] == '/'))
            break;
        l = store_path_parent_len(key, l);
    }
    if (!e)
        return;

    match_list_t m = {0};
    if (h->depth == 0) {
        m.a = h->buf;
        m.cap = h->buf_cap;
    }
    if (e->path_len == len) {
        /* Watchers of the key itself, recursive or not. */
        for (store_watcher_t *w = e->head; w; w = w->next)
            if (index >= w->since_index)
                match_push(&m, w);
        bool dir_gone = (ev->action == STORE_ACTION_DELETE || ev->action == STORE_ACTION_EXPIRE) &&
                        ev->has_prev_node && ev->prev_node.dir;
        if (dir_gone)
            collect_below(&m, e, index);
        e = e->parent;
    }
    /* Recursive watchers of ancestors, unless the key is hidden below them. */
    for (; e; e = e->parent) {
        size_t from = e->parent ? e->path_len : 0;
        if (hidden_below(key, len, from))
            continue;
        for (store_watcher_t *w = e->head; w; w = w->next)
            if (w->recursive && index >= w->since_index)
                match_push(&m, w);
    }

    h->depth++;
    for (size_t i = 0; i < m.n; i++) {
        store_watcher_t *w = m.a[i];
        if (w->removed)
            continue;
        w->cb(w->ctx, ev);
        if (!w->stream)
            watcher_hub_remove(h, w);
    }
    h->depth--;
    if (h->depth == 0) {
        h->buf = m.a;
        h->buf_cap = m.cap;
        bury(h);
    } else {
        free(m.a);
    }
}

void watcher_hub_destroy(watcher_hub_t *h)
{
    match_list_t m = {0};
    if (h->buckets)
        for (size_t i = 0; i <= h->mask; i++)
            for (watch_entry_t *e = h->buckets[i]; e; e = e->hnext)
                for (store_watcher_t *w = e->head; w; w = w->next)
                    match_push(&m, w);
    h->depth++;
    for (size_t i = 0; i < m.n; i++) {
        store_watcher_t *w = m.a[i];
        if (w->removed)
            continue;
        w->cb(w->ctx, NULL);
        watcher_hub_remove(h, w);
    }
    h->depth--;
    bury(h);
    free(m.a);
    free(h->buckets);
    free(h->buf);
    memset(h, 0, sizeof(*h));
}
