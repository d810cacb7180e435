#include "metrics.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "cgroup.h"
#include "disk_quota.h"
#include "cube_time.h"
#include "sandbox.h"

/* Previous CPU sample per sandbox, to turn cumulative time into a rate. A small
 * open-addressing table keyed by id; entries of gone sandboxes are overwritten. */
#define PREV_SLOTS 8192
static struct prev {
    char id[CUBE_SANDBOX_ID_LEN + 1];
    unsigned long long cpu_ns;
    int64_t at_ms;
} prev[PREV_SLOTS];

static struct prev *prev_slot(const char *id)
{
    unsigned h = 5381;
    for (const char *p = id; *p; p++)
        h = h * 33 + (unsigned char)*p;
    for (unsigned i = 0; i < PREV_SLOTS; i++) {
        struct prev *e = &prev[(h + i) % PREV_SLOTS];
        if (e->id[0] == '\0' || strcmp(e->id, id) == 0)
            return e;
    }
    return &prev[h % PREV_SLOTS]; /* full: reuse (only costs one rate sample) */
}

/* Disk use of the writable layer. nftw keeps no state of ours, so the sum lives in a
 * static; the worker is single-threaded. Capped so a huge tree cannot stall the loop. */
static unsigned long long disk_sum;
static unsigned long disk_entries;
#define DISK_MAX_ENTRIES 200000

static int add_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)path;
    (void)flag;
    (void)f;
    disk_sum += (unsigned long long)st->st_blocks * 512ULL;
    return ++disk_entries >= DISK_MAX_ENTRIES;
}

/* Bytes the sandbox has written. With a writable-layer filesystem (mounted only inside
 * the sandbox) that is what `df /` shows inside: the overlay reports its upper
 * filesystem. Without one, the size of upper/ on the host. */
static unsigned long long upper_usage(struct worker *w, const struct sb_record *r)
{
    char path[PATH_MAX + 64];
    struct statfs sf;

    if (disk_quota_enforced()) {
        snprintf(path, sizeof(path), "/proc/%d/root/", (int)r->pid);
        if (r->pid <= 1 || statfs(path, &sf) < 0 || sf.f_blocks < sf.f_bfree)
            return 0;
        return (unsigned long long)(sf.f_blocks - sf.f_bfree) *
               (unsigned long long)sf.f_bsize;
    }
    if (snprintf(path, sizeof(path), "%s/%s/layer/upper", w->sandboxes_dir, r->inst) >=
        (int)sizeof(path))
        return 0;
    disk_sum = 0;
    disk_entries = 0;
    nftw(path, add_entry, 16, FTW_PHYS | FTW_MOUNT);
    return disk_sum;
}

struct sample_ctx {
    struct worker *w;
    json_t *out;
    int64_t now_ms;
};

static void sample_one(const struct sb_record *r, void *arg)
{
    struct sample_ctx *c = arg;
    struct cgroup_stats st;
    struct prev *p = prev_slot(r->id);
    double pct = 0;
    char ts[32];
    unsigned long long mem_total;

    cgroup_stats(r->inst, &st);
    if (strcmp(p->id, r->id) == 0 && c->now_ms > p->at_ms &&
        st.cpu_usage_ns >= p->cpu_ns && r->cpu > 0)
        pct = (double)(st.cpu_usage_ns - p->cpu_ns) / 1e6 /
              (double)(c->now_ms - p->at_ms) / r->cpu * 100.0;
    snprintf(p->id, sizeof(p->id), "%s", r->id);
    p->cpu_ns = st.cpu_usage_ns;
    p->at_ms = c->now_ms;
    mem_total = st.mem_limit ? st.mem_limit : (unsigned long long)r->mem_mb << 20;
    if (mem_total > ((unsigned long long)r->mem_mb << 20) && r->mem_mb > 0)
        mem_total = (unsigned long long)r->mem_mb << 20;
    cube_rfc3339_ms(c->now_ms, ts, sizeof(ts));
    json_object_set_new(
        c->out, r->id,
        json_pack("{s:s,s:I,s:i,s:f,s:I,s:I,s:I,s:I,s:I}", "timestamp", ts,
                  "timestampUnix", (json_int_t)(c->now_ms / 1000), "cpuCount", r->cpu,
                  "cpuUsedPct", (double)((long long)(pct * 100 + 0.5)) / 100.0, "memUsed",
                  (json_int_t)st.mem_used, "memTotal", (json_int_t)mem_total, "memCache",
                  (json_int_t)st.mem_cache, "diskUsed", (json_int_t)upper_usage(c->w, r),
                  "diskTotal", (json_int_t)((long long)r->disk_mb << 20)));
}

json_t *metrics_sample_all(struct worker *w)
{
    struct sample_ctx c = {w, json_object(), cube_now_ms()};

    sandbox_foreach_running(w, sample_one, &c);
    return c.out;
}
