/* Pure helpers of the /files endpoints: query-string decoding and the signed
 * URL scheme of E2B (protocol §4.6). No I/O and no libevent, so the signature
 * rules are unit tested against the documented vector.
 *
 *   raw       = "<path>:<op>:<username>:<token>[:<expiration>]"
 *   signature = "v1_" + base64_std_no_padding(sha256(raw))
 */
#ifndef ENVD_FILES_AUTH_H
#define ENVD_FILES_AUTH_H

#include <stddef.h>
#include <time.h>

/* "v1_" + 43 base64 characters + NUL. */
#define FILES_SIG_LEN 47

/* The value of key in a query string (without '?'), percent- and '+'-decoded
 * like Go's url.ParseQuery (what E2B's envd uses, and what URLSearchParams in
 * the SDK encodes for). The first occurrence wins. Returns a malloc'd string,
 * or NULL when the key is absent (or out of memory). A malformed escape is
 * kept verbatim rather than refused: it can only make a signature mismatch. */
char *files_query_get(const char *query, const char *key);

/* Compute the signature for an operation ("read" / "write"). exp may be NULL
 * (no expiration). out receives a NUL-terminated string. */
void files_signature(const char *path, const char *op, const char *user,
                     const char *token, const char *exp, char out[FILES_SIG_LEN]);

/* Validate a request's signature. sig and exp are the query values (either may
 * be NULL). Returns NULL when valid, else the exact message E2B answers with
 * (status 401): "missing signature query parameter", "invalid signature" or
 * "signature is already expired". The comparison is constant time. */
const char *files_check_signature(const char *path, const char *op, const char *user,
                                  const char *token, const char *sig, const char *exp,
                                  time_t now);

#endif
