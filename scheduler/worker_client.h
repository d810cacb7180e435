/* cube-scheduler's calls to cube-worker control APIs (docs/internals.md), blocking
 * with short timeouts: the scheduler's loop is the only thing they hold up. */
#ifndef CUBE_SCHED_WORKER_CLIENT_H
#define CUBE_SCHED_WORKER_CLIENT_H

#include <jansson.h>

/* METHOD /sandboxes/<id><action> on the worker at addr ("unix:/path" or "host:port").
 * Returns the HTTP status, or -1 if the worker could not be reached. */
long worker_call(const char *addr, const char *method, const char *id,
                 const char *action);

/* GET path on the worker; the 200 answer's JSON (object or array, as want_array says),
 * or NULL when the worker is unreachable, answers otherwise, or sends something else. */
json_t *worker_get_json(const char *addr, const char *path, int want_array);

#endif
