// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * super.c - mount and unmount: claim the region as its holder (seeds
 * 000/001: fs_dax_claim_bdev() at mount), the allocator over its blocks,
 * the holder callbacks, statistics.
 */
#include "dcfs/dcfs_int.h"
#include <sys/mman.h>

static void dcfs_page_free(struct dc_region *r, struct dc_folio *f, void *holder)
{
	struct dc_dcfs *fs = holder;

	/* Part 1 frees blocks itself once they are idle; part 2's quarantine
	 * returns blocks from here. */
	atomic_fetch_add(&fs->page_frees, 1);
}

static int dcfs_notify_failure(struct dc_region *r, uint64_t pgoff, uint64_t nr,
			       unsigned int flags, void *holder)
{
	struct dc_dcfs *fs = holder;

	if (flags & DC_MF_PRE_REMOVE) {
		/* The shutdown state: every call fails with -EIO from now.
		 * Revoking and draining for removal is part 2. */
		atomic_store(&fs->shutdown, true);
		return 0;
	}
	return dc__fail(-EOPNOTSUPP, "dcfs: memory failure reports are part 2");
}

static const struct dc_holder_ops holder_ops = {
	.page_free = dcfs_page_free,
	.notify_failure = dcfs_notify_failure,
};

int dcfs_shut(struct dc_dcfs *fs)
{
	return dc__fail(-EIO, "dcfs: the file system was shut down (its region is going away)");
}

/* The caller's wait options, or the mount's default deadline. */
void dcfs_wait_opts_default(struct dc_dcfs *fs, const struct dc_wait_opts *in,
			    struct dc_wait_opts *out)
{
	*out = in ? *in : (struct dc_wait_opts){ 0 };
	if (!in && fs->opt.deadline_ms)
		out->deadline_ns = dc_now_ns() + fs->opt.deadline_ms * 1000000ull;
}

DC_API int dc_dcfs_mount(struct dc_region *r, const char *options, const struct dc_dcfs_ops *ops,
			 void *arg, struct dc_dcfs **out)
{
	struct dc_dcfs *fs;
	int ret;

	if (!r || !out)
		return dc__fail(-EINVAL, "dcfs mount: NULL %s", r ? "out" : "region");
	if (dc_region_type(r) != DC_REGION_FSDAX)
		return dc__fail(-EINVAL, "dcfs mount: region %s is not of type fsdax",
				dc_region_spec(r));
	fs = dc__calloc(1, sizeof(*fs));
	if (!fs)
		return dc__fail(-ENOMEM, "dcfs mount: no memory");
	ret = dcfs_parse_options(options, &fs->opt);
	if (ret)
		goto err_free;
	fs->r = r;
	if (ops)
		fs->ops = *ops;
	fs->arg = arg;
	fs->blk_order = dc_region_folio_order(r);
	fs->next_ino = 1;
	fs->next_pin_id = 1;
	ret = dcfs_alloc_init(&fs->alloc, dc_region_npages(r) >> fs->blk_order);
	if (ret)
		goto err_free;
	fs->zero_page = mmap(NULL, DC_PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fs->zero_page == MAP_FAILED) {
		ret = dc__fail(-ENOMEM, "dcfs mount: no zero page");
		goto err_alloc;
	}
	pthread_mutex_init(&fs->ns_lock, NULL);
	pthread_mutex_init(&fs->fd_lock, NULL);
	pthread_mutex_init(&fs->pin_lock, NULL);
	ret = dc_region_claim(r, fs, &holder_ops);
	if (ret) {
		if (ret == -EBUSY)
			dc__fail(ret, "dcfs mount: region %s has a holder (mounted already?)",
				 dc_region_spec(r));
		goto err_locks;
	}
	*out = fs;
	return 0;
err_locks:
	pthread_mutex_destroy(&fs->ns_lock);
	pthread_mutex_destroy(&fs->fd_lock);
	pthread_mutex_destroy(&fs->pin_lock);
	munmap(fs->zero_page, DC_PAGE_SIZE);
err_alloc:
	dcfs_alloc_destroy(&fs->alloc);
err_free:
	free(fs);
	return ret;
}

DC_API int dc_dcfs_unmount(struct dc_dcfs *fs, const struct dc_wait_opts *opts)
{
	struct dcfs_inode *ino;
	int ret;

	if (!fs)
		return dc__fail(-EINVAL, "dcfs unmount: NULL");
	pthread_mutex_lock(&fs->fd_lock);
	pthread_mutex_lock(&fs->pin_lock);
	ret = fs->open || fs->npins ? -EBUSY : 0;
	pthread_mutex_unlock(&fs->pin_lock);
	pthread_mutex_unlock(&fs->fd_lock);
	if (ret)
		return dc__fail(ret, "dcfs unmount: %llu descriptors open, %zu pin sets held",
				(unsigned long long)fs->open, fs->npins);
	/* A call still running on a file (a close evicting it, an operation
	 * whose descriptor was just closed) holds a reference beyond its name. */
	pthread_mutex_lock(&fs->ns_lock);
	for (ino = fs->ihead; ino; ino = ino->next)
		if (ino->evicting || atomic_load(&ino->refs) > (ino->nlink ? 1u : 0u))
			break;
	fs->unmounting = !ino;
	pthread_mutex_unlock(&fs->ns_lock);
	if (ino)
		return dc__fail(-EBUSY, "dcfs unmount: a call on file %llu is still running",
				(unsigned long long)ino->ino);
	/* Nothing is open and no call runs: evict every file (the orphans
	 * too, whose eviction timed out before), then free them. */
	for (ino = fs->ihead; ino; ino = ino->next) {
		if (!ino->dead) {
			struct dc_wait_opts w;

			dcfs_wait_opts_default(fs, opts, &w);
			ret = dcfs_evict(ino, &w);
			if (ret) {
				pthread_mutex_lock(&fs->ns_lock);
				fs->unmounting = false;
				pthread_mutex_unlock(&fs->ns_lock);
				return ret;
			}
		}
	}
	while ((ino = fs->ihead)) {
		fs->ihead = ino->next;
		dcfs_inode_free(ino);
	}
	ret = dc_region_release(fs->r, fs);
	DC_BUG_ON(ret);
	free(fs->htab);
	free(fs->fds);
	free(fs->ptab);
	munmap(fs->zero_page, DC_PAGE_SIZE);
	dcfs_alloc_destroy(&fs->alloc);
	pthread_mutex_destroy(&fs->ns_lock);
	pthread_mutex_destroy(&fs->fd_lock);
	pthread_mutex_destroy(&fs->pin_lock);
	free(fs);
	return 0;
}

DC_API void dc_dcfs_statfs(struct dc_dcfs *fs, struct dc_dcfs_statfs *st)
{
	memset(st, 0, sizeof(*st));
	st->block_size = dcfs_blk_bytes(fs);
	st->blocks = fs->alloc.nblocks;
	pthread_mutex_lock(&fs->alloc.lock);
	st->blocks_free = fs->alloc.nfree;
	pthread_mutex_unlock(&fs->alloc.lock);
	pthread_mutex_lock(&fs->ns_lock);
	st->files = fs->ninodes;
	st->orphans = fs->norphans;
	pthread_mutex_unlock(&fs->ns_lock);
	pthread_mutex_lock(&fs->fd_lock);
	st->open = fs->open;
	pthread_mutex_unlock(&fs->fd_lock);
	pthread_mutex_lock(&fs->pin_lock);
	st->pins = fs->npins;
	st->pinned_pages = fs->pinned_pages;
	pthread_mutex_unlock(&fs->pin_lock);
	st->break_waits = atomic_load(&fs->break_waits);
	st->slow_reports = atomic_load(&fs->slow_reports);
	st->faults = atomic_load(&fs->faults);
}

DC_API struct dc_region *dc_dcfs_region(const struct dc_dcfs *fs)
{
	return fs ? fs->r : NULL;
}
