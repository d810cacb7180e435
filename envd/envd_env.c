/* Global sandbox state applied by POST /init. See envd_env.h. */
#include "envd_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    json_t *env_vars; /* from the last /init, without the E2B_* entries */
    json_t *env;      /* env_vars + E2B_SANDBOX, E2B_SANDBOX_ID, E2B_TEMPLATE_ID */
    char *token;
    char *default_user;
    char *default_workdir;
    char *sandbox_id;
    char *template_id;
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
    if (sbx && *sbx)
        replace_str(&st.sandbox_id, sbx);
    if (tpl && *tpl)
        replace_str(&st.template_id, tpl);
    rebuild_env();
    return 0;
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
