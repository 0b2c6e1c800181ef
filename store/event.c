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

/*
 * Both passes walk the tree with an explicit stack: a key can be hundreds of
 * thousands of components deep (one PUT with a long key), and a recursive
 * listing of it must not exhaust the thread's stack.
 */
typedef struct frame {
    tnode_t *dir;
    store_node_t *arr; /* fill pass: the dir's children array */
    uint32_t i;        /* next child to look at */
    size_t j;          /* next slot of arr */
} frame_t;

typedef struct stack {
    frame_t *f;
    size_t n;
    size_t cap;
} stack_t_;

static frame_t *push(stack_t_ *st, tnode_t *dir, store_node_t *arr)
{
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 16;
        st->f = store_xrealloc(st->f, st->cap * sizeof(*st->f));
    }
    st->f[st->n] = (frame_t){dir, arr, 0, 0};
    return &st->f[st->n++];
}

static size_t visible_children(const tnode_t *dir)
{
    size_t k = 0;
    for (uint32_t i = 0; i < dir->n_children; i++)
        k += !tnode_is_hidden(dir->children[i]);
    return k;
}

/* Counts the nodes and string bytes of a listing (sorting dirs when asked). */
static void measure(stack_t_ *st, tnode_t *top, bool recursive, bool sorted, size_t *n_nodes,
                    size_t *n_bytes)
{
    if (sorted)
        tnode_sort_children(top);
    push(st, top, NULL);
    while (st->n) {
        frame_t *f = &st->f[st->n - 1];
        if (f->i == f->dir->n_children) {
            st->n--;
            continue;
        }
        tnode_t *c = f->dir->children[f->i++];
        if (tnode_is_hidden(c)) /* listings never show hidden nodes */
            continue;
        (*n_nodes)++;
        *n_bytes += c->path_len + 1;
        if (!c->dir) {
            *n_bytes += c->value_len + 1;
        } else if (recursive && c->n_children) {
            if (sorted)
                tnode_sort_children(c);
            push(st, c, NULL);
        }
    }
}

/* The view written in place, then its strings copied (no second copy of
 * the whole struct: a listing does this for each of its nodes). */
static void fill_view(store_event_t *ev, char **next_str, int64_t now_ns, const tnode_t *n,
                      store_node_t *out)
{
    tnode_view(n, now_ns, out);
    ev->timed |= out->expiration_ns != 0;
    out->key = copy_str(next_str, out->key, out->key_len);
    if (out->value)
        out->value = copy_str(next_str, out->value, out->value_len);
}

/* Gives `out` its array of visible children (none: no "nodes" at all). */
static store_node_t *attach_children(store_node_t **next_node, const tnode_t *dir,
                                     store_node_t *out)
{
    size_t k = visible_children(dir);
    if (k == 0)
        return NULL;
    out->nodes = *next_node;
    out->n_nodes = k;
    *next_node += k;
    return out->nodes;
}

store_event_t *store_event_new_get(tnode_t *n, bool recursive, bool sorted, int64_t now_ns,
                                   uint64_t etcd_index)
{
    stack_t_ st = {0};
    size_t n_nodes = 0, n_bytes = n->path_len + 1 + (n->dir ? 0 : n->value_len + 1);
    if (n->dir)
        measure(&st, n, recursive, sorted, &n_nodes, &n_bytes);
    size_t sz = sizeof(store_event_t) + n_nodes * sizeof(store_node_t) + n_bytes;
    store_event_t *ev = store_xmalloc(sz);
    memset(ev, 0, sizeof(*ev));
    ev->action = STORE_ACTION_GET;
    ev->etcd_index = etcd_index;
    ev->refcount = 1;
    store_node_t *next_node = (store_node_t *)(ev + 1);
    char *next_str = (char *)(next_node + n_nodes);
    fill_view(ev, &next_str, now_ns, n, &ev->node);
    if (n->dir) {
        store_node_t *arr = attach_children(&next_node, n, &ev->node);
        if (arr)
            push(&st, n, arr);
    }
    while (st.n) {
        frame_t *f = &st.f[st.n - 1];
        if (f->i == f->dir->n_children) {
            st.n--;
            continue;
        }
        tnode_t *c = f->dir->children[f->i++];
        if (tnode_is_hidden(c))
            continue;
        store_node_t *slot = &f->arr[f->j++];
        fill_view(ev, &next_str, now_ns, c, slot);
        if (c->dir && recursive) {
            store_node_t *arr = attach_children(&next_node, c, slot);
            if (arr)
                push(&st, c, arr); /* may move st.f: f is not used after this */
        }
    }
    free(st.f);
    return ev;
}
