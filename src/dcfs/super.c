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

	(void)r;
	atomic_fetch_add_explicit(&fs->page_frees, 1, memory_order_relaxed);
	dcfs_block_page_free(fs, f); /* a quarantined block comes back */
}

/*
 * The files of the mount, each referenced (a file being freed is skipped:
 * nothing of it is left to revoke).  *@n of them; free the array and put
 * each.  ns_lock taken.
 */
static struct dcfs_inode **all_inodes(struct dc_dcfs *fs, size_t *n)
{
	struct dcfs_inode **v;
	size_t k = 0;

	pthread_mutex_lock(&fs->ns_lock);
	v = dc__calloc(fs->ninodes ? fs->ninodes : 1, sizeof(*v));
	for (struct dcfs_inode *ino = fs->ihead; v && ino; ino = ino->next) {
		uint64_t refs = atomic_load(&ino->refs);

		do {
			if (!refs)
				break;
		} while (!atomic_compare_exchange_weak(&ino->refs, &refs, refs + 1));
		if (refs)
			v[k++] = ino;
	}
	pthread_mutex_unlock(&fs->ns_lock);
	*n = k;
	return v;
}

/*
 * No call runs and none can start (the active ref drained after a
 * shutdown): give up the claim, then empty and destroy every mapping, so
 * that region removal can complete; from then on nothing of the mount
 * touches the region.  Runs in the thread that ended the last call, or in
 * the PRE_REMOVE callback itself.
 */
static void dcfs_teardown(struct dc_dcfs *fs)
{
	bool release;

	pthread_mutex_lock(&fs->ns_lock);
	release = !fs->released; /* else an unmount let go (and destroys the mappings) */
	fs->released = true;
	pthread_mutex_unlock(&fs->ns_lock);
	if (release) {
		/* Under the allocator lock: a block released after this point
		 * is freed without a look at its folio (release_block()). */
		pthread_mutex_lock(&fs->alloc.lock);
		atomic_store(&fs->detached, true);
		pthread_mutex_unlock(&fs->alloc.lock);
		DC_BUG_ON(dc_region_release(fs->r, fs)); /* no ->page_free reaches us after */
		pthread_mutex_lock(&fs->ns_lock);
		/* Under ns_lock, which the free of an inode takes its mapping
		 * under too; the last destroy may let removal free the region. */
		for (struct dcfs_inode *ino = fs->ihead; ino; ino = ino->next) {
			if (ino->m)
				dcfs_mapping_drop(ino->m);
			ino->m = NULL;
		}
		/* Last: until here the anchor kept removal from freeing the
		 * region under a call that started before the shutdown. */
		DC_BUG_ON(dc_mapping_destroy(fs->anchor));
		fs->anchor = NULL;
		pthread_mutex_unlock(&fs->ns_lock);
	}
	atomic_store(&fs->torn_down, true);
	dc_wake_var(&fs->torn_down);
}

static void active_release(struct dc_liveref *ref)
{
	struct dc_dcfs *fs = container_of(ref, struct dc_dcfs, active);

	if (atomic_load(&fs->shutdown))
		dcfs_teardown(fs);
}

/* The name an event reports for @ino, copied into @buf: NULL if unlinked. */
const char *dcfs_event_name(struct dcfs_inode *ino, char buf[DC_DCFS_NAME_MAX + 1])
{
	const char *ret = NULL;

	pthread_mutex_lock(&ino->fs->ns_lock);
	if (ino->name && ino->nlink) {
		strcpy(buf, ino->name);
		ret = buf;
	}
	pthread_mutex_unlock(&ino->fs->ns_lock);
	return ret;
}

/* Report one poisoned range of one file (no lock held). */
static void report_failure(struct dcfs_inode *ino, const struct dcfs_owner_ref *o)
{
	struct dc_dcfs *fs = ino->fs;
	struct dc_dcfs_event ev = {
		.type = DC_DCFS_EV_MEMORY_FAILURE,
		.ino = ino->ino,
		.op = "memory_failure",
		/* 39 (a mutation the torture must see): reported one block off */
		.offset = (o->fpage + (DC_REGRESS_BUG == 39 ? o->len : 0)) << DC_PAGE_SHIFT,
		.length = o->len << DC_PAGE_SHIFT,
		.pgoff = o->pgoff,
	};
	char name[DC_DCFS_NAME_MAX + 1];

	ev.name = dcfs_event_name(ino, name);
	atomic_fetch_add(&fs->memory_failures, 1);
	if (fs->ops.event) {
		dc__cb_enter();
		fs->ops.event(fs, &ev, fs->arg);
		dc__cb_exit();
	}
}

/*
 * One poisoned block: mark it bad, and for every file range that maps it
 * (every sharer, from the reverse map) revoke its entries (faults then
 * fail with -EIO: the folio is poisoned), ask its revocable pins back and
 * report (file, offset).
 */
static int poison_block(struct dc_dcfs *fs, uint64_t b)
{
	struct dcfs_owner_ref *own;
	size_t n;
	int ret = dcfs_block_poison(fs, b, &own, &n);

	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++) {
		struct dcfs_inode *ino = own[i].ino;
		uint64_t first = own[i].fpage, last = first + own[i].len - 1, hole;
		struct dcfs_ext e;
		bool still = false;

		if (!dcfs_active_get(fs)) {
			dcfs_leases_break(ino, first, last, "memory_failure");
			pthread_rwlock_wrlock(&ino->invalidate);
			pthread_mutex_lock(&ino->ext_lock);
			still = !ino->dead && dcfs_ext_lookup(&ino->ext, first, &e, &hole) &&
				e.pgoff == own[i].pgoff;
			pthread_mutex_unlock(&ino->ext_lock);
			if (still)
				(void)dc_mapping_zap(ino->m, first, last, NULL, NULL);
			pthread_rwlock_unlock(&ino->invalidate);
			dcfs_leases_end(ino);
			dcfs_active_put(fs);
		}
		if (still) /* it did not move meanwhile (a copy, a punch) */
			report_failure(ino, &own[i]);
		dcfs_inode_put(ino);
	}
	free(own);
	return 0;
}

/*
 * PRE_REMOVE: shut down.  New calls fail -EIO; every mapping is revoked;
 * the revocable pins are asked back; once the calls that run now end, the
 * teardown lets go of the region (maybe right here).
 */
static void shut_down(struct dc_dcfs *fs)
{
	struct dcfs_inode **v;
	size_t n;

	pthread_mutex_lock(&fs->ns_lock);
	atomic_store(&fs->shutdown, true);
	pthread_mutex_unlock(&fs->ns_lock);
	v = all_inodes(fs, &n);
	for (size_t i = 0; v && i < n; i++) {
		struct dcfs_inode *ino = v[i];

		pthread_rwlock_wrlock(&ino->invalidate);
		if (ino->m) /* calls still run: the teardown cannot have taken it */
			(void)dc_mapping_zap(ino->m, 0, DC_MAPPING_INDEX_MAX, NULL, NULL);
		pthread_rwlock_unlock(&ino->invalidate);
		dcfs_leases_break(ino, 0, DC_MAPPING_INDEX_MAX, "shutdown");
		dcfs_leases_end(ino);
	}
	for (size_t i = 0; v && i < n; i++)
		dcfs_inode_put(v[i]);
	free(v);
	(void)dc_liveref_kill(&fs->active); /* the last call to end tears down */
}

static int dcfs_notify_failure(struct dc_region *r, uint64_t pgoff, uint64_t nr,
			       unsigned int flags, void *holder)
{
	struct dc_dcfs *fs = holder;
	uint64_t bp = dcfs_blk_pages(fs);
	int ret = 0;

	(void)r;
	if (flags & DC_MF_PRE_REMOVE) {
		shut_down(fs);
		return 0;
	}
	atomic_store(&fs->poison_seen, true);
	for (uint64_t p = pgoff & ~(bp - 1); p < pgoff + nr && !ret; p += bp)
		ret = poison_block(fs, p >> fs->blk_order);
	return ret;
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
	(void)dc_liveref_init(&fs->active, active_release);
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
	ret = dc_mapping_create(r, NULL, fs, &fs->anchor);
	if (ret)
		goto err_locks;
	ret = dc_region_claim(r, fs, &holder_ops);
	if (ret) {
		if (ret == -EBUSY)
			dc__fail(ret, "dcfs mount: region %s has a holder (mounted already?)",
				 dc_region_spec(r));
		DC_BUG_ON(dc_mapping_destroy(fs->anchor));
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
	if (fs->active.release) {
		(void)dc_liveref_kill(&fs->active);
		dc_liveref_exit(&fs->active);
	}
	free(fs);
	return ret;
}

static bool torn_down(void *arg)
{
	return atomic_load(&((struct dc_dcfs *)arg)->torn_down);
}

static uint64_t quarantined(struct dc_dcfs *fs)
{
	uint64_t n;

	pthread_mutex_lock(&fs->alloc.lock);
	n = fs->alloc.nquar;
	pthread_mutex_unlock(&fs->alloc.lock);
	return n;
}

static bool quarantine_empty(void *arg)
{
	return quarantined(arg) == 0;
}

DC_API int dc_dcfs_unmount(struct dc_dcfs *fs, const struct dc_wait_opts *opts)
{
	struct dc_mapping *m_anchor;
	struct dcfs_inode *ino;
	int ret;

	if (!fs)
		return dc__fail(-EINVAL, "dcfs unmount: NULL");
	pthread_mutex_lock(&fs->fd_lock);
	pthread_mutex_lock(&fs->pin_lock);
	ret = fs->open || fs->npins || atomic_load(&fs->nviews) ? -EBUSY : 0;
	pthread_mutex_unlock(&fs->pin_lock);
	pthread_mutex_unlock(&fs->fd_lock);
	if (ret)
		return dc__fail(ret, "dcfs unmount: %llu descriptors open, %llu views mapped, "
				"%zu pin sets held", (unsigned long long)fs->open,
				(unsigned long long)atomic_load(&fs->nviews), fs->npins);
	for (;;) {
		bool shut = atomic_load(&fs->shutdown);

		if (shut) {
			/* The teardown of a removal may be letting go of the
			 * region now (holding references on files). */
			struct dc_wait_opts w;

			dcfs_wait_opts_default(fs, opts, &w);
			ret = dc_wait_var(&fs->torn_down, torn_down, fs, &w);
			if (ret)
				return dc__fail(-EBUSY, "dcfs unmount: the shutdown is still "
						"letting go of the region");
		}
		/* A call still running on a file (a close evicting it, an
		 * operation whose descriptor was just closed) holds a reference
		 * beyond its name. */
		pthread_mutex_lock(&fs->ns_lock);
		for (ino = fs->ihead; ino; ino = ino->next)
			if (ino->evicting || atomic_load(&ino->refs) > (ino->nlink ? 1u : 0u))
				break;
		fs->unmounting = !ino;
		pthread_mutex_unlock(&fs->ns_lock);
		if (!ino)
			break;
		/* A removal began meanwhile: its teardown holds them; wait for it. */
		if (!shut && atomic_load(&fs->shutdown))
			continue;
		return dc__fail(-EBUSY, "dcfs unmount: a call on file %llu is still running",
				(unsigned long long)ino->ino);
	}
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
	if (!atomic_load(&fs->shutdown)) {
		/* Blocks in the quarantine are held by something other than a pin
		 * set (those were refused above): wait for them. */
		struct dc_wait_opts w;

		dcfs_wait_opts_default(fs, opts, &w);
		if (dc_wait_var(&fs->alloc.nquar, quarantine_empty, fs, &w)) {
			pthread_mutex_lock(&fs->ns_lock);
			fs->unmounting = false;
			pthread_mutex_unlock(&fs->ns_lock);
			return dc__fail(-EBUSY, "dcfs unmount: %llu quarantined blocks are still "
					"referenced", (unsigned long long)quarantined(fs));
		}
	}
	/*
	 * Let go of the region before the inodes go: the release waits for a
	 * PRE_REMOVE running now (it holds references on inodes), and none
	 * reaches the mount afterwards.  A teardown that let go first also
	 * destroyed the mappings.
	 */
	pthread_mutex_lock(&fs->ns_lock);
	ret = !fs->released;
	fs->released = true;
	pthread_mutex_unlock(&fs->ns_lock);
	if (ret)
		DC_BUG_ON(dc_region_release(fs->r, fs));
	else /* a teardown took it: it may still be running (bounded: no deadline) */
		(void)dc_wait_var(&fs->torn_down, torn_down, fs, NULL);
	for (;;) {
		struct dc_mapping *m;

		pthread_mutex_lock(&fs->ns_lock);
		ino = fs->ihead;
		if (ino) {
			fs->ihead = ino->next;
			m = ino->m;
			ino->m = NULL;
		}
		pthread_mutex_unlock(&fs->ns_lock);
		if (!ino)
			break;
		dcfs_inode_free(ino, m);
	}
	pthread_mutex_lock(&fs->ns_lock);
	m_anchor = fs->anchor; /* NULL if a teardown destroyed it */
	fs->anchor = NULL;
	pthread_mutex_unlock(&fs->ns_lock);
	if (m_anchor)
		DC_BUG_ON(dc_mapping_destroy(m_anchor));
	(void)dc_liveref_kill(&fs->active); /* -EINVAL: killed by the shutdown */
	dc_liveref_exit(&fs->active);
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
	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	if (!fs)
		return;
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
	pthread_mutex_lock(&fs->alloc.lock);
	st->blocks_shared = fs->alloc.nshared;
	st->blocks_quarantined = fs->alloc.nquar;
	st->blocks_bad = fs->alloc.nbad;
	pthread_mutex_unlock(&fs->alloc.lock);
	st->cow_copies = atomic_load(&fs->cow_copies);
	st->memory_failures = atomic_load(&fs->memory_failures);
	st->revokes = atomic_load(&fs->revokes);
	st->views = atomic_load(&fs->nviews);
	st->shutdown = atomic_load(&fs->shutdown);
}

DC_API struct dc_region *dc_dcfs_region(const struct dc_dcfs *fs)
{
	/* Once the mount let go of a region that is being removed, it may be gone. */
	return fs && !atomic_load(&((struct dc_dcfs *)fs)->detached) ? fs->r : NULL;
}
