/* The sandbox's filesystem, built by the sandbox's first process inside its own user
 * and mount namespaces (runs in the child between clone and exec; see ns_spawn.c). */
#ifndef CUBE_WORKER_NS_MOUNTS_H
#define CUBE_WORKER_NS_MOUNTS_H

#include <stddef.h>

struct ns_mount_cfg {
    const char *lower;       /* template rootfs (read-only lower layer) */
    const char *sb_dir;      /* holds upper/, work/ and the mount point rootfs/ */
    const char *bin_dir;     /* host dir bound read-only at /.cube/bin */
    const char *hostname;    /* sandbox id */
    const char *resolv_conf; /* text for /etc/resolv.conf, or NULL: keep template's */
};

/* Overlay root, /.cube/bin, /proc, /sys, /dev, then pivot_root into it and drop the
 * host's tree. On return "/" is the sandbox root. -1 with err set. */
int ns_mounts_setup(const struct ns_mount_cfg *c, char *err, int errlen);

/* Hardening, after ns_mounts_setup (hence absolute paths) and while the process still
 * has CAP_SYS_ADMIN in its user namespace: hide the /proc and /sys files that expose
 * host kernel state (/dev/null or an empty read-only tmpfs over them) and make the
 * host-wide knobs read-only, as hardened OCI runtimes do. Paths this kernel does not
 * have are skipped. The sandbox cannot undo this: it has no CAP_SYS_ADMIN and its
 * seccomp filter refuses mount(2)/umount2(2). -1 with err set. */
int ns_mounts_mask(char *err, int errlen);

#endif
