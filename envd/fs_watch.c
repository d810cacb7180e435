/* WatchDir over inotify.
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
 *
 * Memory: events are written to the stream as they come. A client that stops
 * reading while the directory keeps changing would make the connection's
 * output grow without bound, so past WATCH_MAX_BACKLOG the watch ends with
 * resource_exhausted instead. */
#include "fs_watch.h"

#include "connect_rpc.h"
#include "cube_log.h"
#include "envd_env.h"
#include "envd_path.h"
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
    (IN_CREATE | IN_MOVED_TO | IN_MODIFY | IN_DELETE | IN_DELETE_SELF | IN_MOVED_FROM | \
     IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR)
#define WATCH_MAX_BACKLOG (8u << 20)
#define WATCH_MAX_DIRS 65536
#define KEEPALIVE_MSG "{\"keepalive\":{}}"

struct wdir {
    int wd;
    char *rel; /* "" for the root */
};

struct watch {
    struct connect_stream *s;
    struct event *ev;
    int fd;
    char *root;
    int recursive, include_entry;
    struct wdir *dirs;
    size_t ndirs, cap;
};

static void watch_free(struct watch *w)
{
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

/* The stream went away (client closed, deadline): drop everything. */
static void watch_gone(struct connect_stream *s, void *arg)
{
    struct watch *w = arg;

    (void)s;
    w->s = NULL;
    watch_free(w);
}

static struct wdir *find_wd(struct watch *w, int wd)
{
    for (size_t i = 0; i < w->ndirs; i++)
        if (w->dirs[i].wd == wd)
            return &w->dirs[i];
    return NULL;
}

/* Watch the directory root/rel and, when recursive, its subdirectories.
 * Failures below the root are skipped (permissions, races): the root's own
 * failure is reported by the caller. */
static int add_tree(struct watch *w, const char *rel)
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
        if ((size_t)snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name) >=
            sizeof(sub))
            continue;
        if ((size_t)snprintf(full, sizeof(full), "%s/%s", w->root, sub) >= sizeof(full))
            continue;
        if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode))
            add_tree(w, sub);
    }
    closedir(dir);
    return 0;
}

static void send_event(struct watch *w, const char *name, const char *type,
                       const char *full, int with_entry)
{
    json_t *ev = json_pack("{s:o,s:s}", "name", json_string(name), "type", type);
    json_t *msg;
    char *text;

    if (!ev)
        return; /* a name that is not UTF-8: nothing sane to send */
    if (with_entry && w->include_entry) {
        json_t *e = fs_entry_info(full);
        if (e)
            json_object_set_new(ev, "entry", e);
    }
    msg = json_pack("{s:o}", "filesystem", ev);
    text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (text)
        connect_stream_send(w->s, text, strlen(text));
    free(text);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
    struct watch *w = arg;
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
            (size_t)snprintf(full, sizeof(full), "%s%s%s", w->root, *rel ? "/" : "", rel) >=
                sizeof(full))
            continue;

        if (ie->mask & (IN_CREATE | IN_MOVED_TO)) {
            send_event(w, rel, "EVENT_TYPE_CREATE", full, 1);
            if (w->recursive && (ie->mask & IN_ISDIR))
                add_tree(w, rel);
        }
        if (ie->mask & IN_MODIFY)
            send_event(w, rel, "EVENT_TYPE_WRITE", full, 1);
        if (ie->mask & (IN_DELETE | IN_DELETE_SELF))
            send_event(w, rel, "EVENT_TYPE_REMOVE", full, 0);
        if (ie->mask & (IN_MOVED_FROM | IN_MOVE_SELF))
            send_event(w, rel, "EVENT_TYPE_RENAME", full, 0);
        if (ie->mask & IN_ATTRIB)
            send_event(w, rel, "EVENT_TYPE_CHMOD", full, 1);
    }
    if (w->s && connect_stream_backlog(w->s) > WATCH_MAX_BACKLOG) {
        struct connect_stream *s = w->s;
        w->s = NULL;
        connect_stream_end(s, CONNECT_RESOURCE_EXHAUSTED,
                           "watch client is not reading its events");
        watch_free(w);
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

void fs_watch_dir(struct evhttp_request *req, json_t *msg, const struct envd_user *u)
{
    json_t *pv = json_object_get(msg, "path");
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct watch *w;
    struct stat st;
    char err[256];
    long timeout;

    if (pv && !json_is_string(pv) && !json_is_null(pv)) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "path must be a string");
        return;
    }
    w = calloc(1, sizeof(*w));
    if (!w || !evcon) {
        free(w);
        connect_error(req, CONNECT_INTERNAL, "out of memory");
        return;
    }
    w->fd = -1;
    w->recursive = json_is_true(json_object_get(msg, "recursive"));
    w->include_entry = json_is_true(json_object_get(msg, "includeEntry"));
    w->root = envd_path_resolve(json_string_value(pv), u->home, envd_env_default_workdir(),
                                err, sizeof(err));
    if (!w->root) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "%s", err);
        goto fail;
    }
    if (stat(w->root, &st) != 0) {
        connect_error(req, errno == ENOENT || errno == ENOTDIR ? CONNECT_NOT_FOUND
                                                               : CONNECT_INTERNAL,
                      "path '%s' does not exist: %s", w->root, strerror(errno));
        goto fail;
    }
    if (!S_ISDIR(st.st_mode)) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "path '%s' is not a directory",
                      w->root);
        goto fail;
    }
    if (!json_is_true(json_object_get(msg, "allowNetworkMounts")) && is_network_fs(w->root)) {
        connect_error(req, CONNECT_INVALID_ARGUMENT,
                      "path '%s' is on a network mount: set allowNetworkMounts to watch it",
                      w->root);
        goto fail;
    }
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0 || add_tree(w, "") != 0) {
        connect_error(req, errno == ENOSPC ? CONNECT_RESOURCE_EXHAUSTED : CONNECT_INTERNAL,
                      "cannot watch '%s': %s", w->root, strerror(errno));
        goto fail;
    }
    w->ev = event_new(evhttp_connection_get_base(evcon), w->fd, EV_READ | EV_PERSIST,
                      on_inotify, w);
    if (!w->ev || event_add(w->ev, NULL) != 0) {
        connect_error(req, CONNECT_INTERNAL, "out of memory");
        goto fail;
    }
    w->s = connect_stream_open(req, KEEPALIVE_MSG, connect_request_keepalive_s(req),
                               watch_gone, w);
    if (!w->s)
        goto fail; /* answered */
    timeout = connect_request_timeout_ms(req);
    if (timeout > 0)
        connect_stream_set_deadline(w->s, timeout);
    /* The SDK waits for this before it returns the handle. */
    connect_stream_send(w->s, "{\"start\":{}}", 12);
    return;
fail:
    watch_free(w);
}
