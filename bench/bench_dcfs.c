/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench_dcfs.c - dcfs's faults, I/O, pins and truncate, each next to the
 * kernel doing the same on tmpfs / memfd (or io_uring), measured in the
 * same run.
 *
 *   dcfs_fault_4k              ns per first-touch write fault (order 0) of a
 *                              4 KiB page of a file with no block there
 *                              (allocate + zero + insert), mem: region of
 *                              4 KiB folios.  The figure is the case of
 *                              blocks used before (a file written, truncated
 *                              to 0 and unlinked, then a new file faulted):
 *                              a fresh block of a mem: region is a memfd
 *                              page never touched, so zeroing it takes the
 *                              kernel's own first-touch fault, which a DAX
 *                              device does not have.  The fresh case is in
 *                              the note.  Anchor: the kernel's first-touch
 *                              write fault of a new page of a MAP_SHARED
 *                              memfd mapping (one store per page)
 *   dcfs_fault_2m              ns per 4 KiB of data for order-9 write faults
 *                              on a region of 2 MiB folios (mem:...,order=9,
 *                              else mem:...,huge; skipped if neither can be
 *                              created); reused blocks as above, fresh in the
 *                              note; the same anchor
 *   dcfs_write_4k              ns per 4 KiB dc_dcfs_pwrite of an allocated
 *                              file (4 MiB, cycled: it and the anchor's file
 *                              stay in the last-level cache, so the figure is
 *                              the software path, not DRAM); page-aligned
 *                              buffer (one 16 bytes off a page boundary makes
 *                              both sides 5-10x slower on AMD: rep movsb);
 *                              anchor: pwrite(2) of 4 KiB to a populated
 *                              memfd (tmpfs) of the same size
 *   dcfs_read_4k               the same with dc_dcfs_pread / pread(2)
 *   dcfs_append_4k             ns per 4 KiB append that allocates (pwrite at
 *                              the end of a growing file); reused blocks as
 *                              above, fresh in the note; anchor: 4 KiB
 *                              appends to a new memfd
 *   dcfs_pin_range_4k          ns per page of dc_dcfs_pin + dc_dcfs_unpin of
 *                              1 MiB (256 pages) of a faulted file; anchor:
 *                              io_uring_register_buffers + unregister of one
 *                              iovec over 256 pre-faulted shared memfd pages
 *   dcfs_truncate_1g           ns per 4 KiB page of dc_dcfs_truncate to 0 of
 *                              a 1 GiB file written and write-faulted page by
 *                              page, no pins (512 MiB if MemAvailable is under
 *                              3 GiB: the note says the size used); anchor:
 *                              fallocate(PUNCH_HOLE | KEEP_SIZE) of a
 *                              populated, mapped memfd of the same size
 *   dcfs_break_layouts_wakeup  us from the last dc_dcfs_unpin to the return
 *                              of a dc_dcfs_truncate that was asleep waiting
 *                              for that pin (median of 200); no anchor
 *   dcfs_reflink_1g            ns per 4 KiB page of dc_dcfs_reflink of a whole
 *                              1 GiB file (written with 2 MiB pwrites: 2 MiB
 *                              aligned extents; read-faulted at order 9 before
 *                              each round) into a new empty file; best of 5,
 *                              a new destination each round (the source not
 *                              faulted: in the note; 512 MiB if MemAvailable
 *                              is under 3 GiB: the note says); the 2 MiB
 *                              writes go in a scattered order, so the file is
 *                              512 extent records, not one merged run;
 *                              anchor: copy_file_range(2) of the same bytes
 *                              (the file's blocks in the region's memfd, run
 *                              by run) into a new memfd, best of 2
 *   dcfs_cow_fault_4k          ns per write fault (order 0) of a page of a
 *                              reflinked copy of a 64 MiB file, each copying
 *                              its shared 4 KiB block (statfs cow_copies must
 *                              rise by one per fault); mem: region of 4 KiB
 *                              folios; blocks reused (the copies of the
 *                              previous round, dropped), fresh in the note;
 *                              anchor: the kernel's first-touch write fault of
 *                              a MAP_PRIVATE mapping of a populated memfd (a
 *                              copy-on-write fault)
 *   dcfs_memory_failure_us     us from dc_folio_memory_failure() of one block
 *                              shared by 8 files (one file reflinked into 7,
 *                              each read-faulted) until the call has returned
 *                              and the mount's event callback has seen the 8
 *                              DC_DCFS_EV_MEMORY_FAILURE reports (checked: the
 *                              8 files, offset 0, the device page); a new
 *                              block each run, median of 200; unfaulted
 *                              sharers in the note; no anchor
 *
 * Timed figures alternate rounds between dcfs and its anchor and keep the
 * best round of each, so a noisy neighbour hurts both alike.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 5
#define PG 4096u
#define MIB (UINT64_C(1) << 20)

#define FAULT_PAGES  16384u  /* dcfs_fault_4k: 64 MiB */
#define FAULT2_HUGE  64u     /* dcfs_fault_2m: 64 x 2 MiB = 128 MiB */
#define RW_PAGES     1024u   /* dcfs_write/read_4k: a 4 MiB file (L3-resident) */
#define RW_PASSES    32u
#define APPEND_PAGES 8192u   /* dcfs_append_4k: 32 MiB */
#define PIN_PAGES    256u    /* dcfs_pin_range_4k: 1 MiB */
#define PIN_ITERS    2000u
#define PIN_ROUNDS   9       /* short rounds (about 20 ms): more of them */
#define WAKE_RUNS    200
#define REFLINK_ROUNDS 5     /* dcfs_reflink_1g: dcfs rounds (cheap), 2 more unfaulted ... */
#define REFLINK_ANCHOR 2     /* ... and copy_file_range rounds (1 GiB each: ~1 s) */
#define COW_PAGES    16384u  /* dcfs_cow_fault_4k: 64 MiB */
#define MF_SHARERS   8       /* dcfs_memory_failure_us */
#define MF_RUNS      300     /* of which 200 with faulted sharers */

static double min_d(double a, double b)
{
	return a < b ? a : b;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void fail(const char *fig, const char *what, int err)
{
	fprintf(stderr, "bench_dcfs: %s: %s: %s (%s); figure skipped\n", fig, what,
		dc_strerror(err), dc_errmsg());
}

static void sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000u, (long)(us % 1000000u) * 1000 };

	nanosleep(&ts, NULL);
}

/* ---- a mounted region ------------------------------------------------------ */

struct bfs {
	struct dc_region *r;
	struct dc_dcfs *fs;
};

/* Create region @spec and mount it with @ops; 0 or the error (nothing left behind). */
static int bfs_mount_ops(struct bfs *b, const char *spec, const struct dc_dcfs_ops *ops,
			 void *arg)
{
	int ret;

	b->r = NULL;
	b->fs = NULL;
	ret = dc_region_create(spec, &b->r);
	if (ret)
		return ret;
	ret = dc_dcfs_mount(b->r, NULL, ops, arg, &b->fs);
	if (ret) {
		dc_region_remove(b->r, NULL);
		b->r = NULL;
	}
	return ret;
}

static int bfs_mount(struct bfs *b, const char *spec)
{
	return bfs_mount_ops(b, spec, NULL, NULL);
}

static void bfs_unmount(struct bfs *b)
{
	int ret;

	if (b->fs) {
		ret = dc_dcfs_unmount(b->fs, NULL);
		if (ret) {
			/* Removing the region now would wait for the holder: leak it. */
			fprintf(stderr, "bench_dcfs: unmount: %s (%s)\n", dc_strerror(ret),
				dc_errmsg());
			return;
		}
		b->fs = NULL;
	}
	if (b->r) {
		ret = dc_region_remove(b->r, NULL);
		if (ret)
			fprintf(stderr, "bench_dcfs: region remove: %s (%s)\n", dc_strerror(ret),
				dc_errmsg());
		b->r = NULL;
	}
}

/* Create @name, sized @size (a hole); a descriptor or an error. */
static int new_file(struct dc_dcfs *fs, const char *name, uint64_t size)
{
	int fd = dc_dcfs_create(fs, name), ret;

	if (fd < 0 || !size)
		return fd;
	ret = dc_dcfs_truncate(fs, fd, size, NULL);
	if (ret) {
		dc_dcfs_close(fs, fd);
		dc_dcfs_unlink(fs, name);
		return ret;
	}
	return fd;
}

/* Close and unlink: an idle unlinked file is evicted, its blocks freed. */
static int drop_file(struct dc_dcfs *fs, int fd, const char *name)
{
	int ret = dc_dcfs_close(fs, fd);
	int ret2 = dc_dcfs_unlink(fs, name);

	return ret ? ret : ret2;
}

/* pwrite @size bytes from offset 0 in @chunk pieces of @buf. */
static int write_all(struct dc_dcfs *fs, int fd, uint64_t size, const void *buf, size_t chunk)
{
	for (uint64_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
		int64_t got = dc_dcfs_pwrite(fs, fd, buf, n, off);

		if (got < 0)
			return (int)got;
		if ((size_t)got != n)
			return -ENOSPC;
	}
	return 0;
}

/* Fault pages [0, npages) in steps of 2^order with @flags; *@seen: the smallest order mapped. */
static int fault_range(struct dc_dcfs *fs, int fd, uint64_t npages, unsigned flags,
		       unsigned order, unsigned *seen)
{
	uint64_t step = UINT64_C(1) << order;

	for (uint64_t i = 0; i < npages; i += step) {
		struct dc_dcfs_fault_result res;
		int ret = dc_dcfs_fault(fs, fd, i, flags, order, &res);

		if (ret)
			return ret;
		if (seen && res.order < *seen)
			*seen = res.order;
	}
	return 0;
}

/* Write-fault pages [0, npages) in steps of 2^order; *@seen: the smallest order mapped. */
static int fault_all(struct dc_dcfs *fs, int fd, uint64_t npages, unsigned order,
		     unsigned *seen)
{
	return fault_range(fs, fd, npages, DC_DCFS_FAULT_WRITE, order, seen);
}

/* ---- kernel anchors --------------------------------------------------------- */

/* ---- dcfs_fault_4k, dcfs_fault_2m ---------------------------------------------- */

/*
 * One round: on a new mount of @spec, fault a new file of @npages page by
 * page (or 2 MiB by 2 MiB: @order) on fresh blocks, drop it, and fault a
 * second new file on the blocks the first one freed.  ns per 4 KiB page.
 */
static int fault_round(const char *spec, uint64_t npages, unsigned order, double *fresh,
		       double *reused, unsigned *seen, const char **what)
{
	struct bfs b;
	uint64_t t0;
	int fd, ret;

	*what = "mount";
	ret = bfs_mount(&b, spec);
	if (ret)
		return ret;
	*what = "create";
	fd = new_file(b.fs, "fresh", npages * PG);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	*what = "fault (fresh blocks)";
	t0 = bench_now_ns();
	ret = fault_all(b.fs, fd, npages, order, seen);
	*fresh = (double)(bench_now_ns() - t0) / (double)npages;
	if (ret) {
		drop_file(b.fs, fd, "fresh");
		goto out;
	}
	*what = "truncate to 0";
	ret = dc_dcfs_truncate(b.fs, fd, 0, NULL);
	if (ret) {
		drop_file(b.fs, fd, "fresh");
		goto out;
	}
	*what = "close + unlink";
	ret = drop_file(b.fs, fd, "fresh");
	if (ret)
		goto out;
	dc_quiesce();
	*what = "create";
	fd = new_file(b.fs, "reused", npages * PG);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	*what = "fault (reused blocks)";
	t0 = bench_now_ns();
	ret = fault_all(b.fs, fd, npages, order, seen);
	*reused = (double)(bench_now_ns() - t0) / (double)npages;
	if (ret) {
		drop_file(b.fs, fd, "reused");
		goto out;
	}
	*what = "close + unlink";
	ret = drop_file(b.fs, fd, "reused");
out:
	bfs_unmount(&b);
	return ret;
}

static void bench_fault(const char *name, bool huge2m)
{
	uint64_t npages = huge2m ? FAULT2_HUGE * 512 : FAULT_PAGES;
	unsigned order = huge2m ? 9 : 0, seen = order;
	double fresh = 1e30, reused = 1e30, anchor = 1e30;
	char spec[64], note[256], text[200];
	const char *what;
	int ret;

	/* Slack of 2 MiB: the reused file gets at least all but 2 MiB of its blocks back. */
	snprintf(spec, sizeof(spec), "mem:%lluM%s",
		 (unsigned long long)(npages * PG / MIB + 2), huge2m ? ",order=9" : "");
	if (huge2m) {
		struct dc_region *r;

		if (dc_region_create(spec, &r)) {
			snprintf(spec, sizeof(spec), "mem:%lluM,huge",
				 (unsigned long long)(npages * PG / MIB + 2));
			if (dc_region_create(spec, &r)) {
				fprintf(stderr, "bench_dcfs: %s skipped: neither mem:...,order=9 nor "
					"mem:...,huge can be created (%s)\n", name, dc_errmsg());
				return;
			}
		}
		dc_region_remove(r, NULL);
	}
	bench_anchor_first_touch(1024); /* warm-up */
	for (int k = 0; k < ROUNDS; k++) {
		double f = 0, u = 0;

		ret = fault_round(spec, npages, order, &f, &u, &seen, &what);
		if (ret) {
			fail(name, what, ret);
			return;
		}
		fresh = min_d(fresh, f);
		reused = min_d(reused, u);
		anchor = min_d(anchor, bench_anchor_first_touch(FAULT_PAGES));
	}
	snprintf(text, sizeof(text), "kernel first-touch write fault of a new shared memfd "
		 "page, %u pages, per page", FAULT_PAGES);
	snprintf(note, sizeof(note), "%s, %llu MiB file; value: blocks reused after a truncate; "
		 "fresh blocks (never-touched memfd pages, zeroing takes a kernel fault): "
		 "%.1f ns (ratio %.3f)%s", spec, (unsigned long long)(npages * PG / MIB), fresh,
		 anchor > 0 ? fresh / anchor : 0,
		 seen < order ? "; some faults mapped less than 2 MiB" : "");
	bench_report_note(name, "ns/4KiB", reused, text, anchor < 1e30 ? anchor : 0, note);
}

/* ---- dcfs_write_4k, dcfs_read_4k -------------------------------------------------- */

static double dcfs_rw_round(struct dc_dcfs *fs, int fd, char *buf, bool wr, int *err)
{
	uint64_t t0 = bench_now_ns();

	for (unsigned p = 0; p < RW_PASSES; p++)
		for (unsigned i = 0; i < RW_PAGES; i++) {
			int64_t got = wr ? dc_dcfs_pwrite(fs, fd, buf, PG, (uint64_t)i * PG)
				: dc_dcfs_pread(fs, fd, buf, PG, (uint64_t)i * PG);

			if (got != PG) {
				*err = got < 0 ? (int)got : -EIO;
				return -1;
			}
		}
	bench_keep(buf[0]);
	return (double)(bench_now_ns() - t0) / ((double)RW_PASSES * RW_PAGES);
}

static double tmpfs_rw_round(int fd, char *buf, bool wr)
{
	uint64_t t0 = bench_now_ns();

	for (unsigned p = 0; p < RW_PASSES; p++)
		for (unsigned i = 0; i < RW_PAGES; i++) {
			ssize_t got = wr ? pwrite(fd, buf, PG, (off_t)i * PG)
				: pread(fd, buf, PG, (off_t)i * PG);

			if (got != PG)
				return -1;
		}
	bench_keep(buf[0]);
	return (double)(bench_now_ns() - t0) / ((double)RW_PASSES * RW_PAGES);
}

static void bench_rw(bool wr, bool rd)
{
	const uint64_t size = (uint64_t)RW_PAGES * PG;
	double v[2] = { 1e30, 1e30 }, a[2] = { 1e30, 1e30 };
	bool anchor_ok = true;
	struct bfs b;
	char *buf, spec[64];
	int fd, mfd = -1, ret, err = 0;

	if (!wr && !rd)
		return;
	buf = aligned_alloc(PG, MIB) /* page-aligned, as O_DIRECT buffers are */;
	if (!buf)
		return;
	memset(buf, 0x5a, MIB);
	snprintf(spec, sizeof(spec), "mem:%lluM", (unsigned long long)(size / MIB + 4));
	ret = bfs_mount(&b, spec);
	if (ret) {
		fail("dcfs_write_4k/dcfs_read_4k", "mount", ret);
		free(buf);
		return;
	}
	fd = new_file(b.fs, "rw", 0);
	ret = fd < 0 ? fd : write_all(b.fs, fd, size, buf, MIB);
	if (ret) {
		fail("dcfs_write_4k/dcfs_read_4k", "create + write the file", ret);
		goto out;
	}
	mfd = memfd_create("bench-rw", MFD_CLOEXEC);
	for (uint64_t off = 0; mfd >= 0 && off < size && anchor_ok; off += MIB)
		anchor_ok = pwrite(mfd, buf, MIB, (off_t)off) == (ssize_t)MIB;
	anchor_ok = anchor_ok && mfd >= 0;
	for (int k = 0; k < ROUNDS + 1; k++) { /* round 0: warm-up */
		for (int w = 0; w < 2; w++) {
			double x, y;

			if (!(w ? rd : wr))
				continue;
			x = dcfs_rw_round(b.fs, fd, buf, !w, &err);
			if (x < 0) {
				fail(w ? "dcfs_read_4k" : "dcfs_write_4k",
				     w ? "dc_dcfs_pread" : "dc_dcfs_pwrite", err);
				drop_file(b.fs, fd, "rw");
				goto out;
			}
			y = anchor_ok ? tmpfs_rw_round(mfd, buf, !w) : 0;
			anchor_ok = anchor_ok && y > 0;
			if (k) {
				v[w] = min_d(v[w], x);
				a[w] = min_d(a[w], y);
			}
		}
	}
	if (wr)
		bench_report("dcfs_write_4k", "ns", v[0],
			     "pwrite(2) of 4 KiB to a populated 4 MiB memfd (tmpfs), cycled",
			     anchor_ok ? a[0] : 0);
	if (rd)
		bench_report("dcfs_read_4k", "ns", v[1],
			     "pread(2) of 4 KiB from a populated 4 MiB memfd (tmpfs), cycled",
			     anchor_ok ? a[1] : 0);
	ret = drop_file(b.fs, fd, "rw");
	if (ret)
		fail("dcfs_write_4k/dcfs_read_4k", "close + unlink", ret);
out:
	if (mfd >= 0)
		close(mfd);
	bfs_unmount(&b);
	free(buf);
}

/* ---- dcfs_append_4k ------------------------------------------------------------- */

static int append_file(struct dc_dcfs *fs, const char *name, const char *buf, double *ns)
{
	int fd = new_file(fs, name, 0), ret = 0;
	uint64_t t0;

	if (fd < 0)
		return fd;
	t0 = bench_now_ns();
	for (unsigned i = 0; i < APPEND_PAGES; i++) {
		int64_t got = dc_dcfs_pwrite(fs, fd, buf, PG, (uint64_t)i * PG);

		if (got != PG) {
			ret = got < 0 ? (int)got : -ENOSPC;
			break;
		}
	}
	*ns = (double)(bench_now_ns() - t0) / APPEND_PAGES;
	if (ret) {
		drop_file(fs, fd, name);
		return ret;
	}
	return drop_file(fs, fd, name);
}

static double tmpfs_append(const char *buf)
{
	int fd = memfd_create("bench-append", MFD_CLOEXEC);
	uint64_t t0;
	double ns;

	if (fd < 0)
		return 0;
	t0 = bench_now_ns();
	for (unsigned i = 0; i < APPEND_PAGES; i++)
		if (pwrite(fd, buf, PG, (off_t)i * PG) != PG) {
			close(fd);
			return 0;
		}
	ns = (double)(bench_now_ns() - t0) / APPEND_PAGES;
	close(fd);
	return ns;
}

static void bench_append(void)
{
	double fresh = 1e30, reused = 1e30, anchor = 1e30;
	static _Alignas(4096) char buf[PG];
	char spec[64], note[256];
	bool anchor_ok = true;

	memset(buf, 0x33, sizeof(buf));
	snprintf(spec, sizeof(spec), "mem:%lluM",
		 (unsigned long long)((uint64_t)APPEND_PAGES * PG / MIB + 2));
	tmpfs_append(buf); /* warm-up */
	for (int k = 0; k < ROUNDS; k++) {
		struct bfs b;
		double f = 0, u = 0, y;
		int ret = bfs_mount(&b, spec);

		if (ret) {
			fail("dcfs_append_4k", "mount", ret);
			return;
		}
		ret = append_file(b.fs, "fresh", buf, &f);
		if (!ret) {
			dc_quiesce();
			ret = append_file(b.fs, "reused", buf, &u);
		}
		bfs_unmount(&b);
		if (ret) {
			fail("dcfs_append_4k", "append", ret);
			return;
		}
		fresh = min_d(fresh, f);
		reused = min_d(reused, u);
		y = anchor_ok ? tmpfs_append(buf) : 0;
		anchor_ok = anchor_ok && y > 0;
		anchor = min_d(anchor, y);
	}
	snprintf(note, sizeof(note), "%s, %u appends (%u MiB); value: blocks reused after an "
		 "unlink; fresh blocks (never-touched memfd pages): %.1f ns (ratio %.3f); "
		 "SplitFS (SOSP'19): 520 ns on Optane", spec, APPEND_PAGES,
		 APPEND_PAGES * PG / (unsigned)MIB, fresh, anchor_ok ? fresh / anchor : 0);
	bench_report_note("dcfs_append_4k", "ns", reused,
			  "4 KiB appends (pwrite at EOF) to a new memfd (tmpfs)",
			  anchor_ok ? anchor : 0, note);
}

/* ---- dcfs_pin_range_4k ------------------------------------------------------------ */

static double pin_round(struct dc_dcfs *fs, int fd, unsigned iters, unsigned *nsegs, int *err)
{
	uint64_t t0 = bench_now_ns();

	for (unsigned i = 0; i < iters; i++) {
		struct dc_dcfs_pinset ps;
		int ret = dc_dcfs_pin(fs, fd, 0, (uint64_t)PIN_PAGES * PG, 0, "bench", &ps);

		if (ret) {
			*err = ret;
			return -1;
		}
		*nsegs = ps.nsegs;
		ret = dc_dcfs_unpin(fs, &ps);
		if (ret) {
			*err = ret;
			return -1;
		}
	}
	return (double)(bench_now_ns() - t0) / ((double)iters * PIN_PAGES);
}

static void bench_pin_range(void)
{
	struct bench_uring a;
	struct dc_dcfs_statfs st;
	double v = 1e30, an = 1e30;
	unsigned nsegs = 0;
	struct bfs b;
	char *buf, note[128];
	int fd, ret, err = 0;

	ret = bfs_mount(&b, "mem:8M");
	if (ret) {
		fail("dcfs_pin_range_4k", "mount", ret);
		return;
	}
	buf = calloc(1, (size_t)PIN_PAGES * PG);
	fd = buf ? new_file(b.fs, "pin", 0) : -ENOMEM;
	ret = fd < 0 ? fd : write_all(b.fs, fd, (uint64_t)PIN_PAGES * PG, buf, (size_t)PIN_PAGES * PG);
	if (!ret)
		ret = fault_all(b.fs, fd, PIN_PAGES, 0, NULL);
	free(buf);
	if (ret) {
		fail("dcfs_pin_range_4k", "create, write and fault the file", ret);
		if (fd >= 0)
			drop_file(b.fs, fd, "pin");
		bfs_unmount(&b);
		return;
	}
	bench_uring_open(&a, PIN_PAGES);
	pin_round(b.fs, fd, PIN_ITERS / 4, &nsegs, &err); /* warm-up */
	if (a.ok)
		bench_uring_round(&a, 100);
	for (int k = 0; k < PIN_ROUNDS; k++) {
		double x = pin_round(b.fs, fd, PIN_ITERS, &nsegs, &err);

		if (x < 0) {
			fail("dcfs_pin_range_4k", "pin / unpin", err);
			goto out;
		}
		v = min_d(v, x);
		if (a.ok) {
			x = bench_uring_round(&a, 200);
			if (x < 0) {
				snprintf(a.why, sizeof(a.why), "io_uring anchor failed mid-run");
				a.ok = false;
			} else {
				an = min_d(an, x);
			}
		}
	}
	dc_dcfs_statfs(b.fs, &st);
	if (st.pins || st.pinned_pages)
		fprintf(stderr, "bench_dcfs: dcfs_pin_range_4k: %llu pins (%llu pages) held after "
			"the runs, expected none\n", (unsigned long long)st.pins,
			(unsigned long long)st.pinned_pages);
	snprintf(note, sizeof(note), "1 MiB pinned as %u segment%s", nsegs, nsegs == 1 ? "" : "s");
	bench_report_note("dcfs_pin_range_4k", "ns/page", v,
			  a.ok ? "kernel pin+unpin: io_uring_register_buffers + unregister, "
			  "256 x 4 KiB shared memfd pages, per page" : a.why, a.ok ? an : 0, note);
out:
	bench_uring_close(&a);
	drop_file(b.fs, fd, "pin");
	bfs_unmount(&b);
}

/* ---- dcfs_truncate_1g ---------------------------------------------------------------- */

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

static void bench_truncate(void)
{
	uint64_t avail = mem_available_mib();
	uint64_t size = avail && avail < 3072 ? 512 * MIB : 1024 * MIB;
	uint64_t npages = size / PG;
	double v = 1e30, an = 1e30, setup = 1e30;
	bool anchor_ok = true;
	char spec[64], text[160], note[200];
	struct bfs b;
	char *buf;
	int ret;

	buf = aligned_alloc(PG, MIB);
	if (!buf)
		return;
	memset(buf, 0x77, MIB);
	snprintf(spec, sizeof(spec), "mem:%lluM", (unsigned long long)(size / MIB + 4));
	ret = bfs_mount(&b, spec);
	if (ret) {
		fail("dcfs_truncate_1g", "mount", ret);
		free(buf);
		return;
	}
	for (int k = 0; k < 3; k++) {
		struct dc_dcfs_stat fst;
		uint64_t t0 = bench_now_ns(), t1;
		int fd = new_file(b.fs, "big", 0);
		double y;

		ret = fd < 0 ? fd : write_all(b.fs, fd, size, buf, MIB);
		if (!ret)
			ret = fault_all(b.fs, fd, npages, 0, NULL);
		if (ret) {
			fail("dcfs_truncate_1g", "create, write and fault the file", ret);
			if (fd >= 0)
				drop_file(b.fs, fd, "big");
			goto out;
		}
		t1 = bench_now_ns();
		setup = min_d(setup, (double)(t1 - t0) / 1e6);
		if (k == 0 && !dc_dcfs_fstat(b.fs, fd, &fst) && fst.entries != npages)
			fprintf(stderr, "bench_dcfs: dcfs_truncate_1g: %llu entries after faulting "
				"%llu pages\n", (unsigned long long)fst.entries,
				(unsigned long long)npages);
		t0 = bench_now_ns();
		ret = dc_dcfs_truncate(b.fs, fd, 0, NULL);
		t1 = bench_now_ns();
		if (ret) {
			fail("dcfs_truncate_1g", "truncate to 0", ret);
			drop_file(b.fs, fd, "big");
			goto out;
		}
		v = min_d(v, (double)(t1 - t0) / (double)npages);
		ret = drop_file(b.fs, fd, "big");
		if (ret) {
			fail("dcfs_truncate_1g", "close + unlink", ret);
			goto out;
		}
		dc_quiesce();
		y = anchor_ok ? bench_anchor_punch_hole(size / PG) : 0;
		anchor_ok = anchor_ok && y > 0;
		an = min_d(an, y);
	}
	snprintf(text, sizeof(text), "kernel fallocate(PUNCH_HOLE|KEEP_SIZE) of %llu MiB of "
		 "populated, mapped memfd, per page", (unsigned long long)(size / MIB));
	snprintf(note, sizeof(note), "size used: %llu MiB (%llu pages; MemAvailable %llu MiB); "
		 "write + fault set-up %.0f ms", (unsigned long long)(size / MIB),
		 (unsigned long long)npages, (unsigned long long)avail, setup);
	bench_report_note("dcfs_truncate_1g", "ns/4KiB", v, text, anchor_ok ? an : 0, note);
out:
	bfs_unmount(&b);
	free(buf);
}

/* ---- dcfs_break_layouts_wakeup ------------------------------------------------------------ */

struct waker {
	struct dc_dcfs *fs;
	int fd;
	int ret;
	_Atomic int done;
	uint64_t end_ns;
};

static void *truncate_thread(void *arg)
{
	struct waker *w = arg;

	w->ret = dc_dcfs_truncate(w->fs, w->fd, 0, NULL);
	w->end_ns = bench_now_ns();
	atomic_store(&w->done, 1);
	return NULL;
}

static void bench_wakeup(void)
{
	double lat[WAKE_RUNS];
	unsigned no_wait_count = 0;
	char note[200];
	struct bfs b;
	int fd, ret, n = 0;

	ret = bfs_mount(&b, "mem:8M");
	if (ret) {
		fail("dcfs_break_layouts_wakeup", "mount", ret);
		return;
	}
	fd = new_file(b.fs, "wake", 0);
	if (fd < 0) {
		fail("dcfs_break_layouts_wakeup", "create", fd);
		bfs_unmount(&b);
		return;
	}
	for (int run = 0; run < WAKE_RUNS; run++) {
		struct dc_dcfs_pinset ps;
		struct dc_dcfs_statfs st0, st1;
		struct waker w = { .fs = b.fs, .fd = fd };
		pthread_t th;
		uint64_t t0, spin_end;

		ret = dc_dcfs_truncate(b.fs, fd, 16 * PG, NULL);
		if (!ret)
			ret = dc_dcfs_pin(b.fs, fd, 0, 4 * PG, 0, "bench-wake", &ps);
		if (ret) {
			fail("dcfs_break_layouts_wakeup", "grow + pin", ret);
			goto out;
		}
		dc_dcfs_statfs(b.fs, &st0);
		if (pthread_create(&th, NULL, truncate_thread, &w)) {
			fprintf(stderr, "bench_dcfs: dcfs_break_layouts_wakeup: pthread_create "
				"failed; figure skipped\n");
			dc_dcfs_unpin(b.fs, &ps);
			goto out;
		}
		/* Until the truncate counts its break-layouts wait (1 s at most)... */
		spin_end = bench_now_ns() + 1000000000ull;
		do {
			sleep_us(20);
			dc_dcfs_statfs(b.fs, &st1);
		} while (st1.break_waits == st0.break_waits && !atomic_load(&w.done) &&
			 bench_now_ns() < spin_end);
		if (atomic_load(&w.done)) {
			fprintf(stderr, "bench_dcfs: dcfs_break_layouts_wakeup: the truncate returned "
				"%d (%s) while the range was pinned; figure skipped\n", w.ret,
				dc_errname(w.ret));
			pthread_join(th, NULL);
			dc_dcfs_unpin(b.fs, &ps);
			goto out;
		}
		if (st1.break_waits == st0.break_waits)
			no_wait_count++;
		sleep_us(2000); /* ...and then until it sleeps */
		t0 = bench_now_ns();
		ret = dc_dcfs_unpin(b.fs, &ps);
		pthread_join(th, NULL);
		if (ret || w.ret) {
			fail("dcfs_break_layouts_wakeup", ret ? "unpin" : "truncate", ret ? ret : w.ret);
			goto out;
		}
		lat[n++] = (double)(w.end_ns - t0) / 1000.0;
	}
	qsort(lat, (size_t)n, sizeof(lat[0]), cmp_d);
	snprintf(note, sizeof(note), "median of %d; min %.1f, p90 %.1f, max %.1f us; "
		 "target <= 50 us%s", n, lat[0], lat[n * 9 / 10], lat[n - 1],
		 no_wait_count ? "; statfs break_waits did not count some waits" : "");
	bench_report_note("dcfs_break_layouts_wakeup", "us", lat[n / 2],
			  "no anchor: last dc_dcfs_unpin to the return of a truncate asleep on it",
			  0, note);
out:
	drop_file(b.fs, fd, "wake");
	bfs_unmount(&b);
}

/* ---- dcfs_reflink_1g -------------------------------------------------------------------- */

/*
 * Walk @fd's extents over [0, @size) with iomap queries into @segs (where
 * each run's bytes are in the region: device page * 4 KiB, file offset,
 * length; at most @max): the number of runs, and in *@misaligned how many
 * are not 2 MiB aligned (device page or length); -1 on a hole, an error or
 * more than @max runs.
 */
static long file_runs(struct dc_dcfs *fs, int fd, uint64_t size, struct bench_copy_seg *segs,
		      long max, long *misaligned)
{
	long n = 0;

	*misaligned = 0;
	for (uint64_t off = 0; off < size; n++) {
		struct dc_dcfs_iomap m;

		if (n == max || dc_dcfs_iomap(fs, fd, off, size - off, 0, &m) ||
		    m.type == DC_DCFS_IOMAP_HOLE || !m.length || m.offset != off)
			return -1;
		if (m.pgoff % 512 || m.length % (2 * MIB))
			(*misaligned)++;
		segs[n] = (struct bench_copy_seg){ m.pgoff * PG, off, m.length };
		off += m.length;
	}
	return n;
}

/*
 * Write @size bytes (a multiple of 2 MiB) in 2 MiB pwrites, in the file
 * order 0, 257, 514, ... (mod the number of chunks): each gets a 2 MiB run
 * of the region, and no two runs adjacent in the file are adjacent on the
 * device, so the file is that many 2 MiB extents, not one merged record.
 */
static int write_2m_scattered(struct dc_dcfs *fs, int fd, uint64_t size, const char *buf)
{
	uint64_t n = size / (2 * MIB);

	for (uint64_t i = 0; i < n; i++) {
		uint64_t off = (i * 257 % n) * 2 * MIB;
		int64_t got = dc_dcfs_pwrite(fs, fd, buf, 2 * MIB, off);

		if (got < 0)
			return (int)got;
		if (got != (int64_t)(2 * MIB))
			return -ENOSPC;
	}
	return 0;
}

#define REFLINK_MAX_RUNS 1024

static void bench_reflink(void)
{
	static struct bench_copy_seg segs[REFLINK_MAX_RUNS];
	uint64_t avail = mem_available_mib();
	/* the region's 1 GiB and the anchor's copy */
	uint64_t size = avail && avail < 3072 ? 512 * MIB : 1024 * MIB;
	uint64_t npages = size / PG, entries_before = 0, entries_after = 0, extents = 0;
	double v = 1e30, an = 1e30, drop_ms = 1e30, setup_ms, unfaulted = 1e30;
	unsigned seen = 9;
	long nruns, misaligned = 0;
	int src = -1, msrc, ret, anchor_err = 0;
	char spec[64], text[200], note[480], why[120] = "";
	struct dc_dcfs_stat fst;
	struct bfs b;
	uint64_t t0;
	char *buf;

	buf = aligned_alloc(PG, 2 * MIB);
	if (!buf)
		return;
	memset(buf, 0x42, 2 * MIB);
	snprintf(spec, sizeof(spec), "mem:%lluM", (unsigned long long)(size / MIB + 64));
	ret = bfs_mount(&b, spec);
	if (ret) {
		fail("dcfs_reflink_1g", "mount", ret);
		free(buf);
		return;
	}
	t0 = bench_now_ns();
	src = new_file(b.fs, "rl-src", 0);
	ret = src < 0 ? src : write_2m_scattered(b.fs, src, size, buf);
	free(buf);
	if (ret) {
		fail("dcfs_reflink_1g", "create + write the source", ret);
		goto out;
	}
	setup_ms = (double)(bench_now_ns() - t0) / 1e6;
	nruns = file_runs(b.fs, src, size, segs, REFLINK_MAX_RUNS, &misaligned);
	if (nruns < 0) {
		fprintf(stderr, "bench_dcfs: dcfs_reflink_1g: the written source has a hole, more "
			"than %d extents, or an iomap query failed (%s); figure skipped\n",
			REFLINK_MAX_RUNS, dc_errmsg());
		goto out;
	}
	/*
	 * The anchor copies the same bytes: the source file's blocks in the
	 * region's memfd (populated: the file was written), run by run, into
	 * a new memfd.
	 */
	msrc = dc_region_fd(b.r);
	if (msrc < 0)
		snprintf(why, sizeof(why), "copy_file_range anchor unavailable: no region fd");
	/* Rounds REFLINK_ROUNDS and on: the source not faulted again (a split, in the note). */
	for (int k = 0; k < REFLINK_ROUNDS + 2; k++) {
		bool faulted = k < REFLINK_ROUNDS;
		struct dc_dcfs_stat dst_st;
		uint64_t t1;
		int dst;

		/* The source faulted again (for read, order 9): a reflink may zap it. */
		ret = faulted ? fault_range(b.fs, src, npages, 0, 9, &seen) : 0;
		if (!ret)
			ret = dc_dcfs_fstat(b.fs, src, &fst);
		if (ret) {
			fail("dcfs_reflink_1g", "read-fault the source", ret);
			goto out;
		}
		if (!k) {
			entries_before = fst.entries;
			extents = fst.extents;
		}
		dst = new_file(b.fs, "rl-dst", 0);
		if (dst < 0) {
			fail("dcfs_reflink_1g", "create the destination", dst);
			goto out;
		}
		t0 = bench_now_ns();
		ret = dc_dcfs_reflink(b.fs, src, 0, dst, 0, size, NULL);
		t1 = bench_now_ns();
		if (ret) {
			fail("dcfs_reflink_1g", "dc_dcfs_reflink", ret);
			drop_file(b.fs, dst, "rl-dst");
			goto out;
		}
		if (faulted)
			v = min_d(v, (double)(t1 - t0) / (double)npages);
		else
			unfaulted = min_d(unfaulted, (double)(t1 - t0) / (double)npages);
		if (!dc_dcfs_fstat(b.fs, dst, &dst_st) && (dst_st.size != size ||
							    dst_st.shared != npages))
			fprintf(stderr, "bench_dcfs: dcfs_reflink_1g: the copy has size %llu and "
				"%llu shared pages, expected %llu and %llu\n",
				(unsigned long long)dst_st.size, (unsigned long long)dst_st.shared,
				(unsigned long long)size, (unsigned long long)npages);
		if (!k && !dc_dcfs_fstat(b.fs, src, &fst))
			entries_after = fst.entries;
		t0 = bench_now_ns();
		ret = drop_file(b.fs, dst, "rl-dst");
		drop_ms = min_d(drop_ms, (double)(bench_now_ns() - t0) / 1e6);
		if (ret) {
			fail("dcfs_reflink_1g", "close + unlink the copy", ret);
			goto out;
		}
		dc_quiesce();
		if (k < REFLINK_ANCHOR && msrc >= 0) {
			double y = bench_anchor_copy_file_range(msrc, segs, (unsigned)nruns, npages,
								&anchor_err);

			if (y > 0) {
				an = min_d(an, y);
			} else {
				snprintf(why, sizeof(why), "copy_file_range anchor unavailable: %s",
					 strerror(anchor_err));
				msrc = -1;
			}
		}
	}
	snprintf(text, sizeof(text), "kernel copy_file_range(2) of the same %llu MiB (the "
		 "file's blocks in the region's memfd, populated) into a new memfd, per page",
		 (unsigned long long)(size / MIB));
	snprintf(note, sizeof(note), "%s, %llu MiB file (MemAvailable %llu MiB) of %llu extent "
		 "records, %ld runs (%ld not 2 MiB aligned), written in %.0f ms; source entries "
		 "before / after the first reflink %llu / %llu%s; the source not faulted: %.1f ns; "
		 "dropping the copy %.1f ms", spec, (unsigned long long)(size / MIB),
		 (unsigned long long)avail, (unsigned long long)extents, nruns, misaligned,
		 setup_ms, (unsigned long long)entries_before, (unsigned long long)entries_after,
		 seen < 9 ? " (some read faults mapped less than 2 MiB)" : "", unfaulted, drop_ms);
	bench_report_note("dcfs_reflink_1g", "ns/4KiB", v, msrc >= 0 ? text : why,
			  msrc >= 0 ? an : 0, note);
out:
	if (src >= 0)
		drop_file(b.fs, src, "rl-src");
	bfs_unmount(&b);
}

/* ---- dcfs_cow_fault_4k ---------------------------------------------------------------- */

/*
 * One round: reflink @src into a new file, write-fault each of its pages
 * once (timed), check that every fault copied a block, drop the copy.
 */
static int cow_round(struct dc_dcfs *fs, int src, double *ns, unsigned *odd, const char **what)
{
	struct dc_dcfs_statfs st0, st1;
	uint64_t t0, t1;
	int dst, ret;

	*what = "create the copy";
	dst = new_file(fs, "cow-dst", 0);
	if (dst < 0)
		return dst;
	*what = "dc_dcfs_reflink";
	ret = dc_dcfs_reflink(fs, src, 0, dst, 0, (uint64_t)COW_PAGES * PG, NULL);
	if (ret)
		goto drop;
	dc_dcfs_statfs(fs, &st0);
	*what = "write fault of the copy";
	t0 = bench_now_ns();
	for (unsigned i = 0; i < COW_PAGES; i++) {
		struct dc_dcfs_fault_result res;

		ret = dc_dcfs_fault(fs, dst, i, DC_DCFS_FAULT_WRITE, 0, &res);
		if (ret)
			goto drop;
		if (!res.writable || res.order)
			(*odd)++;
	}
	t1 = bench_now_ns();
	dc_dcfs_statfs(fs, &st1);
	if (st1.cow_copies - st0.cow_copies != COW_PAGES) {
		fprintf(stderr, "bench_dcfs: dcfs_cow_fault_4k: statfs cow_copies rose by %llu "
			"over %u write faults of shared blocks, expected %u; figure skipped\n",
			(unsigned long long)(st1.cow_copies - st0.cow_copies), COW_PAGES, COW_PAGES);
		drop_file(fs, dst, "cow-dst");
		*what = NULL;
		return -EUCLEAN;
	}
	*ns = (double)(t1 - t0) / COW_PAGES;
	*what = "close + unlink the copy";
	return drop_file(fs, dst, "cow-dst");
drop:
	drop_file(fs, dst, "cow-dst");
	return ret;
}

static void bench_cow_fault(void)
{
	double fresh = 0, reused = 1e30, an = 1e30;
	unsigned odd = 0;
	const char *what = "mount";
	char spec[64], text[160], note[300];
	struct bfs b;
	char *buf;
	int src = -1, ret;

	/* the source, its copies, 2 MiB of slack: a copy's blocks are the last copy's */
	snprintf(spec, sizeof(spec), "mem:%lluM",
		 (unsigned long long)(2 * (uint64_t)COW_PAGES * PG / MIB + 2));
	ret = bfs_mount(&b, spec);
	if (ret) {
		fail("dcfs_cow_fault_4k", "mount", ret);
		return;
	}
	buf = aligned_alloc(PG, MIB);
	if (!buf)
		goto out;
	memset(buf, 0x24, MIB);
	src = new_file(b.fs, "cow-src", 0);
	ret = src < 0 ? src : write_all(b.fs, src, (uint64_t)COW_PAGES * PG, buf, MIB);
	free(buf);
	if (ret) {
		fail("dcfs_cow_fault_4k", "create + write the source", ret);
		goto out;
	}
	bench_anchor_private_cow(1024); /* warm-up */
	for (int k = 0; k < ROUNDS + 1; k++) { /* round 0: fresh blocks */
		double x = 0;

		ret = cow_round(b.fs, src, &x, &odd, &what);
		if (ret) {
			if (what)
				fail("dcfs_cow_fault_4k", what, ret);
			goto out;
		}
		dc_quiesce();
		if (!k)
			fresh = x;
		else
			reused = min_d(reused, x);
		an = min_d(an, bench_anchor_private_cow(COW_PAGES));
	}
	if (odd)
		fprintf(stderr, "bench_dcfs: dcfs_cow_fault_4k: %u write faults mapped an entry "
			"not writable or not order 0\n", odd);
	snprintf(text, sizeof(text), "kernel first-touch write fault of a MAP_PRIVATE mapping "
		 "of a populated memfd (copy-on-write), %u pages, per page", COW_PAGES);
	snprintf(note, sizeof(note), "%s, %u MiB file; value: copies into blocks reused after "
		 "the previous copy was dropped; fresh blocks (never-touched memfd pages): %.1f ns "
		 "(ratio %.3f); statfs cow_copies rose by %u each round", spec,
		 COW_PAGES * PG / (unsigned)MIB, fresh, an > 0 && an < 1e30 ? fresh / an : 0,
		 COW_PAGES);
	bench_report_note("dcfs_cow_fault_4k", "ns", reused, text, an < 1e30 ? an : 0, note);
out:
	if (src >= 0)
		drop_file(b.fs, src, "cow-src");
	bfs_unmount(&b);
}

/* ---- dcfs_memory_failure_us ------------------------------------------------------------ */

struct mf_log {
	_Atomic unsigned n;      /* MEMORY_FAILURE events seen */
	_Atomic unsigned other;  /* events of another type */
	_Atomic uint64_t t_last; /* when the MF_SHARERS-th arrived */
	uint64_t ino[2 * MF_SHARERS], off[2 * MF_SHARERS], len[2 * MF_SHARERS];
	uint64_t pgoff[2 * MF_SHARERS];
};

static void mf_event(struct dc_dcfs *fs, const struct dc_dcfs_event *ev, void *arg)
{
	struct mf_log *l = arg;
	unsigned i;

	if (ev->type != DC_DCFS_EV_MEMORY_FAILURE) {
		atomic_fetch_add(&l->other, 1);
		return;
	}
	i = atomic_fetch_add(&l->n, 1);
	if (i < 2 * MF_SHARERS) {
		l->ino[i] = ev->ino;
		l->off[i] = ev->offset;
		l->len[i] = ev->length;
		l->pgoff[i] = ev->pgoff;
	}
	if (i + 1 == MF_SHARERS)
		atomic_store(&l->t_last, bench_now_ns());
}

/* The events of one run are exactly one per sharer, for that block; NULL or what is wrong. */
static const char *mf_verify(struct mf_log *l, const uint64_t *inos, uint64_t pgoff)
{
	bool seen[MF_SHARERS] = { false };
	unsigned n = atomic_load(&l->n);

	if (n != MF_SHARERS)
		return "not one event per sharer";
	for (unsigned i = 0; i < n; i++) {
		unsigned j;

		if (l->pgoff[i] != pgoff)
			return "an event names another device page";
		if (l->off[i] != 0 || l->len[i] < PG)
			return "an event names another file range";
		for (j = 0; j < MF_SHARERS && inos[j] != l->ino[i]; j++)
			;
		if (j == MF_SHARERS)
			return "an event names a file that does not share the block";
		if (seen[j])
			return "two events name the same file";
		seen[j] = true;
	}
	return NULL;
}

static void bench_memory_failure(void)
{
	static struct mf_log log;
	struct dc_dcfs_ops ops = { .event = mf_event };
	double lat[MF_RUNS], last[MF_RUNS], ret_us[MF_RUNS], cold[MF_RUNS];
	int nlat = 0, ncold = 0, ret = 0;
	unsigned stat_off = 0, eio_ok = 0, eio_checked = 0;
	static _Alignas(4096) char buf[PG];
	char note[400];
	struct bfs b;

	memset(buf, 0x5c, sizeof(buf));
	ret = bfs_mount_ops(&b, "mem:16M", &ops, &log);
	if (ret) {
		fail("dcfs_memory_failure_us", "mount", ret);
		return;
	}
	for (int run = 0; run < MF_RUNS; run++) {
		bool faulted = run % 3 != 2;
		int fd[MF_SHARERS];
		uint64_t inos[MF_SHARERS], t0, t1, t_end, t_last, deadline;
		char names[MF_SHARERS][32];
		struct dc_dcfs_statfs st0, st1;
		struct dc_dcfs_iomap m;
		struct dc_dcfs_block blk;
		const char *bad;
		int nf = 0, owners;

		for (; nf < MF_SHARERS; nf++) {
			struct dc_dcfs_stat fst = { 0 };

			snprintf(names[nf], sizeof(names[nf]), "mf-%d-%d", run, nf);
			fd[nf] = new_file(b.fs, names[nf], 0);
			if (fd[nf] < 0) {
				ret = fd[nf];
				break;
			}
			ret = nf ? dc_dcfs_reflink(b.fs, fd[0], 0, fd[nf], 0, PG, NULL)
				: (dc_dcfs_pwrite(b.fs, fd[0], buf, PG, 0) == PG ? 0 : -EIO);
			if (!ret)
				ret = dc_dcfs_fstat(b.fs, fd[nf], &fst);
			inos[nf] = fst.ino;
			if (ret) {
				nf++;
				break;
			}
		}
		if (ret) {
			fail("dcfs_memory_failure_us", "create and reflink the sharers", ret);
			goto drop;
		}
		for (int j = 0; faulted && j < MF_SHARERS; j++) {
			struct dc_dcfs_fault_result res;

			ret = dc_dcfs_fault(b.fs, fd[j], 0, 0, 0, &res);
			if (ret) {
				fail("dcfs_memory_failure_us", "read-fault the sharers", ret);
				goto drop;
			}
		}
		ret = dc_dcfs_iomap(b.fs, fd[0], 0, PG, 0, &m);
		if (ret || m.type != DC_DCFS_IOMAP_SHARED) {
			fprintf(stderr, "bench_dcfs: dcfs_memory_failure_us: iomap of the block: %s, "
				"type %d (expected SHARED); figure skipped\n",
				ret ? dc_strerror(ret) : "0", ret ? -1 : (int)m.type);
			ret = ret ? ret : -EUCLEAN;
			goto drop;
		}
		owners = dc_dcfs_rmap(b.fs, m.pgoff, &blk, NULL, 0);
		if (owners != MF_SHARERS) {
			fprintf(stderr, "bench_dcfs: dcfs_memory_failure_us: the reverse map has %d "
				"owners of the block, expected %d; figure skipped\n", owners,
				MF_SHARERS);
			ret = -EUCLEAN;
			goto drop;
		}
		dc_dcfs_statfs(b.fs, &st0);
		atomic_store(&log.n, 0);
		atomic_store(&log.t_last, 0);
		t0 = bench_now_ns();
		ret = dc_folio_memory_failure(b.r, m.pgoff, 1);
		t1 = bench_now_ns();
		if (ret) {
			fail("dcfs_memory_failure_us", "dc_folio_memory_failure", ret);
			goto drop;
		}
		/* Delivered after the call (by another thread)?  Wait for it, 1 s at most. */
		deadline = t1 + 1000000000ull;
		while (atomic_load(&log.n) < MF_SHARERS && bench_now_ns() < deadline)
			;
		t_last = atomic_load(&log.t_last);
		bad = mf_verify(&log, inos, m.pgoff);
		if (bad) {
			fprintf(stderr, "bench_dcfs: dcfs_memory_failure_us: %u MEMORY_FAILURE "
				"events for a block of %d sharers (%s); figure skipped\n",
				atomic_load(&log.n), MF_SHARERS, bad);
			ret = -EUCLEAN;
			goto drop;
		}
		t_end = t_last > t1 ? t_last : t1;
		if (faulted) {
			lat[nlat] = (double)(t_end - t0) / 1000.0;
			last[nlat] = (double)(t_last - t0) / 1000.0;
			ret_us[nlat++] = (double)(t1 - t0) / 1000.0;
		} else {
			cold[ncold++] = (double)(t_end - t0) / 1000.0;
		}
		dc_dcfs_statfs(b.fs, &st1);
		if (st1.memory_failures - st0.memory_failures != MF_SHARERS ||
		    st1.blocks_bad - st0.blocks_bad != 1)
			stat_off++;
		if (run < 8) { /* reads of the range fail now */
			eio_checked++;
			eio_ok += dc_dcfs_pread(b.fs, fd[run], buf, PG, 0) == -EIO;
		}
drop:
		for (int j = 0; j < nf; j++)
			if (fd[j] >= 0)
				drop_file(b.fs, fd[j], names[j]);
		if (ret)
			goto out;
	}
	qsort(lat, (size_t)nlat, sizeof(lat[0]), cmp_d);
	qsort(last, (size_t)nlat, sizeof(last[0]), cmp_d);
	qsort(ret_us, (size_t)nlat, sizeof(ret_us[0]), cmp_d);
	qsort(cold, (size_t)ncold, sizeof(cold[0]), cmp_d);
	snprintf(note, sizeof(note), "median of %d (sharers read-faulted); min %.1f, p90 %.1f, "
		 "max %.1f us; the 8th report alone %.1f us, the call's return %.1f us (medians); "
		 "sharers not faulted: median %.1f us of %d; target <= 50 us%s%s", nlat, lat[0],
		 lat[nlat * 9 / 10], lat[nlat - 1], last[nlat / 2], ret_us[nlat / 2],
		 cold[ncold / 2], ncold,
		 stat_off ? "; statfs memory_failures/blocks_bad did not count some" : "",
		 eio_ok != eio_checked ? "; a read of a poisoned range did not fail -EIO" : "");
	bench_report_note("dcfs_memory_failure_us", "us", lat[nlat / 2],
			  "no anchor: dc_folio_memory_failure of a block shared by 8 files until "
			  "the 8 reports were delivered", 0, note);
out:
	bfs_unmount(&b);
}

void bench_dcfs(void)
{
	bool f4 = bench_selected("dcfs_fault_4k");
	bool f2 = bench_selected("dcfs_fault_2m");
	bool wr = bench_selected("dcfs_write_4k");
	bool rd = bench_selected("dcfs_read_4k");
	bool ap = bench_selected("dcfs_append_4k");
	bool pr = bench_selected("dcfs_pin_range_4k");
	bool tr = bench_selected("dcfs_truncate_1g");
	bool wk = bench_selected("dcfs_break_layouts_wakeup");
	bool rl = bench_selected("dcfs_reflink_1g");
	bool cw = bench_selected("dcfs_cow_fault_4k");
	bool mf = bench_selected("dcfs_memory_failure_us");

	if (f4)
		bench_fault("dcfs_fault_4k", false);
	if (f2)
		bench_fault("dcfs_fault_2m", true);
	bench_rw(wr, rd);
	if (ap)
		bench_append();
	if (pr)
		bench_pin_range();
	if (tr)
		bench_truncate();
	if (wk)
		bench_wakeup();
	if (rl)
		bench_reflink();
	if (cw)
		bench_cow_fault();
	if (mf)
		bench_memory_failure();
	dc_quiesce();
}
