/* The per-connection front of envd's listener: a bufferevent filter between
 * the socket and evhttp that frames every request itself (libhttp-parser) and
 * takes POST /files away from evhttp, which in libevent 2.1 would read a whole
 * body into memory before any handler runs.
 *
 * Every other request passes through byte for byte. An upload's head is
 * checked as soon as it is complete (files_upload.h) and its body, de-chunked,
 * goes to the upload as it is read, in large reads straight off the socket
 * (evbuffer_read takes 4 KiB at a time in 2.1). When the body ends, or as soon
 * as the upload has failed, evhttp is given a bodyless stand-in request
 * ("POST /files", Content-Length 0, a private marker header) whose handler
 * answers with the outcome: responses stay in order and keep-alive works as
 * for any request. A rejected or failed upload's remaining body is read and
 * dropped, never stored. The output side writes straight to the socket (and
 * so keeps sendfile for downloads), and tells evhttp a response is written
 * only once the socket took all of it, so closing after a reply loses
 * nothing. See docs/decisions.md, "Streaming uploads". */
#ifndef ENVD_HTTP_FILTER_H
#define ENVD_HTTP_FILTER_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A request head as the filter parsed it (only kept for uploads). */
struct http_head {
    int major, minor;
    char *url;         /* request target as sent */
    const char *query; /* inside url after '?', or NULL */
    int nheaders;
    char **names, **values;
};

/* What a consumed body came to: the answer the handler of its stand-in gives. */
struct sink_result {
    int status;   /* HTTP status */
    json_t *body; /* a reference, or NULL */
};

/* A POST whose body the filter hands to its consumer as it arrives (evhttp would
 * read it whole first): POST /files, and the client stream of
 * /process.Process/StreamInput. */
struct body_sink {
    const char *path; /* the request path it takes */
    int bulk;         /* large bodies: read the socket in large reads */
    /* Check a head: the consumer's state, or NULL with the answer in *res. */
    void *(*start)(const struct http_head *h, struct sink_result *res);
    /* The next n body bytes (de-chunked): 0, or -1 with the answer in *res (the
     * rest of the body is then dropped, and the state released). */
    int (*body)(void *state, const uint8_t *p, size_t n, struct sink_result *res);
    /* The body ended: *res is the answer either way. */
    void (*finish)(void *state, struct sink_result *res);
    void (*release)(void *state);
};

/* The first value of header name (case-insensitive), or NULL. */
const char *http_head_get(const struct http_head *h, const char *name);

/* evhttp_set_bevcb callback: a filtered bufferevent for a new connection. */
struct bufferevent *http_filter_bev(struct event_base *base, void *arg);

/* For a sink's handler (POST /files, StreamInput): the outcome of the body the
 * stand-in request req stands for. Returns 0 with *status and *body (a reference
 * the caller owns), or -1 when req is not a stand-in from the filter (then it
 * carries nothing, e.g. a request the filter could not frame). */
int http_filter_take_result(struct evhttp_request *req, int *status, json_t **body);

#endif
