/* libFuzzer: path cleaning/resolution and Basic-auth parsing on arbitrary
 * strings: no overruns, and cleaning is idempotent with no "//", "/./" or
 * trailing '/' left in an absolute result. */
#include "envd_path.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *c, *c2, *r, err[128], user[64];

    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    c = envd_path_clean(s);
    if (c) {
        c2 = envd_path_clean(c);
        if (!c2 || strcmp(c, c2) != 0)
            abort();
        if (strstr(c, "//") || strstr(c, "/./") ||
            (strlen(c) > 1 && c[strlen(c) - 1] == '/'))
            abort();
        free(c2);
        free(c);
    }
    r = envd_path_resolve(s, "/home/user", NULL, err, sizeof(err));
    if (r) {
        if (r[0] != '/' || strstr(r, "/../") || strstr(r, "//"))
            abort();
        free(r);
    }
    envd_basic_auth_user(s, user, sizeof(user));
    free(s);
    return 0;
}
