/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_conc_liveref - the liveness reference under concurrency.
 *
 *   race      WORKERS threads take references with tryget (and nested gets),
 *             hand some to each other through a mailbox (got in one thread,
 *             put in another), while a churn thread takes references and
 *             exits at once (its per-thread count folded at exit) and the
 *             main thread kills the ref at a random point.  Afterwards: the
 *             count drained exactly to 0, ->release ran exactly once, never
 *             while a worker still held a reference (a holders counter each
 *             worker raises before tryget and lowers before put), and no
 *             tryget succeeded after release.  Catches a kill without a
 *             grace period, a per-thread count lost at fold, a tryget that
 *             revives a released ref, release called early or twice.
 *   drain     a holder keeps one reference: wait_drained with a deadline
 *             returns -ETIMEDOUT while it is held; the holder puts it once
 *             the main thread sleeps in wait_drained, which must then
 *             return 0 (a missing wake is a hang: watchdog).
 *   tryget_vs_kill  one thread only trygets and puts, the main thread kills
 *             at a random moment with nothing else held: a tryget that
 *             read "alive" must not revive a ref whose count already hit
 *             zero (release would run twice).
 *   *_exhausted  the same with every per-thread slot taken (262,144
 *             refs), so the refs run in shared-atomic mode.
 *   teardown  (after every case) every per-thread slot given back.
 *
 * Each is a case (test_conc_liveref --list; test_conc_liveref NAME runs
 * one).  Sizes scale with DAXCORE_TEST_SCALE (race: 300 rounds).
 */
#include "harness.h"
#include "liveref_slots.h"

#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#define WORKERS 4

struct obj {
	struct dc_liveref ref;
	atomic_int holders;       /* references held by workers, mailbox included */
	atomic_int mailbox;       /* references handed over, put by whoever takes */
	atomic_int active;        /* threads that may still deposit in the mailbox */
	atomic_int releases;
	atomic_int early;         /* release ran while holders != 0 */
	atomic_int after_release; /* a tryget succeeded after release */
	atomic_long ops;
};

static void obj_release(struct dc_liveref *ref)
{
	struct obj *o = (struct obj *)ref;

	if (atomic_load(&o->holders) != 0 || atomic_load(&o->mailbox) != 0)
		atomic_fetch_add(&o->early, 1);
	atomic_fetch_add(&o->releases, 1);
}

/*
 * holders goes up only after a successful tryget (a failing tryget racing the
 * last put must not look like a holder); a release that runs in between is
 * seen by the check that follows.
 */
static bool o_tryget(struct obj *o)
{
	if (!dc_liveref_tryget(&o->ref))
		return false;
	atomic_fetch_add(&o->holders, 1);
	if (atomic_load(&o->releases))
		atomic_fetch_add(&o->after_release, 1);
	return true;
}

static void o_get(struct obj *o)
{
	atomic_fetch_add(&o->holders, 1);
	dc_liveref_get(&o->ref);
}

static void o_put(struct obj *o)
{
	atomic_fetch_sub(&o->holders, 1);
	dc_liveref_put(&o->ref);
}

/* Hand one reference (the caller holds one) to whoever empties the mailbox. */
static void o_deposit(struct obj *o)
{
	o_get(o);
	atomic_fetch_add(&o->mailbox, 1);
}

static bool o_take(struct obj *o)
{
	int n = atomic_load(&o->mailbox);

	while (n > 0)
		if (atomic_compare_exchange_weak(&o->mailbox, &n, n - 1)) {
			o_put(o);
			return true;
		}
	return false;
}

/* ---- race ---------------------------------------------------------------- */

static pthread_barrier_t bar;
static _Atomic(struct obj *) cur;
static atomic_int quit;

struct worker {
	int idx;
	uint64_t seed;
	pthread_t th;
};

static void work_round(struct obj *o, uint64_t *seed)
{
	for (;;) {
		uint64_t r = t_rand(seed);

		if (!o_tryget(o))
			break;
		atomic_fetch_add(&o->ops, 1);
		switch (r % 8) {
		case 0:
		case 1:
			o_get(o); /* nested, while holding */
			o_put(o);
			break;
		case 2:
			o_deposit(o);
			break;
		case 3:
		case 4:
			o_take(o);
			break;
		default:
			break;
		}
		o_put(o);
		if ((r >> 8) % 64 == 0)
			sched_yield();
	}
	/* Dying: empty the mailbox until nobody can deposit any more. */
	atomic_fetch_sub(&o->active, 1);
	while (atomic_load(&o->active) > 0 || atomic_load(&o->mailbox) > 0)
		if (!o_take(o))
			sched_yield();
}

static void *worker_thread(void *arg)
{
	struct worker *w = arg;

	for (;;) {
		pthread_barrier_wait(&bar); /* round starts */
		if (atomic_load(&quit))
			return NULL;
		work_round(atomic_load(&cur), &w->seed);
		pthread_barrier_wait(&bar); /* round ends */
	}
}

/* Takes references, deposits them, and exits while they are outstanding. */
static void *churn_thread(void *arg)
{
	struct obj *o = arg;

	for (int i = 0; i < 16; i++) {
		if (!o_tryget(o))
			break;
		o_deposit(o);
		o_get(o);
		o_put(o);
		o_put(o);
	}
	atomic_fetch_sub(&o->active, 1);
	return NULL;
}

static void race(unsigned rounds, uint64_t seed, const char *what)
{
	struct worker ws[WORKERS];
	long total = 0;

	atomic_store(&quit, 0);
	CHECK_EQ(pthread_barrier_init(&bar, NULL, WORKERS + 1), 0);
	for (int i = 0; i < WORKERS; i++) {
		ws[i] = (struct worker){ .idx = i, .seed = seed * 31 + (uint64_t)i };
		CHECK_EQ(pthread_create(&ws[i].th, NULL, worker_thread, &ws[i]), 0);
	}
	for (unsigned r = 0; r < rounds; r++) {
		struct obj *o = calloc(1, sizeof(*o));
		long target = (long)(t_rand(&seed) % t_scale(4000));
		pthread_t churn;

		CHECK(o);
		CHECK_EQ(dc_liveref_init(&o->ref, obj_release), 0);
		atomic_store(&o->active, WORKERS + 1);
		atomic_store(&cur, o);
		pthread_barrier_wait(&bar);
		CHECK_EQ(pthread_create(&churn, NULL, churn_thread, o), 0);
		while (atomic_load(&o->ops) < target)
			sched_yield();
		CHECK_EQ(dc_liveref_kill(&o->ref), 0);
		CHECK(!dc_liveref_tryget(&o->ref));
		/* Drains while the workers put their last references. */
		CHECK_EQ(dc_liveref_wait_drained(&o->ref, NULL), 0);
		CHECK_EQ(dc_liveref_count(&o->ref), 0);
		pthread_barrier_wait(&bar);
		CHECK_EQ(pthread_join(churn, NULL), 0);
		/* Every thread that could touch o is done with it. */
		CHECK_EQ(atomic_load(&o->holders), 0);
		CHECK_EQ(atomic_load(&o->mailbox), 0);
		CHECK_EQ(atomic_load(&o->early), 0);
		CHECK_EQ(atomic_load(&o->after_release), 0);
		CHECK_EQ(atomic_load(&o->releases), 1);
		CHECK_EQ(dc_liveref_count(&o->ref), 0);
		CHECK_EQ(dc_liveref_kill(&o->ref), -EINVAL);
		total += atomic_load(&o->ops);
		dc_liveref_exit(&o->ref);
		atomic_store(&cur, NULL);
		free(o);
	}
	atomic_store(&quit, 1);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < WORKERS; i++)
		CHECK_EQ(pthread_join(ws[i].th, NULL), 0);
	pthread_barrier_destroy(&bar);
	printf("race (%s): %u rounds, %ld trygets\n", what, rounds, total);
}

/* ---- tryget against kill, nothing else held ---------------------------- */

/*
 * One thread does nothing but tryget + put while the main thread kills the
 * ref at a random moment, with no other reference held: kill's drop of the
 * initial reference is then the one that reaches zero, and a tryget that
 * read "alive" just before must either have its reference counted before
 * that, or fail.  If it can still add to a count that already reached zero,
 * the ref is revived after ->release and released a second time.
 */
static _Atomic(struct obj *) tk_cur, tk_seen;
static atomic_int tk_stop;

static void *tk_thread(void *arg)
{
	while (!atomic_load(&tk_stop)) {
		struct obj *o = atomic_load(&tk_cur);

		atomic_store(&tk_seen, o);
		if (o && o_tryget(o)) {
			atomic_fetch_add(&o->ops, 1);
			o_put(o);
		}
	}
	return NULL;
}

static void tryget_vs_kill(unsigned rounds, uint64_t seed, const char *what)
{
	struct obj *objs = calloc(rounds, sizeof(*objs));
	unsigned revived = 0;
	long ops = 0;
	pthread_t th;

	CHECK(objs);
	atomic_store(&tk_stop, 0);
	atomic_store(&tk_cur, NULL);
	atomic_store(&tk_seen, NULL);
	CHECK_EQ(pthread_create(&th, NULL, tk_thread, NULL), 0);
	for (unsigned r = 0; r < rounds; r++) {
		struct obj *o = &objs[r];
		unsigned spin = (unsigned)(t_rand(&seed) % 4000);

		CHECK_EQ(dc_liveref_init(&o->ref, obj_release), 0);
		atomic_store(&tk_cur, o);
		while (atomic_load(&tk_seen) != o) /* the hammer is on this one */
			sched_yield();
		for (volatile unsigned k = 0; k < spin; k++)
			;
		CHECK_EQ(dc_liveref_kill(&o->ref), 0);
		CHECK_EQ(dc_liveref_wait_drained(&o->ref, NULL), 0);
	}
	atomic_store(&tk_stop, 1);
	CHECK_EQ(pthread_join(th, NULL), 0);
	atomic_store(&tk_cur, NULL);
	for (unsigned r = 0; r < rounds; r++) {
		struct obj *o = &objs[r];

		if (atomic_load(&o->releases) != 1 || atomic_load(&o->after_release))
			revived++;
		ops += atomic_load(&o->ops);
	}
	if (revived)
		fprintf(stderr, "tryget vs kill (%s): %u of %u refs revived after release "
			"(released twice or tryget succeeded after release)\n", what, revived, rounds);
	for (unsigned r = 0; r < rounds; r++) {
		struct obj *o = &objs[r];

		CHECK_EQ(atomic_load(&o->releases), 1);
		CHECK_EQ(atomic_load(&o->after_release), 0);
		CHECK_EQ(atomic_load(&o->early), 0);
		CHECK_EQ(atomic_load(&o->holders), 0);
		CHECK_EQ(dc_liveref_count(&o->ref), 0);
		dc_liveref_exit(&o->ref);
	}
	free(objs);
	printf("tryget vs kill (%s): %u rounds, %ld trygets\n", what, rounds, ops);
}

/* ---- drain returns exactly when the last put happens --------------------- */

struct holder {
	struct obj *o;
	pid_t waiter_tid; /* the thread that will sleep in wait_drained */
	atomic_int got, release_now;
	int wait_for_sleep;
};

/* Whether thread @tid is blocked (state S): it sleeps in its futex. */
static bool thread_sleeping(pid_t tid)
{
	char path[64], buf[256], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return true; /* cannot tell: go ahead */
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return !p || (p[1] == ' ' && p[2] == 'S');
}

static void *holder_thread(void *arg)
{
	struct holder *h = arg;

	CHECK(o_tryget(h->o));
	atomic_store(&h->got, 1);
	while (!atomic_load(&h->release_now))
		sched_yield();
	/* Let the waiter fall asleep first, so the put must wake it (bounded:
	 * an implementation that polls instead of sleeping is not wrong). */
	for (int i = 0; h->wait_for_sleep && i < 2000 && !thread_sleeping(h->waiter_tid); i++)
		usleep(500);
	o_put(h->o);
	return NULL;
}

static void drain(unsigned rounds)
{
	for (unsigned r = 0; r < rounds; r++) {
		struct obj o = { 0 };
		struct holder h = { .o = &o, .waiter_tid = (pid_t)syscall(SYS_gettid),
				    .wait_for_sleep = r % 2 == 0 };
		struct dc_drain_opts soon = { .deadline_ns = dc_now_ns() + 2000000ull };
		pthread_t th;

		CHECK_EQ(dc_liveref_init(&o.ref, obj_release), 0);
		atomic_store(&o.active, 1);
		CHECK_EQ(pthread_create(&th, NULL, holder_thread, &h), 0);
		while (!atomic_load(&h.got))
			sched_yield();
		CHECK_EQ(dc_liveref_kill(&o.ref), 0);
		CHECK_EQ(dc_liveref_count(&o.ref), 1);
		CHECK_EQ(dc_liveref_wait_drained(&o.ref, &soon), -ETIMEDOUT);
		CHECK_EQ(atomic_load(&o.releases), 0);
		CHECK_EQ(dc_liveref_count(&o.ref), 1);
		atomic_store(&h.release_now, 1);
		CHECK_EQ(dc_liveref_wait_drained(&o.ref, NULL), 0);
		CHECK_EQ(dc_liveref_count(&o.ref), 0);
		CHECK_EQ(pthread_join(th, NULL), 0);
		CHECK_EQ(atomic_load(&o.releases), 1);
		CHECK_EQ(atomic_load(&o.early), 0);
		dc_liveref_exit(&o.ref);
	}
	printf("drain: %u rounds\n", rounds);
}

/* ---- cases -------------------------------------------------------------- */

#define ROUNDS t_scale(300)
#define SEED t_seed(0x11fe)

TEST(race)
{
	race((unsigned)ROUNDS, SEED, "per-thread counters");
}

TEST(tryget_vs_kill)
{
	tryget_vs_kill((unsigned)t_scale(3000), SEED, "per-thread counters");
}

TEST(drain)
{
	drain(20);
}

/* Take every per-thread slot: new refs run in shared-atomic mode. */
TEST(tryget_vs_kill_exhausted)
{
	struct dc_liveref *fill = fill_slots(SLOT_MAX);

	tryget_vs_kill((unsigned)t_scale(3000), SEED + 1, "slots exhausted, shared atomic");
	unfill_slots(fill, SLOT_MAX);
}

TEST(race_exhausted)
{
	struct dc_liveref *fill = fill_slots(SLOT_MAX);

	race((unsigned)ROUNDS, SEED + 1, "slots exhausted, shared atomic");
	unfill_slots(fill, SLOT_MAX);
}

TEST(drain_exhausted)
{
	struct dc_liveref *fill = fill_slots(SLOT_MAX);

	drain(4);
	unfill_slots(fill, SLOT_MAX);
}

/* ---- fixture ------------------------------------------------------------- */

static void setup(void)
{
	t_watchdog_total(240);
	atomic_store(&cur, NULL);
	atomic_store(&quit, 0);
}

/* The case gave back every liveref slot it took (liveref_slots.h). */
static void teardown(void)
{
	t_liveref_slots_teardown();
	dc_quiesce();
}

T_MAIN(setup, teardown)
