// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * info.c - `daxcore info [--json] [SPEC]`: without SPEC, list the machine's
 * device-dax devices through libdaxctl (dc_daxdev_list()), or say there are
 * none; with SPEC, create the region it describes, say what it is (size,
 * pages and folios, type, backend, the unit its fd maps in, whether huge
 * pages back it, metadata per page, a device-dax device's alignment, mode
 * and NUMA node from libdaxctl), and remove it.  One `key: value` line per
 * fact, or one JSON object with the same keys (docs/cli.md lists them).
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	struct dc_daxdev dev;       /* devdax: what libdaxctl says of the device */
};

static const char *mode_name(enum dc_daxdev_mode m)
{
	return m == DC_DAXDEV_DEVDAX ? "devdax" : m == DC_DAXDEV_SYSTEM_RAM ? "system-ram"
		: "disabled";
}

static const char *align_source(const struct dc_daxdev *d)
{
	if (d->from_sysfs)
		return d->align_from_region ? "sysfs (the dax region's)" : "sysfs (the device's)";
	return d->align_from_region ? "libdaxctl (the dax region's)" : "libdaxctl (the device's)";
}

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
		printf("device: %s\n", in->dev.name);
		if (in->dev.align)
			printf("align: %" PRIu64 " (%s)\nalign_source: %s\n", in->dev.align,
			       size_str(in->dev.align, b, sizeof(b)), align_source(&in->dev));
		else
			printf("align: unknown\n");
		printf("mode: %s\n", mode_name(in->dev.mode));
		if (in->dev.numa_node >= 0)
			printf("numa_node: %d\n", in->dev.numa_node);
		else
			printf("numa_node: none\n");
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
		printf(", \"device\": ");
		json_str(stdout, in->dev.name);
		if (in->dev.align)
			printf(", \"align\": %" PRIu64 ", \"align_source\": \"%s\"", in->dev.align,
			       align_source(&in->dev));
		else
			printf(", \"align\": null, \"align_source\": null");
		printf(", \"mode\": \"%s\"", mode_name(in->dev.mode));
		if (in->dev.numa_node >= 0)
			printf(", \"numa_node\": %d", in->dev.numa_node);
		else
			printf(", \"numa_node\": null");
	}
	printf("}\n");
}

/* The device of a devdax: spec (its path ends at the first ','). */
static int devdax_of(const char *spec, struct dc_daxdev *dev)
{
	const char *p = strchr(spec, ':') + 1;
	char path[4096];

	snprintf(path, sizeof(path), "%.*s", (int)strcspn(p, ","), p);
	return dc_daxdev_lookup(path, dev);
}

#define LEFT_MAX 64

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The devices sysfs has on the dax bus (/sys/bus/dax/devices) that the
 * list of @n leaves out: libdaxctl lists only devices whose node is
 * /dev/NAME.  Up to LEFT_MAX names (malloc'd) in @out, sorted; the count.
 */
static int left_out(const struct dc_daxdev *devs, int n, char **out)
{
	DIR *d = opendir("/sys/bus/dax/devices");
	struct dirent *e;
	int k = 0;

	if (!d)
		return 0;
	while (k < LEFT_MAX && (e = readdir(d))) {
		bool listed = e->d_name[0] == '.';

		for (int i = 0; i < n && !listed; i++)
			listed = !strcmp(devs[i].name, e->d_name);
		if (!listed && (out[k] = strdup(e->d_name)))
			k++;
	}
	closedir(d);
	qsort(out, (size_t)k, sizeof(*out), by_name);
	return k;
}

/* `daxcore info [--json]`: the machine's device-dax devices, one per line. */
static int list_devices(bool json)
{
	static const char none[] = "no device-dax devices on this machine (libdaxctl lists none)";
	char *left[LEFT_MAX];
	int nleft;
	struct dc_daxdev *devs = NULL;
	char b[64];
	int n = dc_daxdev_list(NULL, 0), got;

	if (n > 0 && !(devs = calloc((size_t)n, sizeof(*devs))))
		n = -ENOMEM;
	got = n > 0 ? dc_daxdev_list(devs, (size_t)n) : n;
	if (got < 0) {
		fprintf(stderr, "daxcore info: device-dax devices: %s\n",
			got == -ENOMEM && n == -ENOMEM ? "out of memory" : dc_errmsg());
		free(devs);
		return 1;
	}
	if (got > n) /* one appeared meanwhile: list the first n */
		got = n;
	nleft = left_out(devs, got, left);
	if (json)
		printf("{\"count\": %d, \"devices\": [", got);
	else if (got || nleft)
		printf("devdax_devices: %d\n", got);
	else
		printf("devdax_devices: 0\n%s\n", none);
	for (int i = 0; i < got; i++) {
		const struct dc_daxdev *d = &devs[i];

		if (json) {
			printf("%s{\"name\": ", i ? ", " : "");
			json_str(stdout, d->name);
			printf(", \"path\": \"/dev/%s\", \"size\": %" PRIu64, d->name, d->size);
			if (d->align)
				printf(", \"align\": %" PRIu64 ", \"align_source\": \"%s\"", d->align,
				       d->align_from_region ? "region" : "device");
			else
				printf(", \"align\": null, \"align_source\": null");
			printf(", \"mode\": \"%s\"", mode_name(d->mode));
			if (d->numa_node >= 0)
				printf(", \"numa_node\": %d", d->numa_node);
			else
				printf(", \"numa_node\": null");
			printf(", \"dev\": \"%u:%u\"}", d->major, d->minor);
			continue;
		}
		printf("%s: path=/dev/%s size=%" PRIu64, d->name, d->name, d->size);
		printf(" (%s)", size_str(d->size, b, sizeof(b)));
		if (d->align)
			printf(" align=%" PRIu64 " (%s%s)", d->align, size_str(d->align, b, sizeof(b)),
			       d->align_from_region ? ", the dax region's" : "");
		else
			printf(" align=unknown");
		printf(" mode=%s", mode_name(d->mode));
		if (d->numa_node >= 0)
			printf(" numa_node=%d", d->numa_node);
		else
			printf(" numa_node=none");
		printf(" dev=%u:%u\n", d->major, d->minor);
	}
	if (json)
		printf("], \"left_out\": [");
	for (int i = 0; i < nleft; i++) {
		if (json) {
			printf("%s", i ? ", " : "");
			json_str(stdout, left[i]);
		} else {
			printf("%s: left out by libdaxctl: sysfs has it on the dax bus, but its node "
			       "is not /dev/%s ('daxcore info devdax:NODE' describes it by its "
			       "node)\n", left[i], left[i]);
		}
		free(left[i]);
	}
	if (json) {
		printf("], \"message\": ");
		if (got || nleft)
			printf("null");
		else
			json_str(stdout, none);
		printf("}\n");
	}
	free(devs);
	return fflush(stdout) ? 1 : 0;
}

static int info_usage(FILE *f)
{
	if (f != stdout) {
		fprintf(f, "usage: daxcore info [--json] [SPEC] (see 'daxcore info --help')\n");
		return EXIT_USAGE;
	}
	fprintf(f, "usage: daxcore info [--json] [SPEC]\n"
		"\n"
		"Without SPEC: list the machine's device-dax devices through libdaxctl\n"
		"(name, path, size, alignment, mode devdax, system-ram or disabled, NUMA\n"
		"node, device number), or say that there are none.\n"
		"\n"
		"With SPEC: create the region SPEC describes, describe it and remove it:\n"
		"size, pages, page and folio size, type, backend, the unit its fd maps in,\n"
		"the kernel's page size for its mapping and whether huge pages back it,\n"
		"metadata bytes (all of them, and per 4 KiB page), and for devdax: the\n"
		"device, its alignment, mode and NUMA node from libdaxctl.\n"
		"One 'key: value' per line; --json: one JSON object.\n"
		"\n"
		"  --json      print one JSON object\n"
		"  -h, --help  this help\n"
		"\n"
		"SPEC: mem:SIZE[,huge][,OPTS], file:PATH[,size=SIZE][,OPTS],\n"
		"devdax:/dev/daxX.Y[,OPTS] (see 'daxcore help').\n"
		"Exit status: 0 success, 1 the region could not be created (or libdaxctl\n"
		"failed), 2 usage error.\n");
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
	if (!spec)
		return list_devices(json);
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
	if (in.devdax && (ret = devdax_of(spec, &in.dev))) {
		fprintf(stderr, "daxcore info: %s: %s\n", spec, dc_errmsg());
		(void)dc_region_remove(r, NULL);
		return 1;
	}
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
