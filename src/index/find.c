/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * find.c - the radix index's lockless search forward: dc_index_find()
 * and dc_index_find_marked(), skipping unmarked subtrees.
 */
#include "index/index_int.h"

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

		w = dc__ix_branch_read_run(n, j, &c, &len);
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
