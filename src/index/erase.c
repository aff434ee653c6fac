/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * erase.c - the radix index's erasure: dc_index_erase_locked(),
 * dc_index_erase_range_locked() (one walk over a range), and the shrinking
 * of branches they leave empty or with a single child.  Never allocates.
 */
#include "index/index_int.h"

/* The word of the slot (or root) that holds p->node[d], and the shift of that holder. */
static _Atomic uint64_t *holder(struct dc_index *ix, struct ix_path *p, unsigned d, unsigned *ps)
{
	if (!d) {
		*ps = IX_ROOT_SHIFT;
		return &ix->root;
	}
	*ps = p->node[d - 1]->shift;
	return &p->node[d - 1]->slot[p->slot[d - 1]];
}

/*
 * After an erase emptied part of p->node[depth - 1]: free branches left
 * empty, and replace a branch left with a single child (a leaf run or a
 * branch) by that child.  Neither allocates.
 */
static void shrink_slow(struct dc_index *ix, struct ix_path *p)
{
	for (int d = (int)p->depth - 1; d >= 0; d--) {
		struct ix_branch *n = p->node[d];
		unsigned ps, j = 0;
		_Atomic uint64_t *h;
		uint64_t w;

		/* Neither empty nor possibly a single run: nothing to do (the usual case). */
		if (n->nr & (n->nr - 1))
			break;
		h = holder(ix, p, (unsigned)d, &ps);
		if (!n->nr) {
			st_release(h, 0);
			if (d)
				p->node[d - 1]->nr--;
			retire_branch(ix, n);
			continue; /* the parent lost a slot */
		}
		/* A single run is an aligned power of two: n->nr is one. */
		while (!(w = ld_relaxed(&n->slot[j])))
			j++;
		if (w_is_node(w) && ix_run_end(ld_relaxed(&n->sib), j) - j == n->nr) {
			/* One child: it takes n's place (its marks are n's). */
			if (w_kind(w) != K_LEAF)
				w = branch_word(w_branch(w), ps);
			st_release(h, w);
			retire_branch(ix, n);
		}
		break;
	}
}

static inline void shrink(struct dc_index *ix, struct ix_path *p)
{
	/* No branch, or neither empty nor possibly a single run (the usual case): done. */
	if (!p->depth || (p->node[p->depth - 1]->nr & (p->node[p->depth - 1]->nr - 1)))
		return;
	shrink_slow(ix, p);
}

DC_API uint64_t dc_index_erase_locked(struct dc_index *ix, uint64_t index)
{
	struct ix_path p;
	int q;
	uint64_t w = dc__ix_locate(ix, index, &p, &q), v;

	if (!w)
		return 0;
	if (w_is_value(w)) {
		struct ix_branch *n = p.node[p.depth - 1];
		unsigned c = p.slot[p.depth - 1], len = 1;

		_Static_assert(DC_INDEX_NR_MARKS == 3, "one test for all marks");
		if ((ld_relaxed(&n->marks[0]) | ld_relaxed(&n->marks[1]) |
		     ld_relaxed(&n->marks[2])) >> c & 1)
			for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
				if (ld_relaxed(&n->marks[m]) >> c & 1)
					dc__ix_mark_clear_up(&p, (int)p.depth - 1, m);
		if (c < IX_MASK && (ld_relaxed(&n->sib) >> (c + 1) & 1))
			len = ix_run_end(ld_relaxed(&n->sib), c) - c;
		branch_put_run(n, c, len, 0);
		add_count(ix, -1);
		shrink(ix, &p);
		return w_value(w);
	}

	struct ix_leaf *l = w_leaf(w);

	v = ld_relaxed(&ix_leaf_val(l)[q]);
	for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
		dc__ix_leaf_clear_mark(&p, l, q, m);
	st_release(&ix_leaf_val(l)[q], 0); /* a tombstone */
	l->live--;
	add_count(ix, -1);
	if (!l->live) {
		struct ix_at at = dc__ix_path_at(&p);

		if (!at.n)
			st_release(&ix->root, 0);
		else
			branch_put_run(at.n, at.c, at.len, 0);
		dc__ix_retire_leaf(ix, l);
		shrink(ix, &p);
	}
	return v;
}

/* ---- erase a range (writer) --------------------------------------------- */

/*
 * Erase everything inside [first, last] with one walk: whole subtrees and
 * leaves that lie inside are unlinked with one store and retired node by
 * node (no per-entry work); value runs inside are cleared in place; a leaf
 * that straddles an end gets tombstones.  Marks go up as in erase: a
 * parent's bit is cleared once nothing below has the mark.  Branches left
 * empty or with a single child shrink as in erase.  Nothing is allocated;
 * a node is unlinked before it is retired.
 */
struct ix_erange {
	struct dc_index *ix;
	uint64_t first, last;
	uint64_t erased;
};

/* Retire every node of subtree @w, already unlinked; return its entries. */
static uint64_t retire_tree(struct dc_index *ix, uint64_t w)
{
	if (!w_is_node(w))
		return 1;
	if (w_kind(w) == K_LEAF) {
		struct ix_leaf *l = w_leaf(w);
		uint64_t live = l->live;

		dc__ix_retire_leaf(ix, l);
		return live;
	}

	struct ix_branch *n = w_branch(w);
	uint64_t sib = ld_relaxed(&n->sib), cnt = 0;

	for (unsigned j = 0; j < IX_SLOTS; j++) {
		uint64_t x = ld_relaxed(&n->slot[j]);

		if (x && !(sib >> j & 1))
			cnt += retire_tree(ix, x);
	}
	retire_branch(ix, n);
	return cnt;
}

static bool er_inside(const struct ix_erange *r, uint64_t lo, uint64_t hi)
{
	return r->first <= lo && hi <= r->last;
}

/* Clear every mark bit of run @j of @n (its entry or child is gone). */
static void clear_run_marks(struct ix_branch *n, unsigned j)
{
	for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++) {
		uint64_t old = ld_relaxed(&n->marks[m]);

		if (old >> j & 1)
			st_release(&n->marks[m], old & ~(UINT64_C(1) << j));
	}
}

/* Clear the bits of run @j of @n for the marks that child word @x no longer has. */
static void sync_run_marks(struct ix_branch *n, unsigned j, uint64_t x)
{
	for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++) {
		uint64_t old = ld_relaxed(&n->marks[m]);
		bool has = w_kind(x) == K_LEAF ? ld_relaxed(&w_leaf(x)->marks[m]) != 0
					       : ld_relaxed(&w_branch(x)->marks[m]) != 0;

		if ((old >> j & 1) && !has)
			st_release(&n->marks[m], old & ~(UINT64_C(1) << j));
	}
}

/*
 * Tombstone the entries of @l inside the range, or tell that all its live
 * entries are inside (then nothing is changed: the caller unlinks it).
 */
static bool er_leaf(struct ix_erange *r, struct ix_leaf *l)
{
	unsigned nr = ld_relaxed(&l->nr), inside = 0;
	const uint64_t *key = ix_leaf_key(l);
	const uint8_t *ord = ix_leaf_order(l);

	for (unsigned q = 0; q < nr; q++)
		inside += ld_relaxed(&ix_leaf_val(l)[q]) && key[q] >= r->first &&
			  ix_ent_last(key[q], ord[q]) <= r->last;
	if (inside == l->live)
		return true;
	for (unsigned q = 0; q < nr; q++) {
		if (!ld_relaxed(&ix_leaf_val(l)[q]) || key[q] < r->first ||
		    ix_ent_last(key[q], ord[q]) > r->last)
			continue;
		for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++) {
			uint32_t old = ld_relaxed(&l->marks[m]);

			if (old >> q & 1)
				st_release(&l->marks[m], old & ~(UINT32_C(1) << q));
		}
		st_release(&ix_leaf_val(l)[q], 0);
		l->live--;
	}
	r->erased += inside;
	return false;
}

/*
 * Erase inside the range from branch @w (held at shift @ps), which the
 * range covers only in part.  Return the word its holder should have: @w,
 * 0 (now empty) or its single child; in the last two cases the caller
 * publishes it and retires the branch.
 */
static uint64_t er_branch(struct ix_erange *r, uint64_t w, unsigned ps)
{
	struct ix_branch *n = w_branch(w);
	unsigned s = n->shift, j, end;
	uint64_t lo = n->base, hi = n->base | ix_span_mask(s);

	if (r->last < lo || r->first > hi)
		return w;
	j = r->first <= lo ? 0 : ix_run_start(ld_relaxed(&n->sib), ix_slot_of(r->first, s));
	end = r->last >= hi ? ix_nslots(s) - 1 : ix_slot_of(r->last, s);
	while (j <= end) {
		uint64_t x = ld_relaxed(&n->slot[j]);
		unsigned e, len;
		uint64_t rlo, rhi;

		if (!x) {
			j++;
			continue;
		}
		e = ix_run_end(ld_relaxed(&n->sib), j);
		len = e - j;
		rlo = ix_slot_base(n, j);
		rhi = rlo + (((uint64_t)len << s) - 1);
		if (w_is_value(x)) {
			if (er_inside(r, rlo, rhi)) {
				clear_run_marks(n, j);
				branch_put_run(n, j, len, 0);
				r->erased++;
			}
		} else if (w_kind(x) == K_LEAF) {
			if (er_inside(r, rlo, rhi) || er_leaf(r, w_leaf(x))) {
				clear_run_marks(n, j);
				branch_put_run(n, j, len, 0);
				r->erased += w_leaf(x)->live;
				dc__ix_retire_leaf(r->ix, w_leaf(x));
			} else {
				sync_run_marks(n, j, x);
			}
		} else if (er_inside(r, w_branch(x)->base,
				     w_branch(x)->base | ix_span_mask(w_branch(x)->shift))) {
			clear_run_marks(n, j);
			branch_put_run(n, j, 1, 0);
			r->erased += retire_tree(r->ix, x);
		} else {
			uint64_t nw = er_branch(r, x, s);

			if (!nw) {
				clear_run_marks(n, j);
				branch_put_run(n, j, 1, 0);
				retire_branch(r->ix, w_branch(x));
			} else {
				if (nw != x) {
					st_release(&n->slot[j], nw);
					retire_branch(r->ix, w_branch(x));
				}
				sync_run_marks(n, j, nw);
			}
		}
		j = e;
	}

	/* n itself: empty, or a single child that takes its place, as in shrink. */
	if (!n->nr)
		return 0;
	if (n->nr & (n->nr - 1))
		return w;
	j = 0;
	while (!ld_relaxed(&n->slot[j]))
		j++;
	uint64_t x = ld_relaxed(&n->slot[j]);

	if (w_is_node(x) && ix_run_end(ld_relaxed(&n->sib), j) - j == n->nr)
		return w_kind(x) == K_LEAF ? x : branch_word(w_branch(x), ps);
	return w;
}

DC_API uint64_t dc_index_erase_range_locked(struct dc_index *ix, uint64_t first, uint64_t last)
{
	struct ix_erange r = { ix, first, last, 0 };
	uint64_t w = ld_relaxed(&ix->root);

	if (!w || first > last)
		return 0;
	if (w_kind(w) == K_LEAF) {
		if (er_leaf(&r, w_leaf(w))) {
			st_release(&ix->root, 0);
			r.erased += w_leaf(w)->live;
			dc__ix_retire_leaf(ix, w_leaf(w));
		}
	} else if (er_inside(&r, w_branch(w)->base,
			     w_branch(w)->base | ix_span_mask(w_branch(w)->shift))) {
		st_release(&ix->root, 0);
		r.erased += retire_tree(ix, w);
	} else {
		uint64_t nw = er_branch(&r, w, IX_ROOT_SHIFT);

		if (nw != w) {
			st_release(&ix->root, nw);
			retire_branch(ix, w_branch(w));
		}
	}
	add_count(ix, -(int64_t)r.erased);
	return r.erased;
}
