/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_region_huge - the hugetlb backend (mem:SIZE,huge): 2 MiB folios by
 * default, requests in 2 MiB steps, data through the linear map.  Skips
 * (exit 77, saying why) where the machine has no huge pages.  The region
 * is the fixture: created in setup, checked idle and removed in teardown.
 */
#include "harness.h"

static struct dc_region *R;

static void setup(void)
{
	int ret;

	t_watchdog_total(60);
	ret = dc_region_create("mem:4M,huge", &R);
	if (ret == -ENOMEM && strstr(dc_errmsg(), "huge pages unavailable")) {
		char why[512];

		snprintf(why, sizeof(why), "%s", dc_errmsg());
		t_skip(why);
	}
	CHECK_EQ(ret, 0);
}

static void teardown(void)
{
	t_region_teardown(&R);
}

TEST(folio_order_9)
{
	CHECK_EQ(dc_region_folio_order(R), 9);
}

/* Requests come in whole 2 MiB folios. */
TEST(request_misaligned)
{
	CHECK_EQ(dc_folio_request(R, 1, 1, NULL), -EINVAL);
}

/* A 2 MiB folio: written through the linear map, idle again after its put. */
TEST(request_write_put)
{
	struct dc_folio *f;

	CHECK_EQ(dc_folio_request(R, 512, 512, &f), 0);
	memset(dc_folio_addr(f), 0x5a, 2 << 20);
	CHECK_EQ(dc_folio_pgoff(f), 512);
	dc_folio_put(f);
	CHECK(dc_folio_idle(f));
}

T_MAIN(setup, teardown)
