/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mapping_int.h - the mapping object and its helpers (not installed). */
#ifndef DC_MAPPING_INT_H
#define DC_MAPPING_INT_H

#include "folio/folio_int.h"

#include <daxcore/index.h>
#include <daxcore/mapping.h>

struct dc_mapping {
	struct dc_index *ix;
	struct dc_region *region;
	const struct dc_mapping_ops *ops;
	void *priv;
	uint32_t id;                  /* owner words: id << 40 | index */
	_Atomic uint32_t exiting;
	_Atomic uint64_t violations;
	_Atomic uint32_t users;       /* lock_folio callers, grabs asleep: destroy waits */
};

#define DC__OWNER_INDEX_BITS 40
#define DC__MAPPING_ID_BITS 22 /* the owner value has 62 bits (folio_int.h) */

/* The owner value of file page @index of @m (what folios are claimed with). */
static inline uint64_t dc__owner_word(const struct dc_mapping *m, uint64_t index)
{
	return ((uint64_t)m->id << DC__OWNER_INDEX_BITS) | index;
}

static inline uint64_t dc__entry_pages(dc_entry_t e)
{
	return UINT64_C(1) << dc_entry_order(e);
}

static inline uint64_t dc__entry_last(uint64_t first, dc_entry_t e)
{
	return first + dc__entry_pages(e) - 1;
}

/*
 * Iteration over [.., last]: the index after the entry at @first of order
 * @order, or false when that entry reaches @last.
 */
static inline bool dc__next_index(uint64_t first, unsigned order, uint64_t last, uint64_t *next)
{
	uint64_t end = first + (UINT64_C(1) << order) - 1;

	if (end >= last)
		return false;
	*next = end + 1;
	return true;
}

/* mapping.c: the mapping with owner-word id @id, under RCU; NULL if none. */
struct dc_mapping *dc__mapping_by_id(uint32_t id);

/*
 * entry_wait.c: exclusive waits for a locked entry, keyed by (mapping,
 * first index of the entry).  dc__entry_wait() is called with the tree lock
 * held and the entry at @first locked; it queues the caller, drops the tree
 * lock, sleeps until woken (or @opts' deadline or cancel), and retakes the
 * tree lock.  The caller then looks the entry up again: it may have changed.
 * Return: 0; -ETIMEDOUT, -EINTR (a wake-up that raced the timeout is passed
 * on to the next waiter).
 */
enum dc__wake_mode { DC__WAKE_NEXT, DC__WAKE_ALL };
int dc__entry_wait(struct dc_mapping *m, uint64_t first, const struct dc_wait_opts *opts);
void dc__entry_wake(struct dc_mapping *m, uint64_t first, enum dc__wake_mode mode);

/*
 * mapping.c, shared by the operations in zap.c.
 *
 * dc__get_unlocked_entry(): the entry covering @index once it is not
 * locked (*@e, 0 if none) and its first index.  Tree lock held; dropped and
 * retaken while waiting.  Return: 0, -ETIMEDOUT, -EINTR.
 */
int dc__get_unlocked_entry_slow(struct dc_mapping *m, uint64_t index,
				const struct dc_wait_opts *opts, dc_entry_t *e, uint64_t *first);
static inline int dc__get_unlocked_entry(struct dc_mapping *m, uint64_t index,
					 const struct dc_wait_opts *opts, dc_entry_t *e,
					 uint64_t *first)
{
	uint64_t f = index;
	unsigned o;
	dc_entry_t v = dc_index_load_entry(m->ix, index, &f, &o);

	if (likely(!v || !dc_entry_is_locked(v))) {
		*first = f;
		*e = v;
		return 0;
	}
	return dc__get_unlocked_entry_slow(m, index, opts, e, first);
}
/* A waiter that will not lock the entry it waited for passes the wake-up on. */
void dc__put_unlocked_entry(struct dc_mapping *m, uint64_t first, dc_entry_t e);
/* Folio-sized steps over the device pages of entry @e; @at: its file index. */
#define for_each_entry_folio(m, e, efirst, pg, at, f)                                       \
	for (uint64_t pg = dc_entry_pgoff(e), at = (efirst);                                 \
	     pg < dc_entry_pgoff(e) + dc__entry_pages(e);                                    \
	     pg += UINT64_C(1) << (m)->region->order, at += UINT64_C(1) << (m)->region->order) \
		if (((f) = dc__folio_lookup((m)->region, pg)) != NULL)

/* Folios put in one go (the arrays on the stack of the callers). */
#define DC__CHUNK 64

/*
 * Drop one reference on each of @fs[0..n) (n <= DC__CHUNK), end the sharer
 * transitions @shared[k] says were begun (NULL: none), then run the idle
 * transitions.  No tree lock held.  Return: the position of the first folio
 * still busy afterwards, or -1.
 */
int dc__put_chunk(struct dc_mapping *m, struct dc_folio *const *fs, const bool *shared,
		  unsigned n);
/*
 * The live entry @e at @first stops being live: uncount it mapped on each
 * folio (unless @uncounted: done already, under the tree lock) and drop its
 * references.  No tree lock held.  Return: the first folio that is still
 * busy afterwards, or NULL.
 */
struct dc_folio *dc__entry_unmap_put(struct dc_mapping *m, uint64_t first, dc_entry_t e,
				     bool uncounted);
/*
 * The zapped entry @e at @first lets go of its folios (or one CoW sharer
 * each); @locked: the tree lock is held (plain stores for unshared folios).
 */
void dc__entry_disassoc(struct dc_mapping *m, uint64_t first, dc_entry_t e, bool locked);
void dc__entry_revoke(struct dc_mapping *m, uint64_t first, dc_entry_t e);
void dc__entries_revoke(struct dc_mapping *m, const struct dc_index_item *it, unsigned n);
/* The first busy folio of @e (entries with pages only), or NULL. */
struct dc_folio *dc__entry_busy_folio(struct dc_mapping *m, dc_entry_t e);
/* Replace the value of the existing entry at @first (same range): no allocation. */
void dc__entry_store(struct dc_mapping *m, uint64_t first, dc_entry_t e);
/* A valid [first, *last] range; clamps *last to DC_MAPPING_INDEX_MAX. */
int dc__check_range(uint64_t first, uint64_t *last);
/* Whether nobody but this mapping's live entry @e holds its folios. */
bool dc__entry_only_ours(struct dc_mapping *m, dc_entry_t e);

/* Test builds only (DC_FAULT_INJECT): see dc_mapping_get_folios(). */
extern void (*dc__test_gup_hook)(struct dc_mapping *m);

#endif
