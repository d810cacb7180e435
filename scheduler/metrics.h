/* Metrics sampling: every few seconds, each healthy node's worker is asked for all
 * its sandboxes' usage (one call per node); samples go to cube:metrics:<id>, a Redis
 * list capped at an hour, which the gateway serves as GET /sandboxes/{id}/metrics. */
#ifndef CUBE_SCHED_METRICS_H
#define CUBE_SCHED_METRICS_H

#include <hiredis/hiredis.h>

#define METRICS_KEEP 720 /* samples per sandbox: one hour at 5 s */

/* Returns the number of samples stored, -1 on a Redis error. */
int metrics_sample(redisContext *rc);

#endif
