/* Network slots. Slot n owns the /30 at 100.96.0.0/16 + 4n (docs/internals.md): the
 * host end vh<n> is .1 of it, the sandbox's eth0 is .2. The allocator is a bitmap over
 * a configurable [min, max] window so a second worker (tests) can use a disjoint range.
 * Pure code: no I/O, unit-tested. */
#ifndef CUBE_WORKER_SLOTS_H
#define CUBE_WORKER_SLOTS_H

#include <stdint.h>

#define SLOT_COUNT 16384 /* 100.96.0.0/16 split into /30s */
#define SLOT_ADDR_LEN 16 /* "100.96.255.254" + NUL */

struct slot_alloc {
    int min, max; /* inclusive window inside [0, SLOT_COUNT) */
    int used;     /* number of slots taken */
    int next;     /* where the next search starts (round-robin, see slots.c) */
    uint64_t bits[SLOT_COUNT / 64];
};

/* -1 if the window is invalid. */
int slots_init(struct slot_alloc *s, int min, int max);
/* Lowest-cost free slot, or -1 when the window is full. */
int slots_alloc(struct slot_alloc *s);
/* Take a specific slot (re-adopting persisted sandboxes). -1 if out of window or taken.
 */
int slots_reserve(struct slot_alloc *s, int slot);
void slots_release(struct slot_alloc *s, int slot);
int slots_is_used(const struct slot_alloc *s, int slot);

/* Dotted-quad addresses of slot n: host = .1, sandbox = .2 of its /30. -1 if n is out of
 * range. Buffers need SLOT_ADDR_LEN bytes. */
int slot_host_addr(int slot, char *out);
int slot_sandbox_addr(int slot, char *out);
/* Inverse of slot_sandbox_addr; -1 if addr is not a sandbox address. */
int slot_from_sandbox_addr(const char *addr);
/* Host interface name "vh<n>" (IFNAMSIZ-safe: at most "vh16383"). */
int slot_ifname(int slot, char *out, int outlen);

#endif
