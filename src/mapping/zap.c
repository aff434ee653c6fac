/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * zap.c - taking entries away: zap, delete, truncate, truncate_final,
 * invalidate, and writeback; and the mapping's invariant check.
 *
 * Zap works in batches of entries gathered in one walk, with no allocation:
 *   1. under the tree lock: wait for each entry to be unlocked, mark each
 *      live real entry ZAP (lockless pinners now fail, invariant 3);
 *   2. full fence (pairs with the pinner's "take ref, re-read entry");
 *   3. without the tree lock: ->revoke, then drop the mapping's references.
 * Then any folio of a zapped entry that is not idle is busy: a pin that
 * re-read the entry before step 1 holds it, and the caller waits for it.
 * A fault may re-insert a zapped entry during step 3: it takes references
 * of its own, so the counts stay exact.  Zap and delete of one range are
 * serialised by the owner (its invalidate lock, as in the kernel); a delete
 * racing step 3 would find the folio still referenced and refuse.
 */
#include "mapping/mapping_int.h"

#include <string.h>

#define BATCH 64
#define FINAL_WAIT_SLICE_NS 10000000ull /* 10 ms */

static inline uint64_t entry_last(uint64_t first, dc_entry_t e)
{
	return first + (UINT64_C(1) << dc_entry_order(e)) - 1;
}

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

	if (!n || entry_last(it[n - 1].first, it[n - 1].value) >= last)
		*done = true;
	else
		*next = entry_last(it[n - 1].first, it[n - 1].value) + 1;
	return n;
}

/*
 * gather_batch(), waiting for a locked entry first (the tree lock is dropped
 * and retaken meanwhile, so the batch is gathered again): every item
 * returned is unlocked.
 */
static unsigned gather_unlocked(struct dc_mapping *m, uint64_t *next, uint64_t last,
				struct dc_index_item *it, unsigned max, bool *done)
{
	uint64_t at = *next;
	unsigned n;

again:
	*next = at;
	n = gather_batch(m, next, last, it, max, done);
	for (unsigned k = 0; k < n; k++) {
		if (dc_entry_is_locked(it[k].value)) {
			uint64_t f;
			dc_entry_t e = dc__get_unlocked_entry(m, it[k].first, &f);

			if (e) /* we will not lock it: pass the wake-up on */
				dc__entry_wake(m, f, DC__WAKE_NEXT);
			*done = false;
			goto again;
		}
	}
	return n;
}

/*
 * Drop the references of the zapped entries @z[0..n): one batched put for
 * the single-folio entries, per entry for the others; note the first busy.
 */
static void zap_put_refs(struct dc_mapping *m, const struct dc_index_item *z, unsigned n,
			 struct dc_folio **b, uint64_t *b_at)
{
	struct dc_folio *fs[BATCH], *f;
	uint64_t at[BATCH];
	unsigned nf = 0;

	for (unsigned k = 0; k < n; k++) {
		dc_entry_t e = z[k].value & ~DC_ENTRY_ZAP;

		if (dc_entry_order(e) == m->region->order &&
		    (f = dc__folio_lookup(m->region, dc_entry_pgoff(e)))) {
			at[nf] = z[k].first;
			fs[nf++] = f;
		} else {
			note_busy(dc__entry_put_refs(m, e), z[k].first, b, b_at);
		}
	}
	if (nf && (f = dc__folios_put(m->region, fs, nf))) {
		unsigned k = 0;

		while (fs[k] != f)
			k++;
		note_busy(f, at[k], b, b_at);
	}
}

DC_API int dc_mapping_zap(struct dc_mapping *m, uint64_t first, uint64_t last,
			  struct dc_folio **busy)
{
	struct dc_index_item it[BATCH], z[BATCH];
	struct dc_folio *b = NULL;
	uint64_t b_at = 0, next = first;
	int total = 0, ret = dc__check_range(first, &last);
	bool done = false;

	if (ret)
		return ret;
	while (!done) {
		unsigned n, nz = 0;

		dc_index_lock(m->ix);
		n = gather_unlocked(m, &next, last, it, BATCH, &done);
		for (unsigned k = 0; k < n; k++) {
			dc_entry_t e = it[k].value;

			if (!dc_entry_is_real(e))
				continue;
			if (dc_entry_is_zapped(e)) { /* zapped earlier: maybe still pinned */
				note_busy(dc__entry_busy_folio(m, e), it[k].first, &b, &b_at);
				continue;
			}
			z[nz] = it[k];
			z[nz++].value = e | DC_ENTRY_ZAP;
		}
		/* From here lockless pinners fail on these entries (invariant 3). */
		if (nz && dc_index_replace_batch_locked(m->ix, z, nz) != nz)
			DC_BUG("zap: %u entries gathered under the tree lock vanished", nz);
		dc_index_unlock(m->ix);
		/* Pairs with dc_mapping_get_folio(): "take ref, re-read entry". */
		atomic_thread_fence(memory_order_seq_cst);
		for (unsigned k = 0; k < nz; k++)
			dc__entry_revoke(m, z[k].first, z[k].value & ~DC_ENTRY_ZAP);
		zap_put_refs(m, z, nz, &b, &b_at);
		total += (int)nz;
	}
	if (busy)
		*busy = b;
	return total;
}

/*
 * Whether entry @e (unlocked) may be deleted now: ZERO/EMPTY always; a real
 * entry when zapped and all its folios idle.
 */
static bool deletable(struct dc_mapping *m, dc_entry_t e)
{
	if (!dc_entry_is_real(e))
		return true;
	return dc_entry_is_zapped(e) && !dc__entry_busy_folio(m, e);
}

/* Remove unlocked entry @e at @first.  Tree lock held. */
static void remove_entry(struct dc_mapping *m, uint64_t first, dc_entry_t e)
{
	if (dc_entry_is_real(e))
		dc__entry_disassociate(m, first, e);
	dc_index_erase_locked(m->ix, first);
	dc__entry_wake(m, first, DC__WAKE_ALL);
}

static void violation(struct dc_mapping *m, uint64_t first, dc_entry_t e)
{
	atomic_fetch_add(&m->violations, 1);
	dc__fail(-EBUSY, "delete: entry at %llu is %s: zap it and wait for its pins first",
		 (unsigned long long)first, dc_entry_is_zapped(e) ? "zapped but busy" : "live");
}

DC_API int dc_mapping_delete(struct dc_mapping *m, uint64_t index)
{
	uint64_t first;
	dc_entry_t e;

	dc_index_lock(m->ix);
	e = dc__get_unlocked_entry(m, index, &first);
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
static int truncate_range(struct dc_mapping *m, uint64_t first, uint64_t last, bool count)
{
	struct dc_index_item it[BATCH];
	uint64_t next = first;
	bool stayed = false, done = false;

	while (!done) {
		unsigned n, nz = 0, ndel = 0;
		struct dc_index_item zero[BATCH];

		dc_index_lock(m->ix);
		n = gather_unlocked(m, &next, last, it, BATCH, &done);
		for (unsigned k = 0; k < n; k++) {
			dc_entry_t e = it[k].value;

			if (!deletable(m, e)) {
				stayed = true;
				if (count)
					violation(m, it[k].first, e);
				it[k].value = 0; /* stays */
				continue;
			}
			ndel++;
			if (dc_entry_is_real(e))
				dc__entry_disassociate(m, it[k].first, e);
			else if (dc_entry_is_zero(e))
				zero[nz++] = it[k];
		}
		if (ndel && ndel == n)
			dc_index_erase_range_locked(m->ix, it[0].first,
					       entry_last(it[n - 1].first, it[n - 1].value));
		for (unsigned k = 0; k < n; k++) {
			if (!it[k].value)
				continue;
			if (ndel != n)
				dc_index_erase_locked(m->ix, it[k].first);
			dc__entry_wake(m, it[k].first, DC__WAKE_ALL);
		}
		dc_index_unlock(m->ix);
		for (unsigned k = 0; k < nz; k++)
			dc__entry_revoke(m, zero[k].first, zero[k].value);
	}
	return stayed ? -EBUSY : 0;
}

DC_API int dc_mapping_truncate(struct dc_mapping *m, uint64_t first, uint64_t last)
{
	int ret = dc__check_range(first, &last);

	if (ret)
		return ret;
	ret = truncate_range(m, first, last, true);
	return ret ? dc__fail(ret, "truncate [%llu, %llu]: live or busy entries stayed",
			      (unsigned long long)first, (unsigned long long)last) : 0;
}

DC_API int dc_mapping_truncate_final(struct dc_mapping *m, const struct dc_wait_opts *opts)
{
	atomic_store(&m->exiting, 1);
	for (;;) {
		struct dc_folio *busy;
		int ret = dc_mapping_zap(m, 0, DC_MAPPING_INDEX_MAX, &busy);

		if (ret < 0)
			return ret;
		if (busy) {
			/*
			 * A pin outlives the mapping's references: wait (patch 05).
			 * In slices: a fault that grabbed before we marked the
			 * mapping exiting may map the folio again, and then only
			 * the next zap makes it idle.
			 */
			struct dc_wait_opts w = { .cancel = opts ? opts->cancel : NULL };
			uint64_t slice = dc_now_ns() + FINAL_WAIT_SLICE_NS;

			w.deadline_ns = opts && opts->deadline_ns && opts->deadline_ns < slice
						? opts->deadline_ns : slice;
			ret = dc_folio_wait_idle(busy, 0, &w);
			if (ret == -ETIMEDOUT && w.deadline_ns == slice)
				continue;
			if (ret)
				return dc__fail(ret, "truncate_final: page %llu is still pinned",
						(unsigned long long)dc_folio_pgoff(busy));
			continue;
		}
		/* Not counted as violations: a fault that grabbed before exiting
		 * may insert after the zap; the next round zaps it. */
		if (!truncate_range(m, 0, DC_MAPPING_INDEX_MAX, false) && !dc_index_count(m->ix))
			return 0;
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
			if (!dc_entry_is_real(e) || dc_entry_is_zapped(e)) {
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
		for (unsigned k = 0; k < nzero; k++)
			dc__entry_revoke(m, zero[k].first, zero[k].value);
		if (!nz)
			continue;
		atomic_thread_fence(memory_order_seq_cst);
		for (unsigned k = 0; k < nz; k++) {
			dc__entry_revoke(m, z[k].first, z[k].value);
			dc__entry_put_refs(m, z[k].value);
		}
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
 * a negative errno from the flush (DIRTY kept, TOWRITE set again).
 */
static int writeback_one(struct dc_mapping *m, uint64_t f, unsigned o)
{
	uint64_t ef;
	dc_entry_t e;
	int ret;

	dc_index_lock(m->ix);
	e = dc__get_unlocked_entry(m, f, &ef);
	if (!e || ef != f || !dc_index_get_mark(m->ix, f, DC_MARK_TOWRITE) ||
	    !dc_entry_is_real(e)) {
		if (e && ef == f && !dc_entry_is_real(e)) { /* a hole has nothing to write */
			dc_index_clear_mark_locked(m->ix, f, DC_MARK_TOWRITE);
			dc_index_clear_mark_locked(m->ix, f, DC_MARK_DIRTY);
		}
		dc_index_unlock(m->ix);
		if (e) /* we will not lock it: pass the wake-up on */
			dc__entry_wake(m, ef, DC__WAKE_NEXT);
		return 0;
	}
	dc_index_clear_mark_locked(m->ix, f, DC_MARK_TOWRITE);
	dc__entry_store(m, f, e | DC_ENTRY_LOCKED);
	dc_index_unlock(m->ix);

	if (m->ops && m->ops->mkclean)
		m->ops->mkclean(m, f, UINT64_C(1) << o, m->priv);
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

DC_API int dc_mapping_writeback(struct dc_mapping *m, uint64_t first, uint64_t last)
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
		if (f + (UINT64_C(1) << o) - 1 >= last)
			break;
		i = f + (UINT64_C(1) << o);
	}
	dc_index_unlock(m->ix);

	/* 2. Write each tagged entry under its entry lock. */
	for (i = first; dc_index_find_marked(m->ix, i, last, DC_MARK_TOWRITE, &f, &o);) {
		ret = writeback_one(m, f, o);
		if (ret < 0)
			return ret;
		if (ret == 0)
			continue; /* the entry changed meanwhile: look again from i */
		done++;
		if (f + (UINT64_C(1) << o) - 1 >= last)
			break;
		i = f + (UINT64_C(1) << o);
	}
	return done;
}

DC_API bool dc_mapping_check(struct dc_mapping *m)
{
	uint64_t i = 0, f;
	unsigned o;
	dc_entry_t e;
	bool ok = dc_index_check(m->ix);

	while (ok && (e = dc_index_find(m->ix, i, DC_MAPPING_INDEX_MAX, &f, &o))) {
		const char *why = NULL;

		if (dc_entry_is_locked(e))
			why = "entry left locked";
		else if (o != dc_entry_order(e))
			why = "index order differs from the entry's";
		else if (dc_entry_is_real(e)) {
			struct dc_region *r = m->region;

			for (uint64_t pg = dc_entry_pgoff(e); !why && pg < dc_entry_pgoff(e) + (1ull << o);
			     pg += 1ull << r->order) {
				struct dc_folio *fo = dc_folio_lookup(r, pg);
				uint64_t want = dc__owner_word(m, f + (pg - dc_entry_pgoff(e)));

				if (!fo)
					why = "folio of a real entry was never requested";
				else if (!dc_entry_is_zapped(e) && dc_folio_idle(fo))
					why = "live entry's folio is idle (reference missing)";
				else if (!dc_folio_shares(fo) && dc_folio_owner(fo) != want)
					why = "folio not associated with (mapping, index)";
				else if (dc_folio_poisoned(fo) && !dc_entry_is_zapped(e))
					why = "poisoned folio still mapped";
			}
		}
		if (why) {
			fprintf(stderr, "dc_mapping_check: mapping %u index %llu entry %#llx "
				"(order %u): %s\n", m->id, (unsigned long long)f,
				(unsigned long long)e, o, why);
			ok = false;
		}
		if (f + (1ull << o) - 1 >= DC_MAPPING_INDEX_MAX)
			break;
		i = f + (1ull << o);
	}
	return ok;
}
