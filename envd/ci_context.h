/* cube-ci contexts: each has an id, a language, a cwd, a lazily started
 * kernel and a queue of executions run one at a time. An execution streams
 * its NDJSON reply (§6.1) while it runs; a client disconnect interrupts it. */
#ifndef CI_CONTEXT_H
#define CI_CONTEXT_H

#include "ci_proto.h"

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

struct ci_ctx;

void ci_contexts_init(struct event_base *base);
/* Kill every kernel, end every stream, free everything. */
void ci_contexts_shutdown(void);

/* Create a context (is_default: the language's default one). */
struct ci_ctx *ci_context_create(const char *language, const char *cwd, int is_default);
struct ci_ctx *ci_context_find(const char *id);
/* The language's default context, created if there is none. */
struct ci_ctx *ci_context_default(const char *language);
/* {"id","language","cwd"} */
json_t *ci_context_json(const struct ci_ctx *c);
/* All contexts in creation order. */
json_t *ci_context_list(void);
void ci_context_delete(struct ci_ctx *c);
void ci_context_restart(struct ci_ctx *c);

/* Take over req: start the NDJSON reply and queue the execution. Steals
 * the contents of r. */
void ci_execute(struct evhttp_request *req, struct ci_ctx *c, struct ci_execute_req *r);

#endif
