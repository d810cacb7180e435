/* Query decoding and URL signatures for /files. See files_auth.h. */
#include "files_auth.h"

#include "base64.h"
#include "cube_hash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode in[0..n) into a new string. */
static char *decode_component(const char *in, size_t n)
{
    char *out = malloc(n + 1), *o = out;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (in[i] == '+') {
            *o++ = ' ';
        } else if (in[i] == '%' && i + 2 < n &&
                   (hi = hexval((unsigned char)in[i + 1])) >= 0 &&
                   (lo = hexval((unsigned char)in[i + 2])) >= 0) {
            *o++ = (char)(hi << 4 | lo);
            i += 2;
        } else {
            *o++ = in[i];
        }
    }
    *o = '\0';
    return out;
}

char *files_query_get(const char *query, const char *key)
{
    size_t klen = strlen(key);
    const char *p = query;

    if (!query)
        return NULL;
    while (*p) {
        const char *end = strchr(p, '&'), *eq;
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *name;
        int match;

        eq = memchr(p, '=', len);
        /* Keys may be escaped too ("pa%74h" is "path" to Go). */
        name = decode_component(p, eq ? (size_t)(eq - p) : len);
        if (!name)
            return NULL;
        match = strlen(name) == klen && memcmp(name, key, klen) == 0;
        free(name);
        if (match)
            return eq ? decode_component(eq + 1, len - (size_t)(eq - p) - 1)
                      : strdup("");
        if (!end)
            break;
        p = end + 1;
    }
    return NULL;
}

void files_signature(const char *path, const char *op, const char *user,
                     const char *token, const char *exp, char out[FILES_SIG_LEN])
{
    unsigned char digest[32];
    char enc[B64_ENCODED_LEN(32) + 1];
    size_t n = strlen(path) + strlen(op) + strlen(user) + strlen(token) +
               (exp ? strlen(exp) + 1 : 0) + 4;
    char *raw = malloc(n);
    size_t len;

    if (!raw) {
        /* Cannot match any real signature: "v1_" alone. */
        snprintf(out, FILES_SIG_LEN, "v1_");
        return;
    }
    if (exp)
        snprintf(raw, n, "%s:%s:%s:%s:%s", path, op, user, token, exp);
    else
        snprintf(raw, n, "%s:%s:%s:%s", path, op, user, token);
    cube_sha256_raw(raw, strlen(raw), digest);
    free(raw);
    len = b64_encode(digest, sizeof(digest), enc);
    while (len > 0 && enc[len - 1] == '=')
        enc[--len] = '\0';
    /* 32 bytes are 43 characters unpadded: always fits. */
    memcpy(out, "v1_", 3);
    memcpy(out + 3, enc, len < FILES_SIG_LEN - 4 ? len + 1 : FILES_SIG_LEN - 3);
    out[FILES_SIG_LEN - 1] = '\0';
}

const char *files_check_signature(const char *path, const char *op, const char *user,
                                  const char *token, const char *sig, const char *exp,
                                  time_t now)
{
    char want[FILES_SIG_LEN];
    long long e;
    char *end;

    if (!sig || !*sig)
        return "missing signature query parameter";
    files_signature(path ? path : "", op, user ? user : "", token, exp, want);
    if (!cube_str_equal_ct(sig, want))
        return "invalid signature";
    if (exp) {
        /* The expiration is inside the signed text, so a garbled one could
         * only come from the signer: treat it like an expired one. */
        errno = 0;
        e = strtoll(exp, &end, 10);
        if (errno || end == exp || *end || e < (long long)now)
            return "signature is already expired";
    }
    return NULL;
}
