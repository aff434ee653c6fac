// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * iomap.c - the block-mapping step (the kernel's iomap ->iomap_begin): for
 * a file page, the extent that backs it or the hole it is in, allocating a
 * zeroed block for a write.  Faults, pread/pwrite, fallocate and pins all
 * ask here, under the inode's ext_lock.
 *
 * New blocks are zeroed before the extent that names them is published
 * (invariant 11: whatever a former file wrote there never shows), under
 * ext_lock so that no reader sees the extent before the zeros.
 */
#include "dcfs/dcfs_int.h"

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

/*
 * Zero a new block.  Large ones (2 MiB and up) with streaming stores: they
 * do not fit the caches anyway, and bypassing them is about twice as fast;
 * a 4 KiB block with ordinary stores, which leave it in the cache for the
 * write that comes next.
 */
static void zero_block(void *addr, uint64_t bytes)
{
#if defined(__x86_64__)
	if (bytes >= (UINT64_C(2) << 20)) {
		__m128i z = _mm_setzero_si128(), *p = addr, *end = (__m128i *)((char *)addr + bytes);

		for (; p < end; p += 4) {
			_mm_stream_si128(p, z);
			_mm_stream_si128(p + 1, z);
			_mm_stream_si128(p + 2, z);
			_mm_stream_si128(p + 3, z);
		}
		_mm_sfence(); /* ordered before the extent that names the block is published */
		return;
	}
#endif
	memset(addr, 0, bytes);
}

/* The device block after the one that ends at file page @fb - 1, if an extent ends there. */
static uint64_t goal_block(struct dcfs_inode *ino, uint64_t fb)
{
	struct dcfs_ext e;
	uint64_t hole;

	if (!fb || !dcfs_ext_lookup(&ino->ext, fb - 1, &e, &hole))
		return UINT64_MAX;
	return (e.pgoff + 1) >> ino->fs->blk_order;
}

/*
 * What backs file page @fpage, looking at most @npages ahead.  ext_lock
 * held.  A hole is allocated with DCFS_MAP_ALLOC (inside the file size, or
 * anywhere with DCFS_MAP_EXTEND): blocks for up to @npages pages (@align
 * pages: prefer a whole run aligned in the file and on the device, for a
 * PMD entry; falls back to any run).
 * A mapped answer of a file that ever shared blocks stops where the
 * blocks change from shared to not (or back): *@shared says which (NULL:
 * the caller does not care).
 * Return: 0 with *@map (from @fpage on) and *@mapped; -ENOSPC, -ENOMEM.
 */
int dcfs_iomap(struct dcfs_inode *ino, uint64_t fpage, uint64_t npages, uint64_t align,
	       unsigned flags, struct dcfs_ext *map, bool *mapped, bool *fresh, bool *shared)
{
	struct dc_dcfs *fs = ino->fs;
	uint64_t bp = dcfs_blk_pages(fs), hole, fb, want, b, got, pgoff;
	int ret;

	*fresh = false;
	if (shared)
		*shared = false;
	if (dcfs_ext_lookup(&ino->ext, fpage, map, &hole)) {
		if (map->len > npages)
			map->len = npages;
		/* Share counts of this file's blocks rise only by a reflink from
		 * it, which holds its ext_lock: a count of 1 read here stays. */
		if (shared && ino->shared_ever)
			map->len = dcfs_shared_run(fs, map->pgoff, map->len, shared);
		*mapped = true;
		return 0;
	}
	*mapped = false;
	*map = (struct dcfs_ext){ fpage, 0, hole < npages ? hole : npages };
	if (!(flags & DCFS_MAP_ALLOC))
		return 0;
	if (!(flags & DCFS_MAP_EXTEND)) {
		/* Inside the file only (blocks past its end are not allocated). */
		uint64_t size_pages = dcfs_size_pages(atomic_load(&ino->size));

		if (fpage >= size_pages)
			return 0;
		if (map->len > size_pages - fpage)
			map->len = size_pages - fpage;
	}
	/* Extents are whole blocks: allocate from the block @fpage is in. */
	fb = fpage & ~(bp - 1);
	want = (fpage - fb + map->len + bp - 1) / bp;
	ret = dcfs_ext_reserve(&ino->ext, 1);
	if (ret)
		return ret;
	ret = -ENOSPC;
	if (align > bp && fb % align == 0 && want * bp >= align)
		ret = dcfs_blocks_alloc(fs, ino, fb, UINT64_MAX, align / bp, align / bp, &b, &got);
	if (ret == -ENOSPC)
		ret = dcfs_blocks_alloc(fs, ino, fb, goal_block(ino, fb), want, 1, &b, &got);
	if (ret)
		return ret;
	pgoff = b << fs->blk_order;
	if (DC_REGRESS_BUG != 21) { /* bug 21: stale data shows in a new file */
		dc_region_read_lock(fs->r);
		if (dc_region_alive(fs->r))
			zero_block(dc_region_addr(fs->r, pgoff), (got * bp) << DC_PAGE_SHIFT);
		dc_region_read_unlock(fs->r);
	}
	DC_BUG_ON(dcfs_ext_insert(&ino->ext, fb, pgoff, got * bp)); /* reserved */
	atomic_fetch_add(&ino->pages, got * bp);
	map->pgoff = pgoff + (fpage - fb);
	map->len = got * bp - (fpage - fb);
	if (map->len > npages)
		map->len = npages;
	*mapped = *fresh = true;
	return 0;
}

/*
 * File pages [first, first + npages) just got blocks where there were
 * holes: a read fault may have mapped the zero page there.  Drop those
 * ZERO entries (the kernel's invalidation after a write that allocates) so
 * the next fault maps the new block; one that a fault holds locked is
 * waited for (the fault saw the hole before the extent was published and
 * inserts ZERO) and dropped after it.  Nothing here allocates: locking an
 * entry that exists creates none.  Caller holds io_lock exclusive.
 */
int dcfs_unzero(struct dcfs_inode *ino, uint64_t first, uint64_t npages)
{
	uint64_t last = first + npages - 1;

	if (DC_REGRESS_BUG == 20) /* bug 20: the zero page stays mapped over new data */
		return 0;
	for (;;) {
		struct dc_entry_info info;
		bool waited = false;

		(void)dc_mapping_invalidate(ino->m, first, last);
		dc_mapping_for_each(ino->m, first, last, &info) {
			struct dc_entry_handle h;
			int ret;

			if (dc_entry_has_pages(info.entry))
				continue; /* faulted after the extent went in: the new block */
			ret = dc_mapping_grab(ino->m, info.first, info.order, NULL, &h);
			if (ret == -ESHUTDOWN) /* evicted under a call in flight */
				return dc__fail(-EBADF, "dcfs: the file was evicted");
			if (ret < 0)
				return ret;
			if (!ret)
				DC_BUG_ON(dc_mapping_unlock(&h));
			waited = true;
			break;
		}
		if (!waited)
			return 0;
	}
}

DC_API int dc_dcfs_iomap(struct dc_dcfs *fs, int fd, uint64_t off, uint64_t len, unsigned flags,
			 struct dc_dcfs_iomap *out)
{
	bool write = flags & DC_DCFS_IOMAP_WRITE, mapped, fresh, shared;
	struct dcfs_inode *ino;
	struct dcfs_ext map;
	uint64_t fpage, npages;
	int ret;

	if (!out || (flags & ~DC_DCFS_IOMAP_WRITE) || !len || len > DC_DCFS_SIZE_MAX ||
	    off >= DC_DCFS_SIZE_MAX)
		return dc__fail(-EINVAL, "dcfs iomap: bad argument (offset %llu, length %llu, "
				"flags %#x)", (unsigned long long)off, (unsigned long long)len, flags);
	/* A query takes the extent lock only: a pin holder may look while a
	 * truncate that waits for its pin holds the I/O lock. */
	ino = write ? dcfs_io_begin(fs, fd, true, NULL, &ret) : dcfs_call_begin(fs, fd, false, &ret);
	if (!ino)
		return ret;
	fpage = off >> DC_PAGE_SHIFT;
	npages = dcfs_size_pages((off & (DC_PAGE_SIZE - 1)) + len);
	if (ino->dead) { /* a query's call in flight across an eviction */
		ret = dc__fail(-EBADF, "dcfs iomap: the file was evicted");
		goto out;
	}
	pthread_mutex_lock(&ino->ext_lock);
	ret = dcfs_iomap(ino, fpage, npages, 1, write ? DCFS_MAP_ALLOC : 0, &map, &mapped, &fresh,
			 &shared);
	pthread_mutex_unlock(&ino->ext_lock);
	if (!ret && fresh)
		ret = dcfs_unzero(ino, fpage, map.len);
	if (!ret) {
		uint64_t in = off & (DC_PAGE_SIZE - 1);

		out->type = !mapped ? DC_DCFS_IOMAP_HOLE
			    : shared ? DC_DCFS_IOMAP_SHARED : DC_DCFS_IOMAP_MAPPED;
		out->offset = off;
		out->length = map.len == UINT64_MAX ? len : (map.len << DC_PAGE_SHIFT) - in;
		if (out->length > len)
			out->length = len;
		out->pgoff = mapped ? map.pgoff : 0;
		out->fresh = fresh;
	}
out:
	if (write)
		dcfs_io_end(ino);
	else
		dcfs_call_end(ino);
	return ret;
}
