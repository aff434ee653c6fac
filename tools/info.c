// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * info.c - `daxcore info [--json] SPEC`: create the region SPEC describes,
 * say what it is (size, pages and folios, type, backend, the unit its fd
 * maps in, whether huge pages back it, metadata per page, a device-dax
 * device's alignment from sysfs), and remove it.  One `key: value` line per
 * fact, or one JSON object with the same keys (docs/cli.md lists them).
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static const char *type_name(enum dc_region_type t)
{
	return t == DC_REGION_FSDAX ? "fsdax" : t == DC_REGION_DEVDAX ? "devdax"
		: t == DC_REGION_LIMITED ? "limited" : "?";
}

/* The backend: the spec's prefix before ':' ("mem", "file", "devdax"). */
static void backend_of(const char *spec, char *buf, size_t n)
{
	const char *colon = strchr(spec, ':');
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);

	snprintf(buf, n, "%.*s", (int)len, spec);
}

/*
 * The kernel's page size for the mapping that holds @addr (KernelPageSize
 * in /proc/self/smaps: 2 MiB for hugetlb, the device's alignment for
 * device-dax).  0 if it cannot be read.
 */
static uint64_t kernel_page_size(const void *addr)
{
	uintptr_t a = (uintptr_t)addr;
	unsigned long long lo, hi, kb;
	bool in = false;
	char line[512];
	uint64_t size = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = a >= lo && a < hi;
		else if (in && sscanf(line, "KernelPageSize: %llu kB", &kb) == 1) {
			size = (uint64_t)kb << 10;
			break;
		}
	}
	fclose(f);
	return size;
}

/*
 * A device-dax device's alignment from sysfs: the device's own attribute
 * (Linux 5.10 and later), else its region's.  0 with @from "" if none
 * could be read.
 */
static uint64_t devdax_align(int fd, char *from, size_t n)
{
	static const char *attrs[] = { "align", "device/align", "../dax_region/align",
				       "device/dax_region/align" };
	unsigned long long v;
	struct stat st;

	from[0] = 0;
	if (fstat(fd, &st) || !S_ISCHR(st.st_mode))
		return 0;
	for (unsigned i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		FILE *f;
		int got;

		snprintf(from, n, "/sys/dev/char/%u:%u/%s", major(st.st_rdev), minor(st.st_rdev),
			 attrs[i]);
		f = fopen(from, "r");
		if (!f)
			continue;
		got = fscanf(f, "%llu", &v);
		fclose(f);
		if (got == 1 && v)
			return v;
	}
	from[0] = 0;
	return 0;
}

struct info {
	const char *spec;
	char backend[16];
	uint64_t size, npages, meta_full;
	unsigned folio_order, map_order;
	enum dc_region_type type;
	uint64_t kpage;             /* 0: unknown */
	bool huge;
	double meta_per_page;
	bool devdax;
	uint64_t align;             /* devdax: 0 unknown */
	char align_from[160];
};

static void print_text(const struct info *in)
{
	char b[64];

	printf("spec: %s\n", in->spec);
	printf("backend: %s\n", in->backend);
	printf("size: %" PRIu64 " (%s)\n", in->size, size_str(in->size, b, sizeof(b)));
	printf("pages: %" PRIu64 "\n", in->npages);
	printf("page_size: %lu\n", (unsigned long)DC_PAGE_SIZE);
	printf("folio_size: %lu (order %u)\n", DC_PAGE_SIZE << in->folio_order, in->folio_order);
	printf("folios: %" PRIu64 "\n", in->npages >> in->folio_order);
	printf("type: %s\n", type_name(in->type));
	printf("map_unit: %lu (order %u)\n", DC_PAGE_SIZE << in->map_order, in->map_order);
	if (in->kpage)
		printf("kernel_page_size: %" PRIu64 "\n", in->kpage);
	else
		printf("kernel_page_size: unknown\n");
	printf("huge_pages: %s\n", in->huge ? "yes" : "no");
	printf("metadata_bytes: %" PRIu64 "\n", in->meta_full);
	printf("metadata_bytes_per_page: %.6g\n", in->meta_per_page);
	if (in->devdax) {
		if (in->align)
			printf("align: %" PRIu64 " (%s)\nalign_source: %s\n", in->align,
			       size_str(in->align, b, sizeof(b)), in->align_from);
		else
			printf("align: unknown\n");
	}
}

static void print_json(const struct info *in)
{
	printf("{\"spec\": ");
	json_str(stdout, in->spec);
	printf(", \"backend\": ");
	json_str(stdout, in->backend);
	printf(", \"size\": %" PRIu64 ", \"pages\": %" PRIu64 ", \"page_size\": %lu"
	       ", \"folio_size\": %lu, \"folio_order\": %u, \"folios\": %" PRIu64
	       ", \"type\": \"%s\", \"map_unit\": %lu, \"map_order\": %u",
	       in->size, in->npages, (unsigned long)DC_PAGE_SIZE, DC_PAGE_SIZE << in->folio_order,
	       in->folio_order, in->npages >> in->folio_order, type_name(in->type),
	       DC_PAGE_SIZE << in->map_order, in->map_order);
	if (in->kpage)
		printf(", \"kernel_page_size\": %" PRIu64, in->kpage);
	else
		printf(", \"kernel_page_size\": null");
	printf(", \"huge_pages\": %s, \"metadata_bytes\": %" PRIu64
	       ", \"metadata_bytes_per_page\": %.6g",
	       in->huge ? "true" : "false", in->meta_full, in->meta_per_page);
	if (in->devdax) {
		if (in->align) {
			printf(", \"align\": %" PRIu64 ", \"align_source\": ", in->align);
			json_str(stdout, in->align_from);
		} else {
			printf(", \"align\": null, \"align_source\": null");
		}
	}
	printf("}\n");
}

static int info_usage(FILE *f)
{
	if (f != stdout) {
		fprintf(f, "usage: daxcore info [--json] SPEC (see 'daxcore info --help')\n");
		return EXIT_USAGE;
	}
	fprintf(f, "usage: daxcore info [--json] SPEC\n"
		"\n"
		"Create the region SPEC describes, describe it and remove it: size, pages,\n"
		"page and folio size, type, backend, the unit its fd maps in, the kernel's\n"
		"page size for its mapping and whether huge pages back it, metadata bytes\n"
		"(all of them, and per 4 KiB page), and for devdax: the device's alignment\n"
		"from sysfs.  One 'key: value' per line; --json: one JSON object.\n"
		"\n"
		"  --json      print one JSON object\n"
		"  -h, --help  this help\n"
		"\n"
		"SPEC: mem:SIZE[,huge][,OPTS], file:PATH[,size=SIZE][,OPTS],\n"
		"devdax:/dev/daxX.Y[,OPTS] (see 'daxcore help').\n"
		"Exit status: 0 success, 1 the region could not be created, 2 usage error.\n");
	return 0;
}

int cmd_info(int argc, char **argv)
{
	const char *spec = NULL;
	bool json = false;
	struct dc_region_stats st;
	struct dc_region *r;
	struct info in;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return info_usage(stdout);
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "daxcore info: unknown option '%s'\n", argv[i]);
			return info_usage(stderr);
		} else if (spec) {
			fprintf(stderr, "daxcore info: too many arguments (one SPEC)\n");
			return info_usage(stderr);
		} else {
			spec = argv[i];
		}
	}
	if (!spec) {
		fprintf(stderr, "daxcore info: missing SPEC\n");
		return info_usage(stderr);
	}
	ret = dc_region_create(spec, &r);
	if (ret) {
		fprintf(stderr, "daxcore info: %s: %s\n", spec, dc_errmsg());
		return 1;
	}
	memset(&in, 0, sizeof(in));
	in.spec = spec;
	backend_of(dc_region_spec(r), in.backend, sizeof(in.backend));
	dc_region_stats(r, &st);
	in.size = dc_region_size(r);
	in.npages = dc_region_npages(r);
	in.folio_order = dc_region_folio_order(r);
	in.map_order = dc_region_map_order(r);
	in.type = dc_region_type(r);
	in.meta_full = st.metadata_bytes_full;
	in.meta_per_page = in.npages ? (double)st.metadata_bytes_full / (double)in.npages : 0;
	in.kpage = kernel_page_size(dc_region_addr(r, 0));
	in.huge = in.kpage ? in.kpage > DC_PAGE_SIZE : in.map_order > 0;
	in.devdax = !strcmp(in.backend, "devdax");
	if (in.devdax)
		in.align = devdax_align(dc_region_fd(r), in.align_from, sizeof(in.align_from));
	if (json)
		print_json(&in);
	else
		print_text(&in);
	ret = dc_region_remove(r, NULL);
	if (ret) {
		fprintf(stderr, "daxcore info: %s: dc_region_remove: %s: %s\n", spec, ename(ret),
			dc_errmsg());
		return 1;
	}
	return fflush(stdout) ? 1 : 0;
}
