/* cube-worker network slots: allocator window, round-robin reuse, address math. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "slots.h"

static void test_addresses(void **state)
{
    char a[SLOT_ADDR_LEN], name[16];

    (void)state;
    assert_int_equal(slot_host_addr(0, a), 0);
    assert_string_equal(a, "100.96.0.1");
    assert_int_equal(slot_sandbox_addr(0, a), 0);
    assert_string_equal(a, "100.96.0.2");
    assert_int_equal(slot_sandbox_addr(1, a), 0);
    assert_string_equal(a, "100.96.0.6");
    assert_int_equal(slot_sandbox_addr(64, a), 0); /* 64 * 4 = 256 -> next octet */
    assert_string_equal(a, "100.96.1.2");
    assert_int_equal(slot_host_addr(SLOT_COUNT - 1, a), 0);
    assert_string_equal(a, "100.96.255.253");
    assert_int_equal(slot_sandbox_addr(SLOT_COUNT - 1, a), 0);
    assert_string_equal(a, "100.96.255.254");
    assert_int_equal(slot_sandbox_addr(SLOT_COUNT, a), -1);
    assert_int_equal(slot_sandbox_addr(-1, a), -1);
    assert_int_equal(slot_ifname(16383, name, sizeof(name)), 0);
    assert_string_equal(name, "vh16383");
    assert_int_equal(slot_ifname(1, name, 3), -1); /* does not fit */
}

static void test_addr_roundtrip(void **state)
{
    char a[SLOT_ADDR_LEN];
    int s;

    (void)state;
    for (s = 0; s < SLOT_COUNT; s++) {
        assert_int_equal(slot_sandbox_addr(s, a), 0);
        assert_int_equal(slot_from_sandbox_addr(a), s);
    }
    assert_int_equal(slot_from_sandbox_addr("100.96.0.1"), -1); /* host side */
    assert_int_equal(slot_from_sandbox_addr("100.97.0.2"), -1);
    assert_int_equal(slot_from_sandbox_addr("100.96.0.2x"), -1);
    assert_int_equal(slot_from_sandbox_addr("100.96.256.2"), -1);
    assert_int_equal(slot_from_sandbox_addr(""), -1);
}

static void test_alloc_window(void **state)
{
    struct slot_alloc s;
    int i;

    (void)state;
    assert_int_equal(slots_init(&s, 10, 5), -1);
    assert_int_equal(slots_init(&s, 0, SLOT_COUNT), -1);
    assert_int_equal(slots_init(&s, 100, 103), 0);
    for (i = 0; i < 4; i++)
        assert_int_equal(slots_alloc(&s), 100 + i);
    assert_int_equal(slots_alloc(&s), -1);
    assert_int_equal(s.used, 4);
    slots_release(&s, 101);
    assert_int_equal(slots_alloc(&s), 101);
    slots_release(&s, 99); /* outside: ignored */
    slots_release(&s, 101);
    slots_release(&s, 101); /* double release: ignored */
    assert_int_equal(s.used, 3);
}

static void test_round_robin(void **state)
{
    struct slot_alloc s;

    (void)state;
    assert_int_equal(slots_init(&s, 0, 9), 0);
    assert_int_equal(slots_alloc(&s), 0);
    assert_int_equal(slots_alloc(&s), 1);
    slots_release(&s, 0);
    /* a just-freed slot is not handed out again right away */
    assert_int_equal(slots_alloc(&s), 2);
    assert_true(slots_is_used(&s, 1));
    assert_false(slots_is_used(&s, 0));
}

static void test_reserve(void **state)
{
    struct slot_alloc s;
    int i;

    (void)state;
    assert_int_equal(slots_init(&s, 0, 7), 0);
    assert_int_equal(slots_reserve(&s, 3), 0);
    assert_int_equal(slots_reserve(&s, 3), -1); /* taken */
    assert_int_equal(slots_reserve(&s, 8), -1); /* outside */
    for (i = 0; i < 7; i++)
        assert_int_not_equal(slots_alloc(&s), 3);
    assert_int_equal(slots_alloc(&s), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addresses),    cmocka_unit_test(test_addr_roundtrip),
        cmocka_unit_test(test_alloc_window), cmocka_unit_test(test_round_robin),
        cmocka_unit_test(test_reserve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
