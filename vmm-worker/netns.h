/* Sandbox networking: a veth pair vh<slot> (host) <-> eth0 (in the sandbox's netns) on
 * the slot's /30 (slots.h), lo and eth0 up, default route via the host end.
 *
 * Talks rtnetlink directly (libmnl): no spawned `ip`, no named netns under /run/netns
 * (the netns is reached through /proc/<pid>/ns/net and lives as long as the sandbox's
 * processes). No global state and no event loop: every call opens its own netlink
 * sockets, so it can run in any process or thread, e.g. a forked helper. */
#ifndef CUBE_WORKER_NETNS_H
#define CUBE_WORKER_NETNS_H

#include <sys/types.h>

/* Startup check that this process can do what netns_setup needs (an rtnetlink socket,
 * setns). 0, or -1 with the reason logged. */
int netns_init(void);

/* Create the pair with eth0 directly in the netns of pid, address both ends, bring up
 * vh<slot>, lo and eth0, add the default route. The calling thread enters the netns
 * only to open a netlink socket there and is always back in its own netns on return.
 * On failure err says which step failed and why, and what was made is removed. */
int netns_setup(int slot, pid_t pid, char *err, int errlen);

/* Remove vh<slot> (its peer goes with it). Idempotent: a missing link is fine. */
void netns_teardown(int slot);

#endif
