/* process.Process RPC handlers. See process_rpc.h.
 *
 * Request messages follow the proto3 JSON mapping: lowerCamelCase names,
 * default values possibly omitted, 32-bit integers as numbers (quoted numbers
 * accepted too), enums by name or number, bytes as base64. Unknown fields are
 * ignored, as proto3 parsers do. */
#include "process_rpc.h"

#include "base64.h"
#include "connect_rpc.h"
#include "cube_log.h"
#include "envd_env.h"
#include "envd_path.h"
#include "envd_user.h"
#include "process.h"
#include "rpc_decode.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ------------------------------------------------------------ JSON helpers */

struct proc *process_rpc_select(json_t *msg, int include_finished,
                                enum connect_code *code, char *err, size_t errlen)
{
    const char *tag;
    struct proc *p;
    uint32_t pid;

    *code = CONNECT_INVALID_ARGUMENT;
    if (rpc_selector_decode(msg, &pid, &tag, err, errlen) != 0)
        return NULL;
    p = tag ? proc_find(0, tag, include_finished)
            : (pid ? proc_find(pid, NULL, include_finished) : NULL);
    if (!p) {
        *code = CONNECT_NOT_FOUND;
        if (tag)
            (void)snprintf(err, errlen, "process with tag %s not found", tag);
        else
            (void)snprintf(err, errlen, "process with pid %u not found", pid);
    }
    return p;
}

/* process_rpc_select, answering the request with the error. */
static struct proc *select_process(struct evhttp_request *req, json_t *msg,
                                   int include_finished)
{
    enum connect_code code;
    char err[300];
    struct proc *p = process_rpc_select(msg, include_finished, &code, err, sizeof(err));

    if (!p)
        connect_error(req, code, "%s", err);
    return p;
}

int process_rpc_input(json_t *input, int *pty, uint8_t **data, size_t *len,
                      enum connect_code *code, char *err, size_t errlen)
{
    int oom;

    if (rpc_input_decode(input, pty, data, len, &oom, err, errlen) == 0)
        return 0;
    *code = oom ? CONNECT_INTERNAL : CONNECT_INVALID_ARGUMENT;
    return -1;
}

/* ------------------------------------------------------------ environment */

static void env_merge(json_t *env, json_t *src)
{
    const char *k;
    json_t *v;

    if (!json_is_object(src))
        return;
    json_object_foreach(src, k, v)
    {
        /* execve cannot express these; skip rather than corrupt the block. */
        if (*k && !strchr(k, '='))
            json_object_set(env, k, v);
    }
}

/* PATH, HOME, USER, LOGNAME, SHELL, then the global env, then the request's
 * envs: later entries win. NULL-terminated "K=V" array, or NULL. */
static char **build_envp(const struct envd_user *u, json_t *req_envs)
{
    const char *path = getenv("PATH");
    json_t *env = json_object();
    const char *k;
    json_t *v;
    char **envp;
    size_t i = 0;

    if (!env)
        return NULL;
    json_object_set_new(env, "PATH", json_string(path && *path ? path : DEFAULT_PATH));
    json_object_set_new(env, "HOME", json_string(u->home));
    json_object_set_new(env, "USER", json_string(u->name));
    json_object_set_new(env, "LOGNAME", json_string(u->name));
    if (*u->shell)
        json_object_set_new(env, "SHELL", json_string(u->shell));
    env_merge(env, envd_env_global());
    env_merge(env, req_envs);

    envp = calloc(json_object_size(env) + 1, sizeof(char *));
    if (!envp) {
        json_decref(env);
        return NULL;
    }
    json_object_foreach(env, k, v)
    {
        if (asprintf(&envp[i], "%s=%s", k, json_string_value(v)) < 0) {
            envp[i] = NULL;
            break;
        }
        i++;
    }
    json_decref(env);
    return envp;
}

static void free_strv(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

static const char *env_lookup(char **envp, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; envp[i]; i++)
        if (!strncmp(envp[i], name, n) && envp[i][n] == '=')
            return envp[i] + n + 1;
    return NULL;
}

/* Find cmd like exec.LookPath: names with a '/' are used as they are,
 * others are searched in the process's PATH. malloc'd, or NULL. */
static char *find_executable(const char *cmd, char **envp)
{
    const char *path, *p;

    if (strchr(cmd, '/'))
        return strdup(cmd);
    path = env_lookup(envp, "PATH");
    if (!path)
        path = DEFAULT_PATH;
    for (p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *cand;
        struct stat st;

        if (asprintf(&cand, "%.*s/%s", (int)len, len ? p : ".", cmd) < 0)
            return NULL;
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
            return cand;
        free(cand);
        if (!end)
            return NULL;
        p = end;
    }
}

/* ------------------------------------------------------------ Start */

static void handle_start(struct evhttp_request *req, json_t *msg)
{
    struct rpc_start rs;
    struct proc_spec spec;
    struct envd_user user;
    char err[512], **argv = NULL, **envp = NULL, *cwd = NULL, *exe = NULL;
    json_t *config;
    struct stat st;
    struct proc *p;
    size_t i, nargs;
    long timeout;

    memset(&spec, 0, sizeof(spec));
    if (rpc_start_decode(msg, &rs, err, sizeof(err)) != 0) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "%s", err);
        return;
    }
    spec.pty = rs.pty;
    spec.cols = rs.cols;
    spec.rows = rs.rows;
    spec.stdin_pipe = rs.stdin_pipe;

    if (envd_user_from_request(req, &user, err, sizeof(err)) != 0) {
        connect_error(req, CONNECT_UNAUTHENTICATED, "%s", err);
        return;
    }
    cwd = envd_path_resolve(rs.cwd, user.home, envd_env_default_workdir(), err,
                            sizeof(err));
    if (!cwd) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "%s", err);
        goto out;
    }
    if (stat(cwd, &st) != 0 || !S_ISDIR(st.st_mode)) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "cwd '%s' does not exist", cwd);
        goto out;
    }

    nargs = rs.args ? json_array_size(rs.args) : 0;
    argv = calloc(nargs + 2, sizeof(char *));
    envp = build_envp(&user, rs.envs);
    if (!argv || !envp)
        goto oom;
    argv[0] = strdup(rs.cmd);
    if (!argv[0])
        goto oom;
    for (i = 0; i < nargs; i++)
        if (!(argv[i + 1] = strdup(json_string_value(json_array_get(rs.args, i)))))
            goto oom;
    exe = find_executable(argv[0], envp);
    if (!exe) {
        connect_error(req, CONNECT_INVALID_ARGUMENT,
                      "exec: \"%s\": executable file not found in $PATH", argv[0]);
        goto out;
    }

    /* What List reports back: the request's own config. */
    config = json_pack("{s:s,s:o,s:o}", "cmd", rs.cmd, "args",
                       rs.args ? json_copy(rs.args) : json_array(), "envs",
                       rs.envs ? json_copy(rs.envs) : json_object());
    if (config && rs.cwd)
        json_object_set_new(config, "cwd", json_string(rs.cwd));
    spec.path = exe;
    spec.argv = argv;
    spec.envp = envp;
    spec.cwd = cwd;
    spec.user = &user;
    spec.tag = rs.tag;
    spec.config = config;
    p = proc_spawn(&spec, err, sizeof(err));
    if (!p) {
        log_warn("start %s as %s failed: %s", exe, user.name, err);
        connect_error(req, CONNECT_INTERNAL, "error starting process: %s", err);
        goto out;
    }
    /* Connect-Timeout-Ms bounds the process's life, not just the stream's. */
    timeout = connect_request_timeout_ms(req);
    if (timeout > 0)
        proc_set_deadline(p, timeout);
    proc_stream(p, req, 1, -1);
    goto out;
oom:
    connect_error(req, CONNECT_INTERNAL, "out of memory");
out:
    free_strv(argv);
    free_strv(envp);
    free(exe);
    free(cwd);
    envd_user_free(&user);
}

/* ------------------------------------------------------------ the others */

static void handle_connect(struct evhttp_request *req, json_t *msg)
{
    struct proc *p = select_process(req, msg, 1);

    /* Here Connect-Timeout-Ms bounds only this stream; the process runs on. */
    if (p)
        proc_stream(p, req, 0, connect_request_timeout_ms(req));
}

static void handle_list(struct evhttp_request *req, json_t *msg)
{
    (void)msg;
    connect_unary_reply(req, proc_list());
}

static void handle_send_input(struct evhttp_request *req, json_t *msg)
{
    enum connect_code code;
    struct proc *p;
    char err[256];
    uint8_t *data;
    size_t len;
    int pty;

    if (!(p = select_process(req, msg, 0)))
        return;
    if (process_rpc_input(json_object_get(msg, "input"), &pty, &data, &len, &code, err,
                          sizeof(err)) != 0) {
        connect_error(req, code, "%s", err);
        return;
    }
    if (proc_send_input(p, pty, data, len, &code, err, sizeof(err)) != 0)
        connect_error(req, code, "%s", err);
    else
        connect_unary_reply(req, json_object());
    free(data);
}

static void handle_send_signal(struct evhttp_request *req, json_t *msg)
{
    json_t *sigv = json_object_get(msg, "signal");
    struct proc *p;
    int sig = 0;

    if (!(p = select_process(req, msg, 0)))
        return;
    if (json_is_string(sigv)) {
        if (!strcmp(json_string_value(sigv), "SIGNAL_SIGKILL"))
            sig = SIGKILL;
        else if (!strcmp(json_string_value(sigv), "SIGNAL_SIGTERM"))
            sig = SIGTERM;
    } else if (json_is_integer(sigv)) {
        json_int_t v = json_integer_value(sigv);
        if (v == SIGKILL || v == SIGTERM)
            sig = (int)v;
    }
    if (!sig) {
        connect_error(req, CONNECT_UNIMPLEMENTED, "invalid signal");
        return;
    }
    if (proc_signal(p, sig) != 0) {
        connect_error(req, CONNECT_INTERNAL, "error sending signal: %s", strerror(errno));
        return;
    }
    connect_unary_reply(req, json_object());
}

static void handle_close_stdin(struct evhttp_request *req, json_t *msg)
{
    enum connect_code code;
    struct proc *p;
    char err[256];

    if (!(p = select_process(req, msg, 0)))
        return;
    if (proc_close_stdin(p, &code, err, sizeof(err)) != 0)
        connect_error(req, code, "%s", err);
    else
        connect_unary_reply(req, json_object());
}

static void handle_update(struct evhttp_request *req, json_t *msg)
{
    json_t *ptyv = json_object_get(msg, "pty");
    unsigned short cols = 0, rows = 0;
    enum connect_code code;
    struct proc *p;
    char err[256];

    if (!(p = select_process(req, msg, 0)))
        return;
    if (ptyv && !json_is_null(ptyv)) {
        if (rpc_pty_size(ptyv, &cols, &rows) != 0 || !cols || !rows) {
            connect_error(req, CONNECT_INVALID_ARGUMENT, "invalid 'pty' size");
            return;
        }
        if (proc_resize(p, cols, rows, &code, err, sizeof(err)) != 0) {
            connect_error(req, code, "%s", err);
            return;
        }
    }
    connect_unary_reply(req, json_object());
}

static const struct {
    const char *name;
    int streaming;
    void (*fn)(struct evhttp_request *, json_t *);
} methods[] = {
    {"Start", 1, handle_start},
    {"Connect", 1, handle_connect},
    {"List", 0, handle_list},
    {"SendInput", 0, handle_send_input},
    {"SendSignal", 0, handle_send_signal},
    {"CloseStdin", 0, handle_close_stdin},
    {"Update", 0, handle_update},
};

void process_rpc_dispatch(struct evhttp_request *req, const char *method)
{
    json_t *msg;

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(method, methods[i].name) != 0)
            continue;
        msg = connect_accept(req, "process.Process", method, methods[i].streaming);
        if (!msg)
            return;
        methods[i].fn(req, msg);
        json_decref(msg);
        return;
    }
    /* StreamInput never comes here: the filter streams it (process_input.c). */
    connect_error(req, CONNECT_UNIMPLEMENTED, "process.Process/%s is not implemented",
                  method);
}
