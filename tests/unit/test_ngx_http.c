/* Unit tests of the HTTP/1.1 response parser used by ngx_cube_module's worker client
 * (cube_http_resp_parse in ngx_cube_module/cube_gw.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cube_gw.h"

static int parse(const char *s, int eof, cube_http_resp_t *r, char *scratch)
{
    return cube_http_resp_parse(s, strlen(s), eof, scratch, r);
}

static void test_content_length(void **state)
{
    char scratch[512];
    cube_http_resp_t r;
    const char *full = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                       "content-length: 7\r\n\r\n{\"a\":1}";
    (void)state;

    assert_int_equal(parse(full, 0, &r, scratch), 1);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.body_len, 7);
    assert_memory_equal(r.body, "{\"a\":1}", 7);

    /* every proper prefix is incomplete, and an error at EOF */
    for (size_t n = 0; n < strlen(full); n++) {
        assert_int_equal(cube_http_resp_parse(full, n, 0, scratch, &r), 0);
        assert_int_equal(cube_http_resp_parse(full, n, 1, scratch, &r), -1);
    }
}

static void test_no_length(void **state)
{
    char scratch[512];
    cube_http_resp_t r;
    const char *s = "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nhello";
    (void)state;

    assert_int_equal(parse(s, 0, &r, scratch), 0);
    assert_int_equal(parse(s, 1, &r, scratch), 1);
    assert_int_equal(r.body_len, 5);
    assert_int_equal(r.conn_close, 1);
}

static void test_204(void **state)
{
    char scratch[512];
    cube_http_resp_t r;
    (void)state;

    assert_int_equal(parse("HTTP/1.1 204 No Content\r\nX: y\r\n\r\n", 0, &r, scratch), 1);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body_len, 0);
}

static void test_chunked(void **state)
{
    char scratch[512];
    cube_http_resp_t r;
    const char *s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
    (void)state;

    assert_int_equal(parse(s, 0, &r, scratch), 1);
    assert_int_equal(r.body_len, 11);
    assert_memory_equal(r.body, "hello world", 11);
    for (size_t n = 0; n < strlen(s); n++) {
        assert_int_equal(cube_http_resp_parse(s, n, 0, scratch, &r), 0);
    }
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, &r,
                           scratch), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", 0,
                           &r, scratch), -1);
}

static void test_interim(void **state)
{
    char scratch[512];
    cube_http_resp_t r;
    (void)state;

    assert_int_equal(parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\n"
                           "Content-Length: 2\r\n\r\n{}", 0, &r, scratch), 1);
    assert_int_equal(r.status, 404);
    assert_int_equal(r.body_len, 2);
}

static void test_malformed(void **state)
{
    char scratch[512];
    cube_http_resp_t r;
    (void)state;

    assert_int_equal(parse("HTTX/1.1 200 OK\r\n\r\n", 0, &r, scratch), -1);
    assert_int_equal(parse("HTTP/1.1 2x0 OK\r\n\r\n", 0, &r, scratch), -1);
    assert_int_equal(parse("HTTP/1.1 099 OK\r\n\r\n", 0, &r, scratch), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", 0, &r, scratch), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", 0, &r, scratch), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 0,
                           &r, scratch), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999\r\n\r\n", 0, &r,
                           scratch), -1);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", 0, &r, scratch), -1);
}

static void test_status_no_reason(void **state)
{
    char scratch[512];
    cube_http_resp_t r;
    (void)state;

    assert_int_equal(parse("HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n", 0, &r, scratch), 1);
    assert_int_equal(r.status, 503);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length), cmocka_unit_test(test_no_length),
        cmocka_unit_test(test_204),            cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_interim),        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_status_no_reason),
    };
    return cmocka_run_group_tests_name("ngx_cube_http", tests, NULL, NULL);
}
