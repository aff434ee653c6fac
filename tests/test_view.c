/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_view - views (include/daxcore/view.h): real, revocable memory
 * mappings of dcfs files, one behaviour at a time.
 *
 * The scenarios of issue 9 section 3 are named after it:
 *   1 view_write_then_pread, pwrite_then_view_read, two_views_see_each_other
 *   2 truncate_under_view_sigbus
 *   3 punch_hole_under_view
 *   4 zero_page_then_pwrite_4k, zero_page_then_pwrite_2m_hole,
 *     zero_page_then_pwrite_order9 (xfstests generic/428)
 *   5 pin_user_then_truncate_waits
 *   6 reflink_cow_through_view (and reflink_into_mapped_destination)
 *   7 poison_under_view_sigbus, removal_with_views_mapped
 *   8 write_pin_through_readonly_view
 *  10 bad_input_map, view_too_large, bad_input_unmap, bad_input_fault_and_resolve,
 *     bad_input_pin_user, bad_input_vma_budget, unmount_with_view_mapped,
 *     map_after_shutdown
 * (9 is the concurrency test: test_conc_view.)  Beyond those: views that
 * outlive close and unlink, fallocate's other modes under a view, the
 * explicit fault call, the SIGSEGV handler (install, remove, chaining, a
 * store to a read-only view), SIGBUS that kills when it cannot be handled,
 * mkclean after fsync, the VMA budget (and a load then a store under its
 * minimum), faults raised inside a daxcore callback (-EDEADLK, and abort
 * in a child process), the fault_around= option, views of 2 MiB folios
 * and of hugetlb regions, pins of view addresses, the last unmap of an
 * unlinked pinned file, and a user's own owner through the owner-neutral
 * interface.
 *
 * Accesses go through the library's SIGSEGV handler (installed by the
 * fixture).  An access that must get SIGBUS is made under sigsetjmp(): the
 * test's SIGBUS handler records si_addr and si_code and siglongjmp()s back
 * (try_load(), try_store()); a SIGBUS anywhere else kills the program.
 * Counters are process-wide (dc_view_stats()): the cases run one at a
 * time in one thread, so their deltas are exact.
 *
 * The teardown (dcfs_fixture.h) checks that nothing is open, pinned,
 * shared or quarantined, every block is free again once every file is
 * unlinked, unmount succeeds and the region has no reference left; before
 * that it checks that the case left no view mapped and no VMA counted.
 * No case measures time: a wait that must happen is seen through
 * statfs.break_waits before the pin is let go.
 */
#include "dcfs_fixture.h"
#include "view_fixture.h"

#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define MB (1024ull * 1024ull)
#define RW (DC_VIEW_READ | DC_VIEW_WRITE)

/* The documented default VMA budget: 32768, or half of vm.max_map_count if that is less. */
static uint64_t default_budget(void)
{
	unsigned long long n = 0;
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");

	if (f) {
		if (fscanf(f, "%llu", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n && n / 2 < 32768 ? n / 2 : 32768;
}

/* ---- the fixture ------------------------------------------------------------ */

#define MAX_EV 16
struct ev_copy {
	enum dc_dcfs_event_type type;
	uint64_t ino, offset, length, pgoff;
	char op[24];
};
static struct ev_copy evs[MAX_EV];
static atomic_int nevs;
/* A case's own work inside ->event (after the event was recorded). */
static void (*ev_hook)(struct dc_dcfs *fs, const struct dc_dcfs_event *ev);

static void on_event(struct dc_dcfs *fs, const struct dc_dcfs_event *ev, void *arg)
{
	int i = atomic_fetch_add(&nevs, 1);

	CHECK(fs == FS);
	CHECK(arg == &nevs);
	if (i < MAX_EV) {
		evs[i].type = ev->type;
		evs[i].ino = ev->ino;
		evs[i].offset = ev->offset;
		evs[i].length = ev->length;
		evs[i].pgoff = ev->pgoff;
		snprintf(evs[i].op, sizeof(evs[i].op), "%s", ev->op ? ev->op : "(null)");
	}
	if (ev_hook)
		ev_hook(fs, ev);
}

static const struct dc_dcfs_ops ev_ops = { .event = on_event };

static void fx(const char *spec, const char *opts)
{
	CHECK_EQ(dc_region_create(spec, &R), 0);
	CHECK_EQ(dc_dcfs_mount(R, opts, &ev_ops, (void *)&nevs, &FS), 0);
	CHECK(dc_dcfs_region(FS) == R);
}

static int count_events(enum dc_dcfs_event_type type)
{
	int n = atomic_load(&nevs), c = 0;

	CHECK(n <= MAX_EV);
	for (int i = 0; i < n; i++)
		c += evs[i].type == type;
	return c;
}

/* View bytes [view, view + len) equal @want (plain loads: faults served by the handler). */
static void view_equals(const void *view, const uint8_t *want, size_t len, const char *what)
{
	const volatile uint8_t *v = view;

	if (!memcmp(view, want, len))
		return;
	for (size_t i = 0; i < len; i++)
		if (v[i] != want[i]) {
			fprintf(stderr, "[%s] %s: byte %zu is 0x%02x, expected 0x%02x\n", t_current,
				what, i, v[i], want[i]);
			CHECK(v[i] == want[i]);
		}
}

static bool view_all(const void *view, int c, size_t len)
{
	return all_bytes(view, c, len);
}

/* ---- setup, teardown, helpers -------------------------------------------------- */

static void setup(void)
{
	R = NULL;
	FS = NULL;
	atomic_store(&nevs, 0);
	memset(evs, 0, sizeof(evs));
	ev_hook = NULL;
	dc__fault_set(0);
	install_sigbus();
	CHECK_EQ(dc_view_handler_install(), 0);
}

static void teardown(void)
{
	struct dc_view_stats s = vst();

	if (s.views || s.vmas) {
		fprintf(stderr, "case %s left %llu views mapped (%llu VMAs counted)\n", t_current,
			(unsigned long long)s.views, (unsigned long long)s.vmas);
		exit(T_FAIL);
	}
	CHECK_EQ(dc_view_set_vma_budget(default_budget()), 0);
	ev_hook = NULL;
	if (FS)
		CHECK_EQ(sfs().views, 0);
	dcfs_teardown();
}

static uint8_t *VA(const struct dc_view *v, uint64_t off)
{
	CHECK(off < v->length);
	return (uint8_t *)v->addr + off;
}

/* Map a view of @fd that must succeed, and check what dc_dcfs_map() filled. */
static struct dc_view xmap(int fd, uint64_t off, uint64_t len, unsigned prot)
{
	struct dc_view v;
	int ret;

	memset(&v, 0xa5, sizeof(v));
	ret = dc_dcfs_map(FS, fd, off, len, prot, &v);
	if (ret)
		fprintf(stderr, "[%s] dc_dcfs_map(%d, %llu, %llu, %u): %d (%s)\n", t_current, fd,
			(unsigned long long)off, (unsigned long long)len, prot, ret, dc_errmsg());
	CHECK_EQ(ret, 0);
	CHECK(v.addr != NULL);
	CHECK_EQ((uintptr_t)v.addr & (PG - 1), 0);
	CHECK_EQ(v.offset, off);
	CHECK_EQ(v.length, len);
	CHECK_EQ(v.prot, prot);
	CHECK(v.id != 0);
	return v;
}

static bool in_view(const struct dc_view *v, const void *p)
{
	return (const uint8_t *)p >= (const uint8_t *)v->addr &&
	       (const uint8_t *)p < (const uint8_t *)v->addr + v->length;
}

static void xunmap(struct dc_view *v)
{
	CHECK_EQ(dc_view_unmap(v), 0);
	CHECK_EQ(v->id, 0);
}

static uint8_t *xmalloc(size_t n)
{
	uint8_t *p = malloc(n);

	CHECK(p);
	return p;
}

static uint64_t pg_of(int fd, uint64_t off)
{
	return dev_page(fd, off, NULL);
}

static enum dc_dcfs_iomap_type type_of(int fd, uint64_t off)
{
	enum dc_dcfs_iomap_type t;

	(void)dev_page(fd, off, &t);
	return t;
}

static void dma_write(const struct dc_dcfs_pinset *ps, int c)
{
	for (unsigned i = 0; i < ps->nsegs; i++)
		memset(ps->segs[i].addr, c, ps->segs[i].len);
}

static void check_segs(const struct dc_dcfs_pinset *ps, uint64_t off, uint64_t len)
{
	uint64_t sum = 0;

	CHECK(ps->id != 0);
	CHECK_EQ(ps->offset, off);
	CHECK_EQ(ps->length, len);
	CHECK(ps->nsegs >= 1);
	for (unsigned i = 0; i < ps->nsegs; i++)
		sum += ps->segs[i].len;
	CHECK_EQ(sum, len);
}

/* Wait (no time limit but the watchdog's) until a break-layouts wait past @w0 is seen. */
static void wait_for_break_wait(uint64_t w0)
{
	while (sfs().break_waits <= w0)
		sched_yield();
}

/* A truncate in a thread of its own. */
struct trunc_op {
	pthread_t t;
	int fd;
	uint64_t size;
	atomic_int done, ret;
};

static void *trunc_thread(void *arg)
{
	struct trunc_op *o = arg;

	atomic_store(&o->ret, dc_dcfs_truncate(FS, o->fd, o->size, NULL));
	atomic_store(&o->done, 1);
	return NULL;
}

static void trunc_start(struct trunc_op *o, int fd, uint64_t size)
{
	memset(o, 0, sizeof(*o));
	o->fd = fd;
	o->size = size;
	CHECK_EQ(pthread_create(&o->t, NULL, trunc_thread, o), 0);
}

/* Lines of /proc/self/maps: the kernel's VMAs of this process. */
static long count_maps(void)
{
	char buf[65536];
	long n = 0;
	ssize_t got;
	int fd = open("/proc/self/maps", O_RDONLY);

	CHECK(fd >= 0);
	while ((got = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < got; i++)
			n += buf[i] == '\n';
	CHECK_EQ(got, 0);
	close(fd);
	return n;
}

/* ---- 1: coherence of views, pread and pwrite ----------------------------------------- */

/* Issue 9, section 3, test 1: stores through a view, read back with pread. */
TEST(view_write_then_pread)
{
	enum { NPG = 16 };
	uint8_t *model = xmalloc(NPG * PG);
	struct dc_view_stats s0, s1;
	struct dc_view v;
	uint64_t f0;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("a");
	CHECK_EQ(dc_dcfs_truncate(FS, fd, NPG * PG, NULL), 0);
	s0 = vst();
	v = xmap(fd, 0, NPG * PG, RW);
	CHECK_EQ(sfs().views, 1);
	CHECK_EQ(vst().views, s0.views + 1);
	CHECK_EQ(vst().faults, s0.faults); /* nothing is mapped until it faults */
	f0 = sfs().faults;
	pattern(model, NPG * PG, 1);
	memcpy(v.addr, model, NPG * PG); /* stores into holes: the handler allocates */
	s1 = vst();
	CHECK(s1.signal_faults > s0.signal_faults);
	CHECK(s1.faults - s0.faults >= s1.signal_faults - s0.signal_faults);
	CHECK(s1.pages_mapped >= s0.pages_mapped + NPG);
	CHECK(sfs().faults > f0);
	CHECK_EQ(xstat(fd).blocks, NPG);
	check_contents(fd, model, NPG * PG);
	/* A few bytes across a page boundary. */
	memcpy(VA(&v, 5 * PG + 4090), "across", 6);
	memcpy(model + 5 * PG + 4090, "across", 6);
	check_contents(fd, model, NPG * PG);
	view_equals(v.addr, model, NPG * PG, "the view");
	check_fs();
	xunmap(&v);
	CHECK_EQ(sfs().views, 0);
	CHECK_EQ(vst().views, s0.views);
	check_contents(fd, model, NPG * PG); /* unmap keeps the data */
	xclose(fd);
	check_fs();
	free(model);
}

/* Issue 9, section 3, test 1: pwrite, read through a view; a view past EOF grows with the file. */
TEST(pwrite_then_view_read)
{
	enum { NPG = 16, NV = 32 };
	uint8_t *model = xmalloc(NPG * PG);
	struct dc_view v;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("a");
	pattern(model, NPG * PG, 2);
	xwrite(fd, model, NPG * PG, 0);
	v = xmap(fd, 0, NV * PG, DC_VIEW_READ);
	view_equals(v.addr, model, NPG * PG, "the view after pwrite");
	/* pwrite over pages the view maps: it sees the new data. */
	pattern(model + 4 * PG, 4 * PG, 3);
	xwrite(fd, model + 4 * PG, 4 * PG, 4 * PG);
	view_equals(v.addr, model, NPG * PG, "the view after a second pwrite");
	xwrite(fd, "xyz", 3, 9 * PG + 17);
	memcpy(model + 9 * PG + 17, "xyz", 3);
	view_equals(v.addr, model, NPG * PG, "the view after a small pwrite");
	/* Past EOF: SIGBUS until the file grows. */
	expect_sigbus(VA(&v, 20 * PG + 1), false);
	expect_sigbus(VA(&v, NPG * PG), false);
	xwrite_byte(fd, 0x5e, PG, 20 * PG);
	CHECK(view_all(VA(&v, 20 * PG), 0x5e, PG));
	CHECK(view_all(VA(&v, NPG * PG), 0, 4 * PG)); /* the new hole reads zeros */
	expect_sigbus(VA(&v, 21 * PG), false);
	expect_sigbus(VA(&v, NV * PG - 1), false);
	view_equals(v.addr, model, NPG * PG, "the view at the end");
	check_fs();
	xunmap(&v);
	xclose(fd);
	free(model);
}

/* Issue 9, section 3, test 1: two (three) views of one file see each other's stores. */
TEST(two_views_see_each_other)
{
	enum { NPG = 16 };
	uint8_t *model = xmalloc(NPG * PG);
	struct dc_view a, b, c;
	struct dc_view_ref ref;
	uint64_t views0 = vst().views;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("f");
	pattern(model, NPG * PG, 4);
	xwrite(fd, model, NPG * PG, 0);
	a = xmap(fd, 0, NPG * PG, RW);
	b = xmap(fd, 4 * PG, 8 * PG, RW);
	c = xmap(fd, 0, NPG * PG, DC_VIEW_READ);
	CHECK(a.id != b.id && b.id != c.id && a.id != c.id);
	CHECK(a.addr != b.addr && b.addr != c.addr && a.addr != c.addr);
	CHECK_EQ(sfs().views, 3);
	CHECK_EQ(vst().views, views0 + 3);
	view_equals(a.addr, model, NPG * PG, "view a");
	view_equals(b.addr, model + 4 * PG, 8 * PG, "view b");
	view_equals(c.addr, model, NPG * PG, "view c");
	/* A store through a (file page 5) is b's page 1 and c's page 5. */
	store_ok(VA(&a, 5 * PG + 33), 0xa1);
	expect_byte(VA(&b, PG + 33), 0xa1);
	expect_byte(VA(&c, 5 * PG + 33), 0xa1);
	/* A store through b (file page 6) is a's page 6. */
	store_ok(VA(&b, 2 * PG + 44), 0xb2);
	expect_byte(VA(&a, 6 * PG + 44), 0xb2);
	expect_byte(VA(&c, 6 * PG + 44), 0xb2);
	model[5 * PG + 33] = 0xa1;
	model[6 * PG + 44] = 0xb2;
	check_contents(fd, model, NPG * PG);
	/* Each view address resolves to one file, at its own offset. */
	CHECK_EQ(dc_view_resolve(VA(&b, PG + 7), 1, true, &ref), 0);
	CHECK_EQ(ref.offset, 5 * PG + 7);
	CHECK_EQ(ref.id, b.id);
	{
		struct dc_view_ref ra, rc;
		CHECK_EQ(dc_view_resolve(VA(&a, 5 * PG + 7), 1, true, &ra), 0);
		CHECK_EQ(dc_view_resolve(VA(&c, 5 * PG + 7), 1, false, &rc), 0);
		CHECK(ra.file == ref.file && rc.file == ref.file);
		CHECK(ra.ops == ref.ops && rc.ops == ref.ops && ref.ops != NULL);
		CHECK_EQ(ra.offset, 5 * PG + 7);
		CHECK_EQ(rc.offset, 5 * PG + 7);
		CHECK_EQ(ra.id, a.id);
		CHECK_EQ(rc.id, c.id);
		dc_view_resolve_put(&ra);
		dc_view_resolve_put(&rc);
	}
	dc_view_resolve_put(&ref);
	check_fs();
	xunmap(&b);
	view_equals(a.addr, model, NPG * PG, "view a after b went");
	CHECK_EQ(sfs().views, 2);
	xunmap(&a);
	xunmap(&c);
	CHECK_EQ(sfs().views, 0);
	xclose(fd);
	free(model);
}

/* A view holds its file as an mmap holds an inode: past close and unlink, until unmap. */
TEST(view_outlives_close)
{
	uint8_t model[4 * 4096];
	uint64_t free0;
	struct dc_view v;
	int fd;

	fx("mem:16M", NULL);
	free0 = sfs().blocks_free;
	fd = xcreate("a");
	pattern(model, sizeof(model), 5);
	xwrite(fd, model, sizeof(model), 0);
	v = xmap(fd, 0, sizeof(model), RW);
	xclose(fd);
	CHECK_EQ(sfs().open, 0);
	view_equals(v.addr, model, sizeof(model), "the view after close");
	store_ok(VA(&v, 2 * PG + 9), 0x3f);
	model[2 * PG + 9] = 0x3f;
	fd = xopen("a", DC_DCFS_RDONLY);
	check_contents(fd, model, sizeof(model));
	xclose(fd);
	/* Unlinked: the file lives on in the view. */
	CHECK_EQ(dc_dcfs_unlink(FS, "a"), 0);
	CHECK_EQ(sfs().files, 1);
	CHECK(sfs().blocks_free < free0);
	view_equals(v.addr, model, sizeof(model), "the view after unlink");
	store_ok(VA(&v, 3 * PG), 0x40);
	expect_byte(VA(&v, 3 * PG), 0x40);
	check_fs();
	/* The unmap drops the last reference: the file is evicted. */
	xunmap(&v);
	CHECK_EQ(sfs().files, 0);
	CHECK_EQ(sfs().blocks_free, free0);
	check_fs();
}

/* ---- 2: truncate under a view ------------------------------------------------------------ */

/*
 * Issue 9, section 3, test 2: after a truncate, an access beyond the new
 * end gets SIGBUS at its exact address; the pages below still work (the
 * partial last page too, its tail zeroed); a regrown file reads zeros there.
 */
TEST(truncate_under_view_sigbus)
{
	enum { NPG = 8, NV = 12 };
	uint8_t *model = xmalloc(NPG * PG);
	struct dc_view_stats s0;
	struct dc_view v;
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("t");
	pattern(model, NPG * PG, 6);
	xwrite(fd, model, NPG * PG, 0);
	v = xmap(fd, 0, NV * PG, RW);
	view_equals(v.addr, model, NPG * PG, "the view");
	for (int p = NPG; p < NV; p++) /* past EOF from the start */
		expect_sigbus(VA(&v, p * PG + 5), p & 1);
	s0 = vst();

	CHECK_EQ(dc_dcfs_truncate(FS, fd, 3 * PG + 100, NULL), 0);
	CHECK(vst().revokes > s0.revokes);
	view_equals(v.addr, model, 3 * PG + 100, "the pages below the new end");
	CHECK(view_all(VA(&v, 3 * PG + 100), 0, PG - 100)); /* the tail of the last page */
	for (int p = 4; p < NV; p++) {
		expect_sigbus(VA(&v, p * PG + 123), false);
		expect_sigbus(VA(&v, p * PG + 4095), true);
	}
	expect_sigbus(VA(&v, 4 * PG), false);
	CHECK_EQ(dc_view_fault(&v, 5 * PG, PG, 0), -EFAULT);
	CHECK_EQ(dc_view_fault(&v, 5 * PG, PG, DC_VIEW_FAULT_WRITE), -EFAULT);
	CHECK_EQ(fsize(fd), 3 * PG + 100); /* no store past EOF changed anything */
	store_ok(VA(&v, PG + 1), 0x71);
	model[PG + 1] = 0x71;
	check_fs();

	/* Regrown: the pages are holes now and read zeros; a store allocates. */
	CHECK_EQ(dc_dcfs_truncate(FS, fd, NPG * PG, NULL), 0);
	CHECK(view_all(VA(&v, 4 * PG), 0, 4 * PG));
	CHECK_EQ(xstat(fd).blocks, 4);
	store_ok(VA(&v, 6 * PG + 8), 0x66);
	CHECK_EQ(xstat(fd).blocks, 5);
	memset(model + 3 * PG + 100, 0, NPG * PG - 3 * PG - 100);
	model[6 * PG + 8] = 0x66;
	check_contents(fd, model, NPG * PG);
	view_equals(v.addr, model, NPG * PG, "the view after regrowth");
	expect_sigbus(VA(&v, NPG * PG), false);
	check_fs();
	xunmap(&v);
	xclose(fd);
	free(model);
}

/* ---- 3: punch a hole under a view ------------------------------------------------------- */

/* Issue 9, section 3, test 3: the next access refaults and reads zeros; a store allocates a new block. */
TEST(punch_hole_under_view)
{
	enum { NPG = 8 };
	uint8_t *model = xmalloc(NPG * PG);
	struct dc_view_stats s0, s1;
	uint64_t old2, free0, blocks0;
	struct dc_view v;
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("p");
	pattern(model, NPG * PG, 7);
	xwrite(fd, model, NPG * PG, 0);
	v = xmap(fd, 0, NPG * PG, RW);
	view_equals(v.addr, model, NPG * PG, "the view");
	for (int p = 0; p < NPG; p++) /* every page mapped writable */
		store_ok(VA(&v, p * PG), model[p * PG]);
	old2 = pg_of(fd, 2 * PG);
	free0 = sfs().blocks_free;
	blocks0 = xstat(fd).blocks;
	s0 = vst();

	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, 2 * PG, 2 * PG, NULL), 0);
	s1 = vst();
	CHECK(s1.revokes > s0.revokes);
	CHECK_EQ(sfs().blocks_free, free0 + 2);
	CHECK_EQ(type_of(fd, 2 * PG), DC_DCFS_IOMAP_HOLE);
	CHECK_EQ(type_of(fd, 3 * PG), DC_DCFS_IOMAP_HOLE);
	memset(model + 2 * PG, 0, 2 * PG);
	/* The next access refaults (the old block is no longer mapped) and reads zeros. */
	CHECK(view_all(VA(&v, 2 * PG), 0, 2 * PG));
	CHECK(vst().faults > s1.faults);
	view_equals(v.addr, model, NPG * PG, "the view after the punch");
	/* A store there allocates a new block, and only there. */
	store_ok(VA(&v, 2 * PG + 50), 0x5a);
	model[2 * PG + 50] = 0x5a;
	CHECK_EQ(type_of(fd, 2 * PG), DC_DCFS_IOMAP_MAPPED);
	CHECK_EQ(type_of(fd, 3 * PG), DC_DCFS_IOMAP_HOLE);
	CHECK_EQ(xstat(fd).blocks, blocks0 - 1);
	CHECK_EQ(sfs().blocks_free, free0 + 1);
	check_contents(fd, model, NPG * PG);
	view_equals(v.addr, model, NPG * PG, "the view after a store into the hole");
	if (pg_of(fd, 2 * PG) == old2)
		printf("note: the new block is the punched one again (device page %llu)\n",
		       (unsigned long long)old2);
	/* A partial punch zeroes bytes of a block that stays: the view sees the zeros. */
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, 5 * PG + 100, PG / 2, NULL), 0);
	memset(model + 5 * PG + 100, 0, PG / 2);
	view_equals(v.addr, model, NPG * PG, "the view after a partial punch");
	check_contents(fd, model, NPG * PG);
	check_fs();
	xunmap(&v);
	xclose(fd);
	free(model);
}

/* ---- 4: zero page, then pwrite (xfstests generic/428) ----------------------------------- */

/* Issue 9, section 3, test 4, 4 KiB holes: a read fault maps the zero page; pwrite; the view sees the data. */
TEST(zero_page_then_pwrite_4k)
{
	enum { NPG = 8 };
	uint8_t model[NPG * 4096];
	struct dc_view v, w;
	uint64_t blocks;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("z");
	CHECK_EQ(dc_dcfs_truncate(FS, fd, NPG * PG, NULL), 0);
	v = xmap(fd, 0, NPG * PG, DC_VIEW_READ);
	w = xmap(fd, 0, NPG * PG, RW);
	memset(model, 0, sizeof(model));
	for (int p = 0; p < NPG; p++) { /* every page a zero-page mapping, in both views */
		expect_byte(VA(&v, p * PG + 10), 0);
		expect_byte(VA(&w, p * PG + 10), 0);
	}
	CHECK_EQ(xstat(fd).blocks, 0);
	CHECK(xstat(fd).entries > 0);
	/* A few bytes into one hole. */
	xwrite(fd, "hello", 5, 3 * PG + 10);
	memcpy(model + 3 * PG + 10, "hello", 5);
	view_equals(v.addr, model, sizeof(model), "the read-only view after pwrite");
	view_equals(w.addr, model, sizeof(model), "the writable view after pwrite");
	/* A whole page into another. */
	memset(model + 5 * PG, 0x42, PG);
	xwrite(fd, model + 5 * PG, PG, 5 * PG);
	view_equals(v.addr, model, sizeof(model), "the read-only view after a page pwrite");
	view_equals(w.addr, model, sizeof(model), "the writable view after a page pwrite");
	/* An explicit read fault of a hole, then pwrite. */
	CHECK_EQ(dc_view_fault(&v, 6 * PG, PG, 0), 0);
	xwrite(fd, "late", 4, 6 * PG + 4000);
	memcpy(model + 6 * PG + 4000, "late", 4);
	view_equals(v.addr, model, sizeof(model), "the view after an explicit fault and pwrite");
	/* The writable view stores into the new block, not into a stale zero mapping. */
	store_ok(VA(&w, 3 * PG + 20), 0xee);
	model[3 * PG + 20] = 0xee;
	expect_byte(VA(&v, 3 * PG + 20), 0xee);
	blocks = xstat(fd).blocks;
	CHECK_EQ(blocks, 3);
	check_contents(fd, model, sizeof(model));
	CHECK(view_all(VA(&v, 0), 0, 3 * PG));
	check_fs(); /* a ZERO entry only over a hole */
	xunmap(&v);
	xunmap(&w);
	xclose(fd);
}

/* Issue 9, section 3, test 4, a 2 MiB hole on a 4 KiB region: a 2 MiB pwrite into zero-page mappings. */
TEST(zero_page_then_pwrite_2m_hole)
{
	uint8_t *model = xmalloc(2 * MB);
	struct dc_view v;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("z2");
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 8 * MB, NULL), 0);
	v = xmap(fd, 0, 8 * MB, DC_VIEW_READ);
	/* Read the whole hole at 2 MiB: sequential faults grow the window to 2 MiB. */
	CHECK(view_all(VA(&v, 2 * MB), 0, 2 * MB));
	CHECK(view_all(VA(&v, 6 * MB), 0, 2 * MB));
	CHECK_EQ(xstat(fd).blocks, 0);
	pattern(model, 2 * MB, 8);
	xwrite(fd, model, 2 * MB, 2 * MB);
	CHECK_EQ(xstat(fd).blocks, 512);
	view_equals(VA(&v, 2 * MB), model, 2 * MB, "the view of the 2 MiB hole after pwrite");
	CHECK(view_all(VA(&v, 0), 0, 2 * MB));
	CHECK(view_all(VA(&v, 4 * MB), 0, 4 * MB));
	/* A small pwrite into the other zero-mapped 2 MiB hole. */
	xwrite(fd, "tiny", 4, 6 * MB + 12345);
	expect_byte(VA(&v, 6 * MB + 12345), 't');
	expect_byte(VA(&v, 6 * MB + 12348), 'y');
	check_fs();
	xunmap(&v);
	xclose(fd);
	free(model);
}

/* Issue 9, section 3, test 4, on a region of 2 MiB folios (mem:...,order=9, no hugetlb needed). */
TEST(zero_page_then_pwrite_order9)
{
	struct dc_view v, w;
	uint8_t *model;
	int fd;

	if (dc_region_create("mem:64M,order=9", &R)) {
		R = NULL;
		t_skip("cannot create mem:64M,order=9");
	}
	model = xmalloc(2 * MB);
	CHECK_EQ(dc_dcfs_mount(R, NULL, &ev_ops, (void *)&nevs, &FS), 0);
	CHECK_EQ(sfs().block_size, 2 * MB);
	CHECK_EQ(dc_region_map_order(R), 0); /* a memfd of 4 KiB pages: no 2 MiB alignment needed */
	fd = xcreate("z9");
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 8 * MB, NULL), 0);
	v = xmap(fd, 0, 8 * MB, DC_VIEW_READ);
	w = xmap(fd, PG, 8 * MB - PG, RW); /* not 2 MiB aligned: fine on this region */
	expect_byte(VA(&v, 2 * MB + 5000), 0);
	expect_byte(VA(&v, 4 * MB + 7), 0);
	expect_byte(VA(&w, 4 * MB - PG + 7), 0);
	CHECK_EQ(xstat(fd).blocks, 0);
	/* A few bytes into a zero-mapped 2 MiB hole: one 2 MiB block, and the view sees it. */
	xwrite(fd, "data", 4, 2 * MB + 5000);
	CHECK_EQ(xstat(fd).blocks, 512);
	expect_byte(VA(&v, 2 * MB + 5000), 'd');
	expect_byte(VA(&v, 2 * MB + 5003), 'a');
	expect_byte(VA(&w, 2 * MB - PG + 5000), 'd');
	CHECK(view_all(VA(&v, 2 * MB), 0, 5000));
	/* A whole block. */
	pattern(model, 2 * MB, 9);
	xwrite(fd, model, 2 * MB, 4 * MB);
	view_equals(VA(&v, 4 * MB), model, 2 * MB, "the view of a 2 MiB block after pwrite");
	view_equals(VA(&w, 4 * MB - PG), model, 2 * MB, "the offset view of it");
	/* A store into a zero-mapped 2 MiB hole allocates one block; pread sees the store. */
	expect_byte(VA(&w, 6 * MB - PG + 99), 0);
	store_ok(VA(&w, 6 * MB - PG + 99), 0x99);
	CHECK_EQ(xstat(fd).blocks, 3 * 512);
	expect_byte(VA(&v, 6 * MB + 99), 0x99);
	{
		uint8_t b[4];

		CHECK_EQ(dc_dcfs_pread(FS, fd, b, 4, 6 * MB + 98), 4);
		CHECK(b[0] == 0 && b[1] == 0x99 && b[2] == 0 && b[3] == 0);
	}
	check_fs();
	xunmap(&v);
	xunmap(&w);
	xclose(fd);
	free(model);
}

/* Issue 9 section 1: on a region of 2 MiB folios a 2 MiB entry maps as one 2 MiB range. */
TEST(order9_maps_2m)
{
	struct dc_view_stats s0, s1;
	struct dc_view v;
	uint8_t *model;
	int fd;

	if (dc_region_create("mem:64M,order=9", &R)) {
		R = NULL;
		t_skip("cannot create mem:64M,order=9");
	}
	model = xmalloc(4 * MB);
	CHECK_EQ(dc_dcfs_mount(R, NULL, &ev_ops, (void *)&nevs, &FS), 0);
	fd = xcreate("big");
	pattern(model, 4 * MB, 10);
	xwrite(fd, model, 4 * MB, 0);
	v = xmap(fd, 0, 4 * MB, DC_VIEW_READ);
	s0 = vst();
	expect_byte(VA(&v, 100), model[100]);
	s1 = vst();
	CHECK_EQ(s1.pages_mapped - s0.pages_mapped, 512);
	CHECK_EQ(s1.signal_faults - s0.signal_faults, 1);
	expect_byte(VA(&v, 2 * MB + 100), model[2 * MB + 100]);
	CHECK_EQ(vst().pages_mapped - s1.pages_mapped, 512);
	view_equals(v.addr, model, 4 * MB, "the view");
	CHECK_EQ(vst().signal_faults - s0.signal_faults, 2); /* two faults mapped all of it */
	xunmap(&v);
	xclose(fd);
	free(model);
}

/* A hugetlb region maps in 2 MiB units: views 2 MiB aligned (skipped without huge pages). */
TEST(hugetlb_view_alignment)
{
	struct dc_view v;
	uint8_t *model;
	int fd;

	if (dc_region_create("mem:8M,huge", &R)) {
		R = NULL;
		t_skip("cannot create mem:8M,huge (no huge pages)");
	}
	model = xmalloc(2 * MB);
	CHECK_EQ(dc_dcfs_mount(R, NULL, &ev_ops, (void *)&nevs, &FS), 0);
	CHECK_EQ(dc_region_map_order(R), 9);
	fd = xcreate("h");
	pattern(model, 2 * MB, 11);
	xwrite(fd, model, 2 * MB, 0);
	CHECK_EQ(dc_dcfs_map(FS, fd, PG, 2 * MB, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, 0, PG, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, 0, 2 * MB + PG, DC_VIEW_READ, &v), -EINVAL);
	v = xmap(fd, 0, 2 * MB, RW);
	view_equals(v.addr, model, 2 * MB, "the hugetlb view");
	store_ok(VA(&v, MB), 0x12);
	model[MB] = 0x12;
	check_contents(fd, model, 2 * MB);
	xunmap(&v);
	xclose(fd);
	free(model);
}

/* ---- 5: a pin through a view, then truncate ---------------------------------------------- */

/*
 * Issue 9, section 3, test 5: a page pinned through a view, DMA into it
 * seen through the view; a truncate in another thread waits until the
 * unpin (seen waiting through statfs.break_waits, checked not returned),
 * then the view gets SIGBUS there.
 */
TEST(pin_user_then_truncate_waits)
{
	enum { NPG = 8 };
	uint8_t *model = xmalloc(NPG * PG);
	struct dc_dcfs_pinset ps = { 0 };
	struct trunc_op op;
	struct dc_view v;
	uint64_t w0;
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("pin");
	pattern(model, NPG * PG, 12);
	xwrite(fd, model, NPG * PG, 0);
	v = xmap(fd, 0, NPG * PG, RW);
	view_equals(v.addr, model, NPG * PG, "the view");
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, 2 * PG), 2 * PG, 0, "dma", &ps), 0);
	check_segs(&ps, 2 * PG, 2 * PG);
	CHECK_EQ(pin_page(&ps, 2 * PG, NULL), pg_of(fd, 2 * PG));
	CHECK_EQ(pin_page(&ps, 3 * PG, NULL), pg_of(fd, 3 * PG));
	CHECK_EQ(sfs().pins, 1);
	/* The DMA lands in the pages the view maps. */
	dma_write(&ps, 0xDA);
	memset(model + 2 * PG, 0xDA, 2 * PG);
	view_equals(v.addr, model, NPG * PG, "the view after DMA");

	w0 = sfs().break_waits;
	trunc_start(&op, fd, PG);
	wait_for_break_wait(w0);
	/* Seen waiting: it must not have returned while the pin is held. */
	CHECK_EQ(atomic_load(&op.done), 0);
	dma_write(&ps, 0xDB); /* the DMA still runs */
	CHECK_EQ(atomic_load(&op.done), 0);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(ps.id, 0);
	pthread_join(op.t, NULL);
	CHECK_EQ(atomic_load(&op.ret), 0);
	CHECK_EQ(fsize(fd), PG);
	CHECK_EQ(sfs().pins, 0);
	/* The view: page 0 still works, the rest SIGBUS. */
	view_equals(v.addr, model, PG, "page 0 after the truncate");
	expect_sigbus(VA(&v, 2 * PG + 3), false);
	expect_sigbus(VA(&v, 3 * PG), true);
	expect_sigbus(VA(&v, PG), false);
	check_fs();
	xunmap(&v);
	xclose(fd);
	free(model);
}

/* Pins of view addresses: by file offset, faulting what is missing; the view sees the DMA. */
TEST(pin_user_basics)
{
	enum { NPG = 8, NH = 12 };
	uint8_t *model = xmalloc(NH * PG);
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_pin_info info;
	struct dc_view v;
	uint64_t blocks;
	uint8_t *a;
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("pu");
	memset(model, 0, NH * PG);
	pattern(model, NPG * PG, 13);
	xwrite(fd, model, NPG * PG, 0);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, NH * PG, NULL), 0); /* pages 8..11: holes */
	v = xmap(fd, 0, NH * PG, RW);
	/* A write pin of bytes the view never faulted, at an unaligned address. */
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, PG + 100), 2 * PG, 0, "dma", &ps), 0);
	check_segs(&ps, PG + 100, 2 * PG);
	CHECK_EQ(pin_page(&ps, PG + 100, &a), pg_of(fd, PG));
	CHECK_EQ(a[0], model[PG + 100]);
	CHECK_EQ(sfs().pins, 1);
	CHECK_EQ(dc_dcfs_pins(FS, fd, 0, UINT64_MAX, &info, 1), 1);
	CHECK(!strcmp(info.tag, "dma"));
	CHECK_EQ(info.offset, PG + 100);
	CHECK_EQ(info.length, 2 * PG);
	dma_write(&ps, 0xDA);
	memset(model + PG + 100, 0xDA, 2 * PG);
	view_equals(v.addr, model, NH * PG, "the view after DMA");
	check_contents(fd, model, NH * PG);
	/* The view goes, the pin stays: it pins the file, not the view. */
	xunmap(&v);
	dma_write(&ps, 0xDB);
	memset(model + PG + 100, 0xDB, 2 * PG);
	check_contents(fd, model, NH * PG);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(sfs().pins, 0);

	/* Through a view at a file offset: the pin is at the file offset of the address. */
	{
		struct dc_view w = xmap(fd, 4 * PG, 4 * PG, RW);

		CHECK_EQ(dc_dcfs_pin_user(FS, VA(&w, PG + 8), 100, DC_DCFS_PIN_READONLY, "off", &ps),
			 0);
		check_segs(&ps, 5 * PG + 8, 100);
		CHECK_EQ(pin_page(&ps, 5 * PG + 8, &a), pg_of(fd, 5 * PG));
		CHECK_EQ(a[0], model[5 * PG + 8]);
		CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
		xunmap(&w);
	}

	/* A hole the view read as zeros, then a write pin there: the view sees the DMA. */
	v = xmap(fd, 0, 16 * PG, RW);
	expect_byte(VA(&v, 9 * PG + 1), 0);
	blocks = xstat(fd).blocks;
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, 9 * PG), PG, 0, "w", &ps), 0);
	CHECK_EQ(xstat(fd).blocks, blocks + 1);
	dma_write(&ps, 0x77);
	CHECK(view_all(VA(&v, 9 * PG), 0x77, PG));
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	memset(model + 9 * PG, 0x77, PG);
	/* A read-only pin of a hole allocates nothing. */
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, 10 * PG), PG, DC_DCFS_PIN_READONLY, "r", &ps), 0);
	CHECK_EQ(xstat(fd).blocks, blocks + 1);
	for (unsigned i = 0; i < ps.nsegs; i++)
		CHECK(all_bytes(ps.segs[i].addr, 0, ps.segs[i].len));
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	/* Past the end of file (the view reaches beyond it): -EFAULT, as dc_dcfs_pin(). */
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, 13 * PG), PG, 0, "eof", &ps), -EFAULT);
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, 11 * PG), 2 * PG, 0, "eof", &ps), -EFAULT);
	CHECK_EQ(ps.id, 0);
	CHECK_EQ(sfs().pins, 0);
	check_contents(fd, model, NH * PG);
	check_fs();
	xunmap(&v);
	xclose(fd);
	free(model);
}

/* ---- 6: reflink, then stores through views ----------------------------------------------- */

/*
 * Issue 9, section 3, test 6: a store through a view of the copy copies
 * the block; the original and the original's view are unchanged.  And the
 * other way: the original's view had its block mapped writable before the
 * reflink; a store through it now copies too, the copy unchanged.
 */
TEST(reflink_cow_through_view)
{
	enum { NPG = 4 };
	uint8_t ma[NPG * 4096], mb[NPG * 4096];
	struct dc_view va, vb;
	uint64_t cow0;
	int a, b;

	fx("mem:16M", NULL);
	a = xcreate("orig");
	b = xcreate("copy");
	pattern(ma, sizeof(ma), 14);
	xwrite(a, ma, sizeof(ma), 0);
	va = xmap(a, 0, sizeof(ma), RW);
	for (int p = 0; p < NPG; p++) /* a's own blocks, mapped writable */
		store_ok(VA(&va, p * PG + 1), ma[p * PG + 1]);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, sizeof(ma), NULL), 0);
	memcpy(mb, ma, sizeof(mb));
	CHECK_EQ(type_of(a, PG), DC_DCFS_IOMAP_SHARED);
	CHECK_EQ(pg_of(a, PG), pg_of(b, PG));
	vb = xmap(b, 0, sizeof(mb), RW);
	view_equals(vb.addr, mb, sizeof(mb), "the copy's view"); /* read faults: shared, read-only */
	cow0 = sfs().cow_copies;

	/* A store through the copy's view: copy-on-write. */
	store_ok(VA(&vb, PG + 10), 0x77);
	mb[PG + 10] = 0x77;
	CHECK_EQ(sfs().cow_copies, cow0 + 1);
	CHECK(pg_of(b, PG) != pg_of(a, PG));
	CHECK_EQ(type_of(b, PG), DC_DCFS_IOMAP_MAPPED);
	check_contents(a, ma, sizeof(ma));
	check_contents(b, mb, sizeof(mb));
	view_equals(va.addr, ma, sizeof(ma), "the original's view after the copy's store");
	view_equals(vb.addr, mb, sizeof(mb), "the copy's view after its store");

	/* A store through the original's view (writable before the reflink): copies too. */
	store_ok(VA(&va, 20), 0x55);
	ma[20] = 0x55;
	CHECK_EQ(sfs().cow_copies, cow0 + 2);
	CHECK(pg_of(a, 0) != pg_of(b, 0));
	check_contents(b, mb, sizeof(mb));
	view_equals(vb.addr, mb, sizeof(mb), "the copy's view after the original's store");
	check_contents(a, ma, sizeof(ma));
	view_equals(va.addr, ma, sizeof(ma), "the original's view after its store");
	/* Pages still shared are still the same block, read alike by both views. */
	CHECK_EQ(pg_of(a, 2 * PG), pg_of(b, 2 * PG));
	CHECK(!memcmp(VA(&va, 2 * PG), VA(&vb, 2 * PG), 2 * PG));
	check_fs();
	xunmap(&va);
	xunmap(&vb);
	xclose(a);
	xclose(b);
}

/* The destination of a reflink had its own blocks mapped writable: its view now sees the source's. */
TEST(reflink_into_mapped_destination)
{
	enum { NPG = 4 };
	uint8_t ma[NPG * 4096], mb[NPG * 4096];
	struct dc_view va, vb;
	int a, b;

	fx("mem:16M", NULL);
	a = xcreate("src");
	b = xcreate("dst");
	pattern(ma, sizeof(ma), 31);
	pattern(mb, sizeof(mb), 32);
	xwrite(a, ma, sizeof(ma), 0);
	xwrite(b, mb, sizeof(mb), 0);
	va = xmap(a, 0, sizeof(ma), DC_VIEW_READ);
	vb = xmap(b, 0, sizeof(mb), RW);
	view_equals(va.addr, ma, sizeof(ma), "the source's view");
	for (int p = 0; p < NPG; p++) /* b's own blocks, mapped writable */
		store_ok(VA(&vb, p * PG + 2), mb[p * PG + 2]);
	CHECK_EQ(dc_dcfs_reflink(FS, a, PG, b, PG, 2 * PG, NULL), 0);
	memcpy(mb + PG, ma + PG, 2 * PG);
	view_equals(vb.addr, mb, sizeof(mb), "the destination's view after the reflink");
	check_contents(b, mb, sizeof(mb));
	/* A store there copies; the source, and its view, keep their data. */
	store_ok(VA(&vb, 2 * PG + 3), 0x3c);
	mb[2 * PG + 3] = 0x3c;
	check_contents(a, ma, sizeof(ma));
	check_contents(b, mb, sizeof(mb));
	view_equals(va.addr, ma, sizeof(ma), "the source's view after the destination's store");
	view_equals(vb.addr, mb, sizeof(mb), "the destination's view after its store");
	check_fs();
	xunmap(&va);
	xunmap(&vb);
	xclose(a);
	xclose(b);
}

/* ZERO, COLLAPSE, INSERT and ALLOC under a view: it sees each new layout (and SIGBUS past the end). */
TEST(fallocate_modes_under_view)
{
	enum { NPG = 16, NV = 24 };
	uint8_t *model = xmalloc(NV * PG);
	struct dc_view v;
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("fm");
	memset(model, 0, NV * PG);
	pattern(model, NPG * PG, 33);
	xwrite(fd, model, NPG * PG, 0);
	v = xmap(fd, 0, NV * PG, RW);
	for (int p = 0; p < NPG; p++)
		store_ok(VA(&v, p * PG + 1), model[p * PG + 1]);
	/* ZERO: whole pages and a few bytes. */
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_ZERO, 2 * PG, 2 * PG, NULL), 0);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_ZERO, 5 * PG + 100, 200, NULL), 0);
	memset(model + 2 * PG, 0, 2 * PG);
	memset(model + 5 * PG + 100, 0, 200);
	view_equals(v.addr, model, NPG * PG, "the view after ZERO");
	/* COLLAPSE pages 4, 5: the rest moves down, the file ends two pages sooner. */
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_COLLAPSE, 4 * PG, 2 * PG, NULL), 0);
	memmove(model + 4 * PG, model + 6 * PG, (NPG - 6) * PG);
	memset(model + (NPG - 2) * PG, 0, 2 * PG);
	view_equals(v.addr, model, (NPG - 2) * PG, "the view after COLLAPSE");
	expect_sigbus(VA(&v, (NPG - 2) * PG + 1), false);
	expect_sigbus(VA(&v, (NPG - 1) * PG), true);
	/* INSERT two pages at 3: a hole there, the rest moves up. */
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_INSERT, 3 * PG, 2 * PG, NULL), 0);
	memmove(model + 5 * PG, model + 3 * PG, (NPG - 2 - 3) * PG);
	memset(model + 3 * PG, 0, 2 * PG);
	view_equals(v.addr, model, NPG * PG, "the view after INSERT");
	store_ok(VA(&v, 4 * PG + 9), 0x49);
	model[4 * PG + 9] = 0x49;
	/* ALLOC past the end: the file grows; the view reads zeros there. */
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_ALLOC, NPG * PG, 4 * PG, NULL), 0);
	CHECK(view_all(VA(&v, NPG * PG), 0, 4 * PG));
	expect_sigbus(VA(&v, (NPG + 4) * PG), false);
	store_ok(VA(&v, (NPG + 1) * PG), 0x4a);
	model[(NPG + 1) * PG] = 0x4a;
	check_contents(fd, model, (NPG + 4) * PG);
	view_equals(v.addr, model, (NPG + 4) * PG, "the view at the end");
	check_fs();
	xunmap(&v);
	xclose(fd);
	free(model);
}

/* ---- 7: memory failure and device removal ------------------------------------------------ */

/*
 * Issue 9, section 3, test 7: an access to a poisoned block under a view
 * gets SIGBUS (BUS_MCEERR_AR, as the kernel's memory failure); the rest works.
 */
TEST(poison_under_view_sigbus)
{
	enum { NPG = 4 };
	uint8_t model[NPG * 4096];
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_view v;
	uint64_t x;
	int fd;

	fx("mem:4M", NULL);
	fd = xcreate("mf");
	pattern(model, sizeof(model), 15);
	xwrite(fd, model, sizeof(model), 0);
	v = xmap(fd, 0, sizeof(model), RW);
	view_equals(v.addr, model, sizeof(model), "the view");
	x = pg_of(fd, PG);
	CHECK_EQ(dc_folio_memory_failure(R, x, 1), 0);
	CHECK_EQ(count_events(DC_DCFS_EV_MEMORY_FAILURE), 1);
	CHECK_EQ(sfs().blocks_bad, 1);
	expect_sigbus_code(VA(&v, PG + 77), false, BUS_MCEERR_AR);
	expect_sigbus_code(VA(&v, PG), true, BUS_MCEERR_AR);
	expect_sigbus_code(VA(&v, 2 * PG - 1), false, BUS_MCEERR_AR);
	CHECK_EQ(dc_view_fault(&v, PG, PG, 0), -EHWPOISON);
	CHECK_EQ(dc_view_fault(&v, 0, 2 * PG, 0), -EHWPOISON); /* page 0 maps, then page 1 */
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, PG), PG, DC_DCFS_PIN_READONLY, "bad", &ps), -EIO);
	CHECK_EQ(ps.id, 0);
	view_equals(VA(&v, 0), model, PG, "page 0");
	view_equals(VA(&v, 2 * PG), model + 2 * PG, 2 * PG, "pages 2, 3");
	/* Punched and written again: a fresh block, seen through the view. */
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, PG, PG, NULL), 0);
	CHECK(view_all(VA(&v, PG), 0, PG));
	store_ok(VA(&v, PG + 5), 0x5f);
	CHECK(pg_of(fd, PG) != x);
	memset(model + PG, 0, PG);
	model[PG + 5] = 0x5f;
	check_contents(fd, model, sizeof(model));
	check_fs();
	xunmap(&v);
	xclose(fd);
}

struct rm_op {
	pthread_t t;
	struct dc_region *r;
	atomic_int done, ret;
};

static void *rm_thread(void *arg)
{
	struct rm_op *o = arg;

	atomic_store(&o->ret, dc_region_remove(o->r, NULL));
	atomic_store(&o->done, 1);
	return NULL;
}

/*
 * Issue 9, section 3, test 7: device removal with views mapped and a pin
 * taken through one: removal waits for the pin (a deadline ends the first
 * try); every access through the views gets SIGBUS from then on, map is
 * refused with -EIO; a removal in another thread completes once the pin
 * is gone; the views still get SIGBUS after the region is gone, and unmap,
 * close and unmount work.
 */
TEST(removal_with_views_mapped)
{
	enum { NPG = 8 };
	uint8_t model[NPG * 4096];
	struct dc_drain_opts d = { 0 };
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_view v, r, x;
	struct rm_op op;
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("rm");
	pattern(model, sizeof(model), 16);
	xwrite(fd, model, sizeof(model), 0);
	v = xmap(fd, 0, sizeof(model), RW);
	r = xmap(fd, 0, sizeof(model), DC_VIEW_READ);
	view_equals(v.addr, model, sizeof(model), "the view");
	view_equals(r.addr, model, NPG * PG / 2, "half the read-only view");
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, 0), PG, 0, "dma", &ps), 0);

	d.deadline_ns = dc_now_ns() + 100000000ull;
	CHECK_EQ(dc_region_remove(R, &d), -ETIMEDOUT); /* the pin is held */
	CHECK(sfs().shutdown);
	for (int p = 0; p < NPG; p++) {
		expect_sigbus(VA(&v, p * PG + 11), false);
		expect_sigbus(VA(&v, p * PG + 12), true);
		expect_sigbus(VA(&r, p * PG + 13), false);
	}
	CHECK_EQ(dc_view_fault(&v, 0, PG, 0), -EIO);
	CHECK_EQ(dc_dcfs_map(FS, fd, 0, PG, DC_VIEW_READ, &x), -EIO);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), -EBUSY);
	dma_write(&ps, 0xDA); /* the DMA may still run until it unpins */

	memset(&op, 0, sizeof(op));
	op.r = R;
	CHECK_EQ(pthread_create(&op.t, NULL, rm_thread, &op), 0);
	expect_sigbus(VA(&v, 3 * PG), false);
	CHECK_EQ(atomic_load(&op.done), 0); /* the pin is still held */
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	pthread_join(op.t, NULL);
	CHECK_EQ(atomic_load(&op.ret), 0);
	R = NULL; /* gone: not to be touched */

	/* The region is gone; the views are still there, and still SIGBUS. */
	expect_sigbus(VA(&v, 5 * PG + 1), false);
	expect_sigbus(VA(&r, 0), false);
	CHECK_EQ(dc_view_fault(&r, 0, PG, 0), -EIO);
	CHECK_EQ(dc_dcfs_map(FS, fd, 0, PG, DC_VIEW_READ, &x), -EIO);
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, 0), PG, 0, "late", &ps), -EIO);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), -EBUSY); /* views are mapped (and a file is open) */
	CHECK_EQ(dc_dcfs_check(FS), 0);
	xunmap(&v);
	xunmap(&r);
	CHECK_EQ(sfs().views, 0);
	CHECK_EQ(dc_dcfs_close(FS, fd), 0);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), 0);
	FS = NULL;
	dc_quiesce();
}

/* ---- 8: a write pin through a read-only view --------------------------------------------- */

/* Issue 9, section 3, test 8 (xfstests generic/462): -EFAULT, and the file unchanged. */
TEST(write_pin_through_readonly_view)
{
	enum { NPG = 4, NF = 8 };
	uint8_t ma[NF * 4096], mb[2 * 4096];
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_view v, vb, w;
	uint64_t blocks, cow0, shared0;
	int a, b;

	fx("mem:16M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	memset(ma, 0, sizeof(ma));
	pattern(ma, NPG * PG, 17);
	xwrite(a, ma, NPG * PG, 0);
	CHECK_EQ(dc_dcfs_truncate(FS, a, NF * PG, NULL), 0); /* pages 4..7: holes */
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 2 * PG, NULL), 0);
	memcpy(mb, ma, sizeof(mb));
	v = xmap(a, 0, NF * PG, DC_VIEW_READ);
	vb = xmap(b, 0, 2 * PG, DC_VIEW_READ);
	view_equals(v.addr, ma, sizeof(ma), "the read-only view");
	blocks = xstat(a).blocks;
	cow0 = sfs().cow_copies;
	shared0 = sfs().blocks_shared;

	/* A block of the file's own, a hole, a shared block: all -EFAULT. */
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, 2 * PG), PG, 0, "dio-read", &ps), -EFAULT);
	CHECK_EQ(ps.id, 0);
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, 5 * PG), PG, 0, "dio-read", &ps), -EFAULT);
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, 3 * PG), 2 * PG, 0, "dio-read", &ps), -EFAULT);
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&vb, 0), PG, 0, "dio-read", &ps), -EFAULT);
	CHECK_EQ(ps.id, 0);
	/* The files are unchanged: nothing allocated, copied or pinned. */
	CHECK_EQ(sfs().pins, 0);
	CHECK_EQ(xstat(a).blocks, blocks);
	CHECK_EQ(sfs().cow_copies, cow0);
	CHECK_EQ(sfs().blocks_shared, shared0);
	CHECK_EQ(pg_of(a, 0), pg_of(b, 0));
	check_contents(a, ma, sizeof(ma));
	check_contents(b, mb, sizeof(mb));
	/* A read-only pin through the read-only view is fine. */
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, PG), PG, DC_DCFS_PIN_READONLY, "dio-write", &ps), 0);
	check_segs(&ps, PG, PG);
	CHECK(!memcmp(ps.segs[0].addr, ma + PG, ps.segs[0].len));
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	/* The same write pin through a writable view works (and allocates the hole). */
	w = xmap(a, 0, NF * PG, RW);
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&w, 5 * PG), PG, 0, "dio-read", &ps), 0);
	CHECK_EQ(xstat(a).blocks, blocks + 1);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	check_fs();
	xunmap(&w);
	xunmap(&v);
	xunmap(&vb);
	xclose(a);
	xclose(b);
}

/* ---- 10: bad input ------------------------------------------------------------------------- */

/* Issue 9, section 3, test 10: misaligned, zero length, bad prot, bad descriptors, out of range. */
TEST(bad_input_map)
{
	const uint64_t MAX = DC_DCFS_SIZE_MAX;
	struct dc_view v;
	uint64_t views0 = vst().views;
	int fd, ro, closed;

	fx("mem:16M", NULL);
	fd = xcreate("a");
	xwrite_byte(fd, 1, 4 * PG, 0);
	ro = xopen("a", DC_DCFS_RDONLY);
	closed = xopen("a", DC_DCFS_RDWR);
	xclose(closed);
	memset(&v, 0, sizeof(v));
	CHECK_EQ(dc_dcfs_map(FS, fd, 100, PG, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, PG - 1, PG, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, 0, 100, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, 0, PG + 1, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, 0, 0, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, PG, 0, RW, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, 0, PG, 0, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, 0, PG, 0x4, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, 0, PG, 0xff, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, 0, PG, DC_VIEW_READ | 0x100, &v), -EINVAL);
	/* A write view of a read-only descriptor; unknown descriptors. */
	CHECK_EQ(dc_dcfs_map(FS, ro, 0, PG, RW, &v), -EBADF);
	CHECK_EQ(dc_dcfs_map(FS, closed, 0, PG, DC_VIEW_READ, &v), -EBADF);
	CHECK_EQ(dc_dcfs_map(FS, -1, 0, PG, DC_VIEW_READ, &v), -EBADF);
	CHECK_EQ(dc_dcfs_map(FS, 1 << 20, 0, PG, DC_VIEW_READ, &v), -EBADF);
	CHECK_EQ(dc_dcfs_map(FS, fd ^ (1 << 24), 0, PG, DC_VIEW_READ, &v), -EBADF);
	CHECK_EQ(dc_dcfs_map(NULL, fd, 0, PG, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, 0, PG, DC_VIEW_READ, NULL), -EINVAL);
	/* Past the largest file size, and overflow. */
	CHECK_EQ(dc_dcfs_map(FS, fd, MAX, PG, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, MAX - PG, 2 * PG, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, UINT64_MAX - PG + 1, PG, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, PG, UINT64_MAX - PG + 1, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_dcfs_map(FS, fd, 0, UINT64_MAX & ~(PG - 1), DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(vst().views, views0);
	CHECK_EQ(sfs().views, 0);
	/* A read view of a read-only descriptor is fine, and so is one past EOF. */
	v = xmap(ro, 0, PG, DC_VIEW_READ);
	expect_byte(v.addr, 1);
	CHECK_EQ(dc_view_fault(&v, 0, PG, DC_VIEW_FAULT_WRITE), -EACCES);
	xunmap(&v);
	v = xmap(fd, 64 * PG, PG, RW);
	expect_sigbus(v.addr, false);
	xunmap(&v);
	xclose(ro);
	xclose(fd);
	check_fs();
}

/* Issue 9, section 3, test 10: a view larger than the address space allows. */
TEST(view_too_large)
{
	uint64_t views0 = vst().views;
	struct dc_view v;
	int fd, ret;

	fx("mem:16M", NULL);
	fd = xcreate("big");
	memset(&v, 0, sizeof(v));
	ret = dc_dcfs_map(FS, fd, 0, 1ull << 47, DC_VIEW_READ, &v); /* all of 47-bit user space */
	if (ret != -ENOMEM && ret != -EINVAL)
		fprintf(stderr, "[%s] a 2^47-byte view: %d (%s)\n", t_current, ret, dc_errmsg());
	CHECK(ret == -ENOMEM || ret == -EINVAL);
	/* Ends at DC_DCFS_SIZE_MAX.  (Larger lengths fail the same way, only slower: the
	 * library sizes per-view state by the length before it reserves address space.) */
	ret = dc_dcfs_map(FS, fd, DC_DCFS_SIZE_MAX - (1ull << 47), 1ull << 47, RW, &v);
	CHECK(ret == -ENOMEM || ret == -EINVAL);
	CHECK_EQ(vst().views, views0);
	CHECK_EQ(sfs().views, 0);
	/* Nothing was left behind: the file closes and the mount unmounts (teardown). */
	v = xmap(fd, 0, 16 * PG, RW);
	xunmap(&v);
	xclose(fd);
}

/* Issue 9, section 3, test 10: unmap twice, a zeroed or forged struct, a stale copy. */
TEST(bad_input_unmap)
{
	struct dc_view v, copy, w, forged, none;
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("u");
	xwrite_byte(fd, 2, 4 * PG, 0);
	memset(&none, 0, sizeof(none));
	CHECK_EQ(dc_view_unmap(NULL), -EINVAL);
	CHECK_EQ(dc_view_unmap(&none), -EINVAL);
	v = xmap(fd, 0, 4 * PG, RW);
	expect_byte(VA(&v, PG), 2);
	copy = v;
	xunmap(&v);
	CHECK_EQ(dc_view_unmap(&v), -EINVAL);    /* twice */
	CHECK_EQ(dc_view_unmap(&copy), -EINVAL); /* a stale copy */
	CHECK_EQ(dc_view_fault(&copy, 0, PG, 0), -EINVAL);
	CHECK_EQ(dc_view_fault(&v, 0, PG, 0), -EINVAL);
	/* A new view (perhaps at the same address): the stale copy still names nothing. */
	w = xmap(fd, 0, 4 * PG, RW);
	CHECK(w.id != copy.id);
	CHECK_EQ(dc_view_unmap(&copy), -EINVAL);
	CHECK_EQ(dc_view_fault(&copy, 0, PG, 0), -EINVAL);
	forged = w;
	forged.id = w.id + 1000;
	CHECK_EQ(dc_view_unmap(&forged), -EINVAL);
	forged.id = UINT64_MAX;
	CHECK_EQ(dc_view_unmap(&forged), -EINVAL);
	expect_byte(VA(&w, 2 * PG), 2); /* w still works */
	CHECK_EQ(sfs().views, 1);
	xunmap(&w);
	CHECK_EQ(sfs().views, 0);
	xclose(fd);
}

/* Issue 9, section 3, test 10: dc_view_fault() out of range and write on read-only; dc_view_resolve(). */
TEST(bad_input_fault_and_resolve)
{
	struct dc_view v, w;
	struct dc_view_ref ref;
	uint8_t local[64];
	uint8_t *heap = xmalloc(PG);
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("f");
	xwrite_byte(fd, 3, 4 * PG, 0);
	v = xmap(fd, 0, 4 * PG, DC_VIEW_READ);
	w = xmap(fd, 0, 4 * PG, RW);
	CHECK_EQ(dc_view_fault(&v, 4 * PG, PG, 0), -EINVAL);
	CHECK_EQ(dc_view_fault(&v, 3 * PG, 2 * PG, 0), -EINVAL);
	CHECK_EQ(dc_view_fault(&v, 0, 4 * PG + 1, 0), -EINVAL);
	CHECK_EQ(dc_view_fault(&v, UINT64_MAX - PG + 1, 2 * PG, 0), -EINVAL);
	CHECK_EQ(dc_view_fault(&v, PG, UINT64_MAX, 0), -EINVAL);
	CHECK_EQ(dc_view_fault(&v, 0, PG, 0x80), -EINVAL);
	CHECK_EQ(dc_view_fault(NULL, 0, PG, 0), -EINVAL);
	CHECK_EQ(dc_view_fault(&v, 0, PG, DC_VIEW_FAULT_WRITE), -EACCES);
	CHECK_EQ(dc_view_fault(&v, PG + 100, 10, 0), 0); /* a byte range inside */
	CHECK_EQ(dc_view_fault(&w, 3 * PG, PG, DC_VIEW_FAULT_WRITE), 0);
	/* Resolve: only view addresses; within one view; write only in a writable one. */
	CHECK_EQ(dc_view_resolve(local, 1, false, &ref), -EFAULT);
	CHECK_EQ(dc_view_resolve(heap, PG, false, &ref), -EFAULT);
	CHECK_EQ(dc_view_resolve(NULL, 1, false, &ref), -EFAULT);
	/* Just outside v (unless w happens to lie right there). */
	if (!in_view(&w, (uint8_t *)v.addr + v.length))
		CHECK_EQ(dc_view_resolve((uint8_t *)v.addr + v.length, 1, false, &ref), -EFAULT);
	if (!in_view(&w, (uint8_t *)v.addr - 1))
		CHECK_EQ(dc_view_resolve((uint8_t *)v.addr - 1, 1, false, &ref), -EFAULT);
	CHECK_EQ(dc_view_resolve(VA(&v, 3 * PG), 2 * PG, false, &ref), -EFAULT);
	CHECK_EQ(dc_view_resolve(VA(&v, 0), 1, true, &ref), -EFAULT);
	CHECK_EQ(dc_view_resolve(VA(&v, 0), 0, false, &ref), -EINVAL);
	CHECK_EQ(dc_view_resolve(VA(&v, 0), 1, false, NULL), -EINVAL);
	CHECK_EQ(dc_view_resolve(VA(&w, PG + 5), 10, true, &ref), 0);
	CHECK_EQ(ref.offset, PG + 5);
	CHECK_EQ(ref.id, w.id);
	CHECK(ref.file != NULL);
	dc_view_resolve_put(&ref);
	CHECK_EQ(dc_view_resolve(VA(&v, 4 * PG - 1), 1, false, &ref), 0);
	CHECK_EQ(ref.offset, 4 * PG - 1);
	CHECK_EQ(ref.id, v.id);
	dc_view_resolve_put(&ref);
	/* An unmapped view's address resolves to nothing. */
	{
		void *gone = v.addr;

		xunmap(&v);
		CHECK_EQ(dc_view_resolve(gone, 1, false, &ref), -EFAULT);
	}
	xunmap(&w);
	xclose(fd);
	free(heap);
}

/* Issue 9, section 3, test 10: dc_dcfs_pin_user() of what is not a view of this mount. */
TEST(bad_input_pin_user)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_region *r2;
	struct dc_dcfs *fs2;
	struct dc_view v, v2;
	uint8_t local[64];
	int fd, fd2;

	fx("mem:16M", NULL);
	fd = xcreate("a");
	xwrite_byte(fd, 4, 4 * PG, 0);
	v = xmap(fd, 0, 4 * PG, RW);
	CHECK_EQ(dc_dcfs_pin_user(FS, local, 1, 0, "x", &ps), -EFAULT);
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, 3 * PG), 2 * PG, 0, "x", &ps), -EFAULT);
	CHECK_EQ(dc_dcfs_pin_user(FS, (uint8_t *)v.addr + v.length, PG, 0, "x", &ps), -EFAULT);
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, 0), 0, 0, "x", &ps), -EINVAL);
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, 0), PG, 0, "x", NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_pin_user(NULL, VA(&v, 0), PG, 0, "x", &ps), -EINVAL);
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, 0), PG, 0x80, "x", &ps), -EINVAL);
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, 0), PG, DC_DCFS_PIN_LONGTERM, "x", &ps),
		 -EOPNOTSUPP);
	CHECK_EQ(ps.id, 0);
	/* A view of a file of another mount. */
	CHECK_EQ(dc_region_create("mem:4M", &r2), 0);
	CHECK_EQ(dc_dcfs_mount(r2, NULL, NULL, NULL, &fs2), 0);
	fd2 = dc_dcfs_create(fs2, "other");
	CHECK(fd2 >= 0);
	CHECK_EQ(dc_dcfs_pwrite(fs2, fd2, "other", 5, 0), 5);
	CHECK_EQ(dc_dcfs_map(fs2, fd2, 0, PG, RW, &v2), 0);
	CHECK_EQ(*(volatile uint8_t *)v2.addr, 'o');
	CHECK_EQ(dc_dcfs_pin_user(FS, v2.addr, 1, 0, "x", &ps), -EFAULT);
	CHECK_EQ(dc_dcfs_pin_user(fs2, VA(&v, 0), 1, 0, "x", &ps), -EFAULT);
	CHECK_EQ(ps.id, 0);
	CHECK_EQ(dc_dcfs_pin_user(fs2, v2.addr, 1, 0, "mine", &ps), 0);
	CHECK_EQ(dc_dcfs_unpin(fs2, &ps), 0);
	CHECK_EQ(dc_view_unmap(&v2), 0);
	CHECK_EQ(dc_dcfs_close(fs2, fd2), 0);
	CHECK_EQ(dc_dcfs_unlink(fs2, "other"), 0);
	CHECK_EQ(dc_dcfs_unmount(fs2, NULL), 0);
	t_region_teardown(&r2);
	CHECK_EQ(sfs().pins, 0);
	xunmap(&v);
	xclose(fd);
}

/* Issue 9, section 3, test 10: unmount with a view mapped (and no file open): -EBUSY, nothing changed. */
TEST(unmount_with_view_mapped)
{
	struct dc_view v;
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("busy");
	xwrite_byte(fd, 5, 2 * PG, 0);
	v = xmap(fd, 0, 2 * PG, RW);
	xclose(fd);
	CHECK_EQ(sfs().open, 0);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), -EBUSY);
	CHECK_EQ(sfs().views, 1);
	CHECK(dc_region_holder(R) != NULL);
	CHECK(view_all(v.addr, 5, 2 * PG));
	store_ok(VA(&v, 1), 6);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), -EBUSY);
	check_fs();
	xunmap(&v);
	/* teardown unmounts now */
}

/* Issue 9, section 3, test 10: map after shutdown (device removal): -EIO. */
TEST(map_after_shutdown)
{
	struct dc_drain_opts d = { 0 };
	struct dc_view v;
	int fd, ro;

	fx("mem:16M", NULL);
	fd = xcreate("s");
	xwrite_byte(fd, 1, 2 * PG, 0);
	ro = xopen("s", DC_DCFS_RDONLY);
	d.deadline_ns = dc_now_ns() + 5000000000ull;
	CHECK_EQ(dc_region_remove(R, &d), 0); /* no pin held: completes */
	R = NULL;
	CHECK(sfs().shutdown);
	CHECK_EQ(dc_dcfs_map(FS, fd, 0, PG, RW, &v), -EIO);
	CHECK_EQ(dc_dcfs_map(FS, ro, 0, PG, DC_VIEW_READ, &v), -EIO);
	CHECK_EQ(sfs().views, 0);
	CHECK_EQ(dc_dcfs_close(FS, fd), 0);
	CHECK_EQ(dc_dcfs_close(FS, ro), 0);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), 0);
	FS = NULL;
	dc_quiesce();
}

/* dc_view_set_vma_budget(): at least 16. */
TEST(bad_input_vma_budget)
{
	struct dc_view v;
	int fd;

	fx("mem:4M", NULL);
	fd = xcreate("b");
	v = xmap(fd, 0, PG, DC_VIEW_READ); /* a view was mapped: the default applies */
	CHECK_EQ(vst().vma_budget, default_budget());
	CHECK_EQ(dc_view_set_vma_budget(15), -EINVAL);
	CHECK_EQ(dc_view_set_vma_budget(0), -EINVAL);
	CHECK_EQ(vst().vma_budget, default_budget());
	CHECK_EQ(dc_view_set_vma_budget(16), 0);
	CHECK_EQ(vst().vma_budget, 16);
	CHECK_EQ(dc_view_set_vma_budget(default_budget()), 0);
	CHECK_EQ(vst().vma_budget, default_budget());
	xunmap(&v);
	xclose(fd);
}

/*
 * In a process that never mapped a view: the budget reads as the
 * documented default, and one set now holds through the first map.  The
 * case runs itself again in a fresh process (exec), since which views
 * the program mapped before cannot be undone.
 */
TEST(vma_budget_set_before_first_map)
{
	struct dc_view v;
	int fd;

	if (!getenv("DC_TEST_VIEW_FRESH")) {
		int st = 0;
		pid_t pid;

		fflush(stdout);
		fflush(stderr);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			setenv("DC_TEST_VIEW_FRESH", "1", 1);
			execl("/proc/self/exe", "test_view", "vma_budget_set_before_first_map",
			      (char *)NULL);
			_exit(126);
		}
		CHECK_EQ(waitpid(pid, &st, 0), pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fprintf(stderr, "[%s] the fresh process failed (status %#x)\n", t_current, st);
		CHECK(WIFEXITED(st));
		CHECK_EQ(WEXITSTATUS(st), 0);
		return;
	}
	uint64_t before, after;

	CHECK_EQ(vst().views, 0);
	before = vst().vma_budget;
	if (before != default_budget())
		fprintf(stderr, "[%s] before the first map the budget reads %llu, the default is "
			"%llu\n", t_current, (unsigned long long)before,
			(unsigned long long)default_budget());
	CHECK_EQ(dc_view_set_vma_budget(16), 0);
	fx("mem:4M", NULL);
	fd = xcreate("b");
	v = xmap(fd, 0, PG, DC_VIEW_READ);
	after = vst().vma_budget;
	if (after != 16)
		fprintf(stderr, "[%s] the first map reset the budget set before it (16) to %llu\n",
			t_current, (unsigned long long)after);
	xunmap(&v);
	xclose(fd);
	CHECK_EQ(before, default_budget());
	CHECK_EQ(after, 16);
}

/* ---- faults: the explicit call, the SIGSEGV handler ------------------------------------ */

/* dc_view_fault(): read and write faults map pages now, so accesses need no signal. */
TEST(explicit_fault_read_write)
{
	enum { NPG = 16, NV = 24 };
	uint8_t *model = xmalloc(NPG * PG);
	struct dc_view_stats s0, s1;
	struct dc_view v, r;
	uint64_t b0;
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("e");
	memset(model, 0, NPG * PG);
	pattern(model, 8 * PG, 18);
	xwrite(fd, model, 8 * PG, 0);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, NPG * PG, NULL), 0); /* pages 8..15: holes */
	v = xmap(fd, 0, NV * PG, RW);
	s0 = vst();
	CHECK_EQ(dc_view_fault(&v, 0, 4 * PG, 0), 0);
	s1 = vst();
	CHECK(s1.faults > s0.faults);
	CHECK_EQ(s1.signal_faults, s0.signal_faults);
	CHECK(s1.pages_mapped >= s0.pages_mapped + 4);
	view_equals(v.addr, model, 4 * PG, "pages 0..3");
	CHECK_EQ(vst().signal_faults, s0.signal_faults); /* no signal was needed */

	/* A write fault of holes: blocks allocated, the stores need no signal. */
	b0 = xstat(fd).blocks;
	CHECK_EQ(dc_view_fault(&v, 8 * PG, 4 * PG, DC_VIEW_FAULT_WRITE), 0);
	CHECK_EQ(xstat(fd).blocks, b0 + 4);
	s1 = vst();
	memset(VA(&v, 8 * PG), 0x3c, 4 * PG);
	memset(model + 8 * PG, 0x3c, 4 * PG);
	CHECK_EQ(vst().signal_faults, s1.signal_faults);
	check_contents(fd, model, NPG * PG);

	/* A read fault of a hole: the zero page; a store there still faults (for write). */
	CHECK_EQ(dc_view_fault(&v, 12 * PG, PG, 0), 0);
	CHECK_EQ(xstat(fd).blocks, b0 + 4);
	s1 = vst();
	expect_byte(VA(&v, 12 * PG + 1), 0);
	CHECK_EQ(vst().signal_faults, s1.signal_faults);
	store_ok(VA(&v, 12 * PG + 1), 0xc1);
	model[12 * PG + 1] = 0xc1;
	CHECK_EQ(vst().signal_faults, s1.signal_faults + 1);
	CHECK_EQ(xstat(fd).blocks, b0 + 5);

	/* Past EOF: the owner's -EFAULT for the first page it cannot serve; those before stay mapped. */
	CHECK_EQ(dc_view_fault(&v, 14 * PG, 4 * PG, 0), -EFAULT);
	s1 = vst();
	expect_byte(VA(&v, 14 * PG), 0);
	expect_byte(VA(&v, 15 * PG + 7), 0);
	CHECK_EQ(vst().signal_faults, s1.signal_faults);
	CHECK_EQ(dc_view_fault(&v, 16 * PG, PG, DC_VIEW_FAULT_WRITE), -EFAULT);
	CHECK_EQ(fsize(fd), NPG * PG);
	/* A write fault of a read-only view. */
	r = xmap(fd, 0, NPG * PG, DC_VIEW_READ);
	CHECK_EQ(dc_view_fault(&r, 0, PG, DC_VIEW_FAULT_WRITE), -EACCES);
	CHECK_EQ(dc_view_fault(&r, 0, NPG * PG, 0), 0);
	s1 = vst();
	view_equals(r.addr, model, NPG * PG, "the read-only view");
	CHECK_EQ(vst().signal_faults, s1.signal_faults);
	check_contents(fd, model, NPG * PG);
	check_fs();
	xunmap(&v);
	xunmap(&r);
	xclose(fd);
	free(model);
}

/* The test's own SIGSEGV handler, for the chaining cases. */
static __thread sigjmp_buf *volatile segv_jmp; /* armed: record and jump back */
static void *volatile segv_addr;
static atomic_int segv_calls;
static uint8_t *volatile foreign_page; /* a PROT_NONE page of the test's own */

static void my_segv(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *jb = segv_jmp;
	uint8_t *a = si->si_addr;

	(void)sig;
	(void)uc;
	atomic_fetch_add(&segv_calls, 1);
	segv_addr = si->si_addr;
	if (jb) {
		segv_jmp = NULL;
		siglongjmp(*jb, 1);
	}
	if (foreign_page && a >= foreign_page && a < foreign_page + PG) {
		mprotect(foreign_page, PG, PROT_READ | PROT_WRITE); /* fixed: the access runs again */
		return;
	}
	signal(SIGSEGV, SIG_DFL); /* anything else: the default action */
}

/* Touch @p with my_segv armed: 0 if it loaded, -1 if my_segv caught a SIGSEGV. */
static int touch_armed(const void *p, uint8_t *out)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1))
		return -1;
	segv_jmp = &jb;
	atomic_signal_fence(memory_order_seq_cst);
	*out = *(const volatile uint8_t *)p;
	atomic_signal_fence(memory_order_seq_cst);
	segv_jmp = NULL;
	return 0;
}

static int touch_armed_store(void *p, uint8_t val)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1))
		return -1;
	segv_jmp = &jb;
	atomic_signal_fence(memory_order_seq_cst);
	*(volatile uint8_t *)p = val;
	atomic_signal_fence(memory_order_seq_cst);
	segv_jmp = NULL;
	return 0;
}

/*
 * The SIGSEGV handler: SA_SIGINFO | SA_ONSTACK, idempotent; serves view
 * faults; removed, the previous disposition comes back (a view address
 * is then an ordinary fault); installed over a handler of one's own, it
 * chains to it for other addresses; removal refuses while another handler
 * sits on top.
 */
TEST(sigsegv_handler_path)
{
	uint8_t model[64 * 4096], b = 0;
	struct sigaction viewsa, cur, orig, mine, top;
	struct dc_view_stats s0, s1;
	struct dc_view v, w;
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("h");
	pattern(model, sizeof(model), 19);
	xwrite(fd, model, sizeof(model), 0);
	v = xmap(fd, 0, sizeof(model), DC_VIEW_READ);
	w = xmap(fd, 0, sizeof(model), DC_VIEW_READ); /* never touched until the handler is gone */
	CHECK_EQ(sigaction(SIGSEGV, NULL, &viewsa), 0);
	CHECK(viewsa.sa_flags & SA_SIGINFO);
	CHECK(viewsa.sa_flags & SA_ONSTACK);
	CHECK_EQ(dc_view_handler_install(), 0); /* again: nothing changes */
	CHECK_EQ(sigaction(SIGSEGV, NULL, &cur), 0);
	CHECK(cur.sa_sigaction == viewsa.sa_sigaction);
	s0 = vst();
	expect_byte(VA(&v, 5), model[5]);
	s1 = vst();
	CHECK_EQ(s1.signal_faults, s0.signal_faults + 1);
	CHECK_EQ(s1.faults, s0.faults + 1);

	/* Removed: the disposition found at install comes back. */
	CHECK_EQ(dc_view_handler_remove(), 0);
	CHECK_EQ(sigaction(SIGSEGV, NULL, &orig), 0);
	CHECK(orig.sa_sigaction != viewsa.sa_sigaction);
	memset(&mine, 0, sizeof(mine));
	mine.sa_sigaction = my_segv;
	mine.sa_flags = SA_SIGINFO;
	sigemptyset(&mine.sa_mask);
	CHECK_EQ(sigaction(SIGSEGV, &mine, NULL), 0);
	atomic_store(&segv_calls, 0);
	/* A view page nobody faulted is an ordinary SIGSEGV without the handler. */
	CHECK_EQ(touch_armed(VA(&w, 40 * PG + 3), &b), -1);
	CHECK_EQ(atomic_load(&segv_calls), 1);
	CHECK(segv_addr == VA(&w, 40 * PG + 3));
	/* Installed over mine: views are served, mine is not called. */
	CHECK_EQ(dc_view_handler_install(), 0);
	CHECK_EQ(touch_armed(VA(&w, 40 * PG + 3), &b), 0);
	CHECK_EQ(b, model[40 * PG + 3]);
	CHECK_EQ(atomic_load(&segv_calls), 1);
	/* A store to a read-only view is an ordinary SIGSEGV: it goes to mine. */
	CHECK_EQ(touch_armed_store(VA(&w, 40 * PG + 4), 1), -1);
	CHECK_EQ(atomic_load(&segv_calls), 2);
	CHECK(segv_addr == VA(&w, 40 * PG + 4));
	expect_byte(VA(&w, 40 * PG + 4), model[40 * PG + 4]); /* nothing stored */
	atomic_store(&segv_calls, 1);
	/* Another address goes to mine, with its si_addr. */
	foreign_page = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(foreign_page != MAP_FAILED);
	*(volatile uint8_t *)(foreign_page + 7) = 0x42; /* my_segv makes it writable; it runs again */
	CHECK_EQ(atomic_load(&segv_calls), 2);
	CHECK(segv_addr == foreign_page + 7);
	CHECK_EQ(*(volatile uint8_t *)(foreign_page + 7), 0x42);
	CHECK_EQ(mprotect(foreign_page, PG, PROT_NONE), 0);
	CHECK_EQ(*(volatile uint8_t *)(foreign_page + 8), 0); /* again, a load */
	CHECK_EQ(atomic_load(&segv_calls), 3);
	CHECK(segv_addr == foreign_page + 8);
	/* A handler on top of the view's: remove refuses and changes nothing. */
	CHECK_EQ(sigaction(SIGSEGV, &mine, &top), 0);
	CHECK(top.sa_sigaction == viewsa.sa_sigaction);
	CHECK_EQ(dc_view_handler_remove(), -EBUSY);
	CHECK_EQ(sigaction(SIGSEGV, NULL, &cur), 0);
	CHECK(cur.sa_sigaction == my_segv);
	CHECK_EQ(sigaction(SIGSEGV, &top, NULL), 0); /* the view's back on top */
	expect_byte(VA(&w, 60 * PG), model[60 * PG]);
	CHECK_EQ(atomic_load(&segv_calls), 3);
	CHECK_EQ(dc_view_handler_remove(), 0); /* back to mine */
	CHECK_EQ(sigaction(SIGSEGV, NULL, &cur), 0);
	CHECK(cur.sa_sigaction == my_segv);
	CHECK_EQ(sigaction(SIGSEGV, &orig, NULL), 0); /* and to what the fixture found */
	CHECK_EQ(munmap(foreign_page, PG), 0);
	foreign_page = NULL;
	CHECK_EQ(dc_view_handler_install(), 0);
	CHECK_EQ(sigaction(SIGSEGV, NULL, &cur), 0);
	CHECK(cur.sa_sigaction == viewsa.sa_sigaction);
	view_equals(w.addr, model, sizeof(model), "the view, handler reinstalled");
	xunmap(&v);
	xunmap(&w);
	xclose(fd);
}

/* ---- mkclean: writeback write-protects, the next store faults and re-dirties -------------- */

TEST(mkclean_after_fsync)
{
	uint8_t model[4 * 4096];
	struct dc_view_stats s0, s1;
	struct dc_view v;
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("m");
	pattern(model, sizeof(model), 20);
	xwrite(fd, model, sizeof(model), 0);
	CHECK_EQ(dc_dcfs_fsync(FS, fd, false), 0);
	v = xmap(fd, 0, sizeof(model), RW);
	store_ok(VA(&v, 10), 0x01); /* a write fault: a DIRTY entry */
	s0 = vst();
	store_ok(VA(&v, 11), 0x02); /* mapped writable: no fault */
	CHECK_EQ(vst().faults, s0.faults);
	CHECK_EQ(dc_dcfs_fsync(FS, fd, false), 0);
	/* Write-protected, not revoked: a load does not fault, a store does. */
	expect_byte(VA(&v, 10), 0x01);
	CHECK_EQ(vst().faults, s0.faults);
	store_ok(VA(&v, 12), 0x03);
	s1 = vst();
	CHECK(s1.faults > s0.faults);
	CHECK(s1.signal_faults > s0.signal_faults);
	store_ok(VA(&v, 13), 0x04); /* dirty again: no fault */
	CHECK_EQ(vst().faults, s1.faults);
	/* The second fsync flushes it, and write-protects again. */
	CHECK_EQ(dc_dcfs_fsync(FS, fd, false), 0);
	store_ok(VA(&v, 14), 0x05);
	CHECK(vst().faults > s1.faults);
	model[10] = 1, model[11] = 2, model[12] = 3, model[13] = 4, model[14] = 5;
	check_contents(fd, model, sizeof(model));
	CHECK_EQ(dc_dcfs_fsync(FS, fd, true), 0);
	check_fs();
	xunmap(&v);
	xclose(fd);
}

/* ---- the VMA budget ----------------------------------------------------------------------- */

struct vstamp {
	uint32_t magic, fid;
	uint64_t page;
};
#define STAMP_MAGIC 0x56574557u

static void stamp_page(int fd, uint32_t fid, uint64_t p)
{
	uint8_t page[4096];
	struct vstamp s = { STAMP_MAGIC, fid, p };

	memset(page, (int)fid, sizeof(page));
	memcpy(page, &s, sizeof(s));
	xwrite(fd, page, PG, p * PG);
}

static void check_stamp(const struct dc_view *v, uint32_t fid, uint64_t p)
{
	struct vstamp s;

	memcpy(&s, VA(v, p * PG), sizeof(s));
	if (s.magic != STAMP_MAGIC || s.fid != fid || s.page != p)
		fprintf(stderr, "[%s] page %llu of the view: magic %08x fid %u page %llu\n", t_current,
			(unsigned long long)p, s.magic, s.fid, (unsigned long long)s.page);
	CHECK(s.magic == STAMP_MAGIC && s.fid == fid && s.page == p);
	expect_byte(VA(v, p * PG + PG - 1), (uint8_t)fid);
}

/*
 * With a budget of 16 VMAs, a view of a file whose blocks are all apart
 * (two files written page by page, in turn) stays within the budget plus
 * one fault's window (the largest: 2 MiB) as it is touched at random and
 * then in order, by the library's count and by /proc/self/maps; cold
 * windows are revoked (budget_revokes) and refault with the right data.
 */
TEST(vma_budget)
{
	enum { N = 2048, BUDGET = 16, WINDOW = 512 };
	struct dc_view_stats s0, s;
	uint64_t *order = (uint64_t *)xmalloc(N * sizeof(uint64_t));
	uint64_t rng = t_seed(77), breaks = 0, max_vmas = 0;
	long maps0, max_maps = 0;
	struct dc_view v;
	int a, b;

	fx("mem:64M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	for (uint64_t p = 0; p < N; p++) {
		stamp_page(a, 'A', p);
		stamp_page(b, 'B', p);
	}
	for (uint64_t p = 0; p + 1 < N; p++)
		breaks += pg_of(a, (p + 1) * PG) != pg_of(a, p * PG) + 1;
	if (breaks < N / 2)
		fprintf(stderr, "[%s] the set-up did not scatter the blocks: %llu breaks\n", t_current,
			(unsigned long long)breaks);
	CHECK(breaks >= N / 2);
	xclose(b);
	CHECK_EQ(vst().vmas, 0);
	maps0 = count_maps();
	v = xmap(a, 0, N * PG, DC_VIEW_READ);
	CHECK_EQ(dc_view_set_vma_budget(BUDGET), 0); /* after a map: see vma_budget_set_before_first_map */
	s0 = vst();
	CHECK_EQ(s0.vma_budget, BUDGET);
	for (uint64_t i = 0; i < N; i++)
		order[i] = i;
	for (uint64_t i = N - 1; i > 0; i--) {
		uint64_t j = t_rand(&rng) % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (uint64_t k = 0; k < N; k++) {
		check_stamp(&v, 'A', order[k]);
		check_stamp(&v, 'A', order[t_rand(&rng) % (k + 1)]); /* one touched before */
		s = vst();
		if (s.vmas > max_vmas)
			max_vmas = s.vmas;
		if (k % 64 == 0) {
			long m = count_maps();

			if (m > max_maps)
				max_maps = m;
		}
	}
	for (uint64_t p = 0; p < N; p++) { /* in order: windows grow */
		check_stamp(&v, 'A', p);
		s = vst();
		if (s.vmas > max_vmas)
			max_vmas = s.vmas;
		if (p % 64 == 0) {
			long m = count_maps();

			if (m > max_maps)
				max_maps = m;
		}
	}
	s = vst();
	printf("VMAs at most %llu (budget %d), maps lines +%ld at most, budget revokes %llu, "
	       "faults %llu\n", (unsigned long long)max_vmas, BUDGET, max_maps - maps0,
	       (unsigned long long)(s.budget_revokes - s0.budget_revokes),
	       (unsigned long long)(s.faults - s0.faults));
	CHECK(s.budget_revokes > s0.budget_revokes);
	CHECK(max_vmas <= BUDGET + WINDOW);
	CHECK(max_maps - maps0 <= 2 * (BUDGET + WINDOW) + 16);
	CHECK(max_vmas > 0);
	xunmap(&v);
	CHECK_EQ(vst().vmas, 0);
	CHECK_EQ(dc_view_set_vma_budget(default_budget()), 0);
	xclose(a);
	free(order);
}

/*
 * With the budget at its minimum, a load and then a store in one window of
 * scattered blocks (a read fault, then a write fault of the same window):
 * the store completes.  In a child with an alarm, so that an access that
 * never completes (the budget revoking the window its own fault just
 * mapped, over and over) fails in seconds, not at the watchdog.
 */
/* A line on stderr from a child, so that a failure shows how far it got. */
static void child_says(const char *what)
{
	fprintf(stderr, "[%s] child: %s\n", t_current, what);
}

static void child_budget_load_then_store(void)
{
	struct dc_view v;
	int a, b;

	alarm(10); /* the harness's SIGALRM handler: a message, exit 1 */
	fx("mem:16M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	for (uint64_t p = 0; p < 32; p++) {
		stamp_page(a, 'A', p);
		stamp_page(b, 'B', p);
	}
	CHECK(pg_of(a, PG) != pg_of(a, 0) + 1);
	v = xmap(a, 0, 32 * PG, RW);
	CHECK_EQ(dc_view_set_vma_budget(16), 0); /* after a map: see vma_budget_set_before_first_map */
	check_stamp(&v, 'A', 3);        /* a read fault of the window */
	child_says("the load completed");
	store_ok(VA(&v, 3 * PG + 100), 0x33); /* a write fault of the same window */
	store_ok(VA(&v, 9 * PG + 100), 0x39);
	check_stamp(&v, 'A', 20); /* another window */
	store_ok(VA(&v, 20 * PG + 100), 0x34);
	expect_byte(VA(&v, 3 * PG + 100), 0x33);
	_exit(0);
}

TEST(vma_budget_load_then_store)
{
	int st = 0;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		child_budget_load_then_store();
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "[%s] the child %s %d (a watchdog message above: an access never "
			"completed; the child's last line says which)\n", t_current,
			WIFSIGNALED(st) ? "died by signal" : "exited with",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
}

/* ---- faults raised inside a daxcore callback ------------------------------------------------ */

static struct dc_view cb_view;
static struct dc_dcfs_pinset cb_ps;
static int cb_calls, cb_fault_ret, cb_wfault_ret, cb_unpin_ret, cb_pipe = -1;

static void hook_explicit_fault(struct dc_dcfs *fs, const struct dc_dcfs_event *ev)
{
	if (ev->type != DC_DCFS_EV_SLOW_WAIT)
		return;
	cb_calls++;
	cb_fault_ret = dc_view_fault(&cb_view, 0, PG, 0);
	cb_wfault_ret = dc_view_fault(&cb_view, 0, PG, DC_VIEW_FAULT_WRITE);
	cb_unpin_ret = dc_dcfs_unpin(fs, &cb_ps); /* the wait it reports ends */
}

/* dc_view_fault() from inside ->event (a slow truncate wait): -EDEADLK, nothing mapped. */
TEST(fault_in_callback_edeadlk)
{
	uint8_t model[4 * 4096];
	int fd;

	fx("mem:16M", "slow_wait_ms=0");
	fd = xcreate("cb");
	pattern(model, sizeof(model), 21);
	xwrite(fd, model, sizeof(model), 0);
	cb_view = xmap(fd, 0, sizeof(model), RW);
	memset(&cb_ps, 0, sizeof(cb_ps));
	CHECK_EQ(dc_dcfs_pin(FS, fd, 3 * PG, PG, 0, "cb", &cb_ps), 0);
	cb_calls = 0;
	cb_fault_ret = cb_wfault_ret = cb_unpin_ret = 1;
	ev_hook = hook_explicit_fault;
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 2 * PG, NULL), 0);
	ev_hook = NULL;
	CHECK_EQ(cb_calls, 1);
	CHECK_EQ(cb_fault_ret, -EDEADLK);
	CHECK_EQ(cb_wfault_ret, -EDEADLK);
	CHECK_EQ(cb_unpin_ret, 0);
	CHECK_EQ(cb_ps.id, 0);
	/* Outside the callback the same call works. */
	CHECK_EQ(dc_view_fault(&cb_view, 0, PG, 0), 0);
	view_equals(cb_view.addr, model, 2 * PG, "the view after the truncate");
	xunmap(&cb_view);
	xclose(fd);
	check_fs();
}

static void hook_touch(struct dc_dcfs *fs, const struct dc_dcfs_event *ev)
{
	int r, survived;
	ssize_t w;

	if (ev->type != DC_DCFS_EV_SLOW_WAIT)
		return;
	r = dc_view_fault(&cb_view, PG, PG, 0);
	w = write(cb_pipe, &r, sizeof(r));
	/* Never faulted: the handler must see it is inside a callback and abort. */
	survived = 1000 + *(volatile uint8_t *)((uint8_t *)cb_view.addr + 2 * PG);
	w = write(cb_pipe, &survived, sizeof(survived));
	(void)w;
	(void)dc_dcfs_unpin(fs, &cb_ps);
}

static void child_touch_in_callback(int out)
{
	int fd;

	cb_pipe = out;
	fx("mem:16M", "slow_wait_ms=0");
	fd = xcreate("cb");
	xwrite_byte(fd, 0x21, 4 * PG, 0);
	cb_view = xmap(fd, 0, 4 * PG, DC_VIEW_READ);
	memset(&cb_ps, 0, sizeof(cb_ps));
	CHECK_EQ(dc_dcfs_pin(FS, fd, 3 * PG, PG, 0, "cb", &cb_ps), 0);
	ev_hook = hook_touch;
	CHECK_EQ(dc_dcfs_truncate(FS, fd, PG, NULL), 0);
	_exit(3); /* the truncate returned: nothing aborted */
}

/*
 * A view fault raised (by an access) inside a daxcore callback aborts
 * loudly instead of deadlocking: in a child, an ->event callback of a
 * slow truncate wait touches a view page nobody faulted; the child must
 * die by SIGABRT with a message (and dc_view_fault() there said -EDEADLK).
 */
TEST(fault_in_callback_aborts)
{
	int out[2], errp[2], st = 0, vals[2] = { 0, 0 };
	char msg[4096];
	ssize_t got, n = 0, m = 0;
	pid_t pid;

	CHECK_EQ(pipe(out), 0);
	CHECK_EQ(pipe(errp), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(out[0]);
		close(errp[0]);
		dup2(errp[1], 2);
		alarm(60); /* a hang fails (the harness's SIGALRM handler exits 1) */
		child_touch_in_callback(out[1]);
	}
	close(out[1]);
	close(errp[1]);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	while (n < (ssize_t)sizeof(vals) &&
	       (got = read(out[0], (char *)vals + n, sizeof(vals) - n)) > 0)
		n += got;
	while (m < (ssize_t)sizeof(msg) - 1 && (got = read(errp[0], msg + m, sizeof(msg) - 1 - m)) > 0)
		m += got;
	msg[m] = 0;
	close(out[0]);
	close(errp[0]);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
		fprintf(stderr, "[%s] the child %s %d; its stderr:\n%s\n", t_current,
			WIFSIGNALED(st) ? "died by signal" : "exited with",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), msg);
	CHECK(WIFSIGNALED(st));
	CHECK_EQ(WTERMSIG(st), SIGABRT);
	CHECK(n >= (ssize_t)sizeof(int));
	CHECK_EQ(vals[0], -EDEADLK);
	CHECK(n < (ssize_t)sizeof(vals)); /* it never came back from the access */
	CHECK(m > 0);                     /* loudly */
	printf("the child's message: %s", msg);
	if (m && msg[m - 1] != '\n')
		printf("\n");
}

/*
 * A SIGBUS the kernel would send kills when it cannot be handled: with the
 * default disposition, with SIGBUS blocked, with SIGBUS ignored.  In
 * children (each makes its own region, mount and view).
 */
static void child_sigbus(int how)
{
	struct sigaction sa;
	struct dc_view v;
	int fd;

	alarm(20);
	fx("mem:4M", NULL);
	fd = xcreate("b");
	xwrite_byte(fd, 1, PG, 0);
	v = xmap(fd, 0, 2 * PG, DC_VIEW_READ);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	if (how == 0) {
		sa.sa_handler = SIG_DFL;
		CHECK_EQ(sigaction(SIGBUS, &sa, NULL), 0);
	} else if (how == 1) {
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGBUS);
		CHECK_EQ(sigprocmask(SIG_BLOCK, &set, NULL), 0); /* on_sigbus stays installed */
	} else {
		sa.sa_handler = SIG_IGN;
		CHECK_EQ(sigaction(SIGBUS, &sa, NULL), 0);
	}
	expect_byte(v.addr, 1);
	child_says("a view fault completed");
	(void)*(volatile uint8_t *)VA(&v, PG + 1); /* past EOF: must die here */
	_exit(3);
}

TEST(sigbus_kills_when_unhandled)
{
	static const char *const what[] = { "the default", "SIGBUS blocked", "SIGBUS ignored" };

	for (int how = 0; how < 3; how++) {
		int st = 0;
		pid_t pid;

		fflush(stdout);
		fflush(stderr);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			child_sigbus(how);
		CHECK_EQ(waitpid(pid, &st, 0), pid);
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGBUS)
			fprintf(stderr, "[%s] %s: the child %s %d, expected death by SIGBUS\n",
				t_current, what[how], WIFSIGNALED(st) ? "died by signal" : "exited with",
				WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		CHECK(WIFSIGNALED(st));
		CHECK_EQ(WTERMSIG(st), SIGBUS);
	}
}

/*
 * A forked child maps and faults views of its own, after the parent
 * faulted views (and so set up whatever the library does around fork):
 * the child's faults are served.  In a child with an alarm: a fault that
 * never completes fails in seconds.
 */
static void child_own_views(void)
{
	struct dc_view v;
	int fd;

	alarm(10);
	fx("mem:4M", NULL);
	fd = xcreate("c");
	xwrite_byte(fd, 0x43, 2 * PG, 0);
	v = xmap(fd, 0, 4 * PG, RW);
	expect_byte(VA(&v, 1), 0x43);
	child_says("a view fault completed");
	store_ok(VA(&v, PG + 2), 0x44);
	expect_sigbus(VA(&v, 3 * PG), false);
	_exit(0);
}

TEST(forked_child_faults_its_own_views)
{
	struct dc_view v;
	int st = 0, fd;
	pid_t pid;

	fx("mem:4M", NULL);
	fd = xcreate("p");
	xwrite_byte(fd, 0x50, PG, 0);
	v = xmap(fd, 0, PG, DC_VIEW_READ);
	expect_byte(v.addr, 0x50); /* the parent faulted a view */
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		child_own_views();
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "[%s] the child %s %d\n", t_current,
			WIFSIGNALED(st) ? "died by signal" : "exited with",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	CHECK(WIFEXITED(st));
	CHECK_EQ(WEXITSTATUS(st), 0);
	expect_byte(v.addr, 0x50); /* and the parent's view still works */
	xunmap(&v);
	xclose(fd);
}

/*
 * The last view of an unlinked file goes while a pin taken through it is
 * held: the eviction waits for the pin as close does, bounded by the
 * mount's deadline_ms; the unmap returns, the file waits as an orphan and
 * the unpin evicts it.
 */
TEST(last_unmap_of_unlinked_pinned_file)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_view v;
	uint64_t free0;
	int fd;

	fx("mem:16M", "deadline_ms=50");
	free0 = sfs().blocks_free;
	fd = xcreate("o");
	xwrite_byte(fd, 0x6f, 2 * PG, 0);
	v = xmap(fd, 0, 2 * PG, RW);
	CHECK_EQ(dc_dcfs_pin_user(FS, VA(&v, PG), PG, 0, "dma", &ps), 0);
	xclose(fd);
	CHECK_EQ(dc_dcfs_unlink(FS, "o"), 0);
	CHECK_EQ(sfs().files, 1); /* the view holds it */
	store_ok(VA(&v, 5), 0x70);
	xunmap(&v);
	CHECK_EQ(sfs().views, 0);
	CHECK_EQ(sfs().files, 1);
	CHECK_EQ(sfs().orphans, 1);
	dma_write(&ps, 0xDA); /* still pinned: the DMA may run */
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(sfs().files, 0);
	CHECK_EQ(sfs().orphans, 0);
	CHECK_EQ(sfs().blocks_free, free0);
	check_fs();
}

/* ---- fault_around= ------------------------------------------------------------------------- */

/* Pages mapped by one first touch of page @p of a fresh view of @fd. */
static uint64_t pages_of_one_touch(int fd, uint64_t len, uint64_t p, uint8_t want)
{
	struct dc_view v = xmap(fd, 0, len, DC_VIEW_READ);
	struct dc_view_stats s0 = vst(), s1;

	expect_byte(VA(&v, p * PG + 1), want);
	s1 = vst();
	CHECK_EQ(s1.signal_faults - s0.signal_faults, 1);
	xunmap(&v);
	return s1.pages_mapped - s0.pages_mapped;
}

TEST(fault_around_option)
{
	static const char *const bad[] = {
		"fault_around=3000", "fault_around=2048", "fault_around=0",   "fault_around=4M",
		"fault_around=",     "fault_around=abc",  "fault_around=64KK", "fault_around=1K",
		"fault_around=-4096", "fault_around=8192x", "fault_around=6K",
	};
	static const char *const good[] = {
		"fault_around=4096", "fault_around=4K", "fault_around=2M", "fault_around=64K",
		"fault_around=2097152", "sync,fault_around=8K",
	};
	struct dc_dcfs *fs;
	int fd;

	CHECK_EQ(dc_region_create("mem:16M", &R), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = dc_dcfs_mount(R, bad[i], NULL, NULL, &fs);

		if (ret != -EINVAL)
			fprintf(stderr, "[%s] mount \"%s\": %d\n", t_current, bad[i], ret);
		CHECK_EQ(ret, -EINVAL);
		CHECK(strstr(dc_errmsg(), "fault_around") != NULL);
		CHECK(dc_region_holder(R) == NULL);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_EQ(dc_dcfs_mount(R, good[i], NULL, NULL, &fs), 0);
		CHECK_EQ(dc_dcfs_unmount(fs, NULL), 0);
	}
	/* 16K: a first touch maps 4 pages. */
	CHECK_EQ(dc_dcfs_mount(R, "fault_around=16K", &ev_ops, (void *)&nevs, &FS), 0);
	fd = xcreate("fa");
	xwrite_byte(fd, 0x61, 64 * PG, 0);
	CHECK_EQ(pages_of_one_touch(fd, 64 * PG, 0, 0x61), 4);
	CHECK_EQ(pages_of_one_touch(fd, 64 * PG, 32, 0x61), 4);
	xclose(fd);
}

TEST(fault_around_4k)
{
	int fd;

	fx("mem:16M", "fault_around=4096");
	fd = xcreate("fa");
	xwrite_byte(fd, 0x62, 64 * PG, 0);
	CHECK_EQ(pages_of_one_touch(fd, 64 * PG, 10, 0x62), 1);
	CHECK_EQ(pages_of_one_touch(fd, 64 * PG, 40, 0x62), 1);
	xclose(fd);
}

TEST(fault_around_default_64k)
{
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("fa");
	xwrite_byte(fd, 0x63, 64 * PG, 0);
	CHECK_EQ(pages_of_one_touch(fd, 64 * PG, 0, 0x63), 16);
	/* Clipped to the end of file: the last 3 pages of the file. */
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 19 * PG, NULL), 0);
	{
		uint64_t n = pages_of_one_touch(fd, 64 * PG, 16, 0x63);

		CHECK(n >= 1 && n <= 3);
	}
	xclose(fd);
}

/* ---- a user's own owner: the owner-neutral interface --------------------------------------- */

#define CO_NPG 12
#define CO_BASE 64
struct co_file {
	atomic_int faults, wfaults, released;
	uint64_t map[16]; /* file page -> device page */
	bool zero[16], ro[16];
	int64_t fail_index;
	atomic_ullong last_index;
	atomic_uint last_flags;
};
static struct co_file CO;

static int co_fault(void *file, uint64_t index, uint64_t max, unsigned flags,
		    struct dc_view_extent *ext)
{
	struct co_file *f = file;

	CHECK(f == &CO);
	CHECK(max >= 1);
	atomic_fetch_add(&f->faults, 1);
	if (!(flags & DC_VIEW_FAULT_AROUND)) {
		if (flags & DC_VIEW_FAULT_WRITE)
			atomic_fetch_add(&f->wfaults, 1);
		atomic_store(&f->last_index, index);
		atomic_store(&f->last_flags, flags);
	}
	if ((int64_t)index == f->fail_index)
		return -EIO;
	if (index >= CO_NPG)
		return -EFAULT;
	if ((flags & DC_VIEW_FAULT_WRITE) && !(flags & DC_VIEW_FAULT_AROUND))
		f->zero[index] = f->ro[index] = false; /* "allocate", "copy" */
	ext->index = index;
	ext->nr = 1;
	ext->pgoff = f->map[index];
	ext->zero = f->zero[index];
	ext->writable = !f->zero[index] && !f->ro[index];
	return 0;
}

static void co_release(void *file)
{
	struct co_file *f = file;

	atomic_fetch_add(&f->released, 1);
}

static const struct dc_view_owner_ops co_ops = { .fault = co_fault, .release = co_release };

static uint8_t *dev(uint64_t pgoff)
{
	uint8_t *p = dc_region_addr(R, pgoff);

	CHECK(p);
	return p;
}

/*
 * A user's own owner over a bare region: its fault step says which device
 * page backs a file page, whether it may be written, or that it is a hole
 * or an error; revoke and mkclean from the owner; resolve names its file;
 * release once per view; destroy only with no views left.
 */
TEST(custom_owner)
{
	struct dc_view_file *vf = NULL;
	struct dc_region *lim;
	struct dc_view_ref ref;
	struct dc_view_stats s0;
	struct dc_view v, w;
	int f0, wf0;

	CHECK_EQ(dc_region_create("mem:4M", &R), 0);
	memset(&CO, 0, sizeof(CO));
	for (int i = 0; i < 16; i++) {
		CO.map[i] = CO_BASE + i;
		memset(dev(CO_BASE + i), 0x40 + i, PG);
	}
	memset(dev(CO_BASE + 20), 0x4d, PG);
	CO.zero[7] = true;
	CO.ro[5] = true;
	CO.fail_index = 9;
	/* Bad input of the view-set calls. */
	CHECK_EQ(dc_view_file_create(NULL, &co_ops, &CO, 0, &vf), -EINVAL);
	CHECK_EQ(dc_view_file_create(R, NULL, &CO, 0, &vf), -EINVAL);
	CHECK_EQ(dc_view_file_create(R, &co_ops, &CO, 0, NULL), -EINVAL);
	CHECK_EQ(dc_view_file_create(R, &co_ops, &CO, 3000, &vf), -EINVAL);
	CHECK_EQ(dc_view_file_create(R, &co_ops, &CO, 2048, &vf), -EINVAL);
	CHECK_EQ(dc_view_file_create(R, &co_ops, &CO, 4 * MB, &vf), -EINVAL);
	CHECK_EQ(dc_region_create("mem:4M,type=limited", &lim), 0);
	CHECK_EQ(dc_view_file_create(lim, &co_ops, &CO, 0, &vf), -EINVAL);
	t_region_teardown(&lim);
	CHECK_EQ(dc_view_file_destroy(NULL), -EINVAL);
	CHECK_EQ(dc_view_file_create(R, &co_ops, &CO, 4096, &vf), 0); /* one page a fault */
	CHECK(vf != NULL);
	CHECK_EQ(dc_view_map(vf, 100, PG, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_view_map(vf, 0, 0, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_view_map(vf, 0, PG, 0, &v), -EINVAL);
	CHECK_EQ(dc_view_map(vf, 0, 1ull << 53, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_view_map(NULL, 0, PG, DC_VIEW_READ, &v), -EINVAL);
	CHECK_EQ(dc_view_map(vf, 0, PG, DC_VIEW_READ, NULL), -EINVAL);
	CHECK_EQ(atomic_load(&CO.released), 0); /* failed maps release nothing */

	memset(&v, 0xa5, sizeof(v));
	CHECK_EQ(dc_view_map(vf, 0, 16 * PG, RW, &v), 0);
	CHECK(v.id != 0);
	CHECK_EQ(v.offset, 0);
	CHECK_EQ(v.length, 16 * PG);
	CHECK_EQ(v.prot, RW);
	CHECK_EQ(atomic_load(&CO.faults), 0);
	/* A load: the owner's device page. */
	expect_byte(VA(&v, 3 * PG + 1), 0x43);
	CHECK(atomic_load(&CO.faults) >= 1);
	CHECK_EQ(atomic_load(&CO.last_index), 3);
	CHECK_EQ(atomic_load(&CO.last_flags) & DC_VIEW_FAULT_WRITE, 0);
	/* A store where the owner said writable: no further fault; it lands on the device page. */
	f0 = atomic_load(&CO.faults);
	store_ok(VA(&v, 3 * PG + 10), 0xee);
	CHECK_EQ(atomic_load(&CO.faults), f0);
	CHECK_EQ(dev(CO_BASE + 3)[10], 0xee);
	/* Read-only: a store faults again, for write. */
	expect_byte(VA(&v, 5 * PG), 0x45);
	wf0 = atomic_load(&CO.wfaults);
	store_ok(VA(&v, 5 * PG + 1), 0xdd);
	CHECK_EQ(atomic_load(&CO.wfaults), wf0 + 1);
	CHECK_EQ(atomic_load(&CO.last_index), 5);
	CHECK(atomic_load(&CO.last_flags) & DC_VIEW_FAULT_WRITE);
	CHECK_EQ(dev(CO_BASE + 5)[1], 0xdd);
	/* A hole: zeros, not the device page; a store faults for write and then lands. */
	expect_byte(VA(&v, 7 * PG), 0);
	CHECK(view_all(VA(&v, 7 * PG), 0, PG));
	store_ok(VA(&v, 7 * PG + 2), 0xcc);
	CHECK_EQ(atomic_load(&CO.last_index), 7);
	CHECK(atomic_load(&CO.last_flags) & DC_VIEW_FAULT_WRITE);
	CHECK_EQ(dev(CO_BASE + 7)[2], 0xcc);
	expect_byte(VA(&v, 7 * PG), 0x47);
	/* Revoke: the owner moved page 3; the next access faults and sees the new page. */
	CO.map[3] = CO_BASE + 20;
	s0 = vst();
	f0 = atomic_load(&CO.faults);
	dc_view_file_revoke(vf, 3, 1);
	CHECK(vst().revokes > s0.revokes);
	expect_byte(VA(&v, 3 * PG + 10), 0x4d);
	CHECK(atomic_load(&CO.faults) > f0);
	store_ok(VA(&v, 3 * PG + 11), 0xab);
	CHECK_EQ(dev(CO_BASE + 20)[11], 0xab);
	CHECK_EQ(dev(CO_BASE + 3)[11], 0x43); /* the old page is not reached any more */
	/* mkclean: loads still need no fault; a store faults for write. */
	f0 = atomic_load(&CO.faults);
	wf0 = atomic_load(&CO.wfaults);
	dc_view_file_mkclean(vf, 0, 16);
	expect_byte(VA(&v, 3 * PG + 11), 0xab);
	CHECK_EQ(atomic_load(&CO.faults), f0);
	store_ok(VA(&v, 3 * PG + 12), 0xac);
	CHECK_EQ(atomic_load(&CO.wfaults), wf0 + 1);
	CHECK_EQ(atomic_load(&CO.last_index), 3);
	CHECK_EQ(dev(CO_BASE + 20)[12], 0xac);
	/* The owner's errors: -EIO and -EFAULT are SIGBUS, and dc_view_fault() returns them. */
	expect_sigbus(VA(&v, 9 * PG + 5), false);
	CHECK_EQ(dc_view_fault(&v, 9 * PG, PG, 0), -EIO);
	expect_sigbus(VA(&v, 12 * PG + 6), true);
	CHECK_EQ(dc_view_fault(&v, 12 * PG, PG, 0), -EFAULT);
	CHECK_EQ(dc_view_fault(&v, 8 * PG, 2 * PG, 0), -EIO); /* page 8 mapped, 9 not */
	/* An explicit fault: the access after it needs no signal. */
	CHECK_EQ(dc_view_fault(&v, PG, PG, 0), 0);
	CHECK_EQ(atomic_load(&CO.last_index), 1);
	s0 = vst();
	expect_byte(VA(&v, PG + 3), 0x41);
	expect_byte(VA(&v, 8 * PG + 3), 0x48);
	CHECK_EQ(vst().signal_faults, s0.signal_faults);
	/* Resolve names the owner's file. */
	CHECK_EQ(dc_view_resolve(VA(&v, 3 * PG + 9), 1, true, &ref), 0);
	CHECK(ref.file == &CO);
	CHECK(ref.ops == &co_ops);
	CHECK_EQ(ref.offset, 3 * PG + 9);
	CHECK_EQ(ref.id, v.id);
	dc_view_resolve_put(&ref);
	/* A second view, read-only, at an offset. */
	CHECK_EQ(dc_view_map(vf, 4 * PG, 4 * PG, DC_VIEW_READ, &w), 0);
	expect_byte(VA(&w, 2), 0x44);
	CHECK_EQ(atomic_load(&CO.last_index), 4);
	CHECK_EQ(dc_view_fault(&w, 0, PG, DC_VIEW_FAULT_WRITE), -EACCES);
	/* Destroy with views: -EBUSY; release once per view. */
	CHECK_EQ(dc_view_file_destroy(vf), -EBUSY);
	CHECK_EQ(dc_view_unmap(&v), 0);
	CHECK_EQ(atomic_load(&CO.released), 1);
	CHECK_EQ(dc_view_file_destroy(vf), -EBUSY);
	CHECK_EQ(dc_view_unmap(&w), 0);
	CHECK_EQ(atomic_load(&CO.released), 2);
	CHECK_EQ(dc_view_unmap(&w), -EINVAL);
	CHECK_EQ(atomic_load(&CO.released), 2);
	CHECK_EQ(dc_view_file_destroy(vf), 0);
}

T_MAIN(setup, teardown)
