/* POST /files: multipart/form-data or application/octet-stream uploads, plain
 * or gzip-encoded, streamed to disk as root and given to the acting user.
 *
 * Memory is fixed whatever the size: the body arrives in pieces (from
 * http_filter.c), goes through a 256 KiB inflate window when gzip-encoded and
 * through the streaming multipart parser, and is written as it comes.
 *
 * Nothing is left behind by an upload that fails or is cut off: each file is
 * written to a temporary file next to its target (".cube-upload-XXXXXX") and
 * renamed over it only once the whole body was read and good; directories made
 * for it are removed again. The rename keeps what a truncating write would:
 * the mode of a file it replaces, and a symlink's target is written, not the
 * link. Devices and FIFOs are written in place, as E2B does. */
#include "files_upload.h"

#include "cube_log.h"
#include "envd_env.h"
#include "envd_http.h"
#include "envd_path.h"
#include "files_common.h"
#include "multipart.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define INFLATE_WINDOW ((size_t)256 * 1024)

struct upfile {
    char *path; /* the target as reported */
    char *dest; /* what the rename replaces: path, or a symlink's target */
    char *tmp;  /* temporary file; NULL when writing in place */
    int fd;
    dev_t dev; /* the temporary file's inode */
    ino_t ino;
};

struct upload {
    struct files_req fr;
    json_t *meta;
    mode_t mode_new; /* of new files: 0666 less the umask */
    int gzip, zinit, zended;
    z_stream zs;
    uint8_t *zwin;
    int multipart;
    struct mp_stream mp;
    struct upfile *f;
    int nf, capf;
    int cur; /* the file taking the current part's data, or -1 */
    char **dirs;
    int ndirs;
    int done;                /* in place: nothing to undo */
    struct sink_result *res; /* where callbacks put an error */
};

static int set_error(struct sink_result *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_error(struct sink_result *r, int status, const char *fmt, ...)
{
    char msg[PATH_MAX + 256];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->status = status;
    r->body =
        json_pack("{s:i,s:o}", "code", status, "message", envd_json_string_lossy(msg));
    return -1;
}

/* An I/O error on path as an answer: a full disk is 507 with E2B's message. */
static int sys_error(struct sink_result *r, const char *path, int e)
{
    if (e == ENOSPC || e == EDQUOT)
        return set_error(r, 507, "not enough disk space available");
    return set_error(r,
                     e == EACCES || e == EPERM     ? 403
                     : e == ENOTDIR || e == EISDIR ? 400
                                                   : 500,
                     "error writing file '%s': %s", path, strerror(e));
}

/* X-Metadata-<key>: <value> headers as a JSON object (keys lowercased). */
static json_t *collect_metadata(const struct http_head *h, struct sink_result *r)
{
    static const char prefix[] = "x-metadata-";
    json_t *meta = json_object();

    if (!meta) {
        set_error(r, 500, "out of memory");
        return NULL;
    }
    for (int n = 0; n < h->nheaders; n++) {
        const char *name = h->names[n], *value = h->values[n] ? h->values[n] : "";
        char key[256];
        size_t kl;

        if (strncasecmp(name, prefix, sizeof(prefix) - 1) != 0)
            continue;
        kl = strlen(name) - (sizeof(prefix) - 1);
        if (kl == 0 || kl >= sizeof(key)) {
            set_error(r, 400, "invalid metadata key");
            goto bad;
        }
        for (size_t i = 0; i < kl; i++)
            key[i] = (char)tolower((unsigned char)name[sizeof(prefix) - 1 + i]);
        key[kl] = '\0';
        for (const char *p = value; *p; p++) {
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
                set_error(r, 400, "metadata value for '%s' must be printable ASCII", key);
                goto bad;
            }
        }
        json_object_set_new(meta, key, json_string(value));
    }
    return meta;
bad:
    json_decref(meta);
    return NULL;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void note_dir(const char *dir, void *arg)
{
    struct upload *u = arg;
    char **d = realloc(u->dirs, (size_t)(u->ndirs + 1) * sizeof(*d));

    if (!d)
        return; /* only the clean-up of a failed upload would miss it */
    u->dirs = d;
    if ((d[u->ndirs] = strdup(dir)))
        u->ndirs++;
}

/* Open the file that receives path's data: parents made for the user, then a
 * temporary file beside the target (or the target itself when it is a device
 * or FIFO), owned by the user, with the upload's metadata. */
static int open_target(struct upload *u, const char *path, struct sink_result *r)
{
    struct upfile *f;
    struct stat st;
    mode_t mode = u->mode_new;
    int in_place = 0, fd;
    const char *slash;

    if (u->nf == u->capf) {
        int cap = u->capf ? u->capf * 2 : 4;
        struct upfile *n = realloc(u->f, (size_t)cap * sizeof(*n));
        if (!n)
            return set_error(r, 500, "out of memory");
        u->f = n;
        u->capf = cap;
    }
    f = &u->f[u->nf];
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    if (!(f->path = strdup(path)))
        return set_error(r, 500, "out of memory");
    u->nf++;
    /* A truncating write goes through a symlink; so does the rename. */
    f->dest = lstat(path, &st) == 0 && S_ISLNK(st.st_mode) ? realpath(path, NULL) : NULL;
    if (!f->dest && !(f->dest = strdup(path)))
        return set_error(r, 500, "out of memory");
    if (stat(f->dest, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return set_error(r, 400, "path '%s' is a directory", path);
        if (S_ISREG(st.st_mode))
            mode = st.st_mode & 07777;
        else
            in_place = 1;
    }
    if (files_mkdir_parent_track(f->dest, u->fr.user.uid, u->fr.user.gid, note_dir, u) !=
        0)
        return sys_error(r, path, errno);
    if (in_place) {
        fd = open(f->dest, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd >= 0)
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    } else {
        slash = strrchr(f->dest, '/');
        if (asprintf(&f->tmp, "%.*s/" FILES_UPLOAD_TMP_PREFIX "XXXXXX",
                     (int)(slash ? slash - f->dest : 0), f->dest) < 0) {
            f->tmp = NULL;
            return set_error(r, 500, "out of memory");
        }
        fd = mkostemp(f->tmp, O_CLOEXEC);
        if (fd < 0) {
            free(f->tmp);
            f->tmp = NULL;
        }
    }
    if (fd < 0)
        return sys_error(r, path, errno);
    f->fd = fd;
    if (fstat(fd, &st) == 0) {
        f->dev = st.st_dev;
        f->ino = st.st_ino;
    }
    if (!in_place &&
        (fchown(fd, u->fr.user.uid, u->fr.user.gid) != 0 || fchmod(fd, mode) != 0))
        return sys_error(r, path, errno);
    /* Metadata may be unsupported by the file system (old tmpfs): that only
     * matters when there is some to store. */
    if (files_metadata_replace(fd, u->meta) != 0 &&
        (json_object_size(u->meta) > 0 || (errno != ENOTSUP && errno != EOPNOTSUPP)))
        return sys_error(r, path, errno);
    return 0;
}

static int close_file(struct upfile *f, struct sink_result *r)
{
    int rc = close(f->fd);

    f->fd = -1;
    return rc != 0 ? sys_error(r, f->path, errno) : 0;
}

/* ---------------------------------------------------------------- multipart */

/* A part begins: `file` parts get a target (path query, else the filename). */
static int on_part_begin(const struct mp_part *p, void *arg)
{
    struct upload *u = arg;
    char err[PATH_MAX + 64];
    char *path;
    int rc;

    u->cur = -1;
    if (strcmp(p->name, "file") != 0)
        return 0;
    if (u->fr.path) {
        path = strdup(u->fr.path);
    } else if (p->has_filename && p->filename[0]) {
        path = envd_path_resolve(p->filename, u->fr.user.home, envd_env_default_workdir(),
                                 err, sizeof(err));
        if (!path)
            return set_error(u->res, 400, "%s", err);
    } else {
        return set_error(u->res, 400,
                         "missing path: give a path query parameter or a part filename");
    }
    if (!path)
        return set_error(u->res, 500, "out of memory");
    for (int i = 0; i < u->nf; i++) {
        if (strcmp(u->f[i].path, path) == 0) {
            set_error(u->res, 400, "cannot upload multiple files to the same path '%s'",
                      path);
            free(path);
            return -1;
        }
    }
    rc = open_target(u, path, u->res);
    free(path);
    if (rc == 0)
        u->cur = u->nf - 1;
    return rc;
}

static int on_part_data(const uint8_t *p, size_t n, void *arg)
{
    struct upload *u = arg;

    if (u->cur < 0 || write_all(u->f[u->cur].fd, p, n) == 0)
        return 0;
    return sys_error(u->res, u->f[u->cur].path, errno);
}

static int on_part_end(void *arg)
{
    struct upload *u = arg;
    int rc = 0;

    if (u->cur >= 0)
        rc = close_file(&u->f[u->cur], u->res);
    u->cur = -1;
    return rc;
}

/* ---------------------------------------------------------------- body */

/* Plain (inflated) body bytes. */
static int sink(struct upload *u, const uint8_t *p, size_t n, struct sink_result *r)
{
    if (!u->multipart)
        return write_all(u->f[0].fd, p, n) == 0 ? 0 : sys_error(r, u->f[0].path, errno);
    u->res = r;
    if (mp_stream_feed(&u->mp, p, n) == 0)
        return 0;
    /* A callback failed (r set), or the body is malformed. */
    return r->body ? -1 : set_error(r, 400, "%s", u->mp.err);
}

static int gzip_error(struct upload *u, struct sink_result *r)
{
    if (u->multipart)
        return set_error(r, 400, "invalid gzip body");
    return set_error(r, 400, "invalid gzip body for '%s'", u->f[0].path);
}

/* Inflate in[0..n) into sink(). Concatenated gzip members are accepted, as
 * Go's gzip.Reader does. */
static int inflate_body(struct upload *u, const uint8_t *in, size_t n,
                        struct sink_result *r)
{
    z_stream *zs = &u->zs;

    while (n > 0) {
        /* zlib counts in uInt: feed at most 1 GiB at a time. */
        size_t take = n > (1u << 30) ? (1u << 30) : n;
        zs->next_in = (Bytef *)in;
        zs->avail_in = (uInt)take;
        while (zs->avail_in > 0) {
            int rc;
            size_t got;
            if (u->zended) {
                /* Bytes after a finished member: the next member. */
                if (inflateReset(zs) != Z_OK)
                    return gzip_error(u, r);
                u->zended = 0;
            }
            zs->next_out = u->zwin;
            zs->avail_out = (uInt)INFLATE_WINDOW;
            rc = inflate(zs, Z_NO_FLUSH);
            if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
                return gzip_error(u, r);
            got = INFLATE_WINDOW - zs->avail_out;
            if (got && sink(u, u->zwin, got, r) != 0)
                return -1;
            if (rc == Z_STREAM_END)
                u->zended = 1;
            else if (rc == Z_BUF_ERROR && got == 0)
                break; /* needs more input */
        }
        in += take;
        n -= take;
    }
    return 0;
}

int upload_body(struct upload *u, const uint8_t *p, size_t n, struct sink_result *r)
{
    r->status = 0;
    r->body = NULL;
    return u->gzip ? inflate_body(u, p, n, r) : sink(u, p, n, r);
}

/* ---------------------------------------------------------------- start, end */

struct upload *upload_start(const struct http_head *h, struct sink_result *r)
{
    const char *ct = http_head_get(h, "Content-Type");
    const char *ce = http_head_get(h, "Content-Encoding");
    char msg[512], boundary[MP_BOUNDARY_MAX + 1];
    struct upload *u = calloc(1, sizeof(*u));
    mode_t mask;
    int status;

    r->status = 0;
    r->body = NULL;
    if (!u) {
        set_error(r, 500, "out of memory");
        return NULL;
    }
    u->cur = -1;
    mask = umask(0);
    umask(mask);
    u->mode_new = 0666 & ~mask;
    if (files_req_resolve(h->query, http_head_get(h, "X-Access-Token"), "write", &u->fr,
                          &status, msg, sizeof(msg)) != 0) {
        set_error(r, status, "%s", msg);
        goto fail;
    }
    if (ce && *ce && strcasecmp(ce, "identity") != 0) {
        if (strcasecmp(ce, "gzip") != 0) {
            set_error(r, 400, "unsupported Content-Encoding '%.200s'", ce);
            goto fail;
        }
        u->gzip = 1;
    }
    if (!(u->meta = collect_metadata(h, r)))
        goto fail;

    if (ct && strncasecmp(ct, "application/octet-stream", 24) == 0 &&
        (ct[24] == '\0' || ct[24] == ';' || ct[24] == ' ')) {
        if (!u->fr.path) {
            set_error(r, 400,
                      "the path query parameter is required for "
                      "application/octet-stream uploads");
            goto fail;
        }
        if (open_target(u, u->fr.path, r) != 0)
            goto fail;
    } else if (mp_boundary_from_content_type(ct, boundary) == 0) {
        static const struct mp_callbacks cbs = {on_part_begin, on_part_data, on_part_end};
        u->multipart = 1;
        if (mp_stream_init(&u->mp, boundary, &cbs, u) != 0) {
            set_error(r, 500, "%s", u->mp.err);
            goto fail;
        }
    } else {
        set_error(r, 400,
                  "unsupported Content-Type: use multipart/form-data (with a "
                  "boundary) or application/octet-stream");
        goto fail;
    }
    if (u->gzip) {
        u->zwin = malloc(INFLATE_WINDOW);
        if (!u->zwin || inflateInit2(&u->zs, 15 + 16) != Z_OK) {
            set_error(r, 500, "out of memory");
            goto fail;
        }
        u->zinit = 1;
    }
    return u;
fail:
    upload_free(u);
    return NULL;
}

/* A file renamed into place was written under another name: watchers of its
 * directory (WatchDir, or any inotify user) have seen it appear but not be
 * written, where E2B's in-place write shows a write. Truncating it to its own
 * size is a real modification (IN_MODIFY) under its final name. The inode is
 * checked so that a file put there meanwhile by someone else is left alone. */
static void announce_write(const struct upfile *f)
{
    int fd = open(f->dest, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    struct stat st;

    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino &&
        ftruncate(fd, st.st_size) != 0)
        log_debug("upload: %s: %s", f->dest, strerror(errno));
    close(fd);
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

void upload_finish(struct upload *u, struct sink_result *r)
{
    json_t *out;

    r->status = 0;
    r->body = NULL;
    if (u->gzip && !u->zended) {
        gzip_error(u, r);
        return;
    }
    if (u->multipart) {
        u->res = r;
        if (mp_stream_finish(&u->mp) != 0) {
            if (!r->body)
                set_error(r, 400, "%s", u->mp.err);
            return;
        }
        if (u->nf == 0) {
            set_error(r, 400, "no file part in the multipart body (field 'file')");
            return;
        }
    } else if (close_file(&u->f[0], r) != 0) {
        return;
    }
    out = json_array();
    for (int i = 0; i < u->nf; i++) {
        struct upfile *f = &u->f[i];
        if (f->tmp) {
            if (rename(f->tmp, f->dest) != 0) {
                sys_error(r, f->path, errno);
                json_decref(out);
                return;
            }
            free(f->tmp);
            f->tmp = NULL;
            announce_write(f);
        }
        json_array_append_new(out, upload_entry(f->path, u->meta));
    }
    u->done = 1;
    r->status = 200;
    r->body = out;
}

void upload_free(struct upload *u)
{
    if (!u)
        return;
    for (int i = 0; i < u->nf; i++) {
        if (u->f[i].fd >= 0)
            close(u->f[i].fd);
        if (u->f[i].tmp)
            unlink(u->f[i].tmp);
        free(u->f[i].tmp);
        free(u->f[i].dest);
        free(u->f[i].path);
    }
    /* Directories made for a failed upload go again, deepest first (rmdir
     * leaves any that something else has filled meanwhile). */
    for (int i = u->ndirs - 1; i >= 0; i--) {
        if (!u->done)
            rmdir(u->dirs[i]);
        free(u->dirs[i]);
    }
    free(u->dirs);
    free(u->f);
    if (u->zinit)
        inflateEnd(&u->zs);
    free(u->zwin);
    if (u->multipart)
        mp_stream_free(&u->mp);
    json_decref(u->meta);
    files_req_free(&u->fr);
    free(u);
}

void files_upload(struct evhttp_request *req)
{
    json_t *body;
    int status;

    /* Only the filter's stand-in requests carry an upload's outcome; any
     * other POST /files reached evhttp unframed and its body was not used. */
    if (http_filter_take_result(req, &status, &body) != 0) {
        envd_reply_error(req, 400, "malformed upload request");
        return;
    }
    envd_reply_json(req, status, body);
}

static void *sink_start(const struct http_head *h, struct sink_result *res)
{
    return upload_start(h, res);
}

static int sink_body(void *u, const uint8_t *p, size_t n, struct sink_result *res)
{
    return upload_body(u, p, n, res);
}

static void sink_finish(void *u, struct sink_result *res)
{
    upload_finish(u, res);
}

static void sink_release(void *u)
{
    upload_free(u);
}

const struct body_sink files_upload_sink = {
    .path = "/files",
    .bulk = 1,
    .start = sink_start,
    .body = sink_body,
    .finish = sink_finish,
    .release = sink_release,
};
