#!/bin/sh
# Run every test program: all of them in the normal gcc and clang builds and
# under ASan+UBSan, the concurrency tests (test_conc_*) under TSan too; the
# CLI; the library checks (exported symbols, the README example built with
# pkg-config against the copy make check installed, shared and static).
# Exit protocol per program: 0 pass, 77 skip, anything else fail.  Each run
# has a time limit.  Ends with "N passed, N failed, N skipped".
tests="$1"; conc="$2"
pass=0; fail=0; skip=0; failed=""
limit=${DAXCORE_TEST_TIMEOUT:-300}
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
# report_signal_unsafe=0: the views' SIGSEGV handler serves synchronous
# faults of loads and stores to views, so it may allocate and lock (the
# interrupted code is never inside malloc); TSan cannot tell that apart.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:report_signal_unsafe=0:suppressions=$(pwd)/tests/tsan.supp:${TSAN_OPTIONS:-}"
log=build/test-logs; mkdir -p $log

run() { # flavour name
    bin="build/$1/tests/$2"; [ "$1" = normal ] && bin="build/tests/$2"
    out="$log/$1.$2.log"
    timeout -k 5 "$limit" "$bin" >"$out" 2>&1; rc=$?
    case $rc in
    0)  pass=$((pass+1)); echo "PASS  $1  $2";;
    77) skip=$((skip+1)); echo "SKIP  $1  $2: $(grep -m1 SKIP "$out" | cut -c7-)";;
    *)  fail=$((fail+1)); failed="$failed $1/$2"
        echo "FAIL  $1  $2 (exit $rc)"; tail -n 30 "$out" | sed 's/^/      | /';;
    esac
}

# A command that must exit with a given status, as one line of a group
# (77 and a line "SKIP: why" in its output: skipped).
cmd() { # group name expected-exit command...
    group=$1; name=$2; want=$3; shift 3
    out="$log/$group.$name.log"
    timeout -k 5 "$limit" "$@" >"$out" 2>&1; rc=$?
    if [ "$rc" = "$want" ]; then pass=$((pass+1)); printf 'PASS  %-6s  %s\n' "$group" "$name"
    elif [ "$rc" = 77 ] && grep -q '^SKIP:' "$out"; then skip=$((skip+1))
        printf 'SKIP  %-6s  %s: %s\n' "$group" "$name" "$(grep -m1 '^SKIP' "$out" | cut -c7-)"
    else fail=$((fail+1)); failed="$failed $group/$name"
        printf 'FAIL  %-6s  %s (exit %s, expected %s)\n' "$group" "$name" "$rc" "$want"
        tail -n 30 "$out" | sed 's/^/      | /'; fi
}
cli() { cmd cli "$@"; }

# The library: the exported symbols match the map and the headers; the README
# example builds and runs against the installed library (make check installs
# it into $DC_TEST_DESTDIR first).
cmd lib exports 0 sh tools/check-exports.sh build/libdaxcore.so
cmd lib example_shared 0 sh tools/check-example.sh shared
cmd lib example_static 0 sh tools/check-example.sh static

# The CLI: the demo (the main job: the story on dcfs, in text and JSON, on a
# file: region, its bad input; tests/cli_demo.sh checks its lines) and the
# library-level demo (demo --layers) on several regions.
cli demo_text 0 sh tests/cli_demo.sh text build/daxcore
cli demo_json 0 sh tests/cli_demo.sh json build/daxcore
cli demo_file 0 sh tests/cli_demo.sh file build/daxcore
cli demo_errors 0 sh tests/cli_demo.sh errors build/daxcore
cli demo_layers 0 sh tests/cli_demo.sh layers build/daxcore
cli demo_devdax 0 sh tests/cli_demo.sh devdax build/daxcore
wbfile=$(mktemp /tmp/daxcore-demo-XXXXXX); truncate -s 64M "$wbfile"
cli layers_mem 0 build/daxcore demo --layers
cli layers_order9 0 build/daxcore demo --layers mem:64M,order=9
cli layers_order18 0 build/daxcore demo --layers mem:2G,order=18
cli layers_file 0 build/daxcore demo --layers "file:$wbfile"
cli layers_limited 0 build/daxcore demo --layers mem:64M,type=limited
cli layers_bad_spec 1 build/daxcore demo --layers bogus:1
cli unknown_command 2 build/daxcore frobnicate
cli help 0 build/daxcore help
cli version 0 build/daxcore --version
rm -f "$wbfile"
# info (text, JSON, errors), help, demo --layers; device-dax devices through
# libdaxctl on fake ones (a private mount namespace: root only, else skipped); the DMA engines through
# the test aid dma-selftest (the uring one falls back where the machine has
# no io_uring or O_DIRECT: its log says why).  Exact lines: tests/cli_tools.sh.
cli tools_info 0 sh tests/cli_tools.sh info build/daxcore
cli tools_daxdev 0 sh tests/cli_tools.sh daxdev build/daxcore
cli tools_dma 0 sh tests/cli_tools.sh dma build/daxcore
cli tools_uring 0 sh tests/cli_tools.sh uring build/daxcore
# daxcore io: every command and its errors, exact output lines (tests/cli_io.sh)
for g in files data sizes layout views pins dma jobs device teardown devdax usage; do
    cli "io_$g" 0 sh tests/cli_io.sh build/daxcore "$g"
done

# daxcore torture: bounded runs ($DAXCORE_TORTURE_SECONDS, default 30 s each,
# 15 s for the 2 MiB ones)
# in the fault-injection, ASan and TSan builds, quarantine on and off, 4 KiB
# and 2 MiB folios (hugetlb pages where free), --json, the oracle failing
# against libraries with bugs 19, 26 and 37, the watchdog, the oracle's model
# of a DMA's last pass (race), a seed's replay (tests/cli_torture.sh).
for c in normal_4k normal_4k_quarantine normal_2m normal_2m_quarantine huge asan_4k \
         asan_4k_quarantine tsan_4k tsan_4k_quarantine json bug19 bug21 bug26 bug28 bug37 bug38 bug39 watchdog usage fail_alloc_plain \
         race replay; do
    cli "torture_$c" 0 sh tests/cli_torture.sh "$c"
done

# Each regression case must fail with its bug brought back (tests/regress.sh).
rm -rf build/regress
sh tests/regress.sh build/regress >"$log/regress.log" 2>&1
while IFS= read -r line; do
    case $line in
    PASS*) pass=$((pass+1)); echo "$line";;
    FAIL*) fail=$((fail+1)); failed="$failed regress"; echo "$line";;
    *) echo "$line";;
    esac
done <"$log/regress.log"

# The spin model check of the lifetime protocol (tests/verify_model.sh,
# docs/verification.md): every clean model passes, every bug switch fails.
# About 75 s of CPU; the limit only catches a hang (a loaded machine may
# take several times the CPU time in wall-clock).
timeout -k 5 "${DAXCORE_VERIFY_TIMEOUT:-900}" sh tests/verify_model.sh build/verify \
    >"$log/verify.log" 2>&1; vrc=$?
while IFS= read -r line; do
    case $line in
    PASS*) pass=$((pass+1)); echo "$line";;
    FAIL*) fail=$((fail+1)); failed="$failed verify"; echo "$line";;
    SKIP:*) skip=$((skip+1)); echo "SKIP  verify  model check:${line#SKIP:}";;
    *) echo "$line";;
    esac
done <"$log/verify.log"
if [ "$vrc" != 0 ] && [ "$vrc" != 77 ] && ! grep -q '^FAIL' "$log/verify.log"; then
    fail=$((fail+1)); failed="$failed verify"; echo "FAIL  verify  (exit $vrc, see $log/verify.log)"
fi

for t in $tests; do run normal "$t"; done
for t in $tests; do run clang "$t"; done
for t in $tests; do run asan "$t"; done
for t in $conc; do run tsan "$t"; done

[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
