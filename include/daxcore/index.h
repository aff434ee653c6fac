/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxcore/index.h - a radix index from 64-bit keys to tagged 64-bit values
 * (in the spirit of the kernel's XArray), the storage under a mapping.
 *
 * - Values are 1 .. DC_INDEX_VALUE_MAX (the top bit is the index's own; 0
 *   means "no entry").  The index does not interpret values.
 * - Multi-order entries: an entry of order k covers the naturally aligned
 *   range [i, i + 2^k) and is found from any index inside it.
 * - Three marks per entry (DC_INDEX_MARK0..2) with "find next marked".
 * - Lookups and iteration take no lock: they run under RCU (liburcu) and are
 *   safe against concurrent modification; nodes are freed after a grace
 *   period.  A lookup sees, for each index, either the old or the new entry.
 *   What a lockless call returns is consistent: a value comes with the first
 *   index and order of the entry that held it.  An entry present and
 *   unchanged for the whole of a find is found (and, if it holds @mark all
 *   along, by find_marked), however the writer reshapes the nodes around
 *   it; entries being stored, erased or (un)marked meanwhile may or may not
 *   be seen.
 * - Modifications are serialised by the tree lock: dc_index_foo() takes it,
 *   dc_index_foo_locked() expects the caller to hold it (dc_index_lock()).
 *
 * Locking table:
 *   load, load_entry, find, find_marked, get_mark, count, bytes: no lock
 *   gather:                                 no lock
 *   store, erase, set_mark, clear_mark:     take the tree lock
 *   store_locked, erase_locked, erase_range_locked, replace_batch_locked,
 *   set_mark_locked, clear_mark_locked:     tree lock held by caller
 *   create, destroy:                        no concurrent user at all
 */
#ifndef DAXCORE_INDEX_H
#define DAXCORE_INDEX_H

#include <daxcore/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dc_index;

#define DC_INDEX_VALUE_MAX ((UINT64_C(1) << 63) - 1)
#define DC_INDEX_ORDER_MAX 32
#define DC_INDEX_NR_MARKS 3
#define DC_INDEX_MARK0 0
#define DC_INDEX_MARK1 1
#define DC_INDEX_MARK2 2

/**
 * dc_index_create() - an empty index.
 * Context: process context.
 * Return: the index, or NULL (out of memory).
 */
DC_API struct dc_index *dc_index_create(void);

/**
 * dc_index_destroy() - free the index and all its nodes at once.
 * Context: no concurrent user (lockless readers included).
 */
DC_API void dc_index_destroy(struct dc_index *ix);

/**
 * dc_index_lock() / dc_index_unlock() - the tree lock (a mutex).  Unlock also
 * hands the nodes unlinked while the lock was held to RCU, in one batch.
 */
DC_API void dc_index_lock(struct dc_index *ix);
DC_API void dc_index_unlock(struct dc_index *ix);

/**
 * dc_index_load() - the value of the entry covering @index.
 * Context: any; lockless (RCU).
 * Return: the value, or 0 if no entry covers @index.
 */
DC_API uint64_t dc_index_load(struct dc_index *ix, uint64_t index);

/**
 * dc_index_load_entry() - like dc_index_load(), and tell the entry's range.
 * @first: set to the entry's first index (if not NULL and found).
 * @order: set to the entry's order (if not NULL and found).
 * Context: any; lockless (RCU).
 * Return: the value, or 0.
 */
DC_API uint64_t dc_index_load_entry(struct dc_index *ix, uint64_t index, uint64_t *first,
				    unsigned *order);

/**
 * dc_index_store_locked() - store @value for [@index, @index + 2^@order).
 * If an entry with exactly this range exists its value is replaced and its
 * marks kept; a new entry starts with no marks.
 * Context: tree lock held; may allocate.
 * Return: 0; -EINVAL (@index not aligned to @order, @order too large, @value
 * 0 or above DC_INDEX_VALUE_MAX); -EEXIST (another entry overlaps the range);
 * -ENOMEM (the index is unchanged).
 */
DC_API DC_MUST_CHECK int dc_index_store_locked(struct dc_index *ix, uint64_t index, unsigned order,
					  uint64_t value);
DC_API DC_MUST_CHECK int dc_index_store(struct dc_index *ix, uint64_t index, unsigned order,
					uint64_t value);

/**
 * dc_index_erase_locked() - remove the entry covering @index (all of a
 * multi-order entry) and its marks.
 * Context: tree lock held.
 * Return: the old value, or 0 if there was none.
 */
DC_API uint64_t dc_index_erase_locked(struct dc_index *ix, uint64_t index);
DC_API uint64_t dc_index_erase(struct dc_index *ix, uint64_t index);

/**
 * dc_index_set_mark_locked() / dc_index_clear_mark_locked() - set or clear @mark on
 * the entry covering @index.
 * Context: tree lock held.
 * Return: 0; -ENOENT (no entry); -EINVAL (bad mark).
 */
DC_API int dc_index_set_mark_locked(struct dc_index *ix, uint64_t index, unsigned mark);
DC_API int dc_index_clear_mark_locked(struct dc_index *ix, uint64_t index, unsigned mark);
DC_API int dc_index_set_mark(struct dc_index *ix, uint64_t index, unsigned mark);
DC_API int dc_index_clear_mark(struct dc_index *ix, uint64_t index, unsigned mark);

/** dc_index_get_mark() - whether the entry covering @index has @mark. */
DC_API bool dc_index_get_mark(struct dc_index *ix, uint64_t index, unsigned mark);

/**
 * dc_index_find() - the first entry that covers any index in [@start, @max].
 * @first, @order: set to that entry's range (required).
 * Iterate with: for (i = s; (v = dc_index_find(ix, i, max, &f, &o)); ) {
 *     ...; if (f + (1 << o) - 1 >= max) break; i = f + (1 << o); }
 * Context: any; lockless (RCU).
 * Return: the value, or 0 if none.
 */
DC_API uint64_t dc_index_find(struct dc_index *ix, uint64_t start, uint64_t max, uint64_t *first,
			      unsigned *order);

/** dc_index_find_marked() - the same, among entries that have @mark. */
DC_API uint64_t dc_index_find_marked(struct dc_index *ix, uint64_t start, uint64_t max,
				     unsigned mark, uint64_t *first, unsigned *order);

/* One entry as returned by dc_index_gather(). */
struct dc_index_item {
	uint64_t first;  /* the entry's first index */
	uint64_t value;
	unsigned order;
};

/**
 * dc_index_gather() - up to @n entries covering indexes in [@start, @max],
 * in index order, with one descent per node rather than one per entry (for
 * batch operations: zap, truncate).  The first item may start before @start
 * (a multi-order entry straddling it).
 * Context: any; lockless (RCU); each item is a consistent (first, order,
 * value) snapshot, as dc_index_find() gives.
 * Return: the number of items written to @out (0: none in the range).
 */
DC_API unsigned dc_index_gather(struct dc_index *ix, uint64_t start, uint64_t max,
				struct dc_index_item *out, unsigned n);

/**
 * dc_index_replace_batch_locked() - replace the values of @n existing entries,
 * each given by its exact (first, order) and new value (items as
 * dc_index_gather() returns them, sorted by first index, non-overlapping),
 * in one walk.  Marks are kept.  Never allocates.
 * Context: tree lock held.
 * Return: the number replaced; an item whose (first, order) is not an
 * existing entry is skipped (not counted); an item with a bad value
 * (0 or > DC_INDEX_VALUE_MAX) is skipped too.
 */
DC_API unsigned dc_index_replace_batch_locked(struct dc_index *ix, const struct dc_index_item *items,
					 unsigned n);

/**
 * dc_index_erase_range_locked() - erase every entry that lies entirely inside
 * [@first, @last], freeing whole nodes where it can; entries straddling an
 * end stay.  Never allocates.
 * Context: tree lock held.
 * Return: the number of entries erased.
 */
DC_API uint64_t dc_index_erase_range_locked(struct dc_index *ix, uint64_t first, uint64_t last);

/** dc_index_count() - number of entries (a multi-order entry counts once). */
DC_API uint64_t dc_index_count(struct dc_index *ix);

/**
 * dc_index_bytes() - bytes the index's nodes occupy now: the sizes asked of
 * the allocator (its own overhead not included, as for JudyLMemUsed()).
 * Nodes waiting for a grace period are no longer counted.
 */
DC_API size_t dc_index_bytes(struct dc_index *ix);

/**
 * dc_index_check() - verify every structural invariant (node shapes, counts,
 * marks propagated to parents, multi-order entries whole); print the first
 * violation and a dump of the offending node to stderr.
 * Context: tree lock held, or no concurrent writer.
 * Return: true if the index is valid.
 */
DC_API bool dc_index_check(struct dc_index *ix);

#ifdef __cplusplus
}
#endif
#endif
