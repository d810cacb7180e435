/* Small file, directory, process helpers shared by the worker's modules. Everything
 * here is synchronous and meant for small files (cgroup knobs, state.json, /proc). */
#ifndef CUBE_WORKER_UTIL_H
#define CUBE_WORKER_UTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Write data to an existing file (cgroup and /proc knobs: no O_CREAT, no O_TRUNC, one
 * write(2) so the kernel sees the whole value at once). 0 or -1 with errno. */
int util_write_knob(const char *path, const char *data);

/* Create or replace path with data: write path.tmp, (fsync if durable), rename (not
 * durable: exchange, then unlink the old). Readers never see a half-written file, and a
 * crash of the process leaves either the old or the new contents; durable extends that
 * to a power cut. */
int util_write_atomic(const char *path, const char *data, size_t len, mode_t mode,
                      int durable);

/* Read a whole (small) file, NUL-terminated; NULL on error or if longer than max.
 * Caller frees. */
char *util_read_file(const char *path, size_t max, size_t *len_out);

/* mkdir -p; existing directories are fine. */
int util_mkdir_p(const char *path, mode_t mode);

/* rm -rf that does not cross mount points and does not follow symlinks. Missing path
 * is success. */
int util_rm_rf(const char *path);

/* Run argv[0] (absolute path) with stdin fed from stdin_data (may be NULL) and wait.
 * stderr is captured and logged on failure. Returns the exit status (0 = success) or
 * -1 if it could not be run. */
int util_run(char *const argv[], const char *stdin_data);

/* Field 22 of /proc/<pid>/stat (start time in clock ticks since boot): together with
 * the pid it names a process unambiguously across pid reuse. 0 or -1. */
int util_proc_start_time(pid_t pid, unsigned long long *out);

/* snprintf that reports truncation: 0 when the whole string fit, -1 otherwise. */
int util_fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
