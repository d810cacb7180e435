/* The control API (docs/internals.md): HTTP/1.1 + JSON over the worker's Unix
 * socket, served by libevent's evhttp on the worker's event loop. */
#ifndef CUBE_WORKER_API_H
#define CUBE_WORKER_API_H

#include <event2/http.h>
#include <jansson.h>

#include "worker.h"

/* Bind the socket (stale file removed, mode 0660) and register the routes. */
struct evhttp *worker_api_start(struct worker *w);

/* Reply helpers, also used for replies completed asynchronously by sandbox.c.
 * reply_json steals the reference to body (NULL = no body). */
void api_reply_json(struct evhttp_request *req, int status, json_t *body);
void api_reply_error(struct evhttp_request *req, int status, const char *message);

#endif
