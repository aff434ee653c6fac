/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxcore/dcfs.h - dcfs, the reference owner: a small DAX file system on a
 * region whose file pages are the device pages themselves (no page cache).
 *
 * A mount claims its region as holder.  Its files live in one flat
 * namespace; each has an extent map from file pages to device pages, a
 * daxcore mapping (the entries that faults insert and pins go through) and
 * two locks, as a Linux inode has: the I/O lock (i_rwsem: read/write and
 * the operations that change the layout) and the invalidate lock (faults
 * shared; truncate, punch, zero, collapse and insert exclusive, dropped
 * while they wait for pins).
 *
 * Blocks: 4 KiB on regions of 4 KiB folios (a large write prefers 2 MiB
 * aligned runs, so faults can map them with one PMD entry), the folio size
 * (2 MiB or 1 GiB) on regions of larger folios.  A block newly given to a
 * file reads as zeros (it is zeroed when allocated: invariant 11).  A block
 * returns to the allocator only after the entries that mapped it are
 * zapped, no longer busy (pins drained) and deleted (invariant 4): no DMA
 * ever lands in a block that belongs to another file.
 *
 * Handles: a file descriptor is a non-negative int that names an
 * open file of one mount, with its mode; a closed or forged one gives
 * -EBADF (descriptors carry a 15-bit generation, and a slot whose
 * generation runs out is retired, so a stale descriptor is never taken
 * for a later open).  A pin set (struct dc_dcfs_pinset) is caller-owned
 * and unpinned exactly once.
 *
 * Mount options (a comma-separated list; one table in src/dcfs/options.c):
 *   sync              writes persist at fault time: faults insert no DIRTY
 *                     entries (the MAP_SYNC analogue) and pwrite flushes
 *                     what it wrote before it returns
 *   slow_wait_ms=N    a break-layouts wait longer than N ms reports once,
 *                     through ops->event, the pins it waits for (default
 *                     5000; 0 reports at the first wait)
 *   deadline_ms=N     the default deadline of the waits that take none from
 *                     the caller: eviction at the last close of an unlinked
 *                     file, and unmount (default 0: wait forever)
 *   quarantine        truncate, punch, zero, collapse, insert, reflink (its
 *                     destination) and eviction do not wait for pins: still-pinned blocks leave the
 *                     file at once and wait in a quarantine (counted in
 *                     statfs) until their last unpin returns them
 *   fault_around=N    the first fault-around window of a view, in bytes (a
 *                     power of two from 4096 to 2M; default 64K; K, M suffixes)
 * An unknown option or a malformed value: -EINVAL naming it.
 *
 * Sharing (reflink): files may share blocks (dc_dcfs_reflink()).  A shared
 * block is read-only to every sharer: a write (pwrite, a write fault, a
 * write pin) copies it first (copy-on-write), and the other sharers keep
 * the original.  Each block has a share count and a reverse map to every
 * (file, offset) that maps it (dc_dcfs_rmap()), under the allocator's one
 * lock; a block returns to the allocator only when no file shares it and
 * it is idle (invariant 9).  A block whose last sharer lets go while
 * something still holds it (a pin) waits in the quarantine until idle.
 *
 * Failure: a memory failure (dc_folio_memory_failure()) of a block is
 * reported to every file that maps it (DC_DCFS_EV_MEMORY_FAILURE), its
 * mappings are revoked, and the block is bad for good: reads and faults of
 * that range fail with -EIO until it is punched (or truncated away) and
 * written again.  Removal of the region (DC_MF_PRE_REMOVE) shuts the mount
 * down: every mapping is revoked, long-term pins are asked back, and every
 * call but close, unpin, stat, lookup, list, pins, rmap, statfs, check
 * and unmount fails with -EIO; once no call runs the mount lets go of the region, so removal
 * completes as soon as the pins are released.
 *
 * Errors: negative errno values, with dc_errmsg() saying exactly what was
 * wrong.  Common to every call that takes a descriptor: -EBADF (not open,
 * closed, or open read-only for an operation that writes); -EINVAL (NULL
 * argument, offset or length out of range, lengths that overflow); -EFBIG
 * (beyond DC_DCFS_SIZE_MAX); -EIO (the file system was shut down).
 */
#ifndef DAXCORE_DCFS_H
#define DAXCORE_DCFS_H

#include <daxcore/common.h>
#include <daxcore/region.h>
#include <daxcore/wait.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dc_dcfs;

/* The largest file size: file page indexes stay below 2^40. */
#define DC_DCFS_SIZE_MAX (UINT64_C(1) << 52)
#define DC_DCFS_NAME_MAX 255
#define DC_DCFS_TAG_MAX 31

/* Open flags. */
#define DC_DCFS_RDONLY 0x0u
#define DC_DCFS_RDWR   0x1u

/* One pin as dc_dcfs_pins() and the slow-wait event list them. */
struct dc_dcfs_pin_info {
	uint64_t id;                   /* the pin set's id */
	uint64_t ino;
	uint64_t offset;               /* byte offset in the file */
	uint64_t length;               /* bytes */
	uint64_t pages;                /* 4 KiB pages it holds */
	uint64_t age_ns;               /* since it was taken */
	unsigned flags;                /* DC_DCFS_PIN_* */
	char tag[DC_DCFS_TAG_MAX + 1]; /* the caller's tag */
};

/* Events a mount reports through ops->event. */
enum dc_dcfs_event_type {
	/* A break-layouts wait passed slow_wait_ms: who holds the pins. */
	DC_DCFS_EV_SLOW_WAIT = 1,
	/* A block of the file is poisoned: @offset, @length say which bytes
	 * (one report per file range that maps it: every sharer is told). */
	DC_DCFS_EV_MEMORY_FAILURE = 2,
};

struct dc_dcfs_event {
	enum dc_dcfs_event_type type;
	uint64_t ino;
	const char *op;          /* "truncate", "punch", "zero", "collapse", "insert", "evict",
				  * "reflink"; "memory_failure" */
	uint64_t offset, length; /* the byte range being broken (length UINT64_MAX: to EOF) */
	uint64_t waited_ns;      /* how long the operation has waited so far */
	unsigned npins;          /* pins on the range (at most 16 listed) */
	const struct dc_dcfs_pin_info *pins;
	const char *name;        /* the file's name (NULL: unlinked) */
	uint64_t pgoff;          /* MEMORY_FAILURE: the first poisoned device page */
};

/*
 * ->event(fs, ev, arg): called in the thread that waits, with no daxcore
 * lock held and, of dcfs's, only the I/O lock of the file being changed
 * (the operation holds it throughout).  The callback may look (stat,
 * lookup, list, dc_dcfs_pins(), an iomap query), fault (dc_dcfs_fault(); not
 * a view access: a view fault inside a callback aborts) and pin, and
 * release pins (dc_dcfs_unpin()); it must not read, write, fsync or change
 * the layout of any file of the mount: on its own file those calls fail
 * with -EDEADLK, and on another file they may wait for an operation whose
 * own callback waits for this one (two truncates, each reporting).  @ev and
 * what it points to live for the call only.
 */
struct dc_dcfs_ops {
	void (*event)(struct dc_dcfs *fs, const struct dc_dcfs_event *ev, void *arg);
};

/**
 * dc_dcfs_mount() - mount a dcfs on region @r: claim it as holder (the
 * kernel's fs_dax_claim_bdev()) and start with an empty namespace.
 * @options: the mount options (above); NULL or "" for the defaults.
 * @ops:     callbacks; may be NULL.  Copied.
 * Context: process context.
 * Return: 0 with *@out set; -EINVAL (NULL, bad option: named in
 * dc_errmsg(), a limited or devdax region); -EBUSY (the region has a holder: mounted already); -ENXIO (being
 * removed); -ENOMEM.
 */
DC_API DC_MUST_CHECK int dc_dcfs_mount(struct dc_region *r, const char *options,
				       const struct dc_dcfs_ops *ops, void *arg,
				       struct dc_dcfs **out);

/**
 * dc_dcfs_unmount() - evict every file and release the region.
 * @opts: deadline / cancel for evictions that wait for pins (files whose
 *        eviction timed out earlier); NULL: the mount's deadline_ms.
 * Context: sleeps (grace periods, pins of evicted files draining).
 * Blocks still in the quarantine (held by references other than pin
 * sets) are waited for, with @opts.
 * Return: 0 (@fs is freed); -EBUSY (files are open, views are mapped, pins are held, or a
 * call on a file is still running, e.g. a close evicting it: nothing
 * changed; or quarantined blocks stayed busy past the deadline); -ETIMEDOUT, -EINTR (an eviction still waits: the mount stays,
 * call again); -EINVAL (NULL).  Create and open fail with -EIO while an
 * unmount runs.
 */
DC_API int dc_dcfs_unmount(struct dc_dcfs *fs, const struct dc_wait_opts *opts);

/* ---- namespace --------------------------------------------------------- */

/**
 * dc_dcfs_create() - create an empty file @name and open it read-write.
 * Context: process context.
 * Return: a descriptor (>= 0); -EEXIST; -EINVAL (name empty, longer than
 * DC_DCFS_NAME_MAX, or containing '/'); -EMFILE (65,536 descriptors
 * open);
 * -ENOMEM; -EIO (shut down).
 */
DC_API DC_MUST_CHECK int dc_dcfs_create(struct dc_dcfs *fs, const char *name);

/**
 * dc_dcfs_open() - open the existing file @name with @flags
 * (DC_DCFS_RDONLY or DC_DCFS_RDWR).
 * Return: a descriptor; -ENOENT; -EINVAL (name, flags); -EMFILE; -ENOMEM;
 * -EIO.
 */
DC_API DC_MUST_CHECK int dc_dcfs_open(struct dc_dcfs *fs, const char *name, unsigned flags);

/**
 * dc_dcfs_close() - close @fd.  The last close of an unlinked file evicts
 * it: break layouts on the whole file, waiting for its pins to drain (seed
 * 004 patch 05) with the mount's deadline_ms, then free its blocks.
 * Context: sleeps (eviction).
 * Return: 0; -EBADF; -ETIMEDOUT or -EINTR from the eviction: @fd is closed
 * all the same and the file waits as an orphan, evicted when its last pin
 * set is released (or by the unmount).
 */
DC_API int dc_dcfs_close(struct dc_dcfs *fs, int fd);

/**
 * dc_dcfs_unlink() - remove @name.  The file lives on while descriptors
 * hold it (the last close evicts it); a file with none open is evicted
 * now, which waits for its pins as close does.
 * Context: sleeps (eviction of a file with nothing open).
 * Return: 0; -ENOENT; -EINVAL; -ETIMEDOUT, -EINTR (eviction, as close:
 * the name is gone all the same and the file waits as an orphan).
 */
DC_API int dc_dcfs_unlink(struct dc_dcfs *fs, const char *name);

/**
 * dc_dcfs_rename() - rename @from to @to; a file already called @to is
 * replaced (unlinked), as rename(2) does.  Renaming a name to itself does
 * nothing.
 * Return: 0; -ENOENT (@from); -EINVAL (a name); -ENOMEM; -ETIMEDOUT, -EINTR (the
 * eviction of the replaced file, as close).
 */
DC_API int dc_dcfs_rename(struct dc_dcfs *fs, const char *from, const char *to);

struct dc_dcfs_stat {
	uint64_t ino;          /* never reused within a mount */
	uint64_t size;         /* bytes */
	uint64_t blocks;       /* 4 KiB pages allocated to the file */
	uint64_t extents;      /* records in its extent map */
	uint64_t entries;      /* entries in its mapping (faulted ranges) */
	uint64_t pinned_pages; /* pages held by its pin sets */
	uint64_t shared;       /* pages in blocks shared with another file or range */
	uint32_t nlink;        /* 1, or 0 once unlinked */
	uint32_t nopen;        /* open descriptors */
};

/**
 * dc_dcfs_lookup() - stat the file called @name.
 * Return: 0; -ENOENT; -EINVAL.
 */
DC_API int dc_dcfs_lookup(struct dc_dcfs *fs, const char *name, struct dc_dcfs_stat *st);

/** dc_dcfs_fstat() - stat an open file.  Return: 0; -EBADF; -EINVAL. */
DC_API int dc_dcfs_fstat(struct dc_dcfs *fs, int fd, struct dc_dcfs_stat *st);

struct dc_dcfs_dirent {
	uint64_t ino;
	char name[DC_DCFS_NAME_MAX + 1];
};

/**
 * dc_dcfs_list() - list the namespace in inode order, @max names at a
 * time: start with *@cursor = 0; each call continues after the last name
 * it returned.  Files created meanwhile appear if their ino is past the
 * cursor; unlinked ones disappear.
 * Return: the number of entries filled (0: the end); -EINVAL.
 */
DC_API int dc_dcfs_list(struct dc_dcfs *fs, uint64_t *cursor, struct dc_dcfs_dirent *ents,
			unsigned max);

/* ---- data ---------------------------------------------------------------- */

/**
 * dc_dcfs_pread() - copy up to @len bytes at @off into @buf, through the
 * region's linear map; holes read as zeros; short at end of file.
 * Context: takes the file's I/O lock shared.
 * Return: the bytes read (0 at or beyond EOF); -EBADF; -EINVAL; -EIO.
 */
DC_API int64_t dc_dcfs_pread(struct dc_dcfs *fs, int fd, void *buf, size_t len, uint64_t off);

/**
 * dc_dcfs_pwrite() - copy @len bytes from @buf to @off, allocating blocks
 * (zeroed) where the file has none and extending the size.  A hole that a
 * read fault mapped to the zero page is unmapped, so the next fault sees
 * the new block.
 * Context: takes the file's I/O lock exclusive.
 * Return: the bytes written; if the file system fills up part-way, the
 * bytes written before that (or -ENOSPC if none: a write that wrote
 * nothing leaves the size as it was); -EBADF (read-only);
 * -EINVAL; -EFBIG (past DC_DCFS_SIZE_MAX); -ENOMEM; -EIO.
 */
DC_API int64_t dc_dcfs_pwrite(struct dc_dcfs *fs, int fd, const void *buf, size_t len,
			      uint64_t off);

/**
 * dc_dcfs_fsync() - make the file's data durable: the ranges pwrite wrote,
 * then the DIRTY entries of faults (dc_mapping_writeback()), through the
 * backend's flush (cache-line write-back, or msync for file: regions).
 * @datasync: fdatasync (dcfs has no metadata on the device: the same).
 * Context: sleeps (entry locks, msync).
 * Return: 0; -EBADF; an errno from the flush.
 */
DC_API int dc_dcfs_fsync(struct dc_dcfs *fs, int fd, bool datasync);

/**
 * dc_dcfs_truncate() - set the file's size.  Shrinking breaks layouts from
 * the new end (waiting for pins, with @opts), deletes the entries, zeroes
 * the tail of the last block and frees the blocks past it; growing exposes
 * a hole.
 * Context: sleeps; I/O lock and invalidate lock exclusive (the invalidate
 * lock dropped while it waits for pins).
 * A pin another file holds on a block that file still shares is not
 * waited for (the block stays with that file), unless this file holds a
 * pin there too or has a pin call in flight (at any offset): then the
 * truncate waits for every pin on that block, whoever holds it (the busy
 * test sees the block, not the file).
 * Return: 0; -EBADF; -EFBIG; -ETIMEDOUT, -EINTR (@opts: the file is as it
 * was, only its faulted pages need faulting again); -ENOSPC, -ENOMEM (the
 * new last block, shared or, with the quarantine, pinned, could not be
 * copied: nothing changed); -EIO.
 */
DC_API int dc_dcfs_truncate(struct dc_dcfs *fs, int fd, uint64_t size,
			    const struct dc_wait_opts *opts);

/* dc_dcfs_fallocate() modes. */
#define DC_DCFS_FALLOC_ALLOC    0u /* allocate (zeroed) blocks; extends the size */
#define DC_DCFS_FALLOC_PUNCH    1u /* free whole blocks, zero partial ones; size kept */
#define DC_DCFS_FALLOC_ZERO     2u /* the range reads zeros, blocks allocated; extends */
#define DC_DCFS_FALLOC_COLLAPSE 3u /* remove the range, shift the rest down */
#define DC_DCFS_FALLOC_INSERT   4u /* insert a hole, shift the rest up */

/**
 * dc_dcfs_fallocate() - the fallocate(2) modes that xfstests'
 * t_mmap_collision races against DMA into DAX mappings.  Each breaks
 * layouts on the range it changes (collapse and insert: from @off to the
 * end of file) before it deletes entries and frees or moves blocks, so a
 * pin in the range makes it wait (with @opts).  Collapse and insert move
 * extents, not data.
 * @mode: DC_DCFS_FALLOC_*.  @len 0: nothing to do (0).
 * Collapse: @off and @len multiples of the block size, @off + @len below
 * the size.  Insert: both multiples of the block size, @off below the size
 * (as fallocate(2): an insert at the end of file is -EINVAL; grow with
 * truncate), the new size within DC_DCFS_SIZE_MAX.
 * Context: as dc_dcfs_truncate().
 * Return: 0; -EBADF; -EINVAL (mode, alignment, range); -EFBIG; -ENOSPC
 * (ALLOC and ZERO: blocks allocated before the failure stay, the size does
 * not change); -ETIMEDOUT, -EINTR (nothing changed); -EIO.
 */
DC_API int dc_dcfs_fallocate(struct dc_dcfs *fs, int fd, unsigned mode, uint64_t off,
			     uint64_t len, const struct dc_wait_opts *opts);

/* ---- the iomap step and faults --------------------------------------------- */

enum dc_dcfs_iomap_type {
	DC_DCFS_IOMAP_HOLE = 0,   /* no block: reads as zeros */
	DC_DCFS_IOMAP_MAPPED = 1, /* a block of this file */
	DC_DCFS_IOMAP_SHARED = 2, /* a block shared by reflink: read-only, a write copies it */
};

struct dc_dcfs_iomap {
	enum dc_dcfs_iomap_type type;
	uint64_t offset;  /* byte offset in the file where the mapping starts */
	uint64_t length;  /* bytes it covers (the extent, or the hole, clipped to the request) */
	uint64_t pgoff;   /* MAPPED, SHARED: the device page of @offset */
	bool fresh;       /* allocated by this call */
};

/* dc_dcfs_iomap() flags. */
#define DC_DCFS_IOMAP_WRITE 0x1u /* allocate a hole (one block) */

/**
 * dc_dcfs_iomap() - the block-mapping step (iomap ->iomap_begin): what
 * backs the byte at @off, and how far the same answer goes (up to @len).
 * With DC_DCFS_IOMAP_WRITE a hole gets a zeroed block (one block, or a
 * 2 MiB run when @len asks for that much on a 4 KiB region) and a shared
 * block is answered as it is (SHARED: the write paths copy it).  Offsets past
 * the end of file are holes (and are not allocated).
 * Context: a query takes the file's extent lock only (a pin holder may ask
 * while a truncate waits for its pin); with DC_DCFS_IOMAP_WRITE also the
 * I/O lock exclusive.
 * Return: 0; -EBADF (write on read-only); -EINVAL; -ENOSPC; -ENOMEM.
 */
DC_API int dc_dcfs_iomap(struct dc_dcfs *fs, int fd, uint64_t off, uint64_t len, unsigned flags,
			 struct dc_dcfs_iomap *map);

/* dc_dcfs_fault() flags. */
#define DC_DCFS_FAULT_WRITE 0x1u

struct dc_dcfs_fault_result {
	void *addr;      /* linear-map address of file page @index's first byte */
	uint64_t pgoff;  /* its device page (for a view: the region fd's offset / 4 KiB) */
	uint64_t index;  /* the first file page of the entry */
	unsigned order;  /* the entry's order: it maps 2^order pages from index */
	bool zero;       /* a read fault of a hole: the shared zero page */
	bool writable;   /* false for the zero page and for a shared block (map it
			  * read-only: a write faults again, for write, and copies) */
};

/**
 * dc_dcfs_fault() - serve a fault of file page @index (the page-fault
 * handler a view calls): under the invalidate lock held shared, grab the
 * entry, ask the iomap step, insert (DIRTY on a write fault unless mounted
 * sync), unlock.  A read fault of a hole maps the zero page (a ZERO entry:
 * no block, no reference); a write fault there allocates a block and
 * replaces it.  A read fault of a shared block maps it read-only (a CoW
 * entry); a write fault of one copies it to a new block of this file
 * (allocate, copy, remap, drop one share: the other sharers keep the
 * original, even while it is pinned).
 * @order: the largest entry the caller can map (0; 9 for 2 MiB; 18 for
 *         1 GiB, which only regions of 1 GiB folios use); on
 *         regions of larger folios every entry is one folio, whatever it
 *         says.  The result says what was mapped.
 * Context: sleeps (entry lock, invalidate lock).
 * Return: 0; -EFAULT (@index at or past the end of file: SIGBUS);
 * -EBADF (write fault on a read-only descriptor); -EINVAL (@order,
 * flags); -ENOSPC; -ENOMEM; -EIO (shut down, or the block is poisoned).
 */
DC_API DC_MUST_CHECK int dc_dcfs_fault(struct dc_dcfs *fs, int fd, uint64_t index,
				       unsigned flags, unsigned order,
				       struct dc_dcfs_fault_result *res);

/* ---- DMA pins ------------------------------------------------------------------ */

/* dc_dcfs_pin() flags. */
#define DC_DCFS_PIN_READONLY 0x1u /* the DMA only reads memory: holes may pin the zero page */
#define DC_DCFS_PIN_LONGTERM 0x2u /* long-term: only with a revoke callback (dc_dcfs_pin_revocable()) */

/* One contiguous piece of device memory a pin set holds. */
struct dc_dcfs_seg {
	void *addr;     /* linear-map address */
	uint64_t pgoff; /* its device page (the zero page: UINT64_MAX) */
	uint64_t len;   /* bytes */
};

/*
 * A pin set: caller-owned, filled by dc_dcfs_pin(), given back once with
 * dc_dcfs_unpin().  @segs (owned by the library) cover exactly the bytes
 * [offset, offset + length) of the file, in order, contiguous device
 * memory merged into one segment.
 */
struct dc_dcfs_pinset {
	uint64_t id;          /* nonzero while pinned */
	uint64_t offset, length;
	unsigned nsegs;
	struct dc_dcfs_seg *segs;
};

/**
 * dc_dcfs_pin() - pin file bytes [@off, @off + @len) for DMA (the
 * pin_user_pages() analogue).  Missing pages are faulted in; unless
 * DC_DCFS_PIN_READONLY, for write first (DMA never writes the zero page).
 * Pins are never taken through a zapped entry (lookup, pin, re-check; on
 * failure fault again).  While pinned, truncate, punch and the other
 * operations that would free or move the blocks wait (break layouts).
 * @tag: a short string naming the holder (up to DC_DCFS_TAG_MAX bytes are
 *       kept; NULL: "").
 * Context: sleeps (faults).
 * Return: 0 with @ps filled; -EBADF (a write pin on a read-only
 * descriptor); -EFAULT (the range reaches past the end of file);
 * -EINVAL (@len 0, overflow, flags, NULL); -EOPNOTSUPP (LONGTERM: a
 * long-term pin must register a revoke callback, dc_dcfs_pin_revocable());
 * -EOVERFLOW (a folio of the range holds DC_FOLIO_REF_MAX references:
 * each pinned page counts DC_PIN_BIAS, so a 2 MiB folio takes 2,047 pins of
 * all its pages, a 1 GiB folio 3); -ENOSPC, -ENOMEM (nothing stays pinned
 * on any error); -EIO.
 */
DC_API DC_MUST_CHECK int dc_dcfs_pin(struct dc_dcfs *fs, int fd, uint64_t off, uint64_t len,
				     unsigned flags, const char *tag, struct dc_dcfs_pinset *ps);

/* What a revoke callback is told: which pin to give back, and why. */
struct dc_dcfs_revoke {
	uint64_t id;             /* the pin set's id (struct dc_dcfs_pinset.id) */
	uint64_t ino;
	uint64_t offset, length; /* the byte range being taken away (length UINT64_MAX: to EOF) */
	const char *op;          /* "truncate", "punch", ..., "reflink", "evict",
				  * "memory_failure", "shutdown" */
	const char *tag;         /* the pin's tag */
};

/*
 * A revoke callback: asked, once per pin, to give the pin set back
 * (dc_dcfs_unpin(), from inside the callback or later from any thread).
 * Runs in the thread that breaks the layout, with no daxcore lock held.
 * It must not wait for the operation that called it (it returns before
 * that operation waits for the pin).
 */
typedef void (*dc_dcfs_revoke_fn)(struct dc_dcfs *fs, const struct dc_dcfs_revoke *rv,
				  void *arg);

/**
 * dc_dcfs_pin_revocable() - a revocable long-term pin (the "layout lease"
 * the kernel never merged): dc_dcfs_pin() with DC_DCFS_PIN_LONGTERM implied
 * and @revoke registered.  An operation that would free, move or copy the
 * pinned blocks (truncate, punch, zero, collapse, insert, reflink over it,
 * eviction), a memory failure of them and device removal call @revoke for
 * the pin, once, before they take their locks, and then wait for the pin
 * to come back (with their own deadline and cancel; the slow-wait report
 * names it by tag).  With the quarantine option they do not wait.
 * @flags: DC_DCFS_PIN_READONLY and/or DC_DCFS_PIN_LONGTERM.
 * Context: sleeps (faults).
 * Return: as dc_dcfs_pin(); -EOPNOTSUPP (@revoke NULL); -EAGAIN (an
 * operation is asking the range's pins back right now: try again after it).
 */
DC_API DC_MUST_CHECK int dc_dcfs_pin_revocable(struct dc_dcfs *fs, int fd, uint64_t off,
					       uint64_t len, unsigned flags, const char *tag,
					       dc_dcfs_revoke_fn revoke, void *arg,
					       struct dc_dcfs_pinset *ps);

/**
 * dc_dcfs_unpin() - release a pin set: every page it pinned is unpinned
 * once, a break-layouts wait on it wakes, and @ps->id becomes 0.
 * Context: may sleep (a last unpin of an evicted file frees it: a grace
 * period, and finishes an eviction that timed out); from ->event too.
 * Return: 0; -EINVAL (@ps is not pinned: unpinned already, never pinned,
 * or forged; nothing is released).
 */
DC_API int dc_dcfs_unpin(struct dc_dcfs *fs, struct dc_dcfs_pinset *ps);

/**
 * dc_dcfs_pins() - list the pin sets that hold bytes of [@off, @off + @len)
 * of @fd's file (@len UINT64_MAX: to the end), oldest first.
 * Return: the number of such pins (may exceed @max: @out holds the first
 * @max); -EBADF; -EINVAL.
 */
DC_API int dc_dcfs_pins(struct dc_dcfs *fs, int fd, uint64_t off, uint64_t len,
			struct dc_dcfs_pin_info *out, unsigned max);

/* ---- views (include/daxcore/view.h) -------------------------------------------- */

struct dc_view;

/**
 * dc_dcfs_map() - map file bytes [@off, @off + @len) of @fd's file into the
 * caller's address space (mmap(MAP_SHARED)): fill @v.  Faults (the SIGSEGV
 * handler, dc_view_fault()) go through dcfs's fault step (what
 * dc_dcfs_fault() does, by inode, with fault-around); truncate, punch,
 * reflink, memory failure and shutdown revoke what they take away.  The
 * view holds a reference on the file (it stays after close, as an mmap
 * does) and keeps the mount from unmounting; dc_view_unmap() ends it.  A
 * view may reach past the end of file: those pages get SIGBUS until the
 * file grows.
 * @prot: DC_VIEW_READ, or DC_VIEW_READ | DC_VIEW_WRITE.
 * Context: process context.
 * Return: 0; -EBADF (@fd not open; a write view of a read-only descriptor);
 * -EINVAL (misaligned, zero length, past DC_DCFS_SIZE_MAX, bad @prot);
 * -EIO (shut down); -ENODEV (an unmount is running); -ENOMEM; -ENOSPC.
 */
DC_API DC_MUST_CHECK int dc_dcfs_map(struct dc_dcfs *fs, int fd, uint64_t off, uint64_t len,
				     unsigned prot, struct dc_view *v);

/**
 * dc_dcfs_pin_user() - pin the bytes of a view of a file of @fs at
 * [@addr, @addr + @len) for DMA (pin_user_pages() on a DAX mapping): the
 * address is translated to (file, offset) and pinned as dc_dcfs_pin()
 * would, faulting in what is missing; the pin set is then the caller's to
 * dc_dcfs_unpin().  A pin never goes through a revoked page: it pins the
 * file's entries, never the view's mappings.
 * @flags: DC_DCFS_PIN_READONLY (the DMA only reads memory); without it the
 *         view must be writable.
 * Context: sleeps.
 * Return: as dc_dcfs_pin(), and -EFAULT (not an address of a view of @fs,
 * the range leaves its view, a write pin through a read-only view: the
 * file is unchanged).
 */
DC_API DC_MUST_CHECK int dc_dcfs_pin_user(struct dc_dcfs *fs, const void *addr, uint64_t len,
					  unsigned flags, const char *tag,
					  struct dc_dcfs_pinset *ps);

/* ---- sharing ---------------------------------------------------------------------- */

/**
 * dc_dcfs_reflink() - share the blocks of @src_fd's bytes [@src_off,
 * @src_off + @len) with @dst_fd's bytes from @dst_off (FICLONERANGE):
 * afterwards both files read the same data from the same device blocks,
 * each block's share count is one higher, and the first write to a shared
 * block by either file copies it.  Breaks layouts on both ranges first
 * (revoking long-term pins, waiting for pins with @opts: a DMA into the
 * source must not change both files), then frees what the destination
 * range held.  Holes in the source become holes.  The destination grows to
 * @dst_off + @len if it was shorter.
 * Offsets and @len are multiples of the block size, except that @len may
 * end at the source's end of file; @len 0 does nothing.  @src_fd and
 * @dst_fd may be the same file if the ranges do not overlap.
 * Context: sleeps; both files' I/O and invalidate locks (in ino order).
 * Return: 0; -EBADF (@dst_fd read-only, or not open); -EINVAL (misaligned,
 * overlapping, @src_off + @len past the source's end, overflow);
 * -EFBIG; -EOVERFLOW (a block has 2^20 - 1 sharers); -ENOSPC (the
 * destination's old last block, shared, could not be copied before its
 * tail is zeroed: nothing changed); -ENOMEM (the
 * destination may be partly cloned: each block is either cloned or a
 * hole); -ETIMEDOUT, -EINTR (@opts: nothing changed); -EIO.
 */
DC_API int dc_dcfs_reflink(struct dc_dcfs *fs, int src_fd, uint64_t src_off, int dst_fd,
			   uint64_t dst_off, uint64_t len, const struct dc_wait_opts *opts);

enum dc_dcfs_block_state {
	DC_DCFS_BLOCK_FREE = 0,
	DC_DCFS_BLOCK_USED = 1,        /* in one or more files */
	DC_DCFS_BLOCK_QUARANTINED = 2, /* no file has it; still referenced (pinned) */
	DC_DCFS_BLOCK_BAD = 3,         /* poisoned: never allocated again */
};

/* One (file, offset) that maps a block. */
struct dc_dcfs_owner {
	uint64_t ino;
	uint64_t offset; /* byte offset in the file of the block's first byte */
};

struct dc_dcfs_block {
	enum dc_dcfs_block_state state;
	uint32_t shares;  /* files (ranges) that map it: 0 free, 1 owned, more shared */
	uint64_t block;   /* the block number (device page >> block order) */
	bool poisoned;    /* bad, or poisoned while still in a file */
};

/**
 * dc_dcfs_rmap() - the reverse map: what block holds device page @pgoff,
 * and every (file, offset) that maps it (all sharers), in ino order.
 * @out: the first @max owners (may be NULL with @max 0).
 * Context: takes the allocator lock; a snapshot.
 * Return: the number of owners (may exceed @max); -EINVAL (NULL, @pgoff
 * past the region).
 */
DC_API int dc_dcfs_rmap(struct dc_dcfs *fs, uint64_t pgoff, struct dc_dcfs_block *blk,
			struct dc_dcfs_owner *out, unsigned max);

/* ---- statistics and the consistency check ----------------------------------------- */

struct dc_dcfs_statfs {
	uint64_t block_size;   /* bytes */
	uint64_t blocks;       /* total */
	uint64_t blocks_free;
	uint64_t files;        /* inodes alive (linked, or open / orphaned) */
	uint64_t orphans;      /* unlinked files waiting for eviction */
	uint64_t open;         /* open descriptors */
	uint64_t pins;         /* pin sets held */
	uint64_t pinned_pages;
	uint64_t break_waits;  /* break-layouts waits for a busy page, ever */
	uint64_t slow_reports; /* slow-wait events sent */
	uint64_t faults;       /* faults served */
	uint64_t blocks_shared;      /* blocks with more than one sharer */
	uint64_t blocks_quarantined; /* blocks no file has, waiting for their last unpin */
	uint64_t blocks_bad;         /* poisoned blocks, never allocated again */
	uint64_t cow_copies;         /* shared blocks copied by a write, ever */
	uint64_t memory_failures;    /* failure reports sent (one per file range) */
	uint64_t revokes;            /* revoke callbacks called */
	uint64_t views;              /* views mapped (dc_dcfs_map()) */
	bool shutdown;               /* the region is going away: calls fail -EIO */
};

/** dc_dcfs_statfs() - fill @st (zeros for a NULL @fs).  Context: any; counts are snapshots. */
DC_API void dc_dcfs_statfs(struct dc_dcfs *fs, struct dc_dcfs_statfs *st);

/** dc_dcfs_region() - the region @fs is mounted on. */
DC_API struct dc_region *dc_dcfs_region(const struct dc_dcfs *fs);

/**
 * dc_dcfs_check() - verify the file system (quiescent: no call running):
 * extents within the region, block-aligned, not overlapping, within the
 * file; every allocated block in exactly one extent of one file and every
 * block of an extent allocated (extents <-> allocator); every free block
 * idle; every entry of a file's mapping inside its size and mapping the
 * device pages its extents say (a ZERO entry only over a hole); each
 * mapping valid (dc_mapping_check(): folio owners); pin counts equal to
 * the pin sets; the reverse map equal to the extents (every extent has
 * its records, every record its extent) and each block's share count
 * equal to its records; quarantined blocks in no file and referenced, bad
 * blocks poisoned, every other block in no file idle; nothing of the
 * region read once the mount let go of it.
 * Return: 0; -EUCLEAN with the first violation in dc_errmsg().
 */
DC_API int dc_dcfs_check(struct dc_dcfs *fs);

#ifdef __cplusplus
}
#endif
#endif
