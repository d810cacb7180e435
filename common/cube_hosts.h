/* The /etc/hosts a sandbox gets: localhost plus its own name on 127.0.1.1, so that
 * the hostname resolves (sudo warns "unable to resolve host" on every call
 * otherwise). Written by the worker when a sandbox is made (its instance name) and by
 * envd when a claim's init names the sandbox. */
#ifndef CUBE_HOSTS_H
#define CUBE_HOSTS_H

#include <stddef.h>

void cube_hosts_text(const char *hostname, char *out, size_t len);

#endif
