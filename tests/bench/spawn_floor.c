/* spawn-floor: what starting a program costs on this host, with nothing else in
 * the way, so that make bench can show how much of envd's Process/Start is the
 * kernel's and how much is envd's.
 *
 *   spawn-floor --how vfork|fork [-n 300] PROGRAM [ARG...]
 *
 * Times N rounds of (v)fork + execve + waitpid of PROGRAM, stdout and stderr to
 * /dev/null, and prints one JSON line: {"how":..., "count":..., "errors":...,
 * "p50_ms":..., ...}. vfork is how envd starts processes (proc_exec.c), fork
 * how it did before. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): qsort's comparator */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double pct(const double *v, int n, double p)
{
    return v[(int)(p * (n - 1) + 0.5)];
}

/* One round; the time in ms, or -1 if the program did not run or failed. */
static double one_round(int use_vfork, char **argv, int devnull)
{
    double t0 = now_ms();
    pid_t pid = use_vfork ? vfork() : fork();
    int st;

    if (pid == 0) {
        /* The children write where envd's would: not to a terminal. */
        if (dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid < 0)
        return -1;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return now_ms() - t0;
}

int main(int argc, char **argv)
{
    int n = 300, use_vfork = -1, ok = 0, errors = 0, i, opt, devnull;
    const char *how = NULL;
    double *v, sum = 0;

    static const struct option longopts[] = {{"how", 1, 0, 'H'}, {0, 0, 0, 0}};

    while ((opt = getopt_long(argc, argv, "+n:", longopts, NULL)) != -1) {
        if (opt == 'n')
            n = (int)strtol(optarg, NULL, 10);
        else if (opt == 'H')
            how = optarg;
        else
            goto usage;
    }
    if (how && strcmp(how, "vfork") == 0)
        use_vfork = 1;
    else if (how && strcmp(how, "fork") == 0)
        use_vfork = 0;
    if (use_vfork < 0 || n < 1 || optind >= argc)
        goto usage;
    v = calloc((size_t)n, sizeof(*v));
    devnull = open("/dev/null", O_WRONLY);
    if (!v || devnull < 0) {
        perror("spawn-floor");
        return 1;
    }
    for (i = 0; i < n; i++) {
        double ms = one_round(use_vfork, argv + optind, devnull);
        if (ms < 0) {
            errors++;
            continue;
        }
        v[ok++] = ms;
        sum += ms;
    }
    if (ok == 0) {
        printf("{\"how\":\"%s\",\"count\":%d,\"ok\":0,\"errors\":%d}\n", how, n, errors);
        return 1;
    }
    qsort(v, (size_t)ok, sizeof(*v), cmp_double);
    printf("{\"how\":\"%s\",\"program\":\"%s\",\"count\":%d,\"ok\":%d,\"errors\":%d,"
           "\"min_ms\":%.3f,\"avg_ms\":%.3f,\"p50_ms\":%.3f,\"p95_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
           how, argv[optind], n, ok, errors, v[0], sum / ok, pct(v, ok, 0.5),
           pct(v, ok, 0.95), pct(v, ok, 0.99), v[ok - 1]);
    free(v);
    return 0;
usage:
    fprintf(stderr, "usage: spawn-floor --how vfork|fork [-n N] PROGRAM [ARG...]\n");
    return 2;
}
