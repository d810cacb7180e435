# cube-bench: the load generator behind `make bench` (tests/bench/run.sh).
BENCH_BIN := $(BUILD)/bin/cube-bench
BINS += $(BENCH_BIN)

$(BENCH_BIN): $(BUILD)/obj/tests/bench/cube-bench.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ -levent -ljansson
