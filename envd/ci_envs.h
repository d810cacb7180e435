/* cube-ci: the sandbox's global environment, read from envd
 * (GET http://127.0.0.1:49983/envs with the caller's X-Access-Token) and
 * injected into each context once. */
#ifndef CI_ENVS_H
#define CI_ENVS_H

#include <event2/event.h>
#include <jansson.h>

struct ci_envs_fetch;

/* Called once with the env object (borrowed), or NULL when envd is absent
 * (refused = 0) or answered with an error, say 401 for a missing or wrong
 * token (refused = 1: worth asking again with the next caller's token). */
typedef void (*ci_envs_cb)(json_t *env, int refused, void *arg);

/* host:port of envd (default 127.0.0.1:49983); "" disables fetching. */
int ci_envs_setup(struct event_base *base, const char *addr);
void ci_envs_cleanup(void);
/* Start a fetch. Never calls cb synchronously. NULL if it could not start
 * (then call on your own). */
struct ci_envs_fetch *ci_envs_fetch(const char *token, ci_envs_cb cb, void *arg);
/* The callback will not be called. */
void ci_envs_cancel(struct ci_envs_fetch *f);

#endif
