#include "netns.h"

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "cube_log.h"
#include "slots.h"
#include "util.h"

static char ip_bin[64];

int netns_init(void)
{
    static const char *const cands[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip",
                                        "/bin/ip"};
    size_t i;

    for (i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
        if (access(cands[i], X_OK) == 0) {
            snprintf(ip_bin, sizeof(ip_bin), "%s", cands[i]);
            return 0;
        }
    }
    log_error("netns: iproute2 `ip` not found");
    return -1;
}

int netns_setup(const char *id, int slot, pid_t pid, char *err, int errlen)
{
    char host[SLOT_ADDR_LEN], sb[SLOT_ADDR_LEN], ifname[IFNAMSIZ], ns[64];
    char batch[1024];
    char *argv[6];
    int rc;

    if (slot_host_addr(slot, host) < 0 || slot_sandbox_addr(slot, sb) < 0 ||
        slot_ifname(slot, ifname, sizeof(ifname)) < 0) {
        snprintf(err, (size_t)errlen, "netns: bad slot %d", slot);
        return -1;
    }
    snprintf(ns, sizeof(ns), "cube-%s", id);

    /* Host side, one ip process: name the sandbox's netns (bind mount of
     * /proc/<pid>/ns/net on /run/netns/<ns>, so tools and teardown can find it
     * without the pid), create the pair with the peer directly inside the netns, and
     * address the host end. A directly connected /30 needs no ip_forward: host <->
     * sandbox traffic is local delivery on vh<n>. */
    snprintf(batch, sizeof(batch),
             "netns attach %s %d\n"
             "link add %s type veth peer name eth0 netns %s\n"
             "addr add %s/30 dev %s\n"
             "link set %s up\n",
             ns, (int)pid, ifname, ns, host, ifname, ifname);
    argv[0] = ip_bin;
    argv[1] = "-batch";
    argv[2] = "-";
    argv[3] = NULL;
    rc = util_run(argv, batch);
    if (rc != 0) {
        snprintf(err, (size_t)errlen, "netns: host-side setup of %s failed (ip exit %d)",
                 ifname, rc);
        goto fail;
    }

    /* Sandbox side. */
    snprintf(batch, sizeof(batch),
             "link set lo up\n"
             "addr add %s/30 dev eth0\n"
             "link set eth0 up\n"
             "route add default via %s dev eth0\n",
             sb, host);
    argv[0] = ip_bin;
    argv[1] = "-n";
    argv[2] = ns;
    argv[3] = "-batch";
    argv[4] = "-";
    argv[5] = NULL;
    rc = util_run(argv, batch);
    if (rc != 0) {
        snprintf(err, (size_t)errlen,
                 "netns: sandbox-side setup in %s failed (ip exit %d)", ns, rc);
        goto fail;
    }
    return 0;
fail:
    netns_teardown(id, slot);
    return -1;
}

void netns_teardown(const char *id, int slot)
{
    char ifname[IFNAMSIZ], ns[64], path[PATH_MAX];
    char *argv[7];

    /* Deleting either end deletes the pair; the sandbox end also dies with its netns,
     * so this mostly matters when the netns is still pinned by something. */
    if (slot_ifname(slot, ifname, sizeof(ifname)) == 0 && if_nametoindex(ifname) != 0) {
        argv[0] = ip_bin;
        argv[1] = "link";
        argv[2] = "del";
        argv[3] = ifname;
        argv[4] = NULL;
        if (util_run(argv, NULL) != 0)
            log_warn("netns: ip link del %s failed", ifname);
    }
    /* `ip netns delete` = umount + unlink of /run/netns/<ns>; done directly to save a
     * spawn. MNT_DETACH: a tool that has the file open must not make this fail. */
    snprintf(ns, sizeof(ns), "cube-%s", id);
    if (util_fmt(path, sizeof(path), "/run/netns/%s", ns) < 0)
        return;
    if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        log_warn("netns: umount %s: %s", path, strerror(errno));
    if (unlink(path) < 0 && errno != ENOENT)
        log_warn("netns: unlink %s: %s", path, strerror(errno));
}
