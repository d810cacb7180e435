/* Base64 for protobuf `bytes` fields in Connect JSON messages (process output,
 * stdin) and for HTTP Basic credentials.
 *
 * Encoding is always the standard alphabet with '=' padding, which is what
 * proto3 JSON prescribes. Decoding is lenient in the way proto3 JSON parsers are:
 * it accepts the standard or the URL-safe alphabet, with or without padding,
 * because clients differ. It is strict about everything else (stray characters,
 * whitespace, misplaced padding, impossible lengths), so garbage never decodes
 * to something surprising. */
#ifndef ENVD_BASE64_H
#define ENVD_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Characters needed to encode n bytes, excluding the terminating NUL. */
#define B64_ENCODED_LEN(n) ((((n) + 2) / 3) * 4)
/* Upper bound of the bytes that an input of n characters can decode to. */
#define B64_DECODED_MAX(n) ((((n) + 3) / 4) * 3)

/* Encode n bytes of in into out, which must hold B64_ENCODED_LEN(n) + 1 bytes.
 * out is NUL-terminated. Returns the number of characters written (without NUL). */
size_t b64_encode(const void *in, size_t n, char *out);

/* Decode n characters of in into out, which must hold B64_DECODED_MAX(n) bytes.
 * On success stores the decoded length in *outlen and returns 0; on malformed
 * input returns -1 (out may then hold partial output). */
int b64_decode(const char *in, size_t n, uint8_t *out, size_t *outlen);

#endif
