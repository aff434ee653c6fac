/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wait.c - wait_var_event()-style waits on hashed futex buckets.
 *
 * Each bucket has a sequence word (the futex) and a count of waiters.
 *
 *   waiter                               waker
 *   waiters++            (seq_cst)       <make cond true>
 *   s = seq              (seq_cst)       fence (seq_cst)
 *   if cond(): done                      if waiters: seq++, futex_wake(seq)
 *   futex_wait(seq, s)
 *
 * If the waiter's cond() missed the waker's change, the waker's fence is
 * ordered after the waiter's increment, so it sees waiters != 0 and bumps
 * seq after the waiter read s: futex_wait() then returns at once.  If the
 * waker saw no waiter, the waiter's cond() sees the change.  Either way no
 * wake-up is lost.
 */
#include "base/base.h"

#include <daxcore/wait.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WAIT_BUCKETS_SHIFT 10
#define WAIT_BUCKETS (1u << WAIT_BUCKETS_SHIFT)

struct wait_bucket {
	_Atomic uint32_t seq;
	_Atomic uint32_t waiters;
} DC_ALIGNED_CL;

static struct wait_bucket buckets[WAIT_BUCKETS];

static struct wait_bucket *bucket_of(const void *addr)
{
	uint64_t h = (uint64_t)(uintptr_t)addr * 0x9e3779b97f4a7c15ull;

	return &buckets[h >> (64 - WAIT_BUCKETS_SHIFT)];
}

static void bucket_wake(struct wait_bucket *b)
{
	atomic_fetch_add(&b->seq, 1);
	syscall(SYS_futex, &b->seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

DC_API void dc_wake_var(const void *addr)
{
	atomic_thread_fence(memory_order_seq_cst);
	dc__wake_var_after_rmw(addr);
}

void dc__wake_var_after_rmw(const void *addr)
{
	struct wait_bucket *b = bucket_of(addr);

	if (atomic_load(&b->waiters))
		bucket_wake(b);
}

/* Sleep on @b while its sequence is @seq, until @deadline (0 = none). */
static void bucket_sleep(struct wait_bucket *b, uint32_t seq, uint64_t deadline)
{
	struct timespec ts, *tsp = NULL;

	if (deadline) {
		ts.tv_sec = (time_t)(deadline / 1000000000ull);
		ts.tv_nsec = (long)(deadline % 1000000000ull);
		tsp = &ts;
	}
	/* Absolute CLOCK_MONOTONIC timeout; EINTR/EAGAIN/ETIMEDOUT all re-check. */
	syscall(SYS_futex, &b->seq, FUTEX_WAIT_BITSET_PRIVATE, seq, tsp, NULL,
		FUTEX_BITSET_MATCH_ANY);
}

DC_API int dc_wait_var(const void *addr, dc_cond_fn cond, void *cond_arg,
		       const struct dc_wait_opts *opts)
{
	static const struct dc_wait_opts none;
	struct wait_bucket *b = bucket_of(addr);
	int ret;

	if (!opts)
		opts = &none;
	for (;;) {
		uint32_t seq;

		atomic_fetch_add(&b->waiters, 1);
		seq = atomic_load(&b->seq);
		if (cond(cond_arg)) {
			ret = 0;
			break;
		}
		if (opts->cancel && dc_cancel_fired(opts->cancel)) {
			ret = -EINTR;
			break;
		}
		if (opts->deadline_ns && dc_now_ns() >= opts->deadline_ns) {
			ret = -ETIMEDOUT;
			break;
		}
		if (opts->before_sleep)
			opts->before_sleep(opts->arg);
		bucket_sleep(b, seq, opts->deadline_ns);
		atomic_fetch_sub(&b->waiters, 1);
		if (opts->after_sleep)
			opts->after_sleep(opts->arg);
	}
	atomic_fetch_sub(&b->waiters, 1);
	return ret;
}

DC_API void dc_cancel_init(struct dc_cancel *c)
{
	__atomic_store_n(&c->fired, 0, __ATOMIC_RELAXED);
}

DC_API bool dc_cancel_fired(const struct dc_cancel *c)
{
	return __atomic_load_n(&c->fired, __ATOMIC_SEQ_CST) != 0;
}

/*
 * The token does not know where its waiters sleep, so wake every bucket
 * that has a waiter: cancelling is rare and this is 1024 loads.
 */
DC_API void dc_cancel_fire(struct dc_cancel *c)
{
	__atomic_store_n(&c->fired, 1, __ATOMIC_SEQ_CST);
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned i = 0; i < WAIT_BUCKETS; i++)
		if (atomic_load(&buckets[i].waiters))
			bucket_wake(&buckets[i]);
}
