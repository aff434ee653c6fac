/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_conc_folio - requests, gets, pins, puts and unpins from many threads
 * racing each other and region removal.
 *
 * Checked: every idle transition calls page_free exactly once (requests ==
 * page_frees at the end); removal returns only after the last reference is
 * gone (a "held" counter, decremented just before each put, is 0 when
 * dc_region_remove() returns, and the thread holding the last pin marked
 * it before unpinning); after removal nothing touches the region (ASan and
 * TSan builds: the region's memory is unmapped and freed).
 */
#include "harness.h"

#include <sched.h>

#include <stdatomic.h>

#define NPAGES 512
#define MAXW 8

static struct dc_region *R;
static atomic_long requests, page_frees, held, tries;
static atomic_int pre_remove_seen;
static unsigned nworkers;

static void page_free(struct dc_region *r, struct dc_folio *f, void *h)
{
	(void)r; (void)f; (void)h;
	atomic_fetch_add(&page_frees, 1);
}

static int notify(struct dc_region *r, uint64_t pgoff, uint64_t nr, unsigned flags, void *h)
{
	(void)r; (void)h;
	CHECK_EQ(flags, DC_MF_PRE_REMOVE);
	CHECK_EQ(pgoff, 0);
	CHECK_EQ(nr, NPAGES);
	atomic_store(&pre_remove_seen, 1);
	return 0;
}

static const struct dc_holder_ops ops = { .page_free = page_free, .notify_failure = notify };

struct worker {
	pthread_t t;
	unsigned id;
	uint64_t rng;
	struct dc_folio *anchor;   /* held for the worker's whole life */
	struct dc_folio *mine[16]; /* references this worker holds */
	int kind[16];              /* 0 = ref, 1 = pin */
	int n;
};

static void drop_one(struct worker *w)
{
	int i = --w->n;

	atomic_fetch_sub(&held, 1);
	if (w->kind[i])
		dc_folio_unpin(w->mine[i]);
	else
		dc_folio_put(w->mine[i]);
}

static void take(struct worker *w, struct dc_folio *f, int kind)
{
	atomic_fetch_add(&held, 1);
	w->mine[w->n] = f;
	w->kind[w->n++] = kind;
}

static void *worker(void *arg)
{
	struct worker *w = arg;
	bool alive = true;

	while (alive) {
		uint64_t rnd = t_rand(&w->rng);
		uint64_t pg = MAXW + (rnd >> 8) % (NPAGES - MAXW);
		struct dc_folio *f;

		atomic_fetch_add(&tries, 1);
		dc_region_read_lock(R);
		alive = dc_region_alive(R);
		if (alive && w->n < 15) {
			switch (rnd & 3) {
			case 0: { /* request an idle folio */
				int ret = dc_folio_request(R, pg, 1, &f);

				if (ret == 0) {
					atomic_fetch_add(&requests, 1);
					take(w, f, 0);
				} else {
					CHECK(ret == -EBUSY || ret == -ENXIO);
				}
				break;
			}
			case 1: /* tryget a folio someone else may hold */
				f = dc_folio_lookup(R, pg);
				if (f && dc_folio_tryget(f) == 0)
					take(w, f, 0);
				break;
			case 2: /* pin for "DMA" */
				f = dc_folio_lookup(R, pg);
				if (f && dc_folio_pin(f) == 0) {
					CHECK(dc_folio_maybe_dma_pinned(f));
					take(w, f, 1);
				}
				break;
			case 3: /* get another reference on one we hold */
				if (w->n) {
					f = w->mine[(rnd >> 4) % (unsigned)w->n];
					CHECK_EQ(dc_folio_get(f), 0);
					take(w, f, 0);
				}
				break;
			}
		}
		dc_region_read_unlock(R);
		/* Drop some references outside the read lock, as DMA completion would. */
		while (w->n && (w->n >= 15 || (t_rand(&w->rng) & 1)))
			drop_one(w);
	}
	while (w->n)
		drop_one(w);
	dc_folio_put(w->anchor); /* after this the worker never touches R */
	return NULL;
}

static atomic_int last_unpinned;
static struct dc_folio *last_pin;

static void *late_unpinner(void *arg)
{
	(void)arg;
	/* Wait until removal is underway, then let go of the last pin. */
	while (!atomic_load(&pre_remove_seen))
		usleep(100);
	usleep(1000);
	atomic_store(&last_unpinned, 1);
	dc_folio_unpin(last_pin);
	return NULL;
}

static void progress(void *arg, uint64_t outstanding)
{
	(void)arg;
	CHECK(outstanding > 0);
}

TEST(request_pin_put_remove)
{
	struct worker w[MAXW];
	struct dc_drain_opts o = { .progress = progress, .progress_interval_ns = 1000000 };
	pthread_t late;
	unsigned long rounds = t_scale(20);

	nworkers = 4;
	for (unsigned long round = 0; round < rounds; round++) {
		uint64_t seed = t_seed(42) + round;

		atomic_store(&requests, 0);
		atomic_store(&page_frees, 0);
		atomic_store(&held, 0);
		atomic_store(&pre_remove_seen, 0);
		atomic_store(&last_unpinned, 0);
		atomic_store(&tries, 0);
		CHECK_EQ(dc_region_create("mem:2M", &R), 0);
		CHECK_EQ(dc_region_claim(R, &w, &ops), 0);
		/* One pin that outlives the workers: removal must wait for it. */
		CHECK_EQ(dc_folio_request(R, NPAGES - 1, 1, &last_pin), 0);
		atomic_fetch_add(&requests, 1);
		CHECK_EQ(dc_folio_pin(last_pin), 0);
		dc_folio_put(last_pin); /* only the pin remains */
		for (unsigned i = 0; i < nworkers; i++) {
			w[i] = (struct worker){ .id = i, .rng = seed * 1000 + i };
			/* Each worker holds an anchor folio for its whole life, as an
			 * owner with an open file would: removal cannot finish (and
			 * free R) before the worker stops touching R. */
			CHECK_EQ(dc_folio_request(R, i, 1, &w[i].anchor), 0);
			atomic_fetch_add(&requests, 1);
			CHECK_EQ(pthread_create(&w[i].t, NULL, worker, &w[i]), 0);
		}
		CHECK_EQ(pthread_create(&late, NULL, late_unpinner, NULL), 0);
		while ((unsigned long)atomic_load(&tries) < t_scale(20000))
			usleep(50);
		CHECK_EQ(dc_region_remove(R, &o), 0);
		/* Everything was dropped before remove returned. */
		CHECK_EQ(atomic_load(&held), 0);
		CHECK_EQ(atomic_load(&last_unpinned), 1);
		CHECK_EQ(atomic_load(&pre_remove_seen), 1);
		for (unsigned i = 0; i < nworkers; i++)
			pthread_join(w[i].t, NULL);
		pthread_join(late, NULL);
		CHECK_EQ(atomic_load(&requests), atomic_load(&page_frees));
	}
	dc_quiesce();
	printf("%lu rounds\n", rounds);
}

/*
 * The waiters bit lives in the reference word: a put learns from its own
 * read-modify-write that someone waits for "at most N references".  Pinners
 * pin and unpin while a waiter keeps waiting for "at most 1" (the base
 * reference): a lost wake-up is a hang, caught by the watchdog; a wait that
 * returns early is counted.
 */
static struct dc_folio *wf;
static atomic_int wstop;
static atomic_long early;

static void *pin_unpin(void *arg)
{
	(void)arg;
	while (!atomic_load(&wstop)) {
		/* Hold a pin a little, then leave a gap: the waiter sees the
		 * count above 1 often (and sleeps), and at most 1 often too. */
		CHECK_EQ(dc_folio_pin(wf), 0);
		usleep(10);
		dc_folio_unpin(wf);
		usleep(30);
	}
	return NULL;
}

TEST(waiters_bit_in_the_count)
{
	pthread_t t[3];
	unsigned long waits = t_scale(4000);

	CHECK_EQ(dc_region_create("mem:1M", &R), 0);
	CHECK_EQ(dc_folio_request(R, 7, 1, &wf), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, pin_unpin, NULL), 0);
	for (unsigned long i = 0; i < waits; i++) {
		while (dc_folio_refcount(wf) <= 1) /* wait while a pin is held */
			sched_yield();
		CHECK_EQ(dc_folio_wait_idle(wf, 1, NULL), 0);
		/* It returned: the count was at most 1 at some point; now it may
		 * be higher again, but never below the base reference. */
		if (dc_folio_refcount(wf) < 1)
			atomic_fetch_add(&early, 1);
	}
	atomic_store(&wstop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(dc_folio_refcount(wf), 1);
	CHECK_EQ(atomic_load(&early), 0);
	CHECK(dc_folio_busy(wf)); /* held, by no entry: busy */
	dc_folio_put(wf);
	CHECK(dc_folio_idle(wf));
	CHECK_EQ(dc_folio_wait_idle(wf, 0, NULL), 0);
	t_region_teardown(&R);
}

T_MAIN(NULL, NULL)
