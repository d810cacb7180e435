/* net_policy: parsing and validation of allow_internet_access / allowOut / denyOut
 * (API input), the persisted form, and the nft commands built from a policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net_policy.h"

static int parse(const char *body, int flat, struct net_policy *p, char *err)
{
    json_t *root = json_loads(body, 0, NULL);
    int rc;

    assert_non_null(root);
    err[0] = '\0';
    rc = net_policy_parse(root, flat, p, err, 400);
    json_decref(root);
    return rc;
}

static void test_default(void **state)
{
    struct net_policy p;
    char err[400];
    (void)state;
    assert_int_equal(parse("{}", 0, &p, err), 0);
    assert_true(net_policy_is_default(&p));
    assert_int_equal(
        parse("{\"allow_internet_access\":true,\"network\":null}", 0, &p, err), 0);
    assert_true(net_policy_is_default(&p));
    /* allowOut alone opens nothing that was closed: still the default. */
    assert_int_equal(parse("{\"network\":{\"allowOut\":[\"1.1.1.1\"]}}", 0, &p, err), 0);
    assert_true(net_policy_is_default(&p));
    assert_int_equal(p.n_allow, 0);
}

static void test_no_internet(void **state)
{
    struct net_policy p;
    char err[400];
    (void)state;
    assert_int_equal(parse("{\"allow_internet_access\":false}", 0, &p, err), 0);
    assert_false(net_policy_is_default(&p));
    assert_int_equal(p.n_deny, 1);
    assert_int_equal(p.deny[0].lo, 0);
    assert_int_equal(p.deny[0].hi, 0xffffffffu);
    /* Same as denyOut 0.0.0.0/0. */
    assert_int_equal(parse("{\"network\":{\"denyOut\":[\"0.0.0.0/0\"]}}", 0, &p, err), 0);
    assert_int_equal(p.n_deny, 1);
    assert_int_equal(p.deny[0].hi, 0xffffffffu);
}

static void test_lists_merge(void **state)
{
    struct net_policy p;
    char err[400];
    (void)state;
    assert_int_equal(
        parse("{\"network\":{\"allowOut\":[\"8.8.8.8\",\"1.1.1.0/24\",\"1.1.1.7\","
              "\"1.1.2.0/24\"],\"denyOut\":[\"10.1.2.3/8\",\"0.0.0.0/0\"]}}",
              0, &p, err),
        0);
    /* 1.1.1.0/24 and 1.1.2.0/24 are adjacent: one range; 1.1.1.7 is inside. */
    assert_int_equal(p.n_allow, 2);
    assert_int_equal(p.allow[0].lo, 0x01010100u);
    assert_int_equal(p.allow[0].hi, 0x010102ffu);
    assert_int_equal(p.allow[1].lo, 0x08080808u);
    assert_int_equal(p.allow[1].hi, 0x08080808u);
    /* Host bits of a CIDR are masked; 10/8 lies inside 0/0. */
    assert_int_equal(p.n_deny, 1);
    assert_int_equal(parse("{\"network\":{\"denyOut\":[\"10.1.2.3/8\"]}}", 0, &p, err),
                     0);
    assert_int_equal(p.deny[0].lo, 0x0a000000u);
    assert_int_equal(p.deny[0].hi, 0x0affffffu);
}

static void test_flat(void **state)
{
    struct net_policy p;
    char err[400];
    (void)state;
    /* PUT /network: the lists are top-level. */
    assert_int_equal(
        parse("{\"allowOut\":[\"1.2.3.4\"],\"denyOut\":[\"0.0.0.0/0\"]}", 1, &p, err), 0);
    assert_int_equal(p.n_allow, 1);
    assert_int_equal(p.n_deny, 1);
    assert_int_equal(parse("{}", 1, &p, err), 0);
    assert_true(net_policy_is_default(&p));
    /* In the create form top-level lists mean nothing. */
    assert_int_equal(parse("{\"denyOut\":[\"0.0.0.0/0\"]}", 0, &p, err), 0);
    assert_true(net_policy_is_default(&p));
}

static void test_rejects(void **state)
{
    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"{\"network\":{\"allowOut\":[\"example.com\"],\"denyOut\":[\"0.0.0.0/0\"]}}",
         "egress proxy"},
        {"{\"network\":{\"denyOut\":[\"*.example.com\"]}}", "egress proxy"},
        {"{\"network\":{\"allowOut\":[\"2001:db8::1\"]}}", "IPv6"},
        {"{\"network\":{\"denyOut\":[\"1.2.3.4/33\"]}}", "not an IPv4"},
        {"{\"network\":{\"denyOut\":[\"1.2.3\"]}}", "not an IPv4"},
        {"{\"network\":{\"denyOut\":[\"1.2.3.4/\"]}}", "not an IPv4"},
        {"{\"network\":{\"denyOut\":[\" 1.2.3.4\"]}}", "not an IPv4"},
        {"{\"network\":{\"denyOut\":[\"1.2.3.4/-1\"]}}", "not an IPv4"},
        {"{\"network\":{\"denyOut\":[\"1.2.3.4/+8\"]}}", "not an IPv4"},
        {"{\"network\":{\"denyOut\":[7]}}", "strings"},
        {"{\"network\":{\"denyOut\":\"0.0.0.0/0\"}}", "array"},
        {"{\"network\":[]}", "object"},
        {"{\"allow_internet_access\":\"no\"}", "boolean"},
        {"{\"network\":{\"egressProxy\":{\"address\":\"p:1080\"}}}", "egressProxy"},
        {"{\"network\":{\"rules\":{\"example.com\":[{}]}}}", "egress proxy"},
    };
    struct net_policy p;
    char err[400];
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i].body, 0, &p, err), -1);
        if (!strstr(err, bad[i].msg))
            fail_msg("%s: message '%s' lacks '%s'", bad[i].body, err, bad[i].msg);
    }
    /* An empty rules object and an IPv6 deny (no IPv6 egress exists) are fine. */
    assert_int_equal(
        parse("{\"network\":{\"rules\":{},\"denyOut\":[\"::/0\"]}}", 0, &p, err), 0);
    assert_true(net_policy_is_default(&p));
}

static void test_limits(void **state)
{
    struct net_policy p;
    char err[400];
    json_t *deny = json_array(), *root;
    (void)state;
    /* 65 distinct addresses: over the limit after merging. */
    for (int i = 0; i < NET_POLICY_MAX + 1; i++) {
        char a[32];
        snprintf(a, sizeof(a), "9.9.%d.1", i);
        json_array_append_new(deny, json_string(a));
    }
    root = json_pack("{s:{s:o}}", "network", "denyOut", deny);
    assert_int_equal(net_policy_parse(root, 0, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too many"));
    json_decref(root);
    /* 300 raw entries: refused before any work. */
    deny = json_array();
    for (int i = 0; i < 300; i++)
        json_array_append_new(deny, json_string("1.1.1.1"));
    root = json_pack("{s:{s:o}}", "network", "denyOut", deny);
    assert_int_equal(net_policy_parse(root, 0, &p, err, sizeof(err)), -1);
    json_decref(root);
}

static void test_json_roundtrip(void **state)
{
    struct net_policy p, q;
    char err[400];
    json_t *j;
    (void)state;
    assert_int_equal(parse("{\"network\":{\"allowOut\":[\"1.1.1.1\",\"10.0.0.0/24\"],"
                           "\"denyOut\":[\"0.0.0.0/1\"]}}",
                           0, &p, err),
                     0);
    j = net_policy_to_json(&p);
    assert_non_null(j);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(j, "allowOut"), 1)),
        "10.0.0.0-10.0.0.255");
    assert_int_equal(net_policy_from_json(j, &q), 0);
    assert_memory_equal(&p, &q, sizeof(p));
    json_decref(j);
    /* Default: an empty object, and absent means default. */
    memset(&p, 0, sizeof(p));
    j = net_policy_to_json(&p);
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);
    assert_int_equal(net_policy_from_json(NULL, &q), 0);
    assert_true(net_policy_is_default(&q));
    /* A damaged file is refused, not half-read. */
    j = json_loads("{\"denyOut\":[\"9.9.9.9-1.1.1.1\"]}", 0, NULL);
    assert_int_equal(net_policy_from_json(j, &q), -1);
    assert_true(net_policy_is_default(&q));
    json_decref(j);
    j = json_loads("{\"denyOut\":\"x\"}", 0, NULL);
    assert_int_equal(net_policy_from_json(j, &q), -1);
    json_decref(j);
}

static void test_commands(void **state)
{
    struct net_policy p;
    char err[400], *c;
    (void)state;
    /* Default: the slot's chain and map element are removed, idempotently. */
    memset(&p, 0, sizeof(p));
    c = net_policy_commands("cube", 5, &p);
    assert_non_null(c);
    assert_non_null(strstr(c, "add chain inet cube p5\n"));
    assert_non_null(strstr(c, "delete element inet cube sbpolicy { 100.96.0.22 }\n"));
    assert_non_null(strstr(c, "delete chain inet cube p5\n"));
    assert_null(strstr(c, "add rule"));
    free(c);
    /* allow before deny, element last (the chain is complete when it is used). */
    assert_int_equal(parse("{\"allow_internet_access\":false,\"network\":{\"allowOut\":"
                           "[\"203.0.113.80\"]}}",
                           0, &p, err),
                     0);
    c = net_policy_commands("cube", 5, &p);
    assert_non_null(c);
    const char *flush = strstr(c, "flush chain inet cube p5\n");
    const char *allow = strstr(c, "add rule inet cube p5 ip daddr 203.0.113.80 accept\n");
    const char *drop = strstr(c, "add rule inet cube p5 counter drop\n");
    const char *elem =
        strstr(c, "add element inet cube sbpolicy { 100.96.0.22 : jump p5 }\n");
    assert_true(flush && allow && drop && elem);
    assert_true(flush < allow && allow < drop && drop < elem);
    free(c);
    assert_int_equal(
        parse("{\"network\":{\"denyOut\":[\"1.0.0.0/8\",\"3.3.3.3\"]}}", 0, &p, err), 0);
    c = net_policy_commands("t", 0, &p);
    /* One rule per range, no anonymous sets (they would slow every later transaction). */
    assert_non_null(
        strstr(c, "add rule inet t p0 ip daddr 1.0.0.0-1.255.255.255 counter drop\n"));
    assert_non_null(strstr(c, "add rule inet t p0 ip daddr 3.3.3.3 counter drop\n"));
    assert_null(strstr(c, "daddr {"));
    free(c);
    assert_null(net_policy_commands("cube", -1, &p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default),        cmocka_unit_test(test_no_internet),
        cmocka_unit_test(test_lists_merge),    cmocka_unit_test(test_flat),
        cmocka_unit_test(test_rejects),        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_json_roundtrip), cmocka_unit_test(test_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
