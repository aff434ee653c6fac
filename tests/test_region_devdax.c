/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_region_devdax - a real device-dax character device
 * (devdax:/dev/daxX.Y, DAXCORE_TEST_DEVDAX to choose, default
 * /dev/dax0.0): type devdax, size from sysfs, a folio request and a write
 * through the linear map.  Skips (exit 77, saying why) where there is none.
 */
#include "harness.h"

#include <sys/stat.h>

int main(void)
{
	const char *dev = getenv("DAXCORE_TEST_DEVDAX") ? getenv("DAXCORE_TEST_DEVDAX")
							  : "/dev/dax0.0";
	struct dc_region *r;
	struct dc_folio *f;
	struct stat st;
	char spec[300];

	t_watchdog(60);
	if (stat(dev, &st)) {
		snprintf(spec, sizeof(spec), "no device-dax device %s on this machine", dev);
		t_skip(spec);
	}
	snprintf(spec, sizeof(spec), "devdax:%s", dev);
	CHECK_EQ(dc_region_create(spec, &r), 0);
	CHECK_EQ(dc_region_type(r), DC_REGION_DEVDAX);
	CHECK(dc_region_size(r) > 0);
	CHECK_EQ(dc_folio_request(r, 0, 1u << dc_region_folio_order(r), &f), 0);
	*(volatile char *)dc_folio_addr(f) = 1;
	dc_folio_put(f);
	CHECK_EQ(dc_region_remove(r, NULL), 0);
	dc_quiesce();
	return T_PASS;
}
