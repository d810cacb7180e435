#include "cube_id.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

int cube_id_generate(char *out, size_t len, char prefix)
{
    unsigned char rnd[64];
    size_t i = 0, got = 0;

    if (len == 0 || len > sizeof(rnd))
        return -1;
    while (got < len) {
        ssize_t n = getrandom(rnd + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)n;
    }
    if (prefix) {
        out[0] = prefix;
        i = 1;
    }
    /* 252 = 7 * 36: reject the tail of the byte range so every char is equally
     * likely. Rejected bytes are re-drawn one at a time. */
    for (; i < len; i++) {
        unsigned char b = rnd[i];
        while (b >= 252) {
            if (getrandom(&b, 1, 0) != 1)
                return -1;
        }
        out[i] = alphabet[b % 36];
    }
    out[len] = '\0';
    return 0;
}

int cube_id_valid(const char *s, size_t max)
{
    size_t n = 0;

    if (s == NULL || *s == '\0')
        return 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= max)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return 0;
    }
    return 1;
}
