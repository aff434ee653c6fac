/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * entry_wait.c - exclusive waits for locked mapping entries.
 *
 * The generic wait layer wakes everyone in a bucket; the entry lock wants
 * the kernel's exclusive waits: unlock wakes exactly one waiter of that
 * entry (WAKE_NEXT), delete wakes all of them (WAKE_ALL).  So each waiter
 * queues a record with its key (mapping, first index) on a hashed list and
 * sleeps on its own futex word; a waker dequeues matching records and wakes
 * their owners directly.
 *
 * No lost wake-up: a waiter queues itself while it holds the tree lock and
 * sees the entry locked; the unlocker clears LOCKED under the tree lock,
 * i.e. after the waiter queued, and wakes afterwards.  A woken waiter that
 * then does not take the entry lock passes the wake-up on (the callers do
 * dc__entry_wake(WAKE_NEXT) through dc_mapping_unlock() or
 * dc__put_unlocked_entry()), and so does one whose deadline or cancel
 * ended the wait just as it was woken.
 */
#include "mapping/mapping_int.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#define EWQ_SHIFT 8
#define EWQ_SIZE (1u << EWQ_SHIFT)

struct entry_waiter {
	const struct dc_mapping *m;
	uint64_t first;
	_Atomic uint32_t woken;
	struct entry_waiter *next, **pprev;
};

struct entry_wq {
	pthread_mutex_t lock;
	_Atomic uint32_t nwaiters;
	struct entry_waiter *head;
	struct entry_waiter **tail;
} DC_ALIGNED_CL;

static struct entry_wq ewq[EWQ_SIZE];
static pthread_once_t ewq_once = PTHREAD_ONCE_INIT;

static void ewq_init(void)
{
	for (unsigned i = 0; i < EWQ_SIZE; i++) {
		pthread_mutex_init(&ewq[i].lock, NULL);
		ewq[i].tail = &ewq[i].head;
	}
}

static struct entry_wq *ewq_of(const struct dc_mapping *m, uint64_t first)
{
	uint64_t h = ((uint64_t)(uintptr_t)m ^ (first * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;

	return &ewq[h >> (64 - EWQ_SHIFT)];
}

static void ewq_unlink(struct entry_wq *q, struct entry_waiter *w)
{
	*w->pprev = w->next;
	if (w->next)
		w->next->pprev = w->pprev;
	else
		q->tail = w->pprev;
	atomic_fetch_sub(&q->nwaiters, 1);
}

int dc__entry_wait(struct dc_mapping *m, uint64_t first, const struct dc_wait_opts *opts)
{
	struct entry_wq *q;
	struct entry_waiter w = { .m = m, .first = first };
	int ret = 0;

	pthread_once(&ewq_once, ewq_init);
	q = ewq_of(m, first);
	pthread_mutex_lock(&q->lock);
	w.pprev = q->tail; /* FIFO: wake the oldest waiter first */
	*q->tail = &w;
	q->tail = &w.next;
	atomic_fetch_add(&q->nwaiters, 1);
	pthread_mutex_unlock(&q->lock);

	dc_index_unlock(m->ix);
	while (!atomic_load(&w.woken)) {
		ret = dc__wait_word(&w.woken, 0, opts);
		if (ret)
			break;
	}
	if (ret) {
		/* Deadline or cancel: leave the queue, unless a waker already took us. */
		bool woken;

		pthread_mutex_lock(&q->lock);
		woken = atomic_load(&w.woken);
		if (!woken)
			ewq_unlink(q, &w);
		pthread_mutex_unlock(&q->lock);
		if (woken) /* that wake-up was meant for one waiter: pass it on */
			dc__entry_wake(m, first, DC__WAKE_NEXT);
	}
	/* The waker unlinked us and will not touch w after setting woken. */
	dc_index_lock(m->ix);
	return ret;
}

void dc__entry_wake(struct dc_mapping *m, uint64_t first, enum dc__wake_mode mode)
{
	struct entry_wq *q = ewq_of(m, first);
	struct entry_waiter *w, *next;

	if (DC_REGRESS_BUG == 38 && mode == DC__WAKE_NEXT) /* 38: an unlock wakes nobody */
		return;
	if (!atomic_load(&q->nwaiters))
		return;
	pthread_mutex_lock(&q->lock);
	for (w = q->head; w; w = next) {
		next = w->next;
		if (w->m != m || w->first != first)
			continue;
		ewq_unlink(q, w);
		/* The waiter may return (and its stack frame go) right after this. */
		atomic_store(&w->woken, 1);
		syscall(SYS_futex, &w->woken, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		if (mode == DC__WAKE_NEXT)
			break;
	}
	pthread_mutex_unlock(&q->lock);
}
