/*
 * api/ internals of v2 auth (etcd's etcdserver/api/v2auth and the checks of
 * v2http/client_auth.go). Not for other layers.
 *
 * Where the data lives: users, roles and the enabled flag are ordinary store
 * nodes under API_AUTH_ROOT, written through raft like every other write,
 * so they are replicated, in snapshots and survive restarts, and every auth
 * write takes a store index as etcd's writes under its /2 prefix do. etcd
 * keeps its keys under /1 and auth under /2, so no key can reach /2; metcd
 * keeps keys at the root, so the auth root is a hidden name ("_") holding a
 * NUL byte that no one uses for a key: listings and recursive watches never
 * show it, and the keys handler refuses any key under it (error 106).
 *
 * Passwords are stored as bcrypt hashes (cost 10, bcrypt.DefaultCost as
 * etcd uses), computed on a worker thread (auth_hash.c) and never logged.
 */
#ifndef METCD_API_AUTH_INT_H
#define METCD_API_AUTH_INT_H

#include "api/api_int.h"

#define API_AUTH_ROOT     "/_\0auth"
#define API_AUTH_ROOT_LEN 7

/* Whether a store key is the auth root or below it (the keys API refuses those). */
bool api_auth_key_is_reserved(const char *key, size_t len);

/* ---- Users and roles as JSON (auth_json.c). All memory in a request pool. ---- */

/* A Go []string: present == false is nil (JSON null), else an array. */
typedef struct api_auth_list {
    const char **v;
    size_t *lens;
    size_t n, cap;
    bool present;
} api_auth_list_t;

typedef struct api_auth_perms {
    api_auth_list_t read, write;
} api_auth_perms_t;

typedef struct api_auth_role {
    const char *name;
    size_t name_len;
    api_auth_perms_t perms;
    bool has_grant, has_revoke; /* Role.Grant / Revoke are pointers: nil or not */
    api_auth_perms_t grant, revoke;
} api_auth_role_t;

typedef struct api_auth_user {
    const char *name;
    size_t name_len;
    const char *password; /* the bcrypt hash when read from the store */
    size_t password_len;
    api_auth_list_t roles, grant, revoke;
} api_auth_user_t;

/*
 * Decodes a request body or a stored value as Go's encoding/json decodes
 * into etcd's User / Role: the first JSON value, field names matched without
 * regard to case, unknown fields ignored, null leaves a field as it is.
 * Returns 0 or -1 (etcd: "Invalid JSON in request body.").
 */
int api_auth_user_parse(h2o_mem_pool_t *pool, const char *s, size_t len, api_auth_user_t *u);
int api_auth_role_parse(h2o_mem_pool_t *pool, const char *s, size_t len, api_auth_role_t *r);

/* Encodes as json.Marshal does: User {user,password?,roles,grant?,revoke?}. */
void api_auth_user_json(api_buf_t *b, const api_auth_user_t *u);
/* Role {role,permissions:{kv:{read,write}},grant?,revoke?}. */
void api_auth_role_json(api_buf_t *b, const api_auth_role_t *r);

bool api_auth_list_has(const api_auth_list_t *l, const char *s, size_t len);
/* reflect.DeepEqual of two lists (nil differs from empty). */
bool api_auth_list_equal(const api_auth_list_t *a, const api_auth_list_t *b);
/* Sorts bytewise (Go's sort.Strings) in place (auth_set.c). */
void api_auth_list_sort(api_auth_list_t *l);
/* Appends a copy of s (pool); the list becomes non-nil. */
void api_auth_list_push(h2o_mem_pool_t *pool, api_auth_list_t *l, const char *s, size_t len);

/* ---- Sets: sorted lists without repeats (auth_set.c). Pool memory. ---- */

/* l as a set (never nil, as etcd's Values() is never nil). */
api_auth_list_t api_auth_set_of(h2o_mem_pool_t *pool, const api_auth_list_t *l);
/*
 * Adding (in_set true: an item already in set fails, as a duplicate grant)
 * or removing (in_set false: an item not in set fails, as an ungranted
 * revoke) add's items one by one in order, as etcd does: the index in add
 * of the first that fails (a repeat within add fails too), or -1.
 */
ssize_t api_auth_set_first_conflict(h2o_mem_pool_t *pool, const api_auth_list_t *set,
                                    const api_auth_list_t *add, bool in_set);
api_auth_list_t api_auth_set_union(h2o_mem_pool_t *pool, const api_auth_list_t *set,
                                   const api_auth_list_t *add);
api_auth_list_t api_auth_set_minus(h2o_mem_pool_t *pool, const api_auth_list_t *set,
                                   const api_auth_list_t *rm);

/* ---- Reading auth records from the store (auth_store.c). ---- */

/* etcd's AuthEnabled(): reads the enabled flag (one store GET, counted as etcd counts it). */
bool api_auth_enabled(api_t *api);
/*
 * etcd's GetUser / GetRole. Return 0, -404 when there is none (msg filled
 * with etcd's text when msg is not NULL), or another negative value for a
 * store error (err filled; the caller clears it). The root role is built in.
 */
int api_auth_get_user(api_t *api, h2o_mem_pool_t *pool, const char *name, size_t len,
                      api_auth_user_t *u, store_error_t *err);
int api_auth_get_role(api_t *api, h2o_mem_pool_t *pool, const char *name, size_t len,
                      api_auth_role_t *r, store_error_t *err);
/* Sorted names of the users / roles (roles include root). */
int api_auth_all_users(api_t *api, h2o_mem_pool_t *pool, api_auth_list_t *out, store_error_t *err);
int api_auth_all_roles(api_t *api, h2o_mem_pool_t *pool, api_auth_list_t *out, store_error_t *err);
void api_auth_root_role(api_auth_role_t *r);

/*
 * Auth writes, each as etcd performs it: first (once per process, as etcd's
 * ensureAuthDirectories) the auth directories and the enabled flag are
 * created if missing, then one store write. kind: 'c' create (prevExist
 * false), 'u' update (prevExist true), 'd' delete. done gets 0 or the
 * store's -code with err (the callee clears it). The request must stay
 * alive; when it goes away the chain stops after the proposal in flight.
 * Strings are copied.
 */
typedef void (*api_auth_write_cb)(api_t *api, h2o_req_t *req, void *ctx, int rc,
                                  store_error_t *err);
void api_auth_write(api_t *api, h2o_req_t *req, char kind, const char *res, size_t res_len,
                    const char *value, size_t value_len, api_auth_write_cb done, void *ctx);

/* ---- bcrypt on a worker thread (auth_hash.c). ---- */

typedef struct api_auth_hasher api_auth_hasher_t;

/*
 * Called on the loop thread when a job is done: for a hash, hash is the
 * new bcrypt string (NULL on failure); for a check, ok says whether the
 * password matched. Not called when the job's request went away.
 */
typedef void (*api_auth_hash_cb)(void *ctx, bool ok, const char *hash);

/*
 * Starts the worker; answers come back on api's loop, inside its host's
 * lock. Ownership: free with api_auth_hasher_free().
 */
api_auth_hasher_t *api_auth_hasher_new(api_t *api);
/* Ends the worker (waits for the job it is running) and frees everything. */
void api_auth_hasher_free(api_auth_hasher_t *h);
/*
 * Queues a bcrypt hash of password (hash == NULL) or a check of password
 * against hash. The password is copied and wiped after use. Jobs of one
 * connection (conn) run one at a time, in turn with other connections', so
 * one client guessing passwords over many streams waits for itself only.
 * The job is bound to req: if req goes away first, cb is not called.
 */
void api_auth_hash_submit(api_auth_hasher_t *h, h2o_req_t *req, const void *conn,
                          const char *password, size_t password_len, const char *hash,
                          api_auth_hash_cb cb, void *ctx);
/* bcrypt on the caller's thread (tests and the worker). Returns 0 or -1. */
int api_auth_bcrypt_hash(const char *password, size_t len, char *out, size_t out_size);
bool api_auth_bcrypt_check(const char *password, size_t len, const char *hash);

/* ---- Who is asking, and may they (auth_check.c). ---- */

typedef enum api_auth_who {
    API_AUTH_OFF,   /* auth is disabled: everything is allowed */
    API_AUTH_GUEST, /* no Authorization header: the guest role */
    API_AUTH_USER,  /* a user whose password (or certificate) checked */
    API_AUTH_BAD,   /* credentials that did not check: refused */
} api_auth_who_t;

typedef struct api_auth_ident {
    api_auth_who_t who;
    api_auth_user_t user; /* API_AUTH_USER */
} api_auth_ident_t;

/*
 * An Authorization header value as Go's Request.BasicAuth reads it: "Basic "
 * (any case), then standard padded base64 of "user:password". Returns 0 with
 * the user and password (pool memory, not NUL-terminated), or -1.
 */
int api_auth_basic_parse(h2o_mem_pool_t *pool, const char *hv, size_t hl, const char **user,
                         size_t *user_len, const char **pw, size_t *pw_len);

typedef void (*api_auth_cont)(api_t *api, h2o_req_t *req, const api_auth_ident_t *id, void *arg);

/*
 * Finds who sent req, as etcd does for each request: is auth enabled; else
 * the client certificate's user (with --client-cert-auth and no
 * Authorization header), the basic-auth user and password, or the guest.
 * cont runs once, now or (for a password not checked before) when the
 * worker has checked it; never after req went away.
 */
void api_auth_identify(api_t *api, h2o_req_t *req, api_auth_cont cont, void *arg);

/* etcd's hasKeyPrefixAccess once the identity is known (key: the URL path after /v2/keys). */
bool api_auth_key_access(api_t *api, h2o_req_t *req, const api_auth_ident_t *id, const char *key,
                         size_t key_len, bool recursive, bool write);
/* etcd's hasRootAccess once the identity is known. */
bool api_auth_root_access(const api_auth_ident_t *id);
/* 401 {"message":"Insufficient credentials"} (etcd's writeNoAuth). */
void api_auth_send_no_auth(api_t *api, h2o_req_t *req);
/*
 * Runs cont when the request may go on as root (etcd's hasRootAccess), or
 * answers 401 itself.
 */
typedef void (*api_auth_then)(api_t *api, h2o_req_t *req, void *arg);
void api_auth_require_root(api_t *api, h2o_req_t *req, api_auth_then then, void *arg);

/* Per-process auth state hung on api_t. */
typedef struct api_auth {
    api_auth_hasher_t *hasher;
    bool ensured; /* etcd's ensuredOnce: directories created by this process */
    struct api_auth_cache *cache;
    /* api_config_t's client_cert_auth and client_cert_cn (the TLS side's hook). */
    const char *(*cert_cn)(void *req);
    bool client_cert_auth;
    /*
     * The enabled flag as last read (api_auth_enabled), valid while the
     * store stays at enabled_index: every change to the store moves its
     * index, so the flag cannot have changed in between.
     */
    const store_t *enabled_store;
    uint64_t enabled_index;
    bool enabled_known; /* the fields below hold a read */
    bool enabled_found; /* the flag's key exists */
    bool enabled_on;
} api_auth_t;

void api_auth_init(api_t *api);
void api_auth_dispose(api_t *api);

/* Pool helpers. */
char *api_auth_pool_dup(h2o_mem_pool_t *pool, const char *s, size_t len);

#endif /* METCD_API_AUTH_INT_H */
