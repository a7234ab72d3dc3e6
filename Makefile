# tvmrpc: a C implementation of Apache TVM's RPC tracker, proxy, device server and query tool.
#
#   make            build ./tvmrpc-console
#   make run        install missing Debian packages, build, start the console
#   make check      install missing packages, build, run every test (unit, e2e, ASan, fuzz smoke)
#   make install    PREFIX=/usr/local DESTDIR=
#
# Sources are found by wildcard: a new file under src/<layer>/ or tests/<kind>/ needs no edit here.

PREFIX    ?= /usr/local
DESTDIR   ?=
BINDIR    ?= $(PREFIX)/bin
MANDIR    ?= $(PREFIX)/share/man
DOCDIR    ?= $(PREFIX)/share/doc/tvmrpc
CC        ?= cc
CFLAGS    ?= -O2 -g
LDFLAGS   ?=
PKG_CONFIG ?= pkg-config
PYTHON    ?= /usr/bin/python3
BUILD     ?= build
SAN       ?=

PKGS := libuv libcjson inih ncursesw

ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
# Library objects for libFuzzer harnesses (tests/fuzz/run.sh builds with CC=clang SAN=fuzz).
ifeq ($(SAN),fuzz)
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
endif

# Boards: `make CROSS_COMPILE=aarch64-linux-gnu-` cross-builds with Debian's cross compiler and
# the :arm64 -dev packages; cross builds link libuv, cJSON, inih and ncurses statically, as
# `make static` does natively. The C library stays dynamic: the server dlopen()s modules.
ifneq ($(CROSS_COMPILE),)
CC := $(CROSS_COMPILE)gcc
AR := $(CROSS_COMPILE)ar
TRIPLET := $(patsubst %-,%,$(CROSS_COMPILE))
BUILD := build-$(TRIPLET)
STATIC := 1
PKG_CONFIG := PKG_CONFIG_LIBDIR=/usr/lib/$(TRIPLET)/pkgconfig:/usr/share/pkgconfig pkg-config
# Unit tests of a cross build run under qemu-user with the cross C library (`make CROSS_COMPILE=...
# unit-test`); the first word of the triplet names qemu's CPU (arm, aarch64, riscv64).
QEMU_CPU := $(firstword $(subst -, ,$(TRIPLET)))
# Where the multiarch C library of the target is installed (the :armhf -dev packages pull it
# in), qemu must use it and not the cross one: mixing the two loaders crashes threads and fork.
EMU := qemu-$(QEMU_CPU) $(if $(wildcard /lib/$(TRIPLET)/libc.so.6),,-L /usr/$(TRIPLET))
endif
# A board CPU without Debian 12 multiarch -dev packages (riscv64) gets libuv, inih and ncursesw
# compiled from Debian's source packages into $(CROSS_LIBS) (scripts/cross-libs.sh).
ifneq ($(CROSS_COMPILE),)
ifeq ($(wildcard /usr/lib/$(TRIPLET)/libuv_a.a),)
CROSS_LIBS := $(BUILD)/cross-libs
endif
endif
STATIC ?=
ifeq ($(STATIC),1)
CJSON_DIR = $(BUILD)/cjson-static
STATIC_CFLAGS = -I$(CJSON_DIR)
STATIC_LIBS = $(if $(CROSS_LIBS),-L$(CROSS_LIBS)/lib) -Wl,-Bstatic $(CJSON_DIR)/libcjson.a -l:libuv_a.a -l:libinih.a -l:libncursesw.a \
              -l:libtinfo.a -Wl,-Bdynamic -lrt
endif

# The Prometheus endpoint ([metrics], docs/lab-operations.md) uses libmicrohttpd and the proxy's
# WebSocket port ([proxy] web_port, docs/control-plane.md §4.6) libwebsockets. Both are
# dlopen()ed when first used (src/base/dynlib.h), so only their headers are needed here and a
# process that uses neither never maps them. Static and board builds leave both out (boards
# need neither), and setting them there says so at start.
ifeq ($(STATIC),1)
METRICS_CFLAGS := -DTVMRPC_NO_METRICS -DTVMRPC_NO_WEB
else
DLOPEN_PKGS := libmicrohttpd libwebsockets
endif

ifeq ($(BUILD),build)
BIN := tvmrpc-console
else
BIN := $(BUILD)/tvmrpc-console
endif

VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

# Static builds compile cJSON from Debian's source (scripts/static-cjson.sh): its header comes
# from there, not from pkg-config.
ifneq ($(CROSS_LIBS),)
PKG_CFLAGS = $(STATIC_CFLAGS) -I$(CROSS_LIBS)/include -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=600
else
PKG_CFLAGS = $(STATIC_CFLAGS) $(shell $(PKG_CONFIG) --cflags $(if $(STATIC),$(filter-out libcjson,$(PKGS)),$(PKGS) $(DLOPEN_PKGS)))
endif
ifeq ($(STATIC),1)
PKG_LIBS   = $(STATIC_LIBS)
else
PKG_LIBS   = $(shell $(PKG_CONFIG) --libs $(PKGS))
endif
ALL_CFLAGS = -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 \
             -DTVMRPC_VERSION='"$(VERSION)"' $(METRICS_CFLAGS) \
             -Isrc $(PKG_CFLAGS) $(CFLAGS) $(SANFLAGS) -MMD -MP
# -rdynamic: compiled TVM modules resolve TVMFFIErrorSetRaisedFromCStrParts (and friends)
# against the executable itself.
ALL_LDFLAGS = -rdynamic $(LDFLAGS) $(SANFLAGS)
LIBS = $(PKG_LIBS) -ldl -lpthread -lm

BASE_SRC     := $(wildcard src/base/*.c)
RUNTIME_SRC  := $(wildcard src/runtime/*.c)
SERVICES_SRC := $(wildcard src/services/*.c)
CONSOLE_SRC  := $(filter-out src/console/main.c,$(wildcard src/console/*.c))
LIB_SRC      := $(BASE_SRC) $(RUNTIME_SRC) $(SERVICES_SRC) $(CONSOLE_SRC)
LIB_OBJ      := $(LIB_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ     := $(BUILD)/src/console/main.o
LIB_A        := $(BUILD)/libtvmrpc.a

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
MODEL_SRC := $(wildcard tests/models/*.c)
MODEL_SO  := $(MODEL_SRC:tests/models/%.c=$(BUILD)/models/%.so)
BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: docs deb all cross-deps deps run check unit-test e2e-test models install uninstall clean fuzz fuzz-build fuzz-smoke bench bench-drivers static

all: $(BIN)

deps:
	@sh scripts/deps.sh check

# docs/globals.md, the conformance table, is generated from the code (a test keeps it so).
docs: $(BIN)
	@mkdir -p docs
	./$(BIN) --list-globals --markdown > docs/globals.md

$(BUILD)/%.o: %.c $(if $(STATIC),$(BUILD)/cjson-static/libcjson.a) $(if $(CROSS_LIBS),$(CROSS_LIBS)/.done)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(CROSS_LIBS)/.done:
	sh scripts/cross-libs.sh $(TRIPLET) $(CROSS_LIBS)

$(BUILD)/cjson-static/libcjson.a:
	sh scripts/static-cjson.sh $(CC) $(AR) $(BUILD)/cjson-static

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# The whole archive is linked so that self-registering globals (FFI_REGISTER_GLOBAL) are kept.
$(BIN): $(MAIN_OBJ) $(LIB_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $(MAIN_OBJ) -Wl,--whole-archive $(LIB_A) -Wl,--no-whole-archive $(LIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< -Wl,--whole-archive $(LIB_A) -Wl,--no-whole-archive \
	    $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka)

# Test kernels written to the ABI that TVM's C backend emits (tests/models/README.md).
$(BUILD)/models/%.so: tests/models/%.c $(wildcard tests/models/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -fPIC -shared -Isrc $(CFLAGS) -o $@ $< -lm

models: $(MODEL_SO)

# Unit tests load the test kernels from $(BUILD)/models (TVMRPC_BUILD tells them where).
unit-test: $(UNIT_BIN) $(MODEL_SO)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; TVMRPC_BUILD=$(abspath $(BUILD)) \
	    $(if $(EMU),TVMRPC_EMULATOR=qemu-$(QEMU_CPU) TVMRPC_TEST_CC=$(CC)) $(EMU) $$t; done

# test_cross.py and test_packages.py need a cross build or make deb first: make check runs
# them in its cross-* and deb stages (tests/run-check.sh).
# The TVM web runtime (its browser RPCServer) for tests/e2e/test_proxy_browser.py, from npm.
WEB_RUNTIME := build-web-runtime/node_modules/@mlc-ai/web-runtime/lib/index.js
$(WEB_RUNTIME):
	npm install --prefix build-web-runtime --no-audit --no-fund --loglevel=error \
	    @mlc-ai/web-runtime@0.27.0-dev0

e2e-test: $(BIN) $(MODEL_SO) $(BENCH_BIN) $(WEB_RUNTIME)
	TVMRPC_BIN=$(abspath $(BIN)) TVMRPC_BUILD=$(abspath $(BUILD)) \
	    $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e \
	    --ignore=tests/e2e/test_cross.py --ignore=tests/e2e/test_packages.py

check: deps
	@bash tests/run-check.sh

# One binary for a board, its libraries linked in (see CROSS_COMPILE above for other CPUs).
static:
	@sh scripts/deps.sh build
	@$(MAKE) --no-print-directory STATIC=1 BUILD=build-static all
	@ls -l build-static/tvmrpc-console

cross-deps:
	@sh scripts/deps.sh cross

# `make deb`: the tvmrpc (lab host) and tvmrpc-board packages for amd64 (the host package with
# this build, the board package with make static's), then for each board CPU whose cross
# compiler is installed (make cross-deps), in build-deb/; lintian must report no error
# (scripts/mkdeb.sh, docs/packages.md).
DEB_CROSS := aarch64-linux-gnu:arm64 arm-linux-gnueabihf:armhf riscv64-linux-gnu:riscv64
deb:
	@sh scripts/deps.sh deb
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory static
	@sh scripts/mkdeb.sh amd64 strip tvmrpc-console build-static/tvmrpc-console build-deb
	@for ta in $(DEB_CROSS); do t=$${ta%%:*}; a=$${ta##*:}; \
	  if command -v $$t-gcc >/dev/null; then \
	    $(MAKE) --no-print-directory CROSS_COMPILE=$$t- all && \
	    sh scripts/mkdeb.sh $$a $$t-strip build-$$t/tvmrpc-console build-$$t/tvmrpc-console \
	      build-deb || exit 1; \
	  else echo "deb: no $$t-gcc (make cross-deps installs it): no $$a packages"; fi; done
	@rc=0; lintian --fail-on error --tag-display-limit 0 build-deb/*.deb \
	  >build-deb/lintian.txt 2>&1 || rc=$$?; grep -v 'root privileges' build-deb/lintian.txt; \
	  echo "deb: lintian exit status $$rc"; exit $$rc

# The quick start needs only what builds (no test tools such as Chromium).
run:
	@sh scripts/deps.sh build
	@$(MAKE) --no-print-directory all
	./$(BIN)

# `make bench`: an optimised build of its own (build-bench, -O2 -DNDEBUG, no sanitizers), the C
# drivers in bench/, one table printed and written to bench/results.md and README.md
# (bench/run.py). BENCH_QUICK=1: tiny sizes, a few seconds, written under the build dir instead.
# TVM_PEER=DIR (a TVM peer build: DIR/build/tvm_rpc, DIR/pyshim, DIR/py/site) adds a TVM column,
# both sides measured in the same run, lap by lap in alternating order.
$(BUILD)/bench/%: bench/%.c bench/bench_common.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< -Wl,--whole-archive $(LIB_A) -Wl,--no-whole-archive $(LIBS)

bench-drivers: $(BENCH_BIN)

bench:
	@$(MAKE) --no-print-directory BUILD=build-bench CFLAGS="-O2 -DNDEBUG" SAN= all models bench-drivers
	@$(if $(BENCH_QUICK),true,-timeout 120 $(MAKE) --no-print-directory STATIC=1 \
	    BUILD=build-bench-static CFLAGS="-O2 -DNDEBUG" SAN= all >/dev/null 2>&1 || \
	    echo "bench: no static build (make static's packages or network missing); size skipped")
	@timeout $(if $(TVM_PEER),420,200) $(PYTHON) bench/run.py --build build-bench \
	    $(if $(TVM_PEER),--tvm-peer $(TVM_PEER)) $(if $(BENCH_QUICK),--quick \
	    --out build-bench/results-quick.md,--readme README.md)

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< \
	    -Wl,--whole-archive $(LIB_A) -Wl,--no-whole-archive $(LIBS)

fuzz-build: $(FUZZ_BIN)

# FUZZ_SECONDS per harness; `make fuzz` runs longer than the smoke run inside `make check`.
fuzz:
	@bash tests/fuzz/run.sh $${FUZZ_SECONDS:-60}

fuzz-smoke:
	@bash tests/fuzz/run.sh $${FUZZ_SECONDS:-4}

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR)/conf
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/tvmrpc-console
	-install -m 644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	-install -m 644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	-install -m 644 conf/* $(DESTDIR)$(DOCDIR)/conf/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tvmrpc-console $(DESTDIR)$(MANDIR)/man1/tvmrpc-console.1 \
	    $(DESTDIR)$(MANDIR)/man5/tvmrpc.ini.5
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build build-* tvmrpc-console

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d)
