/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxcore/view.h - views: real, revocable memory mappings of an owner's
 * file in the client's address space (the kernel's vma, user page tables
 * and unmap_mapping_range()).
 *
 * A view is an address range the library reserves (anonymous PROT_NONE)
 * and fills on demand: a fault at a view address asks the owner which
 * device pages back the file pages there and maps them with one
 * mmap(MAP_SHARED | MAP_FIXED | MAP_POPULATE) of the region's file
 * descriptor per contiguous device run, MADV_DONTFORK (fault-around: a
 * window of 64 KiB by default, doubling up to 2 MiB while faults stay
 * sequential, halving down to one page while they jump around; never less
 * than a folio on regions of large folios).  Holes map the
 * zero page read-only; blocks the owner says may not be written (reflinked
 * ones) map read-only; a store there faults again, for write, and the owner
 * allocates or copies.  Loads and stores then go straight to device memory.
 *
 * Revocation is real: when the mapping layer zaps entries (truncate, punch,
 * reflink, memory failure, removal) its ->revoke callback reaches the
 * owner, which calls dc_view_file_revoke(): every page of every view of the
 * file in that range is replaced by anonymous PROT_NONE memory, one mmap per
 * contiguous range, and the TLB is flushed before that call returns.  The
 * next access faults back into the owner, which inserts a fresh entry or
 * answers SIGBUS.  Writeback's ->mkclean write-protects instead
 * (dc_view_file_mkclean()), so the next store faults and re-dirties.
 *
 * The owner-neutral interface: an owner (dcfs, device-dax, a user's own)
 * keeps one struct dc_view_file per file (the set of its views, the i_mmap
 * analogue), created with its fault step (struct dc_view_owner_ops), and
 * forwards its mappings' ->revoke and ->mkclean to it.  Owners wrap
 * dc_view_map() in a call of their own that checks the handle and takes a
 * file reference for the view (dc_dcfs_map() for dcfs).
 *
 * Faults are served two ways: dc_view_fault() (fault this range now), and
 * an opt-in process-wide SIGSEGV handler (dc_view_handler_install()) that
 * resolves an access to a view and retries the instruction, and chains to
 * the handler installed before it (or the default action) for any other
 * address.  The handler finds the view without a lock (an RCU-published
 * table); the fault work after that takes the owner's locks, so a view
 * fault raised while the same thread runs inside a daxcore callback
 * (which would deadlock) aborts with a message instead.  An access the
 * kernel would answer with SIGBUS (past the end of file, a poisoned block,
 * a file system shut down by removal) gets SIGBUS with si_addr the faulting
 * address and si_code BUS_ADRERR (BUS_MCEERR_AR for a poisoned block): the
 * SIGBUS disposition's handler is called from the SIGSEGV handler with the
 * faulting access's own context, so a handler that skips the instruction
 * works as with the kernel's SIGBUS; the default action kills with SIGBUS.
 * An instruction fetch from a view, or a store to a read-only view, is a
 * plain SIGSEGV (chained).  The handler needs about 7 KiB of stack: give an
 * alternate signal stack (SA_ONSTACK) at least 16 KiB.  A handler of one's
 * own: hand-written sigaction(SA_SIGINFO | SA_ONSTACK), not libsigsegv (no
 * SIGBUS, no chaining, not thread-safe).
 *
 * Limits: every distinct device run mapped is one kernel VMA, and
 * vm.max_map_count (65530 by default) is shared with malloc, libraries and
 * thread stacks.  The library counts the VMAs its views use and, above a
 * process-wide budget (dc_view_set_vma_budget(), default 32768 or half of
 * vm.max_map_count if that is less), revokes
 * the coldest windows back to PROT_NONE instead of failing.  A forked child
 * does not inherit what views map (device and zero-page runs are
 * MADV_DONTFORK, and fork() waits while one is being mapped): it inherits
 * only the PROT_NONE reservations, and an access there is an ordinary
 * SIGSEGV; the parent's views are not the child's (every call checks).  Kernel-side pins (io_uring registered buffers, O_DIRECT on a
 * view address) are beyond any revocation: DMA pins through the owner
 * (dc_dcfs_pin_user()).  A system call given a revoked address fails with
 * EFAULT; it does not fault the view in.
 */
#ifndef DAXCORE_VIEW_H
#define DAXCORE_VIEW_H

#include <daxcore/common.h>
#include <daxcore/region.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dc_view_file;

/* View protections (dc_view_map()). */
#define DC_VIEW_READ  0x1u
#define DC_VIEW_WRITE 0x2u /* implies READ */

/*
 * A view, caller-owned: dc_view_map() fills it, dc_view_unmap() empties it
 * (id 0).  Stale copies are harmless: every call finds the view by @id,
 * and ids are never reused.
 */
struct dc_view {
	void *addr;      /* the first byte */
	uint64_t offset; /* the file byte offset of @addr */
	uint64_t length; /* bytes */
	unsigned prot;   /* DC_VIEW_* */
	uint64_t id;     /* nonzero while mapped */
};

/* Fault flags (dc_view_fault(), the owner's ->fault). */
#define DC_VIEW_FAULT_WRITE  0x1u /* a store: make the page writable */
#define DC_VIEW_FAULT_AROUND 0x2u /* ->fault only: a neighbour of the faulting page,
				   * mapped while the view is at it: do not allocate or
				   * copy (a hole answers zero, a shared block read-only) */

/* What the owner's fault step answers. */
struct dc_view_extent {
	uint64_t index;  /* the first file page of the answer (at most the page asked) */
	uint64_t nr;     /* pages from @index with the same answer (covers the page asked) */
	uint64_t pgoff;  /* the device page of @index (ignored for @zero) */
	bool zero;       /* a hole: reads as zeros (mapped read-only) */
	bool writable;   /* may be mapped writable: a store needs no further fault */
};

/*
 * The owner's side.  Called with no daxcore lock held and no view lock held
 * (->fault may take the owner's locks and sleep).
 * ->fault(file, index, max, flags, ext): serve file page @index (flags
 *   DC_VIEW_FAULT_*; @max: the pages from @index the view would like).
 *   Fill @ext.  Return 0; -EHWPOISON (the block is poisoned: SIGBUS with
 *   si_code BUS_MCEERR_AR); -EFAULT (past the end of file), -EIO (shut
 *   down), any other negative errno: SIGBUS with BUS_ADRERR.
 *   dc_view_fault() returns the error.  The pages must stay in the file until a
 *   ->revoke of them reaches dc_view_file_revoke() (entries: the mapping
 *   layer's zap calls it).
 * ->release(file): the view's reference on @file is dropped (dc_view_unmap()
 *   of a view that dc_view_map() created; not called when map fails).
 */
/*
 * On a region whose fd maps in units of 2^dc_region_map_order() pages
 * (hugetlb, device-dax), the owner's blocks must be at least a unit, and an
 * answer that ends inside one (at the end of file) maps the whole unit.
 */
struct dc_view_owner_ops {
	int (*fault)(void *file, uint64_t index, uint64_t max, unsigned flags,
		     struct dc_view_extent *ext);
	void (*release)(void *file);
};

/**
 * dc_view_file_create() - the view set of one owner's file.
 * @r:     the region whose device pages the file's extents name.
 * @ops:   the owner's fault step; not copied (static storage).
 * @file:  the owner's file, passed to @ops.
 * @fault_around: the initial fault-around window in bytes: a power of two
 *         from 4 KiB to 2 MiB (0: 64 KiB).
 * Context: process context.
 * Return: 0 with *@out; -EINVAL (NULL, bad @fault_around, a limited region);
 * -ENOMEM.
 */
DC_API DC_MUST_CHECK int dc_view_file_create(struct dc_region *r,
					     const struct dc_view_owner_ops *ops, void *file,
					     uint64_t fault_around, struct dc_view_file **out);

/**
 * dc_view_file_destroy() - free a view set with no views left.
 * Context: process context.
 * Return: 0; -EBUSY (views remain: nothing freed); -EINVAL (NULL).
 */
DC_API int dc_view_file_destroy(struct dc_view_file *vf);

/**
 * dc_view_file_revoke() - take file pages [@index, @index + @nr) away from
 * every view of @vf: in each view, the pages from the first mapped one in
 * the range to the last are replaced by anonymous PROT_NONE with one mmap
 * (a view that maps none of them is skipped), and a fault mapping any of
 * them meanwhile will not install what it found.  The owner calls it from
 * its mappings' ->revoke (and may call it first for a whole range it is
 * about to take away, as dcfs's break layouts does).
 * Context: sleeps (mmap); takes the view set's lock and each view's lock,
 * which are never held while waiting for anything else, so the caller may
 * hold entry locks (->revoke does) and its own locks.
 */
DC_API void dc_view_file_revoke(struct dc_view_file *vf, uint64_t index, uint64_t nr);

/**
 * dc_view_file_mkclean() - write-protect file pages [@index, @index + @nr)
 * in every view of @vf (mprotect(PROT_READ) of what is mapped writable):
 * the next store faults, for write, and re-dirties.  From ->mkclean.
 * Context: as dc_view_file_revoke().
 */
DC_API void dc_view_file_mkclean(struct dc_view_file *vf, uint64_t index, uint64_t nr);

/**
 * dc_view_map() - map file bytes [@off, @off + @len) of @vf: reserve the
 * address range and fill @v.  Nothing is mapped until it faults.
 * @prot:  DC_VIEW_READ or DC_VIEW_READ | DC_VIEW_WRITE.
 * @off, @len: page-aligned, @len > 0 (on regions whose fd maps in units of
 *         2^dc_region_map_order() pages, hugetlb and device-dax: multiples
 *         of the unit).
 * The owner has taken a reference on its file for the view; the view layer
 * gives it back through ->release when the view is unmapped.
 * Context: process context; sleeps (a grace period).
 * Return: 0; -EINVAL (NULL, misaligned, zero length, bad @prot, a range past
 * 2^52 bytes); -ENOMEM (no address space that large: mmap failed, or no
 * memory); -ENOSPC (too many views).
 */
DC_API DC_MUST_CHECK int dc_view_map(struct dc_view_file *vf, uint64_t off, uint64_t len,
				     unsigned prot, struct dc_view *v);

/**
 * dc_view_unmap() - remove view @v (its address range is freed; v->id
 * becomes 0).  A view holds no folio references of its own: entries do, and
 * they stay with the owner's mapping.  A fault or pin running on the view
 * finishes first.
 * Context: sleeps (a grace period, a running fault, and the owner's
 * ->release: dcfs evicts an unlinked file at its last unmap, waiting for
 * its pins with the mount's deadline_ms, as the last close does); not while
 * the caller holds a dc_view_resolve() of the same view.
 * Return: 0; -EINVAL (NULL, or not mapped: unmapped already, never mapped);
 * -ENOMEM (nothing changed: try again).
 */
DC_API int dc_view_unmap(struct dc_view *v);

/**
 * dc_view_fault() - fault bytes [@off, @off + @len) of view @v in now
 * (relative to v->addr), for read or, with DC_VIEW_FAULT_WRITE, for write,
 * the way an access would (fault-around included), without a signal.
 * Context: sleeps (the owner's fault step); not from a daxcore callback.
 * Return: 0; -EINVAL (not mapped, range outside the view, flags);
 * -ENOMEM (no memory, or mmap refused: vm.max_map_count); -EIO (the
 * owner's answer does not cover the page, or a write fault was answered
 * read-only); -EACCES (a write fault of a read-only view); -EDEADLK (called from inside
 * a daxcore callback or with a view lock held); the owner's error for the
 * first page it could not serve (-EFAULT past the end of file, -EHWPOISON
 * poisoned, -EIO shut down, -ENOSPC, ...): the pages before it stay mapped.
 */
DC_API int dc_view_fault(const struct dc_view *v, uint64_t off, uint64_t len, unsigned flags);

/**
 * dc_view_handler_install() - install the process-wide SIGSEGV handler
 * (SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART) that serves faults at
 * view addresses and chains to the previous disposition for all others.
 * Idempotent (a second call changes nothing).
 * Context: process context; not async-signal-safe.
 * Return: 0; a negative errno from sigaction().
 */
DC_API int dc_view_handler_install(void);

/**
 * dc_view_handler_remove() - restore the disposition found at install time
 * (if the handler is still the installed one).
 * Context: process context.
 * Return: 0; -EBUSY (another handler was installed on top: nothing changed);
 * a negative errno from sigaction().
 */
DC_API int dc_view_handler_remove(void);

/* A view address translated (dc_view_resolve()). */
struct dc_view_ref {
	void *file;                          /* the owner's file */
	const struct dc_view_owner_ops *ops; /* the owner (compare to recognise one's own) */
	uint64_t offset;                     /* the file byte offset of the address */
	uint64_t id;                         /* the view's id */
	void *view;                          /* the library's: what dc_view_resolve_put() lets go */
};

/**
 * dc_view_resolve() - which file and offset the bytes [@addr, @addr + @len)
 * of a view are (the first step of pin_user_pages(); owners use it in their
 * pin call, dc_dcfs_pin_user()).  The bytes must lie in one view, and with
 * @write in a writable one.  The view stays mapped until
 * dc_view_resolve_put(): the owner pins by offset meanwhile.
 * Context: any thread; takes a reference on the view.
 * Return: 0 with @ref filled; -EFAULT (not a view address, the range leaves
 * the view, or @write on a read-only view); -EINVAL (NULL, @len 0).
 */
DC_API int dc_view_resolve(const void *addr, uint64_t len, bool write, struct dc_view_ref *ref);

/** dc_view_resolve_put() - let go of the view dc_view_resolve() held. */
DC_API void dc_view_resolve_put(struct dc_view_ref *ref);

struct dc_view_stats {
	uint64_t views;           /* mapped now */
	uint64_t vmas;            /* kernel VMAs the views use now (an estimate the
				   * library keeps exactly for what it mapped) */
	uint64_t vma_budget;      /* dc_view_set_vma_budget() */
	uint64_t faults;          /* faults served (signal and explicit) */
	uint64_t signal_faults;   /* of which through the SIGSEGV handler */
	uint64_t pages_mapped;    /* pages mapped by faults (fault-around included) */
	uint64_t retries;         /* faults whose window a revoke took meanwhile */
	uint64_t revokes;         /* ranges revoked (one mmap each) */
	uint64_t budget_revokes;  /* cold windows revoked to stay in the VMA budget */
	uint64_t sigbus;          /* accesses answered with SIGBUS */
};

/** dc_view_stats() - process-wide counters.  Context: any; snapshots. */
DC_API void dc_view_stats(struct dc_view_stats *st);

/**
 * dc_view_set_vma_budget() - the number of VMAs views may use before cold
 * windows are revoked (default 32768, or half of vm.max_map_count if that
 * is less; keep it well under vm.max_map_count).
 * Context: any.
 * Return: 0; -EINVAL (@n below 16).
 */
DC_API int dc_view_set_vma_budget(uint64_t n);

#ifdef __cplusplus
}
#endif
#endif
