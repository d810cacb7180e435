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
    char *r = host_firewall_ruleset("cube");
    (void)state;
    assert_non_null(r);
    /* Only replies may come in from a sandbox; everything it opens is dropped. */
    const char *accept = strstr(r, "input iifname \"vh*\" ct state established,related accept");
    const char *drop = strstr(r, "input iifname \"vh*\" counter drop");
    assert_non_null(accept);
    assert_non_null(drop);
    assert_true(accept < drop);
    assert_non_null(strstr(r, "forward iifname \"vh*\" oifname \"vh*\" counter drop"));
    assert_non_null(strstr(r, "169.254.0.0/16"));
    assert_non_null(strstr(r, "127.0.0.0/8"));
    assert_non_null(strstr(r, "fe80::/10"));
    /* Every statement addresses our own table, nothing else on the host. */
    for (char *line = strtok(r, "\n"); line; line = strtok(NULL, "\n"))
        assert_non_null(strstr(line, " inet cube"));
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_name),
        cmocka_unit_test(test_ruleset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
