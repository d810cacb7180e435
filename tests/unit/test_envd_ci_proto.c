/* cube-ci protocol helpers: /execute and /contexts request parsing, NDJSON
 * lines, MIME mapping, quote stripping and UTF-8 hygiene. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ci_proto.h"

static int parse(const char *body, struct ci_execute_req *r, char *err)
{
    return ci_parse_execute(body, strlen(body), r, err, 256);
}

static void test_execute_ok(void **state)
{
    struct ci_execute_req r;
    char err[256];

    (void)state;
    assert_int_equal(parse("{\"code\":\"x + 1\"}", &r, err), 0);
    assert_string_equal(r.code, "x + 1");
    assert_null(r.context_id);
    assert_null(r.language);
    assert_null(r.env_vars);
    ci_execute_req_free(&r);

    assert_int_equal(
        parse("{\"code\":\"1\",\"language\":\"JS\",\"env_vars\":{\"A\":\"b\"}}", &r, err),
        0);
    assert_string_equal(r.language, "javascript");
    assert_string_equal(json_string_value(json_object_get(r.env_vars, "A")), "b");
    ci_execute_req_free(&r);

    assert_int_equal(parse("{\"code\":\"\",\"context_id\":\"abc\",\"language\":null,"
                           "\"env_vars\":null}",
                           &r, err),
                     0);
    assert_string_equal(r.context_id, "abc");
    assert_null(r.language);
    ci_execute_req_free(&r);
}

static void test_execute_errors(void **state)
{
    struct ci_execute_req r;
    char err[256];

    (void)state;
    assert_int_equal(parse("", &r, err), -1);
    assert_int_equal(parse("[]", &r, err), -1);
    assert_int_equal(parse("{}", &r, err), -1);
    assert_int_equal(parse("{\"code\":1}", &r, err), -1);
    assert_int_equal(
        parse("{\"code\":\"1\",\"context_id\":\"a\",\"language\":\"python\"}", &r, err),
        -1);
    assert_non_null(strstr(err, "context_id"));
    assert_int_equal(parse("{\"code\":\"1\",\"env_vars\":{\"A\":1}}", &r, err), -1);
    assert_int_equal(parse("{\"code\":\"1\",\"env_vars\":{\"A=B\":\"x\"}}", &r, err), -1);
    assert_int_equal(parse("{\"code\":\"1\",\"env_vars\":[]}", &r, err), -1);
    assert_int_equal(parse("{\"code\":\"1\",\"language\":\"py thon\"}", &r, err), -1);
    assert_int_equal(parse("{\"code\":\"1\",\"code\":\"2\"}", &r, err), -1);
    assert_int_equal(parse("{\"code\":\"1\",\"context_id\":\"\"}", &r, err), -1);
}

static void test_context_create(void **state)
{
    char *lang, *cwd, err[256];

    (void)state;
    assert_int_equal(ci_parse_context_create("", 0, &lang, &cwd, err, sizeof(err)), 0);
    assert_string_equal(lang, "python");
    assert_string_equal(cwd, "/home/user");
    free(lang);
    free(cwd);
    const char *b = "{\"language\":\"ts\",\"cwd\":\"/root\"}";
    assert_int_equal(ci_parse_context_create(b, strlen(b), &lang, &cwd, err, sizeof(err)),
                     0);
    assert_string_equal(lang, "typescript");
    assert_string_equal(cwd, "/root");
    free(lang);
    free(cwd);
    b = "{\"cwd\":\"relative\"}";
    assert_int_equal(ci_parse_context_create(b, strlen(b), &lang, &cwd, err, sizeof(err)),
                     -1);
    b = "{\"language\":5}";
    assert_int_equal(ci_parse_context_create(b, strlen(b), &lang, &cwd, err, sizeof(err)),
                     -1);
    b = "nope";
    assert_int_equal(ci_parse_context_create(b, strlen(b), &lang, &cwd, err, sizeof(err)),
                     -1);
}

static void test_language(void **state)
{
    char *s;

    (void)state;
    s = ci_language_normalize("Python");
    assert_string_equal(s, "python");
    free(s);
    s = ci_language_normalize("js");
    assert_string_equal(s, "javascript");
    free(s);
    s = ci_language_normalize("r");
    assert_string_equal(s, "r");
    free(s);
    assert_null(ci_language_normalize(""));
    assert_null(ci_language_normalize(NULL));
    assert_null(ci_language_normalize("a/b"));
}

static void test_mime(void **state)
{
    (void)state;
    assert_string_equal(ci_mime_field("text/plain"), "text");
    assert_string_equal(ci_mime_field("image/svg+xml"), "svg");
    assert_string_equal(ci_mime_field("application/json"), "json");
    assert_string_equal(ci_mime_field("e2b/chart"), "chart");
    assert_null(ci_mime_field("application/vnd.custom"));
}

static void check_strip(const char *in, const char *want)
{
    char *s = ci_strip_quotes(in);
    assert_string_equal(s, want);
    free(s);
}

static void test_strip_quotes(void **state)
{
    (void)state;
    check_strip("'abc'", "abc");
    check_strip("\"abc\"", "abc");
    check_strip("''", "");
    check_strip("'", "'");
    check_strip("'abc\"", "'abc\"");
    check_strip("42", "42");
    check_strip("\"'x'\"", "'x'");
}

static void test_lines(void **state)
{
    struct timespec ts = {1787306400, 123456789};
    json_t *b;
    char *l;

    (void)state;
    l = ci_line_count(2);
    assert_string_equal(l, "{\"type\":\"number_of_executions\",\"execution_count\":2}\n");
    free(l);
    l = ci_line_simple("end_of_execution");
    assert_string_equal(l, "{\"type\":\"end_of_execution\"}\n");
    free(l);
    l = ci_line_stream("stdout", "hi\n", 3, &ts);
    assert_string_equal(l, "{\"type\":\"stdout\",\"text\":\"hi\\n\",\"timestamp\":"
                           "\"2026-08-21T10:00:00.123456Z\"}\n");
    free(l);
    l = ci_line_error("NameError", "name 'x' is not defined", "tb");
    assert_string_equal(l, "{\"type\":\"error\",\"name\":\"NameError\",\"value\":\"name "
                           "'x' is not defined\",\"traceback\":\"tb\"}\n");
    free(l);
    l = ci_line_error(NULL, "bad \xff", NULL);
    assert_non_null(l);
    free(l);

    b = json_pack("{s:s,s:s,s:s,s:{s:i},s:n,s:s}", "text/plain", "'abc'", "text/html",
                  "<b>", "image/png", "iVBOR", "application/json", "a", 1, "text/latex",
                  "application/x-thing", "t");
    l = ci_line_result(b, 1);
    json_decref(b);
    assert_string_equal(
        l, "{\"type\":\"result\",\"text\":\"abc\",\"html\":\"<b>\",\"png\":\"iVBOR\","
           "\"json\":{\"a\":1},\"is_main_result\":true,\"extra\":{\"application/"
           "x-thing\":\"t\"}}\n");
    free(l);
    l = ci_line_result(NULL, 0);
    assert_string_equal(l,
                        "{\"type\":\"result\",\"is_main_result\":false,\"extra\":{}}\n");
    free(l);
}

static void test_timestamp(void **state)
{
    struct timespec ts = {0, 999};
    char buf[64];

    (void)state;
    assert_int_equal(ci_format_timestamp(&ts, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "1970-01-01T00:00:00.000000Z");
    ts.tv_nsec = 1000000000L;
    assert_int_equal(ci_format_timestamp(&ts, buf, sizeof(buf)), -1);
}

static void test_utf8(void **state)
{
    char out[64];
    size_t n;

    (void)state;
    assert_int_equal(ci_utf8_incomplete_tail("abc", 3), 0);
    assert_int_equal(ci_utf8_incomplete_tail("a\xc3", 2), 1);
    assert_int_equal(ci_utf8_incomplete_tail("a\xe2\x82", 3), 2);
    assert_int_equal(ci_utf8_incomplete_tail("a\xe2\x82\xac", 4), 0);
    assert_int_equal(ci_utf8_incomplete_tail("\xf0\x9f\x98", 3), 3);
    assert_int_equal(ci_utf8_incomplete_tail("a\xff", 2), 0);
    assert_int_equal(ci_utf8_incomplete_tail("a\x80", 2), 0);

    n = ci_utf8_sanitize("h\xc3\xa9!", 4, out);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "h\xc3\xa9!", 4);
    n = ci_utf8_sanitize("a\xff"
                         "b",
                         3, out);
    assert_int_equal(n, 5);
    assert_memory_equal(out,
                        "a\xef\xbf\xbd"
                        "b",
                        5);
    n = ci_utf8_sanitize("\xed\xa0\x80", 3, out); /* surrogate: 3 bad bytes */
    assert_int_equal(n, 9);
    n = ci_utf8_sanitize("x\0y", 3, out);
    assert_memory_equal(out, "x y", 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_execute_ok),     cmocka_unit_test(test_execute_errors),
        cmocka_unit_test(test_context_create), cmocka_unit_test(test_language),
        cmocka_unit_test(test_mime),           cmocka_unit_test(test_strip_quotes),
        cmocka_unit_test(test_lines),          cmocka_unit_test(test_timestamp),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
