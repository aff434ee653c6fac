# daxcore — one Makefile: the library, its tool, and the test flavours.
#
#   make            build/libdaxcore.{a,so}, build/daxcore.pc, build/daxcore,
#                   build/daxcore-bench
#   make run        set up, build, run the main job (the demonstration)
#   make check      set up, build (gcc + clang, ASan+UBSan, TSan), run every
#                   test, check the exported symbols, install into
#                   build/install-test and build the README example against it
#   make bench      run the benchmark program (text); BENCH_ARGS=--json for JSON
#   make verify     the spin model check of the lifetime protocol alone
#                   (verify/*.pml, docs/verification.md; output in build/verify/)
#   make install    PREFIX=/usr/local, LIBDIR, INCLUDEDIR, BINDIR, DESTDIR
#   make uninstall  the same variables
#
# What is built for users (build/libdaxcore.a, the shared library, the tool,
# the benchmark) comes from build/obj/ and is compiled with $(CC) and without
# fault injection.  The tests link a library of their own flavour compiled
# with -DDC_FAULT_INJECT: build/fault/ (normal, $(CC)), build/clang/ ($(CLANG):
# warnings only), build/asan/ ($(CLANG), -fsanitize=address,undefined) and
# build/tsan/ ($(TSAN_CC), -fsanitize=thread).  The normal flavour's test
# binaries are in build/tests/, the others' in build/<flavour>/tests/.

# The one version string: DC_VERSION, the shared library's file name and
# soname (the major number), daxcore.pc.
VERSION      := 0.1.0
SOVERSION    := $(firstword $(subst ., ,$(VERSION)))
CC           ?= cc
CLANG        ?= clang
TSAN_CC      ?= gcc
DEPS_PKGS    := gcc make clang libclang-rt-14-dev liburcu-dev libdaxctl-dev liburing-dev libjudy-dev pkg-config spin

PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
BINDIR       ?= $(PREFIX)/bin
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

WARN         := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
                -Wno-unused-parameter
BASE_CFLAGS  := -std=gnu11 -g -fPIC -fvisibility=hidden -pthread $(WARN) $(EXTRA_CFLAGS) \
                -Iinclude -Isrc -DDC_VERSION=\"$(VERSION)\" -D_GNU_SOURCE
DEPFLAGS      = -MMD -MP -MF $@.d
FAULT        := -DDC_FAULT_INJECT
LIBS         := -lurcu-bp -ldaxctl -lpthread
BENCH_LIBS   := -luring -lJudy
TOOL_LIBS    := -luring

LIB_SRCS     := $(wildcard src/*/*.c)
BENCH_SRCS   := $(wildcard bench/*.c)
TOOL_SRCS    := $(wildcard tools/*.c)
TEST_SRCS    := $(wildcard tests/test_*.c)
TEST_NAMES   := $(patsubst tests/%.c,%,$(TEST_SRCS))
SO_REAL      := build/libdaxcore.so.$(VERSION)
SO_NAME      := libdaxcore.so.$(SOVERSION)

.PHONY: all run check bench verify setup clean test-bins install uninstall install-test FORCE
all: build/libdaxcore.a build/libdaxcore.so build/daxcore.pc build/daxcore build/daxcore-bench

# ---- set-up: Debian packages ---------------------------------------------
setup:
	@sh tools/setup.sh $(DEPS_PKGS)

comma := ,

# ---- a static library --------------------------------------------------------
# $(1) = directory, $(2) = compiler, $(3) = extra cflags
define LIBRARY
$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	@echo "  CC      $$@"
	@$(2) $(BASE_CFLAGS) $(3) $$(OBJ_CFLAGS) $$(DEPFLAGS) -c $$< -o $$@
$(1)/libdaxcore.a: $(patsubst %.c,$(1)/obj/%.o,$(LIB_SRCS))
	@rm -f $$@
	@echo "  AR      $$@"
	@ar rcs $$@ $$^
endef

# ---- test binaries of a flavour ------------------------------------------------
# $(1) = directory (binaries in $(1)/tests/), $(2) = the static library they
# link, $(3) = compiler, $(4) = extra cflags, $(5) = extra ldflags
define TESTS
$(1)/tests/%: tests/%.c $(2)
	@mkdir -p $$(dir $$@)
	@echo "  LINK    $$@"
	@$(3) $(BASE_CFLAGS) $(4) $$(DEPFLAGS) $$< -o $$@ $(2) $(LIBS) $(5)
endef

ASAN_CFLAGS  := -O1 -fno-omit-frame-pointer -fsanitize=address$(comma)undefined \
                -fno-sanitize-recover=all -DDC_SANITIZED=1
TSAN_CFLAGS  := -O1 -fsanitize=thread -DDC_SANITIZED=1

$(eval $(call LIBRARY,build,$(CC),-O2))
$(eval $(call LIBRARY,build/fault,$(CC),-O2 $(FAULT)))
$(eval $(call TESTS,build,build/fault/libdaxcore.a,$(CC),-O2 $(FAULT),))
$(eval $(call LIBRARY,build/clang,$(CLANG),-O2 $(FAULT)))
$(eval $(call TESTS,build/clang,build/clang/libdaxcore.a,$(CLANG),-O2 $(FAULT),))
$(eval $(call LIBRARY,build/asan,$(CLANG),$(ASAN_CFLAGS) $(FAULT)))
$(eval $(call TESTS,build/asan,build/asan/libdaxcore.a,$(CLANG),$(ASAN_CFLAGS) $(FAULT),-fsanitize=address$(comma)undefined))
$(eval $(call LIBRARY,build/tsan,$(TSAN_CC),$(TSAN_CFLAGS) $(FAULT)))
$(eval $(call TESTS,build/tsan,build/tsan/libdaxcore.a,$(TSAN_CC),$(TSAN_CFLAGS) $(FAULT),-fsanitize=thread))

# ---- the shared library, the tool, the benchmark (no fault injection) ---------
$(SO_REAL): $(patsubst %.c,build/obj/%.o,$(LIB_SRCS)) src/libdaxcore.map
	@echo "  LINK    $@"
	@$(CC) -shared -Wl,-soname,$(SO_NAME) -Wl,--version-script=src/libdaxcore.map \
	    -o $@ $(patsubst %.c,build/obj/%.o,$(LIB_SRCS)) $(LIBS)
build/$(SO_NAME): $(SO_REAL)
	@ln -sf $(notdir $<) $@
build/libdaxcore.so: build/$(SO_NAME)
	@ln -sf $(notdir $<) $@

# Judy.h's JLFA() compares a Word_t with JERR (-1); clang's -Wsign-compare
# reports that inside our code.
build/obj/bench/bench_index.o: OBJ_CFLAGS := -Wno-sign-compare

build/daxcore: $(patsubst %.c,build/obj/%.o,$(TOOL_SRCS)) build/libdaxcore.a
	@echo "  LINK    $@"
	@$(CC) $(BASE_CFLAGS) -O2 $(filter %.o,$^) -o $@ build/libdaxcore.a $(LIBS) $(TOOL_LIBS)

build/daxcore-bench: $(patsubst %.c,build/obj/%.o,$(BENCH_SRCS)) build/libdaxcore.a
	@echo "  LINK    $@"
	@$(CC) $(BASE_CFLAGS) -O2 $(filter %.o,$^) -o $@ build/libdaxcore.a $(LIBS) $(BENCH_LIBS)

# ---- daxcore torture: the tool in the test flavours ------------------------------
# build/fault/daxcore, build/asan/daxcore, build/tsan/daxcore: the tool linked
# against the fault-injection libraries (torture --fail-alloc needs one), for
# tests/cli_torture.sh.  build/bugN/daxcore (N = TORTURE_BUGS): the tool against
# a library with -DDC_REGRESS_BUG=N, only the sources with a switch compiled
# again (the rest are build/fault's), to show that the torture's oracle fails.
# $(1) = directory, $(2) = compiler, $(3) = extra cflags, $(4) = extra ldflags
define TORTURE_TOOL
$(1)/daxcore: $(patsubst %.c,$(1)/obj/%.o,$(TOOL_SRCS)) $(1)/libdaxcore.a
	@echo "  LINK    $$@"
	@$(2) $(BASE_CFLAGS) $(3) $$(filter %.o,$$^) -o $$@ $(1)/libdaxcore.a $(LIBS) $(TOOL_LIBS) $(4)
endef
$(eval $(call TORTURE_TOOL,build/fault,$(CC),-O2 $(FAULT),))
$(eval $(call TORTURE_TOOL,build/asan,$(CLANG),$(ASAN_CFLAGS) $(FAULT),-fsanitize=address$(comma)undefined))
$(eval $(call TORTURE_TOOL,build/tsan,$(TSAN_CC),$(TSAN_CFLAGS) $(FAULT),-fsanitize=thread))

TORTURE_BUGS    := 19 21 26 28 37 38 39
SWITCHED_SRCS   := $(shell grep -l DC_REGRESS_BUG $(LIB_SRCS))
define TORTURE_BUG
build/bug$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	@echo "  CC      $$@"
	@$(CC) $(BASE_CFLAGS) -O2 $(FAULT) -DDC_REGRESS_BUG=$(1) $$(DEPFLAGS) -c $$< -o $$@
build/bug$(1)/libdaxcore.a: $(patsubst %.c,build/fault/obj/%.o,$(filter-out $(SWITCHED_SRCS),$(LIB_SRCS))) \
                            $(patsubst %.c,build/bug$(1)/obj/%.o,$(SWITCHED_SRCS))
	@rm -f $$@
	@echo "  AR      $$@"
	@ar rcs $$@ $$^
build/bug$(1)/daxcore: $(patsubst %.c,build/fault/obj/%.o,$(TOOL_SRCS)) build/bug$(1)/libdaxcore.a
	@echo "  LINK    $$@"
	@$(CC) $(BASE_CFLAGS) -O2 $$(filter %.o,$$^) -o $$@ build/bug$(1)/libdaxcore.a $(LIBS) $(TOOL_LIBS)
endef
$(foreach b,$(TORTURE_BUGS),$(eval $(call TORTURE_BUG,$(b))))
TORTURE_BINS    := build/fault/daxcore build/asan/daxcore build/tsan/daxcore \
                   $(foreach b,$(TORTURE_BUGS),build/bug$(b)/daxcore)

# ---- pkg-config file: rewritten when VERSION or a directory changes ----------
build/daxcore.pc: src/daxcore.pc.in FORCE
	@mkdir -p build
	@sed -e 's|@VERSION@|$(VERSION)|' -e 's|@PREFIX@|$(PREFIX)|' \
	     -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' $< >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; echo "  GEN     $@"; fi

# ---- install ------------------------------------------------------------------
install: build/libdaxcore.a $(SO_REAL) build/daxcore.pc build/daxcore
	install -d $(DESTDIR)$(INCLUDEDIR)/daxcore $(DESTDIR)$(LIBDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR)
	install -m 644 include/daxcore/*.h $(DESTDIR)$(INCLUDEDIR)/daxcore/
	install -m 644 build/libdaxcore.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SO_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(SO_REAL)) $(DESTDIR)$(LIBDIR)/$(SO_NAME)
	ln -sf $(SO_NAME) $(DESTDIR)$(LIBDIR)/libdaxcore.so
	install -m 644 build/daxcore.pc $(DESTDIR)$(PKGCONFIGDIR)/
	install -m 755 build/daxcore $(DESTDIR)$(BINDIR)/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/daxcore/,$(notdir $(wildcard include/daxcore/*.h)))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/daxcore
	rm -f $(DESTDIR)$(LIBDIR)/libdaxcore.a $(DESTDIR)$(LIBDIR)/$(notdir $(SO_REAL)) \
	    $(DESTDIR)$(LIBDIR)/$(SO_NAME) $(DESTDIR)$(LIBDIR)/libdaxcore.so \
	    $(DESTDIR)$(PKGCONFIGDIR)/daxcore.pc $(DESTDIR)$(BINDIR)/daxcore

# make check installs here and builds the README example against it.
INSTALL_TEST := $(CURDIR)/build/install-test
install-test:
	@rm -rf $(INSTALL_TEST)
	@echo "  INSTALL $(INSTALL_TEST)"
	@$(MAKE) --no-print-directory -s install DESTDIR=$(INSTALL_TEST) >build/install-test.log 2>&1 || \
	    { cat build/install-test.log; exit 1; }

# ---- test binaries per flavour ----------------------------------------------
# Every test runs in the normal and ASan+UBSan builds; tests whose name starts
# with test_conc_ (the concurrency tests) also run under ThreadSanitizer.
CONC_NAMES   := $(filter test_conc_%,$(TEST_NAMES))
test-bins: $(addprefix build/tests/,$(TEST_NAMES)) \
           $(addprefix build/asan/tests/,$(TEST_NAMES)) \
           $(addprefix build/tsan/tests/,$(CONC_NAMES)) \
           $(addprefix build/clang/tests/,$(TEST_NAMES)) \
           $(TORTURE_BINS)

run: setup
	@$(MAKE) --no-print-directory all
	./build/daxcore demo

check: setup
	@$(MAKE) --no-print-directory all test-bins
	@$(MAKE) --no-print-directory install-test
	@CC="$(CC)" DC_TEST_VERSION="$(VERSION)" DC_TEST_DESTDIR="$(INSTALL_TEST)" \
	    DC_TEST_LIBDIR="$(LIBDIR)" DC_TEST_PKGCONFIGDIR="$(PKGCONFIGDIR)" \
	    sh tests/run-tests.sh "$(TEST_NAMES)" "$(CONC_NAMES)"

bench: all
	./build/daxcore-bench $(BENCH_ARGS)

# The model check (make check runs it too, through tests/run-tests.sh).
verify: setup
	@CC="$(CC)" sh tests/verify_model.sh build/verify

clean:
	rm -rf build

# Header dependencies, written by the compiler (-MMD -MP).
-include $(shell find build -name '*.d' 2>/dev/null)
