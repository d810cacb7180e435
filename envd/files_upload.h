/* POST /files: write uploaded files (protocol §4.5). */
#ifndef ENVD_FILES_UPLOAD_H
#define ENVD_FILES_UPLOAD_H

#include <event2/http.h>

/* Largest request body evhttp buffers (see files_upload.c for why uploads are
 * buffered): the listener's max body size. */
#define FILES_MAX_UPLOAD (1024ull << 20)

void files_upload(struct evhttp_request *req);

#endif
