/* cube_hash.h for cube-envd over nettle instead of OpenSSL's libcrypto. Why: envd runs
 * once per sandbox, and libcrypto's relocated data made ~400 KiB of private memory in
 * every envd process (libcrypto.so or a static PIE copy alike); nettle's SHA-256 and
 * HMAC are a few KiB and link statically. The rest of Cube keeps common/cube_hash.c. */
#include "cube_hash.h"

#include <nettle/hmac.h>
#include <nettle/sha2.h>
#include <string.h>

void cube_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

void cube_sha256_raw(const void *data, size_t len, unsigned char out[32])
{
    struct sha256_ctx c;

    sha256_init(&c);
    sha256_update(&c, len, data);
    sha256_digest(&c, SHA256_DIGEST_SIZE, out);
}

void cube_sha256_hex(const void *data, size_t len, char *out)
{
    unsigned char md[SHA256_DIGEST_SIZE];

    cube_sha256_raw(data, len, md);
    cube_hex_encode(md, sizeof(md), out);
}

int cube_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
                         char *out)
{
    struct hmac_sha256_ctx c;
    unsigned char md[SHA256_DIGEST_SIZE];

    hmac_sha256_set_key(&c, key_len, key);
    hmac_sha256_update(&c, len, data);
    hmac_sha256_digest(&c, SHA256_DIGEST_SIZE, md);
    cube_hex_encode(md, sizeof(md), out);
    return 0;
}

int cube_str_equal_ct(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    size_t n = la < lb ? la : lb;

    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}
