/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * store.c - the radix index's stores: dc_index_store_locked() (into a
 * leaf, a branch, or above a compressed branch, appending in place or
 * copying) and dc_index_replace_batch_locked() (new values for a sorted
 * batch in one walk).  Under the tree lock, as everything on the writer side.
 */
#include "index/index_int.h"

#include <string.h>

/* Whether slots [c, c + len) of @n are all empty. */
static bool slots_empty(struct ix_branch *n, unsigned c, unsigned len)
{
	for (unsigned j = c; j < c + len; j++)
		if (ld_relaxed(&n->slot[j]))
			return false;
	return true;
}

/*
 * Room for a leaf that a copy gives @n entries: exactly @n after an insert
 * in the middle (random keys; keeps the sparse figure), more after an
 * append that did not fit (sequential keys then append in place).
 */
static unsigned leaf_cap(unsigned n, bool appending)
{
	if (!appending)
		return n;
	return n < 4 ? 4 : n * 2 > IX_LEAF_MAX ? IX_LEAF_MAX : n * 2;
}

/* Replace the word of a whole run (or the root) with @w (same shape). */
static void at_publish(struct dc_index *ix, const struct ix_at *at, uint64_t w)
{
	if (!at->n) {
		st_release(&ix->root, w);
		return;
	}
	if (at->len > 1)
		seq_begin(at->n);
	for (unsigned j = at->c; j < at->c + at->len; j++)
		st_release(&at->n->slot[j], w);
	if (at->len > 1)
		seq_end(at->n);
}

/* Whether a live entry of @l overlaps [index, last]. */
static bool leaf_overlaps(struct ix_leaf *l, uint64_t index, uint64_t last)
{
	unsigned nr = ld_relaxed(&l->nr);

	for (unsigned q = 0; q < nr; q++)
		if (ix_leaf_key(l)[q] <= last && ix_ent_last(ix_leaf_key(l)[q], ix_leaf_order(l)[q]) >= index &&
		    ld_relaxed(&ix_leaf_val(l)[q]))
			return true;
	return false;
}

/* ---- store ----------------------------------------------------------------- */

static int enomem(void)
{
	return dc__fail(-ENOMEM, "index: out of memory for a node");
}

static int eexist(uint64_t index, unsigned order)
{
	return dc__fail(-EEXIST, "index: [%#" PRIx64 ", +2^%u) overlaps another entry", index, order);
}

/* Store into leaf @lw, which hangs at the end of @p (or is the root). */
static int leaf_store(struct dc_index *ix, struct ix_path *p, uint64_t lw, uint64_t index,
		      unsigned order, uint64_t value)
{
	struct ix_leaf *l = w_leaf(lw);
	unsigned nr = ld_relaxed(&l->nr);
	uint64_t last = ix_ent_last(index, order);
	struct ix_ent add = { index, value, (uint8_t)order, 0 }, e[IX_LEAF_MAX + 1];
	bool appending = ix_ent_last(ix_leaf_key(l)[nr - 1], ix_leaf_order(l)[nr - 1]) < index;
	unsigned n;

	if (appending) {
		if (nr < l->cap) {
			/*
			 * After every entry and room left: fill slot nr (its
			 * marks are clear), then publish it.  A reader that
			 * loaded the old nr does not look at it.
			 */
			ix_leaf_key(l)[nr] = index;
			ix_leaf_order(l)[nr] = (uint8_t)order;
			st_relaxed(&ix_leaf_val(l)[nr], value);
			st_release(&l->nr, (uint8_t)(nr + 1));
			l->live++;
			add_count(ix, 1);
			return 0;
		}
	} else {
		for (unsigned q = 0; q < nr; q++) {
			uint64_t k = ix_leaf_key(l)[q];
			unsigned o = ix_leaf_order(l)[q];
			uint64_t v = ld_relaxed(&ix_leaf_val(l)[q]);

			if (ix_ent_last(k, o) < index || k > last)
				continue;
			if (k == index && o == order) {
				/* Same range: replace (marks kept), or revive a tombstone. */
				st_release(&ix_leaf_val(l)[q], value);
				if (!v) {
					l->live++;
					add_count(ix, 1);
				}
				return 0;
			}
			if (v)
				return eexist(index, order);
		}
	}

	struct ix_at at = dc__ix_path_at(p);

	n = dc__ix_leaf_entries(l, &add, e);
	if (n <= IX_LEAF_MAX && !dense_block(e, n)) {
		unsigned cap = leaf_cap(n, appending);
		struct ix_leaf *nl = dc__ix_leaf_make(e, n, cap);

		if (!nl)
			return enomem();
		at_publish(ix, &at, leaf_word(nl));
		add_bytes(ix, (ptrdiff_t)ix_leaf_size(cap));
	} else if (!at.n) {
		uint64_t w;
		size_t bytes = 0;

		if (dc__ix_build_branch(e, n, IX_ROOT_SHIFT, &w, &bytes))
			return enomem();
		st_release(&ix->root, w);
		add_bytes(ix, (ptrdiff_t)bytes);
	} else {
		struct ix_out o;

		memset(&o, 0, sizeof(o));
		if (dc__ix_fill(at.n->shift, at.n->base, at.c, at.len, e, n, &o)) {
			dc__ix_out_free(&o);
			return enomem();
		}
		dc__ix_commit_block(ix, at.n, at.c, at.len, &o);
	}
	dc__ix_retire_leaf(ix, l);
	add_count(ix, 1);
	return 0;
}

/*
 * A dense neighbourhood: slot @i of branch @n (at shift 6) is next to a
 * shift-0 branch at least IX_DENSE_NEIGHBOUR full.  A new entry there gets
 * its own shift-0 branch at once: sequential dense stores then cost one
 * branch per 64 entries and nothing else.
 */
static bool dense_neighbour(struct ix_branch *n, unsigned i)
{
	for (int d = -1; d <= 1; d += 2) {
		unsigned j = i + (unsigned)d;
		uint64_t w;

		if (j >= IX_SLOTS)
			continue;
		w = ld_relaxed(&n->slot[j]);
		if (w_is_node(w) && w_kind(w) == K_PLAIN && w_branch(w)->nr >= IX_DENSE_NEIGHBOUR)
			return true;
	}
	return false;
}

/* A new shift-0 branch holding just [index, +2^order) (order < 6), unpublished. */
static struct ix_branch *small_branch(uint64_t index, unsigned order, uint64_t value)
{
	struct ix_branch *b = branch_alloc(0, index & ~(uint64_t)IX_MASK);

	if (b)
		branch_put_run(b, ix_slot_of(index, 0), 1u << order, value_word(value));
	return b;
}

/* A new leaf for a small entry in empty slot @i of @n: it takes the largest empty aligned block. */
static int branch_new_leaf(struct dc_index *ix, struct ix_branch *n, unsigned i, uint64_t index,
			   unsigned order, uint64_t value)
{
	struct ix_ent e = { index, value, (uint8_t)order, 0 };
	unsigned len = ix_nslots(n->shift);

	if (n->shift == IX_BITS && dense_neighbour(n, i)) {
		struct ix_branch *b = small_branch(index, order, value);

		if (!b)
			return enomem();
		/* b is not visible yet: its seq/release stores above were harmless. */
		branch_put_run(n, i, 1, branch_word(b, n->shift));
		add_bytes(ix, (ptrdiff_t)sizeof(*b));
		add_count(ix, 1);
		return 0;
	}

	struct ix_leaf *l = dc__ix_leaf_make(&e, 1, 1);

	if (!l)
		return enomem();
	while (len > 1 && !slots_empty(n, i & ~(len - 1), len))
		len /= 2;
	branch_put_run(n, i & ~(len - 1), len, leaf_word(l));
	add_bytes(ix, (ptrdiff_t)ix_leaf_size(1));
	add_count(ix, 1);
	return 0;
}

/* Store an entry of order in [s, s + 6) into branch @n. */
static int branch_store_value(struct dc_index *ix, struct ix_branch *n, uint64_t index,
			      unsigned order, uint64_t value)
{
	unsigned s = n->shift, i0 = ix_slot_of(index, s), len = 1u << (order - s), c, rlen;
	uint64_t w = ld_relaxed(&n->slot[i0]);

	if (!w) {
		if (len > 1 && !slots_empty(n, i0 + 1, len - 1))
			return eexist(index, order);
		branch_put_run(n, i0, len, value_word(value));
		add_count(ix, 1);
		return 0;
	}
	c = ix_run_start(ld_relaxed(&n->sib), i0);
	rlen = ix_run_end(ld_relaxed(&n->sib), c) - c;
	if (w_is_value(w)) {
		if (c != i0 || rlen != len)
			return eexist(index, order);
		/* Same range: replace the value in every slot, marks kept. */
		for (unsigned j = c; j < c + len; j++)
			st_release(&n->slot[j], value_word(value));
		return 0;
	}
	/*
	 * A branch child fills its slot; a leaf run no larger than the range
	 * lies inside it, and a leaf is never empty: both overlap.
	 */
	if (w_kind(w) != K_LEAF || rlen <= len)
		return eexist(index, order);

	/* A larger leaf run around the range: split it around the new value. */
	struct ix_leaf *l = w_leaf(w);
	struct ix_ent add = { index, value, (uint8_t)order, 0 }, e[IX_LEAF_MAX + 1];
	struct ix_out o;
	unsigned ne;

	if (leaf_overlaps(l, index, ix_ent_last(index, order)))
		return eexist(index, order);
	ne = dc__ix_leaf_entries(l, &add, e);
	memset(&o, 0, sizeof(o));
	if (dc__ix_fill(s, n->base, c, rlen, e, ne, &o)) {
		dc__ix_out_free(&o);
		return enomem();
	}
	dc__ix_commit_block(ix, n, c, rlen, &o);
	dc__ix_retire_leaf(ix, l);
	add_count(ix, 1);
	return 0;
}

/* @index is outside branch @n (at the end of @p): put a branch above n holding both. */
static int split_store(struct dc_index *ix, struct ix_path *p, struct ix_branch *n, uint64_t index,
		       unsigned order, uint64_t value)
{
	struct ix_at at = dc__ix_path_at(p);
	struct ix_branch *b;
	unsigned s, jn, i;

	if (n->base >= index && n->base <= ix_ent_last(index, order))
		return eexist(index, order); /* the new entry covers all of n */
	s = ix_msb64(index ^ n->base) / IX_BITS * IX_BITS;
	DC_BUG_ON(s + IX_BITS > at.ps);
	b = branch_alloc(s, index & ~ix_span_mask(s));
	if (!b)
		return enomem();
	jn = ix_slot_of(n->base, s);
	atomic_init(&b->slot[jn], branch_word(n, s));
	b->nr = 1;
	for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
		atomic_init(&b->marks[m], ld_relaxed(&n->marks[m]) ? UINT64_C(1) << jn : 0);
	i = ix_slot_of(index, s);
	if (order >= s) {
		branch_put_run(b, i, 1u << (order - s), value_word(value));
	} else if (s == IX_BITS && dense_neighbour(b, i)) {
		struct ix_branch *sb = small_branch(index, order, value);

		if (!sb) {
			free(b);
			return enomem();
		}
		branch_put_run(b, i, 1, branch_word(sb, s));
		add_bytes(ix, (ptrdiff_t)sizeof(*sb));
	} else {
		struct ix_ent e = { index, value, (uint8_t)order, 0 };
		struct ix_leaf *l = dc__ix_leaf_make(&e, 1, 1);
		unsigned len = ix_nslots(s);

		if (!l) {
			free(b);
			return enomem();
		}
		while (len > 1 && (ix_bits(jn, 1) & ix_bits(i & ~(len - 1), len)))
			len /= 2;
		branch_put_run(b, i & ~(len - 1), len, leaf_word(l));
		add_bytes(ix, (ptrdiff_t)ix_leaf_size(1));
	}
	/* b is not visible yet: its seq/release stores above were harmless. */
	at_publish(ix, &at, branch_word(b, at.ps));
	add_bytes(ix, (ptrdiff_t)sizeof(*b));
	add_count(ix, 1);
	return 0;
}

static int check_args(uint64_t index, unsigned order, uint64_t value)
{
	if (order > DC_INDEX_ORDER_MAX)
		return dc__fail(-EINVAL, "index: order %u above %u", order, DC_INDEX_ORDER_MAX);
	if (index & ((UINT64_C(1) << order) - 1))
		return dc__fail(-EINVAL, "index: %#" PRIx64 " not aligned to order %u", index, order);
	if (!value || value > DC_INDEX_VALUE_MAX)
		return dc__fail(-EINVAL, "index: value %#" PRIx64 " out of range", value);
	return 0;
}

DC_API int dc_index_store_locked(struct dc_index *ix, uint64_t index, unsigned order, uint64_t value)
{
	struct ix_path p;
	uint64_t w;
	int err = check_args(index, order, value);

	if (err)
		return err;
	p.depth = 0;
	w = ld_relaxed(&ix->root);
	for (;;) {
		if (!w) {
			/* Only the root is ever an empty word here. */
			struct ix_ent e = { index, value, (uint8_t)order, 0 };
			struct ix_leaf *l = dc__ix_leaf_make(&e, 1, 1);

			if (!l)
				return enomem();
			st_release(&ix->root, leaf_word(l));
			add_bytes(ix, (ptrdiff_t)ix_leaf_size(1));
			add_count(ix, 1);
			return 0;
		}
		if (w_kind(w) == K_LEAF)
			return leaf_store(ix, &p, w, index, order, value);

		struct ix_branch *n = w_branch(w);
		unsigned s = n->shift, i;

		if ((index ^ n->base) >> s >> IX_BITS)
			return split_store(ix, &p, n, index, order, value);
		if (order >= s + IX_BITS)
			return eexist(index, order); /* covers all of n, which is never empty */
		if (order >= s)
			return branch_store_value(ix, n, index, order, value);
		i = ix_slot_of(index, s);
		w = ld_relaxed(&n->slot[i]);
		if (!w)
			return branch_new_leaf(ix, n, i, index, order, value);
		if (w_is_value(w))
			return eexist(index, order);
		path_push(&p, n, i);
	}
}

/* ---- replace a batch (writer) ------------------------------------------- */

/*
 * One walk for a sorted batch: the branches on the way to the previous item
 * stay on a stack, and the next item climbs only to the deepest of them that
 * covers it (usually the one it is in: the next slot of the same branch),
 * then goes down from there.  Nothing changes shape, so the stack stays
 * good for the whole batch.  Each value changes as a replace by
 * dc_index_store_locked() changes it, with single-word release stores: a value
 * run slot by slot (its sibling bits stay, so a reader finds the old or the
 * new value, each with its own range), a leaf entry's value in place.
 */
DC_API unsigned dc_index_replace_batch_locked(struct dc_index *ix, const struct dc_index_item *items,
					 unsigned n)
{
	struct ix_branch *stk[IX_MAX_DEPTH], *b = NULL; /* b: stk[depth - 1] */
	struct ix_leaf *pl = NULL; /* the leaf of the previous leaf item, */
	int pq = -1;               /* and its position there */
	unsigned depth = 0, done = 0, s = IX_ROOT_SHIFT;
	uint64_t sib = 0; /* b's sibling bits (a replace does not change them) */

	for (unsigned k = 0; k < n; k++) {
		uint64_t first = items[k].first, v = items[k].value, w;
		unsigned order = items[k].order, i;

		if (v - 1 >= DC_INDEX_VALUE_MAX || order > DC_INDEX_ORDER_MAX ||
		    (first & ((UINT64_C(1) << order) - 1)))
			continue; /* a bad value (0 or too large), or never an entry's range */
		/* Climb to the deepest branch on the stack that covers @first. */
		while (depth && ((first ^ b->base) >> s >> IX_BITS)) {
			b = --depth ? stk[depth - 1] : NULL;
			s = b ? b->shift : IX_ROOT_SHIFT;
			sib = b ? ld_relaxed(&b->sib) : 0;
		}
		w = depth ? ld_relaxed(&b->slot[ix_slot_of(first, s)]) : ld_relaxed(&ix->root);
		/* And go down from there. */
		while (w_is_node(w) && w_kind(w) != K_LEAF) {
			struct ix_branch *c = w_branch(w);

			if ((first ^ c->base) >> c->shift >> IX_BITS)
				break; /* outside a compressed branch: nothing there */
			DC_BUG_ON(depth >= IX_MAX_DEPTH);
			stk[depth++] = b = c;
			s = c->shift;
			sib = ld_relaxed(&c->sib);
			w = ld_relaxed(&c->slot[ix_slot_of(first, s)]);
		}
		if (w_is_value(w)) {
			/* The root word is never a value: b is the branch holding it. */
			i = ix_slot_of(first, s);
			if (likely(order == s)) {
				/* One slot: the first of its run, and the run one slot long. */
				if (sib >> i & 3)
					continue;
			} else {
				unsigned e;

				if (order < s || order >= s + IX_BITS || (sib >> i & 1))
					continue; /* not the entry's order, or not its first slot */
				e = ix_run_end(sib, i);
				if (e - i != 1u << (order - s))
					continue;
				for (unsigned j = i + 1; j < e; j++)
					st_release(&b->slot[j], value_word(v));
			}
			st_release(&b->slot[i], value_word(v));
			done++;
		} else if (w_is_node(w) && w_kind(w) == K_LEAF) {
			struct ix_leaf *l = w_leaf(w);
			unsigned nr = ld_relaxed(&l->nr);
			int q;

			/* Items in one leaf usually come one entry after the other. */
			if (l == pl && (unsigned)(pq + 1) < nr && ix_leaf_key(l)[pq + 1] == first)
				q = pq + 1;
			else
				q = ix_leaf_pos(l, nr, first);
			if (q < 0 || ix_leaf_key(l)[q] != first || ix_leaf_order(l)[q] != order ||
			    !ld_relaxed(&ix_leaf_val(l)[q]))
				continue; /* not an entry's first index or order, or a tombstone */
			st_release(&ix_leaf_val(l)[q], v);
			pl = l;
			pq = q;
			done++;
		}
	}
	return done;
}
