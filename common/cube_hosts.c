#include "cube_hosts.h"

#include <stdio.h>

void cube_hosts_text(const char *hostname, char *out, size_t len)
{
    (void)snprintf(out, len,
                   "127.0.0.1\tlocalhost\n"
                   "::1\tlocalhost ip6-localhost ip6-loopback\n"
                   "127.0.1.1\t%s\n",
                   hostname);
}
