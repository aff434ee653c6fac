/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * path.c - where a writer stands: dc__ix_locate() walks to the entry
 * covering an index, recording the branches on the way (struct ix_path);
 * dc__ix_path_at() names the run (or the root) the word at its end hangs in.
 */
#include "index/index_int.h"

/* Where the word at the end of @p hangs: its whole run in the last branch, or the root. */
struct ix_at dc__ix_path_at(const struct ix_path *p)
{
	struct ix_at at = { NULL, 0, 1, IX_ROOT_SHIFT };

	if (p->depth) {
		struct ix_branch *n = p->node[p->depth - 1];
		unsigned c = ix_run_start(ld_relaxed(&n->sib), p->slot[p->depth - 1]);

		at.n = n;
		at.c = c;
		at.len = ix_run_end(ld_relaxed(&n->sib), c) - c;
		at.ps = n->shift;
	}
	return at;
}

/*
 * Find the entry covering @index, with the branches on the way in @p.
 * Return: 0 (none); a leaf word with the entry at *pos; or a value, which
 * then sits in the run that starts at p->slot[p->depth - 1].
 */
uint64_t dc__ix_locate(struct dc_index *ix, uint64_t index, struct ix_path *p, int *pos)
{
	uint64_t w = ld_relaxed(&ix->root);
	struct ix_branch *n = NULL;

	p->depth = 0;
	while (w_is_node(w) && w_kind(w) != K_LEAF) {
		unsigned i;

		n = w_branch(w);
		if ((index ^ n->base) >> n->shift >> IX_BITS)
			return 0;
		i = ix_slot_of(index, n->shift);
		w = ld_relaxed(&n->slot[i]);
		if (!w)
			return 0;
		path_push(p, n, i);
	}
	if (!w)
		return 0;
	if (w_is_node(w)) {
		struct ix_leaf *l = w_leaf(w);

		*pos = ix_leaf_pos(l, ld_relaxed(&l->nr), index);
		if (*pos < 0 || !ld_relaxed(&ix_leaf_val(l)[*pos]))
			return 0;
	}
	/* The last level holds a leaf run or a value run: note its first slot. */
	if (p->depth)
		p->slot[p->depth - 1] = ix_run_start(ld_relaxed(&n->sib), p->slot[p->depth - 1]);
	return w;
}
