/*
 * ngx_cube_module: Cube's E2B-compatible REST API and sandbox router for nginx.
 *
 * Directives
 * ----------
 *
 * cube_redis unix:/run/cube/redis.sock | 127.0.0.1:6390;
 *     context: http. Default: unix:/run/cube/redis.sock.
 *     Redis holding Cube's live view (docs/internals.md). Each nginx worker keeps one
 *     hiredis async connection on its event loop, opened on first use and again after
 *     any error. A TCP address must be a numeric IPv4 address (or "localhost"): nginx
 *     never resolves names here, resolving would block.
 *
 * cube_redis_timeout <time>;
 *     context: http. Default: 3s.
 *     Longest wait for one Redis reply. On expiry the connection is dropped, every
 *     pending request gets 503 and the next command reconnects.
 *
 * cube_secret_file /var/lib/cube/secret;
 *     context: http. Required where cube_api is used.
 *     The installation secret, read once at configuration load (by the master, so the
 *     file may be root-only, mode 0600). Its text with surrounding whitespace trimmed,
 *     i.e. the hex string itself and not the bytes it encodes, is the HMAC key:
 *     envdAccessToken = hex(HMAC-SHA256(key = trimmed file text, msg = sandboxID)).
 *
 * cube_placement_script /path/to/lua/redis/place.lua;
 *     context: http. Required for sandbox creation.
 *     Redis Lua placement script, read at configuration load. Called with EVALSHA
 *     (SHA-1 computed locally); on NOSCRIPT it falls back to EVAL, which also caches
 *     the script in Redis for the next EVALSHA.
 *
 * cube_domain <domain>;
 *     context: http. Default: none (host routing off).
 *     Enables host routing: a request whose Host is <port>-<sandboxID>.<domain> goes
 *     to the router.
 *
 * cube_worker_timeout <time>;
 *     context: http. Default: 30s.
 *     Longest wait for a cube-worker's answer (create waits for the sandbox's envd).
 *     Expiry => 504.
 *
 * cube_worker_connect_timeout <time>;
 *     context: http. Default: 2s.
 *     Longest wait for a connection to a cube-worker. Failure or expiry => 503.
 *
 * cube_worker_max_response <size>;
 *     context: http. Default: 1m. Larger worker answers are treated as invalid (502).
 *
 * cube_api_max_body_size <size>;
 *     context: http. Default: 1m.
 *     Largest API request body (413 beyond). Enforced by the module, so the location
 *     holding cube_api can keep client_max_body_size 0 for routed uploads.
 *
 * cube_default_timeout <seconds>;
 *     context: http. Default: 300.
 *     Sandbox timeout when a v2 create (POST /v2/sandboxes) omits "timeout". v1
 *     (POST /sandboxes) keeps E2B's default of 15 s.
 *
 * cube_route_cache_slots <n>;
 *     context: http. Default: 16384. 0 turns the cache off.
 *     Entries of the router's route cache in shared memory (about 130 bytes each,
 *     rounded down to a multiple of 4): sandbox id -> address, shared by all workers.
 *
 * cube_route_cache_ttl <time>;
 *     context: http. Default: 100ms.
 *     How long a route read from Redis is used without asking again: the longest a
 *     sandbox killed or paused elsewhere (another gateway, cube-scheduler) stays
 *     reachable through this gateway. Kills and pauses made through this gateway
 *     drop the entry at once.
 *
 * cube_activity_flush <time>;
 *     context: http. Default: 1s. 0 turns activity tracking off.
 *     How often one nginx worker writes the routed activity it saw (last_activity_ms
 *     of cube:sb:<id>, one batched write per interval) for auto-pause: a sandbox with
 *     autoPause is paused only after its routed traffic was idle for its timeout.
 *     Needs the route cache (its entries hold the stamps).
 *
 * cube_api [@named_location];
 *     context: location. Content handler for the E2B REST API:
 *       GET /health (no auth), POST /sandboxes, POST /v2/sandboxes,
 *       GET /sandboxes, GET /v2/sandboxes, GET /sandboxes/{id}, DELETE /sandboxes/{id}.
 *     Requests that carry E2b-Sandbox-Id / E2b-Sandbox-Port, or whose Host matches
 *     <port>-<id>.<cube_domain>, are handed to the named location (default
 *     @cube_router) instead, so one listener serves the API and the router.
 *
 * cube_router;
 *     context: location. Access-phase router: resolves the sandbox and sets
 *     $cube_upstream (<sandbox addr>:<port>), $cube_sandbox_id and $cube_sandbox_port
 *     for `proxy_pass http://$cube_upstream;`. Unknown / not running sandboxes get
 *     502 JSON, envd control paths (/init, ... on 49983) 403 JSON.
 *
 * cube_prometheus;
 *     context: location. Content handler: Prometheus text metrics (sandboxes by state,
 *     per-node load and capacity from Redis; request counts and latency histograms,
 *     create/kill/pause/resume and error counters, router counters from shared
 *     memory). Put it in a server that listens on loopback only (conf/nginx.conf.in:
 *     the admin server); it has no authentication.
 *
 * Variables: $cube_upstream, $cube_sandbox_id, $cube_sandbox_port.
 */
#include "ngx_cube_module.h"
#include "ngx_cube_shm.h"

#include <openssl/sha.h>

static void *ngx_cube_create_main_conf(ngx_conf_t *cf);
static char *ngx_cube_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_cube_create_loc_conf(ngx_conf_t *cf);
static char *ngx_cube_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static ngx_int_t ngx_cube_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_cube_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_cube_init_process(ngx_cycle_t *cycle);
static void ngx_cube_exit_process(ngx_cycle_t *cycle);

static char *ngx_cube_redis_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_cube_secret_file_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_cube_place_script_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_cube_api_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_cube_router_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_cube_prometheus_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

static ngx_uint_t ngx_cube_api_used;

static ngx_command_t ngx_cube_commands[] = {
    {ngx_string("cube_redis"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_cube_redis_set,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL},
    {ngx_string("cube_redis_timeout"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_msec_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_cube_main_conf_t, redis_timeout), NULL},
    {ngx_string("cube_secret_file"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_cube_secret_file_set, NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL},
    {ngx_string("cube_placement_script"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_cube_place_script_set, NGX_HTTP_MAIN_CONF_OFFSET, 0, NULL},
    {ngx_string("cube_domain"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, ngx_conf_set_str_slot,
     NGX_HTTP_MAIN_CONF_OFFSET, offsetof(ngx_cube_main_conf_t, domain), NULL},
    {ngx_string("cube_worker_timeout"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_msec_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_cube_main_conf_t, worker_timeout), NULL},
    {ngx_string("cube_worker_connect_timeout"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_msec_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_cube_main_conf_t, worker_connect_timeout), NULL},
    {ngx_string("cube_worker_max_response"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_size_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_cube_main_conf_t, worker_max_response), NULL},
    {ngx_string("cube_api_max_body_size"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_off_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_cube_main_conf_t, api_max_body), NULL},
    {ngx_string("cube_default_timeout"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_num_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_cube_main_conf_t, default_timeout), NULL},
    {ngx_string("cube_route_cache_slots"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_num_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_cube_main_conf_t, route_cache_slots), NULL},
    {ngx_string("cube_route_cache_ttl"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_msec_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_cube_main_conf_t, route_cache_ttl), NULL},
    {ngx_string("cube_activity_flush"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_msec_slot, NGX_HTTP_MAIN_CONF_OFFSET,
     offsetof(ngx_cube_main_conf_t, activity_flush), NULL},
    {ngx_string("cube_api"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS | NGX_CONF_TAKE1,
     ngx_cube_api_set, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("cube_router"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS, ngx_cube_router_set,
     NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("cube_prometheus"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS,
     ngx_cube_prometheus_set, NGX_HTTP_LOC_CONF_OFFSET, 0, NULL},
    {ngx_string("cube_sandbox_peer"), NGX_HTTP_UPS_CONF | NGX_CONF_NOARGS,
     ngx_cube_sandbox_peer_set, 0, 0, NULL},
    ngx_null_command};

static ngx_http_module_t ngx_cube_module_ctx = {
    ngx_cube_preconfiguration,  /* preconfiguration */
    ngx_cube_postconfiguration, /* postconfiguration */
    ngx_cube_create_main_conf,  /* create main configuration */
    ngx_cube_init_main_conf,    /* init main configuration */
    NULL,                       /* create server configuration */
    NULL,                       /* merge server configuration */
    ngx_cube_create_loc_conf,   /* create location configuration */
    ngx_cube_merge_loc_conf     /* merge location configuration */
};

ngx_module_t ngx_cube_module = {
    NGX_MODULE_V1,
    &ngx_cube_module_ctx,  /* module context */
    ngx_cube_commands,     /* module directives */
    NGX_HTTP_MODULE,       /* module type */
    NULL,                  /* init master */
    NULL,                  /* init module */
    ngx_cube_init_process, /* init process */
    NULL,                  /* init thread */
    NULL,                  /* exit thread */
    ngx_cube_exit_process, /* exit process */
    NULL,                  /* exit master */
    NGX_MODULE_V1_PADDING};

/* ---------------------------------------------------------------- configuration */

static void *ngx_cube_create_main_conf(ngx_conf_t *cf)
{
    ngx_cube_main_conf_t *mcf = ngx_pcalloc(cf->pool, sizeof(ngx_cube_main_conf_t));

    if (mcf == NULL) {
        return NULL;
    }
    mcf->redis_timeout = NGX_CONF_UNSET_MSEC;
    mcf->worker_timeout = NGX_CONF_UNSET_MSEC;
    mcf->worker_connect_timeout = NGX_CONF_UNSET_MSEC;
    mcf->worker_max_response = NGX_CONF_UNSET_SIZE;
    mcf->api_max_body = NGX_CONF_UNSET;
    mcf->default_timeout = NGX_CONF_UNSET;
    mcf->route_cache_slots = NGX_CONF_UNSET;
    mcf->route_cache_ttl = NGX_CONF_UNSET_MSEC;
    mcf->activity_flush = NGX_CONF_UNSET_MSEC;
    ngx_cube_api_used = 0;
    return mcf;
}

static ngx_int_t ngx_cube_parse_redis(ngx_conf_t *cf, ngx_cube_main_conf_t *mcf,
                                      ngx_str_t *v)
{
    u_char *colon;
    ngx_int_t port;
    ngx_str_t host;

    mcf->redis = *v;
    if (v->len > 5 && ngx_strncmp(v->data, "unix:", 5) == 0) {
        mcf->redis_unix.len = v->len - 5;
        mcf->redis_unix.data = ngx_pnalloc(cf->pool, v->len - 4);
        if (mcf->redis_unix.data == NULL) {
            return NGX_ERROR;
        }
        ngx_cpystrn(mcf->redis_unix.data, v->data + 5, v->len - 4);
        return NGX_OK;
    }
    colon = ngx_strlchr(v->data, v->data + v->len, ':');
    if (colon == NULL) {
        return NGX_DECLINED;
    }
    host.data = v->data;
    host.len = colon - v->data;
    port = ngx_atoi(colon + 1, v->data + v->len - colon - 1);
    if (port < 1 || port > 65535) {
        return NGX_DECLINED;
    }
    if (host.len == 9 && ngx_strncmp(host.data, "localhost", 9) == 0) {
        ngx_str_set(&host, "127.0.0.1");
    }
    if (ngx_inet_addr(host.data, host.len) == INADDR_NONE) {
        return NGX_DECLINED;
    }
    mcf->redis_host.len = host.len;
    mcf->redis_host.data = ngx_pnalloc(cf->pool, host.len + 1);
    if (mcf->redis_host.data == NULL) {
        return NGX_ERROR;
    }
    ngx_cpystrn(mcf->redis_host.data, host.data, host.len + 1);
    mcf->redis_port = port;
    return NGX_OK;
}

static char *ngx_cube_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_cube_main_conf_t *mcf = conf;
    ngx_str_t dflt = ngx_string("unix:/run/cube/redis.sock");

    if (mcf->redis.len == 0 && ngx_cube_parse_redis(cf, mcf, &dflt) != NGX_OK) {
        return NGX_CONF_ERROR;
    }
    ngx_conf_init_msec_value(mcf->redis_timeout, 3000);
    ngx_conf_init_msec_value(mcf->worker_timeout, 30000);
    ngx_conf_init_msec_value(mcf->worker_connect_timeout, 2000);
    ngx_conf_init_size_value(mcf->worker_max_response, 1024 * 1024);
    if (mcf->api_max_body == NGX_CONF_UNSET) {
        mcf->api_max_body = 1024 * 1024;
    }
    ngx_conf_init_value(mcf->default_timeout, 300);
    if (mcf->default_timeout < 1 || mcf->default_timeout > 86400) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"cube_default_timeout\" must be 1..86400");
        return NGX_CONF_ERROR;
    }
    ngx_conf_init_value(mcf->route_cache_slots, 16384);
    ngx_conf_init_msec_value(mcf->route_cache_ttl, 100);
    if (mcf->route_cache_slots < 0 || mcf->route_cache_slots > 16 * 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"cube_route_cache_slots\" must be 0..16777216");
        return NGX_CONF_ERROR;
    }
    mcf->route_cache_slots &= ~(ngx_int_t) 3;
    ngx_conf_init_msec_value(mcf->activity_flush, 1000);
    if (mcf->activity_flush != 0 && mcf->activity_flush < 100) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cube_activity_flush\" must be 0 (off) or at least 100ms");
        return NGX_CONF_ERROR;
    }
    if (mcf->worker_max_response < 4096) {
        mcf->worker_max_response = 4096;
    }
    return NGX_CONF_OK;
}

static void *ngx_cube_create_loc_conf(ngx_conf_t *cf)
{
    ngx_cube_loc_conf_t *lcf = ngx_pcalloc(cf->pool, sizeof(ngx_cube_loc_conf_t));

    if (lcf == NULL) {
        return NULL;
    }
    lcf->api = NGX_CONF_UNSET;
    lcf->router = NGX_CONF_UNSET;
    return lcf;
}

static char *ngx_cube_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_cube_loc_conf_t *prev = parent, *conf = child;

    /* Neither is inherited: each applies to the location that names it. */
    ngx_conf_init_value(conf->api, 0);
    ngx_conf_init_value(conf->router, 0);
    (void) prev;
    if (conf->router_location.len == 0) {
        ngx_str_set(&conf->router_location, "@cube_router");
    }
    return NGX_CONF_OK;
}

static char *ngx_cube_redis_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cube_main_conf_t *mcf = conf;
    ngx_str_t *value = cf->args->elts;
    ngx_int_t rc;

    if (mcf->redis.len) {
        return "is duplicate";
    }
    rc = ngx_cube_parse_redis(cf, mcf, &value[1]);
    if (rc == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }
    if (rc == NGX_DECLINED) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"cube_redis\" \"%V\": use unix:/path or "
                           "<IPv4>:<port>", &value[1]);
        return NGX_CONF_ERROR;
    }
    return NGX_CONF_OK;
}

/* Read a whole (small) file at configuration time. */
static ngx_int_t ngx_cube_read_conf_file(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *out,
                                         size_t max)
{
    ngx_file_t file;
    ngx_file_info_t fi;
    ssize_t n;
    size_t size;

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = *name;
    file.log = cf->log;
    file.fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno, ngx_open_file_n " \"%s\" failed",
                           name->data);
        return NGX_ERROR;
    }
    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno, ngx_fd_info_n " \"%s\" failed",
                           name->data);
        ngx_close_file(file.fd);
        return NGX_ERROR;
    }
    size = (size_t) ngx_file_size(&fi);
    if (size > max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%s\" is too large", name->data);
        ngx_close_file(file.fd);
        return NGX_ERROR;
    }
    out->data = ngx_pnalloc(cf->pool, size + 1);
    if (out->data == NULL) {
        ngx_close_file(file.fd);
        return NGX_ERROR;
    }
    n = ngx_read_file(&file, out->data, size, 0);
    ngx_close_file(file.fd);
    if (n != (ssize_t) size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "cannot read \"%s\"", name->data);
        return NGX_ERROR;
    }
    out->data[size] = '\0';
    out->len = size;
    return NGX_OK;
}

static char *ngx_cube_secret_file_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cube_main_conf_t *mcf = conf;
    ngx_str_t *value = cf->args->elts;
    ngx_str_t text;
    u_char *p, *e;

    if (mcf->secret_file.len) {
        return "is duplicate";
    }
    mcf->secret_file = value[1];
    if (ngx_conf_full_name(cf->cycle, &mcf->secret_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }
    if (ngx_cube_read_conf_file(cf, &mcf->secret_file, &text, 4096) != NGX_OK) {
        return NGX_CONF_ERROR;
    }
    p = text.data;
    e = text.data + text.len;
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
        p++;
    }
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n')) {
        e--;
    }
    if (e - p < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" holds no usable secret (need at least 16 characters)",
                           &mcf->secret_file);
        return NGX_CONF_ERROR;
    }
    mcf->secret.data = p;
    mcf->secret.len = e - p;
    return NGX_CONF_OK;
}

static char *ngx_cube_place_script_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cube_main_conf_t *mcf = conf;
    ngx_str_t *value = cf->args->elts;
    unsigned char md[SHA_DIGEST_LENGTH];
    static const char hex[] = "0123456789abcdef";
    ngx_uint_t i;

    if (mcf->place_script_path.len) {
        return "is duplicate";
    }
    mcf->place_script_path = value[1];
    if (ngx_conf_full_name(cf->cycle, &mcf->place_script_path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }
    if (ngx_cube_read_conf_file(cf, &mcf->place_script_path, &mcf->place_script, 256 * 1024)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }
    if (mcf->place_script.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%V\" is empty", &mcf->place_script_path);
        return NGX_CONF_ERROR;
    }
    SHA1(mcf->place_script.data, mcf->place_script.len, md);
    for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
        mcf->place_sha1[2 * i] = hex[md[i] >> 4];
        mcf->place_sha1[2 * i + 1] = hex[md[i] & 0xf];
    }
    mcf->place_sha1[40] = '\0';
    return NGX_CONF_OK;
}

static char *ngx_cube_api_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cube_loc_conf_t *lcf = conf;
    ngx_str_t *value = cf->args->elts;
    ngx_http_core_loc_conf_t *clcf;

    if (lcf->api != NGX_CONF_UNSET) {
        return "is duplicate";
    }
    lcf->api = 1;
    if (cf->args->nelts == 2) {
        if (value[1].len < 2 || value[1].data[0] != '@') {
            return "needs a named location (\"@name\")";
        }
        lcf->router_location = value[1];
    }
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_cube_api_handler;
    ngx_cube_api_used = 1;
    return NGX_CONF_OK;
}

static char *ngx_cube_router_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_cube_loc_conf_t *lcf = conf;

    if (lcf->router != NGX_CONF_UNSET) {
        return "is duplicate";
    }
    lcf->router = 1;
    return NGX_CONF_OK;
}

static char *ngx_cube_prometheus_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_cube_prom_handler;
    return NGX_CONF_OK;
}

static ngx_int_t ngx_cube_preconfiguration(ngx_conf_t *cf)
{
    return ngx_cube_router_add_variables(cf);
}

static ngx_int_t ngx_cube_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_core_main_conf_t *cmcf;
    ngx_cube_main_conf_t *mcf;
    ngx_http_handler_pt *h;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_cube_module);
    if (ngx_cube_api_used && mcf->secret.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"cube_api\" needs \"cube_secret_file\" in the http block");
        return NGX_ERROR;
    }
    if (ngx_cube_api_used && mcf->place_script.len == 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "no \"cube_placement_script\": sandbox creation will fail");
    }

    if (ngx_cube_shm_add(cf, (ngx_uint_t) mcf->route_cache_slots,
                         mcf->route_cache_slots ? mcf->route_cache_ttl : 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_cube_router_handler;
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_cube_prom_log_handler;
    return NGX_OK;
}

static ngx_int_t ngx_cube_init_process(ngx_cycle_t *cycle)
{
    return ngx_cube_router_init_process(cycle);
}

static void ngx_cube_exit_process(ngx_cycle_t *cycle)
{
    ngx_cube_redis_shutdown();
}
