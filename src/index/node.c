/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * node.c - the radix index's nodes: leaf allocation, retirement of nodes
 * unlinked under the tree lock, the batch they go to RCU in at unlock, and
 * freeing (after a grace period, or at once where no reader can see them).
 */
#include "index/index_int.h"

#include <string.h>

/* A leaf with room for @cap >= @n entries holding @n from @e (sorted), marks from e[].marks. */
struct ix_leaf *dc__ix_leaf_make(const struct ix_ent *e, unsigned n, unsigned cap)
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

void dc__ix_branch_free_rcu(struct rcu_head *h)
{
	dc__rcu_after_gp();
	free(container_of(h, struct ix_branch, rcu));
}

static void leaf_free_rcu(struct rcu_head *h)
{
	dc__rcu_after_gp();
	free(container_of(h, struct ix_leaf, rcu));
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

void dc__ix_retire_leaf(struct dc_index *ix, struct ix_leaf *l)
{
	add_bytes(ix, -(ptrdiff_t)ix_leaf_size(l->cap));
	retire(ix, &l->rcu, leaf_free_rcu);
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
