/* Reconcile the live view (Redis) with the truth: what the workers run and what
 * MariaDB recorded. Redis keeps nothing on disk, so after a restart or a flush the
 * sandbox records the gateway reads (cube:sb:<id>, cube:sandboxes, the node sets and
 * the template records) are rebuilt here from each healthy node's GET /sandboxes and
 * the durable rows; records of sandboxes their worker no longer runs are dropped
 * (event "killed", reason "gone"). docs/internals.md, "Rebuilding the live view". */
#ifndef CUBE_SCHED_REBUILD_H
#define CUBE_SCHED_REBUILD_H

#include <hiredis/hiredis.h>
#include <mysql.h>
#include <stdint.h>

/* A sandbox whose record was rebuilt without a recorded end time lives this long. */
#define REBUILD_DEFAULT_TIMEOUT_MS (300LL * 1000)
/* Records younger than this are not dropped for missing from a worker's list (their
 * create may have been in flight when the list was taken). */
#define REBUILD_GRACE_MS (60LL * 1000)
/* Sandboxes a worker started less than this ago are not rebuilt from its list: the
 * gateway writes a new sandbox's record just after the worker answers the create, and
 * a record rebuilt in between (without the create's metadata) would replace it. */
#define REBUILD_CREATE_GRACE_MS (3LL * 1000)

/* One pass. Returns the number of records rebuilt or dropped, -1 on a Redis error. */
int rebuild_sweep(MYSQL *db, redisContext *rc, int64_t now_ms);

/* Template records: remembered while present, written back when Redis lost all of them
 * (a flush; after a restart the workers register theirs on reconnect). */
int rebuild_templates(redisContext *rc);

#endif
