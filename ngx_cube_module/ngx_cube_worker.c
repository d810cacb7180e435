/* Asynchronous HTTP/1.1 client for cube-worker calls, on nginx's event loop.
 *
 * One request per connection ("Connection: close"): ngx_event_connect_peer to an
 * AF_UNIX ("unix:/path") or AF_INET ("a.b.c.d:port") address, send the request, read
 * the response (status line, headers, Content-Length / chunked / until-close body,
 * capped at cube_worker_max_response) and call back once. Each call owns a pool and
 * outlives the HTTP request that started it; the caller's data pointer must do the
 * same (see ngx_cube_api.c).
 *
 * Failure classes: connect failed or timed out, or the connection closed before a
 * byte of the answer (the worker died) => NGX_CUBE_WORKER_ECONNECT (503); no complete
 * answer within the timeout => ETIMEDOUT (504); malformed, oversized or truncated
 * answer => EBADRESP (502). */
#include "ngx_cube_module.h"
#include "cube_gw.h"

#include <sys/un.h>

typedef struct {
    ngx_pool_t *pool;
    ngx_peer_connection_t pc;
    ngx_str_t name;
    union {
        struct sockaddr sa;
        struct sockaddr_un sun;
        struct sockaddr_in sin;
    } addr;

    u_char *out, *out_pos, *out_last;
    u_char *in;
    size_t in_len, in_cap, max;
    char *scratch;
    size_t scratch_cap;

    ngx_msec_t timeout, connect_timeout;
    unsigned connected:1;
    unsigned sent:1;

    ngx_cube_worker_cb_pt cb;
    void *data;
} ngx_cube_wreq_t;

static void ngx_cube_worker_finish(ngx_cube_wreq_t *wr, ngx_int_t rc, ngx_uint_t status,
                                   u_char *body, size_t len)
{
    ngx_cube_worker_cb_pt cb = wr->cb;
    void *data = wr->data;

    if (wr->pc.connection) {
        ngx_close_connection(wr->pc.connection);
        wr->pc.connection = NULL;
    }
    cb(data, rc, status, body, len);
    ngx_destroy_pool(wr->pool);
}

static void ngx_cube_worker_dummy(ngx_event_t *ev)
{
}

/* 1 complete, 0 more, -1 bad; on 1 fills status/body. */
static int ngx_cube_worker_parse(ngx_cube_wreq_t *wr, int eof, ngx_uint_t *status,
                                 u_char **body, size_t *len)
{
    cube_http_resp_t resp;
    int rc;

    if (wr->scratch_cap < wr->in_len) {
        wr->scratch = ngx_palloc(wr->pool, wr->in_cap);
        if (wr->scratch == NULL) {
            return -1;
        }
        wr->scratch_cap = wr->in_cap;
    }
    rc = cube_http_resp_parse((const char *) wr->in, wr->in_len, eof, wr->scratch, &resp);
    if (rc == 1) {
        *status = (ngx_uint_t) resp.status;
        *body = (u_char *) resp.body;
        *len = resp.body_len;
    }
    return rc;
}

static void ngx_cube_worker_read_handler(ngx_event_t *rev)
{
    ngx_connection_t *c = rev->data;
    ngx_cube_wreq_t *wr = c->data;
    ngx_uint_t status = 0;
    u_char *body = NULL, *p;
    size_t len = 0;
    ssize_t n;
    int rc;

    if (rev->timedout) {
        ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT, "cube worker %V timed out",
                      &wr->name);
        ngx_cube_worker_finish(wr, NGX_CUBE_WORKER_ETIMEDOUT, 0, NULL, 0);
        return;
    }

    for (;;) {
        if (wr->in_len == wr->in_cap) {
            if (wr->in_cap >= wr->max) {
                ngx_log_error(NGX_LOG_ERR, c->log, 0, "cube worker %V: response too large",
                              &wr->name);
                ngx_cube_worker_finish(wr, NGX_CUBE_WORKER_EBADRESP, 0, NULL, 0);
                return;
            }
            p = ngx_palloc(wr->pool, ngx_min(wr->in_cap * 2, wr->max));
            if (p == NULL) {
                ngx_cube_worker_finish(wr, NGX_CUBE_WORKER_EBADRESP, 0, NULL, 0);
                return;
            }
            ngx_memcpy(p, wr->in, wr->in_len);
            wr->in = p;
            wr->in_cap = ngx_min(wr->in_cap * 2, wr->max);
        }

        n = c->recv(c, wr->in + wr->in_len, wr->in_cap - wr->in_len);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ngx_cube_worker_finish(wr, NGX_CUBE_WORKER_EBADRESP, 0, NULL, 0);
                return;
            }
            if (!rev->timer_set) {
                ngx_add_timer(rev, wr->timeout);
            }
            return;
        }

        if (n == 0 || n == NGX_ERROR) {
            rc = ngx_cube_worker_parse(wr, 1, &status, &body, &len);
            if (rc == 1) {
                ngx_cube_worker_finish(wr, NGX_CUBE_WORKER_OK, status, body, len);
            } else if (wr->in_len == 0) {
                /* Not a word of an answer: the worker died or is restarting, which
                 * the caller reports like a refused connection (503, retry). */
                ngx_log_error(NGX_LOG_ERR, c->log, 0,
                              "cube worker %V closed the connection before answering",
                              &wr->name);
                ngx_cube_worker_finish(wr, NGX_CUBE_WORKER_ECONNECT, 0, NULL, 0);
            } else {
                ngx_log_error(NGX_LOG_ERR, c->log, 0,
                              "cube worker %V closed the connection without a complete "
                              "response", &wr->name);
                ngx_cube_worker_finish(wr, NGX_CUBE_WORKER_EBADRESP, 0, NULL, 0);
            }
            return;
        }

        wr->in_len += (size_t) n;
        rc = ngx_cube_worker_parse(wr, 0, &status, &body, &len);
        if (rc == 1) {
            ngx_cube_worker_finish(wr, NGX_CUBE_WORKER_OK, status, body, len);
            return;
        }
        if (rc < 0) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0, "cube worker %V sent a malformed response",
                          &wr->name);
            ngx_cube_worker_finish(wr, NGX_CUBE_WORKER_EBADRESP, 0, NULL, 0);
            return;
        }
    }
}

static ngx_int_t ngx_cube_worker_test_connect(ngx_connection_t *c)
{
    int err = 0;
    socklen_t len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }
    if (err) {
        (void) ngx_connection_error(c, err, "connect() failed");
        return NGX_ERROR;
    }
    return NGX_OK;
}

static void ngx_cube_worker_write_handler(ngx_event_t *wev)
{
    ngx_connection_t *c = wev->data;
    ngx_cube_wreq_t *wr = c->data;
    ssize_t n;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT, "cube worker %V: %s timed out",
                      &wr->name, wr->connected ? "send" : "connect");
        ngx_cube_worker_finish(wr, wr->connected ? NGX_CUBE_WORKER_ETIMEDOUT
                                                 : NGX_CUBE_WORKER_ECONNECT, 0, NULL, 0);
        return;
    }

    if (!wr->connected) {
        if (ngx_cube_worker_test_connect(c) != NGX_OK) {
            ngx_cube_worker_finish(wr, NGX_CUBE_WORKER_ECONNECT, 0, NULL, 0);
            return;
        }
        wr->connected = 1;
        if (wev->timer_set) {
            ngx_del_timer(wev);
        }
    }

    while (wr->out_pos < wr->out_last) {
        n = c->send(c, wr->out_pos, wr->out_last - wr->out_pos);
        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_cube_worker_finish(wr, NGX_CUBE_WORKER_EBADRESP, 0, NULL, 0);
                return;
            }
            if (!wev->timer_set) {
                ngx_add_timer(wev, wr->timeout);
            }
            return;
        }
        if (n == NGX_ERROR) {
            ngx_cube_worker_finish(wr, NGX_CUBE_WORKER_EBADRESP, 0, NULL, 0);
            return;
        }
        wr->out_pos += n;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }
    wr->sent = 1;
    wev->handler = ngx_cube_worker_dummy;
    c->read->handler = ngx_cube_worker_read_handler;
    ngx_add_timer(c->read, wr->timeout);
    ngx_cube_worker_read_handler(c->read);
}

static ngx_int_t ngx_cube_worker_parse_addr(ngx_cube_wreq_t *wr, ngx_str_t *addr)
{
    u_char *colon;
    ngx_int_t port;
    in_addr_t in;

    if (addr->len > 5 && ngx_strncmp(addr->data, "unix:", 5) == 0) {
        size_t plen = addr->len - 5;
        if (plen == 0 || plen >= sizeof(wr->addr.sun.sun_path)) {
            return NGX_ERROR;
        }
        wr->addr.sun.sun_family = AF_UNIX;
        ngx_memcpy(wr->addr.sun.sun_path, addr->data + 5, plen);
        wr->addr.sun.sun_path[plen] = '\0';
        wr->pc.socklen = sizeof(struct sockaddr_un);
        return NGX_OK;
    }

    colon = ngx_strlchr(addr->data, addr->data + addr->len, ':');
    if (colon == NULL) {
        return NGX_ERROR;
    }
    port = ngx_atoi(colon + 1, addr->data + addr->len - colon - 1);
    in = ngx_inet_addr(addr->data, colon - addr->data);
    if (port < 1 || port > 65535 || in == INADDR_NONE) {
        return NGX_ERROR;
    }
    wr->addr.sin.sin_family = AF_INET;
    wr->addr.sin.sin_port = htons((in_port_t) port);
    wr->addr.sin.sin_addr.s_addr = in;
    wr->pc.socklen = sizeof(struct sockaddr_in);
    return NGX_OK;
}

ngx_int_t ngx_cube_worker_request(ngx_cube_main_conf_t *mcf, ngx_str_t *addr,
                                  const char *method, const char *path, const char *body,
                                  size_t body_len, ngx_msec_t timeout, ngx_log_t *log,
                                  ngx_cube_worker_cb_pt cb, void *data)
{
    ngx_pool_t *pool;
    ngx_cube_wreq_t *wr;
    ngx_connection_t *c;
    ngx_int_t rc;
    size_t len;

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }
    wr = ngx_pcalloc(pool, sizeof(ngx_cube_wreq_t));
    if (wr == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }
    wr->pool = pool;
    wr->cb = cb;
    wr->data = data;
    wr->timeout = timeout;
    wr->connect_timeout = mcf->worker_connect_timeout;
    wr->max = mcf->worker_max_response;

    wr->name.data = ngx_pnalloc(pool, addr->len);
    if (wr->name.data == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }
    ngx_memcpy(wr->name.data, addr->data, addr->len);
    wr->name.len = addr->len;

    if (ngx_cube_worker_parse_addr(wr, addr) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "cube worker: bad address \"%V\"", addr);
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    len = ngx_strlen(method) + ngx_strlen(path) + body_len + 256;
    wr->out = ngx_pnalloc(pool, len);
    if (wr->out == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }
    wr->out_pos = wr->out;
    if (body) {
        wr->out_last = ngx_snprintf(wr->out, len,
                                    "%s %s HTTP/1.1\r\nHost: localhost\r\n"
                                    "User-Agent: cube-gateway\r\nAccept: application/json\r\n"
                                    "Connection: close\r\nContent-Type: application/json\r\n"
                                    "Content-Length: %uz\r\n\r\n",
                                    method, path, body_len);
        wr->out_last = ngx_cpymem(wr->out_last, body, body_len);
    } else {
        wr->out_last = ngx_snprintf(wr->out, len,
                                    "%s %s HTTP/1.1\r\nHost: localhost\r\n"
                                    "User-Agent: cube-gateway\r\nAccept: application/json\r\n"
                                    "Connection: close\r\n\r\n",
                                    method, path);
    }

    wr->in_cap = 4096;
    wr->in = ngx_pnalloc(pool, wr->in_cap);
    if (wr->in == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    wr->pc.sockaddr = &wr->addr.sa;
    wr->pc.name = &wr->name;
    wr->pc.get = ngx_event_get_peer;
    wr->pc.log = ngx_cycle->log;
    wr->pc.log_error = NGX_ERROR_ERR;
    wr->pc.tries = 1;

    rc = ngx_event_connect_peer(&wr->pc);
    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        if (wr->pc.connection) {
            ngx_close_connection(wr->pc.connection);
        }
        ngx_destroy_pool(pool);
        return NGX_DECLINED;
    }

    c = wr->pc.connection;
    c->data = wr;
    c->pool = pool;
    c->log = ngx_cycle->log;
    c->read->log = c->log;
    c->write->log = c->log;
    c->read->handler = ngx_cube_worker_dummy;
    c->write->handler = ngx_cube_worker_write_handler;

    if (rc == NGX_AGAIN) {
        ngx_add_timer(c->write, wr->connect_timeout);
        return NGX_OK;
    }

    /* Connected at once (usual for Unix sockets): send from the posted-events queue,
     * so the callback never runs inside this call. */
    wr->connected = 1;
    ngx_post_event(c->write, &ngx_posted_events);
    return NGX_OK;
}

/* ---------------------------------------------------------------- node calls */

/* Look up a node's worker address in Redis, then call it: the one place the API ops
 * (kill, pause, resume) and the router's auto-resume reach a sandbox's worker. */
typedef struct {
    ngx_cube_main_conf_t *mcf;
    char method[8];
    char path[160];
    ngx_msec_t timeout;
    ngx_cube_worker_cb_pt cb;
    void *data;
} ngx_cube_node_call_t;

static void ngx_cube_node_addr_cb(redisReply *reply, void *data)
{
    ngx_cube_node_call_t *nc = data;
    ngx_cube_worker_cb_pt cb = nc->cb;
    void *cbdata = nc->data;
    ngx_str_t addr;
    ngx_int_t rc;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_free(nc);
        cb(cbdata, NGX_CUBE_WORKER_EREDIS, 0, NULL, 0);
        return;
    }
    if (reply->type != REDIS_REPLY_STRING || reply->len == 0) {
        ngx_free(nc);
        cb(cbdata, NGX_CUBE_WORKER_ENODE, 0, NULL, 0);
        return;
    }
    addr.data = (u_char *) reply->str;
    addr.len = reply->len;
    rc = ngx_cube_worker_request(nc->mcf, &addr, nc->method, nc->path, NULL, 0, nc->timeout,
                                 ngx_cycle->log, cb, cbdata);
    ngx_free(nc);
    if (rc != NGX_OK) {
        cb(cbdata, NGX_CUBE_WORKER_ECONNECT, 0, NULL, 0);
    }
}

ngx_int_t ngx_cube_node_call(ngx_cube_main_conf_t *mcf, const char *node, const char *method,
                             const char *path, ngx_msec_t timeout, ngx_cube_worker_cb_pt cb,
                             void *data)
{
    ngx_cube_node_call_t *nc;
    const char *argv[3];
    size_t lens[3];
    u_char key[128];

    if (ngx_strlen(node) > 64 || ngx_strlen(path) >= sizeof(nc->path)
        || ngx_strlen(method) >= sizeof(nc->method))
    {
        return NGX_ERROR;
    }
    nc = ngx_calloc(sizeof(ngx_cube_node_call_t), ngx_cycle->log);
    if (nc == NULL) {
        return NGX_ERROR;
    }
    nc->mcf = mcf;
    ngx_cpystrn((u_char *) nc->method, (u_char *) method, sizeof(nc->method));
    ngx_cpystrn((u_char *) nc->path, (u_char *) path, sizeof(nc->path));
    nc->timeout = timeout;
    nc->cb = cb;
    nc->data = data;
    *ngx_sprintf(key, "cube:node:%s", node) = '\0';
    argv[0] = "HGET";
    argv[1] = (const char *) key;
    argv[2] = "addr";
    lens[0] = 4;
    lens[1] = ngx_strlen(key);
    lens[2] = 4;
    if (ngx_cube_redis_command(mcf, ngx_cube_node_addr_cb, nc, 3, argv, lens) != NGX_OK) {
        ngx_free(nc);
        return NGX_DECLINED;
    }
    return NGX_OK;
}
