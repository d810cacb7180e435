/* Per-sandbox egress policy: E2B's allow_internet_access / network.allowOut /
 * network.denyOut, parsed and validated (pure, unit-tested, fuzzed), persisted in
 * state.json, and enforced in the worker's nftables table (host_firewall.h).
 *
 * Semantics (as E2B): a destination in allowOut is allowed, else one in denyOut is
 * dropped, else it is allowed. allow_internet_access:false is denyOut 0.0.0.0/0. The
 * node's protections (host, loopback, link-local/metadata, other sandboxes, private
 * ranges) are checked before the policy and cannot be opened by allowOut.
 *
 * Enforcement: a sandbox whose policy denies nothing has no rule at all (the default
 * costs nothing). Otherwise it gets a chain p<slot> and an element
 * <address> : jump p<slot> in the table's verdict map, made or replaced in one nft
 * transaction through libnftables (in-process, no spawn). Callable from the worker's
 * event loop and from a forked single-threaded helper (each process opens its own
 * libnftables context). */
#ifndef CUBE_WORKER_NET_POLICY_H
#define CUBE_WORKER_NET_POLICY_H

#include <jansson.h>
#include <stdint.h>

#define NET_POLICY_MAX 64 /* ranges per list after merging; more entries are a 400 */

struct net_range {
    uint32_t lo, hi; /* inclusive, host byte order */
};

struct net_policy {
    int n_allow, n_deny; /* n_deny == 0: the default, nothing enforced */
    struct net_range allow[NET_POLICY_MAX];
    struct net_range deny[NET_POLICY_MAX];
};

/* From a create or PUT /network body (root object): "allow_internet_access" (bool)
 * and "network" {"allowOut":[..],"denyOut":[..]} (create), or, with flat = 1, the PUT
 * body's top-level "allowOut"/"denyOut"/"allow_internet_access". Entries are IPv4
 * addresses or CIDRs; lists are sorted and merged. Domain names and IPv6 are refused
 * with a message in err (the caller answers 400). 0 or -1. */
int net_policy_parse(json_t *root, int flat, struct net_policy *p, char *err, int errlen);
/* 1 when the policy denies nothing (no rule needed). */
int net_policy_is_default(const struct net_policy *p);
/* Persisted form {"allowOut":["a-b",..],"denyOut":[..]} (new reference) and back;
 * from_json validates (the file may be damaged). NULL/absent = default. */
json_t *net_policy_to_json(const struct net_policy *p);
int net_policy_from_json(json_t *o, struct net_policy *p);
/* The nft commands that make slot's policy exactly p (pure; caller frees). For a
 * default policy they remove whatever the slot had. */
char *net_policy_commands(const char *table, int slot, const struct net_policy *p);

/* Table the rules go to; called once by host_firewall_install, which also reports the
 * slots the table already holds policies for (a previous worker's). */
void net_policy_init(const char *table);
void net_policy_mark_present(int slot);
/* Whether this process knows of a policy in slot's chain (or cannot rule one out). */
int net_policy_present(int slot);
/* Another process (a spawner) removed slot's policy: nothing to clear next time. */
void net_policy_mark_clean(int slot);
/* Make slot's policy p, atomically replacing what it had. 0, or -1 with err set. */
int net_policy_apply(int slot, const struct net_policy *p, char *err, int errlen);
/* Remove slot's policy (idempotent). 0 or -1 (logged). */
int net_policy_clear(int slot);
/* Run nft command text in this process's libnftables context (one transaction). out
 * (may be NULL) receives what nft printed; caller frees. 0 or -1 with err. */
int net_policy_nft(const char *cmds, char **out, char *err, int errlen);

#endif
