# cube-scheduler: control loop + MariaDB-backed admin commands.
SCHED_SRCS := scheduler/main.c scheduler/db.c scheduler/keys.c scheduler/nodes.c scheduler/lifecycle.c scheduler/events.c scheduler/metrics.c scheduler/worker_client.c scheduler/rebuild.c
SCHED_OBJS := $(SCHED_SRCS:%.c=$(BUILD)/obj/%.o)
SCHED_BIN := $(BUILD)/bin/cube-scheduler
BINS += $(SCHED_BIN)

$(SCHED_OBJS): CFLAGS_EXTRA := $(shell pkg-config --cflags libmariadb)

$(SCHED_BIN): $(SCHED_OBJS) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ -lmysqlclient -lhiredis -lcurl -ljansson -lcrypto
