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
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "cube_chan.h"
#include "cube_log.h"
#include "cube_time.h"
#include "envd_client.h"
#include "net_policy.h"
#include "node_registry.h"
#include "ns_spawn.h"
#include "spawner.h"
#include "util.h"
#include "worker_api.h"

#define KILL_GRACE_MS 10000 /* after SIGKILL, how long until we give up waiting */
#define MAX_PENDING_DELETES 8
#define RETRY_AFTER_FAILURES 3 /* consecutive failed prepares before backing off */
#define RETRY_MIN_MS 100       /* pool refill backoff after failed prepares ... */
#define RETRY_MAX_MS 5000      /* ... doubling up to this */
/* A claim's refill waits for a pause in claims this long (see pool_refill_after_claim),
 * unless the pool is down to a quarter of its size. */
#define REFILL_PAUSE_MS 100
/* Claim steps timed for the debug log: start, init sent, "creating" saved, limits,
 * egress policy, hostname, "running" saved. */
#define CLAIM_STEPS 7
/* Pooled sandboxes a create tries whose envd turns out to be gone (see claim_init). */
#define CLAIM_TRIES 3

struct pool;

struct sandbox {
    struct sb_record rec;
    struct worker *w;
    char dir[PATH_MAX];
    int pidfd;             /* -1 until the spawner delivered it */
    int mntns_fd;          /* holds its mount namespace (hold_mntns), or -1 */
    int layer_fd;          /* its writable layer's detached mount (layer_pool.h), or -1 */
    struct event *exit_ev; /* pidfd readable = init exited */
    struct event *kill_timer;
    struct envd_probe *probe; /* POST /init of a re-adopted pooled sandbox */
    struct envd_chan *chan;   /* envd channel, from spawn until claimed */
    struct pool *pool;        /* while being prepared for, or waiting in, a pool */
    int pool_ready;           /* in pool->ready (else, with pool set: being prepared) */
    int in_table;             /* handed out: in w->sandboxes, has an API id */
    int warm;                 /* taken from a ready pool (for logs) */
    int init_sent;            /* the claim's init went over the channel */
    struct evhttp_request *create_http; /* pending POST reply */
    struct event *client_ev;            /* EV_CLOSED on that request's connection */
    char fail_msg[256];                 /* why a pending create failed */
    struct evhttp_request *del_http[MAX_PENDING_DELETES];
    int n_del;
    int64_t t0;                    /* monotonic ms at create start, for latency logs */
    int64_t kill_us, gone_us;      /* when killed, when init was gone (µs, for logs) */
    int64_t claim_us[CLAIM_STEPS]; /* when each claim step ended (µs, debug logs) */
    struct sandbox *next;          /* w->sandboxes, or its pool's ready list */
    struct sandbox *all_next;
};

/* A create waiting for its template's next prepared sandbox. */
struct waiter {
    struct worker *w;
    struct pool *pool;
    struct create_req req;
    struct evhttp_request *http;
    struct event *client_ev;
    int64_t t0;
    struct waiter *next;
};

struct pool {
    char template_id[TEMPLATE_REF_MAX + 1];
    int size;      /* ready sandboxes to keep */
    int preparing; /* sandboxes being made for this pool */
    struct sandbox *ready;
    int n_ready;
    struct waiter *wait_head, *wait_tail;
    int n_wait;
    int failures;               /* consecutive failed prepares */
    struct event *retry;        /* backoff timer; pending = do not refill now */
    struct event *after_claims; /* pool_refill_after_claim's timer */
    struct worker *w;
    struct pool *next;
};

static void on_exit_ev(evutil_socket_t fd, short what, void *arg);
static void kill_sandbox(struct sandbox *sb);
static void pool_refill(struct worker *w, struct pool *p);
static int claim_init(struct sandbox *sb, const struct create_req *req);
static void claim(struct sandbox *sb, struct create_req *req, struct evhttp_request *http,
                  int64_t t0);

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_kill(int pidfd)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
}

static int pidfd_alive(int pidfd)
{
    return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
}

static int sandbox_dir(struct worker *w, const char *name, char *out, size_t len)
{
    return util_fmt(out, len, "%s/%s", w->sandboxes_dir, name);
}

/* ---- client watches --------------------------------------------------------------- */

/* evhttp does not read from a connection while the application holds its request, so
 * it would not notice a client hanging up (gateway timeout, Ctrl-C); hence a separate
 * EV_CLOSED watch (EPOLLRDHUP) on the connection's fd. */
static struct event *watch_conn(struct worker *w, struct evhttp_request *http,
                                event_callback_fn cb, void *arg)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(http);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    struct event *ev;

    if (fd < 0)
        return NULL;
    ev = event_new(w->base, fd, EV_CLOSED, cb, arg);
    if (ev && event_add(ev, NULL) < 0) {
        event_free(ev);
        ev = NULL;
    }
    return ev;
}

/* The create's client went away: nobody will learn about this sandbox, so it must not
 * survive. */
static void on_client_gone(evutil_socket_t fd, short what, void *arg)
{
    struct sandbox *sb = arg;

    (void)fd;
    (void)what;
    log_warn("sandbox %s: client went away during creation; destroying it", sb->rec.id);
    snprintf(sb->fail_msg, sizeof(sb->fail_msg), "client went away");
    kill_sandbox(sb);
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

/* ---- tables ----------------------------------------------------------------------- */

struct sandbox *sandbox_find(struct worker *w, const char *id)
{
    struct sandbox *sb;

    for (sb = w->sandboxes; sb; sb = sb->next) {
        if (strcmp(sb->rec.id, id) == 0)
            return sb;
    }
    return NULL;
}

static struct sandbox *find_instance(struct worker *w, const char *inst)
{
    struct sandbox *sb;

    for (sb = w->all; sb; sb = sb->all_next) {
        if (strcmp(sb->rec.inst, inst) == 0)
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
    sb->in_table = 1;
}

static void table_remove(struct worker *w, struct sandbox *sb)
{
    struct sandbox **pp;

    for (pp = &w->sandboxes; *pp; pp = &(*pp)->next) {
        if (*pp == sb) {
            *pp = sb->next;
            w->count--;
            sb->in_table = 0;
            return;
        }
    }
}

static void all_add(struct worker *w, struct sandbox *sb)
{
    sb->all_next = w->all;
    w->all = sb;
}

static void all_remove(struct worker *w, struct sandbox *sb)
{
    struct sandbox **pp;

    for (pp = &w->all; *pp; pp = &(*pp)->all_next) {
        if (*pp == sb) {
            *pp = sb->all_next;
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

/* ---- pools ------------------------------------------------------------------------ */

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

static int template_pool_size(const struct worker *w, const struct template *t)
{
    return t->pool_size >= 0 ? t->pool_size : w->cfg.pool_size;
}

static void on_retry(evutil_socket_t fd, short what, void *arg);
static void on_claims_paused(evutil_socket_t fd, short what, void *arg);

static struct pool *pool_get(struct worker *w, const struct template *t)
{
    struct pool *p;

    for (p = w->pools; p; p = p->next) {
        if (strcmp(p->template_id, t->id) == 0) {
            p->size = template_pool_size(w, t);
            return p;
        }
    }
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    snprintf(p->template_id, sizeof(p->template_id), "%s", t->id);
    p->size = template_pool_size(w, t);
    p->w = w;
    p->retry = evtimer_new(w->base, on_retry, w);
    p->after_claims = evtimer_new(w->base, on_claims_paused, p);
    if (!p->retry || !p->after_claims) {
        if (p->retry)
            event_free(p->retry);
        if (p->after_claims)
            event_free(p->after_claims);
        free(p);
        return NULL;
    }
    p->next = w->pools;
    w->pools = p;
    return p;
}

static void pool_push_ready(struct pool *p, struct sandbox *sb)
{
    sb->pool = p;
    sb->pool_ready = 1;
    sb->next = p->ready;
    p->ready = sb;
    p->n_ready++;
}

static struct sandbox *pool_pop_ready(struct pool *p)
{
    struct sandbox *sb = p->ready;

    if (sb) {
        p->ready = sb->next;
        p->n_ready--;
        sb->next = NULL;
        sb->pool = NULL;
        sb->pool_ready = 0;
    }
    return sb;
}

/* Take sb out of its pool, whatever it was doing there. Returns 1 if it was still
 * being prepared (so its end is a failed prepare). */
static int pool_detach(struct sandbox *sb)
{
    struct pool *p = sb->pool;
    struct sandbox **pp;

    if (!p)
        return 0;
    sb->pool = NULL;
    if (!sb->pool_ready) {
        p->preparing--;
        return 1;
    }
    sb->pool_ready = 0;
    for (pp = &p->ready; *pp; pp = &(*pp)->next) {
        if (*pp == sb) {
            *pp = sb->next;
            p->n_ready--;
            break;
        }
    }
    sb->next = NULL;
    return 0;
}

static void waiter_free(struct waiter *wt)
{
    if (wt->client_ev)
        event_free(wt->client_ev);
    create_req_free(&wt->req);
    free(wt);
}

static void waiter_unlink(struct waiter *wt)
{
    struct pool *p = wt->pool;
    struct waiter **pp, *prev = NULL;

    for (pp = &p->wait_head; *pp; prev = *pp, pp = &(*pp)->next) {
        if (*pp == wt) {
            *pp = wt->next;
            if (p->wait_tail == wt)
                p->wait_tail = prev;
            p->n_wait--;
            return;
        }
    }
}

static void waiter_fail(struct waiter *wt, int status, const char *msg)
{
    waiter_unlink(wt);
    log_error("create %s failed: %s", wt->req.sandbox_id, msg);
    api_reply_error(wt->http, status, msg);
    waiter_free(wt);
}

static void on_waiter_gone(evutil_socket_t fd, short what, void *arg)
{
    struct waiter *wt = arg;

    (void)fd;
    (void)what;
    log_warn("create %s: client went away while waiting for a sandbox",
             wt->req.sandbox_id);
    waiter_fail(wt, 500, "client went away");
}

static int waiting_total(const struct worker *w)
{
    const struct pool *p;
    int n = 0;

    for (p = w->pools; p; p = p->next)
        n += p->n_wait;
    return n;
}

/* A prepared sandbox is ready: the oldest waiter gets it, else the pool keeps it. */
static void pool_offer(struct worker *w, struct pool *p, struct sandbox *sb)
{
    struct waiter *wt = p->wait_head;

    if (!wt) {
        pool_push_ready(p, sb);
        return;
    }
    /* envd died since it said ready: the waiter keeps its place for the next one. */
    if (claim_init(sb, &wt->req) < 0) {
        pool_refill(w, p);
        return;
    }
    waiter_unlink(wt);
    if (wt->client_ev) {
        event_free(wt->client_ev);
        wt->client_ev = NULL;
    }
    claim(sb, &wt->req, wt->http, wt->t0);
    free(wt); /* req now belongs to the claim */
}

/* A prepare failed: the oldest waiter learns why (cold creates report errors rather
 * than hang), and refills back off so a broken template does not spin. */
static void pool_failed(struct worker *w, struct pool *p, const char *why)
{
    struct timeval tv;
    int ms;

    p->failures++;
    /* One failure on a loaded node (a slow envd start) is no reason to stop or to fail
     * a create: the next sandbox prepared goes to it. A run of them means the template
     * is broken: the oldest waiting create learns why and refills back off. */
    if (p->failures < RETRY_AFTER_FAILURES) {
        log_warn("template %s: a sandbox failed to start (%s); preparing another",
                 p->template_id, why);
        pool_refill(w, p);
        return;
    }
    if (p->wait_head)
        waiter_fail(p->wait_head, 500, why);
    ms = RETRY_MIN_MS << (p->failures - RETRY_AFTER_FAILURES < 5
                              ? p->failures - RETRY_AFTER_FAILURES
                              : 5);
    if (ms > RETRY_MAX_MS)
        ms = RETRY_MAX_MS;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    if (!w->shutting_down)
        evtimer_add(p->retry, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct pool *p;

    (void)fd;
    (void)what;
    /* Every pool, including those of size 0 that only serve waiting creates. */
    for (p = w->pools; p; p = p->next)
        pool_refill(w, p);
}

/* ---- prepare ---------------------------------------------------------------------- */

static void free_sandbox(struct sandbox *sb)
{
    if (sb->client_ev)
        event_free(sb->client_ev);
    if (sb->exit_ev)
        event_free(sb->exit_ev);
    if (sb->kill_timer)
        event_free(sb->kill_timer);
    envd_probe_cancel(sb->probe);
    envd_chan_free(sb->chan);
    if (sb->pidfd >= 0)
        close(sb->pidfd);
    if (sb->mntns_fd >= 0)
        close(sb->mntns_fd);
    if (sb->layer_fd >= 0)
        close(sb->layer_fd);
    free(sb);
}

/* Keep a reference to the sandbox's mount namespace. Without it the last of the
 * sandbox's processes to exit unmounts everything (the writable layer's ext4 writes
 * back and its loop device detaches) before init can be reaped, which made a delete
 * wait ~3 ms longer; with it, the release job does that in a spawner
 * (spawners_submit), after the delete is answered. Best effort: without the reference
 * the kernel still unmounts it all. The pidfd check after opening proves the pid was
 * still the sandbox's. */
static void hold_mntns(struct sandbox *sb)
{
    char path[64];

    (void)snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)sb->rec.pid);
    sb->mntns_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (sb->mntns_fd >= 0 && pidfd_alive(sb->pidfd))
        return;
    if (sb->mntns_fd >= 0)
        close(sb->mntns_fd);
    sb->mntns_fd = -1;
}

static int watch_exit(struct sandbox *sb)
{
    /* Not EV_PERSIST: a dead process's pidfd stays readable; one shot is enough. */
    sb->exit_ev = event_new(sb->w->base, sb->pidfd, EV_READ, on_exit_ev, sb);
    if (!sb->exit_ev || event_add(sb->exit_ev, NULL) < 0)
        return -1;
    return 0;
}

/* envd is up: the sandbox joins its pool (or goes to the oldest waiting create). */
static void prepared(struct sandbox *sb)
{
    struct pool *p = sb->pool;

    sb->rec.state = SB_POOLED;
    if (state_save(sb->dir, &sb->rec) < 0) {
        snprintf(sb->fail_msg, sizeof(sb->fail_msg), "save state: %s", strerror(errno));
        kill_sandbox(sb);
        return;
    }
    p->preparing--;
    p->failures = 0;
    sb->pool = NULL;
    log_debug("sandbox %s prepared in %lld ms", sb->rec.inst,
              (long long)(cube_monotonic_ms() - sb->t0));
    pool_offer(sb->w, p, sb);
}

static void on_chan(enum envd_chan_event ev, const char *err, void *ctx)
{
    struct sandbox *sb = ctx;

    if (ev == ENVD_CHAN_READY) {
        prepared(sb);
        return;
    }
    envd_chan_free(sb->chan);
    sb->chan = NULL;
    if (sb->pool_ready)
        log_warn("pooled sandbox %s: %s; replacing it", sb->rec.inst, err);
    else
        log_error("sandbox %s: %s", sb->rec.inst, err);
    snprintf(sb->fail_msg, sizeof(sb->fail_msg), "%s", err);
    kill_sandbox(sb);
}

static void on_spawned(const struct prep_result *res, const struct prep_fds *fds,
                       void *ctx)
{
    struct sandbox *sb = ctx;
    struct worker *w = sb->w;
    struct pool *p = sb->pool;
    int pidfd = fds->pidfd, chanfd = fds->chanfd;

    if (res->status < 0 || pidfd < 0) {
        /* The spawner removed whatever it had made. */
        prep_fds_close(fds);
        pool_detach(sb);
        slots_release(&w->slots, sb->rec.slot);
        all_remove(w, sb);
        free_sandbox(sb);
        pool_failed(w, p, res->err[0] ? res->err : "sandbox preparation failed");
        return;
    }
    sb->pidfd = pidfd;
    sb->layer_fd = fds->layerfd;
    sb->rec.pid = res->pid;
    sb->rec.start_time = res->start_time;
    hold_mntns(sb);
    if (watch_exit(sb) < 0 || chanfd < 0) {
        if (chanfd >= 0)
            close(chanfd);
        snprintf(sb->fail_msg, sizeof(sb->fail_msg),
                 chanfd < 0 ? "no envd channel" : "cannot watch sandbox init");
        kill_sandbox(sb);
        return;
    }
    /* envd says when it listens; the same channel later carries the init. */
    sb->chan = envd_chan_watch(w->base, chanfd, w->cfg.envd_timeout_ms, on_chan, sb);
    if (!sb->chan) {
        snprintf(sb->fail_msg, sizeof(sb->fail_msg), "cannot watch the envd channel");
        kill_sandbox(sb);
    }
}

/* Start making one sandbox for p. -1 when no slot is free or on OOM. */
static int prepare_one(struct worker *w, struct pool *p, const struct template *t)
{
    static struct prep_job job; /* ~8.5 KB: not on the stack */
    struct sandbox *sb = calloc(1, sizeof(*sb));

    if (!sb)
        return -1;
    sb->w = w;
    sb->pidfd = -1;
    sb->mntns_fd = -1;
    sb->layer_fd = -1;
    sb->t0 = cube_monotonic_ms();
    if (cube_id_generate(sb->rec.inst, CUBE_SANDBOX_ID_LEN, 'p') < 0) {
        free(sb);
        return -1;
    }
    memcpy(sb->rec.id, sb->rec.inst, sizeof(sb->rec.id));
    snprintf(sb->rec.template_id, sizeof(sb->rec.template_id), "%s", t->id);
    snprintf(sb->rec.alias, sizeof(sb->rec.alias), "%s", t->alias);
    snprintf(sb->rec.envd_version, sizeof(sb->rec.envd_version), "%s", t->envd_version);
    sb->rec.cpu = t->cpu;
    sb->rec.mem_mb = t->mem_mb;
    sb->rec.disk_mb = t->disk_mb;
    sb->rec.uid_shift = t->uid_shift;
    sb->rec.created_ms = cube_now_ms();
    sb->rec.state = SB_CREATING;
    if (sandbox_dir(w, sb->rec.inst, sb->dir, sizeof(sb->dir)) < 0) {
        free(sb);
        return -1;
    }
    sb->rec.slot = slots_alloc(&w->slots);
    if (sb->rec.slot < 0) {
        free(sb);
        return -1;
    }
    slot_sandbox_addr(sb->rec.slot, sb->rec.address);

    memset(&job, 0, sizeof(job));
    job.kind = PREP_SPAWN;
    /* Sandboxes beyond those already on their way go to waiting creates. */
    job.urgent = p->n_wait > p->preparing;
    job.rec = sb->rec;
    snprintf(job.dir, sizeof(job.dir), "%s", sb->dir);
    snprintf(job.rootfs, sizeof(job.rootfs), "%s", t->rootfs);
    if (spawners_submit(w->spawners, &job, -1, -1, on_spawned, sb) < 0) {
        slots_release(&w->slots, sb->rec.slot);
        free(sb);
        return -1;
    }
    sb->pool = p;
    p->preparing++;
    all_add(w, sb);
    return 0;
}

static void pool_refill(struct worker *w, struct pool *p)
{
    const struct template *t;
    int want;

    if (w->shutting_down || evtimer_pending(p->retry, NULL))
        return;
    t = template_find(&w->templates, p->template_id);
    if (!t) {
        while (p->wait_head)
            waiter_fail(p->wait_head, 404, "template was removed");
        return;
    }
    p->size = template_pool_size(w, t);
    want = p->size + p->n_wait - p->n_ready - p->preparing;
    while (want-- > 0) {
        if (prepare_one(w, p, t) < 0) {
            /* Creates beyond what is on its way cannot be served. */
            while (p->n_wait > p->preparing)
                waiter_fail(p->wait_tail, 503, "no free network slot on this node");
            break;
        }
    }
}

static void on_claims_paused(evutil_socket_t fd, short what, void *arg)
{
    struct pool *p = arg;

    (void)fd;
    (void)what;
    pool_refill(p->w, p);
}

/* After a claim: the refill it calls for starts once claims pause for REFILL_PAUSE_MS
 * (every claim restarts the wait), so a burst of creates, and the first commands
 * callers run in what they got, do not share the CPU with preparing replacements
 * (~30 ms of CPU each on this host). A pool down to a quarter of its size, or with
 * creates waiting, refills at once: a long burst must not drain it. */
static void pool_refill_after_claim(struct worker *w, struct pool *p)
{
    struct timeval tv = {0, REFILL_PAUSE_MS * 1000};

    if (p->n_ready <= p->size / 4 || p->n_wait > 0 ||
        evtimer_add(p->after_claims, &tv) < 0)
        pool_refill(w, p);
}

void sandbox_pools_refill(struct worker *w)
{
    const struct template *t;
    struct pool *p;

    for (t = w->templates.head; t; t = t->next) {
        if (template_pool_size(w, t) > 0 && (p = pool_get(w, t)) != NULL)
            pool_refill(w, p);
    }
}

json_t *sandbox_pools_json(struct worker *w)
{
    json_t *arr = json_array();
    struct pool *p;
    int pooled = 0;

    for (p = w->pools; p; p = p->next) {
        json_array_append_new(
            arr, json_pack("{s:s, s:i, s:i, s:i, s:i, s:b}", "template", p->template_id,
                           "size", p->size, "ready", p->n_ready, "preparing",
                           p->preparing, "waiting", p->n_wait, "refillPending",
                           evtimer_pending(p->after_claims, NULL) != 0));
        pooled += p->n_ready + p->preparing;
    }
    return json_pack("{s:o, s:i, s:i, s:i}", "pools", arr, "pooled", pooled,
                     "spawnerJobs", w->spawners ? spawners_pending(w->spawners) : 0,
                     "freeLayers", w->spawners ? spawners_free_layers(w->spawners) : 0);
}

int sandbox_pooled_count(struct worker *w)
{
    struct pool *p;
    int n = 0;

    for (p = w->pools; p; p = p->next)
        n += p->n_ready + p->preparing;
    return n;
}

/* ---- the end of a sandbox --------------------------------------------------------- */

static void on_released(const struct prep_result *res, const struct prep_fds *fds,
                        void *ctx)
{
    struct sandbox *sb = ctx;
    struct worker *w = sb->w;
    int i;

    prep_fds_close(fds);
    if (!res || res->status < 0)
        prep_release(sb->rec.inst, sb->rec.slot, sb->dir, 1, -1); /* spawner died */
    else if (sb->rec.slot >= 0)
        net_policy_mark_clean(sb->rec.slot); /* the spawner cleared it, if it had one */
    slots_release(&w->slots, sb->rec.slot);
    all_remove(w, sb);
    if (sb->kill_us && sb->gone_us)
        log_info(
            "sandbox %s destroyed (init gone %lld us after the kill, released %lld us "
            "later)",
            sb->rec.id, (long long)(sb->gone_us - sb->kill_us),
            (long long)(now_us() - sb->gone_us));
    else
        log_info("sandbox %s destroyed", sb->rec.id);
    if (sb->create_http)
        api_reply_error(take_create_http(sb), 500,
                        sb->fail_msg[0] ? sb->fail_msg : "sandbox ended during creation");
    for (i = 0; i < sb->n_del; i++)
        api_reply_json(sb->del_http[i], 204, NULL);
    free_sandbox(sb);
}

/* Init is gone (init_gone), or would not die: hand the rest to a spawner. */
static void finalize(struct sandbox *sb, int init_gone)
{
    static struct prep_job job;
    static const struct prep_fds none = {-1, -1, -1};
    struct worker *w = sb->w;
    struct pool *p = sb->pool;
    int was_preparing = pool_detach(sb);
    int i;

    sb->gone_us = now_us();
    if (sb->in_table) {
        table_remove(w, sb);
        node_registry_sandbox_gone(w->reg, sb->rec.id);
    }
    if (sb->exit_ev) {
        event_free(sb->exit_ev);
        sb->exit_ev = NULL;
    }
    if (sb->kill_timer) {
        event_free(sb->kill_timer);
        sb->kill_timer = NULL;
    }
    envd_probe_cancel(sb->probe);
    sb->probe = NULL;
    envd_chan_free(sb->chan);
    sb->chan = NULL;
    if (sb->pidfd >= 0) {
        close(sb->pidfd);
        sb->pidfd = -1;
    }
    /* With init, the kernel has killed every process of the sandbox (its pid
     * namespace died): nothing of the caller's runs any more, so the delete is done.
     * What is left on the host (cgroups, layer image, veth, policy) the spawner
     * removes next; the slot stays taken and the spawner job counted (GET /pool)
     * until it has. Only a sandbox whose init would not die keeps its callers until
     * then. */
    if (init_gone) {
        for (i = 0; i < sb->n_del; i++)
            api_reply_json(sb->del_http[i], 204, NULL);
        sb->n_del = 0;
    }
    memset(&job, 0, sizeof(job));
    job.kind = PREP_RELEASE;
    job.rec = sb->rec;
    job.clear_policy = (uint32_t)net_policy_present(sb->rec.slot);
    snprintf(job.dir, sizeof(job.dir), "%s", sb->dir);
    /* The layer can serve another sandbox only if nothing of this one is left to
     * write to it. */
    if (!init_gone && sb->layer_fd >= 0) {
        close(sb->layer_fd);
        sb->layer_fd = -1;
    }
    if (w->spawners && spawners_submit(w->spawners, &job, sb->mntns_fd, sb->layer_fd,
                                       on_released, sb) == 0) {
        sb->mntns_fd = -1; /* the spawner closes it, and so does the unmounting */
        sb->layer_fd = -1;
    } else {
        on_released(NULL, &none, sb);
    }
    if (p && was_preparing)
        pool_failed(
            w, p, sb->fail_msg[0] ? sb->fail_msg : "sandbox init exited during startup");
    else if (p)
        pool_refill(w, p);
}

static void on_kill_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct sandbox *sb = arg;

    (void)fd;
    (void)what;
    log_error("sandbox %s: init %d still alive %d ms after SIGKILL; cleaning up anyway",
              sb->rec.id, (int)sb->rec.pid, KILL_GRACE_MS);
    finalize(sb, 0);
}

/* Begin the end. The rest happens in on_exit_ev (or right here if nothing runs). */
static void kill_sandbox(struct sandbox *sb)
{
    struct timeval tv = {KILL_GRACE_MS / 1000,
                         (suseconds_t)(KILL_GRACE_MS % 1000) * 1000};
    enum sb_state was = sb->rec.state;

    if (was == SB_KILLING)
        return;
    envd_probe_cancel(sb->probe);
    sb->probe = NULL;
    envd_chan_free(sb->chan);
    sb->chan = NULL;
    sb->kill_us = now_us();
    /* Persist "killing" first: if the worker dies now, the next one finishes this. */
    sb->rec.state = SB_KILLING;
    if (state_save(sb->dir, &sb->rec) < 0)
        log_warn("sandbox %s: save state: %s", sb->rec.id, strerror(errno));
    if (sb->pidfd < 0) {
        finalize(sb, 1);
        return;
    }
    /* Frozen tasks do not die until thawed. */
    if (was == SB_PAUSED && cgroup_freeze(sb->rec.inst, 0) < 0 && errno != ENOENT)
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
    if (sb->rec.state != SB_KILLING) {
        log_warn("sandbox %s: init exited on its own (%s); cleaning up", sb->rec.id,
                 sb_state_name(sb->rec.state));
        if (sb->rec.state == SB_CREATING && !sb->fail_msg[0])
            snprintf(sb->fail_msg, sizeof(sb->fail_msg),
                     "sandbox init exited during startup");
    }
    finalize(sb, 1);
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

/* ---- create: claim a prepared sandbox --------------------------------------------- */

/* envd has (or, over the channel, is sure to apply before anything else) the init: the
 * sandbox is the caller's. */
static void claimed(struct sandbox *sb)
{
    sb->rec.state = SB_RUNNING;
    if (state_save(sb->dir, &sb->rec) < 0) {
        snprintf(sb->fail_msg, sizeof(sb->fail_msg), "save state: %s", strerror(errno));
        kill_sandbox(sb);
        return;
    }
    node_registry_sandbox_up(sb->w->reg, &sb->rec);
    sb->claim_us[6] = now_us();
    if (sb->claim_us[0]) {
        const int64_t *c = sb->claim_us;

        log_debug("sandbox %s claimed in %lld us: init %lld, save %lld, limits %lld, "
                  "policy %lld, hostname %lld, save %lld",
                  sb->rec.id, (long long)(c[6] - c[0]), (long long)(c[1] - c[0]),
                  (long long)(c[2] - c[1]), (long long)(c[3] - c[2]),
                  (long long)(c[4] - c[3]), (long long)(c[5] - c[4]),
                  (long long)(c[6] - c[5]));
    }
    log_info("sandbox %s running (template %s, %s, pid %d) in %lld ms (%s)", sb->rec.id,
             sb->rec.template_id, sb->rec.address, (int)sb->rec.pid,
             (long long)(cube_monotonic_ms() - sb->t0), sb->warm ? "warm" : "cold");
    if (sb->create_http)
        api_reply_json(take_create_http(sb), 201, state_api_json(&sb->rec));
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
    claimed(sb);
}

/* The first step of a claim, before the create's id touches sb: envd gets the init
 * over the channel, queued before the 201 goes out, so envd has it before any request
 * the caller sends (envd/envd_chan.h). The send fails only if envd is gone: it died
 * after saying ready and the worker has not yet seen its channel close. Then sb is
 * removed and -1 tells the caller to take another sandbox. 0 otherwise, also when
 * there is nothing to send here (a re-adopted sandbox gets POST /init from claim) or
 * the init cannot be built (claim fails the create). */
static int claim_init(struct sandbox *sb, const struct create_req *req)
{
    const struct template *t = template_find(&sb->w->templates, sb->rec.template_id);
    struct envd_chan *chan = sb->chan;
    char err[256], *body;
    int rc;

    sb->claim_us[0] = now_us();
    if (!chan)
        return 0;
    body = create_req_init_body(req, t ? t->id : sb->rec.template_id);
    if (!body || strlen(body) >= CUBE_CHAN_MAX) {
        free(body);
        return 0;
    }
    sb->chan = NULL;
    rc = envd_chan_send_init(chan, body, err, sizeof(err));
    free(body);
    if (rc < 0) {
        log_warn("pooled sandbox %s: %s; the create takes another", sb->rec.inst, err);
        (void)snprintf(sb->fail_msg, sizeof(sb->fail_msg), "%s", err);
        kill_sandbox(sb);
        return -1;
    }
    sb->init_sent = 1;
    sb->claim_us[1] = now_us();
    return 0;
}

/* Make a pooled sandbox the one this create asked for, after claim_init. Everything
 * here is cheap (two state writes, a hostname, maybe two cgroup knobs) and
 * synchronous: the create is answered before this returns. Only a pooled sandbox a
 * restarted worker re-adopted (no channel) waits for envd's POST /init answer. The
 * state directory keeps its instance name (the cgroups are named by it too);
 * state.json maps the id to it. */
static void claim(struct sandbox *sb, struct create_req *req, struct evhttp_request *http,
                  int64_t t0)
{
    struct worker *w = sb->w;
    const struct template *t = template_find(&w->templates, sb->rec.template_id);
    char err[256];
    int cpu = req->cpu ? req->cpu : sb->rec.cpu;
    int mem = req->mem_mb ? req->mem_mb : sb->rec.mem_mb;
    char *body;

    sb->t0 = t0;
    if (!sb->init_sent)
        sb->claim_us[1] = now_us();
    sb->create_http = http;
    snprintf(sb->rec.id, sizeof(sb->rec.id), "%s", req->sandbox_id);
    sb->rec.created_ms = cube_now_ms();
    sb->rec.life = req->life;
    sb->rec.state = SB_CREATING;
    table_add(w, sb);
    err[0] = '\0';

    if (sb->chan) {
        (void)snprintf(err, sizeof(err),
                       "cannot build the init for envd (out of memory)");
        goto fail;
    }
    /* "creating" first: a worker that dies from here on tears this sandbox down on
     * restart instead of putting a half-personalised one back into the pool. */
    if (state_save(sb->dir, &sb->rec) < 0) {
        snprintf(err, sizeof(err), "save state: %s", strerror(errno));
        goto fail;
    }
    sb->claim_us[2] = now_us();
    if (cpu != sb->rec.cpu || mem != sb->rec.mem_mb) {
        if (cgroup_set_limits(sb->rec.inst, cpu, mem, CGROUP_PIDS_MAX, err, sizeof(err)) <
            0)
            goto fail;
        sb->rec.cpu = cpu;
        sb->rec.mem_mb = mem;
    }
    sb->claim_us[3] = now_us();
    /* Egress policy before anything of the caller's runs (and persisted with it). */
    sb->rec.net = req->net;
    if (net_policy_apply(sb->rec.slot, &sb->rec.net, err, sizeof(err)) < 0)
        goto fail;
    sb->claim_us[4] = now_us();
    if (prep_set_hostname(sb->pidfd, sb->rec.id, err, sizeof(err)) < 0)
        goto fail;
    sb->claim_us[5] = now_us();
    if (sb->init_sent) {
        create_req_free(req);
        claimed(sb);
        return;
    }
    body = create_req_init_body(req, t ? t->id : sb->rec.template_id);
    create_req_free(req);
    if (!body) {
        snprintf(err, sizeof(err), "out of memory");
        goto fail_logged;
    }
    sb->probe = envd_init_start(w->base, sb->rec.address, ENVD_PORT, body,
                                w->cfg.envd_timeout_ms, on_envd_done, sb);
    free(body);
    if (!sb->probe) {
        snprintf(err, sizeof(err), "cannot send /init to envd");
        goto fail_logged;
    }
    sb->client_ev = watch_conn(w, http, on_client_gone, sb);
    return;
fail:
    create_req_free(req);
fail_logged:
    log_error("sandbox %s: create failed: %s", sb->rec.id, err);
    snprintf(sb->fail_msg, sizeof(sb->fail_msg), "%s", err);
    kill_sandbox(sb);
}

int sandbox_create(struct worker *w, struct create_req *req, struct evhttp_request *http,
                   char *err, int errlen)
{
    const struct template *t;
    struct sandbox *sb;
    struct waiter *wt;
    struct pool *p;
    int status = 500, tries;

    if (w->shutting_down) {
        snprintf(err, (size_t)errlen, "worker is shutting down");
        status = 503;
        goto out_req;
    }
    if (w->count + waiting_total(w) >= w->cfg.capacity) {
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
    p = pool_get(w, t);
    if (!p) {
        snprintf(err, (size_t)errlen, "out of memory");
        goto out_req;
    }
    /* A pooled sandbox whose envd just died is replaced; the create takes the next. */
    for (tries = 0; tries < CLAIM_TRIES && (sb = pool_pop_ready(p)) != NULL; tries++) {
        if (claim_init(sb, req) < 0)
            continue;
        sb->warm = 1;
        claim(sb, req, http, cube_monotonic_ms());
        pool_refill_after_claim(w, p);
        return 0;
    }
    /* Cold: wait for the next sandbox prepared for this template. */
    wt = calloc(1, sizeof(*wt));
    if (!wt) {
        snprintf(err, (size_t)errlen, "out of memory");
        goto out_req;
    }
    wt->w = w;
    wt->pool = p;
    wt->req = *req; /* takes over req's allocations */
    wt->http = http;
    wt->t0 = cube_monotonic_ms();
    if (p->wait_tail)
        p->wait_tail->next = wt;
    else
        p->wait_head = wt;
    p->wait_tail = wt;
    p->n_wait++;
    wt->client_ev = watch_conn(w, http, on_waiter_gone, wt);
    pool_refill(w, p);
    return 0;
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

/* Tear down one on-disk sandbox synchronously (startup and --teardown-all). */
static void teardown_dir(struct worker *w, const char *name)
{
    struct sb_record rec;
    char dir[PATH_MAX];
    int fd;

    if (sandbox_dir(w, name, dir, sizeof(dir)) < 0)
        return;
    if (state_load(dir, &rec) < 0) {
        /* Crashed before the first state write: only the directory (and, to be safe,
         * a cgroup named after it) can exist. */
        log_warn("sandbox %s: no usable state.json; removing leftovers", name);
        prep_release(name, -1, dir, 1, -1);
        return;
    }
    fd = open_if_same(&rec);
    if (fd >= 0) {
        ns_spawn_kill_wait(fd);
        close(fd);
    }
    prep_release(rec.inst, rec.slot, dir, 1, -1);
    if (rec.state != SB_POOLED)
        node_registry_sandbox_gone(w->reg, rec.id);
    log_info("sandbox %s torn down (was %s)", rec.id, sb_state_name(rec.state));
}

static int adopt(struct worker *w, const char *name)
{
    const struct template *t = NULL;
    struct sandbox *sb;
    char dir[PATH_MAX], perr[400];
    struct sb_record rec;
    struct pool *p = NULL;
    int fd;

    if (sandbox_dir(w, name, dir, sizeof(dir)) < 0 || state_load(dir, &rec) < 0 ||
        strcmp(rec.inst, name) != 0 ||
        (rec.state != SB_RUNNING && rec.state != SB_PAUSED && rec.state != SB_POOLED))
        return -1;
    if (rec.state == SB_POOLED) {
        /* Kept only if its template still exists (a rebuilt template would differ). */
        t = template_find(&w->templates, rec.template_id);
        if (!t || template_pool_size(w, t) <= 0 || (p = pool_get(w, t)) == NULL)
            return -1;
    }
    fd = open_if_same(&rec);
    if (fd < 0)
        return -1;
    if (slots_reserve(&w->slots, rec.slot) < 0) {
        log_warn("sandbox %s: slot %d is outside this worker's range or taken", name,
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
    sb->layer_fd = -1; /* the spawner that held it is gone: removed the usual way */
    hold_mntns(sb);
    snprintf(sb->dir, sizeof(sb->dir), "%s", dir);
    /* Re-applied from state.json (atomic replace): the table may have been lost. A
     * sandbox whose policy cannot be enforced is torn down, not left open. */
    if (net_policy_apply(rec.slot, &rec.net, perr, sizeof(perr)) < 0) {
        log_error("sandbox %s: %s", name, perr);
        slots_release(&w->slots, rec.slot);
        free_sandbox(sb);
        return -1;
    }
    if (watch_exit(sb) < 0) {
        slots_release(&w->slots, rec.slot);
        free_sandbox(sb);
        return -1;
    }
    all_add(w, sb);
    if (p)
        pool_push_ready(p, sb);
    else
        table_add(w, sb);
    log_info("sandbox %s re-adopted (pid %d, %s, %s)", name, (int)rec.pid, rec.address,
             sb_state_name(rec.state));
    return 0;
}

static void sweep_cb(const char *name, void *ctx)
{
    struct worker *w = ctx;
    char dir[PATH_MAX];

    if (find_instance(w, name))
        return;
    /* A cgroup with a state dir of its name belongs to a sandbox being torn down in
     * this pass; without one it is an orphan. */
    if (sandbox_dir(w, name, dir, sizeof(dir)) == 0 && access(dir, F_OK) == 0)
        return;
    log_info("sweep: removing orphaned cgroup %s", name);
    cgroup_destroy(name);
}

void sandbox_sweep(struct worker *w)
{
    cgroup_foreach(sweep_cb, w);
}

/* Names in the state dir, collected first so the directory is not modified while it
 * is being read. Caller frees. */
static char **list_names(struct worker *w, int *n_out)
{
    char **names = NULL;
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
            char **nn = realloc(names, sizeof(*names) * (size_t)(cap ? cap * 2 : 64));
            if (!nn)
                break;
            names = nn;
            cap = cap ? cap * 2 : 64;
        }
        names[n] = strdup(de->d_name);
        if (names[n])
            n++;
    }
    closedir(d);
    *n_out = n;
    return names;
}

void sandbox_adopt_all(struct worker *w)
{
    int i, n, adopted = 0, removed = 0;
    char **names = list_names(w, &n);

    for (i = 0; i < n; i++) {
        if (adopt(w, names[i]) == 0) {
            adopted++;
        } else {
            teardown_dir(w, names[i]);
            removed++;
        }
        free(names[i]);
    }
    free(names);
    sandbox_sweep(w);
    log_info(
        "startup: %d sandbox(es) re-adopted (%d pooled), %d half-made or dead removed",
        adopted, sandbox_pooled_count(w), removed);
}

int sandbox_teardown_all(struct worker *w)
{
    int i, n;
    char **names = list_names(w, &n);

    for (i = 0; i < n; i++) {
        teardown_dir(w, names[i]);
        free(names[i]);
    }
    free(names);
    sandbox_sweep(w);
    cgroup_remove_parent();
    log_info("teardown: %d sandbox(es) removed", n);
    return 0;
}

void sandbox_release_all(struct worker *w)
{
    struct pool *p;

    /* Results still arriving from spawners concern sandboxes freed below; those stay
     * "creating" on disk and the next start removes them. */
    if (w->spawners)
        spawners_forget_all(w->spawners);
    while (w->all) {
        struct sandbox *sb = w->all;

        w->all = sb->all_next;
        /* A create in flight stays "creating" on disk; the next start removes it. */
        if (sb->create_http)
            api_reply_error(take_create_http(sb), 503, "worker is shutting down");
        for (int i = 0; i < sb->n_del; i++)
            api_reply_error(sb->del_http[i], 503, "worker is shutting down");
        free_sandbox(sb);
    }
    w->sandboxes = NULL;
    w->count = 0;
    while ((p = w->pools) != NULL) {
        w->pools = p->next;
        while (p->wait_head) {
            struct waiter *wt = p->wait_head;

            p->wait_head = wt->next;
            api_reply_error(wt->http, 503, "worker is shutting down");
            waiter_free(wt);
        }
        event_free(p->retry);
        event_free(p->after_claims);
        free(p);
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
    if (cgroup_freeze(sb->rec.inst, frozen) < 0) {
        snprintf(err, (size_t)errlen, "%s sandbox %s: %s", frozen ? "freeze" : "thaw",
                 sb->rec.id, strerror(errno));
        /* Never leave it half frozen behind a "running" state. */
        if (frozen)
            cgroup_freeze(sb->rec.inst, 0);
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

/* ---- network policy ---------------------------------------------------------------- */

int sandbox_set_network(struct sandbox *sb, const struct net_policy *p, char *err,
                        int errlen)
{
    struct net_policy old = sb->rec.net;

    if (sb->rec.state != SB_RUNNING && sb->rec.state != SB_PAUSED) {
        snprintf(err, (size_t)errlen, "sandbox %s is %s", sb->rec.id,
                 sb_state_name(sb->rec.state));
        return 409;
    }
    /* Persisted first: if the worker dies in between, the restart applies the new one. */
    sb->rec.net = *p;
    if (state_save(sb->dir, &sb->rec) < 0) {
        snprintf(err, (size_t)errlen, "save state: %s", strerror(errno));
        sb->rec.net = old;
        return 500;
    }
    if (net_policy_apply(sb->rec.slot, p, err, errlen) < 0) {
        sb->rec.net = old;
        if (state_save(sb->dir, &sb->rec) < 0)
            log_warn("sandbox %s: save state: %s", sb->rec.id, strerror(errno));
        return 500;
    }
    log_info("sandbox %s: network policy replaced (%d deny, %d allow ranges)", sb->rec.id,
             p->n_deny, p->n_allow);
    return 0;
}
