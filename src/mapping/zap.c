/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * zap.c - taking entries away: zap, break layouts, delete, truncate,
 * truncate_final, invalidate, and writeback; and the mapping's invariant
 * check.
 *
 * Zap works in batches of entries gathered in one walk, with no allocation:
 *   1. under the tree lock: wait for each entry to be unlocked, mark each
 *      live real entry ZAP (lockless pinners now fail, invariant 3);
 *   2. full fence (pairs with the pinner's "take ref, re-read entry");
 *   3. without the tree lock: ->revoke, then uncount each folio mapped and
 *      drop the mapping's references.
 * Then any folio of a zapped entry that is busy (held beyond the live
 * entries of the files sharing it) is held by a pin that re-read the entry
 * before step 1, or a transient user, and the caller waits for it.
 * A fault may re-insert a zapped entry during step 3: it takes references
 * of its own, so the counts stay exact.  Zap and delete of one range are
 * serialised by the owner (its invalidate lock, as in the kernel); a delete
 * racing step 3 would find the folio still referenced and refuse.
 */
#include "mapping/mapping_int.h"

#include <string.h>

#define BATCH DC__CHUNK
#define BREAK_WAIT_SLICE_NS 10000000ull /* 10 ms */

/* Remember @f (busy, in the entry at @first) if it is the lowest so far. */
static void note_busy(struct dc_folio *f, uint64_t first, struct dc_folio **busy,
		      uint64_t *busy_at)
{
	if (f && (!*busy || first < *busy_at)) {
		*busy = f;
		*busy_at = first;
	}
}

/*
 * The next batch of entries in [*next, last]: advance *next past it, or set
 * *done when it reaches @last (or is empty).  Tree lock held.
 */
static unsigned gather_batch(struct dc_mapping *m, uint64_t *next, uint64_t last,
			     struct dc_index_item *it, unsigned max, bool *done)
{
	unsigned n = dc_index_gather(m->ix, *next, last, it, max);

	if (!n || !dc__next_index(it[n - 1].first, it[n - 1].order, last, next))
		*done = true;
	return n;
}

/*
 * gather_batch(), waiting for a locked entry first (the tree lock is dropped
 * and retaken meanwhile, so the batch is gathered again): every item
 * returned is unlocked.  Return: the count, or -ETIMEDOUT / -EINTR.
 */
static int gather_unlocked(struct dc_mapping *m, uint64_t *next, uint64_t last,
			   struct dc_index_item *it, unsigned max, bool *done,
			   const struct dc_wait_opts *opts)
{
	uint64_t at = *next;
	unsigned n;

again:
	*next = at;
	*done = false;
	n = gather_batch(m, next, last, it, max, done);
	for (unsigned k = 0; k < n; k++) {
		if (dc_entry_is_locked(it[k].value)) {
			uint64_t f;
			dc_entry_t e;
			int ret = dc__get_unlocked_entry(m, it[k].first, opts, &e, &f);

			if (ret)
				return ret;
			dc__put_unlocked_entry(m, f, e); /* we will not lock it */
			goto again;
		}
	}
	return (int)n;
}

/*
 * Whether every folio of the multi-folio entry @e is unshared (then step 1
 * uncounts them all under the tree lock, which keeps them unshared).
 */
static bool all_unshared(struct dc_mapping *m, dc_entry_t e)
{
	struct dc_folio *f;

	for_each_entry_folio(m, e, 0, pg, at, f)
		if (dc__own_shared(dc__folio_owner_word(f)))
			return false;
	return true;
}

static void uncount_all(struct dc_mapping *m, uint64_t first, dc_entry_t e)
{
	struct dc_folio *f;

	for_each_entry_folio(m, e, first, pg, at, f)
		if (!dc__folio_unmap_if_unshared(f, dc__owner_word(m, at)))
			DC_BUG("zap: a folio of entry %llu became shared under the tree lock",
			       (unsigned long long)first);
}

/*
 * Step 1's bookkeeping, under the tree lock (so that no fault re-inserts or
 * replaces an entry before its folios are uncounted): the folios of an
 * entry whose folios are all unshared are uncounted here (plain stores of
 * the MAPPED bits, @done[k]); an entry with a shared folio stays LOCKED
 * through step 3, where its folios are uncounted with no fault racing, and
 * is unlocked after.  @zf[k]: the folio of a single-folio entry.
 */
static void zap_uncount(struct dc_mapping *m, struct dc_index_item *z, unsigned n,
			struct dc_folio **zf, bool *done)
{
	for (unsigned k = 0; k < n; k++) {
		dc_entry_t e = z[k].value;
		struct dc_folio *f = NULL;

		done[k] = false;
		if (dc_entry_order(e) == m->region->order) {
			if ((f = dc__folio_lookup(m->region, dc_entry_pgoff(e))) &&
			    DC_REGRESS_BUG != 14) /* 14, the old bug: uncount after the lock */
				done[k] = dc__folio_unmap_if_unshared(f,
								      dc__owner_word(m, z[k].first));
		} else if (DC_REGRESS_BUG != 14 && all_unshared(m, e)) {
			uncount_all(m, z[k].first, e);
			done[k] = true;
		}
		if (!done[k] && DC_REGRESS_BUG != 14)
			z[k].value |= DC_ENTRY_LOCKED;
		zf[k] = f;
	}
}

/*
 * Uncount and put the one folio @f of the locked entry at @first; an idle
 * transition it owes goes to @idle[*ni] (run after the entry is unlocked:
 * a ->page_free may wait for it).
 */
static struct dc_folio *zap_put_one(struct dc_mapping *m, uint64_t first, struct dc_folio *f,
				    struct dc_folio **idle, unsigned *ni)
{
	bool shared = dc__folio_unmap_begin(f, dc__owner_word(m, first));
	unsigned nh, n = dc__folios_put_defer(&f, 1, idle + *ni, NULL, &nh);

	if (DC_REGRESS_BUG == 16) { /* the old bug: ->page_free inside the transition */
		dc__folios_idle(m->region, idle + *ni, n);
		n = 0;
	}
	if (shared)
		dc__folio_unmap_end(f);
	*ni += n;
	return nh && dc__folio_busy(f) ? f : NULL;
}

/*
 * Step 3 for the zapped entries @z[0..n) (after ->revoke): first the
 * LOCKED ones, each uncounted and put whole (a sharer transition never
 * stays open across another entry, a tree lock or a callback), then unlock
 * them and run the idle transitions (->page_free) their single folios owe;
 * then the puts of the entries uncounted in step 1 (one batch for the
 * single-folio ones).  Note the first busy folio.
 */
static void zap_put_refs(struct dc_mapping *m, const struct dc_index_item *z, unsigned n,
			 struct dc_folio *const *zf, const bool *done, struct dc_folio **b,
			 uint64_t *b_at)
{
	struct dc_folio *fs[BATCH], *idle[BATCH];
	uint64_t at[BATCH];
	unsigned nf = 0, ni = 0, nlocked = 0;
	int bk;

	for (unsigned k = 0; k < n; k++) {
		dc_entry_t e = z[k].value & ~(DC_ENTRY_ZAP | DC_ENTRY_LOCKED);
		bool one = dc_entry_order(e) == m->region->order;

		if (done[k] && one) {
			at[nf] = z[k].first;
			fs[nf++] = zf[k];
		} else if (done[k]) {
			note_busy(dc__entry_unmap_put(m, z[k].first, e, true), z[k].first, b, b_at);
		} else if (one) {
			if (zf[k])
				note_busy(zap_put_one(m, z[k].first, zf[k], idle, &ni), z[k].first,
					  b, b_at);
			nlocked++;
		} else {
			/* A reflinked huge entry: its ->page_free calls run while
			 * it is still locked (see struct dc_holder_ops). */
			note_busy(dc__entry_unmap_put(m, z[k].first, e, false), z[k].first, b, b_at);
			nlocked++;
		}
	}
	if (nlocked) { /* step 3 is over for them: unlock */
		dc_index_lock(m->ix);
		for (unsigned k = 0; k < n; k++) {
			if (!(z[k].value & DC_ENTRY_LOCKED))
				continue;
			dc__entry_store(m, z[k].first, z[k].value & ~DC_ENTRY_LOCKED);
			dc__entry_wake(m, z[k].first, DC__WAKE_NEXT);
		}
		dc_index_unlock(m->ix);
	}
	dc__folios_idle(m->region, idle, ni);
	if (nf && (bk = dc__put_chunk(m, fs, NULL, nf)) >= 0) /* unshared: no transition */
		note_busy(fs[bk], at[bk], b, b_at);
}

/* Zap [first, last]; the first busy folio and the index of its entry. */
static int zap_range(struct dc_mapping *m, uint64_t first, uint64_t last,
		     const struct dc_wait_opts *opts, struct dc_folio **busy, uint64_t *busy_at)
{
	struct dc_index_item it[BATCH], z[BATCH];
	struct dc_folio *b = NULL, *zf[BATCH];
	uint64_t b_at = 0, next = first;
	int total = 0, ret = 0;
	bool done = false, uncounted[BATCH];

	while (!done) {
		unsigned nz = 0;
		int n;

		dc_index_lock(m->ix);
		n = gather_unlocked(m, &next, last, it, BATCH, &done, opts);
		if (n < 0) {
			dc_index_unlock(m->ix);
			ret = n;
			break;
		}
		for (int k = 0; k < n; k++) {
			dc_entry_t e = it[k].value;

			if (!dc_entry_has_pages(e))
				continue;
			if (dc_entry_is_zapped(e)) { /* zapped earlier: maybe still pinned */
				note_busy(dc__entry_busy_folio(m, e), it[k].first, &b, &b_at);
				continue;
			}
			z[nz] = it[k];
			z[nz++].value = e | DC_ENTRY_ZAP;
		}
		zap_uncount(m, z, nz, zf, uncounted);
		/* From here lockless pinners fail on these entries (invariant 3). */
		if (nz && dc_index_replace_batch_locked(m->ix, z, nz) != nz)
			DC_BUG("zap: %u entries gathered under the tree lock vanished", nz);
		dc_index_unlock(m->ix);
		/* Pairs with dc_mapping_get_folio(): "take ref, re-read entry". */
		dc__smp_mb();
		dc__entries_revoke(m, z, nz);
		zap_put_refs(m, z, nz, zf, uncounted, &b, &b_at);
		total += (int)nz;
	}
	if (busy)
		*busy = b;
	if (busy_at)
		*busy_at = b_at;
	return ret ? ret : total;
}

DC_API int dc_mapping_zap(struct dc_mapping *m, uint64_t first, uint64_t last,
			  const struct dc_wait_opts *opts, struct dc_folio **busy)
{
	int ret = dc__check_range(first, &last);

	if (busy)
		*busy = NULL;
	if (ret)
		return ret;
	return zap_range(m, first, last, opts, busy, NULL);
}

/* The file page index inside the entry at @at that @f backs (for reports). */
static uint64_t busy_index(struct dc_mapping *m, uint64_t at, struct dc_folio *f)
{
	dc_entry_t e = dc_index_load(m->ix, at);

	if (!dc_entry_has_pages(e) || dc_folio_pgoff(f) < dc_entry_pgoff(e))
		return at;
	return at + (dc_folio_pgoff(f) - dc_entry_pgoff(e));
}

/*
 * The break-layouts loop, shared by dc_mapping_break_layouts() and
 * dc_mapping_truncate_final(): zap, and while a folio is busy wait for it
 * in slices (a fault may map it again: only the next zap makes it go),
 * calling the owner's callbacks around each sleep.
 */
static int break_layouts(struct dc_mapping *m, uint64_t first, uint64_t last,
			 const struct dc_wait_opts *opts, const struct dc_break_report *report)
{
	struct dc_folio *reported = NULL;
	int waits = 0;

	for (;;) {
		struct dc_wait_opts w = opts ? *opts : (struct dc_wait_opts){ 0 };
		struct dc_folio *busy;
		uint64_t at, slice;
		int ret = zap_range(m, first, last, opts, &busy, &at);

		if (ret < 0)
			return ret;
		if (!busy)
			return waits;
		if (busy != reported) {
			waits++;
			reported = busy;
			if (report && report->waiting) {
				dc__cb_enter();
				report->waiting(m, busy_index(m, at, busy), busy, report->arg);
				dc__cb_exit();
			}
		}
		slice = dc_now_ns() + BREAK_WAIT_SLICE_NS;
		if (!w.deadline_ns || w.deadline_ns > slice)
			w.deadline_ns = slice;
		ret = dc__folio_wait_unbusy(busy, &w);
		if (ret == -ETIMEDOUT && w.deadline_ns == slice &&
		    (!opts || !opts->deadline_ns || dc_now_ns() < opts->deadline_ns))
			continue; /* a slice: zap again */
		if (ret)
			return dc__fail(ret, "break layouts: device page %llu at index %llu is "
					"still pinned", (unsigned long long)dc_folio_pgoff(busy),
					(unsigned long long)busy_index(m, at, busy));
	}
}

DC_API int dc_mapping_break_layouts(struct dc_mapping *m, uint64_t first, uint64_t last,
				    const struct dc_wait_opts *opts,
				    const struct dc_break_report *report)
{
	int ret = dc__check_range(first, &last);

	if (ret)
		return ret;
	return break_layouts(m, first, last, opts, report);
}

/*
 * Whether entry @e (unlocked) may be deleted now: ZERO/EMPTY always; one
 * with pages when zapped and none of its folios busy.
 */
static bool deletable(struct dc_mapping *m, dc_entry_t e)
{
	if (!dc_entry_has_pages(e))
		return true;
	return dc_entry_is_zapped(e) && !dc__entry_busy_folio(m, e);
}

/* Remove unlocked entry @e at @first.  Tree lock held. */
static void remove_entry(struct dc_mapping *m, uint64_t first, dc_entry_t e)
{
	if (dc_entry_has_pages(e))
		dc__entry_disassoc(m, first, e, true);
	dc_index_erase_locked(m->ix, first);
	dc__entry_wake(m, first, DC__WAKE_ALL);
}

static void violation(struct dc_mapping *m, uint64_t first, dc_entry_t e)
{
	atomic_fetch_add(&m->violations, 1);
	dc__fail(-EBUSY, "delete: entry at %llu is %s: zap it and wait for its pins first",
		 (unsigned long long)first, dc_entry_is_zapped(e) ? "zapped but busy" : "live");
}

DC_API int dc_mapping_delete(struct dc_mapping *m, uint64_t index,
			     const struct dc_wait_opts *opts)
{
	uint64_t first;
	dc_entry_t e;
	int ret;

	if (index > DC_MAPPING_INDEX_MAX)
		return dc__fail(-EINVAL, "delete: index %llu beyond 2^40",
				(unsigned long long)index);
	dc_index_lock(m->ix);
	ret = dc__get_unlocked_entry(m, index, opts, &e, &first);
	if (ret) {
		dc_index_unlock(m->ix);
		return ret;
	}
	if (!e) {
		dc_index_unlock(m->ix);
		return dc__fail(-ENOENT, "delete: no entry at %llu", (unsigned long long)index);
	}
	if (!deletable(m, e)) {
		violation(m, first, e);
		dc_index_unlock(m->ix);
		dc__entry_wake(m, first, DC__WAKE_NEXT);
		return -EBUSY;
	}
	remove_entry(m, first, e);
	dc_index_unlock(m->ix);
	if (dc_entry_is_zero(e))
		dc__entry_revoke(m, first, e);
	return 0;
}

/*
 * Delete what can be deleted in [first, last] (entries covering any index in
 * it, whole); -EBUSY if anything stayed.  A batch in which every entry can
 * go is erased with one range erase.
 */
static int truncate_range(struct dc_mapping *m, uint64_t first, uint64_t last, bool count,
			  const struct dc_wait_opts *opts, unsigned *abandoned)
{
	struct dc_index_item it[BATCH];
	uint64_t next = first;
	bool stayed = false, done = false;

	while (!done) {
		unsigned nz = 0, ndel = 0;
		struct dc_index_item zero[BATCH];
		int n;

		dc_index_lock(m->ix);
		n = gather_unlocked(m, &next, last, it, BATCH, &done, opts);
		if (n < 0) {
			dc_index_unlock(m->ix);
			return n;
		}
		for (int k = 0; k < n; k++) {
			dc_entry_t e = it[k].value;

			if (abandoned && dc_entry_is_zapped(e) && !deletable(m, e)) {
				(*abandoned)++; /* the owner keeps its blocks until idle */
			} else if (!deletable(m, e)) {
				stayed = true;
				if (count)
					violation(m, it[k].first, e);
				it[k].value = 0; /* stays */
				continue;
			}
			ndel++;
			if (dc_entry_has_pages(e))
				dc__entry_disassoc(m, it[k].first, e, true);
			else if (dc_entry_is_zero(e))
				zero[nz++] = it[k];
		}
		if (ndel && ndel == (unsigned)n)
			dc_index_erase_range_locked(m->ix, it[0].first,
						    dc__entry_last(it[n - 1].first, it[n - 1].value));
		for (int k = 0; k < n; k++) {
			if (!it[k].value)
				continue;
			if (ndel != (unsigned)n)
				dc_index_erase_locked(m->ix, it[k].first);
			dc__entry_wake(m, it[k].first, DC__WAKE_ALL);
		}
		dc_index_unlock(m->ix);
		dc__entries_revoke(m, zero, nz);
	}
	return stayed ? -EBUSY : 0;
}

DC_API int dc_mapping_truncate(struct dc_mapping *m, uint64_t first, uint64_t last,
			       const struct dc_wait_opts *opts)
{
	int ret = dc__check_range(first, &last);

	if (ret)
		return ret;
	ret = truncate_range(m, first, last, true, opts, NULL);
	if (ret == -EBUSY)
		return dc__fail(ret, "truncate [%llu, %llu]: live or busy entries stayed",
				(unsigned long long)first, (unsigned long long)last);
	return ret;
}

DC_API int dc_mapping_truncate_final(struct dc_mapping *m, const struct dc_wait_opts *opts)
{
	atomic_store(&m->exiting, 1);
	for (;;) {
		int ret = break_layouts(m, 0, DC_MAPPING_INDEX_MAX, opts, NULL);

		if (ret < 0)
			return ret;
		/* Not counted as violations: a fault that grabbed before exiting
		 * may insert after the zap; the next round zaps it. */
		ret = truncate_range(m, 0, DC_MAPPING_INDEX_MAX, false, opts, NULL);
		if (ret && ret != -EBUSY)
			return ret;
		if (!ret && !dc_index_count(m->ix))
			return 0;
		if (opts && opts->cancel && dc_cancel_fired(opts->cancel))
			return dc__fail(-EINTR, "truncate_final: cancelled");
		if (opts && opts->deadline_ns && dc_now_ns() >= opts->deadline_ns)
			return dc__fail(-ETIMEDOUT, "truncate_final: deadline passed with %llu "
					"entries left", (unsigned long long)dc_index_count(m->ix));
	}
}

DC_API int dc_mapping_abandon(struct dc_mapping *m, uint64_t first, uint64_t last,
			      const struct dc_wait_opts *opts)
{
	unsigned abandoned = 0;
	int ret = dc__check_range(first, &last);

	if (ret)
		return ret;
	for (;;) {
		ret = zap_range(m, first, last, opts, NULL, NULL);
		if (ret < 0)
			return ret;
		ret = truncate_range(m, first, last, false, opts, &abandoned);
		if (ret != -EBUSY) /* -EBUSY: a fault mapped part of it again: zap that too */
			return ret ? ret : (int)abandoned;
	}
}

DC_API int dc_mapping_invalidate(struct dc_mapping *m, uint64_t first, uint64_t last)
{
	struct dc_index_item it[BATCH], z[BATCH], zero[BATCH];
	uint64_t next = first;
	int dropped = 0, ret = dc__check_range(first, &last);
	bool done = false;

	if (ret)
		return ret;
	while (!done) {
		unsigned n, nz = 0, nzero = 0;

		dc_index_lock(m->ix);
		n = gather_batch(m, &next, last, it, BATCH, &done);
		for (unsigned k = 0; k < n; k++) {
			dc_entry_t e = it[k].value;
			uint64_t f = it[k].first;

			if (dc_entry_is_locked(e))
				continue; /* busy: stays, no wait */
			if (!dc_entry_is_live(e)) {
				if (deletable(m, e)) {
					remove_entry(m, f, e);
					dropped++;
					if (dc_entry_is_zero(e))
						zero[nzero++] = it[k];
				}
			} else if (!dc_index_get_mark(m->ix, f, DC_MARK_DIRTY) &&
				   !dc_index_get_mark(m->ix, f, DC_MARK_TOWRITE) &&
				   dc__entry_only_ours(m, e)) {
				dc__entry_store(m, f, e | DC_ENTRY_ZAP | DC_ENTRY_LOCKED);
				z[nz++] = it[k];
			}
		}
		dc_index_unlock(m->ix);
		dc__entries_revoke(m, zero, nzero);
		if (!nz)
			continue;
		dc__smp_mb();
		dc__entries_revoke(m, z, nz);
		for (unsigned k = 0; k < nz; k++)
			dc__entry_unmap_put(m, z[k].first, z[k].value, false);
		dc_index_lock(m->ix);
		for (unsigned k = 0; k < nz; k++) {
			dc_entry_t e = z[k].value | DC_ENTRY_ZAP;

			if (!dc__entry_busy_folio(m, e)) {
				remove_entry(m, z[k].first, e);
				dropped++;
			} else { /* a pin raced in before the zap: it stays, zapped */
				dc__entry_store(m, z[k].first, e);
				dc__entry_wake(m, z[k].first, DC__WAKE_NEXT);
			}
		}
		dc_index_unlock(m->ix);
	}
	return dropped;
}

/*
 * Write back the TOWRITE-tagged entry at @f (order @o): lock it, mkclean,
 * flush, clear DIRTY, unlock.  Return: 1 written; 0 if the entry changed
 * or vanished since it was found (or maps nothing: its marks are cleared);
 * a negative errno from the flush (DIRTY kept, TOWRITE set again) or the
 * wait.
 */
static int writeback_one(struct dc_mapping *m, uint64_t f, unsigned o,
			 const struct dc_wait_opts *opts)
{
	uint64_t ef;
	dc_entry_t e;
	int ret;

	dc_index_lock(m->ix);
	ret = dc__get_unlocked_entry(m, f, opts, &e, &ef);
	if (ret) {
		dc_index_unlock(m->ix);
		return ret;
	}
	if (!e || ef != f || !dc_index_get_mark(m->ix, f, DC_MARK_TOWRITE) ||
	    !dc_entry_has_pages(e)) {
		if (e && ef == f && !dc_entry_has_pages(e)) { /* a hole has nothing to write */
			dc_index_clear_mark_locked(m->ix, f, DC_MARK_TOWRITE);
			dc_index_clear_mark_locked(m->ix, f, DC_MARK_DIRTY);
		}
		dc_index_unlock(m->ix);
		dc__put_unlocked_entry(m, ef, e); /* we will not lock it */
		return 0;
	}
	dc_index_clear_mark_locked(m->ix, f, DC_MARK_TOWRITE);
	dc__entry_store(m, f, e | DC_ENTRY_LOCKED);
	dc_index_unlock(m->ix);

	if (m->ops && m->ops->mkclean) {
		dc__cb_enter();
		m->ops->mkclean(m, f, UINT64_C(1) << o, m->priv);
		dc__cb_exit();
	}
	ret = dc_region_flush(m->region, dc_entry_pgoff(e), UINT64_C(1) << o);

	dc_index_lock(m->ix);
	if (ret) /* keep DIRTY; tag it again for whoever retries */
		dc_index_set_mark_locked(m->ix, f, DC_MARK_TOWRITE);
	else
		dc_index_clear_mark_locked(m->ix, f, DC_MARK_DIRTY);
	dc__entry_store(m, f, e);
	dc_index_unlock(m->ix);
	dc__entry_wake(m, f, DC__WAKE_NEXT);
	return ret ? ret : 1;
}

DC_API int dc_mapping_writeback(struct dc_mapping *m, uint64_t first, uint64_t last,
				const struct dc_wait_opts *opts)
{
	uint64_t i, f;
	unsigned o;
	int done = 0, ret = dc__check_range(first, &last);

	if (ret)
		return ret;
	/* 1. Tag: only what is dirty now gets written by this call. */
	dc_index_lock(m->ix);
	for (i = first; dc_index_find_marked(m->ix, i, last, DC_MARK_DIRTY, &f, &o);) {
		dc_index_set_mark_locked(m->ix, f, DC_MARK_TOWRITE);
		if (!dc__next_index(f, o, last, &i))
			break;
	}
	dc_index_unlock(m->ix);

	/* 2. Write each tagged entry under its entry lock. */
	for (i = first; dc_index_find_marked(m->ix, i, last, DC_MARK_TOWRITE, &f, &o);) {
		ret = writeback_one(m, f, o, opts);
		if (ret < 0)
			return ret;
		if (ret == 0)
			continue; /* the entry changed meanwhile: look again from i */
		done++;
		if (!dc__next_index(f, o, last, &i))
			break;
	}
	return done;
}

/* What is wrong with entry @e at @f (order @o), or NULL. */
static const char *check_entry(struct dc_mapping *m, uint64_t f, unsigned o, dc_entry_t e)
{
	struct dc_region *r = m->region;

	if (dc_entry_is_locked(e))
		return "entry left locked";
	if (o != dc_entry_order(e))
		return "index order differs from the entry's";
	if (!dc_entry_has_pages(e))
		return NULL;
	for (uint64_t pg = dc_entry_pgoff(e); pg < dc_entry_pgoff(e) + (1ull << o);
	     pg += 1ull << r->order) {
		struct dc_folio *fo = dc_folio_lookup(r, pg);
		uint64_t want = dc__owner_word(m, f + (pg - dc_entry_pgoff(e)));
		bool live = !dc_entry_is_zapped(e);
		uint64_t w;

		if (!fo)
			return "folio of a real entry was never requested";
		w = dc__folio_owner_word(fo);
		if (live && dc_folio_idle(fo))
			return "live entry's folio is idle (reference missing)";
		if (dc__own_shared(w)) {
			if (live && !dc__own_live(w))
				return "live entry's shared folio is not counted mapped";
			if (dc__own_sharers(w) < dc__own_live(w))
				return "shared folio has more live sharers than sharers";
		} else if ((w & ~DC__OWN_MAPPED) != want) {
			return "folio not associated with (mapping, index)";
		} else if (live != !!(w & DC__OWN_MAPPED)) {
			return live ? "live entry's folio not counted mapped"
				    : "zapped entry's folio still counted mapped";
		}
		if (dc__folio_refs(fo) < dc__own_mapped(w))
			return "folio has fewer references than live entries";
		if (dc_folio_poisoned(fo) && live)
			return "poisoned folio still mapped";
	}
	return NULL;
}

DC_API bool dc_mapping_check(struct dc_mapping *m)
{
	uint64_t i = 0, f;
	unsigned o;
	dc_entry_t e;
	bool ok = dc_index_check(m->ix);

	while (ok && (e = dc_index_find(m->ix, i, DC_MAPPING_INDEX_MAX, &f, &o))) {
		const char *why = check_entry(m, f, o, e);

		if (why) {
			fprintf(stderr, "dc_mapping_check: mapping %u index %llu entry %#llx "
				"(order %u): %s\n", m->id, (unsigned long long)f,
				(unsigned long long)e, o, why);
			ok = false;
		}
		if (!dc__next_index(f, o, DC_MAPPING_INDEX_MAX, &i))
			break;
	}
	return ok;
}
