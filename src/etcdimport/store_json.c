/*
 * etcd's v2 store as JSON (etcdserver/api/v2store: store.Save), the payload
 * of an etcd 3.4 snapshot:
 *   {"Root": node, "WatcherHub": {"EventHistory": {"Queue": {"Events": [...],
 *    "Size", "Front", "Back", "Capacity"}, "StartIndex", "LastIndex"}},
 *    "CurrentIndex", "Stats": {...}, "CurrentVersion"}
 * where a node is {"Path", "CreatedIndex", "ModifiedIndex", "ExpireTime",
 * "Value", "Children"}: Children is an object for a directory and null for a
 * file, ExpireTime Go's zero time for a permanent node. Events are the v2
 * API's JSON with full store paths ("/1/foo"); the queue is a ring of
 * Capacity slots, Size of them used from Front.
 *
 * The user's keys live under /1 (etcdserver.StoreKeysPrefix): that subtree
 * becomes the metcd tree, paths without the prefix. etcd's v2 auth records
 * (/2: users, roles, the enabled flag) go where metcd's auth keeps the same
 * records (EIMP_AUTH_ROOT). The rest (/0, the cluster table) only keeps its
 * indexes in the history.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/etcdimport/etcdimport_int.h"

#define KEYS_PREFIX "/1"
#define AUTH_PREFIX "/2" /* etcd's v2 auth records (etcdserver/api/v2auth) */
#define EV_HAS_PREV 1
#define EV_REFRESH  2

typedef struct build {
    eimp_buf_t nodes, scratch;
    uint64_t n_nodes;
    char *err;
    size_t err_len;
    bool failed;
} build_t;

static void fail(build_t *b, const char *what, const char *path)
{
    if (!b->failed)
        snprintf(b->err, b->err_len, "etcd snapshot: %s%s%s", what, path ? " at " : "",
                 path ? path : "");
    b->failed = true;
}

/* A path under prefix ("/1" is "/1" or "/1/..."): the rest, else NULL. */
static const char *strip(const char *p, size_t len, const char *prefix, size_t *rest_len)
{
    size_t pl = strlen(prefix);
    if (len < pl || memcmp(p, prefix, pl) != 0 || (len > pl && p[pl] != '/'))
        return NULL;
    *rest_len = len - pl;
    return p + pl;
}

const char *eimp_map_path(const char *p, size_t len, size_t *out_len, eimp_buf_t *scratch)
{
    size_t rest;
    const char *r = strip(p, len, KEYS_PREFIX, &rest);
    if (r != NULL) {
        *out_len = rest ? rest : 1;
        return rest ? r : "/";
    }
    r = strip(p, len, AUTH_PREFIX, &rest);
    if (r == NULL)
        return NULL;
    scratch->len = 0;
    eimp_buf_put(scratch, EIMP_AUTH_ROOT, EIMP_AUTH_ROOT_LEN);
    eimp_buf_put(scratch, r, rest);
    *out_len = scratch->len;
    return (const char *)scratch->p;
}

static uint64_t get_u64(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static int get_time(json_t *o, const char *k, int64_t *ns)
{
    json_t *v = json_object_get(o, k);
    *ns = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    return eimp_parse_time(json_string_value(v), json_string_length(v), ns);
}

static void walk(build_t *b, json_t *n, bool emit)
{
    json_t *path = json_object_get(n, "Path");
    json_t *children = json_object_get(n, "Children");
    if (!json_is_string(path) ||
        (children != NULL && !json_is_null(children) && !json_is_object(children))) {
        fail(b, "malformed node", json_is_string(path) ? json_string_value(path) : NULL);
        return;
    }
    bool dir = json_is_object(children);
    if (emit) {
        size_t plen;
        const char *p =
            eimp_map_path(json_string_value(path), json_string_length(path), &plen, &b->scratch);
        int64_t expire;
        if (p == NULL || plen < 2) {
            fail(b, "a node outside the keyspace", json_string_value(path));
            return;
        }
        if (get_time(n, "ExpireTime", &expire) != 0) {
            fail(b, "bad ExpireTime", json_string_value(path));
            return;
        }
        eimp_buf_u8(&b->nodes, (uint8_t)((dir ? 1 : 0) | (expire != 0 ? 2 : 0)));
        eimp_buf_string(&b->nodes, p, plen);
        eimp_buf_uvarint(&b->nodes, get_u64(n, "CreatedIndex"));
        eimp_buf_uvarint(&b->nodes, get_u64(n, "ModifiedIndex"));
        if (expire != 0)
            eimp_buf_u64(&b->nodes, (uint64_t)expire);
        if (!dir) {
            json_t *v = json_object_get(n, "Value");
            eimp_buf_string(&b->nodes, json_is_string(v) ? json_string_value(v) : "",
                            json_is_string(v) ? json_string_length(v) : 0);
        }
        b->n_nodes++;
    }
    if (!dir)
        return;
    const char *k;
    json_t *c;
    json_object_foreach(children, k, c)
    {
        if (!json_is_object(c)) {
            fail(b, "malformed child", json_string_value(path));
            return;
        }
        walk(b, c, true);
        if (b->failed)
            return;
    }
}

static int action_code(const char *a)
{
    static const char *const names[] = {"set",    "create",           "update", "compareAndSwap",
                                        "delete", "compareAndDelete", "expire"};
    for (int i = 0; i < 7; i++)
        if (strcmp(a, names[i]) == 0)
            return i + 2; /* store_action_t: STORE_ACTION_SET is 2 */
    return -1;
}

/* One event node; hidden: the /0 placeholder (no key of the user's). */
static int put_event_node(eimp_buf_t *e, json_t *n, bool hidden, uint64_t index,
                          eimp_buf_t *scratch)
{
    if (hidden) {
        eimp_buf_u8(e, 0);
        eimp_buf_string(e, "/0", 2);
        eimp_buf_u64(e, 0);
        eimp_buf_u64(e, 0);
        eimp_buf_uvarint(e, index);
        eimp_buf_uvarint(e, index);
        return 0;
    }
    json_t *key = json_object_get(n, "key"), *value = json_object_get(n, "value");
    size_t klen;
    const char *k = json_is_string(key) ? eimp_map_path(json_string_value(key),
                                                        json_string_length(key), &klen, scratch)
                                        : NULL;
    int64_t exp;
    if (k == NULL || get_time(n, "expiration", &exp) != 0)
        return -1;
    bool dir = json_is_true(json_object_get(n, "dir"));
    eimp_buf_u8(e, (uint8_t)((dir ? 1 : 0) | (json_is_string(value) ? 2 : 0)));
    eimp_buf_string(e, k, klen);
    if (json_is_string(value))
        eimp_buf_string(e, json_string_value(value), json_string_length(value));
    eimp_buf_u64(e, (uint64_t)exp);
    json_t *ttl = json_object_get(n, "ttl");
    eimp_buf_u64(e, json_is_integer(ttl) ? (uint64_t)json_integer_value(ttl) : 0);
    eimp_buf_uvarint(e, get_u64(n, "modifiedIndex"));
    eimp_buf_uvarint(e, get_u64(n, "createdIndex"));
    return 0;
}

/* The history ring, oldest first. Returns the number of events or -1. */
static long put_history(json_t *root, eimp_buf_t *e, eimp_buf_t *scratch)
{
    json_t *q = json_object_get(
        json_object_get(json_object_get(root, "WatcherHub"), "EventHistory"), "Queue");
    json_t *events = json_object_get(q, "Events");
    if (q == NULL)
        return 0;
    size_t cap = json_array_size(events);
    uint64_t size = get_u64(q, "Size"), front = get_u64(q, "Front");
    if (!json_is_array(events) || size > cap || (cap > 0 && front >= cap))
        return -1;
    for (uint64_t i = 0; i < size; i++) {
        json_t *ev = json_array_get(events, (size_t)((front + i) % cap));
        json_t *action = json_object_get(ev, "action"), *node = json_object_get(ev, "node");
        json_t *prev = json_object_get(ev, "prevNode"), *key = json_object_get(node, "key");
        int code = json_is_string(action) ? action_code(json_string_value(action)) : -1;
        if (code < 0 || !json_is_object(node) || !json_is_string(key))
            return -1;
        uint64_t index = get_u64(node, "modifiedIndex");
        size_t klen;
        bool hidden =
            eimp_map_path(json_string_value(key), json_string_length(key), &klen, scratch) == NULL;
        bool has_prev = !hidden && json_is_object(prev);
        bool refresh = hidden || json_is_true(json_object_get(ev, "refresh"));
        eimp_buf_u8(e, (uint8_t)code);
        eimp_buf_u8(e, (uint8_t)((has_prev ? EV_HAS_PREV : 0) | (refresh ? EV_REFRESH : 0)));
        eimp_buf_uvarint(e, index);
        if (put_event_node(e, node, hidden, index, scratch) != 0 ||
            (has_prev && put_event_node(e, prev, false, index, scratch) != 0))
            return -1;
    }
    return (long)size;
}

store_t *eimp_store_from_json(const uint8_t *data, size_t len, unsigned history_size, char *err,
                              size_t err_len)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, len, JSON_ALLOW_NUL, &jerr);
    if (root == NULL) {
        snprintf(err, err_len, "etcd snapshot: the v2 store is not JSON: %s (line %d)", jerr.text,
                 jerr.line);
        return NULL;
    }
    build_t b = {.err = err, .err_len = err_len};
    json_t *tree = json_object_get(json_object_get(json_object_get(root, "Root"), "Children"), "1");
    if (!json_is_object(json_object_get(root, "Root")) ||
        !json_is_integer(json_object_get(root, "CurrentIndex")))
        fail(&b, "not an etcd v2 store", NULL);
    else if (json_is_object(tree))
        walk(&b, tree, false);
    json_t *auth = json_object_get(json_object_get(json_object_get(root, "Root"), "Children"), "2");
    if (!b.failed && json_is_object(auth))
        walk(&b, auth, true);
    eimp_buf_t events = {0};
    long n_events = b.failed ? 0 : put_history(root, &events, &b.scratch);
    if (n_events < 0)
        fail(&b, "malformed event history", NULL);
    store_t *s = NULL;
    if (!b.failed) {
        static const char *const stat_names[EIMP_STATS_COUNT] = {"getsSuccess",
                                                                 "getsFail",
                                                                 "setsSuccess",
                                                                 "setsFail",
                                                                 "deleteSuccess",
                                                                 "deleteFail",
                                                                 "updateSuccess",
                                                                 "updateFail",
                                                                 "createSuccess",
                                                                 "createFail",
                                                                 "compareAndSwapSuccess",
                                                                 "compareAndSwapFail",
                                                                 "compareAndDeleteSuccess",
                                                                 "compareAndDeleteFail",
                                                                 "expireCount"};
        uint64_t counters[EIMP_STATS_COUNT];
        json_t *stats = json_object_get(root, "Stats");
        for (int i = 0; i < EIMP_STATS_COUNT; i++)
            counters[i] = get_u64(stats, stat_names[i]);
        eimp_buf_t out = {0};
        /* Last request time 0: deadlines stay the absolute times etcd has,
         * as etcd's own restart keeps them (no time is given back). */
        eimp_buf_header(&out, get_u64(root, "CurrentIndex"), b.n_nodes, (uint64_t)n_events,
                        counters, 0);
        eimp_buf_put(&out, b.nodes.p, b.nodes.len);
        eimp_buf_put(&out, events.p, events.len);
        eimp_buf_finish(&out);
        store_config_t cfg = {.history_size = history_size};
        char lerr[200] = "";
        s = store_load(&cfg, out.p, out.len, lerr, sizeof(lerr));
        if (s == NULL)
            snprintf(err, err_len, "etcd snapshot: %s", lerr);
        free(out.p);
    }
    free(b.nodes.p);
    free(b.scratch.p);
    free(events.p);
    json_decref(root);
    return s;
}
