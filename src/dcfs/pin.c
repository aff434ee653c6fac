// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pin.c - DMA pins of file ranges (the pin_user_pages() analogue).
 *
 * A pin takes one DC_PIN_BIAS on the folio of every page through the
 * mapping's lockless fast path (dc_mapping_get_folios(): load the entry,
 * pin, re-check it was not zapped), and faults in, then retries, whatever
 * is not mapped: so a pin never lands through a zapped entry (invariant 3)
 * and a truncate that zapped the range sees the pin as busy or never sees
 * it at all.  A write pin faults for write: DMA never writes the zero
 * page.  Each pin set is recorded (tag, range, age) in the mount's pin
 * table, found by id at unpin (exactly once), and in its file's list, which
 * dc_dcfs_pins() and the slow-wait reports read.
 */
#include "dcfs/dcfs_int.h"

struct dcfs_pin {
	uint64_t id;
	struct dcfs_inode *ino;
	struct dcfs_pin *hnext;        /* pin table chain */
	struct dcfs_pin *prev, *next;  /* the file's list, oldest first (or its pending list) */
	uint64_t off, len, first, npages, held, start_ns;
	unsigned flags;
	dc_dcfs_revoke_fn revoke;      /* a revocable long-term pin */
	void *revoke_arg;
	bool asked;                    /* pin_lock: revoke was called */
	char tag[DC_DCFS_TAG_MAX + 1];
	struct dc_folio **folios;      /* per page; NULL: the zero page; then npages pgoffs */
	struct dc_dcfs_seg *segs;
	unsigned nsegs;
};

/* ---- the pin table (pin_lock) ------------------------------------------------- */

static int table_reserve(struct dc_dcfs *fs)
{
	size_t nsize = fs->psize ? fs->psize * 2 : 64;
	struct dcfs_pin **nt;

	if (fs->npins < fs->psize)
		return 0;
	nt = dc__calloc(nsize, sizeof(*nt));
	if (!nt)
		return dc__fail(-ENOMEM, "dcfs pin: no memory for the pin table");
	for (size_t i = 0; i < fs->psize; i++) {
		struct dcfs_pin *p, *next;

		for (p = fs->ptab[i]; p; p = next) {
			next = p->hnext;
			p->hnext = nt[p->id & (nsize - 1)];
			nt[p->id & (nsize - 1)] = p;
		}
	}
	free(fs->ptab);
	fs->ptab = nt;
	fs->psize = nsize;
	return 0;
}

/* Whether file pages [first, first + n) meet an open break window of @ino (pin_lock). */
static bool in_break(const struct dcfs_inode *ino, uint64_t first, uint64_t n)
{
	return ino->brk_n && first <= ino->brk_last && first + n - 1 >= ino->brk_first;
}

/*
 * A pin call in flight is on its file's pending list (its range known)
 * from before its first lookup until it is recorded or fails, so that
 * dcfs_pins_on() sees it (pin_lock held).
 */
static void pending_add(struct dcfs_pin *p)
{
	struct dcfs_inode *ino = p->ino;

	p->prev = NULL;
	p->next = ino->pending;
	if (ino->pending)
		ino->pending->prev = p;
	ino->pending = p;
}

static void pending_del(struct dcfs_pin *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		p->ino->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
}

static void record(struct dc_dcfs *fs, struct dcfs_pin *p)
{
	struct dcfs_inode *ino = p->ino;

	p->id = fs->next_pin_id++;
	p->hnext = fs->ptab[p->id & (fs->psize - 1)];
	fs->ptab[p->id & (fs->psize - 1)] = p;
	fs->npins++;
	fs->pinned_pages += p->held;
	p->next = NULL;
	p->prev = ino->pins_tail;
	if (ino->pins_tail)
		ino->pins_tail->next = p;
	else
		ino->pins_head = p;
	ino->pins_tail = p;
	ino->pinned_pages += p->held;
}

/* Find and remove the pin set @ps names (pin_lock held); NULL if none. */
static struct dcfs_pin *unrecord(struct dc_dcfs *fs, const struct dc_dcfs_pinset *ps)
{
	struct dcfs_pin **pp, *p;
	struct dcfs_inode *ino;

	if (!fs->psize)
		return NULL;
	for (pp = &fs->ptab[ps->id & (fs->psize - 1)]; (p = *pp); pp = &p->hnext)
		if (p->id == ps->id && p->segs == ps->segs)
			break;
	if (!p)
		return NULL;
	*pp = p->hnext;
	fs->npins--;
	fs->pinned_pages -= p->held;
	ino = p->ino;
	if (p->prev)
		p->prev->next = p->next;
	else
		ino->pins_head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		ino->pins_tail = p->prev;
	ino->pinned_pages -= p->held;
	return p;
}

/* ---- pinning ------------------------------------------------------------------- */

/* The device pages a segment touches. */
static uint64_t seg_pages(const struct dc_dcfs_seg *s)
{
	return dcfs_size_pages(((uintptr_t)s->addr & (DC_PAGE_SIZE - 1)) + s->len);
}

/* Unpin the first @n pages of @p, in runs between zero pages. */
static void put_all(struct dcfs_pin *p, uint64_t n)
{
	for (uint64_t i = 0; i < n;) {
		uint64_t run = 0;

		while (i + run < n && p->folios[i + run])
			run++;
		if (run)
			dc_mapping_put_folios(&p->folios[i], run, true);
		i += run + 1; /* past the run and the zero page after it */
	}
}

/*
 * Of the @n pages just pinned from @i on, how many come before the first
 * shared block: a write pin must not land in a block another file shares
 * (a read fault mapped it read-only); that page is copied first.
 */
static uint64_t unshared_prefix(struct dcfs_inode *ino, struct dcfs_pin *p, uint64_t i,
				uint64_t n)
{
	struct dc_dcfs *fs = ino->fs;
	uint64_t mask = dcfs_blk_pages(fs) - 1;

	for (uint64_t k = 0; k < n; k++) {
		struct dc_folio *f = p->folios[i + k];

		if (dcfs_shares(fs, dc_folio_pgoff(f) + ((p->first + i + k) & mask)) > 1)
			return k;
	}
	return n;
}

#ifdef DC_FAULT_INJECT
/* Test builds: run after the fast path pinned pages, before they are checked for sharing. */
void (*dc__test_pin_hook)(struct dc_dcfs *fs);
#endif

/*
 * Pin every page of @p: fast path, fault what is missing, retry.
 *
 * A write pin of a file that shares blocks pins only through entries that
 * no fault holds locked (DC_GET_UNLOCKED): a CoW holds the entry's lock
 * from its sharing check to the replace, and a pin through the entry in
 * between could take the old block after the other sharer let go of it,
 * find it unshared, and keep it, while the CoW replaces it and drops the
 * file's share (found by the torture: the block went to the quarantine
 * under the DMA, on a mount without it).  Such a page is faulted
 * instead: the fault waits for the lock.
 *
 * A write pin of a file that shares blocks checks the pages it pinned for
 * sharing, and copies a shared one first.  The check comes after the
 * pin, so the file may let go of the block in between: a CoW of the page
 * by another thread, or on a quarantine mount a punch, collapse or
 * reflink onto it (they do not wait for pins), removes the entry after
 * the fast path's re-check (the pin holds the old block), then drops the
 * file's share, and the check then finds the old block unshared, but it
 * is the other sharer's alone.  Or a CoW that took the entry after the
 * fast path found the block shared, and the other sharer let go after
 * its check and before ours.  So the pin also reads the file's share_seq
 * before the fast path and again after the check: a drop the check saw
 * was counted before it (dcfs_give_back()), and so was a CoW whose check
 * came before that drop (cow_copy()); one counted before the first read
 * removed or locked its entry before the fast path looked.  If the count
 * moved, the pages are put back and pinned again (the entry is gone,
 * replaced or locked by then: no spin).
 */
static int pin_pages(struct dcfs_inode *ino, struct dcfs_pin *p)
{
	bool write = !(p->flags & DC_DCFS_PIN_READONLY);
	uint64_t i = 0;

	while (i < p->npages) {
		struct dc_dcfs_fault_result res;
		uint64_t drops = atomic_load_explicit(&ino->share_seq, memory_order_acquire);
		bool shares = write && atomic_load(&ino->shared_ever);
		/* bug 44: pins through an entry a CoW holds (locked) */
		unsigned gf = DC_GET_PIN | (shares && DC_REGRESS_BUG != 44 ? DC_GET_UNLOCKED : 0);
		int n = dc_mapping_get_folios_flags(ino->m, p->first + i, p->npages - i, gf,
						    &p->folios[i]);
		int ret;

		if (n < 0) { /* -EOVERFLOW: a folio has all the references it can hold */
			put_all(p, i);
			return n;
		}
		if (shares && n) {
			uint64_t k;

			DC_TEST_HOOK(dc__test_pin_hook, ino->fs);
			k = unshared_prefix(ino, p, i, (uint64_t)n);
			if (DC_REGRESS_BUG != 41 && /* bug 41: a drop meanwhile left a sharer's block pinned */
			    atomic_load_explicit(&ino->share_seq, memory_order_relaxed) != drops) {
				dc_mapping_put_folios(&p->folios[i], (uint64_t)n, true);
				dc_wake_var(ino->fs); /* unpinned: see dcfs_range_pinned() */
				continue;
			}
			if (k < (uint64_t)n) { /* copy the shared block, then pin the copy */
				dc_mapping_put_folios(&p->folios[i + k], (uint64_t)n - k, true);
				dc_wake_var(ino->fs);
				i += k;
				ret = dcfs_cow_page(ino, p->first + i);
				if (ret) {
					put_all(p, i);
					return ret;
				}
				continue;
			}
		}
		i += (uint64_t)n;
		if (i == p->npages)
			break;
		ret = dcfs_lock(&ino->invalidate, false, NULL, "invalidate");
		if (!ret) {
			ret = ino->dead ? dc__fail(-EBADF, "dcfs pin: the file was evicted")
					: dcfs_fault(ino, p->first + i, write, 9, &res);
			pthread_rwlock_unlock(&ino->invalidate);
		}
		if (ret) {
			put_all(p, i);
			return ret;
		}
		if (res.zero) { /* a read-only pin of a hole: the zero page, no reference */
			p->folios[i++] = NULL;
		}
		/* else the fast path pins it now (or the entry went again: fault again) */
	}
	return 0;
}

/*
 * The device page of each pinned page (UINT64_MAX: the zero page) into
 * @pg, and the number of segments they make.  Entries map folio-aligned
 * file ranges to folio-aligned device pages, so a page's place in its
 * folio is its file index's place in the block.  (Not "the page after the
 * one before": two neighbouring file pages may map the same folio, a
 * reflink within one file onto the next block, and the second page is
 * then the folio's first again, not the device page after it.)
 */
static uint64_t page_pgoffs(struct dc_dcfs *fs, const struct dcfs_pin *p, uint64_t *pg)
{
	uint64_t mask = dcfs_blk_pages(fs) - 1, nsegs = 0;

	for (uint64_t i = 0; i < p->npages; i++) {
		struct dc_folio *f = p->folios[i];

		if (!f)
			pg[i] = UINT64_MAX;
		else if (DC_REGRESS_BUG == 29 && i && f == p->folios[i - 1]) /* bug 29 */
			pg[i] = pg[i - 1] + 1;
		else
			pg[i] = dc_folio_pgoff(f) + ((p->first + i) & mask);
		nsegs += !i || pg[i - 1] == UINT64_MAX || pg[i] != pg[i - 1] + 1;
	}
	return nsegs;
}

/* Build the merged segments of @p's bytes.  -ENOMEM. */
static int build_segs(struct dc_dcfs *fs, struct dcfs_pin *p)
{
	uint64_t in = p->off & (DC_PAGE_SIZE - 1), left = p->len, nsegs;
	uint64_t *pg = (uint64_t *)(p->folios + p->npages);
	unsigned n = 0;

	nsegs = page_pgoffs(fs, p, pg);
	p->segs = dc__malloc(nsegs * sizeof(*p->segs));
	if (!p->segs)
		return dc__fail(-ENOMEM, "dcfs pin: no memory for %llu segments",
				(unsigned long long)nsegs);
	for (uint64_t i = 0; i < p->npages; i++) {
		uint64_t chunk = DC_PAGE_SIZE - in;

		if (chunk > left)
			chunk = left;
		if (i && pg[i - 1] != UINT64_MAX && pg[i] == pg[i - 1] + 1) {
			p->segs[n - 1].len += chunk;
		} else {
			char *addr = pg[i] == UINT64_MAX ? fs->zero_page : dc_region_addr(fs->r, pg[i]);

			p->segs[n++] = (struct dc_dcfs_seg){ addr + in, pg[i], chunk };
		}
		left -= chunk;
		in = 0;
		p->held += pg[i] != UINT64_MAX;
	}
	p->nsegs = n;
	return 0;
}

static int pin_args(uint64_t off, uint64_t len, unsigned flags, dc_dcfs_revoke_fn revoke,
		    struct dc_dcfs_pinset *ps)
{
	if (!ps || !len || len > DC_DCFS_SIZE_MAX || off > DC_DCFS_SIZE_MAX - len ||
	    (flags & ~(DC_DCFS_PIN_READONLY | DC_DCFS_PIN_LONGTERM)))
		return dc__fail(-EINVAL, "dcfs pin: bad argument (offset %llu, length %llu, "
				"flags %#x)", (unsigned long long)off, (unsigned long long)len, flags);
	if ((flags & DC_DCFS_PIN_LONGTERM) && !revoke)
		return dc__fail(-EOPNOTSUPP, "dcfs pin: a long-term pin must register a revoke "
				"callback (dc_dcfs_pin_revocable())");
	return 0;
}

/*
 * Pin bytes of @ino for a call that began (an active reference and an
 * inode reference, which the pin set keeps on success and dcfs_call_end()
 * gives back on failure).
 */
static int pin_ino(struct dc_dcfs *fs, struct dcfs_inode *ino, uint64_t off, uint64_t len,
		   unsigned flags, const char *tag, dc_dcfs_revoke_fn revoke, void *arg,
		   struct dc_dcfs_pinset *ps)
{
	struct dcfs_pin *p;
	uint64_t size;
	int ret;

	size = atomic_load(&ino->size);
	if (off + len > size) {
		dcfs_call_end(ino);
		return dc__fail(-EFAULT, "dcfs pin: bytes [%llu, %llu) reach past the end of "
				"file (%llu)", (unsigned long long)off,
				(unsigned long long)(off + len), (unsigned long long)size);
	}
	p = dc__calloc(1, sizeof(*p));
	if (p) {
		p->first = off >> DC_PAGE_SHIFT;
		p->npages = dcfs_size_pages((off & (DC_PAGE_SIZE - 1)) + len);
		/* the folios, then their device pages (build_segs()) */
		p->folios = dc__calloc(p->npages, sizeof(*p->folios) + sizeof(uint64_t));
	}
	if (!p || !p->folios) {
		ret = dc__fail(-ENOMEM, "dcfs pin: no memory");
		goto err_free;
	}
	p->ino = ino;
	p->off = off;
	p->len = len;
	p->flags = flags;
	p->revoke = revoke;
	p->revoke_arg = arg;
	p->start_ns = dc_now_ns();
	if (tag) /* the rest stays zero (calloc) */
		memcpy(p->tag, tag, strnlen(tag, DC_DCFS_TAG_MAX));
	/*
	 * Pending before any page is looked up: a break that removed an entry
	 * and then sees no pin of ours on its range (dcfs_pins_on(), under
	 * pin_lock too) knows that our lookups come after the removal.
	 */
	pthread_mutex_lock(&fs->pin_lock);
	pending_add(p);
	pthread_mutex_unlock(&fs->pin_lock);
	ret = pin_pages(ino, p);
	if (ret)
		goto err_pending;
	/*
	 * The size again, now that the pages are pinned: a truncate that ran
	 * meanwhile either waits for this pin (it has not set the size yet) or
	 * is done, and then the pin would hold bytes past the new end of file
	 * (a DMA into them would race the zeroing of a later growth).
	 */
	if (DC_REGRESS_BUG != 27 && off + len > atomic_load(&ino->size)) { /* bug 27: no re-check */
		put_all(p, p->npages);
		ret = dc__fail(-EFAULT, "dcfs pin: the file was truncated below [%llu, %llu) "
			       "meanwhile", (unsigned long long)off, (unsigned long long)(off + len));
		goto err_pending;
	}
	ret = build_segs(fs, p);
	if (!ret) {
		pthread_mutex_lock(&fs->pin_lock);
		ret = table_reserve(fs);
		if (!ret && revoke && in_break(ino, p->first, p->npages))
			ret = dc__fail(-EAGAIN, "dcfs pin: an operation is asking the pins of "
				       "[%llu, +%llu) back: try again after it",
				       (unsigned long long)off, (unsigned long long)len);
		if (!ret) { /* pending to recorded: dcfs_pins_on() sees the range throughout */
			pending_del(p);
			record(fs, p);
		}
		pthread_mutex_unlock(&fs->pin_lock);
	}
	if (ret) {
		put_all(p, p->npages);
		goto err_pending;
	}
	ps->id = p->id;
	ps->offset = off;
	ps->length = len;
	ps->nsegs = p->nsegs;
	ps->segs = p->segs;
	dcfs_active_put(fs); /* the call's inode reference is the pin set's now */
	return 0;
err_pending:
	pthread_mutex_lock(&fs->pin_lock);
	pending_del(p);
	pthread_mutex_unlock(&fs->pin_lock);
	dc_wake_var(fs); /* a reflink's break waits for pinned blocks (layout.c) */
err_free:
	if (p) {
		free(p->segs);
		free(p->folios);
		free(p);
	}
	dcfs_call_end(ino);
	return ret;
}

static int pin(struct dc_dcfs *fs, int fd, uint64_t off, uint64_t len, unsigned flags,
	       const char *tag, dc_dcfs_revoke_fn revoke, void *arg, struct dc_dcfs_pinset *ps)
{
	struct dcfs_inode *ino;
	int ret = pin_args(off, len, flags, revoke, ps);

	if (ret)
		return ret;
	ino = dcfs_call_begin(fs, fd, !(flags & DC_DCFS_PIN_READONLY), &ret);
	if (!ino)
		return ret;
	return pin_ino(fs, ino, off, len, flags, tag, revoke, arg, ps);
}

DC_API int dc_dcfs_pin_user(struct dc_dcfs *fs, const void *addr, uint64_t len, unsigned flags,
			    const char *tag, struct dc_dcfs_pinset *ps)
{
	struct dc_view_ref ref;
	struct dcfs_inode *ino;
	int ret;

	if (!fs)
		return dc__fail(-EINVAL, "dcfs pin_user: NULL file system");
	if (flags & DC_DCFS_PIN_LONGTERM)
		return dc__fail(-EOPNOTSUPP, "dcfs pin_user: a long-term pin must register a "
				"revoke callback (dc_dcfs_pin_revocable())");
	ret = dc_view_resolve(addr, len, !(flags & DC_DCFS_PIN_READONLY), &ref);
	if (ret)
		return ret;
	ino = ref.file;
	if (ref.ops != &dcfs_view_ops || ino->fs != fs) {
		dc_view_resolve_put(&ref);
		return dc__fail(-EFAULT, "dcfs pin_user: %p is a view of another file system",
				addr);
	}
	ret = pin_args(ref.offset, len, flags, NULL, ps);
	if (!ret)
		ret = dcfs_active_get(fs);
	if (!ret) {
		dcfs_inode_get(ino); /* the view's open keeps it alive until then */
		ret = pin_ino(fs, ino, ref.offset, len, flags, tag, NULL, NULL, ps);
	}
	dc_view_resolve_put(&ref);
	return ret;
}

DC_API int dc_dcfs_pin(struct dc_dcfs *fs, int fd, uint64_t off, uint64_t len, unsigned flags,
		       const char *tag, struct dc_dcfs_pinset *ps)
{
	return pin(fs, fd, off, len, flags, tag, NULL, NULL, ps);
}

DC_API int dc_dcfs_pin_revocable(struct dc_dcfs *fs, int fd, uint64_t off, uint64_t len,
				 unsigned flags, const char *tag, dc_dcfs_revoke_fn revoke,
				 void *arg, struct dc_dcfs_pinset *ps)
{
	if (!revoke)
		return dc__fail(-EOPNOTSUPP, "dcfs pin: a revocable pin needs a revoke callback");
	return pin(fs, fd, off, len, flags | DC_DCFS_PIN_LONGTERM, tag, revoke, arg, ps);
}

/*
 * Ask the revocable pins of @ino that hold pages of [first, last] for
 * their pins back, each once, and open a break window there (a new
 * revocable pin of it gets -EAGAIN) until dcfs_leases_end().  Called with
 * no lock held; the callbacks run with none (they may unpin).
 */
void dcfs_leases_break(struct dcfs_inode *ino, uint64_t first, uint64_t last, const char *op)
{
	struct dc_dcfs *fs = ino->fs;

	pthread_mutex_lock(&fs->pin_lock);
	if (!ino->brk_n++) {
		ino->brk_first = first;
		ino->brk_last = last;
	} else {
		ino->brk_first = first < ino->brk_first ? first : ino->brk_first;
		ino->brk_last = last > ino->brk_last ? last : ino->brk_last;
	}
	for (;;) {
		struct dc_dcfs_revoke rv;
		dc_dcfs_revoke_fn fn = NULL;
		char tag[DC_DCFS_TAG_MAX + 1];
		void *arg = NULL;

		for (struct dcfs_pin *p = ino->pins_head; p; p = p->next) {
			if (!p->revoke || p->asked || p->first > last ||
			    p->first + p->npages - 1 < first)
				continue;
			p->asked = true;
			memcpy(tag, p->tag, sizeof(tag));
			rv = (struct dc_dcfs_revoke){
				.id = p->id, .ino = ino->ino, .offset = first << DC_PAGE_SHIFT,
				.length = last >= DC_MAPPING_INDEX_MAX
						  ? UINT64_MAX
						  : (last - first + 1) << DC_PAGE_SHIFT,
				.op = op, .tag = tag,
			};
			fn = p->revoke;
			arg = p->revoke_arg;
			break;
		}
		if (!fn)
			break;
		pthread_mutex_unlock(&fs->pin_lock);
		atomic_fetch_add(&fs->revokes, 1);
		dc__cb_enter();
		fn(fs, &rv, arg);
		dc__cb_exit();
		pthread_mutex_lock(&fs->pin_lock);
	}
	pthread_mutex_unlock(&fs->pin_lock);
}

/*
 * Whether a pin of @ino may hold file pages [first, last]: a pin set, or a
 * pin call in flight, covers some of them.
 */
bool dcfs_pins_on(struct dcfs_inode *ino, uint64_t first, uint64_t last)
{
	bool on = false;

	pthread_mutex_lock(&ino->fs->pin_lock);
	for (struct dcfs_pin *p = ino->pending; p && !on; p = p->next)
		on = p->first <= last && p->first + p->npages - 1 >= first;
	for (struct dcfs_pin *p = ino->pins_head; p && !on; p = p->next)
		on = p->first <= last && p->first + p->npages - 1 >= first;
	pthread_mutex_unlock(&ino->fs->pin_lock);
	return on;
}

void dcfs_leases_end(struct dcfs_inode *ino)
{
	pthread_mutex_lock(&ino->fs->pin_lock);
	DC_BUG_ON(!ino->brk_n);
	ino->brk_n--;
	pthread_mutex_unlock(&ino->fs->pin_lock);
}

DC_API int dc_dcfs_unpin(struct dc_dcfs *fs, struct dc_dcfs_pinset *ps)
{
	struct dcfs_inode *ino;
	struct dcfs_pin *p = NULL;

	if (!fs || !ps)
		return dc__fail(-EINVAL, "dcfs unpin: NULL argument");
	pthread_mutex_lock(&fs->pin_lock);
	if (ps->id)
		p = unrecord(fs, ps);
	pthread_mutex_unlock(&fs->pin_lock);
	if (!p)
		return dc__fail(-EINVAL, "dcfs unpin: pin set %llu is not pinned (unpinned "
				"already?)", (unsigned long long)ps->id);
	ino = p->ino;
	if (!(p->flags & DC_DCFS_PIN_READONLY)) /* what DMA wrote: fsync flushes it */
		for (unsigned i = 0; i < p->nsegs; i++)
			dcfs_written(ino, p->segs[i].pgoff, seg_pages(&p->segs[i]));
	put_all(p, p->npages);
	ps->id = 0;
	ps->segs = NULL;
	ps->nsegs = 0;
	free(p->segs);
	free(p->folios);
	free(p);
	dc_wake_var(ino->fs); /* a reflink's break waits for pinned blocks (layout.c) */
	dcfs_inode_put(ino);
	return 0;
}

/* Pin sets of @ino holding file pages in [first, last]; pin_lock taken. */
void dcfs_pins_list(struct dcfs_inode *ino, uint64_t first, uint64_t last,
		    struct dc_dcfs_pin_info *out, unsigned max, unsigned *total)
{
	struct dc_dcfs *fs = ino->fs;
	uint64_t now = dc_now_ns();
	unsigned n = 0;

	pthread_mutex_lock(&fs->pin_lock);
	for (struct dcfs_pin *p = ino->pins_head; p; p = p->next) {
		if (p->first > last || p->first + p->npages - 1 < first)
			continue;
		if (n < max)
			out[n] = (struct dc_dcfs_pin_info){
				.id = p->id, .ino = ino->ino, .offset = p->off, .length = p->len,
				.pages = p->held, .age_ns = now - p->start_ns, .flags = p->flags,
			};
		if (n < max)
			memcpy(out[n].tag, p->tag, sizeof(p->tag));
		n++;
	}
	pthread_mutex_unlock(&fs->pin_lock);
	*total = n;
}

/*
 * Flush the device pages of @ino's write pins: DMA may have written them
 * since they were pinned (fsync).  The pages stay pinned meanwhile: the
 * pin_lock keeps the pin sets from being released under the flush.
 */
void dcfs_pins_flush(struct dcfs_inode *ino)
{
	struct dc_dcfs *fs = ino->fs;

	pthread_mutex_lock(&fs->pin_lock);
	for (struct dcfs_pin *p = ino->pins_head; p; p = p->next) {
		if (p->flags & DC_DCFS_PIN_READONLY)
			continue;
		for (unsigned i = 0; i < p->nsegs; i++)
			(void)dc_region_flush(fs->r, p->segs[i].pgoff, seg_pages(&p->segs[i]));
	}
	pthread_mutex_unlock(&fs->pin_lock);
}

DC_API int dc_dcfs_pins(struct dc_dcfs *fs, int fd, uint64_t off, uint64_t len,
			struct dc_dcfs_pin_info *out, unsigned max)
{
	struct dcfs_inode *ino;
	unsigned total;
	uint64_t last;
	int ret;

	if ((!out && max) || !len || (len != UINT64_MAX && off > UINT64_MAX - len))
		return dc__fail(-EINVAL, "dcfs pins: bad argument (offset %llu, length %llu)",
				(unsigned long long)off, (unsigned long long)len);
	ino = dcfs_fd_get(fs, fd, false, &ret);
	if (!ino)
		return ret;
	last = len == UINT64_MAX ? UINT64_MAX : (off + len - 1) >> DC_PAGE_SHIFT;
	dcfs_pins_list(ino, off >> DC_PAGE_SHIFT, last, out, max, &total);
	dcfs_inode_put(ino);
	return (int)total;
}

/* For the check: @ino's pin sets, the pages they hold, and its own count. */
void dcfs_pins_tally(struct dcfs_inode *ino, uint64_t *sets, uint64_t *held, uint64_t *counted)
{
	pthread_mutex_lock(&ino->fs->pin_lock);
	*sets = *held = 0;
	for (struct dcfs_pin *p = ino->pins_head; p; p = p->next) {
		(*sets)++;
		*held += p->held;
	}
	*counted = ino->pinned_pages;
	pthread_mutex_unlock(&ino->fs->pin_lock);
}
