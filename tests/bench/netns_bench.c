/* netns-bench: cost of wiring a sandbox's network (vmm-worker/netns.c) on this host.
 *
 * Makes N throw-away network namespaces (children that unshare(CLONE_NEWNET) and wait),
 * then times netns_setup() and netns_teardown() for each, on slots [first, first+N).
 * With --old it first does the same with the previous implementation (two `ip -batch`
 * spawns per setup, a named netns under /run/netns, `ip link del` on teardown) so the
 * two print side by side. Measures, asserts nothing. Needs root.
 *
 * Usage: netns-bench [-n N] [-s FIRST_SLOT] [--old] [--dead] */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cube_log.h"
#include "netns.h"
#include "slots.h"

extern char **environ;

struct bench {
    int n, first;
    int dead; /* tear down after the namespaces' processes exited (the usual case) */
    pid_t *kids;
    double *t_setup, *t_down; /* µs per operation */
};

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* N children, each alone in a fresh netns, alive until `hold` is closed (or we die). */
static int spawn_kids(struct bench *b, int *hold_w)
{
    int hold[2], ready[2], i;
    char c;

    if (pipe2(hold, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0)
        return -1;
    for (i = 0; i < b->n; i++) {
        pid_t pid = fork();

        if (pid < 0)
            return -1;
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            close(hold[1]);
            close(ready[0]);
            c = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
            if (write(ready[1], &c, 1) != 1)
                _exit(1);
            while (read(hold[0], &c, 1) < 0 && errno == EINTR)
                ;
            _exit(0);
        }
        b->kids[i] = pid;
        if (read(ready[0], &c, 1) != 1 || c != 'y') {
            (void)fprintf(stderr, "netns-bench: child %d could not unshare its netns\n",
                          i);
            return -1;
        }
    }
    close(hold[0]);
    close(ready[0]);
    close(ready[1]);
    *hold_w = hold[1];
    return 0;
}

static void reap_kids(struct bench *b, int hold_w)
{
    int i;

    close(hold_w);
    for (i = 0; i < b->n; i++)
        while (waitpid(b->kids[i], NULL, 0) < 0 && errno == EINTR)
            ;
}

/* ---- the previous implementation (iproute2), for comparison ------------------------ */

static int run_ip(char *const argv[], const char *input)
{
    posix_spawn_file_actions_t fa;
    int p[2], st = 0;
    size_t len = strlen(input);
    pid_t pid;

    if (pipe(p) < 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[0], 0);
    posix_spawn_file_actions_addclose(&fa, p[1]);
    if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        close(p[0]);
        close(p[1]);
        return -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    close(p[0]);
    if (write(p[1], input, len) != (ssize_t)len)
        st = -1;
    close(p[1]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int old_setup(const struct bench *b, int i)
{
    int slot = b->first + i;
    pid_t pid = b->kids[i];
    char host[SLOT_ADDR_LEN], sb[SLOT_ADDR_LEN], ifname[IFNAMSIZ], ns[32], batch[512];
    char *host_argv[] = {"/usr/sbin/ip", "-batch", "-", NULL};
    char *sb_argv[] = {"/usr/sbin/ip", "-n", ns, "-batch", "-", NULL};

    slot_host_addr(slot, host);
    slot_sandbox_addr(slot, sb);
    slot_ifname(slot, ifname, sizeof(ifname));
    (void)snprintf(ns, sizeof(ns), "cube-bench%d", i);
    (void)snprintf(batch, sizeof(batch),
                   "netns attach %s %d\nlink add %s type veth peer name eth0 netns %s\n"
                   "addr add %s/30 dev %s\nlink set %s up\n",
                   ns, (int)pid, ifname, ns, host, ifname, ifname);
    if (run_ip(host_argv, batch) < 0)
        return -1;
    (void)snprintf(batch, sizeof(batch),
                   "link set lo up\naddr add %s/30 dev eth0\nlink set eth0 up\n"
                   "route add default via %s dev eth0\n",
                   sb, host);
    return run_ip(sb_argv, batch);
}

static void old_teardown(const struct bench *b, int i)
{
    int slot = b->first + i;
    char ifname[IFNAMSIZ], path[64];
    char *argv[] = {"/usr/sbin/ip", "link", "del", ifname, NULL};
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int st;

    slot_ifname(slot, ifname, sizeof(ifname));
    if (if_nametoindex(ifname) != 0) {
        posix_spawn_file_actions_init(&fa);
        if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) == 0)
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        posix_spawn_file_actions_destroy(&fa);
    }
    (void)snprintf(path, sizeof(path), "/run/netns/cube-bench%d", i);
    umount2(path, MNT_DETACH);
    unlink(path);
}

/* ---- driver ----------------------------------------------------------------------- */

/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): qsort's comparator */
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static void print_row(const char *impl, const char *op, double *t, int n)
{
    double sum = 0;
    int i;

    for (i = 0; i < n; i++)
        sum += t[i];
    qsort(t, (size_t)n, sizeof(*t), cmp_double);
    printf("%-8s %-9s n=%-4d mean %8.1f us  p50 %8.1f us  p99 %8.1f us  max %8.1f us\n",
           impl, op, n, sum / n, t[n / 2], t[(n * 99) / 100], t[n - 1]);
}

static int run(struct bench *b, int old)
{
    const char *impl = old ? "ip-batch" : "netlink";
    char err[256];
    double t0;
    int i, hold, rc = 0;

    if (spawn_kids(b, &hold) < 0) {
        (void)fprintf(stderr, "netns-bench: cannot make %d namespaces: %s\n", b->n,
                      strerror(errno));
        return -1;
    }
    for (i = 0; i < b->n && rc == 0; i++) {
        t0 = now_us();
        if (old)
            rc = old_setup(b, i);
        else
            rc = netns_setup(b->first + i, b->kids[i], err, sizeof(err));
        b->t_setup[i] = now_us() - t0;
        if (rc < 0)
            (void)fprintf(stderr, "netns-bench: %s setup %d failed: %s\n", impl, i,
                          old ? "ip failed" : err);
    }
    /* Alive: the pair really has to be deleted (netns_teardown first waits
     * VETH_GONE_WAIT_MS for it to go, so this times that wait too). --dead: the
     * sandbox ended first, as in production; the kernel removes the pair with the
     * netns, asynchronously, and teardown waits for that. */
    if (b->dead) {
        reap_kids(b, hold);
        hold = -1;
    }
    for (i = 0; i < b->n; i++) {
        t0 = now_us();
        if (old)
            old_teardown(b, i);
        else
            netns_teardown(b->first + i);
        b->t_down[i] = now_us() - t0;
    }
    if (hold >= 0)
        reap_kids(b, hold);
    if (rc < 0)
        return -1;
    print_row(impl, "setup", b->t_setup, b->n);
    print_row(impl, b->dead ? "down-dead" : "teardown", b->t_down, b->n);
    return 0;
}

int main(int argc, char **argv)
{
    struct bench b = {.n = 200, .first = 15000};
    int old = 0, i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            b.n = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
            b.first = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--old") == 0)
            old = 1;
        else if (strcmp(argv[i], "--dead") == 0)
            b.dead = 1;
        else {
            (void)fprintf(stderr,
                          "usage: netns-bench [-n N] [-s FIRST_SLOT] [--old] [--dead]\n");
            return 2;
        }
    }
    if (b.n < 1 || b.n > 4096 || b.first < 0 || b.first + b.n > SLOT_COUNT) {
        (void)fprintf(stderr,
                      "netns-bench: need 1 <= N <= 4096 and slots inside [0, %d)\n",
                      SLOT_COUNT);
        return 2;
    }
    cube_log_init("netns-bench", CUBE_LOG_WARN);
    if (netns_init() < 0)
        return 1;
    b.kids = calloc((size_t)b.n, sizeof(*b.kids));
    b.t_setup = calloc((size_t)b.n, sizeof(double));
    b.t_down = calloc((size_t)b.n, sizeof(double));
    if (b.kids == NULL || b.t_setup == NULL || b.t_down == NULL)
        return 1;
    if (old && run(&b, 1) < 0)
        return 1;
    if (run(&b, 0) < 0)
        return 1;
    free(b.kids);
    free(b.t_setup);
    free(b.t_down);
    return 0;
}
