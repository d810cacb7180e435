#include "host_firewall.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube_log.h"
#include "net_policy.h"
#include "util.h"

#define SANDBOX_NET "100.96.0.0/16"

void host_firewall_table_name(const char *instance, char *out, size_t len)
{
    size_t n = 0;

    for (const char *p = instance; *p && n + 1 < len && n < 32; p++) {
        char c = *p;
        out[n++] = (char)(((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) ? c : '_'); /* c or '_' */
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, len, "cube");
}

int host_firewall_resolvers(const char *resolv_conf, char *out, size_t len)
{
    const char *line = resolv_conf;
    int n = 0;

    out[0] = '\0';
    while (line && *line && n < HOST_FIREWALL_MAX_RESOLVERS) {
        const char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        char buf[128], addr[64];
        struct in_addr a;

        if (ll < sizeof(buf)) {
            memcpy(buf, line, ll);
            buf[ll] = '\0';
            char *p = buf + strspn(buf, " \t");
            if (strncmp(p, "nameserver", 10) == 0 && (p[10] == ' ' || p[10] == '\t')) {
                p += 10 + strspn(p + 10, " \t");
                size_t al = strcspn(p, " \t#;");
                if (al < sizeof(addr)) {
                    memcpy(addr, p, al);
                    addr[al] = '\0';
                    if (inet_pton(AF_INET, addr, &a) == 1 &&
                        (ntohl(a.s_addr) >> 24) != 127 && strlen(out) + al + 3 < len) {
                        strcat(out, n ? ", " : "");
                        strcat(out, addr);
                        n++;
                    }
                }
            }
        }
        line = end ? end + 1 : NULL;
    }
    return n;
}

char *host_firewall_ruleset(const char *table, const char *resolvers)
{
    char dns[400] = "";
    char *s = NULL;

    /* DNS to the resolvers the sandboxes' resolv.conf names (copied from the host's)
     * is let through the private-range block, still subject to the sandbox's policy:
     * the vmap rule applies it, a sandbox without one falls to the accept. */
    if (resolvers && *resolvers &&
        snprintf(dns, sizeof(dns),
                 "add rule inet %1$s egress ip daddr { %2$s } meta l4proto { tcp, udp } th "
                 "dport 53 ip saddr vmap @sbpolicy\n"
                 "add rule inet %1$s egress ip daddr { %2$s } meta l4proto { tcp, udp } th "
                 "dport 53 accept\n",
                 table, resolvers) >= (int)sizeof(dns))
        return NULL;
    /* "add" then "flush" of the fixed chains only: idempotent on restart, one
     * transaction (atomic), and the per-sandbox chains p<slot> and the map survive. */
    if (asprintf(&s,
                 "add table inet %1$s\n"
                 "add map inet %1$s sbpolicy { type ipv4_addr : verdict; }\n"
                 "add chain inet %1$s input { type filter hook input priority -10; policy accept; }\n"
                 "add chain inet %1$s forward { type filter hook forward priority -10; policy accept; }\n"
                 "add chain inet %1$s egress\n"
                 "add chain inet %1$s postrouting { type nat hook postrouting priority srcnat; policy accept; }\n"
                 "flush chain inet %1$s input\n"
                 "flush chain inet %1$s forward\n"
                 "flush chain inet %1$s egress\n"
                 "flush chain inet %1$s postrouting\n"
                 /* Replies to connections the host opened into the sandbox. */
                 "add rule inet %1$s input iifname \"vh*\" ct state established,related accept\n"
                 /* Anything a sandbox opens towards the host itself: refused. */
                 "add rule inet %1$s input iifname \"vh*\" counter drop\n"
                 "add rule inet %1$s forward iifname \"vh*\" jump egress\n"
                 /* ip_forward is on: nobody outside may route into a sandbox. */
                 "add rule inet %1$s forward oifname \"vh*\" ct state != { established, related } counter drop\n"
                 /* Sandbox to sandbox, and to loopback, link-local (cloud metadata),
                  * this-network, multicast and reserved space: never. */
                 "add rule inet %1$s egress oifname \"vh*\" counter drop\n"
                 "add rule inet %1$s egress ip daddr { 0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, " SANDBOX_NET ", 224.0.0.0/3 } counter drop\n"
                 "add rule inet %1$s egress meta nfproto ipv6 counter drop\n"
                 "%2$s"
                 /* The operator's private networks. */
                 "add rule inet %1$s egress ip daddr { 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 } counter drop\n"
                 /* The sandbox's own allowOut/denyOut, if it has any. */
                 "add rule inet %1$s egress ip saddr vmap @sbpolicy\n"
                 "add rule inet %1$s postrouting ip saddr " SANDBOX_NET " oifname != \"vh*\" masquerade\n",
                 table, dns) < 0)
        return NULL;
    return s;
}

/* Sandboxes reach the internet through the host: IPv4 forwarding must be on. It is a
 * host-wide switch (docs/operator-guide.md); IPv6 forwarding is left alone (turning it
 * on would stop the host from accepting router advertisements). */
static int enable_forwarding(void)
{
    static const char knob[] = "/proc/sys/net/ipv4/ip_forward";
    char *v = util_read_file(knob, 16, NULL);
    int on = v && v[0] == '1';

    free(v);
    if (on)
        return 0;
    if (util_write_knob(knob, "1") < 0) {
        log_error("host firewall: cannot enable %s: %s; sandboxes get no internet", knob,
                  strerror(errno));
        return -1;
    }
    log_warn("host firewall: enabled net.ipv4.ip_forward (host-wide) for sandbox egress");
    return 0;
}

/* Slots whose policy chain a previous worker left in the table. */
static void scan_present(const char *table)
{
    char cmd[128], err[400];
    char *out = NULL, *p;

    snprintf(cmd, sizeof(cmd), "list map inet %s sbpolicy\n", table);
    if (net_policy_nft(cmd, &out, err, sizeof(err)) < 0) {
        log_warn("host firewall: %s", err);
        return;
    }
    for (p = out; (p = strstr(p, "jump p")) != NULL; p += 6) {
        char *end;
        long slot = strtol(p + 6, &end, 10);
        if (end != p + 6)
            net_policy_mark_present((int)slot);
    }
    free(out);
}

int host_firewall_install(const char *table)
{
    char resolvers[400] = "", err[400];
    char *conf = util_read_file("/etc/resolv.conf", (size_t)64 * 1024, NULL);
    char *rules;
    int rc;

    if (conf)
        host_firewall_resolvers(conf, resolvers, sizeof(resolvers));
    free(conf);
    rules = host_firewall_ruleset(table, resolvers);
    if (rules == NULL)
        return -1;
    net_policy_init(table);
    rc = net_policy_nft(rules, NULL, err, sizeof(err));
    free(rules);
    if (rc != 0) {
        log_error("host firewall: %s; sandboxes would reach host services", err);
        return -1;
    }
    scan_present(table);
    enable_forwarding();
    log_info("host firewall: table inet %s installed (DNS allowed to: %s)", table,
             resolvers[0] ? resolvers : "none");
    return 0;
}

int host_firewall_remove(const char *table)
{
    char text[128], err[400];

    /* "add" first so deleting a table that is already gone is not an error. */
    snprintf(text, sizeof(text), "add table inet %s\ndelete table inet %s\n", table, table);
    if (net_policy_nft(text, NULL, err, sizeof(err)) < 0) {
        log_warn("host firewall: remove %s: %s", table, err);
        return -1;
    }
    return 0;
}
