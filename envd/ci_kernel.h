/* cube-ci: one kernel = one long-lived driver process (envd/drivers/) running
 * a context's code. cube-ci talks to it over pipes:
 *   fd 3 (driver reads):  one JSON request per line
 *                         {"code":"…","env_vars":{…},"global_env":{…}}
 *   fd 4 (driver writes): one JSON event per line
 *                         {"type":"result","main":true,"data":{<mime>:…}}
 *                         {"type":"error","name":…,"value":…,"traceback":…}
 *                         {"type":"done"}   (always, last, once per request)
 *   fd 1 / fd 2:          the code's stdout / stderr, passed on as produced
 *   fd 0:                 /dev/null
 * The driver runs in a session of its own; an interrupt is SIGINT to that
 * process group. */
#ifndef CI_KERNEL_H
#define CI_KERNEL_H

#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>

struct ci_kernel;

struct ci_kernel_ops {
    /* Output of the code (valid UTF-8). is_err: stderr. */
    void (*output)(void *arg, int is_err, const char *text, size_t len);
    /* One event line from the driver (borrowed). */
    void (*event)(void *arg, json_t *ev);
    /* The driver went away (its event pipe closed). The kernel is already
     * dead and freed when this runs. */
    void (*exited)(void *arg);
};

/* Process-wide settings: the drivers directory and the user to run as
 * (NULL or unknown: the current user). */
void ci_kernel_setup(struct event_base *base, const char *drivers_dir, const char *user);
void ci_kernel_cleanup(void);

/* 1 if cube-ci knows how to run this (normalized) language. */
int ci_kernel_language_supported(const char *language);

/* Start a driver for language in cwd. Returns NULL with a message in err
 * (unsupported language, runtime missing, fork failed). */
struct ci_kernel *ci_kernel_start(const char *language, const char *cwd,
                                  const struct ci_kernel_ops *ops, void *arg, char *err,
                                  size_t errlen);
/* Queue one request line (the object is serialized; borrowed). */
int ci_kernel_send(struct ci_kernel *k, json_t *req);
/* SIGINT to the driver's process group. */
void ci_kernel_interrupt(struct ci_kernel *k);
/* Read whatever output is already in the pipes (call before reporting the
 * end of an execution, so output written before "done" goes with it). */
void ci_kernel_drain(struct ci_kernel *k);
/* Stop (paused = 1) or resume reading the code's output and the driver's
 * events. While paused, the pipes fill and the code blocks in write(): the
 * backpressure for a client that reads slowly. */
void ci_kernel_pause(struct ci_kernel *k, int paused);
/* SIGKILL the process group, close everything, free. No callbacks. */
void ci_kernel_kill(struct ci_kernel *k);
/* Reap exited children (SIGCHLD). */
void ci_kernel_reap(void);

#endif
