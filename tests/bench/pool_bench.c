/* pool-bench: the worker-level numbers of warm pools, measured on the worker's control
 * socket with no gateway in the way.
 *
 *   warm:   N sequential POST /sandboxes while the pool holds them, each timed from
 *           the first byte sent to the 201 read.
 *   refill: after draining the pool, how fast it is full again (sandboxes/s), read
 *           from GET /pool.
 *   cold:   against a worker started with --pool-size 0, N creates that each wait for
 *           a full preparation.
 *
 * Blocking, one connection per request: it measures the worker, not the client. Prints
 * a table, or one JSON object with --json. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cube_id.h"

#define RESP_MAX (1 << 20)

static const char *sock_path = "/run/cube/worker.sock";

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One request on a fresh connection. Returns the status (or -1) and the body in *body
 * (caller frees). */
static int call(const char *method, const char *path, const char *body, char **out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char head[512];
    char *resp = malloc(RESP_MAX);
    size_t got = 0;
    ssize_t r;
    int fd, status = -1, n;
    const char *p;

    *out = NULL;
    if (!resp)
        return -1;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "pool-bench: %s: %s\n", sock_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(resp);
        return -1;
    }
    n = snprintf(head, sizeof(head),
                 "%s %s HTTP/1.1\r\nHost: worker\r\nConnection: close\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 method, path, body ? strlen(body) : 0);
    if (write(fd, head, (size_t)n) != n ||
        (body && write(fd, body, strlen(body)) != (ssize_t)strlen(body))) {
        close(fd);
        free(resp);
        return -1;
    }
    while (got < RESP_MAX - 1 && (r = read(fd, resp + got, RESP_MAX - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    resp[got] = '\0';
    if (got > 12 && strncmp(resp, "HTTP/1.", 7) == 0)
        status = (int)strtol(resp + 9, NULL, 10);
    p = strstr(resp, "\r\n\r\n");
    *out = strdup(p ? p + 4 : "");
    free(resp);
    return status;
}

static json_t *get_json(const char *path)
{
    char *body;
    json_t *j = NULL;

    if (call("GET", path, NULL, &body) == 200)
        j = json_loads(body, 0, NULL);
    free(body);
    return j;
}

/* Sum of a field over the pools of GET /pool. */
static int pool_sum(const char *field)
{
    json_t *j = get_json("/pool"), *p;
    size_t i;
    int n = 0;

    if (!j)
        return -1;
    json_array_foreach(json_object_get(j, "pools"), i, p) n +=
        (int)json_integer_value(json_object_get(p, field));
    json_decref(j);
    return n;
}

static int wait_full(int size, double timeout_ms)
{
    double t0 = now_ms();

    while (now_ms() - t0 < timeout_ms) {
        if (pool_sum("ready") >= size && pool_sum("preparing") == 0)
            return 0;
        usleep(2000);
    }
    return -1;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double pct(const double *v, int n, double p)
{
    int i = (int)(p * (n - 1) + 0.5);

    return n ? v[i] : 0;
}

/* n creates of template, timed; ids kept for deletion. Returns errors. */
static int creates(const char *tpl, int n, double *lat,
                   char (*ids)[CUBE_SANDBOX_ID_LEN + 1])
{
    char body[256], *resp;
    int i, errors = 0;
    double t;

    for (i = 0; i < n; i++) {
        if (cube_id_generate(ids[i], CUBE_SANDBOX_ID_LEN, 'i') < 0)
            return n;
        snprintf(body, sizeof(body),
                 "{\"sandboxID\":\"%s\",\"templateID\":\"%s\",\"accessToken\":\"bench\"}",
                 ids[i], tpl);
        t = now_ms();
        if (call("POST", "/sandboxes", body, &resp) != 201) {
            fprintf(stderr, "pool-bench: create: %.200s\n", resp ? resp : "");
            errors++;
            ids[i][0] = '\0';
        }
        lat[i] = now_ms() - t;
        free(resp);
    }
    return errors;
}

static void deletes(char (*ids)[CUBE_SANDBOX_ID_LEN + 1], int n)
{
    char path[64], *resp;
    int i;

    for (i = 0; i < n; i++) {
        if (!ids[i][0])
            continue;
        snprintf(path, sizeof(path), "/sandboxes/%s", ids[i]);
        call("DELETE", path, NULL, &resp);
        free(resp);
    }
}

/* Host-wide busy CPU (ms, all CPUs, from /proc/stat) and page faults so far (from
 * /proc/vmstat): read around the refill, they say what one prepared sandbox costs,
 * whoever pays (spawners, the sandbox's own processes, kernel threads). */
static void host_counters(double *busy_ms, double *faults)
{
    unsigned long long v[8] = {0};
    char line[256], *p = line + 4;
    FILE *f = fopen("/proc/stat", "r");
    int i;

    *busy_ms = *faults = 0;
    if (f) {
        /* "cpu  user nice system idle iowait irq softirq steal ..." */
        if (fgets(line, sizeof(line), f) && strncmp(line, "cpu ", 4) == 0) {
            for (i = 0; i < 8; i++)
                v[i] = strtoull(p, &p, 10);
            *busy_ms = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * 1000.0 /
                       (double)sysconf(_SC_CLK_TCK);
        }
        (void)fclose(f);
    }
    f = fopen("/proc/vmstat", "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "pgfault ", 8) == 0)
            *faults = strtod(line + 8, NULL);
    (void)fclose(f);
}

static json_t *summary(double *lat, int n, int errors)
{
    qsort(lat, (size_t)n, sizeof(*lat), cmp);
    return json_pack("{s:i, s:i, s:f, s:f, s:f, s:f, s:f}", "n", n, "errors", errors,
                     "min_ms", n ? lat[0] : 0.0, "p50_ms", pct(lat, n, 0.50), "p95_ms",
                     pct(lat, n, 0.95), "p99_ms", pct(lat, n, 0.99), "max_ms",
                     n ? lat[n - 1] : 0.0);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", 1, 0, 's'}, {"template", 1, 0, 't'},
        {"count", 1, 0, 'n'},  {"json", 0, 0, 'j'},
        {0, 0, 0, 0},
    };
    const char *tpl = "base";
    int n = 0, json = 0, o, size, errors, drained;
    char(*ids)[CUBE_SANDBOX_ID_LEN + 1];
    double *lat, t0, refill_s;
    double busy0, busy1, faults0, faults1, cpu_ms = 0, faults = 0;
    json_t *out, *warm_j, *cold_j;

    while ((o = getopt_long(argc, argv, "s:t:n:j", opts, NULL)) != -1) {
        switch (o) {
        case 's':
            sock_path = optarg;
            break;
        case 't':
            tpl = optarg;
            break;
        case 'n':
            n = (int)strtol(optarg, NULL, 10);
            break;
        case 'j':
            json = 1;
            break;
        default:
            fprintf(stderr,
                    "usage: pool-bench [--socket PATH] [--template T] [--count N] "
                    "[--json]\n");
            return 2;
        }
    }
    size = pool_sum("size");
    if (size < 0 || (size > 0 && wait_full(size, 60000) < 0)) {
        fprintf(stderr, "pool-bench: the worker's pools are not full (size %d)\n", size);
        return 1;
    }
    if (n <= 0 || (size > 0 && n > size))
        n = size > 0 ? size : 20; /* warm: never more than the pool holds */
    ids = calloc((size_t)n, sizeof(*ids));
    lat = calloc((size_t)n, sizeof(*lat));
    if (!ids || !lat)
        return 1;
    if (size == 0) {
        /* A worker started with --pool-size 0: every create prepares a sandbox. */
        errors = creates(tpl, n, lat, ids);
        cold_j = summary(lat, n, errors);
        deletes(ids, n);
        warm_j = json_null();
        drained = 0;
        refill_s = 0;
    } else {
        /* Warm: the pool holds n; creates wait for nothing but the claim. */
        errors = creates(tpl, n, lat, ids);
        warm_j = summary(lat, n, errors);
        deletes(ids, n);
        cold_j = json_null();
        if (wait_full(size, 120000) < 0)
            fprintf(stderr, "pool-bench: pool did not refill after the warm run\n");
        /* Refill: drain the pool, then time until it is full again. */
        errors = creates(tpl, n, lat, ids);
        drained = n - errors;
        host_counters(&busy0, &faults0);
        t0 = now_ms();
        refill_s = wait_full(size, 300000) == 0 ? (now_ms() - t0) / 1e3 : -1;
        host_counters(&busy1, &faults1);
        if (drained > 0 && refill_s > 0) {
            cpu_ms = (busy1 - busy0) / drained;
            faults = (faults1 - faults0) / drained;
        }
        deletes(ids, n);
        wait_full(size, 120000);
    }
    out = json_pack("{s:i, s:o, s:o, s:i, s:f, s:f, s:f, s:f}", "pool_size", size, "warm",
                    warm_j, "cold", cold_j, "refilled", drained, "refill_s", refill_s,
                    "refill_per_s", refill_s > 0 ? drained / refill_s : 0.0,
                    "refill_cpu_ms_per_sandbox", cpu_ms, "refill_faults_per_sandbox",
                    faults);
    if (json) {
        char *s = json_dumps(out, JSON_COMPACT);
        puts(s);
        free(s);
    } else {
        json_t *sm = size > 0 ? warm_j : cold_j;

        printf("pool size %d\n", size);
        printf("%s create  n=%-4lld p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n",
               size > 0 ? "warm" : "cold", json_integer_value(json_object_get(sm, "n")),
               json_real_value(json_object_get(sm, "p50_ms")),
               json_real_value(json_object_get(sm, "p95_ms")),
               json_real_value(json_object_get(sm, "p99_ms")),
               json_real_value(json_object_get(sm, "max_ms")));
        if (size > 0)
            printf(
                "refill       %d sandboxes in %.2f s = %.1f sandboxes/s, %.1f ms of CPU "
                "and %.0f page faults each (host-wide)\n",
                drained, refill_s, refill_s > 0 ? drained / refill_s : 0.0, cpu_ms,
                faults);
    }
    json_decref(out);
    free(ids);
    free(lat);
    return 0;
}
