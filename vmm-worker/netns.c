#include "netns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cube_log.h"
#include "slots.h"

#define NL_MAX_REQ 8
#define NL_WHAT_LEN 64
#define NL_REQ_ROOM 256 /* the largest request below (veth create) is ~100 bytes */
#define NL_RECV_SIZE 16384
/* How long a release waits for the kernel to remove a dead sandbox's veth pair
 * before deleting it itself, and how often it looks. */
#define VETH_GONE_WAIT_MS 250
#define VETH_GONE_POLL_MS 2

/* Up to NL_MAX_REQ requests sent with one sendmsg. Each asks for an ACK, so every one
 * is answered (the kernel handles them in order and goes on after a failure) and the
 * first failure is reported with the step it belongs to. */
struct nl_batch {
    struct mnl_socket *sk;
    int n;
    const char *where; /* "" or " in sandbox netns", appended to every step's name */
    char what[NL_MAX_REQ][NL_WHAT_LEN];
    int res[NL_MAX_REQ]; /* per request: 0 ok, -errno, or 1 while unanswered */
    size_t len;
    /* Filled from an RTM_NEWLINK reply (RTM_GETLINK): the link's index and, for a
     * veth, its peer's index in the peer's netns. */
    int ifindex, peer_ifindex;
    char buf[NL_MAX_REQ * NL_REQ_ROOM] __attribute__((aligned(4)));
};

static void __attribute__((format(printf, 3, 4)))
seterr(char *err, int errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(err, (size_t)errlen, fmt, ap);
    va_end(ap);
}

static struct mnl_socket *nl_open(char *err, int errlen, const char *where)
{
    struct mnl_socket *sk;
    int one = 1;

    sk = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (sk == NULL) {
        seterr(err, errlen, "rtnetlink socket %s: %s", where, strerror(errno));
        return NULL;
    }
    /* CAP_ACK: errors carry only the request's header, not the whole request.
     * EXT_ACK: the kernel's reason text, when it gives one. Both best effort. */
    mnl_socket_setsockopt(sk, NETLINK_CAP_ACK, &one, sizeof(one));
    mnl_socket_setsockopt(sk, NETLINK_EXT_ACK, &one, sizeof(one));
    if (mnl_socket_bind(sk, 0, MNL_SOCKET_AUTOPID) < 0) {
        seterr(err, errlen, "rtnetlink bind %s: %s", where, strerror(errno));
        mnl_socket_close(sk);
        return NULL;
    }
    return sk;
}

static void batch_init(struct nl_batch *b, struct mnl_socket *sk, const char *where)
{
    b->sk = sk;
    b->where = where;
    b->n = 0;
    b->len = 0;
    b->ifindex = 0;
    b->peer_ifindex = 0;
}

/* Start the next request; seq = its position + 1, so a reply maps back to its step,
 * named by the printf-style fmt. The caller adds NLM_F_CREATE etc. as needed. */
static struct nlmsghdr *__attribute__((format(printf, 3, 4)))
batch_req(struct nl_batch *b, uint16_t type, const char *fmt, ...)
{
    struct nlmsghdr *nlh;
    va_list ap;

    if (b->n >= NL_MAX_REQ || b->len + NL_REQ_ROOM > sizeof(b->buf))
        abort(); /* a programming error: the batches below are fixed */
    memset(b->buf + b->len, 0, NL_REQ_ROOM);
    nlh = mnl_nlmsg_put_header(b->buf + b->len);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = (uint32_t)b->n + 1;
    b->res[b->n] = 1;
    va_start(ap, fmt);
    (void)vsnprintf(b->what[b->n], NL_WHAT_LEN, fmt, ap);
    va_end(ap);
    b->n++;
    return nlh;
}

static void batch_end(struct nl_batch *b, const struct nlmsghdr *nlh)
{
    b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static int ext_ack_cb(const struct nlattr *a, void *data)
{
    if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
        mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
        *(const char **)data = mnl_attr_get_str(a);
    return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *a, void *data)
{
    struct nl_batch *b = data;

    if (mnl_attr_get_type(a) == IFLA_LINK && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
        b->peer_ifindex = (int)mnl_attr_get_u32(a);
    return MNL_CB_OK;
}

/* Error of one reply: 0 for an ACK, else sets err ("<what>: <strerror>[: <kernel>]")
 * unless an earlier step already did. */
static int on_error_msg(struct nl_batch *b, const struct nlmsghdr *nlh, int idx,
                        int *failed, char *err, int errlen)
{
    const struct nlmsgerr *e;
    const char *kmsg = NULL;

    if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
        seterr(err, errlen, "%s%s: truncated netlink error", b->what[idx], b->where);
        *failed = 1;
        return -1;
    }
    e = mnl_nlmsg_get_payload(nlh);
    b->res[idx] = e->error > 0 ? -e->error : e->error;
    if (e->error == 0)
        return 0;
    if ((nlh->nlmsg_flags & NLM_F_CAPPED) && (nlh->nlmsg_flags & NLM_F_ACK_TLVS))
        mnl_attr_parse(nlh, sizeof(*e), ext_ack_cb, &kmsg);
    if (!*failed) {
        if (kmsg != NULL && *kmsg != '\0')
            seterr(err, errlen, "%s%s: %s (%s)", b->what[idx], b->where,
                   strerror(-e->error), kmsg);
        else
            seterr(err, errlen, "%s%s: %s", b->what[idx], b->where, strerror(-e->error));
    }
    *failed = 1;
    return -1;
}

/* Send the batch and read every answer. 0 if all steps succeeded, else -1 with err set
 * to the first failure. */
static int batch_run(struct nl_batch *b, char *err, int errlen)
{
    char rbuf[NL_RECV_SIZE] __attribute__((aligned(4)));
    const struct nlmsghdr *nlh;
    int acked = 0, failed = 0, idx, rem;
    ssize_t len;

    if (mnl_socket_sendto(b->sk, b->buf, b->len) < 0) {
        seterr(err, errlen, "%s%s: netlink send: %s", b->what[0], b->where,
               strerror(errno));
        return -1;
    }
    while (acked < b->n) {
        len = mnl_socket_recvfrom(b->sk, rbuf, sizeof(rbuf));
        if (len < 0 && errno == EINTR)
            continue;
        if (len <= 0) {
            seterr(err, errlen, "%s%s: netlink receive: %s", b->what[acked], b->where,
                   len < 0 ? strerror(errno) : "end of stream");
            return -1;
        }
        rem = (int)len;
        nlh = (const struct nlmsghdr *)rbuf;
        for (; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
            if (nlh->nlmsg_seq < 1 || nlh->nlmsg_seq > (uint32_t)b->n)
                continue; /* not ours (nothing else talks on this socket) */
            idx = (int)nlh->nlmsg_seq - 1;
            if (nlh->nlmsg_type == NLMSG_ERROR) {
                acked++;
                on_error_msg(b, nlh, idx, &failed, err, errlen);
            } else if (nlh->nlmsg_type == RTM_NEWLINK &&
                       nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(struct ifinfomsg))) {
                const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);

                b->ifindex = ifm->ifi_index;
                mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, b);
            }
        }
    }
    return failed ? -1 : 0;
}

/* ---- requests (the same messages `ip` sends for the equivalent commands) ---------- */

static struct ifinfomsg *put_ifinfo(struct nlmsghdr *nlh, int index)
{
    struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

    ifm->ifi_family = AF_UNSPEC;
    ifm->ifi_index = index;
    return ifm;
}

/* Fixed MAC addresses per slot (locally administered, never seen past the veth), so
 * each end can know the other's without asking: see req_neigh. */
static void slot_mac(int slot, int sandbox_end, unsigned char mac[6])
{
    mac[0] = 0x02;
    mac[1] = 0xcb;
    mac[2] = 0x00;
    mac[3] = sandbox_end ? 0x02 : 0x01;
    mac[4] = (unsigned char)((unsigned)slot >> 8);
    mac[5] = (unsigned char)((unsigned)slot & 0xff);
}

/* ip link add <host> address <mac> type veth peer name eth0 address <mac> netns <nsfd> */
static void req_veth(struct nl_batch *b, int slot, const char *host, int nsfd)
{
    unsigned char hmac[6], smac[6];
    struct nlmsghdr *nlh = batch_req(b, RTM_NEWLINK, "create veth %s", host);
    struct nlattr *info, *data, *peer;

    nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
    slot_mac(slot, 0, hmac);
    slot_mac(slot, 1, smac);
    put_ifinfo(nlh, 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, host);
    mnl_attr_put(nlh, IFLA_ADDRESS, sizeof(hmac), hmac);
    info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
    data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
    put_ifinfo(nlh, 0); /* VETH_INFO_PEER starts with the peer's ifinfomsg */
    mnl_attr_put_strz(nlh, IFLA_IFNAME, "eth0");
    mnl_attr_put(nlh, IFLA_ADDRESS, sizeof(smac), smac);
    mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)nsfd);
    mnl_attr_nest_end(nlh, peer);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, info);
    batch_end(b, nlh);
}

/* ip link show <name>: its index and peer index land in b */
static void req_getlink(struct nl_batch *b, const char *name)
{
    struct nlmsghdr *nlh = batch_req(b, RTM_GETLINK, "look up %s", name);

    put_ifinfo(nlh, 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    batch_end(b, nlh);
}

/* ip link set <name> up; by index if known, else by name */
static void req_up(struct nl_batch *b, int index, const char *name)
{
    struct nlmsghdr *nlh = batch_req(b, RTM_NEWLINK, "bring up %s", name);
    struct ifinfomsg *ifm = put_ifinfo(nlh, index);

    ifm->ifi_flags = IFF_UP;
    ifm->ifi_change = IFF_UP;
    if (index == 0)
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    batch_end(b, nlh);
}

/* ip link set <name> addrgenmode none: no IPv6 link-local address, so no DAD, router
 * solicitation or neighbour discovery traffic on thousands of links that only carry
 * IPv4. Sent before the link goes up. */
static void req_no_ipv6_autoconf(struct nl_batch *b, int index, const char *name)
{
    struct nlmsghdr *nlh = batch_req(b, RTM_NEWLINK, "addrgenmode none on %s", name);
    struct nlattr *spec, *inet6;

    put_ifinfo(nlh, index);
    spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
    inet6 = mnl_attr_nest_start(nlh, AF_INET6);
    mnl_attr_put_u8(nlh, IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE);
    mnl_attr_nest_end(nlh, inet6);
    mnl_attr_nest_end(nlh, spec);
    batch_end(b, nlh);
}

/* ip neigh add <a> lladdr <mac> dev <index> nud permanent. Why: the kernel's ARP table
 * is shared by all network namespaces and, past gc_thresh3 (1024 by default) entries
 * younger than 5 s, refuses new ones ("neighbor table overflow"), so a node with
 * thousands of sandboxes loses connections to them. Permanent entries are exempt from
 * that limit, need no ARP round trip, and cannot be changed by ARP from the sandbox. */
static void req_neigh(struct nl_batch *b, int index, const char *name, struct in_addr a,
                      const unsigned char mac[6])
{
    char s[INET_ADDRSTRLEN];
    struct nlmsghdr *nlh;
    struct ndmsg *ndm;

    inet_ntop(AF_INET, &a, s, sizeof(s));
    nlh = batch_req(b, RTM_NEWNEIGH, "neighbour %s on %s", s, name);
    nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_REPLACE;
    ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
    ndm->ndm_family = AF_INET;
    ndm->ndm_ifindex = index;
    ndm->ndm_state = NUD_PERMANENT;
    mnl_attr_put(nlh, NDA_DST, sizeof(a), &a);
    mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
    batch_end(b, nlh);
}

/* ip link del <name> */
static void req_del(struct nl_batch *b, const char *name)
{
    struct nlmsghdr *nlh = batch_req(b, RTM_DELLINK, "delete %s", name);

    put_ifinfo(nlh, 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    batch_end(b, nlh);
}

/* ip addr add <a>/30 dev <name>: local = address, no broadcast, scope global */
static void req_addr(struct nl_batch *b, int index, const char *name, struct in_addr a)
{
    char s[INET_ADDRSTRLEN];
    struct nlmsghdr *nlh;
    struct ifaddrmsg *ifa;

    inet_ntop(AF_INET, &a, s, sizeof(s));
    nlh = batch_req(b, RTM_NEWADDR, "address %s/30 on %s", s, name);
    nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
    ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = 30;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = (uint32_t)index;
    mnl_attr_put(nlh, IFA_LOCAL, sizeof(a), &a);
    mnl_attr_put(nlh, IFA_ADDRESS, sizeof(a), &a);
    batch_end(b, nlh);
}

/* ip route add default via <gw> dev <index> (proto boot, table main) */
static void req_default_route(struct nl_batch *b, int index, struct in_addr gw)
{
    char s[INET_ADDRSTRLEN];
    struct nlmsghdr *nlh;
    struct rtmsg *rtm;

    inet_ntop(AF_INET, &gw, s, sizeof(s));
    nlh = batch_req(b, RTM_NEWROUTE, "default route via %s", s);
    nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
    rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
    rtm->rtm_family = AF_INET;
    rtm->rtm_table = RT_TABLE_MAIN;
    rtm->rtm_protocol = RTPROT_BOOT;
    rtm->rtm_scope = RT_SCOPE_UNIVERSE;
    rtm->rtm_type = RTN_UNICAST;
    mnl_attr_put(nlh, RTA_GATEWAY, sizeof(gw), &gw);
    mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)index);
    batch_end(b, nlh);
}

/* ---- netns ------------------------------------------------------------------------ */

/* An rtnetlink socket inside the netns nsfd (opened from path). The calling thread
 * enters it only for the socket() call: a netlink socket stays in the netns it was made
 * in. */
static struct mnl_socket *nl_open_in(const char *path, int nsfd, char *err, int errlen)
{
    struct mnl_socket *sk;
    int self, e;

    self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) {
        seterr(err, errlen, "open own netns: %s", strerror(errno));
        return NULL;
    }
    if (setns(nsfd, CLONE_NEWNET) < 0) {
        seterr(err, errlen, "enter %s: %s", path, strerror(errno));
        close(self);
        return NULL;
    }
    sk = nl_open(err, errlen, "in sandbox netns");
    e = errno;
    if (setns(self, CLONE_NEWNET) < 0) {
        /* Every later socket of this thread would land in the sandbox: stop here. */
        log_error("netns: cannot return to own netns: %s", strerror(errno));
        abort();
    }
    close(self);
    errno = e;
    return sk;
}

int netns_init(void)
{
    char err[128];
    struct mnl_socket *sk;
    int self, rc;

    sk = nl_open(err, sizeof(err), "at startup");
    if (sk == NULL) {
        log_error("netns: %s", err);
        return -1;
    }
    mnl_socket_close(sk);
    /* Entering the own netns needs the same privilege (CAP_SYS_ADMIN) as entering a
     * sandbox's: fail at startup rather than at the first create. */
    self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    rc = self < 0 ? -1 : setns(self, CLONE_NEWNET);
    if (rc < 0)
        log_error("netns: setns into own netns: %s", strerror(errno));
    if (self >= 0)
        close(self);
    return rc < 0 ? -1 : 0;
}

/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): the API callers use */
int netns_setup(int slot, pid_t pid, char *err, int errlen)
{
    char host[SLOT_ADDR_LEN], sb[SLOT_ADDR_LEN], ifname[IFNAMSIZ], path[64];
    struct mnl_socket *hsk = NULL, *ssk = NULL;
    struct in_addr host_a, sb_a;
    unsigned char hmac[6], smac[6];
    struct nl_batch b;
    int nsfd, created = 0, rc = -1, index, peer;

    if (slot_host_addr(slot, host) < 0 || slot_sandbox_addr(slot, sb) < 0 ||
        slot_ifname(slot, ifname, sizeof(ifname)) < 0 ||
        inet_pton(AF_INET, host, &host_a) != 1 || inet_pton(AF_INET, sb, &sb_a) != 1) {
        seterr(err, errlen, "netns: bad slot %d", slot);
        return -1;
    }
    if (pid <= 1) {
        seterr(err, errlen, "netns: bad pid %d", (int)pid);
        return -1;
    }
    (void)snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
    nsfd = open(path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) {
        seterr(err, errlen, "open %s: %s", path, strerror(errno));
        return -1;
    }
    hsk = nl_open(err, errlen, "on host");
    if (hsk == NULL)
        goto out;
    ssk = nl_open_in(path, nsfd, err, errlen);
    if (ssk == NULL)
        goto out;

    /* Host: the pair, with eth0 born inside the sandbox's netns, and both indexes. */
    batch_init(&b, hsk, "");
    req_veth(&b, slot, ifname, nsfd);
    req_getlink(&b, ifname);
    rc = batch_run(&b, err, errlen);
    created = b.res[0] == 0; /* EEXIST: another sandbox's vh, never ours to delete */
    if (rc < 0)
        goto out;
    rc = -1;
    index = b.ifindex;
    peer = b.peer_ifindex;
    if (index <= 0 || peer <= 0) {
        seterr(err, errlen, "look up %s: no index for it or its peer", ifname);
        goto out;
    }
    slot_mac(slot, 0, hmac);
    slot_mac(slot, 1, smac);
    batch_init(&b, hsk, "");
    req_addr(&b, index, ifname, host_a);
    req_no_ipv6_autoconf(&b, index, ifname);
    req_up(&b, index, ifname);
    req_neigh(&b, index, ifname, sb_a, smac);
    if (batch_run(&b, err, errlen) < 0)
        goto out;

    /* Sandbox: lo, eth0 address and link, default route via the host end. A /30 that
     * is directly connected needs no ip_forward: host <-> sandbox is local delivery. */
    batch_init(&b, ssk, " in sandbox netns");
    req_up(&b, 0, "lo");
    req_addr(&b, peer, "eth0", sb_a);
    req_no_ipv6_autoconf(&b, peer, "eth0");
    req_up(&b, peer, "eth0");
    req_neigh(&b, peer, "eth0", host_a, hmac);
    req_default_route(&b, peer, host_a);
    if (batch_run(&b, err, errlen) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0 && created) {
        char derr[128];

        batch_init(&b, hsk, "");
        req_del(&b, ifname);
        if (batch_run(&b, derr, sizeof(derr)) < 0)
            log_warn("netns: undo after failed setup: %s", derr);
    }
    if (ssk != NULL)
        mnl_socket_close(ssk);
    if (hsk != NULL)
        mnl_socket_close(hsk);
    close(nsfd);
    return rc;
}

/* 1 if the link exists, 0 if not, -1 if that cannot be told. */
static int link_exists(struct mnl_socket *sk, const char *ifname)
{
    char err[160];
    struct nl_batch b;

    batch_init(&b, sk, "");
    req_getlink(&b, ifname);
    if (batch_run(&b, err, sizeof(err)) == 0)
        return 1;
    return b.res[0] == -ENODEV ? 0 : -1;
}

void netns_teardown(int slot)
{
    char ifname[IFNAMSIZ], err[160];
    struct timespec pause = {0, VETH_GONE_POLL_MS * 1000000L};
    struct mnl_socket *sk;
    struct nl_batch b;
    int waited, e;

    if (slot_ifname(slot, ifname, sizeof(ifname)) < 0)
        return; /* slot < 0: never had a veth */
    sk = nl_open(err, sizeof(err), "on host");
    if (sk == NULL) {
        log_warn("netns: teardown of %s: %s", ifname, err);
        return;
    }
    /* The sandbox's netns dies with its last process, and the kernel then removes the
     * pair itself, batched with every other namespace dying at the time (~15 ms after
     * init here). Deleting it ourselves meanwhile costs a second unregistration: the
     * rtnl lock held across RCU grace periods (~20 ms, during which no other spawner
     * can create a veth). So look until it is gone, and delete it only if it stays
     * (its netns still held: init not dead yet). */
    for (waited = 0; waited < VETH_GONE_WAIT_MS; waited += VETH_GONE_POLL_MS) {
        e = link_exists(sk, ifname);
        if (e == 0) {
            mnl_socket_close(sk);
            return;
        }
        if (e < 0)
            break;
        nanosleep(&pause, NULL);
    }
    /* Deleting either end deletes the pair; ENODEV: it went just now. */
    batch_init(&b, sk, "");
    req_del(&b, ifname);
    if (batch_run(&b, err, sizeof(err)) < 0 && b.res[0] != -ENODEV)
        log_warn("netns: %s", err);
    mnl_socket_close(sk);
}
