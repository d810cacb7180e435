#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cube_hash.h"
#include "cube_log.h"
#include "db.h"

int keys_create(MYSQL *db, const char *name, char *out)
{
    unsigned char rnd[20];
    char hash[CUBE_SHA256_HEX_LEN + 1], esc[260], sql[512];

    if (strlen(name) > 128)
        return -1;
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return -1;
    /* "e2b_" then 40 hex chars; cube_hex_encode NUL-terminates. */
    out[0] = 'e';
    out[1] = '2';
    out[2] = 'b';
    out[3] = '_';
    cube_hex_encode(rnd, sizeof(rnd), out + 4);
    cube_sha256_hex(out, strlen(out), hash);
    mysql_real_escape_string(db, esc, name, (unsigned long)strlen(name));
    snprintf(sql, sizeof(sql),
             "INSERT INTO api_keys (name, key_hash, key_prefix) VALUES ('%s', '%s', '%.10s')",
             esc, hash, out);
    return db_exec(db, sql);
}

int keys_check(MYSQL *db, const char *key)
{
    char hash[CUBE_SHA256_HEX_LEN + 1], sql[256];
    MYSQL_RES *res;
    int found;

    cube_sha256_hex(key, strlen(key), hash);
    snprintf(sql, sizeof(sql),
             "SELECT id FROM api_keys WHERE key_hash='%s' AND revoked_at IS NULL", hash);
    if (db_exec(db, sql) != 0 || (res = mysql_store_result(db)) == NULL)
        return -1;
    found = mysql_num_rows(res) > 0;
    mysql_free_result(res);
    return found;
}

int keys_list(MYSQL *db, int json)
{
    MYSQL_RES *res;
    MYSQL_ROW row;

    if (db_exec(db, "SELECT id, name, key_prefix, created_at, IFNULL(revoked_at, '')"
                    " FROM api_keys ORDER BY id") != 0 ||
        (res = mysql_store_result(db)) == NULL)
        return -1;
    if (!json)
        printf("%-6s %-24s %-12s %-24s %s\n", "ID", "NAME", "PREFIX", "CREATED", "REVOKED");
    while ((row = mysql_fetch_row(res)) != NULL) {
        if (json)
            printf("{\"id\":%s,\"name\":\"%s\",\"prefix\":\"%s\",\"createdAt\":\"%s\","
                   "\"revokedAt\":%s%s%s}\n",
                   row[0], row[1], row[2], row[3], row[4][0] ? "\"" : "",
                   row[4][0] ? row[4] : "null", row[4][0] ? "\"" : "");
        else
            printf("%-6s %-24s %-12s %-24s %s\n", row[0], row[1], row[2], row[3], row[4]);
    }
    mysql_free_result(res);
    return 0;
}

int keys_revoke(MYSQL *db, const char *id_or_prefix)
{
    char esc[64], sql[256];

    if (strlen(id_or_prefix) > 20)
        return -1;
    mysql_real_escape_string(db, esc, id_or_prefix, (unsigned long)strlen(id_or_prefix));
    snprintf(sql, sizeof(sql),
             "UPDATE api_keys SET revoked_at=CURRENT_TIMESTAMP(3) WHERE revoked_at IS NULL"
             " AND (CAST(id AS CHAR)='%s' OR key_prefix='%s')",
             esc, esc);
    if (db_exec(db, sql) != 0)
        return -1;
    return mysql_affected_rows(db) > 0 ? 0 : 1;
}

int keys_sync(MYSQL *db, redisContext *rc)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    redisReply *r;
    int err = 0;

    if (db_exec(db, "SELECT key_hash, id, name FROM api_keys WHERE revoked_at IS NULL") != 0 ||
        (res = mysql_store_result(db)) == NULL)
        return -1;
    /* Build the new set under a temporary name, then swap, so the gateway never sees a
     * moment with no keys. Revoked keys are the difference old - new. */
    redisAppendCommand(rc, "DEL cube:apikeys:next");
    int pending = 1;
    while ((row = mysql_fetch_row(res)) != NULL) {
        redisAppendCommand(rc, "HSET cube:apikey:%s id %s name %s", row[0], row[1], row[2]);
        redisAppendCommand(rc, "SADD cube:apikeys:next %s", row[0]);
        pending += 2;
    }
    mysql_free_result(res);
    for (int i = 0; i < pending; i++) {
        if (redisGetReply(rc, (void **)&r) != REDIS_OK)
            return -1;
        if (r->type == REDIS_REPLY_ERROR)
            err = 1;
        freeReplyObject(r);
    }
    r = redisCommand(rc, "SDIFF cube:apikeys cube:apikeys:next");
    if (r == NULL)
        return -1;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *d = redisCommand(rc, "DEL cube:apikey:%s", r->element[i]->str);
        if (d)
            freeReplyObject(d);
        log_info("api key %.8s… revoked: removed from redis", r->element[i]->str);
    }
    freeReplyObject(r);
    r = redisCommand(rc, "EXISTS cube:apikeys:next");
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        freeReplyObject(r);
        r = redisCommand(rc, "RENAME cube:apikeys:next cube:apikeys");
    } else {
        if (r)
            freeReplyObject(r);
        r = redisCommand(rc, "DEL cube:apikeys");
    }
    if (r)
        freeReplyObject(r);
    return err ? -1 : 0;
}
