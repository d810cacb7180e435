/* Writable layers that outlive their sandbox, for the next one (disk_quota.h).
 *
 * Making a layer (image copy, loop device, ext4 mount) and removing it (write-back,
 * unmount, loop detach, unlink of the image) cost ~8 ms of CPU per sandbox on this
 * project's reference host, a sixth of all a sandbox's preparation and removal. A
 * layer that its sandbox barely used is instead emptied and kept, mounted nowhere,
 * by the spawner that released it, and the next sandbox of the same size that this
 * spawner prepares gets it: one rename and one move_mount instead.
 *
 * How a layer outlives its sandbox: right after the sandbox's overlay took hold of
 * it, the spawner makes a detached clone of the layer's mount (open_tree, an anonymous
 * mount namespace that no process is in) before dropping its own mount. The worker
 * keeps that descriptor for the sandbox's life and sends it back with the release.
 * Once the sandbox's mount namespace is gone, the descriptor is the only thing that
 * holds the filesystem, so nothing of the sandbox can write to it any more.
 *
 * What is kept: only a layer whose sandbox used at most LAYER_POOL_MAX_INODES inodes
 * and whose image takes at most LAYER_POOL_MAX_HOST_MB on the host disk. Emptying it
 * removes every entry of its root (upper/, work/ and the rootfs mount point) without
 * following symlinks or crossing into anything, within that many entries; whatever
 * fails, the layer is dropped the old way. The next sandbox sees the same thing a new
 * layer has: an empty filesystem of its size (the freed blocks are not readable
 * through a filesystem, and nothing of a sandbox reaches the block device).
 *
 * Free layers' images are "<sandboxes>/.free-<spawner pid>-<n>.img" until taken; a
 * spawner that exits normally deletes them, and the next worker start deletes those of
 * a spawner that was killed. Per-process state: each spawner has its own list. */
#ifndef CUBE_WORKER_LAYER_POOL_H
#define CUBE_WORKER_LAYER_POOL_H

#define LAYER_POOL_MAX 64          /* free layers one spawner keeps */
#define LAYER_POOL_MAX_INODES 1024 /* in use by the sandbox: more and it is dropped */
#define LAYER_POOL_MAX_HOST_MB 8   /* image blocks on the host: more and it is dropped */

/* Where free images go (the sandboxes directory); deletes stale ones. Before forking
 * the spawners. */
void layer_pool_init(const char *sandboxes_dir);
/* A detached clone of the layer mounted on dir that holds its filesystem once the
 * sandbox is gone: the descriptor, or -1 (no layers, or the kernel cannot: the layer
 * is then made and removed per sandbox, as without this). */
int layer_pool_keep(const char *dir);
/* After the sandbox's mount namespace is gone: empty the layer held by keep_fd (ours
 * now) and keep it for the next sandbox, or drop it. dir is the released sandbox's
 * layer directory ("<dir>.img" is its image, moved away when kept). 1 if kept. */
int layer_pool_put(int keep_fd, const char *dir);
/* Mount a free layer of size_mb on the empty directory dir, its image becoming
 * "<dir>.img". 0 if done, -1 if none is free (or it could not be used: dropped). */
int layer_pool_take(const char *dir, int size_mb);
/* Free layers this process keeps. */
int layer_pool_count(void);
/* Drop every free layer and delete its image (a spawner about to exit). */
void layer_pool_drain(void);

#endif
