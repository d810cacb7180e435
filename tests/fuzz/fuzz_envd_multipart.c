/* libFuzzer: the multipart parser on arbitrary bodies. The first line of the
 * input is the Content-Type (so boundary extraction is fuzzed too); every
 * part handed out must lie inside the body, in order, without overlap. */
#include "multipart.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ctx {
    const uint8_t *body, *end, *last;
};

static int check_part(const struct mp_part *p, void *arg)
{
    struct ctx *c = arg;

    if (p->data != c->body + p->off || p->data < c->last || p->data > c->end || p->len > (size_t)(c->end - p->data))
        abort();
    if (strnlen(p->name, MP_NAME_MAX) == MP_NAME_MAX ||
        strnlen(p->filename, MP_FILENAME_MAX) == MP_FILENAME_MAX)
        abort();
    c->last = p->data + p->len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    char boundary[MP_BOUNDARY_MAX + 1], err[256];
    char *ct;
    struct ctx c;

    if (!nl)
        return 0;
    ct = strndup((const char *)data, (size_t)(nl - data));
    if (!ct)
        return 0;
    if (mp_boundary_from_content_type(ct, boundary) == 0) {
        if (strlen(boundary) == 0 || strlen(boundary) > MP_BOUNDARY_MAX)
            abort();
        c.body = nl + 1;
        c.end = data + size;
        c.last = c.body;
        mp_parse(c.body, (size_t)(c.end - c.body), boundary, check_part, &c, err, sizeof(err));
    }
    free(ct);
    return 0;
}
