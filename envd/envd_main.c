/* cube-envd: the in-sandbox agent speaking E2B's envd protocol (REST + Connect
 * RPC) on one HTTP/1.1 listener. Started and restarted by cube-init (PID 1).
 * Ready as soon as GET /health answers 204. In a sandbox the worker learns that and
 * sends the init over the channel cube-init passes in (--channel-fd, envd_chan.h);
 * without one (tests, a restarted envd) it POSTs /init.
 *
 *   cube-envd [--listen HOST:PORT] [--log-level debug|info|warn|error]
 *             [--channel-fd N] [--init-file PATH] [--hostname-files]
 */
#include "cube_id.h"
#include "cube_log.h"
#include "daemon_opts.h"
#include "envd_chan.h"
#include "envd_env.h"
#include "envd_http.h"
#include "fs_watcher.h"
#include "process.h"

#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_LISTEN "0.0.0.0:49983"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: cube-envd [--listen HOST:PORT] [--log-level LEVEL] "
        "[--channel-fd N] [--init-file PATH] [--hostname-files]\n"
        "  --listen HOST:PORT   address to serve on (default " DEFAULT_LISTEN
        "; [v6addr]:port for IPv6)\n"
        "  --log-level LEVEL    debug, info (default), warn or error\n"
        "  --channel-fd N       the worker channel (cube-init passes it)\n"
        "  --init-file PATH     keep the applied init there; restore it at start\n"
        "  --hostname-files     in a sandbox: an init naming it rewrites /etc/hostname\n"
        "                       and /etc/hosts\n"
        "  --version            print the envd protocol version\n");
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    proc_reap();
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    log_info("signal %d: stopping", (int)sig);
    event_base_loopbreak(arg);
}

/* --init-file: the state of an earlier envd of this sandbox, if any. One that cannot
 * be applied must not leave envd serving without a token: it gets one nobody knows. */
static int restore_init(const char *path)
{
    char err[256], tok[41];
    json_t *lock;
    int rc = envd_env_use_init_file(path, err, sizeof(err));

    if (rc == 1)
        log_info("init restored from %s (token %s)", path,
                 envd_env_access_token() ? "set" : "none");
    if (rc >= 0)
        return 0;
    log_error("init file not applied (%s); locking envd (random access token)", err);
    if (cube_id_generate(tok, sizeof(tok) - 1, 'x') < 0 ||
        (lock = json_pack("{s:s}", "accessToken", tok)) == NULL)
        return -1;
    rc = envd_env_apply_init(lock, err, sizeof(err));
    json_decref(lock);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"log-level", required_argument, NULL, 'L'},
        {"channel-fd", required_argument, NULL, 'C'},
        {"init-file", required_argument, NULL, 'I'},
        {"hostname-files", no_argument, NULL, 'H'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *listen = DEFAULT_LISTEN, *init_file = NULL;
    enum cube_log_level level = CUBE_LOG_INFO;
    struct event *ev_chld, *ev_term, *ev_int;
    struct event_base *base;
    char host[256];
    int port, c, rc = 0, chan = -1;
    char *end;
    long v;

    while ((c = getopt_long(argc, argv, "l:L:C:I:HVh", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'L':
            if (daemon_parse_level(optarg, &level) != 0) {
                usage(stderr);
                return 2;
            }
            break;
        case 'C':
            v = strtol(optarg, &end, 10);
            if (end == optarg || *end || v < 3 || v > 1024) {
                fprintf(stderr, "cube-envd: --channel-fd wants a descriptor >= 3\n");
                return 2;
            }
            chan = (int)v;
            break;
        case 'I':
            init_file = optarg;
            break;
        case 'H':
            envd_env_set_hostname_files("/etc");
            break;
        case 'V':
            printf("%s\n", ENVD_VERSION);
            return 0;
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

    daemon_ensure_std_fds();
    cube_log_init("cube-envd", level);
    /* Files users create through us get the usual 0644/0755. */
    umask(022);
    /* A client vanishing mid-write must be an error return, not our death. */
    signal(SIGPIPE, SIG_IGN);
    envd_env_init();
    if (init_file && restore_init(init_file) != 0)
        return 1;

    base = event_base_new();
    /* Two priorities: the worker channel (0) before everything else (1, the default
     * for events made from now on); envd_chan.h says why. */
    if (!base || event_base_priority_init(base, 2) < 0) {
        log_error("cannot create the event loop");
        return 1;
    }
    if (chan >= 0 && envd_chan_open(base, chan) < 0)
        return 1;
    proc_table_init(base);
    ev_chld = evsignal_new(base, SIGCHLD, on_sigchld, NULL);
    ev_term = evsignal_new(base, SIGTERM, on_stop, base);
    ev_int = evsignal_new(base, SIGINT, on_stop, base);
    if (!ev_chld || !ev_term || !ev_int || evsignal_add(ev_chld, NULL) ||
        evsignal_add(ev_term, NULL) || evsignal_add(ev_int, NULL)) {
        log_error("cannot install signal handlers");
        return 1;
    }
    if (envd_http_start(base, host, port) != 0) {
        rc = 1;
    } else {
        envd_chan_ready();
        event_base_dispatch(base);
    }

    /* Processes are left running: on shutdown cube-init signals them all. */
    envd_http_stop();
    envd_chan_close();
    fs_watchers_free_all();
    proc_table_shutdown();
    event_free(ev_chld);
    event_free(ev_term);
    event_free(ev_int);
    envd_env_free();
    event_base_free(base);
    libevent_global_shutdown();
    return rc;
}
