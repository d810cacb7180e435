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

typedef struct {
    ngx_atomic_t requests[NGX_CUBE_KINDS][6]; /* by status class: 1xx..5xx, other */
    ngx_atomic_t latency[NGX_CUBE_KINDS][NGX_CUBE_HIST_BUCKETS];
    ngx_atomic_t latency_sum_us[NGX_CUBE_KINDS];
    ngx_atomic_t creates, create_errors, kills, kill_errors, pauses, resumes, api_errors;
    ngx_atomic_t auto_resumes, auto_resume_waits, traffic_token_denied;
    ngx_atomic_t route_cache_hits, route_cache_misses;
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

#endif
