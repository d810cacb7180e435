/* Worker -> envd hand-off, asynchronous on the worker's event loop: poll
 * GET http://<addr>:49983/health every ~2 ms until it answers 2xx (envd: 204) (or the
 * deadline passes), then POST /init with the sandbox's env vars, token, user and workdir.
 */
#ifndef CUBE_WORKER_ENVD_CLIENT_H
#define CUBE_WORKER_ENVD_CLIENT_H

#include <event2/event.h>

struct envd_probe;

/* ok = 1 when /init was accepted; otherwise err says why. Called exactly once, from
 * the event loop (never from inside envd_probe_start), unless cancelled first. */
typedef void (*envd_done_cb)(int ok, const char *err, void *ctx);

/* Poll /health until envd answers, then POST init_body to /init (init_body NULL: stop
 * once healthy; a warm-pool sandbox is prepared that way). */
struct envd_probe *envd_probe_start(struct event_base *base, const char *addr, int port,
                                    const char *init_body, int timeout_ms,
                                    envd_done_cb cb, void *ctx);
/* POST /init right away: envd is known to be up (a sandbox taken from a warm pool). */
struct envd_probe *envd_init_start(struct event_base *base, const char *addr, int port,
                                   const char *init_body, int timeout_ms, envd_done_cb cb,
                                   void *ctx);
/* Stop and free; the callback will not run. */
void envd_probe_cancel(struct envd_probe *p);

#endif
