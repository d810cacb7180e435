/* filesystem.Filesystem RPC handlers (protocol §5.4): Stat, ListDir, MakeDir,
 * Move, Remove, WatchDir. The polling watcher methods answer unimplemented. */
#ifndef ENVD_FS_RPC_H
#define ENVD_FS_RPC_H

#include <event2/http.h>
#include <jansson.h>

/* Handle POST /filesystem.Filesystem/<method> (token already checked). */
void fs_rpc_dispatch(struct evhttp_request *req, const char *method);

/* The EntryInfo of path (absolute, shown as given), lstat-based with E2B's
 * symlink rules. NULL with errno set when path cannot be lstat'ed. */
json_t *fs_entry_info(const char *path);

#endif
