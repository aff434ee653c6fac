/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxcore.c - the daxcore command-line tool.
 *
 *   daxcore demo [--layers] [SPEC]   a narrated demonstration of the
 *                         page-lifetime protocol on one region (the main job,
 *                         `make run`)
 *   daxcore info [--json] SPEC   describe a region
 *   daxcore help          usage on stdout
 *   daxcore --version     the library version
 *
 * Subcommands are rows of cmds[] (name, synopsis, summary, function), so a
 * new one is one function and one row; `help` prints the table (but the
 * rows without a summary: test aids such as dma-selftest).  Exit
 * status: 0 success, 1 failure, 2 usage error.
 *
 * The demo uses the public API only (daxcore/daxcore.h).  It checks every
 * return value and every count it narrates; anything unexpected prints the
 * error (dc_errname(), dc_strerror() and dc_errmsg()) and exits 1, so the
 * demo doubles as a smoke test.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2
#define DEMO_DEFAULT_SPEC "mem:64M"

/* ---- subcommands --------------------------------------------------------- */

static int cmd_help(int argc, char **argv);

static void usage_hint(void)
{
	fprintf(stderr, "run 'daxcore help' for usage\n");
}

static int cmd_demo(int argc, char **argv)
{
	const char *spec = DEMO_DEFAULT_SPEC;

	/* `demo --layers [SPEC]`: the library-level demo (today also plain `demo`). */
	if (argc >= 2 && !strcmp(argv[1], "--layers")) {
		argv++;
		argc--;
	}
	if (argc > 2) {
		fprintf(stderr, "daxcore demo: too many arguments (one SPEC at most)\n");
		usage_hint();
		return EXIT_USAGE;
	}
	if (argc == 2) {
		if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
			return cmd_help(1, argv);
		if (argv[1][0] == '-') {
			fprintf(stderr, "daxcore demo: unknown option '%s'\n", argv[1]);
			usage_hint();
			return EXIT_USAGE;
		}
		spec = argv[1];
	}
	return demo_layers(spec);
}

static int cmd_version(int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "daxcore --version: takes no arguments\n");
		return EXIT_USAGE;
	}
	printf("daxcore %s\n", dc_version());
	return 0;
}

struct cmd {
	const char *name;
	const char *synopsis;
	const char *summary;
	int (*fn)(int argc, char **argv); /* argv[0] is the command name */
};

static const struct cmd cmds[] = {
	{ "demo", "demo [--layers] [SPEC]",
	  "narrated demonstration of the DAX page-lifetime protocol on a region\n"
	  "(default " DEMO_DEFAULT_SPEC "); exits 0 if every call behaved as expected", cmd_demo },
	{ "info", "info [--json] SPEC",
	  "create the region SPEC describes, describe it (size, page and folio\n"
	  "size, type, backend, huge pages, metadata, device alignment), remove it", cmd_info },
	/* A test aid, not listed by help (NULL summary). */
	{ "dma-selftest", "dma-selftest [-e uring|memcpy] [-d SPEC]", NULL, cmd_dma_selftest },
	{ "help", "help", "print this help", cmd_help },
	{ "--version", "--version", "print the version", cmd_version },
};

static int cmd_help(int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "daxcore %s: unexpected argument '%s'\n", argv[0], argv[1]);
		return EXIT_USAGE;
	}
	printf("usage: daxcore COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *s = cmds[i].summary, *nl;

		if (!s) /* hidden */
			continue;
		if (strlen(cmds[i].synopsis) > 13) /* the summary on the lines below */
			printf("  %s\n%16s", cmds[i].synopsis, "");
		else
			printf("  %-14s", cmds[i].synopsis);
		while ((nl = strchr(s, '\n'))) {
			printf("%.*s\n%16s", (int)(nl - s), s, "");
			s = nl + 1;
		}
		printf("%s\n", s);
	}
	printf("\nSPEC is a region spec:\n"
	       "  mem:SIZE[,huge][,OPTS]          anonymous memory (memfd); huge: 2 MiB pages\n"
	       "  file:PATH[,size=SIZE][,OPTS]    a file, mapped shared\n"
	       "  devdax:/dev/daxX.Y[,OPTS]       a device-dax character device\n"
	       "  OPTS: order=0|9|18 (4 KiB, 2 MiB, 1 GiB folios), type=fsdax|devdax|limited\n"
	       "  SIZE: a number with an optional K, M, G or T suffix\n"
	       "\nexit status: 0 success, 1 failure, 2 usage error\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "daxcore: missing command\n");
		usage_hint();
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return cmd_help(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "daxcore: unknown command '%s'\n", argv[1]);
	usage_hint();
	return EXIT_USAGE;
}
