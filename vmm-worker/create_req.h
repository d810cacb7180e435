/* POST /sandboxes request body: parsing and validation (pure, unit-tested), and the
 * body of the envd /init call built from it. */
#ifndef CUBE_WORKER_CREATE_REQ_H
#define CUBE_WORKER_CREATE_REQ_H

#include <jansson.h>

#include "cube_id.h"
#include "net_policy.h"
#include "state.h"

#define REQ_CPU_MAX 64
#define REQ_MEM_MIN_MB 64
#define REQ_MEM_MAX_MB (256 * 1024)

struct create_req {
    char sandbox_id[CUBE_SANDBOX_ID_LEN + 1];
    char template_ref[65];
    json_t *env_vars;   /* object of string values; never NULL after a successful parse */
    char *access_token; /* may be NULL */
    int cpu;            /* 0: template default */
    int mem_mb;         /* 0: template default */
    char default_user[33];
    char default_workdir[256];
    struct net_policy net;    /* allow_internet_access + network.allowOut/denyOut */
    struct sb_lifecycle life; /* kept with the sandbox, for the gateway (state.h) */
};

/* 0 on success; -1 with a message in err (the caller answers 400). */
int create_req_parse(const char *body, size_t len, struct create_req *req, char *err,
                     int errlen);
void create_req_free(struct create_req *req);

/* JSON for POST /init (docs/internals.md); caller frees. */
char *create_req_init_body(const struct create_req *req, const char *template_id);

#endif
