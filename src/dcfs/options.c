// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * options.c - mount options: one table, parsed from a comma list
 * ("sync,slow_wait_ms=100").  Each option is documented in dcfs.h.
 */
#include "dcfs/dcfs_int.h"
#include <stddef.h>

enum opt_kind { OPT_FLAG, OPT_MS, OPT_AROUND };

static const struct {
	const char *name;
	enum opt_kind kind;
	size_t off; /* in struct dcfs_options */
} options[] = {
	{ "sync", OPT_FLAG, offsetof(struct dcfs_options, sync) },
	{ "quarantine", OPT_FLAG, offsetof(struct dcfs_options, quarantine) },
	{ "slow_wait_ms", OPT_MS, offsetof(struct dcfs_options, slow_wait_ms) },
	{ "deadline_ms", OPT_MS, offsetof(struct dcfs_options, deadline_ms) },
	{ "fault_around", OPT_AROUND, offsetof(struct dcfs_options, fault_around) },
};

#define MS_MAX (UINT64_C(1) << 40) /* about 35 years */

static int parse_one(const char *s, size_t len, struct dcfs_options *o)
{
	const char *eq = memchr(s, '=', len);
	size_t nlen = eq ? (size_t)(eq - s) : len;

	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		char *field = (char *)o + options[i].off;
		char buf[24], *end;
		size_t vlen;
		unsigned long long v;

		if (strlen(options[i].name) != nlen || memcmp(options[i].name, s, nlen))
			continue;
		if (options[i].kind == OPT_FLAG) {
			if (eq)
				return dc__fail(-EINVAL, "dcfs: option '%s' takes no value",
						options[i].name);
			*(bool *)field = true;
			return 0;
		}
		vlen = eq ? len - nlen - 1 : 0;
		if (!eq || !vlen || vlen >= sizeof(buf) || eq[1] < '0' || eq[1] > '9')
			return dc__fail(-EINVAL, "dcfs: option '%s' needs a number%s",
					options[i].name, options[i].kind == OPT_MS ? " of ms" : "");
		memcpy(buf, eq + 1, vlen);
		buf[vlen] = 0;
		errno = 0;
		v = strtoull(buf, &end, 10);
		if (options[i].kind == OPT_AROUND) {
			unsigned shift = *end == 'K' ? 10 : *end == 'M' ? 20 : 0;

			if (shift && !end[1] && v < (UINT64_C(1) << 30))
				v <<= shift, end++;
			if (*end || errno || v < DC_PAGE_SIZE || v > (UINT64_C(2) << 20) ||
			    (v & (v - 1)))
				return dc__fail(-EINVAL, "dcfs: option 'fault_around=%s': a power of "
						"two from 4096 to 2M bytes", buf);
			*(uint64_t *)field = v;
			return 0;
		}
		if (*end || errno || v > MS_MAX)
			return dc__fail(-EINVAL, "dcfs: option '%s=%s': not a number of ms up to "
					"2^40", options[i].name, buf);
		*(uint64_t *)field = v;
		return 0;
	}
	return dc__fail(-EINVAL, "dcfs: unknown mount option '%.*s'", (int)nlen, s);
}

int dcfs_parse_options(const char *s, struct dcfs_options *o)
{
	*o = (struct dcfs_options){ .slow_wait_ms = 5000, .fault_around = 64 << 10 };
	while (s && *s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		int ret;

		if (!len)
			return dc__fail(-EINVAL, "dcfs: empty mount option in the list");
		ret = parse_one(s, len, o);
		if (ret)
			return ret;
		s = comma ? comma + 1 : NULL;
		if (comma && !*s)
			return dc__fail(-EINVAL, "dcfs: empty mount option at the end of the list");
	}
	return 0;
}
