/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxcore/devdax.h - device-dax: a whole region served as one device, the
 * second owner on the common mapping core (the kernel's drivers/dax/device.c
 * after seed 004 patches 16-21).
 *
 * A device-dax device has no file system and no allocator: device byte
 * offset X is byte X of the region, and the device is one "file" whose one
 * mapping (include/daxcore/mapping.h) holds an entry per aligned piece that
 * was faulted.  The device's alignment is the region's folio order: 4 KiB
 * (order 0), 2 MiB (order 9) or 1 GiB (order 18), or the unit the region's
 * fd maps in if that is larger (a real device's own alignment,
 * dc_region_map_order(); its entries then hold several folios).  Faults insert entries at
 * the alignment only, never smaller (a PTE, PMD or PUD entry), and the
 * folio references are taken at insert (seed 004 patch 21): a live entry
 * holds one reference on its folio, so the region can be removed only
 * after every entry is gone.
 *
 * Clients map the device through views (include/daxcore/view.h):
 * dc_devdax_map() refuses what the kernel's mmap of a /dev/daxX.Y refuses
 * (a private mapping, an offset or length that is not a multiple of the
 * alignment) and, unlike the kernel, a range that reaches past the end of
 * the device (the kernel maps it and answers every access there with
 * SIGBUS; POSIX mmap's ENXIO, "addresses invalid for the object", is what
 * daxcore returns at once).  A fault maps a whole entry at once: one fault
 * of a 2 MiB device maps 2 MiB, of a 1 GiB device 1 GiB.
 *
 * DMA pins (the pin_user_pages() analogue): by device offset
 * (dc_devdax_pin()) or through a view address (dc_devdax_pin_user()).  A
 * pin takes one DC_PIN_BIAS on each folio the range touches (one for a
 * whole 1 GiB range of a device of 1 GiB folios), through the mapping's lockless
 * fast path (look up, pin, re-check the entry was not zapped), faulting
 * what is missing: a pin never lands through a zapped entry.  Device-dax
 * accepts long-term pins (the mode RDMA and GPU users pick because fsdax
 * refuses them): nothing asks a pin back; removal waits for it.
 *
 * Kill and removal (the kernel's kill_dev_dax()): dc_devdax_kill() zaps
 * every entry, which revokes every view (the next access gets SIGBUS with
 * BUS_ADRERR), and from then on new views and pins fail with -ENXIO and
 * faults answer SIGBUS.  Zapped entries whose folios are pinned stay in
 * the mapping until the last pin of them is released (dc_devdax_unpin()
 * deletes them); the DMA meanwhile still reaches the device memory.
 * dc_region_remove() of the device's region calls the holder's
 * ->notify_failure(DC_MF_PRE_REMOVE), which kills the device and gives up
 * its claim; removal then waits for the last pin with its own deadline,
 * cancel token and progress callback (struct dc_drain_opts), and the last
 * unpin destroys the device's mapping so that removal can finish.  After
 * removal the handle stays valid (views stay reserved, every access
 * SIGBUS) until dc_devdax_close().
 *
 * Memory failure (dc_folio_memory_failure() on a device-dax region): the
 * folios are marked poisoned and the device zaps the entries that cover
 * them (views lose those pages); the next access there gets SIGBUS with
 * BUS_MCEERR_AR (the kernel's generic memory-failure path for device-dax:
 * unmap the page, kill the accessing process with BUS_MCEERR_AR), and a
 * pin of a poisoned page fails with -EHWPOISON.  The poison is never
 * cleared (invariant 10).
 *
 * Locking: each device has one internal read-write lock (faults, pins and
 * map take it shared; kill, removal and the deletion of zapped entries
 * exclusive), taken outside the mapping layer's entry locks (the lock
 * order of DESIGN.md: the owner's invalidate lock first).  No callback of
 * the caller's is ever called: nothing of the caller's runs under it.
 */
#ifndef DAXCORE_DEVDAX_H
#define DAXCORE_DEVDAX_H

#include <daxcore/common.h>
#include <daxcore/region.h>
#include <daxcore/view.h>
#include <daxcore/wait.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dc_devdax;

/* dc_devdax_map() flags.  READ and WRITE are the view protections. */
#define DC_DEVDAX_MAP_READ    DC_VIEW_READ   /* 0x1 */
#define DC_DEVDAX_MAP_WRITE   DC_VIEW_WRITE  /* 0x2: implies READ */
#define DC_DEVDAX_MAP_PRIVATE 0x100u         /* copy-on-write (MAP_PRIVATE): always refused */

/* dc_devdax_pin() / dc_devdax_pin_user() flags. */
#define DC_DEVDAX_PIN_READONLY 0x1u /* the DMA only reads memory (a pin through a
				     * read-only view needs it) */

/*
 * A pin set: caller-owned, filled by dc_devdax_pin() or dc_devdax_pin_user(),
 * given back once with dc_devdax_unpin().  Device memory is contiguous, so
 * the pinned bytes are one segment: [@addr, @addr + @length) of the
 * library's linear map of the region, the DMA target.
 */
struct dc_devdax_pinset {
	uint64_t id;      /* nonzero while pinned; ids are never reused */
	uint64_t offset;  /* device byte offset of the first pinned byte */
	uint64_t length;  /* bytes */
	void *addr;       /* linear-map address of @offset */
	uint64_t nfolios; /* folios pinned (one DC_PIN_BIAS each) */
};

/* One entry of the device's mapping (dc_devdax_entries()). */
struct dc_devdax_entry {
	uint64_t offset;   /* device byte offset of the entry */
	unsigned order;    /* 0, 9 or 18: the device alignment */
	bool live;         /* false: zapped (by kill or a memory failure), waiting for its pins */
	uint32_t refcount; /* its (first) folio's reference count (pins count DC_PIN_BIAS) */
	bool pinned;       /* dc_folio_maybe_dma_pinned() of that folio */
};

struct dc_devdax_stats {
	uint64_t size;          /* bytes */
	uint64_t align;         /* bytes: 4 KiB, 2 MiB or 1 GiB */
	uint64_t entries;       /* entries in the mapping now (live and zapped) */
	uint64_t live_entries;  /* of which live (not zapped) */
	uint64_t views;         /* views mapped now */
	uint64_t pins;          /* pin sets held now */
	uint64_t pinned_folios; /* folio pins those pin sets hold */
	uint64_t faults;        /* entries inserted by faults, since open */
	uint64_t sigbus;        /* view faults answered with an error (SIGBUS), since open */
	bool killed;            /* dc_devdax_kill() or removal happened */
	bool removed;           /* the region's removal began: the device let go of it */
};

/**
 * dc_devdax_open() - serve region @r as a device-dax device: claim it as
 * its exclusive holder (dc_region_claim()) and create the device's one
 * mapping and view set.
 * @r:   a region of type devdax (DC_REGION_DEVDAX: "type=devdax" in its
 *       spec, or a devdax: backend).
 * @out: set to the new device on success.
 * Context: process context; never waits for another thread (on failure it
 * gives the claim back, which waits for a grace period).
 * Return: 0; -EINVAL (NULL argument, or @r is not of type devdax:
 * dc_errmsg() names its type); -EBUSY (the region is open as a device
 * already, or another holder, such as a dcfs mount, has claimed it);
 * -ENXIO (the region is being removed); -ENOMEM; -ENOSPC (too many
 * mappings exist).  On any error nothing changed.
 */
DC_API DC_MUST_CHECK int dc_devdax_open(struct dc_region *r, struct dc_devdax **out);

/**
 * dc_devdax_close() - close the device: zap and delete every entry, destroy
 * its mapping and view set, give up the claim (unless removal took the
 * region already) and free @dd.  The region itself stays (it may be
 * opened again).
 * @opts: NULL: do not wait: -EBUSY at once while views or pins remain.
 *        Otherwise wait until every view is unmapped and every pin set
 *        released, until @opts' deadline or cancel token (an all-zero
 *        struct waits for ever; the callbacks are not used).
 * Context: sleeps (grace periods; the wait); not from a daxcore callback,
 * not with a view of @dd resolved (dc_view_resolve()).  No other call on
 * @dd may start once close has begun.
 * Return: 0 (@dd is freed); -EINVAL (NULL); -EBUSY (views or pins remain
 * and @opts is NULL: nothing changed); -ETIMEDOUT, -EINTR (@opts: nothing
 * changed, @dd is still open).
 */
DC_API int dc_devdax_close(struct dc_devdax *dd, const struct dc_wait_opts *opts);

/**
 * dc_devdax_map() - map device bytes [@off, @off + @len) into the caller's
 * address space as a view (mmap of a /dev/daxX.Y): fill @v.  Nothing is
 * mapped until it faults; a fault maps the whole aligned entry it lands in
 * (2 MiB or 1 GiB at once on such devices).  The view keeps @dd from
 * closing; dc_view_unmap(@v) ends it.
 * @flags: DC_DEVDAX_MAP_READ, or DC_DEVDAX_MAP_READ | DC_DEVDAX_MAP_WRITE.
 * Context: process context; sleeps (a grace period).
 * Return: 0; -EINVAL (NULL, @len 0, @off or @len not a multiple of the
 * device alignment, DC_DEVDAX_MAP_PRIVATE, no protection or an unknown
 * flag); -ENXIO (the range reaches past the end of the device; or the
 * device was killed or its region is being removed: dc_errmsg() says
 * which); -ENOMEM; -ENOSPC (too many views).
 */
DC_API DC_MUST_CHECK int dc_devdax_map(struct dc_devdax *dd, uint64_t off, uint64_t len,
				       unsigned flags, struct dc_view *v);

/**
 * dc_devdax_pin() - pin device bytes [@off, @off + @len) for DMA: every
 * folio the range touches gets one pin (DC_PIN_BIAS), faulting in the
 * entries that are missing (at the device alignment).  The bytes need not
 * be aligned.  While pinned, removal of the region waits.
 * @flags: 0 or DC_DEVDAX_PIN_READONLY.
 * @ps:    filled on success; give it back with dc_devdax_unpin().
 * Context: sleeps (faults); takes the device lock shared.
 * Return: 0; -EINVAL (NULL, @len 0, an unknown flag); -ENXIO (the range
 * reaches past the end of the device; or the device is killed or being
 * removed, which no pin started after dc_devdax_kill() returned escapes);
 * -EHWPOISON (a page of the range is poisoned); -EOVERFLOW (a folio holds
 * DC_FOLIO_REF_MAX references already); -ENOMEM.  Nothing stays pinned
 * on any error.
 */
DC_API DC_MUST_CHECK int dc_devdax_pin(struct dc_devdax *dd, uint64_t off, uint64_t len,
				       unsigned flags, struct dc_devdax_pinset *ps);

/**
 * dc_devdax_pin_user() - pin the bytes [@addr, @addr + @len) of a view of
 * @dd for DMA (pin_user_pages() on a device-dax mapping): the address is
 * translated to a device offset (dc_view_resolve()) and pinned as
 * dc_devdax_pin() would.  A pin never goes through a revoked page: it pins
 * the device's entries, never the view's pages.
 * @flags: 0 (the view must be writable) or DC_DEVDAX_PIN_READONLY.
 * Context: sleeps (faults); not from a daxcore callback.
 * Return: as dc_devdax_pin(), and -EFAULT (not an address of a view of
 * @dd, the range leaves its view, or a write pin through a read-only view).
 */
DC_API DC_MUST_CHECK int dc_devdax_pin_user(struct dc_devdax *dd, const void *addr,
					    uint64_t len, unsigned flags,
					    struct dc_devdax_pinset *ps);

/**
 * dc_devdax_unpin() - release a pin set of @dd: every folio it pinned is
 * unpinned once and @ps->id becomes 0.  On a killed device the zapped
 * entries whose last pin this was are deleted, and once the region is
 * being removed and no entry is left the device's mapping is destroyed
 * (removal can then finish).
 * Context: sleeps (the device lock, exclusive on a killed device; a grace
 * period when it destroys the mapping).
 * Return: 0; -EINVAL (NULL, or @ps is not a pin set of @dd now: unpinned
 * already, never pinned, forged; nothing is released).
 */
DC_API int dc_devdax_unpin(struct dc_devdax *dd, struct dc_devdax_pinset *ps);

/**
 * dc_devdax_kill() - kill the device (kill_dev_dax()): from now on new
 * views and pins fail with -ENXIO and view faults answer SIGBUS
 * (BUS_ADRERR); every entry is zapped, which revokes every view's pages;
 * entries whose folios nobody pins are deleted at once, the others when
 * their last pin goes (dc_devdax_unpin()).  Existing pins stay valid.
 * Idempotent.
 * Context: sleeps: waits for the faults and pins running now to finish
 * (they never wait for anything unbounded); takes the device lock
 * exclusive.  Not from a daxcore callback.
 * Return: the number of entries still held by pins (0: the mapping is
 * empty); -EINVAL (NULL).
 */
DC_API int dc_devdax_kill(struct dc_devdax *dd);

/**
 * dc_devdax_entries() - list the entries of the device's mapping that
 * cover device bytes [@off, @off + @len) (@len UINT64_MAX: to the end), in
 * offset order, into @out (at most @max).
 * Context: takes the device lock shared; lockless snapshots of the entries.
 * Return: the number of such entries (may exceed @max: @out holds the
 * first @max); -EINVAL (NULL @dd, NULL @out with @max > 0, @off past the
 * end); 0 once the region is removed (the mapping is gone).
 */
DC_API int dc_devdax_entries(struct dc_devdax *dd, uint64_t off, uint64_t len,
			     struct dc_devdax_entry *out, unsigned max);

/**
 * dc_devdax_check() - verify the device's invariants (quiescent: no
 * concurrent call): every entry is at the alignment and inside the device;
 * a live entry holds a reference on its folio, and none is live on a
 * killed device (no fault or pin made one after the kill); a zapped entry is pinned
 * (an unpinned one would have been deleted); on a device not killed no
 * entry is zapped unless its folio is poisoned; the pin sets' folio pins
 * are on the folios; the mapping's own check (dc_mapping_check()).
 * Prints the first violation to stderr.
 * Return: true if valid (a NULL @dd is not).
 */
DC_API bool dc_devdax_check(struct dc_devdax *dd);

/** dc_devdax_stats() - fill @st.  Context: any; counts are snapshots. */
DC_API void dc_devdax_stats(struct dc_devdax *dd, struct dc_devdax_stats *st);

/** dc_devdax_size() - the device size in bytes.  Context: any. */
DC_API uint64_t dc_devdax_size(const struct dc_devdax *dd);

/** dc_devdax_align() - the device alignment in bytes (4 KiB, 2 MiB, 1 GiB). */
DC_API uint64_t dc_devdax_align(const struct dc_devdax *dd);

/**
 * dc_devdax_region() - the device's region; NULL once its removal began
 * (the device let go of it: the pointer may be freed).
 * Context: any.
 */
DC_API struct dc_region *dc_devdax_region(const struct dc_devdax *dd);

#ifdef __cplusplus
}
#endif
#endif
