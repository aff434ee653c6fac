// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fault.c - serving a fault at a view address: the window (fault-around),
 * the owner's answers, one mmap per contiguous device run; the explicit
 * call and the SIGSEGV handler that both end here.
 *
 * The window: a fault at a page right after the previous window of the view
 * (a sequential scan) doubles the window, up to 2 MiB, and starts it at the
 * page; a fault near the previous window starts again from the file's
 * fault-around size, aligned around the page; a fault far from it (random
 * access, where neighbours are wasted work: each costs an owner fault and
 * a page of mmap) halves the window, down to one page.  The faulting page is asked for with the
 * access's own mode (a write allocates or copies); its neighbours with
 * DC_VIEW_FAULT_AROUND (nothing is allocated or copied for them: a hole in
 * a write fault's window is left unmapped, a shared block maps read-only).
 * A write fault's window maps writable what the owner says may be written
 * (and the owner marks it dirty): fsync then flushes the whole window.
 */
#include "view/view_int.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* The thread is inside the view fault path (the owner's ->fault runs). */
static __thread bool in_fault;

/* Tests: run between the owner's answers and the mapping of the window. */
void (*dc__test_view_fault_hook)(const void *view_addr);

struct run {
	uint64_t a, b; /* view pages */
	uint64_t s;    /* the state of page a */
};

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

/*
 * Map run @r (its state says what); view lock held.  A device run is
 * mapped PROT_NONE first, made MADV_DONTFORK, and only then given its
 * protection and populated: a fork() at any moment copies at most a
 * PROT_NONE mapping of it (no lock to order against fork(), whose atfork
 * handlers may themselves take locks or touch views).
 */
static int map_run(struct vview *v, const struct run *r)
{
	struct dc_view_file *vf = v->vf;
	char *addr = v->addr + (r->a << DC_PAGE_SHIFT);
	size_t len = (size_t)((r->b - r->a) << DC_PAGE_SHIFT);
	int prot = PROT_READ | ((r->s & VST_W) ? PROT_WRITE : 0);
	void *p;
	int ret = dc__vst_reserve(v, r->a, r->b);

	if (ret)
		return ret;
	dc__view_tsan_ignore_begin();
	if (r->s & VST_ZERO)
		p = mmap(addr, len, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_POPULATE | MAP_NORESERVE, -1, 0);
	else
		p = mmap(addr, len, PROT_NONE, MAP_SHARED | MAP_FIXED, vf->fd,
			 (off_t)((r->s >> VST_SHIFT) << DC_PAGE_SHIFT));
	dc__view_tsan_ignore_end();
	if (p == MAP_FAILED) {
		int err = errno;

		/*
		 * A failed MAP_FIXED keeps the old mapping (6.18) or leaves a
		 * hole (older kernels): make the range PROT_NONE; if even that
		 * fails, the state still says what may be mapped there, so a
		 * later revoke takes it away.
		 */
		if (dc__view_reserve_at(addr, len) != MAP_FAILED)
			dc__vst_set(v, r->a, r->b, 0);
		return dc__fail(-err, "view: mmap of %zu bytes at %p: %s%s", len, (void *)addr,
				strerror(err),
				err == ENOMEM ? " (vm.max_map_count? see dc_view_set_vma_budget())" : "");
	}
	/* A forked child inherits nothing of it. */
	(void)madvise(addr, len, MADV_DONTFORK);
	if (!(r->s & VST_ZERO)) {
		if (mprotect(addr, len, prot)) {
			int err = errno;

			/* Back to the reservation; if even that fails, the PROT_NONE
			 * mapping of the device stays, accounted as mapped so that a
			 * revoke replaces it. */
			if (dc__view_reserve_at(addr, len) != MAP_FAILED)
				dc__vst_set(v, r->a, r->b, 0);
			else
				dc__vst_set(v, r->a, r->b, r->s & ~(uint64_t)VST_W);
			return dc__fail(-err, "view: mprotect of %zu bytes at %p: %s", len,
					(void *)addr, strerror(err));
		}
		/* Populate as MAP_POPULATE does for a shared mapping: read
		 * faults, batched, whose PTEs are writable where the protection
		 * is (a kernel without it faults lazily). */
		(void)madvise(addr, len, MADV_POPULATE_READ);
	}
	dc__vst_set(v, r->a, r->b, r->s);
	return 0;
}

static inline bool satisfied(uint64_t s, bool write)
{
	return (s & VST_MAPPED) && (!write || (s & VST_W));
}

/*
 * Ask the owner for view pages [a, b) around the faulting page @p and
 * collect the runs to map.  No lock held.  Return: the number of runs; a
 * negative errno (the owner's for @p, or a bad answer).  *@b shrinks when a
 * page after @p cannot be served.
 */
static long ask_owner(struct vview *v, uint64_t a, uint64_t *b, uint64_t p, bool write,
		      struct run **runsp, size_t *cap, struct vinflight *rec)
{
	struct run *runs = *runsp;
	struct dc_view_file *vf = v->vf;
	uint64_t unit = UINT64_C(1) << vf->map_order, pp = p & ~(unit - 1), idx = a;
	long n = 0;

	while (idx < *b) {
		bool around = idx != pp;
		uint64_t lim = idx < pp ? pp : *b, e, s;
		struct dc_view_extent ext = { 0 };
		unsigned flags = (write ? DC_VIEW_FAULT_WRITE : 0) | (around ? DC_VIEW_FAULT_AROUND : 0);
		int ret;

		rec->asked = idx; /* read only by this thread's own revokes (mark_stale()) */
		ret = vf->ops->fault(vf->file, v->first + idx, lim - idx, flags, &ext);

		if (!ret && (!ext.nr || ext.index > v->first + idx ||
			     ext.nr - 1 > UINT64_MAX - ext.index ||
			     ext.index + ext.nr <= v->first + idx))
			ret = dc__fail(-EIO, "view: the owner's answer for file page %llu does not "
				       "cover it", (unsigned long long)(v->first + idx));
		if (!ret && !around && write && !ext.writable && (v->prot & DC_VIEW_WRITE))
			ret = dc__fail(-EIO, "view: the owner answered a write fault of file page "
				       "%llu read-only", (unsigned long long)(v->first + idx));
		if (ret) {
			if (!around)
				return ret;
			if (idx > pp) { /* the window ends here */
				*b = idx;
				break;
			}
			idx += unit; /* a neighbour before the page: skip it */
			continue;
		}
		e = ext.index + ext.nr - v->first;
		/* Mapped in units (hugetlb): the unit the answer ends in maps
		 * whole (the owner's blocks are at least a unit: the rest of it
		 * is the same block, past the end of file). */
		e = (e + unit - 1) & ~(unit - 1);
		if (e > lim)
			e = lim;
		if (e <= idx)
			return dc__fail(-EIO, "view: the owner's answer for file page %llu is not "
					"aligned to the region's %llu-page mapping unit",
					(unsigned long long)(v->first + idx), (unsigned long long)unit);
		if (ext.zero && write && around) { /* a neighbouring hole: not for a store */
			idx = e;
			continue;
		}
		s = VST_MAPPED;
		if (ext.zero)
			s |= VST_ZERO;
		else
			s |= (ext.pgoff + (v->first + idx - ext.index)) << VST_SHIFT;
		if (!ext.zero && ext.writable && (v->prot & DC_VIEW_WRITE))
			s |= VST_W;
		if (n && runs[n - 1].b == idx &&
		    (runs[n - 1].s & (VST_W | VST_ZERO)) == (s & (VST_W | VST_ZERO)) &&
		    ((s & VST_ZERO) || (s >> VST_SHIFT) == (runs[n - 1].s >> VST_SHIFT) +
							     (idx - runs[n - 1].a)))
			runs[n - 1].b = e;
		else {
			if ((size_t)n == *cap) {
				struct run *nr = realloc(runs, 2 * *cap * sizeof(*runs));

				if (!nr)
					return dc__fail(-ENOMEM, "view fault: no memory");
				*runsp = runs = nr;
				*cap *= 2;
			}
			runs[n++] = (struct run){ idx, e, s };
		}
		idx = e;
	}
	return n;
}

/*
 * Serve a fault at view page @p for read or write: map a window around it.
 * @want_end: an explicit fault's end (the window reaches it, up to 2 MiB
 * past @p); 0 for an access.  On 0, *@end is the end of the satisfied pages
 * from @p.  Return: 0; VIEW_GONE (positive: the view was unmapped meanwhile); the
 * owner's error for @p; -ENOMEM.
 */
int dc__view_fault_page(struct vview *v, uint64_t p, bool write, uint64_t want_end,
			uint64_t *end)
{
	struct dc_view_file *vf = v->vf;
	uint64_t unit = UINT64_C(1) << vf->map_order;
	unsigned fo = vf->folio_order;

	/* On regions of large folios the window is at least a folio: a 2 MiB
	 * entry maps as one 2 MiB range. */
	if ((UINT64_C(1) << fo) > unit)
		unit = UINT64_C(1) << fo;
	for (;;) {
		struct vinflight rec = { 0 }, **pp;
		struct run *runs;
		size_t cap;
		uint64_t w, a, b, seq;
		long n;
		int ret = 0;

		dc__view_lock(v);
		if (v->dead) {
			dc__view_unlock(v);
			return VIEW_GONE;
		}
		if (satisfied(dc__vst_get(v, p), write)) { /* another thread was faster */
			for (b = p + 1; b < v->npages && satisfied(dc__vst_get(v, b), write); b++)
				;
			dc__view_unlock(v);
			*end = b;
			return 0;
		}
		seq = atomic_load_explicit(&v->seq_next, memory_order_relaxed);
		w = atomic_load_explicit(&v->win, memory_order_relaxed);
		if (p == seq) { /* sequential: double the window, from the page on */
			w = w * 2 > VWIN_MAX ? VWIN_MAX : w * 2;
			a = p & ~(unit - 1);
		} else {
			/* Near the last window (or the first fault): the file's
			 * fault-around; far from it (random access): halve the
			 * window, down to one page, as readahead backs off. */
			if (seq == UINT64_MAX || (p + 2 * w >= seq && p < seq + w))
				w = vf->around;
			else
				w = w / 2 ? w / 2 : 1;
			if (w < unit)
				w = unit;
			a = p & ~(w - 1);
		}
		if (w < unit)
			w = unit;
		atomic_store_explicit(&v->win, w, memory_order_relaxed);
		b = a + w;
		/* A sequential window ends on a 2 MiB boundary, so that the next
		 * one starts on it and the owner can answer 2 MiB entries. */
		if (p == seq && ((b & (VWIN_MAX - 1)) && (b & ~(uint64_t)(VWIN_MAX - 1)) > p))
			b &= ~(uint64_t)(VWIN_MAX - 1);
		if (want_end > b)
			b = want_end < p + VWIN_MAX ? want_end : p + VWIN_MAX;
		b = (b + unit - 1) & ~(unit - 1);
		if (b > v->npages)
			b = v->npages;
		rec.a = a;
		rec.b = b;
		rec.asked = a;
		rec.next = v->inflight;
		v->inflight = &rec;
		dc__view_unlock(v);

		cap = b - a < 16 ? (size_t)(b - a) : 16;
		runs = dc__malloc(cap * sizeof(*runs));
		if (!runs) {
			ret = dc__fail(-ENOMEM, "view fault: no memory");
			n = 0;
		} else {
			in_fault = true;
			dc__view_asking = &rec;
			n = ask_owner(v, a, &b, p, write, &runs, &cap, &rec);
			dc__view_asking = NULL;
			in_fault = false;
			DC_TEST_HOOK(dc__test_view_fault_hook, v->addr);
			if (n < 0)
				ret = (int)n;
		}

		dc__view_lock(v);
		for (pp = &v->inflight; *pp != &rec; pp = &(*pp)->next)
			;
		*pp = rec.next;
		if (!ret && v->dead)
			ret = VIEW_GONE;
		/* bug 28: map what a revoke took meanwhile */
		if (!ret && rec.stale && DC_REGRESS_BUG != 28) { /* a revoke took (part of) the window */
			dc__view_unlock(v);
			free(runs);
			atomic_fetch_add_explicit(&dc__view_ctr_retries, 1, memory_order_relaxed);
			continue;
		}
		for (long i = 0; !ret && i < n; i++) {
			ret = map_run(v, &runs[i]);
			if (!ret)
				atomic_fetch_add_explicit(&dc__view_ctr_pages, runs[i].b - runs[i].a,
							  memory_order_relaxed);
		}
		if (!ret) {
			for (b = p; b < v->npages && satisfied(dc__vst_get(v, b), write); b++)
				;
			*end = b;
			if (b == p) /* the owner answered a read-only page for a store */
				ret = dc__fail(-EIO, "view fault: page %llu could not be mapped",
					       (unsigned long long)(v->first + p));
		}
		dc__view_unlock(v);
		free(runs);
		if (!ret) {
			atomic_store_explicit(&v->seq_next, rec.b, memory_order_relaxed);
			atomic_fetch_add_explicit(&dc__view_ctr_faults, 1, memory_order_relaxed);
			dc__view_budget_push(v, rec.a, rec.b);
			dc__view_budget_enforce(v, rec.a, rec.b);
		}
		return ret;
	}
}

DC_API int dc_view_fault(const struct dc_view *uv, uint64_t off, uint64_t len, unsigned flags)
{
	bool write = flags & DC_VIEW_FAULT_WRITE;
	struct vview *v;
	uint64_t p, e;
	int ret = 0;

	if (flags & ~DC_VIEW_FAULT_WRITE)
		return dc__fail(-EINVAL, "view fault: flags %#x", flags);
	v = dc__view_get(uv);
	if (!v)
		return dc__fail(-EINVAL, "view fault: not a mapped view");
	if (!len || off >= (v->npages << DC_PAGE_SHIFT) ||
	    len > (v->npages << DC_PAGE_SHIFT) - off) {
		ret = dc__fail(-EINVAL, "view fault: [%llu, +%llu) is not inside the view of "
			       "%llu bytes", (unsigned long long)off, (unsigned long long)len,
			       (unsigned long long)(v->npages << DC_PAGE_SHIFT));
	} else if (write && !(v->prot & DC_VIEW_WRITE)) {
		ret = dc__fail(-EACCES, "view fault: a write fault of a read-only view");
	} else if (dc__cb_depth || in_fault || dc__view_locked) {
		ret = dc__fail(-EDEADLK, "view fault: called from inside a daxcore callback");
	}
	p = off >> DC_PAGE_SHIFT;
	e = (off + len + DC_PAGE_SIZE - 1) >> DC_PAGE_SHIFT;
	while (!ret && p < e) {
		uint64_t end;

		ret = dc__view_fault_page(v, p, write, e, &end);
		if (ret == VIEW_GONE)
			ret = dc__fail(-EINVAL, "view fault: the view was unmapped meanwhile");
		p = end;
	}
	dc__view_put(v);
	return ret;
}

/* ---- the SIGSEGV handler ------------------------------------------------------------------------ */

static struct sigaction old_segv;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static bool installed;

/* Whether disposition @sa runs a handler (not SIG_DFL or SIG_IGN, whatever SA_SIGINFO says). */
static bool runs_handler(const struct sigaction *sa)
{
	return sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN;
}

/* Hand a fault that is not ours to the disposition found at install time. */
static void chain(int sig, siginfo_t *si, void *uc)
{
	if (runs_handler(&old_segv)) {
		if (old_segv.sa_flags & SA_SIGINFO)
			old_segv.sa_sigaction(sig, si, uc);
		else
			old_segv.sa_handler(sig);
		return;
	}
	/* Ignored and sent by someone (kill, raise): ignored. */
	if (old_segv.sa_handler == SIG_IGN && (!si || si->si_code <= 0))
		return;
	/* The default action (a fault the kernel would not let be ignored
	 * either): restore it; the access faults again and dies, a signal
	 * sent by someone else is raised again. */
	signal(sig, SIG_DFL);
	if (!si || si->si_code <= 0)
		raise(sig);
}

/* The access that faulted: a store, an instruction fetch. */
static void access_kind(void *ucv, struct vview *v, uint64_t p, bool *write, bool *exec)
{
	ucontext_t *uc = ucv;

	*exec = false;
#if defined(__x86_64__)
	if (uc) {
		unsigned long long err = (unsigned long long)uc->uc_mcontext.gregs[REG_ERR];

		*write = err & 2;
		*exec = err & 16;
		return;
	}
#elif defined(__aarch64__)
	if (uc) {
		struct _aarch64_ctx *h = (struct _aarch64_ctx *)uc->uc_mcontext.__reserved;

		while (h->magic) {
			if (h->magic == ESR_MAGIC) {
				uint64_t esr = ((struct esr_context *)h)->esr;

				*exec = (esr >> 26) == 0x20; /* instruction abort, lower EL */
				*write = !*exec && (esr & (1u << 6)); /* WnR */
				return;
			}
			h = (struct _aarch64_ctx *)((char *)h + h->size);
		}
	}
#else
	(void)uc;
#endif
	/* Unknown: a fault on a page mapped read-only was a store; else a
	 * load, and a store faults once more. */
	dc__view_lock(v);
	*write = dc__vst_get(v, p) & VST_MAPPED;
	dc__view_unlock(v);
}

/*
 * SIGBUS at @addr, as the kernel would send it for the faulting access:
 * the disposition's handler is called here, with the fault's own context
 * (@uc: a handler that skips the instruction by moving the program counter
 * works as with the kernel's SIGBUS), SIGBUS and its sa_mask blocked
 * meanwhile.  The default action (or SIGBUS ignored or blocked, which the
 * kernel overrides for a fault) kills the process with SIGBUS.
 */
static void send_sigbus(void *addr, int err, void *ucv)
{
	ucontext_t *uc = ucv;
	struct sigaction cur;
	siginfo_t si;

	atomic_fetch_add_explicit(&dc__view_ctr_sigbus, 1, memory_order_relaxed);
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGBUS;
	si.si_code = err == -EHWPOISON ? BUS_MCEERR_AR : BUS_ADRERR;
	si.si_addr = addr;
	if (err == -EHWPOISON)
		si.si_addr_lsb = DC_PAGE_SHIFT;
	if (!sigaction(SIGBUS, NULL, &cur) && runs_handler(&cur) &&
	    !(uc && sigismember(&uc->uc_sigmask, SIGBUS))) {
		sigset_t mask = cur.sa_mask, old;

		if (!(cur.sa_flags & SA_NODEFER))
			sigaddset(&mask, SIGBUS);
		if (cur.sa_flags & SA_RESETHAND) /* one-shot, as the kernel resets it */
			signal(SIGBUS, SIG_DFL);
		pthread_sigmask(SIG_BLOCK, &mask, &old);
		if (cur.sa_flags & SA_SIGINFO)
			cur.sa_sigaction(SIGBUS, &si, uc);
		else
			cur.sa_handler(SIGBUS);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return;
	}
	signal(SIGBUS, SIG_DFL);
	{
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGBUS);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		if (uc)
			sigdelset(&uc->uc_sigmask, SIGBUS);
	}
	(void)syscall(SYS_rt_tgsigqueueinfo, getpid(), (pid_t)syscall(SYS_gettid), SIGBUS, &si);
}

static void loud(void)
{
	static const char msg[] = "daxcore: a fault at a view address while this thread runs "
				  "inside a daxcore callback or holds a view lock (serving it "
				  "would deadlock): aborting\n";

	(void)!write(2, msg, sizeof(msg) - 1);
	abort();
}

static void handler(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	struct vview *v = NULL;
	char msg[256];
	uint64_t p, end;
	bool write, exec;
	int ret;

	if (si && si->si_code > 0)
		v = dc__view_lookup_get(si->si_addr);
	if (v && v->pid != getpid()) { /* a forked child: the parent's view is not here */
		dc__view_put(v);
		v = NULL;
	}
	if (!v) {
		chain(sig, si, uc);
		errno = saved;
		return;
	}
	p = (uint64_t)((char *)si->si_addr - v->addr) >> DC_PAGE_SHIFT;
	if (dc__cb_depth || in_fault || dc__view_locked)
		loud();
	access_kind(uc, v, p, &write, &exec);
	if (exec || (write && !(v->prot & DC_VIEW_WRITE))) {
		/* A jump into a view, a store to a read-only view: SIGSEGV. */
		dc__view_put(v);
		chain(sig, si, uc);
		errno = saved;
		return;
	}
	snprintf(msg, sizeof(msg), "%s", dc_errmsg()); /* the thread's message survives */
	atomic_fetch_add_explicit(&dc__view_ctr_signal_faults, 1, memory_order_relaxed);
	ret = dc__view_fault_page(v, p, write, 0, &end);
	dc__view_put(v);
	(void)dc__fail_str(0, msg);
	/* VIEW_GONE: unmapped meanwhile; the access faults again, as a stranger. */
	if (ret && ret != VIEW_GONE)
		send_sigbus(si->si_addr, ret, uc);
	errno = saved;
}

DC_API int dc_view_handler_install(void)
{
	struct sigaction sa;
	int ret = 0;

	pthread_mutex_lock(&install_lock);
	if (!installed) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = handler;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSEGV, &sa, &old_segv))
			ret = dc__fail(-errno, "view: sigaction(SIGSEGV): %s", strerror(errno));
		else
			installed = true;
	}
	pthread_mutex_unlock(&install_lock);
	return ret;
}

DC_API int dc_view_handler_remove(void)
{
	struct sigaction cur;
	int ret = 0;

	pthread_mutex_lock(&install_lock);
	if (installed) {
		if (sigaction(SIGSEGV, NULL, &cur) || !(cur.sa_flags & SA_SIGINFO) ||
		    cur.sa_sigaction != handler)
			ret = dc__fail(-EBUSY, "view: another SIGSEGV handler was installed over "
				       "daxcore's");
		else if (sigaction(SIGSEGV, &old_segv, NULL))
			ret = dc__fail(-errno, "view: sigaction(SIGSEGV): %s", strerror(errno));
		else
			installed = false;
	}
	pthread_mutex_unlock(&install_lock);
	return ret;
}
