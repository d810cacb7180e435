/* Describing a wait(2) status the way E2B's envd (written in Go) does, because
 * the SDK shows these strings to users and some tests compare them:
 * "exit status 1", "signal: killed", "signal: terminated (core dumped)". */
#ifndef ENVD_PROCESS_STATUS_H
#define ENVD_PROCESS_STATUS_H

#include <stddef.h>

struct process_exit {
    int exit_code; /* exit status, or -1 when the process did not exit normally */
    int exited;    /* 1 if it called exit(), 0 if a signal ended it */
    int success;   /* exited with status 0 */
};

/* Go's syscall.Signal.String() text for a Linux signal number ("killed" for 9);
 * "signal N" for numbers without a name. buf is used only for the latter. */
const char *process_signal_name(int sig, char *buf, size_t buflen);

/* Fill *ex and write Go's os.ProcessState.String() for wstatus into out. */
void process_describe_status(int wstatus, struct process_exit *ex, char *out,
                             size_t outlen);

#endif
