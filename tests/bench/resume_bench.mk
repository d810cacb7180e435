# resume-bench: the worker's own pause/resume time on its control socket (issue 5:
# resume <= 5 ms worker time). Included from tests/bench/build.mk, so it builds with the
# other bench tools (make everything, make run).
RESUME_BENCH_BIN := $(BUILD)/bin/resume-bench
BINS += $(RESUME_BENCH_BIN)
$(RESUME_BENCH_BIN): $(BUILD)/obj/tests/bench/resume_bench.o $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $(filter %.o,$^) $(COMMON_LIB)
