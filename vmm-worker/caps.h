/* The sandbox's capability set: Docker's default (CapBnd 00000000a80425fb). Root inside
 * the sandbox is root of the sandbox's user namespace only; these are the capabilities
 * it keeps there. Applied by the sandbox's first process right before exec (ns_spawn.c):
 * bounding set reduced, ambient cleared, effective = permitted = the set, inheritable
 * empty. Every later setuid-root exec (sudo) gets at most the bounding set.
 *
 * Kept and why cube-envd / sudo need them: SETUID, SETGID (become the user a process
 * runs as; setgroups), CHOWN, FOWNER, DAC_OVERRIDE, FSETID (files created for users,
 * package managers), KILL (signal users' processes), AUDIT_WRITE (sudo/PAM),
 * NET_BIND_SERVICE, NET_RAW (ping), MKNOD, SYS_CHROOT, SETPCAP, SETFCAP (dpkg). Gone
 * among others: SYS_ADMIN (mount, namespaces), NET_ADMIN (the sandbox's addresses and
 * routes), SYS_PTRACE, SYS_TIME, SYS_BOOT, SYS_MODULE, DAC_READ_SEARCH. */
#ifndef CUBE_WORKER_CAPS_H
#define CUBE_WORKER_CAPS_H

#include <stdint.h>

struct cap_name {
    int num;
    const char *name; /* without CAP_ */
};

/* The kept capabilities, by name (the table behind caps_sandbox_mask). */
extern const struct cap_name caps_sandbox_set[];
extern const int caps_sandbox_set_len;

/* Bit mask (bit n = capability n) of caps_sandbox_set. */
uint64_t caps_sandbox_mask(void);

/* Capabilities 0..last_cap that are not in keep: what PR_CAPBSET_DROP must remove. */
uint64_t caps_drop_mask(uint64_t keep, int last_cap);

/* "%016llx" as /proc/<pid>/status prints CapBnd. out needs 17 bytes. */
void caps_format(uint64_t mask, char *out);

/* Highest capability the running kernel knows (probes PR_CAPBSET_READ). */
int caps_last_cap(void);

/* Step 1: drop everything not in keep from the bounding set (needs CAP_SETPCAP in the
 * current user namespace) and clear the ambient set. Effective caps are untouched, so
 * the caller can still load its seccomp filter (CAP_SYS_ADMIN) afterwards. */
int caps_limit_bounding(uint64_t keep, char *err, int errlen);
/* Step 2: capset(2) effective = permitted = keep & permitted, inheritable = 0. */
int caps_limit_process(uint64_t keep, char *err, int errlen);
/* Both steps. 0, or -1 with err. */
int caps_apply(uint64_t keep, char *err, int errlen);

#endif
