/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mapping.c - mappings and the entry protocol: grab, insert, unlock, the
 * lockless folio lookup (pin fast path), and locking an entry from a folio.
 *
 * An entry's lock is its LOCKED bit, set and cleared under the tree lock
 * (the index's mutex).  Every function here follows the lock order of
 * DESIGN.md: entry lock -> tree lock -> folio atomics, and calls owner
 * callbacks and folio puts (which may run ->page_free) without the tree
 * lock.
 */
#include "mapping/mapping_int.h"
#include "base/rcu.h"

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
	m = dc__calloc(1, sizeof(*m));
	if (!m)
		return dc__fail(-ENOMEM, "out of memory");
	m->ix = dc_index_create();
	if (!m->ix) {
		free(m);
		return dc__fail(-ENOMEM, "out of memory");
	}
	m->region = r;
	m->ops = ops;
	m->priv = priv;
	ret = id_alloc(m);
	if (ret) {
		dc_index_destroy(m->ix);
		free(m);
		return dc__fail(ret, "mapping_create: %s", ret == -ENOSPC ? "too many mappings"
									  : "out of memory");
	}
	*out = m;
	return 0;
}

static bool mapping_idle(void *arg)
{
	return atomic_load(&((struct dc_mapping *)arg)->users) == 0;
}

DC_API int dc_mapping_destroy(struct dc_mapping *m)
{
	if (dc_index_count(m->ix))
		return dc__fail(-EBUSY, "mapping_destroy: %llu entries remain",
				(unsigned long long)dc_index_count(m->ix));
	id_free(m);
	dc__synchronize_rcu(); /* every lock_folio that found m counted itself */
	dc_wait_var(&m->users, mapping_idle, m, NULL);
	dc_index_destroy(m->ix);
	free(m);
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

/* ---- entry helpers ----------------------------------------------------------- */

static inline uint64_t entry_pages(dc_entry_t e)
{
	return UINT64_C(1) << dc_entry_order(e);
}

static inline dc_entry_t order_bits(unsigned order)
{
	return order == 18 ? DC_ENTRY_PUD : order == 9 ? DC_ENTRY_PMD : 0;
}

/* Replace the value of the existing entry at @first (same range): no allocation. */
void dc__entry_store(struct dc_mapping *m, uint64_t first, dc_entry_t e)
{
	int ret = dc_index_store_locked(m->ix, first, dc_entry_order(e), e);

	if (ret)
		DC_BUG("replacing entry %#llx at %llu failed: %d", (unsigned long long)e,
		       (unsigned long long)first, ret);
}

/*
 * The entry covering @index once it is not locked, and its first index.
 * Tree lock held; it is dropped and retaken while waiting.
 */
dc_entry_t dc__get_unlocked_entry(struct dc_mapping *m, uint64_t index, uint64_t *first)
{
	for (;;) {
		uint64_t f = index;
		unsigned o;
		dc_entry_t e = dc_index_load_entry(m->ix, index, &f, &o);

		if (!e || !dc_entry_is_locked(e)) {
			*first = f;
			return e;
		}
		dc__entry_wait(m, f);
	}
}

/* A waiter that did not lock the entry passes the wake-up on. */
static void put_unlocked_entry(struct dc_mapping *m, uint64_t first, dc_entry_t e)
{
	if (e)
		dc__entry_wake(m, first, DC__WAKE_NEXT);
}

/* Folio-sized steps over the device pages of entry @e. */
#define for_each_entry_folio(m, e, pg, f)                                                   \
	for (uint64_t pg = dc_entry_pgoff(e); pg < dc_entry_pgoff(e) + entry_pages(e);        \
	     pg += UINT64_C(1) << (m)->region->order)                                         \
		if (((f) = dc__folio_lookup((m)->region, pg)) != NULL)

/*
 * Drop the mapping's reference on each folio of @e.  No tree lock held.
 * Return: the first folio someone else still holds (busy), or NULL.
 */
struct dc_folio *dc__entry_put_refs(struct dc_mapping *m, dc_entry_t e)
{
	struct dc_folio *fs[64], *f, *busy = NULL, *b;
	unsigned n = 0;

	for_each_entry_folio(m, e, pg, f) {
		fs[n++] = f;
		if (n == ARRAY_SIZE(fs)) {
			b = dc__folios_put(m->region, fs, n);
			busy = busy ? busy : b;
			n = 0;
		}
	}
	b = n ? dc__folios_put(m->region, fs, n) : NULL;
	return busy ? busy : b;
}

/* Undo the association of @e's folios with (m, index), or drop a CoW sharer. */
void dc__entry_disassociate(struct dc_mapping *m, uint64_t index, dc_entry_t e)
{
	struct dc_folio *f;

	(void)index;
	for_each_entry_folio(m, e, pg, f) {
		if (dc__folio_shares(f))
			dc_folio_share_put(f);
		else
			st_release(&f->owner, 0);
	}
}

void dc__entry_revoke(struct dc_mapping *m, uint64_t index, dc_entry_t e)
{
	if (m->ops && m->ops->revoke)
		m->ops->revoke(m, index & ~(entry_pages(e) - 1), entry_pages(e), m->priv);
}

/* Whether nobody but this mapping holds the folios of real entry @e. */
bool dc__entry_only_ours(struct dc_mapping *m, dc_entry_t e)
{
	struct dc_folio *f;
	uint64_t seen = 0;

	for_each_entry_folio(m, e, pg, f) {
		if (dc_folio_refcount(f) != 1 || dc__folio_shares(f))
			return false;
		seen++;
	}
	return seen == entry_pages(e) >> m->region->order; /* every folio exists */
}

/* The first folio of real entry @e that is not idle, or NULL. */
struct dc_folio *dc__entry_busy_folio(struct dc_mapping *m, dc_entry_t e)
{
	struct dc_folio *f;

	if (!dc_entry_is_real(e))
		return NULL;
	for_each_entry_folio(m, e, pg, f)
		if (!dc__folio_idle(f))
			return f;
	return NULL;
}

/* ---- grab -------------------------------------------------------------------- */

DC_API dc_entry_t dc_mapping_grab(struct dc_mapping *m, uint64_t index, unsigned order)
{
	uint64_t size = UINT64_C(1) << order, aligned = index & ~(size - 1), first;
	dc_entry_t e;
	int ret;

	if (order != 0 && order != 9 && order != 18)
		return dc_entry_mkerr(dc__fail(-EINVAL, "grab: order %u (use 0, 9 or 18)", order));
	if (index > DC_MAPPING_INDEX_MAX)
		return dc_entry_mkerr(dc__fail(-EINVAL, "grab: index %llu beyond 2^40",
					       (unsigned long long)index));
	dc_index_lock(m->ix);
retry:
	if (ld_relaxed(&m->exiting)) {
		dc_index_unlock(m->ix);
		return dc_entry_mkerr(dc__fail(-ESHUTDOWN, "grab: the mapping is exiting"));
	}
	e = dc__get_unlocked_entry(m, index, &first);
	if (e) {
		unsigned eo = dc_entry_order(e);

		if (eo < order) { /* smaller entries here: the caller falls back */
			put_unlocked_entry(m, first, e);
			dc_index_unlock(m->ix);
			return DC_ENTRY_FALLBACK;
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
		return e;
	}
	if (order) {
		uint64_t f;
		unsigned o;

		if (dc_index_find(m->ix, aligned, aligned + size - 1, &f, &o)) {
			dc_index_unlock(m->ix);
			return DC_ENTRY_FALLBACK;
		}
	}
	e = DC_ENTRY_VALID | DC_ENTRY_EMPTY | DC_ENTRY_LOCKED | order_bits(order);
	ret = dc_index_store_locked(m->ix, aligned, order, e);
	dc_index_unlock(m->ix);
	if (ret)
		return dc_entry_mkerr(dc__fail(ret, "grab: cannot store an entry at %llu: %s",
					       (unsigned long long)aligned, dc_strerror(ret)));
	return e;
}

/* ---- insert ------------------------------------------------------------------ */

/*
 * Take one reference on the folio at @pg for an entry of (m, index): request
 * it if idle, else take a reference if its use is compatible (CoW sharing, or
 * already ours, or in use by the owner without association).
 */
static int take_folio_ref(struct dc_mapping *m, uint64_t pg, uint64_t owner, bool cow,
			  struct dc_folio **out)
{
	struct dc_region *r = m->region;
	struct dc_folio *f;
	int ret;

	for (;;) {
		f = dc_folio_lookup(r, pg);
		if (f && (ret = dc_folio_tryget(f)) != -EAGAIN) {
			uint64_t o;

			if (ret)
				return ret;
			o = dc_folio_owner(f);
			if (!cow && (dc_folio_shares(f) || (o && o != owner))) {
				dc_folio_put(f);
				return dc__fail(-EBUSY, "insert: device page %llu is in use by "
						"another owner (%#llx)", (unsigned long long)pg,
						(unsigned long long)o);
			}
			break;
		}
		ret = dc_folio_request(r, pg, UINT64_C(1) << r->order, &f);
		if (ret == 0)
			break;
		if (ret != -EBUSY) /* -EBUSY: raced with another user; look again */
			return ret;
	}
	if (dc_folio_poisoned(f)) {
		dc_folio_put(f);
		return dc__fail(-EIO, "insert: device page %llu is poisoned", (unsigned long long)pg);
	}
	*out = f;
	return 0;
}

#define INSERT_FLAGS (DC_INSERT_DIRTY | DC_INSERT_COW | DC_INSERT_ZERO | DC_INSERT_PMD | DC_INSERT_PUD)

DC_API dc_entry_t dc_mapping_insert(struct dc_mapping *m, uint64_t index, dc_entry_t entry,
				    uint64_t pgoff, unsigned flags)
{
	struct dc_region *r = m->region;
	unsigned order = dc_entry_order(entry);
	unsigned want = (flags & DC_INSERT_PUD) ? 18 : (flags & DC_INSERT_PMD) ? 9 : 0;
	uint64_t size = UINT64_C(1) << order, first = index & ~(size - 1);
	uint64_t fpages = UINT64_C(1) << r->order, taken = 0;
	bool cow = flags & DC_INSERT_COW, had_assoc, had_refs;
	dc_entry_t ne;
	int ret = 0;

	if (flags & ~INSERT_FLAGS || ((flags & DC_INSERT_PMD) && (flags & DC_INSERT_PUD)))
		return dc_entry_mkerr(dc__fail(-EINVAL, "insert: unknown flags %#x", flags));
	if (dc_entry_is_err(entry) || !dc_entry_is_locked(entry) ||
	    dc_index_load(m->ix, first) != entry)
		return dc_entry_mkerr(dc__fail(-EINVAL, "insert: entry %#llx at %llu is not the "
					       "locked entry there", (unsigned long long)entry,
					       (unsigned long long)index));
	if (want != order)
		return dc_entry_mkerr(dc__fail(-EINVAL, "insert: flags ask for order %u, the entry "
					       "has order %u", want, order));
	if (flags & DC_INSERT_ZERO) {
		if (dc_entry_is_real(entry))
			return dc_entry_mkerr(dc__fail(-EEXIST, "insert: zero page over a mapped "
						       "entry at %llu", (unsigned long long)first));
		ne = DC_ENTRY_VALID | DC_ENTRY_ZERO | DC_ENTRY_LOCKED | order_bits(order);
		dc_index_lock(m->ix);
		dc__entry_store(m, first, ne);
		dc_index_unlock(m->ix);
		return ne;
	}
	if (pgoff > DC_ENTRY_PGOFF_MAX || (pgoff & (size - 1)) || pgoff >= r->npages ||
	    size > r->npages - pgoff || r->order > order)
		return dc_entry_mkerr(dc__fail(-EINVAL, "insert: device pages [%llu, +%llu) are "
					       "outside %s, misaligned or smaller than a folio",
					       (unsigned long long)pgoff, (unsigned long long)size,
					       r->spec));
	had_assoc = dc_entry_is_real(entry) && dc_entry_pgoff(entry) == pgoff;
	had_refs = had_assoc && !dc_entry_is_zapped(entry);
	if (!had_refs) {
		struct dc_folio *f;

		if (!dc_region_alive(r))
			return dc_entry_mkerr(dc__fail(-ENXIO, "insert: region %s is being removed",
						       r->spec));
		for (taken = 0; taken < size; taken += fpages) {
			ret = take_folio_ref(m, pgoff + taken, dc__owner_word(m, first + taken),
					     cow, &f);
			if (ret)
				break;
		}
		if (ret) { /* nothing changes: give back what was taken */
			for (uint64_t t = 0; t < taken; t += fpages)
				dc_folio_put(dc_folio_lookup(r, pgoff + t));
			return dc_entry_mkerr(ret);
		}
	}
	/* A real entry for other pages is replaced: revoke it, undo it. */
	if (dc_entry_is_real(entry) && !had_assoc) {
		if (!dc_entry_is_zapped(entry)) {
			dc__entry_revoke(m, first, entry);
			dc__entry_put_refs(m, entry);
		}
		dc__entry_disassociate(m, first, entry);
	}
	if (!had_assoc) {
		for (uint64_t t = 0; t < size; t += fpages) {
			struct dc_folio *f = dc_folio_lookup(r, pgoff + t);

			if (cow)
				dc_folio_share_get(f);
			else
				dc_folio_set_owner(f, dc__owner_word(m, first + t));
		}
	}
	ne = DC_ENTRY_VALID | DC_ENTRY_LOCKED | order_bits(order) |
	     (pgoff << DC_ENTRY_PGOFF_SHIFT);
	dc_index_lock(m->ix);
	dc__entry_store(m, first, ne);
	if (flags & DC_INSERT_DIRTY)
		dc_index_set_mark_locked(m->ix, first, DC_MARK_DIRTY);
	dc_index_unlock(m->ix);
	if (dc_entry_is_zero(entry)) /* clients still map the zero page */
		dc__entry_revoke(m, first, entry);
	return ne;
}

DC_API void dc_mapping_unlock(struct dc_mapping *m, uint64_t index, dc_entry_t entry)
{
	uint64_t first = index & ~(entry_pages(entry) - 1);
	dc_entry_t cur;

	dc_index_lock(m->ix);
	cur = dc_index_load(m->ix, first);
	if (!cur || !dc_entry_is_locked(cur)) {
		dc_index_unlock(m->ix);
		dc__fail(-EINVAL, "unlock: entry at %llu is not locked", (unsigned long long)first);
		return;
	}
	dc__entry_store(m, first, cur & ~DC_ENTRY_LOCKED);
	dc_index_unlock(m->ix);
	dc__entry_wake(m, first, DC__WAKE_NEXT);
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
	if (unlikely(!dc_entry_is_real(e) || dc_entry_is_zapped(e)))
		goto refault;
	mask = entry_pages(e) - 1;
	f = dc_folio_lookup(m->region, dc_entry_pgoff(e) + (index & mask));
	if (unlikely(!f))
		goto refault;
	ret = pin ? dc_folio_pin(f) : dc_folio_tryget(f);
	if (unlikely(ret))
		goto refault;
	smp_mb__after_atomic();
	again = dc_index_load(m->ix, index);
	if (unlikely((again | DC_ENTRY_LOCKED) != (e | DC_ENTRY_LOCKED))) {
		/* Zapped or replaced meanwhile: the zap may not have seen us. */
		if (pin)
			dc_folio_unpin(f);
		else
			dc_folio_put(f);
		goto refault;
	}
	dc__rcu_read_unlock();
	*out = f;
	return 0;
refault:
	dc__rcu_read_unlock();
	return -EAGAIN;
}

/* ---- lock an entry from a folio (memory failure) ------------------------------ */

static void mapping_unuse(struct dc_mapping *m)
{
	if (atomic_fetch_sub(&m->users, 1) == 1)
		dc_wake_var(&m->users);
}

DC_API int dc_mapping_lock_folio(struct dc_folio *f, struct dc_entry_lock *lk)
{
	struct dc_region *r = dc_folio_region(f);
	uint64_t fpg = dc_folio_pgoff(f);

	for (;;) {
		uint64_t owner = dc_folio_owner(f), index, first;
		struct dc_mapping *m;
		dc_entry_t e;
		int ret = 0;

		if (dc_folio_shares(f))
			return dc__fail(-EBUSY, "lock_folio: page %llu is shared by %u files",
					(unsigned long long)fpg, dc_folio_shares(f));
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
			if (dc_folio_owner(f) != owner) {
				ret = -EAGAIN; /* reassigned while we looked: start over */
				break;
			}
			if (!dc_entry_is_real(e) || fpg < dc_entry_pgoff(e) ||
			    fpg >= dc_entry_pgoff(e) + entry_pages(e)) {
				ret = dc__fail(-ENOENT, "lock_folio: page %llu: no entry maps it",
					       (unsigned long long)fpg);
				break;
			}
			if (!dc_entry_is_locked(e))
				break;
			dc__entry_wait(m, first); /* then revalidate everything */
		}
		if (!ret) {
			dc__entry_store(m, first, e | DC_ENTRY_LOCKED);
			lk->mapping = m;
			lk->index = first;
			lk->entry = e | DC_ENTRY_LOCKED;
		}
		dc_index_unlock(m->ix);
		if (ret && e && !dc_entry_is_locked(e))
			put_unlocked_entry(m, first, e);
		mapping_unuse(m);
		if (ret != -EAGAIN)
			return ret;
	}
}

DC_API void dc_mapping_unlock_folio(struct dc_entry_lock *lk)
{
	dc_mapping_unlock(lk->mapping, lk->index, lk->entry);
}
