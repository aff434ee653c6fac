// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * check.c - dc_dcfs_check(): extents <-> allocator <-> entries <-> folio
 * owners <-> pin counts, on a quiescent file system.  Every test calls it
 * at teardown; the torture oracle at its quiescent points.
 */
#include "dcfs/dcfs_int.h"

#define FAIL(...) dc__fail(-EUCLEAN, "dcfs check: " __VA_ARGS__)

static int check_extents(struct dc_dcfs *fs, struct dcfs_inode *ino, uint32_t *counts)
{
	uint64_t bp = dcfs_blk_pages(fs), npages = fs->alloc.nblocks << fs->blk_order, pages = 0;
	uint64_t limit = dcfs_size_pages(atomic_load(&ino->size));

	limit = (limit + bp - 1) & ~(bp - 1);
	for (size_t i = 0; i < ino->ext.n; i++) {
		const struct dcfs_ext *e = &ino->ext.v[i];

		if (!e->len || (e->fpage | e->pgoff | e->len) & (bp - 1))
			return FAIL("file %llu extent %zu [%llu +%llu -> %llu] is not whole blocks",
				    (unsigned long long)ino->ino, i, (unsigned long long)e->fpage,
				    (unsigned long long)e->len, (unsigned long long)e->pgoff);
		if (e->pgoff >= npages || e->len > npages - e->pgoff)
			return FAIL("file %llu extent %zu maps past the region",
				    (unsigned long long)ino->ino, i);
		if (i && ino->ext.v[i - 1].fpage + ino->ext.v[i - 1].len > e->fpage)
			return FAIL("file %llu extents %zu and %zu overlap or are out of order",
				    (unsigned long long)ino->ino, i - 1, i);
		if (e->fpage + e->len > limit)
			return FAIL("file %llu extent %zu ends at page %llu, past the end of file "
				    "(%llu bytes)", (unsigned long long)ino->ino, i,
				    (unsigned long long)(e->fpage + e->len),
				    (unsigned long long)atomic_load(&ino->size));
		/* Shared blocks (reflink) count once per extent piece that maps
		 * them: dcfs_check_blocks() compares with the share counts. */
		for (uint64_t b = e->pgoff >> fs->blk_order; b < (e->pgoff + e->len) >> fs->blk_order;
		     b++)
			counts[b]++;
		if (dcfs_check_ext_rmap(fs, ino, e))
			return -EUCLEAN;
		pages += e->len;
	}
	if (pages != atomic_load(&ino->pages))
		return FAIL("file %llu counts %llu pages, its extents hold %llu",
			    (unsigned long long)ino->ino, (unsigned long long)atomic_load(&ino->pages),
			    (unsigned long long)pages);
	return 0;
}

static int check_entries(struct dc_dcfs *fs, struct dcfs_inode *ino)
{
	uint64_t size_pages = dcfs_size_pages(atomic_load(&ino->size));
	struct dc_entry_info info;

	if (!dc_mapping_check(ino->m))
		return FAIL("file %llu: its mapping is inconsistent (see stderr)",
			    (unsigned long long)ino->ino);
	dc_mapping_for_each(ino->m, 0, DC_MAPPING_INDEX_MAX, &info) {
		uint64_t n = UINT64_C(1) << info.order, hole;
		struct dcfs_ext e;
		bool mapped = dcfs_ext_lookup(&ino->ext, info.first, &e, &hole);

		if (info.first >= size_pages)
			return FAIL("file %llu has an entry at page %llu, past its end",
				    (unsigned long long)ino->ino, (unsigned long long)info.first);
		if (dc_entry_is_zero(info.entry) && (mapped || hole < n))
			return FAIL("file %llu maps the zero page at %llu over a block",
				    (unsigned long long)ino->ino, (unsigned long long)info.first);
		if (dc_entry_has_pages(info.entry) &&
		    (!mapped || e.len < n || e.pgoff != dc_entry_pgoff(info.entry)))
			return FAIL("file %llu entry at %llu maps device page %llu, its extents "
				    "say %s %llu", (unsigned long long)ino->ino,
				    (unsigned long long)info.first,
				    (unsigned long long)dc_entry_pgoff(info.entry),
				    mapped ? "page" : "a hole of", (unsigned long long)(mapped ? e.pgoff : hole));
	}
	return 0;
}

DC_API int dc_dcfs_check(struct dc_dcfs *fs)
{
	uint64_t nb, pins = 0, pinned = 0;
	uint32_t *counts;
	int ret = 0;

	if (!fs)
		return dc__fail(-EINVAL, "dcfs check: NULL");
	nb = fs->alloc.nblocks;
	counts = dc__calloc(nb ? nb : 1, sizeof(*counts));
	if (!counts)
		return dc__fail(-ENOMEM, "dcfs check: no memory");
	pthread_mutex_lock(&fs->ns_lock);
	for (struct dcfs_inode *ino = fs->ihead; ino && !ret; ino = ino->next) {
		pthread_mutex_lock(&ino->ext_lock);
		ret = check_extents(fs, ino, counts);
		if (!ret && ino->m) /* none once the mount let go of a removed region */
			ret = check_entries(fs, ino);
		pthread_mutex_unlock(&ino->ext_lock);
		if (!ret) {
			uint64_t sets, held, counted;

			dcfs_pins_tally(ino, &sets, &held, &counted);
			if (held != counted)
				ret = FAIL("file %llu counts %llu pinned pages, its pin sets hold %llu",
					   (unsigned long long)ino->ino, (unsigned long long)counted,
					   (unsigned long long)held);
			pins += sets;
			pinned += held;
		}
	}
	pthread_mutex_unlock(&fs->ns_lock);
	/* Share counts, reverse map, bitmap, quarantine and bad blocks, and
	 * that every block no file has is idle (or quarantined). */
	if (!ret)
		ret = dcfs_check_blocks(fs, counts);
	pthread_mutex_lock(&fs->pin_lock);
	if (!ret && (pins != fs->npins || pinned != fs->pinned_pages))
		ret = FAIL("the mount counts %zu pin sets of %llu pages, its files %llu of %llu",
			   fs->npins, (unsigned long long)fs->pinned_pages,
			   (unsigned long long)pins, (unsigned long long)pinned);
	pthread_mutex_unlock(&fs->pin_lock);
	free(counts);
	return ret;
}
