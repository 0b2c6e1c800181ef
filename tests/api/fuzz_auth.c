/*
 * libFuzzer target for what v2 auth reads from clients: the Authorization
 * header (Go's basic auth) and the JSON bodies of PUT /v2/auth/users/<name>
 * and /v2/auth/roles/<name>. The first byte picks the reader. A body that
 * decodes must encode to JSON that decodes again to the same encoding
 * (the form the records are stored in).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth_int.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static void user_round_trip(h2o_mem_pool_t *pool, const char *s, size_t n)
{
    api_auth_user_t u, u2;
    if (api_auth_user_parse(pool, s, n, &u) != 0)
        return;
    api_buf_t a, b;
    api_buf_init(&a, pool);
    api_buf_init(&b, pool);
    api_auth_user_json(&a, &u);
    check(api_auth_user_parse(pool, a.data, a.len, &u2) == 0);
    api_auth_user_json(&b, &u2);
    check(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
}

static int cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c != 0 ? c : (al < bl ? -1 : al > bl);
}

static void check_set(const api_auth_list_t *l)
{
    check(l->present);
    for (size_t i = 1; i < l->n; i++)
        check(cmp(l->v[i - 1], l->lens[i - 1], l->v[i], l->lens[i]) < 0);
}

/* The set operations the grant and revoke handlers use, on the two lists. */
static void sets(h2o_mem_pool_t *pool, const api_auth_list_t *a, const api_auth_list_t *b)
{
    api_auth_list_t sa = api_auth_set_of(pool, a);
    check_set(&sa);
    api_auth_list_t u = api_auth_set_union(pool, &sa, b);
    check_set(&u);
    for (size_t i = 0; i < b->n; i++)
        check(api_auth_list_has(&u, b->v[i], b->lens[i]));
    api_auth_list_t m = api_auth_set_minus(pool, &u, b);
    check_set(&m);
    for (size_t i = 0; i < b->n; i++)
        check(!api_auth_list_has(&m, b->v[i], b->lens[i]));
    ssize_t c = api_auth_set_first_conflict(pool, &sa, b, true);
    /* the naive in-order loop finds the same first conflict */
    api_auth_list_t cur = sa;
    ssize_t want = -1;
    for (size_t i = 0; i < b->n && want < 0; i++) {
        if (api_auth_list_has(&cur, b->v[i], b->lens[i]))
            want = (ssize_t)i;
        else
            api_auth_list_push(pool, &cur, b->v[i], b->lens[i]);
    }
    check(c == want);
}

static void role_round_trip(h2o_mem_pool_t *pool, const char *s, size_t n)
{
    api_auth_role_t r, r2;
    if (api_auth_role_parse(pool, s, n, &r) != 0)
        return;
    api_buf_t a, b;
    api_buf_init(&a, pool);
    api_buf_init(&b, pool);
    api_auth_role_json(&a, &r);
    check(api_auth_role_parse(pool, a.data, a.len, &r2) == 0);
    api_auth_role_json(&b, &r2);
    check(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    sets(pool, &r.perms.read, &r.perms.write);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    h2o_mem_pool_t pool;
    h2o_mem_init_pool(&pool);
    switch (data[0] % 3) {
    case 0: {
        const char *user, *pw;
        size_t ul, pl;
        if (api_auth_basic_parse(&pool, s, n, &user, &ul, &pw, &pl) == 0) {
            check(ul + 1 + pl <= n);
            check(memchr(user, ':', ul) == NULL);
        }
        break;
    }
    case 1:
        user_round_trip(&pool, s, n);
        break;
    default:
        role_round_trip(&pool, s, n);
        break;
    }
    h2o_mem_clear_pool(&pool);
    return 0;
}
