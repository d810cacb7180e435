/* Sandbox networking: a named netns (cube-<id> under /run/netns) and a veth pair
 * vh<slot> (host) <-> eth0 (sandbox) on the slot's /30 (slots.h).
 *
 * This version drives iproute2 (`ip -batch -`) via posix_spawn: two spawns per setup,
 * a few ms. Talking rtnetlink directly is the planned speed-up. */
#ifndef CUBE_WORKER_NETNS_H
#define CUBE_WORKER_NETNS_H

#include <sys/types.h>

/* Path of the ip binary (resolved once at startup). 0, or -1 if not found. */
int netns_init(void);

/* Name the netns of pid, create and address the veth pair, bring up lo and eth0, set
 * the default route. On failure, what was made is removed. */
int netns_setup(const char *id, int slot, pid_t pid, char *err, int errlen);

/* Remove the veth (its peer goes with it) and the netns name. Idempotent. */
void netns_teardown(const char *id, int slot);

#endif
