/* filesystem.Filesystem: Stat, ListDir, MakeDir, Move, Remove (WatchDir is in
 * fs_watch.c, the polled watchers in fs_watcher.c).
 *
 * Who performs the operations. envd runs as root. E2B's envd does file
 * operations as root too and hands what it creates to the acting user (chown),
 * without re-checking the user's permissions; the SDK depends on that (it
 * writes to "/0/x.txt", creating /0) and the default user has passwordless
 * sudo anyway, so the permission boundary inside a sandbox is not envd's.
 * We considered switching the file-system identity per call (setfsuid/
 * setfsgid are per thread, but supplementary groups via setgroups(2) are
 * process-wide in glibc, so every call would have to swap and restore them;
 * any early return that forgot would leave the daemon with a user's groups),
 * and a forked helper per call (a fork per Stat is too slow for ListDir-heavy
 * clients). Both would also break the /0 case. So: root does the work,
 * MakeDir/Move give new directories to the user (0755), exactly as E2B does.
 *
 * All calls are unary and synchronous on the event loop. They are short (a
 * few syscalls) except ListDir of a deep tree and Remove of a big one, which
 * block the loop for their duration, like any other synchronous handler. */
#include "fs_rpc.h"

#include "connect_rpc.h"
#include "cube_log.h"
#include "envd_env.h"
#include "envd_http.h"
#include "envd_path.h"
#include "envd_user.h"
#include "files_common.h"
#include "fs_format.h"
#include "fs_watch.h"
#include "fs_watcher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bounds for ListDir: depth beyond any sane tree, and a cap on the reply. */
#define LIST_MAX_DEPTH 64
#define LIST_MAX_ENTRIES 200000

/* ----------------------------------------------------------- EntryInfo */

static void owner_name(uid_t uid, char *out, size_t outlen)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
        snprintf(out, outlen, "%s", pw.pw_name);
    else
        snprintf(out, outlen, "%lu", (unsigned long)uid);
}

static void group_name(gid_t gid, char *out, size_t outlen)
{
    struct group gr, *res = NULL;
    char buf[16384];

    if (getgrgid_r(gid, &gr, buf, sizeof(buf), &res) == 0 && res)
        snprintf(out, outlen, "%s", gr.gr_name);
    else
        snprintf(out, outlen, "%lu", (unsigned long)gid);
}

json_t *fs_entry_info(const char *path)
{
    struct stat st, tst;
    enum fs_file_type type;
    char perm[FS_PERM_STRING_MAX], ts[64], owner[256], group[256], size[32];
    char *target = NULL;
    const char *slash = strrchr(path, '/');
    json_t *o, *meta;

    if (lstat(path, &st) != 0)
        return NULL;
    if (S_ISLNK(st.st_mode)) {
        /* E2B reports what the link leads to, and where (fully resolved);
         * a dangling link has no type. */
        target = realpath(path, NULL);
        if (target && stat(target, &tst) == 0)
            type = S_ISDIR(tst.st_mode)   ? FS_TYPE_DIRECTORY
                   : S_ISREG(tst.st_mode) ? FS_TYPE_FILE
                                          : FS_TYPE_UNSPECIFIED;
        else
            type = FS_TYPE_UNSPECIFIED;
    } else {
        type = S_ISDIR(st.st_mode)   ? FS_TYPE_DIRECTORY
               : S_ISREG(st.st_mode) ? FS_TYPE_FILE
                                     : FS_TYPE_UNSPECIFIED;
    }
    fs_perm_string(st.st_mode, perm);
    owner_name(st.st_uid, owner, sizeof(owner));
    group_name(st.st_gid, group, sizeof(group));
    snprintf(size, sizeof(size), "%lld", (long long)st.st_size);

    o = json_object();
    if (!o) {
        free(target);
        errno = ENOMEM;
        return NULL;
    }
    json_object_set_new(o, "name",
                        envd_json_string_lossy(slash && slash[1] ? slash + 1 : path));
    json_object_set_new(o, "type", json_string(fs_file_type_name(type)));
    json_object_set_new(o, "path", envd_json_string_lossy(path));
    /* int64 is a string in proto3 JSON. */
    json_object_set_new(o, "size", json_string(size));
    json_object_set_new(o, "mode", json_integer(st.st_mode & 0777));
    json_object_set_new(o, "permissions", json_string(perm));
    json_object_set_new(o, "owner", envd_json_string_lossy(owner));
    json_object_set_new(o, "group", envd_json_string_lossy(group));
    if (fs_format_timestamp(&st.st_mtim, ts, sizeof(ts)) == 0)
        json_object_set_new(o, "modifiedTime", json_string(ts));
    if (target)
        json_object_set_new(o, "symlinkTarget", envd_json_string_lossy(target));
    free(target);
    meta = files_metadata_get(path);
    if (json_object_size(meta) > 0)
        json_object_set_new(o, "metadata", meta);
    else
        json_decref(meta);
    return o;
}

/* ------------------------------------------------------------- helpers */

static enum connect_code errno_code(int e)
{
    switch (e) {
    case ENOENT:
        return CONNECT_NOT_FOUND;
    case EEXIST:
    case ENOTEMPTY:
        return CONNECT_ALREADY_EXISTS;
    case EACCES:
    case EPERM:
    case EROFS:
        return CONNECT_PERMISSION_DENIED;
    case ENOTDIR:
    case EISDIR:
    case EINVAL:
    case ENAMETOOLONG:
    case ELOOP:
        return CONNECT_INVALID_ARGUMENT;
    case ENOSPC:
    case EDQUOT:
        return CONNECT_RESOURCE_EXHAUSTED;
    default:
        return CONNECT_INTERNAL;
    }
}

/* The request's user and the resolved value of its string field `field`.
 * Returns the path (malloc'd), or NULL after answering with the error. */
static char *resolve_field(struct evhttp_request *req, json_t *msg, const char *field,
                           struct envd_user *u)
{
    json_t *v = json_object_get(msg, field);
    char err[256], *path;

    if (v && !json_is_string(v) && !json_is_null(v)) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "%s must be a string", field);
        return NULL;
    }
    path = envd_path_resolve(json_string_value(v), u->home, envd_env_default_workdir(),
                             err, sizeof(err));
    if (!path)
        connect_error(req, CONNECT_INVALID_ARGUMENT, "%s", err);
    return path;
}

static void reply_entry(struct evhttp_request *req, const char *path)
{
    json_t *e = fs_entry_info(path);

    if (!e) {
        connect_error(req, errno_code(errno), "cannot stat '%s': %s", path,
                      strerror(errno));
        return;
    }
    connect_unary_reply(req, json_pack("{s:o}", "entry", e));
}

/* ----------------------------------------------------------------- Stat */

static void rpc_stat(struct evhttp_request *req, json_t *msg, struct envd_user *u)
{
    char *path = resolve_field(req, msg, "path", u);
    struct stat st;

    if (!path)
        return;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            connect_error(req, CONNECT_NOT_FOUND, "file '%s' does not exist", path);
        else
            connect_error(req, errno_code(errno), "cannot stat '%s': %s", path,
                          strerror(errno));
    } else {
        reply_entry(req, path);
    }
    free(path);
}

/* -------------------------------------------------------------- ListDir */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append the entries of dir (shown as `shown`) to out, depth-first pre-order,
 * children in byte order (Go's os.ReadDir), descending into real directories
 * (not links to them, as filepath.WalkDir) while level < depth. */
static int list_dir(const char *shown, int level, int depth, json_t *out)
{
    DIR *d = opendir(shown);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (!d)
        return level == 1 ? -1 : 0; /* unreadable subdirectory: skip it */
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nn = realloc(names, nc * sizeof(*names));
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == 0 && n > 1)
        qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char child[PATH_MAX];
        struct stat st;
        json_t *e;

        if ((size_t)snprintf(child, sizeof(child), "%s/%s",
                             strcmp(shown, "/") ? shown : "", names[i]) >= sizeof(child))
            continue;
        e = fs_entry_info(child);
        if (!e)
            continue; /* vanished meanwhile */
        json_array_append_new(out, e);
        if (json_array_size(out) > LIST_MAX_ENTRIES) {
            errno = E2BIG;
            rc = -1;
            break;
        }
        if (level < depth && lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
            rc = list_dir(child, level + 1, depth, out);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static void rpc_list_dir(struct evhttp_request *req, json_t *msg, struct envd_user *u)
{
    char *path = resolve_field(req, msg, "path", u);
    json_t *dv = json_object_get(msg, "depth"), *out;
    long long depth = 1;
    struct stat st;

    if (!path)
        return;
    if (json_is_integer(dv))
        depth = json_integer_value(dv);
    else if (json_is_string(dv))
        depth = strtoll(json_string_value(dv), NULL, 10);
    if (depth < 1)
        depth = 1;
    if (depth > LIST_MAX_DEPTH)
        depth = LIST_MAX_DEPTH;
    /* stat, not lstat: a symlinked root is followed; the entries keep the
     * requested path as their prefix. */
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            connect_error(req, CONNECT_NOT_FOUND, "directory '%s' does not exist", path);
        else
            connect_error(req, errno_code(errno), "cannot stat '%s': %s", path,
                          strerror(errno));
        goto out;
    }
    if (!S_ISDIR(st.st_mode)) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "path '%s' is not a directory",
                      path);
        goto out;
    }
    out = json_array();
    if (!out || list_dir(path, 1, (int)depth, out) != 0) {
        int e = errno;
        json_decref(out);
        connect_error(req, e == E2BIG ? CONNECT_RESOURCE_EXHAUSTED : errno_code(e),
                      "cannot list '%s': %s", path,
                      e == E2BIG ? "too many entries" : strerror(e));
        goto out;
    }
    connect_unary_reply(req, json_pack("{s:o}", "entries", out));
out:
    free(path);
}

/* -------------------------------------------------------------- MakeDir */

static void rpc_make_dir(struct evhttp_request *req, json_t *msg, struct envd_user *u)
{
    char *path = resolve_field(req, msg, "path", u);
    struct stat st;

    if (!path)
        return;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            connect_error(req, CONNECT_ALREADY_EXISTS, "directory '%s' already exists",
                          path);
        else
            connect_error(req, CONNECT_INVALID_ARGUMENT,
                          "path '%s' already exists and is not a directory", path);
    } else if (files_mkdir_p(path, u->uid, u->gid) != 0) {
        connect_error(req, errno_code(errno), "cannot create directory '%s': %s", path,
                      strerror(errno));
    } else {
        reply_entry(req, path);
    }
    free(path);
}

/* ----------------------------------------------------------------- Move */

static void rpc_move(struct evhttp_request *req, json_t *msg, struct envd_user *u)
{
    char *src = resolve_field(req, msg, "source", u), *dst = NULL;
    struct stat st;

    if (!src)
        return;
    dst = resolve_field(req, msg, "destination", u);
    if (!dst)
        goto out;
    if (lstat(src, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            connect_error(req, CONNECT_NOT_FOUND, "source '%s' does not exist", src);
        else
            connect_error(req, errno_code(errno), "cannot stat '%s': %s", src,
                          strerror(errno));
        goto out;
    }
    /* rename(2) keeps the inode, so metadata xattrs travel with the file. A
     * move across file systems (EXDEV) is refused rather than emulated. */
    if (files_mkdir_parent(dst, u->uid, u->gid) != 0 || rename(src, dst) != 0) {
        connect_error(req, errno_code(errno), "cannot move '%s' to '%s': %s", src, dst,
                      strerror(errno));
        goto out;
    }
    reply_entry(req, dst);
out:
    free(src);
    free(dst);
}

/* --------------------------------------------------------------- Remove */

#define REMOVE_MAX_DEPTH 512

/* rm -rf of what the directory dfd holds (dfd is consumed). A subdirectory is
 * entered only when it is on the removed tree's device (top), so a file system
 * mounted below is left alone (its mount point's rmdir then fails with EBUSY,
 * reported). Only directories are compared: on overlayfs a non-directory reports
 * the device of the layer that holds it, not the overlay's (nftw's FTW_MOUNT
 * compares every entry and so skipped files on a separate upper layer). A
 * concurrent removal of an entry is fine. */
static int remove_contents(int dfd, const struct stat *top, int depth)
{
    DIR *d = fdopendir(dfd);
    struct dirent *de;
    int rc = 0, saved;

    if (!d) {
        saved = errno;
        close(dfd);
        errno = saved;
        return -1;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        struct stat st;
        int sub;

        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = errno == ENOENT ? 0 : -1;
            continue;
        }
        if (S_ISDIR(st.st_mode) && st.st_dev == top->st_dev) {
            if (depth >= REMOVE_MAX_DEPTH) {
                errno = ELOOP;
                rc = -1;
                continue;
            }
            sub = openat(dirfd(d), de->d_name,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                rc = errno == ENOENT ? 0 : -1;
                continue;
            }
            if (remove_contents(sub, top, depth + 1) != 0) {
                rc = -1;
                continue;
            }
        }
        if (unlinkat(dirfd(d), de->d_name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0 &&
            errno != ENOENT)
            rc = -1;
    }
    saved = errno;
    closedir(d);
    errno = saved;
    return rc;
}

static int remove_tree(const char *path, const struct stat *top)
{
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (dfd < 0)
        return errno == ENOENT ? 0 : -1;
    if (remove_contents(dfd, top, 0) != 0)
        return -1;
    return rmdir(path) != 0 && errno != ENOENT ? -1 : 0;
}

static void rpc_remove(struct evhttp_request *req, json_t *msg, struct envd_user *u)
{
    const char *given = json_string_value(json_object_get(msg, "path"));
    char *path;
    struct stat st;
    int rc = 0;

    /* An empty path resolves to the working directory or home: never what a
     * caller of rm -rf meant. */
    if (!given || !*given) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "path is required");
        return;
    }
    path = resolve_field(req, msg, "path", u);
    if (!path)
        return;
    /* rm -rf: a missing path is success; links are removed, not followed. */
    if (lstat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            rc = remove_tree(path, &st);
        else
            rc = unlink(path);
    } else if (errno != ENOENT && errno != ENOTDIR) {
        rc = -1;
    }
    if (rc != 0)
        connect_error(req, errno_code(errno), "cannot remove '%s': %s", path,
                      strerror(errno));
    else
        connect_unary_reply(req, json_object());
    free(path);
}

/* ------------------------------------------------------------- dispatch */

static void rpc_watch_dir(struct evhttp_request *req, json_t *msg, struct envd_user *u)
{
    fs_watch_dir(req, msg, u);
}

static void rpc_create_watcher(struct evhttp_request *req, json_t *msg,
                               struct envd_user *u)
{
    fs_watcher_create(req, msg, u);
}

static void rpc_get_watcher_events(struct evhttp_request *req, json_t *msg,
                                   struct envd_user *u)
{
    fs_watcher_events(req, msg, u);
}

static void rpc_remove_watcher(struct evhttp_request *req, json_t *msg,
                               struct envd_user *u)
{
    fs_watcher_remove(req, msg, u);
}

static const struct {
    const char *name;
    void (*fn)(struct evhttp_request *req, json_t *msg, struct envd_user *u);
    int streaming;
} methods[] = {
    {"Stat", rpc_stat, 0},
    {"ListDir", rpc_list_dir, 0},
    {"MakeDir", rpc_make_dir, 0},
    {"Move", rpc_move, 0},
    {"Remove", rpc_remove, 0},
    {"WatchDir", rpc_watch_dir, 1},
    {"CreateWatcher", rpc_create_watcher, 0},
    {"GetWatcherEvents", rpc_get_watcher_events, 0},
    {"RemoveWatcher", rpc_remove_watcher, 0},
};

void fs_rpc_dispatch(struct evhttp_request *req, const char *method)
{
    struct envd_user u;
    char err[256];
    json_t *msg;

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(method, methods[i].name) != 0)
            continue;
        msg = connect_accept(req, "filesystem.Filesystem", method, methods[i].streaming);
        if (!msg)
            return;
        if (envd_user_from_request(req, &u, err, sizeof(err)) != 0) {
            json_decref(msg);
            connect_error(req, CONNECT_UNAUTHENTICATED, "%s", err);
            return;
        }
        methods[i].fn(req, msg, &u);
        envd_user_free(&u);
        json_decref(msg);
        return;
    }
    connect_error(req, CONNECT_UNIMPLEMENTED, "filesystem.Filesystem/%s: no such method",
                  method);
}
