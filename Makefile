# Cube: top-level build. Each component has a <dir>/build.mk fragment that adds its
# targets to BINS / MODULES / UNIT_TESTS / FUZZERS; this file holds the shared flags
# and the user-facing commands (see README).

SAN ?= 0
ifeq ($(SAN),1)
BUILD ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SANFLAGS :=
endif

CC ?= gcc
CFLAGS_BASE := -std=gnu11 -Wall -Wextra -Werror -O2 -g -D_GNU_SOURCE -fPIC \
               -Icommon $(SANFLAGS)
LDFLAGS_BASE := $(SANFLAGS)

BINS :=
MODULES :=
UNIT_TESTS :=
FUZZERS :=

.PHONY: all run stop test bench clean unit fuzz format tidy unit-build print-unit-tests print-fuzzers everything
all: everything

include common/build.mk
-include envd/build.mk
-include vmm-worker/build.mk
-include scheduler/build.mk
-include ngx_cube_module/build.mk
-include tests/unit/build.mk
-include tests/fuzz/build.mk
-include tests/bench/build.mk

everything: $(BINS) $(MODULES)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS_EXTRA) -MMD -MP -c $< -o $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do $$t; done

fuzz: $(FUZZERS)

run:
	@bash deploy/run.sh

stop:
	@bash deploy/stop.sh

test:
	@bash tests/run-all.sh

bench:
	@bash tests/bench/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

# Unit tests are built with ASan+UBSan always (see each build.mk).
unit-build: $(UNIT_TESTS)
print-unit-tests:
	@echo $(UNIT_TESTS)
print-fuzzers:
	@echo $(FUZZERS)
