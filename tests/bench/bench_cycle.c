/* cube-bench cycles: every mode is a short chain of HTTP steps on one slot (one
 * connection set). A step is timed into one of the mode's series; a cycle ends when the
 * chain does, and its total time or first failure is what the headline counts. */
#include "bench.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

const char *const bench_mode_names[MODE_COUNT] = {
    "create-delete", "create-only", "create-exec-delete",
    "exec",          "resume",      "route",
    "files",         "health",      "delete",
    "run-code"};

double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int bench_series_names(enum mode m, const char **names)
{
    switch (m) {
    case MODE_CREATE_EXEC_DELETE:
        names[0] = "cycle";
        names[1] = "create";
        names[2] = "exec";
        names[3] = "delete";
        return 4;
    case MODE_RESUME:
        names[0] = "resume";
        names[1] = "pause";
        names[2] = "first-request";
        return 3;
    case MODE_ROUTE:
        names[0] = "routed";
        names[1] = "direct";
        return 2;
    case MODE_FILES:
        names[0] = "upload-routed";
        names[1] = "download-routed";
        names[2] = "upload-direct";
        names[3] = "download-direct";
        return 4;
    case MODE_CREATE_ONLY:
        names[0] = "create";
        return 1;
    case MODE_EXEC: /* to the end of the stream; to its first and its end event */
        names[0] = "exec";
        names[1] = "start-event";
        names[2] = "end-event";
        return 3;
    default:
        names[0] = bench_mode_names[m];
        return 1;
    }
}

static void record(struct slot *s, int series, double ms)
{
    struct series *se = &s->b->st.s[series];
    if (s->measure && series < s->b->st.nseries)
        se->lat_ms[se->n++] = ms;
}

static void slot_finish(struct slot *s, int ok)
{
    struct bench *b = s->b;
    enum mode m = b->cfg.mode;
    if (s->cycle_measured && !ok)
        b->st.errors++;
    else if (s->measure && ok &&
             (m == MODE_CREATE_DELETE || m == MODE_CREATE_EXEC_DELETE || m == MODE_EXEC ||
              m == MODE_RUN_CODE))
        record(s, 0, now_ms() - s->t0); /* whole cycle is the headline */
    b->st.done++;
    if (b->st.done >= b->total) {
        b->st.t_end = now_ms();
        event_base_loopexit(b->base, NULL);
    }
    slot_start(s);
}

static struct evhttp_request *
new_req(struct slot *s, void (*cb)(struct evhttp_request *, void *), const char *host)
{
    struct evhttp_request *req = evhttp_request_new(cb, s);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", host);
    evhttp_add_header(h, "User-Agent", "cube-bench/1");
    return req;
}

static char *body_string(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *s = malloc(n + 1);
    if (s == NULL)
        return NULL;
    evbuffer_remove(in, s, n);
    s[n] = '\0';
    return s;
}

/* ---- generic timed steps (everything but create and exec) ---- */

static void run_step(struct slot *s);

static void on_step_chunk(struct evhttp_request *req, void *arg)
{
    struct slot *s = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    s->got_bytes += evbuffer_get_length(in);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void on_step_done(struct evhttp_request *req, void *arg)
{
    struct slot *s = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    double ms = now_ms() - s->ts;

    if (req)
        on_step_chunk(req, s);
    if (code == 0 || (code != s->want1 && code != s->want2)) {
        fprintf(stderr, "%s step %d on %s: HTTP %d\n", bench_mode_names[s->b->cfg.mode],
                s->step, s->sandbox_id, code);
        slot_finish(s, 0);
        return;
    }
    if (s->b->cfg.mode == MODE_FILES && (s->step & 1) &&
        s->got_bytes != s->b->cfg.file_bytes) {
        fprintf(stderr, "download from %s: %zu bytes, want %zu\n", s->sandbox_id,
                s->got_bytes, s->b->cfg.file_bytes);
        slot_finish(s, 0);
        return;
    }
    record(s, s->series, ms);
    s->step++;
    run_step(s);
}

/* A request for step `series`; routed ones go to the router with the sandbox headers,
 * direct ones straight to envd at the sandbox's address. */
static struct evhttp_request *step_req(struct slot *s, int series, int want1, int want2,
                                       const char *host, int routed)
{
    struct evhttp_request *req = new_req(s, on_step_done, host);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    s->series = series;
    s->want1 = want1;
    s->want2 = want2;
    s->got_bytes = 0;
    if (routed) {
        evhttp_add_header(h, "E2b-Sandbox-Id", s->sandbox_id);
        evhttp_add_header(h, "E2b-Sandbox-Port", "49983");
    }
    evhttp_request_set_chunked_cb(req, on_step_chunk);
    s->ts = now_ms();
    return req;
}

static void api_step(struct slot *s, int series, int want1, int want2,
                     enum evhttp_cmd_type method, const char *suffix, const char *body)
{
    char path[160];
    struct evhttp_request *req = step_req(s, series, want1, want2, s->b->cfg.api_host, 0);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "X-API-Key", s->b->cfg.api_key);
    if (body) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    }
    snprintf(path, sizeof(path), "/sandboxes/%s%s", s->sandbox_id, suffix);
    evhttp_make_request(s->api, req, method, path);
}

static void health_step(struct slot *s, int series, int routed)
{
    struct evhttp_request *req =
        step_req(s, series, 204, 200, routed ? s->b->cfg.sb_host : s->addr, routed);
    evhttp_make_request(routed ? s->sb : s->direct, req, EVHTTP_REQ_GET, "/health");
}

static void files_step(struct slot *s, int series, int routed, int upload)
{
    char path[128];
    struct evhttp_request *req =
        step_req(s, series, 200, 200, routed ? s->b->cfg.sb_host : s->addr, routed);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (s->token[0])
        evhttp_add_header(h, "X-Access-Token", s->token);
    snprintf(path, sizeof(path), "/files?path=/tmp/cube-bench-%d.bin&username=user",
             s->idx);
    if (upload) {
        evhttp_add_header(h, "Content-Type", "application/octet-stream");
        evbuffer_add_reference(evhttp_request_get_output_buffer(req), s->b->payload,
                               s->b->cfg.file_bytes, NULL, NULL);
    }
    evhttp_make_request(routed ? s->sb : s->direct, req,
                        upload ? EVHTTP_REQ_POST : EVHTTP_REQ_GET, path);
}

static void run_step(struct slot *s)
{
    char body[64];

    switch (s->b->cfg.mode) {
    case MODE_RESUME: /* pause -> connect (resumes) -> first routed request */
        snprintf(body, sizeof(body), "{\"timeout\":%d}", s->b->cfg.timeout_s);
        if (s->step == 0)
            api_step(s, 1, 204, 204, EVHTTP_REQ_POST, "/pause", NULL);
        else if (s->step == 1)
            api_step(s, 0, 201, 200, EVHTTP_REQ_POST, "/connect", body);
        else if (s->step == 2)
            health_step(s, 2, 1);
        else
            slot_finish(s, 1);
        return;
    case MODE_ROUTE:
        if (s->step < 2)
            health_step(s, s->step, s->step == 0);
        else
            slot_finish(s, 1);
        return;
    case MODE_FILES: /* routed up, routed down, direct up, direct down */
        if (s->step < 4)
            files_step(s, s->step, s->step < 2, !(s->step & 1));
        else
            slot_finish(s, 1);
        return;
    case MODE_HEALTH:
        if (s->step == 0)
            health_step(s, 0, 1);
        else
            slot_finish(s, 1);
        return;
    case MODE_DELETE:
        if (s->step == 0)
            api_step(s, 0, 204, 204, EVHTTP_REQ_DELETE, "", NULL);
        else
            slot_finish(s, 1);
        return;
    default:
        slot_finish(s, 0);
    }
}

/* ---- delete at the end of create cycles ---- */

static void on_deleted(struct evhttp_request *req, void *arg)
{
    struct slot *s = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (code != 204) {
        fprintf(stderr, "delete %s: HTTP %d\n", s->sandbox_id, code);
        s->failed = 1;
    }
    if (!s->failed && s->b->cfg.mode == MODE_CREATE_EXEC_DELETE)
        record(s, 3, now_ms() - s->ts);
    slot_finish(s, !s->failed);
}

static void do_delete(struct slot *s)
{
    char path[128];
    struct evhttp_request *req = new_req(s, on_deleted, s->b->cfg.api_host);
    evhttp_add_header(evhttp_request_get_output_headers(req), "X-API-Key",
                      s->b->cfg.api_key);
    snprintf(path, sizeof(path), "/sandboxes/%s", s->sandbox_id);
    s->ts = now_ms();
    evhttp_make_request(s->api, req, EVHTTP_REQ_DELETE, path);
}

/* ---- exec (Connect server stream) ---- */

/* Walk complete envelopes; remember whether the end-stream arrived without error. */
static void scan_envelopes(struct slot *s)
{
    for (;;) {
        unsigned char hdr[5];
        uint32_t len;
        char *msg;
        if (evbuffer_copyout(s->stream, hdr, 5) < 5)
            return;
        len = (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 |
              hdr[4];
        if (evbuffer_get_length(s->stream) < 5 + (size_t)len)
            return;
        evbuffer_drain(s->stream, 5);
        msg = malloc((size_t)len + 1);
        if (msg == NULL) {
            s->got_end = -1;
            return;
        }
        evbuffer_remove(s->stream, msg, len);
        msg[len] = '\0';
        if (hdr[0] & 0x02) {
            s->got_end = strstr(msg, "\"error\"") ? -1 : 1;
            if (s->got_end < 0)
                fprintf(stderr, "exec stream error: %s\n", msg);
        } else if (strstr(msg, "\"end\"") && strstr(msg, "\"exitCode\"")) {
            fprintf(stderr, "exec non-zero exit: %s\n", msg);
            s->failed = 1;
        } else if (s->b->cfg.mode == MODE_EXEC && strstr(msg, "\"start\"")) {
            record(s, 1, now_ms() - s->ts);
        } else if (s->b->cfg.mode == MODE_EXEC && strstr(msg, "\"end\"")) {
            record(s, 2, now_ms() - s->ts);
        }
        free(msg);
    }
}

/* --quickack: acknowledge what just arrived at once instead of after the kernel's
 * delayed-ACK timer (40 ms). A diagnostic, not what the SDK does: a server that
 * leaves Nagle's algorithm on holds its next small write until that ACK. */
static void quickack(struct slot *s)
{
    struct bufferevent *bev;
    evutil_socket_t fd;
    int one = 1;

    if (!s->b->cfg.quickack)
        return;
    bev = evhttp_connection_get_bufferevent(s->sb);
    fd = bev ? bufferevent_getfd(bev) : -1;
    if (fd >= 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

static void on_exec_chunk(struct evhttp_request *req, void *arg)
{
    struct slot *s = arg;
    quickack(s);
    evbuffer_add_buffer(s->stream, evhttp_request_get_input_buffer(req));
    scan_envelopes(s);
}

static void on_exec_done(struct evhttp_request *req, void *arg)
{
    struct slot *s = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (req)
        evbuffer_add_buffer(s->stream, evhttp_request_get_input_buffer(req));
    scan_envelopes(s);
    if (code != 200 || s->got_end != 1) {
        fprintf(stderr, "exec in %s: HTTP %d, end=%d\n", s->sandbox_id, code, s->got_end);
        s->failed = 1;
    }
    if (s->b->cfg.mode == MODE_EXEC) {
        slot_finish(s, !s->failed);
        return;
    }
    record(s, 2, now_ms() - s->ts);
    do_delete(s);
}

static void do_exec(struct slot *s)
{
    struct config *c = &s->b->cfg;
    struct evhttp_request *req = new_req(s, on_exec_done, c->sb_host);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    unsigned char hdr[5];
    /* What commands.run(CMD) sends (or, --no-shell, CMD run as the program). */
    json_t *j = c->no_shell
                    ? json_pack("{s:{s:s},s:b}", "process", "cmd", c->command, "stdin", 0)
                    : json_pack("{s:{s:s,s:[s,s,s]},s:b}", "process", "cmd", "/bin/bash",
                                "args", "-l", "-c", c->command, "stdin", 0);
    char *js = json_dumps(j, JSON_COMPACT);
    size_t n = js ? strlen(js) : 0;

    json_decref(j);
    hdr[0] = 0;
    hdr[1] = (unsigned char)(n >> 24);
    hdr[2] = (unsigned char)(n >> 16);
    hdr[3] = (unsigned char)(n >> 8);
    hdr[4] = (unsigned char)n;
    evbuffer_add(out, hdr, 5);
    evbuffer_add(out, js ? js : "", n);
    free(js);
    evhttp_add_header(h, "Content-Type", "application/connect+json");
    evhttp_add_header(h, "Connect-Protocol-Version", "1");
    /* The SDK's defaults: envd arms a process deadline and a keepalive timer. */
    evhttp_add_header(h, "Connect-Timeout-Ms", "60000");
    evhttp_add_header(h, "Keepalive-Ping-Interval", "50");
    evhttp_add_header(h, "E2b-Sandbox-Id", s->sandbox_id);
    evhttp_add_header(h, "E2b-Sandbox-Port", "49983");
    if (s->token[0])
        evhttp_add_header(h, "X-Access-Token", s->token);
    evbuffer_drain(s->stream, evbuffer_get_length(s->stream));
    s->got_end = 0;
    s->ts = now_ms();
    evhttp_request_set_chunked_cb(req, on_exec_chunk);
    evhttp_make_request(s->sb, req, EVHTTP_REQ_POST, "/process.Process/Start");
}

/* ---- run-code (code interpreter /execute, NDJSON stream) ---- */

/* Walk complete lines: a main result counts, an error line fails the cycle. */
static void scan_lines(struct slot *s)
{
    struct evbuffer_ptr eol;

    while ((eol = evbuffer_search(s->stream, "\n", 1, NULL)).pos >= 0) {
        size_t n = (size_t)eol.pos;
        char *line = malloc(n + 1);
        json_t *j;
        const char *type;

        if (line == NULL) {
            s->got_result = -1;
            return;
        }
        evbuffer_remove(s->stream, line, n);
        evbuffer_drain(s->stream, 1);
        line[n] = '\0';
        j = json_loads(line, 0, NULL);
        type = j ? json_string_value(json_object_get(j, "type")) : NULL;
        if (type == NULL) {
            (void)fprintf(stderr, "run-code: not an NDJSON event: %.200s\n", line);
            s->got_result = -1;
        } else if (strcmp(type, "error") == 0) {
            (void)fprintf(stderr, "run-code error: %.300s\n", line);
            s->got_result = -1;
        } else if (strcmp(type, "result") == 0 && s->got_result == 0 &&
                   json_is_true(json_object_get(j, "is_main_result"))) {
            s->got_result = 1;
        } else if (strcmp(type, "end_of_execution") == 0) {
            s->got_end = 1;
        }
        json_decref(j);
        free(line);
    }
}

static void on_code_chunk(struct evhttp_request *req, void *arg)
{
    struct slot *s = arg;
    quickack(s);
    evbuffer_add_buffer(s->stream, evhttp_request_get_input_buffer(req));
    scan_lines(s);
}

static void on_code_done(struct evhttp_request *req, void *arg)
{
    struct slot *s = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (req)
        evbuffer_add_buffer(s->stream, evhttp_request_get_input_buffer(req));
    scan_lines(s);
    if (code != 200 || s->got_end != 1 || s->got_result != 1) {
        (void)fprintf(stderr, "run-code in %s: HTTP %d, end=%d, result=%d\n",
                      s->sandbox_id, code, s->got_end, s->got_result);
        s->failed = 1;
    }
    slot_finish(s, !s->failed);
}

/* What runCode(CMD) sends: the default python context, its token, port 49999. */
static void do_run_code(struct slot *s)
{
    struct config *c = &s->b->cfg;
    struct evhttp_request *req = new_req(s, on_code_done, c->sb_host);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    json_t *j = json_pack("{s:s}", "code", c->command);
    char *js = json_dumps(j, JSON_COMPACT);

    json_decref(j);
    evbuffer_add(evhttp_request_get_output_buffer(req), js ? js : "",
                 js ? strlen(js) : 0);
    free(js);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "E2b-Sandbox-Id", s->sandbox_id);
    evhttp_add_header(h, "E2b-Sandbox-Port", "49999");
    if (s->token[0])
        evhttp_add_header(h, "X-Access-Token", s->token);
    evbuffer_drain(s->stream, evbuffer_get_length(s->stream));
    s->got_end = s->got_result = 0;
    s->ts = now_ms();
    evhttp_request_set_chunked_cb(req, on_code_chunk);
    evhttp_make_request(s->sb, req, EVHTTP_REQ_POST, "/execute");
}

/* ---- create ---- */

/* Parse a create answer into s; 0, or -1 (reported) when it is not a 201 sandbox. */
static int take_created(struct slot *s, struct evhttp_request *req)
{
    int code = req ? evhttp_request_get_response_code(req) : 0;
    char *body = req ? body_string(req) : NULL;
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    const char *id = j ? json_string_value(json_object_get(j, "sandboxID")) : NULL;
    const char *tok = j ? json_string_value(json_object_get(j, "envdAccessToken")) : NULL;
    int rc = -1;

    if (code == 201 && id != NULL) {
        snprintf(s->sandbox_id, sizeof(s->sandbox_id), "%s", id);
        snprintf(s->token, sizeof(s->token), "%s", tok ? tok : "");
        rc = 0;
    } else {
        fprintf(stderr, "create: HTTP %d %s\n", code, body ? body : "(no response)");
    }
    free(body);
    json_decref(j);
    return rc;
}

static void keep_id(struct bench *b, const char *id)
{
    char *copy = strdup(id);
    if (copy)
        b->ids[b->nids++] = copy;
}

static void on_created(struct evhttp_request *req, void *arg)
{
    struct slot *s = arg;

    if (take_created(s, req) != 0) {
        slot_finish(s, 0);
        return;
    }
    switch (s->b->cfg.mode) {
    case MODE_CREATE_EXEC_DELETE:
        record(s, 1, now_ms() - s->t0);
        do_exec(s);
        break;
    case MODE_CREATE_ONLY:
        /* Time the create only; delete (or keep) outside the measurement. */
        record(s, 0, now_ms() - s->t0);
        s->measure = 0;
        if (s->b->cfg.keep_file) {
            keep_id(s->b, s->sandbox_id);
            slot_finish(s, 1);
        } else {
            do_delete(s);
        }
        break;
    default:
        do_delete(s);
    }
}

static void do_create(struct slot *s, void (*cb)(struct evhttp_request *, void *))
{
    struct config *c = &s->b->cfg;
    struct evhttp_request *req = new_req(s, cb, c->api_host);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char body[256];

    snprintf(body, sizeof(body), "{\"templateID\":\"%s\",\"timeout\":%d}", c->template_id,
             c->timeout_s);
    evhttp_add_header(h, "X-API-Key", c->api_key);
    evhttp_add_header(h, "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    evhttp_make_request(s->api, req, EVHTTP_REQ_POST, "/v2/sandboxes");
}

void slot_start(struct slot *s)
{
    struct bench *b = s->b;
    if (b->st.started >= b->total)
        return;
    s->measure = s->cycle_measured = b->st.started >= b->cfg.warmup;
    if (s->measure && b->st.t_start == 0)
        b->st.t_start = now_ms();
    s->failed = 0;
    s->step = 0;
    s->t0 = now_ms();
    switch (b->cfg.mode) {
    case MODE_CREATE_DELETE:
    case MODE_CREATE_ONLY:
    case MODE_CREATE_EXEC_DELETE:
        b->st.started++;
        do_create(s, on_created);
        break;
    case MODE_EXEC:
        b->st.started++;
        do_exec(s);
        break;
    case MODE_RUN_CODE:
        b->st.started++;
        do_run_code(s);
        break;
    case MODE_HEALTH:
    case MODE_DELETE:
        snprintf(s->sandbox_id, sizeof(s->sandbox_id), "%s", b->ids[b->st.started++]);
        run_step(s);
        break;
    default:
        b->st.started++;
        run_step(s);
    }
}

/* ---- one sandbox per slot (exec, resume, route, files) ---- */

static void on_setup_created(struct evhttp_request *req, void *arg)
{
    struct slot *s = arg;
    s->failed = take_created(s, req) != 0;
    event_base_loopexit(s->b->base, NULL);
}

int slot_create_sandbox(struct slot *s)
{
    const struct config *c = &s->b->cfg;

    if (c->sandbox_id) { /* given: no API call (it may be out of reach) */
        (void)snprintf(s->sandbox_id, sizeof(s->sandbox_id), "%s", c->sandbox_id);
        (void)snprintf(s->token, sizeof(s->token), "%s", c->token ? c->token : "");
        return 0;
    }
    s->sandbox_id[0] = '\0';
    do_create(s, on_setup_created);
    event_base_dispatch(s->b->base);
    return s->failed || !s->sandbox_id[0] ? -1 : 0;
}

static void on_setup_deleted(struct evhttp_request *req, void *arg)
{
    struct slot *s = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (code != 204)
        fprintf(stderr, "delete %s: HTTP %d\n", s->sandbox_id, code);
    event_base_loopexit(s->b->base, NULL);
}

void slot_delete_sandbox(struct slot *s)
{
    char path[128];
    struct evhttp_request *req;

    if (!s->sandbox_id[0] || s->b->cfg.sandbox_id)
        return;
    req = new_req(s, on_setup_deleted, s->b->cfg.api_host);
    evhttp_add_header(evhttp_request_get_output_headers(req), "X-API-Key",
                      s->b->cfg.api_key);
    snprintf(path, sizeof(path), "/sandboxes/%s", s->sandbox_id);
    evhttp_make_request(s->api, req, EVHTTP_REQ_DELETE, path);
    event_base_dispatch(s->b->base);
}

/* GET /sandboxes/<id> on the worker's control socket, blocking: setup only. */
int slot_lookup_addr(struct slot *s)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char req[256], resp[8192];
    size_t got = 0;
    ssize_t r;
    const char *body;
    json_t *j;
    int fd, rc = -1;

    if (strlen(s->b->cfg.worker_socket) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "worker socket path too long\n");
        return -1;
    }
    memcpy(sa.sun_path, s->b->cfg.worker_socket, strlen(s->b->cfg.worker_socket) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "worker socket %s: %s\n", sa.sun_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(req, sizeof(req), "GET /sandboxes/%s HTTP/1.0\r\nHost: worker\r\n\r\n",
             s->sandbox_id);
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        return -1;
    }
    while (got < sizeof(resp) - 1 &&
           (r = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    resp[got] = '\0';
    body = strstr(resp, "\r\n\r\n");
    j = body ? json_loads(body + 4, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    if (j && json_is_string(json_object_get(j, "address"))) {
        snprintf(s->addr, sizeof(s->addr), "%s",
                 json_string_value(json_object_get(j, "address")));
        rc = 0;
    } else {
        fprintf(stderr, "worker has no address for %s: %.200s\n", s->sandbox_id, resp);
    }
    json_decref(j);
    return rc;
}
