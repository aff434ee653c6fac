/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench_mapping.c - the entry protocol's hot operations.
 *
 *   grab_insert_unlock_4k  ns per fresh 4 KiB entry (grab EMPTY into a handle,
 *                          insert with the folio reference, which takes the
 *                          region read lock itself, unlock the handle);
 *                          anchor: the kernel's first-touch fault of a
 *                          shared memfd page
 *   zap_delete_1g          ns per entry to zap and truncate 262,144 idle
 *                          4 KiB entries; anchor: the kernel punching a hole
 *                          over 1 GiB of populated shared memfd, per page
 *   lookup_tryget_put_4k   ns per page of the pin fast path over a 1 GiB
 *                          buffer (lockless lookup, tryget, re-check, put);
 *                          anchor: two uncontended atomics (inc + dec), the
 *                          floor of any get/put pair
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define NENT 262144u /* 1 GiB of 4 KiB entries */

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_mapping: %s: %s (%s)\n", what, dc_strerror(err), dc_errmsg());
	exit(1);
}

/* Fault n fresh 4 KiB entries: grab (EMPTY, locked into a handle), insert, unlock. */
static void populate(struct dc_mapping *m, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		struct dc_entry_handle h;
		int ret = dc_mapping_grab(m, i, 0, NULL, &h);

		if (ret)
			die("grab", ret < 0 ? ret : -EAGAIN); /* DC_GRAB_FALLBACK: not at order 0 */
		ret = dc_mapping_insert(&h, i, 0);
		if (ret)
			die("insert", ret);
		ret = dc_mapping_unlock(&h);
		if (ret)
			die("unlock", ret);
	}
}

static void teardown(struct dc_mapping *m)
{
	int ret = dc_mapping_truncate_final(m, NULL);

	if (ret)
		die("truncate_final", ret);
	ret = dc_mapping_destroy(m);
	if (ret)
		die("destroy", ret);
}

static double anchor_two_atomics(uint64_t n)
{
	static _Atomic uint64_t ctr;
	uint64_t t0 = bench_now_ns();

	for (uint64_t i = 0; i < n; i++) {
		atomic_fetch_add(&ctr, 1);
		atomic_fetch_sub(&ctr, 1);
	}
	return (double)(bench_now_ns() - t0) / (double)n;
}

void bench_mapping(void)
{
	bool gi = bench_selected("grab_insert_unlock_4k");
	bool zd = bench_selected("zap_delete_1g");
	bool lt = bench_selected("lookup_tryget_put_4k");
	struct dc_region *r;
	struct dc_mapping *m;
	int ret;

	if (!gi && !zd && !lt)
		return;
	ret = dc_region_create("mem:1G", &r);
	if (ret)
		die("region", ret);

	if (gi) {
		double best = 0;

		for (int round = 0; round < 5; round++) {
			uint64_t t0;
			double v;

			if ((ret = dc_mapping_create(r, NULL, NULL, &m)))
				die("mapping", ret);
			t0 = bench_now_ns();
			populate(m, NENT);
			v = (double)(bench_now_ns() - t0) / NENT;
			best = round == 0 || v < best ? v : best;
			teardown(m);
		}
		bench_report("grab_insert_unlock_4k", "ns", best,
			     "kernel first-touch write fault of a shared memfd page",
			     bench_anchor_first_touch(NENT));
	}

	if (zd) {
		double best = 0;

		for (int round = 0; round < 5; round++) {
			uint64_t t0;
			double v;

			if ((ret = dc_mapping_create(r, NULL, NULL, &m)))
				die("mapping", ret);
			populate(m, NENT);
			t0 = bench_now_ns();
			ret = dc_mapping_zap(m, 0, NENT - 1, NULL, NULL);
			if (ret != (int)NENT)
				die("zap", ret < 0 ? ret : -EIO);
			ret = dc_mapping_truncate(m, 0, NENT - 1, NULL);
			if (ret)
				die("truncate", ret);
			v = (double)(bench_now_ns() - t0) / NENT;
			best = round == 0 || v < best ? v : best;
			teardown(m);
		}
		bench_report("zap_delete_1g", "ns", best,
			     "kernel fallocate(PUNCH_HOLE) of 1 GiB of populated shared memfd, per page",
			     bench_anchor_punch_hole(NENT));
	}

	if (lt) {
		double best = 0;
		uint64_t reps = 8;

		if ((ret = dc_mapping_create(r, NULL, NULL, &m)))
			die("mapping", ret);
		populate(m, NENT);
		for (int round = 0; round < 5; round++) {
			uint64_t t0 = bench_now_ns();
			double v;

			for (uint64_t k = 0; k < reps; k++)
				for (uint64_t i = 0; i < NENT; i++) {
					struct dc_folio *f;

					if (dc_mapping_get_folio(m, i, false, &f))
						die("get_folio", -EAGAIN);
					dc_folio_put(f);
				}
			v = (double)(bench_now_ns() - t0) / (double)(NENT * reps);
			best = round == 0 || v < best ? v : best;
		}
		teardown(m);
		bench_report("lookup_tryget_put_4k", "ns", best,
			     "two uncontended atomics (inc + dec), same run",
			     anchor_two_atomics(NENT * reps));
	}
	ret = dc_region_remove(r, NULL);
	if (ret)
		die("remove", ret);
}
