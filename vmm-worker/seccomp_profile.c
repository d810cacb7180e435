/* The sandbox seccomp profile. Default: allow. The sandbox's root is only root of its
 * own user namespace with a Docker-like capability set (caps.h), so most of what is
 * denied here would fail anyway; the filter is the second wall, and it also covers
 * what capabilities cannot (creating a user namespace needs no capability at all).
 *
 * Deliberately allowed:
 *   ptrace, process_vm_readv/writev: gdb and strace inside the sandbox. Since Linux
 *     4.8 seccomp runs again after a tracer changes a syscall, so ptrace cannot be used
 *     to slip past this filter, and the pid namespace + user namespace keep the target
 *     set to the sandbox's own processes.
 *   chroot, mknod (in the cap set), personality without unsafe flags.
 *
 * Errors are EPERM ("you may not"), except clone3: its flags live in a struct that a
 * filter cannot read, so it fails with ENOSYS and glibc falls back to clone(2), whose
 * flags the filter does check. */
#include "seccomp_profile.h"

#include <errno.h>
#include <seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#define DENY(n, w) {n, SC_ALWAYS, 0, EPERM, w}
#define DENY_FLAG(n, f, w) {n, SC_ARG0_FLAG, f, EPERM, w}

#define W_MODULE "kernel code: loading, removing or replacing the host kernel"
#define W_BPF "in-kernel programs and host-wide tracing: large attack surface, host data"
#define W_KEYS "kernel keyrings are not namespaced"
#define W_HANDLE "open files by handle, bypassing the mount tree (\"shocker\" escape)"
#define W_UFFD "userfaultfd stalls kernel page faults at will: an exploit primitive"
#define W_CLOCK "the system clock is shared with the host"
#define W_HOST "host-wide state: reboot, swap, accounting, quotas, I/O ports, kernel log"
#define W_MOUNT "the filesystem is final once the filter is installed: no (new) mount API"
#define W_NS "no new user namespaces (they re-grant every capability inside) or setns"
#define W_URING "io_uring: a recurring source of kernel exploits; callers fall back"
#define W_PERS "personality: no READ_IMPLIES_EXEC / MMAP_PAGE_ZERO"

const struct sc_rule sc_profile[] = {
    DENY("init_module", W_MODULE),
    DENY("finit_module", W_MODULE),
    DENY("delete_module", W_MODULE),
    DENY("kexec_load", W_MODULE),
    DENY("kexec_file_load", W_MODULE),

    DENY("bpf", W_BPF),
    DENY("perf_event_open", W_BPF),
    DENY("lookup_dcookie", W_BPF),

    DENY("keyctl", W_KEYS),
    DENY("add_key", W_KEYS),
    DENY("request_key", W_KEYS),

    DENY("open_by_handle_at", W_HANDLE),
    DENY("name_to_handle_at", W_HANDLE),

    DENY("userfaultfd", W_UFFD),

    DENY("clock_settime", W_CLOCK),
    DENY("clock_adjtime", W_CLOCK),
    DENY("settimeofday", W_CLOCK),
    DENY("adjtimex", W_CLOCK),
    DENY("stime", W_CLOCK), /* i386 only; kept for completeness */

    DENY("reboot", W_HOST),
    DENY("swapon", W_HOST),
    DENY("swapoff", W_HOST),
    DENY("acct", W_HOST),
    DENY("quotactl", W_HOST),
    DENY("quotactl_fd", W_HOST),
    DENY("iopl", W_HOST),
    DENY("ioperm", W_HOST),
    DENY("syslog", W_HOST),

    DENY("mount", W_MOUNT),
    DENY("umount2", W_MOUNT),
    DENY("pivot_root", W_MOUNT),
    DENY("fsopen", W_MOUNT),
    DENY("fsconfig", W_MOUNT),
    DENY("fsmount", W_MOUNT),
    DENY("fspick", W_MOUNT),
    DENY("move_mount", W_MOUNT),
    DENY("open_tree", W_MOUNT),
    DENY("mount_setattr", W_MOUNT),

    DENY_FLAG("unshare", CLONE_NEWUSER, W_NS),
    DENY_FLAG("clone", CLONE_NEWUSER, W_NS),
    {"clone3", SC_ALWAYS, 0, ENOSYS, W_NS},
    DENY("setns", W_NS),

    DENY("io_uring_setup", W_URING),
    DENY("io_uring_enter", W_URING),
    DENY("io_uring_register", W_URING),

    {"personality", SC_PERSONALITY, 0, EPERM, W_PERS},
};
const size_t sc_profile_len = sizeof(sc_profile) / sizeof(sc_profile[0]);

const struct sc_rule *seccomp_profile_find(const char *name)
{
    size_t i;

    for (i = 0; i < sc_profile_len; i++)
        if (strcmp(sc_profile[i].name, name) == 0)
            return &sc_profile[i];
    return NULL;
}

/* personality() takes an unsigned int: the kernel ignores the upper 32 bits. Bit 31
 * is no flag; apart from the query (all ones) a value with it set is refused. */
static int personality_unsafe(uint64_t arg0)
{
    uint32_t p = (uint32_t)arg0;

    if (p == (uint32_t)SC_PERSONALITY_QUERY)
        return 0;
    return (p & (SC_PERSONALITY_UNSAFE | 0x80000000U)) != 0;
}

int seccomp_profile_check(const char *name, uint64_t arg0)
{
    const struct sc_rule *r = seccomp_profile_find(name);

    if (!r)
        return 0;
    switch (r->match) {
    case SC_ALWAYS:
        return r->err;
    case SC_ARG0_FLAG:
        return (arg0 & r->flag) ? r->err : 0;
    case SC_PERSONALITY:
        return personality_unsafe(arg0) ? r->err : 0;
    }
    return 0;
}

/* libseccomp cannot compare one argument twice in a rule, so "unsafe flag set and not
 * the 0xffffffff query" is spelled as: (a) an unsafe bit set with bit 31 clear, or
 * (b) bit 31 set together with some other bit clear (bit 31 is no personality flag:
 * such a value is either the query, all ones, or garbage, which is denied too). Only
 * the low 32 bits are inspected, as in the kernel. */
static int add_personality(scmp_filter_ctx ctx, int nr, int err)
{
    const uint64_t hi = 0x80000000ULL;
    uint64_t bit;
    int b, rc;

    for (b = 0; b < 31; b++) {
        bit = 1ULL << b;
        if (bit & SC_PERSONALITY_UNSAFE) {
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), nr, 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, bit | hi, bit));
            if (rc < 0)
                return rc;
        }
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), nr, 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, bit | hi, hi));
        if (rc < 0)
            return rc;
    }
    return 0;
}

void *seccomp_profile_build(char *err, int errlen)
{
    scmp_filter_ctx ctx;
    const struct sc_rule *r;
    size_t i;
    int nr, rc = 0;

    ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        snprintf(err, (size_t)errlen, "seccomp_init failed");
        return NULL;
    }
    /* Native ABI only: a 32-bit (int 0x80) or x32 syscall kills the whole process
     * (the i386 table is a second, differently numbered set of the same calls). */
    if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0 ||
        /* See seccomp_profile_load: no_new_privs must stay off. */
        (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0) {
        snprintf(err, (size_t)errlen, "seccomp attrs: %s", strerror(-rc));
        goto fail;
    }
    for (i = 0; i < sc_profile_len; i++) {
        r = &sc_profile[i];
        nr = seccomp_syscall_resolve_name(r->name);
        /* Unknown here (too old a libseccomp), or a pseudo number for a call this
         * architecture does not have (stime on x86_64): nothing to filter. */
        if (nr == __NR_SCMP_ERROR || nr < 0)
            continue;
        switch (r->match) {
        case SC_ALWAYS:
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(r->err), nr, 0);
            break;
        case SC_ARG0_FLAG:
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(r->err), nr, 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, r->flag, r->flag));
            break;
        case SC_PERSONALITY:
            rc = add_personality(ctx, nr, r->err);
            break;
        }
        if (rc < 0) {
            snprintf(err, (size_t)errlen, "seccomp rule for %s: %s", r->name,
                     strerror(-rc));
            goto fail;
        }
    }
    return ctx;
fail:
    seccomp_release(ctx);
    return NULL;
}

void seccomp_profile_free(void *ctx)
{
    if (ctx)
        seccomp_release(ctx);
}

/* Why no no_new_privs: sudo inside the sandbox must keep working for `user`, and NNP
 * would make the setuid bit of /usr/bin/sudo a no-op for every descendant. Without
 * NNP the kernel only lets a task install a filter if it has CAP_SYS_ADMIN in its
 * current user namespace (so that a filter cannot be used to confuse a setuid program
 * the task could not otherwise control). The sandbox's first process is root of the
 * sandbox's own user namespace and still holds CAP_SYS_ADMIN there at this point
 * (caps are reduced right after, see ns_spawn.c); the filter is inherited across
 * fork and exec, including setuid exec, and can never be removed. */
int seccomp_profile_load(char *err, int errlen)
{
    void *ctx = seccomp_profile_build(err, errlen);
    int rc;

    if (!ctx)
        return -1;
    rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc < 0) {
        snprintf(err, (size_t)errlen, "seccomp_load: %s", strerror(-rc));
        return -1;
    }
    return 0;
}
