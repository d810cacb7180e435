/* process.Process request decoding. See rpc_decode.h. */
#include "rpc_decode.h"

#include "base64.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rpc_json_u32(json_t *v, uint32_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > UINT32_MAX)
            return -1;
        *out = (uint32_t)i;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        unsigned long long n;
        if (!*s || *s < '0' || *s > '9')
            return -1;
        errno = 0;
        n = strtoull(s, &end, 10);
        if (errno || *end || n > UINT32_MAX)
            return -1;
        *out = (uint32_t)n;
        return 0;
    }
    return -1;
}

int rpc_string_map_ok(json_t *v)
{
    const char *k;
    json_t *x;

    if (!v || json_is_null(v))
        return 1;
    if (!json_is_object(v))
        return 0;
    json_object_foreach(v, k, x)
    {
        if (!json_is_string(x))
            return 0;
    }
    return 1;
}

/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): cols, rows as in the proto */
int rpc_pty_size(json_t *pty, unsigned short *cols, unsigned short *rows)
{
    json_t *size = json_object_get(pty, "size");
    json_t *c = size ? json_object_get(size, "cols") : NULL;
    json_t *r = size ? json_object_get(size, "rows") : NULL;
    uint32_t cv = 0, rv = 0;

    if (!json_is_object(pty) || (size && !json_is_object(size)))
        return -1;
    if ((c && rpc_json_u32(c, &cv) != 0) || (r && rpc_json_u32(r, &rv) != 0) ||
        cv > 65535 || rv > 65535)
        return -1;
    *cols = (unsigned short)cv;
    *rows = (unsigned short)rv;
    return 0;
}

int rpc_selector_decode(json_t *msg, uint32_t *pid, const char **tag, char *err,
                        size_t errlen)
{
    json_t *sel = json_object_get(msg, "process");
    json_t *pidv = sel ? json_object_get(sel, "pid") : NULL;
    json_t *tagv = sel ? json_object_get(sel, "tag") : NULL;

    *pid = 0;
    *tag = NULL;
    if (!json_is_object(sel) || (pidv && tagv) || (!pidv && !tagv)) {
        (void)snprintf(err, errlen, "'process' must select a process by 'pid' or 'tag'");
        return -1;
    }
    if (pidv) {
        if (rpc_json_u32(pidv, pid) != 0) {
            (void)snprintf(err, errlen, "invalid pid");
            return -1;
        }
        return 0;
    }
    if (!json_is_string(tagv)) {
        (void)snprintf(err, errlen, "invalid tag");
        return -1;
    }
    *tag = json_string_value(tagv);
    return 0;
}

int rpc_input_decode(json_t *input, int *pty, uint8_t **data, size_t *len, int *oom,
                     char *err, size_t errlen)
{
    json_t *data_v;
    size_t n;

    *data = NULL;
    *oom = 0;
    if (!json_is_object(input)) {
        (void)snprintf(err, errlen, "'input' is required");
        return -1;
    }
    *pty = json_object_get(input, "pty") != NULL;
    data_v = json_object_get(input, *pty ? "pty" : "stdin");
    if (!json_is_string(data_v)) {
        (void)snprintf(err, errlen, "'input' must hold base64 'stdin' or 'pty' bytes");
        return -1;
    }
    n = json_string_length(data_v);
    *data = malloc(B64_DECODED_MAX(n) + 1);
    if (!*data) {
        *oom = 1;
        (void)snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (b64_decode(json_string_value(data_v), n, *data, len) != 0) {
        free(*data);
        *data = NULL;
        (void)snprintf(err, errlen, "input is not valid base64");
        return -1;
    }
    return 0;
}

static int fail(char *err, size_t errlen, const char *why)
{
    (void)snprintf(err, errlen, "%s", why);
    return -1;
}

int rpc_start_decode(json_t *msg, struct rpc_start *s, char *err, size_t errlen)
{
    json_t *process = json_object_get(msg, "process");
    json_t *cmdv, *argsv, *envsv, *cwdv, *ptyv, *stdinv, *tagv, *x;
    size_t i;

    memset(s, 0, sizeof(*s));
    if (!json_is_object(process))
        return fail(err, errlen, "'process' is required");
    cmdv = json_object_get(process, "cmd");
    argsv = json_object_get(process, "args");
    envsv = json_object_get(process, "envs");
    cwdv = json_object_get(process, "cwd");
    ptyv = json_object_get(msg, "pty");
    stdinv = json_object_get(msg, "stdin");
    tagv = json_object_get(msg, "tag");
    if (!json_is_string(cmdv) || !*json_string_value(cmdv))
        return fail(err, errlen, "'process.cmd' is required");
    if (argsv && !json_is_null(argsv) && !json_is_array(argsv))
        return fail(err, errlen, "'process.args' must be a list");
    json_array_foreach(argsv, i, x)
    {
        if (!json_is_string(x))
            return fail(err, errlen, "'process.args' must be strings");
    }
    if (!rpc_string_map_ok(envsv))
        return fail(err, errlen, "'process.envs' must map strings to strings");
    if ((cwdv && !json_is_null(cwdv) && !json_is_string(cwdv)) ||
        (tagv && !json_is_null(tagv) && !json_is_string(tagv)) ||
        (stdinv && !json_is_null(stdinv) && !json_is_boolean(stdinv)))
        return fail(err, errlen, "invalid 'cwd', 'tag' or 'stdin'");
    if (ptyv && !json_is_null(ptyv)) {
        if (rpc_pty_size(ptyv, &s->cols, &s->rows) != 0)
            return fail(err, errlen, "invalid 'pty'");
        s->pty = 1;
    }
    s->cmd = json_string_value(cmdv);
    s->args = json_is_array(argsv) ? argsv : NULL;
    s->envs = json_is_object(envsv) ? envsv : NULL;
    s->cwd = json_is_string(cwdv) ? json_string_value(cwdv) : NULL;
    s->tag = json_is_string(tagv) ? json_string_value(tagv) : NULL;
    /* Absent means true: the SDK only sends stdin:false to ask for no stdin. */
    s->stdin_pipe = !json_is_false(stdinv);
    return 0;
}
