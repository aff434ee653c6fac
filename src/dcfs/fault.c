// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fault.c - serve a fault of a file page (the kernel's dax_iomap_fault()):
 * with the invalidate lock held shared, grab the entry, ask the iomap step,
 * insert, unlock.  The entry lock serialises faults of one range; the
 * invalidate lock keeps truncate and the other layout changes out until
 * the entry is in place (and a break layouts that follows zaps it).
 *
 * Entry sizes: on regions of 2 MiB or 1 GiB folios every entry is one
 * folio (one block).  On 4 KiB regions a caller that can map 2 MiB gets a
 * PMD entry where one aligned extent covers the whole 2 MiB inside the
 * file (a write fault of a 2 MiB hole tries to allocate such a run), and
 * 4 KiB entries elsewhere.
 */
#include "dcfs/dcfs_int.h"

#define PMD_PAGES 512u

/* The entry order to try for @index.  ext_lock held. */
static unsigned pick_order(struct dcfs_inode *ino, uint64_t index, unsigned order,
			   uint64_t size_pages)
{
	uint64_t a = index & ~(uint64_t)(PMD_PAGES - 1), hole;
	struct dcfs_ext e;
	bool shared;

	if (ino->fs->blk_order)
		return ino->fs->blk_order;
	if (order < 9 || a + PMD_PAGES > size_pages)
		return 0;
	if (dcfs_ext_lookup(&ino->ext, a, &e, &hole)) {
		if (e.len < PMD_PAGES || (e.pgoff & (PMD_PAGES - 1)))
			return 0;
		/* Shared blocks are mapped (and copied) one block at a time. */
		return !ino->shared_ever ||
		       (dcfs_shared_run(ino->fs, e.pgoff, PMD_PAGES, &shared) == PMD_PAGES && !shared)
			       ? 9 : 0;
	}
	return hole >= PMD_PAGES ? 9 : 0;
}

static void fill_result(struct dcfs_inode *ino, const struct dc_entry_handle *h, uint64_t index,
			bool shared, struct dc_dcfs_fault_result *res)
{
	res->index = h->index;
	res->order = h->order;
	res->zero = dc_entry_is_zero(h->entry);
	res->writable = !res->zero && !shared;
	if (res->zero) {
		res->pgoff = UINT64_MAX;
		res->addr = ino->fs->zero_page;
	} else {
		res->pgoff = dc_entry_pgoff(h->entry) + (index - h->index);
		res->addr = dc_region_addr(ino->fs->r, res->pgoff);
	}
}

/* Whether a folio of device pages [pgoff, pgoff + n) is poisoned. */
bool dcfs_poisoned(struct dc_dcfs *fs, uint64_t pgoff, uint64_t n)
{
	uint64_t fp = UINT64_C(1) << dc_region_folio_order(fs->r);

	if (!atomic_load_explicit(&fs->poison_seen, memory_order_relaxed))
		return false;
	for (uint64_t p = pgoff & ~(fp - 1); p < pgoff + n; p += fp) {
		struct dc_folio *f = dc_folio_lookup(fs->r, p);

		if (f && dc_folio_poisoned(f))
			return true;
	}
	return false;
}

/*
 * Copy-on-write, in two steps around the remap: cow_copy() allocates a
 * block for file page @fpage (its share count 1, a record in the reverse
 * map) and copies the shared block @x into it; dcfs_cow_done() then switches
 * the extent to the copy and drops this file's share of @x (@ok), or
 * gives the copy back (!@ok).  The copy counts in ino->pages from the start.  ext_lock held throughout; the copy reserves
 * the records both need, so dcfs_cow_done() cannot fail.
 * Return: 0 with *@y; 1 (@x is not shared any more: write it in place);
 * -ENOSPC, -ENOMEM, -EIO (@x poisoned, or the region is going away).
 */
static int cow_copy(struct dcfs_inode *ino, uint64_t fpage, uint64_t x, bool move, uint64_t *y)
{
	struct dc_dcfs *fs = ino->fs;
	uint64_t n = dcfs_blk_pages(fs), yb, got;
	int ret;

	/*
	 * Before the sharing check (bug 45): a write pin of the page that
	 * went through the entry before the caller took it, and whose own
	 * check finds the block unshared only because the other sharer let
	 * go after ours, sees this (that let-go's lock section follows ours)
	 * and pins again: else it would keep the block this copy replaces.
	 */
	if (DC_REGRESS_BUG != 45)
		atomic_fetch_add_explicit(&ino->share_seq, 1, memory_order_release);
	ret = dcfs_ext_reserve(&ino->ext, 2); /* the split around the block, its new record */
	if (ret)
		return ret;
	pthread_mutex_lock(&fs->alloc.lock);
	if (!move && dcfs_shares(fs, x) < 2) { /* the other sharers let go meanwhile: ours alone */
		pthread_mutex_unlock(&fs->alloc.lock);
		return 1;
	}
	ret = dcfs_rmap_reserve(fs, 3); /* the copy's record; two for the original's removal */
	if (!ret) {
		ret = dcfs_blocks_alloc_locked(fs, ino, fpage, UINT64_MAX, 1, 1, &yb, &got);
		if (ret)
			dcfs_rmap_unreserve(fs, 3);
	}
	pthread_mutex_unlock(&fs->alloc.lock);
	if (ret)
		return ret;
	atomic_fetch_add(&ino->pages, n); /* the copy's, until dcfs_cow_done() */
	*y = yb << fs->blk_order;
	dc_region_read_lock(fs->r);
	if (!dc_region_alive(fs->r))
		ret = dcfs_shut(fs);
	else if (dcfs_poisoned(fs, x, n))
		ret = dc__fail(-EIO, "dcfs cow: device page %llu is poisoned", (unsigned long long)x);
	else if (DC_REGRESS_BUG != 24) /* bug 24: no copy (and the write lands in the original) */
		memcpy(dc_region_addr(fs->r, *y), dc_region_addr(fs->r, x), n << DC_PAGE_SHIFT);
	dc_region_read_unlock(fs->r);
	if (!ret && fs->opt.sync)
		(void)dc_region_flush(fs->r, *y, n);
	if (ret)
		dcfs_cow_done(ino, fpage, x, *y, false);
	return ret;
}

void dcfs_cow_done(struct dcfs_inode *ino, uint64_t fpage, uint64_t x, uint64_t y, bool ok)
{
	struct dc_dcfs *fs = ino->fs;
	uint64_t n = dcfs_blk_pages(fs);

	(void)x;
	pthread_mutex_lock(&fs->alloc.lock);
	if (!ok) { /* nothing maps the copy: give it back (its record is a tail) */
		dcfs_give_back(ino, fpage, y, n);
	} else {
		DC_BUG_ON(dcfs_ext_remove(&ino->ext, fpage, n, dcfs_give_back, ino)); /* reserved */
		DC_BUG_ON(dcfs_ext_insert(&ino->ext, fpage, y, n));
		atomic_fetch_add_explicit(&fs->cow_copies, 1, memory_order_relaxed);
	}
	dcfs_rmap_unreserve(fs, 3);
	pthread_mutex_unlock(&fs->alloc.lock);
}

/*
 * The copy-on-write step of a write fault of the shared block @x (the
 * entry @h, one block, is locked; ext_lock held and kept): copy, map the
 * copy in the entry (DC_INSERT_UNSHARE: a pin on the original does not
 * hold us up; the original waits, unshared by this file, until its last
 * sharer and its last pin let go), then switch the extent.
 * Return: 0; 1 (not shared any more); a negative errno (nothing changed).
 */
#ifdef DC_FAULT_INJECT
/* Test builds: run in a CoW after the copy, before the replace (the entry locked). */
void (*dc__test_cow_hook)(struct dc_dcfs *fs);
#endif

static int cow(struct dcfs_inode *ino, struct dc_entry_handle *h, uint64_t x)
{
	struct dc_dcfs *fs = ino->fs;
	unsigned flags = DC_INSERT_COW | DC_INSERT_UNSHARE | (fs->opt.sync ? 0 : DC_INSERT_DIRTY);
	uint64_t y;
	int ret;

	if ((UINT64_C(1) << h->order) != dcfs_blk_pages(fs))
		return dc__fail(-EIO, "dcfs cow: an entry of order %u over a shared block", h->order);
	ret = cow_copy(ino, h->index, x, false, &y);
	if (ret)
		return ret;
	DC_TEST_HOOK(dc__test_cow_hook, fs);
	ret = dc_mapping_insert(h, DC_REGRESS_BUG == 24 ? x : y, flags);
	dcfs_cow_done(ino, h->index, x, y, !ret);
	return ret;
}

/*
 * Copy the block at file page @fpage of @ino, which no entry of the file
 * maps (the range was broken), to a new one: a shared block before bytes
 * of it are zeroed; with @move (the quarantine) a pinned one too, so that
 * the pin keeps the old block, quarantined, and the file the copy.
 * ext_lock held.  Return: 0; 1 (not shared after all: nothing copied); a
 * negative errno.
 */
int dcfs_cow_block(struct dcfs_inode *ino, uint64_t fpage, uint64_t x, bool move)
{
	uint64_t y;
	int ret = cow_copy(ino, fpage, x, move, &y);

	if (ret)
		return ret;
	dcfs_cow_done(ino, fpage, x, y, true);
	return 0;
}

/*
 * Fault file page @index in, for write or read, as an entry of at most
 * @order.  Caller holds the invalidate lock shared and a reference.
 */
int dcfs_fault(struct dcfs_inode *ino, uint64_t index, bool write, unsigned order,
	       struct dc_dcfs_fault_result *res)
{
	return dcfs_fault_at(ino, index, write ? DCFS_FAULT_WRITE : 0, order, res, NULL);
}

/*
 * dcfs_fault() with DCFS_FAULT_* @mode; *@wrote (if not NULL): whether the
 * fault was served for write (NOALLOC may serve a write as a read).
 */
int dcfs_fault_at(struct dcfs_inode *ino, uint64_t index, unsigned mode, unsigned order,
		  struct dc_dcfs_fault_result *res, bool *wrote)
{
	bool any_size = mode & DCFS_FAULT_ANY_SIZE, noalloc = mode & DCFS_FAULT_NOALLOC;
	struct dc_dcfs *fs = ino->fs;
	bool small = false;

	for (;;) {
		uint64_t size_pages, n;
		struct dc_entry_handle h;
		struct dcfs_ext map;
		bool mapped, fresh, shared, write = mode & DCFS_FAULT_WRITE;
		unsigned eo, flags;
		int ret;

		pthread_mutex_lock(&ino->ext_lock);
		size_pages = dcfs_size_pages(atomic_load(&ino->size));
		if (any_size)
			size_pages = DC_MAPPING_INDEX_MAX;
		eo = small ? fs->blk_order : pick_order(ino, index, order, size_pages);
		pthread_mutex_unlock(&ino->ext_lock);
		if (index >= size_pages)
			return dc__fail(-EFAULT, "dcfs fault: page %llu is past the end of file "
					"(%llu pages)", (unsigned long long)index,
					(unsigned long long)size_pages);
		ret = dc_mapping_grab(ino->m, index & ~((UINT64_C(1) << eo) - 1), eo, NULL, &h);
		if (ret == DC_GRAB_FALLBACK && !small) {
			small = true;
			continue;
		}
		if (ret == -ESHUTDOWN)
			return dc__fail(-EBADF, "dcfs fault: the file is being evicted");
		if (ret)
			return ret < 0 ? ret : dc__fail(-EIO, "dcfs fault: unexpected fallback");
		n = UINT64_C(1) << h.order;
		pthread_mutex_lock(&ino->ext_lock);
		ret = dcfs_iomap(ino, h.index, n, n, write && !noalloc ? DCFS_MAP_ALLOC : 0, &map,
				 &mapped, &fresh, &shared);
		if (!ret && noalloc && (!mapped || shared))
			write = false; /* fault-around: no allocation, no copy */
		if (wrote)
			*wrote = write;
		if (!ret && (map.len < n || (mapped && (map.pgoff & (n - 1))))) {
			/* Not one aligned extent (or hole) of the entry's size:
			 * pwrite filled part of it meanwhile.  Go small. */
			pthread_mutex_unlock(&ino->ext_lock);
			DC_BUG_ON(dc_mapping_unlock(&h));
			DC_BUG_ON(small);
			small = true;
			continue;
		}
		if (!ret && dc_entry_is_live(h.entry) && !write) {
			pthread_mutex_unlock(&ino->ext_lock);
			fill_result(ino, &h, index, shared, res); /* mapped meanwhile */
			DC_BUG_ON(dc_mapping_unlock(&h));
			return 0;
		}
		if (!ret && mapped && shared && write) {
			ret = cow(ino, &h, map.pgoff);
			if (ret <= 0) {
				pthread_mutex_unlock(&ino->ext_lock);
				if (!ret) {
					fill_result(ino, &h, index, false, res);
					atomic_fetch_add_explicit(&fs->faults, 1, memory_order_relaxed);
				}
				DC_BUG_ON(dc_mapping_unlock(&h));
				return ret;
			}
			shared = false; /* 1: not shared any more, ours to write */
			ret = 0;
		}
		pthread_mutex_unlock(&ino->ext_lock);
		flags = write && !fs->opt.sync ? DC_INSERT_DIRTY : 0;
		if (shared || ino->shared_ever)
			flags |= DC_INSERT_COW; /* the block may be (or have been) another file's too */
		if (!ret && mapped)
			ret = dc_mapping_insert(&h, map.pgoff, flags);
		else if (!ret)
			ret = dc_mapping_insert(&h, 0, DC_INSERT_ZERO);
		if (!ret) {
			fill_result(ino, &h, index, shared, res);
			atomic_fetch_add_explicit(&fs->faults, 1, memory_order_relaxed);
		}
		DC_BUG_ON(dc_mapping_unlock(&h));
		return ret;
	}
}

DC_API int dc_dcfs_fault(struct dc_dcfs *fs, int fd, uint64_t index, unsigned flags,
			 unsigned order, struct dc_dcfs_fault_result *res)
{
	bool write = flags & DC_DCFS_FAULT_WRITE;
	struct dcfs_inode *ino;
	int ret;

	if (!res || (flags & ~DC_DCFS_FAULT_WRITE) || (order != 0 && order != 9 && order != 18))
		return dc__fail(-EINVAL, "dcfs fault: bad argument (order %u, flags %#x)", order,
				flags);
	if (index > DC_MAPPING_INDEX_MAX)
		return dc__fail(-EFAULT, "dcfs fault: page %llu is past the largest file",
				(unsigned long long)index);
	ino = dcfs_call_begin(fs, fd, write, &ret);
	if (!ino)
		return ret;
	ret = dcfs_lock(&ino->invalidate, false, NULL, "invalidate");
	if (!ret) {
		ret = ino->dead ? dc__fail(-EBADF, "dcfs fault: the file was evicted")
				: dcfs_fault(ino, index, write, order, res);
		pthread_rwlock_unlock(&ino->invalidate);
	}
	dcfs_call_end(ino);
	return ret;
}
