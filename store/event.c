/*
 * store/event.c: events are immutable and reference counted, and each lives
 * in one allocation: the event, then any listing's node arrays, then every
 * string (NUL-terminated) it refers to.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

store_event_t *store_event_retain(store_event_t *ev)
{
    if (ev)
        ev->refcount++;
    return ev;
}

void store_event_release(store_event_t *ev)
{
    if (ev && --ev->refcount == 0)
        free(ev);
}

static size_t node_strings_size(const store_node_t *n)
{
    size_t sz = n->key_len + 1;
    if (n->value)
        sz += n->value_len + 1;
    return sz;
}

static char *copy_str(char **next, const char *s, size_t len)
{
    char *d = *next;
    if (len)
        memcpy(d, s, len);
    d[len] = '\0';
    *next = d + len + 1;
    return d;
}

static void copy_node(store_node_t *dst, const store_node_t *src, char **next)
{
    *dst = *src;
    dst->nodes = NULL;
    dst->n_nodes = 0;
    dst->key = copy_str(next, src->key, src->key_len);
    if (src->value)
        dst->value = copy_str(next, src->value, src->value_len);
}

store_event_t *store_event_new(store_action_t action, const store_node_t *node,
                               const store_node_t *prev, uint64_t etcd_index)
{
    size_t sz = sizeof(store_event_t) + node_strings_size(node);
    if (prev)
        sz += node_strings_size(prev);
    store_event_t *ev = store_xmalloc(sz);
    memset(ev, 0, sizeof(*ev));
    char *next = (char *)(ev + 1);
    ev->action = action;
    ev->etcd_index = etcd_index;
    ev->refcount = 1;
    copy_node(&ev->node, node, &next);
    if (prev) {
        copy_node(&ev->prev_node, prev, &next);
        ev->has_prev_node = true;
    }
    return ev;
}

/* ---- Listings (etcd: loadInternalNode for the top, Repr for children) ---- */

typedef struct listing {
    size_t n_nodes;
    size_t n_bytes;
    store_node_t *next_node;
    char *next_str;
    int64_t now_ns;
    bool recursive;
    bool sorted;
} listing_t;

static void measure_children(listing_t *l, tnode_t *dir, bool descend)
{
    if (l->sorted)
        tnode_sort_children(dir);
    for (uint32_t i = 0; i < dir->n_children; i++) {
        tnode_t *c = dir->children[i];
        if (tnode_is_hidden(c)) /* listings never show hidden nodes */
            continue;
        l->n_nodes++;
        l->n_bytes += c->path_len + 1;
        if (!c->dir)
            l->n_bytes += c->value_len + 1;
        else if (descend)
            measure_children(l, c, true);
    }
}

static size_t visible_children(const tnode_t *dir)
{
    size_t k = 0;
    for (uint32_t i = 0; i < dir->n_children; i++)
        k += !tnode_is_hidden(dir->children[i]);
    return k;
}

static void fill_view(listing_t *l, const tnode_t *n, store_node_t *out)
{
    store_node_t v;
    tnode_view(n, l->now_ns, &v);
    copy_node(out, &v, &l->next_str);
}

static void fill_children(listing_t *l, tnode_t *dir, store_node_t *out, bool descend)
{
    size_t k = visible_children(dir);
    if (k == 0)
        return; /* an empty directory has no "nodes" at all */
    store_node_t *arr = l->next_node;
    l->next_node += k;
    out->nodes = arr;
    out->n_nodes = k;
    size_t j = 0;
    for (uint32_t i = 0; i < dir->n_children; i++) {
        tnode_t *c = dir->children[i];
        if (tnode_is_hidden(c))
            continue;
        fill_view(l, c, &arr[j]);
        if (c->dir && descend)
            fill_children(l, c, &arr[j], true);
        j++;
    }
}

store_event_t *store_event_new_get(tnode_t *n, bool recursive, bool sorted, int64_t now_ns,
                                   uint64_t etcd_index)
{
    listing_t l = {.now_ns = now_ns, .recursive = recursive, .sorted = sorted};
    l.n_bytes = n->path_len + 1 + (n->dir ? 0 : n->value_len + 1);
    if (n->dir)
        measure_children(&l, n, recursive);
    size_t sz = sizeof(store_event_t) + l.n_nodes * sizeof(store_node_t) + l.n_bytes;
    store_event_t *ev = store_xmalloc(sz);
    memset(ev, 0, sizeof(*ev));
    ev->action = STORE_ACTION_GET;
    ev->etcd_index = etcd_index;
    ev->refcount = 1;
    l.next_node = (store_node_t *)(ev + 1);
    l.next_str = (char *)(l.next_node + l.n_nodes);
    fill_view(&l, n, &ev->node);
    if (n->dir)
        fill_children(&l, n, &ev->node, recursive);
    return ev;
}
