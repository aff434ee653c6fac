/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index.c - the radix index (include/daxcore/index.h): life cycle, the
 * tree lock and the API shell that takes it around the _locked functions.
 * The other files of src/index/ are listed in index_int.h, which holds the
 * node layout and the helpers they share.  docs/index.md tells the design
 * with figures; the short version:
 *
 * - Branches are 64-slot radix nodes (6 key bits per level) with path
 *   compression: a branch records its shift and base, so a child may sit
 *   several levels below its parent.
 * - Leaves are small sorted arrays of (first index, order, value), up to
 *   IX_LEAF_MAX entries.  A leaf hangs in a *run* of slots of its branch (an
 *   aligned block of 1..64 slots holding the same leaf word), so a sparse
 *   branch needs few leaves.  A full leaf splits its run in halves, and a
 *   one-slot run becomes a branch (a "burst").
 * - An entry of order >= the shift s of its branch is stored as a value in
 *   2^(order - s) slots (a value run), every slot holding the value itself,
 *   so a lookup never takes a second step.  The sibling bitmap tells where
 *   runs start; the branch's sequence count lets lockless readers read a
 *   value together with its run (its first index and order).
 * - Each slot word says what it holds (index_int.h): a value (bit 63 set),
 *   or a node as a pointer into it, which LeakSanitizer follows: a branch
 *   one level down (PLAIN: the word is its address; the reader knows its
 *   shift and need not touch its header), a branch further down (SKIP:
 *   check its base), or a leaf.
 * - Marks: a leaf has a bit per entry; a branch a bit per run, which for a
 *   child run means "something below has the mark", so a find_marked skips
 *   unmarked subtrees.  Marks sit on the first slot of a run only.
 *
 * Concurrency: one writer at a time (the tree lock); readers under RCU.  A
 * node's immutable fields (shift, base, a leaf's keys and orders) are written
 * before the node is published with a release store.  Slots, values, sibling
 * bits and marks change in place with release stores.  A leaf gains an entry
 * in place only at its end (an append into spare room, published by a
 * release store of its count; readers scan below the count they loaded);
 * any other insertion copies it (copy on write), and erasing leaves a
 * tombstone (value 0) that the next copy drops.  Nodes that leave the tree
 * are handed to RCU in one batch when the tree lock is released, and freed
 * after a grace period.  dc_index_gather() walks a range once, from the
 * root, filling an array (store.c: dc_index_replace_batch_locked() gives
 * such an array new values in one walk).
 */
#include "index/index_int.h"

#include <pthread.h>

/* ---- the locked API, life cycle, counters -------------------------------- */

DC_API struct dc_index *dc_index_create(void)
{
	struct dc_index *ix = dc__zalloc_aligned(DC_CACHELINE, sizeof(*ix));

	if (!ix) {
		dc__fail(-ENOMEM, "index: out of memory");
		return NULL;
	}
	pthread_mutex_init(&ix->lock, NULL);
	return ix;
}

DC_API void dc_index_destroy(struct dc_index *ix)
{
	if (!ix)
		return;
	dc__ix_free_retired(ix);
	dc__ix_free_now(ld_relaxed(&ix->root));
	pthread_mutex_destroy(&ix->lock);
	free(ix);
}

DC_API void dc_index_lock(struct dc_index *ix)
{
	pthread_mutex_lock(&ix->lock);
}

/* Nodes unlinked in this section go to RCU in one batch (node.c). */
DC_API void dc_index_unlock(struct dc_index *ix)
{
	if (ix->retired)
		dc__ix_flush(ix);
	pthread_mutex_unlock(&ix->lock);
}

DC_API int dc_index_store(struct dc_index *ix, uint64_t index, unsigned order, uint64_t value)
{
	int err;

	dc_index_lock(ix);
	err = dc_index_store_locked(ix, index, order, value);
	dc_index_unlock(ix);
	return err;
}

DC_API uint64_t dc_index_erase(struct dc_index *ix, uint64_t index)
{
	uint64_t v;

	dc_index_lock(ix);
	v = dc_index_erase_locked(ix, index);
	dc_index_unlock(ix);
	return v;
}

DC_API int dc_index_set_mark(struct dc_index *ix, uint64_t index, unsigned mark)
{
	int err;

	dc_index_lock(ix);
	err = dc_index_set_mark_locked(ix, index, mark);
	dc_index_unlock(ix);
	return err;
}

DC_API int dc_index_clear_mark(struct dc_index *ix, uint64_t index, unsigned mark)
{
	int err;

	dc_index_lock(ix);
	err = dc_index_clear_mark_locked(ix, index, mark);
	dc_index_unlock(ix);
	return err;
}

DC_API uint64_t dc_index_count(struct dc_index *ix)
{
	return ld_relaxed(&ix->count);
}

DC_API size_t dc_index_bytes(struct dc_index *ix)
{
	return ld_relaxed(&ix->bytes);
}
