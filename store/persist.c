/*
 * store/persist.c: the store's image in a storage engine (store/engine.h).
 *
 * With an engine attached, every change the store makes to its tree is
 * also written to the engine's open batch, and store_commit() writes that
 * batch with the applied raft index, the store index, the last request
 * time and the /v2/stats/store counters in one atomic step. A restart then
 * rebuilds the store from the engine (store_open_engine) and replays only
 * the log after the engine's applied index.
 *
 * Engine paths:
 *   /k<v2 path>       one record per node ("/k/a/b" for "/a/b"); the root
 *                     has none. Value: flags (1 dir, 2 ttl), created and
 *                     modified index, the deadline when ttl, then a file's
 *                     value bytes.
 *   /l/<created>-<length>
 *                     a node whose path makes a key longer than the engine
 *                     stores (LMDB: 511 bytes), with its path in the record
 *                     (flag 4, then the path's length and bytes, before the
 *                     value). etcd has no key length limit, so neither has
 *                     the store on any engine. The name is unique: nodes
 *                     created by one request (a key and its new parents)
 *                     share the created index but not the path length.
 *   /h/<index>        the event history, one record per event, named by its
 *                     index in 20 digits so that key order is index order:
 *                     waitIndex works across a restart as it does in etcd,
 *                     whose v2 snapshots carry the history.
 *   TTL index         (deadline, v2 path) for every node with a TTL, so that
 *                     a start reads those nodes without a scan of every key.
 *   /t/<created>-<length>
 *                     the TTL entry of a node whose path is too long for the
 *                     TTL index's keys: the path, for the same purpose.
 * The metadata's counters are the 15 of /v2/stats/store and then the number
 * of nodes. Data written before the TTL index existed has 15: its first
 * start reads every node, writes the index and goes on as a cache.
 * Integers are little-endian 64-bit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/endian.h"
#include "store/engine_int.h"
#include "store/store_int.h"

#define REC_DIR         0x01
#define REC_TTL         0x02
#define REC_PATH        0x04
#define REC_FIXED       (1 + 8 + 8)
#define EV_HAS_PREV     0x01
#define EV_REFRESH      0x02
#define EVN_DIR         0x01
#define EVN_VALUE       0x02
#define EV_NAME_LEN     20
#define NODE_PREFIX     PERSIST_NODE_DIR
#define NODE_PREFIX_LEN PERSIST_NODE_DIR_LEN
#define LONG_DIR        PERSIST_APART_DIR
/* Below this many bytes of path no engine's key limit is reached: no check. */
#define LONG_MIN_PATH 200
#define HISTORY_DIR   "/h"
#define TTL_LONG_DIR  "/t"
#define STATS_COUNT   15
/* The counters, then the node count (see above). */
#define META_COUNT (STATS_COUNT + 1)

/* "/k" + path ("/k" for the root) in s->pbuf; returns its length. */
size_t persist_node_key(store_t *s, const char *path, size_t len)
{
    if (len == 1 && path[0] == '/')
        len = 0;
    s->pbuf.len = 0;
    engine_buf_add(&s->pbuf, NODE_PREFIX, NODE_PREFIX_LEN);
    engine_buf_add(&s->pbuf, path, len);
    engine_buf_byte(&s->pbuf, 0);
    return --s->pbuf.len;
}

/*
 * The engine path of n's record in s->pbuf: "/k" + path, or when that makes
 * too long a key, "/l/<created>-<length>" (*apart set). Returns its length.
 */
/* "<dir>/<created in 20 digits>-<path length>" in out: the name of a record
 * that stands for a path too long for the engine's keys. Its length. */
static size_t apart_name(char out[64], const char *dir, uint64_t created, size_t path_len)
{
    return (size_t)snprintf(out, 64, "%s/%020" PRIu64 "-%zu", dir, created, path_len);
}

static size_t record_path_of(store_t *s, const char *path, size_t path_len, uint64_t created,
                             bool *apart)
{
    size_t plen = persist_node_key(s, path, path_len);
    *apart = false;
    if (path_len < LONG_MIN_PATH || engine_path_fits(s->engine, (const char *)s->pbuf.p, plen) == 0)
        return plen;
    *apart = true;
    char name[64];
    size_t l = apart_name(name, LONG_DIR, created, path_len);
    s->pbuf.len = 0;
    engine_buf_add(&s->pbuf, name, l);
    engine_buf_byte(&s->pbuf, 0);
    return --s->pbuf.len;
}

static size_t record_path(store_t *s, const tnode_t *n, bool *apart)
{
    return record_path_of(s, n->path, n->path_len, n->created_index, apart);
}

bool persist_is_apart(store_t *s, const tnode_t *n)
{
    if (!s->engine || n->path_len < LONG_MIN_PATH)
        return false;
    bool apart;
    record_path(s, n, &apart);
    return apart;
}

static size_t event_path(char out[40], uint64_t index)
{
    return (size_t)snprintf(out, 40, HISTORY_DIR "/%020" PRIu64, index);
}

static engine_batch_t *batch(store_t *s)
{
    if (!s->batch)
        s->batch = engine_batch_begin(s->engine);
    return s->batch;
}

static void note(store_t *s, int rc)
{
    if (rc < 0 && s->persist_rc == 0)
        s->persist_rc = rc;
}

static void add_u64(engine_buf_t *b, uint64_t v)
{
    uint8_t x[8];
    le_put64(x, v);
    engine_buf_add(b, x, 8);
}

void persist_record(store_t *s, const persist_rec_t *rec)
{
    if (!s->engine)
        return;
    bool apart;
    size_t plen = record_path_of(s, rec->path, rec->path_len, rec->created, &apart);
    engine_buf_t *r = &s->rbuf;
    r->len = 0;
    engine_buf_byte(
        r, (uint8_t)((rec->dir ? REC_DIR : 0) | (rec->ttl ? REC_TTL : 0) | (apart ? REC_PATH : 0)));
    add_u64(r, rec->created);
    add_u64(r, rec->modified);
    if (rec->ttl)
        add_u64(r, (uint64_t)rec->expire);
    if (apart) {
        add_u64(r, rec->path_len);
        engine_buf_add(r, rec->path, rec->path_len);
    }
    if (!rec->dir && rec->value_len)
        engine_buf_add(r, rec->value, rec->value_len);
    note(s, engine_batch_put(batch(s), (const char *)s->pbuf.p, plen, r->p, r->len));
}

persist_rec_t persist_rec_of(const tnode_t *n)
{
    return (persist_rec_t){.dir = n->dir,
                           .ttl = tnode_has_ttl(n),
                           .created = n->created_index,
                           .modified = n->modified_index,
                           .expire = n->expire_ns,
                           .path = n->path,
                           .path_len = n->path_len,
                           .value = n->value,
                           .value_len = n->value_len};
}

void persist_node(store_t *s, const tnode_t *n)
{
    persist_rec_t rec = persist_rec_of(n);
    persist_record(s, &rec);
}

uint64_t persist_remove(store_t *s, const tnode_t *n)
{
    if (!s->engine)
        return 0;
    bool apart;
    size_t plen = record_path(s, n, &apart);
    const char *p = (const char *)s->pbuf.p;
    /* A file has no descendants: a point delete, not a range scan. Records
     * kept apart go one by one (persist_remove_long). */
    if (!n->dir || apart) {
        note(s, engine_batch_delete(batch(s), p, plen));
        return 1;
    }
    int rc = engine_batch_delete_subtree(batch(s), p, plen);
    note(s, rc);
    return rc > 0 ? (uint64_t)rc : 0;
}

uint64_t persist_remove_long(store_t *s, const tnode_t *n)
{
    if (!s->engine || n->path_len < LONG_MIN_PATH)
        return 0;
    bool apart;
    size_t plen = record_path(s, n, &apart);
    if (!apart)
        return 0;
    note(s, engine_batch_delete(batch(s), (const char *)s->pbuf.p, plen));
    return 1;
}

void persist_ttl_of(store_t *s, const char *path, size_t path_len, uint64_t created, bool add,
                    int64_t deadline)
{
    if (!s->engine)
        return;
    int rc = add ? engine_batch_ttl_add(batch(s), deadline, path, path_len)
                 : engine_batch_ttl_remove(batch(s), deadline, path, path_len);
    if (rc != -ENAMETOOLONG) {
        note(s, rc);
        return;
    }
    /* Too long a key for the index: a record named like the ones kept
     * apart (unique among live nodes), holding the path. */
    char name[64];
    size_t l = apart_name(name, TTL_LONG_DIR, created, path_len);
    note(s, add ? engine_batch_put(batch(s), name, l, path, path_len)
                : engine_batch_delete(batch(s), name, l));
}

void persist_ttl(store_t *s, const tnode_t *n, bool add, int64_t deadline)
{
    persist_ttl_of(s, n->path, n->path_len, n->created_index, add, deadline);
}

static void add_event_node(engine_buf_t *b, const store_node_t *n)
{
    engine_buf_byte(b, (uint8_t)((n->dir ? EVN_DIR : 0) | (n->value ? EVN_VALUE : 0)));
    add_u64(b, n->key_len);
    engine_buf_add(b, n->key, n->key_len);
    if (n->value) {
        add_u64(b, n->value_len);
        engine_buf_add(b, n->value, n->value_len);
    }
    add_u64(b, (uint64_t)n->expiration_ns);
    add_u64(b, (uint64_t)n->ttl);
    add_u64(b, n->modified_index);
    add_u64(b, n->created_index);
}

static void put_event(store_t *s, const store_event_t *ev)
{
    engine_buf_t *r = &s->rbuf;
    r->len = 0;
    engine_buf_byte(r, (uint8_t)ev->action);
    engine_buf_byte(
        r, (uint8_t)((ev->has_prev_node ? EV_HAS_PREV : 0) | (ev->refresh ? EV_REFRESH : 0)));
    add_u64(r, ev->etcd_index);
    add_event_node(r, &ev->node);
    if (ev->has_prev_node)
        add_event_node(r, &ev->prev_node);
    char name[40];
    size_t nl = event_path(name, ev->node.modified_index);
    note(s, engine_batch_put(batch(s), name, nl, r->p, r->len));
}

void persist_event(store_t *s, const store_event_t *ev, const store_event_t *evicted)
{
    if (!s->engine)
        return;
    if (evicted) {
        char name[40];
        size_t nl = event_path(name, evicted->node.modified_index);
        note(s, engine_batch_delete(batch(s), name, nl));
    }
    put_event(s, ev);
}

/* ---- Commit and sync ---- */

static void meta_encode(const store_t *s, uint8_t out[META_COUNT * 8])
{
    uint64_t c[META_COUNT];
    store_stats_to_array(&s->stats, c);
    c[STATS_COUNT] = s->n_nodes;
    for (int i = 0; i < META_COUNT; i++)
        le_put64(out + 8 * i, c[i]);
}

/* store_commit and store_commit_start: `seal` hands the batch to the
 * engine's commit thread. */
static int commit(store_t *s, uint64_t applied_index, bool seal)
{
    if (!s->engine)
        return 0;
    int rc = s->persist_rc;
    if (rc) {
        /* A change that could not go into the batch: nothing of it may be
         * written, or the engine would hold part of an entry. */
        if (s->batch)
            engine_batch_abort(s->batch);
        s->batch = NULL;
        return rc;
    }
    uint8_t stats[META_COUNT * 8];
    meta_encode(s, stats);
    engine_meta_t m = {.applied_index = applied_index,
                       .store_index = s->index,
                       .last_request_ns = s->last_time_ns,
                       .stats = stats,
                       .stats_len = sizeof(stats)};
    rc = seal ? engine_batch_seal(batch(s), &m) : engine_batch_commit(batch(s), &m);
    s->batch = NULL;
    /* A sealed batch is still read (the engine's layer of it): nodes
     * evicted now are read back from it. */
    store_cache_trim(s);
    return rc;
}

int store_commit(store_t *s, uint64_t applied_index)
{
    return commit(s, applied_index, false);
}

int store_commit_start(store_t *s, uint64_t applied_index)
{
    return commit(s, applied_index, true);
}

bool store_commit_busy(const store_t *s)
{
    return s->engine && engine_commit_busy(s->engine);
}

int store_commit_fd(store_t *s)
{
    return s->engine ? engine_commit_fd(s->engine) : -1;
}

int store_commit_poll(store_t *s)
{
    return s->engine ? engine_commit_poll(s->engine) : 0;
}

int store_commit_wait(store_t *s)
{
    return s->engine ? engine_commit_wait(s->engine) : 0;
}

int store_sync(store_t *s)
{
    return s->engine ? engine_sync(s->engine) : 0;
}

engine_t *store_engine_detach(store_t *s)
{
    /* The tree becomes the whole store: read what it does not hold yet. */
    store_load_all(s);
    return store_engine_detach_unloaded(s);
}

engine_t *store_engine_detach_unloaded(store_t *s)
{
    s->partial = false; /* nothing to read from any more */
    if (s->batch)
        engine_batch_abort(s->batch);
    s->batch = NULL;
    s->persist_rc = 0;
    engine_t *e = s->engine;
    s->engine = NULL;
    return e;
}

bool store_has_engine(const store_t *s)
{
    return s->engine != NULL;
}

uint64_t store_applied_index(const store_t *s)
{
    return s->engine ? engine_meta(s->engine)->applied_index : 0;
}

const char *store_engine_error(const store_t *s)
{
    return s->engine ? engine_errmsg(s->engine) : "";
}

/* ---- Writing a whole store ---- */

/*
 * Every item of an iterator, copied, the iterator freed: an iterator must be
 * gone before the batch changes, and the items' pointers live only until
 * the engine is read again.
 */
typedef struct copied_item {
    int64_t deadline;
    size_t path_off, path_len, value_off, value_len; /* in copied_t.bytes */
} copied_item_t;

typedef struct copied {
    engine_buf_t bytes;
    copied_item_t *v;
    size_t n, cap;
} copied_t;

/* rc: what opening `it` returned (nothing read, `it` not set, when < 0).
 * Returns 0 or a negative errno; c is to be freed with copied_free either
 * way. */
static int copy_items(int rc, engine_iter_t *it, copied_t *c)
{
    engine_item_t item;
    if (rc < 0)
        return rc;
    while ((rc = engine_iter_next(it, &item)) == 1) {
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 64;
            c->v = store_xrealloc(c->v, c->cap * sizeof(*c->v));
        }
        copied_item_t *ci = &c->v[c->n++];
        *ci = (copied_item_t){item.deadline_ns, c->bytes.len, item.path_len, 0, item.value_len};
        engine_buf_add(&c->bytes, item.path, item.path_len);
        ci->value_off = c->bytes.len;
        engine_buf_add(&c->bytes, item.value, item.value_len);
    }
    engine_iter_free(it);
    return rc;
}

static const char *copied_path(const copied_t *c, size_t i)
{
    return (const char *)c->bytes.p + c->v[i].path_off;
}

static const uint8_t *copied_value(const copied_t *c, size_t i)
{
    return c->bytes.p + c->v[i].value_off;
}

static void copied_free(copied_t *c)
{
    engine_buf_free(&c->bytes);
    free(c->v);
}

/* Runs cb on every entry of the TTL index. Returns 0 or a negative errno. */
static int each_ttl_entry(store_t *s, void (*cb)(store_t *, int64_t, const char *, size_t))
{
    engine_iter_t *it = NULL;
    copied_t c = {0};
    int rc = engine_iter_due(engine_reader(s->engine), INT64_MAX, &it);
    rc = copy_items(rc, it, &c);
    for (size_t i = 0; rc == 0 && i < c.n; i++)
        cb(s, c.v[i].deadline, copied_path(&c, i), c.v[i].path_len);
    copied_free(&c);
    return rc;
}

static void drop_ttl_entry(store_t *s, int64_t deadline, const char *path, size_t len)
{
    note(s, engine_batch_ttl_remove(batch(s), deadline, path, len));
}

static void remove_ttl_index(store_t *s)
{
    note(s, each_ttl_entry(s, drop_ttl_entry));
    note(s, engine_batch_delete_subtree(batch(s), TTL_LONG_DIR, 2));
}

int store_engine_rewrite(store_t *s, engine_t *e, uint64_t applied_index)
{
    if (s->engine && s->engine != e)
        return -EINVAL;
    /* Every node first: the old image is the only copy of what the cache
     * does not hold (a no-op for a store loaded whole from a snapshot). */
    store_load_all(s);
    s->engine = e;
    if (s->batch)
        engine_batch_abort(s->batch);
    s->batch = NULL;
    s->persist_rc = 0;
    /* One batch: the old contents go and the new ones come in one commit,
     * so a crash leaves one or the other, never a mixture. The TTL index
     * is outside "/": its entries are removed one by one. */
    remove_ttl_index(s);
    note(s, engine_batch_delete_subtree(batch(s), "/", 1));
    /* Pre-order without recursion: parents before children. */
    size_t cap = 64, depth = 0;
    struct frame {
        const tnode_t *dir;
        uint32_t next;
    } *stack = store_xmalloc(cap * sizeof(*stack));
    stack[depth++] = (struct frame){s->root, 0};
    while (depth) {
        struct frame *f = &stack[depth - 1];
        if (f->next == f->dir->n_children) {
            depth--;
            continue;
        }
        const tnode_t *c = f->dir->children[f->next++];
        persist_node(s, c);
        if (tnode_has_ttl(c))
            persist_ttl(s, c, true, c->expire_ns);
        if (c->dir && c->n_children) {
            if (depth == cap) {
                cap *= 2;
                stack = store_xrealloc(stack, cap * sizeof(*stack));
            }
            stack[depth++] = (struct frame){c, 0};
        }
    }
    free(stack);
    for (uint32_t i = 0; i < s->history.count; i++)
        put_event(s, event_history_at(&s->history, i));
    s->partial = true;
    s->n_nodes = s->table.count - 1;
    return store_commit(s, applied_index);
}

/* ---- Reading it back ---- */

static store_t *open_fail(store_t *s, char *err, size_t err_len, const char *what, const char *path)
{
    if (err && err_len)
        snprintf(err, err_len, "%s: %s %s", engine_kind_name(engine_kind(s->engine)), what,
                 path ? path : "");
    s->engine = NULL; /* the caller keeps the engine */
    store_free(s);
    return NULL;
}

bool persist_decode_record(const uint8_t *v, size_t vl, bool apart, persist_rec_t *r)
{
    if (vl < REC_FIXED || (v[0] & ~(REC_DIR | REC_TTL | REC_PATH)) || !(v[0] & REC_PATH) != !apart)
        return false;
    r->dir = v[0] & REC_DIR;
    r->ttl = v[0] & REC_TTL;
    r->created = le_get64(v + 1);
    r->modified = le_get64(v + 9);
    size_t off = REC_FIXED;
    r->expire = 0;
    if (r->ttl) {
        if (vl < off + 8)
            return false;
        r->expire = (int64_t)le_get64(v + off);
        off += 8;
    }
    if (apart) {
        if (vl < off + 8 || le_get64(v + off) > vl - off - 8)
            return false;
        r->path_len = (size_t)le_get64(v + off);
        r->path = (const char *)v + off + 8;
        off += 8 + r->path_len;
    }
    if (r->dir && vl != off)
        return false;
    r->value = (const char *)v + off;
    r->value_len = vl - off;
    return r->path_len >= 2 && store_path_is_clean(r->path, r->path_len);
}

/*
 * A node record (apart: with its path inside, from LONG_DIR). *last_parent
 * is the parent of the node loaded before (NULL at first): the records of
 * one scan come in key order, where a directory's children are contiguous,
 * so most nodes find their parent there without a table lookup.
 */
static bool load_node(store_t *s, const engine_item_t *it, bool apart, tnode_t **last_parent)
{
    persist_rec_t r = {.path = apart ? "" : it->path + NODE_PREFIX_LEN,
                       .path_len = apart ? 0 : it->path_len - NODE_PREFIX_LEN};
    if (!persist_decode_record(it->value, it->value_len, apart, &r))
        return false;
    size_t dlen = store_path_parent_len(r.path, r.path_len);
    tnode_t *parent = *last_parent;
    if (!parent || parent->path_len != dlen || memcmp(parent->path, r.path, dlen) != 0)
        parent = store_lookup(s, r.path, dlen);
    /* A path met twice: only possible between a record apart and one of the
     * scan, whose keys are unique and decode one way each (engine_key.c). */
    if (!parent || !parent->dir || (apart && store_lookup(s, r.path, r.path_len)))
        return false;
    *last_parent = parent;
    store_attach_node(s, parent, &r);
    return true;
}

typedef struct dec {
    const uint8_t *p;
    size_t left;
    bool bad;
} dec_t;

static uint64_t d_u64(dec_t *d)
{
    if (d->bad || d->left < 8) {
        d->bad = true;
        return 0;
    }
    uint64_t v = le_get64(d->p);
    d->p += 8;
    d->left -= 8;
    return v;
}

static uint8_t d_u8(dec_t *d)
{
    if (d->bad || d->left < 1) {
        d->bad = true;
        return 0;
    }
    d->left--;
    return *d->p++;
}

static const char *d_str(dec_t *d, size_t *len)
{
    uint64_t n = d_u64(d);
    if (d->bad || n > d->left) {
        d->bad = true;
        *len = 0;
        return NULL;
    }
    const char *p = (const char *)d->p;
    d->p += n;
    d->left -= n;
    *len = (size_t)n;
    return p;
}

static bool d_event_node(dec_t *d, store_node_t *n)
{
    memset(n, 0, sizeof(*n));
    uint8_t flags = d_u8(d);
    n->dir = flags & EVN_DIR;
    n->key = d_str(d, &n->key_len);
    if (flags & EVN_VALUE)
        n->value = d_str(d, &n->value_len);
    n->expiration_ns = (int64_t)d_u64(d);
    n->ttl = (int64_t)d_u64(d);
    n->modified_index = d_u64(d);
    n->created_index = d_u64(d);
    return !d->bad && !(flags & ~(EVN_DIR | EVN_VALUE));
}

static bool load_event(store_t *s, const engine_item_t *it)
{
    dec_t d = {it->value, it->value_len, false};
    uint8_t action = d_u8(&d), flags = d_u8(&d);
    uint64_t etcd_index = d_u64(&d);
    store_node_t node, prev;
    if (!d_event_node(&d, &node))
        return false;
    if ((flags & EV_HAS_PREV) && !d_event_node(&d, &prev))
        return false;
    if (d.left || action < STORE_ACTION_SET || action > STORE_ACTION_EXPIRE ||
        (flags & ~(EV_HAS_PREV | EV_REFRESH)) || node.modified_index == 0 ||
        node.modified_index > s->index)
        return false;
    /* The history holds consecutive indexes; a gap means a record from an
     * older, longer history: start again from here. */
    if (s->history.count && node.modified_index != event_history_last(&s->history) + 1) {
        event_history_destroy(&s->history);
        if (event_history_init(&s->history, s->history_size) < 0)
            abort();
    }
    store_event_t *ev = store_event_new((store_action_t)action, &node,
                                        (flags & EV_HAS_PREV) ? &prev : NULL, etcd_index);
    ev->refresh = flags & EV_REFRESH;
    event_history_add(&s->history, ev);
    store_event_release(ev);
    return true;
}

/* The length of the path a record kept apart holds (0 when damaged). */
static size_t apart_path_len(const uint8_t *v, size_t vl)
{
    size_t off = REC_FIXED + (vl && (v[0] & REC_TTL) ? 8 : 0);
    return vl >= off + 8 ? (size_t)le_get64(v + off) : 0;
}

typedef struct apart_order {
    size_t path_len, i; /* the i-th copied record */
} apart_order_t;

static int apart_cmp(const void *a, const void *b)
{
    const apart_order_t *x = a, *y = b;
    return x->path_len < y->path_len ? -1 : x->path_len > y->path_len;
}

/*
 * The records kept apart, parents before children: their names do not sort
 * by path, so they are read first and inserted shortest path first (a
 * parent's path is shorter than its child's). Few: only very long paths.
 * On failure frees s and returns -1.
 */
static int load_apart(store_t *s, engine_t *e, char *err, size_t err_len)
{
    engine_iter_t *it = NULL;
    copied_t c = {0};
    int rc = engine_iter_children(engine_reader(e), LONG_DIR, 2, &it);
    rc = copy_items(rc, it, &c);
    bool ok = rc == 0;
    apart_order_t *order = store_xmalloc((c.n ? c.n : 1) * sizeof(*order));
    for (size_t i = 0; i < c.n; i++)
        order[i] = (apart_order_t){apart_path_len(copied_value(&c, i), c.v[i].value_len), i};
    if (c.n)
        qsort(order, c.n, sizeof(*order), apart_cmp);
    for (size_t k = 0; ok && k < c.n; k++) {
        size_t i = order[k].i;
        engine_item_t rec = {
            .path = "", .value = copied_value(&c, i), .value_len = c.v[i].value_len};
        tnode_t *none = NULL;
        ok = load_node(s, &rec, true, &none);
    }
    free(order);
    copied_free(&c);
    if (!ok) {
        open_fail(s, err, err_len, rc < 0 ? engine_errmsg(e) : "damaged node record", LONG_DIR);
        return -1;
    }
    return 0;
}

/* Every node record, for data written before the TTL index. On failure
 * frees s and returns -1. */
static int load_every_node(store_t *s, char *err, size_t err_len)
{
    tnode_t *last_parent = NULL;
    engine_iter_t *it;
    engine_item_t item;
    /* Key order puts every parent before its children, all load_node needs:
     * one range read instead of a depth-first walk's two seeks per node. */
    int rc = engine_iter_subtree(engine_reader(s->engine), NODE_PREFIX, NODE_PREFIX_LEN, &it);
    while (rc == 0 && (rc = engine_iter_next(it, &item)) == 1) {
        if (!load_node(s, &item, false, &last_parent)) {
            engine_iter_free(it);
            open_fail(s, err, err_len, "damaged node record", item.path);
            return -1;
        }
        rc = 0;
    }
    if (rc < 0) {
        open_fail(s, err, err_len, engine_errmsg(s->engine), NULL);
        return -1;
    }
    engine_iter_free(it);
    return 0;
}

static void load_ttl_node(store_t *s, int64_t deadline, const char *path, size_t len)
{
    (void)deadline;
    /* An entry whose node is gone or has no TTL any more is stale: the
     * node is what counts (engine.h: due entries are checked). */
    store_lookup(s, path, len);
}

/* The nodes with a TTL (and their parents): the expiry heap must hold
 * them all. On failure frees s and returns -1. */
static int load_ttl_nodes(store_t *s, char *err, size_t err_len)
{
    int rc = each_ttl_entry(s, load_ttl_node);
    engine_iter_t *it = NULL;
    copied_t c = {0};
    /* The entries too long for the index: each record holds the path. */
    if (rc == 0)
        rc = engine_iter_children(engine_reader(s->engine), TTL_LONG_DIR, 2, &it);
    if (rc == 0)
        rc = copy_items(rc, it, &c);
    for (size_t i = 0; rc == 0 && i < c.n; i++)
        store_lookup(s, (const char *)copied_value(&c, i), c.v[i].value_len);
    copied_free(&c);
    if (rc < 0) {
        open_fail(s, err, err_len, engine_errmsg(s->engine), NULL);
        return -1;
    }
    return 0;
}

store_t *store_open_engine(const store_config_t *cfg, engine_t *e, char *err, size_t err_len)
{
    store_t *s = store_new(cfg);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    s->engine = e;
    const engine_meta_t *m = engine_meta(e);
    s->index = m->store_index;
    s->last_time_ns = m->last_request_ns;
    bool legacy = m->stats_len == STATS_COUNT * 8;
    if (legacy || m->stats_len == META_COUNT * 8) {
        uint64_t c[META_COUNT];
        for (int i = 0; i < (legacy ? STATS_COUNT : META_COUNT); i++)
            c[i] = le_get64(m->stats + 8 * i);
        store_stats_from_array(&s->stats, c);
        s->n_nodes = legacy ? 0 : c[STATS_COUNT];
    } else if (m->stats_len != 0) {
        return open_fail(s, err, err_len, "damaged counters in the metadata", NULL);
    }
    if (legacy && load_every_node(s, err, err_len) != 0)
        return NULL;
    /* From here the tree is a cache of the image (store/cache.c). */
    s->partial = true;
    s->root->complete = legacy;
    if (load_apart(s, e, err, err_len) != 0)
        return NULL;
    if (!legacy && load_ttl_nodes(s, err, err_len) != 0)
        return NULL;
    if (legacy) {
        /* Data from before the TTL index: write it now, with the node
         * count, in the next commit (idempotent if that never comes). */
        for (uint32_t i = 0; i < s->heap.n; i++)
            persist_ttl(s, s->heap.a[i], true, s->heap.a[i]->expire_ns);
        s->n_nodes = s->table.count - 1;
    }
    size_t records = 0;
    engine_iter_t *it;
    engine_item_t item;
    int rc;
    rc = engine_iter_children(engine_reader(e), HISTORY_DIR, 2, &it);
    while (rc == 0 && (rc = engine_iter_next(it, &item)) == 1) {
        records++;
        if (!load_event(s, &item)) {
            engine_iter_free(it);
            return open_fail(s, err, err_len, "damaged event record", item.path);
        }
        rc = 0;
    }
    if (rc < 0)
        return open_fail(s, err, err_len, engine_errmsg(e), NULL);
    engine_iter_free(it);
    if (records != s->history.count) {
        /* Records the history no longer holds (it was longer before this
         * start, or had a gap): the next commit keeps only the ones held. */
        note(s, engine_batch_delete_subtree(batch(s), HISTORY_DIR, 2));
        for (uint32_t i = 0; i < s->history.count; i++)
            put_event(s, event_history_at(&s->history, i));
    }
    return s;
}
