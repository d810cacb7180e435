/* filesystem.Filesystem/WatchDir: a server stream of file-system events under
 * a directory (inotify), optionally recursive and with entries. */
#ifndef ENVD_FS_WATCH_H
#define ENVD_FS_WATCH_H

#include "envd_user.h"

#include <event2/http.h>
#include <jansson.h>

/* Answer a WatchDir request (msg: {path, recursive, includeEntry,
 * allowNetworkMounts}). The stream lives until the client goes away or
 * Connect-Timeout-Ms passes. */
void fs_watch_dir(struct evhttp_request *req, json_t *msg, const struct envd_user *u);

#endif
