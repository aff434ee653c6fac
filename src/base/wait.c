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
#include <errno.h>
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
		dc__cb_enter(); /* a callback: no view faults in there */
		if (opts->before_sleep)
			opts->before_sleep(opts->arg);
		dc__cb_exit();
		bucket_sleep(b, seq, opts->deadline_ns);
		atomic_fetch_sub(&b->waiters, 1);
		dc__cb_enter();
		if (opts->after_sleep)
			opts->after_sleep(opts->arg);
		dc__cb_exit();
	}
	atomic_fetch_sub(&b->waiters, 1);
	return ret;
}

/*
 * A private sleep on @word (used by the entry lock's exclusive waits): block
 * while *@word == @val, until woken, the deadline, or the cancel token.  The
 * token does not know this word, so the sleeper also waits on the bucket
 * that dc_cancel_fire() wakes (the token's own bucket: we count ourselves
 * there as a waiter), with futex_waitv(2); where that syscall is missing it
 * sleeps in slices of CANCEL_POLL_NS instead.
 */
#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define CANCEL_POLL_NS 10000000ull

static bool waitv_missing;

int dc__wait_word(_Atomic uint32_t *word, uint32_t val, const struct dc_wait_opts *opts)
{
	struct wait_bucket *cb = opts && opts->cancel ? bucket_of(opts->cancel) : NULL;
	uint64_t deadline = opts ? opts->deadline_ns : 0;
	int ret = 0;

	if (cb)
		atomic_fetch_add(&cb->waiters, 1);
	for (;;) {
		struct timespec ts, *tsp = NULL;
		uint64_t until = deadline;
		uint32_t cseq = cb ? atomic_load(&cb->seq) : 0;

		if (atomic_load(word) != val)
			break;
		if (cb && dc_cancel_fired(opts->cancel)) {
			ret = -EINTR;
			break;
		}
		if (deadline && dc_now_ns() >= deadline) {
			ret = -ETIMEDOUT;
			break;
		}
		if (cb && ld_relaxed((_Atomic bool *)&waitv_missing)) {
			uint64_t slice = dc_now_ns() + CANCEL_POLL_NS;

			if (!until || slice < until)
				until = slice;
		}
		if (until) {
			ts.tv_sec = (time_t)(until / 1000000000ull);
			ts.tv_nsec = (long)(until % 1000000000ull);
			tsp = &ts;
		}
		if (cb && !ld_relaxed((_Atomic bool *)&waitv_missing)) {
			struct futex_waitv v[2] = {
				{ .val = val, .uaddr = (uintptr_t)word,
				  .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG },
				{ .val = cseq, .uaddr = (uintptr_t)&cb->seq,
				  .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG },
			};

			if (syscall(SYS_futex_waitv, v, 2, 0, tsp, CLOCK_MONOTONIC) < 0 &&
			    errno == ENOSYS)
				st_relaxed((_Atomic bool *)&waitv_missing, true);
		} else {
			syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, val, tsp, NULL,
				FUTEX_BITSET_MATCH_ANY);
		}
	}
	if (cb)
		atomic_fetch_sub(&cb->waiters, 1);
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
