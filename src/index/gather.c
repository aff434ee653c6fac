/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gather.c - dc_index_gather(): the lockless walk over a range that
 * fills an array of entries, visiting each node once.
 */
#include "index/index_int.h"

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
				w = dc__ix_branch_read_run(n, i, &c, &len);
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
