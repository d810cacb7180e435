/* cube-ci HTTP routes (E2B protocol §6). */
#ifndef CI_HTTP_H
#define CI_HTTP_H

#include <event2/event.h>

int ci_http_start(struct event_base *base, const char *host, int port);
/* Serve on an inherited listening socket instead (cube-init made it, see cube_init.c). */
int ci_http_start_fd(struct event_base *base, int fd);
void ci_http_stop(void);

#endif
