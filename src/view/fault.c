// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fault.c - serving a fault at a view address: the window (fault-around),
 * the owner's answers, one mmap per contiguous device run; the explicit
 * call and the SIGSEGV handler that both end here.
 *
 * The window: a fault at a page right after the previous window of the view
 * (a sequential scan) doubles the window, up to 2 MiB, and starts it at the
 * page; any other fault starts again from the file's fault-around size,
 * aligned around the page.  The faulting page is asked for with the
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

/* Map run @r (its state says what); view lock held. */
static int map_run(struct vview *v, const struct run *r)
{
	struct dc_view_file *vf = v->vf;
	char *addr = v->addr + (r->a << DC_PAGE_SHIFT);
	size_t len = (size_t)((r->b - r->a) << DC_PAGE_SHIFT);
	void *p;
	int ret = dc__vst_reserve(v, r->a, r->b);

	if (ret)
		return ret;
	if (r->s & VST_ZERO)
		p = mmap(addr, len, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_POPULATE | MAP_NORESERVE, -1, 0);
	else
		p = mmap(addr, len, PROT_READ | ((r->s & VST_W) ? PROT_WRITE : 0),
			 MAP_SHARED | MAP_FIXED | MAP_POPULATE, vf->fd,
			 (off_t)((r->s >> VST_SHIFT) << DC_PAGE_SHIFT));
	if (p == MAP_FAILED) {
		int err = errno;

		/* A failed MAP_FIXED may have unmapped the range: reserve it again. */
		dc__vst_set(v, r->a, r->b, 0);
		if (dc__view_reserve_at(addr, len) == MAP_FAILED)
			dc__view_revoke_pages(v, 0, v->npages);
		return dc__fail(-err, "view: mmap of %zu bytes at %p: %s%s", len, (void *)addr,
				strerror(err),
				err == ENOMEM ? " (vm.max_map_count? see dc_view_set_vma_budget())" : "");
	}
	/* A forked child inherits nothing of it. */
	(void)madvise(addr, len, MADV_DONTFORK);
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
		      struct run *runs)
{
	struct dc_view_file *vf = v->vf;
	uint64_t unit = UINT64_C(1) << vf->map_order, pp = p & ~(unit - 1), idx = a;
	long n = 0;

	while (idx < *b) {
		bool around = idx != pp;
		uint64_t lim = idx < pp ? pp : *b, e, s;
		struct dc_view_extent ext = { 0 };
		unsigned flags = (write ? DC_VIEW_FAULT_WRITE : 0) | (around ? DC_VIEW_FAULT_AROUND : 0);
		int ret = vf->ops->fault(vf->file, v->first + idx, lim - idx, flags, &ext);

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
		if (e > lim)
			e = lim;
		e &= ~(unit - 1);
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
		else
			runs[n++] = (struct run){ idx, e, s };
		idx = e;
	}
	return n;
}

/*
 * Serve a fault at view page @p for read or write: map a window around it.
 * @want_end: an explicit fault's end (the window reaches it, up to 2 MiB
 * past @p); 0 for an access.  On 0, *@end is the end of the satisfied pages
 * from @p.  Return: 0; -ENXIO (the view was unmapped meanwhile); the
 * owner's error for @p; -ENOMEM.
 */
int dc__view_fault_page(struct vview *v, uint64_t p, bool write, uint64_t want_end,
			uint64_t *end)
{
	struct dc_view_file *vf = v->vf;
	uint64_t unit = UINT64_C(1) << vf->map_order;

	for (;;) {
		struct vinflight rec = { 0 }, **pp;
		struct run *runs;
		uint64_t w, a, b, seq;
		long n;
		int ret = 0;

		pthread_mutex_lock(&v->lock);
		if (v->dead) {
			pthread_mutex_unlock(&v->lock);
			return -ENXIO;
		}
		if (satisfied(dc__vst_get(v, p), write)) { /* another thread was faster */
			for (b = p + 1; b < v->npages && satisfied(dc__vst_get(v, b), write); b++)
				;
			pthread_mutex_unlock(&v->lock);
			*end = b;
			return 0;
		}
		seq = atomic_load_explicit(&v->seq_next, memory_order_relaxed);
		w = atomic_load_explicit(&v->win, memory_order_relaxed);
		if (p == seq) {
			w = w * 2 > VWIN_MAX ? VWIN_MAX : w * 2;
			a = p & ~(unit - 1);
		} else {
			w = vf->around;
			if (w < unit)
				w = unit;
			a = p & ~(w - 1);
		}
		atomic_store_explicit(&v->win, w, memory_order_relaxed);
		b = a + w;
		if (want_end > b)
			b = want_end < p + VWIN_MAX ? want_end : p + VWIN_MAX;
		b = (b + unit - 1) & ~(unit - 1);
		if (b > v->npages)
			b = v->npages;
		rec.a = a;
		rec.b = b;
		rec.next = v->inflight;
		v->inflight = &rec;
		pthread_mutex_unlock(&v->lock);

		runs = dc__malloc((size_t)(b - a) * sizeof(*runs));
		if (!runs) {
			ret = dc__fail(-ENOMEM, "view fault: no memory");
			n = 0;
		} else {
			in_fault = true;
			n = ask_owner(v, a, &b, p, write, runs);
			in_fault = false;
			DC_TEST_HOOK(dc__test_view_fault_hook, v->addr);
			if (n < 0)
				ret = (int)n;
		}

		pthread_mutex_lock(&v->lock);
		for (pp = &v->inflight; *pp != &rec; pp = &(*pp)->next)
			;
		*pp = rec.next;
		if (!ret && v->dead)
			ret = -ENXIO;
		/* bug 28: map what a revoke took meanwhile */
		if (!ret && rec.stale && DC_REGRESS_BUG != 28) { /* a revoke took (part of) the window */
			pthread_mutex_unlock(&v->lock);
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
		pthread_mutex_unlock(&v->lock);
		free(runs);
		if (!ret) {
			atomic_store_explicit(&v->seq_next, rec.b, memory_order_relaxed);
			atomic_fetch_add_explicit(&dc__view_ctr_faults, 1, memory_order_relaxed);
			dc__view_budget_push(v, rec.a, rec.b);
			dc__view_budget_enforce();
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
	} else if (dc__cb_depth || in_fault) {
		ret = dc__fail(-EDEADLK, "view fault: called from inside a daxcore callback");
	}
	p = off >> DC_PAGE_SHIFT;
	e = (off + len + DC_PAGE_SIZE - 1) >> DC_PAGE_SHIFT;
	while (!ret && p < e) {
		uint64_t end;

		ret = dc__view_fault_page(v, p, write, e, &end);
		if (ret == -ENXIO)
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
static volatile pid_t self_pid; /* this process (views of the parent's are not ours) */

static void atfork_child(void)
{
	self_pid = getpid();
}

/* Hand a fault that is not ours to the disposition found at install time. */
static void chain(int sig, siginfo_t *si, void *uc)
{
	if (old_segv.sa_flags & SA_SIGINFO) {
		if (old_segv.sa_sigaction)
			old_segv.sa_sigaction(sig, si, uc);
		return;
	}
	if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
		old_segv.sa_handler(sig);
		return;
	}
	/* The default action: restore it; the access faults again and dies
	 * (a signal sent by someone else is raised again). */
	signal(sig, SIG_DFL);
	if (!si || si->si_code <= 0)
		raise(sig);
}

/* Whether the access that faulted was a store. */
static bool access_is_write(void *ucv, struct vview *v, uint64_t p)
{
	ucontext_t *uc = ucv;
	bool w;

#if defined(__x86_64__)
	if (uc)
		return uc->uc_mcontext.gregs[REG_ERR] & 2;
#elif defined(__aarch64__)
	if (uc) {
		struct _aarch64_ctx *h = (struct _aarch64_ctx *)uc->uc_mcontext.__reserved;

		while (h->magic) {
			if (h->magic == ESR_MAGIC)
				return ((struct esr_context *)h)->esr & (1u << 6); /* WnR */
			h = (struct _aarch64_ctx *)((char *)h + h->size);
		}
	}
#else
	(void)uc;
#endif
	/* Unknown: a fault on a page mapped read-only was a store; else a
	 * load, and a store faults once more. */
	pthread_mutex_lock(&v->lock);
	w = dc__vst_get(v, p) & VST_MAPPED;
	pthread_mutex_unlock(&v->lock);
	return w;
}

/* SIGBUS at @addr, as the kernel sends it (BUS_ADRERR, si_addr). */
static void send_sigbus(void *addr, void *ucv)
{
	ucontext_t *uc = ucv;
	struct sigaction cur;
	siginfo_t si;

	atomic_fetch_add_explicit(&dc__view_ctr_sigbus, 1, memory_order_relaxed);
	/* Blocked or ignored, the kernel's SIGBUS of a fault kills: so does ours. */
	if (!sigaction(SIGBUS, NULL, &cur) &&
	    (cur.sa_handler == SIG_IGN || (uc && sigismember(&uc->uc_sigmask, SIGBUS)))) {
		sigset_t set;

		signal(SIGBUS, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, SIGBUS);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		if (uc)
			sigdelset(&uc->uc_sigmask, SIGBUS);
	}
	memset(&si, 0, sizeof(si));
	si.si_signo = SIGBUS;
	si.si_code = BUS_ADRERR;
	si.si_addr = addr;
	(void)syscall(SYS_rt_tgsigqueueinfo, getpid(), (pid_t)syscall(SYS_gettid), SIGBUS, &si);
}

static void loud(const void *addr)
{
	static const char msg[] = "daxcore: a fault at a view address while this thread runs "
				  "inside a daxcore callback or fault (serving it would deadlock)"
				  ": aborting\n";

	(void)addr;
	(void)!write(2, msg, sizeof(msg) - 1);
	abort();
}

static void handler(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	struct vview *v = NULL;
	uint64_t p, end;
	bool write;
	int ret;

	if (si && si->si_code > 0)
		v = dc__view_lookup_get(si->si_addr);
	if (v && v->pid != self_pid) { /* a forked child: the parent's view is not here */
		dc__view_put(v);
		v = NULL;
	}
	if (!v) {
		chain(sig, si, uc);
		errno = saved;
		return;
	}
	p = (uint64_t)((char *)si->si_addr - v->addr) >> DC_PAGE_SHIFT;
	write = access_is_write(uc, v, p);
	if (write && !(v->prot & DC_VIEW_WRITE)) { /* a store to a read-only view: SIGSEGV */
		dc__view_put(v);
		chain(sig, si, uc);
		errno = saved;
		return;
	}
	if (dc__cb_depth || in_fault)
		loud(si->si_addr);
	atomic_fetch_add_explicit(&dc__view_ctr_signal_faults, 1, memory_order_relaxed);
	ret = dc__view_fault_page(v, p, write, 0, &end);
	dc__view_put(v);
	/* -ENXIO: unmapped meanwhile; the access faults again, as a stranger. */
	if (ret && ret != -ENXIO)
		send_sigbus(si->si_addr, uc);
	errno = saved;
}

DC_API int dc_view_handler_install(void)
{
	static bool atfork_done;
	struct sigaction sa;
	int ret = 0;

	pthread_mutex_lock(&install_lock);
	self_pid = getpid();
	if (!installed) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = handler;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSEGV, &sa, &old_segv))
			ret = dc__fail(-errno, "view: sigaction(SIGSEGV): %s", strerror(errno));
		else
			installed = true;
		if (!ret && !atfork_done && !pthread_atfork(NULL, NULL, atfork_child))
			atfork_done = true;
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
