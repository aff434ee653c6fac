// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * util.c - what the tool's commands share: error names, sizes.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/*
 * "-EBUSY" for -EBUSY, "0" for 0: dc_errname() with the sign the return
 * value had; a number for a code the library has no name for (a few
 * buffers, so one printf can show several).
 */
const char *ename(int err)
{
	static char buf[4][32];
	static unsigned k;
	char *b = buf[k++ % 4];
	const char *name = dc_errname(err);

	if (err == 0)
		return "0";
	if (err > 0 || !strcmp(name, "E?"))
		snprintf(b, sizeof(buf[0]), "%d", err);
	else
		snprintf(b, sizeof(buf[0]), "-%s", name);
	return b;
}

/* "64 MiB", "4 KiB", "1 GiB", or bytes when not a whole unit. */
const char *size_str(uint64_t bytes, char *buf, size_t n)
{
	static const char *unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	while (u < 4 && bytes >= 1024 && !(bytes & 1023)) {
		bytes >>= 10;
		u++;
	}
	snprintf(buf, n, "%" PRIu64 " %s", bytes, unit[u]);
	return buf;
}

