#include "metrics.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cube_id.h"
#include "cube_log.h"
#include "worker_client.h"

int metrics_sample(redisContext *rc)
{
    redisReply *nodes = redisCommand(rc, "SMEMBERS cube:nodes");
    int stored = 0;

    if (nodes == NULL || nodes->type != REDIS_REPLY_ARRAY) {
        if (nodes)
            freeReplyObject(nodes);
        return -1;
    }
    for (size_t i = 0; i < nodes->elements; i++) {
        const char *node = nodes->element[i]->str;
        redisReply *addr = redisCommand(rc, "HGET cube:node:%s addr", node);
        json_t *all = NULL, *m;
        const char *id;

        if (addr && addr->type == REDIS_REPLY_STRING)
            all = worker_get_json(addr->str, "/metrics", 0);
        if (addr)
            freeReplyObject(addr);
        if (all == NULL)
            continue;
        json_object_foreach(all, id, m)
        {
            char *text;
            redisReply *r;
            if (!cube_id_valid(id, 63) || !json_is_object(m))
                continue;
            text = json_dumps(m, JSON_COMPACT);
            if (text == NULL)
                continue;
            /* Only for sandboxes the live view still has: never resurrect a key. */
            r = redisCommand(rc,
                             "EVAL %s 2 cube:sb:%s cube:metrics:%s %s %d",
                             "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end "
                             "redis.call('LPUSH', KEYS[2], ARGV[1]) "
                             "redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1) "
                             "redis.call('EXPIRE', KEYS[2], 7200) return 1",
                             id, id, text, METRICS_KEEP);
            if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
                stored++;
            if (r)
                freeReplyObject(r);
            free(text);
        }
        json_decref(all);
    }
    freeReplyObject(nodes);
    return stored;
}
