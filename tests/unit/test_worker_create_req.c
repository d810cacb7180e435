/* cube-worker POST /sandboxes body: validation (400 cases) and the envd /init body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "create_req.h"

static int parse(const char *body, struct create_req *r)
{
    char err[256];
    int rc = create_req_parse(body, strlen(body), r, err, sizeof(err));

    if (rc < 0)
        assert_true(err[0] != '\0'); /* every rejection says why */
    return rc;
}

static void test_minimal_defaults(void **state)
{
    struct create_req r;

    (void)state;
    assert_int_equal(parse("{\"sandboxID\":\"iabc\",\"templateID\":\"base\"}", &r), 0);
    assert_string_equal(r.sandbox_id, "iabc");
    assert_string_equal(r.template_ref, "base");
    assert_int_equal(r.cpu, 0);
    assert_int_equal(r.mem_mb, 0);
    assert_string_equal(r.default_user, "user");
    assert_string_equal(r.default_workdir, "/home/user");
    assert_null(r.access_token);
    assert_true(json_is_object(r.env_vars));
    create_req_free(&r);
}

static void test_network(void **state)
{
    struct create_req r;
    char err[256];
    static const char bad[] = "{\"sandboxID\":\"iabc\",\"templateID\":\"base\","
                              "\"network\":{\"denyOut\":[\"evil.example\"]}}";

    (void)state;
    /* The gateway forwards allow_internet_access and network as the client sent them. */
    assert_int_equal(parse("{\"sandboxID\":\"iabc\",\"templateID\":\"base\","
                           "\"allow_internet_access\":false,\"network\":{\"allowOut\":"
                           "[\"1.1.1.1\"]}}",
                           &r),
                     0);
    assert_int_equal(r.net.n_deny, 1);
    assert_int_equal(r.net.n_allow, 1);
    create_req_free(&r);
    assert_int_equal(parse("{\"sandboxID\":\"iabc\",\"templateID\":\"base\"}", &r), 0);
    assert_true(net_policy_is_default(&r.net));
    create_req_free(&r);
    /* A domain name is a clear 400, not silently ignored. */
    assert_int_equal(create_req_parse(bad, strlen(bad), &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "egress proxy"));
}

static void test_full(void **state)
{
    struct create_req r;

    (void)state;
    assert_int_equal(
        parse("{\"sandboxID\":\"i0123456789abcdefghij\",\"templateID\":"
              "\"h7rckchbywrea189qit4\",\"envVars\":{\"A\":\"1\",\"B\":\"x y\"},"
              "\"accessToken\":\"tok\",\"cpuCount\":4,\"memoryMB\":1024,"
              "\"defaultUser\":\"root\",\"defaultWorkdir\":\"/root\"}",
              &r),
        0);
    assert_int_equal(r.cpu, 4);
    assert_int_equal(r.mem_mb, 1024);
    assert_string_equal(r.access_token, "tok");
    assert_string_equal(r.default_user, "root");
    assert_string_equal(r.default_workdir, "/root");
    assert_string_equal(json_string_value(json_object_get(r.env_vars, "B")), "x y");
    create_req_free(&r);
}

/* What the gateway decided at create is kept as sent (state.h: sb_lifecycle). */
static void test_lifecycle(void **state)
{
    struct create_req r;

    (void)state;
    assert_int_equal(parse("{\"sandboxID\":\"iabc\",\"templateID\":\"base\"}", &r), 0);
    assert_int_equal(r.life.set, 0);
    create_req_free(&r);
    assert_int_equal(
        parse("{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"lifecycle\":"
              "{\"autoPause\":true,\"autoResume\":false,\"privateTraffic\":true,"
              "\"timeout\":600,\"endAtMs\":1795429789378}}",
              &r),
        0);
    assert_int_equal(r.life.set, 1);
    assert_int_equal(r.life.auto_pause, 1);
    assert_int_equal(r.life.auto_resume, 0);
    assert_int_equal(r.life.private_traffic, 1);
    assert_int_equal(r.life.timeout_s, 600);
    assert_int_equal(r.life.end_at_ms, 1795429789378LL);
    create_req_free(&r);
}

static void test_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{\"templateID\":\"base\"}",
        "{\"sandboxID\":\"\",\"templateID\":\"base\"}",
        "{\"sandboxID\":\"I-UPPER\",\"templateID\":\"base\"}",
        "{\"sandboxID\":\"../x\",\"templateID\":\"base\"}",
        "{\"sandboxID\":\"i0123456789abcdefghijk\",\"templateID\":\"base\"}", /* 22 */
        "{\"sandboxID\":42,\"templateID\":\"base\"}",
        "{\"sandboxID\":\"iabc\"}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"../etc\"}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"-x\"}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"cpuCount\":0}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"cpuCount\":-1}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"cpuCount\":1000}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"cpuCount\":1.5}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"cpuCount\":\"2\"}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"memoryMB\":0}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"memoryMB\":99999999}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"envVars\":[]}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"envVars\":{\"A\":1}}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"envVars\":{\"A=B\":\"1\"}}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"accessToken\":5}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"defaultWorkdir\":\"rel\"}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"defaultUser\":\"a\\nb\"}",
        "{\"sandboxID\":\"iabc\",\"sandboxID\":\"iabd\",\"templateID\":\"base\"}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"lifecycle\":[]}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"lifecycle\":{}}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"lifecycle\":{\"autoPause\":1,"
        "\"autoResume\":false,\"privateTraffic\":false,\"timeout\":1,\"endAtMs\":1}}",
        "{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"lifecycle\":{\"autoPause\":"
        "true,"
        "\"autoResume\":false,\"privateTraffic\":false,\"timeout\":-1,\"endAtMs\":1}}",
    };
    struct create_req r;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(bad[i], &r) != -1)
            fail_msg("accepted: %s", bad[i]);
        assert_null(r.env_vars); /* nothing leaks on failure */
        assert_null(r.access_token);
    }
}

static void test_nulls_are_defaults(void **state)
{
    struct create_req r;

    (void)state;
    assert_int_equal(
        parse("{\"sandboxID\":\"iabc\",\"templateID\":\"base\",\"cpuCount\":null,"
              "\"memoryMB\":null,\"envVars\":null,\"accessToken\":null}",
              &r),
        0);
    assert_int_equal(r.cpu, 0);
    assert_true(json_is_object(r.env_vars));
    create_req_free(&r);
}

static void test_init_body(void **state)
{
    struct create_req r;
    json_t *o;
    char *s;

    (void)state;
    assert_int_equal(parse("{\"sandboxID\":\"iabc\",\"templateID\":\"base\","
                           "\"envVars\":{\"K\":\"V\"},\"accessToken\":\"t0k\"}",
                           &r),
                     0);
    s = create_req_init_body(&r, "h7rckchbywrea189qit4");
    assert_non_null(s);
    o = json_loads(s, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "sandboxID")), "iabc");
    /* the resolved template id, not the alias the client used */
    assert_string_equal(json_string_value(json_object_get(o, "templateID")),
                        "h7rckchbywrea189qit4");
    assert_string_equal(json_string_value(json_object_get(o, "accessToken")), "t0k");
    assert_string_equal(json_string_value(json_object_get(o, "defaultUser")), "user");
    assert_string_equal(json_string_value(json_object_get(o, "defaultWorkdir")),
                        "/home/user");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "envVars"), "K")), "V");
    json_decref(o);
    free(s);
    create_req_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_network),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_nulls_are_defaults),
        cmocka_unit_test(test_init_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
