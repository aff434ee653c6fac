#!/bin/sh
# cli_demo.sh GROUP DAXCORE - tests of `daxcore demo` (tools/demo.c):
#   text    the demo in text: exit 0, every act's key lines present, no failed check
#   json    --json: every line parsed by python3's json module, the event kinds of
#           the story present, the slow-wait and memory-failure reports as expected,
#           the last line the result (ok)
#   file    the demo on a file: region
#   errors  bad specs and regions dcfs cannot mount (exit 1, the message on stderr,
#           nothing on stdout), usage errors (exit 2), --help
#   layers  `demo --layers [SPEC]`, the library-level demo, still runs
#   devdax  `demo --devdax`, the device-dax story: its key lines in text, its JSON
#           lines parsed (refusals, one fault per 2 MiB, the pin, the kill, SIGBUS
#           counts), its errors
# Regions of 2 MiB folios (mem:64M,order=9) run the same story with 2 MiB
# blocks (exit 0 and the final line only: the narration differs).  No timing is asserted: the lines are matched without their elapsed times and
# page columns.  Prints one line per check (ok, or FAIL with what differed); exits
# 0 if every check passed, 1 otherwise.
group=$1; D=$2
[ -n "$group" ] && [ -x "$D" ] || { echo "usage: sh tests/cli_demo.sh text|json|file|errors|layers|devdax build/daxcore" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/daxcore-demo-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() { echo "FAIL  $name: $*"; fails=$((fails+1)); }

# run NAME WANT_RC CMD...: run CMD (stdout in $tmp/out, stderr in $tmp/err)
# and compare its exit status.
run() {
    name=$1; want_rc=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
    if [ "$rc" != "$want_rc" ]; then
        fail "exit $rc, expected $want_rc; stderr:"; sed 's/^/      /' "$tmp/err" | tail -n 20
        return 1
    fi
    echo "ok    $name (exit $rc)"
    return 0
}

# has NAME FILE ERE...: FILE has a line matching each ERE.
has() {
    n=$1; f=$2; shift 2; ok=1
    for re in "$@"; do
        grep -Eq -- "$re" "$f" || { name=$n; fail "no line matches /$re/"; ok=0; }
    done
    [ $ok = 1 ] && echo "ok    $n"
}

# lacks NAME FILE ERE: no line of FILE matches ERE.
lacks() {
    if grep -Eq -- "$3" "$2"; then name=$1; fail "a line matches /$3/:"; grep -E -- "$3" "$2" | sed 's/^/      /'
    else echo "ok    $1"; fi
}

# The stderr of a demo that succeeded: empty, or the DMA engine's fallback notice.
quiet_stderr() {
    if grep -Ev '^daxcore: dma: io_uring unavailable \(.*\): using memcpy$' "$tmp/err" | grep -q .; then
        name=$1; fail "unexpected stderr:"; sed 's/^/      /' "$tmp/err"
    else echo "ok    $1"; fi
}

# The key lines of a text run, one act at a time (4 KiB blocks).
text_lines() {
    has "$1_region" "$tmp/out" '^daxcore [0-9.]+ demo: dcfs over ' \
        'dc_region_create\("[^"]+"\): '
    has "$1_dma_truncate" "$tmp/out" \
        'mount dcfs -o slow_wait_ms=0: ' \
        'create "data" and write 1 MiB of 0x5a: 256 blocks$' \
        'pin bytes 0-64 KiB of "data" for a DMA: pin set [0-9]+ \(dma#1\), 16 pages' \
        'dma#1 starts: the (uring|memcpy) engine writes 0xd1 into the pinned pages' \
        'another thread truncates "data" to 32 KiB' \
        'truncate of "data" from 32 KiB: waiting for 16 pinned pages, held by dma#1 \(pin [0-9]+, bytes 0-65535, pinned [0-9.]+ ms ago\)$' \
        'dma#1 completes: [0-9.]+ MiB moved by (uring|memcpy); it unpins' \
        'the truncate completes after [0-9.]+ ms: 248 blocks back to the allocator \(free blocks [0-9]+ -> [0-9]+\)$' \
        'read bytes 0-32 KiB: all 0xd1: the DMA.s data landed in the file$' \
        'dc_dcfs_check: consistent \(after the truncate\)$'
    has "$1_view" "$tmp/out" \
        'map a 64 KiB view of "data"' \
        'store 0x77 into view bytes 0-16 KiB: ' \
        'truncate "data" to 16 KiB under the view: no pin, no wait' \
        'a load in each page of the view: below 16 KiB 0x77, no signal; past it SIGBUS in 12 of 12 pages' \
        'a store at view \+16 KiB: SIGBUS too; the file is still 16 KiB$' \
        'unmap the view, close and unlink "data": every block is free again$'
    has "$1_quarantine" "$tmp/out" \
        'mount dcfs -o quarantine,slow_wait_ms=0: ' \
        'an RDMA registration \(rdma#2\) pins bytes 0-64 KiB of "scratch": 16 pages$' \
        'close and unlink "scratch" while rdma#2 holds it: no wait; 48 blocks free at once, 16 quarantined' \
        'the last unpin returns the quarantined blocks: quarantined 16 -> 0, free [0-9]+ -> [0-9]+$'
    has "$1_poison" "$tmp/out" \
        'reflink them into "clone": 4 blocks shared, none copied$' \
        'poison device page [0-9]+, block 1 of both files' \
        'memory failure reported to "original": bytes 4 KiB-8 KiB \(device page [0-9]+\)$' \
        'memory failure reported to "clone": bytes 4 KiB-8 KiB \(device page [0-9]+\)$' \
        'pread of block 1: -EIO in "original", -EIO in "clone"; blocks 0, 2, 3 read back intact$' \
        'the poisoned block 1 gets SIGBUS \(BUS_MCEERR_AR\)$'
    has "$1_removal" "$tmp/out" \
        'a NIC sends it: a read-only pin \(nic#3\), 16 pages$' \
        'another thread removes the device: dc_region_remove' \
        'removal waits: [0-9]+ folio references? outstanding' \
        'the mount is shut down \(DC_MF_PRE_REMOVE\): pread -EIO, create -EIO$' \
        'the view of "clone" was revoked: a load of block 0 gets SIGBUS \(BUS_ADRERR\); nic#3 still reads its pinned pages' \
        'nic#3 completes and unpins' \
        'removal completes after [0-9.]+ ms \([0-9]+ progress reports?\): the region is unmapped and freed$' \
        'unmount: the files are evicted without the region'
    has "$1_result" "$tmp/out" 'demo finished: all [0-9]+ checks held$'
    lacks "$1_no_failed_check" "$tmp/out" 'CHECK FAILED|FAILED:'
}

text_tests() {
    run demo_text 0 "$D" demo && { text_lines text; quiet_stderr text_stderr; }
    # The default is mem:256M; -d names another region (the same story).
    run demo_text_64m 0 "$D" demo -d mem:64M && text_lines text_64m
    run demo_text_order9 0 "$D" demo -d mem:64M,order=9 &&
        has demo_text_order9_done "$tmp/out" "demo finished: all"
    # The memcpy engine (the uring one's fallback, on demand): the same story.
    run demo_text_memcpy 0 env DAXCORE_DMA_URING=0 "$D" demo && {
        text_lines text_memcpy
        has text_memcpy_engine "$tmp/out" 'dma#1 starts: the memcpy engine' 'moved by memcpy'
        has text_memcpy_stderr "$tmp/err" '^daxcore: dma: io_uring unavailable \(DAXCORE_DMA_URING=0\): using memcpy$'
    }
}

json_tests() {
    run demo_json 0 "$D" demo --json || return
    quiet_stderr json_stderr
    if python3 - "$tmp/out" <<'EOF'
import json, sys
errs = []
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
objs = []
for i, l in enumerate(lines, 1):
    try:
        o = json.loads(l)
    except ValueError as e:
        errs.append("line %d is not JSON (%s): %s" % (i, e, l)); continue
    if not isinstance(o, dict):
        errs.append("line %d is not an object" % i); continue
    for k, t in (("t_ms", (int, float)), ("kind", str), ("text", str)):
        if not isinstance(o.get(k), t):
            errs.append("line %d: %s missing or of the wrong type" % (i, k))
    objs.append(o)
kinds = [o.get("kind") for o in objs]
want = ["section", "region", "mount", "write", "pin", "dma_start", "truncate_start",
        "slow_wait", "dma_done", "truncate_done", "read", "fsck", "view_map", "view_store",
        "view_load", "truncate", "sigbus", "unlink", "unmount", "unpin", "dma_write",
        "reflink", "poison", "memory_failure", "eio", "remove_start", "remove_wait",
        "shutdown", "remove_done", "result"]
for k in want:
    if k not in kinds:
        errs.append("no %s line" % k)
for k in ("check_failed", "fatal"):
    if k in kinds:
        errs.append("a %s line" % k)
# Lines come out in time order (each is stamped as it is printed).
ts = [o["t_ms"] for o in objs if isinstance(o.get("t_ms"), (int, float))]
if ts != sorted(ts):
    errs.append("t_ms goes backwards")
for o in objs:
    p = o.get("pages", "absent")
    if o.get("kind") in ("section", "note"):
        continue
    if p is not None and (not isinstance(p, dict) or sorted(p) != sorted(
            ["idle", "referenced", "pinned", "poisoned", "quarantined", "free"])):
        errs.append("%s: pages is %r" % (o.get("kind"), p))
    elif p is not None and any(v is not None and (not isinstance(v, int) or v < 0)
                               for v in p.values()):
        errs.append("%s: a page count is not a count: %r" % (o.get("kind"), p))
sw = [o for o in objs if o.get("kind") == "slow_wait"]
if len(sw) != 1:
    errs.append("%d slow_wait lines, expected 1" % len(sw))
else:
    s = sw[0]
    pins = s.get("pins") or [{}]
    if (s.get("op"), s.get("file"), s.get("offset"), s.get("pinned_pages"), len(pins),
            pins[0].get("tag"), pins[0].get("pages")) != ("truncate", "data", 32768, 16, 1,
                                                         "dma#1", 16):
        errs.append("slow_wait: %r" % s)
mf = sorted((o.get("file"), o.get("offset")) for o in objs if o.get("kind") == "memory_failure")
if mf != [("clone", 4096), ("original", 4096)]:
    errs.append("memory_failure reports: %r" % mf)
td = [o for o in objs if o.get("kind") == "truncate_done"]
if not td or td[0].get("blocks_freed") != 248 or td[0].get("size") != 32768:
    errs.append("truncate_done: %r" % td)
q = [o for o in objs if o.get("kind") == "unlink" and o.get("file") == "scratch"]
if not q or q[0].get("blocks_quarantined") != 16 or q[0]["pages"]["quarantined"] != 16:
    errs.append("the quarantine after the unlink: %r" % q)
res = objs[-1] if objs else {}
if res.get("kind") != "result" or res.get("ok") is not True or res.get("failed") != 0 \
        or not res.get("checks"):
    errs.append("the last line is not a successful result: %r" % res)
for e in errs:
    print("      " + e)
sys.exit(1 if errs else 0)
EOF
    then echo "ok    json_parsed"; else name=json_parsed; fail "see above"; fi
}

file_tests() {
    f="$tmp/region"; truncate -s 64M "$f"
    run demo_file 0 "$D" demo -d "file:$f" && text_lines file
}

errors_tests() {
    run demo_bad_spec 1 "$D" demo -d bogus:1 &&
        has demo_bad_spec_msg "$tmp/err" "^daxcore demo: bogus:1: region spec 'bogus:1': unknown backend 'bogus'" &&
        { [ -s "$tmp/out" ] && { name=demo_bad_spec_stdout; fail "stdout not empty"; } || echo "ok    demo_bad_spec_stdout"; }
    run demo_bad_size 1 "$D" demo -d mem:100 &&
        has demo_bad_size_msg "$tmp/err" '^daxcore demo: mem:100: '
    run demo_limited 1 "$D" demo -d mem:64M,type=limited &&
        has demo_limited_msg "$tmp/err" 'dcfs needs an fsdax region, this one is limited'
    run demo_devdax 1 "$D" demo -d mem:64M,type=devdax &&
        has demo_devdax_msg "$tmp/err" 'dcfs needs an fsdax region, this one is devdax'
    run demo_too_small 1 "$D" demo -d mem:512K &&
        has demo_too_small_msg "$tmp/err" 'too small for the demo'
    run demo_bad_json 1 "$D" demo --json -d bogus:1 &&
        python3 -c 'import json,sys; o=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(not (o and o[-1]["kind"] == "fatal" and o[-1]["ok"] is False))' "$tmp/out" &&
        echo "ok    demo_bad_json_fatal"
    run demo_unknown_option 2 "$D" demo --bogus &&
        has demo_unknown_option_msg "$tmp/err" "^daxcore demo: unknown option '--bogus'$"
    run demo_positional 2 "$D" demo mem:64M &&
        has demo_positional_msg "$tmp/err" "unexpected argument 'mem:64M'"
    run demo_missing_spec 2 "$D" demo -d && has demo_missing_spec_msg "$tmp/err" '-d needs a SPEC'
    run demo_two_specs 2 "$D" demo -d mem:64M -d mem:32M
    run demo_layers_json 2 "$D" demo --layers --json
    run demo_help 0 "$D" demo --help &&
        has demo_help_text "$tmp/out" '^usage: daxcore demo \[-d SPEC\] \[--json\]$' \
            '^       daxcore demo --layers \[SPEC\]$' '--json' '-d, --device SPEC'
    run help_lists_demo 0 "$D" help && has help_demo "$tmp/out" 'demo \[-d SPEC\] \[--json\]'
}

# demo --devdax: the device-dax story (tools/demo_devdax.c), text and JSON, its errors.
devdax_lines() {
    has "$1_device" "$tmp/out" '^daxcore [0-9.]+ demo: device-dax over mem:1G,order=9,type=devdax$' \
        'dc_region_create\("mem:1G,order=9,type=devdax"\): 1 GiB, 262144 pages, 2 MiB folios, devdax$' \
        'dc_devdax_open: the whole region is one device of 1 GiB, alignment 2 MiB'
    has "$1_views" "$tmp/out" \
        'mmaps that drivers/dax/device.c refuses: a 4 KiB view -EINVAL \(not a multiple of 2 MiB\), a private view -EINVAL, a view past the end -ENXIO$' \
        'view 1: device bytes 0-8 MiB, read-write; nothing is mapped until touched$' \
        'store 0x77 into view bytes 0-2 MiB: 1 fault, 1 entry: the whole 2 MiB mapped at once$' \
        'view 2: device bytes 0-2 MiB, read-only: it reads the 0x77 that view 1 stored' \
        'dc_devdax_check: consistent \(after the faults\)$'
    has "$1_pin" "$tmp/out" \
        'an RDMA NIC registers view bytes 1 MiB-1088 KiB \(rdma#1, pin_user through the view\): 16 pages, 1 folio pinned' \
        'rdma#1 writes 0xd1 into the pinned pages; view 1 reads it back$'
    has "$1_removal" "$tmp/out" \
        'another thread removes the device: dc_region_remove' \
        'removal waits: 1 folio reference outstanding' \
        'the device is killed \(kill_dev_dax, from DC_MF_PRE_REMOVE\): every entry zapped' \
        'a load through view 1 gets SIGBUS \(BUS_ADRERR\); a new view -ENXIO, a new pin -ENXIO; rdma#1 still reaches its pinned pages \(0xd1\)$' \
        'rdma#1 completes and unpins' \
        'removal completes after [0-9.]+ ms \([0-9]+ progress reports?\): the region is unmapped and freed$'
    has "$1_after" "$tmp/out" \
        'a load in each page: SIGBUS in 2048 of 2048 pages of view 1, 512 of 512 of view 2 \(BUS_ADRERR\)$' \
        'unmap both views, close the device \(dc_devdax_close\)$' \
        'demo finished: all [0-9]+ checks held$'
    lacks "$1_no_failed_check" "$tmp/out" 'CHECK FAILED|FAILED:'
}

devdax_tests() {
    run demo_devdax_text 0 "$D" demo --devdax && { devdax_lines devdax; quiet_stderr devdax_stderr; }
    run demo_devdax_spec 0 "$D" demo --devdax -d mem:64M,order=9,type=devdax &&
        has demo_devdax_spec_done "$tmp/out" '^daxcore [0-9.]+ demo: device-dax over mem:64M,order=9,type=devdax$' \
            'demo finished: all [0-9]+ checks held$'
    run demo_devdax_json 0 "$D" demo --devdax --json && quiet_stderr devdax_json_stderr
    if python3 - "$tmp/out" <<'EOF'
import json, sys
errs = []
objs = []
for i, l in enumerate(open(sys.argv[1], encoding="utf-8").read().splitlines(), 1):
    try:
        objs.append(json.loads(l))
    except ValueError as e:
        errs.append("line %d is not JSON (%s): %s" % (i, e, l))
kinds = [o.get("kind") for o in objs]
for k in ["section", "region", "open", "refused", "map", "store", "check", "pin", "dma",
          "remove_start", "remove_wait", "kill", "sigbus", "unpin", "remove_done", "close",
          "result"]:
    if k not in kinds:
        errs.append("no %s line" % k)
for k in ("check_failed", "fatal"):
    if k in kinds:
        errs.append("a %s line" % k)
one = lambda k: ([o for o in objs if o.get("kind") == k] or [{}])[0]
r = one("refused")
if (r.get("view_4k"), r.get("private"), r.get("past_end")) != ("-EINVAL", "-EINVAL", "-ENXIO"):
    errs.append("refused: %r" % r)
st = one("store")
if (st.get("faults"), st.get("entries")) != (1, 1):
    errs.append("store: %r" % st)
p = one("pin")
if (p.get("tag"), p.get("offset"), p.get("length"), p.get("folios")) != ("rdma#1", 1048576, 65536, 1):
    errs.append("pin: %r" % p)
pg = p.get("pages") or {}
if pg.get("pinned") != 512 or pg.get("free", 0) is not None:
    errs.append("pin: pages %r (one 2 MiB folio pinned, no allocator)" % pg)
k = one("kill")
if (k.get("killed"), k.get("entries"), k.get("live_entries")) != (True, 1, 0):
    errs.append("kill: %r" % k)
sb = [o for o in objs if o.get("kind") == "sigbus"]
if len(sb) != 2 or sb[0].get("si_code") != "BUS_ADRERR" or sb[0].get("map") != "-ENXIO" \
        or sb[0].get("pin") != "-ENXIO" \
        or (sb[1].get("view1_sigbus"), sb[1].get("view2_sigbus")) != (2048, 512):
    errs.append("sigbus: %r" % sb)
res = objs[-1] if objs else {}
if res.get("kind") != "result" or res.get("ok") is not True or res.get("failed") != 0:
    errs.append("the last line is not a successful result: %r" % res)
for e in errs:
    print("      " + e)
sys.exit(1 if errs else 0)
EOF
    then echo "ok    devdax_json_parsed"; else name=devdax_json_parsed; fail "see above"; fi
    run demo_devdax_fsdax 1 "$D" demo --devdax -d mem:64M &&
        has demo_devdax_fsdax_msg "$tmp/err" '^daxcore demo: mem:64M: demo --devdax needs a region of type devdax \(type=devdax, or devdax:\), this one is fsdax$'
    run demo_devdax_1g 1 "$D" demo --devdax -d mem:2G,order=18,type=devdax &&
        has demo_devdax_1g_msg "$tmp/err" 'tells the story of a 2 MiB-aligned device \(order=9\), this one.s alignment is 1 GiB$'
    # Too small for view 1 (8 MiB): the view past the end fails, and its
    # -ENXIO reads as past the end, not as a region being removed.
    run demo_devdax_small 1 "$D" demo --devdax -d mem:4M,order=9,type=devdax &&
        has demo_devdax_small_msg "$tmp/err" 'returned -ENXIO \(gone \(being removed, removed, killed or disabled\), or past the end of the device\): devdax map: \[0, \+8388608\) reaches past the end of the device \(4194304 bytes\)$'
    run demo_devdax_bad_spec 1 "$D" demo --devdax -d bogus:1 &&
        has demo_devdax_bad_spec_msg "$tmp/err" "^daxcore demo: bogus:1: region spec 'bogus:1': unknown backend 'bogus'"
    run demo_devdax_layers 2 "$D" demo --devdax --layers &&
        has demo_devdax_layers_msg "$tmp/err" '^daxcore demo: --devdax: --layers and --devdax are two demos: one at a time$'
    run demo_devdax_help 0 "$D" demo --help &&
        has demo_devdax_help_text "$tmp/out" '^       daxcore demo --devdax \[-d SPEC\] \[--json\]$' '--devdax '
}

layers_tests() {
    run demo_layers 0 "$D" demo --layers &&
        has demo_layers_end "$tmp/out" '^demo finished: every call returned what was expected$'
    run demo_layers_d 0 "$D" demo --layers -d mem:32M
}

case $group in
text|json|file|errors|layers|devdax) ${group}_tests;;
*) echo "cli_demo.sh: unknown group '$group'" >&2; exit 2;;
esac
[ $fails = 0 ]
