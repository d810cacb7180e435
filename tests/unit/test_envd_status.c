/* wait(2) statuses described as Go's os.ProcessState does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "process_status.h"

/* Build raw wait statuses the way Linux encodes them. */
#define EXITED(code) (((code)&0xff) << 8)
#define SIGNALED(sig) ((sig)&0x7f)
#define CORED(sig) (((sig)&0x7f) | 0x80)

static void check(int ws, const char *want, int code, int exited, int success)
{
    struct process_exit ex;
    char buf[96];

    process_describe_status(ws, &ex, buf, sizeof(buf));
    assert_string_equal(buf, want);
    assert_int_equal(ex.exit_code, code);
    assert_int_equal(ex.exited, exited);
    assert_int_equal(ex.success, success);
}

static void test_exits(void **state)
{
    (void)state;
    check(EXITED(0), "exit status 0", 0, 1, 1);
    check(EXITED(1), "exit status 1", 1, 1, 0);
    check(EXITED(127), "exit status 127", 127, 1, 0);
    check(EXITED(255), "exit status 255", 255, 1, 0);
}

static void test_signals(void **state)
{
    (void)state;
    check(SIGNALED(9), "signal: killed", -1, 0, 0);
    check(SIGNALED(15), "signal: terminated", -1, 0, 0);
    check(SIGNALED(2), "signal: interrupt", -1, 0, 0);
    check(SIGNALED(13), "signal: broken pipe", -1, 0, 0);
    check(CORED(11), "signal: segmentation fault (core dumped)", -1, 0, 0);
    check(CORED(6), "signal: aborted (core dumped)", -1, 0, 0);
    check(SIGNALED(40), "signal: signal 40", -1, 0, 0);
}

static void test_names_and_truncation(void **state)
{
    struct process_exit ex;
    char buf[8], tmp[16];

    (void)state;
    assert_string_equal(process_signal_name(1, tmp, sizeof(tmp)), "hangup");
    assert_string_equal(process_signal_name(31, tmp, sizeof(tmp)), "bad system call");
    assert_string_equal(process_signal_name(0, tmp, sizeof(tmp)), "signal 0");
    assert_string_equal(process_signal_name(64, tmp, sizeof(tmp)), "signal 64");
    process_describe_status(CORED(11), &ex, buf, sizeof(buf));
    assert_int_equal(strlen(buf), sizeof(buf) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exits),
        cmocka_unit_test(test_signals),
        cmocka_unit_test(test_names_and_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
