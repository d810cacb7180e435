/* cube-ci contexts and executions. See ci_context.h.
 *
 * Single-threaded (the event loop). An execution is either queued on its
 * context, the context's current one (cur), or gone. Its HTTP reply starts
 * at once (so the client gets headers and keepalives while it waits) and ends
 * when the driver reports "done", when the kernel dies, or when the context
 * is restarted or deleted. A client disconnect leaves the execution in place
 * but detached (req NULL): queued, it is dropped when its turn comes;
 * running, the kernel gets SIGINT, and if it is not done within
 * INTERRUPT_GRACE_S it is killed (the next execution starts a fresh one). */
#include "ci_context.h"

#include "ci_envs.h"
#include "ci_kernel.h"
#include "cube_log.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define KEEPALIVE_S 5
#define INTERRUPT_GRACE_S 5
/* Backpressure: past OUT_HIGH bytes unsent to the client, stop reading the
 * kernel's pipes (the code then blocks writing its output); resume once the
 * client has taken all but OUT_LOW. The pipes hold 64 KiB each, so memory
 * per execution stays near OUT_HIGH plus one event line. */
#define OUT_HIGH (1u << 20)
#define OUT_LOW (256u << 10)

struct ci_exec {
    struct ci_exec *next;
    struct ci_ctx *ctx;
    struct evhttp_request *req; /* NULL once the client is gone */
    struct evhttp_connection *evcon;
    struct evbuffer *buf;
    struct event *keepalive_ev;
    char *code;
    json_t *env_vars;
    char *token;
    int running;
    int throttled;                      /* the kernel is paused for us */
    struct evbuffer_cb_entry *drain_cb; /* on the connection's output */
};

struct ci_ctx {
    struct ci_ctx *next;
    char id[40];
    char *language;
    char *cwd;
    int is_default;
    struct ci_kernel *k;
    long long count;
    int env_fetched;
    json_t *global_env; /* fetched, not yet sent to the kernel */
    struct ci_envs_fetch *fetch;
    struct ci_exec *head, *tail;
    struct ci_exec *cur;
    struct event *grace_ev;
};

static struct event_base *cbase;
static struct ci_ctx *ctx_head, *ctx_tail;

static void pump(struct ci_ctx *c);

/* ---------------------------------------------------------------- streams */

static void exec_free(struct ci_exec *e)
{
    if (e->keepalive_ev)
        event_free(e->keepalive_ev);
    if (e->buf)
        evbuffer_free(e->buf);
    free(e->code);
    free(e->token);
    json_decref(e->env_vars);
    free(e);
}

static struct evbuffer *exec_output(struct ci_exec *e)
{
    return bufferevent_get_output(evhttp_connection_get_bufferevent(e->evcon));
}

static void exec_throttle(struct ci_exec *e, int on);

static void output_drained(struct evbuffer *b, const struct evbuffer_cb_info *info,
                           void *arg)
{
    if (info->n_deleted && evbuffer_get_length(b) <= OUT_LOW)
        exec_throttle(arg, 0);
}

/* Pause (on) or resume the kernel on behalf of its current execution. */
static void exec_throttle(struct ci_exec *e, int on)
{
    struct ci_ctx *c = e->ctx;

    if (e->throttled == on)
        return;
    if (on) {
        e->drain_cb = evbuffer_add_cb(exec_output(e), output_drained, e);
        if (!e->drain_cb)
            return; /* cannot be told about the drain: keep reading */
    } else if (e->drain_cb) {
        evbuffer_remove_cb_entry(exec_output(e), e->drain_cb);
        e->drain_cb = NULL;
    }
    e->throttled = on;
    if (c && c->cur == e && c->k)
        ci_kernel_pause(c->k, on);
}

/* Send one line (takes it). */
static void exec_send(struct ci_exec *e, char *line)
{
    struct timeval tv = {KEEPALIVE_S, 0};

    if (line && e->req) {
        evbuffer_add(e->buf, line, strlen(line));
        evhttp_send_reply_chunk(e->req, e->buf);
        evbuffer_drain(e->buf, evbuffer_get_length(e->buf));
        event_add(e->keepalive_ev, &tv);
        if (e->running && evbuffer_get_length(exec_output(e)) > OUT_HIGH)
            exec_throttle(e, 1);
    }
    free(line);
}

/* End the reply (end_of_execution last) and free the execution. */
static void exec_finish(struct ci_exec *e)
{
    if (e->req) {
        exec_throttle(e, 0);
        exec_send(e, ci_line_simple("end_of_execution"));
        evhttp_connection_set_closecb(e->evcon, NULL, NULL);
        evhttp_send_reply_end(e->req);
        e->req = NULL;
    }
    exec_free(e);
}

static void exec_fail(struct ci_exec *e, const char *name, const char *value)
{
    exec_send(e, ci_line_error(name, value, ""));
    exec_finish(e);
}

static void keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    exec_send(arg, ci_line_simple("keepalive"));
}

/* The client went away. */
static void exec_closecb(struct evhttp_connection *evcon, void *arg)
{
    struct ci_exec *e = arg;
    struct ci_ctx *c = e->ctx;

    (void)evcon;
    /* Nobody reads any more: let the code run (its output is dropped). */
    exec_throttle(e, 0);
    if (evhttp_request_get_connection(e->req) == NULL)
        evhttp_send_reply_end(e->req);
    e->req = NULL;
    event_del(e->keepalive_ev);
    if (c && c->cur == e && e->running && c->k) {
        struct timeval tv = {INTERRUPT_GRACE_S, 0};
        log_info("context %s: client gone, interrupting the execution", c->id);
        ci_kernel_interrupt(c->k);
        event_add(c->grace_ev, &tv);
    }
}

/* ---------------------------------------------------------------- kernel */

static void end_current(struct ci_ctx *c, const char *name, const char *value)
{
    struct ci_exec *e = c->cur;

    if (e)
        exec_throttle(e, 0); /* while it is still current: resumes the kernel */
    c->cur = NULL;
    event_del(c->grace_ev);
    if (!e)
        return;
    if (name)
        exec_fail(e, name, value);
    else
        exec_finish(e);
}

static void drop_kernel(struct ci_ctx *c)
{
    if (c->k)
        ci_kernel_kill(c->k);
    c->k = NULL;
    if (c->fetch)
        ci_envs_cancel(c->fetch);
    c->fetch = NULL;
    json_decref(c->global_env);
    c->global_env = NULL;
    c->env_fetched = 0;
    c->count = 0;
}

static void k_output(void *arg, int is_err, const char *text, size_t len)
{
    struct ci_ctx *c = arg;
    struct timespec ts;

    if (!c->cur || !c->cur->running || !c->cur->req)
        return; /* between executions, or nobody listens */
    clock_gettime(CLOCK_REALTIME, &ts);
    exec_send(c->cur, ci_line_stream(is_err ? "stderr" : "stdout", text, len, &ts));
}

static const char *str_field(json_t *ev, const char *key)
{
    return json_string_value(json_object_get(ev, key));
}

static void k_event(void *arg, json_t *ev)
{
    struct ci_ctx *c = arg;
    const char *type = str_field(ev, "type");

    if (!type || !c->cur)
        return;
    if (!strcmp(type, "result")) {
        exec_send(c->cur, ci_line_result(json_object_get(ev, "data"),
                                         json_is_true(json_object_get(ev, "main"))));
    } else if (!strcmp(type, "error")) {
        exec_send(c->cur, ci_line_error(str_field(ev, "name"), str_field(ev, "value"),
                                        str_field(ev, "traceback")));
    } else if (!strcmp(type, "done")) {
        ci_kernel_drain(c->k);
        end_current(c, NULL, NULL);
        pump(c);
    }
}

static void k_exited(void *arg)
{
    struct ci_ctx *c = arg;

    log_warn("context %s: kernel exited", c->id);
    c->k = NULL;
    drop_kernel(c);
    end_current(c, "UnexpectedEndOfExecution",
                "The kernel exited before the execution was finished");
    pump(c);
}

static const struct ci_kernel_ops kernel_ops = {k_output, k_event, k_exited};

/* The interrupted code did not stop in time: kill the kernel. */
static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ci_ctx *c = arg;

    (void)fd;
    (void)what;
    log_warn("context %s: execution ignored the interrupt; restarting the kernel", c->id);
    drop_kernel(c);
    end_current(c, NULL, NULL);
    pump(c);
}

/* Send the current execution to the kernel. */
static void exec_start(struct ci_ctx *c)
{
    struct ci_exec *e = c->cur;
    json_t *req = json_pack("{s:s}", "code", e->code);

    e->running = 1;
    c->count++;
    exec_send(e, ci_line_count(c->count));
    if (req && e->env_vars)
        json_object_set(req, "env_vars", e->env_vars);
    if (req && c->global_env)
        json_object_set_new(req, "global_env", c->global_env);
    c->global_env = NULL;
    if (!req || ci_kernel_send(c->k, req) != 0) {
        json_decref(req);
        end_current(c, "InternalError", "cannot send the code to the kernel");
        return;
    }
    json_decref(req);
}

static void envs_cb(json_t *env, int refused, void *arg)
{
    struct ci_ctx *c = arg;

    c->fetch = NULL;
    /* Refused (no or a wrong token): ask again with the next execution's. */
    c->env_fetched = env || !refused;
    if (env)
        c->global_env = json_incref(env);
    if (!c->cur)
        return;
    if (!c->cur->req) {
        end_current(c, NULL, NULL); /* its client left while we waited */
        pump(c);
        return;
    }
    exec_start(c);
    if (!c->cur)
        pump(c);
}

static void pump(struct ci_ctx *c)
{
    char err[512];

    while (!c->cur && c->head) {
        struct ci_exec *e = c->head;

        c->head = e->next;
        if (!c->head)
            c->tail = NULL;
        e->next = NULL;
        if (!e->req) {
            exec_free(e);
            continue;
        }
        c->cur = e;
        if (!c->k) {
            drop_kernel(c);
            c->k = ci_kernel_start(c->language, c->cwd, &kernel_ops, c, err, sizeof(err));
            if (!c->k) {
                log_warn("context %s: %s", c->id, err);
                end_current(c, "KernelError", err);
                continue;
            }
        }
        if (!c->env_fetched) {
            c->fetch = ci_envs_fetch(e->token, envs_cb, c);
            if (c->fetch)
                return; /* envs_cb goes on */
            c->env_fetched = 1;
        }
        exec_start(c);
    }
}

void ci_execute(struct evhttp_request *req, struct ci_ctx *c, struct ci_execute_req *r)
{
    struct ci_exec *e = calloc(1, sizeof(*e));
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    const char *token =
        evhttp_find_header(evhttp_request_get_input_headers(req), "X-Access-Token");
    struct timeval tv = {KEEPALIVE_S, 0};

    if (!e || !(e->buf = evbuffer_new()) ||
        !(e->keepalive_ev = event_new(cbase, -1, 0, keepalive_cb, e)) ||
        !(e->evcon = evhttp_request_get_connection(req)) ||
        (token && !(e->token = strdup(token)))) {
        if (e)
            exec_free(e);
        ci_execute_req_free(r);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    e->ctx = c;
    e->req = req;
    e->code = r->code;
    e->env_vars = r->env_vars;
    r->code = NULL;
    r->env_vars = NULL;
    ci_execute_req_free(r);

    evhttp_add_header(h, "Content-Type", "application/x-ndjson");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Accel-Buffering", "no");
    evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
    evhttp_send_reply_start(req, 200, "OK");
    evhttp_connection_set_closecb(e->evcon, exec_closecb, e);
    /* Executions may be silent for long; keepalives, not timeouts, rule. */
    bufferevent_set_timeouts(evhttp_connection_get_bufferevent(e->evcon), NULL, NULL);
    event_add(e->keepalive_ev, &tv);

    if (c->tail)
        c->tail->next = e;
    else
        c->head = e;
    c->tail = e;
    pump(c);
}

/* ---------------------------------------------------------------- contexts */

void ci_contexts_init(struct event_base *base)
{
    cbase = base;
}

static void make_id(char *out)
{
    unsigned char b[16];
    size_t got = 0;

    while (got < sizeof(b)) {
        ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
        if (r <= 0) {
            /* Practically impossible; keep ids unique anyway. */
            static unsigned long n;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            snprintf((char *)b, sizeof(b), "%08lx%07lx", (unsigned long)ts.tv_nsec, ++n);
            break;
        }
        got += (size_t)r;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
}

struct ci_ctx *ci_context_create(const char *language, const char *cwd, int is_default)
{
    struct ci_ctx *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->language = strdup(language);
    c->cwd = strdup(cwd);
    c->grace_ev = event_new(cbase, -1, 0, grace_cb, c);
    if (!c->language || !c->cwd || !c->grace_ev) {
        free(c->language);
        free(c->cwd);
        if (c->grace_ev)
            event_free(c->grace_ev);
        free(c);
        return NULL;
    }
    make_id(c->id);
    c->is_default = is_default;
    if (ctx_tail)
        ctx_tail->next = c;
    else
        ctx_head = c;
    ctx_tail = c;
    log_info("context %s (%s, %s) created", c->id, c->language, c->cwd);
    return c;
}

struct ci_ctx *ci_context_find(const char *id)
{
    for (struct ci_ctx *c = ctx_head; c; c = c->next)
        if (!strcmp(c->id, id))
            return c;
    return NULL;
}

struct ci_ctx *ci_context_default(const char *language)
{
    for (struct ci_ctx *c = ctx_head; c; c = c->next)
        if (c->is_default && !strcmp(c->language, language))
            return c;
    return ci_context_create(language, CI_DEFAULT_CWD, 1);
}

json_t *ci_context_json(const struct ci_ctx *c)
{
    return json_pack("{s:s,s:s,s:s}", "id", c->id, "language", c->language, "cwd",
                     c->cwd);
}

json_t *ci_context_list(void)
{
    json_t *arr = json_array();

    for (struct ci_ctx *c = ctx_head; c && arr; c = c->next)
        json_array_append_new(arr, ci_context_json(c));
    return arr;
}

void ci_context_restart(struct ci_ctx *c)
{
    log_info("context %s: restart", c->id);
    drop_kernel(c);
    end_current(c, "ContextRestarting", "The context was restarted");
    pump(c);
}

void ci_context_delete(struct ci_ctx *c)
{
    struct ci_ctx **pp;

    log_info("context %s: deleted", c->id);
    drop_kernel(c);
    end_current(c, "ContextDeleted", "The context was deleted");
    while (c->head) {
        struct ci_exec *e = c->head;
        c->head = e->next;
        if (e->req)
            evhttp_connection_set_closecb(e->evcon, NULL, NULL);
        exec_fail(e, "ContextDeleted", "The context was deleted");
    }
    for (pp = &ctx_head; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    ctx_tail = NULL;
    for (struct ci_ctx *t = ctx_head; t; t = t->next)
        ctx_tail = t;
    event_free(c->grace_ev);
    free(c->language);
    free(c->cwd);
    free(c);
}

void ci_contexts_shutdown(void)
{
    while (ctx_head)
        ci_context_delete(ctx_head);
}
