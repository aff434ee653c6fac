/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_index - the radix index (daxcore/index.h): every function, every bad
 * input, multi-order entries found from every index inside, find and
 * find_marked across node boundaries and huge gaps, a randomized run
 * against a reference model, allocation failure injected at every
 * allocation of a store, memory figures, and that dc_index_check() itself
 * catches a broken node.
 *
 *   test_index [SEED]
 */
#include "harness.h"

#include "base/base.h"
#include "mapping/index_int.h"

#include <daxcore/index.h>

/* ---- reference model: a sorted array of disjoint entries ---------------- */

struct ment {
	uint64_t first, val;
	unsigned order, marks;
};

struct model {
	struct ment *e;
	size_t n, cap;
};

static uint64_t mlast(const struct ment *e)
{
	return e->first + ((UINT64_C(1) << e->order) - 1);
}

/* Position of the last entry with first <= @idx, or -1. */
static long m_floor(const struct model *m, uint64_t idx)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (m->e[mid].first <= idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (long)lo - 1;
}

static struct ment *m_cover(const struct model *m, uint64_t idx)
{
	long p = m_floor(m, idx);

	return p >= 0 && mlast(&m->e[p]) >= idx ? &m->e[p] : NULL;
}

static int m_store(struct model *m, uint64_t idx, unsigned order, uint64_t val)
{
	uint64_t last = idx + ((UINT64_C(1) << order) - 1);
	long p = m_floor(m, last);

	if (p >= 0 && mlast(&m->e[p]) >= idx) {
		if (m->e[p].first == idx && m->e[p].order == order) {
			m->e[p].val = val;
			return 0;
		}
		return -EEXIST;
	}
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 256;
		m->e = realloc(m->e, m->cap * sizeof(*m->e));
		CHECK(m->e);
	}
	p++;
	memmove(&m->e[p + 1], &m->e[p], (m->n - (size_t)p) * sizeof(*m->e));
	m->e[p] = (struct ment){ idx, val, order, 0 };
	m->n++;
	return 0;
}

static uint64_t m_erase(struct model *m, uint64_t idx)
{
	struct ment *e = m_cover(m, idx);
	uint64_t v;

	if (!e)
		return 0;
	v = e->val;
	memmove(e, e + 1, (size_t)(&m->e[m->n] - (e + 1)) * sizeof(*e));
	m->n--;
	return v;
}

/* ---- helpers -------------------------------------------------------------- */

/* Everything the index returns agrees with the model. */
static void verify(struct dc_index *ix, const struct model *m, uint64_t *rs)
{
	uint64_t i = 0, f, v;
	unsigned o;
	size_t k = 0;

	CHECK(dc_index_check(ix));
	CHECK_EQ(dc_index_count(ix), m->n);
	/* Full iteration, the documented way. */
	while ((v = dc_index_find(ix, i, UINT64_MAX, &f, &o))) {
		CHECK(k < m->n);
		if (v != m->e[k].val)
			fprintf(stderr, "find from %#" PRIx64 ": got %#" PRIx64 "/%u, model %#" PRIx64 "/%u\n",
				i, f, o, m->e[k].first, m->e[k].order);
		CHECK_EQ(v, m->e[k].val);
		CHECK_EQ(f, m->e[k].first);
		CHECK_EQ(o, m->e[k].order);
		k++;
		if (f + ((UINT64_C(1) << o) - 1) >= UINT64_MAX)
			break;
		i = f + (UINT64_C(1) << o);
	}
	CHECK_EQ(k, m->n);
	for (unsigned mk = 0; mk < DC_INDEX_NR_MARKS; mk++) {
		size_t want = 0;

		i = 0;
		k = 0;
		while ((v = dc_index_find_marked(ix, i, UINT64_MAX, mk, &f, &o))) {
			while (k < m->n && !(m->e[k].marks >> mk & 1))
				k++;
			CHECK(k < m->n);
			CHECK_EQ(f, m->e[k].first);
			CHECK_EQ(v, m->e[k].val);
			k++;
			want++;
			if (f + ((UINT64_C(1) << o) - 1) >= UINT64_MAX)
				break;
			i = f + (UINT64_C(1) << o);
		}
		for (; k < m->n; k++)
			CHECK(!(m->e[k].marks >> mk & 1));
	}
	for (k = 0; k < m->n; k++) {
		const struct ment *e = &m->e[k];
		uint64_t span = UINT64_C(1) << e->order;
		uint64_t probe[3] = { e->first, e->first + (span - 1), e->first + t_rand(rs) % span };

		for (unsigned p = 0; p < 3; p++) {
			CHECK_EQ(dc_index_load(ix, probe[p]), e->val);
			f = 1;
			o = 99;
			CHECK_EQ(dc_index_load_entry(ix, probe[p], &f, &o), e->val);
			CHECK_EQ(f, e->first);
			CHECK_EQ(o, e->order);
			v = dc_index_find(ix, probe[p], probe[p], &f, &o);
			CHECK_EQ(v, e->val);
		}
		for (unsigned mk = 0; mk < DC_INDEX_NR_MARKS; mk++)
			CHECK_EQ(dc_index_get_mark(ix, e->first + (span - 1), mk), e->marks >> mk & 1);
		/* Just outside, where nothing is. */
		if (e->first && !m_cover(m, e->first - 1))
			CHECK_EQ(dc_index_load(ix, e->first - 1), 0);
		if (mlast(e) != UINT64_MAX && !m_cover(m, mlast(e) + 1))
			CHECK_EQ(dc_index_load(ix, mlast(e) + 1), 0);
	}
}

static void store_ok(struct dc_index *ix, struct model *m, uint64_t idx, unsigned order,
		     uint64_t val)
{
	CHECK_EQ(dc_index_store(ix, idx, order, val), 0);
	CHECK_EQ(m_store(m, idx, order, val), 0);
}

static uint64_t tval(uint64_t idx, unsigned order)
{
	uint64_t v = ((idx * 0x9e3779b97f4a7c15ull) ^ order) & DC_INDEX_VALUE_MAX;

	return v ? v : 1;
}

static void finish(struct dc_index *ix, struct model *m)
{
	dc_index_destroy(ix);
	free(m->e);
	m->e = NULL;
	m->n = m->cap = 0;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_basic(uint64_t *rs)
{
	struct dc_index *ix = dc_index_create();
	struct model m = { 0 };
	uint64_t f = 7;
	unsigned o = 7;

	CHECK(ix);
	CHECK(dc_index_check(ix));
	CHECK_EQ(dc_index_count(ix), 0);
	CHECK_EQ(dc_index_bytes(ix), 0);
	CHECK_EQ(dc_index_load(ix, 0), 0);
	CHECK_EQ(dc_index_load_entry(ix, 5, &f, &o), 0);
	CHECK_EQ(f, 7); /* untouched when nothing is found */
	CHECK_EQ(dc_index_find(ix, 0, UINT64_MAX, &f, &o), 0);
	CHECK_EQ(dc_index_erase(ix, 0), 0);

	store_ok(ix, &m, 5, 0, 50);
	CHECK_EQ(dc_index_load(ix, 5), 50);
	CHECK_EQ(dc_index_load(ix, 4), 0);
	CHECK_EQ(dc_index_load(ix, 6), 0);
	CHECK(dc_index_bytes(ix) > 0);
	store_ok(ix, &m, 0, 0, DC_INDEX_VALUE_MAX);
	store_ok(ix, &m, UINT64_MAX, 0, 1);
	store_ok(ix, &m, UINT64_C(1) << 63, 0, 2);
	verify(ix, &m, rs);
	/* Replace keeps the count. */
	CHECK_EQ(dc_index_store(ix, 5, 0, 51), 0);
	m_store(&m, 5, 0, 51);
	CHECK_EQ(dc_index_count(ix), 4);
	verify(ix, &m, rs);
	/* The __ variants under the lock. */
	dc_index_lock(ix);
	CHECK_EQ(__dc_index_store(ix, 77, 0, 770), 0);
	CHECK_EQ(__dc_index_set_mark(ix, 77, DC_INDEX_MARK2), 0);
	CHECK(dc_index_get_mark(ix, 77, DC_INDEX_MARK2));
	CHECK_EQ(__dc_index_clear_mark(ix, 77, DC_INDEX_MARK2), 0);
	CHECK_EQ(__dc_index_erase(ix, 77), 770);
	CHECK(dc_index_check(ix));
	dc_index_unlock(ix);
	CHECK_EQ(dc_index_erase(ix, 5), 51);
	m_erase(&m, 5);
	CHECK_EQ(dc_index_erase(ix, 5), 0);
	verify(ix, &m, rs);
	while (m.n) {
		CHECK_EQ(dc_index_erase(ix, m.e[0].first), m.e[0].val);
		m_erase(&m, m.e[0].first);
		verify(ix, &m, rs);
	}
	CHECK_EQ(dc_index_bytes(ix), 0);
	finish(ix, &m);
	dc_index_destroy(NULL);
	printf("ok basic\n");
}

static void test_bad_input(void)
{
	struct dc_index *ix = dc_index_create();
	uint64_t f = 0;
	unsigned o = 0;

	CHECK(ix);
	/* Misaligned for the order, order too large, values out of range. */
	CHECK_EQ(dc_index_store(ix, 1, 1, 5), -EINVAL);
	CHECK(strlen(dc_errmsg()) > 0);
	CHECK_EQ(dc_index_store(ix, 256, 9, 5), -EINVAL);
	CHECK_EQ(dc_index_store(ix, 0, DC_INDEX_ORDER_MAX + 1, 5), -EINVAL);
	CHECK_EQ(dc_index_store(ix, 0, 200, 5), -EINVAL);
	CHECK_EQ(dc_index_store(ix, 0, 0, 0), -EINVAL);
	CHECK_EQ(dc_index_store(ix, 0, 0, DC_INDEX_VALUE_MAX + 1), -EINVAL);
	CHECK_EQ(dc_index_store(ix, 0, 0, UINT64_MAX), -EINVAL);
	CHECK_EQ(dc_index_count(ix), 0);
	/* Marks: out of range, and on nothing. */
	CHECK_EQ(dc_index_set_mark(ix, 0, 0), -ENOENT);
	CHECK_EQ(dc_index_clear_mark(ix, 0, 0), -ENOENT);
	CHECK_EQ(dc_index_store(ix, 0, 0, 5), 0);
	CHECK_EQ(dc_index_set_mark(ix, 0, DC_INDEX_NR_MARKS), -EINVAL);
	CHECK_EQ(dc_index_clear_mark(ix, 0, DC_INDEX_NR_MARKS), -EINVAL);
	CHECK(!dc_index_get_mark(ix, 0, DC_INDEX_NR_MARKS));
	CHECK_EQ(dc_index_set_mark(ix, 1, 0), -ENOENT);
	CHECK_EQ(dc_index_find_marked(ix, 0, UINT64_MAX, DC_INDEX_NR_MARKS, &f, &o), 0);
	CHECK_EQ(dc_index_find_marked(ix, 0, UINT64_MAX, 0, &f, &o), 0);
	/* find with start > max finds nothing. */
	CHECK_EQ(dc_index_find(ix, 1, 0, &f, &o), 0);
	/* Erase of nothing. */
	CHECK_EQ(dc_index_erase(ix, 1), 0);
	CHECK_EQ(dc_index_erase(ix, UINT64_MAX), 0);
	CHECK_EQ(dc_index_erase(ix, 0), 5);

	/* Overlaps with multi-order entries, in both directions, dense and sparse. */
	uint64_t bases[] = { 0, 1ull << 40, 0xfffffffe00000000ull };

	for (unsigned b = 0; b < 3; b++) {
		uint64_t B = bases[b];

		CHECK_EQ(dc_index_store(ix, B + 512, 9, 9), 0);
		CHECK_EQ(dc_index_store(ix, B + 512, 0, 1), -EEXIST);
		CHECK_EQ(dc_index_store(ix, B + 1023, 0, 1), -EEXIST);
		CHECK_EQ(dc_index_store(ix, B + 768, 8, 1), -EEXIST);
		CHECK_EQ(dc_index_store(ix, B + 0, 10, 1), -EEXIST);
		CHECK_EQ(dc_index_store(ix, B + 0, 18, 1), -EEXIST);
		CHECK_EQ(dc_index_store(ix, B + 0, 32, 1), -EEXIST);
		CHECK_EQ(dc_index_store(ix, B + 511, 0, 1), 0);
		CHECK_EQ(dc_index_store(ix, B + 1024, 0, 1), 0);
		CHECK_EQ(dc_index_store(ix, B + 2048, 0, 1), 0);
		CHECK_EQ(dc_index_store(ix, B + 2048, 9, 1), -EEXIST);
		CHECK_EQ(dc_index_store(ix, B + 2048, 11, 1), -EEXIST);
		/* Replace of the exact range keeps marks. */
		CHECK_EQ(dc_index_set_mark(ix, B + 700, DC_INDEX_MARK1), 0);
		CHECK(dc_index_get_mark(ix, B + 512, DC_INDEX_MARK1));
		CHECK_EQ(dc_index_store(ix, B + 512, 9, 99), 0);
		CHECK_EQ(dc_index_load(ix, B + 1000), 99);
		CHECK(dc_index_get_mark(ix, B + 1023, DC_INDEX_MARK1));
		CHECK(!dc_index_get_mark(ix, B + 1023, DC_INDEX_MARK0));
		CHECK_EQ(dc_index_find_marked(ix, B, B + 4096, DC_INDEX_MARK1, &f, &o), 99);
		CHECK_EQ(f, B + 512);
		CHECK_EQ(o, 9);
		/* Erase from inside removes all of it, marks too. */
		CHECK_EQ(dc_index_erase(ix, B + 600), 99);
		CHECK_EQ(dc_index_load(ix, B + 512), 0);
		CHECK(!dc_index_get_mark(ix, B + 512, DC_INDEX_MARK1));
		CHECK_EQ(dc_index_find_marked(ix, 0, UINT64_MAX, DC_INDEX_MARK1, &f, &o), 0);
		CHECK_EQ(dc_index_store(ix, B + 512, 9, 3), 0);
		CHECK(!dc_index_get_mark(ix, B + 512, DC_INDEX_MARK1)); /* a new entry starts unmarked */
		CHECK(dc_index_check(ix));
	}
	CHECK_EQ(dc_index_count(ix), 12);
	dc_index_destroy(ix);
	printf("ok bad_input\n");
}

/* Multi-order entries of every order, in dense and sparse surroundings. */
static void test_multi_order(uint64_t *rs)
{
	for (unsigned ctx = 0; ctx < 3; ctx++) {
		struct dc_index *ix = dc_index_create();
		struct model m = { 0 };

		CHECK(ix);
		if (ctx == 1) /* dense neighbours: order-0 entries right below */
			for (uint64_t i = 0; i < 300; i++)
				store_ok(ix, &m, (UINT64_C(1) << 33) - 1 - i, 0, tval(i, 0));
		if (ctx == 2) /* sparse neighbours */
			for (unsigned i = 0; i < 200; i++) {
				uint64_t k = t_rand(rs) >> 20 << 20 | 12345;

				if (!m_cover(&m, k))
					store_ok(ix, &m, k, 0, tval(k, 0));
			}
		for (unsigned order = 0; order <= DC_INDEX_ORDER_MAX; order++) {
			uint64_t first = (UINT64_C(1) << 33) + ((uint64_t)order << 33);

			if (m_cover(&m, first) || m_cover(&m, first + ((UINT64_C(1) << order) - 1)))
				continue;
			store_ok(ix, &m, first, order, tval(first, order));
			CHECK(dc_index_check(ix));
		}
		/* Small orders: every index inside, and each neighbour. */
		for (unsigned order = 0; order <= 12; order++) {
			uint64_t first = (UINT64_C(1) << 33) + ((uint64_t)order << 33), f;
			unsigned o;

			for (uint64_t i = first; i < first + (UINT64_C(1) << order); i++) {
				CHECK_EQ(dc_index_load(ix, i), tval(first, order));
				CHECK_EQ(dc_index_load_entry(ix, i, &f, &o), tval(first, order));
				CHECK_EQ(f, first);
				CHECK_EQ(o, order);
			}
		}
		/* Multi-order entries packed next to each other inside one branch. */
		uint64_t B = UINT64_C(1) << 50;

		for (unsigned j = 0; j < 64; j++) {
			unsigned order = 6 + j % 6;
			uint64_t first = B + ((uint64_t)j << 12);

			store_ok(ix, &m, first, order, tval(first, order));
			if (j % 4 < 3) {
				CHECK_EQ(dc_index_set_mark(ix, first, j % 4), 0);
				m_cover(&m, first)->marks |= 1u << (j % 4);
			}
		}
		verify(ix, &m, rs);
		/* Erase every other one from an index inside it. */
		for (long k = (long)m.n - 1; k >= 0; k -= 2) {
			struct ment e = m.e[k];
			uint64_t inside = e.first + ((UINT64_C(1) << e.order) - 1) / 2;

			CHECK_EQ(dc_index_erase(ix, inside), e.val);
			m_erase(&m, inside);
		}
		verify(ix, &m, rs);
		finish(ix, &m);
	}
	printf("ok multi_order\n");
}

/* find and find_marked over node boundaries, huge gaps, limits. */
static void test_find(uint64_t *rs)
{
	struct dc_index *ix = dc_index_create();
	struct model m = { 0 };
	uint64_t keys[] = { 0, 1, 63, 64, 65, 4095, 4096, 262143, 262144, 1ull << 30,
			    (1ull << 30) + 64, 1ull << 40, 1ull << 52, 1ull << 62, 1ull << 63,
			    (1ull << 63) + 4096, UINT64_MAX - 64, UINT64_MAX };
	uint64_t f, v;
	unsigned o;

	CHECK(ix);
	for (unsigned k = 0; k < ARRAY_SIZE(keys); k++)
		store_ok(ix, &m, keys[k], 0, k + 1);
	store_ok(ix, &m, 1ull << 20, 18, 100);
	store_ok(ix, &m, 3ull << 9, 9, 101);
	verify(ix, &m, rs);

	/* Each key found from just after the previous one. */
	for (size_t k = 1; k < m.n; k++) {
		v = dc_index_find(ix, mlast(&m.e[k - 1]) + 1, UINT64_MAX, &f, &o);
		CHECK_EQ(v, m.e[k].val);
		CHECK_EQ(f, m.e[k].first);
	}
	/* A limit just before the next entry finds nothing. */
	for (size_t k = 1; k < m.n; k++)
		if (m.e[k].first > mlast(&m.e[k - 1]) + 1)
			CHECK_EQ(dc_index_find(ix, mlast(&m.e[k - 1]) + 1, m.e[k].first - 1, &f, &o), 0);
	/* Starting inside a multi-order entry finds it. */
	CHECK_EQ(dc_index_find(ix, (1ull << 20) + 5000, UINT64_MAX, &f, &o), 100);
	CHECK_EQ(f, 1ull << 20);
	CHECK_EQ(o, 18);
	CHECK_EQ(dc_index_find(ix, 3ull << 9 | 7, 3ull << 9 | 7, &f, &o), 101);

	/* Marks on a few, far apart. */
	unsigned marked[] = { 2, 7, 11, 15, 17 };

	for (unsigned k = 0; k < ARRAY_SIZE(marked); k++) {
		struct ment *e = &m.e[marked[k]];

		CHECK_EQ(dc_index_set_mark(ix, e->first, DC_INDEX_MARK0), 0);
		e->marks |= 1;
	}
	CHECK_EQ(dc_index_set_mark(ix, (1ull << 20) + 77, DC_INDEX_MARK2), 0);
	m_cover(&m, 1ull << 20)->marks |= 4;
	verify(ix, &m, rs);
	CHECK_EQ(dc_index_find_marked(ix, (1ull << 20) + 77, UINT64_MAX, DC_INDEX_MARK2, &f, &o),
		 100);
	CHECK_EQ(f, 1ull << 20);
	CHECK_EQ(dc_index_find_marked(ix, (1ull << 20) + (1ull << 18), UINT64_MAX, DC_INDEX_MARK2,
				      &f, &o), 0);
	/* Marking or clearing twice is harmless. */
	CHECK_EQ(dc_index_set_mark(ix, 0, DC_INDEX_MARK1), 0);
	CHECK_EQ(dc_index_set_mark(ix, 0, DC_INDEX_MARK1), 0);
	CHECK_EQ(dc_index_clear_mark(ix, 0, DC_INDEX_MARK1), 0);
	CHECK_EQ(dc_index_clear_mark(ix, 0, DC_INDEX_MARK1), 0);
	verify(ix, &m, rs);
	finish(ix, &m);

	/* One entry at each end of the key space and nothing between. */
	ix = dc_index_create();
	CHECK(ix);
	store_ok(ix, &m, 0, 0, 1);
	store_ok(ix, &m, UINT64_MAX - ((1ull << 32) - 1), 32, 2);
	CHECK_EQ(dc_index_find(ix, 1, UINT64_MAX, &f, &o), 2);
	CHECK_EQ(o, 32);
	CHECK_EQ(dc_index_find(ix, 1, UINT64_MAX - (1ull << 32), &f, &o), 0);
	CHECK_EQ(dc_index_load(ix, UINT64_MAX), 2);
	verify(ix, &m, rs);
	finish(ix, &m);
	printf("ok find\n");
}

/* Marks survive the copies, splits and bursts of the nodes that hold them. */
static void test_marks_through_reshaping(uint64_t *rs)
{
	struct dc_index *ix = dc_index_create();
	struct model m = { 0 };

	CHECK(ix);
	for (unsigned round = 0; round < 4; round++) {
		for (unsigned i = 0; i < 400; i++) {
			uint64_t k = round == 0 ? i * 3 : round == 1 ? (t_rand(rs) & 0xffffff)
					: round == 2 ? (t_rand(rs) >> 24 << 6) : t_rand(rs);

			if (m_cover(&m, k))
				continue;
			store_ok(ix, &m, k, 0, tval(k, 0));
			if (i % 5 == 0) {
				unsigned mk = (unsigned)(t_rand(rs) % 3);

				CHECK_EQ(dc_index_set_mark(ix, k, mk), 0);
				m_cover(&m, k)->marks |= 1u << mk;
			}
		}
		verify(ix, &m, rs);
		/* Clear marks on half of the marked entries. */
		for (size_t k = 0; k < m.n; k += 2)
			for (unsigned mk = 0; mk < 3; mk++)
				if (m.e[k].marks >> mk & 1) {
					CHECK_EQ(dc_index_clear_mark(ix, m.e[k].first, mk), 0);
					m.e[k].marks &= ~(1u << mk);
				}
		verify(ix, &m, rs);
	}
	finish(ix, &m);
	printf("ok marks_through_reshaping\n");
}

/* ---- randomized run against the model ------------------------------------ */

static uint64_t gen_key(uint64_t *rs, unsigned dist, unsigned *order)
{
	static const uint64_t clusters[] = { 0, 1ull << 30, 5ull << 44, 0xffffffff00000000ull };
	uint64_t r = t_rand(rs), k;
	unsigned p = (unsigned)(r % 100);

	*order = p < 70 ? 0 : p < 80 ? 9 : p < 90 ? (unsigned)(t_rand(rs) % 13)
		: p < 96 ? 18 : (unsigned)(t_rand(rs) % 33);
	r = t_rand(rs);
	switch (dist) {
	case 0: k = r % 20000; break;                            /* dense */
	case 1: k = r & ((1ull << 40) - 1); break;               /* sparse */
	case 2: k = clusters[r % 4] + (t_rand(rs) % 50000); break; /* clustered */
	default: k = r; break;                                   /* anywhere */
	}
	if (dist == 0 && *order > 12)
		*order = 9;
	return k & ~((UINT64_C(1) << *order) - 1);
}

/*
 * A store with allocation failure injected at allocation 1, 2, ... until it
 * succeeds: each failure must leave the index as it was.
 */
static int store_with_faults(struct dc_index *ix, const struct model *m, uint64_t k, unsigned order,
			     uint64_t val, unsigned *max_nth)
{
	uint64_t count = dc_index_count(ix);
	size_t bytes = dc_index_bytes(ix);

	for (unsigned nth = 1;; nth++) {
		int err;

		dc__fault_set(nth);
		err = dc_index_store(ix, k, order, val);
		dc__fault_set(0);
		if (err != -ENOMEM) {
			if (nth > *max_nth)
				*max_nth = nth;
			return err;
		}
		CHECK_EQ(dc_index_count(ix), count);
		CHECK_EQ(dc_index_bytes(ix), bytes);
		CHECK(dc_index_check(ix));
		CHECK_EQ(dc_index_load(ix, k), m_cover(m, k) ? m_cover(m, k)->val : 0);
		CHECK(nth < 100);
	}
}

static void test_random(uint64_t seed, unsigned dist, unsigned long ops, bool faults)
{
	struct dc_index *ix = dc_index_create();
	struct model m = { 0 };
	uint64_t rs = seed, f;
	unsigned max_nth = 0, o;

	CHECK(ix);
	for (unsigned long op = 0; op < ops; op++) {
		unsigned order, p = (unsigned)(t_rand(&rs) % 100);
		/* Grow in the first half, shrink in the second. */
		bool grow = op < ops / 2;
		uint64_t k = gen_key(&rs, dist, &order);

		if (p < (grow ? 55u : 25u)) {
			uint64_t val = t_rand(&rs) & DC_INDEX_VALUE_MAX;
			int want, got;

			val = val ? val : 1;
			got = faults && op % 3 == 0 ? store_with_faults(ix, &m, k, order, val, &max_nth)
						    : dc_index_store(ix, k, order, val);
			want = m_store(&m, k, order, val);
			CHECK_EQ(got, want);
		} else if (p < (grow ? 65u : 75u)) {
			/* Erase an existing entry, from an index inside it. */
			if (m.n) {
				struct ment e = m.e[t_rand(&rs) % m.n];
				uint64_t in = e.first + t_rand(&rs) % (UINT64_C(1) << e.order);

				CHECK_EQ(dc_index_erase(ix, in), e.val);
				m_erase(&m, in);
			}
		} else if (p < 75) {
			CHECK_EQ(dc_index_erase(ix, k), m_erase(&m, k));
		} else if (p < 80) {
			/* Replace an existing entry's value. */
			if (m.n) {
				struct ment *e = &m.e[t_rand(&rs) % m.n];
				uint64_t val = e->val ^ 0x5a5a;

				CHECK_EQ(dc_index_store(ix, e->first, e->order, val), 0);
				e->val = val;
			}
		} else if (p < 92) {
			if (m.n) {
				struct ment *e = &m.e[t_rand(&rs) % m.n];
				unsigned mk = (unsigned)(t_rand(&rs) % 3);
				bool set = t_rand(&rs) % 3 != 0;

				CHECK_EQ((set ? dc_index_set_mark : dc_index_clear_mark)(
						 ix, e->first + t_rand(&rs) % (UINT64_C(1) << e->order), mk), 0);
				e->marks = set ? e->marks | 1u << mk : e->marks & ~(1u << mk);
			}
		} else {
			/* Lookups and finds at random places. */
			struct ment *e = m_cover(&m, k);
			uint64_t v = dc_index_load_entry(ix, k, &f, &o);

			CHECK_EQ(v, e ? e->val : 0);
			v = dc_index_find(ix, k, UINT64_MAX, &f, &o);
			long q = m_floor(&m, k);

			if (q < 0 || mlast(&m.e[q]) < k)
				q++;
			CHECK_EQ(v, (size_t)q < m.n ? m.e[q].val : 0);
		}
		if (op % 1024 == 0)
			CHECK(dc_index_check(ix));
		if (op % (ops / 8 + 1) == 0)
			verify(ix, &m, &rs);
	}
	verify(ix, &m, &rs);
	/* Empty it completely. */
	while (m.n) {
		size_t k = t_rand(&rs) % m.n;
		uint64_t first = m.e[k].first, val = m.e[k].val;

		CHECK_EQ(dc_index_erase(ix, first), val);
		m_erase(&m, first);
		if (m.n % 256 == 0)
			CHECK(dc_index_check(ix));
	}
	CHECK(dc_index_check(ix));
	CHECK_EQ(dc_index_count(ix), 0);
	CHECK_EQ(dc_index_bytes(ix), 0);
	if (faults)
		CHECK(max_nth >= 3); /* some stores allocated more than twice */
	finish(ix, &m);
	printf("ok random dist %u seed %#" PRIx64 " ops %lu%s (max allocations in a store %u)\n",
	       dist, seed, ops, faults ? " with faults" : "", max_nth ? max_nth - 1 : 0);
}

/* The stores that allocate most, each with failure at every allocation. */
static void test_alloc_failure(uint64_t *rs)
{
	struct dc_index *ix;
	struct model m = { 0 };
	unsigned max_nth = 0;

	CHECK(!(dc__fault_set(1), ix = dc_index_create()));
	dc__fault_set(0);

	/* A full root leaf of spread keys bursts into a branch and several leaves. */
	ix = dc_index_create();
	CHECK(ix);
	for (unsigned i = 0; i < IX_LEAF_MAX; i++)
		store_ok(ix, &m, (uint64_t)i << 34 | (i & 3) << 20, 0, i + 1);
	CHECK_EQ(store_with_faults(ix, &m, 999, 0, 5, &max_nth), 0);
	m_store(&m, 999, 0, 5);
	verify(ix, &m, rs);
	CHECK(max_nth >= 3);

	/* A full leaf in one slot bursts into a branch below (nested). */
	for (unsigned i = 0; i < IX_LEAF_MAX - 1; i++)
		store_ok(ix, &m, (5ull << 34) + ((uint64_t)i << 14) + i, 0, 100 + i);
	max_nth = 0;
	CHECK_EQ(store_with_faults(ix, &m, (5ull << 34) + 3, 0, 7, &max_nth), 0);
	m_store(&m, (5ull << 34) + 3, 0, 7);
	verify(ix, &m, rs);
	CHECK(max_nth >= 3);

	/* A split above a branch with a new leaf. */
	max_nth = 0;
	CHECK_EQ(store_with_faults(ix, &m, 1ull << 60, 3, 8, &max_nth), 0);
	m_store(&m, 1ull << 60, 3, 8);
	CHECK_EQ(max_nth, 3); /* branch + leaf, then success */
	verify(ix, &m, rs);

	/* A multi-order value splitting a wide leaf run. */
	finish(ix, &m);
	ix = dc_index_create();
	CHECK(ix);
	for (unsigned i = 0; i < 40; i++)
		store_ok(ix, &m, (uint64_t)i << 30, 0, i + 1); /* a branch at shift 30 */
	store_ok(ix, &m, (63ull << 30) + 1, 0, 77);           /* a leaf run in the upper half */
	verify(ix, &m, rs);
	max_nth = 0;
	CHECK_EQ(store_with_faults(ix, &m, 48ull << 30, 32, 9, &max_nth), 0);
	m_store(&m, 48ull << 30, 32, 9);
	verify(ix, &m, rs);
	finish(ix, &m);

	/* Every kind of store in a random run, each tried with failures first. */
	test_random(0xfa11, 1, 5000, true);
	test_random(0xfa12, 2, 5000, true);
	test_random(0xfa13, 0, 5000, true);
	printf("ok alloc_failure\n");
}

static void test_memory(uint64_t *rs)
{
	struct dc_index *ix = dc_index_create();
	const uint64_t n = 1 << 16;
	double dense, sparse;

	CHECK(ix);
	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ(dc_index_store(ix, i, 0, i + 1), 0);
	CHECK(dc_index_check(ix));
	dense = (double)dc_index_bytes(ix) / (double)n;
	/* 576-byte branches of 64 values, plus a little above. */
	CHECK(dense >= 8.0 && dense <= 10.0);
	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ(dc_index_erase(ix, i), i + 1);
	CHECK_EQ(dc_index_bytes(ix), 0);
	CHECK(dc_index_check(ix));

	for (uint64_t i = 0; i < n;) {
		uint64_t k = t_rand(rs) & ((1ull << 40) - 1);

		if (dc_index_load(ix, k))
			continue;
		CHECK_EQ(dc_index_store(ix, k, 0, 1), 0);
		i++;
	}
	CHECK(dc_index_check(ix));
	sparse = (double)dc_index_bytes(ix) / (double)n;
	CHECK(sparse >= 17.0 && sparse <= 40.0);
	printf("ok memory (dense %.2f B/entry, sparse %.2f B/entry)\n", dense, sparse);
	dc_index_destroy(ix);
}

/* dc_index_check() itself finds broken invariants. */
static void test_check_catches(void)
{
	struct dc_index *ix = dc_index_create();
	struct ix_branch *n;
	uint64_t w, save;

	CHECK(ix);
	for (uint64_t i = 0; i < 200; i++)
		CHECK_EQ(dc_index_store(ix, i, 0, i + 1), 0);
	CHECK_EQ(dc_index_store(ix, 512, 9, 3), 0);
	CHECK(dc_index_check(ix));
	w = ld_relaxed(&ix->root);
	CHECK(w_is_node(w) && w_kind(w) != K_LEAF);
	n = w_branch(w);
	fprintf(stderr, "(test_check_catches: the dumps below are expected)\n");

	save = ld_relaxed(&n->marks[1]);
	st_relaxed(&n->marks[1], save | 1); /* an aggregate mark with nothing marked below */
	CHECK(!dc_index_check(ix));
	st_relaxed(&n->marks[1], save);
	n->nr++;
	CHECK(!dc_index_check(ix));
	n->nr--;
	save = ld_relaxed(&n->sib);
	st_relaxed(&n->sib, save | 1);
	CHECK(!dc_index_check(ix));
	st_relaxed(&n->sib, save);
	st_relaxed(&ix->count, ld_relaxed(&ix->count) + 1);
	CHECK(!dc_index_check(ix));
	st_relaxed(&ix->count, ld_relaxed(&ix->count) - 1);
	CHECK(dc_index_check(ix));
	dc_index_destroy(ix);
	printf("ok check_catches\n");
}

int main(int argc, char **argv)
{
	uint64_t seed = t_seed(argc > 1 ? strtoull(argv[1], NULL, 0) : 0x1dec5eed), rs = seed;

	t_watchdog(240);
	printf("seed %#" PRIx64 "\n", seed);
	test_basic(&rs);
	test_bad_input();
	test_multi_order(&rs);
	test_find(&rs);
	test_marks_through_reshaping(&rs);
	test_check_catches();
	test_alloc_failure(&rs);
	for (unsigned dist = 0; dist < 4; dist++)
		test_random(seed + dist, dist, t_scale(40000), false);
	test_memory(&rs);
	dc_quiesce();
	return T_PASS;
}
