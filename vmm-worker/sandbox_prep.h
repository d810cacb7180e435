/* The slow, blocking half of a sandbox's life, run in a spawner process (spawner.h)
 * so the worker's event loop never waits on clone, mounts, cgroups, netlink or rm -rf:
 *
 *   prep_spawn:   dirs (+ writable-layer quota), state.json "creating", cgroups,
 *                 console log, ns_spawn (cgroup attach + veth while the child mounts).
 *                 The sandbox is named by its instance name: pooled sandboxes do not
 *                 have an API id yet.
 *   prep_release: everything a sandbox owns outside its (dead) namespaces.
 *
 * Plus the personalisation step of a claim (prep_set_hostname), which is cheap and
 * runs in the worker itself. No libevent here. */
#ifndef CUBE_WORKER_SANDBOX_PREP_H
#define CUBE_WORKER_SANDBOX_PREP_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "state.h"

/* What a spawner needs that does not change per job (set once, before forking). */
struct prep_env {
    const char *bin_dir;     /* host dir bound read-only at /.cube/bin */
    const char *resolv_conf; /* NULL: keep the template's */
};

enum prep_kind { PREP_SPAWN = 1, PREP_RELEASE = 2 };

/* One job, sent as a single datagram between two forks of the same binary (so the
 * layout is shared and nothing is parsed). */
struct prep_job {
    uint32_t kind;
    uint32_t urgent; /* a create waits for it: run at nice 0, ahead of refills */
    uint64_t seq;
    struct sb_record rec; /* rec.inst names the cgroups; state "creating" */
    char dir[PATH_MAX];   /* the sandbox's state directory */
    char rootfs[PATH_MAX];
    uint32_t clear_policy; /* release: the slot has an egress policy to remove */
    /* Release: descriptors that come with the job, in this order: the sandbox's mount
     * namespace (closed first, so its unmounts run in the spawner), its layer's
     * detached mount (layer_pool.h). Set by spawners_submit. */
    uint32_t has_mntns, has_layer;
};

struct prep_result {
    uint64_t seq;
    int status;      /* 0 or -1 */
    int has_chan;    /* an envd channel comes with the pidfd */
    int has_layer;   /* then the layer's detached mount (layer_pool.h) */
    int free_layers; /* layers the spawner keeps for its next sandboxes */
    pid_t pid;
    unsigned long long start_time;
    char err[256];
};

/* 0 with res->pid / res->start_time, *pidfd and *chanfd (the worker's end of the
 * envd channel, common/cube_chan.h) and *layerfd (a detached mount of its writable layer,
 * layer_pool.h, or -1): the caller sends them on and closes them. Or -1 with res->err; on
 * failure nothing of the sandbox is left. */
int prep_spawn(const struct prep_env *env, const struct prep_job *job,
               struct prep_result *res, int *pidfd, int *chanfd, int *layerfd);

/* Remove a sandbox's veth, cgroups, quota and directory, and with clear_policy its
 * slot's egress policy; safe on partly made sandboxes and when repeated; slot < 0 =
 * unknown. state.json goes last so an interrupted release is retried by the next
 * worker start. layer_fd (ours, or -1) is the layer's detached mount from prep_spawn:
 * the layer may then be emptied and kept for this process's next prep_spawn. */
void prep_release(const char *cg, int slot, const char *dir, int clear_policy,
                  int layer_fd);

/* Claim-time: the sandbox's UTS hostname becomes name (envd, started with
 * --hostname-files, rewrites /etc/hostname and /etc/hosts when the init arrives).
 * 0 or -1 with err. */
int prep_set_hostname(int pidfd, const char *name, char *err, int errlen);

#endif
