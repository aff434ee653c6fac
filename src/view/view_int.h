/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * view_int.h - the view layer's structures.
 *
 *   struct dc_view_file   one owner's file: its views (sorted by file
 *                         offset; @lock), the region fd they map, the
 *                         fault-around window.  The i_mmap analogue.
 *   struct vview          one view: its reserved address range, the state
 *                         of each page (what it maps now), its VMA count,
 *                         the faults in flight on it; @lock serialises every
 *                         change of its address range (mmap, mprotect).
 *   the view table        every live view sorted by address, published with
 *                         RCU: the SIGSEGV handler finds a view without a
 *                         lock (view.c).
 *
 * Lock order: view file lock -> view lock (the LRU lock of budget.c is a
 * leaf, never held with either; fork_lock of fault.c is taken inside the
 * view lock, around a device mmap and its MADV_DONTFORK).  No
 * view lock is held while the owner's ->fault runs, so a fault never waits
 * for an owner lock with a view lock held; the owner's ->revoke (from a zap
 * that may hold entry locks) takes view locks, which are held only around
 * system calls.
 *
 * The race between a fault that maps what the owner answered and a revoke
 * of those pages: the fault registers its window (struct vinflight) under
 * the view lock before it asks the owner, and maps only if no revoke or
 * mkclean of an overlapping range marked it stale meanwhile, checked under
 * the view lock it then holds while it maps.  Since an owner's entry is
 * zapped (and ->revoke called) only after the fault's answer was given, a
 * revoke either ran before the mapping (the window is stale: nothing is
 * mapped, the fault retries) or runs after it (and takes it away).  While a
 * window is not stale its entries hold their folio references, so the
 * region (and its fd) cannot go away under the mmap.
 */
#ifndef DC_VIEW_INT_H
#define DC_VIEW_INT_H

#include <daxcore/view.h>
#include <pthread.h>
#include "base/base.h"

/* Per-page state words (chunks of 512). */
#define VST_MAPPED 0x1u
#define VST_W      0x2u
#define VST_ZERO   0x4u
#define VST_SHIFT  3
#define VCHUNK_SHIFT 9
#define VCHUNK (UINT64_C(1) << VCHUNK_SHIFT)

/* The largest fault-around window: 2 MiB. */
#define VWIN_MAX 512u

struct vinflight {
	struct vinflight *next;
	uint64_t a, b;   /* view pages [a, b) */
	uint64_t asked;  /* the faulting thread's own: pages [a, asked) are answered */
	bool stale;
};

/*
 * The thread's own in-flight record while it asks the owner (a revoke the
 * owner's call itself causes, e.g. an insert replacing the ZERO entry of
 * the page being asked, makes stale only what was answered before it), and
 * the depth of view-lock sections the thread is in (a view fault raised
 * there would deadlock on them: the handler aborts instead).
 */
extern __thread struct vinflight *dc__view_asking;
extern __thread unsigned dc__view_locked;

struct dc_view_file {
	struct dc_region *r;
	const struct dc_view_owner_ops *ops;
	void *file;
	int fd;
	unsigned map_order;   /* map in units of 2^map_order pages */
	unsigned folio_order; /* the region's (cached: a fault after removal must not read it) */
	uint64_t around;      /* the first window, pages */
	pthread_mutex_t lock; /* the views */
	struct vview **v;
	size_t n, cap;
};

struct vview {
	struct dc_view_file *vf;
	uint64_t id;
	char *addr;
	uint64_t first;       /* the file page of addr */
	uint64_t npages;
	unsigned prot;
	int pid;              /* the process that mapped it (a forked child's copy is not its) */
	_Atomic uint64_t refs; /* faults and resolves running on it */

	pthread_mutex_t lock;
	bool dead;            /* unmapped: nothing is mapped into it any more */
	uint64_t **chunks;    /* page states, by chunk (NULL: all unmapped) */
	uint64_t nchunks;
	uint64_t vmas;        /* kernel VMAs its range is made of */
	struct vinflight *inflight;
	_Atomic uint64_t seq_next; /* the page after the last window (sequential faults) */
	_Atomic uint64_t win;      /* the current window, pages */
};

/* view.c */
void dc__view_lock(struct vview *v);
void dc__view_unlock(struct vview *v);
struct vview *dc__view_lookup_get(const void *addr);
void dc__view_put(struct vview *v);
struct vview *dc__view_get(const struct dc_view *uv);
void *dc__view_reserve_at(void *addr, uint64_t len);
int dc__vst_reserve(struct vview *v, uint64_t a, uint64_t b);
void dc__vst_set(struct vview *v, uint64_t a, uint64_t b, uint64_t s);
uint64_t dc__vst_get(const struct vview *v, uint64_t p);
void dc__view_revoke_pages(struct vview *v, uint64_t a, uint64_t b);

/* budget.c */
void dc__view_budget_push(struct vview *v, uint64_t a, uint64_t b);
void dc__view_budget_enforce(struct vview *cur, uint64_t a, uint64_t b);
void dc__view_budget_default(void);
void dc__view_vmas_add(struct vview *v, int64_t delta);

extern _Atomic uint64_t dc__view_ctr_faults, dc__view_ctr_signal_faults, dc__view_ctr_pages,
	dc__view_ctr_retries, dc__view_ctr_revokes, dc__view_ctr_budget_revokes,
	dc__view_ctr_sigbus, dc__view_vmas_total, dc__view_budget, dc__view_count;

/*
 * TSan: a mapping of a view range is not a write by the mapping thread
 * (the kernel orders it with every access through the new page tables).
 */
#if defined(__SANITIZE_THREAD__)
#define DC_VIEW_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DC_VIEW_TSAN 1
#endif
#endif
#ifdef DC_VIEW_TSAN
void __tsan_ignore_thread_begin(void);
void __tsan_ignore_thread_end(void);
#define dc__view_tsan_ignore_begin() __tsan_ignore_thread_begin()
#define dc__view_tsan_ignore_end() __tsan_ignore_thread_end()
#else
#define dc__view_tsan_ignore_begin() do { } while (0)
#define dc__view_tsan_ignore_end() do { } while (0)
#endif

/* fault.c */
#define VIEW_GONE 1 /* dc__view_fault_page(): the view was unmapped meanwhile */
int dc__view_fault_page(struct vview *v, uint64_t p, bool write, uint64_t want_end,
			uint64_t *end);

#endif
