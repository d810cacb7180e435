/* envd's sandbox-wide state, set by POST /init: the global environment given to
 * every process, the access token, the default user and working directory, and
 * the sandbox/template ids. Single-threaded (the event loop), so plain globals
 * behind accessors. */
#ifndef ENVD_ENV_H
#define ENVD_ENV_H

#include <jansson.h>
#include <stddef.h>

#define ENVD_DEFAULT_USER "user"

/* Set the initial state (no token, user "user", env {E2B_SANDBOX: "true"}). */
void envd_env_init(void);
void envd_env_free(void);

/* Apply a parsed /init body (a JSON object). Validates the whole body first and
 * changes nothing on error (returns -1 with a message in err). */
int envd_env_apply_init(json_t *body, char *err, size_t errlen);

/* Keep the applied state in path (every init rewrites it) and, when path exists,
 * apply it now: an envd that cube-init restarts after a crash comes back with the
 * sandbox's token, env vars and defaults instead of serving without a token.
 * 1 restored, 0 nothing to restore, -1 (err) a file that cannot be applied. */
int envd_env_use_init_file(const char *path, char *err, size_t errlen);

/* In a sandbox (cube-envd --hostname-files: "/etc"): an init that names the sandbox
 * also rewrites etc_dir/hostname and etc_dir/hosts (existing files, in place) with
 * that name. NULL (the default) is off, so envd run on a host (tests) never touches
 * the host's files. */
void envd_env_set_hostname_files(const char *etc_dir);

/* The global env object (borrowed; string values only). */
json_t *envd_env_global(void);
/* Current access token, or NULL when none is set. */
const char *envd_env_access_token(void);
const char *envd_env_default_user(void);
/* Default working directory, or NULL (then the user's home is used). */
const char *envd_env_default_workdir(void);

#endif
