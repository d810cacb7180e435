/* cube-init: PID 1 of every sandbox.
 *
 *   cube-init [--channel-fd N] [--ci CI-PATH [--ci-arg ARG]... [--ci-socket HOST:PORT]]
 *             [--] [ENVD-PATH [ARGS...]]    (default: /.cube/bin/cube-envd)
 *
 * It does these things and nothing else:
 *   1. starts envd (in a session of its own) and restarts it if it dies, with
 *      exponential backoff (100 ms doubling to 5 s; reset after 10 s of uptime);
 *      the same for the code interpreter cube-ci when asked with --ci, or when
 *      envd is the default /.cube/bin/cube-envd and /.cube/bin/cube-ci exists
 *      (the sandbox case; tests pass their own envd and get no cube-ci);
 *      with --ci-socket (implied, 0.0.0.0:49999, in the sandbox case) it listens
 *      on cube-ci's address itself and starts cube-ci only when the first
 *      connection arrives (SIGIO on the listener), handing it the socket as fd 3
 *      with "--listen-fd 3": most sandboxes never run code through cube-ci, and
 *      starting it with every sandbox was a third of a sandbox's start-up CPU.
 *      Connections made meanwhile wait in the backlog, as do those made while a
 *      crashed cube-ci is being restarted;
 *   2. reaps every process that ends up parented to it (PID 1 inherits all
 *      orphans of the sandbox; unreaped they would pile up as zombies);
 *   3. on SIGTERM/SIGINT: forwards the signal to envd, sends SIGTERM to every
 *      process, waits up to 3 s for them to exit, SIGKILLs the rest and exits;
 *   4. forwards SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 to envd;
 *   5. with --channel-fd N (the worker channel, common/cube_chan.h): gives it to the
 *      first envd it starts, as fd 3 with "--channel-fd 3" appended to envd's
 *      arguments, and closes its own copy right after that fork. Until then it is
 *      close-on-exec, so no other process (cube-ci, anything envd starts) ever has
 *      it; a restarted envd runs without it (the worker sees the channel close).
 *
 * All signals stay blocked and are taken synchronously with sigtimedwait(2), so
 * there are no handlers and no races between them and the main loop. PID 1
 * gets no default signal actions from the kernel, so blocking costs nothing.
 *
 * When not PID 1 (tests, or a runtime that provides its own init) it makes
 * itself a child subreaper and, at shutdown, signals only its own descendants
 * (found in /proc) instead of kill(-1), which would hit the whole host. */
#include <ctype.h>
#include <fcntl.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cube_chan.h"

#define DEFAULT_ENVD "/.cube/bin/cube-envd"
#define DEFAULT_CI "/.cube/bin/cube-ci"
#define DEFAULT_CI_SOCKET "0.0.0.0:49999" /* cube-ci's own default address */
#define MAX_CI_ARGS 16
#define GRACE_MS 3000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define STABLE_MS 10000 /* uptime after which a crash resets the backoff */

/* A supervised daemon: envd, and optionally cube-ci. */
struct child {
    const char *name;
    char **argv;
    pid_t pid;
    long long started_ms;
    long long restart_at_ms; /* restart pending at this time, or -1 */
    long backoff_ms;
};

static sigset_t all_signals;
static struct child envd = {"envd", NULL, 0, 0, -1, BACKOFF_MIN_MS};
static struct child ci = {"cube-ci", NULL, 0, 0, -1, BACKOFF_MIN_MS};
static long long shutdown_deadline_ms = -1;
static int killed_all;
static int chan_fd = -1; /* the worker channel until envd has it */
static int ci_sock = -1; /* cube-ci's listener when we made it (--ci-socket) */
static int ci_waiting;   /* cube-ci starts with the first connection to ci_sock */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "cube-init[%d]: %s\n", (int)getpid(), buf);
}

/* In a child: fd as fd 3, inherited across exec, and exec with "OPT 3" appended
 * (envd: the channel, CUBE_CHAN_FD; cube-ci: its listener). Returns only if exec
 * failed. */
static void exec_with_fd(char **argv, int fd, char *opt)
{
    char *av[64];
    int n = 0;

    while (argv[n] && n < 61) {
        av[n] = argv[n];
        n++;
    }
    if (argv[n]) {
        errno = E2BIG;
        return;
    }
    av[n++] = opt;
    av[n++] = CUBE_CHAN_FD_ARG;
    av[n] = NULL;
    if (fd != CUBE_CHAN_FD ? dup2(fd, CUBE_CHAN_FD) < 0 : fcntl(fd, F_SETFD, 0) < 0)
        return;
    execv(av[0], av);
}

static void start_child(struct child *c)
{
    pid_t pid = fork();

    c->restart_at_ms = -1;
    if (pid < 0) {
        say("fork: %s; retrying in %ld ms", strerror(errno), c->backoff_ms);
        c->restart_at_ms = now_ms() + c->backoff_ms;
        return;
    }
    if (pid == 0) {
        /* envd starts with clean signal state whatever our launcher left us
         * (a blocked mask or ignored signals survive exec), and in a session
         * of its own so its process group is not ours. */
        struct sigaction dfl;
        sigset_t none;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; s++)
            sigaction(s, &dfl, NULL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        if (c == &envd && chan_fd >= 0)
            exec_with_fd(c->argv, chan_fd, "--channel-fd");
        else if (c == &ci && ci_sock >= 0)
            exec_with_fd(c->argv, ci_sock, "--listen-fd");
        else
            execv(c->argv[0], c->argv);
        fprintf(stderr, "cube-init: exec %s: %s\n", c->argv[0], strerror(errno));
        _exit(127);
    }
    c->pid = pid;
    c->started_ms = now_ms();
    if (c == &envd && chan_fd >= 0) {
        close(chan_fd); /* envd has it now; nobody else ever will */
        chan_fd = -1;
    }
    say("started %s (pid %d)", c->argv[0], (int)pid);
}

static void child_exited(struct child *c, int status)
{
    long long up = now_ms() - c->started_ms;

    if (WIFEXITED(status))
        say("%s (pid %d) exited with status %d after %lld ms", c->name, (int)c->pid,
            WEXITSTATUS(status), up);
    else
        say("%s (pid %d) killed by signal %d after %lld ms", c->name, (int)c->pid,
            WTERMSIG(status), up);
    c->pid = 0;
    if (shutdown_deadline_ms >= 0)
        return;
    if (up >= STABLE_MS)
        c->backoff_ms = BACKOFF_MIN_MS;
    say("restarting %s in %ld ms", c->name, c->backoff_ms);
    c->restart_at_ms = now_ms() + c->backoff_ms;
    c->backoff_ms =
        c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

/* Reap everything that has exited. Returns 1 if we have no children left. */
static int reap(void)
{
    int status;
    pid_t pid;

    for (;;) {
        pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            if (pid == envd.pid)
                child_exited(&envd, status);
            else if (ci.argv && pid == ci.pid)
                child_exited(&ci, status);
            continue;
        }
        if (pid < 0 && errno == EINTR)
            continue;
        return pid < 0 && errno == ECHILD;
    }
}

/* Not PID 1: signal our descendants only. Walk /proc building each process's
 * parent, then mark those whose ancestry reaches us. */
static void signal_descendants(int sig)
{
    enum { MAXP = 65536 };
    static pid_t pids[MAXP], ppids[MAXP];
    static char mark[MAXP];
    pid_t self = getpid();
    struct dirent *de;
    int n = 0, changed = 1;
    DIR *d = opendir("/proc");

    if (!d)
        return;
    while ((de = readdir(d)) != NULL && n < MAXP) {
        char path[64], buf[512], *rp;
        FILE *f;
        char *end;
        const char *q;
        long v;
        int pid, ppid;

        errno = 0;
        v = strtol(de->d_name, &end, 10);
        if (end == de->d_name || *end != '\0' || errno != 0 || v <= 0 || v > INT_MAX)
            continue; /* not a pid directory */
        pid = (int)v;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        f = fopen(path, "r");
        if (!f)
            continue;
        buf[0] = '\0';
        if (!fgets(buf, sizeof(buf), f))
            buf[0] = '\0';
        fclose(f);
        /* "pid (comm) state ppid ...": comm may contain anything, so parse
         * after its last ')'. */
        rp = strrchr(buf, ')');
        if (!rp)
            continue;
        q = rp + 1;
        while (isspace((unsigned char)*q))
            q++;
        if (*q == '\0')
            continue;
        q++; /* state */
        errno = 0;
        v = strtol(q, &end, 10);
        if (end == q || errno != 0 || v < INT_MIN || v > INT_MAX)
            continue;
        ppid = (int)v;
        pids[n] = pid;
        ppids[n] = ppid;
        mark[n] = (char)(ppid == self); /* 0 or 1 */
        n++;
    }
    closedir(d);
    while (changed) {
        changed = 0;
        for (int i = 0; i < n; i++) {
            if (mark[i])
                continue;
            for (int j = 0; j < n; j++) {
                if (mark[j] && pids[j] == ppids[i]) {
                    mark[i] = 1;
                    changed = 1;
                    break;
                }
            }
        }
    }
    for (int i = 0; i < n; i++)
        if (mark[i])
            kill(pids[i], sig);
}

static void signal_all(int sig)
{
    if (getpid() == 1)
        kill(-1, sig); /* everything in the sandbox but us */
    else
        signal_descendants(sig);
}

/* cube-ci's listening socket "HOST:PORT" (numeric IPv4, or "[v6]:PORT"), close-on-exec,
 * raising SIGIO for us when a connection is queued. -1 (said why) on failure. */
static int ci_listen(const char *spec)
{
    const char *colon = strrchr(spec, ':');
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    struct sockaddr *sa;
    socklen_t salen;
    char host[64], *end;
    size_t hl;
    long port;
    int fd, one = 1;

    if (!colon || colon == spec) {
        say("--ci-socket %s: want HOST:PORT", spec);
        return -1;
    }
    port = strtol(colon + 1, &end, 10);
    hl = (size_t)(colon - spec);
    if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
        spec++;
        hl -= 2;
    }
    if (end == colon + 1 || *end || port < 1 || port > 65535 || hl >= sizeof(host)) {
        say("--ci-socket %s: want HOST:PORT", spec);
        return -1;
    }
    memcpy(host, spec, hl);
    host[hl] = '\0';
    memset(&a4, 0, sizeof(a4));
    memset(&a6, 0, sizeof(a6));
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a4;
        salen = sizeof(a4);
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        sa = (struct sockaddr *)&a6;
        salen = sizeof(a6);
    } else {
        say("--ci-socket %s: not a numeric address", host);
        return -1;
    }
    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    /* O_ASYNC before listen(): no connection can come without its SIGIO. TCP_NODELAY
     * too: connections inherit it from the listener (ci_http.c says why). */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        bind(fd, sa, salen) < 0 || fcntl(fd, F_SETOWN, getpid()) < 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK | O_ASYNC) < 0 || listen(fd, SOMAXCONN) < 0) {
        say("cube-ci socket %s: %s", host, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* The first connection for cube-ci is waiting: start it (once; restarts after a crash
 * are the usual backoff ones, with the same socket). */
static void ci_activate(void)
{
    if (!ci_waiting || shutdown_deadline_ms >= 0)
        return;
    ci_waiting = 0;
    /* The flag is the open file's, shared with cube-ci: no more signals for us. */
    if (fcntl(ci_sock, F_SETFL, O_NONBLOCK) < 0)
        say("cube-ci socket: %s", strerror(errno));
    start_child(&ci);
}

static void begin_shutdown(int sig)
{
    if (shutdown_deadline_ms >= 0)
        return;
    ci_waiting = 0;
    say("signal %d: shutting down", sig);
    envd.restart_at_ms = -1;
    ci.restart_at_ms = -1;
    if (envd.pid > 0)
        kill(envd.pid, sig);
    if (ci.pid > 0)
        kill(ci.pid, sig);
    signal_all(SIGTERM);
    shutdown_deadline_ms = now_ms() + GRACE_MS;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: cube-init [--channel-fd N] [--ci CI-PATH [--ci-arg ARG]... "
            "[--ci-socket HOST:PORT]] [--] [ENVD-PATH [ARGS...]]\n"
            "  (default envd %s; with it, %s is started too when present, on the\n"
            "  first connection to %s)\n",
            DEFAULT_ENVD, DEFAULT_CI, DEFAULT_CI_SOCKET);
}

int main(int argc, char **argv)
{
    static char *default_argv[] = {DEFAULT_ENVD, NULL};
    static char *ci_argv[MAX_CI_ARGS + 2];
    const char *ci_socket = NULL;
    int i = 1, nci = 0;

    if (i < argc && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
        usage();
        return 0;
    }
    while (i + 1 < argc &&
           (!strcmp(argv[i], "--ci") || !strcmp(argv[i], "--ci-arg") ||
            !strcmp(argv[i], "--channel-fd") || !strcmp(argv[i], "--ci-socket"))) {
        if (!strcmp(argv[i], "--channel-fd")) {
            char *end;
            long v = strtol(argv[i + 1], &end, 10);

            /* Close-on-exec at once: nothing but envd may inherit it. */
            if (end == argv[i + 1] || *end || v < 3 || v > 1024 ||
                fcntl((int)v, F_SETFD, FD_CLOEXEC) < 0) {
                say("--channel-fd %s: not an open descriptor >= 3", argv[i + 1]);
                return 2;
            }
            chan_fd = (int)v;
        } else if (!strcmp(argv[i], "--ci-socket")) {
            ci_socket = argv[i + 1];
        } else if (!strcmp(argv[i], "--ci")) {
            ci_argv[0] = argv[i + 1];
        } else if (nci < MAX_CI_ARGS) {
            ci_argv[1 + nci++] = argv[i + 1];
        }
        i += 2;
    }
    if (i < argc && !strcmp(argv[i], "--"))
        i++;
    envd.argv = i < argc ? &argv[i] : default_argv;
    if (!ci_argv[0] && !strcmp(envd.argv[0], DEFAULT_ENVD) &&
        access(DEFAULT_CI, X_OK) == 0) {
        ci_argv[0] = DEFAULT_CI;
        if (!ci_socket)
            ci_socket = DEFAULT_CI_SOCKET;
    }
    if (ci_argv[0])
        ci.argv = ci_argv;

    sigfillset(&all_signals);
    sigprocmask(SIG_BLOCK, &all_signals, NULL);
    if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        say("cannot become a subreaper: %s", strerror(errno));

    start_child(&envd);
    if (ci.argv && ci_socket) {
        /* After envd's start: the channel's fd is free again and envd never sees this
         * socket. */
        ci_sock = ci_listen(ci_socket);
        ci_waiting = ci_sock >= 0;
    }
    if (ci.argv && !ci_waiting)
        start_child(&ci);
    for (;;) {
        long long now = now_ms(), wake = -1;
        struct timespec ts, *tsp = NULL;
        siginfo_t si;
        int sig;

        if (envd.restart_at_ms >= 0)
            wake = envd.restart_at_ms;
        if (ci.restart_at_ms >= 0 && (wake < 0 || ci.restart_at_ms < wake))
            wake = ci.restart_at_ms;
        if (shutdown_deadline_ms >= 0 && !killed_all)
            wake = shutdown_deadline_ms;
        if (shutdown_deadline_ms >= 0 && killed_all)
            wake = now + 100; /* poll: SIGKILLed processes go away quickly */
        if (wake >= 0) {
            long long d = wake > now ? wake - now : 0;
            ts.tv_sec = d / 1000;
            ts.tv_nsec = (d % 1000) * 1000000;
            tsp = &ts;
        }
        sig = sigtimedwait(&all_signals, &si, tsp);
        switch (sig) {
        case -1:      /* timeout or EINTR: check timers below */
        case SIGCHLD: /* reaped below */
            break;
        case SIGTERM:
        case SIGINT:
            begin_shutdown(sig);
            break;
        case SIGIO:
            ci_activate();
            break;
        case SIGHUP:
        case SIGQUIT:
        case SIGUSR1:
        case SIGUSR2:
            if (envd.pid > 0)
                kill(envd.pid, sig);
            break;
        default:
            break;
        }
        if (reap() && shutdown_deadline_ms >= 0) {
            say("all processes gone, exiting");
            return 0;
        }
        now = now_ms();
        if (shutdown_deadline_ms >= 0) {
            if (!killed_all && now >= shutdown_deadline_ms) {
                say("grace period over, killing what is left");
                signal_all(SIGKILL);
                killed_all = 1;
                shutdown_deadline_ms = now;
            } else if (killed_all && now - shutdown_deadline_ms > 2000) {
                /* Stuck in uninterruptible sleep: as PID 1 our exit tears the
                 * namespace down anyway. */
                say("processes still present after SIGKILL, exiting");
                return 0;
            }
        } else {
            if (envd.restart_at_ms >= 0 && now >= envd.restart_at_ms)
                start_child(&envd);
            if (ci.restart_at_ms >= 0 && now >= ci.restart_at_ms)
                start_child(&ci);
        }
    }
}
