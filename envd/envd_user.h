/* Who a request acts as: the user named by `Authorization: Basic` (RPC) or the
 * default user from /init, looked up in the sandbox's user database. */
#ifndef ENVD_USER_H
#define ENVD_USER_H

#include <event2/http.h>
#include <stddef.h>
#include <sys/types.h>

struct envd_user {
    char *name;
    char *home;
    char *shell; /* may be empty */
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* supplementary groups, including gid */
    int ngroups;
};

/* Look a user up by name. Returns 0, or -1 with a message in err. */
int envd_user_lookup(const char *name, struct envd_user *u, char *err, size_t errlen);
/* The request's user: Basic credentials if present, else the default user.
 * Returns 0, or -1 with a message (the caller answers unauthenticated). */
int envd_user_from_request(struct evhttp_request *req, struct envd_user *u, char *err,
                           size_t errlen);
void envd_user_free(struct envd_user *u);

#endif
