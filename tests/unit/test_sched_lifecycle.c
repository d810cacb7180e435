/* cube-scheduler's lifecycle decision: kill at the end, pause an idle auto-pause
 * sandbox, move the end of one with recent routed traffic, never touch a paused one,
 * never act on a damaged end time, drop index entries without a record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lifecycle_rule.h"

/* 2026-11-23T12:00:00Z */
#define NOW 1795435200000LL
#define END_PAST "2026-11-23T11:59:59.000Z"
#define END_NOW "2026-11-23T12:00:00.000Z"
#define END_FUTURE "2026-11-23T12:00:01.000Z"

static enum lc_action decide(const char *end_at, const char *state,
                             const char *auto_pause, const char *last, const char *tmo,
                             int64_t *new_end)
{
    struct lc_record r = {end_at, state, auto_pause, last, tmo};

    return lifecycle_decide(&r, NOW, new_end);
}

static void test_not_due(void **state)
{
    int64_t e;

    (void)state;
    assert_int_equal(decide(END_FUTURE, "running", "0", NULL, NULL, &e), LC_NONE);
    assert_int_equal(decide(END_FUTURE, "running", "1", NULL, "60", &e), LC_NONE);
    /* A paused sandbox keeps no clock, whatever its end time says. */
    assert_int_equal(decide(END_PAST, "paused", "0", NULL, NULL, &e), LC_NONE);
    assert_int_equal(decide(END_PAST, "paused", "1", NULL, "60", &e), LC_NONE);
}

static void test_kill_at_end(void **state)
{
    int64_t e = 7;

    (void)state;
    assert_int_equal(decide(END_PAST, "running", "0", NULL, NULL, &e), LC_KILL);
    assert_int_equal(e, 0);
    /* The end itself is due (≤ 1 s granularity comes from the sweep interval). */
    assert_int_equal(decide(END_NOW, "running", NULL, NULL, NULL, &e), LC_KILL);
    /* Traffic does not extend a sandbox without autoPause (E2B: a hard lifetime). */
    assert_int_equal(decide(END_PAST, "running", "0", "1795435199000", "60", &e),
                     LC_KILL);
}

static void test_auto_pause(void **state)
{
    int64_t e;

    (void)state;
    /* Never routed: pause at the end. */
    assert_int_equal(decide(END_PAST, "running", "1", NULL, "60", &e), LC_PAUSE);
    /* Last traffic 61 s ago with a 60 s window: idle long enough. */
    assert_int_equal(decide(END_PAST, "running", "1", "1795435139000", "60", &e),
                     LC_PAUSE);
    /* Exactly at the window's end: idle. */
    assert_int_equal(decide(END_PAST, "running", "1", "1795435140000", "60", &e),
                     LC_PAUSE);
    /* Traffic 10 s ago: the end moves to that traffic + 60 s. */
    assert_int_equal(decide(END_PAST, "running", "1", "1795435190000", "60", &e),
                     LC_EXTEND);
    assert_int_equal(e, 1795435190000LL + 60000);
    /* No window known (record from before timeout_s): pause, never extend forever. */
    assert_int_equal(decide(END_PAST, "running", "1", "1795435190000", NULL, &e),
                     LC_PAUSE);
}

static void test_damaged_fields(void **state)
{
    int64_t e;

    (void)state;
    /* An unreadable end time is not "due": a user's sandbox is not killed on it. */
    assert_int_equal(decide("yesterday", "running", "0", NULL, NULL, &e), LC_NONE);
    assert_int_equal(decide("", "running", "0", NULL, NULL, &e), LC_NONE);
    assert_int_equal(decide(NULL, "running", "0", NULL, NULL, &e), LC_NONE);
    /* Damaged activity or window fields count as unknown: pause at the end. */
    assert_int_equal(decide(END_PAST, "running", "1", "12x", "60", &e), LC_PAUSE);
    assert_int_equal(decide(END_PAST, "running", "1", "1795435190000", "-5", &e),
                     LC_PAUSE);
    assert_int_equal(decide(END_PAST, "running", "1", "1795435190000", "99999999999", &e),
                     LC_PAUSE);
}

static void test_missing_record(void **state)
{
    int64_t e;

    (void)state;
    assert_int_equal(decide(NULL, NULL, NULL, NULL, NULL, &e), LC_DROP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_due),        cmocka_unit_test(test_kill_at_end),
        cmocka_unit_test(test_auto_pause),     cmocka_unit_test(test_damaged_fields),
        cmocka_unit_test(test_missing_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
