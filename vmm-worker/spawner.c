#include "spawner.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cube_log.h"
#include "layer_pool.h"
#include "ns_spawn.h"

#define MAX_SPAWNERS 16
/* Jobs handed to one spawner before it answers (one being done, one ready to start);
 * more wait in the worker's queue, where an urgent job (a create waiting) can still
 * overtake the pool's refills, a slow job (a big rm -rf) delays few others, and
 * datagrams never block on a full socket buffer. */
#define MAX_IN_FLIGHT 2

struct job_entry {
    struct prep_job job;
    int fd[2];     /* go with the job (spawners_submit): mount ns, layer; -1: none */
    spawner_cb cb; /* NULL once forgotten */
    void *ctx;
    struct job_entry *next;
};

struct spawner {
    struct spawners *owner;
    pid_t pid;
    int fd; /* -1 when dead */
    struct event *ev;
    struct job_entry *head, *tail; /* in flight, in order */
    int in_flight;
    int free_layers; /* as of its last result */
};

struct spawners {
    struct event_base *base;
    const struct prep_env *env;
    pid_t worker_pid;
    int n;
    struct spawner sp[MAX_SPAWNERS];
    struct job_entry *queue_head, *queue_tail; /* not yet sent */
    struct job_entry *urgent_tail;             /* last urgent one: they come first */
    int queued;
};

/* ---- messages (both directions) ---------------------------------------------------- */

/* msg carrying iov, with cbuf (NULL: none) as room for received descriptors. */
static void msg_init(struct msghdr *msg, struct iovec *iov, void *cbuf, size_t cbuf_len)
{
    memset(msg, 0, sizeof(*msg));
    msg->msg_iov = iov;
    msg->msg_iovlen = 1;
    msg->msg_control = cbuf;
    msg->msg_controllen = cbuf ? cbuf_len : 0;
}

#define MAX_MSG_FDS 3 /* a result: pidfd, channel, layer */

/* Attach fds[0..n-1] (1 to MAX_MSG_FDS) as one SCM_RIGHTS message built in cbuf, which
 * has room for MAX_MSG_FDS. */
static void msg_attach_fds(struct msghdr *msg, char *cbuf, const int *fds, int n)
{
    struct cmsghdr *cm;

    memset(cbuf, 0, CMSG_SPACE(MAX_MSG_FDS * sizeof(int)));
    msg->msg_control = cbuf;
    msg->msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
    cm = CMSG_FIRSTHDR(msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, (size_t)n * sizeof(int));
}

/* ---- the spawner process ---------------------------------------------------------- */

/* One result, with the new init's pidfd, the channel's worker end and the layer's
 * detached mount (in that order, those that are >= 0) attached. */
static int send_result(int fd, const struct prep_result *res, const struct prep_fds *f)
{
    char cbuf[CMSG_SPACE(MAX_MSG_FDS * sizeof(int))];
    struct iovec iov = {(void *)res, sizeof(*res)};
    struct msghdr msg;
    int fds[MAX_MSG_FDS], nfds = 0;
    ssize_t n;

    msg_init(&msg, &iov, NULL, 0);
    if (f->pidfd >= 0)
        fds[nfds++] = f->pidfd;
    if (f->chanfd >= 0)
        fds[nfds++] = f->chanfd;
    if (f->layerfd >= 0)
        fds[nfds++] = f->layerfd;
    if (nfds > 0)
        msg_attach_fds(&msg, cbuf, fds, nfds);
    do {
        n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(*res) ? 0 : -1;
}

static int take_fds(struct msghdr *msg, int *fds, int max);

/* One job and the descriptors that came with it: *mntns and *layer as the job says,
 * else -1 (and any others closed). */
/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): named, in a fixed order */
static ssize_t recv_job(int fd, struct prep_job *job, int *mntns, int *layer)
{
    char cbuf[CMSG_SPACE(MAX_MSG_FDS * sizeof(int))];
    struct iovec iov = {job, sizeof(*job)};
    struct msghdr msg;
    int fds[2], nfds = 0, i;
    ssize_t n;

    msg_init(&msg, &iov, cbuf, sizeof(cbuf));
    *mntns = -1;
    *layer = -1;
    n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n > 0)
        nfds = take_fds(&msg, fds, 2);
    if (n != (ssize_t)sizeof(*job) ||
        nfds != (job->has_mntns != 0) + (job->has_layer != 0)) {
        for (i = 0; i < nfds; i++)
            close(fds[i]);
        return n;
    }
    if (job->has_mntns)
        *mntns = fds[0];
    if (job->has_layer)
        *layer = fds[nfds - 1];
    return n;
}

static void __attribute__((noreturn))
spawner_main(const struct prep_env *env, int fd, pid_t worker)
{
    static struct prep_job job; /* static: ~8.5 KB, off the stack */
    struct prep_result res;
    struct prep_fds out;
    ssize_t n;
    int nice_now = SPAWNER_NICE;

    /* Die with the worker; if it is already gone, do not start. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != worker)
        _exit(0);
    /* Sandbox inits are our children: let the kernel reap them. */
    signal(SIGCHLD, SIG_IGN);
    /* Preparing is background work: a create that claims a ready sandbox (the worker,
     * envd's /init) must win the CPU over refilling the pool. The sandboxes themselves
     * are put back to nice 0 (sandbox_prep.c). */
    if (setpriority(PRIO_PROCESS, 0, SPAWNER_NICE) < 0)
        log_warn("spawner: setpriority: %s", strerror(errno));
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    /* Keep only stdio and our socket: not the worker's listener, event loop, Redis
     * connection or other spawners' sockets. */
    if (fd != 3) {
        if (dup2(fd, 3) < 0)
            _exit(1);
        fd = 3;
    }
    syscall(SYS_close_range, 4U, ~0U, 0U);
    /* Our own mount namespace, a slave of the host's: the writable layers mounted here
     * while a sandbox is made never appear in the host's mount table (disk_quota.h),
     * and a spawner that dies takes any it still had with it. */
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        log_warn("spawner: private mount namespace: %s (layers are briefly mounted on "
                 "the host)",
                 strerror(errno));

    for (;;) {
        int mntns_fd, layer_fd;

        do {
            n = recv_job(fd, &job, &mntns_fd, &layer_fd);
        } while (n < 0 && errno == EINTR);
        if (n <= 0) {
            layer_pool_drain();
            _exit(0);
        }
        /* A release's first descriptor holds the sandbox's mount namespace: closing it
         * here unmounts its filesystems in this process, before the rest of the
         * release; its writable layer is then held by layer_fd alone, if it came. */
        if (mntns_fd >= 0)
            close(mntns_fd);
        memset(&res, 0, sizeof(res));
        res.seq = job.seq;
        out.pidfd = out.chanfd = out.layerfd = -1;
        if (n != (ssize_t)sizeof(job)) {
            res.status = -1;
            snprintf(res.err, sizeof(res.err), "spawner: short job");
        } else if (job.kind == PREP_SPAWN) {
            /* A create is waiting for this one: not background work. */
            int want = job.urgent ? 0 : SPAWNER_NICE;

            if (want != nice_now && setpriority(PRIO_PROCESS, 0, want) == 0)
                nice_now = want;
            prep_spawn(env, &job, &res, &out.pidfd, &out.chanfd, &out.layerfd);
            res.has_chan = out.chanfd >= 0;
            res.has_layer = out.layerfd >= 0;
        } else if (job.kind == PREP_RELEASE) {
            prep_release(job.rec.inst, job.rec.slot, job.dir, (int)job.clear_policy,
                         layer_fd);
            layer_fd = -1;
            res.status = 0;
        } else {
            res.status = -1;
            snprintf(res.err, sizeof(res.err), "spawner: unknown job kind %u", job.kind);
        }
        if (layer_fd >= 0)
            close(layer_fd);
        res.free_layers = layer_pool_count();
        if (send_result(fd, &res, &out) < 0) {
            /* The worker is gone or the socket broke: the sandbox just made would be
             * unknown to anyone. The next worker start removes it from its state. */
            if (out.pidfd >= 0)
                ns_spawn_kill_wait(out.pidfd);
            layer_pool_drain();
            _exit(1);
        }
        prep_fds_close(&out);
    }
}

/* ---- the worker's side ------------------------------------------------------------ */

static void on_readable(evutil_socket_t fd, short what, void *arg);
static void dispatch(struct spawners *s);

static int spawner_start(struct spawners *s, struct spawner *sp)
{
    int sv[2];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("spawner: socketpair: %s", strerror(errno));
        return -1;
    }
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        log_error("spawner: fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        spawner_main(s->env, sv[1], s->worker_pid);
    }
    close(sv[1]);
    sp->owner = s;
    sp->pid = pid;
    sp->fd = sv[0];
    evutil_make_socket_nonblocking(sp->fd);
    sp->ev = event_new(s->base, sp->fd, EV_READ | EV_PERSIST, on_readable, sp);
    if (!sp->ev || event_add(sp->ev, NULL) < 0) {
        log_error("spawner: cannot watch its socket");
        close(sp->fd);
        sp->fd = -1;
        return -1;
    }
    log_debug("spawner %d started", (int)pid);
    return 0;
}

void prep_fds_close(const struct prep_fds *fds)
{
    if (fds->pidfd >= 0)
        close(fds->pidfd);
    if (fds->chanfd >= 0)
        close(fds->chanfd);
    if (fds->layerfd >= 0)
        close(fds->layerfd);
}

static void close_job_fds(struct job_entry *e)
{
    for (int i = 0; i < 2; i++) {
        if (e->fd[i] >= 0)
            close(e->fd[i]);
        e->fd[i] = -1;
    }
}

static void finish(struct job_entry *e, const struct prep_result *res,
                   const struct prep_fds *fds)
{
    close_job_fds(e);
    if (e->cb)
        e->cb(res, fds, e->ctx);
    else
        prep_fds_close(fds);
    free(e);
}

/* The spawner died or its socket broke: fail what it had, start another. */
static void spawner_lost(struct spawner *sp)
{
    struct spawners *s = sp->owner;
    struct prep_fds none = {-1, -1, -1};
    struct prep_result res;
    struct job_entry *e;

    log_error("spawner %d died with %d job(s) in flight; restarting it", (int)sp->pid,
              sp->in_flight);
    event_free(sp->ev);
    sp->ev = NULL;
    close(sp->fd);
    sp->fd = -1;
    kill(sp->pid, SIGKILL); /* our own child; reaped by the worker's SIGCHLD policy */
    while ((e = sp->head) != NULL) {
        sp->head = e->next;
        memset(&res, 0, sizeof(res));
        res.seq = e->job.seq;
        res.status = -1;
        snprintf(res.err, sizeof(res.err), "sandbox spawner died");
        finish(e, &res, &none);
    }
    sp->tail = NULL;
    sp->in_flight = 0;
    sp->free_layers = 0; /* they went with it */
    if (spawner_start(s, sp) == 0)
        dispatch(s);
}

/* The descriptors a message carried: fds[0..n-1] (n <= max; more are closed). */
static int take_fds(struct msghdr *msg, int *fds, int max)
{
    struct cmsghdr *cm;
    int n = 0;

    for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
        size_t k;

        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (n < max)
                fds[n++] = fd;
            else
                close(fd);
        }
    }
    return n;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct spawner *sp = arg;
    struct prep_result res;
    char cbuf[CMSG_SPACE(MAX_MSG_FDS * sizeof(int))];
    struct iovec iov = {&res, sizeof(res)};
    struct msghdr msg;
    struct job_entry *e;
    struct prep_fds got;
    int fds[MAX_MSG_FDS], nfds;
    ssize_t n;

    (void)what;
    for (;;) {
        msg_init(&msg, &iov, cbuf, sizeof(cbuf));
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) {
            spawner_lost(sp);
            return;
        }
        nfds = take_fds(&msg, fds, MAX_MSG_FDS);
        e = sp->head;
        /* A spawn's result carries the pidfd, then the channel and the layer if it has
         * them. */
        if (n != (ssize_t)sizeof(res) || !e || e->job.seq != res.seq ||
            (nfds > 0 && nfds != 1 + (res.has_chan != 0) + (res.has_layer != 0))) {
            log_error("spawner %d: result out of order", (int)sp->pid);
            for (int i = 0; i < nfds; i++)
                close(fds[i]);
            spawner_lost(sp);
            return;
        }
        got.pidfd = nfds > 0 ? fds[0] : -1;
        got.chanfd = nfds > 0 && res.has_chan ? fds[1] : -1;
        got.layerfd = nfds > 0 && res.has_layer ? fds[nfds - 1] : -1;
        sp->free_layers = res.free_layers;
        sp->head = e->next;
        if (!sp->head)
            sp->tail = NULL;
        sp->in_flight--;
        finish(e, &res, &got);
    }
    dispatch(sp->owner);
}

static struct spawner *least_busy(struct spawners *s)
{
    struct spawner *best = NULL;
    int i;

    for (i = 0; i < s->n; i++) {
        struct spawner *sp = &s->sp[i];

        if (sp->fd < 0 && spawner_start(s, sp) < 0)
            continue;
        if (sp->in_flight < MAX_IN_FLIGHT && (!best || sp->in_flight < best->in_flight))
            best = sp;
    }
    return best;
}

/* The job, with its descriptors attached if it has any. */
static ssize_t send_job(int fd, const struct job_entry *e)
{
    char cbuf[CMSG_SPACE(MAX_MSG_FDS * sizeof(int))];
    struct iovec iov = {(void *)&e->job, sizeof(e->job)};
    struct msghdr msg;
    int fds[2], nfds = 0;

    msg_init(&msg, &iov, NULL, 0);
    for (int i = 0; i < 2; i++)
        if (e->fd[i] >= 0)
            fds[nfds++] = e->fd[i];
    if (nfds > 0)
        msg_attach_fds(&msg, cbuf, fds, nfds);
    return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

static void dispatch(struct spawners *s)
{
    struct spawner *sp;
    struct job_entry *e;
    ssize_t n;

    while ((e = s->queue_head) != NULL && (sp = least_busy(s)) != NULL) {
        do {
            n = send_job(sp->fd, e);
        } while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN)
            return; /* socket full: retried when a result frees room */
        if (n != (ssize_t)sizeof(e->job)) {
            spawner_lost(sp);
            continue;
        }
        close_job_fds(e); /* the spawner has its own copies now */
        s->queue_head = e->next;
        if (!s->queue_head)
            s->queue_tail = NULL;
        if (s->urgent_tail == e)
            s->urgent_tail = NULL;
        s->queued--;
        e->next = NULL;
        if (sp->tail)
            sp->tail->next = e;
        else
            sp->head = e;
        sp->tail = e;
        sp->in_flight++;
    }
}

struct spawners *spawners_new(struct event_base *base, const struct prep_env *env, int n)
{
    struct spawners *s = calloc(1, sizeof(*s));
    int i, up = 0;

    if (!s)
        return NULL;
    s->base = base;
    s->env = env;
    s->worker_pid = getpid();
    s->n = n < 1 ? 1 : (n > MAX_SPAWNERS ? MAX_SPAWNERS : n);
    for (i = 0; i < s->n; i++) {
        s->sp[i].fd = -1;
        if (spawner_start(s, &s->sp[i]) == 0)
            up++;
    }
    if (up == 0) {
        free(s);
        return NULL;
    }
    log_info("%d sandbox spawner process(es) started", up);
    return s;
}

/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): named, in a fixed order */
int spawners_submit(struct spawners *s, const struct prep_job *job, int mntns_fd,
                    int layer_fd, spawner_cb cb, void *ctx)
{
    static uint64_t seq;
    struct job_entry *e = calloc(1, sizeof(*e));

    if (!e)
        return -1;
    e->fd[0] = mntns_fd;
    e->fd[1] = layer_fd;
    e->job = *job;
    e->job.seq = ++seq;
    e->job.has_mntns = mntns_fd >= 0;
    e->job.has_layer = layer_fd >= 0;
    e->cb = cb;
    e->ctx = ctx;
    if (job->urgent) {
        /* After the urgent ones already waiting, before everything else. */
        struct job_entry **at = s->urgent_tail ? &s->urgent_tail->next : &s->queue_head;

        e->next = *at;
        *at = e;
        if (!e->next)
            s->queue_tail = e;
        s->urgent_tail = e;
    } else {
        if (s->queue_tail)
            s->queue_tail->next = e;
        else
            s->queue_head = e;
        s->queue_tail = e;
    }
    s->queued++;
    dispatch(s);
    return 0;
}

int spawners_free_layers(const struct spawners *s)
{
    int i, n = 0;

    for (i = 0; i < s->n; i++)
        n += s->sp[i].fd >= 0 ? s->sp[i].free_layers : 0;
    return n;
}

int spawners_pending(const struct spawners *s)
{
    int i, n = s->queued;

    for (i = 0; i < s->n; i++)
        n += s->sp[i].in_flight;
    return n;
}

void spawners_forget_all(struct spawners *s)
{
    struct job_entry *e;
    int i;

    for (e = s->queue_head; e; e = e->next)
        e->cb = NULL;
    for (i = 0; i < s->n; i++)
        for (e = s->sp[i].head; e; e = e->next)
            e->cb = NULL;
}

void spawners_free(struct spawners *s)
{
    struct job_entry *e;
    int i;

    if (!s)
        return;
    for (i = 0; i < s->n; i++) {
        struct spawner *sp = &s->sp[i];

        if (sp->ev)
            event_free(sp->ev);
        if (sp->fd >= 0)
            close(sp->fd); /* the spawner sees EOF and exits after its current job */
        while ((e = sp->head) != NULL) {
            sp->head = e->next;
            close_job_fds(e);
            free(e);
        }
    }
    while ((e = s->queue_head) != NULL) {
        s->queue_head = e->next;
        close_job_fds(e);
        free(e);
    }
    free(s);
}
