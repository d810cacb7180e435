/* Internal interface of the API "op" state machine (ngx_cube_api*.c): the op, its
 * step types and the helpers the API's files share. Not used outside the module. The
 * helpers keep short names in the code; the macros give the exported symbols the
 * module's prefix. */
#ifndef NGX_CUBE_OP_H
#define NGX_CUBE_OP_H

#include "ngx_cube_module.h"
#include "cube_gw.h"
#include "cube_hash.h"

#define CT_JSON "application/json"
#define LIST_MAX 10000 /* most sandboxes a list call looks at */

#define op_log ngx_cube_op_log
#define op_strdup ngx_cube_op_strdup
#define op_respond ngx_cube_op_respond
#define op_error ngx_cube_op_error
#define op_redis_down ngx_cube_op_redis_down
#define op_redis ngx_cube_op_redis
#define op_event ngx_cube_op_event
#define op_key ngx_cube_op_key
#define op_worker ngx_cube_op_worker
#define op_worker_failed ngx_cube_op_worker_failed
#define op_node_worker ngx_cube_op_node_worker
#define reply_is_array ngx_cube_reply_is_array
#define op_updated ngx_cube_op_updated
#define reply_str ngx_cube_reply_str
#define op_copy_pairs ngx_cube_op_copy_pairs
#define op_not_found ngx_cube_op_not_found
#define op_connect_respond_status ngx_cube_op_connect_respond_status
#define op_release ngx_cube_op_release
#define op_start_action ngx_cube_op_start_action
#define op_start_pause ngx_cube_op_start_pause
#define op_start_metrics ngx_cube_op_start_metrics
#define op_start_refresh ngx_cube_op_start_refresh
#define op_start_list ngx_cube_op_start_list
#define op_start_network ngx_cube_op_start_network
#define op_start_timeout ngx_cube_op_start_timeout
#define op_start_connect ngx_cube_op_start_connect

typedef struct ngx_cube_op_s ngx_cube_op_t;
typedef void (*ngx_cube_step_pt)(ngx_cube_op_t *op, redisReply *reply);

typedef struct {
    long long ms;
    char *id;
    char **kv;   /* HGETALL pairs, NULL when the record is gone */
    size_t n;
} ngx_cube_list_item_t;

struct ngx_cube_op_s {
    ngx_pool_t *pool;
    ngx_http_request_t *r;       /* NULL once nginx freed the request */
    ngx_cube_main_conf_t *mcf;
    ngx_uint_t pending;          /* Redis commands + worker calls in flight */
    ngx_uint_t busy;             /* > 0 while op code runs (no free then) */
    unsigned responded:1;
    unsigned async:1;            /* past the content handler's own call */
    unsigned tried_eval:1;
    unsigned record_failed:1;    /* create: the record's HSET failed (sandbox discarded) */
    unsigned placed:1;           /* node's sandboxes counter was incremented */
    unsigned worker_killed:1;    /* the worker destroyed the sandbox (2xx on DELETE) */
    unsigned resuming:1;         /* connect/resume found the sandbox paused */
    long long q_start, q_end;    /* metrics time range (unix s) */

    cube_route_match_t m;
    char *key_hash;              /* sha256 hex of X-API-Key */

    /* create */
    char *body;
    size_t body_len;
    cube_create_req_t create;
    unsigned create_parsed:1;
    char template_id[CUBE_GW_TEMPLATE_MAX + 1];
    char alias[CUBE_GW_TEMPLATE_MAX + 1];
    char envd_version[40];
    long cpu, mem_mb, disk_mb;
    char node[128];
    ngx_str_t worker_addr;
    char sandbox_id[CUBE_GW_ID_MAX + 1];
    char token[CUBE_SHA256_HEX_LEN + 1];
    char sb_addr[64];
    int64_t started_ms;
    char *create_extra;          /* JSON of the record fields for the created event */

    /* set-timeout / connect */
    long long timeout;
    int64_t resume_t0_us;        /* connect found the sandbox paused (monotonic us) */
    char end_at[32];
    cube_sb_record_t rec;
    char **rec_kv;

    /* list */
    cube_list_query_t q;
    unsigned q_parsed:1;
    ngx_cube_list_item_t *items;
    size_t nitems;
    size_t list_waiting;
};

typedef struct {
    ngx_cube_op_t *op;
    ngx_cube_step_pt step;
} ngx_cube_redis_call_t;

typedef void (*ngx_cube_wstep_pt)(ngx_cube_op_t *op, ngx_int_t rc, ngx_uint_t status,
                                  u_char *body, size_t len);
typedef struct {
    ngx_cube_op_t *op;
    ngx_cube_wstep_pt step;
} ngx_cube_worker_call_t;

ngx_log_t *op_log(ngx_cube_op_t *op);
char *op_strdup(ngx_cube_op_t *op, const char *s, size_t len);
void op_respond(ngx_cube_op_t *op, ngx_uint_t status, const char *body, size_t len);
void op_error(ngx_cube_op_t *op, ngx_uint_t status, const char *msg);
void op_redis_down(ngx_cube_op_t *op);
ngx_int_t op_redis(ngx_cube_op_t *op, ngx_cube_step_pt step, int argc, const char **argv);
void op_event(ngx_cube_op_t *op, const char *type, const char *id, const char *reason,
              const char *metadata);
char *op_key(ngx_cube_op_t *op, const char *prefix, const char *id, const char *suffix);
ngx_int_t op_worker(ngx_cube_op_t *op, ngx_cube_wstep_pt step, const char *method,
                    const char *path, const char *body, ngx_msec_t timeout);
ngx_int_t op_node_worker(ngx_cube_op_t *op, ngx_cube_wstep_pt step, const char *method,
                         const char *path);
void op_worker_failed(ngx_cube_op_t *op, ngx_int_t rc);
int reply_is_array(redisReply *r);
int op_updated(ngx_cube_op_t *op, redisReply *reply);
const char *reply_str(redisReply *r);
char **op_copy_pairs(ngx_cube_op_t *op, redisReply *reply, size_t *n);
void op_not_found(ngx_cube_op_t *op);
void op_connect_respond_status(ngx_cube_op_t *op, ngx_uint_t status);
void op_release(ngx_cube_op_t *op);

/* ngx_cube_api_state.c: pause, resume (also via connect), metrics. */
void op_start_action(ngx_cube_op_t *op, const char *action);
void op_start_pause(ngx_cube_op_t *op);
void op_start_metrics(ngx_cube_op_t *op);
void op_start_refresh(ngx_cube_op_t *op);
/* ngx_cube_api_connect.c: timeout and connect (op->body read). */
void op_start_timeout(ngx_cube_op_t *op);
void op_start_connect(ngx_cube_op_t *op);
/* ngx_cube_api_list.c */
void op_start_list(ngx_cube_op_t *op);
/* ngx_cube_api_network.c: PUT /sandboxes/{id}/network (op->body read). */
void op_start_network(ngx_cube_op_t *op);

#endif
