/* GET /files: stream a file to the client.
 *
 * Memory stays constant whatever the file size. A regular file is queued as
 * one file segment (evbuffer_add_file_segment on a buffer flagged
 * DRAINS_TO_FD): no byte of it enters user space, the socket end sends it with
 * sendfile(2) as the client takes it (http_filter.c keeps such chains intact),
 * and the reply ends when all of it was written. It carries Content-Length
 * (then evhttp does not use chunked encoding and the SDK gets a size up
 * front).
 *
 * Anything else that opens and is not a directory (a FIFO, a character
 * device) is sent chunked until EOF, as E2B also refuses only directories: one
 * chunk is read, handed to evhttp, and the next only from the write-completion
 * callback, so a slow client throttles the reads instead of growing a buffer.
 * Range and gzip are not offered: the protocol makes both optional and the SDK
 * uses neither. */
#include "files_download.h"

#include "cube_log.h"
#include "envd_http.h"
#include "files_common.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Chunk of a non-regular file: big enough that syscalls and callbacks are
 * amortised, small enough to be irrelevant in RAM. */
#define DL_CHUNK ((size_t)512 * 1024)

struct download {
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct evbuffer *buf; /* scratch: evhttp_send_reply_chunk drains it */
    int fd;
};

static void download_free(struct download *d)
{
    if (d->fd >= 0)
        close(d->fd);
    if (d->buf)
        evbuffer_free(d->buf);
    free(d);
}

/* The connection went away mid-transfer (client closed, I/O error, timeout).
 * As for Connect streams, evhttp has detached the request and left it to us:
 * reply_end on a detached request only frees it. */
static void download_closecb(struct evhttp_connection *evcon, void *arg)
{
    struct download *d = arg;

    (void)evcon;
    if (d->req && evhttp_request_get_connection(d->req) == NULL)
        evhttp_send_reply_end(d->req);
    download_free(d);
}

static void download_finish(struct download *d)
{
    evhttp_connection_set_closecb(d->evcon, NULL, NULL);
    evhttp_send_reply_end(d->req);
    download_free(d);
}

static void download_next(struct evhttp_connection *evcon, void *arg);
static void download_next_done(struct evhttp_connection *evcon, void *arg);

/* Read the next chunk of a non-regular file and queue it; its completion
 * calls us again. evbuffer_read would take 4 KiB at a time: read(2) into
 * reserved space instead. */
static void download_pump(struct download *d)
{
    struct evbuffer_iovec v;
    ssize_t n;

    if (evbuffer_reserve_space(d->buf, (ev_ssize_t)DL_CHUNK, &v, 1) < 1) {
        n = -1;
        errno = ENOMEM;
    } else {
        do
            n = read(d->fd, v.iov_base, v.iov_len < DL_CHUNK ? v.iov_len : DL_CHUNK);
        while (n < 0 && errno == EINTR);
        v.iov_len = n > 0 ? (size_t)n : 0;
        evbuffer_commit_space(d->buf, &v, 1);
    }
    if (n <= 0) {
        /* EOF, or a read error: the status line is gone, and a chunked body
         * that ends early is all the client can be told. */
        if (n < 0)
            log_warn("download: %s, ending the response early", strerror(errno));
        download_finish(d);
        return;
    }
    evhttp_send_reply_chunk_with_cb(d->req, d->buf, download_next, d);
}

/* A regular file: all of it at once, sent with sendfile by the socket end.
 * Its completion callback comes once the socket took the last byte. */
static void download_file(struct download *d, off_t size)
{
    struct evbuffer_file_segment *seg;

    evbuffer_set_flags(d->buf, EVBUFFER_FLAG_DRAINS_TO_FD);
    seg = evbuffer_file_segment_new(d->fd, 0, size, EVBUF_FS_CLOSE_ON_FREE);
    if (!seg || evbuffer_add_file_segment(d->buf, seg, 0, size) != 0) {
        /* The head is out: cutting the connection is the only signal left. */
        log_warn("download: cannot queue the file, cutting the response short");
        evhttp_add_header(evhttp_request_get_output_headers(d->req), "Connection",
                          "close");
        if (seg)
            evbuffer_file_segment_free(seg);
        download_finish(d);
        return;
    }
    d->fd = -1; /* the segment owns it now */
    evbuffer_file_segment_free(seg);
    evhttp_send_reply_chunk_with_cb(d->req, d->buf, download_next_done, d);
}

static void download_next(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    download_pump(arg);
}

static void download_next_done(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    download_finish(arg);
}

/* "name" for Content-Disposition: quotes and controls would break the header
 * (and could inject one); replace them, like Go's mime.FormatMediaType would
 * refuse them. */
static void disposition_name(const char *path, char *out, size_t outlen)
{
    const char *base = strrchr(path, '/');
    size_t o = 0;

    base = base ? base + 1 : path;
    for (const char *p = base; *p && o + 1 < outlen; p++)
        /* either '_' or *p itself: fits in char */
        out[o++] =
            (char)((*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f)
                       ? '_'
                       : *p);
    out[o] = '\0';
}

void files_download(struct evhttp_request *req)
{
    struct files_req fr;
    struct download *d;
    struct stat st;
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    char msg[PATH_MAX + 64], name[512], len[32];
    int fd;

    if (files_req_prepare(req, "read", &fr) != 0)
        return;
    if (!fr.path) {
        /* Without `path` Go's envd resolves "" to the home directory and then
         * answers "is a directory"; say what is actually wrong. */
        envd_reply_error(req, 400, "missing path query parameter");
        goto out;
    }
    fd = open(fr.path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR) {
            snprintf(msg, sizeof(msg), "path '%s' does not exist", fr.path);
            envd_reply_error(req, 404, msg);
        } else if (e == EISDIR) {
            snprintf(msg, sizeof(msg), "path '%s' is a directory", fr.path);
            envd_reply_error(req, 400, msg);
        } else {
            snprintf(msg, sizeof(msg), "error opening file '%s': %s", fr.path,
                     strerror(e));
            envd_reply_error(req, e == EACCES || e == EPERM ? 403 : 500, msg);
        }
        goto out;
    }
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        snprintf(msg, sizeof(msg), "path '%s' is a directory", fr.path);
        envd_reply_error(req, 400, msg);
        close(fd);
        goto out;
    }
    /* Reads block from here on (files are never "not ready"); O_NONBLOCK was
     * only so that opening a FIFO without a writer does not hang the loop. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);

    d = calloc(1, sizeof(*d));
    if (!d || !(d->buf = evbuffer_new())) {
        free(d);
        close(fd);
        envd_reply_error(req, 500, "out of memory");
        goto out;
    }
    d->req = req;
    d->evcon = evhttp_request_get_connection(req);
    d->fd = fd;

    disposition_name(fr.path, name, sizeof(name));
    snprintf(msg, sizeof(msg), "inline; filename=\"%s\"", name);
    envd_http_common_headers(req);
    evhttp_add_header(oh, "Content-Type", files_content_type(fr.path));
    evhttp_add_header(oh, "Content-Disposition", msg);
    if (S_ISREG(st.st_mode)) {
        snprintf(len, sizeof(len), "%lld", (long long)st.st_size);
        evhttp_add_header(oh, "Content-Length", len);
    }
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD || !d->evcon) {
        evhttp_send_reply(req, 200, "OK", NULL);
        download_free(d);
        goto out;
    }
    evhttp_send_reply_start(req, 200, "OK");
    evhttp_connection_set_closecb(d->evcon, download_closecb, d);
    if (!S_ISREG(st.st_mode))
        download_pump(d);
    else if (st.st_size > 0)
        download_file(d, st.st_size);
    else
        download_finish(d);
out:
    files_req_free(&fr);
}
