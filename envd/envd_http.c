/* HTTP routing, authentication and the REST endpoints. See envd_http.h. */
#include "envd_http.h"
#include "http_reason.h"

#include "connect_rpc.h"
#include "cube_hash.h"
#include "cube_log.h"
#include "daemon_opts.h"
#include "envd_chan.h"
#include "envd_env.h"
#include "envd_metrics.h"
#include "files_download.h"
#include "files_upload.h"
#include "fs_rpc.h"
#include "http_filter.h"
#include "process_input.h"
#include "process_rpc.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNAUTHORIZED_MESSAGE ENVD_UNAUTHORIZED_MESSAGE

static struct evhttp *http;

void envd_http_common_headers(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    evhttp_add_header(h, "X-Envd-Version", ENVD_VERSION);
    /* Browsers may call envd directly (E2B allows any origin); the token, not
     * the origin, is what protects it. */
    evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
    evhttp_add_header(h, "Access-Control-Expose-Headers",
                      "Connect-Protocol-Version, Grpc-Status, Grpc-Message, "
                      "X-Envd-Version, Content-Encoding");
}

void envd_reply_json(struct evhttp_request *req, int status, json_t *body)
{
    struct evbuffer *buf = evbuffer_new();
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;

    json_decref(body);
    envd_http_common_headers(req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    if (buf)
        evbuffer_add_printf(buf, "%s", text ? text : "{}");
    free(text);
    evhttp_send_reply(req, status, http_reason_phrase(status), buf);
    if (buf)
        evbuffer_free(buf);
}

json_t *envd_json_string_lossy(const char *s)
{
    json_t *j = json_string(s);
    char *copy;

    if (j || !s)
        return j;
    /* Not UTF-8 (a path, say): keep the ASCII, mask the rest. */
    copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

void envd_reply_error(struct evhttp_request *req, int status, const char *message)
{
    envd_reply_json(req, status,
                    json_pack("{s:i,s:o}", "code", status, "message",
                              envd_json_string_lossy(message)));
}

void envd_reply_empty(struct evhttp_request *req, int status)
{
    envd_http_common_headers(req);
    evhttp_send_reply(req, status, http_reason_phrase(status), NULL);
}

/* 1 when the request may proceed: no token configured, or X-Access-Token
 * matches it (compared in constant time). */
static int token_ok(struct evhttp_request *req)
{
    const char *want = envd_env_access_token();
    const char *got;

    if (!want)
        return 1;
    got = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Access-Token");
    return got && cube_str_equal_ct(got, want);
}

static void handle_health(struct evhttp_request *req)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control",
                      "no-store");
    envd_reply_empty(req, 204);
}

static void handle_init(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    json_t *body;
    json_error_t jerr;
    char err[256];

    /* Once a token is set, only its holder may re-initialise (and so replace
     * the token or the environment). */
    if (!token_ok(req)) {
        envd_reply_error(req, 401, UNAUTHORIZED_MESSAGE);
        return;
    }
    if (n == 0) {
        body = json_object();
    } else {
        body = json_loadb((const char *)evbuffer_pullup(in, -1), n, 0, &jerr);
        if (!body) {
            snprintf(err, sizeof(err), "invalid JSON body: %s", jerr.text);
            envd_reply_error(req, 400, err);
            return;
        }
    }
    if (envd_env_apply_init(body, err, sizeof(err)) != 0) {
        json_decref(body);
        envd_reply_error(req, 400, err);
        return;
    }
    json_decref(body);
    log_info("init applied (default user '%s', token %s)", envd_env_default_user(),
             envd_env_access_token() ? "set" : "none");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control",
                      "no-store");
    envd_reply_empty(req, 204);
}

static void handle_envs(struct evhttp_request *req)
{
    envd_reply_json(req, 200, json_incref(envd_env_global()));
}

static void handle_preflight(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    evhttp_add_header(h, "Access-Control-Allow-Methods",
                      "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD");
    evhttp_add_header(h, "Access-Control-Allow-Headers", "*");
    evhttp_add_header(h, "Access-Control-Max-Age", "7200");
    envd_reply_empty(req, 204);
}

/* "/pkg.Service/Method": the shape of a Connect procedure path. */
static int is_connect_path(const char *path)
{
    const char *slash = strchr(path + 1, '/');

    return path[0] == '/' && slash && slash > path + 1 && slash[1] &&
           !strchr(slash + 1, '/') && memchr(path + 1, '.', (size_t)(slash - path - 1));
}

static void route(struct evhttp_request *req, void *arg)
{
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    int is_get = method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD;

    (void)arg;
    /* The worker's init, if it is queued, comes first (envd_chan.h). */
    envd_chan_poll();
    if (!path || !*path)
        path = "/";
    log_debug("%s %s",
              method == EVHTTP_REQ_POST ? "POST"
              : is_get                  ? "GET"
                                        : "other",
              path);

    if (method == EVHTTP_REQ_OPTIONS) {
        handle_preflight(req);
        return;
    }
    /* Endpoints that do their own authorisation (or need none). */
    if (strcmp(path, "/health") == 0) {
        if (is_get)
            handle_health(req);
        else
            envd_reply_error(req, 405, "method not allowed");
        return;
    }
    if (strcmp(path, "/init") == 0) {
        if (method == EVHTTP_REQ_POST)
            handle_init(req);
        else
            envd_reply_error(req, 405, "method not allowed");
        return;
    }
    if (strcmp(path, "/files") == 0) {
        /* Exempt from the token check: it has its own (header or signature)
         * rules, applied by the handlers. */
        if (is_get)
            files_download(req);
        else if (method == EVHTTP_REQ_POST)
            files_upload(req);
        else
            envd_reply_error(req, 405, "method not allowed");
        return;
    }

    if (is_connect_path(path)) {
        if (method != EVHTTP_REQ_POST) {
            envd_reply_error(req, 405, "method not allowed");
            return;
        }
        /* The filter consumed the stream and checked the token on its head; this
         * is its bodyless stand-in. */
        if (strcmp(path, "/process.Process/StreamInput") == 0) {
            process_input_reply(req);
            return;
        }
        if (!token_ok(req)) {
            connect_error(req, CONNECT_UNAUTHENTICATED, "%s", UNAUTHORIZED_MESSAGE);
            return;
        }
        if (strncmp(path, "/process.Process/", 17) == 0) {
            process_rpc_dispatch(req, path + 17);
            return;
        }
        if (strncmp(path, "/filesystem.Filesystem/", 23) == 0) {
            fs_rpc_dispatch(req, path + 23);
            return;
        }
        connect_error(req, CONNECT_UNIMPLEMENTED, "%s is not implemented", path + 1);
        return;
    }

    if (strcmp(path, "/envs") == 0 || strcmp(path, "/metrics") == 0) {
        if (!is_get) {
            envd_reply_error(req, 405, "method not allowed");
            return;
        }
        if (!token_ok(req)) {
            envd_reply_error(req, 401, UNAUTHORIZED_MESSAGE);
            return;
        }
        if (path[1] == 'e')
            handle_envs(req);
        else
            envd_reply_json(req, 200, envd_metrics_sample());
        return;
    }
    envd_reply_error(req, 404, "not found");
}

/* Every connection: the worker's init, if it is queued, before anything is read from
 * it (envd_chan.h); then the filter. */
static struct bufferevent *new_conn_bev(struct event_base *base, void *arg)
{
    envd_chan_poll();
    return http_filter_bev(base, arg);
}

int envd_http_start(struct event_base *base, const char *host, int port)
{
    http = evhttp_new(base);
    if (!http) {
        log_error("evhttp_new failed");
        return -1;
    }
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                         EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    /* Every connection goes through the filter, which streams POST /files
     * bodies to disk itself (http_filter.h). evhttp buffers the other bodies
     * whole before dispatch: bound them (RPC messages are refused above
     * CONNECT_MAX_MESSAGE once read), and headers too. */
    evhttp_set_bevcb(http, new_conn_bev, NULL);
    evhttp_set_max_body_size(http, ENVD_MAX_BODY);
    evhttp_set_max_headers_size(http, (ev_ssize_t)64 * 1024);
    evhttp_set_gencb(http, route, NULL);
    struct evhttp_bound_socket *bound =
        evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
    if (!bound) {
        log_error("cannot listen on %s:%d", host, port);
        evhttp_free(http);
        http = NULL;
        return -1;
    }
    daemon_listener_nodelay(evhttp_bound_socket_get_fd(bound));
    log_info("listening on %s:%d (envd %s)", host, port, ENVD_VERSION);
    return 0;
}

void envd_http_stop(void)
{
    if (http)
        evhttp_free(http);
    http = NULL;
}
