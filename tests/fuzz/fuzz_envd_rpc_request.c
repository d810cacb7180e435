/* libFuzzer: process.Process request decoding (envd/rpc_decode.c) on arbitrary
 * bytes, parsed as JSON the way envd parses a request message. No crash or leak;
 * whatever decodes is what the message says: a Start has a non-empty command,
 * string arguments and environment, a selector names exactly one of pid and tag,
 * decoded input is no longer than its base64 allows. */
#include "base64.h"
#include "rpc_decode.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_start(json_t *msg)
{
    struct rpc_start s;
    char err[256];
    size_t i;
    json_t *x;
    const char *k;

    if (rpc_start_decode(msg, &s, err, sizeof(err)) != 0) {
        if (!err[0])
            abort();
        return;
    }
    if (!s.cmd || !*s.cmd || (s.args && !json_is_array(s.args)) ||
        (s.envs && !json_is_object(s.envs)) || (s.stdin_pipe != 0 && s.stdin_pipe != 1))
        abort();
    json_array_foreach(s.args, i, x)
    {
        if (!json_is_string(x))
            abort();
    }
    json_object_foreach(s.envs, k, x)
    {
        if (!json_is_string(x))
            abort();
    }
    if (!s.pty && (s.cols || s.rows))
        abort();
}

static void check_selector(json_t *msg)
{
    const char *tag;
    char err[256];
    uint32_t pid;

    if (rpc_selector_decode(msg, &pid, &tag, err, sizeof(err)) != 0)
        return;
    /* By tag, or by pid: never both. */
    if (tag && pid != 0)
        abort();
}

static void check_input(json_t *msg)
{
    json_t *input = json_object_get(msg, "input");
    json_t *v;
    uint8_t *data;
    size_t len;
    int pty, oom;
    char err[256];

    if (rpc_input_decode(input, &pty, &data, &len, &oom, err, sizeof(err)) != 0) {
        if (data)
            abort();
        return;
    }
    v = json_object_get(input, pty ? "pty" : "stdin");
    if (!json_is_string(v) || len > B64_DECODED_MAX(json_string_length(v)))
        abort();
    free(data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *msg = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    unsigned short cols, rows;
    uint32_t u;

    if (!json_is_object(msg)) {
        json_decref(msg);
        return 0;
    }
    check_start(msg);
    check_selector(msg);
    check_input(msg);
    /* The shapes of Update and of a data event. */
    (void)rpc_pty_size(json_object_get(msg, "pty"), &cols, &rows);
    check_selector(json_object_get(msg, "start"));
    check_input(json_object_get(msg, "data"));
    if (rpc_json_u32(json_object_get(msg, "pid"), &u) == 0 &&
        !json_is_integer(json_object_get(msg, "pid")) &&
        !json_is_string(json_object_get(msg, "pid")))
        abort();
    json_decref(msg);
    return 0;
}
