// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * view.c - view sets, views, their page states, revocation and the view
 * table.
 *
 * A view's address range is always fully mapped by something: the
 * anonymous PROT_NONE reservation, the region's fd (device pages), or
 * anonymous read-only memory (the zero page).  Every change replaces a
 * range with mmap(MAP_FIXED), which the kernel does atomically (no window in
 * which the addresses are free for another thread's mmap); only unmap frees
 * the range, after the view left the table.
 */
#include "view/view_int.h"
#include "base/rcu.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

_Atomic uint64_t dc__view_ctr_faults, dc__view_ctr_signal_faults, dc__view_ctr_pages,
	dc__view_ctr_retries, dc__view_ctr_revokes, dc__view_ctr_budget_revokes,
	dc__view_ctr_sigbus, dc__view_vmas_total, dc__view_count;
_Atomic uint64_t dc__view_budget = 32768;

#define VIEWS_MAX 65536u

__thread struct vinflight *dc__view_asking;
__thread unsigned dc__view_locked;

void dc__view_lock(struct vview *v)
{
	dc__view_locked++;
	pthread_mutex_lock(&v->lock);
}

void dc__view_unlock(struct vview *v)
{
	pthread_mutex_unlock(&v->lock);
	dc__view_locked--;
}
#define VIEW_BYTES_MAX (UINT64_C(1) << 52)

/* ---- the view table (RCU) ------------------------------------------------------ */

struct vtab {
	size_t n;
	struct vview *v[]; /* sorted by address */
};

/* Published with release, read with acquire inside an RCU read-side section. */
static struct vtab *_Atomic tab;
static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t next_id = 1;

/* The view whose range holds @addr, in @t; NULL if none. */
static struct vview *tab_find(const struct vtab *t, const char *addr)
{
	size_t lo = 0, hi = t ? t->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct vview *v = t->v[mid];

		if (addr < v->addr)
			hi = mid;
		else if (addr >= v->addr + (v->npages << DC_PAGE_SHIFT))
			lo = mid + 1;
		else
			return v;
	}
	return NULL;
}

/*
 * Replace the table by a copy with @add inserted or @del removed; the old
 * one is freed after a grace period.  tab_lock held.
 */
static int tab_update(struct vview *add, struct vview *del)
{
	struct vtab *old = atomic_load_explicit(&tab, memory_order_relaxed), *t;
	size_t n = old ? old->n : 0, j = 0;

	t = dc__malloc(sizeof(*t) + (n + 1) * sizeof(t->v[0]));
	if (!t)
		return dc__fail(-ENOMEM, "view: no memory for the view table");
	for (size_t i = 0; i < n; i++) {
		struct vview *v = old->v[i];

		if (v == del)
			continue;
		if (add && add->addr < v->addr) {
			t->v[j++] = add;
			add = NULL;
		}
		t->v[j++] = v;
	}
	if (add)
		t->v[j++] = add;
	t->n = j;
	atomic_store_explicit(&tab, t, memory_order_release);
	dc__synchronize_rcu();
	free(old);
	return 0;
}

/*
 * A forked child starts with no views: the parent's (their memory is not
 * the child's: only PROT_NONE reservations are inherited) leave the table,
 * and a lock a parent thread held is new again.
 */
static void atfork_child(void)
{
	atomic_store_explicit(&tab, NULL, memory_order_relaxed); /* the parent's copy leaks */
	pthread_mutex_init(&tab_lock, NULL);
	atomic_store(&dc__view_count, 0);
	atomic_store(&dc__view_vmas_total, 0);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_register(void)
{
	(void)pthread_atfork(NULL, NULL, atfork_child);
}

struct vview *dc__view_lookup_get(const void *addr)
{
	struct vview *v;

	dc__rcu_read_lock();
	v = tab_find(atomic_load_explicit(&tab, memory_order_acquire), addr);
	if (v && v->pid != getpid()) /* a forked child: the parent's view is not here */
		v = NULL;
	if (v)
		atomic_fetch_add(&v->refs, 1);
	dc__rcu_read_unlock();
	return v;
}

void dc__view_put(struct vview *v)
{
	if (atomic_fetch_sub(&v->refs, 1) == 1)
		dc__wake_var_after_rmw(&v->refs);
}

/* The live view @uv names (by address and id), with a reference; NULL if none. */
struct vview *dc__view_get(const struct dc_view *uv)
{
	struct vview *v;

	if (!uv || !uv->id)
		return NULL;
	v = dc__view_lookup_get(uv->addr);
	if (v && (v->id != uv->id || v->addr != (char *)uv->addr || v->pid != getpid())) {
		dc__view_put(v);
		v = NULL;
	}
	return v;
}

/* ---- page states ---------------------------------------------------------------- */

static inline uint64_t vst(const struct vview *v, uint64_t p)
{
	const uint64_t *c = v->chunks[p >> VCHUNK_SHIFT];

	return c ? c[p & (VCHUNK - 1)] : 0;
}

/* Whether page state @b continues the kernel VMA that page state @a is in. */
static inline bool vst_continues(uint64_t a, uint64_t b)
{
	if (!(a & VST_MAPPED) || !(b & VST_MAPPED))
		return !(a & VST_MAPPED) && !(b & VST_MAPPED);
	if ((a & (VST_W | VST_ZERO)) != (b & (VST_W | VST_ZERO)))
		return false;
	return (b & VST_ZERO) || (b >> VST_SHIFT) == (a >> VST_SHIFT) + 1;
}

/* VMAs that start at pages [a, b) of @v. */
static uint64_t vma_starts(const struct vview *v, uint64_t a, uint64_t b)
{
	uint64_t n = 0, prev = a ? vst(v, a - 1) : 0;

	for (uint64_t p = a; p < b; p++) {
		uint64_t s = vst(v, p);

		n += p == 0 || !vst_continues(prev, s);
		prev = s;
	}
	return n;
}

/* Allocate the state chunks of pages [a, b).  View lock held. */
int dc__vst_reserve(struct vview *v, uint64_t a, uint64_t b)
{
	for (uint64_t c = a >> VCHUNK_SHIFT; c <= (b - 1) >> VCHUNK_SHIFT; c++) {
		if (v->chunks[c])
			continue;
		v->chunks[c] = dc__calloc(VCHUNK, sizeof(uint64_t));
		if (!v->chunks[c])
			return dc__fail(-ENOMEM, "view: no memory for page states");
	}
	return 0;
}

/*
 * Set pages [a, b) to @s (a mapped state: its pgoff grows page by page
 * unless VST_ZERO; 0: unmapped) and account the VMAs that changes.  The
 * chunks of a mapped state are reserved.  View lock held.
 */
void dc__vst_set(struct vview *v, uint64_t a, uint64_t b, uint64_t s)
{
	uint64_t end = b < v->npages ? b + 1 : b;
	uint64_t before = vma_starts(v, a, end);
	uint64_t step = (s & VST_MAPPED) && !(s & VST_ZERO) ? UINT64_C(1) << VST_SHIFT : 0;

	for (uint64_t p = a; p < b; p++, s += step) {
		uint64_t *c = v->chunks[p >> VCHUNK_SHIFT];

		if (c)
			c[p & (VCHUNK - 1)] = s;
		else
			DC_BUG_ON(s); /* unmapped chunks stay unallocated */
	}
	dc__view_vmas_add(v, (int64_t)vma_starts(v, a, end) - (int64_t)before);
}

uint64_t dc__vst_get(const struct vview *v, uint64_t p)
{
	return vst(v, p);
}

/* The first page in [a, b) whose state has any of @bits set; b if none. */
static uint64_t vst_next(const struct vview *v, uint64_t a, uint64_t b, uint64_t bits, bool set)
{
	while (a < b) {
		const uint64_t *c = v->chunks[a >> VCHUNK_SHIFT];

		if (!c) {
			if (!set)
				return a;
			a = ((a >> VCHUNK_SHIFT) + 1) << VCHUNK_SHIFT;
			continue;
		}
		if (!(c[a & (VCHUNK - 1)] & bits) != set)
			return a;
		a++;
	}
	return b;
}

static void mark_stale(struct vview *v, uint64_t a, uint64_t b)
{
	for (struct vinflight *f = v->inflight; f; f = f->next) {
		/* The thread's own owner call revoked: what it answers after
		 * this is fresh, only what it answered before is not. */
		uint64_t end = f == dc__view_asking ? f->asked : f->b;

		if (f->a < b && a < end)
			f->stale = true;
	}
}

/* ---- revocation ---------------------------------------------------------------------- */

void *dc__view_reserve_at(void *addr, uint64_t len)
{
	void *p;

	dc__view_tsan_ignore_begin();
	p = mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
		 -1, 0);
	dc__view_tsan_ignore_end();
	return p;
}

/*
 * Take view pages [a, b) away: mark faults in flight over them stale and
 * replace what is mapped (from the first mapped page to the last) with
 * PROT_NONE in one mmap.  If that fails (the VMA limit: the mmap splits a
 * VMA), the whole view is replaced, which needs no new VMA.  View lock held.
 */
void dc__view_revoke_pages(struct vview *v, uint64_t a, uint64_t b)
{
	uint64_t s, e, last;

	mark_stale(v, a, b);
	if (v->dead)
		return;
	s = vst_next(v, a, b, VST_MAPPED, true);
	if (s == b)
		return;
	for (e = last = s; (e = vst_next(v, e, b, VST_MAPPED, true)) < b; e++)
		last = e;
	e = last + 1;
	if (DC_REGRESS_BUG == 37) { /* the pages stay mapped: stores land in blocks that left the file */
		dc__vst_set(v, s, e, 0);
		return;
	}
	if (dc__view_reserve_at(v->addr + (s << DC_PAGE_SHIFT), (e - s) << DC_PAGE_SHIFT) == MAP_FAILED) {
		s = 0;
		e = v->npages;
		if (dc__view_reserve_at(v->addr, v->npages << DC_PAGE_SHIFT) == MAP_FAILED)
			DC_BUG("view: cannot revoke %llu pages at %p: %s",
			       (unsigned long long)v->npages, (void *)v->addr, strerror(errno));
	}
	dc__vst_set(v, s, e, 0);
	atomic_fetch_add_explicit(&dc__view_ctr_revokes, 1, memory_order_relaxed);
}

/* The view pages of @v that file pages [index, index + nr) cover: false if none. */
static bool file_range(const struct vview *v, uint64_t index, uint64_t nr, uint64_t *a,
		       uint64_t *b)
{
	uint64_t end = nr > UINT64_MAX - index ? UINT64_MAX : index + nr;
	uint64_t vend = v->first + v->npages;

	if (end <= v->first || index >= vend)
		return false;
	*a = index > v->first ? index - v->first : 0;
	*b = (end < vend ? end : vend) - v->first;
	return true;
}

/*
 * Call @fn(v, a, b) with each view's lock held for every view of @vf that
 * file pages [index, index + nr) reach (view pages [a, b)).
 */
static void vf_each(struct dc_view_file *vf, uint64_t index, uint64_t nr,
		    void (*fn)(struct vview *v, uint64_t a, uint64_t b))
{
	uint64_t a, b, end = nr > UINT64_MAX - index ? UINT64_MAX : index + nr;
	int pid = getpid();

	if (!vf || !nr)
		return;
	dc__view_locked++;
	pthread_mutex_lock(&vf->lock);
	for (size_t i = 0; i < vf->n && vf->v[i]->first < end; i++) {
		struct vview *v = vf->v[i];

		/* A forked child's copy of the parent's view: not its memory. */
		if (v->pid != pid || !file_range(v, index, nr, &a, &b))
			continue;
		dc__view_lock(v);
		fn(v, a, b);
		dc__view_unlock(v);
	}
	pthread_mutex_unlock(&vf->lock);
	dc__view_locked--;
}

DC_API void dc_view_file_revoke(struct dc_view_file *vf, uint64_t index, uint64_t nr)
{
	vf_each(vf, index, nr, dc__view_revoke_pages);
}

/* Write-protect what view pages [a, b) map writable.  View lock held. */
static void mkclean_pages(struct vview *v, uint64_t a, uint64_t b)
{
	mark_stale(v, a, b);
	while (!v->dead && (a = vst_next(v, a, b, VST_W, true)) < b) {
		uint64_t e = vst_next(v, a, b, VST_W, false);

		/* A run of writable pages: write-protect it (one call even if
		 * its device pages are not contiguous). */
		if (mprotect(v->addr + (a << DC_PAGE_SHIFT), (e - a) << DC_PAGE_SHIFT, PROT_READ)) {
			dc__view_revoke_pages(v, a, e); /* no VMA to split: take it away */
		} else {
			for (uint64_t p = a; p < e;) {
				uint64_t s = vst(v, p), q = p + 1;

				/* one device-contiguous run at a time */
				while (q < e && vst_continues(vst(v, q - 1), vst(v, q)))
					q++;
				dc__vst_set(v, p, q, s & ~(uint64_t)VST_W);
				p = q;
			}
		}
		a = e;
	}
}

DC_API void dc_view_file_mkclean(struct dc_view_file *vf, uint64_t index, uint64_t nr)
{
	vf_each(vf, index, nr, mkclean_pages);
}

/* ---- view files ------------------------------------------------------------------------ */

DC_API int dc_view_file_create(struct dc_region *r, const struct dc_view_owner_ops *ops,
			       void *file, uint64_t fault_around, struct dc_view_file **out)
{
	struct dc_view_file *vf;

	if (!r || !ops || !ops->fault || !out)
		return dc__fail(-EINVAL, "view file: NULL argument");
	if (!fault_around)
		fault_around = 64 << 10;
	if (fault_around < DC_PAGE_SIZE || fault_around > (VWIN_MAX << DC_PAGE_SHIFT) ||
	    (fault_around & (fault_around - 1)))
		return dc__fail(-EINVAL, "view file: fault-around of %llu bytes: a power of two "
				"from 4 KiB to 2 MiB", (unsigned long long)fault_around);
	if (dc_region_type(r) == DC_REGION_LIMITED)
		return dc__fail(-EINVAL, "view file: a limited region has no entries to map");
	vf = dc__calloc(1, sizeof(*vf));
	if (!vf)
		return dc__fail(-ENOMEM, "view file: no memory");
	vf->r = r;
	vf->ops = ops;
	vf->file = file;
	vf->fd = dc_region_fd(r);
	vf->map_order = dc_region_map_order(r);
	vf->folio_order = dc_region_folio_order(r);
	vf->around = fault_around >> DC_PAGE_SHIFT;
	pthread_mutex_init(&vf->lock, NULL);
	*out = vf;
	return 0;
}

DC_API int dc_view_file_destroy(struct dc_view_file *vf)
{
	size_t n;

	if (!vf)
		return dc__fail(-EINVAL, "view file: NULL");
	pthread_mutex_lock(&vf->lock);
	n = vf->n;
	pthread_mutex_unlock(&vf->lock);
	if (n)
		return dc__fail(-EBUSY, "view file: %zu views are still mapped", n);
	pthread_mutex_destroy(&vf->lock);
	free(vf->v);
	free(vf);
	return 0;
}

/* Insert @v in @vf's views, sorted by file offset.  vf->lock held. */
static int vf_add(struct dc_view_file *vf, struct vview *v)
{
	size_t i;

	if (vf->n == vf->cap) {
		size_t cap = vf->cap ? 2 * vf->cap : 4;
		struct vview **nv = realloc(vf->v, cap * sizeof(*nv));

		if (!nv || dc__fault_alloc()) {
			if (nv)
				vf->v = nv;
			return dc__fail(-ENOMEM, "view: no memory");
		}
		vf->v = nv;
		vf->cap = cap;
	}
	for (i = vf->n; i > 0 && vf->v[i - 1]->first > v->first; i--)
		vf->v[i] = vf->v[i - 1];
	vf->v[i] = v;
	vf->n++;
	return 0;
}

static void vf_del(struct dc_view_file *vf, struct vview *v)
{
	size_t i;

	for (i = 0; i < vf->n && vf->v[i] != v; i++)
		;
	DC_BUG_ON(i == vf->n);
	memmove(&vf->v[i], &vf->v[i + 1], (vf->n - i - 1) * sizeof(vf->v[0]));
	vf->n--;
}

/* ---- map and unmap ------------------------------------------------------------------------ */

static void view_free(struct vview *v)
{
	for (uint64_t c = 0; v->chunks && c < v->nchunks; c++)
		free(v->chunks[c]);
	free(v->chunks);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

static void read_max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	unsigned long long n;

	if (f && fscanf(f, "%llu", &n) == 1 && n / 2 >= 16 && n / 2 < 32768)
		atomic_store(&dc__view_budget, n / 2);
	if (f)
		fclose(f);
}

/* The default budget: 32768, or half of vm.max_map_count if that is less. */
void dc__view_budget_default(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, read_max_map_count);
}

/*
 * Reserve @len bytes of PROT_NONE address space whose address is congruent
 * to @off modulo @align (so that aligned blocks land at aligned addresses:
 * PMD and PUD mappings, hugetlb).
 */
static char *reserve(uint64_t off, uint64_t len, uint64_t align)
{
	char *res, *base;
	uint64_t slack = len + align;

	res = mmap(NULL, slack, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return NULL;
	base = (char *)((((uintptr_t)res + align - 1) & ~(uintptr_t)(align - 1)) +
			(off & (align - 1)));
	if (base - res >= (ptrdiff_t)align)
		base -= align;
	if (base > res)
		munmap(res, (size_t)(base - res));
	if (res + slack > base + len)
		munmap(base + len, (size_t)(res + slack - (base + len)));
	return base;
}

DC_API int dc_view_map(struct dc_view_file *vf, uint64_t off, uint64_t len, unsigned prot,
		       struct dc_view *uv)
{
	uint64_t unit, align;
	struct vview *v;
	int ret;

	if (!vf || !uv)
		return dc__fail(-EINVAL, "view map: NULL argument");
	if (prot != DC_VIEW_READ && prot != (DC_VIEW_READ | DC_VIEW_WRITE) && prot != DC_VIEW_WRITE)
		return dc__fail(-EINVAL, "view map: protection %#x (READ, or READ | WRITE)", prot);
	prot |= DC_VIEW_READ;
	unit = DC_PAGE_SIZE << vf->map_order;
	if (!len || (off & (unit - 1)) || (len & (unit - 1)))
		return dc__fail(-EINVAL, "view map: offset %llu and length %llu must be multiples "
				"of %llu bytes, the length nonzero", (unsigned long long)off,
				(unsigned long long)len, (unsigned long long)unit);
	if (len > VIEW_BYTES_MAX || off > VIEW_BYTES_MAX - len)
		return dc__fail(-EINVAL, "view map: [%llu, +%llu) reaches past 2^52 bytes",
				(unsigned long long)off, (unsigned long long)len);
	dc__view_budget_default();
	pthread_once(&atfork_once, atfork_register);
	if (atomic_load(&dc__view_count) >= VIEWS_MAX)
		return dc__fail(-ENOSPC, "view map: %u views are mapped already", VIEWS_MAX);
	align = UINT64_C(2) << 20;
	if ((DC_PAGE_SIZE << vf->folio_order) > align)
		align = DC_PAGE_SIZE << vf->folio_order;
	if (unit > align)
		align = unit;
	v = dc__calloc(1, sizeof(*v));
	if (!v)
		return dc__fail(-ENOMEM, "view map: no memory");
	v->vf = vf;
	v->first = off >> DC_PAGE_SHIFT;
	v->npages = len >> DC_PAGE_SHIFT;
	v->prot = prot;
	v->pid = getpid();
	atomic_init(&v->win, vf->around);
	atomic_init(&v->seq_next, UINT64_MAX);
	pthread_mutex_init(&v->lock, NULL);
	v->vmas = 1;
	/* The address space first: a view too large for it fails at once. */
	v->addr = reserve(off, len, align);
	if (!v->addr) {
		ret = dc__fail(-ENOMEM, "view map: no address space for %llu bytes: %s",
			       (unsigned long long)len, strerror(errno));
		goto err;
	}
	v->nchunks = (v->npages + VCHUNK - 1) >> VCHUNK_SHIFT;
	v->chunks = dc__calloc(v->nchunks, sizeof(*v->chunks));
	if (!v->chunks) {
		ret = dc__fail(-ENOMEM, "view map: no memory for the page states of %llu bytes",
			       (unsigned long long)len);
		goto err_unmap;
	}
	/*
	 * No MADV_DONTFORK on the reservation: revocations (the same anonymous
	 * PROT_NONE) then merge with it into one VMA, as the VMA count assumes.
	 * A forked child inherits only PROT_NONE here (device and zero-page
	 * mappings are MADV_DONTFORK): an access is an ordinary SIGSEGV.
	 */
	v->id = atomic_fetch_add(&next_id, 1);
	pthread_mutex_lock(&vf->lock);
	ret = vf_add(vf, v);
	pthread_mutex_unlock(&vf->lock);
	if (ret)
		goto err_unmap;
	pthread_mutex_lock(&tab_lock);
	ret = tab_update(v, NULL);
	pthread_mutex_unlock(&tab_lock);
	if (ret) {
		pthread_mutex_lock(&vf->lock);
		vf_del(vf, v);
		pthread_mutex_unlock(&vf->lock);
		goto err_unmap;
	}
	atomic_fetch_add(&dc__view_count, 1);
	atomic_fetch_add(&dc__view_vmas_total, 1);
	*uv = (struct dc_view){ .addr = v->addr, .offset = off, .length = len, .prot = prot,
				.id = v->id };
	return 0;
err_unmap:
	munmap(v->addr, len);
err:
	view_free(v);
	return ret;
}

static bool no_refs(void *arg)
{
	return atomic_load(&((struct vview *)arg)->refs) == 0;
}

DC_API int dc_view_unmap(struct dc_view *uv)
{
	struct dc_view_file *vf;
	struct vview *v;
	int ret;

	if (!uv || !uv->id)
		return dc__fail(-EINVAL, "view unmap: not a mapped view");
	if (dc__cb_depth || dc__view_locked || dc__view_asking)
		return dc__fail(-EDEADLK, "view unmap: called from inside a daxcore callback or "
				"a view's fault step (it would wait for itself)");
	pthread_mutex_lock(&tab_lock);
	v = tab_find(atomic_load_explicit(&tab, memory_order_relaxed), uv->addr);
	if (!v || v->id != uv->id || v->addr != (char *)uv->addr || v->pid != getpid()) {
		pthread_mutex_unlock(&tab_lock);
		return dc__fail(-EINVAL, "view unmap: view %llu is not mapped (unmapped already?)",
				(unsigned long long)uv->id);
	}
	ret = tab_update(NULL, v); /* a grace period: no lookup finds it afterwards */
	pthread_mutex_unlock(&tab_lock);
	if (ret)
		return ret;
	uv->id = 0;
	vf = v->vf;
	/*
	 * Out of use before it leaves its file's view set: from here no fault
	 * maps into it (dead, under the view lock) and nothing is mapped (the
	 * whole range PROT_NONE), so no revoke need reach it any more.
	 */
	dc__view_locked++;
	pthread_mutex_lock(&vf->lock);
	dc__view_lock(v);
	mark_stale(v, 0, v->npages);
	dc__view_revoke_pages(v, 0, v->npages);
	v->dead = true;
	dc__view_unlock(v);
	vf_del(vf, v);
	pthread_mutex_unlock(&vf->lock);
	dc__view_locked--;
	(void)dc_wait_var(&v->refs, no_refs, v, NULL); /* faults, resolves running */
	munmap(v->addr, v->npages << DC_PAGE_SHIFT);
	atomic_fetch_sub(&dc__view_vmas_total, v->vmas);
	atomic_fetch_sub(&dc__view_count, 1);
	if (vf->ops->release) {
		dc__cb_enter();
		vf->ops->release(vf->file);
		dc__cb_exit();
	}
	view_free(v);
	return 0;
}

/* ---- resolve, stats ------------------------------------------------------------------------- */

DC_API int dc_view_resolve(const void *addr, uint64_t len, bool write, struct dc_view_ref *ref)
{
	struct vview *v;
	uint64_t off;

	if (!ref || !len)
		return dc__fail(-EINVAL, "view resolve: NULL or zero length");
	v = dc__view_lookup_get(addr);
	if (!v)
		return dc__fail(-EFAULT, "view resolve: %p is not a view address", addr);
	off = (uint64_t)((const char *)addr - v->addr);
	if (len > (v->npages << DC_PAGE_SHIFT) - off) {
		dc__view_put(v);
		return dc__fail(-EFAULT, "view resolve: [%p, +%llu) leaves its view", addr,
				(unsigned long long)len);
	}
	if (write && !(v->prot & DC_VIEW_WRITE)) {
		dc__view_put(v);
		return dc__fail(-EFAULT, "view resolve: a write through the read-only view at %p",
				(void *)v->addr);
	}
	*ref = (struct dc_view_ref){ .file = v->vf->file, .ops = v->vf->ops,
				     .offset = (v->first << DC_PAGE_SHIFT) + off, .id = v->id,
				     .view = v };
	return 0;
}

DC_API void dc_view_resolve_put(struct dc_view_ref *ref)
{
	if (ref && ref->view) {
		dc__view_put(ref->view);
		ref->view = NULL;
	}
}

DC_API void dc_view_stats(struct dc_view_stats *st)
{
	if (!st)
		return;
	dc__view_budget_default();
	*st = (struct dc_view_stats){
		.views = atomic_load(&dc__view_count),
		.vmas = atomic_load(&dc__view_vmas_total),
		.vma_budget = atomic_load(&dc__view_budget),
		.faults = atomic_load(&dc__view_ctr_faults),
		.signal_faults = atomic_load(&dc__view_ctr_signal_faults),
		.pages_mapped = atomic_load(&dc__view_ctr_pages),
		.retries = atomic_load(&dc__view_ctr_retries),
		.revokes = atomic_load(&dc__view_ctr_revokes),
		.budget_revokes = atomic_load(&dc__view_ctr_budget_revokes),
		.sigbus = atomic_load(&dc__view_ctr_sigbus),
	};
}

DC_API int dc_view_set_vma_budget(uint64_t n)
{
	if (n < 16)
		return dc__fail(-EINVAL, "view: a VMA budget of %llu (at least 16)",
				(unsigned long long)n);
	dc__view_budget_default(); /* first, so it never overrides this */
	atomic_store(&dc__view_budget, n);
	return 0;
}
