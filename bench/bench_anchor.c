// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench_anchor.c - kernel anchors that several figures use: first-touch
 * write faults and hole punching of a shared memfd, and the kernel's pin +
 * unpin (io_uring_register_buffers + io_uring_unregister_buffers of one
 * iovec over pre-faulted pages of a shared memfd: the kernel pins each
 * page, then unpins it); and the copies a user pays without sharing: a
 * copy-on-write fault of a MAP_PRIVATE memfd page, and copy_file_range(2)
 * between two memfds; for views, the first-touch write fault of pages a
 * memfd already has, and munmap of a populated shared mapping.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

void bench_uring_open(struct bench_uring *a, unsigned pages)
{
	size_t len = (size_t)pages * 4096;
	int ret;

	memset(a, 0, sizeof(*a));
	a->pages = pages;
	a->map = MAP_FAILED;
	a->fd = memfd_create("bench-uring", MFD_CLOEXEC);
	if (a->fd < 0 || ftruncate(a->fd, (off_t)len)) {
		snprintf(a->why, sizeof(a->why), "io_uring anchor unavailable: memfd: %s",
			 strerror(errno));
		return;
	}
	a->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, a->fd, 0);
	if (a->map == MAP_FAILED) {
		snprintf(a->why, sizeof(a->why), "io_uring anchor unavailable: mmap: %s",
			 strerror(errno));
		return;
	}
	memset(a->map, 1, len); /* fault every page in: pin cost only */
	a->iov = (struct iovec){ a->map, len };
	ret = io_uring_queue_init(8, &a->ring, 0);
	if (ret < 0) {
		snprintf(a->why, sizeof(a->why), "io_uring anchor unavailable: "
			 "io_uring_queue_init: %s", strerror(-ret));
		return;
	}
	a->ring_ok = true;
	ret = io_uring_register_buffers(&a->ring, &a->iov, 1);
	if (ret < 0) {
		struct rlimit rl = { 0 };

		getrlimit(RLIMIT_MEMLOCK, &rl);
		snprintf(a->why, sizeof(a->why), "io_uring anchor unavailable: "
			 "io_uring_register_buffers: %s (RLIMIT_MEMLOCK %llu KiB)", strerror(-ret),
			 (unsigned long long)rl.rlim_cur >> 10);
		return;
	}
	io_uring_unregister_buffers(&a->ring);
	a->ok = true;
}

void bench_uring_close(struct bench_uring *a)
{
	if (a->ring_ok)
		io_uring_queue_exit(&a->ring);
	if (a->map != MAP_FAILED)
		munmap(a->map, (size_t)a->pages * 4096);
	if (a->fd >= 0)
		close(a->fd);
}

double bench_uring_round(struct bench_uring *a, unsigned iters)
{
	uint64_t t0 = bench_now_ns();

	for (unsigned i = 0; i < iters; i++) {
		if (io_uring_register_buffers(&a->ring, &a->iov, 1) < 0)
			return -1;
		io_uring_unregister_buffers(&a->ring);
	}
	return (double)(bench_now_ns() - t0) / ((double)iters * a->pages);
}

/* A fresh shared memfd of @n pages, mapped; NULL if that failed. */
static char *anchor_map(uint64_t n, int *fd)
{
	char *p;

	*fd = memfd_create("anchor", MFD_CLOEXEC);
	if (*fd < 0)
		return NULL;
	p = ftruncate(*fd, (off_t)(n * 4096)) ? MAP_FAILED
		: mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (p == MAP_FAILED) {
		close(*fd);
		return NULL;
	}
	return p;
}

static void anchor_unmap(char *p, uint64_t n, int fd)
{
	munmap(p, n * 4096);
	close(fd);
}

double bench_anchor_first_touch(uint64_t n)
{
	int fd;
	char *p = anchor_map(n, &fd);
	uint64_t t0, t1;

	if (!p)
		return 0;
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < n; i++)
		p[i * 4096] = 1;
	t1 = bench_now_ns();
	anchor_unmap(p, n, fd);
	return (double)(t1 - t0) / (double)n;
}

double bench_anchor_punch_hole(uint64_t n)
{
	int fd, ret;
	char *p = anchor_map(n, &fd);
	uint64_t t0, t1;

	if (!p)
		return 0;
	for (uint64_t i = 0; i < n; i++) /* populated, mapped writable, dirty */
		p[i * 4096] = 1;
	t0 = bench_now_ns();
	ret = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)(n * 4096));
	t1 = bench_now_ns();
	anchor_unmap(p, n, fd);
	return ret ? 0 : (double)(t1 - t0) / (double)n;
}

/* A new memfd of @n pages, every page written (in the page cache); -1 if that failed. */
int bench_memfd_populated(uint64_t n)
{
	static _Alignas(4096) char buf[1 << 20];
	int fd = memfd_create("anchor-populated", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	memset(buf, 0x6b, sizeof(buf));
	for (uint64_t off = 0; off < n * 4096; off += sizeof(buf)) {
		size_t len = n * 4096 - off < sizeof(buf) ? (size_t)(n * 4096 - off) : sizeof(buf);

		if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

double bench_anchor_private_cow(uint64_t n)
{
	int fd = bench_memfd_populated(n);
	uint64_t t0, t1;
	char *p;

	if (fd < 0)
		return 0;
	p = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return 0;
	}
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < n; i++)
		p[i * 4096] = 2; /* no PTE yet, page in the page cache: copy it (do_cow_fault) */
	t1 = bench_now_ns();
	munmap(p, n * 4096);
	close(fd);
	return (double)(t1 - t0) / (double)n;
}

double bench_anchor_copy_file_range(int src, const struct bench_copy_seg *segs, unsigned nsegs,
				    uint64_t n, int *err)
{
	int dst = memfd_create("anchor-copy", MFD_CLOEXEC);
	uint64_t t0, t1;

	*err = 0;
	if (dst < 0) {
		*err = errno;
		return 0;
	}
	t0 = bench_now_ns();
	for (unsigned i = 0; i < nsegs; i++)
		for (uint64_t done = 0; done < segs[i].len;) {
			loff_t in = (loff_t)(segs[i].src_off + done);
			loff_t out = (loff_t)(segs[i].dst_off + done);
			ssize_t got = copy_file_range(src, &in, dst, &out,
						      (size_t)(segs[i].len - done), 0);

			if (got <= 0) {
				*err = got < 0 ? errno : EIO;
				close(dst);
				return 0;
			}
			done += (uint64_t)got;
		}
	t1 = bench_now_ns();
	close(dst);
	return (double)(t1 - t0) / (double)n;
}

double bench_anchor_first_touch_populated(int fd, uint64_t n)
{
	volatile unsigned char *q;
	uint64_t t0, t1;
	char *p = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return 0;
	q = (volatile unsigned char *)p;
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < n; i++)
		q[i * 4096] = (unsigned char)i; /* no PTE yet, the page in the page cache */
	t1 = bench_now_ns();
	munmap(p, n * 4096);
	return (double)(t1 - t0) / (double)n;
}

double bench_anchor_munmap_populated(int fd, uint64_t n)
{
	volatile unsigned char *q;
	uint64_t t0, t1;
	char *p = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int ret;

	if (p == MAP_FAILED)
		return 0;
	q = (volatile unsigned char *)p;
	for (uint64_t i = 0; i < n; i++) /* every page mapped writable, dirty */
		q[i * 4096] = (unsigned char)(i + 1);
	t0 = bench_now_ns();
	ret = munmap(p, n * 4096);
	t1 = bench_now_ns();
	return ret ? 0 : (double)(t1 - t0) / (double)n;
}
