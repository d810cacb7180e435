/* Shared parts of the files APIs. See files_common.h. */
#include "files_common.h"

#include "cube_hash.h"
#include "cube_log.h"
#include "envd_env.h"
#include "envd_http.h"
#include "envd_path.h"
#include "files_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

int files_req_resolve(const char *query, const char *token_header, const char *op,
                      struct files_req *fr, int *status, char *msg, size_t msglen)
{
    const char *token = envd_env_access_token();
    char *username = NULL, err[256];
    const char *bad;

    memset(fr, 0, sizeof(*fr));
    *status = 0;
    fr->raw_path = files_query_get(query, "path");
    username = files_query_get(query, "username");

    if (token) {
        /* A header, right or wrong, decides alone: only requests without it
         * (browser downloads of a signed URL) fall back to the signature. */
        if (token_header) {
            if (!cube_str_equal_ct(token_header, token)) {
                *status = 401;
                (void)snprintf(msg, msglen, "%s", ENVD_UNAUTHORIZED_MESSAGE);
                goto fail;
            }
        } else {
            char *sig = files_query_get(query, "signature");
            char *exp = files_query_get(query, "signature_expiration");
            bad = files_check_signature(fr->raw_path, op, username, token, sig, exp,
                                        time(NULL));
            free(sig);
            free(exp);
            if (bad) {
                *status = 401;
                (void)snprintf(msg, msglen, "%s", bad);
                goto fail;
            }
        }
    }

    if (envd_user_lookup(username && *username ? username : envd_env_default_user(),
                         &fr->user, err, sizeof(err)) != 0) {
        *status = 401;
        (void)snprintf(msg, msglen, "%s", err);
        goto fail;
    }
    if (fr->raw_path) {
        fr->path = envd_path_resolve(fr->raw_path, fr->user.home,
                                     envd_env_default_workdir(), err, sizeof(err));
        if (!fr->path) {
            *status = 400;
            (void)snprintf(msg, msglen, "%s", err);
            goto fail;
        }
    }
    free(username);
    return 0;
fail:
    free(username);
    files_req_free(fr);
    return -1;
}

int files_req_prepare(struct evhttp_request *req, const char *op, struct files_req *fr)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *hdr =
        evhttp_find_header(evhttp_request_get_input_headers(req), "X-Access-Token");
    char msg[512];
    int status;

    if (files_req_resolve(uri ? evhttp_uri_get_query(uri) : NULL, hdr, op, fr, &status,
                          msg, sizeof(msg)) != 0) {
        envd_reply_error(req, status, msg);
        return -1;
    }
    return 0;
}

void files_req_free(struct files_req *fr)
{
    envd_user_free(&fr->user);
    free(fr->raw_path);
    free(fr->path);
    fr->raw_path = fr->path = NULL;
}

/* A few types browsers and the SDK care about; the rest is bytes. Text types
 * say UTF-8 as Go's mime table does. */
static const struct {
    const char *ext, *type;
} mime_map[] = {
    {"txt", "text/plain; charset=utf-8"},
    {"log", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"xml", "text/xml; charset=utf-8"},
    {"json", "application/json"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"wasm", "application/wasm"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"svg", "image/svg+xml"},
    {"ico", "image/vnd.microsoft.icon"},
    {"mp3", "audio/mpeg"},
    {"wav", "audio/wav"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
};

const char *files_content_type(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash + 1 : name, '.');

    if (dot && dot[1]) {
        for (size_t i = 0; i < sizeof(mime_map) / sizeof(mime_map[0]); i++)
            if (strcasecmp(dot + 1, mime_map[i].ext) == 0)
                return mime_map[i].type;
    }
    return "application/octet-stream";
}

int files_mkdir_p_track(const char *dir, uid_t uid, gid_t gid, files_mkdir_cb created,
                        void *arg)
{
    char *p = strdup(dir);
    struct stat st;
    int rc = 0;

    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    /* Walk the components left to right; only those we create change owner,
     * so an upload to /home/user/a/b never touches /home or /home/user. */
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) == 0) {
            /* umask may have taken bits off; E2B's directories are 0755. */
            if (created)
                created(p, arg);
            if (chown(p, uid, gid) != 0 || chmod(p, 0755) != 0) {
                rc = -1;
                break;
            }
        } else if (errno != EEXIST || stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
            if (errno == EEXIST)
                errno = ENOTDIR;
            rc = -1;
            break;
        }
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    return rc;
}

int files_mkdir_p(const char *dir, uid_t uid, gid_t gid)
{
    return files_mkdir_p_track(dir, uid, gid, NULL, NULL);
}

int files_mkdir_parent_track(const char *path, uid_t uid, gid_t gid,
                             files_mkdir_cb created, void *arg)
{
    const char *slash = strrchr(path, '/');
    char *parent;
    int rc, e;

    if (!slash || slash == path)
        return 0; /* "/x": the root exists */
    parent = strndup(path, (size_t)(slash - path));
    if (!parent) {
        errno = ENOMEM;
        return -1;
    }
    rc = files_mkdir_p_track(parent, uid, gid, created, arg);
    e = errno;
    free(parent);
    errno = e;
    return rc;
}

/* The xattr name list of path or fd (exactly one of them), malloc'd, length in
 * *len. NULL with *len 0 when there are none or they are unsupported. */
static char *xattr_list(const char *path, int fd, ssize_t *len)
{
    char *buf = NULL;

    for (int tries = 0; tries < 4; tries++) {
        ssize_t n = path ? llistxattr(path, NULL, 0) : flistxattr(fd, NULL, 0);
        if (n <= 0)
            break;
        char *b = realloc(buf, (size_t)n);
        if (!b)
            break;
        buf = b;
        n = path ? llistxattr(path, buf, (size_t)n) : flistxattr(fd, buf, (size_t)n);
        if (n >= 0) {
            *len = n;
            return buf;
        }
        if (errno != ERANGE)
            break; /* list grew in between: retry */
    }
    free(buf);
    *len = 0;
    return NULL;
}

json_t *files_metadata_get(const char *path)
{
    json_t *meta = json_object();
    ssize_t len;
    char *names = xattr_list(path, -1, &len);
    size_t plen = strlen(ENVD_XATTR_PREFIX);

    if (!meta)
        return NULL;
    for (char *n = names; names && n < names + len; n += strlen(n) + 1) {
        char val[4096];
        ssize_t vl;
        if (strncmp(n, ENVD_XATTR_PREFIX, plen) != 0 || !n[plen])
            continue;
        vl = lgetxattr(path, n, val, sizeof(val) - 1);
        if (vl < 0)
            continue;
        val[vl] = '\0';
        json_object_set_new(meta, n + plen, envd_json_string_lossy(val));
    }
    free(names);
    return meta;
}

int files_metadata_replace(int fd, json_t *meta)
{
    ssize_t len;
    char *names = xattr_list(NULL, fd, &len);
    size_t plen = strlen(ENVD_XATTR_PREFIX);
    const char *k;
    json_t *v;

    for (char *n = names; names && n < names + len; n += strlen(n) + 1)
        if (strncmp(n, ENVD_XATTR_PREFIX, plen) == 0)
            fremovexattr(fd, n);
    free(names);
    if (!meta)
        return 0;
    json_object_foreach(meta, k, v)
    {
        char name[512];
        const char *s = json_string_value(v);
        if (!s)
            continue;
        if ((size_t)snprintf(name, sizeof(name), "%s%s", ENVD_XATTR_PREFIX, k) >=
            sizeof(name)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (fsetxattr(fd, name, s, strlen(s), 0) != 0)
            return -1;
    }
    return 0;
}

int files_mkdir_parent(const char *path, uid_t uid, gid_t gid)
{
    return files_mkdir_parent_track(path, uid, gid, NULL, NULL);
}
