#include "lifecycle_rule.h"

#include <stdlib.h>
#include <string.h>

#include "cube_time.h"

/* Longest idle window honoured (a year): anything larger is a damaged field. */
#define LC_TIMEOUT_MAX_S (365LL * 86400)

static int64_t positive(const char *s)
{
    char *end;
    long long v;

    if (s == NULL || *s == '\0')
        return 0;
    v = strtoll(s, &end, 10);
    return *end == '\0' && v > 0 ? (int64_t)v : 0;
}

enum lc_action lifecycle_decide(const struct lc_record *r, int64_t now_ms,
                                int64_t *new_end_ms)
{
    int64_t end_ms, last, tmo;

    *new_end_ms = 0;
    if (r->end_at == NULL && r->state == NULL)
        return LC_DROP;
    if (r->state && strcmp(r->state, "paused") == 0)
        return LC_NONE;
    /* An end time we cannot read is never taken as "due": killing on a damaged field
     * would lose a user's sandbox; the API rewrites it on the next set-timeout. */
    if (r->end_at == NULL || cube_rfc3339_parse(r->end_at, &end_ms) != 0 ||
        end_ms > now_ms)
        return LC_NONE;
    if (r->auto_pause == NULL || strcmp(r->auto_pause, "1") != 0)
        return LC_KILL;
    last = positive(r->last_activity_ms);
    tmo = positive(r->timeout_s);
    if (last && tmo && tmo <= LC_TIMEOUT_MAX_S && last + tmo * 1000 > now_ms) {
        *new_end_ms = last + tmo * 1000;
        return LC_EXTEND;
    }
    return LC_PAUSE;
}
