/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * build.c - building new subtrees before they are published: a block of
 * a branch refilled from sorted entries (dc__ix_fill(), dc__ix_build_branch()),
 * its publication (dc__ix_commit_block()), and the live entries of a leaf
 * that a copy starts from (dc__ix_leaf_entries()).  Used by store.c.
 */
#include "index/index_int.h"

#include <string.h>

/* Bitmap with occupied slots (writer side). */
static uint64_t branch_occupied(struct ix_branch *n)
{
	uint64_t occ = 0;

	for (unsigned j = 0; j < IX_SLOTS; j++)
		if (ld_relaxed(&n->slot[j]))
			occ |= UINT64_C(1) << j;
	return occ;
}

static void out_run(struct ix_out *o, unsigned c, unsigned len, uint64_t w, unsigned marks)
{
	for (unsigned j = c; j < c + len; j++)
		o->w[j] = w;
	o->sib |= ix_bits(c, len) & ~ix_bits(c, 1);
	for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
		if (marks & (1u << m))
			o->marks[m] |= UINT64_C(1) << c;
	o->nr += len;
}

/* Free what an unfinished build allocated. */
void dc__ix_out_free(struct ix_out *o)
{
	for (unsigned j = 0; j < IX_SLOTS; j++)
		if (!(o->sib >> j & 1))
			dc__ix_free_now(o->w[j]);
}

static unsigned ents_marks(const struct ix_ent *e, unsigned n)
{
	unsigned mk = 0;

	for (unsigned k = 0; k < n; k++)
		mk |= e[k].marks;
	return mk;
}

/*
 * Fill the block [c, c + len) of a branch at shift @s and base @nbase with
 * the sorted entries @e (all inside the block): a value run for an entry of
 * order >= s that is the whole block, one leaf for up to IX_LEAF_MAX small
 * entries (unless dense_block()), a new branch below for more in a single
 * slot, else split the block in halves.
 * Return: 0 or -ENOMEM (what was allocated is in @o; dc__ix_out_free() it).
 */
int dc__ix_fill(unsigned s, uint64_t nbase, unsigned c, unsigned len, const struct ix_ent *e,
		unsigned n, struct ix_out *o)
{
	bool big = false;

	if (!n)
		return 0;
	if (n == 1 && e[0].order == s + ix_ctz64(len)) {
		out_run(o, c, len, value_word(e[0].val), e[0].marks);
		return 0;
	}
	for (unsigned k = 0; k < n; k++)
		big |= e[k].order >= s;
	if (!big && n <= IX_LEAF_MAX && !dense_block(e, n)) {
		struct ix_leaf *l = dc__ix_leaf_make(e, n, n);

		if (!l)
			return -ENOMEM;
		o->bytes += ix_leaf_size(n);
		out_run(o, c, len, leaf_word(l), ents_marks(e, n));
		return 0;
	}
	if (len == 1) {
		uint64_t w;
		int err;

		/* Two entries in one slot with one as large as the slot would overlap. */
		DC_BUG_ON(big);
		err = dc__ix_build_branch(e, n, s, &w, &o->bytes);
		if (err)
			return err;
		out_run(o, c, 1, w, ents_marks(e, n));
		return 0;
	}

	unsigned half = len / 2, k = 0;
	uint64_t mid = nbase + ((uint64_t)(c + half) << s);
	int err;

	while (k < n && e[k].key < mid)
		k++;
	err = dc__ix_fill(s, nbase, c, half, e, k, o);
	if (err)
		return err;
	return dc__ix_fill(s, nbase, c + half, half, e + k, n - k, o);
}

/*
 * A new subtree for @n > IX_LEAF_MAX (or dense_block()) sorted entries that
 * all lie in one slot of a branch at shift @ps: a branch at the highest
 * level where they differ.
 * Return: 0 with the word in *wp, or -ENOMEM having freed everything.
 */
int dc__ix_build_branch(const struct ix_ent *e, unsigned n, unsigned ps, uint64_t *wp,
			size_t *bytes)
{
	struct ix_out o;
	struct ix_branch *b;
	uint64_t diff = 0;
	unsigned s;
	int err;

	for (unsigned k = 1; k < n; k++)
		diff |= e[k].key ^ e[0].key;
	DC_BUG_ON(!diff);
	s = ix_msb64(diff) / IX_BITS * IX_BITS;
	DC_BUG_ON(s + IX_BITS > ps);
	b = branch_alloc(s, e[0].key & ~ix_span_mask(s));
	if (!b)
		return -ENOMEM;
	memset(&o, 0, sizeof(o));
	err = dc__ix_fill(s, b->base, 0, ix_nslots(s), e, n, &o);
	if (err) {
		dc__ix_out_free(&o);
		free(b);
		return err;
	}
	for (unsigned j = 0; j < IX_SLOTS; j++)
		atomic_init(&b->slot[j], o.w[j]);
	atomic_init(&b->sib, o.sib);
	for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
		atomic_init(&b->marks[m], o.marks[m]);
	b->nr = (uint8_t)o.nr;
	*bytes += sizeof(*b) + o.bytes;
	*wp = branch_word(b, ps);
	return 0;
}

/*
 * Publish a block [c, c + len) of live branch @n that dc__ix_fill() rebuilt.  The
 * block's entries are the same as before plus at most one new unmarked one,
 * so @n's marks as a whole do not change and nothing above it is touched.
 * New mark bits go in before the words and stale ones go after, so a reader
 * never finds fewer marks than there are.
 */
void dc__ix_commit_block(struct dc_index *ix, struct ix_branch *n, unsigned c, unsigned len,
			 struct ix_out *o)
{
	uint64_t blk = ix_bits(c, len);
	unsigned old_nr = (unsigned)__builtin_popcountll(branch_occupied(n) & blk);

	for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
		st_release(&n->marks[m], ld_relaxed(&n->marks[m]) | (o->marks[m] & blk));
	seq_begin(n);
	for (unsigned j = c; j < c + len; j++)
		st_release(&n->slot[j], o->w[j]);
	st_release(&n->sib, (ld_relaxed(&n->sib) & ~blk) | (o->sib & blk));
	seq_end(n);
	for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
		st_release(&n->marks[m], ld_relaxed(&n->marks[m]) & ~(blk & ~o->marks[m]));
	n->nr = (uint8_t)(n->nr - old_nr + o->nr);
	add_bytes(ix, (ptrdiff_t)o->bytes);
}

/* The live entries of @l, plus @add (if not NULL) in order. */
unsigned dc__ix_leaf_entries(struct ix_leaf *l, const struct ix_ent *add, struct ix_ent *e)
{
	unsigned n = 0, nr = ld_relaxed(&l->nr);
	bool added = !add;

	for (unsigned q = 0; q < nr; q++) {
		uint64_t v = ld_relaxed(&ix_leaf_val(l)[q]);
		unsigned mk = 0;

		if (!v)
			continue;
		if (!added && add->key < ix_leaf_key(l)[q]) {
			e[n++] = *add;
			added = true;
		}
		for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
			if (ld_relaxed(&l->marks[m]) >> q & 1)
				mk |= 1u << m;
		e[n++] = (struct ix_ent){ ix_leaf_key(l)[q], v, ix_leaf_order(l)[q], (uint8_t)mk };
	}
	if (!added)
		e[n++] = *add;
	return n;
}
