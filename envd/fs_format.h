/* Pure formatting for filesystem.Filesystem EntryInfo messages: Go's
 * FileMode.String() permissions, protobuf Timestamp JSON, and the FileType
 * enum names. No system calls: unit tested. */
#ifndef ENVD_FS_FORMAT_H
#define ENVD_FS_FORMAT_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

enum fs_file_type {
    FS_TYPE_UNSPECIFIED = 0,
    FS_TYPE_FILE = 1,
    FS_TYPE_DIRECTORY = 2,
    FS_TYPE_SYMLINK = 3,
};

/* Longest Go mode string: 12 type letters + 9 permission letters. */
#define FS_PERM_STRING_MAX 22

/* Go's os.FileMode(st_mode).String(): the type/attribute letters Go would set
 * ("d", "L", "D", "p", "S", "u", "g", "c", "t" in Go's order), "-" when there
 * are none, then "rwxrwxrwx" with "-" for absent bits. */
void fs_perm_string(mode_t mode, char out[FS_PERM_STRING_MAX]);

/* proto3 JSON Timestamp: RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits
 * (the fewest that are exact), e.g. "2026-08-21T10:00:00.123456789Z". Returns
 * 0, or -1 if the time cannot be represented. out needs 40 bytes. */
int fs_format_timestamp(const struct timespec *ts, char *out, size_t outlen);

/* "FILE_TYPE_FILE" etc. */
const char *fs_file_type_name(enum fs_file_type t);

#endif
