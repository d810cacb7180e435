/* Time helpers: RFC 3339 formatting/parsing in UTC and monotonic milliseconds. */
#ifndef CUBE_TIME_H
#define CUBE_TIME_H

#include <stddef.h>
#include <stdint.h>

int64_t cube_now_ms(void);      /* wall clock, ms since the epoch */
int64_t cube_monotonic_ms(void); /* monotonic clock */
/* "2026-08-21T10:00:00.123Z" (ms precision). out needs 32 bytes. */
void cube_rfc3339_ms(int64_t epoch_ms, char *out, size_t outlen);
/* Parse RFC 3339 (fraction and Z/±hh:mm offset optional). -1 on error. */
int cube_rfc3339_parse(const char *s, int64_t *epoch_ms);

#endif
