/* process.Process/StreamInput: the client-streaming way to feed a process's stdin
 * or pty. The body is a sequence of Connect envelopes ({"start":{"process":...}},
 * then any number of {"data":{"input":{"stdin"|"pty": base64}}} and
 * {"keepalive":{}}), consumed as it arrives (http_filter.c), so input reaches the
 * process while the client is still sending. The answer comes when the body ends:
 * {} and the end-stream envelope, or the end-stream with the first error (the rest
 * of the body is then dropped). The JS SDK sends stdin with unary SendInput
 * instead; clients that can stream a request body (Go, grpcurl-style tools) use
 * this. */
#ifndef ENVD_PROCESS_INPUT_H
#define ENVD_PROCESS_INPUT_H

#include "http_filter.h"

#include <event2/http.h>

extern const struct body_sink process_input_sink;

/* The evhttp handler of POST /process.Process/StreamInput: answers with what the
 * stream came to. */
void process_input_reply(struct evhttp_request *req);

#endif
