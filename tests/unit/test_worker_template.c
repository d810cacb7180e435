/* cube-worker templates: template.json parsing, the directory scan, lookup by id and
 * alias. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "template.h"
#include "util.h"

static const char *good = "{\"templateID\":\"h7rckchbywrea189qit4\",\"alias\":\"base\","
                          "\"cpuCount\":2,\"memoryMB\":512,\"diskSizeMB\":2048,"
                          "\"envdVersion\":\"0.6.13\",\"uidShift\":100000}";

static void test_parse(void **state)
{
    struct template t;
    char err[160];

    (void)state;
    assert_int_equal(template_parse(good, "h7rckchbywrea189qit4", &t, err, sizeof(err)),
                     0);
    assert_string_equal(t.id, "h7rckchbywrea189qit4");
    assert_string_equal(t.alias, "base");
    assert_int_equal(t.cpu, 2);
    assert_int_equal(t.mem_mb, 512);
    assert_int_equal(t.disk_mb, 2048);
    assert_string_equal(t.envd_version, "0.6.13");
    assert_int_equal(t.uid_shift, 100000);
    /* defaults */
    assert_int_equal(
        template_parse("{\"templateID\":\"abc\"}", NULL, &t, err, sizeof(err)), 0);
    assert_int_equal(t.cpu, 2);
    assert_int_equal(t.mem_mb, 512);
    assert_int_equal(t.uid_shift, 100000);
    assert_string_equal(t.alias, "");
    assert_int_equal(t.pool_size, -1); /* the worker's --pool-size */
    assert_int_equal(template_parse("{\"templateID\":\"abc\",\"poolSize\":0}", NULL, &t,
                                    err, sizeof(err)),
                     0);
    assert_int_equal(t.pool_size, 0);
}

static void test_parse_rejects(void **state)
{
    struct template t;
    char err[160];

    (void)state;
    /* directory name and id disagree */
    assert_int_equal(template_parse(good, "other", &t, err, sizeof(err)), -1);
    assert_int_equal(
        template_parse("{\"templateID\":\"../x\"}", NULL, &t, err, sizeof(err)), -1);
    assert_int_equal(template_parse("{}", NULL, &t, err, sizeof(err)), -1);
    assert_int_equal(template_parse("nope", NULL, &t, err, sizeof(err)), -1);
    /* a zero shift would make sandbox root host root */
    assert_int_equal(template_parse("{\"templateID\":\"abc\",\"uidShift\":0}", NULL, &t,
                                    err, sizeof(err)),
                     -1);
    assert_int_equal(template_parse("{\"templateID\":\"abc\",\"cpuCount\":0}", NULL, &t,
                                    err, sizeof(err)),
                     -1);
    assert_int_equal(template_parse("{\"templateID\":\"abc\",\"poolSize\":100000}", NULL,
                                    &t, err, sizeof(err)),
                     -1);
    assert_int_equal(template_parse("{\"templateID\":\"abc\",\"poolSize\":\"4\"}", NULL,
                                    &t, err, sizeof(err)),
                     -1);
}

static void test_ref_valid(void **state)
{
    (void)state;
    assert_true(template_ref_valid("base"));
    assert_true(template_ref_valid("code-interpreter-v1"));
    assert_true(template_ref_valid("h7rckchbywrea189qit4"));
    assert_false(template_ref_valid(""));
    assert_false(template_ref_valid("-x"));
    assert_false(template_ref_valid("a/b"));
    assert_false(template_ref_valid(".."));
    assert_false(template_ref_valid("Base"));
}

static void put(const char *dir, const char *id, const char *json, int with_rootfs)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, id);
    assert_int_equal(util_mkdir_p(path, 0755), 0);
    if (with_rootfs) {
        snprintf(path, sizeof(path), "%s/%s/rootfs", dir, id);
        assert_int_equal(mkdir(path, 0755), 0);
    }
    snprintf(path, sizeof(path), "%s/%s/template.json", dir, id);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
}

static void test_scan_find(void **state)
{
    char dir[] = "/tmp/test_worker_template.XXXXXX";
    struct template_set set = {0};
    const struct template *t;

    (void)state;
    assert_non_null(mkdtemp(dir));
    put(dir, "h7rckchbywrea189qit4", good, 1);
    put(dir, "aaa", "{\"templateID\":\"aaa\",\"alias\":\"other\"}", 0); /* no rootfs */
    put(dir, "bbb", "{\"templateID\":\"ccc\"}", 1);                     /* id mismatch */
    put(dir, "ddd", "{\"templateID\":\"ddd\"}", 1);
    assert_int_equal(template_scan(&set, dir), 2);
    t = template_find(&set, "base");
    assert_non_null(t);
    assert_string_equal(t->id, "h7rckchbywrea189qit4");
    assert_ptr_equal(template_find(&set, "h7rckchbywrea189qit4"), t);
    assert_non_null(template_find(&set, "ddd"));
    assert_null(template_find(&set, "aaa"));
    assert_null(template_find(&set, "ccc"));
    assert_null(template_find(&set, "other"));
    /* rescan replaces */
    assert_int_equal(util_rm_rf(dir), 0);
    assert_int_equal(template_scan(&set, dir), 0);
    assert_null(template_find(&set, "base"));
    template_set_free(&set);
}

static void test_aliases(void **state)
{
    struct template t;
    struct template_set set = {0};
    char err[128];
    (void)state;
    memset(&t, 0, sizeof(t));
    assert_int_equal(template_parse("{\"templateID\":\"abc\",\"alias\":\"base\","
                                    "\"aliases\":[\"code-interpreter-v1\",\"BAD NAME\",7,"
                                    "\"code-interpreter\"]}",
                                    NULL, &t, err, sizeof(err)),
                     0);
    /* Invalid names are skipped, valid ones kept in order. */
    assert_int_equal(t.n_aliases, 2);
    assert_string_equal(t.aliases[0], "code-interpreter-v1");
    assert_string_equal(t.aliases[1], "code-interpreter");
    set.head = &t;
    set.count = 1;
    assert_ptr_equal(template_find(&set, "code-interpreter-v1"), &t);
    assert_ptr_equal(template_find(&set, "base"), &t);
    assert_ptr_equal(template_find(&set, "abc"), &t);
    assert_null(template_find(&set, "BAD NAME"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),     cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_ref_valid), cmocka_unit_test(test_scan_find),
        cmocka_unit_test(test_aliases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
