/* Sandbox usage sampling for GET /metrics: CPU from the cgroup's cumulative CPU time
 * (percent of the sandbox's own CPU allowance since the previous sample), memory from
 * the cgroup, disk from the sandbox's writable layer. Read from the host side, so the
 * numbers cannot be faked from inside and need no cgroup view in the sandbox. */
#ifndef CUBE_WORKER_METRICS_H
#define CUBE_WORKER_METRICS_H

#include <jansson.h>

#include "worker.h"

/* {"<sandboxID>": <SandboxMetric>, ...} for every running or paused sandbox. */
json_t *metrics_sample_all(struct worker *w);

#endif
