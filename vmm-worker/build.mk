# vmm-worker: the cube-worker daemon (ns sandbox driver). Objects come from the root
# pattern rule $(BUILD)/obj/%.o; unit tests are always built with ASan+UBSan into their
# own object tree so a plain `make` still has sanitizer coverage for the pure parts.

WORKER_SRCS := vmm-worker/worker_main.c vmm-worker/worker_api.c vmm-worker/sandbox.c \
               vmm-worker/ns_spawn.c vmm-worker/ns_mounts.c vmm-worker/netns.c \
               vmm-worker/cgroup.c vmm-worker/state.c vmm-worker/slots.c \
               vmm-worker/template.c vmm-worker/create_req.c vmm-worker/node_registry.c \
               vmm-worker/envd_client.c vmm-worker/util.c vmm-worker/caps.c \
               vmm-worker/seccomp_profile.c vmm-worker/metrics.c vmm-worker/host_firewall.c \
               vmm-worker/sandbox_prep.c vmm-worker/spawner.c \
               vmm-worker/net_policy.c vmm-worker/disk_quota.c vmm-worker/layer_pool.c
WORKER_OBJS := $(WORKER_SRCS:%.c=$(BUILD)/obj/%.o)
WORKER_BIN := $(BUILD)/bin/cube-worker

BINS += $(WORKER_BIN)

$(WORKER_BIN): $(WORKER_OBJS) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $(WORKER_OBJS) $(COMMON_LIB) -levent -ljansson -lhiredis -lseccomp -lnftables -lmnl

# --- unit tests (cmocka, always sanitized) -------------------------------------------
WORKER_TEST_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer \
                   -fno-sanitize-recover=undefined
WORKER_TEST_OBJDIR := $(BUILD)/obj-test
WORKER_TESTS := state slots create_req template caps seccomp firewall net_policy disk_quota \
                layer_pool
WORKER_TEST_BINS := $(WORKER_TESTS:%=$(BUILD)/tests/test_worker_%)

UNIT_TESTS += $(WORKER_TEST_BINS)

# The pure modules each test links against (no libevent, no system side effects).
WORKER_TEST_DEPS_state := state slots util net_policy
WORKER_TEST_DEPS_slots := slots
WORKER_TEST_DEPS_create_req := create_req state template util net_policy slots
WORKER_TEST_DEPS_template := template util
WORKER_TEST_DEPS_caps := caps
WORKER_TEST_DEPS_seccomp := seccomp_profile
WORKER_TEST_DEPS_firewall := host_firewall net_policy slots util
WORKER_TEST_DEPS_disk_quota := disk_quota layer_pool
WORKER_TEST_DEPS_layer_pool := layer_pool disk_quota
WORKER_TEST_DEPS_net_policy := net_policy slots
# Extra libraries a test links with.
WORKER_TEST_LIBS_seccomp := -lseccomp
WORKER_TEST_LIBS_firewall := -lnftables
WORKER_TEST_LIBS_create_req := -lnftables
WORKER_TEST_LIBS_state := -lnftables
WORKER_TEST_LIBS_net_policy := -lnftables

$(WORKER_TEST_OBJDIR)/vmm-worker/%.o: vmm-worker/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(WORKER_TEST_SAN) -MMD -MP -c $< -o $@

$(WORKER_TEST_OBJDIR)/tests/unit/test_worker_%.o: tests/unit/test_worker_%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(WORKER_TEST_SAN) -Ivmm-worker -MMD -MP -c $< -o $@

-include $(shell find $(WORKER_TEST_OBJDIR) -name '*.d' 2>/dev/null)

# One explicit link rule per test (no .SECONDEXPANSION: it would change how every
# later-included build.mk is parsed).
define WORKER_TEST_RULE
$(BUILD)/tests/test_worker_$(1): $(WORKER_TEST_OBJDIR)/tests/unit/test_worker_$(1).o \
        $(patsubst %,$(WORKER_TEST_OBJDIR)/vmm-worker/%.o,$(WORKER_TEST_DEPS_$(1))) $(COMMON_LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $(WORKER_TEST_SAN) -o $$@ $$(filter %.o,$$^) $(COMMON_LIB) -ljansson -lcmocka $(WORKER_TEST_LIBS_$(1))
endef
$(foreach t,$(WORKER_TESTS),$(eval $(call WORKER_TEST_RULE,$(t))))

# --- fuzzer (clang libFuzzer): the network policy parser takes API input ---------------
FUZZERS += $(BUILD)/fuzz/fuzz_worker_net_policy
$(BUILD)/fuzz/fuzz_worker_net_policy: tests/fuzz/fuzz_worker_net_policy.c vmm-worker/net_policy.c \
        vmm-worker/net_policy.h vmm-worker/slots.c common/cube_log.c
	@mkdir -p $(dir $@)
	clang -g -O1 -D_GNU_SOURCE -Icommon -Ivmm-worker -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -o $@ $< vmm-worker/net_policy.c vmm-worker/slots.c \
	    common/cube_log.c -ljansson -lnftables
