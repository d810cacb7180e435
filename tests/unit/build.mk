# Unit tests of common/. Always built with ASan+UBSan, whatever SAN says.
UT_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
UT_COMMON_SRCS := $(wildcard common/*.c)
UT_COMMON_OBJS := $(UT_COMMON_SRCS:%.c=$(BUILD)/obj-test/%.o)
UNIT_TESTS += $(BUILD)/tests/test_common

$(BUILD)/obj-test/common/%.o: common/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O1 -g -D_GNU_SOURCE -Icommon $(UT_SAN) -c $< -o $@

$(BUILD)/tests/test_common: tests/unit/test_common.c $(UT_COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O1 -g -D_GNU_SOURCE -Icommon $(UT_SAN) -o $@ $^ -lcmocka -lcrypto
