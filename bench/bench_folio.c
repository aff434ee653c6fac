/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench_folio.c - folio references, pins, requests, the liveness reference
 * and region set-up, each next to its anchor measured in the same run.
 *
 *   pin_unpin_4k                  ns/page: dc_folio_pin + dc_folio_unpin of a
 *                                 held 4 KiB folio (mem:64M region); anchor:
 *                                 the kernel's pin + unpin of user pages,
 *                                 io_uring_register_buffers +
 *                                 io_uring_unregister_buffers of one iovec
 *                                 over 256 pre-faulted 4 KiB pages of a
 *                                 shared memfd mapping, per page
 *   liveref_get_put_1t            ns per dc_liveref_get + dc_liveref_put, one
 *                                 thread; anchor: atomic_fetch_add +
 *                                 atomic_fetch_sub (seq_cst) on one counter
 *   liveref_get_put_mt            the same with every online CPU running a
 *                                 thread on the same liveref (anchor: on the
 *                                 same counter).  Both sides: wall time from
 *                                 the common start to the last thread's end,
 *                                 times threads, over total operations, i.e.
 *                                 the per-thread cost of one pair when all
 *                                 threads run at once
 *   request_put_4k                ns per dc_folio_request of an idle 4 KiB
 *                                 folio + its last dc_folio_put, cycling over
 *                                 16 Ki pgoffs; anchor: fetch_add + fetch_sub
 *                                 on a plain counter
 *   region_create_sparse_64t_us   us for dc_region_create("mem:64T");
 *                                 anchor: memfd_create + ftruncate(64 TiB) +
 *                                 mmap(MAP_SHARED | MAP_NORESERVE)
 *   region_create_sparse_64t_rss_kib  KiB of RSS the create adds
 *   metadata_bytes_per_page_4k    dc_region_stats() metadata_bytes / npages
 *   metadata_bytes_per_page_2m    after requesting and putting every folio of
 *                                 mem:1G (order 0) and mem:1G,order=9; anchor:
 *                                 the kernel's 64-byte struct page
 *
 * Timed figures alternate rounds between daxcore and its anchor and keep the
 * best round of each, so a noisy neighbour hurts both alike.
 */
#include "bench.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define ROUNDS 7

static double min_d(double a, double b)
{
	return a < b ? a : b;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return v[n / 2];
}

static _Atomic uint64_t plain_counter;

/* ns per fetch_add + fetch_sub (seq_cst) on one shared counter. */
static double atomics_round(uint64_t iters)
{
	uint64_t t0 = bench_now_ns();

	for (uint64_t i = 0; i < iters; i++) {
		atomic_fetch_add(&plain_counter, 1);
		atomic_fetch_sub(&plain_counter, 1);
	}
	return (double)(bench_now_ns() - t0) / (double)iters;
}

/* ---- pin_unpin_4k ---------------------------------------------------------- */

#define URING_PAGES 256

static double pin_round(struct dc_folio *f, uint64_t iters)
{
	uint64_t t0 = bench_now_ns();
	int bad = 0;

	for (uint64_t i = 0; i < iters; i++) {
		bad |= dc_folio_pin(f);
		dc_folio_unpin(f);
	}
	if (bad)
		return -1;
	return (double)(bench_now_ns() - t0) / (double)iters;
}

static void bench_pin_unpin(void)
{
	struct bench_uring a;
	struct dc_region *r;
	struct dc_folio *f;
	double best = 1e30, anchor = 1e30;
	int err;

	if (!bench_selected("pin_unpin_4k"))
		return;
	err = dc_region_create("mem:64M", &r);
	if (err) {
		fprintf(stderr, "bench_folio: mem:64M: %s\n", dc_errmsg());
		return;
	}
	err = dc_folio_request(r, 0, 1, &f);
	if (err) {
		fprintf(stderr, "bench_folio: request: %s\n", dc_errmsg());
		dc_region_remove(r, NULL);
		return;
	}
	bench_uring_open(&a, URING_PAGES);
	pin_round(f, 1000000); /* warm-up */
	if (a.ok)
		bench_uring_round(&a, 200);
	for (int k = 0; k < ROUNDS; k++) {
		double v = pin_round(f, 4000000);

		if (v < 0) {
			fprintf(stderr, "bench_folio: dc_folio_pin failed: %s\n", dc_errmsg());
			break;
		}
		best = min_d(best, v);
		if (a.ok) {
			v = bench_uring_round(&a, 400);
			if (v < 0) {
				snprintf(a.why, sizeof(a.why), "io_uring anchor failed mid-run");
				a.ok = false;
			} else {
				anchor = min_d(anchor, v);
			}
		}
	}
	if (dc_folio_refcount(f) != 1)
		fprintf(stderr, "bench_folio: refcount %u after pin/unpin, expected 1\n",
			dc_folio_refcount(f));
	if (a.ok)
		bench_report("pin_unpin_4k", "ns/page", best,
			     "kernel pin+unpin: io_uring_register_buffers + unregister, "
			     "256 x 4 KiB shared memfd pages, per page", anchor);
	else
		bench_report("pin_unpin_4k", "ns/page", best, a.why, 0);
	bench_uring_close(&a);
	dc_folio_put(f);
	dc_region_remove(r, NULL);
}

/* ---- liveref ------------------------------------------------------------- */

static double liveref_round(struct dc_liveref *ref, uint64_t iters)
{
	uint64_t t0 = bench_now_ns();

	for (uint64_t i = 0; i < iters; i++) {
		dc_liveref_get(ref);
		dc_liveref_put(ref);
	}
	return (double)(bench_now_ns() - t0) / (double)iters;
}

struct mt {
	struct dc_liveref *ref; /* NULL: the atomic anchor */
	uint64_t iters;
	pthread_barrier_t *bar;
	uint64_t start, end;
	pthread_t th;
};

static void *mt_thread(void *arg)
{
	struct mt *m = arg;

	if (m->ref)
		liveref_round(m->ref, 10000); /* this thread's counters exist */
	else
		atomics_round(10000);
	pthread_barrier_wait(m->bar);
	m->start = bench_now_ns();
	if (m->ref)
		liveref_round(m->ref, m->iters);
	else
		atomics_round(m->iters);
	m->end = bench_now_ns();
	return NULL;
}

/* Wall time from the first start to the last end, x threads / total pairs. */
static double mt_round(struct dc_liveref *ref, int nthreads, uint64_t iters)
{
	struct mt *ms = calloc((size_t)nthreads, sizeof(*ms));
	pthread_barrier_t bar;
	uint64_t start = UINT64_MAX, end = 0;

	if (!ms)
		return -1;
	pthread_barrier_init(&bar, NULL, (unsigned)nthreads);
	for (int i = 0; i < nthreads; i++) {
		ms[i] = (struct mt){ .ref = ref, .iters = iters, .bar = &bar };
		if (pthread_create(&ms[i].th, NULL, mt_thread, &ms[i])) {
			fprintf(stderr, "bench_folio: pthread_create failed\n");
			exit(1);
		}
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(ms[i].th, NULL);
		if (ms[i].start < start)
			start = ms[i].start;
		if (ms[i].end > end)
			end = ms[i].end;
	}
	pthread_barrier_destroy(&bar);
	free(ms);
	return (double)(end - start) * nthreads / ((double)iters * nthreads);
}

static void bench_liveref(void)
{
	bool one = bench_selected("liveref_get_put_1t");
	bool many = bench_selected("liveref_get_put_mt");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int nthreads = ncpu > 0 ? (int)ncpu : 1;
	struct dc_liveref ref;
	double v = 1e30, a = 1e30;
	char text[160];

	if (!one && !many)
		return;
	dc_liveref_init(&ref, NULL);
	liveref_round(&ref, 1000000);
	atomics_round(1000000);
	if (one) {
		for (int k = 0; k < ROUNDS; k++) {
			v = min_d(v, liveref_round(&ref, 10000000));
			a = min_d(a, atomics_round(10000000));
		}
		bench_report("liveref_get_put_1t", "ns", v,
			     "atomic_fetch_add + atomic_fetch_sub (seq_cst), one thread", a);
	}
	if (many) {
		v = a = 1e30;
		for (int k = 0; k < ROUNDS; k++) {
			v = min_d(v, mt_round(&ref, nthreads, 4000000));
			a = min_d(a, mt_round(NULL, nthreads, 4000000));
		}
		snprintf(text, sizeof(text), "fetch_add + fetch_sub (seq_cst) on one shared "
			 "counter, %d threads; both: wall x threads / ops", nthreads);
		bench_report("liveref_get_put_mt", "ns", v, text, a);
	}
	if (dc_liveref_count(&ref) != 1)
		fprintf(stderr, "bench_folio: liveref count %llu after the runs, expected 1\n",
			(unsigned long long)dc_liveref_count(&ref));
	dc_liveref_kill(&ref);
	dc_liveref_wait_drained(&ref, NULL);
	dc_liveref_exit(&ref);
}

/* ---- request_put_4k ------------------------------------------------------ */

#define REQ_PAGES 16384 /* mem:64M */

static double request_round(struct dc_region *r, uint64_t iters)
{
	uint64_t t0 = bench_now_ns();

	for (uint64_t i = 0; i < iters; i++) {
		struct dc_folio *f;

		if (dc_folio_request(r, i % REQ_PAGES, 1, &f))
			return -1;
		dc_folio_put(f);
	}
	return (double)(bench_now_ns() - t0) / (double)iters;
}

static void bench_request_put(void)
{
	struct dc_region *r;
	double v = 1e30, a = 1e30;

	if (!bench_selected("request_put_4k"))
		return;
	if (dc_region_create("mem:64M", &r)) {
		fprintf(stderr, "bench_folio: mem:64M: %s\n", dc_errmsg());
		return;
	}
	request_round(r, 4 * REQ_PAGES); /* every metadata section exists */
	atomics_round(1000000);
	for (int k = 0; k < ROUNDS; k++) {
		double x = request_round(r, 64 * REQ_PAGES);

		if (x < 0) {
			fprintf(stderr, "bench_folio: request failed: %s\n", dc_errmsg());
			break;
		}
		v = min_d(v, x);
		a = min_d(a, atomics_round(64 * REQ_PAGES));
	}
	bench_report("request_put_4k", "ns", v,
		     "fetch_add + fetch_sub on a plain counter", a);
	dc_region_remove(r, NULL);
}

/* ---- region_create_sparse_64t -------------------------------------------- */

#define SIZE_64T (UINT64_C(64) << 40)

/* us for memfd_create + ftruncate + mmap of 64 TiB (all undone after). */
static double memfd_64t_us(void)
{
	uint64_t t0 = bench_now_ns(), t1;
	int fd = memfd_create("bench-64t", MFD_CLOEXEC);
	void *p = MAP_FAILED;

	if (fd >= 0 && !ftruncate(fd, (off_t)SIZE_64T))
		p = mmap(NULL, SIZE_64T, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	t1 = bench_now_ns();
	if (p == MAP_FAILED) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	munmap(p, SIZE_64T);
	close(fd);
	return (double)(t1 - t0) / 1000.0;
}

static double region_64t_us(uint64_t *rss_added)
{
	struct dc_region *r;
	uint64_t rss0 = bench_rss_kib(), t0 = bench_now_ns(), t1, rss1;
	int err = dc_region_create("mem:64T", &r);

	t1 = bench_now_ns();
	if (err) {
		fprintf(stderr, "bench_folio: mem:64T: %s\n", dc_errmsg());
		return -1;
	}
	rss1 = bench_rss_kib();
	if (rss_added)
		*rss_added = rss1 > rss0 ? rss1 - rss0 : 0;
	dc_region_remove(r, NULL);
	return (double)(t1 - t0) / 1000.0;
}

static void bench_region_create(void)
{
	bool t = bench_selected("region_create_sparse_64t_us");
	bool m = bench_selected("region_create_sparse_64t_rss_kib");
	double v[ROUNDS], a[ROUNDS];
	uint64_t rss = 0;
	int n = 0;

	if (!t && !m)
		return;
	/* Warm-up, and the RSS figure from a create of its own. */
	if (region_64t_us(NULL) < 0 || region_64t_us(&rss) < 0)
		return;
	if (t) {
		bool anchor_ok = memfd_64t_us() >= 0;

		for (int k = 0; k < ROUNDS; k++) {
			double x = region_64t_us(NULL);

			if (x < 0)
				return;
			v[n] = x;
			a[n] = anchor_ok ? memfd_64t_us() : 0;
			if (a[n] < 0)
				anchor_ok = false;
			n++;
		}
		if (anchor_ok)
			bench_report("region_create_sparse_64t_us", "us", median(v, n),
				     "memfd_create + ftruncate + mmap(MAP_SHARED|MAP_NORESERVE) "
				     "of 64 TiB (median of 7)", median(a, n));
		else
			bench_report("region_create_sparse_64t_us", "us", median(v, n),
				     "anchor unavailable: cannot map a 64 TiB memfd", 0);
	}
	if (m)
		bench_report("region_create_sparse_64t_rss_kib", "KiB", (double)rss,
			     "target < 1024 KiB", 1024);
}

/* ---- metadata bytes per page --------------------------------------------- */

static void bench_metadata(const char *name, const char *spec)
{
	struct dc_region_stats st;
	struct dc_region *r;
	uint64_t step;

	if (!bench_selected(name))
		return;
	if (dc_region_create(spec, &r)) {
		fprintf(stderr, "bench_folio: %s: %s\n", spec, dc_errmsg());
		return;
	}
	step = UINT64_C(1) << dc_region_folio_order(r);
	for (uint64_t pg = 0; pg < dc_region_npages(r); pg += step) {
		struct dc_folio *f;

		if (dc_folio_request(r, pg, step, &f)) {
			fprintf(stderr, "bench_folio: %s: request %llu: %s\n", spec,
				(unsigned long long)pg, dc_errmsg());
			dc_region_remove(r, NULL);
			return;
		}
		dc_folio_put(f);
	}
	dc_region_stats(r, &st);
	if (st.sections != st.sections_max)
		fprintf(stderr, "bench_folio: %s: %llu of %llu sections after touching all\n",
			spec, (unsigned long long)st.sections, (unsigned long long)st.sections_max);
	bench_report(name, "B/page", (double)st.metadata_bytes / (double)st.npages,
		     "kernel struct page: 64 B per 4 KiB page", 64);
	dc_region_remove(r, NULL);
}

void bench_folio(void)
{
	bench_pin_unpin();
	bench_liveref();
	bench_request_put();
	bench_region_create();
	bench_metadata("metadata_bytes_per_page_4k", "mem:1G");
	bench_metadata("metadata_bytes_per_page_2m", "mem:1G,order=9");
	dc_quiesce();
}
