#!/bin/sh
# tests/cli_io.sh - scripted tests of `daxcore io` (issue 10, section 5):
# every command and its errors, each case checking the exact lines on
# standard output and standard error and the exit status.
#
#   sh tests/cli_io.sh DAXCORE [GROUP]     GROUP: files data sizes layout views
#                                          pins dma jobs device teardown devdax
#                                          usage (default: all of them)
#
# devdax: the io on a region of type devdax, served as one device-dax device
# (views, pins by device offset and through views, removal, poison, 4 KiB,
# 2 MiB and 1 GiB alignments, bad offsets, every refused file-system command).
#
# A case is one here-document: the script, then a line "--- out" and the
# expected standard output, then a line "--- err" and the expected standard
# error.  Two fields vary from run to run and are normalised on both sides
# before the comparison: age_ms=N (pins) and addresses (0xADDR); the uring
# engine's fallback notice (a machine without io_uring) is dropped.
# No case depends on timing: background jobs are observed with `blocked`,
# which polls within the tool (bounded), and DMAs end at `wait` or `unpin`.
# Prints one PASS/FAIL line per case; exits 1 if any failed.
bin=${1:?usage: sh tests/cli_io.sh DAXCORE [GROUP]}
only=${2:-all}
tmp=$(mktemp -d /tmp/daxcore-cli-io-XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0; fail=0

norm() {
    sed -e 's/age_ms=[0-9]*/age_ms=N/g' -e 's/0x[0-9a-f]\{6,\}/0xADDR/g' \
        -e '/^daxcore: dma: io_uring unavailable (.*): using memcpy$/d' "$1"
}

verdict() { # name rc want-rc
    if [ "$2" = "$3" ] && cmp -s "$tmp/want.out" "$tmp/got.out" &&
       cmp -s "$tmp/want.err" "$tmp/got.err"; then
        pass=$((pass + 1)); echo "PASS  io  $1"
    else
        fail=$((fail + 1)); echo "FAIL  io  $1 (exit $2, expected $3)"
        diff -u "$tmp/want.out" "$tmp/got.out" | sed 's/^/      out| /'
        diff -u "$tmp/want.err" "$tmp/got.err" | sed 's/^/      err| /'
    fi
}

# t NAME RC [IO-OPTION...] <<EOF  script / --- out / stdout / --- err / stderr
t() {
    name=$1; want=$2; shift 2
    cat >"$tmp/case"
    sed -n '/^--- out$/q;p' "$tmp/case" >"$tmp/script"
    sed -n '/^--- out$/,/^--- err$/p' "$tmp/case" | sed '1d;$d' >"$tmp/want.out"
    sed -n '/^--- err$/,$p' "$tmp/case" | sed '1d' >"$tmp/want.err"
    "$bin" io "$@" "$tmp/script" >"$tmp/out" 2>"$tmp/err"; rc=$?
    norm "$tmp/out" >"$tmp/got.out"; norm "$tmp/err" >"$tmp/got.err"
    verdict "$name" $rc "$want"
}

# u NAME RC ARG... <<EOF  expected stdout / --- err / stderr (io run with ARGs)
u() {
    name=$1; want=$2; shift 2
    cat >"$tmp/case"
    sed -n '/^--- err$/q;p' "$tmp/case" >"$tmp/want.out"
    sed -n '/^--- err$/,$p' "$tmp/case" | sed '1d' >"$tmp/want.err"
    "$bin" io "$@" >"$tmp/out" 2>"$tmp/err" </dev/null; rc=$?
    norm "$tmp/out" >"$tmp/got.out"; norm "$tmp/err" >"$tmp/got.err"
    verdict "$name" $rc "$want"
}

# ---- files: open, close, files, unlink, rename, fsync, stat ------------------------
group_files() {
t files 0 <<'EOF'
# open creates a file and makes it current; files lists the namespace
open a
pwrite 0 10K
open b
files
rename a c
files
stat            # b is current
open c
stat
fsync
unlink b
files
close
open c
close
--- out
wrote 10240 at 0
a size=10240 blocks=3
b size=0 blocks=0
c size=10240 blocks=3
b size=0 blocks=0
size=0 blocks=0 entries=0 pinned=0 zapped=0
size=10240 blocks=3 entries=0 pinned=0 zapped=0
c size=10240 blocks=3
--- err
EOF

t files_rename_over 0 <<'EOF'
open a
pwrite 0 4K
open b
pwrite 0 8K
rename a b      # replaces b: the tool's b is nameless now, a is called b
files
open b          # the old a
stat
--- out
wrote 4096 at 0
wrote 8192 at 0
b size=4096 blocks=1
size=4096 blocks=1 entries=0 pinned=0 zapped=0
--- err
EOF

t files_errors 1 <<'EOF'
close
stat
fsync
open
open a b
open a/b
unlink nosuch
rename nosuch x
open a
close
close
files extra
--- out
--- err
daxcore: close: no file is open (open NAME first)
daxcore: stat: no file is open (open NAME first)
daxcore: fsync: no file is open (open NAME first)
daxcore: open: usage: open NAME
daxcore: open: usage: open NAME
daxcore: open: dcfs: name 'a/b' contains '/'
daxcore: unlink: dcfs unlink: no file 'nosuch'
daxcore: rename: dcfs rename: no file 'nosuch'
daxcore: close: no file is open (open NAME first)
daxcore: files: usage: files
EOF
}

# ---- data: pwrite, pread ---------------------------------------------------------------
group_data() {
t data 1 <<'EOF'
open f
pwrite 0 8K
pwrite -S 0x11 4K 100
pread -v 0xcd 0 4K
pread 4K 100 -v 17      # options may follow the operands; decimal or hex
pread -v 0xcd 0 8K
pread 0 1M              # short at the end of file
pread -v 0 1M 4K        # past it: nothing read
pwrite 0x1000 1K
pwrite 1M 0
--- out
wrote 8192 at 0
wrote 100 at 4096
read 4096 at 0
verified
read 100 at 4096
verified
read 8192 at 0
mismatch at 4096
read 8192 at 0
read 0 at 1048576
verified
wrote 1024 at 4096
wrote 0 at 1048576
--- err
daxcore: pread: mismatch at 4096
EOF
}

# ---- sizes: numbers, bytes, options ------------------------------------------------------
group_sizes() {
t sizes 1 <<'EOF'
open f
pwrite 12Q 1
pwrite 0 1K5
pwrite 0x 1
pwrite 99999999999T 1
pwrite -S 256 0 1
pwrite -S x 0 1
pwrite -Q 0 1
pwrite -S
pwrite 0
pread -v -1 0 1
truncate 1P
truncate 0 -t soon
sleep 1s
mmap 0 zz
pin a 0 -4K
dma d 0 4K forever
pwrite 1G 1K
stat
--- out
wrote 1024 at 1073741824
size=1073742848 blocks=1 entries=0 pinned=0 zapped=0
--- err
daxcore: pwrite: bad offset '12Q': not a number
daxcore: pwrite: bad length '1K5': not a number
daxcore: pwrite: bad offset '0x': not a number
daxcore: pwrite: bad offset '99999999999T': out of range
daxcore: pwrite: bad byte '256': not a byte (0 to 255)
daxcore: pwrite: bad byte 'x': not a number
daxcore: pwrite: unknown option '-Q' (usage: pwrite [-S BYTE] OFF LEN)
daxcore: pwrite: option '-S' needs a value (usage: pwrite [-S BYTE] OFF LEN)
daxcore: pwrite: usage: pwrite [-S BYTE] OFF LEN
daxcore: pread: bad byte '-1': not a number
daxcore: truncate: bad size '1P': not a number
daxcore: truncate: bad deadline 'soon': not a number
daxcore: sleep: bad duration '1s': not a number
daxcore: mmap: bad length 'zz': not a number
daxcore: pin: bad length '-4K': not a number
daxcore: dma: bad duration 'forever': not a number
EOF
}

# ---- layout: truncate, fpunch, fzero, fcollapse, finsert, reflink ------------------------
group_layout() {
t layout 0 <<'EOF'
open f
pwrite 0 16K
fpunch 4K 4K
stat
pread -v 0 4K 4K
fzero 8K 4K
pread -v 0 8K 4K
pread -v 0xcd 12K 4K
fcollapse 0 4K          # the hole moves to 0
stat
pread -v 0 0 8K
finsert 0 8K
stat
pread -v 0 0 16K
pread -v 0xcd 16K 4K
truncate 4K
stat
truncate 1M
stat
pwrite -S 7 0 8K
open g
reflink f 0 4K 8K
stat
pread -v 7 4K 8K
pread -v 0 0 4K
--- out
wrote 16384 at 0
size=16384 blocks=3 entries=0 pinned=0 zapped=0
read 4096 at 4096
verified
read 4096 at 8192
verified
read 4096 at 12288
verified
size=12288 blocks=2 entries=0 pinned=0 zapped=0
read 8192 at 0
verified
size=20480 blocks=2 entries=0 pinned=0 zapped=0
read 16384 at 0
verified
read 4096 at 16384
verified
size=4096 blocks=0 entries=0 pinned=0 zapped=0
size=1048576 blocks=0 entries=0 pinned=0 zapped=0
wrote 8192 at 0
size=12288 blocks=2 entries=0 pinned=0 zapped=0
read 8192 at 4096
verified
read 4096 at 0
verified
--- err
EOF

t layout_errors 1 <<'EOF'
truncate 0
open f
pwrite 0 8K
fcollapse 0 1
fcollapse 0 8K
finsert 8K 4K
reflink nosuch 0 0 4K
reflink f 0 0
open g
reflink f 1 0 4K
truncate 8192T
truncate 0 -t 1 -t
--- out
wrote 8192 at 0
--- err
daxcore: truncate: no file is open (open NAME first)
daxcore: fcollapse: dcfs collapse: offset 0 and length 1 must be multiples of the block size 4096
daxcore: fcollapse: dcfs collapse: offset 0 + length must be below the size 8192
daxcore: finsert: dcfs insert: offset 8192 must be below the size 8192
daxcore: reflink: dcfs open: no file 'nosuch'
daxcore: reflink: usage: reflink SRC SOFF DOFF LEN [-t MS]
daxcore: reflink: dcfs reflink: offsets 1 and 0 must be multiples of the block size 4096
daxcore: truncate: dcfs truncate: 9007199254740992 is past the largest file (2^52)
daxcore: truncate: option '-t' needs a value (usage: truncate SIZE [-t MS])
EOF

t layout_timeout 1 <<'EOF'
# a pin makes truncate and punch wait: their deadline ends the wait, nothing changes
open f
pwrite 0 16K
pin p 4K 4K
truncate 0 -t 1
fpunch 0 16K -t 1
stat
unpin p
truncate 0 -t 1
stat
--- out
wrote 16384 at 0
pinned p pages=1
size=16384 blocks=4 entries=1 pinned=1 zapped=1
size=0 blocks=0 entries=0 pinned=0 zapped=0
--- err
daxcore: truncate: break layouts: device page 1 at index 1 is still pinned
daxcore: fpunch: break layouts: device page 1 at index 1 is still pinned
EOF

t layout_quarantine 0 -o quarantine <<'EOF'
# with the quarantine, truncate does not wait: the pinned block leaves the file
open f
pwrite 0 16K
pin p 4K 4K
truncate 0
stat
pages
unpin p
pages
--- out
wrote 16384 at 0
pinned p pages=1
size=0 blocks=0 entries=0 pinned=1 zapped=0
idle=16383 referenced=0 pinned=1 poisoned=0 quarantined=1 free=16383
idle=16384 referenced=0 pinned=0 poisoned=0 quarantined=0 free=16384
--- err
EOF
}

# ---- views: mmap, mwrite, mread, munmap, SIGBUS ---------------------------------------------
group_views() {
t views 0 <<'EOF'
open f
pwrite 0 16K
mmap 0 16K
mread 1 0 16K -v 0xcd
mwrite 1 4K 4K -S 0x5a
pread -v 0x5a 4K 4K
mmap -r 4K 8K
mread 2 0 4K -v 0x5a
pwrite -S 1 8K 4K
mread 2 4K 4K -v 1
mread 2 0 8K
munmap 1
munmap 2
--- out
wrote 16384 at 0
view 1
read 16384 at 0
verified
read 4096 at 4096
verified
view 2
read 4096 at 0
verified
wrote 4096 at 8192
read 4096 at 4096
verified
read 8192 at 0
--- err
EOF

t views_sigbus 1 <<'EOF'
# store through a view, truncate under it: loads past the new end get SIGBUS
open f
pwrite 0 64K
mmap 0 64K
mwrite 1 0 64K -S 0x33
pread -v 0x33 0 64K
truncate 16K
mread 1 0 16K -v 0x33
mread 1 0 20K -v 0x33
mwrite 1 32K 4K
pwrite 0 64K            # the file grows again: the view sees the new bytes
mread 1 32K 4K -v 0xcd
--- out
wrote 65536 at 0
view 1
read 65536 at 0
verified
read 16384 at 0
verified
SIGBUS at 16384
SIGBUS at 32768
wrote 65536 at 0
read 4096 at 32768
verified
--- err
daxcore: mread: SIGBUS at 16384
daxcore: mwrite: SIGBUS at 32768
EOF

t views_errors 1 <<'EOF'
mmap 0 4K
open f
pwrite 0 8K
mmap 1 4K
mmap 0 0
mmap -r 0 8K
mwrite 1 0 4K
mread 1 4K 8K
mread 2 0 1
mread x 0 1
munmap 1
munmap 1
mread 1 0 1
mpin m 1 0 4K
mwrite 1 0
--- out
wrote 8192 at 0
view 1
--- err
daxcore: mmap: no file is open (open NAME first)
daxcore: mmap: view map: offset 1 and length 4096 must be multiples of 4096 bytes, the length nonzero
daxcore: mmap: view map: offset 0 and length 0 must be multiples of 4096 bytes, the length nonzero
daxcore: mwrite: view 1 is read-only
daxcore: mread: bytes 4096+8192 are outside view 1 (8192 bytes)
daxcore: mread: no view 2
daxcore: mread: bad view number 'x': not a number
daxcore: munmap: view 1 was unmapped
daxcore: mread: view 1 was unmapped
daxcore: mpin: view 1 was unmapped
daxcore: mwrite: usage: mwrite N OFF LEN [-S BYTE]
EOF
}

# ---- pins: pin, mpin, unpin, pins, revocable pins ----------------------------------------------
group_pins() {
t pins 0 <<'EOF'
open f
pwrite 0 64K
pin a 0 16K
pin b 8K 100 -r
pins
stat
pages
unpin a
pins
truncate 256K
pin hole 128K 8K -r     # a read-only pin of a hole holds the zero page
pins
unpin hole
unpin b
mmap 0 64K
mpin m 1 4K 8K
pins
stat
unpin m
mpin r 1 0 4K -r
unpin r
pins
--- out
wrote 65536 at 0
pinned a pages=4
pinned b pages=1
a off=0 pages=4 age_ms=N
b off=8192 pages=1 age_ms=N
size=65536 blocks=16 entries=4 pinned=5 zapped=0
idle=16380 referenced=0 pinned=4 poisoned=0 quarantined=0 free=16368
b off=8192 pages=1 age_ms=N
pinned hole pages=0
b off=8192 pages=1 age_ms=N
hole off=131072 pages=0 age_ms=N
view 1
pinned m pages=2
m off=4096 pages=2 age_ms=N
size=262144 blocks=16 entries=6 pinned=2 zapped=0
pinned r pages=1
--- err
EOF

t pins_revoke 1 <<'EOF'
# a long-term pin (-l) is asked back: the tool's callback unpins at once
open f
pwrite 0 16K
pin l 8K 4K -l
pin p 12K 4K
pin k 0 4K -l           # outside the range: kept
truncate 8K -t 1        # l is asked back; p makes it wait until its deadline
pins
stat
unpin p
truncate 8K
fpunch 0 4K             # asks k back
pins
--- out
wrote 16384 at 0
pinned l pages=1
pinned p pages=1
pinned k pages=1
revoked l
p off=12288 pages=1 age_ms=N
k off=0 pages=1 age_ms=N
size=16384 blocks=4 entries=3 pinned=2 zapped=1
revoked k
--- err
daxcore: truncate: break layouts: device page 3 at index 3 is still pinned
EOF

t pins_errors 1 <<'EOF'
pin a 0 4K
open f
pwrite 0 8K
pin a 0 4K
pin a 4K 4K
unpin a
unpin a
unpin nosuch
pin b 4K 8K
pin b 0 0
pin toolongtag_abcdefghijklmnopqrstuvwxyz 0 4K
pin c 0 4K -x
mmap -r 0 8K
mpin m 1 0 4K
mpin m 1 4K 8K
mpin m 2 0 4K
unpin
pins now
--- out
wrote 8192 at 0
pinned a pages=1
view 1
--- err
daxcore: pin: no file is open (open NAME first)
daxcore: pin: tag 'a' is in use
daxcore: unpin: no pin tagged 'a'
daxcore: unpin: no pin tagged 'nosuch'
daxcore: pin: dcfs pin: bytes [4096, 12288) reach past the end of file (8192)
daxcore: pin: dcfs pin: bad argument (offset 0, length 0, flags 0)
daxcore: pin: tag 'toolongtag_abcdefghijklmnopqrstuvwxyz' is longer than 31 bytes
daxcore: pin: unknown option '-x' (usage: pin TAG OFF LEN [-l] [-r])
daxcore: mpin: view resolve: a write through the read-only view at 0xADDR
daxcore: mpin: bytes 4096+8192 are outside view 1 (8192 bytes)
daxcore: mpin: no view 2
daxcore: unpin: usage: unpin TAG
daxcore: pins: usage: pins
EOF
}

# ---- dma ------------------------------------------------------------------------------------
group_dma() {
t dma 0 <<'EOF'
open f
pwrite 0 64K
dma d 0 16K 600000 -e memcpy -S 0x42
pins
unpin d                 # cuts it short (a killed client): its pins go
pins
pread -v 0xcd 16K 4K
dma w 16K 4K 1 -e memcpy -S 0x43
wait                    # a DMA's end prints at the next command or at wait
pread -v 0x43 16K 4K
dma u 0 32K 1 -S 0x44   # the default engine, uring (or its memcpy fallback)
wait
pread -v 0x44 0 32K
truncate 128K
dma r 64K 8K 600000 -r  # a DMA that only reads: a hole pins the zero page
pins
unpin r
truncate 64K
# a long DMA makes a truncate wait
dma long 0 8K 600000 -e memcpy
bg truncate 4K
blocked 1
stat
unpin long
wait 1
stat
--- out
wrote 65536 at 0
dma d started
d off=0 pages=4 age_ms=N
dma d done
read 4096 at 16384
verified
dma w started
dma w done
read 4096 at 16384
verified
dma u started
dma u done
read 32768 at 0
verified
dma r started
r off=65536 pages=0 age_ms=N
dma r done
dma long started
job 1
job 1 blocked
size=65536 blocks=16 entries=8 pinned=2 zapped=1
dma long done
job 1 done: ok
size=4096 blocks=1 entries=1 pinned=0 zapped=0
--- err
EOF

t dma_errors 1 <<'EOF'
dma d 0 4K 10
open f
dma d 0 4K 10 -e memcpy
pwrite 0 8K
dma d 0 4K 10 -e dmaengine
dma d 0 4K 600000 -e memcpy
dma d 0 4K 10 -e memcpy
pin d 4K 4K
dma e 0 4K
dma e 0 4K 10 -r -S 1
unpin d
--- out
wrote 8192 at 0
dma d started
dma d done
--- err
daxcore: dma: no file is open (open NAME first)
daxcore: dma: dcfs pin: bytes [0, 4096) reach past the end of file (0)
daxcore: dma: unknown engine 'dmaengine' (uring, memcpy)
daxcore: dma: tag 'd' is in use
daxcore: pin: tag 'd' is in use
daxcore: dma: usage: dma TAG OFF LEN MS [-e uring|memcpy] [-S BYTE | -r]
daxcore: dma: -r (a DMA that only reads) takes no -S
EOF
}

# ---- jobs: bg, wait, blocked ----------------------------------------------------------------
group_jobs() {
t jobs_blocked 0 <<'EOF'
# the scenario: a truncate in the background waits for a pin until it is unpinned
open f
pwrite 0 64K
pin p 0 16K
bg truncate 4K
blocked 1
pins
unpin p
wait 1
stat
bg pwrite 0 8K
wait 2
blocked 2
--- out
wrote 65536 at 0
pinned p pages=4
job 1
job 1 blocked
p off=0 pages=4 age_ms=N
job 1 done: ok
size=4096 blocks=1 entries=1 pinned=0 zapped=0
job 2
wrote 8192 at 0
job 2 done: ok
job 2 not blocked
--- err
EOF

t jobs_evict 0 <<'EOF'
# the last close of an unlinked, pinned file waits (eviction); so does unlink
open f
pwrite 0 16K
pin p 0 4K
unlink f
bg close
blocked 1
files
unpin p
wait
open g
pwrite 0 4K
pin q 0 4K
close
bg unlink g
blocked 2
unpin q
wait 2
files
--- out
wrote 16384 at 0
pinned p pages=1
job 1
job 1 blocked
job 1 done: ok
wrote 4096 at 0
pinned q pages=1
job 2
job 2 blocked
job 2 done: ok
--- err
EOF

t jobs_errors 1 <<'EOF'
open f
pwrite 0 4K
bg
bg frob
bg bg pwrite 0 1
bg wait
bg blocked 1
bg open g
bg pread -v 1 0 1       # a job that fails: wait says how
wait 1
wait 1
wait 4
wait x
blocked 4
blocked
bg pwrite 0 4K
bg truncate 0
wait
wait
--- out
wrote 4096 at 0
job 1
read 1 at 0
mismatch at 0
job 1 done: mismatch at 0
job 2
job 3
wrote 4096 at 0
job 2 done: ok
job 3 done: ok
--- err
daxcore: bg: usage: bg CMD [ARGS]
daxcore: bg: unknown command 'frob'
daxcore: bg: 'bg' cannot run in the background
daxcore: bg: 'wait' cannot run in the background
daxcore: bg: 'blocked' cannot run in the background
daxcore: bg: 'open' cannot run in the background
daxcore: pread: mismatch at 0
daxcore: wait: job 1 was waited for already
daxcore: wait: no job 4
daxcore: wait: bad job number 'x': not a number
daxcore: blocked: no job 4
daxcore: blocked: usage: blocked N [-t MS]
EOF
}

# ---- device: poison, events, remove, pages, check ------------------------------------------
group_device() {
t device_poison 1 <<'EOF'
open a
pwrite -S 7 0 16K
open b
reflink a 0 0 16K
poison 4K
events
events
pread -v 7 0 4K
pread 4K 4K
open a
pread 4K 1
pages
fpunch 4K 4K
pwrite 4K 4K
pread -v 0xcd 4K 4K
poison 64K
check
--- out
wrote 16384 at 0
memory failure: a offset=4096
memory failure: b offset=4096
read 4096 at 0
verified
idle=16384 referenced=0 pinned=0 poisoned=1 quarantined=0 free=16380
wrote 4096 at 4096
read 4096 at 4096
verified
invariants ok
--- err
daxcore: pread: dcfs read: bytes at 4096 lie in a poisoned block
daxcore: pread: dcfs read: bytes at 4096 lie in a poisoned block
daxcore: poison: offset 65536 is a hole: no device page behind it
EOF

t device_slow_wait 0 -o slow_wait_ms=0 <<'EOF'
open f
pwrite 0 16K
pin x 0 4K
pin y 8K 4K
bg fpunch 0 16K
blocked 1
unpin x
unpin y
wait 1
events
pin z 4K 4K
unlink f                # an unlinked file is reported by its inode number
bg truncate 0
blocked 2
unpin z
wait 2
events
--- out
wrote 16384 at 0
pinned x pages=1
pinned y pages=1
job 1
job 1 blocked
job 1 done: ok
slow wait: f off=0 tags=x,y
pinned z pages=1
job 2
job 2 blocked
job 2 done: ok
slow wait: (unlinked ino 1) off=0 tags=z
--- err
EOF

t device_remove 1 <<'EOF'
open f
pwrite 0 16K
pin p 0 4K
pin l 4K 4K -l
mmap 0 16K
remove -t 1
pins
pwrite 0 4K
mread 1 0 4K
stat
unpin p
remove
remove
pages
poison 0
open g
check
munmap 1
close
--- out
wrote 16384 at 0
pinned p pages=1
pinned l pages=1
view 1
revoked l
p off=0 pages=1 age_ms=N
SIGBUS at 0
size=16384 blocks=4 entries=0 pinned=1 zapped=0
invariants ok
--- err
daxcore: remove: remove mem:64M: folio references still held: 1
daxcore: pwrite: dcfs: the file system was shut down (its region is going away)
daxcore: mread: SIGBUS at 0
daxcore: remove: the region was removed already
daxcore: pages: the region was removed
daxcore: poison: dcfs: the file system was shut down (its region is going away)
daxcore: open: dcfs: the file system was shut down (its region is going away)
EOF

t device_bg_remove 0 <<'EOF'
# removal waits for a pin in the background
open f
pwrite 0 16K
pin p 0 4K
bg remove
blocked 1
unpin p
wait 1
--- out
wrote 16384 at 0
pinned p pages=1
job 1
job 1 blocked
job 1 done: ok
--- err
EOF

t device_check 1 <<'EOF'
open f
pwrite 0 64K
pin p 0 4K
check
bg truncate 0
check
unpin p
wait
check
check now
help x
--- out
wrote 65536 at 0
pinned p pages=1
invariants ok
job 1
job 1 done: ok
invariants ok
--- err
daxcore: check: job 1 is running: wait for it first
daxcore: check: usage: check
daxcore: help: usage: help
EOF
}

# ---- teardown: what a script leaves is cleaned up -----------------------------------------------
group_teardown() {
t teardown 0 <<'EOF'
# a pin, a long-term pin, a view, a DMA and a job waiting for a pin: the end of
# the run unpins, lets the DMA and the job finish, unmaps, unmounts, removes
open f
pwrite 0 64K
pin p 32K 4K
pin l 0 4K -l           # outside the truncated range
mmap 0 64K
mread 1 0 4K
dma d 48K 4K 600000 -e memcpy   # cut short at the end
bg truncate 32K
--- out
wrote 65536 at 0
pinned p pages=1
pinned l pages=1
view 1
read 4096 at 0
dma d started
job 1
dma d done
job 1 done: ok
--- err
EOF

t teardown_quarantine 0 -o quarantine <<'EOF'
open f
pwrite 0 64K
pin p 0 64K
unlink f
close
--- out
wrote 65536 at 0
pinned p pages=16
--- err
EOF
}

# ---- devdax: a region of type devdax is one device-dax device, no file system ----------
group_devdax() {
t devdax_views 1 -d mem:1G,order=9,type=devdax <<'EOF'
# a device of 2 MiB alignment: views of whole 2 MiB entries
mmap 0 4M
mwrite 1 0 4M -S 0x5a
mread 1 0 4M -v 0x5a
mmap -r 2M 2M
mread 2 0 2M -v 0x5a
mwrite 2 0 1
mwrite 1 2M 4096 -S 0x11
mread 2 0 4096 -v 0x11
munmap 2
mread 2 0 1
pages
check
--- out
view 1
read 4194304 at 0
verified
view 2
read 2097152 at 0
verified
read 4096 at 0
verified
idle=261120 referenced=1024 pinned=0 poisoned=0 entries=2 zapped=0
invariants ok
--- err
daxcore: mwrite: view 2 is read-only
daxcore: mread: view 2 was unmapped
EOF

t devdax_pins 1 -d mem:1G,order=9,type=devdax <<'EOF'
# pins by device offset and through a view
pin a 4096 100
mmap 0 4M
mpin b 1 2M 2M
pin -r c 0 1
pins
pages
check
unpin a
unpin b
unpin c
unpin a
pages
--- out
pinned a pages=1
view 1
pinned b pages=512
pinned c pages=1
a off=4096 pages=1 age_ms=N
b off=2097152 pages=512 age_ms=N
c off=0 pages=1 age_ms=N
idle=261120 referenced=0 pinned=1024 poisoned=0 entries=2 zapped=0
invariants ok
idle=261120 referenced=1024 pinned=0 poisoned=0 entries=2 zapped=0
--- err
daxcore: unpin: no pin tagged 'a'
EOF

t devdax_remove 1 -d mem:1G,order=9,type=devdax <<'EOF'
# removal waits for the pin; the device is killed meanwhile; SIGBUS after
mmap 0 4M
mwrite 1 0 4M
pin dma 1M 64K
bg remove
blocked 1
mread 1 0 4096
pages
pin late 2M 4096
mpin late 1 0 4096
mmap 0 2M
unpin dma
wait
mread 1 2M 4096
pages
remove
check
--- out
view 1
pinned dma pages=16
job 1
job 1 blocked
SIGBUS at 0
idle=261632 referenced=0 pinned=512 poisoned=0 entries=1 zapped=1
job 1 done: ok
SIGBUS at 2097152
invariants ok
--- err
daxcore: mread: SIGBUS at 0
daxcore: pin: devdax pin: the device is killed
daxcore: mpin: devdax pin: the device is killed
daxcore: mmap: devdax map: the device is killed
daxcore: mread: SIGBUS at 2097152
daxcore: pages: the region was removed
daxcore: remove: the region was removed already
EOF

t devdax_fs 1 -d mem:1G,order=9,type=devdax <<'EOF'
# a device has no files
open f
close
files
unlink f
rename a b
pwrite 0 4K
pread 0 4K
truncate 0
fpunch 0 4K
fzero 0 4K
fcollapse 0 4K
finsert 0 4K
reflink f 0 0 4K
fsync
stat
events
bg truncate 0
wait
dma d 0 4K 10
pin -l p 0 4K
pins
check
--- out
job 1
job 1 done: not a file system (device-dax)
invariants ok
--- err
daxcore: open: not a file system (device-dax)
daxcore: close: not a file system (device-dax)
daxcore: files: not a file system (device-dax)
daxcore: unlink: not a file system (device-dax)
daxcore: rename: not a file system (device-dax)
daxcore: pwrite: not a file system (device-dax)
daxcore: pread: not a file system (device-dax)
daxcore: truncate: not a file system (device-dax)
daxcore: fpunch: not a file system (device-dax)
daxcore: fzero: not a file system (device-dax)
daxcore: fcollapse: not a file system (device-dax)
daxcore: finsert: not a file system (device-dax)
daxcore: reflink: not a file system (device-dax)
daxcore: fsync: not a file system (device-dax)
daxcore: stat: not a file system (device-dax)
daxcore: events: not a file system (device-dax)
daxcore: truncate: not a file system (device-dax)
daxcore: dma: not on device-dax (the DMA engines take dcfs pin sets; 'pin TAG OFF LEN' pins device bytes)
daxcore: pin: -l: device-dax pins are long-term already (nothing revokes them: removal waits for them)
EOF

t devdax_bad 1 -d mem:1G,order=9,type=devdax <<'EOF'
# offsets and lengths the device refuses
mmap 1M 2M
mmap 0 4K
mmap 0 0
mmap 0 2G
mmap 1G 2M
mmap 1022M 4M
mmap 0 2M
mread 1 2M 1
mpin x 1 1M 2M
pin x 1G 1
pin x 1073741823 2
pin x 0 0
pin x nope 1
poison 1G
mmap -r 0 2M
mpin x 2 0 4096
unpin x
pins
check
--- out
view 1
view 2
invariants ok
--- err
daxcore: mmap: devdax map: [1048576, +2097152) is not a nonzero multiple of the device alignment (2097152 bytes)
daxcore: mmap: devdax map: [0, +4096) is not a nonzero multiple of the device alignment (2097152 bytes)
daxcore: mmap: devdax map: [0, +0) is not a nonzero multiple of the device alignment (2097152 bytes)
daxcore: mmap: devdax map: [0, +2147483648) reaches past the end of the device (1073741824 bytes)
daxcore: mmap: devdax map: [1073741824, +2097152) reaches past the end of the device (1073741824 bytes)
daxcore: mmap: devdax map: [1071644672, +4194304) reaches past the end of the device (1073741824 bytes)
daxcore: mread: bytes 2097152+1 are outside view 1 (2097152 bytes)
daxcore: mpin: bytes 1048576+2097152 are outside view 1 (2097152 bytes)
daxcore: pin: devdax pin: [1073741824, +1) reaches past the end of the device (1073741824 bytes)
daxcore: pin: devdax pin: [1073741823, +2) reaches past the end of the device (1073741824 bytes)
daxcore: pin: devdax pin: zero length
daxcore: pin: bad offset 'nope': not a number
daxcore: poison: offset 1073741824 is past the end of the device (1073741824 bytes)
daxcore: mpin: view resolve: a write through the read-only view at 0xADDR
daxcore: unpin: no pin tagged 'x'
EOF

t devdax_poison 1 -d mem:1G,order=9,type=devdax <<'EOF'
mmap 0 4M
mwrite 1 0 4M -S 0x33
poison 2M
pages
mread 1 0 4096 -v 0x33
mread 1 2M 1
pin p 2M 4096
pin q 0 4096
unpin q
check
--- out
view 1
idle=261632 referenced=512 pinned=0 poisoned=512 entries=1 zapped=0
read 4096 at 0
verified
SIGBUS at 2097152
pinned q pages=1
invariants ok
--- err
daxcore: mread: SIGBUS at 2097152
daxcore: pin: devdax fault: device page 512 is poisoned
EOF

# A memory failure under a pin zaps the entry on a device that was never
# killed: zapped=1 until the unpin deletes it (docs/cli.md, `pages`).
t devdax_poison_pinned 0 -d mem:64M,order=9,type=devdax <<'EOF'
pin a 0 1M
poison 4096
pages
unpin a
pages
check
--- out
pinned a pages=256
idle=15872 referenced=0 pinned=512 poisoned=512 entries=1 zapped=1
idle=16384 referenced=0 pinned=0 poisoned=512 entries=0 zapped=0
invariants ok
--- err
EOF

t devdax_1g 1 -d mem:2G,order=18,type=devdax <<'EOF'
# a 1 GiB-aligned device: one entry maps 1 GiB, one pin pins it as one folio
mmap 0 1G
mwrite 1 0 4096 -S 0x7e
mwrite 1 1023M 4096 -S 0x7e
pages
pin a 0 1G
pages
unpin a
mmap 0 2M
check
--- out
view 1
idle=262144 referenced=262144 pinned=0 poisoned=0 entries=1 zapped=0
pinned a pages=262144
idle=262144 referenced=0 pinned=262144 poisoned=0 entries=1 zapped=0
invariants ok
--- err
daxcore: mmap: devdax map: [0, +2097152) is not a nonzero multiple of the device alignment (1073741824 bytes)
EOF

t devdax_4k 0 -d mem:64M,type=devdax <<'EOF'
mmap 4K 8K
mwrite 1 0 8K
pin a 4K 4K
pages
unpin a
--- out
view 1
pinned a pages=1
idle=16382 referenced=1 pinned=1 poisoned=0 entries=2 zapped=0
--- err
EOF

u devdax_mount_options 1 -d mem:64M,type=devdax -o sync -c pages <<'EOF'
--- err
daxcore io: -o sync: mount options are for dcfs; mem:64M,type=devdax is a device-dax region
EOF
}

# ---- usage: io's own options --------------------------------------------------------------------
group_usage() {
u usage_none 2 <<'EOF'
--- err
daxcore io: no commands (-c CMD, SCRIPT, or - for standard input)
run 'daxcore io --help' for usage
EOF
u usage_unknown_option 2 -x <<'EOF'
--- err
daxcore io: unknown option '-x'
run 'daxcore io --help' for usage
EOF
u usage_missing_value 2 -c <<'EOF'
--- err
daxcore io: option '-c' needs a value
run 'daxcore io --help' for usage
EOF
u usage_two_scripts 2 a b <<'EOF'
--- err
daxcore io: too many arguments (one SCRIPT at most)
EOF
u usage_no_script 1 /nonexistent/script <<'EOF'
--- err
daxcore io: /nonexistent/script: No such file or directory
EOF
u usage_bad_spec 1 -d bogus:1 -c stat <<'EOF'
--- err
daxcore io: region spec 'bogus:1': unknown backend 'bogus' (mem, file, devdax)
EOF
u usage_bad_mount_option 1 -o frob -c stat <<'EOF'
--- err
daxcore io: mount: dcfs: unknown mount option 'frob'
EOF
u usage_commands 0 -d mem:16M,order=9 -o sync -c "open f" -c "pwrite 0 2M" -c "stat" -c pages <<'EOF'
wrote 2097152 at 0
size=2097152 blocks=512 entries=0 pinned=0 zapped=0
idle=4096 referenced=0 pinned=0 poisoned=0 quarantined=0 free=3584
--- err
EOF
u usage_unknown_command 1 -c frob -c "# a comment" -c "" -c help <<'EOF'
open NAME
close
files
unlink NAME
rename OLD NEW
pwrite [-S BYTE] OFF LEN
pread [-v BYTE] OFF LEN
truncate SIZE [-t MS]
fpunch OFF LEN [-t MS]
fzero OFF LEN [-t MS]
fcollapse OFF LEN [-t MS]
finsert OFF LEN [-t MS]
reflink SRC SOFF DOFF LEN [-t MS]
fsync
mmap [-r] OFF LEN
mwrite N OFF LEN [-S BYTE]
mread N OFF LEN [-v BYTE]
munmap N
pin TAG OFF LEN [-l] [-r]
mpin TAG N OFF LEN [-r]
unpin TAG
pins
dma TAG OFF LEN MS [-e uring|memcpy] [-S BYTE | -r]
bg CMD [ARGS]
wait [N]
blocked N [-t MS]
sleep MS
poison OFF
remove [-t MS]
stat
pages
events
check
help
--- err
daxcore: frob: unknown command (try 'help')
EOF
# a script on standard input, after the -c commands
printf 'pwrite 0 4K # the rest is a comment\nstat\n' >"$tmp/stdin"
"$bin" io -c "open f" - <"$tmp/stdin" >"$tmp/out" 2>"$tmp/err"; rc=$?
printf 'wrote 4096 at 0\nsize=4096 blocks=1 entries=0 pinned=0 zapped=0\n' >"$tmp/want.out"
: >"$tmp/want.err"
norm "$tmp/out" >"$tmp/got.out"; norm "$tmp/err" >"$tmp/got.err"
verdict usage_stdin $rc 0
"$bin" io --help >"$tmp/out" 2>"$tmp/err"; rc=$?
if [ $rc = 0 ] && grep -q '^usage: daxcore io ' "$tmp/out" && [ ! -s "$tmp/err" ]; then
    pass=$((pass + 1)); echo "PASS  io  usage_help"
else
    fail=$((fail + 1)); echo "FAIL  io  usage_help (exit $rc)"
fi
}

for g in files data sizes layout views pins dma jobs device teardown devdax usage; do
    if [ "$only" = all ] || [ "$only" = "$g" ]; then group_$g; fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
