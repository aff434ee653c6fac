// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * test_view_revoke.c - the race between a view fault that is mapping a
 * window and a revoke of it, made deterministic: the library's test hook
 * runs between the owner's answers and the mapping, and there the case
 * truncates, punches, writes a hole or writes back the file.  The fault
 * must see that its window was taken and not map what it found
 * (regression switch 28 maps it anyway: these cases then fail).
 */
#include "dcfs_fixture.h"
#include <sys/mman.h>

extern void (*dc__test_view_fault_hook)(const void *view_addr) __attribute__((weak));

static int FD;
static void (*in_hook)(void);
static int hook_calls;

static void hook(const void *addr)
{
	(void)addr;
	if (hook_calls++ == 0 && in_hook)
		in_hook();
}

static void setup(void)
{
	R = NULL;
	FS = NULL;
	hook_calls = 0;
	in_hook = NULL;
	dc__fault_set(0);
}

static void teardown(void)
{
	if (&dc__test_view_fault_hook)
		dc__test_view_fault_hook = NULL;
	dcfs_teardown();
}

static void fill(int fd, uint64_t off, uint64_t len, int byte)
{
	static uint8_t buf[64 << 10];

	CHECK(len <= sizeof(buf));
	memset(buf, byte, len);
	CHECK_EQ(dc_dcfs_pwrite(FS, fd, buf, len, off), (int64_t)len);
}

static void start(const char *opts)
{
	if (!&dc__test_view_fault_hook)
		t_skip("the library has no view fault test hook");
	CHECK_EQ(dc_region_create("mem:16M", &R), 0);
	CHECK_EQ(dc_dcfs_mount(R, opts, NULL, NULL, &FS), 0);
	FD = dc_dcfs_create(FS, "a");
	CHECK(FD >= 0);
	dc__test_view_fault_hook = hook;
}

/* Truncate the file under the fault, and give its blocks to another file. */
static void truncate_and_reuse(void)
{
	int b = dc_dcfs_create(FS, "b");

	CHECK(b >= 0);
	CHECK_EQ(dc_dcfs_truncate(FS, FD, 0, NULL), 0);
	fill(b, 0, 64 << 10, 0xbb);
	CHECK_EQ(dc_dcfs_close(FS, b), 0);
}

TEST(truncate_during_fault_window)
{
	struct dc_view v;
	int ret;

	start(NULL);
	fill(FD, 0, 64 << 10, 0xaa);
	CHECK_EQ(dc_dcfs_map(FS, FD, 0, 64 << 10, DC_VIEW_READ | DC_VIEW_WRITE, &v), 0);
	in_hook = truncate_and_reuse;
	ret = dc_view_fault(&v, 0, PG, DC_VIEW_FAULT_WRITE);
	CHECK(hook_calls >= 1);
	/* The window was taken: the fault asks again and finds the end of file. */
	CHECK_EQ(ret, -EFAULT);
	if (ret == 0) /* with the bug: the view maps b's block */
		CHECK(((volatile uint8_t *)v.addr)[0] != 0xbb);
	CHECK_EQ(dc_view_unmap(&v), 0);
	CHECK_EQ(dc_dcfs_close(FS, FD), 0);
}

static void punch_first(void)
{
	CHECK_EQ(dc_dcfs_fallocate(FS, FD, DC_DCFS_FALLOC_PUNCH, 0, PG, NULL), 0);
	int b = dc_dcfs_create(FS, "b");

	CHECK(b >= 0);
	fill(b, 0, 64 << 10, 0xbb);
	CHECK_EQ(dc_dcfs_close(FS, b), 0);
}

TEST(punch_during_fault_window)
{
	struct dc_view v;

	start(NULL);
	fill(FD, 0, 64 << 10, 0xaa);
	CHECK_EQ(dc_dcfs_map(FS, FD, 0, 64 << 10, DC_VIEW_READ, &v), 0);
	in_hook = punch_first;
	CHECK_EQ(dc_view_fault(&v, 0, PG, 0), 0);
	CHECK(hook_calls >= 2); /* the window was asked for again */
	/* The punched page reads zeros, never the other file's bytes. */
	CHECK_EQ(((volatile uint8_t *)v.addr)[0], 0);
	CHECK_EQ(((volatile uint8_t *)v.addr)[PG], 0xaa);
	CHECK_EQ(dc_view_unmap(&v), 0);
	CHECK_EQ(dc_dcfs_close(FS, FD), 0);
}

static void write_the_hole(void)
{
	fill(FD, 0, PG, 0x5a);
}

/* generic/428 inside the window: the zero page is never left mapped over data. */
TEST(pwrite_of_hole_during_read_fault_window)
{
	struct dc_view v;

	start(NULL);
	CHECK_EQ(dc_dcfs_truncate(FS, FD, 64 << 10, NULL), 0);
	CHECK_EQ(dc_dcfs_map(FS, FD, 0, 64 << 10, DC_VIEW_READ, &v), 0);
	in_hook = write_the_hole;
	CHECK_EQ(dc_view_fault(&v, 0, PG, 0), 0);
	CHECK_EQ(((volatile uint8_t *)v.addr)[0], 0x5a);
	CHECK_EQ(((volatile uint8_t *)v.addr)[PG], 0);
	CHECK_EQ(dc_view_unmap(&v), 0);
	CHECK_EQ(dc_dcfs_close(FS, FD), 0);
}

static void writeback(void)
{
	CHECK_EQ(dc_dcfs_fsync(FS, FD, false), 0);
}

/*
 * Writeback while a write fault maps its window: the window must not end
 * up writable with its entries clean (a store would then be lost to the
 * next fsync).  After the fault the page is writable; a store, then fsync
 * again must flush: observed as the view being write-protected once more
 * (a further store faults: the fault count grows).
 */
TEST(writeback_during_write_fault_window)
{
	struct dc_view_stats a, b;
	struct dc_view v;

	start(NULL);
	fill(FD, 0, 64 << 10, 0xaa);
	CHECK_EQ(dc_dcfs_fsync(FS, FD, false), 0);
	CHECK_EQ(dc_dcfs_map(FS, FD, 0, 64 << 10, DC_VIEW_READ | DC_VIEW_WRITE, &v), 0);
	in_hook = writeback;
	CHECK_EQ(dc_view_fault(&v, 0, PG, DC_VIEW_FAULT_WRITE), 0);
	CHECK(hook_calls >= 2); /* writeback took the window: asked again */
	((volatile uint8_t *)v.addr)[0] = 0x77;
	CHECK_EQ(dc_dcfs_fsync(FS, FD, false), 0); /* cleans, write-protects */
	dc_view_stats(&a);
	CHECK_EQ(dc_view_fault(&v, 0, PG, DC_VIEW_FAULT_WRITE), 0);
	dc_view_stats(&b);
	CHECK(b.faults > a.faults); /* it was write-protected: the entry was dirty */
	CHECK_EQ(dc_view_unmap(&v), 0);
	CHECK_EQ(dc_dcfs_close(FS, FD), 0);
}

T_MAIN(setup, teardown)
