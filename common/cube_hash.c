#include "cube_hash.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
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
    SHA256(data, len, out);
}

void cube_sha256_hex(const void *data, size_t len, char *out)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    cube_hex_encode(md, sizeof(md), out);
}

int cube_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
                         char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    if (HMAC(EVP_sha256(), key, (int)key_len, data, len, md, &md_len) == NULL)
        return -1;
    cube_hex_encode(md, md_len, out);
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
