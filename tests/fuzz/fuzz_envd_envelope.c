/* libFuzzer: Connect envelope decoding on arbitrary bytes. Walks a whole body
 * envelope by envelope (as a streaming reader would), checks every decoded
 * envelope lies inside the input and re-encodes to the same bytes. */
#include "connect_envelope.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t max = size > 0 ? (uint32_t)data[0] << 8 : 0; /* vary the limit too */
    size_t off = size > 0 ? 1 : 0;

    while (off < size) {
        struct connect_envelope env;
        size_t used = 0;
        enum connect_envelope_status st =
            connect_envelope_decode(data + off, size - off, max, &env, &used);
        uint8_t *re;

        if (st != CONNECT_ENVELOPE_OK) {
            if (connect_envelope_strerror(st) == NULL)
                abort();
            break;
        }
        if (used != CONNECT_ENVELOPE_HEADER_LEN + (size_t)env.len || used > size - off ||
            env.payload != data + off + CONNECT_ENVELOPE_HEADER_LEN || env.len > max ||
            (env.flags & ~CONNECT_FLAG_END_STREAM))
            abort();
        re = malloc(used);
        if (!re)
            return 0;
        if (connect_envelope_encode(re, used, env.flags, env.payload, env.len) != used ||
            memcmp(re, data + off, used) != 0)
            abort();
        free(re);
        off += used;
    }
    return 0;
}
