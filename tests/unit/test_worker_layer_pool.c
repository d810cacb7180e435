/* cube-worker writable layers kept for the next sandbox (layer_pool.h), on real ext4
 * images, loop devices and mounts in a private mount namespace (needs root; skipped
 * otherwise): what a sandbox left in a layer is gone when the next one gets it, nothing
 * outside the layer is touched through the symlinks it left, a layer used too much is
 * not kept, a free layer serves only its own size, and free images do not outlive
 * their process. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "disk_quota.h"
#include "layer_pool.h"

#define SMALL_MB DISK_QUOTA_MIN_MB

static char base[] = "/var/tmp/cube-layer-test.XXXXXX";
static int usable;
static unsigned long fresh_inodes; /* in use on a new, empty layer */

/* snprintf into an array, which must be big enough. */
#define PATHF(buf, ...)                                                                  \
    assert_true((size_t)snprintf(buf, sizeof(buf), __VA_ARGS__) < sizeof(buf))

static void pathf(char *out, size_t len, const char *fmt, const char *a)
{
    int n = snprintf(out, len, fmt, base, a);

    assert_true(n > 0 && (size_t)n < len);
}

/* NOLINTNEXTLINE(bugprone-easily-swappable-parameters) */
static void put_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* NOLINTBEGIN(bugprone-easily-swappable-parameters): test helpers, names say it */
static void dir_in(const char *layer, const char *rel, mode_t mode)
{
    char p[4200];

    PATHF(p, "%s/%s", layer, rel);
    assert_int_equal(mkdir(p, mode), 0);
}

static void file_in(const char *layer, const char *rel, const char *text)
{
    char p[4200];

    PATHF(p, "%s/%s", layer, rel);
    put_file(p, text);
}
/* NOLINTEND(bugprone-easily-swappable-parameters) */

static unsigned long inodes_used(const char *dir)
{
    struct statvfs sv;

    assert_int_equal(statvfs(dir, &sv), 0);
    return (unsigned long)(sv.f_files - sv.f_ffree);
}

static int entries(const char *dir)
{
    struct dirent *e;
    DIR *d = opendir(dir);
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static int is_mount_point(const char *dir)
{
    char parent[4200];
    struct stat a, b;

    assert_true(strlen(dir) < 4096);
    (void)PATHF(parent, "%s/..", dir);
    return stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

/* A sandbox directory's layer, made as prep_spawn makes it. */
static void make_layer(const char *name, int size_mb, char *layer, size_t len)
{
    char err[256], dir[4096];

    pathf(dir, sizeof(dir), "%s/%s", name);
    assert_int_equal(mkdir(dir, 0711), 0);
    assert_true((size_t)snprintf(layer, len, "%.200s/layer", dir) < len);
    assert_int_equal(mkdir(layer, 0711), 0);
    assert_int_equal(disk_quota_apply(layer, size_mb, err, sizeof(err)), 0);
}

/* What the release does after the sandbox is gone. */
static int release_layer(int keep, const char *layer)
{
    char dir[4096];
    int kept = layer_pool_put(keep, layer);

    disk_quota_release(layer);
    assert_int_equal(rmdir(layer), 0);
    PATHF(dir, "%.*s", (int)(strrchr(layer, '/') - layer), layer);
    assert_int_equal(rmdir(dir), 0);
    return kept;
}

static int setup(void **state)
{
    char err[256] = "not root", layer[4096];

    (void)state;
    if (geteuid() != 0 || !mkdtemp(base)) {
        print_message("skipping: %s\n", err);
        return 0;
    }
    /* Our mounts stay ours, and go with us if we crash. */
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0 ||
        disk_quota_init(base, DISK_QUOTA_REQUIRED, err, sizeof(err)) < 0) {
        print_message("skipping: no loop devices or ext4 here (%s)\n", err);
        return 0;
    }
    usable = 1;
    layer_pool_init(base);
    make_layer("fresh", SMALL_MB, layer, sizeof(layer));
    fresh_inodes = inodes_used(layer);
    assert_int_equal(release_layer(-1, layer), 0);
    return 0;
}

/* What is left in base (released layers leave nothing but what a test kept). */
static int teardown(void **state)
{
    struct dirent *e;
    DIR *d;

    (void)state;
    layer_pool_drain();
    d = opendir(base);
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            unlinkat(dirfd(d), e->d_name, 0) < 0 &&
            unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) < 0)
            print_message("left in %s: %s\n", base, e->d_name);
    closedir(d);
    return rmdir(base);
}

static void test_reused_layer_is_empty(void **state)
{
    char a[4096], b[4096], p[4200], outside[4096], image[4200];
    int keep;

    (void)state;
    if (!usable)
        skip();
    pathf(outside, sizeof(outside), "%s/%s", "outside");
    assert_int_equal(mkdir(outside, 0755), 0);
    PATHF(p, "%s/keep-me", outside);
    put_file(p, "host file");

    /* What a sandbox leaves: files, nested and mode-000 directories, a FIFO, a hard
     * link, and symlinks that lead out of the layer. */
    make_layer("a", SMALL_MB, a, sizeof(a));
    dir_in(a, "upper", 0755);
    file_in(a, "upper/secret", "tenant a");
    dir_in(a, "upper/deep", 0755);
    dir_in(a, "upper/deep/er", 0755);
    file_in(a, "upper/deep/er/file", "x");
    PATHF(p, "%s/upper/deep/er/file", a);
    PATHF(image, "%s/upper/deep/link", a);
    assert_int_equal(link(p, image), 0);
    PATHF(p, "%s/upper/fifo", a);
    assert_int_equal(mkfifo(p, 0600), 0);
    PATHF(p, "%s/upper/escape", a);
    assert_int_equal(symlink(outside, p), 0);
    PATHF(image, "%s/keep-me", outside);
    PATHF(p, "%s/upper/escape-file", a);
    assert_int_equal(symlink(image, p), 0);
    dir_in(a, "work", 0755);
    dir_in(a, "work/work", 0755);
    file_in(a, "work/work/inside", "y");
    PATHF(p, "%s/work/work/inside", a);
    assert_int_equal(chmod(p, 0), 0);
    PATHF(p, "%s/work/work", a);
    assert_int_equal(chmod(p, 0), 0);
    dir_in(a, "rootfs", 0755);

    keep = layer_pool_keep(a);
    assert_true(keep >= 0);
    assert_int_equal(disk_quota_detach(a), 0);
    assert_int_equal(release_layer(keep, a), 1);
    assert_int_equal(layer_pool_count(), 1);
    PATHF(image, "%s.img", a);
    assert_int_equal(access(image, F_OK), -1); /* moved to the free list */

    /* The next layer of that size is the same filesystem, emptied. */
    make_layer("b", SMALL_MB, b, sizeof(b));
    assert_int_equal(layer_pool_count(), 0);
    assert_true(is_mount_point(b));
    PATHF(image, "%s.img", b);
    assert_int_equal(access(image, F_OK), 0);
    assert_int_equal(entries(b), 0);
    assert_int_equal(inodes_used(b), fresh_inodes);
    /* Nothing outside the layer was followed into. */
    PATHF(p, "%s/keep-me", outside);
    assert_int_equal(access(p, F_OK), 0);
    assert_int_equal(entries(outside), 1);

    assert_int_equal(unlink(p), 0);
    assert_int_equal(rmdir(outside), 0);
    assert_int_equal(release_layer(-1, b), 0); /* not kept: removed as before */
    assert_int_equal(access(image, F_OK), -1);
    assert_int_equal(layer_pool_count(), 0);
}

static void test_busy_layer_is_dropped(void **state)
{
    char a[4096], p[4200];
    int keep, i;

    (void)state;
    if (!usable)
        skip();
    make_layer("busy", SMALL_MB, a, sizeof(a));
    PATHF(p, "%s/upper", a);
    assert_int_equal(mkdir(p, 0755), 0);
    for (i = 0; i < LAYER_POOL_MAX_INODES + 8; i++) {
        char f[4300];

        PATHF(f, "%s/f%d", p, i);
        put_file(f, "");
    }
    keep = layer_pool_keep(a);
    assert_true(keep >= 0);
    assert_int_equal(disk_quota_detach(a), 0);
    assert_int_equal(release_layer(keep, a), 0);
    assert_int_equal(layer_pool_count(), 0);
}

static void test_sizes_and_drain(void **state)
{
    char a[4096], b[4096], free_img[4200];
    struct dirent *e;
    DIR *d;
    int keep, n_free = 0;

    (void)state;
    if (!usable)
        skip();
    make_layer("small", SMALL_MB, a, sizeof(a));
    keep = layer_pool_keep(a);
    assert_true(keep >= 0);
    assert_int_equal(disk_quota_detach(a), 0);
    assert_int_equal(release_layer(keep, a), 1);
    assert_int_equal(layer_pool_count(), 1);

    /* Another size makes its own. */
    make_layer("bigger", SMALL_MB * 2, b, sizeof(b));
    assert_int_equal(layer_pool_count(), 1);
    assert_int_equal(release_layer(-1, b), 0);

    /* The free image is in the sandboxes directory until the process drains. */
    d = opendir(base);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, ".free-", 6) == 0) {
            n_free++;
            pathf(free_img, sizeof(free_img), "%s/%s", e->d_name);
        }
    closedir(d);
    assert_int_equal(n_free, 1);
    layer_pool_drain();
    assert_int_equal(layer_pool_count(), 0);
    assert_int_equal(access(free_img, F_OK), -1);
}

static void test_stale_free_images(void **state)
{
    char stale[4200], other[4200];

    (void)state;
    if (!usable)
        skip();
    pathf(stale, sizeof(stale), "%s/%s", ".free-99999-7.img");
    put_file(stale, "left by a killed spawner");
    pathf(other, sizeof(other), "%s/%s", ".free-notes");
    put_file(other, "not an image");
    layer_pool_init(base);
    assert_int_equal(access(stale, F_OK), -1);
    assert_int_equal(access(other, F_OK), 0);
    assert_int_equal(unlink(other), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reused_layer_is_empty),
        cmocka_unit_test(test_busy_layer_is_dropped),
        cmocka_unit_test(test_sizes_and_drain),
        cmocka_unit_test(test_stale_free_images),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
