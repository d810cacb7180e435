/* libFuzzer target: ngx_cube_module's create-body parser and the JSON documents built
 * from its result (cube_create_parse, cube_worker_create_body), plus the list-query
 * parser on the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cube_gw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cube_create_req_t req;
    cube_list_query_t q;
    char err[256];

    for (int v2 = 0; v2 <= 1; v2++) {
        if (cube_create_parse((const char *)data, size, v2, &req, err, sizeof(err)) == 0) {
            char *s = cube_worker_create_body("iabc", req.template_ref, "tok", 2, 512, &req,
                                              1000);
            if (s == NULL)
                abort();
            free(s);
            if (req.timeout <= 0 || req.timeout > CUBE_GW_MAX_TIMEOUT)
                abort();
            cube_create_req_free(&req);
        } else if (err[0] == '\0') {
            abort();
        }
    }
    {
        long long t = 0;
        if (cube_timeout_body_parse((const char *)data, size, 0, 300, &t, err, sizeof(err)) == 0 &&
            (t <= 0 || t > CUBE_GW_MAX_TIMEOUT))
            abort();
    }
    if (cube_list_query_parse((const char *)data, size, 1, &q, err, sizeof(err)) == 0) {
        cube_sb_record_t rec;
        memset(&rec, 0, sizeof(rec));
        rec.state = "running";
        rec.metadata = "{\"a\":\"b\"}";
        (void)cube_list_match(&q, &rec);
        cube_list_query_free(&q);
    }
    return 0;
}
