/* src/peer/peer_set.c - the members a transport talks to, the IDs removed
 * from the cluster, and the counters per member. A linear array: clusters
 * have a handful of members (etcd recommends 3 to 7). */
#include <stdlib.h>
#include <string.h>

#include "src/peer/peer_int.h"

struct peer_entry *peer_set_find(const struct peer_set *s, uint64_t id)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i]->id == id)
            return s->v[i];
    return NULL;
}

static void free_urls(struct peer_entry *e)
{
    for (size_t i = 0; i < e->n_urls; i++)
        free(e->urls[i]);
    free(e->urls);
    e->urls = NULL;
    e->n_urls = 0;
}

void peer_set_set_urls(struct peer_entry *e, const char *const *urls, size_t n)
{
    free_urls(e);
    e->urls = peer_xcalloc(n, sizeof(*e->urls));
    for (size_t i = 0; i < n; i++)
        e->urls[i] = peer_xstrdup(urls[i]);
    e->n_urls = n;
    e->url_next = 0;
}

struct peer_entry *peer_set_add(struct peer_set *s, uint64_t id, const char *const *urls, size_t n)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = peer_xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    struct peer_entry *e = peer_xcalloc(1, sizeof(*e));
    e->id = id;
    peer_set_set_urls(e, urls, n);
    s->v[s->n++] = e;
    return e;
}

void peer_set_remove(struct peer_set *s, uint64_t id)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i]->id != id)
            continue;
        free_urls(s->v[i]);
        free(s->v[i]);
        s->v[i] = s->v[--s->n];
        break;
    }
    if (peer_set_is_removed(s, id))
        return;
    if (s->n_removed == s->cap_removed) {
        s->cap_removed = s->cap_removed ? s->cap_removed * 2 : 8;
        s->removed = peer_xrealloc(s->removed, s->cap_removed * sizeof(*s->removed));
    }
    s->removed[s->n_removed++] = id;
}

bool peer_set_is_removed(const struct peer_set *s, uint64_t id)
{
    for (size_t i = 0; i < s->n_removed; i++)
        if (s->removed[i] == id)
            return true;
    return false;
}

void peer_set_dispose(struct peer_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free_urls(s->v[i]);
        free(s->v[i]);
    }
    free(s->v);
    free(s->removed);
    memset(s, 0, sizeof(*s));
}

int peer_urls_check(const char *const *urls, size_t n, bool tls)
{
    if (n == 0)
        return PEER_EURL;
    for (size_t i = 0; i < n; i++) {
        int rc = peer_url_check(urls[i]);
        if (rc && !(rc == PEER_ETLS && tls))
            return rc;
    }
    return 0;
}
