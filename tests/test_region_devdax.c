/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_region_devdax - a real device-dax character device
 * (devdax:/dev/daxX.Y, DAXCORE_TEST_DEVDAX to choose, default
 * /dev/dax0.0): type devdax, size and alignment as libdaxctl gives them
 * (dc_daxdev_lookup()), a folio request and a write through the linear map.
 * Skips (exit 77, saying why) where there is none (tests/fakedax.sh and
 * test_daxdev's fake_three run the same path on a fake device).
 * The region is the fixture: created in setup, checked idle and removed in
 * teardown.
 */
#include "harness.h"

#include <sys/stat.h>

static struct dc_region *R;
static struct dc_daxdev Dev;

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
	CHECK_EQ(dc_daxdev_lookup(dev, &Dev), 0);
	if (Dev.mode != DC_DAXDEV_DEVDAX) {
		snprintf(spec, sizeof(spec), "%s is not in devdax mode", dev);
		t_skip(spec);
	}
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
	CHECK_EQ(dc_region_size(R), Dev.size);
	if (Dev.align)
		CHECK_EQ(DC_PAGE_SIZE << dc_region_map_order(R), Dev.align);
	CHECK_EQ(dc_region_folio_order(R), dc_region_map_order(R));
}

TEST(request_write_put)
{
	struct dc_folio *f;

	CHECK_EQ(dc_folio_request(R, 0, 1u << dc_region_folio_order(R), &f), 0);
	*(volatile char *)dc_folio_addr(f) = 1;
	dc_folio_put(f);
}

T_MAIN(setup, teardown)
