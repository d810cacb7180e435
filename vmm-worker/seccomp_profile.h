/* The sandbox's seccomp profile: a default-allow filter that denies the syscalls
 * that reach past the sandbox (kernel modules, kexec, BPF, perf, keyrings, clocks,
 * new user namespaces, ...). The profile is a table in seccomp_profile.c; this
 * module turns it into a libseccomp filter and loads it (ns_spawn.c, right before
 * exec). Only the native ABI (x86_64) is allowed: i386 (int 0x80) and x32 syscalls
 * kill the process. */
#ifndef CUBE_WORKER_SECCOMP_PROFILE_H
#define CUBE_WORKER_SECCOMP_PROFILE_H

#include <stddef.h>
#include <stdint.h>

enum sc_match {
    SC_ALWAYS,       /* every call */
    SC_ARG0_FLAG,    /* only calls with `flag` set in argument 0 (clone, unshare) */
    SC_PERSONALITY,  /* only personality() values that set an unsafe flag */
};

struct sc_rule {
    const char *name;    /* syscall name as libseccomp knows it */
    enum sc_match match;
    uint64_t flag;       /* SC_ARG0_FLAG */
    int err;             /* errno the call fails with */
    const char *why;     /* one line per group, shown in docs and debug logs */
};

/* personality() flags a sandbox may not set: READ_IMPLIES_EXEC makes every readable
 * mapping executable (defeats NX), MMAP_PAGE_ZERO maps page 0 (helps NULL-deref kernel
 * exploits). ADDR_NO_RANDOMIZE stays allowed (gdb uses it). */
#define SC_PERSONALITY_UNSAFE (0x0400000ULL | 0x0100000ULL)
#define SC_PERSONALITY_QUERY 0xffffffffULL

/* The table, and its length. */
extern const struct sc_rule sc_profile[];
extern const size_t sc_profile_len;

/* First rule for a syscall name, NULL if the profile allows it unconditionally. */
const struct sc_rule *seccomp_profile_find(const char *name);

/* Would the profile deny this call (pure evaluation of the table, same semantics as
 * the generated filter)? Returns the errno, or 0 if allowed. */
int seccomp_profile_check(const char *name, uint64_t arg0);

/* Build the filter (a libseccomp scmp_filter_ctx, returned as void * so callers need
 * not include seccomp.h). Syscalls this libseccomp or architecture does not know are
 * skipped. NULL with err set on failure; free with seccomp_profile_free. */
void *seccomp_profile_build(char *err, int errlen);
void seccomp_profile_free(void *ctx);

/* Build and load into the calling process, WITHOUT setting no_new_privs (sudo inside
 * the sandbox needs setuid exec). The kernel then requires CAP_SYS_ADMIN in the
 * caller's user namespace: call this before dropping capabilities. 0 or -1 with err. */
int seccomp_profile_load(char *err, int errlen);

#endif
