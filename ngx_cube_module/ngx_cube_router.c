/* The sandbox router (`cube_router`, an access-phase handler).
 *
 * Picks the target from `E2b-Sandbox-Id` + `E2b-Sandbox-Port` (both required) or
 * from a Host of the form `<port>-<id>.<cube_domain>`, looks the sandbox up in Redis
 * (HMGET cube:sb:<id> addr state) without blocking, and sets $cube_upstream
 * ("<addr>:<port>"), $cube_sandbox_id and $cube_sandbox_port for proxy_pass. Errors
 * are answered here, as JSON (§3.2 of the protocol notes):
 *   400 no/invalid routing information, 403 envd control path from outside,
 *   502 {"sandboxId","message":"The sandbox was not found","code":502} for unknown,
 *   killed or not running sandboxes, 503 when Redis cannot be reached.
 *
 * Auto-resume: a paused sandbox created with autoResume is resumed by the request
 * that finds it paused (the request waits): the worker thaws it, the record becomes
 * running again, then the request is proxied. Concurrent requests all ask the node's
 * worker, which serialises them: one thaws, the others get 409 "already running",
 * which they take as success, so a burst costs one resume.
 *
 * The route state is kept in a request-pool cleanup entry rather than in the module
 * ctx, because nginx clears module contexts on every named-location jump (and the
 * `error_page 502 504 = @cube_port_closed` jump must still see the variables). */
#include "ngx_cube_module.h"
#include "cube_gw.h"
#include "cube_time.h"

#define ROUTE_NEW 0
#define ROUTE_WAITING 1
#define ROUTE_DONE 2

typedef struct {
    ngx_uint_t phase;
    ngx_int_t result;
    ngx_str_t sandbox_id;
    ngx_str_t port;
    ngx_str_t upstream;
} ngx_cube_route_t;

typedef struct {
    ngx_http_request_t *r;        /* NULL once the request is gone */
    ngx_cube_route_t *rt;
    ngx_pool_cleanup_t *cln;
    ngx_cube_main_conf_t *mcf;
    /* auto-resume: the sandbox's address and node, its worker's address */
    char addr[64];
    char node[64];
    char worker_addr[512];
    ngx_str_t worker;
} ngx_cube_route_wait_t;

static const char ngx_cube_router_ct[] = "application/json; charset=utf-8";

static void ngx_cube_route_state_cln(void *data)
{
    /* marker only: the state lives in the request pool */
}

static ngx_cube_route_t *ngx_cube_route_get(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t *c;

    for (c = r->main->pool->cleanup; c; c = c->next) {
        if (c->handler == ngx_cube_route_state_cln) {
            return c->data;
        }
    }
    return NULL;
}

static ngx_cube_route_t *ngx_cube_route_create(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t *c = ngx_pool_cleanup_add(r->main->pool, sizeof(ngx_cube_route_t));

    if (c == NULL) {
        return NULL;
    }
    ngx_memzero(c->data, sizeof(ngx_cube_route_t));
    c->handler = ngx_cube_route_state_cln;
    return c->data;
}

static ngx_int_t ngx_cube_router_error(ngx_http_request_t *r, ngx_uint_t status,
                                       const char *sandbox_id, const char *msg)
{
    char *s;
    ngx_int_t rc;

    if (sandbox_id) {
        s = cube_json_router_error(sandbox_id, msg, (int) status);
    } else {
        s = cube_json_error((int) status, msg);
    }
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    rc = ngx_cube_send_json(r, status, ngx_cube_router_ct, s, ngx_strlen(s));
    free(s);
    return rc;
}

/* Answer from inside the access handler: finalize here, tell the phase runner to
 * stop. */
static ngx_int_t ngx_cube_router_fail(ngx_http_request_t *r, ngx_cube_route_t *rt,
                                      ngx_uint_t status, const char *sandbox_id,
                                      const char *msg)
{
    ngx_int_t rc;

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    rt->phase = ROUTE_DONE;
    rt->result = NGX_DONE;
    rc = ngx_cube_router_error(r, status, sandbox_id, msg);
    ngx_http_finalize_request(r, rc);
    return NGX_DONE;
}

static void ngx_cube_route_wait_gone(void *data)
{
    ngx_cube_route_wait_t *w = data;

    w->r = NULL; /* the Redis callback frees w */
}

/* The request is gone or answered: free w, and disarm its cleanup if r lives. */
static void ngx_cube_route_wait_free(ngx_cube_route_wait_t *w)
{
    if (w->r) {
        w->cln->handler = NULL;
    }
    ngx_free(w);
}

static void ngx_cube_route_answer(ngx_cube_route_wait_t *w, ngx_uint_t status,
                                  const char *msg)
{
    ngx_http_request_t *r = w->r;
    ngx_connection_t *c = r->connection;
    ngx_cube_route_t *rt = w->rt;
    ngx_int_t rc;

    ngx_cube_route_wait_free(w);
    rt->phase = ROUTE_DONE;
    rt->result = NGX_DONE;
    rc = ngx_cube_router_error(r, status, (const char *) rt->sandbox_id.data, msg);
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}

/* Route to addr:port and let the phases continue (proxy_pass). */
static void ngx_cube_route_proceed(ngx_cube_route_wait_t *w, const char *addr)
{
    ngx_http_request_t *r = w->r;
    ngx_connection_t *c = r->connection;
    ngx_cube_route_t *rt = w->rt;
    u_char *p;

    rt->upstream.data = ngx_pnalloc(r->pool, ngx_strlen(addr) + 1 + rt->port.len);
    if (rt->upstream.data == NULL) {
        ngx_cube_route_wait_free(w);
        rt->phase = ROUTE_DONE;
        rt->result = NGX_DONE;
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }
    p = ngx_sprintf(rt->upstream.data, "%s:%V", addr, &rt->port);
    rt->upstream.len = p - rt->upstream.data;
    rt->phase = ROUTE_DONE;
    rt->result = NGX_DECLINED;
    ngx_cube_route_wait_free(w);
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}

static void ngx_cube_router_ignore_cb(redisReply *reply, void *data)
{
}

static const char ngx_cube_router_resumed_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then "
    "redis.call('HSET', KEYS[1], 'state', 'running', 'end_at', ARGV[1]) return 1 end "
    "return 0";

static void ngx_cube_router_resumed_cb(redisReply *reply, void *data)
{
    ngx_cube_route_wait_t *w = data;

    if (w->r == NULL) {
        ngx_free(w);
        return;
    }
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        ngx_cube_route_answer(w, NGX_HTTP_BAD_GATEWAY, "The sandbox was not found");
        return;
    }
    ngx_cube_route_proceed(w, w->addr);
}

static void ngx_cube_router_worker_cb(void *data, ngx_int_t rc, ngx_uint_t status,
                                      u_char *body, size_t body_len)
{
    ngx_cube_route_wait_t *w = data;
    const char *argv[14];
    size_t lens[14];
    char key[96], end_at[32], now[24];
    int i;

    if (w->r == NULL) {
        ngx_free(w);
        return;
    }
    if (rc != NGX_CUBE_WORKER_OK) {
        ngx_cube_route_answer(w, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "Service unavailable: the sandbox's worker did not answer");
        return;
    }
    /* 409: another request resumed it first (the worker serialises them). */
    if (status != NGX_HTTP_OK && status != NGX_HTTP_CONFLICT) {
        ngx_cube_route_answer(w, NGX_HTTP_BAD_GATEWAY, "The sandbox was not found");
        return;
    }
    ngx_snprintf((u_char *) key, sizeof(key), "cube:sb:%V%Z", &w->rt->sandbox_id);
    cube_rfc3339_ms(cube_now_ms() + (int64_t) w->mcf->default_timeout * 1000, end_at,
                    sizeof(end_at));
    if (status == NGX_HTTP_OK) {
        ngx_snprintf((u_char *) now, sizeof(now), "%L%Z", (int64_t) cube_now_ms());
        /* Lifecycle event for the durable record (as the API's, see op_event). */
        argv[0] = "XADD"; argv[1] = "cube:events"; argv[2] = "MAXLEN"; argv[3] = "~";
        argv[4] = "100000"; argv[5] = "*"; argv[6] = "type"; argv[7] = "resumed";
        argv[8] = "id"; argv[9] = (const char *) w->rt->sandbox_id.data;
        argv[10] = "at_ms"; argv[11] = now; argv[12] = "reason"; argv[13] = "traffic";
        for (i = 0; i < 14; i++) {
            lens[i] = ngx_strlen(argv[i]);
        }
        (void) ngx_cube_redis_command(w->mcf, ngx_cube_router_ignore_cb, NULL, 14, argv, lens);
    }
    argv[0] = "EVAL";
    argv[1] = ngx_cube_router_resumed_script;
    argv[2] = "1";
    argv[3] = key;
    argv[4] = end_at;
    for (i = 0; i < 5; i++) {
        lens[i] = ngx_strlen(argv[i]);
    }
    if (ngx_cube_redis_command(w->mcf, ngx_cube_router_resumed_cb, w, 5, argv, lens) != NGX_OK) {
        ngx_cube_route_answer(w, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "Service unavailable: state store (Redis) is not reachable");
    }
}

static void ngx_cube_router_node_cb(redisReply *reply, void *data)
{
    ngx_cube_route_wait_t *w = data;
    char path[96];
    ngx_int_t rc;

    if (w->r == NULL) {
        ngx_free(w);
        return;
    }
    if (reply == NULL || reply->type != REDIS_REPLY_STRING || reply->len == 0
        || reply->len >= sizeof(w->worker_addr))
    {
        ngx_cube_route_answer(w, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "Service unavailable: the sandbox's worker is unknown");
        return;
    }
    ngx_memcpy(w->worker_addr, reply->str, reply->len + 1);
    w->worker.data = (u_char *) w->worker_addr;
    w->worker.len = reply->len;
    ngx_snprintf((u_char *) path, sizeof(path), "/sandboxes/%V/resume%Z", &w->rt->sandbox_id);
    rc = ngx_cube_worker_request(w->mcf, &w->worker, "POST", path, NULL, 0,
                                 w->mcf->worker_timeout, w->r->connection->log,
                                 ngx_cube_router_worker_cb, w);
    if (rc != NGX_OK) {
        ngx_cube_route_answer(w, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "Service unavailable: the sandbox's worker is unreachable");
    }
}

/* The sandbox is paused with autoResume: ask its node's worker to resume it. */
static void ngx_cube_route_resume(ngx_cube_route_wait_t *w)
{
    const char *argv[3];
    size_t lens[3];
    char key[96];

    ngx_snprintf((u_char *) key, sizeof(key), "cube:node:%s%Z", w->node);
    argv[0] = "HGET";
    argv[1] = key;
    argv[2] = "addr";
    lens[0] = 4;
    lens[1] = ngx_strlen(key);
    lens[2] = 4;
    if (ngx_cube_redis_command(w->mcf, ngx_cube_router_node_cb, w, 3, argv, lens) != NGX_OK) {
        ngx_cube_route_answer(w, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "Service unavailable: state store (Redis) is not reachable");
    }
}

static void ngx_cube_router_redis_cb(redisReply *reply, void *data)
{
    ngx_cube_route_wait_t *w = data;
    const char *addr = NULL, *state = NULL, *auto_resume = NULL, *node = NULL;

    if (w->r == NULL) {
        ngx_free(w);
        return;
    }
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_cube_route_answer(w, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "Service unavailable: state store (Redis) is not reachable");
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 4) {
        if (reply->element[0]->type == REDIS_REPLY_STRING) {
            addr = reply->element[0]->str;
        }
        if (reply->element[1]->type == REDIS_REPLY_STRING) {
            state = reply->element[1]->str;
        }
        if (reply->element[2]->type == REDIS_REPLY_STRING) {
            auto_resume = reply->element[2]->str;
        }
        if (reply->element[3]->type == REDIS_REPLY_STRING) {
            node = reply->element[3]->str;
        }
    }
    if (addr && *addr && state && ngx_strcmp(state, "paused") == 0 && auto_resume
        && ngx_strcmp(auto_resume, "1") == 0 && node && *node
        && ngx_strlen(addr) < sizeof(w->addr) && ngx_strlen(node) < sizeof(w->node))
    {
        ngx_cpystrn((u_char *) w->addr, (u_char *) addr, sizeof(w->addr));
        ngx_cpystrn((u_char *) w->node, (u_char *) node, sizeof(w->node));
        ngx_cube_route_resume(w);
        return;
    }
    if (addr == NULL || *addr == '\0' || state == NULL || ngx_strcmp(state, "running") != 0) {
        ngx_cube_route_answer(w, NGX_HTTP_BAD_GATEWAY, "The sandbox was not found");
        return;
    }
    ngx_cube_route_proceed(w, addr);
}

ngx_int_t ngx_cube_router_handler(ngx_http_request_t *r)
{
    ngx_cube_loc_conf_t *lcf = ngx_http_get_module_loc_conf(r, ngx_cube_module);
    ngx_cube_main_conf_t *mcf = ngx_http_get_module_main_conf(r, ngx_cube_module);
    ngx_table_elt_t *hid, *hport;
    ngx_cube_route_t *rt;
    ngx_cube_route_wait_t *w;
    char id[CUBE_GW_ID_MAX + 1];
    const char *argv[6];
    size_t lens[6];
    u_char *key;
    int port;

    if (!lcf->router || r != r->main) {
        return NGX_DECLINED;
    }

    rt = ngx_cube_route_get(r);
    if (rt && rt->phase == ROUTE_WAITING) {
        return NGX_AGAIN;
    }
    if (rt && rt->phase == ROUTE_DONE) {
        return rt->result;
    }
    if (rt == NULL) {
        rt = ngx_cube_route_create(r);
        if (rt == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    hid = ngx_cube_find_header(r, "E2b-Sandbox-Id", 14);
    hport = ngx_cube_find_header(r, "E2b-Sandbox-Port", 16);

    if (hid || hport) {
        if (hid == NULL || hport == NULL) {
            return ngx_cube_router_fail(r, rt, NGX_HTTP_BAD_REQUEST, NULL,
                                        "Both E2b-Sandbox-Id and E2b-Sandbox-Port headers "
                                        "are required");
        }
        port = cube_parse_port((const char *) hport->value.data, hport->value.len);
        if (port < 0) {
            return ngx_cube_router_fail(r, rt, NGX_HTTP_BAD_REQUEST, NULL,
                                        "Invalid E2b-Sandbox-Port header");
        }
        if (cube_sandbox_id_normalize((const char *) hid->value.data, hid->value.len, id) != 0) {
            return ngx_cube_router_fail(r, rt, NGX_HTTP_BAD_REQUEST, NULL, "Invalid sandbox ID");
        }
    } else if (mcf->domain.len == 0 || r->headers_in.server.len == 0
               || cube_host_route((const char *) r->headers_in.server.data,
                                  r->headers_in.server.len, (const char *) mcf->domain.data,
                                  mcf->domain.len, &port, id) != 0)
    {
        return ngx_cube_router_fail(r, rt, NGX_HTTP_BAD_REQUEST, NULL,
                                    "Missing sandbox routing: send E2b-Sandbox-Id and "
                                    "E2b-Sandbox-Port headers or use a "
                                    "<port>-<sandboxID>.<domain> host");
    }

    rt->sandbox_id.len = ngx_strlen(id);
    rt->sandbox_id.data = ngx_pnalloc(r->pool, rt->sandbox_id.len + 1);
    rt->port.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (rt->sandbox_id.data == NULL || rt->port.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ngx_memcpy(rt->sandbox_id.data, id, rt->sandbox_id.len + 1);
    rt->port.len = ngx_sprintf(rt->port.data, "%d", port) - rt->port.data;

    if (cube_envd_path_refused(port, (const char *) r->uri.data, r->uri.len)) {
        return ngx_cube_router_fail(r, rt, NGX_HTTP_FORBIDDEN, id,
                                    "This path is not accessible from outside the sandbox");
    }

    key = ngx_pnalloc(r->pool, sizeof("cube:sb:") + rt->sandbox_id.len);
    w = ngx_calloc(sizeof(ngx_cube_route_wait_t), r->connection->log);
    if (key == NULL || w == NULL) {
        ngx_free(w);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    w->cln = ngx_pool_cleanup_add(r->pool, 0);
    if (w->cln == NULL) {
        ngx_free(w);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    *ngx_sprintf(key, "cube:sb:%s", id) = '\0';
    argv[0] = "HMGET";
    argv[1] = (const char *) key;
    argv[2] = "addr";
    argv[3] = "state";
    argv[4] = "auto_resume";
    argv[5] = "node";
    lens[0] = 5;
    lens[1] = ngx_strlen(key);
    lens[2] = 4;
    lens[3] = 5;
    lens[4] = 11;
    lens[5] = 4;
    w->r = r;
    w->rt = rt;
    w->mcf = mcf;
    if (ngx_cube_redis_command(mcf, ngx_cube_router_redis_cb, w, 6, argv, lens) != NGX_OK) {
        ngx_free(w);
        return ngx_cube_router_fail(r, rt, NGX_HTTP_SERVICE_UNAVAILABLE, id,
                                    "Service unavailable: state store (Redis) is not reachable");
    }
    w->cln->handler = ngx_cube_route_wait_gone;
    w->cln->data = w;
    rt->phase = ROUTE_WAITING;
    return NGX_AGAIN;
}

/* ---------------------------------------------------------------- variables */

static ngx_int_t ngx_cube_route_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
                                         uintptr_t data)
{
    ngx_cube_route_t *rt = ngx_cube_route_get(r);
    ngx_str_t *s;

    if (rt == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }
    s = (ngx_str_t *) ((char *) rt + data);
    if (s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }
    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
}

static ngx_http_variable_t ngx_cube_router_vars[] = {
    {ngx_string("cube_upstream"), NULL, ngx_cube_route_variable,
     offsetof(ngx_cube_route_t, upstream), NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("cube_sandbox_id"), NULL, ngx_cube_route_variable,
     offsetof(ngx_cube_route_t, sandbox_id), NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("cube_sandbox_port"), NULL, ngx_cube_route_variable,
     offsetof(ngx_cube_route_t, port), NGX_HTTP_VAR_NOCACHEABLE, 0},
    ngx_http_null_variable};

ngx_int_t ngx_cube_router_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t *var, *v;

    for (v = ngx_cube_router_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }
        var->get_handler = v->get_handler;
        var->data = v->data;
    }
    return NGX_OK;
}
