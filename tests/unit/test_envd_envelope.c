/* Connect envelope framing: encode, decode, truncation, limits, flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "connect_envelope.h"

static void test_header_big_endian(void **state)
{
    uint8_t h[5];

    (void)state;
    connect_envelope_header(h, CONNECT_FLAG_END_STREAM, 0x01020304);
    assert_int_equal(h[0], 0x02);
    assert_int_equal(h[1], 0x01);
    assert_int_equal(h[2], 0x02);
    assert_int_equal(h[3], 0x03);
    assert_int_equal(h[4], 0x04);
}

static void test_round_trip(void **state)
{
    const char *json = "{\"event\":{\"start\":{\"pid\":1234}}}";
    uint8_t buf[128];
    struct connect_envelope env;
    size_t n, used = 0;

    (void)state;
    n = connect_envelope_encode(buf, sizeof(buf), 0, json, strlen(json));
    assert_int_equal(n, 5 + strlen(json));
    assert_int_equal(buf[4], strlen(json));
    assert_int_equal(connect_envelope_decode(buf, n, 1024, &env, &used),
                     CONNECT_ENVELOPE_OK);
    assert_int_equal(used, n);
    assert_int_equal(env.flags, 0);
    assert_int_equal(env.len, strlen(json));
    assert_memory_equal(env.payload, json, strlen(json));
}

static void test_empty_payload_and_end_stream(void **state)
{
    uint8_t buf[16];
    struct connect_envelope env;
    size_t used;

    (void)state;
    assert_int_equal(
        connect_envelope_encode(buf, sizeof(buf), CONNECT_FLAG_END_STREAM, NULL, 0), 5);
    assert_int_equal(connect_envelope_decode(buf, 5, 0, &env, &used),
                     CONNECT_ENVELOPE_OK);
    assert_int_equal(env.flags, CONNECT_FLAG_END_STREAM);
    assert_int_equal(env.len, 0);
    assert_int_equal(used, 5);
}

static void test_encode_capacity(void **state)
{
    uint8_t buf[8];

    (void)state;
    assert_int_equal(connect_envelope_encode(buf, 4, 0, "", 0), 0);
    assert_int_equal(connect_envelope_encode(buf, 7, 0, "abc", 3), 0);
    assert_int_equal(connect_envelope_encode(buf, 8, 0, "abc", 3), 8);
}

static void test_truncated(void **state)
{
    uint8_t buf[32];
    struct connect_envelope env = {0};
    size_t n, used = 77;

    (void)state;
    n = connect_envelope_encode(buf, sizeof(buf), 0, "{\"a\":1}", 7);
    for (size_t cut = 0; cut < n; cut++) {
        assert_int_equal(connect_envelope_decode(buf, cut, 1024, &env, &used),
                         CONNECT_ENVELOPE_NEED_MORE);
        assert_int_equal(used, 77); /* untouched on failure */
    }
}

static void test_two_envelopes_back_to_back(void **state)
{
    uint8_t buf[64];
    struct connect_envelope env;
    size_t n, used;

    (void)state;
    n = connect_envelope_encode(buf, sizeof(buf), 0, "{}", 2);
    n += connect_envelope_encode(buf + n, sizeof(buf) - n, CONNECT_FLAG_END_STREAM,
                                 "{\"x\":2}", 7);
    assert_int_equal(connect_envelope_decode(buf, n, 64, &env, &used),
                     CONNECT_ENVELOPE_OK);
    assert_int_equal(used, 7);
    assert_int_equal(connect_envelope_decode(buf + used, n - used, 64, &env, &used),
                     CONNECT_ENVELOPE_OK);
    assert_int_equal(env.flags, CONNECT_FLAG_END_STREAM);
    assert_memory_equal(env.payload, "{\"x\":2}", 7);
}

static void test_oversized(void **state)
{
    uint8_t hdr[5];
    struct connect_envelope env;
    size_t used;

    (void)state;
    /* Refused from the header alone, before any payload. */
    connect_envelope_header(hdr, 0, 0xffffffffu);
    assert_int_equal(connect_envelope_decode(hdr, 5, 16 << 20, &env, &used),
                     CONNECT_ENVELOPE_TOO_LARGE);
    connect_envelope_header(hdr, 0, 101);
    assert_int_equal(connect_envelope_decode(hdr, 5, 100, &env, &used),
                     CONNECT_ENVELOPE_TOO_LARGE);
    connect_envelope_header(hdr, 0, 100);
    assert_int_equal(connect_envelope_decode(hdr, 5, 100, &env, &used),
                     CONNECT_ENVELOPE_NEED_MORE);
}

static void test_invalid_flags(void **state)
{
    uint8_t buf[8] = {0, 0, 0, 0, 1, '1'};
    struct connect_envelope env;
    size_t used;

    (void)state;
    for (int f = 0; f < 256; f++) {
        enum connect_envelope_status st;
        buf[0] = (uint8_t)f;
        st = connect_envelope_decode(buf, 6, 16, &env, &used);
        if (f == 0 || f == CONNECT_FLAG_END_STREAM)
            assert_int_equal(st, CONNECT_ENVELOPE_OK);
        else if (f & ~3)
            assert_int_equal(st, CONNECT_ENVELOPE_BAD_FLAGS);
        else
            assert_int_equal(st, CONNECT_ENVELOPE_COMPRESSED);
    }
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(connect_envelope_strerror(CONNECT_ENVELOPE_OK), "ok");
    assert_non_null(connect_envelope_strerror(CONNECT_ENVELOPE_TOO_LARGE));
    assert_non_null(connect_envelope_strerror((enum connect_envelope_status)42));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_big_endian),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_payload_and_end_stream),
        cmocka_unit_test(test_encode_capacity),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_two_envelopes_back_to_back),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_invalid_flags),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
