/* Pure helpers of the Cube gateway (see cube_gw.h). No nginx types, no I/O. */
#include "cube_gw.h"
#include "cube_time.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

/* ================================================================ small utils */

static int str_eq(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(s, lit, n) == 0;
}

static int ci_eq(const char *a, size_t alen, const char *lit)
{
    size_t n = strlen(lit);
    if (alen != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)lit[i]))
            return 0;
    }
    return 1;
}

static void copy_str(char *out, size_t outlen, const char *s)
{
    if (outlen == 0)
        return;
    snprintf(out, outlen, "%s", s ? s : "");
}

/* ================================================================ ids + routes */

int cube_sandbox_id_normalize(const char *in, size_t len, char *out)
{
    size_t n = 0;

    if (in == NULL)
        return -1;
    while (n < len && in[n] != '-')
        n++;
    if (n == 0 || n > CUBE_GW_ID_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return -1;
    }
    /* The client-id suffix must itself be sane (no '/', no control chars). */
    for (size_t i = n + 1; i < len; i++) {
        char c = in[i];
        if (!(isalnum((unsigned char)c) || c == '-'))
            return -1;
    }
    memcpy(out, in, n);
    out[n] = '\0';
    return 0;
}

static const char *const not_impl_subpaths[] = {
    "fork",  "snapshots", "logs", NULL};

static void set_405(cube_route_match_t *m, const char *allow)
{
    m->status = 405;
    m->allow = allow;
}

void cube_route_match(enum cube_method method, const char *path, size_t len,
                      cube_route_match_t *m)
{
    const char *p;
    size_t plen, idlen;
    int v2 = 0;

    memset(m, 0, sizeof(*m));
    m->route = CUBE_ROUTE_NONE;
    m->status = 404;

    if (str_eq(path, len, "/health")) {
        m->route = CUBE_ROUTE_HEALTH;
        if (method == CUBE_M_GET || method == CUBE_M_HEAD)
            m->status = 0;
        else
            set_405(m, "GET, HEAD");
        return;
    }

    if (len >= 3 && memcmp(path, "/v2", 3) == 0) {
        v2 = 1;
        path += 3;
        len -= 3;
    }
    if (len < 10 || memcmp(path, "/sandboxes", 10) != 0)
        return;
    p = path + 10;
    plen = len - 10;

    if (plen == 0) {
        if (method == CUBE_M_GET) {
            m->route = v2 ? CUBE_ROUTE_LIST_V2 : CUBE_ROUTE_LIST_V1;
            m->status = 0;
        } else if (method == CUBE_M_POST) {
            m->route = v2 ? CUBE_ROUTE_CREATE_V2 : CUBE_ROUTE_CREATE_V1;
            m->status = 0;
        } else {
            m->route = v2 ? CUBE_ROUTE_LIST_V2 : CUBE_ROUTE_LIST_V1;
            set_405(m, "GET, POST");
        }
        return;
    }
    if (p[0] != '/' || plen == 1)
        return;
    p++;
    plen--;

    idlen = 0;
    while (idlen < plen && p[idlen] != '/')
        idlen++;

    if (cube_sandbox_id_normalize(p, idlen, m->id) != 0) {
        m->route = CUBE_ROUTE_GET;
        m->status = 400;
        return;
    }

    if (idlen == plen) {
        if (v2)
            return; /* no /v2/sandboxes/{id} */
        m->route = method == CUBE_M_DELETE ? CUBE_ROUTE_DELETE : CUBE_ROUTE_GET;
        if (method == CUBE_M_GET || method == CUBE_M_DELETE)
            m->status = 0;
        else
            set_405(m, "GET, DELETE");
        return;
    }

    p += idlen + 1;
    plen -= idlen + 1;
    if (str_eq(p, plen, "timeout") || str_eq(p, plen, "connect")) {
        int connect = p[0] == 'c';
        if (v2 && !connect)
            return;
        m->route = connect ? (v2 ? CUBE_ROUTE_CONNECT_V2 : CUBE_ROUTE_CONNECT_V1)
                           : CUBE_ROUTE_TIMEOUT;
        if (method == CUBE_M_POST)
            m->status = 0;
        else
            set_405(m, "POST");
        return;
    }

    if (!v2 && str_eq(p, plen, "metrics")) {
        m->route = CUBE_ROUTE_METRICS;
        if (method == CUBE_M_GET)
            m->status = 0;
        else
            set_405(m, "GET");
        return;
    }
    if (!v2 && str_eq(p, plen, "refreshes")) {
        m->route = CUBE_ROUTE_REFRESH;
        if (method == CUBE_M_POST)
            m->status = 0;
        else
            set_405(m, "POST");
        return;
    }
    if (!v2 && (str_eq(p, plen, "pause") || str_eq(p, plen, "resume"))) {
        m->route = p[0] == 'p' ? CUBE_ROUTE_PAUSE : CUBE_ROUTE_RESUME;
        if (method == CUBE_M_POST)
            m->status = 0;
        else
            set_405(m, "POST");
        return;
    }

    if (!v2 && str_eq(p, plen, "network")) {
        m->route = CUBE_ROUTE_NETWORK;
        if (method == CUBE_M_PUT)
            m->status = 0;
        else
            set_405(m, "PUT");
        return;
    }
    /* /sandboxes/{id}/<sub>: known E2B operations this version does not serve. */
    for (size_t i = 0; not_impl_subpaths[i]; i++) {
        size_t n = strlen(not_impl_subpaths[i]);
        if (plen >= n && memcmp(p, not_impl_subpaths[i], n) == 0 &&
            (plen == n || p[n] == '/')) {
            m->route = CUBE_ROUTE_NOT_IMPLEMENTED;
            m->status = 0;
            return;
        }
    }
}

int cube_refresh_body_parse(const char *body, size_t len, long long *out, char *err,
                            size_t errlen)
{
    json_t *root, *v;
    json_error_t jerr;
    long long d = CUBE_GW_REFRESH_MIN;

    *out = d;
    if (len == 0)
        return 0;
    root = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        copy_str(err, errlen, "Request body must be a JSON object");
        return 400;
    }
    v = json_object_get(root, "duration");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > CUBE_GW_REFRESH_MAX) {
            json_decref(root);
            (void)snprintf(err, errlen, "'duration' must be an integer from 0 to %d",
                           CUBE_GW_REFRESH_MAX);
            return 400;
        }
        d = (long long)json_integer_value(v);
    }
    json_decref(root);
    *out = d < CUBE_GW_REFRESH_MIN ? CUBE_GW_REFRESH_MIN : d;
    return 0;
}

/* ================================================================ create body */

static int template_ref_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CUBE_GW_TEMPLATE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '/'))
            return 0;
    }
    return 1;
}

static int string_map_ok(const json_t *o)
{
    const char *k;
    json_t *v;

    if (!json_is_object(o))
        return 0;
    json_object_foreach((json_t *)o, k, v) {
        if (!json_is_string(v))
            return 0;
    }
    return 1;
}

static int opt_bool(json_t *root, const char *key, int *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        snprintf(err, errlen, "'%s' must be a boolean", key);
        return 400;
    }
    *out = json_is_true(v) ? 1 : 0;
    return 0;
}

void cube_create_req_free(cube_create_req_t *req)
{
    if (req == NULL)
        return;
    json_decref(req->metadata);
    json_decref(req->env_vars);
    json_decref(req->network);
    req->metadata = req->env_vars = req->network = NULL;
}

int cube_create_parse(const char *body, size_t len, int v2, cube_create_req_t *out,
                      char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root, *v;
    int rc;

    memset(out, 0, sizeof(*out));
    out->allow_internet = -1;
    out->secure = -1;
    out->timeout = v2 ? 300 : 15;
    copy_str(out->template_ref, sizeof(out->template_ref), "base");

    if (len == 0) {
        root = json_object();
    } else {
        root = json_loadb(body, len, 0, &jerr);
        if (root == NULL) {
            snprintf(err, errlen, "Error when parsing request: %s", jerr.text);
            return 400;
        }
    }
    if (!json_is_object(root)) {
        json_decref(root);
        copy_str(err, errlen, "Error when parsing request: body must be a JSON object");
        return 400;
    }

    v = json_object_get(root, "templateID");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v) || !template_ref_ok(json_string_value(v))) {
            copy_str(err, errlen, "Invalid template reference");
            goto bad;
        }
        copy_str(out->template_ref, sizeof(out->template_ref), json_string_value(v));
    }

    v = json_object_get(root, "timeout");
    if (v != NULL && !json_is_null(v)) {
        if (json_is_integer(v)) {
            out->timeout = json_integer_value(v);
        } else if (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v) &&
                   json_real_value(v) > -1e12 && json_real_value(v) < 1e12) {
            out->timeout = (long long)json_real_value(v);
        } else {
            copy_str(err, errlen, "'timeout' must be an integer number of seconds");
            goto bad;
        }
        out->timeout_set = 1;
        if (out->timeout <= 0) {
            copy_str(err, errlen, "Timeout must be greater than 0 seconds");
            goto bad;
        }
        if (out->timeout > CUBE_GW_MAX_TIMEOUT) {
            copy_str(err, errlen, "Timeout cannot be greater than 24 hours");
            goto bad;
        }
    }

    v = json_object_get(root, "metadata");
    if (v != NULL && !json_is_null(v)) {
        if (!string_map_ok(v)) {
            copy_str(err, errlen, "'metadata' must be a map of strings");
            goto bad;
        }
        out->metadata = json_incref(v);
    } else {
        out->metadata = json_object();
    }

    v = json_object_get(root, "envVars");
    if (v != NULL && !json_is_null(v)) {
        if (!string_map_ok(v)) {
            copy_str(err, errlen, "'envVars' must be a map of strings");
            goto bad;
        }
        out->env_vars = json_incref(v);
    } else {
        out->env_vars = json_object();
    }

    v = json_object_get(root, "network");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_object(v)) {
            copy_str(err, errlen, "'network' must be an object");
            goto bad;
        }
        out->network = json_incref(v);
    }

    if ((rc = opt_bool(root, "autoPause", &out->auto_pause, err, errlen)) != 0)
        goto bad_rc;
    if ((rc = opt_bool(root, "allow_internet_access", &out->allow_internet, err, errlen)) != 0)
        goto bad_rc;
    if ((rc = opt_bool(root, "secure", &out->secure, err, errlen)) != 0)
        goto bad_rc;

    v = json_object_get(root, "autoResume");
    if (v != NULL && !json_is_null(v)) {
        if (json_is_boolean(v)) {
            out->auto_resume = json_is_true(v);
        } else if (json_is_object(v)) {
            json_t *en = json_object_get(v, "enabled");
            if (en != NULL && !json_is_null(en) && !json_is_boolean(en)) {
                copy_str(err, errlen, "'autoResume.enabled' must be a boolean");
                goto bad;
            }
            out->auto_resume = json_is_true(en);
        } else {
            copy_str(err, errlen, "'autoResume' must be an object");
            goto bad;
        }
    }

    json_decref(root);
    return 0;

bad:
    rc = 400;
bad_rc:
    json_decref(root);
    cube_create_req_free(out);
    return rc;
}

int cube_timeout_body_parse(const char *body, size_t len, int required, long long dflt,
                            long long *out, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root, *v;
    int rc = 400;

    root = len ? json_loadb(body, len, 0, &jerr) : json_object();
    if (root == NULL) {
        snprintf(err, errlen, "Error when parsing request: %s", jerr.text);
        return 400;
    }
    if (!json_is_object(root)) {
        copy_str(err, errlen, "Error when parsing request: body must be a JSON object");
        goto out;
    }
    v = json_object_get(root, "timeout");
    if (v == NULL || json_is_null(v)) {
        if (required) {
            copy_str(err, errlen, "'timeout' is required");
            goto out;
        }
        *out = dflt;
        rc = 0;
        goto out;
    }
    if (!json_is_integer(v)) {
        copy_str(err, errlen, "'timeout' must be an integer number of seconds");
        goto out;
    }
    *out = json_integer_value(v);
    if (*out <= 0) {
        copy_str(err, errlen, "Timeout must be greater than 0 seconds");
        goto out;
    }
    if (*out > CUBE_GW_MAX_TIMEOUT) {
        copy_str(err, errlen, "Timeout cannot be greater than 24 hours");
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

char *cube_worker_create_body(const char *sandbox_id, const char *template_id,
                              const char *token, long cpu, long mem_mb,
                              const cube_create_req_t *c, long long end_at_ms)
{
    json_t *o;
    char *s;

    o = json_pack("{s:s, s:s, s:O, s:s, s:I, s:I, s:s, s:s, s:{s:b, s:b, s:b, s:I, s:I}}",
                  "sandboxID", sandbox_id, "templateID", template_id, "envVars",
                  c->env_vars ? c->env_vars : json_object(), "accessToken", token,
                  "cpuCount", (json_int_t)cpu, "memoryMB", (json_int_t)mem_mb,
                  "defaultUser", "user", "defaultWorkdir", "/home/user", "lifecycle",
                  "autoPause", c->auto_pause, "autoResume", c->auto_resume,
                  "privateTraffic", cube_network_private_traffic(c->network), "timeout",
                  (json_int_t)c->timeout, "endAtMs", (json_int_t)end_at_ms);
    if (o == NULL)
        return NULL;
    /* The worker enforces (and validates) the egress policy. */
    if (c->allow_internet >= 0)
        json_object_set_new(o, "allow_internet_access", json_boolean(c->allow_internet));
    if (c->network)
        json_object_set(o, "network", c->network);
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* ================================================================ JSON documents */

static char *dump_and_free(json_t *o)
{
    char *s;
    if (o == NULL)
        return NULL;
    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

char *cube_json_error(int code, const char *msg)
{
    return dump_and_free(json_pack("{s:i, s:s}", "code", code, "message", msg ? msg : ""));
}

char *cube_json_router_error(const char *sandbox_id, const char *msg, int code)
{
    return dump_and_free(json_pack("{s:s, s:s, s:i}", "sandboxId",
                                   sandbox_id ? sandbox_id : "", "message", msg ? msg : "",
                                   "code", code));
}

int cube_semver_ok(const char *s)
{
    int parts = 0, digits = 0;

    if (s == NULL || *s == '\0' || strlen(s) > 32)
        return 0;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9') {
            digits++;
        } else if (*s == '.') {
            if (digits == 0)
                return 0;
            parts++;
            digits = 0;
        } else {
            return 0;
        }
    }
    return parts == 2 && digits > 0;
}

static const char *envd_version_or_default(const char *v)
{
    return cube_semver_ok(v) ? v : CUBE_GW_DEFAULT_ENVD_VERSION;
}

void cube_sb_record_from_pairs(const char *const *kv, size_t n, cube_sb_record_t *rec)
{
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {
#define F(x) {#x, offsetof(cube_sb_record_t, x)}
        F(id),         F(template_id), F(alias),        F(node),     F(addr),
        F(state),      F(started_at),  F(end_at),       F(cpu),      F(mem_mb),
        F(disk_mb),    F(metadata),    F(client_id),    F(envd_version),
        F(auto_pause), F(auto_resume), F(allow_internet), F(network),
        F(traffic_token),
#undef F
    };

    memset(rec, 0, sizeof(*rec));
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (kv[i] == NULL)
            continue;
        for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
            if (strcmp(kv[i], fields[f].name) == 0) {
                *(const char **)((char *)rec + fields[f].off) = kv[i + 1];
                break;
            }
        }
    }
}

char *cube_json_sandbox(const char *sandbox_id, const char *template_id, const char *alias,
                        const char *client_id, const char *envd_version, const char *token)
{
    return cube_json_sandbox_ex(sandbox_id, template_id, alias, client_id, envd_version, token,
                                NULL);
}

int cube_network_private_traffic(const json_t *network)
{
    return json_is_object(network) &&
           json_is_false(json_object_get(network, "allowPublicTraffic"));
}

char *cube_json_sandbox_ex(const char *sandbox_id, const char *template_id, const char *alias,
                           const char *client_id, const char *envd_version, const char *token,
                           const char *traffic_token)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "sandboxID", json_string(sandbox_id));
    json_object_set_new(o, "templateID", json_string(template_id));
    if (alias && *alias)
        json_object_set_new(o, "alias", json_string(alias));
    json_object_set_new(o, "clientID", json_string(client_id && *client_id ? client_id : "cube"));
    json_object_set_new(o, "envdVersion", json_string(envd_version_or_default(envd_version)));
    json_object_set_new(o, "envdAccessToken", token ? json_string(token) : json_null());
    json_object_set_new(o, "trafficAccessToken",
                        traffic_token ? json_string(traffic_token) : json_null());
    json_object_set_new(o, "domain", json_null());
    return dump_and_free(o);
}

static json_int_t num_or(const char *s, json_int_t dflt)
{
    char *end;
    long long v;

    if (s == NULL || *s == '\0')
        return dflt;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return dflt;
    return (json_int_t)v;
}

static json_t *str_or_empty(const char *s)
{
    json_t *j = json_string(s ? s : "");
    return j ? j : json_string("");
}

json_t *cube_json_listed(const cube_sb_record_t *rec)
{
    json_t *o = json_object(), *md = NULL;

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "sandboxID", str_or_empty(rec->id));
    json_object_set_new(o, "templateID", str_or_empty(rec->template_id));
    if (rec->alias && *rec->alias)
        json_object_set_new(o, "alias", str_or_empty(rec->alias));
    json_object_set_new(o, "clientID",
                        str_or_empty(rec->client_id && *rec->client_id ? rec->client_id
                                                                       : "cube"));
    json_object_set_new(o, "startedAt", str_or_empty(rec->started_at));
    json_object_set_new(o, "endAt", str_or_empty(rec->end_at));
    json_object_set_new(o, "cpuCount", json_integer(num_or(rec->cpu, 0)));
    json_object_set_new(o, "memoryMB", json_integer(num_or(rec->mem_mb, 0)));
    json_object_set_new(o, "diskSizeMB", json_integer(num_or(rec->disk_mb, 0)));
    json_object_set_new(o, "envdVersion",
                        json_string(envd_version_or_default(rec->envd_version)));
    json_object_set_new(o, "state",
                        str_or_empty(rec->state && *rec->state ? rec->state : "running"));
    if (rec->metadata && *rec->metadata)
        md = json_loads(rec->metadata, 0, NULL);
    if (!string_map_ok(md)) {
        json_decref(md);
        md = json_object();
    }
    json_object_set_new(o, "metadata", md);
    json_object_set_new(o, "volumeMounts", json_array());
    return o;
}

static int flag_on(const char *s)
{
    return s && (strcmp(s, "1") == 0 || strcmp(s, "true") == 0);
}

char *cube_json_detail(const cube_sb_record_t *rec, const char *token)
{
    json_t *o = cube_json_listed(rec), *net = NULL;

    if (o == NULL)
        return NULL;
    json_object_set_new(o, "envdAccessToken", token ? json_string(token) : json_null());
    json_object_set_new(o, "domain", json_null());
    if (rec->allow_internet && *rec->allow_internet)
        json_object_set_new(o, "allowInternetAccess", json_boolean(flag_on(rec->allow_internet)));
    else
        json_object_set_new(o, "allowInternetAccess", json_null());
    if (rec->network && *rec->network)
        net = json_loads(rec->network, 0, NULL);
    if (json_is_object(net))
        json_object_set_new(o, "network", net);
    else
        json_decref(net);
    json_object_set_new(o, "lifecycle",
                        json_pack("{s:s, s:b}", "onTimeout",
                                  flag_on(rec->auto_pause) ? "pause" : "kill", "autoResume",
                                  flag_on(rec->auto_resume)));
    return dump_and_free(o);
}

void cube_worker_error_message(const char *body, size_t len, int status, char *out,
                               size_t outlen)
{
    json_t *root = NULL, *m;

    if (body && len)
        root = json_loadb(body, len, 0, NULL);
    m = json_is_object(root) ? json_object_get(root, "message") : NULL;
    if (json_is_string(m) && json_string_length(m) > 0)
        snprintf(out, outlen, "%s", json_string_value(m));
    else
        snprintf(out, outlen, "worker error %d", status);
    json_decref(root);
}

/* ================================================================ list query */

long cube_url_decode(const char *in, size_t len, char *out, int plus_space)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return -1;
            hi = isxdigit((unsigned char)in[i + 1]) ? in[i + 1] : -1;
            lo = isxdigit((unsigned char)in[i + 2]) ? in[i + 2] : -1;
            if (hi < 0 || lo < 0)
                return -1;
            hi = isdigit(hi) ? hi - '0' : (tolower(hi) - 'a' + 10);
            lo = isdigit(lo) ? lo - '0' : (tolower(lo) - 'a' + 10);
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return (long)o;
}

/* Decode in[0..len) into a fresh malloc'd string (NULL on a bad escape). */
static char *decode_dup(const char *in, size_t len, int plus_space)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    if (cube_url_decode(in, len, out, plus_space) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

static int parse_metadata_filter(const char *val, json_t *md, char *err, size_t errlen)
{
    /* val is the query value decoded once; decode again, split, decode k and v. */
    char *twice = decode_dup(val, strlen(val), 1);
    const char *p;
    int rc = 0;

    if (twice == NULL) {
        copy_str(err, errlen, "Invalid metadata filter");
        return 400;
    }
    p = twice;
    while (*p) {
        const char *amp = strchr(p, '&'), *eq;
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        char *k, *v;

        if (plen == 0) {
            p += amp ? 1 : 0;
            if (!amp)
                break;
            continue;
        }
        eq = memchr(p, '=', plen);
        if (eq == NULL || memchr(eq + 1, '=', plen - (size_t)(eq + 1 - p)) != NULL) {
            copy_str(err, errlen, "Invalid metadata filter: expected key=value pairs");
            rc = 400;
            break;
        }
        k = decode_dup(p, (size_t)(eq - p), 1);
        v = decode_dup(eq + 1, plen - (size_t)(eq + 1 - p), 1);
        if (k == NULL || v == NULL) {
            free(k);
            free(v);
            copy_str(err, errlen, "Invalid metadata filter");
            rc = 400;
            break;
        }
        json_object_set_new(md, k, json_string(v));
        free(k);
        free(v);
        if (!amp)
            break;
        p = amp + 1;
    }
    free(twice);
    return rc;
}

void cube_list_query_free(cube_list_query_t *q)
{
    if (q) {
        json_decref(q->metadata);
        q->metadata = NULL;
    }
}

int cube_list_query_parse(const char *args, size_t len, int v2, cube_list_query_t *q,
                          char *err, size_t errlen)
{
    size_t i = 0;
    int rc = 0;

    memset(q, 0, sizeof(*q));
    q->want_running = 1;
    q->want_paused = v2;
    q->desc = 1;
    q->limit = v2 ? 100 : 1000000;

    while (i < len && rc == 0) {
        size_t j = i, eq;
        char *key, *val;

        while (j < len && args[j] != '&')
            j++;
        if (j == i) {
            i = j + 1;
            continue;
        }
        eq = i;
        while (eq < j && args[eq] != '=')
            eq++;
        key = decode_dup(args + i, eq - i, 1);
        val = eq < j ? decode_dup(args + eq + 1, j - eq - 1, 1) : decode_dup("", 0, 1);
        if (key == NULL || val == NULL) {
            copy_str(err, errlen, "Invalid query string");
            rc = 400;
        } else if (strcmp(key, "metadata") == 0) {
            if (q->metadata == NULL)
                q->metadata = json_object();
            rc = parse_metadata_filter(val, q->metadata, err, errlen);
        } else if (strcmp(key, "state") == 0 && v2) {
            char *save = NULL, *tok;
            q->want_running = q->want_paused = 0;
            for (tok = strtok_r(val, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (strcmp(tok, "running") == 0)
                    q->want_running = 1;
                else if (strcmp(tok, "paused") == 0)
                    q->want_paused = 1;
                else {
                    snprintf(err, errlen, "Invalid state '%.40s'", tok);
                    rc = 400;
                    break;
                }
            }
            if (rc == 0 && !q->want_running && !q->want_paused)
                q->want_running = q->want_paused = 1;
        } else if (strcmp(key, "limit") == 0 && v2) {
            char *end;
            long v;
            errno = 0;
            v = strtol(val, &end, 10);
            if (errno || *val == '\0' || *end != '\0' || v < 1 || v > 100) {
                copy_str(err, errlen, "'limit' must be between 1 and 100");
                rc = 400;
            } else {
                q->limit = v;
            }
        } else if (strcmp(key, "order") == 0 && v2) {
            if (strcmp(val, "asc") == 0)
                q->desc = 0;
            else if (strcmp(val, "desc") == 0)
                q->desc = 1;
            else {
                copy_str(err, errlen, "'order' must be 'asc' or 'desc'");
                rc = 400;
            }
        } else if (strcmp(key, "nextToken") == 0 && v2) {
            long long ms;
            char id[CUBE_GW_ID_MAX + 1];
            if (*val && cube_list_cursor_parse(val, &ms, id) != 0) {
                copy_str(err, errlen, "Invalid next token");
                rc = 400;
            } else {
                copy_str(q->next_token, sizeof(q->next_token), val);
            }
        } else if (strcmp(key, "template") == 0 && v2) {
            if (strlen(val) > CUBE_GW_TEMPLATE_MAX) {
                copy_str(err, errlen, "Invalid template");
                rc = 400;
            } else {
                copy_str(q->template_ref, sizeof(q->template_ref), val);
            }
        } else if (strcmp(key, "startedAfter") == 0 && v2) {
            int64_t ms;
            if (cube_rfc3339_parse(val, &ms) != 0) {
                copy_str(err, errlen, "'startedAfter' must be an RFC 3339 time");
                rc = 400;
            } else {
                q->started_after_ms = ms;
            }
        }
        /* other parameters are ignored */
        free(key);
        free(val);
        i = j + 1;
    }
    if (rc != 0)
        cube_list_query_free(q);
    return rc;
}

int cube_list_match(const cube_list_query_t *q, const cube_sb_record_t *rec)
{
    const char *state = rec->state && *rec->state ? rec->state : "running";
    json_t *md;
    const char *k;
    json_t *v;
    int ok = 1;

    if (strcmp(state, "running") == 0) {
        if (!q->want_running)
            return 0;
    } else if (strcmp(state, "paused") == 0) {
        if (!q->want_paused)
            return 0;
    } else {
        return 0;
    }
    /* A template filter matches the template's id or its alias (unknown: no match,
     * so the answer is an empty list rather than 404). */
    if (q->template_ref[0] &&
        !((rec->template_id && strcmp(rec->template_id, q->template_ref) == 0) ||
          (rec->alias && strcmp(rec->alias, q->template_ref) == 0)))
        return 0;
    if (q->started_after_ms > 0) {
        int64_t started;
        if (!rec->started_at || cube_rfc3339_parse(rec->started_at, &started) != 0 ||
            started < q->started_after_ms)
            return 0;
    }
    if (q->metadata == NULL || json_object_size(q->metadata) == 0)
        return 1;
    md = rec->metadata ? json_loads(rec->metadata, 0, NULL) : NULL;
    if (!json_is_object(md)) {
        json_decref(md);
        return 0;
    }
    json_object_foreach(q->metadata, k, v) {
        json_t *have = json_object_get(md, k);
        if (!json_is_string(have) || strcmp(json_string_value(have), json_string_value(v)) != 0) {
            ok = 0;
            break;
        }
    }
    json_decref(md);
    return ok;
}

int cube_list_cursor_parse(const char *tok, long long *ms, char *id)
{
    const char *us = strchr(tok, '_');
    char *end;
    size_t n;

    if (us == NULL || us == tok)
        return -1;
    for (const char *p = tok; p < us; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
    }
    if (us - tok > 18)
        return -1;
    *ms = strtoll(tok, &end, 10);
    n = strlen(us + 1);
    if (n == 0 || n > CUBE_GW_ID_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = us[1 + i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return -1;
    }
    memcpy(id, us + 1, n + 1);
    return 0;
}

int cube_list_cmp(long long ms_a, const char *id_a, long long ms_b, const char *id_b,
                  int desc)
{
    /* desc: newest first, ties by id ascending; asc: the exact reverse. */
    int c;
    if (ms_a != ms_b)
        c = ms_a > ms_b ? -1 : 1;
    else
        c = strcmp(id_a, id_b) < 0 ? -1 : (strcmp(id_a, id_b) > 0 ? 1 : 0);
    return desc ? c : -c;
}

/* ================================================================ router */

int cube_parse_port(const char *s, size_t len)
{
    int v = 0;

    if (len == 0 || len > 5)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return (v >= 1 && v <= 65535) ? v : -1;
}

int cube_host_route(const char *host, size_t hlen, const char *domain, size_t dlen,
                    int *port, char *id)
{
    size_t label_len, dash;

    if (host == NULL || domain == NULL || dlen == 0 || hlen == 0 || host[0] == '[')
        return -1;
    /* strip ":port" */
    for (size_t i = 0; i < hlen; i++) {
        if (host[i] == ':') {
            hlen = i;
            break;
        }
    }
    if (hlen > 0 && host[hlen - 1] == '.')
        hlen--;
    if (dlen > 0 && domain[dlen - 1] == '.')
        dlen--;
    if (hlen < dlen + 2 || host[hlen - dlen - 1] != '.')
        return -1;
    for (size_t i = 0; i < dlen; i++) {
        if (tolower((unsigned char)host[hlen - dlen + i]) != tolower((unsigned char)domain[i]))
            return -1;
    }
    label_len = hlen - dlen - 1;
    for (size_t i = 0; i < label_len; i++) {
        if (host[i] == '.')
            return -1;
    }
    dash = 0;
    while (dash < label_len && host[dash] != '-')
        dash++;
    if (dash == label_len)
        return -1;
    *port = cube_parse_port(host, dash);
    if (*port < 0)
        return -1;
    {
        char low[CUBE_GW_ID_MAX * 2 + 2];
        size_t n = label_len - dash - 1;
        if (n == 0 || n >= sizeof(low))
            return -1;
        for (size_t i = 0; i < n; i++)
            low[i] = (char)tolower((unsigned char)host[dash + 1 + i]);
        return cube_sandbox_id_normalize(low, n, id);
    }
}

int cube_envd_path_refused(int port, const char *path, size_t len)
{
    static const char *const paths[] = {"/init",    "/freeze", "/unfreeze", "/collapse",
                                        "/fsfreeze", "/fsthaw", "/upgrade",  NULL};
    if (port != 49983)
        return 0;
    while (len > 1 && path[len - 1] == '/')
        len--;
    for (size_t i = 0; paths[i]; i++) {
        if (ci_eq(path, len, paths[i]))
            return 1;
    }
    return 0;
}

/* ================================================================ HTTP response */

static const char *find_crlfcrlf(const char *buf, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++) {
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return buf + i;
    }
    return NULL;
}

static int header_contains_token(const char *v, size_t vlen, const char *tok)
{
    size_t n = strlen(tok);
    for (size_t i = 0; i + n <= vlen; i++) {
        if (ci_eq(v + i, n, tok))
            return 1;
    }
    return 0;
}

/* 1 complete (out_len set), 0 incomplete, -1 malformed. */
static int dechunk(const char *in, size_t len, char *out, size_t *out_len)
{
    size_t i = 0, o = 0;

    for (;;) {
        unsigned long long size = 0;
        int nd = 0;

        while (i < len && isxdigit((unsigned char)in[i])) {
            int c = tolower((unsigned char)in[i]);
            size = size * 16 + (unsigned)(isdigit(c) ? c - '0' : c - 'a' + 10);
            if (++nd > 12)
                return -1;
            i++;
        }
        if (i >= len)
            return 0;
        if (nd == 0)
            return -1;
        /* chunk extensions: ";name=value" (or whitespace before them) */
        if (i < len && in[i] != '\r' && in[i] != ';' && in[i] != ' ' && in[i] != '\t')
            return -1;
        while (i < len && in[i] != '\r' && in[i] != '\n')
            i++;
        if (i + 1 >= len)
            return 0;
        if (in[i] != '\r' || in[i + 1] != '\n')
            return -1;
        i += 2;
        if (size == 0) {
            /* trailers until an empty line */
            for (;;) {
                size_t start = i;
                while (i + 1 < len && !(in[i] == '\r' && in[i + 1] == '\n'))
                    i++;
                if (i + 1 >= len)
                    return 0;
                i += 2;
                if (i - start == 2) {
                    *out_len = o;
                    return 1;
                }
            }
        }
        if (size > len - i)
            return 0;
        memcpy(out + o, in + i, (size_t)size);
        o += (size_t)size;
        i += (size_t)size;
        if (i + 1 >= len)
            return 0;
        if (in[i] != '\r' || in[i + 1] != '\n')
            return -1;
        i += 2;
    }
}

int cube_http_resp_parse(const char *buf, size_t len, int eof, char *scratch,
                         cube_http_resp_t *r)
{
    const char *end, *p, *line_end;
    size_t avail;

    for (;;) {
        memset(r, 0, sizeof(*r));
        r->content_length = -1;

        end = find_crlfcrlf(buf, len);
        if (end == NULL)
            return (eof || len > 65536) ? -1 : 0;
        r->header_len = (size_t)(end - buf) + 4;

        /* status line: HTTP/1.x SSS[ reason] */
        if (r->header_len < 14 || memcmp(buf, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)buf[7]) ||
            buf[8] != ' ' || !isdigit((unsigned char)buf[9]) ||
            !isdigit((unsigned char)buf[10]) || !isdigit((unsigned char)buf[11]) ||
            (buf[12] != ' ' && buf[12] != '\r'))
            return -1;
        r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
        if (r->status < 100 || r->status > 599)
            return -1;
        if (r->status >= 100 && r->status < 200 && r->status != 101) {
            buf += r->header_len;
            len -= r->header_len;
            continue;
        }
        break;
    }

    p = (const char *)memchr(buf, '\n', r->header_len) + 1;
    while (p < end + 2) {
        const char *colon;
        size_t nlen, vlen;
        const char *v;

        line_end = memchr(p, '\r', (size_t)(end + 2 - p));
        if (line_end == NULL || line_end[1] != '\n')
            return -1;
        if (line_end == p)
            break;
        colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon == NULL || colon == p)
            return -1;
        nlen = (size_t)(colon - p);
        v = colon + 1;
        while (v < line_end && (*v == ' ' || *v == '\t'))
            v++;
        vlen = (size_t)(line_end - v);
        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
        if (ci_eq(p, nlen, "content-length")) {
            long long cl = 0;
            if (vlen == 0 || vlen > 15)
                return -1;
            for (size_t i = 0; i < vlen; i++) {
                if (!isdigit((unsigned char)v[i]))
                    return -1;
                cl = cl * 10 + (v[i] - '0');
            }
            if (r->content_length >= 0 && r->content_length != cl)
                return -1;
            r->content_length = cl;
        } else if (ci_eq(p, nlen, "transfer-encoding")) {
            if (header_contains_token(v, vlen, "chunked"))
                r->chunked = 1;
        } else if (ci_eq(p, nlen, "connection")) {
            if (header_contains_token(v, vlen, "close"))
                r->conn_close = 1;
        }
        p = line_end + 2;
    }

    avail = len - r->header_len;
    if (r->status == 204 || r->status == 304) {
        r->body = buf + r->header_len;
        r->body_len = 0;
        return 1;
    }
    if (r->chunked) {
        size_t out_len = 0;
        int rc = dechunk(buf + r->header_len, avail, scratch, &out_len);
        if (rc == 0 && eof)
            return -1;
        if (rc != 1)
            return rc;
        r->body = scratch;
        r->body_len = out_len;
        return 1;
    }
    if (r->content_length >= 0) {
        if ((unsigned long long)avail < (unsigned long long)r->content_length)
            return eof ? -1 : 0;
        r->body = buf + r->header_len;
        r->body_len = (size_t)r->content_length;
        return 1;
    }
    if (!eof)
        return 0;
    r->body = buf + r->header_len;
    r->body_len = avail;
    return 1;
}

/* ================================================================ metrics */

static int parse_unix_arg(const char *v, size_t n, long long *out)
{
    long long x = 0;

    if (n == 0 || n > 15)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return 0;
}

int cube_metrics_query_parse(const char *args, size_t len, long long *start, long long *end,
                             char *err, size_t errlen)
{
    const char *p = args, *stop = args + len;

    *start = 0;
    *end = INT64_MAX / 1000;
    while (p < stop) {
        const char *amp = memchr(p, '&', (size_t)(stop - p));
        const char *e = amp ? amp : stop;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (eq) {
            size_t kl = (size_t)(eq - p), vl = (size_t)(e - eq - 1);
            long long *dst = NULL;
            if (kl == 5 && memcmp(p, "start", 5) == 0)
                dst = start;
            else if (kl == 3 && memcmp(p, "end", 3) == 0)
                dst = end;
            if (dst && parse_unix_arg(eq + 1, vl, dst) != 0) {
                snprintf(err, errlen, "invalid '%.*s': expected unix seconds", (int)kl, p);
                return 400;
            }
        }
        p = e + 1;
    }
    if (*start > *end) {
        snprintf(err, errlen, "start must not be after end");
        return 400;
    }
    return 0;
}

char *cube_metrics_filter(const char *const *samples, size_t n, long long start,
                          long long end)
{
    json_t *arr = json_array();
    char *out;

    if (arr == NULL)
        return NULL;
    for (size_t i = n; i-- > 0;) {
        json_t *m = json_loads(samples[i], 0, NULL);
        json_t *ts = m ? json_object_get(m, "timestampUnix") : NULL;
        if (json_is_integer(ts) && json_integer_value(ts) >= start &&
            json_integer_value(ts) <= end)
            json_array_append(arr, m);
        json_decref(m);
    }
    out = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return out;
}
