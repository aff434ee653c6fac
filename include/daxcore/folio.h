/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxcore/folio.h - folios of a region: references and DMA pins.
 *
 * A folio is the unit of a region's metadata: one 4 KiB page, or a 2 MiB or
 * 1 GiB block in regions with a larger folio order.  Its reference count is
 * 0 when idle (nothing maps, pins or accesses it).  dc_folio_request() moves
 * idle folios to 1 and takes a liveness reference on the region for each;
 * the last put (1 -> 0) wakes waiters on the folio, calls the holder's
 * ->page_free exactly once, and drops that liveness reference.
 *
 * Pins (for DMA) add DC_PIN_BIAS to the count, so "maybe DMA-pinned" is one
 * load (count >= DC_PIN_BIAS), as the kernel's GUP_PIN_COUNTING_BIAS.
 *
 * Folio handles are stable while the caller holds a reference, or while the
 * region is alive.  Limited regions have no folios: requests and pins fail
 * with -EOPNOTSUPP and lookups return NULL.
 */
#ifndef DAXCORE_FOLIO_H
#define DAXCORE_FOLIO_H

#include <daxcore/common.h>
#include <daxcore/region.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DC_PIN_BIAS 1024u
/* The largest reference count a folio may reach; more is -EOVERFLOW. */
#define DC_FOLIO_REF_MAX (1u << 30)

/**
 * dc_folio_request() - take idle folios into use (pgmap_request_folios(), by
 * region offset as the series' review asked).
 * @pgoff, @nr: a range of 4 KiB pages, both multiples of the folio size.
 * @first:      if not NULL, set to the folio at @pgoff.
 *
 * Every folio in the range goes 0 -> 1 and takes one liveness reference.
 * All or nothing: if one folio is busy, the ones already taken go back to
 * idle without ->page_free (unless someone took a reference on one
 * meanwhile: then its last put is an ordinary one).
 * Context: any; never sleeps (may allocate a metadata section).
 * Return: 0; -EINVAL (out of range, misaligned, @nr 0); -EBUSY (a folio in
 * the range is not idle); -ENXIO (the region is being removed);
 * -EOPNOTSUPP (limited region); -ENOMEM (metadata section allocation).
 */
DC_API DC_MUST_CHECK int dc_folio_request(struct dc_region *r, uint64_t pgoff, uint64_t nr,
					  struct dc_folio **first);

/**
 * dc_folio_lookup() - the folio containing page @pgoff, for tryget/pin.
 * Context: any; never sleeps; allocates nothing.
 * Return: the folio; NULL if @pgoff is out of range, the region is limited,
 * or its metadata was never touched (then the folio is idle).
 */
DC_API struct dc_folio *dc_folio_lookup(struct dc_region *r, uint64_t pgoff);

/**
 * dc_folio_get() - take one more reference; the caller holds one.
 * Context: any; never sleeps.
 * Return: 0; -EOVERFLOW (count at DC_FOLIO_REF_MAX; nothing taken);
 * -EINVAL (the folio is idle: the caller holds no reference; nothing taken).
 */
DC_API DC_MUST_CHECK int dc_folio_get(struct dc_folio *f);

/**
 * dc_folio_tryget() - take a reference unless the folio is idle.
 * Context: any; never sleeps.
 * Return: 0; -EAGAIN (idle: nothing holds it, the caller must request or
 * fault it in; dc_errmsg() says so); -EOVERFLOW.
 */
DC_API DC_MUST_CHECK int dc_folio_tryget(struct dc_folio *f);

/**
 * dc_folio_put() - drop a reference.  The last put wakes waiters, calls
 * ->page_free and drops the region liveness reference.  After any put the
 * caller must not touch the folio unless it holds another reference.
 * Context: any; never sleeps (->page_free aside).
 */
DC_API void dc_folio_put(struct dc_folio *f);

/**
 * dc_folio_pin() - pin for DMA (pin_user_pages()): add DC_PIN_BIAS, unless
 * the folio is idle.
 * Context: any; never sleeps.
 * Return: 0; -EAGAIN (idle); -EOVERFLOW; -EOPNOTSUPP (limited region).
 */
DC_API DC_MUST_CHECK int dc_folio_pin(struct dc_folio *f);

/** dc_folio_unpin() - drop a pin; may be the last put.  Context: any. */
DC_API void dc_folio_unpin(struct dc_folio *f);

/** dc_folio_refcount() - the raw count (pins count DC_PIN_BIAS). */
DC_API uint32_t dc_folio_refcount(const struct dc_folio *f);

/** dc_folio_idle() - refcount is 0.  Context: any; one load. */
DC_API bool dc_folio_idle(const struct dc_folio *f);

/** dc_folio_maybe_dma_pinned() - refcount >= DC_PIN_BIAS; one load. */
DC_API bool dc_folio_maybe_dma_pinned(const struct dc_folio *f);

/** dc_folio_region() - the region the folio belongs to. */
DC_API struct dc_region *dc_folio_region(const struct dc_folio *f);

/** dc_folio_pgoff() - the first page offset of the folio in its region. */
DC_API uint64_t dc_folio_pgoff(const struct dc_folio *f);

/** dc_folio_order() - folio order (0, 9, 18). */
DC_API unsigned dc_folio_order(const struct dc_folio *f);

/** dc_folio_addr() - linear-map address of the folio's first byte. */
DC_API void *dc_folio_addr(const struct dc_folio *f);

/**
 * dc_folio_wait_idle() - sleep until @f is idle (or its refcount drops to
 * at most @max_refs: pass 0 for idle).
 * Context: sleeps.
 * Return: 0, -ETIMEDOUT, -EINTR.
 */
DC_API int dc_folio_wait_idle(struct dc_folio *f, uint32_t max_refs,
			      const struct dc_wait_opts *opts);

/*
 * Who uses a folio (read-only: the mapping layer changes these with
 * compare-and-swap; owners never do).  A folio belongs to one file entry
 * (its owner value: the mapping packs a mapping id and a file page index),
 * or is shared by copy-on-write (reflink) between several, or to nobody.
 */

/** dc_folio_owner() - the owner value (0: no owner, or CoW-shared).  Context: any. */
DC_API uint64_t dc_folio_owner(const struct dc_folio *f);

/** dc_folio_shares() - the number of CoW sharers (0: not shared).  Context: any. */
DC_API uint32_t dc_folio_shares(const struct dc_folio *f);

/**
 * dc_folio_mapcount() - live (not zapped) mapping entries that hold a
 * reference on @f.  Context: any; a snapshot.
 */
DC_API uint32_t dc_folio_mapcount(const struct dc_folio *f);

/**
 * dc_folio_busy() - something beyond the live entries of the files that use
 * @f holds it: a pin or a transient reference (the kernel's refcount minus
 * mapcount).  A block may be given back to its allocator only when it is
 * idle and nobody shares it; a sharer's entry may be deleted when not busy.
 * Context: any; a consistent snapshot, never false while a pin is held
 * beyond the entries it counts.
 */
DC_API bool dc_folio_busy(const struct dc_folio *f);

/** dc_folio_poisoned() - the folio is poisoned: never mapped again (invariant 10). */
DC_API bool dc_folio_poisoned(const struct dc_folio *f);

/**
 * dc_folio_memory_failure() - report that pages [@pgoff, @pgoff + @nr) of
 * @r failed (the kernel's memory_failure() for a device range): mark their
 * folios poisoned (never mapped again: insert fails with -EIO) and call the
 * holder's ->notify_failure(pgoff, nr, DC_MF_POISON), which routes the
 * failure to (file, offset), e.g. with dc_mapping_lock_folio().
 * Context: may sleep (the holder's callback); not from a callback.
 * Return: the holder's result; -EINVAL (range); -EOPNOTSUPP (no holder
 * with notify_failure: the pages are still marked poisoned).
 */
DC_API int dc_folio_memory_failure(struct dc_region *r, uint64_t pgoff, uint64_t nr);

#ifdef __cplusplus
}
#endif
#endif
