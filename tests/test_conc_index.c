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
 * find_marked: reshaping a node must never hide them.  Readers also gather
 * batches (dc_index_gather()): each item legitimate, the items sorted and
 * disjoint, and every stable key up to the end of the batch among them.
 * The writer also erases windows with dc_index_erase_range_locked() (whole
 * subtrees freed under the readers) and replaces batches of values with
 * dc_index_replace_batch_locked().  A freed node read by a reader is
 * caught by ASan / TSan.  Deterministic writer from a seed.
 *
 * Cases (test_conc_index --list): readers_vs_writer (the above) and churn
 * (value runs reshaped under readers, below).  The fixture is the index with
 * its stable entries (setup); teardown checks them intact, erases them and
 * then the index must be empty (the case erased what it stored), valid and
 * unlocked.  DAXCORE_TEST_READERS sets the readers (default 3),
 * DAXCORE_TEST_SCALE the writer's operations (300000) and churn rounds.
 */
#include "harness.h"

#include "base/rcu.h"
#include "index/index_int.h"

#include <daxcore/index.h>
#include <stdatomic.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define DENSE_END (UINT64_C(1) << 16)
#define SPARSE_LO (UINT64_C(1) << 32)
#define SPARSE_BITS 40
#define NPOOL 4096
#define NSTABLE_DENSE 600
#define NSTABLE_SPARSE 512
#define NSTABLE (NSTABLE_DENSE + NSTABLE_SPARSE)
#define GATHER_MAX 48

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
	unsigned long ops, gathered;
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

		/*
		 * gather: every item legitimate for its own range, the items
		 * sorted and disjoint, inside the range, and every stable key
		 * up to where the batch ended present.
		 */
		if (r->ops % 4 == 0) {
			struct dc_index_item it[GATHER_MAX];
			unsigned want = 1 + (unsigned)(t_rand(&rs) % GATHER_MAX), got, q = 0;
			uint64_t upto;

			got = dc_index_gather(ix, idx, max, it, want);
			CHECK(got <= want);
			for (unsigned i = 0; i < got; i++) {
				uint64_t last = it[i].first + ((UINT64_C(1) << it[i].order) - 1);

				check_value(it[i].first, it[i].value);
				CHECK_EQ(it[i].first, dec_first(it[i].value));
				CHECK_EQ(it[i].order, dec_order(it[i].value));
				CHECK(it[i].first <= max && last >= idx);
				CHECK(!i || it[i].first > it[i - 1].first +
						((UINT64_C(1) << it[i - 1].order) - 1));
			}
			/* Up to the end of the last item (or max, if the batch was not full). */
			upto = got < want ? max : it[got - 1].first + ((UINT64_C(1) << it[got - 1].order) - 1);
			for (size_t k = sk; k < NSTABLE && stable[k] <= upto; k++) {
				while (q < got && it[q].first < stable[k])
					q++;
				if (q >= got || it[q].first != stable[k] || it[q].value != encode(stable[k], 0, 0)) {
					fprintf(stderr, "gather [%#" PRIx64 ", %#" PRIx64 "] (%u of %u): stable %#" PRIx64 " missing\n",
						idx, max, got, want, stable[k]);
					exit(T_FAIL);
				}
			}
			r->gathered += got;
		}

		/*
		 * a short iteration: each step consistent and covering its
		 * start, so the cursor strictly increases.  (An entry may start
		 * at or before the end of the previous one: the writer erased
		 * that one and stored a larger one over both in between.)
		 */
		if (r->ops % 16 == 0) {
			uint64_t i = idx;

			for (unsigned n = 0; n < 64 && (v = dc_index_find(ix, i, max, &f, &o)); n++) {
				uint64_t last = f + ((UINT64_C(1) << o) - 1);

				CHECK_EQ(f, dec_first(v));
				CHECK_EQ(o, dec_order(v));
				CHECK(f <= max && last >= i);
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

/*
 * dc_index_replace_batch_locked() over up to GATHER_MAX of our entries (random
 * ones, sorted: they lie anywhere, dense or sparse, in many nodes), each
 * given its next generation; some items are refused (value 0 or too large,
 * a smaller order: its value, if stored, would be foreign to the second
 * half of the entry) and some have nothing there.  Readers check that
 * whatever they see is legitimate; later erases check the generations.
 */
static void replace_batch(uint64_t *rs, struct went *own, size_t n)
{
	struct dc_index_item it[2 * GATHER_MAX];
	size_t pick[GATHER_MAX], i0 = t_rand(rs) % n;
	unsigned cnt = 1 + (unsigned)(t_rand(rs) % GATHER_MAX), ni = 0, want = 0;

	if (cnt > n)
		cnt = (unsigned)n;
	for (unsigned j = 0; j < cnt; j++) {
		size_t x = (i0 + j) % n, q = j;

		while (q && own[pick[q - 1]].first > own[x].first) {
			pick[q] = pick[q - 1];
			q--;
		}
		pick[q] = x;
	}
	dc_index_lock(ix);
	for (unsigned j = 0; j < cnt; j++) {
		struct went *e = &own[pick[j]];
		unsigned r = (unsigned)(t_rand(rs) % 8);
		uint64_t k = t_rand(rs) % DENSE_END;

		/* An item with nothing there, between the previous item and this one. */
		if (t_rand(rs) % 8 == 0 && k < e->first &&
		    (!ni || k > it[ni - 1].first + ((UINT64_C(1) << it[ni - 1].order) - 1)) &&
		    !dc_index_load(ix, k))
			it[ni++] = (struct dc_index_item){ k, encode(k, 1, 0), 0 };
		if (r == 0) {
			it[ni++] = (struct dc_index_item){ e->first, 0, e->order };
		} else if (r == 1) {
			it[ni++] = (struct dc_index_item){ e->first, DC_INDEX_VALUE_MAX + 1 + (t_rand(rs) & 1),
							   e->order };
		} else if (r == 2 && e->order) {
			it[ni++] = (struct dc_index_item){ e->first, encode(e->first, 7, e->order - 1),
							   e->order - 1 };
		} else {
			e->gen++;
			it[ni++] = (struct dc_index_item){ e->first, encode(e->first, e->gen, e->order),
							   e->order };
			want++;
		}
	}
	CHECK_EQ(dc_index_replace_batch_locked(ix, it, ni), want);
	dc_index_unlock(ix);
}

static void writer(uint64_t seed, unsigned long ops)
{
	struct went *own = calloc(ops + 1, sizeof(*own));
	size_t n = 0;
	uint64_t rs = seed;
	unsigned long stored = 0, eexist = 0, erased = 0, ranged = 0, batches = 0;

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
		} else if (p < 84) {
			/* replace: same range, next generation */
			struct went *e = &own[t_rand(&rs) % n];

			e->gen++;
			CHECK_EQ(dc_index_store(ix, e->first, e->order, encode(e->first, e->gen, e->order)), 0);
		} else if (p < 88) {
			replace_batch(&rs, own, n);
			batches++;
		} else if (p < 95) {
			struct went *e = &own[t_rand(&rs) % n];
			unsigned m = (unsigned)(t_rand(&rs) % DC_INDEX_NR_MARKS);

			dc_index_lock(ix);
			if (t_rand(&rs) % 2)
				CHECK_EQ(dc_index_set_mark_locked(ix, e->first, m), 0);
			else
				CHECK_EQ(dc_index_clear_mark_locked(ix, e->first, m), 0);
			dc_index_unlock(ix);
		} else if (p < 97) {
			/*
			 * erase_range over a window that holds no stable key: a
			 * whole pool block's writer entries (an order-18 one
			 * straddles it and stays), or the gap between two dense
			 * stable keys.
			 */
			uint64_t a, b, cnt = 0;

			if (t_rand(&rs) % 2) {
				a = pool[t_rand(&rs) % NPOOL];
				b = a + 4 * 512 - 1;
			} else {
				uint64_t i = t_rand(&rs) % (NSTABLE_DENSE - 1);

				a = i * 97 + 14;
				b = a + 95;
			}
			for (size_t i = 0; i < n;) {
				if (own[i].first >= a &&
				    own[i].first + ((UINT64_C(1) << own[i].order) - 1) <= b) {
					own[i] = own[--n];
					cnt++;
				} else {
					i++;
				}
			}
			dc_index_lock(ix);
			CHECK_EQ(dc_index_erase_range_locked(ix, a, b), cnt);
			dc_index_unlock(ix);
			ranged += cnt;
		} else if (p < 98 && op % 4096 == 0) {
			/* erase a lot at once, for branches to empty and collapse */
			dc_index_lock(ix);
			for (size_t i = n / 2; i < n; i++)
				CHECK(dc_index_erase_locked(ix, own[i].first));
			dc_index_unlock(ix);
			n /= 2;
		} else {
			dc_index_lock(ix);
			CHECK(dc_index_check(ix));
			dc_index_unlock(ix);
		}
	}
	printf("writer: %lu stores, %lu overlaps refused, %lu erases, %lu erased by range, "
	       "%lu batches replaced, %zu left\n", stored, eexist, erased, ranged, batches, n);
	/* Erase what is left, each with its latest generation. */
	while (n) {
		n--;
		CHECK_EQ(dc_index_erase(ix, own[n].first),
			 encode(own[n].first, own[n].gen, own[n].order));
	}
	free(own);
}

/*
 * Runs reshaped under the readers: in one 64-index block, the writer stores
 * order-3 entries (8-slot value runs), erases them, stores order-0 entries
 * in their place and erases those, over and over, while readers gather,
 * find and load_entry there.  A reader that took a run's sibling bits
 * without its value (or the reverse) would report an order-0 value with
 * order 3 or an order-3 value with order 0: the seq count must prevent it.
 * The last index holds a stable entry, which every gather must return.
 */
#define CHURN_BASE (UINT64_C(1) << 24)
#define CHURN_STABLE (CHURN_BASE + 63)

static _Atomic bool churn_done;

static void check_item(uint64_t first, unsigned order, uint64_t v)
{
	check_value(first, v);
	CHECK_EQ(first, dec_first(v));
	CHECK_EQ(order, dec_order(v));
}

static void *churn_reader(void *arg)
{
	struct reader *r = arg;
	uint64_t rs = r->seed, f, v;
	unsigned o;

	while (!atomic_load(&churn_done)) {
		struct dc_index_item it[64];
		uint64_t a = CHURN_BASE + t_rand(&rs) % 64;
		unsigned got = dc_index_gather(ix, a, CHURN_STABLE, it, 64);

		CHECK(got > 0 && it[got - 1].first == CHURN_STABLE);
		for (unsigned i = 0; i < got; i++)
			check_item(it[i].first, it[i].order, it[i].value);
		v = dc_index_load_entry(ix, a, &f, &o);
		if (v)
			check_item(f, o, v);
		v = dc_index_find(ix, a, CHURN_STABLE, &f, &o);
		CHECK(v);
		check_item(f, o, v);
		r->ops++;
	}
	return NULL;
}

static void churn(uint64_t seed, unsigned nreaders, unsigned long rounds)
{
	struct reader *rd = calloc(nreaders, sizeof(*rd));
	unsigned long total = 0;

	CHECK(rd);
	CHECK_EQ(dc_index_store(ix, CHURN_STABLE, 0, encode(CHURN_STABLE, 0, 0)), 0);
	for (unsigned i = 0; i < nreaders; i++) {
		rd[i].seed = seed + 2000 + i;
		CHECK_EQ(pthread_create(&rd[i].tid, NULL, churn_reader, &rd[i]), 0);
	}
	for (unsigned long r = 0; r < rounds; r++) {
		unsigned gen = (unsigned)r;

		dc_index_lock(ix);
		for (uint64_t k = CHURN_BASE; k < CHURN_STABLE - 7; k += 8)
			CHECK_EQ(dc_index_store_locked(ix, k, 3, encode(k, gen, 3)), 0);
		for (uint64_t k = CHURN_BASE; k < CHURN_STABLE - 7; k += 8)
			CHECK(dc_index_erase_locked(ix, k));
		for (uint64_t k = CHURN_BASE; k < CHURN_STABLE; k++)
			CHECK_EQ(dc_index_store_locked(ix, k, 0, encode(k, gen, 0)), 0);
		for (uint64_t k = CHURN_BASE; k < CHURN_STABLE; k++)
			CHECK(dc_index_erase_locked(ix, k));
		dc_index_unlock(ix);
	}
	atomic_store(&churn_done, true);
	for (unsigned i = 0; i < nreaders; i++) {
		CHECK_EQ(pthread_join(rd[i].tid, NULL), 0);
		total += rd[i].ops;
	}
	CHECK_EQ(dc_index_erase(ix, CHURN_STABLE), encode(CHURN_STABLE, 0, 0));
	printf("churn: %lu writer rounds, %lu reader rounds\n", rounds, total);
	free(rd);
}

/* ---- fixture ------------------------------------------------------------- */

static uint64_t seed;
static unsigned nreaders;

/* The index with its stable entries (dense and next to pool keys), marked. */
static void setup(void)
{
	const char *e = getenv("DAXCORE_TEST_READERS");
	uint64_t rs;

	t_watchdog_total(240);
	nreaders = e ? (unsigned)atoi(e) : 3;
	seed = t_seed(0xc0ffee);
	rs = seed;
	atomic_store(&done, false);
	atomic_store(&churn_done, false);
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
}

/*
 * The stable entries are intact (values and marks); erased, they leave the
 * index empty: the case erased everything it stored.  Valid and unlocked.
 */
static void teardown(void)
{
	CHECK(dc_index_check(ix));
	CHECK_EQ(pthread_mutex_trylock(&ix->lock), 0); /* not left locked */
	CHECK(!ix->retired);
	CHECK_EQ(pthread_mutex_unlock(&ix->lock), 0);
	for (size_t k = 0; k < NSTABLE; k++) {
		for (unsigned m = 0; m < DC_INDEX_NR_MARKS; m++)
			CHECK_EQ(dc_index_get_mark(ix, stable[k], m), stable_marked(k, m));
		CHECK_EQ(dc_index_erase(ix, stable[k]), encode(stable[k], 0, 0));
	}
	if (dc_index_count(ix))
		fprintf(stderr, "case %s left %" PRIu64 " entries in the index\n", t_case_name(),
			dc_index_count(ix));
	CHECK_EQ(dc_index_count(ix), 0);
	CHECK_EQ(dc_index_bytes(ix), 0);
	CHECK(dc_index_check(ix));
	dc_index_destroy(ix);
	ix = NULL;
	/* For LeakSanitizer (TSan: see tests/tsan.supp). */
	dc_quiesce();
}

/* ---- cases --------------------------------------------------------------- */

TEST(readers_vs_writer)
{
	unsigned long ops = t_scale(300000), total = 0, gathered = 0;
	struct reader *rd = calloc(nreaders ? nreaders : 1, sizeof(*rd));

	printf("seed %#" PRIx64 ", %u readers, %lu writer ops\n", seed, nreaders, ops);
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
		gathered += rd[i].gathered;
	}
	printf("readers: %lu rounds, %lu items gathered\n", total, gathered);
	CHECK(!nreaders || total > 0);
	CHECK(dc_index_check(ix));
	for (size_t k = 0; k < NSTABLE; k++)
		CHECK_EQ(dc_index_load(ix, stable[k]), encode(stable[k], 0, 0));
	free(rd);
}

TEST(churn)
{
	printf("seed %#" PRIx64 ", %u readers\n", seed, nreaders);
	churn(seed, nreaders, t_scale(20000));
	CHECK(dc_index_check(ix));
}

T_MAIN(setup, teardown)
