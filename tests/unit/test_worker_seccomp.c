/* cube-worker seccomp profile: the table (names resolve, lookups, the pure evaluator)
 * and the real filter, loaded in a forked child, against the kernel. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <seccomp.h>

#include "seccomp_profile.h"

static void test_table_sane(void **state)
{
    size_t i, j;
    int nr;

    (void)state;
    assert_true(sc_profile_len > 30);
    for (i = 0; i < sc_profile_len; i++) {
        const struct sc_rule *r = &sc_profile[i];

        assert_non_null(r->why);
        assert_true(strlen(r->why) > 10);
        assert_true(r->err == EPERM || r->err == ENOSYS);
        for (j = 0; j < i; j++)
            assert_string_not_equal(r->name, sc_profile[j].name);
        nr = seccomp_syscall_resolve_name(r->name);
        /* Every name is known to libseccomp; on x86_64 all but stime (i386 only, a
         * negative pseudo number) are real syscalls. */
        assert_int_not_equal(nr, __NR_SCMP_ERROR);
#ifdef __x86_64__
        if (strcmp(r->name, "stime") != 0)
            assert_true(nr >= 0);
#endif
    }
}

static void test_find(void **state)
{
    const char *allowed[] = {"ptrace", "process_vm_readv", "execve", "capset", "prctl",
                             "read", "chroot", "mknodat", "seccomp", NULL};
    const char *denied[] = {"init_module", "finit_module", "delete_module", "kexec_load",
                            "kexec_file_load", "bpf", "perf_event_open", "keyctl",
                            "add_key", "request_key", "open_by_handle_at",
                            "name_to_handle_at", "userfaultfd", "clock_settime",
                            "clock_adjtime", "settimeofday", "adjtimex", "stime",
                            "reboot", "swapon", "swapoff", "acct", "quotactl",
                            "lookup_dcookie", "iopl", "ioperm", "fsopen", "fsconfig",
                            "fsmount", "fspick", "move_mount", "open_tree", "mount",
                            "umount2", "pivot_root", "setns", NULL};
    const struct sc_rule *r;
    int i;

    (void)state;
    for (i = 0; allowed[i]; i++)
        assert_null(seccomp_profile_find(allowed[i]));
    for (i = 0; denied[i]; i++) {
        r = seccomp_profile_find(denied[i]);
        assert_non_null(r);
        assert_int_equal(r->match, SC_ALWAYS);
        assert_int_equal(r->err, EPERM);
    }
    r = seccomp_profile_find("clone3");
    assert_non_null(r);
    assert_int_equal(r->err, ENOSYS);
    assert_int_equal(seccomp_profile_find("unshare")->match, SC_ARG0_FLAG);
    assert_int_equal(seccomp_profile_find("clone")->match, SC_ARG0_FLAG);
}

static void test_check(void **state)
{
    (void)state;
    assert_int_equal(seccomp_profile_check("bpf", 0), EPERM);
    assert_int_equal(seccomp_profile_check("read", 0), 0);
    assert_int_equal(seccomp_profile_check("clone3", 0), ENOSYS);
    assert_int_equal(seccomp_profile_check("unshare", CLONE_NEWUSER), EPERM);
    assert_int_equal(seccomp_profile_check("unshare", CLONE_NEWUSER | CLONE_NEWNS), EPERM);
    assert_int_equal(seccomp_profile_check("unshare", CLONE_NEWNS | CLONE_NEWNET), 0);
    assert_int_equal(seccomp_profile_check("clone", SIGCHLD), 0);
    assert_int_equal(seccomp_profile_check("clone", CLONE_VM | CLONE_THREAD), 0);
    assert_int_equal(seccomp_profile_check("clone", CLONE_NEWUSER | SIGCHLD), EPERM);
    assert_int_equal(seccomp_profile_check("personality", 0xffffffffULL), 0);
    assert_int_equal(seccomp_profile_check("personality", 0), 0);
    assert_int_equal(seccomp_profile_check("personality", 0x0040000), 0); /* no ASLR */
    assert_int_equal(seccomp_profile_check("personality", 0x0008), 0);    /* LINUX32 */
    assert_int_equal(seccomp_profile_check("personality", 0x0400000), EPERM);
    assert_int_equal(seccomp_profile_check("personality", 0x0100000), EPERM);
    assert_int_equal(seccomp_profile_check("personality", 0x100400000ULL), EPERM);
    assert_int_equal(seccomp_profile_check("personality", 0x80000000ULL), EPERM);
    assert_int_equal(seccomp_profile_check("personality", 0x1ffffffffULL), 0);
}

static void test_build(void **state)
{
    char err[256];
    uint32_t v = 1;
    void *ctx;
    FILE *f;

    (void)state;
    ctx = seccomp_profile_build(err, sizeof(err));
    assert_non_null(ctx);
    assert_int_equal(seccomp_attr_get(ctx, SCMP_FLTATR_CTL_NNP, &v), 0);
    assert_int_equal(v, 0); /* no_new_privs stays off: sudo inside must work */
    assert_int_equal(seccomp_attr_get(ctx, SCMP_FLTATR_ACT_BADARCH, &v), 0);
    assert_true(v == SCMP_ACT_KILL_PROCESS);
    f = fopen("/dev/null", "w");
    assert_non_null(f);
    assert_int_equal(seccomp_export_bpf(ctx, fileno(f)), 0);
    fclose(f);
    seccomp_profile_free(ctx);
}

static int thread_token;

static void *thread_fn(void *arg)
{
    return arg;
}

/* In the child: 0 when the kernel's answer matches what the table says. */
static int probe(const char *name, long nr, long a0, long a1, long a2)
{
    long r;
    int want = seccomp_profile_check(name, (uint64_t)a0), got;

    errno = 0;
    r = syscall(nr, a0, a1, a2, 0L, 0L);
    if (r == 0 && nr == SYS_clone)
        _exit(0); /* a clone that was not refused: the copy leaves at once */
    got = r < 0 ? errno : 0;
    if (want) {
        if (r >= 0 || got != want) {
            fprintf(stderr, "%s: want errno %d, got r=%ld errno %d\n", name, want, r, got);
            return 1;
        }
    } else if (got == EPERM || got == ENOSYS) {
        fprintf(stderr, "%s: allowed by the table, but errno %d\n", name, got);
        return 1;
    }
    return 0;
}

static void test_filter_in_kernel(void **state)
{
    char err[256];
    pthread_t t;
    void *ret;
    int st, fails;
    pid_t pid, c;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* NNP here only so the test also runs unprivileged (the sandbox does not set
         * it, and has CAP_SYS_ADMIN in its userns instead). */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
            seccomp_profile_load(err, sizeof(err)) < 0)
            _exit(100);
        fails = 0;
        fails += probe("bpf", SYS_bpf, 0, 0, 0);
        fails += probe("keyctl", SYS_keyctl, 0, -3, 0);
        fails += probe("perf_event_open", SYS_perf_event_open, 0, 0, -1);
        fails += probe("userfaultfd", SYS_userfaultfd, 0, 0, 0);
        fails += probe("init_module", SYS_init_module, 0, 0, 0);
        fails += probe("open_by_handle_at", SYS_open_by_handle_at, -1, 0, 0);
        fails += probe("unshare", SYS_unshare, CLONE_NEWUSER, 0, 0);
        fails += probe("clone", SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0);
        fails += probe("clone3", SYS_clone3, 0, 0, 0);
        fails += probe("personality", SYS_personality, 0xffffffffL, 0, 0);
        fails += probe("personality", SYS_personality, 0x0400000, 0, 0);
        fails += probe("personality", SYS_personality, 0x100400000L, 0, 0);
        fails += probe("personality", SYS_personality, 0x80000000L, 0, 0);
        fails += probe("personality", SYS_personality, 0x0040000, 0, 0);
        fails += probe("getpid", SYS_getpid, 0, 0, 0);
        /* Ordinary process and thread creation still work (glibc falls back from
         * clone3 to clone on ENOSYS). */
        c = fork();
        if (c == 0)
            _exit(7);
        if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 7)
            fails++;
        if (pthread_create(&t, NULL, thread_fn, &thread_token) != 0 ||
            pthread_join(t, &ret) != 0 || ret != (void *)&thread_token)
            fails++;
        _exit(fails);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_sane),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_filter_in_kernel),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
