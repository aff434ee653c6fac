/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench.h - the benchmark program's shared pieces.  Each figure is printed
 * next to its anchor (a kernel or library baseline) measured in the same run.
 */
#ifndef DC_BENCH_H
#define DC_BENCH_H

#include <daxcore/daxcore.h>
#include <stdbool.h>
#include <stdint.h>
#include <liburing.h>
#include <sys/uio.h>

/* Whether figure @name was selected (--only); cheap, call before measuring. */
bool bench_selected(const char *name);

/*
 * Print one figure.  @anchor describes the baseline; @anchor_value 0 means
 * "no numeric anchor" (ratio printed as null).
 */
void bench_report(const char *name, const char *unit, double value,
		  const char *anchor, double anchor_value);

/*
 * The same with a note (NULL: none): a remark on how the figure was
 * measured (a variant's value, a size used instead of the name's).  Text:
 * an indented line after the figure; --json: a "note" field.
 */
void bench_report_note(const char *name, const char *unit, double value,
		       const char *anchor, double anchor_value, const char *note);

/* Monotonic nanoseconds. */
uint64_t bench_now_ns(void);

/* Resident set size of this process in KiB (from /proc/self/statm). */
uint64_t bench_rss_kib(void);

/* Prevent the compiler from optimising a value away. */
#define bench_keep(x) __asm__ volatile("" : : "r"(x) : "memory")

/*
 * Kernel anchors on a fresh shared memfd of @n pages (bench_anchor.c): ns
 * per page of a first-touch write fault, and of fallocate(PUNCH_HOLE) over
 * the populated, mapped pages; 0 if the kernel refused.
 */
double bench_anchor_first_touch(uint64_t n);
double bench_anchor_punch_hole(uint64_t n);

/*
 * Copy anchors (bench_anchor.c).  bench_memfd_populated(): a new memfd of
 * @n pages, all written (-1 if that failed).  bench_anchor_private_cow():
 * ns per page of the first-touch write fault of a MAP_PRIVATE mapping of a
 * fresh populated memfd of @n pages (the kernel's copy-on-write fault: a new
 * anonymous page, the file page copied into it); 0 if the kernel refused.
 * bench_anchor_copy_file_range(): ns per page, for @n pages in all, of
 * copy_file_range(2) of @src's byte ranges @segs into a new memfd (the
 * copy a user pays without reflink); 0 with *@err an errno if the kernel
 * refused.
 */
struct bench_copy_seg {
	uint64_t src_off, dst_off, len; /* bytes */
};

int bench_memfd_populated(uint64_t n);
double bench_anchor_private_cow(uint64_t n);
double bench_anchor_copy_file_range(int src, const struct bench_copy_seg *segs, unsigned nsegs,
				    uint64_t n, int *err);

/*
 * View anchors (bench_anchor.c), on a populated memfd @fd of @n pages
 * (bench_memfd_populated()): bench_anchor_first_touch_populated(): ns per
 * page of the first-touch write fault of a fresh MAP_SHARED mapping of it
 * (one store per page: pages the memfd has, no PTE yet);
 * bench_anchor_munmap_populated(): ns per page of munmap of such a
 * mapping with every page write-touched first.  0 if the kernel refused.
 */
double bench_anchor_first_touch_populated(int fd, uint64_t n);
double bench_anchor_munmap_populated(int fd, uint64_t n);

/*
 * The kernel pin + unpin anchor (bench_anchor.c): register + unregister of
 * @pages pre-faulted shared memfd pages as one io_uring buffer.  @ok false:
 * unavailable, @why says why.
 */
struct bench_uring {
	struct io_uring ring;
	struct iovec iov;
	void *map;
	int fd;
	unsigned pages;
	bool ring_ok, ok; /* ring set up; anchor usable */
	char why[160];
};

void bench_uring_open(struct bench_uring *a, unsigned pages);
void bench_uring_close(struct bench_uring *a);
/* ns per page of @iters register + unregister rounds; < 0 if one failed. */
double bench_uring_round(struct bench_uring *a, unsigned iters);

/* Groups, one per file in bench/. */
void bench_folio(void);   /* bench_folio.c: liveref, pins, requests, regions */
void bench_index(void);   /* bench_index.c: the mapping index vs JudyL */
void bench_mapping(void); /* bench_mapping.c: entry operations */
void bench_dcfs(void);    /* bench_dcfs.c: dcfs faults, I/O, pins, truncate */
void bench_view(void);    /* bench_view.c: views: faults, revocation */
void bench_devdax(void);  /* bench_devdax.c: device-dax faults and pins */
void bench_torture(void); /* bench_torture.c: daxcore torture's operations per second */

#endif
