/*
 * store/snapshot.c: saving the store to bytes and rebuilding it from them.
 * The format is documented in docs/snapshot-format.md; keep the two in step.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "store/store_int.h"

#define SNAP_MAGIC      "METCDSTR"
#define SNAP_MAGIC_LEN  8
#define SNAP_VERSION    2 /* 2 added last_time_ns; 1 still loads */
#define SNAP_HEADER_LEN (SNAP_MAGIC_LEN + 1 + 8)
#define NODE_DIR        0x01
#define NODE_TTL        0x02
#define EV_HAS_PREV     0x01
#define EV_REFRESH      0x02
#define EVNODE_DIR      0x01
#define EVNODE_VALUE    0x02
#define SAVE_BUF_SIZE   65536
#define STATS_COUNT     15

/* The order of the counters in snapshots and in the engine's metadata. */
#define STATS_FIELDS(X)                                                                            \
    X(gets_success)                                                                                \
    X(gets_fail)                                                                                   \
    X(sets_success)                                                                                \
    X(sets_fail)                                                                                   \
    X(delete_success)                                                                              \
    X(delete_fail)                                                                                 \
    X(update_success)                                                                              \
    X(update_fail)                                                                                 \
    X(create_success)                                                                              \
    X(create_fail)                                                                                 \
    X(compare_and_swap_success)                                                                    \
    X(compare_and_swap_fail)                                                                       \
    X(compare_and_delete_success)                                                                  \
    X(compare_and_delete_fail)                                                                     \
    X(expire_count)

void store_stats_to_array(const store_stats_t *st, uint64_t out[STATS_COUNT])
{
    size_t i = 0;
#define STATS_OUT(f) out[i++] = st->f;
    STATS_FIELDS(STATS_OUT)
#undef STATS_OUT
}

void store_stats_from_array(store_stats_t *st, const uint64_t in[STATS_COUNT])
{
    size_t i = 0;
    memset(st, 0, sizeof(*st));
#define STATS_IN(f) st->f = in[i++];
    STATS_FIELDS(STATS_IN)
#undef STATS_IN
}

/* ---- Writing ---- */

typedef struct writer {
    int (*write)(void *ctx, const void *buf, size_t len);
    void *ctx;
    uint8_t *buf;
    size_t used;
    uint32_t crc;
    int rc;
} writer_t;

static void w_flush(writer_t *w)
{
    if (w->rc == 0 && w->used) {
        w->crc = crc32c(w->crc, w->buf, w->used);
        w->rc = w->write(w->ctx, w->buf, w->used);
        if (w->rc > 0)
            w->rc = 0;
    }
    w->used = 0;
}

static void w_bytes(writer_t *w, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n && w->rc == 0) {
        if (w->used == SAVE_BUF_SIZE)
            w_flush(w);
        size_t k = SAVE_BUF_SIZE - w->used;
        if (k > n)
            k = n;
        memcpy(w->buf + w->used, b, k);
        w->used += k;
        b += k;
        n -= k;
    }
}

static void w_u8(writer_t *w, uint8_t v)
{
    w_bytes(w, &v, 1);
}

static void w_u64(writer_t *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    w_bytes(w, b, 8);
}

static void w_uvarint(writer_t *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    w_bytes(w, b, n);
}

static void w_string(writer_t *w, const char *s, size_t n)
{
    w_uvarint(w, n);
    if (n)
        w_bytes(w, s, n);
}

static void save_node(writer_t *w, const persist_rec_t *r)
{
    w_u8(w, (uint8_t)((r->dir ? NODE_DIR : 0) | (r->ttl ? NODE_TTL : 0)));
    w_string(w, r->path, r->path_len);
    w_uvarint(w, r->created);
    w_uvarint(w, r->modified);
    if (r->ttl)
        w_u64(w, (uint64_t)r->expire);
    if (!r->dir)
        w_string(w, r->value, r->value_len);
}

static void save_event_node(writer_t *w, const store_node_t *n)
{
    w_u8(w, (uint8_t)((n->dir ? EVNODE_DIR : 0) | (n->value ? EVNODE_VALUE : 0)));
    w_string(w, n->key, n->key_len);
    if (n->value)
        w_string(w, n->value, n->value_len);
    w_u64(w, (uint64_t)n->expiration_ns);
    w_u64(w, (uint64_t)n->ttl);
    w_uvarint(w, n->modified_index);
    w_uvarint(w, n->created_index);
}

static void save_header(writer_t *w, uint64_t index, uint64_t n_nodes, uint64_t n_events,
                        const store_stats_t *stats, int64_t last_time_ns)
{
    w_bytes(w, SNAP_MAGIC, SNAP_MAGIC_LEN);
    w_u8(w, SNAP_VERSION);
    w_u64(w, index);
    w_uvarint(w, n_nodes);
    w_uvarint(w, n_events);
    /* etcd keeps its store counters in its snapshots too. */
    uint64_t counters[STATS_COUNT];
    store_stats_to_array(stats, counters);
    for (int i = 0; i < STATS_COUNT; i++)
        w_uvarint(w, counters[i]);
    w_u64(w, (uint64_t)last_time_ns);
}

static void save_events(writer_t *w, const event_history_t *h)
{
    for (uint32_t i = 0; i < h->count; i++) {
        const store_event_t *ev = event_history_at(h, i);
        w_u8(w, (uint8_t)ev->action);
        w_u8(w, (uint8_t)((ev->has_prev_node ? EV_HAS_PREV : 0) | (ev->refresh ? EV_REFRESH : 0)));
        w_uvarint(w, ev->etcd_index);
        save_event_node(w, &ev->node);
        if (ev->has_prev_node)
            save_event_node(w, &ev->prev_node);
    }
}

/* Flushes, appends the CRC trailer and frees the buffer; returns w->rc. */
static int save_finish(writer_t *w)
{
    w_flush(w);
    if (w->rc == 0) {
        uint8_t trailer[4];
        for (int i = 0; i < 4; i++)
            trailer[i] = (uint8_t)(w->crc >> (8 * i));
        w->rc = w->write(w->ctx, trailer, 4);
        if (w->rc > 0)
            w->rc = 0;
    }
    free(w->buf);
    return w->rc;
}

int store_save(const store_t *s, int (*write)(void *ctx, const void *buf, size_t len), void *ctx)
{
    writer_t w = {.write = write, .ctx = ctx, .buf = malloc(SAVE_BUF_SIZE)};
    if (!w.buf)
        return -1;
    save_header(&w, s->index, s->table.count - 1, s->history.count, &s->stats, s->last_time_ns);

    /*
     * Pre-order, without recursion: every parent comes before its children.
     * Children go in bytewise order, so that members holding the same data
     * write the same bytes whatever order their listings left in memory.
     */
    size_t cap = 64, depth = 0;
    struct frame {
        tnode_t **kids; /* sorted copy, owned */
        uint32_t n;
        uint32_t next;
    } *stack = malloc(cap * sizeof(*stack));
    if (!stack) {
        free(w.buf);
        return -1;
    }
    stack[depth++] = (struct frame){tnode_children_sorted_copy(s->root), s->root->n_children, 0};
    while (depth) {
        struct frame *f = &stack[depth - 1];
        if (f->next == f->n || w.rc != 0) {
            free(f->kids);
            depth--;
            continue;
        }
        const tnode_t *c = f->kids[f->next++];
        persist_rec_t rec = persist_rec_of(c);
        save_node(&w, &rec);
        if (c->dir && c->n_children) {
            if (depth == cap) {
                cap *= 2;
                stack = store_xrealloc(stack, cap * sizeof(*stack));
            }
            stack[depth++] = (struct frame){tnode_children_sorted_copy(c), c->n_children, 0};
        }
    }
    free(stack);
    save_events(&w, &s->history);
    return save_finish(&w);
}

/* ---- Saving from an engine's view (another thread) ---- */

struct store_saver {
    engine_view_t *view;
    uint64_t index, n_nodes, n_events;
    store_stats_t stats;
    int64_t last_time_ns;
    uint8_t *events; /* the history section, encoded on the store's thread */
    size_t events_len;
    atomic_bool cancel;
};

static int mem_append(void *ctx, const void *buf, size_t len)
{
    store_saver_t *sv = ctx;
    sv->events = store_xrealloc(sv->events, sv->events_len + len);
    memcpy(sv->events + sv->events_len, buf, len);
    sv->events_len += len;
    return 0;
}

store_saver_t *store_saver_new(store_t *s)
{
    engine_kind_t k = s->engine ? engine_kind(s->engine) : 0;
    /* The memory engine's views share its values (engine.h); the store
     * must be committed, so that the view is the state it reports. */
    if ((k != ENGINE_LMDB && k != ENGINE_LEVELDB) || s->batch)
        return NULL;
    engine_view_t *v = engine_view_open(s->engine);
    if (!v)
        return NULL;
    /* Records kept apart are not in the path order the view walks: such a
     * store (very long paths) is saved from memory instead. */
    engine_iter_t *it;
    engine_item_t item;
    int rc = engine_iter_children(engine_view_reader(v), PERSIST_APART_DIR, 2, &it);
    if (rc == 0) {
        rc = engine_iter_next(it, &item);
        engine_iter_free(it);
    }
    if (rc != 0) {
        engine_view_close(v);
        return NULL;
    }
    store_saver_t *sv = store_xcalloc(1, sizeof(*sv));
    sv->view = v;
    sv->index = s->index;
    sv->n_nodes = s->n_nodes;
    sv->n_events = s->history.count;
    sv->stats = s->stats;
    sv->last_time_ns = s->last_time_ns;
    writer_t w = {.write = mem_append, .ctx = sv, .buf = store_xmalloc(SAVE_BUF_SIZE)};
    save_events(&w, &s->history);
    w_flush(&w);
    free(w.buf);
    atomic_init(&sv->cancel, false);
    return sv;
}

void store_saver_cancel(store_saver_t *sv)
{
    atomic_store(&sv->cancel, true);
}

int store_saver_run(store_saver_t *sv, int (*write)(void *ctx, const void *buf, size_t len),
                    void *ctx)
{
    writer_t w = {.write = write, .ctx = ctx, .buf = store_xmalloc(SAVE_BUF_SIZE)};
    save_header(&w, sv->index, sv->n_nodes, sv->n_events, &sv->stats, sv->last_time_ns);
    engine_view_lend(sv->view);
    /*
     * The nodes in the engine's key order, one range read (engine.h,
     * subtree): every parent before its children, which is all a load
     * needs, though not store_save's depth-first order. A depth-first walk
     * seeks twice per node, which on LevelDB merges every level each time
     * (20 times slower here).
     */
    engine_iter_t *it = NULL;
    engine_item_t item;
    uint64_t count = 0;
    int rc = engine_iter_subtree(engine_view_reader(sv->view), PERSIST_NODE_DIR,
                                 PERSIST_NODE_DIR_LEN, &it);
    while (rc == 0 && w.rc == 0 && (rc = engine_iter_next(it, &item)) == 1) {
        rc = 0;
        persist_rec_t r = {.path = item.path + PERSIST_NODE_DIR_LEN,
                           .path_len = item.path_len - PERSIST_NODE_DIR_LEN};
        if (atomic_load(&sv->cancel) ||
            !persist_decode_record(item.value, item.value_len, false, &r)) {
            rc = -1;
            break;
        }
        save_node(&w, &r);
        count++;
    }
    if (it)
        engine_iter_free(it);
    engine_view_return(sv->view);
    /* The count in the header was the store's: a difference means the view
     * is not the store it was taken for, and the file would not load. */
    if (rc != 0 || count != sv->n_nodes) {
        free(w.buf);
        return -1;
    }
    w_bytes(&w, sv->events, sv->events_len);
    return save_finish(&w);
}

void store_saver_free(store_saver_t *sv)
{
    if (!sv)
        return;
    engine_view_close(sv->view);
    free(sv->events);
    free(sv);
}

/* ---- Loading ---- */

typedef struct reader {
    const uint8_t *p;
    size_t left;
    bool bad;
} reader_t;

static const uint8_t *r_take(reader_t *r, size_t n)
{
    if (r->bad || n > r->left) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static uint8_t r_u8(reader_t *r)
{
    const uint8_t *p = r_take(r, 1);
    return p ? *p : 0;
}

static uint64_t r_u64(reader_t *r)
{
    const uint8_t *p = r_take(r, 8);
    uint64_t v = 0;
    if (p)
        for (int i = 0; i < 8; i++)
            v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t r_uvarint(reader_t *r)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < 10; i++) {
        const uint8_t *p = r_take(r, 1);
        if (!p)
            return 0;
        if (i == 9 && *p > 1)
            break;
        x |= (uint64_t)(*p & 0x7f) << (7 * i);
        if (!(*p & 0x80))
            return x;
    }
    r->bad = true;
    return 0;
}

static const char *r_string(reader_t *r, size_t *len)
{
    uint64_t n = r_uvarint(r);
    if (r->bad || n > r->left) {
        r->bad = true;
        *len = 0;
        return NULL;
    }
    *len = (size_t)n;
    return (const char *)r_take(r, (size_t)n);
}

static store_t *load_fail(store_t *s, char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    store_free(s);
    return NULL;
}

static bool load_event_node(reader_t *r, store_node_t *n)
{
    memset(n, 0, sizeof(*n));
    uint8_t flags = r_u8(r);
    if (flags & ~(EVNODE_DIR | EVNODE_VALUE))
        return false;
    n->dir = flags & EVNODE_DIR;
    n->key = r_string(r, &n->key_len);
    if (flags & EVNODE_VALUE) {
        n->value = r_string(r, &n->value_len);
        if (!n->value && !r->bad)
            n->value = "";
    }
    n->expiration_ns = (int64_t)r_u64(r);
    n->ttl = (int64_t)r_u64(r);
    n->modified_index = r_uvarint(r);
    n->created_index = r_uvarint(r);
    return !r->bad;
}

/*
 * What a parse of a snapshot hands out, one callback per part. Each returns
 * false to stop the parse (it has then set err).
 */
typedef struct snap_sink {
    void *ctx;
    bool (*header)(void *ctx, uint64_t index, const uint64_t counters[STATS_COUNT],
                   int64_t last_time_ns, char *err, size_t err_len);
    bool (*node)(void *ctx, uint64_t i, const persist_rec_t *rec, char *err, size_t err_len);
    /* ev: borrowed; only the events the history keeps (the newest `cap`). */
    bool (*event)(void *ctx, store_event_t *ev, char *err, size_t err_len);
    uint32_t history_cap;
} snap_sink_t;

static bool parse_fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool parse_fail(char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* Checks and reads a snapshot; false (err says why) when it is not valid. */
static bool snap_parse(const uint8_t *data, size_t len, const snap_sink_t *k, char *err,
                       size_t err_len)
{
    if (!data || len < SNAP_HEADER_LEN + 4 || memcmp(data, SNAP_MAGIC, SNAP_MAGIC_LEN) != 0)
        return parse_fail(err, err_len, "not a store snapshot");
    uint8_t version = data[SNAP_MAGIC_LEN];
    if (version != 1 && version != SNAP_VERSION)
        return parse_fail(err, err_len, "unknown snapshot version %u", version);
    uint32_t want = 0;
    for (int i = 0; i < 4; i++)
        want |= (uint32_t)data[len - 4 + (size_t)i] << (8 * i);
    if (crc32c(0, data, len - 4) != want)
        return parse_fail(err, err_len, "snapshot checksum mismatch");

    reader_t r = {data + SNAP_MAGIC_LEN + 1, len - 4 - SNAP_MAGIC_LEN - 1, false};
    uint64_t index = r_u64(&r);
    uint64_t n_nodes = r_uvarint(&r);
    uint64_t n_events = r_uvarint(&r);
    uint64_t c[STATS_COUNT];
    for (int i = 0; i < STATS_COUNT; i++)
        c[i] = r_uvarint(&r);
    int64_t last_time_ns = version >= 2 ? (int64_t)r_u64(&r) : 0;
    if (r.bad)
        return parse_fail(err, err_len, "truncated snapshot header");
    if (!k->header(k->ctx, index, c, last_time_ns, err, err_len))
        return false;

    for (uint64_t i = 0; i < n_nodes; i++) {
        uint8_t flags = r_u8(&r);
        persist_rec_t rec = {.dir = flags & NODE_DIR, .ttl = flags & NODE_TTL};
        rec.path = r_string(&r, &rec.path_len);
        rec.created = r_uvarint(&r);
        rec.modified = r_uvarint(&r);
        rec.expire = rec.ttl ? (int64_t)r_u64(&r) : 0;
        rec.value = rec.dir ? NULL : r_string(&r, &rec.value_len);
        if (r.bad)
            return parse_fail(err, err_len, "truncated node %" PRIu64, i);
        if ((flags & ~(NODE_DIR | NODE_TTL)) || rec.path_len < 2 ||
            !store_path_is_clean(rec.path, rec.path_len) || rec.created > index ||
            rec.modified > index)
            return parse_fail(err, err_len, "bad node %" PRIu64, i);
        if (!k->node(k->ctx, i, &rec, err, err_len))
            return false;
    }

    uint64_t prev_index = 0;
    for (uint64_t i = 0; i < n_events; i++) {
        uint8_t action = r_u8(&r), flags = r_u8(&r);
        uint64_t etcd_index = r_uvarint(&r);
        store_node_t node, prev;
        if (r.bad || !load_event_node(&r, &node))
            return parse_fail(err, err_len, "bad event %" PRIu64, i);
        if ((flags & EV_HAS_PREV) && !load_event_node(&r, &prev))
            return parse_fail(err, err_len, "bad event %" PRIu64, i);
        /* The history holds one event per index, in order, up to the current one. */
        if (action < STORE_ACTION_SET || action > STORE_ACTION_EXPIRE ||
            (flags & ~(EV_HAS_PREV | EV_REFRESH)) || node.modified_index > index ||
            (i > 0 && node.modified_index != prev_index + 1) || node.modified_index == 0)
            return parse_fail(err, err_len, "bad event %" PRIu64, i);
        prev_index = node.modified_index;
        if (n_events - i > k->history_cap)
            continue; /* older than this store keeps */
        store_event_t *ev = store_event_new((store_action_t)action, &node,
                                            (flags & EV_HAS_PREV) ? &prev : NULL, etcd_index);
        ev->refresh = flags & EV_REFRESH;
        bool ok = k->event(k->ctx, ev, err, err_len);
        store_event_release(ev);
        if (!ok)
            return false;
    }
    if (r.bad || r.left != 0)
        return parse_fail(err, err_len, "snapshot has %zu unexpected bytes", r.left);
    return true;
}

static bool tree_header(void *ctx, uint64_t index, const uint64_t counters[STATS_COUNT],
                        int64_t last_time_ns, char *err, size_t err_len)
{
    (void)err;
    (void)err_len;
    store_t *s = ctx;
    s->index = index;
    s->last_time_ns = last_time_ns;
    store_stats_from_array(&s->stats, counters);
    return true;
}

static bool tree_node(void *ctx, uint64_t i, const persist_rec_t *rec, char *err, size_t err_len)
{
    (void)i;
    store_t *s = ctx;
    if (store_lookup(s, rec->path, rec->path_len))
        return parse_fail(err, err_len, "duplicate node %.*s", (int)rec->path_len, rec->path);
    tnode_t *parent = store_lookup(s, rec->path, store_path_parent_len(rec->path, rec->path_len));
    if (!parent || !parent->dir)
        return parse_fail(err, err_len, "node %.*s has no parent directory", (int)rec->path_len,
                          rec->path);
    store_attach_node(s, parent, rec);
    return true;
}

static bool tree_event(void *ctx, store_event_t *ev, char *err, size_t err_len)
{
    (void)err;
    (void)err_len;
    store_t *s = ctx;
    event_history_add(&s->history, ev);
    return true;
}

store_t *store_load(const store_config_t *cfg, const uint8_t *data, size_t len, char *err,
                    size_t err_len)
{
    store_t *s = store_new(cfg);
    if (!s)
        return load_fail(NULL, err, err_len, "out of memory");
    snap_sink_t k = {s, tree_header, tree_node, tree_event, s->history.cap};
    if (!snap_parse(data, len, &k, err, err_len))
        return load_fail(s, NULL, 0, "");
    return s;
}

/* ---- Building an engine from a snapshot, without the tree ---- */

/* Node records per engine commit while building: bounds the batch's memory. */
#define BUILD_BATCH 10000

static bool build_failed(engine_t *e, char *err, size_t err_len)
{
    return parse_fail(err, err_len, "cannot write to the %s backend: %s",
                      engine_kind_name(engine_kind(e)), engine_errmsg(e));
}

/* A node of the snapshot into the engine's batch; s has no tree, and its
 * node count is the count of records written. */
static bool build_node(void *ctx, uint64_t i, const persist_rec_t *rec, char *err, size_t err_len)
{
    (void)i;
    store_t *s = ctx;
    persist_record(s, rec);
    if (rec->ttl)
        persist_ttl_of(s, rec->path, rec->path_len, rec->created, true, rec->expire);
    /* Partial commits carry applied index 0: an engine left by a crash
     * half-way is one that holds no applied entry (never used as is). */
    if (++s->n_nodes % BUILD_BATCH == 0 && store_commit(s, 0) != 0)
        return build_failed(s->engine, err, err_len);
    return true;
}

int store_build_engine(const store_config_t *cfg, engine_t *e, const uint8_t *data, size_t len,
                       uint64_t applied_index, char *err, size_t err_len)
{
    store_t *s = store_new(cfg);
    if (!s) {
        parse_fail(err, err_len, "out of memory");
        return -1;
    }
    s->engine = e;
    snap_sink_t k = {s, tree_header, build_node, tree_event, s->history.cap};
    int rc = -1;
    if (snap_parse(data, len, &k, err, err_len)) {
        for (uint32_t i = 0; i < s->history.count; i++)
            persist_event(s, event_history_at(&s->history, i), NULL);
        rc = store_commit(s, applied_index);
        if (rc == 0)
            rc = engine_sync(e);
        if (rc != 0)
            build_failed(e, err, err_len);
    }
    store_engine_detach_unloaded(s); /* e stays the caller's */
    store_free(s);
    return rc == 0 ? 0 : -1;
}
