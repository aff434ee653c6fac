// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * demo_remove.c - the demos' threads: a bounded wait for a counter, and the
 * device removal in another thread
 * (dc_region_remove() with a 10 s deadline and a progress report every
 * 10 ms): the first report is a timeline line ("removal waits: N folio
 * references outstanding"), the others are counted; the end is one more
 * ("removal completes after T ms").  Both stories, dcfs's and device-dax's,
 * remove their region while a pin is held and watch it wait.
 */
#include "demo.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#define SEC 1000000000ull

static void on_progress(void *arg, uint64_t outstanding)
{
	struct removal *rm = arg;
	struct jbuf j = { .n = 0 };
	bool first;

	pthread_mutex_lock(&rm->lock);
	first = !rm->progress;
	if (first)
		rm->first = outstanding;
	pthread_mutex_unlock(&rm->lock);
	if (first) {
		jb_u64(&j, "outstanding", outstanding);
		tl_emit("remove_wait", &j, "removal waits: %" PRIu64 " folio reference%s "
			"outstanding (its progress callback; reports every 10 ms from now on are "
			"only counted)", outstanding, outstanding == 1 ? "" : "s");
	}
	pthread_mutex_lock(&rm->lock);
	rm->progress++;
	pthread_cond_broadcast(&rm->cond);
	pthread_mutex_unlock(&rm->lock);
}

static void *remove_main(void *arg)
{
	struct removal *rm = arg;
	struct dc_drain_opts o = {
		.deadline_ns = dc_now_ns() + 10 * SEC,
		.progress = on_progress,
		.arg = rm,
		.progress_interval_ns = 10000000,
	};
	uint64_t t0 = dc_now_ns();

	rm->ret = dc_region_remove(rm->r, &o);
	rm->waited_ns = dc_now_ns() - t0;
	atomic_store(&rm->done, true);
	return NULL;
}

void removal_start(struct removal *rm, struct dc_region *r)
{
	int ret;

	memset(rm, 0, sizeof(*rm));
	rm->r = r;
	pthread_mutex_init(&rm->lock, NULL);
	pthread_cond_init(&rm->cond, NULL);
	ret = pthread_create(&rm->t, NULL, remove_main, rm);
	if (ret)
		fatal("pthread_create: %s", strerror(ret));
}

bool wait_count(pthread_mutex_t *m, pthread_cond_t *cv, const unsigned *counter, unsigned n,
		unsigned ms)
{
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(m);
	while (*counter < n)
		if (pthread_cond_timedwait(cv, m, &ts))
			break;
	ok = *counter >= n;
	pthread_mutex_unlock(m);
	return ok;
}

bool removal_wait_progress(struct removal *rm, unsigned ms)
{
	return wait_count(&rm->lock, &rm->cond, &rm->progress, 1, ms);
}

int removal_finish(struct removal *rm)
{
	struct jbuf j = { .n = 0 };

	pthread_join(rm->t, NULL);
	check(rm->ret == 0, "removal succeeded (%s: %s)", ename(rm->ret), dc_errmsg());
	jb_ms(&j, "waited_ms", rm->waited_ns);
	jb_u64(&j, "progress_reports", rm->progress);
	tl_emit("remove_done", &j, "removal completes after %" PRIu64 ".%01" PRIu64 " ms (%u "
		"progress report%s): the region is unmapped and freed", rm->waited_ns / 1000000,
		rm->waited_ns / 100000 % 10, rm->progress, rm->progress == 1 ? "" : "s");
	pthread_mutex_destroy(&rm->lock);
	pthread_cond_destroy(&rm->cond);
	return rm->ret;
}
