/* Per-sandbox cgroups, v1 or v2. v1: <root>/<ctrl>/<parent>/<id> for ctrl in cpu,
 * memory, pids, freezer. v2 (detected by <root>/cgroup.controllers): one directory
 * <root>/<parent>/<id>. Limits: memory = memoryMB, CPU = cpuCount cores per 100 ms
 * period, pids.max. */
#ifndef CUBE_WORKER_CGROUP_H
#define CUBE_WORKER_CGROUP_H

#include <sys/types.h>

#define CGROUP_PIDS_MAX 1024

/* root is normally /sys/fs/cgroup; parent is the directory name under each hierarchy
 * ("cube"). 0, or -1 if no usable hierarchy was found. */
int cgroup_init(const char *root, const char *parent);
int cgroup_is_v2(void);

int cgroup_create(const char *id, int cpu, int mem_mb, int pids_max, char *err,
                  int errlen);
/* (Re)write memory, CPU and pids limits (a warm sandbox gets the request's at claim). */
int cgroup_set_limits(const char *id, int cpu, int mem_mb, int pids_max, char *err,
                      int errlen);
/* Move pid into every hierarchy's sandbox cgroup. */
int cgroup_attach(const char *id, pid_t pid);
/* Freeze (frozen=1) or thaw (0) every process of the sandbox: the freezer on v1,
 * cgroup.freeze on v2. Waits (≤ 2 s) until the kernel reports the new state, so a
 * paused sandbox really runs nothing when the call returns. 0 / -1. */
int cgroup_freeze(const char *id, int frozen);
struct cgroup_stats {
    unsigned long long cpu_usage_ns; /* cumulative CPU time of the sandbox */
    unsigned long long mem_used;     /* bytes, page cache included */
    unsigned long long mem_limit;    /* bytes; 0 = no limit */
    unsigned long long mem_cache;    /* bytes of page cache */
};
/* Read the sandbox's usage; missing files leave fields 0. */
int cgroup_stats(const char *id, struct cgroup_stats *st);
/* Kill anything left in the sandbox's cgroups and remove them; missing = success.
 * -1 if a directory is still busy after a short grace period. */
int cgroup_destroy(const char *id);
/* --teardown-all: remove the (now empty) parent directories too. */
void cgroup_remove_parent(void);
/* Call cb for every sandbox-shaped cgroup under the parent (orphan sweeps). */
void cgroup_foreach(void (*cb)(const char *id, void *ctx), void *ctx);

#endif
