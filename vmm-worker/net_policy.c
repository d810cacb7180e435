#include "net_policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <nftables/libnftables.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cube_log.h"
#include "slots.h"

#define RAW_MAX 256 /* entries accepted per list before merging */

/* ---- parsing (pure) -----------------------------------------------------------------
 */

static int parse_v4(const char *s, uint32_t *out)
{
    struct in_addr a;

    if (inet_pton(AF_INET, s, &a) != 1)
        return -1;
    *out = ntohl(a.s_addr);
    return 0;
}

static int looks_like_v6(const char *s)
{
    char buf[64];
    struct in6_addr a;
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);

    if (n == 0 || n >= sizeof(buf))
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, &a) == 1;
}

/* A host name as E2B's proxy would take it ("example.com", "*.example.com"). */
static int looks_like_domain(const char *s)
{
    int alpha = 0;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalpha(c))
            alpha = 1;
        else if (!isdigit(c) && c != '.' && c != '-' && c != '*' && c != '_')
            return 0;
    }
    return alpha;
}

/* "a.b.c.d" or "a.b.c.d/n" -> [lo, hi]. Host bits in a CIDR are ignored (masked). */
static int parse_cidr(const char *s, struct net_range *r)
{
    char buf[32];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    uint32_t a, mask;
    long bits = 32;

    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (parse_v4(buf, &a) < 0)
        return -1;
    if (slash) {
        char *end;
        if (!isdigit((unsigned char)slash[1]) || strlen(slash + 1) > 2)
            return -1;
        bits = strtol(slash + 1, &end, 10);
        if (*end != '\0' || bits < 0 || bits > 32)
            return -1;
    }
    mask = bits == 0 ? 0 : (uint32_t)(0xffffffffu << (32 - bits));
    r->lo = a & mask;
    r->hi = r->lo | ~mask;
    return 0;
}

static int range_cmp(const void *a, const void *b)
{
    const struct net_range *x = a, *y = b;

    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sort and merge overlapping or adjacent ranges in place; returns the new count. */
static int merge(struct net_range *r, int n)
{
    int i, out = 0;

    if (n == 0)
        return 0;
    qsort(r, (size_t)n, sizeof(*r), range_cmp);
    for (i = 1; i < n; i++) {
        if (r[out].hi == 0xffffffffu || r[i].lo <= r[out].hi + 1) {
            if (r[i].hi > r[out].hi)
                r[out].hi = r[i].hi;
        } else {
            r[++out] = r[i];
        }
    }
    return out + 1;
}

/* One list (array of strings or null) into out[]; *n counts what is already there. */
static int parse_list(json_t *v, const char *name, int is_allow, struct net_range *out,
                      int *n, char *err, int errlen)
{
    size_t i;
    json_t *e;

    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v)) {
        snprintf(err, (size_t)errlen, "'%s' must be an array of IP addresses or CIDRs",
                 name);
        return -1;
    }
    if (json_array_size(v) > RAW_MAX) {
        snprintf(err, (size_t)errlen, "'%s' has more than %d entries", name, RAW_MAX);
        return -1;
    }
    json_array_foreach(v, i, e)
    {
        const char *s = json_string_value(e);

        if (!json_is_string(e) || strlen(s) != json_string_length(e)) {
            snprintf(err, (size_t)errlen, "'%s' entries must be strings", name);
            return -1;
        }
        if (parse_cidr(s, &out[*n]) == 0) {
            (*n)++;
            continue;
        }
        if (looks_like_v6(s)) {
            /* Sandboxes have no IPv6 egress at all: a deny is already true, an allow
             * could not be honoured. */
            if (!is_allow)
                continue;
            snprintf(err, (size_t)errlen,
                     "'%s' entry '%.64s': IPv6 is not supported (sandboxes have no IPv6 "
                     "egress)",
                     name, s);
            return -1;
        }
        if (looks_like_domain(s)) {
            snprintf(err, (size_t)errlen,
                     "'%s' entry '%.64s': domain names need the egress proxy, which this "
                     "Cube version does not have; use IP addresses or CIDRs",
                     name, s);
            return -1;
        }
        snprintf(err, (size_t)errlen, "'%s' entry '%.64s' is not an IPv4 address or CIDR",
                 name, s);
        return -1;
    }
    return 0;
}

int net_policy_parse(json_t *root, int flat, struct net_policy *p, char *err, int errlen)
{
    struct net_range *allow = NULL, *deny = NULL;
    int na = 0, nd = 0, rc = -1;
    json_t *net, *v;

    memset(p, 0, sizeof(*p));
    if (!json_is_object(root)) {
        snprintf(err, (size_t)errlen, "body must be a JSON object");
        return -1;
    }
    net = flat ? root : json_object_get(root, "network");
    if (net && !json_is_null(net) && !json_is_object(net)) {
        snprintf(err, (size_t)errlen, "'network' must be an object");
        return -1;
    }
    if (net && json_is_null(net))
        net = NULL;
    allow = calloc(RAW_MAX, sizeof(*allow));
    deny = calloc(RAW_MAX + 1, sizeof(*deny));
    if (!allow || !deny) {
        snprintf(err, (size_t)errlen, "out of memory");
        goto out;
    }
    v = json_object_get(root, "allow_internet_access");
    if (v && !json_is_null(v) && !json_is_boolean(v)) {
        snprintf(err, (size_t)errlen, "'allow_internet_access' must be a boolean");
        goto out;
    }
    if (json_is_false(v)) {
        deny[nd].lo = 0;
        deny[nd++].hi = 0xffffffffu;
    }
    if (net) {
        v = json_object_get(net, "egressProxy");
        if (v && !json_is_null(v)) {
            snprintf(err, (size_t)errlen,
                     "'egressProxy' is not supported by this Cube version");
            goto out;
        }
        v = json_object_get(net, "rules");
        if (v && !json_is_null(v) && (!json_is_object(v) || json_object_size(v) > 0)) {
            snprintf(
                err, (size_t)errlen,
                "network 'rules' need the egress proxy, which this Cube version does "
                "not have");
            goto out;
        }
        if (parse_list(json_object_get(net, "allowOut"), "allowOut", 1, allow, &na, err,
                       errlen) < 0 ||
            parse_list(json_object_get(net, "denyOut"), "denyOut", 0, deny, &nd, err,
                       errlen) < 0)
            goto out;
    }
    na = merge(allow, na);
    nd = merge(deny, nd);
    if (na > NET_POLICY_MAX || nd > NET_POLICY_MAX) {
        snprintf(err, (size_t)errlen,
                 "too many distinct ranges in allowOut/denyOut (at most %d each after "
                 "merging)",
                 NET_POLICY_MAX);
        goto out;
    }
    /* allowOut only carves holes into denyOut: without a deny it changes nothing. */
    if (nd > 0) {
        memcpy(p->allow, allow, sizeof(*allow) * (size_t)na);
        memcpy(p->deny, deny, sizeof(*deny) * (size_t)nd);
        p->n_allow = na;
        p->n_deny = nd;
    }
    rc = 0;
out:
    free(allow);
    free(deny);
    return rc;
}

int net_policy_is_default(const struct net_policy *p)
{
    return p == NULL || p->n_deny == 0;
}

/* ---- persisted form -------------------------------------------------------------- */

static void fmt_v4(uint32_t a, char *out, size_t len)
{
    snprintf(out, len, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

static void fmt_range(const struct net_range *r, char *out, size_t len)
{
    char lo[16], hi[16];

    fmt_v4(r->lo, lo, sizeof(lo));
    if (r->lo == r->hi) {
        snprintf(out, len, "%s", lo);
        return;
    }
    fmt_v4(r->hi, hi, sizeof(hi));
    snprintf(out, len, "%s-%s", lo, hi);
}

static json_t *ranges_json(const struct net_range *r, int n)
{
    json_t *a = json_array();
    char buf[40];

    for (int i = 0; a && i < n; i++) {
        fmt_range(&r[i], buf, sizeof(buf));
        json_array_append_new(a, json_string(buf));
    }
    return a;
}

json_t *net_policy_to_json(const struct net_policy *p)
{
    if (net_policy_is_default(p))
        return json_object();
    return json_pack("{s:o, s:o}", "allowOut", ranges_json(p->allow, p->n_allow),
                     "denyOut", ranges_json(p->deny, p->n_deny));
}

static int ranges_from_json(json_t *a, struct net_range *r, int *n)
{
    size_t i;
    json_t *e;

    *n = 0;
    if (!a)
        return 0;
    if (!json_is_array(a) || json_array_size(a) > NET_POLICY_MAX)
        return -1;
    json_array_foreach(a, i, e)
    {
        char lo[16];
        const char *s = json_string_value(e), *dash;
        size_t len;

        if (!s)
            return -1;
        dash = strchr(s, '-');
        len = dash ? (size_t)(dash - s) : strlen(s);
        if (len >= sizeof(lo))
            return -1;
        memcpy(lo, s, len);
        lo[len] = '\0';
        if (parse_v4(lo, &r[*n].lo) < 0)
            return -1;
        if (!dash)
            r[*n].hi = r[*n].lo;
        else if (parse_v4(dash + 1, &r[*n].hi) < 0 || r[*n].hi < r[*n].lo)
            return -1;
        (*n)++;
    }
    return 0;
}

int net_policy_from_json(json_t *o, struct net_policy *p)
{
    memset(p, 0, sizeof(*p));
    if (!o || json_is_null(o))
        return 0;
    if (!json_is_object(o) ||
        ranges_from_json(json_object_get(o, "allowOut"), p->allow, &p->n_allow) < 0 ||
        ranges_from_json(json_object_get(o, "denyOut"), p->deny, &p->n_deny) < 0) {
        memset(p, 0, sizeof(*p));
        return -1;
    }
    if (p->n_deny == 0)
        p->n_allow = 0;
    return 0;
}

/* ---- nft commands (pure) ---------------------------------------------------------- */

struct sbuf {
    char *s;
    size_t len, cap;
    int failed;
};

static void sb_add(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->failed)
        return;
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->failed = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
}

/* One rule per range: an anonymous set per rule would make every later transaction's
 * cache fetch (all sets of the table) grow with the number of policies (~15 ms at
 * 1000 sandboxes, against ~0.5 ms this way). */
static void sb_rules(struct sbuf *b, const char *table, int slot,
                     const struct net_range *r, int n, const char *verdict)
{
    char buf[40];

    for (int i = 0; i < n; i++) {
        fmt_range(&r[i], buf, sizeof(buf));
        sb_add(b, "add rule inet %s p%d ip daddr %s %s\n", table, slot, buf, verdict);
    }
}

char *net_policy_commands(const char *table, int slot, const struct net_policy *p)
{
    char addr[SLOT_ADDR_LEN];
    struct sbuf b = {0};

    if (slot_sandbox_addr(slot, addr) < 0)
        return NULL;
    /* "add" before "flush"/"delete" makes every step valid whatever exists already;
     * the whole text is one transaction, so the slot is never without its policy. */
    sb_add(&b, "add chain inet %s p%d\n", table, slot);
    if (net_policy_is_default(p)) {
        sb_add(&b, "add element inet %s sbpolicy { %s : jump p%d }\n", table, addr, slot);
        sb_add(&b, "delete element inet %s sbpolicy { %s }\n", table, addr);
        sb_add(&b, "flush chain inet %s p%d\n", table, slot);
        sb_add(&b, "delete chain inet %s p%d\n", table, slot);
    } else {
        sb_add(&b, "flush chain inet %s p%d\n", table, slot);
        sb_rules(&b, table, slot, p->allow, p->n_allow, "accept");
        if (p->n_deny == 1 && p->deny[0].lo == 0 && p->deny[0].hi == 0xffffffffu)
            sb_add(&b, "add rule inet %s p%d counter drop\n", table, slot);
        else
            sb_rules(&b, table, slot, p->deny, p->n_deny, "counter drop");
        sb_add(&b, "add element inet %s sbpolicy { %s : jump p%d }\n", table, addr, slot);
    }
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* ---- enforcement ------------------------------------------------------------------ */

static char nft_table[40]; /* "" until host_firewall_install: nothing to enforce in */
static struct nft_ctx *ctx;
static pid_t ctx_pid;
static uint64_t present[SLOT_COUNT / 64]; /* slots that may have a policy in the table */

void net_policy_init(const char *table)
{
    snprintf(nft_table, sizeof(nft_table), "%s", table);
    memset(present, 0, sizeof(present));
}

void net_policy_mark_present(int slot)
{
    if (slot >= 0 && slot < SLOT_COUNT)
        present[slot / 64] |= 1ull << (slot % 64);
}

int net_policy_present(int slot)
{
    if (slot < 0 || slot >= SLOT_COUNT)
        return 1;
    return (present[slot / 64] & (1ull << (slot % 64))) != 0;
}

void net_policy_mark_clean(int slot)
{
    if (slot >= 0 && slot < SLOT_COUNT)
        present[slot / 64] &= ~(1ull << (slot % 64));
}

int net_policy_nft(const char *cmds, char **out, char *err, int errlen)
{
    int rc;

    /* A context belongs to the process that made it: a forked helper opens its own
     * (the parent's stays untouched; its netlink socket is the parent's). */
    if (!ctx || ctx_pid != getpid()) {
        ctx = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!ctx) {
            snprintf(err, (size_t)errlen, "libnftables: cannot create a context");
            return -1;
        }
        ctx_pid = getpid();
        nft_ctx_buffer_output(ctx);
        nft_ctx_buffer_error(ctx);
    }
    rc = nft_run_cmd_from_buffer(ctx, cmds);
    if (rc != 0) {
        const char *e = nft_ctx_get_error_buffer(ctx);
        snprintf(err, (size_t)errlen, "nft: %.300s", e && *e ? e : "failed");
        return -1;
    }
    if (out) {
        const char *o = nft_ctx_get_output_buffer(ctx);
        *out = strdup(o ? o : "");
        if (!*out) {
            snprintf(err, (size_t)errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

int net_policy_apply(int slot, const struct net_policy *p, char *err, int errlen)
{
    char *cmds;
    int rc;

    if (slot < 0 || slot >= SLOT_COUNT) {
        snprintf(err, (size_t)errlen, "net policy: bad slot %d", slot);
        return -1;
    }
    if (!nft_table[0]) {
        snprintf(err, (size_t)errlen, "net policy: the host firewall is not installed");
        return -1;
    }
    /* The default on a clean slot: nothing to do, no syscall. */
    if (net_policy_is_default(p) && !(present[slot / 64] & (1ull << (slot % 64))))
        return 0;
    cmds = net_policy_commands(nft_table, slot, p);
    if (!cmds) {
        snprintf(err, (size_t)errlen, "out of memory");
        return -1;
    }
    rc = net_policy_nft(cmds, NULL, err, errlen);
    free(cmds);
    if (rc < 0)
        return -1;
    if (net_policy_is_default(p))
        present[slot / 64] &= ~(1ull << (slot % 64));
    else
        net_policy_mark_present(slot);
    return 0;
}

int net_policy_clear(int slot)
{
    char err[400];

    if (slot < 0 || slot >= SLOT_COUNT || !nft_table[0])
        return 0; /* --teardown-all: the whole table goes */
    /* Always issued (not only when this process set a policy): a forked helper or a
     * previous worker may have made it, and a free slot must be clean. */
    net_policy_mark_present(slot);
    if (net_policy_apply(slot, NULL, err, sizeof(err)) < 0) {
        log_warn("net policy: clear slot %d: %s", slot, err);
        return -1;
    }
    return 0;
}
