/* Allocation failure injection: the k-th allocation made inside the raft
 * core fails, for every k of a whole scenario (election, replication,
 * ReadIndex, a configuration change, a snapshot). The core must report
 * RAFT_ENOMEM or carry on, never crash or leak, and the cluster must still
 * elect a leader and commit once memory is back. Linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);

static bool armed;
static long countdown = -1; /* allocations left before the failure */
static long failures;
static long armed_allocs; /* allocations made by the core while armed */

static bool should_fail(void)
{
    if (!armed)
        return false;
    armed_allocs++;
    if (countdown < 0)
        return false;
    if (countdown-- == 0) {
        failures++;
        return true;
    }
    return false;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    return should_fail() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}

#define N 3

struct net {
    struct raft *r[N + 1];
    struct raft_storage_mem *st[N + 1];
    struct raft_buf q[512];
    size_t nq;
    uint64_t applied[N + 1];
};

static int call_rc;

/* Runs one core call with failure injection armed. */
#define ARMED(expr)                                                                                \
    do {                                                                                           \
        armed = true;                                                                              \
        call_rc = (expr);                                                                          \
        armed = false;                                                                             \
        assert_true(call_rc == 0 || call_rc == RAFT_ENOMEM || call_rc == RAFT_ENOLEADER ||         \
                    call_rc == RAFT_EPROPOSALDROPPED || call_rc == RAFT_ESTEPPEERNOTFOUND ||       \
                    call_rc == RAFT_ECONFCHANGE);                                                  \
    } while (0)

static void ready(struct net *n, uint64_t id)
{
    struct raft *r = n->r[id];
    for (int guard = 0; guard < 100 && raft_has_ready(r); guard++) {
        struct raft_ready rd;
        ARMED(raft_ready(r, &rd));
        if (call_rc)
            return;
        if (rd.has_snapshot)
            raft_storage_mem_apply_snapshot(n->st[id], &rd.snapshot);
        assert_int_equal(raft_storage_mem_append(n->st[id], rd.entries, rd.n_entries), 0);
        if (rd.has_hard_state)
            raft_storage_mem_set_hard_state(n->st[id], &rd.hard_state);
        for (size_t i = 0; i < rd.n_messages && n->nq < 512; i++) {
            n->q[n->nq] = (struct raft_buf){0};
            assert_int_equal(raft_encode_message(&n->q[n->nq], &rd.messages[i]), 0);
            n->nq++;
        }
        if (rd.has_snapshot)
            n->applied[id] = rd.snapshot.meta.index;
        for (size_t i = 0; i < rd.n_committed; i++) {
            struct raft_entry *e = &rd.committed[i];
            n->applied[id] = e->index;
            if (e->type == RAFT_ENTRY_CONF_CHANGE) {
                struct raft_conf_change cc;
                assert_int_equal(raft_decode_conf_change(e->data, e->len, &cc), 0);
                /* A failed apply is retried: the configuration must match
                 * the log everywhere. */
                for (int t = 0; t < 3; t++) {
                    ARMED(raft_apply_conf_change(r, &cc, NULL));
                    if (call_rc != RAFT_ENOMEM)
                        break;
                }
                raft_conf_change_free(&cc);
            }
        }
        ARMED(raft_advance(r, &rd));
    }
}

static void deliver_all(struct net *n)
{
    for (int rounds = 0; n->nq > 0 && rounds < 5000; rounds++) {
        struct raft_buf b = n->q[0];
        memmove(n->q, n->q + 1, (n->nq - 1) * sizeof(n->q[0]));
        n->nq--;
        struct raft_message m;
        assert_int_equal(raft_decode_message(b.data, b.len, &m), 0);
        raft_buf_free(&b);
        if (m.to >= 1 && m.to <= N) {
            ARMED(raft_step(n->r[m.to], &m));
            ready(n, m.to);
        }
        raft_message_free(&m);
    }
}

static void tick_all(struct net *n, int ticks)
{
    for (int t = 0; t < ticks; t++) {
        for (uint64_t id = 1; id <= N; id++) {
            ARMED(raft_tick(n->r[id]));
            ready(n, id);
        }
        deliver_all(n);
    }
}

static uint64_t leader(struct net *n)
{
    for (uint64_t id = 1; id <= N; id++) {
        struct raft_status st;
        raft_get_status(n->r[id], &st);
        if (st.ss.state == RAFT_LEADER)
            return id;
    }
    return 0;
}

/* Election, proposals (one forwarded), ReadIndex, a configuration
 * change, compaction and a leadership transfer. */
static void scenario(struct net *n)
{
    tick_all(n, 40);
    uint64_t l = leader(n);
    if (l) {
        ARMED(raft_propose(n->r[l], "a", 1));
        ARMED(raft_propose(n->r[l == 1 ? 2 : 1], "b", 1));
        ready(n, l);
        deliver_all(n);
        ARMED(raft_read_index(n->r[l], "ctx", 3));
        ready(n, l);
        deliver_all(n);
        struct raft_conf_change_single ch = {RAFT_CC_ADD_LEARNER, 4};
        struct raft_conf_change cc = {.changes = &ch, .n_changes = 1};
        ARMED(raft_propose_conf_change(n->r[l], &cc));
        ready(n, l);
        deliver_all(n);
        tick_all(n, 3);
        uint64_t v[3] = {1, 2, 3};
        struct raft_conf_state cs = {.voters = v, .n_voters = 3};
        if (n->applied[l] > 0 &&
            raft_storage_mem_create_snapshot(n->st[l], n->applied[l], &cs, "s", 1) == 0)
            raft_storage_mem_compact(n->st[l], n->applied[l]);
        ARMED(raft_transfer_leader(n->r[l], l % N + 1));
        ready(n, l);
        deliver_all(n);
    }
    tick_all(n, 20);
}

static void run(long fail_at)
{
    struct net n;
    memset(&n, 0, sizeof(n));
    uint64_t v[N] = {1, 2, 3};
    struct raft_conf_state cs = {.voters = v, .n_voters = N};
    for (uint64_t id = 1; id <= N; id++) {
        n.st[id] = raft_storage_mem_new();
        raft_storage_mem_set_conf_state(n.st[id], &cs);
        struct raft_config cfg = {.id = id,
                                  .election_tick = 10,
                                  .heartbeat_tick = 1,
                                  .storage = raft_storage_mem_iface(n.st[id]),
                                  .max_size_per_msg = 1024,
                                  .max_inflight_msgs = 4,
                                  .pre_vote = true,
                                  .check_quorum = true,
                                  .seed = id};
        assert_int_equal(raft_new(&cfg, &n.r[id]), 0);
    }
    countdown = fail_at;
    scenario(&n);
    countdown = -1;
    /* Memory is back: the cluster recovers and commits. */
    tick_all(&n, 60);
    uint64_t l = leader(&n);
    assert_int_not_equal(l, 0);
    uint64_t before = n.applied[l];
    assert_int_equal(raft_propose(n.r[l], "z", 1), 0);
    ready(&n, l);
    deliver_all(&n);
    tick_all(&n, 2);
    assert_true(n.applied[l] > before);
    for (uint64_t id = 1; id <= N; id++) {
        raft_free(n.r[id]);
        raft_storage_mem_free(n.st[id]);
    }
    for (size_t i = 0; i < n.nq; i++)
        raft_buf_free(&n.q[i]);
}

static void test_every_allocation_may_fail(void **state)
{
    (void)state;
    /* Count the allocations of a clean run, then fail each one in turn
     * (every one of the first 600, then every 5th). */
    armed_allocs = 0;
    run(-1);
    long total = armed_allocs;
    assert_true(total > 500);
    for (long k = 0; k < total; k += (k < 600 ? 1 : 5))
        run(k);
    assert_true(failures > 0);
    print_message("%ld allocations in the scenario, %ld failures injected\n", total, failures);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_may_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
