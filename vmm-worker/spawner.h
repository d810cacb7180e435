/* Spawner processes: forks of the worker that run the blocking half of sandbox
 * creation and removal (sandbox_prep.h) so the worker's event loop never blocks on it,
 * and several sandboxes are prepared at once on a multi-core node.
 *
 * Each spawner is single-threaded and talks to the worker over a SOCK_SEQPACKET
 * socketpair: one job per datagram in, one result per datagram out (with the sandbox
 * init's pidfd and the envd channel attached by SCM_RIGHTS), in order. Sandbox inits are
 * the spawner's children; it ignores SIGCHLD so the kernel reaps them (no zombies, which
 * cgroup v1 would still count). The worker watches every sandbox through its pidfd only.
 *
 * A spawner dies with the worker (PR_SET_PDEATHSIG); a spawner that dies alone fails
 * its jobs in flight and is replaced. */
#ifndef CUBE_WORKER_SPAWNER_H
#define CUBE_WORKER_SPAWNER_H

#include <event2/event.h>

#include "sandbox_prep.h"

#define SPAWNER_NICE 10

struct spawners;

/* What a spawn's result brings, each -1 if not: the new init's pidfd, the worker's end
 * of its envd channel (common/cube_chan.h), the detached mount of its writable layer
 * (layer_pool.h: hold it, and give it back with the release). */
struct prep_fds {
    int pidfd, chanfd, layerfd;
};

/* Close those of fds that are >= 0. */
void prep_fds_close(const struct prep_fds *fds);

/* res->status is -1 with res->err when the job failed or its spawner died; the callee
 * owns the descriptors in fds. Runs from the event loop, once. */
typedef void (*spawner_cb)(const struct prep_result *res, const struct prep_fds *fds,
                           void *ctx);

/* Fork n spawners (n >= 1). env must stay valid for the process lifetime. */
struct spawners *spawners_new(struct event_base *base, const struct prep_env *env, int n);
/* Queue a job (copied). A release may bring the sandbox's mount namespace (mntns_fd),
 * which the spawner closes first thing so the unmounts run there and not in the
 * worker, and its layer's detached mount (layer_fd, from the spawn's result); -1 if
 * not. The worker's copies are closed once sent, or on failure. 0, or -1 if it cannot
 * be queued (out of memory; the descriptors are left to the caller). */
int spawners_submit(struct spawners *s, const struct prep_job *job, int mntns_fd,
                    int layer_fd, spawner_cb cb, void *ctx);
/* Writable layers the spawners keep for their next sandboxes (layer_pool.h). */
int spawners_free_layers(const struct spawners *s);
/* Jobs queued or in flight. */
int spawners_pending(const struct spawners *s);
/* Drop every callback (shutdown): results that still arrive are ignored, and the
 * sandboxes they concern stay "creating" on disk for the next start to remove. */
void spawners_forget_all(struct spawners *s);
/* Stop the spawners (they exit when their socket closes) and free. */
void spawners_free(struct spawners *s);

#endif
