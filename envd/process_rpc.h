/* The process.Process Connect service: request decoding and validation, user,
 * cwd and environment resolution, then the process table does the work. */
#ifndef ENVD_PROCESS_RPC_H
#define ENVD_PROCESS_RPC_H

#include <event2/http.h>

/* Answer a POST to /process.Process/<method> (auth already checked). */
void process_rpc_dispatch(struct evhttp_request *req, const char *method);

#endif
