/* Writable-layer size limit. Each sandbox's layer directory (<sandbox dir>/layer) is
 * the mount point of its own small ext4 filesystem: a sparse image file <dir>.img next
 * to it, on a loop device. upper/ and work/ live in it, so a sandbox that writes past
 * its size gets ENOSPC, `df /` inside shows the size, and the host filesystem grows
 * by at most that much. Why not XFS/ext4 project quota: docs/decisions.md.
 *
 * The mount exists only while the sandbox is made: the spawner mounts it in its own
 * mount namespace, the sandbox's overlay takes hold of it, and the spawner detaches
 * its copy (disk_quota_detach). From then on only the sandbox's mount namespace keeps
 * the filesystem, so the host's mount table does not grow with the sandbox count
 * (every clone into a new mount namespace copies that table), and when the sandbox's
 * last process ends the kernel unmounts it and the loop device clears itself.
 *
 * All state is set by disk_quota_init and only read afterwards, so apply/release
 * work the same in forked helper processes. */
#ifndef CUBE_WORKER_DISK_QUOTA_H
#define CUBE_WORKER_DISK_QUOTA_H

#include <stddef.h>

enum disk_quota_mode {
    DISK_QUOTA_OFF = 0,      /* no limit */
    DISK_QUOTA_AUTO = 1,     /* limit if this host can, else warn once and run without */
    DISK_QUOTA_REQUIRED = 2, /* refuse to start without it (default) */
};

#define DISK_QUOTA_DEFAULT_MB 1024 /* template.json without diskSizeMB */
#define DISK_QUOTA_MIN_MB 16       /* smaller ext4 images are mostly metadata */
#define DISK_QUOTA_RESERVE_KB 2048 /* root-only blocks: state.json stays writable */

/* --disk-quota value; -1 if unknown. */
int disk_quota_parse_mode(const char *s);
const char *disk_quota_mode_name(int mode);
/* Image size in MiB for a template's diskSizeMB (0 = default); -1 if below the minimum.
 */
int disk_quota_size_mb(int disk_mb);
/* "<dir>.img"; 0 or -1 if it does not fit. */
int disk_quota_image_path(const char *dir, char *out, size_t len);
/* mke2fs -m value (reserved percentage) that reserves about DISK_QUOTA_RESERVE_KB. */
int disk_quota_reserve_pct(int size_mb, char *out, size_t len);

/* Probe (a real image, loop device and mount in sandboxes_dir) unless mode is OFF.
 * 0 = ready (enforcing or, in AUTO, knowingly not), -1 with err in REQUIRED mode. */
int disk_quota_init(const char *sandboxes_dir, int mode, char *err, int errlen);
/* 1 if limits are being enforced. */
int disk_quota_enforced(void);

/* Make the freshly created, empty dir the mount point of a new disk_mb filesystem
 * (root dir mode 0711, owned by host root). No-op when not enforcing. 0 or -1 with
 * err; on failure the caller's release removes whatever exists. */
int disk_quota_apply(const char *dir, int disk_mb, char *err, int errlen);
/* Drop this process's mount of dir once a sandbox's overlay holds the filesystem.
 * No-op when not enforcing. 0 or -1 (errno). */
int disk_quota_detach(const char *dir);
/* Unmount dir's filesystem (if any) and delete its image. Always safe to call, also
 * when not enforcing (a previous run may have been). Call before removing dir. */
void disk_quota_release(const char *dir);

#endif
