/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dcfs_int.h - dcfs's own structures and the functions its files share.
 *
 * Objects and who protects what:
 *
 *   struct dc_dcfs (super.c)      one mount.  ns_lock: the name table, the
 *                                 inode list, nlink/nopen/state of inodes.
 *                                 fd_lock: the descriptor table.  pin_lock:
 *                                 the pin table and every inode's pin list.
 *   struct dcfs_inode (inode.c)   one file.  io_lock (rwlock, i_rwsem):
 *                                 pread shared; pwrite, truncate, fallocate,
 *                                 eviction exclusive.  invalidate (rwlock):
 *                                 faults shared; layout changes exclusive,
 *                                 dropped while break layouts sleeps.
 *                                 ext_lock (mutex): the extent map, the size,
 *                                 the dirty set, the block count.
 *   struct dcfs_alloc (alloc.c)   the block bitmap under its own mutex.
 *
 * Lock order: io_lock -> invalidate -> entry lock (daxcore) -> ext_lock ->
 * alloc lock; ns_lock, fd_lock and pin_lock are leaves (nothing else is
 * taken under them, and no callback runs under them).
 *
 * Inode lifetime: refs counts the name (while linked), each descriptor,
 * each pin set and each call in flight.  The last close of an unlinked
 * file (or the unlink of a closed one) evicts it: break layouts on the
 * whole file, delete every entry, free every block, mark it dead.  The
 * memory goes when refs reaches 0 after that (calls in flight see `dead`
 * under one of its locks and fail with -EBADF).
 */
#ifndef DC_DCFS_INT_H
#define DC_DCFS_INT_H

#include <daxcore/dcfs.h>
#include <daxcore/mapping.h>
#include <daxcore/liveref.h>
#include <daxcore/view.h>
#include <pthread.h>
#include "base/base.h"

/* ---- extent map (extent.c) ------------------------------------------------ */

/* File pages [fpage, fpage + len) live at device pages [pgoff, pgoff + len). */
struct dcfs_ext {
	uint64_t fpage, pgoff, len;
};

/*
 * A sorted array of non-overlapping extents, neighbours merged where both
 * the file and the device ranges continue.  The same structure, with pgoff
 * equal to fpage, is the dirty set of device pages.
 */
struct dcfs_extmap {
	struct dcfs_ext *v;
	size_t n, cap;
};

/* The callback dcfs_ext_remove() calls for each device range it removes. */
typedef void (*dcfs_ext_fn)(void *arg, uint64_t fpage, uint64_t pgoff, uint64_t len);

void dcfs_ext_init(struct dcfs_extmap *x);
void dcfs_ext_free(struct dcfs_extmap *x);
void *dcfs_array_grow(void *v, size_t n, size_t *cap, size_t want, size_t size, size_t first,
		      const char *what);
int dcfs_ext_reserve(struct dcfs_extmap *x, size_t more);
bool dcfs_ext_lookup(const struct dcfs_extmap *x, uint64_t fpage, struct dcfs_ext *out,
		     uint64_t *hole);
int dcfs_ext_insert(struct dcfs_extmap *x, uint64_t fpage, uint64_t pgoff, uint64_t len);
int dcfs_ext_remove(struct dcfs_extmap *x, uint64_t first, uint64_t len, dcfs_ext_fn fn,
		    void *arg);
void dcfs_ext_shift(struct dcfs_extmap *x, uint64_t from, uint64_t delta, bool up);
uint64_t dcfs_ext_pages(const struct dcfs_extmap *x);
int dcfs_set_add(struct dcfs_extmap *x, uint64_t start, uint64_t len);

/* ---- block allocator (alloc.c) and block states (blocks.c) ----------------------- */

struct dcfs_inode;

/*
 * One reverse-map record: file @ino maps file pages [fpage, fpage + len)
 * to device pages [pgoff, pgoff + len).  Records mirror the extents of
 * every file; records of different files (sharers) overlap.
 */
struct dcfs_rrec {
	uint64_t pgoff, len, fpage;
	struct dcfs_inode *ino;
};

/* Records sorted by pgoff; @maxlen bounds how far back a covering record starts. */
struct dcfs_rmap {
	struct dcfs_rrec *v;
	size_t n, cap, reserved;
	uint64_t maxlen;
};

/* The word per block (blk[]): share count, quarantine and bad bits. */
#define DCFS_B_SHARES 0x000fffffu /* files (ranges) that map the block: at most 2^20 - 1 */
#define DCFS_B_QUAR   (1u << 30)  /* no file has it; freed by the ->page_free of its last put */
#define DCFS_B_BAD    (1u << 31)  /* poisoned: never allocated again */

/*
 * Everything about blocks lives under one lock (@lock, "the allocator
 * lock"): the bitmap, the share counts, the quarantine and bad bits, the
 * reverse map.  Lock order: ext_lock -> allocator lock; ->page_free takes
 * it too (outside every other lock).  blk[] words are atomics so that
 * ->page_free can test DCFS_B_QUAR without the lock.
 */
struct dcfs_alloc {
	pthread_mutex_t lock;
	uint64_t *bits;   /* 1 = allocated (in a file, quarantined or bad) */
	uint64_t nblocks;
	uint64_t nfree;   /* under lock; read lockless for statistics */
	uint64_t hint;    /* where the next search starts */
	_Atomic uint32_t *blk;
	struct dcfs_rmap rmap;
	uint64_t nshared, nquar, nbad; /* blocks shared (> 1), quarantined, bad */
};

int dcfs_alloc_init(struct dcfs_alloc *a, uint64_t nblocks);
void dcfs_alloc_destroy(struct dcfs_alloc *a);
int dcfs_alloc_blocks(struct dcfs_alloc *a, uint64_t goal, uint64_t want, uint64_t align,
		      uint64_t *first, uint64_t *got);
void dcfs_free_blocks(struct dcfs_alloc *a, uint64_t first, uint64_t n);
void dcfs_keep_block(struct dcfs_alloc *a, uint64_t b);
bool dcfs_block_allocated(struct dcfs_alloc *a, uint64_t b);

struct dc_dcfs;
/* blocks.c (allocator lock held unless said) */
int dcfs_rmap_reserve(struct dc_dcfs *fs, size_t need);
void dcfs_rmap_unreserve(struct dc_dcfs *fs, size_t need);
int dcfs_blocks_alloc(struct dc_dcfs *fs, struct dcfs_inode *ino, uint64_t fpage, uint64_t goal,
		      uint64_t want, uint64_t align, uint64_t *first, uint64_t *got);
int dcfs_blocks_alloc_locked(struct dc_dcfs *fs, struct dcfs_inode *ino, uint64_t fpage,
			     uint64_t goal, uint64_t want, uint64_t align, uint64_t *first,
			     uint64_t *got);
int dcfs_blocks_share(struct dc_dcfs *fs, struct dcfs_inode *ino, uint64_t fpage,
		      uint64_t pgoff, uint64_t len);
void dcfs_blocks_put(struct dc_dcfs *fs, struct dcfs_inode *ino, uint64_t fpage, uint64_t pgoff,
		     uint64_t len);
void dcfs_rmap_refile(struct dc_dcfs *fs, struct dcfs_inode *ino, uint64_t pgoff, uint64_t len,
		      uint64_t old_fpage, uint64_t new_fpage);
uint64_t dcfs_shared_run(struct dc_dcfs *fs, uint64_t pgoff, uint64_t max, bool *shared);
uint32_t dcfs_shares(struct dc_dcfs *fs, uint64_t pgoff);
void dcfs_block_page_free(struct dc_dcfs *fs, struct dc_folio *f);
struct dcfs_owner_ref {
	struct dcfs_inode *ino; /* referenced */
	uint64_t fpage, pgoff, len;
};
int dcfs_block_poison(struct dc_dcfs *fs, uint64_t b, struct dcfs_owner_ref **out, size_t *n);
int dcfs_check_blocks(struct dc_dcfs *fs, const uint32_t *counts);
int dcfs_check_ext_rmap(struct dc_dcfs *fs, struct dcfs_inode *ino, const struct dcfs_ext *e);

/* ---- options (options.c) ----------------------------------------------------------- */

struct dcfs_options {
	bool sync;
	bool quarantine;
	uint64_t slow_wait_ms;
	uint64_t deadline_ms;
	uint64_t fault_around; /* bytes: a view's first fault-around window */
};

int dcfs_parse_options(const char *s, struct dcfs_options *o);

/* ---- inodes, descriptors, the mount ------------------------------------------------------ */

struct dcfs_pin;

struct dcfs_inode {
	struct dc_dcfs *fs;
	uint64_t ino;
	char *name;                  /* NULL once unlinked; ns_lock */
	struct dcfs_inode *hnext;    /* name table chain; ns_lock */
	struct dcfs_inode *prev, *next; /* the mount's inode list, by ino; ns_lock */
	_Atomic uint64_t refs;
	uint32_t nlink, nopen;       /* ns_lock */
	bool evicting;               /* ns_lock: an eviction owns the inode */
	bool orphan;                 /* ns_lock: an eviction timed out */
	_Atomic bool dead;           /* evicted: set holding io_lock, invalidate and ns_lock */

	pthread_rwlock_t io_lock;
	pthread_rwlock_t invalidate;

	pthread_mutex_t ext_lock;
	_Atomic uint64_t size;       /* bytes; written under ext_lock */
	struct dcfs_extmap ext;      /* ext_lock */
	struct dcfs_extmap dirty;    /* device pages pwrite wrote since fsync; ext_lock */
	_Atomic uint64_t pages;      /* pages allocated; written under ext_lock */
	_Atomic bool shared_ever;    /* set under ext_lock: a reflink touched the file (its
				      * faults insert CoW entries, its write pins
				      * check for shared blocks) */

	struct dc_mapping *m;
	struct dc_view_file *vf;     /* the file's views (view.c); their ->revoke, ->mkclean */

	struct dcfs_pin *pins_head, *pins_tail; /* pin_lock, oldest first */
	uint64_t pinned_pages;       /* pin_lock */
	struct dcfs_pin *pending;    /* pin_lock: dc_dcfs_pin() calls on the file in flight
				      * (their ranges), until recorded (pin.c) */
	_Atomic uint64_t share_seq;  /* bumped by each share drop of the file's blocks
				      * (dcfs_give_back(): after their entries went, before
				      * the drop) and each CoW of its pages (cow_copy():
				      * after the entry was taken, before its sharing
				      * check); a write pin's check (pin.c pin_pages()) */
	unsigned brk_n;              /* pin_lock: operations asking pins back now */
	uint64_t brk_first, brk_last; /* pin_lock: the file pages they cover (a union) */
};

struct dcfs_fd {
	struct dcfs_inode *ino; /* NULL: free slot */
	unsigned mode;          /* DC_DCFS_RDONLY / DC_DCFS_RDWR */
	uint32_t gen;
};

#define DCFS_FD_SLOT_BITS 16
#define DCFS_FD_GEN_MASK 0x7fffu /* 15 bits: fd = gen << 16 | slot, a positive int */
/* A slot whose generation ran out: never used again. */
#define DCFS_FD_RETIRED ((struct dcfs_inode *)1)

struct dc_dcfs {
	struct dc_region *r;
	struct dcfs_options opt;
	struct dc_dcfs_ops ops;
	void *arg;
	unsigned blk_order;           /* log2 of pages per block */
	struct dcfs_alloc alloc;
	void *zero_page;              /* read-only, for read-only pins of holes */
	_Atomic bool shutdown;        /* the region is going away: calls fail -EIO */
	_Atomic bool detached;        /* the mount let go of the region: never touch it */
	struct dc_liveref active;     /* calls that use mappings or the region (namespace.c) */
	struct dc_mapping *anchor;    /* an empty mapping: holds the region until the mount
				       * lets go (removal waits for mappings); ns_lock */
	_Atomic bool torn_down;       /* dcfs_teardown() finished */
	bool released;                /* the claim was given up (teardown or unmount) */

	pthread_mutex_t ns_lock;
	struct dcfs_inode **htab;
	size_t hsize, nnames;
	struct dcfs_inode *ihead, *itail;
	uint64_t next_ino;
	uint64_t ninodes, norphans;
	bool unmounting;              /* ns_lock: create and open refuse */

	pthread_mutex_t fd_lock;
	struct dcfs_fd *fds;
	uint32_t nfds, fd_cap, fd_free_hint;
	uint64_t open;
	_Atomic uint64_t nviews;      /* views mapped (each also counts in its inode's nopen) */

	pthread_mutex_t pin_lock;
	struct dcfs_pin **ptab;       /* pin table by id */
	size_t psize, npins;
	uint64_t next_pin_id;
	uint64_t pinned_pages;

	_Atomic uint64_t break_waits, slow_reports, faults, page_frees;
	_Atomic uint64_t cow_copies, memory_failures, revokes;
	_Atomic bool poison_seen;     /* a memory failure was reported: reads check folios */
};

/* Block <-> page arithmetic. */
static inline uint64_t dcfs_blk_pages(const struct dc_dcfs *fs) { return UINT64_C(1) << fs->blk_order; }
static inline uint64_t dcfs_blk_bytes(const struct dc_dcfs *fs)
{
	return dcfs_blk_pages(fs) << DC_PAGE_SHIFT;
}
static inline uint64_t dcfs_size_pages(uint64_t size)
{
	return (size + DC_PAGE_SIZE - 1) >> DC_PAGE_SHIFT;
}

/* lock.c */
void dcfs_rwlock_init(pthread_rwlock_t *l);
int dcfs_lock(pthread_rwlock_t *l, bool write, const struct dc_wait_opts *opts,
	      const char *name);

/* inode.c */
struct dcfs_inode *dcfs_inode_new(struct dc_dcfs *fs, const char *name, int *err);
void dcfs_inode_get(struct dcfs_inode *ino);
void dcfs_inode_put(struct dcfs_inode *ino);
void dcfs_inode_free(struct dcfs_inode *ino, struct dc_mapping *m);
void dcfs_mapping_drop(struct dc_mapping *m);
struct dcfs_inode *dcfs_io_begin(struct dc_dcfs *fs, int fd, bool write,
				 const struct dc_wait_opts *opts, int *err);
void dcfs_io_end(struct dcfs_inode *ino);
int dcfs_evict(struct dcfs_inode *ino, const struct dc_wait_opts *opts);
void dcfs_fill_stat(struct dcfs_inode *ino, struct dc_dcfs_stat *st);
int dcfs_free_range(struct dcfs_inode *ino, uint64_t first, uint64_t len);
void dcfs_give_back(void *arg, uint64_t fpage, uint64_t pgoff, uint64_t len);
void dcfs_trim_eof(struct dcfs_inode *ino);
void dcfs_written(struct dcfs_inode *ino, uint64_t pgoff, uint64_t n);
int dcfs_zero_bytes(struct dcfs_inode *ino, uint64_t from, uint64_t to, bool broken);

/* namespace.c */
struct dcfs_inode *dcfs_fd_get(struct dc_dcfs *fs, int fd, bool write, int *err);
int dcfs_active_get(struct dc_dcfs *fs);
void dcfs_active_put(struct dc_dcfs *fs);
struct dcfs_inode *dcfs_call_begin(struct dc_dcfs *fs, int fd, bool write, int *err);
void dcfs_call_end(struct dcfs_inode *ino);
int dcfs_open_drop(struct dcfs_inode *ino);
const char *dcfs_event_name(struct dcfs_inode *ino, char buf[DC_DCFS_NAME_MAX + 1]);
int dcfs_check_name(const char *name);

/* iomap.c */
#define DCFS_MAP_ALLOC   0x1u /* allocate a hole */
#define DCFS_MAP_EXTEND  0x2u /* ... even past the end of file (pwrite) */
int dcfs_iomap(struct dcfs_inode *ino, uint64_t fpage, uint64_t npages, uint64_t align,
	       unsigned flags, struct dcfs_ext *map, bool *mapped, bool *fresh, bool *shared);
int dcfs_unzero(struct dcfs_inode *ino, uint64_t first, uint64_t npages);

/* view.c */
extern const struct dc_mapping_ops dcfs_mapping_ops;
extern const struct dc_view_owner_ops dcfs_view_ops;

/* fault.c */
int dcfs_fault(struct dcfs_inode *ino, uint64_t index, bool write, unsigned order,
	       struct dc_dcfs_fault_result *res);
/* dcfs_fault_at() modes */
#define DCFS_FAULT_WRITE    0x1u /* for write */
#define DCFS_FAULT_ANY_SIZE 0x2u /* the page may lie past the end of file (pwrite) */
#define DCFS_FAULT_NOALLOC  0x4u /* a view's fault-around: with WRITE, write only a block of
				  * the file's own (a hole or a shared block: as a read) */
int dcfs_fault_at(struct dcfs_inode *ino, uint64_t index, unsigned mode, unsigned order,
		  struct dc_dcfs_fault_result *res, bool *wrote);
bool dcfs_poisoned(struct dc_dcfs *fs, uint64_t pgoff, uint64_t n);
int dcfs_cow_page(struct dcfs_inode *ino, uint64_t page);
int dcfs_cow_block(struct dcfs_inode *ino, uint64_t fpage, uint64_t x, bool move);
void dcfs_cow_done(struct dcfs_inode *ino, uint64_t fpage, uint64_t x, uint64_t y, bool ok);
int dcfs_unshare_tail(struct dcfs_inode *ino);
int dcfs_unshare_locked(struct dcfs_inode *ino, uint64_t page, bool broken);
int dcfs_move_held(struct dcfs_inode *ino, uint64_t first);

/* pin.c */
void dcfs_pins_list(struct dcfs_inode *ino, uint64_t first, uint64_t last,
		    struct dc_dcfs_pin_info *out, unsigned max, unsigned *total);
void dcfs_pins_flush(struct dcfs_inode *ino);
void dcfs_pins_tally(struct dcfs_inode *ino, uint64_t *sets, uint64_t *held, uint64_t *counted);
void dcfs_leases_break(struct dcfs_inode *ino, uint64_t first, uint64_t last, const char *op);
void dcfs_leases_end(struct dcfs_inode *ino);
bool dcfs_pins_on(struct dcfs_inode *ino, uint64_t first, uint64_t last);
bool dcfs_range_pinned(struct dcfs_inode *ino, uint64_t first, uint64_t last);

/* layout.c */
#define DCFS_BREAK_FINAL 0x1u /* the whole mapping, at eviction */
#define DCFS_BREAK_KEEP  0x2u /* the blocks stay in the file: wait even with quarantine */
int dcfs_break_layouts(struct dcfs_inode *ino, uint64_t first, uint64_t last, const char *op,
		       const struct dc_wait_opts *opts, unsigned how);
int dcfs_break_two(struct dcfs_inode *a, uint64_t af, uint64_t al, unsigned ahow,
		   struct dcfs_inode *b, uint64_t bf, uint64_t bl, unsigned bhow, const char *op,
		   const struct dc_wait_opts *opts);
int dcfs_lock_and_break(struct dcfs_inode *ino, uint64_t first, uint64_t last, const char *op,
			const struct dc_wait_opts *opts);

/* super.c */
int dcfs_shut(struct dc_dcfs *fs);
void dcfs_wait_opts_default(struct dc_dcfs *fs, const struct dc_wait_opts *in,
			    struct dc_wait_opts *out);

#endif
