#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cube_time.h"
#include "util.h"

const char *sb_state_name(enum sb_state s)
{
    switch (s) {
    case SB_CREATING:
        return "creating";
    case SB_RUNNING:
        return "running";
    case SB_KILLING:
        return "killing";
    case SB_PAUSED:
        return "paused";
    case SB_POOLED:
        return "pooled";
    }
    return "unknown";
}

static int state_from_name(const char *s, enum sb_state *out)
{
    if (strcmp(s, "creating") == 0)
        *out = SB_CREATING;
    else if (strcmp(s, "running") == 0)
        *out = SB_RUNNING;
    else if (strcmp(s, "killing") == 0)
        *out = SB_KILLING;
    else if (strcmp(s, "paused") == 0)
        *out = SB_PAUSED;
    else if (strcmp(s, "pooled") == 0)
        *out = SB_POOLED;
    else
        return -1;
    return 0;
}

int sb_lifecycle_from_json(json_t *o, struct sb_lifecycle *lc)
{
    json_t *ap, *ar, *pt, *t, *e;

    memset(lc, 0, sizeof(*lc));
    if (!o || json_is_null(o))
        return 0;
    ap = json_object_get(o, "autoPause");
    ar = json_object_get(o, "autoResume");
    pt = json_object_get(o, "privateTraffic");
    t = json_object_get(o, "timeout");
    e = json_object_get(o, "endAtMs");
    if (!json_is_object(o) || !json_is_boolean(ap) || !json_is_boolean(ar) ||
        !json_is_boolean(pt) || !json_is_integer(t) || json_integer_value(t) < 0 ||
        !json_is_integer(e) || json_integer_value(e) < 0)
        return -1;
    lc->set = 1;
    lc->auto_pause = json_is_true(ap);
    lc->auto_resume = json_is_true(ar);
    lc->private_traffic = json_is_true(pt);
    lc->timeout_s = json_integer_value(t);
    lc->end_at_ms = json_integer_value(e);
    return 0;
}

json_t *sb_lifecycle_to_json(const struct sb_lifecycle *lc)
{
    if (!lc->set)
        return NULL;
    return json_pack("{s:b, s:b, s:b, s:I, s:I}", "autoPause", lc->auto_pause,
                     "autoResume", lc->auto_resume, "privateTraffic", lc->private_traffic,
                     "timeout", (json_int_t)lc->timeout_s, "endAtMs",
                     (json_int_t)lc->end_at_ms);
}

char *state_to_json(const struct sb_record *r)
{
    char created[32];
    json_t *o;
    char *s;

    cube_rfc3339_ms(r->created_ms, created, sizeof(created));
    /* start_time is a 64-bit tick count: keep it as a JSON integer (jansson's is
     * long long) so it round-trips exactly. */
    o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:s, s:s, s:I, "
                  "s:{s:i, s:i, s:i}, s:s, s:I, s:s}",
                  "version", 1, "id", r->id, "instance", r->inst[0] ? r->inst : r->id,
                  "template", r->template_id, "alias", r->alias, "slot", r->slot, "pid",
                  (json_int_t)r->pid, "pidStartTime", (json_int_t)r->start_time,
                  "address", r->address, "created", created, "createdMs",
                  (json_int_t)r->created_ms, "limits", "cpuCount", r->cpu, "memoryMB",
                  r->mem_mb, "diskSizeMB", r->disk_mb, "envdVersion", r->envd_version,
                  "uidShift", (json_int_t)r->uid_shift, "state", sb_state_name(r->state));
    if (!o)
        return NULL;
    if (!net_policy_is_default(&r->net))
        json_object_set_new(o, "network", net_policy_to_json(&r->net));
    if (r->life.set)
        json_object_set_new(o, "lifecycle", sb_lifecycle_to_json(&r->life));
    s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

static int get_str(json_t *o, const char *key, char *out, size_t cap)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_string(v) || json_string_length(v) >= cap)
        return -1;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_int(json_t *o, const char *key, json_int_t lo, json_int_t hi,
                   json_int_t *out)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return -1;
    *out = json_integer_value(v);
    return 0;
}

int state_from_json(const char *text, struct sb_record *r)
{
    json_t *o, *lim;
    json_int_t v;
    char st[16];
    int rc = -1;

    memset(r, 0, sizeof(*r));
    o = json_loads(text, 0, NULL);
    if (!json_is_object(o))
        goto out;
    if (get_str(o, "id", r->id, sizeof(r->id)) < 0 ||
        !cube_id_valid(r->id, CUBE_SANDBOX_ID_LEN))
        goto out;
    /* Records written before warm pools have no instance name: it was the id. */
    if (json_object_get(o, "instance") == NULL)
        memcpy(r->inst, r->id, sizeof(r->inst));
    else if (get_str(o, "instance", r->inst, sizeof(r->inst)) < 0 ||
             !cube_id_valid(r->inst, CUBE_SANDBOX_ID_LEN))
        goto out;
    if (get_str(o, "template", r->template_id, sizeof(r->template_id)) < 0 ||
        !cube_id_valid(r->template_id, TEMPLATE_REF_MAX))
        goto out;
    if (get_str(o, "alias", r->alias, sizeof(r->alias)) < 0)
        r->alias[0] = '\0';
    if (get_int(o, "slot", 0, SLOT_COUNT - 1, &v) < 0)
        goto out;
    r->slot = (int)v;
    /* pid 0 = not spawned yet; pid 1 would be the host's init, never ours. */
    if (get_int(o, "pid", 0, INT_MAX, &v) < 0 || v == 1)
        goto out;
    r->pid = (pid_t)v;
    if (get_int(o, "pidStartTime", 0, INT64_MAX, &v) < 0)
        goto out;
    r->start_time = (unsigned long long)v;
    if (get_str(o, "address", r->address, sizeof(r->address)) < 0 ||
        slot_from_sandbox_addr(r->address) != r->slot)
        goto out;
    if (get_int(o, "createdMs", 0, INT64_MAX, &v) < 0)
        goto out;
    r->created_ms = v;
    lim = json_object_get(o, "limits");
    if (get_int(lim, "cpuCount", 1, 1024, &v) < 0)
        goto out;
    r->cpu = (int)v;
    if (get_int(lim, "memoryMB", 1, INT_MAX, &v) < 0)
        goto out;
    r->mem_mb = (int)v;
    if (get_int(lim, "diskSizeMB", 0, INT_MAX, &v) < 0)
        goto out;
    r->disk_mb = (int)v;
    if (get_str(o, "envdVersion", r->envd_version, sizeof(r->envd_version)) < 0)
        r->envd_version[0] = '\0';
    if (get_int(o, "uidShift", 1, UINT32_MAX, &v) < 0)
        goto out;
    r->uid_shift = (unsigned)v;
    if (get_str(o, "state", st, sizeof(st)) < 0 || state_from_name(st, &r->state) < 0)
        goto out;
    /* A damaged policy must not silently become "allow everything". */
    if (net_policy_from_json(json_object_get(o, "network"), &r->net) < 0)
        goto out;
    /* Records written before it have none (set = 0). */
    if (sb_lifecycle_from_json(json_object_get(o, "lifecycle"), &r->life) < 0)
        goto out;
    rc = 0;
out:
    json_decref(o);
    return rc;
}

/* Rewrite an existing state.json in place: 0, -1 on error, 1 if it cannot be done
 * this way (no file yet, or old or new text beyond one page).
 *
 * Why: a temporary file and a rename allocate and free an inode on every save, and on
 * a journal-less ext4 (this kind of host) every later inode allocation steps over the
 * recently freed ones, so with a few saves per sandbox creates got slower with churn.
 * Why it is still all-or-nothing: one pwrite of at most a page at offset 0 is copied
 * whole or not at all even if the writer is killed during it (the kernel checks for a
 * fatal signal before each page), and the file is only read by a later worker, once
 * this one is gone. A shorter text is padded with spaces, which JSON allows, so no
 * truncate (a second, separable step) is needed. */
static int save_in_place(const char *path, const char *text, size_t len)
{
    char page[STATE_PAGE];
    struct stat st;
    size_t n;
    int fd, rc = 1;

    if (len > sizeof(page))
        return 1;
    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 1 : -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 &&
        (size_t)st.st_size <= sizeof(page)) {
        n = len > (size_t)st.st_size ? len : (size_t)st.st_size;
        memcpy(page, text, len);
        memset(page + len, ' ', n - len);
        rc = pwrite(fd, page, n, 0) == (ssize_t)n ? 0 : -1;
    }
    if (close(fd) < 0 && rc == 0)
        rc = -1;
    return rc;
}

int state_save(const char *dir, const struct sb_record *r)
{
    char path[PATH_MAX];
    char *text;
    int rc;

    if (util_fmt(path, sizeof(path), "%s/state.json", dir) < 0)
        return -1;
    text = state_to_json(r);
    if (!text) {
        errno = ENOMEM;
        return -1;
    }
    rc = save_in_place(path, text, strlen(text));
    if (rc == 1)
        rc = util_write_atomic(path, text, strlen(text), 0600, 0);
    free(text);
    return rc;
}

int state_load(const char *dir, struct sb_record *r)
{
    char path[PATH_MAX];
    char *text;
    int rc;

    if (util_fmt(path, sizeof(path), "%s/state.json", dir) < 0)
        return -1;
    text = util_read_file(path, 1 << 16, NULL);
    if (!text)
        return -1;
    rc = state_from_json(text, r);
    free(text);
    if (rc < 0)
        errno = EINVAL;
    return rc;
}

json_t *state_api_json(const struct sb_record *r)
{
    char started[32];

    json_t *o;

    cube_rfc3339_ms(r->created_ms, started, sizeof(started));
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:s, s:i, s:i}", "sandboxID",
                  r->id, "instance", r->inst, "templateID", r->template_id, "state",
                  r->state == SB_RUNNING ? "running" : sb_state_name(r->state), "address",
                  r->address, "envdPort", ENVD_PORT, "pid", (json_int_t)r->pid,
                  "startedAt", started, "cpuCount", r->cpu, "memoryMB", r->mem_mb);
    if (o && r->life.set)
        json_object_set_new(o, "lifecycle", sb_lifecycle_to_json(&r->life));
    return o;
}
