/* Sandbox lifecycle (ns driver), warm pools and the worker's sandbox table.
 *
 *   prepare: slot + instance name -> spawner (sandbox_prep.h: dirs, cgroups, clone,
 *            mounts, veth) -> envd /health -> state "pooled", into the template's pool.
 *   create:  take a pooled sandbox (or wait for the next one prepared) and personalise
 *            it: API id (state dir renamed), hostname, limits, then envd /init (env
 *            vars, token, user, workdir) -> state "running" -> 201. The pool refills
 *            in the background.
 *   end:     DELETE, failed create, or init exiting on its own all go through one
 *            path: SIGKILL init (the whole pid namespace dies with it), wait for its
 *            pidfd, then a spawner removes veth, cgroups, dirs and state; then the slot
 *            is freed, Redis updated and the DELETE answered.
 *
 * Sandboxes outlive the worker: it never kills them on exit; the next worker re-adopts
 * running, paused and pooled ones from their state.json. */
#ifndef CUBE_WORKER_SANDBOX_H
#define CUBE_WORKER_SANDBOX_H

#include <event2/http.h>
#include <jansson.h>

#include "create_req.h"
#include "state.h"
#include "worker.h"

struct sandbox;

/* Start creating. Returns 0 when the reply to http will be sent later (201 or 500),
 * or an HTTP status (400/404/409/500/503) with err set; the caller replies then.
 * req is consumed either way. */
int sandbox_create(struct worker *w, struct create_req *req, struct evhttp_request *http,
                   char *err, int errlen);
struct sandbox *sandbox_find(struct worker *w, const char *id);
const struct sb_record *sandbox_record(const struct sandbox *sb);
/* Kill and clean up; 204 is sent to http (may be NULL) once everything is gone. */
void sandbox_delete(struct sandbox *sb, struct evhttp_request *http);
json_t *sandbox_list_json(struct worker *w);
/* Pause (freeze every process) / resume a sandbox. 0, or an HTTP status with err set:
 * 409 when already in that state or still being created/killed, 500 on failure. */
int sandbox_pause(struct sandbox *sb, char *err, int errlen);
int sandbox_resume(struct sandbox *sb, char *err, int errlen);
/* PUT /sandboxes/{id}/network: replace the egress policy atomically (net_policy.h).
 * 0, or an HTTP status (409 not running/paused, 500) with err set. */
int sandbox_set_network(struct sandbox *sb, const struct net_policy *p, char *err,
                        int errlen);
/* Running and paused sandboxes. fn must not create or destroy sandboxes. */
void sandbox_foreach_running(struct worker *w,
                             void (*fn)(const struct sb_record *, void *), void *arg);

/* Warm pools: make every known template's pool reach its size (startup, rescans). */
void sandbox_pools_refill(struct worker *w);
/* {"pools":[{template,size,ready,preparing,waiting}], "pooled": n, "spawnerJobs": n} */
json_t *sandbox_pools_json(struct worker *w);
/* Pooled sandboxes, ready or being prepared (they hold kernel objects like any). */
int sandbox_pooled_count(struct worker *w);

/* Startup: re-adopt live running, paused and pooled sandboxes from the state dir, tear
 * down the rest and any orphaned cgroups. */
void sandbox_adopt_all(struct worker *w);
/* --teardown-all: kill and remove every sandbox in the state dir, synchronously. */
int sandbox_teardown_all(struct worker *w);
/* Orphan sweep (cgroups of sandboxes this worker does not hold), run periodically. */
void sandbox_sweep(struct worker *w);
/* Shutdown: drop in-memory state and pending probes without killing anything. */
void sandbox_release_all(struct worker *w);

#endif
