/* cube-worker state.json: round trip, validation of what is read back (the file
 * decides what gets killed on restart), the API form, atomic save/load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "state.h"
#include "util.h"

static void sample(struct sb_record *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "i0123456789abcdefghij");
    snprintf(r->inst, sizeof(r->inst), "p0123456789abcdefghij");
    snprintf(r->template_id, sizeof(r->template_id), "h7rckchbywrea189qit4");
    snprintf(r->alias, sizeof(r->alias), "base");
    r->slot = 1234;
    slot_sandbox_addr(r->slot, r->address);
    r->pid = 424242;
    r->start_time = 18446744073709551ULL; /* large: must survive JSON */
    r->created_ms = 1795429789378LL;
    r->cpu = 2;
    r->mem_mb = 512;
    r->disk_mb = 2048;
    snprintf(r->envd_version, sizeof(r->envd_version), "0.6.13");
    r->uid_shift = 100000;
    r->state = SB_RUNNING;
}

static void test_roundtrip(void **state)
{
    struct sb_record a, b;
    char *text;

    (void)state;
    sample(&a);
    text = state_to_json(&a);
    assert_non_null(text);
    assert_int_equal(state_from_json(text, &b), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    free(text);

    a.state = SB_CREATING;
    a.pid = 0;
    a.start_time = 0;
    text = state_to_json(&a);
    assert_int_equal(state_from_json(text, &b), 0);
    assert_int_equal(b.state, SB_CREATING);
    assert_int_equal(b.pid, 0);
    free(text);

    /* The gateway's lifecycle round-trips; records from before it have none. */
    sample(&a);
    a.life.set = 1;
    a.life.auto_pause = 1;
    a.life.private_traffic = 1;
    a.life.timeout_s = 600;
    a.life.end_at_ms = 1795429789378LL + 600000;
    text = state_to_json(&a);
    assert_int_equal(state_from_json(text, &b), 0);
    assert_memory_equal(&a.life, &b.life, sizeof(a.life));
    free(text);
    sample(&a);
    text = state_to_json(&a);
    assert_null(strstr(text, "lifecycle"));
    assert_int_equal(state_from_json(text, &b), 0);
    assert_int_equal(b.life.set, 0);
    free(text);

    /* A pooled sandbox round-trips its state name. */
    a.state = SB_POOLED;
    text = state_to_json(&a);
    assert_int_equal(state_from_json(text, &b), 0);
    assert_int_equal(b.state, SB_POOLED);
    assert_string_equal(sb_state_name(b.state), "pooled");
    free(text);
}

/* Records written before warm pools have no instance name: the cgroups were named
 * after the id, so that is the instance. A malformed one is refused (it names what
 * the worker removes). */
static void test_instance_field(void **state)
{
    struct sb_record a, b;
    json_t *o;
    char *text;

    (void)state;
    sample(&a);
    text = state_to_json(&a);
    o = json_loads(text, 0, NULL);
    free(text);
    json_object_del(o, "instance");
    text = json_dumps(o, 0);
    assert_int_equal(state_from_json(text, &b), 0);
    assert_string_equal(b.inst, a.id);
    free(text);
    json_object_set_new(o, "instance", json_string("../../etc"));
    text = json_dumps(o, 0);
    assert_int_equal(state_from_json(text, &b), -1);
    free(text);
    json_decref(o);
}

/* Replace the first occurrence of from by to in a fresh JSON of the sample. */
static int parse_mutated(const char *from, const char *to)
{
    struct sb_record a, b;
    char *text, *p, buf[4096];
    int rc;

    sample(&a);
    text = state_to_json(&a);
    p = strstr(text, from);
    assert_non_null(p);
    snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
    free(text);
    rc = state_from_json(buf, &b);
    return rc;
}

static void test_rejects(void **state)
{
    struct sb_record b;

    (void)state;
    assert_int_equal(state_from_json("", &b), -1);
    assert_int_equal(state_from_json("[]", &b), -1);
    assert_int_equal(state_from_json("{}", &b), -1);
    /* ids end up in paths and command lines */
    assert_int_equal(parse_mutated("\"i0123456789abcdefghij\"", "\"../../etc\""), -1);
    assert_int_equal(parse_mutated("\"h7rckchbywrea189qit4\"", "\"a/b\""), -1);
    /* pid 1 is never a sandbox */
    assert_int_equal(parse_mutated("\"pid\": 424242", "\"pid\": 1"), -1);
    assert_int_equal(parse_mutated("\"pid\": 424242", "\"pid\": -3"), -1);
    /* address must match the slot */
    assert_int_equal(parse_mutated("\"slot\": 1234", "\"slot\": 1235"), -1);
    assert_int_equal(parse_mutated("\"slot\": 1234", "\"slot\": 99999"), -1);
    assert_int_equal(parse_mutated("\"running\"", "\"exploded\""), -1);
    assert_int_equal(parse_mutated("\"uidShift\": 100000", "\"uidShift\": 0"), -1);
    assert_int_equal(parse_mutated("\"cpuCount\": 2", "\"cpuCount\": \"2\""), -1);
    /* sanity: an unmutated replacement parses */
    assert_int_equal(parse_mutated("\"running\"", "\"killing\""), 0);
}

static void test_api_json(void **state)
{
    struct sb_record a;
    json_t *o;

    (void)state;
    sample(&a);
    o = state_api_json(&a);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "sandboxID")), a.id);
    assert_string_equal(json_string_value(json_object_get(o, "templateID")),
                        a.template_id);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "running");
    assert_string_equal(json_string_value(json_object_get(o, "address")), "100.96.19.74");
    assert_int_equal(json_integer_value(json_object_get(o, "envdPort")), 49983);
    assert_int_equal(json_integer_value(json_object_get(o, "pid")), 424242);
    assert_int_equal(json_integer_value(json_object_get(o, "cpuCount")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "memoryMB")), 512);
    assert_string_equal(json_string_value(json_object_get(o, "startedAt")),
                        "2026-11-23T10:29:49.378Z");
    json_decref(o);
}

static void test_save_load(void **state)
{
    char dir[] = "/tmp/test_worker_state.XXXXXX", path[256];
    struct sb_record a, b;

    (void)state;
    assert_non_null(mkdtemp(dir));
    sample(&a);
    assert_int_equal(state_save(dir, &a), 0);
    assert_int_equal(state_load(dir, &b), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    /* overwrite is atomic and leaves no temp file */
    a.state = SB_KILLING;
    assert_int_equal(state_save(dir, &a), 0);
    assert_int_equal(state_load(dir, &b), 0);
    assert_int_equal(b.state, SB_KILLING);
    snprintf(path, sizeof(path), "%s/state.json.tmp", dir);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(util_rm_rf(dir), 0);
    assert_int_equal(state_load(dir, &b), -1);
}

/* Rewrites keep the inode and pad a shorter text with spaces; texts beyond a page go
 * through a new file, and every version loads back exactly. */
static void test_save_in_place(void **state)
{
    char dir[] = "/tmp/test_worker_state.XXXXXX", path[256], *text;
    struct sb_record a, b;
    struct stat st0, st1;
    size_t len;
    int i;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/state.json", dir);
    sample(&a);
    memset(a.alias, 'a', sizeof(a.alias) - 1);
    assert_int_equal(state_save(dir, &a), 0);
    assert_int_equal(stat(path, &st0), 0);
    memset(a.alias, 0, sizeof(a.alias));
    snprintf(a.alias, sizeof(a.alias), "base");
    assert_int_equal(state_save(dir, &a), 0);
    assert_int_equal(stat(path, &st1), 0);
    assert_true(st0.st_ino == st1.st_ino);
    assert_true(st1.st_size == st0.st_size); /* padded, not truncated */
    assert_int_equal(state_load(dir, &b), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    text = util_read_file(path, 1 << 16, &len);
    assert_non_null(text);
    assert_true(len == (size_t)st1.st_size);
    assert_true(text[len - 1] == ' ');
    free(text);

    /* Beyond a page: the big text replaces the file, and so does the small one after. */
    a.net.n_allow = a.net.n_deny = NET_POLICY_MAX;
    for (i = 0; i < NET_POLICY_MAX; i++) {
        a.net.allow[i].lo = 0xC0A80000u + (uint32_t)i * 512;
        a.net.allow[i].hi = a.net.allow[i].lo + 300;
        a.net.deny[i].lo = 0x0A000000u + (uint32_t)i * 65536;
        a.net.deny[i].hi = a.net.deny[i].lo + 40000;
    }
    assert_int_equal(state_save(dir, &a), 0);
    assert_int_equal(stat(path, &st1), 0);
    assert_true(st1.st_size > STATE_PAGE);
    assert_int_equal(state_load(dir, &b), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    memset(&a.net, 0, sizeof(a.net));
    assert_int_equal(state_save(dir, &a), 0);
    assert_int_equal(stat(path, &st1), 0);
    assert_true(st1.st_size < STATE_PAGE);
    assert_int_equal(state_load(dir, &b), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_equal(util_rm_rf(dir), 0);
}

static void test_proc_start_time(void **state)
{
    unsigned long long a = 0, b = 0;

    (void)state;
    assert_int_equal(util_proc_start_time(getpid(), &a), 0);
    assert_int_equal(util_proc_start_time(getpid(), &b), 0);
    assert_true(a > 0);
    assert_true(a == b);
    assert_int_equal(util_proc_start_time(0x7ffffff0, &a), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),       cmocka_unit_test(test_instance_field),
        cmocka_unit_test(test_rejects),         cmocka_unit_test(test_api_json),
        cmocka_unit_test(test_save_load),       cmocka_unit_test(test_save_in_place),
        cmocka_unit_test(test_proc_start_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
