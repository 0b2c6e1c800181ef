/* The member table: see src/membership/membership.h. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/endian.h"
#include "src/membership/member_id.h"
#include "src/membership/membership.h"

#define MEMBER_ENC_VERSION     1
#define MEMBERSHIP_ENC_VERSION 1

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        abort(); /* one policy outside raft/: out of memory ends the process */
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **copy_strs(const char *const *v, size_t n, bool sort)
{
    char **out = xmalloc(n * sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    /* etcd keeps peer URLs sorted (types.NewURLs); IDs depend on it. */
    if (sort)
        qsort(out, n, sizeof(*out), str_cmp);
    return out;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void membership_member_free(membership_member_t *mb)
{
    free(mb->name);
    free_strs(mb->peer_urls, mb->n_peer_urls);
    free_strs(mb->client_urls, mb->n_client_urls);
    memset(mb, 0, sizeof(*mb));
}

static void member_copy(membership_member_t *dst, const membership_member_t *src)
{
    dst->id = src->id;
    dst->name = xstrdup(src->name ? src->name : "");
    dst->peer_urls = copy_strs((const char *const *)src->peer_urls, src->n_peer_urls, true);
    dst->n_peer_urls = src->n_peer_urls;
    dst->client_urls = copy_strs((const char *const *)src->client_urls, src->n_client_urls, false);
    dst->n_client_urls = src->n_client_urls;
}

void membership_init(membership_t *m, uint64_t cluster_id)
{
    memset(m, 0, sizeof(*m));
    m->cluster_id = cluster_id;
}

void membership_free(membership_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        membership_member_free(&m->members[i]);
    free(m->members);
    free(m->removed);
    memset(m, 0, sizeof(*m));
}

void membership_copy(membership_t *dst, const membership_t *src)
{
    membership_init(dst, src->cluster_id);
    dst->members = xmalloc(src->n * sizeof(*dst->members));
    for (size_t i = 0; i < src->n; i++)
        member_copy(&dst->members[i], &src->members[i]);
    dst->n = src->n;
    dst->removed = xmalloc(src->n_removed * sizeof(*dst->removed));
    if (src->n_removed > 0)
        memcpy(dst->removed, src->removed, src->n_removed * sizeof(*dst->removed));
    dst->n_removed = src->n_removed;
}

static membership_member_t *find(const membership_t *m, uint64_t id)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->members[i].id == id)
            return &m->members[i];
    return NULL;
}

const membership_member_t *membership_find(const membership_t *m, uint64_t id)
{
    return find(m, id);
}

const membership_member_t *membership_find_peer_url(const membership_t *m, const char *url)
{
    for (size_t i = 0; i < m->n; i++)
        for (size_t j = 0; j < m->members[i].n_peer_urls; j++)
            if (strcmp(m->members[i].peer_urls[j], url) == 0)
                return &m->members[i];
    return NULL;
}

bool membership_is_removed(const membership_t *m, uint64_t id)
{
    for (size_t i = 0; i < m->n_removed; i++)
        if (m->removed[i] == id)
            return true;
    return false;
}

int membership_add(membership_t *m, const membership_member_t *mb)
{
    if (membership_is_removed(m, mb->id))
        return -1;
    membership_member_t *old = find(m, mb->id);
    if (old != NULL)
        return membership_update_peer_urls(m, mb->id, (const char *const *)mb->peer_urls,
                                           mb->n_peer_urls);
    m->members = realloc(m->members, (m->n + 1) * sizeof(*m->members));
    if (m->members == NULL)
        abort();
    size_t at = 0;
    while (at < m->n && m->members[at].id < mb->id)
        at++;
    memmove(&m->members[at + 1], &m->members[at], (m->n - at) * sizeof(*m->members));
    member_copy(&m->members[at], mb);
    m->n++;
    return 0;
}

int membership_remove(membership_t *m, uint64_t id)
{
    membership_member_t *mb = find(m, id);
    if (mb == NULL)
        return -1;
    size_t at = (size_t)(mb - m->members);
    membership_member_free(mb);
    memmove(&m->members[at], &m->members[at + 1], (m->n - at - 1) * sizeof(*m->members));
    m->n--;
    m->removed = realloc(m->removed, (m->n_removed + 1) * sizeof(*m->removed));
    if (m->removed == NULL)
        abort();
    m->removed[m->n_removed++] = id;
    return 0;
}

int membership_update_peer_urls(membership_t *m, uint64_t id, const char *const *urls, size_t n)
{
    membership_member_t *mb = find(m, id);
    if (mb == NULL)
        return -1;
    free_strs(mb->peer_urls, mb->n_peer_urls);
    mb->peer_urls = copy_strs(urls, n, true);
    mb->n_peer_urls = n;
    return 0;
}

int membership_set_attributes(membership_t *m, uint64_t id, const char *name,
                              const char *const *client_urls, size_t n)
{
    membership_member_t *mb = find(m, id);
    if (mb == NULL)
        return -1;
    free(mb->name);
    mb->name = xstrdup(name);
    free_strs(mb->client_urls, mb->n_client_urls);
    mb->client_urls = copy_strs(client_urls, n, false);
    mb->n_client_urls = n;
    return 0;
}

int membership_from_initial_cluster(membership_t *m, const char *const *names,
                                    const char *const *urls, size_t n, const char *token, char *err,
                                    size_t err_len)
{
    membership_init(m, 0);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(urls[i], urls[j]) == 0) {
                /* etcd's words: "initial cluster ... has duplicate url". */
                snprintf(err, err_len, "initial cluster has duplicate url %s (members %s and %s)",
                         urls[i], names[j], names[i]);
                return -1;
            }
    const char **mine = xmalloc(n * sizeof(*mine));
    uint64_t *ids = xmalloc(n * sizeof(*ids));
    size_t n_ids = 0;
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen = seen || strcmp(names[i], names[j]) == 0;
        if (seen)
            continue;
        /* Every URL of this name: one member (etcd's NewClusterFromURLsMap). */
        size_t k = 0;
        for (size_t j = 0; j < n; j++)
            if (strcmp(names[i], names[j]) == 0)
                mine[k++] = urls[j];
        membership_member_t mb = {.id = member_id_compute(mine, k, token),
                                  .name = (char *)names[i],
                                  .peer_urls = (char **)mine,
                                  .n_peer_urls = k};
        membership_add(m, &mb);
        ids[n_ids++] = mb.id;
    }
    m->cluster_id = cluster_id_compute(ids, n_ids);
    free(ids);
    free(mine);
    return 0;
}

/* ---- encodings ---- */

typedef struct wbuf {
    uint8_t *p;
    size_t len, cap;
} wbuf_t;

static void w_bytes(wbuf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL)
            abort();
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void w_u32(wbuf_t *b, uint32_t v)
{
    uint8_t x[4];
    le_put32(x, v);
    w_bytes(b, x, 4);
}

static void w_u64(wbuf_t *b, uint64_t v)
{
    uint8_t x[8];
    le_put64(x, v);
    w_bytes(b, x, 8);
}

static void w_str(wbuf_t *b, const char *s)
{
    size_t n = strlen(s);
    w_u32(b, (uint32_t)n);
    w_bytes(b, s, n);
}

static void w_strs(wbuf_t *b, char *const *v, size_t n)
{
    w_u32(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        w_str(b, v[i]);
}

typedef struct rbuf {
    const uint8_t *p;
    size_t len, off;
    bool bad;
} rbuf_t;

static const uint8_t *r_take(rbuf_t *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

static uint32_t r_u32(rbuf_t *r)
{
    const uint8_t *p = r_take(r, 4);
    return p ? le_get32(p) : 0;
}

static uint64_t r_u64(rbuf_t *r)
{
    const uint8_t *p = r_take(r, 8);
    return p ? le_get64(p) : 0;
}

static char *r_str(rbuf_t *r)
{
    uint32_t n = r_u32(r);
    const uint8_t *p = r_take(r, n);
    if (p == NULL || memchr(p, 0, n) != NULL) {
        r->bad = true;
        return xstrdup("");
    }
    char *s = xmalloc((size_t)n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static char **r_strs(rbuf_t *r, size_t *n_out)
{
    uint32_t n = r_u32(r);
    /* Every string takes at least its 4-byte length: do not trust counts. */
    if (n > (r->len - r->off) / 4) {
        r->bad = true;
        n = 0;
    }
    char **v = xmalloc(n * sizeof(*v));
    for (uint32_t i = 0; i < n; i++)
        v[i] = r_str(r);
    *n_out = n;
    return v;
}

static void member_write(wbuf_t *b, const membership_member_t *mb)
{
    w_u64(b, mb->id);
    w_str(b, mb->name ? mb->name : "");
    w_strs(b, mb->peer_urls, mb->n_peer_urls);
    w_strs(b, mb->client_urls, mb->n_client_urls);
}

static void member_read(rbuf_t *r, membership_member_t *mb)
{
    mb->id = r_u64(r);
    mb->name = r_str(r);
    mb->peer_urls = r_strs(r, &mb->n_peer_urls);
    mb->client_urls = r_strs(r, &mb->n_client_urls);
}

void membership_member_encode(const membership_member_t *mb, uint8_t **out, size_t *len)
{
    wbuf_t b = {0};
    uint8_t v = MEMBER_ENC_VERSION;
    w_bytes(&b, &v, 1);
    member_write(&b, mb);
    *out = b.p;
    *len = b.len;
}

int membership_member_decode(const uint8_t *data, size_t len, membership_member_t *mb)
{
    memset(mb, 0, sizeof(*mb));
    rbuf_t r = {.p = data, .len = len};
    const uint8_t *v = r_take(&r, 1);
    if (v == NULL || *v != MEMBER_ENC_VERSION)
        return -1;
    member_read(&r, mb);
    if (r.bad || r.off != len || mb->id == 0) {
        membership_member_free(mb);
        return -1;
    }
    return 0;
}

void membership_encode(const membership_t *m, uint8_t **out, size_t *len)
{
    wbuf_t b = {0};
    uint8_t v = MEMBERSHIP_ENC_VERSION;
    w_bytes(&b, &v, 1);
    w_u64(&b, m->cluster_id);
    w_u32(&b, (uint32_t)m->n);
    for (size_t i = 0; i < m->n; i++)
        member_write(&b, &m->members[i]);
    w_u32(&b, (uint32_t)m->n_removed);
    for (size_t i = 0; i < m->n_removed; i++)
        w_u64(&b, m->removed[i]);
    *out = b.p;
    *len = b.len;
}

int membership_decode(const uint8_t *data, size_t len, membership_t *m)
{
    rbuf_t r = {.p = data, .len = len};
    const uint8_t *v = r_take(&r, 1);
    if (v == NULL || *v != MEMBERSHIP_ENC_VERSION)
        return -1;
    membership_init(m, r_u64(&r));
    uint32_t n = r_u32(&r);
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        membership_member_t mb = {0};
        member_read(&r, &mb);
        if (!r.bad)
            membership_add(m, &mb);
        membership_member_free(&mb);
    }
    uint32_t nr = r_u32(&r);
    if (nr > (len - r.off) / 8)
        r.bad = true;
    for (uint32_t i = 0; i < nr && !r.bad; i++) {
        uint64_t id = r_u64(&r);
        m->removed = realloc(m->removed, (m->n_removed + 1) * sizeof(*m->removed));
        if (m->removed == NULL)
            abort();
        m->removed[m->n_removed++] = id;
    }
    if (r.bad || r.off != len) {
        membership_free(m);
        return -1;
    }
    return 0;
}

static json_t *json_strs(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

char *membership_members_json(const membership_t *m)
{
    json_t *a = json_array();
    for (size_t i = 0; i < m->n; i++) {
        const membership_member_t *mb = &m->members[i];
        json_t *o = json_object();
        /* A uint64 ID does not fit JSON's integers in every reader; jansson's
         * is a signed 64-bit integer, so the bits are kept as that. */
        json_object_set_new(o, "id", json_integer((json_int_t)mb->id));
        json_object_set_new(o, "name", json_string(mb->name ? mb->name : ""));
        json_object_set_new(o, "peerURLs", json_strs(mb->peer_urls, mb->n_peer_urls));
        json_object_set_new(o, "clientURLs", json_strs(mb->client_urls, mb->n_client_urls));
        json_array_append_new(a, o);
    }
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    if (s == NULL)
        abort();
    return s;
}
