/* The sandbox router (`cube_router`, an access-phase handler).
 *
 * Picks the target from `E2b-Sandbox-Id` + `E2b-Sandbox-Port` (both required) or
 * from a Host of the form `<port>-<id>.<cube_domain>`, looks the sandbox up in Redis
 * (HMGET cube:sb:<id> addr state ...) without blocking, and sets $cube_upstream
 * ("<addr>:<port>", also what the cube_sandbox_peer balancer of ngx_cube_upstream.c
 * connects to), $cube_sandbox_id and $cube_sandbox_port. Errors
 * are answered here, as JSON (§3.2 of the protocol notes):
 *   400 no/invalid routing information, 403 envd control path from outside,
 *   502 {"sandboxId","message":"The sandbox was not found","code":502} for unknown,
 *   killed or not running sandboxes, 503 when Redis cannot be reached or its live
 *   view is being rebuilt (no node registered, or a record without the API's fields).
 *
 * Route cache: a running sandbox's route is kept in shared memory for
 * cube_route_cache_ttl (ngx_cube_shm.c), so most requests need no Redis round trip.
 *
 * Traffic token: a sandbox created with network.allowPublicTraffic = false only takes
 * requests to its non-envd ports that carry e2b-traffic-access-token (or
 * cube-traffic-access-token) = hex(HMAC-SHA256(secret, "sandbox-traffic-" + id)); 403
 * JSON otherwise. The SDK's envd traffic (49983) carries none and needs none.
 *
 * Auto-resume: a paused sandbox created with autoResume is resumed by the request
 * that finds it paused (the request waits). One request takes the Redis lock
 * cube:resume:<id> (SET NX PX, shared by all nginx workers and gateways) and asks the
 * worker to thaw it, then marks the record running and drops the lock; the others
 * look again every 10 ms until the record is running. A burst costs one resume.
 *
 * Activity (auto-pause): a request that is routed stamps its sandbox's entry in shared
 * memory with the wall clock, again every cube_activity_flush while it is still open
 * (streams, WebSockets) and once more when it ends. Nginx worker 0 collects the new
 * stamps every cube_activity_flush and writes them as last_activity_ms of cube:sb:<id>
 * in one EVAL per batch: Redis sees one write per interval, not one per request.
 * cube-scheduler reads it when an auto-pause sandbox reaches its end time.
 *
 * The route state is kept in a request-pool cleanup entry rather than in the module
 * ctx, because nginx clears module contexts on every named-location jump (and the
 * `error_page 502 504 = @cube_port_closed` jump must still see the variables). */
#include "ngx_cube_module.h"
#include "ngx_cube_shm.h"
#include "cube_gw.h"
#include "cube_hash.h"
#include "cube_time.h"

#include <openssl/crypto.h>

#define ROUTE_NEW 0
#define ROUTE_WAITING 1
#define ROUTE_DONE 2

typedef struct {
    ngx_uint_t phase;
    ngx_int_t result;
    ngx_str_t sandbox_id;
    ngx_str_t port;
    ngx_str_t upstream;
    ngx_queue_t open; /* in ngx_cube_route_open while proxied */
    unsigned linked : 1;
} ngx_cube_route_t;

typedef struct {
    ngx_http_request_t *r; /* NULL once the request is gone */
    ngx_cube_route_t *rt;
    ngx_pool_cleanup_t *cln;
    ngx_cube_main_conf_t *mcf;
    /* auto-resume: the sandbox's address and node, the resume lock's owner value */
    char addr[64];
    char node[64];
    char owner[48];
    ngx_event_t timer; /* next look while another request resumes */
    ngx_msec_t deadline;
    int64_t timeout_s;     /* the sandbox's own timeout (0: unknown) */
    int64_t resume_t0_us;  /* when the request found the sandbox paused */
    unsigned inflight : 1; /* a Redis or worker callback will come */
    unsigned locked : 1;   /* this request holds the resume lock */
    unsigned waited : 1;
} ngx_cube_route_wait_t;

static const char ngx_cube_router_ct[] = "application/json; charset=utf-8";

static const char *reply_field(redisReply *e)
{
    return e->type == REDIS_REPLY_STRING ? e->str : NULL;
}

/* This worker's proxied requests, stamped again every cube_activity_flush. */
static ngx_queue_t ngx_cube_route_open;
static ngx_event_t ngx_cube_route_open_ev;
static ngx_msec_t ngx_cube_activity_interval;

static int64_t ngx_cube_wall_ms(void)
{
    ngx_time_t *tp = ngx_timeofday();

    return (int64_t)tp->sec * 1000 + (int64_t)tp->msec;
}

/* Also marks the route state in the request pool (ngx_cube_route_get): the request
 * ends, its sandbox was active until now. */
static void ngx_cube_route_state_cln(void *data)
{
    ngx_cube_route_t *rt = data;

    if (rt->linked) {
        ngx_queue_remove(&rt->open);
        rt->linked = 0;
        ngx_cube_route_activity(&rt->sandbox_id, ngx_cube_wall_ms());
    }
}

static void ngx_cube_route_open_stamp(ngx_event_t *ev)
{
    ngx_queue_t *q;
    ngx_cube_route_t *rt;
    int64_t now = ngx_cube_wall_ms();

    for (q = ngx_queue_head(&ngx_cube_route_open);
         q != ngx_queue_sentinel(&ngx_cube_route_open); q = ngx_queue_next(q)) {
        rt = ngx_queue_data(q, ngx_cube_route_t, open);
        ngx_cube_route_activity(&rt->sandbox_id, now);
    }
    /* cancelable: it never holds up a worker that is shutting down */
    if (!ngx_queue_empty(&ngx_cube_route_open)) {
        ngx_add_timer(ev, ngx_cube_activity_interval);
    }
}

/* The request is about to be proxied: its sandbox is active now and while it lasts. */
static void ngx_cube_route_opened(ngx_cube_route_t *rt)
{
    if (ngx_cube_activity_interval == 0 || rt->linked) {
        return;
    }
    ngx_cube_route_activity(&rt->sandbox_id, ngx_cube_wall_ms());
    if (ngx_cube_route_open.next == NULL) {
        ngx_queue_init(&ngx_cube_route_open);
    }
    ngx_queue_insert_tail(&ngx_cube_route_open, &rt->open);
    rt->linked = 1;
    if (!ngx_cube_route_open_ev.timer_set) {
        ngx_cube_route_open_ev.handler = ngx_cube_route_open_stamp;
        ngx_cube_route_open_ev.log = ngx_cycle->log;
        ngx_cube_route_open_ev.cancelable = 1;
        ngx_add_timer(&ngx_cube_route_open_ev, ngx_cube_activity_interval);
    }
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
        s = cube_json_router_error(sandbox_id, msg, (int)status);
    } else {
        s = cube_json_error((int)status, msg);
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

/* ---------------------------------------------------------------- traffic token */

/* NULL when the request may reach the port, else the 403 message. The token is only
 * asked for non-envd ports (the SDK sends none to envd) of sandboxes created with
 * network.allowPublicTraffic = false. */
static const char *ngx_cube_router_token_refusal(ngx_http_request_t *r,
                                                 ngx_cube_route_t *rt,
                                                 ngx_cube_main_conf_t *mcf,
                                                 ngx_uint_t private_traffic)
{
    char want[CUBE_SHA256_HEX_LEN + 1];
    ngx_table_elt_t *h;

    if (!private_traffic ||
        (rt->port.len == 5 && ngx_strncmp(rt->port.data, "49983", 5) == 0)) {
        return NULL;
    }
    h = ngx_cube_find_header(r, "e2b-traffic-access-token", 24);
    if (h == NULL) {
        h = ngx_cube_find_header(r, "cube-traffic-access-token", 25);
    }
    if (h == NULL || h->value.len == 0) {
        return "Sandbox is secured with traffic access token. Token header "
               "'e2b-traffic-access-token' is missing";
    }
    if (ngx_cube_traffic_token(mcf, (const char *)rt->sandbox_id.data, want) != NGX_OK ||
        h->value.len != CUBE_SHA256_HEX_LEN ||
        CRYPTO_memcmp(h->value.data, want, CUBE_SHA256_HEX_LEN) != 0) {
        return "Sandbox is secured with traffic access token. Token header "
               "'e2b-traffic-access-token' is invalid";
    }
    return NULL;
}

/* ---------------------------------------------------------------- waiting requests */

static void ngx_cube_route_release_lock(ngx_cube_route_wait_t *w);

static void ngx_cube_route_wait_free(ngx_cube_route_wait_t *w)
{
    if (w->r) {
        w->cln->handler = NULL;
    }
    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }
    if (w->locked) {
        ngx_cube_route_release_lock(w);
    }
    ngx_free(w);
}

static void ngx_cube_route_wait_gone(void *data)
{
    ngx_cube_route_wait_t *w = data;

    w->r = NULL;
    if (!w->inflight) { /* only a timer to stop; else the callback frees w */
        ngx_cube_route_wait_free(w);
    }
}

/* A callback came back: 1 when the request still waits for it, else w is freed. */
static int ngx_cube_route_back(ngx_cube_route_wait_t *w)
{
    w->inflight = 0;
    if (w->r == NULL) {
        ngx_cube_route_wait_free(w);
        return 0;
    }
    return 1;
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
    rc = ngx_cube_router_error(r, status, (const char *)rt->sandbox_id.data, msg);
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}

static void ngx_cube_route_redis_down(ngx_cube_route_wait_t *w)
{
    ngx_cube_route_answer(w, NGX_HTTP_SERVICE_UNAVAILABLE,
                          "Service unavailable: state store (Redis) is not reachable");
}

/* rt->upstream = addr:port (request pool). */
static ngx_int_t ngx_cube_route_set_upstream(ngx_http_request_t *r, ngx_cube_route_t *rt,
                                             const u_char *addr, size_t len)
{
    u_char *p;

    rt->upstream.data = ngx_pnalloc(r->pool, len + 1 + rt->port.len);
    if (rt->upstream.data == NULL) {
        return NGX_ERROR;
    }
    p = ngx_cpymem(rt->upstream.data, addr, len);
    *p++ = ':';
    p = ngx_cpymem(p, rt->port.data, rt->port.len);
    rt->upstream.len = p - rt->upstream.data;
    rt->phase = ROUTE_DONE;
    rt->result = NGX_DECLINED;
    ngx_cube_route_opened(rt);
    return NGX_OK;
}

/* Route to addr:port and let the phases continue (proxy_pass). */
static void ngx_cube_route_proceed(ngx_cube_route_wait_t *w, const char *addr)
{
    ngx_http_request_t *r = w->r;
    ngx_connection_t *c = r->connection;
    ngx_cube_route_t *rt = w->rt;
    ngx_int_t rc;

    if (w->resume_t0_us) {
        ngx_cube_resume_observe(NGX_CUBE_RESUME_ROUTER,
                                ngx_cube_mono_us() - w->resume_t0_us);
    }
    /* addr may live in w: use it before w goes */
    rc = ngx_cube_route_set_upstream(r, rt, (const u_char *)addr, ngx_strlen(addr));
    ngx_cube_route_wait_free(w);
    if (rc != NGX_OK) {
        rt->phase = ROUTE_DONE;
        rt->result = NGX_DONE;
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}

static void ngx_cube_router_ignore_cb(redisReply *reply, void *data)
{
}

/* Fire and forget; argv strings NUL-terminated. */
static void ngx_cube_router_send(ngx_cube_main_conf_t *mcf, int argc, const char **argv)
{
    size_t lens[16];
    int i;

    for (i = 0; i < argc && i < 16; i++) {
        lens[i] = ngx_strlen(argv[i]);
    }
    (void)ngx_cube_redis_command(mcf, ngx_cube_router_ignore_cb, NULL, argc, argv, lens);
}

/* ---------------------------------------------------------------- auto-resume */

/* The resume lock, across nginx workers and gateways: one request per paused sandbox
 * asks its worker to resume it, the others look again every few ms until it runs.
 * KEYS = {cube:sb:<id>, cube:resume:<id>}, ARGV = {owner, lock ttl ms}. */
static const char ngx_cube_router_lock_script[] =
    "local st = redis.call('HGET', KEYS[1], 'state') "
    "if not st then return 'gone' end "
    "if st == 'running' then return 'running' end "
    "if st == 'paused' and redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) "
    "then return 'mine' end "
    "return 'wait'";

static const char ngx_cube_router_unlock_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0";

static const char ngx_cube_router_resumed_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then "
    "redis.call('HSET', KEYS[1], 'state', 'running', 'end_at', ARGV[1]) return 1 end "
    "return 0";

#define NGX_CUBE_RESUME_POLL_MS 10

static void ngx_cube_route_release_lock(ngx_cube_route_wait_t *w)
{
    const char *argv[5];
    char key[96];

    w->locked = 0;
    ngx_snprintf((u_char *)key, sizeof(key), "cube:resume:%V%Z", &w->rt->sandbox_id);
    argv[0] = "EVAL";
    argv[1] = ngx_cube_router_unlock_script;
    argv[2] = "1";
    argv[3] = key;
    argv[4] = w->owner;
    ngx_cube_router_send(w->mcf, 5, argv);
}

static void ngx_cube_route_try_lock(ngx_cube_route_wait_t *w);

static void ngx_cube_router_resumed_cb(redisReply *reply, void *data)
{
    ngx_cube_route_wait_t *w = data;

    if (!ngx_cube_route_back(w)) {
        return;
    }
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        ngx_cube_route_answer(w, NGX_HTTP_BAD_GATEWAY, "The sandbox was not found");
        return;
    }
    ngx_cube_route_proceed(w, w->addr); /* releases the lock */
}

static void ngx_cube_router_worker_cb(void *data, ngx_int_t rc, ngx_uint_t status,
                                      u_char *body, size_t body_len)
{
    ngx_cube_route_wait_t *w = data;
    const char *argv[16];
    size_t lens[5];
    char key[96], end_at[32], now[24];
    int i;

    if (!ngx_cube_route_back(w)) {
        return;
    }
    if (rc == NGX_CUBE_WORKER_EREDIS) {
        ngx_cube_route_redis_down(w);
        return;
    }
    if (rc != NGX_CUBE_WORKER_OK) {
        ngx_cube_route_answer(w, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "Service unavailable: the sandbox's worker did not answer");
        return;
    }
    /* 409: it runs already (resumed by a request that lost its lock). */
    if (status != NGX_HTTP_OK && status != NGX_HTTP_CONFLICT) {
        ngx_cube_route_answer(w, NGX_HTTP_BAD_GATEWAY, "The sandbox was not found");
        return;
    }
    ngx_snprintf((u_char *)key, sizeof(key), "cube:sb:%V%Z", &w->rt->sandbox_id);
    /* It lives its own timeout from now, as after a connect. */
    cube_rfc3339_ms(
        cube_now_ms() +
            (w->timeout_s > 0 ? w->timeout_s : (int64_t)w->mcf->default_timeout) * 1000,
        end_at, sizeof(end_at));
    if (status == NGX_HTTP_OK) {
        ngx_cube_count(auto_resumes);
        ngx_snprintf((u_char *)now, sizeof(now), "%L%Z", (int64_t)cube_now_ms());
        /* Lifecycle event for the durable record (as the API's, see op_event). */
        argv[0] = "XADD";
        argv[1] = "cube:events";
        argv[2] = "MAXLEN";
        argv[3] = "~";
        argv[4] = "100000";
        argv[5] = "*";
        argv[6] = "type";
        argv[7] = "resumed";
        argv[8] = "id";
        argv[9] = (const char *)w->rt->sandbox_id.data;
        argv[10] = "at_ms";
        argv[11] = now;
        argv[12] = "reason";
        argv[13] = "traffic";
        argv[14] = "end_at";
        argv[15] = end_at;
        ngx_cube_router_send(w->mcf, 16, argv);
    }
    argv[0] = "EVAL";
    argv[1] = ngx_cube_router_resumed_script;
    argv[2] = "1";
    argv[3] = key;
    argv[4] = end_at;
    for (i = 0; i < 5; i++) {
        lens[i] = ngx_strlen(argv[i]);
    }
    if (ngx_cube_redis_command(w->mcf, ngx_cube_router_resumed_cb, w, 5, argv, lens) !=
        NGX_OK) {
        ngx_cube_route_redis_down(w);
        return;
    }
    w->inflight = 1;
}

static void ngx_cube_route_poll(ngx_event_t *ev)
{
    ngx_cube_route_wait_t *w = ev->data;

    if (w->r == NULL) {
        ngx_cube_route_wait_free(w);
        return;
    }
    if ((ngx_msec_int_t)(ngx_current_msec - w->deadline) >= 0) {
        ngx_cube_route_answer(w, NGX_HTTP_GATEWAY_TIME_OUT,
                              "The sandbox is still resuming. Try again in a moment.");
        return;
    }
    ngx_cube_route_try_lock(w);
}

static void ngx_cube_router_lock_cb(redisReply *reply, void *data)
{
    ngx_cube_route_wait_t *w = data;
    char path[96];
    ngx_int_t rc;

    if (!ngx_cube_route_back(w)) {
        return;
    }
    if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
        ngx_cube_route_redis_down(w);
        return;
    }
    if (ngx_strcmp(reply->str, "running") == 0) {
        ngx_cube_route_proceed(w, w->addr);
        return;
    }
    if (ngx_strcmp(reply->str, "gone") == 0) {
        ngx_cube_route_answer(w, NGX_HTTP_BAD_GATEWAY, "The sandbox was not found");
        return;
    }
    if (ngx_strcmp(reply->str, "mine") !=
        0) { /* another request resumes it: look again */
        if (!w->waited) {
            w->waited = 1;
            ngx_cube_count(auto_resume_waits);
        }
        ngx_add_timer(&w->timer, NGX_CUBE_RESUME_POLL_MS);
        return;
    }
    w->locked = 1;
    ngx_snprintf((u_char *)path, sizeof(path), "/sandboxes/%V/resume%Z",
                 &w->rt->sandbox_id);
    rc = ngx_cube_node_call(w->mcf, w->node, "POST", path, w->mcf->worker_timeout,
                            ngx_cube_router_worker_cb, w);
    if (rc != NGX_OK) {
        ngx_cube_route_answer(w, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "Service unavailable: the sandbox's worker is unreachable");
        return;
    }
    w->inflight = 1;
}

static void ngx_cube_route_try_lock(ngx_cube_route_wait_t *w)
{
    const char *argv[7];
    size_t lens[7];
    char key[96], lock[96], ttl[24];
    int i;

    ngx_snprintf((u_char *)key, sizeof(key), "cube:sb:%V%Z", &w->rt->sandbox_id);
    ngx_snprintf((u_char *)lock, sizeof(lock), "cube:resume:%V%Z", &w->rt->sandbox_id);
    /* The holder may die: the lock outlives one worker call at most. */
    ngx_snprintf((u_char *)ttl, sizeof(ttl), "%M%Z", w->mcf->worker_timeout + 1000);
    argv[0] = "EVAL";
    argv[1] = ngx_cube_router_lock_script;
    argv[2] = "2";
    argv[3] = key;
    argv[4] = lock;
    argv[5] = w->owner;
    argv[6] = ttl;
    for (i = 0; i < 7; i++) {
        lens[i] = ngx_strlen(argv[i]);
    }
    if (ngx_cube_redis_command(w->mcf, ngx_cube_router_lock_cb, w, 7, argv, lens) !=
        NGX_OK) {
        ngx_cube_route_redis_down(w);
        return;
    }
    w->inflight = 1;
}

/* The sandbox is paused with autoResume: resume it (or wait for whoever does). */
static void ngx_cube_route_resume(ngx_cube_route_wait_t *w)
{
    static ngx_atomic_uint_t seq;

    ngx_snprintf((u_char *)w->owner, sizeof(w->owner), "%P-%uA-%M%Z", ngx_pid, ++seq,
                 ngx_current_msec);
    w->timer.handler = ngx_cube_route_poll;
    w->timer.data = w;
    w->timer.log = ngx_cycle->log;
    w->timer.cancelable = 1;
    w->deadline = ngx_current_msec + w->mcf->worker_timeout + 2000;
    w->resume_t0_us = ngx_cube_mono_us();
    ngx_cube_route_try_lock(w);
}

/* A missing record proves the sandbox gone only while Redis's live view is whole:
 * after Redis restarts empty (or is flushed) no node is registered until the workers
 * come back and put their sandboxes back. Until then the miss is a 503 (retry), as in
 * the API, not the not-found 502 that tells the SDK its sandbox is gone. */
static void ngx_cube_router_view_cb(redisReply *reply, void *data)
{
    ngx_cube_route_wait_t *w = data;

    if (!ngx_cube_route_back(w)) {
        return;
    }
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_cube_route_redis_down(w);
        return;
    }
    if (reply->integer == 0) {
        ngx_cube_route_answer(w, NGX_HTTP_SERVICE_UNAVAILABLE,
                              "Service unavailable: no sandbox node is registered in the "
                              "state store (Redis restarted and is being rebuilt); retry "
                              "shortly");
        return;
    }
    ngx_cube_route_answer(w, NGX_HTTP_BAD_GATEWAY, "The sandbox was not found");
}

static void ngx_cube_route_check_view(ngx_cube_route_wait_t *w)
{
    const char *argv[2] = {"SCARD", "cube:nodes"};
    size_t lens[2] = {5, 10};

    if (ngx_cube_redis_command(w->mcf, ngx_cube_router_view_cb, w, 2, argv, lens) !=
        NGX_OK) {
        ngx_cube_route_redis_down(w);
        return;
    }
    w->inflight = 1;
}

static void ngx_cube_router_redis_cb(redisReply *reply, void *data)
{
    ngx_cube_route_wait_t *w = data;
    const char *addr = NULL, *state = NULL, *auto_resume = NULL, *node = NULL, *refusal;
    const char *timeout_s = NULL, *template_id = NULL;
    ngx_uint_t private_traffic = 0;
    redisReply *e;

    if (!ngx_cube_route_back(w)) {
        return;
    }
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_cube_route_redis_down(w);
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 7) {
        addr = reply_field(reply->element[0]);
        state = reply_field(reply->element[1]);
        auto_resume = reply_field(reply->element[2]);
        node = reply_field(reply->element[3]);
        e = reply->element[4];
        private_traffic = e->type == REDIS_REPLY_STRING && ngx_strcmp(e->str, "1") == 0;
        timeout_s = reply_field(reply->element[5]);
        template_id = reply_field(reply->element[6]);
    }
    if (addr == NULL && state == NULL) { /* no record: gone, or Redis lost it */
        ngx_cube_route_check_view(w);
        return;
    }
    if (template_id == NULL) {
        /* Only the worker's runtime fields: Redis lost the record and cube-scheduler
         * has not put the API's fields (traffic token, auto-resume) back yet. Routing
         * now could skip the sandbox's traffic-token check. */
        ngx_cube_route_answer(
            w, NGX_HTTP_SERVICE_UNAVAILABLE,
            "Service unavailable: the sandbox's record is being rebuilt "
            "after a state store (Redis) restart; retry shortly");
        return;
    }
    if (addr == NULL || *addr == '\0' || state == NULL ||
        ngx_strlen(addr) >= sizeof(w->addr)) {
        ngx_cube_route_answer(w, NGX_HTTP_BAD_GATEWAY, "The sandbox was not found");
        return;
    }
    if (ngx_strcmp(state, "running") != 0 &&
        !(ngx_strcmp(state, "paused") == 0 && auto_resume &&
          ngx_strcmp(auto_resume, "1") == 0 && node && *node &&
          ngx_strlen(node) < sizeof(w->node))) {
        ngx_cube_route_answer(w, NGX_HTTP_BAD_GATEWAY, "The sandbox was not found");
        return;
    }
    /* Checked before a resume too: traffic without the token wakes nothing. */
    refusal = ngx_cube_router_token_refusal(w->r, w->rt, w->mcf, private_traffic);
    if (refusal) {
        ngx_cube_count(traffic_token_denied);
        ngx_cube_route_answer(w, NGX_HTTP_FORBIDDEN, refusal);
        return;
    }
    ngx_cpystrn((u_char *)w->addr, (u_char *)addr, sizeof(w->addr));
    if (ngx_strcmp(state, "running") == 0) {
        ngx_cube_route_cache_put(w->rt->sandbox_id.data, w->rt->sandbox_id.len,
                                 (const u_char *)addr, ngx_strlen(addr), private_traffic);
        ngx_cube_route_proceed(w, w->addr);
        return;
    }
    ngx_cpystrn((u_char *)w->node, (u_char *)node, sizeof(w->node));
    if (timeout_s) {
        w->timeout_s = ngx_atoi((u_char *)timeout_s, ngx_strlen(timeout_s));
    }
    ngx_cube_route_resume(w);
}

ngx_int_t ngx_cube_router_handler(ngx_http_request_t *r)
{
    ngx_cube_loc_conf_t *lcf = ngx_http_get_module_loc_conf(r, ngx_cube_module);
    ngx_cube_main_conf_t *mcf = ngx_http_get_module_main_conf(r, ngx_cube_module);
    ngx_table_elt_t *hid, *hport;
    ngx_cube_route_t *rt;
    ngx_cube_route_wait_t *w;
    char id[CUBE_GW_ID_MAX + 1];
    u_char cached[NGX_CUBE_ROUTE_ADDR_MAX];
    size_t cached_len;
    ngx_uint_t private_traffic;
    const char *argv[9], *refusal;
    size_t lens[9];
    u_char *key;
    int port, i;

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
            return ngx_cube_router_fail(
                r, rt, NGX_HTTP_BAD_REQUEST, NULL,
                "Both E2b-Sandbox-Id and E2b-Sandbox-Port headers "
                "are required");
        }
        port = cube_parse_port((const char *)hport->value.data, hport->value.len);
        if (port < 0) {
            return ngx_cube_router_fail(r, rt, NGX_HTTP_BAD_REQUEST, NULL,
                                        "Invalid E2b-Sandbox-Port header");
        }
        if (cube_sandbox_id_normalize((const char *)hid->value.data, hid->value.len,
                                      id) != 0) {
            return ngx_cube_router_fail(r, rt, NGX_HTTP_BAD_REQUEST, NULL,
                                        "Invalid sandbox ID");
        }
    } else if (mcf->domain.len == 0 || r->headers_in.server.len == 0 ||
               cube_host_route((const char *)r->headers_in.server.data,
                               r->headers_in.server.len, (const char *)mcf->domain.data,
                               mcf->domain.len, &port, id) != 0) {
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

    if (cube_envd_path_refused(port, (const char *)r->uri.data, r->uri.len)) {
        return ngx_cube_router_fail(
            r, rt, NGX_HTTP_FORBIDDEN, id,
            "This path is not accessible from outside the sandbox");
    }

    /* A route read from Redis less than cube_route_cache_ttl ago: no round trip. */
    if (ngx_cube_route_cache_get(rt->sandbox_id.data, rt->sandbox_id.len, cached,
                                 &cached_len, &private_traffic) == NGX_OK) {
        ngx_cube_count(route_cache_hits);
        refusal = ngx_cube_router_token_refusal(r, rt, mcf, private_traffic);
        if (refusal) {
            ngx_cube_count(traffic_token_denied);
            return ngx_cube_router_fail(r, rt, NGX_HTTP_FORBIDDEN, id, refusal);
        }
        if (ngx_cube_route_set_upstream(r, rt, cached, cached_len) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        return NGX_DECLINED;
    }
    ngx_cube_count(route_cache_misses);

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
    argv[1] = (const char *)key;
    argv[2] = "addr";
    argv[3] = "state";
    argv[4] = "auto_resume";
    argv[5] = "node";
    argv[6] = "traffic_token";
    argv[7] = "timeout_s";
    argv[8] = "template_id"; /* written with the API's fields: the record is whole */
    for (i = 0; i < 9; i++) {
        lens[i] = ngx_strlen(argv[i]);
    }
    w->r = r;
    w->rt = rt;
    w->mcf = mcf;
    if (ngx_cube_redis_command(mcf, ngx_cube_router_redis_cb, w, 9, argv, lens) !=
        NGX_OK) {
        ngx_free(w);
        return ngx_cube_router_fail(
            r, rt, NGX_HTTP_SERVICE_UNAVAILABLE, id,
            "Service unavailable: state store (Redis) is not reachable");
    }
    w->inflight = 1;
    w->cln->handler = ngx_cube_route_wait_gone;
    w->cln->data = w;
    rt->phase = ROUTE_WAITING;
    return NGX_AGAIN;
}

ngx_int_t ngx_cube_router_target(ngx_http_request_t *r, ngx_str_t *upstream,
                                 ngx_str_t *port)
{
    ngx_cube_route_t *rt = ngx_cube_route_get(r);

    if (rt == NULL || rt->upstream.len == 0) {
        return NGX_DECLINED;
    }
    *upstream = rt->upstream;
    *port = rt->port;
    return NGX_OK;
}

int ngx_cube_router_routed(ngx_http_request_t *r)
{
    ngx_cube_route_t *rt = ngx_cube_route_get(r);

    return rt != NULL;
}

/* ---------------------------------------------------------------- activity flush */

/* KEYS = cube:sb:<id>..., ARGV = their last activity (ms): raise last_activity_ms of
 * records that still exist (another gateway may have written a later one). */
static const char ngx_cube_activity_script[] =
    "local n = 0 "
    "for i, k in ipairs(KEYS) do "
    "  if redis.call('EXISTS', k) == 1 then "
    "    local cur = tonumber(redis.call('HGET', k, 'last_activity_ms') or '0') or 0 "
    "    if tonumber(ARGV[i]) > cur then "
    "      redis.call('HSET', k, 'last_activity_ms', ARGV[i]) n = n + 1 end "
    "  end "
    "end "
    "return n";

#define NGX_CUBE_FLUSH_BATCH 128

typedef struct {
    char key[sizeof("cube:sb:") + NGX_CUBE_ROUTE_ID_MAX];
    char ms[24];
} ngx_cube_flush_item_t;

typedef struct {
    ngx_cube_flush_item_t *items;
    ngx_uint_t n, cap;
    ngx_uint_t cursor; /* where the next collection starts */
} ngx_cube_flush_t;

/* Most stamps written per interval (more wait for the next one). */
#define NGX_CUBE_FLUSH_MAX 8192

static ngx_event_t ngx_cube_flush_ev;
static ngx_cube_flush_t ngx_cube_flush;
static ngx_cube_main_conf_t *ngx_cube_flush_mcf;

static void ngx_cube_flush_collect(void *ctx, const ngx_cube_activity_t *a)
{
    ngx_cube_flush_t *f = ctx;
    ngx_cube_flush_item_t *it;

    if (f->n == f->cap) { /* collect stops at cap: not reached */
        return;
    }
    it = &f->items[f->n++];
    *ngx_snprintf((u_char *)it->key, sizeof(it->key) - 1, "cube:sb:%V", &a->id) = '\0';
    *ngx_snprintf((u_char *)it->ms, sizeof(it->ms) - 1, "%L", a->ms) = '\0';
}

static void ngx_cube_flush_handler(ngx_event_t *ev)
{
    const char *argv[3 + 2 * NGX_CUBE_FLUSH_BATCH];
    size_t lens[3 + 2 * NGX_CUBE_FLUSH_BATCH];
    char nkeys[8];
    ngx_uint_t i, k, n;
    ngx_cube_counters_t *c = ngx_cube_counters();

    ngx_cube_flush.n = 0;
    (void)ngx_cube_route_activity_collect(ngx_cube_flush_collect, &ngx_cube_flush,
                                          ngx_cube_flush.cap, &ngx_cube_flush.cursor);
    /* Pipelined on this worker's Redis connection, one EVAL per batch. A Redis that is
     * down loses these stamps; requests and open streams stamp again. */
    for (i = 0; i < ngx_cube_flush.n; i += n) {
        n = ngx_min(ngx_cube_flush.n - i, NGX_CUBE_FLUSH_BATCH);
        ngx_snprintf((u_char *)nkeys, sizeof(nkeys), "%ui%Z", n);
        argv[0] = "EVAL";
        argv[1] = ngx_cube_activity_script;
        argv[2] = nkeys;
        for (k = 0; k < n; k++) {
            argv[3 + k] = ngx_cube_flush.items[i + k].key;
            argv[3 + n + k] = ngx_cube_flush.items[i + k].ms;
        }
        for (k = 0; k < 3 + 2 * n; k++) {
            lens[k] = ngx_strlen(argv[k]);
        }
        if (ngx_cube_redis_command(ngx_cube_flush_mcf, ngx_cube_router_ignore_cb, NULL,
                                   (int)(3 + 2 * n), argv, lens) != NGX_OK) {
            break;
        }
        if (c) {
            (void)ngx_atomic_fetch_add(&c->activity_flushes, 1);
            (void)ngx_atomic_fetch_add(&c->activity_flushed, n);
        }
    }
    if (!ngx_exiting) {
        ngx_add_timer(ev, ngx_cube_activity_interval);
    }
}

ngx_int_t ngx_cube_router_init_process(ngx_cycle_t *cycle)
{
    ngx_cube_main_conf_t *mcf =
        ngx_http_cycle_get_module_main_conf(cycle, ngx_cube_module);

    if (mcf == NULL || mcf->redis.len == 0 || mcf->route_cache_slots == 0) {
        return NGX_OK; /* no table to stamp, or nowhere to write */
    }
    ngx_cube_activity_interval = mcf->activity_flush;
    if (ngx_cube_activity_interval == 0 ||
        (ngx_process == NGX_PROCESS_WORKER && ngx_worker != 0)) {
        return NGX_OK; /* worker 0 flushes for all */
    }
    ngx_cube_flush.cap = ngx_min((ngx_uint_t)mcf->route_cache_slots, NGX_CUBE_FLUSH_MAX);
    ngx_cube_flush.items =
        ngx_alloc(ngx_cube_flush.cap * sizeof(ngx_cube_flush_item_t), cycle->log);
    if (ngx_cube_flush.items == NULL) {
        return NGX_ERROR;
    }
    ngx_cube_flush_mcf = mcf;
    ngx_cube_flush_ev.handler = ngx_cube_flush_handler;
    ngx_cube_flush_ev.log = cycle->log;
    ngx_cube_flush_ev.cancelable = 1;
    ngx_add_timer(&ngx_cube_flush_ev, ngx_cube_activity_interval);
    return NGX_OK;
}

/* ---------------------------------------------------------------- variables */

static ngx_int_t ngx_cube_route_variable(ngx_http_request_t *r,
                                         ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_cube_route_t *rt = ngx_cube_route_get(r);
    ngx_str_t *s;

    if (rt == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }
    s = (ngx_str_t *)((char *)rt + data);
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
    return ngx_cube_upstream_add_variables(cf);
}
