/* host-floor: what the kernel primitives a sandbox is made of cost on this host, so
 * that make bench can set the pool's refill rate and cold creates next to them.
 *
 *   host-floor [-n N]
 *
 * Prints one JSON line, each value the median over N rounds (µs): a system call
 * (getppid), a first-touch page fault on anonymous memory, the same page populated by
 * the kernel in one call (MAP_POPULATE, no fault), a process round trip over two pipes
 * (two context switches), fork + exit + wait of this small process, and the same with
 * the new user, pid, mount, network, UTS, IPC and cgroup namespaces a sandbox gets.
 * On a paravirtualised guest the faults and switches, which trap to the hypervisor,
 * are tens of times dearer than on bare metal; this shows by how much. Measures,
 * asserts nothing; the namespace round needs root. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGES 2000 /* per fault round */

static double now_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): qsort's comparator */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double syscall_us(void)
{
    double t = now_us();
    int i;

    for (i = 0; i < 1000; i++)
        (void)getppid();
    return (now_us() - t) / 1000;
}

/* Per page: touched one by one (a fault each), or populated at mmap time. */
static double fault_us(int populate)
{
    size_t len = (size_t)PAGES * 4096;
    double t = now_us(), d;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0), -1, 0);
    size_t i;

    if (p == MAP_FAILED)
        return -1;
    if (!populate)
        for (i = 0; i < len; i += 4096)
            p[i] = 1;
    d = (now_us() - t) / PAGES;
    munmap(p, len);
    return d;
}

static double pingpong_us(void)
{
    int a[2], b[2], i;
    char c = 0;
    double t;
    pid_t pid;

    if (pipe(a) < 0)
        return -1;
    if (pipe(b) < 0) {
        close(a[0]);
        close(a[1]);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        for (i = 0; i < 200; i++)
            if (read(a[0], &c, 1) != 1 || write(b[1], &c, 1) != 1)
                _exit(1);
        _exit(0);
    }
    t = now_us();
    for (i = 0; pid > 0 && i < 200; i++)
        if (write(a[1], &c, 1) != 1 || read(b[0], &c, 1) != 1)
            break;
    t = (now_us() - t) / 200;
    if (pid > 0)
        waitpid(pid, NULL, 0);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    return pid > 0 ? t : -1;
}

/* fork (+ unshare of flags in the child) + exit + wait. */
static double fork_us(int flags)
{
    double t = now_us();
    pid_t pid = fork();

    if (pid == 0)
        _exit(flags && unshare(flags) < 0 ? 1 : 0);
    if (pid < 0)
        return -1;
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    return now_us() - t;
}

int main(int argc, char **argv)
{
    static const int ns = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET |
                          CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP;
    double *v[6];
    int n = 50, i, k, ns_ok = 1;

    if (argc == 3 && strcmp(argv[1], "-n") == 0)
        n = (int)strtol(argv[2], NULL, 10);
    if (n < 1 || n > 100000 || argc == 2 || argc > 3) {
        (void)fprintf(stderr, "usage: host-floor [-n N]\n");
        return 2;
    }
    for (k = 0; k < 6; k++) {
        v[k] = calloc((size_t)n, sizeof(double));
        if (!v[k])
            return 1;
    }
    for (i = 0; i < n; i++) {
        v[0][i] = syscall_us();
        v[1][i] = fault_us(0);
        v[2][i] = fault_us(1);
        v[3][i] = pingpong_us();
        v[4][i] = fork_us(0);
        v[5][i] = fork_us(ns);
        if (v[5][i] < 0)
            ns_ok = 0;
    }
    printf("{\"count\":%d,\"syscall_us\":%.3f,\"page_fault_us\":%.3f,"
           "\"populate_us_per_page\":%.3f,\"pipe_round_trip_us\":%.2f,"
           "\"fork_exit_us\":%.1f,\"fork_namespaces_exit_us\":%.1f}\n",
           n, median(v[0], n), median(v[1], n), median(v[2], n), median(v[3], n),
           median(v[4], n), ns_ok ? median(v[5], n) : -1.0);
    for (k = 0; k < 6; k++)
        free(v[k]);
    return 0;
}
