/* cube-ci kernels: spawning driver processes and pumping their pipes. See
 * ci_kernel.h. Everything runs on the one event loop. */
#include "ci_kernel.h"

#include "ci_proto.h"
#include "cube_log.h"
#include "envd_user.h"

#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define READ_CHUNK 65536
/* A single event line (a result with a big image) may be this long. */
#define EVENT_LINE_MAX (64u << 20)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

extern char **environ;

struct ci_stream {
    struct ci_kernel *k;
    int fd;
    struct event *ev;
    int is_err;
    char carry[4];
    size_t carry_len;
};

struct ci_kernel {
    pid_t pid;
    struct ci_stream out, err;
    int ev_fd;
    struct event *ev_ev;
    struct evbuffer *ev_buf;
    int req_fd;
    struct event *req_ev;
    struct evbuffer *req_buf;
    const struct ci_kernel_ops *ops;
    void *arg;
};

static struct event_base *kbase;
static char *drivers_dir;
static struct envd_user run_user;
static int have_user;

void ci_kernel_setup(struct event_base *base, const char *dir, const char *user)
{
    char err[256];

    kbase = base;
    free(drivers_dir);
    drivers_dir = strdup(dir);
    if (have_user)
        envd_user_free(&run_user);
    have_user = 0;
    if (user && user[0]) {
        if (envd_user_lookup(user, &run_user, err, sizeof(err)) != 0) {
            log_info("%s; kernels run as uid %d", err, (int)geteuid());
        } else if (geteuid() != 0 && run_user.uid != geteuid()) {
            log_info("not root: kernels run as uid %d, not as %s", (int)geteuid(), user);
            envd_user_free(&run_user);
        } else {
            have_user = 1;
            log_info("kernels run as %s (uid %d)", run_user.name, (int)run_user.uid);
        }
    }
}

void ci_kernel_cleanup(void)
{
    free(drivers_dir);
    drivers_dir = NULL;
    if (have_user)
        envd_user_free(&run_user);
    have_user = 0;
}

struct runtime {
    const char *language;
    const char *program;
    const char *driver;
    const char *flags; /* one extra argument before the driver, or NULL */
};

static const struct runtime runtimes[] = {
    {"python", "python3", "ci_python.py", "-u"},
    {"javascript", "node", "ci_node.js", NULL},
};

static const struct runtime *find_runtime(const char *language)
{
    for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++)
        if (!strcmp(runtimes[i].language, language))
            return &runtimes[i];
    return NULL;
}

int ci_kernel_language_supported(const char *language)
{
    return find_runtime(language) != NULL;
}

/* Look program up in PATH. Returns 0 with the full path in out. */
static int search_path(const char *program, char *out, size_t outlen)
{
    const char *path = getenv("PATH");
    const char *p;

    if (!path || !*path)
        path = DEFAULT_PATH;
    for (p = path; *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        if (n > 0 &&
            (size_t)snprintf(out, outlen, "%.*s/%s", (int)n, p, program) < outlen &&
            access(out, X_OK) == 0)
            return 0;
        p += n;
        if (*p == ':')
            p++;
    }
    return -1;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* envp for the driver: ours, with the user's identity and a few settings. */
static char **build_env(const char *home, const char *name)
{
    static const char *const drop[] = {
        "HOME=", "USER=", "LOGNAME=", "PWD=", "MPLBACKEND=", "PYTHONUNBUFFERED="};
    size_t n = 0, o = 0;
    char **envp;

    while (environ[n])
        n++;
    envp = calloc(n + 8, sizeof(char *));
    if (!envp)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int skip = 0;
        for (size_t j = 0; j < sizeof(drop) / sizeof(drop[0]); j++)
            if (!strncmp(environ[i], drop[j], strlen(drop[j])))
                skip = 1;
        if (!skip)
            envp[o++] = strdup(environ[i]);
    }
    if (!getenv("PATH"))
        envp[o++] = strdup("PATH=" DEFAULT_PATH);
    if (home && asprintf(&envp[o], "HOME=%s", home) > 0)
        o++;
    if (name && asprintf(&envp[o], "USER=%s", name) > 0)
        o++;
    if (name && asprintf(&envp[o], "LOGNAME=%s", name) > 0)
        o++;
    envp[o++] = strdup("MPLBACKEND=Agg");
    envp[o++] = strdup("PYTHONUNBUFFERED=1");
    envp[o] = NULL;
    for (size_t i = 0; i < o; i++) {
        if (!envp[i]) {
            for (size_t j = 0; j < o; j++)
                free(envp[j]);
            free(envp);
            return NULL;
        }
    }
    return envp;
}

static void free_env(char **envp)
{
    if (!envp)
        return;
    for (size_t i = 0; envp[i]; i++)
        free(envp[i]);
    free(envp);
}

/* In the child between fork and exec: async-signal-safe calls only. */
static void __attribute__((noreturn))
child_exec(const char *path, char *const argv[], char *const envp[], const char *cwd,
           const char *home, int fds[5])
{
    struct sigaction dfl;
    sigset_t none;
    int hi[5];

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);
    setsid();
    /* Move everything above 4 first so dup2 onto 0-4 clobbers nothing. */
    for (int i = 0; i < 5; i++)
        if ((hi[i] = fcntl(fds[i], F_DUPFD, 10)) < 0)
            _exit(126);
    for (int i = 0; i < 5; i++)
        if (dup2(hi[i], i) < 0)
            _exit(126);
    close_range(5, ~0U, 0);
    if (have_user) {
        if (setgroups((size_t)run_user.ngroups, run_user.groups) < 0 ||
            setgid(run_user.gid) < 0 || setuid(run_user.uid) < 0)
            _exit(126);
    }
    if (chdir(cwd) < 0 && (!home || chdir(home) < 0) && chdir("/") < 0)
        _exit(126);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(path, argv, envp);
    _exit(127);
}

static void stream_read_cb(evutil_socket_t fd, short what, void *arg);
static void event_read_cb(evutil_socket_t fd, short what, void *arg);
static void req_write_cb(evutil_socket_t fd, short what, void *arg);

static void close_stream(struct ci_stream *s)
{
    if (s->ev)
        event_free(s->ev);
    s->ev = NULL;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static void kernel_free(struct ci_kernel *k)
{
    close_stream(&k->out);
    close_stream(&k->err);
    if (k->ev_ev)
        event_free(k->ev_ev);
    if (k->req_ev)
        event_free(k->req_ev);
    if (k->ev_fd >= 0)
        close(k->ev_fd);
    if (k->req_fd >= 0)
        close(k->req_fd);
    if (k->ev_buf)
        evbuffer_free(k->ev_buf);
    if (k->req_buf)
        evbuffer_free(k->req_buf);
    free(k);
}

struct ci_kernel *ci_kernel_start(const char *language, const char *cwd,
                                  const struct ci_kernel_ops *ops, void *arg, char *err,
                                  size_t errlen)
{
    const struct runtime *rt = find_runtime(language);
    char prog[PATH_MAX], driver[PATH_MAX];
    int p_out[2] = {-1, -1}, p_err[2] = {-1, -1}, p_req[2] = {-1, -1}, p_ev[2] = {-1, -1},
        devnull = -1;
    char *argv[4];
    char **envp = NULL;
    struct ci_kernel *k = NULL;
    sigset_t all, old;
    int a = 0;
    pid_t pid;

    if (!rt) {
        snprintf(err, errlen, "language '%s' is not supported", language);
        return NULL;
    }
    if (search_path(rt->program, prog, sizeof(prog)) != 0) {
        snprintf(err, errlen, "%s is not installed in this sandbox (no %s in PATH)",
                 language, rt->program);
        return NULL;
    }
    if ((size_t)snprintf(driver, sizeof(driver), "%s/%s", drivers_dir ? drivers_dir : ".",
                         rt->driver) >= sizeof(driver) ||
        access(driver, R_OK) != 0) {
        snprintf(err, errlen, "kernel driver %s is missing", driver);
        return NULL;
    }
    argv[a++] = prog;
    if (rt->flags)
        argv[a++] = (char *)rt->flags;
    argv[a++] = driver;
    argv[a] = NULL;
    envp = build_env(have_user ? run_user.home : getenv("HOME"),
                     have_user ? run_user.name : NULL);
    k = calloc(1, sizeof(*k));
    if (!envp || !k)
        goto sys_fail;
    k->out.fd = k->err.fd = k->ev_fd = k->req_fd = -1;
    if (pipe2(p_out, O_CLOEXEC) < 0 || pipe2(p_err, O_CLOEXEC) < 0 ||
        pipe2(p_req, O_CLOEXEC) < 0 || pipe2(p_ev, O_CLOEXEC) < 0 ||
        (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
        goto sys_fail;

    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0) {
        int fds[5] = {devnull, p_out[1], p_err[1], p_req[0], p_ev[1]};
        child_exec(prog, argv, envp, cwd, have_user ? run_user.home : getenv("HOME"),
                   fds);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        goto sys_fail;
    close(devnull);
    close(p_out[1]);
    close(p_err[1]);
    close(p_req[0]);
    close(p_ev[1]);
    free_env(envp);

    k->pid = pid;
    k->ops = ops;
    k->arg = arg;
    k->out = (struct ci_stream){.k = k, .fd = p_out[0], .is_err = 0};
    k->err = (struct ci_stream){.k = k, .fd = p_err[0], .is_err = 1};
    k->ev_fd = p_ev[0];
    k->req_fd = p_req[1];
    set_nonblock(k->out.fd);
    set_nonblock(k->err.fd);
    set_nonblock(k->ev_fd);
    set_nonblock(k->req_fd);
    k->out.ev =
        event_new(kbase, k->out.fd, EV_READ | EV_PERSIST, stream_read_cb, &k->out);
    k->err.ev =
        event_new(kbase, k->err.fd, EV_READ | EV_PERSIST, stream_read_cb, &k->err);
    k->ev_ev = event_new(kbase, k->ev_fd, EV_READ | EV_PERSIST, event_read_cb, k);
    k->req_ev = event_new(kbase, k->req_fd, EV_WRITE, req_write_cb, k);
    k->ev_buf = evbuffer_new();
    k->req_buf = evbuffer_new();
    if (!k->out.ev || !k->err.ev || !k->ev_ev || !k->req_ev || !k->ev_buf ||
        !k->req_buf) {
        ci_kernel_kill(k);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    event_add(k->out.ev, NULL);
    event_add(k->err.ev, NULL);
    event_add(k->ev_ev, NULL);
    log_info("started %s kernel (pid %d) in %s", language, (int)pid, cwd);
    return k;

sys_fail:
    snprintf(err, errlen, "cannot start the %s kernel: %s", language, strerror(errno));
    for (int i = 0; i < 2; i++) {
        if (p_out[i] >= 0)
            close(p_out[i]);
        if (p_err[i] >= 0)
            close(p_err[i]);
        if (p_req[i] >= 0)
            close(p_req[i]);
        if (p_ev[i] >= 0)
            close(p_ev[i]);
    }
    if (devnull >= 0)
        close(devnull);
    free_env(envp);
    free(k);
    return NULL;
}

/* Read one chunk of output and hand it on as valid UTF-8 (a sequence split
 * across reads is completed by the next one). Returns bytes read, 0 at EOF,
 * -1 when nothing was there. */
static ssize_t stream_read_once(struct ci_stream *s)
{
    static char raw[READ_CHUNK + 4];
    static char clean[3 * (READ_CHUNK + 4)];
    size_t have = s->carry_len, tail, n;
    ssize_t r;

    memcpy(raw, s->carry, have);
    r = read(s->fd, raw + have, READ_CHUNK);
    if (r <= 0) {
        if (r == 0 && have) {
            /* EOF with an unfinished sequence: flush it as replacement. */
            n = ci_utf8_sanitize(raw, have, clean);
            s->carry_len = 0;
            s->k->ops->output(s->k->arg, s->is_err, clean, n);
        }
        return r;
    }
    have += (size_t)r;
    tail = ci_utf8_incomplete_tail(raw, have);
    memcpy(s->carry, raw + have - tail, tail);
    s->carry_len = tail;
    n = ci_utf8_sanitize(raw, have - tail, clean);
    if (n)
        s->k->ops->output(s->k->arg, s->is_err, clean, n);
    return r;
}

static void stream_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ci_stream *s = arg;
    ssize_t r;

    (void)fd;
    (void)what;
    r = stream_read_once(s);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
        close_stream(s); /* the driver closed it; its exit shows on fd 4 */
}

void ci_kernel_drain(struct ci_kernel *k)
{
    struct ci_stream *ss[2] = {&k->out, &k->err};

    for (int i = 0; i < 2; i++) {
        /* Bounded: a background writer must not keep us here. */
        for (int n = 0; n < 64 && ss[i]->fd >= 0; n++) {
            ssize_t r = stream_read_once(ss[i]);
            if (r == 0) {
                close_stream(ss[i]);
                break;
            }
            if (r < 0)
                break;
        }
    }
}

void ci_kernel_pause(struct ci_kernel *k, int paused)
{
    struct event *evs[3] = {k->out.ev, k->err.ev, k->ev_ev};

    for (int i = 0; i < 3; i++) {
        if (!evs[i])
            continue;
        if (paused)
            event_del(evs[i]);
        else
            event_add(evs[i], NULL);
    }
}

static void kernel_gone(struct ci_kernel *k)
{
    const struct ci_kernel_ops *ops = k->ops;
    void *arg = k->arg;

    ci_kernel_drain(k);
    ci_kernel_kill(k);
    ops->exited(arg);
}

static void event_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ci_kernel *k = arg;
    int r;
    char *line;
    size_t len;

    (void)what;
    r = evbuffer_read(k->ev_buf, fd, READ_CHUNK);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    while ((line = evbuffer_readln(k->ev_buf, &len, EVBUFFER_EOL_LF)) != NULL) {
        json_t *ev = json_loadb(line, len, 0, NULL);
        free(line);
        if (!json_is_object(ev)) {
            log_warn("kernel pid %d: malformed event line ignored", (int)k->pid);
            json_decref(ev);
            continue;
        }
        /* The callback may kill the kernel (it never does for a "done"
         * that is not last in the buffer, but stay safe): note whether this
         * was the last complete line. */
        k->ops->event(k->arg, ev);
        json_decref(ev);
    }
    if (evbuffer_get_length(k->ev_buf) > EVENT_LINE_MAX) {
        log_warn("kernel pid %d: event line too long; killing it", (int)k->pid);
        kernel_gone(k);
        return;
    }
    if (r <= 0)
        kernel_gone(k);
}

static void req_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ci_kernel *k = arg;
    int r;

    (void)what;
    r = evbuffer_write(k->req_buf, fd);
    if (r < 0 && errno != EAGAIN && errno != EINTR) {
        log_warn("kernel pid %d: request pipe: %s", (int)k->pid, strerror(errno));
        evbuffer_drain(k->req_buf, evbuffer_get_length(k->req_buf));
        return; /* the driver is gone; fd 4 reports it */
    }
    if (evbuffer_get_length(k->req_buf) > 0)
        event_add(k->req_ev, NULL);
}

int ci_kernel_send(struct ci_kernel *k, json_t *req)
{
    char *text = json_dumps(req, JSON_COMPACT);

    if (!text)
        return -1;
    evbuffer_add(k->req_buf, text, strlen(text));
    evbuffer_add(k->req_buf, "\n", 1);
    free(text);
    req_write_cb(k->req_fd, EV_WRITE, k);
    return 0;
}

void ci_kernel_interrupt(struct ci_kernel *k)
{
    log_info("interrupting kernel pid %d", (int)k->pid);
    kill(-k->pid, SIGINT);
}

void ci_kernel_kill(struct ci_kernel *k)
{
    kill(-k->pid, SIGKILL);
    kill(k->pid, SIGKILL);
    kernel_free(k);
}

void ci_kernel_reap(void)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0 || (pid < 0 && errno == EINTR)) {
        if (pid > 0 && WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
            log_info("kernel pid %d killed by signal %d", (int)pid, WTERMSIG(status));
    }
}
