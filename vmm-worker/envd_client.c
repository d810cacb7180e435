#include "envd_client.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube_log.h"
#include "cube_time.h"

#define POLL_FIRST_US 1000 /* envd usually answers within a few ms ... */
#define POLL_MAX_US 50000  /* ... but on a loaded node every poll is a connect */
#define INIT_TIMEOUT_S 5

enum probe_phase { PHASE_HEALTH, PHASE_INIT, PHASE_DONE };

struct envd_probe {
    struct event_base *base;
    struct evhttp_connection *conn;
    struct event *timer;
    char addr[64];
    int port;
    char *init_body;
    int64_t deadline_ms;
    int attempts;
    long interval_us; /* current /health poll interval */
    enum probe_phase phase;
    int ok;
    char err[200];
    envd_done_cb cb;
    void *ctx;
};

static void probe_send(struct envd_probe *p);

static void arm(struct envd_probe *p, long usec)
{
    struct timeval tv = {usec / 1000000, usec % 1000000};

    evtimer_add(p->timer, &tv);
}

/* Completion is always delivered from a fresh timer callback: the evhttp connection
 * cannot be freed from inside one of its own request callbacks. */
static void finish(struct envd_probe *p, int ok, const char *err)
{
    p->phase = PHASE_DONE;
    p->ok = ok;
    snprintf(p->err, sizeof(p->err), "%s", err ? err : "");
    arm(p, 0);
}

static void probe_free(struct envd_probe *p)
{
    if (p->conn)
        evhttp_connection_free(p->conn);
    event_free(p->timer);
    free(p->init_body);
    free(p);
}

static void on_health(struct evhttp_request *req, void *arg)
{
    struct envd_probe *p = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;

    if (p->phase != PHASE_HEALTH)
        return;
    if (code >= 200 && code < 300) { /* E2B envd answers 204 */
        log_debug("envd %s healthy after %d attempts", p->addr, p->attempts);
        if (!p->init_body) {
            finish(p, 1, NULL);
            return;
        }
        p->phase = PHASE_INIT;
        arm(p, 0);
        return;
    }
    if (cube_monotonic_ms() >= p->deadline_ms) {
        finish(p, 0, code ? "envd /health kept failing" : "envd did not start listening");
        return;
    }
    /* Back off: a slow start (a node preparing hundreds of sandboxes) must not turn
     * into thousands of refused connects per second from the worker. */
    p->interval_us = p->interval_us ? p->interval_us * 3 / 2 : POLL_FIRST_US;
    if (p->interval_us > POLL_MAX_US)
        p->interval_us = POLL_MAX_US;
    arm(p, p->interval_us);
}

static void on_init(struct evhttp_request *req, void *arg)
{
    struct envd_probe *p = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    char msg[96];

    if (p->phase != PHASE_INIT)
        return;
    if (code >= 200 && code < 300) {
        finish(p, 1, NULL);
        return;
    }
    snprintf(msg, sizeof(msg), "envd /init failed (status %d)", code);
    finish(p, 0, msg);
}

static void probe_send(struct envd_probe *p)
{
    struct evhttp_request *req;
    int is_init = p->phase == PHASE_INIT;

    req = evhttp_request_new(is_init ? on_init : on_health, p);
    if (!req) {
        finish(p, 0, "out of memory");
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", p->addr);
    if (is_init) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), p->init_body,
                     strlen(p->init_body));
    }
    p->attempts++;
    /* On failure libevent frees req itself. */
    if (evhttp_make_request(p->conn, req, is_init ? EVHTTP_REQ_POST : EVHTTP_REQ_GET,
                            is_init ? "/init" : "/health") < 0)
        finish(p, 0, "cannot send request to envd");
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct envd_probe *p = arg;

    (void)fd;
    (void)what;
    if (p->phase == PHASE_DONE) {
        envd_done_cb cb = p->cb;
        void *ctx = p->ctx;
        int ok = p->ok;
        char err[sizeof(p->err)];

        memcpy(err, p->err, sizeof(err));
        probe_free(p);
        cb(ok, err[0] ? err : NULL, ctx);
        return;
    }
    probe_send(p);
}

static struct envd_probe *probe_new(struct event_base *base, const char *addr, int port,
                                    const char *init_body, enum probe_phase first,
                                    int timeout_ms, envd_done_cb cb, void *ctx)
{
    struct envd_probe *p = calloc(1, sizeof(*p));

    if (!p)
        return NULL;
    p->base = base;
    snprintf(p->addr, sizeof(p->addr), "%s", addr);
    p->port = port;
    p->cb = cb;
    p->ctx = ctx;
    p->deadline_ms = cube_monotonic_ms() + timeout_ms;
    p->init_body = init_body ? strdup(init_body) : NULL;
    p->timer = evtimer_new(base, on_timer, p);
    /* One connection object for the whole probe: evhttp reconnects it for every
     * request after a refused connect or a server-side close. */
    p->conn = evhttp_connection_base_new(base, NULL, p->addr, (unsigned short)port);
    if ((init_body && !p->init_body) || !p->timer || !p->conn) {
        probe_free(p);
        return NULL;
    }
    evhttp_connection_set_retries(p->conn, 0);
    evhttp_connection_set_timeout(p->conn, INIT_TIMEOUT_S);
    p->phase = first;
    arm(p, 0);
    return p;
}

struct envd_probe *envd_probe_start(struct event_base *base, const char *addr, int port,
                                    const char *init_body, int timeout_ms,
                                    envd_done_cb cb, void *ctx)
{
    return probe_new(base, addr, port, init_body, PHASE_HEALTH, timeout_ms, cb, ctx);
}

struct envd_probe *envd_init_start(struct event_base *base, const char *addr, int port,
                                   const char *init_body, int timeout_ms, envd_done_cb cb,
                                   void *ctx)
{
    if (!init_body)
        return NULL;
    return probe_new(base, addr, port, init_body, PHASE_INIT, timeout_ms, cb, ctx);
}

void envd_probe_cancel(struct envd_probe *p)
{
    if (p)
        probe_free(p);
}
