/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_conc_mapping - the entry protocol under concurrency.
 *
 * faults_pins_truncate: faulting threads grab/insert/unlock overlapping
 * indexes (4 KiB and 2 MiB)
 * under a shared "invalidate lock"; pinning threads take DMA pins through
 * the lockless fast path and release them a little later, without any lock;
 * a truncating thread, with the invalidate lock exclusive, breaks layouts
 * on a range (zap, wait for the busy folio, zap again until nothing is
 * busy), then truncates.  It keeps the invalidate lock while
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
 *
 * The other cases are the races of the foundation review, each with a
 * counter of violations of the invariant itself (see each case).
 */
#include "harness.h"

#include <sched.h>
#include <urcu/urcu-bp.h>
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
		struct dc_entry_handle h;
		int ret;

		pthread_rwlock_rdlock(&invalidate_lock);
		ret = dc_mapping_grab(M, index, order, NULL, &h);
		if (ret == DC_GRAB_FALLBACK) {
			atomic_fetch_add(&fallbacks, 1);
			ret = dc_mapping_grab(M, index, 0, NULL, &h);
		}
		CHECK_EQ(ret, 0);
		CHECK_EQ(atomic_fetch_add(&holders[h.index], 1), 0);
		if (!dc_entry_is_live(h.entry))
			CHECK_EQ(dc_mapping_insert(&h, h.index, (r >> 4) & 1 ? DC_INSERT_DIRTY : 0), 0);
		CHECK_EQ(atomic_fetch_sub(&holders[h.index], 1), 1);
		CHECK_EQ(dc_mapping_unlock(&h), 0);
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
		struct dc_wait_opts o = { 0 };
		bool drop = (t_rand(&rng) & 3) == 0;
		int ret;

		pthread_rwlock_wrlock(&invalidate_lock);
		if (drop) {
			/* Drop the invalidate lock while asleep, as xfs does: faults
			 * may map the range again meanwhile, and the loop zaps again
			 * after each sleep.  Faults and pins may keep it busy: that
			 * is starvation, not an error; give up after a while. */
			o.before_sleep = drop_invalidate;
			o.after_sleep = take_invalidate;
			o.deadline_ns = dc_now_ns() + 50000000;
			ret = dc_mapping_break_layouts(M, first, last, &o, NULL);
			CHECK(ret >= 0 || ret == -ETIMEDOUT);
		}
		CHECK(dc_mapping_break_layouts(M, first, last, NULL, NULL) >= 0);
		CHECK_EQ(dc_mapping_truncate(M, first, last, NULL), 0);
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

TEST(faults_pins_truncate)
{
	pthread_t f[3], p[NPIN], t;
	unsigned long target = t_scale(60000);
	struct late l = { 0 };
	pthread_t lt;
	uint64_t seed = t_seed(7);
	struct dc_entry_handle h;

	atomic_store(&stop, 0);
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
	CHECK_EQ(dc_mapping_grab(M, 1, 0, NULL, &h), 0);
	if (!dc_entry_is_live(h.entry))
		CHECK_EQ(dc_mapping_insert(&h, h.index, 0), 0);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	CHECK_EQ(dc_mapping_get_folio(M, 1, true, &l.f), 0);
	CHECK_EQ(pthread_create(&lt, NULL, unpin_late, &l), 0);
	CHECK_EQ(dc_mapping_truncate_final(M, NULL), 0);
	CHECK_EQ(atomic_load(&l.released), 1);
	pthread_join(lt, NULL);
	CHECK_EQ(dc_mapping_count(M), 0);
	CHECK_EQ(dc_mapping_destroy(M), 0);
	t_region_teardown(&R);
	printf("faults %ld pins %ld truncates %ld fallbacks %ld\n", (long)atomic_load(&faults),
	       (long)atomic_load(&pins), (long)atomic_load(&truncates),
	       (long)atomic_load(&fallbacks));
}

/* ---- replace vs. lockless pin (bug 1) ----------------------------------------------- */

/*
 * One thread flips index 0 between blocks P and Q (replacing the live entry
 * each time, breaking layouts when the old block is still pinned); three
 * threads pin index 0 through the lockless path.  Each block has a state
 * word (a generation and a REVOKED bit): the ->revoke callback of a replace
 * marks the old block REVOKED (its client mappings are gone from then on),
 * the flipper marks a block mapped (new generation) before it inserts it
 * again.  A pinner reads the state before its pin; if the block it got was
 * REVOKED then and still is, unchanged, after the pin, the pin went through
 * a revoked entry: the violation the review counted in the millions.
 */
#define P_BLK 100
#define Q_BLK 101
static _Atomic uint64_t blk_state[2]; /* generation << 1 | revoked */
static atomic_int revoking = -1;      /* the block the current replace revokes */
static atomic_long revoked_pins, flips, flip_busy;

static void mark_revoked(struct dc_mapping *m, uint64_t index, uint64_t nr, void *priv)
{
	int b = atomic_load(&revoking);

	(void)m; (void)index; (void)nr; (void)priv;
	if (b >= 0)
		atomic_store(&blk_state[b], ((atomic_load(&blk_state[b]) >> 1) + 1) << 1 | 1);
}

static const struct dc_mapping_ops flip_ops = { .revoke = mark_revoked };

static void *flipper(void *arg)
{
	unsigned long rounds = (unsigned long)(uintptr_t)arg;

	for (unsigned long i = 0; i < rounds; i++) {
		uint64_t to = (i & 1) ? P_BLK : Q_BLK, from = (i & 1) ? Q_BLK : P_BLK;
		struct dc_entry_handle h;
		int ret;

		atomic_store(&blk_state[to - P_BLK], ((atomic_load(&blk_state[to - P_BLK]) >> 1) + 1) << 1);
		atomic_store(&revoking, (int)(from - P_BLK));
		for (;;) {
			CHECK_EQ(dc_mapping_grab(M, 0, 0, NULL, &h), 0);
			ret = dc_mapping_insert(&h, to, 0);
			CHECK_EQ(dc_mapping_unlock(&h), 0);
			if (ret != -EBUSY)
				break;
			/* The old block is still pinned: wait for it, then retry. */
			atomic_fetch_add(&flip_busy, 1);
			CHECK(dc_mapping_break_layouts(M, 0, 0, NULL, NULL) >= 0);
		}
		CHECK_EQ(ret, 0);
		atomic_store(&revoking, -1);
		atomic_fetch_add(&flips, 1);
	}
	atomic_store(&stop, 1);
	return NULL;
}

static bool pin_batched; /* pin through dc_mapping_get_folios() (gather, pin, re-gather) */
extern void (*dc__test_gup_hook)(struct dc_mapping *m) __attribute__((weak));

/* Between the gather and the pin: let the flipper's zap run now and then. */
static void gup_yield(struct dc_mapping *m)
{
	static _Thread_local unsigned n;

	(void)m;
	if (++n % 2 == 0)
		sched_yield();
}

static void *index0_pinner(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		uint64_t before[2] = { atomic_load(&blk_state[0]), atomic_load(&blk_state[1]) };
		struct dc_folio *f;
		uint64_t pg;
		int b;

		if (pin_batched ? dc_mapping_get_folios(M, 0, 1, true, &f) != 1
				: dc_mapping_get_folio(M, 0, true, &f) != 0)
			continue;
		pg = dc_folio_pgoff(f);
		CHECK(pg == P_BLK || pg == Q_BLK);
		b = (int)(pg - P_BLK);
		if ((before[b] & 1) && atomic_load(&blk_state[b]) == before[b])
			atomic_fetch_add(&revoked_pins, 1);
		dc_folio_unpin(f);
	}
	return NULL;
}

static void replace_vs_pinners(bool batched)
{
	pthread_t fl, pn[3];
	struct dc_entry_handle h;

	pin_batched = batched;
	if (batched && &dc__test_gup_hook)
		dc__test_gup_hook = gup_yield;
	atomic_store(&flips, 0);
	atomic_store(&flip_busy, 0);
	atomic_store(&revoked_pins, 0);
	atomic_store(&stop, 0);
	CHECK_EQ(dc_region_create("mem:1M", &R), 0);
	CHECK_EQ(dc_mapping_create(R, &flip_ops, NULL, &M), 0);
	CHECK_EQ(dc_mapping_grab(M, 0, 0, NULL, &h), 0);
	CHECK_EQ(dc_mapping_insert(&h, P_BLK, 0), 0);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	atomic_store(&blk_state[1], 1);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pthread_create(&pn[i], NULL, index0_pinner, NULL), 0);
	CHECK_EQ(pthread_create(&fl, NULL, flipper, (void *)(uintptr_t)t_scale(100000)), 0);
	pthread_join(fl, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(pn[i], NULL);
	if (&dc__test_gup_hook)
		dc__test_gup_hook = NULL;
	printf("flips %ld (old block pinned %ld times), pins through a revoked entry %ld\n",
	       (long)atomic_load(&flips), (long)atomic_load(&flip_busy),
	       (long)atomic_load(&revoked_pins));
	CHECK_EQ(atomic_load(&revoked_pins), 0);
	CHECK_EQ(dc_mapping_violations(M), 0);
	CHECK(dc_mapping_check(M));
	CHECK_EQ(dc_mapping_truncate_final(M, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(M), 0);
	t_region_teardown(&R);
}

TEST(replace_vs_lockless_pin)
{
	replace_vs_pinners(false);
}

/* The same through the batched fast path dcfs pins with. */
TEST(replace_vs_lockless_pin_batched)
{
	replace_vs_pinners(true);
}

/*
 * The recheck of the batched fast path (bug 22).  Block S is CoW-shared by
 * mappings SA and SB; SB keeps its entry, so S never goes idle and a pin
 * that loaded SA's entry before a zap can take its reference after it.
 * Each round the zapper maps S into SA again (generation g), zaps it and,
 * if the zap saw nothing busy, records g as cleanly zapped.  A pinner that
 * holds a pin taken through SA in generation g while g is recorded clean
 * went through a zapped entry the zap never saw: the block could be freed
 * under it.
 */
#define S_BLK 300
static struct dc_mapping *SA, *SB;
static atomic_ulong s_gen, s_clean_gen;
static atomic_long s_unseen_pins, s_pins, s_clean;

static void *shared_zapper(void *arg)
{
	unsigned long rounds = (unsigned long)(uintptr_t)arg;

	for (unsigned long g = 1; g <= rounds; g++) {
		struct dc_entry_handle h;
		struct dc_folio *busy = NULL;

		atomic_store(&s_gen, g); /* before the entry is live again */
		CHECK_EQ(dc_mapping_grab(SA, 0, 0, NULL, &h), 0);
		CHECK_EQ(dc_mapping_insert(&h, S_BLK, DC_INSERT_COW), 0);
		CHECK_EQ(dc_mapping_unlock(&h), 0);
		sched_yield();
		CHECK(dc_mapping_zap(SA, 0, 0, NULL, &busy) >= 0);
		if (!busy) {
			atomic_store(&s_clean_gen, g);
			atomic_fetch_add(&s_clean, 1);
		}
		/* Wait for the pins the zap saw; the zapped entry is mapped again
		 * next round (a delete could meet a pinner's passing reference:
		 * S is never idle). */
		CHECK(dc_mapping_break_layouts(SA, 0, 0, NULL, NULL) >= 0);
	}
	atomic_store(&stop, 1);
	return NULL;
}

static void *shared_pinner(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		unsigned long g = atomic_load(&s_gen);
		struct dc_folio *f;

		if (dc_mapping_get_folios(SA, 0, 1, true, &f) != 1)
			continue;
		atomic_fetch_add(&s_pins, 1);
		if (atomic_load(&s_gen) == g && atomic_load(&s_clean_gen) == g)
			atomic_fetch_add(&s_unseen_pins, 1);
		dc_folio_unpin(f);
	}
	return NULL;
}

TEST(zap_vs_batched_pin_of_shared_block)
{
	struct dc_entry_handle h;
	pthread_t z, pn[2];

	atomic_store(&stop, 0);
	CHECK_EQ(dc_region_create("mem:4M", &R), 0);
	CHECK_EQ(dc_mapping_create(R, NULL, NULL, &SA), 0);
	CHECK_EQ(dc_mapping_create(R, NULL, NULL, &SB), 0);
	CHECK_EQ(dc_mapping_grab(SB, 0, 0, NULL, &h), 0);
	CHECK_EQ(dc_mapping_insert(&h, S_BLK, DC_INSERT_COW), 0);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	if (&dc__test_gup_hook)
		dc__test_gup_hook = gup_yield;
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&pn[i], NULL, shared_pinner, NULL), 0);
	CHECK_EQ(pthread_create(&z, NULL, shared_zapper, (void *)(uintptr_t)t_scale(100000)), 0);
	pthread_join(z, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(pn[i], NULL);
	if (&dc__test_gup_hook)
		dc__test_gup_hook = NULL;
	printf("rounds %lu (clean zaps %ld), pins %ld, pins the zap never saw %ld\n",
	       (unsigned long)atomic_load(&s_gen), (long)atomic_load(&s_clean),
	       (long)atomic_load(&s_pins), (long)atomic_load(&s_unseen_pins));
	CHECK_EQ(atomic_load(&s_unseen_pins), 0);
	CHECK_EQ(dc_mapping_violations(SA), 0);
	CHECK(dc_mapping_check(SA));
	CHECK(dc_mapping_check(SB));
	CHECK_EQ(dc_mapping_truncate_final(SA, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(SA), 0);
	CHECK_EQ(dc_mapping_truncate_final(SB, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(SB), 0);
	t_region_teardown(&R);
}

/* ---- CoW sharers and claims across files (bugs 5, 6) ------------------------------- */

#define NFILES 4
static struct dc_mapping *files[NFILES];
static pthread_barrier_t bar;
static atomic_long lost_sharers, double_claims, third_file_maps;
static atomic_int claimed;

struct file_arg {
	int id;
	unsigned long rounds;
	bool cow;
};

/*
 * Each round: every file inserts block B (CoW: as one more sharer; plain:
 * trying to claim it) at its index 0, all at once; the main thread checks
 * the owner word; then every file that got it zaps and deletes its entry.
 */
static void *file_thread(void *p)
{
	struct file_arg *a = p;
	struct dc_mapping *m = files[a->id];

	for (unsigned long i = 0; i < a->rounds; i++) {
		struct dc_entry_handle h;
		int ret;

		pthread_barrier_wait(&bar);
		CHECK_EQ(dc_mapping_grab(m, 0, 0, NULL, &h), 0);
		ret = dc_mapping_insert(&h, 200, a->cow ? DC_INSERT_COW : 0);
		CHECK_EQ(dc_mapping_unlock(&h), 0);
		if (a->cow)
			CHECK_EQ(ret, 0);
		else if (ret == 0)
			atomic_fetch_add(&claimed, 1);
		else
			CHECK_EQ(ret, -EBUSY);
		pthread_barrier_wait(&bar); /* main checks */
		pthread_barrier_wait(&bar);
		CHECK(dc_mapping_zap(m, 0, 0, NULL, NULL) >= 0);
		ret = dc_mapping_delete(m, 0, NULL);
		CHECK(ret == 0 || ret == -ENOENT);
		pthread_barrier_wait(&bar);
	}
	return NULL;
}

static void share_rounds(bool cow)
{
	struct file_arg args[NFILES];
	pthread_t t[NFILES];
	unsigned long rounds = t_scale(4000);
	struct dc_folio *f;
	struct dc_mapping *third;

	CHECK_EQ(dc_region_create("mem:1M", &R), 0);
	CHECK_EQ(dc_mapping_create(R, NULL, NULL, &third), 0);
	CHECK_EQ(pthread_barrier_init(&bar, NULL, NFILES + 1), 0);
	for (int i = 0; i < NFILES; i++) {
		CHECK_EQ(dc_mapping_create(R, NULL, NULL, &files[i]), 0);
		args[i] = (struct file_arg){ i, rounds, cow };
		CHECK_EQ(pthread_create(&t[i], NULL, file_thread, &args[i]), 0);
	}
	for (unsigned long i = 0; i < rounds; i++) {
		atomic_store(&claimed, 0);
		pthread_barrier_wait(&bar); /* inserts run */
		pthread_barrier_wait(&bar); /* inserts done */
		f = dc_folio_lookup(R, 200);
		if (cow) {
			if (dc_folio_shares(f) != NFILES || dc_folio_mapcount(f) != NFILES)
				atomic_fetch_add(&lost_sharers, 1);
		} else if (atomic_load(&claimed) != 1) {
			atomic_fetch_add(&double_claims, 1);
		}
		/* A third file's plain insert of the block is always refused. */
		{
			struct dc_entry_handle h;
			int ret;

			CHECK_EQ(dc_mapping_grab(third, 0, 0, NULL, &h), 0);
			ret = dc_mapping_insert(&h, 200, 0);
			CHECK_EQ(dc_mapping_unlock(&h), 0);
			if (ret == 0) {
				atomic_fetch_add(&third_file_maps, 1);
				CHECK_EQ(dc_mapping_zap(third, 0, 0, NULL, NULL), 1);
			}
			CHECK_EQ(dc_mapping_delete(third, 0, NULL), 0);
		}
		pthread_barrier_wait(&bar); /* deletes run */
		pthread_barrier_wait(&bar); /* deletes done */
		if (dc_folio_shares(f) || dc_folio_owner(f) || !dc_folio_idle(f))
			atomic_fetch_add(cow ? &lost_sharers : &double_claims, 1);
	}
	for (int i = 0; i < NFILES; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(dc_mapping_violations(files[i]), 0);
		CHECK_EQ(dc_mapping_truncate_final(files[i], NULL), 0);
		CHECK_EQ(dc_mapping_destroy(files[i]), 0);
	}
	CHECK_EQ(dc_mapping_truncate_final(third, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(third), 0);
	pthread_barrier_destroy(&bar);
	t_region_teardown(&R);
}

TEST(cow_sharers_across_files)
{
	atomic_store(&lost_sharers, 0);
	atomic_store(&third_file_maps, 0);
	share_rounds(true);
	printf("rounds with a lost sharer %ld, third-file maps of a shared block %ld\n",
	       (long)atomic_load(&lost_sharers), (long)atomic_load(&third_file_maps));
	CHECK_EQ(atomic_load(&lost_sharers), 0);
	CHECK_EQ(atomic_load(&third_file_maps), 0);
}

TEST(one_claim_per_block)
{
	atomic_store(&double_claims, 0);
	atomic_store(&third_file_maps, 0);
	share_rounds(false);
	printf("rounds where a block was claimed by 0 or 2+ files %ld, third-file maps %ld\n",
	       (long)atomic_load(&double_claims), (long)atomic_load(&third_file_maps));
	CHECK_EQ(atomic_load(&double_claims), 0);
	CHECK_EQ(atomic_load(&third_file_maps), 0);
}

/* ---- removal vs. lockless pins (bugs 2, 3) ------------------------------------------ */

/*
 * Pinners pin through the mapping without any lock while the region is
 * removed; the holder zaps everything in PRE_REMOVE.  Removal must not
 * free the region while the mapping (and its pinners) can still touch it;
 * no pin may succeed once the PRE_REMOVE zap finished (invariant 3: it
 * would be a new reference through a zapped entry).  The old code freed
 * the metadata under the pinners (SIGSEGV / ASan use-after-free).
 */
static atomic_int zapped_all;
static atomic_long pins_after_zap, remove_timeouts;

static int zap_all(struct dc_region *r, uint64_t pgoff, uint64_t nr, unsigned flags, void *h)
{
	(void)r; (void)pgoff; (void)nr; (void)h;
	CHECK_EQ(flags, DC_MF_PRE_REMOVE);
	CHECK(dc_mapping_zap(M, 0, DC_MAPPING_INDEX_MAX, NULL, NULL) >= 0);
	atomic_store(&zapped_all, 1);
	return 0;
}

static void *any_pinner(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg;

	while (!atomic_load(&stop)) {
		struct dc_folio *f;
		int after = atomic_load(&zapped_all);

		if (dc_mapping_get_folio(M, t_rand(&rng) % 64, true, &f) == 0) {
			if (after)
				atomic_fetch_add(&pins_after_zap, 1);
			dc_folio_unpin(f);
		}
	}
	return NULL;
}

TEST(removal_vs_lockless_pin)
{
	static const struct dc_holder_ops ops = { .notify_failure = zap_all };
	unsigned long rounds = t_scale(40);

	for (unsigned long round = 0; round < rounds; round++) {
		struct dc_drain_opts o = { 0 };
		pthread_t t[3];

		atomic_store(&stop, 0);
		atomic_store(&zapped_all, 0);
		CHECK_EQ(dc_region_create("mem:1M", &R), 0);
		CHECK_EQ(dc_region_claim(R, &zapped_all, &ops), 0);
		CHECK_EQ(dc_mapping_create(R, NULL, NULL, &M), 0);
		for (uint64_t i = 0; i < 64; i++) {
			struct dc_entry_handle h;

			CHECK_EQ(dc_mapping_grab(M, i, 0, NULL, &h), 0);
			CHECK_EQ(dc_mapping_insert(&h, i, 0), 0);
			CHECK_EQ(dc_mapping_unlock(&h), 0);
		}
		for (int i = 0; i < 3; i++)
			CHECK_EQ(pthread_create(&t[i], NULL, any_pinner,
						(void *)(uintptr_t)(round * 7 + i + 1)), 0);
		usleep(100);
		/* The mapping exists: removal waits for it (here: to a deadline). */
		o.deadline_ns = dc_now_ns() + 2000000;
		if (dc_region_remove(R, &o) == -ETIMEDOUT)
			atomic_fetch_add(&remove_timeouts, 1);
		atomic_store(&stop, 1);
		for (int i = 0; i < 3; i++)
			pthread_join(t[i], NULL);
		/* Every folio reference is gone now; the mapping still holds it. */
		o.deadline_ns = dc_now_ns() + 50000000;
		CHECK_EQ(dc_region_remove(R, &o), -ETIMEDOUT);
		CHECK(strstr(dc_errmsg(), "mappings still exist"));
		CHECK_EQ(dc_mapping_truncate_final(M, NULL), 0);
		CHECK_EQ(dc_mapping_destroy(M), 0);
		CHECK_EQ(dc_region_remove(R, NULL), 0);
		R = NULL;
	}
	printf("removals that waited for the mapping %ld of %lu, pins after the zap %ld\n",
	       (long)atomic_load(&remove_timeouts), rounds, (long)atomic_load(&pins_after_zap));
	CHECK_EQ(atomic_load(&remove_timeouts), (long)rounds);
	CHECK_EQ(atomic_load(&pins_after_zap), 0);
}

/* ---- concurrent removal (bug 11) ----------------------------------------------------- */

static void *remove_thread(void *arg)
{
	struct dc_region *r = arg;

	return (void *)(intptr_t)dc_region_remove(r, NULL);
}

TEST(concurrent_removal_is_refused)
{
	struct dc_folio *f;
	pthread_t t;
	void *ret;

	CHECK_EQ(dc_region_create("mem:1M", &R), 0);
	CHECK_EQ(dc_folio_request(R, 0, 1, &f), 0);
	CHECK_EQ(pthread_create(&t, NULL, remove_thread, R), 0);
	while (dc_region_alive(R)) /* the first removal started and waits for f */
		usleep(100);
	usleep(1000);
	CHECK_EQ(dc_region_remove(R, NULL), -EBUSY);
	CHECK(strstr(dc_errmsg(), "another thread"));
	dc_folio_put(f);
	pthread_join(t, &ret);
	CHECK_EQ((intptr_t)ret, 0);
	R = NULL;
}

/* ---- ->page_free runs outside any read-side section ------------------------------- */

/*
 * A pinner backs out of a pin whose entry was zapped meanwhile; if the zap
 * already dropped the entry's reference, the back-out is the last put and
 * runs ->page_free.  It must do so outside the RCU read side (a page_free
 * may wait for a grace period).  The holder counts calls made inside one.
 */
static atomic_long frees_inside, frees_total;

static void page_free_checks(struct dc_region *r, struct dc_folio *f, void *h)
{
	(void)r; (void)f; (void)h;
	atomic_fetch_add(&frees_total, 1);
	if (urcu_bp_read_ongoing())
		atomic_fetch_add(&frees_inside, 1);
}

static void *index0_backout_pinner(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		struct dc_folio *f;

		if (dc_mapping_get_folio(M, 0, true, &f) == 0)
			dc_folio_unpin(f);
	}
	return NULL;
}

TEST(page_free_outside_read_side)
{
	static const struct dc_holder_ops ops = { .page_free = page_free_checks };
	unsigned long rounds = t_scale(1000000);
	pthread_t t;

	atomic_store(&stop, 0);
	atomic_store(&frees_inside, 0);
	atomic_store(&frees_total, 0);
	CHECK_EQ(dc_region_create("mem:1M", &R), 0);
	CHECK_EQ(dc_region_claim(R, &frees_total, &ops), 0);
	CHECK_EQ(dc_mapping_create(R, NULL, NULL, &M), 0);
	CHECK_EQ(pthread_create(&t, NULL, index0_backout_pinner, NULL), 0);
	for (unsigned long i = 0; i < rounds && !atomic_load(&frees_inside); i++) {
		struct dc_entry_handle h;

		CHECK_EQ(dc_mapping_grab(M, 0, 0, NULL, &h), 0);
		CHECK_EQ(dc_mapping_insert(&h, 0, 0), 0);
		CHECK_EQ(dc_mapping_unlock(&h), 0);
		CHECK(dc_mapping_break_layouts(M, 0, 0, NULL, NULL) >= 0);
		CHECK_EQ(dc_mapping_delete(M, 0, NULL), 0);
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	printf("page_free calls %ld, inside a read-side section %ld\n",
	       (long)atomic_load(&frees_total), (long)atomic_load(&frees_inside));
	CHECK_EQ(atomic_load(&frees_inside), 0);
	CHECK_EQ(dc_mapping_violations(M), 0);
	CHECK_EQ(dc_mapping_truncate_final(M, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(M), 0);
	CHECK_EQ(dc_region_release(R, &frees_total), 0);
	t_region_teardown(&R);
}

/*
 * An insert of a poisoned block took its reference inside the region's
 * read side and gave it back right there: when a transient holder had let
 * go meanwhile, that was the last put, and ->page_free ran inside the read
 * side.  Two threads request and put the poisoned block, one inserts it.
 */
static atomic_long poison_eio;

static void *request_put_block3(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		struct dc_folio *f;

		if (dc_folio_request(R, 3, 1, &f) == 0)
			dc_folio_put(f);
	}
	return NULL;
}

TEST(poisoned_insert_gives_back_outside_read_side)
{
	static const struct dc_holder_ops ops = { .page_free = page_free_checks };
	unsigned long rounds = t_scale(400000);
	pthread_t t[2];

	atomic_store(&stop, 0);
	atomic_store(&frees_inside, 0);
	atomic_store(&frees_total, 0);
	CHECK_EQ(dc_region_create("mem:1M", &R), 0);
	CHECK_EQ(dc_mapping_create(R, NULL, NULL, &M), 0);
	CHECK_EQ(dc_folio_memory_failure(R, 3, 1), -EOPNOTSUPP); /* poisoned, no holder yet */
	CHECK_EQ(dc_region_claim(R, &frees_total, &ops), 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, request_put_block3, NULL), 0);
	for (unsigned long i = 0; i < rounds && !atomic_load(&frees_inside); i++) {
		struct dc_entry_handle h;

		CHECK_EQ(dc_mapping_grab(M, 0, 0, NULL, &h), 0);
		CHECK_EQ(dc_mapping_insert(&h, 3, 0), -EIO);
		atomic_fetch_add(&poison_eio, 1);
		CHECK_EQ(dc_mapping_unlock(&h), 0);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("inserts refused -EIO %ld, page_free calls %ld, inside a read-side section %ld\n",
	       (long)atomic_load(&poison_eio), (long)atomic_load(&frees_total),
	       (long)atomic_load(&frees_inside));
	CHECK_EQ(atomic_load(&frees_inside), 0);
	CHECK_EQ(dc_mapping_truncate_final(M, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(M), 0);
	CHECK_EQ(dc_region_release(R, &frees_total), 0);
	t_region_teardown(&R);
}

/*
 * A fault asleep on an entry lock while the file is evicted: once
 * truncate_final() returned 0, the fault must not create an entry (destroy
 * would find it: -EBUSY).  Rounds where destroy found one are counted.  The
 * fault is joined before destroy (a fault that had not even started then
 * would be the caller's bug); grab_asleep_across_eviction_sees_shutdown in
 * test_mapping has destroy wait for a grab that sleeps.
 */
static void *fault_entry5(void *arg)
{
	struct dc_mapping *m = arg;
	struct dc_entry_handle h;
	int ret = dc_mapping_grab(m, 5, 0, NULL, &h);

	if (ret == 0)
		CHECK_EQ(dc_mapping_unlock(&h), 0);
	else
		CHECK_EQ(ret, -ESHUTDOWN);
	return NULL;
}

TEST(fault_asleep_across_eviction)
{
	unsigned long rounds = t_scale(2000);
	long late_entries = 0;

	CHECK_EQ(dc_region_create("mem:1M", &R), 0);
	for (unsigned long i = 0; i < rounds; i++) {
		struct dc_mapping *m;
		struct dc_entry_handle h;
		pthread_t f;
		int ret;

		CHECK_EQ(dc_mapping_create(R, NULL, NULL, &m), 0);
		CHECK_EQ(dc_mapping_grab(m, 5, 0, NULL, &h), 0);
		CHECK_EQ(pthread_create(&f, NULL, fault_entry5, m), 0);
		usleep(200);
		CHECK_EQ(dc_mapping_unlock(&h), 0);
		CHECK_EQ(dc_mapping_truncate_final(m, NULL), 0);
		pthread_join(f, NULL);
		ret = dc_mapping_destroy(m);
		if (ret == -EBUSY) { /* an entry appeared after eviction emptied it */
			late_entries++;
			CHECK_EQ(dc_mapping_truncate_final(m, NULL), 0);
			ret = dc_mapping_destroy(m);
		}
		CHECK_EQ(ret, 0);
	}
	printf("rounds %lu, entries created after eviction %ld\n", rounds, late_entries);
	CHECK_EQ(late_entries, 0);
	t_region_teardown(&R);
}

int main(int argc, char **argv)
{
	return t_run(argc, argv, NULL, NULL);
}
