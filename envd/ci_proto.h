/* cube-ci: the pure parts of the code-interpreter protocol (E2B protocol §6):
 * request parsing, NDJSON line building, MIME-bundle mapping and UTF-8
 * hygiene for captured output. No I/O, no event loop: unit-tested and fuzzed. */
#ifndef CI_PROTO_H
#define CI_PROTO_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#define CI_DEFAULT_LANGUAGE "python"
#define CI_DEFAULT_CWD "/home/user"

/* A parsed POST /execute body. */
struct ci_execute_req {
    char *code;
    char *context_id; /* NULL when absent */
    char *language;   /* normalized (ci_language_normalize); NULL when absent */
    json_t *env_vars; /* object of strings, or NULL */
};

/* Parse an /execute body. Returns 0, or -1 with a message for a 400 reply
 * (including "context_id and language both given"). */
int ci_parse_execute(const char *body, size_t len, struct ci_execute_req *out, char *err,
                     size_t errlen);
void ci_execute_req_free(struct ci_execute_req *r);

/* Parse a POST /contexts body (may be empty). Fills malloc'd language
 * (normalized, default python) and cwd (default /home/user). Returns 0 or -1. */
int ci_parse_context_create(const char *body, size_t len, char **language, char **cwd,
                            char *err, size_t errlen);

/* Lower-case and map aliases: js -> javascript, ts -> typescript, py -> python,
 * sh -> bash. Returns a malloc'd string, or NULL when s is empty or not a
 * plain name ([a-z0-9_+-], up to 32 characters). */
char *ci_language_normalize(const char *s);

/* The §6.1 field for a MIME type, or NULL when it goes to "extra". */
const char *ci_mime_field(const char *mime);

/* text/plain as §6.1 wants it: one pair of matching surrounding quotes
 * (' or ") removed. Returns a malloc'd string. */
char *ci_strip_quotes(const char *s);

/* Build a "result" line from a MIME bundle (object: MIME type -> value).
 * Returns a malloc'd, '\n'-terminated line, or NULL. */
char *ci_line_result(json_t *bundle, int is_main);
/* "stdout"/"stderr" line; text must be valid UTF-8 (see ci_utf8_sanitize). */
char *ci_line_stream(const char *type, const char *text, size_t len,
                     const struct timespec *ts);
char *ci_line_error(const char *name, const char *value, const char *traceback);
char *ci_line_count(long long n);
/* {"type":"<type>"} (keepalive, end_of_execution). */
char *ci_line_simple(const char *type);

/* ISO 8601 UTC with microseconds: 2026-08-21T10:00:00.123456Z. buf >= 32. */
int ci_format_timestamp(const struct timespec *ts, char *buf, size_t len);

/* Number of bytes at the end of buf that start a UTF-8 sequence not yet
 * complete (0..3): keep them for the next read. */
size_t ci_utf8_incomplete_tail(const char *buf, size_t len);
/* Copy in to out replacing every invalid byte by U+FFFD. out must hold
 * 3 * len bytes. Returns the output length. */
size_t ci_utf8_sanitize(const char *in, size_t len, char *out);

#endif
