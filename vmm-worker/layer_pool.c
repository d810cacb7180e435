#include "layer_pool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cube_log.h"
#include "disk_quota.h"

/* <linux/mount.h> clashes with <sys/mount.h> on glibc 2.36: the two values we need. */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

#define FREE_PREFIX ".free-"
#define MAX_DEPTH 128 /* deeper trees are not worth walking: the layer is dropped */

struct free_layer {
    int fd; /* detached mount of the layer's root */
    int size_mb;
    char image[PATH_MAX];
};

static char sandboxes[PATH_MAX];
static struct free_layer pool[LAYER_POOL_MAX];
static int n_free;
static unsigned next_name;

void layer_pool_init(const char *sandboxes_dir)
{
    struct dirent *e;
    DIR *d;
    int dfd;

    (void)snprintf(sandboxes, sizeof(sandboxes), "%s", sandboxes_dir);
    /* Images of free layers whose spawner was killed: their loop devices went with
     * the spawner's descriptors, the files stayed. */
    d = opendir(sandboxes_dir);
    if (!d)
        return;
    dfd = dirfd(d);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);

        if (strncmp(e->d_name, FREE_PREFIX, strlen(FREE_PREFIX)) == 0 && len > 4 &&
            strcmp(e->d_name + len - 4, ".img") == 0 && unlinkat(dfd, e->d_name, 0) < 0)
            log_warn("writable layer: remove stale %s: %s", e->d_name, strerror(errno));
    }
    closedir(d);
}

int layer_pool_keep(const char *dir)
{
    int fd;

    if (!disk_quota_enforced())
        return -1;
    fd = (int)syscall(SYS_open_tree, AT_FDCWD, dir, OPEN_TREE_CLONE | O_CLOEXEC);
    if (fd < 0)
        log_debug("writable layer: open_tree %s: %s (not reused)", dir, strerror(errno));
    return fd;
}

/* Remove everything in the directory dfd (which stays), at most *budget entries,
 * never following a symlink and never leaving dfd's filesystem. 0 or -1. */
/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters): recursion state */
static int empty_dir(int dfd, int depth, long *budget)
{
    struct stat top, st;
    struct dirent *e;
    int fd, rc = 0;
    DIR *d;

    if (fstat(dfd, &top) < 0)
        return -1;
    fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        int sub;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (--*budget < 0) {
            rc = -1;
            break;
        }
        if (unlinkat(fd, e->d_name, 0) == 0)
            continue;
        if (errno != EISDIR || depth >= MAX_DEPTH) {
            rc = -1;
            break;
        }
        /* Mode 000 directories (overlay's work dir) open anyway: we are host root. */
        sub = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0 || fstat(sub, &st) < 0 || st.st_dev != top.st_dev ||
            empty_dir(sub, depth + 1, budget) < 0 ||
            unlinkat(fd, e->d_name, AT_REMOVEDIR) < 0)
            rc = -1;
        if (sub >= 0)
            close(sub);
    }
    closedir(d);
    return rc;
}

/* 1 if the directory dfd has no entries left. */
static int is_empty(int dfd)
{
    struct dirent *e;
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), empty = 1;
    DIR *d;

    if (fd < 0)
        return 0;
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

int layer_pool_put(int keep_fd, const char *dir)
{
    char image[PATH_MAX], free_img[PATH_MAX];
    struct statfs sf;
    struct stat st;
    long budget = LAYER_POOL_MAX_INODES + 16;
    int root = -1;

    if (keep_fd < 0)
        return 0;
    if (n_free >= LAYER_POOL_MAX || !sandboxes[0] ||
        disk_quota_image_path(dir, image, sizeof(image)) < 0 || stat(image, &st) < 0)
        goto drop;
    /* A layer the sandbox filled is not worth emptying, and its image would keep its
     * blocks on the host disk (nothing trims them). */
    if (st.st_blocks / 2048 > LAYER_POOL_MAX_HOST_MB || fstatfs(keep_fd, &sf) < 0 ||
        (long long)(sf.f_files - sf.f_ffree) > LAYER_POOL_MAX_INODES ||
        ((long long)(sf.f_blocks - sf.f_bfree) * sf.f_bsize >> 20) >
            LAYER_POOL_MAX_HOST_MB)
        goto drop;
    root = openat(keep_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0 || empty_dir(root, 0, &budget) < 0 || !is_empty(root))
        goto drop;
    close(root);
    root = -1;
    if (snprintf(free_img, sizeof(free_img), "%s/" FREE_PREFIX "%d-%u.img", sandboxes,
                 (int)getpid(), next_name++) >= (int)sizeof(free_img) ||
        rename(image, free_img) < 0)
        goto drop;
    pool[n_free].fd = keep_fd;
    pool[n_free].size_mb = (int)(st.st_size >> 20);
    memcpy(pool[n_free].image, free_img, sizeof(free_img));
    n_free++;
    return 1;
drop:
    if (root >= 0)
        close(root);
    close(keep_fd); /* the filesystem unmounts, its loop device clears itself */
    return 0;
}

int layer_pool_take(const char *dir, int size_mb)
{
    char image[PATH_MAX];
    struct free_layer l;
    int i;

    for (i = n_free - 1; i >= 0 && pool[i].size_mb != size_mb; i--)
        ;
    if (i < 0 || disk_quota_image_path(dir, image, sizeof(image)) < 0)
        return -1;
    l = pool[i];
    pool[i] = pool[--n_free];
    if (rename(l.image, image) < 0) {
        log_warn("writable layer: reuse %s: %s", l.image, strerror(errno));
        close(l.fd);
        unlink(l.image);
        return -1;
    }
    if (syscall(SYS_move_mount, l.fd, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        log_warn("writable layer: mount a free layer on %s: %s", dir, strerror(errno));
        close(l.fd);
        unlink(image);
        return -1;
    }
    close(l.fd); /* it is mounted on dir now */
    return 0;
}

int layer_pool_count(void)
{
    return n_free;
}

void layer_pool_drain(void)
{
    while (n_free > 0) {
        n_free--;
        close(pool[n_free].fd);
        if (unlink(pool[n_free].image) < 0 && errno != ENOENT)
            log_warn("writable layer: remove %s: %s", pool[n_free].image,
                     strerror(errno));
    }
}
