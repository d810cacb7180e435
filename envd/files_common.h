/* What GET and POST /files share: authorisation (token header or signed URL),
 * the acting user (`username` query, else the default user), path resolution,
 * and the file-system helpers both the REST files API and the filesystem RPC
 * service use (mkdir -p owned by the user, user.e2b.* metadata xattrs).
 *
 * Ownership model: envd runs as root and, like E2B's envd, performs file
 * operations as root, giving what it creates to the acting user (chown). It
 * does not emulate the user's permission checks: E2B does not either, and the
 * SDK relies on it (writeFiles to "/0/x.txt" must create /0). See
 * fs_rpc.c for the longer discussion. */
#ifndef ENVD_FILES_COMMON_H
#define ENVD_FILES_COMMON_H

#include "envd_user.h"

#include <event2/http.h>
#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#define ENVD_XATTR_PREFIX "user.e2b."

struct files_req {
    struct envd_user user;
    char *raw_path; /* the `path` query as sent (decoded), or NULL */
    char *path;     /* resolved absolute path, or NULL when no `path` query */
};

/* Authorise a /files request for op ("read"/"write") from its query string and
 * X-Access-Token header (NULL when absent), look up the user and resolve
 * `path`. Returns 0, or -1 with the HTTP status and message to answer. */
int files_req_resolve(const char *query, const char *token_header, const char *op,
                      struct files_req *fr, int *status, char *msg, size_t msglen);
/* The same for an evhttp request; on failure the error reply has been sent. */
int files_req_prepare(struct evhttp_request *req, const char *op, struct files_req *fr);
void files_req_free(struct files_req *fr);

/* Content-Type for a file name, by extension; application/octet-stream when
 * unknown. */
const char *files_content_type(const char *name);

/* mkdir -p of dir: every directory created gets mode 0755 and owner uid:gid
 * (existing ones are left alone). Returns 0, or -1 with errno set. */
int files_mkdir_p(const char *dir, uid_t uid, gid_t gid);
/* files_mkdir_p of the parent directory of path. */
int files_mkdir_parent(const char *path, uid_t uid, gid_t gid);
/* The same, calling created(dir, arg) for each directory made (top down), so
 * that a failed upload can take them away again. */
typedef void (*files_mkdir_cb)(const char *dir, void *arg);
int files_mkdir_p_track(const char *dir, uid_t uid, gid_t gid, files_mkdir_cb created,
                        void *arg);
int files_mkdir_parent_track(const char *path, uid_t uid, gid_t gid,
                             files_mkdir_cb created, void *arg);

/* Metadata xattrs of path (not following a final symlink) as a new JSON object
 * (empty when none or unsupported). NULL only when out of memory. */
json_t *files_metadata_get(const char *path);
/* Replace fd's user.e2b.* xattrs with meta (string values; may be NULL or
 * empty: then all are removed). Returns 0, or -1 with errno set. */
int files_metadata_replace(int fd, json_t *meta);

#endif
