/*
 * store/ttl_heap.c: a binary min-heap of the nodes that have a deadline,
 * ordered by deadline. Each node knows its position, so update and remove
 * are O(log n). Ties are broken by path so that the expiry order (and so the
 * index each expiry takes) is the same on every member, including one that
 * rebuilt its heap from a snapshot in a different insertion order.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

static bool before(const tnode_t *a, const tnode_t *b)
{
    if (a->expire_ns != b->expire_ns)
        return a->expire_ns < b->expire_ns;
    size_t l = a->path_len < b->path_len ? a->path_len : b->path_len;
    int c = memcmp(a->path, b->path, l);
    if (c)
        return c < 0;
    return a->path_len < b->path_len;
}

static void place(ttl_heap_t *h, uint32_t i, tnode_t *n)
{
    h->a[i] = n;
    n->heap_pos = i;
}

static void sift_up(ttl_heap_t *h, uint32_t i)
{
    tnode_t *n = h->a[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!before(n, h->a[p]))
            break;
        place(h, i, h->a[p]);
        i = p;
    }
    place(h, i, n);
}

static void sift_down(ttl_heap_t *h, uint32_t i)
{
    tnode_t *n = h->a[i];
    for (;;) {
        uint32_t l = 2 * i + 1;
        if (l >= h->n)
            break;
        uint32_t c = l;
        if (l + 1 < h->n && before(h->a[l + 1], h->a[l]))
            c = l + 1;
        if (!before(h->a[c], n))
            break;
        place(h, i, h->a[c]);
        i = c;
    }
    place(h, i, n);
}

void ttl_heap_destroy(ttl_heap_t *h)
{
    free(h->a);
    h->a = NULL;
    h->n = h->cap = 0;
}

void ttl_heap_push(ttl_heap_t *h, tnode_t *n)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->a = store_xrealloc(h->a, h->cap * sizeof(*h->a));
    }
    h->a[h->n] = n;
    n->heap_pos = h->n;
    h->n++;
    sift_up(h, n->heap_pos);
}

void ttl_heap_remove(ttl_heap_t *h, tnode_t *n)
{
    uint32_t i = n->heap_pos;
    if (i == STORE_NO_POS || i >= h->n || h->a[i] != n)
        return;
    n->heap_pos = STORE_NO_POS;
    h->n--;
    if (i == h->n)
        return;
    tnode_t *m = h->a[h->n];
    place(h, i, m);
    sift_up(h, i);
    sift_down(h, m->heap_pos);
}

void ttl_heap_update(ttl_heap_t *h, tnode_t *n)
{
    uint32_t i = n->heap_pos;
    if (i == STORE_NO_POS)
        return;
    sift_up(h, i);
    sift_down(h, n->heap_pos);
}
