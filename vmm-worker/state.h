/* Sandbox records: the in-memory description of one sandbox, its on-disk form
 * (<state-dir>/sandboxes/<id>/state.json, written atomically) and its API form
 * (docs/internals.md "<worker sandbox>"). The JSON codecs are pure and unit-tested. */
#ifndef CUBE_WORKER_STATE_H
#define CUBE_WORKER_STATE_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "cube_id.h"
#include "net_policy.h"
#include "slots.h"
#include "template.h"

#define ENVD_PORT 49983

enum sb_state {
    SB_CREATING, /* resources being made; on restart: tear down */
    SB_RUNNING,  /* envd answered and /init was applied */
    SB_KILLING,  /* SIGKILL sent, waiting for the pid namespace to empty */
    SB_PAUSED,   /* every process frozen (cgroup freezer); memory and files kept */
    SB_POOLED,   /* fully prepared, envd up, waiting in a warm pool for a create */
};

/* What the gateway decided at create for the sandbox's life (auto-pause/resume,
 * private traffic, timeout, end time). The worker does not act on it; it keeps it
 * with the sandbox so that a rebuild of Redis's live view knows it even when the
 * "created" event never reached MariaDB (Redis died first). set = 0: not given. */
struct sb_lifecycle {
    int set;
    int auto_pause, auto_resume, private_traffic;
    int64_t timeout_s;
    int64_t end_at_ms;
};

/* "lifecycle" object of a create body / state.json / the API form and back. Absent or
 * null is set = 0; a malformed one is -1. */
int sb_lifecycle_from_json(json_t *o, struct sb_lifecycle *lc);
json_t *sb_lifecycle_to_json(const struct sb_lifecycle *lc); /* NULL when !set */

struct sb_record {
    char id[CUBE_SANDBOX_ID_LEN + 1];   /* API id; the instance name while pooled */
    char inst[CUBE_SANDBOX_ID_LEN + 1]; /* instance name: names the cgroups, fixed for
                                           life (cgroup v2 cannot rename) */
    char template_id[TEMPLATE_REF_MAX + 1];
    char alias[TEMPLATE_REF_MAX + 1];
    int slot;
    pid_t pid;                     /* host pid of the sandbox's init; 0 before spawn */
    unsigned long long start_time; /* /proc/<pid>/stat field 22, pins pid identity */
    char address[SLOT_ADDR_LEN];
    int64_t created_ms;
    int cpu;
    int mem_mb;
    int disk_mb;
    char envd_version[32];
    unsigned uid_shift;
    enum sb_state state;
    struct net_policy net; /* egress policy; persisted as "network" when not default */
    struct sb_lifecycle life;
};

const char *sb_state_name(enum sb_state s);

/* state.json text (caller frees) and back. from_json validates everything it reads,
 * since the file decides what the worker kills and removes on restart. */
char *state_to_json(const struct sb_record *r);
int state_from_json(const char *text, struct sb_record *r);

/* <dir>/state.json, atomically: created through a temporary file and a rename, then
 * rewritten in place while old and new text fit STATE_PAGE bytes (state.c says why
 * that is atomic too). Not fsync'ed: it must survive the worker, not a power cut
 * (after which no sandbox process is left and every state dir is torn down). */
#define STATE_PAGE 4096
int state_save(const char *dir, const struct sb_record *r);
int state_load(const char *dir, struct sb_record *r);

/* "<worker sandbox>" object of the control API. */
json_t *state_api_json(const struct sb_record *r);

#endif
