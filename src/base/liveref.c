/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * liveref.c - a percpu_ref for user space, with per-thread shards.
 *
 * Alive mode: each thread keeps its own signed counter per liveref (a "slot"
 * in a per-thread directory of chunks).  get/put mark the thread active,
 * read ref->dying, and add +-1 to their own slot with a relaxed load and
 * store: no atomic RMW, no shared cache line (fast_mod(); the ordering
 * argument is at fast_quiesce()).  What the fast path cannot do (first use
 * in a thread, shared-atomic mode, no membarrier) runs inside an RCU
 * read-side section instead.  The shared ref->count holds LIVEREF_BIAS + 1
 * (the initial reference), so puts that land on it during the switch can
 * never reach zero early.
 *
 * Kill: set dying; fast_quiesce() and synchronize_rcu() (every get/put that
 * saw "alive", on either path, has finished); under slot_lock fold all
 * threads' slots for this ref into
 * ref->count and zero them; subtract the bias and the initial reference.
 * From then on the count is one exact atomic.
 *
 * Thread exit folds the thread's slots into each owning ref's count (under
 * slot_lock), so no reference is lost when a thread takes a ref and another
 * puts it.  Slot ids are recycled only after kill/exit zeroed every thread's
 * counter for that id.
 */
#include "base/base.h"
#include "base/rcu.h"

#include <daxcore/liveref.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SLOT_CHUNK_SHIFT 10
#define SLOT_CHUNK (1u << SLOT_CHUNK_SHIFT)
#define SLOT_DIR 256u
#define SLOT_MAX (SLOT_CHUNK * SLOT_DIR)
#define SLOT_NONE UINT32_MAX
#define LIVEREF_BIAS (INT64_C(1) << 62)

struct slot_thread {
	_Atomic uint32_t active; /* inside a fast-path get/put (see below) */
	_Atomic(_Atomic int64_t *) chunk[SLOT_DIR];
	struct slot_thread *next, **pprev;
};

static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot_thread *slot_threads;       /* under slot_lock */
static struct dc_liveref *slot_owner[SLOT_MAX]; /* under slot_lock */
static uint32_t slot_hint;
static uint32_t slots_used; /* under slot_lock */
static pthread_key_t slot_key;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;
static __thread struct slot_thread *my_slots __attribute__((tls_model("initial-exec")));
static pthread_once_t fence_once = PTHREAD_ONCE_INIT;
static atomic_bool fence_ok; /* membarrier(PRIVATE_EXPEDITED) registered */

/*
 * The fast path, like the kernel's percpu_ref under preempt-disabled
 * sched-RCU: a thread marks itself active, reads dying, updates its own
 * slot, clears active.  All plain (relaxed) loads and stores: the ordering
 * the killer needs comes from membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED),
 * which makes every running thread of the process execute a full barrier.
 * After kill has set dying and issued it, a thread either had its
 * active = 1 visible (kill waits for active == 0, then sees its slot
 * update), or reads dying == 1 and takes the shared-atomic path.  This is
 * the argument liburcu's own membarrier flavour rests on; the fast path
 * just avoids its per-call TLS and flag checks.  Without membarrier (old
 * kernels) every get/put takes the RCU path.
 */
static void fence_init(void)
{
	st_relaxed(&fence_ok,
		   syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0);
}

/* Every fast-path get/put that may have read "alive" has finished. */
static void fast_quiesce(void)
{
	pthread_once(&fence_once, fence_init);
	if (!ld_relaxed(&fence_ok))
		return;
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0))
		DC_BUG("membarrier(PRIVATE_EXPEDITED) failed after registration");
	pthread_mutex_lock(&slot_lock);
	for (struct slot_thread *t = slot_threads; t; t = t->next)
		while (ld_acquire(&t->active))
			sched_yield(); /* a handful of instructions, unless preempted */
	pthread_mutex_unlock(&slot_lock);
}

#define REF_COUNT(ref) ((_Atomic int64_t *)&(ref)->count)
#define REF_DYING(ref) ((_Atomic uint32_t *)&(ref)->dying)
#define REF_SLOT(ref) ((_Atomic uint32_t *)&(ref)->slot)

/* Fold every slot of thread @t into its owner's count.  slot_lock held. */
static void slot_thread_fold(struct slot_thread *t)
{
	for (uint32_t d = 0; d < SLOT_DIR; d++) {
		_Atomic int64_t *c = ld_relaxed(&t->chunk[d]);

		if (!c)
			continue;
		for (uint32_t i = 0; i < SLOT_CHUNK; i++) {
			int64_t v = ld_relaxed(&c[i]);

			if (!v)
				continue;
			DC_BUG_ON(!slot_owner[d * SLOT_CHUNK + i]);
			atomic_fetch_add(REF_COUNT(slot_owner[d * SLOT_CHUNK + i]), v);
			st_relaxed(&c[i], 0);
		}
	}
}

static void slot_thread_exit(void *p)
{
	struct slot_thread *t = p;

	pthread_mutex_lock(&slot_lock);
	slot_thread_fold(t);
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	pthread_mutex_unlock(&slot_lock);
	for (uint32_t d = 0; d < SLOT_DIR; d++)
		free((void *)ld_relaxed(&t->chunk[d]));
	free(t);
	my_slots = NULL;
}

static void slot_key_init(void)
{
	if (pthread_key_create(&slot_key, slot_thread_exit))
		DC_BUG("pthread_key_create failed");
}

/* The calling thread's counter for slot @id, allocating; NULL on ENOMEM. */
static __attribute__((noinline)) _Atomic int64_t *slot_slow(uint32_t id)
{
	struct slot_thread *t = my_slots;
	_Atomic int64_t *c;

	pthread_once(&slot_once, slot_key_init);
	pthread_once(&fence_once, fence_init);
	if (!t) {
		t = dc__calloc(1, sizeof(*t));
		if (!t)
			return NULL;
		if (pthread_setspecific(slot_key, t)) {
			free(t);
			return NULL;
		}
		pthread_mutex_lock(&slot_lock);
		t->next = slot_threads;
		if (t->next)
			t->next->pprev = &t->next;
		t->pprev = &slot_threads;
		slot_threads = t;
		pthread_mutex_unlock(&slot_lock);
		my_slots = t;
	}
	c = ld_relaxed(&t->chunk[id >> SLOT_CHUNK_SHIFT]);
	if (!c) {
		c = dc__calloc(SLOT_CHUNK, sizeof(*c));
		if (!c)
			return NULL;
		/* Published under the lock: fold and kill read chunks under it. */
		pthread_mutex_lock(&slot_lock);
		st_release(&t->chunk[id >> SLOT_CHUNK_SHIFT], c);
		pthread_mutex_unlock(&slot_lock);
	}
	return &c[id & (SLOT_CHUNK - 1)];
}

static inline _Atomic int64_t *my_slot(uint32_t id)
{
	struct slot_thread *t = my_slots;

	if (likely(t)) {
		_Atomic int64_t *c = ld_relaxed(&t->chunk[id >> SLOT_CHUNK_SHIFT]);

		if (likely(c))
			return &c[id & (SLOT_CHUNK - 1)];
	}
	return slot_slow(id);
}

DC_API int dc_liveref_init(struct dc_liveref *ref, dc_liveref_release_fn release)
{
	uint32_t id = SLOT_NONE;

	ref->release = release;
	st_relaxed(REF_DYING(ref), 0);
	pthread_mutex_lock(&slot_lock);
	for (uint32_t n = 0; slots_used < SLOT_MAX && n < SLOT_MAX; n++) {
		uint32_t i = (slot_hint + n) % SLOT_MAX;

		if (!slot_owner[i]) {
			id = i;
			slot_owner[i] = ref;
			slot_hint = i + 1;
			slots_used++;
			break;
		}
	}
	pthread_mutex_unlock(&slot_lock);
	st_relaxed(REF_SLOT(ref), id);
	atomic_store(REF_COUNT(ref), id == SLOT_NONE ? 1 : LIVEREF_BIAS + 1);
	return 0;
}

/* Zero every thread's counter for @id, return their sum.  slot_lock held. */
static int64_t slot_collect(uint32_t id)
{
	int64_t sum = 0;

	for (struct slot_thread *t = slot_threads; t; t = t->next) {
		_Atomic int64_t *c = ld_acquire(&t->chunk[id >> SLOT_CHUNK_SHIFT]);

		if (c) {
			sum += ld_relaxed(&c[id & (SLOT_CHUNK - 1)]);
			st_relaxed(&c[id & (SLOT_CHUNK - 1)], 0);
		}
	}
	return sum;
}

/* Give the slot back; the ref must be dying (grace period passed) or unused. */
static int64_t slot_release(struct dc_liveref *ref)
{
	uint32_t id = ld_relaxed(REF_SLOT(ref));
	int64_t sum;

	if (id == SLOT_NONE)
		return 0;
	pthread_mutex_lock(&slot_lock);
	sum = slot_collect(id);
	slot_owner[id] = NULL;
	slots_used--;
	st_relaxed(REF_SLOT(ref), SLOT_NONE);
	pthread_mutex_unlock(&slot_lock);
	return sum - LIVEREF_BIAS;
}

DC_API void dc_liveref_exit(struct dc_liveref *ref)
{
	if (ld_relaxed(REF_SLOT(ref)) != SLOT_NONE) {
		/* Never killed: readers may still be in a section that saw alive. */
		if (!ld_relaxed(REF_DYING(ref))) {
			fast_quiesce();
			dc__synchronize_rcu();
		}
		atomic_fetch_add(REF_COUNT(ref), slot_release(ref));
	}
}

static void liveref_zero(struct dc_liveref *ref, dc_liveref_release_fn release)
{
	if (release) {
		dc__cb_enter();
		release(ref);
		dc__cb_exit();
	}
	/* Only hashes the address: safe even if release (or a waiter) freed ref.
	 * The count reached zero through a seq_cst RMW: no fence needed. */
	dc__wake_var_after_rmw(REF_COUNT(ref));
}

/* Add @delta to the shared count; handle reaching zero. */
static void liveref_add_shared(struct dc_liveref *ref, int64_t delta)
{
	dc_liveref_release_fn release = ref->release; /* read before ref may go */
	int64_t v = atomic_fetch_add(REF_COUNT(ref), delta) + delta;

	if (unlikely(v <= 0)) {
		DC_BUG_ON(v < 0);
		liveref_zero(ref, release);
	}
}

/*
 * Add @d to this thread's slot for @ref (see fast_quiesce()).
 * Return: 1 done; -1 the ref is dying; 0 take the RCU path (first use in
 * this thread, no chunk yet, shared-atomic mode, no membarrier).
 */
static inline int fast_mod(struct dc_liveref *ref, int64_t d)
{
	struct slot_thread *t = my_slots;
	int ret = 0;

	if (likely(t != NULL) && likely(ld_relaxed(&fence_ok))) {
		st_relaxed(&t->active, 1);
		atomic_signal_fence(memory_order_seq_cst); /* membarrier does the rest */
		if (unlikely(ld_relaxed(REF_DYING(ref)))) {
			ret = -1;
		} else {
			uint32_t id = ld_relaxed(REF_SLOT(ref));
			_Atomic int64_t *c;

			if (likely(id != SLOT_NONE) &&
			    likely((c = ld_relaxed(&t->chunk[id >> SLOT_CHUNK_SHIFT])) != NULL)) {
				_Atomic int64_t *s = &c[id & (SLOT_CHUNK - 1)];

				st_relaxed(s, ld_relaxed(s) + d);
				ret = 1;
			}
		}
		st_release(&t->active, 0);
	}
	return ret;
}

static __attribute__((noinline)) void liveref_mod_slow(struct dc_liveref *ref, int64_t d)
{
	dc__rcu_read_lock();
	if (likely(!ld_relaxed(REF_DYING(ref)))) {
		uint32_t id = ld_relaxed(REF_SLOT(ref));
		_Atomic int64_t *s;

		if (likely(id != SLOT_NONE) && likely((s = my_slot(id)) != NULL)) {
			st_relaxed(s, ld_relaxed(s) + d);
			dc__rcu_read_unlock();
			return;
		}
	}
	dc__rcu_read_unlock();
	liveref_add_shared(ref, d);
}

static inline void liveref_mod(struct dc_liveref *ref, int64_t d)
{
	if (likely(fast_mod(ref, d) > 0))
		return;
	liveref_mod_slow(ref, d);
}

void dc__liveref_put_many(struct dc_liveref *ref, uint64_t n)
{
	liveref_mod(ref, -(int64_t)n);
}

DC_API void dc_liveref_get(struct dc_liveref *ref)
{
	liveref_mod(ref, 1);
}

DC_API void dc_liveref_put(struct dc_liveref *ref)
{
	liveref_mod(ref, -1);
}

DC_API bool dc_liveref_tryget(struct dc_liveref *ref)
{
	bool ok = false;
	int fast = fast_mod(ref, 1);

	if (likely(fast))
		return fast > 0;
	dc__rcu_read_lock();
	if (likely(!ld_relaxed(REF_DYING(ref)))) {
		uint32_t id = ld_relaxed(REF_SLOT(ref));
		_Atomic int64_t *s;

		if (likely(id != SLOT_NONE) && likely((s = my_slot(id)) != NULL))
			st_relaxed(s, ld_relaxed(s) + 1);
		else
			atomic_fetch_add(REF_COUNT(ref), 1); /* alive: count > 0 */
		ok = true;
	}
	dc__rcu_read_unlock();
	return ok;
}

DC_API int dc_liveref_kill(struct dc_liveref *ref)
{
	int64_t folded = 0;

	if (atomic_exchange(REF_DYING(ref), 1))
		return dc__fail(-EINVAL, "liveref %p: already killed", (void *)ref);
	fast_quiesce();
	/*
	 * Every get/tryget that saw "alive" has finished, in either mode: in
	 * shared-atomic mode too, or a tryget that saw alive could add to a
	 * count this kill already brought to zero.
	 */
	dc__synchronize_rcu();
	folded = slot_release(ref);
	/* Fold the per-thread sum (minus the bias) and drop the initial ref. */
	liveref_add_shared(ref, folded - 1);
	return 0;
}

DC_API bool dc_liveref_is_dying(const struct dc_liveref *ref)
{
	return ld_acquire((_Atomic uint32_t *)&ref->dying) != 0;
}

DC_API uint64_t dc_liveref_count(struct dc_liveref *ref)
{
	int64_t v;
	uint32_t id;

	pthread_mutex_lock(&slot_lock);
	v = atomic_load(REF_COUNT(ref));
	id = ld_relaxed(REF_SLOT(ref));
	/* Slot still held (alive, or dying before the fold): count is biased. */
	if (id != SLOT_NONE) {
		v -= LIVEREF_BIAS;
		for (struct slot_thread *t = slot_threads; t; t = t->next) {
			_Atomic int64_t *c = ld_acquire(&t->chunk[id >> SLOT_CHUNK_SHIFT]);

			if (c)
				v += ld_relaxed(&c[id & (SLOT_CHUNK - 1)]);
		}
	}
	pthread_mutex_unlock(&slot_lock);
	return v < 0 ? 0 : (uint64_t)v;
}

static bool liveref_drained(void *arg)
{
	return atomic_load(REF_COUNT((struct dc_liveref *)arg)) == 0;
}

/* Shared by every drain: wait for @cond with progress reports. */
int dc__drain_wait(const void *addr, dc_cond_fn cond, void *arg, uint64_t (*outstanding)(void *),
		   const struct dc_drain_opts *opts)
{
	static const struct dc_drain_opts none;
	uint64_t interval;

	if (!opts)
		opts = &none;
	interval = opts->progress_interval_ns ? opts->progress_interval_ns : 100000000ull;
	for (;;) {
		struct dc_wait_opts w = { .deadline_ns = opts->deadline_ns, .cancel = opts->cancel };
		uint64_t left;
		int ret;

		if (opts->progress) {
			uint64_t next = dc_now_ns() + interval;

			if (!w.deadline_ns || next < w.deadline_ns)
				w.deadline_ns = next;
		}
		ret = dc_wait_var(addr, cond, arg, &w);
		if (ret != -ETIMEDOUT || !opts->progress ||
		    (opts->deadline_ns && dc_now_ns() >= opts->deadline_ns))
			return ret;
		/* The last put may have landed since the slice ended: then the
		 * wait is over (a drained count stays 0), not a progress report. */
		left = outstanding(arg);
		if (!left)
			return 0;
		dc__cb_enter();
		opts->progress(opts->arg, left);
		dc__cb_exit();
	}
}

static uint64_t liveref_outstanding(void *arg)
{
	return (uint64_t)atomic_load(REF_COUNT((struct dc_liveref *)arg));
}

DC_API int dc_liveref_wait_drained(struct dc_liveref *ref, const struct dc_drain_opts *opts)
{
	if (!dc_liveref_is_dying(ref))
		return dc__fail(-EINVAL, "liveref %p: wait for drain without kill", (void *)ref);
	return dc__drain_wait(REF_COUNT(ref), liveref_drained, ref, liveref_outstanding, opts);
}
