/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * check.c - dc_index_check(): every structural invariant of the radix
 * index (index_int.h), with a dump of the offending node.
 */
#include "index/index_int.h"

#include <stdarg.h>

struct ck {
	uint64_t count;
	size_t bytes;
};

static void dump_leaf(struct ix_leaf *l)
{
	unsigned nr = ld_relaxed(&l->nr);

	fprintf(stderr, "  leaf %p: nr %u cap %u live %u marks %#x %#x %#x\n", (void *)l, nr,
		l->cap, l->live, ld_relaxed(&l->marks[0]), ld_relaxed(&l->marks[1]),
		ld_relaxed(&l->marks[2]));
	for (unsigned q = 0; q < nr && q < l->cap; q++)
		fprintf(stderr, "    [%2u] %#" PRIx64 " order %u value %#" PRIx64 "\n", q, ix_leaf_key(l)[q],
			ix_leaf_order(l)[q], ld_relaxed(&ix_leaf_val(l)[q]));
}

static void dump_branch(struct ix_branch *n)
{
	fprintf(stderr,
		"  branch %p: shift %u base %#" PRIx64 " nr %u seq %u sib %#" PRIx64
		" marks %#" PRIx64 " %#" PRIx64 " %#" PRIx64 "\n",
		(void *)n, n->shift, n->base, n->nr, ld_relaxed(&n->seq), ld_relaxed(&n->sib),
		ld_relaxed(&n->marks[0]), ld_relaxed(&n->marks[1]), ld_relaxed(&n->marks[2]));
	for (unsigned j = 0; j < IX_SLOTS; j++) {
		uint64_t w = ld_relaxed(&n->slot[j]);
		static const char *const kinds[] = { "plain", "skip", "leaf", "?", "?", "?", "?", "?" };

		if (!w)
			continue;
		if (w_is_value(w))
			fprintf(stderr, "    [%2u] value %#" PRIx64 "\n", j, w_value(w));
		else
			fprintf(stderr, "    [%2u] %s %p\n", j, kinds[w_kind(w)],
				(void *)w_branch(w));
	}
}

DC_PRINTF(2, 3)
static bool bad(uint64_t w, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dc_index_check: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (w_is_node(w) && w_kind(w) == K_LEAF)
		dump_leaf(w_leaf(w));
	else if (w_is_node(w))
		dump_branch(w_branch(w));
	return false;
}

/*
 * Check the node in word @w, held by a run covering [lo, hi] of a branch at
 * shift @ps (IX_ROOT_SHIFT: the root).  *agg gets the marks present below.
 */
static bool check_node(struct ck *k, uint64_t w, unsigned ps, uint64_t lo, uint64_t hi,
		       unsigned *agg);

static bool check_leaf(struct ck *k, uint64_t w, unsigned ps, uint64_t lo, uint64_t hi,
		       unsigned *agg)
{
	struct ix_leaf *l = w_leaf(w);
	unsigned live = 0, nr = ld_relaxed(&l->nr);

	*agg = 0;
	if (!l->cap || l->cap > IX_LEAF_MAX)
		return bad(w, "leaf with room for %u entries", l->cap);
	if (!nr || nr > l->cap)
		return bad(w, "leaf with %u entries", nr);
	for (unsigned q = 0; q < nr; q++) {
		uint64_t key = ix_leaf_key(l)[q], v = ld_relaxed(&ix_leaf_val(l)[q]);
		unsigned o = ix_leaf_order(l)[q];
		uint64_t last = key + ((UINT64_C(1) << (o > 63 ? 63 : o)) - 1);

		if (o > DC_INDEX_ORDER_MAX || o >= ps)
			return bad(w, "entry %u: order %u (holder shift %u)", q, o, ps);
		if (key & ((UINT64_C(1) << o) - 1))
			return bad(w, "entry %u: %#" PRIx64 " misaligned", q, key);
		if (key < lo || last > hi)
			return bad(w, "entry %u outside [%#" PRIx64 ", %#" PRIx64 "]", q, lo, hi);
		if (q + 1 < nr && last >= ix_leaf_key(l)[q + 1])
			return bad(w, "entries %u and %u unsorted or overlapping", q, q + 1);
		if (v > DC_INDEX_VALUE_MAX)
			return bad(w, "entry %u: value %#" PRIx64 " too large", q, v);
		live += v != 0;
		for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
			if ((ld_relaxed(&l->marks[m]) >> q & 1) && !v)
				return bad(w, "tombstone %u has mark %u", q, m);
	}
	for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++) {
		uint32_t mk = ld_relaxed(&l->marks[m]);

		if (nr < 32 && (mk >> nr))
			return bad(w, "mark %u bits beyond the entries", m);
		if (mk)
			*agg |= 1u << m;
	}
	if (live != l->live || !live)
		return bad(w, "live %u, counted %u", l->live, live);
	k->count += live;
	k->bytes += ix_leaf_size(l->cap);
	return true;
}

static bool check_branch(struct ck *k, uint64_t w, unsigned ps, uint64_t lo, uint64_t hi,
			 unsigned *agg)
{
	struct ix_branch *n = w_branch(w);
	unsigned s = n->shift, filled = 0, runs = 0, kids = 0;
	uint64_t sib = ld_relaxed(&n->sib), last = n->base | ix_span_mask(s);

	*agg = 0;
	if (s % IX_BITS || s > 60 || s + IX_BITS > ps)
		return bad(w, "shift %u under a holder at shift %u", s, ps);
	if (w_kind(w) != (s + IX_BITS == ps ? K_PLAIN : K_SKIP))
		return bad(w, "word kind %u for shift %u under shift %u", w_kind(w), s, ps);
	if (n->base & ix_span_mask(s))
		return bad(w, "base %#" PRIx64 " misaligned", n->base);
	if (n->base < lo || last > hi)
		return bad(w, "range outside [%#" PRIx64 ", %#" PRIx64 "]", lo, hi);
	if (ld_relaxed(&n->seq) & 1)
		return bad(w, "seq odd at rest");
	if (sib & 1)
		return bad(w, "sibling bit 0 set");
	for (unsigned j = ix_nslots(s); j < IX_SLOTS; j++)
		if (ld_relaxed(&n->slot[j]))
			return bad(w, "slot %u used at shift %u", j, s);

	for (unsigned j = 0; j < IX_SLOTS;) {
		uint64_t x = ld_relaxed(&n->slot[j]);
		unsigned end = ix_run_end(sib, j), len = end - j, below = 0;

		if (!x) {
			if (sib >> j & 1 || (j + 1 < IX_SLOTS && (sib >> (j + 1) & 1)))
				return bad(w, "empty slot %u in a run", j);
			for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
				if (ld_relaxed(&n->marks[m]) >> j & 1)
					return bad(w, "empty slot %u has mark %u", j, m);
			j++;
			continue;
		}
		if (len & (len - 1) || j % len)
			return bad(w, "run [%u, %u) not an aligned power of two", j, end);
		for (unsigned i = j + 1; i < end; i++)
			if (ld_relaxed(&n->slot[i]) != x)
				return bad(w, "slot %u differs from its run's first %u", i, j);
		for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
			if (ld_relaxed(&n->marks[m]) & ix_bits(j, len) & ~ix_bits(j, 1))
				return bad(w, "mark %u inside run [%u, %u)", m, j, end);

		uint64_t rlo = n->base + ((uint64_t)j << s);
		uint64_t rhi = rlo + ((((uint64_t)len) << s) - 1);

		if (w_is_value(x)) {
			if (!w_value(x))
				return bad(w, "slot %u: a value word holding 0", j);
			if (len > 32)
				return bad(w, "value run of %u slots", len);
			if (s + (unsigned)__builtin_ctz(len) > DC_INDEX_ORDER_MAX)
				return bad(w, "value run [%u, %u): order too large", j, end);
			k->count++;
		} else {
			unsigned sub;

			kids++;
			if (w_kind(x) == K_LEAF) {
				if (!check_leaf(k, x, s, rlo, rhi, &sub))
					return bad(w, "(in this branch, slot %u)", j);
			} else {
				if (len != 1)
					return bad(w, "branch child in a run of %u", len);
				if (!check_node(k, x, s, rlo, rhi, &sub))
					return bad(w, "(in this branch, slot %u)", j);
			}
			below = sub;
			for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
				if (!!(below & (1u << m)) != (ld_relaxed(&n->marks[m]) >> j & 1))
					return bad(w, "slot %u: mark %u not the child's aggregate", j, m);
		}
		filled += len;
		runs++;
		j = end;
	}
	for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
		if (ld_relaxed(&n->marks[m]))
			*agg |= 1u << m;
	if (filled != n->nr || !filled)
		return bad(w, "nr %u, counted %u", n->nr, filled);
	if (runs == 1 && kids == 1)
		return bad(w, "a branch with one child should have been collapsed");
	k->bytes += sizeof(*n);
	return true;
}

static bool check_node(struct ck *k, uint64_t w, unsigned ps, uint64_t lo, uint64_t hi,
		       unsigned *agg)
{
	if (!w_is_node(w))
		return bad(0, "value %#" PRIx64 " where a node belongs", w_value(w));
	if (!w_branch(w))
		return bad(0, "word %#" PRIx64 ": a node at address 0", w);
	if (w_kind(w) == K_LEAF)
		return check_leaf(k, w, ps, lo, hi, agg);
	if (w_kind(w) != K_PLAIN && w_kind(w) != K_SKIP)
		return bad(0, "word %#" PRIx64 ": bad kind", w);
	return check_branch(k, w, ps, lo, hi, agg);
}

DC_API bool dc_index_check(struct dc_index *ix)
{
	struct ck k = { 0, 0 };
	uint64_t w = ld_relaxed(&ix->root);
	unsigned agg;

	if (w && !check_node(&k, w, IX_ROOT_SHIFT, 0, UINT64_MAX, &agg))
		return false;
	if (k.count != ld_relaxed(&ix->count))
		return bad(0, "count %" PRIu64 ", counted %" PRIu64, ld_relaxed(&ix->count), k.count);
	if (k.bytes != ld_relaxed(&ix->bytes))
		return bad(0, "bytes %zu, counted %zu", ld_relaxed(&ix->bytes), k.bytes);
	return true;
}
