/* Host-side firewall and NAT for sandbox veths (nftables), one table per worker
 * instance, kept while the worker is down (its sandboxes keep running), removed by
 * --teardown-all. The policy lives here and in net_policy.c only, so it can move to
 * eBPF later as a unit.
 *
 *   input:   a sandbox may answer connections the host opens to it (router, envd
 *            probe) but may not open any to the host (any of its addresses).
 *   forward: what a sandbox sends out goes through chain "egress": never to another
 *            sandbox, loopback, link-local/metadata, multicast or reserved space;
 *            never to private ranges (RFC 1918, 100.64/10) except DNS to the host's
 *            resolvers; then its own policy (net_policy.h, map "sbpolicy"). Nothing
 *            from outside may open a connection to a sandbox.
 *   nat:     masquerade 100.96.0.0/16 leaving through non-sandbox interfaces.
 *
 * Reinstalling (worker restart) replaces the fixed chains in one transaction and keeps
 * the per-sandbox policy chains and map, so running sandboxes never lose theirs. */
#ifndef CUBE_WORKER_HOST_FIREWALL_H
#define CUBE_WORKER_HOST_FIREWALL_H

#include <stddef.h>

#define HOST_FIREWALL_MAX_RESOLVERS 8

/* "cube" for cgroup name "cube"; other names are mapped to [a-z0-9_]. */
void host_firewall_table_name(const char *instance, char *out, size_t len);
/* IPv4 nameservers of resolv.conf text that a sandbox can reach (loopback ones are
 * skipped: a sandbox's 127.0.0.1 is its own), as "a, b" into out. Count (pure). */
int host_firewall_resolvers(const char *resolv_conf, char *out, size_t len);
/* The ruleset text for table with the given DNS exception list ("" = none). Pure;
 * unit-tested. Caller frees. */
char *host_firewall_ruleset(const char *table, const char *resolvers);
/* Enable IPv4 forwarding if needed, install the ruleset (resolvers from
 * /etc/resolv.conf), and tell net_policy which slots already hold a policy. */
int host_firewall_install(const char *table);
int host_firewall_remove(const char *table);

#endif
