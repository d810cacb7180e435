/* The E2B API's list operation (GET /sandboxes, GET /v2/sandboxes): filters, order
 * and pagination. See ngx_cube_api.c for how an op runs. */
#include "ngx_cube_op.h"

#include "cube_hash.h"
#include "cube_id.h"
#include "cube_time.h"

#include <stdlib.h>

/* ================================================================ list */

static int list_item_cmp_desc(const void *a, const void *b)
{
    const ngx_cube_list_item_t *x = a, *y = b;
    return cube_list_cmp(x->ms, x->id, y->ms, y->id, 1);
}

static int list_item_cmp_asc(const void *a, const void *b)
{
    const ngx_cube_list_item_t *x = a, *y = b;
    return cube_list_cmp(x->ms, x->id, y->ms, y->id, 0);
}

static void op_list_respond(ngx_cube_op_t *op)
{
    json_t *arr = json_array();
    long long cms = 0;
    char cid[CUBE_GW_ID_MAX + 1];
    int have_cursor = 0;
    size_t i, count = 0;
    ngx_cube_list_item_t *last = NULL;
    int more = 0;
    char *s;

    if (arr == NULL) {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    if (op->q.next_token[0] && cube_list_cursor_parse(op->q.next_token, &cms, cid) == 0) {
        have_cursor = 1;
    }
    if (op->nitems > 1) {
        qsort(op->items, op->nitems, sizeof(ngx_cube_list_item_t),
              op->q.desc ? list_item_cmp_desc : list_item_cmp_asc);
    }
    for (i = 0; i < op->nitems; i++) {
        ngx_cube_list_item_t *it = &op->items[i];
        cube_sb_record_t rec;

        if (it->kv == NULL || it->n == 0) {
            continue;
        }
        if (have_cursor && cube_list_cmp(it->ms, it->id, cms, cid, op->q.desc) <= 0) {
            continue;
        }
        cube_sb_record_from_pairs((const char *const *) it->kv, it->n, &rec);
        if (rec.id == NULL || *rec.id == '\0') {
            rec.id = it->id;
        }
        if (!cube_list_match(&op->q, &rec)) {
            continue;
        }
        if ((long) count >= op->q.limit) {
            more = 1;
            break;
        }
        json_array_append_new(arr, cube_json_listed(&rec));
        last = it;
        count++;
    }

    if (more && last && op->r) {
        ngx_table_elt_t *h = ngx_list_push(&op->r->headers_out.headers);
        u_char *v = ngx_pnalloc(op->r->pool, 32 + CUBE_GW_ID_MAX);
        if (h && v) {
            h->hash = 1;
            ngx_str_set(&h->key, "X-Next-Token");
            h->value.data = v;
            h->value.len = ngx_sprintf(v, "%L_%s", (int64_t) last->ms, last->id) - v;
        }
    }
    s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (s == NULL) {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    op_respond(op, NGX_HTTP_OK, s, ngx_strlen(s));
    free(s);
}

typedef struct {
    ngx_cube_op_t *op;
    size_t index;
} ngx_cube_list_call_t;

static void op_list_item_cb(redisReply *reply, void *data)
{
    ngx_cube_list_call_t *call = data;
    ngx_cube_op_t *op = call->op;
    ngx_cube_list_item_t *it = &op->items[call->index];

    op->pending--;
    op->busy++;
    op->async = 1;
    if (reply_is_array(reply)) {
        it->kv = op_copy_pairs(op, reply, &it->n);
    }
    if (--op->list_waiting == 0) {
        op_list_respond(op);
    }
    op->busy--;
    op_release(op);
}

static void step_list_ids(ngx_cube_op_t *op, redisReply *reply)
{
    size_t i, n;

    if (reply == NULL || !reply_is_array(reply)) {
        op_redis_down(op);
        return;
    }
    n = reply->elements / 2;
    if (n > LIST_MAX) {
        n = LIST_MAX;
    }
    op->items = ngx_pcalloc(op->pool, sizeof(ngx_cube_list_item_t) * (n + 1));
    if (op->items == NULL) {
        op_error(op, NGX_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    for (i = 0; i < n; i++) {
        redisReply *id = reply->element[2 * i], *score = reply->element[2 * i + 1];
        if (id->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING) {
            continue;
        }
        op->items[op->nitems].id = op_strdup(op, id->str, id->len);
        op->items[op->nitems].ms = (long long) strtod(score->str, NULL);
        if (op->items[op->nitems].id) {
            op->nitems++;
        }
    }
    if (op->nitems == 0) {
        op_list_respond(op);
        return;
    }

    op->list_waiting = op->nitems;
    for (i = 0; i < op->nitems; i++) {
        ngx_cube_list_call_t *call = ngx_palloc(op->pool, sizeof(*call));
        const char *argv[2];
        size_t lens[2];

        argv[0] = "HGETALL";
        argv[1] = call ? op_key(op, "cube:sb:", op->items[i].id, "") : NULL;
        if (argv[1] == NULL) {
            op->list_waiting--;
            continue;
        }
        lens[0] = 7;
        lens[1] = ngx_strlen(argv[1]);
        call->op = op;
        call->index = i;
        if (ngx_cube_redis_command(op->mcf, op_list_item_cb, call, 2, argv, lens) != NGX_OK) {
            op->list_waiting--;
            continue;
        }
        op->pending++;
    }
    if (op->list_waiting == 0) {
        /* nothing could be sent */
        op_redis_down(op);
    }
}

void op_start_list(ngx_cube_op_t *op)
{
    char err[256];
    const char *argv[5];
    ngx_http_request_t *r = op->r;
    int rc;

    rc = cube_list_query_parse(r ? (const char *) r->args.data : "", r ? r->args.len : 0,
                               op->m.route == CUBE_ROUTE_LIST_V2, &op->q, err, sizeof(err));
    if (rc != 0) {
        op_error(op, (ngx_uint_t) rc, err);
        return;
    }
    op->q_parsed = 1;
    argv[0] = "ZRANGE";
    argv[1] = "cube:sandboxes";
    argv[2] = "0";
    argv[3] = "-1";
    argv[4] = "WITHSCORES";
    if (op_redis(op, step_list_ids, 5, argv) != NGX_OK) {
        op_redis_down(op);
    }
}
