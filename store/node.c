/*
 * store/node.c: one key or directory of the tree, and its children.
 *
 * A directory keeps its children in an array. Insertion appends (so in-order
 * POST keys keep it sorted for free) and removal swaps the last child into
 * the hole, both O(1); a sorted listing sorts the array in place and caches
 * that until the next out-of-order insertion or removal.
 */
#include <stdlib.h>
#include <string.h>

#include "common/jsontext.h"
#include "store/store_int.h"

static tnode_t *alloc_node(const char *path, size_t path_len, bool dir, uint64_t index,
                           size_t inline_cap)
{
    tnode_t *n = store_xmalloc(sizeof(*n) + path_len + 1 + inline_cap);
    memset(n, 0, sizeof(*n));
    memcpy(n->path, path, path_len);
    n->path[path_len] = '\0';
    n->path_len = (uint32_t)path_len;
    const char *slash = memrchr(path, '/', path_len);
    n->name_off = slash ? (uint32_t)(slash - path + 1) : 0;
    /* Checked once here and in tnode_set_value, not in every answer. */
    n->path_plain = json_is_plain(path, path_len);
    n->inline_cap = (uint32_t)inline_cap;
    n->dir = dir;
    n->sorted = true;
    n->complete = true; /* a new directory has no child anywhere */
    n->created_index = index;
    n->modified_index = index;
    n->heap_pos = STORE_NO_POS;
    n->parent_pos = STORE_NO_POS;
    return n;
}

static char *inline_area(tnode_t *n)
{
    return n->path + n->path_len + 1;
}

tnode_t *tnode_new(const char *path, size_t path_len, bool dir, uint64_t index)
{
    return alloc_node(path, path_len, dir, index, 0);
}

tnode_t *tnode_new_file(const char *path, size_t path_len, const char *value, size_t value_len,
                        uint64_t index)
{
    size_t cap = value_len && value_len < UINT32_MAX ? value_len + 1 : 0;
    tnode_t *n = alloc_node(path, path_len, false, index, cap);
    tnode_set_value(n, value, value_len);
    return n;
}

static void release_value(tnode_t *n, const char *keep)
{
    if (n->value && n->value != inline_area(n) && n->value != keep)
        free(n->value);
}

void tnode_free(tnode_t *n)
{
    if (!n)
        return;
    free(n->children);
    release_value(n, NULL);
    free(n);
}

void tnode_set_value(tnode_t *n, const char *value, size_t len)
{
    char *v = NULL;
    if (len && len < n->inline_cap) {
        v = inline_area(n); /* an update that fits where the value already lives */
        memmove(v, value, len);
    } else if (len) {
        v = store_xmalloc(len + 1);
        memcpy(v, value, len);
    }
    if (v)
        v[len] = '\0';
    release_value(n, v);
    n->value = v;
    n->value_len = len;
    n->value_plain = json_is_plain(value, len);
}

/* Bytewise order of names, as Go compares strings (etcd sorts by key). */
static int name_cmp(const tnode_t *a, const tnode_t *b)
{
    size_t la, lb;
    const char *na = tnode_name(a, &la), *nb = tnode_name(b, &lb);
    int c = memcmp(na, nb, la < lb ? la : lb);
    if (c)
        return c;
    return la < lb ? -1 : la > lb;
}

void tnode_add_child(tnode_t *dir, tnode_t *child)
{
    if (dir->n_children == dir->cap_children) {
        uint32_t cap = dir->cap_children ? dir->cap_children * 2 : 4;
        dir->children = store_xrealloc(dir->children, cap * sizeof(*dir->children));
        dir->cap_children = cap;
    }
    if (dir->sorted && dir->n_children && name_cmp(dir->children[dir->n_children - 1], child) > 0)
        dir->sorted = false;
    child->parent = dir;
    child->parent_pos = dir->n_children;
    dir->children[dir->n_children++] = child;
}

void tnode_remove_child(tnode_t *dir, tnode_t *child)
{
    uint32_t pos = child->parent_pos;
    uint32_t last = dir->n_children - 1;
    if (pos != last) {
        dir->children[pos] = dir->children[last];
        dir->children[pos]->parent_pos = pos;
        dir->sorted = false;
    }
    dir->n_children = last;
    child->parent = NULL;
    child->parent_pos = STORE_NO_POS;
    if (dir->n_children == 0) {
        dir->sorted = true;
        free(dir->children);
        dir->children = NULL;
        dir->cap_children = 0;
    } else if (dir->n_children < dir->cap_children / 4 && dir->cap_children > 16) {
        dir->cap_children /= 2;
        dir->children = store_xrealloc(dir->children, dir->cap_children * sizeof(*dir->children));
    }
}

static int child_qsort_cmp(const void *a, const void *b)
{
    return name_cmp(*(tnode_t *const *)a, *(tnode_t *const *)b);
}

void tnode_sort_children(tnode_t *dir)
{
    if (dir->sorted)
        return;
    qsort(dir->children, dir->n_children, sizeof(*dir->children), child_qsort_cmp);
    for (uint32_t i = 0; i < dir->n_children; i++)
        dir->children[i]->parent_pos = i;
    dir->sorted = true;
}

tnode_t **tnode_children_sorted_copy(const tnode_t *dir)
{
    tnode_t **copy = store_xmalloc((dir->n_children ? dir->n_children : 1) * sizeof(*copy));
    if (dir->n_children)
        memcpy(copy, dir->children, dir->n_children * sizeof(*copy));
    if (!dir->sorted)
        qsort(copy, dir->n_children, sizeof(*copy), child_qsort_cmp);
    return copy;
}

/*
 * etcd (node.expirationAndTTL): ttl = ceil((expiration - now) / 1s), computed
 * as the truncated quotient plus one when the remainder is positive, so an
 * already-passed deadline gives 0 or a negative number.
 */
void tnode_expiration_ttl(const tnode_t *n, int64_t now_ns, int64_t *exp, int64_t *ttl)
{
    if (!tnode_has_ttl(n)) {
        *exp = 0;
        *ttl = 0;
        return;
    }
    int64_t d;
    if (__builtin_sub_overflow(n->expire_ns, now_ns, &d))
        d = n->expire_ns > now_ns ? INT64_MAX : INT64_MIN;
    int64_t t = d / STORE_NS_PER_SEC;
    if (d % STORE_NS_PER_SEC > 0)
        t++;
    *exp = n->expire_ns;
    *ttl = t;
}

void tnode_view(const tnode_t *n, int64_t now_ns, store_node_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!(n->path_len == 1 && n->path[0] == '/')) {
        out->key = n->path;
        out->key_len = n->path_len;
        out->key_plain = n->path_plain;
    } else {
        /* The root shows no key and no indexes (etcd's "/1" trimmed away). */
        out->key = "";
        out->key_len = 0;
    }
    out->dir = n->dir;
    if (!n->dir) {
        out->value = n->value ? n->value : "";
        out->value_len = n->value_len;
        out->value_plain = n->value_plain;
    }
    tnode_expiration_ttl(n, now_ns, &out->expiration_ns, &out->ttl);
    out->modified_index = n->modified_index;
    out->created_index = n->created_index;
}
