/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mapping.c - mappings and the entry protocol: grab, insert, unlock, the
 * lockless folio lookup (pin fast path), iteration, and locking an entry
 * from a folio.
 *
 * An entry's lock is its LOCKED bit, set and cleared under the tree lock
 * (the index's mutex), and held by the owner through a handle.  Every
 * function here follows the lock order of DESIGN.md: entry lock -> tree
 * lock -> folio atomics, and calls owner callbacks and folio puts (which may
 * run ->page_free) without the tree lock and outside any RCU read side.
 */
#include "mapping/mapping_int.h"
#include "base/rcu.h"

#include <sched.h>
#include <string.h>

/* ---- mapping ids (owner words name a mapping by id) ----------------------- */

#define ID_CHUNK_SHIFT 16
#define ID_CHUNK (1u << ID_CHUNK_SHIFT)
#define ID_MAX ((1u << DC__MAPPING_ID_BITS) - 1)

static _Atomic(_Atomic(struct dc_mapping *) *) id_dir[(ID_MAX + 1) >> ID_CHUNK_SHIFT];
static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t id_hint = 1;

struct dc_mapping *dc__mapping_by_id(uint32_t id)
{
	_Atomic(struct dc_mapping *) *c;

	if (!id || id > ID_MAX)
		return NULL;
	c = ld_acquire(&id_dir[id >> ID_CHUNK_SHIFT]);
	return c ? ld_acquire(&c[id & (ID_CHUNK - 1)]) : NULL;
}

static int id_alloc(struct dc_mapping *m)
{
	int ret = -ENOSPC;

	pthread_mutex_lock(&id_lock);
	for (uint32_t n = 0; n < ID_MAX; n++) {
		uint32_t id = (id_hint + n - 1) % ID_MAX + 1;
		_Atomic(struct dc_mapping *) *c = ld_relaxed(&id_dir[id >> ID_CHUNK_SHIFT]);

		if (!c) {
			c = dc__calloc(ID_CHUNK, sizeof(*c));
			if (!c) {
				ret = -ENOMEM;
				break;
			}
			st_release(&id_dir[id >> ID_CHUNK_SHIFT], c);
		}
		if (!ld_relaxed(&c[id & (ID_CHUNK - 1)])) {
			m->id = id;
			st_release(&c[id & (ID_CHUNK - 1)], m);
			id_hint = id + 1;
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&id_lock);
	return ret;
}

static void id_free(struct dc_mapping *m)
{
	pthread_mutex_lock(&id_lock);
	st_release(&ld_relaxed(&id_dir[m->id >> ID_CHUNK_SHIFT])[m->id & (ID_CHUNK - 1)], NULL);
	pthread_mutex_unlock(&id_lock);
}

DC_API int dc_mapping_create(struct dc_region *r, const struct dc_mapping_ops *ops, void *priv,
			     struct dc_mapping **out)
{
	struct dc_mapping *m;
	int ret;

	if (!r || !out)
		return dc__fail(-EINVAL, "mapping_create: NULL region or out pointer");
	if (r->type == DC_REGION_LIMITED)
		return dc__fail(-EOPNOTSUPP, "mapping_create: region %s is limited", r->spec);
	if (dc__region_hold(r))
		return dc__fail(-ENXIO, "mapping_create: region %s is being removed", r->spec);
	m = dc__calloc(1, sizeof(*m));
	if (!m) {
		ret = dc__fail(-ENOMEM, "out of memory");
		goto unhold;
	}
	m->ix = dc_index_create();
	if (!m->ix) {
		ret = dc__fail(-ENOMEM, "out of memory");
		goto free_m;
	}
	m->region = r;
	m->ops = ops;
	m->priv = priv;
	ret = id_alloc(m);
	if (ret) {
		dc_index_destroy(m->ix);
		ret = dc__fail(ret, "mapping_create: %s", ret == -ENOSPC ? "too many mappings"
									 : "out of memory");
		goto free_m;
	}
	*out = m;
	return 0;
free_m:
	free(m);
unhold:
	dc__region_unhold(r);
	return ret;
}

static bool mapping_idle(void *arg)
{
	return atomic_load(&((struct dc_mapping *)arg)->users) == 0;
}

DC_API int dc_mapping_destroy(struct dc_mapping *m)
{
	struct dc_region *r;

	if (!m)
		return dc__fail(-EINVAL, "mapping_destroy: NULL mapping");
	if (dc_index_count(m->ix))
		return dc__fail(-EBUSY, "mapping_destroy: %llu entries remain",
				(unsigned long long)dc_index_count(m->ix));
	r = m->region;
	id_free(m);
	dc__synchronize_rcu(); /* every lock_folio that found m counted itself */
	dc_wait_var(&m->users, mapping_idle, m, NULL);
	dc_index_destroy(m->ix);
	free(m);
	dc__region_unhold(r);
	return 0;
}

DC_API struct dc_region *dc_mapping_region(const struct dc_mapping *m) { return m->region; }
DC_API void *dc_mapping_priv(const struct dc_mapping *m) { return m->priv; }
DC_API uint64_t dc_mapping_count(const struct dc_mapping *m) { return dc_index_count(m->ix); }
DC_API uint64_t dc_mapping_violations(const struct dc_mapping *m)
{
	return ld_relaxed((_Atomic uint64_t *)&m->violations);
}

DC_API dc_entry_t dc_mapping_lookup(struct dc_mapping *m, uint64_t index)
{
	return dc_index_load(m->ix, index);
}

DC_API bool dc_mapping_get_mark(struct dc_mapping *m, uint64_t index, unsigned mark)
{
	return dc_index_get_mark(m->ix, index, mark);
}

int dc__check_range(uint64_t first, uint64_t *last)
{
	if (first > *last || first > DC_MAPPING_INDEX_MAX)
		return dc__fail(-EINVAL, "range [%llu, %llu] is empty or beyond the index limit",
				(unsigned long long)first, (unsigned long long)*last);
	if (*last > DC_MAPPING_INDEX_MAX)
		*last = DC_MAPPING_INDEX_MAX;
	return 0;
}

DC_API int dc_mapping_find(struct dc_mapping *m, uint64_t start, uint64_t last,
			   struct dc_entry_info *info)
{
	int ret = dc__check_range(start, &last);

	if (ret)
		return ret;
	if (!info)
		return dc__fail(-EINVAL, "mapping_find: NULL info");
	info->entry = dc_index_find(m->ix, start, last, &info->first, &info->order);
	return info->entry ? 1 : 0;
}

/* ---- entry helpers ----------------------------------------------------------- */

static inline dc_entry_t order_bits(unsigned order)
{
	return order == 18 ? DC_ENTRY_PUD : order == 9 ? DC_ENTRY_PMD : 0;
}

void dc__entry_store(struct dc_mapping *m, uint64_t first, dc_entry_t e)
{
	int ret = dc_index_store_locked(m->ix, first, dc_entry_order(e), e);

	if (ret)
		DC_BUG("replacing entry %#llx at %llu failed: %d", (unsigned long long)e,
		       (unsigned long long)first, ret);
}

int dc__get_unlocked_entry_slow(struct dc_mapping *m, uint64_t index,
				const struct dc_wait_opts *opts, dc_entry_t *e, uint64_t *first)
{
	for (;;) {
		uint64_t f = index;
		unsigned o;
		dc_entry_t v = dc_index_load_entry(m->ix, index, &f, &o);
		int ret;

		if (!v || !dc_entry_is_locked(v)) {
			*first = f;
			*e = v;
			return 0;
		}
		ret = dc__entry_wait(m, f, opts);
		if (ret)
			return dc__fail(ret, "the entry at %llu stayed locked: %s",
					(unsigned long long)f, ret == -EINTR ? "cancelled"
									    : "deadline passed");
	}
}

void dc__put_unlocked_entry(struct dc_mapping *m, uint64_t first, dc_entry_t e)
{
	if (e)
		dc__entry_wake(m, first, DC__WAKE_NEXT);
}

int dc__put_chunk(struct dc_mapping *m, struct dc_folio *const *fs, const bool *shared,
		  unsigned n)
{
	struct dc_folio *idle[DC__CHUNK], *held[DC__CHUNK];
	unsigned nh, ni = dc__folios_put_defer(fs, n, idle, held, &nh);

	/* The transitions end before any ->page_free runs (one may test the
	 * folio busy); the mapping holds the region, so the folios stay. */
	for (unsigned k = 0; shared && k < n; k++)
		if (shared[k])
			dc__folio_unmap_end(fs[k]);
	dc__folios_idle(m->region, idle, ni);
	/* Only the folios still held after the put can be busy (held[] keeps
	 * the order of fs[]). */
	for (unsigned k = 0, h = 0; h < nh; k++) {
		if (fs[k] != held[h])
			continue;
		if (dc__folio_busy(held[h]))
			return (int)k;
		h++;
	}
	return -1;
}

struct dc_folio *dc__entry_unmap_put(struct dc_mapping *m, uint64_t first, dc_entry_t e,
				     bool uncounted)
{
	struct dc_folio *fs[DC__CHUNK], *f, *busy = NULL;
	bool shared[DC__CHUNK];
	unsigned n = 0;
	int b;

	for_each_entry_folio(m, e, first, pg, at, f) {
		shared[n] = !uncounted && dc__folio_unmap_begin(f, dc__owner_word(m, at));
		fs[n++] = f;
		if (n == DC__CHUNK) {
			if ((b = dc__put_chunk(m, fs, shared, n)) >= 0 && !busy)
				busy = fs[b];
			n = 0;
		}
	}
	if (n && (b = dc__put_chunk(m, fs, shared, n)) >= 0 && !busy)
		busy = fs[b];
	return busy;
}

void dc__entry_disassoc(struct dc_mapping *m, uint64_t first, dc_entry_t e, bool locked)
{
	void (*let_go)(struct dc_folio *, uint64_t) =
		locked ? dc__folio_disassoc_locked : dc__folio_disassoc;
	struct dc_folio *f;

	if (dc_entry_order(e) == m->region->order) { /* one folio: the common case */
		if ((f = dc__folio_lookup(m->region, dc_entry_pgoff(e))))
			let_go(f, dc__owner_word(m, first));
		return;
	}
	for_each_entry_folio(m, e, first, pg, at, f)
		let_go(f, dc__owner_word(m, at));
}

void dc__entry_revoke(struct dc_mapping *m, uint64_t first, dc_entry_t e)
{
	if (m->ops && m->ops->revoke) {
		dc__cb_enter();
		m->ops->revoke(m, first, dc__entry_pages(e), m->priv);
		dc__cb_exit();
	}
}

/* ->revoke for entries @it[0..n) (in index order): one call per contiguous run. */
void dc__entries_revoke(struct dc_mapping *m, const struct dc_index_item *it, unsigned n)
{
	if (!m->ops || !m->ops->revoke)
		return;
	for (unsigned k = 0; k < n;) {
		uint64_t first = it[k].first, end = first + dc__entry_pages(it[k].value);

		while (++k < n && it[k].first == end)
			end += dc__entry_pages(it[k].value);
		dc__cb_enter();
		m->ops->revoke(m, first, end - first, m->priv);
		dc__cb_exit();
	}
}

bool dc__entry_only_ours(struct dc_mapping *m, dc_entry_t e)
{
	struct dc_folio *f;
	uint64_t seen = 0;

	for_each_entry_folio(m, e, 0, pg, at, f) {
		if (dc_folio_refcount(f) != 1 || dc__own_shared(dc__folio_owner_word(f)))
			return false;
		seen++;
	}
	return seen == dc__entry_pages(e) >> m->region->order; /* every folio exists */
}

struct dc_folio *dc__entry_busy_folio(struct dc_mapping *m, dc_entry_t e)
{
	struct dc_folio *f;

	if (!dc_entry_has_pages(e))
		return NULL;
	if (dc_entry_order(e) == m->region->order) { /* one folio: the common case */
		f = dc__folio_lookup(m->region, dc_entry_pgoff(e));
		return f && dc__folio_busy(f) ? f : NULL;
	}
	for_each_entry_folio(m, e, 0, pg, at, f)
		if (dc__folio_busy(f))
			return f;
	return NULL;
}

/* ---- handles ----------------------------------------------------------------- */

#define HANDLE_HELD 0x4c4f434bu /* "LOCK": a held handle, not a stray nonzero */

static void handle_fill(struct dc_entry_handle *h, struct dc_mapping *m, uint64_t first,
			dc_entry_t e)
{
	h->mapping = m;
	h->index = first;
	h->entry = e;
	h->order = dc_entry_order(e);
	h->held = HANDLE_HELD;
}

static void handle_clear(struct dc_entry_handle *h)
{
	*h = (struct dc_entry_handle){ 0 };
}

/*
 * Whether @h holds the lock of the entry it names: the index has exactly
 * that locked value at exactly that range.  Under the tree lock, or
 * lockless by the entry lock's holder (nobody else changes a locked entry;
 * for a forged handle the snapshot is as good an answer as any).
 */
static bool handle_matches(const struct dc_entry_handle *h)
{
	/*
	 * An entry's value carries its order, and the index stores it at that
	 * order (dc_mapping_check() verifies it): the same locked value at the
	 * handle's aligned first index is the entry the handle names.
	 */
	if (h->held != HANDLE_HELD || !h->mapping || dc_entry_order(h->entry) != h->order ||
	    !dc_entry_is_locked(h->entry) || (h->index & (dc__entry_pages(h->entry) - 1)))
		return false;
	return dc_index_load(h->mapping->ix, h->index) == h->entry;
}

static int handle_invalid(const struct dc_entry_handle *h, const char *op)
{
	if (!h)
		return dc__fail(-EINVAL, "%s: NULL handle", op);
	if (h->held != HANDLE_HELD)
		return dc__fail(-EINVAL, "%s: the handle holds no entry lock (grab failed, "
				"or it was unlocked already)", op);
	return dc__fail(-EINVAL, "%s: the handle does not match the locked entry at %llu "
			"(order %u)", op, (unsigned long long)h->index, h->order);
}

/* ---- grab -------------------------------------------------------------------- */

/* A user of the mapping (a sleeping grab, a lock_folio) lets go of it. */
static void mapping_unuse(struct dc_mapping *m)
{
	if (atomic_fetch_sub(&m->users, 1) == 1)
		dc_wake_var(&m->users);
}


DC_API int dc_mapping_grab(struct dc_mapping *m, uint64_t index, unsigned order,
			   const struct dc_wait_opts *opts, struct dc_entry_handle *h)
{
	uint64_t size, aligned, first;
	bool slept = false;
	dc_entry_t e;
	int ret;

	if (!h)
		return dc__fail(-EINVAL, "grab: NULL handle");
	handle_clear(h);
	if (!m)
		return dc__fail(-EINVAL, "grab: NULL mapping");
#if DC_REGRESS_BUG == 10 /* the old bug: a shift by an order not yet checked */
	size = UINT64_C(1) << order;
#endif
	if (order != 0 && order != 9 && order != 18)
		return dc__fail(-EINVAL, "grab: order %u (use 0, 9 or 18)", order);
	if (index > DC_MAPPING_INDEX_MAX)
		return dc__fail(-EINVAL, "grab: index %llu beyond 2^40",
				(unsigned long long)index);
	size = UINT64_C(1) << order;
	aligned = index & ~(size - 1);
	dc_index_lock(m->ix);
retry:
	if (ld_relaxed(&m->exiting) && !(DC_REGRESS_BUG == 18 && slept)) {
		if (slept) { /* we were woken for an entry we will not lock: pass it on */
			e = dc_index_load_entry(m->ix, index, &first, NULL);
			dc__put_unlocked_entry(m, first, e);
		}
		dc_index_unlock(m->ix);
		ret = dc__fail(-ESHUTDOWN, "grab: the mapping is exiting");
		goto out;
	}
	e = dc_index_load_entry(m->ix, index, &first, NULL);
	if (unlikely(e && dc_entry_is_locked(e))) {
		/*
		 * Sleep for it.  While asleep we count as a user of the mapping,
		 * so that truncate_final() + destroy() cannot free it under us,
		 * and we look at exiting again once awake.
		 */
		if (!slept) {
			atomic_fetch_add(&m->users, 1);
			slept = true;
		}
		ret = dc__entry_wait(m, first, opts);
		if (ret) {
			dc_index_unlock(m->ix);
			ret = dc__fail(ret, "grab: the entry at %llu stayed locked: %s",
				       (unsigned long long)first,
				       ret == -EINTR ? "cancelled" : "deadline passed");
			goto out;
		}
		goto retry;
	}
	if (e) {
		unsigned eo = dc_entry_order(e);

		if (eo < order) { /* smaller entries here: the caller falls back */
			dc__put_unlocked_entry(m, first, e);
			dc_index_unlock(m->ix);
			ret = DC_GRAB_FALLBACK;
			goto out;
		}
		if (eo > order && (e & (DC_ENTRY_ZERO | DC_ENTRY_EMPTY))) {
			/* Downgrade: remove the big placeholder, make small entries. */
			dc__entry_store(m, first, e | DC_ENTRY_LOCKED);
			dc_index_unlock(m->ix);
			if (dc_entry_is_zero(e))
				dc__entry_revoke(m, first, e);
			dc_index_lock(m->ix);
			dc_index_erase_locked(m->ix, first);
			dc__entry_wake(m, first, DC__WAKE_ALL);
			goto retry;
		}
		e |= DC_ENTRY_LOCKED;
		dc__entry_store(m, first, e);
		dc_index_unlock(m->ix);
		handle_fill(h, m, first, e);
		ret = 0;
		goto out;
	}
	if (order) {
		uint64_t f;
		unsigned o;

		if (dc_index_find(m->ix, aligned, aligned + size - 1, &f, &o)) {
			dc_index_unlock(m->ix);
			ret = DC_GRAB_FALLBACK;
			goto out;
		}
	}
	e = DC_ENTRY_VALID | DC_ENTRY_EMPTY | DC_ENTRY_LOCKED | order_bits(order);
	ret = dc_index_store_locked(m->ix, aligned, order, e);
	dc_index_unlock(m->ix);
	if (ret)
		ret = dc__fail(ret, "grab: cannot store an entry at %llu: %s",
			       (unsigned long long)aligned, dc_strerror(ret));
	else
		handle_fill(h, m, aligned, e);
out:
	if (unlikely(slept))
		mapping_unuse(m); /* the last touch of m */
	return ret;
}

/* ---- insert ------------------------------------------------------------------ */

/*
 * The folios an insert takes, and how, so that a failure gives back exactly
 * those: a new claim (0 -> owner, mapped), a re-claim by the zapped entry
 * that already names the folio, a new CoW sharer, or a sharer that becomes
 * live again.
 */
enum take_kind { CLAIM_NEW, CLAIM_REMAP, SHARE_NEW, SHARE_REMAP };

struct taken {
	struct dc_folio *f;
	bool requested;
	bool claimed;   /* false: only the reference is held (the claim failed) */
	enum take_kind kind;
};

/*
 * Begin a new sharer's transition on @f.  If the folio has an unshared
 * owner, its word is converted under the owner's tree lock (the owner's zap
 * and delete write an unshared word with plain stores under that lock).
 * Under the region's read side: the owner's mapping, found by id, cannot be
 * freed meanwhile (destroy waits for a grace period after freeing the id).
 */
static int share_begin_new(struct dc_folio *f)
{
	for (;;) {
		int ret = dc__folio_share_begin(f, true, false);
		struct dc_mapping *om;
		uint64_t w;

		if (ret != -EAGAIN)
			return ret;
		w = dc__folio_owner_word(f) & ~DC__OWN_MAPPED;
		if (!w || dc__own_shared(w))
			continue; /* it changed meanwhile */
		om = dc__mapping_by_id((uint32_t)(w >> DC__OWNER_INDEX_BITS));
		if (!om) { /* its entry is being deleted right now */
			sched_yield();
			continue;
		}
		dc_index_lock(om->ix);
		ret = (dc__folio_owner_word(f) & ~DC__OWN_MAPPED) == w
			      ? dc__folio_share_begin(f, true, true)
			      : -EAGAIN; /* another owner now: look again */
		dc_index_unlock(om->ix);
		if (ret != -EAGAIN)
			return ret;
	}
}

/*
 * One folio of an insert: reference and claim (see enum take_kind).  Under
 * the region's read lock, so it never drops a reference (that may be a last
 * put, whose ->page_free must run outside): on a failed claim t->f is left
 * referenced and unclaimed for untake_one().
 * Return: 0; an error with t->f NULL (nothing held) or set (a reference).
 */
static int take_one(struct dc_mapping *m, uint64_t pg, uint64_t owner, bool cow, bool same,
		    struct taken *t)
{
	struct dc_region *r = m->region;
	struct dc_folio *f = NULL;
	int ret;

	t->f = NULL;
	t->claimed = false;
	if (same || cow) {
		f = dc__folio_record(r, pg);
		if (same)
			t->kind = dc__own_shared(dc__folio_owner_word(f)) ? SHARE_REMAP : CLAIM_REMAP;
		else
			t->kind = SHARE_NEW;
	} else {
		t->kind = CLAIM_NEW;
	}
	if (t->kind == SHARE_NEW || t->kind == SHARE_REMAP) {
		/* A sharer transition: in flight from before its reference is taken. */
		ret = t->kind == SHARE_NEW ? share_begin_new(f) : dc__folio_share_begin(f, false, false);
		if (ret)
			return ret;
		ret = dc__folio_take(r, pg, &t->f, &t->requested);
		if (ret) {
			dc__folio_share_abort(f, t->kind == SHARE_NEW);
			if (ret != -EIO || DC_REGRESS_BUG == 17) /* -EIO: referenced, given back later */
				t->f = NULL;
			return ret;
		}
		dc__folio_share_commit(f);
		t->claimed = true;
		return 0;
	}
	ret = dc__folio_take(r, pg, &t->f, &t->requested);
	if (ret) {
		if (ret != -EIO || DC_REGRESS_BUG == 17)
			t->f = NULL;
		return ret;
	}
	ret = dc__folio_claim(t->f, owner);
	if (ret && t->kind == CLAIM_REMAP && dc__own_shared(dc__folio_owner_word(t->f))) {
		/* Another file reflinked the block since our entry was zapped:
		 * we are one of its sharers now.  (Our reference came first: a
		 * busy test may see it as transient until the commit.) */
		t->kind = SHARE_REMAP;
		ret = dc__folio_share_begin(t->f, false, false);
		if (!ret)
			dc__folio_share_commit(t->f);
	}
	t->claimed = !ret;
	return ret;
}

/*
 * Undo take_one(): no trace of the attempt remains.  Outside the read lock;
 * a sharer's transition ends before the idle transition (->page_free) of
 * the folio it gives back runs.
 */
static void untake_one(struct dc_region *r, uint64_t owner, struct taken *t)
{
	struct dc_folio *idle;
	bool shared, owed;

	if (!t->f)
		return;
	if (!t->claimed) {
		dc__folio_untake(t->f, t->requested);
		return;
	}
	if (t->kind == CLAIM_NEW && dc__folio_unclaim(t->f, owner)) {
		dc__folio_untake(t->f, t->requested);
		return;
	}
	/* A sharer (or a claim another file's reflink made one), or a re-claim. */
	shared = dc__folio_unmap_begin(t->f, owner);
	owed = dc__folio_untake_defer(t->f, t->requested, &idle);
	if (shared)
		dc__folio_unmap_end(t->f);
	if (t->kind == SHARE_NEW || t->kind == CLAIM_NEW)
		dc__folio_disassoc(t->f, owner);
	if (owed)
		dc__folios_idle(r, &idle, 1);
}

static void untake_all(struct dc_mapping *m, uint64_t first, struct taken *t, uint64_t n)
{
	uint64_t fpages = UINT64_C(1) << m->region->order;

	for (uint64_t k = 0; k < n; k++)
		untake_one(m->region, dc__owner_word(m, first + k * fpages), &t[k]);
}

/*
 * Take a reference on each folio of [pgoff, pgoff + size) and claim it
 * (@same: the zapped entry already names these pages).  Under the region's
 * read lock, which the caller holds.
 * Return: 0; an error, with *@n entries of @t to give back (untake_all(),
 * after the read lock).
 */
static int take_all(struct dc_mapping *m, uint64_t first, uint64_t pgoff, uint64_t size,
		    unsigned flags, bool same, struct taken *t, uint64_t *n)
{
	uint64_t fpages = UINT64_C(1) << m->region->order;
	int ret = 0;

	*n = 0;
	for (uint64_t off = 0; off < size; off += fpages) {
		ret = take_one(m, pgoff + off, dc__owner_word(m, first + off),
			       flags & DC_INSERT_COW, same, &t[*n]);
		(*n)++; /* a failed one may hold a reference too */
		if (ret)
			break;
	}
	return ret;
}

#define INSERT_FLAGS (DC_INSERT_DIRTY | DC_INSERT_COW | DC_INSERT_ZERO | DC_INSERT_UNSHARE)
#define TAKEN_ON_STACK 64

/*
 * The replaced entry @old (pages other than the new ones) lets go: if live,
 * it is zapped first, as dc_mapping_zap() does (ZAP published, fence, then
 * revoke and the puts), so no lockless pin can land on it afterwards; then
 * its folios are let go only if nothing else holds them (@unshare: the
 * owner's CoW step, which keeps the old block until it is idle).
 * Return: 0; -EBUSY (still pinned: the entry stays zapped, h->entry says so).
 */
static int replace_old(struct dc_entry_handle *h, dc_entry_t old, bool unshare)
{
	struct dc_mapping *m = h->mapping;

	if (dc_entry_is_live(old)) {
		dc_entry_t z = old | DC_ENTRY_ZAP | DC_ENTRY_LOCKED;

		if (DC_REGRESS_BUG != 1) { /* the old bug: revoke with the entry live */
			dc_index_lock(m->ix);
			dc__entry_store(m, h->index, z);
			dc_index_unlock(m->ix);
			h->entry = z;
		}
		/* Pairs with dc_mapping_get_folio(): "take ref, re-read entry". */
		dc__smp_mb();
		dc__entry_revoke(m, h->index, old);
		dc__entry_unmap_put(m, h->index, old, false);
	}
	if (DC_REGRESS_BUG != 1 && !unshare && dc__entry_busy_folio(m, old))
		return dc__fail(-EBUSY, "insert: the pages replaced at %llu are still pinned: "
				"the entry is left zapped (break layouts, then insert again)",
				(unsigned long long)h->index);
	dc__entry_disassoc(m, h->index, old, false);
	return 0;
}

DC_API int dc_mapping_insert(struct dc_entry_handle *h, uint64_t pgoff, unsigned flags)
{
	struct taken stack[TAKEN_ON_STACK], *t = stack;
	struct dc_mapping *m;
	struct dc_region *r;
	uint64_t size, nf;
	dc_entry_t old, ne;
	bool same;
	int ret;

	if (!h || h->held != HANDLE_HELD || !h->mapping)
		return handle_invalid(h, "insert");
	m = h->mapping;
	r = m->region;
	if (!handle_matches(h)) /* lockless: we hold the entry lock, or it is bad */
		return handle_invalid(h, "insert");
	if (flags & ~INSERT_FLAGS)
		return dc__fail(-EINVAL, "insert: unknown flags %#x", flags);
	old = h->entry;
	size = UINT64_C(1) << h->order;
	if (flags & DC_INSERT_ZERO) {
		if (dc_entry_has_pages(old))
			return dc__fail(-EEXIST, "insert: zero page over a mapped entry at %llu",
					(unsigned long long)h->index);
		ne = DC_ENTRY_VALID | DC_ENTRY_ZERO | DC_ENTRY_LOCKED | order_bits(h->order);
		dc_index_lock(m->ix);
		dc__entry_store(m, h->index, ne);
		dc_index_unlock(m->ix);
		h->entry = ne;
		return 0;
	}
	if (pgoff > DC_ENTRY_PGOFF_MAX || (pgoff & (size - 1)) || pgoff >= r->npages ||
	    size > r->npages - pgoff || r->order > h->order)
		return dc__fail(-EINVAL, "insert: device pages [%llu, +%llu) are outside %s, "
				"misaligned or smaller than a folio", (unsigned long long)pgoff,
				(unsigned long long)size, r->spec);
	same = dc_entry_has_pages(old) && dc_entry_pgoff(old) == pgoff;
	if (!(same && dc_entry_is_live(old))) {
		nf = size >> r->order;
		if (nf > TAKEN_ON_STACK) {
			t = dc__malloc(nf * sizeof(*t));
			if (!t)
				return dc__fail(-ENOMEM, "out of memory");
		}
		uint64_t ntaken = 0;

		/* Alive check and references in one read-side section (removal waits). */
		dc__rcu_read_lock(); /* the region's read lock */
		ret = !ld_acquire(&r->dead) ? take_all(m, h->index, pgoff, size, flags, same, t,
						    &ntaken)
					 : dc__fail(-ENXIO, "insert: region %s is being removed",
						    r->spec);
		dc__rcu_read_unlock();
		if (ret)
			untake_all(m, h->index, t, ntaken); /* puts: outside the read side */
		if (!ret && dc_entry_has_pages(old) && !same) {
			ret = replace_old(h, old, flags & DC_INSERT_UNSHARE);
			if (ret)
				untake_all(m, h->index, t, nf);
		}
		if (t != stack)
			free(t);
		if (ret)
			return ret;
	}
	ne = DC_ENTRY_VALID | DC_ENTRY_LOCKED | order_bits(h->order) |
	     (pgoff << DC_ENTRY_PGOFF_SHIFT);
	dc_index_lock(m->ix);
	dc__entry_store(m, h->index, ne);
	if (flags & DC_INSERT_DIRTY)
		dc_index_set_mark_locked(m->ix, h->index, DC_MARK_DIRTY);
	dc_index_unlock(m->ix);
	h->entry = ne;
	if (dc_entry_is_zero(old)) /* clients still map the zero page */
		dc__entry_revoke(m, h->index, old);
	return 0;
}

DC_API int dc_mapping_unlock(struct dc_entry_handle *h)
{
	struct dc_mapping *m;

	if (!h || !h->mapping || h->held != HANDLE_HELD)
		return handle_invalid(h, "unlock");
	m = h->mapping;
	dc_index_lock(m->ix);
	if (!handle_matches(h)) {
		dc_index_unlock(m->ix);
		if (DC_REGRESS_BUG == 9) /* the old bug: bad input was a BUG */
			DC_BUG("unlock: no locked entry matches");
		return handle_invalid(h, "unlock");
	}
	h->entry &= ~DC_ENTRY_LOCKED;
	dc__entry_store(m, h->index, h->entry);
	dc_index_unlock(m->ix);
	dc__entry_wake(m, h->index, DC__WAKE_NEXT);
	h->held = 0; /* the rest says what it was */
	return 0;
}

/* ---- the pin fast path --------------------------------------------------------- */

/* Order "reference taken" before "entry re-read" (pairs with zap's fence). */
#if defined(__x86_64__) || defined(__i386__)
#define smp_mb__after_atomic() __asm__ volatile("" ::: "memory") /* locked RMW = full barrier */
#else
#define smp_mb__after_atomic() atomic_thread_fence(memory_order_seq_cst)
#endif

DC_API int dc_mapping_get_folio(struct dc_mapping *m, uint64_t index, bool pin,
				struct dc_folio **out)
{
	dc_entry_t e, again;
	struct dc_folio *f;
	uint64_t mask;
	int ret;

	dc__rcu_read_lock();
	e = dc_index_load(m->ix, index);
	if (unlikely(!dc_entry_is_live(e)))
		goto refault;
	mask = dc__entry_pages(e) - 1;
	f = dc_folio_lookup(m->region, dc_entry_pgoff(e) + (index & mask));
	if (unlikely(!f))
		goto refault;
	ret = pin ? dc_folio_pin(f) : dc_folio_tryget(f);
	if (unlikely(ret == -EOVERFLOW) && DC_REGRESS_BUG != 33) {
		/* At DC_FOLIO_REF_MAX: a fault would not help (the entry is live). */
		dc__rcu_read_unlock();
		return dc__fail(-EOVERFLOW, "get_folio: the folio of page %llu has all the "
				"references it can hold", (unsigned long long)index);
	}
	if (unlikely(ret))
		goto refault;
	smp_mb__after_atomic();
	again = dc_index_load(m->ix, index);
#if DC_REGRESS_BUG == 13 /* the old bug: the back-out put inside the read side */
	if ((again | DC_ENTRY_LOCKED) != (e | DC_ENTRY_LOCKED)) {
		pin ? dc_folio_unpin(f) : dc_folio_put(f);
		goto refault;
	}
#endif
	dc__rcu_read_unlock();
	if (unlikely((again | DC_ENTRY_LOCKED) != (e | DC_ENTRY_LOCKED))) {
		/*
		 * Zapped or replaced meanwhile: the zap may not have seen us.
		 * Our reference keeps the folio (and its region) there; this may
		 * be the last put, so it runs outside the read-side section.
		 */
		if (pin)
			dc_folio_unpin(f);
		else
			dc_folio_put(f);
		return dc__fail_str(-EAGAIN, "get_folio: nothing is mapped there now (fault "
				    "it in)");
	}
	*out = f;
	return 0;
refault:
	dc__rcu_read_unlock();
	return dc__fail_str(-EAGAIN, "get_folio: nothing is mapped there now (fault it in)");
}

#define GET_BATCH 64 /* entries per gather of dc_mapping_get_folios() */

#ifdef DC_FAULT_INJECT
/* Test builds: run between the gather and the pins (widens the race window). */
void (*dc__test_gup_hook)(struct dc_mapping *m);
#endif

/*
 * Pin (or reference) the pages of file pages [start, last] that the entries
 * in @it (gathered under the caller's read-side section) map, from @start
 * on, while they are live and contiguous.  Return the first page not
 * taken; *@used is the number of items whose pages were (partly) taken.
 */
static uint64_t take_gathered(struct dc_mapping *m, const struct dc_index_item *it, unsigned n,
			      uint64_t start, uint64_t last, unsigned flags, struct dc_folio **out,
			      unsigned *used, int *err)
{
	bool pin = flags & DC_GET_PIN;
	uint64_t p = start;
	unsigned k;

	DC_TEST_HOOK(dc__test_gup_hook, m);
	for (k = 0; k < n; k++) {
		dc_entry_t e = it[k].value;
		uint64_t end = it[k].first + dc__entry_pages(e);

		if (it[k].first > p || !dc_entry_is_live(e) ||
		    ((flags & DC_GET_UNLOCKED) && (e & DC_ENTRY_LOCKED)))
			break;
		for (; p < end && p <= last; p++) {
			struct dc_folio *f = dc_folio_lookup(m->region,
							     dc_entry_pgoff(e) + (p - it[k].first));
			int ret = f ? (pin ? dc_folio_pin(f) : dc_folio_tryget(f)) : -EAGAIN;

			if (unlikely(ret)) {
				*err = ret; /* -EAGAIN: idle (zapped meanwhile); -EOVERFLOW */
				*used = k + (p > it[k].first && p > start);
				return p;
			}
			*out++ = f;
		}
	}
	*used = k;
	return p;
}

/*
 * The batched pin fast path: gather up to GET_BATCH entries in one walk,
 * pin their pages, then (after the pins, ordered as in get_folio) gather
 * the same range again and keep only the pages whose entry is unchanged:
 * for each entry, the argument of dc_mapping_get_folio() (a zap that
 * stored ZAP before our re-read sees our pin as busy, or we back out).
 */
DC_API int dc_mapping_get_folios(struct dc_mapping *m, uint64_t index, uint64_t nr, bool pin,
				 struct dc_folio **out)
{
	return dc_mapping_get_folios_flags(m, index, nr, pin ? DC_GET_PIN : 0, out);
}

DC_API int dc_mapping_get_folios_flags(struct dc_mapping *m, uint64_t index, uint64_t nr,
				       unsigned flags, struct dc_folio **out)
{
	dc_entry_t lk = flags & DC_GET_UNLOCKED ? 0 : DC_ENTRY_LOCKED; /* a lock that does not count */
	bool pin = flags & DC_GET_PIN;
	uint64_t done = 0, last;

	if (flags & ~(DC_GET_PIN | DC_GET_UNLOCKED))
		return dc__fail(-EINVAL, "get_folios: unknown flags %#x", flags);
	if (!out || !nr || index > DC_MAPPING_INDEX_MAX || nr > DC_MAPPING_INDEX_MAX + 1 - index ||
	    nr > INT32_MAX)
		return dc__fail(-EINVAL, "get_folios: range [%llu, +%llu) is empty, too long or "
				"beyond the index limit, or out is NULL",
				(unsigned long long)index, (unsigned long long)nr);
	last = index + nr - 1;
	while (done < nr) {
		struct dc_index_item it[GET_BATCH], again[GET_BATCH];
		uint64_t start = index + done, p, good;
		unsigned n, used, n2, k;
		int err = 0;

		dc__rcu_read_lock();
		n = dc_index_gather(m->ix, start, last, it, GET_BATCH);
		p = take_gathered(m, it, n, start, last, flags, out + done, &used, &err);
		if (p == start) {
			dc__rcu_read_unlock();
			if (err == -EOVERFLOW && !done && DC_REGRESS_BUG != 23) /* bug 23: a fault would not help: the pin spun */
				return dc__fail(-EOVERFLOW, "get_folios: the folio of page %llu has "
						"%s references", (unsigned long long)start,
						"DC_FOLIO_REF_MAX");
			break;
		}
		smp_mb__after_atomic();
		n2 = dc_index_gather(m->ix, start, p - 1, again, used);
		dc__rcu_read_unlock();
		good = start;
		if (DC_REGRESS_BUG == 22) /* bug 22: pins kept without the re-check */
			good = p;
		for (k = 0; k < used && k < n2 && DC_REGRESS_BUG != 22; k++) {
			uint64_t end = it[k].first + dc__entry_pages(it[k].value);

			if (again[k].first != it[k].first || again[k].order != it[k].order ||
			    (again[k].value | lk) != (it[k].value | lk))
				break;
			good = end < p ? end : p;
		}
		if (good < p) {
			/* Zapped or replaced meanwhile: give back what that entry
			 * and the ones after it gave (outside the read side: a put
			 * may be the last) and stop there. */
			dc_mapping_put_folios(out + (good - index), p - good, pin);
			done = good - index;
			break;
		}
		done = p - index;
		/* Go on only if this batch ran out of entries, not of mapped pages. */
		if (p <= last && (n < GET_BATCH || used < n ||
				  p != it[n - 1].first + dc__entry_pages(it[n - 1].value)))
			break;
	}
	if (!done)
		return dc__fail_str(0, "get_folios: nothing is mapped there now (fault it in)");
	return (int)done;
}

DC_API void dc_mapping_put_folios(struct dc_folio **fs, uint64_t n, bool pin)
{
	for (uint64_t i = 0; i < n; i++) {
		if (pin)
			dc_folio_unpin(fs[i]);
		else
			dc_folio_put(fs[i]);
	}
}

/* ---- lock an entry from a folio (memory failure) ------------------------------ */

DC_API int dc_mapping_lock_folio(struct dc_folio *f, const struct dc_wait_opts *opts,
				 struct dc_entry_handle *h)
{
	struct dc_region *r;
	uint64_t fpg;

	if (!f || !h)
		return dc__fail(-EINVAL, "lock_folio: NULL folio or handle");
	handle_clear(h);
	r = dc_folio_region(f);
	fpg = dc_folio_pgoff(f);
	for (;;) {
		uint64_t w = dc__folio_owner_word(f), owner, index, first = 0;
		struct dc_mapping *m;
		dc_entry_t e = 0;
		int ret = 0;

		if (dc__own_shared(w))
			return dc__fail(-EBUSY, "lock_folio: page %llu is shared by %llu files",
					(unsigned long long)fpg,
					(unsigned long long)dc__own_sharers(w));
		owner = w & DC__OWN_VALUE;
		if (!owner)
			return dc__fail(-ENOENT, "lock_folio: page %llu has no owner",
					(unsigned long long)fpg);
		index = owner & DC_MAPPING_INDEX_MAX;
		/* Pin the mapping: destroy waits for users after its grace period. */
		dc__rcu_read_lock();
		m = dc__mapping_by_id((uint32_t)(owner >> DC__OWNER_INDEX_BITS));
		if (m)
			atomic_fetch_add(&m->users, 1);
		dc__rcu_read_unlock();
		if (!m || m->region != r) {
			if (m)
				mapping_unuse(m);
			return dc__fail(-ENOENT, "lock_folio: page %llu: its mapping is gone",
					(unsigned long long)fpg);
		}
		dc_index_lock(m->ix);
		for (;;) {
			e = dc_index_load_entry(m->ix, index, &first, NULL);
			if ((dc__folio_owner_word(f) & ~DC__OWN_MAPPED) != owner) {
				ret = -EAGAIN; /* reassigned while we looked: start over */
				break;
			}
			if (!dc_entry_has_pages(e) || fpg < dc_entry_pgoff(e) ||
			    fpg >= dc_entry_pgoff(e) + dc__entry_pages(e)) {
				ret = dc__fail(-ENOENT, "lock_folio: page %llu: no entry maps it",
					       (unsigned long long)fpg);
				break;
			}
			if (!dc_entry_is_locked(e))
				break;
			ret = dc__entry_wait(m, first, opts); /* then revalidate everything */
			if (ret) {
				e = 0; /* the wait passed its wake-up on, if it had one */
				ret = dc__fail(ret, "lock_folio: the entry at %llu stayed locked",
					       (unsigned long long)first);
				break;
			}
		}
		if (!ret) {
			dc__entry_store(m, first, e | DC_ENTRY_LOCKED);
			handle_fill(h, m, first, e | DC_ENTRY_LOCKED);
		}
		dc_index_unlock(m->ix);
		if (ret && e && !dc_entry_is_locked(e))
			dc__put_unlocked_entry(m, first, e);
		mapping_unuse(m);
		if (ret != -EAGAIN)
			return ret;
	}
}
