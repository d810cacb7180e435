#include "disk_quota.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <linux/sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cube_log.h"
#include "layer_pool.h"

#define LOOP_TRIES 16 /* another process may take the free loop device first */
#define PROBE_NAME ".disk-quota-probe"

static int enforced;
static char mkfs_path[64];
static char golden_dir[4096]; /* where the formatted empty images are kept */

int disk_quota_parse_mode(const char *s)
{
    if (strcmp(s, "off") == 0)
        return DISK_QUOTA_OFF;
    if (strcmp(s, "auto") == 0)
        return DISK_QUOTA_AUTO;
    if (strcmp(s, "required") == 0)
        return DISK_QUOTA_REQUIRED;
    return -1;
}

const char *disk_quota_mode_name(int mode)
{
    switch (mode) {
    case DISK_QUOTA_OFF:
        return "off";
    case DISK_QUOTA_AUTO:
        return "auto";
    case DISK_QUOTA_REQUIRED:
        return "required";
    default:
        return "?";
    }
}

int disk_quota_size_mb(int disk_mb)
{
    if (disk_mb == 0)
        return DISK_QUOTA_DEFAULT_MB;
    return disk_mb < DISK_QUOTA_MIN_MB ? -1 : disk_mb;
}

int disk_quota_image_path(const char *dir, char *out, size_t len)
{
    int n = snprintf(out, len, "%s.img", dir);

    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

int disk_quota_reserve_pct(int size_mb, char *out, size_t len)
{
    double pct;
    int n;

    if (size_mb <= 0)
        return -1;
    pct = (double)DISK_QUOTA_RESERVE_KB * 100.0 / ((double)size_mb * 1024.0);
    if (pct > 50.0) /* mke2fs refuses more */
        pct = 50.0;
    n = snprintf(out, len, "%.4f", pct);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

int disk_quota_enforced(void)
{
    return enforced;
}

/* 1 if the image starts with an ext4 superblock (magic 0xEF53 at byte 1080). */
static int has_ext4_magic(int fd)
{
    unsigned char m[2];

    return pread(fd, m, sizeof(m), 1080) == (ssize_t)sizeof(m) && m[0] == 0x53 &&
           m[1] == 0xEF;
}

/* Run mkfs on image_fd's file and wait for it. A caller that ignores SIGCHLD (the
 * spawners do, so the kernel reaps sandbox inits) loses every child's exit status to
 * auto-reaping; then the superblock mkfs should have written is the verdict. */
static int run_mkfs(char *image, char *pct, int image_fd, char *err, int errlen)
{
    /* No journal: the layer does not outlive its sandbox, so crash consistency buys
     * nothing, and the journal would take part of the size. No resize inode: a layer
     * never grows, and its reserved descriptor blocks were 1 MiB of the 1.1 MiB every
     * copy of the golden image wrote (84 KiB without). */
    char *argv[] = {mkfs_path,
                    "-q",
                    "-F",
                    "-b",
                    "4096",
                    "-m",
                    pct,
                    "-O",
                    "^has_journal,^resize_inode",
                    "-E",
                    "root_owner=0:0",
                    image,
                    NULL};
    struct clone_args ca;
    char out[512];
    int pipefd[2], status = 0;
    ssize_t n, got = 0;
    pid_t pid;

    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        snprintf(err, (size_t)errlen, "pipe: %s", strerror(errno));
        return -1;
    }
    memset(&ca, 0, sizeof(ca));
    ca.exit_signal = 0;
    pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || dup2(null, 0) < 0 || dup2(pipefd[1], 1) < 0 ||
            dup2(pipefd[1], 2) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    if (pid < 0) {
        close(pipefd[0]);
        snprintf(err, (size_t)errlen, "clone: %s", strerror(errno));
        return -1;
    }
    for (;;) {
        n = read(pipefd[0], out + got, sizeof(out) - 1 - (size_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += n;
        if ((size_t)got == sizeof(out) - 1) {
            char sink[256];
            while (read(pipefd[0], sink, sizeof(sink)) > 0)
                ;
            break;
        }
    }
    close(pipefd[0]);
    out[got] = '\0';
    out[strcspn(out, "\n")] = '\0';
    /* Returns once mkfs has exited, reaped by us or (ECHILD) by the kernel. */
    while (waitpid(pid, &status, __WALL) < 0) {
        if (errno == ECHILD) {
            status = -1;
            break;
        }
        if (errno != EINTR) {
            snprintf(err, (size_t)errlen, "wait for mkfs: %s", strerror(errno));
            return -1;
        }
    }
    if ((status != -1 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) ||
        !has_ext4_magic(image_fd)) {
        snprintf(err, (size_t)errlen, "mkfs failed (status %d): %s", status, out);
        return -1;
    }
    return 0;
}

/* A free loop device bound to image_fd, with autoclear: it detaches itself when the
 * filesystem on it is unmounted (or when the returned fd is closed unmounted). */
static int loop_attach(int image_fd, const char *image, char *dev, size_t devlen,
                       char *err, int errlen)
{
    struct loop_config cfg;
    int ctl, i, direct = 1;

    ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0) {
        snprintf(err, (size_t)errlen, "open /dev/loop-control: %s", strerror(errno));
        return -1;
    }
    for (i = 0; i < LOOP_TRIES; i++) {
        int nr = ioctl(ctl, LOOP_CTL_GET_FREE), fd;

        if (nr < 0) {
            snprintf(err, (size_t)errlen, "no free loop device: %s", strerror(errno));
            break;
        }
        snprintf(dev, devlen, "/dev/loop%d", nr);
        fd = open(dev, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            snprintf(err, (size_t)errlen, "open %s: %s", dev, strerror(errno));
            break;
        }
        memset(&cfg, 0, sizeof(cfg));
        cfg.fd = (unsigned)image_fd;
        /* Direct I/O: the image's pages are not cached twice (host and sandbox fs). */
        cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (direct ? LO_FLAGS_DIRECT_IO : 0);
        /* For losetup -l; the kernel does not need it (cut to fit). */
        memcpy(cfg.info.lo_file_name, image,
               strnlen(image, sizeof(cfg.info.lo_file_name) - 1));
        if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
            close(ctl);
            return fd;
        }
        snprintf(err, (size_t)errlen, "configure %s: %s", dev, strerror(errno));
        close(fd);
        if (errno == EINVAL && direct) {
            direct = 0; /* the host fs (tmpfs) cannot do O_DIRECT */
            i--;
            continue;
        }
        if (errno != EBUSY)
            break;
    }
    close(ctl);
    return -1;
}

static int image_create(const char *image, long long bytes, char *err, int errlen)
{
    int fd = open(image, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd < 0) {
        snprintf(err, (size_t)errlen, "create %s: %s", image, strerror(errno));
        return -1;
    }
    /* Sparse: host blocks are used only as the sandbox writes. */
    if (ftruncate(fd, (off_t)bytes) < 0) {
        snprintf(err, (size_t)errlen, "size %s: %s", image, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* The host filesystem must at least have room for this one layer right now. */
static int host_has_room(const char *dir, long long bytes, char *err, int errlen)
{
    char parent[4096];
    struct statvfs sv;
    char *slash;

    snprintf(parent, sizeof(parent), "%s", dir);
    slash = strrchr(parent, '/');
    if (slash && slash != parent)
        *slash = '\0';
    if (statvfs(parent, &sv) < 0)
        return 0; /* let the create below report the real error */
    if ((long long)sv.f_bavail * (long long)sv.f_frsize < bytes) {
        snprintf(err, (size_t)errlen,
                 "not enough disk space on the node for a %lld MiB writable layer "
                 "(%lld MiB free)",
                 bytes >> 20, ((long long)sv.f_bavail * (long long)sv.f_frsize) >> 20);
        return -1;
    }
    return 0;
}

/* Copy the data extents of src into dst (same size, dst sparse and empty). */
static int copy_extents(int src, int dst)
{
    off_t data = 0, hole, end = lseek(src, 0, SEEK_END);

    while (data < end) {
        data = lseek(src, data, SEEK_DATA);
        if (data < 0)
            return errno == ENXIO ? 0 : -1; /* no data past here */
        hole = lseek(src, data, SEEK_HOLE);
        if (hole < 0)
            return -1;
        while (data < hole) {
            loff_t in = data, out = data;
            ssize_t n = copy_file_range(src, &in, dst, &out, (size_t)(hole - data), 0);

            if (n <= 0)
                return -1;
            data += n;
        }
    }
    return 0;
}

/* Format a fresh layer by copying a formatted empty image of the same size (made once
 * per size with mkfs, kept next to the sandboxes): ~84 KB of metadata instead of a
 * mkfs run per sandbox. -1 (caller runs mkfs itself) when that is not possible. */
static int clone_golden(int size_mb, int fd)
{
    char golden[4200], tmp[4300], err[256], pct[16];
    int gfd, rc;

    if (!golden_dir[0] || snprintf(golden, sizeof(golden), "%s/.layer-v2-%dM.golden",
                                   golden_dir, size_mb) >= (int)sizeof(golden))
        return -1;
    gfd = open(golden, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (gfd < 0 && errno == ENOENT) {
        /* Made under a private name and renamed: spawners racing here each produce a
         * complete image, and readers never see a partial one. */
        if (disk_quota_reserve_pct(size_mb, pct, sizeof(pct)) < 0 ||
            snprintf(tmp, sizeof(tmp), "%s.%d", golden, (int)getpid()) >=
                (int)sizeof(tmp))
            return -1;
        unlink(tmp);
        gfd = image_create(tmp, (long long)size_mb << 20, err, sizeof(err));
        if (gfd < 0)
            return -1;
        if (run_mkfs(tmp, pct, gfd, err, sizeof(err)) < 0 || rename(tmp, golden) < 0) {
            log_warn("writable layer: cannot make %s: %s", golden, err);
            close(gfd);
            unlink(tmp);
            return -1;
        }
    }
    if (gfd < 0)
        return -1;
    rc = copy_extents(gfd, fd);
    close(gfd);
    if (rc < 0 || !has_ext4_magic(fd)) {
        log_warn("writable layer: copy of %s failed: %s", golden, strerror(errno));
        return -1;
    }
    return 0;
}

static int apply(const char *dir, int size_mb, char *err, int errlen)
{
    char image[4096], dev[32], pct[16], lost[4096 + 16];
    long long bytes = (long long)size_mb << 20;
    int fd, loop;

    if (disk_quota_image_path(dir, image, sizeof(image)) < 0 ||
        disk_quota_reserve_pct(size_mb, pct, sizeof(pct)) < 0) {
        snprintf(err, (size_t)errlen, "writable layer: path too long");
        return -1;
    }
    /* One that a previous sandbox of this spawner left, emptied (layer_pool.h). */
    if (layer_pool_take(dir, size_mb) == 0)
        return 0;
    if (host_has_room(dir, bytes, err, errlen) < 0)
        return -1;
    fd = image_create(image, bytes, err, errlen);
    if (fd < 0)
        return -1;
    /* A copy of a formatted empty image of this size is what mkfs would write, for a
     * fraction of the cost. */
    if (clone_golden(size_mb, fd) < 0 && run_mkfs(image, pct, fd, err, errlen) < 0) {
        close(fd);
        return -1;
    }
    loop = loop_attach(fd, image, dev, sizeof(dev), err, errlen);
    close(fd);
    if (loop < 0)
        return -1;
    if (mount(dev, dir, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0) {
        snprintf(err, (size_t)errlen, "mount %s on %s: %s", dev, dir, strerror(errno));
        close(loop); /* autoclear detaches it */
        return -1;
    }
    close(loop); /* the mount holds the device now */
    snprintf(lost, sizeof(lost), "%s/lost+found", dir);
    rmdir(lost);
    /* The sandbox's root (an unprivileged host uid) traverses it, never lists it. */
    if (chmod(dir, 0711) < 0) {
        snprintf(err, (size_t)errlen, "chmod %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int disk_quota_apply(const char *dir, int disk_mb, char *err, int errlen)
{
    int size_mb;

    if (!enforced)
        return 0;
    size_mb = disk_quota_size_mb(disk_mb);
    if (size_mb < 0) {
        snprintf(err, (size_t)errlen,
                 "writable layer of %d MiB is below the %d MiB minimum", disk_mb,
                 DISK_QUOTA_MIN_MB);
        return -1;
    }
    return apply(dir, size_mb, err, errlen);
}

int disk_quota_detach(const char *dir)
{
    if (!enforced)
        return 0;
    return umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW);
}

void disk_quota_release(const char *dir)
{
    char image[4096];

    /* Mounted here only if the sandbox was never made (or in the startup probe). A
     * plain umount first, so the loop device is gone and the image's blocks are free
     * when this returns; lazily if something still holds it. EINVAL: not mounted. */
    if (umount2(dir, UMOUNT_NOFOLLOW) < 0 && errno == EBUSY &&
        umount2(dir, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
        log_warn("writable layer: umount %s: %s", dir, strerror(errno));
    if (disk_quota_image_path(dir, image, sizeof(image)) == 0 && unlink(image) < 0 &&
        errno != ENOENT)
        log_warn("writable layer: remove %s: %s", image, strerror(errno));
}

static int find_mkfs(void)
{
    static const char *const cand[] = {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"};
    size_t i;

    for (i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
        if (access(cand[i], X_OK) == 0) {
            snprintf(mkfs_path, sizeof(mkfs_path), "%s", cand[i]);
            return 0;
        }
    }
    return -1;
}

/* A real image, loop device and mount, the way every sandbox gets one. */
static int probe(const char *sandboxes_dir, char *err, int errlen)
{
    char dir[4096];
    int rc;

    if (snprintf(dir, sizeof(dir), "%s/" PROBE_NAME, sandboxes_dir) >= (int)sizeof(dir)) {
        snprintf(err, (size_t)errlen, "path too long");
        return -1;
    }
    if (find_mkfs() < 0) {
        snprintf(err, (size_t)errlen, "mkfs.ext4 not found (install e2fsprogs)");
        return -1;
    }
    disk_quota_release(dir); /* a previous probe that crashed */
    rmdir(dir);
    if (mkdir(dir, 0700) < 0) {
        snprintf(err, (size_t)errlen, "mkdir %s: %s", dir, strerror(errno));
        return -1;
    }
    rc = apply(dir, DISK_QUOTA_MIN_MB, err, errlen);
    disk_quota_release(dir);
    if (rmdir(dir) < 0 && rc == 0) {
        snprintf(err, (size_t)errlen, "remove %s: %s", dir, strerror(errno));
        rc = -1;
    }
    return rc;
}

int disk_quota_init(const char *sandboxes_dir, int mode, char *err, int errlen)
{
    enforced = 0;
    if (mode == DISK_QUOTA_OFF) {
        log_warn("writable layers are not size-limited (--disk-quota off)");
        return 0;
    }
    if (probe(sandboxes_dir, err, errlen) < 0) {
        if (mode == DISK_QUOTA_REQUIRED)
            return -1;
        log_warn("writable layers are not size-limited on this host (%s); "
                 "--disk-quota auto continues without",
                 err);
        return 0;
    }
    enforced = 1;
    snprintf(golden_dir, sizeof(golden_dir), "%s", sandboxes_dir);
    log_info("writable layers: one ext4 image per sandbox in %s", sandboxes_dir);
    return 0;
}
