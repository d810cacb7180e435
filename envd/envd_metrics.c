/* Sandbox metrics from /proc and, when the sandbox has its own cgroup (v2),
 * from the cgroup limits, which is what a sandbox's owner pays for rather than
 * the host's totals. See envd_metrics.h. */
#include "envd_metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* An unsigned number at s (leading white space skipped, as scanf's %u does);
 * *endp is set past it. -1 if there is none or it does not fit. */
static int parse_u64(const char *s, const char **endp, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (end == s || errno != 0)
        return -1;
    *out = (uint64_t)v;
    if (endp)
        *endp = end;
    return 0;
}

/* A signed number at s, as parse_u64. */
static int parse_long(const char *s, const char **endp, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || errno != 0)
        return -1;
    *out = v;
    if (endp)
        *endp = end;
    return 0;
}

/* First line of a file parsed as an unsigned number; 0 if absent or "max". */
static uint64_t read_u64_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[128];
    uint64_t v = 0;

    if (!f)
        return 0;
    if (!fgets(line, sizeof(line), f) || parse_u64(line, NULL, &v) != 0)
        v = 0;
    fclose(f);
    return v;
}

/* cgroup v2 cpu.max "quota period" → CPUs (rounded up), 0 when unlimited. */
static int cgroup_cpus(void)
{
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
    char line[128];
    const char *p;
    long quota, period;
    int n = 0;

    if (!f)
        return 0;
    if (fgets(line, sizeof(line), f) && parse_long(line, &p, &quota) == 0 &&
        parse_long(p, NULL, &period) == 0 && quota > 0 && period > 0)
        n = (int)((quota + period - 1) / period);
    fclose(f);
    return n;
}

static void meminfo(uint64_t *total, uint64_t *avail, uint64_t *cached)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    uint64_t v;

    *total = *avail = *cached = 0;
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "MemTotal:", 9) == 0 && parse_u64(line + 9, NULL, &v) == 0)
            *total = v * 1024;
        else if (strncmp(line, "MemAvailable:", 13) == 0 && parse_u64(line + 13, NULL, &v) == 0)
            *avail = v * 1024;
        else if (strncmp(line, "Cached:", 7) == 0 && parse_u64(line + 7, NULL, &v) == 0)
            *cached = v * 1024;
    }
    fclose(f);
}

/* Busy and total jiffies from the aggregate "cpu" line of /proc/stat. */
static int cpu_times(uint64_t *busy, uint64_t *total)
{
    FILE *f = fopen("/proc/stat", "r");
    char line[512];
    const char *p;
    uint64_t v[8] = {0};
    int n = 0;

    if (!f)
        return -1;
    if (fgets(line, sizeof(line), f) && strncmp(line, "cpu", 3) == 0) {
        p = line + 3;
        while (n < 8 && parse_u64(p, &p, &v[n]) == 0)
            n++;
    }
    fclose(f);
    if (n < 4)
        return -1;
    /* idle + iowait are not busy */
    *total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
    *busy = *total - v[3] - v[4];
    return 0;
}

json_t *envd_metrics_sample(void)
{
    static uint64_t last_busy, last_total;
    uint64_t busy = 0, total = 0, mem_total, mem_avail, mem_cache, mem_used, cg;
    uint64_t disk_total = 0, disk_used = 0;
    double pct = 0;
    struct statvfs vfs;
    int cpus = cgroup_cpus();

    if (cpus <= 0)
        cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (cpu_times(&busy, &total) == 0 && total > last_total) {
        pct = 100.0 * (double)(busy - last_busy) / (double)(total - last_total);
        last_busy = busy;
        last_total = total;
    }
    meminfo(&mem_total, &mem_avail, &mem_cache);
    mem_used = mem_total > mem_avail ? mem_total - mem_avail : 0;
    /* A cgroup limit below the host's memory is the sandbox's real size. */
    cg = read_u64_file("/sys/fs/cgroup/memory.max");
    if (cg > 0 && cg < mem_total) {
        mem_total = cg;
        mem_used = read_u64_file("/sys/fs/cgroup/memory.current");
    }
    if (statvfs("/", &vfs) == 0) {
        disk_total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
        disk_used = disk_total - (uint64_t)vfs.f_bfree * vfs.f_frsize;
    }
    return json_pack(
        "{s:I,s:i,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "ts", (json_int_t)time(NULL),
        "cpu_count", cpus, "cpu_used_pct", (double)(int64_t)(pct * 100 + 0.5) / 100,
        "mem_total", (json_int_t)mem_total, "mem_used", (json_int_t)mem_used, "mem_cache",
        (json_int_t)mem_cache, "mem_total_mib", (json_int_t)(mem_total >> 20),
        "mem_used_mib", (json_int_t)(mem_used >> 20), "disk_used", (json_int_t)disk_used,
        "disk_total", (json_int_t)disk_total);
}
