#include "create_req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

#define ERR(...)                                                                         \
    do {                                                                                 \
        snprintf(err, (size_t)errlen, __VA_ARGS__);                                      \
        goto fail;                                                                       \
    } while (0)

/* Optional positive int in [lo, hi]; absent or null leaves *out at 0 (= default). */
static int opt_int(json_t *root, const char *key, int lo, int hi, int *out)
{
    json_t *v = json_object_get(root, key);

    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

/* Optional string copied into a fixed buffer with a default; rejects control chars
 * (these end up in envd's process environment and in log lines). */
static int opt_str(json_t *root, const char *key, const char *dflt, char *out, size_t cap)
{
    json_t *v = json_object_get(root, key);
    const char *s;
    size_t i;

    if (!v || json_is_null(v)) {
        snprintf(out, cap, "%s", dflt);
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    s = json_string_value(v);
    if (strlen(s) >= cap || json_string_length(v) != strlen(s))
        return -1;
    for (i = 0; s[i]; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return -1;
    }
    snprintf(out, cap, "%s", s[0] ? s : dflt);
    return 0;
}

int create_req_parse(const char *body, size_t len, struct create_req *req, char *err,
                     int errlen)
{
    json_error_t jerr;
    json_t *root, *v;
    const char *key;

    memset(req, 0, sizeof(*req));
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        ERR("invalid JSON: %s", jerr.text);
    if (!json_is_object(root))
        ERR("body must be a JSON object");

    v = json_object_get(root, "sandboxID");
    if (!json_is_string(v) || !cube_id_valid(json_string_value(v), CUBE_SANDBOX_ID_LEN))
        ERR("sandboxID must be 1-%d chars of [a-z0-9]", CUBE_SANDBOX_ID_LEN);
    snprintf(req->sandbox_id, sizeof(req->sandbox_id), "%s", json_string_value(v));

    v = json_object_get(root, "templateID");
    if (!json_is_string(v) || !template_ref_valid(json_string_value(v)))
        ERR("templateID is missing or malformed");
    snprintf(req->template_ref, sizeof(req->template_ref), "%s", json_string_value(v));

    if (opt_int(root, "cpuCount", 1, REQ_CPU_MAX, &req->cpu) < 0)
        ERR("cpuCount must be an integer in 1..%d", REQ_CPU_MAX);
    if (opt_int(root, "memoryMB", REQ_MEM_MIN_MB, REQ_MEM_MAX_MB, &req->mem_mb) < 0)
        ERR("memoryMB must be an integer in %d..%d", REQ_MEM_MIN_MB, REQ_MEM_MAX_MB);
    if (opt_str(root, "defaultUser", "user", req->default_user,
                sizeof(req->default_user)) < 0)
        ERR("defaultUser must be a short string");
    if (opt_str(root, "defaultWorkdir", "/home/user", req->default_workdir,
                sizeof(req->default_workdir)) < 0 ||
        req->default_workdir[0] != '/')
        ERR("defaultWorkdir must be an absolute path");

    if (net_policy_parse(root, 0, &req->net, err, errlen) < 0)
        goto fail;
    if (sb_lifecycle_from_json(json_object_get(root, "lifecycle"), &req->life) < 0)
        ERR("lifecycle must be {autoPause, autoResume, privateTraffic: booleans, "
            "timeout, "
            "endAtMs: integers >= 0}");

    v = json_object_get(root, "accessToken");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || json_string_length(v) > 256)
            ERR("accessToken must be a string");
        req->access_token = strdup(json_string_value(v));
        if (!req->access_token)
            ERR("out of memory");
    }

    v = json_object_get(root, "envVars");
    if (v && !json_is_null(v)) {
        json_t *val;
        if (!json_is_object(v))
            ERR("envVars must be an object");
        json_object_foreach(v, key, val)
        {
            if (!json_is_string(val))
                ERR("envVars.%.64s must be a string", key);
            if (key[0] == '\0' || strchr(key, '='))
                ERR("envVars has an invalid name");
        }
        req->env_vars = json_incref(v);
    } else {
        req->env_vars = json_object();
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    create_req_free(req);
    return -1;
}

void create_req_free(struct create_req *req)
{
    json_decref(req->env_vars);
    free(req->access_token);
    req->env_vars = NULL;
    req->access_token = NULL;
}

char *create_req_init_body(const struct create_req *req, const char *template_id)
{
    json_t *o;
    char *s;

    o = json_pack("{s:O, s:s, s:s, s:s, s:s, s:s}", "envVars", req->env_vars,
                  "accessToken", req->access_token ? req->access_token : "",
                  "defaultUser", req->default_user, "defaultWorkdir",
                  req->default_workdir, "sandboxID", req->sandbox_id, "templateID",
                  template_id);
    if (!o)
        return NULL;
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}
