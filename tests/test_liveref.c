/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_liveref - the liveness reference (dc_liveref_*), one behaviour at a
 * time; the races are in test_conc_liveref.c.
 *
 * Cases (test_liveref --list), and what each group would catch:
 *   alive_*          a wrong initial count, get/put/tryget that lose or
 *                    invent a reference while alive.
 *   kill_held        kill that does not drop exactly the initial reference,
 *                    tryget that succeeds once dying, get that fails for a
 *                    holder, release called early, twice, or never.
 *   kill_idle, kill_null_release, exit_unused
 *                    kill that does not release when nothing else is held.
 *   drain_not_killed, kill_twice
 *                    wait_drained without kill, a second kill that drops
 *                    the initial reference again.
 *   drain_*          deadline / cancel / progress handling of wait_drained
 *                    (progress must report the exact outstanding count).
 *   release_frees_*  kill or put touching the ref after ->release freed it
 *                    (ASan).
 *   cross_*          a per-thread count lost when the thread that took (or
 *                    dropped) references exits before kill; a negative
 *                    per-thread count folded as a release.
 *   enomem           the per-thread counter allocation failing: the ref must
 *                    stay exact (fall back to the shared count).
 *   exhausted_shared_atomic, recycled_slot_starts_at_zero
 *                    all 262,144 per-thread slots taken: the next ref works
 *                    exactly in shared-atomic mode; a slot given back and
 *                    taken again starts at zero, even though threads that
 *                    are still alive had counted on it.
 *   teardown         (after every case) the case gave back every slot: a
 *                    ref never exited, or an exit that keeps its slot.
 */
#include "harness.h"
#include "liveref_slots.h"

#include <stdatomic.h>

struct obj {
	struct dc_liveref ref; /* first: release gets &ref */
	atomic_int releases;
	atomic_int held;       /* references the test holds, initial ref aside */
	atomic_int early;      /* release ran while references were held */
	int free_on_release;
};

static void obj_release(struct dc_liveref *ref)
{
	struct obj *o = (struct obj *)ref;

	if (atomic_load(&o->held) != 0)
		atomic_fetch_add(&o->early, 1);
	atomic_fetch_add(&o->releases, 1);
	if (o->free_on_release) {
		dc_liveref_exit(ref);
		free(o);
	}
}

static void obj_init(struct obj *o)
{
	memset(o, 0, sizeof(*o));
	CHECK_EQ(dc_liveref_init(&o->ref, obj_release), 0);
}

static void obj_get(struct obj *o)
{
	atomic_fetch_add(&o->held, 1);
	dc_liveref_get(&o->ref);
}

static bool obj_tryget(struct obj *o)
{
	atomic_fetch_add(&o->held, 1);
	if (dc_liveref_tryget(&o->ref))
		return true;
	atomic_fetch_sub(&o->held, 1);
	return false;
}

static void obj_put(struct obj *o)
{
	atomic_fetch_sub(&o->held, 1);
	dc_liveref_put(&o->ref);
}

/* Kill, drain and give back the slot; the ref must be drained by then. */
static void obj_finish(struct obj *o)
{
	CHECK_EQ(dc_liveref_wait_drained(&o->ref, NULL), 0);
	CHECK_EQ(dc_liveref_count(&o->ref), 0);
	CHECK_EQ(atomic_load(&o->releases), 1);
	CHECK_EQ(atomic_load(&o->early), 0);
	dc_liveref_exit(&o->ref);
}

TEST(alive_counts)
{
	struct obj o;

	obj_init(&o);
	CHECK_EQ(dc_liveref_count(&o.ref), 1);
	CHECK(!dc_liveref_is_dying(&o.ref));
	for (int i = 0; i < 3; i++)
		obj_get(&o);
	CHECK_EQ(dc_liveref_count(&o.ref), 4);
	CHECK(obj_tryget(&o));
	CHECK_EQ(dc_liveref_count(&o.ref), 5);
	for (int i = 0; i < 4; i++)
		obj_put(&o);
	CHECK_EQ(dc_liveref_count(&o.ref), 1);
	CHECK_EQ(atomic_load(&o.releases), 0);
	CHECK(!dc_liveref_is_dying(&o.ref));
	CHECK_EQ(dc_liveref_kill(&o.ref), 0);
	obj_finish(&o);
}

/* Many balanced pairs while alive change nothing. */
TEST(alive_balanced_pairs)
{
	struct obj o;

	obj_init(&o);
	for (int i = 0; i < 100000; i++) {
		dc_liveref_get(&o.ref);
		if (dc_liveref_tryget(&o.ref))
			dc_liveref_put(&o.ref);
		dc_liveref_put(&o.ref);
	}
	CHECK_EQ(dc_liveref_count(&o.ref), 1);
	CHECK_EQ(atomic_load(&o.releases), 0);
	CHECK(!dc_liveref_is_dying(&o.ref));
	CHECK_EQ(dc_liveref_kill(&o.ref), 0);
	obj_finish(&o);
}

TEST(kill_held)
{
	struct obj o;

	obj_init(&o);
	obj_get(&o);
	CHECK(obj_tryget(&o));
	CHECK_EQ(dc_liveref_kill(&o.ref), 0);
	CHECK(dc_liveref_is_dying(&o.ref));
	CHECK_EQ(dc_liveref_count(&o.ref), 2); /* the initial one is gone */
	CHECK_EQ(atomic_load(&o.releases), 0);
	for (int i = 0; i < 3; i++)
		CHECK(!obj_tryget(&o));
	CHECK_EQ(dc_liveref_count(&o.ref), 2);
	/* A holder may still take more. */
	obj_get(&o);
	CHECK_EQ(dc_liveref_count(&o.ref), 3);
	obj_put(&o);
	obj_put(&o);
	CHECK_EQ(dc_liveref_count(&o.ref), 1);
	CHECK_EQ(atomic_load(&o.releases), 0);
	CHECK(!obj_tryget(&o));
	obj_put(&o); /* the last one */
	CHECK_EQ(atomic_load(&o.releases), 1);
	CHECK_EQ(dc_liveref_count(&o.ref), 0);
	CHECK(dc_liveref_is_dying(&o.ref));
	CHECK(!obj_tryget(&o));
	obj_finish(&o);
}

/* Balanced traffic, then kill: release runs inside kill. */
TEST(kill_idle)
{
	struct obj o;

	obj_init(&o);
	for (int i = 0; i < 10; i++)
		obj_get(&o);
	for (int i = 0; i < 10; i++)
		obj_put(&o);
	CHECK_EQ(dc_liveref_kill(&o.ref), 0);
	CHECK_EQ(atomic_load(&o.releases), 1);
	CHECK_EQ(dc_liveref_count(&o.ref), 0);
	obj_finish(&o);
}

/* A NULL release is allowed. */
TEST(kill_null_release)
{
	struct dc_liveref plain;

	CHECK_EQ(dc_liveref_init(&plain, NULL), 0);
	dc_liveref_get(&plain);
	CHECK_EQ(dc_liveref_kill(&plain), 0);
	CHECK_EQ(dc_liveref_count(&plain), 1);
	dc_liveref_put(&plain);
	CHECK_EQ(dc_liveref_count(&plain), 0);
	CHECK_EQ(dc_liveref_wait_drained(&plain, NULL), 0);
	dc_liveref_exit(&plain);
}

/* Never used, never killed: exit alone is fine (teardown: the slot is back). */
TEST(exit_unused)
{
	struct dc_liveref plain;

	CHECK_EQ(dc_liveref_init(&plain, NULL), 0);
	CHECK(plain.slot != UINT32_MAX);
	dc_liveref_exit(&plain);
}

/* wait_drained on a ref that was not killed is an error, not a wait. */
TEST(drain_not_killed)
{
	struct obj o;
	struct dc_drain_opts past = { .deadline_ns = 1 };

	obj_init(&o);
	obj_get(&o);
	CHECK_EQ(dc_liveref_wait_drained(&o.ref, &past), -EINVAL); /* not -ETIMEDOUT */
	CHECK_EQ(dc_liveref_wait_drained(&o.ref, NULL), -EINVAL);
	CHECK(dc_errmsg()[0] != '\0');
	CHECK(!dc_liveref_is_dying(&o.ref));
	CHECK_EQ(dc_liveref_count(&o.ref), 2);
	CHECK_EQ(dc_liveref_kill(&o.ref), 0);
	obj_put(&o);
	obj_finish(&o);
}

/* A second kill fails and drops nothing, before and after release. */
TEST(kill_twice)
{
	struct obj o;

	obj_init(&o);
	obj_get(&o);
	CHECK_EQ(dc_liveref_count(&o.ref), 2);
	CHECK_EQ(dc_liveref_kill(&o.ref), 0);
	CHECK_EQ(dc_liveref_kill(&o.ref), -EINVAL); /* must not drop a 2nd time */
	CHECK_EQ(dc_liveref_count(&o.ref), 1);
	CHECK_EQ(atomic_load(&o.releases), 0);
	obj_put(&o);
	CHECK_EQ(atomic_load(&o.releases), 1);
	CHECK_EQ(dc_liveref_kill(&o.ref), -EINVAL); /* after release too */
	CHECK_EQ(atomic_load(&o.releases), 1);
	obj_finish(&o);
}

struct progress {
	uint64_t expect;
	int calls, bad, fire_at;
	struct dc_cancel *cancel;
};

static void on_progress(void *arg, uint64_t outstanding)
{
	struct progress *p = arg;

	p->calls++;
	if (outstanding != p->expect)
		p->bad++;
	if (p->cancel && p->calls == p->fire_at)
		dc_cancel_fire(p->cancel);
}

/* A killed ref with three references held (the drain cases start here). */
static void killed_with_3(struct obj *o)
{
	obj_init(o);
	for (int i = 0; i < 3; i++)
		obj_get(o);
	CHECK_EQ(dc_liveref_kill(&o->ref), 0);
}

static void put_3_finish(struct obj *o)
{
	for (int i = 0; i < 3; i++)
		obj_put(o);
	obj_finish(o);
}

/* Deadline in the past, and in the near future. */
TEST(drain_deadline)
{
	struct obj o;
	struct progress p = { .expect = 3 };
	struct dc_drain_opts d;
	uint64_t deadline;

	killed_with_3(&o);
	d = (struct dc_drain_opts){ .deadline_ns = 1 };
	CHECK_EQ(dc_liveref_wait_drained(&o.ref, &d), -ETIMEDOUT);
	deadline = dc_now_ns() + 20000000ull;
	d = (struct dc_drain_opts){ .deadline_ns = deadline, .progress = on_progress, .arg = &p,
				    .progress_interval_ns = 1000000 };
	CHECK_EQ(dc_liveref_wait_drained(&o.ref, &d), -ETIMEDOUT);
	CHECK(dc_now_ns() >= deadline);
	CHECK_EQ(p.bad, 0); /* however often it ran, it said 3 */
	CHECK_EQ(atomic_load(&o.releases), 0);
	put_3_finish(&o);
}

/* No deadline: progress keeps coming until it fires the cancel. */
TEST(drain_progress_cancels)
{
	struct obj o;
	struct dc_cancel c;
	struct progress p;
	struct dc_drain_opts d;

	killed_with_3(&o);
	dc_cancel_init(&c);
	p = (struct progress){ .expect = 3, .cancel = &c, .fire_at = 3 };
	d = (struct dc_drain_opts){ .cancel = &c, .progress = on_progress, .arg = &p,
				    .progress_interval_ns = 1000000 };
	CHECK_EQ(dc_liveref_wait_drained(&o.ref, &d), -EINTR);
	CHECK_EQ(p.calls, 3);
	CHECK_EQ(p.bad, 0);
	CHECK_EQ(atomic_load(&o.releases), 0);
	put_3_finish(&o);
}

/* A fired token interrupts at once; the ref stays dying and exact. */
TEST(drain_fired_token)
{
	struct obj o;
	struct dc_cancel c;
	struct dc_drain_opts d;

	killed_with_3(&o);
	dc_cancel_init(&c);
	dc_cancel_fire(&c);
	d = (struct dc_drain_opts){ .cancel = &c };
	CHECK_EQ(dc_liveref_wait_drained(&o.ref, &d), -EINTR);
	CHECK(dc_liveref_is_dying(&o.ref));
	CHECK_EQ(dc_liveref_count(&o.ref), 3);
	CHECK_EQ(atomic_load(&o.releases), 0);
	put_3_finish(&o);
}

/* Progress sees the count go down; once drained, 0 whatever the options. */
TEST(drain_progress_counts_down)
{
	struct obj o;
	struct dc_cancel c;
	struct progress p;
	struct dc_drain_opts d;

	killed_with_3(&o);
	obj_put(&o);
	p = (struct progress){ .expect = 2 };
	d = (struct dc_drain_opts){ .deadline_ns = dc_now_ns() + 5000000ull,
				    .progress = on_progress, .arg = &p,
				    .progress_interval_ns = 1000000 };
	CHECK_EQ(dc_liveref_wait_drained(&o.ref, &d), -ETIMEDOUT);
	CHECK_EQ(p.bad, 0);
	obj_put(&o);
	obj_put(&o);

	/* Drained: 0 even with a fired token and a past deadline. */
	dc_cancel_init(&c);
	dc_cancel_fire(&c);
	d = (struct dc_drain_opts){ .cancel = &c, .deadline_ns = 1 };
	CHECK_EQ(dc_liveref_wait_drained(&o.ref, &d), 0);
	obj_finish(&o);
}

/* Released (and freed) from kill. */
TEST(release_frees_from_kill)
{
	struct obj *o = malloc(sizeof(*o));

	CHECK(o);
	obj_init(o);
	o->free_on_release = 1;
	CHECK_EQ(dc_liveref_kill(&o->ref), 0); /* frees o: ASan reports any later touch */
}

/* Released (and freed) from the last put. */
TEST(release_frees_from_put)
{
	struct obj *o = malloc(sizeof(*o));

	CHECK(o);
	obj_init(o);
	o->free_on_release = 1;
	dc_liveref_get(&o->ref);
	CHECK_EQ(dc_liveref_kill(&o->ref), 0);
	dc_liveref_put(&o->ref); /* frees o: ASan reports any later touch */
}

/* ---- cross-thread -------------------------------------------------------- */

struct xarg {
	struct obj *o;
	int n;
	int op; /* 0 get, 1 put, 2 tryget */
	pthread_barrier_t *hold; /* if set: stay alive until released */
};

static void *x_thread(void *arg)
{
	struct xarg *x = arg;

	for (int i = 0; i < x->n; i++) {
		if (x->op == 0)
			obj_get(x->o);
		else if (x->op == 1)
			obj_put(x->o);
		else
			CHECK(obj_tryget(x->o));
	}
	if (x->hold) {
		pthread_barrier_wait(x->hold); /* done */
		pthread_barrier_wait(x->hold); /* may exit */
	}
	return NULL;
}

static void x_run(struct obj *o, int n, int op)
{
	struct xarg x = { o, n, op, NULL };
	pthread_t th;

	CHECK_EQ(pthread_create(&th, NULL, x_thread, &x), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
}

enum { N = 1000 };

/* Got in A (exited), put in B (exited), then kill. */
TEST(cross_get_put_exited)
{
	struct obj o;

	obj_init(&o);
	x_run(&o, N, 0);
	CHECK_EQ(dc_liveref_count(&o.ref), N + 1);
	x_run(&o, N, 1);
	CHECK_EQ(dc_liveref_count(&o.ref), 1);
	CHECK_EQ(atomic_load(&o.releases), 0);
	CHECK_EQ(dc_liveref_kill(&o.ref), 0);
	CHECK_EQ(atomic_load(&o.releases), 1);
	obj_finish(&o);
}

/* Got in A (exited via tryget), put by B who is still alive at kill. */
TEST(cross_putter_alive_at_kill)
{
	struct obj o;
	pthread_barrier_t bar;
	pthread_t th;
	struct xarg x;

	obj_init(&o);
	x_run(&o, N, 2);
	CHECK_EQ(pthread_barrier_init(&bar, NULL, 2), 0);
	x = (struct xarg){ &o, N, 1, &bar };
	CHECK_EQ(pthread_create(&th, NULL, x_thread, &x), 0);
	pthread_barrier_wait(&bar);
	CHECK_EQ(dc_liveref_count(&o.ref), 1);
	CHECK_EQ(dc_liveref_kill(&o.ref), 0);
	CHECK_EQ(atomic_load(&o.releases), 1);
	pthread_barrier_wait(&bar);
	CHECK_EQ(pthread_join(th, NULL), 0);
	pthread_barrier_destroy(&bar);
	obj_finish(&o);
}

/* Got here, put in a thread that exits: its negative count, folded at
 * exit, must not look like the last put. */
TEST(cross_negative_fold)
{
	struct obj o;

	obj_init(&o);
	for (int i = 0; i < N; i++)
		obj_get(&o);
	x_run(&o, N, 1);
	CHECK_EQ(atomic_load(&o.releases), 0);
	CHECK_EQ(dc_liveref_count(&o.ref), 1);
	CHECK(obj_tryget(&o));
	CHECK_EQ(dc_liveref_kill(&o.ref), 0);
	CHECK_EQ(atomic_load(&o.releases), 0);
	CHECK_EQ(dc_liveref_count(&o.ref), 1);
	obj_put(&o);
	obj_finish(&o);
}

/* Got in an exited thread, put here after kill. */
TEST(cross_put_after_kill)
{
	struct obj o;

	obj_init(&o);
	x_run(&o, N, 0);
	CHECK_EQ(dc_liveref_kill(&o.ref), 0);
	CHECK_EQ(dc_liveref_count(&o.ref), N);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(atomic_load(&o.releases), 0);
		obj_put(&o);
	}
	obj_finish(&o);
}

/* ---- allocation failure ------------------------------------------------ */

struct enomem_arg {
	struct obj *o;
	unsigned long nth;
};

static void *enomem_thread(void *arg)
{
	struct enomem_arg *a = arg;

	/* A fresh thread has no counters yet: its first get allocates (its
	 * directory, then a chunk).  Fail allocation number @nth from here. */
	dc__fault_set(a->nth);
	obj_get(a->o);
	CHECK(obj_tryget(a->o));
	obj_put(a->o);
	dc__fault_set(0);
	return NULL;
}

TEST(enomem)
{
	struct obj o;

	obj_init(&o);
	for (unsigned long nth = 1; nth <= 3; nth++) {
		struct enomem_arg a = { &o, nth };
		pthread_t th;

		CHECK_EQ(pthread_create(&th, NULL, enomem_thread, &a), 0);
		CHECK_EQ(pthread_join(th, NULL), 0);
		CHECK_EQ(dc_liveref_count(&o.ref), 1 + nth);
	}
	CHECK_EQ(dc_liveref_count(&o.ref), 4);
	CHECK_EQ(dc_liveref_kill(&o.ref), 0);
	CHECK_EQ(dc_liveref_count(&o.ref), 3);
	for (int i = 0; i < 3; i++)
		obj_put(&o);
	obj_finish(&o);
}

/* The per-thread injector (src/base/base.h): only the arming thread's own count. */
void *dc__malloc(size_t n);
void dc__fault_set_thread(unsigned long nth);

static void *alloc_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < 5; i++) { /* neither fail by the other's target nor move it */
		void *p = dc__malloc(8);

		CHECK(p != NULL);
		free(p);
	}
	return NULL;
}

TEST(fault_set_thread)
{
	pthread_t th;
	void *p;

	dc__fault_set_thread(2);
	p = dc__malloc(8); /* this thread's first: not yet */
	CHECK(p != NULL);
	free(p);
	CHECK_EQ(pthread_create(&th, NULL, alloc_thread, NULL), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK(dc__malloc(8) == NULL); /* its second, whatever the other thread did */
	p = dc__malloc(8); /* once */
	CHECK(p != NULL);
	free(p);
	dc__fault_set_thread(0);
}

/* ---- every slot taken, slots recycled ---------------------------------- */

enum { RECYCLE = 64 };

struct helper {
	struct obj *objs;
	int n, op;
	pthread_barrier_t bar;
	pthread_t th;
};

static void *helper_thread(void *arg)
{
	struct helper *h = arg;

	/* Count +3 (or -3) on each ref in this thread, then stay alive. */
	for (int i = 0; i < h->n; i++)
		for (int k = 0; k < 3; k++) {
			if (h->op == 0)
				obj_get(&h->objs[i]);
			else
				obj_put(&h->objs[i]);
		}
	pthread_barrier_wait(&h->bar); /* counted */
	pthread_barrier_wait(&h->bar); /* may exit */
	return NULL;
}

static void helper_start(struct helper *h, struct obj *objs, int n, int op)
{
	h->objs = objs;
	h->n = n;
	h->op = op;
	CHECK_EQ(pthread_barrier_init(&h->bar, NULL, 2), 0);
	CHECK_EQ(pthread_create(&h->th, NULL, helper_thread, h), 0);
	pthread_barrier_wait(&h->bar);
}

static void helper_stop(struct helper *h)
{
	pthread_barrier_wait(&h->bar);
	CHECK_EQ(pthread_join(h->th, NULL), 0);
	pthread_barrier_destroy(&h->bar);
}

/* No slot left: a new ref runs on the shared atomic, exactly. */
TEST(exhausted_shared_atomic)
{
	struct dc_liveref *fill = fill_slots(SLOT_MAX);
	struct obj atomic_mode, *o;

	o = &atomic_mode;
	obj_init(o);
	CHECK_EQ(o->ref.slot, UINT32_MAX);
	CHECK_EQ(dc_liveref_count(&o->ref), 1);
	for (int i = 0; i < 5; i++)
		obj_get(o);
	CHECK(obj_tryget(o));
	CHECK_EQ(dc_liveref_count(&o->ref), 7);
	x_run(o, 100, 0);
	x_run(o, 100, 1);
	for (int i = 0; i < 5; i++)
		obj_put(o);
	CHECK_EQ(dc_liveref_count(&o->ref), 2);
	CHECK_EQ(dc_liveref_kill(&o->ref), 0);
	CHECK(!obj_tryget(o));
	CHECK_EQ(dc_liveref_count(&o->ref), 1);
	CHECK_EQ(atomic_load(&o->releases), 0);
	obj_put(o);
	obj_finish(o);
	unfill_slots(fill, SLOT_MAX);
}

/*
 * Victims: +3 counted in one live thread, -3 in another; both threads stay
 * alive across kill, exit and re-init, while every other slot is taken, so
 * the victims get their own old slots back.
 */
TEST(recycled_slot_starts_at_zero)
{
	struct obj *victims = calloc(RECYCLE, sizeof(*victims));
	struct dc_liveref *fill;
	struct helper hg, hp;

	CHECK(victims);
	for (int i = 0; i < RECYCLE; i++)
		obj_init(&victims[i]);
	fill = fill_slots(SLOT_MAX - RECYCLE);
	helper_start(&hg, victims, RECYCLE, 0);
	helper_start(&hp, victims, RECYCLE, 1);
	for (int i = 0; i < RECYCLE; i++) {
		CHECK_EQ(dc_liveref_count(&victims[i].ref), 1);
		CHECK_EQ(dc_liveref_kill(&victims[i].ref), 0);
		CHECK_EQ(atomic_load(&victims[i].releases), 1);
		obj_finish(&victims[i]);
	}
	/* The only free slots now are the victims' old ones. */
	for (int i = 0; i < RECYCLE; i++) {
		obj_init(&victims[i]);
		CHECK_EQ(dc_liveref_count(&victims[i].ref), 1);
		obj_get(&victims[i]);
		CHECK_EQ(dc_liveref_count(&victims[i].ref), 2);
		obj_put(&victims[i]);
	}
	/* The helpers exit now: they must fold nothing into the new refs. */
	helper_stop(&hp);
	helper_stop(&hg);
	for (int i = 0; i < RECYCLE; i++) {
		CHECK_EQ(dc_liveref_count(&victims[i].ref), 1);
		CHECK_EQ(atomic_load(&victims[i].releases), 0);
		CHECK_EQ(dc_liveref_kill(&victims[i].ref), 0);
		CHECK_EQ(atomic_load(&victims[i].releases), 1);
		obj_finish(&victims[i]);
	}
	unfill_slots(fill, SLOT_MAX - RECYCLE);
	free(victims);
}

/* ---- fixture ------------------------------------------------------------- */

static void setup(void)
{
	t_watchdog_total(120);
}

/* The case gave back every liveref slot it took (liveref_slots.h). */
static void teardown(void)
{
	t_liveref_slots_teardown();
	dc_quiesce();
}

T_MAIN(setup, teardown)
