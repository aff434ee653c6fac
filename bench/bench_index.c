/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench_index.c - the mapping index against JudyL, same keys, same run.
 *
 *   index_lookup                  ns per dc_index_load(), 1 Mi dense keys
 *                                 (0 .. 2^20 - 1) looked up in a shuffled
 *                                 order; anchor: JudyLGet() of the same keys
 *   index_lookup_sparse           the same for the sparse keys below
 *   index_bytes_per_entry_dense   dc_index_bytes() / count for the dense keys;
 *                                 anchor: JudyLMemUsed() / count
 *   index_bytes_per_entry_sparse  the same for 1 Mi distinct random keys below
 *                                 2^40 (fixed seed)
 *   index_store_dense             ns per dc_index_store_locked() of 1 Mi sequential
 *                                 new keys (0 .. 2^20 - 1, order 0) into an
 *                                 empty index, the tree lock taken once
 *                                 around them (its release, which hands the
 *                                 retired nodes to RCU, is timed too);
 *                                 anchor: JudyLIns() of the same keys
 *   index_erase_dense             ns per dc_index_erase_locked() of the same keys
 *                                 in the same order, the same way; anchor:
 *                                 JudyLDel()
 *   index_replace_batch_dense     ns per entry of a zap-like pass over 1 Mi
 *                                 dense entries: lock, dc_index_gather() of
 *                                 64, dc_index_replace_batch_locked() of them with
 *                                 a bit flipped, unlock; anchor (no Judy
 *                                 equivalent): the same pass with one
 *                                 dc_index_store_locked() per entry, same run
 *
 * Rounds alternate between the two structures and the best round of each is
 * reported, so a noisy neighbour hurts both alike.
 */
#include "bench.h"

#include <Judy.h>
#include <daxcore/index.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define NKEYS (UINT64_C(1) << 20)
#define ROUNDS 7
#define MOD_ROUNDS 5

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void shuffle(uint64_t *k, size_t n, uint64_t seed)
{
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(rnd(&seed) % (i + 1));
		uint64_t t = k[i];

		k[i] = k[j];
		k[j] = t;
	}
}

struct pair {
	struct dc_index *ix;
	Pvoid_t judy;
};

/*
 * Both structures with @keys[i] -> i + 1, each built in its own pass so that
 * neither's nodes are scattered between the other's.
 */
static bool build(struct pair *p, const uint64_t *keys, size_t n)
{
	p->judy = NULL;
	for (size_t i = 0; i < n; i++) {
		Word_t *pv;

		JLI(pv, p->judy, (Word_t)keys[i]);
		if (pv == PJERR)
			return false;
		*pv = i + 1;
	}
	p->ix = dc_index_create();
	if (!p->ix)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (dc_index_store(p->ix, keys[i], 0, i + 1)) {
			fprintf(stderr, "bench_index: store failed: %s\n", dc_errmsg());
			return false;
		}
	}
	return true;
}

static void destroy(struct pair *p)
{
	Word_t bytes;

	dc_index_destroy(p->ix);
	JLFA(bytes, p->judy);
	(void)bytes;
}

/* Best-of-ROUNDS ns per lookup of @order[] in each structure. */
static void lookups(struct pair *p, const uint64_t *order, size_t n, double *dc_ns,
		    double *judy_ns)
{
	*dc_ns = *judy_ns = 1e30;
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0, sum = 0;
		double ns;

		t0 = bench_now_ns();
		for (size_t i = 0; i < n; i++)
			sum += dc_index_load(p->ix, order[i]);
		ns = (double)(bench_now_ns() - t0) / (double)n;
		bench_keep(sum);
		if (sum != (uint64_t)n * (n + 1) / 2)
			fprintf(stderr, "bench_index: daxcore lookups returned wrong values\n");
		if (ns < *dc_ns)
			*dc_ns = ns;

		sum = 0;
		t0 = bench_now_ns();
		for (size_t i = 0; i < n; i++) {
			Word_t *pv;

			JLG(pv, p->judy, (Word_t)order[i]);
			sum += pv ? *pv : 0;
		}
		ns = (double)(bench_now_ns() - t0) / (double)n;
		bench_keep(sum);
		if (ns < *judy_ns)
			*judy_ns = ns;
	}
}

static void bytes_report(const char *name, struct pair *p, size_t n)
{
	double mine = (double)dc_index_bytes(p->ix) / (double)n;
	double judy = (double)JudyLMemUsed(p->judy) / (double)n;

	bench_report(name, "B/entry", mine, "JudyLMemUsed() / count, same keys", judy);
}

static double min_d(double a, double b)
{
	return a < b ? a : b;
}

/*
 * Best-of-MOD_ROUNDS ns per store and per erase of keys 0 .. n - 1, in
 * order, in each structure.  Return false on a failure.
 */
static bool modifications(size_t n, double *st, double *st_judy, double *er, double *er_judy)
{
	*st = *st_judy = *er = *er_judy = 1e30;
	for (int r = 0; r < MOD_ROUNDS; r++) {
		struct dc_index *ix = dc_index_create();
		Pvoid_t judy = NULL;
		uint64_t t0, t1, t2;
		bool ok = true;

		if (!ix)
			return false;
		t0 = bench_now_ns();
		dc_index_lock(ix);
		for (size_t i = 0; i < n && ok; i++)
			ok = dc_index_store_locked(ix, i, 0, i + 1) == 0;
		dc_index_unlock(ix);
		t1 = bench_now_ns();
		dc_index_lock(ix);
		for (size_t i = 0; i < n && ok; i++)
			ok = dc_index_erase_locked(ix, i) == i + 1;
		dc_index_unlock(ix);
		t2 = bench_now_ns();
		ok = ok && dc_index_count(ix) == 0;
		dc_index_destroy(ix);
		if (!ok) {
			fprintf(stderr, "bench_index: store/erase failed: %s\n", dc_errmsg());
			return false;
		}
		*st = min_d(*st, (double)(t1 - t0) / (double)n);
		*er = min_d(*er, (double)(t2 - t1) / (double)n);

		t0 = bench_now_ns();
		for (size_t i = 0; i < n; i++) {
			Word_t *pv;

			JLI(pv, judy, (Word_t)i);
			if (pv == PJERR)
				return false;
			*pv = i + 1;
		}
		t1 = bench_now_ns();
		for (size_t i = 0; i < n; i++) {
			int rc;

			JLD(rc, judy, (Word_t)i);
			if (rc != 1)
				return false;
		}
		t2 = bench_now_ns();
		*st_judy = min_d(*st_judy, (double)(t1 - t0) / (double)n);
		*er_judy = min_d(*er_judy, (double)(t2 - t1) / (double)n);
	}
	return true;
}

/*
 * One zap-like pass over the @n entries of @ix (keys 0 .. n - 1): batches
 * of 64 gathered and replaced (value ^ @flip) under the lock, with
 * dc_index_replace_batch_locked() or one dc_index_store_locked() each.  Return the ns
 * per entry, or -1 on a failure.
 */
static double replace_pass(struct dc_index *ix, size_t n, uint64_t flip, bool batch)
{
	struct dc_index_item it[64];
	uint64_t t0 = bench_now_ns(), next = 0;
	size_t done = 0;
	bool ok = true;

	for (;;) {
		unsigned k;

		dc_index_lock(ix);
		k = dc_index_gather(ix, next, UINT64_MAX, it, 64);
		for (unsigned j = 0; j < k; j++)
			it[j].value ^= flip;
		if (batch) {
			ok &= dc_index_replace_batch_locked(ix, it, k) == k;
		} else {
			for (unsigned j = 0; j < k; j++)
				ok &= dc_index_store_locked(ix, it[j].first, it[j].order, it[j].value) == 0;
		}
		dc_index_unlock(ix);
		done += k;
		if (k < 64)
			break;
		next = it[k - 1].first + 1;
	}
	if (!ok || done != n) {
		fprintf(stderr, "bench_index: replace pass failed: %s\n", dc_errmsg());
		return -1;
	}
	return (double)(bench_now_ns() - t0) / (double)n;
}

/* Best-of-ROUNDS ns per entry of a batched and of a one-by-one replace pass. */
static bool replace_batch(size_t n, double *batch, double *single)
{
	struct dc_index *ix = dc_index_create();
	bool ok = true;

	*batch = *single = 1e30;
	if (!ix)
		return false;
	dc_index_lock(ix);
	for (size_t i = 0; i < n && ok; i++)
		ok = dc_index_store_locked(ix, i, 0, i + 1) == 0;
	dc_index_unlock(ix);
	for (int r = 0; r < ROUNDS && ok; r++) {
		double b = replace_pass(ix, n, UINT64_C(1) << 40, true);
		double s = replace_pass(ix, n, UINT64_C(1) << 40, false);

		ok = b >= 0 && s >= 0;
		*batch = min_d(*batch, b);
		*single = min_d(*single, s);
	}
	/* Every value flipped an even number of times: back to i + 1. */
	for (size_t i = 0; i < n && ok; i += 4099)
		ok = dc_index_load(ix, i) == i + 1;
	dc_index_destroy(ix);
	return ok;
}

void bench_index(void)
{
	bool dense_lookup = bench_selected("index_lookup");
	bool sparse_lookup = bench_selected("index_lookup_sparse");
	bool dense_bytes = bench_selected("index_bytes_per_entry_dense");
	bool sparse_bytes = bench_selected("index_bytes_per_entry_sparse");
	bool store_dense = bench_selected("index_store_dense");
	bool erase_dense = bench_selected("index_erase_dense");
	bool replace_dense = bench_selected("index_replace_batch_dense");
	uint64_t *keys, *order, seed = 0x1dec0de;
	struct pair p;
	double a, b;

	if (store_dense || erase_dense) {
		double st, st_judy, er, er_judy;

		if (modifications(NKEYS, &st, &st_judy, &er, &er_judy)) {
			if (store_dense)
				bench_report("index_store_dense", "ns", st,
					     "JudyLIns(), same 1 Mi sequential keys", st_judy);
			if (erase_dense)
				bench_report("index_erase_dense", "ns", er,
					     "JudyLDel(), same 1 Mi sequential keys", er_judy);
		}
		dc_quiesce();
	}
	if (replace_dense) {
		double batch, single;

		if (replace_batch(NKEYS, &batch, &single))
			bench_report("index_replace_batch_dense", "ns", batch,
				     "one dc_index_store_locked per entry, same run", single);
		dc_quiesce();
	}
	if (!dense_lookup && !sparse_lookup && !dense_bytes && !sparse_bytes)
		return;
	keys = malloc(NKEYS * sizeof(*keys));
	order = malloc(NKEYS * sizeof(*order));
	if (!keys || !order)
		goto out;

	if (dense_lookup || dense_bytes) {
		for (size_t i = 0; i < NKEYS; i++)
			keys[i] = order[i] = i;
		shuffle(order, NKEYS, 42);
		if (!build(&p, keys, NKEYS))
			goto out;
		if (dense_bytes)
			bytes_report("index_bytes_per_entry_dense", &p, NKEYS);
		if (dense_lookup) {
			lookups(&p, order, NKEYS, &a, &b);
			bench_report("index_lookup", "ns", a,
				     "JudyLGet(), same 1 Mi dense keys, same shuffled order", b);
		}
		destroy(&p);
	}

	if (sparse_lookup || sparse_bytes) {
		/* 1 Mi distinct random keys below 2^40 (distinct: checked in Judy). */
		Pvoid_t seen = NULL;
		Word_t freed;

		for (size_t n = 0; n < NKEYS;) {
			uint64_t k = rnd(&seed) & ((UINT64_C(1) << 40) - 1);
			Word_t *pv;

			JLI(pv, seen, (Word_t)k);
			if (!pv || pv == PJERR)
				goto out;
			if (*pv)
				continue;
			*pv = 1;
			keys[n] = order[n] = k;
			n++;
		}
		JLFA(freed, seen);
		(void)freed;
		shuffle(order, NKEYS, 43);
		if (!build(&p, keys, NKEYS))
			goto out;
		if (sparse_bytes)
			bytes_report("index_bytes_per_entry_sparse", &p, NKEYS);
		if (sparse_lookup) {
			lookups(&p, order, NKEYS, &a, &b);
			bench_report("index_lookup_sparse", "ns", a,
				     "JudyLGet(), same 1 Mi sparse keys, same shuffled order", b);
		}
		destroy(&p);
	}
out:
	free(keys);
	free(order);
	dc_quiesce();
}
