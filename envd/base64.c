/* Base64 encode/decode (RFC 4648 sections 4 and 5). See base64.h for the policy. */
#include "base64.h"

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t b64_encode(const void *in, size_t n, char *out)
{
    const uint8_t *p = in;
    size_t i, o = 0;

    for (i = 0; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64_std[v >> 18];
        out[o++] = b64_std[(v >> 12) & 63];
        out[o++] = b64_std[(v >> 6) & 63];
        out[o++] = b64_std[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64_std[v >> 18];
        out[o++] = b64_std[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = b64_std[v >> 18];
        out[o++] = b64_std[(v >> 12) & 63];
        out[o++] = b64_std[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

/* Value of one character, or -1. *alphabet records which alphabet the input has
 * used so far (0 unknown, 1 standard, 2 URL-safe): mixing them is rejected, as a
 * string that does is almost certainly not base64 at all. */
static int b64_value(unsigned char c, int *alphabet)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '/') {
        if (*alphabet == 2)
            return -1;
        *alphabet = 1;
        return c == '+' ? 62 : 63;
    }
    if (c == '-' || c == '_') {
        if (*alphabet == 1)
            return -1;
        *alphabet = 2;
        return c == '-' ? 62 : 63;
    }
    return -1;
}

int b64_decode(const char *in, size_t n, uint8_t *out, size_t *outlen)
{
    size_t i, o = 0, data = n;
    int alphabet = 0;
    uint32_t acc = 0;
    int bits = 0;

    /* Padding, if any, must complete the last quantum exactly. */
    if (n > 0 && in[n - 1] == '=') {
        if (n % 4 != 0)
            return -1;
        data = n - 1;
        if (in[n - 2] == '=')
            data = n - 2;
    }
    /* A lone character in the last quantum carries only 6 bits: never valid. */
    if (data % 4 == 1)
        return -1;

    for (i = 0; i < data; i++) {
        int v = b64_value((unsigned char)in[i], &alphabet);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* Leftover bits (at most 4) are ignored, as Go's and most decoders do. */
    *outlen = o;
    return 0;
}
