/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxcore/liveref.h - a liveness reference count (the kernel's percpu_ref).
 *
 * While alive, get/put touch only a counter private to the calling thread:
 * no cache line is shared between threads and no atomic read-modify-write
 * is executed (plain loads and stores, bracketed by a per-thread "active"
 * word; kill orders itself against them with membarrier(2), the way the
 * kernel's percpu_ref relies on sched-RCU).  dc_liveref_kill() switches the
 * count to one exact shared atomic (it waits until no thread is inside a
 * get/put that saw the ref alive, then folds every thread's counter in) and
 * drops the
 * initial reference; from then on tryget fails, and the count reaches zero
 * exactly when the last reference is put.
 *
 * Counts are per reference, not per thread: a get in one thread may be put in
 * another.  When the per-thread slots are exhausted (262,144 live refs) a
 * liveref silently works in shared-atomic mode; it stays exact.
 */
#ifndef DAXCORE_LIVEREF_H
#define DAXCORE_LIVEREF_H

#include <daxcore/common.h>
#include <daxcore/wait.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dc_liveref;
typedef void (*dc_liveref_release_fn)(struct dc_liveref *ref);

/* Caller-allocated; fields are private (accessed atomically inside). */
struct dc_liveref {
	int64_t count;        /* exact once dying; bias + initial ref before */
	uint32_t slot;        /* per-thread slot index, or UINT32_MAX */
	uint32_t dying;
	dc_liveref_release_fn release;
};

/**
 * dc_liveref_init() - start @ref alive with one (initial) reference.
 * @release: called once, from the put that drops the count to zero after
 *           dc_liveref_kill() (or from kill itself if nothing else is held);
 *           may be NULL.  It may free @ref, but then nobody may use
 *           dc_liveref_wait_drained() on it: a waiter can return as soon as
 *           the count is zero, while ->release is still running.
 * Context: may take the global slot lock; never sleeps long.
 * Return: 0 (never fails: without a free slot the ref runs in atomic mode).
 */
DC_API int dc_liveref_init(struct dc_liveref *ref, dc_liveref_release_fn release);

/**
 * dc_liveref_exit() - give back @ref's per-thread slot.  Call when the ref is
 * drained (or was never used): no get/put may run concurrently or later.
 * Context: takes the global slot lock.
 */
DC_API void dc_liveref_exit(struct dc_liveref *ref);

/**
 * dc_liveref_get() - take a reference.  The caller must already hold one
 * (or the ref must be alive); use tryget otherwise.
 * Context: any; never sleeps.
 */
DC_API void dc_liveref_get(struct dc_liveref *ref);

/**
 * dc_liveref_tryget() - take a reference unless the ref is dying.
 * Context: any; never sleeps.
 * Return: true if a reference was taken.
 */
DC_API DC_MUST_CHECK bool dc_liveref_tryget(struct dc_liveref *ref);

/**
 * dc_liveref_put() - drop a reference.  The put that brings a killed ref to
 * zero calls ->release and wakes dc_liveref_wait_drained().
 * Context: any; never sleeps (->release aside).
 */
DC_API void dc_liveref_put(struct dc_liveref *ref);

/**
 * dc_liveref_kill() - mark @ref dying and drop the initial reference.
 * Context: sleeps for an RCU grace period (in every mode: afterwards no
 * tryget can succeed).  Must not be called from an RCU
 * read-side section (e.g. from a holder's page_free callback).
 * Return: 0; -EINVAL if @ref was already killed (nothing changes).
 */
DC_API int dc_liveref_kill(struct dc_liveref *ref);

/** dc_liveref_is_dying() - whether kill has started.  Context: any. */
DC_API bool dc_liveref_is_dying(const struct dc_liveref *ref);

/**
 * dc_liveref_count() - references held.  Exact once dying; while alive a
 * snapshot that may be stale by the time it returns (diagnostics only).
 * Context: any; while alive takes the global slot lock.
 */
DC_API uint64_t dc_liveref_count(struct dc_liveref *ref);

/**
 * dc_liveref_wait_drained() - wait until a killed @ref reaches zero.
 * @opts: deadline, cancel, progress callback; NULL waits forever.
 * Context: sleeps.
 * Return: 0 when the count is zero; -EINVAL if @ref was not killed;
 * -ETIMEDOUT or -EINTR from @opts (the ref stays dying; wait again later).
 */
DC_API int dc_liveref_wait_drained(struct dc_liveref *ref, const struct dc_drain_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
