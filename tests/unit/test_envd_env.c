/* /init state: validation is all-or-nothing, envVars replace, token follows the
 * body, E2B_* variables are always present and win. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "envd_env.h"

static int setup(void **state)
{
    (void)state;
    envd_env_init();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    envd_env_free();
    return 0;
}

static int apply(const char *text)
{
    char err[256];
    json_t *body = json_loads(text, 0, NULL);
    int rc;

    assert_non_null(body);
    rc = envd_env_apply_init(body, err, sizeof(err));
    json_decref(body);
    return rc;
}

static const char *env(const char *k)
{
    return json_string_value(json_object_get(envd_env_global(), k));
}

static void test_defaults(void **state)
{
    (void)state;
    assert_null(envd_env_access_token());
    assert_string_equal(envd_env_default_user(), "user");
    assert_null(envd_env_default_workdir());
    assert_string_equal(env("E2B_SANDBOX"), "true");
    assert_int_equal(json_object_size(envd_env_global()), 1);
}

static void test_full_init(void **state)
{
    (void)state;
    assert_int_equal(apply("{\"envVars\":{\"FOO\":\"bar\",\"E2B_SANDBOX\":\"no\"},"
                           "\"accessToken\":\"tok\",\"defaultUser\":\"root\","
                           "\"defaultWorkdir\":\"/w\",\"sandboxID\":\"iabc\","
                           "\"templateID\":\"t1\",\"timestamp\":\"x\"}"),
                     0);
    assert_string_equal(envd_env_access_token(), "tok");
    assert_string_equal(envd_env_default_user(), "root");
    assert_string_equal(envd_env_default_workdir(), "/w");
    assert_string_equal(env("FOO"), "bar");
    assert_string_equal(env("E2B_SANDBOX"), "true");
    assert_string_equal(env("E2B_SANDBOX_ID"), "iabc");
    assert_string_equal(env("E2B_TEMPLATE_ID"), "t1");

    /* Second init: envVars replace, token absent clears it, empty strings and
     * absent fields keep the user/workdir/ids. */
    assert_int_equal(apply("{\"envVars\":{\"X\":\"1\"},\"defaultUser\":\"\"}"), 0);
    assert_null(envd_env_access_token());
    assert_string_equal(envd_env_default_user(), "root");
    assert_null(env("FOO"));
    assert_string_equal(env("X"), "1");
    assert_string_equal(env("E2B_SANDBOX_ID"), "iabc");

    /* No envVars: previous ones stay. */
    assert_int_equal(apply("{}"), 0);
    assert_string_equal(env("X"), "1");
}

static void test_invalid_changes_nothing(void **state)
{
    (void)state;
    assert_int_equal(apply("{\"accessToken\":\"tok\",\"envVars\":{\"A\":\"1\"}}"), 0);
    assert_int_equal(apply("{\"accessToken\":\"new\",\"envVars\":{\"A\":2}}"), -1);
    assert_int_equal(apply("{\"accessToken\":\"new\",\"envVars\":{\"A=B\":\"x\"}}"), -1);
    assert_int_equal(apply("{\"accessToken\":\"new\",\"envVars\":[]}"), -1);
    assert_int_equal(apply("{\"accessToken\":5}"), -1);
    assert_int_equal(apply("{\"defaultUser\":true}"), -1);
    assert_int_equal(apply("[]"), -1);
    assert_string_equal(envd_env_access_token(), "tok");
    assert_string_equal(env("A"), "1");
}

/* --init-file: what the last inits left is kept, and a restarted envd gets it all back
 * (several inits merged, not just the last body); a damaged file is an error. */
static void test_init_file(void **state)
{
    char dir[] = "/tmp/envd-env-XXXXXX", path[64], err[256];
    struct stat sb;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/init", dir);
    assert_int_equal(envd_env_use_init_file(path, err, sizeof(err)), 0); /* none yet */
    assert_int_equal(apply("{\"envVars\":{\"A\":\"1\"},\"accessToken\":\"tok\","
                           "\"defaultUser\":\"root\",\"sandboxID\":\"iabc\"}"),
                     0);
    assert_int_equal(apply("{\"accessToken\":\"tok2\",\"defaultWorkdir\":\"/w\"}"), 0);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    envd_env_free(); /* a new envd */
    envd_env_init();
    assert_null(envd_env_access_token());
    assert_int_equal(envd_env_use_init_file(path, err, sizeof(err)), 1);
    assert_string_equal(envd_env_access_token(), "tok2");
    assert_string_equal(envd_env_default_user(), "root");
    assert_string_equal(envd_env_default_workdir(), "/w");
    assert_string_equal(env("A"), "1");
    assert_string_equal(env("E2B_SANDBOX_ID"), "iabc");

    envd_env_free();
    envd_env_init();
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"accessToken\":", f);
    fclose(f);
    assert_int_equal(envd_env_use_init_file(path, err, sizeof(err)), -1);
    assert_true(err[0] != '\0');
    assert_null(envd_env_access_token());
    unlink(path);
    rmdir(dir);
}

static char *slurp(const char *path)
{
    static char buf[512];
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* With an etc dir set, an init naming the sandbox rewrites hostname and hosts there
 * (in place); an init without sandboxID, or with the feature off, leaves them. */
static void test_hostname_files(void **state)
{
    char dir[] = "/tmp/test_envd_env.XXXXXX", host[64], hosts[64];
    struct stat st0, st1;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(host, sizeof(host), "%s/hostname", dir);
    snprintf(hosts, sizeof(hosts), "%s/hosts", dir);
    f = fopen(host, "w");
    fputs("pooled\n", f);
    fclose(f);
    f = fopen(hosts, "w");
    fputs("127.0.1.1\tpooled\n", f);
    fclose(f);
    assert_int_equal(stat(hosts, &st0), 0);

    assert_int_equal(apply("{\"sandboxID\":\"ione\"}"), 0); /* off: untouched */
    assert_string_equal(slurp(host), "pooled\n");

    envd_env_set_hostname_files(dir);
    assert_int_equal(apply("{\"envVars\":{\"A\":\"1\"}}"), 0); /* no id: untouched */
    assert_string_equal(slurp(host), "pooled\n");
    assert_int_equal(apply("{\"sandboxID\":\"itwo\"}"), 0);
    assert_string_equal(slurp(host), "itwo\n");
    assert_non_null(strstr(slurp(hosts), "127.0.1.1\titwo\n"));
    assert_non_null(strstr(slurp(hosts), "127.0.0.1\tlocalhost\n"));
    assert_int_equal(stat(hosts, &st1), 0);
    assert_true(st0.st_ino == st1.st_ino); /* rewritten in place */

    /* A missing file is not created (only the template's own are rewritten), and the
     * init still applies. */
    unlink(hosts);
    assert_int_equal(apply("{\"sandboxID\":\"ithree\"}"), 0);
    assert_string_equal(slurp(host), "ithree\n");
    assert_int_not_equal(access(hosts, F_OK), 0);
    envd_env_set_hostname_files(NULL);
    unlink(host);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostname_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
