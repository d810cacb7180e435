/* libFuzzer target: the worker client's HTTP/1.1 response parser
 * (cube_http_resp_parse), the router's host parser and the route matcher. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cube_gw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *scratch = malloc(size + 1);
    cube_http_resp_t r;
    cube_route_match_t m;
    char id[CUBE_GW_ID_MAX + 1];
    int port;

    if (scratch == NULL)
        return 0;
    for (int eof = 0; eof <= 1; eof++) {
        int rc = cube_http_resp_parse((const char *)data, size, eof, scratch, &r);
        if (rc == 1) {
            /* the body lies within the input or the scratch buffer */
            if (r.body_len > size)
                abort();
            if (r.body_len && r.body != scratch &&
                (r.body < (const char *)data || r.body + r.body_len > (const char *)data + size))
                abort();
            if (r.status < 100 || r.status > 599)
                abort();
        }
    }
    if (cube_host_route((const char *)data, size, "cube.localhost", 14, &port, id) == 0 &&
        (port < 1 || port > 65535 || strlen(id) == 0))
        abort();
    cube_route_match(size ? (enum cube_method)(1 + data[0] % 7) : CUBE_M_GET, (const char *)data,
                     size, &m);
    (void)cube_envd_path_refused(49983, (const char *)data, size);
    free(scratch);
    return 0;
}
