/* User lookup. See envd_user.h. */
#include "envd_user.h"

#include "envd_env.h"
#include "envd_path.h"

#include <errno.h>
#include <event2/keyvalq_struct.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int envd_user_lookup(const char *name, struct envd_user *u, char *err, size_t errlen)
{
    struct passwd pw, *res = NULL;
    long bufsz = sysconf(_SC_GETPW_R_SIZE_MAX);
    char *buf;
    int rc, n;

    memset(u, 0, sizeof(*u));
    if (bufsz < 16384)
        bufsz = 16384;
    buf = malloc((size_t)bufsz);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = getpwnam_r(name, &pw, buf, (size_t)bufsz, &res);
    if (rc != 0 || !res) {
        free(buf);
        snprintf(err, errlen, "user '%s' does not exist%s%s", name, rc ? ": " : "",
                 rc ? strerror(rc) : "");
        return -1;
    }
    u->name = strdup(pw.pw_name);
    u->home = strdup(pw.pw_dir && *pw.pw_dir ? pw.pw_dir : "/");
    u->shell = strdup(pw.pw_shell ? pw.pw_shell : "");
    u->uid = pw.pw_uid;
    u->gid = pw.pw_gid;
    free(buf);
    /* Supplementary groups, resolved now so the child only has to call
     * setgroups(2) (getgrouplist is not async-signal-safe). */
    n = 32;
    for (;;) {
        int want = n;
        gid_t *g = realloc(u->groups, (size_t)n * sizeof(gid_t));
        if (!g)
            break;
        u->groups = g;
        if (getgrouplist(u->name ? u->name : name, u->gid, u->groups, &want) >= 0) {
            u->ngroups = want;
            break;
        }
        if (want <= n || want > 65536)
            break;
        n = want;
    }
    if (!u->name || !u->home || !u->shell || !u->groups) {
        envd_user_free(u);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (u->ngroups == 0) {
        u->groups[0] = u->gid;
        u->ngroups = 1;
    }
    return 0;
}

int envd_user_from_request(struct evhttp_request *req, struct envd_user *u, char *err,
                           size_t errlen)
{
    const char *auth =
        evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    char name[256];

    name[0] = '\0';
    /* Other schemes (say, a proxy's Bearer token) do not name a user. */
    if (auth && strncasecmp(auth, "Basic", 5) == 0 &&
        envd_basic_auth_user(auth, name, sizeof(name)) != 0) {
        snprintf(err, errlen, "invalid Authorization header");
        return -1;
    }
    if (!name[0])
        snprintf(name, sizeof(name), "%s", envd_env_default_user());
    return envd_user_lookup(name, u, err, errlen);
}

void envd_user_free(struct envd_user *u)
{
    free(u->name);
    free(u->home);
    free(u->shell);
    free(u->groups);
    memset(u, 0, sizeof(*u));
}
