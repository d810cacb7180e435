/* cube-bench: a load generator for Cube (or any E2B-compatible service) that speaks the
 * E2B REST API and envd's Connect protocol directly, so the numbers exclude SDK cost.
 *
 *   cube-bench --mode create-exec-delete -c 10 -n 200 [--warmup 10] [--json]
 *
 * Modes (each cycle is timed; see bench_cycle.c):
 *   create-delete, create-only (create timed; the sandbox is deleted afterwards, or kept
 *   and its id written to --keep FILE), create-exec-delete (create -> Process/Start
 *   `echo ready` -> delete, the number users feel; per-phase series too),
 *   exec (repeated Process/Start of --cmd in one sandbox per connection, as
 *   commands.run sends it, or with --no-shell the program itself; series to the start
 *   and end events), run-code (repeated code-interpreter /execute of --cmd, default
 *   `1+1`, in the default python context), resume (pause -> connect,
 *   then the first routed request), route (envd /health through the router and
 *   directly at the sandbox address), files (upload and download --file-mb MB through
 *   the router and directly), health / delete (every sandbox listed in --ids FILE).
 * The report gives min/avg/p50/p95/p99/max per series, throughput and errors, as text
 * or one JSON line; --samples FILE writes the headline's raw latencies.
 * Defaults come from E2B_API_URL, E2B_SANDBOX_URL, E2B_API_KEY; direct envd addresses
 * from the worker's control socket (--worker-socket, default $CUBE_RUN/worker.sock).
 * --sandbox ID [--token T] runs exec or run-code against an existing sandbox without
 * calling the API, e.g. from inside its network namespace with --sandbox-url
 * http://127.0.0.1:49983 (envd on loopback; routing headers are ignored there).
 * --quickack ACKs each response chunk at once (TCP_QUICKACK): a diagnostic that shows
 * how much of a stream's time is a server's small write held by Nagle's algorithm
 * until the client's delayed ACK.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

static int parse_url(const char *url, char *host, size_t hl, int *port)
{
    const char *p = url, *colon, *slash;
    size_t n;

    if (strncmp(p, "http://", 7) != 0)
        return -1;
    p += 7;
    slash = strchr(p, '/');
    colon = strchr(p, ':');
    if (colon && (!slash || colon < slash)) {
        char *end;
        long v;
        n = (size_t)(colon - p);
        errno = 0;
        v = strtol(colon + 1, &end, 10);
        if (errno || end == colon + 1 || (*end && *end != '/') || v < 1 || v > 65535)
            return -1;
        *port = (int)v;
    } else {
        n = slash ? (size_t)(slash - p) : strlen(p);
        *port = 80;
    }
    if (n == 0 || n >= hl)
        return -1;
    memcpy(host, p, n);
    host[n] = '\0';
    return 0;
}

/* A whole decimal in [min, max], or -1 with a message. */
static int parse_int(const char *opt, const char *s, long min, long max, int *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "cube-bench: %s wants a number in %ld..%ld, got '%s'\n", opt, min,
                max, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: cube-bench [--mode create-delete|create-only|create-exec-delete|exec|\n"
        "                          run-code|resume|route|files|health|delete]\n"
        "                  [-c concurrency] [-n count] [--warmup N] [--template T]\n"
        "                  [--timeout S] [--file-mb MB] [--keep FILE] [--ids FILE]\n"
        "                  [--samples FILE] [--worker-socket PATH] [--api URL]\n"
        "                  [--sandbox-url URL] [--key KEY] [--cmd CMD] [--no-shell]\n"
        "                  [--sandbox ID [--token T]] [--quickack] [--json]\n");
}

/* --ids FILE: one sandbox id per line. */
static int read_ids(struct bench *b)
{
    FILE *f = fopen(b->cfg.ids_file, "r");
    char line[128];
    int cap = 64;

    if (f == NULL) {
        perror(b->cfg.ids_file);
        return -1;
    }
    b->ids = malloc((size_t)cap * sizeof(char *));
    while (b->ids && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        if (strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(line) ||
            strlen(line) >= 64) {
            fprintf(stderr, "%s: not a sandbox id: '%s'\n", b->cfg.ids_file, line);
            fclose(f);
            return -1;
        }
        if (b->nids == cap) {
            char **n = realloc(b->ids, (size_t)(cap *= 2) * sizeof(char *));
            if (n == NULL)
                break;
            b->ids = n;
        }
        b->ids[b->nids++] = strdup(line);
    }
    fclose(f);
    if (b->nids == 0) {
        fprintf(stderr, "%s: no sandbox ids\n", b->cfg.ids_file);
        return -1;
    }
    return 0;
}

static int write_kept(struct bench *b)
{
    FILE *f = fopen(b->cfg.keep_file, "w");
    if (f == NULL) {
        perror(b->cfg.keep_file);
        return -1;
    }
    for (int i = 0; i < b->nids; i++)
        fprintf(f, "%s\n", b->ids[i]);
    return fclose(f) == 0 ? 0 : -1;
}

static int parse_args(struct bench *b, int argc, char **argv)
{
    static const struct option opts[] = {
        {"mode", 1, 0, 'm'},        {"warmup", 1, 0, 'w'},
        {"template", 1, 0, 't'},    {"api", 1, 0, 'a'},
        {"sandbox-url", 1, 0, 's'}, {"key", 1, 0, 'k'},
        {"json", 0, 0, 'j'},        {"cmd", 1, 0, 'x'},
        {"timeout", 1, 0, 'T'},     {"file-mb", 1, 0, 'F'},
        {"keep", 1, 0, 'K'},        {"ids", 1, 0, 'I'},
        {"samples", 1, 0, 'S'},     {"worker-socket", 1, 0, 'W'},
        {"sandbox", 1, 0, 'B'},     {"token", 1, 0, 'A'},
        {"no-shell", 0, 0, 'N'},    {"quickack", 0, 0, 'Q'},
        {"help", 0, 0, 'h'},        {0, 0, 0, 0}};
    struct config *cfg = &b->cfg;
    const char *api = getenv("E2B_API_URL"), *sb = getenv("E2B_SANDBOX_URL");
    int c, mb = 4, m;

    while ((c = getopt_long(argc, argv, "c:n:", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'c':
            bad = parse_int("-c", optarg, 1, 10000, &cfg->concurrency);
            break;
        case 'n':
            bad = parse_int("-n", optarg, 1, 10000000, &cfg->count);
            break;
        case 'w':
            bad = parse_int("--warmup", optarg, 0, 1000000, &cfg->warmup);
            break;
        case 'T':
            bad = parse_int("--timeout", optarg, 1, 86400, &cfg->timeout_s);
            break;
        case 'F':
            bad = parse_int("--file-mb", optarg, 1, 1000, &mb);
            break;
        case 't':
            cfg->template_id = optarg;
            break;
        case 'a':
            api = optarg;
            break;
        case 's':
            sb = optarg;
            break;
        case 'k':
            cfg->api_key = optarg;
            break;
        case 'j':
            cfg->json = 1;
            break;
        case 'x':
            cfg->command = optarg;
            break;
        case 'K':
            cfg->keep_file = optarg;
            break;
        case 'I':
            cfg->ids_file = optarg;
            break;
        case 'S':
            cfg->samples_file = optarg;
            break;
        case 'W':
            cfg->worker_socket = optarg;
            break;
        case 'B':
            cfg->sandbox_id = optarg;
            break;
        case 'A':
            cfg->token = optarg;
            break;
        case 'N':
            cfg->no_shell = 1;
            break;
        case 'Q':
            cfg->quickack = 1;
            break;
        case 'm':
            for (m = 0; m < MODE_COUNT && strcmp(optarg, bench_mode_names[m]) != 0; m++)
                ;
            if (m == MODE_COUNT) {
                fprintf(stderr, "cube-bench: unknown mode '%s'\n", optarg);
                bad = 1;
            }
            cfg->mode = (enum mode)m;
            break;
        default:
            bad = 1;
        }
        if (bad) {
            usage();
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cube-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    cfg->file_bytes = (size_t)mb << 20;
    if (!api || !cfg->api_key) {
        fprintf(stderr, "cube-bench: E2B_API_URL and E2B_API_KEY (or --api/--key) are "
                        "required\n");
        return -1;
    }
    if (cfg->template_id == NULL)
        cfg->template_id = cfg->mode == MODE_RUN_CODE ? "code-interpreter-v1" : "base";
    if (strlen(cfg->template_id) > 100 ||
        strspn(cfg->template_id, "abcdefghijklmnopqrstuvwxyz0123456789-_") !=
            strlen(cfg->template_id)) {
        fprintf(stderr, "cube-bench: bad template id\n");
        return -1;
    }
    if ((cfg->mode == MODE_HEALTH || cfg->mode == MODE_DELETE) !=
        (cfg->ids_file != NULL)) {
        fprintf(stderr, "cube-bench: --ids FILE goes with (and only with) the health and "
                        "delete modes\n");
        return -1;
    }
    if (cfg->sandbox_id &&
        ((cfg->mode != MODE_EXEC && cfg->mode != MODE_RUN_CODE) || !cfg->sandbox_id[0] ||
         strlen(cfg->sandbox_id) >= 64 ||
         strspn(cfg->sandbox_id, "abcdefghijklmnopqrstuvwxyz0123456789") !=
             strlen(cfg->sandbox_id))) {
        (void)fprintf(stderr,
                      "cube-bench: --sandbox takes a sandbox id and goes with the exec "
                      "and run-code modes\n");
        return -1;
    }
    if (cfg->token && (!cfg->sandbox_id || strlen(cfg->token) >= 128)) {
        (void)fprintf(stderr,
                      "cube-bench: --token (under 128 characters) goes with --sandbox\n");
        return -1;
    }
    if (cfg->quickack && cfg->mode != MODE_EXEC && cfg->mode != MODE_RUN_CODE) {
        (void)fprintf(stderr,
                      "cube-bench: --quickack goes with the exec and run-code modes\n");
        return -1;
    }
    if (cfg->no_shell && cfg->mode != MODE_EXEC) {
        (void)fprintf(stderr, "cube-bench: --no-shell goes with --mode exec\n");
        return -1;
    }
    if (cfg->keep_file && cfg->mode != MODE_CREATE_ONLY) {
        fprintf(stderr, "cube-bench: --keep goes with --mode create-only\n");
        return -1;
    }
    if (parse_url(api, cfg->api_host, sizeof(cfg->api_host), &cfg->api_port) ||
        parse_url(sb ? sb : api, cfg->sb_host, sizeof(cfg->sb_host), &cfg->sb_port)) {
        fprintf(stderr, "cube-bench: URLs must be http://host[:port]\n");
        return -1;
    }
    return 0;
}

static int one_sandbox_mode(enum mode m)
{
    return m == MODE_EXEC || m == MODE_RUN_CODE || m == MODE_RESUME || m == MODE_ROUTE ||
           m == MODE_FILES;
}

/* Per-slot sandboxes (and direct connections) for the one-sandbox modes. */
static int setup_slots(struct bench *b)
{
    char path[300];
    const char *run = getenv("CUBE_RUN");

    if (!b->cfg.worker_socket) {
        snprintf(path, sizeof(path), "%s/worker.sock", run ? run : "/run/cube");
        b->cfg.worker_socket = strdup(path);
    }
    for (int i = 0; i < b->cfg.concurrency; i++) {
        struct slot *s = &b->slots[i];
        if (slot_create_sandbox(s) != 0)
            return -1;
        if (b->cfg.mode != MODE_ROUTE && b->cfg.mode != MODE_FILES)
            continue;
        if (slot_lookup_addr(s) != 0)
            return -1;
        s->direct = evhttp_connection_base_new(b->base, NULL, s->addr, ENVD_PORT);
        evhttp_connection_set_timeout(s->direct, 60);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct bench b;
    const char *names[MAX_SERIES];
    int rc = 0;

    b.cfg.mode = MODE_CREATE_EXEC_DELETE;
    b.cfg.concurrency = 1;
    b.cfg.count = 20;
    b.cfg.timeout_s = 300;
    b.cfg.command = NULL;
    b.cfg.api_key = getenv("E2B_API_KEY");
    if (parse_args(&b, argc, argv) != 0)
        return 2;
    if (b.cfg.command == NULL)
        b.cfg.command = b.cfg.mode == MODE_RUN_CODE ? "1+1" : "echo ready";
    if (b.cfg.ids_file) {
        if (read_ids(&b) != 0)
            return 2;
        b.cfg.count = b.nids;
        b.cfg.warmup = 0;
    }
    b.total = b.cfg.warmup + b.cfg.count;
    if (b.cfg.keep_file) {
        b.ids = calloc((size_t)b.total, sizeof(char *));
        if (b.ids == NULL)
            return 1;
    }
    if (b.cfg.mode == MODE_FILES) {
        b.payload = malloc(b.cfg.file_bytes);
        if (b.payload == NULL)
            return 1;
        for (size_t i = 0; i < b.cfg.file_bytes; i++)
            b.payload[i] = (unsigned char)(i * 2654435761u >> 24); /* not compressible */
    }
    b.st.nseries = bench_series_names(b.cfg.mode, names);
    for (int i = 0; i < b.st.nseries; i++) {
        b.st.s[i].name = names[i];
        b.st.s[i].lat_ms = calloc((size_t)b.total, sizeof(double));
        if (b.st.s[i].lat_ms == NULL)
            return 1;
    }
    b.base = event_base_new();
    b.slots = calloc((size_t)b.cfg.concurrency, sizeof(struct slot));
    if (b.base == NULL || b.slots == NULL)
        return 1;
    for (int i = 0; i < b.cfg.concurrency; i++) {
        struct slot *s = &b.slots[i];
        s->b = &b;
        s->idx = i;
        s->stream = evbuffer_new();
        s->api = evhttp_connection_base_new(b.base, NULL, b.cfg.api_host,
                                            (unsigned short)b.cfg.api_port);
        s->sb = evhttp_connection_base_new(b.base, NULL, b.cfg.sb_host,
                                           (unsigned short)b.cfg.sb_port);
        evhttp_connection_set_timeout(s->api, 60);
        evhttp_connection_set_timeout(s->sb, 60);
    }
    if (one_sandbox_mode(b.cfg.mode) && setup_slots(&b) != 0) {
        rc = 1;
        goto cleanup;
    }
    for (int i = 0; i < b.cfg.concurrency && i < b.total; i++)
        slot_start(&b.slots[i]);
    event_base_dispatch(b.base);
    bench_report(&b);
    if (b.cfg.samples_file && bench_write_samples(&b) != 0)
        rc = 1;
    if (b.cfg.keep_file && write_kept(&b) != 0)
        rc = 1;
    if (b.st.errors)
        rc = 1;
cleanup:
    for (int i = 0; i < b.cfg.concurrency; i++) {
        struct slot *s = &b.slots[i];
        if (one_sandbox_mode(b.cfg.mode))
            slot_delete_sandbox(s);
        if (s->direct)
            evhttp_connection_free(s->direct);
        evhttp_connection_free(s->api);
        evhttp_connection_free(s->sb);
        evbuffer_free(s->stream);
    }
    for (int i = 0; i < b.nids; i++)
        free(b.ids[i]);
    free(b.ids);
    for (int i = 0; i < b.st.nseries; i++)
        free(b.st.s[i].lat_ms);
    free(b.slots);
    free(b.payload);
    event_base_free(b.base);
    return rc;
}
