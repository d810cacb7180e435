/* Identifiers: sandbox, template and node ids drawn from the kernel's CSPRNG. */
#ifndef CUBE_ID_H
#define CUBE_ID_H

#include <stddef.h>

#define CUBE_SANDBOX_ID_LEN 21 /* 'i' + 20 chars */
#define CUBE_TEMPLATE_ID_LEN 20
#define CUBE_NODE_ID_LEN 13 /* 'n' + 12 chars */

/* Fill out[0..len-1] with chars from [a-z0-9] and NUL-terminate (out needs len+1).
 * prefix, when non-zero, becomes out[0]. Returns 0, or -1 if getrandom failed. */
int cube_id_generate(char *out, size_t len, char prefix);

/* 1 if s is a non-empty string of [a-z0-9] of at most max chars. */
int cube_id_valid(const char *s, size_t max);

#endif
