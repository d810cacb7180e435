#include "node_registry.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "cube_log.h"
#include "cube_time.h"
#include "disk_quota.h"

#define HEARTBEAT_MS 2000
#define ALIVE_TTL_MS "6000"
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000

struct node_registry {
    struct event_base *base;
    redisAsyncContext *ac; /* NULL while disconnected */
    int connected;
    int closing;
    int draining;
    int backoff_ms;
    int warned_down;
    struct event *heartbeat;
    struct event *reconnect;
    char url[256];
    char node[32];
    char addr[300];
    char labels[256];
    int registered;  /* cube:nodes held us once: missing later means data loss */
    int reconciling; /* a reconcile runs; it lists the node when done */
    int capacity;
    struct node_registry_view view;
};

int node_registry_parse_url(const char *url, char *path, size_t pathlen, char *host,
                            size_t hostlen, int *port)
{
    const char *colon;
    char *end;
    long p;

    path[0] = host[0] = '\0';
    *port = 0;
    if (strncmp(url, "unix:", 5) == 0) {
        if (url[5] != '/' || strlen(url + 5) >= pathlen)
            return -1;
        snprintf(path, pathlen, "%s", url + 5);
        return 0;
    }
    if (strncmp(url, "redis://", 8) == 0)
        url += 8;
    colon = strrchr(url, ':');
    if (!colon || colon == url || (size_t)(colon - url) >= hostlen)
        return -1;
    p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || p <= 0 || p > 65535)
        return -1;
    memcpy(host, url, (size_t)(colon - url));
    host[colon - url] = '\0';
    *port = (int)p;
    return 0;
}

/* Replies are only checked for errors: every write here is idempotent and repeated
 * by the next heartbeat or reconcile. */
static void on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;

    (void)ac;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_warn("redis: %s: %s", (const char *)priv, reply->str);
}

static void cmd(struct node_registry *reg, const char *what, int argc, const char **argv)
{
    if (!reg->ac || !reg->connected)
        return;
    redisAsyncCommandArgv(reg->ac, on_reply, (void *)what, argc, argv, NULL);
}

static void register_templates(struct node_registry *reg);
static void reconcile(struct node_registry *reg);

/* The node is listed in cube:nodes only after its templates and sandboxes are back
 * (reconcile ends with the SADD, on the same connection, so in order): gateways take
 * "no node listed" as "the live view is being rebuilt, retry", and a listed node as
 * "a missing sandbox record means the sandbox is gone". */
static void register_node(struct node_registry *reg)
{
    const char *sadd[] = {"SADD", "cube:nodes", reg->node};

    cmd(reg, "node SADD", 3, sadd);
    reg->registered = 1;
}

/* Heartbeat: is the node still listed? Not listed means Redis lost its data
 * (FLUSHALL, a restart without persistence) while we stayed connected. */
static void on_nodes_checked(redisAsyncContext *ac, void *r, void *priv)
{
    struct node_registry *reg = priv;
    redisReply *reply = r;

    (void)ac;
    if (!reply || reply->type != REDIS_REPLY_INTEGER || reply->integer != 0 ||
        reg->reconciling)
        return;
    log_warn("redis: node %s was missing from cube:nodes (data lost?); registering "
             "templates and sandboxes again",
             reg->node);
    register_templates(reg);
    reconcile(reg);
}

static void send_heartbeat(struct node_registry *reg)
{
    char key[64], alive[64], cpus[16], mem[24], count[16], cap[16], now[24], pooled[16];
    struct sysinfo si;
    const char *hset[] = {"HSET",         key,
                          "id",           reg->node,
                          "addr",         reg->addr,
                          "cpus",         cpus,
                          "mem_mb",       mem,
                          "sandboxes",    count,
                          "capacity",     cap,
                          "state",        reg->draining ? "draining" : "ready",
                          "heartbeat_ms", now,
                          "pooled",       pooled,
                          "disk_quota",   disk_quota_enforced() ? "true" : "false",
                          "labels",       reg->labels,
                          "pools",        NULL};
    const char *set[] = {"SET", alive, "1", "PX", ALIVE_TTL_MS};
    const char *ismember[] = {"SISMEMBER", "cube:nodes", reg->node};

    snprintf(key, sizeof(key), "cube:node:%s", reg->node);
    snprintf(alive, sizeof(alive), "cube:node:%s:alive", reg->node);
    snprintf(cpus, sizeof(cpus), "%ld", sysconf(_SC_NPROCESSORS_ONLN));
    snprintf(mem, sizeof(mem), "%llu",
             sysinfo(&si) == 0
                 ? (unsigned long long)si.totalram * si.mem_unit / (1024ULL * 1024)
                 : 0ULL);
    snprintf(count, sizeof(count), "%d", reg->view.count(reg->view.ctx));
    snprintf(cap, sizeof(cap), "%d", reg->capacity);
    snprintf(pooled, sizeof(pooled), "%d",
             reg->view.pooled ? reg->view.pooled(reg->view.ctx) : 0);
    snprintf(now, sizeof(now), "%lld", (long long)cube_now_ms());
    char *pools = reg->view.pools_json ? reg->view.pools_json(reg->view.ctx) : NULL;
    int n = (int)(sizeof(hset) / sizeof(hset[0]));
    if (pools)
        hset[n - 1] = pools;
    cmd(reg, "heartbeat HSET", pools ? n : n - 2, hset);
    free(pools);
    if (!reg->draining)
        cmd(reg, "heartbeat SET", 5, set);
    if (reg->ac && reg->connected && reg->registered && !reg->reconciling)
        redisAsyncCommandArgv(reg->ac, on_nodes_checked, reg, 3, ismember, NULL);
}

static void register_templates(struct node_registry *reg)
{
    const struct template *t;

    for (t = reg->view.templates->head; t; t = t->next) {
        char key[128], nodes[128], cpu[16], mem[16], disk[16];
        const char *hset[] = {
            "HSET", key,      "id", t->id,     "alias", t->alias,       "cpu",
            cpu,    "mem_mb", mem,  "disk_mb", disk,    "envd_version", t->envd_version};
        const char *sadd[] = {"SADD", nodes, reg->node};

        snprintf(cpu, sizeof(cpu), "%d", t->cpu);
        snprintf(mem, sizeof(mem), "%d", t->mem_mb);
        snprintf(disk, sizeof(disk), "%d", t->disk_mb);
        snprintf(key, sizeof(key), "cube:template:%s", t->id);
        cmd(reg, "template HSET", (int)(sizeof(hset) / sizeof(hset[0])), hset);
        if (t->alias[0]) {
            snprintf(key, sizeof(key), "cube:template:%s", t->alias);
            cmd(reg, "template alias HSET", (int)(sizeof(hset) / sizeof(hset[0])), hset);
        }
        /* Extra names: the record names the alias it was reached by. */
        for (int k = 0; k < t->n_aliases; k++) {
            hset[5] = t->aliases[k];
            snprintf(key, sizeof(key), "cube:template:%s", t->aliases[k]);
            cmd(reg, "template alias HSET", (int)(sizeof(hset) / sizeof(hset[0])), hset);
        }
        snprintf(nodes, sizeof(nodes), "cube:template:%s:nodes", t->id);
        cmd(reg, "template SADD", 3, sadd);
    }
}

void node_registry_sandbox_gone(struct node_registry *reg, const char *id)
{
    char sb[64], set[64];
    const char *del[] = {"DEL", sb};
    const char *srem[] = {"SREM", set, id};
    const char *zrem[] = {"ZREM", "cube:sandboxes", id};

    if (!reg)
        return;
    snprintf(sb, sizeof(sb), "cube:sb:%s", id);
    snprintf(set, sizeof(set), "cube:node:%s:sandboxes", reg->node);
    cmd(reg, "sandbox DEL", 2, del);
    cmd(reg, "sandbox SREM", 3, srem);
    cmd(reg, "sandbox ZREM", 3, zrem);
}

static void sandbox_up_cb(const struct sb_record *r, void *arg)
{
    node_registry_sandbox_up(arg, r);
}

void node_registry_sandbox_up(struct node_registry *reg, const struct sb_record *r)
{
    char sb[64], set[64];
    /* Runtime fields; the gateway owns the API fields of the same hash (cube-scheduler
     * restores them after a Redis loss). The traffic-token flag is repeated here so
     * that a private sandbox is never a public one, not even in between. */
    const char *hset[] = {"HSET",
                          sb,
                          "id",
                          r->id,
                          "node",
                          reg ? reg->node : "",
                          "addr",
                          r->address,
                          "state",
                          r->state == SB_PAUSED ? "paused" : "running",
                          "traffic_token",
                          "1"};
    const char *sadd[] = {"SADD", set, r->id};
    int n = (int)(sizeof(hset) / sizeof(hset[0]));

    if (!reg)
        return;
    snprintf(sb, sizeof(sb), "cube:sb:%s", r->id);
    snprintf(set, sizeof(set), "cube:node:%s:sandboxes", reg->node);
    cmd(reg, "sandbox HSET", r->life.private_traffic ? n : n - 2, hset);
    cmd(reg, "sandbox SADD", 3, sadd);
}

/* cube:node:<node>:sandboxes must equal what runs here: drop ids we do not run (they
 * died while we or Redis were down), then re-add the running ones. */
static void on_members(redisAsyncContext *ac, void *r, void *priv)
{
    struct node_registry *reg = priv;
    redisReply *reply = r;
    size_t i;

    (void)ac;
    reg->reconciling = 0;
    if (!reply || reply->type != REDIS_REPLY_ARRAY)
        return; /* the connection went: on_connect reconciles again */
    for (i = 0; i < reply->elements; i++) {
        redisReply *e = reply->element[i];
        if (e->type == REDIS_REPLY_STRING && !reg->view.has(e->str, reg->view.ctx)) {
            log_info("redis: reconcile: %s is not running here, removing", e->str);
            node_registry_sandbox_gone(reg, e->str);
        }
    }
    reg->view.each_running(sandbox_up_cb, reg, reg->view.ctx);
    register_node(reg);
}

static void reconcile(struct node_registry *reg)
{
    char set[64];
    const char *smembers[] = {"SMEMBERS", set};

    snprintf(set, sizeof(set), "cube:node:%s:sandboxes", reg->node);
    if (reg->ac && reg->connected &&
        redisAsyncCommandArgv(reg->ac, on_members, reg, 2, smembers, NULL) == REDIS_OK)
        reg->reconciling = 1;
}

void node_registry_templates_changed(struct node_registry *reg)
{
    if (reg)
        register_templates(reg);
}

void node_registry_draining(struct node_registry *reg)
{
    char alive[64];
    const char *del[] = {"DEL", alive};

    if (!reg)
        return;
    reg->draining = 1;
    send_heartbeat(reg);
    snprintf(alive, sizeof(alive), "cube:node:%s:alive", reg->node);
    cmd(reg, "draining DEL", 2, del);
}

static void schedule_reconnect(struct node_registry *reg)
{
    struct timeval tv = {reg->backoff_ms / 1000,
                         (suseconds_t)(reg->backoff_ms % 1000) * 1000};

    evtimer_add(reg->reconnect, &tv);
    reg->backoff_ms =
        reg->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : reg->backoff_ms * 2;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct node_registry *reg = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        if (!reg->warned_down)
            log_warn("redis: connect to %s failed: %s (retrying)", reg->url, ac->errstr);
        reg->warned_down = 1;
        reg->ac = NULL;
        schedule_reconnect(reg);
        return;
    }
    log_info("redis: connected to %s as node %s", reg->url, reg->node);
    reg->connected = 1;
    reg->warned_down = 0;
    reg->backoff_ms = BACKOFF_MIN_MS;
    send_heartbeat(reg);
    register_templates(reg);
    reconcile(reg);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct node_registry *reg = ac->data;

    reg->ac = NULL;
    reg->connected = 0;
    if (reg->closing)
        return;
    log_warn("redis: disconnected (%s), reconnecting",
             status == REDIS_OK ? "closed" : ac->errstr);
    schedule_reconnect(reg);
}

static void do_connect(struct node_registry *reg)
{
    char path[256], host[256];
    redisAsyncContext *ac;
    int port;

    if (node_registry_parse_url(reg->url, path, sizeof(path), host, sizeof(host), &port) <
        0)
        return;
    ac = path[0] ? redisAsyncConnectUnix(path) : redisAsyncConnect(host, port);
    if (!ac || ac->err) {
        if (!reg->warned_down)
            log_warn("redis: connect to %s: %s (retrying)", reg->url,
                     ac ? ac->errstr : "out of memory");
        reg->warned_down = 1;
        if (ac)
            redisAsyncFree(ac);
        schedule_reconnect(reg);
        return;
    }
    ac->data = reg;
    reg->ac = ac;
    redisLibeventAttach(ac, reg->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    do_connect(arg);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct node_registry *reg = arg;

    (void)fd;
    (void)what;
    send_heartbeat(reg);
}

struct node_registry *node_registry_new(struct event_base *base,
                                        const struct node_registry_cfg *cfg,
                                        const struct node_registry_view *view)
{
    struct timeval hb = {HEARTBEAT_MS / 1000, (suseconds_t)(HEARTBEAT_MS % 1000) * 1000};
    struct node_registry *reg;
    char path[256], host[256];
    int port;

    if (node_registry_parse_url(cfg->url, path, sizeof(path), host, sizeof(host), &port) <
        0) {
        log_error("redis: bad address %s (want unix:/path or host:port)", cfg->url);
        return NULL;
    }
    reg = calloc(1, sizeof(*reg));
    if (!reg)
        return NULL;
    reg->base = base;
    reg->view = *view;
    reg->capacity = cfg->capacity;
    snprintf(reg->labels, sizeof(reg->labels), "%s", cfg->labels ? cfg->labels : "");
    reg->backoff_ms = BACKOFF_MIN_MS;
    snprintf(reg->url, sizeof(reg->url), "%s", cfg->url);
    snprintf(reg->node, sizeof(reg->node), "%s", cfg->node_id);
    snprintf(reg->addr, sizeof(reg->addr), "%s", cfg->worker_addr);
    reg->heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat, reg);
    reg->reconnect = evtimer_new(base, on_reconnect, reg);
    if (!reg->heartbeat || !reg->reconnect) {
        node_registry_free(reg);
        return NULL;
    }
    evtimer_add(reg->heartbeat, &hb);
    do_connect(reg);
    return reg;
}

void node_registry_free(struct node_registry *reg)
{
    if (!reg)
        return;
    reg->closing = 1;
    if (reg->ac)
        redisAsyncFree(reg->ac); /* runs on_disconnect, which sees closing */
    if (reg->heartbeat)
        event_free(reg->heartbeat);
    if (reg->reconnect)
        event_free(reg->reconnect);
    free(reg);
}
