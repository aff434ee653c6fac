/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxcore/mapping.h - the per-file entry index and its protocol (the
 * kernel's inode->i_pages of DAX entries and fs/dax.c).
 *
 * A mapping is what an owner keeps per file: for each file page index, the
 * device pages (of one region) that back it, as a tagged entry:
 *
 *   real entry   pgoff of the first device page + order (4 KiB, PMD 2 MiB,
 *                PUD 1 GiB); holds one reference on each folio it covers
 *                (invariant 2), and associates each folio with
 *                (mapping, index), or counts a sharer for copy-on-write
 *   ZERO         a hole mapped to the shared zero page: no reference
 *   EMPTY        a placeholder while a fault is being served
 *   ZAP          revoked: client mappings gone, references dropped; a fault
 *                must re-insert under the entry lock (invariant 3)
 *   LOCKED       the entry lock, held across a fault, a writeback, a delete
 *
 * Entries carry marks DIRTY and TOWRITE (writeback).  Results of entry
 * operations are dc_entry_t: an entry, or an error (dc_entry_is_err()), or
 * the distinct DC_ENTRY_FALLBACK result.
 *
 * Lock order: (owner's invalidate lock) -> entry lock -> tree lock ->
 * folio atomics.  No callback (revoke, mkclean, page_free) runs under the
 * tree lock.  Waits for a locked entry are exclusive: unlock wakes one
 * waiter (WAKE_NEXT), delete wakes all (WAKE_ALL).
 */
#ifndef DAXCORE_MAPPING_H
#define DAXCORE_MAPPING_H

#include <daxcore/common.h>
#include <errno.h>
#include <daxcore/folio.h>
#include <daxcore/region.h>
#include <daxcore/wait.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dc_mapping;
typedef uint64_t dc_entry_t;

/* Entry bits (the value stored in the index; bit 63 is never used). */
#define DC_ENTRY_LOCKED (1ull << 0)
#define DC_ENTRY_PMD    (1ull << 1) /* order 9: 2 MiB */
#define DC_ENTRY_PUD    (1ull << 2) /* order 18: 1 GiB */
#define DC_ENTRY_ZERO   (1ull << 3)
#define DC_ENTRY_EMPTY  (1ull << 4)
#define DC_ENTRY_ZAP    (1ull << 5)
#define DC_ENTRY_VALID  (1ull << 6) /* set in every entry */
#define DC_ENTRY_PGOFF_SHIFT 7
#define DC_ENTRY_PGOFF_MAX ((1ull << 56) - 1)

/* Error results: bit 63 set, never a valid entry. */
#define DC_ENTRY_ERRBIT (1ull << 63)
#define DC_ENTRY_FALLBACK (DC_ENTRY_ERRBIT | (1ull << 62))

static inline bool dc_entry_is_err(dc_entry_t e) { return (e & DC_ENTRY_ERRBIT) != 0; }
static inline bool dc_entry_is_fallback(dc_entry_t e) { return e == DC_ENTRY_FALLBACK; }
/* The negative errno of an error result (-EAGAIN for FALLBACK). */
static inline int dc_entry_err(dc_entry_t e)
{
	return e == DC_ENTRY_FALLBACK ? -EAGAIN : -(int)(e & 0xffffu);
}
static inline dc_entry_t dc_entry_mkerr(int err) { return DC_ENTRY_ERRBIT | (uint64_t)(-err); }
static inline uint64_t dc_entry_pgoff(dc_entry_t e) { return e >> DC_ENTRY_PGOFF_SHIFT; }
static inline unsigned dc_entry_order(dc_entry_t e)
{
	return (e & DC_ENTRY_PUD) ? 18 : (e & DC_ENTRY_PMD) ? 9 : 0;
}
static inline bool dc_entry_is_locked(dc_entry_t e) { return e & DC_ENTRY_LOCKED; }
static inline bool dc_entry_is_zero(dc_entry_t e) { return e & DC_ENTRY_ZERO; }
static inline bool dc_entry_is_empty(dc_entry_t e) { return e & DC_ENTRY_EMPTY; }
static inline bool dc_entry_is_zapped(dc_entry_t e) { return e & DC_ENTRY_ZAP; }
/* A real entry maps device pages (it may be zapped). */
static inline bool dc_entry_is_real(dc_entry_t e)
{
	return e && !dc_entry_is_err(e) && !(e & (DC_ENTRY_ZERO | DC_ENTRY_EMPTY));
}

/* Flags for dc_mapping_insert(). */
#define DC_INSERT_DIRTY 0x1u /* set the DIRTY mark */
#define DC_INSERT_COW   0x2u /* the block is shared (reflink): count a sharer */
#define DC_INSERT_ZERO  0x4u /* map the zero page (pgoff ignored) */
#define DC_INSERT_PMD   0x8u /* a 2 MiB entry (must match the grabbed order) */
#define DC_INSERT_PUD   0x10u /* a 1 GiB entry */

/* Marks. */
#define DC_MARK_DIRTY 0
#define DC_MARK_TOWRITE 1

/*
 * The owner's callbacks, each run with no daxcore lock held (the entry may
 * be held locked by the caller of the operation).
 * ->revoke(m, index, nr): revoke every client mapping of file pages
 *    [index, index + nr) (the view layer unmaps them).
 * ->mkclean(m, index, nr): write-protect client mappings of those pages so
 *    the next write faults and re-dirties the entry (writeback).
 */
struct dc_mapping_ops {
	void (*revoke)(struct dc_mapping *m, uint64_t index, uint64_t nr, void *priv);
	void (*mkclean)(struct dc_mapping *m, uint64_t index, uint64_t nr, void *priv);
};

/* File page indexes are below 2^40 (4 PiB files). */
#define DC_MAPPING_INDEX_MAX ((1ull << 40) - 1)

/**
 * dc_mapping_create() - a new, empty mapping over region @r.
 * Context: process context.
 * Return: 0; -ENOMEM; -ENOSPC (too many mappings: 2^24 - 1 live at once).
 */
DC_API DC_MUST_CHECK int dc_mapping_create(struct dc_region *r, const struct dc_mapping_ops *ops,
					   void *priv, struct dc_mapping **out);

/**
 * dc_mapping_destroy() - free an empty mapping (after truncate_final).
 * Context: sleeps for a grace period; no concurrent user.
 * Return: 0; -EBUSY if entries remain (nothing is freed).
 */
DC_API int dc_mapping_destroy(struct dc_mapping *m);

/**
 * dc_mapping_grab() - find or create the entry for @index, locked
 * (dax_grab_mapping_entry()).
 * @order: 0, 9 (PMD) or 18 (PUD).
 *
 * Waits while the entry is locked.  A request larger than entries already
 * present in its range gets DC_ENTRY_FALLBACK.  A 4 KiB (or 2 MiB) request
 * inside a larger ZERO or EMPTY entry removes it (revoking its client
 * mappings) and creates a small one; inside a larger real entry it returns
 * that entry.  A missing entry is created EMPTY.
 * Context: sleeps; takes the tree lock.
 * Return: the locked entry (LOCKED set); or an error: -EINVAL (order, index
 * beyond DC_MAPPING_INDEX_MAX), -ESHUTDOWN (the mapping is exiting),
 * -ENOMEM; or DC_ENTRY_FALLBACK.
 */
DC_API dc_entry_t dc_mapping_grab(struct dc_mapping *m, uint64_t index, unsigned order);

/**
 * dc_mapping_insert() - make the locked entry at @index map device pages
 * [@pgoff, @pgoff + 2^order) of the mapping's region (dax_insert_entry()).
 * @entry: the entry as returned by grab (locked).
 * @flags: DC_INSERT_*; PMD/PUD must match the entry's order.
 *
 * Takes one reference on each folio (requesting idle folios, or taking a
 * reference on folios already in use for CoW sharing), associates each with
 * (mapping, index) or, with DC_INSERT_COW, counts one more sharer.  An
 * entry that already maps @pgoff keeps its references (only DIRTY is
 * added); one that maps other pages is replaced (revoke, references
 * dropped, association undone).  The caller holds the region read lock
 * across "offset -> address -> insert"; a dying region fails with -ENXIO.
 * On error nothing changes.
 * Context: entry lock held by the caller; takes the tree lock.
 * Return: the new entry, still locked; or an error: -EINVAL (bad flags,
 * order mismatch, @pgoff out of range or misaligned, entry not locked),
 * -ENXIO (region dying), -EBUSY (a folio is in use by another owner
 * without DC_INSERT_COW), -EEXIST (ZERO insert over a real entry),
 * -EIO (a folio is poisoned), -EOVERFLOW.
 */
DC_API dc_entry_t dc_mapping_insert(struct dc_mapping *m, uint64_t index, dc_entry_t entry,
				    uint64_t pgoff, unsigned flags);

/**
 * dc_mapping_unlock() - unlock the entry at @index (value @entry) and wake
 * the next waiter (WAKE_NEXT).
 * Context: the caller holds the entry lock; takes the tree lock.
 */
DC_API void dc_mapping_unlock(struct dc_mapping *m, uint64_t index, dc_entry_t entry);

/**
 * dc_mapping_zap() - revoke every entry in [@first, @last]
 * (dax_zap_mappings_range()): for each entry not yet zapped, once: mark it
 * ZAP, call ->revoke, drop the mapping's folio references.
 * @busy: set to the first folio in the range that is still not idle, also
 * counting entries zapped earlier (their folios may still be pinned), or
 * NULL.  The caller may wait on it with dc_folio_wait_idle() (while the
 * region is alive), in slices if faults may map it again meanwhile, and
 * zap again: the break-layouts loop.
 * Context: sleeps (waits for locked entries); takes the tree lock.  The
 * owner serialises zap and delete/truncate of a range (its invalidate lock,
 * as the kernel requires); faults and lockless pins may race freely.
 * Return: the number of entries zapped by this call; -EINVAL (range).
 */
DC_API int dc_mapping_zap(struct dc_mapping *m, uint64_t first, uint64_t last,
			  struct dc_folio **busy);

/**
 * dc_mapping_delete() - remove the entry covering @index
 * (dax_delete_mapping_entry()).  A real entry must be zapped and its folios
 * idle; otherwise nothing changes, the violation is counted
 * (dc_mapping_violations(), the kernel's WARN_ON_ONCE) and -EBUSY returned.
 * ZERO and EMPTY entries are deleted directly (ZERO after ->revoke).
 * Disassociates each folio (or drops a CoW sharer) and wakes all waiters.
 * Context: sleeps (waits for a locked entry); takes the tree lock.
 * Return: 0; -ENOENT (no entry); -EBUSY.
 */
DC_API int dc_mapping_delete(struct dc_mapping *m, uint64_t index);

/**
 * dc_mapping_truncate() - delete every entry in [@first, @last]; entries
 * that cannot be deleted (not zapped, or busy) stay and are counted.
 * Context: sleeps; takes the tree lock.
 * Return: 0; -EBUSY if any entry stayed; -EINVAL (range).
 */
DC_API int dc_mapping_truncate(struct dc_mapping *m, uint64_t first, uint64_t last);

/**
 * dc_mapping_truncate_final() - empty the mapping at eviction
 * (truncate_inode_pages_final() with the series' wait for pins): mark the
 * mapping exiting (new grabs fail with -ESHUTDOWN), then zap everything,
 * wait for each busy folio to go idle, delete, until empty.
 * @opts: deadline / cancel for the waits; NULL waits forever.
 * Context: sleeps.
 * Return: 0 (empty); -ETIMEDOUT or -EINTR (the mapping stays exiting; call
 * again to continue).
 */
DC_API int dc_mapping_truncate_final(struct dc_mapping *m, const struct dc_wait_opts *opts);

/**
 * dc_mapping_invalidate() - drop clean, idle entries in [@first, @last]
 * without waiting: ZERO/EMPTY entries, and real entries with no DIRTY or
 * TOWRITE mark whose folios nobody but this mapping holds.  Busy, dirty and
 * locked entries stay.  (A real entry found busy after it was zapped stays
 * zapped.)
 * Context: takes the tree lock; calls ->revoke.
 * Return: the number of entries dropped; -EINVAL (range).
 */
DC_API int dc_mapping_invalidate(struct dc_mapping *m, uint64_t first, uint64_t last);

/**
 * dc_mapping_writeback() - write back the DIRTY entries in [@first, @last]
 * (dax_writeback_mapping_range()): tag them TOWRITE first, then for each
 * tagged entry: lock it, ->mkclean, flush its device range through the
 * region backend, clear DIRTY, unlock.  Entries dirtied after the tagging
 * wait for the next writeback, so a busy writer cannot livelock this one.
 * Context: sleeps; takes entry locks and the tree lock.
 * Return: the number of entries written back; or a negative errno from the
 * flush (remaining entries keep their marks).
 */
DC_API int dc_mapping_writeback(struct dc_mapping *m, uint64_t first, uint64_t last);

/**
 * dc_mapping_get_folio() - the pin fast path (GUP-fast): find the folio
 * mapped at @index, take a reference (@pin: a DMA pin), and re-check that
 * the entry was not zapped or changed meanwhile.  A pin that races a zap
 * either completes before the zap looks at the folio (the zap reports it
 * busy) or fails (invariant 3).
 * Context: any; lockless; never sleeps.
 * Return: 0 with *@f referenced (put or unpin it); -EAGAIN if nothing is
 * mapped there now (the caller faults: grab + insert, and retries).
 */
DC_API DC_MUST_CHECK int dc_mapping_get_folio(struct dc_mapping *m, uint64_t index, bool pin,
					      struct dc_folio **f);

/**
 * dc_mapping_lookup() - the entry covering @index now (0 if none);
 * lockless, a snapshot.
 */
DC_API dc_entry_t dc_mapping_lookup(struct dc_mapping *m, uint64_t index);

/** dc_mapping_get_mark() - whether the entry at @index has @mark. */
DC_API bool dc_mapping_get_mark(struct dc_mapping *m, uint64_t index, unsigned mark);

/* A locked entry found from a folio (memory failure). */
struct dc_entry_lock {
	struct dc_mapping *mapping;
	uint64_t index;  /* first index of the entry */
	dc_entry_t entry;
};

/**
 * dc_mapping_lock_folio() - from a folio's owner word, lock the entry that
 * maps it (dax_lock_page()), re-validating after every wait that the folio
 * still belongs to that mapping and index.
 * Context: sleeps; takes the tree lock.
 * Return: 0 with @lk filled and the entry locked; -ENOENT (the folio has no
 * owner now, or its entry is gone or no longer maps it); -EBUSY (the folio
 * is CoW-shared: no single owner).
 */
DC_API int dc_mapping_lock_folio(struct dc_folio *f, struct dc_entry_lock *lk);
/** dc_mapping_unlock_folio() - unlock what dc_mapping_lock_folio() locked. */
DC_API void dc_mapping_unlock_folio(struct dc_entry_lock *lk);

/** dc_mapping_region() / _priv() / _count(): accessors. */
DC_API struct dc_region *dc_mapping_region(const struct dc_mapping *m);
DC_API void *dc_mapping_priv(const struct dc_mapping *m);
DC_API uint64_t dc_mapping_count(const struct dc_mapping *m);
/** dc_mapping_violations() - deletes refused because an entry was live. */
DC_API uint64_t dc_mapping_violations(const struct dc_mapping *m);

/**
 * dc_mapping_check() - verify the mapping's invariants (quiescent: no
 * concurrent operation): no entry is locked; every live real entry's folios
 * are referenced and associated with (mapping, index) or CoW-shared; the
 * index itself is valid.  Prints the first violation.
 * Return: true if valid.
 */
DC_API bool dc_mapping_check(struct dc_mapping *m);

#ifdef __cplusplus
}
#endif
#endif
