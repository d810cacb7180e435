#include "host_firewall.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube_log.h"
#include "util.h"

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

char *host_firewall_ruleset(const char *table)
{
    char *s = NULL;

    /* "add" then "flush": idempotent on restart, and the chains keep existing so no
     * moment without the drop rules... except between flush and re-add, which is one
     * nft transaction (the whole text is applied atomically by nft -f). */
    if (asprintf(&s,
                 "add table inet %1$s\n"
                 "flush table inet %1$s\n"
                 "add chain inet %1$s input { type filter hook input priority -10; policy accept; }\n"
                 "add chain inet %1$s forward { type filter hook forward priority -10; policy accept; }\n"
                 /* Replies to connections the host opened into the sandbox. */
                 "add rule inet %1$s input iifname \"vh*\" ct state established,related accept\n"
                 /* Anything a sandbox opens towards the host itself: refused. */
                 "add rule inet %1$s input iifname \"vh*\" counter drop\n"
                 /* Sandbox to sandbox, and to loopback or link-local (cloud metadata). */
                 "add rule inet %1$s forward iifname \"vh*\" oifname \"vh*\" counter drop\n"
                 "add rule inet %1$s forward iifname \"vh*\" ip daddr { 127.0.0.0/8, 169.254.0.0/16, 100.96.0.0/16 } counter drop\n"
                 "add rule inet %1$s forward iifname \"vh*\" ip6 daddr { ::1/128, fe80::/10 } counter drop\n",
                 table) < 0)
        return NULL;
    return s;
}

int host_firewall_install(const char *table)
{
    char *rules = host_firewall_ruleset(table);
    char *argv[] = {"/usr/sbin/nft", "-f", "-", NULL};
    int rc;

    if (rules == NULL)
        return -1;
    rc = util_run(argv, rules);
    free(rules);
    if (rc != 0) {
        log_error("host firewall: nft failed (%d); sandboxes would reach host services", rc);
        return -1;
    }
    log_info("host firewall: table inet %s installed", table);
    return 0;
}

int host_firewall_remove(const char *table)
{
    char text[128];
    char *argv[] = {"/usr/sbin/nft", "-f", "-", NULL};

    /* "add" first so deleting a table that is already gone is not an error. */
    snprintf(text, sizeof(text), "add table inet %s\ndelete table inet %s\n", table, table);
    return util_run(argv, text) == 0 ? 0 : -1;
}
