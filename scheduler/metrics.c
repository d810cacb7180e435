#include "metrics.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cube_id.h"
#include "cube_log.h"

struct body {
    char *data;
    size_t len;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t n = size * nmemb;
    char *tmp;

    if (b->len + n > 64 << 20) /* a worker answer this large is not metrics */
        return 0;
    tmp = realloc(b->data, b->len + n + 1);
    if (tmp == NULL)
        return 0;
    b->data = tmp;
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static json_t *worker_metrics(const char *addr)
{
    struct body b = {NULL, 0};
    long status = 0;
    json_t *j = NULL;
    CURL *c = curl_easy_init();

    if (c == NULL)
        return NULL;
    if (strncmp(addr, "unix:", 5) == 0) {
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, addr + 5);
        curl_easy_setopt(c, CURLOPT_URL, "http://worker/metrics");
    } else {
        char url[300];
        snprintf(url, sizeof(url), "http://%s/metrics", addr);
        curl_easy_setopt(c, CURLOPT_URL, url);
    }
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 4000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (status == 200 && b.data)
        j = json_loads(b.data, 0, NULL);
    free(b.data);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

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
            all = worker_metrics(addr->str);
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
