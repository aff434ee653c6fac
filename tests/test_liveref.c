/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_liveref - the liveness reference (dc_liveref_*), one behaviour at a
 * time; the races are in test_conc_liveref.c.
 *
 * What each part would catch:
 *   alive            a wrong initial count, get/put/tryget that lose or
 *                    invent a reference while alive.
 *   kill_held        kill that does not drop exactly the initial reference,
 *                    tryget that succeeds once dying, get that fails for a
 *                    holder, release called early, twice, or never.
 *   kill_idle        kill that does not release when nothing else is held.
 *   errors           wait_drained without kill, a second kill that drops
 *                    the initial reference again.
 *   drain_opts       deadline / cancel / progress handling of wait_drained
 *                    (progress must report the exact outstanding count).
 *   release_frees    kill or put touching the ref after ->release freed it
 *                    (ASan).
 *   cross_thread     a per-thread count lost when the thread that took (or
 *                    dropped) references exits before kill; a negative
 *                    per-thread count folded as a release.
 *   enomem           the per-thread counter allocation failing: the ref must
 *                    stay exact (fall back to the shared count).
 *   exhaust_recycle  all 262,144 per-thread slots taken: the next ref works
 *                    exactly in shared-atomic mode; a slot given back and
 *                    taken again starts at zero, even though threads that
 *                    are still alive had counted on it.
 */
#include "harness.h"

#include <stdatomic.h>

#define SLOT_MAX 262144 /* per-thread slots (liveref.h) */

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

static void alive(void)
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
	/* Many balanced pairs while alive change nothing. */
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

static void kill_held(void)
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

static void kill_idle(void)
{
	struct obj o;
	struct dc_liveref plain;

	/* Balanced traffic, then kill: release runs inside kill. */
	obj_init(&o);
	for (int i = 0; i < 10; i++)
		obj_get(&o);
	for (int i = 0; i < 10; i++)
		obj_put(&o);
	CHECK_EQ(dc_liveref_kill(&o.ref), 0);
	CHECK_EQ(atomic_load(&o.releases), 1);
	CHECK_EQ(dc_liveref_count(&o.ref), 0);
	obj_finish(&o);

	/* A NULL release is allowed. */
	CHECK_EQ(dc_liveref_init(&plain, NULL), 0);
	dc_liveref_get(&plain);
	CHECK_EQ(dc_liveref_kill(&plain), 0);
	CHECK_EQ(dc_liveref_count(&plain), 1);
	dc_liveref_put(&plain);
	CHECK_EQ(dc_liveref_count(&plain), 0);
	CHECK_EQ(dc_liveref_wait_drained(&plain, NULL), 0);
	dc_liveref_exit(&plain);

	/* Never used, never killed: exit alone is fine. */
	CHECK_EQ(dc_liveref_init(&plain, NULL), 0);
	dc_liveref_exit(&plain);
}

static void errors(void)
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

static void drain_opts(void)
{
	struct obj o;
	struct dc_cancel c;
	struct progress p = { .expect = 3 };
	struct dc_drain_opts d;
	uint64_t deadline;

	obj_init(&o);
	for (int i = 0; i < 3; i++)
		obj_get(&o);
	CHECK_EQ(dc_liveref_kill(&o.ref), 0);

	/* Deadline in the past, and in the near future. */
	d = (struct dc_drain_opts){ .deadline_ns = 1 };
	CHECK_EQ(dc_liveref_wait_drained(&o.ref, &d), -ETIMEDOUT);
	deadline = dc_now_ns() + 20000000ull;
	d = (struct dc_drain_opts){ .deadline_ns = deadline, .progress = on_progress, .arg = &p,
				    .progress_interval_ns = 1000000 };
	CHECK_EQ(dc_liveref_wait_drained(&o.ref, &d), -ETIMEDOUT);
	CHECK(dc_now_ns() >= deadline);
	CHECK_EQ(p.bad, 0); /* however often it ran, it said 3 */

	/* No deadline: progress keeps coming until it fires the cancel. */
	dc_cancel_init(&c);
	p = (struct progress){ .expect = 3, .cancel = &c, .fire_at = 3 };
	d = (struct dc_drain_opts){ .cancel = &c, .progress = on_progress, .arg = &p,
				    .progress_interval_ns = 1000000 };
	CHECK_EQ(dc_liveref_wait_drained(&o.ref, &d), -EINTR);
	CHECK_EQ(p.calls, 3);
	CHECK_EQ(p.bad, 0);

	/* A fired token interrupts at once; the ref stays dying and exact. */
	d = (struct dc_drain_opts){ .cancel = &c };
	CHECK_EQ(dc_liveref_wait_drained(&o.ref, &d), -EINTR);
	CHECK(dc_liveref_is_dying(&o.ref));
	CHECK_EQ(dc_liveref_count(&o.ref), 3);
	CHECK_EQ(atomic_load(&o.releases), 0);

	/* Progress sees the count go down. */
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
	d = (struct dc_drain_opts){ .cancel = &c, .deadline_ns = 1 };
	CHECK_EQ(dc_liveref_wait_drained(&o.ref, &d), 0);
	obj_finish(&o);
}

static void release_frees(void)
{
	struct obj *o = malloc(sizeof(*o));

	/* Released (and freed) from kill. */
	CHECK(o);
	obj_init(o);
	o->free_on_release = 1;
	CHECK_EQ(dc_liveref_kill(&o->ref), 0);

	/* Released (and freed) from the last put. */
	o = malloc(sizeof(*o));
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

static void cross_thread(void)
{
	enum { N = 1000 };
	struct obj o;
	pthread_barrier_t bar;
	pthread_t th;
	struct xarg x;

	/* Got in A (exited), put in B (exited), then kill. */
	obj_init(&o);
	x_run(&o, N, 0);
	CHECK_EQ(dc_liveref_count(&o.ref), N + 1);
	x_run(&o, N, 1);
	CHECK_EQ(dc_liveref_count(&o.ref), 1);
	CHECK_EQ(atomic_load(&o.releases), 0);
	CHECK_EQ(dc_liveref_kill(&o.ref), 0);
	CHECK_EQ(atomic_load(&o.releases), 1);
	obj_finish(&o);

	/* Got in A (exited via tryget), put by B who is still alive at kill. */
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

	/* Got here, put in a thread that exits: its negative count, folded
	 * at exit, must not look like the last put. */
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

	/* Got in an exited thread, put here after kill. */
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

static void enomem(void)
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

static void exhaust_recycle(void)
{
	struct dc_liveref *fill = calloc(SLOT_MAX, sizeof(*fill));
	struct obj *victims = calloc(RECYCLE, sizeof(*victims));
	struct obj atomic_mode, *o;
	struct helper hg, hp;

	CHECK(fill && victims);
	/* Take every slot: RECYCLE of them through victims, the rest fill. */
	for (int i = 0; i < RECYCLE; i++)
		obj_init(&victims[i]);
	for (int i = 0; i < SLOT_MAX - RECYCLE; i++)
		CHECK_EQ(dc_liveref_init(&fill[i], NULL), 0);

	/* No slot left: this one runs on the shared atomic, exactly. */
	o = &atomic_mode;
	obj_init(o);
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

	/* Victims: +3 counted in one live thread, -3 in another; both
	 * threads stay alive across kill, exit and re-init. */
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
	for (int i = 0; i < SLOT_MAX - RECYCLE; i++) {
		CHECK_EQ(dc_liveref_count(&fill[i]), 1);
		dc_liveref_exit(&fill[i]);
	}
	free(fill);
	free(victims);
}

int main(void)
{
	t_watchdog(120);
	alive();
	kill_held();
	kill_idle();
	errors();
	drain_opts();
	release_frees();
	cross_thread();
	enomem();
	exhaust_recycle();
	dc_quiesce();
	printf("PASS test_liveref\n");
	return T_PASS;
}
