/* Directory watches over inotify: the core (fs_watch_new), the WatchDir
 * server stream on top of it, and the polled watchers in fs_watcher.c. */
#ifndef ENVD_FS_WATCH_H
#define ENVD_FS_WATCH_H

#include "connect_rpc.h"
#include "envd_user.h"

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

struct fs_watch;

/* One FilesystemEvent ({name, type[, entry]}; reference stolen). Return
 * nonzero after freeing the watch from inside the callback: the watch then
 * stops delivering at once. */
typedef int (*fs_watch_emit_cb)(json_t *event, void *arg);

/* Start watching msg's {path, recursive, includeEntry, allowNetworkMounts}
 * for user u on base. NULL with *code and err set on failure. */
struct fs_watch *fs_watch_new(struct event_base *base, json_t *msg,
                              const struct envd_user *u, fs_watch_emit_cb emit, void *arg,
                              enum connect_code *code, char *err, size_t errlen);
void fs_watch_free(struct fs_watch *w);

/* Answer a WatchDir request. The stream lives until the client goes away or
 * Connect-Timeout-Ms passes. */
void fs_watch_dir(struct evhttp_request *req, json_t *msg, const struct envd_user *u);

#endif
