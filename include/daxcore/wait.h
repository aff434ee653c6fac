/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxcore/wait.h - wait for a condition on an address (the kernel's
 * wait_var_event() / wake_up_var() pair), on hashed futex buckets.
 *
 * A waiter names an address and a condition.  Whoever changes the state the
 * condition reads calls dc_wake_var() on the same address afterwards.  The
 * address is only a key: it is hashed, never dereferenced, so waking an
 * address whose object was just freed is safe.
 *
 * No wake-up is lost: a waiter announces itself in its bucket before it
 * evaluates the condition, and dc_wake_var() issues a full fence before it
 * looks for waiters.  Buckets are shared, so a waiter can wake for another
 * address; it then re-evaluates its condition and sleeps again.
 */
#ifndef DAXCORE_WAIT_H
#define DAXCORE_WAIT_H

#include <daxcore/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A cancel token: caller-allocated, zero-initialised or dc_cancel_init(). */
struct dc_cancel {
	int fired; /* accessed atomically */
};

/* How to wait.  All-zero means: no deadline, no cancel, no callbacks. */
struct dc_wait_opts {
	uint64_t deadline_ns;          /* absolute dc_now_ns(); 0 = none */
	struct dc_cancel *cancel;      /* fired -> the wait returns -EINTR */
	void (*before_sleep)(void *);  /* drop locks before each sleep */
	void (*after_sleep)(void *);   /* retake them after each sleep */
	void *arg;                     /* passed to both callbacks */
};

typedef bool (*dc_cond_fn)(void *arg);

/**
 * dc_wait_var() - sleep until @cond(@cond_arg) holds.
 * @addr:     the key that wakers pass to dc_wake_var().
 * @cond:     evaluated before every sleep and after every wake-up, with the
 *            caller's locks held (i.e. after @opts->after_sleep).
 * @opts:     deadline, cancel token, lock callbacks; NULL for none.
 *
 * The condition is checked first; a wait whose condition already holds
 * returns 0 without sleeping or calling any callback.  Cancel and deadline
 * are checked only when the condition is false.
 *
 * Context: may sleep.  @before_sleep/@after_sleep run in the caller's thread
 * around each sleep, in pairs.
 * Return: 0 once the condition held; -EINTR if @opts->cancel fired;
 * -ETIMEDOUT if the deadline passed.  On error the caller's locks are held
 * (the callbacks are paired).
 */
DC_API int dc_wait_var(const void *addr, dc_cond_fn cond, void *cond_arg,
		       const struct dc_wait_opts *opts);

/**
 * dc_wake_var() - wake every waiter sleeping on @addr.
 *
 * Call after the state change the waiters' condition reads is visible
 * (a store, an atomic, or an unlock).
 * Context: any; never sleeps; cheap (one fence and one load) when nobody
 * waits in the bucket.
 */
DC_API void dc_wake_var(const void *addr);

/** dc_cancel_init() - make @c un-fired.  Context: any. */
DC_API void dc_cancel_init(struct dc_cancel *c);

/**
 * dc_cancel_fire() - fire @c: every dc_wait_var() using it returns -EINTR
 * (at once if it sleeps now, or at its next check).
 * Context: any; never sleeps.
 */
DC_API void dc_cancel_fire(struct dc_cancel *c);

/** dc_cancel_fired() - whether @c was fired.  Context: any. */
DC_API bool dc_cancel_fired(const struct dc_cancel *c);

/*
 * Options for waits that drain a count (liveref, region removal): a deadline,
 * a cancel token and a progress callback called about every
 * @progress_interval_ns (default 100 ms) with what is still outstanding.
 */
struct dc_drain_opts {
	uint64_t deadline_ns;          /* absolute dc_now_ns(); 0 = none */
	struct dc_cancel *cancel;
	void (*progress)(void *arg, uint64_t outstanding);
	void *arg;
	uint64_t progress_interval_ns; /* 0 = 100 ms */
};

#ifdef __cplusplus
}
#endif
#endif
