#include "worker_api.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "create_req.h"
#include "cube_log.h"
#include "metrics.h"
#include "sandbox.h"

#define MAX_BODY (1 << 20) /* envVars of a create request fit easily */

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

void api_reply_json(struct evhttp_request *req, int status, json_t *body)
{
    struct evbuffer *buf = evbuffer_new();
    char *text = NULL;

    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
    }
    if (text) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evbuffer_add(buf, text, strlen(text));
        free(text);
    }
    /* If the client went away meanwhile, libevent detached the request from its
     * connection; sending then only frees it. */
    evhttp_send_reply(req, status, reason(status), buf);
    evbuffer_free(buf);
}

void api_reply_error(struct evhttp_request *req, int status, const char *message)
{
    api_reply_json(req, status,
                   json_pack("{s:i, s:s}", "code", status, "message", message));
}

static void handle_health(struct worker *w, struct evhttp_request *req)
{
    api_reply_json(req, 200,
                   json_pack("{s:s, s:i, s:i, s:s}", "node", w->node_id, "sandboxes",
                             w->count, "pooled", sandbox_pooled_count(w), "version",
                             WORKER_VERSION));
}

static void handle_create(struct worker *w, struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    struct create_req cr;
    char err[400];
    int status;

    if (create_req_parse((const char *)evbuffer_pullup(in, -1), len, &cr, err,
                         sizeof(err)) < 0) {
        api_reply_error(req, 400, err);
        return;
    }
    log_info("create %s (template %s)", cr.sandbox_id, cr.template_ref);
    status = sandbox_create(w, &cr, req, err, sizeof(err));
    if (status != 0)
        api_reply_error(req, status, err);
}

static void handle_one(struct worker *w, struct evhttp_request *req, const char *id)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    struct sandbox *sb;

    if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_DELETE) {
        api_reply_error(req, 405, "method not allowed");
        return;
    }
    sb = cube_id_valid(id, CUBE_SANDBOX_ID_LEN) ? sandbox_find(w, id) : NULL;
    if (!sb) {
        api_reply_error(req, 404, "sandbox not found");
        return;
    }
    if (m == EVHTTP_REQ_GET) {
        api_reply_json(req, 200, state_api_json(sandbox_record(sb)));
        return;
    }
    log_info("delete %s", id);
    sandbox_delete(sb, req);
}

/* PUT /sandboxes/{id}/network: body {"allowOut","denyOut","allow_internet_access"}. */
static void handle_network(struct evhttp_request *req, struct sandbox *sb)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    struct net_policy p;
    json_error_t jerr;
    json_t *root;
    char err[400];
    int status;

    root = json_loadb((const char *)evbuffer_pullup(in, -1), len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (!root) {
        snprintf(err, sizeof(err), "invalid JSON: %s", jerr.text);
        api_reply_error(req, 400, err);
        return;
    }
    status = net_policy_parse(root, 1, &p, err, sizeof(err)) < 0 ? 400 : 0;
    json_decref(root);
    if (status == 0)
        status = sandbox_set_network(sb, &p, err, sizeof(err));
    if (status != 0)
        api_reply_error(req, status, err);
    else
        api_reply_json(req, 204, NULL);
}

/* POST /sandboxes/{id}/pause | /resume, PUT /sandboxes/{id}/network */
static void handle_action(struct worker *w, struct evhttp_request *req, const char *rest)
{
    char id[CUBE_SANDBOX_ID_LEN + 1], err[256];
    const char *slash = strchr(rest, '/');
    struct sandbox *sb;
    int status, net;

    if (!slash || (size_t)(slash - rest) > CUBE_SANDBOX_ID_LEN) {
        api_reply_error(req, 404, "no such endpoint");
        return;
    }
    memcpy(id, rest, (size_t)(slash - rest));
    id[slash - rest] = '\0';
    net = strcmp(slash, "/network") == 0;
    if (!net && strcmp(slash, "/pause") != 0 && strcmp(slash, "/resume") != 0) {
        api_reply_error(req, 404, "no such endpoint");
        return;
    }
    if (evhttp_request_get_command(req) != (net ? EVHTTP_REQ_PUT : EVHTTP_REQ_POST)) {
        api_reply_error(req, 405, "method not allowed");
        return;
    }
    sb = cube_id_valid(id, CUBE_SANDBOX_ID_LEN) ? sandbox_find(w, id) : NULL;
    if (!sb) {
        api_reply_error(req, 404, "sandbox not found");
        return;
    }
    if (net) {
        handle_network(req, sb);
        return;
    }
    status = strcmp(slash, "/pause") == 0 ? sandbox_pause(sb, err, sizeof(err))
                                          : sandbox_resume(sb, err, sizeof(err));
    if (status != 0) {
        api_reply_error(req, status, err);
        return;
    }
    api_reply_json(req, 200, state_api_json(sandbox_record(sb)));
}

static void route(struct evhttp_request *req, void *arg)
{
    struct worker *w = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type m = evhttp_request_get_command(req);

    if (!path) {
        api_reply_error(req, 400, "bad request line");
        return;
    }
    if (strcmp(path, "/health") == 0) {
        if (m == EVHTTP_REQ_GET)
            handle_health(w, req);
        else
            api_reply_error(req, 405, "method not allowed");
    } else if (strcmp(path, "/metrics") == 0) {
        if (m == EVHTTP_REQ_GET)
            api_reply_json(req, 200, metrics_sample_all(w));
        else
            api_reply_error(req, 405, "method not allowed");
    } else if (strcmp(path, "/pool") == 0) {
        if (m == EVHTTP_REQ_GET)
            api_reply_json(req, 200, sandbox_pools_json(w));
        else
            api_reply_error(req, 405, "method not allowed");
    } else if (strcmp(path, "/sandboxes") == 0 || strcmp(path, "/sandboxes/") == 0) {
        if (m == EVHTTP_REQ_GET)
            api_reply_json(req, 200, sandbox_list_json(w));
        else if (m == EVHTTP_REQ_POST)
            handle_create(w, req);
        else
            api_reply_error(req, 405, "method not allowed");
    } else if (strncmp(path, "/sandboxes/", 11) == 0 && !strchr(path + 11, '/')) {
        handle_one(w, req, path + 11);
    } else if (strncmp(path, "/sandboxes/", 11) == 0) {
        handle_action(w, req, path + 11);
    } else {
        api_reply_error(req, 404, "no such endpoint");
    }
}

static evutil_socket_t bind_unix(const char *path)
{
    struct sockaddr_un sa;
    evutil_socket_t fd;
    mode_t old;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        log_error("api: socket path too long: %s", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* A stale socket file from a previous run would make bind fail. */
    if (unlink(path) < 0 && errno != ENOENT)
        log_warn("api: unlink %s: %s", path, strerror(errno));
    /* Create it 0660 without a window where it is more open than that. */
    old = umask(0117);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        umask(old);
        log_error("api: bind %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    umask(old);
    chmod(path, 0660);
    return fd;
}

struct evhttp *worker_api_start(struct worker *w)
{
    struct evconnlistener *lev;
    struct evhttp *http;
    evutil_socket_t fd;

    fd = bind_unix(w->cfg.socket_path);
    if (fd < 0)
        return NULL;
    lev = evconnlistener_new(w->base, NULL, NULL,
                             LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128, fd);
    if (!lev) {
        close(fd);
        return NULL;
    }
    http = evhttp_new(w->base);
    if (!http) {
        evconnlistener_free(lev);
        return NULL;
    }
    /* Let every method through to route() so unsupported ones get a JSON 405 rather
     * than libevent's HTML 501. */
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                         EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                         EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(http, MAX_BODY);
    evhttp_set_default_content_type(http, "application/json");
    evhttp_set_gencb(http, route, w);
    if (!evhttp_bind_listener(http, lev)) {
        evhttp_free(http);
        evconnlistener_free(lev);
        return NULL;
    }
    log_info("api: listening on %s", w->cfg.socket_path);
    return http;
}
