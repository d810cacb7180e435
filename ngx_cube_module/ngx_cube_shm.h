/* The module's shared memory: route cache and metrics counters (ngx_cube_shm.c). */
#ifndef NGX_CUBE_SHM_H
#define NGX_CUBE_SHM_H

#include "ngx_cube_module.h"

#define NGX_CUBE_ROUTE_ID_MAX 32
#define NGX_CUBE_ROUTE_ADDR_MAX 48

#define NGX_CUBE_KIND_API 0
#define NGX_CUBE_KIND_ROUTER 1
#define NGX_CUBE_KINDS 2
#define NGX_CUBE_HIST_BUCKETS 12 /* le 1,2.5,5,10,25,50,100,250,500,1000,2500,+Inf ms */

#define NGX_CUBE_RESUME_ROUTER 0  /* a routed request's wait at the auto-resume gate */
#define NGX_CUBE_RESUME_CONNECT 1 /* connect / resume from paused to answered */
#define NGX_CUBE_RESUME_KINDS 2
#define NGX_CUBE_RESUME_BUCKETS                                                          \
    14 /* le 0.5,1,2.5,5,10,25,50,100,250,500,1000,2500,5000,+Inf ms */

typedef struct {
    ngx_atomic_t requests[NGX_CUBE_KINDS][6]; /* by status class: 1xx..5xx, other */
    ngx_atomic_t latency[NGX_CUBE_KINDS][NGX_CUBE_HIST_BUCKETS];
    ngx_atomic_t latency_sum_us[NGX_CUBE_KINDS];
    ngx_atomic_t creates, create_errors, kills, kill_errors, pauses, resumes, api_errors;
    ngx_atomic_t auto_resumes, auto_resume_waits, traffic_token_denied;
    ngx_atomic_t route_cache_hits, route_cache_misses;
    /* resume latencies by NGX_CUBE_RESUME_*, buckets as ngx_cube_resume_observe */
    ngx_atomic_t resume[NGX_CUBE_RESUME_KINDS][NGX_CUBE_RESUME_BUCKETS];
    ngx_atomic_t resume_sum_us[NGX_CUBE_RESUME_KINDS];
    ngx_atomic_t activity_flushes, activity_flushed;
} ngx_cube_counters_t;

#define ngx_cube_count(field)                                                            \
    do {                                                                                 \
        ngx_cube_counters_t *c_ = ngx_cube_counters();                                   \
        if (c_) {                                                                        \
            (void)ngx_atomic_fetch_add(&c_->field, 1);                                   \
        }                                                                                \
    } while (0)

/* Declare the zone (postconfiguration). slots = route cache entries (0: no cache). */
ngx_int_t ngx_cube_shm_add(ngx_conf_t *cf, ngx_uint_t slots, ngx_msec_t ttl);
/* NULL before the zone exists. */
ngx_cube_counters_t *ngx_cube_counters(void);

/* NGX_OK with addr (NGX_CUBE_ROUTE_ADDR_MAX bytes) when a fresh entry exists. */
ngx_int_t ngx_cube_route_cache_get(const u_char *id, size_t len, u_char *addr,
                                   size_t *addr_len, ngx_uint_t *private_traffic);
void ngx_cube_route_cache_put(const u_char *id, size_t len, const u_char *addr,
                              size_t addr_len, ngx_uint_t private_traffic);
void ngx_cube_route_cache_drop(const u_char *id, size_t len);

/* Routed activity (auto-pause): stamp the sandbox's entry with now_ms (wall clock),
 * making one when it has none. Cheap: shared memory only, no Redis. */
void ngx_cube_route_activity(const ngx_str_t *id, int64_t now_ms);

typedef struct {
    ngx_str_t id;
    int64_t ms;
} ngx_cube_activity_t;
typedef void (*ngx_cube_activity_pt)(void *ctx, const ngx_cube_activity_t *a);

/* Up to max entries stamped since they were last collected, from *cursor on (the
 * next call goes on where this one stopped): fn for each, under the zone's lock (fn
 * must only copy). Returns how many. */
ngx_uint_t ngx_cube_route_activity_collect(ngx_cube_activity_pt fn, void *ctx,
                                           ngx_uint_t max, ngx_uint_t *cursor);

/* Resume latency histograms (ngx_cube_prom.c). */
void ngx_cube_resume_observe(ngx_uint_t kind, int64_t us);

/* Monotonic microseconds, for latencies finer than nginx's cached milliseconds. */
static ngx_inline int64_t ngx_cube_mono_us(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
