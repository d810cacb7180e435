/* Unit tests for common/: ids, hashes (API key hashing, envd tokens), RFC 3339. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cube_hash.h"
#include "cube_id.h"
#include "cube_time.h"

static void test_sandbox_id_shape(void **state)
{
    char a[CUBE_SANDBOX_ID_LEN + 1], b[CUBE_SANDBOX_ID_LEN + 1];
    (void)state;
    assert_int_equal(cube_id_generate(a, CUBE_SANDBOX_ID_LEN, 'i'), 0);
    assert_int_equal(cube_id_generate(b, CUBE_SANDBOX_ID_LEN, 'i'), 0);
    assert_int_equal(strlen(a), 21);
    assert_int_equal(a[0], 'i');
    assert_true(cube_id_valid(a, 64));
    assert_string_not_equal(a, b);
}

static void test_id_alphabet_covered(void **state)
{
    /* Over many ids every one of the 36 chars shows up: no bias to a subset. */
    int seen[128] = {0};
    char id[21];
    (void)state;
    for (int i = 0; i < 400; i++) {
        assert_int_equal(cube_id_generate(id, 20, 0), 0);
        for (int j = 0; j < 20; j++)
            seen[(unsigned char)id[j]]++;
    }
    for (const char *c = "abcdefghijklmnopqrstuvwxyz0123456789"; *c; c++)
        assert_true(seen[(unsigned char)*c] > 0);
    assert_int_equal(seen['A'] + seen['-'] + seen['_'], 0);
}

static void test_id_valid(void **state)
{
    (void)state;
    assert_true(cube_id_valid("abc123", 64));
    assert_false(cube_id_valid("", 64));
    assert_false(cube_id_valid(NULL, 64));
    assert_false(cube_id_valid("ABC", 64));
    assert_false(cube_id_valid("a-b", 64));
    assert_false(cube_id_valid("../etc", 64));
    assert_false(cube_id_valid("abcdef", 5));
    assert_true(cube_id_valid("abcde", 5));
    assert_int_equal(cube_id_generate(NULL, 0, 0), -1);
}

static void test_sha256_key_hash(void **state)
{
    char out[65];
    (void)state;
    cube_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cube_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_hmac_token(void **state)
{
    char out[65];
    (void)state;
    /* RFC 4231 test case 2. */
    assert_int_equal(cube_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, out), 0);
    assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
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

static void test_rfc3339(void **state)
{
    int64_t ms;
    char buf[32];
    (void)state;
    assert_int_equal(cube_rfc3339_parse("2026-08-21T10:00:00.123456Z", &ms), 0);
    assert_int_equal(ms, 1787306400123LL);
    cube_rfc3339_ms(ms, buf, sizeof(buf));
    assert_string_equal(buf, "2026-08-21T10:00:00.123Z");
    assert_int_equal(cube_rfc3339_parse("2026-08-21T12:00:00+02:00", &ms), 0);
    assert_int_equal(ms, 1787306400000LL);
    assert_int_equal(cube_rfc3339_parse("2026-08-21T10:00:00", &ms), -1);
    assert_int_equal(cube_rfc3339_parse("2026-13-21T10:00:00Z", &ms), -1);
    assert_int_equal(cube_rfc3339_parse("2026-08-21T10:00:00.Z", &ms), -1);
    assert_int_equal(cube_rfc3339_parse("garbage", &ms), -1);
    assert_int_equal(cube_rfc3339_parse("2026-08-21T10:00:00Zjunk", &ms), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sandbox_id_shape), cmocka_unit_test(test_id_alphabet_covered),
        cmocka_unit_test(test_id_valid),         cmocka_unit_test(test_sha256_key_hash),
        cmocka_unit_test(test_hmac_token),       cmocka_unit_test(test_equal_ct),
        cmocka_unit_test(test_rfc3339),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
