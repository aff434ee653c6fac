/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * index_int.h - the radix index's node layout, shared by index.c (the
 * operations) and index_check.c (the invariants and dumps).  Not installed.
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
	 * call_rcu() (index_store.c: dc__ix_flush()).
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

/* index_store.c */
void dc__ix_free_now(uint64_t w);
void dc__ix_flush(struct dc_index *ix);
void dc__ix_free_retired(struct dc_index *ix);

#endif
