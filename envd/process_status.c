/* wait(2) status → Go ProcessState strings. See process_status.h. */
#include "process_status.h"

#include <stdio.h>
#include <sys/wait.h>

/* The names Go prints for Linux signals 1..31 (its syscall signal table), which
 * differ from glibc's strsignal() ("killed" vs "Killed", "aborted" vs
 * "Aborted"), so strsignal cannot be used. */
static const char *const go_signal_names[32] = {
    [1] = "hangup",
    [2] = "interrupt",
    [3] = "quit",
    [4] = "illegal instruction",
    [5] = "trace/breakpoint trap",
    [6] = "aborted",
    [7] = "bus error",
    [8] = "floating point exception",
    [9] = "killed",
    [10] = "user defined signal 1",
    [11] = "segmentation fault",
    [12] = "user defined signal 2",
    [13] = "broken pipe",
    [14] = "alarm clock",
    [15] = "terminated",
    [16] = "stack fault",
    [17] = "child exited",
    [18] = "continued",
    [19] = "stopped (signal)",
    [20] = "stopped",
    [21] = "stopped (tty input)",
    [22] = "stopped (tty output)",
    [23] = "urgent I/O condition",
    [24] = "CPU time limit exceeded",
    [25] = "file size limit exceeded",
    [26] = "virtual timer expired",
    [27] = "profiling timer expired",
    [28] = "window changed",
    [29] = "I/O possible",
    [30] = "power failure",
    [31] = "bad system call",
};

const char *process_signal_name(int sig, char *buf, size_t buflen)
{
    if (sig > 0 && sig < 32 && go_signal_names[sig])
        return go_signal_names[sig];
    snprintf(buf, buflen, "signal %d", sig);
    return buf;
}

void process_describe_status(int wstatus, struct process_exit *ex, char *out,
                             size_t outlen)
{
    char tmp[32];
    int n = 0;

    ex->exit_code = -1;
    ex->exited = 0;
    ex->success = 0;
    if (outlen == 0)
        return;
    out[0] = '\0';
    if (WIFEXITED(wstatus)) {
        ex->exit_code = WEXITSTATUS(wstatus);
        ex->exited = 1;
        ex->success = ex->exit_code == 0;
        n = snprintf(out, outlen, "exit status %d", ex->exit_code);
    } else if (WIFSIGNALED(wstatus)) {
        n = snprintf(out, outlen, "signal: %s",
                     process_signal_name(WTERMSIG(wstatus), tmp, sizeof(tmp)));
    } else if (WIFSTOPPED(wstatus)) {
        n = snprintf(out, outlen, "stop signal: %s",
                     process_signal_name(WSTOPSIG(wstatus), tmp, sizeof(tmp)));
    } else if (WIFCONTINUED(wstatus)) {
        n = snprintf(out, outlen, "continued");
    }
    if (n >= 0 && (size_t)n < outlen && WIFSIGNALED(wstatus) && WCOREDUMP(wstatus))
        snprintf(out + n, outlen - (size_t)n, " (core dumped)");
}
