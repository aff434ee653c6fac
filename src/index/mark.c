/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mark.c - the radix index's marks on the writer side: set and clear an
 * entry's mark, and propagate it up the path (a branch's bit for a child
 * means "something below has the mark").
 */
#include "index/index_int.h"

/* The child at p->node[d], p->slot[d] gained mark @m: set it up the path. */
static void mark_set_up(struct ix_path *p, int d, unsigned m)
{
	for (; d >= 0; d--) {
		struct ix_branch *n = p->node[d];
		uint64_t old = ld_relaxed(&n->marks[m]), bit = UINT64_C(1) << p->slot[d];

		if (old & bit)
			break;
		st_release(&n->marks[m], old | bit);
	}
}

/* The child at p->node[d], p->slot[d] lost its last mark @m: clear it up the path. */
void dc__ix_mark_clear_up(struct ix_path *p, int d, unsigned m)
{
	for (; d >= 0; d--) {
		struct ix_branch *n = p->node[d];
		uint64_t now = ld_relaxed(&n->marks[m]) & ~(UINT64_C(1) << p->slot[d]);

		st_release(&n->marks[m], now);
		if (now)
			break;
	}
}

void dc__ix_leaf_clear_mark(struct ix_path *p, struct ix_leaf *l, int q, unsigned m)
{
	uint32_t old = ld_relaxed(&l->marks[m]), bit = UINT32_C(1) << q;

	if (!(old & bit))
		return;
	st_release(&l->marks[m], old & ~bit);
	if (old == bit)
		dc__ix_mark_clear_up(p, (int)p->depth - 1, m);
}

static int mark_op(struct dc_index *ix, uint64_t index, unsigned mark, bool set)
{
	struct ix_path p;
	int q;
	uint64_t w;

	if (mark >= DC_INDEX_NR_MARKS)
		return dc__fail(-EINVAL, "index: mark %u out of range", mark);
	w = dc__ix_locate(ix, index, &p, &q);
	if (!w)
		return dc__fail(-ENOENT, "index: no entry at %#" PRIx64, index);
	if (w_is_value(w)) {
		struct ix_branch *n = p.node[p.depth - 1];
		bool has = ld_relaxed(&n->marks[mark]) >> p.slot[p.depth - 1] & 1;

		if (set && !has)
			mark_set_up(&p, (int)p.depth - 1, mark);
		else if (!set && has)
			dc__ix_mark_clear_up(&p, (int)p.depth - 1, mark);
		return 0;
	}

	struct ix_leaf *l = w_leaf(w);
	uint32_t old = ld_relaxed(&l->marks[mark]);

	if (!set) {
		dc__ix_leaf_clear_mark(&p, l, q, mark);
	} else if (!(old >> q & 1)) {
		st_release(&l->marks[mark], old | UINT32_C(1) << q);
		if (!old)
			mark_set_up(&p, (int)p.depth - 1, mark);
	}
	return 0;
}

DC_API int dc_index_set_mark_locked(struct dc_index *ix, uint64_t index, unsigned mark)
{
	return mark_op(ix, index, mark, true);
}

DC_API int dc_index_clear_mark_locked(struct dc_index *ix, uint64_t index, unsigned mark)
{
	return mark_op(ix, index, mark, false);
}
