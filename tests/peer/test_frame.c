/* tests/peer/test_frame.c - the framing of every raft message type and the
 * HTTP preamble parser. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "src/peer/peer_int.h"

static void fill_message(struct raft_message *m, int type, struct raft_entry *ents,
                         uint64_t *voters)
{
    memset(m, 0, sizeof(*m));
    m->type = (uint8_t)type;
    m->from = 0x8e9e05c52164694dull;
    m->to = 0x91bc3c398fb3c146ull;
    m->term = 7 + (uint64_t)type;
    m->log_term = 6;
    m->index = 100 + (uint64_t)type;
    m->commit = 99;
    m->reject = type % 2;
    m->reject_hint = 42;
    static char ctx[] = "read-ctx";
    m->context = ctx;
    m->context_len = sizeof(ctx);
    if (type == RAFT_MSG_APP || type == RAFT_MSG_PROP) {
        static char d1[] = "hello", d2[] = "conf";
        ents[0] = (struct raft_entry){7, 101, RAFT_ENTRY_NORMAL, d1, sizeof(d1)};
        ents[1] = (struct raft_entry){7, 102, RAFT_ENTRY_CONF_CHANGE, d2, sizeof(d2)};
        ents[2] = (struct raft_entry){7, 103, RAFT_ENTRY_NORMAL, NULL, 0};
        m->entries = ents;
        m->n_entries = 3;
    }
    if (type == RAFT_MSG_SNAP) {
        m->snapshot.meta.index = 500;
        m->snapshot.meta.term = 5;
        m->snapshot.meta.conf.voters = voters;
        m->snapshot.meta.conf.n_voters = 3;
    }
}

static void test_frame_round_trip_every_type(void **state)
{
    (void)state;
    for (int type = 0; type < RAFT_MSG_TYPE_COUNT; type++) {
        struct raft_entry ents[3];
        uint64_t voters[3] = {1, 2, 3};
        struct raft_message m, got;
        fill_message(&m, type, ents, voters);
        uint8_t *frame;
        size_t len, payload;
        assert_int_equal(peer_frame_encode(&m, PEER_DEFAULT_MAX_FRAME, &frame, &len), 0);
        /* incomplete at every cut point */
        for (size_t cut = 0; cut < len; cut++)
            assert_int_equal(peer_frame_next(frame, cut, PEER_DEFAULT_MAX_FRAME, &payload), 0);
        assert_int_equal(peer_frame_next(frame, len, PEER_DEFAULT_MAX_FRAME, &payload),
                         (ssize_t)len);
        assert_int_equal(payload + PEER_FRAME_HEADER, len);
        assert_int_equal(raft_decode_message(frame + PEER_FRAME_HEADER, payload, &got), 0);
        assert_int_equal(got.type, type);
        assert_int_equal(got.from, m.from);
        assert_int_equal(got.to, m.to);
        assert_int_equal(got.term, m.term);
        assert_int_equal(got.log_term, m.log_term);
        assert_int_equal(got.index, m.index);
        assert_int_equal(got.commit, m.commit);
        assert_int_equal(got.reject, m.reject);
        assert_int_equal(got.reject_hint, m.reject_hint);
        assert_int_equal(got.n_entries, m.n_entries);
        for (size_t i = 0; i < m.n_entries; i++) {
            assert_int_equal(got.entries[i].index, m.entries[i].index);
            assert_int_equal(got.entries[i].type, m.entries[i].type);
            assert_int_equal(got.entries[i].len, m.entries[i].len);
            if (m.entries[i].len)
                assert_memory_equal(got.entries[i].data, m.entries[i].data, m.entries[i].len);
        }
        assert_int_equal(got.context_len, m.context_len);
        assert_memory_equal(got.context, m.context, m.context_len);
        if (type == RAFT_MSG_SNAP) {
            assert_int_equal(got.snapshot.meta.index, 500);
            assert_int_equal(got.snapshot.meta.conf.n_voters, 3);
            assert_int_equal(got.snapshot.len, 0);
        }
        raft_message_free(&got);
        free(frame);
    }
}

static void test_frame_limits(void **state)
{
    (void)state;
    uint8_t hdr[4];
    size_t payload;
    le_put32(hdr, 1000);
    assert_int_equal(peer_frame_next(hdr, 4, 999, &payload), PEER_EINVAL);
    assert_int_equal(peer_frame_next(hdr, 4, 1000, &payload), 0);
    /* a message larger than the bound is refused at the sender */
    static char big[2000];
    struct raft_entry e = {1, 1, RAFT_ENTRY_NORMAL, big, sizeof(big)};
    struct raft_message m = {
        .type = RAFT_MSG_APP, .from = 1, .to = 2, .entries = &e, .n_entries = 1};
    uint8_t *frame;
    size_t len;
    assert_int_equal(peer_frame_encode(&m, 1000, &frame, &len), PEER_EINVAL);
    assert_int_equal(peer_frame_encode(&m, 4000, &frame, &len), 0);
    free(frame);
}

static void test_request_round_trip(void **state)
{
    (void)state;
    char buf[512];
    enum peer_conn_kind kinds[] = {PEER_KIND_MSG, PEER_KIND_APP, PEER_KIND_SNAP};
    for (int i = 0; i < 3; i++) {
        size_t n = peer_request_format(buf, sizeof(buf), kinds[i], 0xabcdef0123456789ull, 2,
                                       0xcdf818194e3a8c32ull, "3.4.23");
        assert_true(n > 0);
        /* the relay of the cluster tests finds the sender in the first bytes */
        assert_non_null(strstr(buf, "X-Server-From: abcdef0123456789\r\n"));
        struct peer_request req;
        for (size_t cut = 0; cut < n; cut++)
            assert_int_equal(peer_request_parse(buf, cut, &req), 0);
        assert_int_equal(peer_request_parse(buf, n, &req), (int)n);
        assert_int_equal(req.kind, kinds[i]);
        assert_string_equal(req.method, "POST");
        assert_true(req.has_from && req.has_to && req.has_cluster);
        assert_int_equal(req.from, 0xabcdef0123456789ull);
        assert_int_equal(req.to, 2);
        assert_int_equal(req.cluster_id, 0xcdf818194e3a8c32ull);
        assert_string_equal(req.version, "3.4.23");
    }
}

static void test_request_plain_and_bad(void **state)
{
    (void)state;
    struct peer_request req;
    const char *get = "GET /members HTTP/1.1\r\nhost: x\r\nx-server-from: 1f\r\n\r\n";
    assert_int_equal(peer_request_parse(get, strlen(get), &req), (int)strlen(get));
    assert_int_equal(req.kind, PEER_KIND_NONE);
    assert_string_equal(req.path, "/members");
    assert_int_equal(req.from, 0x1f);
    const char *bad[] = {
        "\r\n\r\n",
        "GET\r\n\r\n",
        "GET /x HTTP/2.0\r\n\r\n",
        "POST /raft/metcd/stream/msg HTTP/1.1\r\nX-Server-From: xyz\r\n\r\n",
        "POST /raft/metcd/stream/msg HTTP/1.1\r\nX-Server-From: 11112222333344445\r\n\r\n",
        "POST /x HTTP/1.1\r\nno colon\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(peer_request_parse(bad[i], strlen(bad[i]), &req), -1);
    /* a head that never ends is refused once it passes the bound */
    char *big = malloc(PEER_HEAD_MAX + 10);
    memset(big, 'a', PEER_HEAD_MAX + 10);
    assert_int_equal(peer_request_parse(big, PEER_HEAD_MAX - 1, &req), 0);
    assert_int_equal(peer_request_parse(big, PEER_HEAD_MAX + 10, &req), -1);
    free(big);
}

static void test_response(void **state)
{
    (void)state;
    int status = 0;
    size_t len;
    char *r = peer_response_format(412, "text/plain", "cluster ID mismatch\n", 20, true, 0x10,
                                   "3.4.23", &len);
    int n = peer_response_parse(r, len, &status);
    assert_true(n > 0 && (size_t)n == len - 20);
    assert_int_equal(status, 412);
    free(r);
    r = peer_response_format(200, NULL, NULL, 0, false, 0x10, "3.4.23", &len);
    assert_int_equal(peer_response_parse(r, len, &status), (int)len);
    assert_int_equal(status, 200);
    assert_int_equal(peer_response_parse(r, len - 1, &status), 0);
    free(r);
    assert_int_equal(peer_response_parse("HTTP/1.1 2x0 OK\r\n\r\n", 19, &status), -1);
}

static void test_urls(void **state)
{
    (void)state;
    assert_int_equal(peer_url_check("http://127.0.0.1:2380"), 0);
    assert_int_equal(peer_url_check("http://[::1]:2380"), 0);
    assert_int_equal(peer_url_check("http://localhost:2380/"), 0);
    assert_int_equal(peer_url_check("https://127.0.0.1:2380"), PEER_ETLS);
    assert_int_equal(peer_url_check("http://127.0.0.1"), PEER_EURL);
    assert_int_equal(peer_url_check("http://127.0.0.1:99999"), PEER_EURL);
    assert_int_equal(peer_url_check("unix://x"), PEER_EURL);
    assert_int_equal(peer_url_check("http://127.0.0.1:2380/raft"), PEER_EURL);
    struct sockaddr_storage ss;
    socklen_t len;
    bool tls = true;
    char host[64];
    assert_int_equal(peer_url_resolve("http://127.0.0.1:2380", &ss, &len, &tls, host, sizeof(host)),
                     0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_false(tls);
    assert_int_equal(peer_url_resolve("https://[::1]:2380", &ss, &len, &tls, host, sizeof(host)),
                     0);
    assert_true(tls);
    assert_string_equal(host, "::1");
    assert_string_equal(peer_strerror(PEER_ETLS),
                        "https peer URLs need peer TLS (--peer-cert-file or --peer-auto-tls)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_round_trip_every_type),
        cmocka_unit_test(test_frame_limits),
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_request_plain_and_bad),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
