/* multipart/form-data parser: boundaries from Content-Type, parts and their
 * name/filename, preamble/epilogue, LF-only heads, and malformed bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "multipart.h"

struct seen {
    int n;
    char name[8][MP_NAME_MAX];
    char filename[8][MP_FILENAME_MAX];
    int has_filename[8];
    char data[8][256];
    size_t len[8];
    int stop_at;
};

static int collect(const struct mp_part *p, void *arg)
{
    struct seen *s = arg;

    if (s->stop_at && s->n + 1 == s->stop_at)
        return 42;
    assert_true(s->n < 8);
    strcpy(s->name[s->n], p->name);
    strcpy(s->filename[s->n], p->filename);
    s->has_filename[s->n] = p->has_filename;
    assert_true(p->len < sizeof(s->data[0]));
    memcpy(s->data[s->n], p->data, p->len);
    s->len[s->n] = p->len;
    s->n++;
    return 0;
}

static int parse(const char *body, const char *b, struct seen *s, char *err)
{
    memset(s, 0, sizeof(*s));
    return mp_parse((const uint8_t *)body, strlen(body), b, collect, s, err, 256);
}

static void test_boundary(void **state)
{
    char b[MP_BOUNDARY_MAX + 1];

    (void)state;
    assert_int_equal(mp_boundary_from_content_type("multipart/form-data; boundary=----x", b), 0);
    assert_string_equal(b, "----x");
    assert_int_equal(
        mp_boundary_from_content_type("Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b:c\"", b),
        0);
    assert_string_equal(b, "a b:c");
    assert_int_equal(mp_boundary_from_content_type("multipart/form-data", b), -1);
    assert_int_equal(mp_boundary_from_content_type("multipart/mixed; boundary=x", b), -1);
    assert_int_equal(mp_boundary_from_content_type("multipart/form-dataX; boundary=x", b), -1);
    assert_int_equal(mp_boundary_from_content_type("multipart/form-data; boundary=", b), -1);
    assert_int_equal(mp_boundary_from_content_type("multipart/form-data; boundary=\"x", b), -1);
    assert_int_equal(mp_boundary_from_content_type(NULL, b), -1);
    assert_int_equal(mp_boundary_from_content_type(
                         "multipart/form-data; boundary=01234567890123456789012345678901234567"
                         "890123456789012345678901234567890",
                         b),
                     -1);
}

static void test_undici_shape(void **state)
{
    struct seen s;
    char err[256];
    const char *body = "------x\r\n"
                       "Content-Disposition: form-data; name=\"file\"; filename=\"/0/a.txt\"\r\n"
                       "Content-Type: application/octet-stream\r\n"
                       "\r\n"
                       "This is a test file.\r\n"
                       "------x\r\n"
                       "Content-Disposition: form-data; name=\"file\"; filename=\"b%22.txt\"\r\n"
                       "\r\n"
                       "line1\r\n------ not a boundary\r\n"
                       "------x\r\n"
                       "Content-Disposition: form-data; name=\"file\"\r\n"
                       "\r\n"
                       "\r\n"
                       "------x--\r\n";

    (void)state;
    assert_int_equal(parse(body, "----x", &s, err), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.name[0], "file");
    assert_string_equal(s.filename[0], "/0/a.txt");
    assert_int_equal(s.has_filename[0], 1);
    assert_int_equal(s.len[0], 20);
    assert_memory_equal(s.data[0], "This is a test file.", 20);
    assert_string_equal(s.filename[1], "b%22.txt");
    assert_string_equal(s.data[1], "line1\r\n------ not a boundary");
    assert_int_equal(s.has_filename[2], 0);
    assert_int_equal(s.len[2], 0);
}

static void test_preamble_lf_escapes(void **state)
{
    struct seen s;
    char err[256];
    const char *body = "preamble\r\n--B  \n"
                       "content-disposition: form-data; filename=\"a\\\"b\"; name=f\n"
                       "\n"
                       "x\r\n--B--epilogue";

    (void)state;
    assert_int_equal(parse(body, "B", &s, err), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.name[0], "f");
    assert_string_equal(s.filename[0], "a\"b");
    assert_string_equal(s.data[0], "x");
}

static void test_empty_and_stop(void **state)
{
    struct seen s;
    char err[256];

    (void)state;
    assert_int_equal(parse("--B--\r\n", "B", &s, err), 0);
    assert_int_equal(s.n, 0);
    memset(&s, 0, sizeof(s));
    s.stop_at = 2;
    {
        const char *b = "--B\r\n\r\na\r\n--B\r\n\r\nb\r\n--B--";
        assert_int_equal(
            mp_parse((const uint8_t *)b, strlen(b), "B", collect, &s, err, sizeof(err)), 42);
    }
    assert_int_equal(s.n, 1);
}

static void test_malformed(void **state)
{
    struct seen s;
    char err[256];

    (void)state;
    assert_int_equal(parse("", "B", &s, err), -1);
    assert_int_equal(parse("no boundary here", "B", &s, err), -1);
    assert_string_equal(err, "multipart body has no boundary");
    assert_int_equal(parse("--B\r\n\r\ndata without end", "B", &s, err), -1);
    assert_string_equal(err, "unexpected end of multipart body");
    assert_int_equal(parse("--B\r\nContent-Disposition: form-data; name=\"x\r\n\r\nd\r\n--B--",
                           "B", &s, err),
                     -1);
    assert_int_equal(parse("--B\r\nno colon\r\n\r\nd\r\n--B--", "B", &s, err), -1);
    assert_int_equal(parse("--Bjunk\r\n\r\nd\r\n--B--", "B", &s, err), -1);
    assert_int_equal(parse("--B\r\nContent-Disposition: form-data", "B", &s, err), -1);
    assert_int_equal(parse("--B\r\n\r\nd\r\n--B--", "", &s, err), -1);
}

static void test_limits(void **state)
{
    struct seen s;
    char err[256];
    size_t n = MP_MAX_HEAD + 64;
    char *body = malloc(n + 32);
    char *big;

    (void)state;
    strcpy(body, "--B\r\nX: ");
    memset(body + 8, 'a', n);
    strcpy(body + 8 + n, "\r\n\r\nd\r\n--B--");
    assert_int_equal(parse(body, "B", &s, err), -1);
    assert_string_equal(err, "multipart part header too large");
    free(body);

    /* MP_MAX_PARTS + 1 empty parts. */
    big = malloc((MP_MAX_PARTS + 2) * 9 + 8);
    big[0] = '\0';
    for (int i = 0; i <= MP_MAX_PARTS; i++)
        strcat(big, "--B\r\n\r\n\r\n");
    strcat(big, "--B--");
    memset(&s, 0, sizeof(s));
    assert_int_equal(mp_parse((const uint8_t *)big, strlen(big), "B", NULL, NULL, err, 256), -1);
    assert_string_equal(err, "too many multipart parts");
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundary),       cmocka_unit_test(test_undici_shape),
        cmocka_unit_test(test_preamble_lf_escapes), cmocka_unit_test(test_empty_and_stop),
        cmocka_unit_test(test_malformed),      cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
