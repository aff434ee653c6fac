#!/bin/sh
# cli_torture.sh CASE - a bounded `daxcore torture` run, as make check runs
# them (tests/run-tests.sh: one line per case).  Each run lasts
# $DAXCORE_TORTURE_SECONDS seconds (default 30; set it lower for a quick
# local run; the 2 MiB ones half that) and must end with "violations: 0",
# exit 0, and have passed its quiescent checks; its seed is in the log
# (replay with --seed).
#   normal_4k, normal_4k_quarantine   build/fault/daxcore (fault injection
#                                     on: --fail-alloc; --kill), 4 KiB folios
#   normal_2m, normal_2m_quarantine   2 MiB folios (mem:...,order=9: no
#                                     huge pages needed)
#   huge                              2 MiB pages of hugetlbfs (mem:...,huge):
#                                     skipped (77) where none are free
#   asan_4k, asan_4k_quarantine       build/asan/daxcore (ASan+UBSan)
#   tsan_4k, tsan_4k_quarantine       build/tsan/daxcore (TSan)
#   json                              --json: one object, the counts in it
#   bug19, bug26                      the oracle must fail: build/bugN/daxcore
#                                     (a library with DC_REGRESS_BUG=N: 19,
#                                     truncate frees blocks before their pins
#                                     drain; 26, quarantine frees pinned
#                                     blocks) for a few seconds with a fixed
#                                     seed must report violations, exit 1
#   bug37                             the same with bug 37 (a revoke leaves
#                                     the view's pages mapped: stores land in
#                                     blocks that left the file): the store
#                                     trace itself (store_astray) must count it
#   watchdog                          --ops stall (a worker truncates a file
#                                     under its own pin: no progress) with
#                                     --watchdog 3: exit 1 having printed
#                                     the worker, the pin (tag, age) and the
#                                     slow wait
#   race                              --ops race (a DMA's last pass lands on
#                                     pages after a store or a second DMA of
#                                     them began, and it is done before their
#                                     model is set): no violation, in the
#                                     fault-injection and TSan builds (the
#                                     oracle once asked whether the DMA was
#                                     done only after the write: a foreign
#                                     stamp at every such op)
#   replay                            --threads 1 --seed 3 --kill --fail-alloc
#                                     300 twice: the same 'replay:' hash (every
#                                     choice of the first 1000 operations)
#   usage                             help lists it, --help, bad arguments
#                                     (exit 2, nothing run)
#   fail_alloc_plain                  build/daxcore (no injector): --fail-alloc
#                                     is refused, saying why (exit 2)
case=$1
secs=${DAXCORE_TORTURE_SECONDS:-30}
secs2m=$(( (secs + 1) / 2 )) # the 2 MiB runs: half as long (the CI budget)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/daxcore-torture-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# run BINARY ARGS...: a run that must pass.
run() {
    bin=$1; shift
    [ -x "$bin" ] || { echo "FAIL: $bin is not built"; exit 1; }
    "$bin" torture --seconds "$secs" "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
    cat "$tmp/out"; sed 's/^/stderr: /' "$tmp/err"
    [ "$rc" = 0 ] || { echo "FAIL: exit $rc"; exit 1; }
    grep -q '^violations: 0$' "$tmp/out" || { echo "FAIL: no 'violations: 0' line"; exit 1; }
    grep -Eq '^checks passed: [1-9][0-9]* quiescent points' "$tmp/out" ||
        { echo "FAIL: no quiescent check passed"; exit 1; }
    grep -q '^removal: 0 in ' "$tmp/out" || { echo "FAIL: the removal did not complete"; exit 1; }
    echo "ok    $case"
}

# broken BUG ARGS...: a run against the library with bug BUG must fail.
broken() {
    bug=$1; shift
    bin=build/bug$bug/daxcore
    [ -x "$bin" ] || { echo "FAIL: $bin is not built"; exit 1; }
    "$bin" torture --seconds 5 --seed 1 "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
    cat "$tmp/out"; sed 's/^/stderr: /' "$tmp/err" | head -n 20
    [ "$rc" = 1 ] || { echo "FAIL: exit $rc with bug $bug, expected 1"; exit 1; }
    grep -q 'VIOLATION' "$tmp/err" || { echo "FAIL: no violation printed"; exit 1; }
    grep -Eq '^violations: [1-9]' "$tmp/out" || { echo "FAIL: no violations counted"; exit 1; }
    echo "ok    $case: the oracle fails with bug $bug"
}

case $case in
normal_4k)            run build/fault/daxcore --kill --fail-alloc 300;;
normal_4k_quarantine) run build/fault/daxcore --kill --fail-alloc 300 -o quarantine;;
normal_2m)            secs=$secs2m run build/fault/daxcore --kill -d mem:128M,order=9;;
normal_2m_quarantine) secs=$secs2m run build/fault/daxcore --kill -d mem:128M,order=9 -o quarantine;;
huge)
    free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo 2>/dev/null)
    if [ "${free:-0}" -lt 64 ]; then
        echo "SKIP: fewer than 64 free 2 MiB huge pages (HugePages_Free: ${free:-none})"; exit 77
    fi
    secs=$secs2m run build/fault/daxcore --kill -d mem:128M,huge;;
asan_4k)              run build/asan/daxcore --kill --fail-alloc 300;;
asan_4k_quarantine)   run build/asan/daxcore --kill -o quarantine;;
tsan_4k)              run build/tsan/daxcore --kill --fail-alloc 300;;
tsan_4k_quarantine)   run build/tsan/daxcore --kill -o quarantine;;
json)
    build/fault/daxcore torture --seconds 3 --json >"$tmp/out" 2>"$tmp/err"; rc=$?
    cat "$tmp/out" "$tmp/err"
    [ "$rc" = 0 ] || { echo "FAIL: exit $rc"; exit 1; }
    [ "$(wc -l <"$tmp/out")" = 1 ] || { echo "FAIL: not one line"; exit 1; }
    if command -v python3 >/dev/null; then
        python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
assert o["violations"] == 0 and o["checks_passed"] >= 1 and o["ops"] > 0, o
assert o["removal"] == "0" and o["unmount"] == "0", o
assert sum(o["ops_by_kind"].values()) == o["ops"], o
assert set(o["violations_by_kind"]) >= {"foreign_stamp", "free_while_pinned"}, o
' "$tmp/out" || { echo "FAIL: the JSON object"; exit 1; }
    else
        grep -q '"violations": 0,' "$tmp/out" || { echo "FAIL: no violations 0"; exit 1; }
    fi
    echo "ok    json";;
bug19)                broken 19;;
bug26)                broken 26 -o quarantine;;
bug37)
    broken 37
    grep -Eq '^violations: .* store_astray=[1-9]' "$tmp/out" ||
        { echo "FAIL: the store trace counted no store_astray"; exit 1; };;
watchdog)
    build/daxcore torture --ops stall --threads 1 --watchdog 3 --seconds 30 >"$tmp/out" 2>"$tmp/err"; rc=$?
    cat "$tmp/out" "$tmp/err"
    [ "$rc" = 1 ] || { echo "FAIL: exit $rc, expected 1"; exit 1; }
    for want in 'VIOLATION watchdog: no progress for 3 s' '^  worker 0: stall for ' \
                '^    pin w0.stall: w0.f1 offset 0 1 pages, age ' \
                '^  slow wait: truncate of ino 1 waiting .* for 1 pin(s): w0.stall (age '; do
        grep -q "$want" "$tmp/err" || { echo "FAIL: no line '$want'"; exit 1; }
    done
    echo "ok    watchdog";;
race)
    for bin in build/fault/daxcore build/tsan/daxcore; do
        secs=3 run "$bin" --ops race --threads 2
        grep -Eq '^ *race +[1-9]' "$tmp/out" || { echo "FAIL: no race op ran"; exit 1; }
    done;;
replay)
    for i in 1 2; do
        secs=4 run build/fault/daxcore --threads 1 --seed 3 --kill --fail-alloc 300
        grep '^replay: ' "$tmp/out" >"$tmp/replay$i"
    done
    grep -Eq '^replay: first 1000 operations: w0 [0-9a-f]{16}$' "$tmp/replay1" ||
        { echo "FAIL: no replay hash of 1000 operations"; exit 1; }
    cmp -s "$tmp/replay1" "$tmp/replay2" ||
        { cat "$tmp/replay1" "$tmp/replay2"; echo "FAIL: the same seed made other choices"; exit 1; }
    echo "ok    replay: the same choices twice";;
usage)
    build/daxcore help >"$tmp/out" 2>&1 && grep -q '^  torture \[-d SPEC\] \[--seconds N\]' "$tmp/out" ||
        { cat "$tmp/out"; echo "FAIL: help lists no torture"; exit 1; }
    build/daxcore torture --help >"$tmp/out" 2>&1 && head -n 1 "$tmp/out" | grep -q '^usage: daxcore torture ' ||
        { cat "$tmp/out"; echo "FAIL: torture --help"; exit 1; }
    for args in "--bogus" "--threads 0" "--seconds" "--ops pwrite,nosuch" "--watchdog 0" "-d"; do
        build/daxcore torture $args >"$tmp/out" 2>"$tmp/err"; rc=$?
        [ "$rc" = 2 ] && [ ! -s "$tmp/out" ] && grep -q '^daxcore torture: ' "$tmp/err" ||
            { cat "$tmp/out" "$tmp/err"; echo "FAIL: torture $args: exit $rc, expected 2 and a message"; exit 1; }
    done
    echo "ok    usage";;
fail_alloc_plain)
    build/daxcore torture --seconds 1 --fail-alloc 10 >"$tmp/out" 2>"$tmp/err"; rc=$?
    cat "$tmp/out" "$tmp/err"
    [ "$rc" = 2 ] || { echo "FAIL: exit $rc, expected 2"; exit 1; }
    grep -q 'needs a library built with -DDC_FAULT_INJECT' "$tmp/err" ||
        { echo "FAIL: no reason given"; exit 1; }
    echo "ok    fail_alloc_plain";;
*) echo "usage: sh tests/cli_torture.sh CASE (see its header)" >&2; exit 2;;
esac
