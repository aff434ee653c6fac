#!/bin/sh
# verify_model.sh [OUTDIR] - the spin model check of the lifetime protocol
# (verify/*.pml, docs/verification.md): every model, clean, must pass with
# zero errors in an exhaustive search, for safety (assertions and invalid
# end states) and for non-progress cycles (no run loops for ever); every bug
# switch must make spin find a counterexample.  Each case is generated with
# spin -a and compiled with $CC (-O2 for the long searches) into
# OUTDIR/<case>/ (default build/verify), where pan's output (pan.out) and
# the trail of a counterexample stay.  A clean case also fails if a statement marked @reach in its model was never
# reached (a property that holds because its assertion never runs).
# Prints one line per case, "PASS  verify  <case>: ..." with the states
# explored and the time, or "FAIL ..."; then a total.  Exit 0 if every case
# came out as expected, 1 otherwise, 77 with a "SKIP:" line without spin.
out=${1:-build/verify}
cc=${CC:-cc}
src=$(cd "$(dirname "$0")/../verify" && pwd) || exit 1
command -v spin >/dev/null 2>&1 || { echo "SKIP: spin is not installed (make setup)"; exit 77; }
mkdir -p "$out" || exit 1
out=$(cd "$out" && pwd)
fails=0 cases=0 states=0
t0=$(date +%s.%N)

# The lines of MODEL.pml marked @reach (the assertions the properties rest
# on, the slow paths: each in one proctype's body) that pan lists as never
# reached in the search whose output is FILE.
unreached() { # MODEL FILE
    for n in $(grep -n '@reach' "$src/$1.pml" | cut -d: -f1); do
        grep -q "^	$1.pml:$n, state" "$2" && printf ' %s' "$n"
    done
}

# one NAME MODEL MODE EXPECT [DEFINES...]
#   MODE   safety (-DSAFETY: assertions, invalid end states)
#          progress (-DNP, pan -l: non-progress cycles in any run, fair or
#          not; none in any run is stronger than none in the fair ones)
#   EXPECT pass (zero errors, search complete), or the counterexample a bug
#          switch must produce: assert (an assertion violated) or end (an
#          invalid end state: a deadlock or a process asleep for ever)
one() {
    name=$1 model=$2 mode=$3 expect=$4; shift 4
    dir="$out/$name"
    rm -rf "$dir"; mkdir -p "$dir"
    cp "$src"/*.pml "$dir"/
    defs=""
    for d in "$@"; do defs="$defs -D$d"; done
    case $mode in
    safety)   pflags="-DSAFETY -DCOLLAPSE"; rflags="";;
    progress) pflags="-DNP -DCOLLAPSE"; rflags="-l";;
    esac
    # -O2 where the search is long (entry's clean searches, a million
    # states and more); elsewhere it takes milliseconds and the compile is
    # most of the time, so pan is compiled without optimisation.
    opt=-O0
    [ "$model" = entry ] && [ "$expect" = pass ] && opt=-O2
    cases=$((cases+1))
    s0=$(date +%s.%N)
    if ! (cd "$dir" && spin -a $defs "$model.pml" >spin.out 2>&1 &&
          $cc $opt -w $pflags -o pan pan.c >cc.out 2>&1); then
        echo "FAIL  verify  $name: spin -a or $cc failed (see $dir)"
        fails=$((fails+1)); return
    fi
    (cd "$dir" && ./pan -m200000 $rflags >pan.out 2>&1)
    s1=$(date +%s.%N)
    secs=$(echo "$s0 $s1" | awk '{ printf "%.2f", $2 - $1 }')
    errs=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$dir/pan.out" | head -n 1)
    st=$(awk '/states, stored/ { print $1; exit }' "$dir/pan.out")
    [ -n "$st" ] && states=$(echo "$states $st" | awk '{ printf "%.0f", $1 + $2 }')
    what=$(grep -m1 '^pan:1:' "$dir/pan.out" | sed 's/^pan:1: //; s/ (at depth.*//')
    if [ -z "$errs" ]; then
        echo "FAIL  verify  $name: no result from pan (see $dir/pan.out)"
        fails=$((fails+1))
    elif [ "$expect" = pass ]; then
        if [ "$errs" != 0 ]; then
            echo "FAIL  verify  $name: $errs error(s): $what (trail in $dir)"
            fails=$((fails+1))
        elif grep -q 'max search depth too small\|out of memory\|search not completed' "$dir/pan.out"; then
            echo "FAIL  verify  $name: the search did not complete (see $dir/pan.out)"
            fails=$((fails+1))
        elif [ -n "$(unreached "$model" "$dir/pan.out")" ]; then
            echo "FAIL  verify  $name: statements marked @reach were not reached:" \
                 "$model.pml lines$(unreached "$model" "$dir/pan.out") (a vacuous check)"
            fails=$((fails+1))
        else
            echo "PASS  verify  $name: 0 errors, $st states, ${secs} s"
        fi
    else
        case $expect in
        assert) kind="assertion violated";;
        end)    kind="invalid end state";;
        esac
        if [ "$errs" = 0 ] || ! ls "$dir"/*.trail >/dev/null 2>&1; then
            echo "FAIL  verify  $name: the bug switch found no counterexample ($st states)"
            fails=$((fails+1))
        elif [ "${what#"$kind"}" = "$what" ]; then
            echo "FAIL  verify  $name: expected $kind, found: $what (trail in $dir)"
            fails=$((fails+1))
        else
            echo "PASS  verify  $name: counterexample ($what), $st states, ${secs} s"
        fi
    fi
}

# entries, lockless pins, zap, replace, delete, break layouts, reuse
one entry            entry   safety   pass
one entry.progress   entry   progress pass
one entry.bug1       entry   safety   assert BUG_REPLACE_NO_ZAP
one entry.no_pass_on entry   safety   end BUG_NO_PASS_ON
# CoW sharing: the shared owner word, busy, delete, quarantine
one share            share   safety   pass
one share.quarantine share   safety   pass QUARANTINE
one share.progress   share   progress pass
one share.quar.progress share progress pass QUARANTINE
one share.bug5       share   safety   assert BUG_SHARE_NOT_ATOMIC
one share.bug7       share   safety   end BUG_DELETE_NEEDS_IDLE
# the exclusive claim
one claim            claim   safety   pass
one claim.progress   claim   progress pass
one claim.bug6       claim   safety   assert BUG_OWNER_CHECK_THEN_SET
# the first reflink: an owner's word becomes shared under its tree lock
one reflink          reflink safety   pass
one reflink.progress reflink progress pass
one reflink.unlocked reflink safety   assert BUG_CONVERT_UNLOCKED
# region removal and RCU
one removal          removal safety   pass
one removal.progress removal progress pass
one removal.no_grace removal safety   assert BUG_REMOVE_NO_GRACE
one removal.bug3     removal safety   assert BUG_REMOVE_NO_HOLD
one removal.bug11    removal safety   assert BUG_REMOVE_TWICE

t1=$(date +%s.%N)
total=$(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }')
echo "verify: $cases cases, $fails failed, $states states explored in all, $total s"
[ "$fails" -eq 0 ]
