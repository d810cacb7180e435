/* ngx_cube_module: shared declarations of the module's parts (see ngx_cube_module.c
 * for the directives). */
#ifndef NGX_CUBE_MODULE_H
#define NGX_CUBE_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

typedef struct {
    ngx_str_t redis;               /* as configured: "unix:/path" or "host:port" */
    ngx_str_t redis_unix;          /* NUL-terminated path, or empty */
    ngx_str_t redis_host;          /* NUL-terminated numeric host, or empty */
    ngx_int_t redis_port;
    ngx_msec_t redis_timeout;      /* per command (and connect) */

    ngx_str_t secret_file;
    ngx_str_t secret;              /* trimmed file text: the HMAC key */

    ngx_str_t place_script_path;
    ngx_str_t place_script;        /* Lua source */
    u_char place_sha1[41];         /* hex SHA-1 of the source, for EVALSHA */

    ngx_str_t domain;              /* cube_domain, for host routing */
    ngx_msec_t worker_timeout;     /* read timeout of worker calls */
    ngx_msec_t worker_connect_timeout;
    size_t worker_max_response;
    off_t api_max_body;            /* largest API request body */
    ngx_int_t default_timeout;     /* v2 create default (s) */
    ngx_int_t route_cache_slots;   /* shared route cache entries, 0 = off */
    ngx_msec_t route_cache_ttl;
    ngx_msec_t activity_flush;     /* routed activity -> Redis interval, 0 = off */
} ngx_cube_main_conf_t;

typedef struct {
    ngx_flag_t api;
    ngx_str_t router_location;     /* named location for routed requests */
    ngx_flag_t router;
} ngx_cube_loc_conf_t;

extern ngx_module_t ngx_cube_module;

/* ------------------------------------------------------------ Redis (ngx_cube_redis.c) */

/* reply is NULL on any transport error (down, timeout, disconnected). It is freed by
 * hiredis after the callback returns. */
typedef void (*ngx_cube_redis_cb_pt)(redisReply *reply, void *data);

/* Issue one command (argv form). Returns NGX_OK when the callback will be called later
 * (exactly once, never from inside this call), NGX_ERROR when Redis cannot be reached
 * now (the callback will not be called). */
ngx_int_t ngx_cube_redis_command(ngx_cube_main_conf_t *mcf, ngx_cube_redis_cb_pt cb,
                                 void *data, int argc, const char **argv,
                                 const size_t *argvlen);
/* Tear down this worker's connection (exit_process). */
void ngx_cube_redis_shutdown(void);

/* ------------------------------------------------------------ workers (ngx_cube_worker.c) */

#define NGX_CUBE_WORKER_OK 0
#define NGX_CUBE_WORKER_ECONNECT 1   /* connect failed / refused / no socket: 503 */
#define NGX_CUBE_WORKER_ETIMEDOUT 2  /* 504 */
#define NGX_CUBE_WORKER_EBADRESP 3   /* malformed / truncated response: 502 */
#define NGX_CUBE_WORKER_EREDIS 4     /* node call: Redis not reachable: 503 */
#define NGX_CUBE_WORKER_ENODE 5      /* node call: the node has no address: 503 */

/* rc is one of NGX_CUBE_WORKER_*; on OK, status and body (valid only during the call)
 * hold the worker's answer. */
typedef void (*ngx_cube_worker_cb_pt)(void *data, ngx_int_t rc, ngx_uint_t status,
                                      u_char *body, size_t body_len);

/* Start an HTTP/1.1 request to a worker at addr ("unix:/path" or "host:port").
 * Returns NGX_OK (the callback comes later, exactly once), NGX_DECLINED when the
 * connection failed at once (503, no callback), NGX_ERROR on a bad address or no
 * memory (no callback). */
ngx_int_t ngx_cube_worker_request(ngx_cube_main_conf_t *mcf, ngx_str_t *addr,
                                  const char *method, const char *path, const char *body,
                                  size_t body_len, ngx_msec_t timeout, ngx_log_t *log,
                                  ngx_cube_worker_cb_pt cb, void *data);

/* Call the worker of a node (its address from cube:node:<node>): HGET, then
 * ngx_cube_worker_request. NGX_OK: cb comes later, exactly once (rc may also be
 * EREDIS / ENODE); NGX_DECLINED: Redis unreachable now; NGX_ERROR: bad args / memory. */
ngx_int_t ngx_cube_node_call(ngx_cube_main_conf_t *mcf, const char *node, const char *method,
                             const char *path, ngx_msec_t timeout, ngx_cube_worker_cb_pt cb,
                             void *data);

/* ------------------------------------------------------------ shared helpers */

/* Send a complete JSON response (body copied). Returns what the output filter returns. */
ngx_int_t ngx_cube_send_json(ngx_http_request_t *r, ngx_uint_t status, const char *ctype,
                             const char *body, size_t len);
/* Find a request header by name (case-insensitive). */
ngx_table_elt_t *ngx_cube_find_header(ngx_http_request_t *r, const char *name, size_t len);
/* The envd access token for a sandbox id: out holds 65 bytes. */
ngx_int_t ngx_cube_envd_token(ngx_cube_main_conf_t *mcf, const char *sandbox_id, char *out);
/* The traffic access token (network.allowPublicTraffic = false): 65 bytes,
 * hex(HMAC-SHA256(secret, "sandbox-traffic-" + id)). */
ngx_int_t ngx_cube_traffic_token(ngx_cube_main_conf_t *mcf, const char *sandbox_id,
                                 char *out);

ngx_int_t ngx_cube_api_handler(ngx_http_request_t *r);
ngx_int_t ngx_cube_router_handler(ngx_http_request_t *r);
ngx_int_t ngx_cube_router_add_variables(ngx_conf_t *cf);
/* Worker 0 starts the activity flush (init_process). */
ngx_int_t ngx_cube_router_init_process(ngx_cycle_t *cycle);
/* 1 when the router handled r (it has route state). */
int ngx_cube_router_routed(ngx_http_request_t *r);
/* The sandbox address ("a.b.c.d:port") and port r was routed to; NGX_DECLINED when
 * it has none (not routed, or answered by the router itself). */
ngx_int_t ngx_cube_router_target(ngx_http_request_t *r, ngx_str_t *upstream,
                                 ngx_str_t *port);
/* ngx_cube_upstream.c: the cube_sandbox_peer balancer, $cube_sandbox_connection. */
char *ngx_cube_sandbox_peer_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_cube_upstream_add_variables(ngx_conf_t *cf);
/* ngx_cube_prom.c: GET /metrics of the admin server; the log-phase counter. */
ngx_int_t ngx_cube_prom_handler(ngx_http_request_t *r);
ngx_int_t ngx_cube_prom_log_handler(ngx_http_request_t *r);

#endif
