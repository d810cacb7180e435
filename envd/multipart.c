/* multipart/form-data parsing. See multipart.h.
 *
 * Body shape (RFC 2046 §5.1.1), with D = "--" boundary:
 *
 *   [preamble CRLF] D [padding] CRLF head CRLF data CRLF D [padding] CRLF
 *   head CRLF data ... CRLF D "--" [epilogue]
 *
 * where head is zero or more "Name: value" CRLF lines.
 *
 * Data runs up to the next CRLF D, which is why a boundary must never occur
 * inside the data (the client picks it so). We also accept bare LF line ends
 * in heads, as Go does, but the delimiter before a boundary must be CRLF, as
 * in every client. The parse is a small state machine over the bytes as they
 * arrive; a body that opens with D is handled by starting as if a CRLF had
 * been seen. */
#include "multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_tspecial(int c)
{
    return c <= ' ' || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Find parameter key in "type; k=v; k2="v2"" (s..end, starting after the
 * media type) and copy its value into out. Returns 1 if found, 0 if absent,
 * -1 if the parameter list is malformed or the value does not fit. */
static int find_param(const char *p, const char *end, const char *key, char *out,
                      size_t outlen)
{
    size_t klen = strlen(key);
    int found = 0;

    while (p < end) {
        const char *k, *ke;
        size_t o = 0;
        int match;

        p = skip_ws(p, end);
        if (p < end && *p == ';') {
            p++;
            continue;
        }
        if (p >= end)
            break;
        k = p;
        while (p < end && !is_tspecial((unsigned char)*p))
            p++;
        ke = p;
        p = skip_ws(p, end);
        if (ke == k || p >= end || *p != '=')
            return -1;
        p = skip_ws(p + 1, end);
        /* The first occurrence counts; later duplicates are parsed (to
         * validate the syntax) but not stored. */
        match = !found && (size_t)(ke - k) == klen && strncasecmp(k, key, klen) == 0;
        if (p < end && *p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < end)
                    p++;
                if (match) {
                    if (o + 1 >= outlen)
                        return -1;
                    out[o++] = *p;
                }
            }
            if (p >= end)
                return -1; /* unterminated quote */
            p++;
        } else {
            const char *v = p;
            while (p < end && !is_tspecial((unsigned char)*p))
                p++;
            if (p == v)
                return -1;
            if (match) {
                if ((size_t)(p - v) >= outlen)
                    return -1;
                memcpy(out, v, (size_t)(p - v));
                o = (size_t)(p - v);
            }
        }
        if (match) {
            out[o] = '\0';
            found = 1;
        }
        p = skip_ws(p, end);
        if (p < end && *p != ';')
            return -1;
    }
    return found;
}

int mp_boundary_from_content_type(const char *ct, char out[MP_BOUNDARY_MAX + 1])
{
    static const char type[] = "multipart/form-data";
    const char *end;
    size_t n;

    if (!ct)
        return -1;
    ct = skip_ws(ct, ct + strlen(ct));
    end = ct + strlen(ct);
    if ((size_t)(end - ct) < sizeof(type) - 1 ||
        strncasecmp(ct, type, sizeof(type) - 1) != 0)
        return -1;
    ct += sizeof(type) - 1;
    if (ct < end && *ct != ';' && *ct != ' ' && *ct != '\t')
        return -1; /* "multipart/form-dataX" */
    if (find_param(ct, end, "boundary", out, MP_BOUNDARY_MAX + 1) != 1)
        return -1;
    n = strlen(out);
    /* RFC 2046: 1-70 characters, not ending in a space; no CR/LF. */
    if (n == 0 || out[n - 1] == ' ' || strpbrk(out, "\r\n"))
        return -1;
    return 0;
}

/* Parse one head line ("Name: value", no line end); only Content-Disposition
 * matters. Returns 0, or -1 if it is malformed. */
static int parse_head_line(const char *l, size_t n, struct mp_part *part)
{
    static const char cd[] = "content-disposition";
    const char *end = l + n, *colon = memchr(l, ':', n), *v;
    int r;

    if (!colon || colon == l)
        return -1;
    if ((size_t)(colon - l) != sizeof(cd) - 1 || strncasecmp(l, cd, sizeof(cd) - 1) != 0)
        return 0;
    v = skip_ws(colon + 1, end);
    /* "form-data" first; E2B (Go) also accepts other dispositions here and
     * only looks at the parameters, so do we. */
    while (v < end && *v != ';')
        v++;
    r = find_param(v, end, "name", part->name, sizeof(part->name));
    if (r < 0)
        return -1;
    r = find_param(v, end, "filename", part->filename, sizeof(part->filename));
    if (r < 0)
        return -1;
    part->has_filename = r;
    return 0;
}

enum {
    ST_PREAMBLE, /* before the first delimiter: bytes are dropped */
    ST_AFTER,    /* just after a delimiter */
    ST_DASH,     /* after D "-" */
    ST_PAD,      /* after D and transport padding */
    ST_CR,       /* after D [padding] CR */
    ST_HEAD,     /* in a part's head */
    ST_DATA,     /* in a part's data */
    ST_END,      /* after the closing delimiter: the epilogue is dropped */
};

static int fail(struct mp_stream *s, const char *msg)
{
    (void)snprintf(s->err, sizeof(s->err), "%s", msg);
    s->failed = 1;
    return -1;
}

/* A callback stopped the parse with rc. */
static int stopped(struct mp_stream *s, int rc)
{
    (void)snprintf(s->err, sizeof(s->err), "multipart parse stopped");
    s->failed = 1;
    return rc;
}

int mp_stream_init(struct mp_stream *s, const char *boundary,
                   const struct mp_callbacks *cb, void *arg)
{
    size_t blen = strlen(boundary);

    memset(s, 0, sizeof(*s));
    if (cb)
        s->cb = *cb;
    s->arg = arg;
    if (blen == 0 || blen > MP_BOUNDARY_MAX)
        return fail(s, "invalid multipart boundary");
    s->dlen = (size_t)snprintf(s->delim, sizeof(s->delim), "\r\n--%s", boundary);
    s->line = malloc(MP_MAX_HEAD + 1);
    if (!s->line)
        return fail(s, "out of memory");
    /* A body may open with D itself: start as if a CRLF had been seen. */
    memcpy(s->hold, "\r\n", 2);
    s->nhold = 2;
    s->state = ST_PREAMBLE;
    return 0;
}

void mp_stream_free(struct mp_stream *s)
{
    free(s->line);
    s->line = NULL;
}

/* Data bytes: handed on in a part, dropped in the preamble. */
static int emit(struct mp_stream *s, const uint8_t *p, size_t n)
{
    int rc;

    if (n == 0 || s->state != ST_DATA || !s->cb.part_data)
        return 0;
    rc = s->cb.part_data(p, n, s->arg);
    return rc ? stopped(s, rc) : 0;
}

/* Look for the delimiter in the held-back bytes followed by p[0..n). Sets
 * *used to the bytes of p consumed (through the delimiter when *found).
 * Returns 0, or what stopped the parse. */
static int scan(struct mp_stream *s, const uint8_t *p, size_t n, size_t *used, int *found)
{
    const uint8_t *d = (const uint8_t *)s->delim;
    size_t dlen = s->dlen, t;
    const uint8_t *hit;
    int rc;

    *found = 0;
    /* A delimiter that began in an earlier piece. */
    for (size_t i = 0; i < s->nhold; i++) {
        size_t k = s->nhold - i, need = dlen - k, m = n < need ? n : need;
        if (memcmp(s->hold + i, d, k) != 0 || memcmp(p, d + k, m) != 0)
            continue;
        if ((rc = emit(s, s->hold, i)) != 0)
            return rc;
        if (m == need) {
            s->nhold = 0;
            *found = 1;
            *used = need;
            return 0;
        }
        /* Still only a prefix: hold it with all of p (shorter than D). */
        memmove(s->hold, s->hold + i, k);
        memcpy(s->hold + k, p, n);
        s->nhold = k + n;
        *used = n;
        return 0;
    }
    if ((rc = emit(s, s->hold, s->nhold)) != 0)
        return rc;
    s->nhold = 0;

    hit = memmem(p, n, d, dlen);
    if (hit) {
        *found = 1;
        *used = (size_t)(hit - p) + dlen;
        return emit(s, p, (size_t)(hit - p));
    }
    /* Hold back the longest tail of p that could start a delimiter. */
    for (t = n < dlen - 1 ? n : dlen - 1; t > 0; t--)
        if (p[n - t] == '\r' && memcmp(p + n - t, d, t) == 0)
            break;
    if ((rc = emit(s, p, n - t)) != 0)
        return rc;
    memcpy(s->hold, p + n - t, t);
    s->nhold = t;
    *used = n;
    return 0;
}

/* A delimiter line ended: a new part's head follows. */
static int begin_head(struct mp_stream *s)
{
    if (++s->parts > MP_MAX_PARTS)
        return fail(s, "too many multipart parts");
    memset(&s->part, 0, sizeof(s->part));
    s->nline = s->nhead = 0;
    s->state = ST_HEAD;
    return 0;
}

/* Head bytes up to the end of the head or of p; *used as for scan(). */
static int head_bytes(struct mp_stream *s, const uint8_t *p, size_t n, size_t *used)
{
    size_t u = 0;

    while (u < n) {
        const uint8_t *nl = memchr(p + u, '\n', n - u);
        size_t take = nl ? (size_t)(nl - (p + u)) : n - u;
        size_t ll;

        if (s->nhead + take + (nl ? 1 : 0) > MP_MAX_HEAD)
            return fail(s, "multipart part header too large");
        memcpy(s->line + s->nline, p + u, take);
        s->nline += take;
        s->nhead += take;
        u += take;
        if (!nl)
            break;
        u++; /* the LF */
        s->nhead++;
        ll = s->nline;
        if (ll > 0 && s->line[ll - 1] == '\r')
            ll--;
        s->nline = 0;
        if (ll == 0) {
            int rc;
            s->part.off = s->pos + u;
            s->state = ST_DATA;
            *used = u;
            if (s->cb.part_begin && (rc = s->cb.part_begin(&s->part, s->arg)) != 0)
                return stopped(s, rc);
            return 0;
        }
        if (parse_head_line(s->line, ll, &s->part) != 0)
            return fail(s, "malformed multipart part header");
    }
    *used = u;
    return 0;
}

/* One byte after a delimiter: "--" closes, else padding then a line end. */
static int after_delim(struct mp_stream *s, uint8_t c)
{
    static const char bad[] = "malformed multipart delimiter line";

    switch (s->state) {
    case ST_AFTER:
        if (c == '-') {
            s->state = ST_DASH;
            return 0;
        }
        /* fall through */
    case ST_PAD:
        if (c == ' ' || c == '\t')
            s->state = ST_PAD;
        else if (c == '\r')
            s->state = ST_CR;
        else if (c == '\n')
            return begin_head(s);
        else
            return fail(s, bad);
        return 0;
    case ST_DASH:
        if (c != '-')
            return fail(s, bad);
        s->state = ST_END;
        return 0;
    default: /* ST_CR */
        return c == '\n' ? begin_head(s) : fail(s, bad);
    }
}

int mp_stream_feed(struct mp_stream *s, const uint8_t *p, size_t n)
{
    if (s->failed)
        return -1;
    while (n > 0) {
        size_t used = 1;
        int found, rc = 0;

        switch (s->state) {
        case ST_PREAMBLE:
        case ST_DATA:
            rc = scan(s, p, n, &used, &found);
            if (rc == 0 && found) {
                if (s->state == ST_DATA && s->cb.part_end &&
                    (rc = s->cb.part_end(s->arg)) != 0)
                    rc = stopped(s, rc);
                else
                    s->state = ST_AFTER;
            }
            break;
        case ST_HEAD:
            rc = head_bytes(s, p, n, &used);
            break;
        case ST_END: /* the epilogue */
            used = n;
            break;
        default:
            rc = after_delim(s, *p);
            break;
        }
        if (rc != 0)
            return rc;
        p += used;
        n -= used;
        s->pos += used;
    }
    return 0;
}

int mp_stream_finish(struct mp_stream *s)
{
    if (s->failed)
        return -1;
    if (s->state == ST_END)
        return 0;
    return fail(s, s->state == ST_PREAMBLE ? "multipart body has no boundary"
                                           : "unexpected end of multipart body");
}

/* mp_parse over mp_stream: one callback per part, once its length is known. */
struct whole {
    const uint8_t *body;
    mp_part_cb cb;
    void *arg;
    struct mp_part part;
};

static int whole_begin(const struct mp_part *p, void *arg)
{
    struct whole *w = arg;

    w->part = *p;
    w->part.len = 0;
    return 0;
}

static int whole_data(const uint8_t *p, size_t n, void *arg)
{
    struct whole *w = arg;

    (void)p;
    w->part.len += n;
    return 0;
}

static int whole_end(void *arg)
{
    struct whole *w = arg;

    w->part.data = w->body + w->part.off;
    return w->cb ? w->cb(&w->part, w->arg) : 0;
}

int mp_parse(const uint8_t *body, size_t n, const char *boundary, mp_part_cb cb,
             void *arg, char *err, size_t errlen)
{
    static const struct mp_callbacks cbs = {whole_begin, whole_data, whole_end};
    struct mp_stream *s = malloc(sizeof(*s));
    struct whole *w = malloc(sizeof(*w));
    int rc;

    if (!s || !w) {
        free(s);
        free(w);
        (void)snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->body = body;
    w->cb = cb;
    w->arg = arg;
    rc = mp_stream_init(s, boundary, &cbs, w);
    if (rc == 0)
        rc = mp_stream_feed(s, body, n);
    if (rc == 0)
        rc = mp_stream_finish(s);
    if (rc == -1)
        (void)snprintf(err, errlen, "%s", s->err);
    mp_stream_free(s);
    free(s);
    free(w);
    return rc;
}
