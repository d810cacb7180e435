# cube-bench: the load generator behind `make bench` (tests/bench/run.sh).
BENCH_BIN := $(BUILD)/bin/cube-bench
BINS += $(BENCH_BIN)

$(BENCH_BIN): $(BUILD)/obj/tests/bench/cube-bench.o $(BUILD)/obj/tests/bench/bench_cycle.o \
        $(BUILD)/obj/tests/bench/bench_report.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ -levent -ljansson

# netns-bench: µs per sandbox network setup/teardown (vmm-worker/netns.c), old vs new.
NETNS_BENCH_BIN := $(BUILD)/bin/netns-bench
BINS += $(NETNS_BENCH_BIN)
$(BUILD)/obj/tests/bench/netns_bench.o: CFLAGS_EXTRA := -Ivmm-worker

$(NETNS_BENCH_BIN): $(BUILD)/obj/tests/bench/netns_bench.o $(BUILD)/obj/vmm-worker/netns.o \
        $(BUILD)/obj/vmm-worker/slots.o $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $(filter %.o,$^) $(COMMON_LIB) -lmnl

# pool-bench: worker-level warm/cold create latency and pool refill rate.
POOL_BENCH_BIN := $(BUILD)/bin/pool-bench
BINS += $(POOL_BENCH_BIN)
$(POOL_BENCH_BIN): $(BUILD)/obj/tests/bench/pool_bench.o $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $(filter %.o,$^) $(COMMON_LIB) -ljansson

# resume-bench: the worker's own pause/resume time (its rules are in their own file).
-include tests/bench/resume_bench.mk

# spawn-floor: (v)fork + exec + wait of a program, the floor under envd's Process/Start.
SPAWN_FLOOR_BIN := $(BUILD)/bin/spawn-floor
BINS += $(SPAWN_FLOOR_BIN)
$(SPAWN_FLOOR_BIN): $(BUILD)/obj/tests/bench/spawn_floor.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $^

# host-floor: syscall, page fault, context switch, fork and namespace costs on this host.
HOST_FLOOR_BIN := $(BUILD)/bin/host-floor
BINS += $(HOST_FLOOR_BIN)
$(HOST_FLOOR_BIN): $(BUILD)/obj/tests/bench/host_floor.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $^
