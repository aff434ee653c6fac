/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * liveref_slots.h - per-thread slots of the liveref, for the liveref tests:
 * take every slot (so new refs run in shared-atomic mode), and the
 * teardown check that a case gave back every slot it took.  Reads the
 * private fields of struct dc_liveref (slot, dying).
 */
#ifndef DC_TEST_LIVEREF_SLOTS_H
#define DC_TEST_LIVEREF_SLOTS_H

#include "harness.h"

#include <daxcore/liveref.h>

#define SLOT_MAX 262144 /* per-thread slots (liveref.h) */

/* @n refs, each holding a slot (the case holds the others). */
static inline struct dc_liveref *fill_slots(int n)
{
	struct dc_liveref *fill = calloc((size_t)n, sizeof(*fill));

	CHECK(fill);
	for (int i = 0; i < n; i++) {
		CHECK_EQ(dc_liveref_init(&fill[i], NULL), 0);
		CHECK(fill[i].slot != UINT32_MAX);
	}
	return fill;
}

/*
 * Exit a ref that no get or put ever touched, without the grace period
 * dc_liveref_exit() waits for on a ref that was never killed (no thread can
 * be inside a get or put on it): marked dying first, a private field.  That
 * wait, once per ref, makes giving back every slot cost about a second
 * (more under TSan); test_liveref's exit_unused keeps the real path covered.
 */
static inline void exit_untouched(struct dc_liveref *ref)
{
	ref->dying = 1;
	dc_liveref_exit(ref);
}

/* Give them back: each still alive with its one initial reference. */
static inline void unfill_slots(struct dc_liveref *fill, int n)
{
	for (int i = 0; i < n; i++) {
		CHECK_EQ(dc_liveref_count(&fill[i]), 1);
		exit_untouched(&fill[i]);
	}
	free(fill);
}

/*
 * Teardown: the case gave back every per-thread slot it took.  SLOT_MAX new
 * refs each get one, and the next gets none (so SLOT_MAX is still the
 * library's number).
 */
static inline void t_liveref_slots_teardown(void)
{
	struct dc_liveref *fill = calloc(SLOT_MAX + 1, sizeof(*fill));
	int taken = 0;

	CHECK(fill);
	for (int i = 0; i <= SLOT_MAX; i++)
		CHECK_EQ(dc_liveref_init(&fill[i], NULL), 0);
	for (int i = 0; i < SLOT_MAX; i++)
		taken += fill[i].slot == UINT32_MAX;
	if (taken)
		fprintf(stderr, "case %s left %d liveref slots taken\n", t_case_name(), taken);
	CHECK_EQ(taken, 0);
	CHECK_EQ(fill[SLOT_MAX].slot, UINT32_MAX);
	for (int i = 0; i <= SLOT_MAX; i++)
		exit_untouched(&fill[i]);
	free(fill);
}

#endif
