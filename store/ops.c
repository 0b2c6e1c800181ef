/*
 * store/ops.c: the v2 write operations, as etcd 3.4.23's v2store performs
 * them (store.go: Set, Create, Update, CompareAndSwap, Delete,
 * CompareAndDelete, DeleteExpiredKeys). Each success takes exactly one new
 * index and records one event; a failure changes nothing and takes no index.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

/*
 * The deadline of a TTL, computed as etcd does: the API turns ttl into
 * time.Duration(ttl) * time.Second and now.Add(that).UnixNano(), both of
 * which wrap around in 64 bits, and 0 means "no TTL". Set and Create
 * (internalCreate) also treat a deadline before 2000-01-01 as permanent;
 * Update and CompareAndSwap take it as it is (it expires at the next sweep).
 * So ttl=2^63-1 gives a deadline one second in the past (ttl -1), as etcd
 * answers. Returns false when the node is to be permanent.
 */
static bool deadline_of(const store_request_t *req, bool creating, int64_t *out)
{
    if (!req->has_ttl)
        return false;
    uint64_t d = req->ttl_sec * (uint64_t)STORE_NS_PER_SEC;
    int64_t e = (int64_t)((uint64_t)req->time_ns + d);
    if (e == 0 || (creating && e < STORE_MIN_EXPIRE_NS))
        return false;
    *out = e;
    return true;
}

static void ttl_of(bool has, int64_t expire_ns, int64_t now_ns, int64_t *exp, int64_t *ttl)
{
    tnode_t probe;
    probe.heap_pos = has ? 0 : STORE_NO_POS;
    probe.expire_ns = expire_ns;
    tnode_expiration_ttl(&probe, now_ns, exp, ttl);
}

static bool is_root(const char *key, size_t len)
{
    return len == 1 && key[0] == '/';
}

static int root_read_only(const store_t *s, store_error_t *err)
{
    /* etcd: the root is in readonlySet and the cause is always "/". */
    return store_error_set(err, STORE_E_ROOT_RONLY, "/", s->index);
}

static void finish(store_t *s, store_event_t *ev, bool refresh, store_event_t **ev_out)
{
    ev->refresh = refresh;
    store_record_event(s, ev);
    if (ev_out)
        *ev_out = ev;
    else
        store_event_release(ev);
}

/*
 * etcd's internalCreate: parents are created with the new index; an existing
 * file is replaced when `replace` (Set), a directory never is.
 */
static int internal_create(store_t *s, const char *key, size_t len, const store_request_t *req,
                           const char *value, size_t value_len, bool replace, store_action_t action,
                           tnode_t *const *known, store_event_t **ev_out, store_error_t *err)
{
    if (is_root(key, len))
        return root_read_only(s, err);
    uint64_t next = s->index + 1;
    /* `known`: the caller already looked the key up (Set), skip doing it twice. */
    tnode_t *old = known ? *known : NULL;
    tnode_t *parent = old ? old->parent : NULL;
    if (!parent) {
        parent = store_ensure_dir(s, key, store_path_parent_len(key, len), next, err);
        if (!parent)
            return -err->code;
        if (!known)
            old = store_lookup(s, key, len);
    }
    if (old) {
        if (!replace)
            return store_error_setn(err, STORE_E_NODE_EXIST, key, len, s->index);
        if (old->dir)
            return store_error_setn(err, STORE_E_NOT_FILE, key, len, s->index);
    }

    tnode_t *n = req->dir ? tnode_new(key, len, true, next)
                          : tnode_new_file(key, len, value, value_len, next);
    int64_t expire;
    if (deadline_of(req, true, &expire)) {
        n->expire_ns = expire;
        ttl_heap_push(&s->heap, n);
    }
    store_node_t view, prev;
    tnode_view(n, req->time_ns, &view);
    if (old)
        tnode_view(old, req->time_ns, &prev);
    store_event_t *ev = store_event_new(action, &view, old ? &prev : NULL, next);
    if (old)
        store_remove_subtree(s, old);
    node_table_insert(&s->table, n);
    tnode_add_child(parent, n);
    persist_node(s, n);
    if (tnode_has_ttl(n))
        persist_ttl(s, n, true, n->expire_ns);
    s->n_nodes++;
    s->index = next;
    finish(s, ev, action == STORE_ACTION_SET && req->refresh, ev_out);
    return 0;
}

static int op_set(store_t *s, const char *key, size_t len, const store_request_t *req,
                  store_event_t **ev_out, store_error_t *err)
{
    tnode_t *cur = store_internal_get(s, key, len, err);
    if (!cur) {
        if (err->code != STORE_E_KEY_NOT_FOUND || req->refresh)
            return -err->code;
        store_error_clear(err);
    }
    const char *value = req->value ? req->value : "";
    size_t value_len = req->value ? req->value_len : 0;
    if (req->refresh) {
        /* A refresh keeps the value; the new node copies it before the old one goes. */
        value = cur->value ? cur->value : "";
        value_len = cur->value_len;
    }
    return internal_create(s, key, len, req, value, value_len, true, STORE_ACTION_SET, &cur, ev_out,
                           err);
}

static int op_create(store_t *s, const char *key, size_t len, const store_request_t *req,
                     bool unique, store_event_t **ev_out, store_error_t *err)
{
    const char *value = req->value ? req->value : "";
    size_t value_len = req->value ? req->value_len : 0;
    if (!unique)
        return internal_create(s, key, len, req, value, value_len, false, STORE_ACTION_CREATE, NULL,
                               ev_out, err);
    /* POST: the name is the new index, zero-padded to 20 digits. */
    char *path = store_xmalloc(len + 2 + STORE_UNIQUE_NAME_LEN + 1);
    size_t plen = is_root(key, len) ? 0 : len;
    memcpy(path, key, plen);
    plen += (size_t)snprintf(path + plen, STORE_UNIQUE_NAME_LEN + 2, "/%020" PRIu64, s->index + 1);
    int rc = internal_create(s, path, plen, req, value, value_len, false, STORE_ACTION_CREATE, NULL,
                             ev_out, err);
    free(path);
    return rc;
}

/* etcd's getCompareFailCause: "[prev != current]", one bracket per failed test. */
static int compare_failed(store_t *s, const tnode_t *n, const store_request_t *req, bool value_ok,
                          bool index_ok, store_error_t *err)
{
    size_t cap = 64 + req->prev_value_len + n->value_len;
    char *cause = store_xmalloc(cap);
    size_t o = 0;
    if (!value_ok) {
        cause[o++] = '[';
        memcpy(cause + o, req->prev_value, req->prev_value_len);
        o += req->prev_value_len;
        memcpy(cause + o, " != ", 4);
        o += 4;
        if (n->value_len)
            memcpy(cause + o, n->value, n->value_len);
        o += n->value_len;
        cause[o++] = ']';
    }
    if (!index_ok)
        o += (size_t)snprintf(cause + o, cap - o, "%s[%" PRIu64 " != %" PRIu64 "]",
                              value_ok ? "" : " ", req->prev_index, n->modified_index);
    cause[o] = '\0';
    store_error_set(err, STORE_E_TEST_FAILED, NULL, s->index);
    /* Keep the length: either value may hold a NUL, and etcd's cause keeps
     * every byte of both brackets. */
    err->cause = cause;
    err->cause_len = o;
    return -STORE_E_TEST_FAILED;
}

/* etcd's node.Compare: an empty prevValue and a zero prevIndex are absent. */
static int compare(store_t *s, const tnode_t *n, const store_request_t *req, store_error_t *err)
{
    bool value_ok = !req->has_prev_value || req->prev_value_len == 0 ||
                    (req->prev_value_len == n->value_len &&
                     (n->value_len == 0 || memcmp(req->prev_value, n->value, n->value_len) == 0));
    bool index_ok = req->prev_index == 0 || req->prev_index == n->modified_index;
    if (value_ok && index_ok)
        return 0;
    return compare_failed(s, n, req, value_ok, index_ok, err);
}

/* Update and CompareAndSwap: change a node in place, keeping createdIndex. */
static int modify(store_t *s, tnode_t *n, const store_request_t *req, store_action_t action,
                  store_event_t **ev_out)
{
    uint64_t next = s->index + 1;
    const char *value = req->value ? req->value : "";
    size_t value_len = req->value ? req->value_len : 0;
    if (req->refresh) {
        value = n->value ? n->value : "";
        value_len = n->value_len;
    }
    int64_t expire = 0;
    bool has_ttl = deadline_of(req, false, &expire);
    store_node_t view, prev;
    tnode_view(n, req->time_ns, &prev);
    view = prev;
    view.value = n->dir ? NULL : value;
    view.value_len = n->dir ? 0 : value_len;
    bool new_value = !n->dir && !req->refresh;
    if (new_value)
        view.value_plain = false; /* not known yet: tnode_set_value checks it */
    view.modified_index = next;
    ttl_of(has_ttl, expire, req->time_ns, &view.expiration_ns, &view.ttl);
    store_event_t *ev = store_event_new(action, &view, &prev, next);
    if (new_value) {
        tnode_set_value(n, value, value_len);
        ev->node.value_plain = n->value_plain; /* the event is not published yet */
    }
    /*
     * etcd leaves a directory's modifiedIndex alone here although the event
     * reports the new one (a later GET disagrees); we store what we report.
     */
    n->modified_index = next;
    if (tnode_has_ttl(n))
        persist_ttl(s, n, false, n->expire_ns);
    store_node_set_expire(s, n, has_ttl, expire);
    if (has_ttl)
        persist_ttl(s, n, true, expire);
    persist_node(s, n);
    s->index = next;
    finish(s, ev, req->refresh, ev_out);
    return 0;
}

static int op_update(store_t *s, const char *key, size_t len, const store_request_t *req,
                     store_event_t **ev_out, store_error_t *err)
{
    if (is_root(key, len))
        return root_read_only(s, err);
    tnode_t *n = store_internal_get(s, key, len, err);
    if (!n)
        return -err->code;
    if (n->dir && req->value && req->value_len != 0)
        return store_error_setn(err, STORE_E_NOT_FILE, key, len, s->index);
    return modify(s, n, req, STORE_ACTION_UPDATE, ev_out);
}

static int op_cas(store_t *s, const char *key, size_t len, const store_request_t *req,
                  store_event_t **ev_out, store_error_t *err)
{
    if (is_root(key, len))
        return root_read_only(s, err);
    tnode_t *n = store_internal_get(s, key, len, err);
    if (!n)
        return -err->code;
    if (n->dir)
        return store_error_setn(err, STORE_E_NOT_FILE, key, len, s->index);
    if (compare(s, n, req, err) < 0)
        return -err->code;
    return modify(s, n, req, STORE_ACTION_CAS, ev_out);
}

/* The node of a delete/expire event: key, dir and indexes, no value. */
static store_event_t *removal_event(tnode_t *n, store_action_t action, uint64_t index,
                                    int64_t now_ns)
{
    store_node_t view, prev;
    tnode_view(n, now_ns, &prev);
    memset(&view, 0, sizeof(view));
    view.key = prev.key;
    view.key_len = prev.key_len;
    view.key_plain = prev.key_plain;
    view.dir = n->dir;
    view.modified_index = index;
    view.created_index = n->created_index;
    return store_event_new(action, &view, &prev, index);
}

static int op_delete(store_t *s, const char *key, size_t len, const store_request_t *req,
                     store_event_t **ev_out, store_error_t *err)
{
    if (is_root(key, len))
        return root_read_only(s, err);
    bool dir = req->dir || req->recursive; /* recursive implies dir */
    tnode_t *n = store_internal_get(s, key, len, err);
    if (!n)
        return -err->code;
    if (n->dir) {
        if (!dir)
            return store_error_setn(err, STORE_E_NOT_FILE, key, len, s->index);
        /* Hidden children count: etcd checks len(Children). */
        if (!req->recursive && !store_dir_empty(s, n))
            return store_error_setn(err, STORE_E_DIR_NOT_EMPTY, key, len, s->index);
    }
    uint64_t next = s->index + 1;
    store_event_t *ev = removal_event(n, STORE_ACTION_DELETE, next, req->time_ns);
    store_remove_subtree(s, n);
    s->index = next;
    finish(s, ev, false, ev_out);
    return 0;
}

static int op_cad(store_t *s, const char *key, size_t len, const store_request_t *req,
                  store_event_t **ev_out, store_error_t *err)
{
    /*
     * etcd's CompareAndDelete has no read-only check: the root is a directory,
     * so 102, and its cause (etcd's internal "/1") is trimmed to nothing.
     */
    if (is_root(key, len))
        return store_error_set(err, STORE_E_NOT_FILE, NULL, s->index);
    tnode_t *n = store_internal_get(s, key, len, err);
    if (!n)
        return -err->code;
    if (n->dir)
        return store_error_setn(err, STORE_E_NOT_FILE, key, len, s->index);
    if (compare(s, n, req, err) < 0)
        return -err->code;
    uint64_t next = s->index + 1;
    store_event_t *ev = removal_event(n, STORE_ACTION_CAD, next, req->time_ns);
    store_remove_subtree(s, n);
    s->index = next;
    finish(s, ev, false, ev_out);
    return 0;
}

/*
 * etcd's DeleteExpiredKeys: every node whose deadline is <= the SYNC's time
 * expires, earliest first, each with its own index; a directory takes its
 * subtree with it.
 */
static void op_sync(store_t *s, const store_request_t *req)
{
    tnode_t *n;
    while ((n = ttl_heap_top(&s->heap)) && n->expire_ns <= req->time_ns) {
        uint64_t next = s->index + 1;
        store_event_t *ev = removal_event(n, STORE_ACTION_EXPIRE, next, req->time_ns);
        store_remove_subtree(s, n);
        s->index = next;
        s->stats.expire_count++;
        finish(s, ev, false, NULL);
    }
}

/*
 * STORE_OP_RESUME (see store.h): every deadline moves forward by the time
 * since the last applied request. Adding the same amount to every deadline
 * keeps the heap ordered, so no re-heapify is needed.
 */
static void op_resume(store_t *s, const store_request_t *req, int64_t last_time_ns)
{
    if (last_time_ns <= 0 || req->time_ns <= last_time_ns)
        return;
    int64_t gap = req->time_ns - last_time_ns;
    for (uint32_t i = 0; i < s->heap.n; i++) {
        tnode_t *n = s->heap.a[i];
        persist_ttl(s, n, false, n->expire_ns);
        n->expire_ns = n->expire_ns > INT64_MAX - gap ? INT64_MAX : n->expire_ns + gap;
        persist_ttl(s, n, true, n->expire_ns);
        persist_node(s, n);
    }
}

/*
 * Which outcomes etcd counts as a success in /v2/stats/store. Its counters
 * are bumped by a deferred check of an `err` variable that some error paths
 * return without assigning, so: Update counts 107 and 102 as successes,
 * compareAndSwap and Delete count 107, compareAndDelete counts 102 and 101.
 * A create whose parent walk meets a file (104) also bumps setsFail.
 */
static bool etcd_counts_success(store_op_t op, int code)
{
    if (code == 0)
        return true;
    switch (op) {
    case STORE_OP_UPDATE:
        return code == STORE_E_ROOT_RONLY || code == STORE_E_NOT_FILE;
    case STORE_OP_CAS:
    case STORE_OP_DELETE:
        return code == STORE_E_ROOT_RONLY;
    case STORE_OP_CAD:
        return code == STORE_E_NOT_FILE || code == STORE_E_TEST_FAILED;
    default:
        return false;
    }
}

static void count(store_t *s, store_op_t op, int code)
{
    store_stats_t *st = &s->stats;
    bool ok = etcd_counts_success(op, code);
    switch (op) {
    case STORE_OP_SET:
        ok ? st->sets_success++ : st->sets_fail++;
        break;
    case STORE_OP_CREATE:
    case STORE_OP_CREATE_UNIQUE:
        ok ? st->create_success++ : st->create_fail++;
        if (code == STORE_E_NOT_DIR)
            st->sets_fail++;
        break;
    case STORE_OP_UPDATE:
        ok ? st->update_success++ : st->update_fail++;
        break;
    case STORE_OP_CAS:
        ok ? st->compare_and_swap_success++ : st->compare_and_swap_fail++;
        break;
    case STORE_OP_DELETE:
        ok ? st->delete_success++ : st->delete_fail++;
        break;
    case STORE_OP_CAD:
        ok ? st->compare_and_delete_success++ : st->compare_and_delete_fail++;
        break;
    case STORE_OP_SYNC:
    case STORE_OP_RESUME:
        break;
    }
}

int store_op_apply(store_t *s, const store_request_t *req, store_event_t **ev_out,
                   store_error_t *err)
{
    int64_t last_time_ns = s->last_time_ns;
    if (req->time_ns > s->last_time_ns)
        s->last_time_ns = req->time_ns;
    if (req->op == STORE_OP_SYNC) {
        op_sync(s, req);
        return 0;
    }
    if (req->op == STORE_OP_RESUME) {
        op_resume(s, req, last_time_ns);
        return 0;
    }
    /* Keys arrive clean from the API; clean anything else as etcd does. */
    const char *key = req->key ? req->key : "/";
    size_t len = req->key ? req->key_len : 1;
    if (len > STORE_MAX_KEY_LEN) {
        count(s, req->op, STORE_E_RAFT_INTERNAL);
        return store_error_set(err, STORE_E_RAFT_INTERNAL, "key too long", s->index);
    }
    char small[256], *heap = NULL, *clean = NULL;
    if (!store_path_is_clean(key, len)) {
        clean = len + 2 <= sizeof(small) ? small : (heap = store_xmalloc(len + 2));
        len = store_path_clean(key, len, clean);
        key = clean;
    }
    int rc;
    switch (req->op) {
    case STORE_OP_SET:
        rc = op_set(s, key, len, req, ev_out, err);
        break;
    case STORE_OP_CREATE:
        rc = op_create(s, key, len, req, false, ev_out, err);
        break;
    case STORE_OP_CREATE_UNIQUE:
        rc = op_create(s, key, len, req, true, ev_out, err);
        break;
    case STORE_OP_UPDATE:
        rc = op_update(s, key, len, req, ev_out, err);
        break;
    case STORE_OP_CAS:
        rc = op_cas(s, key, len, req, ev_out, err);
        break;
    case STORE_OP_DELETE:
        rc = op_delete(s, key, len, req, ev_out, err);
        break;
    case STORE_OP_CAD:
        rc = op_cad(s, key, len, req, ev_out, err);
        break;
    default:
        rc = store_error_set(err, STORE_E_RAFT_INTERNAL, "unknown operation", s->index);
        break;
    }
    free(heap);
    count(s, req->op, -rc);
    return rc;
}
