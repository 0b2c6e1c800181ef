/* tests/peer/test_mem.c - the in-memory transport: asynchronous delivery,
 * cut and heal, seeded drops, removed members, snapshots. */
#include "tests/peer/peer_test.h"

static struct peer_mem_net *net;

static int setup(void **state)
{
    (void)state;
    test_loop = h2o_evloop_create();
    net = peer_mem_net_new(test_loop, 42);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    peer_mem_net_free(net);
    h2o_evloop_run(test_loop, 0);
    h2o_evloop_destroy(test_loop);
    return 0;
}

/* n members, all connected to each other. */
static void start_cluster(struct member **m, int n)
{
    for (int i = 0; i < n; i++) {
        m[i] = calloc(1, sizeof(*m[i]));
        struct peer_config cfg = member_config(m[i], (uint64_t)i + 1, 0xc1);
        assert_int_equal(peer_mem_new(net, &cfg, &m[i]->t), 0);
        snprintf(m[i]->url, sizeof(m[i]->url), "http://127.0.0.1:%d", 2380 + i);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j) {
                const char *u[] = {m[j]->url};
                assert_int_equal(peer_add(m[i]->t, m[j]->id, u, 1), 0);
            }
}

static void stop_cluster(struct member **m, int n)
{
    for (int i = 0; i < n; i++) {
        peer_free(m[i]->t);
        free(m[i]);
    }
}

static bool net_idle(void *arg)
{
    (void)arg;
    return peer_mem_net_pending(net) == 0;
}

static void drain(void)
{
    assert_true(run_until(net_idle, NULL, 2000));
    run_for(1); /* deferred reports */
}

static void send_hb(struct member *from, uint64_t to, uint64_t seq)
{
    struct raft_message m = heartbeat(from->id, to, seq);
    assert_int_equal(peer_send(from->t, &m), 0);
}

static void test_delivery_is_asynchronous_and_ordered(void **state)
{
    (void)state;
    struct member *m[2];
    start_cluster(m, 2);
    for (uint64_t i = 0; i < 100; i++)
        send_hb(m[0], 2, i);
    assert_int_equal(m[1]->n_received, 0);
    assert_int_equal(peer_mem_net_pending(net), 100);
    drain();
    assert_int_equal(m[1]->n_received, 100);
    for (size_t i = 0; i < 100; i++)
        assert_int_equal(m[1]->indexes[i], i);
    struct peer_stats st;
    assert_int_equal(peer_stats(m[0]->t, 2, &st), 0);
    assert_int_equal(st.sent_msgs, 100);
    assert_int_equal(peer_stats(m[1]->t, 1, &st), 0);
    assert_int_equal(st.received_msgs, 100);
    stop_cluster(m, 2);
}

static void test_cut_and_heal(void **state)
{
    (void)state;
    struct member *m[3];
    start_cluster(m, 3);
    peer_mem_net_cut(net, 1, 2);
    send_hb(m[0], 2, 1);
    send_hb(m[1], 1, 1);
    send_hb(m[0], 3, 1);
    send_hb(m[2], 2, 1);
    drain();
    assert_int_equal(m[0]->n_received, 0);
    assert_int_equal(m[1]->n_received, 1); /* from 3 */
    assert_int_equal(m[2]->n_received, 1);
    assert_true(m[0]->unreachable[2] > 0);
    assert_true(m[1]->unreachable[1] > 0);
    struct peer_stats st;
    peer_stats(m[0]->t, 2, &st);
    assert_false(st.active);
    /* a cut also drops what was already on its way */
    send_hb(m[0], 2, 2);
    peer_mem_net_cut(net, 2, 1);
    drain();
    assert_int_equal(m[1]->n_received, 1);
    peer_mem_net_heal(net, 2, 1);
    send_hb(m[0], 2, 3);
    send_hb(m[1], 1, 3);
    drain();
    assert_int_equal(m[0]->n_received, 1);
    assert_int_equal(m[1]->n_received, 2);
    assert_int_equal(m[1]->indexes[1], 3);
    /* a partition: 1 alone */
    peer_mem_net_cut(net, 1, 2);
    peer_mem_net_cut(net, 1, 3);
    send_hb(m[0], 2, 4);
    send_hb(m[0], 3, 4);
    send_hb(m[1], 3, 4);
    drain();
    assert_int_equal(m[2]->n_received, 2);
    peer_mem_net_heal_all(net);
    send_hb(m[0], 3, 5);
    drain();
    assert_int_equal(m[2]->n_received, 3);
    stop_cluster(m, 3);
}

static size_t delivered_with_drops(uint64_t seed)
{
    peer_mem_net_free(net);
    net = peer_mem_net_new(test_loop, seed);
    struct member *m[2];
    start_cluster(m, 2);
    peer_mem_net_set_drop(net, 0.3);
    for (uint64_t i = 0; i < 1000; i++)
        send_hb(m[0], 2, i);
    drain();
    size_t n = m[1]->n_received;
    for (size_t i = 1; i < n && i < MAX_RECORDED; i++)
        assert_true(m[1]->indexes[i] > m[1]->indexes[i - 1]);
    stop_cluster(m, 2);
    return n;
}

static void test_seeded_drops(void **state)
{
    (void)state;
    size_t a = delivered_with_drops(7), b = delivered_with_drops(7), c = delivered_with_drops(8);
    assert_true(a > 600 && a < 800);
    assert_int_equal(a, b); /* the same seed drops the same messages */
    assert_true(c > 600 && c < 800);
}

static void test_removed_member_dropped(void **state)
{
    (void)state;
    struct member *m[2];
    start_cluster(m, 2);
    assert_int_equal(peer_remove(m[1]->t, 1), 0);
    send_hb(m[0], 2, 1);
    drain();
    assert_int_equal(m[1]->n_received, 0);
    const char *u[] = {m[0]->url};
    assert_int_equal(peer_add(m[1]->t, 1, u, 1), PEER_EREMOVED);
    /* sending to a member one does not know is a lost message, reported */
    send_hb(m[1], 1, 1);
    drain();
    assert_true(m[1]->unreachable[1] > 0);
    stop_cluster(m, 2);
}

static void test_snapshot(void **state)
{
    (void)state;
    struct member *m[2];
    start_cluster(m, 2);
    char src[] = "/tmp/metcd-peer-src-XXXXXX";
    int fd = mkstemp(src);
    char *data = malloc(1u << 20);
    for (size_t i = 0; i < (1u << 20); i++)
        data[i] = (char)(i * 7);
    assert_int_equal(write(fd, data, 1u << 20), 1 << 20);
    close(fd);
    m[0]->snap_source = src;
    struct raft_message s = {.type = RAFT_MSG_SNAP, .from = 1, .to = 2, .term = 2};
    s.snapshot.meta.index = 10;
    s.snapshot.meta.term = 2;
    assert_int_equal(peer_send(m[0]->t, &s), 0);
    drain();
    assert_int_equal(m[0]->snap_sent_ok, 1);
    assert_int_equal(m[1]->n_snap_msgs, 1);
    FILE *f = fopen(m[1]->snap_dest, "rb");
    char *back = malloc(1u << 20);
    assert_int_equal(fread(back, 1, 1u << 20, f), 1u << 20);
    assert_int_equal(fgetc(f), EOF);
    fclose(f);
    assert_memory_equal(back, data, 1u << 20);
    unlink(m[1]->snap_dest);
    /* refused, and cut: both reported failed */
    m[1]->refuse_snapshots = true;
    assert_int_equal(peer_send(m[0]->t, &s), 0);
    drain();
    assert_int_equal(m[0]->snap_sent_failed, 1);
    m[1]->refuse_snapshots = false;
    peer_mem_net_cut(net, 1, 2);
    assert_int_equal(peer_send(m[0]->t, &s), 0);
    drain();
    assert_int_equal(m[0]->snap_sent_failed, 2);
    assert_int_equal(m[1]->n_snap_msgs, 1);
    unlink(src);
    free(data);
    free(back);
    stop_cluster(m, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_delivery_is_asynchronous_and_ordered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_and_heal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seeded_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_member_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
