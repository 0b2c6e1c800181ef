/*
 * Member and cluster IDs: the values etcd 3.4.23 shows for the same
 * configuration (checked against the real etcd: /v2/members ids and the
 * X-Etcd-Cluster-Id header).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "src/membership/member_id.h"

static void test_two_peer_urls(void **state)
{
    (void)state;
    /* etcd --name n1 --initial-advertise-peer-urls http://127.0.0.1:23998,http://127.0.0.1:23997
     *      --initial-cluster-token tok-x: member b37b196d6fe9b1b6, cluster eaf0d36789f7bb45.
     * The order given does not matter: the URLs are sorted first. */
    const char *urls[] = {"http://127.0.0.1:23998", "http://127.0.0.1:23997"};
    uint64_t id = member_id_compute(urls, 2, "tok-x");
    assert_int_equal(id, UINT64_C(0xb37b196d6fe9b1b6));
    assert_int_equal(cluster_id_compute(&id, 1), UINT64_C(0xeaf0d36789f7bb45));
}

static void test_defaults(void **state)
{
    (void)state;
    /* etcd --name zz ... --initial-advertise-peer-urls http://127.0.0.1:23998 (token
     * etcd-cluster): "starting member a2a592c86d0ee294 in cluster 57d417fd04962d21". */
    const char *urls[] = {"http://127.0.0.1:23998"};
    uint64_t id = member_id_compute(urls, 1, "etcd-cluster");
    assert_int_equal(id, UINT64_C(0xa2a592c86d0ee294));
    assert_int_equal(cluster_id_compute(&id, 1), UINT64_C(0x57d417fd04962d21));
}

static void test_cluster_sorts_members(void **state)
{
    (void)state;
    uint64_t a[] = {3, 1, 2}, b[] = {1, 2, 3};
    assert_int_equal(cluster_id_compute(a, 3), cluster_id_compute(b, 3));
    uint64_t c[] = {1, 2};
    assert_int_not_equal(cluster_id_compute(c, 2), cluster_id_compute(b, 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_peer_urls),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_cluster_sorts_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
