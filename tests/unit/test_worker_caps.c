/* cube-worker sandbox capability set: the mask, what gets dropped, and (as root, in a
 * forked child) that caps_apply leaves exactly that set in /proc/self/status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/capability.h>

#include "caps.h"

#define DOCKER_DEFAULT 0x00000000a80425fbULL

static void test_mask_is_docker_default(void **state)
{
    uint64_t m = caps_sandbox_mask();

    (void)state;
    assert_true(m == DOCKER_DEFAULT);
    /* What cube-envd and sudo need. */
    assert_true(m & (1ULL << CAP_SETUID));
    assert_true(m & (1ULL << CAP_SETGID));
    assert_true(m & (1ULL << CAP_CHOWN));
    assert_true(m & (1ULL << CAP_DAC_OVERRIDE));
    assert_true(m & (1ULL << CAP_FOWNER));
    assert_true(m & (1ULL << CAP_KILL));
    /* What must be gone. */
    assert_false(m & (1ULL << CAP_SYS_ADMIN));
    assert_false(m & (1ULL << CAP_NET_ADMIN));
    assert_false(m & (1ULL << CAP_SYS_PTRACE));
    assert_false(m & (1ULL << CAP_SYS_MODULE));
    assert_false(m & (1ULL << CAP_SYS_TIME));
    assert_false(m & (1ULL << CAP_SYS_BOOT));
    assert_false(m & (1ULL << CAP_DAC_READ_SEARCH));
    assert_false(m & (1ULL << CAP_BPF));
    assert_false(m & (1ULL << CAP_PERFMON));
}

static void test_table_sane(void **state)
{
    int i, j;

    (void)state;
    assert_int_equal(caps_sandbox_set_len, 14);
    for (i = 0; i < caps_sandbox_set_len; i++) {
        assert_true(caps_sandbox_set[i].num >= 0 && caps_sandbox_set[i].num < 64);
        assert_non_null(caps_sandbox_set[i].name);
        for (j = 0; j < i; j++)
            assert_int_not_equal(caps_sandbox_set[i].num, caps_sandbox_set[j].num);
    }
}

static void test_drop_mask(void **state)
{
    uint64_t keep = caps_sandbox_mask(), d;

    (void)state;
    d = caps_drop_mask(keep, 40);
    assert_true(d == (((1ULL << 41) - 1) & ~keep));
    assert_true(d & (1ULL << CAP_SYS_ADMIN));
    assert_true(d & (1ULL << 40)); /* CAP_CHECKPOINT_RESTORE */
    assert_false(d & (1ULL << 41));
    assert_false(d & (1ULL << CAP_CHOWN));
    assert_true(caps_drop_mask(keep, 63) == ~keep);
    assert_true(caps_drop_mask(keep, -1) == 0);
    assert_true(caps_drop_mask(0, 0) == 1);
    assert_true(caps_drop_mask(~0ULL, 40) == 0);
}

static void test_format(void **state)
{
    char s[17];

    (void)state;
    caps_format(caps_sandbox_mask(), s);
    assert_string_equal(s, "00000000a80425fb");
    caps_format(0, s);
    assert_string_equal(s, "0000000000000000");
}

static void test_last_cap(void **state)
{
    (void)state;
    /* Every kernel this runs on knows at least CAP_AUDIT_READ (37). */
    assert_true(caps_last_cap() >= 37 && caps_last_cap() < 64);
}

/* The line "<key>:\t<hex>" of /proc/self/status. */
static uint64_t status_hex(const char *key)
{
    char line[256];
    size_t n = strlen(key);
    unsigned long long v = ~0ULL;
    FILE *f = fopen("/proc/self/status", "r");

    if (!f)
        return ~0ULL;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, n) == 0 && line[n] == ':')
            v = strtoull(line + n + 1, NULL, 16);
    fclose(f);
    return v;
}

static void test_apply_as_root(void **state)
{
    char err[256];
    int st;
    pid_t pid;

    (void)state;
    if (geteuid() != 0)
        skip();
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        uint64_t keep = caps_sandbox_mask();

        if (caps_apply(keep, err, sizeof(err)) < 0)
            _exit(10);
        if (status_hex("CapBnd") != keep)
            _exit(11);
        if (status_hex("CapEff") != keep || status_hex("CapPrm") != keep)
            _exit(12);
        if (status_hex("CapInh") != 0 || status_hex("CapAmb") != 0)
            _exit(13);
        /* Dropped for good: a dropped bounding cap cannot be dropped "again" into
         * existence, and capset cannot raise above the new permitted set. */
        if (caps_apply(~0ULL, err, sizeof(err)) < 0 || status_hex("CapEff") != keep)
            _exit(14);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_is_docker_default),
        cmocka_unit_test(test_table_sane),
        cmocka_unit_test(test_drop_mask),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_last_cap),
        cmocka_unit_test(test_apply_as_root),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
