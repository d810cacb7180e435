/* libFuzzer: cube-ci request parsing (/execute, /contexts) and the line
 * builders on arbitrary bytes: no crashes or leaks; whatever parses yields
 * well-formed values, and every built line is one valid JSON object ending in
 * exactly one '\n'. */
#include "ci_proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_line(char *line)
{
    size_t n;
    json_t *j;

    if (!line)
        return;
    n = strlen(line);
    if (n < 2 || line[n - 1] != '\n' || memchr(line, '\n', n - 1))
        abort();
    j = json_loadb(line, n - 1, 0, NULL);
    if (!json_is_object(j))
        abort();
    json_decref(j);
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ci_execute_req r;
    struct timespec ts = {1787306400, 5000};
    char err[256], *lang, *cwd, *s, *clean;
    size_t n;
    json_t *j;

    if (ci_parse_execute((const char *)data, size, &r, err, sizeof(err)) == 0) {
        if (!r.code || (r.context_id && r.language) ||
            (r.env_vars && !json_is_object(r.env_vars)))
            abort();
        ci_execute_req_free(&r);
    }
    if (ci_parse_context_create((const char *)data, size, &lang, &cwd, err,
                                sizeof(err)) == 0) {
        if (!lang || !cwd || cwd[0] != '/')
            abort();
        free(lang);
        free(cwd);
    }

    /* Output text: sanitized bytes always make a valid stream line. */
    clean = malloc(3 * size + 1);
    if (!clean)
        return 0;
    n = ci_utf8_sanitize((const char *)data, size, clean);
    if (ci_utf8_incomplete_tail((const char *)data, size) > 3)
        abort();
    check_line(ci_line_stream("stdout", clean, n, &ts));
    clean[n] = '\0';
    check_line(ci_line_error(clean, clean, clean));

    s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
        free(ci_language_normalize(s));
        free(ci_strip_quotes(s));
        ci_mime_field(s);
        check_line(ci_line_error(s, s, s)); /* raw bytes are made lossy */
        free(s);
    }
    j = json_loadb((const char *)data, size, 0, NULL);
    if (j) {
        check_line(ci_line_result(j, 1));
        json_decref(j);
    }
    free(clean);
    return 0;
}
