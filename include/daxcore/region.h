/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxcore/region.h - a device memory region (the kernel's dev_pagemap).
 *
 * A region is one range of device memory, mapped once, whole, into the
 * library's own address space (its linear map), with per-folio metadata
 * (16 bytes per folio, in sections allocated when first touched), a liveness
 * reference that every non-idle folio holds, an optional exclusive holder
 * (the owner: a file system, a key-value store) and a read-side lock that
 * keeps removal from starting while an offset is turned into a mapping.
 *
 * Spec strings (dc_region_create()):
 *   mem:SIZE[,OPTS]              anonymous memfd (the embedded default)
 *   mem:SIZE,huge[,OPTS]         hugetlb memfd, 2 MiB folios
 *   file:PATH[,size=SIZE][,OPTS] a file, mapped shared
 *   devdax:/dev/daxX.Y[,OPTS]    a real device-dax character device (size
 *                                and alignment from libdaxctl)
 * SIZE: decimal with an optional K, M, G or T suffix (powers of 1024).
 * OPTS: order=0|9|18   folio order (4 KiB, 2 MiB, 1 GiB folios)
 *       type=fsdax|devdax|limited
 * Defaults: order 0 (9 with huge), type fsdax (devdax for devdax:).
 */
#ifndef DAXCORE_REGION_H
#define DAXCORE_REGION_H

#include <daxcore/common.h>
#include <daxcore/wait.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dc_region;
struct dc_folio;

enum dc_region_type {
	DC_REGION_FSDAX = 0,   /* metadata, references, pins, a holder */
	DC_REGION_DEVDAX = 1,  /* same, the whole region as one mapping */
	DC_REGION_LIMITED = 2, /* direct access only: no metadata, no pins */
};

/* Flags for ->notify_failure(). */
#define DC_MF_PRE_REMOVE 0x1u /* the region is being removed: revoke all */
#define DC_MF_POISON     0x2u /* the pages are poisoned (memory failure) */

/*
 * A holder's callbacks.  Both run with no daxcore lock held.
 *
 * ->page_free(region, folio, holder): the folio just became idle (its
 *   reference count went 1 -> 0).  Called exactly once per idle transition
 *   of a folio that was handed out (a request that fails and gives its
 *   folios back calls nothing), outside any lock or RCU read-side section
 *   of daxcore's: it may call anything but dc_region_release() and
 *   dc_region_remove() of its own region (those wait for it).  One more
 *   restriction: when a zap drops the last reference of a folio of a
 *   reflinked (CoW-shared) entry larger than one folio, that entry is still
 *   locked: ->page_free must not wait for it (a grab, delete or zap of it).
 * ->notify_failure(region, pgoff, nr, flags, holder): pages [pgoff, pgoff+nr)
 *   failed or are going away (DC_MF_PRE_REMOVE); the holder revokes its
 *   mappings and drops its references.  Return 0 or a negative errno.
 *   During DC_MF_PRE_REMOVE the holder may release its claim
 *   (dc_region_release()) and destroy its mappings from inside the
 *   callback, so that removal can complete.
 */
struct dc_holder_ops {
	void (*page_free)(struct dc_region *r, struct dc_folio *f, void *holder);
	int (*notify_failure)(struct dc_region *r, uint64_t pgoff, uint64_t nr,
			      unsigned int flags, void *holder);
};

/**
 * dc_region_create() - create a region from a spec string (see above).
 * @spec: the spec; copied.
 * @out:  set to the new region on success.
 * Context: process context; may sleep (mmap, file I/O).
 * Return: 0, or: -EINVAL (malformed spec, zero or misaligned size, size not
 * a multiple of the folio size, unknown backend or option), -ENOENT (missing
 * file or device), -ERANGE (file smaller than size=), -ENOMEM (no huge
 * pages, or no memory), -ENOSPC (65,535 regions exist), for devdax:
 * -ENODEV (not a device-dax device), -EBUSY (the device is in
 * system-ram mode), -ENXIO (the device is disabled), -EIO (libdaxctl cannot
 * create a context); another -errno from the system.  dc_errmsg() says exactly what was wrong.
 */
DC_API DC_MUST_CHECK int dc_region_create(const char *spec, struct dc_region **out);

/**
 * dc_region_remove() - remove a region (the kernel's memunmap_pages()).
 *
 * Steps: mark the region dead (every request fails with -ENXIO from now);
 * kill the liveness reference; wait for read-side sections; call the
 * holder's ->notify_failure(0, npages, DC_MF_PRE_REMOVE) once; wait until
 * every folio is idle; wait until every mapping over the region is
 * destroyed (mappings hold their region: the holder empties and destroys
 * them, from PRE_REMOVE or before calling again); wait for a grace period
 * (lockless pinners that read a folio are out); unmap the device, free the
 * metadata, free @r.
 *
 * If a wait ends early (@opts deadline or cancel) the region stays dead
 * and allocated; call dc_region_remove() again to keep waiting.  One call
 * at a time: a concurrent call gets -EBUSY.
 * Context: sleeps.  Not from a callback of this region.
 * Return: 0 (the region is gone: @r is freed); -ETIMEDOUT or -EINTR (folio
 * references or mappings remain: dc_errmsg() says which); -EBUSY (another
 * thread is removing it now).
 */
DC_API int dc_region_remove(struct dc_region *r, const struct dc_drain_opts *opts);

/**
 * dc_region_claim() - become the region's exclusive holder
 * (the kernel's fs_dax_claim_bdev()) and install @ops.
 * Context: any; never sleeps.
 * Return: 0; -ENOMEM; -EBUSY if another holder has it (or the same holder again);
 * -EINVAL for a NULL holder; -ENXIO if the region is being removed.
 */
DC_API DC_MUST_CHECK int dc_region_claim(struct dc_region *r, void *holder,
					 const struct dc_holder_ops *ops);

/**
 * dc_region_release() - give up the claim (the kernel's fs_dax_release()).
 * Waits until no callback of @holder's is running.
 * Context: sleeps (an RCU grace period, then running ->page_free calls);
 * not from a callback of this region, except the holder's own
 * ->notify_failure(DC_MF_PRE_REMOVE).
 * Return: 0; -EPERM if @holder is not the current holder.
 */
DC_API int dc_region_release(struct dc_region *r, void *holder);

/** dc_region_holder() - the current holder or NULL.  Context: any. */
DC_API void *dc_region_holder(const struct dc_region *r);

/**
 * dc_region_read_lock() / dc_region_read_unlock() - the read-side lock (the
 * kernel's dax_read_lock() SRCU section).  Hold it across "check alive, turn
 * an offset into an address, use it": removal cannot pass its grace period
 * while any such section runs.  dc_mapping_insert() takes it itself (and
 * runs its callbacks outside it): do not hold it around an insert.  Nests;
 * cheap (no atomics).
 * Context: any; the section must not sleep, nor call anything that waits
 * for a grace period (dc_region_remove(), dc_region_release(),
 * dc_mapping_destroy(), dc_liveref_kill()).
 */
DC_API void dc_region_read_lock(struct dc_region *r);
DC_API void dc_region_read_unlock(struct dc_region *r);

/** dc_region_alive() - false once removal started.  Context: any. */
DC_API bool dc_region_alive(const struct dc_region *r);

/**
 * dc_region_addr() - the linear-map address of page @pgoff.
 * The address is valid while the caller holds a reference on the folio, or
 * the read lock with the region alive.
 * Context: any.
 * Return: the address, or NULL if @pgoff is out of range.
 */
DC_API void *dc_region_addr(const struct dc_region *r, uint64_t pgoff);

DC_API uint64_t dc_region_size(const struct dc_region *r);       /* bytes */
DC_API uint64_t dc_region_npages(const struct dc_region *r);     /* 4 KiB pages */
DC_API unsigned dc_region_folio_order(const struct dc_region *r);
DC_API enum dc_region_type dc_region_type(const struct dc_region *r);
DC_API const char *dc_region_spec(const struct dc_region *r);
DC_API int dc_region_fd(const struct dc_region *r); /* the backing fd; page P at offset P * 4 KiB */
/* The smallest unit the fd maps in: 2^order pages (9: hugetlb memfd; a
 * device-dax device's alignment: 9 or 18; 0 otherwise). */
DC_API unsigned dc_region_map_order(const struct dc_region *r);

struct dc_region_stats {
	uint64_t npages;            /* 4 KiB pages */
	uint64_t nfolios;           /* folios (npages >> folio order) */
	uint64_t sections;          /* metadata sections that exist */
	uint64_t sections_max;      /* sections a fully touched region has */
	uint64_t metadata_bytes;    /* bytes of metadata allocated now */
	uint64_t metadata_bytes_full; /* bytes with every section allocated */
	uint64_t busy;              /* liveness references: non-idle folios + transient
				     * holders (the region's own initial one not counted) */
};

/** dc_region_stats() - fill @st.  Context: any; counts are snapshots. */
DC_API void dc_region_stats(struct dc_region *r, struct dc_region_stats *st);

/**
 * dc_region_flush() - make [pgoff, pgoff+nr) durable: cache-line write-back
 * and a fence for memory backends, msync for file backends.
 * Context: may sleep (file backends).
 * Return: 0 or a negative errno (-EINVAL out of range).
 */
DC_API int dc_region_flush(struct dc_region *r, uint64_t pgoff, uint64_t nr);

/*
 * Device-dax devices as libdaxctl describes them (the machine's /dev/daxX.Y
 * character devices; the devdax: backend takes its size and alignment from
 * here).
 */
enum dc_daxdev_mode {
	DC_DAXDEV_DEVDAX = 0,     /* bound to device_dax: mappable as devdax: */
	DC_DAXDEV_SYSTEM_RAM = 1, /* bound to kmem: its memory is system RAM */
	DC_DAXDEV_DISABLED = 2,   /* no driver bound */
};

struct dc_daxdev {
	char name[32];            /* "dax0.0": sysfs's name (libdaxctl lists the
				   * device where its node is /dev/NAME) */
	uint64_t size;            /* bytes */
	uint64_t align;           /* bytes: the device's own (Linux 5.10+), else its
				   * dax region's; 0: libdaxctl knows neither */
	bool align_from_region;   /* align is the dax region's */
	bool from_sysfs;          /* described from sysfs: libdaxctl does not
				   * list it (dc_daxdev_lookup() only) */
	enum dc_daxdev_mode mode;
	int numa_node;            /* the target node; -1: none */
	int region_id, id;        /* daxREGION.ID */
	unsigned major, minor;    /* the character device's numbers */
};

/**
 * dc_daxdev_list() - the machine's device-dax devices, through libdaxctl.
 * @devs: filled with up to @max devices, sorted by region and device id.
 * @max:  entries of @devs (0: count only; @devs may then be NULL).
 * Context: process context; may sleep (reads sysfs).
 * libdaxctl lists only devices whose node is /dev/NAME: one whose node is
 * elsewhere is not in this list (dc_daxdev_lookup() of its node finds it).
 * The mode comes from the device's driver link (kmem: system-ram).
 * Return: the number of devices libdaxctl knows (possibly more than @max,
 * 0 where the machine has none); -ENOMEM; -EIO (libdaxctl cannot create a
 * context); another -errno from sysfs.
 */
DC_API int dc_daxdev_list(struct dc_daxdev *devs, size_t max);

/**
 * dc_daxdev_lookup() - the device-dax device at @path (a character device
 * node, matched by its device number), through libdaxctl; where libdaxctl
 * does not list it (its node is not /dev/NAME: a bind mount under another
 * name, a renamed node), from sysfs (/sys/dev/char/MAJOR:MINOR, a device of
 * the dax bus), with the same fields.
 * Context: process context; may sleep (reads sysfs).
 * Return: 0 (@dev filled); -EINVAL (NULL argument, or @path is not a
 * character device); -ENODEV (a character device that neither libdaxctl
 * nor sysfs has as a device-dax device: dc_errmsg() names the devices
 * libdaxctl knows); -ENOMEM; -EIO (libdaxctl cannot create a context);
 * another -errno from stat() (-ENOENT: no such file) or sysfs.
 */
DC_API int dc_daxdev_lookup(const char *path, struct dc_daxdev *dev);



#ifdef __cplusplus
}
#endif
#endif
