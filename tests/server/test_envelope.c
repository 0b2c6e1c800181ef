/* The request envelope (src/envelope.c): round trip, and bytes that are not
 * an envelope are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "src/server/envelope.h"

static void test_round_trip(void **state)
{
    (void)state;
    const uint8_t payload[] = {1, 2, 3, 0, 255};
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(envelope_encode(ENVELOPE_REQUEST, 0x8e9e05c52164694dULL, 42, payload,
                                     sizeof(payload), &buf, &len),
                     0);
    assert_int_equal(len, ENVELOPE_HEADER_SIZE + sizeof(payload));
    envelope_t env;
    assert_int_equal(envelope_decode(buf, len, &env), 0);
    assert_true(env.member_id == 0x8e9e05c52164694dULL);
    assert_int_equal(env.kind, ENVELOPE_REQUEST);
    assert_true(env.request_id == 42);
    assert_int_equal(env.payload_len, sizeof(payload));
    assert_memory_equal(env.payload, payload, sizeof(payload));
    free(buf);
}

static void test_empty_payload(void **state)
{
    (void)state;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(envelope_encode(ENVELOPE_ATTRIBUTES, 1, 0, NULL, 0, &buf, &len), 0);
    envelope_t env;
    assert_int_equal(envelope_decode(buf, len, &env), 0);
    assert_int_equal(env.kind, ENVELOPE_ATTRIBUTES);
    assert_true(env.request_id == 0);
    assert_int_equal(env.payload_len, 0);
    free(buf);
}

static void test_refused(void **state)
{
    (void)state;
    uint8_t b[ENVELOPE_HEADER_SIZE] = {0};
    envelope_t env;
    /* too short for the header */
    b[0] = ENVELOPE_REQUEST;
    assert_int_equal(envelope_decode(b, ENVELOPE_HEADER_SIZE - 1, &env), -1);
    /* unknown kind */
    b[0] = 3;
    assert_int_equal(envelope_decode(b, sizeof(b), &env), -1);
    assert_int_equal(envelope_decode(NULL, 0, &env), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_payload),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
