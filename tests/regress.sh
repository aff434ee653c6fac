#!/bin/sh
# Every regression test must be able to fail: build the library with one
# bug of the foundation review (1-13), of the review of its fixes (14-18)
# of dcfs (19-21, 23), of the batched pin path (22) or of dcfs part 2
# (sharing and quarantine, 24-27), of views (28), found by the torture
# (29, 30; 41, a write pin racing a share drop of its page; 42, a reflink
# that does not wait for pins no entry leads to; 43, a failed zero-range
# that leaves blocks past the end of file; 44, a write pin through an entry
# a CoW holds; 45, one that went through before the CoW took it), of device-dax (31; its review: 32-34), of the region claim (35)
# or a mutation of views that only the torture's store trace sees (37: a
# revoke leaves the pages mapped; 38, an entry unlock that wakes nobody, is
# seen by the torture's watchdog: tests/cli_torture.sh bug38) brought back (-DDC_REGRESS_BUG=N, see
# src/base/base.h) and check that the test case written for it fails,
# while the same case passes on the real library.  Prints one PASS/FAIL
# line per case; exit status 0 if every case caught its bug.
#   tests/regress.sh [OUTDIR]   (default build/regress)
out=${1:-build/regress}
cc=${CLANG:-clang}
mkdir -p "$out"
flags="-std=gnu11 -g -O1 -pthread -D_GNU_SOURCE -Iinclude -Isrc -Itests -DDC_VERSION=\"x\"
       -DDC_FAULT_INJECT -fsanitize=address,undefined -fno-sanitize-recover=all -DDC_SANITIZED=1"
libs="-lurcu-bp -ldaxctl -lpthread"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0"
export DAXCORE_CASE_TIMEOUT=20 # a bug that hangs fails in 20 s
# Sources without a switch are compiled once; those with one, per bug.
switched=$(grep -l DC_REGRESS_BUG src/*/*.c)
plain=$(grep -L DC_REGRESS_BUG src/*/*.c)

objs() { # dir bug files...  (sh has no locals: names differ from bin's)
    o_dir=$1 o_bug=$2; shift 2
    mkdir -p "$o_dir"
    for o_src in "$@"; do
        o_obj="$o_dir/$(echo "$o_src" | tr / _).o"
        [ -f "$o_obj" ] || $cc $flags -DDC_REGRESS_BUG=$o_bug -c "$o_src" -o "$o_obj" || return 1
    done
}

# Every switch is "DC_REGRESS_BUG == N" or "!= N": a source without N's is
# the same object as with no bug, so bug N compiles only the sources with N.
lib() { # bug -> $out/lib$bug.a
    [ -f "$out/lib$1.a" ] && return 0
    l_mine=$(grep -lE "DC_REGRESS_BUG *[!=]= *$1([^0-9]|\$)" $switched)
    objs "$out/plain" 0 $plain && objs "$out/bug0" 0 $switched &&
        objs "$out/bug$1" "$1" $l_mine || return 1
    l_objs=
    for l_src in $switched; do
        l_o=$(echo "$l_src" | tr / _).o
        case " $(echo $l_mine) " in
        *" $l_src "*) l_objs="$l_objs $out/bug$1/$l_o" ;;
        *) l_objs="$l_objs $out/bug0/$l_o" ;;
        esac
    done
    ar rcs "$out/lib$1.a" "$out"/plain/*.o $l_objs
}

bin() { # test bug
    b_exe="$out/$1.bug$2"
    [ -x "$b_exe" ] && return 0
    lib "$2" && $cc $flags "tests/$1.c" -o "$b_exe" "$out/lib$2.a" $libs
}

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
    "13 test_conc_mapping page_free_outside_read_side" \
    "14 test_mapping fault_during_zap_step3" \
    "14 test_mapping fault_during_zap_step3_shared" \
    "15 test_mapping failed_insert_undoes_a_claim_that_became_shared" \
    "16 test_mapping page_free_may_test_busy_during_a_shared_zap" \
    "17 test_conc_mapping poisoned_insert_gives_back_outside_read_side" \
    "18 test_mapping grab_asleep_across_eviction_sees_shutdown" \
    "18 test_conc_mapping fault_asleep_across_eviction" \
    "19 test_dcfs dma_in_flight_then_truncate" \
    "19 test_dcfs punch_over_pin" \
    "19 test_dcfs collapse_over_pin" \
    "19 test_conc_dcfs pins_vs_truncate_punch_collapse" \
    "19 test_conc_dcfs dma_vs_block_reuse" \
    "20 test_dcfs pwrite_after_zero_page_fault" \
    "21 test_dcfs dma_in_flight_then_truncate" \
    "21 test_dcfs no_stale_data" \
    "22 test_conc_mapping zap_vs_batched_pin_of_shared_block" \
    "23 test_dcfs pin_at_the_reference_limit" \
    "24 test_dcfs_share cow_by_pwrite" \
    "24 test_dcfs_share reflink_cow_then_truncate_original" \
    "24 test_conc_dcfs reflink_writers_vs_reflink_truncate" \
    "25 test_dcfs_share truncate_original_keeps_shared_block" \
    "25 test_dcfs_share reflink_cow_then_truncate_original" \
    "26 test_dcfs_share quarantine_truncate_of_pinned_file" \
    "26 test_conc_dcfs quarantine_pins_vs_truncate" \
    "27 test_dcfs_share pin_rechecks_size_after_pinning" \
    "28 test_view_revoke truncate_during_fault_window" \
    "28 test_view_revoke punch_during_fault_window" \
    "28 test_view_revoke pwrite_of_hole_during_read_fault_window" \
    "28 test_view_revoke writeback_during_write_fault_window" \
    "29 test_dcfs_share pin_of_neighbours_sharing_a_block" \
    "30 test_dcfs failed_pwrite_past_eof_keeps_size" \
    "31 test_devdax kill_between_the_check_and_the_lock" \
    "31 test_conc_devdax faults_and_pins_vs_kill" \
    "32 test_devdax removal_during_close_waits_for_the_claim" \
    "32 test_conc_devdax open_and_close_vs_removal" \
    "33 test_devdax pin_at_the_reference_limit_fails_at_once" \
    "33 test_mapping get_folio_at_the_reference_limit" \
    "34 test_devdax removal_during_open_fails_it_cleanly" \
    "34 test_conc_devdax open_and_close_vs_removal" \
    "35 test_region claim_racing_removal_fails" \
    "41 test_dcfs_share write_pin_racing_a_cow_of_its_page" \
    "41 test_dcfs_share write_pin_racing_a_quarantine_punch" \
    "41 test_dcfs_share write_pin_racing_a_quarantine_collapse" \
    "41 test_dcfs_share write_pin_racing_a_quarantine_reflink" \
    "41 test_conc_dcfs write_pins_vs_cow" \
    "41 test_conc_dcfs write_pins_vs_quarantine_punch" \
    "42 test_dcfs_share quarantine_reflink_waits_for_pins_an_abandon_hid" \
    "43 test_dcfs_share quarantine_failed_zero_past_eof_gives_blocks_back" \
    "44 test_dcfs_share write_pin_during_a_cow_of_its_page" \
    "45 test_dcfs_share write_pin_before_a_cow_takes_its_entry"; do
    set -- $line
    bug=$1 test=$2 case=$3
    if ! { bin "$test" 0 && bin "$test" "$bug"; } >"$out/build.$test.$bug.log" 2>&1; then
        echo "FAIL  regress build $test bug $bug (see $out/build.$test.$bug.log)"
        rc=1
        continue
    fi
    timeout -k 5 120 "$out/$test.bug0" "$case" >"$out/$test.$case.fixed.log" 2>&1; fixed=$?
    # A race may be missed in one run: up to 5 runs must show the bug once.
    for try in 1 2 3 4 5; do
        timeout -k 5 120 "$out/$test.bug$bug" "$case" >"$out/$test.$case.bug$bug.log" 2>&1; broken=$?
        [ "$broken" != 0 ] && break
    done
    if [ "$fixed" = 0 ] && [ "$broken" != 0 ]; then
        echo "PASS  regress bug $bug: $test $case fails with the bug (exit $broken), passes without"
    else
        echo "FAIL  regress bug $bug: $test $case: exit $fixed fixed, $broken with the bug"
        tail -n 5 "$out/$test.$case.bug$bug.log" | sed 's/^/      | /'
        rc=1
    fi
done

# The torture's oracle (tools/torture*.c): `daxcore torture` against the
# library with bug 19 (truncate frees blocks before their pins drain), bug
# 21 (a new block is not zeroed: stale data), bug 26 (the quarantine frees
# pinned blocks, on a quarantine mount), bug 28 (a view fault maps what a
# revoke took meanwhile: seen only when a fault races a layout change of
# its file by another thread) and bug 37 (a revoke leaves the pages of the
# views mapped) must report violations of the kind named and exit 1,
# against the real one exit 0.
tool() { # bug -> $out/daxcore.bug$bug (the tool's objects compiled once)
    [ -x "$out/daxcore.bug$1" ] && return 0
    objs "$out/tools" 0 tools/*.c && lib "$1" &&
        $cc $flags "$out"/tools/*.o -o "$out/daxcore.bug$1" "$out/lib$1.a" $libs -luring
}
# Bugs 28 and 37 must be reported by the store trace itself: store_astray.
for line in "19 block_left_file" "21 foreign_stamp" "26 free_while_pinned -o quarantine" \
            "28 store_astray" "37 store_astray"; do
    set -- $line
    bug=$1; kind=$2; shift 2
    if ! { tool 0 && tool "$bug"; } >"$out/build.torture.$bug.log" 2>&1; then
        echo "FAIL  regress build torture bug $bug (see $out/build.torture.$bug.log)"
        rc=1
        continue
    fi
    timeout -k 5 120 "$out/daxcore.bug0" torture --seconds 5 --seed 1 "$@" \
        >"$out/torture.$bug.fixed.log" 2>&1; fixed=$?
    # As above: up to 3 runs must show the bug once (exit 1, violations printed).
    for try in 1 2 3; do
        timeout -k 5 120 "$out/daxcore.bug$bug" torture --seconds 5 --seed 1 "$@" \
            >"$out/torture.bug$bug.log" 2>&1; broken=$?
        want="VIOLATION $kind"
        [ "$broken" = 1 ] && grep -q "$want" "$out/torture.bug$bug.log" && break
    done
    if [ "$fixed" = 0 ] && [ "$broken" = 1 ] && grep -q "$want" "$out/torture.bug$bug.log"; then
        echo "PASS  regress bug $bug: daxcore torture${*:+ $*} reports violations with the bug, none without"
    else
        echo "FAIL  regress bug $bug: daxcore torture${*:+ $*}: exit $fixed fixed, $broken with the bug"
        tail -n 5 "$out/torture.bug$bug.log" | sed 's/^/      | bug: /'
        grep VIOLATION "$out/torture.$bug.fixed.log" | head -n 5 | sed 's/^/      | fixed: /'
        rc=1
    fi
done
exit $rc
