/* envd's cube_hash.h over nettle (envd/envd_hash.c): FIPS 180-2 and RFC 4231 vectors,
 * so envd's signatures and tokens agree with the gateway's libcrypto ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cube_hash.h"

static void test_sha256_vectors(void **state)
{
    char hex[CUBE_SHA256_HEX_LEN + 1];
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    (void)state;
    cube_sha256_hex("abc", 3, hex);
    assert_string_equal(
        hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cube_sha256_hex("", 0, hex);
    assert_string_equal(
        hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cube_sha256_hex(two_blocks, strlen(two_blocks), hex);
    assert_string_equal(
        hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256_raw_matches_hex(void **state)
{
    unsigned char raw[32];
    char a[65], b[65];

    (void)state;
    cube_sha256_raw("path:read:user", 14, raw);
    cube_hex_encode(raw, sizeof(raw), a);
    cube_sha256_hex("path:read:user", 14, b);
    assert_string_equal(a, b);
}

static void test_hmac_rfc4231(void **state)
{
    char hex[65];
    unsigned char key[20];

    (void)state;
    /* Test case 2: key "Jefe". */
    assert_int_equal(
        cube_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, hex), 0);
    assert_string_equal(
        hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* Test case 1: 20 bytes of 0x0b. */
    memset(key, 0x0b, sizeof(key));
    assert_int_equal(cube_hmac_sha256_hex(key, sizeof(key), "Hi There", 8, hex), 0);
    assert_string_equal(
        hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static void test_equal_ct(void **state)
{
    (void)state;
    assert_true(cube_str_equal_ct("token", "token"));
    assert_false(cube_str_equal_ct("token", "tokem"));
    assert_false(cube_str_equal_ct("token", "token2"));
    assert_false(cube_str_equal_ct("", "x"));
    assert_true(cube_str_equal_ct("", ""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_raw_matches_hex),
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_equal_ct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
