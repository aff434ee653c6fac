/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * region.c - regions: create, claim/release, read-side lock, remove, stats.
 *
 * Lifetime (invariant 6): removal marks the region dead, waits a grace
 * period (no read-side section that saw it alive is still running), kills
 * the liveness reference, tells the holder (DC_MF_PRE_REMOVE) so it revokes
 * its mappings, then waits until the liveness count drains: every folio is
 * idle.  Only then is the device unmapped and the metadata freed.
 */
#include "region/region_int.h"
#include "base/rcu.h"

#include <string.h>
#include <sys/mman.h>

_Atomic(struct dc_region *) dc__regions[DC__MAX_REGIONS];
static pthread_mutex_t regions_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned regions_hint = 1;

static int region_id_alloc(struct dc_region *r)
{
	int ret = -ENOSPC;

	pthread_mutex_lock(&regions_lock);
	for (unsigned n = 1; n < DC__MAX_REGIONS; n++) {
		unsigned i = (regions_hint + n - 1) % (DC__MAX_REGIONS - 1) + 1; /* id 0 = none */

		if (!atomic_load(&dc__regions[i])) {
			r->id = (uint16_t)i;
			atomic_store_explicit(&dc__regions[i], r, memory_order_release);
			regions_hint = i + 1;
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&regions_lock);
	return ret ? dc__fail(ret, "too many regions (%u)", DC__MAX_REGIONS - 1) : 0;
}

static void region_free(struct dc_region *r)
{
	if (r->id) {
		pthread_mutex_lock(&regions_lock);
		atomic_store(&dc__regions[r->id], NULL);
		pthread_mutex_unlock(&regions_lock);
	}
	dc__region_close(r);
	pthread_mutex_destroy(&r->claim_lock);
	pthread_cond_destroy(&r->claim_cond);
	free(atomic_load(&r->claim));
	free(r->spec);
	free(r);
}

DC_API int dc_region_create(const char *spec, struct dc_region **out)
{
	struct dc_region *r;
	int err;

	if (!out)
		return dc__fail(-EINVAL, "dc_region_create: NULL out pointer");
	*out = NULL;
	r = dc__calloc(1, sizeof(*r));
	if (!r)
		return dc__fail(-ENOMEM, "out of memory");
	r->fd = -1;
	pthread_mutex_init(&r->claim_lock, NULL);
	pthread_cond_init(&r->claim_cond, NULL);
	r->spec = spec ? strdup(spec) : NULL;
	if (spec && !r->spec) {
		region_free(r);
		return dc__fail(-ENOMEM, "out of memory");
	}
	err = dc__region_open(r, spec);
	if (!err)
		err = region_id_alloc(r);
	if (err) {
		region_free(r);
		return err;
	}
	dc_liveref_init(&r->live, NULL);
	*out = r;
	return 0;
}

DC_API bool dc_region_alive(const struct dc_region *r)
{
	return !ld_acquire((_Atomic uint32_t *)&r->dead);
}

DC_API void dc_region_read_lock(struct dc_region *r)
{
	(void)r;
	dc__rcu_read_lock();
}

DC_API void dc_region_read_unlock(struct dc_region *r)
{
	(void)r;
	dc__rcu_read_unlock();
}

#ifdef DC_FAULT_INJECT
void (*dc__test_claim_hook)(struct dc_region *r);
#endif

DC_API int dc_region_claim(struct dc_region *r, void *holder, const struct dc_holder_ops *ops)
{
	struct dc__claim *c, *none = NULL;

	if (!holder)
		return dc__fail(-EINVAL, "claim: NULL holder");
	if (!dc_region_alive(r))
		return dc__fail(-ENXIO, "claim: region %s is being removed", r->spec);
	c = dc__calloc(1, sizeof(*c));
	if (!c)
		return dc__fail(-ENOMEM, "out of memory");
	c->holder = holder;
	c->ops = ops;
	DC_TEST_HOOK(dc__test_claim_hook, r);
	pthread_mutex_lock(&r->claim_lock);
	/*
	 * Removal marks PRE_REMOVE sent under this lock before it looks for a
	 * holder to tell: a claim that comes after that would never be told.
	 */
	if (r->pre_remove_sent && DC_REGRESS_BUG != 35) { /* bug 35: a claim nobody tells */
		pthread_mutex_unlock(&r->claim_lock);
		free(c);
		return dc__fail(-ENXIO, "claim: region %s is being removed", r->spec);
	}
	if (!atomic_compare_exchange_strong(&r->claim, &none, c)) {
		void *cur = none->holder;

		pthread_mutex_unlock(&r->claim_lock);
		free(c);
		return dc__fail(-EBUSY, "claim: region %s is already held by %p%s", r->spec, cur,
				cur == holder ? " (this holder)" : "");
	}
	pthread_mutex_unlock(&r->claim_lock);
	return 0;
}

static bool claim_unused(void *arg)
{
	return atomic_load(&((struct dc__claim *)arg)->users) == 0;
}

DC_API int dc_region_release(struct dc_region *r, void *holder)
{
	struct dc__claim *c;

	pthread_mutex_lock(&r->claim_lock);
	c = atomic_load(&r->claim);
	if (!c || c->holder != holder || !holder) {
		pthread_mutex_unlock(&r->claim_lock);
		return dc__fail(-EPERM, "release: %p is not the holder of region %s", holder,
				r->spec);
	}
	atomic_store(&r->claim, NULL);
	/* A notify_failure of this claim is running (unless it is ours: a
	 * holder may let go from its own PRE_REMOVE). */
	while (r->notifying == c && !pthread_equal(r->notifier, pthread_self()))
		pthread_cond_wait(&r->claim_cond, &r->claim_lock);
	pthread_mutex_unlock(&r->claim_lock);
	dc__synchronize_rcu(); /* every last put that found c counted itself */
	dc_wait_var(&c->users, claim_unused, c, NULL); /* no page_free of c runs */
	free(c);
	return 0;
}

DC_API void *dc_region_holder(const struct dc_region *r)
{
	struct dc__claim *c;
	void *h;

	dc__rcu_read_lock();
	c = atomic_load((_Atomic(struct dc__claim *) *)&r->claim);
	h = c ? c->holder : NULL;
	dc__rcu_read_unlock();
	return h;
}

int dc__region_notify(struct dc_region *r, uint64_t pgoff, uint64_t nr, unsigned flags)
{
	struct dc__claim *c;
	int ret = 0;

	pthread_mutex_lock(&r->claim_lock);
	while (r->notifying) /* one notification at a time */
		pthread_cond_wait(&r->claim_cond, &r->claim_lock);
	c = atomic_load(&r->claim);
	if (!c || !c->ops || !c->ops->notify_failure) {
		pthread_mutex_unlock(&r->claim_lock);
		return -EOPNOTSUPP;
	}
	r->notifying = c;
	r->notifier = pthread_self();
	pthread_mutex_unlock(&r->claim_lock);

	dc__cb_enter();
	ret = c->ops->notify_failure(r, pgoff, nr, flags, c->holder);
	dc__cb_exit();

	pthread_mutex_lock(&r->claim_lock);
	r->notifying = NULL;
	pthread_cond_broadcast(&r->claim_cond);
	pthread_mutex_unlock(&r->claim_lock);
	return ret;
}

static bool region_drained(void *arg)
{
	struct dc_region *r = arg;

	return dc_liveref_count(&r->live) == 0;
}

static uint64_t region_outstanding(void *arg)
{
	return dc_liveref_count(&((struct dc_region *)arg)->live);
}

static bool region_unmapped(void *arg)
{
	return atomic_load(&((struct dc_region *)arg)->nmappings) == 0;
}

static uint64_t region_mappings(void *arg)
{
	return atomic_load(&((struct dc_region *)arg)->nmappings);
}

DC_API int dc_region_remove(struct dc_region *r, const struct dc_drain_opts *opts)
{
	bool send;
	int ret;

	if (atomic_exchange(&r->removing, 1) && DC_REGRESS_BUG != 11)
		return dc__fail(-EBUSY, "remove %s: another thread is removing it", r->spec);
	if (!atomic_exchange(&r->dead, 1)) {
		/* Nobody who saw the region alive is between lookup and insert. */
		dc__synchronize_rcu();
		ret = dc_liveref_kill(&r->live);
		DC_BUG_ON(ret);
	}
	pthread_mutex_lock(&r->claim_lock);
	send = !r->pre_remove_sent; /* from now on no claim succeeds (see claim) */
	r->pre_remove_sent = true;
	pthread_mutex_unlock(&r->claim_lock);
	if (send)
		dc__region_notify(r, 0, r->npages, DC_MF_PRE_REMOVE);
	ret = dc__drain_wait(&r->live.count, region_drained, r, region_outstanding, opts);
	if (ret) {
		ret = dc__fail(ret, "remove %s: folio references still held: %llu", r->spec,
			       (unsigned long long)dc_liveref_count(&r->live));
		goto out;
	}
	/* Mappings hold the region: their calls read its metadata. */
	ret = dc__drain_wait(&r->nmappings, region_unmapped, r, region_mappings, opts);
	if (ret) {
		ret = dc__fail(ret, "remove %s: %llu mappings still exist (destroy them: "
			       "truncate_final, then dc_mapping_destroy)", r->spec,
			       (unsigned long long)atomic_load(&r->nmappings));
		goto out;
	}
	/*
	 * A lockless pinner (dc_mapping_get_folio(), under RCU) may have loaded
	 * a folio pointer just before the last entry went: it reads the folio
	 * (and finds it idle) inside its read-side section.  Wait it out before
	 * the metadata goes.
	 */
	dc__synchronize_rcu();
	dc_liveref_exit(&r->live);
	region_free(r);
	return 0;
out:
	atomic_store(&r->removing, 0);
	return ret;
}

/* The mapping layer: a mapping holds its region (removal waits for it). */
int dc__region_hold(struct dc_region *r)
{
	if (DC_REGRESS_BUG == 3) /* the old bug: mappings do not hold the region */
		return dc_region_alive(r) ? 0 : -ENXIO;
	atomic_fetch_add(&r->nmappings, 1);
	if (!dc_region_alive(r)) {
		dc__region_unhold(r);
		return -ENXIO;
	}
	return 0;
}

void dc__region_unhold(struct dc_region *r)
{
	if (DC_REGRESS_BUG == 3)
		return;
	/* After the decrement @r may be freed at once: only its address is used. */
	if (atomic_fetch_sub(&r->nmappings, 1) == 1)
		dc__wake_var_after_rmw(&r->nmappings);
}

DC_API void *dc_region_addr(const struct dc_region *r, uint64_t pgoff)
{
	return pgoff < r->npages ? r->base + (pgoff << DC_PAGE_SHIFT) : NULL;
}

DC_API uint64_t dc_region_size(const struct dc_region *r) { return r->size; }
DC_API uint64_t dc_region_npages(const struct dc_region *r) { return r->npages; }
DC_API unsigned dc_region_folio_order(const struct dc_region *r) { return r->order; }
DC_API enum dc_region_type dc_region_type(const struct dc_region *r) { return r->type; }
DC_API const char *dc_region_spec(const struct dc_region *r) { return r->spec; }
DC_API int dc_region_fd(const struct dc_region *r) { return r->fd; }
DC_API unsigned dc_region_map_order(const struct dc_region *r) { return r->map_order; }

void dc__region_touch(struct dc_region *r, uint64_t idx)
{
	uint64_t sec = idx >> DC__SECTION_SHIFT;
	_Atomic uint64_t *w = &r->touched[sec / 64];
	uint64_t bit = UINT64_C(1) << (sec % 64);

	if (likely(ld_relaxed(w) & bit))
		return;
	if (!(atomic_fetch_or_explicit(w, bit, memory_order_relaxed) & bit))
		atomic_fetch_add_explicit(&r->nsections, 1, memory_order_relaxed);
}

DC_API void dc_region_stats(struct dc_region *r, struct dc_region_stats *st)
{
	uint64_t per = UINT64_C(1) << DC__SECTION_SHIFT;

	memset(st, 0, sizeof(*st));
	st->npages = r->npages;
	st->nfolios = r->nfolios;
	if (r->meta) {
		st->sections = ld_relaxed(&r->nsections);
		st->sections_max = (r->nfolios + per - 1) / per;
		st->metadata_bytes = st->sections * per * sizeof(struct dc_folio);
		st->metadata_bytes_full = r->meta_bytes;
		if (st->metadata_bytes > r->meta_bytes)
			st->metadata_bytes = r->meta_bytes; /* last section partial */
	}
	st->busy = dc_liveref_count(&r->live);
	if (dc_region_alive(r) && st->busy) /* the initial reference */
		st->busy--;
}

static void flush_lines(char *p, size_t n)
{
#if defined(__x86_64__) || defined(__i386__)
	for (char *end = p + n; p < end; p += DC_CACHELINE)
		__builtin_ia32_clflush(p);
#else
	(void)p;
	(void)n;
#endif
}

static void flush_fence(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_sfence();
#else
	atomic_thread_fence(memory_order_seq_cst);
#endif
}

DC_API int dc_region_flush(struct dc_region *r, uint64_t pgoff, uint64_t nr)
{
	char *p, *end;

	if (pgoff >= r->npages || nr > r->npages - pgoff)
		return dc__fail(-EINVAL, "flush [%llu, +%llu) is outside %s",
				(unsigned long long)pgoff, (unsigned long long)nr, r->spec);
	p = r->base + (pgoff << DC_PAGE_SHIFT);
	end = p + (nr << DC_PAGE_SHIFT);
	if (r->file_backed) {
		if (msync(p, (size_t)(end - p), MS_SYNC))
			return dc__fail(-errno, "msync: %s", strerror(errno));
		return 0;
	}
	/* Memory backends: write back the cache lines of resident pages only
	 * (touching a page never written would allocate it). */
	while (p < end) {
		unsigned char vec[256];
		size_t chunk = (size_t)(end - p) < sizeof(vec) * DC_PAGE_SIZE ? (size_t)(end - p)
									     : sizeof(vec) * DC_PAGE_SIZE;

		if (mincore(p, chunk, vec))
			memset(vec, 1, sizeof(vec)); /* cannot tell: flush all */
		for (size_t i = 0; i < chunk / DC_PAGE_SIZE; i++)
			if (vec[i] & 1)
				flush_lines(p + i * DC_PAGE_SIZE, DC_PAGE_SIZE);
		p += chunk;
	}
	flush_fence();
	return 0;
}
