// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench_torture.c - torture_ops_per_s: the operations per second of
 * `daxcore torture --seconds 10 --threads 2` (a fixed seed, the default
 * region and mount options), run as a child: the tool next to this program
 * (build/daxcore beside build/daxcore-bench), or $DAXCORE_TOOL.  Its --json
 * summary is one object; the figure is its ops_per_s, the note says how many
 * violations the run found (0, or the run is no figure at all: it is then
 * reported as failed on stderr).  No anchor: the figure is tracked across
 * runs.
 */
#include "bench.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The number after "KEY": in @s, or -1. */
static double json_num(const char *s, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(s, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

void bench_torture(void)
{
	char tool[PATH_MAX], cmd[PATH_MAX + 128], line[8192], note[160], *slash;
	const char *env = getenv("DAXCORE_TOOL");
	double ops, viols;
	ssize_t n;
	FILE *p;
	int st;

	if (!bench_selected("torture_ops_per_s"))
		return;
	if (env && *env) {
		snprintf(tool, sizeof(tool), "%s", env);
	} else {
		n = readlink("/proc/self/exe", tool, sizeof(tool) - 16);
		if (n <= 0) {
			fprintf(stderr, "daxcore-bench: torture_ops_per_s: cannot find the tool\n");
			return;
		}
		tool[n] = 0;
		slash = strrchr(tool, '/');
		strcpy(slash ? slash + 1 : tool, "daxcore");
	}
	if (strchr(tool, '\'') || access(tool, X_OK)) {
		fprintf(stderr, "daxcore-bench: torture_ops_per_s: no tool at %s (set DAXCORE_TOOL)\n",
			tool);
		return;
	}
	snprintf(cmd, sizeof(cmd), "'%s' torture --seconds 10 --threads 2 --seed 1 --json 2>/dev/null",
		 tool);
	p = popen(cmd, "r");
	if (!p || !fgets(line, sizeof(line), p)) {
		fprintf(stderr, "daxcore-bench: torture_ops_per_s: %s: no output\n", cmd);
		if (p)
			pclose(p);
		return;
	}
	st = pclose(p);
	ops = json_num(line, "ops_per_s");
	viols = json_num(line, "violations");
	if (ops < 0 || viols != 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "daxcore-bench: torture_ops_per_s: the run failed (exit %d, %.0f violations): %s\n",
			WIFEXITED(st) ? WEXITSTATUS(st) : -1, viols, line);
		return;
	}
	snprintf(note, sizeof(note), "daxcore torture --seconds 10 --threads 2 --seed 1: %.0f operations, 0 violations",
		 json_num(line, "ops"));
	bench_report_note("torture_ops_per_s", "ops/s", ops, "no anchor: tracked across runs", 0, note);
}
