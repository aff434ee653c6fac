// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * io_view.c - the io commands on views (mmap, mwrite, mread, munmap), pins
 * (pin, mpin, unpin, pins), DMA (dma) and events, with what they need:
 * views and pins serve either owner, dcfs (by file offset of the current
 * file) or device-dax (by device offset), through one path each;
 * the SIGBUS handler that turns a bad access into "SIGBUS at OFF", the
 * revoke callback of long-term pins and the mount's event callback.
 *
 * Views are accessed with real loads and stores: the views' SIGSEGV
 * handler (dc_view_handler_install()) faults pages in, and an access the
 * file cannot serve gets SIGBUS, which bus_handler() catches for the
 * thread that armed it (sigsetjmp before the access range, siglongjmp out
 * of the handler) and reports with the address relative to the view.
 */
#include "io.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* ---- SIGBUS ------------------------------------------------------------------------- */

static __thread sigjmp_buf *bus_jb; /* armed: an access of this thread may get SIGBUS */
static __thread void *bus_addr;

static void bus_handler(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *jb = bus_jb;

	(void)uc;
	if (jb) {
		bus_jb = NULL;
		bus_addr = si ? si->si_addr : NULL;
		siglongjmp(*jb, 1);
	}
	/* Not an access of ours: die as the default action would. */
	signal(sig, SIG_DFL);
	raise(sig);
}

int io_signals_init(void)
{
	struct sigaction sa;
	int ret = dc_view_handler_install();

	if (ret)
		return ret;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = bus_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) ? -errno : 0;
}

/* One access range of a view: stores of @byte, or loads (checked against @byte >= 0). */
struct access {
	unsigned char *base;
	uint64_t off, len;
	int byte;
	bool write;
	uint64_t bad; /* loads: the first offset that did not match (UINT64_MAX: none) */
};

/* Page by page, the first byte of each page first, so a fault is at its start. */
static __attribute__((noinline)) void access_run(struct access *x)
{
	static unsigned char scratch[DC_PAGE_SIZE];
	uint64_t p = x->off, end = x->off + x->len;

	while (p < end) {
		uint64_t n = DC_PAGE_SIZE - (p & (DC_PAGE_SIZE - 1));
		volatile unsigned char *q = x->base + p;

		if (n > end - p)
			n = end - p;
		if (x->write) {
			q[0] = (unsigned char)x->byte;
			memset(x->base + p + 1, x->byte, n - 1);
		} else {
			(void)q[0];
			memcpy(scratch, x->base + p, n);
			for (uint64_t i = 0; x->byte >= 0 && x->bad == UINT64_MAX && i < n; i++)
				if (scratch[i] != x->byte)
					x->bad = p + i;
		}
		p += n;
	}
}

int sigbus_guard(void (*fn)(void *arg), void *arg, void **fault)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		*fault = bus_addr;
		return -1;
	}
	bus_jb = &jb;
	fn(arg);
	bus_jb = NULL;
	return 0;
}

static void access_fn(void *arg)
{
	access_run(arg);
}

/* Return 0, or -1 with *@fault the address that got SIGBUS. */
static int access_guarded(struct access *x, void **fault)
{
	return sigbus_guard(access_fn, x, fault);
}

/* ---- views --------------------------------------------------------------------------- */

/* View @s, read-locked and mapped; NULL with an error. */
static struct io_view *view_get(struct io_ctx *c, const char *s)
{
	struct io *io = c->io;
	struct io_view *v = NULL;
	uint64_t n;

	if (io_num(c, "view number", s, &n))
		return NULL;
	pthread_mutex_lock(&io->lock);
	if (n >= 1 && n <= io->nviews)
		v = io->views[n - 1];
	pthread_mutex_unlock(&io->lock);
	if (!v) {
		io_err(c, "no view %s", s);
		return NULL;
	}
	pthread_rwlock_rdlock(&v->lock);
	if (!v->mapped) {
		pthread_rwlock_unlock(&v->lock);
		io_err(c, "view %u was unmapped", v->n);
		return NULL;
	}
	return v;
}

static void view_put(struct io_view *v)
{
	pthread_rwlock_unlock(&v->lock);
}

int io_cmd_mmap(struct io_ctx *c, int argc, char **argv)
{
	struct io *io = c->io;
	struct io_file *f;
	struct io_view *v;
	struct io_args a;
	uint64_t off, len;
	unsigned prot;
	int fd, ret;

	if (io_args(c, argc, argv, "r", 2, 2, &a) || io_num(c, "offset", a.pos[0], &off) ||
	    io_num(c, "length", a.pos[1], &len))
		return -1;
	f = NULL;
	fd = io->dd ? 0 : io_cur_fd(c, &f); /* a device has no files: OFF is a device offset */
	if (fd < 0)
		return -1;
	v = calloc(1, sizeof(*v));
	if (!v)
		return io_err(c, "out of memory");
	prot = a.has['r'] ? DC_VIEW_READ : DC_VIEW_READ | DC_VIEW_WRITE;
	ret = io->dd ? dc_devdax_map(io->dd, off, len, prot, &v->v)
		     : dc_dcfs_map(io->fs, fd, off, len, prot, &v->v);
	if (ret) {
		free(v);
		return io_lib_err(c, ret);
	}
	pthread_rwlock_init(&v->lock, NULL);
	v->file = f;
	v->mapped = true;
	pthread_mutex_lock(&io->lock);
	if (io->nviews == io->views_cap) {
		unsigned ncap = io->views_cap ? 2 * io->views_cap : 8;
		struct io_view **nv = realloc(io->views, ncap * sizeof(*nv));

		if (!nv) {
			pthread_mutex_unlock(&io->lock);
			(void)dc_view_unmap(&v->v);
			pthread_rwlock_destroy(&v->lock);
			free(v);
			return io_err(c, "out of memory");
		}
		io->views = nv;
		io->views_cap = ncap;
	}
	v->n = io->nviews + 1;
	io->views[io->nviews++] = v;
	pthread_mutex_unlock(&io->lock);
	io_out(c, "view %u", v->n);
	return 0;
}

int io_cmd_munmap(struct io_ctx *c, int argc, char **argv)
{
	struct io_view *v;
	struct io_args a;
	int ret;

	if (io_args(c, argc, argv, "", 1, 1, &a))
		return -1;
	v = view_get(c, a.pos[0]);
	if (!v)
		return -1;
	view_put(v);
	pthread_rwlock_wrlock(&v->lock);
	if (!v->mapped) { /* unmapped meanwhile (a job) */
		pthread_rwlock_unlock(&v->lock);
		return io_err(c, "view %u was unmapped", v->n);
	}
	ret = dc_view_unmap(&v->v);
	if (!ret)
		v->mapped = false;
	pthread_rwlock_unlock(&v->lock);
	return ret ? io_lib_err(c, ret) : 0;
}

/* Parse "N OFF LEN" of mwrite/mread: the view read-locked, or NULL. */
static struct io_view *view_range(struct io_ctx *c, struct io_args *a, uint64_t *off,
				  uint64_t *len)
{
	struct io_view *v;

	if (io_num(c, "offset", a->pos[1], off) || io_num(c, "length", a->pos[2], len))
		return NULL;
	v = view_get(c, a->pos[0]);
	if (!v)
		return NULL;
	if (*off > v->v.length || *len > v->v.length - *off) {
		io_err(c, "bytes %" PRIu64 "+%" PRIu64 " are outside view %u (%" PRIu64 " bytes)",
		       *off, *len, v->n, v->v.length);
		view_put(v);
		return NULL;
	}
	return v;
}

static int view_access(struct io_ctx *c, struct io_view *v, struct access *x)
{
	void *fault = NULL;
	uint64_t at;

	x->base = v->v.addr;
	x->bad = UINT64_MAX;
	if (!access_guarded(x, &fault))
		return 0;
	at = (uint64_t)((unsigned char *)fault - (unsigned char *)v->v.addr);
	io_out(c, "SIGBUS at %" PRIu64, at);
	return io_err(c, "SIGBUS at %" PRIu64, at);
}

int io_cmd_mwrite(struct io_ctx *c, int argc, char **argv)
{
	struct access x = { .write = true, .byte = 0xcd };
	struct io_view *v;
	struct io_args a;
	int ret;

	if (io_args(c, argc, argv, "S:", 3, 3, &a) ||
	    (a.has['S'] && io_byte(c, "byte", a.val['S'], &x.byte)))
		return -1;
	v = view_range(c, &a, &x.off, &x.len);
	if (!v)
		return -1;
	if (!(v->v.prot & DC_VIEW_WRITE)) {
		view_put(v);
		return io_err(c, "view %u is read-only", v->n);
	}
	ret = view_access(c, v, &x);
	view_put(v);
	return ret;
}

int io_cmd_mread(struct io_ctx *c, int argc, char **argv)
{
	struct access x = { .write = false, .byte = -1 };
	struct io_view *v;
	struct io_args a;
	int ret;

	if (io_args(c, argc, argv, "v:", 3, 3, &a) ||
	    (a.has['v'] && io_byte(c, "byte", a.val['v'], &x.byte)))
		return -1;
	v = view_range(c, &a, &x.off, &x.len);
	if (!v)
		return -1;
	ret = view_access(c, v, &x);
	view_put(v);
	if (ret)
		return -1;
	io_out(c, "read %" PRIu64 " at %" PRIu64, x.len, x.off);
	if (x.byte < 0)
		return 0;
	if (x.bad == UINT64_MAX) {
		io_out(c, "verified");
		return 0;
	}
	io_out(c, "mismatch at %" PRIu64, x.bad);
	return io_err(c, "mismatch at %" PRIu64, x.bad);
}

int io_unmap_all(struct io_ctx *c)
{
	struct io *io = c->io;
	int failed = 0;

	for (unsigned i = 0; i < io->nviews; i++) {
		struct io_view *v = io->views[i];

		pthread_rwlock_wrlock(&v->lock);
		if (v->mapped) {
			int ret = dc_view_unmap(&v->v);

			if (ret) {
				fprintf(stderr, "daxcore: io: munmap %u: %s\n", v->n, dc_errmsg());
				failed = -1;
			} else {
				v->mapped = false;
			}
		}
		pthread_rwlock_unlock(&v->lock);
	}
	return failed;
}

unsigned io_views_mapped(struct io *io)
{
	unsigned n = 0;

	pthread_mutex_lock(&io->lock);
	for (unsigned i = 0; i < io->nviews; i++)
		n += io->views[i]->mapped;
	pthread_mutex_unlock(&io->lock);
	return n;
}

/* ---- pins ----------------------------------------------------------------------------- */

/*
 * The revoke callback's io (one run per process).  The callback's argument
 * is the pin's serial number, not a pointer: a revoke may race an unpin of
 * the same pin, and the record is found again under io->lock, or not.
 */
static struct io *revoke_io;

/* Device pages a pin set holds (the zero page not counted), as dc_dcfs_pins() says. */
static uint64_t pinset_pages(const struct dc_dcfs_pinset *ps)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < ps->nsegs; i++) {
		const struct dc_dcfs_seg *s = &ps->segs[i];
		uint64_t in = (uintptr_t)s->addr & (DC_PAGE_SIZE - 1);

		if (s->pgoff != UINT64_MAX)
			n += (in + s->len + DC_PAGE_SIZE - 1) >> DC_PAGE_SHIFT;
	}
	return n;
}

/* The same for a device-dax pin set: one contiguous range. */
static uint64_t dps_pages(const struct dc_devdax_pinset *ps)
{
	uint64_t in = ps->offset & (DC_PAGE_SIZE - 1);

	return (in + ps->length + DC_PAGE_SIZE - 1) >> DC_PAGE_SHIFT;
}

/* Release @p's pin set with its owner: the mount's or the device's. */
static int owner_unpin(struct io *io, struct io_pin *p)
{
	return io->dd ? dc_devdax_unpin(io->dd, &p->dps) : dc_dcfs_unpin(io->fs, &p->ps);
}

static int dma_end(struct io_ctx *c, struct io_pin *p, bool cancelled);

static void pin_unlink_locked(struct io *io, struct io_pin *p)
{
	for (struct io_pin **pp = &io->pins; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	p->next = NULL;
}

/* A new record for @tag, in the PINNING state; NULL with an error (bad or used tag). */
static struct io_pin *pin_new(struct io_ctx *c, const char *tag, enum io_pin_kind kind)
{
	struct io *io = c->io;
	struct io_pin *p, **pp;

	if (strlen(tag) > DC_DCFS_TAG_MAX) {
		io_err(c, "tag '%s' is longer than %d bytes", tag, DC_DCFS_TAG_MAX);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		io_err(c, "out of memory");
		return NULL;
	}
	snprintf(p->tag, sizeof(p->tag), "%s", tag);
	p->kind = kind;
	p->state = IO_PS_PINNING;
	pthread_mutex_lock(&io->lock);
	revoke_io = io;
	for (pp = &io->pins; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->tag, tag))
			break;
	if (*pp) {
		pthread_mutex_unlock(&io->lock);
		free(p);
		io_err(c, "tag '%s' is in use", tag);
		return NULL;
	}
	p->serial = ++io->next_serial;
	*pp = p;
	pthread_mutex_unlock(&io->lock);
	return p;
}

/* The pin call failed: forget the record. */
static void pin_drop(struct io *io, struct io_pin *p)
{
	pthread_mutex_lock(&io->lock);
	pin_unlink_locked(io, p);
	pthread_mutex_unlock(&io->lock);
	free(p);
}

/* Unpin a record taken out of the list; print "revoked TAG" for a revoke. */
static int pin_release(struct io_ctx *c, struct io_pin *p, bool revoked)
{
	int ret = owner_unpin(revoke_io ? revoke_io : c->io, p);

	if (ret) {
		fflush(stdout);
		fprintf(stderr, "daxcore: %s: unpin %s: %s\n", c ? c->cmd : "revoke", p->tag,
			dc_errmsg());
		if (c)
			c->failed = true;
		if (revoke_io)
			revoke_io->failures++;
	} else if (revoked) {
		io_out(c, "revoked %s", p->tag);
	}
	free(p);
	return ret ? -1 : 0;
}

/* The pin call succeeded: "pinned TAG pages=N", and a revoke that came meanwhile. */
static int pin_done(struct io_ctx *c, struct io_pin *p)
{
	struct io *io = c->io;
	bool pending;

	p->off = io->dd ? p->dps.offset : p->ps.offset;
	p->pages = io->dd ? dps_pages(&p->dps) : pinset_pages(&p->ps);
	p->t0_ns = dc_now_ns();
	pthread_mutex_lock(&io->lock);
	pending = p->revoke_pending;
	if (pending) {
		p->state = IO_PS_TAKEN;
		pin_unlink_locked(io, p);
	} else {
		p->state = IO_PS_PINNED;
	}
	pthread_mutex_unlock(&io->lock);
	io_out(c, "pinned %s pages=%" PRIu64, p->tag, p->pages);
	return pending ? pin_release(c, p, true) : 0;
}

/*
 * The revoke callback of `pin -l`: in the thread that breaks the layout
 * (no daxcore lock held), unpin at once and print "revoked TAG" where that
 * thread's output goes.  A revoke of a pin whose pin call has not returned
 * yet is left to pin_done().
 */
static void revoke_cb(struct dc_dcfs *fs, const struct dc_dcfs_revoke *rv, void *arg)
{
	struct io *io = revoke_io;
	uint64_t serial = (uint64_t)(uintptr_t)arg;
	struct io_pin *p;

	(void)fs;
	if (!io)
		return;
	pthread_mutex_lock(&io->lock);
	for (p = io->pins; p && p->serial != serial; p = p->next)
		;
	if (p && p->state == IO_PS_PINNING) {
		p->revoke_pending = true;
		p = NULL;
	} else if (p && p->state == IO_PS_PINNED && p->ps.id == rv->id) {
		p->state = IO_PS_TAKEN;
		pin_unlink_locked(io, p);
	} else {
		p = NULL; /* unpinned meanwhile */
	}
	pthread_mutex_unlock(&io->lock);
	if (p)
		(void)pin_release(io_tls, p, true);
}

/*
 * The one path of pin and mpin, for either owner: a record for @tag, the
 * pin call (through view address @addr for mpin, else by offset @off: a
 * file offset of the current file on dcfs, a device offset on device-dax),
 * then "pinned TAG pages=N".  @longterm: dcfs's revocable pin (pin -l).
 */
static int pin_take(struct io_ctx *c, const char *tag, enum io_pin_kind kind, int fd,
		    const void *addr, uint64_t off, uint64_t len, bool ro, bool longterm)
{
	struct io *io = c->io;
	struct io_pin *p = pin_new(c, tag, kind);
	int ret;

	if (!p)
		return -1;
	p->longterm = longterm;
	if (io->dd) {
		unsigned flags = ro ? DC_DEVDAX_PIN_READONLY : 0;

		ret = addr ? dc_devdax_pin_user(io->dd, addr, len, flags, &p->dps)
			   : dc_devdax_pin(io->dd, off, len, flags, &p->dps);
	} else {
		unsigned flags = ro ? DC_DCFS_PIN_READONLY : 0;

		if (addr)
			ret = dc_dcfs_pin_user(io->fs, addr, len, flags, p->tag, &p->ps);
		else if (longterm)
			ret = dc_dcfs_pin_revocable(io->fs, fd, off, len, flags, p->tag, revoke_cb,
						    (void *)(uintptr_t)p->serial, &p->ps);
		else
			ret = dc_dcfs_pin(io->fs, fd, off, len, flags, p->tag, &p->ps);
	}
	if (ret) {
		pin_drop(io, p);
		return io_lib_err(c, ret);
	}
	return pin_done(c, p);
}

int io_cmd_pin(struct io_ctx *c, int argc, char **argv)
{
	struct io_args a;
	uint64_t off, len;
	int fd = 0;

	if (io_args(c, argc, argv, "lr", 3, 3, &a) || io_num(c, "offset", a.pos[1], &off) ||
	    io_num(c, "length", a.pos[2], &len))
		return -1;
	if (c->io->dd && a.has['l'])
		return io_err(c, "-l: device-dax pins are long-term already (nothing revokes "
			      "them: removal waits for them)");
	if (!c->io->dd && (fd = io_cur_fd(c, NULL)) < 0)
		return -1;
	return pin_take(c, a.pos[0], IO_PIN_PLAIN, fd, NULL, off, len, a.has['r'], a.has['l']);
}

int io_cmd_mpin(struct io_ctx *c, int argc, char **argv)
{
	struct io_view *v;
	struct io_args a;
	uint64_t off, len;
	int ret;

	if (io_args(c, argc, argv, "r", 4, 4, &a) || io_num(c, "offset", a.pos[2], &off) ||
	    io_num(c, "length", a.pos[3], &len))
		return -1;
	v = view_get(c, a.pos[1]);
	if (!v)
		return -1;
	if (off > v->v.length || len > v->v.length - off) {
		view_put(v);
		return io_err(c, "bytes %" PRIu64 "+%" PRIu64 " are outside view %u (%" PRIu64
			      " bytes)", off, len, v->n, v->v.length);
	}
	ret = pin_take(c, a.pos[0], IO_PIN_USER, -1, (unsigned char *)v->v.addr + off, 0, len,
		       a.has['r'], false);
	view_put(v);
	return ret;
}

int io_cmd_unpin(struct io_ctx *c, int argc, char **argv)
{
	struct io *io = c->io;
	struct io_args a;
	struct io_pin *p;
	const char *why = NULL;

	if (io_args(c, argc, argv, "", 1, 1, &a))
		return -1;
	pthread_mutex_lock(&io->lock);
	for (p = io->pins; p && strcmp(p->tag, a.pos[0]); p = p->next)
		;
	if (!p)
		why = "no pin tagged '%s'";
	else if (p->state != IO_PS_PINNED)
		why = "'%s' is being pinned";
	if (!why) {
		p->state = IO_PS_TAKEN;
		pin_unlink_locked(io, p);
	}
	pthread_mutex_unlock(&io->lock);
	if (why)
		return io_err(c, why, a.pos[0]);
	if (p->kind == IO_PIN_DMA) { /* a killed client: the engine stops and unpins */
		dma_cancel(p->dma);
		return dma_end(c, p, true);
	}
	return pin_release(c, p, false);
}

int io_cmd_pins(struct io_ctx *c, int argc, char **argv)
{
	struct io *io = c->io;
	struct io_args a;
	uint64_t now = dc_now_ns();

	if (io_args(c, argc, argv, "", 0, 0, &a))
		return -1;
	pthread_mutex_lock(&io->lock);
	for (struct io_pin *p = io->pins; p; p = p->next)
		if (p->state == IO_PS_PINNED && !(p->kind == IO_PIN_DMA && dma_done(p->dma)))
			io_out(c, "%s off=%" PRIu64 " pages=%" PRIu64 " age_ms=%" PRIu64, p->tag,
			       p->off, p->pages, (now - p->t0_ns) / 1000000);
	pthread_mutex_unlock(&io->lock);
	return 0;
}

unsigned io_pins_held(struct io *io)
{
	unsigned n = 0;

	pthread_mutex_lock(&io->lock);
	for (struct io_pin *p = io->pins; p; p = p->next)
		n += p->state == IO_PS_PINNED && !(p->kind == IO_PIN_DMA && dma_done(p->dma));
	pthread_mutex_unlock(&io->lock);
	return n;
}

int io_unpin_all(struct io_ctx *c)
{
	struct io *io = c->io;
	int failed = 0;

	for (;;) {
		struct io_pin *p;

		pthread_mutex_lock(&io->lock);
		for (p = io->pins; p; p = p->next)
			if (p->kind != IO_PIN_DMA && p->state == IO_PS_PINNED)
				break;
		if (p) {
			p->state = IO_PS_TAKEN;
			pin_unlink_locked(io, p);
		}
		pthread_mutex_unlock(&io->lock);
		if (!p)
			return failed;
		if (pin_release(c, p, false))
			failed = -1;
	}
}

/* ---- DMA ------------------------------------------------------------------------------ */

int io_cmd_dma(struct io_ctx *c, int argc, char **argv)
{
	enum dma_engine engine = DMA_URING;
	uint64_t off, len, ms;
	struct io_args a;
	struct io_pin *p;
	int byte = 0xcd, fd, ret;

	if (io_args(c, argc, argv, "e:S:r", 4, 4, &a) || io_num(c, "offset", a.pos[1], &off) ||
	    io_num(c, "length", a.pos[2], &len) || io_num(c, "duration", a.pos[3], &ms) ||
	    (a.has['S'] && io_byte(c, "byte", a.val['S'], &byte)))
		return -1;
	if (a.has['r'] && a.has['S'])
		return io_err(c, "-r (a DMA that only reads) takes no -S");
	if (a.has['e'] && dma_engine_parse(a.val['e'], &engine))
		return io_err(c, "unknown engine '%s' (uring, memcpy)", a.val['e']);
	if (c->io->dd)
		return io_err(c, "not on device-dax (the DMA engines take dcfs pin sets; 'pin TAG "
			      "OFF LEN' pins device bytes)");
	fd = io_cur_fd(c, NULL);
	if (fd < 0)
		return -1;
	p = pin_new(c, a.pos[0], IO_PIN_DMA);
	if (!p)
		return -1;
	ret = dc_dcfs_pin(c->io->fs, fd, off, len, a.has['r'] ? DC_DCFS_PIN_READONLY : 0, p->tag,
			  &p->ps);
	if (ret) {
		pin_drop(c->io, p);
		return io_lib_err(c, ret);
	}
	p->off = p->ps.offset;
	p->pages = pinset_pages(&p->ps);
	p->t0_ns = dc_now_ns();
	/* dma_start() takes the pin set over (and clears p->ps) */
	ret = dma_start(c->io->fs, &p->ps, engine, a.has['r'] ? DMA_READ : byte, ms, p->tag,
			&p->dma);
	if (ret) {
		(void)dc_dcfs_unpin(c->io->fs, &p->ps);
		pin_drop(c->io, p);
		return io_err(c, "cannot start the DMA: %s", strerror(-ret));
	}
	pthread_mutex_lock(&c->io->lock);
	p->state = IO_PS_PINNED;
	pthread_mutex_unlock(&c->io->lock);
	io_out(c, "dma %s started", p->tag);
	return 0;
}

/*
 * Wait for the DMA of @p (out of the list) to end: "dma TAG done".  A
 * transfer cut short by unpin (@cancelled) may end with -EINTR or
 * -ECANCELED: that is what was asked for.  Return 0 or -1.
 */
static int dma_end(struct io_ctx *c, struct io_pin *p, bool cancelled)
{
	int ret = dma_wait(p->dma);

	if (cancelled && (ret == -EINTR || ret == -ECANCELED))
		ret = 0;
	io_out(c, "dma %s done", p->tag);
	if (ret) {
		fflush(stdout);
		fprintf(stderr, "daxcore: dma: %s: the transfer failed: %s\n", p->tag,
			strerror(-ret));
		c->io->failures++;
	}
	free(p);
	return ret ? -1 : 0;
}

void io_reap_dmas(struct io_ctx *c, bool all, bool cancel)
{
	struct io *io = c->io;

	for (;;) {
		struct io_pin *p;

		pthread_mutex_lock(&io->lock);
		for (p = io->pins; p; p = p->next)
			if (p->kind == IO_PIN_DMA && p->state == IO_PS_PINNED &&
			    (all || dma_done(p->dma)))
				break;
		if (p) {
			p->state = IO_PS_TAKEN;
			pin_unlink_locked(io, p);
		}
		pthread_mutex_unlock(&io->lock);
		if (!p)
			return;
		if (cancel)
			dma_cancel(p->dma);
		(void)dma_end(c, p, cancel);
	}
}

unsigned io_dmas_running(struct io *io)
{
	unsigned n = 0;

	pthread_mutex_lock(&io->lock);
	for (struct io_pin *p = io->pins; p; p = p->next)
		n += p->kind == IO_PIN_DMA && p->state == IO_PS_PINNED && !dma_done(p->dma);
	pthread_mutex_unlock(&io->lock);
	return n;
}

/* ---- events ---------------------------------------------------------------------------- */

void io_event(struct dc_dcfs *fs, const struct dc_dcfs_event *ev, void *arg)
{
	struct io *io = arg;
	char name[DC_DCFS_NAME_MAX + 32], line[1024];
	size_t n;

	(void)fs;
	if (ev->name)
		snprintf(name, sizeof(name), "%s", ev->name);
	else /* an unlinked file has no name */
		snprintf(name, sizeof(name), "(unlinked ino %" PRIu64 ")", ev->ino);
	if (ev->type == DC_DCFS_EV_MEMORY_FAILURE) {
		snprintf(line, sizeof(line), "memory failure: %s offset=%" PRIu64, name, ev->offset);
	} else if (ev->type == DC_DCFS_EV_SLOW_WAIT) {
		n = (size_t)snprintf(line, sizeof(line), "slow wait: %s off=%" PRIu64 " tags=", name,
				     ev->offset);
		for (unsigned i = 0; i < ev->npins && n < sizeof(line); i++)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s", i ? "," : "",
					      ev->pins[i].tag);
	} else {
		return;
	}
	pthread_mutex_lock(&io->lock);
	if (io->nevents == io->events_cap) {
		size_t ncap = io->events_cap ? 2 * io->events_cap : 16;
		char **ne = realloc(io->events, ncap * sizeof(*ne));

		if (!ne) {
			pthread_mutex_unlock(&io->lock);
			return;
		}
		io->events = ne;
		io->events_cap = ncap;
	}
	io->events[io->nevents] = strdup(line);
	if (io->events[io->nevents])
		io->nevents++;
	pthread_mutex_unlock(&io->lock);
}

int io_cmd_events(struct io_ctx *c, int argc, char **argv)
{
	struct io *io = c->io;
	struct io_args a;
	char **ev;
	size_t n;

	if (io_args(c, argc, argv, "", 0, 0, &a))
		return -1;
	pthread_mutex_lock(&io->lock);
	ev = io->events;
	n = io->nevents;
	io->events = NULL;
	io->nevents = io->events_cap = 0;
	pthread_mutex_unlock(&io->lock);
	for (size_t i = 0; i < n; i++) {
		io_out(c, "%s", ev[i]);
		free(ev[i]);
	}
	free(ev);
	return 0;
}
