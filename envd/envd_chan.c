/* envd's end of the worker channel. See envd_chan.h and common/cube_chan.h. */
#include "envd_chan.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cube_chan.h"
#include "cube_id.h"
#include "cube_log.h"
#include "envd_env.h"

#define LOCKOUT_TOKEN_LEN 64

static int chan_fd = -1;
static struct event *chan_ev;

void envd_chan_close(void)
{
    if (chan_ev)
        event_free(chan_ev);
    chan_ev = NULL;
    if (chan_fd >= 0)
        close(chan_fd);
    chan_fd = -1;
}

/* An init that cannot be applied must not leave envd serving without a token: set one
 * nobody knows. The worker validated the body already, so this means a bug or OOM. */
static void lock_out(const char *why)
{
    char tok[LOCKOUT_TOKEN_LEN + 1], err[128];
    json_t *body;

    log_error("worker init not applied (%s); locking envd (random access token)", why);
    if (cube_id_generate(tok, LOCKOUT_TOKEN_LEN, 'x') < 0 ||
        (body = json_pack("{s:s}", "accessToken", tok)) == NULL) {
        log_error("cannot lock envd: exiting");
        exit(1);
    }
    if (envd_env_apply_init(body, err, sizeof(err)) != 0) {
        log_error("cannot lock envd (%s): exiting", err);
        exit(1);
    }
    json_decref(body);
}

static void apply_init(const char *text, size_t len)
{
    json_error_t jerr;
    char err[256];
    json_t *body = json_loadb(text, len, 0, &jerr);

    if (!body) {
        (void)snprintf(err, sizeof(err), "invalid JSON: %s", jerr.text);
        lock_out(err);
        return;
    }
    if (envd_env_apply_init(body, err, sizeof(err)) != 0) {
        json_decref(body);
        lock_out(err);
        return;
    }
    json_decref(body);
    log_info("init applied from the worker channel (default user '%s', token %s)",
             envd_env_default_user(), envd_env_access_token() ? "set" : "none");
}

/* Handle what is queued. One message matters (the init); the channel is closed after
 * it, on EOF (the worker is gone) and on anything unexpected. */
static void chan_read(void)
{
    ssize_t n, got;
    char *buf;

    while (chan_fd >= 0) {
        /* The datagram's length, without taking it (0 only at EOF: the worker never
         * sends an empty one). */
        n = recv(chan_fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (n < 0)
                log_warn("worker channel: %s", strerror(errno));
            else
                log_info("worker channel closed by the worker");
            envd_chan_close();
            return;
        }
        if ((size_t)n > CUBE_CHAN_MAX) {
            log_error("worker channel: %zd-byte message is too large", n);
            lock_out("message too large");
            envd_chan_close();
            return;
        }
        buf = malloc((size_t)n);
        if (!buf) {
            lock_out("out of memory");
            envd_chan_close();
            return;
        }
        do {
            got = recv(chan_fd, buf, (size_t)n, MSG_DONTWAIT);
        } while (got < 0 && errno == EINTR);
        if (got != n) {
            free(buf);
            log_warn("worker channel: short read");
            envd_chan_close();
            return;
        }
        if (buf[0] == CUBE_CHAN_INIT)
            apply_init(buf + 1, (size_t)n - 1);
        else
            log_error("worker channel: unexpected message type 0x%02x",
                      (unsigned char)buf[0]);
        free(buf);
        envd_chan_close();
    }
}

static void on_chan(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    chan_read();
}

int envd_chan_open(struct event_base *base, int fd)
{
    int type = 0;
    socklen_t len = sizeof(type);

    /* First of all: nothing envd starts may inherit it. */
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET) {
        log_error("--channel-fd %d is not a SOCK_SEQPACKET socket", fd);
        close(fd);
        return -1;
    }
    if (evutil_make_socket_nonblocking(fd) < 0) {
        log_error("channel fd %d: cannot make it non-blocking", fd);
        close(fd);
        return -1;
    }
    chan_fd = fd;
    chan_ev = event_new(base, fd, EV_READ | EV_PERSIST, on_chan, NULL);
    if (!chan_ev || event_priority_set(chan_ev, 0) < 0 || event_add(chan_ev, NULL) < 0) {
        log_error("cannot watch the worker channel");
        envd_chan_close();
        return -1;
    }
    return 0;
}

void envd_chan_ready(void)
{
    char msg = CUBE_CHAN_READY;

    if (chan_fd < 0)
        return;
    if (send(chan_fd, &msg, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) {
        log_warn("worker channel: cannot report ready: %s", strerror(errno));
        envd_chan_close();
    }
}

void envd_chan_poll(void)
{
    if (chan_fd >= 0)
        chan_read();
}
