/* Node health and template records: mirrors what workers publish in Redis into
 * MariaDB, and marks nodes whose heartbeat stopped as down. */
#ifndef CUBE_SCHED_NODES_H
#define CUBE_SCHED_NODES_H

#include <hiredis/hiredis.h>
#include <mysql.h>

int nodes_sweep(MYSQL *db, redisContext *rc);
int templates_sync(MYSQL *db, redisContext *rc);

#endif
