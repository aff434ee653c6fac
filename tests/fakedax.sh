#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# fakedax.sh LAYOUT CMD... - run CMD in a private mount namespace whose
# /sys/bus/dax, /sys/dev/char and /dev describe device-dax devices that
# libdaxctl reads as real ones (it reads sysfs and stats /dev/daxX.Y).
#   none   a dax bus without devices
#   three  region 0 (align 2 MiB) with
#          dax0.0  16 MiB, align 2 MiB, bound to device_dax (devdax), node 0,
#                  character device 1:5 (that of /dev/zero: mmap works, so
#                  devdax:/dev/dax0.0 opens as a region)
#          dax0.1  32 MiB, no align of its own (the region's), bound to kmem
#                  (system-ram), node 1, 1:7
#          dax0.2  8 MiB, align 1 GiB, no driver (disabled), no node, 1:9
#          and /dev/dax9.9 (1:8), a character device libdaxctl does not list.
#   moved  three, but dax0.0's node is /dev/mydax, not /dev/dax0.0 (as a
#          container's bind mount or a udev rename leaves it): libdaxctl
#          leaves dax0.0 out, sysfs still has it.
#   big    dax0.0 alone: 2 GiB, align 1 GiB, devdax, node 0, 1:5.
# Each device's directory has its attributes, a driver link and a
# subsystem link (to the bus); /sys/dev/char/MAJOR:MINOR links to it, as
# the kernel's sysfs has it.
# A fake device is the character device of /dev/zero (or another of mem's):
# a region over it opens and its linear map works, but each mmap of
# /dev/zero is a memory object of its own, so views of such a region would
# not share its pages: the fake devices test libdaxctl's answers and the
# devdax: backend's use of them, not device-dax memory.
# The namespace has its own mounts only (unshare -m): the machine's sysfs and
# /dev are untouched.  Needs root (mknod, mount); run it as
#     unshare -m sh tests/fakedax.sh three CMD...
set -e
layout=$1; shift
S=/sys/bus/dax
if [ -d $S ]; then
    mount -t tmpfs fakedax $S
else # no dax bus on this machine (module not loaded): a bus directory of our own
    mount -t tmpfs fakebus /sys/bus
    mkdir $S
fi
mkdir -p $S/devices $S/drivers/device_dax $S/drivers/kmem $S/tree/region0/dax_region
echo 2097152 >$S/tree/region0/dax_region/align
echo 1073741824 >$S/tree/region0/dax_region/size
mount -t tmpfs fakechar /sys/dev/char
mount -t tmpfs fakedev /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
# name:size:align (0: none):target_node:driver (-: none):major:minor
case $layout in
none)  devs="";;
big)   devs="dax0.0:2147483648:1073741824:0:device_dax:1:5";;
three|moved)
       devs="dax0.0:16777216:2097152:0:device_dax:1:5 dax0.1:33554432:0:1:kmem:1:7
             dax0.2:8388608:1073741824:-1:-:1:9"
       mknod /dev/dax9.9 c 1 8;;
*)     echo "fakedax.sh: unknown layout '$layout' (none, three, moved, big)" >&2; exit 2;;
esac
for d in $devs; do
    IFS=: read -r n size align node drv maj min <<EOF
$d
EOF
    dir=$S/tree/region0/$n
    mkdir "$dir"
    echo "$size" >"$dir/size"
    [ "$align" = 0 ] || echo "$align" >"$dir/align"
    echo "$node" >"$dir/target_node"
    [ "$drv" = - ] || ln -s "$S/drivers/$drv" "$dir/driver"
    ln -s "$dir" "$S/devices/$n"
    mknod "/dev/$n" c "$maj" "$min"
    ln -s "$S" "$dir/subsystem"
    ln -s "$dir" "/sys/dev/char/$maj:$min"
done
[ "$layout" != moved ] || mv /dev/dax0.0 /dev/mydax
exec "$@"
