/* filesystem.Filesystem/CreateWatcher, GetWatcherEvents, RemoveWatcher: the
 * polled form of WatchDir. */
#ifndef ENVD_FS_WATCHER_H
#define ENVD_FS_WATCHER_H

#include "envd_user.h"

#include <event2/http.h>
#include <jansson.h>

void fs_watcher_create(struct evhttp_request *req, json_t *msg,
                       const struct envd_user *u);
void fs_watcher_events(struct evhttp_request *req, json_t *msg,
                       const struct envd_user *u);
void fs_watcher_remove(struct evhttp_request *req, json_t *msg,
                       const struct envd_user *u);
/* Drop every watcher (shutdown). */
void fs_watchers_free_all(void);

#endif
