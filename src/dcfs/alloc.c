// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * alloc.c - the block allocator: one bit per block of the region (a block
 * is a 4 KiB page, or one folio on regions of larger folios), under one
 * mutex.  A request names a goal (the block after the file's previous
 * extent, so files grow contiguously), how many blocks it would like and
 * an alignment: aligned requests (2 MiB runs on 4 KiB regions, for PMD
 * entries) take only a whole free aligned run.  It returns the first run it
 * finds, which may be shorter than asked.
 *
 * The allocator hands out blocks; it knows nothing of their contents or
 * references.  Its users free a block only when it is idle and no entry
 * maps it (invariant 4), and zero a block before a file sees it
 * (invariant 11).
 */
#include "dcfs/dcfs_int.h"

int dcfs_alloc_init(struct dcfs_alloc *a, uint64_t nblocks)
{
	uint64_t words = (nblocks + 63) / 64;

	memset(a, 0, sizeof(*a));
	a->bits = dc__calloc(words ? words : 1, sizeof(uint64_t));
	a->blk = dc__calloc(nblocks ? nblocks : 1, sizeof(*a->blk));
	if (!a->bits || !a->blk) {
		free(a->bits);
		free((void *)a->blk);
		return dc__fail(-ENOMEM, "dcfs: no memory for the block bitmap");
	}
	/* Bits past the end are "allocated": searches never return them. */
	if (nblocks % 64)
		a->bits[words - 1] = ~UINT64_C(0) << (nblocks % 64);
	a->nblocks = nblocks;
	a->nfree = nblocks;
	a->hint = 0;
	pthread_mutex_init(&a->lock, NULL);
	return 0;
}

void dcfs_alloc_destroy(struct dcfs_alloc *a)
{
	free(a->bits);
	free((void *)a->blk);
	free(a->rmap.v);
	a->bits = NULL;
	pthread_mutex_destroy(&a->lock);
}

static bool test_bit(const uint64_t *bits, uint64_t b)
{
	return bits[b / 64] >> (b % 64) & 1;
}

static void set_run(uint64_t *bits, uint64_t b, uint64_t n, bool on)
{
	for (; n; b++, n--) {
		if (on)
			bits[b / 64] |= UINT64_C(1) << (b % 64);
		else
			bits[b / 64] &= ~(UINT64_C(1) << (b % 64));
	}
}

/* Free blocks from @b on, up to @max. */
static uint64_t free_run(const struct dcfs_alloc *a, uint64_t b, uint64_t max)
{
	uint64_t n = 0;

	while (n < max && b + n < a->nblocks && !test_bit(a->bits, b + n))
		n++;
	return n;
}

/* The first free block at or after @from (a->nblocks if none). */
static uint64_t next_free(const struct dcfs_alloc *a, uint64_t from)
{
	uint64_t words = (a->nblocks + 63) / 64;

	for (uint64_t w = from / 64; w < words; w++) {
		uint64_t free_bits = ~a->bits[w];

		if (w == from / 64)
			free_bits &= ~UINT64_C(0) << (from % 64);
		if (free_bits)
			return w * 64 + (uint64_t)__builtin_ctzll(free_bits);
	}
	return a->nblocks;
}

/* A whole free run of @align blocks starting at a multiple of @align. */
static bool find_aligned(const struct dcfs_alloc *a, uint64_t align, uint64_t *out)
{
	uint64_t start = a->hint / align * align;

	for (uint64_t pass = 0; pass < 2; pass++) {
		for (uint64_t b = pass ? 0 : start; b + align <= a->nblocks; b += align) {
			if (pass && b >= start)
				break;
			if (free_run(a, b, align) == align) {
				*out = b;
				return true;
			}
		}
	}
	return false;
}

/*
 * Allocate a run of 1..@want blocks: at @goal if it is free, else (with
 * @align > 1) a whole aligned run of @align, else the first free run after
 * the hint.  The allocator lock is held.  Return 0 with *@first and *@got
 * set; -ENOSPC.
 */
int dcfs_alloc_blocks(struct dcfs_alloc *a, uint64_t goal, uint64_t want, uint64_t align,
		      uint64_t *first, uint64_t *got)
{
	uint64_t b = a->nblocks, n = 0;

	DC_BUG_ON(!want || !align);
	if (goal < a->nblocks && goal % align == 0)
		n = free_run(a, goal, want);
	if (n && (align == 1 || n >= align))
		b = goal;
	else if (align > 1) {
		n = 0;
		if (find_aligned(a, align, &b))
			n = free_run(a, b, want);
	} else {
		b = next_free(a, a->hint);
		if (b == a->nblocks)
			b = next_free(a, 0);
		n = b < a->nblocks ? free_run(a, b, want) : 0;
	}
	if (!n) {
		return dc__fail(-ENOSPC, "dcfs: no free %s of %llu blocks (%llu of %llu free)",
				align > 1 ? "aligned run" : "block", (unsigned long long)align,
				(unsigned long long)a->nfree, (unsigned long long)a->nblocks);
	}
	set_run(a->bits, b, n, true);
	a->nfree -= n;
	a->hint = b + n < a->nblocks ? b + n : 0;
	*first = b;
	*got = n;
	return 0;
}

/* Free blocks [first, first + n) (allocator lock held). */
void dcfs_free_blocks(struct dcfs_alloc *a, uint64_t first, uint64_t n)
{
	for (uint64_t b = first; b < first + n; b++)
		DC_BUG_ON(b >= a->nblocks || !test_bit(a->bits, b));
	set_run(a->bits, first, n, false);
	a->nfree += n;
}

/* Take block @b out of the free space for good (a bad block; lock held). */
void dcfs_keep_block(struct dcfs_alloc *a, uint64_t b)
{
	if (!test_bit(a->bits, b)) {
		set_run(a->bits, b, 1, true);
		a->nfree--;
	}
}

/* Whether block @b is allocated (allocator lock held). */
bool dcfs_block_allocated(struct dcfs_alloc *a, uint64_t b)
{
	return b < a->nblocks && test_bit(a->bits, b);
}
