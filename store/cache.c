/*
 * store/cache.c: on an engine, the tree is a cache of the engine's image.
 *
 * A store opened on an engine (store_open_engine) starts with the root,
 * the nodes that have a TTL (and their parents) and the records kept apart;
 * every other node is read from the engine the first time a lookup misses
 * it (store_fill), so a restart does not read the whole data set and the
 * memory it takes does not grow with it.
 *
 * The rules that keep the cache exact:
 *  - A node in the table is the truth: every change to it goes to the
 *    engine's batch too (persist.c), so the engine read through the open
 *    batch always agrees with every node in memory.
 *  - A node missing from the table exists only if its parent is in memory,
 *    is a directory, is not `complete` and the engine has its record. A
 *    miss reads through the open batch when there is one (it holds this
 *    Ready's changes, deletes included), else the committed state; either
 *    way it sees a batch being written by the engine's commit thread
 *    (store_commit_start), whose changes the cache may already have
 *    evicted.
 *  - A directory lists only its loaded children unless it is complete:
 *    listings, snapshots and "directory not empty" load or ask first.
 *  - Pinned, never evicted: the root, directories with a loaded child, nodes
 *    with a TTL (the expiry heap points at them) and records kept apart
 *    (their keys do not follow the path, so a miss could not find them).
 * Eviction runs only between operations (no node pointer is held then). It
 * samples slots of the table at random, and a node looked up since it was
 * last sampled gets a second chance (a clock in random order). Not a clock
 * sweeping the slots in order: the table probes linearly, and evicting by
 * position left the slots just ahead of such a hand nearly full, in runs
 * of thousands that every lookup landing there walked (at 1M keys written
 * through the default cache, lookups took most of the member's CPU and
 * writes timed out). Random slots thin the table evenly. Every caller
 * holds the store's lock, as for any read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

static engine_read_t *reader(store_t *s)
{
    return s->batch ? engine_batch_reader(s->batch) : engine_reader(s->engine);
}

/*
 * The image cannot be read: apply and reads would go on from a store that
 * no longer matches the log, so the member stops (the same policy as a
 * failed allocation inside apply).
 */
_Noreturn static void read_failed(store_t *s, const char *what, const char *path, size_t len)
{
    fprintf(stderr, "metcd: cannot read %.*s from the %s backend (%s): %s; stopping\n",
            (int)(len > 200 ? 200 : len), path, engine_kind_name(engine_kind(s->engine)), what,
            engine_errmsg(s->engine));
    abort();
}

/* The record (v, vl) of `path` decoded into rec (borrowing v). */
static void decode_record(store_t *s, const char *path, size_t len, const uint8_t *v, size_t vl,
                          persist_rec_t *rec)
{
    *rec = (persist_rec_t){.path = path, .path_len = len};
    if (!persist_decode_record(v, vl, false, rec))
        read_failed(s, "damaged node record", path, len);
}

/* The node of rec, child of parent, put in the tree as a cache entry: a
 * directory's children are not loaded yet. */
static tnode_t *attach_record(store_t *s, tnode_t *parent, const persist_rec_t *rec)
{
    tnode_t *n = store_attach_node(s, parent, rec);
    n->complete = !n->dir;
    n->ref = true;
    return n;
}

/* The record of `path` from the engine into rec (valid until the next
 * commit); false when it has none. */
static bool read_record(store_t *s, const char *path, size_t len, persist_rec_t *rec)
{
    size_t kl = persist_node_key(s, path, len);
    const uint8_t *v;
    size_t vl;
    int rc = engine_get(reader(s), (const char *)s->pbuf.p, kl, &v, &vl);
    if (rc < 0)
        read_failed(s, "get", path, len);
    if (rc == 0)
        return false;
    decode_record(s, path, len, v, vl, rec);
    return true;
}

/* The child `path` of parent from the engine, or NULL when it has none. */
static tnode_t *load_child(store_t *s, tnode_t *parent, const char *path, size_t len)
{
    persist_rec_t rec;
    return read_record(s, path, len, &rec) ? attach_record(s, parent, &rec) : NULL;
}

/* xorshift64*: for the slots eviction samples and for admission. */
static uint64_t next_rand(store_t *s)
{
    uint64_t x = s->evict_rng ? s->evict_rng : s->table.seed | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->evict_rng = x;
    return (x * 0x2545f4914f6cdd1dull) >> 16;
}

tnode_t *store_fill(store_t *s, const char *path, size_t len)
{
    /* Component by component from the root: every ancestor must be in
     * memory before a child can be read (the child's parent pointer). */
    tnode_t *cur = s->root;
    size_t i = 1;
    while (i < len) {
        size_t end = store_path_component_end(path, len, i);
        tnode_t *next = store_lookup_loaded(s, path, end);
        if (!next) {
            if (!cur->dir || cur->complete)
                return NULL;
            next = load_child(s, cur, path, end);
            if (!next)
                return NULL;
        }
        next->ref = true;
        cur = next;
        i = end + 1;
    }
    return cur;
}

/* Eviction trims the cache to 7/8 of its cap, so that it runs now and
 * then, not on every read once the cache is full. */
static size_t trim_target(const store_t *s)
{
    return s->cache_cap - s->cache_cap / 8;
}

/*
 * When the cache is full (at its trim target), a file that a read finds in
 * the engine joins it one time in READ_ADMIT, at random: reads of random
 * keys over a data set larger than the cache then mostly do without making
 * a node, attaching it and evicting another (the cache's hit rate there is
 * its share of the keys, whatever it keeps), while a key read often still
 * gets in after a few reads. On lmdb this took a GET of random keys among
 * 1M through a 262,144-node cache from 3.4 to about 2 us in store-bench.
 */
#define READ_ADMIT 8

tnode_t *store_lookup_read(store_t *s, const char *path, size_t len, bool *detached)
{
    *detached = false;
    tnode_t *n = store_lookup_loaded(s, path, len);
    if (n) {
        n->ref = true;
        return n;
    }
    if (!s->partial)
        return NULL;
    if (s->cache_cap == 0 || s->table.count < trim_target(s) || next_rand(s) % READ_ADMIT == 0)
        return store_fill(s, path, len);
    /* The parent ("/" for a top-level key) must be in memory, as for a fill. */
    tnode_t *parent = store_lookup(s, path, store_path_parent_len(path, len));
    if (!parent || !parent->dir || parent->complete)
        return NULL;
    persist_rec_t rec;
    if (!read_record(s, path, len, &rec))
        return NULL;
    /* Directories and nodes with a TTL are kept in memory (see above). */
    if (rec.dir || rec.ttl)
        return attach_record(s, parent, &rec);
    n = tnode_new_file(path, len, rec.value, rec.value_len, rec.created);
    n->modified_index = rec.modified;
    *detached = true;
    return n;
}

/* Runs cb on every child record of dir in the engine; stops when cb returns false. */
static void each_child(store_t *s, const tnode_t *dir,
                       bool (*cb)(store_t *, void *, const engine_item_t *), void *arg)
{
    size_t kl = persist_node_key(s, dir->path, dir->path_len);
    engine_iter_t *it;
    engine_item_t item;
    int rc = engine_iter_children(reader(s), (const char *)s->pbuf.p, kl, &it);
    if (rc < 0)
        read_failed(s, "list", dir->path, dir->path_len);
    while ((rc = engine_iter_next(it, &item)) == 1)
        if (!cb(s, arg, &item))
            break;
    engine_iter_free(it);
    if (rc < 0)
        read_failed(s, "list", dir->path, dir->path_len);
}

static bool add_missing(store_t *s, void *arg, const engine_item_t *item)
{
    const char *path = item->path + PERSIST_NODE_DIR_LEN;
    size_t len = item->path_len - PERSIST_NODE_DIR_LEN;
    if (!store_lookup_loaded(s, path, len)) {
        persist_rec_t rec;
        decode_record(s, path, len, item->value, item->value_len, &rec);
        attach_record(s, arg, &rec);
    }
    return true;
}

void store_complete_dir(store_t *s, tnode_t *dir)
{
    if (!s->partial || !dir->dir || dir->complete)
        return;
    each_child(s, dir, add_missing, dir);
    dir->complete = true;
}

void store_complete_subtree(store_t *s, tnode_t *top)
{
    if (!s->partial || !top->dir)
        return;
    /* Depth first without recursion: a deep tree must not exhaust the stack. */
    size_t cap = 64, depth = 0;
    tnode_t **stack = store_xmalloc(cap * sizeof(*stack));
    stack[depth++] = top;
    while (depth) {
        tnode_t *d = stack[--depth];
        store_complete_dir(s, d);
        for (uint32_t i = 0; i < d->n_children; i++) {
            if (!d->children[i]->dir)
                continue;
            if (depth == cap) {
                cap *= 2;
                stack = store_xrealloc(stack, cap * sizeof(*stack));
            }
            stack[depth++] = d->children[i];
        }
    }
    free(stack);
}

static bool found_one(store_t *s, void *found, const engine_item_t *item)
{
    (void)s;
    (void)item;
    *(bool *)found = true;
    return false;
}

bool store_dir_empty(store_t *s, tnode_t *dir)
{
    if (dir->n_children)
        return false;
    if (!s->partial || dir->complete)
        return true;
    bool any = false;
    each_child(s, dir, found_one, &any);
    return !any;
}

void store_load_all(store_t *s)
{
    store_complete_subtree(s, s->root);
}

static bool evictable(store_t *s, const tnode_t *n)
{
    return n != s->root && n->n_children == 0 && !tnode_has_ttl(n) && !persist_is_apart(s, n);
}

void store_cache_trim(store_t *s)
{
    if (!s->partial || s->cache_cap == 0 || s->table.count <= s->cache_cap)
        return;
    size_t target = trim_target(s);
    /* As many samples as two turns of a clock: the first visit of a node
     * may only clear its `ref` bit. */
    size_t budget = 2 * (s->table.mask + 1);
    while (s->table.count > target && budget--) {
        size_t i = (size_t)next_rand(s) & s->table.mask;
        tnode_t *n = s->table.slots[i];
        if (!n || !evictable(s, n))
            continue;
        if (n->ref) {
            n->ref = false;
            continue;
        }
        tnode_t *parent = n->parent;
        tnode_remove_child(parent, n);
        parent->complete = false;
        node_table_delete(&s->table, n);
        tnode_free(n);
    }
    node_table_fit(&s->table);
}
