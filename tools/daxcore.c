/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxcore.c - the daxcore command-line tool.
 *
 *   daxcore demo [-d SPEC] [--json]   the page-lifetime story on dcfs over
 *                         one region, a checked timeline (the main job,
 *                         `make run`); demo --devdax: the device-dax story;
 *                         demo --layers [SPEC]: the library-level demonstration
 *   daxcore info [--json] [SPEC] list device-dax devices, or describe a region
 *   daxcore io [-d SPEC] [-o MOUNTOPTS] [-c CMD]... [SCRIPT]
 *                         an xfs_io-style command language over dcfs, or over
 *                         a device-dax device (io*.c)
 *   daxcore torture [-d SPEC] [--seconds N] [--threads T] [--seed S] [-o MOUNTOPTS]
 *                   [--json] [--kill] [--fail-alloc N]
 *                         randomised concurrent operations under an oracle (torture*.c)
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
	return demo_main(argc, argv);
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
	{ "demo", "demo [-d SPEC] [--json]",
	  "the story of the DAX page-lifetime protocol on dcfs over a region\n"
	  "(default mem:256M): DMA vs truncate, views and SIGBUS, quarantine,\n"
	  "memory failure, removal; exits 0 if every check held;\n"
	  "demo --devdax [-d SPEC] [--json]: the device-dax story (views, a DMA\n"
	  "pin, removal waiting for it, SIGBUS after it);\n"
	  "demo --layers [SPEC]: the library-level demo (no file system)", cmd_demo },
	{ "io", "io [OPTIONS]",
	  "an xfs_io-style command language over dcfs on a region (default\n"
	  IO_DEFAULT_SPEC "): files, layouts, views, pins, DMA, background jobs,\n"
	  "poison, removal; over a device-dax device on a devdax region;\n"
	  "'daxcore io --help' lists its options and commands", io_main },
	{ "info", "info [--json] [SPEC]",
	  "without SPEC: list the machine's device-dax devices (libdaxctl);\n"
	  "with SPEC: create the region, describe it (size, page and folio size,\n"
	  "type, backend, huge pages, metadata, device alignment), remove it", cmd_info },
	{ "torture", "torture [-d SPEC] [--seconds N] [--threads T] [--seed S] [-o MOUNTOPTS]\n"
		     "          [--json] [--kill] [--fail-alloc N]",
	  "randomised concurrent operations on dcfs (default " TORTURE_DEFAULT_SPEC ") under an\n"
	  "'daxcore torture --help' lists its options", torture_main },
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
	       "  devdax:/dev/daxX.Y[,OPTS]       a device-dax character device (libdaxctl)\n"
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
