/* Connect protocol envelopes: the framing of streaming request and response
 * bodies (application/connect+json). Each envelope is
 *
 *     flags (1 byte) | length (uint32, big-endian) | payload (length bytes)
 *
 * flags bit 0x01 = payload compressed (never negotiated here, so rejected on
 * input and never produced), bit 0x02 = end of stream (the last envelope of a
 * response, whose payload is {} or {"error":...}). Other bits are reserved.
 *
 * Pure functions, no I/O: unit tested and fuzzed. */
#ifndef CONNECT_ENVELOPE_H
#define CONNECT_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define CONNECT_FLAG_COMPRESSED 0x01
#define CONNECT_FLAG_END_STREAM 0x02
#define CONNECT_ENVELOPE_HEADER_LEN 5

enum connect_envelope_status {
    CONNECT_ENVELOPE_OK = 0,
    CONNECT_ENVELOPE_NEED_MORE = 1,   /* truncated: header or payload incomplete */
    CONNECT_ENVELOPE_TOO_LARGE = -1,  /* declared length above the caller's limit */
    CONNECT_ENVELOPE_BAD_FLAGS = -2,  /* reserved flag bits set */
    CONNECT_ENVELOPE_COMPRESSED = -3, /* compressed flag, which we never negotiate */
};

struct connect_envelope {
    uint8_t flags;
    uint32_t len;
    const uint8_t *payload; /* points into the decoded buffer */
};

/* Write the 5-byte header for a payload of len bytes. */
void connect_envelope_header(uint8_t out[CONNECT_ENVELOPE_HEADER_LEN], uint8_t flags,
                             uint32_t len);

/* Encode a whole envelope into out (capacity cap). Returns the number of bytes
 * written, or 0 if cap is too small or len does not fit in 32 bits. */
size_t connect_envelope_encode(uint8_t *out, size_t cap, uint8_t flags,
                               const void *payload, size_t len);

/* Decode the envelope at the start of buf[0..n). max_len bounds the payload
 * length we accept (checked before waiting for the payload, so a hostile length
 * is refused early). On CONNECT_ENVELOPE_OK fills *env and *consumed (header +
 * payload bytes). On any other status *env and *consumed are untouched. */
enum connect_envelope_status connect_envelope_decode(const uint8_t *buf, size_t n,
                                                     uint32_t max_len,
                                                     struct connect_envelope *env,
                                                     size_t *consumed);

/* Human-readable reason for a non-OK status, for error messages. */
const char *connect_envelope_strerror(enum connect_envelope_status st);

#endif
