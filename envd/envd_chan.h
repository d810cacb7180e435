/* envd's end of the worker channel (common/cube_chan.h): tells the worker when the
 * listener is up, and takes the sandbox's init (env vars, access token, user, workdir)
 * from it instead of POST /init.
 *
 * Ordering. The worker queues the init message on the channel, then answers the
 * create; the caller's first request to envd is sent only after that answer, so when
 * any byte of it reaches envd the message is already in envd's socket queue. Three
 * things make envd apply it before it serves such a request:
 *   1. the channel's event has priority 0 and everything else the default 1, and
 *      libevent runs only the most urgent priority that has active events in a loop
 *      turn; level-triggered epoll reports the (unread) channel in the same turn as
 *      the request's bytes;
 *   2. every connection is accepted through a callback that drains the channel first;
 *   3. every request is routed by a handler that drains the channel first.
 * (2) and (3) do not depend on the event backend; (1) also covers a connection
 * accepted earlier whose request body streams to an upload before it is routed.
 *
 * The channel is read once: after the init (or EOF: the worker is gone) envd closes
 * it, so nothing in the sandbox can later find an open end to re-initialise envd with
 * another token. Its fd is close-on-exec: processes envd starts never inherit it. */
#ifndef ENVD_CHAN_H
#define ENVD_CHAN_H

#include <event2/event.h>

/* Take fd (the channel) over: close-on-exec, non-blocking, watched at priority 0 on
 * base (which must have been given 2 priorities). 0, or -1 (logged) when fd is not a
 * SOCK_SEQPACKET socket; fd is closed then. */
int envd_chan_open(struct event_base *base, int fd);
/* The listener is up: tell the worker. */
void envd_chan_ready(void);
/* Apply an init the worker has queued, now. Cheap no-op once the channel is closed. */
void envd_chan_poll(void);
void envd_chan_close(void);

#endif
