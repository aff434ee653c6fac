/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench_devdax.c - device-dax (include/daxcore/devdax.h): first-touch
 * faults of a device view and DMA pins of a 1 GiB device, each next to
 * the kernel doing the like, measured in the same run.
 *
 *   devdax_fault_2m   ns per 4 KiB page of a sequential first-touch write
 *                     scan (one store per page) of a fresh 64 MiB
 *                     read-write view of a freshly opened device of 2 MiB
 *                     alignment (mem:64M,order=9,type=devdax, its memory
 *                     written beforehand, so the pages exist as the
 *                     anchor's do): each 2 MiB entry is one fault through
 *                     the SIGSEGV handler (insert, one mmap of 2 MiB,
 *                     populate), the 511 stores after it none.  Anchor:
 *                     the kernel's first-touch write fault of pages a
 *                     memfd already has (a fresh MAP_SHARED mapping, one
 *                     store per page).  The note: ns per fault, and the
 *                     kernel's part (the view layer's mmap, mprotect and
 *                     populate of each 2 MiB window) measured alone.
 *   devdax_pin_1g     ns per 4 KiB page of dc_devdax_pin() +
 *                     dc_devdax_unpin() of all of a 1 GiB device of 1 GiB
 *                     alignment (mem:1G,order=18,type=devdax: one folio,
 *                     its entry faulted by a first pin, not timed).
 *                     Anchor: io_uring registration + unregistration of
 *                     one 1 GiB buffer of pre-faulted shared memfd pages,
 *                     per page.  The note: ns per call, and the kernel's
 *                     gup_test figure for 2 MiB compound devdax pages.
 *
 * Timed figures alternate rounds between daxcore and the anchor and keep
 * the best round of each.  Each figure checks through the device's and the
 * view layer's stats that it measured what it says (faults served, one
 * folio pinned) and skips the figure with a message if not.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

#define ROUNDS 5
#define PG 4096u
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

#define FAULT_PAGES 16384u /* 64 MiB */
#define PIN_ITERS 20000u
#define URING_ITERS 2u

static void skip(const char *fig, const char *why)
{
	fprintf(stderr, "bench_devdax: %s skipped: %s (%s)\n", fig, why, dc_errmsg());
}

/* Write every page of @r's memory once, through its fd: the pages exist. */
static int populate(struct dc_region *r)
{
	static _Alignas(4096) char buf[1 << 20];
	uint64_t size = dc_region_size(r);

	memset(buf, 0x6b, sizeof(buf));
	for (uint64_t off = 0; off < size; off += sizeof(buf))
		if (pwrite(dc_region_fd(r), buf, sizeof(buf), (off_t)off) != (ssize_t)sizeof(buf))
			return -1;
	return 0;
}

/* One scan: open, map, one store per page, unmap, close.  ns per page; < 0 on failure. */
static double fault_round(struct dc_region *r, uint64_t *faults)
{
	struct dc_devdax_stats st;
	struct dc_devdax *dd;
	struct dc_view v;
	volatile uint8_t *p;
	uint64_t t0, t1;

	if (dc_devdax_open(r, &dd))
		return -1;
	if (dc_devdax_map(dd, 0, (uint64_t)FAULT_PAGES * PG, DC_DEVDAX_MAP_READ |
			  DC_DEVDAX_MAP_WRITE, &v)) {
		(void)dc_devdax_close(dd, NULL);
		return -1;
	}
	p = v.addr;
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < FAULT_PAGES; i++)
		p[i * PG] = (uint8_t)i;
	t1 = bench_now_ns();
	dc_devdax_stats(dd, &st);
	*faults = st.faults;
	if (dc_view_unmap(&v) || dc_devdax_close(dd, NULL))
		return -1;
	return (double)(t1 - t0) / FAULT_PAGES;
}

/*
 * The kernel's part of one devdax fault, alone: what the view layer does
 * per 2 MiB entry (map PROT_NONE over the reservation, MADV_DONTFORK,
 * mprotect, MADV_POPULATE_READ), for the same 64 MiB of @fd.  ns per
 * page; 0 if the kernel refused.
 */
static double kernel_map_alone(int fd)
{
	size_t len = (size_t)FAULT_PAGES * PG;
	char *base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uint64_t t0, t1;
	bool ok = true;

	if (base == MAP_FAILED)
		return 0;
	t0 = bench_now_ns();
	for (size_t off = 0; off < len && ok; off += 2 * MIB)
		ok = mmap(base + off, 2 * MIB, PROT_NONE, MAP_SHARED | MAP_FIXED, fd, (off_t)off) !=
			     MAP_FAILED &&
		     !madvise(base + off, 2 * MIB, MADV_DONTFORK) &&
		     !mprotect(base + off, 2 * MIB, PROT_READ | PROT_WRITE) &&
		     !madvise(base + off, 2 * MIB, MADV_POPULATE_READ);
	t1 = bench_now_ns();
	munmap(base, len);
	return ok ? (double)(t1 - t0) / FAULT_PAGES : 0;
}

static void bench_fault_2m(void)
{
	const char *fig = "devdax_fault_2m";
	double best = 1e30, an = 1e30, kern = 1e30;
	struct dc_view_stats s0, s1;
	uint64_t faults = 0;
	struct dc_region *r;
	char note[400];
	int afd;

	if (dc_region_create("mem:64M,order=9,type=devdax", &r)) {
		skip(fig, "region");
		return;
	}
	afd = bench_memfd_populated(FAULT_PAGES);
	if (populate(r) || afd < 0) {
		skip(fig, "populating the memory");
		goto out;
	}
	dc_view_stats(&s0);
	for (int i = 0; i < ROUNDS; i++) {
		double d = fault_round(r, &faults), a;

		if (d < 0 || faults != FAULT_PAGES / 512) {
			skip(fig, d < 0 ? "a round failed" : "not one fault per 2 MiB entry");
			goto out;
		}
		if (d < best)
			best = d;
		a = bench_anchor_first_touch_populated(afd, FAULT_PAGES);
		if (a > 0 && a < an)
			an = a;
		a = kernel_map_alone(dc_region_fd(r));
		if (a > 0 && a < kern)
			kern = a;
	}
	dc_view_stats(&s1);
	if (s1.signal_faults - s0.signal_faults != (uint64_t)ROUNDS * (FAULT_PAGES / 512)) {
		skip(fig, "the faults did not all go through the SIGSEGV handler, one per entry");
		goto out;
	}
	snprintf(note, sizeof(note), "%.0f ns per 2 MiB fault (insert + one 2 MiB mmap + populate); "
		 "%u faults per scan; the kernel's mmap + mprotect + populate of the same 2 MiB "
		 "windows alone: %.1f ns per page (%.3f of the anchor)", best * 512,
		 FAULT_PAGES / 512, kern < 1e30 ? kern : 0, kern < 1e30 && an < 1e30 ? kern / an : 0);
	bench_report_note(fig, "ns/4KiB", best,
			  "kernel first-touch write fault of existing shared memfd pages, per page",
			  an < 1e30 ? an : 0, note);
out:
	if (afd >= 0)
		close(afd);
	dc_region_remove(r, NULL);
}

static void bench_pin_1g(void)
{
	const char *fig = "devdax_pin_1g";
	double best = 1e30, an = 1e30;
	struct dc_devdax_pinset ps;
	struct bench_uring u;
	struct dc_devdax *dd;
	struct dc_region *r;
	char note[320];

	if (dc_region_create("mem:1G,order=18,type=devdax", &r)) {
		skip(fig, "region");
		return;
	}
	if (dc_devdax_open(r, &dd)) {
		skip(fig, "open");
		dc_region_remove(r, NULL);
		return;
	}
	bench_uring_open(&u, (unsigned)(GIB / PG));
	if (dc_devdax_pin(dd, 0, GIB, 0, &ps) || ps.nfolios != 1 || dc_devdax_unpin(dd, &ps)) {
		skip(fig, "the first pin (not one folio)");
		goto out;
	}
	for (int i = 0; i < ROUNDS; i++) {
		uint64_t t0 = bench_now_ns(), t1;

		for (unsigned k = 0; k < PIN_ITERS; k++) {
			if (dc_devdax_pin(dd, 0, GIB, 0, &ps) || dc_devdax_unpin(dd, &ps)) {
				skip(fig, "a pin failed");
				goto out;
			}
		}
		t1 = bench_now_ns();
		if ((double)(t1 - t0) / PIN_ITERS < best)
			best = (double)(t1 - t0) / PIN_ITERS;
		if (u.ok) {
			double a = bench_uring_round(&u, URING_ITERS);

			if (a > 0 && a < an)
				an = a;
		}
	}
	snprintf(note, sizeof(note), "%.0f ns per pin+unpin call of 1 GiB (one folio pin: %.5f ns per 4 KiB); the "
		 "kernel's gup_test on 2 MiB compound devdax pages publishes about 1.5 ns per "
		 "4 KiB%s%s", best, best / (double)(GIB / PG), u.ok ? "" : "; ", u.ok ? "" : u.why);
	bench_report_note(fig, "ns/4KiB", best / (double)(GIB / PG),
			  "io_uring register+unregister of one 1 GiB buffer, per page",
			  an < 1e30 ? an : 0, note);
out:
	bench_uring_close(&u);
	(void)dc_devdax_close(dd, NULL);
	dc_region_remove(r, NULL);
}

void bench_devdax(void)
{
	bool f = bench_selected("devdax_fault_2m");
	bool p = bench_selected("devdax_pin_1g");
	int ret;

	if (!(f || p))
		return;
	ret = dc_view_handler_install();
	if (ret) {
		fprintf(stderr, "bench_devdax: dc_view_handler_install: %s; figures skipped\n",
			dc_strerror(ret));
		return;
	}
	if (f)
		bench_fault_2m();
	if (p)
		bench_pin_1g();
	ret = dc_view_handler_remove();
	if (ret)
		fprintf(stderr, "bench_devdax: dc_view_handler_remove: %s\n", dc_strerror(ret));
	dc_quiesce();
}
