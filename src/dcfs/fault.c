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

	if (ino->fs->blk_order)
		return ino->fs->blk_order;
	if (order < 9 || a + PMD_PAGES > size_pages)
		return 0;
	if (dcfs_ext_lookup(&ino->ext, a, &e, &hole))
		return e.len >= PMD_PAGES && !(e.pgoff & (PMD_PAGES - 1)) ? 9 : 0;
	return hole >= PMD_PAGES ? 9 : 0;
}

static void fill_result(struct dcfs_inode *ino, const struct dc_entry_handle *h, uint64_t index,
			struct dc_dcfs_fault_result *res)
{
	res->index = h->index;
	res->order = h->order;
	res->zero = dc_entry_is_zero(h->entry);
	res->writable = !res->zero;
	if (res->zero) {
		res->pgoff = UINT64_MAX;
		res->addr = ino->fs->zero_page;
	} else {
		res->pgoff = dc_entry_pgoff(h->entry) + (index - h->index);
		res->addr = dc_region_addr(ino->fs->r, res->pgoff);
	}
}

/*
 * Fault file page @index in, for write or read, as an entry of at most
 * @order.  Caller holds the invalidate lock shared and a reference.
 */
int dcfs_fault(struct dcfs_inode *ino, uint64_t index, bool write, unsigned order,
	       struct dc_dcfs_fault_result *res)
{
	struct dc_dcfs *fs = ino->fs;
	bool small = false;

	for (;;) {
		uint64_t size_pages, n;
		struct dc_entry_handle h;
		struct dcfs_ext map;
		bool mapped, fresh;
		unsigned eo;
		int ret;

		pthread_mutex_lock(&ino->ext_lock);
		size_pages = dcfs_size_pages(atomic_load(&ino->size));
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
		if (dc_entry_is_live(h.entry) && !write) {
			fill_result(ino, &h, index, res); /* mapped meanwhile */
			DC_BUG_ON(dc_mapping_unlock(&h));
			return 0;
		}
		n = UINT64_C(1) << h.order;
		pthread_mutex_lock(&ino->ext_lock);
		ret = dcfs_iomap(ino, h.index, n, n, write ? DCFS_MAP_ALLOC : 0, &map, &mapped,
				 &fresh);
		pthread_mutex_unlock(&ino->ext_lock);
		if (!ret && (map.len < n || (mapped && (map.pgoff & (n - 1))))) {
			/* Not one aligned extent (or hole) of the entry's size:
			 * pwrite filled part of it meanwhile.  Go small. */
			DC_BUG_ON(dc_mapping_unlock(&h));
			DC_BUG_ON(small);
			small = true;
			continue;
		}
		if (!ret && mapped)
			ret = dc_mapping_insert(&h, map.pgoff,
						write && !fs->opt.sync ? DC_INSERT_DIRTY : 0);
		else if (!ret)
			ret = dc_mapping_insert(&h, 0, DC_INSERT_ZERO);
		if (!ret) {
			fill_result(ino, &h, index, res);
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
	ino = dcfs_fd_get(fs, fd, write, &ret);
	if (!ino)
		return ret;
	ret = dcfs_lock(&ino->invalidate, false, NULL, "invalidate");
	if (!ret) {
		ret = ino->dead ? dc__fail(-EBADF, "dcfs fault: the file was evicted")
				: dcfs_fault(ino, index, write, order, res);
		pthread_rwlock_unlock(&ino->invalidate);
	}
	dcfs_inode_put(ino);
	return ret;
}
