/* multipart/form-data parser: boundaries from Content-Type, parts and their
 * name/filename, preamble/epilogue, LF-only heads, malformed bodies, and the
 * streaming parse giving the same result however the body is split. */
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
    assert_int_equal(
        mp_boundary_from_content_type("multipart/form-data; boundary=----x", b), 0);
    assert_string_equal(b, "----x");
    assert_int_equal(mp_boundary_from_content_type(
                         "Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b:c\"", b),
                     0);
    assert_string_equal(b, "a b:c");
    assert_int_equal(mp_boundary_from_content_type("multipart/form-data", b), -1);
    assert_int_equal(mp_boundary_from_content_type("multipart/mixed; boundary=x", b), -1);
    assert_int_equal(mp_boundary_from_content_type("multipart/form-dataX; boundary=x", b),
                     -1);
    assert_int_equal(mp_boundary_from_content_type("multipart/form-data; boundary=", b),
                     -1);
    assert_int_equal(
        mp_boundary_from_content_type("multipart/form-data; boundary=\"x", b), -1);
    assert_int_equal(mp_boundary_from_content_type(NULL, b), -1);
    assert_int_equal(
        mp_boundary_from_content_type(
            "multipart/form-data; boundary=01234567890123456789012345678901234567"
            "890123456789012345678901234567890",
            b),
        -1);
}

static void test_undici_shape(void **state)
{
    struct seen s;
    char err[256];
    const char *body =
        "------x\r\n"
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
            mp_parse((const uint8_t *)b, strlen(b), "B", collect, &s, err, sizeof(err)),
            42);
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
    assert_int_equal(
        parse("--B\r\nContent-Disposition: form-data; name=\"x\r\n\r\nd\r\n--B--", "B",
              &s, err),
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
    assert_int_equal(
        mp_parse((const uint8_t *)big, strlen(big), "B", NULL, NULL, err, 256), -1);
    assert_string_equal(err, "too many multipart parts");
    free(big);
}

/* What a streaming parse handed out: parts' names and data, concatenated. */
struct streamed {
    int n, begins, ends;
    char names[8][MP_NAME_MAX];
    char data[8][512];
    size_t len[8];
    int stop_data;
};

static int st_begin(const struct mp_part *p, void *arg)
{
    struct streamed *s = arg;

    assert_true(s->n < 8);
    strcpy(s->names[s->n], p->has_filename ? p->filename : p->name);
    s->len[s->n] = 0;
    s->begins++;
    return 0;
}

static int st_data(const uint8_t *p, size_t n, void *arg)
{
    struct streamed *s = arg;

    if (s->stop_data)
        return 7;
    assert_true(n > 0);
    assert_true(s->len[s->n] + n < sizeof(s->data[0]));
    memcpy(s->data[s->n] + s->len[s->n], p, n);
    s->len[s->n] += n;
    return 0;
}

static int st_end(void *arg)
{
    struct streamed *s = arg;

    s->n++;
    s->ends++;
    return 0;
}

static const struct mp_callbacks st_cbs = {st_begin, st_data, st_end};

/* Feed body in pieces cut at the offsets cuts[0..ncuts) (ascending). */
static int stream_parse(const char *body, size_t n, const char *b, const size_t *cuts,
                        int ncuts, struct streamed *s, char *err)
{
    struct mp_stream ms;
    size_t at = 0;
    int rc;

    memset(s, 0, sizeof(*s));
    rc = mp_stream_init(&ms, b, &st_cbs, s);
    for (int i = 0; rc == 0 && i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        if (to > at)
            rc = mp_stream_feed(&ms, (const uint8_t *)body + at, to - at);
        at = to;
    }
    if (rc == 0)
        rc = mp_stream_finish(&ms);
    strcpy(err, ms.err);
    mp_stream_free(&ms);
    return rc;
}

/* Data full of near-delimiters: CR LF "--" and boundary prefixes. */
static const char tricky[] =
    "--AaB\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"one\"\r\n"
    "\r\n"
    "x\r\n--AaX\r\r\n-\r\n--Aa\r\n--A\r\n\r--AaB-"
    "\r\n--AaB\r\n"
    "Content-Disposition: form-data; name=\"two\"\r\n"
    "\r\n"
    "\r\n--AaB\r\n"
    "\r\n"
    "\r\r\r\n--AaB  \r\n"
    "Content-Disposition: form-data; name=\"four\"\r\n"
    "\r\n"
    "end\r\n--AaB--\r\nepilogue \r\n--AaB\r\n";

static void test_stream_every_split(void **state)
{
    size_t n = strlen(tricky);
    struct streamed one, split;
    char err[256];

    (void)state;
    assert_int_equal(stream_parse(tricky, n, "AaB", NULL, 0, &one, err), 0);
    assert_int_equal(one.n, 4);
    assert_int_equal(one.len[0], strlen("x\r\n--AaX\r\r\n-\r\n--Aa\r\n--A\r\n\r--AaB-"));
    assert_memory_equal(one.data[0], "x\r\n--AaX\r\r\n-\r\n--Aa\r\n--A\r\n\r--AaB-",
                        one.len[0]);
    assert_string_equal(one.names[1], "two");
    assert_int_equal(one.len[1], 0);
    assert_int_equal(one.len[2], 2);
    assert_memory_equal(one.data[2], "\r\r", 2);
    assert_string_equal(one.names[3], "four");
    /* Two cuts anywhere (every single cut included): the same parts. */
    for (size_t i = 0; i <= n; i++) {
        for (size_t j = i; j <= n; j++) {
            size_t cuts[2] = {i, j};
            assert_int_equal(stream_parse(tricky, n, "AaB", cuts, 2, &split, err), 0);
            assert_int_equal(split.n, one.n);
            assert_int_equal(split.begins, split.ends);
            for (int k = 0; k < one.n; k++) {
                assert_string_equal(split.names[k], one.names[k]);
                assert_int_equal(split.len[k], one.len[k]);
                assert_memory_equal(split.data[k], one.data[k], one.len[k]);
            }
        }
    }
}

static void test_stream_byte_at_a_time(void **state)
{
    size_t n = strlen(tricky);
    size_t *cuts = test_malloc(n * sizeof(*cuts));
    struct streamed s;
    char err[256];

    (void)state;
    for (size_t i = 0; i < n; i++)
        cuts[i] = i + 1;
    assert_int_equal(stream_parse(tricky, n, "AaB", cuts, (int)n, &s, err), 0);
    assert_int_equal(s.n, 4);
    /* Cut before the closing delimiter: an error, whatever the split. */
    assert_int_equal(
        stream_parse(tricky, strlen(tricky) - 30, "AaB", cuts, (int)n - 40, &s, err), -1);
    assert_string_equal(err, "unexpected end of multipart body");
    test_free(cuts);
}

static void test_stream_stop(void **state)
{
    struct streamed s;
    struct mp_stream ms;
    const char *b = "--B\r\n\r\ndata\r\n--B--";

    (void)state;
    memset(&s, 0, sizeof(s));
    s.stop_data = 1;
    assert_int_equal(mp_stream_init(&ms, "B", &st_cbs, &s), 0);
    assert_int_equal(mp_stream_feed(&ms, (const uint8_t *)b, strlen(b)), 7);
    /* A stopped parse stays stopped. */
    assert_int_equal(mp_stream_feed(&ms, (const uint8_t *)"x", 1), -1);
    assert_int_equal(mp_stream_finish(&ms), -1);
    mp_stream_free(&ms);
    assert_int_equal(mp_stream_init(&ms, "", &st_cbs, &s), -1);
    mp_stream_free(&ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundary),
        cmocka_unit_test(test_undici_shape),
        cmocka_unit_test(test_preamble_lf_escapes),
        cmocka_unit_test(test_empty_and_stop),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_stream_every_split),
        cmocka_unit_test(test_stream_byte_at_a_time),
        cmocka_unit_test(test_stream_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
