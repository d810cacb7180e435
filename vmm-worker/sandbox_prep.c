#include "sandbox_prep.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "cube_chan.h"
#include "cube_log.h"
#include "disk_quota.h"
#include "layer_pool.h"
#include "net_policy.h"
#include "netns.h"
#include "ns_spawn.h"
#include "util.h"

#ifndef CLONE_NEWUTS
#define CLONE_NEWUTS 0x04000000
#endif

/* <dir>/layer: upper/, work/ and the rootfs mount point. */
static int layer_dir(const char *dir, char *out, size_t len)
{
    return util_fmt(out, len, "%s/layer", dir);
}

static int make_dirs(const char *dir, unsigned uid, int disk_mb, char *err, int errlen)
{
    static const char *const sub[] = {"upper", "work", "rootfs"};
    char layer[PATH_MAX], path[PATH_MAX];
    size_t i;

    /* 0711: the sandbox's root (an unprivileged host uid) must traverse them to reach
     * its layers, but must not list or read state.json / console.log. */
    if (mkdir(dir, 0711) < 0 || layer_dir(dir, layer, sizeof(layer)) < 0 ||
        mkdir(layer, 0711) < 0) {
        snprintf(err, (size_t)errlen, "mkdir %.160s: %s", dir, strerror(errno));
        return -1;
    }
    /* The writable layer's own filesystem, before anything is written in it. */
    if (disk_quota_apply(layer, disk_mb, err, errlen) < 0)
        return -1;
    for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
        if (util_fmt(path, sizeof(path), "%s/%s", layer, sub[i]) < 0 ||
            mkdir(path, 0755) < 0 || chown(path, uid, uid) < 0) {
            snprintf(err, (size_t)errlen, "prepare %.160s: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): named, in a fixed order */
void prep_release(const char *cg, int slot, const char *dir, int clear_policy,
                  int layer_fd)
{
    static const char *const sub[] = {"layer", "console.log"};
    char path[PATH_MAX];
    size_t i;

    if (slot >= 0) {
        netns_teardown(slot);
        /* Only when asked: the worker knows which slots have a policy, and clearing
         * one costs libnftables a fetch of the whole table (~8 ms here). */
        if (clear_policy)
            net_policy_clear(slot);
    }
    cgroup_destroy(cg);
    if (layer_dir(dir, path, sizeof(path)) == 0) {
        /* Kept for this spawner's next sandbox if it was barely used; else (or not
         * kept) it goes the usual way below. */
        layer_pool_put(layer_fd, path);
        disk_quota_release(path);
    } else if (layer_fd >= 0) {
        close(layer_fd);
    }
    for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
        if (util_fmt(path, sizeof(path), "%s/%s", dir, sub[i]) == 0 &&
            util_rm_rf(path) < 0)
            log_warn("sandbox %s: remove %s: %s", cg, path, strerror(errno));
    }
    if (util_rm_rf(dir) < 0)
        log_warn("sandbox %s: remove %s: %s", cg, dir, strerror(errno));
}

struct spawn_ctx {
    const struct prep_job *job;
    int64_t t_placed, t_wired; /* us, for the debug log */
};

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int spawn_placed(pid_t pid, void *ctx, char *err, int errlen)
{
    struct spawn_ctx *c = ctx;

    if (cgroup_attach(c->job->rec.inst, pid) < 0) {
        snprintf(err, (size_t)errlen, "cgroup attach failed");
        return -1;
    }
    /* The spawner runs niced; the sandbox must not inherit that (it cannot undo it
     * itself: lowering a nice value needs CAP_SYS_NICE on the host). */
    if (setpriority(PRIO_PROCESS, (id_t)pid, 0) < 0) {
        snprintf(err, (size_t)errlen, "setpriority: %s", strerror(errno));
        return -1;
    }
    c->t_placed = mono_us();
    return 0;
}

static int spawn_wired(pid_t pid, void *ctx, char *err, int errlen)
{
    struct spawn_ctx *c = ctx;
    int rc = netns_setup(c->job->rec.slot, pid, err, errlen);

    c->t_wired = mono_us();
    return rc;
}

/* NOLINTBEGIN(bugprone-easily-swappable-parameters): outputs, named in the header */
int prep_spawn(const struct prep_env *env, const struct prep_job *job,
               struct prep_result *res, int *pidfd, int *chanfd, int *layerfd)
/* NOLINTEND(bugprone-easily-swappable-parameters) */
{
    char init_path[] = "/.cube/bin/cube-init";
    char envd_path[] = "/.cube/bin/cube-envd";
    char chan_opt[] = "--channel-fd", chan_arg[] = CUBE_CHAN_FD_ARG;
    /* envd keeps its applied init in the sandbox (root only) so that, restarted by
     * cube-init after a crash, it comes back with the sandbox's token. */
    char init_opt[] = "--init-file", init_file[] = "/run/cube-envd.init";
    char hosts_opt[] = "--hostname-files";
    char *init_argv[] = {init_path, chan_opt,  chan_arg,  envd_path,
                         init_opt,  init_file, hosts_opt, NULL};
    const struct sb_record *r = &job->rec;
    struct sb_record saved = *r;
    struct spawn_ctx ctx = {job, 0, 0};
    struct ns_spawn_cfg sc;
    char path[PATH_MAX], layer[PATH_MAX];
    int64_t t0 = mono_us(), t_dirs, t_cg, t_clone, t_exec;
    int console = -1, chan[2] = {-1, -1};

    res->seq = job->seq;
    res->status = -1;
    res->err[0] = '\0';
    *pidfd = -1;
    *chanfd = -1;
    *layerfd = -1;
    /* state.json is written before anything outside the directory exists, so a crash
     * at any later point is cleaned up by the next worker start. */
    if (make_dirs(job->dir, r->uid_shift, r->disk_mb, res->err, sizeof(res->err)) < 0)
        goto fail;
    if (state_save(job->dir, r) < 0) {
        snprintf(res->err, sizeof(res->err), "save state: %s", strerror(errno));
        goto fail;
    }
    t_dirs = mono_us();
    if (cgroup_create(r->inst, r->cpu, r->mem_mb, CGROUP_PIDS_MAX, res->err,
                      sizeof(res->err)) < 0)
        goto fail;
    t_cg = mono_us();
    /* init's stdout/stderr. Not rotated: envd is expected to log sparingly. */
    if (util_fmt(path, sizeof(path), "%s/console.log", job->dir) < 0 ||
        (console = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                        0600)) < 0) {
        snprintf(res->err, sizeof(res->err), "open console log: %s", strerror(errno));
        goto fail;
    }
    if (layer_dir(job->dir, layer, sizeof(layer)) < 0) {
        snprintf(res->err, sizeof(res->err), "layer path too long");
        goto fail;
    }
    /* The worker channel (cube_chan.h): chan[0] goes to the worker, chan[1] into the
     * sandbox as init's fd 3. Made here, in the host's network namespace, so it is not
     * even listed in the sandbox's /proc/net/unix. */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) < 0) {
        (void)snprintf(res->err, sizeof(res->err), "channel socketpair: %s",
                       strerror(errno));
        goto fail;
    }
    memset(&sc, 0, sizeof(sc));
    sc.mnt.lower = job->rootfs;
    sc.mnt.sb_dir = layer;
    sc.mnt.bin_dir = env->bin_dir;
    sc.mnt.hostname = r->id;
    sc.mnt.resolv_conf = env->resolv_conf;
    sc.uid_shift = r->uid_shift;
    sc.console_fd = console;
    sc.chan_fd = chan[1];
    sc.init_path = init_path;
    sc.init_argv = init_argv;
    sc.placed = spawn_placed;
    sc.wired = spawn_wired;
    sc.ctx = &ctx;
    t_clone = mono_us();
    if (ns_spawn(&sc, &res->pid, pidfd, res->err, sizeof(res->err)) < 0)
        goto fail;
    t_exec = mono_us();
    close(console);
    console = -1;
    close(chan[1]); /* init has it now */
    chan[1] = -1;
    /* The sandbox's overlay holds the layer now; the host keeps no mount of it, only
     * a detached one that the worker holds for the release to reuse (layer_pool.h). */
    *layerfd = layer_pool_keep(layer);
    if (disk_quota_detach(layer) < 0) {
        snprintf(res->err, sizeof(res->err), "detach layer: %s", strerror(errno));
        goto fail;
    }
    if (util_proc_start_time(res->pid, &res->start_time) < 0) {
        snprintf(res->err, sizeof(res->err), "sandbox init vanished");
        goto fail;
    }
    saved.pid = res->pid;
    saved.start_time = res->start_time;
    if (state_save(job->dir, &saved) < 0) {
        snprintf(res->err, sizeof(res->err), "save state: %s", strerror(errno));
        goto fail;
    }
    res->status = 0;
    *chanfd = chan[0];
    log_debug("sandbox %s prepared in %lld us: dirs+layer %lld, cgroups %lld, clone to "
              "placed %lld, veth %lld, mounts to exec %lld, rest %lld",
              r->inst, (long long)(mono_us() - t0), (long long)(t_dirs - t0),
              (long long)(t_cg - t_dirs), (long long)(ctx.t_placed - t_clone),
              (long long)(ctx.t_wired - ctx.t_placed), (long long)(t_exec - ctx.t_wired),
              (long long)(mono_us() - t_exec));
    return 0;
fail:
    if (*pidfd >= 0) {
        ns_spawn_kill_wait(*pidfd);
        close(*pidfd);
        *pidfd = -1;
    }
    if (console >= 0)
        close(console);
    if (*layerfd >= 0) {
        close(*layerfd);
        *layerfd = -1;
    }
    if (chan[0] >= 0)
        close(chan[0]);
    if (chan[1] >= 0)
        close(chan[1]);
    log_error("sandbox %s: prepare failed: %s", r->inst, res->err);
    prep_release(r->inst, r->slot, job->dir, 1, -1);
    return -1;
}

/* Claim-time: the sandbox's UTS hostname. (envd writes /etc/hostname and /etc/hosts
 * when the init names the sandbox: --hostname-files, envd_env.h.) */
int prep_set_hostname(int pidfd, const char *name, char *err, int errlen)
{
    static int self = -1; /* our own UTS namespace, opened once: every claim needs it */
    int rc = 0;

    /* The sandbox's UTS namespace: join it, set, come back. The worker is single-
     * threaded, and joining a UTS namespace is allowed for host root. */
    if (self < 0 && (self = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(err, (size_t)errlen, "open own uts ns: %s", strerror(errno));
        return -1;
    }
    if (setns(pidfd, CLONE_NEWUTS) < 0) {
        snprintf(err, (size_t)errlen, "enter sandbox uts ns: %s", strerror(errno));
        return -1;
    }
    if (sethostname(name, strlen(name)) < 0) {
        snprintf(err, (size_t)errlen, "sethostname: %s", strerror(errno));
        rc = -1;
    }
    if (setns(self, CLONE_NEWUTS) < 0) {
        /* Cannot happen short of a kernel bug; staying in a sandbox's namespace would
         * give every later sandbox that hostname, so stop here. */
        log_error("cannot return to the host uts namespace: %s", strerror(errno));
        _exit(1);
    }
    return rc;
}
