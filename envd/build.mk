# envd: cube-init (PID 1 of a sandbox) and cube-envd (the E2B envd agent), their
# cmocka unit tests (tests/unit/test_envd_*.c) and libFuzzer targets
# (tests/fuzz/fuzz_envd_*.c). Included by the root Makefile.

ENVD_SRCS := envd/envd_main.c envd/envd_http.c envd/http_filter.c envd/envd_env.c envd/envd_user.c \
             envd/envd_path.c envd/envd_metrics.c envd/connect_envelope.c \
             envd/connect_rpc.c envd/base64.c envd/process.c envd/proc_exec.c envd/process_rpc.c envd/process_input.c envd/rpc_decode.c \
             envd/process_status.c envd/files_auth.c envd/files_common.c \
             envd/files_download.c envd/files_upload.c envd/multipart.c \
             envd/fs_format.c envd/fs_rpc.c envd/fs_watch.c envd/fs_watcher.c envd/daemon_opts.c \
             envd/http_reason.c envd/envd_hash.c envd/envd_chan.c
ENVD_OBJS := $(ENVD_SRCS:%.c=$(BUILD)/obj/%.o)
# Linked statically, libc aside: envd and cube-ci run in every sandbox, whose template
# then needs none of these packages, and a static PIE copy of only what is used keeps
# each process's private (relocated) memory small. cube_hash.h is envd_hash.c over
# nettle here, not libcrypto (why: envd_hash.c).
ENVD_LIBS := -Wl,-Bstatic -levent -ljansson -lnettle -lz -Wl,-Bdynamic -l:libhttp_parser.a

CUBE_INIT_OBJS := $(BUILD)/obj/envd/cube_init.o

BINS += $(BUILD)/bin/cube-envd $(BUILD)/bin/cube-init

$(BUILD)/bin/cube-envd: $(ENVD_OBJS) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $(ENVD_OBJS) $(COMMON_LIB) $(ENVD_LIBS)

# PID 1 stays dependency-free and small: a static PIE, so no dynamic loader runs at
# every sandbox start (about 3 ms less CPU per sandbox here, 36 KiB less private
# memory). Sanitizer builds link it dynamically (ASan cannot be static).
$(BUILD)/bin/cube-init: $(CUBE_INIT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) $(if $(SANFLAGS),,-static-pie) -o $@ $(CUBE_INIT_OBJS)

# ---- unit tests: always with ASan+UBSan, objects kept apart in obj-test/ so
# they never mix with the (maybe unsanitized) daemon objects.
ENVD_TEST_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer \
                 -fno-sanitize-recover=undefined
ENVD_TEST_CFLAGS := $(filter-out $(SANFLAGS),$(CFLAGS_BASE)) -Ienvd $(ENVD_TEST_SAN)

# test name -> envd sources it exercises
ENVD_TEST_envelope := envd/connect_envelope.c
ENVD_TEST_base64 := envd/base64.c
ENVD_TEST_path := envd/envd_path.c envd/base64.c
ENVD_TEST_status := envd/process_status.c
ENVD_TEST_env := envd/envd_env.c common/cube_hosts.c common/cube_log.c
ENVD_TEST_files_auth := envd/files_auth.c envd/base64.c envd/envd_hash.c
ENVD_TEST_LIBS_files_auth := -lnettle
ENVD_TEST_hash := envd/envd_hash.c
ENVD_TEST_LIBS_hash := -lnettle
ENVD_TEST_multipart := envd/multipart.c
ENVD_TEST_fs_format := envd/fs_format.c
ENVD_TEST_rpc_decode := envd/rpc_decode.c envd/base64.c
ENVD_TEST_NAMES := envelope base64 path status env files_auth multipart fs_format hash \
                   rpc_decode

ENVD_TEST_BINS := $(ENVD_TEST_NAMES:%=$(BUILD)/tests/test_envd_%)
UNIT_TESTS += $(ENVD_TEST_BINS)

ENVD_TEST_OBJS := $(sort $(foreach t,$(ENVD_TEST_NAMES),$(ENVD_TEST_$(t)) \
                    tests/unit/test_envd_$(t).c))
ENVD_TEST_OBJS := $(ENVD_TEST_OBJS:%.c=$(BUILD)/obj-test/%.o)

$(ENVD_TEST_OBJS): $(BUILD)/obj-test/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ENVD_TEST_CFLAGS) -MMD -MP -c $< -o $@

-include $(ENVD_TEST_OBJS:.o=.d)

define ENVD_TEST_RULE
$(BUILD)/tests/test_envd_$(1): $(BUILD)/obj-test/tests/unit/test_envd_$(1).o \
        $(ENVD_TEST_$(1):%.c=$(BUILD)/obj-test/%.o)
	@mkdir -p $$(dir $$@)
	$$(CC) $(ENVD_TEST_SAN) -o $$@ $$^ -lcmocka -ljansson $(ENVD_TEST_LIBS_$(1))
endef
$(foreach t,$(ENVD_TEST_NAMES),$(eval $(call ENVD_TEST_RULE,$(t))))

.PHONY: envd-unit
envd-unit: $(ENVD_TEST_BINS)
	@set -e; for t in $(ENVD_TEST_BINS); do echo "== $$t"; $$t; done

# ---- libFuzzer targets (clang only), built straight from the sources.
ENVD_FUZZ_CC ?= clang
ENVD_FUZZ_FLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -Ienvd \
                   -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
ENVD_FUZZ_envelope := envd/connect_envelope.c
ENVD_FUZZ_base64 := envd/base64.c
ENVD_FUZZ_path := envd/envd_path.c envd/base64.c
ENVD_FUZZ_multipart := envd/multipart.c
ENVD_FUZZ_rpc_request := envd/rpc_decode.c envd/base64.c
ENVD_FUZZ_LIBS_rpc_request := -ljansson
ENVD_FUZZ_NAMES := envelope base64 path multipart rpc_request
FUZZERS += $(ENVD_FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_envd_%)

define ENVD_FUZZ_RULE
$(BUILD)/fuzz/fuzz_envd_$(1): tests/fuzz/fuzz_envd_$(1).c $(ENVD_FUZZ_$(1)) $(wildcard envd/*.h)
	@mkdir -p $$(dir $$@)
	$(ENVD_FUZZ_CC) $(ENVD_FUZZ_FLAGS) -o $$@ tests/fuzz/fuzz_envd_$(1).c $(ENVD_FUZZ_$(1)) \
	    $(ENVD_FUZZ_LIBS_$(1))
endef
$(foreach t,$(ENVD_FUZZ_NAMES),$(eval $(call ENVD_FUZZ_RULE,$(t))))

# ---- cube-ci: the code-interpreter server (port 49999) and its kernel
# drivers, installed next to the binary (reach sandboxes via /.cube/bin).
CI_SRCS := envd/ci_main.c envd/ci_http.c envd/ci_context.c envd/ci_kernel.c \
           envd/ci_envs.c envd/ci_proto.c envd/envd_user.c envd/envd_env.c \
           envd/envd_path.c envd/base64.c envd/daemon_opts.c envd/http_reason.c
CI_OBJS := $(CI_SRCS:%.c=$(BUILD)/obj/%.o)
CI_DRIVERS := $(patsubst envd/drivers/%,$(BUILD)/bin/ci-drivers/%,$(wildcard envd/drivers/*))

BINS += $(BUILD)/bin/cube-ci $(CI_DRIVERS)

$(BUILD)/bin/cube-ci: $(CI_OBJS) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $(CI_OBJS) $(COMMON_LIB) -Wl,-Bstatic -levent -ljansson \
	    -Wl,-Bdynamic

$(BUILD)/bin/ci-drivers/%: envd/drivers/%
	@mkdir -p $(dir $@)
	install -m 0644 $< $@

# Unit tests and fuzzers for the pure parts (request parsing, NDJSON lines,
# MIME mapping); same sanitizer flags as the envd ones above.
CI_TEST_NAMES := ci_proto
CI_TEST_ci_proto := envd/ci_proto.c
CI_TEST_BINS := $(CI_TEST_NAMES:%=$(BUILD)/tests/test_envd_%)
UNIT_TESTS += $(CI_TEST_BINS)
CI_TEST_OBJS := $(sort $(foreach t,$(CI_TEST_NAMES),$(CI_TEST_$(t):%.c=$(BUILD)/obj-test/ci/%.o) \
                  $(BUILD)/obj-test/ci/tests/unit/test_envd_$(t).o))

$(CI_TEST_OBJS): $(BUILD)/obj-test/ci/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ENVD_TEST_CFLAGS) -MMD -MP -c $< -o $@

-include $(CI_TEST_OBJS:.o=.d)

define CI_TEST_RULE
$(BUILD)/tests/test_envd_$(1): $(BUILD)/obj-test/ci/tests/unit/test_envd_$(1).o \
        $(CI_TEST_$(1):%.c=$(BUILD)/obj-test/ci/%.o)
	@mkdir -p $$(dir $$@)
	$$(CC) $(ENVD_TEST_SAN) -o $$@ $$^ -lcmocka -ljansson
endef
$(foreach t,$(CI_TEST_NAMES),$(eval $(call CI_TEST_RULE,$(t))))

FUZZERS += $(BUILD)/fuzz/fuzz_envd_ci_request
$(BUILD)/fuzz/fuzz_envd_ci_request: tests/fuzz/fuzz_envd_ci_request.c envd/ci_proto.c envd/ci_proto.h
	@mkdir -p $(dir $@)
	$(ENVD_FUZZ_CC) $(ENVD_FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_envd_ci_request.c envd/ci_proto.c -ljansson
