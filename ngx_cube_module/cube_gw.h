/* Pure (nginx-free) helpers of the Cube gateway: route matching, id validation,
 * create-body parsing, router host parsing, HTTP/1.1 response parsing and the JSON
 * documents the API sends. Linked into ngx_cube_module.so and into the unit tests and
 * fuzzers; nothing here may depend on nginx types or block. */
#ifndef CUBE_GW_H
#define CUBE_GW_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Longest sandbox id accepted from a client (real ones are 21 chars). */
#define CUBE_GW_ID_MAX 64
/* Longest template reference accepted (id, alias, name:tag, snapshot id). */
#define CUBE_GW_TEMPLATE_MAX 128
#define CUBE_GW_DEFAULT_ENVD_VERSION "0.6.13"
#define CUBE_GW_MAX_TIMEOUT 86400

/* ---------------------------------------------------------------- routes */

enum cube_route {
    CUBE_ROUTE_NONE = 0,     /* unknown path: 404 */
    CUBE_ROUTE_HEALTH,       /* GET /health */
    CUBE_ROUTE_CREATE_V1,    /* POST /sandboxes */
    CUBE_ROUTE_CREATE_V2,    /* POST /v2/sandboxes */
    CUBE_ROUTE_LIST_V1,      /* GET /sandboxes */
    CUBE_ROUTE_LIST_V2,      /* GET /v2/sandboxes */
    CUBE_ROUTE_GET,          /* GET /sandboxes/{id} */
    CUBE_ROUTE_DELETE,       /* DELETE /sandboxes/{id} */
    CUBE_ROUTE_TIMEOUT,      /* POST /sandboxes/{id}/timeout */
    CUBE_ROUTE_CONNECT_V1,   /* POST /sandboxes/{id}/connect */
    CUBE_ROUTE_CONNECT_V2,   /* POST /v2/sandboxes/{id}/connect */
    CUBE_ROUTE_PAUSE,        /* POST /sandboxes/{id}/pause */
    CUBE_ROUTE_REFRESH,      /* POST /sandboxes/{id}/refreshes */
    CUBE_ROUTE_METRICS,      /* GET /sandboxes/{id}/metrics */
    CUBE_ROUTE_RESUME,       /* POST /sandboxes/{id}/resume (deprecated by E2B) */
    CUBE_ROUTE_NETWORK,      /* PUT /sandboxes/{id}/network */
    CUBE_ROUTE_NOT_IMPLEMENTED /* a known E2B path this version does not serve: 501 */
};

enum cube_method {
    CUBE_M_GET = 1,
    CUBE_M_HEAD,
    CUBE_M_POST,
    CUBE_M_PUT,
    CUBE_M_DELETE,
    CUBE_M_PATCH,
    CUBE_M_OTHER
};

typedef struct {
    enum cube_route route;
    int status;          /* 0 on a match, else 404 / 405 / 400 (bad id) */
    const char *allow;   /* for 405: the Allow header value */
    char id[CUBE_GW_ID_MAX + 1]; /* normalized sandbox id for GET/DELETE */
} cube_route_match_t;

/* Match method + path (no query string; path is not NUL-terminated). */
void cube_route_match(enum cube_method method, const char *path, size_t len,
                      cube_route_match_t *m);

/* Sandbox id from a client: "<id>" or "<id>-<clientId>"; the part before the first
 * '-' must be non-empty [a-z0-9]{1,64}. Writes it NUL-terminated into out (which holds
 * CUBE_GW_ID_MAX + 1 bytes). Returns 0, or -1 when invalid. */
int cube_sandbox_id_normalize(const char *in, size_t len, char *out);

/* ---------------------------------------------------------------- create body */

typedef struct {
    char template_ref[CUBE_GW_TEMPLATE_MAX + 1];
    long long timeout;      /* seconds */
    int timeout_set;        /* 1 when the body carried a timeout */
    json_t *metadata;       /* object of strings (owned reference), never NULL after parse */
    json_t *env_vars;       /* object of strings (owned reference), never NULL after parse */
    json_t *network;        /* object or NULL (owned reference) */
    int auto_pause;         /* 0/1 */
    int auto_resume;        /* 0/1 */
    int allow_internet;     /* -1 unset, 0, 1 */
    int secure;             /* -1 unset, 0, 1 */
} cube_create_req_t;

/* Parse a create body. v2 selects the defaults (timeout 300 vs 15). An empty body
 * (len 0) is accepted as "{}". Returns 0, or an HTTP status (400) with a message in
 * err. On success the caller must call cube_create_req_free. */
int cube_create_parse(const char *body, size_t len, int v2, cube_create_req_t *out,
                      char *err, size_t errlen);
void cube_create_req_free(cube_create_req_t *req);

/* Body {"timeout":N} of set-timeout / connect. required: absent timeout is an error
 * (set-timeout, v1 connect); else dflt is used. Empty body = "{}". Returns 0 with
 * *out set (1..86400), or 400 with err. */
int cube_timeout_body_parse(const char *body, size_t len, int required, long long dflt,
                            long long *out, char *err, size_t errlen);

/* Body {"duration":N} of POST /sandboxes/{id}/refreshes (empty = {}): *out is the
 * extension in seconds, at least CUBE_GW_REFRESH_MIN. 0, or 400 with err. */
#define CUBE_GW_REFRESH_MIN 15
#define CUBE_GW_REFRESH_MAX 3600
int cube_refresh_body_parse(const char *body, size_t len, long long *out, char *err,
                            size_t errlen);

/* The JSON body for the worker's POST /sandboxes. Returns malloc'd text or NULL.
 * "lifecycle" (auto-pause/resume, private traffic, timeout, end time) is kept by the
 * worker with the sandbox: if Redis loses the "created" event before cube-scheduler
 * recorded it, the rebuild still knows them (a private sandbox stays private). */
char *cube_worker_create_body(const char *sandbox_id, const char *template_id,
                              const char *token, long cpu, long mem_mb,
                              const cube_create_req_t *c, long long end_at_ms);

/* ---------------------------------------------------------------- JSON documents */

/* {"code":code,"message":msg}; malloc'd, NULL on OOM. */
char *cube_json_error(int code, const char *msg);
/* Router error {"sandboxId":id,"message":msg,"code":code}. */
char *cube_json_router_error(const char *sandbox_id, const char *msg, int code);

/* A sandbox record as stored in cube:sb:<id> (HGETALL), all strings may be NULL. */
typedef struct {
    const char *id, *template_id, *alias, *node, *addr, *state, *started_at, *end_at,
        *cpu, *mem_mb, *disk_mb, *metadata, *client_id, *envd_version, *auto_pause,
        *auto_resume, *allow_internet, *network, *traffic_token;
} cube_sb_record_t;

/* Fill rec from a flat field/value array (HGETALL order). Pointers alias kv. */
void cube_sb_record_from_pairs(const char *const *kv, size_t n, cube_sb_record_t *rec);

/* Create (201) response: the E2B Sandbox object. */
char *cube_json_sandbox(const char *sandbox_id, const char *template_id, const char *alias,
                        const char *client_id, const char *envd_version, const char *token);
/* The same with trafficAccessToken (NULL: null). */
char *cube_json_sandbox_ex(const char *sandbox_id, const char *template_id, const char *alias,
                           const char *client_id, const char *envd_version, const char *token,
                           const char *traffic_token);
/* 1 when a create's network object has allowPublicTraffic: false. */
int cube_network_private_traffic(const json_t *network);
/* ListedSandbox object (new reference). */
json_t *cube_json_listed(const cube_sb_record_t *rec);
/* SandboxDetail text (GET one); token is the envd access token. */
char *cube_json_detail(const cube_sb_record_t *rec, const char *token);

/* "x.y.z" with digits only: usable as envdVersion. */
int cube_semver_ok(const char *s);

/* Extract "message" (and "code") from a worker's error JSON. Writes a fallback
 * ("worker error <status>") when the body holds none. */
void cube_worker_error_message(const char *body, size_t len, int status, char *out,
                               size_t outlen);

/* ---------------------------------------------------------------- metrics */

/* Parse "start=<unix s>&end=<unix s>" (both optional; absent => unbounded). 0, or 400
 * with err set for a value that is not a non-negative integer or start > end. */
int cube_metrics_query_parse(const char *args, size_t len, long long *start, long long *end,
                             char *err, size_t errlen);
/* samples: JSON texts of SandboxMetric, newest first (as stored). Returns the JSON
 * array text (malloc'd) of those with start <= timestampUnix <= end, oldest first. */
char *cube_metrics_filter(const char *const *samples, size_t n, long long start,
                          long long end);

/* ---------------------------------------------------------------- list */

typedef struct {
    int want_running, want_paused; /* state filter */
    int desc;                      /* order */
    long limit;                    /* 1..100 */
    json_t *metadata;              /* object of required key=value pairs, or NULL */
    char next_token[96];           /* cursor ("<ms>_<id>"), empty when none */
    char template_ref[CUBE_GW_TEMPLATE_MAX + 1]; /* template id or alias, "" = any */
    long long started_after_ms;    /* inclusive lower bound on startedAt, 0 = none */
} cube_list_query_t;

/* Parse the raw (still percent-encoded) query string of GET /sandboxes, /v2/sandboxes.
 * Returns 0 or 400 with err. Caller frees with cube_list_query_free. */
int cube_list_query_parse(const char *args, size_t len, int v2, cube_list_query_t *q,
                          char *err, size_t errlen);
void cube_list_query_free(cube_list_query_t *q);
/* 1 when rec passes the state, template, startedAfter and metadata filters. */
int cube_list_match(const cube_list_query_t *q, const cube_sb_record_t *rec);

/* Cursor "<ms>_<id>" of the v2 list (X-Next-Token). Returns 0 or -1. id holds
 * CUBE_GW_ID_MAX + 1 bytes. */
int cube_list_cursor_parse(const char *tok, long long *ms, char *id);
/* Order of two list items: <0 when a comes first. desc = newest first, ties by id
 * ascending; asc is the exact reverse. */
int cube_list_cmp(long long ms_a, const char *id_a, long long ms_b, const char *id_b,
                  int desc);

/* Percent-decode (and '+' as space when plus_space) len bytes of in into out (len+1
 * bytes). Returns the decoded length, or -1 on a malformed escape. */
long cube_url_decode(const char *in, size_t len, char *out, int plus_space);

/* ---------------------------------------------------------------- router */

/* Parse a port number "1".."65535". Returns the port or -1. */
int cube_parse_port(const char *s, size_t len);

/* Host routing: host (may carry ":port") = "<port>-<id>.<domain>". Returns 0 and
 * fills port and id (normalized), or -1 when host does not have that form. */
int cube_host_route(const char *host, size_t hlen, const char *domain, size_t dlen,
                    int *port, char *id);

/* 1 when (port, path) is an envd control path the router must refuse from outside. */
int cube_envd_path_refused(int port, const char *path, size_t len);

/* ---------------------------------------------------------------- HTTP response */

typedef struct {
    int status;
    size_t header_len;        /* bytes up to and including the blank line */
    long long content_length; /* -1 when absent */
    int chunked;
    int conn_close;
    const char *body;         /* points into the input (or a decoded copy) */
    size_t body_len;
} cube_http_resp_t;

/* Parse a complete-or-partial HTTP/1.x response held in buf[0..len). eof says the
 * peer closed. Returns 1 when the response is complete (body/body_len set; for
 * chunked bodies the decoded body is written into scratch, which must hold len
 * bytes), 0 when more bytes are needed, -1 when malformed. Interim 1xx responses are
 * skipped. */
int cube_http_resp_parse(const char *buf, size_t len, int eof, char *scratch,
                         cube_http_resp_t *r);

#endif
