/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index.c - the radix index (include/daxcore/index.h): the lockless
 * readers (load, find, marks) and the API shell.  index_store.c holds the
 * writer side (store, erase, marks), index_check.c dc_index_check(), and
 * index_int.h the node layout they share.  docs/index.md tells the design
 * with figures; the short version:
 *
 * - Branches are 64-slot radix nodes (6 key bits per level) with path
 *   compression: a branch records its shift and base, so a child may sit
 *   several levels below its parent.
 * - Leaves are small sorted arrays of (first index, order, value), up to
 *   IX_LEAF_MAX entries.  A leaf hangs in a *run* of slots of its branch (an
 *   aligned block of 1..64 slots holding the same leaf word), so a sparse
 *   branch needs few leaves.  A full leaf splits its run in halves, and a
 *   one-slot run becomes a branch (a "burst").
 * - An entry of order >= the shift s of its branch is stored as a value in
 *   2^(order - s) slots (a value run), every slot holding the value itself,
 *   so a lookup never takes a second step.  The sibling bitmap tells where
 *   runs start; the branch's sequence count lets lockless readers read a
 *   value together with its run (its first index and order).
 * - Each slot word says what it holds (index_int.h): a value (bit 63 set),
 *   or a node as a pointer into it, which LeakSanitizer follows: a branch
 *   one level down (PLAIN: the word is its address; the reader knows its
 *   shift and need not touch its header), a branch further down (SKIP:
 *   check its base), or a leaf.
 * - Marks: a leaf has a bit per entry; a branch a bit per run, which for a
 *   child run means "something below has the mark", so a find_marked skips
 *   unmarked subtrees.  Marks sit on the first slot of a run only.
 *
 * Concurrency: one writer at a time (the tree lock); readers under RCU.  A
 * node's immutable fields (shift, base, a leaf's keys and orders) are written
 * before the node is published with a release store.  Slots, values, sibling
 * bits and marks change in place with release stores.  A leaf gains an entry
 * in place only at its end (an append into spare room, published by a
 * release store of its count; readers scan below the count they loaded);
 * any other insertion copies it (copy on write), and erasing leaves a
 * tombstone (value 0) that the next copy drops.  Nodes that leave the tree
 * are handed to RCU in one batch when the tree lock is released, and freed
 * after a grace period.  dc_index_gather() walks a range once, from the
 * root, filling an array (index_store.c: dc_index_replace_batch_locked() gives
 * such an array new values in one walk).
 */
#include "index/index_int.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>

/* ---- lockless reads ------------------------------------------------------ */

/*
 * Walk to the bottom of @index's path.
 * Return: a value (with *np the branch holding it), a leaf word, or 0.
 */
static inline uint64_t descend(struct dc_index *ix, uint64_t index, struct ix_branch **np)
{
	uint64_t w = ld_acquire(&ix->root);
	struct ix_branch *n = NULL;
	unsigned shift = IX_ROOT_SHIFT;

	while (w_is_node(w)) {
		unsigned k = w_kind(w);

		if (likely(k == K_PLAIN)) {
			/* The word is the address itself: no masking on the way down. */
			n = (struct ix_branch *)(uintptr_t)w;
			shift -= IX_BITS;
		} else if (k == K_SKIP) {
			n = w_branch(w);
			if ((index ^ n->base) >> n->shift >> IX_BITS)
				return 0;
			shift = n->shift;
		} else {
			break; /* a leaf */
		}
		w = ld_acquire(&n->slot[(index >> shift) & IX_MASK]);
	}
	*np = n;
	return w;
}

DC_API uint64_t dc_index_load(struct dc_index *ix, uint64_t index)
{
	struct ix_branch *n;
	uint64_t w;

	dc__rcu_read_lock();
	w = descend(ix, index, &n);
	if (unlikely(w_is_node(w))) {
		struct ix_leaf *l = w_leaf(w);
		int q = ix_leaf_pos(l, ix_leaf_nr(l), index);

		w = q < 0 ? 0 : ld_acquire(&ix_leaf_val(l)[q]);
	} else {
		w = w_value(w);
	}
	dc__rcu_read_unlock();
	return w;
}

/*
 * Read slot @j of @n together with the run it belongs to, consistently (a
 * value and the sibling bits that give its range).
 */
static uint64_t branch_read_run(struct ix_branch *n, unsigned j, unsigned *c, unsigned *len)
{
	unsigned spins = 0;

	for (;;) {
		uint32_t s1 = ld_acquire(&n->seq);

		if (likely(!(s1 & 1))) {
			/* Acquire loads: the seq load below cannot pass them. */
			uint64_t w = ld_acquire(&n->slot[j]);
			uint64_t sib = ld_acquire(&n->sib);

			if (ld_relaxed(&n->seq) == s1) {
				*c = ix_run_start(sib, j);
				*len = ix_run_end(sib, *c) - *c;
				return w;
			}
		}
		if (++spins % 128 == 0)
			sched_yield();
		else
			caa_cpu_relax();
	}
}

struct ix_hit {
	uint64_t v, first;
	unsigned order;
};

static void value_hit(struct ix_branch *n, uint64_t v, unsigned c, unsigned len, struct ix_hit *h)
{
	h->v = w_value(v);
	h->first = ix_slot_base(n, c);
	h->order = n->shift + ix_ctz64(len);
}

DC_API uint64_t dc_index_load_entry(struct dc_index *ix, uint64_t index, uint64_t *first,
				    unsigned *order)
{
	struct ix_hit h = { 0, 0, 0 };
	struct ix_branch *n;
	uint64_t w;

	dc__rcu_read_lock();
	for (;;) {
		w = descend(ix, index, &n);
		if (!w)
			break;
		if (w_is_node(w)) {
			struct ix_leaf *l = w_leaf(w);
			int q = ix_leaf_pos(l, ix_leaf_nr(l), index);

			if (q >= 0) {
				h.v = ld_acquire(&ix_leaf_val(l)[q]);
				h.first = ix_leaf_key(l)[q];
				h.order = ix_leaf_order_c(l)[q];
			}
			break;
		}
		unsigned c, len;

		w = branch_read_run(n, ix_slot_of(index, n->shift), &c, &len);
		if (w_is_value(w)) {
			value_hit(n, w, c, len, &h);
			break;
		}
		/* The slot changed under us: walk again. */
	}
	dc__rcu_read_unlock();
	if (h.v) {
		if (first)
			*first = h.first;
		if (order)
			*order = h.order;
	}
	return h.v;
}

DC_API bool dc_index_get_mark(struct dc_index *ix, uint64_t index, unsigned mark)
{
	struct ix_branch *n;
	uint64_t w;
	bool ret = false;

	if (mark >= DC_INDEX_NR_MARKS)
		return false;
	dc__rcu_read_lock();
	w = descend(ix, index, &n);
	if (w_is_node(w)) {
		struct ix_leaf *l = w_leaf(w);
		int q = ix_leaf_pos(l, ix_leaf_nr(l), index);

		ret = q >= 0 && ld_acquire(&ix_leaf_val(l)[q]) &&
		      (ld_acquire(&l->marks[mark]) >> q & 1);
	} else if (w) {
		unsigned c = ix_run_start(ld_acquire(&n->sib), ix_slot_of(index, n->shift));

		ret = ld_acquire(&n->marks[mark]) >> c & 1;
	}
	dc__rcu_read_unlock();
	return ret;
}

/* ---- find ---------------------------------------------------------------- */

/* @mark < 0: any entry. */
static bool find_leaf(struct ix_leaf *l, uint64_t start, uint64_t max, int mark, struct ix_hit *h)
{
	uint32_t mk = mark < 0 ? UINT32_MAX : ld_acquire(&l->marks[mark]);
	const uint8_t *ord = ix_leaf_order_c(l);
	unsigned nr = ix_leaf_nr(l);

	for (unsigned q = 0; q < nr; q++) {
		if (ix_ent_last(ix_leaf_key(l)[q], ord[q]) < start)
			continue;
		if (ix_leaf_key(l)[q] > max)
			break;
		if (!(mk >> q & 1))
			continue;
		uint64_t v = ld_acquire(&ix_leaf_val(l)[q]);

		if (!v)
			continue;
		h->v = v;
		h->first = ix_leaf_key(l)[q];
		h->order = ord[q];
		return true;
	}
	return false;
}

static bool find_branch(struct ix_branch *n, uint64_t start, uint64_t max, int mark,
			struct ix_hit *h);

/* Look in slot @j of @n, which holds @w, from @start (inside slot j or before it). */
static bool find_slot(struct ix_branch *n, unsigned j, uint64_t w, uint64_t start, uint64_t max,
		      int mark, struct ix_hit *h)
{
	if (!w)
		return false;
	if (w_is_value(w)) {
		unsigned c, len;

		w = branch_read_run(n, j, &c, &len);
		if (w_is_value(w)) {
			value_hit(n, w, c, len, h);
			return true;
		}
		if (!w)
			return false;
		/* Became a leaf or a branch meanwhile: look there. */
	}
	if (w_kind(w) == K_LEAF)
		return find_leaf(w_leaf(w), start, max, mark, h);
	return find_branch(w_branch(w), start, max, mark, h);
}

static bool find_branch(struct ix_branch *n, uint64_t start, uint64_t max, int mark,
			struct ix_hit *h)
{
	unsigned s = n->shift, i, end;
	uint64_t last = n->base | ix_span_mask(s);

	if (start < n->base)
		start = n->base;
	if (start > last || start > max)
		return false;
	i = ix_slot_of(start, s);
	end = max >= last ? ix_nslots(s) - 1 : ix_slot_of(max, s);

	if (mark < 0) {
		for (; i <= end; i++) {
			uint64_t w = ld_acquire(&n->slot[i]);

			if (!w)
				continue;
			if (find_slot(n, i, w, ix_max64(start, ix_slot_base(n, i)), max, mark, h))
				return true;
			/* Skip the rest of a leaf's run: that leaf had nothing. */
			if (w_is_node(w))
				while (i < end && ld_acquire(&n->slot[i + 1]) == w)
					i++;
		}
		return false;
	}

	/*
	 * @start inside a run that begins before its slot: the mark would be
	 * on the run's first slot, but a leaf's own marks are what counts.
	 */
	if (ld_acquire(&n->sib) >> i & 1) {
		uint64_t w = ld_acquire(&n->slot[i]);

		if (w_is_node(w) ? find_slot(n, i, w, start, max, mark, h)
				 : (ld_acquire(&n->marks[mark]) >>
				    ix_run_start(ld_acquire(&n->sib), i) & 1) &&
					   find_slot(n, i, w, start, max, mark, h))
			return true;
		i++;
	}
	/*
	 * The mark word is read again at each step: a writer splitting a leaf
	 * run sets the new runs' bits before it publishes their words, so once
	 * we have seen a new word, the bits that go with it are visible too.
	 */
	while (i <= end) {
		uint64_t bits = ld_acquire(&n->marks[mark]) & ix_bits(i, end - i + 1);
		unsigned j;

		if (!bits)
			break;
		j = ix_ctz64(bits);
		if (find_slot(n, j, ld_acquire(&n->slot[j]), ix_max64(start, ix_slot_base(n, j)), max,
			      mark, h))
			return true;
		i = j + 1;
	}
	return false;
}

static uint64_t find_common(struct dc_index *ix, uint64_t start, uint64_t max, int mark,
			    uint64_t *first, unsigned *order)
{
	struct ix_hit h = { 0, 0, 0 };
	bool found = false;
	uint64_t w;

	if (start > max)
		return 0;
	dc__rcu_read_lock();
	w = ld_acquire(&ix->root);
	if (w) {
		if (w_kind(w) == K_LEAF)
			found = find_leaf(w_leaf(w), start, max, mark, &h);
		else
			found = find_branch(w_branch(w), start, max, mark, &h);
	}
	dc__rcu_read_unlock();
	if (!found)
		return 0;
	if (first)
		*first = h.first;
	if (order)
		*order = h.order;
	return h.v;
}

DC_API uint64_t dc_index_find(struct dc_index *ix, uint64_t start, uint64_t max, uint64_t *first,
			      unsigned *order)
{
	return find_common(ix, start, max, -1, first, order);
}

DC_API uint64_t dc_index_find_marked(struct dc_index *ix, uint64_t start, uint64_t max,
				     unsigned mark, uint64_t *first, unsigned *order)
{
	if (mark >= DC_INDEX_NR_MARKS)
		return 0;
	return find_common(ix, start, max, (int)mark, first, order);
}

/* ---- gather ---------------------------------------------------------------- */

/*
 * One walk over [start, max] in index order, visiting each node once.  The
 * cursor @next is the first index not yet passed: an entry is given if it
 * ends at or after it and, after the first item, also starts there or later
 * (an entry starting before would overlap an item already given, so it was
 * stored after that item was erased, during the walk: leaving it out keeps
 * the items disjoint and sorted).  Each item is read as find reads it: a
 * leaf entry's key and order never change and its value belongs to them;
 * value runs are read with their sibling bits inside the branch's seq
 * count, a stretch of slots at a time (gather_stretch()).
 */
struct ix_gather {
	struct dc_index_item *out;
	unsigned n, k;
	bool done;
	uint64_t next, max;
};

static void gather_emit(struct ix_gather *g, uint64_t first, unsigned order, uint64_t v)
{
	uint64_t last = ix_ent_last(first, order);

	if (last < g->next || (g->k && first < g->next))
		return;
	if (first > g->max) {
		g->done = true;
		return;
	}
	g->out[g->k].first = first;
	g->out[g->k].value = v;
	g->out[g->k].order = order;
	if (++g->k == g->n || last >= g->max)
		g->done = true;
	else
		g->next = last + 1;
}

static void gather_leaf(struct ix_gather *g, struct ix_leaf *l)
{
	const uint64_t *key = ix_leaf_key_c(l);
	const uint8_t *ord = ix_leaf_order_c(l);
	unsigned nr = ix_leaf_nr(l), q = 0;

	/* Entries before the cursor: skip them by binary search (the last key <= next). */
	for (unsigned hi = nr; q + 1 < hi;) {
		unsigned mid = (q + hi) / 2;

		if (key[mid] <= g->next)
			q = mid;
		else
			hi = mid;
	}
	for (; q < nr && !g->done; q++) {
		uint64_t v;

		if (key[q] > g->max) {
			g->done = true;
			return;
		}
		v = ld_acquire(&ix_leaf_val(l)[q]);
		if (v)
			gather_emit(g, key[q], ord[q], v);
	}
}

/*
 * Gather the value runs of slots [i, end] of @n up to the first node word,
 * reading the slots and the sibling bits inside one section of @n's seq
 * count (rather than one section per run: half the loads on a dense
 * branch).  Return the slot where it stopped, a node word's (then in *wp)
 * or past @end (or where @g filled up); or -1 if a writer got in the way,
 * with @g as it was before.
 */
static int gather_stretch(struct ix_gather *g, struct ix_branch *n, unsigned i, unsigned end,
			  uint64_t *wp)
{
	unsigned k = g->k, s = n->shift;
	uint64_t next = g->next, sib, w = 0;
	uint32_t s1 = ld_acquire(&n->seq);

	if (s1 & 1)
		return -1;
	/* Acquire loads throughout: the seq load at the end cannot pass any of them. */
	sib = ld_acquire(&n->sib);
	if (sib >> i & 1)
		i = ix_run_start(sib, i); /* @i inside a run: take it from its start */
	while (i <= end) {
		unsigned e;

		w = ld_acquire(&n->slot[i]);
		if (!w) {
			i++;
			continue;
		}
		if (w_is_node(w))
			break;
		e = sib >> i >> 1 & 1 ? ix_run_end(sib, i) : i + 1;
		gather_emit(g, ix_slot_base(n, i), s + ix_ctz64(e - i), w_value(w));
		i = e;
		if (g->done)
			break;
	}
	if (unlikely(ld_relaxed(&n->seq) != s1)) {
		g->k = k;
		g->next = next;
		g->done = false;
		return -1;
	}
	*wp = w;
	return (int)i;
}

static void gather_branch(struct ix_gather *g, struct ix_branch *n, unsigned depth)
{
	unsigned s = n->shift, i, end;
	uint64_t last = n->base | ix_span_mask(s);

	if (n->base > g->max) {
		g->done = true;
		return;
	}
	if (last < g->next)
		return;
	i = g->next <= n->base ? 0 : ix_slot_of(g->next, s);
	end = g->max >= last ? ix_nslots(s) - 1 : ix_slot_of(g->max, s);
	while (i <= end && !g->done) {
		uint64_t w;
		int r = gather_stretch(g, n, i, end, &w);

		if (likely(r >= 0)) {
			i = (unsigned)r;
			if (i > end || g->done)
				return;
			/* w: the node word in slot i */
		} else {
			/* A writer got in the way: this slot alone, run by run. */
			unsigned c, len;

			w = ld_acquire(&n->slot[i]);
			if (!w) {
				i++;
				continue;
			}
			if (w_is_value(w)) {
				w = branch_read_run(n, i, &c, &len);
				if (w_is_value(w)) {
					gather_emit(g, ix_slot_base(n, c), s + ix_ctz64(len), w_value(w));
					i = c + len;
					continue;
				}
				if (!w) {
					i++;
					continue;
				}
				/* Became a leaf or a branch meanwhile: look there. */
			}
		}
		if (w_kind(w) == K_LEAF) {
			gather_leaf(g, w_leaf(w));
			/* The rest of the leaf's run holds nothing else. */
			while (i < end && ld_acquire(&n->slot[i + 1]) == w)
				i++;
		} else if (depth < IX_MAX_DEPTH) {
			gather_branch(g, w_branch(w), depth + 1);
		}
		i++;
	}
}

DC_API unsigned dc_index_gather(struct dc_index *ix, uint64_t start, uint64_t max,
				struct dc_index_item *out, unsigned n)
{
	struct ix_gather g = { out, n, 0, false, start, max };
	uint64_t w;

	if (start > max || !n)
		return 0;
	dc__rcu_read_lock();
	w = ld_acquire(&ix->root);
	if (w) {
		if (w_kind(w) == K_LEAF)
			gather_leaf(&g, w_leaf(w));
		else
			gather_branch(&g, w_branch(w), 0);
	}
	dc__rcu_read_unlock();
	return g.k;
}

/* ---- the locked API, life cycle, counters -------------------------------- */

DC_API struct dc_index *dc_index_create(void)
{
	struct dc_index *ix = dc__zalloc_aligned(DC_CACHELINE, sizeof(*ix));

	if (!ix) {
		dc__fail(-ENOMEM, "index: out of memory");
		return NULL;
	}
	pthread_mutex_init(&ix->lock, NULL);
	return ix;
}

DC_API void dc_index_destroy(struct dc_index *ix)
{
	if (!ix)
		return;
	dc__ix_free_retired(ix);
	dc__ix_free_now(ld_relaxed(&ix->root));
	pthread_mutex_destroy(&ix->lock);
	free(ix);
}

DC_API void dc_index_lock(struct dc_index *ix)
{
	pthread_mutex_lock(&ix->lock);
}

/* Nodes unlinked in this section go to RCU in one batch (index_store.c). */
DC_API void dc_index_unlock(struct dc_index *ix)
{
	if (ix->retired)
		dc__ix_flush(ix);
	pthread_mutex_unlock(&ix->lock);
}

DC_API int dc_index_store(struct dc_index *ix, uint64_t index, unsigned order, uint64_t value)
{
	int err;

	dc_index_lock(ix);
	err = dc_index_store_locked(ix, index, order, value);
	dc_index_unlock(ix);
	return err;
}

DC_API uint64_t dc_index_erase(struct dc_index *ix, uint64_t index)
{
	uint64_t v;

	dc_index_lock(ix);
	v = dc_index_erase_locked(ix, index);
	dc_index_unlock(ix);
	return v;
}

DC_API int dc_index_set_mark(struct dc_index *ix, uint64_t index, unsigned mark)
{
	int err;

	dc_index_lock(ix);
	err = dc_index_set_mark_locked(ix, index, mark);
	dc_index_unlock(ix);
	return err;
}

DC_API int dc_index_clear_mark(struct dc_index *ix, uint64_t index, unsigned mark)
{
	int err;

	dc_index_lock(ix);
	err = dc_index_clear_mark_locked(ix, index, mark);
	dc_index_unlock(ix);
	return err;
}

DC_API uint64_t dc_index_count(struct dc_index *ix)
{
	return ld_relaxed(&ix->count);
}

DC_API size_t dc_index_bytes(struct dc_index *ix)
{
	return ld_relaxed(&ix->bytes);
}
