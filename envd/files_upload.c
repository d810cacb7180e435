/* POST /files: multipart/form-data or application/octet-stream uploads, plain
 * or gzip-encoded, written as root and given to the acting user.
 *
 * Buffering, honestly: evhttp's server side reads the whole request body
 * (chunked or not) into the request's input buffer before it calls our
 * handler, and libevent 2.1 offers no supported hook to see a server
 * request's body as it arrives (evhttp_request_set_chunked_cb is meant for
 * client requests). So an upload is held in memory once, bounded by
 * FILES_MAX_UPLOAD (the listener's max body size; larger bodies get 413 from
 * evhttp). From there on we never make a second copy of the body: it is
 * written (or inflated, through a fixed 256 KiB window) straight from the
 * evbuffer's own chunks, and multipart bodies are parsed and written in place
 * across those chunks (see evbuf_find). Only a gzip-encoded multipart body is
 * inflated into a second buffer before parsing. Streaming uploads to disk
 * with constant memory needs a bufferevent-level body reader in front of
 * evhttp (libevent 2.2's evhttp_set_newreqcb would allow it): a follow-up.
 *
 * Order of work: authorise, validate everything (encoding, type, metadata,
 * every part's target, duplicates) and only then touch the disk, so a bad
 * request never leaves half its files behind. */
#include "files_upload.h"

#include "cube_log.h"
#include "envd_env.h"
#include "envd_http.h"
#include "envd_path.h"
#include "files_common.h"
#include "multipart.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <malloc.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#define INFLATE_WINDOW (256 * 1024)
#define MAX_TARGETS MP_MAX_PARTS

/* Outcome of writing one file, mapped to an HTTP answer by the caller. */
struct upload_err {
    int status;
    char message[PATH_MAX + 128];
};

static void set_err(struct upload_err *e, int status, const char *fmt, const char *path,
                    int errnum)
{
    e->status = status;
    snprintf(e->message, sizeof(e->message), fmt, path, strerror(errnum));
}

/* X-Metadata-<key>: <value> headers as a JSON object (keys lowercased).
 * Returns NULL with a message in err when a header is not printable ASCII. */
static json_t *collect_metadata(struct evhttp_request *req, char *err, size_t errlen)
{
    static const char prefix[] = "x-metadata-";
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    struct evkeyval *kv;
    json_t *meta = json_object();

    if (!meta) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    TAILQ_FOREACH(kv, h, next)
    {
        char key[256];
        size_t i, kl;

        if (strncasecmp(kv->key, prefix, sizeof(prefix) - 1) != 0)
            continue;
        kl = strlen(kv->key) - (sizeof(prefix) - 1);
        if (kl == 0 || kl >= sizeof(key)) {
            snprintf(err, errlen, "invalid metadata key");
            goto bad;
        }
        for (i = 0; i < kl; i++)
            key[i] = (char)tolower((unsigned char)kv->key[sizeof(prefix) - 1 + i]);
        key[kl] = '\0';
        for (const char *p = kv->value; *p; p++) {
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
                snprintf(err, errlen, "metadata value for '%s' must be printable ASCII",
                         key);
                goto bad;
            }
        }
        json_object_set_new(meta, key, json_string(kv->value));
    }
    return meta;
bad:
    json_decref(meta);
    return NULL;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write the chunks v[0..nv) in writev batches: an evbuffer body is many
 * small chains, and one syscall per chain costs more than the copy. */
static int write_iov(int fd, const struct evbuffer_iovec *v, int nv)
{
    struct iovec iov[64];

    for (int i = 0; i < nv;) {
        int k = 0;
        size_t total = 0;
        ssize_t w;

        while (k < 64 && i + k < nv) {
            iov[k].iov_base = v[i + k].iov_base;
            iov[k].iov_len = v[i + k].iov_len;
            total += iov[k].iov_len;
            k++;
        }
        w = writev(fd, iov, k);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if ((size_t)w < total) {
            /* Short write (rare on files): finish this batch piecewise. */
            size_t skip = (size_t)w;
            for (int j = 0; j < k; j++) {
                if (skip >= iov[j].iov_len) {
                    skip -= iov[j].iov_len;
                    continue;
                }
                if (write_all(fd, (const char *)iov[j].iov_base + skip,
                              iov[j].iov_len - skip) != 0)
                    return -1;
                skip = 0;
            }
        }
        i += k;
    }
    return 0;
}

/* Feed in[0..n) through the inflater into fd (when fd >= 0) or into out.
 * Concatenated gzip members are accepted, as Go's gzip.Reader does. Returns
 * 0, -1 on a write error (errno), -2 on corrupt data, -3 when out would
 * exceed limit. */
static int inflate_chunk(z_stream *zs, int *ended, const uint8_t *in, size_t n, int fd,
                         struct evbuffer *out, size_t limit, uint8_t *win)
{
    zs->next_in = (Bytef *)in;
    zs->avail_in = (uInt)n;
    while (zs->avail_in > 0) {
        int rc;
        if (*ended) {
            /* Bytes after a finished member: the next member. */
            if (inflateReset(zs) != Z_OK)
                return -2;
            *ended = 0;
        }
        zs->next_out = win;
        zs->avail_out = INFLATE_WINDOW;
        rc = inflate(zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return -2;
        size_t got = INFLATE_WINDOW - zs->avail_out;
        if (got) {
            if (fd >= 0) {
                if (write_all(fd, win, got) != 0)
                    return -1;
            } else {
                if (evbuffer_get_length(out) + got > limit)
                    return -3;
                if (evbuffer_add(out, win, got) != 0) {
                    errno = ENOMEM;
                    return -1;
                }
            }
        }
        if (rc == Z_STREAM_END)
            *ended = 1;
        else if (rc == Z_BUF_ERROR && got == 0)
            break; /* needs more input */
    }
    return 0;
}

/* Inflate the chunks v[0..nv) to fd or out. Same returns as inflate_chunk,
 * plus -2 for a truncated stream. */
static int inflate_iov(const struct evbuffer_iovec *v, int nv, int fd, struct evbuffer *out,
                       size_t limit)
{
    z_stream zs;
    uint8_t *win = malloc((size_t)INFLATE_WINDOW);
    int ended = 0, rc = 0;

    memset(&zs, 0, sizeof(zs));
    if (!win || inflateInit2(&zs, 15 + 16) != Z_OK) {
        free(win);
        errno = ENOMEM;
        return -1;
    }
    for (int i = 0; i < nv && rc == 0; i++) {
        /* evbuffer chunks are far below 4 GiB (zlib's uInt). */
        rc = inflate_chunk(&zs, &ended, v[i].iov_base, v[i].iov_len, fd, out, limit, win);
    }
    if (rc == 0 && !ended)
        rc = -2;
    inflateEnd(&zs);
    free(win);
    return rc;
}

/* Create (or truncate) path and fill it from v[0..nv), inflating when gzip.
 * Parents are created 0755 for the user; the file ends up 0644 (umask 022)
 * and owned by the user, with meta as its only user.e2b.* xattrs. */
static int write_target(const char *path, const struct evbuffer_iovec *v, int nv,
                        int gzip, const struct envd_user *u, json_t *meta,
                        struct upload_err *e)
{
    struct stat st;
    int fd, rc = 0;

    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        e->status = 400;
        snprintf(e->message, sizeof(e->message), "path '%s' is a directory", path);
        return -1;
    }
    if (files_mkdir_parent(path, u->uid, u->gid) != 0)
        goto sys_err;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0666);
    if (fd < 0)
        goto sys_err;
    if (fchown(fd, u->uid, u->gid) != 0)
        goto fd_err;
    /* Metadata may be unsupported by the file system (old tmpfs): that only
     * matters when there is some to store. */
    if (files_metadata_replace(fd, meta) != 0 &&
        (json_object_size(meta) > 0 || (errno != ENOTSUP && errno != EOPNOTSUPP)))
        goto fd_err;
    if (gzip) {
        rc = inflate_iov(v, nv, fd, NULL, 0);
        if (rc == -2) {
            close(fd);
            e->status = 400;
            snprintf(e->message, sizeof(e->message), "invalid gzip body for '%s'", path);
            return -1;
        }
        if (rc != 0)
            goto fd_err;
    } else if (write_iov(fd, v, nv) != 0) {
        goto fd_err;
    }
    if (close(fd) != 0)
        goto sys_err;
    return 0;
fd_err : {
    int saved = errno;
    close(fd);
    errno = saved;
}
sys_err:
    if (errno == ENOSPC || errno == EDQUOT) {
        e->status = 507;
        snprintf(e->message, sizeof(e->message), "not enough disk space available");
    } else {
        set_err(e, errno == EACCES || errno == EPERM ? 403 : errno == ENOTDIR ? 400 : 500,
                "error writing file '%s': %s", path, errno);
    }
    return -1;
}

/* One file to write: its resolved path and where its bytes are. */
struct target {
    char *path;
    size_t off, len; /* in the body evbuffer */
};

struct collect {
    struct target *t;
    int n;
    const struct files_req *fr;
    char err[PATH_MAX + 128];
};

/* Multipart callback: keep `file` parts, resolve their targets. */
static int on_part(const struct mp_part *p, void *arg)
{
    struct collect *c = arg;
    char *path;

    if (strcmp(p->name, "file") != 0)
        return 0;
    if (c->fr->path) {
        path = strdup(c->fr->path);
    } else if (p->has_filename && p->filename[0]) {
        path = envd_path_resolve(p->filename, c->fr->user.home, envd_env_default_workdir(),
                                 c->err, sizeof(c->err));
        if (!path)
            return 1;
    } else {
        snprintf(c->err, sizeof(c->err),
                 "missing path: give a path query parameter or a part filename");
        return 1;
    }
    if (!path) {
        snprintf(c->err, sizeof(c->err), "out of memory");
        return 1;
    }
    for (int i = 0; i < c->n; i++) {
        if (strcmp(c->t[i].path, path) == 0) {
            snprintf(c->err, sizeof(c->err), "cannot upload multiple files to the same path '%s'",
                     path);
            free(path);
            return 1;
        }
    }
    c->t[c->n].path = path;
    c->t[c->n].off = p->off;
    c->t[c->n].len = p->len;
    c->n++;
    return 0;
}

/* struct mp_src over an evbuffer: the multipart body is parsed where evhttp
 * left it, spread over its chains, instead of being linearised (which would
 * briefly double the memory of a large upload). */
static size_t evbuf_find(void *ctx, size_t from, const char *needle, size_t nlen)
{
    struct evbuffer *b = ctx;
    struct evbuffer_ptr start, hit;

    if (evbuffer_ptr_set(b, &start, from, EVBUFFER_PTR_SET) != 0)
        return MP_NOT_FOUND;
    hit = evbuffer_search(b, needle, nlen, &start);
    return hit.pos < 0 ? MP_NOT_FOUND : (size_t)hit.pos;
}

static size_t evbuf_copy(void *ctx, size_t off, void *out, size_t n)
{
    struct evbuffer *b = ctx;
    struct evbuffer_ptr p;
    ev_ssize_t got;

    if (n == 0 || evbuffer_ptr_set(b, &p, off, EVBUFFER_PTR_SET) != 0)
        return 0;
    got = evbuffer_copyout_from(b, &p, out, n);
    return got < 0 ? 0 : (size_t)got;
}

/* The chunks covering body[off, off + len), the last one trimmed (peek may
 * hand out more). Returns their number (*v malloc'd), or -1. */
static int evbuf_range(struct evbuffer *b, size_t off, size_t len, struct evbuffer_iovec **v)
{
    struct evbuffer_ptr p;
    size_t left = len;
    int n;

    *v = NULL;
    if (len == 0)
        return 0;
    if (evbuffer_ptr_set(b, &p, off, EVBUFFER_PTR_SET) != 0)
        return -1;
    n = evbuffer_peek(b, (ev_ssize_t)len, &p, NULL, 0);
    if (n <= 0 || !(*v = calloc((size_t)n, sizeof(**v))))
        return -1;
    n = evbuffer_peek(b, (ev_ssize_t)len, &p, *v, n);
    for (int i = 0; i < n; i++) {
        if ((*v)[i].iov_len >= left) {
            (*v)[i].iov_len = left;
            return i + 1;
        }
        left -= (*v)[i].iov_len;
    }
    return n;
}

/* The upload EntryInfo: {"path","name","type":"file"[,"metadata"]}. */
static json_t *upload_entry(const char *path, json_t *meta)
{
    const char *slash = strrchr(path, '/');
    json_t *o = json_object();

    json_object_set_new(o, "path", envd_json_string_lossy(path));
    json_object_set_new(o, "name", envd_json_string_lossy(slash ? slash + 1 : path));
    json_object_set_new(o, "type", json_string("file"));
    if (json_object_size(meta) > 0)
        json_object_set(o, "metadata", meta);
    return o;
}

static struct event *trim_ev;

static void trim_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    malloc_trim(0);
}

void files_upload(struct evhttp_request *req)
{
    struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
    struct evbuffer *body = evhttp_request_get_input_buffer(req), *plain = NULL;
    const char *ct = evhttp_find_header(ih, "Content-Type");
    const char *ce = evhttp_find_header(ih, "Content-Encoding");
    char boundary[MP_BOUNDARY_MAX + 1], err[512];
    struct collect c = {0};
    struct files_req fr;
    struct upload_err ue;
    json_t *meta = NULL, *out = NULL;
    int gzip = 0;
    /* Taken now: the request may be gone once a reply is sent. */
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct event_base *base = evcon ? evhttp_connection_get_base(evcon) : NULL;

    if (files_req_prepare(req, "write", &fr) != 0)
        return;
    c.fr = &fr;
    if (ce && *ce && strcasecmp(ce, "identity") != 0) {
        if (strcasecmp(ce, "gzip") != 0) {
            snprintf(err, sizeof(err), "unsupported Content-Encoding '%.200s'", ce);
            envd_reply_error(req, 400, err);
            goto out;
        }
        gzip = 1;
    }
    meta = collect_metadata(req, err, sizeof(err));
    if (!meta) {
        envd_reply_error(req, 400, err);
        goto out;
    }
    out = json_array();

    if (ct && strncasecmp(ct, "application/octet-stream", 24) == 0 &&
        (ct[24] == '\0' || ct[24] == ';' || ct[24] == ' ')) {
        int nv = evbuffer_peek(body, -1, NULL, NULL, 0);
        struct evbuffer_iovec *v = calloc((size_t)(nv > 0 ? nv : 1), sizeof(*v));

        if (!fr.path) {
            free(v);
            envd_reply_error(req, 400, "the path query parameter is required for "
                                       "application/octet-stream uploads");
            goto out;
        }
        if (!v) {
            envd_reply_error(req, 500, "out of memory");
            goto out;
        }
        nv = evbuffer_peek(body, -1, NULL, v, nv);
        if (write_target(fr.path, v, nv, gzip, &fr.user, meta, &ue) != 0) {
            free(v);
            envd_reply_error(req, ue.status, ue.message);
            goto out;
        }
        free(v);
        json_array_append_new(out, upload_entry(fr.path, meta));
        envd_reply_json(req, 200, out);
        out = NULL;
        goto out;
    }

    if (mp_boundary_from_content_type(ct, boundary) != 0) {
        envd_reply_error(req, 400, "unsupported Content-Type: use multipart/form-data "
                                   "(with a boundary) or application/octet-stream");
        goto out;
    }
    if (gzip) {
        /* The whole multipart body was compressed: inflate it first, no
         * bigger than an uncompressed upload could be. */
        int nv = evbuffer_peek(body, -1, NULL, NULL, 0), rc;
        struct evbuffer_iovec *v = calloc((size_t)(nv > 0 ? nv : 1), sizeof(*v));
        plain = evbuffer_new();
        if (!v || !plain) {
            free(v);
            envd_reply_error(req, 500, "out of memory");
            goto out;
        }
        nv = evbuffer_peek(body, -1, NULL, v, nv);
        rc = inflate_iov(v, nv, -1, plain, FILES_MAX_UPLOAD);
        free(v);
        if (rc != 0) {
            envd_reply_error(req, rc == -3 ? 413 : rc == -2 ? 400 : 500,
                             rc == -3   ? "decompressed body too large"
                             : rc == -2 ? "invalid gzip body"
                                        : "out of memory");
            goto out;
        }
        evbuffer_drain(body, evbuffer_get_length(body));
        body = plain;
    }
    c.t = calloc(MAX_TARGETS, sizeof(*c.t));
    if (!c.t) {
        envd_reply_error(req, 500, "out of memory");
        goto out;
    }
    {
        struct mp_src src = {.len = evbuffer_get_length(body),
                             .find = evbuf_find,
                             .copy = evbuf_copy,
                             .ctx = body};
        int rc = mp_parse_src(&src, boundary, on_part, &c, err, sizeof(err));
        if (rc != 0) {
            envd_reply_error(req, 400, rc < 0 ? err : c.err);
            goto out;
        }
    }
    if (c.n == 0) {
        envd_reply_error(req, 400, "no file part in the multipart body (field 'file')");
        goto out;
    }
    for (int i = 0; i < c.n; i++) {
        struct evbuffer_iovec *v = NULL;
        int nv = evbuf_range(body, c.t[i].off, c.t[i].len, &v);
        if (nv < 0) {
            envd_reply_error(req, 500, "out of memory");
            goto out;
        }
        if (write_target(c.t[i].path, v, nv, 0, &fr.user, meta, &ue) != 0) {
            free(v);
            envd_reply_error(req, ue.status, ue.message);
            goto out;
        }
        free(v);
        json_array_append_new(out, upload_entry(c.t[i].path, meta));
    }
    envd_reply_json(req, 200, out);
    out = NULL;
out:
    for (int i = 0; i < c.n; i++)
        free(c.t[i].path);
    free(c.t);
    if (plain)
        evbuffer_free(plain);
    json_decref(meta);
    json_decref(out);
    files_req_free(&fr);
    /* The body's memory (up to FILES_MAX_UPLOAD) is freed once evhttp frees
     * the request, right after this returns; ask for the arena to be
     * returned to the system then, or an idle envd would keep the peak of
     * its largest upload resident in a small sandbox. */
    if (!trim_ev && base)
        trim_ev = evtimer_new(base, trim_cb, NULL);
    if (trim_ev && !evtimer_pending(trim_ev, NULL)) {
        struct timeval tv = {0, 100000};
        evtimer_add(trim_ev, &tv);
    }
}
