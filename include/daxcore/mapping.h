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
 * Entries carry marks DIRTY and TOWRITE (writeback).  An owner holds an
 * entry lock through a handle (struct dc_entry_handle) that grab or
 * lock_folio fills and insert and unlock take: there is no way to unlock an
 * entry by (index, value) and get it wrong.  Every wait for a locked entry
 * or a busy folio honours the caller's struct dc_wait_opts (deadline,
 * cancel token); NULL waits forever.
 *
 * Lock order: (owner's invalidate lock) -> entry lock -> tree lock ->
 * folio atomics.  No callback (revoke, mkclean, page_free) runs under the
 * tree lock or inside a read-side section daxcore opened.  Waits for a locked entry are exclusive: unlock wakes one
 * waiter (WAKE_NEXT), delete wakes all (WAKE_ALL).
 */
#ifndef DAXCORE_MAPPING_H
#define DAXCORE_MAPPING_H

#include <daxcore/common.h>
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

static inline uint64_t dc_entry_pgoff(dc_entry_t e) { return e >> DC_ENTRY_PGOFF_SHIFT; }
static inline unsigned dc_entry_order(dc_entry_t e)
{
	return (e & DC_ENTRY_PUD) ? 18 : (e & DC_ENTRY_PMD) ? 9 : 0;
}
static inline bool dc_entry_is_locked(dc_entry_t e) { return e & DC_ENTRY_LOCKED; }
static inline bool dc_entry_is_zero(dc_entry_t e) { return e & DC_ENTRY_ZERO; }
static inline bool dc_entry_is_empty(dc_entry_t e) { return e & DC_ENTRY_EMPTY; }
static inline bool dc_entry_is_zapped(dc_entry_t e) { return e & DC_ENTRY_ZAP; }
/* The entry names device pages (live, or zapped and not yet deleted). */
static inline bool dc_entry_has_pages(dc_entry_t e)
{
	return (e & DC_ENTRY_VALID) && !(e & (DC_ENTRY_ZERO | DC_ENTRY_EMPTY));
}
/* The entry maps device pages and holds references on them (not zapped). */
static inline bool dc_entry_is_live(dc_entry_t e)
{
	return dc_entry_has_pages(e) && !dc_entry_is_zapped(e);
}

/*
 * A locked entry, as grab and lock_folio hand it out.  Caller-allocated;
 * the library fills it.  While @held is set the caller owns the entry lock
 * and must give it back with dc_mapping_unlock(h).
 */
struct dc_entry_handle {
	struct dc_mapping *mapping;
	uint64_t index;   /* first file page index of the entry */
	dc_entry_t entry; /* its value (LOCKED set) */
	unsigned order;   /* 0, 9 or 18 */
	unsigned held;    /* the library's: nonzero while the lock is held */
};

/* dc_mapping_grab(): the range holds smaller entries; fall back to order 0. */
#define DC_GRAB_FALLBACK 1

/* Flags for dc_mapping_insert(). */
#define DC_INSERT_DIRTY 0x1u /* set the DIRTY mark */
#define DC_INSERT_COW   0x2u /* the block is shared (reflink): count a sharer */
#define DC_INSERT_ZERO  0x4u /* map the zero page (pgoff ignored) */
/*
 * The copy-on-write step: the entry's old pages are a block the file shared
 * and now replaces by its own copy.  They are let go even while pinned (the
 * pin reads the old block; the owner keeps that block out of use until it
 * is idle, invariant 9) instead of failing with -EBUSY.
 */
#define DC_INSERT_UNSHARE 0x8u

/* Marks. */
#define DC_MARK_DIRTY 0
#define DC_MARK_TOWRITE 1

/*
 * The owner's callbacks, each run with no daxcore lock held and outside any
 * read-side section of daxcore's.  The entry may be held locked meanwhile,
 * by the caller of the operation or by daxcore itself (a zap keeps entries
 * of shared or several folios locked until their references are dropped,
 * invalidate keeps its entries locked): a callback must not wait for a
 * fault (a grab) of the pages it is told about.
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
 * dc_mapping_create() - a new, empty mapping over region @r.  The mapping
 * holds the region: dc_region_remove() waits until it is destroyed.
 * Context: process context.
 * Return: 0; -EINVAL (NULL argument); -EOPNOTSUPP (limited region);
 * -ENXIO (the region is being removed); -ENOMEM; -ENOSPC (too many
 * mappings: 2^22 - 1 live at once).
 */
DC_API DC_MUST_CHECK int dc_mapping_create(struct dc_region *r, const struct dc_mapping_ops *ops,
					   void *priv, struct dc_mapping **out);

/**
 * dc_mapping_destroy() - free an empty mapping (after truncate_final) and
 * let go of its region.
 * Context: sleeps for a grace period; not from a mapping callback
 * (->revoke, ->mkclean) or a read-side section (a holder's
 * ->notify_failure may: region.h).  No other call on @m may be running or
 * start, with one exception: a grab that was asleep on a locked entry when
 * truncate_final began (it returns -ESHUTDOWN, and destroy waits until it
 * has).
 * Return: 0; -EBUSY if entries remain (nothing is freed).
 */
DC_API int dc_mapping_destroy(struct dc_mapping *m);

/**
 * dc_mapping_grab() - find or create the entry for @index and lock it
 * (dax_grab_mapping_entry()).
 * @order: 0, 9 (PMD) or 18 (PUD).
 * @opts:  deadline / cancel for the wait on a locked entry; NULL: forever.
 * @h:     filled: on 0 it holds the lock (h->entry, h->index, h->order);
 *         otherwise it holds nothing.
 *
 * Waits while the entry is locked.  A request larger than entries already
 * present in its range falls back.  A 4 KiB (or 2 MiB) request inside a
 * larger ZERO or EMPTY entry removes it (revoking its client mappings) and
 * creates a small one; inside a larger real entry it locks that entry
 * (h->order says which).  A missing entry is created EMPTY.
 * Context: sleeps; takes the tree lock.
 * Return: 0 (locked); DC_GRAB_FALLBACK (positive: nothing locked, retry at
 * order 0); -EINVAL (order, index beyond DC_MAPPING_INDEX_MAX, NULL
 * handle); -ESHUTDOWN (the mapping is exiting); -ENOMEM; -ETIMEDOUT,
 * -EINTR (@opts).
 */
DC_API DC_MUST_CHECK int dc_mapping_grab(struct dc_mapping *m, uint64_t index, unsigned order,
					 const struct dc_wait_opts *opts,
					 struct dc_entry_handle *h);

/**
 * dc_mapping_insert() - make the locked entry @h map device pages
 * [@pgoff, @pgoff + 2^h->order) of the mapping's region (dax_insert_entry()).
 * @flags: DC_INSERT_*.
 *
 * Takes one reference on each folio (requesting idle folios, or taking a
 * reference on folios already in use), and claims each for (mapping, index)
 * with one compare-and-swap, or, with DC_INSERT_COW, counts one more
 * sharer.  An entry that already maps @pgoff keeps its references (only
 * DIRTY is added).  A live entry that maps other pages is replaced: it is
 * zapped first (lockless pinners fail from then on), revoked, its
 * references dropped, and its folios let go only if nothing else holds
 * them (with DC_INSERT_UNSHARE: whatever holds them).  Takes the region's read lock itself (do not hold it); callbacks
 * run outside it.
 * Context: @h locked by the caller (it stays locked on every return);
 * takes the tree lock.
 * Return: 0 (h->entry is the new entry); -EINVAL (@h not locked, bad flags,
 * @pgoff out of range or misaligned, smaller than a folio); -ENXIO (region
 * being removed); -EBUSY (a folio is used by another owner without
 * DC_INSERT_COW; or the replaced pages are still pinned: then the entry is
 * left zapped, h->entry says so, and the caller waits with
 * dc_mapping_break_layouts() and inserts again); -EEXIST (ZERO insert over
 * device pages); -EIO (a folio is poisoned); -EOVERFLOW; -ENOMEM (an entry
 * of more than 64 folios needs a little memory to track them).  On any error but
 * the -EBUSY of a pinned replacement nothing changed.
 */
DC_API DC_MUST_CHECK int dc_mapping_insert(struct dc_entry_handle *h, uint64_t pgoff,
					   unsigned flags);

/**
 * dc_mapping_unlock() - unlock the entry @h holds and wake the next waiter
 * (WAKE_NEXT); @h holds nothing afterwards (its other fields still say
 * which entry it was, h->entry without LOCKED: a snapshot).
 * Context: takes the tree lock.
 * Return: 0; -EINVAL if @h holds no lock (grab failed, already unlocked,
 * NULL) or does not match the locked entry in the index (nothing is
 * unlocked then).
 */
DC_API int dc_mapping_unlock(struct dc_entry_handle *h);

/**
 * dc_mapping_zap() - revoke every entry in [@first, @last]
 * (dax_zap_mappings_range()): for each live entry, once: mark it ZAP (from
 * then on lockless pinners fail), call ->revoke, drop the mapping's folio
 * references.
 * @busy: set to the first folio in the range that is still busy (pinned or
 * transiently referenced beyond the live entries of the files that share
 * it; entries zapped earlier count too), or NULL.  dc_mapping_break_layouts()
 * is the loop that waits for it.
 * Context: sleeps (waits for locked entries, bounded by @opts); takes the
 * tree lock.  The owner serialises zap and delete/truncate of a range (its
 * invalidate lock, as the kernel requires); faults and lockless pins may
 * race freely.
 * Return: the number of entries zapped by this call; -EINVAL (range);
 * -ETIMEDOUT, -EINTR (@opts: the entries zapped so far stay zapped).
 */
DC_API int dc_mapping_zap(struct dc_mapping *m, uint64_t first, uint64_t last,
			  const struct dc_wait_opts *opts, struct dc_folio **busy);

/*
 * The busy folios dc_mapping_break_layouts() waits for: ->waiting(m, index,
 * folio, arg) is called once before each wait for a busy folio (at file
 * page @index), with no daxcore lock held, so the owner can log, count or
 * ask the pin's holder to let go.
 */
struct dc_break_report {
	void (*waiting)(struct dc_mapping *m, uint64_t index, struct dc_folio *f, void *arg);
	void *arg;
};

/**
 * dc_mapping_break_layouts() - zap [@first, @last] and wait until no folio
 * in it is busy (the ext4/xfs/fuse *_break_layouts() loop): zap, wait for
 * the first busy folio in slices (a fault may map it again meanwhile: the
 * next zap takes that away), zap again, until nothing in the range is busy.
 * @opts: deadline and cancel for every wait; its before_sleep/after_sleep
 *        run around each sleep (drop and retake the owner's invalidate
 *        lock: the range is zapped again after each sleep).
 * @report: told about each busy folio waited for; may be NULL.
 * Context: sleeps.
 * Return: the number of waits for a busy folio (0: nothing was busy);
 * -EINVAL (range); -ETIMEDOUT, -EINTR (@opts; the range stays zapped).
 */
DC_API int dc_mapping_break_layouts(struct dc_mapping *m, uint64_t first, uint64_t last,
				    const struct dc_wait_opts *opts,
				    const struct dc_break_report *report);

/**
 * dc_mapping_delete() - remove the entry covering @index
 * (dax_delete_mapping_entry()).  An entry with device pages must be zapped
 * and its folios not busy (a CoW-shared folio that other files still map is
 * not busy); otherwise nothing changes, the violation is counted
 * (dc_mapping_violations(), the kernel's WARN_ON_ONCE) and -EBUSY returned.
 * ZERO and EMPTY entries are deleted directly (ZERO after ->revoke).
 * Lets go of each folio (or one CoW sharer) and wakes all waiters.
 * Context: sleeps (waits for a locked entry, bounded by @opts); takes the
 * tree lock.
 * Return: 0; -ENOENT (no entry); -EBUSY; -EINVAL (@index beyond
 * DC_MAPPING_INDEX_MAX); -ETIMEDOUT, -EINTR (@opts).
 */
DC_API int dc_mapping_delete(struct dc_mapping *m, uint64_t index,
			     const struct dc_wait_opts *opts);

/**
 * dc_mapping_truncate() - delete every entry in [@first, @last]; entries
 * that cannot be deleted (not zapped, or busy) stay and are counted.
 * Context: sleeps (locked entries, bounded by @opts); takes the tree lock.
 * Return: 0; -EBUSY if any entry stayed; -EINVAL (range); -ETIMEDOUT,
 * -EINTR.
 */
DC_API int dc_mapping_truncate(struct dc_mapping *m, uint64_t first, uint64_t last,
			       const struct dc_wait_opts *opts);

/**
 * dc_mapping_truncate_final() - empty the mapping at eviction
 * (truncate_inode_pages_final() with the series' wait for pins): mark the
 * mapping exiting (new grabs fail with -ESHUTDOWN), then break layouts on
 * everything and delete, until empty.
 * @opts: deadline / cancel for every wait (locked entries and busy
 *        folios); NULL waits forever.
 * Context: sleeps.
 * Return: 0 (empty); -ETIMEDOUT or -EINTR (the mapping stays exiting; call
 * again to continue).
 */
DC_API int dc_mapping_truncate_final(struct dc_mapping *m, const struct dc_wait_opts *opts);

/**
 * dc_mapping_abandon() - zap and delete every entry in [@first, @last]
 * without waiting for pins (quarantine, device removal): live entries are
 * zapped first (revoked, references dropped), then every entry is deleted
 * whatever still holds its folios.  The owner must keep those blocks out
 * of use until ->page_free says they are idle.
 * Context: sleeps (locked entries, bounded by @opts); takes the tree lock.
 * The owner serialises it with faults of the range (its invalidate lock).
 * Return: the number of entries deleted while a folio of theirs was busy;
 * -EINVAL (range); -ETIMEDOUT, -EINTR (@opts: some entries may remain).
 */
DC_API int dc_mapping_abandon(struct dc_mapping *m, uint64_t first, uint64_t last,
			      const struct dc_wait_opts *opts);

/**
 * dc_mapping_invalidate() - drop clean, idle entries in [@first, @last]
 * without waiting: ZERO/EMPTY entries, and live entries with no DIRTY or
 * TOWRITE mark whose folios nobody but this mapping holds.  Busy, dirty and
 * locked entries stay.  (A live entry found busy after it was zapped stays
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
 * Context: sleeps (entry locks, bounded by @opts); takes the tree lock.
 * Return: the number of entries written back; -EINVAL (range); a negative
 * errno from the flush, -ETIMEDOUT or -EINTR (remaining entries keep their
 * marks).
 */
DC_API int dc_mapping_writeback(struct dc_mapping *m, uint64_t first, uint64_t last,
				const struct dc_wait_opts *opts);

/**
 * dc_mapping_get_folio() - the pin fast path (GUP-fast): find the folio
 * mapped at @index, take a reference (@pin: a DMA pin), and re-check that
 * the entry was not zapped or changed meanwhile.  A pin that races a zap
 * either completes before the zap looks at the folio (the zap reports it
 * busy) or fails (invariant 3).
 * Context: any; lockless; never sleeps.
 * Return: 0 with *@f referenced (put or unpin it); -EAGAIN if nothing is
 * mapped there now (the caller faults: grab + insert, and retries);
 * -EOVERFLOW (the folio is at DC_FOLIO_REF_MAX: a fault would not help).
 */
DC_API DC_MUST_CHECK int dc_mapping_get_folio(struct dc_mapping *m, uint64_t index, bool pin,
					      struct dc_folio **f);

/**
 * dc_mapping_get_folios() - dc_mapping_get_folio() for file pages
 * [@index, @index + @nr): @out[i] gets the folio of page @index + i, with
 * one reference (or pin) each (a huge folio appears, and is referenced,
 * once per page).  Stops at the first page that is not mapped, like
 * get_user_pages_fast(): the caller faults it and asks for the rest.
 * Context: any; lockless; never sleeps.
 * Return: the number of pages referenced (0 .. @nr; 0 means @index itself
 * is not mapped now, and dc_errmsg() says so); -EINVAL (range, NULL @out);
 * -EOVERFLOW (the folio of page @index is at DC_FOLIO_REF_MAX: a fault
 * would not help; a later page at the limit ends the count before it).
 */
DC_API DC_MUST_CHECK int dc_mapping_get_folios(struct dc_mapping *m, uint64_t index, uint64_t nr,
					       bool pin, struct dc_folio **out);

/* Flags for dc_mapping_get_folios_flags(). */
#define DC_GET_PIN      0x1u /* a DMA pin (dc_folio_pin()), not a plain reference */
#define DC_GET_UNLOCKED 0x2u /* stop at an entry that is locked at either look */

/**
 * dc_mapping_get_folios_flags() - dc_mapping_get_folios() with @flags
 * (DC_GET_*).  With DC_GET_UNLOCKED a page counts only if its entry was
 * unlocked at the gather and unchanged and unlocked at the re-check, so
 * no fault or copy-on-write held the entry in between: an owner whose
 * write pins must not land on a block a CoW is replacing (the CoW holds
 * the entry lock from its sharing check to the replace) uses it, and
 * faults the pages it stops at (the fault waits for the lock).
 * Context: any; lockless; never sleeps.
 * Return: as dc_mapping_get_folios(); -EINVAL also for unknown @flags.
 */
DC_API DC_MUST_CHECK int dc_mapping_get_folios_flags(struct dc_mapping *m, uint64_t index,
						     uint64_t nr, unsigned flags,
						     struct dc_folio **out);

/** dc_mapping_put_folios() - put (or unpin) @n folios from get_folios. */
DC_API void dc_mapping_put_folios(struct dc_folio **fs, uint64_t n, bool pin);

/** dc_mapping_lookup() - the entry covering @index now (0 if none); lockless, a snapshot. */
DC_API dc_entry_t dc_mapping_lookup(struct dc_mapping *m, uint64_t index);

/** dc_mapping_get_mark() - whether the entry at @index has @mark. */
DC_API bool dc_mapping_get_mark(struct dc_mapping *m, uint64_t index, unsigned mark);

/* One entry, as the iteration functions return it. */
struct dc_entry_info {
	uint64_t first;   /* first file page index */
	unsigned order;
	dc_entry_t entry; /* a snapshot of its value */
};

/**
 * dc_mapping_find() - the first entry covering any index in [@start, @last]
 * (for fsync ranges, SEEK_DATA/SEEK_HOLE, fiemap-style listings).
 * Context: any; lockless; a consistent snapshot of that entry.
 * Return: 1 (found: @info filled); 0 (none); -EINVAL (range).
 */
DC_API int dc_mapping_find(struct dc_mapping *m, uint64_t start, uint64_t last,
			   struct dc_entry_info *info);

/*
 * dc_mapping_for_each() - for each entry covering [@start, @last], in index
 * order (lockless snapshots: entries may change meanwhile).
 */
#define dc_mapping_for_each(m, start, last, info)                                         \
	for (uint64_t dc__it = (start);                                                   \
	     dc__it <= (last) && dc_mapping_find((m), dc__it, (last), (info)) == 1;       \
	     dc__it = (info)->first + (UINT64_C(1) << (info)->order))

/**
 * dc_mapping_lock_folio() - from a folio's owner, lock the entry that maps
 * it (dax_lock_page()), re-validating after every wait that the folio still
 * belongs to that mapping and index.
 * @opts: deadline / cancel for the wait on a locked entry.
 * @h:    filled with the locked entry on 0; unlock with dc_mapping_unlock().
 * Context: sleeps; takes the tree lock.
 * Return: 0; -ENOENT (the folio has no owner now, or its entry is gone or
 * no longer maps it); -EBUSY (the folio is CoW-shared: no single owner);
 * -ETIMEDOUT, -EINTR (@opts).
 */
DC_API DC_MUST_CHECK int dc_mapping_lock_folio(struct dc_folio *f, const struct dc_wait_opts *opts,
					       struct dc_entry_handle *h);

/** dc_mapping_region() / _priv() / _count(): accessors. */
DC_API struct dc_region *dc_mapping_region(const struct dc_mapping *m);
DC_API void *dc_mapping_priv(const struct dc_mapping *m);
DC_API uint64_t dc_mapping_count(const struct dc_mapping *m);
/** dc_mapping_violations() - deletes refused because an entry was live or busy. */
DC_API uint64_t dc_mapping_violations(const struct dc_mapping *m);

/**
 * dc_mapping_check() - verify the mapping's invariants (quiescent: no
 * concurrent operation): no entry is locked; every live entry's folios are
 * referenced and claimed by (mapping, index) or CoW-shared and counted
 * mapped; every zapped entry's folios are still associated but not counted
 * mapped; the index itself is valid.  Prints the first violation.
 * Return: true if valid.
 */
DC_API bool dc_mapping_check(struct dc_mapping *m);

#ifdef __cplusplus
}
#endif
#endif
