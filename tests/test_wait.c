/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_wait - dc_wait_var() / dc_wake_var() / cancel tokens, one waiter at a
 * time (the many-thread hammers are in test_conc_wait.c).
 *
 * Cases (test_wait --list), and what each would catch:
 *   cond_true_*        a wait that sleeps, calls a callback, or checks
 *                      cancel/deadline before looking at the condition.
 *   deadline_*         a past deadline that sleeps (hang), a deadline read as
 *                      relative, UINT64_MAX overflowing into "already past",
 *                      -ETIMEDOUT before the deadline, unpaired callbacks.
 *   cancel_*           a fired token that is not seen before or during a
 *                      sleep, dc_cancel_init() that does not reset.
 *   callbacks_paired   before_sleep/after_sleep not paired, the caller's lock
 *                      not held while cond runs or when the wait returns
 *                      (the waker needs that lock: an unbalanced callback
 *                      deadlocks and the watchdog fires).
 *   wake_nobody        dc_wake_var() on an address nobody waits on that
 *                      faults (it must only hash) or makes a system call.
 *   collision          two addresses in one bucket: a wake for one must not
 *                      make the other's wait return with its condition false,
 *                      and must not be swallowed by the wrong waiter.
 *   hook_probe         (the futex hook below sees a wake of a sleeper)
 *   teardown           (after every case) a waiter count leaked on some
 *                      return path: no bucket may still count a waiter.
 *
 * Seeing system calls: this program defines syscall(), so the library's
 * futex calls (statically linked) come here first and are passed on to libc.
 * A wake issued while nobody waits, or a waiter left registered in a bucket,
 * shows up as a FUTEX_WAKE.  The hook proves it works (a wake of a sleeping
 * waiter must be seen) before any check relies on it; if it is not working
 * (the library stopped using syscall()), those checks are skipped with a note.
 */
#include "harness.h"
#include "futex_count.h"

#include <dlfcn.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/syscall.h>

/* ---- futex counting hook: futex_count.h ---------------------------------- */

static int hook_ok = -1; /* -1 unknown, 0 not intercepting, 1 works */

/* ---- a waiter with a lock its callbacks drop and retake ---------------- */

struct waiter {
	const void *addr;
	atomic_int *var; /* condition: *var >= target */
	int target;
	struct dc_wait_opts opts;
	pthread_mutex_t lock;
	pthread_t owner;   /* who must hold the lock when cond runs */
	atomic_int held;   /* the lock flag the callbacks toggle */
	atomic_int before, after, cond_calls, unlocked_cond, bad_callback;
	atomic_int asleep; /* between before_sleep and after_sleep */
	atomic_int done;
	int ret, held_at_return, var_at_return;
	pthread_t th;
};

static bool w_cond(void *arg)
{
	struct waiter *w = arg;

	atomic_fetch_add(&w->cond_calls, 1);
	if (!atomic_load(&w->held) || !pthread_equal(w->owner, pthread_self()))
		atomic_fetch_add(&w->unlocked_cond, 1);
	return atomic_load(w->var) >= w->target;
}

static void w_before(void *arg)
{
	struct waiter *w = arg;

	if (!atomic_load(&w->held))
		atomic_fetch_add(&w->bad_callback, 1);
	atomic_fetch_add(&w->before, 1);
	atomic_store(&w->held, 0);
	pthread_mutex_unlock(&w->lock);
	atomic_store(&w->asleep, 1);
}

static void w_after(void *arg)
{
	struct waiter *w = arg;

	atomic_store(&w->asleep, 0);
	pthread_mutex_lock(&w->lock);
	if (atomic_load(&w->held))
		atomic_fetch_add(&w->bad_callback, 1);
	atomic_store(&w->held, 1);
	atomic_fetch_add(&w->after, 1);
}

static void w_init(struct waiter *w, const void *addr, atomic_int *var, int target)
{
	memset(w, 0, sizeof(*w));
	w->addr = addr;
	w->var = var;
	w->target = target;
	pthread_mutex_init(&w->lock, NULL);
	w->opts.before_sleep = w_before;
	w->opts.after_sleep = w_after;
	w->opts.arg = w;
}

/* Run the wait in the calling thread, holding the lock around it. */
static int w_run(struct waiter *w)
{
	w->owner = pthread_self();
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->held, 1);
	w->ret = dc_wait_var(w->addr, w_cond, w, &w->opts);
	w->held_at_return = atomic_load(&w->held);
	w->var_at_return = atomic_load(w->var);
	atomic_store(&w->held, 0);
	pthread_mutex_unlock(&w->lock);
	atomic_store(&w->done, 1);
	return w->ret;
}

static void *w_thread(void *arg)
{
	w_run(arg);
	return NULL;
}

static void w_start(struct waiter *w)
{
	CHECK_EQ(pthread_create(&w->th, NULL, w_thread, w), 0);
}

static void w_join(struct waiter *w)
{
	CHECK_EQ(pthread_join(w->th, NULL), 0);
	pthread_mutex_destroy(&w->lock);
}

static void w_wait_asleep(struct waiter *w, int min_sleeps)
{
	while (!atomic_load(&w->asleep) || atomic_load(&w->before) < min_sleeps)
		sched_yield();
}

/* Invariants that hold after every wait, whatever it returned. */
static void w_check_common(struct waiter *w)
{
	CHECK_EQ(atomic_load(&w->unlocked_cond), 0);
	CHECK_EQ(atomic_load(&w->bad_callback), 0);
	CHECK_EQ(w->held_at_return, 1);
	CHECK_EQ(atomic_load(&w->before), atomic_load(&w->after));
	/* cond runs once first and once after every sleep. */
	CHECK_EQ(atomic_load(&w->cond_calls), atomic_load(&w->before) + 1);
}

/* ---- cases --------------------------------------------------------------- */

static atomic_int var_a, var_b;
static uint64_t keys[4096];
static char probe[1 << 18]; /* candidate partners for keys[8] */

static bool always_true(void *arg)
{
	(*(int *)arg)++;
	return true;
}

/* NULL opts, cond true: 0, cond called once. */
TEST(cond_true_first)
{
	int calls = 0;

	CHECK_EQ(dc_wait_var(&keys[0], always_true, &calls, NULL), 0);
	CHECK_EQ(calls, 1);
}

/* A fired cancel and a past deadline are not looked at while cond holds. */
TEST(cond_true_before_cancel_and_deadline)
{
	struct dc_cancel fired = { 0 };
	struct waiter w;

	dc_cancel_fire(&fired);
	atomic_store(&var_a, 5);
	w_init(&w, &keys[0], &var_a, 5);
	w.opts.cancel = &fired;
	w.opts.deadline_ns = 1;
	CHECK_EQ(w_run(&w), 0);
	w_check_common(&w);
	CHECK_EQ(atomic_load(&w.before), 0);
	CHECK_EQ(atomic_load(&w.cond_calls), 1);
	pthread_mutex_destroy(&w.lock);
}

TEST(deadline_past)
{
	struct waiter w;

	atomic_store(&var_a, 0);
	w_init(&w, &keys[1], &var_a, 1);
	w.opts.deadline_ns = 1; /* 1 ns after boot: long past */
	CHECK_EQ(w_run(&w), -ETIMEDOUT);
	w_check_common(&w);
	CHECK_EQ(atomic_load(&w.before), 0); /* no sleep, so no callback */
	pthread_mutex_destroy(&w.lock);

	w_init(&w, &keys[1], &var_a, 1);
	w.opts.deadline_ns = dc_now_ns(); /* "now" is already past too */
	CHECK_EQ(w_run(&w), -ETIMEDOUT);
	w_check_common(&w);
	pthread_mutex_destroy(&w.lock);
}

TEST(deadline_near)
{
	for (int i = 0; i < 5; i++) {
		struct waiter w;
		uint64_t deadline = dc_now_ns() + 2000000ull * (uint64_t)(i + 1);

		atomic_store(&var_a, 0);
		w_init(&w, &keys[2], &var_a, 1);
		w.opts.deadline_ns = deadline;
		CHECK_EQ(w_run(&w), -ETIMEDOUT);
		/* Not a speed check: -ETIMEDOUT must not come before the deadline. */
		CHECK(dc_now_ns() >= deadline);
		w_check_common(&w);
		pthread_mutex_destroy(&w.lock);
	}
}

/* A far deadline, or UINT64_MAX, must not be taken as passed: a waker ends it. */
static void deadline_far_woken(uint64_t deadline)
{
	struct waiter w;

	atomic_store(&var_a, 0);
	w_init(&w, &keys[3], &var_a, 1);
	w.opts.deadline_ns = deadline;
	w_start(&w);
	w_wait_asleep(&w, 1);
	pthread_mutex_lock(&w.lock);
	atomic_store(&var_a, 1);
	pthread_mutex_unlock(&w.lock);
	dc_wake_var(&keys[3]);
	w_join(&w);
	CHECK_EQ(w.ret, 0);
	CHECK_EQ(w.var_at_return, 1);
	w_check_common(&w);
	CHECK(atomic_load(&w.before) >= 1);
}

TEST(deadline_far_woken)
{
	deadline_far_woken(dc_now_ns() + 3600ull * 1000000000ull);
}

TEST(deadline_forever_woken)
{
	deadline_far_woken(UINT64_MAX);
}

/* Token state: zeroed and init'ed unfired, fire sticks, firing twice is harmless. */
TEST(cancel_token_state)
{
	struct dc_cancel c = { 0 }, zero = { 0 };

	CHECK(!dc_cancel_fired(&zero));
	dc_cancel_init(&c);
	CHECK(!dc_cancel_fired(&c));
	dc_cancel_fire(&c);
	CHECK(dc_cancel_fired(&c));
	dc_cancel_fire(&c);
	CHECK(dc_cancel_fired(&c));
	dc_cancel_init(&c);
	CHECK(!dc_cancel_fired(&c));
}

/* A token fired before the wait: -EINTR without a sleep. */
TEST(cancel_before)
{
	struct dc_cancel c;
	struct waiter w;

	dc_cancel_init(&c);
	dc_cancel_fire(&c);
	atomic_store(&var_a, 0);
	w_init(&w, &keys[4], &var_a, 1);
	w.opts.cancel = &c;
	CHECK_EQ(w_run(&w), -EINTR);
	w_check_common(&w);
	CHECK_EQ(atomic_load(&w.before), 0);
	pthread_mutex_destroy(&w.lock);
}

/* A fired token, reset: it no longer interrupts; a woken wait succeeds. */
TEST(cancel_reset)
{
	struct dc_cancel c;
	struct waiter w;

	dc_cancel_init(&c);
	dc_cancel_fire(&c);
	dc_cancel_init(&c);
	CHECK(!dc_cancel_fired(&c));
	/* A past deadline ends it, not the token. */
	atomic_store(&var_a, 0);
	w_init(&w, &keys[4], &var_a, 1);
	w.opts.cancel = &c;
	w.opts.deadline_ns = 1;
	CHECK_EQ(w_run(&w), -ETIMEDOUT);
	w_check_common(&w);
	pthread_mutex_destroy(&w.lock);

	atomic_store(&var_a, 1);
	w_init(&w, &keys[4], &var_a, 1);
	w.opts.cancel = &c;
	CHECK_EQ(w_run(&w), 0);
	w_check_common(&w);
	pthread_mutex_destroy(&w.lock);
}

static void cancel_during(int with_deadline)
{
	struct dc_cancel c;
	struct waiter w;

	dc_cancel_init(&c);
	atomic_store(&var_a, 0);
	w_init(&w, &keys[5], &var_a, 1);
	w.opts.cancel = &c;
	if (with_deadline)
		w.opts.deadline_ns = dc_now_ns() + 3600ull * 1000000000ull;
	w_start(&w);
	w_wait_asleep(&w, 1);
	/* The waiter dropped its lock to sleep: we can take it. */
	pthread_mutex_lock(&w.lock);
	pthread_mutex_unlock(&w.lock);
	dc_cancel_fire(&c);
	w_join(&w);
	CHECK_EQ(w.ret, -EINTR);
	CHECK_EQ(w.var_at_return, 0);
	w_check_common(&w);
	CHECK(atomic_load(&w.before) >= 1);
}

TEST(cancel_during)
{
	cancel_during(0);
}

TEST(cancel_during_timed)
{
	cancel_during(1);
}

TEST(callbacks_paired)
{
	enum { STEPS = 50 };
	struct waiter w;

	atomic_store(&var_a, 0);
	w_init(&w, &keys[6], &var_a, STEPS);
	w_start(&w);
	for (int s = 1; s <= STEPS; s++) {
		w_wait_asleep(&w, s);
		/* Change the state under the waiter's lock, as a real user would:
		 * if before_sleep did not drop it this deadlocks (watchdog). */
		pthread_mutex_lock(&w.lock);
		CHECK_EQ(atomic_load(&w.held), 0);
		atomic_store(&var_a, s);
		pthread_mutex_unlock(&w.lock);
		dc_wake_var(&keys[6]);
	}
	w_join(&w);
	CHECK_EQ(w.ret, 0);
	CHECK_EQ(w.var_at_return, STEPS);
	w_check_common(&w);
	CHECK(atomic_load(&w.before) >= STEPS);
}

/* Prove the hook sees the library's futex wakes (or learn that it cannot). */
static void hook_probe(void)
{
	struct waiter w;
	long n;

	atomic_store(&var_a, 0);
	w_init(&w, &keys[7], &var_a, 1);
	w_start(&w);
	w_wait_asleep(&w, 1);
	atomic_store(&var_a, 1);
	n = wake_counted(&keys[7]);
	w_join(&w);
	CHECK_EQ(w.ret, 0);
	w_check_common(&w);
	hook_ok = n > 0;
	if (!hook_ok)
		printf("note: futex calls are not visible through syscall(); "
		       "the no-system-call and no-waiter-left checks are skipped\n");
}

/* Whether the hook works: probed once, by whichever case asks first. */
static bool hook_works(void)
{
	if (hook_ok < 0)
		hook_probe();
	return hook_ok == 1;
}

TEST(hook_probe)
{
	hook_probe();
}

TEST(wake_nobody)
{
	uint64_t seed = t_seed(0x5eed);
	static volatile uintptr_t freed_key; /* launders the pointer for -Wuse-after-free */
	char *block = malloc(64);
	const void *freed;

	CHECK(block);
	freed_key = (uintptr_t)block;
	free(block);
	freed = (const void *)freed_key; /* only a key: never dereferenced */
	/* Keys only: NULL, a freed block, the stack, wild values. */
	dc_wake_var(NULL);
	dc_wake_var(freed);
	dc_wake_var(&seed);
	dc_wake_var((void *)~(uintptr_t)0);
	for (int i = 0; i < 100000; i++)
		dc_wake_var((void *)(uintptr_t)t_rand(&seed));
	if (!hook_works())
		return;
	/* Nobody waits anywhere: no wake may make a system call. */
	CHECK_EQ(buckets_with_waiters(), 0);
	CHECK_EQ(wake_counted(NULL), 0);
	CHECK_EQ(wake_counted(freed), 0);
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		CHECK_EQ(wake_counted(&keys[i]), 0);
}

/*
 * Two waiters on different addresses that share a bucket.  The partner of
 * keys[8] is found by behaviour, not from the hash: with a waiter asleep on
 * keys[8], a wake of a colliding address makes a futex call (each such probe
 * also wakes that waiter spuriously: it must re-check and sleep again).
 */
TEST(collision)
{
	struct waiter wa, wb;
	const void *a = &keys[8], *b = NULL;

	if (!hook_works())
		t_skip("futex calls not visible through syscall(): no way to find a colliding address");
	atomic_store(&var_a, 0);
	atomic_store(&var_b, 0);
	w_init(&wa, a, &var_a, 1);
	w_start(&wa);
	w_wait_asleep(&wa, 1);
	for (unsigned i = 0; i < sizeof(probe) && !b; i++)
		if (wake_counted(&probe[i]) > 0)
			b = &probe[i];
	CHECK(b != NULL); /* 256 Ki addresses: some share keys[8]'s bucket */

	for (int round = 0; round < 2; round++) {
		/* round 0: wake a first; round 1: wake b first. */
		struct waiter *first = round ? &wb : &wa, *second = round ? &wa : &wb;
		int sleeps;

		if (round) {
			atomic_store(&var_a, 0);
			atomic_store(&var_b, 0);
			w_init(&wa, a, &var_a, 1);
			w_start(&wa);
		}
		w_init(&wb, b, &var_b, 1);
		w_start(&wb);
		w_wait_asleep(&wa, 1);
		w_wait_asleep(&wb, 1);
		sleeps = atomic_load(&second->before);

		atomic_store(first->var, 1);
		dc_wake_var(first->addr);
		w_join(first);
		CHECK_EQ(first->ret, 0);
		CHECK_EQ(first->var_at_return, 1);
		w_check_common(first);

		/* The other one may have been woken too: give it the chance to
		 * re-check and sleep again; it must not have returned. */
		for (int spin = 0; spin < 100000 && atomic_load(&second->before) == sleeps; spin++)
			sched_yield();
		w_wait_asleep(second, 1);
		CHECK_EQ(atomic_load(&second->done), 0);

		atomic_store(second->var, 1);
		dc_wake_var(second->addr);
		w_join(second);
		CHECK_EQ(second->ret, 0);
		CHECK_EQ(second->var_at_return, 1);
		w_check_common(second);
	}
}

/* ---- fixture ------------------------------------------------------------- */

static void setup(void)
{
	t_watchdog_total(120);
}

/* Every waiter of the case has returned: no bucket may still count one. */
static void teardown(void)
{
	if (hook_works()) {
		CHECK_EQ(buckets_with_waiters(), 0);
		for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			CHECK_EQ(wake_counted(&keys[i]), 0);
	}
	dc_quiesce();
}

T_MAIN(setup, teardown)
