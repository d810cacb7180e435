#include "sandbox.h"

#include <dirent.h>
#include <event2/bufferevent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "cube_log.h"
#include "cube_time.h"
#include "disk_quota.h"
#include "envd_client.h"
#include "netns.h"
#include "node_registry.h"
#include "ns_spawn.h"
#include "util.h"
#include "worker_api.h"

#define KILL_GRACE_MS 10000 /* after SIGKILL, how long until we give up waiting */
#define MAX_PENDING_DELETES 8

struct sandbox {
    struct sb_record rec;
    struct worker *w;
    char dir[PATH_MAX];
    int pidfd;             /* -1 before spawn */
    int is_child;          /* spawned by this worker process: reap with waitpid */
    struct event *exit_ev; /* pidfd readable = init exited */
    struct event *kill_timer;
    struct envd_probe *probe;
    struct evhttp_request *create_http; /* pending POST reply */
    struct event *client_ev;            /* EV_CLOSED on that request's connection */
    char fail_msg[256];                 /* why a pending create failed */
    struct evhttp_request *del_http[MAX_PENDING_DELETES];
    int n_del;
    int64_t t0; /* monotonic ms at create start, for latency logs */
    struct sandbox *next;
};

static void on_exit_ev(evutil_socket_t fd, short what, void *arg);
static void kill_sandbox(struct sandbox *sb);

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_kill(int pidfd)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
}

/* The create's client hung up (gateway timeout, Ctrl-C): nobody will learn about this
 * sandbox, so it must not survive. evhttp does not read from a connection while the
 * application holds its request, so it would not notice; hence a separate EV_CLOSED
 * watch (EPOLLRDHUP) on the connection's fd. */
static void on_client_gone(evutil_socket_t fd, short what, void *arg)
{
    struct sandbox *sb = arg;

    (void)fd;
    (void)what;
    log_warn("sandbox %s: client went away during creation; destroying it", sb->rec.id);
    snprintf(sb->fail_msg, sizeof(sb->fail_msg), "client went away");
    kill_sandbox(sb);
}

static void watch_client(struct sandbox *sb)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(sb->create_http);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;

    if (fd < 0)
        return;
    sb->client_ev = event_new(sb->w->base, fd, EV_CLOSED, on_client_gone, sb);
    if (sb->client_ev && event_add(sb->client_ev, NULL) < 0) {
        event_free(sb->client_ev);
        sb->client_ev = NULL;
    }
}

/* Stop watching the client before answering it. */
static struct evhttp_request *take_create_http(struct sandbox *sb)
{
    struct evhttp_request *req = sb->create_http;

    sb->create_http = NULL;
    if (sb->client_ev) {
        event_free(sb->client_ev);
        sb->client_ev = NULL;
    }
    return req;
}

/* ---- table ------------------------------------------------------------------------ */

struct sandbox *sandbox_find(struct worker *w, const char *id)
{
    struct sandbox *sb;

    for (sb = w->sandboxes; sb; sb = sb->next) {
        if (strcmp(sb->rec.id, id) == 0)
            return sb;
    }
    return NULL;
}

const struct sb_record *sandbox_record(const struct sandbox *sb)
{
    return &sb->rec;
}

static void table_add(struct worker *w, struct sandbox *sb)
{
    sb->next = w->sandboxes;
    w->sandboxes = sb;
    w->count++;
}

static void table_remove(struct worker *w, struct sandbox *sb)
{
    struct sandbox **pp;

    for (pp = &w->sandboxes; *pp; pp = &(*pp)->next) {
        if (*pp == sb) {
            *pp = sb->next;
            w->count--;
            return;
        }
    }
}

json_t *sandbox_list_json(struct worker *w)
{
    json_t *arr = json_array();
    struct sandbox *sb;

    for (sb = w->sandboxes; sb; sb = sb->next)
        json_array_append_new(arr, state_api_json(&sb->rec));
    return arr;
}

void sandbox_foreach_running(struct worker *w,
                             void (*fn)(const struct sb_record *, void *), void *arg)
{
    struct sandbox *sb;

    for (sb = w->sandboxes; sb; sb = sb->next) {
        if (sb->rec.state == SB_RUNNING || sb->rec.state == SB_PAUSED)
            fn(&sb->rec, arg);
    }
}

/* ---- resources -------------------------------------------------------------------- */

static int sandbox_dir(struct worker *w, const char *id, char *out, size_t len)
{
    return util_fmt(out, len, "%s/%s", w->sandboxes_dir, id);
}

/* Remove everything a sandbox may own outside its (dead) namespaces. Safe on partly
 * created sandboxes and when called twice; slot < 0 = unknown. state.json goes last
 * so an interrupted cleanup is retried by the next worker start. */
static void release_resources(const char *id, int slot, const char *dir)
{
    char path[PATH_MAX];
    static const char *const sub[] = {"upper", "work", "rootfs", "console.log"};
    size_t i;

    netns_teardown(slot);
    cgroup_destroy(id);
    disk_quota_release(dir);
    for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
        if (util_fmt(path, sizeof(path), "%s/%s", dir, sub[i]) == 0 &&
            util_rm_rf(path) < 0)
            log_warn("sandbox %s: remove %s: %s", id, path, strerror(errno));
    }
    if (util_rm_rf(dir) < 0)
        log_warn("sandbox %s: remove %s: %s", id, dir, strerror(errno));
}

static int make_dirs(struct sandbox *sb, char *err, int errlen)
{
    static const char *const sub[] = {"upper", "work", "rootfs"};
    unsigned uid = sb->rec.uid_shift;
    char path[PATH_MAX];
    size_t i;

    /* 0711: the sandbox's root (an unprivileged host uid) must traverse it to reach
     * its layers, but must not list or read state.json / console.log. */
    if (mkdir(sb->dir, 0711) < 0) {
        snprintf(err, (size_t)errlen, "mkdir %s: %s", sb->dir, strerror(errno));
        return -1;
    }
    if (disk_quota_apply(sb->dir, sb->rec.disk_mb, err, errlen) < 0)
        return -1;
    for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
        if (util_fmt(path, sizeof(path), "%s/%s", sb->dir, sub[i]) < 0 ||
            mkdir(path, 0755) < 0 || chown(path, uid, uid) < 0) {
            snprintf(err, (size_t)errlen, "prepare %s: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static void free_sandbox(struct sandbox *sb)
{
    if (sb->client_ev)
        event_free(sb->client_ev);
    if (sb->exit_ev)
        event_free(sb->exit_ev);
    if (sb->kill_timer)
        event_free(sb->kill_timer);
    envd_probe_cancel(sb->probe);
    if (sb->pidfd >= 0)
        close(sb->pidfd);
    free(sb);
}

/* The end of every sandbox: resources gone, replies sent, memory freed. */
static void finalize(struct sandbox *sb)
{
    struct worker *w = sb->w;
    int i;

    release_resources(sb->rec.id, sb->rec.slot, sb->dir);
    slots_release(&w->slots, sb->rec.slot);
    node_registry_sandbox_gone(w->reg, sb->rec.id);
    table_remove(w, sb);
    log_info("sandbox %s destroyed", sb->rec.id);
    if (sb->create_http)
        api_reply_error(take_create_http(sb), 500,
                        sb->fail_msg[0] ? sb->fail_msg : "sandbox ended during creation");
    for (i = 0; i < sb->n_del; i++)
        api_reply_json(sb->del_http[i], 204, NULL);
    free_sandbox(sb);
}

static void reap(struct sandbox *sb)
{
    if (!sb->is_child || sb->rec.pid <= 0)
        return;
    /* Reaping releases the zombie, which cgroup v1 still counts as a member. */
    while (waitpid(sb->rec.pid, NULL, WNOHANG) < 0 && errno == EINTR)
        ;
}

static void on_kill_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sandbox *sb = arg;

    (void)fd;
    (void)what;
    log_error("sandbox %s: init %d still alive %d ms after SIGKILL; cleaning up anyway",
              sb->rec.id, (int)sb->rec.pid, KILL_GRACE_MS);
    finalize(sb);
}

/* Begin the end. The rest happens in on_exit_ev (or right here if nothing runs). */
static void kill_sandbox(struct sandbox *sb)
{
    struct timeval tv = {KILL_GRACE_MS / 1000, (suseconds_t)(KILL_GRACE_MS % 1000) * 1000};

    if (sb->rec.state == SB_KILLING)
        return;
    sb->rec.state = SB_KILLING;
    envd_probe_cancel(sb->probe);
    sb->probe = NULL;
    /* Persist "killing" first: if the worker dies now, the next one finishes this. */
    if (state_save(sb->dir, &sb->rec) < 0)
        log_warn("sandbox %s: save state: %s", sb->rec.id, strerror(errno));
    if (sb->pidfd < 0) {
        finalize(sb);
        return;
    }
    /* Frozen tasks do not die until thawed: thaw a paused sandbox first. */
    if (cgroup_freeze(sb->rec.id, 0) < 0 && errno != ENOENT)
        log_warn("sandbox %s: thaw before kill: %s", sb->rec.id, strerror(errno));
    /* SIGKILL to the pid namespace's init makes the kernel kill every process in it. */
    if (pidfd_kill(sb->pidfd) < 0 && errno != ESRCH)
        log_warn("sandbox %s: kill: %s", sb->rec.id, strerror(errno));
    sb->kill_timer = evtimer_new(sb->w->base, on_kill_timeout, sb);
    if (sb->kill_timer)
        evtimer_add(sb->kill_timer, &tv);
}

static void on_exit_ev(evutil_socket_t fd, short what, void *arg)
{
    struct sandbox *sb = arg;

    (void)fd;
    (void)what;
    reap(sb);
    if (sb->rec.state != SB_KILLING) {
        log_warn("sandbox %s: init exited on its own (%s); cleaning up", sb->rec.id,
                 sb_state_name(sb->rec.state));
        if (sb->rec.state == SB_CREATING && !sb->fail_msg[0])
            snprintf(sb->fail_msg, sizeof(sb->fail_msg),
                     "sandbox init exited during startup");
    }
    finalize(sb);
}

static int watch_exit(struct sandbox *sb)
{
    /* Not EV_PERSIST: a dead process's pidfd stays readable; one shot is enough. */
    sb->exit_ev = event_new(sb->w->base, sb->pidfd, EV_READ, on_exit_ev, sb);
    if (!sb->exit_ev || event_add(sb->exit_ev, NULL) < 0)
        return -1;
    return 0;
}

void sandbox_delete(struct sandbox *sb, struct evhttp_request *http)
{
    if (http) {
        if (sb->n_del == MAX_PENDING_DELETES) {
            api_reply_error(http, 503, "too many concurrent deletes of this sandbox");
            return;
        }
        sb->del_http[sb->n_del++] = http;
    }
    if (sb->rec.state == SB_CREATING && !sb->fail_msg[0])
        snprintf(sb->fail_msg, sizeof(sb->fail_msg),
                 "sandbox was deleted during creation");
    kill_sandbox(sb);
}

/* ---- create ----------------------------------------------------------------------- */

static int spawn_placed(pid_t pid, void *ctx, char *err, int errlen)
{
    struct sandbox *sb = ctx;

    if (cgroup_attach(sb->rec.id, pid) < 0) {
        snprintf(err, (size_t)errlen, "cgroup attach failed");
        return -1;
    }
    return 0;
}

static int spawn_wired(pid_t pid, void *ctx, char *err, int errlen)
{
    struct sandbox *sb = ctx;

    return netns_setup(sb->rec.slot, pid, err, errlen);
}

static void on_envd_done(int ok, const char *err, void *ctx)
{
    struct sandbox *sb = ctx;

    sb->probe = NULL;
    if (!ok) {
        log_error("sandbox %s: %s", sb->rec.id, err);
        snprintf(sb->fail_msg, sizeof(sb->fail_msg), "%s", err);
        kill_sandbox(sb);
        return;
    }
    sb->rec.state = SB_RUNNING;
    if (state_save(sb->dir, &sb->rec) < 0) {
        snprintf(sb->fail_msg, sizeof(sb->fail_msg), "save state: %s", strerror(errno));
        kill_sandbox(sb);
        return;
    }
    node_registry_sandbox_up(sb->w->reg, &sb->rec);
    log_info("sandbox %s running (template %s, %s, pid %d) in %lld ms", sb->rec.id,
             sb->rec.template_id, sb->rec.address, (int)sb->rec.pid,
             (long long)(cube_monotonic_ms() - sb->t0));
    if (sb->create_http)
        api_reply_json(take_create_http(sb), 201, state_api_json(&sb->rec));
}

static const struct template *resolve_template(struct worker *w, const char *ref)
{
    const struct template *t = template_find(&w->templates, ref);

    if (t)
        return t;
    /* Templates can be built while the worker runs: rescan on a miss. */
    template_scan(&w->templates, w->cfg.template_dir);
    node_registry_templates_changed(w->reg);
    return template_find(&w->templates, ref);
}

int sandbox_create(struct worker *w, struct create_req *req, struct evhttp_request *http,
                   char *err, int errlen)
{
    char init_path[] = "/.cube/bin/cube-init";
    char envd_path[] = "/.cube/bin/cube-envd";
    char *init_argv[] = {init_path, envd_path, NULL};
    const struct template *t;
    struct ns_spawn_cfg sc;
    struct sandbox *sb;
    char *body = NULL;
    int console = -1, status = 500;
    char path[PATH_MAX];

    if (w->shutting_down) {
        snprintf(err, (size_t)errlen, "worker is shutting down");
        status = 503;
        goto out_req;
    }
    if (w->count >= w->cfg.capacity) {
        snprintf(err, (size_t)errlen, "node is full (%d sandboxes)", w->count);
        status = 503;
        goto out_req;
    }
    if (sandbox_find(w, req->sandbox_id)) {
        snprintf(err, (size_t)errlen, "sandbox %s already exists", req->sandbox_id);
        status = 409;
        goto out_req;
    }
    t = resolve_template(w, req->template_ref);
    if (!t) {
        snprintf(err, (size_t)errlen, "template %s not found", req->template_ref);
        status = 404;
        goto out_req;
    }

    sb = calloc(1, sizeof(*sb));
    if (!sb) {
        snprintf(err, (size_t)errlen, "out of memory");
        goto out_req;
    }
    sb->w = w;
    sb->pidfd = -1;
    sb->t0 = cube_monotonic_ms();
    snprintf(sb->rec.id, sizeof(sb->rec.id), "%s", req->sandbox_id);
    snprintf(sb->rec.template_id, sizeof(sb->rec.template_id), "%s", t->id);
    snprintf(sb->rec.alias, sizeof(sb->rec.alias), "%s", t->alias);
    snprintf(sb->rec.envd_version, sizeof(sb->rec.envd_version), "%s", t->envd_version);
    sb->rec.cpu = req->cpu ? req->cpu : t->cpu;
    sb->rec.mem_mb = req->mem_mb ? req->mem_mb : t->mem_mb;
    sb->rec.disk_mb = t->disk_mb;
    sb->rec.uid_shift = t->uid_shift;
    sb->rec.created_ms = cube_now_ms();
    sb->rec.state = SB_CREATING;
    if (sandbox_dir(w, sb->rec.id, sb->dir, sizeof(sb->dir)) < 0) {
        snprintf(err, (size_t)errlen, "state dir path too long");
        free(sb);
        goto out_req;
    }
    if (access(sb->dir, F_OK) == 0) {
        /* Not in the table but on disk: a previous one is still being removed. */
        snprintf(err, (size_t)errlen, "sandbox %s already exists", req->sandbox_id);
        free(sb);
        status = 409;
        goto out_req;
    }
    sb->rec.slot = slots_alloc(&w->slots);
    if (sb->rec.slot < 0) {
        snprintf(err, (size_t)errlen, "no free network slot");
        free(sb);
        status = 503;
        goto out_req;
    }
    slot_sandbox_addr(sb->rec.slot, sb->rec.address);

    /* From here on every failure goes through release_resources. The state file is
     * written before anything outside the directory exists, so a crash at any later
     * point is cleaned up by the next start. */
    if (make_dirs(sb, err, errlen) < 0)
        goto fail;
    if (state_save(sb->dir, &sb->rec) < 0) {
        snprintf(err, (size_t)errlen, "save state: %s", strerror(errno));
        goto fail;
    }
    if (cgroup_create(sb->rec.id, sb->rec.cpu, sb->rec.mem_mb, CGROUP_PIDS_MAX, err,
                      errlen) < 0)
        goto fail;
    /* init's stdout/stderr. Not rotated yet: envd is expected to log sparingly. */
    if (util_fmt(path, sizeof(path), "%s/console.log", sb->dir) < 0 ||
        (console = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                        0600)) < 0) {
        snprintf(err, (size_t)errlen, "open console log: %s", strerror(errno));
        goto fail;
    }

    memset(&sc, 0, sizeof(sc));
    sc.mnt.lower = t->rootfs;
    sc.mnt.sb_dir = sb->dir;
    sc.mnt.bin_dir = w->cfg.bin_dir;
    sc.mnt.hostname = sb->rec.id;
    sc.mnt.resolv_conf = w->resolv_conf;
    sc.uid_shift = t->uid_shift;
    sc.console_fd = console;
    sc.init_path = init_path;
    sc.init_argv = init_argv;
    sc.placed = spawn_placed;
    sc.wired = spawn_wired;
    sc.ctx = sb;
    if (ns_spawn(&sc, &sb->rec.pid, &sb->pidfd, err, errlen) < 0)
        goto fail;
    close(console);
    console = -1;
    sb->is_child = 1;
    if (util_proc_start_time(sb->rec.pid, &sb->rec.start_time) < 0) {
        snprintf(err, (size_t)errlen, "sandbox init vanished");
        goto fail_spawned;
    }
    if (state_save(sb->dir, &sb->rec) < 0) {
        snprintf(err, (size_t)errlen, "save state: %s", strerror(errno));
        goto fail_spawned;
    }
    if (watch_exit(sb) < 0) {
        snprintf(err, (size_t)errlen, "cannot watch sandbox init");
        goto fail_spawned;
    }
    body = create_req_init_body(req, t->id);
    sb->probe = body ? envd_probe_start(w->base, sb->rec.address, ENVD_PORT, body,
                                        w->cfg.envd_timeout_ms, on_envd_done, sb)
                     : NULL;
    free(body);
    if (!sb->probe) {
        snprintf(err, (size_t)errlen, "cannot start envd probe");
        goto fail_spawned;
    }
    log_debug("sandbox %s spawned (pid %d) in %lld ms, waiting for envd", sb->rec.id,
              (int)sb->rec.pid, (long long)(cube_monotonic_ms() - sb->t0));
    table_add(w, sb);
    sb->create_http = http;
    watch_client(sb);
    create_req_free(req);
    return 0;

fail_spawned:
    /* Synchronous: the init is ours and its namespace is still tiny. */
    pidfd_kill(sb->pidfd);
    while (waitpid(sb->rec.pid, NULL, 0) < 0 && errno == EINTR)
        ;
fail:
    if (console >= 0)
        close(console);
    log_error("sandbox %s: create failed: %s", sb->rec.id, err);
    release_resources(sb->rec.id, sb->rec.slot, sb->dir);
    slots_release(&w->slots, sb->rec.slot);
    free_sandbox(sb);
    status = 500;
out_req:
    create_req_free(req);
    return status;
}

/* ---- startup, teardown ------------------------------------------------------------ */

/* pidfd of rec's init if it is still the same process (pid + start time), else -1. */
static int open_if_same(const struct sb_record *rec)
{
    unsigned long long st;
    int fd;

    if (rec->pid <= 1)
        return -1;
    fd = pidfd_open_(rec->pid);
    if (fd < 0)
        return -1;
    /* Checked after opening: from now on the pidfd pins this exact process. */
    if (util_proc_start_time(rec->pid, &st) < 0 || st != rec->start_time) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Kill a process we are not (or no longer) the parent of and wait for it, bounded. */
static void kill_and_wait(int pidfd, int timeout_ms)
{
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};

    if (pidfd_kill(pidfd) < 0 && errno != ESRCH)
        return;
    while (poll(&pfd, 1, timeout_ms) < 0 && errno == EINTR)
        ;
}

/* Tear down one on-disk sandbox synchronously. */
static void teardown_dir(struct worker *w, const char *id)
{
    struct sb_record rec;
    char dir[PATH_MAX];
    int fd;

    if (sandbox_dir(w, id, dir, sizeof(dir)) < 0)
        return;
    if (state_load(dir, &rec) < 0) {
        /* Crashed before the first state write: only the directory (and, to be safe,
         * anything named after the id) can exist. */
        log_warn("sandbox %s: no usable state.json; removing leftovers", id);
        release_resources(id, -1, dir);
        return;
    }
    fd = open_if_same(&rec);
    if (fd >= 0) {
        kill_and_wait(fd, KILL_GRACE_MS);
        close(fd);
    }
    release_resources(rec.id, rec.slot, dir);
    node_registry_sandbox_gone(w->reg, rec.id);
    log_info("sandbox %s torn down (was %s)", rec.id, sb_state_name(rec.state));
}

static int adopt(struct worker *w, const char *id)
{
    struct sandbox *sb;
    char dir[PATH_MAX];
    struct sb_record rec;
    int fd;

    if (sandbox_dir(w, id, dir, sizeof(dir)) < 0 || state_load(dir, &rec) < 0 ||
        strcmp(rec.id, id) != 0 || (rec.state != SB_RUNNING && rec.state != SB_PAUSED))
        return -1;
    fd = open_if_same(&rec);
    if (fd < 0)
        return -1;
    if (slots_reserve(&w->slots, rec.slot) < 0) {
        log_warn("sandbox %s: slot %d is outside this worker's range or taken", id,
                 rec.slot);
        close(fd);
        return -1;
    }
    sb = calloc(1, sizeof(*sb));
    if (!sb) {
        close(fd);
        slots_release(&w->slots, rec.slot);
        return -1;
    }
    sb->rec = rec;
    sb->w = w;
    sb->pidfd = fd;
    sb->is_child = 0; /* reparented when the previous worker exited */
    snprintf(sb->dir, sizeof(sb->dir), "%s", dir);
    if (watch_exit(sb) < 0) {
        slots_release(&w->slots, rec.slot);
        free_sandbox(sb);
        return -1;
    }
    table_add(w, sb);
    log_info("sandbox %s re-adopted (pid %d, %s)", id, (int)rec.pid, rec.address);
    return 0;
}

static void sweep_cb(const char *id, void *ctx)
{
    struct worker *w = ctx;
    char dir[PATH_MAX];

    if (sandbox_find(w, id))
        return;
    /* A cgroup with a state dir belongs to a sandbox being torn down elsewhere in
     * this pass; without one it is an orphan. */
    if (sandbox_dir(w, id, dir, sizeof(dir)) == 0 && access(dir, F_OK) == 0)
        return;
    log_info("sweep: removing orphaned cgroup %s", id);
    cgroup_destroy(id);
}

void sandbox_sweep(struct worker *w)
{
    cgroup_foreach(sweep_cb, w);
}

/* Sandbox ids in the state dir, collected first so the directory is not modified
 * while it is being read. Caller frees. */
static char **list_ids(struct worker *w, int *n_out)
{
    char **ids = NULL;
    struct dirent *de;
    int n = 0, cap = 0;
    DIR *d;

    *n_out = 0;
    d = opendir(w->sandboxes_dir);
    if (!d)
        return NULL;
    while ((de = readdir(d)) != NULL) {
        if (!cube_id_valid(de->d_name, CUBE_SANDBOX_ID_LEN))
            continue;
        if (n == cap) {
            char **nids = realloc(ids, sizeof(*ids) * (size_t)(cap ? cap * 2 : 64));
            if (!nids)
                break;
            ids = nids;
            cap = cap ? cap * 2 : 64;
        }
        ids[n] = strdup(de->d_name);
        if (ids[n])
            n++;
    }
    closedir(d);
    *n_out = n;
    return ids;
}

void sandbox_adopt_all(struct worker *w)
{
    int i, n, adopted = 0, removed = 0;
    char **ids = list_ids(w, &n);

    for (i = 0; i < n; i++) {
        if (adopt(w, ids[i]) == 0) {
            adopted++;
        } else {
            teardown_dir(w, ids[i]);
            removed++;
        }
        free(ids[i]);
    }
    free(ids);
    sandbox_sweep(w);
    log_info("startup: %d sandbox(es) re-adopted, %d half-made or dead removed", adopted,
             removed);
}

int sandbox_teardown_all(struct worker *w)
{
    int i, n;
    char **ids = list_ids(w, &n);

    for (i = 0; i < n; i++) {
        teardown_dir(w, ids[i]);
        free(ids[i]);
    }
    free(ids);
    sandbox_sweep(w);
    cgroup_remove_parent();
    log_info("teardown: %d sandbox(es) removed", n);
    return 0;
}

void sandbox_release_all(struct worker *w)
{
    while (w->sandboxes) {
        struct sandbox *sb = w->sandboxes;

        w->sandboxes = sb->next;
        w->count--;
        /* A create in flight stays "creating" on disk; the next start removes it. */
        if (sb->create_http)
            api_reply_error(take_create_http(sb), 503, "worker is shutting down");
        for (int i = 0; i < sb->n_del; i++)
            api_reply_error(sb->del_http[i], 503, "worker is shutting down");
        free_sandbox(sb);
    }
}

/* ---- pause / resume ---------------------------------------------------------------- */

static int set_frozen(struct sandbox *sb, int frozen, char *err, int errlen)
{
    enum sb_state from = frozen ? SB_RUNNING : SB_PAUSED;

    if (sb->rec.state != from) {
        snprintf(err, (size_t)errlen, "sandbox %s is %s", sb->rec.id,
                 sb_state_name(sb->rec.state));
        return 409;
    }
    if (cgroup_freeze(sb->rec.id, frozen) < 0) {
        snprintf(err, (size_t)errlen, "%s sandbox %s: %s", frozen ? "freeze" : "thaw",
                 sb->rec.id, strerror(errno));
        /* Never leave it half frozen behind a "running" state. */
        if (frozen)
            cgroup_freeze(sb->rec.id, 0);
        return 500;
    }
    sb->rec.state = frozen ? SB_PAUSED : SB_RUNNING;
    /* Persisted so a restarted worker re-adopts it in the right state. */
    if (state_save(sb->dir, &sb->rec) < 0)
        log_warn("sandbox %s: save state: %s", sb->rec.id, strerror(errno));
    log_info("sandbox %s %s", sb->rec.id, frozen ? "paused" : "resumed");
    return 0;
}

int sandbox_pause(struct sandbox *sb, char *err, int errlen)
{
    return set_frozen(sb, 1, err, errlen);
}

int sandbox_resume(struct sandbox *sb, char *err, int errlen)
{
    return set_frozen(sb, 0, err, errlen);
}
