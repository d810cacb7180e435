/* Base64: RFC 4648 vectors, round trips, alphabets, padding rules, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"

static const struct {
    const char *plain, *encoded;
} vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static int decode_str(const char *in, char *out, size_t *len)
{
    return b64_decode(in, strlen(in), (uint8_t *)out, len);
}

static void test_rfc4648_vectors(void **state)
{
    char enc[32], dec[32];
    size_t len;

    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        size_t n = strlen(vectors[i].plain);
        assert_int_equal(b64_encode(vectors[i].plain, n, enc),
                         strlen(vectors[i].encoded));
        assert_string_equal(enc, vectors[i].encoded);
        assert_int_equal(B64_ENCODED_LEN(n), strlen(vectors[i].encoded));
        assert_int_equal(decode_str(vectors[i].encoded, dec, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(dec, vectors[i].plain, n);
    }
}

static void test_unpadded_accepted(void **state)
{
    char dec[16];
    size_t len;

    (void)state;
    assert_int_equal(decode_str("Zg", dec, &len), 0);
    assert_int_equal(len, 1);
    assert_int_equal(dec[0], 'f');
    assert_int_equal(decode_str("Zm9vYmE", dec, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(dec, "fooba", 5);
}

static void test_url_safe_accepted(void **state)
{
    const uint8_t bytes[] = {0xfb, 0xff, 0xbf};
    uint8_t dec[8];
    char enc[8];
    size_t len;

    (void)state;
    b64_encode(bytes, 3, enc);
    assert_string_equal(enc, "+/+/");
    assert_int_equal(b64_decode("-_-_", 4, dec, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(dec, bytes, 3);
    assert_int_equal(b64_decode("+/+/", 4, dec, &len), 0);
    assert_memory_equal(dec, bytes, 3);
    /* Mixing the alphabets is not base64 of any kind. */
    assert_int_equal(b64_decode("+_+_", 4, dec, &len), -1);
    assert_int_equal(b64_decode("-/", 2, dec, &len), -1);
}

static void test_round_trip_all_lengths(void **state)
{
    uint8_t in[300], out[300];
    char enc[B64_ENCODED_LEN(300) + 1];
    size_t len;

    (void)state;
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof(in); n++) {
        size_t e = b64_encode(in, n, enc);
        assert_int_equal(e, B64_ENCODED_LEN(n));
        assert_int_equal(enc[e], '\0');
        assert_true(B64_DECODED_MAX(e) >= n);
        assert_int_equal(b64_decode(enc, e, out, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(out, in, n);
        /* Without its padding too. */
        while (e > 0 && enc[e - 1] == '=')
            e--;
        assert_int_equal(b64_decode(enc, e, out, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(out, in, n);
    }
}

static void test_bad_input(void **state)
{
    static const char *bad[] = {
        "Z",        /* 6 bits: impossible length */
        "Zm9vY",    /* same, after full quanta */
        "Zg=",      /* padding that does not complete the quantum */
        "Zg===",    /* too much padding */
        "Z===",     /* padding leaves a lone char */
        "====",     /* padding only */
        "Zg==Zg==", /* padding in the middle */
        "Zm 9v",    /* whitespace */
        "Zm9v\n",   /* newline */
        "Zm9*",     /* stray character */
        "Zm=v",     /* padding inside a quantum */
        "\xc3\xa9\xc3\xa9",
    };
    uint8_t out[16];
    size_t len;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(b64_decode(bad[i], strlen(bad[i]), out, &len), -1);
    /* An embedded NUL is a bad character, not the end. */
    assert_int_equal(b64_decode("Zm\0v", 4, out, &len), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_unpadded_accepted),
        cmocka_unit_test(test_url_safe_accepted),
        cmocka_unit_test(test_round_trip_all_lengths),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
