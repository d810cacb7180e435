/* process.Process/StreamInput. See process_input.h.
 *
 * Each message is acted on as soon as its envelope is complete: a partial one
 * waits in `buf` (bounded by CONNECT_MAX_MESSAGE, checked on the envelope's
 * header before its payload is waited for). The process is looked up again for
 * every data message, by the pid the start message selected, because it may end
 * (and its record be freed) while the stream is open. */
#include "process_input.h"

#include "connect_envelope.h"
#include "connect_rpc.h"
#include "cube_hash.h"
#include "envd_env.h"
#include "envd_http.h"
#include "process.h"
#include "process_rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define INPUT_PATH "/process.Process/StreamInput"

struct stream_input {
    uint8_t *buf; /* a message whose envelope is not complete yet */
    size_t len, cap;
    int started;
    uint32_t pid;
};

/* An error answer for process_input_reply: the Connect code travels as a number. */
static void set_error(struct sink_result *res, enum connect_code code, const char *msg)
{
    res->status = connect_code_http_status(code);
    res->body = json_pack("{s:i,s:s}", "connect", (int)code, "message", msg);
}

static void *input_start(const struct http_head *h, struct sink_result *res)
{
    const char *want = envd_env_access_token();
    const char *got = http_head_get(h, "X-Access-Token");
    const char *ct = http_head_get(h, "Content-Type");
    struct stream_input *s;

    if (want && (!got || !cube_str_equal_ct(got, want))) {
        set_error(res, CONNECT_UNAUTHENTICATED, ENVD_UNAUTHORIZED_MESSAGE);
        return NULL;
    }
    if (!ct || strncasecmp(ct, "application/connect+json", 24) != 0) {
        set_error(res, CONNECT_INVALID_ARGUMENT,
                  "process.Process/StreamInput is a streaming method: use Content-Type "
                  "application/connect+json");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        set_error(res, CONNECT_INTERNAL, "out of memory");
    return s;
}

/* Feed one data message's input to the selected process. */
static int input_data(struct stream_input *s, json_t *data, struct sink_result *res)
{
    enum connect_code code;
    char err[300];
    uint8_t *bytes;
    size_t len;
    struct proc *p;
    int pty, rc;

    if (!s->started) {
        set_error(res, CONNECT_INVALID_ARGUMENT, "the first message must be 'start'");
        return -1;
    }
    p = proc_find(s->pid, NULL, 0);
    if (!p) {
        (void)snprintf(err, sizeof(err), "process with pid %u not found", s->pid);
        set_error(res, CONNECT_NOT_FOUND, err);
        return -1;
    }
    if (process_rpc_input(json_is_object(data) ? json_object_get(data, "input") : NULL,
                          &pty, &bytes, &len, &code, err, sizeof(err)) != 0) {
        set_error(res, code, err);
        return -1;
    }
    rc = proc_send_input(p, pty, bytes, len, &code, err, sizeof(err));
    free(bytes);
    if (rc != 0)
        set_error(res, code, err);
    return rc;
}

/* One whole message. proto3 JSON: exactly one of the oneof's members, unknown
 * fields ignored (a message with none of them is a no-op). */
static int input_message(struct stream_input *s, const uint8_t *p, size_t n,
                         struct sink_result *res)
{
    json_t *msg, *start, *data;
    json_error_t jerr;
    enum connect_code code;
    char err[300];
    struct proc *proc;
    int rc = 0;

    msg = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(msg)) {
        (void)snprintf(err, sizeof(err), "invalid request: %s",
                       msg ? "message must be a JSON object" : jerr.text);
        set_error(res, CONNECT_INVALID_ARGUMENT, err);
        json_decref(msg);
        return -1;
    }
    start = json_object_get(msg, "start");
    data = json_object_get(msg, "data");
    if ((start != NULL) + (data != NULL) + (json_object_get(msg, "keepalive") != NULL) >
        1) {
        set_error(res, CONNECT_INVALID_ARGUMENT,
                  "a message holds one of 'start', 'data' or 'keepalive'");
        rc = -1;
    } else if (start) {
        proc = s->started ? NULL : process_rpc_select(start, 0, &code, err, sizeof(err));
        if (s->started)
            set_error(res, CONNECT_INVALID_ARGUMENT, "'start' was already sent");
        else if (!proc)
            set_error(res, code, err);
        else {
            s->pid = proc_pid(proc);
            s->started = 1;
        }
        rc = proc ? 0 : -1;
    } else if (data) {
        rc = input_data(s, data, res);
    }
    json_decref(msg);
    return rc;
}

static int input_body(void *state, const uint8_t *p, size_t n, struct sink_result *res)
{
    struct stream_input *s = state;
    struct connect_envelope env;
    enum connect_envelope_status st;
    size_t used, off = 0;

    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        uint8_t *nb;
        while (cap < s->len + n)
            cap *= 2;
        nb = realloc(s->buf, cap);
        if (!nb) {
            set_error(res, CONNECT_INTERNAL, "out of memory");
            return -1;
        }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    while ((st = connect_envelope_decode(s->buf + off, s->len - off, CONNECT_MAX_MESSAGE,
                                         &env, &used)) == CONNECT_ENVELOPE_OK) {
        if (env.flags & CONNECT_FLAG_END_STREAM) {
            set_error(res, CONNECT_INVALID_ARGUMENT,
                      "invalid request: end-stream flag in a request");
            return -1;
        }
        if (input_message(s, env.payload, env.len, res) != 0)
            return -1;
        off += used;
    }
    if (st != CONNECT_ENVELOPE_NEED_MORE) {
        char err[160];
        (void)snprintf(err, sizeof(err), "invalid request: %s",
                       connect_envelope_strerror(st));
        set_error(res,
                  st == CONNECT_ENVELOPE_TOO_LARGE ? CONNECT_RESOURCE_EXHAUSTED
                                                   : CONNECT_INVALID_ARGUMENT,
                  err);
        return -1;
    }
    /* Keep only the incomplete rest; give back a buffer a large message grew. */
    memmove(s->buf, s->buf + off, s->len - off);
    s->len -= off;
    if (s->len == 0 && s->cap > 65536) {
        free(s->buf);
        s->buf = NULL;
        s->cap = 0;
    }
    return 0;
}

static void input_finish(void *state, struct sink_result *res)
{
    struct stream_input *s = state;

    if (s->len > 0) {
        set_error(res, CONNECT_INVALID_ARGUMENT, "invalid request: truncated envelope");
        return;
    }
    res->status = 200;
    res->body = NULL;
}

static void input_release(void *state)
{
    struct stream_input *s = state;

    if (s)
        free(s->buf);
    free(s);
}

const struct body_sink process_input_sink = {
    .path = INPUT_PATH,
    .bulk = 0,
    .start = input_start,
    .body = input_body,
    .finish = input_finish,
    .release = input_release,
};

void process_input_reply(struct evhttp_request *req)
{
    json_t *body = NULL, *codev, *msgv;
    int status;

    if (http_filter_take_result(req, &status, &body) != 0) {
        /* Not a stream the filter consumed: nothing was read, nothing was done. */
        connect_stream_answer(req, NULL, CONNECT_INVALID_ARGUMENT,
                              "invalid request: the body could not be read as a stream");
        return;
    }
    if (status == 200) {
        json_t *empty = json_object();
        connect_stream_answer(req, empty, -1, NULL);
        json_decref(empty);
    } else {
        codev = json_object_get(body, "connect");
        msgv = json_object_get(body, "message");
        connect_stream_answer(req, NULL,
                              json_is_integer(codev) ? (int)json_integer_value(codev)
                                                     : (int)CONNECT_INVALID_ARGUMENT,
                              json_is_string(msgv) ? json_string_value(msgv)
                                                   : "malformed request body");
    }
    json_decref(body);
}
