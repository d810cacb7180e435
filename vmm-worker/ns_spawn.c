/* clone3 + the child's side of sandbox setup.
 *
 * Sequence (parent P = worker, child C = future sandbox init; sync over a SEQPACKET
 * socketpair so every message is one datagram and EOF means "C exec'd or died"):
 *
 *   P: clone3(NEWUSER|NEWPID|NEWNS|NEWNET|NEWUTS|NEWIPC, CLONE_PIDFD)
 *   C: mark all inherited fds close-on-exec, wait for "M"
 *   P: write uid_map/gid_map (P is privileged in the parent userns, so setgroups(2)
 *      stays allowed inside: sudo needs it), cfg->placed() (cgroups), send "M"
 *   C: become uid/gid 0 of its userns, unshare(NEWCGROUP) (now rooted at its own
 *      cgroup), mounts + pivot_root, hostname; wait for "N"
 *   P: cfg->wired() (netns + veth) in parallel with C's mounts, send "N"
 *   C: child_harden (masks, caps, seccomp), stdio, the worker channel as fd 3,
 *      exec cube-init -> sync fd closes (CLOEXEC) -> P sees EOF
 *   C on any error: sends "E<message>" and exits; P kills and reaps it.
 *
 * The caller (a spawner process, spawner.h) is single-threaded, so running ordinary
 * libc code in the child of a raw clone3 (no fork handlers) is safe. */
#include "ns_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "cube_chan.h"
#include "cube_log.h"
#include "seccomp_profile.h"
#include "util.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Kernel ABI of clone3 (linux/sched.h, v0 layout = 64 bytes); declared here because
 * <linux/sched.h> clashes with glibc's <sched.h>. */
struct cube_clone_args {
    uint64_t flags;
    uint64_t pidfd;
    uint64_t child_tid;
    uint64_t parent_tid;
    uint64_t exit_signal;
    uint64_t stack;
    uint64_t stack_size;
    uint64_t tls;
};

#define SYNC_TIMEOUT_MS 10000

static const char *const sandbox_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    NULL,
};

/* The seccomp filter as raw BPF, generated once per process by libseccomp (a spawner
 * makes many sandboxes) and loaded by every child with one seccomp(2) call: the same
 * program seccomp_load() would install (no flags, no no_new_privs), without
 * libseccomp's feature probing and filter generation in each child. */
static struct sock_fprog filter;

static int filter_prepare(char *err, int errlen)
{
    struct sock_filter *prog = NULL;
    void *ctx;
    off_t len;
    int fd, rc;

    if (filter.filter)
        return 0;
    ctx = seccomp_profile_build(err, errlen);
    if (!ctx)
        return -1;
    fd = memfd_create("cube-seccomp", MFD_CLOEXEC);
    rc = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
    seccomp_profile_free(ctx);
    len = rc == 0 ? lseek(fd, 0, SEEK_END) : -1;
    if (len > 0 && len % (off_t)sizeof(*prog) == 0 &&
        len / (off_t)sizeof(*prog) <= USHRT_MAX && (prog = malloc((size_t)len)) != NULL &&
        pread(fd, prog, (size_t)len, 0) == (ssize_t)len) {
        filter.len = (unsigned short)(len / (off_t)sizeof(*prog));
        filter.filter = prog;
    } else {
        free(prog);
        (void)snprintf(err, (size_t)errlen, "export seccomp filter: %s",
                       strerror(rc < 0 ? -rc : EINVAL));
    }
    if (fd >= 0)
        close(fd);
    return filter.filter ? 0 : -1;
}

static struct rlimit sandbox_nofile;
static int have_nofile;

/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): setrlimit's order */
void ns_spawn_set_nofile(unsigned long long soft, unsigned long long hard)
{
    sandbox_nofile.rlim_cur = (rlim_t)soft;
    sandbox_nofile.rlim_max = (rlim_t)hard;
    have_nofile = 1;
}

/* ---- child ------------------------------------------------------------------------ */

static void child_fail(int sync, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));

static void child_fail(int sync, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    msg[0] = 'E';
    va_start(ap, fmt);
    vsnprintf(msg + 1, sizeof(msg) - 1, fmt, ap);
    va_end(ap);
    send(sync, msg, strlen(msg), MSG_NOSIGNAL);
    _exit(127);
}

static void child_wait(int sync, char want)
{
    char c = 0;
    ssize_t n;

    do {
        n = recv(sync, &c, 1, 0);
    } while (n < 0 && errno == EINTR);
    /* EOF: the worker gave up on us (or died); there is nobody to report to. */
    if (n != 1 || c != want)
        _exit(126);
}

/* Without no_new_privs: the kernel then wants CAP_SYS_ADMIN in our user namespace,
 * which the child still has here (seccomp_profile.c says why no NNP). */
static int load_filter(char *err, int errlen)
{
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &filter) < 0) {
        (void)snprintf(err, (size_t)errlen, "load seccomp filter: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* The sandbox boundary, right before exec (the filesystem is final, so the filter
 * does not have to allow the setup syscalls). Order matters:
 *   1. mask /proc and /sys              (mount: needs CAP_SYS_ADMIN)
 *   2. bounding set + ambient -> caps.h (PR_CAPBSET_DROP: needs CAP_SETPCAP)
 *   3. seccomp filter                   (without no_new_privs: needs CAP_SYS_ADMIN)
 *   4. effective/permitted/inheritable  (a pure reduction; the filter allows capset)
 * no_new_privs is deliberately NOT set: `sudo` (setuid root inside the sandbox's user
 * namespace) must keep working for the sandbox's user, and NNP would disable setuid
 * for every descendant. What root inside can do is bounded by the capability set and
 * the filter instead, which setuid exec cannot widen: after exec, root's capabilities
 * are the bounding set at most, and the filter is inherited and permanent. */
static int child_harden(char *err, int errlen)
{
    uint64_t keep = caps_sandbox_mask();

    if (ns_mounts_mask(err, errlen) < 0 || caps_limit_bounding(keep, err, errlen) < 0 ||
        load_filter(err, errlen) < 0 || caps_limit_process(keep, err, errlen) < 0)
        return -1;
    return 0;
}

static void child_reset_signals(void)
{
    sigset_t none;
    int sig;

    /* Ignored signals (the worker ignores SIGPIPE) survive execve; handlers do not,
     * but reset everything so the sandbox starts from a clean slate. */
    for (sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void __attribute__((noreturn)) child_main(const struct ns_spawn_cfg *cfg, int sync)
{
    char err[400];
    int devnull;

    /* Nothing of the worker (listening socket, Redis, other sandboxes' pidfds and
     * consoles) may leak into the sandbox: everything closes at exec. */
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        child_fail(sync, "close_range: %s", strerror(errno));
    child_wait(sync, 'M');

    /* Own session: a Ctrl-C on the worker's terminal must not reach sandboxes. */
    setsid();
    if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
        child_fail(sync, "become userns root: %s", strerror(errno));
    if (unshare(CLONE_NEWCGROUP) < 0)
        child_fail(sync, "unshare cgroup ns: %s", strerror(errno));
    if (ns_mounts_setup(&cfg->mnt, err, sizeof(err)) < 0)
        child_fail(sync, "%s", err);
    if (sethostname(cfg->mnt.hostname, strlen(cfg->mnt.hostname)) < 0)
        child_fail(sync, "sethostname: %s", strerror(errno));
    child_wait(sync, 'N');

    if (child_harden(err, sizeof(err)) < 0)
        child_fail(sync, "%s", err);
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0)
        child_fail(sync, "stdin: %s", strerror(errno));
    if (cfg->console_fd >= 0 &&
        (dup2(cfg->console_fd, 1) < 0 || dup2(cfg->console_fd, 2) < 0))
        child_fail(sync, "console: %s", strerror(errno));
    /* The one descriptor init inherits besides stdio (dup2 clears close-on-exec). */
    if (cfg->chan_fd >= 0 &&
        (cfg->chan_fd == CUBE_CHAN_FD ? fcntl(CUBE_CHAN_FD, F_SETFD, 0)
                                      : dup2(cfg->chan_fd, CUBE_CHAN_FD)) < 0)
        child_fail(sync, "channel fd: %s", strerror(errno));
    /* Lowering both limits needs no privilege. */
    if (have_nofile && setrlimit(RLIMIT_NOFILE, &sandbox_nofile) < 0)
        child_fail(sync, "limit open files: %s", strerror(errno));
    child_reset_signals();
    execve(cfg->init_path, cfg->init_argv, (char *const *)sandbox_env);
    child_fail(sync, "exec %s: %s", cfg->init_path, strerror(errno));
}

/* ---- parent ----------------------------------------------------------------------- */

static int write_id_maps(pid_t pid, unsigned shift)
{
    char path[64], map[64];

    snprintf(map, sizeof(map), "0 %u %u\n", shift, NS_UID_COUNT);
    snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)pid);
    if (util_write_knob(path, map) < 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)pid);
    return util_write_knob(path, map);
}

static int send_byte(int sync, char c)
{
    /* EPIPE here just means the child already failed; its message is still queued
     * and read below. */
    return send(sync, &c, 1, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* Wait for EOF (exec happened) or an error datagram. EOF alone is ambiguous: a child
 * killed before exec also closes the socket, so check that it is still there. */
static int await_exec(int sync, pid_t pid, char *err, int errlen)
{
    siginfo_t si;
    struct pollfd pfd = {.fd = sync, .events = POLLIN};
    char msg[512];
    ssize_t n;
    int rc;

    do {
        rc = poll(&pfd, 1, SYNC_TIMEOUT_MS);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        snprintf(err, (size_t)errlen, "sandbox setup timed out");
        return -1;
    }
    n = recv(sync, msg, sizeof(msg) - 1, MSG_DONTWAIT);
    if (n == 0) {
        memset(&si, 0, sizeof(si));
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            si.si_pid == 0)
            return 0;
        snprintf(err, (size_t)errlen, "sandbox init exited right after exec");
        return -1;
    }
    if (n > 1 && msg[0] == 'E') {
        msg[n] = '\0';
        snprintf(err, (size_t)errlen, "%s", msg + 1);
    } else {
        snprintf(err, (size_t)errlen, "sandbox setup: child died");
    }
    return -1;
}

int ns_spawn(const struct ns_spawn_cfg *cfg, pid_t *pid_out, int *pidfd_out, char *err,
             int errlen)
{
    struct cube_clone_args args;
    int sv[2], pidfd = -1;
    pid_t pid;

    if (filter_prepare(err, errlen) < 0)
        return -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        snprintf(err, (size_t)errlen, "socketpair: %s", strerror(errno));
        return -1;
    }
    memset(&args, 0, sizeof(args));
    args.flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET |
                 CLONE_NEWUTS | CLONE_NEWIPC | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    fflush(stderr);
    pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0) {
        snprintf(err, (size_t)errlen, "clone3: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        child_main(cfg, sv[1]);
    }
    close(sv[1]);

    if (write_id_maps(pid, cfg->uid_shift) < 0) {
        snprintf(err, (size_t)errlen, "write id maps: %s", strerror(errno));
        goto fail;
    }
    if (cfg->placed && cfg->placed(pid, cfg->ctx, err, errlen) < 0)
        goto fail;
    if (send_byte(sv[0], 'M') < 0 && errno != EPIPE) {
        snprintf(err, (size_t)errlen, "sync: %s", strerror(errno));
        goto fail;
    }
    if (cfg->wired && cfg->wired(pid, cfg->ctx, err, errlen) < 0)
        goto fail;
    send_byte(sv[0], 'N');
    if (await_exec(sv[0], pid, err, errlen) < 0)
        goto fail;
    close(sv[0]);
    *pid_out = pid;
    *pidfd_out = pidfd;
    return 0;
fail:
    log_debug("spawn of %s failed: %s", cfg->mnt.hostname, err);
    /* Killing the child kills its (so far empty) pid namespace; reap it so no zombie
     * is left, and the caller can release its cgroups right away. */
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    close(pidfd);
    close(sv[0]);
    return -1;
}

void ns_spawn_kill_wait(int pidfd)
{
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};

    if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
        return;
    while (poll(&pfd, 1, SYNC_TIMEOUT_MS) < 0 && errno == EINTR)
        ;
}
