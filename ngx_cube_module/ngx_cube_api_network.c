/* The E2B API's PUT /sandboxes/{id}/network: the sandbox's node worker replaces its
 * egress policy atomically (it validates the body: IPs and CIDRs only, see
 * vmm-worker/net_policy.h), then the live record's network fields follow. See
 * ngx_cube_api.c for how an op runs. */
#include "ngx_cube_op.h"

#include <stdlib.h>

/* Replace the record's network fields only while the record exists. ARGV: network
 * JSON ("" = none), allow_internet ("" = unset, "0", "1"). 1 / 0. */
static const char ngx_cube_network_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end "
    "redis.call('HDEL', KEYS[1], 'network', 'allow_internet') "
    "if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'network', ARGV[1]) end "
    "if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'allow_internet', ARGV[2]) end "
    "return 1";

static void step_network_recorded(ngx_cube_op_t *op, redisReply *reply)
{
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        op_redis_down(op);
        return;
    }
    if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        op_not_found(op); /* killed meanwhile */
        return;
    }
    op_respond(op, NGX_HTTP_NO_CONTENT, "", 0);
}

/* The record's "network" field: the lists as the client sent them. */
static char *network_field(ngx_cube_op_t *op, const char **allow_internet)
{
    json_t *root, *net, *v;
    char *s, *copy = NULL;

    *allow_internet = "";
    root = json_loadb(op->body, op->body_len, 0, NULL);
    if (root == NULL) {
        return op_strdup(op, "", 0);
    }
    v = json_object_get(root, "allow_internet_access");
    if (json_is_boolean(v)) {
        *allow_internet = json_is_true(v) ? "1" : "0";
    }
    net = json_object();
    if (net == NULL) {
        json_decref(root);
        return NULL;
    }
    if (json_is_array(json_object_get(root, "allowOut"))) {
        json_object_set(net, "allowOut", json_object_get(root, "allowOut"));
    }
    if (json_is_array(json_object_get(root, "denyOut"))) {
        json_object_set(net, "denyOut", json_object_get(root, "denyOut"));
    }
    s = json_object_size(net) ? json_dumps(net, JSON_COMPACT) : NULL;
    copy = op_strdup(op, s ? s : "", s ? ngx_strlen(s) : 0);
    free(s);
    json_decref(net);
    json_decref(root);
    return copy;
}

static void step_network_worker(ngx_cube_op_t *op, ngx_int_t rc, ngx_uint_t status,
                                u_char *body, size_t len)
{
    char msg[512];
    const char *argv[6];

    if (rc != NGX_CUBE_WORKER_OK) {
        op_worker_failed(op, rc);
        return;
    }
    if (status == NGX_HTTP_NOT_FOUND) {
        op_not_found(op);
        return;
    }
    if (status != NGX_HTTP_NO_CONTENT && status != NGX_HTTP_OK) {
        cube_worker_error_message((const char *) body, len, (int) status, msg, sizeof(msg));
        op_error(op, (status >= 400 && status <= 599) ? status : NGX_HTTP_BAD_GATEWAY, msg);
        return;
    }
    argv[0] = "EVAL";
    argv[1] = ngx_cube_network_script;
    argv[2] = "1";
    argv[3] = op_key(op, "cube:sb:", op->m.id, "");
    argv[4] = network_field(op, &argv[5]);
    if (argv[3] == NULL || argv[4] == NULL
        || op_redis(op, step_network_recorded, 6, argv) != NGX_OK)
    {
        op_redis_down(op);
    }
}

static void step_network_addr(ngx_cube_op_t *op, redisReply *reply)
{
    const char *addr = reply_str(reply);
    char *path;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        op_redis_down(op);
        return;
    }
    if (addr == NULL || *addr == '\0') {
        op_error(op, NGX_HTTP_SERVICE_UNAVAILABLE,
                 "Service unavailable: the sandbox's worker is unknown");
        return;
    }
    op->worker_addr.len = ngx_strlen(addr);
    op->worker_addr.data = (u_char *) op_strdup(op, addr, op->worker_addr.len);
    path = op_key(op, "/sandboxes/", op->m.id, "/network");
    if (op->worker_addr.data == NULL || path == NULL) {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    if (op_worker(op, step_network_worker, "PUT", path, op->body, op->mcf->worker_timeout)
        != NGX_OK)
    {
        op_worker_failed(op, NGX_CUBE_WORKER_ECONNECT);
    }
}

static void step_network_node(ngx_cube_op_t *op, redisReply *reply)
{
    const char *node = reply_str(reply), *argv[3];

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        op_redis_down(op);
        return;
    }
    if (node == NULL || *node == '\0' || ngx_strlen(node) >= sizeof(op->node)) {
        op_not_found(op);
        return;
    }
    ngx_cpystrn((u_char *) op->node, (u_char *) node, sizeof(op->node));
    argv[0] = "HGET";
    argv[1] = op_key(op, "cube:node:", op->node, "");
    argv[2] = "addr";
    if (argv[1] == NULL || op_redis(op, step_network_addr, 3, argv) != NGX_OK) {
        op_redis_down(op);
    }
}

/* op->body holds the request body. */
void op_start_network(ngx_cube_op_t *op)
{
    json_error_t jerr;
    const char *argv[3];
    char msg[256];
    json_t *root;

    /* Shape only; the worker validates the entries (it enforces them). */
    root = json_loadb(op->body, op->body_len, 0, &jerr);
    if (root == NULL || !json_is_object(root)) {
        ngx_snprintf((u_char *) msg, sizeof(msg), "Error when parsing request: %s%Z",
                     root ? "body must be a JSON object" : jerr.text);
        json_decref(root);
        op_error(op, NGX_HTTP_BAD_REQUEST, msg);
        return;
    }
    json_decref(root);
    argv[0] = "HGET";
    argv[1] = op_key(op, "cube:sb:", op->m.id, "");
    argv[2] = "node";
    if (argv[1] == NULL || op_redis(op, step_network_node, 3, argv) != NGX_OK) {
        op_redis_down(op);
    }
}
