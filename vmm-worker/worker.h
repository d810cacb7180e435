/* The worker process: configuration and the state shared by its modules. One event
 * loop, one thread. */
#ifndef CUBE_WORKER_WORKER_H
#define CUBE_WORKER_WORKER_H

#include <event2/event.h>
#include <limits.h>

#include "cube_id.h"
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
    int teardown_all;
};

struct sandbox;
struct node_registry;

struct worker {
    struct worker_config cfg;
    struct event_base *base;
    char node_id[CUBE_NODE_ID_LEN + 1];
    char sandboxes_dir[PATH_MAX];
    char worker_addr[PATH_MAX + 8]; /* "unix:<socket>" */
    struct sandbox *sandboxes;      /* all sandboxes this worker holds */
    int count;
    struct slot_alloc slots;
    struct template_set templates;
    struct node_registry *reg; /* NULL when Redis is disabled */
    char *resolv_conf;         /* host resolv.conf to copy in, NULL = keep template's */
    int shutting_down;
};

#endif
