/* Path cleaning, E2B path resolution and Basic-auth user parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "envd_path.h"

static void check_clean(const char *in, const char *want)
{
    char *got = envd_path_clean(in);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("clean(\"%s\") = \"%s\", want \"%s\"", in, got, want);
    free(got);
}

static void test_clean(void **state)
{
    (void)state;
    check_clean("", ".");
    check_clean("/", "/");
    check_clean("//", "/");
    check_clean("/a/b/", "/a/b");
    check_clean("/a//b", "/a/b");
    check_clean("/a/./b/.", "/a/b");
    check_clean("/a/b/..", "/a");
    check_clean("/a/b/../../..", "/");
    check_clean("/../a", "/a");
    check_clean("/a/../b/../c", "/c");
    check_clean("a/b", "a/b");
    check_clean("./a", "a");
    check_clean("a/..", ".");
    check_clean("../a", "../a");
    check_clean("../../a/..", "../..");
    check_clean("a/../../b", "../b");
    check_clean("...", "...");
    check_clean("/a/..b/.c", "/a/..b/.c");
}

static char *resolve(const char *p, const char *dflt)
{
    char err[128];
    return envd_path_resolve(p, "/home/user", dflt, err, sizeof(err));
}

static void check_resolve(const char *p, const char *dflt, const char *want)
{
    char *got = resolve(p, dflt);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("resolve(\"%s\") = \"%s\", want \"%s\"", p ? p : "(null)", got, want);
    free(got);
}

static void test_resolve(void **state)
{
    char err[128];

    (void)state;
    check_resolve(NULL, NULL, "/home/user");
    check_resolve("", NULL, "/home/user");
    check_resolve("", "", "/home/user");
    check_resolve("", "/work/", "/work");
    check_resolve("~", NULL, "/home/user");
    check_resolve("~/", NULL, "/home/user");
    check_resolve("~/a/../b", NULL, "/home/user/b");
    check_resolve("/tmp/x/", "/work", "/tmp/x");
    check_resolve("rel/dir", "/work", "/home/user/rel/dir");
    check_resolve("../..", NULL, "/");
    assert_null(envd_path_resolve("~root/x", "/home/user", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "~root/x"));
}

static void test_basic_auth(void **state)
{
    char user[32];

    (void)state;
    /* base64("root:") = cm9vdDo= */
    assert_int_equal(envd_basic_auth_user("Basic cm9vdDo=", user, sizeof(user)), 0);
    assert_string_equal(user, "root");
    assert_int_equal(envd_basic_auth_user("basic   cm9vdDo=  ", user, sizeof(user)), 0);
    assert_string_equal(user, "root");
    /* "user:pw" */
    assert_int_equal(envd_basic_auth_user("Basic dXNlcjpwdw==", user, sizeof(user)), 0);
    assert_string_equal(user, "user");
    /* no colon: the whole thing is the user */
    assert_int_equal(envd_basic_auth_user("Basic dXNlcg", user, sizeof(user)), 0);
    assert_string_equal(user, "user");
    /* ":" = empty user */
    assert_int_equal(envd_basic_auth_user("Basic Og==", user, sizeof(user)), 0);
    assert_string_equal(user, "");
    assert_int_equal(envd_basic_auth_user("Bearer cm9vdDo=", user, sizeof(user)), -1);
    assert_int_equal(envd_basic_auth_user("Basiccm9vdDo=", user, sizeof(user)), -1);
    assert_int_equal(envd_basic_auth_user("Basic !!!", user, sizeof(user)), -1);
    /* "ro\0t:" has a NUL in the name */
    assert_int_equal(envd_basic_auth_user("Basic cm8AdDo=", user, sizeof(user)), -1);
    /* does not fit */
    assert_int_equal(envd_basic_auth_user("Basic cm9vdDo=", user, 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_basic_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
