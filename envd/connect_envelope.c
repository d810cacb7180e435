/* Connect envelope framing. See connect_envelope.h. */
#include "connect_envelope.h"

#include <string.h>

void connect_envelope_header(uint8_t out[CONNECT_ENVELOPE_HEADER_LEN], uint8_t flags,
                             uint32_t len)
{
    out[0] = flags;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

size_t connect_envelope_encode(uint8_t *out, size_t cap, uint8_t flags,
                               const void *payload, size_t len)
{
    if (len > UINT32_MAX || cap < CONNECT_ENVELOPE_HEADER_LEN ||
        cap - CONNECT_ENVELOPE_HEADER_LEN < len)
        return 0;
    connect_envelope_header(out, flags, (uint32_t)len);
    if (len > 0)
        memcpy(out + CONNECT_ENVELOPE_HEADER_LEN, payload, len);
    return CONNECT_ENVELOPE_HEADER_LEN + len;
}

enum connect_envelope_status connect_envelope_decode(const uint8_t *buf, size_t n,
                                                     uint32_t max_len,
                                                     struct connect_envelope *env,
                                                     size_t *consumed)
{
    uint32_t len;

    if (n < CONNECT_ENVELOPE_HEADER_LEN)
        return CONNECT_ENVELOPE_NEED_MORE;
    /* Judge the header before the payload arrives: a peer announcing reserved
     * flags or a huge length is refused without buffering anything more. */
    if (buf[0] & ~(CONNECT_FLAG_COMPRESSED | CONNECT_FLAG_END_STREAM))
        return CONNECT_ENVELOPE_BAD_FLAGS;
    if (buf[0] & CONNECT_FLAG_COMPRESSED)
        return CONNECT_ENVELOPE_COMPRESSED;
    len =
        (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | buf[4];
    if (len > max_len)
        return CONNECT_ENVELOPE_TOO_LARGE;
    if (n - CONNECT_ENVELOPE_HEADER_LEN < len)
        return CONNECT_ENVELOPE_NEED_MORE;
    env->flags = buf[0];
    env->len = len;
    env->payload = buf + CONNECT_ENVELOPE_HEADER_LEN;
    *consumed = CONNECT_ENVELOPE_HEADER_LEN + (size_t)len;
    return CONNECT_ENVELOPE_OK;
}

const char *connect_envelope_strerror(enum connect_envelope_status st)
{
    switch (st) {
    case CONNECT_ENVELOPE_OK:
        return "ok";
    case CONNECT_ENVELOPE_NEED_MORE:
        return "truncated envelope";
    case CONNECT_ENVELOPE_TOO_LARGE:
        return "envelope too large";
    case CONNECT_ENVELOPE_BAD_FLAGS:
        return "invalid envelope flags";
    case CONNECT_ENVELOPE_COMPRESSED:
        return "compressed envelopes are not supported";
    }
    return "invalid envelope";
}
