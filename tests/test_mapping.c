/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_mapping - the entry protocol, one behaviour at a time: grab (create,
 * existing, fallback, downgrade), insert (references, association, DIRTY,
 * CoW, zero page, replace, errors), unlock, zap (busy reporting), delete
 * and truncate (violations), truncate_final (waits for pins), invalidate,
 * writeback (tagging, mkclean, no livelock), lock by folio, and bad input.
 */
#include "harness.h"

static struct dc_region *R;
static int page_frees, revokes, mkcleans;
static uint64_t last_revoke_index, last_revoke_nr;

static void page_free(struct dc_region *r, struct dc_folio *f, void *h)
{
	(void)r; (void)f; (void)h;
	page_frees++;
}

static const struct dc_holder_ops hops = { .page_free = page_free };

static struct dc_mapping *M2; /* re-dirtied from mkclean in the livelock test */
static int redirty_budget;

static void on_revoke(struct dc_mapping *m, uint64_t index, uint64_t nr, void *priv)
{
	(void)m; (void)priv;
	revokes++;
	last_revoke_index = index;
	last_revoke_nr = nr;
}

static void on_mkclean(struct dc_mapping *m, uint64_t index, uint64_t nr, void *priv)
{
	(void)priv; (void)nr;
	mkcleans++;
	/* A writer that keeps dirtying new entries while writeback runs. */
	if (m == M2 && redirty_budget > 0) {
		uint64_t next = index + 1000;
		struct dc_entry_handle h;

		redirty_budget--;
		CHECK_EQ(dc_mapping_grab(m, next, 0, NULL, &h), 0);
		CHECK_EQ(dc_mapping_insert(&h, 300 + (next % 100), DC_INSERT_DIRTY), 0);
		CHECK_EQ(dc_mapping_unlock(&h), 0);
	}
}

static const struct dc_mapping_ops mops = { .revoke = on_revoke, .mkclean = on_mkclean };

/* grab + insert + unlock at @index -> device @pgoff. */
static dc_entry_t fault(struct dc_mapping *m, uint64_t index, unsigned order, uint64_t pgoff,
			unsigned flags)
{
	struct dc_entry_handle h;
	dc_entry_t e;

	CHECK_EQ(dc_mapping_grab(m, index, order, NULL, &h), 0);
	CHECK(dc_entry_is_locked(h.entry));
	CHECK_EQ(dc_mapping_insert(&h, pgoff, flags), 0);
	e = h.entry;
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	return e & ~DC_ENTRY_LOCKED;
}

/* grab + insert expecting @err; the handle is unlocked again. */
static void fault_fails(struct dc_mapping *m, uint64_t index, uint64_t pgoff, unsigned flags,
			int err)
{
	struct dc_entry_handle h;

	CHECK_EQ(dc_mapping_grab(m, index, 0, NULL, &h), 0);
	CHECK_EQ(dc_mapping_insert(&h, pgoff, flags), err);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
}

static uint32_t refs(uint64_t pgoff)
{
	struct dc_folio *f = dc_folio_lookup(R, pgoff);

	return f ? dc_folio_refcount(f) : 0;
}

static void setup(void)
{
	CHECK_EQ(dc_region_create("mem:64M", &R), 0);
	CHECK_EQ(dc_region_claim(R, &page_frees, &hops), 0);
	page_frees = revokes = mkcleans = 0;
}

static void teardown(void)
{
	CHECK_EQ(dc_region_release(R, &page_frees), 0);
	t_region_teardown(&R);
}

/* Every case ends with its mappings empty, checked and destroyed. */
static void finish(struct dc_mapping *m)
{
	CHECK(dc_mapping_check(m));
	CHECK_EQ(dc_mapping_truncate_final(m, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(m), 0);
}

TEST(grab_insert_unlock)
{
	struct dc_mapping *m;
	struct dc_entry_handle h, lk;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	CHECK_EQ(dc_mapping_grab(m, 7, 0, NULL, &h), 0);
	CHECK(dc_entry_is_empty(h.entry) && dc_entry_is_locked(h.entry));
	CHECK_EQ(h.order, 0);
	CHECK_EQ(h.index, 7);
	CHECK(h.mapping == m);
	CHECK_EQ(dc_mapping_count(m), 1);
	CHECK_EQ(dc_mapping_insert(&h, 10, 0), 0);
	CHECK(dc_entry_is_live(h.entry) && dc_entry_is_locked(h.entry));
	CHECK_EQ(dc_entry_pgoff(h.entry), 10);
	CHECK_EQ(refs(10), 1);
	CHECK_EQ(dc_folio_mapcount(dc_folio_lookup(R, 10)), 1);
	CHECK(!dc_folio_busy(dc_folio_lookup(R, 10)));
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	CHECK_EQ(dc_mapping_lookup(m, 7), h.entry & ~DC_ENTRY_LOCKED);
	CHECK(!dc_mapping_get_mark(m, 7, DC_MARK_DIRTY));
	/* The folio knows its (mapping, index). */
	CHECK_EQ(dc_mapping_lock_folio(dc_folio_lookup(R, 10), NULL, &lk), 0);
	CHECK(lk.mapping == m);
	CHECK_EQ(lk.index, 7);
	CHECK(dc_entry_is_locked(dc_mapping_lookup(m, 7)));
	CHECK_EQ(dc_mapping_unlock(&lk), 0);
	CHECK(!dc_entry_is_locked(dc_mapping_lookup(m, 7)));
	/* Grab of an existing entry locks it; re-insert of the same pages
	 * keeps the references and adds DIRTY. */
	CHECK_EQ(dc_mapping_grab(m, 7, 0, NULL, &h), 0);
	CHECK_EQ(h.entry, dc_mapping_lookup(m, 7));
	CHECK_EQ(dc_mapping_insert(&h, 10, DC_INSERT_DIRTY), 0);
	CHECK_EQ(refs(10), 1);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	CHECK(dc_mapping_get_mark(m, 7, DC_MARK_DIRTY));
	/* Replacing with other pages: revoke, old reference dropped, let go. */
	revokes = 0;
	fault(m, 7, 0, 11, 0);
	CHECK_EQ(revokes, 1);
	CHECK_EQ(refs(10), 0);
	CHECK_EQ(refs(11), 1);
	CHECK_EQ(dc_folio_owner(dc_folio_lookup(R, 10)), 0);
	CHECK(dc_mapping_check(m));
	/* Clean up: zap, truncate, destroy. */
	CHECK_EQ(dc_mapping_destroy(m), -EBUSY);
	CHECK_EQ(dc_mapping_zap(m, 0, DC_MAPPING_INDEX_MAX, NULL, NULL), 1);
	CHECK_EQ(dc_mapping_truncate(m, 0, UINT64_MAX, NULL), 0);
	CHECK_EQ(refs(11), 0);
	CHECK_EQ(dc_mapping_violations(m), 0);
	CHECK_EQ(dc_mapping_destroy(m), 0);
}

TEST(bad_input)
{
	struct dc_mapping *m;
	struct dc_entry_handle h, bad;

	CHECK_EQ(dc_mapping_create(NULL, &mops, NULL, &m), -EINVAL);
	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	/* Bad orders are refused before anything is computed from them. */
	CHECK_EQ(dc_mapping_grab(m, 0, 5, NULL, &bad), -EINVAL);
	CHECK_EQ(dc_mapping_grab(m, 0, 64, NULL, &bad), -EINVAL);
	CHECK_EQ(dc_mapping_grab(m, 0, 1000, NULL, &bad), -EINVAL);
	CHECK_EQ(dc_mapping_grab(m, 1ull << 40, 0, NULL, &bad), -EINVAL);
	CHECK_EQ(dc_mapping_grab(m, 0, 0, NULL, NULL), -EINVAL);
	CHECK_EQ(dc_mapping_grab(NULL, 0, 0, NULL, &bad), -EINVAL);
	CHECK_EQ(dc_mapping_grab(m, 3, 0, NULL, &h), 0);
	CHECK_EQ(dc_mapping_insert(&h, 5, 0x100), -EINVAL);
	CHECK_EQ(dc_mapping_insert(&h, 1ull << 30, 0), -EINVAL);
	CHECK_EQ(dc_mapping_insert(&h, 1ull << 60, 0), -EINVAL);
	CHECK_EQ(dc_mapping_insert(NULL, 5, 0), -EINVAL);
	CHECK_EQ(dc_mapping_insert(&bad, 5, 0), -EINVAL); /* a failed grab holds nothing */
	CHECK(strstr(dc_errmsg(), "holds no entry lock"));
	/* Nothing changed through all that. */
	CHECK_EQ(dc_mapping_lookup(m, 3), h.entry);
	CHECK_EQ(refs(5), 0);
	CHECK_EQ(dc_mapping_insert(&h, 5, 0), 0);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	CHECK_EQ(dc_mapping_unlock(&h), -EINVAL); /* not locked: refused, nothing changes */
	CHECK(strstr(dc_errmsg(), "holds no entry lock"));
	CHECK_EQ(dc_mapping_unlock(NULL), -EINVAL);
	CHECK(!dc_entry_is_locked(dc_mapping_lookup(m, 3)));
	CHECK_EQ(dc_mapping_zap(m, 10, 5, NULL, NULL), -EINVAL);
	CHECK_EQ(dc_mapping_truncate(m, 1ull << 41, UINT64_MAX, NULL), -EINVAL);
	CHECK_EQ(dc_mapping_invalidate(m, 9, 8), -EINVAL);
	CHECK_EQ(dc_mapping_writeback(m, 9, 8, NULL), -EINVAL);
	CHECK_EQ(dc_mapping_break_layouts(m, 9, 8, NULL, NULL), -EINVAL);
	CHECK_EQ(dc_mapping_delete(m, 1ull << 41, NULL), -EINVAL);
	/* delete of a live entry: refused, counted, nothing changes. */
	CHECK_EQ(dc_mapping_delete(m, 3, NULL), -EBUSY);
	CHECK_EQ(dc_mapping_violations(m), 1);
	CHECK_EQ(dc_mapping_truncate(m, 0, 10, NULL), -EBUSY);
	CHECK_EQ(dc_mapping_violations(m), 2);
	CHECK_EQ(refs(5), 1);
	CHECK_EQ(dc_mapping_delete(m, 4, NULL), -ENOENT);
	/* Allocation failure: the grab fails cleanly. */
	dc__fault_set(1);
	{
		int ret = dc_mapping_grab(m, 100000, 0, NULL, &h);

		dc__fault_set(0);
		if (ret) {
			CHECK_EQ(ret, -ENOMEM);
			CHECK_EQ(dc_mapping_lookup(m, 100000), 0);
			CHECK_EQ(dc_mapping_unlock(&h), -EINVAL);
		} else { /* the store needed no new node */
			CHECK_EQ(dc_mapping_unlock(&h), 0);
		}
	}
	CHECK_EQ(dc_mapping_truncate_final(m, NULL), 0);
	CHECK_EQ(dc_mapping_grab(m, 1, 0, NULL, &h), -ESHUTDOWN);
	CHECK_EQ(refs(5), 0);
	CHECK_EQ(dc_mapping_destroy(m), 0);
}

/*
 * Bug: unlock took (index, entry) and derived the first index from an
 * error's bits: after a failed insert, `unlock(m, i, e)` unlocked another
 * thread's entry and left its own locked.  With handles the failed call's
 * handle still holds its own lock, and a failed grab's handle holds none.
 */
TEST(unlock_after_error_unlocks_own_entry)
{
	struct dc_mapping *m;
	struct dc_entry_handle other, mine, failed;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	CHECK_EQ(dc_mapping_grab(m, 0, 0, NULL, &other), 0); /* "another thread's" */
	CHECK_EQ(dc_mapping_grab(m, 9, 0, NULL, &mine), 0);
	CHECK_EQ(dc_mapping_insert(&mine, 1ull << 30, 0), -EINVAL); /* fails */
	CHECK_EQ(dc_mapping_unlock(&mine), 0);                       /* its own */
	CHECK(!dc_entry_is_locked(dc_mapping_lookup(m, 9)));
	CHECK(dc_entry_is_locked(dc_mapping_lookup(m, 0)));           /* untouched */
	CHECK_EQ(dc_mapping_grab(m, 5, 33, NULL, &failed), -EINVAL);
	CHECK_EQ(dc_mapping_unlock(&failed), -EINVAL);
	CHECK(dc_entry_is_locked(dc_mapping_lookup(m, 0)));
	CHECK_EQ(dc_mapping_unlock(&other), 0);
	finish(m);
}

/*
 * Bug: unlocking index 5 with a forged order-0 entry while a locked 2 MiB
 * entry covers it aborted (DC_BUG).  Bad input is an error, never an abort,
 * and never unlocks the real entry.
 */
TEST(forged_handle_is_refused)
{
	struct dc_mapping *m;
	struct dc_entry_handle pmd, forged;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	CHECK_EQ(dc_mapping_grab(m, 0, 9, NULL, &pmd), 0);
	CHECK_EQ(pmd.order, 9);
	forged = pmd;
	forged.index = 5;
	forged.order = 0;
	forged.entry = DC_ENTRY_VALID | DC_ENTRY_LOCKED | (5ull << DC_ENTRY_PGOFF_SHIFT);
	CHECK_EQ(dc_mapping_unlock(&forged), -EINVAL);
	CHECK(strstr(dc_errmsg(), "does not match"));
	CHECK_EQ(dc_mapping_insert(&forged, 5, 0), -EINVAL);
	forged = pmd;
	forged.entry |= DC_ENTRY_ZAP; /* right range, wrong value */
	CHECK_EQ(dc_mapping_unlock(&forged), -EINVAL);
	forged = pmd;
	forged.held = 1; /* a stray nonzero is not a held handle */
	CHECK_EQ(dc_mapping_unlock(&forged), -EINVAL);
	CHECK(dc_entry_is_locked(dc_mapping_lookup(m, 5)));
	CHECK_EQ(dc_mapping_unlock(&pmd), 0);
	CHECK(!dc_entry_is_locked(dc_mapping_lookup(m, 5)));
	finish(m);
}

TEST(huge_entries)
{
	struct dc_mapping *m;
	struct dc_entry_handle h;
	dc_entry_t e;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	e = fault(m, 512 + 17, 9, 1024, 0);
	CHECK_EQ(dc_entry_order(e), 9);
	for (uint64_t p = 1024; p < 1536; p += 97)
		CHECK_EQ(refs(p), 1);
	/* Found from any index inside; a 4 KiB grab inside locks it. */
	CHECK_EQ(dc_mapping_lookup(m, 1023), e);
	CHECK_EQ(dc_mapping_grab(m, 700, 0, NULL, &h), 0);
	CHECK_EQ(dc_entry_pgoff(h.entry), 1024);
	CHECK_EQ(h.order, 9);
	CHECK_EQ(h.index, 512);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	/* Misaligned device pages for a PMD entry. */
	CHECK_EQ(dc_mapping_grab(m, 2048, 9, NULL, &h), 0);
	CHECK_EQ(dc_mapping_insert(&h, 1025, 0), -EINVAL);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	/* Fallback: 4 KiB entries inside the 2 MiB range. */
	fault(m, 4096 + 3, 0, 3000, 0);
	CHECK_EQ(dc_mapping_grab(m, 4096, 9, NULL, &h), DC_GRAB_FALLBACK);
	CHECK_EQ(dc_mapping_unlock(&h), -EINVAL); /* nothing was locked */
	/* Downgrade: a zero-page PMD gives way to a 4 KiB entry. */
	CHECK_EQ(dc_mapping_grab(m, 8192, 9, NULL, &h), 0);
	CHECK_EQ(dc_mapping_insert(&h, 0, DC_INSERT_ZERO), 0);
	CHECK(dc_entry_is_zero(h.entry));
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	revokes = 0;
	CHECK_EQ(dc_mapping_grab(m, 8192 + 5, 0, NULL, &h), 0);
	CHECK(dc_entry_is_empty(h.entry));
	CHECK_EQ(h.order, 0);
	CHECK_EQ(revokes, 1);
	CHECK_EQ(last_revoke_index, 8192);
	CHECK_EQ(last_revoke_nr, 512);
	CHECK_EQ(dc_mapping_lookup(m, 8192), 0);
	/* Zero page then a real block: the zero mappings are revoked. */
	CHECK_EQ(dc_mapping_insert(&h, 0, DC_INSERT_ZERO), 0);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	revokes = 0;
	e = fault(m, 8197, 0, 3001, 0);
	CHECK_EQ(revokes, 1);
	CHECK(!dc_entry_is_zero(e));
	/* An empty PMD placeholder also downgrades. */
	CHECK_EQ(dc_mapping_grab(m, 16384, 9, NULL, &h), 0);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	CHECK_EQ(dc_mapping_grab(m, 16384 + 1, 0, NULL, &h), 0);
	CHECK(dc_entry_is_empty(h.entry) && h.order == 0);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	/* Zero insert over device pages is refused. */
	CHECK_EQ(dc_mapping_grab(m, 8197, 0, NULL, &h), 0);
	CHECK_EQ(dc_mapping_insert(&h, 0, DC_INSERT_ZERO), -EEXIST);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	finish(m);
	CHECK_EQ(refs(1024), 0);
	CHECK_EQ(refs(3000), 0);
}

/*
 * The pin fast path at the reference limit: -EOVERFLOW, not -EAGAIN (the
 * entry is live, so "fault it in and retry" would retry for ever: the
 * device-dax review's finding 2).
 */
TEST(get_folio_at_the_reference_limit)
{
	struct dc_mapping *m;
	struct dc_folio *f, *g;
	uint64_t extra = 0;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	fault(m, 3, 0, 42, 0);
	CHECK_EQ(dc_mapping_get_folio(m, 3, true, &f), 0);
	while (dc_folio_pin(f) == 0)
		extra++;
	CHECK_EQ(dc_mapping_get_folio(m, 3, true, &g), -EOVERFLOW);
	CHECK(strstr(dc_errmsg(), "references it can hold"));
	while (extra--)
		dc_folio_unpin(f);
	CHECK_EQ(dc_mapping_get_folio(m, 3, true, &g), 0);
	CHECK(g == f);
	dc_folio_unpin(g);
	dc_folio_unpin(f);
	finish(m);
}

TEST(zap_pin_delete)
{
	struct dc_mapping *m;
	struct dc_folio *f, *g, *busy = (struct dc_folio *)1;
	int before;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	fault(m, 1, 0, 40, 0);
	fault(m, 2, 0, 41, 0);
	CHECK_EQ(dc_mapping_get_folio(m, 1, true, &f), 0); /* a DMA pin */
	CHECK(dc_folio_maybe_dma_pinned(f));
	CHECK(dc_folio_busy(f));
	CHECK_EQ(dc_mapping_get_folio(m, 5, true, &g), -EAGAIN); /* nothing there */
	CHECK(strstr(dc_errmsg(), "nothing is mapped"));
	before = page_frees;
	revokes = 0;
	CHECK_EQ(dc_mapping_zap(m, 0, 10, NULL, &busy), 2);
	/* One ->revoke for the contiguous run of the two entries. */
	CHECK_EQ(revokes, 1);
	CHECK_EQ(last_revoke_index, 1);
	CHECK_EQ(last_revoke_nr, 2);
	CHECK(busy == f);                  /* the pinned one is reported */
	CHECK_EQ(page_frees - before, 1);  /* the other went idle */
	CHECK(dc_entry_is_zapped(dc_mapping_lookup(m, 1)));
	CHECK_EQ(dc_folio_mapcount(f), 0);
	/* No new reference through a zapped entry (invariant 3). */
	CHECK_EQ(dc_mapping_get_folio(m, 1, false, &g), -EAGAIN);
	CHECK_EQ(dc_mapping_get_folio(m, 2, true, &g), -EAGAIN);
	/* Zapping again zaps nothing new, still reports the pinned folio. */
	CHECK_EQ(dc_mapping_zap(m, 0, 10, NULL, &busy), 0);
	CHECK(busy == f);
	CHECK_EQ(dc_mapping_delete(m, 1, NULL), -EBUSY);
	CHECK_EQ(dc_mapping_violations(m), 1);
	CHECK_EQ(dc_mapping_delete(m, 2, NULL), 0);
	dc_folio_unpin(f);
	CHECK_EQ(dc_mapping_zap(m, 0, 10, NULL, &busy), 0);
	CHECK(busy == NULL);
	/* A fault on a zapped entry re-inserts and takes a reference again. */
	fault(m, 1, 0, 40, 0);
	CHECK_EQ(refs(40), 1);
	CHECK_EQ(dc_folio_mapcount(f), 1);
	CHECK(!dc_entry_is_zapped(dc_mapping_lookup(m, 1)));
	CHECK(dc_mapping_check(m));
	CHECK_EQ(dc_mapping_zap(m, 0, 10, NULL, NULL), 1);
	CHECK_EQ(dc_mapping_delete(m, 1, NULL), 0);
	CHECK_EQ(dc_folio_owner(f), 0);
	CHECK_EQ(dc_mapping_count(m), 0);
	CHECK_EQ(dc_mapping_destroy(m), 0);
}

/*
 * Bug: a replace of a live entry revoked and dropped the old references
 * while the old value was still in the index (locked, not ZAP), so pins
 * kept landing on the revoked block, and the block was let go with a pin
 * live.  Now the replace zaps first, and refuses to let a pinned block go.
 */
TEST(replace_refuses_pinned_block)
{
	struct dc_mapping *m;
	struct dc_entry_handle h;
	struct dc_folio *p, *g;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	fault(m, 0, 0, 50, 0);
	CHECK_EQ(dc_mapping_get_folio(m, 0, true, &p), 0);
	CHECK_EQ(dc_mapping_grab(m, 0, 0, NULL, &h), 0);
	revokes = 0;
	CHECK_EQ(dc_mapping_insert(&h, 51, 0), -EBUSY);
	CHECK(strstr(dc_errmsg(), "still pinned"));
	CHECK_EQ(revokes, 1);
	/* The entry is left zapped: no pin lands on it, it still names 50. */
	CHECK(dc_entry_is_zapped(h.entry) && dc_entry_pgoff(h.entry) == 50);
	CHECK_EQ(dc_mapping_get_folio(m, 0, true, &g), -EAGAIN);
	CHECK_EQ(dc_folio_owner(p), dc_folio_owner(p)); /* still associated */
	CHECK(dc_folio_owner(p) != 0);
	CHECK_EQ(refs(51), 0); /* the new block was given back */
	CHECK_EQ(dc_folio_lookup(R, 51) ? dc_folio_owner(dc_folio_lookup(R, 51)) : 0, 0);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	CHECK(dc_mapping_check(m));
	dc_folio_unpin(p);
	fault(m, 0, 0, 51, 0);
	CHECK_EQ(dc_folio_owner(p), 0);
	CHECK_EQ(refs(50), 0);
	CHECK_EQ(refs(51), 1);
	finish(m);
}

/*
 * The CoW step (DC_INSERT_UNSHARE): the entry moves to the file's own copy
 * although a pin holds the shared original; the pin keeps the original,
 * which no entry of this file names any more, and the other sharer keeps
 * mapping it.  Without the flag the same insert is -EBUSY.
 */
TEST(unshare_replaces_pinned_shared_block)
{
	struct dc_mapping *a, *b;
	struct dc_entry_handle h;
	struct dc_folio *p, *x;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &a), 0);
	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &b), 0);
	fault(a, 0, 0, 60, DC_INSERT_COW);
	fault(b, 7, 0, 60, DC_INSERT_COW);
	x = dc_folio_lookup(R, 60);
	CHECK_EQ(dc_folio_shares(x), 2);
	CHECK_EQ(dc_mapping_get_folio(a, 0, true, &p), 0);
	CHECK(p == x);
	CHECK_EQ(dc_mapping_grab(a, 0, 0, NULL, &h), 0);
	CHECK_EQ(dc_mapping_insert(&h, 61, DC_INSERT_COW), -EBUSY); /* the default: refuse */
	CHECK(dc_entry_is_zapped(h.entry));
	revokes = 0;
	CHECK_EQ(dc_mapping_insert(&h, 61, DC_INSERT_COW | DC_INSERT_UNSHARE | DC_INSERT_DIRTY), 0);
	CHECK_EQ(dc_entry_pgoff(h.entry), 61);
	CHECK(!dc_entry_is_zapped(h.entry));
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	CHECK_EQ(dc_folio_shares(x), 1);   /* b only */
	CHECK_EQ(dc_folio_mapcount(x), 1);
	CHECK_EQ(refs(60), 1 + DC_PIN_BIAS); /* b's entry and the pin */
	CHECK(dc_folio_busy(x));
	CHECK(dc_mapping_get_mark(a, 0, DC_MARK_DIRTY));
	CHECK(dc_mapping_check(a) && dc_mapping_check(b));
	dc_folio_unpin(p);
	CHECK_EQ(refs(60), 1);
	CHECK_EQ(refs(61), 1);
	CHECK_EQ(dc_mapping_violations(a) + dc_mapping_violations(b), 0);
	finish(a);
	finish(b);
	CHECK(dc_folio_idle(x));
}

/*
 * dc_mapping_abandon(): every entry of the range goes at once, pinned or
 * not (the owner quarantines the pinned blocks); the count says how many
 * were still busy; the pin's unpin is then the block's last put.
 */
TEST(abandon_deletes_pinned_entries)
{
	struct dc_mapping *m;
	struct dc_folio *p;
	int frees;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	fault(m, 0, 0, 70, 0);
	fault(m, 1, 0, 71, DC_INSERT_DIRTY);
	fault(m, 5, 0, 75, 0);
	CHECK_EQ(dc_mapping_get_folio(m, 1, true, &p), 0);
	CHECK_EQ(dc_mapping_abandon(m, 0, 1, NULL), 1); /* 71 was pinned */
	CHECK_EQ(dc_mapping_count(m), 1);            /* 5 stays: outside */
	CHECK_EQ(dc_mapping_violations(m), 0);
	CHECK_EQ(dc_folio_owner(p), 0);              /* no file has it */
	CHECK_EQ(refs(70), 0);
	CHECK_EQ(refs(71), DC_PIN_BIAS);
	CHECK_EQ(dc_mapping_get_folio(m, 1, true, &p) == -EAGAIN, 1);
	CHECK(dc_mapping_check(m));
	frees = page_frees;
	dc_folio_unpin(dc_folio_lookup(R, 71));
	CHECK_EQ(page_frees, frees + 1);             /* ->page_free returns it */
	CHECK_EQ(dc_mapping_abandon(m, 0, DC_MAPPING_INDEX_MAX, NULL), 0);
	CHECK_EQ(dc_mapping_count(m), 0);
	CHECK_EQ(dc_mapping_abandon(m, 5, 4, NULL), -EINVAL);
	finish(m);
}

struct pin_thread {
	struct dc_folio *f;
	int released;
};

static void *release_later(void *arg)
{
	struct pin_thread *p = arg;

	usleep(20000);
	__atomic_store_n(&p->released, 1, __ATOMIC_SEQ_CST);
	dc_folio_unpin(p->f);
	return NULL;
}

TEST(truncate_final_waits_for_pins)
{
	struct dc_mapping *m;
	struct dc_entry_handle h;
	struct pin_thread p = { 0 };
	struct dc_wait_opts o = { .deadline_ns = dc_now_ns() + 2000000 };
	pthread_t t;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	fault(m, 9, 0, 60, DC_INSERT_DIRTY);
	CHECK_EQ(dc_mapping_get_folio(m, 9, true, &p.f), 0);
	CHECK_EQ(dc_mapping_truncate_final(m, &o), -ETIMEDOUT);
	CHECK(strstr(dc_errmsg(), "still pinned"));
	CHECK_EQ(dc_mapping_grab(m, 9, 0, NULL, &h), -ESHUTDOWN);
	CHECK_EQ(pthread_create(&t, NULL, release_later, &p), 0);
	CHECK_EQ(dc_mapping_truncate_final(m, NULL), 0);
	/* It returned only after the last unpin. */
	CHECK_EQ(__atomic_load_n(&p.released, __ATOMIC_SEQ_CST), 1);
	pthread_join(t, NULL);
	CHECK_EQ(dc_mapping_count(m), 0);
	CHECK_EQ(refs(60), 0);
	CHECK_EQ(dc_mapping_violations(m), 0);
	CHECK_EQ(dc_mapping_destroy(m), 0);
}

/* ---- bounded entry waits ------------------------------------------------------ */

struct canceller {
	struct dc_cancel c;
	int fired;
};

static void *cancel_later(void *arg)
{
	struct canceller *c = arg;

	usleep(20000);
	__atomic_store_n(&c->fired, 1, __ATOMIC_SEQ_CST);
	dc_cancel_fire(&c->c);
	return NULL;
}

/*
 * Bug: waits for a locked entry ignored the caller's deadline (a
 * truncate_final with a 100 ms deadline returned after 1.9 s, when another
 * thread let go of its entry).  Every such wait now ends at the deadline or
 * on cancel; the entry and its waiters are unharmed.
 */
TEST(entry_waits_honour_deadline_and_cancel)
{
	struct dc_mapping *m;
	struct dc_entry_handle held, h;
	struct dc_wait_opts soon = { 0 };
	struct dc_folio *f;
	struct canceller c = { 0 };
	pthread_t t;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	fault(m, 4, 0, 20, 0);
	f = dc_folio_lookup(R, 20);
	CHECK_EQ(dc_mapping_grab(m, 4, 0, NULL, &held), 0); /* held all along */
#define SOON() (soon.deadline_ns = dc_now_ns() + 5000000, &soon)
	CHECK_EQ(dc_mapping_grab(m, 4, 0, SOON(), &h), -ETIMEDOUT);
	CHECK_EQ(dc_mapping_unlock(&h), -EINVAL);
	CHECK_EQ(dc_mapping_zap(m, 0, 10, SOON(), NULL), -ETIMEDOUT);
	CHECK_EQ(dc_mapping_delete(m, 4, SOON()), -ETIMEDOUT);
	CHECK_EQ(dc_mapping_truncate(m, 0, 10, SOON()), -ETIMEDOUT);
	CHECK_EQ(dc_mapping_lock_folio(f, SOON(), &h), -ETIMEDOUT);
	CHECK_EQ(dc_mapping_break_layouts(m, 0, 10, SOON(), NULL), -ETIMEDOUT);
	CHECK_EQ(dc_mapping_truncate_final(m, SOON()), -ETIMEDOUT);
	/* Cancel from another thread ends a sleeping wait. */
	dc_cancel_init(&c.c);
	soon = (struct dc_wait_opts){ .cancel = &c.c };
	CHECK_EQ(pthread_create(&t, NULL, cancel_later, &c), 0);
	CHECK_EQ(dc_mapping_delete(m, 4, &soon), -EINTR);
	CHECK_EQ(__atomic_load_n(&c.fired, __ATOMIC_SEQ_CST), 1);
	pthread_join(t, NULL);
	CHECK_EQ(dc_mapping_zap(m, 0, 10, &soon, NULL), -EINTR); /* already fired */
	/* The entry is still ours, live and locked; nothing leaked. */
	CHECK(dc_entry_is_live(dc_mapping_lookup(m, 4)));
	CHECK(dc_entry_is_locked(dc_mapping_lookup(m, 4)));
	CHECK_EQ(refs(20), 1);
	CHECK_EQ(dc_mapping_unlock(&held), 0);
	finish(m);
#undef SOON
}

struct waker {
	struct dc_mapping *m;
	uint64_t index;
	int got;
};

static void *grab_and_report(void *arg)
{
	struct waker *w = arg;
	struct dc_entry_handle h;

	CHECK_EQ(dc_mapping_grab(w->m, w->index, 0, NULL, &h), 0);
	__atomic_store_n(&w->got, 1, __ATOMIC_SEQ_CST);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	return NULL;
}

/* A waiter that timed out as it was woken passes the wake-up on. */
TEST(timed_out_waiter_passes_wakeup_on)
{
	struct dc_mapping *m;
	struct dc_entry_handle held, h;
	struct waker w = { 0 };
	pthread_t t;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	w.m = m;
	w.index = 3;
	for (int round = 0; round < 50; round++) {
		struct dc_wait_opts o = { .deadline_ns = dc_now_ns() + 1000000 };

		__atomic_store_n(&w.got, 0, __ATOMIC_SEQ_CST);
		CHECK_EQ(dc_mapping_grab(m, 3, 0, NULL, &held), 0);
		CHECK_EQ(pthread_create(&t, NULL, grab_and_report, &w), 0);
		/* We time out around when the holder unlocks: either way the
		 * other waiter must get the entry (no lost wake-up). */
		usleep(500 + (unsigned)round * 20);
		if (round % 2)
			CHECK_EQ(dc_mapping_unlock(&held), 0);
		if (dc_mapping_grab(m, 3, 0, &o, &h) == 0)
			CHECK_EQ(dc_mapping_unlock(&h), 0);
		if (!(round % 2))
			CHECK_EQ(dc_mapping_unlock(&held), 0);
		pthread_join(t, NULL);
		CHECK_EQ(w.got, 1);
	}
	finish(m);
}

/* ---- break layouts -------------------------------------------------------------- */

struct report {
	int waiting, sleeps, wakes;
	uint64_t index;
	struct dc_folio *f;
};

static void on_waiting(struct dc_mapping *m, uint64_t index, struct dc_folio *f, void *arg)
{
	struct report *r = arg;

	(void)m;
	r->waiting++;
	r->index = index;
	r->f = f;
}

static void before_sleep(void *arg) { ((struct report *)arg)->sleeps++; }
static void after_sleep(void *arg) { ((struct report *)arg)->wakes++; }

TEST(break_layouts_waits_and_reports)
{
	struct dc_mapping *m;
	struct pin_thread p = { 0 };
	struct report rep = { 0 };
	struct dc_break_report br = { on_waiting, &rep };
	struct dc_wait_opts o = { .before_sleep = before_sleep, .after_sleep = after_sleep,
				  .arg = &rep };
	pthread_t t;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	CHECK_EQ(dc_mapping_break_layouts(m, 0, 100, NULL, &br), 0); /* empty */
	fault(m, 512, 9, 2048, 0);
	fault(m, 3, 0, 30, 0);
	CHECK_EQ(dc_mapping_break_layouts(m, 0, 10, NULL, &br), 0); /* nothing busy */
	CHECK(dc_entry_is_zapped(dc_mapping_lookup(m, 3)));
	CHECK_EQ(rep.waiting, 0);
	CHECK_EQ(dc_mapping_get_folio(m, 512 + 7, true, &p.f), 0);
	CHECK(p.f == dc_folio_lookup(R, 2048 + 7));
	o.deadline_ns = dc_now_ns() + 3000000;
	CHECK_EQ(dc_mapping_break_layouts(m, 0, 2000, &o, &br), -ETIMEDOUT);
	CHECK(strstr(dc_errmsg(), "still pinned"));
	CHECK_EQ(rep.waiting, 1);
	CHECK_EQ(rep.index, 512 + 7);
	CHECK(rep.f == p.f);
	CHECK_EQ(rep.sleeps, rep.wakes); /* the callbacks come in pairs */
	o.deadline_ns = 0;
	rep.waiting = 0;
	CHECK_EQ(pthread_create(&t, NULL, release_later, &p), 0);
	CHECK_EQ(dc_mapping_break_layouts(m, 0, 2000, &o, &br), 1);
	CHECK_EQ(__atomic_load_n(&p.released, __ATOMIC_SEQ_CST), 1);
	pthread_join(t, NULL);
	CHECK_EQ(rep.waiting, 1);
	CHECK(rep.sleeps >= 1);
	CHECK_EQ(rep.sleeps, rep.wakes);
	CHECK_EQ(dc_mapping_truncate(m, 0, 2000, NULL), 0);
	CHECK_EQ(dc_mapping_violations(m), 0);
	finish(m);
}

/* ---- iteration and range pins --------------------------------------------------- */

TEST(iteration_and_range_pins)
{
	struct dc_mapping *m;
	struct dc_entry_info info;
	struct dc_folio *fs[600];
	uint64_t seen[8], n = 0;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	CHECK_EQ(dc_mapping_find(m, 0, 100, &info), 0);
	fault(m, 2, 0, 12, 0);
	fault(m, 3, 0, 13, 0);
	fault(m, 5, 0, 15, 0);
	fault(m, 1024, 9, 4096, 0);
	fault(m, 7, 0, 0, DC_INSERT_ZERO);
	dc_mapping_for_each(m, 0, DC_MAPPING_INDEX_MAX, &info) {
		CHECK(n < 8);
		seen[n++] = info.first;
	}
	CHECK_EQ(n, 5);
	CHECK_EQ(seen[0], 2);
	CHECK_EQ(seen[3], 7);
	CHECK_EQ(seen[4], 1024);
	CHECK_EQ(dc_mapping_find(m, 1100, 1200, &info), 1); /* inside the PMD entry */
	CHECK_EQ(info.first, 1024);
	CHECK_EQ(info.order, 9);
	CHECK_EQ(dc_entry_pgoff(info.entry), 4096);
	CHECK_EQ(dc_mapping_find(m, 8, 1023, &info), 0);
	CHECK_EQ(dc_mapping_find(m, 9, 8, &info), -EINVAL);
	CHECK_EQ(dc_mapping_find(m, 0, 8, NULL), -EINVAL);
	n = 0;
	dc_mapping_for_each(m, 3, 5, &info)
		n++;
	CHECK_EQ(n, 2);
	/* Range pins stop at the first hole, like GUP-fast. */
	CHECK_EQ(dc_mapping_get_folios(m, 2, 4, true, fs), 2);
	CHECK(fs[0] == dc_folio_lookup(R, 12) && fs[1] == dc_folio_lookup(R, 13));
	CHECK(dc_folio_maybe_dma_pinned(fs[1]));
	dc_mapping_put_folios(fs, 2, true);
	CHECK_EQ(dc_mapping_get_folios(m, 4, 1, false, fs), 0);
	CHECK_EQ(dc_mapping_get_folios(m, 7, 1, false, fs), 0); /* the zero page */
	CHECK_EQ(dc_mapping_get_folios(m, 1024 + 500, 20, false, fs), 12);
	CHECK(fs[11] == dc_folio_lookup(R, 4096 + 511));
	dc_mapping_put_folios(fs, 12, false);
	CHECK_EQ(dc_mapping_get_folios(m, 0, 0, false, fs), -EINVAL);
	CHECK_EQ(dc_mapping_get_folios(m, 0, 1, false, NULL), -EINVAL);
	CHECK_EQ(dc_mapping_get_folios(m, DC_MAPPING_INDEX_MAX, 2, false, fs), -EINVAL);
	CHECK_EQ(dc_mapping_get_folios_flags(m, 2, 1, 0x80, fs), -EINVAL);
	/* DC_GET_UNLOCKED stops at an entry a fault holds; without it, the lock does not count. */
	{
		struct dc_entry_handle h;

		CHECK_EQ(dc_mapping_grab(m, 3, 0, NULL, &h), 0);
		CHECK_EQ(dc_mapping_get_folios_flags(m, 2, 2, DC_GET_PIN | DC_GET_UNLOCKED, fs), 1);
		CHECK(fs[0] == dc_folio_lookup(R, 12));
		dc_mapping_put_folios(fs, 1, true);
		CHECK_EQ(dc_mapping_get_folios_flags(m, 3, 1, DC_GET_UNLOCKED, fs), 0);
		CHECK_EQ(dc_mapping_get_folios_flags(m, 2, 2, 0, fs), 2);
		dc_mapping_put_folios(fs, 2, false);
		CHECK_EQ(dc_mapping_unlock(&h), 0);
		CHECK_EQ(dc_mapping_get_folios_flags(m, 2, 2, DC_GET_UNLOCKED, fs), 2);
		dc_mapping_put_folios(fs, 2, false);
	}
	CHECK_EQ(refs(12), 1);
	CHECK_EQ(refs(4096 + 511), 1);
	finish(m);
}

TEST(invalidate)
{
	struct dc_mapping *m;
	struct dc_folio *pinned;
	struct dc_entry_handle h, locked;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	fault(m, 0, 0, 70, 0);               /* clean, idle: dropped */
	fault(m, 1, 0, 71, DC_INSERT_DIRTY); /* dirty: stays */
	fault(m, 2, 0, 72, 0);               /* pinned: stays */
	CHECK_EQ(dc_mapping_get_folio(m, 2, true, &pinned), 0);
	CHECK_EQ(dc_mapping_grab(m, 3, 0, NULL, &h), 0); /* zero page: dropped */
	CHECK_EQ(dc_mapping_insert(&h, 0, DC_INSERT_ZERO), 0);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	CHECK_EQ(dc_mapping_grab(m, 4, 0, NULL, &locked), 0); /* locked: stays */
	CHECK_EQ(dc_mapping_invalidate(m, 0, 10), 2);
	CHECK_EQ(dc_mapping_lookup(m, 0), 0);
	CHECK_EQ(dc_mapping_lookup(m, 3), 0);
	CHECK(dc_entry_is_live(dc_mapping_lookup(m, 1)));
	CHECK(dc_entry_is_live(dc_mapping_lookup(m, 2)));
	CHECK(dc_mapping_lookup(m, 4) != 0);
	CHECK_EQ(refs(70), 0);
	CHECK_EQ(dc_folio_owner(dc_folio_lookup(R, 70)), 0);
	CHECK_EQ(dc_mapping_unlock(&locked), 0);
	dc_folio_unpin(pinned);
	finish(m);
}

TEST(writeback)
{
	struct dc_mapping *m;
	char path[] = "/tmp/daxcore-wb-XXXXXX";
	int fd = mkstemp(path);
	struct dc_region *fr;
	char spec[96], buf[8];

	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 4 << 20), 0);
	snprintf(spec, sizeof(spec), "file:%s", path);
	CHECK_EQ(dc_region_create(spec, &fr), 0);
	CHECK_EQ(dc_mapping_create(fr, &mops, NULL, &m), 0);
	for (uint64_t i = 0; i < 8; i++) {
		struct dc_entry_handle h;

		CHECK_EQ(dc_mapping_grab(m, i, 0, NULL, &h), 0);
		CHECK_EQ(dc_mapping_insert(&h, 100 + i, i % 2 ? DC_INSERT_DIRTY : 0), 0);
		CHECK_EQ(dc_mapping_unlock(&h), 0);
		memcpy(dc_region_addr(fr, 100 + i), "written", 8);
	}
	mkcleans = 0;
	CHECK_EQ(dc_mapping_writeback(m, 0, 100, NULL), 4);
	CHECK_EQ(mkcleans, 4);
	for (uint64_t i = 0; i < 8; i++) {
		CHECK(!dc_mapping_get_mark(m, i, DC_MARK_DIRTY));
		CHECK(!dc_mapping_get_mark(m, i, DC_MARK_TOWRITE));
	}
	CHECK_EQ(pread(fd, buf, 8, 101 * 4096), 8);
	CHECK(!memcmp(buf, "written", 8));
	CHECK_EQ(dc_mapping_writeback(m, 0, 100, NULL), 0); /* nothing dirty now */
	finish(m);
	CHECK_EQ(dc_region_remove(fr, NULL), 0);
	close(fd);
	unlink(path);
}

TEST(writeback_no_livelock)
{
	/* Each flush dirties a new entry further on (mkclean). */
	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &M2), 0);
	for (uint64_t i = 0; i < 4; i++)
		fault(M2, i, 0, 200 + i, DC_INSERT_DIRTY);
	redirty_budget = 1000;
	CHECK_EQ(dc_mapping_writeback(M2, 0, DC_MAPPING_INDEX_MAX, NULL), 4);
	/* The entries dirtied during the pass wait for the next one. */
	CHECK(dc_mapping_get_mark(M2, 1000, DC_MARK_DIRTY));
	redirty_budget = 0;
	CHECK_EQ(dc_mapping_writeback(M2, 0, DC_MAPPING_INDEX_MAX, NULL), 4);
	CHECK(!dc_mapping_get_mark(M2, 1000, DC_MARK_DIRTY));
	finish(M2);
	M2 = NULL;
}

TEST(cow_and_owners)
{
	struct dc_mapping *a, *b, *c;
	struct dc_folio *f;
	struct dc_entry_handle h;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &a), 0);
	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &b), 0);
	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &c), 0);
	fault(a, 5, 0, 80, 0);
	f = dc_folio_lookup(R, 80);
	/* Another file may not map a block that belongs to a (invariant 4)... */
	CHECK_EQ(dc_mapping_grab(b, 6, 0, NULL, &h), 0);
	CHECK_EQ(dc_mapping_insert(&h, 80, 0), -EBUSY);
	CHECK_EQ(refs(80), 1);
	/* ...nor the same file at another index... */
	fault_fails(a, 9, 80, 0, -EBUSY);
	/* ...unless it is shared by reflink: one more sharer, one more ref. */
	CHECK_EQ(dc_mapping_insert(&h, 80, DC_INSERT_COW), 0);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	CHECK_EQ(dc_folio_shares(f), 2);
	CHECK_EQ(dc_folio_mapcount(f), 2);
	CHECK_EQ(dc_folio_owner(f), 0);
	CHECK(!dc_folio_busy(f));
	CHECK_EQ(refs(80), 2);
	CHECK_EQ(dc_mapping_lock_folio(f, NULL, &h), -EBUSY); /* no single owner */
	/* A third file's plain insert of a shared block is refused. */
	fault_fails(c, 1, 80, 0, -EBUSY);
	CHECK(dc_mapping_check(a) && dc_mapping_check(b));
	CHECK_EQ(dc_mapping_zap(a, 0, 100, NULL, NULL), 1);
	CHECK_EQ(dc_folio_mapcount(f), 1);
	CHECK_EQ(refs(80), 1);
	CHECK_EQ(dc_mapping_truncate(a, 0, 100, NULL), 0); /* b still maps it: fine */
	CHECK_EQ(dc_folio_shares(f), 1);
	CHECK_EQ(dc_mapping_zap(b, 0, 100, NULL, NULL), 1);
	CHECK_EQ(dc_mapping_truncate(b, 0, 100, NULL), 0);
	CHECK_EQ(dc_folio_shares(f), 0);
	CHECK(dc_folio_idle(f));
	CHECK_EQ(dc_mapping_lock_folio(f, NULL, &h), -ENOENT);
	CHECK_EQ(dc_mapping_violations(a) + dc_mapping_violations(b), 0);
	finish(a);
	finish(b);
	finish(c);
}

/*
 * Bug: delete and truncate_final required a reflinked block to be idle,
 * though the other sharer's live entry holds a reference: delete returned
 * -EBUSY and counted a violation with no pin anywhere, truncate_final
 * looped forever.  Busy now means a reference beyond the live entries of
 * the files that share the block; a real pin still blocks.
 */
TEST(reflinked_block_delete_and_evict)
{
	struct dc_mapping *a, *b;
	struct dc_folio *f, *pin;
	struct dc_wait_opts o = { 0 };

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &a), 0);
	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &b), 0);
	fault(a, 0, 0, 90, 0);
	fault(b, 0, 0, 90, DC_INSERT_COW);
	fault(a, 1, 0, 91, DC_INSERT_COW);
	fault(b, 1, 0, 91, DC_INSERT_COW);
	f = dc_folio_lookup(R, 90);
	CHECK_EQ(dc_mapping_zap(a, 0, 0, NULL, NULL), 1);
	CHECK_EQ(dc_mapping_delete(a, 0, NULL), 0);
	CHECK_EQ(dc_mapping_violations(a), 0);
	CHECK_EQ(dc_folio_shares(f), 1);
	CHECK_EQ(refs(90), 1);
	/* Eviction of a file whose block another file still maps: no wait. */
	o.deadline_ns = dc_now_ns() + 5000000000ull; /* a hang guard, not a timing test */
	CHECK_EQ(dc_mapping_truncate_final(a, &o), 0);
	CHECK_EQ(dc_mapping_violations(a), 0);
	CHECK_EQ(dc_mapping_destroy(a), 0);
	/* A pin through b blocks b's delete of its (zapped) sharer entry. */
	CHECK_EQ(dc_mapping_get_folio(b, 1, true, &pin), 0);
	CHECK_EQ(dc_mapping_zap(b, 0, 1, NULL, NULL), 2);
	CHECK(dc_folio_busy(pin));
	CHECK_EQ(dc_mapping_delete(b, 1, NULL), -EBUSY);
	CHECK_EQ(dc_mapping_violations(b), 1);
	CHECK_EQ(dc_mapping_delete(b, 0, NULL), 0);
	dc_folio_unpin(pin);
	CHECK_EQ(dc_mapping_delete(b, 1, NULL), 0);
	CHECK(dc_folio_idle(pin) && dc_folio_shares(pin) == 0);
	finish(b);
}

TEST(poison)
{
	struct dc_mapping *m;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	CHECK_EQ(dc_folio_memory_failure(R, 90, 1), -EOPNOTSUPP); /* marked anyway */
	CHECK(dc_folio_poisoned(dc_folio_lookup(R, 90)));
	fault_fails(m, 1, 90, 0, -EIO);
	CHECK_EQ(refs(90), 0);
	finish(m);
}

/*
 * Bug: a mapping did not keep its region alive: removal returned while a
 * mapping still held zapped entries, and the next truncate read freed
 * metadata.  Now mappings hold their region: removal waits (bounded) until
 * they are destroyed, and a dying region refuses new mappings and inserts.
 */
static struct dc_mapping *pre_remove_m;
static int pre_remove_calls;

static int zap_on_remove(struct dc_region *r, uint64_t pgoff, uint64_t nr, unsigned flags,
			 void *holder)
{
	(void)r; (void)pgoff; (void)nr; (void)holder;
	CHECK_EQ(flags, DC_MF_PRE_REMOVE);
	pre_remove_calls++;
	CHECK(dc_mapping_zap(pre_remove_m, 0, DC_MAPPING_INDEX_MAX, NULL, NULL) >= 0);
	return 0;
}

TEST(mapping_holds_its_region)
{
	static const struct dc_holder_ops ops = { .notify_failure = zap_on_remove };
	struct dc_region *r;
	struct dc_mapping *m2;
	struct dc_entry_handle h;
	struct dc_drain_opts o = { 0 };

	CHECK_EQ(dc_region_create("mem:1M", &r), 0);
	CHECK_EQ(dc_region_claim(r, &pre_remove_calls, &ops), 0);
	CHECK_EQ(dc_mapping_create(r, &mops, NULL, &pre_remove_m), 0);
	fault(pre_remove_m, 1, 0, 3, 0);
	fault(pre_remove_m, 2, 0, 4, 0);
	o.deadline_ns = dc_now_ns() + 2000000;
	CHECK_EQ(dc_region_remove(r, &o), -ETIMEDOUT);
	CHECK(strstr(dc_errmsg(), "mappings still exist"));
	CHECK_EQ(pre_remove_calls, 1);
	/* The region is dead but whole: the mapping's calls are safe. */
	CHECK_EQ(dc_mapping_create(r, &mops, NULL, &m2), -ENXIO);
	CHECK_EQ(dc_mapping_grab(pre_remove_m, 1, 0, NULL, &h), 0);
	CHECK_EQ(dc_mapping_insert(&h, 3, 0), -ENXIO);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	CHECK_EQ(dc_mapping_truncate(pre_remove_m, 0, 10, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(pre_remove_m), 0);
	CHECK_EQ(dc_region_remove(r, NULL), 0);
	CHECK_EQ(pre_remove_calls, 1);
}

/* A holder may let go of everything from inside its PRE_REMOVE: removal then completes. */
static int release_on_remove(struct dc_region *r, uint64_t pgoff, uint64_t nr, unsigned flags,
			     void *holder)
{
	(void)pgoff; (void)nr;
	CHECK_EQ(flags, DC_MF_PRE_REMOVE);
	pre_remove_calls++;
	CHECK_EQ(dc_mapping_abandon(pre_remove_m, 0, DC_MAPPING_INDEX_MAX, NULL), 0);
	CHECK_EQ(dc_region_release(r, holder), 0);
	CHECK_EQ(dc_mapping_destroy(pre_remove_m), 0);
	return 0;
}

TEST(holder_lets_go_from_pre_remove)
{
	static const struct dc_holder_ops ops = { .notify_failure = release_on_remove };
	struct dc_region *r;

	CHECK_EQ(dc_region_create("mem:1M", &r), 0);
	CHECK_EQ(dc_region_claim(r, &pre_remove_calls, &ops), 0);
	CHECK_EQ(dc_mapping_create(r, &mops, NULL, &pre_remove_m), 0);
	fault(pre_remove_m, 1, 0, 3, 0);
	pre_remove_calls = 0;
	CHECK_EQ(dc_region_remove(r, NULL), 0);
	CHECK_EQ(pre_remove_calls, 1);
}

/* Memory failure routed back to (file, offset) by the holder. */
static uint64_t mf_index[8];
static struct dc_mapping *mf_mapping[8];
static int mf_n;

static int mf_notify(struct dc_region *r, uint64_t pgoff, uint64_t nr, unsigned flags, void *h)
{
	(void)h;
	CHECK_EQ(flags, DC_MF_POISON);
	for (uint64_t p = pgoff; p < pgoff + nr; p++) {
		struct dc_folio *f = dc_folio_lookup(r, p);
		struct dc_entry_handle lk;

		CHECK(f && dc_folio_poisoned(f));
		if (dc_mapping_lock_folio(f, NULL, &lk))
			continue; /* not mapped by any file */
		mf_mapping[mf_n] = lk.mapping;
		mf_index[mf_n++] = lk.index + (p - dc_entry_pgoff(lk.entry));
		CHECK_EQ(dc_mapping_unlock(&lk), 0);
	}
	return 0;
}

TEST(memory_failure_routing)
{
	static const struct dc_holder_ops ops = { .notify_failure = mf_notify };
	struct dc_region *r;
	struct dc_mapping *m;
	struct dc_entry_handle h;

	mf_n = 0;
	CHECK_EQ(dc_region_create("mem:4M", &r), 0);
	CHECK_EQ(dc_region_claim(r, &mf_n, &ops), 0);
	CHECK_EQ(dc_mapping_create(r, &mops, NULL, &m), 0);
	fault(m, 42, 0, 7, 0);
	CHECK_EQ(dc_folio_memory_failure(r, 6, 3), 0); /* pages 6, 7, 8 */
	CHECK_EQ(mf_n, 1);
	CHECK(mf_mapping[0] == m);
	CHECK_EQ(mf_index[0], 42);
	CHECK_EQ(dc_folio_memory_failure(r, 1023, 2), -EINVAL);
	CHECK_EQ(dc_folio_memory_failure(r, 0, 0), -EINVAL);
	/* A poisoned page is never mapped again (invariant 10). */
	CHECK_EQ(dc_mapping_zap(m, 0, 100, NULL, NULL), 1);
	CHECK_EQ(dc_mapping_truncate(m, 0, 100, NULL), 0);
	CHECK_EQ(dc_mapping_grab(m, 42, 0, NULL, &h), 0);
	CHECK_EQ(dc_mapping_insert(&h, 7, 0), -EIO);
	CHECK_EQ(dc_mapping_insert(&h, 8, 0), -EIO);
	CHECK_EQ(dc_mapping_insert(&h, 9, 0), 0);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	finish(m);
	CHECK_EQ(dc_region_release(r, &mf_n), 0);
	CHECK_EQ(dc_region_remove(r, NULL), 0);
}

struct locker {
	struct dc_mapping *m;
	int got;
};

static void *lock_by_folio(void *arg)
{
	struct locker *l = arg;
	struct dc_entry_handle lk;

	CHECK_EQ(dc_mapping_lock_folio(dc_folio_lookup(R, 95), NULL, &lk), 0);
	__atomic_store_n(&l->got, 1, __ATOMIC_SEQ_CST);
	CHECK(lk.mapping == l->m);
	CHECK_EQ(dc_mapping_unlock(&lk), 0);
	return NULL;
}

TEST(lock_folio_waits)
{
	struct locker l = { 0 };
	struct dc_entry_handle h;
	pthread_t t;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &l.m), 0);
	fault(l.m, 33, 0, 95, 0);
	CHECK_EQ(dc_mapping_grab(l.m, 33, 0, NULL, &h), 0); /* hold the entry lock */
	CHECK_EQ(pthread_create(&t, NULL, lock_by_folio, &l), 0);
	usleep(20000);
	CHECK_EQ(__atomic_load_n(&l.got, __ATOMIC_SEQ_CST), 0); /* it waits for us */
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	pthread_join(t, NULL);
	CHECK_EQ(l.got, 1);
	finish(l.m);
}

/* ---- callbacks outside read-side sections ---------------------------------------- */

/*
 * Bug: ->revoke (the insert-replace path, run under the read lock insert
 * documented) and ->page_free (inside the folio layer's RCU section) ran
 * inside an RCU read side: a callback that waits for a grace period
 * deadlocked.  Here both callbacks destroy a spare mapping, which waits
 * for a grace period.  (A hang is caught by the watchdog.)
 */
static struct dc_mapping *spare[4];
static int nspare;

static void destroy_spare(void)
{
	if (nspare > 0)
		CHECK_EQ(dc_mapping_destroy(spare[--nspare]), 0);
}

static void revoke_destroys(struct dc_mapping *m, uint64_t index, uint64_t nr, void *priv)
{
	(void)m; (void)index; (void)nr; (void)priv;
	destroy_spare();
}

static void page_free_destroys(struct dc_region *r, struct dc_folio *f, void *h)
{
	(void)r; (void)f; (void)h;
	destroy_spare();
}

TEST(callbacks_may_wait_for_grace_periods)
{
	static const struct dc_mapping_ops gp_ops = { .revoke = revoke_destroys };
	static const struct dc_holder_ops gp_hops = { .page_free = page_free_destroys };
	struct dc_region *r;
	struct dc_mapping *m;
	struct dc_entry_handle h;

	CHECK_EQ(dc_region_create("mem:1M", &r), 0);
	CHECK_EQ(dc_region_claim(r, &nspare, &gp_hops), 0);
	for (nspare = 0; nspare < 4; nspare++)
		CHECK_EQ(dc_mapping_create(r, NULL, NULL, &spare[nspare]), 0);
	CHECK_EQ(dc_mapping_create(r, &gp_ops, NULL, &m), 0);
	fault(m, 0, 0, 1, 0);
	CHECK_EQ(dc_mapping_grab(m, 0, 0, NULL, &h), 0);
	CHECK_EQ(dc_mapping_insert(&h, 2, 0), 0); /* replace: ->revoke, ->page_free */
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	CHECK_EQ(nspare, 2);
	finish(m); /* zap: ->revoke, ->page_free again */
	CHECK_EQ(nspare, 0);
	CHECK_EQ(dc_region_release(r, &nspare), 0);
	CHECK_EQ(dc_region_remove(r, NULL), 0);
}

/* ---- second review: races around zap's step 3 and insert's undo ---------------------- */

/*
 * A fault that re-inserts an entry while its zap is in step 3 (ZAP
 * published and the entry unlocked, references not yet dropped) found the
 * owner's MAPPED bit still set (-EBUSY "in use by another owner"), or, for
 * a shared block, counted a live sharer twice and hit a DC_BUG.  The revoke
 * callback starts the fault in another thread, in that window.
 */
static struct dc_mapping *race_m;
static int race_flags, race_ret, race_armed;

static void *refault(void *arg)
{
	struct dc_entry_handle h;

	(void)arg;
	race_ret = dc_mapping_grab(race_m, 0, 0, NULL, &h);
	if (!race_ret) {
		race_ret = dc_mapping_insert(&h, 0, race_flags);
		CHECK_EQ(dc_mapping_unlock(&h), 0);
	}
	return NULL;
}

static pthread_t race_thread;

/*
 * Start the re-fault in zap's step 3 and give it time.  An unshared entry
 * is unlocked then: the fault runs now.  A shared one stays locked through
 * step 3: the fault waits for the zap (a revoke that waited for it would
 * deadlock, see mapping.h).
 */
static void revoke_refaults(struct dc_mapping *m, uint64_t index, uint64_t nr, void *priv)
{
	(void)m; (void)index; (void)nr; (void)priv;
	if (!race_armed)
		return;
	race_armed = 0;
	CHECK_EQ(pthread_create(&race_thread, NULL, refault, NULL), 0);
	usleep(20000);
}

static void fault_during_zap_step3(unsigned flags)
{
	static const struct dc_mapping_ops ops = { .revoke = revoke_refaults };
	struct dc_mapping *b;
	struct dc_folio *f;

	CHECK_EQ(dc_mapping_create(R, &ops, NULL, &race_m), 0);
	CHECK_EQ(dc_mapping_create(R, NULL, NULL, &b), 0);
	race_flags = flags;
	fault(race_m, 0, 0, 0, flags);
	if (flags & DC_INSERT_COW)
		fault(b, 0, 0, 0, DC_INSERT_COW);
	f = dc_folio_lookup(R, 0);
	race_armed = 1;
	CHECK_EQ(dc_mapping_zap(race_m, 0, 0, NULL, NULL), 1);
	pthread_join(race_thread, NULL);
	CHECK_EQ(race_ret, 0); /* the re-fault got its entry back */
	CHECK(dc_entry_is_live(dc_mapping_lookup(race_m, 0)));
	CHECK_EQ(dc_folio_mapcount(f), (flags & DC_INSERT_COW) ? 2 : 1);
	CHECK_EQ(dc_folio_refcount(f), (flags & DC_INSERT_COW) ? 2 : 1);
	CHECK(!dc_folio_busy(f));
	CHECK(dc_mapping_check(race_m) && dc_mapping_check(b));
	finish(race_m);
	finish(b);
	CHECK(dc_folio_idle(f) && dc_folio_shares(f) == 0 && dc_folio_owner(f) == 0);
}

TEST(fault_during_zap_step3)
{
	fault_during_zap_step3(0);
}

TEST(fault_during_zap_step3_shared)
{
	fault_during_zap_step3(DC_INSERT_COW);
}

/*
 * An insert that claimed its new block and then failed (the replaced block
 * was pinned) undid the claim with a CAS back to 0 that expected the word
 * unchanged; another file reflinking the new block meanwhile made it
 * shared, and the undo hit a DC_BUG.  The undo now lets go as a sharer.
 */
static struct dc_mapping *reflinker;
static int reflink_armed, reflink_ret;

static void *reflink_block1(void *arg)
{
	struct dc_entry_handle h;

	(void)arg;
	CHECK_EQ(dc_mapping_grab(reflinker, 0, 0, NULL, &h), 0);
	reflink_ret = dc_mapping_insert(&h, 1, DC_INSERT_COW);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	return NULL;
}

static void revoke_reflinks(struct dc_mapping *m, uint64_t index, uint64_t nr, void *priv)
{
	pthread_t t;

	(void)m; (void)index; (void)nr; (void)priv;
	if (!reflink_armed)
		return;
	reflink_armed = 0;
	CHECK_EQ(pthread_create(&t, NULL, reflink_block1, NULL), 0);
	pthread_join(t, NULL);
}

TEST(failed_insert_undoes_a_claim_that_became_shared)
{
	static const struct dc_mapping_ops ops = { .revoke = revoke_reflinks };
	struct dc_mapping *a;
	struct dc_entry_handle h;
	struct dc_folio *pin, *q;

	CHECK_EQ(dc_mapping_create(R, &ops, NULL, &a), 0);
	CHECK_EQ(dc_mapping_create(R, NULL, NULL, &reflinker), 0);
	fault(a, 0, 0, 0, 0);
	CHECK_EQ(dc_mapping_get_folio(a, 0, true, &pin), 0);
	CHECK_EQ(dc_mapping_grab(a, 0, 0, NULL, &h), 0);
	reflink_armed = 1;
	CHECK_EQ(dc_mapping_insert(&h, 1, 0), -EBUSY); /* block 0 pinned */
	CHECK_EQ(reflink_ret, 0);                      /* block 1 reflinked meanwhile */
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	q = dc_folio_lookup(R, 1);
	CHECK_EQ(dc_folio_shares(q), 1);   /* only the reflinker is left */
	CHECK_EQ(dc_folio_mapcount(q), 1);
	CHECK_EQ(dc_folio_refcount(q), 1);
	CHECK(dc_mapping_check(a) && dc_mapping_check(reflinker));
	dc_folio_unpin(pin);
	finish(a);
	finish(reflinker);
	CHECK(dc_folio_idle(q) && dc_folio_shares(q) == 0);
}

/*
 * The last reference of a shared block dropped by a zap ran ->page_free
 * while the zap's sharer transition was still in flight: a page_free that
 * tested the block busy (an allocator's "may I reuse it?") spun forever.
 */
static int pf_busy_calls;

static void page_free_tests_busy(struct dc_region *r, struct dc_folio *f, void *h)
{
	(void)r; (void)h;
	CHECK(!dc_folio_busy(f));
	pf_busy_calls++;
}

TEST(page_free_may_test_busy_during_a_shared_zap)
{
	static const struct dc_holder_ops ops = { .page_free = page_free_tests_busy };
	struct dc_region *r;
	struct dc_mapping *a;

	CHECK_EQ(dc_region_create("mem:1M", &r), 0);
	CHECK_EQ(dc_region_claim(r, &pf_busy_calls, &ops), 0);
	CHECK_EQ(dc_mapping_create(r, NULL, NULL, &a), 0);
	fault(a, 1, 0, 7, DC_INSERT_COW); /* a shared word */
	CHECK_EQ(dc_mapping_zap(a, 0, 10, NULL, NULL), 1); /* the last put: page_free */
	CHECK_EQ(pf_busy_calls, 1);
	finish(a);
	CHECK_EQ(dc_region_release(r, &pf_busy_calls), 0);
	CHECK_EQ(dc_region_remove(r, NULL), 0);
}

/*
 * A grab asleep on a locked entry when eviction began returned 0 after
 * truncate_final() had emptied the mapping (and the destroy that followed
 * freed the mapping under it).  A woken grab now looks at "exiting" again.
 */
static struct dc_mapping *evict_m;
static int evict_grab_ret = 99;

static void *grab_entry5(void *arg)
{
	struct dc_entry_handle h;

	(void)arg;
	evict_grab_ret = dc_mapping_grab(evict_m, 5, 0, NULL, &h);
	if (!evict_grab_ret)
		CHECK_EQ(dc_mapping_unlock(&h), 0);
	return NULL;
}

static void *evict(void *arg)
{
	(void)arg;
	CHECK_EQ(dc_mapping_truncate_final(evict_m, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(evict_m), 0); /* waits for the sleeping grab */
	return NULL;
}

TEST(grab_asleep_across_eviction_sees_shutdown)
{
	struct dc_entry_handle h;
	pthread_t g, e;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &evict_m), 0);
	CHECK_EQ(dc_mapping_grab(evict_m, 5, 0, NULL, &h), 0); /* a fault holds entry 5 */
	CHECK_EQ(pthread_create(&g, NULL, grab_entry5, NULL), 0);
	usleep(20000); /* the grab sleeps on entry 5 */
	CHECK_EQ(pthread_create(&e, NULL, evict, NULL), 0);
	usleep(20000); /* truncate_final marked the mapping exiting, waits for 5 */
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	pthread_join(e, NULL);
	pthread_join(g, NULL);
	CHECK_EQ(evict_grab_ret, -ESHUTDOWN);
}

/* ---- third review: zap's step 3 with shared and huge entries in one batch ------------ */

/*
 * A zap batch with a single-folio shared entry and a huge entry kept the
 * first one's sharer transition open while it handled the second: a file
 * that reflinked its own block into a PMD entry hung zap (its busy test
 * waited for its own transition), and ->page_free of the huge entry's
 * folios ran inside the transition.  Here page_free tests the shared block
 * busy: a hang (the watchdog) is the bug.
 */
static struct dc_folio *shared_block;
static int pf_tested;

static void page_free_tests_shared_block(struct dc_region *r, struct dc_folio *f, void *h)
{
	(void)r; (void)f; (void)h;
	if (shared_block)
		(void)dc_folio_busy(shared_block);
	pf_tested++;
}

TEST(zap_batch_with_shared_and_huge_entries)
{
	static const struct dc_holder_ops ops = { .page_free = page_free_tests_shared_block };
	struct dc_region *r;
	struct dc_mapping *a, *b;
	struct dc_folio *p;

	CHECK_EQ(dc_region_create("mem:8M", &r), 0);
	CHECK_EQ(dc_region_claim(r, &pf_tested, &ops), 0);
	CHECK_EQ(dc_mapping_create(r, NULL, NULL, &a), 0);
	CHECK_EQ(dc_mapping_create(r, NULL, NULL, &b), 0);
	/* a@0 -> page 512; a@512 (2 MiB) reflinks [512, 1024) into itself. */
	fault(a, 0, 0, 512, 0);
	fault(a, 512, 9, 512, DC_INSERT_COW);
	/* b@0 shares page 7 with a@1; a@2048 (2 MiB) on fresh pages. */
	fault(a, 1, 0, 7, 0);
	fault(b, 0, 0, 7, DC_INSERT_COW);
	fault(a, 2048, 9, 1024, 0);
	p = dc_folio_lookup(r, 512);
	CHECK_EQ(dc_folio_shares(p), 2);
	shared_block = dc_folio_lookup(r, 7);
	CHECK_EQ(dc_mapping_zap(a, 0, 4095, NULL, NULL), 4); /* must return */
	CHECK(pf_tested >= 1023);                          /* the huge entries' pages */
	CHECK(dc_folio_idle(p));
	CHECK_EQ(dc_folio_mapcount(shared_block), 1);       /* b still maps it */
	shared_block = NULL;
	CHECK(dc_mapping_check(a) && dc_mapping_check(b));
	finish(a);
	finish(b);
	CHECK_EQ(dc_region_release(r, &pf_tested), 0);
	CHECK_EQ(dc_region_remove(r, NULL), 0);
}

/*
 * A zapped single-folio shared entry was still counted live until zap's
 * step 3; a fault replacing it in that window (a CoW break) found the block
 * "not busy" (the zap's stale reference and stale live count cancelled),
 * let the last sharer go (owner word 0, the block looked free while the zap
 * still held it), and the zap then hit a DC_BUG.  Such an entry now stays
 * locked through step 3: the fault waits, then replaces it.
 */
static struct dc_mapping *cow_a;
static int cow_break_ret = 99, cow_break_armed;
static pthread_t cow_break_thread;

static void *cow_break(void *arg)
{
	struct dc_entry_handle h;

	(void)arg;
	CHECK_EQ(dc_mapping_grab(cow_a, 0, 0, NULL, &h), 0);
	cow_break_ret = dc_mapping_insert(&h, 16, 0);
	CHECK_EQ(dc_mapping_unlock(&h), 0);
	return NULL;
}

static void revoke_starts_cow_break(struct dc_mapping *m, uint64_t index, uint64_t nr, void *p)
{
	(void)m; (void)index; (void)nr; (void)p;
	if (!cow_break_armed)
		return;
	cow_break_armed = 0;
	CHECK_EQ(pthread_create(&cow_break_thread, NULL, cow_break, NULL), 0);
	usleep(20000); /* the fault runs now if nothing stops it */
}

TEST(cow_break_during_zap_of_last_sharer)
{
	static const struct dc_mapping_ops ops = { .revoke = revoke_starts_cow_break };
	struct dc_mapping *b;
	struct dc_folio *p;

	CHECK_EQ(dc_mapping_create(R, &ops, NULL, &cow_a), 0);
	CHECK_EQ(dc_mapping_create(R, NULL, NULL, &b), 0);
	fault(cow_a, 0, 0, 8, 0);
	fault(b, 0, 0, 8, DC_INSERT_COW);
	CHECK_EQ(dc_mapping_zap(b, 0, 0, NULL, NULL), 1);
	CHECK_EQ(dc_mapping_delete(b, 0, NULL), 0); /* cow_a is the one sharer left */
	p = dc_folio_lookup(R, 8);
	cow_break_armed = 1;
	CHECK_EQ(dc_mapping_zap(cow_a, 0, 0, NULL, NULL), 1);
	pthread_join(cow_break_thread, NULL);
	CHECK_EQ(cow_break_ret, 0);
	CHECK(dc_folio_idle(p) && dc_folio_shares(p) == 0 && dc_folio_owner(p) == 0);
	CHECK_EQ(dc_entry_pgoff(dc_mapping_lookup(cow_a, 0)), 16);
	CHECK(dc_mapping_check(cow_a) && dc_mapping_check(b));
	finish(cow_a);
	finish(b);
}

/*
 * ->page_free ran while zap still held a shared single-folio entry locked:
 * a page_free that grabs or deletes that entry (an allocator that tidies
 * the file up) waited on zap's own lock.  The idle transitions of such
 * entries now run after they are unlocked.  A deadline turns the old
 * self-deadlock into -ETIMEDOUT.
 */
static struct dc_mapping *pf_grab_m;
static int pf_grab_ret = 99, pf_grab_calls;

static void page_free_grabs(struct dc_region *r, struct dc_folio *f, void *h)
{
	struct dc_wait_opts o = { .deadline_ns = dc_now_ns() + 2000000000ull };
	struct dc_entry_handle eh;

	(void)r; (void)f; (void)h;
	pf_grab_calls++;
	if (!pf_grab_m)
		return;
	pf_grab_ret = dc_mapping_grab(pf_grab_m, 0, 0, &o, &eh);
	if (!pf_grab_ret)
		CHECK_EQ(dc_mapping_unlock(&eh), 0);
}

TEST(page_free_may_grab_the_zapped_shared_entry)
{
	static const struct dc_holder_ops ops = { .page_free = page_free_grabs };
	struct dc_region *r;
	struct dc_mapping *a, *b;

	CHECK_EQ(dc_region_create("mem:1M", &r), 0);
	CHECK_EQ(dc_region_claim(r, &pf_grab_calls, &ops), 0);
	CHECK_EQ(dc_mapping_create(r, NULL, NULL, &pf_grab_m), 0);
	CHECK_EQ(dc_mapping_create(r, NULL, NULL, &b), 0);
	fault(pf_grab_m, 0, 0, 8, 0);
	fault(b, 0, 0, 8, DC_INSERT_COW);
	CHECK_EQ(dc_mapping_zap(b, 0, 0, NULL, NULL), 1); /* b: a zapped sharer */
	CHECK_EQ(dc_mapping_zap(pf_grab_m, 0, 0, NULL, NULL), 1); /* the last put */
	CHECK_EQ(pf_grab_calls, 1);
	CHECK_EQ(pf_grab_ret, 0);
	a = pf_grab_m;
	pf_grab_m = NULL;
	finish(a);
	finish(b);
	CHECK_EQ(dc_region_release(r, &pf_grab_calls), 0);
	CHECK_EQ(dc_region_remove(r, NULL), 0);
}

T_MAIN(setup, teardown)
