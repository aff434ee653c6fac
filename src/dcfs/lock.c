// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * lock.c - the file's two rwlocks (the I/O lock and the invalidate lock):
 * writer-preferring, so a stream of faults or reads cannot starve a
 * truncate, and taken within the caller's deadline and cancel token, so a
 * layout operation queued behind another one that waits for pins honours
 * its own bounds.  A thread that already holds the lock (a callback of the
 * operation that holds it, calling back into the same file) gets -EDEADLK
 * instead of a hang or a broken lock.
 */
#include "dcfs/dcfs_int.h"
#include <time.h>

#define LOCK_SLICE_NS 10000000ull /* how often a wait looks at its cancel token */

void dcfs_rwlock_init(pthread_rwlock_t *l)
{
	pthread_rwlockattr_t a;

	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(l, &a);
	pthread_rwlockattr_destroy(&a);
}

static int take(pthread_rwlock_t *l, bool write, const struct timespec *until)
{
	if (!until)
		return write ? pthread_rwlock_wrlock(l) : pthread_rwlock_rdlock(l);
	return write ? pthread_rwlock_clockwrlock(l, CLOCK_MONOTONIC, until)
		     : pthread_rwlock_clockrdlock(l, CLOCK_MONOTONIC, until);
}

/*
 * Take @l (shared, or exclusive with @write), waiting at most until
 * @opts' deadline and while its cancel token is not fired (NULL: forever).
 * Return: 0; -ETIMEDOUT; -EINTR; -EDEADLK (this thread holds it already).
 */
int dcfs_lock(pthread_rwlock_t *l, bool write, const struct dc_wait_opts *opts,
	      const char *name)
{
	bool bounded = opts && (opts->deadline_ns || opts->cancel);
	int ret;

	/* Deadline and cancel matter only when there is something to wait for. */
	ret = write ? pthread_rwlock_trywrlock(l) : pthread_rwlock_tryrdlock(l);
	if (!ret)
		return 0;
	for (;;) { /* (a lock this thread holds: EBUSY above, EDEADLK below) */
		uint64_t until = 0;
		struct timespec ts;

		if (bounded) {
			if (opts->cancel && dc_cancel_fired(opts->cancel))
				return dc__fail(-EINTR, "dcfs: cancelled waiting for the %s lock", name);
			until = dc_now_ns() + LOCK_SLICE_NS;
			if (opts->deadline_ns && opts->deadline_ns < until)
				until = opts->deadline_ns;
			ts.tv_sec = (time_t)(until / 1000000000ull);
			ts.tv_nsec = (long)(until % 1000000000ull);
		}
		ret = take(l, write, bounded ? &ts : NULL);
		if (!ret)
			return 0;
		if (ret == EDEADLK)
			return dc__fail(-EDEADLK, "dcfs: this thread holds the file's %s lock "
					"already (a callback calling back into its file?)", name);
		if (ret != ETIMEDOUT)
			return dc__fail(-ret, "dcfs: %s lock: %s", name, strerror(ret));
		if (opts->deadline_ns && dc_now_ns() >= opts->deadline_ns)
			return dc__fail(-ETIMEDOUT, "dcfs: deadline passed waiting for the %s lock",
					name);
	}
}
