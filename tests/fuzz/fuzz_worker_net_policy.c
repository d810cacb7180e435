/* libFuzzer target: the worker's network policy parser (create and PUT /network bodies
 * are API input), its persisted form and the nft commands built from it. Checks the
 * invariants the enforcement relies on: merged, sorted, disjoint ranges within the
 * limit; the JSON form round-trips; the command text names only the sandbox's own
 * chain and the map, and carries no characters from the input beyond addresses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net_policy.h"

static void check_ranges(const struct net_range *r, int n)
{
    if (n < 0 || n > NET_POLICY_MAX)
        abort();
    for (int i = 0; i < n; i++) {
        if (r[i].lo > r[i].hi)
            abort();
        if (i > 0 && r[i].lo <= r[i - 1].hi)
            abort();
    }
}

/* Input that is not JSON becomes list entries (one per line, alternating between
 * allowOut and denyOut), so the entry parser sees arbitrary strings. */
static json_t *entries_body(const uint8_t *data, size_t size)
{
    json_t *allow = json_array(), *deny = json_array();
    size_t start = 0;
    int k = 0;

    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == '\n') {
            json_t *s = json_stringn_nocheck((const char *)data + start, i - start);
            json_array_append_new(k++ % 2 ? deny : allow, s);
            start = i + 1;
        }
    }
    return json_pack("{s:b, s:{s:o, s:o}, s:o, s:o}", "allow_internet_access",
                     size > 0 && (data[0] & 1), "network", "allowOut", allow, "denyOut",
                     deny, "allowOut", json_deep_copy(allow), "denyOut",
                     json_deep_copy(deny));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = json_loadb((const char *)data, size, 0, NULL);
    struct net_policy p, q;
    char err[400];

    if (!root)
        root = entries_body(data, size);
    if (!root)
        return 0;
    for (int flat = 0; flat <= 1; flat++) {
        err[0] = '\0';
        if (net_policy_parse(root, flat, &p, err, sizeof(err)) < 0) {
            if (err[0] == '\0')
                abort();
            continue;
        }
        check_ranges(p.allow, p.n_allow);
        check_ranges(p.deny, p.n_deny);
        json_t *j = net_policy_to_json(&p);
        if (!j || net_policy_from_json(j, &q) < 0 || memcmp(&p, &q, sizeof(p)) != 0)
            abort();
        json_decref(j);
        char *cmds = net_policy_commands("cube", 5, &p);
        if (!cmds)
            abort();
        for (const char *c = cmds; *c; c++) {
            if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789 .-,{}:\n", *c))
                abort();
        }
        free(cmds);
    }
    json_decref(root);
    return 0;
}
