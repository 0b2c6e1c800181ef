/* Unit tests of raft/log.c: the AppendEntries receiver rules (paper 5.3,
 * figure 2), commitment (5.4.2), up-to-date comparison (5.4.1). */
#include "tests/raft/cluster.h"

static struct raft_storage_mem *st_with(const uint64_t *terms, size_t n)
{
    struct raft_storage_mem *m = raft_storage_mem_new();
    for (size_t i = 0; i < n; i++) {
        struct raft_entry e = {.term = terms[i], .index = i + 1};
        assert_int_equal(raft_storage_mem_append(m, &e, 1), 0);
    }
    return m;
}

static void test_maybe_append(void **state)
{
    (void)state;
    uint64_t terms[3] = {1, 2, 3};
    struct raft_storage_mem *m = st_with(terms, 3);
    struct raft_log l;
    assert_int_equal(raft_log_init(&l, raft_storage_mem_iface(m)), 0);
    uint64_t lastnew = 0;
    /* Rule 2: previous entry must match. */
    struct raft_entry e4 = {.term = 4, .index = 4};
    assert_int_equal(raft_log_maybe_append(&l, 3, 2, 3, &e4, 1, &lastnew), 0);
    assert_int_equal(raft_log_maybe_append(&l, 4, 3, 3, &e4, 1, &lastnew), 0);
    /* Matching: appended, commit = min(leader commit, last new). */
    assert_int_equal(raft_log_maybe_append(&l, 3, 3, 10, &e4, 1, &lastnew), 1);
    assert_int_equal(lastnew, 4);
    assert_int_equal(l.committed, 4);
    assert_int_equal(raft_log_last_index(&l), 4);
    /* An already-present prefix is not a conflict: nothing truncated. */
    struct raft_entry e23[2] = {{.term = 2, .index = 2}, {.term = 3, .index = 3}};
    assert_int_equal(raft_log_maybe_append(&l, 1, 1, 4, e23, 2, &lastnew), 1);
    assert_int_equal(raft_log_last_index(&l), 4);
    raft_log_close(&l);
    raft_storage_mem_free(m);
}

static void test_conflict_truncates(void **state)
{
    (void)state;
    uint64_t terms[5] = {1, 1, 2, 2, 2};
    struct raft_storage_mem *m = st_with(terms, 5);
    struct raft_log l;
    assert_int_equal(raft_log_init(&l, raft_storage_mem_iface(m)), 0);
    l.committed = 2;
    uint64_t lastnew;
    /* Rule 3: a conflicting entry and all that follow are deleted. */
    struct raft_entry e[1] = {{.term = 3, .index = 3}};
    assert_int_equal(raft_log_maybe_append(&l, 2, 1, 3, e, 1, &lastnew), 1);
    assert_int_equal(raft_log_last_index(&l), 3);
    assert_int_equal(raft_log_term_or_zero(&l, 3), 3);
    assert_int_equal(raft_log_term_or_zero(&l, 4), 0);
    assert_int_equal(l.committed, 3);
    /* Unstable entries: persisted with the stable_to handshake. */
    assert_int_equal(l.n_ents, 1);
    struct raft_entry *ents;
    size_t n;
    assert_int_equal(raft_log_slice(&l, 1, 4, UINT64_MAX, &ents, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(raft_storage_mem_append(m, &ents[2], 1), 0);
    raft_entries_free(ents, n);
    raft_log_stable_to(&l, 3, 3);
    assert_int_equal(l.n_ents, 0);
    assert_int_equal(raft_log_last_index(&l), 3);
    raft_log_close(&l);
    raft_storage_mem_free(m);
}

static void test_commit_only_current_term(void **state)
{
    (void)state;
    uint64_t terms[3] = {1, 2, 2};
    struct raft_storage_mem *m = st_with(terms, 3);
    struct raft_log l;
    raft_log_init(&l, raft_storage_mem_iface(m));
    /* 5.4.2: index 3 has term 2; a leader of term 3 must not commit it. */
    assert_false(raft_log_maybe_commit(&l, 3, 3));
    assert_int_equal(l.committed, 0);
    assert_true(raft_log_maybe_commit(&l, 3, 2));
    assert_int_equal(l.committed, 3);
    /* Never backwards. */
    assert_false(raft_log_maybe_commit(&l, 2, 2));
    assert_int_equal(l.committed, 3);
    raft_log_close(&l);
    raft_storage_mem_free(m);
}

static void test_up_to_date(void **state)
{
    (void)state;
    uint64_t terms[3] = {1, 2, 2};
    struct raft_storage_mem *m = st_with(terms, 3);
    struct raft_log l;
    raft_log_init(&l, raft_storage_mem_iface(m));
    assert_true(raft_log_is_up_to_date(&l, 1, 3));  /* higher term wins */
    assert_true(raft_log_is_up_to_date(&l, 3, 2));  /* same term, same length */
    assert_true(raft_log_is_up_to_date(&l, 4, 2));  /* longer */
    assert_false(raft_log_is_up_to_date(&l, 2, 2)); /* shorter */
    assert_false(raft_log_is_up_to_date(&l, 9, 1)); /* lower term */
    raft_log_close(&l);
    raft_storage_mem_free(m);
}

static void test_find_conflict_by_term(void **state)
{
    (void)state;
    uint64_t terms[7] = {1, 1, 1, 4, 4, 5, 5};
    struct raft_storage_mem *m = st_with(terms, 7);
    struct raft_log l;
    raft_log_init(&l, raft_storage_mem_iface(m));
    uint64_t t;
    assert_int_equal(raft_log_find_conflict_by_term(&l, 7, 3, &t), 3);
    assert_int_equal(t, 1);
    assert_int_equal(raft_log_find_conflict_by_term(&l, 7, 5, &t), 7);
    assert_int_equal(raft_log_find_conflict_by_term(&l, 10, 4, &t), 5);
    assert_int_equal(t, 4);
    raft_log_close(&l);
    raft_storage_mem_free(m);
}

static void test_slice_byte_limit(void **state)
{
    (void)state;
    struct raft_storage_mem *m = raft_storage_mem_new();
    char data[100] = {0};
    for (uint64_t i = 1; i <= 6; i++) {
        struct raft_entry e = {.term = 1, .index = i, .data = data, .len = sizeof(data)};
        raft_storage_mem_append(m, &e, 1);
    }
    struct raft_log l;
    raft_log_init(&l, raft_storage_mem_iface(m));
    struct raft_entry more[2] = {{.term = 1, .index = 7, .data = data, .len = 100},
                                 {.term = 1, .index = 8, .data = data, .len = 100}};
    assert_int_equal(raft_log_append(&l, more, 2), 0);
    struct raft_entry *ents;
    size_t n;
    /* Always at least one entry, then stop before the limit is exceeded. */
    assert_int_equal(raft_log_slice(&l, 1, 9, 0, &ents, &n), 0);
    assert_int_equal(n, 1);
    raft_entries_free(ents, n);
    assert_int_equal(raft_log_slice(&l, 5, 9, 3 * 124, &ents, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ents[2].index, 7);
    raft_entries_free(ents, n);
    assert_int_equal(raft_log_slice(&l, 1, 10, UINT64_MAX, &ents, &n), RAFT_EUNAVAILABLE);
    raft_log_close(&l);
    raft_storage_mem_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maybe_append),
        cmocka_unit_test(test_conflict_truncates),
        cmocka_unit_test(test_commit_only_current_term),
        cmocka_unit_test(test_up_to_date),
        cmocka_unit_test(test_find_conflict_by_term),
        cmocka_unit_test(test_slice_byte_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
