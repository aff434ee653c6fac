/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_region_huge - the hugetlb backend (mem:SIZE,huge): 2 MiB folios by
 * default, requests in 2 MiB steps, data through the linear map.  Skips
 * (exit 77, saying why) where the machine has no huge pages.
 */
#include "harness.h"

int main(void)
{
	struct dc_region *r;
	struct dc_folio *f;
	int ret;

	t_watchdog(60);
	ret = dc_region_create("mem:4M,huge", &r);
	if (ret == -ENOMEM && strstr(dc_errmsg(), "huge pages unavailable")) {
		char why[512];

		snprintf(why, sizeof(why), "%s", dc_errmsg());
		t_skip(why);
	}
	CHECK_EQ(ret, 0);
	CHECK_EQ(dc_region_folio_order(r), 9);
	CHECK_EQ(dc_folio_request(r, 1, 1, NULL), -EINVAL);
	CHECK_EQ(dc_folio_request(r, 512, 512, &f), 0);
	memset(dc_folio_addr(f), 0x5a, 2 << 20);
	CHECK_EQ(dc_folio_pgoff(f), 512);
	dc_folio_put(f);
	CHECK(dc_folio_idle(f));
	CHECK_EQ(dc_region_remove(r, NULL), 0);
	dc_quiesce();
	return T_PASS;
}
