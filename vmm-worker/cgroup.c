#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cube_id.h"
#include "cube_log.h"
#include "util.h"

/* v1 controllers a sandbox is placed in: limits (cpu, memory, pids), pause/resume
 * (freezer) and CPU accounting for metrics (cpuacct, a separate mount on some hosts). */
static const char *const v1_ctrls[] = {"cpu", "memory", "pids", "freezer", "cpuacct"};
#define V1_N (sizeof(v1_ctrls) / sizeof(v1_ctrls[0]))

static struct {
    char root[PATH_MAX / 2];
    char parent[64];
    int v2;
    int have[V1_N];              /* v1: controller is mounted */
    int v2_cpu, v2_mem, v2_pids; /* v2: controller enabled for our children */
} cg;

/* v2: is ctrl listed in the parent's cgroup.subtree_control? */
static int v2_enabled(const char *ctrl)
{
    char path[PATH_MAX], *text, *tok, *save = NULL;
    int found = 0;

    snprintf(path, sizeof(path), "%s/%s/cgroup.subtree_control", cg.root, cg.parent);
    text = util_read_file(path, 4096, NULL);
    if (!text)
        return 0;
    for (tok = strtok_r(text, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
        if (strcmp(tok, ctrl) == 0)
            found = 1;
    }
    free(text);
    return found;
}

int cgroup_is_v2(void)
{
    return cg.v2;
}

/* Directory of the sandbox (id != NULL) or of the parent for hierarchy i. */
static int cg_path(char *out, size_t len, int i, const char *id, const char *file)
{
    char base[PATH_MAX];

    if (cg.v2)
        snprintf(base, sizeof(base), "%s/%s", cg.root, cg.parent);
    else
        snprintf(base, sizeof(base), "%s/%s/%s", cg.root, v1_ctrls[i], cg.parent);
    if (id && file)
        return util_fmt(out, len, "%s/%s/%s", base, id, file);
    if (id)
        return util_fmt(out, len, "%s/%s", base, id);
    if (file)
        return util_fmt(out, len, "%s/%s", base, file);
    return util_fmt(out, len, "%s", base);
}

static int n_hier(void)
{
    return cg.v2 ? 1 : (int)V1_N;
}

static int usable(int i)
{
    return cg.v2 || cg.have[i];
}

int cgroup_init(const char *root, const char *parent)
{
    char path[PATH_MAX];
    struct stat st;
    size_t i;
    int any = 0;

    snprintf(cg.root, sizeof(cg.root), "%s", root);
    snprintf(cg.parent, sizeof(cg.parent), "%s", parent);
    snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
    cg.v2 = access(path, F_OK) == 0;
    if (cg.v2) {
        /* Delegate the controllers down to <parent>/: each must be enabled in every
         * ancestor's subtree_control. Written one by one so a controller the kernel
         * lacks does not block the others. */
        static const char *const want[] = {"+cpu", "+memory", "+pids"};
        for (i = 0; i < 3; i++) {
            snprintf(path, sizeof(path), "%s/cgroup.subtree_control", root);
            if (util_write_knob(path, want[i]) < 0)
                log_warn("cgroup v2: enable %s at root: %s", want[i] + 1,
                         strerror(errno));
        }
        cg_path(path, sizeof(path), 0, NULL, NULL);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            log_error("cgroup v2: mkdir %s: %s", path, strerror(errno));
            return -1;
        }
        for (i = 0; i < 3; i++) {
            cg_path(path, sizeof(path), 0, NULL, "cgroup.subtree_control");
            if (util_write_knob(path, want[i]) < 0)
                log_warn("cgroup v2: enable %s in %s: %s", want[i] + 1, cg.parent,
                         strerror(errno));
        }
        /* A controller still bound to a v1 hierarchy cannot be enabled here; the
         * sandbox then runs without that limit rather than not at all. */
        cg.v2_cpu = v2_enabled("cpu");
        cg.v2_mem = v2_enabled("memory");
        cg.v2_pids = v2_enabled("pids");
        log_info("cgroup v2 at %s/%s (cpu %s, memory %s, pids %s)", root, parent,
                 cg.v2_cpu ? "on" : "OFF", cg.v2_mem ? "on" : "OFF",
                 cg.v2_pids ? "on" : "OFF");
        return 0;
    }
    for (i = 0; i < V1_N; i++) {
        /* A combined mount (cpu,cpuacct) is normally reachable via a cpu symlink. */
        snprintf(path, sizeof(path), "%s/%s", root, v1_ctrls[i]);
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
            log_warn("cgroup v1: controller %s not mounted; its limits are skipped",
                     v1_ctrls[i]);
            continue;
        }
        cg_path(path, sizeof(path), (int)i, NULL, NULL);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            log_warn("cgroup v1: mkdir %s: %s", path, strerror(errno));
            continue;
        }
        cg.have[i] = 1;
        any = 1;
    }
    log_info("cgroup v1 at %s/{cpu,memory,pids,freezer,cpuacct}/%s", root, parent);
    return any ? 0 : -1;
}

static int set_knob(int i, const char *id, const char *file, const char *val, char *err,
                    int errlen)
{
    char path[PATH_MAX];

    if (cg_path(path, sizeof(path), i, id, file) < 0 || util_write_knob(path, val) < 0) {
        snprintf(err, (size_t)errlen, "cgroup: write %s=%s: %s", file, val,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int cgroup_set_limits(const char *id, int cpu, int mem_mb, int pids_max, char *err,
                      int errlen)
{
    long long mem = (long long)mem_mb * 1024 * 1024;
    char val[64];
    int i;

    if (cg.v2) {
        snprintf(val, sizeof(val), "%lld", mem);
        if (cg.v2_mem && set_knob(0, id, "memory.max", val, err, errlen) < 0)
            return -1;
        /* No swap: the memory limit should mean what it says. Missing on hosts
         * without swap accounting, so not fatal. */
        if (cg.v2_mem)
            set_knob(0, id, "memory.swap.max", "0", err, errlen);
        snprintf(val, sizeof(val), "%d 100000", cpu * 100000);
        if (cg.v2_cpu && set_knob(0, id, "cpu.max", val, err, errlen) < 0)
            return -1;
        snprintf(val, sizeof(val), "%d", pids_max);
        if (cg.v2_pids && set_knob(0, id, "pids.max", val, err, errlen) < 0)
            return -1;
        return 0;
    }
    for (i = 0; i < (int)V1_N; i++) {
        if (!cg.have[i])
            continue;
        if (strcmp(v1_ctrls[i], "memory") == 0) {
            snprintf(val, sizeof(val), "%lld", mem);
            if (set_knob(i, id, "memory.limit_in_bytes", val, err, errlen) < 0)
                return -1;
        } else if (strcmp(v1_ctrls[i], "cpu") == 0) {
            if (set_knob(i, id, "cpu.cfs_period_us", "100000", err, errlen) < 0)
                return -1;
            snprintf(val, sizeof(val), "%d", cpu * 100000);
            if (set_knob(i, id, "cpu.cfs_quota_us", val, err, errlen) < 0)
                return -1;
        } else if (strcmp(v1_ctrls[i], "pids") == 0) {
            snprintf(val, sizeof(val), "%d", pids_max);
            if (set_knob(i, id, "pids.max", val, err, errlen) < 0)
                return -1;
        }
    }
    return 0;
}

int cgroup_create(const char *id, int cpu, int mem_mb, int pids_max, char *err,
                  int errlen)
{
    char path[PATH_MAX];
    int i;

    for (i = 0; i < n_hier(); i++) {
        if (!usable(i))
            continue;
        cg_path(path, sizeof(path), i, id, NULL);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            snprintf(err, (size_t)errlen, "cgroup: mkdir %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    if (cgroup_set_limits(id, cpu, mem_mb, pids_max, err, errlen) < 0)
        goto fail;
    return 0;
fail:
    cgroup_destroy(id);
    return -1;
}

int cgroup_attach(const char *id, pid_t pid)
{
    char path[PATH_MAX], val[32];
    int i;

    snprintf(val, sizeof(val), "%d", (int)pid);
    for (i = 0; i < n_hier(); i++) {
        if (!usable(i))
            continue;
        if (cg_path(path, sizeof(path), i, id, "cgroup.procs") < 0 ||
            util_write_knob(path, val) < 0) {
            log_error("cgroup: attach %d to %s: %s", (int)pid, path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* SIGKILL every process listed in dir/cgroup.procs. Returns how many were listed. */
static int kill_procs(const char *dir)
{
    char path[PATH_MAX], *text, *line, *save = NULL;
    int n = 0;

    if (util_fmt(path, sizeof(path), "%s/cgroup.procs", dir) < 0)
        return 0;
    text = util_read_file(path, 1 << 20, NULL);
    if (!text)
        return 0;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long pid = strtol(line, NULL, 10);
        if (pid > 1) {
            kill((pid_t)pid, SIGKILL);
            n++;
        }
    }
    free(text);
    return n;
}

int cgroup_destroy(const char *id)
{
    char path[PATH_MAX];
    int i, tries, rc = 0;

    for (i = 0; i < n_hier(); i++) {
        if (!usable(i))
            continue;
        if (cg_path(path, sizeof(path), i, id, NULL) < 0)
            continue;
        /* Normally empty by now (the pid namespace died with its init). Anything still
         * listed escaped that (e.g. joined with nsenter); it goes too. rmdir fails with
         * EBUSY until the last task is released, hence the short retry. */
        for (tries = 0; tries < 100; tries++) {
            if (rmdir(path) == 0 || errno == ENOENT)
                break;
            if (errno != EBUSY) {
                log_warn("cgroup: rmdir %s: %s", path, strerror(errno));
                break;
            }
            /* v2 (5.14+) kills the whole subtree atomically; else one by one. */
            if (cg.v2 && tries == 0) {
                char knob[PATH_MAX + 16];
                snprintf(knob, sizeof(knob), "%s/cgroup.kill", path);
                util_write_knob(knob, "1");
            }
            kill_procs(path);
            nanosleep(&(struct timespec){0, (long)5 * 1000 * 1000}, NULL);
        }
        if (access(path, F_OK) == 0) {
            log_warn("cgroup: %s still busy", path);
            rc = -1;
        }
    }
    return rc;
}

void cgroup_foreach(void (*cb)(const char *id, void *ctx), void *ctx)
{
    char path[PATH_MAX];
    struct dirent *de;
    DIR *d;
    int i;

    /* Every hierarchy: a half-removed sandbox may be left in only some of them. The
     * callback may see an id more than once; it must be idempotent. */
    for (i = 0; i < n_hier(); i++) {
        if (!usable(i))
            continue;
        cg_path(path, sizeof(path), i, NULL, NULL);
        d = opendir(path);
        if (!d)
            continue;
        while ((de = readdir(d)) != NULL) {
            if (de->d_type == DT_DIR && cube_id_valid(de->d_name, CUBE_SANDBOX_ID_LEN))
                cb(de->d_name, ctx);
        }
        closedir(d);
    }
}

void cgroup_remove_parent(void)
{
    char path[PATH_MAX];
    int i;

    for (i = 0; i < n_hier(); i++) {
        if (!usable(i))
            continue;
        cg_path(path, sizeof(path), i, NULL, NULL);
        if (rmdir(path) < 0 && errno != ENOENT)
            log_warn("cgroup: rmdir %s: %s", path, strerror(errno));
    }
}

/* Read a small cgroup file into buf; 0 / -1. */
static int read_knob(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    size_t n;

    if (!f)
        return -1;
    n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    return 0;
}

int cgroup_freeze(const char *id, int frozen)
{
    char path[PATH_MAX], buf[256];
    int i, fz = -1;

    if (cg.v2) {
        if (cg_path(path, sizeof(path), 0, id, "cgroup.freeze") < 0 ||
            util_write_knob(path, frozen ? "1" : "0") < 0)
            return -1;
        cg_path(path, sizeof(path), 0, id, "cgroup.events");
    } else {
        for (size_t k = 0; k < V1_N; k++)
            if (strcmp(v1_ctrls[k], "freezer") == 0)
                fz = (int)k;
        if (fz < 0 || !usable(fz) ||
            cg_path(path, sizeof(path), fz, id, "freezer.state") < 0 ||
            util_write_knob(path, frozen ? "FROZEN" : "THAWED") < 0)
            return -1;
    }
    /* v1 passes through FREEZING while tasks stop; v2 reports "frozen 1" in events. */
    for (i = 0; i < 2000; i++) {
        if (read_knob(path, buf, sizeof(buf)) < 0)
            return -1;
        if (cg.v2 ? (strstr(buf, frozen ? "frozen 1" : "frozen 0") != NULL)
                  : (strncmp(buf, frozen ? "FROZEN" : "THAWED", 6) == 0))
            return 0;
        usleep(1000);
    }
    errno = ETIMEDOUT;
    return -1;
}

static int ctrl_index(const char *name)
{
    for (size_t k = 0; k < V1_N; k++)
        if (strcmp(v1_ctrls[k], name) == 0)
            return (int)k;
    return -1;
}

/* First number in a cgroup file, or in the line starting with key (e.g. "cache "). */
static int read_u64(int hier, const char *id, const char *file, const char *key,
                    unsigned long long *out)
{
    char path[PATH_MAX], buf[4096];
    const char *p = buf;

    if (hier < 0 || cg_path(path, sizeof(path), hier, id, file) < 0 ||
        read_knob(path, buf, sizeof(buf)) < 0)
        return -1;
    if (key) {
        size_t kl = strlen(key);
        for (p = buf; p && strncmp(p, key, kl) != 0;
             p = strchr(p, '\n'), p = p ? p + 1 : p)
            ;
        if (!p)
            return -1;
        p += kl;
    }
    if (strncmp(p, "max", 3) == 0) {
        *out = 0;
        return 0;
    }
    *out = strtoull(p, NULL, 10);
    return 0;
}

int cgroup_stats(const char *id, struct cgroup_stats *st)
{
    unsigned long long v = 0;

    memset(st, 0, sizeof(*st));
    if (cg.v2) {
        if (read_u64(0, id, "cpu.stat", "usage_usec ", &v) == 0)
            st->cpu_usage_ns = v * 1000;
        read_u64(0, id, "memory.current", NULL, &st->mem_used);
        read_u64(0, id, "memory.max", NULL, &st->mem_limit);
        read_u64(0, id, "memory.stat", "file ", &st->mem_cache);
        return 0;
    }
    read_u64(ctrl_index("cpuacct"), id, "cpuacct.usage", NULL, &st->cpu_usage_ns);
    read_u64(ctrl_index("memory"), id, "memory.usage_in_bytes", NULL, &st->mem_used);
    read_u64(ctrl_index("memory"), id, "memory.limit_in_bytes", NULL, &st->mem_limit);
    read_u64(ctrl_index("memory"), id, "memory.stat", "total_cache ", &st->mem_cache);
    return 0;
}
