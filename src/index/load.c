/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * load.c - the radix index's lockless point reads: dc_index_load(),
 * dc_index_load_entry(), dc_index_get_mark(), and the consistent read of a
 * run under a branch's seq count (dc__ix_branch_read_run()).
 */
#include "index/index_int.h"

#include <sched.h>

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
uint64_t dc__ix_branch_read_run(struct ix_branch *n, unsigned j, unsigned *c, unsigned *len)
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

		w = dc__ix_branch_read_run(n, ix_slot_of(index, n->shift), &c, &len);
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
