/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * devdax_fixture.h - the fixture of the device-dax tests: a region of type
 * devdax (R) opened as a device (DD), the view layer's SIGSEGV handler and
 * the SIGBUS catcher (view_fixture.h).  The teardown checks the device's
 * invariants, closes it (which fails if a view or a pin was left), and
 * checks the region idle before removing it (t_region_teardown()); a case
 * that removed the region itself sets R to NULL.
 */
#ifndef DC_TEST_DEVDAX_FIXTURE_H
#define DC_TEST_DEVDAX_FIXTURE_H

#include "harness.h"
#include "view_fixture.h"

#include <sys/stat.h>

#define MB (1024ull * 1024ull)
#define GB (1024ull * MB)
#define RW (DC_DEVDAX_MAP_READ | DC_DEVDAX_MAP_WRITE)

static struct dc_region *R;
static struct dc_devdax *DD;

static inline void dd_setup(void)
{
	CHECK_EQ(dc_view_handler_install(), 0);
	install_sigbus();
}

/* A region from @spec, opened as a device. */
static inline void fx(const char *spec)
{
	CHECK_EQ(dc_region_create(spec, &R), 0);
	CHECK_EQ(dc_devdax_open(R, &DD), 0);
}

static inline struct dc_devdax_stats dstats(void)
{
	struct dc_devdax_stats st;

	dc_devdax_stats(DD, &st);
	return st;
}

static inline void dd_teardown(void)
{
	if (DD) {
		struct dc_devdax_stats st = dstats();

		CHECK(dc_devdax_check(DD));
		CHECK_EQ(st.views, 0);
		CHECK_EQ(st.pins, 0);
		CHECK_EQ(dc_devdax_close(DD, NULL), 0);
		DD = NULL;
	}
	CHECK_EQ(vst().views, 0);
	dc_quiesce();
	t_region_teardown(&R);
}

/* Bytes of the region's memfd actually allocated (st_blocks are 512 bytes). */
static inline uint64_t memfd_bytes(struct dc_region *r)
{
	struct stat st;

	CHECK_EQ(fstat(dc_region_fd(r), &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

#endif
