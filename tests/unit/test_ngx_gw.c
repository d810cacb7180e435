/* Unit tests of ngx_cube_module's pure helpers (ngx_cube_module/cube_gw.c): routes,
 * ids, create bodies, JSON documents, list queries, router host parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cube_gw.h"

#define S(x) x, strlen(x)

static void test_route_basic(void **state)
{
    cube_route_match_t m;
    (void)state;

    cube_route_match(CUBE_M_GET, S("/health"), &m);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.route, CUBE_ROUTE_HEALTH);

    cube_route_match(CUBE_M_POST, S("/health"), &m);
    assert_int_equal(m.status, 405);

    cube_route_match(CUBE_M_POST, S("/v2/sandboxes"), &m);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.route, CUBE_ROUTE_CREATE_V2);

    cube_route_match(CUBE_M_POST, S("/sandboxes"), &m);
    assert_int_equal(m.route, CUBE_ROUTE_CREATE_V1);

    cube_route_match(CUBE_M_GET, S("/v2/sandboxes"), &m);
    assert_int_equal(m.route, CUBE_ROUTE_LIST_V2);

    cube_route_match(CUBE_M_GET, S("/sandboxes"), &m);
    assert_int_equal(m.route, CUBE_ROUTE_LIST_V1);

    cube_route_match(CUBE_M_PUT, S("/sandboxes"), &m);
    assert_int_equal(m.status, 405);
    assert_string_equal(m.allow, "GET, POST");

    cube_route_match(CUBE_M_GET, S("/nothing"), &m);
    assert_int_equal(m.status, 404);
    cube_route_match(CUBE_M_GET, S("/sandboxesX"), &m);
    assert_int_equal(m.status, 404);
    cube_route_match(CUBE_M_GET, S("/sandboxes/"), &m);
    assert_int_equal(m.status, 404);
    cube_route_match(CUBE_M_GET, S(""), &m);
    assert_int_equal(m.status, 404);
}

static void test_route_ids(void **state)
{
    cube_route_match_t m;
    (void)state;

    cube_route_match(CUBE_M_GET, S("/sandboxes/iabc123"), &m);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.route, CUBE_ROUTE_GET);
    assert_string_equal(m.id, "iabc123");

    cube_route_match(CUBE_M_DELETE, S("/sandboxes/iabc123-6532622b"), &m);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.route, CUBE_ROUTE_DELETE);
    assert_string_equal(m.id, "iabc123");

    cube_route_match(CUBE_M_GET, S("/sandboxes/IABC"), &m);
    assert_int_equal(m.status, 400);
    cube_route_match(CUBE_M_GET, S("/sandboxes/-x"), &m);
    assert_int_equal(m.status, 400);

    cube_route_match(CUBE_M_POST, S("/sandboxes/iabc"), &m);
    assert_int_equal(m.status, 405);
    assert_string_equal(m.allow, "GET, DELETE");

    cube_route_match(CUBE_M_POST, S("/sandboxes/iabc/timeout"), &m);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.route, CUBE_ROUTE_TIMEOUT);
    assert_string_equal(m.id, "iabc");
    cube_route_match(CUBE_M_GET, S("/sandboxes/iabc/timeout"), &m);
    assert_int_equal(m.status, 405);
    cube_route_match(CUBE_M_POST, S("/v2/sandboxes/iabc/connect"), &m);
    assert_int_equal(m.route, CUBE_ROUTE_CONNECT_V2);
    cube_route_match(CUBE_M_POST, S("/sandboxes/iabc-cl/connect"), &m);
    assert_int_equal(m.route, CUBE_ROUTE_CONNECT_V1);
    assert_string_equal(m.id, "iabc");
    cube_route_match(CUBE_M_POST, S("/v2/sandboxes/iabc/timeout"), &m);
    assert_int_equal(m.status, 404);
    cube_route_match(CUBE_M_POST, S("/sandboxes/iabc/pause"), &m);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.route, CUBE_ROUTE_PAUSE);
    cube_route_match(CUBE_M_POST, S("/sandboxes/iabc/resume"), &m);
    assert_int_equal(m.route, CUBE_ROUTE_RESUME);
    cube_route_match(CUBE_M_GET, S("/sandboxes/iabc/pause"), &m);
    assert_int_equal(m.status, 405);
    cube_route_match(CUBE_M_GET, S("/sandboxes/iabc/metrics"), &m);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.route, CUBE_ROUTE_METRICS);
    cube_route_match(CUBE_M_POST, S("/sandboxes/iabc/metrics"), &m);
    assert_int_equal(m.status, 405);
    cube_route_match(CUBE_M_POST, S("/sandboxes/iabc/fork"), &m);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.route, CUBE_ROUTE_NOT_IMPLEMENTED);
    cube_route_match(CUBE_M_PUT, S("/sandboxes/iabc/network"), &m);
    assert_int_equal(m.status, 0);
    assert_int_equal(m.route, CUBE_ROUTE_NETWORK);
    cube_route_match(CUBE_M_POST, S("/sandboxes/iabc/network"), &m);
    assert_int_equal(m.status, 405);
    cube_route_match(CUBE_M_PUT, S("/v2/sandboxes/iabc/network"), &m);
    assert_int_equal(m.status, 404);
    cube_route_match(CUBE_M_GET, S("/sandboxes/iabc/unknown"), &m);
    assert_int_equal(m.status, 404);
    cube_route_match(CUBE_M_GET, S("/v2/sandboxes/iabc"), &m);
    assert_int_equal(m.status, 404);
}

static void test_id_normalize(void **state)
{
    char out[CUBE_GW_ID_MAX + 1];
    char longid[CUBE_GW_ID_MAX + 2];
    (void)state;

    assert_int_equal(cube_sandbox_id_normalize(S("i0123456789abcdefghij"), out), 0);
    assert_string_equal(out, "i0123456789abcdefghij");
    assert_int_equal(cube_sandbox_id_normalize(S("iabc-client"), out), 0);
    assert_string_equal(out, "iabc");
    assert_int_equal(cube_sandbox_id_normalize(S(""), out), -1);
    assert_int_equal(cube_sandbox_id_normalize(S("a/b"), out), -1);
    assert_int_equal(cube_sandbox_id_normalize(S("iabc-x/y"), out), -1);
    assert_int_equal(cube_sandbox_id_normalize(S("i a"), out), -1);
    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_int_equal(cube_sandbox_id_normalize(S(longid), out), -1);
    assert_int_equal(cube_sandbox_id_normalize(longid, CUBE_GW_ID_MAX, out), 0);
}

static void test_create_defaults(void **state)
{
    cube_create_req_t req;
    char err[256];
    (void)state;

    assert_int_equal(cube_create_parse("", 0, 1, &req, err, sizeof(err)), 0);
    assert_string_equal(req.template_ref, "base");
    assert_int_equal(req.timeout, 300);
    assert_int_equal(req.timeout_set, 0);
    assert_true(json_is_object(req.metadata));
    assert_true(json_is_object(req.env_vars));
    assert_null(req.network);
    assert_int_equal(req.allow_internet, -1);
    cube_create_req_free(&req);

    assert_int_equal(cube_create_parse(S("{}"), 0, &req, err, sizeof(err)), 0);
    assert_int_equal(req.timeout, 15);
    cube_create_req_free(&req);
}

static void test_create_full(void **state)
{
    cube_create_req_t req;
    char err[256];
    const char *body =
        "{\"templateID\":\"code-interpreter-v1\",\"timeout\":5,\"metadata\":{\"a\":\"b\"},"
        "\"envVars\":{\"FOO\":\"bar\"},\"autoPause\":true,\"autoResume\":{\"enabled\":true},"
        "\"allow_internet_access\":false,\"secure\":true,\"network\":{\"allowOut\":[]},"
        "\"mcp\":{\"x\":1},\"unknownField\":[1,2]}";
    (void)state;

    assert_int_equal(cube_create_parse(S(body), 1, &req, err, sizeof(err)), 0);
    assert_string_equal(req.template_ref, "code-interpreter-v1");
    assert_int_equal(req.timeout, 5);
    assert_int_equal(req.timeout_set, 1);
    assert_string_equal(json_string_value(json_object_get(req.metadata, "a")), "b");
    assert_string_equal(json_string_value(json_object_get(req.env_vars, "FOO")), "bar");
    assert_int_equal(req.auto_pause, 1);
    assert_int_equal(req.auto_resume, 1);
    assert_int_equal(req.allow_internet, 0);
    assert_int_equal(req.secure, 1);
    assert_true(json_is_object(req.network));
    cube_create_req_free(&req);
}

static void expect_400(const char *body, const char *msg_part)
{
    cube_create_req_t req;
    char err[256] = "";

    assert_int_equal(cube_create_parse(S(body), 1, &req, err, sizeof(err)), 400);
    if (strstr(err, msg_part) == NULL)
        fail_msg("error '%s' lacks '%s'", err, msg_part);
}

static void test_create_errors(void **state)
{
    (void)state;
    expect_400("{\"templateID\":", "Error when parsing request");
    expect_400("[1]", "JSON object");
    expect_400("{\"timeout\":0}", "greater than 0");
    expect_400("{\"timeout\":-5}", "greater than 0");
    expect_400("{\"timeout\":86401}", "Timeout cannot be greater than 24 hours");
    expect_400("{\"timeout\":\"10\"}", "integer");
    expect_400("{\"timeout\":1.5}", "integer");
    expect_400("{\"metadata\":{\"a\":1}}", "metadata");
    expect_400("{\"metadata\":[]}", "metadata");
    expect_400("{\"envVars\":{\"a\":null}}", "envVars");
    expect_400("{\"templateID\":\"\"}", "template");
    expect_400("{\"templateID\":\"a b\"}", "template");
    expect_400("{\"templateID\":5}", "template");
    expect_400("{\"autoPause\":\"yes\"}", "autoPause");
    expect_400("{\"autoResume\":5}", "autoResume");
    expect_400("{\"network\":5}", "network");
    expect_400("{} trailing", "Error when parsing request");
}

static void test_create_edge(void **state)
{
    cube_create_req_t req;
    char err[256];
    (void)state;

    assert_int_equal(cube_create_parse(S("{\"timeout\":86400,\"templateID\":null}"), 1, &req,
                                       err, sizeof(err)), 0);
    assert_int_equal(req.timeout, 86400);
    assert_string_equal(req.template_ref, "base");
    cube_create_req_free(&req);
    assert_int_equal(cube_create_parse(S("{\"timeout\":60.0}"), 1, &req, err, sizeof(err)), 0);
    assert_int_equal(req.timeout, 60);
    cube_create_req_free(&req);
}

static void test_timeout_body(void **state)
{
    long long t = 0;
    char err[128];
    (void)state;

    assert_int_equal(cube_timeout_body_parse(S("{\"timeout\":5}"), 1, 0, &t, err, sizeof(err)), 0);
    assert_true(t == 5);
    assert_int_equal(cube_timeout_body_parse(S("{}"), 0, 300, &t, err, sizeof(err)), 0);
    assert_true(t == 300);
    assert_int_equal(cube_timeout_body_parse("", 0, 0, 300, &t, err, sizeof(err)), 0);
    assert_true(t == 300);
    assert_int_equal(cube_timeout_body_parse(S("{\"memory\":false}"), 0, 300, &t, err, sizeof(err)), 0);
    assert_int_equal(cube_timeout_body_parse(S("{}"), 1, 0, &t, err, sizeof(err)), 400);
    assert_int_equal(cube_timeout_body_parse(S("{\"timeout\":0}"), 1, 0, &t, err, sizeof(err)), 400);
    assert_int_equal(cube_timeout_body_parse(S("{\"timeout\":86401}"), 1, 0, &t, err, sizeof(err)), 400);
    assert_int_equal(cube_timeout_body_parse(S("{\"timeout\":\"5\"}"), 1, 0, &t, err, sizeof(err)), 400);
    assert_int_equal(cube_timeout_body_parse(S("{"), 1, 0, &t, err, sizeof(err)), 400);
    assert_int_equal(cube_timeout_body_parse(S("7"), 1, 0, &t, err, sizeof(err)), 400);
}

static void test_worker_body(void **state)
{
    cube_create_req_t c;
    char err[256];
    json_t *o, *lc;
    char *s;
    (void)state;

    assert_int_equal(cube_create_parse(S("{\"templateID\":\"base\",\"envVars\":{\"A\":\"1\"}}"),
                                       1, &c, err, sizeof(err)), 0);
    s = cube_worker_create_body("iabc", "tmpl", "tok", 2, 512, &c, 1234);
    cube_create_req_free(&c);
    assert_non_null(s);
    o = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "sandboxID")), "iabc");
    assert_string_equal(json_string_value(json_object_get(o, "templateID")), "tmpl");
    assert_string_equal(json_string_value(json_object_get(o, "accessToken")), "tok");
    assert_int_equal(json_integer_value(json_object_get(o, "cpuCount")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "memoryMB")), 512);
    assert_string_equal(json_string_value(json_object_get(o, "defaultUser")), "user");
    assert_string_equal(json_string_value(json_object_get(o, "defaultWorkdir")), "/home/user");
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "envVars"), "A")), "1");
    /* Not sent unless the client set them. */
    assert_null(json_object_get(o, "allow_internet_access"));
    assert_null(json_object_get(o, "network"));
    /* The lifecycle the worker keeps for a rebuild: v2 defaults. */
    lc = json_object_get(o, "lifecycle");
    assert_true(json_is_false(json_object_get(lc, "autoPause")));
    assert_true(json_is_false(json_object_get(lc, "autoResume")));
    assert_true(json_is_false(json_object_get(lc, "privateTraffic")));
    assert_int_equal(json_integer_value(json_object_get(lc, "timeout")), 300);
    assert_int_equal(json_integer_value(json_object_get(lc, "endAtMs")), 1234);
    json_decref(o);
    free(s);
    /* The egress policy reaches the worker as the client sent it; the lifecycle says
     * auto-pause/resume and private traffic. */
    assert_int_equal(cube_create_parse(S("{\"templateID\":\"base\",\"timeout\":60,"
                                         "\"autoPause\":true,\"autoResume\":{\"enabled\":true},"
                                         "\"allow_internet_access\":false,\"network\":"
                                         "{\"denyOut\":[\"0.0.0.0/0\"],\"allowPublicTraffic\":false}}"),
                                       1, &c, err, sizeof(err)), 0);
    s = cube_worker_create_body("iabc", "tmpl", "tok", 2, 512, &c, 99);
    cube_create_req_free(&c);
    o = json_loads(s, 0, NULL);
    assert_true(json_is_false(json_object_get(o, "allow_internet_access")));
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(json_object_get(o, "network"), "denyOut"), 0)),
                        "0.0.0.0/0");
    lc = json_object_get(o, "lifecycle");
    assert_true(json_is_true(json_object_get(lc, "autoPause")));
    assert_true(json_is_true(json_object_get(lc, "autoResume")));
    assert_true(json_is_true(json_object_get(lc, "privateTraffic")));
    assert_int_equal(json_integer_value(json_object_get(lc, "timeout")), 60);
    json_decref(o);
    free(s);
}

static void test_json_docs(void **state)
{
    char *s;
    (void)state;

    s = cube_json_error(404, "Sandbox \"x\" doesn't exist");
    assert_string_equal(s, "{\"code\":404,\"message\":\"Sandbox \\\"x\\\" doesn't exist\"}");
    free(s);
    s = cube_json_router_error("iabc", "The sandbox was not found", 502);
    assert_string_equal(s, "{\"sandboxId\":\"iabc\",\"message\":\"The sandbox was not found\",\"code\":502}");
    free(s);
    s = cube_json_sandbox("iabc", "tmpl", "base", "n1", "bad", "tok");
    assert_string_equal(s, "{\"sandboxID\":\"iabc\",\"templateID\":\"tmpl\",\"alias\":\"base\","
                           "\"clientID\":\"n1\",\"envdVersion\":\"0.6.13\",\"envdAccessToken\":"
                           "\"tok\",\"trafficAccessToken\":null,\"domain\":null}");
    free(s);
}

static void test_record_detail(void **state)
{
    const char *kv[] = {"id", "iabc", "template_id", "t1", "alias", "base",
                        "node", "n1", "state", "paused", "started_at", "2026-01-01T00:00:00.000Z",
                        "end_at", "2026-01-01T00:05:00.000Z", "cpu", "2", "mem_mb", "512",
                        "disk_mb", "x", "metadata", "{\"k\":\"v\"}", "client_id", "n1",
                        "envd_version", "0.7.1", "auto_pause", "1", "allow_internet", "0",
                        "network", "{\"allowOut\":[\"1.1.1.1\"]}", "unknown", "zzz", "odd"};
    cube_sb_record_t rec;
    json_t *o;
    char *s;
    (void)state;

    cube_sb_record_from_pairs(kv, sizeof(kv) / sizeof(kv[0]), &rec);
    assert_string_equal(rec.id, "iabc");
    assert_string_equal(rec.state, "paused");
    s = cube_json_detail(&rec, "tok");
    o = json_loads(s, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "sandboxID")), "iabc");
    assert_string_equal(json_string_value(json_object_get(o, "state")), "paused");
    assert_string_equal(json_string_value(json_object_get(o, "envdVersion")), "0.7.1");
    assert_int_equal(json_integer_value(json_object_get(o, "cpuCount")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "diskSizeMB")), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "metadata"), "k")), "v");
    assert_true(json_is_false(json_object_get(o, "allowInternetAccess")));
    assert_true(json_is_null(json_object_get(o, "domain")));
    assert_string_equal(json_string_value(json_object_get(o, "envdAccessToken")), "tok");
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "lifecycle"), "onTimeout")), "pause");
    assert_true(json_is_object(json_object_get(o, "network")));
    assert_true(json_is_array(json_object_get(o, "volumeMounts")));
    json_decref(o);
    free(s);

    /* empty record: still valid JSON with defaults */
    memset(&rec, 0, sizeof(rec));
    rec.metadata = "not json";
    o = cube_json_listed(&rec);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "running");
    assert_true(json_is_object(json_object_get(o, "metadata")));
    assert_string_equal(json_string_value(json_object_get(o, "envdVersion")), "0.6.13");
    json_decref(o);
}

static void test_semver(void **state)
{
    (void)state;
    assert_true(cube_semver_ok("0.6.13"));
    assert_false(cube_semver_ok("0.6"));
    assert_false(cube_semver_ok("0.6.13-dev"));
    assert_false(cube_semver_ok(""));
    assert_false(cube_semver_ok(NULL));
    assert_false(cube_semver_ok("1..2"));
}

static void test_worker_error_message(void **state)
{
    char out[128];
    (void)state;

    cube_worker_error_message(S("{\"code\":503,\"message\":\"node full\"}"), 503, out, sizeof(out));
    assert_string_equal(out, "node full");
    cube_worker_error_message(S("garbage"), 500, out, sizeof(out));
    assert_string_equal(out, "worker error 500");
    cube_worker_error_message(NULL, 0, 502, out, sizeof(out));
    assert_string_equal(out, "worker error 502");
}

static void test_list_query(void **state)
{
    cube_list_query_t q;
    char err[128];
    cube_sb_record_t rec;
    (void)state;

    /* SDK encoding: metadata=sandboxTestId%3Dtest-x1 (value URL-encoded twice) */
    assert_int_equal(cube_list_query_parse(S("metadata=sandboxTestId%3Dtest-x1&state=running%2Cpaused&limit=1&order=asc"),
                                           1, &q, err, sizeof(err)), 0);
    assert_int_equal(q.limit, 1);
    assert_int_equal(q.desc, 0);
    assert_true(q.want_running && q.want_paused);
    assert_string_equal(json_string_value(json_object_get(q.metadata, "sandboxTestId")), "test-x1");

    memset(&rec, 0, sizeof(rec));
    rec.state = "running";
    rec.metadata = "{\"sandboxTestId\":\"test-x1\",\"other\":\"y\"}";
    assert_true(cube_list_match(&q, &rec));
    rec.metadata = "{\"sandboxTestId\":\"test-x2\"}";
    assert_false(cube_list_match(&q, &rec));
    rec.metadata = NULL;
    assert_false(cube_list_match(&q, &rec));
    cube_list_query_free(&q);

    assert_int_equal(cube_list_query_parse(S("state=paused"), 1, &q, err, sizeof(err)), 0);
    rec.state = "running";
    assert_false(cube_list_match(&q, &rec));
    rec.state = "paused";
    assert_true(cube_list_match(&q, &rec));
    rec.state = "killing";
    assert_false(cube_list_match(&q, &rec));
    cube_list_query_free(&q);

    /* v1: running only */
    assert_int_equal(cube_list_query_parse(S(""), 0, &q, err, sizeof(err)), 0);
    rec.state = "paused";
    assert_false(cube_list_match(&q, &rec));
    cube_list_query_free(&q);

    assert_int_equal(cube_list_query_parse(S("limit=0"), 1, &q, err, sizeof(err)), 400);
    assert_int_equal(cube_list_query_parse(S("limit=101"), 1, &q, err, sizeof(err)), 400);
    assert_int_equal(cube_list_query_parse(S("state=dead"), 1, &q, err, sizeof(err)), 400);
    assert_int_equal(cube_list_query_parse(S("order=up"), 1, &q, err, sizeof(err)), 400);
    assert_int_equal(cube_list_query_parse(S("metadata=a%3Db%3Dc"), 1, &q, err, sizeof(err)), 400);
    assert_int_equal(cube_list_query_parse(S("metadata=%zz"), 1, &q, err, sizeof(err)), 400);
    assert_int_equal(cube_list_query_parse(S("nextToken=bad"), 1, &q, err, sizeof(err)), 400);
    assert_int_equal(cube_list_query_parse(S("nextToken=123_iabc&x&&y="), 1, &q, err, sizeof(err)), 0);
    assert_string_equal(q.next_token, "123_iabc");
    cube_list_query_free(&q);
}

static void test_list_order(void **state)
{
    long long ms;
    char id[CUBE_GW_ID_MAX + 1];
    (void)state;

    assert_true(cube_list_cmp(2, "a", 1, "a", 1) < 0);  /* newest first */
    assert_true(cube_list_cmp(1, "a", 1, "b", 1) < 0);  /* ties by id asc */
    assert_true(cube_list_cmp(2, "a", 1, "a", 0) > 0);  /* asc reverses */
    assert_int_equal(cube_list_cmp(1, "a", 1, "a", 1), 0);
    assert_int_equal(cube_list_cursor_parse("1700000000000_iabc", &ms, id), 0);
    assert_true(ms == 1700000000000LL);
    assert_string_equal(id, "iabc");
    assert_int_equal(cube_list_cursor_parse("_iabc", &ms, id), -1);
    assert_int_equal(cube_list_cursor_parse("12_", &ms, id), -1);
    assert_int_equal(cube_list_cursor_parse("12_A", &ms, id), -1);
}

static void test_url_decode(void **state)
{
    char out[32];
    (void)state;
    assert_int_equal(cube_url_decode(S("a%20b+c"), out, 1), 5);
    assert_string_equal(out, "a b c");
    assert_int_equal(cube_url_decode(S("a+b"), out, 0), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(cube_url_decode(S("%4"), out, 1), -1);
    assert_int_equal(cube_url_decode(S("%"), out, 1), -1);
    assert_int_equal(cube_url_decode(S("%g0"), out, 1), -1);
}

static void test_router_helpers(void **state)
{
    char id[CUBE_GW_ID_MAX + 1];
    int port = 0;
    (void)state;

    assert_int_equal(cube_parse_port(S("49983")), 49983);
    assert_int_equal(cube_parse_port(S("0")), -1);
    assert_int_equal(cube_parse_port(S("65536")), -1);
    assert_int_equal(cube_parse_port(S("12a")), -1);
    assert_int_equal(cube_parse_port(S("")), -1);
    assert_int_equal(cube_parse_port(S("000080")), -1);

    assert_int_equal(cube_host_route(S("49983-iabc.cube.localhost"), S("cube.localhost"), &port, id), 0);
    assert_int_equal(port, 49983);
    assert_string_equal(id, "iabc");
    assert_int_equal(cube_host_route(S("8000-iabc-6532622b.Cube.Localhost:3000"), S("cube.localhost"), &port, id), 0);
    assert_int_equal(port, 8000);
    assert_string_equal(id, "iabc");
    assert_int_equal(cube_host_route(S("49983-IABC.cube.localhost"), S("cube.localhost"), &port, id), 0);
    assert_string_equal(id, "iabc");
    assert_int_equal(cube_host_route(S("cube.localhost"), S("cube.localhost"), &port, id), -1);
    assert_int_equal(cube_host_route(S("api.cube.localhost"), S("cube.localhost"), &port, id), -1);
    assert_int_equal(cube_host_route(S("49983-iabc.x.cube.localhost"), S("cube.localhost"), &port, id), -1);
    assert_int_equal(cube_host_route(S("49983-iabc.evilcube.localhost"), S("cube.localhost"), &port, id), -1);
    assert_int_equal(cube_host_route(S("0-iabc.cube.localhost"), S("cube.localhost"), &port, id), -1);
    assert_int_equal(cube_host_route(S("49983-.cube.localhost"), S("cube.localhost"), &port, id), -1);
    assert_int_equal(cube_host_route(S("127.0.0.1:3000"), S("cube.localhost"), &port, id), -1);
    assert_int_equal(cube_host_route(S("[::1]:3000"), S("cube.localhost"), &port, id), -1);
    assert_int_equal(cube_host_route(S("49983-iabc.cube.localhost"), S(""), &port, id), -1);

    assert_true(cube_envd_path_refused(49983, S("/init")));
    assert_true(cube_envd_path_refused(49983, S("/init/")));
    assert_true(cube_envd_path_refused(49983, S("/upgrade")));
    assert_true(cube_envd_path_refused(49983, S("/FSFREEZE")));
    assert_false(cube_envd_path_refused(49983, S("/files")));
    assert_false(cube_envd_path_refused(49983, S("/initx")));
    assert_false(cube_envd_path_refused(8000, S("/init")));
}

static void test_metrics_query_and_filter(void **state)
{
    long long a, b;
    char err[128];
    const char *samples[] = {"{\"timestampUnix\":30,\"cpuCount\":2}",
                             "{\"timestampUnix\":20,\"cpuCount\":2}", "not json",
                             "{\"timestampUnix\":10,\"cpuCount\":2}"};
    char *s;
    (void)state;
    assert_int_equal(cube_metrics_query_parse(S("start=15&end=30"), &a, &b, err, sizeof(err)), 0);
    assert_true(a == 15 && b == 30);
    assert_int_equal(cube_metrics_query_parse(S(""), &a, &b, err, sizeof(err)), 0);
    assert_true(a == 0 && b > 1000000000000LL);
    assert_int_equal(cube_metrics_query_parse(S("start=-1"), &a, &b, err, sizeof(err)), 400);
    assert_int_equal(cube_metrics_query_parse(S("end=x"), &a, &b, err, sizeof(err)), 400);
    assert_int_equal(cube_metrics_query_parse(S("start=9&end=3"), &a, &b, err, sizeof(err)), 400);
    s = cube_metrics_filter(samples, 4, 15, 30);
    assert_string_equal(s, "[{\"timestampUnix\":20,\"cpuCount\":2},{\"timestampUnix\":30,\"cpuCount\":2}]");
    free(s);
    s = cube_metrics_filter(samples, 4, 0, 5);
    assert_string_equal(s, "[]");
    free(s);
}

static void test_list_template_and_started_after(void **state)
{
    cube_list_query_t q;
    char err[128];
    cube_sb_record_t rec;
    (void)state;
    memset(&rec, 0, sizeof(rec));
    rec.state = "running";
    rec.template_id = "tpl123";
    rec.alias = "base";
    rec.started_at = "2026-08-21T10:00:00.500Z";
    assert_int_equal(cube_list_query_parse(S("template=base&startedAfter=2026-08-21T10%3A00%3A00.000Z"), 1, &q, err, sizeof(err)), 0);
    assert_true(cube_list_match(&q, &rec));
    cube_list_query_free(&q);
    assert_int_equal(cube_list_query_parse(S("template=tpl123"), 1, &q, err, sizeof(err)), 0);
    assert_true(cube_list_match(&q, &rec));
    cube_list_query_free(&q);
    assert_int_equal(cube_list_query_parse(S("template=other"), 1, &q, err, sizeof(err)), 0);
    assert_false(cube_list_match(&q, &rec));
    cube_list_query_free(&q);
    assert_int_equal(cube_list_query_parse(S("startedAfter=2026-08-21T10%3A00%3A01Z"), 1, &q, err, sizeof(err)), 0);
    assert_false(cube_list_match(&q, &rec));
    cube_list_query_free(&q);
    assert_int_equal(cube_list_query_parse(S("startedAfter=yesterday"), 1, &q, err, sizeof(err)), 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_query_and_filter),
        cmocka_unit_test(test_list_template_and_started_after),
        cmocka_unit_test(test_route_basic),
        cmocka_unit_test(test_route_ids),
        cmocka_unit_test(test_id_normalize),
        cmocka_unit_test(test_create_defaults),
        cmocka_unit_test(test_create_full),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_create_edge),
        cmocka_unit_test(test_timeout_body),
        cmocka_unit_test(test_worker_body),
        cmocka_unit_test(test_json_docs),
        cmocka_unit_test(test_record_detail),
        cmocka_unit_test(test_semver),
        cmocka_unit_test(test_worker_error_message),
        cmocka_unit_test(test_list_query),
        cmocka_unit_test(test_list_order),
        cmocka_unit_test(test_url_decode),
        cmocka_unit_test(test_router_helpers),
    };
    return cmocka_run_group_tests_name("ngx_cube_gw", tests, NULL, NULL);
}
