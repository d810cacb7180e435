/* SHA-256 and HMAC-SHA256 as lowercase hex, over OpenSSL's libcrypto. Used for API key
 * hashes, envd access tokens and signed file URLs. */
#ifndef CUBE_HASH_H
#define CUBE_HASH_H

#include <stddef.h>

#define CUBE_SHA256_HEX_LEN 64

/* out must hold 65 bytes. */
void cube_sha256_hex(const void *data, size_t len, char *out);
/* out must hold 65 bytes. Returns 0 on success. */
int cube_hmac_sha256_hex(const void *key, size_t key_len, const void *data, size_t len,
                         char *out);
/* Raw digest (32 bytes). */
void cube_sha256_raw(const void *data, size_t len, unsigned char out[32]);
/* hex-encode n bytes into out (2n+1). */
void cube_hex_encode(const unsigned char *in, size_t n, char *out);
/* 1 if a and b (both NUL-terminated) are equal, in time independent of content. */
int cube_str_equal_ct(const char *a, const char *b);

#endif
