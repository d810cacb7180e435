/* process.Process request decoding (envd/rpc_decode.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc_decode.h"

static json_t *parse(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);

    assert_non_null(j);
    return j;
}

static void test_start_full(void **state)
{
    json_t *m = parse("{\"process\":{\"cmd\":\"/bin/sh\",\"args\":[\"-c\",\"x\"],"
                      "\"envs\":{\"A\":\"1\"},\"cwd\":\"/tmp\"},\"pty\":{\"size\":"
                      "{\"cols\":\"100\",\"rows\":30}},\"tag\":\"t\",\"stdin\":false}");
    struct rpc_start s;
    char err[128];

    (void)state;
    assert_int_equal(rpc_start_decode(m, &s, err, sizeof(err)), 0);
    assert_string_equal(s.cmd, "/bin/sh");
    assert_int_equal(json_array_size(s.args), 2);
    assert_string_equal(json_string_value(json_object_get(s.envs, "A")), "1");
    assert_string_equal(s.cwd, "/tmp");
    assert_string_equal(s.tag, "t");
    assert_int_equal(s.pty, 1);
    assert_int_equal(s.cols, 100);
    assert_int_equal(s.rows, 30);
    assert_int_equal(s.stdin_pipe, 0);
    json_decref(m);
}

static void test_start_defaults(void **state)
{
    json_t *m = parse("{\"process\":{\"cmd\":\"ls\",\"args\":null,\"cwd\":null}}");
    struct rpc_start s;
    char err[128];

    (void)state;
    assert_int_equal(rpc_start_decode(m, &s, err, sizeof(err)), 0);
    assert_null(s.args);
    assert_null(s.envs);
    assert_null(s.cwd);
    assert_null(s.tag);
    assert_int_equal(s.pty, 0);
    assert_int_equal(s.stdin_pipe, 1); /* absent: a pipe */
    json_decref(m);
}

static void test_start_refused(void **state)
{
    static const char *const bad[][2] = {
        {"{}", "'process' is required"},
        {"{\"process\":{\"cmd\":\"\"}}", "'process.cmd' is required"},
        {"{\"process\":{\"cmd\":1}}", "'process.cmd' is required"},
        {"{\"process\":{\"cmd\":\"a\",\"args\":\"x\"}}", "'process.args' must be a list"},
        {"{\"process\":{\"cmd\":\"a\",\"args\":[1]}}", "'process.args' must be strings"},
        {"{\"process\":{\"cmd\":\"a\",\"envs\":{\"A\":1}}}",
         "'process.envs' must map strings to strings"},
        {"{\"process\":{\"cmd\":\"a\",\"cwd\":5}}", "invalid 'cwd', 'tag' or 'stdin'"},
        {"{\"process\":{\"cmd\":\"a\"},\"stdin\":\"no\"}",
         "invalid 'cwd', 'tag' or 'stdin'"},
        {"{\"process\":{\"cmd\":\"a\"},\"pty\":{\"size\":{\"cols\":70000}}}",
         "invalid 'pty'"},
        {"{\"process\":{\"cmd\":\"a\"},\"pty\":{\"size\":{\"rows\":-1}}}",
         "invalid 'pty'"},
    };
    struct rpc_start s;
    char err[128];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *m = parse(bad[i][0]);
        assert_int_equal(rpc_start_decode(m, &s, err, sizeof(err)), -1);
        assert_string_equal(err, bad[i][1]);
        json_decref(m);
    }
}

static void test_selector(void **state)
{
    const char *tag;
    uint32_t pid;
    char err[128];
    json_t *m;

    (void)state;
    m = parse("{\"process\":{\"pid\":\"4294967295\"}}");
    assert_int_equal(rpc_selector_decode(m, &pid, &tag, err, sizeof(err)), 0);
    assert_int_equal(pid, UINT32_MAX);
    assert_null(tag);
    json_decref(m);
    m = parse("{\"process\":{\"tag\":\"x\"}}");
    assert_int_equal(rpc_selector_decode(m, &pid, &tag, err, sizeof(err)), 0);
    assert_string_equal(tag, "x");
    json_decref(m);
    m = parse("{\"process\":{\"pid\":1,\"tag\":\"x\"}}");
    assert_int_equal(rpc_selector_decode(m, &pid, &tag, err, sizeof(err)), -1);
    json_decref(m);
    m = parse("{\"process\":{\"pid\":4294967296}}");
    assert_int_equal(rpc_selector_decode(m, &pid, &tag, err, sizeof(err)), -1);
    assert_string_equal(err, "invalid pid");
    json_decref(m);
    m = parse("{\"process\":{\"pid\":\"-1\"}}");
    assert_int_equal(rpc_selector_decode(m, &pid, &tag, err, sizeof(err)), -1);
    json_decref(m);
}

static void test_input(void **state)
{
    uint8_t *data;
    size_t len;
    int pty, oom;
    char err[128];
    json_t *m;

    (void)state;
    m = parse("{\"stdin\":\"aGVsbG8=\"}");
    assert_int_equal(rpc_input_decode(m, &pty, &data, &len, &oom, err, sizeof(err)), 0);
    assert_int_equal(pty, 0);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "hello", 5);
    free(data);
    json_decref(m);
    m = parse("{\"pty\":\"\"}");
    assert_int_equal(rpc_input_decode(m, &pty, &data, &len, &oom, err, sizeof(err)), 0);
    assert_int_equal(pty, 1);
    assert_int_equal(len, 0);
    free(data);
    json_decref(m);
    m = parse("{\"stdin\":\"!!\"}");
    assert_int_equal(rpc_input_decode(m, &pty, &data, &len, &oom, err, sizeof(err)), -1);
    assert_null(data);
    assert_int_equal(oom, 0);
    assert_string_equal(err, "input is not valid base64");
    json_decref(m);
    assert_int_equal(rpc_input_decode(NULL, &pty, &data, &len, &oom, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "'input' is required");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_full),    cmocka_unit_test(test_start_defaults),
        cmocka_unit_test(test_start_refused), cmocka_unit_test(test_selector),
        cmocka_unit_test(test_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
