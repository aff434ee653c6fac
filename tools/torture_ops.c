// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * torture_ops.c - a torture worker: its files, their models, the
 * operations and the oracle's checks (torture.h describes the oracle).
 */
#include "torture.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#define PG DC_PAGE_SIZE
#define STAMP_MAGIC UINT32_C(0x44435452) /* "DCTR" */

/* The allocation injector of DC_FAULT_INJECT builds (src/base/base.h): absent otherwise. */
extern void dc__fault_set_thread(unsigned long nth) __attribute__((weak));

/* ---- the PRNG: one per worker, seeded from (seed, index) ------------------------------ */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/*
 * A choice of the operation under way: from the operation's own PRNG, which
 * the thread's seeds with one draw per operation (next_op()).  So however
 * many choices an operation makes (they depend on what it meets: a size, a
 * hole), the thread's sequence of operations and of their seeds is the
 * same for the same --seed, whatever the interleaving.
 */
static uint64_t rnd(struct t_worker *w, uint64_t n)
{
	return n ? splitmix(&w->oprng) % n : 0;
}

/* ---- the worker's last writes (printed with a foreign stamp of its own file) ------------- */

static void hist_add(struct t_worker *w, int op, uint32_t fid, uint64_t gen, uint64_t p, uint64_t n,
		     int64_t ret)
{
	struct t_hist *h = &w->hist[w->nhist++ % T_HIST];

	h->op = op;
	h->fid = fid;
	h->gen = gen;
	h->p = p;
	h->n = n;
	h->ret = ret;
}

static void hist_dump1(struct t_worker *w, uint32_t fid, uint64_t page)
{
	for (unsigned i = w->nhist > T_HIST ? w->nhist - T_HIST : 0; i < w->nhist; i++) {
		const struct t_hist *h = &w->hist[i % T_HIST];

		(void)page; /* collapse and insert move pages: the file's whole history */
		if (h->fid == fid)
			fprintf(stderr, "daxcore torture:   history of %c%u: %s gen %" PRIu64 " pages %" PRIu64 "+%" PRIu64 " ret %" PRId64 "\n",
				w->side ? 'p' : 'w', w->idx, t_op_name((enum t_op)h->op), h->gen, h->p,
				h->n == UINT64_MAX ? 0 : h->n, h->ret);
	}
}

/* The worker's and its partner's (read without a lock: a diagnosis only, printed once). */
static void hist_dump(struct t_worker *w, uint32_t fid, uint64_t page)
{
	hist_dump1(w, fid, page);
	if (w->peer)
		hist_dump1(w->peer, fid, page);
}

/* ---- stamps ------------------------------------------------------------------------- */

struct stamp {
	uint32_t magic, fid;
	uint64_t page, gen, sum;
};

static uint64_t stamp_sum(uint32_t fid, uint64_t page, uint64_t gen)
{
	return (STAMP_MAGIC ^ fid * UINT64_C(0x100000001B3)) + page * UINT64_C(0x9E3779B1) +
	       gen * UINT64_C(0xC2B2AE3D27D4EB4F);
}

/* The byte a page of (fid, gen) holds after its stamp: never 0. */
static int fill_byte(uint32_t fid, uint64_t gen)
{
	return (int)(((gen * 37 + fid * 11) & 0xfe) | 1);
}

static void stamp_header(void *p, uint32_t fid, uint64_t page, uint64_t gen)
{
	struct stamp s = { STAMP_MAGIC, fid, page, gen, stamp_sum(fid, page, gen) };

	memcpy(p, &s, sizeof(s));
}

/* A DMA's stamp: written as the DMA engine writes (unseen by ThreadSanitizer, as a device). */
static void dma_stamp(void *p, uint32_t fid, uint64_t page, uint64_t gen)
{
	struct stamp s = { STAMP_MAGIC, fid, page, gen, stamp_sum(fid, page, gen) };
	const unsigned char *b = (const unsigned char *)&s;

	for (unsigned i = 0; i < sizeof(s); i++)
		dma_mem_set((char *)p + i, b[i], 1);
}

static void stamp_page(void *p, uint32_t fid, uint64_t page, uint64_t gen)
{
	memset((char *)p + sizeof(struct stamp), fill_byte(fid, gen), PG - sizeof(struct stamp));
	stamp_header(p, fid, page, gen);
}

/* A well-formed stamp in @p? */
static bool stamp_read(const void *p, struct stamp *s)
{
	memcpy(s, p, sizeof(*s));
	return s->magic == STAMP_MAGIC && s->sum == stamp_sum(s->fid, s->page, s->gen);
}

/* The bytes page model @m says the page holds (M_ZERO, M_STAMP). */
static void m_expect(const struct t_mpage *m, unsigned char *buf)
{
	if (m->st == M_STAMP)
		stamp_page(buf, m->fid, m->page, m->gen);
	else
		memset(buf, 0, PG);
	if (m->keep && m->keep < PG)
		memset(buf + m->keep, 0, PG - m->keep);
	if (m->olen)
		memset(buf + m->ooff, m->obyte, m->olen);
}

/*
 * The first @len bytes of page @page of @f (the rest is past the end of
 * file) are @p: compare them, every byte, with the model.  Return 0, or 1
 * having counted a violation.
 */
static int verify_page(struct t_worker *w, struct t_file *f, uint64_t page, const unsigned char *p,
		       uint64_t len, const char *how)
{
	struct torture *t = w->t;
	const struct t_mpage *m = &f->m[page];
	unsigned char want[PG];
	struct stamp s;
	uint64_t at;
	bool st;

	if (m->st == M_FLUX || m->st == M_UNKNOWN) {
		atomic_fetch_add(&t->skipped_pages, 1);
		return 0;
	}
	atomic_fetch_add(&t->verified_pages, 1);
	if (m->st == M_TAIL) { /* only the tail is known: zeros */
		memset(want, 0, PG);
		for (at = m->keep; at < len && !p[at]; at++)
			;
		if (at >= len)
			return 0;
		t_violation(t, V_CONTENT, "%s: %s page %" PRIu64 " (cut at byte %u by a truncate): byte %" PRIu64 " is %02x, not 0",
			    how, f->name, page, m->keep, at, p[at]);
		return 1;
	}
	m_expect(m, want);
	if (!memcmp(p, want, len))
		return 0;
	for (at = 0; at < len && p[at] == want[at]; at++)
		;
	st = len >= sizeof(s) && stamp_read(p, &s);
	if (st && (m->st == M_ZERO || s.fid != m->fid || s.page != m->page || s.gen != m->gen)) {
		if (!w->hist_dumped++) {
			hist_dump(w, f->fid, page);
			if (s.fid != f->fid)
				hist_dump(w, s.fid, page);
		}
		if (m->st == M_ZERO)
			t_violation(t, V_FOREIGN,
				    "%s: %s page %" PRIu64 " should be zeros, shows the stamp of file %u page %" PRIu64 " gen %" PRIu64,
				    how, f->name, page, s.fid, s.page, s.gen);
		else
			t_violation(t, V_FOREIGN,
				    "%s: %s page %" PRIu64 " should hold file %u page %" PRIu64 " gen %" PRIu64 ", shows file %u page %" PRIu64 " gen %" PRIu64,
				    how, f->name, page, m->fid, m->page, m->gen, s.fid, s.page, s.gen);
		return 1;
	}
	if (!w->hist_dumped++)
		hist_dump(w, f->fid, page);
	t_violation(t, V_CONTENT,
		    "%s: %s page %" PRIu64 " (%s file %u page %" PRIu64 " gen %" PRIu64 ", zeros from %u, bytes %u+%u of %02x): byte %" PRIu64 " is %02x, not %02x",
		    how, f->name, page, m->st == M_ZERO ? "zeros, not" : "the stamp of", m->fid, m->page,
		    m->gen, m->keep, m->ooff, m->olen, m->obyte, at, p[at], want[at]);
	return 1;
}

/* ---- ownership: the reverse map ------------------------------------------------------ */

/*
 * A collapse or insert (or, @any, a layout change not known) of @f begins.
 * Two at once (the worker's and the partner's) move blocks in an order not
 * known: then anywhere in the file, from here on.
 */
static void shift_log(struct t_file *f, uint64_t cut, uint64_t from, int64_t delta, bool any)
{
	pthread_mutex_lock(&f->shift_lock);
	if (!any && f->shift_pending++)
		any = true;
	f->shift[f->nshift % T_SHIFTS] = (struct t_shift){ cut, from, delta, any };
	f->nshift++;
	pthread_mutex_unlock(&f->shift_lock);
}

/* The collapse or insert shift_log() noted is over. */
static void shift_end(struct t_file *f)
{
	pthread_mutex_lock(&f->shift_lock);
	f->shift_pending--;
	pthread_mutex_unlock(&f->shift_lock);
}

static uint64_t shift_now(struct t_file *f)
{
	uint64_t n;

	pthread_mutex_lock(&f->shift_lock);
	n = f->nshift;
	pthread_mutex_unlock(&f->shift_lock);
	return n;
}

/*
 * May the block DMA @x pinned at file page @page be at file page @at now?
 * Where the collapses and inserts begun since its pin moved it (each
 * prefix of them: one may not have moved it yet), counting from the one
 * begun last before its pin too (it may have been under way).
 */
static bool shift_allows(struct t_dma *x, uint64_t page, uint64_t at)
{
	struct t_file *f = x->file;
	bool ok = page == at;

	pthread_mutex_lock(&f->shift_lock);
	for (uint64_t k = x->shift_pin ? x->shift_pin - 1 : 0; k <= x->shift_pin && !ok; k++) {
		uint64_t pg = page;

		if (f->nshift - k > T_SHIFTS) { /* the log wrapped: anywhere in the file */
			ok = true;
			break;
		}
		for (uint64_t i = k; i < f->nshift && !ok; i++) {
			const struct t_shift *e = &f->shift[i % T_SHIFTS];

			if (e->any) {
				ok = true;
				break;
			}
			if (pg >= e->from)
				pg = (uint64_t)((int64_t)pg + e->delta);
			else if (pg >= e->cut)
				break; /* cut out: quarantined, not in the file */
			ok = pg == at;
		}
	}
	pthread_mutex_unlock(&f->shift_lock);
	return ok;
}

/* When a block is checked: after a store, right after its pin, while a DMA holds it. */
enum own_when { OWN_STORE, OWN_PINNED, OWN_UNDER_PIN };

/*
 * Device page @pgoff is written (read, !@write) for file @ino at byte @off:
 * it must be the file's, at that offset; a poisoned block is the memory
 * failure's.  Right after a store or a pin, nothing else: the file's
 * worker changed nothing meanwhile.  Later, while a DMA holds it, it may
 * also be quarantined (it left the file under its pin: on a quarantine
 * mount; for a read pin also when its last sharer let go), at another
 * offset of the file (collapse and insert on a quarantine mount move the
 * extents past a pin), or, for a read pin, another file's (a read pin holds
 * a block shared by reflink without copying it: a write of the file copies,
 * the other sharers keep the original): never free.
 */
static bool own_check(struct torture *t, uint64_t pgoff, uint64_t ino, uint64_t off,
		      enum own_when when, bool write, bool report, const char *what, struct t_dma *x)
{
	struct dc_dcfs_block blk;
	struct dc_dcfs_owner ow[8];
	uint64_t in_blk = (pgoff * PG) & (t->block - 1);
	bool later = when == OWN_UNDER_PIN;
	int n;

	n = dc_dcfs_rmap(t->fs, pgoff, &blk, ow, 8);
	if (n < 0) {
		if (report)
			t_violation(t, V_UNEXPECTED, "%s: dc_dcfs_rmap(%" PRIu64 "): %s", what, pgoff, ename(n));
		return false;
	}
	/*
	 * A bad block is out of service for good: a pin may hold it.  A block
	 * poisoned while in a file stays the file's until punched: checked as
	 * any other.
	 */
	if (blk.state == DC_DCFS_BLOCK_BAD)
		return true;
	if (blk.state == DC_DCFS_BLOCK_FREE) {
		if (report)
			t_violation(t, when == OWN_STORE ? V_STORE_ASTRAY : V_FREE_PINNED,
				    "%s: device page %" PRIu64 " of ino %" PRIu64 " offset %" PRIu64 " is free",
				    what, pgoff, ino, off);
		return false;
	}
	if (later && blk.state == DC_DCFS_BLOCK_QUARANTINED && n == 0 && (t->quarantine || !write))
		return true;
	if (later && !write)
		return true;
	/* on a quarantine mount a collapse or insert moves it (x: where to; NULL: anywhere) */
	for (int i = 0; i < n && i < 8; i++)
		if (ow[i].ino == ino &&
		    (ow[i].offset + in_blk == off ||
		     (later && t->quarantine &&
		      (!x || shift_allows(x, off / PG, (ow[i].offset + in_blk) / PG)))))
			return true;
	if (report)
		t_violation(t, when == OWN_STORE ? V_STORE_ASTRAY : V_LEFT_FILE,
			    "%s: device page %" PRIu64 " (ino %" PRIu64 " offset %" PRIu64 ") %s: state %d, %d owner(s), first ino %" PRIu64 " offset %" PRIu64,
			    what, pgoff, ino, off, later ? "left its file under a pin" : "is not the file's",
			    (int)blk.state, n, n > 0 ? ow[0].ino : 0, n > 0 ? ow[0].offset : 0);
	return false;
}

struct f_op;
static bool f_overlapped_now(struct t_file *f, const struct f_op *o);

/*
 * Every device page of @ps (file @ino) is still the file's.  @f, @o (a
 * pin just taken by operation @o on @f; NULL: a DMA's pass, @when
 * OWN_UNDER_PIN): a page that fails the rules of @when is checked again by
 * those of a pin held across a layout change if an operation of the other
 * thread overlapped @o by then (the one that failed may have been that
 * operation's doing), and counted otherwise.
 */
static void pinset_check(struct torture *t, const struct dc_dcfs_pinset *ps, uint64_t ino,
			 enum own_when when, bool write, const char *what, struct t_file *f,
			 const struct f_op *o, struct t_dma *x)
{
	uint64_t off = ps->offset;

	for (unsigned i = 0; i < ps->nsegs; off += ps->segs[i].len, i++) {
		const struct dc_dcfs_seg *s = &ps->segs[i];

		if (s->pgoff == UINT64_MAX) /* the zero page */
			continue;
		for (uint64_t at = 0; at < s->len; at += PG) {
			uint64_t pg = s->pgoff + at / PG;

			if (own_check(t, pg, ino, off + at, when, write, !o, what, x) || !o)
				continue;
			if (f_overlapped_now(f, o))
				(void)own_check(t, pg, ino, off + at, OWN_UNDER_PIN, write, true, what, NULL);
			else
				(void)own_check(t, pg, ino, off + at, when, write, true, what, NULL);
		}
	}
}

/* ---- the model ----------------------------------------------------------------------- */

static void m_set_zero(struct t_file *f, uint64_t p, uint64_t n, uint64_t max)
{
	for (uint64_t i = p; i < p + n && i < max; i++)
		memset(&f->m[i], 0, sizeof(f->m[i]));
}

/* A truncate to byte @r of the page: its bytes from @r on are zeros (when the file grows again). */
static void m_clamp(struct t_mpage *m, uint64_t r)
{
	if (m->st == M_FLUX || m->st == M_UNKNOWN || m->st == M_TAIL) {
		/* what the DMA (or whoever) left before byte @r is not known; after it, zeros */
		if (m->st != M_TAIL || m->keep > r)
			m->keep = (uint16_t)r;
		m->st = M_TAIL;
		m->olen = 0;
		return;
	}
	if (!m->keep || m->keep > r)
		m->keep = (uint16_t)r;
	if (m->ooff >= r)
		m->olen = 0;
	else if (m->ooff + m->olen > r)
		m->olen = (uint16_t)(r - m->ooff);
}

/*
 * Before a write (pwrite, stores through a view, a DMA's start) of a
 * file: note which DMAs are not done yet, for dma_covers().  Not after
 * it: a DMA that ends while the write runs may have made its last pass
 * after the write landed (its pass hook stamps the pages after every
 * pass), and being done by then says nothing of that; one done before the
 * write began wrote nothing after it (done is set after its unpin, with
 * release order).
 */
static void dma_snap(struct t_worker *w)
{
	for (struct t_dma *x = w->dmas; x; x = x->next)
		x->live = !dma_done(x->d);
}

/*
 * Can a DMA write page @page of @f as much as the write that began at the
 * last dma_snap()?  One of its DMAs not done then that covers it, or any
 * not done then after the file's layout changed under it (on a quarantine
 * mount collapse and insert move a pinned block).
 */
static bool dma_covers(const struct t_worker *w, const struct t_file *f, uint64_t page)
{
	for (const struct t_dma *x = w->dmas; x; x = x->next) {
		if (!x->write || x->fid != f->fid || !x->live)
			continue;
		if (x->layout_gen != f->layout_gen ||
		    (page >= x->off / PG && page < (x->off + x->len) / PG))
			return true;
	}
	return false;
}

/*
 * Pages a write replaced while a DMA was writing them: either may win
 * (dma_snap() was called before the write began).
 */
static void m_stamp(struct t_worker *w, struct t_file *f, uint64_t page, uint64_t gen)
{
	struct t_mpage *m = &f->m[page];

	if (m->st == M_FLUX || dma_covers(w, f, page)) {
		m->st = M_UNKNOWN;
		return;
	}
	memset(m, 0, sizeof(*m));
	m->st = M_STAMP;
	m->fid = f->fid;
	m->page = page;
	m->gen = gen;
}

/*
 * An injected allocation failure cut a call short: what it wrote or moved
 * in pages [@p, @end) of @f is not known (the contracts say "nothing
 * changed" for most; the oracle does not take it on trust there).
 */
static void m_unknown(struct torture *t, struct t_file *f, int err, uint64_t p, uint64_t end)
{
	struct dc_dcfs_stat st;
	uint64_t size;

	if (err != -ENOMEM || !t->o.fail_alloc)
		return;
	for (uint64_t i = p; i < end && i < t->maxpages; i++)
		if (f->m[i].st != M_ZERO || i < (f->size + PG - 1) / PG)
			f->m[i].st = M_UNKNOWN;
	/* The size too (a reflink cut short may have grown the destination). */
	if (dc_dcfs_fstat(t->fs, f->fd, &st))
		return;
	size = st.size;
	for (uint64_t i = f->size / PG; i < (size + PG - 1) / PG && i < t->maxpages; i++)
		f->m[i].st = M_UNKNOWN;
	if (size < f->size)
		m_set_zero(f, (size + PG - 1) / PG, t->maxpages, t->maxpages);
	f->size = size;
}

/* ---- two threads on one file ------------------------------------------------------- */

static int file_open(struct t_worker *w, struct t_file *f);
static void file_close(struct t_worker *w, struct t_file *f, bool unlink);

/* What an operation does to a file (torture.h, "Two threads on one file"). */
enum f_kind { FK_READ, FK_WRITE, FK_LAYOUT, FK_PIN };

struct f_op {
	int side;
	enum f_kind kind;
	int other_in;          /* the other thread's operation at f_begin() (kind + 1, 0: none) */
	uint64_t other[4];     /* its operations begun by then, per kind */
	uint64_t layout_gen;   /* the file's at f_begin() */
	bool ro;               /* FK_PIN: a read-only pin (a CoW of the other thread moves its page) */
	uint32_t fid;          /* the file's at f_begin() (a recycle makes another) */
};

static void f_lock(struct t_file *f)
{
	pthread_mutex_lock(&f->lock);
}

static void f_unlock(struct t_file *f)
{
	pthread_mutex_unlock(&f->lock);
}

/*
 * Begin an operation of kind @kind of @w's thread on @f: return with the
 * file's lock held (the caller reads what it needs of the model and drops
 * it before its library call).
 */
static void f_begin(struct t_worker *w, struct t_file *f, enum f_kind kind, struct f_op *o)
{
	int s = w->side;

	f_lock(f);
	o->side = s;
	o->kind = kind;
	o->other_in = f->in[!s];
	memcpy(o->other, f->begun[!s], sizeof(o->other));
	o->layout_gen = f->layout_gen;
	o->ro = false;
	o->fid = f->fid;
	/* a DMA done from now on may have met the change (dma_finish()) */
	if (kind == FK_LAYOUT)
		f->layout_gen++;
	f->in[s] = (int)kind + 1;
	f->begun[s][kind]++;
}

/* Did an operation of the other thread of kind @k overlap @o so far?  (lock held) */
static bool f_saw(const struct t_file *f, const struct f_op *o, enum f_kind k)
{
	return o->other_in == (int)k + 1 || f->begun[!o->side][k] != o->other[k];
}

/* Could what @o did or saw have been changed by the other thread's operations so far?  (lock held) */
static bool f_overlapped(const struct t_file *f, const struct f_op *o)
{
	if (o->kind == FK_PIN && o->ro) /* a store or a write pin may copy its shared block */
		return f_saw(f, o, FK_LAYOUT) || f_saw(f, o, FK_WRITE) || f_saw(f, o, FK_PIN);
	if (o->kind == FK_PIN || o->kind == FK_WRITE)
		return f_saw(f, o, FK_LAYOUT);
	return f_saw(f, o, FK_LAYOUT) || f_saw(f, o, FK_WRITE);
}

/*
 * Could a page @o's view maps have been taken away and mapped anew (in
 * another place) so far?  A layout change, or a pin of the other thread:
 * a write pin copies a shared block.  (The lock taken.)
 */
static bool f_moved_now(struct t_file *f, const struct f_op *o)
{
	bool r;

	f_lock(f);
	r = f_saw(f, o, FK_LAYOUT) || f_saw(f, o, FK_PIN);
	f_unlock(f);
	return r;
}

/* The same, taking the lock: for a check made while the operation runs. */
static bool f_overlapped_now(struct t_file *f, const struct f_op *o)
{
	bool r;

	f_lock(f);
	r = f_overlapped(f, o) || f->recycle; /* a recycle to come: the model is not the file's */
	f_unlock(f);
	return r;
}

/*
 * A write and a layout change of @f overlapped (or two layout changes),
 * and neither runs now: which took effect first is not known.  Every page
 * inside the size becomes unknown, the size is what the file says, the
 * pages past it zeros.  (Lock held.)
 */
static void f_resync(struct torture *t, struct t_file *f)
{
	struct dc_dcfs_stat st;
	uint64_t size = f->size;

	if (f->fd >= 0 && !dc_dcfs_fstat(t->fs, f->fd, &st))
		size = st.size;
	if (size > t->maxpages * PG) {
		/*
		 * Racing growths took it past what the model (and the view)
		 * covers: cut it back if no operation runs on it (the lock keeps
		 * new ones out), or have it recycled when none does.
		 */
		struct dc_wait_opts o = { 0 };

		o.deadline_ns = dc_now_ns() + 20ull * 1000000000ull;
		if (f->in[0] || f->in[1] || dc_dcfs_truncate(t->fs, f->fd, t->maxpages * PG, &o))
			f->recycle = true;
		size = t->maxpages * PG;
	}
	for (uint64_t i = 0; i < (size + PG - 1) / PG; i++)
		f->m[i].st = M_UNKNOWN;
	m_set_zero(f, (size + PG - 1) / PG, t->maxpages, t->maxpages);
	f->size = size;
	f->layout_gen++;
	f->raced = false;
	shift_log(f, 0, 0, 0, true); /* two layout changes in an order not known */
	atomic_fetch_add(&t->resyncs, 1);
}

/*
 * End operation @o on @f: return with the lock held, true if no operation
 * of the other thread could have changed what it did or saw (the caller
 * then settles the model exactly), false if one overlapped it (a read is
 * then not verified; a write or layout change leaves the file to a resync,
 * done here or by the other thread's f_end(), whichever ends last).
 */
static bool f_end(struct t_worker *w, struct t_file *f, struct f_op *o)
{
	int other;
	bool over;

	f_lock(f);
	f->in[o->side] = 0;
	over = f_overlapped(f, o);
	if (over) {
		atomic_fetch_add(&w->t->overlaps, 1);
		/*
		 * A write pin too: its DMA writes on after the pin, and may land
		 * after a layout change it overlapped that ends later and would
		 * otherwise settle its pages exactly (zeros, say).
		 */
		if (o->kind == FK_WRITE || o->kind == FK_LAYOUT || (o->kind == FK_PIN && !o->ro))
			f->raced = true;
	}
	other = f->in[!o->side];
	if (f->recycle && !other) { /* asked for (poison, OP_RECYCLE): the lock keeps the other out */
		file_close(w, f, true);
		(void)file_open(w, f);
		f->recycle = f->raced = false;
	}
	if (f->raced && other != FK_WRITE + 1 && other != FK_LAYOUT + 1) {
		f_resync(w->t, f);
		over = true; /* the model is the resync's now: nothing to settle */
	}
	/* a recycle still to come (a file past the view, cut back later): the model is not the file's */
	return !over && f->fid == o->fid && !f->recycle;
}

/* End @o on @f when nothing of the model is to be settled (the lock not held). */
static void f_done(struct t_worker *w, struct t_file *f, struct f_op *o)
{
	(void)f_end(w, f, o);
	f_unlock(f);
}

/* An operation on @f that has nothing to do (after f_begin(), the lock held). */
static void f_nothing(struct t_worker *w, struct t_file *f, struct f_op *o)
{
	f_unlock(f);
	f_done(w, f, o);
}

/* f_begin(), and false (the operation ended) if the file is closed (a recycle failed). */
static bool f_begin_open(struct t_worker *w, struct t_file *f, enum f_kind kind, struct f_op *o)
{
	f_begin(w, f, kind, o);
	if (f->fd >= 0)
		return true;
	f_nothing(w, f, o);
	return false;
}

/* ---- errors ------------------------------------------------------------------------- */

/* Does a block of @f in bytes [@lo, @hi), inside its size, carry poison? */
static bool file_poisoned(struct t_worker *w, struct t_file *f, uint64_t lo, uint64_t hi)
{
	struct torture *t = w->t;
	struct dc_dcfs_stat st;
	uint64_t size;

	f_lock(f);
	size = f->size;
	f_unlock(f);
	/* the file's own size: the model's may lag it (a growth it did not see yet) */
	if (f->fd >= 0 && !dc_dcfs_fstat(t->fs, f->fd, &st) && st.size > size)
		size = st.size;
	if (size > hi)
		size = hi;
	for (uint64_t off = lo & ~(t->block - 1); off < size;) {
		struct dc_dcfs_iomap map;
		struct dc_dcfs_block blk;

		if (dc_dcfs_iomap(t->fs, f->fd, off, size - off, 0, &map) || !map.length)
			return false;
		if (map.type != DC_DCFS_IOMAP_HOLE)
			for (uint64_t p = 0; p < map.length; p += t->block)
				if (dc_dcfs_rmap(t->fs, map.pgoff + p / PG, &blk, NULL, 0) >= 0 &&
				    (blk.poisoned || blk.state == DC_DCFS_BLOCK_BAD))
					return true;
		off = map.offset + map.length;
	}
	return false;
}

static void recycle(struct t_worker *w, struct t_file *f);

/*
 * An operation on @f answered @err, not 0.  @allowed: what its contract
 * allows besides the always-possible ones.  Return true if acceptable
 * (the model is then the caller's to settle), false having counted a
 * violation.  -EIO is accepted when the file carries poison (it is then
 * recycled: *@gone), -ENOMEM when allocations fail by injection, -EINVAL
 * and -EFAULT (a range past the end) when @raced (a layout change of the
 * other thread overlapped the call).
 */
static bool t_err_ok(struct t_worker *w, struct t_file *f, int err, const char *op,
		     const int *allowed, bool *gone, bool raced)
{
	struct torture *t = w->t;

	*gone = false;
	for (; allowed && *allowed; allowed++)
		if (err == *allowed)
			return true;
	/* The range was chosen from a size the other thread changed meanwhile. */
	if (raced && (err == -EINVAL || err == -EFAULT))
		return true;
	if (err == -ENOMEM && t->o.fail_alloc) {
		atomic_fetch_add(&t->enomem, 1);
		return true;
	}
	/*
	 * -EIO for poison in the bytes the call touched (w->io_lo, w->io_hi,
	 * set by the operation); if the other thread changed the layout
	 * meanwhile, for any poison: the poisoned block may have moved in
	 * the file, or left it (a punch after the call hit it).
	 */
	if ((err == -EIO || err == -EHWPOISON) &&
	    ((raced && atomic_load(&t->mf_finished) > 0) ||
	     file_poisoned(w, f, w->io_lo, w->io_hi) || atomic_load(&t->mf_started) > w->mf0)) {
		/* (or a memory failure was under way during the operation: the
		 * block it hit may be gone by now, punched or moved by the
		 * partner, or a free block it poisoned was just allocated) */
		atomic_fetch_add(&t->poison_hits, 1);
		recycle(w, f);
		*gone = true;
		return true;
	}
	t_violation(t, V_UNEXPECTED, "%s of %s: %s (%s)", op, f->name, ename(err), dc_errmsg());
	return false;
}

/* ---- files --------------------------------------------------------------------------- */

static int file_open(struct t_worker *w, struct t_file *f)
{
	struct torture *t = w->t;
	struct dc_dcfs_stat st;
	int fd, ret;

	f->fid = atomic_fetch_add(&t->next_fid, 1) + 1;
	snprintf(f->name, sizeof(f->name), "w%u.f%u", w->idx, f->fid);
	fd = dc_dcfs_create(t->fs, f->name);
	if (fd < 0) {
		f->fd = -1;
		if (fd != -ENOMEM || !t->o.fail_alloc)
			t_violation(t, V_UNEXPECTED, "create %s: %s (%s)", f->name, ename(fd), dc_errmsg());
		return fd;
	}
	f->fd = fd;
	f->size = 0;
	f->layout_gen++;
	memset(f->m, 0, t->maxpages * sizeof(*f->m));
	ret = dc_dcfs_fstat(t->fs, fd, &st);
	f->ino = ret ? 0 : st.ino;
	ret = dc_dcfs_map(t->fs, fd, 0, t->maxpages * PG, DC_VIEW_READ | DC_VIEW_WRITE, &f->v);
	f->mapped = !ret;
	if (ret && (ret != -ENOMEM || !t->o.fail_alloc))
		t_violation(t, V_UNEXPECTED, "map %s: %s (%s)", f->name, ename(ret), dc_errmsg());
	return 0;
}

static void file_close(struct t_worker *w, struct t_file *f, bool unlink)
{
	struct torture *t = w->t;
	int ret;

	if (f->mapped) {
		/* -ENOMEM (an injected failure): nothing changed, try again */
		for (unsigned i = 0; (ret = dc_view_unmap(&f->v)) == -ENOMEM && t->o.fail_alloc &&
				     i < 1000; i++)
			atomic_fetch_add(&t->enomem, 1);
		if (ret)
			t_violation(t, V_UNEXPECTED, "unmap %s: %s", f->name, ename(ret));
		f->mapped = false;
	}
	if (f->fd < 0)
		return;
	if (unlink) {
		ret = dc_dcfs_unlink(t->fs, f->name);
		if (ret && ret != -EIO)
			t_violation(t, V_UNEXPECTED, "unlink %s: %s (%s)", f->name, ename(ret),
				    dc_errmsg());
	}
	ret = dc_dcfs_close(t->fs, f->fd);
	if (ret)
		t_violation(t, V_UNEXPECTED, "close %s: %s (%s)", f->name, ename(ret), dc_errmsg());
	f->fd = -1;
	f->old_ino[f->nold++ % T_OLD_INOS] = f->ino;
}

/*
 * Unlink and close @f (its DMAs run on: eviction waits for them), make a
 * new one: at the end of an operation on it (f_end()), the other thread
 * out of it (the lock held keeps it out).  Inside an operation on @f.
 */
static void recycle(struct t_worker *w, struct t_file *f)
{
	(void)w;
	f_lock(f);
	f->recycle = true;
	f_unlock(f);
}

int t_worker_init(struct t_worker *w)
{
	struct torture *t = w->t;

	struct t_worker *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	w->rng = t->o.seed ^ (UINT64_C(0xD1B54A32D192ED03) * (w->idx + 1));
	w->f = w->files;
	w->peer = p;
	pthread_mutex_init(&w->dma_lock, NULL);
	p->t = t;
	p->idx = w->idx;
	p->side = 1;
	p->peer = w;
	p->f = w->files;
	p->rng = ~t->o.seed ^ (UINT64_C(0x9FB21C651E98DF25) * (w->idx + 1));
	atomic_store(&p->op, -1);
	w->buf = aligned_alloc(PG, t->maxpages * PG);
	if (!w->buf)
		return -ENOMEM;
	for (unsigned i = 0; i < T_FILES; i++) {
		pthread_mutex_init(&w->f[i].lock, NULL);
		pthread_mutex_init(&w->f[i].shift_lock, NULL);
		w->f[i].fd = -1;
		w->f[i].m = calloc(t->maxpages, sizeof(*w->f[i].m));
		if (!w->f[i].m)
			return -ENOMEM;
		if (file_open(w, &w->f[i]) && w->f[i].fd < 0)
			return -EIO;
	}
	atomic_store(&w->op, -1);
	return 0;
}

/* ---- DMA ----------------------------------------------------------------------------- */

/* Revocable DMAs, by serial (a revoke callback may come before the pin call returns). */
static pthread_mutex_t rv_lock = PTHREAD_MUTEX_INITIALIZER;
static struct t_dma *rv_list;
static struct t_dma **rv_link(struct t_dma *x)
{
	struct t_dma **pp = &rv_list;

	while (*pp && *pp != x)
		pp = &(*pp)->rv_next;
	return pp;
}

static void revoke_cb(struct dc_dcfs *fs, const struct dc_dcfs_revoke *rv, void *arg)
{
	uint64_t serial = (uint64_t)(uintptr_t)arg;

	(void)fs;
	(void)rv;
	pthread_mutex_lock(&rv_lock);
	for (struct t_dma *x = rv_list; x; x = x->rv_next)
		if (x->serial == serial) {
			x->revoked = true;
			if (x->d)
				dma_cancel(x->d);
		}
	pthread_mutex_unlock(&rv_lock);
}

static void nap(void)
{
	struct timespec ts = { 0, 100000 };

	nanosleep(&ts, NULL);
}

/*
 * --ops race: a DMA held after its first pass (HOLD_ARMED, then
 * HOLD_WAITING) until race_release() (HOLD_GO), which waits for the one
 * pass more (HOLD_PASSED), then cancels it and waits for it to be done.
 * Called by the DMA's pass hook, pins held.
 */
static void hold_step(struct t_dma *x)
{
	int h = HOLD_ARMED;

	if (atomic_compare_exchange_strong(&x->hold, &h, HOLD_WAITING)) {
		while (atomic_load(&x->hold) == HOLD_WAITING)
			nap();
	} else if (h == HOLD_GO) {
		atomic_store(&x->hold, HOLD_PASSED);
	}
}

static void race_release(struct t_dma *x)
{
	atomic_store(&x->hold, HOLD_GO);
	while (atomic_load(&x->hold) != HOLD_PASSED)
		nap();
	dma_cancel(x->d);
	while (!dma_done(x->d))
		nap();
}

/* The DMA engine's pass hook: stamp every page it wrote, check every page is still the file's. */
static void pass_hook(const struct dc_dcfs_pinset *ps, void *arg)
{
	struct t_dma *x = arg;
	struct torture *t = x->t;
	uint64_t off = ps->offset;

	for (unsigned i = 0; i < ps->nsegs; off += ps->segs[i].len, i++) {
		const struct dc_dcfs_seg *s = &ps->segs[i];

		if (s->pgoff == UINT64_MAX || !x->write)
			continue;
		for (uint64_t at = 0; at < s->len; at += PG)
			dma_stamp((char *)s->addr + at, x->fid, (off + at) / PG, x->gen);
	}
	/*
	 * Without the quarantine a truncate or collapse waits for the pins on
	 * what it takes: while a write pin is held, its blocks are inside the
	 * file.  Not a read pin's: the zero page it holds over holes, or a
	 * block it shares with another file (reflink), leave the file without
	 * a wait, as neither is freed.
	 */
	if (!atomic_load(&t->removing) && !t->quarantine && x->fd >= 0 && x->write) {
		struct dc_dcfs_stat st;
		uint64_t end = 0, o = ps->offset;

		for (unsigned i = 0; i < ps->nsegs; o += ps->segs[i].len, i++)
			if (ps->segs[i].pgoff != UINT64_MAX) /* a block, not the zero page */
				end = o + ps->segs[i].len;
		if (end && !dc_dcfs_fstat(t->fs, x->fd, &st) && st.ino == x->ino &&
		    (st.size + PG - 1) / PG * PG < end)
			t_violation(t, V_LEFT_FILE, "%s pinned blocks of pages %" PRIu64 "+%" PRIu64 " of ino %" PRIu64 " past its end (%" PRIu64 " bytes)",
				    x->write ? "dma write" : "dma read", x->off / PG, (end - x->off) / PG,
				    x->ino, st.size);
	}
	if (!atomic_load(&t->removing))
		pinset_check(t, ps, x->ino, OWN_UNDER_PIN, x->write,
			     x->write ? "dma write (after a pass)" : "dma read (after a pass)", NULL, NULL,
			     x->file ? x : NULL);
	hold_step(x);
}

/* Wait for DMA @x, settle the model of the pages it wrote, free it. */
static void dma_finish(struct t_worker *w, struct t_dma *x)
{
	struct torture *t = w->t;
	struct t_file *f = &w->f[x->slot];
	bool revoked;
	int ret;

	pthread_mutex_lock(&rv_lock);
	if (x->longterm)
		*rv_link(x) = x->rv_next;
	revoked = x->revoked;
	pthread_mutex_unlock(&rv_lock);
	atomic_fetch_add(&t->dma_bytes, dma_bytes(x->d));
	ret = dma_wait(x->d);
	if (ret && !atomic_load(&t->removing))
		t_violation(t, V_UNEXPECTED, "dma of %s: %s", f->name, ename(ret));
	f_lock(f);
	hist_add(w, OP_NR, x->fid, x->gen, x->off / PG, x->len / PG,
		 revoked * 2 + (f->layout_gen == x->layout_gen)); /* "dma_done" */
	if (x->write && f->fid == x->fid)
		for (uint64_t p = x->off / PG; p < (x->off + x->len) / PG; p++) {
			struct t_mpage *m = &f->m[p];

			if (m->st != M_FLUX || m->dma != x->serial)
				continue;
			m->st = !revoked && f->layout_gen == x->layout_gen ? M_STAMP : M_UNKNOWN;
		}
	f_unlock(f);
	free(x);
	w->ndmas--;
}

/* Reap the DMAs that are done (@all: wait for every one). */
static void reap(struct t_worker *w, bool all)
{
	struct t_dma **pp = &w->dmas;

	while (*pp) {
		struct t_dma *x = *pp;

		if (all || dma_done(x->d)) {
			pthread_mutex_lock(&w->dma_lock);
			*pp = x->next;
			pthread_mutex_unlock(&w->dma_lock);
			dma_finish(w, x);
		} else {
			pp = &x->next;
		}
	}
}

void t_reap_all(struct t_worker *w)
{
	reap(w, true);
}

unsigned t_pins_held(const struct t_worker *w)
{
	return w->ndmas;
}

/* A random range of whole pages of @f inside its size, up to @max pages: false if empty. */
static bool pick_range(struct t_worker *w, struct t_file *f, uint64_t max, uint64_t *p,
		       uint64_t *n)
{
	uint64_t pages = f->size / PG;

	if (!pages)
		return false;
	*p = rnd(w, pages);
	*n = 1 + rnd(w, (pages - *p < max ? pages - *p : max));
	return true;
}

enum pin_kind { PIN_SHORT, PIN_USER, PIN_REVOCABLE };

/*
 * Either engine, at random.  Under ThreadSanitizer only memcpy: liburing
 * maps and unmaps its rings by raw system calls, which TSan does not see,
 * so a new ring at a freed one's address reads as a race with the old one.
 */
static enum dma_engine pick_engine(struct t_worker *w)
{
	enum dma_engine e = rnd(w, 2) ? DMA_URING : DMA_MEMCPY;

#ifdef __SANITIZE_THREAD__
	e = DMA_MEMCPY;
#endif
	return e;
}

static int do_pin(struct t_worker *w, struct t_file *f, enum pin_kind k, uint64_t off, uint64_t len,
		  unsigned flags, const char *tag, struct t_dma *x, struct dc_dcfs_pinset *ps)
{
	struct torture *t = w->t;

	if (k == PIN_USER)
		return dc_dcfs_pin_user(t->fs, (char *)f->v.addr + off, len, flags, tag, ps);
	if (k == PIN_REVOCABLE)
		return dc_dcfs_pin_revocable(t->fs, f->fd, off, len, flags, tag, revoke_cb,
					     (void *)(uintptr_t)x->serial, ps);
	return dc_dcfs_pin(t->fs, f->fd, off, len, flags, tag, ps);
}

/*
 * A DMA (@write: of stamps; else a read of the pages) of pages [@p, @p +
 * @n) of file @slot through pin kind @k, by engine @e, for @ms ms, as
 * operation @o (FK_PIN, begun by the caller, the lock dropped: ended
 * here).  @hold: held after its first pass (--ops race, race_release()).
 * @race (--ops race): a DMA held so, released once this one is done,
 * before the model of the pages is set.  Return the DMA, in the worker's
 * list; NULL if it did not start.
 */
static struct t_dma *dma_run(struct t_worker *w, unsigned slot, uint64_t p, uint64_t n, bool write,
			     uint64_t ms, enum pin_kind k, enum dma_engine e, bool hold,
			     struct t_dma *race, struct f_op *o)
{
	static const int ok[] = { -ENOSPC, -EAGAIN, -EFAULT, 0 };
	struct torture *t = w->t;
	struct t_file *f = &w->f[slot];
	struct dc_dcfs_pinset ps;
	struct t_dma *x;
	char tag[32];
	bool gone, revoked, exact;
	int ret;

	o->ro = !write;
	if (k == PIN_USER && !f->mapped)
		k = PIN_SHORT;
	x = calloc(1, sizeof(*x));
	if (!x) {
		f_done(w, f, o);
		return NULL;
	}
	atomic_init(&x->hold, hold ? HOLD_ARMED : HOLD_NONE);
	x->t = t;
	x->serial = atomic_fetch_add(&t->next_serial, 1) + 1;
	x->slot = slot;
	x->fid = f->fid;
	x->ino = f->ino;
	x->off = p * PG;
	x->len = n * PG;
	x->write = write;
	x->longterm = k == PIN_REVOCABLE;
	x->layout_gen = o->layout_gen;
	x->file = f;
	x->fd = f->fd;
	x->shift_pin = shift_now(f);
	snprintf(tag, sizeof(tag), "w%u.dma%" PRIu64, w->idx, x->serial);
	if (x->longterm) {
		pthread_mutex_lock(&rv_lock);
		x->rv_next = rv_list;
		rv_list = x;
		pthread_mutex_unlock(&rv_lock);
	}
	w->io_lo = x->off;
	w->io_hi = x->off + x->len;
	ret = do_pin(w, f, k, x->off, x->len, write ? 0 : DC_DCFS_PIN_READONLY, tag, x, &ps);
	t_count(t, k == PIN_USER ? OP_PIN_USER : k == PIN_REVOCABLE ? OP_PIN_REVOCABLE : OP_PIN);
	if (ret) {
		if (x->longterm) {
			pthread_mutex_lock(&rv_lock);
			*rv_link(x) = x->rv_next;
			pthread_mutex_unlock(&rv_lock);
		}
		free(x);
		(void)t_err_ok(w, f, ret, "pin", ok, &gone, f_overlapped_now(f, o));
		f_done(w, f, o);
		return NULL;
	}
	pinset_check(t, &ps, x->ino, OWN_PINNED, write, write ? "dma write (before)" : "dma read (before)",
		     f, o, NULL);
	if (write) {
		x->gen = ++w->gen;
		x->byte = fill_byte(x->fid, x->gen);
	} else {
		x->byte = DMA_READ;
	}
	dma_snap(w);
	pthread_mutex_lock(&rv_lock);
	revoked = x->revoked;
	if (!revoked) {
		ret = dma_start_pass(t->fs, &ps, e, x->byte, ms, tag, pass_hook, x, &x->d);
		if (ret)
			revoked = true;
	}
	pthread_mutex_unlock(&rv_lock);
	if (revoked) { /* asked back before it started, or no thread: never started */
		if (x->longterm) {
			pthread_mutex_lock(&rv_lock);
			*rv_link(x) = x->rv_next;
			pthread_mutex_unlock(&rv_lock);
		}
		ret = dc_dcfs_unpin(t->fs, &ps);
		if (ret)
			t_violation(t, V_UNEXPECTED, "unpin: %s", ename(ret));
		free(x);
		f_done(w, f, o);
		return NULL;
	}
	if (race) { /* this one's passes done, the held one's last pass lands on them */
		while (!dma_done(x->d))
			nap();
		race_release(race);
	}
	exact = f_end(w, f, o);
	if (write && !exact) {
		/*
		 * A layout change overlapped the pin: where the pinned blocks are
		 * in the file now is not known (a collapse or insert on a
		 * quarantine mount moves them), so every page inside the size may
		 * see the DMA.  Not the pages past the end: no DMA may reach them.
		 */
		for (uint64_t i = 0; i < (f->size + PG - 1) / PG; i++)
			f->m[i].st = M_UNKNOWN;
	} else if (write) {
		for (uint64_t i = p; i < p + n; i++) {
			struct t_mpage *m = &f->m[i];

			if (m->st == M_FLUX || dma_covers(w, f, i)) { /* two DMAs: either may land last */
				m->st = M_UNKNOWN;
				continue;
			}
			memset(m, 0, sizeof(*m));
			m->st = M_FLUX;
			m->fid = x->fid;
			m->page = i;
			m->gen = x->gen;
			m->dma = x->serial;
		}
	}
	f_unlock(f);
	hist_add(w, write ? OP_DMA_WRITE : OP_DMA_READ, f->fid, x->gen, p, n, k);
	pthread_mutex_lock(&w->dma_lock);
	x->next = w->dmas;
	w->dmas = x;
	pthread_mutex_unlock(&w->dma_lock);
	w->ndmas++;
	t_count(t, write ? OP_DMA_WRITE : OP_DMA_READ);
	return x;
}

/*
 * A DMA (@write: of stamps; else a read of the pages) over a random range
 * of a file, through a short, user (view) or revocable pin.  @ms: its
 * duration (0: a random few milliseconds).
 */
static void op_dma(struct t_worker *w, bool write, uint64_t ms, int kind)
{
	unsigned slot = (unsigned)rnd(w, T_FILES);
	struct t_file *f = &w->f[slot];
	enum pin_kind k = kind >= 0 ? (enum pin_kind)kind : (enum pin_kind)rnd(w, 3);
	enum dma_engine e = pick_engine(w);
	struct f_op o;
	uint64_t p, n;
	bool any;

	if (!ms)
		ms = 1 + rnd(w, 12);
	if (w->ndmas >= T_DMAS) /* room for one more: the finished ones, else wait for all */
		reap(w, false);
	if (w->ndmas >= T_DMAS)
		reap(w, true);
	f_begin(w, f, FK_PIN, &o);
	any = f->fd >= 0 && pick_range(w, f, 64 * w->t->block / PG, &p, &n);
	f_unlock(f);
	if (!any) {
		f_done(w, f, &o);
		return;
	}
	(void)dma_run(w, slot, p, n, write, ms, k, e, false, NULL, &o);
}

/* ---- data ---------------------------------------------------------------------------- */

/* A pwrite of pages [@p, @end) of @f (operation @o) failed with @err: end the operation. */
static void pwrite_err(struct t_worker *w, struct t_file *f, struct f_op *o, int err,
		       uint64_t p, uint64_t end)
{
	static const int ok[] = { -ENOSPC, 0 };
	struct torture *t = w->t;
	bool gone = false;

	/*
	 * A memory failure of a free block that overlapped the call may hit
	 * the block the write has just allocated: -EIO, and a write past the
	 * end of file then gives the block back (dcfs trims what it allocated
	 * past the end), so the file shows no poison.  Only a failure that
	 * overlapped this call can do that.
	 */
	if (err == -EIO && atomic_load(&t->mf_started) > w->mf0 && !file_poisoned(w, f, 0, UINT64_MAX))
		atomic_fetch_add(&t->poison_hits, 1);
	else
		(void)t_err_ok(w, f, err, "pwrite", ok, &gone, false);
	if (f_end(w, f, o) && !gone)
		m_unknown(t, f, err, p, end);
	f_unlock(f);
}

/*
 * A pwrite of bytes [@off, @off + @len) of one page (@len < 4 KiB), into a
 * hole, a zeroed page, a page past the end or a stamped one: the rest of
 * the page must read what it held (zeros where a block was just allocated:
 * the stale data of a block's last owner must never show).
 */
static void op_pwrite_part(struct t_worker *w)
{
	struct torture *t = w->t;
	struct t_file *f = &w->f[rnd(w, T_FILES)];
	uint64_t p = rnd(w, t->maxpages), off = rnd(w, PG), len = 1 + rnd(w, PG - off - 1);
	uint64_t gen = ++w->gen;
	struct t_mpage *m;
	struct f_op o;
	int64_t ret;
	int byte;

	if (!f_begin_open(w, f, FK_WRITE, &o))
		return;
	dma_snap(w);
	f_unlock(f);
	byte = fill_byte(f->fid, gen);
	memset(w->buf, byte, len);
	w->io_lo = p * PG + off;
	w->io_hi = p * PG + off + len;
	ret = dc_dcfs_pwrite(t->fs, f->fd, w->buf, len, p * PG + off);
	t_count(t, OP_PWRITE_PART);
	hist_add(w, OP_PWRITE_PART, f->fid, gen, p, 1, ret);
	if (ret < 0)
		return pwrite_err(w, f, &o, (int)ret, p, p + 1);
	if (f_end(w, f, &o)) {
		m = &f->m[p];
		if ((uint64_t)ret != len || m->st == M_FLUX || m->st == M_UNKNOWN || m->st == M_TAIL ||
		    dma_covers(w, f, p) ||
		    (m->olen && (off > m->ooff || off + len < (uint64_t)m->ooff + m->olen))) {
			m->st = M_UNKNOWN; /* short, under a DMA, or a second part: not modelled */
		} else {
			m->ooff = (uint16_t)off;
			m->olen = (uint16_t)len;
			m->obyte = (uint8_t)byte;
		}
		if (p * PG + off + (uint64_t)ret > f->size)
			f->size = p * PG + off + (uint64_t)ret;
	}
	f_unlock(f);
}

static void op_pwrite(struct t_worker *w)
{
	struct torture *t = w->t;
	struct t_file *f = &w->f[rnd(w, T_FILES)];
	uint64_t p = rnd(w, t->maxpages), n = 1 + rnd(w, t->maxpages - p < 32 ? t->maxpages - p : 32);
	uint64_t gen = ++w->gen;
	struct f_op o;
	int64_t ret;

	if (!f_begin_open(w, f, FK_WRITE, &o))
		return;
	dma_snap(w);
	f_unlock(f);
	for (uint64_t i = 0; i < n; i++)
		stamp_page(w->buf + i * PG, f->fid, p + i, gen);
	w->io_lo = p * PG;
	w->io_hi = (p + n) * PG;
	ret = dc_dcfs_pwrite(t->fs, f->fd, w->buf, n * PG, p * PG);
	t_count(t, OP_PWRITE);
	hist_add(w, OP_PWRITE, f->fid, gen, p, n, ret);
	if (ret < 0)
		return pwrite_err(w, f, &o, (int)ret, p, p + n);
	if (f_end(w, f, &o)) {
		for (uint64_t i = 0; i < (uint64_t)ret / PG; i++)
			m_stamp(w, f, p + i, gen);
		if (ret % PG)
			f->m[p + (uint64_t)ret / PG].st = M_UNKNOWN;
		if (p * PG + (uint64_t)ret > f->size)
			f->size = p * PG + (uint64_t)ret;
	}
	f_unlock(f);
}

static void op_pread(struct t_worker *w)
{
	struct torture *t = w->t;
	struct t_file *f = &w->f[rnd(w, T_FILES)];
	uint64_t p = rnd(w, t->maxpages), n = 1 + rnd(w, t->maxpages - p < 64 ? t->maxpages - p : 64);
	uint64_t want;
	struct f_op o;
	int64_t ret;
	bool gone;

	if (!f_begin_open(w, f, FK_READ, &o))
		return;
	want = p * PG >= f->size ? 0 : f->size - p * PG < n * PG ? f->size - p * PG : n * PG;
	f_unlock(f);
	w->io_lo = p * PG;
	w->io_hi = (p + n) * PG;
	ret = dc_dcfs_pread(t->fs, f->fd, w->buf, n * PG, p * PG);
	t_count(t, OP_PREAD);
	if (ret < 0)
		(void)t_err_ok(w, f, (int)ret, "pread", NULL, &gone, false);
	if (!f_end(w, f, &o) || ret < 0) { /* the size or the pages changed under it: not checked */
		f_unlock(f);
		return;
	}
	if ((uint64_t)ret != want) {
		struct dc_dcfs_stat st = { 0 };

		(void)dc_dcfs_fstat(t->fs, f->fd, &st);
		t_violation(t, V_UNEXPECTED, "pread of %s at page %" PRIu64 ": %" PRId64 " bytes, the model says %" PRIu64 " (size %" PRIu64 ", the model's %" PRIu64 ")",
			    f->name, p, ret, want, st.size, f->size);
		if (!w->hist_dumped++)
			hist_dump(w, f->fid, 0);
	}
	else
		for (uint64_t i = 0; i * PG < want; i++)
			verify_page(w, f, p + i, w->buf + i * PG, want - i * PG < PG ? want - i * PG : PG,
				    "pread");
	f_unlock(f);
}

/* Accesses through a view, under the SIGBUS guard. */
struct vacc {
	unsigned char *base; /* the view's page @page */
	unsigned char *buf;
	uint64_t n;
	uint32_t fid;
	uint64_t page, gen;
	bool store;
	uint64_t raw;        /* a store of @raw bytes of @byte at @base instead (op_tail_store()) */
	int byte;
};

static void vacc_run(void *arg)
{
	struct vacc *a = arg;

	if (a->raw) {
		memset(a->base, a->byte, a->raw);
		return;
	}
	for (uint64_t i = 0; i < a->n; i++) {
		unsigned char *q = a->base + i * PG;

		if (a->store) {
			*(volatile unsigned char *)q = 0; /* the first access: the fault */
			stamp_page(q, a->fid, a->page + i, a->gen);
		} else {
			(void)*(volatile unsigned char *)q;
			memcpy(a->buf + i * PG, q, PG);
		}
	}
}

/*
 * A SIGBUS at @at of a view of @f in operation @o: the file's poison
 * (recycled), an injected failure, or past an end of file the other thread
 * moved meanwhile.
 */
static void view_sigbus(struct t_worker *w, struct t_file *f, void *at, const char *what,
			const struct f_op *o)
{
	struct torture *t = w->t;

	atomic_fetch_add(&t->sigbus, 1);
	if (f_overlapped_now(f, o))
		return;
	{
		struct dc_dcfs_statfs sf;

		dc_dcfs_statfs(t->fs, &sf);
		/* a write fault with no block to give (-ENOSPC): the device full or
		 * nearly so (the others free and take blocks meanwhile) */
		if (sf.blocks_free < 4 * (uint64_t)t->o.threads)
			return;
	}
	w->io_lo = (uint64_t)((char *)at - (char *)f->v.addr) & ~(uint64_t)(PG - 1);
	w->io_hi = w->io_lo + PG;
	if (file_poisoned(w, f, w->io_lo, w->io_hi)) {
		atomic_fetch_add(&t->poison_hits, 1);
		recycle(w, f);
		return;
	}
	if (t->o.fail_alloc) {
		atomic_fetch_add(&t->enomem, 1);
		return;
	}
	{
		struct dc_dcfs_stat st = { 0 };
		struct dc_dcfs_statfs sf = { 0 };

		(void)dc_dcfs_fstat(t->fs, f->fd, &st);
		dc_dcfs_statfs(t->fs, &sf);
		t_violation(t, V_UNEXPECTED, "%s of %s: SIGBUS at offset %" PRIu64 " (no poison; size %" PRIu64 ", free blocks %" PRIu64 ")", what,
			    f->name, (uint64_t)((char *)at - (char *)f->v.addr), st.size, sf.blocks_free);
	}
}

static void store_pages(struct t_worker *w, struct t_file *f, uint64_t p, uint64_t n,
			struct t_dma *race, struct f_op *o);

/* Stores of stamps into pages of a view (@explicit: dc_view_fault() first), then the rmap check. */
static void op_store(struct t_worker *w, bool explicit_fault)
{
	struct torture *t = w->t;
	struct t_file *f = &w->f[rnd(w, T_FILES)];
	struct f_op o;
	uint64_t p, n;
	bool any;

	f_begin(w, f, FK_WRITE, &o);
	any = f->fd >= 0 && f->mapped && pick_range(w, f, 16, &p, &n);
	f_unlock(f);
	if (any && explicit_fault) {
		int ret;

		w->io_lo = p * PG;
		w->io_hi = (p + n) * PG;
		ret = dc_view_fault(&f->v, p * PG, n * PG, DC_VIEW_FAULT_WRITE);
		bool gone;

		t_count(t, OP_STORE_FAULT);
		if (ret) {
			static const int ok[] = { -ENOSPC, 0 };

			if (ret == -EHWPOISON)
				ret = -EIO;
			(void)t_err_ok(w, f, ret, "dc_view_fault", ok, &gone, f_overlapped_now(f, &o));
			if (f_end(w, f, &o) && !gone)
				m_unknown(t, f, ret, p, p + n);
			f_unlock(f);
			return;
		}
	}
	if (any) {
		store_pages(w, f, p, n, NULL, &o);
	} else {
		f_done(w, f, &o);
	}
}

/*
 * The device pages the @n view pages at @base map now, as the kernel has
 * them (/proc/self/maps: a view maps the region's fd at the device page's
 * offset, a revoked page is anonymous): @pg[i] = the page, or UINT64_MAX
 * (not mapped to the region: revoked, or the trace failed).
 */
static void view_pages(struct torture *t, const unsigned char *base, uint64_t n, uint64_t *pg)
{
	uintptr_t lo = (uintptr_t)base, hi = lo + n * PG;
	struct stat rst;
	char line[512];
	FILE *fp;

	for (uint64_t i = 0; i < n; i++)
		pg[i] = UINT64_MAX;
	if (fstat(dc_region_fd(t->r), &rst) || !(fp = fopen("/proc/self/maps", "re")))
		return;
	while (fgets(line, sizeof(line), fp)) {
		unsigned long long s, e, off, ino;
		char perm[8];

		if (sscanf(line, "%llx-%llx %7s %llx %*s %llu", &s, &e, perm, &off, &ino) != 5 ||
		    e <= lo || s >= hi || perm[3] != 's' || ino != (unsigned long long)rst.st_ino)
			continue;
		for (uintptr_t a = s > lo ? s : lo; a < e && a < hi; a += PG)
			pg[(a - lo) / PG] = (off + (a - s)) / PG;
	}
	fclose(fp);
}

/*
 * After stores of @a through @f's view (operation @o): the device page each
 * stored-into view page maps now must hold the store's stamp (read through
 * the region's linear map; unless a DMA of the file may have written it
 * since: @dma[i]) and be the file's page by the reverse map.  A page revoked
 * meanwhile is not traced.  If an operation of the other thread overlapped
 * the stores, a page that fails counts only if the view still maps the same
 * device page after the check: then no revoke came in between (a revoke
 * comes before a block leaves the file, and only this thread faults the
 * view in again), so the view mapped it all along; and the content is not
 * checked: the fault of a later store maps a window around it anew
 * (fault-around), which may take in an earlier page in its new place, and
 * a store of one page that a revoke cuts in two lands in two blocks.
 */
static void store_trace(struct t_worker *w, struct t_file *f, const struct vacc *a,
			const bool *dma, struct f_op *o)
{
	struct torture *t = w->t;
	uint64_t pg[T_STORE_MAX], again[T_STORE_MAX];
	char why[T_STORE_MAX][160];
	bool bad[T_STORE_MAX] = { false }, any = false, own_bad[T_STORE_MAX] = { false };
	/* a layout change or a copy since the stores began: the content is not checked */
	bool over = f_moved_now(f, o);
	unsigned char want[PG], got[PG];

	view_pages(t, a->base, a->n, pg);
	for (uint64_t i = 0; i < a->n; i++) {
		uint64_t page = a->page + i;
		const unsigned char *q;
		struct stamp s;

		if (pg[i] == UINT64_MAX || pg[i] >= t->npages) {
			atomic_fetch_add(&t->store_revoked, 1);
			continue;
		}
		atomic_fetch_add(&t->store_checked, 1);
		dma_mem_copy(got, dc_region_addr(t->r, pg[i]), PG);
		q = got;
		stamp_page(want, a->fid, page, a->gen);
		if (!t_poisoned(t, pg[i]) && !dma[i] && !over && memcmp(q, want, PG)) {
			bool st = stamp_read(q, &s);

			snprintf(why[i], sizeof(why[i]), "%s file %u page %" PRIu64 " gen %" PRIu64,
				 st ? "shows" : "no stamp", s.fid, s.page, s.gen);
			bad[i] = any = true;
		}
		if (!own_check(t, pg[i], f->ino, page * PG, OWN_STORE, true, false, "store through a view",
			       NULL))
			own_bad[i] = any = true;
	}
	if (!any)
		return;
	if (f_moved_now(f, o))
		view_pages(t, a->base, a->n, again);
	else
		memcpy(again, pg, a->n * sizeof(pg[0]));
	for (uint64_t i = 0; i < a->n; i++) {
		if (again[i] != pg[i]) { /* revoked meanwhile: not traced */
			atomic_fetch_add(&t->store_revoked, 1);
			continue;
		}
		if ((bad[i] || own_bad[i]) && !w->hist_dumped++) {
			fprintf(stderr, "daxcore torture:   store of pages %" PRIu64 "+%" PRIu64 " gen %" PRIu64 ", overlapped %d:", a->page, a->n, a->gen, (int)f_overlapped_now(f, o));
			for (uint64_t j = 0; j < a->n; j++)
				fprintf(stderr, " %" PRId64, (int64_t)pg[j]);
			fprintf(stderr, "\n");
			hist_dump(w, f->fid, 0);
		}
		if (bad[i])
			t_violation(t, V_STORE_ASTRAY,
				    "store into %s page %" PRIu64 " gen %" PRIu64 ": device page %" PRIu64 " it maps does not hold it (%s)",
				    f->name, a->page + i, a->gen, pg[i], why[i]);
		if (own_bad[i])
			(void)own_check(t, pg[i], f->ino, (a->page + i) * PG, OWN_STORE, true, true,
					"store through a view", NULL);
	}
}

/*
 * Stores of stamps into view pages [@p, @p + @n) of @f, then the rmap
 * check, as operation @o (FK_WRITE, begun by the caller, the lock dropped:
 * ended here).  @race (--ops race): a held DMA, released once the stores
 * landed, before their model is set.
 */
static void store_pages(struct t_worker *w, struct t_file *f, uint64_t p, uint64_t n,
			struct t_dma *race, struct f_op *op)
{
	struct torture *t = w->t;
	struct vacc a = { 0 };
	bool dma[T_STORE_MAX], hole[T_STORE_MAX];
	struct f_op o = *op;
	void *at;

	if (n > T_STORE_MAX)
		n = T_STORE_MAX;
	a.base = (unsigned char *)f->v.addr + p * PG;
	a.n = n;
	a.fid = f->fid;
	a.page = p;
	a.gen = ++w->gen;
	a.store = true;
	t_count(t, OP_STORE);
	hist_add(w, OP_STORE, f->fid, a.gen, p, n, 0);
	f_lock(f);
	dma_snap(w);
	for (uint64_t i = 0; i < n; i++) /* a DMA of the file may write the page after the store */
		dma[i] = f->m[p + i].st == M_FLUX || dma_covers(w, f, p + i);
	f_unlock(f);
	if (sigbus_guard(vacc_run, &a, &at)) {
		/* the pages stored before the fault hold the new stamp, the rest are unknown */
		view_sigbus(w, f, at, "store", &o);
		if (f_end(w, f, &o))
			for (uint64_t i = p; i < p + n; i++)
				f->m[i].st = M_UNKNOWN;
		f_unlock(f);
		return;
	}
	/* before the held DMA goes on: it writes nothing meanwhile */
	store_trace(w, f, &a, dma, &o);
	if (race)
		race_release(race);
	for (uint64_t i = 0; i < n; i++) {
		struct dc_dcfs_iomap map;

		hole[i] = dc_dcfs_iomap(t->fs, f->fd, (p + i) * PG, PG, 0, &map) ||
			  map.type == DC_DCFS_IOMAP_HOLE;
	}
	if (f_end(w, f, &o)) {
		for (uint64_t i = 0; i < n; i++) {
			m_stamp(w, f, p + i, a.gen);
			if (hole[i]) /* the store went nowhere */
				t_violation(t, V_UNEXPECTED, "store into %s page %" PRIu64 ": still a hole",
					    f->name, p + i);
		}
	}
	f_unlock(f);
}

/*
 * Loads of view pages [@p, @p + @n) of @f, compared with the model, as
 * operation @op (FK_READ, begun by the caller, the lock dropped: ended here).
 */
static void load_pages(struct t_worker *w, struct t_file *f, uint64_t p, uint64_t n,
		       struct f_op *op)
{
	struct torture *t = w->t;
	struct vacc a = { 0 };
	struct f_op o = *op;
	void *at;

	a.base = (unsigned char *)f->v.addr + p * PG;
	a.buf = w->buf;
	a.n = n;
	t_count(t, OP_LOAD);
	if (sigbus_guard(vacc_run, &a, &at)) {
		view_sigbus(w, f, at, "load", &o);
		f_done(w, f, &o);
		return;
	}
	if (f_end(w, f, &o))
		for (uint64_t i = 0; i < n; i++)
			verify_page(w, f, p + i, w->buf + i * PG, PG, "load through a view");
	f_unlock(f);
}

static void op_load(struct t_worker *w)
{
	struct t_file *f = &w->f[rnd(w, T_FILES)];
	struct f_op o;
	uint64_t p, n;
	bool any;

	f_begin(w, f, FK_READ, &o);
	any = f->fd >= 0 && f->mapped && pick_range(w, f, 64, &p, &n);
	if (!any)
		return f_nothing(w, f, &o);
	f_unlock(f);
	load_pages(w, f, p, n, &o);
}

/* A store past the end of file (revoked by the truncate that shrank it) must fault. */
static void op_eof_store(struct t_worker *w)
{
	struct torture *t = w->t;
	struct t_file *f = &w->f[rnd(w, T_FILES)];
	struct vacc a = { 0 };
	struct f_op o;
	uint64_t p, size;
	void *at;
	bool faulted;

	f_begin(w, f, FK_WRITE, &o);
	size = f->size;
	f_unlock(f);
	/* past the last block: inside it, the view maps the whole block */
	p = (size + t->block - 1) / t->block * t->block / PG;
	if (f->fd < 0 || !f->mapped || p >= t->maxpages) {
		f_done(w, f, &o);
		return;
	}
	p += rnd(w, t->maxpages - p);
	a.base = (unsigned char *)f->v.addr + p * PG;
	a.n = 1;
	a.fid = f->fid;
	a.page = p;
	a.gen = ++w->gen;
	a.store = true;
	t_count(t, OP_EOF_STORE);
	faulted = sigbus_guard(vacc_run, &a, &at);
	/* a layout change meanwhile (a truncate up) may have made the store legal */
	if (f_end(w, f, &o) && !faulted) {
		struct dc_dcfs_stat st = { 0 };

		(void)dc_dcfs_fstat(t->fs, f->fd, &st);
		t_violation(t, V_STORE_LANDED, "a store into %s at page %" PRIu64 ", past its end (%" PRIu64 " bytes; the file says %" PRIu64 "), did not fault",
			    f->name, p, size, st.size);
		if (!w->hist_dumped++)
			hist_dump(w, f->fid, p);
	}
	f_unlock(f);
}

/*
 * Stores through the view past the end of file inside its last page (the
 * view maps the page whole: they land; SIGBUS is taken too): whatever lands
 * there is not the file's, and when the file grows those bytes must read
 * zeros (the model keeps them zeros: a growth that does not zero the old
 * last block's tail shows them).
 */
static void op_tail_store(struct t_worker *w)
{
	struct torture *t = w->t;
	struct t_file *f = &w->f[rnd(w, T_FILES)];
	struct vacc a = { 0 };
	struct f_op o;
	uint64_t size, end;
	void *at;

	f_begin(w, f, FK_WRITE, &o); /* a racing growth may make them the file's: a resync */
	size = f->size;
	end = (size + PG - 1) / PG * PG; /* the last page's tail: a view maps the page whole */
	if (f->fd < 0 || !f->mapped || end == size || end > t->maxpages * PG)
		return f_nothing(w, f, &o);
	f_unlock(f);
	a.base = (unsigned char *)f->v.addr + size;
	a.raw = 1 + rnd(w, end - size);
	a.byte = fill_byte(f->fid, ++w->gen);
	t_count(t, OP_TAIL_STORE);
	(void)sigbus_guard(vacc_run, &a, &at);
	f_done(w, f, &o);
}

/* ---- layout -------------------------------------------------------------------------- */

static struct dc_wait_opts wait_opts(void)
{
	struct dc_wait_opts o = { 0 };

	o.deadline_ns = dc_now_ns() + 20ull * 1000000000ull;
	return o;
}

static void layout_done(struct t_worker *w, uint64_t t0)
{
	struct torture *t = w->t;
	uint64_t d = dc_now_ns() - t0, max = atomic_load(&t->wait_max_ns);

	while (d > max && !atomic_compare_exchange_weak(&t->wait_max_ns, &max, d))
		;
}

/* Did a layout call give up waiting (its deadline) or fail acceptably? */
static bool layout_err(struct t_worker *w, struct t_file *f, int ret, const char *op, bool raced)
{
	static const int ok[] = { -ENOSPC, -EOVERFLOW, 0 };
	bool gone;

	if (ret == -ETIMEDOUT) {
		atomic_fetch_add(&w->t->timeouts, 1);
		t_violation(w->t, V_WATCHDOG, "%s of %s waited 20 s for pins", op, f->name);
		return true;
	}
	(void)t_err_ok(w, f, ret, op, ok, &gone, raced);
	return true;
}

static void op_truncate(struct t_worker *w)
{
	struct torture *t = w->t;
	struct t_file *f = &w->f[rnd(w, T_FILES)];
	uint64_t np = rnd(w, t->maxpages + 1), t0 = dc_now_ns();
	/* half of them to inside a page: its tail must read zeros when the file grows again */
	uint64_t r = np < t->maxpages && rnd(w, 2) ? rnd(w, PG) : 0;
	struct dc_wait_opts o = wait_opts();
	unsigned char old[PG];
	uint64_t s0, len = 0;
	struct f_op fo;
	int ret;

	bool back;

	if (!f_begin_open(w, f, FK_LAYOUT, &fo))
		return;
	s0 = f->size;
	/*
	 * Grown from inside a page: that page is read back at once, its old
	 * tail must be zeros (checked unless a DMA started meanwhile: it may
	 * write the page before its start marks it in flux).
	 */
	back = s0 % PG && np * PG + r > s0;
	f_unlock(f);
	w->io_lo = np * PG + r;
	ret = dc_dcfs_truncate(t->fs, f->fd, np * PG + r, &o);
	if (!ret && back) {
		int64_t got = dc_dcfs_pread(t->fs, f->fd, old, PG, s0 / PG * PG);

		len = got > 0 ? (uint64_t)got : 0;
	}
	layout_done(w, t0);
	t_count(t, OP_TRUNCATE);
	hist_add(w, OP_TRUNCATE, f->fid, 0, np, UINT64_MAX, ret);
	if (ret) {
		layout_err(w, f, ret, "truncate", f_overlapped_now(f, &fo));
		if (f_end(w, f, &fo))
			m_unknown(t, f, ret, np, t->maxpages);
		f_unlock(f);
		return;
	}
	if (f_end(w, f, &fo)) {
		if (len && !f_saw(f, &fo, FK_PIN))
			verify_page(w, f, s0 / PG, old, len, "read after a truncate that grew the file");
		f->layout_gen++;
		m_set_zero(f, np + !!r, t->maxpages, t->maxpages);
		if (r)
			m_clamp(&f->m[np], r);
		f->size = np * PG + r;
	}
	f_unlock(f);
}

static void op_falloc(struct t_worker *w, unsigned mode)
{
	struct torture *t = w->t;
	struct t_file *f = &w->f[rnd(w, T_FILES)];
	uint64_t bpp = t->block / PG, p, n, t0;
	struct dc_wait_opts o;
	static const enum t_op opn[] = { 0, OP_PUNCH, OP_ZERO, OP_COLLAPSE, OP_INSERT };
	static const char *const name[] = { "", "punch", "zero", "collapse", "insert" };
	struct f_op fo;
	int ret;

	if (!f_begin_open(w, f, FK_LAYOUT, &fo))
		return;
	if ((mode == DC_DCFS_FALLOC_PUNCH || mode == DC_DCFS_FALLOC_ZERO) && (bpp == 1 || rnd(w, 2))) {
		p = rnd(w, t->maxpages);
		n = 1 + rnd(w, t->maxpages - p < 64 ? t->maxpages - p : 64);
	} else if (mode == DC_DCFS_FALLOC_PUNCH || mode == DC_DCFS_FALLOC_ZERO) {
		/* whole blocks (2 MiB ones too): blocks leave the file, not only pages of them */
		uint64_t maxb = t->maxpages / bpp;

		p = rnd(w, maxb);
		n = (1 + rnd(w, maxb - p < 2 ? maxb - p : 2)) * bpp;
		p *= bpp;
	} else {
		uint64_t blocks = f->size / t->block; /* whole blocks inside the size */

		if (!blocks)
			return f_nothing(w, f, &fo);
		if (mode == DC_DCFS_FALLOC_COLLAPSE) {
			if (blocks * t->block == f->size && --blocks == 0)
				return f_nothing(w, f, &fo); /* off + len must stay below the size */
			p = rnd(w, blocks);
			n = 1 + rnd(w, blocks - p);
		} else {
			uint64_t room = (t->maxpages * PG - f->size) / t->block;

			if (!room)
				return f_nothing(w, f, &fo);
			p = rnd(w, (f->size + t->block - 1) / t->block);
			n = 1 + rnd(w, room < 4 ? room : 4);
		}
		p *= bpp;
		n *= bpp;
	}
	f_unlock(f);
	o = wait_opts();
	t0 = dc_now_ns();
	if (mode == DC_DCFS_FALLOC_COLLAPSE)
		shift_log(f, p, p + n, -(int64_t)n, false);
	else if (mode == DC_DCFS_FALLOC_INSERT)
		shift_log(f, p, p, (int64_t)n, false);
	w->io_lo = p * PG; /* collapse and insert move what follows */
	w->io_hi = mode >= DC_DCFS_FALLOC_COLLAPSE ? UINT64_MAX : (p + n) * PG;
	ret = dc_dcfs_fallocate(t->fs, f->fd, mode, p * PG, n * PG, &o);
	if (mode >= DC_DCFS_FALLOC_COLLAPSE)
		shift_end(f);
	layout_done(w, t0);
	t_count(t, opn[mode]);
	hist_add(w, (int)opn[mode], f->fid, 0, p, n, ret);
	if (ret) {
		layout_err(w, f, ret, name[mode], f_overlapped_now(f, &fo));
		if (f_end(w, f, &fo))
			m_unknown(t, f, ret, p, mode >= DC_DCFS_FALLOC_COLLAPSE ? t->maxpages : p + n);
		f_unlock(f);
		return;
	}
	if (!f_end(w, f, &fo)) {
		f_unlock(f);
		return;
	}
	f->layout_gen++;
	if (mode == DC_DCFS_FALLOC_PUNCH) {
		m_set_zero(f, p, n, (f->size + PG - 1) / PG);
	} else if (mode == DC_DCFS_FALLOC_ZERO) {
		m_set_zero(f, p, n, t->maxpages);
		if ((p + n) * PG > f->size)
			f->size = (p + n) * PG;
	} else if (mode == DC_DCFS_FALLOC_COLLAPSE) {
		memmove(&f->m[p], &f->m[p + n], (t->maxpages - p - n) * sizeof(*f->m));
		m_set_zero(f, t->maxpages - n, n, t->maxpages);
		f->size -= n * PG;
	} else {
		memmove(&f->m[p + n], &f->m[p], (t->maxpages - p - n) * sizeof(*f->m));
		m_set_zero(f, p, n, t->maxpages);
		f->size += n * PG;
	}
	f_unlock(f);
}

/*
 * A reflink between two of the worker's files (or within one): a layout
 * change of the destination, a read of the source (its model is copied:
 * only if no write of the other thread overlapped, else the copy is
 * unknown).  The two files' locks are taken in slot order.
 */
static void op_reflink(struct t_worker *w)
{
	struct torture *t = w->t;
	unsigned si = (unsigned)rnd(w, T_FILES), di = (unsigned)rnd(w, T_FILES);
	struct t_file *s = &w->f[si], *d = &w->f[di];
	uint64_t bpp = t->block / PG, sb, maxb = t->maxpages / bpp;
	uint64_t so, len, dof, t0;
	struct dc_wait_opts o;
	struct f_op os, od;
	struct t_mpage *tmp;
	bool ex_s = true, ex_d;
	int ret;

	if (s != d) {
		f_begin(w, s, FK_READ, &os);
		f_unlock(s);
	}
	f_begin(w, d, FK_LAYOUT, &od);
	f_unlock(d);
	f_lock(s);
	sb = s->size / t->block;
	f_unlock(s);
	so = rnd(w, sb);
	len = 1 + rnd(w, sb - so < 4 ? sb - so : 4);
	dof = rnd(w, maxb - len + 1);
	if (s->fd < 0 || d->fd < 0 || !sb || (s == d && dof < so + len && so < dof + len)) {
		ret = 1; /* nothing to do; overlapping within one file */
		goto out;
	}
	so *= bpp;
	len *= bpp;
	dof *= bpp;
	o = wait_opts();
	t0 = dc_now_ns();
	ret = dc_dcfs_reflink(t->fs, s->fd, so * PG, d->fd, dof * PG, len * PG, &o);
	layout_done(w, t0);
	t_count(t, OP_REFLINK);
	hist_add(w, OP_REFLINK, d->fid, s->fid, dof, len, ret);
	if (ret)
		layout_err(w, d, ret, "reflink", f_overlapped_now(d, &od) || (s != d && f_overlapped_now(s, &os)));
out:
	/*
	 * The source's model is copied: not if a DMA into it started
	 * meanwhile (it writes before its pages are marked in flux, at the
	 * end of its start).
	 */
	if (s != d && si < di) {
		ex_s = f_end(w, s, &os) && !f_saw(s, &os, FK_PIN);
		ex_d = f_end(w, d, &od);
	} else {
		ex_d = f_end(w, d, &od);
		if (s != d)
			ex_s = f_end(w, s, &os) && !f_saw(s, &os, FK_PIN);
		else
			ex_s = !f_saw(d, &od, FK_PIN);
	}
	if (ret < 0 && ex_d) {
		m_unknown(t, d, ret, dof, dof + len); /* partly cloned: block by block */
	} else if (!ret && ex_d) {
		d->layout_gen++;
		tmp = ex_s ? malloc(len * sizeof(*tmp)) : NULL;
		if (!tmp) { /* a write of the source overlapped: which version was cloned? */
			for (uint64_t i = dof; i < dof + len; i++)
				d->m[i].st = M_UNKNOWN;
		} else {
			memcpy(tmp, &s->m[so], len * sizeof(*tmp));
			for (uint64_t i = 0; i < len; i++)
				if (tmp[i].st == M_FLUX) /* a DMA into the source: copied when? */
					tmp[i].st = M_UNKNOWN;
			memcpy(&d->m[dof], tmp, len * sizeof(*tmp));
			free(tmp);
		}
		if ((dof + len) * PG > d->size)
			d->size = (dof + len) * PG;
	}
	f_unlock(d);
	if (s != d)
		f_unlock(s);
}

static void op_fsync(struct t_worker *w)
{
	struct t_file *f = &w->f[rnd(w, T_FILES)];
	struct f_op o;
	int ret;
	bool gone;

	if (!f_begin_open(w, f, FK_READ, &o))
		return;
	f_unlock(f);
	ret = dc_dcfs_fsync(w->t->fs, f->fd, rnd(w, 2));
	t_count(w->t, OP_FSYNC);
	if (ret)
		(void)t_err_ok(w, f, ret, "fsync", NULL, &gone, false);
	f_done(w, f, &o);
}

/*
 * A memory failure of a random device page: of one of our files' blocks, or
 * anywhere.  Of our file's block, with no layout change or copy of the
 * partner's meanwhile: it must be reported to that file at that offset
 * (DC_DCFS_EV_MEMORY_FAILURE, in this thread), and every report must name
 * one of the worker's files (a block of ours is shared by ours only), or
 * one it unlinked that a DMA still keeps.
 */
static void op_poison(struct t_worker *w)
{
	struct torture *t = w->t;
	struct t_file *f = &w->f[rnd(w, T_FILES)];
	uint64_t pgoff = UINT64_MAX, fpage = 0, size, ino;
	const struct t_mf_ev *ev;
	struct dc_dcfs_iomap map;
	bool own = false, quiet;
	struct f_op o;
	unsigned nev;
	int ret;

	if (w->npoisoned >= T_POISON_BUDGET) /* its own budget: not what the others did */
		return;
	w->npoisoned++;
	f_begin(w, f, FK_READ, &o);
	size = f->size;
	f_unlock(f);
	if (f->fd >= 0 && size && !rnd(w, 2)) { /* the first page with a block from a random one on */
		fpage = rnd(w, (size + PG - 1) / PG);
		for (unsigned i = 0; i < 8 && fpage * PG < size; i++) {
			if (dc_dcfs_iomap(t->fs, f->fd, fpage * PG, size - fpage * PG, 0, &map) ||
			    !map.length || map.offset > fpage * PG)
				break;
			if (map.type != DC_DCFS_IOMAP_HOLE) {
				pgoff = map.pgoff + (fpage * PG - map.offset) / PG;
				own = true;
				break;
			}
			fpage = (map.offset + map.length + PG - 1) / PG;
		}
	}
	if (pgoff == UINT64_MAX)
		pgoff = rnd(w, t->npages);
	t_poison_note(t, pgoff);
	t_mf_reset();
	atomic_fetch_add(&t->mf_started, 1);
	ret = dc_folio_memory_failure(t->r, pgoff, 1);
	atomic_fetch_add(&t->mf_finished, 1);
	t_count(t, OP_POISON);
	if (!ret)
		t_poison_done(t, pgoff);
	nev = t_mf_events(&ev);
	quiet = !f_moved_now(f, &o);
	ino = f->ino;
	f_done(w, f, &o);
	if (ret && ret != -EBUSY && !(ret == -ENOMEM && t->o.fail_alloc))
		t_violation(t, V_UNEXPECTED, "memory failure of page %" PRIu64 ": %s (%s)", pgoff,
			    ename(ret), dc_errmsg());
	if (ret || !own || !quiet)
		return;
	atomic_fetch_add(&t->mf_routed, 1);
	if (nev > T_MF_EVS) {
		t_violation(t, V_MF_ROUTE, "memory failure of page %" PRIu64 ": %u reports for one block",
			    pgoff, nev);
		return;
	}
	for (unsigned i = 0; i < nev; i++) {
		bool ours = false;

		for (unsigned j = 0; j < T_FILES && !ours; j++) {
			struct t_file *g = &w->f[j];

			f_lock(g);
			ours = g->ino == ev[i].ino;
			for (unsigned k = 0; k < T_OLD_INOS && k < g->nold && !ours; k++)
				ours = g->old_ino[k] == ev[i].ino; /* unlinked, kept by a DMA */
			f_unlock(g);
		}
		if (!ours)
			t_violation(t, V_MF_ROUTE, "memory failure of page %" PRIu64 " (%s page %" PRIu64 ") reported to ino %" PRIu64 " offset %" PRIu64 ", not a file of the worker's",
				    pgoff, f->name, fpage, ev[i].ino, ev[i].offset);
		if (ev[i].ino == ino && ev[i].offset <= fpage * PG &&
		    fpage * PG < ev[i].offset + ev[i].length) {
			if (ev[i].pgoff + (fpage * PG - ev[i].offset) / PG != pgoff)
				t_violation(t, V_MF_ROUTE, "memory failure of page %" PRIu64 " reported to %s at offset %" PRIu64 " as device page %" PRIu64,
					    pgoff, f->name, fpage * PG,
					    ev[i].pgoff + (fpage * PG - ev[i].offset) / PG);
			own = false; /* seen */
		}
	}
	if (own)
		t_violation(t, V_MF_ROUTE, "memory failure of page %" PRIu64 " (%s page %" PRIu64 ", ino %" PRIu64 "): not reported to the file (%u reports)",
			    pgoff, f->name, fpage, ino, nev);
}

static void op_fail_alloc(struct t_worker *w)
{
	if (!dc__fault_set_thread || !w->t->o.fail_alloc)
		return;
	/* one of this worker's own next allocations: not another thread's */
	dc__fault_set_thread(1 + rnd(w, w->t->o.fail_alloc));
	t_count(w->t, OP_FAIL_ALLOC);
}

/* ---- kill mode: a client thread cancelled mid-DMA ----------------------------------- */

/*
 * A client (a thread of its own) pins a range of a file and starts a 10 s
 * DMA into it, then sleeps until the DMA is done; the worker cancels it in
 * that sleep.  What a kernel does for a killed process (its file release
 * tells the driver to stop the device), the client's cleanup handler does:
 * it asks the DMA engine to stop, and the DMA unpins when it stops, as a
 * device's completion would.  Then the worker checks the library, not this
 * code: (a) the killed range, written again by pwrite, reads back exactly
 * (its model exact again, not unknown); (b) no pin of the file carries the
 * killed tag and the file holds as many pins as before the kill, and with
 * one worker so does the mount (dc_dcfs_statfs()); (c) with one worker, the
 * process holds as many descriptors as before (an io_uring ring or data
 * file a killed client leaked shows there; with more workers their DMAs
 * open and close descriptors meanwhile: every quiescent point checks them
 * instead, torture.c).
 *
 * The cancellation point is nanosleep() in a loop on dma_done(), not
 * pthread_join() inside dma_wait().  Under ThreadSanitizer a thread
 * cancelled inside a call TSan intercepts (pthread_join(), nanosleep())
 * runs its cleanup handlers and thread-specific destructors with TSan's
 * interceptors off, so TSan misses their locks and reports races that are
 * none (google/sanitizers#646; here one in the library's liveref
 * thread-exit fold, under its mutex), and an asynchronous cancellation in
 * a bare loop hung one TSan run of two.  So the TSan build naps with
 * cancellation disabled and takes it in pthread_testcancel(), which TSan
 * does not intercept: its clients are cancelled too, between naps.
 */
struct kill_client {
	struct t_worker *w;
	struct t_file *f;
	uint64_t off, len;
	char tag[32];
	enum dma_engine engine;
	struct t_dma x;
	struct dma *d;
	_Atomic int started; /* 1 running, -1 failed */
};

static void kill_cleanup(void *arg)
{
	struct kill_client *k = arg;

	/* the killed process's file release: stop the device (the worker reaps it) */
	dma_cancel(k->d);
}

static void *kill_thread(void *arg)
{
	struct kill_client *k = arg;
	struct torture *t = k->w->t;
	struct dc_dcfs_pinset ps;
	int ret;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	ret = dc_dcfs_pin(t->fs, k->f->fd, k->off, k->len, 0, k->tag, &ps);
	if (!ret) {
		ret = dma_start_pass(t->fs, &ps, k->engine, k->x.byte, 10000, k->tag, pass_hook,
				     &k->x, &k->d);
		if (ret)
			(void)dc_dcfs_unpin(t->fs, &ps);
	}
	if (ret) {
		atomic_store(&k->started, -1);
		return NULL;
	}
	pthread_cleanup_push(kill_cleanup, k);
	atomic_store(&k->started, 1);
#ifdef __SANITIZE_THREAD__
	while (!dma_done(k->d)) { /* 10 s, unless cancelled in pthread_testcancel() */
		nap();
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		pthread_testcancel();
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	}
#else
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
	while (!dma_done(k->d)) /* 10 s, unless cancelled in nap()'s nanosleep() */
		nap();
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
#endif
	pthread_cleanup_pop(0);
	return NULL;
}

/*
 * The worker's pins of @f's file (all of them, not the first 16; not its
 * partner's probes, which come and go meanwhile): how many; *@tagged: with
 * @tag.
 */
static int kill_pins(struct torture *t, struct t_file *f, const char *tag, int *tagged)
{
	struct dc_dcfs_pin_info one[16], *pi = one, *all;
	int n = dc_dcfs_pins(t->fs, f->fd, 0, UINT64_MAX, pi, 16), max = 16, mine = 0;

	*tagged = 0;
	if (n > max && (all = calloc((size_t)n, sizeof(*all)))) {
		pi = all;
		max = n;
		n = dc_dcfs_pins(t->fs, f->fd, 0, UINT64_MAX, pi, (unsigned)max);
	}
	for (int i = 0; i < n && i < max; i++) {
		*tagged += !strcmp(pi[i].tag, tag);
		mine += pi[i].tag[0] == 'w';
	}
	if (pi != one)
		free(pi);
	if (n < 0 && (n != -ENOMEM || !t->o.fail_alloc))
		t_violation(t, V_UNEXPECTED, "dc_dcfs_pins of %s: %s", f->name, ename(n));
	return n < 0 ? n : mine;
}

/* (a) after a kill: pages [@p, @p + @n) of @f written again and read back, the model exact. */
/*
 * (a) after a kill: pages [@p, @p + @n) of @f written again and read back,
 * the model exact (an operation of its own: if the partner changed the
 * layout meanwhile, nothing is concluded).
 */
static void kill_restamp(struct t_worker *w, struct t_file *f, uint64_t p, uint64_t n)
{
	static const int ok[] = { -ENOSPC, 0 };
	struct torture *t = w->t;
	uint64_t gen = ++w->gen;
	struct f_op o;
	int64_t ret;
	bool gone = false, exact;

	f_begin(w, f, FK_WRITE, &o);
	dma_snap(w);
	f_unlock(f);
	for (uint64_t i = 0; i < n; i++)
		stamp_page(w->buf + i * PG, f->fid, p + i, gen);
	w->io_lo = p * PG;
	w->io_hi = (p + n) * PG;
	ret = dc_dcfs_pwrite(t->fs, f->fd, w->buf, n * PG, p * PG);
	hist_add(w, OP_PWRITE, f->fid, gen, p, n, ret);
	if (ret < 0)
		(void)t_err_ok(w, f, (int)ret, "pwrite after a kill", ok, &gone, false);
	if (ret == (int64_t)(n * PG)) /* read back inside the operation: the layout as written */
		ret = dc_dcfs_pread(t->fs, f->fd, w->buf + n * PG, n * PG, p * PG);
	else
		ret = -ENOSPC;
	exact = f_end(w, f, &o) && !gone;
	if (exact && ret != (int64_t)(n * PG)) { /* short (no space), or failed: unknown */
		m_unknown(t, f, (int)ret, p, p + n);
		for (uint64_t i = p; i < p + n; i++)
			f->m[i].st = M_UNKNOWN;
	} else if (exact) {
		for (uint64_t i = p; i < p + n; i++) {
			m_stamp(w, f, i, gen); /* no DMA of the worker runs: exact */
			if (f->m[i].st != M_STAMP)
				t_violation(t, V_UNEXPECTED, "%s page %" PRIu64 ": unknown after its pwrite after a kill",
					    f->name, i);
		}
		if (p * PG + n * PG > f->size)
			f->size = p * PG + n * PG;
		for (uint64_t i = 0; i < n; i++)
			verify_page(w, f, p + i, w->buf + (n + i) * PG, PG, "read after a kill");
	}
	f_unlock(f);
}

static void op_kill(struct t_worker *w)
{
	struct torture *t = w->t;
	struct t_file *f = &w->f[rnd(w, T_FILES)];
	bool solo = t->o.threads == 1; /* the descriptors are the worker's alone (and its partner's) */
	struct kill_client *k;
	int pins0, pins1, tagged, fds0 = -1, fds1, ret;
	uint64_t p, n;
	pthread_t th;
	void *res;
	struct f_op o;

	f_begin(w, f, FK_WRITE, &o); /* the killed client's DMA writes the pages */
	if (f->fd < 0 || !pick_range(w, f, 32, &p, &n))
		return f_nothing(w, f, &o);
	f_unlock(f);
	k = calloc(1, sizeof(*k));
	if (!k) {
		f_done(w, f, &o);
		return;
	}
	k->w = w;
	k->f = f;
	k->off = p * PG;
	k->len = n * PG;
	k->x.t = t;
	k->x.fd = -1; /* no size check of its own: the kill is checked after */
	k->x.write = true;
	k->x.fid = f->fid;
	k->x.ino = f->ino;
	k->x.gen = ++w->gen;
	k->x.byte = fill_byte(f->fid, k->x.gen);
	k->engine = pick_engine(w);
	snprintf(k->tag, sizeof(k->tag), "w%u.kill%" PRIu64, w->idx, k->x.gen);
	reap(w, true); /* none of the worker's DMAs in flight: the counts below are exact */
	pins0 = kill_pins(t, f, k->tag, &tagged);
	if (solo)
		fds0 = t_fds_open();
	if (pthread_create(&th, NULL, kill_thread, k)) {
		free(k);
		f_done(w, f, &o);
		return;
	}
	while (!atomic_load(&k->started))
		sched_yield();
	if (atomic_load(&k->started) > 0) {
		struct timespec ts = { 0, (long)(1 + rnd(w, 5)) * 1000000 };

		nanosleep(&ts, NULL);
		pthread_cancel(th);
	}
	pthread_join(th, &res);
	t_count(t, OP_KILL);
	if (atomic_load(&k->started) < 0) {
		free(k);
		f_done(w, f, &o);
		return;
	}
	if (res == PTHREAD_CANCELED)
		atomic_fetch_add(&t->kills, 1);
	else
		t_violation(t, V_UNEXPECTED, "client %s: not cancelled", k->tag);
	/* the DMA stopped (kill_cleanup()): it has unpinned once it is done */
	ret = dma_wait(k->d);
	if (ret)
		t_violation(t, V_UNEXPECTED, "killed client %s: its DMA: %s", k->tag, ename(ret));
	pins1 = kill_pins(t, f, k->tag, &tagged);
	if (tagged)
		t_violation(t, V_LEAK, "killed client %s: %d pin(s) with its tag still held", k->tag,
			    tagged);
	if (pins0 >= 0 && pins1 >= 0 && pins1 != pins0)
		t_violation(t, V_LEAK, "killed client %s: %s holds %d pin(s) of the worker, %d before the kill",
			    k->tag, f->name, pins1, pins0);
	if (solo) {
		fds1 = t_fds_open();
		if (fds0 >= 0 && fds1 >= 0 && fds1 != fds0)
			t_violation(t, V_LEAK, "killed client %s: %d descriptors open, %d before the kill",
				    k->tag, fds1, fds0);
	}
	if (f_end(w, f, &o)) /* what it wrote before it died: unknown */
		for (uint64_t i = p; i < p + n; i++)
			f->m[i].st = M_UNKNOWN;
	f_unlock(f);
	free(k);
	kill_restamp(w, f, p, n);
}

/*
 * A test aid for the watchdog (--ops stall): pin a page of a file and
 * truncate the file under it with no deadline.  Without the quarantine the
 * truncate waits for the pin, which this thread holds: nothing progresses,
 * and the watchdog must report the pin and the wait and fail the run.
 */
static void op_stall(struct t_worker *w)
{
	struct torture *t = w->t;
	struct t_file *f = &w->f[0];
	struct dc_dcfs_pinset ps;
	struct f_op o;
	char tag[32];
	int ret;

	f_begin(w, f, FK_LAYOUT, &o);
	if (f->fd < 0 || (!f->size && dc_dcfs_truncate(t->fs, f->fd, PG, NULL)))
		return f_nothing(w, f, &o);
	f->size = f->size ? f->size : PG;
	f_unlock(f);
	snprintf(tag, sizeof(tag), "w%u.stall", w->idx);
	ret = dc_dcfs_pin(t->fs, f->fd, 0, PG, 0, tag, &ps);
	if (!ret) {
		t_count(t, OP_STALL);
		ret = dc_dcfs_truncate(t->fs, f->fd, 0, NULL);
		(void)dc_dcfs_unpin(t->fs, &ps);
	}
	if (f_end(w, f, &o) && !ret) {
		f->layout_gen++;
		m_set_zero(f, 0, t->maxpages, t->maxpages);
		f->size = 0;
	}
	f_unlock(f);
}

/* store_pages() as an operation of its own. */
static void store_op(struct t_worker *w, struct t_file *f, uint64_t p, uint64_t n, struct t_dma *race)
{
	struct f_op o;

	f_begin(w, f, FK_WRITE, &o);
	f_unlock(f);
	store_pages(w, f, p, n, race, &o);
}

/* dma_run() as an operation of its own. */
static struct t_dma *dma_op(struct t_worker *w, unsigned slot, uint64_t p, uint64_t n, uint64_t ms,
			    bool hold, struct t_dma *race)
{
	struct f_op o;

	f_begin(w, &w->f[slot], FK_PIN, &o);
	f_unlock(&w->f[slot]);
	return dma_run(w, slot, p, n, true, ms, PIN_SHORT, DMA_MEMCPY, hold, race, &o);
}

/*
 * --ops race (a test aid): a write DMA makes its last pass over pages
 * after another write of them began and ends before that write's model is
 * set: stores through a view, or a second DMA (after stores while the DMA
 * runs, so that the pages are unknown, not in flux).  The second write cannot be
 * known to win, as the DMA was not done when it began: the model must say
 * unknown (it said the second write's stamp when it asked whether the DMA
 * was done only after the write), and the loads after them see the DMA's.
 */
static void op_race(struct t_worker *w)
{
	unsigned slot = (unsigned)rnd(w, T_FILES);
	struct t_file *f = &w->f[slot];
	bool dma = rnd(w, 2);
	struct t_dma *x;
	struct f_op o;
	uint64_t p, n;
	bool any;

	reap(w, true);
	f_begin(w, f, FK_LAYOUT, &o);
	if (f->fd >= 0 && !f->size) { /* a new file: 16 pages of holes */
		struct dc_wait_opts wo = wait_opts();

		f_unlock(f);
		if (dc_dcfs_truncate(w->t->fs, f->fd, 16 * PG, &wo)) {
			f_done(w, f, &o);
			return;
		}
		f_lock(f);
		f->layout_gen++;
		f->size = 16 * PG;
	}
	any = f->fd >= 0 && f->mapped && pick_range(w, f, 16, &p, &n);
	f_nothing(w, f, &o);
	if (!any)
		return;
	x = dma_op(w, slot, p, n, 10000, true, NULL);
	if (!x)
		return;
	while (atomic_load(&x->hold) == HOLD_ARMED)
		nap();
	store_op(w, f, p, n, NULL); /* under the DMA: unknown, no longer in flux */
	if (!dma || !dma_op(w, slot, p, n, 1, false, x))
		store_op(w, f, p, n, x);
	if (atomic_load(&x->hold) != HOLD_PASSED) /* a store faulted (SIGBUS) */
		race_release(x);
	reap(w, true);
	f_begin(w, f, FK_READ, &o);
	f_unlock(f);
	load_pages(w, f, p, n, &o);
	t_count(w->t, OP_RACE);
}

/* ---- the worker ---------------------------------------------------------------------- */

struct weight {
	unsigned w;
	int op;
};

static const struct weight weights[] = {
	{ 12, OP_PWRITE }, { 4, OP_PWRITE_PART }, { 10, OP_PREAD }, { 8, OP_STORE }, { 4, OP_STORE_FAULT },
	{ 6, OP_LOAD }, { 2, OP_EOF_STORE }, { 3, OP_TAIL_STORE }, { 12, OP_DMA_WRITE }, { 3, OP_DMA_READ },
	{ 2, OP_TRUNCATE }, { 2, OP_PUNCH }, { 1, OP_ZERO }, { 1, OP_COLLAPSE },
	{ 1, OP_INSERT }, { 2, OP_REFLINK }, { 2, OP_FSYNC }, { 2, OP_RECYCLE },
	{ 1, OP_POISON }, { 2, OP_FAIL_ALLOC }, { 1, OP_KILL }, { 0, OP_STALL },
	{ 0, OP_RACE },
};

/*
 * The partner's: layout changes and pins of the worker's files while the
 * worker faults, stores, pins and DMAs into them; OP_NAP (not an
 * operation: a pause of up to half a millisecond) leaves the worker
 * stretches with its files to itself, where the model is exact.
 */
#define OP_NAP (-2)
static const struct weight partner_weights[] = {
	{ 5, OP_TRUNCATE }, { 5, OP_PUNCH }, { 3, OP_ZERO }, { 3, OP_COLLAPSE },
	{ 3, OP_INSERT }, { 3, OP_REFLINK }, { 8, OP_PROBE }, { 1, OP_FSYNC }, { 12, OP_NAP },
};

static unsigned weight(const struct torture *t, const struct weight *wt)
{
	if (wt->op == OP_NAP)
		return wt->w;
	if (!t->o.only)
		return wt->w;
	/* --ops: the operations named (stall only so) */
	return t->o.only & (UINT64_C(1) << wt->op) ? (wt->w ? wt->w : 1) : 0;
}

static int pick_op(struct t_worker *w);

/* The thread's next operation: its seed (one draw of the thread's PRNG), then its kind. */
static int next_op(struct t_worker *w)
{
	uint64_t seed = splitmix(&w->rng);
	int op;

	w->oprng = seed;
	op = pick_op(w);
	if (w->nops < T_REPLAY_OPS) /* the replay hash: the sequence of (seed, kind) */
		w->replay = (w->replay ^ seed ^ (uint64_t)(op + 3) * UINT64_C(0x9E3779B97F4A7C15)) *
			    UINT64_C(0x100000001B3);
	w->nops++;
	return op;
}

static int pick_op(struct t_worker *w)
{
	const struct weight *tab = w->side ? partner_weights : weights;
	unsigned n = w->side ? sizeof(partner_weights) / sizeof(partner_weights[0]) :
			       sizeof(weights) / sizeof(weights[0]);
	unsigned total = 0, x;

	for (unsigned i = 0; i < n; i++)
		total += weight(w->t, &tab[i]);
	x = (unsigned)rnd(w, total);
	for (unsigned i = 0;; i++) {
		if (x < weight(w->t, &tab[i]))
			return tab[i].op;
		x -= weight(w->t, &tab[i]);
	}
}

/*
 * The partner: a pin of a random range, checked right away (a layout
 * change or a copy-on-write of the worker's meanwhile: by the rules of a
 * pin held across it) and given back.
 */
static void op_probe(struct t_worker *w)
{
	static const int ok[] = { -ENOSPC, -EAGAIN, -EFAULT, 0 };
	struct torture *t = w->t;
	struct t_file *f = &w->f[rnd(w, T_FILES)];
	bool write = rnd(w, 3) != 0, any, gone;
	struct dc_dcfs_pinset ps;
	struct f_op o;
	uint64_t p, n;
	char tag[32];
	int ret;

	f_begin(w, f, FK_PIN, &o);
	o.ro = !write;
	any = f->fd >= 0 && pick_range(w, f, 16, &p, &n);
	if (!any)
		return f_nothing(w, f, &o);
	f_unlock(f);
	snprintf(tag, sizeof(tag), "p%u.probe", w->idx);
	w->io_lo = p * PG;
	w->io_hi = (p + n) * PG;
	ret = dc_dcfs_pin(t->fs, f->fd, p * PG, n * PG, write ? 0 : DC_DCFS_PIN_READONLY, tag, &ps);
	t_count(t, OP_PROBE);
	if (ret) {
		(void)t_err_ok(w, f, ret, "pin (probe)", ok, &gone, f_overlapped_now(f, &o));
	} else {
		atomic_fetch_add(&t->probes, 1);
		pinset_check(t, &ps, f->ino, OWN_PINNED, write, write ? "pin probe" : "read pin probe",
			     f, &o, NULL);
		ret = dc_dcfs_unpin(t->fs, &ps);
		if (ret)
			t_violation(t, V_UNEXPECTED, "unpin (probe): %s", ename(ret));
	}
	f_done(w, f, &o);
}

static void op_recycle(struct t_worker *w)
{
	struct t_file *f = &w->f[rnd(w, T_FILES)];
	struct f_op o;

	f_begin(w, f, FK_LAYOUT, &o);
	f->recycle = true; /* done by f_end(), or by the other thread's */
	f_nothing(w, f, &o);
	t_count(w->t, OP_RECYCLE);
}

static void one_op(struct t_worker *w, int op)
{
	struct torture *t = w->t;

	if (op == OP_NAP) {
		struct timespec ts = { 0, (long)rnd(w, 500) * 1000 };

		nanosleep(&ts, NULL);
		return;
	}
	atomic_store(&w->op_t0, dc_now_ns());
	atomic_store(&w->op, op);
	w->io_lo = 0; /* the bytes its calls touch: an operation narrows it (t_err_ok()) */
	w->io_hi = UINT64_MAX;
	w->mf0 = atomic_load(&t->mf_finished);
	switch (op) {
	case OP_PWRITE: op_pwrite(w); break;
	case OP_PWRITE_PART: op_pwrite_part(w); break;
	case OP_PREAD: op_pread(w); break;
	case OP_STORE: op_store(w, false); break;
	case OP_STORE_FAULT: op_store(w, true); break;
	case OP_LOAD: op_load(w); break;
	case OP_EOF_STORE: op_eof_store(w); break;
	case OP_TAIL_STORE: op_tail_store(w); break;
	case OP_DMA_WRITE: op_dma(w, true, 0, -1); break;
	case OP_DMA_READ: op_dma(w, false, 0, -1); break;
	case OP_TRUNCATE: op_truncate(w); break;
	case OP_PUNCH: op_falloc(w, DC_DCFS_FALLOC_PUNCH); break;
	case OP_ZERO: op_falloc(w, DC_DCFS_FALLOC_ZERO); break;
	case OP_COLLAPSE: op_falloc(w, DC_DCFS_FALLOC_COLLAPSE); break;
	case OP_INSERT: op_falloc(w, DC_DCFS_FALLOC_INSERT); break;
	case OP_REFLINK: op_reflink(w); break;
	case OP_FSYNC: op_fsync(w); break;
	case OP_RECYCLE: op_recycle(w); break;
	case OP_POISON: op_poison(w); break;
	case OP_FAIL_ALLOC: op_fail_alloc(w); break;
	case OP_KILL:
		if (t->o.kill)
			op_kill(w);
		break;
	case OP_STALL: op_stall(w); break;
	case OP_RACE: op_race(w); break;
	case OP_PROBE: op_probe(w); break;
	}
	atomic_store(&w->op, -1);
	atomic_fetch_add(&t->progress, 1);
}

/* The partner thread: until the run stops, parking with the worker. */
static void *partner_main(void *arg)
{
	struct t_worker *p = arg;
	struct torture *t = p->t;

	while (!atomic_load(&t->stop)) {
		t_maybe_park(p);
		if (atomic_load(&t->stop))
			break;
		one_op(p, next_op(p));
	}
	return NULL;
}

void *t_worker_main(void *arg)
{
	struct t_worker *w = arg;
	struct torture *t = w->t;

	if (pthread_create(&w->peer->th, NULL, partner_main, w->peer)) {
		fprintf(stderr, "daxcore torture: worker %u: cannot start its partner thread\n", w->idx);
		abort(); /* the barrier counts on it */
	}
	while (!atomic_load(&t->stop)) {
		t_maybe_park(w);
		if (atomic_load(&t->stop))
			break;
		one_op(w, next_op(w));
		reap(w, false);
	}
	pthread_join(w->peer->th, NULL);
	reap(w, true);
	return NULL;
}

uint64_t t_verify_all(struct t_worker *w)
{
	struct torture *t = w->t;
	uint64_t n = 0;

	for (unsigned i = 0; i < T_FILES; i++) {
		struct t_file *f = &w->f[i];
		struct dc_dcfs_stat st;
		int64_t ret;
		bool gone;

		if (f->fd < 0)
			continue;
		w->io_lo = 0; /* the whole file (t_err_ok()) */
		w->io_hi = UINT64_MAX;
		if (!dc_dcfs_fstat(t->fs, f->fd, &st) && st.size != f->size) /* the model drifted */
			t_violation(t, V_UNEXPECTED, "%s: the file's size is %" PRIu64 ", the model's %" PRIu64,
				    f->name, st.size, f->size);
		if (!f->size)
			continue;
		ret = dc_dcfs_pread(t->fs, f->fd, w->buf, f->size, 0);
		if (ret < 0) {
			(void)t_err_ok(w, f, (int)ret, "pread (quiescent)", NULL, &gone, false);
			continue;
		}
		if ((uint64_t)ret != f->size) {
			t_violation(t, V_UNEXPECTED, "%s: %" PRId64 " bytes read, the model says %" PRIu64,
				    f->name, ret, f->size);
			continue;
		}
		for (uint64_t p = 0; p * PG < f->size; p++)
			verify_page(w, f, p, w->buf + p * PG, f->size - p * PG < PG ? f->size - p * PG : PG,
				    "quiescent read");
		n += (f->size + PG - 1) / PG;
	}
	return n;
}

void t_hold_for_removal(struct t_worker *w)
{
	struct torture *t = w->t;
	struct t_file *f = &w->f[0];

	/* Something of each kind held: a view with stores in it, a revocable
	 * long DMA (asked back by the removal), a short one, open files. */
	if (f->fd >= 0 && f->size < 8 * PG && !dc_dcfs_truncate(t->fs, f->fd, 8 * PG, NULL))
		f->size = 8 * PG; /* the partner is done: no lock needed */
	op_store(w, false);
	op_dma(w, true, 60000, PIN_REVOCABLE);
	op_dma(w, true, 200, PIN_SHORT);
}

void t_worker_fini(struct t_worker *w)
{
	reap(w, true);
	for (unsigned i = 0; i < T_FILES; i++) {
		file_close(w, &w->f[i], false);
		free(w->f[i].m);
		w->f[i].m = NULL;
		pthread_mutex_destroy(&w->f[i].lock);
		pthread_mutex_destroy(&w->f[i].shift_lock);
	}
	free(w->buf);
	w->buf = NULL;
	if (w->peer) { /* its replay hash, for the summary */
		w->preplay = w->peer->replay;
		w->pnops = w->peer->nops;
	}
	free(w->peer);
	w->peer = NULL;
}

#define T_DUMP_PINS 64 /* pins listed per file */

unsigned t_worker_dump(struct t_worker *w, FILE *out)
{
	struct torture *t = w->t;
	int op = atomic_load(&w->op);
	uint64_t now = dc_now_ns();
	unsigned pins = 0;

	fprintf(out, "  worker %u: %s%s for %.3f s, %u DMA(s) in flight\n", w->idx,
		op < 0 ? "between operations" : t_op_name((enum t_op)op), atomic_load(&w->in_park) ? " (parked)" : "",
		op < 0 ? 0.0 : (double)(now - atomic_load(&w->op_t0)) / 1e9, w->ndmas);
	if (w->peer) {
		int pop = atomic_load(&w->peer->op);

		fprintf(out, "  partner %u: %s%s for %.3f s\n", w->idx,
			pop < 0 ? "between operations" : t_op_name((enum t_op)pop),
			atomic_load(&w->peer->in_park) ? " (parked)" : "",
			pop < 0 ? 0.0 : (double)(now - atomic_load(&w->peer->op_t0)) / 1e9);
	}
	/* Its DMAs, done or not: one not done holds its pins (pins below, by tag, with age). */
	pthread_mutex_lock(&w->dma_lock);
	for (const struct t_dma *x = w->dmas; x; x = x->next)
		fprintf(out, "    dma w%u.dma%" PRIu64 ": %s%s of ino %" PRIu64 " offset %" PRIu64
			" %" PRIu64 " pages, %s, %" PRIu64 " bytes moved\n", w->idx, x->serial,
			x->write ? "write" : "read", x->longterm ? " (long-term)" : "", x->ino,
			x->off, x->len / DC_PAGE_SIZE, dma_done(x->d) ? "done" : "in flight",
			dma_bytes(x->d));
	pthread_mutex_unlock(&w->dma_lock);
	for (unsigned i = 0; i < T_FILES; i++) {
		struct dc_dcfs_pin_info pi[T_DUMP_PINS];
		int fd = w->f[i].fd, n;

		if (fd < 0)
			continue;
		n = dc_dcfs_pins(t->fs, fd, 0, UINT64_MAX, pi, T_DUMP_PINS);
		for (int j = 0; j < n && j < T_DUMP_PINS; j++)
			fprintf(out, "    pin %s: %s offset %" PRIu64 " %" PRIu64 " pages, age %.3f s%s\n",
				pi[j].tag, w->f[i].name, pi[j].offset, pi[j].pages,
				(double)pi[j].age_ns / 1e9,
				pi[j].flags & DC_DCFS_PIN_LONGTERM ? " (long-term)" : "");
		if (n > T_DUMP_PINS)
			fprintf(out, "    and %d more pins of %s\n", n - T_DUMP_PINS, w->f[i].name);
		pins += n > 0 ? (unsigned)n : 0;
	}
	return pins;
}
