#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# check-exports.sh - keep src/libdaxcore.map equal to the public API.
#
# The public API is every declaration marked DC_API in include/daxcore/*.h.
# The version script must name each of them, one per line, sorted, no globs,
# and nothing else; the shared library must export exactly what the map names.
#
#   sh tools/check-exports.sh [SHARED_LIB]   check (default build/libdaxcore.so)
#   sh tools/check-exports.sh --print        print the symbols the headers declare
#   sh tools/check-exports.sh --fix          rewrite the map from the headers
#
# Run from the repository root; `make check` runs it.  Exit 0 when all is well.
set -u
map=src/libdaxcore.map
headers=$(ls include/daxcore/*.h)
tmp=$(mktemp -d /tmp/daxcore-exports-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Names declared DC_API in the headers: drop comments and preprocessor lines,
# join everything, split into declarations at ; { }, keep those that contain
# the word DC_API, and take the identifier before the first "(" (or, for an
# object, the last identifier).  Declarations may span lines and carry other
# attributes (DC_MUST_CHECK ...).
# shellcheck disable=SC2086
awk '
	{ text = text $0 "\n" }
	END {
		out = ""; n = length(text); i = 1
		while (i <= n) {                       # strip /* */ and // comments
			c = substr(text, i, 2)
			if (c == "/*") { j = index(substr(text, i + 2), "*/"); if (!j) break; i += j + 3; out = out " "; continue }
			if (c == "//") { j = index(substr(text, i), "\n"); if (!j) break; i += j - 1; continue }
			out = out substr(text, i, 1); i++
		}
		m = split(out, lines, "\n"); body = ""; cont = 0
		for (k = 1; k <= m; k++) {             # drop preprocessor lines
			l = lines[k]
			if (cont || l ~ /^[ \t]*#/) { cont = (l ~ /\\$/); continue }
			body = body " " l
		}
		m = split(body, decls, /[;{}]/)
		for (k = 1; k <= m; k++) {
			d = decls[k]
			if (d !~ /(^|[^A-Za-z0-9_])DC_API([^A-Za-z0-9_]|$)/) continue
			p = index(d, "(")
			if (p) d = substr(d, 1, p - 1)
			else sub(/[ \t]*(=.*|\[.*)$/, "", d)
			if (match(d, /[A-Za-z_][A-Za-z0-9_]*[ \t]*$/)) {
				s = substr(d, RSTART, RLENGTH); sub(/[ \t]+$/, "", s); print s
			}
		}
	}' $headers | LC_ALL=C sort -u >"$tmp/headers"

write_map() {
	{
		echo "/* Exported symbols of libdaxcore.so: the public API, every DC_API"
		echo " * declaration in include/daxcore/*.h, one per line, sorted."
		echo " * tools/check-exports.sh checks it (make check); --fix rewrites it. */"
		echo "DAXCORE_0 {"
		echo "	global:"
		sed 's/^/		/; s/$/;/' "$tmp/headers"
		echo "	local:"
		echo "		*;"
		echo "};"
	} >"$1"
}

case ${1:-} in
--print) cat "$tmp/headers"; exit 0;;
--fix) write_map "$map"; echo "check-exports: wrote $map ($(wc -l <"$tmp/headers") symbols)"; exit 0;;
esac
lib=${1:-build/libdaxcore.so}

bad=0
fail() { echo "check-exports: $*" >&2; bad=1; }
list() { sed 's/^/    /' "$1" >&2; }

if [ ! -s "$tmp/headers" ]; then
	fail "no DC_API declaration found in include/daxcore/*.h (run from the repository root)"
	exit 1
fi

# The map's global: entries, in file order.
awk '
	/^[ \t]*global:/ { g = 1; sub(/.*global:/, "") }
	/^[ \t]*local:/  { g = 0 }
	g {
		gsub(/\/\*[^*]*\*\//, "")
		n = split($0, w, /[ \t;]+/); c = 0
		for (i = 1; i <= n; i++) if (w[i] != "") { print w[i]; c++ }
		if (c > 1) printf "%d: %s\n", NR, $0 >"/dev/stderr"
	}' "$map" >"$tmp/map.raw" 2>"$tmp/multi"
if [ -s "$tmp/multi" ]; then
	fail "$map: one symbol per line:"; list "$tmp/multi"
fi
grep -n '[][*?]' "$tmp/map.raw" >"$tmp/globs"
if [ -s "$tmp/globs" ]; then
	fail "$map: no globs in global: (name every symbol):"; list "$tmp/globs"
fi
LC_ALL=C sort -u "$tmp/map.raw" >"$tmp/map"
if ! LC_ALL=C sort -c "$tmp/map.raw" 2>/dev/null || [ "$(wc -l <"$tmp/map")" != "$(wc -l <"$tmp/map.raw")" ]; then
	fail "$map: keep global: sorted (LC_ALL=C), one symbol per line, no duplicates"
fi
tr -d ' \t\n' <"$map" | grep -q 'local:\*;};$' || fail "$map: must end with 'local: *;' (nothing else exported)"

comm -23 "$tmp/headers" "$tmp/map" >"$tmp/missing"
if [ -s "$tmp/missing" ]; then
	fail "(a) declared DC_API in include/daxcore/*.h but missing from $map:"; list "$tmp/missing"
fi
comm -13 "$tmp/headers" "$tmp/map" >"$tmp/extra"
if [ -s "$tmp/extra" ]; then
	fail "(b) named in $map but declared DC_API in no include/daxcore/*.h:"; list "$tmp/extra"
fi

if [ ! -e "$lib" ]; then
	fail "(c) $lib not found: build it first (make)"
else
	# Defined dynamic symbols, less the version node itself (an ABS symbol).
	nm -D --defined-only "$lib" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' |
		LC_ALL=C sort -u >"$tmp/nm"
	comm -13 "$tmp/map" "$tmp/nm" >"$tmp/leak"
	if [ -s "$tmp/leak" ]; then
		fail "(c) $lib exports symbols that $map does not name:"; list "$tmp/leak"
	fi
	comm -23 "$tmp/map" "$tmp/nm" >"$tmp/undef"
	if [ -s "$tmp/undef" ]; then
		fail "(c) named in $map but not defined by $lib (no definition in src/, or not DC_API there):"
		list "$tmp/undef"
	fi
fi

if [ "$bad" = 0 ]; then
	echo "check-exports: $(wc -l <"$tmp/map") symbols: headers, $map and $lib agree"
else
	echo "check-exports: to regenerate the map from the headers: sh tools/check-exports.sh --fix" >&2
fi
exit $bad
