/* POST /files (protocol §4.5): uploads streamed to disk as their body
 * arrives. http_filter.c frames the request and drives these calls: the head
 * is checked (token or signature, user, path, encoding, type, metadata) before
 * any body byte is looked at, the body is fed in pieces (already de-chunked),
 * and the files are renamed into place only once the whole body was good. */
#ifndef ENVD_FILES_UPLOAD_H
#define ENVD_FILES_UPLOAD_H

#include "http_filter.h"

#include <event2/http.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct upload;

/* Name prefix of the temporary files uploads write (beside their targets);
 * WatchDir does not report them. */
#define FILES_UPLOAD_TMP_PREFIX ".cube-upload-"

/* Answers (struct sink_result): 200 with the entry array, or {"code","message"}
 * with an error. */

/* Check a head. Returns the upload, or NULL with the error answer in *res. */
struct upload *upload_start(const struct http_head *h, struct sink_result *res);
/* The next n body bytes. Returns 0, or -1 with the error answer in *res (the
 * upload is then void: free it). */
int upload_body(struct upload *u, const uint8_t *p, size_t n, struct sink_result *res);
/* The body ended: put the files in place. *res is the answer either way. */
void upload_finish(struct upload *u, struct sink_result *res);
/* Release an upload; one that did not finish leaves nothing behind (its
 * temporary files and the directories it made are removed). */
void upload_free(struct upload *u);

/* The above, for http_filter.c. */
extern const struct body_sink files_upload_sink;

/* The evhttp handler of POST /files: answers with what the filter's upload
 * came to. */
void files_upload(struct evhttp_request *req);

#endif
