/* Templates: /var/lib/cube/templates/<id>/{rootfs/,template.json}. The rootfs is
 * "shifted" (host uid = uidShift + in-sandbox uid), built once by the template
 * builder; the worker only reads it as the overlay's lower layer. */
#ifndef CUBE_WORKER_TEMPLATE_H
#define CUBE_WORKER_TEMPLATE_H

#include <limits.h>

#define TEMPLATE_REF_MAX 64
#define TEMPLATE_MAX_ALIASES 4 /* extra names besides `alias` (template.json "aliases") */

struct template
{
    char id[TEMPLATE_REF_MAX + 1];
    char alias[TEMPLATE_REF_MAX + 1];
    char aliases[TEMPLATE_MAX_ALIASES][TEMPLATE_REF_MAX + 1];
    int n_aliases;
    int cpu;
    int mem_mb;
    int disk_mb;
    int pool_size; /* warm sandboxes kept ready; -1 = worker default */
    char envd_version[32];
    unsigned uid_shift; /* host uid of in-sandbox uid 0 */
    char rootfs[PATH_MAX];
    struct template *next;
};

struct template_set {
    struct template *head;
    int count;
};

/* Parse template.json text (pure; dir_id is the directory name, which must equal
 * templateID so a copied directory cannot impersonate another template). */
int template_parse(const char *json, const char *dir_id, struct template *t, char *err,
                   int errlen);
/* (Re)scan dir/<id>/template.json into set (replacing its contents). Returns count. */
int template_scan(struct template_set *set, const char *dir);
void template_set_free(struct template_set *set);
/* Find by id, then by alias (main or extra). NULL if unknown. */
const struct template *template_find(const struct template_set *set, const char *ref);
/* 1 if ref is shaped like a template id or alias ([a-z0-9._-], starts alnum). */
int template_ref_valid(const char *ref);

#endif
