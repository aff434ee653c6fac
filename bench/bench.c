/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxcore-bench - measure daxcore against the kernel, side by side.
 *
 *   daxcore-bench [--json] [--only a,b,...] [--list]
 *
 * Text output: one line per figure with its anchor and the ratio.  --json:
 * one JSON object per line:
 *   {"bench":NAME,"unit":UNIT,"value":V,"anchor":TEXT,"anchor_value":A,"ratio":V/A}
 * with ,"note":TEXT before the closing brace where a figure has a note
 * (text output: an indented "note:" line after the figure).
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool json;
static bool list_only;
static char *only;

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t bench_rss_kib(void)
{
	unsigned long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

bool bench_selected(const char *name)
{
	const char *p;
	size_t n = strlen(name);

	if (list_only) {
		printf("%s\n", name);
		return false;
	}
	if (!only)
		return true;
	for (p = only; (p = strstr(p, name)); p += n)
		if ((p == only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

void bench_report(const char *name, const char *unit, double value,
		  const char *anchor, double anchor_value)
{
	bench_report_note(name, unit, value, anchor, anchor_value, NULL);
}

void bench_report_note(const char *name, const char *unit, double value,
		       const char *anchor, double anchor_value, const char *note)
{
	double ratio = anchor_value > 0 ? value / anchor_value : 0;

	if (json) {
		printf("{\"bench\":");
		json_str(name);
		printf(",\"unit\":");
		json_str(unit);
		printf(",\"value\":%.4g,\"anchor\":", value);
		json_str(anchor);
		if (anchor_value > 0)
			printf(",\"anchor_value\":%.4g,\"ratio\":%.4g", anchor_value, ratio);
		else
			printf(",\"anchor_value\":null,\"ratio\":null");
		if (note) {
			printf(",\"note\":");
			json_str(note);
		}
		printf("}\n");
	} else if (anchor_value > 0) {
		printf("%-36s %12.3f %-8s anchor %12.3f  ratio %6.3f  (%s)\n", name, value, unit,
		       anchor_value, ratio, anchor);
	} else {
		printf("%-36s %12.3f %-8s (%s)\n", name, value, unit, anchor);
	}
	if (!json && note)
		printf("    note: %s\n", note);
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr, "usage: daxcore-bench [--json] [--only NAME[,NAME...]] [--list]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--list"))
			list_only = true;
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else
			usage();
	}
	bench_folio();
	bench_index();
	bench_mapping();
	bench_dcfs();
	bench_view();
	bench_devdax();
	bench_torture();
	return 0;
}
