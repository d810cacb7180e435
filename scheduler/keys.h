/* API keys: created and revoked in MariaDB (only SHA-256 hashes are stored), mirrored
 * into Redis for the gateway. */
#ifndef CUBE_SCHED_KEYS_H
#define CUBE_SCHED_KEYS_H

#include <hiredis/hiredis.h>
#include <mysql.h>

/* Make a new key "e2b_<40 hex>"; writes it to out (needs 45 bytes). 0 on success. */
int keys_create(MYSQL *db, const char *name, char *out);
/* 1 if the key exists and is not revoked, 0 if not, -1 on error. */
int keys_check(MYSQL *db, const char *key);
/* Print keys as a table (or JSON lines with json != 0). */
int keys_list(MYSQL *db, int json);
/* Revoke by id or by key prefix. 0 if something was revoked, 1 if nothing matched. */
int keys_revoke(MYSQL *db, const char *id_or_prefix);
/* Make Redis' cube:apikey:* match MariaDB's active keys. 0 on success. */
int keys_sync(MYSQL *db, redisContext *rc);

#endif
