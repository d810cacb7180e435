/* User processes started by envd: spawning (as another user, in a new session,
 * with pipes or a pty), the process table, output pumping to any number of
 * Connect streams, stdin, signals, exit reporting.
 *
 * A process is independent of the streams watching it: a client going away
 * never kills it, output produced while nobody listens is dropped, and only
 * SendSignal, its own exit or the Start call's deadline end it. After it exits
 * (and its output is drained) every stream gets the `end` event, and the entry
 * is kept for a while so a late Connect still learns how it ended. */
#ifndef ENVD_PROCESS_H
#define ENVD_PROCESS_H

#include "connect_rpc.h"
#include "envd_user.h"

#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Output chunk limits (bytes of raw output per data event), as in E2B. */
#define PROC_PIPE_CHUNK (32 * 1024)
#define PROC_PTY_CHUNK (16 * 1024)

struct proc;

struct proc_spec {
    const char *path;  /* executable; relative paths are relative to cwd */
    char *const *argv; /* argv[0] included, NULL-terminated */
    char *const *envp; /* NULL-terminated */
    const char *cwd;   /* absolute, must exist */
    const struct envd_user *user;
    int pty; /* 1: allocate a pty of cols x rows */
    unsigned short cols, rows;
    int stdin_pipe;  /* without pty: 1 = pipe kept open, 0 = /dev/null */
    const char *tag; /* optional */
    json_t *config;  /* ProcessConfig echoed by List; reference stolen */
};

int proc_table_init(struct event_base *base);
/* Free all bookkeeping (processes keep running; init reaps them). */
void proc_table_shutdown(void);
/* Reap exited children (SIGCHLD). */
void proc_reap(void);

/* Start a process. NULL on failure with the reason in err (the config
 * reference is released either way). */
struct proc *proc_spawn(const struct proc_spec *spec, char *err, size_t errlen);

/* Look up by pid (pid != 0) or by tag. Only running processes unless
 * include_finished. */
struct proc *proc_find(uint32_t pid, const char *tag, int include_finished);
uint32_t proc_pid(const struct proc *p);

/* Answer req with a stream of p's events: start{pid} now, then data, keepalive
 * and the end. If p already finished, start + end at once. starter marks the
 * Start call's own stream (the one ended by the process deadline);
 * stream_deadline_ms > 0 ends this stream alone (deadline_exceeded) after that
 * long. Returns 0, or -1 if the stream could not be opened (an error reply was
 * sent). */
int proc_stream(struct proc *p, struct evhttp_request *req, int starter,
                long stream_deadline_ms);

/* Kill p (whole process group) when ms elapse; its starter stream then ends
 * with deadline_exceeded. */
void proc_set_deadline(struct proc *p, long ms);

/* Queue bytes for p's stdin (pty = 0) or pty (pty = 1). 0, or -1 with a code
 * and message. */
int proc_send_input(struct proc *p, int pty, const void *data, size_t len,
                    enum connect_code *code, char *err, size_t errlen);
int proc_close_stdin(struct proc *p, enum connect_code *code, char *err, size_t errlen);
int proc_signal(struct proc *p, int sig);
int proc_resize(struct proc *p, unsigned short cols, unsigned short rows,
                enum connect_code *code, char *err, size_t errlen);

/* {"processes":[{"config":...,"pid":N,"tag":"..."}]} of running processes. */
json_t *proc_list(void);

#endif
