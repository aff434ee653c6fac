// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * blocks.c - what dcfs knows about each block beyond "allocated": how many
 * file ranges share it (reflink), which (file, page) each of them is (the
 * reverse map, for memory failure and the oracle), whether it waits in the
 * quarantine, whether it is bad.  All of it under the allocator lock.
 *
 * A block's share count is the number of extent pieces, in all files, that
 * map it.  It returns to the allocator when the count reaches 0 and the
 * block is idle (invariant 9); a block that something still references
 * then (a pin a truncate did not wait for, or a pin on an old CoW-shared
 * block) is quarantined, and the ->page_free of its last put returns it.
 * A bad block never returns.
 *
 * The reverse map mirrors the extents: one record per extent piece, sorted
 * by device page; sharers' records overlap.  A lookup scans back at most
 * the longest record there ever was.
 *
 * Memory: a removal may split a record, so callers reserve records under
 * the lock first (dcfs_rmap_reserve()); a reservation can be kept across a
 * lock drop, and others never eat into it.
 */
#include "dcfs/dcfs_int.h"
#include <daxcore/folio.h>

/*
 * A share count read outside the allocator lock is a go-ahead to write the
 * block in place (count 1): acquire, pairing with the release of the
 * store that dropped the other sharer's share after it last read the
 * block (its CoW copy, its pread).
 */
static uint32_t blk_load(struct dcfs_alloc *a, uint64_t b)
{
	return atomic_load_explicit(&a->blk[b], memory_order_acquire);
}

static void blk_store(struct dcfs_alloc *a, uint64_t b, uint32_t v)
{
	atomic_store_explicit(&a->blk[b], v, memory_order_release);
}

/* ---- the reverse map ---------------------------------------------------------- */

int dcfs_rmap_reserve(struct dc_dcfs *fs, size_t need)
{
	struct dcfs_rmap *rm = &fs->alloc.rmap;
	struct dcfs_rrec *v = dcfs_array_grow(rm->v, rm->n, &rm->cap, rm->n + rm->reserved + need,
					      sizeof(*v), 64, "reverse-map records");

	if (!v)
		return -ENOMEM;
	rm->v = v;
	rm->reserved += need;
	return 0;
}

void dcfs_rmap_unreserve(struct dc_dcfs *fs, size_t need)
{
	DC_BUG_ON(fs->alloc.rmap.reserved < need);
	fs->alloc.rmap.reserved -= need;
}

/* The first record with pgoff >= @pg. */
static size_t lower(const struct dcfs_rmap *rm, uint64_t pg)
{
	size_t lo = 0, hi = rm->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rm->v[mid].pgoff < pg)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The first record that may cover page @pg (none before it can). */
static size_t scan_start(const struct dcfs_rmap *rm, uint64_t pg)
{
	return lower(rm, pg >= rm->maxlen ? pg - rm->maxlen + 1 : 0);
}

static bool rec_before(const struct dcfs_rrec *a, const struct dcfs_rrec *b)
{
	if (a->pgoff != b->pgoff)
		return a->pgoff < b->pgoff;
	if (a->ino != b->ino)
		return a->ino->ino < b->ino->ino;
	return a->fpage < b->fpage;
}

/* Insert @r in order (a record was reserved). */
static void rmap_insert(struct dcfs_rmap *rm, struct dcfs_rrec r)
{
	size_t i = lower(rm, r.pgoff);

	DC_BUG_ON(rm->n >= rm->cap);
	while (i < rm->n && rec_before(&rm->v[i], &r))
		i++;
	memmove(&rm->v[i + 1], &rm->v[i], (rm->n - i) * sizeof(r));
	rm->v[i] = r;
	rm->n++;
	if (r.len > rm->maxlen)
		rm->maxlen = r.len;
}

static void rmap_erase(struct dcfs_rmap *rm, size_t i)
{
	memmove(&rm->v[i], &rm->v[i + 1], (rm->n - i - 1) * sizeof(rm->v[0]));
	rm->n--;
}

/*
 * Remove @ino's mapping of file pages [fpage, fpage + len) at device pages
 * [pgoff, pgoff + len): the parts of its records that say exactly that.
 * A record cut in the middle becomes two (one reserved record).
 */
static void rmap_remove(struct dcfs_rmap *rm, struct dcfs_inode *ino, uint64_t fpage,
			uint64_t pgoff, uint64_t len)
{
	uint64_t end = pgoff + len, found = 0;

	for (size_t i = scan_start(rm, pgoff); i < rm->n && rm->v[i].pgoff < end;) {
		struct dcfs_rrec *r = &rm->v[i];
		uint64_t rend = r->pgoff + r->len, s, e;

		if (r->ino != ino || rend <= pgoff || r->fpage - r->pgoff != fpage - pgoff) {
			i++;
			continue;
		}
		s = r->pgoff > pgoff ? r->pgoff : pgoff;
		e = rend < end ? rend : end;
		found += e - s;
		if (s == r->pgoff && e == rend) {
			rmap_erase(rm, i);
			continue;
		}
		if (s == r->pgoff) { /* the head goes: the rest starts later */
			struct dcfs_rrec tail = { e, rend - e, r->fpage + (e - r->pgoff), ino };

			rmap_erase(rm, i);
			rmap_insert(rm, tail);
			continue;
		}
		if (e == rend) { /* the tail goes */
			r->len = s - r->pgoff;
			i++;
			continue;
		}
		/* The middle goes: a head and a tail. */
		struct dcfs_rrec tail = { e, rend - e, r->fpage + (e - r->pgoff), ino };

		r->len = s - r->pgoff;
		rmap_insert(rm, tail);
		i++;
	}
	if (found != len)
		DC_BUG("dcfs rmap: file %llu maps %llu of device pages [%llu, +%llu) at page %llu, "
		       "the reverse map says %llu", (unsigned long long)ino->ino,
		       (unsigned long long)len, (unsigned long long)pgoff, (unsigned long long)len,
		       (unsigned long long)fpage, (unsigned long long)found);
}

/*
 * Add @ino's mapping, merged into a record of the same file that it
 * continues on both sides (the same rule the extent map merges by).
 */
static void rmap_add(struct dcfs_rmap *rm, struct dcfs_inode *ino, uint64_t fpage,
		     uint64_t pgoff, uint64_t len)
{
	/* A record that ends at @pgoff starts at most maxlen before it (one
	 * page further back than scan_start(), which looks for covering ones). */
	size_t i = lower(rm, pgoff >= rm->maxlen ? pgoff - rm->maxlen : 0);

	for (; i < rm->n && rm->v[i].pgoff < pgoff; i++) {
		struct dcfs_rrec *r = &rm->v[i];

		if (r->ino == ino && r->pgoff + r->len == pgoff && r->fpage + r->len == fpage) {
			r->len += len;
			if (r->len > rm->maxlen)
				rm->maxlen = r->len;
			return;
		}
	}
	rmap_insert(rm, (struct dcfs_rrec){ pgoff, len, fpage, ino });
}

/*
 * The extent of @ino at device pages [pgoff, pgoff + len) moved from file
 * page @old_fpage to @new_fpage (collapse, insert).  A record reaching out
 * of the extent (the extent map was split there) is split first: one
 * reserved record each.
 */
void dcfs_rmap_refile(struct dc_dcfs *fs, struct dcfs_inode *ino, uint64_t pgoff, uint64_t len,
		      uint64_t old_fpage, uint64_t new_fpage)
{
	struct dcfs_rmap *rm = &fs->alloc.rmap;
	uint64_t end = pgoff + len;

	for (size_t i = scan_start(rm, pgoff); i < rm->n && rm->v[i].pgoff < end; i++) {
		struct dcfs_rrec *r = &rm->v[i];

		if (r->ino != ino || r->pgoff + r->len <= pgoff ||
		    r->fpage - r->pgoff != old_fpage - pgoff)
			continue;
		if (r->pgoff + r->len > end) { /* keep the part after the extent as it is */
			struct dcfs_rrec tail = { end, r->pgoff + r->len - end,
						  r->fpage + (end - r->pgoff), ino };

			r->len = end - r->pgoff;
			rmap_insert(rm, tail);
			r = &rm->v[i];
		}
		if (r->pgoff < pgoff) { /* and the part before it */
			struct dcfs_rrec head = *r, rest = *r;

			head.len = pgoff - r->pgoff;
			rest.pgoff = pgoff;
			rest.len -= head.len;
			rest.fpage = new_fpage;
			rmap_erase(rm, i);
			rmap_insert(rm, head);
			rmap_insert(rm, rest); /* refiled: the scan skips it from now on */
			continue;
		}
		r->fpage = new_fpage + (r->pgoff - pgoff);
	}
}

/* ---- share counts and the block states ------------------------------------------- */

/*
 * Blocks [first, first + n) have no sharer left: give back the idle ones,
 * quarantine the rest (->page_free of their last put gives them back); a
 * bad one stays out.  One fence for the run.
 */
static void release_run(struct dc_dcfs *fs, uint64_t first, uint64_t n)
{
	struct dcfs_alloc *a = &fs->alloc;
	uint64_t run = 0;

	/* The mount let go of the region (set under this lock): its folios
	 * are not ours to read any more, and no call allocates again. */
	if (DC_REGRESS_BUG == 26 || atomic_load(&fs->detached)) { /* bug 26: free while pinned */
		for (uint64_t b = first; b < first + n; b++)
			if (!(blk_load(a, b) & DCFS_B_BAD))
				dcfs_free_blocks(a, b, 1);
		return;
	}
	/* Quarantine first, then look: a last put that runs meanwhile either
	 * sees the bit (and waits for this lock) or came before the look. */
	for (uint64_t b = first; b < first + n; b++) {
		uint32_t w = blk_load(a, b);

		if (!(w & DCFS_B_BAD))
			blk_store(a, b, w | DCFS_B_QUAR);
	}
	dc__smp_mb();
	for (uint64_t b = first; b <= first + n; b++) {
		uint32_t w = b < first + n ? blk_load(a, b) : 0;
		struct dc_folio *f;

		if (b < first + n && (w & DCFS_B_QUAR)) {
			f = dc_folio_lookup(fs->r, b << fs->blk_order);
			if (!f || dc_folio_idle(f)) {
				blk_store(a, b, w & ~DCFS_B_QUAR);
				run++;
				continue;
			}
			a->nquar++;
		}
		if (run) /* give back the idle run that ends here */
			dcfs_free_blocks(a, b - run, run);
		run = 0;
	}
}

int dcfs_blocks_share(struct dc_dcfs *fs, struct dcfs_inode *ino, uint64_t fpage,
		      uint64_t pgoff, uint64_t len)
{
	struct dcfs_alloc *a = &fs->alloc;
	uint64_t first = pgoff >> fs->blk_order, n = len >> fs->blk_order;

	for (uint64_t b = first; b < first + n; b++)
		if ((blk_load(a, b) & DCFS_B_SHARES) == DCFS_B_SHARES)
			return dc__fail(-EOVERFLOW, "dcfs: block %llu has %u sharers, the most there "
					"can be", (unsigned long long)b, DCFS_B_SHARES);
	for (uint64_t b = first; b < first + n; b++) {
		uint32_t w = blk_load(a, b);

		DC_BUG_ON(!(w & DCFS_B_SHARES) || (w & DCFS_B_QUAR));
		a->nshared += (w & DCFS_B_SHARES) == 1;
		blk_store(a, b, w + 1);
	}
	rmap_add(&a->rmap, ino, fpage, pgoff, len);
	return 0;
}

void dcfs_blocks_put(struct dc_dcfs *fs, struct dcfs_inode *ino, uint64_t fpage, uint64_t pgoff,
		     uint64_t len)
{
	struct dcfs_alloc *a = &fs->alloc;
	uint64_t first = pgoff >> fs->blk_order, n = len >> fs->blk_order;

	uint64_t run = 0;

	rmap_remove(&a->rmap, ino, fpage, pgoff, len);
	for (uint64_t b = first; b < first + n; b++) {
		uint32_t w = blk_load(a, b), s = w & DCFS_B_SHARES;

		DC_BUG_ON(!s);
		if (DC_REGRESS_BUG == 25 && s > 1) /* bug 25: freed with a sharer left */
			s = 1;
		a->nshared -= s == 2;
		blk_store(a, b, DC_REGRESS_BUG == 25 && s == 1 ? w & ~DCFS_B_SHARES : w - 1);
		if (s == 1) { /* no sharer left: released with its neighbours */
			run++;
			continue;
		}
		if (run)
			release_run(fs, b - run, run);
		run = 0;
	}
	if (run)
		release_run(fs, first + n - run, run);
}

/*
 * Allocate blocks (dcfs_alloc_blocks()) for file pages from @fpage of @ino:
 * each gets share count 1 and the reverse map a record.  Allocator lock
 * held and one record reserved by the caller.
 */
int dcfs_blocks_alloc_locked(struct dc_dcfs *fs, struct dcfs_inode *ino, uint64_t fpage,
			     uint64_t goal, uint64_t want, uint64_t align, uint64_t *first,
			     uint64_t *got)
{
	struct dcfs_alloc *a = &fs->alloc;
	int ret = dcfs_alloc_blocks(a, goal, want, align, first, got);

	if (ret)
		return ret;
	for (uint64_t b = *first; b < *first + *got; b++) {
		DC_BUG_ON(blk_load(a, b) & DCFS_B_SHARES);
		blk_store(a, b, 1);
	}
	rmap_add(&a->rmap, ino, fpage, *first << fs->blk_order, *got << fs->blk_order);
	return 0;
}

/* dcfs_blocks_alloc_locked(), taking the allocator lock. */
int dcfs_blocks_alloc(struct dc_dcfs *fs, struct dcfs_inode *ino, uint64_t fpage, uint64_t goal,
		      uint64_t want, uint64_t align, uint64_t *first, uint64_t *got)
{
	int ret;

	pthread_mutex_lock(&fs->alloc.lock);
	ret = dcfs_rmap_reserve(fs, 1);
	if (!ret) {
		ret = dcfs_blocks_alloc_locked(fs, ino, fpage, goal, want, align, first, got);
		dcfs_rmap_unreserve(fs, 1);
	}
	pthread_mutex_unlock(&fs->alloc.lock);
	return ret;
}

/* Whether device page @pgoff is shared, and for how many pages from it that holds (<= @max). */
uint64_t dcfs_shared_run(struct dc_dcfs *fs, uint64_t pgoff, uint64_t max, bool *shared)
{
	struct dcfs_alloc *a = &fs->alloc;
	uint64_t bp = dcfs_blk_pages(fs), b = pgoff >> fs->blk_order, n;

	*shared = (blk_load(a, b) & DCFS_B_SHARES) > 1;
	n = bp - (pgoff & (bp - 1));
	for (b++; n < max && b < a->nblocks && ((blk_load(a, b) & DCFS_B_SHARES) > 1) == *shared;
	     b++)
		n += bp;
	return n < max ? n : max;
}

uint32_t dcfs_shares(struct dc_dcfs *fs, uint64_t pgoff)
{
	return blk_load(&fs->alloc, pgoff >> fs->blk_order) & DCFS_B_SHARES;
}

/* ->page_free: a quarantined block just became idle.  No lock held. */
void dcfs_block_page_free(struct dc_dcfs *fs, struct dc_folio *f)
{
	struct dcfs_alloc *a = &fs->alloc;
	uint64_t b = dc_folio_pgoff(f) >> fs->blk_order;
	uint32_t w;

	dc__smp_mb(); /* pairs with release_block() */
	if (!(blk_load(a, b) & DCFS_B_QUAR))
		return;
	pthread_mutex_lock(&a->lock);
	w = blk_load(a, b);
	if ((w & DCFS_B_QUAR) && dc_folio_idle(f)) {
		blk_store(a, b, w & ~DCFS_B_QUAR);
		if (!(w & DCFS_B_BAD))
			dcfs_free_blocks(a, b, 1);
		a->nquar--;
	}
	pthread_mutex_unlock(&a->lock);
	dc_wake_var(&a->nquar);
}

/*
 * Block @b is poisoned: mark it bad (a free one leaves the free space for
 * good) and hand back every (file, range) that maps it, each file
 * referenced (*@out: free it; the caller puts the inodes).  Lock taken here.
 */
int dcfs_block_poison(struct dc_dcfs *fs, uint64_t b, struct dcfs_owner_ref **out, size_t *n)
{
	struct dcfs_alloc *a = &fs->alloc;
	struct dcfs_rmap *rm = &a->rmap;
	uint64_t pg = b << fs->blk_order, bp = dcfs_blk_pages(fs);
	size_t cnt = 0, k = 0;
	uint32_t w;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&a->lock);
	w = blk_load(a, b);
	if (!(w & DCFS_B_BAD)) {
		blk_store(a, b, w | DCFS_B_BAD);
		a->nbad++;
		dcfs_keep_block(a, b);
	}
	for (size_t i = scan_start(rm, pg); i < rm->n && rm->v[i].pgoff <= pg; i++)
		cnt += rm->v[i].pgoff + rm->v[i].len > pg;
	if (cnt && !(*out = dc__calloc(cnt, sizeof(**out)))) {
		pthread_mutex_unlock(&a->lock);
		return dc__fail(-ENOMEM, "dcfs memory failure: no memory for %zu owners", cnt);
	}
	for (size_t i = scan_start(rm, pg); i < rm->n && rm->v[i].pgoff <= pg; i++) {
		struct dcfs_rrec *r = &rm->v[i];
		uint64_t refs;

		if (r->pgoff + r->len <= pg)
			continue;
		/* Only a file being freed has no reference left: it goes away. */
		refs = atomic_load(&r->ino->refs);
		do {
			if (!refs)
				break;
		} while (!atomic_compare_exchange_weak(&r->ino->refs, &refs, refs + 1));
		if (!refs)
			continue;
		(*out)[k++] = (struct dcfs_owner_ref){ r->ino, r->fpage + (pg - r->pgoff), pg, bp };
	}
	pthread_mutex_unlock(&a->lock);
	*n = k;
	return 0;
}

/* ---- the reverse map, for callers ------------------------------------------------- */

static int owner_cmp(const void *x, const void *y)
{
	const struct dc_dcfs_owner *a = x, *b = y;

	if (a->ino != b->ino)
		return a->ino < b->ino ? -1 : 1;
	return a->offset < b->offset ? -1 : a->offset > b->offset;
}

DC_API int dc_dcfs_rmap(struct dc_dcfs *fs, uint64_t pgoff, struct dc_dcfs_block *blk,
			struct dc_dcfs_owner *out, unsigned max)
{
	struct dcfs_alloc *a;
	struct dcfs_rmap *rm;
	uint64_t b, pg;
	unsigned n = 0;
	uint32_t w;

	if (!fs || !blk || (!out && max))
		return dc__fail(-EINVAL, "dcfs rmap: NULL argument");
	if (pgoff >= fs->alloc.nblocks << fs->blk_order)
		return dc__fail(-EINVAL, "dcfs rmap: device page %llu is past the region (%llu pages)",
				(unsigned long long)pgoff,
				(unsigned long long)(fs->alloc.nblocks << fs->blk_order));
	a = &fs->alloc;
	rm = &a->rmap;
	b = pgoff >> fs->blk_order;
	pg = b << fs->blk_order;
	pthread_mutex_lock(&a->lock);
	w = blk_load(a, b);
	blk->block = b;
	blk->shares = w & DCFS_B_SHARES;
	blk->poisoned = w & DCFS_B_BAD;
	blk->state = (w & DCFS_B_BAD) && !blk->shares ? DC_DCFS_BLOCK_BAD
		     : w & DCFS_B_QUAR			  ? DC_DCFS_BLOCK_QUARANTINED
		     : blk->shares			  ? DC_DCFS_BLOCK_USED
							  : DC_DCFS_BLOCK_FREE;
	for (size_t i = scan_start(rm, pg); i < rm->n && rm->v[i].pgoff <= pg; i++) {
		const struct dcfs_rrec *r = &rm->v[i];

		if (r->pgoff + r->len <= pg)
			continue;
		if (n < max)
			out[n] = (struct dc_dcfs_owner){
				r->ino->ino, (r->fpage + (pg - r->pgoff)) << DC_PAGE_SHIFT };
		n++;
	}
	pthread_mutex_unlock(&a->lock);
	if (out && n)
		qsort(out, n < max ? n : max, sizeof(*out), owner_cmp);
	return (int)n;
}

/*
 * For dc_dcfs_check(): the records of @ino that say what its extent @e
 * says cover it exactly once.  Allocator lock taken; quiescent.
 */
int dcfs_check_ext_rmap(struct dc_dcfs *fs, struct dcfs_inode *ino, const struct dcfs_ext *e)
{
	struct dcfs_rmap *rm = &fs->alloc.rmap;
	uint64_t covered = 0, end = e->pgoff + e->len;

	pthread_mutex_lock(&fs->alloc.lock);
	for (size_t i = scan_start(rm, e->pgoff); i < rm->n && rm->v[i].pgoff < end; i++) {
		const struct dcfs_rrec *r = &rm->v[i];
		uint64_t s, t;

		if (r->ino != ino || r->pgoff + r->len <= e->pgoff ||
		    r->fpage - r->pgoff != e->fpage - e->pgoff)
			continue;
		s = r->pgoff > e->pgoff ? r->pgoff : e->pgoff;
		t = r->pgoff + r->len < end ? r->pgoff + r->len : end;
		covered += t - s;
	}
	pthread_mutex_unlock(&fs->alloc.lock);
	if (covered != e->len)
		return dc__fail(-EUCLEAN, "dcfs check: file %llu maps device pages [%llu, +%llu) at "
				"page %llu; the reverse map covers %llu of them",
				(unsigned long long)ino->ino, (unsigned long long)e->pgoff,
				(unsigned long long)e->len, (unsigned long long)e->fpage,
				(unsigned long long)covered);
	return 0;
}

/*
 * For dc_dcfs_check(): @counts[b] is how many extent pieces map block b
 * (from the files' extents).  The share counts, the reverse map, the
 * bitmap and the block states must agree with it.  Allocator lock taken;
 * quiescent.
 */
int dcfs_check_blocks(struct dc_dcfs *fs, const uint32_t *counts)
{
	struct dcfs_alloc *a = &fs->alloc;
	struct dcfs_rmap *rm = &a->rmap;
	uint64_t nb = a->nblocks, shared = 0, quar = 0, bad = 0;
	uint32_t *seen = dc__calloc(nb ? nb : 1, sizeof(*seen));
	bool detached = atomic_load(&fs->detached);
	int ret = 0;

	if (!seen)
		return dc__fail(-ENOMEM, "dcfs check: no memory");
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < rm->n && !ret; i++) {
		const struct dcfs_rrec *r = &rm->v[i];
		uint64_t fp = r->fpage, left = r->len, hole;
		struct dcfs_ext e;

		if (i && rec_before(r, &rm->v[i - 1]))
			ret = dc__fail(-EUCLEAN, "dcfs check: reverse-map records %zu and %zu are out "
				       "of order", i - 1, i);
		if (r->len > rm->maxlen)
			ret = dc__fail(-EUCLEAN, "dcfs check: a reverse-map record is longer than "
				       "its bound");
		while (!ret && left) {
			if (!dcfs_ext_lookup(&r->ino->ext, fp, &e, &hole) ||
			    e.pgoff != r->pgoff + (fp - r->fpage))
				ret = dc__fail(-EUCLEAN, "dcfs check: the reverse map says file %llu maps "
					       "device page %llu at page %llu; its extents do not",
					       (unsigned long long)r->ino->ino,
					       (unsigned long long)(r->pgoff + (fp - r->fpage)),
					       (unsigned long long)fp);
			else {
				uint64_t k = e.len < left ? e.len : left;

				fp += k;
				left -= k;
			}
		}
		for (uint64_t b = r->pgoff >> fs->blk_order;
		     !ret && b < (r->pgoff + r->len) >> fs->blk_order; b++)
			seen[b]++;
	}
	for (uint64_t b = 0; b < nb && !ret; b++) {
		uint32_t w = blk_load(a, b), s = w & DCFS_B_SHARES;
		struct dc_folio *f = detached ? NULL : dc_folio_lookup(fs->r, b << fs->blk_order);

		if (s != counts[b] || s != seen[b])
			ret = dc__fail(-EUCLEAN, "dcfs check: block %llu has share count %u; %u extent "
				       "pieces and %u reverse-map records map it",
				       (unsigned long long)b, s, counts[b], seen[b]);
		else if (dcfs_block_allocated(a, b) != (s || (w & (DCFS_B_QUAR | DCFS_B_BAD))))
			ret = dc__fail(-EUCLEAN, "dcfs check: block %llu is %s in the allocator but has "
				       "%u sharers%s%s", (unsigned long long)b,
				       dcfs_block_allocated(a, b) ? "allocated" : "free", s,
				       w & DCFS_B_QUAR ? ", quarantined" : "",
				       w & DCFS_B_BAD ? ", bad" : "");
		else if ((w & DCFS_B_QUAR) && (s || (f && dc_folio_idle(f)) || (!f && !detached)))
			ret = dc__fail(-EUCLEAN, "dcfs check: quarantined block %llu is %s",
				       (unsigned long long)b, s ? "in a file" : "idle (a leak)");
		else if ((w & DCFS_B_BAD) && f && !dc_folio_poisoned(f))
			ret = dc__fail(-EUCLEAN, "dcfs check: bad block %llu is not poisoned",
				       (unsigned long long)b);
		else if (!s && !(w & DCFS_B_QUAR) && f && !dc_folio_idle(f))
			ret = dc__fail(-EUCLEAN, "dcfs check: block %llu is in no file and not "
				       "quarantined, but referenced (refcount %u)",
				       (unsigned long long)b, dc_folio_refcount(f));
		shared += s > 1;
		quar += !!(w & DCFS_B_QUAR);
		bad += !!(w & DCFS_B_BAD);
	}
	if (!ret && (shared != a->nshared || quar != a->nquar || bad != a->nbad))
		ret = dc__fail(-EUCLEAN, "dcfs check: counted %llu shared, %llu quarantined, %llu bad "
			       "blocks; the totals say %llu, %llu, %llu", (unsigned long long)shared,
			       (unsigned long long)quar, (unsigned long long)bad,
			       (unsigned long long)a->nshared, (unsigned long long)a->nquar,
			       (unsigned long long)a->nbad);
	if (!ret && rm->reserved)
		ret = dc__fail(-EUCLEAN, "dcfs check: %zu reverse-map records still reserved",
			       rm->reserved);
	pthread_mutex_unlock(&a->lock);
	free(seen);
	return ret;
}
