/* cube-bench: a load generator for Cube (or any E2B-compatible service) that speaks the
 * E2B REST API and envd's Connect protocol directly, so the numbers exclude SDK cost.
 *
 *   cube-bench --mode create-exec-delete -c 10 -n 200 [--warmup 10] [--json]
 *
 * Modes: create-delete, create-only (sandboxes are deleted after timing), and
 * create-exec-delete (create -> Process/Start `echo ready` -> delete, the number users
 * feel), exec (repeated commands in one sandbox).
 * Every cycle is timed end to end; the report gives min/avg/p50/p95/p99/max, throughput
 * and errors. Configuration defaults come from E2B_API_URL, E2B_SANDBOX_URL, E2B_API_KEY.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

enum mode { MODE_CREATE_DELETE, MODE_CREATE_ONLY, MODE_CREATE_EXEC_DELETE, MODE_EXEC };

struct config {
    enum mode mode;
    int concurrency, count, warmup, json;
    const char *template_id, *api_key, *command;
    char api_host[256], sb_host[256];
    int api_port, sb_port;
};

struct stats {
    double *lat_ms;
    int n, errors, started, done;
    double t_start, t_end;
};

struct slot;
struct bench {
    struct config cfg;
    struct event_base *base;
    struct evhttp_connection **api_conns, **sb_conns;
    struct stats st;
    int total; /* warmup + count */
    char exec_sandbox[64], exec_token[128];
};

struct slot {
    struct bench *b;
    int idx;
    double t0;
    char sandbox_id[64], token[128];
    int measure, failed;
    struct evbuffer *stream; /* Connect response bytes */
    int got_end;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int parse_url(const char *url, char *host, size_t hl, int *port)
{
    const char *p = url;
    const char *colon, *slash;

    if (strncmp(p, "http://", 7) != 0)
        return -1;
    p += 7;
    slash = strchr(p, '/');
    colon = strchr(p, ':');
    if (colon && (!slash || colon < slash)) {
        if ((size_t)(colon - p) >= hl)
            return -1;
        memcpy(host, p, (size_t)(colon - p));
        host[colon - p] = '\0';
        *port = (int)strtol(colon + 1, NULL, 10);
    } else {
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n >= hl)
            return -1;
        memcpy(host, p, n);
        host[n] = '\0';
        *port = 80;
    }
    return *port > 0 ? 0 : -1;
}

static void slot_start(struct slot *s);
static void slot_finish(struct slot *s, int ok);

static struct evhttp_request *new_req(struct slot *s, void (*cb)(struct evhttp_request *, void *),
                                      const char *host)
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

/* ---- delete ---- */

static void on_deleted(struct evhttp_request *req, void *arg)
{
    struct slot *s = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (code != 204) {
        fprintf(stderr, "delete %s: HTTP %d\n", s->sandbox_id, code);
        s->failed = 1;
    }
    slot_finish(s, !s->failed);
}

static void do_delete(struct slot *s)
{
    char path[128];
    struct evhttp_request *req = new_req(s, on_deleted, s->b->cfg.api_host);
    evhttp_add_header(evhttp_request_get_output_headers(req), "X-API-Key", s->b->cfg.api_key);
    snprintf(path, sizeof(path), "/sandboxes/%s", s->sandbox_id);
    evhttp_make_request(s->b->api_conns[s->idx], req, EVHTTP_REQ_DELETE, path);
}

/* ---- exec (Connect server stream) ---- */

/* Walk complete envelopes; remember whether the end-stream arrived without error. */
static void scan_envelopes(struct slot *s)
{
    for (;;) {
        unsigned char hdr[5];
        uint32_t len;
        if (evbuffer_copyout(s->stream, hdr, 5) < 5)
            return;
        len = (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 | hdr[4];
        if (evbuffer_get_length(s->stream) < 5 + (size_t)len)
            return;
        evbuffer_drain(s->stream, 5);
        char *msg = malloc(len + 1);
        evbuffer_remove(s->stream, msg, len);
        msg[len] = '\0';
        if (hdr[0] & 0x02) {
            s->got_end = strstr(msg, "\"error\"") ? -1 : 1;
            if (s->got_end < 0)
                fprintf(stderr, "exec stream error: %s\n", msg);
        } else if (strstr(msg, "\"end\"") && strstr(msg, "\"exitCode\"")) {
            fprintf(stderr, "exec non-zero exit: %s\n", msg);
            s->failed = 1;
        }
        free(msg);
    }
}

static void on_exec_chunk(struct evhttp_request *req, void *arg)
{
    struct slot *s = arg;
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
    if (s->b->cfg.mode == MODE_EXEC)
        slot_finish(s, !s->failed);
    else
        do_delete(s);
}

static void do_exec(struct slot *s)
{
    struct config *c = &s->b->cfg;
    struct evhttp_request *req = new_req(s, on_exec_done, c->sb_host);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    char body[512];
    unsigned char hdr[5];
    json_t *j = json_pack("{s:{s:s,s:[s,s,s]},s:b}", "process", "cmd", "/bin/bash", "args",
                          "-l", "-c", c->command, "stdin", 0);
    char *js = json_dumps(j, JSON_COMPACT);
    size_t n = strlen(js);

    json_decref(j);
    snprintf(body, sizeof(body), "%s", js);
    free(js);
    hdr[0] = 0;
    hdr[1] = (unsigned char)(n >> 24);
    hdr[2] = (unsigned char)(n >> 16);
    hdr[3] = (unsigned char)(n >> 8);
    hdr[4] = (unsigned char)n;
    evbuffer_add(out, hdr, 5);
    evbuffer_add(out, body, n);
    evhttp_add_header(h, "Content-Type", "application/connect+json");
    evhttp_add_header(h, "Connect-Protocol-Version", "1");
    evhttp_add_header(h, "E2b-Sandbox-Id", s->sandbox_id);
    evhttp_add_header(h, "E2b-Sandbox-Port", "49983");
    if (s->token[0])
        evhttp_add_header(h, "X-Access-Token", s->token);
    evbuffer_drain(s->stream, evbuffer_get_length(s->stream));
    s->got_end = 0;
    evhttp_request_set_chunked_cb(req, on_exec_chunk);
    evhttp_make_request(s->b->sb_conns[s->idx], req, EVHTTP_REQ_POST, "/process.Process/Start");
}

/* ---- create ---- */

static void on_created(struct evhttp_request *req, void *arg)
{
    struct slot *s = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    char *body = req ? body_string(req) : NULL;
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    const char *id = j ? json_string_value(json_object_get(j, "sandboxID")) : NULL;
    const char *tok = j ? json_string_value(json_object_get(j, "envdAccessToken")) : NULL;

    if (code != 201 || id == NULL) {
        fprintf(stderr, "create: HTTP %d %s\n", code, body ? body : "(no response)");
        free(body);
        json_decref(j);
        slot_finish(s, 0);
        return;
    }
    snprintf(s->sandbox_id, sizeof(s->sandbox_id), "%s", id);
    snprintf(s->token, sizeof(s->token), "%s", tok ? tok : "");
    free(body);
    json_decref(j);
    switch (s->b->cfg.mode) {
    case MODE_CREATE_EXEC_DELETE:
        do_exec(s);
        break;
    case MODE_CREATE_ONLY: {
        /* Time the create only; delete outside the measurement. */
        double t = now_ms() - s->t0;
        if (s->measure)
            s->b->st.lat_ms[s->b->st.n++] = t;
        s->measure = 0;
        do_delete(s);
        break;
    }
    default:
        do_delete(s);
    }
}

static void do_create(struct slot *s)
{
    struct config *c = &s->b->cfg;
    struct evhttp_request *req = new_req(s, on_created, c->api_host);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char body[256];

    snprintf(body, sizeof(body), "{\"templateID\":\"%s\",\"timeout\":300}", c->template_id);
    evhttp_add_header(h, "X-API-Key", c->api_key);
    evhttp_add_header(h, "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    evhttp_make_request(s->b->api_conns[s->idx], req, EVHTTP_REQ_POST, "/v2/sandboxes");
}

static void slot_start(struct slot *s)
{
    struct bench *b = s->b;
    if (b->st.started >= b->total) {
        evbuffer_free(s->stream);
        free(s);
        return;
    }
    s->measure = b->st.started >= b->cfg.warmup;
    if (s->measure && b->st.t_start == 0)
        b->st.t_start = now_ms();
    b->st.started++;
    s->failed = 0;
    s->t0 = now_ms();
    if (b->cfg.mode == MODE_EXEC) {
        snprintf(s->sandbox_id, sizeof(s->sandbox_id), "%s", b->exec_sandbox);
        snprintf(s->token, sizeof(s->token), "%s", b->exec_token);
        do_exec(s);
    } else {
        do_create(s);
    }
}

static void slot_finish(struct slot *s, int ok)
{
    struct bench *b = s->b;
    if (s->measure) {
        if (ok)
            b->st.lat_ms[b->st.n++] = now_ms() - s->t0;
        else
            b->st.errors++;
    }
    b->st.done++;
    if (b->st.done >= b->total) {
        b->st.t_end = now_ms();
        event_base_loopexit(b->base, NULL);
    }
    slot_start(s);
}

/* ---- report ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, int n, double p)
{
    if (n == 0)
        return 0;
    int i = (int)(p / 100.0 * (n - 1) + 0.5);
    return v[i];
}

static const char *mode_name(enum mode m)
{
    static const char *names[] = {"create-delete", "create-only", "create-exec-delete", "exec"};
    return names[m];
}

static void report(struct bench *b)
{
    struct stats *st = &b->st;
    double sum = 0, secs = (st->t_end - st->t_start) / 1e3;
    qsort(st->lat_ms, (size_t)st->n, sizeof(double), cmp_double);
    for (int i = 0; i < st->n; i++)
        sum += st->lat_ms[i];
    double avg = st->n ? sum / st->n : 0, tput = secs > 0 ? st->n / secs : 0;
    if (b->cfg.json) {
        printf("{\"mode\":\"%s\",\"concurrency\":%d,\"count\":%d,\"ok\":%d,\"errors\":%d,"
               "\"min_ms\":%.3f,\"avg_ms\":%.3f,\"p50_ms\":%.3f,\"p95_ms\":%.3f,"
               "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"throughput_per_s\":%.2f}\n",
               mode_name(b->cfg.mode), b->cfg.concurrency, b->cfg.count, st->n, st->errors,
               st->n ? st->lat_ms[0] : 0, avg, pct(st->lat_ms, st->n, 50),
               pct(st->lat_ms, st->n, 95), pct(st->lat_ms, st->n, 99),
               st->n ? st->lat_ms[st->n - 1] : 0, tput);
        return;
    }
    printf("mode %s, concurrency %d, %d ok, %d errors, %.2f s\n", mode_name(b->cfg.mode),
           b->cfg.concurrency, st->n, st->errors, secs);
    printf("  min %.2f  avg %.2f  p50 %.2f  p95 %.2f  p99 %.2f  max %.2f ms\n",
           st->n ? st->lat_ms[0] : 0, avg, pct(st->lat_ms, st->n, 50),
           pct(st->lat_ms, st->n, 95), pct(st->lat_ms, st->n, 99),
           st->n ? st->lat_ms[st->n - 1] : 0);
    printf("  throughput %.1f/s\n", tput);
}

/* ---- setup ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: cube-bench [--mode create-delete|create-only|create-exec-delete|exec]\n"
            "                  [-c concurrency] [-n count] [--warmup N] [--template T]\n"
            "                  [--api URL] [--sandbox-url URL] [--key KEY] [--cmd CMD] [--json]\n");
}

/* For exec mode: one sandbox, created synchronously before the run. */
static void on_exec_sandbox(struct evhttp_request *req, void *arg)
{
    struct bench *b = arg;
    char *body = req ? body_string(req) : NULL;
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    const char *id = j ? json_string_value(json_object_get(j, "sandboxID")) : NULL;
    const char *tok = j ? json_string_value(json_object_get(j, "envdAccessToken")) : NULL;
    if (id) {
        snprintf(b->exec_sandbox, sizeof(b->exec_sandbox), "%s", id);
        snprintf(b->exec_token, sizeof(b->exec_token), "%s", tok ? tok : "");
    } else {
        fprintf(stderr, "exec mode: create failed: %s\n", body ? body : "(no response)");
    }
    free(body);
    json_decref(j);
    event_base_loopexit(b->base, NULL);
}

static void on_exec_sandbox_deleted(struct evhttp_request *req, void *arg)
{
    (void)req;
    event_base_loopexit(((struct bench *)arg)->base, NULL);
}

int main(int argc, char **argv)
{
    struct bench b;
    static const struct option opts[] = {
        {"mode", 1, 0, 'm'},    {"warmup", 1, 0, 'w'},      {"template", 1, 0, 't'},
        {"api", 1, 0, 'a'},     {"sandbox-url", 1, 0, 's'}, {"key", 1, 0, 'k'},
        {"json", 0, 0, 'j'},    {"cmd", 1, 0, 'x'},         {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    const char *api = getenv("E2B_API_URL"), *sb = getenv("E2B_SANDBOX_URL");
    int c;

    memset(&b, 0, sizeof(b));
    b.cfg.mode = MODE_CREATE_EXEC_DELETE;
    b.cfg.concurrency = 1;
    b.cfg.count = 20;
    b.cfg.template_id = "base";
    b.cfg.command = "echo ready";
    b.cfg.api_key = getenv("E2B_API_KEY");
    while ((c = getopt_long(argc, argv, "c:n:", opts, NULL)) != -1) {
        switch (c) {
        case 'c': b.cfg.concurrency = (int)strtol(optarg, NULL, 10); break;
        case 'n': b.cfg.count = (int)strtol(optarg, NULL, 10); break;
        case 'w': b.cfg.warmup = (int)strtol(optarg, NULL, 10); break;
        case 't': b.cfg.template_id = optarg; break;
        case 'a': api = optarg; break;
        case 's': sb = optarg; break;
        case 'k': b.cfg.api_key = optarg; break;
        case 'j': b.cfg.json = 1; break;
        case 'x': b.cfg.command = optarg; break;
        case 'm':
            if (strcmp(optarg, "create-delete") == 0) b.cfg.mode = MODE_CREATE_DELETE;
            else if (strcmp(optarg, "create-only") == 0) b.cfg.mode = MODE_CREATE_ONLY;
            else if (strcmp(optarg, "create-exec-delete") == 0) b.cfg.mode = MODE_CREATE_EXEC_DELETE;
            else if (strcmp(optarg, "exec") == 0) b.cfg.mode = MODE_EXEC;
            else { usage(); return 2; }
            break;
        default: usage(); return 2;
        }
    }
    if (!api || !b.cfg.api_key || b.cfg.concurrency < 1 || b.cfg.count < 1 ||
        b.cfg.warmup < 0 || strlen(b.cfg.template_id) > 100) {
        usage();
        fprintf(stderr, "E2B_API_URL and E2B_API_KEY (or --api/--key) are required\n");
        return 2;
    }
    if (!sb)
        sb = api;
    if (parse_url(api, b.cfg.api_host, sizeof(b.cfg.api_host), &b.cfg.api_port) ||
        parse_url(sb, b.cfg.sb_host, sizeof(b.cfg.sb_host), &b.cfg.sb_port)) {
        fprintf(stderr, "URLs must be http://host[:port]\n");
        return 2;
    }
    b.total = b.cfg.warmup + b.cfg.count;
    b.base = event_base_new();
    b.st.lat_ms = calloc((size_t)b.total, sizeof(double));
    b.api_conns = calloc((size_t)b.cfg.concurrency, sizeof(struct evhttp_connection *));
    b.sb_conns = calloc((size_t)b.cfg.concurrency, sizeof(struct evhttp_connection *));
    for (int i = 0; i < b.cfg.concurrency; i++) {
        b.api_conns[i] = evhttp_connection_base_new(b.base, NULL, b.cfg.api_host, (unsigned short)b.cfg.api_port);
        b.sb_conns[i] = evhttp_connection_base_new(b.base, NULL, b.cfg.sb_host, (unsigned short)b.cfg.sb_port);
        evhttp_connection_set_timeout(b.api_conns[i], 60);
        evhttp_connection_set_timeout(b.sb_conns[i], 60);
    }
    if (b.cfg.mode == MODE_EXEC) {
        struct evhttp_request *req = evhttp_request_new(on_exec_sandbox, &b);
        char body[256];
        evhttp_add_header(evhttp_request_get_output_headers(req), "Host", b.cfg.api_host);
        evhttp_add_header(evhttp_request_get_output_headers(req), "X-API-Key", b.cfg.api_key);
        snprintf(body, sizeof(body), "{\"templateID\":\"%s\"}", b.cfg.template_id);
        evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
        evhttp_make_request(b.api_conns[0], req, EVHTTP_REQ_POST, "/v2/sandboxes");
        event_base_dispatch(b.base);
        if (!b.exec_sandbox[0])
            return 1;
    }
    for (int i = 0; i < b.cfg.concurrency && i < b.total; i++) {
        struct slot *s = calloc(1, sizeof(*s));
        s->b = &b;
        s->idx = i;
        s->stream = evbuffer_new();
        slot_start(s);
    }
    event_base_dispatch(b.base);
    if (b.cfg.mode == MODE_EXEC) {
        char path[128];
        struct evhttp_request *req = evhttp_request_new(on_exec_sandbox_deleted, &b);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Host", b.cfg.api_host);
        evhttp_add_header(evhttp_request_get_output_headers(req), "X-API-Key", b.cfg.api_key);
        snprintf(path, sizeof(path), "/sandboxes/%s", b.exec_sandbox);
        evhttp_make_request(b.api_conns[0], req, EVHTTP_REQ_DELETE, path);
        event_base_dispatch(b.base);
    }
    report(&b);
    for (int i = 0; i < b.cfg.concurrency; i++) {
        evhttp_connection_free(b.api_conns[i]);
        evhttp_connection_free(b.sb_conns[i]);
    }
    free(b.api_conns);
    free(b.sb_conns);
    free(b.st.lat_ms);
    event_base_free(b.base);
    return b.st.errors ? 1 : 0;
}
