/* Host-side firewall for sandbox veths (nftables): a sandbox may answer connections
 * the host opens to it (the router, the worker's envd probe) but may not open any to
 * the host, and nothing is forwarded from one sandbox's veth to another's or to
 * loopback / link-local (metadata) addresses. One table per worker instance, kept
 * while the worker is down (its sandboxes keep running), removed by --teardown-all.
 * The policy lives here only, so it can move to eBPF later as a unit. */
#ifndef CUBE_WORKER_HOST_FIREWALL_H
#define CUBE_WORKER_HOST_FIREWALL_H

#include <stddef.h>

/* "cube" for cgroup name "cube"; other names are mapped to [a-z0-9_]. */
void host_firewall_table_name(const char *instance, char *out, size_t len);
/* The ruleset text for table (pure; unit-tested). Caller frees. */
char *host_firewall_ruleset(const char *table);
int host_firewall_install(const char *table);
int host_firewall_remove(const char *table);

#endif
