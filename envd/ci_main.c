/* cube-ci: the code-interpreter server (E2B protocol §6) on port 49999.
 * Contexts run in long-lived kernel drivers (envd/drivers/, installed next to
 * this binary in ci-drivers/), one per context, as the sandbox's default user.
 *
 *   cube-ci [--listen HOST:PORT] [--drivers DIR] [--user NAME]
 *           [--envd HOST:PORT] [--log-level LEVEL]
 */
#include "ci_context.h"
#include "ci_envs.h"
#include "ci_http.h"
#include "ci_kernel.h"
#include "cube_log.h"
#include "daemon_opts.h"

#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_LISTEN "0.0.0.0:49999"
#define DEFAULT_ENVD "127.0.0.1:49983"
#define DEFAULT_USER "user"

static void usage(FILE *f)
{
    fprintf(f, "usage: cube-ci [--listen HOST:PORT] [--drivers DIR] [--user NAME]\n"
               "               [--envd HOST:PORT] [--log-level LEVEL]\n"
               "  --listen HOST:PORT  address to serve on (default " DEFAULT_LISTEN ")\n"
               "  --listen-fd N       serve on this inherited listening socket instead\n"
               "  --drivers DIR       kernel drivers (default: ci-drivers next to the "
               "binary)\n"
               "  --user NAME         run kernels as NAME if it exists and we are root "
               "(default " DEFAULT_USER ")\n"
               "  --envd HOST:PORT    envd for the global env (default " DEFAULT_ENVD
               "; \"\" = none)\n"
               "  --log-level LEVEL   debug, info (default), warn or error\n");
}

/* <dir of our executable>/ci-drivers */
static void default_drivers(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (n <= 0) {
        snprintf(out, len, "/.cube/bin/ci-drivers");
        return;
    }
    exe[n] = '\0';
    slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    if ((size_t)snprintf(out, len, "%.*s/ci-drivers", (int)(len - 12), exe) >= len)
        snprintf(out, len, "/.cube/bin/ci-drivers");
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    ci_kernel_reap();
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    log_info("signal %d: stopping", (int)sig);
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"listen-fd", required_argument, NULL, 'F'},
        {"drivers", required_argument, NULL, 'd'},
        {"user", required_argument, NULL, 'u'},
        {"envd", required_argument, NULL, 'e'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = DEFAULT_LISTEN, *user = DEFAULT_USER, *envd = DEFAULT_ENVD;
    const char *drivers = NULL;
    enum cube_log_level level = CUBE_LOG_INFO;
    struct event *ev_chld, *ev_term, *ev_int;
    struct event_base *base;
    char host[256], drivers_buf[PATH_MAX];
    int port, c, rc = 0, listen_fd = -1;

    while ((c = getopt_long(argc, argv, "l:F:d:u:e:L:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'F': {
            char *end;
            long v = strtol(optarg, &end, 10);

            /* Close-on-exec: the kernels it starts must not hold our listener. */
            if (end == optarg || *end || v < 3 || v > 1024 ||
                fcntl((int)v, F_SETFD, FD_CLOEXEC) < 0) {
                fprintf(stderr, "cube-ci: --listen-fd wants an open descriptor >= 3\n");
                return 2;
            }
            listen_fd = (int)v;
            break;
        }
        case 'd':
            drivers = optarg;
            break;
        case 'u':
            user = optarg;
            break;
        case 'e':
            envd = optarg;
            break;
        case 'L':
            if (daemon_parse_level(optarg, &level) != 0) {
                usage(stderr);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || daemon_parse_listen(listen, host, sizeof(host), &port) != 0) {
        usage(stderr);
        return 2;
    }
    if (!drivers) {
        default_drivers(drivers_buf, sizeof(drivers_buf));
        drivers = drivers_buf;
    }

    daemon_ensure_std_fds();
    cube_log_init("cube-ci", level);
    umask(022);
    signal(SIGPIPE, SIG_IGN);

    base = event_base_new();
    if (!base) {
        log_error("cannot create the event loop");
        return 1;
    }
    if (ci_envs_setup(base, envd) != 0) {
        log_error("bad --envd address '%s'", envd);
        event_base_free(base);
        return 2;
    }
    ci_kernel_setup(base, drivers, user);
    ci_contexts_init(base);
    ev_chld = evsignal_new(base, SIGCHLD, on_sigchld, NULL);
    ev_term = evsignal_new(base, SIGTERM, on_stop, base);
    ev_int = evsignal_new(base, SIGINT, on_stop, base);
    if (!ev_chld || !ev_term || !ev_int || evsignal_add(ev_chld, NULL) ||
        evsignal_add(ev_term, NULL) || evsignal_add(ev_int, NULL)) {
        log_error("cannot install signal handlers");
        return 1;
    }
    /* The default contexts (kernels start with their first execution). */
    if (!ci_context_default("python") || !ci_context_default("javascript")) {
        log_error("out of memory");
        return 1;
    }
    if (listen_fd >= 0 ? ci_http_start_fd(base, listen_fd) != 0
                       : ci_http_start(base, host, port) != 0)
        rc = 1;
    else
        event_base_dispatch(base);

    ci_http_stop();
    ci_contexts_shutdown();
    ci_kernel_reap();
    ci_kernel_cleanup();
    ci_envs_cleanup();
    event_free(ev_chld);
    event_free(ev_term);
    event_free(ev_int);
    event_base_free(base);
    libevent_global_shutdown();
    return rc;
}
