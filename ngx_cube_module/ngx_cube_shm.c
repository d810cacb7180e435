/* The module's shared memory zone: the router's route cache and the counters behind
 * the Prometheus metrics, shared by every nginx worker process.
 *
 * Route cache: a fixed table of slots (cube_route_cache <slots>), a sandbox id hashes
 * to a bucket of ROUTE_WAYS slots. An entry holds what proxying needs (the sandbox's
 * address, whether it wants a traffic token) and the time it was read from Redis; it
 * is used for cube_route_cache_ttl (default 100 ms), so a state change made elsewhere
 * (another gateway, cube-scheduler) reaches every worker within that time, and a kill
 * or pause made through this gateway drops the entry at once. Only running sandboxes
 * are cached: misses, paused and unknown sandboxes always ask Redis.
 *
 * Activity (auto-pause): every routed request stamps its sandbox's entry with the wall
 * clock (ngx_cube_route_activity), also while a long request is still open (see the
 * router). An entry may then exist for activity only (a sandbox resumed by traffic,
 * one whose route was dropped); `routable` says whether its route may be used. One
 * nginx worker collects the entries stamped since its last look and writes them to
 * Redis in one batch (ngx_cube_router.c), so traffic costs no Redis write per request.
 * Evicting an entry with an unflushed stamp loses that stamp only until the next
 * request; entries with one are evicted last.
 *
 * The zone is a slab pool (as nginx sets up every zone); the table is one allocation
 * in it. Counters are atomics (no lock); the route table takes the pool's mutex. */
#include "ngx_cube_shm.h"

#define ROUTE_WAYS 4

typedef struct {
    u_char id[NGX_CUBE_ROUTE_ID_MAX];
    u_char addr[NGX_CUBE_ROUTE_ADDR_MAX];
    uint8_t id_len;
    uint8_t addr_len;
    uint8_t private_traffic;
    uint8_t routable;   /* addr may be used (else an activity-only entry) */
    ngx_msec_t stamp;   /* when the route was read from Redis */
    ngx_msec_t used;    /* last put or activity: eviction order */
    int64_t active_ms;  /* last routed activity, wall clock ms (0: none) */
    int64_t flushed_ms; /* active_ms when it was last collected */
} ngx_cube_route_slot_t;

typedef struct {
    ngx_cube_counters_t counters;
    ngx_uint_t nslots;
    ngx_cube_route_slot_t slots[1];
} ngx_cube_shm_t;

static ngx_cube_shm_t *ngx_cube_shm;
static ngx_slab_pool_t *ngx_cube_shm_pool; /* its mutex guards the route table */
static ngx_msec_t ngx_cube_route_ttl;

static ngx_int_t ngx_cube_shm_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t *shpool = (ngx_slab_pool_t *)zone->shm.addr;
    ngx_uint_t nslots = (ngx_uint_t)(uintptr_t)zone->data;
    ngx_cube_shm_t *sh;

    ngx_cube_shm_pool = shpool;
    if (data) { /* reload with the same size: keep counters and routes */
        zone->data = data;
        ngx_cube_shm = data;
        return NGX_OK;
    }
    sh = ngx_slab_calloc(shpool,
                         sizeof(ngx_cube_shm_t) + nslots * sizeof(ngx_cube_route_slot_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }
    sh->nslots = nslots;
    zone->data = sh;
    ngx_cube_shm = sh;
    return NGX_OK;
}

ngx_int_t ngx_cube_shm_add(ngx_conf_t *cf, ngx_uint_t slots, ngx_msec_t ttl)
{
    static ngx_str_t name = ngx_string("cube_shared");
    ngx_shm_zone_t *zone;
    size_t size;

    /* the slab allocator's own pages and headers come on top */
    size = sizeof(ngx_cube_shm_t) + slots * sizeof(ngx_cube_route_slot_t);
    size = ngx_align(size + size / 32, ngx_pagesize) + 16 * ngx_pagesize;
    zone = ngx_shared_memory_add(cf, &name, size, &ngx_cube_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }
    zone->init = ngx_cube_shm_init_zone;
    zone->data = (void *)(uintptr_t)slots;
    ngx_cube_route_ttl = ttl;
    return NGX_OK;
}

ngx_cube_counters_t *ngx_cube_counters(void)
{
    return ngx_cube_shm ? &ngx_cube_shm->counters : NULL;
}

/* 1 when the table exists and id fits a slot. */
static int ngx_cube_route_usable(size_t len)
{
    return ngx_cube_shm != NULL && ngx_cube_shm->nslots >= ROUTE_WAYS &&
           len <= NGX_CUBE_ROUTE_ID_MAX;
}

static ngx_uint_t ngx_cube_route_bucket(const u_char *id, size_t len)
{
    return (ngx_crc32_short((u_char *)id, len) % (ngx_cube_shm->nslots / ROUTE_WAYS)) *
           ROUTE_WAYS;
}

ngx_int_t ngx_cube_route_cache_get(const u_char *id, size_t len, u_char *addr,
                                   size_t *addr_len, ngx_uint_t *private_traffic)
{
    ngx_cube_route_slot_t *s;
    ngx_uint_t b, i;
    ngx_int_t rc = NGX_DECLINED;

    if (!ngx_cube_route_usable(len)) {
        return NGX_DECLINED;
    }
    b = ngx_cube_route_bucket(id, len);
    ngx_shmtx_lock(&ngx_cube_shm_pool->mutex);
    for (i = 0; i < ROUTE_WAYS; i++) {
        s = &ngx_cube_shm->slots[b + i];
        if (s->id_len == len && ngx_memcmp(s->id, id, len) == 0) {
            if (s->routable && (ngx_msec_int_t)(ngx_current_msec - s->stamp) <
                                   (ngx_msec_int_t)ngx_cube_route_ttl) {
                ngx_memcpy(addr, s->addr, s->addr_len);
                *addr_len = s->addr_len;
                *private_traffic = s->private_traffic;
                rc = NGX_OK;
            }
            break;
        }
    }
    ngx_shmtx_unlock(&ngx_cube_shm_pool->mutex);
    return rc;
}

/* The slot of id in bucket b, else one to reuse (reset to id): an empty one, else the
 * least recently used without an unflushed stamp, else the least recently used. Lock
 * held. */
static ngx_cube_route_slot_t *ngx_cube_route_slot(ngx_uint_t b, const u_char *id,
                                                  size_t len)
{
    ngx_cube_route_slot_t *s, *victim = NULL;
    ngx_uint_t i;
    int s_dirty, v_dirty = 0;

    for (i = 0; i < ROUTE_WAYS; i++) {
        s = &ngx_cube_shm->slots[b + i];
        if (s->id_len == len && ngx_memcmp(s->id, id, len) == 0) {
            return s;
        }
        if (victim && victim->id_len == 0) {
            continue;
        }
        s_dirty = s->active_ms > s->flushed_ms;
        if (victim == NULL || s->id_len == 0 || (v_dirty && !s_dirty) ||
            (v_dirty == s_dirty && (ngx_msec_int_t)(s->used - victim->used) < 0)) {
            victim = s;
            v_dirty = s_dirty;
        }
    }
    ngx_memcpy(victim->id, id, len);
    victim->id_len = (uint8_t)len;
    victim->routable = 0;
    victim->active_ms = 0;
    victim->flushed_ms = 0;
    return victim;
}

void ngx_cube_route_cache_put(const u_char *id, size_t len, const u_char *addr,
                              size_t addr_len, ngx_uint_t private_traffic)
{
    ngx_cube_route_slot_t *s;

    if (!ngx_cube_route_usable(len) || ngx_cube_route_ttl == 0 ||
        addr_len > NGX_CUBE_ROUTE_ADDR_MAX) {
        return;
    }
    ngx_shmtx_lock(&ngx_cube_shm_pool->mutex);
    s = ngx_cube_route_slot(ngx_cube_route_bucket(id, len), id, len);
    ngx_memcpy(s->addr, addr, addr_len);
    s->addr_len = (uint8_t)addr_len;
    s->private_traffic = (uint8_t)private_traffic;
    s->routable = 1;
    s->stamp = ngx_current_msec;
    s->used = ngx_current_msec;
    ngx_shmtx_unlock(&ngx_cube_shm_pool->mutex);
}

void ngx_cube_route_cache_drop(const u_char *id, size_t len)
{
    ngx_cube_route_slot_t *s;
    ngx_uint_t b, i;

    if (!ngx_cube_route_usable(len)) {
        return;
    }
    b = ngx_cube_route_bucket(id, len);
    ngx_shmtx_lock(&ngx_cube_shm_pool->mutex);
    for (i = 0; i < ROUTE_WAYS; i++) {
        s = &ngx_cube_shm->slots[b + i];
        if (s->id_len == len && ngx_memcmp(s->id, id, len) == 0) {
            s->routable = 0; /* its activity stamp stays until collected */
        }
    }
    ngx_shmtx_unlock(&ngx_cube_shm_pool->mutex);
}

void ngx_cube_route_activity(const ngx_str_t *id, int64_t now_ms)
{
    ngx_cube_route_slot_t *s;

    if (!ngx_cube_route_usable(id->len)) {
        return;
    }
    ngx_shmtx_lock(&ngx_cube_shm_pool->mutex);
    s = ngx_cube_route_slot(ngx_cube_route_bucket(id->data, id->len), id->data, id->len);
    if (now_ms > s->active_ms) {
        s->active_ms = now_ms;
    }
    s->used = ngx_current_msec;
    ngx_shmtx_unlock(&ngx_cube_shm_pool->mutex);
}

ngx_uint_t ngx_cube_route_activity_collect(ngx_cube_activity_pt fn, void *ctx,
                                           ngx_uint_t max, ngx_uint_t *cursor)
{
    ngx_cube_route_slot_t *s;
    ngx_cube_activity_t a;
    ngx_uint_t i, j, n = 0, nslots;

    if (ngx_cube_shm == NULL || ngx_cube_shm->nslots == 0) {
        return 0;
    }
    nslots = ngx_cube_shm->nslots;
    ngx_shmtx_lock(&ngx_cube_shm_pool->mutex);
    for (j = 0; j < nslots && n < max; j++) {
        i = (*cursor + j) % nslots;
        s = &ngx_cube_shm->slots[i];
        if (s->id_len && s->active_ms > s->flushed_ms) {
            a.id.data = s->id;
            a.id.len = s->id_len;
            a.ms = s->active_ms;
            fn(ctx, &a);
            s->flushed_ms = s->active_ms;
            n++;
        }
    }
    *cursor = (*cursor + j) % nslots;
    ngx_shmtx_unlock(&ngx_cube_shm_pool->mutex);
    return n;
}
