/* Sandbox lifecycle enforcement: a sandbox whose endAt has passed is killed through
 * its node's worker, or paused when it was created with autoPause and its routed
 * traffic has been idle for its timeout (else its endAt moves on). */
#ifndef CUBE_SCHED_LIFECYCLE_H
#define CUBE_SCHED_LIFECYCLE_H

#include <hiredis/hiredis.h>
#include <stdint.h>

/* One pass over every live sandbox; returns how many were ended, or -1 on a Redis error.
 */
int lifecycle_sweep(redisContext *rc, int64_t now_ms);

#endif
