#include "nodes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube_log.h"
#include "db.h"

static const char *hash_field(redisReply *r, const char *name)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (strcmp(r->element[i]->str, name) == 0)
            return r->element[i + 1]->str;
    return NULL;
}

int nodes_sweep(MYSQL *db, redisContext *rc)
{
    redisReply *nodes = redisCommand(rc, "SMEMBERS cube:nodes");
    int rc_ = 0;

    if (nodes == NULL || nodes->type != REDIS_REPLY_ARRAY) {
        if (nodes)
            freeReplyObject(nodes);
        return -1;
    }
    for (size_t i = 0; i < nodes->elements; i++) {
        const char *id = nodes->element[i]->str;
        redisReply *alive = redisCommand(rc, "EXISTS cube:node:%s:alive", id);
        redisReply *h = redisCommand(rc, "HGETALL cube:node:%s", id);
        const char *addr = hash_field(h, "addr");
        const char *state = hash_field(h, "state");
        int up = alive && alive->type == REDIS_REPLY_INTEGER && alive->integer == 1;
        char esc_id[64], esc_addr[512], sql[1024];

        if (strlen(id) < 32 && addr && strlen(addr) < 255) {
            /* A node whose heartbeat stopped is not chosen by placement (the script
             * checks the alive key); here it is recorded as down for operators. */
            if (!up && state && strcmp(state, "down") != 0) {
                redisReply *s = redisCommand(rc, "HSET cube:node:%s state down", id);
                if (s)
                    freeReplyObject(s);
                log_warn("node %s: heartbeat stopped, marked down", id);
            }
            mysql_real_escape_string(db, esc_id, id, (unsigned long)strlen(id));
            mysql_real_escape_string(db, esc_addr, addr, (unsigned long)strlen(addr));
            snprintf(sql, sizeof(sql),
                     "INSERT INTO nodes (node_id, addr, state) VALUES ('%s','%s','%s')"
                     " ON DUPLICATE KEY UPDATE addr=VALUES(addr), state=VALUES(state)%s",
                     esc_id, esc_addr, up ? "up" : "down",
                     up ? ", last_seen=CURRENT_TIMESTAMP(3)" : "");
            if (db_exec(db, sql) != 0)
                rc_ = -1;
        }
        if (alive)
            freeReplyObject(alive);
        if (h)
            freeReplyObject(h);
    }
    freeReplyObject(nodes);
    return rc_;
}

int templates_sync(MYSQL *db, redisContext *rc)
{
    unsigned long long cursor = 0;
    int rc_ = 0;

    do {
        redisReply *r = redisCommand(rc, "SCAN %llu MATCH cube:template:* COUNT 200", cursor);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r)
                freeReplyObject(r);
            return -1;
        }
        cursor = strtoull(r->element[0]->str, NULL, 10);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const char *key = r->element[1]->element[i]->str;
            const char *ref = key + strlen("cube:template:");
            if (strchr(ref, ':'))
                continue; /* cube:template:<id>:nodes */
            redisReply *h = redisCommand(rc, "HGETALL %s", key);
            const char *id = hash_field(h, "id"), *alias = hash_field(h, "alias");
            const char *cpu = hash_field(h, "cpu"), *mem = hash_field(h, "mem_mb");
            const char *disk = hash_field(h, "disk_mb"), *ver = hash_field(h, "envd_version");
            /* Keys exist by id and by alias; record each template once, by id. */
            if (id && strcmp(id, ref) == 0 && strlen(id) < 32 && cpu && mem && disk && ver &&
                strlen(ver) < 32 && (!alias || strlen(alias) < 128)) {
                char e_id[64], e_alias[260], e_ver[64], sql[1024];
                mysql_real_escape_string(db, e_id, id, (unsigned long)strlen(id));
                mysql_real_escape_string(db, e_ver, ver, (unsigned long)strlen(ver));
                if (alias)
                    mysql_real_escape_string(db, e_alias, alias, (unsigned long)strlen(alias));
                snprintf(sql, sizeof(sql),
                         "INSERT INTO templates (template_id, alias, cpu_count, memory_mb,"
                         " disk_mb, envd_version) VALUES ('%s', %s%s%s, %d, %d, %d, '%s')"
                         " ON DUPLICATE KEY UPDATE cpu_count=VALUES(cpu_count),"
                         " memory_mb=VALUES(memory_mb), disk_mb=VALUES(disk_mb),"
                         " envd_version=VALUES(envd_version)",
                         e_id, alias ? "'" : "", alias ? e_alias : "NULL", alias ? "'" : "",
                         (int)strtol(cpu, NULL, 10), (int)strtol(mem, NULL, 10),
                         (int)strtol(disk, NULL, 10), e_ver);
                /* An alias rebuilt under a new id replaces the old row's alias. */
                if (alias) {
                    char del[512];
                    snprintf(del, sizeof(del),
                             "UPDATE templates SET alias=NULL WHERE alias='%s' AND"
                             " template_id<>'%s'",
                             e_alias, e_id);
                    db_exec(db, del);
                }
                if (db_exec(db, sql) != 0)
                    rc_ = -1;
            }
            if (h)
                freeReplyObject(h);
        }
        freeReplyObject(r);
    } while (cursor != 0);
    return rc_;
}
