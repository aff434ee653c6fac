/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_index - the radix index (daxcore/index.h): every function, every bad
 * input, multi-order entries found from every index inside, find and
 * find_marked across node boundaries and huge gaps, a randomized run
 * against a reference model, gather, erase_range and replace_batch against
 * the model, allocation failure injected at every allocation of a store,
 * memory figures, that dc_index_check() itself catches a broken node, and
 * (ASan) that LeakSanitizer sees the nodes of a live index.
 *
 * One case per behaviour (test_index --list; test_index NAME runs one).  The
 * fixture is the case's index (setup creates it; a case that needs another
 * one after it gets it from ix_new()) and the case's PRNG, seeded from
 * DAXCORE_TEST_SEED (default 0x1dec5eed) and the case's name, so a case
 * draws the same keys alone or among the others.  Teardown checks the
 * case destroyed its index, or left it empty, unlocked and valid.
 */
#include "harness.h"

#include "base/base.h"
#include "index/index_int.h"

#include <daxcore/index.h>

#if defined(__SANITIZE_ADDRESS__)
#define T_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_LSAN 1
#endif
#endif
#ifdef T_LSAN
#include <sanitizer/lsan_interface.h>
#endif

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

/* ---- fixture ----------------------------------------------------------- */

static struct dc_index *fx_ix;  /* the case's index, until it is destroyed */
static bool fx_given;           /* fx_ix was handed to the case by ix_new() */
static uint64_t fx_seed, fx_rs; /* the program's seed; the case's PRNG */

/* The case's next index: the one from setup, then each after the last is gone. */
static struct dc_index *ix_new(void)
{
	if (fx_ix && !fx_given) {
		fx_given = true;
		return fx_ix;
	}
	CHECK(fx_ix == NULL); /* one index at a time: the previous one destroyed */
	fx_ix = dc_index_create();
	CHECK(fx_ix);
	return fx_ix;
}

static void ix_destroy(struct dc_index *ix)
{
	CHECK(ix == fx_ix);
	dc_index_destroy(ix);
	fx_ix = NULL;
}

static void setup(void)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a of the case's name */

	t_watchdog_total(240);
	fx_seed = t_seed(0x1dec5eed);
	for (const char *c = t_case_name(); *c; c++)
		h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
	fx_rs = fx_seed ^ h;
	printf("seed %#" PRIx64 "\n", fx_seed);
	fx_given = false;
	fx_ix = dc_index_create();
	CHECK(fx_ix);
}

/* The case's index is destroyed, or empty, valid, unlocked, nothing retired. */
static void teardown(void)
{
	struct dc_index *ix = fx_ix;

	dc__fault_set(0);
	if (ix) {
		if (dc_index_count(ix) || dc_index_bytes(ix))
			fprintf(stderr, "case %s left %" PRIu64 " entries (%zu bytes) in its index\n",
				t_case_name(), dc_index_count(ix), dc_index_bytes(ix));
		CHECK(dc_index_check(ix));
		CHECK_EQ(dc_index_count(ix), 0);
		CHECK_EQ(dc_index_bytes(ix), 0);
		CHECK_EQ(pthread_mutex_trylock(&ix->lock), 0); /* not left locked */
		CHECK(!ix->retired);
		CHECK_EQ(pthread_mutex_unlock(&ix->lock), 0);
		ix_destroy(ix);
	}
	dc_quiesce();
}

static void finish(struct dc_index *ix, struct model *m)
{
	ix_destroy(ix);
	free(m->e);
	m->e = NULL;
	m->n = m->cap = 0;
}

/* ---- tests ---------------------------------------------------------------- */

TEST(basic)
{
	uint64_t *rs = &fx_rs;
	struct dc_index *ix = ix_new();
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
	CHECK_EQ(dc_index_store_locked(ix, 77, 0, 770), 0);
	CHECK_EQ(dc_index_set_mark_locked(ix, 77, DC_INDEX_MARK2), 0);
	CHECK(dc_index_get_mark(ix, 77, DC_INDEX_MARK2));
	CHECK_EQ(dc_index_clear_mark_locked(ix, 77, DC_INDEX_MARK2), 0);
	CHECK_EQ(dc_index_erase_locked(ix, 77), 770);
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
}

TEST(bad_input)
{
	struct dc_index *ix = ix_new();
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
}

/* Overlaps with multi-order entries, in both directions, dense and sparse. */
TEST(overlaps)
{
	struct dc_index *ix = ix_new();
	uint64_t bases[] = { 0, 1ull << 40, 0xfffffffe00000000ull };
	uint64_t f = 0;
	unsigned o = 0;

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
	ix_destroy(ix);
}

/* Multi-order entries of every order, in dense and sparse surroundings. */
TEST(multi_order)
{
	uint64_t *rs = &fx_rs;

	for (unsigned ctx = 0; ctx < 3; ctx++) {
		struct dc_index *ix = ix_new();
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
}

/* find and find_marked over node boundaries, huge gaps, limits. */
TEST(find)
{
	uint64_t *rs = &fx_rs;
	struct dc_index *ix = ix_new();
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
}

/* One entry at each end of the key space and nothing between. */
TEST(find_key_space_ends)
{
	uint64_t *rs = &fx_rs;
	struct dc_index *ix = ix_new();
	struct model m = { 0 };
	uint64_t f;
	unsigned o;

	CHECK(ix);
	store_ok(ix, &m, 0, 0, 1);
	store_ok(ix, &m, UINT64_MAX - ((1ull << 32) - 1), 32, 2);
	CHECK_EQ(dc_index_find(ix, 1, UINT64_MAX, &f, &o), 2);
	CHECK_EQ(o, 32);
	CHECK_EQ(dc_index_find(ix, 1, UINT64_MAX - (1ull << 32), &f, &o), 0);
	CHECK_EQ(dc_index_load(ix, UINT64_MAX), 2);
	verify(ix, &m, rs);
	finish(ix, &m);
}

/* Marks survive the copies, splits and bursts of the nodes that hold them. */
TEST(marks_through_reshaping)
{
	uint64_t *rs = &fx_rs;
	struct dc_index *ix = ix_new();
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
}

/* Keys in four distributions, with orders mostly 0, some 9, 18 or any. */
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

/* ---- gather ------------------------------------------------------------------ */

/* The model's answer to gather(start, max, n). */
static unsigned m_gather(const struct model *m, uint64_t start, uint64_t max,
			 struct dc_index_item *out, unsigned n)
{
	long p = m_floor(m, start);
	size_t k = p >= 0 && mlast(&m->e[p]) >= start ? (size_t)p : (size_t)(p + 1);
	unsigned got = 0;

	if (start > max)
		return 0;
	for (; k < m->n && got < n && m->e[k].first <= max; k++)
		out[got++] = (struct dc_index_item){ m->e[k].first, m->e[k].val, m->e[k].order };
	return got;
}

#define GMAX 64

static void check_gather(struct dc_index *ix, const struct model *m, uint64_t start, uint64_t max,
			 unsigned n)
{
	struct dc_index_item got[GMAX + 1], want[GMAX];
	unsigned a, b;

	CHECK(n <= GMAX);
	memset(got, 0xa5, sizeof(got));
	a = dc_index_gather(ix, start, max, got, n);
	b = m_gather(m, start, max, want, n);
	if (a != b)
		fprintf(stderr, "gather [%#" PRIx64 ", %#" PRIx64 "] n %u: %u items, model %u\n",
			start, max, n, a, b);
	CHECK_EQ(a, b);
	for (unsigned i = 0; i < a; i++) {
		CHECK_EQ(got[i].first, want[i].first);
		CHECK_EQ(got[i].value, want[i].value);
		CHECK_EQ(got[i].order, want[i].order);
	}
	CHECK_EQ(got[a].first, UINT64_C(0xa5a5a5a5a5a5a5a5)); /* nothing written past the count */
}

/* The whole index through gather in chunks of @n: exactly the model. */
static void check_gather_all(struct dc_index *ix, const struct model *m, unsigned n)
{
	struct dc_index_item it[GMAX];
	uint64_t start = 0;
	size_t k = 0;

	for (;;) {
		unsigned got = dc_index_gather(ix, start, UINT64_MAX, it, n), i;
		uint64_t last;

		CHECK(got <= n);
		for (i = 0; i < got; i++, k++) {
			CHECK(k < m->n);
			CHECK_EQ(it[i].first, m->e[k].first);
			CHECK_EQ(it[i].order, m->e[k].order);
			CHECK_EQ(it[i].value, m->e[k].val);
		}
		if (got < n)
			break;
		last = mlast(&m->e[k - 1]);
		if (last == UINT64_MAX)
			break;
		start = last + 1;
	}
	CHECK_EQ(k, m->n);
}

/* A start or end point near entries of the model, or anywhere. */
static uint64_t probe_point(const struct model *m, uint64_t *rs)
{
	const struct ment *e;

	if (!m->n || t_rand(rs) % 8 == 0)
		return t_rand(rs) % 5 == 0 ? t_rand(rs) : t_rand(rs) % 100000;
	e = &m->e[t_rand(rs) % m->n];
	switch (t_rand(rs) % 5) {
	case 0: return e->first;
	case 1: return e->first - 1;
	case 2: return mlast(e);
	case 3: return mlast(e) + 1;
	default: return e->first + t_rand(rs) % (UINT64_C(1) << e->order);
	}
}

static void gather_probes(struct dc_index *ix, const struct model *m, uint64_t *rs, unsigned nr)
{
	for (unsigned i = 0; i < nr; i++) {
		uint64_t a = probe_point(m, rs), b;
		unsigned n = 1 + (unsigned)(t_rand(rs) % GMAX);

		switch (t_rand(rs) % 4) {
		case 0: b = UINT64_MAX; break;
		case 1: b = probe_point(m, rs); break;
		case 2: b = a + (t_rand(rs) % 5000); b = b < a ? UINT64_MAX : b; break;
		default: b = a; break;
		}
		check_gather(ix, m, a, b, n);
	}
}

/* Empty index, bad ranges, no room, both ends, entries straddling a range. */
TEST(gather_edges)
{
	uint64_t *rs = &fx_rs;
	struct dc_index *ix = ix_new();
	struct model m = { 0 };
	struct dc_index_item it[4];

	CHECK(ix);
	/* Empty index, bad ranges, no room. */
	CHECK_EQ(dc_index_gather(ix, 0, UINT64_MAX, it, 4), 0);
	store_ok(ix, &m, 5, 0, 50);
	CHECK_EQ(dc_index_gather(ix, 6, 5, it, 4), 0);
	CHECK_EQ(dc_index_gather(ix, 0, UINT64_MAX, it, 0), 0);
	CHECK_EQ(dc_index_gather(ix, 5, 5, it, 4), 1);
	CHECK_EQ(it[0].first, 5);
	CHECK_EQ(it[0].value, 50);
	CHECK_EQ(it[0].order, 0);
	CHECK_EQ(dc_index_gather(ix, 6, UINT64_MAX, it, 4), 0);
	CHECK_EQ(dc_index_gather(ix, 0, 4, it, 4), 0);

	/* Both ends of the key space, and a multi-order entry straddling each end of a range. */
	store_ok(ix, &m, 0, 0, 1);
	store_ok(ix, &m, UINT64_MAX, 0, 2);
	store_ok(ix, &m, UINT64_C(1) << 32, 32, 3);
	store_ok(ix, &m, 4096, 9, 4);
	store_ok(ix, &m, 8192, 12, 5);
	CHECK_EQ(dc_index_gather(ix, 4096 + 100, 8192 + 5, it, 4), 2);
	CHECK_EQ(it[0].first, 4096); /* starts before the range */
	CHECK_EQ(it[0].order, 9);
	CHECK_EQ(it[1].first, 8192); /* ends after it */
	CHECK_EQ(it[1].order, 12);
	CHECK_EQ(dc_index_gather(ix, UINT64_MAX, UINT64_MAX, it, 4), 1);
	CHECK_EQ(it[0].value, 2);
	CHECK_EQ(dc_index_gather(ix, (UINT64_C(1) << 33) - 1, UINT64_MAX, it, 4), 2);
	CHECK_EQ(it[0].value, 3);
	CHECK_EQ(it[1].value, 2);
	check_gather_all(ix, &m, 1);
	check_gather_all(ix, &m, 2);
	gather_probes(ix, &m, rs, 500);
	finish(ix, &m);
}

/* Every shape: dense, sparse, clustered, anywhere, with multi-order entries. */
TEST(gather_shapes)
{
	uint64_t *rs = &fx_rs;
	struct dc_index *ix;
	struct model m = { 0 };

	for (unsigned dist = 0; dist < 4; dist++) {
		ix = ix_new();
		CHECK(ix);
		for (unsigned i = 0; i < 4000; i++) {
			unsigned order;
			uint64_t k = gen_key(rs, dist, &order);

			if (!m_cover(&m, k) && !m_cover(&m, k + ((UINT64_C(1) << order) - 1)))
				if (m_store(&m, k, order, tval(k, order)) == 0)
					CHECK_EQ(dc_index_store(ix, k, order, tval(k, order)), 0);
			if (i % 1000 == 999) {
				CHECK_EQ(dc_index_count(ix), m.n);
				check_gather_all(ix, &m, 1);
				check_gather_all(ix, &m, 7);
				check_gather_all(ix, &m, GMAX);
				gather_probes(ix, &m, rs, 2000);
			}
		}
		/* And while it empties (tombstones, shrinking branches). */
		while (m.n > 10) {
			for (unsigned i = 0; i < m.n / 3; i++) {
				uint64_t f = m.e[t_rand(rs) % m.n].first;

				CHECK_EQ(dc_index_erase(ix, f), m_erase(&m, f));
			}
			check_gather_all(ix, &m, 5);
			gather_probes(ix, &m, rs, 500);
		}
		finish(ix, &m);
	}
}

/* ---- erase_range -------------------------------------------------------------- */

static uint64_t m_erase_range(struct model *m, uint64_t first, uint64_t last)
{
	size_t w = 0;
	uint64_t n = 0;

	for (size_t k = 0; k < m->n; k++) {
		if (first <= last && m->e[k].first >= first && mlast(&m->e[k]) <= last) {
			n++;
			continue;
		}
		m->e[w++] = m->e[k];
	}
	m->n = w;
	return n;
}

/* Erase [first, last] in both, checking the count and that nothing was allocated. */
static void erase_range_ok(struct dc_index *ix, struct model *m, uint64_t first, uint64_t last)
{
	unsigned long allocs;
	uint64_t got;

	dc_index_lock(ix);
	allocs = dc__alloc_count();
	got = dc_index_erase_range_locked(ix, first, last);
	CHECK_EQ(dc__alloc_count(), allocs);
	CHECK(dc_index_check(ix));
	dc_index_unlock(ix);
	CHECK_EQ(got, m_erase_range(m, first, last));
	CHECK_EQ(dc_index_count(ix), m->n);
}

/* A range to erase: around an entry, aligned blocks, windows, anywhere. */
static void erase_range_pick(const struct model *m, uint64_t *rs, uint64_t *a, uint64_t *b)
{
	static const unsigned shifts[] = { 6, 9, 12, 18, 24, 30, 36 };
	unsigned s;

	switch (t_rand(rs) % 5) {
	case 0: /* aligned block: whole nodes */
		s = shifts[t_rand(rs) % ARRAY_SIZE(shifts)];
		*a = probe_point(m, rs) >> s << s;
		*b = *a + ((UINT64_C(1) << s) - 1);
		break;
	case 1: /* from and to points near entries (straddling or not) */
		*a = probe_point(m, rs);
		*b = probe_point(m, rs);
		if (*a > *b) {
			uint64_t t = *a;

			*a = *b;
			*b = t;
		}
		break;
	case 2: /* a small window */
		*a = probe_point(m, rs);
		*b = *a + t_rand(rs) % 300;
		*b = *b < *a ? UINT64_MAX : *b;
		break;
	case 3: /* an empty or reversed range */
		*a = probe_point(m, rs);
		*b = t_rand(rs) % 2 ? *a : *a - 1;
		break;
	default:
		*a = probe_point(m, rs);
		*b = *a + (t_rand(rs) % (UINT64_C(1) << (t_rand(rs) % 40)));
		*b = *b < *a ? UINT64_MAX : *b;
		break;
	}
}

static void fill_random(struct dc_index *ix, struct model *m, uint64_t *rs, unsigned dist,
			unsigned nr)
{
	for (unsigned i = 0; i < nr; i++) {
		unsigned order;
		uint64_t k = gen_key(rs, dist, &order), v = tval(k, order);

		if (m_cover(m, k) || m_cover(m, k + ((UINT64_C(1) << order) - 1)) ||
		    m_store(m, k, order, v))
			continue;
		CHECK_EQ(dc_index_store(ix, k, order, v), 0);
		if (t_rand(rs) % 4 == 0) {
			unsigned mk = (unsigned)(t_rand(rs) % 3);

			CHECK_EQ(dc_index_set_mark(ix, k, mk), 0);
			m_cover(m, k)->marks |= 1u << mk;
		}
	}
}

/* Nothing there; reversed range; one entry. */
TEST(erase_range_edges)
{
	struct dc_index *ix = ix_new();
	struct model m = { 0 };

	CHECK(ix);
	erase_range_ok(ix, &m, 0, UINT64_MAX);
	store_ok(ix, &m, 100, 0, 1);
	erase_range_ok(ix, &m, 101, 100);
	erase_range_ok(ix, &m, 0, 99);
	erase_range_ok(ix, &m, 101, UINT64_MAX);
	CHECK_EQ(dc_index_load(ix, 100), 1);
	erase_range_ok(ix, &m, 100, 100);
	CHECK_EQ(dc_index_bytes(ix), 0);
	finish(ix, &m);
}

/* Multi-order entries straddling either end stay; those inside go. */
TEST(erase_range_straddle)
{
	uint64_t *rs = &fx_rs;
	struct dc_index *ix = ix_new();
	struct model m = { 0 };

	store_ok(ix, &m, 0, 9, 1);       /* [0, 511] */
	store_ok(ix, &m, 512, 0, 2);
	store_ok(ix, &m, 600, 3, 3);     /* [600, 607] */
	store_ok(ix, &m, 1024, 10, 4);   /* [1024, 2047] */
	store_ok(ix, &m, 4096, 12, 5);   /* [4096, 8191] */
	store_ok(ix, &m, UINT64_MAX, 0, 6);
	store_ok(ix, &m, UINT64_MAX - ((UINT64_C(1) << 32) - 1) - (UINT64_C(1) << 32), 32, 7);
	CHECK_EQ(dc_index_set_mark(ix, 600, 1), 0);
	m_cover(&m, 600)->marks |= 2;
	CHECK_EQ(dc_index_set_mark(ix, 1024, 1), 0);
	m_cover(&m, 1024)->marks |= 2;
	erase_range_ok(ix, &m, 100, 1500);         /* only 512 and [600, 607] */
	CHECK_EQ(dc_index_load(ix, 0), 1);
	CHECK_EQ(dc_index_load(ix, 1500), 4);
	CHECK_EQ(dc_index_load(ix, 600), 0);
	verify(ix, &m, rs);
	erase_range_ok(ix, &m, 1024, 8190);        /* [1024, 2047]; [4096, 8191] straddles */
	CHECK(!dc_index_get_mark(ix, 1024, 1));
	CHECK_EQ(dc_index_find_marked(ix, 0, UINT64_MAX, 1, NULL, NULL), 0);
	erase_range_ok(ix, &m, 1, UINT64_MAX - 1); /* [4096, 8191] and the order-32 one */
	verify(ix, &m, rs);
	CHECK_EQ(m.n, 2);
	erase_range_ok(ix, &m, 0, UINT64_MAX);
	CHECK_EQ(dc_index_count(ix), 0);
	CHECK_EQ(dc_index_bytes(ix), 0);
	finish(ix, &m);
}

/*
 * Unlinked nodes wait on the index until the unlock hands them to RCU in
 * one batch; if the batch header cannot be allocated they go one by one
 * (LeakSanitizer checks that all are freed).
 */
TEST(erase_range_retire)
{
	struct dc_index *ix = ix_new();
	struct model m = { 0 };

	for (uint64_t i = 0; i < 200; i++)
		store_ok(ix, &m, i, 0, i + 1);
	CHECK(!ix->retired);
	dc_index_lock(ix);
	CHECK_EQ(dc_index_erase_range_locked(ix, 0, 199), 200);
	m_erase_range(&m, 0, 199);
	CHECK_EQ(ix->nretired, 5); /* the shift-6 root and four shift-0 branches */
	CHECK_EQ(dc_index_bytes(ix), 0);
	dc__fault_set(1);
	dc_index_unlock(ix);
	dc__fault_set(0);
	CHECK(!ix->retired);
	for (uint64_t i = 0; i < 200; i++)
		store_ok(ix, &m, i, 0, i + 1);
	erase_range_ok(ix, &m, 0, 199); /* the same with a batch header */
	CHECK(!ix->retired);
	finish(ix, &m);
}

/*
 * Dense: a block of 64 at a time frees whole shift-0 branches; the last
 * range retires hundreds of nodes, still without allocating.
 */
TEST(erase_range_dense)
{
	uint64_t *rs = &fx_rs;
	struct dc_index *ix = ix_new();
	struct model m = { 0 };
	unsigned long allocs;

	for (uint64_t i = 0; i < 60000; i++)
		store_ok(ix, &m, i, 0, i + 1);
	erase_range_ok(ix, &m, 64, 127);
	erase_range_ok(ix, &m, 4096, 8191);
	erase_range_ok(ix, &m, 3, 62);
	erase_range_ok(ix, &m, 10000, 19998);
	verify(ix, &m, rs);
	dc_index_lock(ix);
	allocs = dc__alloc_count();
	CHECK_EQ(dc_index_erase_range_locked(ix, 0, 59999), m.n);
	CHECK_EQ(dc__alloc_count(), allocs);
	CHECK(ix->nretired > 700);
	dc_index_unlock(ix);
	m.n = 0;
	CHECK_EQ(dc_index_bytes(ix), 0);
	CHECK_EQ(dc_index_count(ix), 0);
	finish(ix, &m);
}

/* Randomized, in every key distribution, against the model. */
TEST(erase_range_random)
{
	uint64_t *rs = &fx_rs;
	struct dc_index *ix;
	struct model m = { 0 };

	for (unsigned dist = 0; dist < 4; dist++) {
		unsigned long erased = 0;

		ix = ix_new();
		CHECK(ix);
		for (unsigned round = 0; round < 40; round++) {
			fill_random(ix, &m, rs, dist, 400);
			for (unsigned i = 0; i < 8; i++) {
				uint64_t a, b, before = m.n;

				erase_range_pick(&m, rs, &a, &b);
				erase_range_ok(ix, &m, a, b);
				erased += before - m.n;
			}
			if (round % 8 == 7)
				verify(ix, &m, rs);
		}
		verify(ix, &m, rs);
		/* The handing over of a batch of nodes falls back to one by one. */
		dc_index_lock(ix);
		m_erase_range(&m, 0, UINT64_MAX / 2);
		dc_index_erase_range_locked(ix, 0, UINT64_MAX / 2);
		dc__fault_set(1);
		dc_index_unlock(ix);
		dc__fault_set(0);
		verify(ix, &m, rs);
		erase_range_ok(ix, &m, 0, UINT64_MAX);
		CHECK_EQ(dc_index_bytes(ix), 0);
		finish(ix, &m);
		printf("ok erase_range dist %u (%lu erased by range)\n", dist, erased);
	}
}

/* ---- replace_batch --------------------------------------------------------- */

/* One batch under the lock: no allocation, a valid index, the count replaced. */
static void replace_batch_ok(struct dc_index *ix, const struct dc_index_item *it, unsigned n,
			     unsigned want)
{
	unsigned long allocs;
	unsigned got;

	dc_index_lock(ix);
	allocs = dc__alloc_count();
	got = dc_index_replace_batch_locked(ix, it, n);
	CHECK_EQ(dc__alloc_count(), allocs);
	CHECK(dc_index_check(ix));
	dc_index_unlock(ix);
	if (got != want)
		fprintf(stderr, "replace_batch of %u items: %u replaced, model %u\n", n, got, want);
	CHECK_EQ(got, want);
}

/*
 * A batch over the model's entries from position @p, @len of them: most
 * replaced with a new value; others given with value 0 or too large, the
 * wrong order, an index inside rather than the first, erased just before
 * (a tombstone in a leaf), or joined by an item in a gap before them (up
 * to 2 @len items in @it).  Items stay sorted and disjoint.  The model
 * takes the new values of those that must be replaced; return their number.
 */
static unsigned replace_batch_make(struct dc_index *ix, struct model *m, uint64_t *rs, size_t p,
				   unsigned len, struct dc_index_item *it, unsigned *nit)
{
	uint64_t erase_keys[256];
	unsigned want = 0, n = 0, nerase = 0;
	uint64_t prev_end = 0; /* one past the previous item (0: none yet) */
	bool any = false;

	for (size_t k = p; k < m->n && k < p + len; k++) {
		struct ment *e = &m->e[k];
		uint64_t v = (e->val ^ (t_rand(rs) & 0xffffffff)) & DC_INDEX_VALUE_MAX;
		unsigned r = (unsigned)(t_rand(rs) % 100);

		v = v ? v : 1;
		/* An item in the gap before the entry: nothing there. */
		if (t_rand(rs) % 10 == 0 && e->first && (!any || prev_end < e->first) &&
		    (k == 0 || mlast(&m->e[k - 1]) < e->first - 1)) {
			uint64_t lo = k ? mlast(&m->e[k - 1]) + 1 : 0;

			if (any && prev_end > lo)
				lo = prev_end;
			if (lo < e->first) {
				it[n++] = (struct dc_index_item){ lo + t_rand(rs) % (e->first - lo), v, 0 };
				CHECK(!m_cover(m, it[n - 1].first));
			}
		}
		if (r < 60) {
			it[n++] = (struct dc_index_item){ e->first, v, e->order };
			e->val = v;
			want++;
		} else if (r < 66) {
			it[n++] = (struct dc_index_item){ e->first, 0, e->order };
		} else if (r < 72) {
			uint64_t bad[] = { DC_INDEX_VALUE_MAX + 1, UINT64_MAX, (UINT64_C(1) << 63) | v };

			it[n++] = (struct dc_index_item){ e->first, bad[t_rand(rs) % 3], e->order };
		} else if (r < 80 && e->order) {
			/* Smaller order: the first half, or the second half (not its first index). */
			uint64_t half = UINT64_C(1) << (e->order - 1);

			it[n++] = (struct dc_index_item){ e->first + (t_rand(rs) % 2 ? half : 0), v,
							  e->order - 1 };
		} else if (r < 84 && e->order < DC_INDEX_ORDER_MAX &&
			   !(e->first & (UINT64_C(1) << e->order)) &&
			   !m_cover(m, e->first + (UINT64_C(1) << e->order)) &&
			   (k + 1 >= m->n || m->e[k + 1].first > mlast(e) + (UINT64_C(1) << e->order))) {
			/* Larger order over the entry and the empty space after it. */
			it[n++] = (struct dc_index_item){ e->first, v, e->order + 1 };
		} else if (r < 90 && e->order == 0 && (e->first & 1)) {
			/* Misaligned for order 1 (never an entry's range). */
			it[n++] = (struct dc_index_item){ e->first, v, 1 };
			if (k + 1 < m->n && m->e[k + 1].first == e->first + 1) {
				/* It would overlap the next item: a plain one instead. */
				it[n - 1].order = 0;
				e->val = v;
				want++;
			}
		} else if (r < 95 && nerase < ARRAY_SIZE(erase_keys)) {
			/* Erased before the batch: in a leaf, a tombstone with this key. */
			it[n++] = (struct dc_index_item){ e->first, v, e->order };
			erase_keys[nerase++] = e->first;
		} else {
			it[n++] = (struct dc_index_item){ e->first, v, e->order };
			e->val = v;
			want++;
		}
		prev_end = it[n - 1].first + (UINT64_C(1) << it[n - 1].order);
		any = true;
		if (!prev_end) /* the item ends at 2^64 - 1: nothing after it */
			break;
	}
	for (unsigned i = 0; i < nerase; i++)
		CHECK_EQ(dc_index_erase(ix, erase_keys[i]), m_erase(m, erase_keys[i]));
	for (unsigned i = 1; i < n; i++)
		CHECK(it[i].first > it[i - 1].first + ((UINT64_C(1) << it[i - 1].order) - 1));
	*nit = n;
	return want;
}

/* Empty batches; root leaf and dense branches with value runs; marks kept. */
TEST(replace_batch_values)
{
	uint64_t *rs = &fx_rs;
	struct dc_index *ix = ix_new();
	struct model m = { 0 };
	struct dc_index_item it[2 * 4 * 64 + 8];
	unsigned n;

	CHECK(ix);
	/* Empty index, empty batch. */
	it[0] = (struct dc_index_item){ 5, 1, 0 };
	replace_batch_ok(ix, it, 1, 0);
	replace_batch_ok(ix, it, 0, 0);
	/* A root leaf; dense branches with multi-order value runs; marks kept. */
	store_ok(ix, &m, 5, 0, 50);
	store_ok(ix, &m, 64, 6, 60);
	it[1] = (struct dc_index_item){ 64, 61, 6 };
	replace_batch_ok(ix, it, 2, 2);
	CHECK_EQ(dc_index_load(ix, 5), 1);
	CHECK_EQ(dc_index_load(ix, 127), 61);
	for (uint64_t i = 256; i < 4096; i++)
		store_ok(ix, &m, i, 0, i);
	store_ok(ix, &m, 4096, 9, 4096);   /* 8 slots at shift 6 */
	store_ok(ix, &m, 8192, 6, 8192);   /* 1 slot at shift 6 */
	store_ok(ix, &m, 1 << 18, 18, 77); /* 1 slot at shift 18 */
	store_ok(ix, &m, UINT64_C(1) << 32, 32, 78);
	for (uint64_t i = 300; i < 4096; i += 7) {
		CHECK_EQ(dc_index_set_mark(ix, i, (unsigned)i % 3), 0);
		m_cover(&m, i)->marks |= 1u << (i % 3);
	}
	CHECK_EQ(dc_index_set_mark(ix, 4096 + 100, 2), 0);
	m_cover(&m, 4096)->marks |= 4;
	n = 0;
	for (uint64_t i = 4000; i < 4096; i++)
		it[n++] = (struct dc_index_item){ i, i + 1000000, 0 };
	it[n++] = (struct dc_index_item){ 4096, 11, 9 };
	it[n++] = (struct dc_index_item){ 4096 + 512, 12, 9 }; /* nothing there */
	it[n++] = (struct dc_index_item){ 8192, 13, 6 };
	it[n++] = (struct dc_index_item){ 8192 + 64, 13, 0 }; /* nothing there */
	it[n++] = (struct dc_index_item){ 1 << 18, 14, 17 };  /* wrong order */
	it[n++] = (struct dc_index_item){ UINT64_C(1) << 32, 15, 32 };
	it[n++] = (struct dc_index_item){ UINT64_MAX, 16, 0 }; /* nothing there */
	replace_batch_ok(ix, it, n, 96 + 3);
	for (uint64_t i = 4000; i < 4096; i++)
		m_cover(&m, i)->val = i + 1000000;
	m_cover(&m, 4096)->val = 11;
	m_cover(&m, 8192)->val = 13;
	m_cover(&m, UINT64_C(1) << 32)->val = 15;
	m.e[0].val = 1;
	m.e[1].val = 61;
	CHECK(dc_index_get_mark(ix, 4096 + 511, 2));
	CHECK(dc_index_get_mark(ix, 4003, 4003 % 3)); /* 4003 = 300 + 7 * 529 */
	verify(ix, &m, rs);
	finish(ix, &m);
}

/*
 * Items outside a compressed branch whose slot for them holds a value of
 * that order: the root is a shift-0 branch at 0x1000, then a branch at
 * shift 24 holds it and one at 2^30 (the batch climbs and goes down again
 * between them).
 */
TEST(replace_batch_compressed)
{
	uint64_t *rs = &fx_rs;
	struct dc_index *ix = ix_new();
	struct model m = { 0 };
	struct dc_index_item it[2 * 4 * 64 + 8];
	unsigned n;

	CHECK(ix);
	for (uint64_t i = 0x1000; i < 0x1010; i++)
		store_ok(ix, &m, i, 0, i);
	it[0] = (struct dc_index_item){ 0x5, 1, 0 };
	it[1] = (struct dc_index_item){ 0x1005, 2, 0 };
	it[2] = (struct dc_index_item){ 0x2006, 3, 0 };
	it[3] = (struct dc_index_item){ UINT64_C(1) << 40 | 0x1007, 4, 0 };
	replace_batch_ok(ix, it, 4, 1);
	m_cover(&m, 0x1005)->val = 2;
	verify(ix, &m, rs);
	for (uint64_t i = 0; i < 16; i++)
		store_ok(ix, &m, (UINT64_C(1) << 30) + i, 0, i + 1);
	n = 0;
	for (uint64_t i = 0; i < 16; i++) {
		it[n++] = (struct dc_index_item){ 0x1000 + i, 100 + i, 0 };
		it[n++] = (struct dc_index_item){ 0x3000 + i, 100 + i, 0 };
		m_cover(&m, 0x1000 + i)->val = 100 + i;
	}
	for (uint64_t i = 0; i < 16; i++) {
		it[n++] = (struct dc_index_item){ (UINT64_C(1) << 29) + i, 200 + i, 0 };
		it[n++] = (struct dc_index_item){ (UINT64_C(1) << 30) + i, 300 + i, 0 };
		m_cover(&m, (UINT64_C(1) << 30) + i)->val = 300 + i;
	}
	replace_batch_ok(ix, it, n, 32);
	verify(ix, &m, rs);
	finish(ix, &m);
}

/* Every key distribution, every kind of item, batches of 1 to 256 and the whole index. */
TEST(replace_batch_random)
{
	uint64_t *rs = &fx_rs;
	struct dc_index *ix;
	struct model m = { 0 };
	struct dc_index_item it[2 * 4 * 64 + 8], *all; /* up to two items per entry */
	unsigned n, want;

	for (unsigned dist = 0; dist < 4; dist++) {
		unsigned long replaced = 0;

		ix = ix_new();
		CHECK(ix);
		for (unsigned round = 0; round < 24; round++) {
			fill_random(ix, &m, rs, dist, 300);
			for (unsigned b = 0; b < 16 && m.n; b++) {
				unsigned len = b % 4 == 0 ? 4 * 64 : 1 + (unsigned)(t_rand(rs) % 64);
				size_t p = t_rand(rs) % m.n;

				want = replace_batch_make(ix, &m, rs, p, len, it, &n);
				replace_batch_ok(ix, it, n, want);
				replaced += want;
			}
			if (round % 6 == 5)
				verify(ix, &m, rs);
		}
		/* The whole index in one batch. */
		all = calloc(2 * m.n + 1, sizeof(*all));
		CHECK(all);
		want = replace_batch_make(ix, &m, rs, 0, (unsigned)m.n, all, &n);
		replace_batch_ok(ix, all, n, want);
		free(all);
		verify(ix, &m, rs);
		finish(ix, &m);
		printf("ok replace_batch dist %u (%lu replaced)\n", dist, replaced);
	}
}

/* ---- randomized run against the model ------------------------------------ */

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
	struct dc_index *ix = ix_new();
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
/* dc_index_create() returns NULL when its allocation fails. */
TEST(alloc_failure_create)
{
	struct dc_index *ix;

	dc__fault_set(1);
	ix = dc_index_create();
	dc__fault_set(0);
	CHECK(!ix);
}

/* The stores that allocate most, each with failure at every allocation. */
TEST(alloc_failure_bursts)
{
	uint64_t *rs = &fx_rs;
	struct dc_index *ix;
	struct model m = { 0 };
	unsigned max_nth = 0;

	/* A full root leaf of spread keys bursts into a branch and several leaves. */
	ix = ix_new();
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
	finish(ix, &m);
}

/* A multi-order value splitting a wide leaf run, with failure at every allocation. */
TEST(alloc_failure_wide_run)
{
	uint64_t *rs = &fx_rs;
	struct dc_index *ix = ix_new();
	struct model m = { 0 };
	unsigned max_nth;

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
}

/* Every kind of store in a random run, each tried with failures first. */
TEST(random_with_faults)
{
	test_random(0xfa11, 1, 5000, true);
	test_random(0xfa12, 2, 5000, true);
	test_random(0xfa13, 0, 5000, true);
}

/* Randomized runs against the model, in the four key distributions. */
TEST(random_dense)
{
	test_random(fx_seed + 0, 0, t_scale(40000), false);
}

TEST(random_sparse)
{
	test_random(fx_seed + 1, 1, t_scale(40000), false);
}

TEST(random_clustered)
{
	test_random(fx_seed + 2, 2, t_scale(40000), false);
}

TEST(random_anywhere)
{
	test_random(fx_seed + 3, 3, t_scale(40000), false);
}

/* Bytes per entry, dense: 576-byte branches of 64 values, plus a little above. */
TEST(memory_dense)
{
	struct dc_index *ix = ix_new();
	const uint64_t n = 1 << 16;
	double dense;

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
	printf("memory: dense %.2f B/entry\n", dense);
}

/* Bytes per entry, sparse (random 40-bit keys). */
TEST(memory_sparse)
{
	uint64_t *rs = &fx_rs;
	struct dc_index *ix = ix_new();
	const uint64_t n = 1 << 16;
	double sparse;

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
	printf("memory: sparse %.2f B/entry\n", sparse);
	ix_destroy(ix);
}

/* dc_index_check() itself finds broken invariants. */
TEST(check_catches)
{
	struct dc_index *ix = ix_new();
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
	/* Slot words: a value word holding 0 (the run of 512/9), a node word of no kind. */
	save = ld_relaxed(&n->slot[8]);
	CHECK(w_is_value(save) && w_value(save) == 3);
	for (unsigned j = 8; j < 16; j++)
		st_relaxed(&n->slot[j], W_VAL);
	CHECK(!dc_index_check(ix));
	for (unsigned j = 8; j < 16; j++)
		st_relaxed(&n->slot[j], save);
	save = ld_relaxed(&n->slot[0]);
	CHECK(w_is_node(save) && w_kind(save) == K_PLAIN);
	st_relaxed(&n->slot[0], save | 3);
	CHECK(!dc_index_check(ix));
	st_relaxed(&n->slot[0], save);
	CHECK(dc_index_check(ix));
	ix_destroy(ix);
}

/*
 * LeakSanitizer follows the slot words: with an index alive (held by a
 * global, as a process that exits without destroying it would hold it),
 * a leak check finds none of its nodes leaked, in every node shape (plain
 * and compressed branches, leaves, value runs, the root a leaf or not).
 * A node word carrying a tag LSan cannot see through would report them all.
 * (The fixture's fx_ix is that global.)
 */
TEST(lsan_follows_nodes)
{
#ifdef T_LSAN
	uint64_t *rs = &fx_rs;
	struct dc_index *lsan_ix = ix_new();

	CHECK(lsan_ix);
	CHECK_EQ(dc_index_store(lsan_ix, 5, 0, 1), 0); /* a root leaf */
	CHECK_EQ(__lsan_do_recoverable_leak_check(), 0);
	for (uint64_t i = 0; i < 5000; i++)
		CHECK_EQ(dc_index_store(lsan_ix, i + 64, 0, i + 1), 0);
	for (unsigned i = 0; i < 5000; i++) {
		uint64_t k = t_rand(rs) & ((UINT64_C(1) << 44) - 1);

		if (!dc_index_load(lsan_ix, k))
			CHECK_EQ(dc_index_store(lsan_ix, k, 0, k ? k : 1), 0);
	}
	CHECK_EQ(dc_index_store(lsan_ix, UINT64_C(1) << 50, 9, 7), 0);
	CHECK_EQ(dc_index_store(lsan_ix, UINT64_C(3) << 50, 32, 8), 0);
	CHECK(dc_index_check(lsan_ix));
	CHECK_EQ(__lsan_do_recoverable_leak_check(), 0);
	ix_destroy(lsan_ix);
#else
	t_skip("lsan_follows_nodes: not an ASan build");
#endif
}

T_MAIN(setup, teardown)
