/*
 * Auth records in the store, read and written as etcd's v2auth store does
 * (auth.go, auth_requests.go): the same reads (each one a store GET that
 * /v2/stats/store counts) and the same writes, in the same order, so that
 * store indexes and counters move as etcd's do.
 */
#include <stdlib.h>
#include <string.h>

#include "api/auth_int.h"

bool api_auth_key_is_reserved(const char *key, size_t len)
{
    return len >= API_AUTH_ROOT_LEN && memcmp(key, API_AUTH_ROOT, API_AUTH_ROOT_LEN) == 0 &&
           (len == API_AUTH_ROOT_LEN || key[API_AUTH_ROOT_LEN] == '/');
}

/* API_AUTH_ROOT + res, in the pool. */
static char *auth_path(h2o_mem_pool_t *pool, const char *res, size_t res_len, size_t *len)
{
    *len = API_AUTH_ROOT_LEN + res_len;
    char *p = h2o_mem_alloc_pool(pool, *len + 1);
    memcpy(p, API_AUTH_ROOT, API_AUTH_ROOT_LEN);
    memcpy(p + API_AUTH_ROOT_LEN, res, res_len);
    p[*len] = '\0';
    return p;
}

/* One store GET under the auth root (etcd's requestResource). */
static int get_node(api_t *api, const char *res, size_t res_len, store_event_t **ev,
                    store_error_t *err)
{
    char buf[512];
    size_t len = API_AUTH_ROOT_LEN + res_len;
    char *p = len < sizeof(buf) ? buf : malloc(len + 1);
    if (p == NULL)
        abort();
    memcpy(p, API_AUTH_ROOT, API_AUTH_ROOT_LEN);
    memcpy(p + API_AUTH_ROOT_LEN, res, res_len);
    int rc = store_get(api->host.store, p, len, false, false, api_now_ns(), ev, err);
    if (p != buf)
        free(p);
    return rc;
}

/*
 * etcd reads the flag from its store for every request that parses, and
 * /v2/stats/store counts each read (getsFail while the key has never been
 * written, getsSuccess after). The read cost a key GET about 7% of its
 * instructions: the answer is kept while the store's index does not move,
 * and each request still counts the read it stands for.
 */
bool api_auth_enabled(api_t *api)
{
    api_auth_t *a = api->auth;
    store_t *st = api->host.store;
    uint64_t index = store_index(st);
    if (a->enabled_known && a->enabled_store == st && a->enabled_index == index) {
        if (a->enabled_found)
            store_count_successful_get(st);
        else
            store_count_failed_get(st);
        return a->enabled_on;
    }
    store_event_t *ev = NULL;
    store_error_t err = {0};
    bool found = get_node(api, "/enabled", 8, &ev, &err) == 0;
    /* etcd reads the value as a JSON bool; anything else counts as disabled. */
    bool on = found && ev->node.value != NULL && ev->node.value_len == 4 &&
              memcmp(ev->node.value, "true", 4) == 0;
    if (found)
        store_event_release(ev);
    else
        store_error_clear(&err);
    a->enabled_store = st;
    a->enabled_index = index;
    a->enabled_known = true;
    a->enabled_found = found;
    a->enabled_on = on;
    return on;
}

/*
 * A name that would not stay one component under its directory (etcd
 * joins it into a path): such a record cannot exist.
 */
static bool bad_name(const char *name, size_t len)
{
    return len == 0 || memchr(name, '/', len) != NULL || (len == 1 && name[0] == '.') ||
           (len == 2 && name[0] == '.' && name[1] == '.');
}

static int get_record(api_t *api, const char *dir, const char *name, size_t len, store_event_t **ev,
                      store_error_t *err)
{
    if (bad_name(name, len))
        return -STORE_E_KEY_NOT_FOUND;
    char buf[512];
    size_t dl = strlen(dir);
    size_t n = dl + 1 + len;
    char *p = n < sizeof(buf) ? buf : malloc(n + 1);
    if (p == NULL)
        abort();
    memcpy(p, dir, dl);
    p[dl] = '/';
    memcpy(p + dl + 1, name, len);
    int rc = get_node(api, p, n, ev, err);
    if (p != buf)
        free(p);
    if (rc == 0 && (*ev)->node.value == NULL) {
        store_event_release(*ev);
        *ev = NULL;
        return -STORE_E_KEY_NOT_FOUND;
    }
    if (rc == -STORE_E_KEY_NOT_FOUND)
        store_error_clear(err);
    return rc;
}

static void attach_root_role(h2o_mem_pool_t *pool, api_auth_user_t *u)
{
    if (!api_auth_list_has(&u->roles, "root", 4))
        api_auth_list_push(pool, &u->roles, "root", 4);
}

int api_auth_get_user(api_t *api, h2o_mem_pool_t *pool, const char *name, size_t len,
                      api_auth_user_t *u, store_error_t *err)
{
    store_event_t *ev = NULL;
    int rc = get_record(api, "/users", name, len, &ev, err);
    if (rc == -STORE_E_KEY_NOT_FOUND)
        return -404;
    if (rc != 0)
        return rc;
    rc = api_auth_user_parse(pool, ev->node.value, ev->node.value_len, u);
    store_event_release(ev);
    if (rc != 0)
        return store_error_set(err, STORE_E_RAFT_INTERNAL, "bad user record", 0);
    /* etcd's getUser gives the root user the root role, stored or not. */
    if (u->name_len == 4 && memcmp(u->name, "root", 4) == 0)
        attach_root_role(pool, u);
    return 0;
}

void api_auth_root_role(api_auth_role_t *r)
{
    static const char *all[] = {"/*"};
    static size_t all_len[] = {2};
    memset(r, 0, sizeof(*r));
    r->name = "root";
    r->name_len = 4;
    r->perms.read = (api_auth_list_t){.v = all, .lens = all_len, .n = 1, .present = true};
    r->perms.write = r->perms.read;
}

int api_auth_get_role(api_t *api, h2o_mem_pool_t *pool, const char *name, size_t len,
                      api_auth_role_t *r, store_error_t *err)
{
    if (len == 4 && memcmp(name, "root", 4) == 0) {
        api_auth_root_role(r);
        return 0;
    }
    store_event_t *ev = NULL;
    int rc = get_record(api, "/roles", name, len, &ev, err);
    if (rc == -STORE_E_KEY_NOT_FOUND)
        return -404;
    if (rc != 0)
        return rc;
    rc = api_auth_role_parse(pool, ev->node.value, ev->node.value_len, r);
    store_event_release(ev);
    if (rc != 0)
        return store_error_set(err, STORE_E_RAFT_INTERNAL, "bad role record", 0);
    return 0;
}

static int list_dir(api_t *api, h2o_mem_pool_t *pool, const char *dir, api_auth_list_t *out,
                    store_error_t *err)
{
    store_event_t *ev = NULL;
    int rc = get_node(api, dir, strlen(dir), &ev, err);
    if (rc == -STORE_E_KEY_NOT_FOUND) {
        store_error_clear(err);
        return 0;
    }
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < ev->node.n_nodes; i++) {
        const store_node_t *c = &ev->node.nodes[i];
        const char *slash = c->key;
        for (size_t k = 0; k < c->key_len; k++)
            if (c->key[k] == '/')
                slash = c->key + k;
        size_t off = (size_t)(slash + 1 - c->key);
        api_auth_list_push(pool, out, slash + 1, c->key_len - off);
    }
    store_event_release(ev);
    return 0;
}

int api_auth_all_users(api_t *api, h2o_mem_pool_t *pool, api_auth_list_t *out, store_error_t *err)
{
    memset(out, 0, sizeof(*out));
    int rc = list_dir(api, pool, "/users", out, err);
    api_auth_list_sort(out);
    return rc;
}

int api_auth_all_roles(api_t *api, h2o_mem_pool_t *pool, api_auth_list_t *out, store_error_t *err)
{
    memset(out, 0, sizeof(*out));
    api_auth_list_push(pool, out, "root", 4);
    int rc = list_dir(api, pool, "/roles", out, err);
    api_auth_list_sort(out);
    return rc;
}

/* ---- Writes ---- */

typedef struct chain chain_t;
typedef struct chain_slot {
    chain_t *c;
} chain_slot_t;

struct chain {
    api_t *api;
    h2o_req_t *req; /* NULL once the request is gone */
    chain_slot_t *slot;
    int step; /* 0-2: directories, 3: the enabled flag, 4: the write itself */
    char kind;
    char *path;
    size_t path_len;
    char *value;
    size_t value_len;
    api_auth_write_cb done;
    void *ctx;
};

static void on_chain_slot_dispose(void *p)
{
    chain_slot_t *s = p;
    if (s->c != NULL) {
        s->c->req = NULL;
        s->c->slot = NULL;
    }
}

static void chain_free(chain_t *c)
{
    if (c->slot != NULL)
        c->slot->c = NULL;
    free(c->path);
    free(c->value);
    free(c);
}

static void chain_step(chain_t *c);

static void chain_finish(chain_t *c, int rc, store_error_t *err)
{
    if (c->req != NULL)
        c->done(c->api, c->req, c->ctx, rc, err);
    if (err != NULL)
        store_error_clear(err);
    chain_free(c);
}

static void on_chain_proposed(void *ctx, int rc, store_event_t *ev, store_error_t *err)
{
    chain_t *c = ctx;
    if (ev != NULL)
        store_event_release(ev);
    if (c->step < 4) {
        /* etcd's ensureAuthDirectories: an existing node is fine, another error ends it. */
        if (rc != 0 && err->code != STORE_E_NODE_EXIST) {
            chain_finish(c, rc, err);
            return;
        }
        if (rc != 0)
            store_error_clear(err);
        if (c->step == 3)
            c->api->auth->ensured = true;
        c->step++;
        chain_step(c);
        return;
    }
    chain_finish(c, rc, rc != 0 ? err : NULL);
}

static void chain_step(chain_t *c)
{
    if (c->req == NULL) {
        chain_free(c); /* the client is gone: propose nothing more */
        return;
    }
    static const char *const dirs[] = {"", "/users", "/roles"};
    store_request_t sr = {.time_ns = api_now_ns()};
    char buf[64];
    if (c->step < 3) {
        size_t dl = strlen(dirs[c->step]);
        memcpy(buf, API_AUTH_ROOT, API_AUTH_ROOT_LEN);
        memcpy(buf + API_AUTH_ROOT_LEN, dirs[c->step], dl);
        sr.op = STORE_OP_CREATE;
        sr.dir = true;
        sr.key = buf;
        sr.key_len = API_AUTH_ROOT_LEN + dl;
    } else if (c->step == 3) {
        memcpy(buf, API_AUTH_ROOT "/enabled", API_AUTH_ROOT_LEN + 8);
        sr.op = STORE_OP_CREATE;
        sr.key = buf;
        sr.key_len = API_AUTH_ROOT_LEN + 8;
        sr.value = "false";
        sr.value_len = 5;
    } else {
        sr.key = c->path;
        sr.key_len = c->path_len;
        if (c->kind == 'd') {
            sr.op = STORE_OP_DELETE;
        } else {
            sr.op = c->kind == 'c' ? STORE_OP_CREATE : STORE_OP_UPDATE;
            sr.value = c->value;
            sr.value_len = c->value_len;
        }
    }
    store_error_t err = {0};
    int rc = c->api->host.propose(c->api->host.ctx, &sr, on_chain_proposed, c, &err);
    if (rc != 0)
        on_chain_proposed(c, rc, NULL, &err);
}

void api_auth_write(api_t *api, h2o_req_t *req, char kind, const char *res, size_t res_len,
                    const char *value, size_t value_len, api_auth_write_cb done, void *ctx)
{
    chain_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    c->api = api;
    c->req = req;
    c->kind = kind;
    h2o_mem_pool_t tmp;
    h2o_mem_init_pool(&tmp);
    size_t pl;
    char *p = auth_path(&tmp, res, res_len, &pl);
    c->path = malloc(pl + 1);
    c->value = malloc(value_len + 1);
    if (c->path == NULL || c->value == NULL)
        abort();
    memcpy(c->path, p, pl + 1);
    c->path_len = pl;
    h2o_mem_clear_pool(&tmp);
    if (value_len)
        memcpy(c->value, value, value_len);
    c->value_len = value_len;
    c->done = done;
    c->ctx = ctx;
    c->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*c->slot), on_chain_slot_dispose);
    c->slot->c = c;
    c->step = api->auth->ensured ? 4 : 0;
    chain_step(c);
}
