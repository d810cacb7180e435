#include "envd_client.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cube_chan.h"
#include "cube_log.h"

#define INIT_TIMEOUT_S 5
/* Datagrams up to this size fit the default socket buffer; larger inits (big envVars)
 * get a buffer of their own size first. */
#define CHAN_DEFAULT_MAX (64u << 10)

/* ---- the channel ----------------------------------------------------------------- */

struct envd_chan {
    int fd;
    int ready;
    struct event *ev;
    struct event *timer; /* READY deadline */
    envd_chan_cb cb;
    void *ctx;
};

void envd_chan_free(struct envd_chan *c)
{
    if (!c)
        return;
    if (c->ev)
        event_free(c->ev);
    if (c->timer)
        event_free(c->timer);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

/* Report LOST once and stop watching; the callee may free c. */
static void chan_lost(struct envd_chan *c, const char *why)
{
    event_del(c->ev);
    event_del(c->timer);
    c->cb(ENVD_CHAN_LOST, why, c->ctx);
}

static void on_chan(evutil_socket_t fd, short what, void *arg)
{
    struct envd_chan *c = arg;
    char buf[16];
    ssize_t n;

    (void)what;
    do {
        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n == 1 && buf[0] == CUBE_CHAN_READY && !c->ready) {
        c->ready = 1;
        event_del(c->timer);
        c->cb(ENVD_CHAN_READY, NULL, c->ctx);
        return;
    }
    if (n == 0)
        chan_lost(c, c->ready ? "envd exited" : "envd exited before it was ready");
    else if (n < 0)
        chan_lost(c, "envd channel failed");
    else
        chan_lost(c, "unexpected message from envd");
}

static void on_chan_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    chan_lost(arg, "envd did not start listening");
}

/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): fd, then its timeout */
struct envd_chan *envd_chan_watch(struct event_base *base, int fd, int timeout_ms,
                                  envd_chan_cb cb, void *ctx)
{
    struct envd_chan *c = calloc(1, sizeof(*c));
    struct timeval tv = {timeout_ms / 1000, (suseconds_t)(timeout_ms % 1000) * 1000};

    if (!c) {
        close(fd);
        return NULL;
    }
    c->fd = fd;
    c->cb = cb;
    c->ctx = ctx;
    c->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_chan, c);
    c->timer = evtimer_new(base, on_chan_timeout, c);
    if (!c->ev || !c->timer || evutil_make_socket_nonblocking(fd) < 0 ||
        event_add(c->ev, NULL) < 0 || evtimer_add(c->timer, &tv) < 0) {
        envd_chan_free(c);
        return NULL;
    }
    return c;
}

int envd_chan_send_init(struct envd_chan *c, const char *body, char *err, int errlen)
{
    size_t len = strlen(body) + 1;
    char *msg = malloc(len);
    ssize_t n;
    int rc = -1;

    if (!msg) {
        (void)snprintf(err, (size_t)errlen, "out of memory");
        envd_chan_free(c);
        return -1;
    }
    msg[0] = CUBE_CHAN_INIT;
    memcpy(msg + 1, body, len - 1);
    if (len > CUBE_CHAN_MAX) {
        (void)snprintf(err, (size_t)errlen, "init for envd too large (%zu bytes)", len);
        goto out;
    }
    if (len > CHAN_DEFAULT_MAX) {
        /* A datagram must fit the sender's buffer whole. FORCE: beyond wmem_max (we
         * are root); plain SO_SNDBUF as the fallback. */
        int sz = (int)len + 4096;

        if (setsockopt(c->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
            setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    /* One datagram: queued whole or not at all. Nothing else is ever queued on this
     * socket, so it does not block. */
    do {
        n = send(c->fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)len)
        rc = 0;
    else if (n < 0 && errno == EPIPE)
        (void)snprintf(err, (size_t)errlen, "envd exited before init");
    else
        (void)snprintf(err, (size_t)errlen, "send init to envd: %s",
                       n < 0 ? strerror(errno) : "short write");
out:
    free(msg);
    envd_chan_free(c);
    return rc;
}

/* ---- POST /init ------------------------------------------------------------------ */

struct envd_probe {
    struct evhttp_connection *conn;
    struct event *timer;
    char addr[64];
    char *init_body;
    int done, ok;
    char err[200];
    envd_done_cb cb;
    void *ctx;
};

static void probe_free(struct envd_probe *p)
{
    if (p->conn)
        evhttp_connection_free(p->conn);
    event_free(p->timer);
    free(p->init_body);
    free(p);
}

/* Completion is always delivered from a fresh timer callback: the evhttp connection
 * cannot be freed from inside one of its own request callbacks. */
static void finish(struct envd_probe *p, int ok, const char *err)
{
    struct timeval tv = {0, 0};

    p->done = 1;
    p->ok = ok;
    (void)snprintf(p->err, sizeof(p->err), "%s", err ? err : "");
    evtimer_add(p->timer, &tv);
}

static void on_init(struct evhttp_request *req, void *arg)
{
    struct envd_probe *p = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    char msg[96];

    if (p->done)
        return;
    if (code >= 200 && code < 300) {
        finish(p, 1, NULL);
        return;
    }
    (void)snprintf(msg, sizeof(msg), "envd /init failed (status %d)", code);
    finish(p, 0, msg);
}

static void probe_send(struct envd_probe *p)
{
    struct evhttp_request *req = evhttp_request_new(on_init, p);
    struct evkeyvalq *h;

    if (!req) {
        finish(p, 0, "out of memory");
        return;
    }
    h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", p->addr);
    evhttp_add_header(h, "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), p->init_body,
                 strlen(p->init_body));
    /* On failure libevent frees req itself. */
    if (evhttp_make_request(p->conn, req, EVHTTP_REQ_POST, "/init") < 0)
        finish(p, 0, "cannot send request to envd");
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct envd_probe *p = arg;
    envd_done_cb cb = p->cb;
    void *ctx = p->ctx;
    int ok = p->ok;
    char err[sizeof(p->err)];

    (void)fd;
    (void)what;
    if (!p->done) {
        probe_send(p);
        return;
    }
    memcpy(err, p->err, sizeof(err));
    probe_free(p);
    cb(ok, err[0] ? err : NULL, ctx);
}

struct envd_probe *envd_init_start(struct event_base *base, const char *addr, int port,
                                   const char *init_body, int timeout_ms, envd_done_cb cb,
                                   void *ctx)
{
    struct envd_probe *p;
    struct timeval tv = {0, 0};
    int timeout_s =
        timeout_ms / 1000 > INIT_TIMEOUT_S ? timeout_ms / 1000 : INIT_TIMEOUT_S;

    if (!init_body || (p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    (void)snprintf(p->addr, sizeof(p->addr), "%s", addr);
    p->cb = cb;
    p->ctx = ctx;
    p->init_body = strdup(init_body);
    p->timer = evtimer_new(base, on_timer, p);
    p->conn = evhttp_connection_base_new(base, NULL, p->addr, (unsigned short)port);
    if (!p->init_body || !p->timer || !p->conn) {
        if (p->timer)
            event_free(p->timer);
        if (p->conn)
            evhttp_connection_free(p->conn);
        free(p->init_body);
        free(p);
        return NULL;
    }
    evhttp_connection_set_retries(p->conn, 0);
    evhttp_connection_set_timeout(p->conn, timeout_s);
    /* Sent from the loop, so the callback never runs inside this call. */
    evtimer_add(p->timer, &tv);
    return p;
}

void envd_probe_cancel(struct envd_probe *p)
{
    if (p)
        probe_free(p);
}
