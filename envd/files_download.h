/* GET /files: stream a file to the client (protocol §4.4). */
#ifndef ENVD_FILES_DOWNLOAD_H
#define ENVD_FILES_DOWNLOAD_H

#include <event2/http.h>

void files_download(struct evhttp_request *req);

#endif
