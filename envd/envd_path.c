/* Path cleaning/resolution and Basic-auth user parsing. See envd_path.h. */
#include "envd_path.h"

#include "base64.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *envd_path_clean(const char *path)
{
    size_t n = strlen(path), i = 0, depth = 0, w = 0;
    int rooted = path[0] == '/';
    struct seg {
        const char *p;
        size_t len;
    } * stack;
    char *out;

    /* Split on '/', keep a stack of surviving elements: "" and "." vanish, ".."
     * pops a real element, is dropped at the root of an absolute path, and is
     * kept (stacked) at the start of a relative one. */
    stack = malloc((n / 2 + 1) * sizeof(*stack));
    out = malloc(n + 2);
    if (!stack || !out) {
        free(stack);
        free(out);
        return NULL;
    }
    while (i < n) {
        size_t start = i, len;
        while (i < n && path[i] != '/')
            i++;
        len = i - start;
        i++; /* skip the separator */
        if (len == 0 || (len == 1 && path[start] == '.'))
            continue;
        if (len == 2 && path[start] == '.' && path[start + 1] == '.') {
            int top_is_dotdot = depth > 0 && stack[depth - 1].len == 2 &&
                                memcmp(stack[depth - 1].p, "..", 2) == 0;
            if (depth > 0 && !top_is_dotdot) {
                depth--;
                continue;
            }
            if (rooted)
                continue;
        }
        stack[depth].p = path + start;
        stack[depth].len = len;
        depth++;
    }
    if (rooted)
        out[w++] = '/';
    for (i = 0; i < depth; i++) {
        if (i > 0)
            out[w++] = '/';
        memcpy(out + w, stack[i].p, stack[i].len);
        w += stack[i].len;
    }
    if (w == 0)
        out[w++] = '.';
    out[w] = '\0';
    free(stack);
    return out;
}

static char *join_clean(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *tmp = malloc(la + lb + 2), *res;

    if (!tmp)
        return NULL;
    snprintf(tmp, la + lb + 2, "%s/%s", a, b);
    res = envd_path_clean(tmp);
    free(tmp);
    return res;
}

char *envd_path_resolve(const char *path, const char *home, const char *default_dir,
                        char *err, size_t errlen)
{
    if (!path || !*path) {
        if (default_dir && *default_dir)
            return envd_path_clean(default_dir);
        return envd_path_clean(home);
    }
    if (path[0] == '~') {
        if (path[1] == '\0')
            return envd_path_clean(home);
        if (path[1] != '/') {
            snprintf(err, errlen, "path '%s' is invalid: only '~/' is supported", path);
            return NULL;
        }
        return join_clean(home, path + 2);
    }
    if (path[0] == '/')
        return envd_path_clean(path);
    return join_clean(home, path);
}

int envd_basic_auth_user(const char *header, char *user, size_t userlen)
{
    const char *p = header, *colon;
    size_t n, outlen;
    uint8_t *buf;

    if (strncasecmp(p, "Basic", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
        return -1;
    p += 5;
    while (*p == ' ' || *p == '\t')
        p++;
    n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    buf = malloc(B64_DECODED_MAX(n) + 1);
    if (!buf)
        return -1;
    if (b64_decode(p, n, buf, &outlen) != 0) {
        free(buf);
        return -1;
    }
    buf[outlen] = '\0';
    /* The user ends at the first ':'; a NUL inside would silently truncate it. */
    colon = memchr(buf, ':', outlen);
    n = colon ? (size_t)(colon - (const char *)buf) : outlen;
    if (memchr(buf, '\0', n) || n >= userlen) {
        free(buf);
        return -1;
    }
    memcpy(user, buf, n);
    user[n] = '\0';
    free(buf);
    return 0;
}
