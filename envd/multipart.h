/* A small multipart/form-data parser (RFC 7578 over RFC 2046) for POST /files.
 *
 * Why our own: evhttp hands us the body as an evbuffer and has no form
 * parsing; the C libraries Debian ships for this are either tied to another
 * HTTP server (libmicrohttpd's post processor) or callback state machines
 * that would cost more glue than this file. We need little: the part
 * boundaries, and the `name` and `filename` parameters of each part's
 * Content-Disposition. Everything else in a part's head is ignored.
 *
 * The parser reads the body through a small source interface (find, copy),
 * so uploads buffered by evhttp are parsed in place, across the evbuffer's
 * chains; mp_parse() is the contiguous-memory front end. It does no I/O and
 * allocates only a fixed head window. It is unit tested and fuzzed. */
#ifndef ENVD_MULTIPART_H
#define ENVD_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

/* RFC 2046 caps boundaries at 70 characters. */
#define MP_BOUNDARY_MAX 70
#define MP_NAME_MAX 256
#define MP_FILENAME_MAX 4096
/* Limits that keep a hostile body from costing more than its own size. */
#define MP_MAX_PARTS 1000
#define MP_MAX_HEAD 16384

struct mp_part {
    char name[MP_NAME_MAX];         /* form field name ("" if none) */
    char filename[MP_FILENAME_MAX]; /* verbatim, valid when has_filename */
    int has_filename;
    size_t off, len;     /* the part's data in the source */
    const uint8_t *data; /* base + off for contiguous sources, else NULL */
};

#define MP_NOT_FOUND ((size_t)-1)

/* Where the body comes from. */
struct mp_src {
    size_t len;
    const uint8_t *base; /* the body if contiguous, else NULL */
    /* Offset of the first needle at or after from, or MP_NOT_FOUND. */
    size_t (*find)(void *ctx, size_t from, const char *needle, size_t nlen);
    /* Copy up to n bytes at off into out; returns how many were copied. */
    size_t (*copy)(void *ctx, size_t off, void *out, size_t n);
    void *ctx;
};

/* Called once per part, in order. Return 0 to go on; anything else stops the
 * parse and becomes mp_parse's return value. */
typedef int (*mp_part_cb)(const struct mp_part *part, void *arg);

/* Extract the boundary parameter from a multipart/form-data Content-Type
 * (media type case-insensitive, value token or quoted string). Returns 0, or
 * -1 when the type is not multipart/form-data or the boundary is missing or
 * invalid. out must hold MP_BOUNDARY_MAX + 1 bytes. */
int mp_boundary_from_content_type(const char *ct, char out[MP_BOUNDARY_MAX + 1]);

/* Parse body[0..n) delimited by boundary, calling cb for each part. Returns 0
 * when the closing delimiter was reached, the callback's non-zero value if it
 * stopped the parse, or -1 with a message in err when the body is malformed
 * (then cb may have been called for the parts before the error). */
int mp_parse(const uint8_t *body, size_t n, const char *boundary, mp_part_cb cb,
             void *arg, char *err, size_t errlen);
/* The same over any source. */
int mp_parse_src(const struct mp_src *src, const char *boundary, mp_part_cb cb, void *arg,
                 char *err, size_t errlen);

#endif
