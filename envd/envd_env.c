/* Global sandbox state applied by POST /init. See envd_env.h. */
#include "envd_env.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cube_hosts.h"
#include "cube_log.h"

static struct {
    json_t *env_vars; /* from the last /init, without the E2B_* entries */
    json_t *env;      /* env_vars + E2B_SANDBOX, E2B_SANDBOX_ID, E2B_TEMPLATE_ID */
    char *token;
    char *default_user;
    char *default_workdir;
    char *sandbox_id;
    char *template_id;
    char *init_file; /* where the applied state is kept for a restarted envd */
} st;

static void replace_str(char **slot, const char *v)
{
    free(*slot);
    *slot = v ? strdup(v) : NULL;
}

/* Rebuild the effective global env. The E2B_* variables are set last so a
 * client cannot make a process believe it runs in another sandbox. */
static void rebuild_env(void)
{
    json_t *env = json_deep_copy(st.env_vars);

    if (!env)
        env = json_object();
    json_object_set_new(env, "E2B_SANDBOX", json_string("true"));
    if (st.sandbox_id)
        json_object_set_new(env, "E2B_SANDBOX_ID", json_string(st.sandbox_id));
    if (st.template_id)
        json_object_set_new(env, "E2B_TEMPLATE_ID", json_string(st.template_id));
    json_decref(st.env);
    st.env = env;
}

void envd_env_init(void)
{
    st.env_vars = json_object();
    replace_str(&st.default_user, ENVD_DEFAULT_USER);
    rebuild_env();
}

void envd_env_free(void)
{
    json_decref(st.env_vars);
    json_decref(st.env);
    free(st.token);
    free(st.default_user);
    free(st.default_workdir);
    free(st.sandbox_id);
    free(st.template_id);
    free(st.init_file);
    memset(&st, 0, sizeof(st));
}

/* An environment variable name that execve can carry: non-empty, no '='. */
static int env_name_ok(const char *k)
{
    return *k && !strchr(k, '=');
}

/* Optional string member: absent or null is fine (*out = NULL). */
static int opt_string(json_t *body, const char *key, const char **out, char *err,
                      size_t errlen)
{
    json_t *v = json_object_get(body, key);

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, errlen, "'%s' must be a string", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int save_state(void);

static const char *hostname_dir; /* envd_env_set_hostname_files; NULL: off */

void envd_env_set_hostname_files(const char *etc_dir)
{
    hostname_dir = etc_dir;
}

/* Replace path's text in place (same inode: a process that has it open sees the new
 * text). The final component is not followed. */
/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): path, then its text */
static int rewrite_file(const char *path, const char *text)
{
    size_t len = strlen(text);
    int fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return -1;
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    return close(fd);
}

/* The sandbox's /etc/hostname and /etc/hosts name it (the worker set the UTS
 * hostname). Done here rather than by the worker: a claim then costs the worker
 * three syscalls instead of a dozen, and envd applies an init before it serves any
 * later request, so the caller never sees the old name. */
static void write_hostname_files(const char *name)
{
    char path[4096], text[512];

    (void)snprintf(text, sizeof(text), "%s\n", name);
    (void)snprintf(path, sizeof(path), "%s/hostname", hostname_dir);
    if (rewrite_file(path, text) != 0)
        log_warn("cannot write %s: %s", path, strerror(errno));
    cube_hosts_text(name, text, sizeof(text));
    (void)snprintf(path, sizeof(path), "%s/hosts", hostname_dir);
    if (rewrite_file(path, text) != 0)
        log_warn("cannot write %s: %s", path, strerror(errno));
}

int envd_env_apply_init(json_t *body, char *err, size_t errlen)
{
    const char *token, *user, *workdir, *sbx, *tpl, *k;
    json_t *vars, *v;

    if (!json_is_object(body)) {
        snprintf(err, errlen, "request body must be a JSON object");
        return -1;
    }
    vars = json_object_get(body, "envVars");
    if (vars && !json_is_null(vars)) {
        if (!json_is_object(vars)) {
            snprintf(err, errlen, "'envVars' must be an object of strings");
            return -1;
        }
        json_object_foreach(vars, k, v)
        {
            if (!json_is_string(v) || !env_name_ok(k)) {
                snprintf(err, errlen, "invalid environment variable '%s'", k);
                return -1;
            }
        }
    } else {
        vars = NULL;
    }
    if (opt_string(body, "accessToken", &token, err, errlen) ||
        opt_string(body, "defaultUser", &user, err, errlen) ||
        opt_string(body, "defaultWorkdir", &workdir, err, errlen) ||
        opt_string(body, "sandboxID", &sbx, err, errlen) ||
        opt_string(body, "templateID", &tpl, err, errlen))
        return -1;

    /* Validated: apply. envVars replace the previous set when present; the token
     * follows the body exactly (absent clears it); the rest only when given. */
    if (vars) {
        json_decref(st.env_vars);
        st.env_vars = json_deep_copy(vars);
    }
    replace_str(&st.token, token && *token ? token : NULL);
    if (user && *user)
        replace_str(&st.default_user, user);
    if (workdir && *workdir)
        replace_str(&st.default_workdir, workdir);
    if (sbx && *sbx) {
        replace_str(&st.sandbox_id, sbx);
        if (hostname_dir)
            write_hostname_files(sbx);
    }
    if (tpl && *tpl)
        replace_str(&st.template_id, tpl);
    rebuild_env();
    if (st.init_file && save_state() != 0) {
        /* A restarted envd would come back without this token: say so loudly. */
        fprintf(stderr, "cube-envd: cannot keep the init in %s: %s\n", st.init_file,
                strerror(errno));
    }
    return 0;
}

/* The state as an init body that recreates it exactly. */
static json_t *state_body(void)
{
    json_t *o = json_object();

    if (!o)
        return NULL;
    json_object_set(o, "envVars", st.env_vars);
    if (st.token)
        json_object_set_new(o, "accessToken", json_string(st.token));
    if (st.default_user)
        json_object_set_new(o, "defaultUser", json_string(st.default_user));
    if (st.default_workdir)
        json_object_set_new(o, "defaultWorkdir", json_string(st.default_workdir));
    if (st.sandbox_id)
        json_object_set_new(o, "sandboxID", json_string(st.sandbox_id));
    if (st.template_id)
        json_object_set_new(o, "templateID", json_string(st.template_id));
    return o;
}

/* Written to a temporary name and renamed: a crash never leaves half a file. Mode
 * 0600 (root in the sandbox): the token guards envd from outside, the sandbox's own
 * root may read it anyway. */
static int save_state(void)
{
    char tmp[4096];
    json_t *o = state_body();
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    size_t len, off = 0;
    ssize_t n;
    int fd, rc = -1;

    json_decref(o);
    if (!text || snprintf(tmp, sizeof(tmp), "%s.tmp", st.init_file) >= (int)sizeof(tmp)) {
        free(text);
        errno = ENOMEM;
        return -1;
    }
    len = strlen(text);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
        while (off < len &&
               ((n = write(fd, text + off, len - off)) > 0 || errno == EINTR))
            off += n > 0 ? (size_t)n : 0;
        if (close(fd) == 0 && off == len && rename(tmp, st.init_file) == 0)
            rc = 0;
        else
            (void)unlink(tmp);
    }
    free(text);
    return rc;
}

int envd_env_use_init_file(const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *body;
    int rc;

    replace_str(&st.init_file, path);
    if (!st.init_file) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    body = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!body) {
        if (access(path, F_OK) != 0 && errno == ENOENT)
            return 0; /* first start: nothing applied yet */
        snprintf(err, errlen, "%s: %s", path, jerr.text);
        return -1;
    }
    rc = envd_env_apply_init(body, err, errlen);
    json_decref(body);
    return rc < 0 ? -1 : 1;
}

json_t *envd_env_global(void)
{
    return st.env;
}

const char *envd_env_access_token(void)
{
    return st.token;
}

const char *envd_env_default_user(void)
{
    return st.default_user;
}

const char *envd_env_default_workdir(void)
{
    return st.default_workdir;
}
