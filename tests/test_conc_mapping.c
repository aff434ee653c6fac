/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_conc_mapping - the entry protocol under concurrency.
 *
 * Faulting threads grab/insert/unlock overlapping indexes (4 KiB and 2 MiB)
 * under a shared "invalidate lock"; pinning threads take DMA pins through
 * the lockless fast path and release them a little later, without any lock;
 * a truncating thread, with the invalidate lock exclusive, zaps a range,
 * waits for the busy folio, zaps again until nothing is busy (the
 * break-layouts loop), then truncates.  It keeps the invalidate lock while
 * it waits (faults stay out; pins of zapped entries must fail and the pins
 * taken before the zap drain); every 4th round it drops the lock while
 * asleep, as xfs does, and then gives up after a few tries if faults and
 * pins keep the range busy (that is starvation, not an error).  Checked:
 *   - truncate after a clean zap never meets a live or busy entry (no
 *     violation): no pin got in through a zapped entry (invariant 3);
 *   - after truncate, every block of the range is idle and has no owner
 *     while the invalidate lock is still held (invariant 4);
 *   - the entry lock is exclusive: a per-index "holder" counter is never
 *     above 1 while a thread holds that entry (invariant 8);
 *   - no lost wake-up: the run is bounded by a watchdog;
 *   - truncate_final returns only after the last unpin.
 */
#include "harness.h"

#include <stdatomic.h>

#define NIDX 2048 /* file pages; block of index i is device page i (+ PMDs) */
#define NPIN 3

static struct dc_region *R;
static struct dc_mapping *M;
/* Writer-preferring, as an inode's invalidate lock must be for truncate. */
static pthread_rwlock_t invalidate_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static atomic_int stop;
static atomic_int holders[NIDX];
static atomic_long faults, pins, truncates, fallbacks;

static void *faulter(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg;

	while (!atomic_load(&stop)) {
		uint64_t r = t_rand(&rng);
		unsigned order = (r & 7) == 0 ? 9 : 0;
		uint64_t index = (r >> 8) % NIDX;
		uint64_t first;
		dc_entry_t e;

		pthread_rwlock_rdlock(&invalidate_lock);
		e = dc_mapping_grab(M, index, order);
		if (dc_entry_is_fallback(e)) {
			atomic_fetch_add(&fallbacks, 1);
			order = 0;
			e = dc_mapping_grab(M, index, 0);
		}
		CHECK(!dc_entry_is_err(e));
		first = index & ~((1ull << dc_entry_order(e)) - 1);
		CHECK_EQ(atomic_fetch_add(&holders[first], 1), 0);
		if (!dc_entry_is_real(e) || dc_entry_is_zapped(e)) {
			unsigned o = dc_entry_order(e);
			dc_entry_t ne;

			dc_region_read_lock(R);
			ne = dc_mapping_insert(M, first, e, first, (o == 9 ? DC_INSERT_PMD : 0) |
					       ((r >> 4) & 1 ? DC_INSERT_DIRTY : 0));
			dc_region_read_unlock(R);
			CHECK(!dc_entry_is_err(ne));
			e = ne;
		}
		CHECK_EQ(atomic_fetch_sub(&holders[first], 1), 1);
		dc_mapping_unlock(M, index, e);
		pthread_rwlock_unlock(&invalidate_lock);
		atomic_fetch_add(&faults, 1);
	}
	return NULL;
}

static void *pinner(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg;
	struct dc_folio *held[8];
	int n = 0;

	while (!atomic_load(&stop)) {
		uint64_t index = (t_rand(&rng) >> 8) % NIDX;
		struct dc_folio *f;

		/* GUP-fast: no lock at all. */
		if (dc_mapping_get_folio(M, index, true, &f) == 0) {
			CHECK(dc_folio_maybe_dma_pinned(f));
			held[n++] = f;
			atomic_fetch_add(&pins, 1);
		}
		if (n == 8 || (n && (t_rand(&rng) & 3) == 0))
			dc_folio_unpin(held[--n]);
	}
	while (n)
		dc_folio_unpin(held[--n]);
	return NULL;
}

static void drop_invalidate(void *arg) { (void)arg; pthread_rwlock_unlock(&invalidate_lock); }
static void take_invalidate(void *arg) { (void)arg; pthread_rwlock_wrlock(&invalidate_lock); }

static void *truncater(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg;

	while (!atomic_load(&stop)) {
		uint64_t first = ((t_rand(&rng) >> 8) % NIDX) & ~511ull, last = first + 511;
		struct dc_folio *busy;

		bool drop = (t_rand(&rng) & 3) == 0;
		int tries = 0;

		pthread_rwlock_wrlock(&invalidate_lock);
		/* Break layouts: zap, wait for the busy folio, retry. */
		for (;;) {
			struct dc_wait_opts o = { .before_sleep = drop_invalidate,
						  .after_sleep = take_invalidate };

			CHECK(dc_mapping_zap(M, first, last, &busy) >= 0);
			if (!busy)
				break;
			if (drop && ++tries > 20)
				drop = false; /* starved: keep the lock from now on */
			if (drop) {
				/* Drop the invalidate lock while asleep.  A re-fault may
				 * map the folio again meanwhile, so wait in slices and
				 * zap again (the break-layouts retry). */
				int ret;

				o.deadline_ns = dc_now_ns() + 2000000;
				ret = dc_folio_wait_idle(busy, 0, &o);
				CHECK(ret == 0 || ret == -ETIMEDOUT);
			} else {
				CHECK_EQ(dc_folio_wait_idle(busy, 0, NULL), 0);
			}
		}
		CHECK_EQ(dc_mapping_truncate(M, first, last), 0);
		for (uint64_t p = first; p <= last; p++) {
			struct dc_folio *f = dc_folio_lookup(R, p);

			CHECK(dc_mapping_lookup(M, p) == 0);
			CHECK(!f || (dc_folio_idle(f) && dc_folio_owner(f) == 0));
		}
		pthread_rwlock_unlock(&invalidate_lock);
		atomic_fetch_add(&truncates, 1);
		usleep(200);
	}
	return NULL;
}

struct late {
	struct dc_folio *f;
	atomic_int released;
};

static void *unpin_late(void *arg)
{
	struct late *l = arg;

	usleep(10000);
	atomic_store(&l->released, 1);
	dc_folio_unpin(l->f);
	return NULL;
}

int main(void)
{
	pthread_t f[3], p[NPIN], t;
	unsigned long target = t_scale(60000);
	struct late l = { 0 };
	pthread_t lt;
	uint64_t seed = t_seed(7);

	t_watchdog(240);
	CHECK_EQ(dc_region_create("mem:8M", &R), 0);
	CHECK_EQ(dc_mapping_create(R, NULL, NULL, &M), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pthread_create(&f[i], NULL, faulter, (void *)(uintptr_t)(seed + i)), 0);
	for (int i = 0; i < NPIN; i++)
		CHECK_EQ(pthread_create(&p[i], NULL, pinner, (void *)(uintptr_t)(seed + 10 + i)), 0);
	CHECK_EQ(pthread_create(&t, NULL, truncater, (void *)(uintptr_t)(seed + 20)), 0);
	while ((unsigned long)atomic_load(&faults) < target || atomic_load(&truncates) < 5)
		usleep(1000);
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(f[i], NULL);
	for (int i = 0; i < NPIN; i++)
		pthread_join(p[i], NULL);
	pthread_join(t, NULL);
	CHECK_EQ(dc_mapping_violations(M), 0);
	CHECK(dc_mapping_check(M));

	/* truncate_final returns exactly after the last unpin. */
	if (!dc_entry_is_real(dc_mapping_lookup(M, 1)) || dc_entry_is_zapped(dc_mapping_lookup(M, 1))) {
		dc_entry_t e = dc_mapping_grab(M, 1, 0);
		CHECK(!dc_entry_is_err(e));
		e = dc_mapping_insert(M, 1, e, 1, 0);
		CHECK(!dc_entry_is_err(e));
		dc_mapping_unlock(M, 1, e);
	}
	CHECK_EQ(dc_mapping_get_folio(M, 1, true, &l.f), 0);
	CHECK_EQ(pthread_create(&lt, NULL, unpin_late, &l), 0);
	CHECK_EQ(dc_mapping_truncate_final(M, NULL), 0);
	CHECK_EQ(atomic_load(&l.released), 1);
	pthread_join(lt, NULL);
	CHECK_EQ(dc_mapping_count(M), 0);
	CHECK_EQ(dc_mapping_destroy(M), 0);
	CHECK_EQ(dc_region_remove(R, NULL), 0);
	dc_quiesce();
	printf("faults %ld pins %ld truncates %ld fallbacks %ld\n", (long)atomic_load(&faults),
	       (long)atomic_load(&pins), (long)atomic_load(&truncates),
	       (long)atomic_load(&fallbacks));
	return T_PASS;
}
