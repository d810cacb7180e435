/* cube-ci HTTP routing. See ci_http.h. Errors are text/plain, as the code
 * interpreter's are (the SDK shows the body for 404s). */
#include "ci_http.h"
#include "http_reason.h"

#include "ci_context.h"
#include "ci_proto.h"
#include "cube_log.h"
#include "daemon_opts.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Code and its environment; generous but bounded. */
#define CI_MAX_BODY (16u << 20)

static struct evhttp *http;

static void common_headers(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
    evhttp_add_header(h, "Cache-Control", "no-store");
}

static void reply_text(struct evhttp_request *req, int status, const char *text)
{
    struct evbuffer *buf = evbuffer_new();

    common_headers(req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    if (buf)
        evbuffer_add(buf, text, strlen(text));
    evhttp_send_reply(req, status, http_reason_phrase(status), buf);
    if (buf)
        evbuffer_free(buf);
}

static void reply_json(struct evhttp_request *req, int status, json_t *body)
{
    struct evbuffer *buf = evbuffer_new();
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    json_decref(body);
    if (!text) {
        if (buf)
            evbuffer_free(buf);
        reply_text(req, 500, "out of memory");
        return;
    }
    common_headers(req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    if (buf)
        evbuffer_add(buf, text, strlen(text));
    free(text);
    evhttp_send_reply(req, status, http_reason_phrase(status), buf);
    if (buf)
        evbuffer_free(buf);
}

static void not_found_context(struct evhttp_request *req, const char *id)
{
    char msg[512];

    snprintf(msg, sizeof(msg), "Context %s not found", id);
    reply_text(req, 404, msg);
}

/* The request body as one contiguous block (len may be 0). */
static const char *body_of(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);

    *len = evbuffer_get_length(in);
    if (*len == 0)
        return "";
    return (const char *)evbuffer_pullup(in, (ev_ssize_t)*len);
}

static void handle_execute(struct evhttp_request *req)
{
    struct ci_execute_req r;
    struct ci_ctx *c;
    char err[512];
    size_t len;
    const char *body = body_of(req, &len);

    if (!body || ci_parse_execute(body, len, &r, err, sizeof(err)) != 0) {
        reply_text(req, 400, body ? err : "out of memory");
        return;
    }
    if (r.context_id) {
        c = ci_context_find(r.context_id);
        if (!c) {
            not_found_context(req, r.context_id);
            ci_execute_req_free(&r);
            return;
        }
    } else {
        c = ci_context_default(r.language ? r.language : CI_DEFAULT_LANGUAGE);
        if (!c) {
            ci_execute_req_free(&r);
            reply_text(req, 500, "out of memory");
            return;
        }
    }
    ci_execute(req, c, &r);
}

static void handle_create_context(struct evhttp_request *req)
{
    char *language, *cwd, err[512];
    struct ci_ctx *c;
    size_t len;
    const char *body = body_of(req, &len);

    if (!body ||
        ci_parse_context_create(body, len, &language, &cwd, err, sizeof(err)) != 0) {
        reply_text(req, 400, body ? err : "out of memory");
        return;
    }
    c = ci_context_create(language, cwd, 0);
    free(language);
    free(cwd);
    if (!c) {
        reply_text(req, 500, "out of memory");
        return;
    }
    reply_json(req, 200, ci_context_json(c));
}

/* /contexts/{id} and /contexts/{id}/restart */
static void handle_context_item(struct evhttp_request *req, const char *rest)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    const char *slash = strchr(rest, '/');
    char id[128];
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    struct ci_ctx *c;

    if (n == 0 || n >= sizeof(id)) {
        reply_text(req, 404, "Not Found");
        return;
    }
    memcpy(id, rest, n);
    id[n] = '\0';
    if (slash && strcmp(slash, "/restart") != 0) {
        reply_text(req, 404, "Not Found");
        return;
    }
    if (slash ? m != EVHTTP_REQ_POST : m != EVHTTP_REQ_DELETE) {
        reply_text(req, 405, "Method Not Allowed");
        return;
    }
    c = ci_context_find(id);
    if (!c) {
        not_found_context(req, id);
        return;
    }
    if (slash)
        ci_context_restart(c);
    else
        ci_context_delete(c);
    reply_json(req, 200, json_object());
}

static void route(struct evhttp_request *req, void *arg)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
    char *path = raw ? evhttp_uridecode(raw, 0, NULL) : NULL;

    (void)arg;
    if (!path) {
        reply_text(req, 400, "bad request path");
        return;
    }
    /* Tolerate one trailing slash (/contexts/). */
    if (strlen(path) > 1 && path[strlen(path) - 1] == '/')
        path[strlen(path) - 1] = '\0';

    if (m == EVHTTP_REQ_OPTIONS) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        evhttp_add_header(h, "Access-Control-Allow-Methods",
                          "GET, POST, DELETE, OPTIONS");
        evhttp_add_header(h, "Access-Control-Allow-Headers", "*");
        common_headers(req);
        evhttp_send_reply(req, 204, "No Content", NULL);
    } else if (!strcmp(path, "/health")) {
        if (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD)
            reply_text(req, 200, "OK");
        else
            reply_text(req, 405, "Method Not Allowed");
    } else if (!strcmp(path, "/execute")) {
        if (m == EVHTTP_REQ_POST)
            handle_execute(req);
        else
            reply_text(req, 405, "Method Not Allowed");
    } else if (!strcmp(path, "/contexts")) {
        if (m == EVHTTP_REQ_GET)
            reply_json(req, 200, ci_context_list());
        else if (m == EVHTTP_REQ_POST)
            handle_create_context(req);
        else
            reply_text(req, 405, "Method Not Allowed");
    } else if (!strncmp(path, "/contexts/", 10)) {
        handle_context_item(req, path + 10);
    } else {
        reply_text(req, 404, "Not Found");
    }
    free(path);
}

static int http_new(struct event_base *base)
{
    http = evhttp_new(base);
    if (!http) {
        log_error("evhttp_new failed");
        return -1;
    }
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
    evhttp_set_max_body_size(http, CI_MAX_BODY);
    evhttp_set_max_headers_size(http, (ev_ssize_t)64 * 1024);
    evhttp_set_gencb(http, route, NULL);
    return 0;
}

int ci_http_start_fd(struct event_base *base, int fd)
{
    if (http_new(base) < 0)
        return -1;
    if (!evhttp_accept_socket_with_handle(http, fd)) {
        log_error("cannot serve on descriptor %d", fd);
        evhttp_free(http);
        http = NULL;
        return -1;
    }
    daemon_listener_nodelay(fd);
    log_info("listening on descriptor %d", fd);
    return 0;
}

int ci_http_start(struct event_base *base, const char *host, int port)
{
    if (http_new(base) < 0)
        return -1;
    struct evhttp_bound_socket *bound =
        evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
    if (!bound) {
        log_error("cannot listen on %s:%d", host, port);
        evhttp_free(http);
        http = NULL;
        return -1;
    }
    daemon_listener_nodelay(evhttp_bound_socket_get_fd(bound));
    log_info("listening on %s:%d", host, port);
    return 0;
}

void ci_http_stop(void)
{
    if (http)
        evhttp_free(http);
    http = NULL;
}
