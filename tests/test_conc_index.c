/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_conc_index - lockless readers race a writer on one index.
 *
 * The writer stores, erases and replaces order-0 and multi-order entries
 * (dense and sparse, so leaves are copied, split and burst, branches split
 * and collapse) and sets and clears marks.  Every value encodes its entry:
 *     value = first << 20 | generation << 8 | order << 1 | 1
 * so a reader can tell that what it sees was legitimately there for that
 * index: never a torn value, never another key's value.  "Stable" entries,
 * stored before the race and never touched, must be found by every load,
 * every find whose range holds them and (for marked ones) every
 * find_marked: reshaping a node must never hide them.  A freed node read by
 * a reader is caught by ASan / TSan.  Deterministic writer from a seed.
 *
 *   test_conc_index [READERS [WRITER_OPS]]
 */
#include "harness.h"

#include "base/rcu.h"

#include <daxcore/index.h>
#include <stdatomic.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define DENSE_END (UINT64_C(1) << 16)
#define SPARSE_LO (UINT64_C(1) << 32)
#define SPARSE_BITS 40
#define NPOOL 4096
#define NSTABLE_DENSE 600
#define NSTABLE_SPARSE 512
#define NSTABLE (NSTABLE_DENSE + NSTABLE_SPARSE)

static struct dc_index *ix;
static uint64_t pool[NPOOL];
static uint64_t stable[NSTABLE]; /* sorted */
static _Atomic bool done;

static uint64_t encode(uint64_t first, unsigned gen, unsigned order)
{
	return first << 20 | (uint64_t)(gen & 0xfff) << 8 | order << 1 | 1;
}

static uint64_t dec_first(uint64_t v)
{
	return v >> 20;
}

static unsigned dec_order(uint64_t v)
{
	return (unsigned)(v >> 1) & 0x7f;
}

static bool stable_marked(size_t k, unsigned mark)
{
	return mark == 0 ? k % 3 == 0 : mark == 2 ? k % 5 == 0 : false;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* First stable key >= @x (index into stable[], NSTABLE if none). */
static size_t stable_from(uint64_t x)
{
	size_t lo = 0, hi = NSTABLE;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (stable[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool is_stable(uint64_t x)
{
	size_t k = stable_from(x);

	return k < NSTABLE && stable[k] == x;
}

/* A value seen for @idx is one that was there for it. */
static void check_value(uint64_t idx, uint64_t v)
{
	uint64_t first = dec_first(v);
	unsigned order = dec_order(v);

	if (!(v & 1) || order > DC_INDEX_ORDER_MAX || (first & ((UINT64_C(1) << order) - 1)) ||
	    idx < first || idx - first >= (UINT64_C(1) << order)) {
		fprintf(stderr, "index %#" PRIx64 ": foreign value %#" PRIx64 "\n", idx, v);
		exit(T_FAIL);
	}
}

static uint64_t reader_index(uint64_t *rs)
{
	uint64_t r = t_rand(rs);

	switch (r % 10) {
	case 0: case 1: case 2: case 3:
		return t_rand(rs) % DENSE_END;
	case 4: case 5:
		return stable[t_rand(rs) % NSTABLE];
	case 6: case 7:
		return pool[t_rand(rs) % NPOOL] + t_rand(rs) % 1024;
	case 8:
		return SPARSE_LO + t_rand(rs) % ((UINT64_C(1) << SPARSE_BITS) - SPARSE_LO);
	default:
		return t_rand(rs);
	}
}

struct reader {
	pthread_t tid;
	uint64_t seed;
	unsigned long ops;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint64_t rs = r->seed, f, v;
	unsigned o;

	while (!atomic_load(&done)) {
		uint64_t idx = reader_index(&rs), win = UINT64_C(1) << (t_rand(&rs) % 24);
		uint64_t max = idx + win < idx ? UINT64_MAX : idx + win;
		size_t sk;

		/* load */
		v = dc_index_load(ix, idx);
		if (v)
			check_value(idx, v);
		if (is_stable(idx))
			CHECK_EQ(v, encode(idx, 0, 0));

		/* load_entry: the range told is the value's */
		v = dc_index_load_entry(ix, idx, &f, &o);
		if (v) {
			check_value(idx, v);
			CHECK_EQ(f, dec_first(v));
			CHECK_EQ(o, dec_order(v));
		}

		/* find: consistent, in range, and never past a stable key */
		v = dc_index_find(ix, idx, max, &f, &o);
		sk = stable_from(idx);
		if (v) {
			CHECK_EQ(f, dec_first(v));
			CHECK_EQ(o, dec_order(v));
			CHECK(f <= max && f + ((UINT64_C(1) << o) - 1) >= idx);
		}
		if (sk < NSTABLE && stable[sk] <= max)
			CHECK(v && f <= stable[sk]);

		/* find_marked: the same for the stable marked keys */
		for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m += 2) {
			size_t k = sk;

			v = dc_index_find_marked(ix, idx, max, m, &f, &o);
			if (v) {
				CHECK_EQ(f, dec_first(v));
				CHECK_EQ(o, dec_order(v));
				CHECK(f <= max && f + ((UINT64_C(1) << o) - 1) >= idx);
			}
			while (k < NSTABLE && stable[k] <= max && !stable_marked(k, m))
				k++;
			if (k < NSTABLE && stable[k] <= max)
				CHECK(v && f <= stable[k]);
		}
		if (sk < NSTABLE && stable[sk] == idx)
			for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
				CHECK_EQ(dc_index_get_mark(ix, idx, m), stable_marked(sk, m));

		/* a short iteration: strictly increasing, consistent */
		if (r->ops % 16 == 0) {
			uint64_t i = idx, prev_last = 0;
			bool any = false;

			for (unsigned n = 0; n < 64 && (v = dc_index_find(ix, i, max, &f, &o)); n++) {
				uint64_t last = f + ((UINT64_C(1) << o) - 1);

				CHECK_EQ(f, dec_first(v));
				CHECK(!any || f > prev_last);
				any = true;
				prev_last = last;
				if (last >= max)
					break;
				i = last + 1;
			}
		}
		r->ops++;
	}
	return NULL;
}

/* The writer's own entries. */
struct went {
	uint64_t first;
	unsigned order, gen;
};

static void writer(uint64_t seed, unsigned long ops)
{
	struct went *own = calloc(ops + 1, sizeof(*own));
	size_t n = 0;
	uint64_t rs = seed;
	unsigned long stored = 0, eexist = 0, erased = 0;

	CHECK(own);
	for (unsigned long op = 0; op < ops; op++) {
		unsigned p = (unsigned)(t_rand(&rs) % 100);

		if (p < 48 || !n) {
			static const unsigned dense_orders[] = { 0, 0, 0, 0, 3, 6, 9, 9, 12 };
			static const unsigned sparse_orders[] = { 0, 0, 0, 9, 9, 18 };
			uint64_t k;
			unsigned order;
			int err;

			if (t_rand(&rs) % 2) {
				order = dense_orders[t_rand(&rs) % ARRAY_SIZE(dense_orders)];
				k = t_rand(&rs) % DENSE_END;
			} else {
				order = sparse_orders[t_rand(&rs) % ARRAY_SIZE(sparse_orders)];
				k = pool[t_rand(&rs) % NPOOL] + (t_rand(&rs) % 4) * 512;
			}
			k &= ~((UINT64_C(1) << order) - 1);
			/* An exact hit would replace a stable entry: keep off them. */
			size_t sk = stable_from(k);

			if (sk < NSTABLE && stable[sk] <= k + ((UINT64_C(1) << order) - 1))
				continue;
			/* Same range as one of ours would be a replace: that comes below. */
			if (dc_index_load(ix, k))
				continue;
			err = dc_index_store(ix, k, order, encode(k, 1, order));
			if (err == -EEXIST) {
				eexist++;
				continue;
			}
			CHECK_EQ(err, 0);
			own[n++] = (struct went){ k, order, 1 };
			stored++;
		} else if (p < 80) {
			size_t i = t_rand(&rs) % n;
			uint64_t in = own[i].first + t_rand(&rs) % (UINT64_C(1) << own[i].order);

			CHECK_EQ(dc_index_erase(ix, in), encode(own[i].first, own[i].gen, own[i].order));
			own[i] = own[--n];
			erased++;
		} else if (p < 88) {
			/* replace: same range, next generation */
			struct went *e = &own[t_rand(&rs) % n];

			e->gen++;
			CHECK_EQ(dc_index_store(ix, e->first, e->order, encode(e->first, e->gen, e->order)), 0);
		} else if (p < 97) {
			struct went *e = &own[t_rand(&rs) % n];
			unsigned m = (unsigned)(t_rand(&rs) % DC_INDEX_NR_MARKS);

			dc_index_lock(ix);
			if (t_rand(&rs) % 2)
				CHECK_EQ(__dc_index_set_mark(ix, e->first, m), 0);
			else
				CHECK_EQ(__dc_index_clear_mark(ix, e->first, m), 0);
			dc_index_unlock(ix);
		} else if (p < 98 && op % 4096 == 0) {
			/* erase a lot at once, for branches to empty and collapse */
			dc_index_lock(ix);
			for (size_t i = n / 2; i < n; i++)
				CHECK(__dc_index_erase(ix, own[i].first));
			dc_index_unlock(ix);
			n /= 2;
		} else {
			dc_index_lock(ix);
			CHECK(dc_index_check(ix));
			dc_index_unlock(ix);
		}
	}
	printf("writer: %lu stores, %lu overlaps refused, %lu erases, %zu left\n", stored, eexist,
	       erased, n);
	free(own);
}

int main(int argc, char **argv)
{
	unsigned nreaders = argc > 1 ? (unsigned)atoi(argv[1]) : 3;
	unsigned long ops = argc > 2 ? strtoul(argv[2], NULL, 0) : t_scale(300000);
	uint64_t seed = t_seed(0xc0ffee), rs = seed;
	struct reader *rd;
	unsigned long total = 0;

	t_watchdog(240);
	printf("seed %#" PRIx64 ", %u readers, %lu writer ops\n", seed, nreaders, ops);
	ix = dc_index_create();
	CHECK(ix);
	for (unsigned i = 0; i < NPOOL; i++)
		pool[i] = (SPARSE_LO + t_rand(&rs) % ((UINT64_C(1) << SPARSE_BITS) - SPARSE_LO)) &
			  ~((UINT64_C(1) << 18) - 1);
	for (unsigned i = 0; i < NSTABLE_DENSE; i++)
		stable[i] = (uint64_t)i * 97 + 13;
	for (unsigned i = NSTABLE_DENSE; i < NSTABLE; i++) {
		/* Next to pool keys, so the writer reshapes the nodes holding them. */
		uint64_t k = pool[t_rand(&rs) % NPOOL] + 4 * 512 + t_rand(&rs) % 100000;

		for (unsigned j = 0; j < i; j++)
			if (stable[j] == k)
				k++;
		stable[i] = k;
	}
	qsort(stable, NSTABLE, sizeof(stable[0]), cmp_u64);
	for (size_t k = 0; k < NSTABLE; k++) {
		CHECK(!k || stable[k] > stable[k - 1]);
		CHECK_EQ(dc_index_store(ix, stable[k], 0, encode(stable[k], 0, 0)), 0);
		for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
			if (stable_marked(k, m))
				CHECK_EQ(dc_index_set_mark(ix, stable[k], m), 0);
	}
	CHECK(dc_index_check(ix));

	rd = calloc(nreaders, sizeof(*rd));
	CHECK(rd);
	for (unsigned i = 0; i < nreaders; i++) {
		rd[i].seed = seed + 1000 + i;
		CHECK_EQ(pthread_create(&rd[i].tid, NULL, reader_main, &rd[i]), 0);
	}
	writer(seed, ops);
	atomic_store(&done, true);
	for (unsigned i = 0; i < nreaders; i++) {
		CHECK_EQ(pthread_join(rd[i].tid, NULL), 0);
		total += rd[i].ops;
	}
	printf("readers: %lu rounds\n", total);
	CHECK(!nreaders || total > 0);

	CHECK(dc_index_check(ix));
	for (size_t k = 0; k < NSTABLE; k++)
		CHECK_EQ(dc_index_load(ix, stable[k]), encode(stable[k], 0, 0));
	dc_index_destroy(ix);
	free(rd);
	/* For LeakSanitizer (TSan: see tests/tsan.supp). */
	dc_quiesce();
	return T_PASS;
}
