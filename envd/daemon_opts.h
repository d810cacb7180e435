/* Start-up helpers shared by the in-sandbox daemons (cube-envd, cube-ci). */
#ifndef CUBE_ENVD_DAEMON_OPTS_H
#define CUBE_ENVD_DAEMON_OPTS_H

#include <stddef.h>

#include "cube_log.h"

/* Split "host:port" / "[v6]:port". Returns 0, or -1 if malformed. */
int daemon_parse_listen(const char *arg, char *host, size_t hostlen, int *port);
/* "debug", "info", "warn", "error". Returns 0, or -1 if unknown. */
int daemon_parse_level(const char *s, enum cube_log_level *out);
/* Descriptors 0-2 must be taken before we open anything, so no pipe we hand to a
 * child ever lands on them (the child's dup2 onto 0-2 relies on it). */
void daemon_ensure_std_fds(void);
/* TCP_NODELAY on a listening socket; accepted connections inherit it. Without it, a
 * streamed reply's second small write (Process/Start's end event, runCode's result)
 * waited for the client's delayed ACK: 40 ms per call (tests/bench/agent.sh). */
void daemon_listener_nodelay(int fd);

#endif
