/* Unit tests of the in-memory storage: ranges, errors, snapshots and
 * compaction. */
#include "tests/raft/cluster.h"

static void test_ranges_and_errors(void **state)
{
    (void)state;
    struct raft_storage_mem *m = raft_storage_mem_new();
    struct raft_storage *s = raft_storage_mem_iface(m);
    for (uint64_t i = 1; i <= 5; i++) {
        struct raft_entry e = {.term = i, .index = i, .data = "x", .len = 1};
        assert_int_equal(raft_storage_mem_append(m, &e, 1), 0);
    }
    uint64_t first, last, t;
    s->first_index(s->ctx, &first);
    s->last_index(s->ctx, &last);
    assert_int_equal(first, 1);
    assert_int_equal(last, 5);
    assert_int_equal(s->term(s->ctx, 0, &t), 0);
    assert_int_equal(s->term(s->ctx, 6, &t), RAFT_EUNAVAILABLE);
    /* A hole is refused; an overlap truncates. */
    struct raft_entry hole = {.term = 9, .index = 9};
    assert_int_equal(raft_storage_mem_append(m, &hole, 1), RAFT_EINVAL);
    struct raft_entry over = {.term = 7, .index = 3};
    assert_int_equal(raft_storage_mem_append(m, &over, 1), 0);
    s->last_index(s->ctx, &last);
    assert_int_equal(last, 3);
    assert_int_equal(s->term(s->ctx, 3, &t), 0);
    assert_int_equal(t, 7);
    /* Compaction needs a snapshot covering it. */
    assert_int_equal(raft_storage_mem_compact(m, 2), RAFT_EUNAVAILABLE);
    uint64_t v[1] = {1};
    struct raft_conf_state cs = {.voters = v, .n_voters = 1};
    assert_int_equal(raft_storage_mem_create_snapshot(m, 2, &cs, "S", 1), 0);
    assert_int_equal(raft_storage_mem_create_snapshot(m, 2, &cs, "S", 1), RAFT_ESNAPOUTOFDATE);
    assert_int_equal(raft_storage_mem_compact(m, 2), 0);
    assert_int_equal(raft_storage_mem_compact(m, 2), RAFT_ECOMPACTED);
    s->first_index(s->ctx, &first);
    assert_int_equal(first, 3);
    assert_int_equal(s->term(s->ctx, 2, &t), 0);
    assert_int_equal(t, 2);
    assert_int_equal(s->term(s->ctx, 1, &t), RAFT_ECOMPACTED);
    struct raft_entry *ents;
    size_t n;
    assert_int_equal(s->entries(s->ctx, 2, 4, UINT64_MAX, &ents, &n), RAFT_ECOMPACTED);
    assert_int_equal(s->entries(s->ctx, 3, 4, UINT64_MAX, &ents, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ents[0].term, 7);
    raft_entries_free(ents, n);
    struct raft_snapshot snap;
    assert_int_equal(s->snapshot(s->ctx, &snap), 0);
    assert_int_equal(snap.meta.index, 2);
    assert_int_equal(snap.meta.term, 2);
    assert_int_equal(snap.len, 1);
    /* Applying an older snapshot is refused, a newer one replaces all. */
    assert_int_equal(raft_storage_mem_apply_snapshot(m, &snap), RAFT_ESNAPOUTOFDATE);
    snap.meta.index = 10;
    snap.meta.term = 8;
    assert_int_equal(raft_storage_mem_apply_snapshot(m, &snap), 0);
    s->first_index(s->ctx, &first);
    s->last_index(s->ctx, &last);
    assert_int_equal(first, 11);
    assert_int_equal(last, 10);
    raft_snapshot_free(&snap);
    raft_storage_mem_free(m);
}

/* Trimming drops entries no snapshot covers (raft_storage_mem_trim); the
 * rest stay readable after the array shrinks. */
static void test_trim_past_snapshot(void **state)
{
    (void)state;
    struct raft_storage_mem *m = raft_storage_mem_new();
    struct raft_storage *s = raft_storage_mem_iface(m);
    for (uint64_t i = 1; i <= 5000; i++) {
        struct raft_entry e = {.term = 1 + i / 1000, .index = i, .data = "x", .len = 1};
        assert_int_equal(raft_storage_mem_append(m, &e, 1), 0);
    }
    uint64_t v[1] = {1};
    struct raft_conf_state cs = {.voters = v, .n_voters = 1};
    assert_int_equal(raft_storage_mem_create_snapshot(m, 10, &cs, NULL, 0), 0);
    assert_int_equal(raft_storage_mem_compact(m, 4990), RAFT_EUNAVAILABLE);
    assert_int_equal(raft_storage_mem_trim(m, 5001), RAFT_EUNAVAILABLE);
    assert_int_equal(raft_storage_mem_trim(m, 4990), 0);
    assert_int_equal(raft_storage_mem_trim(m, 4000), RAFT_ECOMPACTED);
    uint64_t first, last, t;
    s->first_index(s->ctx, &first);
    s->last_index(s->ctx, &last);
    assert_int_equal(first, 4991);
    assert_int_equal(last, 5000);
    assert_int_equal(s->term(s->ctx, 4990, &t), 0);
    assert_int_equal(t, 5);
    assert_int_equal(s->term(s->ctx, 4989, &t), RAFT_ECOMPACTED);
    struct raft_entry *ents;
    size_t n;
    assert_int_equal(s->entries(s->ctx, 4991, 5001, UINT64_MAX, &ents, &n), 0);
    assert_int_equal(n, 10);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ents[i].index, 4991 + i);
    raft_entries_free(ents, n);
    /* The snapshot stays the older one; appending goes on after the trim. */
    struct raft_snapshot snap;
    assert_int_equal(s->snapshot(s->ctx, &snap), 0);
    assert_int_equal(snap.meta.index, 10);
    raft_snapshot_free(&snap);
    struct raft_entry e = {.term = 6, .index = 5001, .data = "y", .len = 1};
    assert_int_equal(raft_storage_mem_append(m, &e, 1), 0);
    s->last_index(s->ctx, &last);
    assert_int_equal(last, 5001);
    raft_storage_mem_free(m);
}

static void test_restart_from_storage(void **state)
{
    (void)state;
    /* A node restarted from storage resumes its term, vote and commit. */
    struct tc *c = tc_new(3);
    tc_campaign(c, 1);
    assert_int_equal(raft_propose(tc_node(c, 1)->r, "p", 1), 0);
    tc_settle(c);
    struct raft_status before = tc_status(c, 2);
    raft_free(tc_node(c, 2)->r);
    struct raft_config cfg = tc_config(2, tc_node(c, 2)->st);
    assert_int_equal(raft_new(&cfg, &tc_node(c, 2)->r), 0);
    struct raft_status after = tc_status(c, 2);
    assert_int_equal(after.hs.term, before.hs.term);
    assert_int_equal(after.hs.vote, before.hs.vote);
    assert_int_equal(after.hs.commit, before.hs.commit);
    assert_int_equal(after.last_index, before.last_index);
    tc_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges_and_errors),
        cmocka_unit_test(test_trim_past_snapshot),
        cmocka_unit_test(test_restart_from_storage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
