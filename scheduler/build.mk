# cube-scheduler: control loop + MariaDB-backed admin commands.
SCHED_SRCS := scheduler/main.c scheduler/db.c scheduler/keys.c scheduler/nodes.c scheduler/lifecycle.c scheduler/lifecycle_rule.c scheduler/events.c scheduler/metrics.c scheduler/worker_client.c scheduler/rebuild.c
SCHED_OBJS := $(SCHED_SRCS:%.c=$(BUILD)/obj/%.o)
SCHED_BIN := $(BUILD)/bin/cube-scheduler
BINS += $(SCHED_BIN)

$(SCHED_OBJS): CFLAGS_EXTRA := $(shell pkg-config --cflags libmariadb)

$(SCHED_BIN): $(SCHED_OBJS) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ -lmysqlclient -lhiredis -lcurl -ljansson -lcrypto

# Unit test of the lifecycle decision (pure: no Redis, no MariaDB).
UNIT_TESTS += $(BUILD)/tests/test_sched_lifecycle
$(BUILD)/tests/test_sched_lifecycle: tests/unit/test_sched_lifecycle.c scheduler/lifecycle_rule.c \
        scheduler/lifecycle_rule.h common/cube_time.c common/cube_time.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O1 -g -D_GNU_SOURCE -Icommon -Ischeduler $(UT_SAN) \
	    -o $@ tests/unit/test_sched_lifecycle.c scheduler/lifecycle_rule.c common/cube_time.c -lcmocka
