/*
 * The raft node driver (src/server/node*.c) as a cluster inside one test
 * process: every member is a real node_t with its own data dir (WAL and
 * snapshots in a temp dir) and its own store, all on one h2o evloop, talking
 * over one in-memory peer net (src/peer/peer.h) that the test can cut and
 * make lossy. The loop driver runs the loop with a short timeout and calls
 * node_process() for every member after each turn, as server_run() does for
 * its one member; every wait is bounded in time and fails the case when
 * the bound passes.
 *
 * The cases assert the state members reach (store contents, applied
 * indexes, who leads), not log lines.
 */
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <h2o.h>

#include "src/membership/membership.h"
#include "src/peer/peer.h"
#include "src/server/node.h"
#include "src/server/node_int.h" /* snap_index and conf, to assert what the public API hides */
#include "store/store.h"

#define MAX_MEMBERS  6
#define HEARTBEAT_MS 20
#define ELECTION_MS  200
/* Short, so that the failure cases end quickly; long enough for an
 * election (a few election timeouts) under ASan. */
#define REQUEST_TIMEOUT_MS 1500

/* ---- the cluster ---- */

typedef struct cluster cluster_t;

typedef struct member {
    uint64_t id;
    char name[32];
    char dir[PATH_MAX];
    const char *client_urls[1];
    char client_url[64];
    bool join; /* started with join=true (added at run time) */
    node_t *node;
    store_t *store;
    peer_transport_t *tr;
    int removed_calls;   /* node_config_t.on_removed */
    int snap_recv_ok;    /* snapshots received whole and accepted */
    int snap_recv_begin; /* snapshot transfers begun */
} member_t;

struct cluster {
    h2o_evloop_t *loop;
    struct peer_mem_net *net;
    char root[PATH_MAX / 2];
    membership_t initial;
    uint64_t cluster_id;
    size_t n; /* members in m[] (running or not) */
    member_t m[MAX_MEMBERS];
    uint64_t snapshot_count;
    unsigned request_timeout_ms;
    /* A timer that processes every member from inside the loop, for the
     * driver calls that run the loop themselves (node_transfer_leadership):
     * in one process the other members' Readys must go out meanwhile. */
    h2o_timeout_t pump_timeout;
    h2o_timeout_entry_t pump_entry;
    bool pump_ready;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool running(const member_t *m)
{
    return m->node != NULL;
}

/* One loop turn, then every member takes its next Ready (server_run's
 * order). */
static void turn(cluster_t *c)
{
    h2o_evloop_run(c->loop, 1);
    for (size_t i = 0; i < c->n; i++)
        if (running(&c->m[i]))
            node_process(c->m[i].node);
}

/* Runs the cluster until `cond` holds, at most `ms` milliseconds. */
#define WAIT_FOR(c, cond, ms)                                                                      \
    do {                                                                                           \
        int64_t end_ = mono_ms() + (ms);                                                           \
        while (!(cond) && mono_ms() < end_)                                                        \
            turn(c);                                                                               \
        if (!(cond))                                                                               \
            fail_msg("%s:%d: not true after %d ms: %s", __FILE__, __LINE__, (int)(ms), #cond);     \
    } while (0)

/* Runs the cluster for `ms` milliseconds. */
static void run_for(cluster_t *c, int64_t ms)
{
    int64_t end = mono_ms() + ms;
    while (mono_ms() < end)
        turn(c);
}

static void on_pump(h2o_timeout_entry_t *entry)
{
    cluster_t *c = H2O_STRUCT_FROM_MEMBER(cluster_t, pump_entry, entry);
    for (size_t i = 0; i < c->n; i++)
        if (running(&c->m[i]))
            node_process(c->m[i].node);
    h2o_timeout_link(c->loop, &c->pump_timeout, &c->pump_entry);
}

/* ---- transport callbacks: what server_peer.c forwards ---- */

static void tr_message(void *ctx, const struct raft_message *msg)
{
    member_t *m = ctx;
    node_step(m->node, msg);
}

static void tr_unreachable(void *ctx, uint64_t id)
{
    member_t *m = ctx;
    node_report_unreachable(m->node, id);
}

static void tr_snapshot_sent(void *ctx, uint64_t id, bool failed)
{
    member_t *m = ctx;
    node_report_snapshot(m->node, id, failed);
}

static int tr_snapshot_open(void *ctx, uint64_t index, uint64_t term, uint64_t *size)
{
    member_t *m = ctx;
    return node_snapshot_open(m->node, index, term, size);
}

static int tr_snapshot_begin(void *ctx, uint64_t from, uint64_t index, uint64_t term, uint64_t size)
{
    member_t *m = ctx;
    m->snap_recv_begin++;
    return node_snapshot_receive_begin(m->node, from, index, term, size);
}

static int tr_snapshot_end(void *ctx, int fd, bool ok)
{
    member_t *m = ctx;
    int rc = node_snapshot_receive_end(m->node, fd, ok);
    if (rc == 0 && ok)
        m->snap_recv_ok++;
    return rc;
}

static void on_node_removed(void *ctx)
{
    member_t *m = ctx;
    m->removed_calls++;
}

/* ---- members ---- */

/* Opens m on its data dir, gives it a transport on the net and starts it.
 * `known` (n_known IDs) are peers its transport learns before the start,
 * as server.c adds the member list a joining member fetched. */
static void member_start_knowing(cluster_t *c, member_t *m, const uint64_t *known, size_t n_known)
{
    node_config_t cfg = {
        .loop = c->loop,
        .data_dir = m->dir,
        .member_id = m->id,
        .cluster_id = c->cluster_id,
        .heartbeat_ms = HEARTBEAT_MS,
        .election_ms = ELECTION_MS,
        .snapshot_count = c->snapshot_count,
        .max_wals = 5,
        .max_snapshots = 5,
        .watch_history = 1000,
        .bootstrap = m->join ? NULL : &c->initial,
        .join = m->join,
        .name = m->name,
        .client_urls = m->client_urls,
        .n_client_urls = 1,
        .request_timeout_ms = c->request_timeout_ms,
        .on_removed = on_node_removed,
        .cb_ctx = m,
    };
    char err[512] = "";
    int rc = node_open(&m->node, &m->store, &cfg, err, sizeof(err));
    if (rc != 0)
        fail_msg("node_open of %s: %s", m->name, err);
    struct peer_config pc = {
        .loop = c->loop,
        .self_id = m->id,
        .cluster_id = c->cluster_id,
        .handler = {.ctx = m,
                    .on_message = tr_message,
                    .on_unreachable = tr_unreachable,
                    .on_snapshot_sent = tr_snapshot_sent,
                    .snapshot_open = tr_snapshot_open,
                    .snapshot_receive_begin = tr_snapshot_begin,
                    .snapshot_receive_end = tr_snapshot_end},
    };
    assert_int_equal(peer_mem_new(c->net, &pc, &m->tr), 0);
    static const char *const url = "mem://peer";
    for (size_t i = 0; i < n_known; i++)
        assert_int_equal(peer_add(m->tr, known[i], &url, 1), 0);
    node_attach_transport(m->node, m->tr);
    assert_int_equal(node_start(m->node), 0);
}

static void member_start(cluster_t *c, member_t *m)
{
    member_start_knowing(c, m, NULL, 0);
}

/* Stops a member as the server does: the node first (it may still run the
 * loop to finish a batch, and send), then its transport, then the node's
 * memory and its store. */
static void member_stop(cluster_t *c, member_t *m)
{
    if (!running(m))
        return;
    node_stop(m->node);
    peer_free(m->tr);
    m->tr = NULL;
    node_free(m->node);
    m->node = NULL;
    store_free(m->store);
    m->store = NULL;
    h2o_evloop_run(c->loop, 0);
}

static member_t *member_add_slot(cluster_t *c, uint64_t id, const char *name)
{
    assert_true(c->n < MAX_MEMBERS);
    member_t *m = &c->m[c->n++];
    memset(m, 0, sizeof(*m));
    m->id = id;
    snprintf(m->name, sizeof(m->name), "%s", name);
    snprintf(m->dir, sizeof(m->dir), "%s/%s", c->root, name);
    snprintf(m->client_url, sizeof(m->client_url), "http://%s:2379", name);
    m->client_urls[0] = m->client_url;
    return m;
}

/* n members bootstrapped from an initial cluster, as server.c's compute_ids
 * derives them from --initial-cluster. */
static cluster_t *cluster_new(size_t n, uint64_t snapshot_count, unsigned request_timeout_ms,
                              uint64_t seed)
{
    cluster_t *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    const char *tmp = getenv("TMPDIR");
    snprintf(c->root, sizeof(c->root), "%s/metcd-node-cluster-XXXXXX", tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(c->root));
    c->loop = h2o_evloop_create();
    c->net = peer_mem_net_new(c->loop, seed);
    c->snapshot_count = snapshot_count;
    c->request_timeout_ms = request_timeout_ms;
    const char *names[MAX_MEMBERS];
    const char *urls[MAX_MEMBERS];
    char name_buf[MAX_MEMBERS][32], url_buf[MAX_MEMBERS][48];
    for (size_t i = 0; i < n; i++) {
        snprintf(name_buf[i], sizeof(name_buf[i]), "m%zu", i + 1);
        snprintf(url_buf[i], sizeof(url_buf[i]), "mem://%zu", i + 1);
        names[i] = name_buf[i];
        urls[i] = url_buf[i];
    }
    char err[256] = "";
    if (membership_from_initial_cluster(&c->initial, names, urls, n, "node-cluster-test", err,
                                        sizeof(err)) != 0)
        fail_msg("initial cluster: %s", err);
    c->cluster_id = c->initial.cluster_id;
    for (size_t i = 0; i < n; i++) {
        uint64_t id = 0;
        for (size_t k = 0; k < c->initial.n; k++)
            if (strcmp(c->initial.members[k].peer_urls[0], urls[i]) == 0)
                id = c->initial.members[k].id;
        assert_true(id != 0);
        member_add_slot(c, id, names[i]);
    }
    for (size_t i = 0; i < n; i++)
        member_start(c, &c->m[i]);
    h2o_timeout_init(c->loop, &c->pump_timeout, 1);
    c->pump_entry.cb = on_pump;
    c->pump_ready = true;
    return c;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cluster_free(cluster_t *c)
{
    if (c == NULL)
        return;
    if (c->pump_ready) {
        if (h2o_timeout_is_linked(&c->pump_entry))
            h2o_timeout_unlink(&c->pump_entry);
        h2o_timeout_dispose(c->loop, &c->pump_timeout);
    }
    for (size_t i = 0; i < c->n; i++)
        member_stop(c, &c->m[i]);
    peer_mem_net_free(c->net);
    h2o_evloop_run(c->loop, 0);
    h2o_evloop_destroy(c->loop);
    membership_free(&c->initial);
    nftw(c->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(c);
}

/* ---- who leads ---- */

typedef uint32_t set_t; /* a set of members, by slot */
#define ALL(c) ((set_t)((1u << (c)->n) - 1))
#define BIT(i) ((set_t)1u << (i))

/* The one member of `set` that leads, acknowledged by every running member
 * of the set; NULL while that is not so. */
static member_t *agreed_leader(cluster_t *c, set_t set)
{
    member_t *lead = NULL;
    uint64_t seen = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (!(set & BIT(i)) || !running(&c->m[i]))
            continue;
        node_info_t info;
        node_get_info(c->m[i].node, &info);
        if (info.leader == 0 || (seen != 0 && info.leader != seen))
            return NULL;
        seen = info.leader;
        if (info.is_leader) {
            if (lead != NULL)
                return NULL;
            lead = &c->m[i];
        }
    }
    return lead != NULL && lead->id == seen ? lead : NULL;
}

static member_t *wait_leader(cluster_t *c, set_t set, int64_t ms)
{
    WAIT_FOR(c, agreed_leader(c, set) != NULL, ms);
    return agreed_leader(c, set);
}

static size_t count_leaders(cluster_t *c, set_t set)
{
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (!(set & BIT(i)) || !running(&c->m[i]))
            continue;
        node_info_t info;
        node_get_info(c->m[i].node, &info);
        k += info.is_leader;
    }
    return k;
}

static member_t *a_follower(cluster_t *c, member_t *lead)
{
    for (size_t i = 0; i < c->n; i++)
        if (&c->m[i] != lead && running(&c->m[i]))
            return &c->m[i];
    return NULL;
}

static uint64_t applied_of(member_t *m)
{
    node_info_t info;
    node_get_info(m->node, &info);
    return info.applied;
}

/* Every running member of `set` has published its attributes and applied
 * the same index, equal to the commit index they all know, and nobody waits
 * for anything. */
static bool converged(cluster_t *c, set_t set)
{
    uint64_t applied = 0, commit = 0;
    bool first = true;
    for (size_t i = 0; i < c->n; i++) {
        if (!(set & BIT(i)) || !running(&c->m[i]))
            continue;
        node_info_t info;
        node_get_info(c->m[i].node, &info);
        if (info.applied != info.commit || !info.published || info.pending != 0)
            return false;
        if (!first && (info.applied != applied || info.commit != commit))
            return false;
        applied = info.applied;
        commit = info.commit;
        first = false;
    }
    return !first;
}

/* ---- the store ---- */

typedef struct dump {
    char *s;
    size_t len, cap;
} dump_t;

static void dump_add(dump_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dump_add(dump_t *d, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(d->s ? d->s + d->len : NULL, d->s ? d->cap - d->len : 0, fmt, ap);
        va_end(ap);
        assert_true(k >= 0);
        if (d->s != NULL && d->len + (size_t)k < d->cap) {
            d->len += (size_t)k;
            return;
        }
        d->cap = (d->cap + (size_t)k + 1) * 2;
        d->s = realloc(d->s, d->cap);
        assert_non_null(d->s);
    }
}

static void dump_node(dump_t *d, const store_node_t *n)
{
    dump_add(d, "%.*s%s=%.*s@%" PRIu64 "/%" PRIu64 "\n", (int)n->key_len, n->key ? n->key : "",
             n->dir ? "/" : "", (int)n->value_len, n->value ? n->value : "", n->modified_index,
             n->created_index);
    for (size_t i = 0; i < n->n_nodes; i++)
        dump_node(d, &n->nodes[i]);
}

/* The whole store as text: every key, value and index, and the store
 * index. The caller frees it. */
static char *store_dump(store_t *s)
{
    dump_t d = {0};
    dump_add(&d, "index %" PRIu64 "\n", store_index(s));
    store_event_t *ev = NULL;
    store_error_t err = {0};
    assert_int_equal(store_get(s, "/", 1, true, true, real_ns(), &ev, &err), 0);
    dump_node(&d, &ev->node);
    store_event_release(ev);
    return d.s;
}

/* Every running member of `set` holds the same store. */
static void assert_same_stores(cluster_t *c, set_t set)
{
    char *ref = NULL;
    const char *ref_name = NULL;
    for (size_t i = 0; i < c->n; i++) {
        if (!(set & BIT(i)) || !running(&c->m[i]))
            continue;
        char *d = store_dump(c->m[i].store);
        if (ref == NULL) {
            ref = d;
            ref_name = c->m[i].name;
            continue;
        }
        if (strcmp(ref, d) != 0)
            fail_msg("stores differ: %s has\n%.2000s\n%s has\n%.2000s", ref_name, ref, c->m[i].name,
                     d);
        free(d);
    }
    free(ref);
}

/* The value of `key` in m's store: true and its indexes when present. */
static bool get_key(member_t *m, const char *key, char *value, size_t value_len, uint64_t *modified,
                    uint64_t *created)
{
    store_event_t *ev = NULL;
    store_error_t err = {0};
    int rc = store_get(m->store, key, strlen(key), false, false, real_ns(), &ev, &err);
    if (rc != 0) {
        assert_int_equal(err.code, STORE_E_KEY_NOT_FOUND);
        store_error_clear(&err);
        return false;
    }
    if (value != NULL)
        snprintf(value, value_len, "%.*s", (int)ev->node.value_len,
                 ev->node.value ? ev->node.value : "");
    if (modified != NULL)
        *modified = ev->node.modified_index;
    if (created != NULL)
        *created = ev->node.created_index;
    store_event_release(ev);
    return true;
}

static bool has_value(member_t *m, const char *key, const char *want)
{
    char v[128];
    return get_key(m, key, v, sizeof(v), NULL, NULL) && strcmp(v, want) == 0;
}

/* ---- proposals ---- */

typedef struct result {
    int calls;
    int rc;
    int code;
    bool refused; /* node_propose returned an error: no callback */
    store_action_t action;
    char value[64];
    uint64_t index;
} result_t;

static void on_done(void *ctx, int rc, store_event_t *ev, store_error_t *err)
{
    result_t *r = ctx;
    if (r->calls != 0)
        fail_msg("a proposal was answered twice (rc %d, then %d)", r->rc, rc);
    r->calls++;
    r->rc = rc;
    if (rc == 0 && ev != NULL) {
        r->action = ev->action;
        snprintf(r->value, sizeof(r->value), "%.*s", (int)ev->node.value_len,
                 ev->node.value ? ev->node.value : "");
        r->index = ev->node.modified_index;
        store_event_release(ev);
    } else if (rc != 0) {
        r->code = err->code;
        store_error_clear(err);
    }
}

static bool answered(const result_t *r)
{
    return r->calls > 0 || r->refused;
}

static bool all_answered(const result_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!answered(&r[i]))
            return false;
    return true;
}

/* PUT key=value on member m (the request server_propose makes). */
static void propose_set(member_t *m, const char *key, const char *value, result_t *r)
{
    memset(r, 0, sizeof(*r));
    store_request_t req = {.op = STORE_OP_SET,
                           .time_ns = real_ns(),
                           .key = key,
                           .key_len = strlen(key),
                           .value = value,
                           .value_len = strlen(value)};
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(store_request_encode(&req, &data, &len), 0);
    store_error_t err = {0};
    if (node_propose(m->node, data, len, on_done, r, &err) != 0) {
        r->refused = true;
        r->code = err.code;
        store_error_clear(&err);
    }
    free(data);
}

/* Writes key=value through m and waits for its answer; asserts success. */
static uint64_t write_ok(cluster_t *c, member_t *m, const char *key, const char *value)
{
    result_t r;
    propose_set(m, key, value, &r);
    assert_false(r.refused);
    WAIT_FOR(c, answered(&r), c->request_timeout_ms + 1000);
    if (r.rc != 0)
        fail_msg("write %s through %s failed: %d", key, m->name, r.code);
    return r.index;
}

/* ---- reads ---- */

typedef struct read_result {
    int calls;
    int rc;
    int code;
    int64_t at_ms;
    member_t *m;
    const char *key, *want; /* checked when the barrier passes */
    bool saw_want;
} read_result_t;

static void on_read(void *ctx, int rc, store_error_t *err)
{
    read_result_t *r = ctx;
    r->calls++;
    r->rc = rc;
    r->at_ms = mono_ms();
    if (rc != 0) {
        r->code = err->code;
        store_error_clear(err);
    } else if (r->key != NULL) {
        r->saw_want = has_value(r->m, r->key, r->want);
    }
}

/* ======================================================================== */

/* 1. Bootstrap, one leader, a write made on a follower applied everywhere. */
static void bootstrap_and_follower_write(size_t n)
{
    cluster_t *c = cluster_new(n, 0, REQUEST_TIMEOUT_MS, 1);
    member_t *lead = wait_leader(c, ALL(c), 5000);
    assert_int_equal(count_leaders(c, ALL(c)), 1);
    for (size_t i = 0; i < c->n; i++)
        assert_int_equal(node_members(c->m[i].node)->n, n);
    member_t *f = a_follower(c, lead);
    result_t r;
    propose_set(f, "/k1", "v1", &r);
    assert_false(r.refused);
    WAIT_FOR(c, answered(&r), 3000);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.action, STORE_ACTION_SET);
    assert_string_equal(r.value, "v1");
    assert_true(r.index > 0);
    WAIT_FOR(c, converged(c, ALL(c)), 3000);
    for (size_t i = 0; i < c->n; i++) {
        char v[64];
        uint64_t mod = 0;
        assert_true(get_key(&c->m[i], "/k1", v, sizeof(v), &mod, NULL));
        assert_string_equal(v, "v1");
        assert_int_equal(mod, r.index);
        assert_int_equal(store_index(c->m[i].store), r.index);
    }
    assert_same_stores(c, ALL(c));
    /* The answer came once, and stays so. */
    run_for(c, 100);
    assert_int_equal(r.calls, 1);
    assert_int_equal(count_leaders(c, ALL(c)), 1);
    cluster_free(c);
}

static void test_bootstrap_three(void **state)
{
    (void)state;
    bootstrap_and_follower_write(3);
}

static void test_bootstrap_five(void **state)
{
    (void)state;
    bootstrap_and_follower_write(5);
}

/* 2. Quorum reads: on a follower they see the latest write; on a member cut
 * from the others they fail with 300 once the request timeout passes. */
static void test_quorum_reads(void **state)
{
    (void)state;
    cluster_t *c = cluster_new(3, 0, REQUEST_TIMEOUT_MS, 2);
    member_t *lead = wait_leader(c, ALL(c), 5000);
    member_t *f = a_follower(c, lead);
    for (int i = 0; i < 5; i++) {
        char v[16];
        snprintf(v, sizeof(v), "v%d", i);
        write_ok(c, lead, "/r", v);
        /* Asked right after the leader answered: the follower may not have
         * applied the write yet; the barrier must wait until it has. */
        read_result_t rr = {.m = f, .key = "/r", .want = v};
        assert_int_equal(node_read_barrier(f->node, on_read, &rr), 0);
        assert_int_equal(rr.calls, 0); /* never from inside the call */
        WAIT_FOR(c, rr.calls > 0, 3000);
        assert_int_equal(rr.rc, 0);
        assert_true(rr.saw_want);
    }
    /* On the leader too. */
    read_result_t rl = {.m = lead, .key = "/r", .want = "v4"};
    assert_int_equal(node_read_barrier(lead->node, on_read, &rl), 0);
    WAIT_FOR(c, rl.calls > 0, 3000);
    assert_int_equal(rl.rc, 0);
    assert_true(rl.saw_want);

    /* A member cut from both others cannot confirm anything. */
    for (size_t i = 0; i < c->n; i++)
        if (&c->m[i] != f)
            peer_mem_net_cut(c->net, f->id, c->m[i].id);
    read_result_t rc = {0};
    int64_t start = mono_ms();
    assert_int_equal(node_read_barrier(f->node, on_read, &rc), 0);
    WAIT_FOR(c, rc.calls > 0, c->request_timeout_ms + 2000);
    assert_int_equal(rc.calls, 1);
    assert_int_equal(rc.rc, -STORE_E_RAFT_INTERNAL);
    assert_int_equal(rc.code, 300);
    assert_true(rc.at_ms - start >= (int64_t)c->request_timeout_ms - 5);
    /* The other two still serve quorum reads. */
    member_t *lead2 = wait_leader(c, ALL(c) & ~BIT(f - c->m), 5000);
    read_result_t ro = {.m = lead2, .key = "/r", .want = "v4"};
    assert_int_equal(node_read_barrier(lead2->node, on_read, &ro), 0);
    WAIT_FOR(c, ro.calls > 0, 3000);
    assert_int_equal(ro.rc, 0);
    assert_true(ro.saw_want);
    /* Healed, the cut member serves them again. */
    peer_mem_net_heal_all(c->net);
    wait_leader(c, ALL(c), 5000);
    read_result_t rh = {.m = f, .key = "/r", .want = "v4"};
    assert_int_equal(node_read_barrier(f->node, on_read, &rh), 0);
    WAIT_FOR(c, rh.calls > 0, 3000);
    assert_int_equal(rh.rc, 0);
    assert_true(rh.saw_want);
    cluster_free(c);
}

/* 3. The leader cut from a majority: the majority elects a new leader and
 * commits; the old leader commits nothing; healed, all converge. */
static void partition_leader(size_t n)
{
    cluster_t *c = cluster_new(n, 0, REQUEST_TIMEOUT_MS, 3);
    member_t *old = wait_leader(c, ALL(c), 5000);
    write_ok(c, old, "/before", "1");
    WAIT_FOR(c, converged(c, ALL(c)), 3000);
    /* The old leader keeps a minority with it in a five-member cluster. */
    set_t minority = BIT(old - c->m);
    if (n == 5)
        minority |= BIT(a_follower(c, old) - c->m);
    set_t majority = ALL(c) & ~minority;
    for (size_t i = 0; i < c->n; i++)
        for (size_t k = 0; k < c->n; k++)
            if ((minority & BIT(i)) && (majority & BIT(k)))
                peer_mem_net_cut(c->net, c->m[i].id, c->m[k].id);
    uint64_t old_index = store_index(old->store);
    result_t lost;
    propose_set(old, "/partitioned", "lost", &lost);
    member_t *nl = wait_leader(c, majority, 5000);
    assert_true(nl != old);
    uint64_t idx = write_ok(c, nl, "/majority", "won");
    assert_true(idx > old_index);
    /* The old leader's proposal can only time out. */
    WAIT_FOR(c, answered(&lost), c->request_timeout_ms + 2000);
    assert_false(lost.refused);
    assert_int_equal(lost.rc, -STORE_E_RAFT_INTERNAL);
    assert_int_equal(lost.code, 300);
    /* Nothing proposed after the cut is applied there. (An entry the
     * majority acknowledged just before the cut, such as a member's publish
     * retried under load, may still commit: only writes are checked.) */
    assert_int_equal(store_index(old->store), old_index);
    assert_false(get_key(old, "/partitioned", NULL, 0, NULL, NULL));
    assert_false(get_key(old, "/majority", NULL, 0, NULL, NULL));
    /* Nobody on the minority side leads any more (check quorum). */
    assert_int_equal(count_leaders(c, minority), 0);

    peer_mem_net_heal_all(c->net);
    wait_leader(c, ALL(c), 5000);
    write_ok(c, old, "/after", "1");
    WAIT_FOR(c, converged(c, ALL(c)), 5000);
    assert_same_stores(c, ALL(c));
    for (size_t i = 0; i < c->n; i++) {
        assert_false(get_key(&c->m[i], "/partitioned", NULL, 0, NULL, NULL));
        assert_true(has_value(&c->m[i], "/majority", "won"));
        assert_true(has_value(&c->m[i], "/after", "1"));
    }
    assert_int_equal(lost.calls, 1);
    cluster_free(c);
}

static void test_partition_leader_three(void **state)
{
    (void)state;
    partition_leader(3);
}

static void test_partition_leader_five(void **state)
{
    (void)state;
    partition_leader(5);
}

/* 4. 20% of messages lost while 200 writes go through random members. */
static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define LOSS_WRITES 200
#define LOSS_WAVE   20

static void test_message_loss(void **state)
{
    (void)state;
    cluster_t *c = cluster_new(3, 0, 3000, 4);
    wait_leader(c, ALL(c), 5000);
    WAIT_FOR(c, converged(c, ALL(c)), 3000);
    uint64_t base = store_index(c->m[0].store);
    peer_mem_net_set_drop(c->net, 0.2);
    static result_t res[LOSS_WRITES];
    uint64_t rng = 42;
    size_t acked = 0;
    for (size_t w = 0; w < LOSS_WRITES; w += LOSS_WAVE) {
        for (size_t i = w; i < w + LOSS_WAVE; i++) {
            char key[32], val[32];
            snprintf(key, sizeof(key), "/loss/%03zu", i);
            snprintf(val, sizeof(val), "v%zu", i);
            propose_set(&c->m[splitmix(&rng) % c->n], key, val, &res[i]);
        }
        WAIT_FOR(c, all_answered(res + w, LOSS_WAVE), c->request_timeout_ms + 3000);
    }
    for (size_t i = 0; i < LOSS_WRITES; i++)
        acked += res[i].calls == 1 && res[i].rc == 0;
    print_message("%zu of %d writes acknowledged with 20%% loss\n", acked, LOSS_WRITES);
    assert_true(acked > 0);
    peer_mem_net_set_drop(c->net, 0);
    member_t *lead = wait_leader(c, ALL(c), 5000);
    write_ok(c, lead, "/loss-done", "1");
    WAIT_FOR(c, converged(c, ALL(c)), 5000);
    assert_same_stores(c, ALL(c));
    for (size_t k = 0; k < c->n; k++) {
        member_t *m = &c->m[k];
        size_t present = 0;
        for (size_t i = 0; i < LOSS_WRITES; i++) {
            char key[32], val[32], got[64];
            snprintf(key, sizeof(key), "/loss/%03zu", i);
            snprintf(val, sizeof(val), "v%zu", i);
            bool has = get_key(m, key, got, sizeof(got), NULL, NULL);
            if (res[i].calls == 1 && res[i].rc == 0) {
                if (!has || strcmp(got, val) != 0)
                    fail_msg("acknowledged write %s missing on %s", key, m->name);
            }
            if (has) {
                assert_string_equal(got, val);
                present++;
            }
        }
        /* Each SET takes one store index: a write applied twice would
         * take two for one key. */
        assert_int_equal(store_index(m->store), base + present + 1);
    }
    for (size_t i = 0; i < LOSS_WRITES; i++)
        assert_true(res[i].calls <= 1);
    cluster_free(c);
}

/* 5. A member stopped and reopened on its data dir catches up. */
static void test_restart_catches_up(void **state)
{
    (void)state;
    cluster_t *c = cluster_new(3, 0, REQUEST_TIMEOUT_MS, 5);
    member_t *lead = wait_leader(c, ALL(c), 5000);
    write_ok(c, lead, "/a", "1");
    WAIT_FOR(c, converged(c, ALL(c)), 3000);
    member_t *f = a_follower(c, lead);
    uint64_t f_applied = applied_of(f);
    member_stop(c, f);
    set_t rest = ALL(c) & ~BIT(f - c->m);
    lead = wait_leader(c, rest, 5000);
    for (int i = 0; i < 30; i++) {
        char key[32];
        snprintf(key, sizeof(key), "/more/%d", i);
        write_ok(c, lead, key, "x");
    }
    member_start(c, f);
    /* It comes back with what it had applied (its WAL), then catches up. */
    assert_true(applied_of(f) >= f_applied);
    assert_true(has_value(f, "/a", "1"));
    WAIT_FOR(c, converged(c, ALL(c)), 5000);
    assert_same_stores(c, ALL(c));
    assert_true(has_value(f, "/more/29", "x"));
    assert_int_equal(f->snap_recv_begin, 0); /* the log was enough */
    /* And it takes part: a write through it. */
    write_ok(c, f, "/b", "2");
    WAIT_FOR(c, converged(c, ALL(c)), 3000);
    assert_same_stores(c, ALL(c));
    cluster_free(c);
}

/* 6. A member that missed more than the leader keeps in memory behind its
 * snapshot gets the snapshot file through the transport. */
#define SNAP_WAVE 250

static void test_snapshot_catch_up(void **state)
{
    (void)state;
    cluster_t *c = cluster_new(3, 50, 5000, 6);
    member_t *lead = wait_leader(c, ALL(c), 5000);
    write_ok(c, lead, "/first", "1");
    WAIT_FOR(c, converged(c, ALL(c)), 3000);
    member_t *f = a_follower(c, lead);
    uint64_t f_applied = applied_of(f);
    member_stop(c, f);
    set_t rest = ALL(c) & ~BIT(f - c->m);
    lead = wait_leader(c, rest, 5000);
    /* Enough that the leader's log, compacted to its snapshot minus
     * CATCH_UP_ENTRIES, no longer holds what the member needs next. */
    static result_t res[SNAP_WAVE];
    size_t written = 0;
    int64_t end = mono_ms() + 120000;
    while (lead->node->snap_index <= f_applied + CATCH_UP_ENTRIES + 1) {
        if (mono_ms() > end)
            fail_msg("the leader did not snapshot past %" PRIu64 " (at %" PRIu64 ")",
                     f_applied + CATCH_UP_ENTRIES, lead->node->snap_index);
        for (size_t i = 0; i < SNAP_WAVE; i++) {
            char key[32], val[16];
            snprintf(key, sizeof(key), "/s/%zu", (written + i) % 97);
            snprintf(val, sizeof(val), "%zu", written + i);
            propose_set(lead, key, val, &res[i]);
        }
        WAIT_FOR(c, all_answered(res, SNAP_WAVE), 10000);
        for (size_t i = 0; i < SNAP_WAVE; i++)
            if (res[i].rc != 0 || res[i].refused)
                fail_msg("write %zu failed: %d", written + i, res[i].code);
        written += SNAP_WAVE;
        turn(c);
    }
    print_message("%zu writes, leader snapshot at %" PRIu64 "\n", written, lead->node->snap_index);
    member_start(c, f);
    WAIT_FOR(c, f->snap_recv_ok > 0, 15000);
    WAIT_FOR(c, converged(c, ALL(c)), 15000);
    assert_same_stores(c, ALL(c));
    assert_true(f->node->snap_index > f_applied + CATCH_UP_ENTRIES);
    char v[32];
    snprintf(v, sizeof(v), "%zu", written - 1);
    char key[32];
    snprintf(key, sizeof(key), "/s/%zu", (written - 1) % 97);
    assert_true(has_value(f, key, v));
    /* Restarted once more, it starts from the snapshot it received. */
    member_stop(c, f);
    member_start(c, f);
    assert_true(has_value(f, key, v));
    WAIT_FOR(c, converged(c, ALL(c)), 5000);
    assert_same_stores(c, ALL(c));
    cluster_free(c);
}

/* 7. Member add, the new member joins on an empty data dir and votes;
 * member remove, it learns it and the others go on. */
#define NEW_ID 0x4d656d6265723034ull

static bool is_voter(const member_t *m, uint64_t id)
{
    for (size_t i = 0; i < m->node->conf.n_voters; i++)
        if (m->node->conf.voters[i] == id)
            return true;
    return false;
}

static void test_membership(void **state)
{
    (void)state;
    cluster_t *c = cluster_new(3, 0, REQUEST_TIMEOUT_MS, 7);
    member_t *lead = wait_leader(c, ALL(c), 5000);
    write_ok(c, lead, "/m", "1");
    char *url = "mem://4";
    membership_member_t mb = {.id = NEW_ID, .name = "", .peer_urls = &url, .n_peer_urls = 1};
    result_t add = {0};
    store_error_t err = {0};
    assert_int_equal(node_propose_member(lead->node, NODE_MEMBER_ADD, &mb, on_done, &add, &err), 0);
    WAIT_FOR(c, answered(&add), 3000);
    assert_int_equal(add.rc, 0);
    WAIT_FOR(c, converged(c, ALL(c)), 3000);
    for (size_t i = 0; i < c->n; i++) {
        assert_non_null(membership_find(node_members(c->m[i].node), NEW_ID));
        assert_true(is_voter(&c->m[i], NEW_ID));
    }
    /*
     * A joining member's log is empty, so its member table is too until the
     * leader fills it; its transport must know the members beforehand or it
     * drops their messages as from strangers. The server adds the list it
     * fetched from them (join_fetch_ids); the test gives the same list.
     */
    uint64_t known[MAX_MEMBERS];
    for (size_t i = 0; i < c->n; i++)
        known[i] = c->m[i].id;
    size_t n_known = c->n;
    member_t *nm = member_add_slot(c, NEW_ID, "m4");
    nm->join = true;
    member_start_knowing(c, nm, known, n_known);
    WAIT_FOR(c, converged(c, ALL(c)) && membership_find(node_members(nm->node), NEW_ID) != NULL,
             5000);
    assert_true(is_voter(nm, NEW_ID));
    assert_int_equal(node_members(nm->node)->n, 4);
    assert_same_stores(c, ALL(c));
    assert_true(has_value(nm, "/m", "1"));
    /* Its vote counts: four voters need three, so with one old follower
     * cut off nothing commits without the new member's copy. */
    lead = wait_leader(c, ALL(c), 5000);
    member_t *cut = a_follower(c, lead);
    for (size_t i = 0; i < c->n; i++)
        if (&c->m[i] != cut)
            peer_mem_net_cut(c->net, cut->id, c->m[i].id);
    write_ok(c, nm, "/via-new", "1");
    assert_true(has_value(nm, "/via-new", "1"));
    assert_false(has_value(cut, "/via-new", "1"));
    peer_mem_net_heal_all(c->net);
    wait_leader(c, ALL(c), 5000);
    WAIT_FOR(c, converged(c, ALL(c)), 5000);
    assert_true(has_value(cut, "/via-new", "1"));
    lead = wait_leader(c, ALL(c), 5000);

    result_t rm = {0};
    assert_int_equal(node_propose_member(lead->node, NODE_MEMBER_REMOVE, &mb, on_done, &rm, &err),
                     0);
    WAIT_FOR(c, answered(&rm), 3000);
    assert_int_equal(rm.rc, 0);
    WAIT_FOR(c, nm->removed_calls > 0, 5000);
    assert_int_equal(nm->removed_calls, 1);
    set_t rest = ALL(c) & ~BIT(nm - c->m);
    WAIT_FOR(c, converged(c, rest), 3000);
    for (size_t i = 0; i < c->n; i++) {
        if (&c->m[i] == nm)
            continue;
        assert_null(membership_find(node_members(c->m[i].node), NEW_ID));
        assert_false(is_voter(&c->m[i], NEW_ID));
        assert_int_equal(c->m[i].removed_calls, 0);
    }
    /* A removed member refuses writes. */
    result_t refused;
    propose_set(nm, "/from-removed", "x", &refused);
    assert_true(refused.refused);
    member_stop(c, nm);
    lead = wait_leader(c, rest, 5000);
    write_ok(c, lead, "/after-remove", "1");
    WAIT_FOR(c, converged(c, rest), 3000);
    assert_same_stores(c, rest);
    cluster_free(c);
}

/* 8. Leadership transfer moves leadership within the timeout. */
static void test_transfer_leadership(void **state)
{
    (void)state;
    cluster_t *c = cluster_new(3, 0, REQUEST_TIMEOUT_MS, 8);
    member_t *lead = wait_leader(c, ALL(c), 5000);
    write_ok(c, lead, "/t", "1");
    WAIT_FOR(c, converged(c, ALL(c)), 3000);
    /* node_transfer_leadership runs the loop itself; the pump processes
     * the other members meanwhile, as their own processes would. */
    h2o_timeout_link(c->loop, &c->pump_timeout, &c->pump_entry);
    int64_t start = mono_ms();
    bool moved = node_transfer_leadership(lead->node, 2 * ELECTION_MS);
    int64_t took = mono_ms() - start;
    h2o_timeout_unlink(&c->pump_entry);
    assert_true(moved);
    assert_true(took <= 2 * ELECTION_MS + 50);
    member_t *nl = wait_leader(c, ALL(c), 3000);
    assert_true(nl != lead);
    assert_int_equal(count_leaders(c, ALL(c)), 1);
    write_ok(c, lead, "/t2", "2");
    WAIT_FOR(c, converged(c, ALL(c)), 3000);
    assert_same_stores(c, ALL(c));
    cluster_free(c);
}

/* An optional argument runs only the cases whose name matches it (cmocka's
 * filter, e.g. "test_membership" or "*partition*"). */
int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bootstrap_three),
        cmocka_unit_test(test_bootstrap_five),
        cmocka_unit_test(test_quorum_reads),
        cmocka_unit_test(test_partition_leader_three),
        cmocka_unit_test(test_partition_leader_five),
        cmocka_unit_test(test_message_loss),
        cmocka_unit_test(test_restart_catches_up),
        cmocka_unit_test(test_snapshot_catch_up),
        cmocka_unit_test(test_membership),
        cmocka_unit_test(test_transfer_leadership),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
