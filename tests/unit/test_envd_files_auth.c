/* /files signatures (protocol §4.6 vector, expiry, messages) and query
 * decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "files_auth.h"

#define TOKEN "0tQG31xiMp0IOQfaz9dcwi72L1CPo8e0"

static void test_vector(void **state)
{
    char sig[FILES_SIG_LEN];

    (void)state;
    files_signature("hello.txt", "read", "user", TOKEN, NULL, sig);
    assert_string_equal(sig, "v1_gUtH/s9YCJWgCizjfUxuWfhFE4QSydOWEIIvfLwDr6E");
    assert_null(files_check_signature("hello.txt", "read", "user", TOKEN,
                                      "v1_gUtH/s9YCJWgCizjfUxuWfhFE4QSydOWEIIvfLwDr6E",
                                      NULL, 0));
}

static void test_messages(void **state)
{
    char sig[FILES_SIG_LEN];

    (void)state;
    assert_string_equal(files_check_signature("a", "read", "", TOKEN, NULL, NULL, 0),
                        "missing signature query parameter");
    assert_string_equal(files_check_signature("a", "read", "", TOKEN, "", NULL, 0),
                        "missing signature query parameter");
    assert_string_equal(files_check_signature("a", "read", "", TOKEN, "v1_x", NULL, 0),
                        "invalid signature");
    /* The operation is signed: a read signature does not allow a write. */
    files_signature("a", "read", "", TOKEN, NULL, sig);
    assert_null(files_check_signature("a", "read", "", TOKEN, sig, NULL, 0));
    assert_string_equal(files_check_signature("a", "write", "", TOKEN, sig, NULL, 0),
                        "invalid signature");
    /* NULL user and path are the empty string. */
    files_signature("", "write", "", TOKEN, NULL, sig);
    assert_null(files_check_signature(NULL, "write", NULL, TOKEN, sig, NULL, 0));
}

static void test_expiry(void **state)
{
    char sig[FILES_SIG_LEN];

    (void)state;
    files_signature("f", "read", "user", TOKEN, "1000", sig);
    assert_null(files_check_signature("f", "read", "user", TOKEN, sig, "1000", 999));
    assert_null(files_check_signature("f", "read", "user", TOKEN, sig, "1000", 1000));
    assert_string_equal(files_check_signature("f", "read", "user", TOKEN, sig, "1000", 1001),
                        "signature is already expired");
    /* Mismatch is checked before expiry; the expiration is part of the text. */
    assert_string_equal(files_check_signature("f", "read", "user", TOKEN, sig, "2000", 1),
                        "invalid signature");
    assert_string_equal(files_check_signature("f", "read", "user", TOKEN, sig, NULL, 1),
                        "invalid signature");
    files_signature("f", "read", "user", TOKEN, "abc", sig);
    assert_string_equal(files_check_signature("f", "read", "user", TOKEN, sig, "abc", 1),
                        "signature is already expired");
}

static void test_query(void **state)
{
    char *v;

    (void)state;
    v = files_query_get("path=%2Fhome%2Fuser%2Fa+b.txt&username=user", "path");
    assert_string_equal(v, "/home/user/a b.txt");
    free(v);
    v = files_query_get("path=x&username=user", "username");
    assert_string_equal(v, "user");
    free(v);
    assert_null(files_query_get("path=x", "username"));
    assert_null(files_query_get("", "path"));
    assert_null(files_query_get(NULL, "path"));
    v = files_query_get("signature=v1_a%2Fb%2Bc&path", "path");
    assert_string_equal(v, "");
    free(v);
    v = files_query_get("signature=v1_a%2Fb%2Bc", "signature");
    assert_string_equal(v, "v1_a/b+c");
    free(v);
    /* Malformed escapes stay verbatim; first occurrence wins; keys decode. */
    v = files_query_get("p=%zz%4&p=2", "p");
    assert_string_equal(v, "%zz%4");
    free(v);
    v = files_query_get("pa%74h=1", "path");
    assert_string_equal(v, "1");
    free(v);
    v = files_query_get("x=1&&path=%", "path");
    assert_string_equal(v, "%");
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
