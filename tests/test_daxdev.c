/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_daxdev - the machine's device-dax devices through libdaxctl
 * (dc_daxdev_list(), dc_daxdev_lookup()) and the devdax: backend's use of
 * them.  Bad input and the list's consistency run anywhere (a machine
 * without devices lists none).  The case fake_three checks exact values and
 * runs only inside tests/fakedax.sh's namespace (DAXCORE_TEST_FAKEDAX=three,
 * what `sh tests/cli_tools.sh daxdev` does): three fake devices in devdax,
 * system-ram and disabled mode, and a character device libdaxctl does not
 * list.  fake_moved runs inside fakedax.sh moved (DAXCORE_TEST_FAKEDAX=moved):
 * dax0.0's node is /dev/mydax, which libdaxctl does not list.
 */
#include "harness.h"

#include <dlfcn.h>
#include <fcntl.h>

/*
 * Failures inside libdaxctl on demand: its calls of kmod_new() (libkmod) and
 * realpath() (libc) come to these definitions first (the executable's
 * symbols precede the libraries'), which pass them on unless told to fail.
 *   fail_kmod:   kmod_new() fails, so daxctl_new() returns -ENXIO;
 *   fail_driver: realpath() of a ".../driver" link fails with ENOMEM, as an
 *                allocation of libdaxctl's while it enumerates the devices
 *                (its system-ram check resolves the driver link so).
 */
static volatile bool fail_kmod, fail_driver;
struct kmod_ctx;
__attribute__((visibility("default")))
struct kmod_ctx *kmod_new(const char *dirname, const char *const *config_paths);

__attribute__((visibility("default")))
struct kmod_ctx *kmod_new(const char *dirname, const char *const *config_paths)
{
	struct kmod_ctx *(*real)(const char *, const char *const *);

	*(void **)&real = dlsym(RTLD_NEXT, "kmod_new");
	return fail_kmod || !real ? NULL : real(dirname, config_paths);
}

__attribute__((visibility("default")))
char *realpath(const char *restrict path, char *restrict resolved)
{
	char *(*real)(const char *restrict, char *restrict);
	size_t n = strlen(path);

	if (fail_driver && n >= 7 && !strcmp(path + n - 7, "/driver")) {
		errno = ENOMEM;
		return NULL;
	}
	*(void **)&real = dlsym(RTLD_NEXT, "realpath");
	return real(path, resolved);
}

static struct dc_region *R;

static void setup(void)
{
	t_watchdog_total(120);
}

static void teardown(void)
{
	t_region_teardown(&R);
}

static void expect_err(int ret, int want, const char *needle)
{
	CHECK_EQ(ret, want);
	if (!strstr(dc_errmsg(), needle)) {
		fprintf(stderr, "[%s] message '%s' lacks '%s'\n", t_current, dc_errmsg(), needle);
		exit(T_FAIL);
	}
}

/* NULL arguments, a missing path, a regular file, a character device that is no dax device. */
TEST(lookup_bad_input)
{
	struct dc_daxdev d;
	char path[] = "/tmp/daxcore-daxdev-XXXXXX";
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	expect_err(dc_daxdev_lookup(NULL, &d), -EINVAL, "NULL path");
	expect_err(dc_daxdev_lookup("/dev/null", NULL), -EINVAL, "NULL device");
	expect_err(dc_daxdev_lookup("/nonexistent/dax0.0", &d), -ENOENT, "No such file");
	expect_err(dc_daxdev_lookup(path, &d), -EINVAL, "not a character device");
	expect_err(dc_daxdev_lookup("/dev/null", &d), -ENODEV,
		   "/dev/null: not a device-dax device: libdaxctl knows no character device 1:3");
	close(fd);
	unlink(path);
}

/* The count alone, then the devices: the same count, sorted, each found again by its path. */
TEST(list_consistent)
{
	int n = dc_daxdev_list(NULL, 0);
	struct dc_daxdev *d, one;
	char path[64];

	CHECK(n >= 0);
	d = calloc((size_t)n + 1, sizeof(*d));
	CHECK(d);
	CHECK_EQ(dc_daxdev_list(d, (size_t)n + 1), n);
	for (int i = 0; i < n; i++) {
		char want[32];

		snprintf(want, sizeof(want), "dax%d.%d", d[i].region_id, d[i].id);
		CHECK(!strcmp(d[i].name, want));
		CHECK(d[i].mode <= DC_DAXDEV_DISABLED);
		CHECK(d[i].numa_node >= -1);
		if (i)
			CHECK(d[i - 1].region_id < d[i].region_id ||
			      (d[i - 1].region_id == d[i].region_id && d[i - 1].id < d[i].id));
		snprintf(path, sizeof(path), "/dev/%.31s", d[i].name);
		CHECK_EQ(dc_daxdev_lookup(path, &one), 0);
		CHECK(!memcmp(&one, &d[i], sizeof(one)));
	}
	/* A short array gets the first devices only; nothing past it is written. */
	memset(d, 0xa5, ((size_t)n + 1) * sizeof(*d));
	CHECK_EQ(dc_daxdev_list(d, n ? 1 : 0), n);
	CHECK_EQ(((unsigned char *)&d[n ? 1 : 0])[0], 0xa5);
	free(d);
}

/* libdaxctl cannot create a context: -EIO, never the -ENXIO of a disabled device. */
TEST(context_fails)
{
	struct dc_daxdev d;

	fail_kmod = true;
	expect_err(dc_daxdev_list(NULL, 0), -EIO, "libdaxctl: cannot create a context");
	expect_err(dc_daxdev_lookup("/dev/null", &d), -EIO, "libdaxctl: cannot create a context");
	expect_err(dc_region_create("devdax:/dev/null", &R), -EIO, "cannot create a context");
	fail_kmod = false;
	CHECK(R == NULL);
	CHECK(dc_daxdev_list(NULL, 0) >= 0);
}

/* dc_region_create() of a devdax: path that is no dax device says why. */
TEST(region_not_a_device)
{
	expect_err(dc_region_create("devdax:/dev/null", &R), -ENODEV, "not a device-dax device");
	expect_err(dc_region_create("devdax:/nonexistent/dax0.0", &R), -ENOENT, "No such file");
	CHECK(R == NULL);
}

static const struct dc_daxdev *find(const struct dc_daxdev *d, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(d[i].name, name))
			return &d[i];
	fprintf(stderr, "[%s] no %s in the list\n", t_current, name);
	exit(T_FAIL);
}

/* Inside fakedax.sh three: every field, each mode's region, allocation failure. */
TEST(fake_three)
{
	const char *fake = getenv("DAXCORE_TEST_FAKEDAX");
	struct dc_daxdev d[4];
	const struct dc_daxdev *x;
	struct dc_folio *f;

	if (!fake || strcmp(fake, "three"))
		t_skip("runs inside tests/fakedax.sh three (sh tests/cli_tools.sh daxdev)");
	CHECK_EQ(dc_daxdev_list(d, 4), 3);
	x = find(d, 3, "dax0.0");
	CHECK_EQ(x->size, 16u << 20);
	CHECK_EQ(x->align, 2u << 20);
	CHECK(!x->align_from_region);
	CHECK_EQ(x->mode, DC_DAXDEV_DEVDAX);
	CHECK_EQ(x->numa_node, 0);
	CHECK_EQ(x->major, 1);
	CHECK_EQ(x->minor, 5);
	x = find(d, 3, "dax0.1");
	CHECK_EQ(x->size, 32u << 20);
	CHECK_EQ(x->align, 2u << 20);
	CHECK(x->align_from_region);
	CHECK_EQ(x->mode, DC_DAXDEV_SYSTEM_RAM);
	CHECK_EQ(x->numa_node, 1);
	x = find(d, 3, "dax0.2");
	CHECK_EQ(x->align, 1u << 30);
	CHECK_EQ(x->mode, DC_DAXDEV_DISABLED);
	CHECK_EQ(x->numa_node, -1);

	/* dax0.0 as a region: size from libdaxctl, folios of its alignment. */
	CHECK_EQ(dc_region_create("devdax:/dev/dax0.0", &R), 0);
	CHECK_EQ(dc_region_size(R), 16u << 20);
	CHECK_EQ(dc_region_type(R), DC_REGION_DEVDAX);
	CHECK_EQ(dc_region_folio_order(R), 9);
	CHECK_EQ(dc_region_map_order(R), 9);
	CHECK_EQ((uintptr_t)dc_region_addr(R, 0) & ((2u << 20) - 1), 0);
	CHECK_EQ(dc_folio_request(R, 512, 512, &f), 0);
	*(volatile char *)dc_folio_addr(f) = 1;
	dc_folio_put(f);
	t_region_teardown(&R);
	CHECK_EQ(dc_region_create("devdax:/dev/dax0.0,order=0", &R), 0);
	CHECK_EQ(dc_region_folio_order(R), 0);
	CHECK_EQ(dc_region_map_order(R), 9);
	t_region_teardown(&R);

	expect_err(dc_region_create("devdax:/dev/dax0.1", &R), -EBUSY, "system-ram mode");
	expect_err(dc_region_create("devdax:/dev/dax0.2", &R), -ENXIO, "is disabled");
	expect_err(dc_region_create("devdax:/dev/dax9.9", &R), -ENODEV,
		   "libdaxctl knows no character device 1:8 (it knows dax0.0, dax0.1, dax0.2)");
	expect_err(dc_daxdev_lookup("/dev/dax9.9", &d[0]), -ENODEV, "not a device-dax device");
	CHECK(R == NULL);

	/* An allocation inside libdaxctl fails while it enumerates: the kmem
	 * device is still system-ram (its mode comes from the driver link). */
	fail_driver = true;
	CHECK_EQ(dc_daxdev_list(d, 4), 3);
	CHECK_EQ(find(d, 3, "dax0.1")->mode, DC_DAXDEV_SYSTEM_RAM);
	CHECK_EQ(find(d, 3, "dax0.0")->mode, DC_DAXDEV_DEVDAX);
	CHECK_EQ(find(d, 3, "dax0.2")->mode, DC_DAXDEV_DISABLED);
	expect_err(dc_region_create("devdax:/dev/dax0.1", &R), -EBUSY, "system-ram mode");
	fail_driver = false;

	/* The list's allocation fails: -ENOMEM, nothing leaked (ASan says). */
	dc__fault_set(1);
	expect_err(dc_daxdev_list(d, 4), -ENOMEM, "out of memory");
	dc__fault_set(0);
	CHECK_EQ(dc_daxdev_list(d, 4), 3);
}

/* Inside fakedax.sh moved: dax0.0's node is /dev/mydax.  libdaxctl leaves
 * it out; its node is still a device-dax device, described from sysfs. */
TEST(fake_moved)
{
	const char *fake = getenv("DAXCORE_TEST_FAKEDAX");
	struct dc_daxdev d[4], m;
	struct dc_folio *f;

	if (!fake || strcmp(fake, "moved"))
		t_skip("runs inside tests/fakedax.sh moved (sh tests/cli_tools.sh daxdev)");
	CHECK_EQ(dc_daxdev_list(d, 4), 2);
	CHECK(!strcmp(d[0].name, "dax0.1") && !strcmp(d[1].name, "dax0.2"));
	CHECK_EQ(dc_daxdev_lookup("/dev/mydax", &m), 0);
	CHECK(!strcmp(m.name, "dax0.0"));
	CHECK_EQ(m.size, 16u << 20);
	CHECK_EQ(m.align, 2u << 20);
	CHECK(!m.align_from_region);
	CHECK_EQ(m.mode, DC_DAXDEV_DEVDAX);
	CHECK_EQ(m.numa_node, 0);
	CHECK_EQ(m.region_id, 0);
	CHECK_EQ(m.id, 0);
	CHECK_EQ(m.major, 1);
	CHECK_EQ(m.minor, 5);
	CHECK(m.from_sysfs);
	/* The listed ones are described from sysfs as libdaxctl describes them. */
	for (int i = 0; i < 2; i++) {
		char path[64];

		snprintf(path, sizeof(path), "/dev/%.31s", d[i].name);
		CHECK_EQ(rename(path, "/dev/moved"), 0);
		CHECK_EQ(dc_daxdev_lookup("/dev/moved", &m), 0);
		CHECK_EQ(rename("/dev/moved", path), 0);
		CHECK(m.from_sysfs && !d[i].from_sysfs);
		m.from_sysfs = false;
		CHECK(!memcmp(&m, &d[i], sizeof(m)));
	}

	CHECK_EQ(dc_region_create("devdax:/dev/mydax", &R), 0);
	CHECK_EQ(dc_region_size(R), 16u << 20);
	CHECK_EQ(dc_region_folio_order(R), 9);
	CHECK_EQ(dc_region_map_order(R), 9);
	CHECK_EQ(dc_folio_request(R, 0, 512, &f), 0);
	dc_folio_put(f);
	t_region_teardown(&R);
	/* Still refused: a character device sysfs does not put on the dax bus. */
	expect_err(dc_region_create("devdax:/dev/dax9.9", &R), -ENODEV,
		   "libdaxctl knows no character device 1:8 (it knows dax0.1, dax0.2)");
}

T_MAIN(setup, teardown)
