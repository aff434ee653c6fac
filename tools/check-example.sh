#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# check-example.sh - build README.md's C example against an installed daxcore
# with pkg-config, and run it.
#
#   sh tools/check-example.sh shared|static
#
# The example is the first ```c block after the heading "## Using the
# library", taken as it stands, compiled with -Wall -Wextra -Werror.
#   shared: `pkg-config --cflags --libs daxcore`; the program must need
#           libdaxcore.so.0 and load it from the installed library directory.
#   static: `pkg-config --static --cflags --libs daxcore` with -ldaxcore
#           wrapped in -Wl,-Bstatic ... -Wl,-Bdynamic, so libdaxcore.a is
#           linked (liburcu-bp and libc stay shared); the program must not
#           need libdaxcore.so at all.
# Environment (make check sets it): DC_TEST_DESTDIR (the DESTDIR installed
# into), DC_TEST_LIBDIR and DC_TEST_PKGCONFIGDIR (LIBDIR and PKGCONFIGDIR as
# given to make install), DC_TEST_VERSION, CC.
set -u
mode=${1:?usage: check-example.sh shared|static}
dest=${DC_TEST_DESTDIR:?DC_TEST_DESTDIR: where make install put daxcore}
libdir=$dest${DC_TEST_LIBDIR:?}
pcdir=$dest${DC_TEST_PKGCONFIGDIR:?}
cc=${CC:-cc}
work=build/example-$mode
die() { echo "check-example ($mode): $*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work" || die "cannot create $work"
awk '
	/^## Using the library[ \t]*$/ { sec = 1; next }
	sec && !code && /^```c[ \t]*$/ { code = 1; next }
	code && /^```[ \t]*$/ { exit }
	code { print }' README.md >"$work/example.c"
[ -s "$work/example.c" ] || die "README.md: no \`\`\`c block after \"## Using the library\""

# pkg-config must find the daxcore.pc under DESTDIR, and its paths must
# resolve into DESTDIR (the sysroot).
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$dest"
found=$(pkg-config --variable=pcfiledir daxcore) || die "pkg-config does not find daxcore in $pcdir"
[ "$found" = "$pcdir" ] || die "pkg-config found daxcore in $found, not $pcdir"
if [ -n "${DC_TEST_VERSION:-}" ]; then
	v=$(pkg-config --modversion daxcore)
	[ "$v" = "$DC_TEST_VERSION" ] || die "daxcore.pc says version $v, the Makefile $DC_TEST_VERSION"
fi

case $mode in
shared)
	flags=$(pkg-config --cflags --libs daxcore) || die "pkg-config --cflags --libs daxcore failed";;
static)
	flags=$(pkg-config --static --cflags --libs daxcore) || die "pkg-config --static --cflags --libs daxcore failed"
	case " $flags " in *" -ldaxcore "*) ;; *) die "no -ldaxcore in: $flags";; esac
	flags=$(echo " $flags " | sed 's/ -ldaxcore / -Wl,-Bstatic -ldaxcore -Wl,-Bdynamic /');;
*)	die "mode must be shared or static";;
esac
echo "$cc -std=gnu11 -Wall -Wextra -Werror $work/example.c -o $work/example $flags"
# shellcheck disable=SC2086
$cc -std=gnu11 -Wall -Wextra -Werror "$work/example.c" -o "$work/example" $flags ||
	die "the README example does not build"

needed=$(readelf -d "$work/example" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
# shellcheck disable=SC2086
echo "NEEDED:" $needed
case $mode in
shared)
	echo "$needed" | grep -qx 'libdaxcore\.so\.0' || die "the program does not need libdaxcore.so.0"
	loaded=$(LD_LIBRARY_PATH="$libdir" ldd "$work/example" | awk '$1 == "libdaxcore.so.0" { print $3 }')
	[ "$loaded" = "$libdir/libdaxcore.so.0" ] ||
		die "libdaxcore.so.0 resolves to '${loaded:-nothing}', not $libdir/libdaxcore.so.0"
	echo "libdaxcore.so.0 => $loaded"
	LD_LIBRARY_PATH="$libdir" "$work/example" || die "the example exited $?";;
static)
	echo "$needed" | grep -q 'libdaxcore' && die "linked against the shared library, not libdaxcore.a"
	nm "$work/example" | grep -q ' T dc_region_create$' || die "dc_region_create is not in the program"
	env -u LD_LIBRARY_PATH "$work/example" || die "the example exited $?";;
esac
echo "check-example ($mode): ok"
