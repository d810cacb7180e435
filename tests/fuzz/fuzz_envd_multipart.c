/* libFuzzer: the multipart parser on arbitrary bodies. The first line of the
 * input is the Content-Type (so boundary extraction is fuzzed too); every
 * part handed out by the one-buffer parse must lie inside the body, in order,
 * without overlap. The same body is then streamed in pieces whose sizes come
 * from the input itself, as an upload arrives off a socket: the streaming
 * parse must agree with the one-buffer parse on the outcome, the parts and
 * every data byte. */
#include "multipart.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEEN 64

struct ctx {
    const uint8_t *body, *end, *last;
    int n;
    size_t off[MAX_SEEN], len[MAX_SEEN];
};

static int check_part(const struct mp_part *p, void *arg)
{
    struct ctx *c = arg;

    if (p->data != c->body + p->off || p->data < c->last || p->data > c->end ||
        p->len > (size_t)(c->end - p->data))
        abort();
    if (strnlen(p->name, MP_NAME_MAX) == MP_NAME_MAX ||
        strnlen(p->filename, MP_FILENAME_MAX) == MP_FILENAME_MAX)
        abort();
    c->last = p->data + p->len;
    if (c->n < MAX_SEEN) {
        c->off[c->n] = p->off;
        c->len[c->n] = p->len;
    }
    c->n++;
    return 0;
}

/* The streaming side: data must match the one-buffer parse byte for byte. */
struct sctx {
    const struct ctx *whole;
    int n, open;
    size_t got;
};

static int s_begin(const struct mp_part *p, void *arg)
{
    struct sctx *s = arg;

    if (s->open ||
        (s->n < MAX_SEEN && s->n < s->whole->n && p->off != s->whole->off[s->n]))
        abort();
    s->open = 1;
    s->got = 0;
    return 0;
}

static int s_data(const uint8_t *p, size_t n, void *arg)
{
    struct sctx *s = arg;
    const struct ctx *w = s->whole;

    if (!s->open || n == 0)
        abort();
    if (s->n < MAX_SEEN && s->n < w->n) {
        if (s->got + n > w->len[s->n] ||
            memcmp(p, w->body + w->off[s->n] + s->got, n) != 0)
            abort();
    }
    s->got += n;
    return 0;
}

static int s_end(void *arg)
{
    struct sctx *s = arg;

    if (!s->open ||
        (s->n < MAX_SEEN && s->n < s->whole->n && s->got != s->whole->len[s->n]))
        abort();
    s->open = 0;
    s->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct mp_callbacks cbs = {s_begin, s_data, s_end};
    const uint8_t *nl = memchr(data, '\n', size);
    char boundary[MP_BOUNDARY_MAX + 1], err[256];
    struct mp_stream ms;
    struct sctx s = {0};
    struct ctx c;
    char *ct;
    int rc, src;

    if (!nl)
        return 0;
    ct = strndup((const char *)data, (size_t)(nl - data));
    if (!ct)
        return 0;
    if (mp_boundary_from_content_type(ct, boundary) == 0) {
        size_t n, at = 0, step = 0;
        if (strlen(boundary) == 0 || strlen(boundary) > MP_BOUNDARY_MAX)
            abort();
        memset(&c, 0, sizeof(c));
        c.body = nl + 1;
        c.end = data + size;
        c.last = c.body;
        n = (size_t)(c.end - c.body);
        rc = mp_parse(c.body, n, boundary, check_part, &c, err, sizeof(err));

        s.whole = &c;
        src = mp_stream_init(&ms, boundary, &cbs, &s);
        while (src == 0 && at < n) {
            /* Piece sizes 1..32 from the body's own bytes. */
            size_t len = (size_t)(c.body[step++ % n] & 31) + 1;
            if (len > n - at)
                len = n - at;
            src = mp_stream_feed(&ms, c.body + at, len);
            at += len;
        }
        if (src == 0)
            src = mp_stream_finish(&ms);
        mp_stream_free(&ms);
        if (src != rc || (rc == 0 && s.n != c.n))
            abort();
    }
    free(ct);
    return 0;
}
