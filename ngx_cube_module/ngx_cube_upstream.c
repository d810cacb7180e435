/* The sandbox peer (`cube_sandbox_peer`, an upstream{} balancer) and
 * $cube_sandbox_connection.
 *
 * proxy_pass to a variable ($cube_upstream) makes a fresh upstream per request, and
 * such upstreams cannot keep connections: every routed request paid a connect, and
 * the side that closed kept a TIME-WAIT socket. An upstream block with this balancer
 * instead takes the address the router chose for the request (ngx_cube_router_target)
 * as its only peer, so nginx's `keepalive` directive, placed after it, can cache
 * idle connections to sandboxes; it matches them by address, so a connection is only
 * ever reused for the same sandbox address and port.
 *
 *     upstream cube_sandbox {
 *         cube_sandbox_peer;
 *         server 127.0.0.1:1 down;   # nginx wants one; never used
 *         keepalive 1024;
 *         keepalive_timeout 20s;     # below envd's own idle timeout (50 s)
 *     }
 *
 * Connections are kept only for Cube's own agents (envd 49983, the code interpreter
 * 49999), whose idle timeouts are known to be longer than the gateway's: a request
 * sent on a connection the server is closing at that moment fails, and nginx cannot
 * retry a POST. Any other port gets `Connection: close`, so its server, not the
 * gateway, closes (and holds the TIME-WAIT). $cube_sandbox_connection is the value of
 * the Connection header to send: "upgrade" for an upgrade, "" (no header: HTTP/1.1
 * keep-alive) for an agent port, "close" otherwise. */
#include "ngx_cube_module.h"

typedef struct {
    ngx_addr_t addr;
} ngx_cube_peer_data_t;

static ngx_int_t ngx_cube_peer_get(ngx_peer_connection_t *pc, void *data)
{
    ngx_cube_peer_data_t *pd = data;

    pc->sockaddr = pd->addr.sockaddr;
    pc->socklen = pd->addr.socklen;
    pc->name = &pd->addr.name;
    pc->cached = 0;
    pc->connection = NULL;
    return NGX_OK;
}

static void ngx_cube_peer_free(ngx_peer_connection_t *pc, void *data, ngx_uint_t state)
{
    /* One peer: a failure is final, unless it was a cached connection (nginx then
     * adds a try by itself and the next one connects anew). */
    if (pc->tries) {
        pc->tries--;
    }
}

static ngx_int_t ngx_cube_peer_init(ngx_http_request_t *r,
                                    ngx_http_upstream_srv_conf_t *us)
{
    ngx_cube_peer_data_t *pd;
    ngx_str_t target, port;

    if (ngx_cube_router_target(r, &target, &port) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "cube_sandbox_peer: the request was not routed (cube_router "
                      "must run before this upstream is used)");
        return NGX_ERROR;
    }
    pd = ngx_pcalloc(r->pool, sizeof(ngx_cube_peer_data_t));
    if (pd == NULL) {
        return NGX_ERROR;
    }
    /* The router only sets numeric "a.b.c.d:port" targets. */
    if (ngx_parse_addr_port(r->pool, &pd->addr, target.data, target.len) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "cube_sandbox_peer: bad sandbox address \"%V\"", &target);
        return NGX_ERROR;
    }
    pd->addr.name = target;
    r->upstream->peer.data = pd;
    r->upstream->peer.get = ngx_cube_peer_get;
    r->upstream->peer.free = ngx_cube_peer_free;
    r->upstream->peer.tries = 1;
    return NGX_OK;
}

static ngx_int_t ngx_cube_peer_init_upstream(ngx_conf_t *cf,
                                             ngx_http_upstream_srv_conf_t *us)
{
    us->peer.init = ngx_cube_peer_init;
    return NGX_OK;
}

char *ngx_cube_sandbox_peer_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_upstream_srv_conf_t *uscf;

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);
    if (uscf->peer.init_upstream) {
        return "must come before any other balancer or keepalive directive";
    }
    uscf->peer.init_upstream = ngx_cube_peer_init_upstream;
    uscf->flags = NGX_HTTP_UPSTREAM_CREATE | NGX_HTTP_UPSTREAM_DOWN;
    return NGX_CONF_OK;
}

/* ---------------------------------------------------------------- variable */

static ngx_int_t ngx_cube_connection_variable(ngx_http_request_t *r,
                                              ngx_http_variable_value_t *v,
                                              uintptr_t data)
{
    ngx_str_t target, port;
    ngx_table_elt_t *up;
    const char *s;

    up = ngx_cube_find_header(r, "Upgrade", 7);
    if (up && up->value.len) {
        s = "upgrade";
    } else if (ngx_cube_router_target(r, &target, &port) == NGX_OK && port.len == 5 &&
               (ngx_strncmp(port.data, "49983", 5) == 0 ||
                ngx_strncmp(port.data, "49999", 5) == 0)) {
        s = "";
    } else {
        s = "close";
    }
    v->data = (u_char *)s;
    v->len = ngx_strlen(s);
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
}

ngx_int_t ngx_cube_upstream_add_variables(ngx_conf_t *cf)
{
    ngx_str_t name = ngx_string("cube_sandbox_connection");
    ngx_http_variable_t *var;

    var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }
    var->get_handler = ngx_cube_connection_variable;
    return NGX_OK;
}
