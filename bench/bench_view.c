/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench_view.c - views (include/daxcore/view.h) of dcfs files: faults
 * through the SIGSEGV handler and through dc_view_fault(), and revocation,
 * each next to the kernel doing the same on a shared memfd mapping,
 * measured in the same run.
 *
 *   view_fault_seq_sigsegv   ns per 4 KiB page of a sequential first-touch
 *                            write scan (one store per page) of a fresh
 *                            64 MiB DC_VIEW_READ | DC_VIEW_WRITE view of a
 *                            dcfs file that was written (pwrite) and whose
 *                            entries an earlier view scan faulted; mem:
 *                            region of 4 KiB folios, default fault-around;
 *                            faults through the SIGSEGV handler.  Anchor: the
 *                            kernel's first-touch write fault of pages a
 *                            memfd already has (written with pwrite, mapped
 *                            fresh MAP_SHARED, one store per page).  The
 *                            note: the same scan of a file whose entries an
 *                            explicit scan of 2 MiB windows made (2 MiB
 *                            entries instead of the signal scan's pages)
 *   view_fault_seq_explicit  the same, each 2 MiB window faulted with
 *                            dc_view_fault(WRITE) before its stores; the
 *                            same anchor
 *   view_fault_seq_2m        view_fault_seq_sigsegv on a region of 2 MiB
 *                            folios (mem:...,huge if hugetlb pages can be
 *                            had, else mem:...,order=9: the note says which);
 *                            the explicit variant in the note; same anchor
 *   view_fault_random_4k     ns per fault: one store per 2 MiB slot of a
 *                            512 MiB view, at the same page offset in every
 *                            slot (no fault-around window, at most 2 MiB,
 *                            covers two touches: each touch is one fault),
 *                            slots in a random order, through the SIGSEGV
 *                            handler, default fault-around; a fresh view per
 *                            pass.  The note has the same with
 *                            fault_around=4096 and the kernel pieces of a
 *                            fault measured alone.  Same anchor
 *   view_revoke_file         ns per page of dc_dcfs_truncate(fd, 0) of a
 *                            64 MiB file with a populated 64 MiB view, no
 *                            pins: the whole truncate (the note has the same
 *                            truncate with no view mapped, and
 *                            dc_view_file_revoke() alone on a view file of
 *                            the benchmark's own).  Anchor: munmap of a
 *                            populated 64 MiB MAP_SHARED memfd mapping, per
 *                            page
 *   view_revoke_4k           ns per punched page of DC_DCFS_FALLOC_PUNCH of
 *                            every odd 4 KiB page of that file with a
 *                            populated view, its entries faulted page by
 *                            page first (order 0: 8192 single-page
 *                            revokes; the view's own 2 MiB entries, where
 *                            a punch revokes the whole entry, in the
 *                            note); same anchor, same splits in the note
 *
 * Each figure checks through dc_view_stats() that its scans went through
 * the view (faults served, the pages mapped, signal faults only where the
 * handler is meant to serve them, no VMA-budget revokes) and skips the
 * figure with a message if not.  Timed figures alternate rounds between
 * the view and its anchor and keep the best round of each.
 */
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ROUNDS 5
#define PG 4096u
#define MIB (UINT64_C(1) << 20)

#define SEQ_PAGES    16384u /* the fault scans: 64 MiB */
#define SEQ_WINDOW   (2 * MIB) /* dc_view_fault() per window in the explicit scans */
#define RAND_SLOTS   256u   /* view_fault_random_4k: 256 x 2 MiB = 512 MiB */
#define RAND_SLOTS_LOW 64u  /* ... with MemAvailable under 2 GiB: 128 MiB */
#define SLOT_PAGES   512u
#define RAND_PASSES  8      /* fresh views per round */
#define FA4K_PAGES   16384u /* the fault_around=4096 variant: 64 MiB, every page */
#define FA4K_ROUNDS  3
#define REV_PAGES    16384u /* the revoke figures: 64 MiB */

static double min_d(double a, double b)
{
	return a < b ? a : b;
}

static double ratio(double v, double a)
{
	return a > 0 && a < 1e30 ? v / a : 0;
}

static void fail(const char *fig, const char *what, int err)
{
	fprintf(stderr, "bench_view: %s: %s: %s (%s); figure skipped\n", fig, what,
		dc_strerror(err), dc_errmsg());
}

static void fail_check(const char *fig, const char *what)
{
	fprintf(stderr, "bench_view: %s: %s; figure skipped\n", fig, what);
}

/* MemAvailable in MiB (0 if unknown). */
static uint64_t mem_available_mib(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	unsigned long long kib = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
			break;
	fclose(f);
	return kib / 1024;
}

/* ---- a mounted region ------------------------------------------------------ */

struct bfs {
	struct dc_region *r;
	struct dc_dcfs *fs;
};

/* Create region @spec and mount it with @options; 0 or the error (nothing left behind). */
static int bfs_mount(struct bfs *b, const char *spec, const char *options)
{
	int ret;

	b->r = NULL;
	b->fs = NULL;
	ret = dc_region_create(spec, &b->r);
	if (ret)
		return ret;
	ret = dc_dcfs_mount(b->r, options, NULL, NULL, &b->fs);
	if (ret) {
		dc_region_remove(b->r, NULL);
		b->r = NULL;
	}
	return ret;
}

static void bfs_unmount(struct bfs *b)
{
	int ret;

	if (b->fs) {
		ret = dc_dcfs_unmount(b->fs, NULL);
		if (ret) {
			/* Removing the region now would wait for the holder: leak it. */
			fprintf(stderr, "bench_view: unmount: %s (%s)\n", dc_strerror(ret),
				dc_errmsg());
			return;
		}
		b->fs = NULL;
	}
	if (b->r) {
		ret = dc_region_remove(b->r, NULL);
		if (ret)
			fprintf(stderr, "bench_view: region remove: %s (%s)\n", dc_strerror(ret),
				dc_errmsg());
		b->r = NULL;
	}
}

/* Close and unlink: an idle unlinked file is evicted, its blocks freed. */
static int drop_file(struct dc_dcfs *fs, int fd, const char *name)
{
	int ret = dc_dcfs_close(fs, fd);
	int ret2 = dc_dcfs_unlink(fs, name);

	return ret ? ret : ret2;
}

/* Create @name and pwrite @size bytes of @fill to it in 1 MiB pieces; a descriptor or an error. */
static int make_file(struct dc_dcfs *fs, const char *name, uint64_t size, unsigned char fill)
{
	static _Alignas(4096) unsigned char buf[1 << 20];
	int fd = dc_dcfs_create(fs, name);

	if (fd < 0)
		return fd;
	memset(buf, fill, sizeof(buf));
	for (uint64_t off = 0; off < size; off += sizeof(buf)) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);
		int64_t got = dc_dcfs_pwrite(fs, fd, buf, n, off);

		if (got < 0 || (size_t)got != n) {
			drop_file(fs, fd, name);
			return got < 0 ? (int)got : -ENOSPC;
		}
	}
	return fd;
}

static uint64_t file_entries(struct dc_dcfs *fs, int fd)
{
	struct dc_dcfs_stat st;

	return dc_dcfs_fstat(fs, fd, &st) ? 0 : st.entries;
}

/* ---- view statistics ----------------------------------------------------------- */

/* @b - @a for the counters; the gauges (views, vmas, vma_budget) as in @b. */
static struct dc_view_stats stats_delta(const struct dc_view_stats *a,
					const struct dc_view_stats *b)
{
	struct dc_view_stats d = *b;

	d.faults = b->faults - a->faults;
	d.signal_faults = b->signal_faults - a->signal_faults;
	d.pages_mapped = b->pages_mapped - a->pages_mapped;
	d.retries = b->retries - a->retries;
	d.revokes = b->revokes - a->revokes;
	d.budget_revokes = b->budget_revokes - a->budget_revokes;
	d.sigbus = b->sigbus - a->sigbus;
	return d;
}

/*
 * Did a scan of @npages pages go through the view as meant?  @sig: its
 * faults came through the SIGSEGV handler (else only dc_view_fault() may
 * serve them).  NULL, or what is wrong, in @buf.
 */
static const char *scan_check(const struct dc_view_stats *d, uint64_t npages, bool sig,
			      char *buf, size_t size)
{
	if (!d->faults)
		snprintf(buf, size, "the scan of %llu pages served no view fault: it did not go "
			 "through the view", (unsigned long long)npages);
	else if (d->pages_mapped < npages)
		snprintf(buf, size, "the scan of %llu pages mapped only %llu pages in %llu faults: "
			 "it did not go through the view", (unsigned long long)npages,
			 (unsigned long long)d->pages_mapped, (unsigned long long)d->faults);
	else if (sig && !d->signal_faults)
		snprintf(buf, size, "no fault of the scan came through the SIGSEGV handler "
			 "(%llu faults)", (unsigned long long)d->faults);
	else if (!sig && d->signal_faults)
		snprintf(buf, size, "%llu stores faulted through the SIGSEGV handler after "
			 "dc_view_fault() of their window", (unsigned long long)d->signal_faults);
	else if (d->budget_revokes)
		snprintf(buf, size, "the VMA budget revoked %llu windows during the scan "
			 "(%llu VMAs, budget %llu)", (unsigned long long)d->budget_revokes,
			 (unsigned long long)d->vmas, (unsigned long long)d->vma_budget);
	else if (d->sigbus)
		snprintf(buf, size, "%llu accesses got SIGBUS", (unsigned long long)d->sigbus);
	else
		return NULL;
	return buf;
}

/* ---- scans -------------------------------------------------------------------- */

/* Store (@seed + page) to the first byte of each of @npages pages from @p. */
static void touch_seq(void *p, uint64_t npages, unsigned char seed)
{
	volatile unsigned char *q = p;

	for (uint64_t i = 0; i < npages; i++)
		q[i * PG] = (unsigned char)(seed + i);
}

/* Fault [0, @npages) of @v for write in @window pieces, storing to each piece after its fault. */
static int fault_explicit(const struct dc_view *v, uint64_t npages, uint64_t window,
			  unsigned char seed)
{
	for (uint64_t off = 0; off < npages * PG; off += window) {
		uint64_t len = npages * PG - off < window ? npages * PG - off : window;
		int ret = dc_view_fault(v, off, len, DC_VIEW_FAULT_WRITE);

		if (ret)
			return ret;
		touch_seq((char *)v->addr + off, len / PG, (unsigned char)(seed + off / PG));
	}
	return 0;
}

/* The first byte of every 61st page of @fd reads (@seed + page): the stores reached the file. */
static const char *content_check(struct dc_dcfs *fs, int fd, uint64_t npages,
				 unsigned char seed, char *buf, size_t size)
{
	for (uint64_t i = 0; i < npages; i += 61) {
		unsigned char c = 0;
		int64_t got = dc_dcfs_pread(fs, fd, &c, 1, i * PG);

		if (got != 1 || c != (unsigned char)(seed + i)) {
			snprintf(buf, size, "file page %llu reads %#x after the scan stored %#x to "
				 "it through the view (pread: %lld)", (unsigned long long)i, c,
				 (unsigned char)(seed + i), (long long)got);
			return buf;
		}
	}
	return NULL;
}

struct scan {
	double ns;                 /* per page */
	struct dc_view_stats d;    /* the scan's counters */
};

/*
 * Map a fresh view of [0, @npages) of @fd, scan it for write (@explicit:
 * dc_view_fault() per 2 MiB window before its stores; else plain stores
 * through the SIGSEGV handler), unmap it.  Checked (stats and contents);
 * 0, a negative errno with *@what, or -EUCLEAN with the message in @msg.
 */
static int view_scan(struct dc_dcfs *fs, int fd, uint64_t npages, bool explicit,
		     unsigned char seed, struct scan *out, const char **what, char *msg,
		     size_t msize)
{
	struct dc_view v;
	struct dc_view_stats s0, s1;
	uint64_t t0, t1;
	const char *bad;
	int ret, ret2;

	*what = "dc_dcfs_map";
	ret = dc_dcfs_map(fs, fd, 0, npages * PG, DC_VIEW_READ | DC_VIEW_WRITE, &v);
	if (ret)
		return ret;
	*what = "dc_view_fault";
	dc_view_stats(&s0);
	t0 = bench_now_ns();
	if (explicit)
		ret = fault_explicit(&v, npages, SEQ_WINDOW, seed);
	else
		touch_seq(v.addr, npages, seed);
	t1 = bench_now_ns();
	dc_view_stats(&s1);
	ret2 = dc_view_unmap(&v);
	if (ret)
		return ret;
	if (ret2) {
		*what = "dc_view_unmap";
		return ret2;
	}
	out->ns = (double)(t1 - t0) / (double)npages;
	out->d = stats_delta(&s0, &s1);
	*what = NULL;
	bad = scan_check(&out->d, npages, !explicit, msg, msize);
	if (!bad)
		bad = content_check(fs, fd, npages, seed, msg, msize);
	return bad ? -EUCLEAN : 0;
}

/* The report of a scan failure: an errno with what failed, or the check's message. */
static void scan_fail(const char *fig, int ret, const char *what, const char *msg)
{
	if (what)
		fail(fig, what, ret);
	else
		fail_check(fig, msg);
}

/* ---- the kernel pieces of a view fault, measured alone ----------------------------- */

/*
 * What the view layer's work costs the kernel here: a SIGSEGV round trip
 * (store to a PROT_NONE page, a handler that mprotects it back, retry;
 * the mprotect measured alone and taken off), one mmap(MAP_SHARED |
 * MAP_FIXED | MAP_POPULATE) of a populated memfd per window of 4 KiB,
 * 64 KiB and 2 MiB, and the revocation mmap (anonymous PROT_NONE,
 * MAP_FIXED) of every other 4 KiB page, and of 64 MiB at once.
 */
struct pieces {
	bool ok;
	double sig_ns;        /* per round trip */
	double map_ns[3];     /* per mmap of 4 KiB, 64 KiB, 2 MiB */
	double revoke4k_ns;   /* per single-page revocation mmap, every other page */
	double revoke64m_ns;  /* per page of one revocation mmap of 64 MiB */
};

static struct pieces pieces;

static void pieces_handler(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr & ~(uintptr_t)(PG - 1);

	(void)sig;
	(void)uc;
	if (mprotect((void *)a, PG, PROT_READ | PROT_WRITE))
		abort();
}

#define PIECE_SIG_PAGES 2048u

static double piece_signal(void)
{
	struct sigaction sa, old;
	size_t len = (size_t)PIECE_SIG_PAGES * PG;
	double with = 1e30, base = 1e30;
	char *p;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = pieces_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	memset(p, 1, len); /* populated: the retried store takes no page fault of its own */
	for (int k = 0; k < 3; k++) {
		uint64_t t0;

		if (mprotect(p, len, PROT_NONE))
			goto out;
		t0 = bench_now_ns();
		for (size_t i = 0; i < PIECE_SIG_PAGES; i++)
			if (mprotect(p + i * PG, PG, PROT_READ | PROT_WRITE))
				goto out;
		base = min_d(base, (double)(bench_now_ns() - t0) / PIECE_SIG_PAGES);
		if (mprotect(p, len, PROT_NONE) || sigaction(SIGSEGV, &sa, &old))
			goto out;
		t0 = bench_now_ns();
		touch_seq(p, PIECE_SIG_PAGES, 2);
		with = min_d(with, (double)(bench_now_ns() - t0) / PIECE_SIG_PAGES);
		sigaction(SIGSEGV, &old, NULL);
	}
out:
	munmap(p, len);
	return with < 1e30 && base < 1e30 ? with - base : 0;
}

static void measure_pieces(void)
{
	static const uint64_t win[3] = { PG, 64 * 1024, 2 * MIB };
	const uint64_t len = 64 * MIB;
	int fd = bench_memfd_populated(len / PG);
	char *res;

	memset(&pieces, 0, sizeof(pieces));
	if (fd < 0)
		return;
	pieces.sig_ns = piece_signal();
	res = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED) {
		close(fd);
		return;
	}
	for (int w = 0; w < 3; w++) {
		double best = 1e30;

		for (int k = 0; k < 3; k++) {
			uint64_t t0 = bench_now_ns(), t1;

			for (uint64_t off = 0; off < len; off += win[w])
				if (mmap(res + off, win[w], PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd,
					 (off_t)off) == MAP_FAILED)
					goto out;
			t1 = bench_now_ns();
			best = min_d(best, (double)(t1 - t0) / (double)(len / win[w]));
			if (mmap(res, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
				 MAP_NORESERVE, -1, 0) == MAP_FAILED)
				goto out;
		}
		pieces.map_ns[w] = best;
	}
	pieces.revoke4k_ns = pieces.revoke64m_ns = 1e30;
	for (int k = 0; k < 3; k++) {
		uint64_t t0, t1;

		/* Scattered single pages: every other page of a populated 64 MiB mapping. */
		if (mmap(res, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE,
			 fd, 0) == MAP_FAILED)
			goto out;
		touch_seq(res, len / PG, 3);
		t0 = bench_now_ns();
		for (uint64_t off = PG; off < len; off += 2 * PG)
			if (mmap(res + off, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
				 MAP_NORESERVE, -1, 0) == MAP_FAILED)
				goto out;
		t1 = bench_now_ns();
		pieces.revoke4k_ns = min_d(pieces.revoke4k_ns,
					   (double)(t1 - t0) / (double)(len / PG / 2));
		/* All of it at once. */
		if (mmap(res, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE,
			 fd, 0) == MAP_FAILED)
			goto out;
		touch_seq(res, len / PG, 4);
		t0 = bench_now_ns();
		if (mmap(res, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
			 MAP_NORESERVE, -1, 0) == MAP_FAILED)
			goto out;
		t1 = bench_now_ns();
		pieces.revoke64m_ns = min_d(pieces.revoke64m_ns,
					    (double)(t1 - t0) / (double)(len / PG));
	}
	pieces.ok = pieces.sig_ns > 0;
out:
	munmap(res, len);
	close(fd);
}

/* ---- view_fault_seq_sigsegv, view_fault_seq_explicit, view_fault_seq_2m ------------ */

static void anchor_text(char *buf, size_t size)
{
	snprintf(buf, size, "kernel first-touch write fault of an existing page of a shared "
		 "memfd (written with pwrite, mapped fresh), %u pages, per page", SEQ_PAGES);
}

static void bench_seq_4k(bool sig, bool exp)
{
	struct scan best[3], last[3];
	double an = 1e30;
	char msg[256], text[200], note[900];
	const char *what = NULL;
	uint64_t entries, entries2 = 0;
	struct bfs b;
	int fd = -1, fd2 = -1, mfd = -1, ret;

	if (!sig && !exp)
		return;
	best[0].ns = best[1].ns = best[2].ns = 1e30;
	ret = bfs_mount(&b, "mem:256M", NULL);
	if (ret) {
		fail("view_fault_seq_*", "mount mem:256M", ret);
		return;
	}
	fd = make_file(b.fs, "seq", (uint64_t)SEQ_PAGES * PG, 0x5a);
	mfd = bench_memfd_populated(SEQ_PAGES);
	if (fd < 0 || mfd < 0) {
		fail("view_fault_seq_*", fd < 0 ? "create + write the file" : "the anchor's memfd",
		     fd < 0 ? fd : -errno);
		goto out;
	}
	/* Warm-up, and the file's entries: one scan of each kind, not timed. */
	for (int m = 0; m < 2; m++) {
		ret = view_scan(b.fs, fd, SEQ_PAGES, m == 1, 0x10, &last[m], &what, msg,
				sizeof(msg));
		if (ret) {
			scan_fail(m ? "view_fault_seq_explicit" : "view_fault_seq_sigsegv", ret,
				  what, msg);
			goto out;
		}
	}
	entries = file_entries(b.fs, fd);
	/*
	 * The note: a second file whose entries an explicit scan made first
	 * (2 MiB-aligned windows: 2 MiB entries), scanned through the handler.
	 */
	fd2 = make_file(b.fs, "seq-2m-entries", (uint64_t)SEQ_PAGES * PG, 0x5b);
	ret = fd2 < 0 ? fd2 : view_scan(b.fs, fd2, SEQ_PAGES, true, 0x10, &last[2], &what, msg,
					sizeof(msg));
	if (ret) {
		scan_fail("view_fault_seq_sigsegv (2 MiB entries, the note)", ret,
			  fd2 < 0 ? "create + write the second file" : what, msg);
		goto out;
	}
	entries2 = file_entries(b.fs, fd2);
	bench_anchor_first_touch_populated(mfd, SEQ_PAGES); /* warm-up */
	for (int k = 0; k < ROUNDS; k++) {
		for (int m = 0; m < 3; m++) {
			if (!(m == 1 ? exp : sig))
				continue;
			ret = view_scan(b.fs, m == 2 ? fd2 : fd, SEQ_PAGES, m == 1,
					(unsigned char)(0x21 + 3 * k + m), &last[m], &what, msg,
					sizeof(msg));
			if (ret) {
				scan_fail(m == 1 ? "view_fault_seq_explicit" : "view_fault_seq_sigsegv",
					  ret, what, msg);
				goto out;
			}
			if (last[m].ns < best[m].ns)
				best[m] = last[m];
		}
		an = min_d(an, bench_anchor_first_touch_populated(mfd, SEQ_PAGES));
	}
	anchor_text(text, sizeof(text));
	for (int m = 0; m < 2; m++) {
		const struct dc_view_stats *d = &best[m].d;

		if (!(m ? exp : sig))
			continue;
		char alt[200] = "";

		if (!m && best[2].ns < 1e30)
			snprintf(alt, sizeof(alt), "; the same scan of a file whose entries an "
				 "explicit scan of 2 MiB windows made first (%llu entries): %.1f ns "
				 "(ratio %.3f)", (unsigned long long)entries2, best[2].ns,
				 ratio(best[2].ns, an));
		snprintf(note, sizeof(note), "mem:256M (4 KiB folios), a 64 MiB file written with "
			 "1 MiB pwrites, its entries (%llu) faulted by earlier view scans (a "
			 "SIGSEGV scan first); a fresh view per round, default fault-around (64 KiB "
			 "growing to 2 MiB); %s; best round: %llu faults (%llu through SIGSEGV), "
			 "%llu pages mapped (%.1f per fault), %llu VMAs at the end of the scan%s; "
			 "kernel: mmap + populate of a 2 MiB window alone %.0f ns (%.1f ns a page); "
			 "target <= 0.8", (unsigned long long)entries,
			 m ? "dc_view_fault(WRITE) of each 2 MiB window, then one store per page"
			   : "one store per page, faults through the SIGSEGV handler",
			 (unsigned long long)d->faults, (unsigned long long)d->signal_faults,
			 (unsigned long long)d->pages_mapped,
			 d->faults ? (double)d->pages_mapped / (double)d->faults : 0,
			 (unsigned long long)d->vmas, alt, pieces.map_ns[2], pieces.map_ns[2] / 512);
		bench_report_note(m ? "view_fault_seq_explicit" : "view_fault_seq_sigsegv",
				  "ns/4KiB", best[m].ns, text, an < 1e30 ? an : 0, note);
	}
out:
	if (mfd >= 0)
		close(mfd);
	if (fd >= 0)
		drop_file(b.fs, fd, "seq");
	if (fd2 >= 0)
		drop_file(b.fs, fd2, "seq-2m-entries");
	bfs_unmount(&b);
}

static void bench_seq_2m(void)
{
	const uint64_t size = (uint64_t)SEQ_PAGES * PG;
	struct scan best[2], last[2];
	double an = 1e30;
	char msg[256], text[200], note[700], spec[64], huge_why[200] = "";
	const char *what = NULL;
	uint64_t entries;
	struct bfs b;
	int fd = -1, mfd = -1, ret;

	best[0].ns = best[1].ns = 1e30;
	snprintf(spec, sizeof(spec), "mem:%lluM,huge", (unsigned long long)(size / MIB * 4));
	ret = bfs_mount(&b, spec, NULL);
	if (ret) {
		snprintf(huge_why, sizeof(huge_why), "%s: %s (%s)", spec, dc_strerror(ret),
			 dc_errmsg());
		snprintf(spec, sizeof(spec), "mem:%lluM,order=9",
			 (unsigned long long)(size / MIB * 4));
		ret = bfs_mount(&b, spec, NULL);
	}
	if (ret) {
		fail("view_fault_seq_2m", "mount mem:...,huge or mem:...,order=9", ret);
		return;
	}
	fd = make_file(b.fs, "seq2m", size, 0x6c);
	mfd = bench_memfd_populated(SEQ_PAGES);
	if (fd < 0 || mfd < 0) {
		fail("view_fault_seq_2m", fd < 0 ? "create + write the file" : "the anchor's memfd",
		     fd < 0 ? fd : -errno);
		goto out;
	}
	for (int m = 0; m < 2; m++) {
		ret = view_scan(b.fs, fd, SEQ_PAGES, m == 1, 0x10, &last[m], &what, msg,
				sizeof(msg));
		if (ret) {
			scan_fail("view_fault_seq_2m", ret, what, msg);
			goto out;
		}
	}
	entries = file_entries(b.fs, fd);
	bench_anchor_first_touch_populated(mfd, SEQ_PAGES); /* warm-up */
	for (int k = 0; k < ROUNDS; k++) {
		for (int m = 0; m < 2; m++) {
			ret = view_scan(b.fs, fd, SEQ_PAGES, m == 1, (unsigned char)(0x31 + 2 * k + m),
					&last[m], &what, msg, sizeof(msg));
			if (ret) {
				scan_fail("view_fault_seq_2m", ret, what, msg);
				goto out;
			}
			if (last[m].ns < best[m].ns)
				best[m] = last[m];
		}
		an = min_d(an, bench_anchor_first_touch_populated(mfd, SEQ_PAGES));
	}
	anchor_text(text, sizeof(text));
	snprintf(note, sizeof(note), "%s (2 MiB folios%s%s), a 64 MiB file written with 1 MiB "
		 "pwrites, its entries (%llu) faulted by earlier view scans; a fresh view per round, "
		 "default fault-around; one store per page through the SIGSEGV handler; best "
		 "round: %llu faults, %llu pages mapped (%.1f per fault), %llu VMAs; "
		 "dc_view_fault(WRITE) per 2 MiB window instead: %.1f ns (ratio %.3f, %llu "
		 "faults); target <= 0.3", spec,
		 huge_why[0] ? ", not hugetlb: " : ", hugetlb", huge_why,
		 (unsigned long long)entries,
		 (unsigned long long)best[0].d.faults, (unsigned long long)best[0].d.pages_mapped,
		 best[0].d.faults ? (double)best[0].d.pages_mapped / (double)best[0].d.faults : 0,
		 (unsigned long long)best[0].d.vmas, best[1].ns, ratio(best[1].ns, an),
		 (unsigned long long)best[1].d.faults);
	bench_report_note("view_fault_seq_2m", "ns/4KiB", best[0].ns, text, an < 1e30 ? an : 0,
			  note);
out:
	if (mfd >= 0)
		close(mfd);
	if (fd >= 0)
		drop_file(b.fs, fd, "seq2m");
	bfs_unmount(&b);
}

/* ---- view_fault_random_4k ---------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void shuffle(uint32_t *a, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		a[i] = i;
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rng() % (i + 1)), t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

/*
 * One pass: a fresh view of [0, @npages) of @fd; one store to page
 * perm[j] * @stride + @in_slot for each j, timed; unmap.  Total ns and the
 * counters.
 */
static int random_pass(struct dc_dcfs *fs, int fd, uint64_t npages, const uint32_t *perm,
		       uint32_t n, uint64_t stride, uint64_t in_slot, double *ns,
		       struct dc_view_stats *d, const char **what)
{
	struct dc_view v;
	struct dc_view_stats s0, s1;
	volatile unsigned char *q;
	uint64_t t0, t1;
	int ret;

	*what = "dc_dcfs_map";
	ret = dc_dcfs_map(fs, fd, 0, npages * PG, DC_VIEW_READ | DC_VIEW_WRITE, &v);
	if (ret)
		return ret;
	q = v.addr;
	dc_view_stats(&s0);
	t0 = bench_now_ns();
	for (uint32_t j = 0; j < n; j++)
		q[((uint64_t)perm[j] * stride + in_slot) * PG] = (unsigned char)j;
	t1 = bench_now_ns();
	dc_view_stats(&s1);
	*what = "dc_view_unmap";
	ret = dc_view_unmap(&v);
	*ns = (double)(t1 - t0);
	*d = stats_delta(&s0, &s1);
	return ret;
}

/* Fault every page of [0, @npages) of @fd in once through a view (the file's entries). */
static int fault_file(struct dc_dcfs *fs, int fd, uint64_t npages)
{
	struct dc_view v;
	int ret = dc_dcfs_map(fs, fd, 0, npages * PG, DC_VIEW_READ | DC_VIEW_WRITE, &v), ret2;

	if (ret)
		return ret;
	ret = fault_explicit(&v, npages, SEQ_WINDOW, 0x77);
	ret2 = dc_view_unmap(&v);
	return ret ? ret : ret2;
}

/* The fault_around=4096 variant: every page of a 64 MiB file once, in a random order. */
static double random_fa4k(uint64_t *faults, uint64_t *touches, uint64_t *mapped)
{
	static uint32_t perm[FA4K_PAGES];
	const char *what = "mount mem:96M with fault_around=4096";
	double best = 1e30;
	struct bfs b;
	int fd = -1, ret;

	ret = bfs_mount(&b, "mem:96M", "fault_around=4096");
	if (!ret) {
		what = "create + write the file";
		fd = make_file(b.fs, "fa4k", (uint64_t)FA4K_PAGES * PG, 0x4b);
		ret = fd < 0 ? fd : 0;
	}
	if (!ret) {
		what = "fault the file's entries";
		ret = fault_file(b.fs, fd, FA4K_PAGES);
	}
	for (int k = 0; !ret && k < FA4K_ROUNDS; k++) {
		struct dc_view_stats d;
		double ns;

		shuffle(perm, FA4K_PAGES);
		ret = random_pass(b.fs, fd, FA4K_PAGES, perm, FA4K_PAGES, 1, 0, &ns, &d, &what);
		if (!ret && (!d.signal_faults || d.budget_revokes)) {
			fprintf(stderr, "bench_view: view_fault_random_4k: the fault_around=4096 "
				"variant: %llu signal faults, %llu budget revokes for %u touches; "
				"left out of the note\n", (unsigned long long)d.signal_faults,
				(unsigned long long)d.budget_revokes, FA4K_PAGES);
			best = 1e30;
			break;
		}
		if (!ret && ns / (double)d.faults < best) {
			best = ns / (double)d.faults;
			*faults = d.faults;
			*touches = FA4K_PAGES;
			*mapped = d.pages_mapped;
		}
	}
	if (ret)
		fprintf(stderr, "bench_view: view_fault_random_4k: the fault_around=4096 variant: "
			"%s: %s (%s); left out of the note\n", what, dc_strerror(ret), dc_errmsg());
	if (fd >= 0)
		drop_file(b.fs, fd, "fa4k");
	bfs_unmount(&b);
	return ret ? 0 : best;
}

static void bench_random(void)
{
	static uint32_t perm[RAND_SLOTS];
	uint64_t avail = mem_available_mib();
	uint32_t slots = avail && avail < 2048 ? RAND_SLOTS_LOW : RAND_SLOTS;
	uint64_t npages = (uint64_t)slots * SLOT_PAGES, size = npages * PG;
	uint64_t fa_faults = 0, fa_touches = 0, fa_mapped = 0, retries = 0;
	double best = 1e30, an = 1e30, fa4k;
	struct dc_view_stats bd = { 0 };
	char spec[64], text[200], note[900];
	const char *what = "mount";
	struct bfs b;
	int fd = -1, mfd = -1, ret;

	snprintf(spec, sizeof(spec), "mem:%lluM", (unsigned long long)(size / MIB + 64));
	ret = bfs_mount(&b, spec, NULL);
	if (!ret) {
		what = "create + write the file";
		fd = make_file(b.fs, "rand", size, 0x3c);
		ret = fd < 0 ? fd : 0;
	}
	if (!ret) {
		what = "fault the file's entries (a view, dc_view_fault per 2 MiB)";
		ret = fault_file(b.fs, fd, npages);
	}
	if (!ret) {
		what = "the anchor's memfd";
		mfd = bench_memfd_populated(SEQ_PAGES);
		ret = mfd < 0 ? -errno : 0;
	}
	if (ret) {
		fail("view_fault_random_4k", what, ret);
		goto out;
	}
	bench_anchor_first_touch_populated(mfd, SEQ_PAGES); /* warm-up */
	for (int k = 0; k < ROUNDS; k++) {
		struct dc_view_stats sum = { 0 };
		double total = 0;

		for (int pass = 0; pass < RAND_PASSES; pass++) {
			uint64_t in_slot = (uint64_t)(k * RAND_PASSES + pass) * 37 % SLOT_PAGES;
			struct dc_view_stats d;
			double ns;

			shuffle(perm, slots);
			ret = random_pass(b.fs, fd, npages, perm, slots, SLOT_PAGES, in_slot, &ns, &d,
					  &what);
			if (ret) {
				fail("view_fault_random_4k", what, ret);
				goto out;
			}
			if (d.faults < slots || d.signal_faults < slots || d.budget_revokes) {
				char msg[200];

				snprintf(msg, sizeof(msg), "%u touches (one per 2 MiB slot) served %llu "
					 "faults, %llu through SIGSEGV, %llu budget revokes: not one "
					 "fault per touch through the handler", slots,
					 (unsigned long long)d.faults,
					 (unsigned long long)d.signal_faults,
					 (unsigned long long)d.budget_revokes);
				fail_check("view_fault_random_4k", msg);
				goto out;
			}
			total += ns;
			sum.faults += d.faults;
			sum.signal_faults += d.signal_faults;
			sum.pages_mapped += d.pages_mapped;
			sum.retries += d.retries;
			sum.vmas = d.vmas;
		}
		retries += sum.retries;
		if (total / ((double)RAND_PASSES * slots) < best) {
			best = total / ((double)RAND_PASSES * slots);
			bd = sum;
		}
		an = min_d(an, bench_anchor_first_touch_populated(mfd, SEQ_PAGES));
	}
	fa4k = random_fa4k(&fa_faults, &fa_touches, &fa_mapped);
	anchor_text(text, sizeof(text));
	{
		char fa[200] = "the fault_around=4096 variant failed (stderr)";

		if (fa4k > 0)
			snprintf(fa, sizeof(fa), "%.0f ns per fault (ratio %.2f; %llu faults for "
				 "%llu touches, %.2f pages mapped per fault)", fa4k, ratio(fa4k, an),
				 (unsigned long long)fa_faults, (unsigned long long)fa_touches,
				 fa_faults ? (double)fa_mapped / (double)fa_faults : 0);
		snprintf(note, sizeof(note), "%s, a %llu MiB file%s written and its entries "
			 "faulted; per round %d fresh views, each touched once per 2 MiB slot (%u "
			 "slots in a random order) at one page offset, the same in every slot: "
			 "default fault-around, each touch one fault (best round: %llu faults, %llu "
			 "through SIGSEGV, %.1f pages mapped per fault, %llu retries in all rounds); "
			 "mounted fault_around=4096 (a 64 MiB file, every page once in a random "
			 "order): %s; kernel pieces alone: SIGSEGV round trip %.0f ns, mmap + "
			 "populate of a 4 KiB window %.0f ns, of 64 KiB %.0f ns; target <= 7",
			 spec, (unsigned long long)(size / MIB),
			 slots == RAND_SLOTS ? "" : " (MemAvailable under 2 GiB: reduced)",
			 RAND_PASSES, slots, (unsigned long long)bd.faults,
			 (unsigned long long)bd.signal_faults,
			 bd.faults ? (double)bd.pages_mapped / (double)bd.faults : 0,
			 (unsigned long long)retries, fa, pieces.sig_ns, pieces.map_ns[0],
			 pieces.map_ns[1]);
	}
	bench_report_note("view_fault_random_4k", "ns", best, text, an < 1e30 ? an : 0, note);
out:
	if (mfd >= 0)
		close(mfd);
	if (fd >= 0)
		drop_file(b.fs, fd, "rand");
	bfs_unmount(&b);
}

/* ---- view_revoke_file, view_revoke_4k ----------------------------------------------- */

/* A view file of the benchmark's own: file page i is device page i of the region. */
struct own_file {
	uint64_t npages;
};

static int own_fault(void *file, uint64_t index, uint64_t max, unsigned flags,
		     struct dc_view_extent *ext)
{
	const struct own_file *f = file;

	(void)max;
	(void)flags;
	if (index >= f->npages)
		return -EFAULT;
	ext->index = index;
	ext->nr = f->npages - index;
	ext->pgoff = index;
	ext->zero = false;
	ext->writable = true;
	return 0;
}

static void own_release(void *file)
{
	(void)file;
}

static const struct dc_view_owner_ops own_ops = { .fault = own_fault, .release = own_release };

/*
 * The view layer alone: a populated view of the own view file @vf, then
 * dc_view_file_revoke() of all of it (@punch false) or of each odd page
 * (@punch true), timed: ns per revoked page.
 */
static int own_round(struct dc_view_file *vf, bool punch, double *ns, uint64_t *revokes,
		     const char **what)
{
	struct dc_view v;
	struct dc_view_stats s0, s1;
	uint64_t t0, t1;
	int ret;

	*what = "dc_view_map (own view file)";
	ret = dc_view_map(vf, 0, (uint64_t)REV_PAGES * PG, DC_VIEW_READ | DC_VIEW_WRITE, &v);
	if (ret)
		return ret;
	*what = "dc_view_fault (own view file)";
	ret = fault_explicit(&v, REV_PAGES, SEQ_WINDOW, 0x19);
	if (ret) {
		dc_view_unmap(&v);
		return ret;
	}
	dc_view_stats(&s0);
	t0 = bench_now_ns();
	if (punch)
		for (uint64_t i = 1; i < REV_PAGES; i += 2)
			dc_view_file_revoke(vf, i, 1);
	else
		dc_view_file_revoke(vf, 0, REV_PAGES);
	t1 = bench_now_ns();
	dc_view_stats(&s1);
	*ns = (double)(t1 - t0) / (punch ? REV_PAGES / 2 : REV_PAGES);
	*revokes = s1.revokes - s0.revokes;
	*what = "dc_view_unmap (own view file)";
	return dc_view_unmap(&v);
}

struct rev {
	double ns;          /* per revoked page */
	uint64_t entries;   /* the file's entries before */
	uint64_t revokes;   /* revocation ranges (stats) */
	uint64_t vmas;      /* VMAs after populating */
	uint64_t refaults;  /* @punch: faults of reading the even pages afterwards */
};

/*
 * One round on a new 64 MiB file written and faulted through a view:
 * truncate it to 0 (@punch false) or punch each odd page (@punch true),
 * timed, with that view still mapped and populated (@with_view) or
 * unmapped before (the file's entries stay).  @order0: the file's entries
 * are faulted page by page (dc_dcfs_fault, order 0) before the view maps
 * it, so each is one page; else the view's faults make them (order 9
 * where a 2 MiB window covers an aligned run).  ns per page taken away.
 */
static int rev_round(struct dc_dcfs *fs, bool punch, bool with_view, bool order0,
		     struct rev *out, const char **what, char *msg, size_t msize)
{
	const uint64_t npages = REV_PAGES;
	struct dc_view v = { 0 };
	struct dc_view_stats s0, s1, d;
	uint64_t t0, t1;
	int fd, ret = 0;

	*what = "create + write the file";
	fd = make_file(fs, "rv", npages * PG, 0xa5);
	if (fd < 0)
		return fd;
	*what = "dc_dcfs_fault of every page (order 0)";
	for (uint64_t i = 0; order0 && i < npages && !ret; i++) {
		struct dc_dcfs_fault_result res;

		ret = dc_dcfs_fault(fs, fd, i, DC_DCFS_FAULT_WRITE, 0, &res);
	}
	if (ret)
		goto drop;
	*what = "dc_dcfs_map";
	ret = dc_dcfs_map(fs, fd, 0, npages * PG, DC_VIEW_READ | DC_VIEW_WRITE, &v);
	if (ret)
		goto drop;
	*what = "populate the view (dc_view_fault per 2 MiB, a store per page)";
	dc_view_stats(&s0);
	ret = fault_explicit(&v, npages, SEQ_WINDOW, 0x5c);
	dc_view_stats(&s1);
	if (ret)
		goto unmap;
	d = stats_delta(&s0, &s1);
	out->vmas = d.vmas;
	if (scan_check(&d, npages, false, msg, msize)) {
		ret = -EUCLEAN;
		*what = NULL;
		goto unmap;
	}
	if (!with_view) {
		*what = "dc_view_unmap";
		ret = dc_view_unmap(&v);
		if (ret)
			goto drop;
	}
	out->entries = file_entries(fs, fd);
	*what = punch ? "dc_dcfs_fallocate(PUNCH) of each odd page" : "dc_dcfs_truncate to 0";
	dc_view_stats(&s0);
	t0 = bench_now_ns();
	if (punch) {
		for (uint64_t i = 1; i < npages && !ret; i += 2)
			ret = dc_dcfs_fallocate(fs, fd, DC_DCFS_FALLOC_PUNCH, i * PG, PG, NULL);
	} else {
		ret = dc_dcfs_truncate(fs, fd, 0, NULL);
	}
	t1 = bench_now_ns();
	dc_view_stats(&s1);
	if (ret)
		goto unmap;
	out->ns = (double)(t1 - t0) / (double)(punch ? npages / 2 : npages);
	d = stats_delta(&s0, &s1);
	out->revokes = d.revokes;
	if (with_view && !d.revokes) {
		snprintf(msg, msize, "the %s revoked nothing in the populated view (stats: 0 "
			 "revokes)", punch ? "punches" : "truncate");
		ret = -EUCLEAN;
		*what = NULL;
		goto unmap;
	}
	if (with_view && punch) {
		volatile unsigned char *q = v.addr;
		unsigned sum = 0;

		/* The even pages stayed: reading them refaults nothing if each revoke was exact. */
		dc_view_stats(&s0);
		for (uint64_t i = 0; i < npages; i += 2)
			sum += q[i * PG];
		dc_view_stats(&s1);
		bench_keep(sum);
		out->refaults = s1.faults - s0.faults;
		/* The punched pages refault and read zeros: the old blocks are gone from the view. */
		for (uint64_t i = 1; i < npages; i += 2)
			if (q[i * PG]) {
				snprintf(msg, msize, "punched page %llu reads %#x through the view, "
					 "not 0", (unsigned long long)i, q[i * PG]);
				ret = -EUCLEAN;
				*what = NULL;
				goto unmap;
			}
	}
unmap:
	if (v.id) {
		int ret2 = dc_view_unmap(&v);

		if (!ret && ret2) {
			ret = ret2;
			*what = "dc_view_unmap";
		}
	}
drop:
	{
		int ret2 = drop_file(fs, fd, "rv");

		if (!ret && ret2) {
			ret = ret2;
			*what = "close + unlink";
		}
	}
	return ret;
}

static void bench_revoke(bool punch)
{
	const char *fig = punch ? "view_revoke_4k" : "view_revoke_file";
	struct rev best_v = { .ns = 1e30 }, best_n = { .ns = 1e30 }, best_9 = { .ns = 1e30 };
	double own = 1e30, an = 1e30;
	uint64_t own_revokes = 0;
	struct own_file of = { REV_PAGES };
	struct dc_region *own_r = NULL;
	struct dc_view_file *vf = NULL;
	char msg[256], text[200], note[1400], own_why[200] = "", own_text[200];
	const char *what = "mount mem:256M";
	struct bfs b;
	int mfd = -1, ret;

	ret = bfs_mount(&b, "mem:256M", NULL);
	if (!ret) {
		/* The view layer alone (the note): optional, the figure goes on without it. */
		int r2 = dc_region_create("mem:64M", &own_r);

		if (!r2)
			r2 = dc_view_file_create(own_r, &own_ops, &of, 0, &vf);
		if (r2)
			snprintf(own_why, sizeof(own_why), "unavailable (creating it: %s, %s)",
				 dc_strerror(r2), dc_errmsg());
	}
	if (!ret) {
		what = "the anchor's memfd";
		mfd = bench_memfd_populated(REV_PAGES);
		ret = mfd < 0 ? -errno : 0;
	}
	if (ret) {
		fail(fig, what, ret);
		goto out;
	}
	bench_anchor_munmap_populated(mfd, REV_PAGES); /* warm-up */
	for (int k = 0; k < ROUNDS + 1; k++) { /* round 0: warm-up */
		struct rev rv = { 0 }, rn = { 0 }, r9 = { .ns = 1e30 };
		uint64_t rvk = 0;
		double o = 0, y;

		/* view_revoke_4k: single-page entries (the value), the view's own in the note. */
		ret = rev_round(b.fs, punch, true, punch, &rv, &what, msg, sizeof(msg));
		if (!ret)
			ret = rev_round(b.fs, punch, false, punch, &rn, &what, msg, sizeof(msg));
		if (!ret && punch)
			ret = rev_round(b.fs, punch, true, false, &r9, &what, msg, sizeof(msg));
		if (!ret && vf) {
			const char *w2;
			int r2 = own_round(vf, punch, &o, &rvk, &w2);

			if (r2) {
				snprintf(own_why, sizeof(own_why), "unavailable (%s: %s, %s)", w2,
					 dc_strerror(r2), dc_errmsg());
				if (!dc_view_file_destroy(vf))
					vf = NULL;
				o = 1e30;
			}
		}
		if (ret) {
			if (what)
				fail(fig, what, ret);
			else
				fail_check(fig, msg);
			goto out;
		}
		dc_quiesce();
		y = bench_anchor_munmap_populated(mfd, REV_PAGES);
		if (!k)
			continue;
		if (rv.ns < best_v.ns)
			best_v = rv;
		if (rn.ns < best_n.ns)
			best_n = rn;
		if (r9.ns < best_9.ns)
			best_9 = r9;
		if (vf && o < own) {
			own = o;
			own_revokes = rvk;
		}
		if (y > 0)
			an = min_d(an, y);
	}
	snprintf(text, sizeof(text), "kernel munmap of a populated 64 MiB MAP_SHARED memfd "
		 "mapping (every page write-touched), per page");
	if (own_why[0] || own >= 1e30)
		snprintf(own_text, sizeof(own_text), "%s", own_why[0] ? own_why : "unavailable");
	else
		snprintf(own_text, sizeof(own_text), "%.1f ns (ratio %.3f, %llu revocation "
			 "range%s)", own, ratio(own, an), (unsigned long long)own_revokes,
			 own_revokes == 1 ? "" : "s");
	if (!punch)
		snprintf(note, sizeof(note), "mem:256M (4 KiB folios); value: the whole "
			 "dc_dcfs_truncate(fd, 0) of a 64 MiB file (%llu entries) with a 64 MiB "
			 "view populated for write (%llu VMAs), no pins: %llu revocation range%s; "
			 "the same truncate with the view unmapped before (entries kept): %.1f ns, "
			 "so the view's part is %.1f ns (ratio %.3f); dc_view_file_revoke() of a "
			 "populated 64 MiB view of a view file of the benchmark's own (mem:64M, one "
			 "device run), alone: %s; kernel: one "
			 "revocation mmap (anonymous PROT_NONE) of 64 MiB populated %.1f ns a page; "
			 "best of %d; target <= 1.2",
			 (unsigned long long)best_v.entries, (unsigned long long)best_v.vmas,
			 (unsigned long long)best_v.revokes, best_v.revokes == 1 ? "" : "s",
			 best_n.ns, best_v.ns - best_n.ns, ratio(best_v.ns - best_n.ns, an), own_text,
			 pieces.revoke64m_ns, ROUNDS);
	else
		snprintf(note, sizeof(note), "mem:256M (4 KiB folios); value: per punched page, "
			 "dc_dcfs_fallocate(PUNCH) of each odd 4 KiB page (8192 calls) of a 64 MiB "
			 "file whose entries were faulted page by page (%llu entries) before a 64 "
			 "MiB view of it was populated for write (%llu VMAs), no pins: %llu "
			 "revocation ranges; reading the even pages afterwards refaulted %llu (0: "
			 "each revoke took only its page), the punched pages read 0; the same "
			 "punches with the view unmapped before (entries kept): %.1f ns, so the "
			 "view's part is %.1f ns (ratio %.3f); entries made by the view's faults "
			 "instead (%llu, 2 MiB: a punch revokes its whole entry): %.1f ns (ratio "
			 "%.3f, %llu revocation ranges, %llu refaults of the even pages); "
			 "dc_view_file_revoke() of each odd page of a populated view of a view file "
			 "of the benchmark's own (mem:64M), alone: %s; kernel: one revocation mmap "
			 "of a single populated page, every other page, %.0f ns; best of %d; "
			 "target <= 25",
			 (unsigned long long)best_v.entries, (unsigned long long)best_v.vmas,
			 (unsigned long long)best_v.revokes, (unsigned long long)best_v.refaults,
			 best_n.ns, best_v.ns - best_n.ns, ratio(best_v.ns - best_n.ns, an),
			 (unsigned long long)best_9.entries, best_9.ns, ratio(best_9.ns, an),
			 (unsigned long long)best_9.revokes, (unsigned long long)best_9.refaults,
			 own_text, pieces.revoke4k_ns, ROUNDS);
	bench_report_note(fig, "ns/4KiB", best_v.ns, text, an < 1e30 ? an : 0, note);
out:
	if (mfd >= 0)
		close(mfd);
	if (vf) {
		ret = dc_view_file_destroy(vf);
		if (ret)
			fprintf(stderr, "bench_view: dc_view_file_destroy: %s\n", dc_strerror(ret));
	}
	if (own_r)
		dc_region_remove(own_r, NULL);
	bfs_unmount(&b);
}

void bench_view(void)
{
	bool fs = bench_selected("view_fault_seq_sigsegv");
	bool fe = bench_selected("view_fault_seq_explicit");
	bool f2 = bench_selected("view_fault_seq_2m");
	bool fr = bench_selected("view_fault_random_4k");
	bool rf = bench_selected("view_revoke_file");
	bool r4 = bench_selected("view_revoke_4k");
	struct dc_view_stats st;
	int ret;

	if (!(fs || fe || f2 || fr || rf || r4))
		return;
	measure_pieces(); /* before the view handler: it installs a SIGSEGV handler of its own */
	/* Every figure needs it: faults, and the reads that check revocations. */
	ret = dc_view_handler_install();
	if (ret) {
		fprintf(stderr, "bench_view: dc_view_handler_install: %s; view figures skipped\n",
			dc_strerror(ret));
		return;
	}
	bench_seq_4k(fs, fe);
	if (f2)
		bench_seq_2m();
	if (fr)
		bench_random();
	if (rf)
		bench_revoke(false);
	if (r4)
		bench_revoke(true);
	dc_view_stats(&st);
	if (st.views)
		fprintf(stderr, "bench_view: %llu views still mapped at the end\n",
			(unsigned long long)st.views);
	ret = dc_view_handler_remove();
	if (ret)
		fprintf(stderr, "bench_view: dc_view_handler_remove: %s\n", dc_strerror(ret));
	dc_quiesce();
}
