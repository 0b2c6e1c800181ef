/* Unit tests of raft/encoding.c: round trips, and every truncation or
 * corruption of a valid encoding is reported, never crashes. */
#include "tests/raft/cluster.h"

static void test_message_round_trip(void **state)
{
    (void)state;
    struct raft_entry ents[2] = {
        {.term = 3, .index = 7, .type = RAFT_ENTRY_NORMAL, .data = "hello", .len = 5},
        {.term = 3, .index = 8, .type = RAFT_ENTRY_CONF_CHANGE}};
    struct raft_message m = {.type = RAFT_MSG_APP,
                             .to = 2,
                             .from = 1,
                             .term = 3,
                             .log_term = 2,
                             .index = 6,
                             .commit = 5,
                             .reject = true,
                             .reject_hint = 4,
                             .entries = ents,
                             .n_entries = 2,
                             .context = "ctx",
                             .context_len = 3};
    struct raft_buf b = {0};
    assert_int_equal(raft_encode_message(&b, &m), 0);
    struct raft_message d;
    assert_int_equal(raft_decode_message(b.data, b.len, &d), 0);
    assert_int_equal(d.type, RAFT_MSG_APP);
    assert_int_equal(d.to, 2);
    assert_int_equal(d.from, 1);
    assert_int_equal(d.term, 3);
    assert_int_equal(d.log_term, 2);
    assert_int_equal(d.index, 6);
    assert_int_equal(d.commit, 5);
    assert_true(d.reject);
    assert_int_equal(d.reject_hint, 4);
    assert_int_equal(d.n_entries, 2);
    assert_int_equal(d.entries[0].len, 5);
    assert_memory_equal(d.entries[0].data, "hello", 5);
    assert_int_equal(d.entries[1].type, RAFT_ENTRY_CONF_CHANGE);
    assert_int_equal(d.context_len, 3);
    raft_message_free(&d);
    /* Every proper prefix is an error, never a crash. */
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(raft_decode_message(b.data, i, &d), RAFT_EDECODE);
    /* Trailing bytes are an error. */
    uint8_t *longer = malloc(b.len + 1);
    memcpy(longer, b.data, b.len);
    longer[b.len] = 0;
    assert_int_equal(raft_decode_message(longer, b.len + 1, &d), RAFT_EDECODE);
    free(longer);
    /* Unknown version. */
    b.data[0] = 99;
    assert_int_equal(raft_decode_message(b.data, b.len, &d), RAFT_EVERSION);
    raft_buf_free(&b);
}

static void test_snapshot_message(void **state)
{
    (void)state;
    uint64_t v[3] = {1, 2, 3}, l[1] = {9};
    struct raft_message m = {.type = RAFT_MSG_SNAP, .to = 2, .from = 1, .term = 4};
    m.snapshot.meta = (struct raft_snapshot_meta){
        .index = 100,
        .term = 4,
        .conf = {.voters = v, .n_voters = 3, .learners = l, .n_learners = 1}};
    m.snapshot.data = "state";
    m.snapshot.len = 5;
    struct raft_buf b = {0};
    assert_int_equal(raft_encode_message(&b, &m), 0);
    struct raft_message d;
    assert_int_equal(raft_decode_message(b.data, b.len, &d), 0);
    assert_int_equal(d.snapshot.meta.index, 100);
    assert_int_equal(d.snapshot.meta.conf.n_voters, 3);
    assert_int_equal(d.snapshot.meta.conf.learners[0], 9);
    assert_memory_equal(d.snapshot.data, "state", 5);
    raft_message_free(&d);
    raft_buf_free(&b);
}

static void test_hard_state_and_meta(void **state)
{
    (void)state;
    struct raft_hard_state hs = {.term = 7, .vote = 3, .commit = 99}, out;
    struct raft_buf b = {0};
    assert_int_equal(raft_encode_hard_state(&b, &hs), 0);
    assert_int_equal(raft_decode_hard_state(b.data, b.len, &out), 0);
    assert_memory_equal(&hs, &out, sizeof(hs));
    assert_int_equal(raft_decode_hard_state(b.data, b.len - 1, &out), RAFT_EDECODE);
    raft_buf_free(&b);
    struct raft_entry e = {.term = 1, .index = 2, .data = "abc", .len = 3}, de;
    assert_int_equal(raft_encode_entry(&b, &e), 0);
    size_t used;
    assert_int_equal(raft_decode_entry(b.data, b.len, &de, &used), 0);
    assert_int_equal(used, b.len);
    assert_memory_equal(de.data, "abc", 3);
    free(de.data);
    raft_buf_free(&b);
    uint64_t v[2] = {4, 5};
    struct raft_snapshot_meta meta = {.index = 3,
                                      .term = 2,
                                      .conf = {.voters_outgoing = v,
                                               .n_voters_outgoing = 2,
                                               .auto_leave = true}},
                              dm;
    assert_int_equal(raft_encode_snapshot_meta(&b, &meta), 0);
    assert_int_equal(raft_decode_snapshot_meta(b.data, b.len, &dm, &used), 0);
    assert_int_equal(dm.conf.n_voters_outgoing, 2);
    assert_true(dm.conf.auto_leave);
    raft_conf_state_free(&dm.conf);
    raft_buf_free(&b);
}

static void test_conf_change(void **state)
{
    (void)state;
    struct raft_conf_change_single ch[2] = {{RAFT_CC_ADD_NODE, 4}, {RAFT_CC_REMOVE_NODE, 2}};
    struct raft_conf_change cc = {.joint = true,
                                  .changes = ch,
                                  .n_changes = 2,
                                  .context = "url",
                                  .context_len = 3},
                            d;
    struct raft_buf b = {0};
    assert_int_equal(raft_encode_conf_change(&b, &cc), 0);
    assert_int_equal(raft_decode_conf_change(b.data, b.len, &d), 0);
    assert_true(d.joint);
    assert_int_equal(d.n_changes, 2);
    assert_int_equal(d.changes[1].type, RAFT_CC_REMOVE_NODE);
    assert_int_equal(d.changes[1].node_id, 2);
    assert_memory_equal(d.context, "url", 3);
    raft_conf_change_free(&d);
    /* A huge count with few bytes is refused before any allocation. */
    uint8_t bad[10] = {RAFT_ENCODING_VERSION, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    assert_int_equal(raft_decode_conf_change(bad, sizeof(bad), &d), RAFT_EDECODE);
    raft_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_round_trip),
        cmocka_unit_test(test_snapshot_message),
        cmocka_unit_test(test_hard_state_and_meta),
        cmocka_unit_test(test_conf_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
