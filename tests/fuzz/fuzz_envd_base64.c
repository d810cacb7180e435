/* libFuzzer: base64 decoding of arbitrary text never overruns the documented
 * bound, and whatever decodes re-encodes to a string that decodes the same. */
#include "base64.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out = malloc(B64_DECODED_MAX(size) + 1), *back;
    char *enc;
    size_t len = 0, len2 = 0;

    if (!out)
        return 0;
    if (b64_decode((const char *)data, size, out, &len) == 0) {
        if (len > B64_DECODED_MAX(size))
            abort();
        enc = malloc(B64_ENCODED_LEN(len) + 1);
        back = malloc(len + 1);
        if (enc && back) {
            size_t e = b64_encode(out, len, enc);
            if (e != B64_ENCODED_LEN(len) || strlen(enc) != e)
                abort();
            if (b64_decode(enc, e, back, &len2) != 0 || len2 != len ||
                memcmp(back, out, len) != 0)
                abort();
        }
        free(enc);
        free(back);
    }
    free(out);
    return 0;
}
