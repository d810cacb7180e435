/* Connect protocol over evhttp. See connect_rpc.h. */
#include "connect_rpc.h"

#include "connect_envelope.h"
#include "envd_http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    int status;
} codes[] = {
    [CONNECT_CANCELED] = {"canceled", 499},
    [CONNECT_UNKNOWN] = {"unknown", 500},
    [CONNECT_INVALID_ARGUMENT] = {"invalid_argument", 400},
    [CONNECT_DEADLINE_EXCEEDED] = {"deadline_exceeded", 504},
    [CONNECT_NOT_FOUND] = {"not_found", 404},
    [CONNECT_ALREADY_EXISTS] = {"already_exists", 409},
    [CONNECT_PERMISSION_DENIED] = {"permission_denied", 403},
    [CONNECT_RESOURCE_EXHAUSTED] = {"resource_exhausted", 429},
    [CONNECT_FAILED_PRECONDITION] = {"failed_precondition", 400},
    [CONNECT_ABORTED] = {"aborted", 409},
    [CONNECT_OUT_OF_RANGE] = {"out_of_range", 400},
    [CONNECT_UNIMPLEMENTED] = {"unimplemented", 501},
    [CONNECT_INTERNAL] = {"internal", 500},
    [CONNECT_UNAVAILABLE] = {"unavailable", 503},
    [CONNECT_DATA_LOSS] = {"data_loss", 500},
    [CONNECT_UNAUTHENTICATED] = {"unauthenticated", 401},
};

const char *connect_code_name(enum connect_code code)
{
    if ((unsigned)code < sizeof(codes) / sizeof(codes[0]))
        return codes[code].name;
    return "unknown";
}

int connect_code_http_status(enum connect_code code)
{
    if ((unsigned)code < sizeof(codes) / sizeof(codes[0]))
        return codes[code].status;
    return 500;
}

int connect_request_is_streaming(struct evhttp_request *req)
{
    const char *ct =
        evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    return ct && strncasecmp(ct, "application/connect+", 20) == 0;
}

/* A non-negative decimal header value of at most `digits` digits, or -1. */
static long header_number(struct evhttp_request *req, const char *name, int digits)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
    long n = 0;
    int i;

    if (!v)
        return -1;
    while (*v == ' ')
        v++;
    for (i = 0; v[i] >= '0' && v[i] <= '9'; i++) {
        if (i >= digits)
            return -1;
        n = n * 10 + (v[i] - '0');
    }
    if (i == 0 || (v[i] != '\0' && v[i] != ' '))
        return -1;
    return n;
}

long connect_request_timeout_ms(struct evhttp_request *req)
{
    /* The Connect spec caps the header at 10 digits. */
    long ms = header_number(req, "Connect-Timeout-Ms", 10);
    return ms > 0 ? ms : -1;
}

int connect_request_keepalive_s(struct evhttp_request *req)
{
    long s = header_number(req, "Keepalive-Ping-Interval", 6);
    return s > 0 ? (int)s : CONNECT_DEFAULT_KEEPALIVE_S;
}

json_t *connect_read_request(struct evhttp_request *req, char *err, size_t errlen)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    const uint8_t *data = n ? evbuffer_pullup(in, -1) : (const uint8_t *)"";
    json_error_t jerr;
    json_t *msg;

    if (connect_request_is_streaming(req)) {
        struct connect_envelope env;
        enum connect_envelope_status st;
        size_t used;

        st = connect_envelope_decode(data, n, CONNECT_MAX_MESSAGE, &env, &used);
        if (st != CONNECT_ENVELOPE_OK) {
            snprintf(err, errlen, "invalid request: %s", connect_envelope_strerror(st));
            return NULL;
        }
        if (env.flags != 0 || used != n) {
            snprintf(err, errlen, "invalid request: expected exactly one message");
            return NULL;
        }
        data = env.payload;
        n = env.len;
    } else if (n > CONNECT_MAX_MESSAGE) {
        snprintf(err, errlen, "invalid request: message too large");
        return NULL;
    }
    /* An empty unary body is the empty message. */
    if (n == 0)
        return json_object();
    msg = json_loadb((const char *)data, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!msg) {
        snprintf(err, errlen, "invalid request: %s", jerr.text);
        return NULL;
    }
    if (!json_is_object(msg)) {
        json_decref(msg);
        snprintf(err, errlen, "invalid request: message must be a JSON object");
        return NULL;
    }
    return msg;
}

void connect_unary_reply(struct evhttp_request *req, json_t *msg)
{
    envd_reply_json(req, 200, msg);
}

static json_t *error_object(enum connect_code code, const char *message)
{
    return json_pack("{s:s,s:o}", "code", connect_code_name(code), "message",
                     envd_json_string_lossy(message));
}

/* Serialize {"error":{...}} (or {} for success) into an end-stream envelope. */
static void add_end_envelope(struct evbuffer *out, int code, const char *message)
{
    uint8_t hdr[CONNECT_ENVELOPE_HEADER_LEN];
    char *payload = NULL;
    size_t len;

    if (code >= 0) {
        json_t *o =
            json_pack("{s:o}", "error", error_object((enum connect_code)code, message));
        payload = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        /* Never let a failure to encode turn an error into success. */
        if (!payload)
            payload = strdup("{\"error\":{\"code\":\"internal\"}}");
    }
    if (!payload && code < 0)
        payload = strdup("{}");
    len = payload ? strlen(payload) : 0;
    connect_envelope_header(hdr, CONNECT_FLAG_END_STREAM, (uint32_t)len);
    evbuffer_add(out, hdr, sizeof(hdr));
    evbuffer_add(out, payload, len);
    free(payload);
}

void connect_error(struct evhttp_request *req, enum connect_code code, const char *fmt,
                   ...)
{
    char message[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);

    if (connect_request_is_streaming(req)) {
        connect_stream_answer(req, NULL, (int)code, message);
        return;
    }
    envd_reply_json(req, connect_code_http_status(code), error_object(code, message));
}

void connect_stream_answer(struct evhttp_request *req, json_t *msg, int code,
                           const char *message)
{
    /* The client only reads the body of a 200 response, so stream errors
     * always travel in the end-stream envelope. */
    struct evbuffer *body = evbuffer_new();
    char *payload = msg && code < 0 ? json_dumps(msg, JSON_COMPACT) : NULL;

    envd_http_common_headers(req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/connect+json");
    if (body && payload) {
        uint8_t hdr[CONNECT_ENVELOPE_HEADER_LEN];

        connect_envelope_header(hdr, 0, (uint32_t)strlen(payload));
        evbuffer_add(body, hdr, sizeof(hdr));
        evbuffer_add(body, payload, strlen(payload));
    } else if (msg && code < 0) {
        code = CONNECT_INTERNAL; /* the answer could not be encoded */
        message = "out of memory";
    }
    if (body)
        add_end_envelope(body, code, message);
    evhttp_send_reply(req, 200, "OK", body);
    if (body)
        evbuffer_free(body);
    free(payload);
}

struct connect_stream {
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct evbuffer *buf; /* scratch: evhttp_send_reply_chunk drains it */
    struct event *keepalive_ev;
    struct event *deadline_ev;
    struct timeval keepalive_tv;
    char *keepalive_json;
    connect_stream_gone_cb gone;
    void *arg;
};

static void stream_free(struct connect_stream *s)
{
    if (s->keepalive_ev)
        event_free(s->keepalive_ev);
    if (s->deadline_ev)
        event_free(s->deadline_ev);
    if (s->buf)
        evbuffer_free(s->buf);
    free(s->keepalive_json);
    free(s);
}

/* The connection is being freed (peer closed or I/O error) while our chunked
 * reply was in progress. evhttp has already detached the request from the
 * connection in that case and left it to us; evhttp_send_reply_end on a
 * detached request just frees it. If the request is still attached, the
 * connection frees it itself. */
static void stream_closecb(struct evhttp_connection *evcon, void *arg)
{
    struct connect_stream *s = arg;

    (void)evcon;
    if (evhttp_request_get_connection(s->req) == NULL)
        evhttp_send_reply_end(s->req);
    s->req = NULL;
    if (s->gone)
        s->gone(s, s->arg);
    stream_free(s);
}

static void keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
    struct connect_stream *s = arg;

    (void)fd;
    (void)what;
    connect_stream_send(s, s->keepalive_json, strlen(s->keepalive_json));
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct connect_stream *s = arg;

    (void)fd;
    (void)what;
    if (s->gone)
        s->gone(s, s->arg);
    s->gone = NULL;
    connect_stream_end(s, CONNECT_DEADLINE_EXCEEDED, "context deadline exceeded");
}

struct connect_stream *connect_stream_open(struct evhttp_request *req,
                                           const char *keepalive_json, int keepalive_s,
                                           connect_stream_gone_cb gone, void *arg)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct event_base *base = evcon ? evhttp_connection_get_base(evcon) : NULL;
    struct connect_stream *s = calloc(1, sizeof(*s));

    if (!s || !base)
        goto fail;
    s->req = req;
    s->evcon = evcon;
    s->gone = gone;
    s->arg = arg;
    s->buf = evbuffer_new();
    s->keepalive_json = strdup(keepalive_json);
    s->keepalive_ev = event_new(base, -1, 0, keepalive_cb, s);
    if (!s->buf || !s->keepalive_json || !s->keepalive_ev)
        goto fail;
    s->keepalive_tv.tv_sec = keepalive_s;

    envd_http_common_headers(req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/connect+json");
    /* Each envelope must reach the client as it is sent: tell a buffering
     * proxy (nginx) in front of us not to hold the response back. */
    evhttp_add_header(evhttp_request_get_output_headers(req), "X-Accel-Buffering", "no");
    evhttp_send_reply_start(req, 200, "OK");
    evhttp_connection_set_closecb(evcon, stream_closecb, s);
    /* Streams may stay silent (but for keepalives) for as long as a process
     * runs; make sure no idle timeout on the connection cuts them. */
    bufferevent_set_timeouts(evhttp_connection_get_bufferevent(evcon), NULL, NULL);
    event_add(s->keepalive_ev, &s->keepalive_tv);
    return s;
fail:
    if (s)
        stream_free(s);
    connect_error(req, CONNECT_INTERNAL, "out of memory");
    return NULL;
}

void connect_stream_set_deadline(struct connect_stream *s, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    if (!s->deadline_ev)
        s->deadline_ev =
            event_new(evhttp_connection_get_base(s->evcon), -1, 0, deadline_cb, s);
    if (s->deadline_ev)
        event_add(s->deadline_ev, &tv);
}

void connect_stream_send_raw(struct connect_stream *s, const void *data, size_t len)
{
    if (!s->req)
        return;
    evbuffer_add(s->buf, data, len);
    evhttp_send_reply_chunk(s->req, s->buf);
    evbuffer_drain(s->buf, evbuffer_get_length(s->buf));
    /* Any traffic postpones the next keepalive. */
    event_add(s->keepalive_ev, &s->keepalive_tv);
}

void connect_stream_send(struct connect_stream *s, const char *json, size_t len)
{
    uint8_t hdr[CONNECT_ENVELOPE_HEADER_LEN];

    if (!s->req)
        return;
    connect_envelope_header(hdr, 0, (uint32_t)len);
    evbuffer_add(s->buf, hdr, sizeof(hdr));
    connect_stream_send_raw(s, json, len);
}

size_t connect_stream_backlog(struct connect_stream *s)
{
    struct bufferevent *bev;

    if (!s->req)
        return 0;
    bev = evhttp_connection_get_bufferevent(s->evcon);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

void connect_stream_end(struct connect_stream *s, int code, const char *message)
{
    if (s->req) {
        add_end_envelope(s->buf, code, message);
        evhttp_send_reply_chunk(s->req, s->buf);
        /* The connection may be reused for another request once this reply is
         * out; our close callback must not fire for it. */
        evhttp_connection_set_closecb(s->evcon, NULL, NULL);
        evhttp_send_reply_end(s->req);
        s->req = NULL;
    }
    stream_free(s);
}

json_t *connect_accept(struct evhttp_request *req, const char *service, const char *method,
                       int streaming)
{
    char err[256];
    json_t *msg;

    if (connect_request_is_streaming(req) != streaming) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "%s/%s is a %s method: use Content-Type %s",
                      service, method, streaming ? "streaming" : "unary",
                      streaming ? "application/connect+json" : "application/json");
        return NULL;
    }
    msg = connect_read_request(req, err, sizeof(err));
    if (!msg)
        connect_error(req, CONNECT_INVALID_ARGUMENT, "%s", err);
    return msg;
}
