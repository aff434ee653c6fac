/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_conc_devdax - device-dax under concurrency (issue 12, section 4,
 * test 4; also run under ThreadSanitizer).
 *
 * Each round opens a device (mem:32M,order=9,type=devdax: 16 entries of
 * 2 MiB) with one writable view of all of it.  Faulter threads load and
 * store through the view at random pages (plain accesses: every fault goes
 * through the SIGSEGV handler, SIGBUS is caught under sigsetjmp); pinner
 * threads pin random ranges by device offset and through the view, write
 * the pinned memory as a DMA would, and unpin; the main thread, once the
 * others have done a number of operations, kills the device
 * (faults_and_pins_vs_kill) or removes its region
 * (faults_and_pins_vs_removal), and lets them go on for as many
 * operations more.  The library's test hook sleeps briefly now and then
 * between the first killed check of a call and the device lock, where a
 * kill may fall (the real window is a reader's preemption).  Violations,
 * counted:
 *   - pin_after_kill: a pin that returned 0 after the kill (or removal)
 *     returned, or whose entry is live once the kill returned (a pin may
 *     race the kill, but then the kill zapped its entry: one the kill
 *     left live was made after it);
 *   - access_after_kill: an access that began after the kill (or
 *     removal) returned did not get SIGBUS;
 *   - early_sigbus / early_enxio: an access got SIGBUS, or a pin -ENXIO,
 *     although it ended before the kill began;
 *   - bad_error: a pin failed with anything but -ENXIO, an unpin failed;
 *   - left: after the threads end, an entry is still live, an entry or a
 *     pin set is left, or dc_devdax_check() fails; the teardown then
 *     checks that no folio reference is left in the region (no leak).
 * open_and_close_vs_removal races dc_devdax_close() and dc_devdax_open()
 * with the region's removal, round after round (its own counters are
 * described there).  Counts are asserted to be 0; a watchdog bounds each
 * case; rounds and operations scale down under sanitizers.
 */
#include "devdax_fixture.h"

#include <sched.h>

#define DEV_SIZE (32 * MB)
#define NFAULT 3
#define NPIN 3

static atomic_int stop;
static atomic_int kill_begun, kill_done; /* of this round */
static atomic_long ops;
static atomic_long n_pin_after_kill, n_access_after_kill, n_early_sigbus, n_early_enxio,
	n_bad_error, n_left, n_pins_ok, n_sigbus_seen;
static struct dc_view V;

/* The library's test hook: between dd__enter()'s first killed check and its lock. */
extern void (*dc__test_devdax_enter_hook)(struct dc_devdax *dd) __attribute__((weak));

static __thread uint64_t hook_seed;

/* Widen the window a kill may fall into: a short sleep, one call in four. */
static void enter_hook(struct dc_devdax *dd)
{
	(void)dd;
	if (!hook_seed)
		hook_seed = (uintptr_t)&hook_seed;
	if ((t_rand(&hook_seed) & 3) == 0)
		usleep(20);
}

static void setup(void)
{
	dd_setup();
	if (!&dc__test_devdax_enter_hook)
		t_skip("the library has no test hooks (built without DC_FAULT_INJECT)");
	dc__test_devdax_enter_hook = enter_hook;
}

static void teardown(void)
{
	dc__test_devdax_enter_hook = NULL;
	dd_teardown();
}

static void *faulter(void *arg)
{
	uint64_t seed = t_seed(0x5eed) + (uintptr_t)arg * 7919;

	while (!atomic_load(&stop)) {
		uint64_t pg = t_rand(&seed) % (DEV_SIZE / 4096);
		volatile uint8_t *p = (uint8_t *)V.addr + pg * 4096 + (t_rand(&seed) & 4095);
		bool store = t_rand(&seed) & 1;
		int after = atomic_load(&kill_done), before = !atomic_load(&kill_begun);
		uint8_t b;
		int r = try_access(p, store, (uint8_t)pg, &b);

		if (r == 0 && after)
			atomic_fetch_add(&n_access_after_kill, 1);
		if (r && before && !atomic_load(&kill_begun))
			atomic_fetch_add(&n_early_sigbus, 1);
		if (r)
			atomic_fetch_add(&n_sigbus_seen, 1);
		atomic_fetch_add(&ops, 1);
	}
	return NULL;
}

/* The entry holding device byte @off is live now. */
static bool entry_live(uint64_t off)
{
	struct dc_devdax_entry e;

	return dc_devdax_entries(DD, off, 1, &e, 1) == 1 && e.live;
}

static void *pinner(void *arg)
{
	uint64_t seed = t_seed(0x9e11) + (uintptr_t)arg * 104729;

	while (!atomic_load(&stop)) {
		uint64_t off = t_rand(&seed) % DEV_SIZE, len = 1 + t_rand(&seed) % (3 * MB);
		int after = atomic_load(&kill_done), before = !atomic_load(&kill_begun);
		struct dc_devdax_pinset ps;
		int ret;

		if (len > DEV_SIZE - off)
			len = DEV_SIZE - off;
		if (t_rand(&seed) & 1)
			ret = dc_devdax_pin(DD, off, len, 0, &ps);
		else
			ret = dc_devdax_pin_user(DD, (char *)V.addr + off, len, 0, &ps);
		if (ret == 0) {
			atomic_fetch_add(&n_pins_ok, 1);
			if (after || (atomic_load(&kill_done) && entry_live(off)))
				atomic_fetch_add(&n_pin_after_kill, 1);
			/* the DMA (relaxed atomics: two pin sets may share a byte) */
			__atomic_store_n((uint8_t *)ps.addr, 0xd1, __ATOMIC_RELAXED);
			__atomic_store_n((uint8_t *)ps.addr + len - 1, 0xd2, __ATOMIC_RELAXED);
			for (int i = 0; i < 3; i++)
				sched_yield();
			if (dc_devdax_unpin(DD, &ps))
				atomic_fetch_add(&n_bad_error, 1);
		} else if (ret == -ENXIO) {
			if (before && !atomic_load(&kill_begun))
				atomic_fetch_add(&n_early_enxio, 1);
		} else {
			fprintf(stderr, "[%s] pin: %s (%s)\n", t_current, dc_errname(ret),
				dc_errmsg());
			atomic_fetch_add(&n_bad_error, 1);
		}
		atomic_fetch_add(&ops, 1);
	}
	return NULL;
}

static void wait_ops(long n)
{
	long start = atomic_load(&ops);

	while (atomic_load(&ops) - start < n)
		usleep(200);
}

/* One round: threads, then the kill (@remove: the region's removal). */
static void round_(bool remove)
{
	pthread_t t[NFAULT + NPIN];
	long per = (long)t_scale(4000);
	struct dc_devdax_stats st;

	fx("mem:32M,order=9,type=devdax");
	CHECK_EQ(dc_devdax_map(DD, 0, DEV_SIZE, RW, &V), 0);
	atomic_store(&stop, 0);
	atomic_store(&kill_begun, 0);
	atomic_store(&kill_done, 0);
	for (uintptr_t i = 0; i < NFAULT + NPIN; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, i < NFAULT ? faulter : pinner, (void *)i), 0);
	wait_ops(per);
	atomic_store(&kill_begun, 1);
	if (remove) {
		CHECK_EQ(dc_region_remove(R, NULL), 0); /* waits for the pins in flight */
		R = NULL;
	} else {
		CHECK(dc_devdax_kill(DD) >= 0);
	}
	atomic_store(&kill_done, 1);
	wait_ops(per);
	atomic_store(&stop, 1);
	for (int i = 0; i < NFAULT + NPIN; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	st = dstats();
	if (st.live_entries || st.entries || st.pins || !dc_devdax_check(DD)) {
		fprintf(stderr, "[%s] left: %llu live entries, %llu entries, %llu pin sets\n",
			t_current, (unsigned long long)st.live_entries,
			(unsigned long long)st.entries, (unsigned long long)st.pins);
		atomic_fetch_add(&n_left, 1);
	}
	CHECK(st.killed && st.removed == remove);
	CHECK_EQ(dc_view_unmap(&V), 0);
	CHECK_EQ(dc_devdax_close(DD, NULL), 0);
	DD = NULL;
	if (R)
		t_region_teardown(&R);
}

static void rounds(bool remove)
{
	unsigned n = t_scale(12) < 3 ? 3 : (unsigned)t_scale(12);
	atomic_long *ctr[] = { &n_pin_after_kill, &n_access_after_kill, &n_early_sigbus,
			       &n_early_enxio, &n_bad_error, &n_left, &n_pins_ok, &n_sigbus_seen };

	for (size_t i = 0; i < sizeof(ctr) / sizeof(ctr[0]); i++)
		atomic_store(ctr[i], 0);
	for (unsigned i = 0; i < n; i++)
		round_(remove);
	printf("%s: %u rounds, %ld pins, %ld SIGBUS; violations: pin_after_kill %ld, "
	       "access_after_kill %ld, early_sigbus %ld, early_enxio %ld, bad_error %ld, "
	       "left %ld\n", t_current, n, atomic_load(&n_pins_ok), atomic_load(&n_sigbus_seen),
	       atomic_load(&n_pin_after_kill), atomic_load(&n_access_after_kill),
	       atomic_load(&n_early_sigbus), atomic_load(&n_early_enxio),
	       atomic_load(&n_bad_error), atomic_load(&n_left));
	CHECK_EQ(atomic_load(&n_pin_after_kill), 0);
	CHECK_EQ(atomic_load(&n_access_after_kill), 0);
	CHECK_EQ(atomic_load(&n_early_sigbus), 0);
	CHECK_EQ(atomic_load(&n_early_enxio), 0);
	CHECK_EQ(atomic_load(&n_bad_error), 0);
	CHECK_EQ(atomic_load(&n_left), 0);
	CHECK(atomic_load(&n_pins_ok) > 0); /* the pins did happen */
}

TEST(faults_and_pins_vs_kill)
{
	rounds(false);
}

TEST(faults_and_pins_vs_removal)
{
	rounds(true);
}

/* ---- open and close racing the region's removal (the review's findings 1 and 4) ---------- */

extern void (*dc__test_devdax_close_hook)(struct dc_devdax *dd) __attribute__((weak));
extern void (*dc__test_devdax_open_hook)(struct dc_devdax *dd) __attribute__((weak));

static atomic_long n_bad_open, n_bad_close, n_bad_remove, n_not_removed, n_open_ok, n_open_enxio;
static int remove_ret;
static uint64_t remove_spin;

static void spin(uint64_t n)
{
	for (volatile uint64_t i = 0; i < n; i++)
		;
}

static void *remover(void *arg)
{
	(void)arg;
	spin(remove_spin);
	remove_ret = dc_region_remove(R, NULL);
	return NULL;
}

/* Close racing a removal: both finish (0), the region is freed once, after close let go. */
static void close_round(uint64_t *seed)
{
	pthread_t t;
	int ret;

	CHECK_EQ(dc_region_create("mem:4M,order=9,type=devdax", &R), 0);
	CHECK_EQ(dc_devdax_open(R, &DD), 0);
	{
		struct dc_devdax_pinset ps; /* an entry for close to delete */

		CHECK_EQ(dc_devdax_pin(DD, 2 * MB, 4096, 0, &ps), 0);
		CHECK_EQ(dc_devdax_unpin(DD, &ps), 0);
	}
	remove_spin = t_rand(seed) % 20000;
	CHECK_EQ(pthread_create(&t, NULL, remover, NULL), 0);
	spin(t_rand(seed) % 20000);
	ret = dc_devdax_close(DD, NULL);
	DD = NULL;
	CHECK_EQ(pthread_join(t, NULL), 0);
	if (ret)
		atomic_fetch_add(&n_bad_close, 1);
	if (remove_ret)
		atomic_fetch_add(&n_bad_remove, 1);
	R = NULL;
}

/*
 * Open racing a removal (a folio reference keeps the region until open has
 * returned): open gives 0 or -ENXIO; a device it opened is removed by that
 * removal (which finishes without a close: the device got its PRE_REMOVE).
 */
static void open_round(uint64_t *seed)
{
	struct dc_folio *f;
	struct dc_devdax *dd = NULL;
	pthread_t t;
	int ret;

	CHECK_EQ(dc_region_create("mem:4M,order=9,type=devdax", &R), 0);
	CHECK_EQ(dc_folio_request(R, 512, 512, &f), 0);
	remove_spin = t_rand(seed) % 20000;
	CHECK_EQ(pthread_create(&t, NULL, remover, NULL), 0);
	spin(t_rand(seed) % 20000);
	ret = dc_devdax_open(R, &dd);
	if (ret && ret != -ENXIO)
		atomic_fetch_add(&n_bad_open, 1);
	atomic_fetch_add(!ret ? &n_open_ok : &n_open_enxio, 1);
	dc_folio_put(f);
	CHECK_EQ(pthread_join(t, NULL), 0); /* a device that missed PRE_REMOVE: a hang */
	if (remove_ret)
		atomic_fetch_add(&n_bad_remove, 1);
	if (!ret) {
		struct dc_devdax_stats st;

		dc_devdax_stats(dd, &st);
		if (!st.removed || !st.killed || dc_devdax_region(dd))
			atomic_fetch_add(&n_not_removed, 1);
		if (dc_devdax_close(dd, NULL))
			atomic_fetch_add(&n_bad_close, 1);
	}
	R = NULL;
}

/*
 * Violations, counted: bad_open (open failed with anything but -ENXIO),
 * bad_close (close failed), bad_remove (removal failed), not_removed (a
 * device open returned is not removed once its region's removal
 * finished).  A region freed while still claimed is a use-after-free that
 * the sanitizers (and the library's DC_BUG_ON checks) report.
 */
TEST(open_and_close_vs_removal)
{
	unsigned n = t_scale(1000) < 50 ? 50 : (unsigned)t_scale(1000);
	uint64_t seed = t_seed(0xc105e);
	atomic_long *ctr[] = { &n_bad_open, &n_bad_close, &n_bad_remove, &n_not_removed,
			       &n_open_ok, &n_open_enxio };

	if (!&dc__test_devdax_close_hook || !&dc__test_devdax_open_hook)
		t_skip("the library has no test hooks (built without DC_FAULT_INJECT)");
	for (size_t i = 0; i < sizeof(ctr) / sizeof(ctr[0]); i++)
		atomic_store(ctr[i], 0);
	/* the enter hook's short sleeps widen close's window (unlock .. release)
	 * and open's (claim .. its check) */
	dc__test_devdax_close_hook = enter_hook;
	dc__test_devdax_open_hook = enter_hook;
	for (unsigned i = 0; i < n; i++) {
		close_round(&seed);
		open_round(&seed);
	}
	dc__test_devdax_close_hook = NULL;
	dc__test_devdax_open_hook = NULL;
	printf("%s: %u rounds (opens: %ld succeeded, %ld -ENXIO); violations: bad_open %ld, "
	       "bad_close %ld, bad_remove %ld, not_removed %ld\n", t_current, n,
	       atomic_load(&n_open_ok), atomic_load(&n_open_enxio), atomic_load(&n_bad_open),
	       atomic_load(&n_bad_close), atomic_load(&n_bad_remove),
	       atomic_load(&n_not_removed));
	CHECK_EQ(atomic_load(&n_bad_open), 0);
	CHECK_EQ(atomic_load(&n_bad_close), 0);
	CHECK_EQ(atomic_load(&n_bad_remove), 0);
	CHECK_EQ(atomic_load(&n_not_removed), 0);
}

T_MAIN(setup, teardown)
