/* Fetching envd's /envs. See ci_envs.h. */
#include "ci_envs.h"

#include "cube_log.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_TIMEOUT_S 3

struct ci_envs_fetch {
    struct evhttp_connection *conn;
    ci_envs_cb cb;
    void *arg;
};

static struct event_base *ebase;
static char envd_host[256] = "127.0.0.1";
static int envd_port = 49983;
static int enabled = 1;

int ci_envs_setup(struct event_base *base, const char *addr)
{
    const char *colon;
    long port;
    char *end;

    ebase = base;
    if (!addr)
        return 0;
    if (!addr[0]) {
        enabled = 0;
        return 0;
    }
    colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(envd_host))
        return -1;
    port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535)
        return -1;
    snprintf(envd_host, sizeof(envd_host), "%.*s", (int)(colon - addr), addr);
    envd_port = (int)port;
    return 0;
}

void ci_envs_cleanup(void)
{
}

static void free_conn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ci_envs_fetch *f = arg;

    (void)fd;
    (void)what;
    if (f->conn)
        evhttp_connection_free(f->conn);
    free(f);
}

static void done_cb(struct evhttp_request *req, void *arg)
{
    struct ci_envs_fetch *f = arg;
    json_t *env = NULL;
    int code = req ? evhttp_request_get_response_code(req) : 0;

    if (code == 200) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(in);
        const char *body = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
        env = body ? json_loadb(body, n, 0, NULL) : NULL;
        if (!json_is_object(env)) {
            json_decref(env);
            env = NULL;
        }
    } else {
        log_debug("envd /envs: %s",
                  code ? "refused" : "unreachable (no envd: outside a sandbox?)");
    }
    if (f->cb)
        f->cb(env, code != 0 && code != 200, f->arg);
    json_decref(env);
    /* The connection cannot be freed from inside its own callback. */
    event_base_once(ebase, -1, EV_TIMEOUT, free_conn_cb, f, NULL);
}

struct ci_envs_fetch *ci_envs_fetch(const char *token, ci_envs_cb cb, void *arg)
{
    struct ci_envs_fetch *f;
    struct evhttp_request *req;
    struct evkeyvalq *h;

    if (!enabled || !ebase)
        return NULL;
    f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->cb = cb;
    f->arg = arg;
    f->conn = evhttp_connection_base_new(ebase, NULL, envd_host, (ev_uint16_t)envd_port);
    req = f->conn ? evhttp_request_new(done_cb, f) : NULL;
    if (!req) {
        if (f->conn)
            evhttp_connection_free(f->conn);
        free(f);
        return NULL;
    }
    evhttp_connection_set_timeout(f->conn, FETCH_TIMEOUT_S);
    evhttp_connection_set_retries(f->conn, 0);
    h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", envd_host);
    if (token && token[0])
        evhttp_add_header(h, "X-Access-Token", token);
    if (evhttp_make_request(f->conn, req, EVHTTP_REQ_GET, "/envs") != 0) {
        /* evhttp frees req on failure */
        evhttp_connection_free(f->conn);
        free(f);
        return NULL;
    }
    return f;
}

void ci_envs_cancel(struct ci_envs_fetch *f)
{
    if (f) {
        f->cb = NULL;
        f->arg = NULL;
    }
}
