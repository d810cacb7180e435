/* envd's HTTP front: one evhttp listener serving the REST endpoints (/health,
 * /init, /envs, /metrics, /files) and the Connect RPC services (process,
 * filesystem), with access-token checks, CORS and JSON error bodies. */
#ifndef ENVD_HTTP_H
#define ENVD_HTTP_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#define ENVD_VERSION "0.6.13"

/* Largest body evhttp buffers for a request other than an upload (uploads
 * are streamed, see http_filter.h): room for the biggest Connect message. */
#define ENVD_MAX_BODY (64ull << 20)

/* E2B's 401 message for a missing or wrong access token. */
#define ENVD_UNAUTHORIZED_MESSAGE                                                        \
    "unauthorized access, please provide a valid access token or method signing if "     \
    "supported"

/* Bind host:port and start serving on base. Returns 0, or -1 (logged). */
int envd_http_start(struct event_base *base, const char *host, int port);
void envd_http_stop(void);

/* Headers every response carries (CORS, version). */
void envd_http_common_headers(struct evhttp_request *req);
/* Reply with a JSON body (reference stolen; NULL sends "{}"). */
void envd_reply_json(struct evhttp_request *req, int status, json_t *body);
/* Reply {"code":status,"message":message}. */
void envd_reply_error(struct evhttp_request *req, int status, const char *message);
/* json_string() that never fails on invalid UTF-8 (bytes >= 0x80 become '?'
 * then); NULL only when out of memory. */
json_t *envd_json_string_lossy(const char *s);
/* Reply with no body (204 and the like). */
void envd_reply_empty(struct evhttp_request *req, int status);

#endif
