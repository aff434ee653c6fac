// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * bench_uring.c - the kernel's pin + unpin, as the anchor of the pin
 * figures: io_uring_register_buffers + io_uring_unregister_buffers of one
 * iovec over N pre-faulted pages of a shared memfd (the kernel pins each
 * page, then unpins it).
 */
#include "bench.h"

#include <errno.h>
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
