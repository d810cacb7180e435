/* Why the overlay is mounted here, inside the sandbox's user namespace, and not by the
 * worker on the host before clone: a mount made in the sandbox's own mount namespace
 * exists only there, so when the sandbox dies the kernel drops every one of its
 * mounts and nothing can be left behind on the host, even if the worker is killed
 * mid-create. Overlayfs allows unprivileged (userns) mounts since Linux 5.11; there it
 * needs "userxattr" (overlay metadata in user.overlay.* xattrs, since trusted.* is
 * reserved to init-namespace root). upper/ and work/ are owned by the sandbox's root
 * (host uid = uidShift) so the mounter can write them.
 *
 * Paths are built relative to the new root before pivot_root; the template and the
 * still-empty upper layer are trusted at this point (the sandbox has not run yet). */
#include "ns_mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cube_hosts.h"
#include "cube_log.h"

#define FAIL(...)                                                                        \
    do {                                                                                 \
        snprintf(err, (size_t)errlen, __VA_ARGS__);                                      \
        return -1;                                                                       \
    } while (0)

static int mkdir_in(const char *root, const char *rel, mode_t mode, char *path,
                    size_t cap)
{
    int n = snprintf(path, cap, "%s/%s", root, rel);

    if (n < 0 || (size_t)n >= cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* Make a bind mount read-only without dropping flags the kernel locked on it
 * (nosuid/nodev/noexec/atime inherited from the host mount cannot be cleared from a
 * user namespace, and a remount that omits them fails with EPERM). */
static int bind_remount_ro(const char *path)
{
    struct statvfs sv;
    unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV;

    if (statvfs(path, &sv) < 0)
        return -1;
    /* ST_* values equal the MS_* ones for these bits. */
    flags |= sv.f_flag & (ST_NOEXEC | ST_NOATIME | ST_NODIRATIME | ST_RELATIME);
    return mount(NULL, path, NULL, flags, NULL);
}

static int setup_overlay(const struct ns_mount_cfg *c, char *root, size_t cap, char *err,
                         int errlen)
{
    char opts[3 * PATH_MAX];
    int n;

    n = snprintf(root, cap, "%s/rootfs", c->sb_dir);
    if (n < 0 || (size_t)n >= cap)
        FAIL("rootfs path too long");
    n = snprintf(opts, sizeof(opts),
                 "lowerdir=%s,upperdir=%s/upper,workdir=%s/work,userxattr", c->lower,
                 c->sb_dir, c->sb_dir);
    if (n < 0 || (size_t)n >= (int)sizeof(opts))
        FAIL("overlay options too long");
    if (mount("overlay", root, "overlay", MS_NODEV, opts) < 0)
        FAIL("mount overlay on %s: %s", root, strerror(errno));
    return 0;
}

static int setup_bin(const struct ns_mount_cfg *c, const char *root, char *err,
                     int errlen)
{
    char path[PATH_MAX];

    if (mkdir_in(root, ".cube", 0755, path, sizeof(path)) < 0 ||
        mkdir_in(root, ".cube/bin", 0755, path, sizeof(path)) < 0)
        FAIL("mkdir /.cube/bin: %s", strerror(errno));
    if (mount(c->bin_dir, path, NULL, MS_BIND | MS_REC, NULL) < 0)
        FAIL("bind %s: %s", c->bin_dir, strerror(errno));
    if (bind_remount_ro(path) < 0)
        FAIL("remount /.cube/bin read-only: %s", strerror(errno));
    return 0;
}

static int setup_proc_sys(const char *root, char *err, int errlen)
{
    char path[PATH_MAX];

    /* A fresh procfs: this process is pid 1 of the new pid namespace, so it shows only
     * the sandbox's processes. (Masking /proc/kcore etc. is ns_mounts_mask, called by
     * the hardening step, see ns_spawn.c.) */
    if (mkdir_in(root, "proc", 0555, path, sizeof(path)) < 0)
        FAIL("mkdir /proc: %s", strerror(errno));
    if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        FAIL("mount /proc: %s", strerror(errno));

    /* sysfs is allowed because the netns belongs to the sandbox's user namespace; it
     * shows that netns's devices only. Read-only. Some hosts refuse it (a /sys with
     * overmounts is "too revealing"); then the sandbox runs without /sys rather than
     * failing, as most tools do not need it. */
    if (mkdir_in(root, "sys", 0555, path, sizeof(path)) < 0)
        FAIL("mkdir /sys: %s", strerror(errno));
    if (mount("sysfs", path, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) < 0)
        log_warn("sandbox %s: no /sys (%s)", root, strerror(errno));
    return 0;
}

static int setup_dev(const char *root, char *err, int errlen)
{
    static const char *const nodes[] = {"null",   "zero",    "full",
                                        "random", "urandom", "tty"};
    static const char *const links[][2] = {{"pts/ptmx", "ptmx"},
                                           {"/proc/self/fd", "fd"},
                                           {"/proc/self/fd/0", "stdin"},
                                           {"/proc/self/fd/1", "stdout"},
                                           {"/proc/self/fd/2", "stderr"}};
    char dev[PATH_MAX], path[PATH_MAX + 32], src[32];
    size_t i;
    int fd;

    /* A small tmpfs instead of the host's /dev: only the harmless nodes are bound in
     * from the host (device nodes cannot be created in a user namespace, and a tmpfs
     * mounted there is implicitly nodev anyway). */
    if (mkdir_in(root, "dev", 0755, dev, sizeof(dev)) < 0)
        FAIL("mkdir /dev: %s", strerror(errno));
    if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k") < 0)
        FAIL("mount /dev tmpfs: %s", strerror(errno));
    for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dev, nodes[i]);
        snprintf(src, sizeof(src), "/dev/%s", nodes[i]);
        fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        if (fd < 0)
            FAIL("create %s: %s", path, strerror(errno));
        close(fd);
        if (mount(src, path, NULL, MS_BIND, NULL) < 0)
            FAIL("bind %s: %s", src, strerror(errno));
    }
    for (i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dev, links[i][1]);
        if (symlink(links[i][0], path) < 0)
            FAIL("symlink %s: %s", path, strerror(errno));
    }

    /* A private devpts instance: the sandbox's ptys are invisible to the host's and
     * other sandboxes'. gid=5 is "tty" inside (mapped by the userns). */
    snprintf(path, sizeof(path), "%s/pts", dev);
    if (mkdir(path, 0755) < 0)
        FAIL("mkdir /dev/pts: %s", strerror(errno));
    if (mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0 &&
        mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620") < 0)
        FAIL("mount /dev/pts: %s", strerror(errno));

    snprintf(path, sizeof(path), "%s/shm", dev);
    if (mkdir(path, 01777) < 0)
        FAIL("mkdir /dev/shm: %s", strerror(errno));
    if (mount("shm", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
        FAIL("mount /dev/shm: %s", strerror(errno));

    /* POSIX message queues of the sandbox's own IPC namespace; optional. */
    snprintf(path, sizeof(path), "%s/mqueue", dev);
    if (mkdir(path, 01777) == 0 &&
        mount("mqueue", path, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        rmdir(path);
    return 0;
}

/* Replace a file in the (new) root: a symlink there is removed rather than followed,
 * so e.g. a resolv.conf pointing into /run does not redirect the write. */
static int put_file(const char *path, const char *text)
{
    size_t len = strlen(text);
    struct stat st;
    int fd;

    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
        unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    /* An existing file keeps its mode on copy-up; these are plain config files. */
    if (fchmod(fd, 0644) < 0 || write(fd, text, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    return close(fd);
}

static int setup_etc(const struct ns_mount_cfg *c, char *err, int errlen)
{
    char text[512];

    /* The hostname must resolve, or sudo warns "unable to resolve host" on every
     * call. */
    snprintf(text, sizeof(text), "%s\n", c->hostname);
    if (put_file("/etc/hostname", text) < 0)
        FAIL("write /etc/hostname: %s", strerror(errno));
    cube_hosts_text(c->hostname, text, sizeof(text));
    if (put_file("/etc/hosts", text) < 0)
        FAIL("write /etc/hosts: %s", strerror(errno));
    if (c->resolv_conf && put_file("/etc/resolv.conf", c->resolv_conf) < 0)
        FAIL("write /etc/resolv.conf: %s", strerror(errno));
    return 0;
}

int ns_mounts_setup(const struct ns_mount_cfg *c, char *err, int errlen)
{
    char root[PATH_MAX];

    /* Nothing done below may propagate back to the host (the copied mounts start as
     * slaves of the host's shared ones). */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        FAIL("make / private: %s", strerror(errno));
    if (setup_overlay(c, root, sizeof(root), err, errlen) < 0 ||
        setup_bin(c, root, err, errlen) < 0 || setup_proc_sys(root, err, errlen) < 0 ||
        setup_dev(root, err, errlen) < 0)
        return -1;

    /* pivot_root(".", "."): the old root ends up stacked on top of the new one at "/";
     * detaching it drops every host mount from this namespace in one step, with no
     * put_old directory left in the sandbox. */
    if (chdir(root) < 0)
        FAIL("chdir %s: %s", root, strerror(errno));
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        FAIL("pivot_root: %s", strerror(errno));
    if (umount2(".", MNT_DETACH) < 0)
        FAIL("detach old root: %s", strerror(errno));
    if (chdir("/") < 0)
        FAIL("chdir /: %s", strerror(errno));
    return setup_etc(c, err, errlen);
}

/* Hidden: reads give nothing (files: /dev/null bound over them; directories: an empty
 * read-only tmpfs). */
static const char *const masked_paths[] = {
    "/proc/kcore",       /* host physical memory image */
    "/proc/keys",        /* every key of the host's keyrings (names, ids) */
    "/proc/timer_list",  /* host timers, with other processes' details */
    "/proc/sched_debug", /* host-wide scheduler state (older kernels) */
    "/proc/latency_stats", "/proc/acpi",
    "/proc/scsi",          "/sys/firmware", /* ACPI tables, EFI variables, DMI data */
};
/* Read-only: host-wide kernel knobs. */
static const char *const readonly_paths[] = {
    "/proc/sys", "/proc/irq", "/proc/bus", "/proc/fs", "/proc/sysrq-trigger",
};

int ns_mounts_mask(char *err, int errlen)
{
    struct stat st;
    const char *p;
    size_t i;

    for (i = 0; i < sizeof(masked_paths) / sizeof(masked_paths[0]); i++) {
        p = masked_paths[i];
        if (lstat(p, &st) < 0) {
            if (errno == ENOENT)
                continue;
            FAIL("stat %s: %s", p, strerror(errno));
        }
        if (S_ISDIR(st.st_mode)) {
            if (mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      "mode=555,size=0k,nr_inodes=1") < 0)
                FAIL("mask %s: %s", p, strerror(errno));
        } else if (mount("/dev/null", p, NULL, MS_BIND, NULL) < 0) {
            FAIL("mask %s: %s", p, strerror(errno));
        }
    }
    for (i = 0; i < sizeof(readonly_paths) / sizeof(readonly_paths[0]); i++) {
        p = readonly_paths[i];
        if (lstat(p, &st) < 0) {
            if (errno == ENOENT)
                continue;
            FAIL("stat %s: %s", p, strerror(errno));
        }
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0 || bind_remount_ro(p) < 0)
            FAIL("make %s read-only: %s", p, strerror(errno));
    }
    return 0;
}
