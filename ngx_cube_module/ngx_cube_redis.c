/* hiredis async adapter on nginx's event loop.
 *
 * One redisAsyncContext per nginx worker process, connected lazily on the first
 * command and again after any error. Its fd is wrapped in an ngx_connection_t whose
 * read/write handlers call redisAsyncHandleRead/Write; hiredis' addRead/delRead/
 * addWrite/delWrite hooks map to level-triggered ngx_add_event/ngx_del_event (hiredis
 * reads one buffer per call, so edge-triggered events could strand data).
 *
 * Every command carries a timer (cube_redis_timeout). hiredis 0.14 has no timeouts of
 * its own, so a Redis that stops answering would hang requests forever: when a timer
 * fires the whole connection is dropped (replies are pipelined, a stuck reply blocks all
 * that follow), which calls every pending callback with a NULL reply; the next command
 * reconnects. A Redis that is down fails at connect time, so requests get their 503 at
 * once.
 *
 * Callbacks receive an opaque data pointer; the callers (API, router) make sure it
 * outlives the request (see ngx_cube_api.c), so a callback never touches a freed
 * request. */
#include "ngx_cube_module.h"

typedef struct {
    redisAsyncContext *ac;
    ngx_connection_t *c;
    ngx_uint_t dead;
} ngx_cube_redis_conn_t;

typedef struct {
    ngx_event_t timer;
    ngx_cube_redis_conn_t *conn;
    ngx_cube_redis_cb_pt cb;
    void *data;
} ngx_cube_redis_cmd_t;

static ngx_cube_redis_conn_t *ngx_cube_redis_cur;

static void ngx_cube_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t *c = ev->data;
    ngx_cube_redis_conn_t *conn = c->data;

    /* conn (and c) may be freed inside: do not touch them afterwards. */
    redisAsyncHandleRead(conn->ac);
}

static void ngx_cube_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t *c = ev->data;
    ngx_cube_redis_conn_t *conn = c->data;

    redisAsyncHandleWrite(conn->ac);
}

static void ngx_cube_redis_add_read(void *privdata)
{
    ngx_cube_redis_conn_t *conn = privdata;

    if (conn->c && !conn->c->read->active) {
        if (ngx_add_event(conn->c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "cube redis: add read event failed");
        }
    }
}

static void ngx_cube_redis_del_read(void *privdata)
{
    ngx_cube_redis_conn_t *conn = privdata;

    if (conn->c && conn->c->read->active) {
        ngx_del_event(conn->c->read, NGX_READ_EVENT, 0);
    }
}

static void ngx_cube_redis_add_write(void *privdata)
{
    ngx_cube_redis_conn_t *conn = privdata;

    if (conn->c && !conn->c->write->active) {
        if (ngx_add_event(conn->c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "cube redis: add write event failed");
        }
    }
}

static void ngx_cube_redis_del_write(void *privdata)
{
    ngx_cube_redis_conn_t *conn = privdata;

    if (conn->c && conn->c->write->active) {
        ngx_del_event(conn->c->write, NGX_WRITE_EVENT, 0);
    }
}

/* Called by hiredis while it frees the context (before it closes the fd). */
static void ngx_cube_redis_cleanup(void *privdata)
{
    ngx_cube_redis_conn_t *conn = privdata;
    ngx_connection_t *c = conn->c;

    if (c) {
        if (c->read->active) {
            ngx_del_event(c->read, NGX_READ_EVENT, 0);
        }
        if (c->write->active) {
            ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
        }
        if (c->read->timer_set) {
            ngx_del_timer(c->read);
        }
        if (c->write->timer_set) {
            ngx_del_timer(c->write);
        }
        if (c->read->posted) {
            ngx_delete_posted_event(c->read);
        }
        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }
        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1; /* hiredis closes the socket itself */
        conn->c = NULL;
    }
    if (ngx_cube_redis_cur == conn) {
        ngx_cube_redis_cur = NULL;
    }
    ngx_free(conn);
}

static void ngx_cube_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_cube_redis_conn_t *conn = ac->data;

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "cube redis: connect failed: %s",
                      ac->errstr ? ac->errstr : "unknown error");
        conn->dead = 1;
        if (ngx_cube_redis_cur == conn) {
            ngx_cube_redis_cur = NULL;
        }
        return;
    }
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0, "cube redis: connected");
}

static void ngx_cube_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    /* conn is already freed (cleanup runs first): only log. */
    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0, "cube redis: disconnected: %s",
                      ac->errstr ? ac->errstr : "connection lost");
    }
}

static ngx_cube_redis_conn_t *ngx_cube_redis_connect(ngx_cube_main_conf_t *mcf)
{
    redisAsyncContext *ac;
    ngx_cube_redis_conn_t *conn;
    ngx_connection_t *c;

    if (mcf->redis_unix.len) {
        ac = redisAsyncConnectUnix((const char *) mcf->redis_unix.data);
    } else if (mcf->redis_host.len) {
        ac = redisAsyncConnect((const char *) mcf->redis_host.data, (int) mcf->redis_port);
    } else {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "cube redis: no \"cube_redis\" configured");
        return NULL;
    }
    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "cube redis: out of memory");
        return NULL;
    }
    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "cube redis: connect to \"%V\" failed: %s",
                      &mcf->redis, ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }

    conn = ngx_calloc(sizeof(ngx_cube_redis_conn_t), ngx_cycle->log);
    if (conn == NULL) {
        redisAsyncFree(ac);
        return NULL;
    }
    c = ngx_get_connection(ac->c.fd, ngx_cycle->log);
    if (c == NULL) {
        ngx_free(conn);
        redisAsyncFree(ac);
        return NULL;
    }
    c->data = conn;
    c->log = ngx_cycle->log;
    c->read->log = c->log;
    c->write->log = c->log;
    c->read->handler = ngx_cube_redis_read_handler;
    c->write->handler = ngx_cube_redis_write_handler;

    conn->ac = ac;
    conn->c = c;
    ac->data = conn;
    ac->ev.data = conn;
    ac->ev.addRead = ngx_cube_redis_add_read;
    ac->ev.delRead = ngx_cube_redis_del_read;
    ac->ev.addWrite = ngx_cube_redis_add_write;
    ac->ev.delWrite = ngx_cube_redis_del_write;
    ac->ev.cleanup = ngx_cube_redis_cleanup;
    /* Setting the connect callback arms the write event that completes connect(). */
    redisAsyncSetConnectCallback(ac, ngx_cube_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_cube_redis_on_disconnect);

    ngx_cube_redis_cur = conn;
    return conn;
}

static void ngx_cube_redis_cmd_done(redisAsyncContext *ac, void *reply, void *privdata)
{
    ngx_cube_redis_cmd_t *cmd = privdata;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }
    cmd->cb(reply, cmd->data);
    ngx_free(cmd);
}

static void ngx_cube_redis_timeout(ngx_event_t *ev)
{
    ngx_cube_redis_cmd_t *cmd = ev->data;
    ngx_cube_redis_conn_t *conn = cmd->conn;

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "cube redis: command timed out, dropping the connection");
    conn->dead = 1;
    if (ngx_cube_redis_cur == conn) {
        ngx_cube_redis_cur = NULL;
    }
    /* Runs every pending callback (this one included) with a NULL reply, then the
     * cleanup hook, which frees conn. */
    redisAsyncFree(conn->ac);
}

ngx_int_t ngx_cube_redis_command(ngx_cube_main_conf_t *mcf, ngx_cube_redis_cb_pt cb,
                                 void *data, int argc, const char **argv,
                                 const size_t *argvlen)
{
    ngx_cube_redis_conn_t *conn = ngx_cube_redis_cur;
    ngx_cube_redis_cmd_t *cmd;

    if (conn == NULL || conn->dead
        || (conn->ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)))
    {
        /* A context being torn down (its callbacks may be running right now) takes
         * no new commands: start a fresh one beside it. */
        if (conn) {
            conn->dead = 1;
        }
        conn = ngx_cube_redis_connect(mcf);
        if (conn == NULL) {
            return NGX_ERROR;
        }
    }

    cmd = ngx_calloc(sizeof(ngx_cube_redis_cmd_t), ngx_cycle->log);
    if (cmd == NULL) {
        return NGX_ERROR;
    }
    cmd->conn = conn;
    cmd->cb = cb;
    cmd->data = data;
    cmd->timer.handler = ngx_cube_redis_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = ngx_cycle->log;
    cmd->timer.cancelable = 1;

    if (redisAsyncCommandArgv(conn->ac, ngx_cube_redis_cmd_done, cmd, argc, argv, argvlen)
        != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0, "cube redis: cannot queue command: %s",
                      conn->ac->errstr ? conn->ac->errstr : "connection is closing");
        ngx_free(cmd);
        return NGX_ERROR;
    }
    ngx_add_timer(&cmd->timer, mcf->redis_timeout);
    return NGX_OK;
}

void ngx_cube_redis_shutdown(void)
{
    ngx_cube_redis_conn_t *conn = ngx_cube_redis_cur;

    if (conn) {
        conn->dead = 1;
        ngx_cube_redis_cur = NULL;
        redisAsyncFree(conn->ac);
    }
}
