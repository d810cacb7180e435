/* Pure string helpers shared by every envd API that takes a path or a user:
 * lexical path cleaning and E2B's path resolution rules, and extraction of the
 * user name from an HTTP Basic Authorization header. No system calls, so they
 * are unit tested directly. */
#ifndef ENVD_PATH_H
#define ENVD_PATH_H

#include <stddef.h>

/* Lexically clean a path like Go's path.Clean: collapse "//", drop ".", resolve
 * ".." against the preceding element ("/.." is "/"), no trailing slash; ""
 * becomes ".". Returns a malloc'd string (NULL only when out of memory). */
char *envd_path_clean(const char *path);

/* Resolve a path given by a client, per E2B's rules:
 *   "" or NULL  -> default_dir if non-empty, else home
 *   "~" / "~/x" -> home / home + "/x"
 *   "~user/..." -> error (other users' homes are not expanded)
 *   "/abs"      -> itself
 *   "rel"       -> home + "/rel"
 * and clean the result. Returns a malloc'd absolute path, or NULL with a
 * message in err. */
char *envd_path_resolve(const char *path, const char *home, const char *default_dir,
                        char *err, size_t errlen);

/* Parse "Basic base64(user:password)" (scheme case-insensitive) and copy the
 * user part to user (size userlen). Returns 0 on success (user may be empty),
 * -1 if the header is not valid Basic credentials or the name does not fit. */
int envd_basic_auth_user(const char *header, char *user, size_t userlen);

#endif
