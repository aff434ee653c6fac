/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * folio_int.h - the owner word of a folio and its transitions, for the
 * mapping layer (not installed; owners see read-only accessors).
 *
 * The owner word says which file entries use the folio.  It is one atomic
 * 64-bit word, changed only by compare-and-swap, so that two files (with
 * two different entry locks) can never both claim one block, nor lose a
 * sharer:
 *
 *   0                       no owner
 *   unshared  bit 63 = 0    bit 62 MAPPED: the owner's entry is live (holds
 *                           a reference); bits 0..61: the owner value
 *                           (the mapping layer packs mapping id and index)
 *   shared    bit 63 = 1    copy-on-write sharing (reflink): bits 0..19 the
 *                           number of live sharer entries (each holds a
 *                           reference), bits 20..39 the number of sharers
 *                           (live or zapped entries that name the block),
 *                           bits 40..47 sharer transitions in flight,
 *                           bits 48..62 a generation bumped by every change
 *
 * "Mapped" counts (the kernel's mapcount) let the busy test be the kernel's
 * refcount minus mapcount: a block is busy when something beyond the live
 * entries of its files holds it (a pin, a transient reference).  A sharer
 * entry that becomes live or stops being live takes or drops its reference
 * between a "begin" and an "end" on the owner word (the pending count), so
 * the busy test, which waits out pending transitions and takes a snapshot
 * of (owner, refcount, owner) with the owner unchanged (the generation rules
 * out ABA), neither hides a pin nor sees another sharer's fault or zap as
 * one.  An unshared word belongs to one entry, whose owner serialises its
 * zap and delete: there the entry takes its reference before it sets MAPPED
 * and clears MAPPED before it drops it, so refcount >= mapped always.
 */
#ifndef DC_FOLIO_INT_H
#define DC_FOLIO_INT_H

#include "region/region_int.h"

#define DC__OWN_SHARED (UINT64_C(1) << 63)
#define DC__OWN_MAPPED (UINT64_C(1) << 62)
#define DC__OWN_VALUE  (DC__OWN_MAPPED - 1)
#define DC__SH_LIVE_BITS 20
#define DC__SH_MAX ((UINT64_C(1) << DC__SH_LIVE_BITS) - 1) /* sharers per block */
#define DC__SH_SHARERS_SHIFT DC__SH_LIVE_BITS
#define DC__SH_PENDING_SHIFT 40
#define DC__SH_PENDING_MAX UINT64_C(255)
#define DC__SH_GEN_SHIFT 48
#define DC__SH_GEN_MASK (((UINT64_C(1) << 15) - 1) << DC__SH_GEN_SHIFT)

static inline bool dc__own_shared(uint64_t w) { return w & DC__OWN_SHARED; }
static inline uint64_t dc__own_live(uint64_t w) { return w & DC__SH_MAX; }
static inline uint64_t dc__own_sharers(uint64_t w)
{
	return (w >> DC__SH_SHARERS_SHIFT) & DC__SH_MAX;
}
static inline uint64_t dc__own_pending(uint64_t w)
{
	return dc__own_shared(w) ? (w >> DC__SH_PENDING_SHIFT) & DC__SH_PENDING_MAX : 0;
}
/* Live entries that hold a reference on the folio (mapcount). */
static inline uint64_t dc__own_mapped(uint64_t w)
{
	if (dc__own_shared(w))
		return dc__own_live(w);
	return (w & DC__OWN_MAPPED) ? 1 : 0;
}

static inline uint64_t dc__folio_owner_word(const struct dc_folio *f)
{
	return atomic_load((_Atomic uint64_t *)&f->owner);
}

/*
 * The record of the folio at @pg, made to exist if it was never touched
 * (no reference is taken): a sharer transition starts on it before the
 * reference is taken.  NULL for a limited region or @pg out of range.
 */
struct dc_folio *dc__folio_record(struct dc_region *r, uint64_t pg);

/*
 * dc__folio_claim() - a live entry of @owner (non-zero, <= DC__OWN_VALUE)
 * claims @f, whose reference the caller holds: 0 -> owner|MAPPED, or owner
 * (its own zapped entry) -> owner|MAPPED; a folio that became shared
 * meanwhile counts one more live sharer.  Anything else is -EBUSY.
 * dc__folio_unclaim() undoes it (the insert failed; the entry never was live).
 */
int dc__folio_claim(struct dc_folio *f, uint64_t owner);
/* Return: true; false if the folio became shared meanwhile (another file's
 * reflink counted the claim as a live sharer: undo it as a sharer). */
bool dc__folio_unclaim(struct dc_folio *f, uint64_t owner);

/*
 * Sharer transitions.  begin(new_sharer): one more transition in flight
 * (and, for a new sharer, one more sharer: an unshared owner becomes the
 * first one); then take the reference; then commit (one more live sharer)
 * or abort (undo the begin).  For a zap: unmap_begin (one live sharer
 * fewer, in flight), drop the reference, unmap_end.
 * A new sharer converts an unshared owner's word only under that owner's
 * tree lock (@owner_locked): the owner's zap and delete change the word
 * with plain stores under that lock.
 * Return (begin): 0; -EAGAIN (the word has an unshared owner and
 * !@owner_locked: take its tree lock and call again); -EOVERFLOW
 * (DC__SH_MAX sharers).
 */
int dc__folio_share_begin(struct dc_folio *f, bool new_sharer, bool owner_locked);
void dc__folio_share_commit(struct dc_folio *f);
void dc__folio_share_abort(struct dc_folio *f, bool new_sharer);

/*
 * dc__folio_unmap_begin() - the live entry of @owner that uses @f stops
 * being live (zap), before it drops its reference.  Return: true if @f is
 * shared (call dc__folio_unmap_end() after the put), false if it was the
 * owner's MAPPED bit (nothing more to do).
 */
bool dc__folio_unmap_begin(struct dc_folio *f, uint64_t owner);
/*
 * dc__folio_unmap_if_unshared() - the unshared half of unmap_begin, for a
 * zap under the owner's tree lock (before a fault can re-insert the entry):
 * clear the owner's MAPPED bit (a plain store: the lock excludes a reflink's
 * conversion) and return true, or return false if the folio is shared
 * (then unmap_begin/unmap_end around the put, later).
 */
bool dc__folio_unmap_if_unshared(struct dc_folio *f, uint64_t owner);
void dc__folio_unmap_end(struct dc_folio *f);

/*
 * dc__folio_disassoc() - a zapped entry of @owner lets go of @f (delete).
 * _locked: the owner's tree lock is held (a plain store when unshared).
 */
void dc__folio_disassoc(struct dc_folio *f, uint64_t owner);
void dc__folio_disassoc_locked(struct dc_folio *f, uint64_t owner);

/*
 * dc__folio_busy() - something beyond the live entries of the folio's
 * files holds it: refcount > mapped (see above).  Exact for an unshared
 * folio whose entry is zapped: busy iff not idle.  Waits out sharer
 * transitions in flight (they are a few atomics long).
 */
bool dc__folio_busy(const struct dc_folio *f);

/*
 * dc__folio_wait_unbusy() - sleep until !dc__folio_busy(@f), or @opts'
 * deadline or cancel.  Return: 0, -ETIMEDOUT, -EINTR.
 */
int dc__folio_wait_unbusy(struct dc_folio *f, const struct dc_wait_opts *opts);

/*
 * dc__folio_take() - take one reference on the folio at @pg for an entry:
 * tryget if in use, else request it (0 -> 1).  *@requested says which, for
 * dc__folio_untake().  It never drops a reference (its callers run inside
 * the region's read side, where no ->page_free may run).
 * Return: 0; -ENXIO (region dying), -EOVERFLOW (nothing taken); -EIO (the
 * folio is poisoned: *@out is set and referenced, for the caller to give
 * back outside the read side).
 */
int dc__folio_take(struct dc_region *r, uint64_t pg, struct dc_folio **out, bool *requested);

/*
 * dc__folio_untake() - give back a reference taken by dc__folio_take() for
 * an entry that never became live: a folio this call requested goes back to
 * idle without ->page_free (the holder was never handed it), unless someone
 * else took a reference meanwhile (then it is an ordinary put).
 */
void dc__folio_untake(struct dc_folio *f, bool requested);
/* The same, but an idle transition it owes is left to the caller (in
 * *@idle; run it with dc__folios_idle()): return true if one is owed. */
bool dc__folio_untake_defer(struct dc_folio *f, bool requested, struct dc_folio **idle);

#endif
