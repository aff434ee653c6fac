// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * view.c - dcfs as an owner of views (include/daxcore/view.h): the fault
 * step views call, the mapping callbacks that revoke and write-protect
 * views, and dc_dcfs_map().
 *
 * A view counts as an open of its file (nopen and a reference, as an mmap
 * holds its struct file): the file outlives close and unlink while mapped,
 * and the last unmap of an unlinked file evicts it.  The mount counts views
 * too, and refuses to unmount while any is mapped.
 */
#include "dcfs/dcfs_int.h"

static void mapping_revoke(struct dc_mapping *m, uint64_t index, uint64_t nr, void *priv)
{
	struct dcfs_inode *ino = priv;

	(void)m;
	dc_view_file_revoke(ino->vf, index, nr);
}

static void mapping_mkclean(struct dc_mapping *m, uint64_t index, uint64_t nr, void *priv)
{
	struct dcfs_inode *ino = priv;

	(void)m;
	dc_view_file_mkclean(ino->vf, index, nr);
}

const struct dc_mapping_ops dcfs_mapping_ops = {
	.revoke = mapping_revoke,
	.mkclean = mapping_mkclean,
};

/* Whether the block behind file page @index of @ino is poisoned. */
static bool page_poisoned(struct dcfs_inode *ino, uint64_t index)
{
	struct dcfs_ext e;
	uint64_t hole;
	bool found;

	pthread_mutex_lock(&ino->ext_lock);
	found = dcfs_ext_lookup(&ino->ext, index, &e, &hole);
	pthread_mutex_unlock(&ino->ext_lock);
	return found && dcfs_poisoned(ino->fs, e.pgoff + (index - e.fpage), 1);
}

/*
 * The fault step of a view: dc_dcfs_fault() by inode (the view holds it
 * open), with fault-around's no-allocation mode for neighbours.  A read
 * fault maps read-only unless mounted sync (so the first store faults and
 * marks the entry dirty, as pfn_mkwrite does).
 */
static int view_fault(void *file, uint64_t index, uint64_t max, unsigned flags,
		      struct dc_view_extent *ext)
{
	struct dcfs_inode *ino = file;
	struct dc_dcfs *fs = ino->fs;
	struct dc_dcfs_fault_result res;
	uint64_t size;
	unsigned mode = (flags & DC_VIEW_FAULT_WRITE) ? DCFS_FAULT_WRITE : 0;
	unsigned order = (index & 511) + max >= 512 ? 9 : 0;
	bool wrote = false;
	int ret;

	if (flags & DC_VIEW_FAULT_AROUND)
		mode |= DCFS_FAULT_NOALLOC;
	if (index > DC_MAPPING_INDEX_MAX)
		return dc__fail(-EFAULT, "dcfs fault: page %llu is past the largest file",
				(unsigned long long)index);
	ret = dcfs_active_get(fs);
	if (ret)
		return ret;
	ret = dcfs_lock(&ino->invalidate, false, NULL, "invalidate");
	if (!ret) {
		ret = ino->dead ? dc__fail(-EIO, "dcfs fault: the file was evicted")
				: dcfs_fault_at(ino, index, mode, order, &res, &wrote);
		pthread_rwlock_unlock(&ino->invalidate);
	}
	dcfs_active_put(fs);
	if (ret == -EIO && page_poisoned(ino, index))
		ret = -EHWPOISON; /* SIGBUS with BUS_MCEERR_AR */
	if (ret)
		return ret;
	/* An entry may reach past the end of file (the last block of a file on
	 * a region of 2 MiB folios): the answer stops at the end. */
	size = dcfs_size_pages(atomic_load(&ino->size));
	if (size <= index) /* truncated meanwhile: its revoke takes the window */
		size = index + 1;
	*ext = (struct dc_view_extent){
		.index = res.index,
		.nr = res.index + (UINT64_C(1) << res.order) > size ? size - res.index
								   : UINT64_C(1) << res.order,
		.pgoff = res.zero ? 0 : res.pgoff - (index - res.index),
		.zero = res.zero,
		.writable = res.writable && (wrote || fs->opt.sync),
	};
	return 0;
}

static void view_release(void *file)
{
	struct dcfs_inode *ino = file;

	atomic_fetch_sub(&ino->fs->nviews, 1);
	(void)dcfs_open_drop(ino);
}

const struct dc_view_owner_ops dcfs_view_ops = {
	.fault = view_fault,
	.release = view_release,
};

DC_API int dc_dcfs_map(struct dc_dcfs *fs, int fd, uint64_t off, uint64_t len, unsigned prot,
		       struct dc_view *v)
{
	struct dcfs_inode *ino;
	int ret;

	if (!v)
		return dc__fail(-EINVAL, "dcfs map: NULL view");
	if (len > DC_DCFS_SIZE_MAX || off > DC_DCFS_SIZE_MAX - len)
		return dc__fail(-EINVAL, "dcfs map: [%llu, +%llu) reaches past the largest file",
				(unsigned long long)off, (unsigned long long)len);
	ino = dcfs_call_begin(fs, fd, prot & DC_VIEW_WRITE, &ret);
	if (!ino)
		return ret;
	pthread_mutex_lock(&fs->ns_lock);
	if (fs->unmounting)
		ret = dc__fail(-ENODEV, "dcfs map: the file system is being unmounted");
	else if (ino->dead)
		ret = dc__fail(-EBADF, "dcfs map: the file was evicted");
	if (!ret) { /* the view's open */
		ino->nopen++;
		dcfs_inode_get(ino);
		atomic_fetch_add(&fs->nviews, 1);
	}
	pthread_mutex_unlock(&fs->ns_lock);
	if (!ret) {
		ret = dc_view_map(ino->vf, off, len, prot, v);
		if (ret)
			view_release(ino); /* not the last open: the descriptor is one */
	}
	dcfs_call_end(ino);
	return ret;
}
