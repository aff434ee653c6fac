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
#include "region/region_int.h"
#include "base/rcu.h"

#include <daxcore/wait.h>

static inline uint64_t folio_index(const struct dc_region *r, const struct dc_folio *f)
{
	return (uint64_t)(f - r->meta);
}

DC_API struct dc_folio *dc_folio_lookup(struct dc_region *r, uint64_t pgoff)
{
	return dc__folio_lookup(r, pgoff);
}

/* Wake waiters of a folio that just went idle. */
static inline void folio_idle_wake(struct dc_folio *f)
{
	/* The seq_cst RMW that reached 0 also acquired every earlier put. */
	if (unlikely(ld_relaxed(&f->flags) & DC__FOLIO_WAITERS))
		atomic_fetch_and(&f->flags, (uint16_t)~DC__FOLIO_WAITERS);
	dc__wake_var_after_rmw(f); /* the count reached 0 through a seq_cst RMW */
}

/*
 * The idle transitions of @n folios of region @r: wake, ->page_free each,
 * then drop their liveness references.  After that nothing here touches @r.
 */
static void folios_went_idle(struct dc_region *r, struct dc_folio *const *fs, unsigned n)
{
	struct dc__claim *c;

	for (unsigned i = 0; i < n; i++)
		folio_idle_wake(fs[i]);
	dc__rcu_read_lock();
	c = atomic_load_explicit(&r->claim, memory_order_acquire);
	if (c && c->ops && c->ops->page_free)
		for (unsigned i = 0; i < n; i++)
			c->ops->page_free(r, fs[i], c->holder);
	dc__rcu_read_unlock();
	dc__liveref_put_many(&r->live, n);
}

static void folio_last_put(struct dc_folio *f)
{
	folios_went_idle(dc__folio_region(f), &f, 1);
}

static inline void folio_sub(struct dc_folio *f, uint32_t n)
{
	uint32_t old = atomic_fetch_sub(&f->ref, n);

	if (unlikely(old <= n)) {
		if (old < n)
			DC_BUG("folio %p: put of %u with refcount %u", (void *)f, n, old);
		folio_last_put(f);
	} else if (unlikely(atomic_load(&f->flags) & DC__FOLIO_WAITERS)) {
		/* Someone waits for the count to drop below a bound (pins). */
		dc__wake_var_after_rmw(f);
	}
}

struct dc_folio *dc__folios_put(struct dc_region *r, struct dc_folio *const *fs, unsigned n)
{
	struct dc_folio *idle[64], *busy = NULL;
	unsigned ni = 0;

	for (unsigned i = 0; i < n; i++) {
		struct dc_folio *f = fs[i];
		uint32_t old = atomic_fetch_sub(&f->ref, 1);

		if (likely(old == 1)) {
			idle[ni++] = f;
			if (ni == ARRAY_SIZE(idle)) {
				folios_went_idle(r, idle, ni);
				ni = 0;
			}
			continue;
		}
		if (unlikely(!old))
			DC_BUG("folio %p: put with refcount 0", (void *)f);
		if (unlikely(atomic_load(&f->flags) & DC__FOLIO_WAITERS))
			dc__wake_var_after_rmw(f);
		if (!busy)
			busy = f;
	}
	if (ni)
		folios_went_idle(r, idle, ni);
	return busy;
}

/* Add @n unless the count is 0; refuse to pass DC_FOLIO_REF_MAX. */
static inline int folio_add_unless_idle(struct dc_folio *f, uint32_t n)
{
	uint32_t v = ld_relaxed(&f->ref);

	do {
		if (unlikely(!v))
			return -EAGAIN;
		if (unlikely(v > DC_FOLIO_REF_MAX - n))
			return dc__fail(-EOVERFLOW, "folio %p: refcount %u + %u would pass %u",
					(void *)f, v, n, DC_FOLIO_REF_MAX);
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

DC_API int dc_folio_tryget(struct dc_folio *f)
{
	return folio_add_unless_idle(f, 1);
}

DC_API int dc_folio_pin(struct dc_folio *f)
{
	return folio_add_unless_idle(f, DC_PIN_BIAS);
}

DC_API void dc_folio_unpin(struct dc_folio *f)
{
	folio_sub(f, DC_PIN_BIAS);
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
		uint32_t zero = 0;

		if (unlikely(!dc_liveref_tryget(&r->live))) {
			ret = dc__fail(-ENXIO, "request: region %s is being removed", r->spec);
			break;
		}
		dc__region_touch(r, i);
		if (ld_relaxed(&f->rid) != r->id)
			st_relaxed(&f->rid, r->id);
		if (unlikely(!atomic_compare_exchange_strong(&f->ref, &zero, 1))) {
			dc_liveref_put(&r->live);
			ret = dc__fail(-EBUSY, "request: page %llu of %s is in use (refcount %u)",
				       (unsigned long long)(i << r->order), r->spec, zero);
			break;
		}
	}
	if (unlikely(ret)) {
		while (i-- > idx)
			dc_folio_put(&r->meta[i]);
		return ret;
	}
	if (first)
		*first = &r->meta[idx];
	return 0;
}

DC_API uint32_t dc_folio_refcount(const struct dc_folio *f)
{
	return ld_relaxed((_Atomic uint32_t *)&f->ref);
}

DC_API bool dc_folio_idle(const struct dc_folio *f)
{
	return dc__folio_idle(f);
}

DC_API bool dc_folio_maybe_dma_pinned(const struct dc_folio *f)
{
	return ld_relaxed((_Atomic uint32_t *)&f->ref) >= DC_PIN_BIAS;
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
};

/*
 * Waiting for "at most max references" (max > 0) needs wake-ups from puts
 * that are not the last: announce the waiter in the flags first (seq_cst,
 * before the count is read); folio_sub() checks the flag after its RMW.
 * The flag is cleared by the last put, so it is set again on every check.
 */
static bool folio_below(void *p)
{
	struct idle_arg *a = p;

	if (a->max)
		atomic_fetch_or(&a->f->flags, DC__FOLIO_WAITERS);
	return atomic_load(&a->f->ref) <= a->max;
}

DC_API int dc_folio_wait_idle(struct dc_folio *f, uint32_t max_refs,
			      const struct dc_wait_opts *opts)
{
	struct idle_arg a = { f, max_refs };

	return dc_wait_var(f, folio_below, &a, opts);
}

DC_API uint64_t dc_folio_owner(const struct dc_folio *f)
{
	return ld_acquire((_Atomic uint64_t *)&f->owner);
}

DC_API void dc_folio_set_owner(struct dc_folio *f, uint64_t owner)
{
	st_release(&f->owner, owner);
}

DC_API uint32_t dc_folio_share_get(struct dc_folio *f)
{
	uint64_t n;

	if (!(ld_relaxed(&f->flags) & DC__FOLIO_SHARED)) {
		/* The owner it had (if any) becomes the first sharer. */
		n = ld_relaxed(&f->owner) ? 1 : 0;
		atomic_fetch_or(&f->flags, DC__FOLIO_SHARED);
	} else {
		n = ld_relaxed(&f->owner);
	}
	st_release(&f->owner, n + 1);
	return (uint32_t)(n + 1);
}

DC_API uint32_t dc_folio_share_put(struct dc_folio *f)
{
	uint64_t n = ld_relaxed(&f->owner);

	if (!(ld_relaxed(&f->flags) & DC__FOLIO_SHARED) || !n)
		DC_BUG("folio %p: share put without sharers", (void *)f);
	st_release(&f->owner, n - 1);
	if (n == 1)
		atomic_fetch_and(&f->flags, (uint16_t)~DC__FOLIO_SHARED);
	return (uint32_t)(n - 1);
}

DC_API uint32_t dc_folio_shares(const struct dc_folio *f)
{
	return dc__folio_shares(f);
}

DC_API void dc_folio_set_poison(struct dc_folio *f)
{
	atomic_fetch_or(&f->flags, DC__FOLIO_POISON);
}

DC_API bool dc_folio_poisoned(const struct dc_folio *f)
{
	return ld_relaxed((_Atomic uint16_t *)&f->flags) & DC__FOLIO_POISON;
}
