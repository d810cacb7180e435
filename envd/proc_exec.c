/* Starting a program without copying envd. See proc_exec.h.
 *
 * fork() copies the parent's page tables and marks every page copy-on-write;
 * on a paravirtualised host each of those updates traps to the hypervisor, and
 * fork + exec + wait of /bin/true measured 3.1 ms where vfork + exec + wait
 * took 1.8 ms. The child here runs on a stack of its own inside envd's memory,
 * and envd sleeps (CLONE_VFORK) until the child has exec'd or exited, which is
 * what makes sharing the memory safe: no event handler, no allocation and no
 * other code of envd runs meanwhile. The child only makes system calls and
 * writes its failure, if any, into the shared struct; errno is shared with the
 * sleeping parent too, which is harmless because the parent reads nothing of
 * it until clone returns.
 *
 * The child functions are not instrumented by the sanitizers: they run on a
 * stack the sanitizer runtime does not know, and its bookkeeping (the memory
 * of the sleeping parent) must not be changed from here. */
#include "proc_exec.h"

#include "envd_user.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_STACK_SIZE (64 * 1024)

#define CHILD_CODE __attribute__((no_sanitize_address, no_sanitize_undefined, noinline))

enum stage {
    STAGE_NONE,
    STAGE_SETUP,
    STAGE_SETGROUPS,
    STAGE_SETGID,
    STAGE_SETUID,
    STAGE_CHDIR,
    STAGE_EXEC
};

static const char *const stage_names[] = {"",       "set up", "setgroups", "setgid",
                                          "setuid", "chdir",  "exec"};

struct child_args {
    const struct proc_spec *spec;
    int fd_in, fd_out, fd_err;
    /* Written by the child only when it fails; read after it exec'd or died. */
    volatile int fail_stage;
    volatile int fail_errno;
};

/* One stack serves every spawn: envd is single-threaded and sleeps while the
 * child uses it. */
static char child_stack[CHILD_STACK_SIZE] __attribute__((aligned(16)));

static CHILD_CODE __attribute__((noreturn)) void child_fail(struct child_args *a,
                                                            enum stage stage)
{
    a->fail_errno = errno;
    a->fail_stage = stage;
    _exit(127);
}

/* Credentials through the raw system calls: glibc's wrappers would try to
 * apply them to every thread of envd, whose thread list this child shares. */
static CHILD_CODE void child_become(struct child_args *a, const struct envd_user *u)
{
    if (geteuid() != 0) {
        /* Unprivileged envd (tests) can only run processes as itself. */
        if (u->uid != geteuid()) {
            errno = EPERM;
            child_fail(a, STAGE_SETUID);
        }
        return;
    }
    if (syscall(SYS_setgroups, (size_t)u->ngroups, u->groups) < 0)
        child_fail(a, STAGE_SETGROUPS);
    if (syscall(SYS_setresgid, u->gid, u->gid, u->gid) < 0)
        child_fail(a, STAGE_SETGID);
    if (syscall(SYS_setresuid, u->uid, u->uid, u->uid) < 0)
        child_fail(a, STAGE_SETUID);
}

static CHILD_CODE int child_main(void *arg)
{
    struct child_args *a = arg;
    const struct proc_spec *spec = a->spec;
    struct sigaction dfl;
    sigset_t none;
    int sig;

    /* Ignored signals would stay ignored across exec, and a handler of envd's
     * must never run here (signals are blocked until just before exec). */
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);

    /* A session of its own: signals to the group reach all it starts, and a
     * pty can become its controlling terminal. */
    if (setsid() < 0)
        child_fail(a, STAGE_SETUP);
    if (spec->pty && ioctl(a->fd_out, TIOCSCTTY, 0) < 0)
        child_fail(a, STAGE_SETUP);
    /* envd's fds are all >= 3 (main() makes sure 0-2 are taken), so dup2 onto
     * 0-2 cannot clobber one still needed. */
    if (dup2(a->fd_in, 0) < 0 || dup2(a->fd_out, 1) < 0 || dup2(a->fd_err, 2) < 0)
        child_fail(a, STAGE_SETUP);
    /* Everything of envd's is close-on-exec already; this is the backstop. */
    close_range(3, ~0U, 0);
    if (spec->user)
        child_become(a, spec->user);
    if (chdir(spec->cwd) < 0)
        child_fail(a, STAGE_CHDIR);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(spec->path, spec->argv, spec->envp);
    child_fail(a, STAGE_EXEC);
}

pid_t proc_exec(const struct proc_spec *spec, int fd_in, int fd_out, int fd_err,
                char *err, size_t errlen)
{
    struct child_args a = {
        .spec = spec, .fd_in = fd_in, .fd_out = fd_out, .fd_err = fd_err};
    sigset_t all, old;
    pid_t pid;

    /* Blocked across the clone: the child resets the dispositions before it
     * lets any signal in. */
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid = clone(child_main, child_stack + sizeof(child_stack),
                CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        (void)snprintf(err, errlen, "cannot start process: %s", strerror(errno));
        return -1;
    }
    if (a.fail_stage == STAGE_NONE)
        return pid;
    waitpid(pid, NULL, 0);
    if (a.fail_stage == STAGE_EXEC)
        (void)snprintf(err, errlen, "fork/exec %s: %s", spec->path,
                       strerror(a.fail_errno));
    else
        (void)snprintf(err, errlen, "starting %s: %s: %s", spec->path,
                       stage_names[a.fail_stage], strerror(a.fail_errno));
    return -1;
}
