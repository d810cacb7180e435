/* Durable records: the gateway and the scheduler append lifecycle events to the Redis
 * stream cube:events; this consumer (group "scheduler") writes them to MariaDB and
 * acknowledges them only after the write, so a crash replays instead of losing. */
#ifndef CUBE_SCHED_EVENTS_H
#define CUBE_SCHED_EVENTS_H

#include <hiredis/hiredis.h>
#include <mysql.h>
#include <stdint.h>

/* Append an event (used for scheduler-made kills). 0 on success. */
int events_emit(redisContext *rc, const char *type, const char *id, const char *reason,
                const char *node);
/* The same with the sandbox's new end time (RFC 3339) for its record. */
int events_emit_end(redisContext *rc, const char *type, const char *id,
                    const char *reason, const char *node, const char *end_at);
/* Consume what is pending; returns the number of events written, -1 on error. */
int events_consume(MYSQL *db, redisContext *rc);

#endif
