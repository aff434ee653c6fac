#!/bin/sh
# cli_torture.sh CASE - a bounded `daxcore torture` run, as make check runs
# them (tests/run-tests.sh: one line per case).  Each run lasts
# $DAXCORE_TORTURE_SECONDS seconds (default 30; set it lower for a quick
# local run; the 2 MiB ones half that) and must end with "violations: 0",
# exit 0, and have passed its quiescent checks and done what its options
# ask for (run() below: kills, allocation failures met, DMAs, stores
# traced, memory failures); its seed is in the log (replay with --seed).
#   normal_4k, normal_4k_quarantine   build/fault/daxcore (fault injection
#                                     on: --fail-alloc; --kill), 4 KiB folios
#   normal_2m, normal_2m_quarantine   2 MiB folios (mem:...,order=9: no
#                                     huge pages needed)
#   huge                              2 MiB pages of hugetlbfs (mem:...,huge):
#                                     skipped (77) where none are free
#   asan_4k, asan_4k_quarantine       build/asan/daxcore (ASan+UBSan)
#   tsan_4k, tsan_4k_quarantine       build/tsan/daxcore (TSan)
#   json                              --json: one object of the keys the
#                                     summary has, the settings of a text
#                                     run of the same seed, counts not 0
#   bug19, bug26                      the oracle must fail: build/bugN/daxcore
#                                     (a library with DC_REGRESS_BUG=N: 19,
#                                     truncate frees blocks before their pins
#                                     drain; 26, quarantine frees pinned
#                                     blocks) for a few seconds with a fixed
#                                     seed must report violations of the
#                                     kind the bug causes (19:
#                                     block_left_file or free_while_pinned,
#                                     26: free_while_pinned), exit 1
#   bug37                             the same with bug 37 (a revoke leaves
#                                     the view's pages mapped: stores land in
#                                     blocks that left the file): the store
#                                     trace itself (store_astray) must count it
#   bug21                             bug 21 (a new block is not zeroed): a
#                                     write of part of a page into a hole, or
#                                     a file grown after a truncate to inside
#                                     a page, shows stale bytes (foreign_stamp
#                                     or bad_content)
#   bug28                             bug 28 (a view fault maps what a revoke
#                                     took meanwhile): stores racing the
#                                     partner thread's layout changes land
#                                     outside the file (store_astray)
#   bug39                             switch 39 (a memory failure reported one
#                                     block off): memory_failure_misrouted
#   bug38                             switch 38 (an entry unlock wakes no
#                                     waiter): the run hangs, the watchdog
#                                     (--watchdog 3) must fire
#   watchdog                          --ops stall (a worker truncates a file
#                                     under its own pin: no progress) with
#                                     --watchdog 3: exit 1 having printed
#                                     the worker, the pin (tag, age), the
#                                     mount's pin count and the slow wait
#   race                              --ops race (a DMA's last pass lands on
#                                     pages after a store or a second DMA of
#                                     them began, and it is done before their
#                                     model is set): no violation, in the
#                                     fault-injection and TSan builds (the
#                                     oracle once asked whether the DMA was
#                                     done only after the write: a foreign
#                                     stamp at every such op)
#   replay                            --seed 3 --kill --fail-alloc 300 twice:
#                                     the same 'replay:' hashes (the kind and
#                                     seed of the first 500 operations of each
#                                     worker and partner)
#   usage                             help lists it, --help, bad arguments
#                                     (exit 2, nothing run)
#   fail_alloc_plain                  build/daxcore (no injector): --fail-alloc
#                                     is refused, saying why (exit 2)
case=$1
secs=${DAXCORE_TORTURE_SECONDS:-30}
secs2m=$(( (secs + 1) / 2 )) # the 2 MiB runs: half as long (the CI budget)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/daxcore-torture-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# num SED-SCRIPT: the number the script prints from the summary (empty: no such line).
num() {
    sed -n "$1" "$tmp/out" | head -n 1
}

# need WHAT N: N (a count of the summary) must be above 0, else the run did not do WHAT.
need() {
    [ -n "$2" ] || { echo "FAIL: no summary line for $1"; exit 1; }
    [ "$2" -gt 0 ] || { echo "FAIL: $1: none (0 in the summary)"; exit 1; }
}

# run BINARY ARGS...: a run that must pass, and must have done what its
# options ask for: kills (--kill), injected allocation failures that a call
# met (--fail-alloc), and, with every operation on (no --ops), DMAs,
# stores traced and memory failures injected; a run that did none of them
# tested nothing of them, which "violations: 0" alone would not tell.  Not
# required: that a memory failure hit a file (of the 8 a run injects,
# about a quarter are aimed at a file's block: some runs report 1, some
# see 0 hits).
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
    case " $* " in *" --kill "*)
        need "kills (--kill)" "$(num 's/^injected: .*; kills \([0-9]*\);.*/\1/p')";;
    esac
    case " $* " in *" --fail-alloc "*)
        need "allocation failures seen (--fail-alloc)" \
             "$(num 's/^injected: \([0-9]*\) allocation failures seen;.*/\1/p')";;
    esac
    case " $* " in *" --ops "*) ;; *)
        need "DMA bytes" "$(num 's/^dma: \([0-9]*\) bytes;.*/\1/p')"
        need "stores traced" "$(num 's/^stores traced: \([0-9]*\) pages .*/\1/p')"
        need "memory failures injected (poison)" "$(num 's/^  poison  *\([0-9]*\)  .*/\1/p')";;
    esac
    echo "ok    $case"
}

# broken BUG 'KIND...' ARGS...: a run against the library with bug BUG must
# fail, and with (at least one of) the violation KINDs that bug causes: a
# run that fails for another reason (a watchdog, an unexpected result: the
# bug broke the tool, not the oracle's check) does not show that the
# oracle sees the bug.
broken() {
    bug=$1; kinds=$2; shift 2
    bin=build/bug$bug/daxcore
    [ -x "$bin" ] || { echo "FAIL: $bin is not built"; exit 1; }
    for seed in 1 2 3; do # the first seed that shows it (the interleaving varies)
        "$bin" torture --seconds 5 --seed $seed "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
        for kind in $kinds; do
            grep -Eq "^violations: [0-9]+( [a-z_]+=[0-9]+)* $kind=[1-9]" "$tmp/out" && break 2
        done
    done
    cat "$tmp/out"; sed 's/^/stderr: /' "$tmp/err" | head -n 20
    [ "$rc" = 1 ] || { echo "FAIL: exit $rc with bug $bug, expected 1"; exit 1; }
    grep -q 'VIOLATION' "$tmp/err" || { echo "FAIL: no violation printed"; exit 1; }
    grep -Eq '^violations: [1-9]' "$tmp/out" || { echo "FAIL: no violations counted"; exit 1; }
    for kind in $kinds; do
        if grep -Eq "^violations: [0-9]+( [a-z_]+=[0-9]+)* $kind=[1-9]" "$tmp/out"; then
            echo "ok    $case: the oracle fails with bug $bug ($kind)"
            return 0
        fi
    done
    echo "FAIL: bug $bug: no violation of kind $kinds counted"; exit 1
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
    # One --json run and one text run of the same seed and options; checked
    # with sed and awk only (python3 and jq are not among the Makefile's
    # DEPS_PKGS): the object's shape, its exact key sets, the run's settings
    # as the text run prints them, and the counts that must not be zero.
    seed=$(( $$ % 100000 + 1 ))
    args="--seconds 3 --seed $seed --kill --fail-alloc 300"
    build/fault/daxcore torture $args --json >"$tmp/out" 2>"$tmp/err"; rc=$?
    cat "$tmp/out" "$tmp/err"
    [ "$rc" = 0 ] || { echo "FAIL: exit $rc"; exit 1; }
    [ "$(wc -l <"$tmp/out")" = 1 ] || { echo "FAIL: not one line"; exit 1; }
    build/fault/daxcore torture $args >"$tmp/text" 2>"$tmp/err" ||
        { cat "$tmp/text" "$tmp/err"; echo "FAIL: the text run"; exit 1; }
    # The grammar torture prints: numbers, strings without escapes, and
    # objects of numbers one level down.
    v='(-?[0-9]+(\.[0-9]+)?|"[^"\\]*"|\{("[a-z_]+": [0-9]+(, "[a-z_]+": [0-9]+)*)?\})'
    grep -Eq "^\\{\"[a-z_]+\": $v(, \"[a-z_]+\": $v)*\\}\$" "$tmp/out" ||
        { echo "FAIL: not an object of the form torture prints"; exit 1; }
    # keys OBJECT: the keys, one a line (OBJECT: the top level, or a nested object's name)
    keys() {
        if [ "$1" = top ]; then sed 's/{[^{}]*}/{}/g; s/^{//; s/}$//' "$tmp/out"
        else sed -n "s/.*\"$1\": {\([^{}]*\)}.*/\1/p" "$tmp/out"; fi |
            tr ',' '\n' | sed -n 's/^ *"\([a-z_]*\)": .*/\1/p'
    }
    # val KEY: a top-level value (strings with their quotes)
    val() {
        sed 's/{[^{}]*}/{}/g' "$tmp/out" |
            sed -n "s/.*[{ ]\"$1\": \(\"[^\"]*\"\).*/\1/p; t
                    s/.*[{ ]\"$1\": \(-\{0,1\}[0-9][0-9.]*\).*/\1/p"
    }
    # sum OBJECT: the sum of a nested object's values
    sum() {
        sed -n "s/.*\"$1\": {\([^{}]*\)}.*/\1/p" "$tmp/out" | tr ',' '\n' |
            awk -F': ' '{ n += $2 } END { print n + 0 }'
    }
    same() { # WHAT WANT GOT
        [ "$2" = "$3" ] || { echo "FAIL: $1: '$3', expected '$2'"; exit 1; }
    }
    sameset() { # WHAT WANT GOT: two sorted lists
        printf '%s\n' "$2" >"$tmp/want"; printf '%s\n' "$3" >"$tmp/got"
        cmp -s "$tmp/want" "$tmp/got" || {
            echo "FAIL: $1: missing: $(comm -23 "$tmp/want" "$tmp/got" | tr '\n' ' ')" \
                 "unexpected: $(comm -13 "$tmp/want" "$tmp/got" | tr '\n' ' ')"; exit 1; }
    }
    sameset "top-level keys" "$(printf '%s\n' seed spec options threads seconds block_size ops \
        ops_per_s ops_by_kind break_waits longest_wait_ms timeouts quarantined_max faults \
        signal_faults dma_bytes revokes cow_copies memory_failures poisoned_pages poison_hits \
        mf_routed overlaps resyncs probes \
        enomem kills sigbus checks_passed pages_verified pages_skipped store_checked \
        store_revoked removal removal_ms unmount violations violations_by_kind | sort)" \
        "$(keys top | sort)"
    sameset "violation kinds" "$(printf '%s\n' foreign_stamp bad_content block_left_file \
        free_while_pinned store_after_revoke poison_reused unexpected_result count_not_zero \
        check_failed removal_incomplete killed_client_leak watchdog store_astray \
        memory_failure_misrouted | sort)" \
        "$(keys violations_by_kind | sort)"
    for op in $(sed -n 's/^  \([a-z_]*\)  *[0-9][0-9]*  *[0-9]*\/s$/\1/p' "$tmp/text"); do
        keys ops_by_kind | grep -qx "$op" || { echo "FAIL: ops_by_kind has no $op"; exit 1; }
    done
    same "seed" "$seed" "$(val seed)"
    same "spec" "\"$(sed -n 's/^daxcore torture: seed [0-9]*, \([^,]*\), options .*/\1/p' "$tmp/text")\"" \
        "$(val spec)"
    same "options" "\"$(sed -n "s/^daxcore torture: seed .*, options '\\([^']*\\)', .*/\\1/p" "$tmp/text")\"" \
        "$(val options)"
    same "threads" "$(sed -n 's/^daxcore torture: seed .*, \([0-9]*\) threads, .*/\1/p' "$tmp/text")" \
        "$(val threads)"
    same "block_size (4 KiB blocks)" 4096 "$(val block_size)"
    same "violations" 0 "$(val violations)"
    same "violations_by_kind's sum" 0 "$(sum violations_by_kind)"
    same "removal" '"0"' "$(val removal)"
    same "unmount" '"0"' "$(val unmount)"
    same "ops_by_kind's sum" "$(val ops)" "$(sum ops_by_kind)"
    for k in ops checks_passed pages_verified dma_bytes faults kills enomem store_checked \
             overlaps probes; do
        [ "$(val $k)" -gt 0 ] 2>/dev/null || { echo "FAIL: $k: '$(val $k)', expected > 0"; exit 1; }
    done
    echo "ok    json";;
bug19)                broken 19 'block_left_file free_while_pinned';;
bug26)                broken 26 free_while_pinned -o quarantine;;
bug37)                broken 37 store_astray;;
bug21)                broken 21 'foreign_stamp bad_content';;
bug28)                broken 28 store_astray;;
bug39)                broken 39 memory_failure_misrouted;;
bug38) # the watchdog ends the run (exit 1) before any summary
    build/bug38/daxcore torture --seconds 10 --seed 1 --watchdog 3 >"$tmp/out" 2>"$tmp/err"; rc=$?
    cat "$tmp/out"; sed 's/^/stderr: /' "$tmp/err" | head -n 20
    [ "$rc" = 1 ] || { echo "FAIL: exit $rc with bug 38, expected 1"; exit 1; }
    grep -q '^daxcore torture: VIOLATION watchdog: no progress for 3 s' "$tmp/err" &&
        grep -q '^daxcore torture: watchdog: no progress for 3 s (seed 1)' "$tmp/err" ||
        { echo "FAIL: bug 38: the watchdog did not fire"; exit 1; }
    echo "ok    bug38: the watchdog fires with bug 38";;
watchdog)
    build/daxcore torture --ops stall --threads 1 --watchdog 3 --seconds 30 >"$tmp/out" 2>"$tmp/err"; rc=$?
    cat "$tmp/out" "$tmp/err"
    [ "$rc" = 1 ] || { echo "FAIL: exit $rc, expected 1"; exit 1; }
    for want in 'VIOLATION watchdog: no progress for 3 s' \
                '^daxcore torture: watchdog: no progress for 3 s (seed [0-9]*), during running:$' \
                '^  worker 0: stall for ' '^    pin w0.stall: w0.f1 offset 0 1 pages, age [0-9.]* s$' \
                "^  mount: 1 pin sets (1 pages) held, 1 of them on the workers' files; " \
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
    # The same seed, the same sequence of operations (kind, seed) in every
    # thread, partners included, with every operation and both injectors on.
    for i in 1 2; do
        secs=6 run build/fault/daxcore --seed 3 --kill --fail-alloc 300
        grep '^replay: ' "$tmp/out" >"$tmp/replay$i"
    done
    grep -Eq '^replay: first 500 operations:( [wp][0-9]+ [0-9a-f]{16}){8}$' "$tmp/replay1" ||
        { cat "$tmp/replay1"; echo "FAIL: no replay hash of 500 operations of each of 8 threads"; exit 1; }
    cmp -s "$tmp/replay1" "$tmp/replay2" ||
        { cat "$tmp/replay1" "$tmp/replay2"; echo "FAIL: the same seed made other choices"; exit 1; }
    echo "ok    replay: the same operations twice";;
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
