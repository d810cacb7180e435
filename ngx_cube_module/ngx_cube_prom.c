/* Prometheus metrics (`cube_prometheus`, a content handler meant for a loopback-only
 * admin server) and the log-phase counter behind them.
 *
 * Counters and histograms live in the module's shared zone (ngx_cube_shm.c), so every
 * nginx worker adds to the same numbers. Gauges (sandboxes by state, per-node load and
 * capacity, warm pools per node and template from the workers' heartbeats) are read
 * from Redis at scrape time with one script; no worker is asked. Text exposition
 * format 0.0.4. */
#include "ngx_cube_module.h"
#include "ngx_cube_op.h"
#include "ngx_cube_shm.h"

static const char *const ngx_cube_kinds[NGX_CUBE_KINDS] = {"api", "router"};
static const char *const ngx_cube_classes[6] = {"1xx", "2xx", "3xx",
                                                "4xx", "5xx", "other"};
/* upper bounds in ms of the latency buckets (the last is +Inf) */
static const ngx_msec_t ngx_cube_bounds[NGX_CUBE_HIST_BUCKETS - 1] = {
    1, 3, 5, 10, 25, 50, 100, 250, 500, 1000, 2500};
static const char *const ngx_cube_bound_text[NGX_CUBE_HIST_BUCKETS] = {
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",   "0.25",   "0.5",   "1",    "2.5",   "+Inf"};

/* upper bounds in us of the resume latency buckets (the last is +Inf) */
static const int64_t ngx_cube_resume_bounds[NGX_CUBE_RESUME_BUCKETS - 1] = {
    500,    1000,   2500,   5000,    10000,   25000,  50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000};
static const char *const ngx_cube_resume_bound_text[NGX_CUBE_RESUME_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5",     "+Inf"};

/* ---------------------------------------------------------------- counting */

void ngx_cube_resume_observe(ngx_uint_t kind, int64_t us)
{
    ngx_cube_counters_t *c = ngx_cube_counters();
    ngx_uint_t b;

    if (c == NULL || kind >= NGX_CUBE_RESUME_KINDS) {
        return;
    }
    if (us < 0) {
        us = 0;
    }
    for (b = 0; b < NGX_CUBE_RESUME_BUCKETS - 1 && us > ngx_cube_resume_bounds[b]; b++) {
        /* first bucket that holds us */
    }
    (void)ngx_atomic_fetch_add(&c->resume[kind][b], 1);
    (void)ngx_atomic_fetch_add(&c->resume_sum_us[kind], (ngx_atomic_int_t)us);
}

static void ngx_cube_prom_api_op(ngx_cube_op_t *op, ngx_uint_t status)
{
    int ok = status >= 200 && status < 300;

    switch (op->m.route) {
    case CUBE_ROUTE_CREATE_V1:
    case CUBE_ROUTE_CREATE_V2:
        if (ok) {
            ngx_cube_count(creates);
        } else {
            ngx_cube_count(create_errors);
        }
        break;
    case CUBE_ROUTE_DELETE:
        if (ok) {
            ngx_cube_count(kills);
        } else {
            ngx_cube_count(kill_errors);
        }
        break;
    case CUBE_ROUTE_PAUSE:
        if (ok) {
            ngx_cube_count(pauses);
        }
        break;
    default:
        if (op->resuming && ok) {
            ngx_cube_count(resumes);
        }
        break;
    }
    if (status >= 500) {
        ngx_cube_count(api_errors);
    }
}

ngx_int_t ngx_cube_prom_log_handler(ngx_http_request_t *r)
{
    ngx_cube_loc_conf_t *lcf = ngx_http_get_module_loc_conf(r, ngx_cube_module);
    ngx_cube_counters_t *c = ngx_cube_counters();
    ngx_uint_t kind, status, cls, b;
    ngx_cube_op_t *op;
    ngx_time_t *tp;
    ngx_msec_int_t ms;

    if (c == NULL || r != r->main) {
        return NGX_OK;
    }
    if (ngx_cube_router_routed(r)) {
        kind = NGX_CUBE_KIND_ROUTER;
    } else if (lcf->api) {
        kind = NGX_CUBE_KIND_API;
    } else {
        return NGX_OK; /* not ours (the admin server itself, static locations) */
    }
    status = r->err_status ? r->err_status : r->headers_out.status;
    cls = status >= 100 && status < 600 ? status / 100 - 1 : 5;
    (void)ngx_atomic_fetch_add(&c->requests[kind][cls], 1);

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t)((tp->sec - r->start_sec) * 1000 + (tp->msec - r->start_msec));
    if (ms < 0) {
        ms = 0;
    }
    for (b = 0; b < NGX_CUBE_HIST_BUCKETS - 1 && (ngx_msec_t)ms > ngx_cube_bounds[b];
         b++) {
        /* first bucket that holds ms */
    }
    (void)ngx_atomic_fetch_add(&c->latency[kind][b], 1);
    (void)ngx_atomic_fetch_add(&c->latency_sum_us[kind], (ngx_atomic_int_t)ms * 1000);

    op = kind == NGX_CUBE_KIND_API ? ngx_http_get_module_ctx(r, ngx_cube_module) : NULL;
    if (op) {
        ngx_cube_prom_api_op(op, status);
    }
    return NGX_OK;
}

/* ---------------------------------------------------------------- scrape */

/* {running, paused, other, nnodes, nnodes x (node, sandboxes, capacity, state, alive),
 *  then per warm pool (node, template, size, ready, preparing, waiting) as strings}.
 * Pools come from the `pools` field of the node hash (JSON, written by the worker's
 * heartbeat every 2 s). */
static const char ngx_cube_prom_script[] =
    "local n = {0, 0, 0, 0} "
    "for _, id in ipairs(redis.call('ZRANGE', 'cube:sandboxes', 0, -1)) do "
    "  local st = redis.call('HGET', 'cube:sb:' .. id, 'state') "
    "  if st == 'running' then n[1] = n[1] + 1 elseif st == 'paused' then n[2] = n[2] + "
    "1 "
    "  else n[3] = n[3] + 1 end "
    "end "
    "local nodes = redis.call('SMEMBERS', 'cube:nodes') "
    "n[4] = #nodes "
    "for _, node in ipairs(nodes) do "
    "  local f = redis.call('HMGET', 'cube:node:' .. node, 'sandboxes', 'capacity', "
    "'state') "
    "  table.insert(n, node) table.insert(n, f[1] or '0') table.insert(n, f[2] or '0') "
    "  table.insert(n, f[3] or 'unknown') "
    "  table.insert(n, redis.call('EXISTS', 'cube:node:' .. node .. ':alive')) "
    "end "
    "local function num(v) return string.format('%d', tonumber(v) or 0) end "
    "for _, node in ipairs(nodes) do "
    "  local p = redis.call('HGET', 'cube:node:' .. node, 'pools') "
    "  local ok, t = false, nil "
    "  if p then ok, t = pcall(cjson.decode, p) end "
    "  if ok and type(t) == 'table' then "
    "    for _, e in ipairs(t) do "
    "      if type(e) == 'table' and type(e.template) == 'string' then "
    "        table.insert(n, node) table.insert(n, e.template) "
    "        table.insert(n, num(e.size)) table.insert(n, num(e.ready)) "
    "        table.insert(n, num(e.preparing)) table.insert(n, num(e.waiting)) "
    "      end "
    "    end "
    "  end "
    "end "
    "return n";

#define NGX_CUBE_PROM_BASE 32768 /* room for everything but the per-node lines */
#define PROM_NODE_FIELDS 5
#define PROM_POOL_FIELDS 6

typedef struct {
    ngx_http_request_t *r; /* NULL once the request is gone */
    ngx_pool_cleanup_t *cln;
} ngx_cube_prom_wait_t;

static u_char *ngx_cube_prom_counter(u_char *p, u_char *end, const char *name,
                                     const char *help, ngx_atomic_t *v)
{
    return ngx_slprintf(p, end, "# HELP %s %s\n# TYPE %s counter\n%s %uA\n", name, help,
                        name, name, *v);
}

/* 1 when s can be a label value as is (ids and template names). */
static int ngx_cube_prom_label_ok(const char *s)
{
    if (*s == '\0') {
        return 0;
    }
    for (; *s; s++) {
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.' ||
              *s == ':')) {
            return 0;
        }
    }
    return 1;
}

static u_char *ngx_cube_prom_pools(u_char *p, u_char *end, redisReply *g, ngx_uint_t from)
{
    static const char *const names[4] = {"size", "ready", "preparing", "waiting"};
    static const char *const help[4] = {
        "Warm sandboxes a template's pool keeps on a node.",
        "Warm sandboxes ready to be claimed by a create.",
        "Warm sandboxes being prepared.",
        "Creates waiting for a warm sandbox (the pool was empty)."};
    ngx_uint_t i, k;

    for (k = 0; k < 4; k++) {
        p = ngx_slprintf(p, end, "# HELP cube_pool_%s %s\n# TYPE cube_pool_%s gauge\n",
                         names[k], help[k], names[k]);
        for (i = from; i + PROM_POOL_FIELDS <= g->elements; i += PROM_POOL_FIELDS) {
            if (!ngx_cube_prom_label_ok(g->element[i]->str) ||
                !ngx_cube_prom_label_ok(g->element[i + 1]->str)) {
                continue;
            }
            p = ngx_slprintf(p, end, "cube_pool_%s{node=\"%s\",template=\"%s\"} %s\n",
                             names[k], g->element[i]->str, g->element[i + 1]->str,
                             g->element[i + 2 + k]->str);
        }
    }
    return p;
}

static u_char *ngx_cube_prom_resume(u_char *p, u_char *end, ngx_cube_counters_t *c)
{
    static const char *const names[NGX_CUBE_RESUME_KINDS] = {
        "cube_router_resume_wait_seconds", "cube_api_resume_duration_seconds"};
    static const char *const help[NGX_CUBE_RESUME_KINDS] = {
        "Time a routed request waited at the auto-resume gate of a paused sandbox.",
        "Time from a connect or resume finding its sandbox paused to the answer."};
    ngx_atomic_uint_t cum;
    ngx_uint_t k, i;

    for (k = 0; k < NGX_CUBE_RESUME_KINDS; k++) {
        p = ngx_slprintf(p, end, "# HELP %s %s\n# TYPE %s histogram\n", names[k], help[k],
                         names[k]);
        cum = 0;
        for (i = 0; i < NGX_CUBE_RESUME_BUCKETS; i++) {
            cum += c->resume[k][i];
            p = ngx_slprintf(p, end, "%s_bucket{le=\"%s\"} %uA\n", names[k],
                             ngx_cube_resume_bound_text[i], cum);
        }
        p = ngx_slprintf(p, end, "%s_sum %uA.%06uA\n%s_count %uA\n", names[k],
                         c->resume_sum_us[k] / 1000000, c->resume_sum_us[k] % 1000000,
                         names[k], cum);
    }
    return p;
}

static u_char *ngx_cube_prom_render(u_char *p, u_char *end, redisReply *g)
{
    ngx_cube_counters_t *c = ngx_cube_counters();
    static const char *const states[3] = {"running", "paused", "other"};
    ngx_atomic_uint_t cum, count;
    ngx_uint_t k, i, pools = 0;
    redisReply *e;

    p = ngx_slprintf(p, end,
                     "# HELP cube_redis_up Whether the state store answered this "
                     "scrape.\n# TYPE cube_redis_up gauge\ncube_redis_up %d\n",
                     g != NULL);
    if (g) {
        pools = 4 + (ngx_uint_t)g->element[3]->integer * PROM_NODE_FIELDS;
        p = ngx_slprintf(p, end,
                         "# HELP cube_sandboxes Sandboxes in the live view by "
                         "state.\n# TYPE cube_sandboxes gauge\n");
        for (i = 0; i < 3; i++) {
            p = ngx_slprintf(p, end, "cube_sandboxes{state=\"%s\"} %L\n", states[i],
                             (int64_t)g->element[i]->integer);
        }
        p = ngx_slprintf(p, end,
                         "# HELP cube_node_sandboxes Sandboxes placed on a node.\n"
                         "# TYPE cube_node_sandboxes gauge\n");
        for (i = 4; i < pools; i += PROM_NODE_FIELDS) {
            p = ngx_slprintf(p, end, "cube_node_sandboxes{node=\"%s\"} %s\n",
                             g->element[i]->str, g->element[i + 1]->str);
        }
        p = ngx_slprintf(p, end,
                         "# HELP cube_node_capacity Most sandboxes a node takes.\n"
                         "# TYPE cube_node_capacity gauge\n");
        for (i = 4; i < pools; i += PROM_NODE_FIELDS) {
            p = ngx_slprintf(p, end, "cube_node_capacity{node=\"%s\"} %s\n",
                             g->element[i]->str, g->element[i + 2]->str);
        }
        p = ngx_slprintf(p, end,
                         "# HELP cube_node_up Node heartbeat alive (1) and its state."
                         "\n# TYPE cube_node_up gauge\n");
        for (i = 4; i < pools; i += PROM_NODE_FIELDS) {
            e = g->element[i + 4];
            p = ngx_slprintf(p, end, "cube_node_up{node=\"%s\",state=\"%s\"} %L\n",
                             g->element[i]->str, g->element[i + 3]->str,
                             (int64_t)(e->type == REDIS_REPLY_INTEGER ? e->integer : 0));
        }
        p = ngx_cube_prom_pools(p, end, g, pools);
    }
    if (c == NULL) {
        return p;
    }
    p = ngx_slprintf(p, end,
                     "# HELP cube_http_requests_total Requests by kind and status "
                     "class.\n# TYPE cube_http_requests_total counter\n");
    for (k = 0; k < NGX_CUBE_KINDS; k++) {
        for (i = 0; i < 6; i++) {
            p = ngx_slprintf(p, end,
                             "cube_http_requests_total{kind=\"%s\",code=\"%s\"} %uA\n",
                             ngx_cube_kinds[k], ngx_cube_classes[i], c->requests[k][i]);
        }
    }
    p = ngx_slprintf(p, end,
                     "# HELP cube_http_request_duration_seconds Time to the last "
                     "byte logged.\n# TYPE cube_http_request_duration_seconds "
                     "histogram\n");
    for (k = 0; k < NGX_CUBE_KINDS; k++) {
        cum = 0;
        for (i = 0; i < NGX_CUBE_HIST_BUCKETS; i++) {
            cum += c->latency[k][i];
            p = ngx_slprintf(
                p, end,
                "cube_http_request_duration_seconds_bucket{kind=\"%s\",le=\"%s\"} "
                "%uA\n",
                ngx_cube_kinds[k], ngx_cube_bound_text[i], cum);
        }
        count = cum;
        p = ngx_slprintf(p, end,
                         "cube_http_request_duration_seconds_sum{kind=\"%s\"} %uA.%06uA\n"
                         "cube_http_request_duration_seconds_count{kind=\"%s\"} %uA\n",
                         ngx_cube_kinds[k], c->latency_sum_us[k] / 1000000,
                         c->latency_sum_us[k] % 1000000, ngx_cube_kinds[k], count);
    }
    p = ngx_cube_prom_counter(p, end, "cube_sandbox_creates_total", "Sandboxes created.",
                              &c->creates);
    p = ngx_cube_prom_counter(p, end, "cube_sandbox_create_errors_total",
                              "Create requests that failed.", &c->create_errors);
    p = ngx_cube_prom_counter(p, end, "cube_sandbox_kills_total",
                              "Sandboxes killed via the API.", &c->kills);
    p = ngx_cube_prom_counter(p, end, "cube_sandbox_kill_errors_total",
                              "Kill requests that failed.", &c->kill_errors);
    p = ngx_cube_prom_counter(p, end, "cube_sandbox_pauses_total",
                              "Sandboxes paused via the API.", &c->pauses);
    p = ngx_cube_prom_counter(p, end, "cube_sandbox_resumes_total",
                              "Sandboxes resumed via connect or resume.", &c->resumes);
    p = ngx_cube_prom_counter(p, end, "cube_api_errors_total",
                              "API answers with status 5xx.", &c->api_errors);
    p = ngx_cube_prom_counter(p, end, "cube_router_auto_resumes_total",
                              "Paused sandboxes resumed by routed traffic.",
                              &c->auto_resumes);
    p = ngx_cube_prom_counter(p, end, "cube_router_auto_resume_waits_total",
                              "Routed requests that waited for another's resume.",
                              &c->auto_resume_waits);
    p = ngx_cube_prom_counter(
        p, end, "cube_router_traffic_token_denied_total",
        "Routed requests refused for a missing or wrong traffic token.",
        &c->traffic_token_denied);
    p = ngx_cube_prom_counter(p, end, "cube_router_route_cache_hits_total",
                              "Routes served from the shared cache.",
                              &c->route_cache_hits);
    p = ngx_cube_prom_counter(p, end, "cube_router_route_cache_misses_total",
                              "Routes read from Redis.", &c->route_cache_misses);
    p = ngx_cube_prom_counter(p, end, "cube_router_activity_flushes_total",
                              "Batched writes of routed activity to Redis.",
                              &c->activity_flushes);
    p = ngx_cube_prom_counter(p, end, "cube_router_activity_stamps_total",
                              "Sandbox activity stamps written to Redis.",
                              &c->activity_flushed);
    return ngx_cube_prom_resume(p, end, c);
}

/* The script's reply has the layout ngx_cube_prom_render reads. */
static int ngx_cube_prom_reply_ok(redisReply *g)
{
    ngx_uint_t i, pools;
    int want_int;

    if (g == NULL || g->type != REDIS_REPLY_ARRAY || g->elements < 4) {
        return 0;
    }
    for (i = 0; i < 4; i++) {
        if (g->element[i]->type != REDIS_REPLY_INTEGER) {
            return 0;
        }
    }
    if (g->element[3]->integer < 0 || (unsigned long long)g->element[3]->integer >
                                          (g->elements - 4) / PROM_NODE_FIELDS) {
        return 0;
    }
    pools = 4 + (ngx_uint_t)g->element[3]->integer * PROM_NODE_FIELDS;
    if ((g->elements - pools) % PROM_POOL_FIELDS != 0) {
        return 0;
    }
    for (i = 4; i < g->elements; i++) {
        want_int = i < pools && (i - 4) % PROM_NODE_FIELDS == 4;
        if ((want_int && g->element[i]->type != REDIS_REPLY_INTEGER) ||
            (!want_int && g->element[i]->type != REDIS_REPLY_STRING)) {
            return 0;
        }
    }
    return 1;
}

static void ngx_cube_prom_gone(void *data)
{
    ngx_cube_prom_wait_t *w = data;

    w->r = NULL; /* the Redis callback frees w */
}

static void ngx_cube_prom_redis_cb(redisReply *reply, void *data)
{
    ngx_cube_prom_wait_t *w = data;
    ngx_http_request_t *r = w->r;
    redisReply *g = NULL;
    ngx_connection_t *c;
    size_t size;
    u_char *buf, *p;
    ngx_int_t rc;

    if (r == NULL) {
        ngx_free(w);
        return;
    }
    w->cln->handler = NULL;
    ngx_free(w);
    c = r->connection;
    if (ngx_cube_prom_reply_ok(reply)) {
        g = reply;
    }
    size = NGX_CUBE_PROM_BASE + (g ? g->elements * 96 : 0);
    buf = ngx_pnalloc(r->pool, size);
    if (buf == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }
    p = ngx_cube_prom_render(buf, buf + size, g);
    rc = ngx_cube_send_json(r, NGX_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                            (const char *)buf, (size_t)(p - buf));
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}

ngx_int_t ngx_cube_prom_handler(ngx_http_request_t *r)
{
    ngx_cube_main_conf_t *mcf = ngx_http_get_module_main_conf(r, ngx_cube_module);
    ngx_cube_prom_wait_t *w;
    const char *argv[3];
    size_t lens[3];
    ngx_int_t rc;

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        return NGX_HTTP_NOT_ALLOWED;
    }
    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }
    w = ngx_calloc(sizeof(ngx_cube_prom_wait_t), r->connection->log);
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    w->cln = ngx_pool_cleanup_add(r->pool, 0);
    if (w->cln == NULL) {
        ngx_free(w);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    w->r = r;
    argv[0] = "EVAL";
    argv[1] = ngx_cube_prom_script;
    argv[2] = "0";
    lens[0] = 4;
    lens[1] = sizeof(ngx_cube_prom_script) - 1;
    lens[2] = 1;
    if (ngx_cube_redis_command(mcf, ngx_cube_prom_redis_cb, w, 3, argv, lens) != NGX_OK) {
        /* Redis down: the counters alone, with cube_redis_up 0. */
        w->cln->handler = NULL;
        w->r = NULL;
        w->cln = NULL;
        ngx_free(w);
        {
            u_char *buf = ngx_pnalloc(r->pool, NGX_CUBE_PROM_BASE), *p;
            if (buf == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            p = ngx_cube_prom_render(buf, buf + NGX_CUBE_PROM_BASE, NULL);
            return ngx_cube_send_json(r, NGX_HTTP_OK,
                                      "text/plain; version=0.0.4; charset=utf-8",
                                      (const char *)buf, (size_t)(p - buf));
        }
    }
    w->cln->handler = ngx_cube_prom_gone;
    w->cln->data = w;
    r->main->count++;
    return NGX_DONE;
}
