/* cube-worker: options, startup (state dir, cgroups, node id, re-adoption), the event
 * loop, signals and shutdown. See docs/internals.md for the control API it serves. */
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <getopt.h>
#include <limits.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_firewall.h"
#include "layer_pool.h"
#include "cgroup.h"
#include "cube_id.h"
#include "cube_log.h"
#include "disk_quota.h"
#include "netns.h"
#include "node_registry.h"
#include "ns_spawn.h"
#include "sandbox.h"
#include "spawner.h"
#include "util.h"
#include "worker.h"
#include "worker_api.h"

#define SWEEP_INTERVAL_S 30
#define SHUTDOWN_FLUSH_MS 200 /* let the "draining" heartbeat reach Redis */

static void usage(FILE *f)
{
    fprintf(f, "usage: cube-worker [options]\n"
               "  --socket PATH         control socket (/run/cube/worker.sock)\n"
               "  --state-dir DIR       node-id, sandboxes/ (/var/lib/cube)\n"
               "  --template-dir DIR    templates (<state-dir>/templates)\n"
               "  --run-dir DIR         runtime dir (/run/cube)\n"
               "  --redis ADDR          unix:/path or host:port, 'none' to disable\n"
               "                        (unix:/run/cube/redis.sock)\n"
               "  --bin-dir DIR         cube-init + cube-envd, bound at /.cube/bin\n"
               "                        (directory of this binary)\n"
               "  --capacity N          max sandboxes (1000)\n"
               "  --slots MIN-MAX       network slots this worker may use (0-16383)\n"
               "  --cgroup-name NAME    parent cgroup under each hierarchy (cube)\n"
               "  --cgroup-root DIR     cgroup mount root (/sys/fs/cgroup)\n"
               "  --envd-timeout-ms N   wait for envd /health (10000)\n"
               "  --disk-quota MODE     writable-layer size limits: required|auto|off\n"
               "                        (required)\n"
               "  --labels K=V,...      node labels for placement and operators\n"
               "  --pool-size N         warm sandboxes per template, unless its\n"
               "                        template.json sets poolSize (4)\n"
               "  --spawners N          processes preparing sandboxes in parallel\n"
               "                        (number of CPUs)\n"
               "  --teardown-all        destroy every sandbox in the state dir and exit\n"
               "  --log-level LEVEL     debug|info|warn|error (info)\n");
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* "A-B" (as sscanf "%d-%d" took it: anything may follow B); bounds are
 * checked by slots_init. */
static int parse_range(const char *s, int *a, int *b)
{
    char *end;
    const char *q;
    long v1, v2;

    errno = 0;
    v1 = strtol(s, &end, 10);
    if (end == s || errno || v1 < INT_MIN || v1 > INT_MAX || *end != '-')
        return -1;
    q = end + 1;
    errno = 0;
    v2 = strtol(q, &end, 10);
    if (end == q || errno || v2 < INT_MIN || v2 > INT_MAX)
        return -1;
    *a = (int)v1;
    *b = (int)v2;
    return 0;
}

/* "k=v,k2=v2": short, and only characters that need no quoting anywhere. */
static int labels_valid(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 255)
        return 0;
    return strspn(
               s,
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/=,") ==
           n;
}

/* Paths end up inside overlayfs mount options, where ',' ':' and '\' are syntax. */
static int overlay_safe(const char *path)
{
    return path[0] == '/' && !strpbrk(path, ",:\\ \t\n");
}

static int parse_args(int argc, char **argv, struct worker_config *c,
                      enum cube_log_level *level)
{
    static char self_dir[PATH_MAX];
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},
        {"state-dir", required_argument, NULL, 'd'},
        {"template-dir", required_argument, NULL, 't'},
        {"run-dir", required_argument, NULL, 'r'},
        {"redis", required_argument, NULL, 'R'},
        {"bin-dir", required_argument, NULL, 'b'},
        {"capacity", required_argument, NULL, 'c'},
        {"slots", required_argument, NULL, 'S'},
        {"cgroup-name", required_argument, NULL, 'g'},
        {"cgroup-root", required_argument, NULL, 'G'},
        {"envd-timeout-ms", required_argument, NULL, 'e'},
        {"disk-quota", required_argument, NULL, 'Q'},
        {"pool-size", required_argument, NULL, 'P'},
        {"labels", required_argument, NULL, 'L'},
        {"spawners", required_argument, NULL, 'X'},
        {"teardown-all", no_argument, NULL, 'T'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ssize_t n;
    int o;

    c->socket_path = "/run/cube/worker.sock";
    c->state_dir = "/var/lib/cube";
    c->run_dir = "/run/cube";
    c->redis_url = "unix:/run/cube/redis.sock";
    c->cgroup_root = "/sys/fs/cgroup";
    c->cgroup_name = "cube";
    c->capacity = 1000;
    c->slot_min = 0;
    c->slot_max = SLOT_COUNT - 1;
    c->envd_timeout_ms = 10000;
    c->disk_quota = DISK_QUOTA_REQUIRED;
    c->pool_size = 4;
    n = sysconf(_SC_NPROCESSORS_ONLN);
    c->spawners = n > 0 ? (n > 16 ? 16 : (int)n) : 1;
    *level = CUBE_LOG_INFO;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 's':
            c->socket_path = optarg;
            break;
        case 'd':
            c->state_dir = optarg;
            break;
        case 't':
            c->template_dir = optarg;
            break;
        case 'r':
            c->run_dir = optarg;
            break;
        case 'R':
            c->redis_url = optarg;
            break;
        case 'b':
            c->bin_dir = optarg;
            break;
        case 'c':
            if (parse_int(optarg, 1, SLOT_COUNT, &c->capacity) < 0)
                goto bad;
            break;
        case 'S':
            if (parse_range(optarg, &c->slot_min, &c->slot_max) < 0)
                goto bad;
            break;
        case 'g':
            if (!cube_id_valid(optarg, 32) && strcmp(optarg, "cube") != 0)
                goto bad;
            c->cgroup_name = optarg;
            break;
        case 'G':
            c->cgroup_root = optarg;
            break;
        case 'e':
            if (parse_int(optarg, 100, 600000, &c->envd_timeout_ms) < 0)
                goto bad;
            break;
        case 'P':
            if (parse_int(optarg, 0, 4096, &c->pool_size) < 0)
                goto bad;
            break;
        case 'L':
            if (!labels_valid(optarg))
                goto bad;
            c->labels = optarg;
            break;
        case 'X':
            if (parse_int(optarg, 1, 16, &c->spawners) < 0)
                goto bad;
            break;
        case 'Q':
            c->disk_quota = disk_quota_parse_mode(optarg);
            if (c->disk_quota < 0)
                goto bad;
            break;
        case 'T':
            c->teardown_all = 1;
            break;
        case 'l':
            if (strcmp(optarg, "debug") == 0)
                *level = CUBE_LOG_DEBUG;
            else if (strcmp(optarg, "info") == 0)
                *level = CUBE_LOG_INFO;
            else if (strcmp(optarg, "warn") == 0)
                *level = CUBE_LOG_WARN;
            else if (strcmp(optarg, "error") == 0)
                *level = CUBE_LOG_ERROR;
            else
                goto bad;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc)
        goto bad;
    if (!c->bin_dir) {
        /* Default: next to this binary (build/bin holds worker, init and envd). */
        n = readlink("/proc/self/exe", self_dir, sizeof(self_dir) - 1);
        if (n <= 0)
            goto bad;
        self_dir[n] = '\0';
        c->bin_dir = dirname(self_dir);
    }
    return 0;
bad:
    fprintf(stderr, "cube-worker: invalid arguments\n");
    usage(stderr);
    return -1;
}

/* /var/lib/cube/node-id: generated once, then stable across restarts. */
static int load_node_id(const char *state_dir, char *out)
{
    char path[PATH_MAX], buf[CUBE_NODE_ID_LEN + 2];
    char *text;

    snprintf(path, sizeof(path), "%s/node-id", state_dir);
    text = util_read_file(path, 64, NULL);
    if (text) {
        text[strcspn(text, "\r\n")] = '\0';
        if (text[0] == 'n' && cube_id_valid(text, CUBE_NODE_ID_LEN)) {
            snprintf(out, CUBE_NODE_ID_LEN + 1, "%s", text);
            free(text);
            return 0;
        }
        free(text);
        log_error("%s is malformed; fix or remove it", path);
        return -1;
    }
    if (cube_id_generate(out, CUBE_NODE_ID_LEN, 'n') < 0)
        return -1;
    snprintf(buf, sizeof(buf), "%.*s\n", CUBE_NODE_ID_LEN, out);
    if (util_write_atomic(path, buf, strlen(buf), 0644, 1) < 0) {
        log_error("write %s: %s", path, strerror(errno));
        return -1;
    }
    log_info("generated node id %s", out);
    return 0;
}

/* The host's resolv.conf is copied into sandboxes unless it names a loopback
 * resolver (systemd-resolved, dnsmasq), which is unreachable from a sandbox's netns;
 * then the template's own file stays. */
static char *host_resolv_conf(void)
{
    char *text = util_read_file("/etc/resolv.conf", (size_t)64 * 1024, NULL);
    char *line, *copy, *save = NULL;
    int servers = 0, loopback = 0;

    if (!text)
        return NULL;
    copy = strdup(text);
    if (!copy) {
        free(text);
        return NULL;
    }
    for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char addr[64];
        if (sscanf(line, " nameserver %63s", addr) != 1)
            continue;
        servers++;
        if (strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0)
            loopback = 1;
    }
    free(copy);
    if (!servers || loopback) {
        free(text);
        return NULL;
    }
    return text;
}

static struct worker W;
static struct evhttp *api;

static void on_stop_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct worker *w = arg;
    struct timeval tv = {0, (suseconds_t)SHUTDOWN_FLUSH_MS * 1000};

    (void)what;
    if (sig == SIGHUP) {
        log_info("SIGHUP: rescanning templates: %d found",
                 template_scan(&w->templates, w->cfg.template_dir));
        node_registry_templates_changed(w->reg);
        sandbox_pools_refill(w);
        return;
    }
    if (w->shutting_down)
        return;
    /* Sandboxes keep running: only --teardown-all or DELETE kill them. */
    log_info("signal %d: shutting down (sandboxes keep running)", (int)sig);
    w->shutting_down = 1;
    node_registry_draining(w->reg);
    event_base_once(w->base, -1, EV_TIMEOUT, on_stop_flush, w->base, &tv);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sandbox_sweep(arg);
}

static int view_count(void *ctx)
{
    return ((struct worker *)ctx)->count;
}

static int view_pooled(void *ctx)
{
    return sandbox_pooled_count(ctx);
}

static char *view_pools_json(void *ctx)
{
    json_t *all = sandbox_pools_json(ctx);
    char *s = all ? json_dumps(json_object_get(all, "pools"), JSON_COMPACT) : NULL;

    json_decref(all);
    return s;
}

static int view_has(const char *id, void *ctx)
{
    return sandbox_find(ctx, id) != NULL;
}

static void view_each_running(void (*fn)(const struct sb_record *, void *), void *arg,
                              void *ctx)
{
    sandbox_foreach_running(ctx, fn, arg);
}

static int prepare_dirs(struct worker *w)
{
    static char tdir[PATH_MAX];

    if (util_mkdir_p(w->cfg.state_dir, 0755) < 0 ||
        util_mkdir_p(w->cfg.run_dir, 0755) < 0) {
        log_error("create %s / %s: %s", w->cfg.state_dir, w->cfg.run_dir,
                  strerror(errno));
        return -1;
    }
    if (util_fmt(w->sandboxes_dir, sizeof(w->sandboxes_dir), "%s/sandboxes",
                 w->cfg.state_dir) < 0 ||
        util_mkdir_p(w->sandboxes_dir, 0711) < 0) {
        log_error("create %s/sandboxes: %s", w->cfg.state_dir, strerror(errno));
        return -1;
    }
    /* The sandbox's root (unprivileged on the host) must be able to traverse down to
     * its layers. */
    chmod(w->sandboxes_dir, 0711);
    if (!w->cfg.template_dir) {
        snprintf(tdir, sizeof(tdir), "%s/templates", w->cfg.state_dir);
        w->cfg.template_dir = tdir;
    }
    if (!overlay_safe(w->sandboxes_dir) || !overlay_safe(w->cfg.template_dir)) {
        log_error("state/template dirs must be absolute and free of , : \\ and spaces");
        return -1;
    }
    return 0;
}

/* A descriptor or two per sandbox (pidfd, envd channel) outgrows the usual soft
 * limit of 1024 long before the node is full: go to the hard limit. Sandboxes get the
 * limits we were started with (ns_spawn_set_nofile). */
static void raise_fd_limit(void)
{
    struct rlimit r;

    if (getrlimit(RLIMIT_NOFILE, &r) < 0)
        return;
    ns_spawn_set_nofile(r.rlim_cur, r.rlim_max);
    if (r.rlim_cur >= r.rlim_max)
        return;
    r.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &r) < 0)
        log_warn("cannot raise the open-files limit: %s", strerror(errno));
}

int main(int argc, char **argv)
{
    struct event *sig_term, *sig_int, *sig_hup, *sweep;
    struct timeval sweep_tv = {SWEEP_INTERVAL_S, 0};
    enum cube_log_level level;
    struct worker *w = &W;
    int rc = 1;
    char fw_table[40], qerr[256];

    if (parse_args(argc, argv, &w->cfg, &level) < 0)
        return 2;
    cube_log_init("cube-worker", level);
    if (geteuid() != 0) {
        log_error("must run as root (namespaces, cgroups, veth)");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    umask(022);
    raise_fd_limit();
    if (prepare_dirs(w) < 0)
        return 1;
    if (cgroup_init(w->cfg.cgroup_root, w->cfg.cgroup_name) < 0 || netns_init() < 0)
        return 1;
    if (slots_init(&w->slots, w->cfg.slot_min, w->cfg.slot_max) < 0) {
        log_error("bad --slots range %d-%d", w->cfg.slot_min, w->cfg.slot_max);
        return 1;
    }
    if (load_node_id(w->cfg.state_dir, w->node_id) < 0)
        return 1;
    w->base = event_base_new();
    if (!w->base)
        return 1;

    host_firewall_table_name(w->cfg.cgroup_name, fw_table, sizeof(fw_table));
    /* Free writable layers' images that a killed worker's spawners left. */
    layer_pool_init(w->sandboxes_dir);
    if (w->cfg.teardown_all) {
        /* No Redis here: entries of the removed sandboxes are reconciled by the next
         * worker start (or expire with the node's alive key). */
        sandbox_teardown_all(w);
        host_firewall_remove(fw_table);
        event_base_free(w->base);
        return 0;
    }

    if (disk_quota_init(w->sandboxes_dir, w->cfg.disk_quota, qerr, sizeof(qerr)) < 0) {
        log_error("--disk-quota required, but writable layers cannot be limited: %s",
                  qerr);
        event_base_free(w->base);
        return 1;
    }
    /* Before any sandbox exists or is adopted: no window where one can reach the host. */
    if (host_firewall_install(fw_table) < 0) {
        event_base_free(w->base);
        return 1;
    }
    log_info("templates: %d found in %s",
             template_scan(&w->templates, w->cfg.template_dir), w->cfg.template_dir);
    w->resolv_conf = host_resolv_conf();
    sandbox_adopt_all(w);
    /* After adoption (synchronous teardowns) and before the API: every sandbox from
     * here on is made by a spawner. */
    w->prep_env.bin_dir = w->cfg.bin_dir;
    w->prep_env.resolv_conf = w->resolv_conf;
    w->spawners = spawners_new(w->base, &w->prep_env, w->cfg.spawners);
    if (!w->spawners)
        goto out;

    snprintf(w->worker_addr, sizeof(w->worker_addr), "unix:%s", w->cfg.socket_path);
    api = worker_api_start(w);
    if (!api)
        goto out;
    if (w->cfg.redis_url[0] && strcmp(w->cfg.redis_url, "none") != 0) {
        struct node_registry_cfg rc_cfg = {
            .url = w->cfg.redis_url,
            .node_id = w->node_id,
            .worker_addr = w->worker_addr,
            .labels = w->cfg.labels,
            .capacity = w->cfg.capacity,
        };
        struct node_registry_view view = {
            .count = view_count,
            .pooled = view_pooled,
            .pools_json = view_pools_json,
            .has = view_has,
            .each_running = view_each_running,
            .templates = &w->templates,
            .ctx = w,
        };
        w->reg = node_registry_new(w->base, &rc_cfg, &view);
        if (!w->reg)
            goto out;
    }

    sig_term = evsignal_new(w->base, SIGTERM, on_signal, w);
    sig_int = evsignal_new(w->base, SIGINT, on_signal, w);
    sig_hup = evsignal_new(w->base, SIGHUP, on_signal, w);
    sweep = event_new(w->base, -1, EV_PERSIST, on_sweep, w);
    if (!sig_term || !sig_int || !sig_hup || !sweep)
        goto out;
    evsignal_add(sig_term, NULL);
    evsignal_add(sig_int, NULL);
    evsignal_add(sig_hup, NULL);
    evtimer_add(sweep, &sweep_tv);

    sandbox_pools_refill(w);
    log_info("cube-worker %s node %s ready: %d sandbox(es), capacity %d, pool size %d, "
             "%d spawner(s), bin %s",
             WORKER_VERSION, w->node_id, w->count, w->cfg.capacity, w->cfg.pool_size,
             w->cfg.spawners, w->cfg.bin_dir);
    event_base_dispatch(w->base);
    rc = 0;

    event_free(sig_term);
    event_free(sig_int);
    event_free(sig_hup);
    event_free(sweep);
out:
    sandbox_release_all(w);
    spawners_free(w->spawners);
    if (api) {
        evhttp_free(api);
        unlink(w->cfg.socket_path);
    }
    node_registry_free(w->reg);
    template_set_free(&w->templates);
    free(w->resolv_conf);
    event_base_free(w->base);
    log_info("exit");
    return rc;
}
