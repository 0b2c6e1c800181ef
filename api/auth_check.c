/*
 * Who sent a request and what they may do: etcd's v2http client_auth.go
 * (userFromBasicAuth, hasKeyPrefixAccess, hasRootAccess, hasGuestAccess),
 * with the store reads in etcd's order.
 *
 * Password checks go to the bcrypt worker (auth_hash.c). A check that
 * succeeded is remembered: the user name, a keyed SHA-256 of the password
 * (the key is random per process, so the cache holds nothing a password
 * could be recovered from offline) and the stored hash it matched. A later
 * request with the same name and password is accepted without bcrypt while
 * the stored hash is unchanged; a new password, a deleted user or a wrong
 * password always goes to bcrypt. Failures are never cached, so guessing
 * stays as slow as bcrypt, and off the loop.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api/auth_int.h"
#include "common/log.h"

#define CACHE_SIZE 256
#define DIGEST_LEN 32

typedef struct cache_entry {
    char *name;
    size_t name_len;
    unsigned char digest[DIGEST_LEN];
    char *hash; /* the stored bcrypt hash the password matched */
} cache_entry_t;

struct api_auth_cache {
    unsigned char key[32];
    cache_entry_t e[CACHE_SIZE];
    unsigned next;
};

static void pw_digest(const struct api_auth_cache *c, const char *name, size_t name_len,
                      const char *pw, size_t pw_len, unsigned char out[DIGEST_LEN])
{
    /* SHA-256(key, name, 0, password): the fixed-length secret key comes first. */
    unsigned char sep = 0;
    unsigned int n = 0;
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    if (h == NULL || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1)
        abort();
    EVP_DigestUpdate(h, c->key, sizeof(c->key));
    EVP_DigestUpdate(h, name, name_len);
    EVP_DigestUpdate(h, &sep, 1);
    EVP_DigestUpdate(h, pw, pw_len);
    EVP_DigestFinal_ex(h, out, &n);
    EVP_MD_CTX_free(h);
}

static bool cache_hit(const struct api_auth_cache *c, const char *name, size_t name_len,
                      const unsigned char digest[DIGEST_LEN], const char *hash, size_t hash_len)
{
    for (unsigned i = 0; i < CACHE_SIZE; i++) {
        const cache_entry_t *e = &c->e[i];
        if (e->name != NULL && e->name_len == name_len && memcmp(e->name, name, name_len) == 0 &&
            CRYPTO_memcmp(e->digest, digest, DIGEST_LEN) == 0 && strlen(e->hash) == hash_len &&
            memcmp(e->hash, hash, hash_len) == 0)
            return true;
    }
    return false;
}

static void cache_add(struct api_auth_cache *c, const char *name, size_t name_len,
                      const unsigned char digest[DIGEST_LEN], const char *hash, size_t hash_len)
{
    cache_entry_t *e = &c->e[c->next++ % CACHE_SIZE];
    free(e->name);
    free(e->hash);
    e->name = malloc(name_len + 1);
    e->hash = malloc(hash_len + 1);
    if (e->name == NULL || e->hash == NULL)
        abort();
    memcpy(e->name, name, name_len);
    e->name[name_len] = '\0';
    e->name_len = name_len;
    memcpy(e->hash, hash, hash_len);
    e->hash[hash_len] = '\0';
    memcpy(e->digest, digest, DIGEST_LEN);
}

void api_auth_init(api_t *api)
{
    api_auth_t *a = calloc(1, sizeof(*a));
    struct api_auth_cache *c = calloc(1, sizeof(*c));
    if (a == NULL || c == NULL)
        abort();
    if (getrandom(c->key, sizeof(c->key), 0) != (ssize_t)sizeof(c->key))
        abort();
    a->cache = c;
    a->hasher = api_auth_hasher_new(api);
    a->client_cert_auth = api->cfg.client_cert_auth;
    a->cert_cn = api->cfg.client_cert_cn;
    api->auth = a;
}

void api_auth_dispose(api_t *api)
{
    api_auth_t *a = api->auth;
    if (a == NULL)
        return;
    api_auth_hasher_free(a->hasher);
    for (unsigned i = 0; i < CACHE_SIZE; i++) {
        free(a->cache->e[i].name);
        free(a->cache->e[i].hash);
    }
    OPENSSL_cleanse(a->cache, sizeof(*a->cache));
    free(a->cache);
    free(a);
    api->auth = NULL;
}

/* ---- Basic auth, as Go's Request.BasicAuth reads it ---- */

static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/*
 * Go's base64.StdEncoding.DecodeString: padded groups of four, '\r' and
 * '\n' skipped, nothing after the padding (unused bits are not checked:
 * the encoding is not Strict). out holds
 * len bytes. Returns the decoded length or -1.
 */
static ssize_t b64_decode(const char *s, size_t len, char *out)
{
    unsigned char q[4];
    size_t nq = 0, n = 0;
    bool ended = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\r' || ch == '\n')
            continue;
        if (ended)
            return -1;
        q[nq++] = ch;
        if (nq < 4)
            continue;
        nq = 0;
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (q[k] == '=') {
                if (k < 2)
                    return -1;
                pad++;
                v[k] = 0;
            } else {
                if (pad)
                    return -1;
                v[k] = b64_value(q[k]);
                if (v[k] < 0)
                    return -1;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[n++] = (char)(w >> 16);
        if (pad < 2)
            out[n++] = (char)(w >> 8);
        if (pad < 1)
            out[n++] = (char)w;
        if (pad)
            ended = true;
    }
    return nq == 0 ? (ssize_t)n : -1;
}

int api_auth_basic_parse(h2o_mem_pool_t *pool, const char *hv, size_t hl, const char **user,
                         size_t *user_len, const char **pw, size_t *pw_len)
{
    if (hl < 6 || strncasecmp(hv, "Basic ", 6) != 0)
        return -1;
    char *dec = h2o_mem_alloc_pool(pool, hl);
    ssize_t n = b64_decode(hv + 6, hl - 6, dec);
    if (n < 0)
        return -1;
    char *colon = memchr(dec, ':', (size_t)n);
    if (colon == NULL)
        return -1;
    *user = dec;
    *user_len = (size_t)(colon - dec);
    *pw = colon + 1;
    *pw_len = (size_t)n - *user_len - 1;
    return 0;
}

/* The first Authorization header (Go's Header.Get), or NULL when absent or empty. */
static h2o_iovec_t *auth_header(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i == -1)
        return NULL;
    /* Go's textproto drops the whitespace around a header value. */
    h2o_iovec_t *v = h2o_mem_alloc_pool(&req->pool, sizeof(*v));
    *v = req->headers.entries[i].value;
    while (v->len > 0 && (v->base[0] == ' ' || v->base[0] == '\t')) {
        v->base++;
        v->len--;
    }
    while (v->len > 0 && (v->base[v->len - 1] == ' ' || v->base[v->len - 1] == '\t'))
        v->len--;
    return v->len == 0 ? NULL : v;
}

/* ---- Identify ---- */

typedef struct ident_wait {
    api_t *api;
    h2o_req_t *req;
    api_auth_cont cont;
    void *arg;
    api_auth_ident_t id;
    unsigned char digest[DIGEST_LEN];
} ident_wait_t;

static void log_bad_password(const api_auth_user_t *u)
{
    log_line('W', "etcdserver/api/v2http", "auth: incorrect password for user: %.*s",
             (int)(u->name_len > 128 ? 128 : u->name_len), u->name);
}

static void on_checked(void *ctx, bool ok, const char *hash)
{
    (void)hash;
    ident_wait_t *w = ctx;
    api_auth_t *a = w->api->auth;
    if (ok) {
        cache_add(a->cache, w->id.user.name, w->id.user.name_len, w->digest, w->id.user.password,
                  w->id.user.password_len);
    } else {
        w->api->metrics->failed_logins++;
        log_bad_password(&w->id.user);
        w->id.who = API_AUTH_BAD;
    }
    w->cont(w->api, w->req, &w->id, w->arg);
}

static void bad_login(api_t *api, h2o_req_t *req, api_auth_cont cont, void *arg)
{
    api->metrics->failed_logins++;
    api_auth_ident_t id = {.who = API_AUTH_BAD};
    cont(api, req, &id, arg);
}

void api_auth_identify(api_t *api, h2o_req_t *req, api_auth_cont cont, void *arg)
{
    api_auth_ident_t id = {.who = API_AUTH_OFF};
    if (!api_auth_enabled(api)) {
        cont(api, req, &id, arg);
        return;
    }
    h2o_iovec_t *h = auth_header(req);
    store_error_t err = {0};
    if (h == NULL) {
        /*
         * etcd's userFromClientCertificate: with --client-cert-auth, the
         * verified client certificate's common name names the user.
         */
        const char *cn = api->auth->client_cert_auth && api->auth->cert_cn != NULL
                             ? api->auth->cert_cn(req)
                             : NULL;
        if (cn != NULL && api_auth_get_user(api, &req->pool, cn, strlen(cn), &id.user, &err) == 0) {
            id.who = API_AUTH_USER;
            cont(api, req, &id, arg);
            return;
        }
        store_error_clear(&err);
        id.who = API_AUTH_GUEST;
        cont(api, req, &id, arg);
        return;
    }
    const char *name, *pw;
    size_t name_len, pw_len;
    if (api_auth_basic_parse(&req->pool, h->base, h->len, &name, &name_len, &pw, &pw_len) != 0) {
        log_line('W', "etcdserver/api/v2http", "auth: malformed basic auth encoding");
        bad_login(api, req, cont, arg);
        return;
    }
    if (api_auth_get_user(api, &req->pool, name, name_len, &id.user, &err) != 0) {
        store_error_clear(&err);
        bad_login(api, req, cont, arg);
        return;
    }
    id.who = API_AUTH_USER;
    ident_wait_t *w = h2o_mem_alloc_pool(&req->pool, sizeof(*w));
    *w = (ident_wait_t){.api = api, .req = req, .cont = cont, .arg = arg, .id = id};
    pw_digest(api->auth->cache, name, name_len, pw, pw_len, w->digest);
    if (cache_hit(api->auth->cache, name, name_len, w->digest, id.user.password,
                  id.user.password_len)) {
        cont(api, req, &id, arg);
        return;
    }
    char *hash = api_auth_pool_dup(&req->pool, id.user.password, id.user.password_len);
    api_auth_hash_submit(api->auth->hasher, req, req->conn, pw, pw_len, hash, on_checked, w);
}

/* ---- Access ---- */

/* etcd's simpleMatch / prefixMatch. An empty pattern matches nothing (etcd panics on it). */
static bool pattern_match(const char *pat, size_t pl, const char *key, size_t kl, bool prefix_only)
{
    if (pl == 0)
        return false;
    if (pat[pl - 1] == '*')
        return kl >= pl - 1 && memcmp(key, pat, pl - 1) == 0;
    return !prefix_only && kl == pl && memcmp(key, pat, pl) == 0;
}

static bool role_access(const api_auth_role_t *r, const char *key, size_t kl, bool recursive,
                        bool write)
{
    if (r->name_len == 4 && memcmp(r->name, "root", 4) == 0)
        return true;
    const api_auth_list_t *l = write ? &r->perms.write : &r->perms.read;
    for (size_t i = 0; i < l->n; i++)
        if (pattern_match(l->v[i], l->lens[i], key, kl, recursive))
            return true;
    return false;
}

bool api_auth_key_access(api_t *api, h2o_req_t *req, const api_auth_ident_t *id, const char *key,
                         size_t key_len, bool recursive, bool write)
{
    api_auth_role_t role;
    store_error_t err = {0};
    switch (id->who) {
    case API_AUTH_OFF:
        return true;
    case API_AUTH_BAD:
        return false;
    case API_AUTH_GUEST:
        /* etcd's hasGuestAccess checks the key alone, even for a recursive request. */
        if (api_auth_get_role(api, &req->pool, "guest", 5, &role, &err) != 0) {
            store_error_clear(&err);
            return false;
        }
        return role_access(&role, key, key_len, false, write);
    case API_AUTH_USER:
        break;
    }
    for (size_t i = 0; i < id->user.roles.n; i++) {
        if (api_auth_get_role(api, &req->pool, id->user.roles.v[i], id->user.roles.lens[i], &role,
                              &err) != 0) {
            store_error_clear(&err);
            continue;
        }
        if (role_access(&role, key, key_len, recursive, write))
            return true;
    }
    log_line('W', "etcdserver/api/v2http", "auth: invalid access for user %.*s on key %.*s.",
             (int)(id->user.name_len > 128 ? 128 : id->user.name_len), id->user.name,
             (int)(key_len > 256 ? 256 : key_len), key);
    return false;
}

bool api_auth_root_access(const api_auth_ident_t *id)
{
    switch (id->who) {
    case API_AUTH_OFF:
        return true;
    case API_AUTH_USER:
        return api_auth_list_has(&id->user.roles, "root", 4);
    default:
        return false;
    }
}

void api_auth_send_no_auth(api_t *api, h2o_req_t *req)
{
    api_send(api, req, 401, "application/json",
             H2O_STRLIT("{\"message\":\"Insufficient credentials\"}"));
}

typedef struct root_gate {
    api_auth_then then;
    void *arg;
} root_gate_t;

static void on_root_ident(api_t *api, h2o_req_t *req, const api_auth_ident_t *id, void *arg)
{
    root_gate_t *g = arg;
    /*
     * etcd's hasRootAccess: without an Authorization header and without a
     * certificate user there is no guest fallback.
     */
    if (!api_auth_root_access(id)) {
        api_auth_send_no_auth(api, req);
        return;
    }
    g->then(api, req, g->arg);
}

void api_auth_require_root(api_t *api, h2o_req_t *req, api_auth_then then, void *arg)
{
    root_gate_t *g = h2o_mem_alloc_pool(&req->pool, sizeof(*g));
    g->then = then;
    g->arg = arg;
    api_auth_identify(api, req, on_root_ident, g);
}
