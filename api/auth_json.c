/*
 * etcd's v2auth User and Role as JSON: decoded as Go's encoding/json fills
 * those structs (request bodies and stored values), encoded as json.Marshal
 * writes them (responses and stored values).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "api/auth_int.h"

char *api_auth_pool_dup(h2o_mem_pool_t *pool, const char *s, size_t len)
{
    char *d = h2o_mem_alloc_pool(pool, len + 1);
    if (len)
        memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void api_auth_list_push(h2o_mem_pool_t *pool, api_auth_list_t *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        /* Doubling: a list read from a large body is built in linear time. */
        size_t cap = l->cap ? l->cap * 2 : 4;
        const char **v = h2o_mem_alloc_pool(pool, cap * sizeof(*v));
        size_t *lens = h2o_mem_alloc_pool(pool, cap * sizeof(*lens));
        if (l->n) {
            memcpy(v, l->v, l->n * sizeof(*v));
            memcpy(lens, l->lens, l->n * sizeof(*lens));
        }
        l->v = v;
        l->lens = lens;
        l->cap = cap;
    }
    l->v[l->n] = api_auth_pool_dup(pool, s, len);
    l->lens[l->n] = len;
    l->n++;
    l->present = true;
}

bool api_auth_list_has(const api_auth_list_t *l, const char *s, size_t len)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->lens[i] == len && memcmp(l->v[i], s, len) == 0)
            return true;
    return false;
}

bool api_auth_list_equal(const api_auth_list_t *a, const api_auth_list_t *b)
{
    if (a->present != b->present || a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->lens[i] != b->lens[i] || memcmp(a->v[i], b->v[i], a->lens[i]) != 0)
            return false;
    return true;
}

/* ---- Decoding ---- */

/* Go matches a JSON key to a field by name, exact or without regard to case. */
static bool key_is(const char *key, const char *field)
{
    return strcasecmp(key, field) == 0;
}

/* A Go string field: a JSON string sets it, null leaves it, anything else fails. */
static int get_string(h2o_mem_pool_t *pool, json_t *v, const char **s, size_t *len)
{
    if (json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *len = json_string_length(v);
    *s = api_auth_pool_dup(pool, json_string_value(v), *len);
    return 0;
}

/* A Go []string: null makes it nil, an array replaces it (null elements are ""). */
static int get_list(h2o_mem_pool_t *pool, json_t *v, api_auth_list_t *l)
{
    memset(l, 0, sizeof(*l));
    if (json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return -1;
    l->present = true;
    int rc = 0;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (json_is_string(e))
            api_auth_list_push(pool, l, json_string_value(e), json_string_length(e));
        else if (json_is_null(e))
            api_auth_list_push(pool, l, "", 0);
        else {
            api_auth_list_push(pool, l, "", 0); /* Go keeps going and fails at the end */
            rc = -1;
        }
    }
    return rc;
}

/* Permissions {"kv":{"read":[],"write":[]}}: null leaves the struct as it is. */
static int get_perms(h2o_mem_pool_t *pool, json_t *v, api_auth_perms_t *p)
{
    if (json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return -1;
    int rc = 0;
    const char *k;
    json_t *kv;
    json_object_foreach(v, k, kv)
    {
        if (!key_is(k, "kv"))
            continue;
        if (json_is_null(kv))
            continue;
        if (!json_is_object(kv)) {
            rc = -1;
            continue;
        }
        const char *k2;
        json_t *lv;
        json_object_foreach(kv, k2, lv)
        {
            if (key_is(k2, "read"))
                rc |= get_list(pool, lv, &p->read);
            else if (key_is(k2, "write"))
                rc |= get_list(pool, lv, &p->write);
        }
    }
    return rc;
}

/* Sets one field of the struct from a JSON member; returns 0 or -1. */
typedef int (*field_fn)(h2o_mem_pool_t *pool, const char *key, json_t *v, void *out);

/*
 * Go's json.NewDecoder(r).Decode(&struct): the first JSON value (what
 * follows is left), an object's members applied in order, null a no-op,
 * any other value a type error. Returns 0 or -1.
 */
static int decode(h2o_mem_pool_t *pool, const char *s, size_t len, field_fn field, void *out)
{
    json_t *root =
        json_loadb(s, len, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, NULL);
    if (root == NULL)
        return -1;
    int rc = 0;
    if (json_is_object(root)) {
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v)
        {
            rc |= field(pool, k, v, out);
        }
    } else if (!json_is_null(root)) {
        rc = -1;
    }
    json_decref(root);
    return rc ? -1 : 0;
}

static int user_field(h2o_mem_pool_t *pool, const char *k, json_t *v, void *out)
{
    api_auth_user_t *u = out;
    if (key_is(k, "user"))
        return get_string(pool, v, &u->name, &u->name_len);
    if (key_is(k, "password"))
        return get_string(pool, v, &u->password, &u->password_len);
    if (key_is(k, "roles"))
        return get_list(pool, v, &u->roles);
    if (key_is(k, "grant"))
        return get_list(pool, v, &u->grant);
    if (key_is(k, "revoke"))
        return get_list(pool, v, &u->revoke);
    return 0;
}

int api_auth_user_parse(h2o_mem_pool_t *pool, const char *s, size_t len, api_auth_user_t *u)
{
    memset(u, 0, sizeof(*u));
    u->name = u->password = "";
    return decode(pool, s, len, user_field, u);
}

static int role_field(h2o_mem_pool_t *pool, const char *k, json_t *v, void *out)
{
    api_auth_role_t *r = out;
    if (key_is(k, "role"))
        return get_string(pool, v, &r->name, &r->name_len);
    if (key_is(k, "permissions"))
        return get_perms(pool, v, &r->perms);
    if (key_is(k, "grant") || key_is(k, "revoke")) {
        /* Pointers: null sets nil, an object a fresh value. */
        bool g = key_is(k, "grant");
        api_auth_perms_t *p = g ? &r->grant : &r->revoke;
        memset(p, 0, sizeof(*p));
        *(g ? &r->has_grant : &r->has_revoke) = !json_is_null(v);
        return get_perms(pool, v, p);
    }
    return 0;
}

int api_auth_role_parse(h2o_mem_pool_t *pool, const char *s, size_t len, api_auth_role_t *r)
{
    memset(r, 0, sizeof(*r));
    r->name = "";
    return decode(pool, s, len, role_field, r);
}

/* ---- Encoding ---- */

static void list_json(api_buf_t *b, const api_auth_list_t *l)
{
    if (!l->present) {
        api_buf_append_str(b, "null");
        return;
    }
    api_buf_append(b, "[", 1);
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            api_buf_append(b, ",", 1);
        api_json_string(b, l->v[i], l->lens[i]);
    }
    api_buf_append(b, "]", 1);
}

static void perms_json(api_buf_t *b, const api_auth_perms_t *p)
{
    api_buf_append_str(b, "{\"kv\":{\"read\":");
    list_json(b, &p->read);
    api_buf_append_str(b, ",\"write\":");
    list_json(b, &p->write);
    api_buf_append_str(b, "}}");
}

void api_auth_role_json(api_buf_t *b, const api_auth_role_t *r)
{
    api_buf_append_str(b, "{\"role\":");
    api_json_string(b, r->name, r->name_len);
    api_buf_append_str(b, ",\"permissions\":");
    perms_json(b, &r->perms);
    if (r->has_grant) {
        api_buf_append_str(b, ",\"grant\":");
        perms_json(b, &r->grant);
    }
    if (r->has_revoke) {
        api_buf_append_str(b, ",\"revoke\":");
        perms_json(b, &r->revoke);
    }
    api_buf_append(b, "}", 1);
}

void api_auth_user_json(api_buf_t *b, const api_auth_user_t *u)
{
    api_buf_append_str(b, "{\"user\":");
    api_json_string(b, u->name, u->name_len);
    if (u->password_len) {
        api_buf_append_str(b, ",\"password\":");
        api_json_string(b, u->password, u->password_len);
    }
    api_buf_append_str(b, ",\"roles\":");
    list_json(b, &u->roles);
    /* omitempty: nil and empty slices are both left out */
    if (u->grant.n) {
        api_buf_append_str(b, ",\"grant\":");
        list_json(b, &u->grant);
    }
    if (u->revoke.n) {
        api_buf_append_str(b, ",\"revoke\":");
        list_json(b, &u->revoke);
    }
    api_buf_append(b, "}", 1);
}
