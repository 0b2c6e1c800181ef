/*
 * /v2/auth: etcd 3.4.23's v2 auth API (v2http/client_auth.go over
 * v2auth/auth.go): the enabled flag, users and roles, with etcd's routing,
 * checks, messages and status codes, in etcd's order.
 */
#include <stdio.h>
#include <string.h>

#include "api/auth_int.h"

typedef enum { ENABLE, USERS, USER, ROLES, ROLE } what_t;

/* One /v2/auth request, in its pool, across its asynchronous steps. */
typedef struct op {
    what_t what;
    api_method_t m;
    const char *name;
    size_t name_len;
    api_auth_user_t in_user, out_user;
    api_auth_role_t in_role, out_role;
    bool created;
} op_t;

/* ---- Answers ---- */

/* {"message":"<a><name><b>"} with status (etcd's v2auth.Error and httptypes.HTTPError). */
static void send_msg(api_t *api, h2o_req_t *req, int status, const char *a, const char *name,
                     size_t name_len, const char *b)
{
    api_buf_t m, out;
    api_buf_init(&m, &req->pool);
    api_buf_append_str(&m, a);
    if (name != NULL)
        api_buf_append(&m, name, name_len);
    if (b != NULL)
        api_buf_append_str(&m, b);
    api_buf_init(&out, &req->pool);
    api_buf_append_str(&out, "{\"message\":");
    api_json_string(&out, m.data, m.len);
    api_buf_append(&out, "}", 1);
    api_send(api, req, status, "application/json", out.data, out.len);
}

static void send_text(api_t *api, h2o_req_t *req, int status, const char *msg)
{
    send_msg(api, req, status, msg, NULL, 0, NULL);
}

/* A store error (etcd's writeError of a v2error): the v2 error JSON. */
static void send_store_err(api_t *api, h2o_req_t *req, store_error_t *err)
{
    api_send_store_error(api, req, err);
    store_error_clear(err);
}

/* json.NewEncoder(w).Encode: the JSON and "\n". */
static void send_json(api_t *api, h2o_req_t *req, int status, api_buf_t *b)
{
    api_buf_append(b, "\n", 1);
    api_send(api, req, status, "application/json", b->data, b->len);
}

static void send_empty(api_t *api, h2o_req_t *req)
{
    api_send(api, req, 200, "application/json", "", 0);
}

/*
 * etcd's first checks of a PUT body: it decoded (parse_rc 0) and names the
 * user or role of the URL. Answers 400 itself when not.
 */
static bool body_ok(api_t *api, h2o_req_t *req, const op_t *op, int parse_rc, const char *name,
                    size_t len, const char *what)
{
    if (parse_rc != 0) {
        send_text(api, req, 400, "Invalid JSON in request body.");
        return false;
    }
    if (len != op->name_len || memcmp(name, op->name, len) != 0) {
        send_msg(api, req, 400, what, NULL, 0, " JSON name does not match the name in the URL");
        return false;
    }
    return true;
}

/* ---- Enable ---- */

static void on_enable_written(api_t *api, h2o_req_t *req, void *ctx, int rc, store_error_t *err)
{
    (void)ctx;
    if (rc != 0) {
        send_store_err(api, req, err);
        return;
    }
    send_empty(api, req);
}

static void on_guest_created(api_t *api, h2o_req_t *req, void *ctx, int rc, store_error_t *err)
{
    if (rc != 0) {
        if (err->code == STORE_E_NODE_EXIST) {
            store_error_clear(err);
            send_msg(api, req, 409, "auth: Role guest already exists.", NULL, 0, NULL);
        } else {
            send_store_err(api, req, err);
        }
        return;
    }
    api_auth_write(api, req, 'u', "/enabled", 8, "true", 4, on_enable_written, ctx);
}

#define GUEST_ROLE                                                                                 \
    "{\"role\":\"guest\",\"permissions\":{\"kv\":{\"read\":[\"/*\"],\"write\":[\"/*\"]}}}"

static void do_enable(api_t *api, h2o_req_t *req, op_t *op)
{
    bool enabled = api_auth_enabled(api);
    if (op->m == API_M_GET) {
        api_buf_t b;
        api_buf_init(&b, &req->pool);
        api_buf_append_str(&b, enabled ? "{\"enabled\":true}" : "{\"enabled\":false}");
        send_json(api, req, 200, &b);
        return;
    }
    store_error_t err = {0};
    if (op->m == API_M_DELETE) {
        if (!api_auth_enabled(api)) {
            send_text(api, req, 409, "auth: already disabled");
            return;
        }
        api_auth_write(api, req, 'u', "/enabled", 8, "false", 5, on_enable_written, op);
        return;
    }
    /* etcd's EnableAuth: a root user is required; the guest role is made if missing. */
    if (api_auth_enabled(api)) {
        send_text(api, req, 409, "auth: already enabled");
        return;
    }
    api_auth_user_t root;
    if (api_auth_get_user(api, &req->pool, "root", 4, &root, &err) != 0) {
        store_error_clear(&err);
        send_text(api, req, 409, "auth: No root user available, please create one");
        return;
    }
    api_auth_role_t guest;
    if (api_auth_get_role(api, &req->pool, "guest", 5, &guest, &err) != 0) {
        store_error_clear(&err);
        api_auth_write(api, req, 'c', "/roles/guest", 12, GUEST_ROLE, strlen(GUEST_ROLE),
                       on_guest_created, op);
        return;
    }
    api_auth_write(api, req, 'u', "/enabled", 8, "true", 4, on_enable_written, op);
}

/* ---- Users ---- */

static void user_with_roles_json(api_buf_t *b, const api_auth_user_t *u,
                                 const api_auth_role_t *roles, size_t n)
{
    api_buf_append_str(b, "{\"user\":");
    api_json_string(b, u->name, u->name_len);
    if (n > 0) { /* omitempty */
        api_buf_append_str(b, ",\"roles\":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                api_buf_append(b, ",", 1);
            api_auth_role_json(b, &roles[i]);
        }
        api_buf_append(b, "]", 1);
    }
    api_buf_append(b, "}", 1);
}

static void user_not_found(api_t *api, h2o_req_t *req, const char *name, size_t len,
                           const char *tail)
{
    send_msg(api, req, 404, "auth: User ", name, len, tail);
}

/* Fills roles (pool) with the user's roles; missing ones skipped or fatal (-1, answered). */
static int user_roles(api_t *api, h2o_req_t *req, const api_auth_user_t *u, bool skip_missing,
                      api_auth_role_t **roles, size_t *n)
{
    *roles = h2o_mem_alloc_pool(&req->pool, (u->roles.n + 1) * sizeof(**roles));
    *n = 0;
    for (size_t i = 0; i < u->roles.n; i++) {
        store_error_t err = {0};
        int rc = api_auth_get_role(api, &req->pool, u->roles.v[i], u->roles.lens[i], &(*roles)[*n],
                                   &err);
        if (rc == 0) {
            (*n)++;
            continue;
        }
        if (skip_missing) {
            store_error_clear(&err);
            continue;
        }
        if (rc == -404)
            send_msg(api, req, 404, "auth: Role ", u->roles.v[i], u->roles.lens[i],
                     " does not exist.");
        else
            send_store_err(api, req, &err);
        return -1;
    }
    return 0;
}

/*
 * One record of a listing: appends it to b, or answers the request (etcd's
 * 404 or the store's error) and returns -1.
 */
typedef int (*list_item_fn)(api_t *api, h2o_req_t *req, const char *name, size_t len, api_buf_t *b);

/*
 * GET /v2/auth/users or /v2/auth/roles: {"<field>":[...]} of every record
 * (all_fn lists the names). An empty list of users is null, an empty list
 * of roles [], as etcd answers them.
 */
static void send_list(api_t *api, h2o_req_t *req, const char *field,
                      int (*all_fn)(api_t *, h2o_mem_pool_t *, api_auth_list_t *, store_error_t *),
                      list_item_fn item, bool null_when_empty)
{
    api_auth_list_t names;
    store_error_t err = {0};
    if (all_fn(api, &req->pool, &names, &err) != 0) {
        send_store_err(api, req, &err);
        return;
    }
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    api_buf_append_str(&b, "{\"");
    api_buf_append_str(&b, field);
    api_buf_append_str(&b, "\":");
    if (names.n == 0)
        api_buf_append_str(&b, null_when_empty ? "null" : "[]");
    for (size_t i = 0; i < names.n; i++) {
        api_buf_append_str(&b, i ? "," : "[");
        if (item(api, req, names.v[i], names.lens[i], &b) != 0)
            return;
    }
    if (names.n > 0)
        api_buf_append(&b, "]", 1);
    api_buf_append(&b, "}", 1);
    send_json(api, req, 200, &b);
}

/* The user name into u (pool), or etcd's 404 / the store's error answered and -1. */
static int load_user(api_t *api, h2o_req_t *req, const char *name, size_t len, api_auth_user_t *u)
{
    store_error_t err = {0};
    int rc = api_auth_get_user(api, &req->pool, name, len, u, &err);
    if (rc == -404)
        user_not_found(api, req, name, len, " does not exist.");
    else if (rc != 0)
        send_store_err(api, req, &err);
    return rc == 0 ? 0 : -1;
}

/* A listed user: roles that no longer exist are left out, as etcd lists users. */
static int user_item(api_t *api, h2o_req_t *req, const char *name, size_t len, api_buf_t *b)
{
    api_auth_user_t u;
    if (load_user(api, req, name, len, &u) != 0)
        return -1;
    api_auth_role_t *roles;
    size_t n;
    user_roles(api, req, &u, true, &roles, &n);
    user_with_roles_json(b, &u, roles, n);
    return 0;
}

static void get_users(api_t *api, h2o_req_t *req)
{
    send_list(api, req, "users", api_auth_all_users, user_item, true);
}

static void get_user(api_t *api, h2o_req_t *req, op_t *op)
{
    api_auth_user_t u;
    if (load_user(api, req, op->name, op->name_len, &u) != 0)
        return;
    api_auth_role_t *roles;
    size_t n;
    if (user_roles(api, req, &u, false, &roles, &n) != 0)
        return;
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    user_with_roles_json(&b, &u, roles, n);
    send_json(api, req, 200, &b);
}

/* The answer to a user PUT: the user without its password. */
static void send_user(api_t *api, h2o_req_t *req, op_t *op)
{
    api_auth_user_t out = op->out_user;
    out.password = "";
    out.password_len = 0;
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    api_auth_user_json(&b, &out);
    send_json(api, req, op->created ? 201 : 200, &b);
}

static void on_user_created(api_t *api, h2o_req_t *req, void *ctx, int rc, store_error_t *err)
{
    op_t *op = ctx;
    if (rc != 0 && err->code == STORE_E_NODE_EXIST) {
        store_error_clear(err);
        send_msg(api, req, 409, "auth: User ", op->name, op->name_len, " already exists.");
        return;
    }
    if (rc != 0) {
        send_store_err(api, req, err);
        return;
    }
    send_user(api, req, op);
}

static void on_user_updated(api_t *api, h2o_req_t *req, void *ctx, int rc, store_error_t *err)
{
    if (rc != 0) {
        send_store_err(api, req, err);
        return;
    }
    send_user(api, req, ctx);
}

static void write_user(api_t *api, h2o_req_t *req, op_t *op, char kind)
{
    api_buf_t v;
    api_buf_init(&v, &req->pool);
    api_auth_user_json(&v, &op->out_user);
    api_buf_t r;
    api_buf_init(&r, &req->pool);
    api_buf_append_str(&r, "/users/");
    api_buf_append(&r, op->name, op->name_len);
    api_auth_write(api, req, kind, r.data, r.len, v.data, v.len,
                   kind == 'c' ? on_user_created : on_user_updated, op);
}

typedef struct hash_wait {
    api_t *api;
    h2o_req_t *req;
    op_t *op;
    char kind;
} hash_wait_t;

static void on_hashed(void *ctx, bool ok, const char *hash)
{
    hash_wait_t *w = ctx;
    if (!ok || hash == NULL) {
        send_text(w->api, w->req, 500, "Internal Server Error");
        return;
    }
    w->op->out_user.password = api_auth_pool_dup(&w->req->pool, hash, strlen(hash));
    w->op->out_user.password_len = strlen(hash);
    write_user(w->api, w->req, w->op, w->kind);
}

/* Hashes password on the worker, then writes out_user with the hash. */
static void hash_then_write(api_t *api, h2o_req_t *req, op_t *op, const char *pw, size_t len,
                            char kind)
{
    hash_wait_t *w = h2o_mem_alloc_pool(&req->pool, sizeof(*w));
    *w = (hash_wait_t){.api = api, .req = req, .op = op, .kind = kind};
    api_auth_hash_submit(api->auth->hasher, req, req->conn, pw, len, NULL, on_hashed, w);
}

/* etcd's CreateUser. */
static void create_user(api_t *api, h2o_req_t *req, op_t *op)
{
    api_auth_user_t *u = &op->in_user;
    if (u->name_len == 4 && memcmp(u->name, "root", 4) == 0 &&
        !api_auth_list_has(&u->roles, "root", 4))
        api_auth_list_push(&req->pool, &u->roles, "root", 4);
    if (u->password_len == 0) {
        send_msg(api, req, 400, "auth: Cannot create user ", u->name, u->name_len,
                 " with an empty password");
        return;
    }
    op->out_user = *u;
    hash_then_write(api, req, op, u->password, u->password_len, 'c');
}

/* 409 "<what><role> for user <name>" */
static void role_conflict(api_t *api, h2o_req_t *req, const char *what, const api_auth_list_t *l,
                          ssize_t i, const api_auth_user_t *u)
{
    api_buf_t m;
    api_buf_init(&m, &req->pool);
    api_buf_append_str(&m, what);
    api_buf_append(&m, l->v[i], l->lens[i]);
    api_buf_append_str(&m, " for user ");
    api_buf_append(&m, u->name, u->name_len);
    send_msg(api, req, 409, "", m.data, m.len, NULL);
}

/* etcd's UpdateUser (old.merge, then the DeepEqual test). */
static void update_user(api_t *api, h2o_req_t *req, op_t *op)
{
    api_auth_user_t *nu = &op->in_user, old;
    /* getUser's own error comes back, not UpdateUser's "doesn't exist." */
    if (load_user(api, req, nu->name, nu->name_len, &old) != 0)
        return;
    /* etcd's User.merge: grants, then revokes, each failing on its first conflict. */
    h2o_mem_pool_t *pool = &req->pool;
    api_auth_list_t roles = api_auth_set_of(pool, &old.roles);
    ssize_t bad = api_auth_set_first_conflict(pool, &roles, &nu->grant, true);
    if (bad >= 0) {
        role_conflict(api, req, "auth: Granting duplicate role ", &nu->grant, bad, nu);
        return;
    }
    roles = api_auth_set_union(pool, &roles, &nu->grant);
    bad = api_auth_set_first_conflict(pool, &roles, &nu->revoke, false);
    if (bad >= 0) {
        role_conflict(api, req, "auth: Revoking ungranted role ", &nu->revoke, bad, nu);
        return;
    }
    roles = api_auth_set_minus(pool, &roles, &nu->revoke);
    api_auth_user_t *out = &op->out_user;
    memset(out, 0, sizeof(*out));
    out->name = old.name;
    out->name_len = old.name_len;
    out->password = old.password;
    out->password_len = old.password_len;
    out->roles = roles;
    if (nu->password_len > 0) {
        /* A new hash never equals the old one (fresh salt): always a change. */
        hash_then_write(api, req, op, nu->password, nu->password_len, 'u');
        return;
    }
    api_auth_list_t none = {0};
    if (api_auth_list_equal(&old.roles, &roles) && api_auth_list_equal(&old.grant, &none) &&
        api_auth_list_equal(&old.revoke, &none)) {
        send_text(api, req, 400,
                  "auth: User not updated. Use grant/revoke/password to update the user.");
        return;
    }
    write_user(api, req, op, 'u');
}

static void put_user(api_t *api, h2o_req_t *req, op_t *op)
{
    api_auth_user_t *u = &op->in_user;
    int rc = api_auth_user_parse(&req->pool, req->entity.base, req->entity.len, u);
    if (!body_ok(api, req, op, rc, u->name, u->name_len, "User"))
        return;
    if (u->grant.n == 0 && u->revoke.n == 0) {
        if (u->roles.n != 0) {
            create_user(api, req, op);
            return;
        }
        /* etcd's CreateOrUpdateUser: a password alone may mean either. */
        api_auth_user_t old;
        store_error_t err = {0};
        if (api_auth_get_user(api, &req->pool, u->name, u->name_len, &old, &err) == 0) {
            update_user(api, req, op);
            return;
        }
        store_error_clear(&err);
        op->created = true;
        create_user(api, req, op);
        return;
    }
    if (u->roles.n != 0) {
        send_text(api, req, 400, "User JSON contains both roles and grant/revoke");
        return;
    }
    update_user(api, req, op);
}

static void on_deleted(api_t *api, h2o_req_t *req, void *ctx, int rc, store_error_t *err)
{
    op_t *op = ctx;
    if (rc != 0 && err->code == STORE_E_KEY_NOT_FOUND) {
        store_error_clear(err);
        if (op->what == USER)
            user_not_found(api, req, op->name, op->name_len, " does not exist");
        else
            send_msg(api, req, 404, "auth: Role ", op->name, op->name_len, " doesn't exist.");
        return;
    }
    if (rc != 0) {
        send_store_err(api, req, err);
        return;
    }
    send_empty(api, req);
}

static void delete_record(api_t *api, h2o_req_t *req, op_t *op, const char *dir)
{
    api_buf_t r;
    api_buf_init(&r, &req->pool);
    api_buf_append_str(&r, dir);
    api_buf_append(&r, op->name, op->name_len);
    api_auth_write(api, req, 'd', r.data, r.len, NULL, 0, on_deleted, op);
}

/* ---- Roles ---- */

/* The role name into r (pool), or etcd's 404 / the store's error answered and -1. */
static int load_role(api_t *api, h2o_req_t *req, const char *name, size_t len, api_auth_role_t *r)
{
    store_error_t err = {0};
    int rc = api_auth_get_role(api, &req->pool, name, len, r, &err);
    if (rc == -404)
        send_msg(api, req, 404, "auth: Role ", name, len, " does not exist.");
    else if (rc != 0)
        send_store_err(api, req, &err);
    return rc == 0 ? 0 : -1;
}

static int role_item(api_t *api, h2o_req_t *req, const char *name, size_t len, api_buf_t *b)
{
    api_auth_role_t r;
    if (load_role(api, req, name, len, &r) != 0)
        return -1;
    api_auth_role_json(b, &r);
    return 0;
}

static void get_roles(api_t *api, h2o_req_t *req)
{
    send_list(api, req, "roles", api_auth_all_roles, role_item, false);
}

static void get_role(api_t *api, h2o_req_t *req, op_t *op)
{
    api_auth_role_t r;
    if (load_role(api, req, op->name, op->name_len, &r) != 0)
        return;
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    api_auth_role_json(&b, &r);
    send_json(api, req, 200, &b);
}

static bool perms_empty(bool has, const api_auth_perms_t *p)
{
    return !has || (p->read.n == 0 && p->write.n == 0);
}

static void on_role_written(api_t *api, h2o_req_t *req, void *ctx, int rc, store_error_t *err)
{
    op_t *op = ctx;
    if (rc != 0 && op->created && err->code == STORE_E_NODE_EXIST) {
        store_error_clear(err);
        send_msg(api, req, 409, "auth: Role ", op->name, op->name_len, " already exists.");
        return;
    }
    if (rc != 0) {
        send_store_err(api, req, err);
        return;
    }
    api_buf_t b;
    api_buf_init(&b, &req->pool);
    api_auth_role_json(&b, &op->out_role);
    send_json(api, req, op->created ? 201 : 200, &b);
}

static void write_role(api_t *api, h2o_req_t *req, op_t *op, char kind)
{
    api_buf_t v, r;
    api_buf_init(&v, &req->pool);
    api_auth_role_json(&v, &op->out_role);
    api_buf_init(&r, &req->pool);
    api_buf_append_str(&r, "/roles/");
    api_buf_append(&r, op->name, op->name_len);
    api_auth_write(api, req, kind, r.data, r.len, v.data, v.len, on_role_written, op);
}

/* etcd's RWPermission.Grant: a duplicate fails; the result is a sorted set. */
static int grant_list(api_t *api, h2o_req_t *req, const api_auth_list_t *cur,
                      const api_auth_list_t *add, const char *what, api_auth_list_t *out)
{
    api_auth_list_t set = api_auth_set_of(&req->pool, cur);
    ssize_t bad = api_auth_set_first_conflict(&req->pool, &set, add, true);
    if (bad >= 0) {
        api_buf_t m;
        api_buf_init(&m, &req->pool);
        api_buf_append_str(&m, "auth: Granting duplicate ");
        api_buf_append_str(&m, what);
        api_buf_append_str(&m, " permission ");
        api_buf_append(&m, add->v[bad], add->lens[bad]);
        send_msg(api, req, 409, "", m.data, m.len, NULL);
        return -1;
    }
    *out = api_auth_set_union(&req->pool, &set, add);
    return 0;
}

/* etcd's RWPermission.Revoke: what is not granted is skipped. */
static void revoke_list(h2o_req_t *req, const api_auth_list_t *cur, const api_auth_list_t *rm,
                        api_auth_list_t *out)
{
    api_auth_list_t set = api_auth_set_of(&req->pool, cur);
    *out = api_auth_set_minus(&req->pool, &set, rm);
}

static bool perms_equal(const api_auth_perms_t *a, const api_auth_perms_t *b)
{
    return api_auth_list_equal(&a->read, &b->read) && api_auth_list_equal(&a->write, &b->write);
}

static bool is_root_role(const op_t *op)
{
    return op->name_len == 4 && memcmp(op->name, "root", 4) == 0;
}

static void update_role(api_t *api, h2o_req_t *req, op_t *op)
{
    api_auth_role_t *n = &op->in_role, old;
    if (is_root_role(op)) {
        send_text(api, req, 403, "auth: Cannot modify role root: is root role.");
        return;
    }
    if (load_role(api, req, op->name, op->name_len, &old) != 0)
        return;
    api_auth_role_t *out = &op->out_role;
    memset(out, 0, sizeof(*out));
    out->name = old.name;
    out->name_len = old.name_len;
    out->perms = old.perms;
    if (n->has_grant) {
        if (grant_list(api, req, &old.perms.read, &n->grant.read, "read", &out->perms.read) != 0 ||
            grant_list(api, req, &old.perms.write, &n->grant.write, "write", &out->perms.write) !=
                0)
            return;
    }
    if (n->has_revoke) {
        api_auth_perms_t p = out->perms;
        revoke_list(req, &p.read, &n->revoke.read, &out->perms.read);
        revoke_list(req, &p.write, &n->revoke.write, &out->perms.write);
    }
    /* reflect.DeepEqual(old, new): the new role has no grant or revoke. */
    if (perms_equal(&old.perms, &out->perms) && !old.has_grant && !old.has_revoke) {
        send_text(api, req, 400, "auth: Role not updated. Use grant/revoke to update the role.");
        return;
    }
    write_role(api, req, op, 'u');
}

static void put_role(api_t *api, h2o_req_t *req, op_t *op)
{
    api_auth_role_t *in = &op->in_role;
    int rc = api_auth_role_parse(&req->pool, req->entity.base, req->entity.len, in);
    if (!body_ok(api, req, op, rc, in->name, in->name_len, "Role"))
        return;
    if (perms_empty(in->has_grant, &in->grant) && perms_empty(in->has_revoke, &in->revoke)) {
        /* etcd's CreateRole stores the role as it came, grant and revoke included. */
        if (is_root_role(op)) {
            send_text(api, req, 403, "auth: Cannot modify role root: is root role.");
            return;
        }
        op->created = true;
        op->out_role = *in;
        write_role(api, req, op, 'c');
        return;
    }
    if (!perms_empty(true, &in->perms)) {
        send_text(api, req, 400, "Role JSON contains both permissions and grant/revoke");
        return;
    }
    update_role(api, req, op);
}

/* ---- Routing ---- */

static void serve(api_t *api, h2o_req_t *req, void *arg)
{
    op_t *op = arg;
    api_add_cluster_id(api, req);
    switch (op->what) {
    case ENABLE:
        do_enable(api, req, op);
        return;
    case USERS:
        get_users(api, req);
        return;
    case ROLES:
        get_roles(api, req);
        return;
    case USER:
        if (op->m == API_M_GET) {
            get_user(api, req, op);
        } else if (op->m == API_M_PUT) {
            put_user(api, req, op);
        } else if (api_auth_enabled(api) && op->name_len == 4 && memcmp(op->name, "root", 4) == 0) {
            send_text(api, req, 403, "auth: Cannot delete root user while auth is enabled.");
        } else {
            delete_record(api, req, op, "/users/");
        }
        return;
    case ROLE:
        if (op->m == API_M_GET) {
            get_role(api, req, op);
        } else if (op->m == API_M_PUT) {
            put_role(api, req, op);
        } else if (is_root_role(op)) {
            send_text(api, req, 403, "auth: Cannot modify role root: is root role.");
        } else {
            delete_record(api, req, op, "/roles/");
        }
        return;
    }
}

/*
 * sub: the clean path after "/v2/auth" ("/enable", "/users/x", ...). etcd's
 * mux: /enable, /users and /roles exactly; /users/ and /roles/ by prefix,
 * where the rest splits into at most one name.
 */
void api_handle_auth(api_t *api, h2o_req_t *req, api_method_t m, const char *sub, size_t len)
{
    op_t *op = h2o_mem_alloc_pool(&req->pool, sizeof(*op));
    memset(op, 0, sizeof(*op));
    op->m = m;
    const char *allow;
    const char *rest = NULL;
    size_t rest_len = 0;
    if (len == 7 && memcmp(sub, "/enable", 7) == 0) {
        op->what = ENABLE;
    } else if (len >= 6 && memcmp(sub, "/users", 6) == 0 && (len == 6 || sub[6] == '/')) {
        op->what = USERS;
        rest = sub + 6;
        rest_len = len - 6;
    } else if (len >= 6 && memcmp(sub, "/roles", 6) == 0 && (len == 6 || sub[6] == '/')) {
        op->what = ROLES;
        rest = sub + 6;
        rest_len = len - 6;
    } else {
        api_send_not_found(api, req);
        return;
    }
    /* "/users/" cleans to "/users"; "/users/a/b" is not a user. */
    if (rest_len > 1) {
        op->name = rest + 1;
        op->name_len = rest_len - 1;
        if (op->name[op->name_len - 1] == '/')
            op->name_len--;
        if (memchr(op->name, '/', op->name_len) != NULL) {
            send_text(api, req, 400, "Invalid path");
            return;
        }
        op->what = op->what == USERS ? USER : ROLE;
    }
    allow = op->what == USERS || op->what == ROLES ? "GET" : "GET,PUT,DELETE";
    if (m != API_M_GET &&
        (op->what == USERS || op->what == ROLES || (m != API_M_PUT && m != API_M_DELETE))) {
        api_send_method_not_allowed(api, req, allow);
        return;
    }
    /* etcd's hasWriteRootAccess for /enable lets GET through unchecked. */
    if (op->what == ENABLE && m == API_M_GET) {
        serve(api, req, op);
        return;
    }
    api_auth_require_root(api, req, serve, op);
}
