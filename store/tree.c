/*
 * store/tree.c: finding nodes by path. A table from full path to node gives
 * an O(length of the key) lookup for every request; the component-by-component
 * walk is only needed to name the first missing prefix of a failed lookup
 * (etcd reports it as the cause of error 100) or to create missing parents.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

static inline uint64_t mix64(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t store_hash(uint64_t seed, const char *p, size_t n)
{
    uint64_t h = seed ^ 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = mix64(h ^ v, 0xbf58476d1ce4e5b9ull);
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, p, n);
    h = mix64(h ^ v ^ 0xa0761d6478bd642full, 0x94d049bb133111ebull);
    return h ^ (h >> 31);
}

int node_table_init(node_table_t *t, uint64_t seed)
{
    t->seed = seed;
    t->mask = 63;
    t->count = 0;
    t->slots = calloc(t->mask + 1, sizeof(*t->slots));
    return t->slots ? 0 : -1;
}

void node_table_destroy(node_table_t *t)
{
    free(t->slots);
    t->slots = NULL;
}

tnode_t *node_table_find(const node_table_t *t, const char *path, size_t len, uint64_t hash)
{
    size_t i = hash & t->mask;
    for (;;) {
        tnode_t *n = t->slots[i];
        if (!n)
            return NULL;
        if (n->hash == hash && n->path_len == len && memcmp(n->path, path, len) == 0)
            return n;
        i = (i + 1) & t->mask;
    }
}

static void table_place(tnode_t **slots, size_t mask, tnode_t *n)
{
    size_t i = n->hash & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = n;
}

static void table_resize(node_table_t *t, size_t mask)
{
    tnode_t **slots = store_xcalloc(mask + 1, sizeof(*slots));
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slots[i])
            table_place(slots, mask, t->slots[i]);
    free(t->slots);
    t->slots = slots;
    t->mask = mask;
}

void node_table_fit(node_table_t *t)
{
    /* Shrink to a load of about 1/4 once it has fallen under 1/16, so that
     * a table grown by one large read does not keep its size. */
    if (t->mask < 1023 || t->count * 16 > t->mask + 1)
        return;
    size_t mask = t->mask;
    while (mask > 63 && t->count * 4 < (mask + 1) / 2)
        mask >>= 1;
    table_resize(t, mask);
}

void node_table_insert(node_table_t *t, tnode_t *n)
{
    n->hash = store_hash(t->seed, n->path, n->path_len);
    if ((t->count + 1) * 10 > (t->mask + 1) * 7)
        table_resize(t, t->mask * 2 + 1);
    table_place(t->slots, t->mask, n);
    t->count++;
}

/* Linear probing with backward-shift deletion: no tombstones. */
void node_table_delete(node_table_t *t, tnode_t *n)
{
    size_t i = n->hash & t->mask;
    while (t->slots[i] != n) {
        if (!t->slots[i])
            return;
        i = (i + 1) & t->mask;
    }
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        tnode_t *m = t->slots[j];
        if (!m)
            break;
        size_t k = m->hash & t->mask;
        /* m may move to the hole i when its home k is not in (i, j]. */
        bool between = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!between) {
            t->slots[i] = m;
            i = j;
        }
    }
    t->slots[i] = NULL;
    t->count--;
}

size_t store_path_clean(const char *in, size_t len, char *out)
{
    size_t o = 1;
    out[0] = '/';
    size_t i = 0;
    while (i < len) {
        while (i < len && in[i] == '/')
            i++;
        size_t start = i;
        while (i < len && in[i] != '/')
            i++;
        size_t clen = i - start;
        if (clen == 0 || (clen == 1 && in[start] == '.'))
            continue;
        if (clen == 2 && in[start] == '.' && in[start + 1] == '.') {
            /* Go's path.Clean: ".." removes the last element; at the root it stays "/". */
            while (o > 1 && out[o - 1] != '/')
                o--;
            if (o > 1)
                o--;
            continue;
        }
        if (o > 1)
            out[o++] = '/';
        memcpy(out + o, in + start, clen);
        o += clen;
    }
    out[o] = '\0';
    return o;
}

bool store_path_is_clean(const char *p, size_t len)
{
    if (len == 0 || p[0] != '/')
        return false;
    if (len == 1)
        return true;
    if (p[len - 1] == '/')
        return false;
    size_t i = 1;
    while (i <= len) {
        size_t start = i;
        while (i < len && p[i] != '/')
            i++;
        size_t clen = i - start;
        if (clen == 0)
            return false;
        if (clen == 1 && p[start] == '.')
            return false;
        if (clen == 2 && p[start] == '.' && p[start + 1] == '.')
            return false;
        i++;
    }
    return true;
}

tnode_t *store_lookup_loaded(const store_t *s, const char *path, size_t len)
{
    return node_table_find(&s->table, path, len, store_hash(s->table.seed, path, len));
}

tnode_t *store_lookup(store_t *s, const char *path, size_t len)
{
    tnode_t *n = store_lookup_loaded(s, path, len);
    if (n) {
        n->ref = true;
        return n;
    }
    return s->partial ? store_fill(s, path, len) : NULL;
}

tnode_t *store_internal_get(store_t *s, const char *path, size_t len, store_error_t *err)
{
    return store_internal_read(s, path, len, NULL, err);
}

tnode_t *store_internal_read(store_t *s, const char *path, size_t len, bool *detached,
                             store_error_t *err)
{
    tnode_t *n = detached ? store_lookup_read(s, path, len, detached) : store_lookup(s, path, len);
    if (n)
        return n;
    /*
     * etcd walks component by component: a file on the way is error 104 with
     * the file as the cause, a missing component is error 100 with the path
     * up to that component.
     */
    tnode_t *cur = s->root;
    size_t i = 1;
    while (i < len) {
        size_t end = store_path_component_end(path, len, i);
        if (!cur->dir) {
            store_error_setn(err, STORE_E_NOT_DIR, cur->path, cur->path_len, s->index);
            return NULL;
        }
        tnode_t *next = store_lookup(s, path, end);
        if (!next) {
            store_error_setn(err, STORE_E_KEY_NOT_FOUND, path, end, s->index);
            return NULL;
        }
        cur = next;
        i = end + 1;
    }
    return cur;
}

tnode_t *store_attach_node(store_t *s, tnode_t *parent, const persist_rec_t *rec)
{
    tnode_t *n = rec->dir ? tnode_new(rec->path, rec->path_len, true, rec->created)
                          : tnode_new_file(rec->path, rec->path_len, rec->value, rec->value_len,
                                           rec->created);
    n->modified_index = rec->modified;
    node_table_insert(&s->table, n);
    tnode_add_child(parent, n);
    if (rec->ttl)
        store_node_set_expire(s, n, true, rec->expire);
    return n;
}

tnode_t *store_insert_node(store_t *s, tnode_t *parent, const char *path, size_t len, bool dir,
                           uint64_t index)
{
    tnode_t *n = tnode_new(path, len, dir, index);
    node_table_insert(&s->table, n);
    tnode_add_child(parent, n);
    persist_node(s, n);
    s->n_nodes++;
    return n;
}

tnode_t *store_ensure_dir(store_t *s, const char *path, size_t len, uint64_t index,
                          store_error_t *err)
{
    tnode_t *n = store_lookup(s, path, len);
    if (n) {
        if (n->dir)
            return n;
        store_error_setn(err, STORE_E_NOT_DIR, n->path, n->path_len, s->index);
        return NULL;
    }
    /* etcd's walk(checkDir): missing directories take the new node's index. */
    tnode_t *cur = s->root;
    size_t i = 1;
    while (i < len) {
        size_t end = store_path_component_end(path, len, i);
        tnode_t *next = store_lookup(s, path, end);
        if (!next) {
            next = store_insert_node(s, cur, path, end, true, index);
        } else if (!next->dir) {
            store_error_setn(err, STORE_E_NOT_DIR, next->path, next->path_len, s->index);
            return NULL;
        }
        cur = next;
        i = end + 1;
    }
    return cur;
}

void store_node_set_expire(store_t *s, tnode_t *n, bool has, int64_t expire_ns)
{
    if (has) {
        n->expire_ns = expire_ns;
        if (tnode_has_ttl(n))
            ttl_heap_update(&s->heap, n);
        else
            ttl_heap_push(&s->heap, n);
    } else if (tnode_has_ttl(n)) {
        ttl_heap_remove(&s->heap, n);
        n->expire_ns = 0;
    }
}

void store_remove_subtree(store_t *s, tnode_t *n)
{
    /* On an engine, descendants that are not loaded go with the subtree's
     * records; none of them has a TTL or lives apart (those are pinned). */
    uint64_t gone = persist_remove(s, n);
    if (n->parent)
        tnode_remove_child(n->parent, n);
    /* Post-order without recursion: a deep tree must not exhaust the stack. */
    tnode_t *cur = n;
    for (;;) {
        if (cur->dir && cur->n_children) {
            cur = cur->children[cur->n_children - 1];
            continue;
        }
        tnode_t *parent = cur->parent;
        if (cur != n)
            gone += persist_remove_long(s, cur);
        node_table_delete(&s->table, cur);
        if (tnode_has_ttl(cur)) {
            persist_ttl(s, cur, false, cur->expire_ns);
            ttl_heap_remove(&s->heap, cur);
        }
        if (!s->engine)
            gone++;
        if (cur == n) {
            tnode_free(cur);
            s->n_nodes -= gone;
            return;
        }
        tnode_remove_child(parent, cur);
        tnode_free(cur);
        cur = parent;
    }
}
