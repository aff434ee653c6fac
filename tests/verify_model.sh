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
# The total line gives the wall time of the whole check; with
# DAXCORE_VERIFY_STRICT_TIME=1 the check also fails if that exceeds 300 s
# (the issue's bound; off by default: no timing assertion in the tests).
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
# reached in the search whose output is FILE.  A line marked @reach:DEF
# counts only in a case defined with DEF (a path only that configuration
# has, the quarantine's).
unreached() { # MODEL FILE DEFS
    grep -n '@reach' "$src/$1.pml" | while IFS= read -r l; do
        n=${l%%:*}
        tag=$(echo "$l" | sed -n 's/.*@reach:\([A-Z_]*\).*/\1/p')
        if [ -n "$tag" ]; then
            case " $3 " in *" -D$tag "*) ;; *) continue;; esac
        fi
        grep -q "^	$1.pml:$n, state" "$2" && printf ' %s' "$n"
    done
}

# one NAME MODEL MODE EXPECT [DEFINES...]
#   MODE   safety (-DSAFETY: assertions, invalid end states)
#          progress (-DNP, pan -l: non-progress cycles in any run, fair or
#          not; none in any run is stronger than none in the fair ones)
#   EXPECT pass (zero errors, search complete), or the counterexample a bug
#          switch must produce: assert:EXPR (the assertion of EXPR violated,
#          EXPR as pan prints it, spaces ignored: a bug case that trips some
#          other assertion fails) or end (an invalid end state: a deadlock
#          or a process asleep for ever)
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
        elif [ -n "$(unreached "$model" "$dir/pan.out" "$defs")" ]; then
            echo "FAIL  verify  $name: statements marked @reach were not reached:" \
                 "$model.pml lines$(unreached "$model" "$dir/pan.out" "$defs") (a vacuous check)"
            fails=$((fails+1))
        else
            echo "PASS  verify  $name: 0 errors, $st states, ${secs} s"
        fi
    else
        case $expect in
        assert:*) kind="assertion violated"
                  want=$(printf '%s' "${expect#assert:}" | tr -d ' ');;
        end)      kind="invalid end state"; want="";;
        esac
        got=$(printf '%s' "${what#"$kind"}" | tr -d ' ')
        if [ "$errs" = 0 ] || ! ls "$dir"/*.trail >/dev/null 2>&1; then
            echo "FAIL  verify  $name: the bug switch found no counterexample ($st states)"
            fails=$((fails+1))
        elif [ "${what#"$kind"}" = "$what" ] || [ "$got" != "$want" ]; then
            echo "FAIL  verify  $name: expected $kind${want:+ $want}, found: $what (trail in $dir)"
            fails=$((fails+1))
        else
            echo "PASS  verify  $name: counterexample ($what), $st states, ${secs} s"
        fi
    fi
}

# entries, lockless pins, zap, replace, delete, break layouts, reuse
# (the owner as dcfs runs it: CoW with UNSHARE and the quarantine; and a
# generic owner, GENERIC_COW, whose replace tests busy and returns -EBUSY)
one entry            entry   safety   pass
one entry.progress   entry   progress pass
one entry.generic    entry   safety   pass GENERIC_COW
one entry.generic.progress entry progress pass GENERIC_COW
one entry.bug1       entry   safety   'assert:!(zap_begun[e_ver])' BUG_REPLACE_NO_ZAP
one entry.generic.bug1 entry safety   'assert:((ref[old]==0)&&(own[old]==0))' GENERIC_COW BUG_REPLACE_NO_ZAP
one entry.no_pass_on entry   safety   end BUG_NO_PASS_ON
one entry.mf_recheck entry   safety   'assert:((((e_kind==3)&&(e_blk==0))&&(own[0]==1))&&(fsown[0]==1))' BUG_MF_NO_RECHECK
# CoW sharing: the shared owner word, busy, delete, quarantine
one share            share   safety   pass
one share.quarantine share   safety   pass QUARANTINE
one share.progress   share   progress pass
one share.quar.progress share progress pass QUARANTINE
one share.bug5       share   safety   'assert:(wsh&&(w_p>0))' BUG_SHARE_NOT_ATOMIC
one share.bug7       share   safety   end BUG_DELETE_NEEDS_IDLE
one share.look_first share   safety   assert:freed QUARANTINE BUG_LOOK_THEN_QUAR
one share.bug25      share   safety   'assert:((((!(freed)&&(assoc==0))&&!(wsh))&&(ref[0]==0))&&(dsh==0))' BUG_PUT_FREES_SHARED
# the exclusive claim
one claim            claim   safety   pass
one claim.progress   claim   progress pass
one claim.bug6       claim   safety   'assert:(claims==1)' BUG_OWNER_CHECK_THEN_SET
# the first reflink: an owner's word becomes shared under its tree lock
one reflink          reflink safety   pass
one reflink.progress reflink progress pass
one reflink.unlocked reflink safety   'assert:!(wsh)' BUG_CONVERT_UNLOCKED
# region removal and RCU
one removal          removal safety   pass
one removal.progress removal progress pass
one removal.no_grace removal safety   'assert:!(removed)' BUG_REMOVE_NO_GRACE
one removal.bug3     removal safety   'assert:!(removed)' BUG_REMOVE_NO_HOLD
one removal.bug4     removal safety   'assert:!(removed)' BUG_READ_AFTER_DEC
one removal.bug11    removal safety   'assert:!(removed)' BUG_REMOVE_TWICE
one removal.bug13    removal safety   'assert:!((rcu[0]&&(_pid==pin_pid)))' BUG_BACKOUT_IN_READ_SIDE
one removal.tryget   removal safety   'assert:(lr==0)' BUG_TRYGET_IGNORES_KILL

t1=$(date +%s.%N)
total=$(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }')
echo "verify: $cases cases, $fails failed, $states states explored in all, $total s wall time"
if [ "${DAXCORE_VERIFY_STRICT_TIME:-0}" = 1 ] &&
   [ "$(echo "$total" | awk '{ print ($1 > 300) }')" = 1 ]; then
    echo "FAIL  verify  time: the whole check took $total s, over the 300 s bound (DAXCORE_VERIFY_STRICT_TIME=1)"
    fails=$((fails+1))
fi
[ "$fails" -eq 0 ]
