/* Capabilities by raw syscalls (prctl, capget/capset): no libcap needed for a fixed
 * mask. */
#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

const struct cap_name caps_sandbox_set[] = {
    {CAP_CHOWN, "CHOWN"},
    {CAP_DAC_OVERRIDE, "DAC_OVERRIDE"},
    {CAP_FOWNER, "FOWNER"},
    {CAP_FSETID, "FSETID"},
    {CAP_KILL, "KILL"},
    {CAP_SETGID, "SETGID"},
    {CAP_SETUID, "SETUID"},
    {CAP_SETPCAP, "SETPCAP"},
    {CAP_NET_BIND_SERVICE, "NET_BIND_SERVICE"},
    {CAP_NET_RAW, "NET_RAW"},
    {CAP_SYS_CHROOT, "SYS_CHROOT"},
    {CAP_MKNOD, "MKNOD"},
    {CAP_AUDIT_WRITE, "AUDIT_WRITE"},
    {CAP_SETFCAP, "SETFCAP"},
};
const int caps_sandbox_set_len = (int)(sizeof(caps_sandbox_set) / sizeof(caps_sandbox_set[0]));

uint64_t caps_sandbox_mask(void)
{
    uint64_t m = 0;
    int i;

    for (i = 0; i < caps_sandbox_set_len; i++)
        m |= 1ULL << caps_sandbox_set[i].num;
    return m;
}

uint64_t caps_drop_mask(uint64_t keep, int last_cap)
{
    uint64_t all;

    if (last_cap < 0)
        return 0;
    all = last_cap >= 63 ? ~0ULL : (1ULL << (last_cap + 1)) - 1;
    return all & ~keep;
}

void caps_format(uint64_t mask, char *out)
{
    snprintf(out, 17, "%016llx", (unsigned long long)mask);
}

int caps_last_cap(void)
{
    int c;

    for (c = 0; c < 64; c++)
        if (prctl(PR_CAPBSET_READ, (unsigned long)c, 0, 0, 0) < 0)
            break;
    return c - 1;
}

int caps_limit_bounding(uint64_t keep, char *err, int errlen)
{
    uint64_t drop = caps_drop_mask(keep, caps_last_cap());
    int c;

    for (c = 0; c < 64; c++) {
        if (!(drop & (1ULL << c)))
            continue;
        if (prctl(PR_CAPBSET_DROP, (unsigned long)c, 0, 0, 0) < 0) {
            snprintf(err, (size_t)errlen, "drop capability %d from the bounding set: %s",
                     c, strerror(errno));
            return -1;
        }
    }
    /* EINVAL: kernel without ambient capabilities (< 4.3), nothing to clear. */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
        snprintf(err, (size_t)errlen, "clear ambient capabilities: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int caps_limit_process(uint64_t keep, char *err, int errlen)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    uint64_t perm;

    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) < 0) {
        snprintf(err, (size_t)errlen, "capget: %s", strerror(errno));
        return -1;
    }
    perm = ((uint64_t)data[1].permitted << 32 | data[0].permitted) & keep;
    data[0].effective = data[0].permitted = (uint32_t)perm;
    data[1].effective = data[1].permitted = (uint32_t)(perm >> 32);
    data[0].inheritable = data[1].inheritable = 0;
    if (syscall(SYS_capset, &hdr, data) < 0) {
        snprintf(err, (size_t)errlen, "capset: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int caps_apply(uint64_t keep, char *err, int errlen)
{
    if (caps_limit_bounding(keep, err, errlen) < 0)
        return -1;
    return caps_limit_process(keep, err, errlen);
}
