#!/bin/sh
# Every regression test must be able to fail: build the library with one
# bug of the foundation review brought back (-DDC_REGRESS_BUG=N, see
# src/base/base.h) and check that the test case written for it fails,
# while the same case passes on the real library.  Prints one PASS/FAIL
# line per bug; exit status 0 if every case caught its bug.
#   tests/regress.sh [OUTDIR]   (default build/regress)
out=${1:-build/regress}
cc=${CLANG:-clang}
mkdir -p "$out"
flags="-std=gnu11 -g -O1 -pthread -D_GNU_SOURCE -Iinclude -Isrc -Itests -DDC_VERSION=\"x\"
       -DDC_FAULT_INJECT -fsanitize=address,undefined -fno-sanitize-recover=all -DDC_SANITIZED=1
       -Wno-unused-command-line-argument"
libs="-lurcu-bp -lpthread"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0"
rc=0
# bug test case
for line in \
    "1 test_conc_mapping replace_vs_lockless_pin" \
    "3 test_mapping mapping_holds_its_region" \
    "3 test_conc_mapping removal_vs_lockless_pin" \
    "4 test_folio put_does_not_read_folio_after_decrement" \
    "4 test_folio unpin_does_not_read_folio_after_decrement" \
    "5 test_conc_mapping cow_sharers_across_files" \
    "6 test_conc_mapping one_claim_per_block" \
    "7 test_mapping reflinked_block_delete_and_evict" \
    "9 test_mapping forged_handle_is_refused" \
    "10 test_mapping bad_input" \
    "11 test_conc_mapping concurrent_removal_is_refused" \
    "12 test_folio all_or_nothing" \
    "13 test_conc_mapping page_free_outside_read_side"; do
    set -- $line
    bug=$1 test=$2 case=$3
    for b in 0 "$bug"; do
        bin="$out/$test.bug$b"
        [ -x "$bin" ] || $cc $flags -DDC_REGRESS_BUG=$b src/*/*.c "tests/$test.c" -o "$bin" $libs \
            >"$out/build.$test.$b.log" 2>&1 || { echo "FAIL  regress build $test bug $b"; rc=1; continue 2; }
    done
    timeout -k 5 120 "$out/$test.bug0" "$case" >"$out/$test.$case.fixed.log" 2>&1; fixed=$?
    timeout -k 5 120 "$out/$test.bug$bug" "$case" >"$out/$test.$case.bug$bug.log" 2>&1; broken=$?
    if [ "$fixed" = 0 ] && [ "$broken" != 0 ]; then
        echo "PASS  regress bug $bug: $test $case fails with the bug (exit $broken), passes without"
    else
        echo "FAIL  regress bug $bug: $test $case: exit $fixed fixed, $broken with the bug"
        tail -n 5 "$out/$test.$case.bug$bug.log" | sed 's/^/      | /'
        rc=1
    fi
done
exit $rc
