/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * folio.c - folio references, pins and the last-put path.
 *
 * Reference count transitions (invariant 1, 7):
 *   0 -> 1    dc_folio_request() only (CAS), taking one region liveness ref
 *   n -> n+1  get / tryget (CAS loop: never from 0, never past the maximum)
 *   n -> n+B  pin (B = DC_PIN_BIAS, same CAS loop)
 *   1 -> 0    the last put or unpin: wake waiters on the folio, call the
 *             holder's ->page_free (under RCU, no daxcore lock held), then
 *             drop the liveness ref, which may let region removal finish:
 *             after that nothing here touches the region.
 */
#include "folio/folio_int.h"
#include "base/rcu.h"

#include <daxcore/wait.h>
#include <sched.h>

static inline uint64_t folio_index(const struct dc_region *r, const struct dc_folio *f)
{
	return (uint64_t)(f - r->meta);
}

DC_API struct dc_folio *dc_folio_lookup(struct dc_region *r, uint64_t pgoff)
{
	return dc__folio_lookup(r, pgoff);
}

#ifdef DC_FAULT_INJECT
/* Tests: runs right after a put's decrement that was not the last. */
void (*dc__test_put_hook)(struct dc_folio *f);
#endif

/* Wake waiters of a folio that just went idle (only its address is used). */
static inline void folio_idle_wake(struct dc_folio *f)
{
	dc__wake_var_after_rmw(f); /* the count reached 0 through a seq_cst RMW */
}

/*
 * The holder's ->page_free for @n folios that just went idle, called with no
 * daxcore lock and no RCU read side held: the claim is looked up under RCU
 * and pinned by its user count, which dc_region_release() waits for.
 */
static void call_page_free(struct dc_region *r, struct dc_folio *const *fs, unsigned n)
{
	struct dc__claim *c;

	if (!atomic_load_explicit(&r->claim, memory_order_relaxed))
		return; /* no holder: nobody to tell */
	dc__rcu_read_lock();
	c = atomic_load_explicit(&r->claim, memory_order_acquire);
	if (c && c->ops && c->ops->page_free)
		atomic_fetch_add(&c->users, 1);
	else
		c = NULL;
	dc__rcu_read_unlock();
	if (!c)
		return;
	dc__cb_enter();
	for (unsigned i = 0; i < n; i++)
		c->ops->page_free(r, fs[i], c->holder);
	dc__cb_exit();
	if (atomic_fetch_sub(&c->users, 1) == 1)
		dc__wake_var_after_rmw(&c->users);
}

/*
 * The idle transitions of @n folios of region @r: wake, ->page_free each,
 * then drop their liveness references.  After that nothing here touches @r.
 */
static void folios_went_idle(struct dc_region *r, struct dc_folio *const *fs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		folio_idle_wake(fs[i]);
	call_page_free(r, fs, n);
	dc__liveref_put_many(&r->live, n);
}

static void folio_last_put(struct dc_folio *f)
{
	/* We still hold the folio's liveness reference: the region is there. */
	folios_went_idle(dc__folio_region(f), &f, 1);
}

/*
 * Drop @n from the count.  Everything this needs to know comes from the
 * read-modify-write itself: a put that is not the last must not read the
 * folio afterwards (a last put elsewhere and the region's removal may
 * follow at once).
 */
static inline void folio_sub(struct dc_folio *f, uint32_t n)
{
	uint32_t old = atomic_fetch_sub(&f->ref, n), cnt = old & DC__REF_MASK;

	if (unlikely(cnt <= n)) {
		if (cnt < n)
			DC_BUG("folio %p: put of %u with refcount %u", (void *)f, n, cnt);
		if (unlikely(old & DC__REF_WAITERS)) /* still ours: we are the last */
			atomic_fetch_and(&f->ref, DC__REF_MASK);
		folio_last_put(f);
	} else {
		DC_TEST_HOOK(dc__test_put_hook, f);
#if DC_REGRESS_BUG == 4 /* the old bug: read the folio after the decrement */
		old = atomic_load(&f->ref);
#endif
		if (unlikely(old & DC__REF_WAITERS))
			/* Someone waits for the count to drop below a bound (pins). */
			dc__wake_var_after_rmw(f);
	}
}

unsigned dc__folios_put_defer(struct dc_folio *const *fs, unsigned n, struct dc_folio **idle,
			      struct dc_folio **held, unsigned *nheld)
{
	unsigned ni = 0, nh = 0;

	for (unsigned i = 0; i < n; i++) {
		struct dc_folio *f = fs[i];
		uint32_t old = atomic_fetch_sub(&f->ref, 1), cnt = old & DC__REF_MASK;

		if (likely(cnt == 1)) {
			if (unlikely(old & DC__REF_WAITERS))
				atomic_fetch_and(&f->ref, DC__REF_MASK);
			idle[ni++] = f;
			continue;
		}
		if (unlikely(!cnt))
			DC_BUG("folio %p: put with refcount 0", (void *)f);
		if (unlikely(old & DC__REF_WAITERS))
			dc__wake_var_after_rmw(f);
		if (held)
			held[nh] = f;
		nh++;
	}
	if (nheld)
		*nheld = nh;
	return ni;
}

void dc__folios_idle(struct dc_region *r, struct dc_folio *const *fs, unsigned n)
{
	if (n)
		folios_went_idle(r, fs, n);
}

/*
 * Add @n unless the count is 0 (-EAGAIN, no message: the callers that
 * report it set one); refuse to pass DC_FOLIO_REF_MAX.
 */
static inline int folio_add_unless_idle(struct dc_folio *f, uint32_t n)
{
	uint32_t v = ld_relaxed(&f->ref);

	do {
		uint32_t cnt = v & DC__REF_MASK;

		if (unlikely(!cnt))
			return -EAGAIN;
		if (unlikely(cnt > DC_FOLIO_REF_MAX - n))
			return dc__fail(-EOVERFLOW, "folio %p: refcount %u + %u would pass %u",
					(void *)f, cnt, n, DC_FOLIO_REF_MAX);
	} while (!atomic_compare_exchange_weak_explicit(&f->ref, &v, v + n, memory_order_acquire,
							memory_order_relaxed));
	return 0;
}

DC_API void dc_folio_put(struct dc_folio *f)
{
	folio_sub(f, 1);
}

DC_API int dc_folio_get(struct dc_folio *f)
{
	int ret = folio_add_unless_idle(f, 1);

	if (unlikely(ret == -EAGAIN))
		return dc__fail(-EINVAL, "folio %p: get on an idle folio (hold a reference, or "
				"use tryget)", (void *)f);
	return ret;
}

static int idle_fail(void)
{
	return dc__fail_str(-EAGAIN, "folio is idle: nothing holds it (request it or fault "
			    "it in)");
}

DC_API int dc_folio_tryget(struct dc_folio *f)
{
	int ret = folio_add_unless_idle(f, 1);

	return unlikely(ret == -EAGAIN) ? idle_fail() : ret;
}

DC_API int dc_folio_pin(struct dc_folio *f)
{
	int ret = folio_add_unless_idle(f, DC_PIN_BIAS);

	return unlikely(ret == -EAGAIN) ? idle_fail() : ret;
}

DC_API void dc_folio_unpin(struct dc_folio *f)
{
	folio_sub(f, DC_PIN_BIAS);
}

/*
 * 0 -> 1.  A waiters bit stays: a waiter may have set it just before and
 * read the count just after (it then sleeps on a count above its bound and
 * needs the next put to see the bit).  The next last put clears it.
 */
static inline bool folio_claim_idle(struct dc_folio *f, uint32_t *seen)
{
	uint32_t v = ld_relaxed(&f->ref);

	do {
		if (v & DC__REF_MASK) {
			*seen = v;
			return false;
		}
	} while (!atomic_compare_exchange_weak(&f->ref, &v, 1 | (v & DC__REF_WAITERS)));
	return true;
}

/* 1 -> 0 unless someone else holds a reference too (the waiters bit goes). */
static bool folio_unclaim_one(struct dc_folio *f)
{
	uint32_t v = ld_relaxed(&f->ref);

	do {
		if ((v & DC__REF_MASK) != 1)
			return false;
	} while (!atomic_compare_exchange_weak(&f->ref, &v, 0));
	return true;
}

void dc__folio_untake(struct dc_folio *f, bool requested)
{
	struct dc_folio *idle;

	if (dc__folio_untake_defer(f, requested, &idle))
		dc__folios_idle(dc__folio_region(f), &idle, 1);
}

bool dc__folio_untake_defer(struct dc_folio *f, bool requested, struct dc_folio **idle)
{
	struct dc_region *r;

	if (!requested || !folio_unclaim_one(f))
		return dc__folios_put_defer(&f, 1, idle, NULL, NULL) == 1;
	/* Back to idle as if never requested: wake waiters, no ->page_free. */
	r = dc__folio_region(f);
	folio_idle_wake(f);
	dc_liveref_put(&r->live);
	return false;
}

DC_API int dc_folio_request(struct dc_region *r, uint64_t pgoff, uint64_t nr,
			    struct dc_folio **first)
{
	uint64_t fmask = (UINT64_C(1) << r->order) - 1, idx, end, i;
	int ret = 0;

	if (unlikely(r->type == DC_REGION_LIMITED))
		return dc__fail(-EOPNOTSUPP, "request: region %s is limited (no folios)", r->spec);
	if (unlikely(ld_relaxed(&r->dead)))
		return dc__fail(-ENXIO, "request: region %s is being removed", r->spec);
	if (unlikely(!nr || pgoff >= r->npages || nr > r->npages - pgoff))
		return dc__fail(-EINVAL, "request [%llu, +%llu): outside %s (%llu pages)",
				(unsigned long long)pgoff, (unsigned long long)nr, r->spec,
				(unsigned long long)r->npages);
	if (unlikely((pgoff | nr) & fmask))
		return dc__fail(-EINVAL, "request [%llu, +%llu): not aligned to %llu-page folios",
				(unsigned long long)pgoff, (unsigned long long)nr,
				(unsigned long long)fmask + 1);
	idx = pgoff >> r->order;
	end = idx + (nr >> r->order);
	for (i = idx; i < end; i++) {
		struct dc_folio *f = &r->meta[i];
		uint32_t zero;

		if (unlikely(!dc_liveref_tryget(&r->live))) {
			ret = dc__fail(-ENXIO, "request: region %s is being removed", r->spec);
			break;
		}
		dc__region_touch(r, i);
		if (ld_relaxed(&f->rid) != r->id)
			st_relaxed(&f->rid, r->id);
		if (unlikely(!folio_claim_idle(f, &zero))) {
			dc_liveref_put(&r->live);
			ret = dc__fail(-EBUSY, "request: page %llu of %s is in use (refcount %u)",
				       (unsigned long long)(i << r->order), r->spec,
				       zero & DC__REF_MASK);
			break;
		}
	}
	if (unlikely(ret)) {
		/* All or nothing: the holder never hears of the ones given back. */
		while (i-- > idx)
			dc__folio_untake(&r->meta[i], DC_REGRESS_BUG != 12);
		return ret;
	}
	if (first)
		*first = &r->meta[idx];
	return 0;
}

DC_API uint32_t dc_folio_refcount(const struct dc_folio *f)
{
	return ld_relaxed((_Atomic uint32_t *)&f->ref) & DC__REF_MASK;
}

DC_API bool dc_folio_idle(const struct dc_folio *f)
{
	return dc__folio_idle(f);
}

DC_API bool dc_folio_maybe_dma_pinned(const struct dc_folio *f)
{
	return (ld_relaxed((_Atomic uint32_t *)&f->ref) & DC__REF_MASK) >= DC_PIN_BIAS;
}

DC_API struct dc_region *dc_folio_region(const struct dc_folio *f)
{
	return dc__folio_region(f);
}

DC_API uint64_t dc_folio_pgoff(const struct dc_folio *f)
{
	const struct dc_region *r = dc__folio_region(f);

	return folio_index(r, f) << r->order;
}

DC_API unsigned dc_folio_order(const struct dc_folio *f)
{
	return dc__folio_region(f)->order;
}

DC_API void *dc_folio_addr(const struct dc_folio *f)
{
	const struct dc_region *r = dc__folio_region(f);

	return r->base + ((folio_index(r, f) << r->order) << DC_PAGE_SHIFT);
}

struct idle_arg {
	struct dc_folio *f;
	uint32_t max;
	bool busy;    /* wait for "not busy" instead of a count bound */
};

/*
 * Waiting for "at most max references" (max > 0) or "not busy" needs
 * wake-ups from puts that are not the last: announce the waiter in the
 * count word (seq_cst, before the count is read); every put sees the bit in
 * its own read-modify-write.  The last put clears it, so it is set again on
 * every check.
 */
static bool folio_below(void *p)
{
	struct idle_arg *a = p;

	if (a->max || a->busy)
		atomic_fetch_or(&a->f->ref, DC__REF_WAITERS);
	if (a->busy)
		return !dc__folio_busy(a->f);
	return (atomic_load(&a->f->ref) & DC__REF_MASK) <= a->max;
}

DC_API int dc_folio_wait_idle(struct dc_folio *f, uint32_t max_refs,
			      const struct dc_wait_opts *opts)
{
	struct idle_arg a = { f, max_refs, false };

	return dc_wait_var(f, folio_below, &a, opts);
}

int dc__folio_wait_unbusy(struct dc_folio *f, const struct dc_wait_opts *opts)
{
	struct idle_arg a = { f, 0, true };

	return dc_wait_var(f, folio_below, &a, opts);
}

/* ---- the owner word (folio_int.h) ------------------------------------------ */

/* A shared word; every change bumps the generation. */
static inline uint64_t sh_word(uint64_t gen, uint64_t pending, uint64_t sharers, uint64_t live)
{
	return DC__OWN_SHARED | ((gen << DC__SH_GEN_SHIFT) & DC__SH_GEN_MASK) |
	       (pending << DC__SH_PENDING_SHIFT) | (sharers << DC__SH_SHARERS_SHIFT) | live;
}

static inline uint64_t sh_gen(uint64_t w)
{
	return ((w & DC__SH_GEN_MASK) >> DC__SH_GEN_SHIFT) + 1;
}

static inline bool own_cas(struct dc_folio *f, uint64_t *old, uint64_t new)
{
	return atomic_compare_exchange_weak(&f->owner, old, new);
}

static _Noreturn void own_bug(const struct dc_folio *f, const char *what, uint64_t w)
{
	DC_BUG("folio %p: %s with owner word %#llx", (void *)f, what, (unsigned long long)w);
}

#if DC_REGRESS_BUG == 5 || DC_REGRESS_BUG == 6
/* The old bugs 5 and 6: the owner word was a load and a later store. */
static int racy_store(struct dc_folio *f, uint64_t n)
{
	sched_yield();
	atomic_store(&f->owner, n);
	return 0;
}
#endif

struct dc_folio *dc__folio_record(struct dc_region *r, uint64_t pg)
{
	uint64_t idx;

	if (!r->meta || pg >= r->npages)
		return NULL;
	idx = pg >> r->order;
	dc__region_touch(r, idx);
	if (ld_relaxed(&r->meta[idx].rid) != r->id)
		st_relaxed(&r->meta[idx].rid, r->id);
	return &r->meta[idx];
}

int dc__folio_claim(struct dc_folio *f, uint64_t owner)
{
	uint64_t w = dc__folio_owner_word(f), n;

	do {
		if (dc__own_shared(w) || (w && w != owner)) {
#if DC_REGRESS_BUG == 6 /* the old bug: check, then store */
			if (0)
#endif
			return dc__fail(-EBUSY, "device page %llu is in use by another owner "
					"(%#llx)", (unsigned long long)dc_folio_pgoff(f),
					(unsigned long long)(w & ~DC__OWN_MAPPED));
		}
		n = owner | DC__OWN_MAPPED;
#if DC_REGRESS_BUG == 6
		return racy_store(f, n);
#endif
	} while (!own_cas(f, &w, n));
	return 0;
}

bool dc__folio_unclaim(struct dc_folio *f, uint64_t owner)
{
	uint64_t w = owner | DC__OWN_MAPPED;

	if (atomic_compare_exchange_strong(&f->owner, &w, 0))
		return true;
	if ((!dc__own_shared(w) || DC_REGRESS_BUG == 15) && DC_REGRESS_BUG != 6)
		own_bug(f, "unclaim", w); /* 15: the old bug, a reflink in between */
	return false; /* another file reflinked it meanwhile: we are a sharer */
}

bool dc__folio_unmap_if_unshared(struct dc_folio *f, uint64_t owner)
{
	uint64_t w = dc__folio_owner_word(f);

	if (dc__own_shared(w))
		return false;
	if (w != (owner | DC__OWN_MAPPED))
		own_bug(f, "unmap by another owner", w);
	/* A plain store: the owner's tree lock excludes a reflink's conversion. */
	atomic_store_explicit(&f->owner, owner, memory_order_release);
	return true;
}

int dc__folio_share_begin(struct dc_folio *f, bool new_sharer, bool owner_locked)
{
	uint64_t w = dc__folio_owner_word(f), n;

	do {
		uint64_t sharers, live, pending = dc__own_pending(w);

		if (!dc__own_shared(w)) {
			if (!new_sharer)
				own_bug(f, "share begin of a known sharer", w);
			if (w && !owner_locked)
				return -EAGAIN; /* converting an owner's word: take its lock */
			/* An unshared owner (live or zapped) becomes the first sharer. */
			sharers = w ? 1 : 0;
			live = (w & DC__OWN_MAPPED) ? 1 : 0;
		} else {
			sharers = dc__own_sharers(w);
			live = dc__own_live(w);
		}
		if (new_sharer && sharers == DC__SH_MAX)
			return dc__fail(-EOVERFLOW, "device page %llu: %llu sharers is the limit",
					(unsigned long long)dc_folio_pgoff(f),
					(unsigned long long)DC__SH_MAX);
		if (pending == DC__SH_PENDING_MAX) { /* 255 transitions at once: wait */
			sched_yield();
			w = dc__folio_owner_word(f);
			continue;
		}
		n = sh_word(sh_gen(w), pending + 1, sharers + new_sharer, live);
#if DC_REGRESS_BUG == 5 /* the old bug: a load, then a store */
		return racy_store(f, n);
#endif
	} while (!own_cas(f, &w, n));
	return 0;
}

/* Apply (pending - 1, sharers + ds, live + dl) to a shared word. */
static void share_end(struct dc_folio *f, int ds, int dl, const char *what)
{
	uint64_t w = dc__folio_owner_word(f), n;

	do {
		uint64_t sharers = dc__own_sharers(w) + (uint64_t)(int64_t)ds;
		uint64_t live = dc__own_live(w) + (uint64_t)(int64_t)dl;

		/*
		 * live may pass sharers for a moment: a fault that re-inserts an
		 * entry whose zap has not yet uncounted it (both lives hold a
		 * reference, so the busy test stays exact).
		 */
		if (!dc__own_shared(w) || !dc__own_pending(w) || sharers > DC__SH_MAX ||
		    live > DC__SH_MAX || (DC_REGRESS_BUG == 14 && live > sharers))
			own_bug(f, what, w); /* 14: the old check, wrong in that race */
		if (!sharers && dc__own_pending(w) == 1)
			n = 0; /* an aborted first sharer: nobody uses the folio */
		else
			n = sh_word(sh_gen(w), dc__own_pending(w) - 1, sharers, live);
	} while (!own_cas(f, &w, n));
}

void dc__folio_share_commit(struct dc_folio *f)
{
	share_end(f, 0, 1, "share commit");
}

void dc__folio_share_abort(struct dc_folio *f, bool new_sharer)
{
	share_end(f, new_sharer ? -1 : 0, 0, "share abort");
}

bool dc__folio_unmap_begin(struct dc_folio *f, uint64_t owner)
{
	uint64_t w = dc__folio_owner_word(f), n;
	bool shared;

	do {
		shared = dc__own_shared(w);
		if (shared) {
			if (!dc__own_live(w) || dc__own_pending(w) == DC__SH_PENDING_MAX) {
				if (!dc__own_live(w))
					own_bug(f, "unmap with no live sharer", w);
				sched_yield();
				w = dc__folio_owner_word(f);
				continue;
			}
			n = sh_word(sh_gen(w), dc__own_pending(w) + 1, dc__own_sharers(w),
				    dc__own_live(w) - 1);
		} else {
			if (w != (owner | DC__OWN_MAPPED))
				own_bug(f, "unmap by another owner", w);
			n = owner;
		}
	} while (!own_cas(f, &w, n));
	return shared;
}

void dc__folio_unmap_end(struct dc_folio *f)
{
	share_end(f, 0, 0, "unmap end");
}

void dc__folio_disassoc_locked(struct dc_folio *f, uint64_t owner)
{
	uint64_t w = dc__folio_owner_word(f);

	if (dc__own_shared(w)) {
		dc__folio_disassoc(f, owner);
		return;
	}
	if (w != owner)
		own_bug(f, "disassoc by another owner", w);
	/* A plain store: the owner's tree lock excludes a reflink's conversion. */
	atomic_store_explicit(&f->owner, 0, memory_order_release);
}

void dc__folio_disassoc(struct dc_folio *f, uint64_t owner)
{
	uint64_t w = dc__folio_owner_word(f), n;

	do {
		if (dc__own_shared(w)) {
			if (!dc__own_sharers(w))
				own_bug(f, "disassoc with no sharer", w);
			n = dc__own_sharers(w) == 1 && !dc__own_pending(w)
				    ? 0
				    : sh_word(sh_gen(w), dc__own_pending(w), dc__own_sharers(w) - 1,
					      dc__own_live(w));
		} else {
			if (w != owner)
				own_bug(f, "disassoc by another owner", w);
			n = 0;
		}
	} while (!own_cas(f, &w, n));
}

bool dc__folio_busy(const struct dc_folio *f)
{
#if DC_REGRESS_BUG == 7 /* the old bug: busy meant not idle */
	return !dc__folio_idle(f);
#endif
	for (;;) {
		uint64_t w = dc__folio_owner_word(f);
		uint32_t refs;

		if (!dc__own_shared(w) && !(w & DC__OWN_MAPPED)) {
			/*
			 * No entry holds a reference (the zapped entry's delete, the
			 * hot case): busy iff not idle.  The word may become shared
			 * after this load, but the new sharer takes its reference
			 * inside its transition: at worst it looks busy.
			 */
			return (atomic_load((_Atomic uint32_t *)&f->ref) & DC__REF_MASK) != 0;
		}
		if (dc__own_pending(w)) { /* a sharer is between its two steps */
			sched_yield();
			continue;
		}
		refs = atomic_load((_Atomic uint32_t *)&f->ref) & DC__REF_MASK;
		if (dc__folio_owner_word(f) == w)
			return refs > dc__own_mapped(w);
	}
}

int dc__folio_take(struct dc_region *r, uint64_t pg, struct dc_folio **out, bool *requested)
{
	struct dc_folio *f;
	int ret;

	for (;;) {
		f = dc__folio_lookup(r, pg);
		if (f && (ret = folio_add_unless_idle(f, 1)) != -EAGAIN) {
			if (ret)
				return ret;
			*requested = false;
			break;
		}
		ret = dc_folio_request(r, pg, UINT64_C(1) << r->order, &f);
		if (ret == 0) {
			*requested = true;
			break;
		}
		if (ret != -EBUSY) /* -EBUSY: raced with another user; look again */
			return ret;
	}
	*out = f;
	if (dc_folio_poisoned(f)) { /* still referenced: the caller gives it back */
		if (DC_REGRESS_BUG == 17) { /* the old bug: give it back right here */
			dc__folio_untake(f, *requested);
			*out = NULL;
		}
		return dc__fail(-EIO, "device page %llu is poisoned", (unsigned long long)pg);
	}
	return 0;
}

/* ---- read-only views for owners ---------------------------------------------- */

DC_API uint64_t dc_folio_owner(const struct dc_folio *f)
{
	uint64_t w = dc__folio_owner_word(f);

	return dc__own_shared(w) ? 0 : w & DC__OWN_VALUE;
}

DC_API uint32_t dc_folio_shares(const struct dc_folio *f)
{
	uint64_t w = dc__folio_owner_word(f);

	return dc__own_shared(w) ? (uint32_t)dc__own_sharers(w) : 0;
}

DC_API uint32_t dc_folio_mapcount(const struct dc_folio *f)
{
	return (uint32_t)dc__own_mapped(dc__folio_owner_word(f));
}

DC_API bool dc_folio_busy(const struct dc_folio *f)
{
	return dc__folio_busy(f);
}

DC_API bool dc_folio_poisoned(const struct dc_folio *f)
{
	return ld_relaxed((_Atomic uint16_t *)&f->flags) & DC__FOLIO_POISON;
}

/* ---- memory failure ------------------------------------------------------------ */

DC_API int dc_folio_memory_failure(struct dc_region *r, uint64_t pgoff, uint64_t nr)
{
	int ret;

	if (!nr || pgoff >= r->npages || nr > r->npages - pgoff)
		return dc__fail(-EINVAL, "memory_failure [%llu, +%llu): outside %s",
				(unsigned long long)pgoff, (unsigned long long)nr, r->spec);
	if (r->meta) {
		uint64_t fsz = UINT64_C(1) << r->order;

		for (uint64_t i = pgoff & ~(fsz - 1); i < pgoff + nr; i += fsz) {
			struct dc_folio *f = &r->meta[i >> r->order];

			dc__region_touch(r, i >> r->order);
			if (ld_relaxed(&f->rid) != r->id)
				st_relaxed(&f->rid, r->id);
			atomic_fetch_or(&f->flags, DC__FOLIO_POISON);
		}
	}
	ret = dc__region_notify(r, pgoff, nr, DC_MF_POISON);
	return ret == -EOPNOTSUPP ? dc__fail(ret, "memory_failure: region %s has no holder "
					     "with notify_failure", r->spec) : ret;
}
