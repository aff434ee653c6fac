// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * util.c - what the tool's commands share: error names, sizes, number
 * parsing, JSON strings.
 */
#include "cli.h"

#include <errno.h>
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


/* The value of hex digit @c, or -1. */
static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The number at the start of @s (decimal, or hex after "0x"/"0X"), with
 * *@end at the first character after it.  -EINVAL: no digit; -ERANGE: it
 * does not fit in 64 bits.
 */
static int parse_number(const char *s, uint64_t *out, const char **end)
{
	unsigned base = 10;
	uint64_t v = 0;
	const char *p = s;
	int d;

	if (!s)
		return -EINVAL;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (base == 16 ? hexval(*p) < 0 : !(*p >= '0' && *p <= '9'))
		return -EINVAL;
	for (; (d = base == 16 ? hexval(*p) : (*p >= '0' && *p <= '9') ? *p - '0' : -1) >= 0;
	     p++) {
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return -ERANGE;
		v = v * base + (uint64_t)d;
	}
	*out = v;
	*end = p;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	const char *end;
	unsigned shift = 0;
	uint64_t v;
	int ret = parse_number(s, &v, &end);

	if (ret)
		return ret;
	switch (*end) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if (shift && end[1])
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int parse_byte(const char *s, int *out)
{
	const char *end;
	uint64_t v;
	int ret = parse_number(s, &v, &end);

	if (ret)
		return ret;
	if (*end)
		return -EINVAL;
	if (v > 255)
		return -ERANGE;
	*out = (int)v;
	return 0;
}

/* @s as a JSON string (quoted, escaped) on @f. */
void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}
