/* GET /metrics: a point-in-time sample of the sandbox's CPU, memory and disk
 * use, in E2B's field names. The control plane samples it periodically. */
#ifndef ENVD_METRICS_H
#define ENVD_METRICS_H

#include <jansson.h>

/* New JSON object {"ts","cpu_count","cpu_used_pct","mem_total","mem_used",
 * "mem_cache","mem_total_mib","mem_used_mib","disk_used","disk_total"}. CPU use
 * is measured since the previous call (since boot on the first). */
json_t *envd_metrics_sample(void);

#endif
