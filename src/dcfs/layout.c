// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * layout.c - break layouts, and the operations that need it: truncate,
 * punch-hole, zero-range, collapse-range, insert-range (and preallocation,
 * which does not).
 *
 * The pattern of every layout change (ext4/xfs *_break_layouts() and the
 * series' dax_break_layouts()): hold the I/O lock and the invalidate lock
 * exclusive; zap the affected range and wait while a page in it is busy,
 * dropping the invalidate lock while asleep (a DMA that holds some pins
 * may need to fault the rest) and zapping again after retaking it; only
 * then delete the entries and free or move the blocks (invariant 4).  A
 * wait that times out or is cancelled returns before anything but the
 * zapped entries changed: the file is as it was.
 */
#include "dcfs/dcfs_int.h"

#define MAX_REPORTED 16

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

struct breaker {
	struct dcfs_inode *ino;
	struct dcfs_inode *other; /* a second file whose invalidate lock is held too (reflink) */
	const char *op;
	uint64_t first, last, start_ns, slow_ns;
	unsigned sleeps;
	bool reported;
};

/* Report the pins a slow wait waits for, once (no lock held). */
static void slow_report(struct breaker *b)
{
	struct dc_dcfs *fs = b->ino->fs;
	struct dc_dcfs_pin_info pins[MAX_REPORTED];
	char name[DC_DCFS_NAME_MAX + 1];
	struct dc_dcfs_event ev = {
		.type = DC_DCFS_EV_SLOW_WAIT,
		.ino = b->ino->ino,
		.op = b->op,
		.offset = b->first << DC_PAGE_SHIFT,
		.length = b->last >= DC_MAPPING_INDEX_MAX ? UINT64_MAX
							  : (b->last - b->first + 1) << DC_PAGE_SHIFT,
		.waited_ns = dc_now_ns() - b->start_ns,
		.pins = pins,
	};

	b->reported = true;
	ev.name = dcfs_event_name(b->ino, name);
	dcfs_pins_list(b->ino, b->first, b->last, pins, MAX_REPORTED, &ev.npins);
	atomic_fetch_add(&fs->slow_reports, 1);
	if (fs->ops.event) {
		dc__cb_enter();
		fs->ops.event(fs, &ev, fs->arg);
		dc__cb_exit();
	}
}

static void before_sleep(void *arg)
{
	struct breaker *b = arg;

	pthread_rwlock_unlock(&b->ino->invalidate);
	if (b->other) /* a DMA holding pins of this file may fault the other */
		pthread_rwlock_unlock(&b->other->invalidate);
	if (!b->reported && dc_now_ns() - b->start_ns >= b->slow_ns)
		slow_report(b);
}

static void after_sleep(void *arg)
{
	struct breaker *b = arg;
	struct dcfs_inode *lo = b->ino, *hi = b->other;

	if (hi && hi->ino < lo->ino) {
		lo = b->other;
		hi = b->ino;
	}
	pthread_rwlock_wrlock(&lo->invalidate);
	if (hi)
		pthread_rwlock_wrlock(&hi->invalidate);
	b->sleeps++;
}

static void waiting(struct dc_mapping *m, uint64_t index, struct dc_folio *f, void *arg)
{
	struct breaker *b = arg;

	atomic_fetch_add(&b->ino->fs->break_waits, 1);
}

/*
 * Entries of [first, last] over blocks another file (or range) shares go
 * without a wait when no pin of this file holds them: the block stays
 * with its other sharers (or, should they let go meanwhile, waits in the
 * quarantine), so another file's pin on it is no reason to wait.  The
 * entry is zapped first; a pin call of this file in flight over it then,
 * or a pin set over it, leaves it to the ordinary wait (the truncate waits for its
 * own pins).  Invalidate lock held exclusive (no fault maps more).
 */
static int abandon_shared(struct dcfs_inode *ino, uint64_t first, uint64_t last,
			  const struct dc_wait_opts *w)
{
	struct dc_entry_info info;

	if (!atomic_load(&ino->shared_ever))
		return 0;
	dc_mapping_for_each(ino->m, first, last, &info) {
		uint64_t end = info.first + (UINT64_C(1) << info.order) - 1;
		int ret;

		if (!dc_entry_has_pages(info.entry) ||
		    dcfs_shares(ino->fs, dc_entry_pgoff(info.entry)) < 2)
			continue;
		/* Zap, then look for our pins (a pin call is pending, under
		 * pin_lock, before its lookups: it sees the zap, or we see it). */
		ret = dc_mapping_zap(ino->m, info.first, end, w, NULL);
		if (ret < 0)
			return ret;
		if (dcfs_pins_on(ino, info.first, end))
			continue;
		ret = dc_mapping_abandon(ino->m, info.first, end, w);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* No block the file maps in the breaker's range is pinned for DMA. */
static bool no_pinned_blocks(void *arg)
{
	struct breaker *b = arg;

	return !dcfs_range_pinned(b->ino, b->first, b->last);
}

/* The breaker @b's range, its wait callbacks dropping its locks while asleep. */
static int break_range_b(struct breaker *b, const struct dc_wait_opts *opts, unsigned how,
			 bool final)
{
	struct dcfs_inode *ino = b->ino;
	uint64_t first = b->first, last = b->last;
	struct dc_wait_opts w = opts ? *opts : (struct dc_wait_opts){ 0 };
	struct dc_break_report report = { .waiting = waiting, .arg = b };
	int ret;

	w.before_sleep = before_sleep;
	w.after_sleep = after_sleep;
	w.arg = b;
	/* The views first, the whole range at once (unmap_mapping_range()):
	 * one mmap per view; the zaps' own revokes then find nothing mapped
	 * but what a fault in flight mapped meanwhile. */
	dc_view_file_revoke(ino->vf, first, (final ? DC_MAPPING_INDEX_MAX : last) - first + 1);
	if (ino->fs->opt.quarantine && !(how & DCFS_BREAK_KEEP)) {
		/* No wait for pins: still-pinned blocks leave the file now, and
		 * dcfs_blocks_put() quarantines them until their last unpin. */
		ret = dc_mapping_abandon(ino->m, first, final ? DC_MAPPING_INDEX_MAX : last, &w);
		return ret < 0 ? ret : 0;
	}
	ret = abandon_shared(ino, first, final ? DC_MAPPING_INDEX_MAX : last, &w);
	if (ret)
		return ret;
	if (final)
		return dc_mapping_truncate_final(ino->m, &w);
	if (DC_REGRESS_BUG == 19) { /* bug 19: blocks freed while pinned */
		(void)dc_mapping_zap(ino->m, first, last, NULL, NULL);
		(void)dc_mapping_truncate(ino->m, first, last, NULL);
		return 0;
	}
	for (;;) {
		ret = dc_mapping_break_layouts(ino->m, first, last, &w, &report);
		if (ret < 0)
			return ret;
		/* Nothing in the range is busy and we hold the invalidate lock:
		 * no fault can map it again before the delete. */
		ret = dc_mapping_truncate(ino->m, first, last, &w);
		if (ret == -EBUSY)
			continue;
		if (ret || !(how & DCFS_BREAK_KEEP) || !ino->fs->opt.quarantine ||
		    DC_REGRESS_BUG == 42 || no_pinned_blocks(b))
			return ret;
		/*
		 * The blocks stay (a reflink's source): the pins on them too,
		 * also those no entry leads to any more.  With the quarantine a
		 * break abandons whole entries, so a layout change of a few
		 * pages of a 2 MiB entry leaves its other blocks in the file,
		 * pinned and unmapped.  So wait until no block the file has in
		 * the range is pinned (not for pin records: a block that left
		 * the file under its pin is no reason), then break again (the
		 * range may have been faulted meanwhile).  Without the
		 * quarantine the entries lead to every pin of the file.
		 */
		ret = dc_wait_var(ino->fs, no_pinned_blocks, b, &w);
		if (ret)
			return ret;
	}
}

static int break_range(struct dcfs_inode *ino, struct dcfs_inode *other, uint64_t first,
		       uint64_t last, const char *op, const struct dc_wait_opts *opts, unsigned how,
		       unsigned *sleeps)
{
	bool final = how & DCFS_BREAK_FINAL;
	struct breaker b = {
		.ino = ino, .other = other, .op = op, .first = first, .last = last,
		.start_ns = dc_now_ns(), .slow_ns = ino->fs->opt.slow_wait_ms * 1000000ull,
	};
	int ret = break_range_b(&b, opts, how, final);

	*sleeps += b.sleeps;
	return ret;
}

/*
 * Break layouts on file pages [first, last] and delete their entries
 * (@how: DCFS_BREAK_FINAL, the whole mapping, at eviction, which also
 * stops new faults; DCFS_BREAK_KEEP, the blocks stay in the file, so
 * pins are waited for even with the quarantine).
 * Caller holds io_lock and invalidate exclusive; the invalidate lock is
 * dropped and retaken around each sleep.
 * Return: 0; -ETIMEDOUT, -EINTR (@opts).
 */
int dcfs_break_layouts(struct dcfs_inode *ino, uint64_t first, uint64_t last, const char *op,
		       const struct dc_wait_opts *opts, unsigned how)
{
	unsigned sleeps = 0;

	return break_range(ino, NULL, first, last, op, opts, how, &sleeps);
}

/*
 * Break layouts on two ranges, of one file or of two (@a and @b, both
 * invalidate locks held, in ino order): each wait drops both locks, and
 * after one the other range is broken again, until a round of both ran
 * without a sleep (no fault mapped either range meanwhile).
 */
int dcfs_break_two(struct dcfs_inode *a, uint64_t af, uint64_t al, unsigned ahow,
		   struct dcfs_inode *b, uint64_t bf, uint64_t bl, unsigned bhow, const char *op,
		   const struct dc_wait_opts *opts)
{
	struct dcfs_inode *other = a == b ? NULL : b;

	for (;;) {
		unsigned sleeps = 0;
		int ret = break_range(a, other, af, al, op, opts, ahow, &sleeps);

		if (!ret)
			ret = break_range(b, other ? a : NULL, bf, bl, op, opts, bhow, &sleeps);
		if (ret || !sleeps)
			return ret;
	}
}


/*
 * Take the invalidate lock exclusive (within @opts) and break layouts on
 * [first, last]; on 0 the lock is held, on an error it is not.
 */
int dcfs_lock_and_break(struct dcfs_inode *ino, uint64_t first, uint64_t last, const char *op,
			  const struct dc_wait_opts *opts)
{
	int ret = dcfs_lock(&ino->invalidate, true, opts, "invalidate");

	if (ret)
		return ret;
	ret = dcfs_break_layouts(ino, first, last, op, opts, 0);
	if (ret)
		pthread_rwlock_unlock(&ino->invalidate);
	return ret;
}

/*
 * The start of a layout change of file pages [first, last] (first > last:
 * none): ask the revocable pins there for their pins back (no lock held),
 * then take the I/O lock exclusive within @opts.
 */
static struct dcfs_inode *layout_begin(struct dc_dcfs *fs, int fd, uint64_t first,
				       uint64_t last, const char *op,
				       const struct dc_wait_opts *opts, int *err)
{
	struct dcfs_inode *ino = dcfs_call_begin(fs, fd, true, err);

	if (!ino)
		return NULL;
	dcfs_leases_break(ino, first, last, op);
	*err = dcfs_lock(&ino->io_lock, true, opts, "I/O");
	if (!*err && ino->dead) {
		pthread_rwlock_unlock(&ino->io_lock);
		*err = dc__fail(-EBADF, "dcfs: the file was evicted");
	}
	if (*err) {
		dcfs_leases_end(ino);
		dcfs_call_end(ino);
		return NULL;
	}
	return ino;
}

static void layout_end(struct dcfs_inode *ino, bool invalidate_held)
{
	if (invalidate_held)
		pthread_rwlock_unlock(&ino->invalidate);
	pthread_rwlock_unlock(&ino->io_lock);
	dcfs_leases_end(ino);
	dcfs_call_end(ino);
}

/*
 * Set the size, zeroing what lay past the old end in its last block
 * (copied first if shared: dcfs_unshare_tail() before ext_lock, or the
 * range is broken).  ext_lock held.
 */
static int grow_to(struct dcfs_inode *ino, uint64_t size)
{
	uint64_t old = atomic_load(&ino->size);
	int ret;

	if (size <= old)
		return 0;
	ret = dcfs_zero_bytes(ino, old, round_up(old, dcfs_blk_bytes(ino->fs)), false);
	if (!ret)
		atomic_store(&ino->size, size);
	return ret;
}

DC_API int dc_dcfs_truncate(struct dc_dcfs *fs, int fd, uint64_t size,
			    const struct dc_wait_opts *opts)
{
	struct dcfs_inode *ino;
	uint64_t old, bb;
	bool held;
	int ret;

	if (size > DC_DCFS_SIZE_MAX)
		return dc__fail(-EFBIG, "dcfs truncate: %llu is past the largest file (2^52)",
				(unsigned long long)size);
	ino = layout_begin(fs, fd, size >> DC_PAGE_SHIFT, DC_MAPPING_INDEX_MAX, "truncate", opts,
			   &ret);
	if (!ino)
		return ret;
	old = atomic_load(&ino->size);
	if (size >= old) {
		ret = dcfs_unshare_tail(ino);
		if (!ret) {
			pthread_mutex_lock(&ino->ext_lock);
			ret = grow_to(ino, size);
			pthread_mutex_unlock(&ino->ext_lock);
		}
		layout_end(ino, false);
		return ret;
	}
	bb = dcfs_blk_bytes(fs);
	ret = dcfs_lock_and_break(ino, size >> DC_PAGE_SHIFT, DC_MAPPING_INDEX_MAX, "truncate", opts);
	held = !ret;
	if (!ret) {
		pthread_mutex_lock(&ino->ext_lock);
		/* Copy a shared last block first (the step that may fail), then
		 * free, then zero its tail (it is this file's own now). */
		ret = size & (bb - 1) ? dcfs_unshare_locked(ino, size >> DC_PAGE_SHIFT, true) : 0;
		if (!ret)
			ret = dcfs_free_range(ino, round_up(size, bb) >> DC_PAGE_SHIFT, UINT64_MAX);
		if (!ret)
			ret = dcfs_zero_bytes(ino, size, round_up(size, bb), true);
		if (!ret)
			atomic_store(&ino->size, size);
		pthread_mutex_unlock(&ino->ext_lock);
	}
	layout_end(ino, held); /* a failure after the break still holds the lock */
	return ret;
}

/*
 * Allocate every hole in file pages [first, first + n).  io_lock held.  On
 * failure the blocks it allocated inside the file stay (zeroed) and those
 * past the end of file go back: no entry maps them (faults there fail).
 */
static int alloc_range(struct dcfs_inode *ino, uint64_t first, uint64_t n)
{
	for (uint64_t p = first; p < first + n;) {
		struct dcfs_ext map;
		bool mapped, fresh;
		int ret;

		pthread_mutex_lock(&ino->ext_lock);
		ret = dcfs_iomap(ino, p, first + n - p, first + n - p >= 512 ? 512 : 1,
				 DCFS_MAP_ALLOC | DCFS_MAP_EXTEND, &map, &mapped, &fresh, NULL);
		pthread_mutex_unlock(&ino->ext_lock);
		if (!ret && fresh)
			ret = dcfs_unzero(ino, map.fpage, map.len);
		if (ret) {
			pthread_mutex_lock(&ino->ext_lock);
			dcfs_trim_eof(ino);
			pthread_mutex_unlock(&ino->ext_lock);
			return ret;
		}
		p += map.len;
	}
	return 0;
}

static int punch_or_zero(struct dcfs_inode *ino, uint64_t off, uint64_t end, bool zero,
			 const struct dc_wait_opts *opts)
{
	uint64_t bb = dcfs_blk_bytes(ino->fs), size = atomic_load(&ino->size), s, t;
	int ret = 0;

	if (!zero && end > size)
		end = size; /* punch never extends */
	if (off >= end)
		return 0;
	s = round_up(off, bb); /* whole blocks [s, t) are freed by a punch */
	t = end & ~(bb - 1);
	if (zero && off > size) /* the old last block lies outside the broken range */
		ret = dcfs_unshare_tail(ino);
	if (!ret)
		ret = dcfs_lock_and_break(ino, off >> DC_PAGE_SHIFT, (end - 1) >> DC_PAGE_SHIFT,
					  zero ? "zero" : "punch", opts);
	if (ret)
		return ret;
	if (zero) {
		/* The range has no entries now: allocate its holes (zeroed),
		 * -ENOSPC before any byte of the file changed. */
		ret = alloc_range(ino, off >> DC_PAGE_SHIFT,
				  dcfs_size_pages(end) - (off >> DC_PAGE_SHIFT));
	}
	if (!ret) {
		pthread_mutex_lock(&ino->ext_lock);
		if (zero || s >= t) {
			ret = dcfs_zero_bytes(ino, off, end, true);
		} else {
			ret = dcfs_zero_bytes(ino, off, s, true);
			if (!ret)
				ret = dcfs_zero_bytes(ino, t, end, true);
			if (!ret && t > s &&
			    (dcfs_ext_reserve(&ino->ext, 1) ||
			     dcfs_free_range(ino, s >> DC_PAGE_SHIFT, (t - s) >> DC_PAGE_SHIFT)))
				ret = dcfs_zero_bytes(ino, s, t, true); /* no memory for a split: zero instead */
		}
		if (zero && !ret)
			ret = grow_to(ino, end);
		/* bug 43: a zero that failed here left what it allocated past the end */
		if (zero && ret && DC_REGRESS_BUG != 43)
			dcfs_trim_eof(ino); /* the size stays: alloc_range()'s blocks past it go back */
		pthread_mutex_unlock(&ino->ext_lock);
	}
	pthread_rwlock_unlock(&ino->invalidate);
	return ret;
}

/*
 * The reverse map follows a shift: every extent from file page @from on
 * moves by @delta pages.  ext_lock held.  -ENOMEM before anything moved.
 */
static int refile_from(struct dcfs_inode *ino, uint64_t from, uint64_t delta, bool up)
{
	struct dc_dcfs *fs = ino->fs;
	int ret;

	pthread_mutex_lock(&fs->alloc.lock);
	ret = dcfs_rmap_reserve(fs, 2); /* the record split at @from */
	if (!ret) {
		/*
		 * Moving up, the last extent first (down, the first): a file
		 * may map one block at two offsets (a reflink within it), and a
		 * record just moved must not look like the next extent's.
		 */
		for (size_t k = 0; k < ino->ext.n; k++) {
			const struct dcfs_ext *e = &ino->ext.v[up ? ino->ext.n - 1 - k : k];

			if (e->fpage >= from)
				dcfs_rmap_refile(fs, ino, e->pgoff, e->len, e->fpage,
						 up ? e->fpage + delta : e->fpage - delta);
		}
		dcfs_rmap_unreserve(fs, 2);
	}
	pthread_mutex_unlock(&fs->alloc.lock);
	return ret;
}

/* Collapse (@up false) or insert (@up true) [off, off + len): both block-aligned. */
static int shift_range(struct dcfs_inode *ino, uint64_t off, uint64_t len, bool up,
		       const struct dc_wait_opts *opts)
{
	uint64_t size = atomic_load(&ino->size);
	int ret;

	if (up ? off >= size : off + len >= size)
		return dc__fail(-EINVAL, "dcfs %s: offset %llu%s must be below the size %llu",
				up ? "insert" : "collapse", (unsigned long long)off,
				up ? "" : " + length", (unsigned long long)size);
	if (up && len > DC_DCFS_SIZE_MAX - size)
		return dc__fail(-EFBIG, "dcfs insert: the file would pass 2^52 bytes");
	ret = dcfs_lock_and_break(ino, off >> DC_PAGE_SHIFT, DC_MAPPING_INDEX_MAX,
			     up ? "insert" : "collapse", opts);
	if (ret)
		return ret;
	pthread_mutex_lock(&ino->ext_lock);
	/* A record for the split at @off (insert) or @off + len (collapse),
	 * reserved now that no fault can run: -ENOMEM leaves the file as it
	 * was (its entries are only deleted). */
	ret = dcfs_ext_reserve(&ino->ext, 1);
	if (!ret && ino->fs->opt.quarantine) /* pinned blocks do not move with the file */
		ret = dcfs_move_held(ino, (off + (up ? 0 : len)) >> DC_PAGE_SHIFT);
	if (!ret)
		ret = dcfs_ext_reserve(&ino->ext, 1); /* the moves may have used it */
	if (!ret) {
		uint64_t fp = off >> DC_PAGE_SHIFT, np = len >> DC_PAGE_SHIFT;

		if (up) {
			/* Split at @off (reserved), then move everything after up. */
			DC_BUG_ON(dcfs_ext_remove(&ino->ext, fp, 0, NULL, NULL));
			ret = refile_from(ino, fp, np, true);
			if (!ret) {
				dcfs_ext_shift(&ino->ext, fp, np, true);
				atomic_store(&ino->size, size + len);
			}
		} else {
			ret = dcfs_free_range(ino, fp, np);
			if (!ret)
				ret = refile_from(ino, fp + np, np, false);
			if (!ret) {
				dcfs_ext_shift(&ino->ext, fp + np, np, false);
				atomic_store(&ino->size, size - len);
			}
		}
	}
	pthread_mutex_unlock(&ino->ext_lock);
	pthread_rwlock_unlock(&ino->invalidate);
	return ret;
}

DC_API int dc_dcfs_fallocate(struct dc_dcfs *fs, int fd, unsigned mode, uint64_t off,
			     uint64_t len, const struct dc_wait_opts *opts)
{
	struct dcfs_inode *ino;
	uint64_t bb;
	int ret;

	if (mode > DC_DCFS_FALLOC_INSERT)
		return dc__fail(-EINVAL, "dcfs fallocate: unknown mode %u", mode);
	if (len > DC_DCFS_SIZE_MAX || off > UINT64_MAX - len)
		return dc__fail(-EINVAL, "dcfs fallocate: offset %llu + length %llu overflows",
				(unsigned long long)off, (unsigned long long)len);
	if (off + len > DC_DCFS_SIZE_MAX)
		return dc__fail(-EFBIG, "dcfs fallocate: the range passes 2^52 bytes");
	if (!fs)
		return dc__fail(-EINVAL, "dcfs fallocate: NULL file system");
	bb = dcfs_blk_bytes(fs);
	if ((mode == DC_DCFS_FALLOC_COLLAPSE || mode == DC_DCFS_FALLOC_INSERT) &&
	    ((off | len) & (bb - 1)))
		return dc__fail(-EINVAL, "dcfs %s: offset %llu and length %llu must be multiples "
				"of the block size %llu",
				mode == DC_DCFS_FALLOC_INSERT ? "insert" : "collapse",
				(unsigned long long)off, (unsigned long long)len,
				(unsigned long long)bb);
	if (mode == DC_DCFS_FALLOC_ALLOC || !len) /* changes no block a pin holds */
		ino = layout_begin(fs, fd, UINT64_MAX, 0, "allocate", opts, &ret);
	else
		ino = layout_begin(fs, fd, off >> DC_PAGE_SHIFT,
				   mode >= DC_DCFS_FALLOC_COLLAPSE ? DC_MAPPING_INDEX_MAX
								   : (off + len - 1) >> DC_PAGE_SHIFT,
				   mode == DC_DCFS_FALLOC_PUNCH ? "punch"
				   : mode == DC_DCFS_FALLOC_ZERO ? "zero"
				   : mode == DC_DCFS_FALLOC_COLLAPSE ? "collapse" : "insert", opts, &ret);
	if (!ino)
		return ret;
	if (!len) {
		layout_end(ino, false);
		return 0;
	}
	switch (mode) {
	case DC_DCFS_FALLOC_ALLOC:
		ret = dcfs_unshare_tail(ino);
		if (!ret)
			ret = alloc_range(ino, off >> DC_PAGE_SHIFT,
					  dcfs_size_pages(off + len) - (off >> DC_PAGE_SHIFT));
		if (!ret) {
			pthread_mutex_lock(&ino->ext_lock);
			ret = grow_to(ino, off + len);
			if (ret) /* what alloc_range() allocated past the end goes back */
				dcfs_trim_eof(ino);
			pthread_mutex_unlock(&ino->ext_lock);
		}
		break;
	case DC_DCFS_FALLOC_PUNCH:
	case DC_DCFS_FALLOC_ZERO:
		ret = punch_or_zero(ino, off, off + len, mode == DC_DCFS_FALLOC_ZERO, opts);
		break;
	default:
		ret = shift_range(ino, off, len, mode == DC_DCFS_FALLOC_INSERT, opts);
		break;
	}
	layout_end(ino, false);
	return ret;
}
