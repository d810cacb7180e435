/* resume-bench: the worker's own time for pause and resume, measured on its control
 * socket with no gateway in the way (issue target: resume <= 5 ms worker time).
 *
 * Creates one sandbox on the worker (POST /sandboxes), then N cycles of
 * POST /sandboxes/{id}/pause and POST /sandboxes/{id}/resume, each timed from the
 * first byte sent to the last byte of the answer read, and checks that envd inside
 * answers after the last resume (the sandbox really runs again). Deletes it at the end.
 * One connection per request (a Unix-socket connect costs microseconds), so each
 * number is the worker's answer time.
 *
 * Prints a table, or one JSON line (--json) shaped like cube-bench's: headline series
 * "resume", plus "pause" under "series". */
#include <errno.h>
#include <stdint.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cube_id.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#define RESP_MAX 65536

static const char *sock_path = "/run/cube/worker.sock";

struct req {
    const char *method;
    const char *path;
    const char *body; /* NULL: none */
};

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Connected socket to the worker (addr NULL) or to addr:port over TCP; -1 on error. */
static int dial(const char *addr, int port)
{
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    struct sockaddr_in si = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(addr ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc;

    if (fd < 0)
        return -1;
    if (addr) {
        if (inet_pton(AF_INET, addr, &si.sin_addr) != 1) {
            close(fd);
            return -1;
        }
        rc = connect(fd, (struct sockaddr *)&si, sizeof(si));
    } else {
        (void)snprintf(su.sun_path, sizeof(su.sun_path), "%s", sock_path);
        rc = connect(fd, (struct sockaddr *)&su, sizeof(su));
    }
    if (rc != 0) {
        (void)fprintf(stderr, "resume-bench: connect %s: %s\n", addr ? addr : sock_path,
                      strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* One request on a fresh connection (fd, closed here): the status (or -1), the body
 * in resp. */
static int call_fd(int fd, const struct req *rq, char *resp, size_t cap)
{
    char head[512];
    size_t got = 0, blen = rq->body ? strlen(rq->body) : 0;
    ssize_t r;
    int n, status = -1;
    const char *p;

    resp[0] = '\0';
    if (fd < 0)
        return -1;
    n = snprintf(head, sizeof(head),
                 "%s %s HTTP/1.1\r\nHost: worker\r\nConnection: close\r\n"
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 rq->method, rq->path, blen);
    if (n < 0 || (size_t)n >= sizeof(head) || write(fd, head, (size_t)n) != n ||
        (blen && write(fd, rq->body, blen) != (ssize_t)blen)) {
        close(fd);
        return -1;
    }
    while (got < cap - 1 && (r = read(fd, resp + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    resp[got] = '\0';
    if (got > 12 && strncmp(resp, "HTTP/1.", 7) == 0)
        status = (int)strtol(resp + 9, NULL, 10);
    p = strstr(resp, "\r\n\r\n");
    p = p ? p + 4 : "";
    memmove(resp, p, strlen(p) + 1);
    return status;
}

static int call(const struct req *rq, char *resp, size_t cap)
{
    return call_fd(dial(NULL, 0), rq, resp, cap);
}

/* The sandbox address from a worker answer ("address":"a.b.c.d"), in out. */
static int answer_address(const char *answer, char *out, size_t cap)
{
    static const char pat[] = "\"address\":\"";
    const char *p = strstr(answer, pat), *e;

    if (p == NULL)
        return -1;
    p += sizeof(pat) - 1;
    e = strchr(p, '"');
    if (e == NULL || (size_t)(e - p) >= cap)
        return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 0;
}

/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): qsort's comparator */
static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

struct series {
    const char *name;
    double *v;
    int n;
};

static double pct(const struct series *s, double p)
{
    return s->n ? s->v[(int)(p / 100.0 * (s->n - 1) + 0.5)] : 0;
}

static double avg(const struct series *s)
{
    double sum = 0;

    for (int i = 0; i < s->n; i++)
        sum += s->v[i];
    return s->n ? sum / s->n : 0;
}

static void json_series(const struct series *s)
{
    (void)printf("\"min_ms\":%.3f,\"avg_ms\":%.3f,\"p50_ms\":%.3f,\"p95_ms\":%.3f,"
                 "\"p99_ms\":%.3f,\"max_ms\":%.3f",
                 s->n ? s->v[0] : 0, avg(s), pct(s, 50), pct(s, 95), pct(s, 99),
                 s->n ? s->v[s->n - 1] : 0);
}

struct run {
    int n, errors, json;
    double secs;
};

static void report(const struct series *resume, const struct series *pause,
                   const struct run *run)
{
    if (!run->json) {
        (void)printf("worker pause/resume, %d cycles, %d errors, %.2f s\n", run->n,
                     run->errors, run->secs);
        for (const struct series *s = resume; s; s = s == resume ? pause : NULL)
            (void)printf(
                "  %-8s min %.3f  avg %.3f  p50 %.3f  p95 %.3f  p99 %.3f  max %.3f ms\n",
                s->name, s->n ? s->v[0] : 0, avg(s), pct(s, 50), pct(s, 95), pct(s, 99),
                s->n ? s->v[s->n - 1] : 0);
        return;
    }
    (void)printf("{\"mode\":\"resume-worker\",\"concurrency\":1,\"count\":%d,\"ok\":%d,"
                 "\"errors\":%d,",
                 run->n, resume->n, run->errors);
    json_series(resume);
    (void)printf(",\"throughput_per_s\":%.2f,\"series\":{\"resume\":{\"n\":%d,",
                 run->secs > 0 ? resume->n / run->secs : 0, resume->n);
    json_series(resume);
    (void)printf("},\"pause\":{\"n\":%d,", pause->n);
    json_series(pause);
    (void)printf("}}}\n");
}

/* One timed POST /sandboxes/{id}/{verb}; adds to s or counts an error. */
static void timed(const char *id, const char *verb, struct series *s, int *errors,
                  char *resp)
{
    char path[96];
    const struct req rq = {"POST", path, NULL};
    double t;
    int st;

    (void)snprintf(path, sizeof(path), "/sandboxes/%s/%s", id, verb);
    t = now_ms();
    st = call(&rq, resp, RESP_MAX);
    if (st == 200) {
        s->v[s->n++] = now_ms() - t;
        return;
    }
    (void)fprintf(stderr, "resume-bench: %s: %d %.200s\n", verb, st, resp);
    (*errors)++;
}

/* envd inside answers GET /health with 204: the sandbox really runs again. */
static int envd_answers(const char *addr)
{
    const struct req rq = {"GET", "/health", NULL};
    char resp[512];

    return call_fd(dial(addr, 49983), &rq, resp, sizeof(resp)) == 204;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", 1, 0, 's'}, {"template", 1, 0, 't'},
        {"count", 1, 0, 'n'},  {"json", 0, 0, 'j'},
        {0, 0, 0, 0},
    };
    const char *tpl = "base";
    char id[CUBE_SANDBOX_ID_LEN + 1], body[256], path[96], addr[64];
    char *resp = malloc(RESP_MAX);
    int n = 100, json = 0, o, errors = 0, st;
    struct series pause = {"pause", NULL, 0}, resume = {"resume", NULL, 0};
    struct req rq = {"POST", "/sandboxes", body};
    double t_start, secs;

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
            (void)fprintf(stderr, "usage: resume-bench [--socket PATH] [--template T] "
                                  "[--count N] [--json]\n");
            return 2;
        }
    }
    if (n <= 0 || n > 100000) {
        (void)fprintf(stderr, "resume-bench: --count must be 1..100000\n");
        return 2;
    }
    pause.v = calloc((size_t)n, sizeof(double));
    resume.v = calloc((size_t)n, sizeof(double));
    if (!resp || !pause.v || !resume.v ||
        cube_id_generate(id, CUBE_SANDBOX_ID_LEN, 'i') < 0)
        return 1;
    (void)snprintf(
        body, sizeof(body),
        "{\"sandboxID\":\"%s\",\"templateID\":\"%s\",\"accessToken\":\"bench\"}", id,
        tpl);
    if ((st = call(&rq, resp, RESP_MAX)) != 201 ||
        answer_address(resp, addr, sizeof(addr)) != 0) {
        (void)fprintf(stderr, "resume-bench: create: %d %.200s\n", st, resp);
        return 1;
    }

    t_start = now_ms();
    for (int i = 0; i < n; i++) {
        timed(id, "pause", &pause, &errors, resp);
        timed(id, "resume", &resume, &errors, resp);
    }
    secs = (now_ms() - t_start) / 1e3;
    if (!envd_answers(addr)) {
        (void)fprintf(stderr,
                      "resume-bench: envd in %s does not answer after the last resume\n",
                      id);
        errors++;
    }
    (void)snprintf(path, sizeof(path), "/sandboxes/%s", id);
    rq = (struct req){"DELETE", path, NULL};
    if ((st = call(&rq, resp, RESP_MAX)) != 204)
        (void)fprintf(stderr, "resume-bench: delete %s: %d %.200s\n", id, st, resp);

    qsort(pause.v, (size_t)pause.n, sizeof(double), cmp);
    qsort(resume.v, (size_t)resume.n, sizeof(double), cmp);
    {
        const struct run run = {.n = n, .errors = errors, .json = json, .secs = secs};

        report(&resume, &pause, &run);
    }
    free(pause.v);
    free(resume.v);
    free(resp);
    return errors ? 1 : 0;
}
