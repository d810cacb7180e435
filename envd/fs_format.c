/* EntryInfo formatting. See fs_format.h. */
#include "fs_format.h"

#include <stdio.h>
#include <sys/stat.h>

void fs_perm_string(mode_t mode, char out[FS_PERM_STRING_MAX])
{
    static const char rwx[] = "rwxrwxrwx";
    size_t o = 0;

    /* Go's letters are "dalTLDpSugct?" in that order; a, l, T and ? have no
     * stat(2) counterpart on Linux. A character device is Device+CharDevice
     * in Go, hence both "D" and "c". */
    if (S_ISDIR(mode))
        out[o++] = 'd';
    if (S_ISLNK(mode))
        out[o++] = 'L';
    if (S_ISBLK(mode) || S_ISCHR(mode))
        out[o++] = 'D';
    if (S_ISFIFO(mode))
        out[o++] = 'p';
    if (S_ISSOCK(mode))
        out[o++] = 'S';
    if (mode & S_ISUID)
        out[o++] = 'u';
    if (mode & S_ISGID)
        out[o++] = 'g';
    if (S_ISCHR(mode))
        out[o++] = 'c';
    if (mode & S_ISVTX)
        out[o++] = 't';
    if (o == 0)
        out[o++] = '-';
    for (int i = 0; i < 9; i++)
        out[o++] = (char)((mode & (1u << (8 - i))) ? rwx[i] : '-'); /* a char either way */
    out[o] = '\0';
}

int fs_format_timestamp(const struct timespec *ts, char *out, size_t outlen)
{
    struct tm tm;
    time_t t = ts->tv_sec;
    long ns = ts->tv_nsec;
    size_t n;

    if (ns < 0 || ns > 999999999 || !gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1 ||
        tm.tm_year + 1900 > 9999)
        return -1;
    n = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0)
        return -1;
    if (ns == 0)
        snprintf(out + n, outlen - n, "Z");
    else if (ns % 1000000 == 0)
        snprintf(out + n, outlen - n, ".%03ldZ", ns / 1000000);
    else if (ns % 1000 == 0)
        snprintf(out + n, outlen - n, ".%06ldZ", ns / 1000);
    else
        snprintf(out + n, outlen - n, ".%09ldZ", ns);
    return 0;
}

const char *fs_file_type_name(enum fs_file_type t)
{
    switch (t) {
    case FS_TYPE_FILE:
        return "FILE_TYPE_FILE";
    case FS_TYPE_DIRECTORY:
        return "FILE_TYPE_DIRECTORY";
    case FS_TYPE_SYMLINK:
        return "FILE_TYPE_SYMLINK";
    default:
        return "FILE_TYPE_UNSPECIFIED";
    }
}
