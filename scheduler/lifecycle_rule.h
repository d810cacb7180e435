/* What cube-scheduler does with one live sandbox at a sweep (pure, unit-tested): the
 * decision of lifecycle.c, apart from the Redis and worker calls that carry it out. */
#ifndef CUBE_SCHED_LIFECYCLE_RULE_H
#define CUBE_SCHED_LIFECYCLE_RULE_H

#include <stdint.h>

enum lc_action {
    LC_NONE,   /* not due (or paused: a paused sandbox keeps no clock) */
    LC_KILL,   /* end reached, no autoPause: a hard lifetime (E2B) */
    LC_PAUSE,  /* end reached, autoPause, idle for its timeout */
    LC_EXTEND, /* end reached, autoPause, but routed traffic since: end -> *new_end_ms */
    LC_DROP,   /* an index entry without a record: remove the leftovers */
};

/* The record's fields as Redis holds them (NULL when missing): end_at (RFC 3339),
 * state, auto_pause ("1"), last_activity_ms and timeout_s (decimal). A record that
 * exists has a non-NULL end_at or state; none at all is LC_DROP. */
struct lc_record {
    const char *end_at, *state, *auto_pause, *last_activity_ms, *timeout_s;
};

enum lc_action lifecycle_decide(const struct lc_record *r, int64_t now_ms,
                                int64_t *new_end_ms);

#endif
