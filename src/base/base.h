/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * base.h - internal helpers shared by every layer (not installed).
 *
 * Name tiers: dc_ public (include/daxcore/), dc__ shared between library
 * files (declared in the layer headers under src/), everything else static.
 */
#ifndef DC_BASE_H
#define DC_BASE_H

#include <daxcore/common.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define DC_CACHELINE 64
#define DC_ALIGNED_CL __attribute__((aligned(DC_CACHELINE)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DC_PRINTF(f, a) __attribute__((format(printf, f, a)))

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - __builtin_offsetof(type, member)))

/*
 * A full fence.  gcc's ThreadSanitizer does not support fences (-Wtsan):
 * there it is a seq_cst read-modify-write of a dummy word instead, which
 * orders the same on the machine (TSan checks data races, not this logic).
 */
#if defined(__SANITIZE_THREAD__)
static inline void dc__smp_mb(void)
{
	static _Atomic unsigned dc__fence_word;

	atomic_fetch_add(&dc__fence_word, 0);
}
#else
static inline void dc__smp_mb(void)
{
	atomic_thread_fence(memory_order_seq_cst);
}
#endif

/* Relaxed/acquire/release shorthands for C11 atomics. */
#define ld_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define ld_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define st_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define st_release(p, v) atomic_store_explicit((p), (v), memory_order_release)

/*
 * Record a failure for dc_errmsg() and return @err (a negative errno), so a
 * call site reads: return dc__fail(-EINVAL, "size %s is not ...", s);
 */
int dc__fail(int err, const char *fmt, ...) DC_PRINTF(2, 3);
/* dc__fail() with a constant message: no formatting (for hot-ish paths). */
int dc__fail_str(int err, const char *msg);

/* Abort with a message: a broken invariant, never bad input. */
_Noreturn void dc__bug(const char *file, int line, const char *fmt, ...) DC_PRINTF(3, 4);
#define DC_BUG(...) dc__bug(__FILE__, __LINE__, __VA_ARGS__)
#define DC_BUG_ON(c)                                      \
	do {                                              \
		if (unlikely(c))                          \
			DC_BUG("BUG_ON(%s)", #c);         \
	} while (0)

/*
 * DC_REGRESS_BUG=N (a compile-time switch, never in a real build) brings
 * back bug N of the foundation review, so that its regression test can be
 * seen to fail: `make clean && make EXTRA_CFLAGS=-DDC_REGRESS_BUG=N ...`.
 */
#ifndef DC_REGRESS_BUG
#define DC_REGRESS_BUG 0
#endif

/*
 * The calling thread runs a callback daxcore called (an owner's, a user's):
 * a view fault then would wait for locks the thread may hold itself, so the
 * view layer refuses it (view/fault.c).  Wrap each callback call.
 */
extern __thread unsigned dc__cb_depth;
static inline void dc__cb_enter(void) { dc__cb_depth++; }
static inline void dc__cb_exit(void) { dc__cb_depth--; }

/* Test hooks: a function pointer tests may set, compiled in test builds only. */
#ifdef DC_FAULT_INJECT
#define DC_TEST_HOOK(hook, arg)                       \
	do {                                          \
		if (unlikely(hook))                   \
			hook(arg);                    \
	} while (0)
#else
#define DC_TEST_HOOK(hook, arg) do { } while (0)
#endif

/*
 * Allocation that tests can make fail.  Built with -DDC_FAULT_INJECT (the
 * libraries the tests link), dc__malloc/calloc/zalloc_aligned return NULL
 * when the fault injector says so (DAXCORE_FAIL_ALLOC=N fails every Nth call,
 * or dc__fault_set() from a test, or dc__fault_set_thread() for one thread's
 * own allocations).  Without it (the installed library, the
 * tool) they are the plain allocators, dc__fault_alloc() is false, and
 * dc__fault_set()/dc__fault_set_thread()/dc__alloc_count() do not exist.
 */
#ifdef DC_FAULT_INJECT
void *dc__malloc(size_t n);
void *dc__calloc(size_t n, size_t sz);
void *dc__zalloc_aligned(size_t align, size_t n);
bool dc__fault_alloc(void);
/* Tests: fail allocation number @nth from now (1 = the next), 0 = never. */
void dc__fault_set(unsigned long nth);
/*
 * Fail the @nth allocation made by the calling thread from now (1 = its
 * next), 0 = never; other threads' allocations neither fail by it nor move
 * it (dc__fault_set() counts every thread's: which call fails there depends
 * on the interleaving).  Independent of dc__fault_set(): both may be armed.
 */
void dc__fault_set_thread(unsigned long nth);
unsigned long dc__alloc_count(void);
#else
static inline bool dc__fault_alloc(void)
{
	return false;
}

static inline void *dc__malloc(size_t n)
{
	return malloc(n);
}

static inline void *dc__calloc(size_t n, size_t sz)
{
	return calloc(n, sz);
}

static inline void *dc__zalloc_aligned(size_t align, size_t n)
{
	void *p;

	if (posix_memalign(&p, align, n))
		return NULL;
	memset(p, 0, n);
	return p;
}
#endif



/*
 * wait.c: dc_wake_var() without its leading fence, for callers whose state
 * change was a seq_cst read-modify-write (which orders it before the load of
 * the bucket's waiter count just as the fence would).
 */
void dc__wake_var_after_rmw(const void *addr);

/*
 * wait.c: sleep while *@word == @val (a private futex word that the waker
 * changes and wakes with FUTEX_WAKE), honouring @opts' deadline and cancel
 * token (not its callbacks).  Return: 0 once *@word != @val (or on a spurious
 * wake-up: callers re-check), -ETIMEDOUT, -EINTR.
 */
struct dc_wait_opts;
int dc__wait_word(_Atomic uint32_t *word, uint32_t val, const struct dc_wait_opts *opts);

/* liveref.c: drop @n references at once (batched last puts). */
struct dc_liveref;
void dc__liveref_put_many(struct dc_liveref *ref, uint64_t n);

/*
 * liveref.c: wait for @cond on @addr, calling opts->progress(outstanding(arg))
 * between slices.  outstanding() == 0 must mean @cond holds for good (a
 * killed count that reached zero).
 */
struct dc_drain_opts;
int dc__drain_wait(const void *addr, bool (*cond)(void *), void *arg,
		   uint64_t (*outstanding)(void *), const struct dc_drain_opts *opts);

#endif
