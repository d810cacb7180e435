/* multipart/form-data parsing. See multipart.h.
 *
 * Body shape (RFC 2046 §5.1.1), with D = "--" boundary:
 *
 *   [preamble CRLF] D [padding] CRLF head CRLF data CRLF D [padding] CRLF
 *   head CRLF data ... CRLF D "--" [epilogue]
 *
 * where head is zero or more "Name: value" CRLF lines.
 *
 * The body is read through struct mp_src (find a delimiter, copy a few
 * bytes), so the same code parses a contiguous buffer (tests, fuzzer) and an
 * upload still spread over evbuffer chains, which then never needs a second,
 * linear copy. Data runs up to the
 * next CRLF D, which is why a boundary must never occur inside the data (the
 * client picks it so). We also accept bare LF line ends in heads, as Go does,
 * but the delimiter before a boundary must be CRLF, as in every client. */
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
    if ((size_t)(end - ct) < sizeof(type) - 1 || strncasecmp(ct, type, sizeof(type) - 1) != 0)
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

/* Room for a part's whole head (MP_MAX_HEAD) plus the delimiter line's
 * padding and line end, copied out of the source for line parsing. */
#define HEAD_WINDOW (MP_MAX_HEAD + 512)

int mp_parse_src(const struct mp_src *src, const char *boundary, mp_part_cb cb, void *arg,
                 char *err, size_t errlen)
{
    char delim[MP_BOUNDARY_MAX + 5]; /* CRLF "--" boundary */
    size_t blen = strlen(boundary), dlen, pos, n = src->len, hit;
    uint8_t *win;
    struct mp_part part;
    int parts = 0, rc = -1;

    if (blen == 0 || blen > MP_BOUNDARY_MAX) {
        snprintf(err, errlen, "invalid multipart boundary");
        return -1;
    }
    dlen = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
    win = malloc(HEAD_WINDOW);
    if (!win) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    /* The first delimiter may open the body (no CRLF before it). */
    if (n >= dlen - 2 && src->copy(src->ctx, 0, win, dlen - 2) == dlen - 2 &&
        memcmp(win, delim + 2, dlen - 2) == 0) {
        pos = dlen - 2;
    } else {
        hit = src->find(src->ctx, 0, delim, dlen);
        if (hit == MP_NOT_FOUND) {
            snprintf(err, errlen, "multipart body has no boundary");
            goto out;
        }
        pos = hit + dlen;
    }

    for (;;) {
        size_t wl = src->copy(src->ctx, pos, win, n - pos < HEAD_WINDOW ? n - pos : HEAD_WINDOW);
        int at_end = pos + wl == n;
        const uint8_t *p = win, *end = win + wl;
        size_t data;

        /* After a delimiter: "--" closes, else padding then a line end. */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            rc = 0;
            goto out;
        }
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
            p += 2;
        else if (p < end && *p == '\n')
            p++;
        else {
            snprintf(err, errlen, "malformed multipart delimiter line");
            goto out;
        }
        if (++parts > MP_MAX_PARTS) {
            snprintf(err, errlen, "too many multipart parts");
            goto out;
        }

        memset(&part, 0, sizeof(part));
        /* Head lines up to an empty one. */
        for (const uint8_t *head = p;;) {
            const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            size_t ll;
            if (!nl || (size_t)(nl - head) > MP_MAX_HEAD) {
                snprintf(err, errlen, nl || !at_end ? "multipart part header too large"
                                                    : "unexpected end of multipart body");
                goto out;
            }
            ll = (size_t)(nl - p);
            if (ll > 0 && p[ll - 1] == '\r')
                ll--;
            if (ll == 0) {
                p = nl + 1;
                break;
            }
            if (parse_head_line((const char *)p, ll, &part) != 0) {
                snprintf(err, errlen, "malformed multipart part header");
                goto out;
            }
            p = nl + 1;
        }

        data = pos + (size_t)(p - win);
        hit = src->find(src->ctx, data, delim, dlen);
        if (hit == MP_NOT_FOUND) {
            snprintf(err, errlen, "unexpected end of multipart body");
            goto out;
        }
        part.off = data;
        part.len = hit - data;
        part.data = src->base ? src->base + data : NULL;
        if (cb) {
            int r = cb(&part, arg);
            if (r != 0) {
                rc = r;
                goto out;
            }
        }
        pos = hit + dlen;
    }
out:
    free(win);
    return rc;
}

struct mem_ctx {
    const uint8_t *body;
    size_t n;
};

static size_t mem_find(void *ctx, size_t from, const char *needle, size_t nlen)
{
    struct mem_ctx *m = ctx;
    const uint8_t *hit;

    if (from > m->n)
        return MP_NOT_FOUND;
    hit = memmem(m->body + from, m->n - from, needle, nlen);
    return hit ? (size_t)(hit - m->body) : MP_NOT_FOUND;
}

static size_t mem_copy(void *ctx, size_t off, void *out, size_t n)
{
    struct mem_ctx *m = ctx;

    if (off > m->n)
        return 0;
    if (n > m->n - off)
        n = m->n - off;
    if (n)
        memcpy(out, m->body + off, n);
    return n;
}

int mp_parse(const uint8_t *body, size_t n, const char *boundary, mp_part_cb cb,
             void *arg, char *err, size_t errlen)
{
    struct mem_ctx m = {body, n};
    struct mp_src src = {.len = n, .base = body, .find = mem_find, .copy = mem_copy, .ctx = &m};

    return mp_parse_src(&src, boundary, cb, arg, err, errlen);
}
