/* The node's entry in Redis (docs/internals.md "Redis keys"): node hash + alive key
 * heartbeat every 2 s, templates held, and the node's sandbox set. hiredis async on the
 * worker's event loop; Redis being down never blocks or fails sandbox operations, the
 * registry reconnects with backoff and reconciles when it is back. */
#ifndef CUBE_WORKER_NODE_REGISTRY_H
#define CUBE_WORKER_NODE_REGISTRY_H

#include <event2/event.h>

#include "state.h"
#include "template.h"

struct node_registry;

struct node_registry_view {
    /* Number of sandboxes the worker holds (any state). */
    int (*count)(void *ctx);
    /* Warm sandboxes held in pools (ready or being prepared); may be NULL. */
    int (*pooled)(void *ctx);
    /* The pools as JSON text, [{template,size,ready,preparing,waiting}] (malloc'd, the
     * registry frees it), for Prometheus through Redis; may be NULL. */
    char *(*pools_json)(void *ctx);
    /* 1 if the worker runs a sandbox with this id. */
    int (*has)(const char *id, void *ctx);
    /* Call fn for every running sandbox. */
    void (*each_running)(void (*fn)(const struct sb_record *r, void *arg), void *arg,
                         void *ctx);
    const struct template_set *templates;
    void *ctx;
};

struct node_registry_cfg {
    const char *url; /* "unix:/path" or "host:port" */
    const char *node_id;
    const char *worker_addr; /* "unix:/run/cube/worker.sock" */
    const char *labels;      /* "k=v,k2=v2" (--labels), may be NULL */
    int capacity;
};

struct node_registry *node_registry_new(struct event_base *base,
                                        const struct node_registry_cfg *cfg,
                                        const struct node_registry_view *view);
void node_registry_free(struct node_registry *reg);

/* A sandbox became running: runtime fields of cube:sb:<id>, node's sandbox set. */
void node_registry_sandbox_up(struct node_registry *reg, const struct sb_record *r);
/* A sandbox is gone: DEL cube:sb:<id>, SREM node set, ZREM cube:sandboxes. */
void node_registry_sandbox_gone(struct node_registry *reg, const char *id);
/* Templates were rescanned: register them again. */
void node_registry_templates_changed(struct node_registry *reg);
/* Mark the node draining (shutdown) so placement stops choosing it. */
void node_registry_draining(struct node_registry *reg);

/* Pure helper: parse "unix:/p" or "host:port"; 0 or -1. */
int node_registry_parse_url(const char *url, char *path, size_t pathlen, char *host,
                            size_t hostlen, int *port);

#endif
