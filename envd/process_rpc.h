/* The process.Process Connect service: request decoding and validation, user,
 * cwd and environment resolution, then the process table does the work. */
#ifndef ENVD_PROCESS_RPC_H
#define ENVD_PROCESS_RPC_H

#include "connect_rpc.h"
#include "process.h"

#include <event2/http.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Answer a POST to /process.Process/<method> (auth already checked). */
void process_rpc_dispatch(struct evhttp_request *req, const char *method);

/* msg's "process" selector ({"pid": N} or {"tag": "..."}): the process (running,
 * or finished too with include_finished), or NULL with the code and message. */
struct proc *process_rpc_select(json_t *msg, int include_finished,
                                enum connect_code *code, char *err, size_t errlen);
/* A ProcessInput ({"stdin": base64} or {"pty": base64}): the bytes in *data (free
 * them) and *len, *pty set. 0, or -1 with the code and message. */
int process_rpc_input(json_t *input, int *pty, uint8_t **data, size_t *len,
                      enum connect_code *code, char *err, size_t errlen);

#endif
