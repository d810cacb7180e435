/* Process table, spawning and I/O pumping. See process.h.
 *
 * Everything runs on the one event loop. Each process has up to three fds on
 * our side: stdout and stderr pipes (or one pty master), and stdin (pipe write
 * end, or a dup of the pty master). Output is read in chunks, base64-encoded
 * once into a ready-made envelope and appended to every subscribed stream.
 * When a stream's connection falls behind (the client reads slower than the
 * process writes), reading pauses until it catches up, so a chatty process
 * cannot make envd buffer without bound; with no stream attached, output is
 * read and dropped so the process never blocks on a full pipe. */
#include "process.h"

#include "base64.h"
#include "connect_envelope.h"
#include "cube_log.h"
#include "proc_exec.h"
#include "process_status.h"

#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* Stop reading output while some stream has this much unsent data... */
#define BACKLOG_HIGH (4u << 20)
/* ...and resume when every stream is below this. */
#define BACKLOG_LOW (1u << 20)
/* At exit, read at most this much still-buffered output per fd (a background
 * grandchild keeping the pipe open and writing must not keep us here). */
#define DRAIN_LIMIT (4u << 20)
/* Pending stdin per process beyond which SendInput is refused. */
#define STDIN_LIMIT (64u << 20)
/* How long, and how many, finished processes stay visible to Connect. */
#define FINISHED_KEEP_S 60
#define FINISHED_KEEP_MAX 256

#define KEEPALIVE_EVENT "{\"event\":{\"keepalive\":{}}}"

struct proc_sub {
    struct proc_sub *next;
    struct proc *p;
    struct connect_stream *s;
    int starter;
};

struct proc_out {
    struct proc *p;
    int fd; /* -1 once closed */
    struct event *ev;
    const char *kind; /* "stdout", "stderr" or "pty" */
};

struct proc {
    struct proc *prev, *next;
    pid_t pid;
    char *tag;
    json_t *config;
    int pty;
    struct proc_out out, err; /* err unused (fd -1) with a pty */
    int in_fd;                /* stdin pipe / pty master dup; -1 if none */
    struct event *in_ev;
    struct evbuffer *in_buf;
    int in_close_pending;
    struct event *deadline_ev;
    struct event *throttle_ev;
    struct event *expire_ev;
    int throttled;
    int finished;   /* exit seen and reported; kept only for Connect */
    char *end_json; /* the end event, once finished */
    struct proc_sub *subs;
};

static struct event_base *proc_base;
static struct proc *table;
static int nfinished;

/* Scratch buffers for one output chunk: raw bytes, and the envelope built from
 * them (header + {"event":{"data":{"stdout":"<base64>"}}}). */
static uint8_t read_buf[PROC_PIPE_CHUNK];
static char env_buf[CONNECT_ENVELOPE_HEADER_LEN + 64 + B64_ENCODED_LEN(PROC_PIPE_CHUNK)];

static void proc_free(struct proc *p);
static void proc_finish(struct proc *p, int wstatus);

/* ---------------------------------------------------------------- table */

int proc_table_init(struct event_base *base)
{
    proc_base = base;
    return 0;
}

static void table_insert(struct proc *p)
{
    p->next = table;
    if (table)
        table->prev = p;
    table = p;
}

static void table_remove(struct proc *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        table = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
}

struct proc *proc_find(uint32_t pid, const char *tag, int include_finished)
{
    /* Running entries first: a finished entry may share its pid with a newer
     * process only until the new one is inserted (which drops the old). */
    for (struct proc *p = table; p; p = p->next) {
        if (p->finished && !include_finished)
            continue;
        if (pid ? (uint32_t)p->pid == pid : (p->tag && tag && !strcmp(p->tag, tag)))
            return p;
    }
    return NULL;
}

uint32_t proc_pid(const struct proc *p)
{
    return (uint32_t)p->pid;
}

json_t *proc_list(void)
{
    json_t *arr = json_array();

    for (struct proc *p = table; p; p = p->next) {
        json_t *info;
        if (p->finished)
            continue;
        info = json_pack("{s:O,s:I}", "config", p->config, "pid", (json_int_t)p->pid);
        if (info && p->tag)
            json_object_set_new(info, "tag", json_string(p->tag));
        if (info)
            json_array_append_new(arr, info);
    }
    return json_pack("{s:o}", "processes", arr);
}

/* ---------------------------------------------------------------- streams */

static void sub_unlink(struct proc_sub *sub)
{
    struct proc_sub **pp;

    for (pp = &sub->p->subs; *pp; pp = &(*pp)->next) {
        if (*pp == sub) {
            *pp = sub->next;
            break;
        }
    }
}

/* The client went away (or its stream deadline passed): forget the stream,
 * keep the process. */
static void sub_gone(struct connect_stream *s, void *arg)
{
    struct proc_sub *sub = arg;

    (void)s;
    sub_unlink(sub);
    free(sub);
}

int proc_stream(struct proc *p, struct evhttp_request *req, int starter,
                long stream_deadline_ms)
{
    struct proc_sub *sub = calloc(1, sizeof(*sub));
    char start[64];
    int n;

    if (!sub) {
        connect_error(req, CONNECT_INTERNAL, "out of memory");
        return -1;
    }
    sub->p = p;
    sub->starter = starter;
    sub->s = connect_stream_open(req, KEEPALIVE_EVENT, connect_request_keepalive_s(req),
                                 sub_gone, sub);
    if (!sub->s) {
        free(sub);
        return -1;
    }
    n = snprintf(start, sizeof(start), "{\"event\":{\"start\":{\"pid\":%d}}}", p->pid);
    connect_stream_send(sub->s, start, (size_t)n);
    if (p->finished) {
        connect_stream_send(sub->s, p->end_json, strlen(p->end_json));
        connect_stream_end(sub->s, -1, NULL);
        free(sub);
        return 0;
    }
    if (stream_deadline_ms > 0)
        connect_stream_set_deadline(sub->s, stream_deadline_ms);
    sub->next = p->subs;
    p->subs = sub;
    return 0;
}

/* ---------------------------------------------------------------- output */

static void out_close(struct proc_out *o)
{
    if (o->ev) {
        event_free(o->ev);
        o->ev = NULL;
    }
    if (o->fd >= 0) {
        close(o->fd);
        o->fd = -1;
    }
}

/* Send one chunk of output to every stream, as a single shared envelope. */
static void broadcast(struct proc *p, const char *kind, const uint8_t *data, size_t n)
{
    size_t len;
    int pre;

    if (!p->subs)
        return;
    pre = snprintf(env_buf + CONNECT_ENVELOPE_HEADER_LEN,
                   sizeof(env_buf) - CONNECT_ENVELOPE_HEADER_LEN,
                   "{\"event\":{\"data\":{\"%s\":\"", kind);
    len = CONNECT_ENVELOPE_HEADER_LEN + (size_t)pre;
    len += b64_encode(data, n, env_buf + len);
    {
        static const char tail[4] = {'"', '}', '}', '}'}; /* not a C string */
        memcpy(env_buf + len, tail, sizeof(tail));
        len += sizeof(tail);
    }
    connect_envelope_header((uint8_t *)env_buf, 0,
                            (uint32_t)(len - CONNECT_ENVELOPE_HEADER_LEN));
    for (struct proc_sub *sub = p->subs; sub; sub = sub->next)
        connect_stream_send_raw(sub->s, env_buf, len);
}

static int backlog_above(struct proc *p, size_t limit)
{
    for (struct proc_sub *sub = p->subs; sub; sub = sub->next)
        if (connect_stream_backlog(sub->s) > limit)
            return 1;
    return 0;
}

static void set_reading(struct proc *p, int on)
{
    struct proc_out *outs[2] = {&p->out, &p->err};

    for (int i = 0; i < 2; i++) {
        if (!outs[i]->ev)
            continue;
        if (on)
            event_add(outs[i]->ev, NULL);
        else
            event_del(outs[i]->ev);
    }
}

static void throttle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proc *p = arg;
    struct timeval tv = {0, (suseconds_t)20 * 1000};

    (void)fd;
    (void)what;
    if (backlog_above(p, BACKLOG_LOW)) {
        event_add(p->throttle_ev, &tv);
        return;
    }
    p->throttled = 0;
    set_reading(p, 1);
}

/* Read one chunk from o. Returns bytes read, 0 at end of file (or pty hangup),
 * -1 when nothing is available now. */
static ssize_t out_read(struct proc_out *o)
{
    size_t cap = o->p->pty ? PROC_PTY_CHUNK : PROC_PIPE_CHUNK;
    ssize_t n;

    do
        n = read(o->fd, read_buf, cap);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        broadcast(o->p, o->kind, read_buf, (size_t)n);
        return n;
    }
    /* A pty master reads EIO once the slave side is closed: end of output. */
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return -1;
    if (n < 0 && errno != EIO)
        log_warn("pid %d: read %s: %s", o->p->pid, o->kind, strerror(errno));
    return 0;
}

static void output_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proc_out *o = arg;
    struct proc *p = o->p;
    struct timeval tv = {0, (suseconds_t)20 * 1000};

    (void)fd;
    (void)what;
    if (out_read(o) == 0) {
        out_close(o);
        return;
    }
    if (!p->throttled && backlog_above(p, BACKLOG_HIGH)) {
        p->throttled = 1;
        set_reading(p, 0);
        event_add(p->throttle_ev, &tv);
    }
}

/* After exit: take what the process left in the pipe, then stop. */
static void out_drain(struct proc_out *o)
{
    size_t total = 0;
    ssize_t n;

    while (o->fd >= 0 && total < DRAIN_LIMIT && (n = out_read(o)) > 0)
        total += (size_t)n;
    out_close(o);
}

/* ---------------------------------------------------------------- stdin */

static void in_close(struct proc *p)
{
    if (p->in_ev) {
        event_free(p->in_ev);
        p->in_ev = NULL;
    }
    if (p->in_fd >= 0) {
        close(p->in_fd);
        p->in_fd = -1;
    }
    if (p->in_buf)
        evbuffer_drain(p->in_buf, evbuffer_get_length(p->in_buf));
    p->in_close_pending = 0;
}

/* Write as much pending input as the pipe takes; wait for writability for the
 * rest. A reader that closed its end just makes us discard the input. */
static void in_flush(struct proc *p)
{
    while (p->in_fd >= 0 && evbuffer_get_length(p->in_buf) > 0) {
        int n = evbuffer_write(p->in_buf, p->in_fd);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            event_add(p->in_ev, NULL);
            return;
        }
        if (n <= 0) {
            log_debug("pid %d: stdin closed by the process: %s", p->pid, strerror(errno));
            in_close(p);
            return;
        }
    }
    if (p->in_ev)
        event_del(p->in_ev);
    if (p->in_close_pending)
        in_close(p);
}

static void input_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    in_flush(arg);
}

int proc_send_input(struct proc *p, int pty, const void *data, size_t len,
                    enum connect_code *code, char *err, size_t errlen)
{
    *code = CONNECT_INTERNAL;
    if (pty != p->pty) {
        snprintf(err, errlen, pty ? "process %d has no pty" : "process %d uses a pty",
                 p->pid);
        return -1;
    }
    if (p->in_fd < 0 || p->in_close_pending) {
        snprintf(err, errlen, "stdin of process %d is not open", p->pid);
        return -1;
    }
    if (evbuffer_get_length(p->in_buf) + len > STDIN_LIMIT) {
        *code = CONNECT_RESOURCE_EXHAUSTED;
        snprintf(err, errlen, "process %d is not reading its input", p->pid);
        return -1;
    }
    evbuffer_add(p->in_buf, data, len);
    in_flush(p);
    return 0;
}

int proc_close_stdin(struct proc *p, enum connect_code *code, char *err, size_t errlen)
{
    if (p->pty) {
        *code = CONNECT_UNKNOWN;
        snprintf(err, errlen, "cannot close stdin of a pty process");
        return -1;
    }
    if (p->in_fd < 0)
        return 0;
    /* Input already accepted is delivered before the close. */
    p->in_close_pending = 1;
    in_flush(p);
    return 0;
}

int proc_resize(struct proc *p, unsigned short cols, unsigned short rows,
                enum connect_code *code, char *err, size_t errlen)
{
    struct winsize ws = {.ws_row = rows, .ws_col = cols};

    if (!p->pty || p->out.fd < 0) {
        *code = CONNECT_FAILED_PRECONDITION;
        snprintf(err, errlen, "process %d has no pty", p->pid);
        return -1;
    }
    /* The kernel sends SIGWINCH to the pty's foreground process group. */
    if (ioctl(p->out.fd, TIOCSWINSZ, &ws) != 0) {
        *code = CONNECT_INTERNAL;
        snprintf(err, errlen, "resize: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int proc_signal(struct proc *p, int sig)
{
    /* Each process leads its own session and process group: signal the group
     * so children it started go too, and the process itself in case it moved
     * to another group. */
    int a = kill(-p->pid, sig), b = kill(p->pid, sig);
    return a == 0 || b == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- exit */

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proc *p = arg;
    struct proc_sub *sub, *next;

    (void)fd;
    (void)what;
    log_info("pid %d: deadline reached, killing it", p->pid);
    proc_signal(p, SIGKILL);
    /* The Start call asked for this lifetime: its stream ends with the
     * deadline error. Connect streams wait for the real end event. */
    for (sub = p->subs; sub; sub = next) {
        next = sub->next;
        if (!sub->starter)
            continue;
        sub_unlink(sub);
        connect_stream_end(sub->s, CONNECT_DEADLINE_EXCEEDED,
                           "context deadline exceeded");
        free(sub);
    }
}

void proc_set_deadline(struct proc *p, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    if (!p->deadline_ev)
        p->deadline_ev = evtimer_new(proc_base, deadline_cb, p);
    if (p->deadline_ev)
        evtimer_add(p->deadline_ev, &tv);
}

static void expire_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    proc_free(arg);
    /* The last record of a burst of commands is gone: hand the heap they
     * fragmented back to the kernel, or an envd that once ran a thousand
     * commands keeps their memory for the sandbox's whole life. */
    if (!table)
        malloc_trim(0);
}

static char *end_event_json(int wstatus)
{
    struct process_exit ex;
    char status[96];
    json_t *end, *ev;
    char *s;

    process_describe_status(wstatus, &ex, status, sizeof(status));
    /* proto3 JSON leaves out default values: no exitCode 0, no exited false,
     * and error only when the process failed. */
    end = json_object();
    if (ex.exit_code != 0)
        json_object_set_new(end, "exitCode", json_integer(ex.exit_code));
    if (ex.exited)
        json_object_set_new(end, "exited", json_true());
    json_object_set_new(end, "status", json_string(status));
    if (!ex.success)
        json_object_set_new(end, "error", json_string(status));
    ev = json_pack("{s:{s:o}}", "event", "end", end);
    s = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    return s;
}

/* Keep at most FINISHED_KEEP_MAX finished entries: drop the oldest. */
static void trim_finished(void)
{
    struct proc *p, *oldest = NULL;

    if (nfinished <= FINISHED_KEEP_MAX)
        return;
    for (p = table; p; p = p->next)
        if (p->finished)
            oldest = p; /* inserted at the head, so the last one is oldest */
    if (oldest)
        proc_free(oldest);
}

static void proc_finish(struct proc *p, int wstatus)
{
    struct timeval keep = {FINISHED_KEEP_S, 0};
    struct proc_sub *sub;
    char desc[96];
    struct process_exit ex;

    process_describe_status(wstatus, &ex, desc, sizeof(desc));
    log_info("pid %d: %s", p->pid, desc);
    if (p->deadline_ev)
        event_del(p->deadline_ev);
    event_del(p->throttle_ev);
    p->throttled = 0;
    /* Output written before the exit is still in the pipe: deliver it first. */
    out_drain(&p->out);
    out_drain(&p->err);
    in_close(p);
    p->end_json = end_event_json(wstatus);
    if (!p->end_json) /* out of memory: still end the streams properly */
        p->end_json = strdup("{\"event\":{\"end\":{\"status\":\"unknown\"}}}");
    if (!p->end_json) {
        proc_free(p);
        return;
    }
    while ((sub = p->subs) != NULL) {
        p->subs = sub->next;
        connect_stream_send(sub->s, p->end_json, strlen(p->end_json));
        connect_stream_end(sub->s, -1, NULL);
        free(sub);
    }
    p->finished = 1;
    nfinished++;
    evtimer_add(p->expire_ev, &keep);
    trim_finished();
}

void proc_reap(void)
{
    pid_t pid;
    int st;

    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        struct proc *p = proc_find((uint32_t)pid, NULL, 0);
        if (p)
            proc_finish(p, st);
    }
}

static void proc_free(struct proc *p)
{
    struct proc_sub *sub;

    table_remove(p);
    if (p->finished)
        nfinished--;
    while ((sub = p->subs) != NULL) {
        p->subs = sub->next;
        connect_stream_end(sub->s, CONNECT_UNAVAILABLE, "envd is shutting down");
        free(sub);
    }
    out_close(&p->out);
    out_close(&p->err);
    in_close(p);
    if (p->in_buf)
        evbuffer_free(p->in_buf);
    if (p->deadline_ev)
        event_free(p->deadline_ev);
    if (p->throttle_ev)
        event_free(p->throttle_ev);
    if (p->expire_ev)
        event_free(p->expire_ev);
    json_decref(p->config);
    free(p->tag);
    free(p->end_json);
    free(p);
}

void proc_table_shutdown(void)
{
    while (table)
        proc_free(table);
}

/* ---------------------------------------------------------------- spawn */

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* A pty pair owned by the user who will run in it (like login(1) does), so
 * programs that reopen their terminal by name can. */
static int open_pty(const struct proc_spec *spec, int *master, int *slave)
{
    struct winsize ws = {.ws_row = spec->rows ? spec->rows : 24,
                         .ws_col = spec->cols ? spec->cols : 80};
    char name[128];

    *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0)
        return -1;
    if (grantpt(*master) < 0 || unlockpt(*master) < 0 ||
        ptsname_r(*master, name, sizeof(name)) != 0)
        goto fail;
    *slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*slave < 0)
        goto fail;
    if (spec->user && geteuid() == 0) {
        struct group *tty = getgrnam("tty");
        if (fchown(*slave, spec->user->uid, tty ? tty->gr_gid : (gid_t)-1) == 0)
            fchmod(*slave, 0620);
    }
    ioctl(*slave, TIOCSWINSZ, &ws);
    return 0;
fail:
    close(*master);
    *master = -1;
    return -1;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

struct proc *proc_spawn(const struct proc_spec *spec, char *err, size_t errlen)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
    int master = -1, slave = -1;
    struct proc *p = NULL;
    pid_t pid;

    if (spec->pty) {
        if (open_pty(spec, &master, &slave) < 0) {
            snprintf(err, errlen, "cannot allocate a pty: %s", strerror(errno));
            goto fail;
        }
    } else {
        if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
            goto sys_fail;
        if (spec->stdin_pipe) {
            if (pipe2(in, O_CLOEXEC) < 0)
                goto sys_fail;
        } else if ((in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
            goto sys_fail;
        }
    }
    if (spec->pty)
        pid = proc_exec(spec, slave, slave, slave, err, errlen);
    else
        pid = proc_exec(spec, in[0], out[1], errp[1], err, errlen);
    if (pid < 0)
        goto fail;
    close_fd(&slave);
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&errp[1]);

    p = calloc(1, sizeof(*p));
    if (!p)
        goto spawned_oom;
    p->pid = pid;
    p->pty = spec->pty;
    p->config = spec->config;
    p->tag = spec->tag ? strdup(spec->tag) : NULL;
    p->out.p = p->err.p = p;
    p->err.fd = -1;
    p->in_fd = -1;
    if (spec->pty) {
        p->out.fd = master;
        p->out.kind = "pty";
        /* A separate fd for input: its own write event and its own close. */
        p->in_fd = fcntl(master, F_DUPFD_CLOEXEC, 0);
        master = -1;
    } else {
        p->out.fd = out[0];
        p->out.kind = "stdout";
        p->err.fd = errp[0];
        p->err.kind = "stderr";
        p->in_fd = in[1];
        out[0] = errp[0] = in[1] = -1;
    }
    if ((spec->pty && p->in_fd < 0) || set_nonblock(p->out.fd) < 0 ||
        (p->err.fd >= 0 && set_nonblock(p->err.fd) < 0) ||
        (p->in_fd >= 0 && set_nonblock(p->in_fd) < 0))
        goto spawned_oom;
    if (p->in_fd >= 0)
        p->in_ev = event_new(proc_base, p->in_fd, EV_WRITE | EV_PERSIST, input_cb, p);
    p->out.ev = event_new(proc_base, p->out.fd, EV_READ | EV_PERSIST, output_cb, &p->out);
    if (p->err.fd >= 0)
        p->err.ev =
            event_new(proc_base, p->err.fd, EV_READ | EV_PERSIST, output_cb, &p->err);
    p->throttle_ev = evtimer_new(proc_base, throttle_cb, p);
    p->expire_ev = evtimer_new(proc_base, expire_cb, p);
    p->in_buf = evbuffer_new();
    if (!p->out.ev || (p->err.fd >= 0 && !p->err.ev) || (p->in_fd >= 0 && !p->in_ev) ||
        !p->throttle_ev || !p->expire_ev || !p->in_buf || (spec->tag && !p->tag))
        goto spawned_oom;
    set_reading(p, 1);

    /* A finished entry with a recycled pid is stale now. */
    for (struct proc *q; (q = proc_find((uint32_t)pid, NULL, 1)) != NULL;)
        proc_free(q);
    table_insert(p);
    log_info("pid %d: started %s%s%s%s", pid, spec->path, spec->pty ? " (pty)" : "",
             spec->tag ? " tag " : "", spec->tag ? spec->tag : "");
    return p;

spawned_oom:
    /* The process runs but we cannot track it: do not leave it unattended. */
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (p) {
        p->config = NULL;
        p->finished = 0;
        free(p->tag);
        out_close(&p->out);
        out_close(&p->err);
        in_close(p);
        if (p->in_buf)
            evbuffer_free(p->in_buf);
        if (p->throttle_ev)
            event_free(p->throttle_ev);
        if (p->expire_ev)
            event_free(p->expire_ev);
        free(p);
    }
    snprintf(err, errlen, "out of memory");
    goto fail;
sys_fail:
    snprintf(err, errlen, "cannot start process: %s", strerror(errno));
fail:
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&errp[0]);
    close_fd(&errp[1]);
    close_fd(&master);
    close_fd(&slave);
    json_decref(spec->config);
    return NULL;
}
