#include "template.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cube_id.h"
#include "cube_log.h"
#include "util.h"

int template_ref_valid(const char *ref)
{
    size_t n = 0;

    if (!ref || !((ref[0] >= 'a' && ref[0] <= 'z') || (ref[0] >= '0' && ref[0] <= '9')))
        return 0;
    for (; ref[n]; n++) {
        char c = ref[n];
        if (n >= TEMPLATE_REF_MAX)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.'))
            return 0;
    }
    return 1;
}

static int int_field(json_t *o, const char *key, int lo, int hi, int dflt, int *out)
{
    json_t *v = json_object_get(o, key);

    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

int template_parse(const char *text, const char *dir_id, struct template *t, char *err,
                   int errlen)
{
    json_error_t jerr;
    json_t *root, *v;
    int shift = 0, rc = -1;

    memset(t, 0, sizeof(*t));
    root = json_loads(text, 0, &jerr);
    if (!root || !json_is_object(root)) {
        snprintf(err, (size_t)errlen, "template.json: %s",
                 root ? "not an object" : jerr.text);
        goto out;
    }
    v = json_object_get(root, "templateID");
    /* Template ids live in paths: only [a-z0-9] (cube_id_valid) is accepted. */
    if (!json_is_string(v) || !cube_id_valid(json_string_value(v), TEMPLATE_REF_MAX)) {
        snprintf(err, (size_t)errlen, "template.json: bad templateID");
        goto out;
    }
    if (dir_id && strcmp(dir_id, json_string_value(v)) != 0) {
        snprintf(err, (size_t)errlen,
                 "template.json: templateID does not match directory");
        goto out;
    }
    snprintf(t->id, sizeof(t->id), "%s", json_string_value(v));
    v = json_object_get(root, "alias");
    if (json_is_string(v) && template_ref_valid(json_string_value(v)))
        snprintf(t->alias, sizeof(t->alias), "%s", json_string_value(v));
    /* More names for the same template (e.g. code-interpreter-v1 for base). */
    v = json_object_get(root, "aliases");
    if (json_is_array(v)) {
        size_t k;
        json_t *a;
        json_array_foreach(v, k, a)
        {
            if (t->n_aliases < TEMPLATE_MAX_ALIASES && json_is_string(a) &&
                template_ref_valid(json_string_value(a)))
                snprintf(t->aliases[t->n_aliases++], sizeof(t->aliases[0]), "%s",
                         json_string_value(a));
        }
    }
    v = json_object_get(root, "envdVersion");
    snprintf(t->envd_version, sizeof(t->envd_version), "%s",
             json_is_string(v) ? json_string_value(v) : "");
    if (int_field(root, "cpuCount", 1, 256, 2, &t->cpu) < 0 ||
        int_field(root, "memoryMB", 16, 1 << 22, 512, &t->mem_mb) < 0 ||
        int_field(root, "diskSizeMB", 0, 1 << 24, 1024, &t->disk_mb) < 0 ||
        /* Warm-pool size for this template; -1 = the worker's --pool-size. */
        int_field(root, "poolSize", -1, 4096, -1, &t->pool_size) < 0 ||
        /* uid 0 would make sandbox root host root: never accept it. The shifted range
         * must stay below 2^32 - 65536. */
        int_field(root, "uidShift", 65536, 0x7fff0000, 100000, &shift) < 0) {
        snprintf(err, (size_t)errlen, "template.json: bad numeric field");
        goto out;
    }
    t->uid_shift = (unsigned)shift;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

void template_set_free(struct template_set *set)
{
    while (set->head) {
        struct template *t = set->head;
        set->head = t->next;
        free(t);
    }
    set->count = 0;
}

int template_scan(struct template_set *set, const char *dir)
{
    struct template_set fresh = {0};
    struct dirent *de;
    DIR *d;

    d = opendir(dir);
    if (!d) {
        if (errno != ENOENT)
            log_warn("templates: opendir %s: %s", dir, strerror(errno));
        template_set_free(set);
        return 0;
    }
    while ((de = readdir(d)) != NULL) {
        char path[PATH_MAX], err[160];
        struct template *t;
        struct stat st;
        char *text;

        if (!cube_id_valid(de->d_name, TEMPLATE_REF_MAX))
            continue;
        if (util_fmt(path, sizeof(path), "%s/%s/template.json", dir, de->d_name) < 0)
            continue;
        text = util_read_file(path, 1 << 16, NULL);
        if (!text)
            continue;
        t = calloc(1, sizeof(*t));
        if (!t) {
            free(text);
            break;
        }
        if (template_parse(text, de->d_name, t, err, sizeof(err)) < 0) {
            log_warn("templates: %s: %s", path, err);
            free(text);
            free(t);
            continue;
        }
        free(text);
        if (util_fmt(t->rootfs, sizeof(t->rootfs), "%s/%s/rootfs", dir, de->d_name) < 0 ||
            stat(t->rootfs, &st) < 0 || !S_ISDIR(st.st_mode)) {
            log_warn("templates: %s has no rootfs directory", de->d_name);
            free(t);
            continue;
        }
        t->next = fresh.head;
        fresh.head = t;
        fresh.count++;
    }
    closedir(d);
    template_set_free(set);
    *set = fresh;
    return set->count;
}

const struct template *template_find(const struct template_set *set, const char *ref)
{
    const struct template *t;

    for (t = set->head; t; t = t->next) {
        if (strcmp(t->id, ref) == 0)
            return t;
    }
    for (t = set->head; t; t = t->next) {
        if (t->alias[0] && strcmp(t->alias, ref) == 0)
            return t;
        for (int k = 0; k < t->n_aliases; k++)
            if (strcmp(t->aliases[k], ref) == 0)
                return t;
    }
    return NULL;
}
