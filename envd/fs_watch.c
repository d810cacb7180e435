/* Directory watches over inotify, and the WatchDir stream.
 *
 * Each watch owns one inotify descriptor, registered in the event loop, and a
 * table from watch descriptors to directory paths relative to the watched
 * root ("" for the root itself). Recursive watches add every subdirectory up
 * front and each directory that appears later (created or moved in), as
 * E2B's fsnotify-based watcher does; a directory that goes away drops out by
 * itself (IN_IGNORED).
 *
 * Event mapping follows fsnotify, which E2B uses, one message per op:
 *   IN_CREATE, IN_MOVED_TO      -> EVENT_TYPE_CREATE
 *   IN_MODIFY                   -> EVENT_TYPE_WRITE
 *   IN_DELETE, IN_DELETE_SELF   -> EVENT_TYPE_REMOVE
 *   IN_MOVED_FROM, IN_MOVE_SELF -> EVENT_TYPE_RENAME
 *   IN_ATTRIB                   -> EVENT_TYPE_CHMOD
 * Uploads' temporary files (files_upload.h) are not reported: an uploaded file
 * shows up when renamed into place, and then is written (as with E2B).
 *
 * The core hands each event to its owner's callback. WatchDir writes them
 * to the stream as they come; the polled watchers (fs_watcher.c) queue them.
 * Memory: a stream client that stops
 * reading while the directory keeps changing would make the connection's
 * output grow without bound, so past WATCH_MAX_BACKLOG the watch ends with
 * resource_exhausted instead. */
#include "fs_watch.h"

#include "connect_rpc.h"
#include "cube_log.h"
#include "envd_env.h"
#include "envd_path.h"
#include "files_upload.h"
#include "fs_rpc.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define WATCH_MASK                                                                       \
    (IN_CREATE | IN_MOVED_TO | IN_MODIFY | IN_DELETE | IN_DELETE_SELF | IN_MOVED_FROM |  \
     IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR)
#define WATCH_MAX_BACKLOG (8u << 20)
#define WATCH_MAX_DIRS 65536
#define KEEPALIVE_MSG "{\"keepalive\":{}}"

struct wdir {
    int wd;
    char *rel; /* "" for the root */
};

struct fs_watch {
    fs_watch_emit_cb emit;
    void *arg;
    struct event *ev;
    int fd;
    char *root;
    int recursive, include_entry;
    struct wdir *dirs;
    size_t ndirs, cap;
};

void fs_watch_free(struct fs_watch *w)
{
    if (!w)
        return;
    if (w->ev)
        event_free(w->ev);
    if (w->fd >= 0)
        close(w->fd);
    for (size_t i = 0; i < w->ndirs; i++)
        free(w->dirs[i].rel);
    free(w->dirs);
    free(w->root);
    free(w);
}

static struct wdir *find_wd(struct fs_watch *w, int wd)
{
    for (size_t i = 0; i < w->ndirs; i++)
        if (w->dirs[i].wd == wd)
            return &w->dirs[i];
    return NULL;
}

/* Watch the directory root/rel and, when recursive, its subdirectories.
 * Failures below the root are skipped (permissions, races): the root's own
 * failure is reported by the caller. */
static int add_tree(struct fs_watch *w, const char *rel)
{
    char full[PATH_MAX];
    struct wdir *d;
    DIR *dir;
    struct dirent *de;
    int wd;

    if ((size_t)snprintf(full, sizeof(full), "%s%s%s", w->root, *rel ? "/" : "", rel) >=
        sizeof(full))
        return -1;
    wd = inotify_add_watch(w->fd, full, WATCH_MASK);
    if (wd < 0)
        return -1;
    d = find_wd(w, wd);
    if (!d) {
        if (w->ndirs >= WATCH_MAX_DIRS)
            return -1;
        if (w->ndirs == w->cap) {
            size_t nc = w->cap ? w->cap * 2 : 16;
            struct wdir *nd = realloc(w->dirs, nc * sizeof(*nd));
            if (!nd)
                return -1;
            w->dirs = nd;
            w->cap = nc;
        }
        d = &w->dirs[w->ndirs++];
        d->wd = wd;
        d->rel = NULL;
    }
    free(d->rel);
    d->rel = strdup(rel);
    if (!d->rel)
        return -1;
    if (!w->recursive || !(dir = opendir(full)))
        return 0;
    while ((de = readdir(dir)) != NULL) {
        char sub[PATH_MAX];
        struct stat st;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if ((size_t)snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "",
                             de->d_name) >= sizeof(sub))
            continue;
        if ((size_t)snprintf(full, sizeof(full), "%s/%s", w->root, sub) >= sizeof(full))
            continue;
        if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode))
            add_tree(w, sub);
    }
    closedir(dir);
    return 0;
}

/* Hand one event to the owner; nonzero when the owner ended the watch (then
 * w is gone). */
static int send_event(struct fs_watch *w, const char *name, const char *type,
                      const char *full, int with_entry)
{
    json_t *ev = json_pack("{s:o,s:s}", "name", json_string(name), "type", type);

    if (!ev)
        return 0; /* a name that is not UTF-8: nothing sane to send */
    if (with_entry && w->include_entry) {
        json_t *e = fs_entry_info(full);
        if (e)
            json_object_set_new(ev, "entry", e);
    }
    return w->emit(ev, w->arg);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
    struct fs_watch *w = arg;
    char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;

    (void)what;
    n = read(fd, buf, sizeof(buf));
    if (n <= 0)
        return;
    for (char *p = buf; p < buf + n;) {
        const struct inotify_event *ie = (const struct inotify_event *)p;
        struct wdir *d = find_wd(w, ie->wd);
        char rel[PATH_MAX], full[PATH_MAX];

        p += sizeof(*ie) + ie->len;
        if (ie->mask & IN_Q_OVERFLOW) {
            log_warn("watch %s: inotify queue overflow, events lost", w->root);
            continue;
        }
        if (!d)
            continue;
        /* An upload's temporary file: its target shows up when renamed. */
        if (ie->len && strncmp(ie->name, FILES_UPLOAD_TMP_PREFIX,
                               sizeof(FILES_UPLOAD_TMP_PREFIX) - 1) == 0)
            continue;
        if (ie->mask & IN_IGNORED) {
            /* The directory is gone: forget it (swap-remove). */
            free(d->rel);
            *d = w->dirs[--w->ndirs];
            continue;
        }
        /* Self events name the watched directory itself. */
        /* Paths beyond PATH_MAX cannot be named to the client: skipped. */
        if ((size_t)snprintf(rel, sizeof(rel), "%s%s%s", d->rel,
                             *d->rel && ie->len && ie->name[0] ? "/" : "",
                             ie->len ? ie->name : "") >= sizeof(rel) ||
            (size_t)snprintf(full, sizeof(full), "%s%s%s", w->root, *rel ? "/" : "",
                             rel) >= sizeof(full))
            continue;

        if (ie->mask & (IN_CREATE | IN_MOVED_TO)) {
            if (send_event(w, rel, "EVENT_TYPE_CREATE", full, 1))
                return;
            if (w->recursive && (ie->mask & IN_ISDIR))
                add_tree(w, rel);
        }
        if ((ie->mask & IN_MODIFY) && send_event(w, rel, "EVENT_TYPE_WRITE", full, 1))
            return;
        if ((ie->mask & (IN_DELETE | IN_DELETE_SELF)) &&
            send_event(w, rel, "EVENT_TYPE_REMOVE", full, 0))
            return;
        if ((ie->mask & (IN_MOVED_FROM | IN_MOVE_SELF)) &&
            send_event(w, rel, "EVENT_TYPE_RENAME", full, 0))
            return;
        if ((ie->mask & IN_ATTRIB) && send_event(w, rel, "EVENT_TYPE_CHMOD", full, 1))
            return;
    }
}

/* NFS, SMB/CIFS and FUSE mounts: inotify misses remote changes there, so E2B
 * refuses them unless the client says it knows. */
static int is_network_fs(const char *path)
{
    struct statfs sf;

    if (statfs(path, &sf) != 0)
        return 0;
    switch ((unsigned long)sf.f_type) {
    case 0x6969UL:     /* NFS */
    case 0xFF534D42UL: /* CIFS */
    case 0xFE534D42UL: /* SMB2 */
    case 0x517BUL:     /* SMB */
    case 0x65735546UL: /* FUSE */
        return 1;
    }
    return 0;
}

struct fs_watch *fs_watch_new(struct event_base *base, json_t *msg,
                              const struct envd_user *u, fs_watch_emit_cb emit, void *arg,
                              enum connect_code *code, char *err, size_t errlen)
{
    json_t *pv = json_object_get(msg, "path");
    struct fs_watch *w;
    struct stat st;
    char perr[256];

    *code = CONNECT_INTERNAL;
    if (pv && !json_is_string(pv) && !json_is_null(pv)) {
        *code = CONNECT_INVALID_ARGUMENT;
        (void)snprintf(err, errlen, "path must be a string");
        return NULL;
    }
    w = calloc(1, sizeof(*w));
    if (!w) {
        (void)snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->fd = -1;
    w->emit = emit;
    w->arg = arg;
    w->recursive = json_is_true(json_object_get(msg, "recursive"));
    w->include_entry = json_is_true(json_object_get(msg, "includeEntry"));
    w->root = envd_path_resolve(json_string_value(pv), u->home,
                                envd_env_default_workdir(), perr, sizeof(perr));
    if (!w->root) {
        *code = CONNECT_INVALID_ARGUMENT;
        (void)snprintf(err, errlen, "%s", perr);
        goto fail;
    }
    if (stat(w->root, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            *code = CONNECT_NOT_FOUND;
        (void)snprintf(err, errlen, "path '%s' does not exist: %s", w->root,
                       strerror(errno));
        goto fail;
    }
    if (!S_ISDIR(st.st_mode)) {
        *code = CONNECT_INVALID_ARGUMENT;
        (void)snprintf(err, errlen, "path '%s' is not a directory", w->root);
        goto fail;
    }
    if (!json_is_true(json_object_get(msg, "allowNetworkMounts")) &&
        is_network_fs(w->root)) {
        *code = CONNECT_INVALID_ARGUMENT;
        (void)snprintf(
            err, errlen,
            "path '%s' is on a network mount: set allowNetworkMounts to watch it",
            w->root);
        goto fail;
    }
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0 || add_tree(w, "") != 0) {
        if (errno == ENOSPC || errno == EMFILE)
            *code = CONNECT_RESOURCE_EXHAUSTED;
        (void)snprintf(err, errlen, "cannot watch '%s': %s", w->root, strerror(errno));
        goto fail;
    }
    w->ev = event_new(base, w->fd, EV_READ | EV_PERSIST, on_inotify, w);
    if (!w->ev || event_add(w->ev, NULL) != 0) {
        (void)snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return w;
fail:
    fs_watch_free(w);
    return NULL;
}

/* ------------------------------------------------------ WatchDir stream */

struct watch_stream {
    struct connect_stream *s;
    struct fs_watch *w;
};

/* The stream went away (client closed, deadline): drop everything. */
static void stream_gone(struct connect_stream *s, void *arg)
{
    struct watch_stream *ws = arg;

    (void)s;
    fs_watch_free(ws->w);
    free(ws);
}

static int stream_emit(json_t *ev, void *arg)
{
    struct watch_stream *ws = arg;
    json_t *msg = json_pack("{s:o}", "filesystem", ev);
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;

    json_decref(msg);
    if (text)
        connect_stream_send(ws->s, text, strlen(text));
    free(text);
    if (connect_stream_backlog(ws->s) > WATCH_MAX_BACKLOG) {
        struct connect_stream *s = ws->s;
        fs_watch_free(ws->w);
        free(ws);
        connect_stream_end(s, CONNECT_RESOURCE_EXHAUSTED,
                           "watch client is not reading its events");
        return -1;
    }
    return 0;
}

void fs_watch_dir(struct evhttp_request *req, json_t *msg, const struct envd_user *u)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct watch_stream *ws = calloc(1, sizeof(*ws));
    enum connect_code code;
    char err[512];
    long timeout;

    if (!ws || !evcon) {
        free(ws);
        connect_error(req, CONNECT_INTERNAL, "out of memory");
        return;
    }
    ws->w = fs_watch_new(evhttp_connection_get_base(evcon), msg, u, stream_emit, ws,
                         &code, err, sizeof(err));
    if (!ws->w) {
        free(ws);
        connect_error(req, code, "%s", err);
        return;
    }
    ws->s = connect_stream_open(req, KEEPALIVE_MSG, connect_request_keepalive_s(req),
                                stream_gone, ws);
    if (!ws->s) { /* answered */
        fs_watch_free(ws->w);
        free(ws);
        return;
    }
    timeout = connect_request_timeout_ms(req);
    if (timeout > 0)
        connect_stream_set_deadline(ws->s, timeout);
    /* The SDK waits for this before it returns the handle. */
    connect_stream_send(ws->s, "{\"start\":{}}", 12);
}
