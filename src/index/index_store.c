/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index_store.c - the radix index's writer side: node allocation and
 * retirement, building subtrees, store, erase, erase_range, replace_batch,
 * marks.  Everything here runs under the tree lock.  Design and
 * concurrency rules: index.c and index_int.h.
 */
#include "index/index_int.h"

#include <string.h>

/*
 * Tuning (docs/index.md, "Modification costs"):
 *   IX_DENSE_MIN        a leaf whose entries all lie in one 64-index block
 *                       becomes a shift-0 branch when a copy would hold this
 *                       many, so the rest of the block is in-place slot stores
 *   IX_DENSE_NEIGHBOUR  a new entry in an empty slot of a shift-6 branch gets
 *                       a shift-0 branch right away (not a leaf) when the
 *                       slot next to it holds a shift-0 branch at least this
 *                       full: sequential dense stores never go through leaves
 */
#define IX_DENSE_MIN 8
#define IX_DENSE_NEIGHBOUR 32

/* Bitmap with occupied slots (writer side). */
static uint64_t branch_occupied(struct ix_branch *n)
{
	uint64_t occ = 0;

	for (unsigned j = 0; j < IX_SLOTS; j++)
		if (ld_relaxed(&n->slot[j]))
			occ |= UINT64_C(1) << j;
	return occ;
}

/* Whether slots [c, c + len) of @n are all empty. */
static bool slots_empty(struct ix_branch *n, unsigned c, unsigned len)
{
	for (unsigned j = c; j < c + len; j++)
		if (ld_relaxed(&n->slot[j]))
			return false;
	return true;
}

/* ---- allocation and freeing ------------------------------------------- */

static struct ix_branch *branch_alloc(unsigned shift, uint64_t base)
{
	struct ix_branch *n = dc__calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	DC_BUG_ON(((uintptr_t)n & (W_VAL | W_KIND)) != 0);
	n->shift = (uint8_t)shift;
	n->base = base;
	return n;
}

/* A leaf with room for @cap >= @n entries holding @n from @e (sorted), marks from e[].marks. */
static struct ix_leaf *leaf_make(const struct ix_ent *e, unsigned n, unsigned cap)
{
	struct ix_leaf *l = dc__malloc(ix_leaf_size(cap));
	uint32_t marks[DC_INDEX_NR_MARKS] = { 0 };

	if (!l)
		return NULL;
	DC_BUG_ON(((uintptr_t)l & (W_VAL | W_KIND)) != 0);
	DC_BUG_ON(n == 0 || n > cap || cap > IX_LEAF_MAX);
	memset(l, 0, sizeof(*l));
	l->cap = (uint8_t)cap;
	atomic_init(&l->nr, (uint8_t)n);
	l->live = (uint8_t)n;
	for (unsigned q = 0; q < n; q++) {
		ix_leaf_key(l)[q] = e[q].key;
		atomic_init(&ix_leaf_val(l)[q], e[q].val);
		ix_leaf_order(l)[q] = e[q].order;
		for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
			if (e[q].marks & (1u << m))
				marks[m] |= UINT32_C(1) << q;
	}
	for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
		atomic_init(&l->marks[m], marks[m]);
	return l;
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

static void branch_free_rcu(struct rcu_head *h)
{
	dc__rcu_after_gp();
	free(container_of(h, struct ix_branch, rcu));
}

static void leaf_free_rcu(struct rcu_head *h)
{
	dc__rcu_after_gp();
	free(container_of(h, struct ix_leaf, rcu));
}

static void add_bytes(struct dc_index *ix, ptrdiff_t d)
{
	st_relaxed(&ix->bytes, ld_relaxed(&ix->bytes) + (size_t)d);
}

static void add_count(struct dc_index *ix, int64_t d)
{
	st_relaxed(&ix->count, ld_relaxed(&ix->count) + (uint64_t)d);
}

/*
 * Retirement.  A node unlinked from the tree goes on the index's retired
 * chain (through its rcu_head, which nothing else uses before call_rcu);
 * dc_index_unlock() hands the whole chain to RCU with a single call_rcu()
 * (dc__ix_flush()).  One call_rcu() per node would cost a queue operation
 * each and, whenever liburcu's worker thread sleeps, a futex wake-up and two
 * context switches per modification.  Nothing is handed over before the
 * unlock, so erase never allocates (the flush may, see there); holding the
 * nodes a little longer does not raise the peak: they are allocated anyway.
 */
static struct rcu_head *chain_next(struct rcu_head *h)
{
	return (struct rcu_head *)(void *)h->next.next;
}

static void retire(struct dc_index *ix, struct rcu_head *h, void (*fn)(struct rcu_head *))
{
	h->func = fn;
	h->next.next = (struct cds_wfcq_node *)(void *)ix->retired;
	ix->retired = h;
	ix->nretired++;
}

static void retire_leaf(struct dc_index *ix, struct ix_leaf *l)
{
	add_bytes(ix, -(ptrdiff_t)ix_leaf_size(l->cap));
	retire(ix, &l->rcu, leaf_free_rcu);
}

static void retire_branch(struct dc_index *ix, struct ix_branch *n)
{
	add_bytes(ix, -(ptrdiff_t)sizeof(*n));
	retire(ix, &n->rcu, branch_free_rcu);
}

/* A batch of retired nodes, handed to RCU as one. */
struct ix_batch {
	struct rcu_head rcu;
	struct rcu_head *chain;
};

static void free_chain(struct rcu_head *h)
{
	while (h) {
		struct rcu_head *next = chain_next(h);

		h->func(h);
		h = next;
	}
}

static void batch_free_rcu(struct rcu_head *h)
{
	struct ix_batch *b = container_of(h, struct ix_batch, rcu);

	dc__rcu_after_gp();
	free_chain(b->chain);
	free(b);
}

/*
 * Hand the retired chain to RCU: one node as itself, several under a small
 * batch header (if that cannot be allocated, node by node: never fails).
 * Called with the tree lock held, by dc_index_unlock().
 */
void dc__ix_flush(struct dc_index *ix)
{
	struct rcu_head *h = ix->retired;
	struct ix_batch *b;

	if (!h)
		return;
	ix->retired = NULL;
	ix->nretired = 0;
	if (chain_next(h) && (b = dc__malloc(sizeof(*b))) != NULL) {
		b->chain = h;
		dc__call_rcu(&b->rcu, batch_free_rcu);
		return;
	}
	while (h) {
		struct rcu_head *next = chain_next(h);

		dc__call_rcu(h, h->func);
		h = next;
	}
}

/* Free the retired chain now (destroy: no reader left). */
void dc__ix_free_retired(struct dc_index *ix)
{
	free_chain(ix->retired);
	ix->retired = NULL;
	ix->nretired = 0;
}

/* Free a subtree that no reader can see (never published, or destroy). */
void dc__ix_free_now(uint64_t w)
{
	if (!w_is_node(w))
		return;
	if (w_kind(w) == K_LEAF) {
		free(w_leaf(w));
		return;
	}
	struct ix_branch *n = w_branch(w);
	uint64_t sib = ld_relaxed(&n->sib);

	for (unsigned j = 0; j < IX_SLOTS; j++)
		if (!(sib >> j & 1))
			dc__ix_free_now(ld_relaxed(&n->slot[j]));
	free(n);
}

/* ---- sequence count (writer side) -------------------------------------- */

/*
 * A branch's seq is odd while the writer changes more than one slot or the
 * sibling bits.  Every store inside is a release store, so a reader that
 * sees one of them also sees the odd count when it reads seq again.
 */
static inline void seq_begin(struct ix_branch *n)
{
	st_relaxed(&n->seq, ld_relaxed(&n->seq) + 1);
}

static inline void seq_end(struct ix_branch *n)
{
	st_release(&n->seq, ld_relaxed(&n->seq) + 1);
}

/*
 * Set slots [c, c + len) of a published branch to @w as one run (or clear
 * them, w == 0), keeping nr and the sibling bits right.  The slots must have
 * been empty (w != 0) or be exactly one run (w == 0).
 */
static inline void branch_put_run(struct ix_branch *n, unsigned c, unsigned len, uint64_t w)
{
	uint64_t inner = ix_bits(c, len) & ~ix_bits(c, 1);
	uint64_t sib = ld_relaxed(&n->sib);

	if (len == 1) {
		/* One slot: the sibling bits do not change (bit c is clear). */
		st_release(&n->slot[c], w);
		n->nr = (uint8_t)(w ? n->nr + 1 : n->nr - 1);
		return;
	}
	seq_begin(n);
	for (unsigned j = c; j < c + len; j++)
		st_release(&n->slot[j], w);
	st_release(&n->sib, w ? sib | inner : sib & ~inner);
	seq_end(n);
	n->nr = (uint8_t)(w ? n->nr + len : n->nr - len);
}

/* ---- where a word hangs: a run of a branch, or the root ---------------- */

struct ix_at {
	struct ix_branch *n; /* NULL: the root */
	unsigned c, len;     /* the run in n */
	unsigned ps;         /* shift of n (IX_ROOT_SHIFT for the root) */
};

static struct ix_at path_at(const struct ix_path *p)
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

/*
 * Record slot @i of @n on the path.  A branch child fills a one-slot run, so
 * @i is its run; the last level (a leaf or value run) is set to the first
 * slot of its run where that matters (locate(), path_at()).
 */
static void path_push(struct ix_path *p, struct ix_branch *n, unsigned i)
{
	DC_BUG_ON(p->depth >= IX_MAX_DEPTH);
	p->node[p->depth] = n;
	p->slot[p->depth] = i;
	p->depth++;
}

/* ---- building new subtrees (writer) ------------------------------------ */

/* Words for (part of) a branch, built before they are published. */
struct ix_out {
	uint64_t w[IX_SLOTS];
	uint64_t sib;
	uint64_t marks[DC_INDEX_NR_MARKS];
	unsigned nr;  /* slots filled */
	size_t bytes; /* bytes of the nodes allocated */
};

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
static void out_free(struct ix_out *o)
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

static int build_branch(const struct ix_ent *e, unsigned n, unsigned ps, uint64_t *wp,
			size_t *bytes);

/*
 * Whether small sorted entries @e should become a shift-0 branch rather than
 * a leaf: enough of them, all in one 64-index block (so the rest of the
 * block will be single in-place slot stores, and a leaf would be copied on
 * nearly every one of them).  Sparse keys almost never meet this.
 */
static bool dense_block(const struct ix_ent *e, unsigned n)
{
	return n >= IX_DENSE_MIN &&
	       e[0].key >> IX_BITS == ix_ent_last(e[n - 1].key, e[n - 1].order) >> IX_BITS;
}

/*
 * Fill the block [c, c + len) of a branch at shift @s and base @nbase with
 * the sorted entries @e (all inside the block): a value run for an entry of
 * order >= s that is the whole block, one leaf for up to IX_LEAF_MAX small
 * entries (unless dense_block()), a new branch below for more in a single
 * slot, else split the block in halves.
 * Return: 0 or -ENOMEM (what was allocated is in @o; out_free() it).
 */
static int fill(unsigned s, uint64_t nbase, unsigned c, unsigned len, const struct ix_ent *e,
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
		struct ix_leaf *l = leaf_make(e, n, n);

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
		err = build_branch(e, n, s, &w, &o->bytes);
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
	err = fill(s, nbase, c, half, e, k, o);
	if (err)
		return err;
	return fill(s, nbase, c + half, half, e + k, n - k, o);
}

/*
 * A new subtree for @n > IX_LEAF_MAX (or dense_block()) sorted entries that
 * all lie in one slot of a branch at shift @ps: a branch at the highest
 * level where they differ.
 * Return: 0 with the word in *wp, or -ENOMEM having freed everything.
 */
static int build_branch(const struct ix_ent *e, unsigned n, unsigned ps, uint64_t *wp,
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
	err = fill(s, b->base, 0, ix_nslots(s), e, n, &o);
	if (err) {
		out_free(&o);
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
 * Publish a block [c, c + len) of live branch @n that fill() rebuilt.  The
 * block's entries are the same as before plus at most one new unmarked one,
 * so @n's marks as a whole do not change and nothing above it is touched.
 * New mark bits go in before the words and stale ones go after, so a reader
 * never finds fewer marks than there are.
 */
static void commit_block(struct dc_index *ix, struct ix_branch *n, unsigned c, unsigned len,
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
static unsigned leaf_entries(struct ix_leaf *l, const struct ix_ent *add, struct ix_ent *e)
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

	struct ix_at at = path_at(p);

	n = leaf_entries(l, &add, e);
	if (n <= IX_LEAF_MAX && !dense_block(e, n)) {
		unsigned cap = leaf_cap(n, appending);
		struct ix_leaf *nl = leaf_make(e, n, cap);

		if (!nl)
			return enomem();
		at_publish(ix, &at, leaf_word(nl));
		add_bytes(ix, (ptrdiff_t)ix_leaf_size(cap));
	} else if (!at.n) {
		uint64_t w;
		size_t bytes = 0;

		if (build_branch(e, n, IX_ROOT_SHIFT, &w, &bytes))
			return enomem();
		st_release(&ix->root, w);
		add_bytes(ix, (ptrdiff_t)bytes);
	} else {
		struct ix_out o;

		memset(&o, 0, sizeof(o));
		if (fill(at.n->shift, at.n->base, at.c, at.len, e, n, &o)) {
			out_free(&o);
			return enomem();
		}
		commit_block(ix, at.n, at.c, at.len, &o);
	}
	retire_leaf(ix, l);
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

	struct ix_leaf *l = leaf_make(&e, 1, 1);

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
	ne = leaf_entries(l, &add, e);
	memset(&o, 0, sizeof(o));
	if (fill(s, n->base, c, rlen, e, ne, &o)) {
		out_free(&o);
		return enomem();
	}
	commit_block(ix, n, c, rlen, &o);
	retire_leaf(ix, l);
	add_count(ix, 1);
	return 0;
}

/* @index is outside branch @n (at the end of @p): put a branch above n holding both. */
static int split_store(struct dc_index *ix, struct ix_path *p, struct ix_branch *n, uint64_t index,
		       unsigned order, uint64_t value)
{
	struct ix_at at = path_at(p);
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
		struct ix_leaf *l = leaf_make(&e, 1, 1);
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
			struct ix_leaf *l = leaf_make(&e, 1, 1);

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

/* ---- erase and marks (writer) ------------------------------------------ */

/*
 * Find the entry covering @index, with the branches on the way in @p.
 * Return: 0 (none); a leaf word with the entry at *pos; or a value, which
 * then sits in the run that starts at p->slot[p->depth - 1].
 */
static uint64_t locate(struct dc_index *ix, uint64_t index, struct ix_path *p, int *pos)
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
static void mark_clear_up(struct ix_path *p, int d, unsigned m)
{
	for (; d >= 0; d--) {
		struct ix_branch *n = p->node[d];
		uint64_t now = ld_relaxed(&n->marks[m]) & ~(UINT64_C(1) << p->slot[d]);

		st_release(&n->marks[m], now);
		if (now)
			break;
	}
}

static void leaf_clear_mark(struct ix_path *p, struct ix_leaf *l, int q, unsigned m)
{
	uint32_t old = ld_relaxed(&l->marks[m]), bit = UINT32_C(1) << q;

	if (!(old & bit))
		return;
	st_release(&l->marks[m], old & ~bit);
	if (old == bit)
		mark_clear_up(p, (int)p->depth - 1, m);
}

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
	uint64_t w = locate(ix, index, &p, &q), v;

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
					mark_clear_up(&p, (int)p.depth - 1, m);
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
		leaf_clear_mark(&p, l, q, m);
	st_release(&ix_leaf_val(l)[q], 0); /* a tombstone */
	l->live--;
	add_count(ix, -1);
	if (!l->live) {
		struct ix_at at = path_at(&p);

		if (!at.n)
			st_release(&ix->root, 0);
		else
			branch_put_run(at.n, at.c, at.len, 0);
		retire_leaf(ix, l);
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

		retire_leaf(ix, l);
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
				retire_leaf(r->ix, w_leaf(x));
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
			retire_leaf(ix, w_leaf(w));
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

static int mark_op(struct dc_index *ix, uint64_t index, unsigned mark, bool set)
{
	struct ix_path p;
	int q;
	uint64_t w;

	if (mark >= DC_INDEX_NR_MARKS)
		return dc__fail(-EINVAL, "index: mark %u out of range", mark);
	w = locate(ix, index, &p, &q);
	if (!w)
		return dc__fail(-ENOENT, "index: no entry at %#" PRIx64, index);
	if (w_is_value(w)) {
		struct ix_branch *n = p.node[p.depth - 1];
		bool has = ld_relaxed(&n->marks[mark]) >> p.slot[p.depth - 1] & 1;

		if (set && !has)
			mark_set_up(&p, (int)p.depth - 1, mark);
		else if (!set && has)
			mark_clear_up(&p, (int)p.depth - 1, mark);
		return 0;
	}

	struct ix_leaf *l = w_leaf(w);
	uint32_t old = ld_relaxed(&l->marks[mark]);

	if (!set) {
		leaf_clear_mark(&p, l, q, mark);
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

