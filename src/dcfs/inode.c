// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * inode.c - a file: its locks, its mapping, its lifetime (references,
 * eviction, free), and the two block-level helpers the layout operations
 * share (free a file range's blocks, zero a byte range in place).
 */
#include "dcfs/dcfs_int.h"

struct dcfs_inode *dcfs_inode_new(struct dc_dcfs *fs, const char *name, int *err)
{
	struct dcfs_inode *ino = dc__calloc(1, sizeof(*ino));

	if (!ino || !(ino->name = dc__malloc(strlen(name) + 1))) {
		free(ino);
		*err = dc__fail(-ENOMEM, "dcfs: no memory for file '%s'", name);
		return NULL;
	}
	strcpy(ino->name, name);
	*err = dc_view_file_create(fs->r, &dcfs_view_ops, ino, fs->opt.fault_around, &ino->vf);
	if (*err) {
		free(ino->name);
		free(ino);
		return NULL;
	}
	*err = dc_mapping_create(fs->r, &dcfs_mapping_ops, ino, &ino->m);
	if (*err == -ENXIO) /* removal began; the shutdown is on its way */
		*err = dcfs_shut(fs);
	if (*err) {
		DC_BUG_ON(dc_view_file_destroy(ino->vf));
		free(ino->name);
		free(ino);
		return NULL;
	}
	ino->fs = fs;
	ino->nlink = 1;
	atomic_init(&ino->refs, 1); /* the name */
	dcfs_rwlock_init(&ino->io_lock);
	dcfs_rwlock_init(&ino->invalidate);
	pthread_mutex_init(&ino->ext_lock, NULL);
	dcfs_ext_init(&ino->ext);
	dcfs_ext_init(&ino->dirty);
	return ino;
}

void dcfs_inode_get(struct dcfs_inode *ino)
{
	atomic_fetch_add(&ino->refs, 1);
}

/*
 * Empty and destroy a mapping of a mount that is shutting down: its
 * entries go whatever pins still hold (removal waits for those).
 */
void dcfs_mapping_drop(struct dc_mapping *m)
{
	while (dc_mapping_abandon(m, 0, DC_MAPPING_INDEX_MAX, NULL) < 0)
		; /* only a wait bounded by nothing fails: cannot happen */
	DC_BUG_ON(dc_mapping_destroy(m));
}

/*
 * Free an inode nothing refers to any more (evicted, or at unmount).  Its
 * mapping was taken from it (ino->m, under ns_lock) by the caller, or by
 * dcfs_teardown() before: @m may be NULL.
 */
void dcfs_inode_free(struct dcfs_inode *ino, struct dc_mapping *m)
{
	DC_BUG_ON(!ino->dead || ino->pins_head || ino->pending);
	if (m && atomic_load(&ino->fs->shutdown))
		dcfs_mapping_drop(m); /* an eviction in shutdown left its entries */
	else if (m)
		DC_BUG_ON(dc_mapping_destroy(m));
	DC_BUG_ON(dc_view_file_destroy(ino->vf)); /* views hold opens: none is left */
	dcfs_ext_free(&ino->ext);
	dcfs_ext_free(&ino->dirty);
	pthread_rwlock_destroy(&ino->io_lock);
	pthread_rwlock_destroy(&ino->invalidate);
	pthread_mutex_destroy(&ino->ext_lock);
	free(ino->name);
	free(ino);
}

/*
 * The common entry of the calls that hold the file's I/O lock (pread,
 * pwrite, fsync, the layout operations): the inode behind @fd with a
 * reference for the call, its I/O lock taken (exclusive for @write, which
 * also needs a read-write descriptor) within @opts, and not evicted.  NULL
 * with *@err (-EBADF, -EIO, the lock's -ETIMEDOUT/-EINTR/-EDEADLK).
 * dcfs_io_end() gives both back.
 */
struct dcfs_inode *dcfs_io_begin(struct dc_dcfs *fs, int fd, bool write,
				 const struct dc_wait_opts *opts, int *err)
{
	struct dcfs_inode *ino = dcfs_call_begin(fs, fd, write, err);

	if (!ino)
		return NULL;
	*err = dcfs_lock(&ino->io_lock, write, opts, "I/O");
	if (!*err && ino->dead) {
		pthread_rwlock_unlock(&ino->io_lock);
		*err = dc__fail(-EBADF, "dcfs: the file was evicted");
	}
	if (*err) {
		dcfs_call_end(ino);
		return NULL;
	}
	return ino;
}

void dcfs_io_end(struct dcfs_inode *ino)
{
	pthread_rwlock_unlock(&ino->io_lock);
	dcfs_call_end(ino);
}

/*
 * Drop a reference.  The last one of an evicted inode unlinks it from the
 * mount's inode list and frees it (a grace period: not under any lock);
 * the last one of an orphan (an eviction that timed out waiting for pins)
 * finishes that eviction first.
 */
void dcfs_inode_put(struct dcfs_inode *ino)
{
	struct dc_dcfs *fs = ino->fs;
	struct dc_mapping *m;

	if (atomic_fetch_sub(&ino->refs, 1) != 1)
		return;
	pthread_mutex_lock(&fs->ns_lock);
	if (ino->orphan && !ino->evicting) {
		/* An eviction timed out and what it waited for is gone now
		 * (the last pin set of the file was just released): finish it. */
		ino->evicting = true;
		pthread_mutex_unlock(&fs->ns_lock);
		(void)dcfs_evict(ino, NULL); /* nothing left to wait for but transients */
		pthread_mutex_lock(&fs->ns_lock);
		ino->evicting = false;
	}
	if (!ino->dead || ino->evicting) {
		/* Linked at unmount, or an eviction is running: unmount, or the
		 * evicting thread's own put, frees it. */
		pthread_mutex_unlock(&fs->ns_lock);
		return;
	}
	if (ino->prev)
		ino->prev->next = ino->next;
	else
		fs->ihead = ino->next;
	if (ino->next)
		ino->next->prev = ino->prev;
	else
		fs->itail = ino->prev;
	fs->ninodes--;
	m = ino->m;
	ino->m = NULL;
	pthread_mutex_unlock(&fs->ns_lock);
	dcfs_inode_free(ino, m);
}

/*
 * dcfs_ext_remove() callback, the one place blocks leave a file: drop the
 * file's share of a removed device range (the block goes back to the
 * allocator, or to the quarantine while still referenced, once no file
 * shares it).  Allocator lock held, records reserved.
 */
void dcfs_give_back(void *arg, uint64_t fpage, uint64_t pgoff, uint64_t len)
{
	struct dcfs_inode *ino = arg;

	(void)dcfs_ext_remove(&ino->dirty, pgoff, len, NULL, NULL);
	atomic_fetch_sub(&ino->pages, len);
	/* Before the share drop (a release store): a write pin whose sharing
	 * check sees the drop sees this too, and one whose first look saw
	 * this looked after the entries went (pin_pages()). */
	atomic_fetch_add_explicit(&ino->share_seq, 1, memory_order_release);
	dcfs_blocks_put(ino->fs, ino, fpage, pgoff, len);
}

/*
 * Take file pages [first, first + len) (block-aligned; len UINT64_MAX: to
 * the end) out of the file and drop its share of their blocks.  The caller
 * holds ext_lock, has deleted every entry that mapped them, and waited for
 * their pins (invariant 4) or chose the quarantine; a split of one extent
 * in two needs an extent record reserved first.
 * Return: 0; -ENOMEM (nothing changed).
 */
int dcfs_free_range(struct dcfs_inode *ino, uint64_t first, uint64_t len)
{
	struct dc_dcfs *fs = ino->fs;
	int ret;

	/* The dirty set may need a record to split too; if it cannot get one
	 * the flush of a freed block is only wasted work. */
	(void)dcfs_ext_reserve(&ino->dirty, 1);
	pthread_mutex_lock(&fs->alloc.lock);
	ret = dcfs_rmap_reserve(fs, 2); /* a removal splits at most two records */
	if (!ret) {
		ret = dcfs_ext_remove(&ino->ext, first, len, dcfs_give_back, ino);
		dcfs_rmap_unreserve(fs, 2);
	}
	pthread_mutex_unlock(&fs->alloc.lock);
	return ret;
}

/*
 * Give back the blocks past the end of file's last block, which a failed
 * allocating call left (ext_lock held; no entry maps them: faults past the
 * end of file fail).
 */
void dcfs_trim_eof(struct dcfs_inode *ino)
{
	uint64_t bb = dcfs_blk_bytes(ino->fs);

	/* -ENOMEM leaves them (dc_dcfs_check() would say so): nothing maps them. */
	(void)dcfs_free_range(ino, ((atomic_load(&ino->size) + bb - 1) & ~(bb - 1)) >> DC_PAGE_SHIFT,
			      UINT64_MAX);
}

/*
 * Device pages [pgoff, pgoff + n) of the file were written (by pwrite's
 * copy, or DMA through a write pin): flush them now (mounted sync) or
 * remember them for fsync.  No lock held.
 */
void dcfs_written(struct dcfs_inode *ino, uint64_t pgoff, uint64_t n)
{
	struct dc_dcfs *fs = ino->fs;
	int ret = 0;

	if (atomic_load(&fs->shutdown))
		return; /* the region is going away (maybe gone): nothing to make durable */
	if (!fs->opt.sync) {
		pthread_mutex_lock(&ino->ext_lock);
		ret = dcfs_set_add(&ino->dirty, pgoff, n);
		pthread_mutex_unlock(&ino->ext_lock);
	}
	if (fs->opt.sync || ret) /* sync, or no memory to remember it */
		(void)dc_region_flush(fs->r, pgoff, n);
}

/*
 * Zero file bytes [from, to) where blocks back them (holes read as zeros
 * already).  Caller holds ext_lock; the range's entries are broken (no pin,
 * no DMA) or the bytes lie past the end of file and a shared block there
 * was copied first (dcfs_unshare_tail()).  A shared block is copied
 * before its bytes are zeroed: the other sharers keep theirs.  With the
 * quarantine, a block of a @broken range that a pin still holds moves to
 * a copy first: the pin keeps the old block (quarantined), so no DMA
 * lands in what the file keeps.
 * Return: 0; -ENOSPC, -ENOMEM, -EIO (a shared block could not be copied:
 * the bytes before it are zeroed, the rest not).
 */
/*
 * Whether the block at device page @x is held beyond the live entries of
 * the files that map it (after a break: pinned, by this file or another).
 */
static bool block_held(struct dc_dcfs *fs, uint64_t x)
{
	struct dc_folio *f = dc_folio_lookup(fs->r, x);

	return f && dc_folio_busy(f);
}

/*
 * Whether a block the file maps in file pages [first, last] is pinned for
 * DMA (by any pin: this file's, or a read pin of a file that shares it).
 * Takes ext_lock.
 */
bool dcfs_range_pinned(struct dcfs_inode *ino, uint64_t first, uint64_t last)
{
	struct dc_dcfs *fs = ino->fs;
	uint64_t fp = UINT64_C(1) << dc_region_folio_order(fs->r);
	bool pinned = false;

	pthread_mutex_lock(&ino->ext_lock);
	for (uint64_t p = first; p <= last && !pinned;) {
		struct dcfs_ext e;
		uint64_t hole;

		if (!dcfs_ext_lookup(&ino->ext, p, &e, &hole)) {
			if (hole == UINT64_MAX || hole > last - p)
				break;
			p += hole;
			continue;
		}
		for (uint64_t k = 0; k < e.len && p + k <= last && !pinned;) {
			struct dc_folio *f = dc_folio_lookup(fs->r, e.pgoff + k);
			uint64_t step = fp - ((e.pgoff + k) & (fp - 1)); /* to the next folio */

			pinned = f && dc_folio_maybe_dma_pinned(f);
			k += step;
		}
		if (e.len > last - p)
			break;
		p += e.len;
	}
	pthread_mutex_unlock(&ino->ext_lock);
	return pinned;
}

int dcfs_zero_bytes(struct dcfs_inode *ino, uint64_t from, uint64_t to, bool broken)
{
	struct dc_dcfs *fs = ino->fs;
	struct dc_region *r = fs->r;
	uint64_t bp = dcfs_blk_pages(fs);

	while (from < to) {
		uint64_t page = from >> DC_PAGE_SHIFT, hole, n;
		uint64_t in = from & (DC_PAGE_SIZE - 1);
		struct dcfs_ext e;

		if (!dcfs_ext_lookup(&ino->ext, page, &e, &hole)) {
			if (hole == UINT64_MAX)
				return 0;
			from = (page + hole) << DC_PAGE_SHIFT;
			continue;
		}
		if (atomic_load(&ino->shared_ever)) {
			uint64_t off = page & (bp - 1);
			int ret;

			if (dcfs_shares(fs, e.pgoff) > 1) {
				ret = dcfs_unshare_locked(ino, page, false);
				if (ret)
					return ret;
				continue; /* look again: the copy */
			}
			if (e.len > bp - off) /* one block at a time: the next may be shared */
				e.len = bp - off;
		}
		if (broken && fs->opt.quarantine) {
			uint64_t off = page & (bp - 1);
			int ret;

			if (block_held(fs, e.pgoff - off)) {
				ret = dcfs_unshare_locked(ino, page, true);
				if (ret)
					return ret;
				continue; /* look again: the copy */
			}
			if (e.len > bp - off)
				e.len = bp - off;
		}
		n = (e.len << DC_PAGE_SHIFT) - in;
		if (n > to - from)
			n = to - from;
		dc_region_read_lock(r);
		if (dc_region_alive(r))
			memset((char *)dc_region_addr(r, e.pgoff) + in, 0, n);
		dc_region_read_unlock(r);
		(void)dcfs_set_add(&ino->dirty, e.pgoff, dcfs_size_pages(in + n));
		from += n;
	}
	return 0;
}

/*
 * Make the block of file page @page the file's own before bytes of it are
 * zeroed in place (no entry of this file maps it: the range is broken):
 * copy it if another file shares it; with the quarantine, @broken, move it
 * to a copy if a pin still holds it.  The step that may fail (-ENOSPC,
 * -EIO): callers run it before anything else changes.  ext_lock held.
 */
int dcfs_unshare_locked(struct dcfs_inode *ino, uint64_t page, bool broken)
{
	struct dc_dcfs *fs = ino->fs;
	uint64_t bp = dcfs_blk_pages(fs), off = page & (bp - 1), hole;
	struct dcfs_ext e;

	int ret;

	if (!dcfs_ext_lookup(&ino->ext, page, &e, &hole))
		return 0;
	if (atomic_load(&ino->shared_ever) && dcfs_shares(fs, e.pgoff) > 1) {
		ret = dcfs_cow_block(ino, page - off, e.pgoff - off, false);
		if (ret <= 0)
			return ret;
		/* 1: the other sharers let go meanwhile; the file's own now */
	}
	if (broken && fs->opt.quarantine && block_held(fs, e.pgoff - off))
		return dcfs_cow_block(ino, page - off, e.pgoff - off, true);
	return 0;
}

/*
 * The quarantine, before a collapse or insert moves the blocks from file
 * page @first on: a block a pin still holds is copied and the copy moves
 * (the pin keeps the old block, quarantined), so no DMA lands in the file
 * at the shifted offset.  ext_lock held; the range is broken.
 */
int dcfs_move_held(struct dcfs_inode *ino, uint64_t first)
{
	struct dc_dcfs *fs = ino->fs;
	uint64_t bp = dcfs_blk_pages(fs), page = first & ~(bp - 1);

	for (;;) {
		uint64_t hole;
		struct dcfs_ext e;
		int ret;

		if (!dcfs_ext_lookup(&ino->ext, page, &e, &hole)) {
			if (hole == UINT64_MAX)
				return 0;
			page += hole;
			continue;
		}
		if (block_held(fs, e.pgoff)) {
			ret = dcfs_cow_block(ino, page, e.pgoff, true);
			if (ret)
				return ret;
		}
		page += bp;
	}
}

/*
 * Before bytes past the end of file are zeroed where entries may map them
 * (growing: truncate up, fallocate, pwrite past the end): copy a shared
 * block there through the fault path, which also remaps its entry.  I/O
 * lock held exclusive (no reflink can share it again meanwhile).
 */
int dcfs_unshare_tail(struct dcfs_inode *ino)
{
	uint64_t size, page, hole;
	struct dcfs_ext e;
	bool shared;

	if (!atomic_load(&ino->shared_ever))
		return 0;
	pthread_mutex_lock(&ino->ext_lock);
	size = atomic_load(&ino->size);
	page = size >> DC_PAGE_SHIFT;
	shared = (size & (dcfs_blk_bytes(ino->fs) - 1)) && dcfs_ext_lookup(&ino->ext, page, &e, &hole) &&
		 dcfs_shares(ino->fs, e.pgoff) > 1;
	pthread_mutex_unlock(&ino->ext_lock);
	return shared ? dcfs_cow_page(ino, page) : 0;
}

/*
 * Evict: break layouts on the whole file, waiting for its pins to drain
 * (seed 004 patch 05), delete every entry (the mapping stays, exiting,
 * until the inode is freed: lockless pinners may still look), free every
 * block, mark the inode dead.  Called with no lock; the caller owns the
 * eviction (ino->evicting).  On -ETIMEDOUT / -EINTR the file is unchanged
 * but for its zapped entries, and stays an orphan for unmount to finish.
 */
int dcfs_evict(struct dcfs_inode *ino, const struct dc_wait_opts *opts)
{
	struct dc_dcfs *fs = ino->fs;
	/* Shut down: the mapping is the teardown's (or the inode free's) and
	 * the region is going away: only the bookkeeping of the blocks. */
	bool live = !dcfs_active_get(fs);
	int ret;

	if (live)
		dcfs_leases_break(ino, 0, DC_MAPPING_INDEX_MAX, "evict");
	ret = dcfs_lock(&ino->io_lock, true, opts, "I/O");
	if (!ret) {
		ret = dcfs_lock(&ino->invalidate, true, opts, "invalidate");
		if (ret)
			pthread_rwlock_unlock(&ino->io_lock);
	}
	if (!ret && live) {
		ret = dcfs_break_layouts(ino, 0, DC_MAPPING_INDEX_MAX, "evict", opts, DCFS_BREAK_FINAL);
		if (ret) {
			pthread_rwlock_unlock(&ino->invalidate);
			pthread_rwlock_unlock(&ino->io_lock);
		}
	}
	if (!ret) {
		pthread_mutex_lock(&ino->ext_lock);
		ret = dcfs_free_range(ino, 0, UINT64_MAX);
		if (!ret)
			atomic_store(&ino->size, 0);
		pthread_mutex_unlock(&ino->ext_lock);
		if (ret) {
			pthread_rwlock_unlock(&ino->invalidate);
			pthread_rwlock_unlock(&ino->io_lock);
		}
	}
	if (live)
		dcfs_leases_end(ino);
	if (ret < 0) {
		pthread_mutex_lock(&fs->ns_lock);
		if (!ino->orphan)
			fs->norphans++;
		ino->orphan = true;
		pthread_mutex_unlock(&fs->ns_lock);
		if (live)
			dcfs_active_put(fs);
		return ret;
	}
	pthread_mutex_lock(&fs->ns_lock); /* dead: read under any of the three */
	ino->dead = true;
	if (ino->orphan)
		fs->norphans--;
	ino->orphan = false;
	pthread_mutex_unlock(&fs->ns_lock);
	pthread_rwlock_unlock(&ino->invalidate);
	pthread_rwlock_unlock(&ino->io_lock);
	if (live)
		dcfs_active_put(fs);
	return 0;
}

/* Pages of @ino in blocks that another file (or range) shares.  ext_lock held. */
static uint64_t shared_pages(struct dcfs_inode *ino)
{
	struct dc_dcfs *fs = ino->fs;
	uint64_t n = 0, bp = dcfs_blk_pages(fs);

	if (!atomic_load(&ino->shared_ever))
		return 0;
	for (size_t i = 0; i < ino->ext.n; i++)
		for (uint64_t p = ino->ext.v[i].pgoff; p < ino->ext.v[i].pgoff + ino->ext.v[i].len;
		     p += bp)
			n += dcfs_shares(fs, p) > 1 ? bp : 0;
	return n;
}

void dcfs_fill_stat(struct dcfs_inode *ino, struct dc_dcfs_stat *st)
{
	struct dc_dcfs *fs = ino->fs;

	st->ino = ino->ino;
	pthread_mutex_lock(&ino->ext_lock);
	st->size = atomic_load(&ino->size);
	st->blocks = atomic_load(&ino->pages);
	st->extents = ino->ext.n;
	st->shared = shared_pages(ino);
	pthread_mutex_unlock(&ino->ext_lock);
	pthread_mutex_lock(&fs->pin_lock);
	st->pinned_pages = ino->pinned_pages;
	pthread_mutex_unlock(&fs->pin_lock);
	pthread_mutex_lock(&fs->ns_lock);
	st->nlink = ino->nlink;
	st->nopen = ino->nopen;
	st->entries = ino->m ? dc_mapping_count(ino->m) : 0; /* the teardown takes it under ns_lock */
	pthread_mutex_unlock(&fs->ns_lock);
}
