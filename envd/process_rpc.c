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

/* An unsigned 32-bit value given as a number or a decimal string. */
static int json_u32(json_t *v, uint32_t *out)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > UINT32_MAX)
            return -1;
        *out = (uint32_t)i;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        unsigned long long n;
        if (!*s || *s < '0' || *s > '9')
            return -1;
        errno = 0;
        n = strtoull(s, &end, 10);
        if (errno || *end || n > UINT32_MAX)
            return -1;
        *out = (uint32_t)n;
        return 0;
    }
    return -1;
}

/* An object whose values are all strings (or absent/null). */
static int string_map_ok(json_t *v)
{
    const char *k;
    json_t *x;

    if (!v || json_is_null(v))
        return 1;
    if (!json_is_object(v))
        return 0;
    json_object_foreach(v, k, x)
    {
        if (!json_is_string(x))
            return 0;
    }
    return 1;
}

struct proc *process_rpc_select(json_t *msg, int include_finished,
                                enum connect_code *code, char *err, size_t errlen)
{
    json_t *sel = json_object_get(msg, "process");
    json_t *pidv = sel ? json_object_get(sel, "pid") : NULL;
    json_t *tagv = sel ? json_object_get(sel, "tag") : NULL;
    struct proc *p;
    uint32_t pid = 0;

    *code = CONNECT_INVALID_ARGUMENT;
    if (!json_is_object(sel) || (pidv && tagv) || (!pidv && !tagv)) {
        (void)snprintf(err, errlen, "'process' must select a process by 'pid' or 'tag'");
        return NULL;
    }
    if (pidv) {
        if (json_u32(pidv, &pid) != 0) {
            (void)snprintf(err, errlen, "invalid pid");
            return NULL;
        }
        p = pid ? proc_find(pid, NULL, include_finished) : NULL;
        if (!p) {
            *code = CONNECT_NOT_FOUND;
            (void)snprintf(err, errlen, "process with pid %u not found", pid);
        }
        return p;
    }
    if (!json_is_string(tagv)) {
        (void)snprintf(err, errlen, "invalid tag");
        return NULL;
    }
    p = proc_find(0, json_string_value(tagv), include_finished);
    if (!p) {
        *code = CONNECT_NOT_FOUND;
        (void)snprintf(err, errlen, "process with tag %s not found",
                       json_string_value(tagv));
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
    json_t *data_v;
    size_t n;

    *data = NULL;
    *code = CONNECT_INVALID_ARGUMENT;
    if (!json_is_object(input)) {
        (void)snprintf(err, errlen, "'input' is required");
        return -1;
    }
    *pty = json_object_get(input, "pty") != NULL;
    data_v = json_object_get(input, *pty ? "pty" : "stdin");
    if (!json_is_string(data_v)) {
        (void)snprintf(err, errlen, "'input' must hold base64 'stdin' or 'pty' bytes");
        return -1;
    }
    n = json_string_length(data_v);
    *data = malloc(B64_DECODED_MAX(n) + 1);
    if (!*data) {
        *code = CONNECT_INTERNAL;
        (void)snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (b64_decode(json_string_value(data_v), n, *data, len) != 0) {
        free(*data);
        *data = NULL;
        (void)snprintf(err, errlen, "input is not valid base64");
        return -1;
    }
    return 0;
}

/* "pty": {"size": {"cols": C, "rows": R}} */
static int parse_pty_size(json_t *pty, unsigned short *cols, unsigned short *rows)
{
    json_t *size = json_object_get(pty, "size");
    json_t *c = size ? json_object_get(size, "cols") : NULL;
    json_t *r = size ? json_object_get(size, "rows") : NULL;
    uint32_t cv = 0, rv = 0;

    if (!json_is_object(pty) || (size && !json_is_object(size)))
        return -1;
    if ((c && json_u32(c, &cv) != 0) || (r && json_u32(r, &rv) != 0) || cv > 65535 ||
        rv > 65535)
        return -1;
    *cols = (unsigned short)cv;
    *rows = (unsigned short)rv;
    return 0;
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
    json_t *process = json_object_get(msg, "process");
    json_t *cmdv, *argsv, *envsv, *cwdv, *ptyv, *stdinv, *tagv, *config, *x;
    struct proc_spec spec;
    struct envd_user user;
    char err[512], **argv = NULL, **envp = NULL, *cwd = NULL, *exe = NULL;
    struct stat st;
    struct proc *p;
    size_t i, nargs;
    long timeout;

    memset(&spec, 0, sizeof(spec));
    if (!json_is_object(process)) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "'process' is required");
        return;
    }
    cmdv = json_object_get(process, "cmd");
    argsv = json_object_get(process, "args");
    envsv = json_object_get(process, "envs");
    cwdv = json_object_get(process, "cwd");
    ptyv = json_object_get(msg, "pty");
    stdinv = json_object_get(msg, "stdin");
    tagv = json_object_get(msg, "tag");
    if (!json_is_string(cmdv) || !*json_string_value(cmdv)) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "'process.cmd' is required");
        return;
    }
    if (argsv && !json_is_null(argsv) && !json_is_array(argsv)) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "'process.args' must be a list");
        return;
    }
    json_array_foreach(argsv, i, x)
    {
        if (!json_is_string(x)) {
            connect_error(req, CONNECT_INVALID_ARGUMENT,
                          "'process.args' must be strings");
            return;
        }
    }
    if (!string_map_ok(envsv)) {
        connect_error(req, CONNECT_INVALID_ARGUMENT,
                      "'process.envs' must map strings to strings");
        return;
    }
    if ((cwdv && !json_is_null(cwdv) && !json_is_string(cwdv)) ||
        (tagv && !json_is_null(tagv) && !json_is_string(tagv)) ||
        (stdinv && !json_is_null(stdinv) && !json_is_boolean(stdinv))) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "invalid 'cwd', 'tag' or 'stdin'");
        return;
    }
    if (ptyv && !json_is_null(ptyv)) {
        if (parse_pty_size(ptyv, &spec.cols, &spec.rows) != 0) {
            connect_error(req, CONNECT_INVALID_ARGUMENT, "invalid 'pty'");
            return;
        }
        spec.pty = 1;
    }
    /* Absent means true: the SDK only sends stdin:false to ask for no stdin. */
    spec.stdin_pipe = !json_is_false(stdinv);

    if (envd_user_from_request(req, &user, err, sizeof(err)) != 0) {
        connect_error(req, CONNECT_UNAUTHENTICATED, "%s", err);
        return;
    }
    cwd = envd_path_resolve(json_is_string(cwdv) ? json_string_value(cwdv) : NULL,
                            user.home, envd_env_default_workdir(), err, sizeof(err));
    if (!cwd) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "%s", err);
        goto out;
    }
    if (stat(cwd, &st) != 0 || !S_ISDIR(st.st_mode)) {
        connect_error(req, CONNECT_INVALID_ARGUMENT, "cwd '%s' does not exist", cwd);
        goto out;
    }

    nargs = json_is_array(argsv) ? json_array_size(argsv) : 0;
    argv = calloc(nargs + 2, sizeof(char *));
    envp = build_envp(&user, envsv);
    if (!argv || !envp)
        goto oom;
    argv[0] = strdup(json_string_value(cmdv));
    if (!argv[0])
        goto oom;
    for (i = 0; i < nargs; i++)
        if (!(argv[i + 1] = strdup(json_string_value(json_array_get(argsv, i)))))
            goto oom;
    exe = find_executable(argv[0], envp);
    if (!exe) {
        connect_error(req, CONNECT_INVALID_ARGUMENT,
                      "exec: \"%s\": executable file not found in $PATH", argv[0]);
        goto out;
    }

    /* What List reports back: the request's own config. */
    config = json_pack("{s:O,s:o,s:o}", "cmd", cmdv, "args",
                       json_is_array(argsv) ? json_copy(argsv) : json_array(), "envs",
                       json_is_object(envsv) ? json_copy(envsv) : json_object());
    if (config && json_is_string(cwdv))
        json_object_set(config, "cwd", cwdv);
    spec.path = exe;
    spec.argv = argv;
    spec.envp = envp;
    spec.cwd = cwd;
    spec.user = &user;
    spec.tag = json_is_string(tagv) ? json_string_value(tagv) : NULL;
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
        if (parse_pty_size(ptyv, &cols, &rows) != 0 || !cols || !rows) {
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
