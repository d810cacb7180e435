/* host_firewall: the table name mapping and the ruleset text (the policy itself). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "host_firewall.h"

static void test_table_name(void **state)
{
    char out[40];
    (void)state;
    host_firewall_table_name("cube", out, sizeof(out));
    assert_string_equal(out, "cube");
    host_firewall_table_name("cubetest123", out, sizeof(out));
    assert_string_equal(out, "cubetest123");
    host_firewall_table_name("a-b;flush ruleset", out, sizeof(out));
    assert_string_equal(out, "a_b_flush_ruleset");
    host_firewall_table_name("", out, sizeof(out));
    assert_string_equal(out, "cube");
}

static void test_ruleset(void **state)
{
    char *r = host_firewall_ruleset("cube", "10.255.255.53");
    (void)state;
    assert_non_null(r);
    /* Only replies may come in from a sandbox; everything it opens is dropped. */
    const char *accept = strstr(r, "input iifname \"vh*\" ct state established,related accept");
    const char *drop = strstr(r, "input iifname \"vh*\" counter drop");
    assert_non_null(accept);
    assert_non_null(drop);
    assert_true(accept < drop);
    /* Egress order: host protections, DNS exception, private ranges, then the policy. */
    const char *vh = strstr(r, "egress oifname \"vh*\" counter drop");
    const char *never = strstr(r, "127.0.0.0/8, 169.254.0.0/16, 100.96.0.0/16");
    const char *dns = strstr(r, "egress ip daddr { 10.255.255.53 } meta l4proto { tcp, udp } th dport 53 ip saddr vmap @sbpolicy");
    const char *priv = strstr(r, "egress ip daddr { 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 } counter drop");
    const char *pol = strstr(r, "egress ip saddr vmap @sbpolicy\n");
    assert_true(vh && never && dns && priv && pol);
    assert_true(vh < never && never < dns && dns < priv && priv < pol);
    assert_non_null(strstr(r, "forward oifname \"vh*\" ct state != { established, related } counter drop"));
    assert_non_null(strstr(r, "ip saddr 100.96.0.0/16 oifname != \"vh*\" masquerade"));
    /* Restart keeps per-sandbox state: the map and p<slot> chains are never flushed. */
    assert_null(strstr(r, "flush table"));
    assert_null(strstr(r, "flush map"));
    /* Every statement addresses our own table, nothing else on the host. */
    for (char *line = strtok(r, "\n"); line; line = strtok(NULL, "\n"))
        assert_non_null(strstr(line, " inet cube"));
    free(r);
    /* No resolvers: no exception at all. */
    r = host_firewall_ruleset("cube", "");
    assert_null(strstr(r, "dport 53"));
    free(r);
}

static void test_resolvers(void **state)
{
    char out[400];
    (void)state;
    assert_int_equal(host_firewall_resolvers("nameserver 10.255.255.53\n", out, sizeof(out)), 1);
    assert_string_equal(out, "10.255.255.53");
    /* Loopback (systemd-resolved) and IPv6 servers are not reachable rules; comments
     * and other lines are skipped. */
    assert_int_equal(host_firewall_resolvers("# x\nsearch a.b\nnameserver 127.0.0.53\n"
                                             "nameserver ::1\n  nameserver\t1.1.1.1 # c\n"
                                             "nameserver 8.8.8.8\nnameservers 9.9.9.9\n"
                                             "nameserver 1.2.3.4;flush ruleset\n",
                                             out, sizeof(out)),
                     3);
    assert_string_equal(out, "1.1.1.1, 8.8.8.8, 1.2.3.4");
    assert_int_equal(host_firewall_resolvers("", out, sizeof(out)), 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_name),
        cmocka_unit_test(test_ruleset),
        cmocka_unit_test(test_resolvers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
