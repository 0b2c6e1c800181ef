/*
 * store/engine_skiplist.c: a sorted map of byte keys (a skip list, Pugh
 * 1990), used twice: as the memory engine's whole state and as a batch's
 * pending changes over any engine. A skip list keeps ordered iteration and
 * O(log n) inserts without rebalancing; its levels come from a fixed-seed
 * generator, so a run is reproducible.
 */
#include <stdlib.h>
#include <string.h>

#include "store/engine_int.h"
#include "store/store_int.h"

#define MAX_HEIGHT 24 /* p = 1/4: enough for 4^24 keys */

struct engine_map {
    engine_map_node_t *head; /* a node without a blob, MAX_HEIGHT high */
    unsigned height;
    size_t count;
    uint64_t rng;
};

engine_blob_t *engine_blob_new(const uint8_t *k, size_t kl, const void *v, size_t vl, bool tomb)
{
    engine_blob_t *b = store_xmalloc(sizeof(*b) + kl + vl);
    b->refs = 1;
    b->tomb = tomb;
    b->klen = kl;
    b->vlen = vl;
    if (kl)
        memcpy(b->data, k, kl);
    if (vl)
        memcpy(b->data + kl, v, vl);
    return b;
}

engine_blob_t *engine_blob_retain(engine_blob_t *b)
{
    b->refs++;
    return b;
}

void engine_blob_release(engine_blob_t *b)
{
    if (b && --b->refs == 0)
        free(b);
}

static engine_map_node_t *node_new(engine_blob_t *blob, unsigned height)
{
    engine_map_node_t *n = store_xcalloc(1, sizeof(*n) + height * sizeof(n->next[0]));
    n->blob = blob;
    n->height = height;
    return n;
}

engine_map_t *engine_map_new(void)
{
    engine_map_t *m = store_xcalloc(1, sizeof(*m));
    m->head = node_new(NULL, MAX_HEIGHT);
    m->height = 1;
    m->rng = 0x9e3779b97f4a7c15ull;
    return m;
}

void engine_map_free(engine_map_t *m)
{
    if (!m)
        return;
    engine_map_node_t *n = m->head;
    while (n) {
        engine_map_node_t *next = n->next[0];
        engine_blob_release(n->blob);
        free(n);
        n = next;
    }
    free(m);
}

size_t engine_map_count(const engine_map_t *m)
{
    return m->count;
}

static unsigned random_height(engine_map_t *m)
{
    /* xorshift64: two bits per level give p = 1/4, as LevelDB's memtable. */
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    uint64_t r = m->rng;
    unsigned h = 1;
    while (h < MAX_HEIGHT && (r & 3) == 0) {
        h++;
        r >>= 2;
    }
    return h;
}

static int cmp_node(const engine_map_node_t *n, const uint8_t *k, size_t kl)
{
    return engine_key_cmp(engine_blob_key(n->blob), n->blob->klen, k, kl);
}

/* Fills prev[] with the last node before k at every level; returns the first >= k. */
static engine_map_node_t *find_ge(const engine_map_t *m, const uint8_t *k, size_t kl,
                                  engine_map_node_t **prev)
{
    engine_map_node_t *x = m->head;
    for (int lvl = (int)m->height - 1; lvl >= 0; lvl--) {
        while (x->next[lvl] && cmp_node(x->next[lvl], k, kl) < 0)
            x = x->next[lvl];
        if (prev)
            prev[lvl] = x;
    }
    return x->next[0];
}

void engine_map_put(engine_map_t *m, engine_blob_t *blob)
{
    engine_map_node_t *prev[MAX_HEIGHT];
    const uint8_t *k = engine_blob_key(blob);
    engine_map_node_t *n = find_ge(m, k, blob->klen, prev);
    if (n && cmp_node(n, k, blob->klen) == 0) {
        engine_blob_release(n->blob);
        n->blob = blob;
        return;
    }
    unsigned h = random_height(m);
    for (unsigned lvl = m->height; lvl < h; lvl++)
        prev[lvl] = m->head;
    if (h > m->height)
        m->height = h;
    n = node_new(blob, h);
    for (unsigned lvl = 0; lvl < h; lvl++) {
        n->next[lvl] = prev[lvl]->next[lvl];
        prev[lvl]->next[lvl] = n;
    }
    m->count++;
}

bool engine_map_remove(engine_map_t *m, const uint8_t *k, size_t kl)
{
    engine_map_node_t *prev[MAX_HEIGHT];
    engine_map_node_t *n = find_ge(m, k, kl, prev);
    if (!n || cmp_node(n, k, kl) != 0)
        return false;
    for (unsigned lvl = 0; lvl < n->height; lvl++)
        prev[lvl]->next[lvl] = n->next[lvl];
    while (m->height > 1 && !m->head->next[m->height - 1])
        m->height--;
    engine_blob_release(n->blob);
    free(n);
    m->count--;
    return true;
}

engine_map_node_t *engine_map_find(const engine_map_t *m, const uint8_t *k, size_t kl)
{
    engine_map_node_t *n = find_ge(m, k, kl, NULL);
    return n && cmp_node(n, k, kl) == 0 ? n : NULL;
}

engine_map_node_t *engine_map_seek(const engine_map_t *m, const uint8_t *k, size_t kl)
{
    return kl ? find_ge(m, k, kl, NULL) : m->head->next[0];
}
