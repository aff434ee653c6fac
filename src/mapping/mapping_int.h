/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mapping_int.h - the mapping object and its helpers (not installed). */
#ifndef DC_MAPPING_INT_H
#define DC_MAPPING_INT_H

#include "region/region_int.h"

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
	_Atomic uint32_t users;       /* lock_folio callers using it */
};

#define DC__OWNER_INDEX_BITS 40
#define DC__MAPPING_ID_BITS 24

static inline uint64_t dc__owner_word(const struct dc_mapping *m, uint64_t index)
{
	return ((uint64_t)m->id << DC__OWNER_INDEX_BITS) | index;
}

/* mapping.c: the mapping with owner-word id @id, under RCU; NULL if none. */
struct dc_mapping *dc__mapping_by_id(uint32_t id);

/*
 * entry_wait.c: exclusive waits for a locked entry, keyed by (mapping,
 * first index of the entry).  dc__entry_wait() is called with the tree lock
 * held and the entry at @first locked; it queues the caller, drops the tree
 * lock, sleeps until woken, and retakes the tree lock.  The caller then
 * looks the entry up again: it may have changed.
 */
enum dc__wake_mode { DC__WAKE_NEXT, DC__WAKE_ALL };
void dc__entry_wait(struct dc_mapping *m, uint64_t first);
void dc__entry_wake(struct dc_mapping *m, uint64_t first, enum dc__wake_mode mode);

/* mapping.c: shared by the operations in zap.c. */
dc_entry_t dc__get_unlocked_entry(struct dc_mapping *m, uint64_t index, uint64_t *first);
void dc__entry_disassociate(struct dc_mapping *m, uint64_t index, dc_entry_t e);
struct dc_folio *dc__entry_put_refs(struct dc_mapping *m, dc_entry_t e);
void dc__entry_revoke(struct dc_mapping *m, uint64_t index, dc_entry_t e);
struct dc_folio *dc__entry_busy_folio(struct dc_mapping *m, dc_entry_t e);
void dc__entry_store(struct dc_mapping *m, uint64_t first, dc_entry_t e);
/* A valid [first, *last] range; clamps *last to DC_MAPPING_INDEX_MAX. */
int dc__check_range(uint64_t first, uint64_t *last);
bool dc__entry_only_ours(struct dc_mapping *m, dc_entry_t e);

#endif
