/* cube-ci HTTP routes (E2B protocol §6). */
#ifndef CI_HTTP_H
#define CI_HTTP_H

#include <event2/event.h>

int ci_http_start(struct event_base *base, const char *host, int port);
void ci_http_stop(void);

#endif
