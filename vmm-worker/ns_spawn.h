/* Start a sandbox's init in fresh user, pid, mount, net, UTS, IPC and cgroup
 * namespaces. Synchronous: returns when the child has exec'd cube-init (a few ms) or
 * failed (then nothing of the child is left). */
#ifndef CUBE_WORKER_NS_SPAWN_H
#define CUBE_WORKER_NS_SPAWN_H

#include <sys/types.h>

#include "ns_mounts.h"

#define NS_UID_COUNT 65536 /* in-sandbox uids/gids 0..65535 */

struct ns_spawn_cfg {
    struct ns_mount_cfg mnt;
    unsigned uid_shift; /* host uid/gid of in-sandbox 0 */
    int console_fd;     /* becomes init's stdout/stderr */
    int chan_fd;        /* becomes init's fd CUBE_CHAN_FD (cube_chan.h); -1: none */
    const char *init_path;
    char *const *init_argv;
    /* Parent-side steps, run while the child waits on the sync socket:
     *   placed: after the id maps are written; the child has not run any code of its
     *           own yet (cgroups go here, so everything it allocates is charged).
     *   wired:  concurrently with the child's mount setup; the child execs only after
     *           it returned 0 (network goes here). */
    int (*placed)(pid_t pid, void *ctx, char *err, int errlen);
    int (*wired)(pid_t pid, void *ctx, char *err, int errlen);
    void *ctx;
};

/* 0 with *pid and *pidfd (O_CLOEXEC) set, or -1 with err. */
int ns_spawn(const struct ns_spawn_cfg *cfg, pid_t *pid, int *pidfd, char *err,
             int errlen);

/* The RLIMIT_NOFILE sandboxes start with: the worker raises its own to hold a
 * descriptor or two per sandbox, and sandboxes keep what the worker was started with
 * (some programs loop over every possible descriptor). Set once, before spawning. */
void ns_spawn_set_nofile(unsigned long long soft, unsigned long long hard);

/* SIGKILL through pidfd and wait (bounded) until the process is gone; works whether or
 * not the caller is its parent. */
void ns_spawn_kill_wait(int pidfd);

#endif
