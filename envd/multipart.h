/* A small streaming multipart/form-data parser (RFC 7578 over RFC 2046) for
 * POST /files.
 *
 * Why our own: the C libraries Debian ships for this are either tied to
 * another HTTP server (libmicrohttpd's post processor) or need as much glue as
 * this file. We need little: the part boundaries, and the `name` and
 * `filename` parameters of each part's Content-Disposition. Everything else in
 * a part's head is ignored.
 *
 * The parser is fed the body in pieces of any size, as they come off the
 * socket, and hands part data on as it goes: it keeps only the current head
 * line (at most MP_MAX_HEAD) and fewer bytes than a delimiter that might be
 * split between two pieces, so memory is fixed whatever the body size. Data
 * is passed on without copying except those few held-back bytes. mp_parse()
 * is the one-buffer front end. It does no I/O; it is unit tested and fuzzed
 * (including against random splits of the same body). */
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
    size_t off;          /* offset of the part's data in the body */
    size_t len;          /* its length (mp_parse only) */
    const uint8_t *data; /* body + off (mp_parse only) */
};

/* What a streaming parse calls. Any non-zero return stops the parse and
 * becomes the return value of mp_stream_feed / mp_stream_finish. */
struct mp_callbacks {
    int (*part_begin)(const struct mp_part *part, void *arg);
    int (*part_data)(const uint8_t *p, size_t n, void *arg);
    int (*part_end)(void *arg);
};

/* The delimiter is CRLF "--" boundary. */
#define MP_DELIM_MAX (MP_BOUNDARY_MAX + 4)

struct mp_stream {
    struct mp_callbacks cb;
    void *arg;
    char delim[MP_DELIM_MAX + 1];
    size_t dlen;
    int state;
    size_t pos;                 /* body bytes consumed so far */
    uint8_t hold[MP_DELIM_MAX]; /* a possible delimiter prefix not yet passed on */
    size_t nhold;
    char *line; /* the head line being read (MP_MAX_HEAD + 1 bytes) */
    size_t nline, nhead;
    int parts;
    struct mp_part part;
    int failed; /* sticky: the first error ends the parse */
    char err[128];
};

/* Extract the boundary parameter from a multipart/form-data Content-Type
 * (media type case-insensitive, value token or quoted string). Returns 0, or
 * -1 when the type is not multipart/form-data or the boundary is missing or
 * invalid. out must hold MP_BOUNDARY_MAX + 1 bytes. */
int mp_boundary_from_content_type(const char *ct, char out[MP_BOUNDARY_MAX + 1]);

/* Start a parse. Returns 0, or -1 (invalid boundary, out of memory) with the
 * message in s->err; mp_stream_free() is safe either way. */
int mp_stream_init(struct mp_stream *s, const char *boundary,
                   const struct mp_callbacks *cb, void *arg);
/* Parse the next n body bytes. Returns 0; a callback's non-zero value; or -1
 * with a message in s->err when the body is malformed. After a non-zero
 * return the parse is over (further calls return -1). */
int mp_stream_feed(struct mp_stream *s, const uint8_t *p, size_t n);
/* The body ended. Returns 0 when the closing delimiter was seen, else -1
 * (or an earlier error) with the message in s->err. */
int mp_stream_finish(struct mp_stream *s);
void mp_stream_free(struct mp_stream *s);

/* Parse body[0..n) delimited by boundary, calling cb once per part with the
 * part's name, filename and data (off, len, data all set). Returns 0 when the
 * closing delimiter was reached, the callback's non-zero value if it stopped
 * the parse, or -1 with a message in err when the body is malformed (then cb
 * may have been called for the parts before the error). */
typedef int (*mp_part_cb)(const struct mp_part *part, void *arg);
int mp_parse(const uint8_t *body, size_t n, const char *boundary, mp_part_cb cb,
             void *arg, char *err, size_t errlen);

#endif
