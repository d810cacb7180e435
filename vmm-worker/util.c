#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cube_log.h"

extern char **environ;

int util_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

int util_write_knob(const char *path, const char *data)
{
    size_t len = strlen(data);
    ssize_t n;
    int fd, saved;

    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    do {
        n = write(fd, data, len);
    } while (n < 0 && errno == EINTR);
    saved = errno;
    close(fd);
    if (n < 0 || (size_t)n != len) {
        errno = n < 0 ? saved : EIO;
        return -1;
    }
    return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int util_write_atomic(const char *path, const char *data, size_t len, mode_t mode,
                      int durable)
{
    char tmp[4096];
    int fd, saved;

    if (util_fmt(tmp, sizeof(tmp), "%s.tmp", path) < 0)
        return -1;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -1;
    /* fsync before rename: otherwise a power cut can leave a renamed empty file. */
    if (write_all(fd, data, len) < 0 || (durable && fsync(fd) < 0)) {
        saved = errno;
        close(fd);
        unlink(tmp);
        errno = saved;
        return -1;
    }
    close(fd);
    /* Not durable: swap the two names instead of renaming over the old file. That is as
     * atomic for readers, and skips ext4's auto_da_alloc, which starts writeback of the
     * new file on every rename over an existing one (0.1 ms idle, over 1 ms with the
     * spawners writing: most of a warm claim). The old text left under tmp goes. */
    if (!durable && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) == 0) {
        unlink(tmp);
        return 0;
    }
    if (rename(tmp, path) < 0) {
        saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    return 0;
}

char *util_read_file(const char *path, size_t max, size_t *len_out)
{
    size_t cap = 4096, len = 0;
    char *buf;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    buf = malloc(cap + 1);
    if (!buf)
        goto fail;
    for (;;) {
        ssize_t n;
        if (len == cap) {
            char *nb;
            if (cap >= max) {
                errno = EFBIG;
                goto fail;
            }
            cap *= 2;
            nb = realloc(buf, cap + 1);
            if (!nb)
                goto fail;
            buf = nb;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        errno = EFBIG;
        goto fail;
    }
    close(fd);
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

int util_mkdir_p(const char *path, mode_t mode)
{
    char buf[4096];
    char *p;

    if (util_fmt(buf, sizeof(buf), "%s", path) < 0)
        return -1;
    for (p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP) {
        if (rmdir(path) < 0 && errno != ENOENT)
            log_warn("rmdir %s: %s", path, strerror(errno));
    } else if (unlink(path) < 0 && errno != ENOENT) {
        log_warn("unlink %s: %s", path, strerror(errno));
    }
    return 0;
}

int util_rm_rf(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    /* The sandbox's upper layer holds directories created with mode 000 (overlay's
     * work dir, or by the sandbox user); root removes them regardless of mode.
     * FTW_MOUNT: never descend into something mounted on top (belt and braces, the
     * sandbox's mounts live in its own mount namespace). */
    nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    if (lstat(path, &st) == 0) {
        errno = ENOTEMPTY;
        return -1;
    }
    return 0;
}

int util_run(char *const argv[], const char *stdin_data)
{
    posix_spawn_file_actions_t fa;
    int in[2] = {-1, -1}, err[2] = {-1, -1};
    char errbuf[1024];
    size_t errlen = 0;
    pid_t pid;
    int status, rc;

    if (pipe2(in, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(err, O_CLOEXEC) < 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(err[1]);
    if (rc != 0) {
        close(in[1]);
        close(err[0]);
        errno = rc;
        log_error("spawn %s: %s", argv[0], strerror(rc));
        return -1;
    }
    /* Batches are far below the pipe capacity, so writing everything before reading
     * stderr cannot deadlock. */
    if (stdin_data && write_all(in[1], stdin_data, strlen(stdin_data)) < 0)
        log_warn("write to %s: %s", argv[0], strerror(errno));
    close(in[1]);
    for (;;) {
        ssize_t n = read(err[0], errbuf + errlen, sizeof(errbuf) - 1 - errlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        errlen += (size_t)n;
        if (errlen == sizeof(errbuf) - 1) {
            char sink[512];
            while (read(err[0], sink, sizeof(sink)) > 0)
                ;
            break;
        }
    }
    close(err[0]);
    errbuf[errlen] = '\0';
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return -1;
    }
    rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (rc != 0) {
        while (errlen > 0 && errbuf[errlen - 1] == '\n')
            errbuf[--errlen] = '\0';
        log_debug("%s exited %d: %s", argv[0], rc, errbuf);
    }
    return rc;
}

int util_proc_start_time(pid_t pid, unsigned long long *out)
{
    char path[64], buf[1024], *p;
    ssize_t n;
    int fd, field;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* comm (field 2) may contain spaces and parens: fields resume after the LAST ')'. */
    p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    /* p points at " S ...": each space crossed starts the next field (3 = state).
     * Stop on the first character of field 22. */
    for (field = 2; field < 22 && *p; p++) {
        if (*p == ' ')
            field++;
    }
    if (field != 22)
        return -1;
    errno = 0;
    *out = strtoull(p, NULL, 10);
    return errno ? -1 : 0;
}
