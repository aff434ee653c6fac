// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * reflink.c - share a file range's blocks with another range (FICLONERANGE,
 * xfs_reflink_remap_range()).  Both ranges are broken first: the
 * destination because its blocks go, the source because a DMA writing it
 * through a pin (or a store through a writable mapping) would otherwise
 * change both files at once.  Afterwards each shared block counts one more
 * sharer (blocks.c), both files fault it read-only (CoW entries), and the
 * first write by either copies it (fault.c).
 *
 * Locks: both files' I/O locks, then both invalidate locks, in ino order
 * (one of each for a reflink within a file); then both ext_locks in ino
 * order, then the allocator lock.  A break-layouts wait drops only the
 * invalidate lock of the file it waits for.
 */
#include "dcfs/dcfs_int.h"

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static void unlock2(pthread_rwlock_t *a, pthread_rwlock_t *b)
{
	pthread_rwlock_unlock(a);
	if (b)
		pthread_rwlock_unlock(b);
}

/* Take @l of both files (@lo before @hi; @hi NULL: one file) within @opts. */
static int take2(struct dcfs_inode *lo, struct dcfs_inode *hi, size_t off,
		 const struct dc_wait_opts *opts, const char *name)
{
	pthread_rwlock_t *a = (pthread_rwlock_t *)((char *)lo + off);
	int ret = dcfs_lock(a, true, opts, name);

	if (ret || !hi)
		return ret;
	ret = dcfs_lock((pthread_rwlock_t *)((char *)hi + off), true, opts, name);
	if (ret)
		pthread_rwlock_unlock(a);
	return ret;
}

/*
 * The source's DIRTY entries in [first, first + n) are about to be
 * deleted by the break: keep their pages in its dirty set (and the
 * destination's, which will share them) so fsync still flushes them.
 * Both invalidate locks held; no ext_lock.
 */
static void keep_dirty(struct dcfs_inode *src, struct dcfs_inode *dst, uint64_t first, uint64_t n)
{
	struct dc_entry_info info;

	dc_mapping_for_each(src->m, first, first + n - 1, &info) {
		uint64_t pages = UINT64_C(1) << info.order;

		if (!dc_entry_is_live(info.entry) || !dc_mapping_get_mark(src->m, info.first,
									  DC_MARK_DIRTY))
			continue;
		pthread_mutex_lock(&src->ext_lock);
		(void)dcfs_set_add(&src->dirty, dc_entry_pgoff(info.entry), pages);
		pthread_mutex_unlock(&src->ext_lock);
		if (dst != src) {
			pthread_mutex_lock(&dst->ext_lock);
			(void)dcfs_set_add(&dst->dirty, dc_entry_pgoff(info.entry), pages);
			pthread_mutex_unlock(&dst->ext_lock);
		}
	}
}

/*
 * Share the source's extents of [sp, sp + np) at [dp, dp + np) of @dst,
 * whose range is a hole now.  Both ext_locks held.  Each piece is shared
 * whole or not at all.
 */
static int share_pieces(struct dcfs_inode *src, struct dcfs_inode *dst, uint64_t sp, uint64_t dp,
			uint64_t np)
{
	struct dc_dcfs *fs = src->fs;

	for (uint64_t p = 0; p < np;) {
		struct dcfs_ext e;
		uint64_t hole, n, dirty_hole;
		struct dcfs_ext d;
		int ret;

		if (!dcfs_ext_lookup(&src->ext, sp + p, &e, &hole)) {
			if (hole == UINT64_MAX)
				return 0;
			p += hole;
			continue;
		}
		n = e.len < np - p ? e.len : np - p;
		ret = dcfs_ext_reserve(&dst->ext, 1);
		if (ret)
			return ret;
		pthread_mutex_lock(&fs->alloc.lock);
		ret = dcfs_rmap_reserve(fs, 1);
		if (!ret) {
			ret = dcfs_blocks_share(fs, dst, dp + p, e.pgoff, n);
			dcfs_rmap_unreserve(fs, 1);
		}
		pthread_mutex_unlock(&fs->alloc.lock);
		if (ret)
			return ret;
		DC_BUG_ON(dcfs_ext_insert(&dst->ext, dp + p, e.pgoff, n)); /* reserved */
		atomic_fetch_add(&dst->pages, n);
		/* What the source still has to flush, the destination too. */
		if (dcfs_ext_lookup(&src->dirty, e.pgoff, &d, &dirty_hole) || dirty_hole < n)
			(void)dcfs_set_add(&dst->dirty, e.pgoff, n);
		p += n;
	}
	return 0;
}

DC_API int dc_dcfs_reflink(struct dc_dcfs *fs, int src_fd, uint64_t src_off, int dst_fd,
			   uint64_t dst_off, uint64_t len, const struct dc_wait_opts *opts)
{
	struct dcfs_inode *src, *dst, *lo, *hi;
	uint64_t bb, sp, dp, np, ssize, dsize, rlen;
	int ret;

	if (!fs)
		return dc__fail(-EINVAL, "dcfs reflink: NULL file system");
	if (len > DC_DCFS_SIZE_MAX || src_off > DC_DCFS_SIZE_MAX - len ||
	    dst_off > UINT64_MAX - len)
		return dc__fail(-EINVAL, "dcfs reflink: offsets %llu, %llu + length %llu overflow",
				(unsigned long long)src_off, (unsigned long long)dst_off,
				(unsigned long long)len);
	if (dst_off + len > DC_DCFS_SIZE_MAX)
		return dc__fail(-EFBIG, "dcfs reflink: the destination would pass 2^52 bytes");
	bb = dcfs_blk_bytes(fs);
	if ((src_off | dst_off) & (bb - 1))
		return dc__fail(-EINVAL, "dcfs reflink: offsets %llu and %llu must be multiples of "
				"the block size %llu", (unsigned long long)src_off,
				(unsigned long long)dst_off, (unsigned long long)bb);
	src = dcfs_call_begin(fs, src_fd, false, &ret);
	if (!src)
		return ret;
	dst = dcfs_call_begin(fs, dst_fd, true, &ret);
	if (!dst) {
		dcfs_call_end(src);
		return ret;
	}
	rlen = round_up(len, bb);
	sp = src_off >> DC_PAGE_SHIFT;
	dp = dst_off >> DC_PAGE_SHIFT;
	np = rlen >> DC_PAGE_SHIFT;
	if (src == dst && src_off < dst_off + rlen && dst_off < src_off + rlen) {
		ret = dc__fail(-EINVAL, "dcfs reflink: [%llu, +%llu) and [%llu, +%llu) of one file "
			       "overlap", (unsigned long long)src_off, (unsigned long long)len,
			       (unsigned long long)dst_off, (unsigned long long)len);
		goto out_calls;
	}
	if (!len)
		goto out_calls;
	lo = src->ino < dst->ino ? src : dst;
	hi = src == dst ? NULL : src->ino < dst->ino ? dst : src;
	dcfs_leases_break(dst, dp, dp + np - 1, "reflink");
	dcfs_leases_break(src, sp, sp + np - 1, "reflink");
	ret = take2(lo, hi, offsetof(struct dcfs_inode, io_lock), opts, "I/O");
	if (ret)
		goto out_leases;
	if (src->dead || dst->dead) {
		ret = dc__fail(-EBADF, "dcfs reflink: a file was evicted");
		goto out_io;
	}
	ssize = atomic_load(&src->size);
	dsize = atomic_load(&dst->size);
	if (src_off + len > ssize) {
		ret = dc__fail(-EINVAL, "dcfs reflink: [%llu, +%llu) reaches past the source's end "
			       "(%llu)", (unsigned long long)src_off, (unsigned long long)len,
			       (unsigned long long)ssize);
		goto out_io;
	}
	/* An unaligned length must end at the source's end of file, and not
	 * leave the source's bytes past it inside the destination. */
	if (len != rlen && (src_off + len != ssize || dst_off + len < dsize)) {
		ret = dc__fail(-EINVAL, "dcfs reflink: length %llu is not a multiple of the block "
			       "size %llu (only a range that ends at the source's end of file, "
			       "into the destination's end, may be)", (unsigned long long)len,
			       (unsigned long long)bb);
		goto out_io;
	}
	if (dst_off > dsize) /* the old end's block is zeroed past its end below */
		ret = dcfs_unshare_tail(dst);
	if (!ret)
		ret = take2(lo, hi, offsetof(struct dcfs_inode, invalidate), opts, "invalidate");
	if (ret)
		goto out_io;
	keep_dirty(src, dst, sp, np);
	/* The source keeps its blocks: its pins are waited for even with
	 * quarantine (a DMA writing it must not change both files).  Each
	 * wait drops both invalidate locks; both ranges are broken again. */
	ret = dcfs_break_two(dst, dp, dp + np - 1, 0, src, sp, sp + np - 1, DCFS_BREAK_KEEP,
			     "reflink", opts);
	if (ret)
		goto out_inval;
	pthread_mutex_lock(&lo->ext_lock);
	if (hi)
		pthread_mutex_lock(&hi->ext_lock);
	atomic_store(&src->shared_ever, true);
	atomic_store(&dst->shared_ever, true);
	ret = dcfs_ext_reserve(&dst->ext, 1); /* a split of the destination's range */
	if (!ret)
		ret = dcfs_free_range(dst, dp, np);
	if (!ret && dst_off > dsize) /* the old end's block: a hole before the clone */
		ret = dcfs_zero_bytes(dst, dsize, round_up(dsize, bb), false);
	if (!ret) {
		ret = share_pieces(src, dst, sp, dp, np);
		/* Even a partial clone leaves whole blocks (cloned or holes). */
		if (dst_off + len > dsize)
			atomic_store(&dst->size, dst_off + len);
	}
	if (hi)
		pthread_mutex_unlock(&hi->ext_lock);
	pthread_mutex_unlock(&lo->ext_lock);
out_inval:
	unlock2(&lo->invalidate, hi ? &hi->invalidate : NULL);
out_io:
	unlock2(&lo->io_lock, hi ? &hi->io_lock : NULL);
out_leases:
	dcfs_leases_end(src);
	dcfs_leases_end(dst);
out_calls:
	dcfs_call_end(dst);
	dcfs_call_end(src);
	return ret;
}
