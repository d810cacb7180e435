/* Worker -> envd hand-off, asynchronous on the worker's event loop.
 *
 * The channel (common/cube_chan.h; the normal path): the spawner hands the worker one
 * end of a socketpair whose other end envd holds. envd says "ready" on it once it
 * listens (no /health polling), and the worker sends the init (env vars, token, user,
 * workdir) on it when the sandbox is claimed: one non-blocking send, no round trip.
 *
 * POST /init over HTTP: only for pooled sandboxes a restarted worker re-adopted (their
 * channel died with the old worker; envd is known to be up). */
#ifndef CUBE_WORKER_ENVD_CLIENT_H
#define CUBE_WORKER_ENVD_CLIENT_H

#include <event2/event.h>

/* ---- the channel ----------------------------------------------------------------- */

struct envd_chan;

enum envd_chan_event {
    ENVD_CHAN_READY, /* envd listens */
    ENVD_CHAN_LOST,  /* closed (envd or the sandbox died), garbage, or no READY in time */
};

/* Called from the event loop: READY at most once, then LOST at most once (err says
 * why); nothing after LOST. The callee may free the channel from inside. */
typedef void (*envd_chan_cb)(enum envd_chan_event ev, const char *err, void *ctx);

/* Watch the worker's end fd (taken over, closed by envd_chan_free). LOST follows if
 * READY has not come within timeout_ms. NULL on failure (fd closed). */
struct envd_chan *envd_chan_watch(struct event_base *base, int fd, int timeout_ms,
                                  envd_chan_cb cb, void *ctx);
/* Queue the init body for envd and close the channel (c is freed either way). envd
 * applies it before it serves any request that arrives later (envd/envd_chan.h), so
 * the caller may answer its client at once. 0, or -1 with err (envd is gone). */
int envd_chan_send_init(struct envd_chan *c, const char *body, char *err, int errlen);
void envd_chan_free(struct envd_chan *c);

/* ---- POST /init ------------------------------------------------------------------ */

struct envd_probe;

/* ok = 1 when /init was accepted; otherwise err says why. Called exactly once, from
 * the event loop (never from inside envd_init_start), unless cancelled first. */
typedef void (*envd_done_cb)(int ok, const char *err, void *ctx);

/* POST init_body to http://addr:port/init. NULL on failure. */
struct envd_probe *envd_init_start(struct event_base *base, const char *addr, int port,
                                   const char *init_body, int timeout_ms, envd_done_cb cb,
                                   void *ctx);
/* Stop and free; the callback will not run. */
void envd_probe_cancel(struct envd_probe *p);

#endif
