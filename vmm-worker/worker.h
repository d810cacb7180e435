/* The worker process: configuration and the state shared by its modules. One event
 * loop, one thread; blocking work goes to spawner processes (spawner.h). */
#ifndef CUBE_WORKER_WORKER_H
#define CUBE_WORKER_WORKER_H

#include <event2/event.h>
#include <limits.h>

#include "cube_id.h"
#include "sandbox_prep.h"
#include "slots.h"
#include "template.h"

#define WORKER_VERSION "0.1.0"

struct worker_config {
    const char *socket_path;  /* --socket */
    const char *state_dir;    /* --state-dir: node-id, sandboxes/ */
    const char *run_dir;      /* --run-dir */
    const char *redis_url;    /* --redis; "" or "none" disables */
    const char *bin_dir;      /* --bin-dir: cube-init, cube-envd */
    const char *template_dir; /* --template-dir (default <state-dir>/templates) */
    const char *cgroup_root;  /* --cgroup-root (default /sys/fs/cgroup) */
    const char *cgroup_name;  /* --cgroup-name (default "cube") */
    int capacity;             /* --capacity */
    int slot_min, slot_max;   /* --slots MIN-MAX */
    int envd_timeout_ms;      /* --envd-timeout-ms */
    int disk_quota;           /* --disk-quota: enum disk_quota_mode */
    int pool_size;            /* --pool-size: warm sandboxes per template (default) */
    const char *labels;       /* --labels k=v,...: node labels in the heartbeat */
    int spawners;             /* --spawners: parallel preparing processes */
    int teardown_all;
};

struct sandbox;
struct node_registry;
struct pool;
struct spawners;

struct worker {
    struct worker_config cfg;
    struct event_base *base;
    char node_id[CUBE_NODE_ID_LEN + 1];
    char sandboxes_dir[PATH_MAX];
    char worker_addr[PATH_MAX + 8]; /* "unix:<socket>" */
    struct sandbox *sandboxes;      /* sandboxes handed out by the API (any state) */
    int count;
    struct sandbox *all;       /* every sandbox object: API, pooled, in the making */
    struct pool *pools;        /* warm pools, one per template that has one */
    struct spawners *spawners; /* processes that do the blocking work */
    struct slot_alloc slots;
    struct template_set templates;
    struct node_registry *reg; /* NULL when Redis is disabled */
    char *resolv_conf;         /* host resolv.conf to copy in, NULL = keep template's */
    struct prep_env prep_env;  /* what spawners need; fixed after startup */
    int shutting_down;
};

#endif
