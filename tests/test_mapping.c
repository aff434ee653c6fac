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
		dc_entry_t e = dc_mapping_grab(m, next, 0);

		redirty_budget--;
		CHECK(!dc_entry_is_err(e));
		e = dc_mapping_insert(m, next, e, 300 + (next % 100), DC_INSERT_DIRTY);
		CHECK(!dc_entry_is_err(e));
		dc_mapping_unlock(m, next, e);
	}
}

static const struct dc_mapping_ops mops = { .revoke = on_revoke, .mkclean = on_mkclean };

/* grab + insert + unlock at @index -> device @pgoff. */
static dc_entry_t fault(struct dc_mapping *m, uint64_t index, unsigned order, uint64_t pgoff,
			unsigned flags)
{
	dc_entry_t e = dc_mapping_grab(m, index, order);

	CHECK(!dc_entry_is_err(e));
	CHECK(dc_entry_is_locked(e));
	dc_region_read_lock(R);
	e = dc_mapping_insert(m, index, e, pgoff, flags);
	dc_region_read_unlock(R);
	CHECK(!dc_entry_is_err(e));
	dc_mapping_unlock(m, index, e);
	return e & ~DC_ENTRY_LOCKED;
}

static uint32_t refs(uint64_t pgoff)
{
	struct dc_folio *f = dc_folio_lookup(R, pgoff);

	return f ? dc_folio_refcount(f) : 0;
}

static void test_grab_insert(void)
{
	struct dc_mapping *m;
	struct dc_entry_lock lk;
	dc_entry_t e, e2;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	e = dc_mapping_grab(m, 7, 0);
	CHECK(dc_entry_is_empty(e) && dc_entry_is_locked(e));
	CHECK_EQ(dc_entry_order(e), 0);
	CHECK_EQ(dc_mapping_count(m), 1);
	e = dc_mapping_insert(m, 7, e, 10, 0);
	CHECK(dc_entry_is_real(e) && dc_entry_is_locked(e));
	CHECK_EQ(dc_entry_pgoff(e), 10);
	CHECK_EQ(refs(10), 1);
	dc_mapping_unlock(m, 7, e);
	CHECK_EQ(dc_mapping_lookup(m, 7), e & ~DC_ENTRY_LOCKED);
	CHECK(!dc_mapping_get_mark(m, 7, DC_MARK_DIRTY));
	/* The folio knows its (mapping, index). */
	CHECK_EQ(dc_mapping_lock_folio(dc_folio_lookup(R, 10), &lk), 0);
	CHECK(lk.mapping == m);
	CHECK_EQ(lk.index, 7);
	CHECK(dc_entry_is_locked(dc_mapping_lookup(m, 7)));
	dc_mapping_unlock_folio(&lk);
	CHECK(!dc_entry_is_locked(dc_mapping_lookup(m, 7)));
	/* Grab of an existing entry returns it; re-insert of the same pages
	 * keeps the references and adds DIRTY. */
	e2 = dc_mapping_grab(m, 7, 0);
	CHECK_EQ(e2, e | DC_ENTRY_LOCKED);
	e2 = dc_mapping_insert(m, 7, e2, 10, DC_INSERT_DIRTY);
	CHECK_EQ(refs(10), 1);
	dc_mapping_unlock(m, 7, e2);
	CHECK(dc_mapping_get_mark(m, 7, DC_MARK_DIRTY));
	/* Replacing with other pages: revoke, old reference dropped. */
	revokes = 0;
	e2 = dc_mapping_grab(m, 7, 0);
	e2 = dc_mapping_insert(m, 7, e2, 11, 0);
	CHECK(!dc_entry_is_err(e2));
	dc_mapping_unlock(m, 7, e2);
	CHECK_EQ(revokes, 1);
	CHECK_EQ(refs(10), 0);
	CHECK_EQ(refs(11), 1);
	CHECK_EQ(dc_folio_owner(dc_folio_lookup(R, 10)), 0);
	CHECK(dc_mapping_check(m));
	/* Clean up: zap, truncate, destroy. */
	CHECK_EQ(dc_mapping_destroy(m), -EBUSY);
	CHECK_EQ(dc_mapping_zap(m, 0, DC_MAPPING_INDEX_MAX, NULL), 1);
	CHECK_EQ(dc_mapping_truncate(m, 0, UINT64_MAX), 0);
	CHECK_EQ(refs(11), 0);
	CHECK_EQ(dc_mapping_violations(m), 0);
	CHECK_EQ(dc_mapping_destroy(m), 0);
}

static void test_bad_input(void)
{
	struct dc_mapping *m;
	dc_entry_t e, u;

	CHECK_EQ(dc_mapping_create(NULL, &mops, NULL, &m), -EINVAL);
	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	CHECK_EQ(dc_entry_err(dc_mapping_grab(m, 0, 5)), -EINVAL);
	CHECK_EQ(dc_entry_err(dc_mapping_grab(m, 1ull << 40, 0)), -EINVAL);
	e = dc_mapping_grab(m, 3, 0);
	CHECK_EQ(dc_entry_err(dc_mapping_insert(m, 3, e, 5, 0x100)), -EINVAL);
	CHECK_EQ(dc_entry_err(dc_mapping_insert(m, 3, e, 5, DC_INSERT_PMD)), -EINVAL);
	CHECK_EQ(dc_entry_err(dc_mapping_insert(m, 3, e, 5, DC_INSERT_PMD | DC_INSERT_PUD)), -EINVAL);
	CHECK_EQ(dc_entry_err(dc_mapping_insert(m, 3, e & ~DC_ENTRY_LOCKED, 5, 0)), -EINVAL);
	CHECK_EQ(dc_entry_err(dc_mapping_insert(m, 3, e, 1ull << 30, 0)), -EINVAL);
	CHECK_EQ(dc_entry_err(dc_mapping_insert(m, 4, e, 5, 0)), -EINVAL); /* not the entry there */
	CHECK(dc_entry_is_err(dc_mapping_insert(m, 3, dc_entry_mkerr(-EIO), 5, 0)));
	/* Nothing changed through all that. */
	CHECK_EQ(dc_mapping_lookup(m, 3), e);
	CHECK_EQ(refs(5), 0);
	u = dc_mapping_insert(m, 3, e, 5, 0);
	dc_mapping_unlock(m, 3, u);
	dc_mapping_unlock(m, 3, u); /* not locked: refused, nothing changes */
	CHECK(strstr(dc_errmsg(), "not locked"));
	CHECK_EQ(dc_mapping_lookup(m, 3), u & ~DC_ENTRY_LOCKED);
	CHECK_EQ(dc_mapping_zap(m, 10, 5, NULL), -EINVAL);
	CHECK_EQ(dc_mapping_truncate(m, 1ull << 41, UINT64_MAX), -EINVAL);
	CHECK_EQ(dc_mapping_invalidate(m, 9, 8), -EINVAL);
	CHECK_EQ(dc_mapping_writeback(m, 9, 8), -EINVAL);
	/* delete of a live entry: refused, counted, nothing changes. */
	CHECK_EQ(dc_mapping_delete(m, 3), -EBUSY);
	CHECK_EQ(dc_mapping_violations(m), 1);
	CHECK_EQ(dc_mapping_truncate(m, 0, 10), -EBUSY);
	CHECK_EQ(dc_mapping_violations(m), 2);
	CHECK_EQ(refs(5), 1);
	CHECK_EQ(dc_mapping_delete(m, 4), -ENOENT);
	/* Allocation failure: the grab fails cleanly. */
	dc__fault_set(1);
	e = dc_mapping_grab(m, 100, 0);
	dc__fault_set(0);
	if (dc_entry_is_err(e)) {
		CHECK_EQ(dc_entry_err(e), -ENOMEM);
		CHECK_EQ(dc_mapping_lookup(m, 100), 0);
	} else { /* the store needed no new node */
		dc_mapping_unlock(m, 100, e);
	}
	CHECK_EQ(dc_mapping_truncate_final(m, NULL), 0);
	CHECK_EQ(dc_entry_err(dc_mapping_grab(m, 1, 0)), -ESHUTDOWN);
	CHECK_EQ(refs(5), 0);
	CHECK_EQ(dc_mapping_destroy(m), 0);
}

static void test_huge_entries(void)
{
	struct dc_mapping *m;
	dc_entry_t e;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	e = fault(m, 512 + 17, 9, 1024, DC_INSERT_PMD);
	CHECK_EQ(dc_entry_order(e), 9);
	for (uint64_t p = 1024; p < 1536; p += 97)
		CHECK_EQ(refs(p), 1);
	/* Found from any index inside; a 4 KiB grab inside returns it. */
	CHECK_EQ(dc_mapping_lookup(m, 1023), e);
	e = dc_mapping_grab(m, 700, 0);
	CHECK_EQ(dc_entry_pgoff(e), 1024);
	CHECK_EQ(dc_entry_order(e), 9);
	dc_mapping_unlock(m, 700, e);
	/* Misaligned device pages for a PMD entry. */
	e = dc_mapping_grab(m, 2048, 9);
	CHECK_EQ(dc_entry_err(dc_mapping_insert(m, 2048, e, 1025, DC_INSERT_PMD)), -EINVAL);
	dc_mapping_unlock(m, 2048, e);
	/* Fallback: 4 KiB entries inside the 2 MiB range. */
	fault(m, 4096 + 3, 0, 3000, 0);
	CHECK(dc_entry_is_fallback(dc_mapping_grab(m, 4096, 9)));
	CHECK_EQ(dc_entry_err(DC_ENTRY_FALLBACK), -EAGAIN);
	/* Downgrade: a zero-page PMD gives way to a 4 KiB entry. */
	e = dc_mapping_grab(m, 8192, 9);
	e = dc_mapping_insert(m, 8192, e, 0, DC_INSERT_ZERO | DC_INSERT_PMD);
	CHECK(dc_entry_is_zero(e));
	dc_mapping_unlock(m, 8192, e);
	revokes = 0;
	e = dc_mapping_grab(m, 8192 + 5, 0);
	CHECK(dc_entry_is_empty(e));
	CHECK_EQ(dc_entry_order(e), 0);
	CHECK_EQ(revokes, 1);
	CHECK_EQ(last_revoke_index, 8192);
	CHECK_EQ(last_revoke_nr, 512);
	CHECK_EQ(dc_mapping_lookup(m, 8192), 0);
	/* Zero page then a real block: the zero mappings are revoked. */
	e = dc_entry_is_err(e) ? e : dc_mapping_insert(m, 8197, e, 0, DC_INSERT_ZERO);
	dc_mapping_unlock(m, 8197, e);
	revokes = 0;
	e = fault(m, 8197, 0, 3001, 0);
	CHECK_EQ(revokes, 1);
	CHECK(!dc_entry_is_zero(e));
	/* An empty PMD placeholder also downgrades. */
	e = dc_mapping_grab(m, 16384, 9);
	dc_mapping_unlock(m, 16384, e);
	e = dc_mapping_grab(m, 16384 + 1, 0);
	CHECK(dc_entry_is_empty(e) && dc_entry_order(e) == 0);
	dc_mapping_unlock(m, 16385, e);
	/* Zero insert over a real entry is refused. */
	e = dc_mapping_grab(m, 8197, 0);
	CHECK_EQ(dc_entry_err(dc_mapping_insert(m, 8197, e, 0, DC_INSERT_ZERO)), -EEXIST);
	dc_mapping_unlock(m, 8197, e);
	CHECK(dc_mapping_check(m));
	CHECK_EQ(dc_mapping_truncate_final(m, NULL), 0);
	CHECK_EQ(refs(1024), 0);
	CHECK_EQ(refs(3000), 0);
	CHECK_EQ(dc_mapping_destroy(m), 0);
}

static void test_zap_pin_delete(void)
{
	struct dc_mapping *m;
	struct dc_folio *f, *busy = (struct dc_folio *)1;
	int before;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	fault(m, 1, 0, 40, 0);
	fault(m, 2, 0, 41, 0);
	CHECK_EQ(dc_mapping_get_folio(m, 1, true, &f), 0); /* a DMA pin */
	CHECK(dc_folio_maybe_dma_pinned(f));
	CHECK_EQ(dc_mapping_get_folio(m, 5, true, &f), -EAGAIN); /* nothing there */
	f = dc_folio_lookup(R, 40);
	before = page_frees;
	revokes = 0;
	CHECK_EQ(dc_mapping_zap(m, 0, 10, &busy), 2);
	CHECK_EQ(revokes, 2);
	CHECK(busy == f);                  /* the pinned one is reported */
	CHECK_EQ(page_frees - before, 1);  /* the other went idle */
	CHECK(dc_entry_is_zapped(dc_mapping_lookup(m, 1)));
	/* No new reference through a zapped entry (invariant 3). */
	{
		struct dc_folio *g;
		CHECK_EQ(dc_mapping_get_folio(m, 1, false, &g), -EAGAIN);
		CHECK_EQ(dc_mapping_get_folio(m, 2, true, &g), -EAGAIN);
	}
	/* Zapping again zaps nothing new, still reports the pinned folio. */
	CHECK_EQ(dc_mapping_zap(m, 0, 10, &busy), 0);
	CHECK(busy == f);
	CHECK_EQ(dc_mapping_delete(m, 1), -EBUSY);
	CHECK_EQ(dc_mapping_violations(m), 1);
	CHECK_EQ(dc_mapping_delete(m, 2), 0);
	dc_folio_unpin(f);
	CHECK_EQ(dc_mapping_zap(m, 0, 10, &busy), 0);
	CHECK(busy == NULL);
	/* A fault on a zapped entry re-inserts and takes a reference again. */
	fault(m, 1, 0, 40, 0);
	CHECK_EQ(refs(40), 1);
	CHECK(!dc_entry_is_zapped(dc_mapping_lookup(m, 1)));
	CHECK(dc_mapping_check(m));
	CHECK_EQ(dc_mapping_zap(m, 0, 10, NULL), 1);
	CHECK_EQ(dc_mapping_delete(m, 1), 0);
	CHECK_EQ(dc_folio_owner(f), 0);
	CHECK_EQ(dc_mapping_count(m), 0);
	CHECK_EQ(dc_mapping_destroy(m), 0);
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

static void test_truncate_final_waits(void)
{
	struct dc_mapping *m;
	struct pin_thread p = { 0 };
	struct dc_wait_opts o = { .deadline_ns = dc_now_ns() + 2000000 };
	pthread_t t;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	fault(m, 9, 0, 60, DC_INSERT_DIRTY);
	CHECK_EQ(dc_mapping_get_folio(m, 9, true, &p.f), 0);
	CHECK_EQ(dc_mapping_truncate_final(m, &o), -ETIMEDOUT);
	CHECK(strstr(dc_errmsg(), "still pinned"));
	CHECK_EQ(dc_entry_err(dc_mapping_grab(m, 9, 0)), -ESHUTDOWN);
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

static void test_invalidate(void)
{
	struct dc_mapping *m;
	struct dc_folio *pinned;
	dc_entry_t e;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	fault(m, 0, 0, 70, 0);               /* clean, idle: dropped */
	fault(m, 1, 0, 71, DC_INSERT_DIRTY); /* dirty: stays */
	fault(m, 2, 0, 72, 0);               /* pinned: stays */
	CHECK_EQ(dc_mapping_get_folio(m, 2, true, &pinned), 0);
	e = dc_mapping_grab(m, 3, 0);        /* zero page: dropped */
	e = dc_mapping_insert(m, 3, e, 0, DC_INSERT_ZERO);
	dc_mapping_unlock(m, 3, e);
	e = dc_mapping_grab(m, 4, 0);        /* locked: stays */
	CHECK_EQ(dc_mapping_invalidate(m, 0, 10), 2);
	CHECK_EQ(dc_mapping_lookup(m, 0), 0);
	CHECK_EQ(dc_mapping_lookup(m, 3), 0);
	CHECK(dc_entry_is_real(dc_mapping_lookup(m, 1)));
	CHECK(dc_entry_is_real(dc_mapping_lookup(m, 2)));
	CHECK(!dc_entry_is_zapped(dc_mapping_lookup(m, 2)));
	CHECK(dc_mapping_lookup(m, 4) != 0);
	CHECK_EQ(refs(70), 0);
	CHECK_EQ(dc_folio_owner(dc_folio_lookup(R, 70)), 0);
	dc_mapping_unlock(m, 4, e);
	dc_folio_unpin(pinned);
	CHECK(dc_mapping_check(m));
	CHECK_EQ(dc_mapping_truncate_final(m, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(m), 0);
}

static void test_writeback(void)
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
		dc_entry_t e = dc_mapping_grab(m, i, 0);

		e = dc_mapping_insert(m, i, e, 100 + i, i % 2 ? DC_INSERT_DIRTY : 0);
		CHECK(!dc_entry_is_err(e));
		dc_mapping_unlock(m, i, e);
		memcpy(dc_region_addr(fr, 100 + i), "written", 8);
	}
	mkcleans = 0;
	CHECK_EQ(dc_mapping_writeback(m, 0, 100), 4);
	CHECK_EQ(mkcleans, 4);
	for (uint64_t i = 0; i < 8; i++) {
		CHECK(!dc_mapping_get_mark(m, i, DC_MARK_DIRTY));
		CHECK(!dc_mapping_get_mark(m, i, DC_MARK_TOWRITE));
	}
	CHECK_EQ(pread(fd, buf, 8, 101 * 4096), 8);
	CHECK(!memcmp(buf, "written", 8));
	CHECK_EQ(dc_mapping_writeback(m, 0, 100), 0); /* nothing dirty now */
	CHECK_EQ(dc_mapping_truncate_final(m, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(m), 0);
	CHECK_EQ(dc_region_remove(fr, NULL), 0);
	close(fd);
	unlink(path);

	/* No livelock: each flush dirties a new entry further on (mkclean). */
	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &M2), 0);
	for (uint64_t i = 0; i < 4; i++)
		fault(M2, i, 0, 200 + i, DC_INSERT_DIRTY);
	redirty_budget = 1000;
	CHECK_EQ(dc_mapping_writeback(M2, 0, DC_MAPPING_INDEX_MAX), 4);
	/* The entries dirtied during the pass wait for the next one. */
	CHECK(dc_mapping_get_mark(M2, 1000, DC_MARK_DIRTY));
	redirty_budget = 0;
	CHECK_EQ(dc_mapping_writeback(M2, 0, DC_MAPPING_INDEX_MAX), 4);
	CHECK(!dc_mapping_get_mark(M2, 1000, DC_MARK_DIRTY));
	CHECK_EQ(dc_mapping_truncate_final(M2, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(M2), 0);
	M2 = NULL;
}

static void test_cow_and_owners(void)
{
	struct dc_mapping *a, *b;
	struct dc_folio *f;
	struct dc_entry_lock lk;
	dc_entry_t e;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &a), 0);
	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &b), 0);
	fault(a, 5, 0, 80, 0);
	/* Another file may not map a block that belongs to a (invariant 4)... */
	e = dc_mapping_grab(b, 6, 0);
	CHECK_EQ(dc_entry_err(dc_mapping_insert(b, 6, e, 80, 0)), -EBUSY);
	CHECK_EQ(refs(80), 1);
	/* ...unless it is shared by reflink: one more sharer, one more ref. */
	e = dc_mapping_insert(b, 6, e, 80, DC_INSERT_COW);
	CHECK(!dc_entry_is_err(e));
	dc_mapping_unlock(b, 6, e);
	f = dc_folio_lookup(R, 80);
	CHECK_EQ(dc_folio_shares(f), 2);
	CHECK_EQ(refs(80), 2);
	CHECK_EQ(dc_mapping_lock_folio(f, &lk), -EBUSY); /* no single owner */
	CHECK(dc_mapping_check(a) && dc_mapping_check(b));
	CHECK_EQ(dc_mapping_zap(a, 0, 100, NULL), 1);
	CHECK_EQ(dc_mapping_truncate(a, 0, 100), -EBUSY); /* still mapped by b */
	CHECK_EQ(refs(80), 1);
	CHECK_EQ(dc_mapping_zap(b, 0, 100, NULL), 1);
	CHECK_EQ(dc_mapping_truncate(a, 0, 100), 0);
	CHECK_EQ(dc_folio_shares(f), 1);
	CHECK_EQ(dc_mapping_truncate(b, 0, 100), 0);
	CHECK_EQ(dc_folio_shares(f), 0);
	CHECK(dc_folio_idle(f));
	CHECK_EQ(dc_mapping_lock_folio(f, &lk), -ENOENT);
	CHECK_EQ(dc_mapping_destroy(a), 0);
	CHECK_EQ(dc_mapping_destroy(b), 0);
}

static void test_poison_and_dying(void)
{
	struct dc_mapping *m;
	struct dc_region *r;
	struct dc_folio *hold;
	struct dc_drain_opts o = { .deadline_ns = dc_now_ns() + 1000000 };
	dc_entry_t e;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &m), 0);
	CHECK_EQ(dc_folio_request(R, 90, 1, &hold), 0);
	dc_folio_set_poison(hold);
	dc_folio_put(hold);
	e = dc_mapping_grab(m, 1, 0);
	CHECK_EQ(dc_entry_err(dc_mapping_insert(m, 1, e, 90, 0)), -EIO);
	CHECK_EQ(refs(90), 0);
	dc_mapping_unlock(m, 1, e);
	CHECK_EQ(dc_mapping_truncate_final(m, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(m), 0);

	/* A dying region refuses inserts with -ENXIO. */
	CHECK_EQ(dc_region_create("mem:1M", &r), 0);
	CHECK_EQ(dc_mapping_create(r, &mops, NULL, &m), 0);
	CHECK_EQ(dc_folio_request(r, 0, 1, &hold), 0);
	CHECK_EQ(dc_region_remove(r, &o), -ETIMEDOUT);
	e = dc_mapping_grab(m, 1, 0);
	CHECK_EQ(dc_entry_err(dc_mapping_insert(m, 1, e, 3, 0)), -ENXIO);
	dc_mapping_unlock(m, 1, e);
	CHECK_EQ(dc_mapping_truncate_final(m, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(m), 0);
	dc_folio_put(hold);
	CHECK_EQ(dc_region_remove(r, NULL), 0);
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
		struct dc_entry_lock lk;

		CHECK(f && dc_folio_poisoned(f));
		if (dc_mapping_lock_folio(f, &lk))
			continue; /* not mapped by any file */
		mf_mapping[mf_n] = lk.mapping;
		mf_index[mf_n++] = lk.index + (p - dc_entry_pgoff(lk.entry));
		dc_mapping_unlock_folio(&lk);
	}
	return 0;
}

static void test_memory_failure_routing(void)
{
	static const struct dc_holder_ops ops = { .notify_failure = mf_notify };
	struct dc_region *r;
	struct dc_mapping *m;
	dc_entry_t e;

	CHECK_EQ(dc_region_create("mem:4M", &r), 0);
	CHECK_EQ(dc_region_claim(r, &mf_n, &ops), 0);
	CHECK_EQ(dc_mapping_create(r, &mops, NULL, &m), 0);
	e = dc_mapping_grab(m, 42, 0);
	e = dc_mapping_insert(m, 42, e, 7, 0);
	dc_mapping_unlock(m, 42, e);
	CHECK_EQ(dc_region_memory_failure(r, 6, 3), 0); /* pages 6, 7, 8 */
	CHECK_EQ(mf_n, 1);
	CHECK(mf_mapping[0] == m);
	CHECK_EQ(mf_index[0], 42);
	/* A poisoned page is never mapped again (invariant 10). */
	CHECK_EQ(dc_mapping_zap(m, 0, 100, NULL), 1);
	CHECK_EQ(dc_mapping_truncate(m, 0, 100), 0);
	e = dc_mapping_grab(m, 42, 0);
	CHECK_EQ(dc_entry_err(dc_mapping_insert(m, 42, e, 7, 0)), -EIO);
	CHECK_EQ(dc_entry_err(dc_mapping_insert(m, 42, e, 8, 0)), -EIO);
	e = dc_mapping_insert(m, 42, e, 9, 0);
	CHECK(!dc_entry_is_err(e));
	dc_mapping_unlock(m, 42, e);
	CHECK_EQ(dc_mapping_truncate_final(m, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(m), 0);
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
	struct dc_entry_lock lk;

	CHECK_EQ(dc_mapping_lock_folio(dc_folio_lookup(R, 95), &lk), 0);
	__atomic_store_n(&l->got, 1, __ATOMIC_SEQ_CST);
	CHECK(lk.mapping == l->m);
	dc_mapping_unlock_folio(&lk);
	return NULL;
}

static void test_lock_folio_waits(void)
{
	struct locker l = { 0 };
	pthread_t t;
	dc_entry_t e;

	CHECK_EQ(dc_mapping_create(R, &mops, NULL, &l.m), 0);
	fault(l.m, 33, 0, 95, 0);
	e = dc_mapping_grab(l.m, 33, 0); /* hold the entry lock */
	CHECK_EQ(pthread_create(&t, NULL, lock_by_folio, &l), 0);
	usleep(20000);
	CHECK_EQ(__atomic_load_n(&l.got, __ATOMIC_SEQ_CST), 0); /* it waits for us */
	dc_mapping_unlock(l.m, 33, e);
	pthread_join(t, NULL);
	CHECK_EQ(l.got, 1);
	CHECK(dc_mapping_check(l.m));
	CHECK_EQ(dc_mapping_truncate_final(l.m, NULL), 0);
	CHECK_EQ(dc_mapping_destroy(l.m), 0);
}

int main(void)
{
	struct dc_region_stats st;

	t_watchdog(120);
	CHECK_EQ(dc_region_create("mem:64M", &R), 0);
	CHECK_EQ(dc_region_claim(R, &page_frees, &hops), 0);
	test_grab_insert();
	test_bad_input();
	test_huge_entries();
	test_zap_pin_delete();
	test_truncate_final_waits();
	test_invalidate();
	test_writeback();
	test_cow_and_owners();
	test_poison_and_dying();
	test_lock_folio_waits();
	test_memory_failure_routing();
	dc_region_stats(R, &st);
	CHECK_EQ(st.busy, 0); /* no folio reference left anywhere */
	CHECK_EQ(dc_region_release(R, &page_frees), 0);
	CHECK_EQ(dc_region_remove(R, NULL), 0);
	dc_quiesce();
	return T_PASS;
}
