/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rcu.h - the library's RCU, from liburcu's "bulletproof" flavour.
 *
 * urcu-bp needs no thread registration, which is what a library wants: any
 * thread of the application may call into daxcore.  _LGPL_SOURCE inlines the
 * read-side primitives in normal builds (a TLS load, a counter store, a compiler barrier: the
 * flavour uses sys_membarrier on the update side), which keeps the fast paths
 * of liveref and the index free of function calls.
 *
 * ThreadSanitizer cannot see the ordering that a grace period provides (it
 * comes from membarrier inside an uninstrumented library), so in TSan builds
 * read-side unlock releases, and the end of a grace period acquires, one
 * shared token.  That is exactly the happens-before RCU guarantees.
 */
#ifndef DC_RCU_H
#define DC_RCU_H

/*
 * Sanitizer builds call the library's out-of-line read-side functions: the
 * inlined ones trip UBSan's alignment check on liburcu's own reader struct.
 */
#if !defined(_LGPL_SOURCE) && !defined(DC_SANITIZED)
#define _LGPL_SOURCE
#endif
#include <urcu-bp.h>
#include <urcu/rculist.h>

#if defined(__SANITIZE_THREAD__)
#define DC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DC_TSAN 1
#endif
#endif

#ifdef DC_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
extern char dc__rcu_tsan_token;
#define dc__rcu_tsan_release() __tsan_release(&dc__rcu_tsan_token)
#define dc__rcu_tsan_acquire() __tsan_acquire(&dc__rcu_tsan_token)
#else
#define dc__rcu_tsan_release() do { } while (0)
#define dc__rcu_tsan_acquire() do { } while (0)
#endif

static inline void dc__rcu_read_lock(void)
{
	urcu_bp_read_lock();
}

static inline void dc__rcu_read_unlock(void)
{
	dc__rcu_tsan_release();
	urcu_bp_read_unlock();
}

/* Wait for every read-side section that started before this call. */
static inline void dc__synchronize_rcu(void)
{
	urcu_bp_synchronize_rcu();
	dc__rcu_tsan_acquire();
}

/* Run @fn after a grace period; @fn must start with dc__rcu_after_gp(). */
static inline void dc__call_rcu(struct rcu_head *head, void (*fn)(struct rcu_head *))
{
	dc__rcu_tsan_release(); /* the caller's last reads happen before @fn */
	urcu_bp_call_rcu(head, fn);
}

static inline void dc__rcu_after_gp(void)
{
	dc__rcu_tsan_acquire();
}

#endif
