/*
 * Sets of names and key patterns as etcd's v2auth handles them (a
 * types.unsafeSet read back with sort.Strings): lists kept sorted and
 * without repeats, built and compared in O(n log n), so that a role with
 * many patterns costs its size and not its square.
 */
#include <stdlib.h>
#include <string.h>

#include "api/auth_int.h"

typedef struct item {
    const char *s;
    size_t len;
    size_t idx; /* place in the list it came from */
} item_t;

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c != 0 ? c : (al < bl ? -1 : al > bl);
}

static int item_cmp(const void *pa, const void *pb)
{
    const item_t *a = pa, *b = pb;
    int c = cmp_bytes(a->s, a->len, b->s, b->len);
    return c != 0 ? c : (a->idx < b->idx ? -1 : a->idx > b->idx);
}

/* The list's items sorted by value, then by place (pool). */
static item_t *sorted_items(h2o_mem_pool_t *pool, const api_auth_list_t *l)
{
    item_t *it = h2o_mem_alloc_pool(pool, (l->n + 1) * sizeof(*it));
    for (size_t i = 0; i < l->n; i++)
        it[i] = (item_t){l->v[i], l->lens[i], i};
    qsort(it, l->n, sizeof(*it), item_cmp);
    return it;
}

void api_auth_list_sort(api_auth_list_t *l)
{
    if (l->n < 2)
        return;
    h2o_mem_pool_t tmp;
    h2o_mem_init_pool(&tmp);
    item_t *it = sorted_items(&tmp, l);
    for (size_t i = 0; i < l->n; i++) {
        l->v[i] = it[i].s;
        l->lens[i] = it[i].len;
    }
    h2o_mem_clear_pool(&tmp);
}

/* Whether sorted l holds s (binary search). */
static bool sorted_has(const api_auth_list_t *l, const char *s, size_t len)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_bytes(l->v[mid], l->lens[mid], s, len);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

api_auth_list_t api_auth_set_of(h2o_mem_pool_t *pool, const api_auth_list_t *l)
{
    api_auth_list_t s = {.present = true};
    item_t *it = sorted_items(pool, l);
    for (size_t i = 0; i < l->n; i++)
        if (s.n == 0 || cmp_bytes(s.v[s.n - 1], s.lens[s.n - 1], it[i].s, it[i].len) != 0)
            api_auth_list_push(pool, &s, it[i].s, it[i].len);
    s.present = true;
    return s;
}

ssize_t api_auth_set_first_conflict(h2o_mem_pool_t *pool, const api_auth_list_t *set,
                                    const api_auth_list_t *add, bool in_set)
{
    ssize_t first = -1;
    item_t *it = sorted_items(pool, add);
    for (size_t i = 0; i < add->n; i++) {
        /* Go walks add in order: a repeat meets its own earlier copy. */
        bool repeat = i > 0 && cmp_bytes(it[i - 1].s, it[i - 1].len, it[i].s, it[i].len) == 0;
        bool bad = repeat || sorted_has(set, it[i].s, it[i].len) == in_set;
        if (bad && (first < 0 || it[i].idx < (size_t)first))
            first = (ssize_t)it[i].idx;
    }
    return first;
}

api_auth_list_t api_auth_set_union(h2o_mem_pool_t *pool, const api_auth_list_t *set,
                                   const api_auth_list_t *add)
{
    api_auth_list_t all = *set;
    all.v = NULL;
    all.lens = NULL;
    all.n = all.cap = 0;
    for (size_t i = 0; i < set->n; i++)
        api_auth_list_push(pool, &all, set->v[i], set->lens[i]);
    for (size_t i = 0; i < add->n; i++)
        api_auth_list_push(pool, &all, add->v[i], add->lens[i]);
    return api_auth_set_of(pool, &all);
}

api_auth_list_t api_auth_set_minus(h2o_mem_pool_t *pool, const api_auth_list_t *set,
                                   const api_auth_list_t *rm)
{
    api_auth_list_t r = api_auth_set_of(pool, rm);
    api_auth_list_t out = {.present = true};
    for (size_t i = 0; i < set->n; i++)
        if (!sorted_has(&r, set->v[i], set->lens[i]))
            api_auth_list_push(pool, &out, set->v[i], set->lens[i]);
    out.present = true;
    return out;
}
