/* cube-bench internals shared by the cycle engine (bench_cycle.c), the report
 * (bench_report.c) and main (cube-bench.c). */
#ifndef CUBE_BENCH_H
#define CUBE_BENCH_H

#include <event2/http.h>
#include <stddef.h>

enum mode {
    MODE_CREATE_DELETE,
    MODE_CREATE_ONLY,
    MODE_CREATE_EXEC_DELETE,
    MODE_EXEC,
    MODE_RESUME,
    MODE_ROUTE,
    MODE_FILES,
    MODE_HEALTH,
    MODE_DELETE,
    MODE_RUN_CODE,
    MODE_COUNT
};

#define MAX_SERIES 4
#define ENVD_PORT 49983
#define CI_PORT 49999

struct config {
    enum mode mode;
    int concurrency, count, warmup, json, timeout_s;
    int no_shell;      /* exec: --cmd is the program itself, not `bash -l -c CMD` */
    int quickack;      /* exec, run-code: ACK each response chunk at once */
    size_t file_bytes; /* files mode: bytes per upload/download */
    const char *template_id, *api_key, *command;
    const char *keep_file, *ids_file, *samples_file, *worker_socket;
    /* --sandbox ID [--token T]: use this sandbox (one per run, never deleted);
     * lets the client run where the API is out of reach (inside the sandbox). */
    const char *sandbox_id, *token;
    char api_host[256], sb_host[256];
    int api_port, sb_port;
};

/* One named latency series; series 0 is the mode's headline figure. */
struct series {
    const char *name;
    double *lat_ms;
    int n;
};

struct stats {
    struct series s[MAX_SERIES];
    int nseries, errors, started, done;
    double t_start, t_end;
};

struct slot;
struct bench {
    struct config cfg;
    struct event_base *base;
    struct stats st;
    int total; /* warmup + count */
    struct slot *slots;
    char **ids; /* health / delete: sandboxes from --ids; create-only: kept ones */
    int nids;
    unsigned char *payload; /* files mode upload body */
};

struct slot {
    struct bench *b;
    int idx, step, cycle_measured, measure, failed, series;
    int want1, want2; /* accepted HTTP statuses of the current step */
    double t0, ts;    /* cycle start, step start */
    char sandbox_id[64], token[128], addr[64];
    struct evhttp_connection *api, *sb, *direct;
    struct evbuffer *stream; /* Connect response bytes */
    int got_end;
    int got_result;   /* run-code: a main result line, and no error line */
    size_t got_bytes; /* download bytes */
};

extern const char *const bench_mode_names[MODE_COUNT];

double now_ms(void);
/* Series names per mode; returns how many. */
int bench_series_names(enum mode m, const char **names);
/* Start the next cycle on slot s (or leave it idle when all are started). */
void slot_start(struct slot *s);
/* Synchronously create (or delete) the per-slot sandbox of a one-sandbox mode. */
int slot_create_sandbox(struct slot *s);
void slot_delete_sandbox(struct slot *s);
/* Ask the worker (unix socket) for the sandbox's address: direct envd access. */
int slot_lookup_addr(struct slot *s);

void bench_report(struct bench *b);
int bench_write_samples(struct bench *b);

#endif
