#include "cube_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static const char *log_program = "cube";
static enum cube_log_level log_min = CUBE_LOG_INFO;

void cube_log_init(const char *program, enum cube_log_level min_level)
{
    log_program = program;
    log_min = min_level;
}

void cube_log(enum cube_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char ts[32], line[2048];
    struct timespec now;
    struct tm tm;
    va_list ap;
    int n;

    if (level < log_min)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(line, sizeof(line), "%s.%03ldZ %s[%d] %s: ", ts, now.tv_nsec / 1000000,
                 log_program, (int)getpid(), names[level]);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so concurrent writers do not interleave. */
    fprintf(stderr, "%s\n", line);
}
