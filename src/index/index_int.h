/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index_int.h - the radix index's node layout and the helpers its files
 * share.  Not installed.  The index is a layer of its own: it uses base/
 * and include/daxcore/ only, never the mapping layer above it.
 *
 *   index.c   design overview; life cycle, lock, the locking API shell
 *   load.c    lockless point reads: load, load_entry, get_mark
 *   find.c    lockless find and find_marked
 *   gather.c  lockless gather of a range
 *   node.c    node allocation, retirement, the RCU batch, freeing
 *   path.c    a writer's walk: locate an entry, name the run a word hangs in
 *   build.c   building subtrees before they are published (copy on write)
 *   store.c   store, and replace_batch
 *   erase.c   erase, erase_range, shrinking what they leave
 *   mark.c    set and clear marks, and their propagation up a path
 *   check.c   dc_index_check(): invariants and dumps
 *
 * Hot paths (load, gather, store, erase, replace_batch) rely on the static
 * inline helpers below being inlined; the dc__ix_ functions are the ones
 * the compiler kept out of line when all of this was one file.
 */
#ifndef DC_INDEX_INDEX_INT_H
#define DC_INDEX_INDEX_INT_H

#include "base/base.h"
#include "base/rcu.h"

#include <daxcore/index.h>
#include <inttypes.h>
#include <pthread.h>

#define IX_BITS 6
#define IX_SLOTS 64
#define IX_MASK 63
/* The root word behaves as the one slot of a branch at shift 66. */
#define IX_ROOT_SHIFT 66
/* Branches on one path: shifts 60, 54, ..., 0. */
#define IX_MAX_DEPTH 11
/* Entries a leaf holds before it splits (its marks are 32-bit words). */
#define IX_LEAF_MAX 32

/*
 * A slot word (and the root word), 64 bits:
 *   0                        empty
 *   bit 63 set               a value: bits 0..62 are the value (1 ..
 *                            DC_INDEX_VALUE_MAX; the word 2^63 alone is
 *                            never stored)
 *   bit 63 clear, not 0      a node: the address of one of our own nodes
 *                            (allocated 8-byte aligned, user addresses below
 *                            2^63) plus its kind in bits 0..2, so the word
 *                            points into the node and LeakSanitizer (which
 *                            follows interior pointers) sees the tree:
 *     K_PLAIN  (0) a branch whose shift is the holder's shift - 6 and whose
 *              base is the slot's first index: the word is the plain
 *              address, and a lookup goes on without reading its header
 *              (the common, dense case stays one load a level);
 *     K_SKIP   (1) a branch further down (path compression): a lookup
 *              checks the index against its base and takes its shift from
 *              its header;
 *     K_LEAF   (2) a leaf.
 * So a word read as int64_t is > 0 for a node, < 0 for a value, 0 if empty.
 * Leaves keep their values as they are (their own array, 0 a tombstone).
 */
#define W_VAL (UINT64_C(1) << 63)
#define W_KIND UINT64_C(7)
#define W_PTR (~(W_VAL | W_KIND))
enum { K_PLAIN = 0, K_SKIP = 1, K_LEAF = 2 };

/*
 * A branch: 64 slots, each covering 2^shift indexes from base + j << shift.
 * Slots are grouped in runs, aligned blocks of 2^k slots with the same word:
 * a value run (an entry of order shift + k), a leaf run (a leaf whose entries
 * all lie in the block and have orders < shift), or a single slot with a
 * child branch.  Sibling bit j is set when slot j continues the run of slot
 * j - 1.  Mark bit j (per mark) is set only on a run's first slot: for a
 * value, the entry's mark; for a child, "some entry below has the mark".
 * Header: 64 bytes; slots follow.
 */
struct ix_branch {
	uint8_t shift;           /* 0, 6, ..., 60; immutable */
	uint8_t nr;              /* non-empty slots; writer only */
	uint16_t unused;
	_Atomic uint32_t seq;    /* odd while a writer reshapes runs */
	uint64_t base;           /* first index covered; immutable */
	_Atomic uint64_t sib;    /* sibling bits */
	_Atomic uint64_t marks[DC_INDEX_NR_MARKS];
	struct rcu_head rcu;
	_Atomic uint64_t slot[IX_SLOTS];
};

/*
 * A leaf: nr entries sorted by first index, disjoint, in room for cap:
 * cap orders (next to the header, on its cache line), cap keys, cap values.
 * Keys and orders never change once published, and cap never does.  An
 * entry is added in place only at the end (its key after every other
 * entry's range, nr < cap): the writer fills slot nr, then publishes nr + 1
 * with a release store; a reader bounds its scan by the nr it loaded (with
 * acquire).  Any other insertion publishes a copy.  A value changes in
 * place (replace), becomes 0 on erase (a tombstone that the next copy
 * drops) and may be revived with the same key and order.
 */
struct ix_leaf {
	_Atomic uint8_t nr; /* entries, tombstones included; grows only by append */
	uint8_t cap;        /* room for entries; immutable */
	uint8_t live;       /* entries with a value; writer only */
	uint8_t unused;
	_Atomic uint32_t marks[DC_INDEX_NR_MARKS]; /* bit q: entry q has the mark */
	struct rcu_head rcu;
	uint8_t ord[] __attribute__((aligned(8)));
};

_Static_assert(__builtin_offsetof(struct ix_branch, slot) == 64, "branch header is one line");
_Static_assert(sizeof(struct ix_branch) == 576, "branch size (docs/index.md)");
_Static_assert(sizeof(struct ix_leaf) == 32, "leaf header size (docs/index.md)");

struct dc_index {
	_Atomic uint64_t root;
	/* Writer-side state on its own line, away from the readers' root. */
	pthread_mutex_t lock DC_ALIGNED_CL;
	_Atomic uint64_t count;
	_Atomic size_t bytes;
	/*
	 * Nodes unlinked under the lock, not yet handed to RCU: chained through
	 * their rcu_head (next.next), each head's func already its free
	 * function.  dc_index_unlock() hands the whole chain over with one
	 * call_rcu() (node.c: dc__ix_flush()).
	 */
	struct rcu_head *retired;
	unsigned nretired;
};

/* An entry while a writer rebuilds part of the tree. */
struct ix_ent {
	uint64_t key, val;
	uint8_t order, marks;
};

/* The branches a writer walked through, and the run it took in each. */
struct ix_path {
	unsigned depth;
	struct ix_branch *node[IX_MAX_DEPTH];
	unsigned slot[IX_MAX_DEPTH]; /* first slot of the run taken in node[d] */
};

/* Layout after the header: cap orders (padded to 8 bytes), cap keys, cap values. */
static inline size_t ix_leaf_size(unsigned cap)
{
	return sizeof(struct ix_leaf) + ((cap + 7) & ~7u) + 16 * (size_t)cap;
}

static inline uint8_t *ix_leaf_order(struct ix_leaf *l)
{
	return l->ord;
}

static inline const uint8_t *ix_leaf_order_c(const struct ix_leaf *l)
{
	return l->ord;
}

static inline uint64_t *ix_leaf_key(struct ix_leaf *l)
{
	return (uint64_t *)(l->ord + ((l->cap + 7) & ~7u));
}

static inline const uint64_t *ix_leaf_key_c(const struct ix_leaf *l)
{
	return (const uint64_t *)(l->ord + ((l->cap + 7) & ~7u));
}

static inline _Atomic uint64_t *ix_leaf_val(struct ix_leaf *l)
{
	return (_Atomic uint64_t *)(ix_leaf_key(l) + l->cap);
}

/* The published entries of @l: readers and the writer alike. */
static inline unsigned ix_leaf_nr(struct ix_leaf *l)
{
	return ld_acquire(&l->nr);
}

static inline bool w_is_value(uint64_t w)
{
	return (int64_t)w < 0;
}

static inline bool w_is_node(uint64_t w)
{
	return (int64_t)w > 0;
}

/* The value of a value word (0 for an empty word). */
static inline uint64_t w_value(uint64_t w)
{
	return w & ~W_VAL;
}

/* The word for value @v (1 .. DC_INDEX_VALUE_MAX) in a slot. */
static inline uint64_t value_word(uint64_t v)
{
	return v | W_VAL;
}

static inline unsigned w_kind(uint64_t w)
{
	return (unsigned)(w & W_KIND);
}

static inline struct ix_branch *w_branch(uint64_t w)
{
	return (struct ix_branch *)(uintptr_t)(w & W_PTR);
}

static inline struct ix_leaf *w_leaf(uint64_t w)
{
	return (struct ix_leaf *)(uintptr_t)(w & W_PTR);
}

static inline uint64_t leaf_word(struct ix_leaf *l)
{
	return (uintptr_t)l | K_LEAF;
}

/* The word for branch @b held by a slot of a branch at shift @ps. */
static inline uint64_t branch_word(struct ix_branch *b, unsigned ps)
{
	return (uintptr_t)b | ((unsigned)b->shift + IX_BITS == ps ? K_PLAIN : K_SKIP);
}

/* Index bits below a branch at shift @s: it covers base | [0, mask]. */
static inline uint64_t ix_span_mask(unsigned s)
{
	return ((UINT64_C(1) << s) << IX_BITS) - 1;
}

/* Slots a branch at shift @s uses: the top one (shift 60) covers 2^64 with 16. */
static inline unsigned ix_nslots(unsigned s)
{
	return s + IX_BITS > 64 ? 1u << (64 - s) : IX_SLOTS;
}

/* Bits [c, c + len) of a 64-bit map. */
static inline uint64_t ix_bits(unsigned c, unsigned len)
{
	return (len >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << len) - 1) << c;
}

/* First slot of the run holding slot @i (sibling bit 0 is never set). */
static inline unsigned ix_run_start(uint64_t sib, unsigned i)
{
	uint64_t heads = ~sib & (i == 63 ? ~UINT64_C(0) : (UINT64_C(2) << i) - 1);

	return heads ? 63 - (unsigned)__builtin_clzll(heads) : 0;
}

/* One past the last slot of the run starting at @c. */
static inline unsigned ix_run_end(uint64_t sib, unsigned c)
{
	uint64_t heads = c == 63 ? 0 : ~sib & ~((UINT64_C(2) << c) - 1);

	return heads ? (unsigned)__builtin_ctzll(heads) : 64;
}

static inline uint64_t ix_max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static inline unsigned ix_msb64(uint64_t x)
{
	return 63 - (unsigned)__builtin_clzll(x);
}

static inline unsigned ix_ctz64(uint64_t x)
{
	return (unsigned)__builtin_ctzll(x);
}

/* The last index of the range [@index, @index + 2^@order). */
static inline uint64_t ix_ent_last(uint64_t index, unsigned order)
{
	return index + ((UINT64_C(1) << order) - 1);
}

static inline unsigned ix_slot_of(uint64_t index, unsigned shift)
{
	return (unsigned)(index >> shift) & IX_MASK;
}

static inline uint64_t ix_slot_base(const struct ix_branch *n, unsigned j)
{
	return n->base + ((uint64_t)j << n->shift);
}

/* The entry among the first @nr of leaf @l covering @index: its position, or -1. */
static inline int ix_leaf_pos(const struct ix_leaf *l, unsigned nr, uint64_t index)
{
	const uint64_t *key = ix_leaf_key_c(l);
	unsigned lo = 0, hi = nr;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (key[mid] <= index)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -1;
	lo--;
	if ((index - key[lo]) >> l->ord[lo])
		return -1;
	return (int)lo;
}

/* ---- read side (load.c, find.c, gather.c) ----------------------------- */

/* An entry found by a reader. */
struct ix_hit {
	uint64_t v, first;
	unsigned order;
};

static inline void value_hit(struct ix_branch *n, uint64_t v, unsigned c, unsigned len,
			     struct ix_hit *h)
{
	h->v = w_value(v);
	h->first = ix_slot_base(n, c);
	h->order = n->shift + ix_ctz64(len);
}

/* Read slot @j of @n with its run [*c, *c + *len), consistently (load.c). */
uint64_t dc__ix_branch_read_run(struct ix_branch *n, unsigned j, unsigned *c, unsigned *len);

/* ---- writer side: everything below runs under the tree lock ------------- */

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

/* The byte and entry counters: the writer adds, readers load them relaxed. */
static inline void add_bytes(struct dc_index *ix, ptrdiff_t d)
{
	st_relaxed(&ix->bytes, ld_relaxed(&ix->bytes) + (size_t)d);
}

static inline void add_count(struct dc_index *ix, int64_t d)
{
	st_relaxed(&ix->count, ld_relaxed(&ix->count) + (uint64_t)d);
}

/* ---- nodes (node.c) ------------------------------------------------------ */

/* A new, empty, unpublished branch at @shift covering from @base. */
static inline struct ix_branch *branch_alloc(unsigned shift, uint64_t base)
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
struct ix_leaf *dc__ix_leaf_make(const struct ix_ent *e, unsigned n, unsigned cap);
/* RCU callback freeing a branch (its rcu_head). */
void dc__ix_branch_free_rcu(struct rcu_head *h);
/* Retire leaf @l, already unlinked (node.c: "Retirement"). */
void dc__ix_retire_leaf(struct dc_index *ix, struct ix_leaf *l);
/* Hand the retired chain to RCU (dc_index_unlock()). */
void dc__ix_flush(struct dc_index *ix);
/* Free the retired chain now (destroy: no reader left). */
void dc__ix_free_retired(struct dc_index *ix);
/* Free a subtree that no reader can see (never published, or destroy). */
void dc__ix_free_now(uint64_t w);

/* Put node @h on the retired chain, to be freed by @fn (node.c: "Retirement"). */
static inline void retire(struct dc_index *ix, struct rcu_head *h, void (*fn)(struct rcu_head *))
{
	h->func = fn;
	h->next.next = (struct cds_wfcq_node *)(void *)ix->retired;
	ix->retired = h;
	ix->nretired++;
}

/* Retire branch @n, already unlinked. */
static inline void retire_branch(struct dc_index *ix, struct ix_branch *n)
{
	add_bytes(ix, -(ptrdiff_t)sizeof(*n));
	retire(ix, &n->rcu, dc__ix_branch_free_rcu);
}

/* ---- sequence count and runs (writer side) ------------------------------ */

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

/* ---- where a word hangs: a run of a branch, or the root (path.c) -------- */

struct ix_at {
	struct ix_branch *n; /* NULL: the root */
	unsigned c, len;     /* the run in n */
	unsigned ps;         /* shift of n (IX_ROOT_SHIFT for the root) */
};

/*
 * Record slot @i of @n on the path.  A branch child fills a one-slot run, so
 * @i is its run; the last level (a leaf or value run) is set to the first
 * slot of its run where that matters (dc__ix_locate(), dc__ix_path_at()).
 */
static inline void path_push(struct ix_path *p, struct ix_branch *n, unsigned i)
{
	DC_BUG_ON(p->depth >= IX_MAX_DEPTH);
	p->node[p->depth] = n;
	p->slot[p->depth] = i;
	p->depth++;
}

/* Where the word at the end of @p hangs: the whole run, or the root. */
struct ix_at dc__ix_path_at(const struct ix_path *p);
/* Find the entry covering @index, with the branches on the way in @p. */
uint64_t dc__ix_locate(struct dc_index *ix, uint64_t index, struct ix_path *p, int *pos);

/* ---- building new subtrees (build.c) ------------------------------------ */

/* Words for (part of) a branch, built before they are published. */
struct ix_out {
	uint64_t w[IX_SLOTS];
	uint64_t sib;
	uint64_t marks[DC_INDEX_NR_MARKS];
	unsigned nr;  /* slots filled */
	size_t bytes; /* bytes of the nodes allocated */
};

/*
 * Whether small sorted entries @e should become a shift-0 branch rather than
 * a leaf: enough of them, all in one 64-index block (so the rest of the
 * block will be single in-place slot stores, and a leaf would be copied on
 * nearly every one of them).  Sparse keys almost never meet this.
 */
static inline bool dense_block(const struct ix_ent *e, unsigned n)
{
	return n >= IX_DENSE_MIN &&
	       e[0].key >> IX_BITS == ix_ent_last(e[n - 1].key, e[n - 1].order) >> IX_BITS;
}

/* Fill block [c, c + len) of a branch at shift @s, base @nbase, into @o. */
int dc__ix_fill(unsigned s, uint64_t nbase, unsigned c, unsigned len, const struct ix_ent *e,
		unsigned n, struct ix_out *o);
/* A new branch for sorted entries @e in one slot of a branch at shift @ps. */
int dc__ix_build_branch(const struct ix_ent *e, unsigned n, unsigned ps, uint64_t *wp,
			size_t *bytes);
/* Free what an unfinished build allocated. */
void dc__ix_out_free(struct ix_out *o);
/* Publish block [c, c + len) of live branch @n that dc__ix_fill() rebuilt. */
void dc__ix_commit_block(struct dc_index *ix, struct ix_branch *n, unsigned c, unsigned len,
			 struct ix_out *o);
/* The live entries of @l, plus @add (if not NULL) in order, into @e. */
unsigned dc__ix_leaf_entries(struct ix_leaf *l, const struct ix_ent *add, struct ix_ent *e);

/* ---- marks (mark.c) ------------------------------------------------------ */

/* The child at p->node[d], p->slot[d] lost its last mark @m: clear it up the path. */
void dc__ix_mark_clear_up(struct ix_path *p, int d, unsigned m);
/* Clear mark @m of entry @q of leaf @l, at the end of @p, and up the path. */
void dc__ix_leaf_clear_mark(struct ix_path *p, struct ix_leaf *l, int q, unsigned m);

#endif
