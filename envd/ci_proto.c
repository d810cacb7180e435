/* cube-ci protocol helpers. See ci_proto.h. */
#include "ci_proto.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (errlen)
        snprintf(err, errlen, "%s", msg);
}

char *ci_language_normalize(const char *s)
{
    static const char *const alias[][2] = {
        {"js", "javascript"},  {"ts", "typescript"}, {"py", "python"},
        {"python3", "python"}, {"sh", "bash"},       {"node", "javascript"},
    };
    char buf[33];
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n >= sizeof(buf))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)tolower((unsigned char)s[i]);
        if (!(isalnum(c) || c == '_' || c == '+' || c == '-') || c >= 0x80)
            return NULL;
        buf[i] = (char)c;
    }
    buf[n] = '\0';
    for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
        if (!strcmp(buf, alias[i][0]))
            return strdup(alias[i][1]);
    return strdup(buf);
}

void ci_execute_req_free(struct ci_execute_req *r)
{
    free(r->code);
    free(r->context_id);
    free(r->language);
    json_decref(r->env_vars);
    memset(r, 0, sizeof(*r));
}

/* A string member, absent/null -> *out NULL. Returns -1 if of another type. */
static int opt_string(json_t *obj, const char *key, char **out)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = strdup(json_string_value(v));
    return *out ? 0 : -1;
}

int ci_parse_execute(const char *body, size_t len, struct ci_execute_req *out, char *err,
                     size_t errlen)
{
    json_error_t jerr;
    json_t *root, *env;
    char *lang = NULL;

    memset(out, 0, sizeof(*out));
    root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (errlen)
            snprintf(err, errlen, "invalid JSON body: %s", jerr.text);
        return -1;
    }
    if (!json_is_object(root)) {
        set_err(err, errlen, "request body must be a JSON object");
        goto fail;
    }
    if (!json_is_string(json_object_get(root, "code"))) {
        set_err(err, errlen, "\"code\" must be a string");
        goto fail;
    }
    out->code = strdup(json_string_value(json_object_get(root, "code")));
    if (!out->code) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    if (opt_string(root, "context_id", &out->context_id) != 0) {
        set_err(err, errlen, "\"context_id\" must be a string");
        goto fail;
    }
    if (opt_string(root, "language", &lang) != 0) {
        set_err(err, errlen, "\"language\" must be a string");
        goto fail;
    }
    if (out->context_id && lang) {
        set_err(err, errlen,
                "Only one of context_id or language can be provided, not both.");
        goto fail;
    }
    if (out->context_id && !out->context_id[0]) {
        set_err(err, errlen, "\"context_id\" must not be empty");
        goto fail;
    }
    if (lang) {
        out->language = ci_language_normalize(lang);
        if (!out->language) {
            set_err(err, errlen, "invalid \"language\"");
            goto fail;
        }
    }
    env = json_object_get(root, "env_vars");
    if (env && !json_is_null(env)) {
        const char *k;
        json_t *v;
        if (!json_is_object(env)) {
            set_err(err, errlen, "\"env_vars\" must be an object");
            goto fail;
        }
        json_object_foreach(env, k, v)
        {
            if (!json_is_string(v) || !k[0] || strchr(k, '=')) {
                set_err(err, errlen, "\"env_vars\" must map names to strings");
                goto fail;
            }
        }
        out->env_vars = json_incref(env);
    }
    free(lang);
    json_decref(root);
    return 0;
fail:
    free(lang);
    json_decref(root);
    ci_execute_req_free(out);
    return -1;
}

int ci_parse_context_create(const char *body, size_t len, char **language, char **cwd,
                            char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = NULL;
    char *lang = NULL, *dir = NULL;

    *language = *cwd = NULL;
    if (len > 0) {
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
            if (errlen)
                snprintf(err, errlen, "invalid JSON body: %s", jerr.text);
            return -1;
        }
        if (!json_is_object(root)) {
            set_err(err, errlen, "request body must be a JSON object");
            goto fail;
        }
        if (opt_string(root, "language", &lang) != 0) {
            set_err(err, errlen, "\"language\" must be a string");
            goto fail;
        }
        if (opt_string(root, "cwd", &dir) != 0) {
            set_err(err, errlen, "\"cwd\" must be a string");
            goto fail;
        }
    }
    *language = ci_language_normalize(lang && lang[0] ? lang : CI_DEFAULT_LANGUAGE);
    if (!*language) {
        set_err(err, errlen, "invalid \"language\"");
        goto fail;
    }
    if (dir && dir[0] && dir[0] != '/') {
        set_err(err, errlen, "\"cwd\" must be an absolute path");
        goto fail;
    }
    *cwd = strdup(dir && dir[0] ? dir : CI_DEFAULT_CWD);
    if (!*cwd) {
        set_err(err, errlen, "out of memory");
        goto fail;
    }
    free(lang);
    free(dir);
    json_decref(root);
    return 0;
fail:
    free(*language);
    *language = NULL;
    free(lang);
    free(dir);
    json_decref(root);
    return -1;
}

const char *ci_mime_field(const char *mime)
{
    static const char *const map[][2] = {
        {"text/plain", "text"},        {"text/html", "html"},
        {"text/markdown", "markdown"}, {"image/svg+xml", "svg"},
        {"image/png", "png"},          {"image/jpeg", "jpeg"},
        {"application/pdf", "pdf"},    {"text/latex", "latex"},
        {"application/json", "json"},  {"application/javascript", "javascript"},
        {"e2b/data", "data"},          {"e2b/chart", "chart"},
    };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(mime, map[i][0]))
            return map[i][1];
    return NULL;
}

char *ci_strip_quotes(const char *s)
{
    size_t n = strlen(s);

    if (n >= 2 && (s[0] == '\'' || s[0] == '"') && s[n - 1] == s[0])
        return strndup(s + 1, n - 2);
    return strdup(s);
}

/* json_dumps the object plus '\n'. Steals obj. */
static char *finish_line(json_t *obj)
{
    char *text, *line;
    size_t n;

    if (!obj)
        return NULL;
    text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (!text)
        return NULL;
    n = strlen(text);
    line = realloc(text, n + 2);
    if (!line) {
        free(text);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    return line;
}

char *ci_line_result(json_t *bundle, int is_main)
{
    json_t *obj = json_object(), *extra = json_object(), *v;
    const char *mime;

    if (!obj || !extra)
        goto fail;
    json_object_set_new(obj, "type", json_string("result"));
    if (json_is_object(bundle)) {
        json_object_foreach(bundle, mime, v)
        {
            const char *field = ci_mime_field(mime);
            if (json_is_null(v))
                continue;
            if (!field) {
                json_object_set(extra, mime, v);
            } else if (!strcmp(field, "text") && json_is_string(v)) {
                char *t = ci_strip_quotes(json_string_value(v));
                json_t *js = t ? json_string(t) : NULL;
                free(t);
                if (js)
                    json_object_set_new(obj, field, js);
            } else {
                json_object_set(obj, field, v);
            }
        }
    }
    json_object_set_new(obj, "is_main_result", json_boolean(is_main));
    json_object_set_new(obj, "extra", extra);
    return finish_line(obj);
fail:
    json_decref(obj);
    json_decref(extra);
    return NULL;
}

int ci_format_timestamp(const struct timespec *ts, char *buf, size_t len)
{
    struct tm tm;
    time_t t = ts->tv_sec;
    char base[32];

    if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L || !gmtime_r(&t, &tm) ||
        !strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm))
        return -1;
    if ((size_t)snprintf(buf, len, "%s.%06ldZ", base, ts->tv_nsec / 1000) >= len)
        return -1;
    return 0;
}

char *ci_line_stream(const char *type, const char *text, size_t len,
                     const struct timespec *ts)
{
    char stamp[64];
    json_t *t = json_stringn(text, len);

    if (!t || ci_format_timestamp(ts, stamp, sizeof(stamp)) != 0) {
        json_decref(t);
        return NULL;
    }
    return finish_line(
        json_pack("{s:s,s:o,s:s}", "type", type, "text", t, "timestamp", stamp));
}

static json_t *lossy(const char *s)
{
    size_t n = strlen(s);
    char *buf = malloc(3 * n + 1);
    json_t *j;

    if (!buf)
        return NULL;
    n = ci_utf8_sanitize(s, n, buf);
    j = json_stringn(buf, n);
    free(buf);
    return j;
}

char *ci_line_error(const char *name, const char *value, const char *traceback)
{
    return finish_line(json_pack("{s:s,s:o,s:o,s:o}", "type", "error", "name",
                                 lossy(name ? name : "Error"), "value",
                                 lossy(value ? value : ""), "traceback",
                                 lossy(traceback ? traceback : "")));
}

char *ci_line_count(long long n)
{
    return finish_line(json_pack("{s:s,s:I}", "type", "number_of_executions",
                                 "execution_count", (json_int_t)n));
}

char *ci_line_simple(const char *type)
{
    return finish_line(json_pack("{s:s}", "type", type));
}

/* Length of the valid UTF-8 sequence at p (1-4), 0 if invalid, or -k if the
 * first avail bytes are a valid but incomplete prefix. */
static int utf8_seq(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    int need;
    unsigned lo = 0x80, hi = 0xBF;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= avail)
            return -i;
        if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xBF))
            return 0;
    }
    return need;
}

size_t ci_utf8_incomplete_tail(const char *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;

    for (size_t back = 1; back <= 3 && back <= len; back++) {
        size_t i = len - back;
        if ((p[i] & 0xC0) == 0x80)
            continue; /* continuation byte: look further back */
        return utf8_seq(p + i, back) < 0 ? back : 0;
    }
    return 0;
}

size_t ci_utf8_sanitize(const char *in, size_t len, char *out)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t i = 0, o = 0;

    while (i < len) {
        int n = utf8_seq(p + i, len - i);
        if (n > 0 && !(n == 1 && p[i] == 0)) {
            memcpy(out + o, p + i, (size_t)n);
            o += (size_t)n;
            i += (size_t)n;
        } else if (n == 1) {
            out[o++] = ' '; /* NUL: keep C strings intact downstream */
            i++;
        } else {
            static const unsigned char repl[3] = {0xEF, 0xBF, 0xBD}; /* U+FFFD */
            memcpy(out + o, repl, sizeof(repl));
            o += sizeof(repl);
            i++;
        }
    }
    return o;
}
