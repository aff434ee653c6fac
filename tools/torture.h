/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * torture.h - `daxcore torture`: randomised concurrent operations on one
 * dcfs mount under an oracle.
 *
 *   torture.c      options, the run (threads, quiescent points, the
 *                  watchdog, the final removal), the invariant checks at
 *                  quiescent points, the summary (text and JSON)
 *   torture_ops.c  a worker: its files and their models, the operations,
 *                  the content stamps and the ownership checks
 *
 * The oracle.  Every 4 KiB page a worker writes (pwrite, a store through a
 * view, a DMA) begins with a stamp: (file id, file page, generation), and
 * its bytes after the stamp hold one fill byte derived from (file id,
 * generation).  Each file belongs to one worker, which keeps a model of
 * every page (shared with the worker's partner thread, under the file's
 * lock: see "Threads" below): zeros, a stamp (which may be another file's: reflink copies
 * the source's model, so a destination's pages carry the source's stamps
 * legitimately), in flux (a DMA still writes it) or unknown (what a
 * cancelled DMA or an injected allocation failure left).  Reads (pread,
 * loads through a view) compare pages with the model; a page that shows a
 * stamp it should not is a foreign stamp: some store or DMA landed in a
 * block after the block left the file that store or DMA was aimed at.  A
 * DMA checks, before its first pass and after every pass (the DMA engine's
 * pass hook, pins still held), that every device page it writes is still
 * in its file at its offset, or in the quarantine, through dc_dcfs_rmap();
 * a store through a view checks the same of the page it stored into.
 *
 * Threads: workers (one per --threads, each with its own PRNG seeded from
 * the seed and its index, drawn from once per operation to seed that
 * operation's choices, so that the same seed replays the same sequence of
 * operations per thread; what the library answers, and so what the choices
 * resolve to, differ from run to run with the interleaving),
 * each with a partner thread that works on the same files at the same time
 * (layout changes, reflinks and pins, so that a fault, a store or a pin of
 * the worker races a truncate, punch, collapse or insert of the very pages
 * it touches), the DMA engines' threads, a watchdog, the main thread
 * (quiescent points and the end).  The counters below are atomics.
 *
 * Two threads on one file: every operation on a file runs between
 * f_begin() and f_end() (torture_ops.c), which say whether an operation of
 * the other thread overlapped it.  An operation is one of four kinds:
 * reads (pread, loads), writes (pwrite, stores), layout changes (truncate,
 * fallocate, reflink into it) and pins (a DMA's start).  What overlapped
 * decides what the oracle may conclude:
 *   - a read that a write or layout change overlapped is not verified;
 *   - a write and a layout change that overlapped, or two layout changes:
 *     the order they took effect in is not known, so when both are done the
 *     file's pages become unknown and its size is read back (a resync);
 *   - a pin that a layout change overlapped is checked by the rules for a
 *     pin held across a layout change (the block may have been quarantined
 *     or moved, never freed, never another file's), and the DMA it starts
 *     leaves the file's pages unknown (not the pages past its end: a DMA
 *     must not reach them);
 *   - a store that a layout change overlapped is traced only where the view
 *     maps the same device page before and after the reverse-map lookup (a
 *     revoke cannot come and go in between: only the worker faults).
 * The ownership checks themselves stay exact: a pin, a DMA's pass or a
 * store that reaches a free block, or a block of another file, is a
 * violation however the operations interleaved.
 */
#ifndef DC_TOOLS_TORTURE_H
#define DC_TOOLS_TORTURE_H

#include "cli.h"

#include <pthread.h>
#include <stdatomic.h>

#define T_FILES   3 /* files per worker */
#define T_STORE_MAX 16 /* pages per store op (op_store, op_race) */
#define T_DMAS    2 /* DMAs in flight per worker */
#define T_VIOL_LOG 16 /* violations printed in full */
#define T_THREADS_MAX 64 /* --threads at most (torture.c, parse_opts()) */
/*
 * Memory failures per worker (op_poison()): a budget of its own, not a cap
 * shared by all, so that whether a worker poisons depends on its own
 * choices only.  The run's record of poisoned pages holds every worker's.
 */
#define T_POISON_BUDGET 4
#define T_REPLAY_OPS 500 /* operations of each worker in its replay hash */

/* Operation kinds (counted, per second in the summary). */
enum t_op {
	OP_PWRITE, OP_PREAD, OP_STORE, OP_STORE_FAULT, OP_LOAD, OP_EOF_STORE,
	OP_DMA_WRITE, OP_DMA_READ, OP_PIN, OP_PIN_USER, OP_PIN_REVOCABLE,
	OP_TRUNCATE, OP_PUNCH, OP_ZERO, OP_COLLAPSE, OP_INSERT, OP_REFLINK,
	OP_FSYNC, OP_RECYCLE, OP_POISON, OP_FAIL_ALLOC, OP_KILL,
	OP_STALL, /* a test aid (--ops stall only): a pin held across a truncate of it */
	OP_RACE,  /* a test aid (--ops race only): a DMA's last pass after another write began */
	OP_PROBE, /* the partner: a pin taken, checked and given back at once */
	OP_PWRITE_PART, /* a pwrite of part of one page */
	OP_TAIL_STORE,  /* stores past the end of file inside its last block */
	OP_NR
};

/* Violation kinds. */
enum t_viol {
	V_FOREIGN,      /* a page shows a stamp its file's model does not allow */
	V_CONTENT,      /* a page's bytes are neither its stamp nor zeros */
	V_LEFT_FILE,    /* a pinned block left its file */
	V_FREE_PINNED,  /* a pinned block is free */
	V_STORE_LANDED, /* a store past the end of file (revoked) did not fault */
	V_POISON_REUSE, /* a poisoned page is free or mapped by a file again */
	V_UNEXPECTED,   /* a call answered what its contract does not allow */
	V_COUNT,        /* a count did not return to zero */
	V_CHECK,        /* dc_dcfs_check() or an invariant of DESIGN.md failed */
	V_REMOVAL,      /* the device removal did not complete */
	V_LEAK,         /* a killed client's pins stayed */
	V_WATCHDOG,     /* no progress for the watchdog's period */
	V_STORE_ASTRAY, /* a store through a view reached a device page that is not
			 * the file's page, or the page it maps does not hold it */
	V_MF_ROUTE,     /* a memory failure not reported to the (file, offset) that has the page */
	V_NR
};

struct t_opts {
	const char *spec, *mountopts;
	uint64_t seconds, seed, fail_alloc;
	uint64_t only; /* --ops: a mask of enum t_op (0: all) */
	unsigned threads, check_ms, watchdog_s;
	bool json, kill, quiet;
};

/* The run, shared by every thread. */
struct torture {
	struct t_opts o;
	struct dc_region *r;
	struct dc_dcfs *fs;
	uint64_t npages, block, maxpages; /* region pages, block bytes, file pages at most */
	bool quarantine, fault_build;
	uint64_t t0_ns;

	_Atomic bool stop;       /* workers: finish */
	_Atomic bool quit_watchdog;
	_Atomic bool removing;   /* the device removal started: ownership is no longer the mount's */
	_Atomic bool park;       /* workers: stop at the barrier */
	_Atomic unsigned parked;
	pthread_mutex_t park_lock;
	pthread_cond_t park_cond;
	_Atomic uint64_t park_epoch;

	_Atomic uint64_t progress; /* operations completed (the watchdog's) */
	_Atomic uint64_t ops[OP_NR];
	_Atomic uint64_t viol[V_NR];
	_Atomic uint64_t store_checked, store_revoked;
	_Atomic uint64_t checks, skipped_pages, verified_pages, poison_hits, enomem, eagain;
	_Atomic uint64_t waits, wait_max_ns, timeouts, dma_bytes, kills, sigbus;
	_Atomic uint32_t next_fid;
	_Atomic uint64_t next_serial;
	/* Memory failures begun and ended: did one overlap a call? (pwrite) */
	_Atomic uint64_t mf_started, mf_finished;
	/* Operations that another on the same file overlapped; resyncs; pin probes. */
	_Atomic uint64_t overlaps, resyncs, probes;
	_Atomic uint64_t mf_routed; /* memory failures of a file's block checked reported to it */

	pthread_mutex_t log_lock; /* violations, poisoned pages */
	unsigned nlogged;
	uint64_t poisoned[T_THREADS_MAX * T_POISON_BUDGET]; /* every worker's, never full */
	bool poison_done[T_THREADS_MAX * T_POISON_BUDGET];  /* the memory failure returned 0 */
	unsigned npoisoned;

	struct t_worker *w;
};

/* One page of a file's model. */
/* M_TAIL: bytes from @keep on are zeros, those before it not known (a DMA
 * still wrote the page when a truncate cut it there: the truncate zeroes the
 * tail, and no DMA may write it again). */
enum t_mstate { M_ZERO = 0, M_STAMP, M_FLUX, M_UNKNOWN, M_TAIL };
/*
 * A page's bytes, as the model has them: the base (zeros, or the stamped
 * page of (fid, page, gen)), zeros from byte @keep on (a truncate to inside
 * the page; 0: none), then bytes [@ooff, @ooff + @olen) all @obyte (a write
 * of part of the page; one such write at most, a second leaves the page
 * unknown).
 */
struct t_mpage {
	uint8_t st;
	uint8_t obyte;
	uint16_t keep, ooff, olen;
	uint32_t fid;     /* M_STAMP, M_FLUX: the stamp the page must (will) hold */
	uint64_t page, gen;
	uint64_t dma;     /* M_FLUX: the DMA's serial */
};

/*
 * A collapse or an insert of a file, as a DMA's pass hook sees it: on a
 * quarantine mount they move the extents past a pin, so a pinned block may
 * be found at the offset its page moved to.  Pages from @from on move by
 * @delta pages, pages [@cut, @from) leave the file; @any: the layout
 * changed in a way not known (a resync).
 */
struct t_shift {
	uint64_t cut, from; /* pages [cut, from) are cut out (a collapse) */
	int64_t delta;
	bool any;
};
#define T_SHIFTS 64

#define T_OLD_INOS 16

struct t_file {
	/*
	 * The file's lock: the fields below (the model, the size, the fd)
	 * between the worker and its partner, and the two threads' operations
	 * on it (f_begin(), f_end()).  Held across a library call only to
	 * read the size back (a resync) and to recycle the file (f_end()).
	 */
	pthread_mutex_t lock;
	int in[2];               /* worker, partner: the kind of its operation now + 1 (0: none) */
	uint64_t begun[2][4];    /* operations begun, per thread and kind */
	bool raced;              /* a write or layout change overlapped one: resync when done */
	bool recycle;            /* make a new file when neither thread is in it */
	/* The collapses and inserts begun, oldest first (a ring), and how many;
	 * the DMAs' pass hooks read it (its own lock: the file's is held across
	 * a close, which waits for the pins the hooks run under). */
	pthread_mutex_t shift_lock;
	struct t_shift shift[T_SHIFTS];
	uint64_t nshift;
	unsigned shift_pending; /* collapses and inserts under way */
	int fd;              /* -1: none */
	uint32_t fid;
	uint64_t ino;
	/* The inos of its last T_OLD_INOS files before this one: unlinked, a
	 * DMA still running may keep one (its blocks with it: a memory
	 * failure of a block it shares with this file is reported to it). */
	uint64_t old_ino[T_OLD_INOS];
	unsigned nold;
	char name[48];
	uint64_t size;       /* bytes */
	uint64_t layout_gen; /* bumped by every operation that changes the layout */
	struct t_mpage *m;   /* maxpages */
	struct dc_view v;
	bool mapped;
};

/* --ops race: a DMA held after its first pass (torture_ops.c, hold_step()). */
enum t_hold { HOLD_NONE, HOLD_ARMED, HOLD_WAITING, HOLD_GO, HOLD_PASSED };

struct t_dma {
	struct torture *t;
	struct t_dma *next;  /* the worker's list */
	struct t_dma *rv_next; /* the revocable ones' list (torture_ops.c) */
	struct dma *d;
	struct t_file *file;
	int fd;              /* the file's when it was pinned (-1: none; a recycle may reuse it) */
	uint64_t shift_pin;  /* the file's nshift when its pin was asked for */
	uint64_t serial;
	unsigned slot;       /* the worker's file */
	uint32_t fid;
	uint64_t ino, off, len, gen, layout_gen;
	bool write, longterm, revoked;
	bool live;           /* not done at the worker's last dma_snap() (torture_ops.c) */
	int byte;
	_Atomic int hold;    /* --ops race: enum t_hold */
};

#define T_HIST 256
struct t_hist { /* a write or layout change of the worker, for diagnosis */
	int op;
	uint32_t fid;
	uint64_t gen, p, n; /* n UINT64_MAX: to the end of file */
	int64_t ret;
};

struct t_worker {
	struct torture *t;
	unsigned idx;
	int side;                /* 0: the worker, 1: its partner */
	struct t_worker *peer;   /* the worker's partner; the partner's worker */
	pthread_t th;
	uint64_t rng;
	uint64_t gen;
	struct t_file *f;        /* T_FILES: the worker's files (its partner's too) */
	struct t_file files[T_FILES]; /* the worker's (unused in a partner) */
	struct t_dma *dmas;      /* its DMAs; dma_lock for a change and for the watchdog's look */
	pthread_mutex_t dma_lock;
	unsigned ndmas;
	unsigned char *buf;      /* maxpages pages */
	uint64_t io_lo, io_hi;   /* the bytes of the file its calls touch now (t_err_ok()) */
	uint64_t mf0;            /* the memory failures finished when its operation began */
	_Atomic int op;          /* what it does now (-1: between operations) */
	_Atomic uint64_t op_t0;  /* since when */
	_Atomic bool in_park;
	struct t_hist hist[T_HIST];
	unsigned nhist, hist_dumped;
	unsigned npoisoned;      /* memory failures it caused (T_POISON_BUDGET at most) */
	uint64_t oprng;          /* the operation's PRNG (torture_ops.c, rnd(), next_op()) */
	/* A test aid: a hash of the (seed, kind) of its first T_REPLAY_OPS
	 * operations, printed in the summary ("replay:"); the partner's, kept
	 * in its worker once it is gone. */
	uint64_t replay, nops, preplay, pnops;
};

/* torture.c */
void t_violation(struct torture *t, enum t_viol v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void t_count(struct torture *t, enum t_op op);
/* Has device page @pgoff been poisoned by the run? */
bool t_poisoned(struct torture *t, uint64_t pgoff);
void t_poison_note(struct torture *t, uint64_t pgoff);
/* The memory failure of @pgoff returned 0: the page must stay out of service. */
void t_poison_done(struct torture *t, uint64_t pgoff);
/* Memory failures reported to the calling thread (DC_DCFS_EV_MEMORY_FAILURE, in the
 * thread of the failure) since its last t_mf_reset(). */
struct t_mf_ev {
	uint64_t ino, offset, length, pgoff;
};
#define T_MF_EVS 16
void t_mf_reset(void);
unsigned t_mf_events(const struct t_mf_ev **ev);
/* Descriptors the process has open (/proc/self/fd); -1 if unknown. */
int t_fds_open(void);
const char *t_op_name(enum t_op op);
/* Park at the barrier if the main thread asks (workers, between operations). */
void t_maybe_park(struct t_worker *w);

/* torture_ops.c */
int t_worker_init(struct t_worker *w);
void *t_worker_main(void *arg);
/* Wait for the worker's DMAs and settle their models (at parking and the end). */
void t_reap_all(struct t_worker *w);
/* Verify every file of @w against its model (quiescent).  Return pages checked. */
uint64_t t_verify_all(struct t_worker *w);
/* The end: hold things (views, a long DMA, open files) across the removal. */
void t_hold_for_removal(struct t_worker *w);
/* After the removal: give everything back (close, unmap, reap). */
void t_worker_fini(struct t_worker *w);
/* Every pin set the worker knows it holds (0 at quiescent points). */
unsigned t_pins_held(const struct t_worker *w);
/* Print what the worker and its partner do, its DMAs and the pins of its files (the watchdog):
 * return the pins its files have (listed or not). */
unsigned t_worker_dump(struct t_worker *w, FILE *out);

#endif
