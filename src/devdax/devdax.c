// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * devdax.c - device-dax, the second owner on the mapping core (the kernel's
 * drivers/dax/device.c after seed 004 patches 16-21): open and close, the
 * fault step its views call, kill and region removal, memory failure,
 * listings, stats and the invariant check.  Pins are in pin.c.
 *
 * The device is one file: device page i is file page i, and every entry is
 * at the device alignment (the larger of the folio order and the region
 * fd's mapping unit: one folio, or several), so a fault never allocates,
 * never copies and never falls back: grab the entry at the alignment,
 * insert page i (the references are taken there), unlock.
 *
 * Kill (and PRE_REMOVE, and close) run with the device lock exclusive: no
 * fault or pin is inside the mapping meanwhile, and those that come after
 * see @killed under the lock they hold shared (dd__enter()), before they
 * touch the mapping; so nothing maps or pins through an entry after the
 * zap, and the mapping can be destroyed when it empties.
 */
#include "devdax/devdax_int.h"

/* ---- the mapping's callbacks and the view owner --------------------------------- */

static void mapping_revoke(struct dc_mapping *m, uint64_t index, uint64_t nr, void *priv)
{
	struct dc_devdax *dd = priv;

	(void)m;
	dc_view_file_revoke(dd->vf, index, nr);
}

static const struct dc_mapping_ops dd_mapping_ops = {
	.revoke = mapping_revoke,
	/* no ->mkclean: device-dax has no writeback */
};

/*
 * Take the device lock shared for a call that will use the mapping; fail
 * with -ENXIO if the device is killed.  The check is made (again) under
 * the lock: kill sets @killed with the lock exclusive, so a call holding
 * it shared that found the device alive finishes before a kill starts.
 */
/* Tests: run between the first killed check and the lock (a kill may come there). */
void (*dc__test_devdax_enter_hook)(struct dc_devdax *dd);

int dd__enter(struct dc_devdax *dd, const char *what)
{
	if (atomic_load_explicit(&dd->killed, memory_order_acquire))
		return dc__fail(-ENXIO, "devdax %s: the device is killed", what);
	DC_TEST_HOOK(dc__test_devdax_enter_hook, dd);
	pthread_rwlock_rdlock(&dd->lock);
	/* bug 31: the killed check above, made before the lock, is the only one */
	if (DC_REGRESS_BUG != 31 && atomic_load_explicit(&dd->killed, memory_order_relaxed)) {
		pthread_rwlock_unlock(&dd->lock);
		return dc__fail(-ENXIO, "devdax %s: the device is killed", what);
	}
	return 0;
}

/*
 * Make the entry covering device page @pg live (the fault of
 * drivers/dax/device.c at the device alignment).  Device lock held shared
 * (dd__enter()).  Return: 0; -EHWPOISON (the folio is poisoned); -ENXIO
 * (the region is being removed); -ENOMEM; -EIO (an entry of another size:
 * never, the device makes them all).
 */
int dd__fault_locked(struct dc_devdax *dd, uint64_t pg)
{
	uint64_t idx = pg & ~(dd_entry_pages(dd) - 1);
	struct dc_entry_handle h;
	int ret;

	if (dc_entry_is_live(dc_mapping_lookup(dd->m, idx)))
		return 0; /* another thread was faster */
	ret = dc_mapping_grab(dd->m, idx, dd->order, NULL, &h);
	if (ret == DC_GRAB_FALLBACK)
		return dc__fail(-EIO, "devdax fault: page %llu cannot be served at the device "
				"alignment", (unsigned long long)pg);
	if (ret)
		return ret;
	if (!dc_entry_is_live(h.entry)) {
		ret = dc_mapping_insert(&h, idx, 0);
		if (ret == -EIO)
			ret = dc__fail(-EHWPOISON, "devdax fault: device page %llu is poisoned",
				       (unsigned long long)pg);
		if (!ret)
			atomic_fetch_add_explicit(&dd->faults, 1, memory_order_relaxed);
	}
	DC_BUG_ON(dc_mapping_unlock(&h));
	return ret;
}

/*
 * The view's fault step: one whole entry, writable (no dirty tracking).
 * The device has no fault-around (a fault maps the entry it lands in, and
 * nothing else): a neighbour (DC_VIEW_FAULT_AROUND) is served if its entry
 * is live already, or faulted if it is the faulting page's own entry (the
 * view asks the pages before the faulting one first, each wanting @max
 * pages up to it); else declined, which is no SIGBUS (not counted).
 */
static int view_fault(void *file, uint64_t index, uint64_t max, unsigned flags,
		      struct dc_view_extent *ext)
{
	struct dc_devdax *dd = file;
	uint64_t idx = index & ~(dd_entry_pages(dd) - 1);
	bool around = (flags & DC_VIEW_FAULT_AROUND) &&
		      ((index + max) & ~(dd_entry_pages(dd) - 1)) != idx;
	int ret;

	if (index >= dd->npages)
		ret = dc__fail(-EFAULT, "devdax fault: page %llu is past the end of the device",
			       (unsigned long long)index);
	else if (!(ret = dd__enter(dd, "fault"))) {
		if (!around)
			ret = dd__fault_locked(dd, index);
		else if (!dc_entry_is_live(dc_mapping_lookup(dd->m, idx)))
			ret = -ENOENT; /* another entry, not faulted in: not mapped */
		pthread_rwlock_unlock(&dd->lock);
	}
	if (ret) {
		if (!around)
			atomic_fetch_add_explicit(&dd->sigbus, 1, memory_order_relaxed);
		return ret;
	}
	*ext = (struct dc_view_extent){
		.index = idx,
		.nr = dd_entry_pages(dd),
		.pgoff = idx,
		.writable = true,
	};
	return 0;
}

static void view_release(void *file)
{
	struct dc_devdax *dd = file;

	atomic_fetch_sub(&dd->nviews, 1);
	dd__users_put(dd);
}

static const struct dc_view_owner_ops dd_view_ops = {
	.fault = view_fault,
	.release = view_release,
};

/* A view or a pin set went: wake a close that waits for them. */
void dd__users_put(struct dc_devdax *dd)
{
	atomic_fetch_sub(&dd->users, 1);
	dc__wake_var_after_rmw(&dd->users);
}

/* ---- deleting zapped entries, destroying the mapping ---------------------------- */

/*
 * Delete the entries in file pages [@first, @last] that may go: zapped
 * entries whose folio nobody pins any more, and on a killed device the
 * EMPTY ones too.  Device lock held exclusive: no pin or fault runs, so a
 * folio found not busy stays so and the delete never meets a busy one.
 * Once the region is being removed and the mapping is empty, destroy it,
 * so that removal can finish.
 */
/* Whether a folio of the entry @e is busy (pinned), or poisoned (@poisoned). */
static bool entry_folios(struct dc_devdax *dd, dc_entry_t e, bool poisoned)
{
	uint64_t pg = dc_entry_pgoff(e), n = UINT64_C(1) << dc_entry_order(e);

	for (uint64_t k = 0; k < n; k += dd_folio_pages(dd)) {
		struct dc_folio *f = dc_folio_lookup(dd->r, pg + k);

		if (f && (poisoned ? dc_folio_poisoned(f) : dc_folio_busy(f)))
			return true;
	}
	return false;
}

void dd__reap_locked(struct dc_devdax *dd, uint64_t first, uint64_t last)
{
	bool killed = atomic_load(&dd->killed);
	struct dc_entry_info info;

	if (!dd->m)
		return;
	dc_mapping_for_each(dd->m, first, last, &info) {
		dc_entry_t e = info.entry;

		if (dc_entry_has_pages(e)) {
			if (!dc_entry_is_zapped(e) || entry_folios(dd, e, false))
				continue;
		} else if (!killed) {
			continue;
		}
		(void)dc_mapping_delete(dd->m, info.first, NULL); /* -ENOENT: gone meanwhile */
	}
	if (dd->removed && dc_mapping_count(dd->m) == 0) {
		DC_BUG_ON(dc_mapping_destroy(dd->m));
		dd->m = NULL; /* from now on nothing of the device touches the region */
	}
}

/* Kill under the lock (exclusive): zap everything once, delete what may go. */
static void kill_locked(struct dc_devdax *dd)
{
	if (!atomic_load(&dd->killed)) {
		atomic_store_explicit(&dd->killed, true, memory_order_release);
		if (dd->m)
			(void)dc_mapping_zap(dd->m, 0, DC_MAPPING_INDEX_MAX, NULL, NULL);
	}
	dd__reap_locked(dd, 0, DC_MAPPING_INDEX_MAX);
}

/* ---- the holder's callbacks -------------------------------------------------------- */

/*
 * PRE_REMOVE: kill, let go of the claim, destroy the mapping when it is
 * empty (here, or at the last unpin).  POISON: zap the entries over the
 * pages, so that views lose them and the next access refaults, finds the
 * folio poisoned and gets SIGBUS (BUS_MCEERR_AR); pinned ones stay zapped
 * until their last unpin.
 */
static int dd_notify_failure(struct dc_region *r, uint64_t pgoff, uint64_t nr,
			     unsigned int flags, void *holder)
{
	struct dc_devdax *dd = holder;
	uint64_t fp = dd_entry_pages(dd), first = pgoff & ~(fp - 1), last;

	if (flags & DC_MF_PRE_REMOVE) {
		pthread_rwlock_wrlock(&dd->lock);
		if (dd->closing || dd->removed) {
			/* Close (or a failing open) gives up the claim itself, after
			 * us (its release waits for this call), and only then
			 * destroys its mapping, which holds the region until then. */
			pthread_rwlock_unlock(&dd->lock);
			return 0;
		}
		dd->removed = true;
		/* Destroys the mapping if nothing pins it: allowed here, as
		 * ->notify_failure runs outside any read-side section. */
		kill_locked(dd);
		pthread_rwlock_unlock(&dd->lock);
		(void)dc_region_release(r, dd); /* allowed from our own PRE_REMOVE */
		return 0;
	}
	if (!nr || pgoff >= dd->npages)
		return 0;
	last = pgoff + nr - 1 < dd->npages ? pgoff + nr - 1 : dd->npages - 1;
	pthread_rwlock_wrlock(&dd->lock);
	if (dd->m && !atomic_load(&dd->killed)) {
		(void)dc_mapping_zap(dd->m, first, last, NULL, NULL);
		dd__reap_locked(dd, first, last);
	}
	pthread_rwlock_unlock(&dd->lock);
	return 0;
}

static const struct dc_holder_ops dd_holder_ops = {
	.page_free = NULL,
	.notify_failure = dd_notify_failure,
};

/* ---- open, close ----------------------------------------------------------------------- */

static const char *type_name(enum dc_region_type t)
{
	return t == DC_REGION_FSDAX ? "fsdax" : t == DC_REGION_LIMITED ? "limited" : "devdax";
}

/*
 * Writers first: a kill must not wait behind a stream of faults and pins
 * (glibc's default lets readers starve it).  No path takes it shared twice
 * in one thread (a view access inside a pin or fault would; none makes one).
 */
static void init_lock(pthread_rwlock_t *l)
{
	pthread_rwlockattr_t a;

	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(l, &a);
	pthread_rwlockattr_destroy(&a);
}

/* Tests: run in teardown_locked() between its unlock and its release (a removal may come there). */
void (*dc__test_devdax_close_hook)(struct dc_devdax *dd);
/* Tests: run in open after the claim (a removal may come there). */
void (*dc__test_devdax_open_hook)(struct dc_devdax *dd);

/*
 * Close a device nobody uses (close, or an open that found the region
 * being removed) and free it; called with the lock exclusive.  Zap and
 * empty the mapping under the lock, and say (@closing) that the claim is
 * ours to give up, unless a PRE_REMOVE gave it up already (@removed).  Release the claim outside
 * the lock: a PRE_REMOVE of ours that runs meanwhile sees @closing and
 * returns, and the release waits for it.  Only then destroy the mapping:
 * until then it holds the region, so that a removal cannot free @r under
 * the release (region.h: the holder is done with @r once its mappings
 * are gone).
 */
static void teardown_locked(struct dc_devdax *dd)
{
	bool removed;

	dd->closing = true;
	atomic_store(&dd->killed, true);
	if (dd->m) {
		(void)dc_mapping_zap(dd->m, 0, DC_MAPPING_INDEX_MAX, NULL, NULL);
		/* No pin is left: every entry goes without a wait. */
		DC_BUG_ON(dc_mapping_truncate_final(dd->m, NULL));
#if DC_REGRESS_BUG == 32 /* the old bug: the mapping went before the claim */
		DC_BUG_ON(dc_mapping_destroy(dd->m));
		dd->m = NULL;
#endif
	}
	removed = dd->removed;
	pthread_rwlock_unlock(&dd->lock);
	DC_TEST_HOOK(dc__test_devdax_close_hook, dd);
	if (!removed)
		DC_BUG_ON(dc_region_release(dd->r, dd));
	/* From here nothing calls us back; a PRE_REMOVE that gave the claim
	 * up (@removed) left the mapping to us only if it held entries, and
	 * no one touches it now but us. */
	if (dd->m) {
		DC_BUG_ON(dc_mapping_destroy(dd->m));
		dd->m = NULL;
	}
	DC_BUG_ON(dc_view_file_destroy(dd->vf));
	dd__pins_free(dd);
	pthread_mutex_destroy(&dd->pin_lock);
	pthread_rwlock_destroy(&dd->lock);
	free(dd);
}

DC_API int dc_devdax_open(struct dc_region *r, struct dc_devdax **out)
{
	struct dc_devdax *dd;
	int ret;

	if (!r || !out)
		return dc__fail(-EINVAL, "devdax open: NULL argument");
	if (dc_region_type(r) != DC_REGION_DEVDAX)
		return dc__fail(-EINVAL, "devdax open: region %s is of type %s, not devdax "
				"(give it type=devdax)", dc_region_spec(r),
				type_name(dc_region_type(r)));
	dd = dc__calloc(1, sizeof(*dd));
	if (!dd)
		return dc__fail(-ENOMEM, "devdax open: no memory");
	dd->r = r;
	dd->size = dc_region_size(r);
	dd->npages = dc_region_npages(r);
	dd->forder = dc_region_folio_order(r);
	dd->order = dc_region_map_order(r) > dd->forder ? dc_region_map_order(r) : dd->forder;
	init_lock(&dd->lock);
	pthread_mutex_init(&dd->pin_lock, NULL);
#if DC_REGRESS_BUG == 34 /* the old bug: claimed first, a PRE_REMOVE meets a half-built device */
	ret = dc_region_claim(r, dd, &dd_holder_ops);
	if (ret)
		goto fail;
	DC_TEST_HOOK(dc__test_devdax_open_hook, dd);
	ret = dc_mapping_create(r, &dd_mapping_ops, dd, &dd->m);
	if (!ret) {
		ret = dc_view_file_create(r, &dd_view_ops, dd, 0, &dd->vf);
		if (ret)
			DC_BUG_ON(dc_mapping_destroy(dd->m));
	}
	if (ret) {
		DC_BUG_ON(dc_region_release(r, dd));
		goto fail;
	}
	*out = dd;
	return 0;
#else
	/*
	 * The device is complete before it is claimed, so that a PRE_REMOVE
	 * (which may come as soon as the claim is made) never meets a
	 * half-built one; and its mapping holds the region meanwhile.
	 */
	ret = dc_mapping_create(r, &dd_mapping_ops, dd, &dd->m);
	if (ret)
		goto fail;
	ret = dc_view_file_create(r, &dd_view_ops, dd, 0, &dd->vf);
	if (ret)
		goto fail_mapping;
	ret = dc_region_claim(r, dd, &dd_holder_ops);
	if (ret) {
		if (ret == -EBUSY)
			ret = dc__fail(-EBUSY, "devdax open: region %s is %s", dc_region_spec(r),
				       dc_region_holder(r) ? "held already (open as a device, "
							     "or claimed by another holder)"
							   : "busy");
		DC_BUG_ON(dc_view_file_destroy(dd->vf));
		goto fail_mapping;
	}
	DC_TEST_HOOK(dc__test_devdax_open_hook, dd);
	/*
	 * A removal that began after the mapping was made: its PRE_REMOVE came
	 * to this device (@removed), or missed the claim (@r dead, and our
	 * mapping, not destroyed, holds it).  Under the lock no PRE_REMOVE
	 * runs; after it, one sees a complete device.
	 */
	pthread_rwlock_wrlock(&dd->lock);
	if (dd->removed || !dc_region_alive(r)) {
		/* @r may be gone once the device is (a PRE_REMOVE destroyed the
		 * mapping): the message does not name it. */
		teardown_locked(dd);
		return dc__fail(-ENXIO, "devdax open: the region is being removed");
	}
	pthread_rwlock_unlock(&dd->lock);
	*out = dd;
	return 0;
fail_mapping:
	DC_BUG_ON(dc_mapping_destroy(dd->m));
#endif
fail:
	pthread_mutex_destroy(&dd->pin_lock);
	pthread_rwlock_destroy(&dd->lock);
	free(dd);
	return ret;
}

static bool no_users(void *arg)
{
	return atomic_load(&((struct dc_devdax *)arg)->users) == 0;
}

DC_API int dc_devdax_close(struct dc_devdax *dd, const struct dc_wait_opts *opts)
{
	struct dc_wait_opts wo = { 0 };
	int ret;

	if (!dd)
		return dc__fail(-EINVAL, "devdax close: NULL device");
	if (opts) {
		wo.deadline_ns = opts->deadline_ns;
		wo.cancel = opts->cancel;
	}
	for (;;) {
		uint64_t u = atomic_load(&dd->users);

		if (u && !opts)
			return dc__fail(-EBUSY, "devdax close: %llu views and pin sets remain",
					(unsigned long long)u);
		ret = dc_wait_var(&dd->users, no_users, dd, &wo);
		if (ret)
			return dc__fail(ret, "devdax close: %llu views and pin sets remain",
					(unsigned long long)atomic_load(&dd->users));
		pthread_rwlock_wrlock(&dd->lock);
		if (!atomic_load(&dd->users))
			break; /* with the lock: nothing new can start (the caller's promise) */
		pthread_rwlock_unlock(&dd->lock);
	}
	teardown_locked(dd);
	return 0;
}

/* ---- views, kill -------------------------------------------------------------------------- */

#define MAP_FLAGS (DC_DEVDAX_MAP_READ | DC_DEVDAX_MAP_WRITE | DC_DEVDAX_MAP_PRIVATE)

DC_API int dc_devdax_map(struct dc_devdax *dd, uint64_t off, uint64_t len, unsigned flags,
			 struct dc_view *v)
{
	uint64_t align;
	unsigned prot;
	int ret;

	if (!dd || !v)
		return dc__fail(-EINVAL, "devdax map: NULL argument");
	align = DC_PAGE_SIZE << dd->order;
	if (flags & ~MAP_FLAGS)
		return dc__fail(-EINVAL, "devdax map: unknown flags %#x", flags & ~MAP_FLAGS);
	if (flags & DC_DEVDAX_MAP_PRIVATE)
		return dc__fail(-EINVAL, "devdax map: a private (copy-on-write) mapping of a "
				"device is refused: map it shared");
	if (!(flags & (DC_DEVDAX_MAP_READ | DC_DEVDAX_MAP_WRITE)))
		return dc__fail(-EINVAL, "devdax map: no protection (READ and/or WRITE)");
	prot = (flags & DC_DEVDAX_MAP_WRITE) ? DC_VIEW_READ | DC_VIEW_WRITE : DC_VIEW_READ;
	if (!len || (off & (align - 1)) || (len & (align - 1)))
		return dc__fail(-EINVAL, "devdax map: [%llu, +%llu) is not a nonzero multiple of "
				"the device alignment (%llu bytes)", (unsigned long long)off,
				(unsigned long long)len, (unsigned long long)align);
	if (off >= dd->size || len > dd->size - off)
		return dc__fail(-ENXIO, "devdax map: [%llu, +%llu) reaches past the end of the "
				"device (%llu bytes)", (unsigned long long)off,
				(unsigned long long)len, (unsigned long long)dd->size);
	ret = dd__enter(dd, "map");
	if (ret)
		return ret;
	atomic_fetch_add(&dd->nviews, 1);
	atomic_fetch_add(&dd->users, 1);
	pthread_rwlock_unlock(&dd->lock);
	ret = dc_view_map(dd->vf, off, len, prot, v);
	if (ret)
		view_release(dd);
	return ret;
}

DC_API int dc_devdax_kill(struct dc_devdax *dd)
{
	uint64_t left;

	if (!dd)
		return dc__fail(-EINVAL, "devdax kill: NULL device");
	pthread_rwlock_wrlock(&dd->lock);
	kill_locked(dd);
	left = dd->m ? dc_mapping_count(dd->m) : 0;
	pthread_rwlock_unlock(&dd->lock);
	return (int)(left > INT32_MAX ? INT32_MAX : left);
}

/* ---- listings, stats, check -------------------------------------------------------------- */

static void entry_of(struct dc_devdax *dd, const struct dc_entry_info *info,
		     struct dc_devdax_entry *out)
{
	struct dc_folio *f = dc_entry_has_pages(info->entry)
				     ? dc_folio_lookup(dd->r, dc_entry_pgoff(info->entry))
				     : NULL;

	*out = (struct dc_devdax_entry){
		.offset = info->first << DC_PAGE_SHIFT,
		.order = info->order,
		.live = dc_entry_is_live(info->entry),
		.refcount = f ? dc_folio_refcount(f) : 0,
		.pinned = f && dc_folio_maybe_dma_pinned(f),
	};
}

DC_API int dc_devdax_entries(struct dc_devdax *dd, uint64_t off, uint64_t len,
			     struct dc_devdax_entry *out, unsigned max)
{
	struct dc_entry_info info;
	uint64_t last;
	int n = 0;

	if (!dd || (!out && max))
		return dc__fail(-EINVAL, "devdax entries: NULL argument");
	if (off >= dd->size || !len)
		return dc__fail(-EINVAL, "devdax entries: [%llu, +%llu) is outside the device "
				"(%llu bytes)", (unsigned long long)off, (unsigned long long)len,
				(unsigned long long)dd->size);
	last = len > dd->size - off ? dd->npages - 1 : (off + len - 1) >> DC_PAGE_SHIFT;
	pthread_rwlock_rdlock(&dd->lock);
	if (dd->m) {
		dc_mapping_for_each(dd->m, off >> DC_PAGE_SHIFT, last, &info) {
			if (!dc_entry_has_pages(info.entry))
				continue; /* a fault in progress, or one that failed */
			if ((unsigned)n < max)
				entry_of(dd, &info, &out[n]);
			if (n < INT32_MAX)
				n++;
		}
	}
	pthread_rwlock_unlock(&dd->lock);
	return n;
}

DC_API void dc_devdax_stats(struct dc_devdax *dd, struct dc_devdax_stats *st)
{
	struct dc_entry_info info;

	memset(st, 0, sizeof(*st));
	if (!dd)
		return;
	st->size = dd->size;
	st->align = DC_PAGE_SIZE << dd->order;
	pthread_rwlock_rdlock(&dd->lock);
	if (dd->m) {
		dc_mapping_for_each(dd->m, 0, dd->npages - 1, &info) {
			st->entries += dc_entry_has_pages(info.entry);
			st->live_entries += dc_entry_is_live(info.entry);
		}
	}
	st->killed = atomic_load(&dd->killed) && !dd->closing;
	st->removed = dd->removed;
	pthread_rwlock_unlock(&dd->lock);
	pthread_mutex_lock(&dd->pin_lock);
	st->pins = dd->npins;
	st->pinned_folios = dd->pinned_folios;
	pthread_mutex_unlock(&dd->pin_lock);
	st->views = atomic_load(&dd->nviews);
	st->faults = atomic_load(&dd->faults);
	st->sigbus = atomic_load(&dd->sigbus);
}

static bool bad(const char *what, uint64_t index)
{
	fprintf(stderr, "devdax check: entry at page %llu: %s\n", (unsigned long long)index,
		what);
	return false;
}

DC_API bool dc_devdax_check(struct dc_devdax *dd)
{
	struct dc_entry_info info;
	bool ok = true, killed;

	if (!dd)
		return false;
	pthread_rwlock_rdlock(&dd->lock);
	killed = atomic_load(&dd->killed);
	if (dd->m) {
		ok = dc_mapping_check(dd->m);
		dc_mapping_for_each(dd->m, 0, DC_MAPPING_INDEX_MAX, &info) {
			dc_entry_t e = info.entry;
			struct dc_folio *f;

			if (!ok)
				break;
			if (!dc_entry_has_pages(e))
				continue;
			f = dc_folio_lookup(dd->r, dc_entry_pgoff(e));
			if (info.order != dd->order || (info.first & (dd_entry_pages(dd) - 1)))
				ok = bad("not at the device alignment", info.first);
			else if (info.first >= dd->npages || dc_entry_pgoff(e) != info.first)
				ok = bad("does not map its own device page", info.first);
			else if (!f)
				ok = bad("its folio has no metadata", info.first);
			else if (dc_entry_is_live(e) && dc_folio_idle(f))
				ok = bad("live, but its folio is idle", info.first);
			else if (dc_entry_is_live(e) && killed)
				ok = bad("live on a killed device", info.first);
			else if (!dc_entry_is_live(e) && !entry_folios(dd, e, false))
				ok = bad("zapped and nobody pins it: it should be deleted", info.first);
			else if (!dc_entry_is_live(e) && !killed && !entry_folios(dd, e, true))
				ok = bad("zapped on a live device, not poisoned", info.first);
		}
	}
	pthread_rwlock_unlock(&dd->lock);
	return ok && dd__pins_check(dd);
}

DC_API uint64_t dc_devdax_size(const struct dc_devdax *dd) { return dd ? dd->size : 0; }

DC_API uint64_t dc_devdax_align(const struct dc_devdax *dd)
{
	return dd ? DC_PAGE_SIZE << dd->order : 0;
}

DC_API struct dc_region *dc_devdax_region(const struct dc_devdax *dd)
{
	struct dc_devdax *d = (struct dc_devdax *)dd;
	struct dc_region *r;

	if (!dd)
		return NULL;
	pthread_rwlock_rdlock(&d->lock);
	r = d->removed ? NULL : d->r;
	pthread_rwlock_unlock(&d->lock);
	return r;
}

/* pin.c needs the owner ops to recognise its own views. */
const struct dc_view_owner_ops *dd__view_ops(void)
{
	return &dd_view_ops;
}
