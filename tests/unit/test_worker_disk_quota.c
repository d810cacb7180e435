/* cube-worker writable-layer limits: option values, sizes, image paths, mke2fs
 * reserve, and that a host that cannot limit is refused in "required" mode only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "disk_quota.h"

static void test_modes(void **state)
{
    (void)state;
    assert_int_equal(disk_quota_parse_mode("required"), DISK_QUOTA_REQUIRED);
    assert_int_equal(disk_quota_parse_mode("auto"), DISK_QUOTA_AUTO);
    assert_int_equal(disk_quota_parse_mode("off"), DISK_QUOTA_OFF);
    assert_int_equal(disk_quota_parse_mode(""), -1);
    assert_int_equal(disk_quota_parse_mode("Required"), -1);
    assert_int_equal(disk_quota_parse_mode("on"), -1);
    assert_int_equal(disk_quota_parse_mode("auto "), -1);
    assert_string_equal(disk_quota_mode_name(DISK_QUOTA_REQUIRED), "required");
    assert_string_equal(disk_quota_mode_name(DISK_QUOTA_AUTO), "auto");
    assert_string_equal(disk_quota_mode_name(DISK_QUOTA_OFF), "off");
    assert_string_equal(disk_quota_mode_name(7), "?");
}

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(disk_quota_size_mb(0), DISK_QUOTA_DEFAULT_MB);
    assert_int_equal(DISK_QUOTA_DEFAULT_MB, 1024);
    assert_int_equal(disk_quota_size_mb(2048), 2048);
    assert_int_equal(disk_quota_size_mb(DISK_QUOTA_MIN_MB), DISK_QUOTA_MIN_MB);
    assert_int_equal(disk_quota_size_mb(DISK_QUOTA_MIN_MB - 1), -1);
    assert_int_equal(disk_quota_size_mb(1), -1);
    assert_int_equal(disk_quota_size_mb(-5), -1);
}

static void test_image_path(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(
        disk_quota_image_path("/var/lib/cube/sandboxes/iabc", out, sizeof(out)), 0);
    assert_string_equal(out, "/var/lib/cube/sandboxes/iabc.img");
    /* exactly fits: 4 + ".img" + NUL = 9 */
    assert_int_equal(disk_quota_image_path("/a/b", out, 9), 0);
    assert_string_equal(out, "/a/b.img");
    assert_int_equal(disk_quota_image_path("/a/b", out, 8), -1);
}

static void test_reserve(void **state)
{
    char out[16];

    (void)state;
    /* 2 MiB of 1 GiB */
    assert_int_equal(disk_quota_reserve_pct(1024, out, sizeof(out)), 0);
    assert_string_equal(out, "0.1953");
    assert_int_equal(disk_quota_reserve_pct(16, out, sizeof(out)), 0);
    assert_string_equal(out, "12.5000");
    /* mke2fs accepts at most 50 % */
    assert_int_equal(disk_quota_reserve_pct(1, out, sizeof(out)), 0);
    assert_string_equal(out, "50.0000");
    assert_int_equal(disk_quota_reserve_pct(0, out, sizeof(out)), -1);
    assert_int_equal(disk_quota_reserve_pct(1024, out, 4), -1);
}

/* A sandboxes dir that cannot hold an image: "required" refuses with a reason, "auto"
 * runs without limits, "off" does not even look. */
static void test_init_modes(void **state)
{
    const char *bad = "/nonexistent-cube-test-dir/sandboxes";
    char err[256] = "";

    (void)state;
    assert_int_equal(disk_quota_init(bad, DISK_QUOTA_REQUIRED, err, sizeof(err)), -1);
    assert_true(strlen(err) > 0);
    assert_int_equal(disk_quota_enforced(), 0);
    assert_int_equal(disk_quota_init(bad, DISK_QUOTA_AUTO, err, sizeof(err)), 0);
    assert_int_equal(disk_quota_enforced(), 0);
    assert_int_equal(disk_quota_init(bad, DISK_QUOTA_OFF, err, sizeof(err)), 0);
    assert_int_equal(disk_quota_enforced(), 0);
    /* Not enforcing: apply leaves the directory alone and succeeds. */
    assert_int_equal(
        disk_quota_apply("/nonexistent-cube-test-dir/x", 1, err, sizeof(err)), 0);
    /* Release of something that was never mounted or created is harmless. */
    disk_quota_release("/nonexistent-cube-test-dir/x");
    assert_int_equal(access("/nonexistent-cube-test-dir", F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes),      cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_image_path), cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_init_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
