/* Unit tests of the gateway's pure helpers for refreshes and the traffic token
 * (ngx_cube_module/cube_gw.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cube_gw.h"

#define S(x) x, strlen(x)

static void test_refresh_route(void **state)
{
    cube_route_match_t m;
    (void)state;

    cube_route_match(CUBE_M_POST, S("/sandboxes/iabc/refreshes"), &m);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.route, CUBE_ROUTE_REFRESH);
    assert_string_equal(m.id, "iabc");
    cube_route_match(CUBE_M_GET, S("/sandboxes/iabc/refreshes"), &m);
    assert_int_equal(m.status, 405);
    assert_string_equal(m.allow, "POST");
    cube_route_match(CUBE_M_POST, S("/v2/sandboxes/iabc/refreshes"), &m);
    assert_int_equal(m.status, 404);
}

static void test_refresh_body(void **state)
{
    char err[128];
    long long d = 0;
    (void)state;

    assert_int_equal(cube_refresh_body_parse(S(""), &d, err, sizeof(err)), 0);
    assert_int_equal(d, CUBE_GW_REFRESH_MIN);
    assert_int_equal(cube_refresh_body_parse(S("{}"), &d, err, sizeof(err)), 0);
    assert_int_equal(d, CUBE_GW_REFRESH_MIN);
    assert_int_equal(cube_refresh_body_parse(S("{\"duration\":3}"), &d, err, sizeof(err)),
                     0);
    assert_int_equal(d, CUBE_GW_REFRESH_MIN);
    assert_int_equal(
        cube_refresh_body_parse(S("{\"duration\":600}"), &d, err, sizeof(err)), 0);
    assert_int_equal(d, 600);
    assert_int_equal(
        cube_refresh_body_parse(S("{\"duration\":null}"), &d, err, sizeof(err)), 0);
    assert_int_equal(d, CUBE_GW_REFRESH_MIN);
    assert_int_equal(
        cube_refresh_body_parse(S("{\"duration\":-1}"), &d, err, sizeof(err)), 400);
    assert_int_equal(
        cube_refresh_body_parse(S("{\"duration\":3601}"), &d, err, sizeof(err)), 400);
    assert_int_equal(
        cube_refresh_body_parse(S("{\"duration\":1.5}"), &d, err, sizeof(err)), 400);
    assert_int_equal(
        cube_refresh_body_parse(S("{\"duration\":\"9\"}"), &d, err, sizeof(err)), 400);
    assert_int_equal(cube_refresh_body_parse(S("[]"), &d, err, sizeof(err)), 400);
    assert_int_equal(cube_refresh_body_parse(S("{"), &d, err, sizeof(err)), 400);
    assert_true(strlen(err) > 0);
}

static void test_private_traffic(void **state)
{
    json_t *n;
    (void)state;

    assert_int_equal(cube_network_private_traffic(NULL), 0);
    n = json_pack("{s:b}", "allowPublicTraffic", 0);
    assert_int_equal(cube_network_private_traffic(n), 1);
    json_decref(n);
    n = json_pack("{s:b}", "allowPublicTraffic", 1);
    assert_int_equal(cube_network_private_traffic(n), 0);
    json_decref(n);
    n = json_pack("{s:[s]}", "allowOut", "1.1.1.1");
    assert_int_equal(cube_network_private_traffic(n), 0); /* absent means public */
    json_decref(n);
}

static void test_sandbox_traffic_token(void **state)
{
    json_t *j;
    char *s;
    (void)state;

    s = cube_json_sandbox_ex("iabc", "t1", "base", "c", "0.6.13", "tok", "traffic");
    j = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "trafficAccessToken")),
                        "traffic");
    assert_string_equal(json_string_value(json_object_get(j, "envdAccessToken")), "tok");
    json_decref(j);
    free(s);
    s = cube_json_sandbox("iabc", "t1", "base", "c", "0.6.13", "tok");
    j = json_loads(s, 0, NULL);
    assert_true(json_is_null(json_object_get(j, "trafficAccessToken")));
    json_decref(j);
    free(s);
}

static void test_record_traffic_field(void **state)
{
    const char *kv[] = {"id", "iabc", "traffic_token", "1", "state", "running"};
    cube_sb_record_t rec;
    (void)state;

    cube_sb_record_from_pairs(kv, 6, &rec);
    assert_string_equal(rec.traffic_token, "1");
    assert_string_equal(rec.state, "running");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refresh_route),
        cmocka_unit_test(test_refresh_body),
        cmocka_unit_test(test_private_traffic),
        cmocka_unit_test(test_sandbox_traffic_token),
        cmocka_unit_test(test_record_traffic_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
