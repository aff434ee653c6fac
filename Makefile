# daxcore — one Makefile, three build flavours.
#
#   make            build/libdaxcore.{a,so}, build/daxcore, build/daxcore-bench
#   make run        set up, build, run the main job (the demonstration)
#   make check      set up, build (gcc + clang, ASan+UBSan, TSan), run every test
#   make bench      run the benchmark program (text); BENCH_ARGS=--json for JSON
#
# Flavours live in build/ (normal, gcc), build/clang/ (normal, clang: warnings
# only), build/asan/ (clang, -fsanitize=address,undefined) and build/tsan/
# (gcc, -fsanitize=thread).  Each flavour has its own static library and its
# own test binaries.

VERSION      := 0.1.0
SOVERSION    := 0
CC           ?= cc
DEPS_PKGS    := gcc make clang libclang-rt-14-dev liburcu-dev liburing-dev libjudy-dev pkg-config

WARN         := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
                -Wno-unused-parameter
BASE_CFLAGS  := -std=gnu11 -g -fPIC -fvisibility=hidden -pthread $(WARN) $(EXTRA_CFLAGS) \
                -Iinclude -Isrc -DDC_VERSION=\"$(VERSION)\" -D_GNU_SOURCE
LIBS         := -lurcu-bp -lurcu-cds -lpthread
BENCH_LIBS   := -luring -lJudy

LIB_SRCS     := $(wildcard src/*/*.c)
TEST_SRCS    := $(wildcard tests/test_*.c)
TEST_NAMES   := $(patsubst tests/%.c,%,$(TEST_SRCS))
HDRS         := $(wildcard include/daxcore/*.h src/*.h src/*/*.h tests/*.h)

.PHONY: all run check bench setup clean flavours test-bins
all: build/libdaxcore.a build/libdaxcore.so build/daxcore build/daxcore-bench

# ---- set-up: Debian packages ---------------------------------------------
setup:
	@sh tools/setup.sh $(DEPS_PKGS)

comma := ,

# ---- flavour template ------------------------------------------------------
# $(1) = directory, $(2) = compiler, $(3) = extra cflags, $(4) = extra ldflags
define FLAVOUR
$(1)/obj/%.o: %.c $(HDRS) | $(1)/obj
	@mkdir -p $$(dir $$@)
	@echo "  CC      $$@"
	@$(2) $(BASE_CFLAGS) $(3) -c $$< -o $$@
$(1)/libdaxcore.a: $(patsubst %.c,$(1)/obj/%.o,$(LIB_SRCS))
	@rm -f $$@
	@echo "  AR      $$@"
	@ar rcs $$@ $$^
$(1)/tests/%: tests/%.c $(1)/libdaxcore.a $(HDRS)
	@mkdir -p $$(dir $$@)
	@echo "  LINK    $$@"
	@$(2) $(BASE_CFLAGS) $(3) $$< -o $$@ $(1)/libdaxcore.a $(LIBS) $(4)
$(1)/obj:
	@mkdir -p $$@
endef

$(eval $(call FLAVOUR,build,gcc,-O2,))
$(eval $(call FLAVOUR,build/clang,clang,-O2,))
$(eval $(call FLAVOUR,build/asan,clang,-O1 -fno-omit-frame-pointer -fsanitize=address$(comma)undefined -fno-sanitize-recover=all -DDC_SANITIZED=1,-fsanitize=address$(comma)undefined))
$(eval $(call FLAVOUR,build/tsan,gcc,-O1 -fsanitize=thread -DDC_SANITIZED=1,-fsanitize=thread))

build/libdaxcore.so: $(patsubst %.c,build/obj/%.o,$(LIB_SRCS)) src/libdaxcore.map
	gcc -shared -Wl,-soname,libdaxcore.so.$(SOVERSION) -Wl,--version-script=src/libdaxcore.map \
	    -o $@ $(patsubst %.c,build/obj/%.o,$(LIB_SRCS)) $(LIBS)

build/daxcore: tools/daxcore.c build/libdaxcore.a $(HDRS)
	gcc $(BASE_CFLAGS) -O2 $< -o $@ build/libdaxcore.a $(LIBS)

build/daxcore-bench: $(wildcard bench/*.c) build/libdaxcore.a $(HDRS)
	gcc $(BASE_CFLAGS) -O2 $(wildcard bench/*.c) -o $@ build/libdaxcore.a $(LIBS) $(BENCH_LIBS)

# ---- test binaries per flavour ----------------------------------------------
# Every test runs in the normal and ASan+UBSan builds; tests whose name starts
# with test_conc_ (the concurrency tests) also run under ThreadSanitizer.
CONC_NAMES   := $(filter test_conc_%,$(TEST_NAMES))
test-bins: $(addprefix build/tests/,$(TEST_NAMES)) \
           $(addprefix build/asan/tests/,$(TEST_NAMES)) \
           $(addprefix build/tsan/tests/,$(CONC_NAMES)) \
           build/clang/libdaxcore.a $(addprefix build/clang/tests/,$(TEST_NAMES))

run: setup
	@$(MAKE) --no-print-directory all
	./build/daxcore demo

check: setup
	@$(MAKE) --no-print-directory all test-bins
	@sh tests/run-tests.sh "$(TEST_NAMES)" "$(CONC_NAMES)"

bench: all
	./build/daxcore-bench $(BENCH_ARGS)

clean:
	rm -rf build
