/* The Connect protocol (connectrpc.com) on top of evhttp, JSON codec only:
 * error codes, unary replies, and server streams (application/connect+json)
 * whose envelopes are flushed one by one as chunks of an HTTP/1.1 response.
 *
 * A server stream is owned by whoever opened it (e.g. a process subscriber).
 * It ends in one of two ways:
 *   - the owner calls connect_stream_end(), which writes the end-stream
 *     envelope and frees the stream;
 *   - the stream goes away by itself (client closed the connection, or the
 *     stream's own deadline passed): the `gone` callback runs first so the
 *     owner can forget its pointer, then the stream is freed.
 * Either way the owner must not touch the stream afterwards. */
#ifndef CONNECT_RPC_H
#define CONNECT_RPC_H

#include <event2/http.h>
#include <jansson.h>
#include <stddef.h>

enum connect_code {
    CONNECT_CANCELED,
    CONNECT_UNKNOWN,
    CONNECT_INVALID_ARGUMENT,
    CONNECT_DEADLINE_EXCEEDED,
    CONNECT_NOT_FOUND,
    CONNECT_ALREADY_EXISTS,
    CONNECT_PERMISSION_DENIED,
    CONNECT_RESOURCE_EXHAUSTED,
    CONNECT_FAILED_PRECONDITION,
    CONNECT_ABORTED,
    CONNECT_OUT_OF_RANGE,
    CONNECT_UNIMPLEMENTED,
    CONNECT_INTERNAL,
    CONNECT_UNAVAILABLE,
    CONNECT_DATA_LOSS,
    CONNECT_UNAUTHENTICATED,
};

/* Largest request message we accept (stdin chunks travel in SendInput). */
#define CONNECT_MAX_MESSAGE (16u << 20)
/* Keepalive interval when the client does not send Keepalive-Ping-Interval. */
#define CONNECT_DEFAULT_KEEPALIVE_S 90

const char *connect_code_name(enum connect_code code);
int connect_code_http_status(enum connect_code code);

/* 1 if the request speaks the streaming protocol (Content-Type
 * application/connect+...), whose errors must be 200 + end-stream. */
int connect_request_is_streaming(struct evhttp_request *req);
/* Connect-Timeout-Ms as milliseconds, or -1 when absent/invalid. */
long connect_request_timeout_ms(struct evhttp_request *req);
/* Keepalive-Ping-Interval in seconds, or the default. */
int connect_request_keepalive_s(struct evhttp_request *req);

/* Decode the request message: the single envelope of a streaming request, or
 * the whole body of a unary one. It must be a JSON object. Returns a new
 * reference, or NULL with a message in err (always invalid_argument). */
json_t *connect_read_request(struct evhttp_request *req, char *err, size_t errlen);

/* Unary success: 200 application/json with msg (reference stolen). */
void connect_unary_reply(struct evhttp_request *req, json_t *msg);
/* Answer with an error in the shape the request's protocol needs: unary ->
 * HTTP status of the code + {"code","message"}; streaming -> 200 + end-stream
 * envelope carrying {"error":{...}}. */
void connect_error(struct evhttp_request *req, enum connect_code code, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));

/* A streaming answer whatever the request's Content-Type says (a client-streaming
 * call's): 200 application/connect+json, msg's envelope when code < 0 and msg is not
 * NULL, then the end-stream envelope, with the error when code >= 0. */
void connect_stream_answer(struct evhttp_request *req, json_t *msg, int code,
                           const char *message);

struct connect_stream;
typedef void (*connect_stream_gone_cb)(struct connect_stream *s, void *arg);

/* Send the 200 response head and start a stream. keepalive_json is the message
 * sent after keepalive_s seconds without traffic (copied). NULL on failure
 * (then an error reply has been sent). */
struct connect_stream *connect_stream_open(struct evhttp_request *req,
                                           const char *keepalive_json, int keepalive_s,
                                           connect_stream_gone_cb gone, void *arg);
/* End the stream with deadline_exceeded after ms (the `gone` callback runs
 * first). */
void connect_stream_set_deadline(struct connect_stream *s, long ms);
/* Send one message envelope. len excludes any NUL. */
void connect_stream_send(struct connect_stream *s, const char *json, size_t len);
/* Send a pre-built envelope (header included), e.g. one buffer shared by many
 * streams. */
void connect_stream_send_raw(struct connect_stream *s, const void *data, size_t len);
/* Bytes written to the connection but not yet sent: lets producers apply
 * backpressure instead of buffering without bound. */
size_t connect_stream_backlog(struct connect_stream *s);
/* Write the end-stream envelope ({} when code < 0, else the error) and free. */
void connect_stream_end(struct connect_stream *s, int code, const char *message);

/* Start serving service/method: check that the call's kind (unary or streaming) is the
 * method's and read its request message. On a mismatch or a bad message the Connect
 * error is sent and NULL returned; otherwise the caller owns the message. */
json_t *connect_accept(struct evhttp_request *req, const char *service, const char *method,
                       int streaming);
#endif
