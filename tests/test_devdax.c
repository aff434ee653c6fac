/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_devdax - the device-dax owner (include/daxcore/devdax.h), one
 * behaviour at a time.  The scenarios of issue 12 section 4:
 *   1 alignment_2m, alignment_1g (and alignment_4k)
 *   2 private_views_refused, views_beyond_the_size_refused
 *   3 two_views_see_each_other, pin_then_removal_waits_then_sigbus
 *   5 bad_input_open_close, bad_input_map, bad_input_pin_unpin,
 *     bad_input_pin_user, bad_input_after_kill
 * (4 is the concurrency test: test_conc_devdax.)  Beyond those: PUD end to
 * end (a 4 GiB device of 1 GiB folios registers sparsely and pins 1 GiB as
 * one folio without touching memory), a pin over many folios, kill with views and pins, removal
 * with nothing pinned, a removal that times out while pinned, close
 * waiting for a pin, memory failure under a view (SIGBUS BUS_MCEERR_AR),
 * reopening after close, and the listing of entries.
 *
 * Counters are exact: the cases run one at a time in one thread.  No case
 * measures time: a wait that must happen is seen through the removal's
 * progress callback before the pin is let go.
 */
#include "devdax_fixture.h"

#include <sched.h>
#include <sys/mman.h>

static void setup(void)
{
	dd_setup();
}

static void teardown(void)
{
	dd_teardown();
}

static struct dc_view xmap(uint64_t off, uint64_t len, unsigned flags)
{
	struct dc_view v;

	CHECK_EQ(dc_devdax_map(DD, off, len, flags, &v), 0);
	CHECK(v.addr && v.id && v.length == len && v.offset == off);
	return v;
}

/* One store at @p makes one fault that maps @want_pages pages, and one entry more. */
static void one_fault_maps(void *p, uint64_t want_pages)
{
	struct dc_view_stats s0 = vst(), s1;
	struct dc_devdax_stats d0 = dstats(), d1;

	store_ok(p, 0x5a);
	s1 = vst();
	d1 = dstats();
	CHECK_EQ(s1.faults - s0.faults, 1);
	CHECK_EQ(s1.pages_mapped - s0.pages_mapped, want_pages);
	CHECK_EQ(d1.faults - d0.faults, 1);
	CHECK_EQ(d1.live_entries - d0.live_entries, 1);
}

/* Every page of [p, p + len) loads without a fault more. */
static void all_mapped(const uint8_t *p, uint64_t len)
{
	struct dc_view_stats s0 = vst();
	uint8_t b;

	for (uint64_t o = 0; o < len; o += DC_PAGE_SIZE)
		CHECK_EQ(try_load(p + o, &b), 0);
	CHECK_EQ(vst().faults, s0.faults);
}

/* ---- 1: alignment ------------------------------------------------------------------ */

TEST(alignment_2m)
{
	struct dc_view v, bad;

	fx("mem:64M,order=9,type=devdax");
	CHECK_EQ(dc_devdax_align(DD), 2 * MB);
	CHECK_EQ(dc_devdax_size(DD), 64 * MB);
	CHECK_EQ(dc_devdax_map(DD, 0, 4096, RW, &bad), -EINVAL);
	CHECK_EQ(dc_devdax_map(DD, 4096, 2 * MB, RW, &bad), -EINVAL);
	CHECK_EQ(dc_devdax_map(DD, 2 * MB, 3 * MB, RW, &bad), -EINVAL);
	CHECK_EQ(dstats().views, 0);
	v = xmap(2 * MB, 4 * MB, RW);
	one_fault_maps((char *)v.addr + 4096 * 7, 512);
	all_mapped(v.addr, 2 * MB);
	one_fault_maps((char *)v.addr + 3 * MB, 512);
	all_mapped(v.addr, 4 * MB);
	{
		struct dc_devdax_entry e[4];

		CHECK_EQ(dc_devdax_entries(DD, 0, UINT64_MAX, e, 4), 2);
		CHECK_EQ(e[0].offset, 2 * MB);
		CHECK_EQ(e[1].offset, 4 * MB);
		CHECK_EQ(e[0].order, 9);
		CHECK(e[0].live && !e[0].pinned && e[0].refcount == 1);
	}
	CHECK(dc_devdax_check(DD));
	CHECK_EQ(dc_view_unmap(&v), 0);
}

TEST(alignment_4k)
{
	struct dc_view v;

	fx("mem:1M,type=devdax");
	CHECK_EQ(dc_devdax_align(DD), 4096);
	v = xmap(4096, 4096, RW);
	one_fault_maps(v.addr, 1);
	CHECK_EQ(dc_view_unmap(&v), 0);
}

TEST(alignment_1g)
{
	struct dc_region_stats rs;
	struct dc_view v, bad;

	fx("mem:4G,order=18,type=devdax");
	CHECK_EQ(dc_devdax_align(DD), GB);
	/* Registered sparsely: no memory and almost no metadata until touched. */
	CHECK(memfd_bytes(R) == 0);
	dc_region_stats(R, &rs);
	CHECK_EQ(rs.sections, 0);
	CHECK_EQ(rs.metadata_bytes, 0);
	CHECK_EQ(dc_devdax_map(DD, 0, 2 * MB, RW, &bad), -EINVAL);
	CHECK_EQ(dc_devdax_map(DD, 0, GB + 2 * MB, RW, &bad), -EINVAL);
	CHECK_EQ(dc_devdax_map(DD, GB / 2, GB, RW, &bad), -EINVAL);
	v = xmap(GB, GB, RW);
	one_fault_maps((char *)v.addr + 123 * MB, GB / 4096);
	/* One entry of order 18: both ends of the 1 GiB are this fault's. */
	{
		struct dc_view_stats s0 = vst();

		store_ok(v.addr, 1);
		store_ok((char *)v.addr + GB - 1, 2);
		CHECK_EQ(vst().faults, s0.faults);
	}
	{
		struct dc_devdax_entry e;

		CHECK_EQ(dc_devdax_entries(DD, 0, UINT64_MAX, &e, 1), 1);
		CHECK_EQ(e.order, 18);
		CHECK_EQ(e.offset, GB);
	}
	CHECK_EQ(*(volatile uint8_t *)dc_region_addr(R, (GB + 123 * MB) / 4096), 0x5a);
	CHECK_EQ(dc_view_unmap(&v), 0);
}

/* PUD end to end: a 1 GiB range pinned as one folio, and no memory touched. */
TEST(pud_pin_1g_is_one_folio)
{
	struct dc_devdax_pinset ps;
	struct dc_devdax_entry e;

	fx("mem:4G,order=18,type=devdax");
	CHECK_EQ(dc_devdax_pin(DD, 2 * GB, GB, 0, &ps), 0);
	CHECK_EQ(ps.nfolios, 1);
	CHECK_EQ(ps.offset, 2 * GB);
	CHECK_EQ(ps.length, GB);
	CHECK(ps.addr == dc_region_addr(R, 2 * GB / 4096));
	CHECK_EQ(dc_devdax_entries(DD, 0, UINT64_MAX, &e, 1), 1);
	CHECK_EQ(e.refcount, 1 + DC_PIN_BIAS); /* the entry's reference and one pin */
	CHECK(e.pinned && e.live && e.order == 18);
	CHECK_EQ(dstats().pinned_folios, 1);
	CHECK(memfd_bytes(R) == 0); /* pinning touches no memory */
	/* A range across two 1 GiB folios: two pins. */
	{
		struct dc_devdax_pinset ps2;

		CHECK_EQ(dc_devdax_pin(DD, GB - 4096, 8192, 0, &ps2), 0);
		CHECK_EQ(ps2.nfolios, 2);
		CHECK_EQ(dc_devdax_unpin(DD, &ps2), 0);
	}
	CHECK(dc_devdax_check(DD));
	CHECK_EQ(dc_devdax_unpin(DD, &ps), 0);
	CHECK_EQ(ps.id, 0);
	CHECK_EQ(dc_devdax_entries(DD, 2 * GB, GB, &e, 1), 1);
	CHECK_EQ(e.refcount, 1);
}

/* A pin over many folios: one pin on each, all given back by the unpin. */
TEST(pin_spans_many_folios)
{
	struct dc_devdax_entry e[32];
	struct dc_devdax_pinset ps;

	fx("mem:64M,order=9,type=devdax");
	CHECK_EQ(dc_devdax_pin(DD, 4096, 64 * MB - 8192, 0, &ps), 0);
	CHECK_EQ(ps.nfolios, 32);
	CHECK_EQ(dstats().pinned_folios, 32);
	CHECK_EQ(dc_devdax_entries(DD, 0, UINT64_MAX, e, 32), 32);
	for (int i = 0; i < 32; i++)
		CHECK(e[i].live && e[i].pinned && e[i].refcount == 1 + DC_PIN_BIAS &&
		      e[i].offset == (uint64_t)i * 2 * MB);
	CHECK(dc_devdax_check(DD));
	CHECK_EQ(dc_devdax_unpin(DD, &ps), 0);
	CHECK_EQ(dc_devdax_entries(DD, 0, UINT64_MAX, e, 32), 32);
	for (int i = 0; i < 32; i++)
		CHECK(!e[i].pinned && e[i].refcount == 1);
}

/* ---- 2: private views, views beyond the size ------------------------------------------ */

TEST(private_views_refused)
{
	struct dc_view v;

	fx("mem:8M,order=9,type=devdax");
	CHECK_EQ(dc_devdax_map(DD, 0, 2 * MB, RW | DC_DEVDAX_MAP_PRIVATE, &v), -EINVAL);
	CHECK(strstr(dc_errmsg(), "private"));
	CHECK_EQ(dc_devdax_map(DD, 0, 2 * MB, DC_DEVDAX_MAP_READ | DC_DEVDAX_MAP_PRIVATE, &v),
		 -EINVAL);
	CHECK_EQ(dstats().views, 0);
}

TEST(views_beyond_the_size_refused)
{
	struct dc_view v;

	fx("mem:8M,order=9,type=devdax");
	CHECK_EQ(dc_devdax_map(DD, 8 * MB, 2 * MB, RW, &v), -ENXIO);
	CHECK_EQ(dc_devdax_map(DD, 6 * MB, 4 * MB, RW, &v), -ENXIO);
	CHECK_EQ(dc_devdax_map(DD, 0, 10 * MB, RW, &v), -ENXIO);
	CHECK_EQ(dc_devdax_map(DD, UINT64_MAX - 2 * MB + 1, 2 * MB, RW, &v), -ENXIO);
	CHECK_EQ(dc_devdax_map(DD, 2 * MB, UINT64_MAX - 2 * MB + 1, RW, &v), -ENXIO); /* no overflow */
	CHECK_EQ(dc_devdax_map(DD, UINT64_MAX - 4095, 4096, RW, &v), -EINVAL); /* misaligned first */
	CHECK_EQ(dc_devdax_map(DD, 4 * MB, UINT64_MAX & ~(2 * MB - 1), RW, &v), -ENXIO);
	v = xmap(0, 8 * MB, RW); /* the whole device is fine */
	CHECK_EQ(dc_view_unmap(&v), 0);
	CHECK_EQ(dstats().views, 0);
}

/* ---- 3: two views, a pin, removal --------------------------------------------------- */

TEST(two_views_see_each_other)
{
	struct dc_view a, b;

	fx("mem:8M,order=9,type=devdax");
	a = xmap(0, 4 * MB, RW);
	b = xmap(2 * MB, 6 * MB, RW);
	store_ok((char *)a.addr + 3 * MB + 5, 0x11);
	expect_byte((char *)b.addr + 1 * MB + 5, 0x11);
	store_ok((char *)b.addr + 17, 0x22);
	expect_byte((char *)a.addr + 2 * MB + 17, 0x22);
	/* and the device memory itself */
	CHECK_EQ(*(volatile uint8_t *)dc_region_addr(R, (3 * MB) / 4096), 0);
	CHECK_EQ(((volatile uint8_t *)dc_region_addr(R, (3 * MB) / 4096))[5], 0x11);
	CHECK_EQ(dstats().views, 2);
	CHECK_EQ(dstats().live_entries, 1); /* [2 MiB, 4 MiB): one entry, both views */
	CHECK_EQ(dc_view_unmap(&a), 0);
	CHECK_EQ(dc_view_unmap(&b), 0);
}

struct remover {
	pthread_t t;
	struct dc_region *r;
	_Atomic uint64_t progress_calls, last_outstanding;
	_Atomic int done;
	int ret;
};

static void on_progress(void *arg, uint64_t outstanding)
{
	struct remover *rm = arg;

	atomic_store(&rm->last_outstanding, outstanding);
	atomic_fetch_add(&rm->progress_calls, 1);
}

static void *remove_thread(void *arg)
{
	struct remover *rm = arg;
	struct dc_drain_opts o = { .progress = on_progress, .arg = rm,
				   .progress_interval_ns = 1000000 };

	rm->ret = dc_region_remove(rm->r, &o);
	atomic_store(&rm->done, 1);
	return NULL;
}

/* ndctl's device-dax test: disable the device under a live, writable, pinned mapping. */
TEST(pin_then_removal_waits_then_sigbus)
{
	struct remover rm = { .r = NULL };
	struct dc_devdax_pinset ps;
	struct dc_view a, b;

	fx("mem:8M,order=9,type=devdax");
	a = xmap(0, 8 * MB, RW);
	b = xmap(0, 4 * MB, DC_DEVDAX_MAP_READ);
	store_ok((char *)a.addr + MB, 0x33);
	CHECK_EQ(dc_devdax_pin_user(DD, (char *)a.addr + MB, 4096, 0, &ps), 0);
	CHECK_EQ(ps.offset, MB);
	CHECK_EQ(*(volatile uint8_t *)ps.addr, 0x33);
	rm.r = R;
	CHECK_EQ(pthread_create(&rm.t, NULL, remove_thread, &rm), 0);
	/* Removal waits for the pin: it reports one outstanding reference
	 * (the pinned folio) and does not return. */
	while (atomic_load(&rm.progress_calls) < 3)
		usleep(1000);
	CHECK_EQ(atomic_load(&rm.done), 0);
	CHECK(atomic_load(&rm.last_outstanding) >= 1);
	CHECK(dstats().killed && dstats().removed);
	CHECK(dc_devdax_region(DD) == NULL);
	/* Killed: the views are revoked, the DMA target is still there. */
	expect_sigbus(a.addr, false);
	expect_sigbus((char *)b.addr + MB, false);
	expect_sigbus((char *)a.addr + 6 * MB, true);
	CHECK_EQ(*(volatile uint8_t *)ps.addr, 0x33);
	*(volatile uint8_t *)ps.addr = 0x44; /* the "DMA" writes */
	CHECK_EQ(dstats().entries, 1); /* zapped, held by the pin */
	CHECK_EQ(dstats().live_entries, 0);
	CHECK_EQ(dc_devdax_unpin(DD, &ps), 0);
	CHECK_EQ(pthread_join(rm.t, NULL), 0);
	CHECK_EQ(rm.ret, 0);
	R = NULL; /* removed */
	/* Every access afterwards gets SIGBUS, every call -ENXIO. */
	expect_sigbus(a.addr, false);
	expect_sigbus((char *)a.addr + MB, true);
	expect_sigbus((char *)b.addr + 3 * MB, false);
	CHECK_EQ(dc_devdax_pin_user(DD, a.addr, 4096, 0, &ps), -ENXIO);
	CHECK_EQ(dc_devdax_pin(DD, 0, 4096, 0, &ps), -ENXIO);
	{
		struct dc_view c;

		CHECK_EQ(dc_devdax_map(DD, 0, 2 * MB, RW, &c), -ENXIO);
	}
	CHECK_EQ(dstats().entries, 0);
	CHECK_EQ(dc_view_unmap(&a), 0);
	CHECK_EQ(dc_view_unmap(&b), 0);
}

TEST(removal_times_out_while_pinned_then_completes)
{
	struct dc_drain_opts o = { 0 };
	struct dc_devdax_pinset ps;

	fx("mem:8M,order=9,type=devdax");
	CHECK_EQ(dc_devdax_pin(DD, 3 * MB, 2 * MB, 0, &ps), 0);
	CHECK_EQ(ps.nfolios, 2);
	o.deadline_ns = dc_now_ns() + 20000000ull;
	CHECK_EQ(dc_region_remove(R, &o), -ETIMEDOUT);
	CHECK(dstats().removed);
	CHECK_EQ(dstats().entries, 2);
	CHECK_EQ(dc_devdax_unpin(DD, &ps), 0);
	CHECK_EQ(dstats().entries, 0);
	CHECK_EQ(dc_region_remove(R, NULL), 0);
	R = NULL;
}

TEST(removal_with_nothing_pinned)
{
	struct dc_view v;

	fx("mem:8M,order=9,type=devdax");
	v = xmap(0, 8 * MB, RW);
	store_ok(v.addr, 1);
	CHECK_EQ(dc_region_remove(R, NULL), 0);
	R = NULL;
	expect_sigbus(v.addr, false);
	CHECK_EQ(dc_view_unmap(&v), 0);
}

TEST(kill_revokes_views_and_waits_for_pins)
{
	struct dc_devdax_pinset ps;
	struct dc_view v;

	fx("mem:16M,order=9,type=devdax");
	v = xmap(0, 16 * MB, RW);
	for (int i = 0; i < 8; i++)
		store_ok((char *)v.addr + i * 2 * MB, (uint8_t)i);
	CHECK_EQ(dstats().live_entries, 8);
	CHECK_EQ(dc_devdax_pin(DD, 4 * MB + 100, 10, 0, &ps), 0);
	CHECK_EQ(dc_devdax_kill(DD), 1); /* one entry stays, for the pin */
	CHECK(dstats().killed && !dstats().removed);
	CHECK(dc_devdax_region(DD) == R);
	for (int i = 0; i < 8; i++)
		expect_sigbus((char *)v.addr + i * 2 * MB + 9, i & 1);
	CHECK_EQ(dc_devdax_kill(DD), 1); /* idempotent */
	CHECK(dc_devdax_check(DD));
	CHECK_EQ(dc_devdax_unpin(DD, &ps), 0);
	CHECK_EQ(dstats().entries, 0);
	CHECK_EQ(dc_devdax_kill(DD), 0);
	CHECK_EQ(dc_view_unmap(&v), 0);
}

struct unpinner {
	pthread_t t;
	struct dc_devdax_pinset ps;
	_Atomic int go;
};

static void *unpin_thread(void *arg)
{
	struct unpinner *u = arg;

	while (!atomic_load(&u->go))
		usleep(1000);
	CHECK_EQ(dc_devdax_unpin(DD, &u->ps), 0);
	return NULL;
}

static void go_then_sleep(void *arg)
{
	atomic_store(&((struct unpinner *)arg)->go, 1);
}

TEST(close_waits_for_views_and_pins)
{
	struct dc_wait_opts wo = { 0 };
	struct unpinner u = { .go = 0 };
	struct dc_cancel c;
	struct dc_view v;

	fx("mem:8M,order=9,type=devdax");
	v = xmap(0, 2 * MB, RW);
	CHECK_EQ(dc_devdax_close(DD, NULL), -EBUSY);
	CHECK_EQ(dc_view_unmap(&v), 0);
	CHECK_EQ(dc_devdax_pin(DD, 0, 4096, 0, &u.ps), 0);
	CHECK_EQ(dc_devdax_close(DD, NULL), -EBUSY);
	wo.deadline_ns = dc_now_ns() + 10000000ull;
	CHECK_EQ(dc_devdax_close(DD, &wo), -ETIMEDOUT);
	dc_cancel_init(&c);
	dc_cancel_fire(&c);
	wo = (struct dc_wait_opts){ .cancel = &c };
	CHECK_EQ(dc_devdax_close(DD, &wo), -EINTR);
	CHECK_EQ(pthread_create(&u.t, NULL, unpin_thread, &u), 0);
	go_then_sleep(&u);
	wo = (struct dc_wait_opts){ 0 };
	CHECK_EQ(dc_devdax_close(DD, &wo), 0); /* waits for the unpin */
	DD = NULL;
	CHECK_EQ(pthread_join(u.t, NULL), 0);
	/* The region may be opened again. */
	CHECK_EQ(dc_devdax_open(R, &DD), 0);
}

TEST(memory_failure_under_a_view)
{
	struct dc_devdax_pinset ps;
	struct dc_view v;

	fx("mem:8M,order=9,type=devdax");
	v = xmap(0, 8 * MB, RW);
	store_ok(v.addr, 1);
	store_ok((char *)v.addr + 4 * MB, 2);
	CHECK_EQ(dc_folio_memory_failure(R, (4 * MB + 8192) / 4096, 1), 0);
	expect_sigbus_code((char *)v.addr + 4 * MB + 5, false, BUS_MCEERR_AR);
	expect_sigbus_code((char *)v.addr + 5 * MB, true, BUS_MCEERR_AR);
	CHECK_EQ(dc_devdax_pin(DD, 4 * MB, 4096, 0, &ps), -EHWPOISON);
	expect_byte(v.addr, 1); /* the other entries are untouched */
	CHECK_EQ(dc_devdax_pin(DD, 0, 4096, 0, &ps), 0);
	CHECK(dc_devdax_check(DD));
	CHECK_EQ(dc_devdax_unpin(DD, &ps), 0);
	CHECK_EQ(dc_view_unmap(&v), 0);
}

/* The library's test hook: between dd__enter()'s first killed check and its lock. */
extern void (*dc__test_devdax_enter_hook)(struct dc_devdax *dd) __attribute__((weak));

static void kill_in_hook(struct dc_devdax *dd)
{
	dc__test_devdax_enter_hook = NULL; /* once */
	CHECK(dc_devdax_kill(dd) >= 0);
}

/* A kill between a call's first killed check and its lock: the call must see it. */
TEST(kill_between_the_check_and_the_lock)
{
	struct dc_devdax_pinset ps;
	struct dc_view v;

	if (!&dc__test_devdax_enter_hook)
		t_skip("the library has no test hooks (built without DC_FAULT_INJECT)");
	fx("mem:8M,order=9,type=devdax");
	v = xmap(0, 8 * MB, RW);
	store_ok(v.addr, 1);
	dc__test_devdax_enter_hook = kill_in_hook;
	CHECK_EQ(dc_devdax_pin(DD, 2 * MB, 4096, 0, &ps), -ENXIO);
	CHECK(dc__test_devdax_enter_hook == NULL);
	dc__test_devdax_enter_hook = NULL;
	CHECK_EQ(dstats().entries, 0);
	CHECK_EQ(dc_devdax_close(DD, NULL), -EBUSY); /* the view */
	CHECK_EQ(dc_view_unmap(&v), 0);
	/* The same for a fault through a view. */
	CHECK_EQ(dc_devdax_close(DD, NULL), 0);
	CHECK_EQ(dc_devdax_open(R, &DD), 0);
	v = xmap(0, 8 * MB, RW);
	dc__test_devdax_enter_hook = kill_in_hook;
	expect_sigbus((char *)v.addr + 4 * MB, true);
	dc__test_devdax_enter_hook = NULL;
	CHECK_EQ(dstats().live_entries, 0);
	CHECK_EQ(dc_view_unmap(&v), 0);
}

/* ---- the review of the device-dax owner (findings 1-5) ----------------------------------- */

extern void (*dc__test_devdax_close_hook)(struct dc_devdax *dd) __attribute__((weak));
extern void (*dc__test_devdax_open_hook)(struct dc_devdax *dd) __attribute__((weak));

static int close_hook_remove = 1;

/* Inside close, after its unlock and before it gives up the claim: remove, without waiting. */
static void remove_in_close(struct dc_devdax *dd)
{
	struct dc_drain_opts o = { .deadline_ns = 1 }; /* past: report what is left, do not wait */

	(void)dd;
	dc__test_devdax_close_hook = NULL; /* once */
	close_hook_remove = dc_region_remove(R, &o);
}

/*
 * A removal racing close (finding 1): its PRE_REMOVE sees the device
 * closing and leaves the claim to close, so the region must stay until
 * close has given the claim up: close's mapping holds it until then, and
 * the removal finds it (-ETIMEDOUT with a deadline that has passed).  With
 * the mapping destroyed first (bug 32) the removal frees the region, claim
 * and all, and close then releases the claim of freed memory.
 */
TEST(removal_during_close_waits_for_the_claim)
{
	struct dc_view v;

	if (!&dc__test_devdax_close_hook)
		t_skip("the library has no test hooks (built without DC_FAULT_INJECT)");
	fx("mem:8M,order=9,type=devdax");
	v = xmap(0, 8 * MB, RW);
	store_ok((char *)v.addr + 2 * MB, 7);
	CHECK_EQ(dc_view_unmap(&v), 0);
	close_hook_remove = 1;
	dc__test_devdax_close_hook = remove_in_close;
	CHECK_EQ(dc_devdax_close(DD, NULL), 0);
	DD = NULL;
	CHECK(dc__test_devdax_close_hook == NULL);
	CHECK_EQ(close_hook_remove, -ETIMEDOUT); /* 0: freed while close held the claim */
	CHECK(dc_region_holder(R) == NULL);
	CHECK_EQ(dc_region_remove(R, NULL), 0); /* now nothing holds it */
	R = NULL;
}

static pthread_t open_remover;
static int open_remove_ret = 1;

static void *remove_region(void *arg)
{
	(void)arg;
	open_remove_ret = dc_region_remove(R, NULL);
	return NULL;
}

/* Inside open, right after the claim: start a removal, wait for its PRE_REMOVE to let go. */
static void remove_in_open(struct dc_devdax *dd)
{
	dc__test_devdax_open_hook = NULL; /* once */
	CHECK_EQ(pthread_create(&open_remover, NULL, remove_region, NULL), 0);
	while (dc_region_holder(R) == dd)
		sched_yield();
}

/*
 * A removal racing open (finding 4): its PRE_REMOVE, coming right after
 * the claim, meets a complete device (kills it, lets go of the claim), and
 * open fails with -ENXIO, leaving nothing behind.  With the claim made
 * before the mapping (bug 34) the PRE_REMOVE meets a half-built device,
 * the mapping cannot be made, and open's cleanup releases a claim it no
 * longer holds: DC_BUG.  A folio reference keeps the removal waiting, so
 * that the region outlives the call.
 */
TEST(removal_during_open_fails_it_cleanly)
{
	struct dc_devdax *dd = NULL;
	struct dc_folio *f;

	if (!&dc__test_devdax_open_hook)
		t_skip("the library has no test hooks (built without DC_FAULT_INJECT)");
	CHECK_EQ(dc_region_create("mem:8M,order=9,type=devdax", &R), 0);
	CHECK_EQ(dc_folio_request(R, 512, 512, &f), 0);
	open_remove_ret = 1;
	dc__test_devdax_open_hook = remove_in_open;
	CHECK_EQ(dc_devdax_open(R, &dd), -ENXIO);
	CHECK(dd == NULL);
	CHECK(dc__test_devdax_open_hook == NULL);
	CHECK(dc_region_holder(R) == NULL);
	dc_folio_put(f);
	CHECK_EQ(pthread_join(open_remover, NULL), 0);
	CHECK_EQ(open_remove_ret, 0);
	R = NULL;
}

/*
 * A pin of a folio at DC_FOLIO_REF_MAX (finding 2) fails with -EOVERFLOW at
 * once: the mapping's fast path reports the overflow (a fault would not
 * help), and a pin never retries a lookup its fault made succeed.  With
 * the overflow reported as "not mapped" (bug 33) the pin faults (the
 * entry is live: nothing to do) and retries for ever with the device lock
 * held shared (the watchdog fails the case), and kill would hang on it.
 */
TEST(pin_at_the_reference_limit_fails_at_once)
{
	struct dc_devdax_pinset ps, more;
	struct dc_folio *f, *f1;
	uint64_t extra = 0;

	fx("mem:8M,type=devdax");
	CHECK_EQ(dc_devdax_pin(DD, 0, 4096, 0, &ps), 0);
	f = dc_folio_lookup(R, 0);
	CHECK(f != NULL);
	while (dc_folio_pin(f) == 0) /* up to the cap, one DC_PIN_BIAS at a time */
		extra++;
	CHECK(extra > 0);
	CHECK(dc_folio_refcount(f) > DC_FOLIO_REF_MAX - DC_PIN_BIAS);
	CHECK_EQ(dc_devdax_pin(DD, 0, 4096, 0, &more), -EOVERFLOW);
	CHECK_EQ(dc_devdax_pin(DD, 0, 3 * 4096, DC_DEVDAX_PIN_READONLY, &more), -EOVERFLOW);
	CHECK_EQ(dstats().pins, 1);
	CHECK_EQ(dstats().pinned_folios, 1);
	f1 = dc_folio_lookup(R, 1); /* the longer pin let go of what it took */
	CHECK(!f1 || !dc_folio_maybe_dma_pinned(f1));
	CHECK_EQ(dc_devdax_kill(DD), 1); /* not blocked by a pin: the entry waits for its pins */
	while (extra--)
		dc_folio_unpin(f);
	CHECK_EQ(dc_devdax_unpin(DD, &ps), 0);
	CHECK_EQ(dstats().entries, 0);
}

/*
 * Pin set ids are never reused (finding 3): the first pin of the same
 * range on two devices, or on one region before and after a reopen, are
 * different pin sets, and one device refuses another's (or an earlier
 * device's) without releasing anything.
 */
TEST(unpin_of_another_devices_pin_set_refused)
{
	struct dc_devdax_pinset pa, pb, old, pc;
	struct dc_region *r2;
	struct dc_devdax *b;

	fx("mem:8M,order=9,type=devdax");
	CHECK_EQ(dc_region_create("mem:8M,order=9,type=devdax", &r2), 0);
	CHECK_EQ(dc_devdax_open(r2, &b), 0);
	CHECK_EQ(dc_devdax_pin(DD, 0, 4096, 0, &pa), 0);
	CHECK_EQ(dc_devdax_pin(b, 0, 4096, 0, &pb), 0);
	CHECK(pa.id != pb.id);
	CHECK_EQ(dc_devdax_unpin(b, &pa), -EINVAL);
	CHECK(pa.id != 0);
	CHECK(dc_folio_maybe_dma_pinned(dc_folio_lookup(r2, 0))); /* b's DMA pin stays */
	CHECK_EQ(dc_devdax_unpin(DD, &pb), -EINVAL);
	CHECK(dc_folio_maybe_dma_pinned(dc_folio_lookup(R, 0)));
	/* close and reopen b: a pin set of the old device is not one of the new */
	old = pb;
	CHECK_EQ(dc_devdax_unpin(b, &pb), 0);
	CHECK_EQ(dc_devdax_close(b, NULL), 0);
	CHECK_EQ(dc_devdax_open(r2, &b), 0);
	CHECK_EQ(dc_devdax_pin(b, 0, 4096, 0, &pc), 0);
	CHECK(pc.id != old.id);
	CHECK_EQ(dc_devdax_unpin(b, &old), -EINVAL);
	CHECK(dc_folio_maybe_dma_pinned(dc_folio_lookup(r2, 0)));
	CHECK_EQ(dc_devdax_unpin(b, &pc), 0);
	CHECK_EQ(dc_devdax_unpin(DD, &pa), 0);
	CHECK(dc_devdax_check(b));
	CHECK_EQ(dc_devdax_close(b, NULL), 0);
	t_region_teardown(&r2);
}

/*
 * No fault-around (finding 5): on a 4 KiB device one first-touch store
 * faults in one entry, and counts one fault; a neighbour that is mapped
 * already is served to the view without a fault; after a kill one access
 * that gets one SIGBUS counts one.
 */
TEST(no_fault_around_and_one_sigbus_per_access)
{
	struct dc_devdax_stats d0, d1;
	struct dc_view v;
	char *p;

	fx("mem:1M,type=devdax");
	v = xmap(0, MB, RW);
	p = v.addr;
	d0 = dstats();
	store_ok(p + 40 * 4096, 1);
	d1 = dstats();
	CHECK_EQ(d1.faults - d0.faults, 1);
	CHECK_EQ(d1.live_entries - d0.live_entries, 1);
	store_ok(p + 41 * 4096, 2); /* its neighbour 40 is live: served, not faulted */
	store_ok(p + 42 * 4096, 3);
	d1 = dstats();
	CHECK_EQ(d1.faults - d0.faults, 3);
	CHECK_EQ(d1.live_entries - d0.live_entries, 3);
	CHECK_EQ(d1.sigbus, d0.sigbus);
	CHECK(dc_devdax_kill(DD) >= 0);
	d0 = dstats();
	expect_sigbus(p + 100 * 4096, false);
	CHECK_EQ(dstats().sigbus - d0.sigbus, 1);
	expect_sigbus(p + 40 * 4096, true);
	CHECK_EQ(dstats().sigbus - d0.sigbus, 2);
	CHECK_EQ(dc_view_unmap(&v), 0);
}

/* ---- 5: bad input ------------------------------------------------------------------------- */

TEST(bad_input_open_close)
{
	struct dc_devdax *dd2;
	struct dc_region *fs;

	CHECK_EQ(dc_devdax_open(NULL, &dd2), -EINVAL);
	CHECK_EQ(dc_region_create("mem:4M", &fs), 0);
	CHECK_EQ(dc_devdax_open(fs, &dd2), -EINVAL);
	CHECK(strstr(dc_errmsg(), "fsdax"));
	CHECK_EQ(dc_region_remove(fs, NULL), 0);
	fx("mem:4M,type=devdax");
	CHECK_EQ(dc_devdax_open(R, NULL), -EINVAL);
	CHECK_EQ(dc_devdax_open(R, &dd2), -EBUSY);
	CHECK(dc_region_holder(R) == DD);
	CHECK_EQ(dc_devdax_close(NULL, NULL), -EINVAL);
	CHECK_EQ(dc_devdax_kill(NULL), -EINVAL);
	CHECK(!dc_devdax_check(NULL));
	CHECK_EQ(dc_devdax_size(NULL), 0);
	CHECK(dc_devdax_region(NULL) == NULL);
	/* A claim by another holder: the device cannot open. */
	CHECK_EQ(dc_devdax_close(DD, NULL), 0);
	DD = NULL;
	CHECK(dc_region_holder(R) == NULL);
	{
		static const struct dc_holder_ops none = { 0 };
		int other;

		CHECK_EQ(dc_region_claim(R, &other, &none), 0);
		CHECK_EQ(dc_devdax_open(R, &dd2), -EBUSY);
		CHECK_EQ(dc_region_release(R, &other), 0);
	}
	CHECK_EQ(dc_devdax_open(R, &DD), 0);
}

TEST(bad_input_map)
{
	struct dc_view v;

	fx("mem:8M,order=9,type=devdax");
	CHECK_EQ(dc_devdax_map(NULL, 0, 2 * MB, RW, &v), -EINVAL);
	CHECK_EQ(dc_devdax_map(DD, 0, 2 * MB, RW, NULL), -EINVAL);
	CHECK_EQ(dc_devdax_map(DD, 0, 0, RW, &v), -EINVAL);
	CHECK_EQ(dc_devdax_map(DD, 0, 2 * MB, 0, &v), -EINVAL);
	CHECK_EQ(dc_devdax_map(DD, 0, 2 * MB, 0x40, &v), -EINVAL);
	CHECK_EQ(dc_devdax_map(DD, 1, 2 * MB, RW, &v), -EINVAL);
	CHECK_EQ(dc_devdax_map(DD, 0, 2 * MB - 4096, RW, &v), -EINVAL);
	CHECK_EQ(dstats().views, 0);
	/* WRITE alone means READ | WRITE. */
	v = xmap(0, 2 * MB, DC_DEVDAX_MAP_WRITE);
	CHECK_EQ(v.prot, DC_VIEW_READ | DC_VIEW_WRITE);
	CHECK_EQ(dc_view_unmap(&v), 0);
}

TEST(bad_input_pin_unpin)
{
	struct dc_devdax_pinset ps, forged;
	struct dc_devdax_entry e;

	fx("mem:8M,order=9,type=devdax");
	CHECK_EQ(dc_devdax_pin(NULL, 0, 1, 0, &ps), -EINVAL);
	CHECK_EQ(dc_devdax_pin(DD, 0, 1, 0, NULL), -EINVAL);
	CHECK_EQ(dc_devdax_pin(DD, 0, 0, 0, &ps), -EINVAL);
	CHECK_EQ(dc_devdax_pin(DD, 0, 1, 0x10, &ps), -EINVAL);
	CHECK_EQ(dc_devdax_pin(DD, 8 * MB, 1, 0, &ps), -ENXIO);
	CHECK_EQ(dc_devdax_pin(DD, 8 * MB - 1, 2, 0, &ps), -ENXIO);
	CHECK_EQ(dc_devdax_pin(DD, 1, UINT64_MAX, 0, &ps), -ENXIO);
	CHECK_EQ(dc_devdax_pin(DD, UINT64_MAX, 1, 0, &ps), -ENXIO);
	CHECK_EQ(dstats().entries, 0); /* nothing faulted in by the refusals */
	CHECK_EQ(dc_devdax_pin(DD, 8 * MB - 1, 1, DC_DEVDAX_PIN_READONLY, &ps), 0);
	CHECK_EQ(ps.nfolios, 1);
	CHECK_EQ(dc_devdax_unpin(NULL, &ps), -EINVAL);
	CHECK_EQ(dc_devdax_unpin(DD, NULL), -EINVAL);
	forged = ps;
	forged.id++;
	CHECK_EQ(dc_devdax_unpin(DD, &forged), -EINVAL);
	forged = ps;
	forged.length++;
	CHECK_EQ(dc_devdax_unpin(DD, &forged), -EINVAL);
	forged = ps;
	CHECK_EQ(dc_devdax_unpin(DD, &ps), 0);
	CHECK_EQ(dc_devdax_unpin(DD, &ps), -EINVAL);     /* twice */
	CHECK_EQ(dc_devdax_unpin(DD, &forged), -EINVAL); /* a stale copy */
	CHECK_EQ(dc_devdax_entries(DD, 6 * MB, 2 * MB, &e, 1), 1);
	CHECK_EQ(e.refcount, 1); /* each pin given back exactly once */
	CHECK_EQ(dc_devdax_entries(NULL, 0, 1, &e, 1), -EINVAL);
	CHECK_EQ(dc_devdax_entries(DD, 0, 1, NULL, 1), -EINVAL);
	CHECK_EQ(dc_devdax_entries(DD, 8 * MB, 1, &e, 1), -EINVAL);
	CHECK_EQ(dc_devdax_entries(DD, 0, 0, &e, 1), -EINVAL);
	CHECK_EQ(dc_devdax_entries(DD, 0, UINT64_MAX, NULL, 0), 1);
	/* Allocation failure: nothing stays pinned. */
	dc__fault_set(1);
	CHECK_EQ(dc_devdax_pin(DD, 0, 4096, 0, &ps), -ENOMEM);
	dc__fault_set(0);
	CHECK_EQ(dstats().pins, 0);
}

TEST(bad_input_pin_user)
{
	struct dc_devdax_pinset ps;
	struct dc_devdax *other;
	struct dc_region *r2;
	struct dc_view v, ro, w2;
	char local[64];

	fx("mem:8M,order=9,type=devdax");
	CHECK_EQ(dc_region_create("mem:8M,order=9,type=devdax", &r2), 0);
	CHECK_EQ(dc_devdax_open(r2, &other), 0);
	v = xmap(0, 4 * MB, RW);
	ro = xmap(4 * MB, 2 * MB, DC_DEVDAX_MAP_READ);
	CHECK_EQ(dc_devdax_map(other, 0, 2 * MB, RW, &w2), 0);
	CHECK_EQ(dc_devdax_pin_user(NULL, v.addr, 1, 0, &ps), -EINVAL);
	CHECK_EQ(dc_devdax_pin_user(DD, v.addr, 1, 0, NULL), -EINVAL);
	CHECK_EQ(dc_devdax_pin_user(DD, v.addr, 0, 0, &ps), -EINVAL);
	CHECK_EQ(dc_devdax_pin_user(DD, v.addr, 1, 0x8, &ps), -EINVAL);
	CHECK_EQ(dc_devdax_pin_user(DD, local, 1, 0, &ps), -EFAULT);
	CHECK_EQ(dc_devdax_pin_user(DD, (char *)v.addr + 4 * MB - 1, 2, 0, &ps), -EFAULT);
	CHECK_EQ(dc_devdax_pin_user(DD, w2.addr, 1, 0, &ps), -EFAULT); /* another device's */
	CHECK_EQ(dc_devdax_pin_user(DD, ro.addr, 1, 0, &ps), -EFAULT); /* write pin, read-only view */
	CHECK_EQ(dstats().pins, 0);
	CHECK_EQ(dc_devdax_pin_user(DD, ro.addr, 1, DC_DEVDAX_PIN_READONLY, &ps), 0);
	CHECK_EQ(ps.offset, 4 * MB);
	CHECK_EQ(dc_devdax_unpin(other, &ps), -EINVAL); /* not that device's pin */
	CHECK_EQ(dc_devdax_unpin(DD, &ps), 0);
	CHECK_EQ(dc_devdax_pin_user(DD, (char *)v.addr + MB + 3, 2 * MB, 0, &ps), 0);
	CHECK_EQ(ps.offset, MB + 3);
	CHECK_EQ(ps.nfolios, 2);
	CHECK_EQ(dc_devdax_unpin(DD, &ps), 0);
	CHECK_EQ(dc_view_unmap(&v), 0);
	CHECK_EQ(dc_view_unmap(&ro), 0);
	CHECK_EQ(dc_view_unmap(&w2), 0);
	CHECK_EQ(dc_devdax_close(other, NULL), 0);
	CHECK_EQ(dc_region_remove(r2, NULL), 0);
}

TEST(bad_input_after_kill)
{
	struct dc_devdax_pinset ps, held;
	struct dc_devdax_entry e;
	struct dc_view v, v2;

	fx("mem:8M,order=9,type=devdax");
	v = xmap(0, 8 * MB, RW);
	CHECK_EQ(dc_devdax_pin(DD, 0, 4096, 0, &held), 0);
	CHECK_EQ(dc_devdax_kill(DD), 1);
	CHECK_EQ(dc_devdax_map(DD, 0, 2 * MB, RW, &v2), -ENXIO);
	CHECK(strstr(dc_errmsg(), "killed"));
	CHECK_EQ(dc_devdax_map(DD, 1, 2 * MB, RW, &v2), -EINVAL); /* bad input stays bad */
	CHECK_EQ(dc_devdax_map(DD, 8 * MB, 2 * MB, RW, &v2), -ENXIO);
	CHECK_EQ(dc_devdax_pin(DD, 0, 4096, 0, &ps), -ENXIO);
	CHECK_EQ(dc_devdax_pin(DD, 6 * MB, 4096, 0, &ps), -ENXIO);
	CHECK_EQ(dc_devdax_pin(DD, 0, 0, 0, &ps), -EINVAL);
	CHECK_EQ(dc_devdax_pin_user(DD, v.addr, 4096, 0, &ps), -ENXIO);
	CHECK_EQ(dc_view_fault(&v, 0, 4096, DC_VIEW_FAULT_WRITE), -ENXIO);
	expect_sigbus((char *)v.addr + 2 * MB, true);
	CHECK_EQ(dc_devdax_entries(DD, 0, UINT64_MAX, &e, 1), 1);
	CHECK(!e.live && e.pinned);
	CHECK_EQ(*(volatile uint8_t *)held.addr, 0); /* the pin's memory is still there */
	CHECK_EQ(dc_devdax_unpin(DD, &held), 0);
	CHECK_EQ(dc_devdax_unpin(DD, &held), -EINVAL);
	CHECK_EQ(dc_devdax_entries(DD, 0, UINT64_MAX, &e, 1), 0);
	CHECK_EQ(dstats().views, 1);
	CHECK_EQ(dc_view_unmap(&v), 0);
}

T_MAIN(setup, teardown)
