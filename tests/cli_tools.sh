#!/bin/sh
# cli_tools.sh GROUP DAXCORE - scripted tests of the tool's `info` command
# and its DMA engines (through the hidden test aid `dma-selftest`), each
# checking the exit status and the exact output lines docs/cli.md gives.
#   info  daxcore info (text, --json parsed by python3, errors), help, demo --layers
#   daxdev device-dax devices through libdaxctl on fake ones (tests/fakedax.sh:
#         a private mount namespace; needs root, else 77): info's list, a
#         devdax: region, each mode's error, the whole test_daxdev (and its
#         ASan build where built) with the fake devices and without,
#         test_region_devdax on the fake dax0.0
#   dma   both DMA engines on several regions (uring or its fallback), the
#         fallback on demand (DAXCORE_DMA_URING=0), bad arguments
#   uring the uring engine: io_uring O_DIRECT reads into the pinned pages
# Prints one line per check (ok, or FAIL with what differed); exits 0 if
# every check passed, 1 otherwise, 77 (with a SKIP line that says why) for
# uring where the engine falls back to memcpy on this machine.
group=$1; D=$2
[ -n "$group" ] && [ -x "$D" ] || { echo "usage: sh tests/cli_tools.sh info|daxdev|dma|uring build/daxcore" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/daxcore-cli-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() { echo "FAIL  $name: $*"; fails=$((fails+1)); }

# t NAME WANT_RC WANT_STDOUT WANT_STDERR CMD...: run CMD; compare its exit
# status, and its stdout and stderr with the expected text ("-": not
# compared; "": must be empty).
t() {
    name=$1; want_rc=$2; want_out=$3; want_err=$4; shift 4
    "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
    bad=0
    [ "$rc" = "$want_rc" ] || { fail "exit $rc, expected $want_rc"; bad=1; }
    for s in out err; do
        if [ $s = out ]; then want=$want_out; else want=$want_err; fi
        [ "$want" = "-" ] && continue
        if [ -z "$want" ]; then : >"$tmp/want"; else printf '%s\n' "$want" >"$tmp/want"; fi
        if ! cmp -s "$tmp/want" "$tmp/$s"; then
            fail "std$s differs (- expected, + got):"
            diff -u "$tmp/want" "$tmp/$s" | tail -n +3 | sed 's/^/      /'
            bad=1
        fi
    done
    [ $bad = 0 ] && echo "ok    $name"
}

# like NAME FILE REGEX: every line of FILE matches REGEX (grep -E), and it has one at least.
like() {
    if [ ! -s "$2" ] || grep -Evq "$3" "$2"; then
        fail "$(basename "$2") does not match /$3/:"; sed 's/^/      /' "$2"; return 1
    fi
    return 0
}

# What libdaxctl knows here, as dc_daxdev_lookup()'s message says it:
# "no device-dax device on this machine" or "dax0.0, dax0.1".
known_devs() {
    l=$("$D" info | sed -n 's/^\(dax[0-9.]*\): path=.*/\1/p' | paste -sd, | sed 's/,/, /g')
    echo "${l:-no device-dax device on this machine}"
}

info_tests() {
    t info_bad_suffix 1 "" "daxcore info: mem:12Q: size '12Q': unknown suffix 'Q' (use K, M, G or T)" \
        "$D" info mem:12Q
    t info_bad_backend 1 "" \
        "daxcore info: bogus:1: region spec 'bogus:1': unknown backend 'bogus' (mem, file, devdax)" \
        "$D" info bogus:1
    t info_not_devdax 1 "" "daxcore info: devdax:/dev/null: /dev/null: not a device-dax device: libdaxctl knows no character device 1:3 (it knows $(known_devs))" \
        "$D" info devdax:/dev/null
    t info_not_chardev 1 "" "daxcore info: devdax:/etc/passwd: /etc/passwd: not a character device, so not a device-dax device (those are /dev/daxX.Y)" \
        "$D" info devdax:/etc/passwd
    t info_no_such_dev 1 "" "daxcore info: devdax:/dev/dax-none: /dev/dax-none: No such file or directory" \
        "$D" info devdax:/dev/dax-none
    t info_mem 0 "spec: mem:64M
backend: mem
size: 67108864 (64 MiB)
pages: 16384
page_size: 4096
folio_size: 4096 (order 0)
folios: 16384
type: fsdax
map_unit: 4096 (order 0)
kernel_page_size: 4096
huge_pages: no
metadata_bytes: 262144
metadata_bytes_per_page: 16" "" "$D" info mem:64M
    t info_order9 0 "spec: mem:64M,order=9
backend: mem
size: 67108864 (64 MiB)
pages: 16384
page_size: 4096
folio_size: 2097152 (order 9)
folios: 32
type: fsdax
map_unit: 4096 (order 0)
kernel_page_size: 4096
huge_pages: no
metadata_bytes: 512
metadata_bytes_per_page: 0.03125" "" "$D" info mem:64M,order=9
    t info_limited 0 - "" "$D" info mem:1M,type=limited
    grep -qx 'type: limited' "$tmp/out" && grep -qx 'metadata_bytes: 0' "$tmp/out" ||
        { name=info_limited_lines; fail "no 'type: limited' and 'metadata_bytes: 0'"; }
    truncate -s 8M "$tmp/region"
    t info_file 0 - "" "$D" info "file:$tmp/region"
    grep -qx 'backend: file' "$tmp/out" && grep -qx 'size: 8388608 (8 MiB)' "$tmp/out" ||
        { name=info_file_lines; fail "no 'backend: file' and 'size: 8388608 (8 MiB)'"; }

    t info_json 0 - "" "$D" info --json mem:64M
    name=info_json_parse
    if command -v python3 >/dev/null 2>&1; then
        if python3 -c '
import json, sys
d = json.load(sys.stdin)
want = {"spec": "mem:64M", "backend": "mem", "size": 67108864, "pages": 16384,
        "page_size": 4096, "folio_size": 4096, "folio_order": 0, "folios": 16384,
        "type": "fsdax", "map_unit": 4096, "map_order": 0, "kernel_page_size": 4096,
        "huge_pages": False, "metadata_bytes": 262144, "metadata_bytes_per_page": 16}
sys.exit(0 if d == want else "got %r" % d)' <"$tmp/out"; then echo "ok    $name"; else fail "JSON"; fi
        [ "$(wc -l <"$tmp/out")" = 1 ] || fail "not one line"
        "$D" info --json mem:64M,order=9 | python3 -c 'import json,sys; d = json.load(sys.stdin); sys.exit(d["metadata_bytes_per_page"] != 0.03125)' ||
            { name=info_json_order9; fail "order=9: metadata_bytes_per_page"; }
    else
        echo "SKIP  $name: no python3"
    fi

    # No SPEC: the machine's device-dax devices (this one's, whatever they are).
    t info_list 0 - "" "$D" info
    if [ "$(head -n 1 "$tmp/out")" = "devdax_devices: 0" ]; then
        [ "$(sed -n 2p "$tmp/out")" = "no device-dax devices on this machine (libdaxctl lists none)" ] &&
            [ "$(wc -l <"$tmp/out")" = 2 ] || { name=info_list_none; fail "no 'none' line:"; cat "$tmp/out"; }
    else
        like info_list_devices "$tmp/out" \
            '^(devdax_devices: [1-9][0-9]*|dax[0-9]+\.[0-9]+: path=/dev/dax[0-9.]+ size=[0-9]+ \(.*\) align=([0-9]+ \(.*\)|unknown) mode=(devdax|system-ram|disabled) numa_node=([0-9]+|none) dev=[0-9]+:[0-9]+)$'
    fi
    t info_bad_option 2 "" "daxcore info: unknown option '--bogus'
usage: daxcore info [--json] [SPEC] (see 'daxcore info --help')" "$D" info --bogus mem:64M
    t info_two_specs 2 "" "daxcore info: too many arguments (one SPEC)
usage: daxcore info [--json] [SPEC] (see 'daxcore info --help')" "$D" info mem:1M mem:2M
    t info_help 0 - "" "$D" info --help
    head -n 1 "$tmp/out" | grep -qx 'usage: daxcore info \[--json\] \[SPEC\]' ||
        { name=info_help_text; fail "first line: $(head -n 1 "$tmp/out")"; }

    t help 0 - "" "$D" help
    grep -q '^  info \[--json\] \[SPEC\]$' "$tmp/out" || { name=help_info; fail "help lists no info"; }
    grep -q 'dma-selftest' "$tmp/out" && { name=help_hidden; fail "help lists dma-selftest"; }
    t demo_layers 0 - "" "$D" demo --layers
    t demo_layers_spec 0 - "" "$D" demo --layers mem:64M,order=9
    t demo_layers_bad 2 "" "daxcore demo: unknown option '--bogus'
run 'daxcore help' for usage" "$D" demo --layers --bogus
}

# Device-dax devices through libdaxctl, on fake ones: tests/fakedax.sh runs
# each command in a private mount namespace whose sysfs and /dev describe
# three devices (devdax, system-ram, disabled) or none.  Needs root; skips
# (77) where a private mount namespace cannot be had.
F() { unshare -m sh tests/fakedax.sh "$@"; }
daxdev_tests() {
    F none true 2>/dev/null || { echo "SKIP: tests/fakedax.sh cannot set up its mount namespace here (it needs root: unshare -m, mount, mknod)"; exit 77; }
    t daxdev_none 0 "devdax_devices: 0
no device-dax devices on this machine (libdaxctl lists none)" "" F none "$D" info
    t daxdev_none_json 0 '{"count": 0, "devices": [], "left_out": [], "message": "no device-dax devices on this machine (libdaxctl lists none)"}' "" \
        F none "$D" info --json
    t daxdev_list 0 "devdax_devices: 3
dax0.0: path=/dev/dax0.0 size=16777216 (16 MiB) align=2097152 (2 MiB) mode=devdax numa_node=0 dev=1:5
dax0.1: path=/dev/dax0.1 size=33554432 (32 MiB) align=2097152 (2 MiB, the dax region's) mode=system-ram numa_node=1 dev=1:7
dax0.2: path=/dev/dax0.2 size=8388608 (8 MiB) align=1073741824 (1 GiB) mode=disabled numa_node=none dev=1:9" "" F three "$D" info
    t daxdev_list_json 0 - "" F three "$D" info --json
    name=daxdev_list_json_parse
    if command -v python3 >/dev/null 2>&1; then
        if python3 -c '
import json, sys
d = json.load(sys.stdin)
dev = lambda n, s, a, src, m, node, mm: {"name": n, "path": "/dev/" + n, "size": s, "align": a,
        "align_source": src, "mode": m, "numa_node": node, "dev": mm}
want = {"count": 3, "message": None, "left_out": [], "devices": [
        dev("dax0.0", 16777216, 2097152, "device", "devdax", 0, "1:5"),
        dev("dax0.1", 33554432, 2097152, "region", "system-ram", 1, "1:7"),
        dev("dax0.2", 8388608, 1073741824, "device", "disabled", None, "1:9")]}
sys.exit(0 if d == want else "got %r" % d)' <"$tmp/out"; then echo "ok    $name"; else fail "JSON"; fi
    fi
    t daxdev_region 0 "spec: devdax:/dev/dax0.0
backend: devdax
size: 16777216 (16 MiB)
pages: 4096
page_size: 4096
folio_size: 2097152 (order 9)
folios: 8
type: devdax
map_unit: 2097152 (order 9)
kernel_page_size: 4096
huge_pages: no
metadata_bytes: 128
metadata_bytes_per_page: 0.03125
device: dax0.0
align: 2097152 (2 MiB)
align_source: libdaxctl (the device's)
mode: devdax
numa_node: 0" "" F three "$D" info devdax:/dev/dax0.0
    t daxdev_region_json 0 - "" F three "$D" info --json devdax:/dev/dax0.0,order=0
    grep -q '"folio_order": 0, .*"map_order": 9, .*"device": "dax0.0", "align": 2097152, "align_source": "libdaxctl (the device.s)", "mode": "devdax", "numa_node": 0}$' "$tmp/out" ||
        { name=daxdev_region_json_keys; fail "keys: $(cat "$tmp/out")"; }
    t daxdev_system_ram 1 "" "daxcore info: devdax:/dev/dax0.1: /dev/dax0.1: dax0.1 is in system-ram mode (its memory is online as system RAM; 'daxctl reconfigure-device -m devdax dax0.1' gives it back)" \
        F three "$D" info devdax:/dev/dax0.1
    t daxdev_disabled 1 "" "daxcore info: devdax:/dev/dax0.2: /dev/dax0.2: dax0.2 is disabled (no driver bound; 'daxctl enable-device dax0.2')" \
        F three "$D" info devdax:/dev/dax0.2
    t daxdev_unknown 1 "" "daxcore info: devdax:/dev/dax9.9: /dev/dax9.9: not a device-dax device: libdaxctl knows no character device 1:8 (it knows dax0.0, dax0.1, dax0.2)" \
        F three "$D" info devdax:/dev/dax9.9
    t daxdev_null 1 "" "daxcore info: devdax:/dev/null: /dev/null: not a device-dax device: libdaxctl knows no character device 1:3 (it knows no device-dax device on this machine)" \
        F none "$D" info devdax:/dev/null
    # dax0.0's node at /dev/mydax (fakedax.sh moved): libdaxctl leaves it
    # out, info says so; its node is still the device (described from sysfs).
    left="dax0.0: left out by libdaxctl: sysfs has it on the dax bus, but its node is not /dev/dax0.0 ('daxcore info devdax:NODE' describes it by its node)"
    t daxdev_moved 0 "devdax_devices: 2
dax0.1: path=/dev/dax0.1 size=33554432 (32 MiB) align=2097152 (2 MiB, the dax region's) mode=system-ram numa_node=1 dev=1:7
dax0.2: path=/dev/dax0.2 size=8388608 (8 MiB) align=1073741824 (1 GiB) mode=disabled numa_node=none dev=1:9
$left" "" F moved "$D" info
    t daxdev_moved_json 0 - "" F moved "$D" info --json
    grep -q '}\], "left_out": \["dax0.0"\], "message": null}$' "$tmp/out" ||
        { name=daxdev_moved_json_keys; fail "keys: $(cat "$tmp/out")"; }
    t daxdev_moved_none 0 "devdax_devices: 0
$left
$(echo "$left" | sed 's/dax0\.0/dax0.1/g')
$(echo "$left" | sed 's/dax0\.0/dax0.2/g')" "" F moved sh -c "rm /dev/dax0.1 /dev/dax0.2 && exec \"$D\" info"
    t daxdev_moved_region 0 - "" F moved "$D" info devdax:/dev/mydax
    grep -q '^device: dax0.0$' "$tmp/out" && grep -q '^align_source: sysfs (the device.s)$' "$tmp/out" &&
        grep -q '^size: 16777216 (16 MiB)$' "$tmp/out" && grep -q '^mode: devdax$' "$tmp/out" ||
        { name=daxdev_moved_region_keys; fail "keys: $(cat "$tmp/out")"; }
    # demo --devdax judges the device by dc_devdax_align(), and wants 2 MiB folios.
    t daxdev_demo_order0 1 - "daxcore demo: devdax:/dev/dax0.0,order=0: demo --devdax tells the story of a 2 MiB-aligned device (order=9) of one folio per 2 MiB entry; this one is 2 MiB-aligned, its folios are 4 KiB (order=0)" \
        F three "$D" demo --devdax -d devdax:/dev/dax0.0,order=0
    t daxdev_demo_1g 1 - "daxcore demo: devdax:/dev/dax0.0,order=9: demo --devdax tells the story of a 2 MiB-aligned device (order=9), this one's alignment is 1 GiB" \
        F big "$D" demo --devdax -d devdax:/dev/dax0.0,order=9
    # The library's own checks of the same devices: the whole test_daxdev
    # (every case passes with the three devices present: the list's sort,
    # truncation and round trip through dc_daxdev_lookup() included), and
    # without devices; its ASan+UBSan build too where it is built.
    bin=$(dirname "$D")/tests/test_daxdev
    if [ -x "$bin" ]; then
        for b in "$bin" "$(dirname "$D")/asan/tests/test_daxdev"; do
            [ -x "$b" ] || continue
            f=${b#"$(dirname "$D")/"}
            t "daxdev_library $f" 0 - "" F three env DAXCORE_TEST_FAKEDAX=three "$b"
            "$b" --list | grep -v '^fake_moved$' | sed 's/^/ok    /' >"$tmp/want"
            grep -v -e 'fake_moved' -e '^SKIP: runs inside tests/fakedax.sh moved' "$tmp/out" | cmp -s "$tmp/want" - ||
                { name="daxdev_library_all $f"; fail "not every case ok: $(cat "$tmp/out")"; }
            t "daxdev_library_none $f" 0 - "" F none "$b"
            t "daxdev_library_moved $f" 0 - - F moved env DAXCORE_TEST_FAKEDAX=moved "$b"
            grep -q '^ok    fake_moved$' "$tmp/out" ||
                { name="daxdev_library_moved_ran $f"; fail "no 'ok    fake_moved': $(cat "$tmp/out")"; }
        done
        t daxdev_region_test 0 "ok    type_and_size
ok    request_write_put" "" F three env DAXCORE_TEST_DEVDAX=/dev/dax0.0 "${bin%_daxdev}_region_devdax"
    else
        name=daxdev_library; fail "no $bin (make $bin)"
    fi
}

ok_re() { echo "^dma $1 ok bytes=[1-9][0-9]*\$"; }

dma_tests() {
    t dma_memcpy 0 - "" "$D" dma-selftest -e memcpy
    like dma_memcpy "$tmp/out" "$(ok_re memcpy)" && [ "$(wc -l <"$tmp/out")" = 1 ] ||
        fail "one 'dma memcpy ok' line"

    DAXCORE_DMA_URING=0; export DAXCORE_DMA_URING
    t dma_uring_fallback 0 - "daxcore: dma: io_uring unavailable (DAXCORE_DMA_URING=0): using memcpy" \
        "$D" dma-selftest -e uring
    unset DAXCORE_DMA_URING
    like dma_uring_fallback "$tmp/out" "$(ok_re memcpy)"

    for spec in mem:64M mem:64M,order=9 "file:$tmp/region"; do
        truncate -s 64M "$tmp/region"
        t "dma_both $spec" 0 - - "$D" dma-selftest -d "$spec"
        like "dma_both $spec" "$tmp/out" "$(ok_re '(uring|memcpy)')" &&
            [ "$(wc -l <"$tmp/out")" = 2 ] && [ "$(tail -n 1 "$tmp/out" | cut -d' ' -f2)" = memcpy ] ||
            fail "two lines, the second for memcpy"
    done

    t dma_bad_engine 2 "" "daxcore dma-selftest: unknown engine 'dma' (uring, memcpy)
usage: daxcore dma-selftest [-e uring|memcpy] [-d SPEC]
A test aid: runs the DMA engines (both, or the one -e names) on a dcfs
over SPEC (default mem:64M) and checks what they wrote and that
they released their pins; prints 'dma ENGINE ok bytes=N' per engine." "$D" dma-selftest -e dma
    t dma_missing_arg 2 "" - "$D" dma-selftest -d
    t dma_bad_spec 1 "" "daxcore dma-selftest: mem:12Q: size '12Q': unknown suffix 'Q' (use K, M, G or T)" \
        "$D" dma-selftest -e memcpy -d mem:12Q
    t dma_limited 1 "" "daxcore dma-selftest: dc_dcfs_mount: -EINVAL (invalid argument): dcfs mount: region mem:64M,type=limited is not of type fsdax" \
        "$D" dma-selftest -e memcpy -d mem:64M,type=limited
}

# The uring engine itself: io_uring O_DIRECT where the machine allows it;
# where it falls back to memcpy (with its reason), exit 77: skipped, why.
uring_tests() {
    t dma_uring 0 - - "$D" dma-selftest -e uring
    if grep -q '^dma uring ok' "$tmp/out"; then
        like dma_uring "$tmp/out" "$(ok_re uring)"
        like dma_uring "$tmp/err" \
            '^daxcore dma-selftest: uring: O_DIRECT through a temporary file in /.* \(.*, [0-9]+-byte blocks\)$'
        echo "      $(cat "$tmp/err")"
    elif like dma_uring "$tmp/out" "$(ok_re memcpy)" &&
         like dma_uring "$tmp/err" '^daxcore: dma: io_uring unavailable \(.+\): using memcpy$'; then
        [ $fails = 0 ] && { echo "SKIP: the uring engine fell back: $(cat "$tmp/err")"; exit 77; }
    fi
}

case $group in
info) info_tests;;
daxdev) daxdev_tests;;
dma) dma_tests;;
uring) uring_tests;;
*) echo "cli_tools.sh: unknown group '$group' (info, daxdev, dma, uring)" >&2; exit 2;;
esac
[ $fails = 0 ] || { echo "$fails failed"; exit 1; }
exit 0
