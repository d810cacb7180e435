/* EntryInfo formatting: Go FileMode.String() strings and proto3 Timestamps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fs_format.h"

static const char *perm(mode_t m)
{
    static char buf[FS_PERM_STRING_MAX];
    fs_perm_string(m, buf);
    return buf;
}

static void test_perm_strings(void **state)
{
    (void)state;
    assert_string_equal(perm(S_IFREG | 0644), "-rw-r--r--");
    assert_string_equal(perm(S_IFDIR | 0755), "drwxr-xr-x");
    assert_string_equal(perm(S_IFLNK | 0777), "Lrwxrwxrwx");
    assert_string_equal(perm(S_IFREG | 0), "----------");
    assert_string_equal(perm(S_IFDIR | S_ISVTX | 0777), "dtrwxrwxrwx");
    assert_string_equal(perm(S_IFCHR | 0666), "Dcrw-rw-rw-");
    assert_string_equal(perm(S_IFBLK | 0660), "Drw-rw----");
    assert_string_equal(perm(S_IFIFO | 0600), "prw-------");
    assert_string_equal(perm(S_IFSOCK | 0755), "Srwxr-xr-x");
    assert_string_equal(perm(S_IFREG | S_ISUID | S_ISGID | 0755), "ugrwxr-xr-x");
    assert_string_equal(perm(S_IFDIR | S_ISGID | 02775), "dgrwxrwxr-x");
}

static const char *ts(time_t s, long ns)
{
    static char buf[64];
    struct timespec t = {.tv_sec = s, .tv_nsec = ns};
    if (fs_format_timestamp(&t, buf, sizeof(buf)) != 0)
        return "ERR";
    return buf;
}

static void test_timestamps(void **state)
{
    (void)state;
    assert_string_equal(ts(1787306400, 123456789), "2026-08-21T10:00:00.123456789Z");
    assert_string_equal(ts(1787306400, 0), "2026-08-21T10:00:00Z");
    assert_string_equal(ts(1787306400, 120000000), "2026-08-21T10:00:00.120Z");
    assert_string_equal(ts(1787306400, 123456000), "2026-08-21T10:00:00.123456Z");
    assert_string_equal(ts(0, 1), "1970-01-01T00:00:00.000000001Z");
    assert_string_equal(ts(0, 1000000000), "ERR");
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(fs_file_type_name(FS_TYPE_FILE), "FILE_TYPE_FILE");
    assert_string_equal(fs_file_type_name(FS_TYPE_DIRECTORY), "FILE_TYPE_DIRECTORY");
    assert_string_equal(fs_file_type_name(FS_TYPE_SYMLINK), "FILE_TYPE_SYMLINK");
    assert_string_equal(fs_file_type_name(FS_TYPE_UNSPECIFIED), "FILE_TYPE_UNSPECIFIED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perm_strings),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
