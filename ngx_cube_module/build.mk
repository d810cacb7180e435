# ngx_cube_module: the nginx dynamic module (E2B REST API, sandbox router, Redis
# adapter, worker client), its unit tests and fuzzers.
#
# The module is compiled by nginx's own build system against Debian's nginx-dev tree:
# /usr/share/nginx/src is copied to $(BUILD)/nginx-src once, configured with Debian's
# flags (conf_flags' NGX_CONF_FLAGS, so the module's signature matches the packaged
# binary) plus --with-compat and --add-dynamic-module, and `make modules` builds only
# the module. With SAN=1 the module is built with ASan+UBSan (nginx then needs the
# ASan runtime preloaded, see deploy/services.sh).

NGX_CUBE_SO := $(BUILD)/modules/ngx_cube_module.so
MODULES += $(NGX_CUBE_SO)

NGX_CUBE_NGX_SRC := /usr/share/nginx/src
NGX_CUBE_TREE := $(BUILD)/nginx-src
NGX_CUBE_DEPS := $(wildcard ngx_cube_module/*.c ngx_cube_module/*.h) \
                 common/cube_id.c common/cube_id.h common/cube_hash.c common/cube_hash.h \
                 common/cube_time.c common/cube_time.h
NGX_CUBE_CC_OPT := -g -O2 -fPIC -fstack-protector-strong -D_FORTIFY_SOURCE=2 \
                   -Wall -Wextra -Werror -Wno-unused-parameter -Wformat \
                   -Werror=format-security $(SANFLAGS)
NGX_CUBE_LD_OPT := -fPIC -Wl,-z,relro -Wl,-z,now $(SANFLAGS)

$(NGX_CUBE_TREE)/.copied:
	@mkdir -p $(BUILD)
	rm -rf $(NGX_CUBE_TREE)
	cp -r $(NGX_CUBE_NGX_SRC) $(NGX_CUBE_TREE)
	touch $@

$(NGX_CUBE_TREE)/objs/Makefile: $(NGX_CUBE_TREE)/.copied ngx_cube_module/config \
                                ngx_cube_module/build.mk
	cd $(NGX_CUBE_TREE) && bash -c 'source ./conf_flags && ./configure \
	    "$${NGX_CONF_FLAGS[@]}" --with-compat \
	    --with-cc-opt="$(NGX_CUBE_CC_OPT)" --with-ld-opt="$(NGX_CUBE_LD_OPT)" \
	    --add-dynamic-module="$(CURDIR)/ngx_cube_module"' >configure.log 2>&1 \
	    || { tail -40 configure.log; exit 1; }

$(NGX_CUBE_SO): $(NGX_CUBE_TREE)/objs/Makefile $(NGX_CUBE_DEPS)
	$(MAKE) -C $(NGX_CUBE_TREE) -f objs/Makefile modules
	@mkdir -p $(dir $@)
	@# new inode (cp + mv): a running nginx keeps its mapping of the old file intact
	cp $(NGX_CUBE_TREE)/objs/ngx_cube_module.so $@.tmp && mv -f $@.tmp $@

# ---------------------------------------------------------------- unit tests
# Always ASan+UBSan, whatever SAN says; objects apart from the module's.
NGX_UT_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -O1 -g -D_GNU_SOURCE -Icommon \
                 -Ingx_cube_module -fsanitize=address,undefined -fno-omit-frame-pointer \
                 -fno-sanitize-recover=undefined
NGX_UT_OBJ := $(BUILD)/obj-test/ngx

$(NGX_UT_OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(NGX_UT_CFLAGS) -MMD -MP -c $< -o $@

UNIT_TESTS += $(BUILD)/tests/test_ngx_gw $(BUILD)/tests/test_ngx_http \
              $(BUILD)/tests/test_ngx_gw_gate

$(BUILD)/tests/test_ngx_gw: $(NGX_UT_OBJ)/tests/unit/test_ngx_gw.o \
                            $(NGX_UT_OBJ)/ngx_cube_module/cube_gw.o $(NGX_UT_OBJ)/common/cube_time.o
	@mkdir -p $(dir $@)
	$(CC) $(NGX_UT_CFLAGS) -o $@ $^ -lcmocka -ljansson -lcrypto

$(BUILD)/tests/test_ngx_http: $(NGX_UT_OBJ)/tests/unit/test_ngx_http.o \
                              $(NGX_UT_OBJ)/ngx_cube_module/cube_gw.o $(NGX_UT_OBJ)/common/cube_time.o
	@mkdir -p $(dir $@)
	$(CC) $(NGX_UT_CFLAGS) -o $@ $^ -lcmocka -ljansson -lcrypto

$(BUILD)/tests/test_ngx_gw_gate: $(NGX_UT_OBJ)/tests/unit/test_ngx_gw_gate.o \
                                 $(NGX_UT_OBJ)/ngx_cube_module/cube_gw.o \
                                 $(NGX_UT_OBJ)/common/cube_time.o
	@mkdir -p $(dir $@)
	$(CC) $(NGX_UT_CFLAGS) -o $@ $^ -lcmocka -ljansson -lcrypto

-include $(shell find $(NGX_UT_OBJ) -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------- fuzzers (clang)
NGX_FUZZ_CFLAGS := -g -O1 -Icommon -Ingx_cube_module -fsanitize=fuzzer,address,undefined \
                   -fno-sanitize-recover=undefined
FUZZERS += $(BUILD)/fuzz/fuzz_ngx_create_body $(BUILD)/fuzz/fuzz_ngx_http_resp

$(BUILD)/fuzz/fuzz_ngx_%: tests/fuzz/fuzz_ngx_%.c ngx_cube_module/cube_gw.c \
                          ngx_cube_module/cube_gw.h common/cube_time.c
	@mkdir -p $(dir $@)
	clang $(NGX_FUZZ_CFLAGS) -o $@ $< ngx_cube_module/cube_gw.c common/cube_time.c -ljansson
