/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_region_devdax - a real device-dax character device
 * (devdax:/dev/daxX.Y, DAXCORE_TEST_DEVDAX to choose, default
 * /dev/dax0.0): type devdax, size from sysfs, a folio request and a write
 * through the linear map.  Skips (exit 77, saying why) where there is none.
 * The region is the fixture: created in setup, checked idle and removed in
 * teardown.
 */
#include "harness.h"

#include <sys/stat.h>

static struct dc_region *R;

static void setup(void)
{
	const char *dev = getenv("DAXCORE_TEST_DEVDAX") ? getenv("DAXCORE_TEST_DEVDAX")
							  : "/dev/dax0.0";
	struct stat st;
	char spec[300];

	t_watchdog_total(60);
	if (stat(dev, &st)) {
		snprintf(spec, sizeof(spec), "no device-dax device %s on this machine", dev);
		t_skip(spec);
	}
	snprintf(spec, sizeof(spec), "devdax:%s", dev);
	CHECK_EQ(dc_region_create(spec, &R), 0);
}

static void teardown(void)
{
	t_region_teardown(&R);
}

TEST(type_and_size)
{
	CHECK_EQ(dc_region_type(R), DC_REGION_DEVDAX);
	CHECK(dc_region_size(R) > 0);
}

TEST(request_write_put)
{
	struct dc_folio *f;

	CHECK_EQ(dc_folio_request(R, 0, 1u << dc_region_folio_order(R), &f), 0);
	*(volatile char *)dc_folio_addr(f) = 1;
	dc_folio_put(f);
}

T_MAIN(setup, teardown)
