/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_dcfs - dcfs, the reference owner, one behaviour at a time: the
 * namespace (create, open, close, lookup, list, rename, unlink), the data
 * paths (pread/pwrite on sparse files, short reads, extending writes,
 * truncate, fsync), iomap and faults (zero page, allocation, PMD entries),
 * pin sets and break layouts (DMA in flight vs. truncate, punch, zero,
 * collapse, insert and eviction; deadlines, cancel and the slow-wait
 * report), ENOSPC, bad input of every public function, and allocation
 * failures injected at every allocation of a sequence.
 *
 * Every case mounts its own file system (fx()); the teardown checks that
 * nothing is open or pinned, runs dc_dcfs_check(), unlinks what the case
 * left, checks that every block is free again, checks again, unmounts and
 * removes the region (t_region_teardown(): no leaked reference).
 *
 * Cases that need the implementation to wait for a pin never measure time:
 * a helper thread holds the pin (and keeps writing through it, as a DMA
 * engine would), lets it go after the operation is seen waiting
 * (statfs.break_waits grows, or a cap passes), and sets a flag just before
 * it unpins; the operation must not have returned before that flag.
 */
#include "dcfs_fixture.h"

#include <stdatomic.h>



/* ---- the fixture ------------------------------------------------------------ */

/* The slow-wait events a mount reported (fx_events()). */
#define MAX_EV 16
struct ev_copy {
	enum dc_dcfs_event_type type;
	uint64_t ino, offset, length, waited_ns;
	char op[16];
	unsigned npins;
	struct dc_dcfs_pin_info pin0;
};
static struct ev_copy evs[MAX_EV];
static atomic_int nevs;

static void on_event(struct dc_dcfs *fs, const struct dc_dcfs_event *ev, void *arg)
{
	int i = atomic_fetch_add(&nevs, 1);

	CHECK(fs == FS);
	CHECK(arg == &nevs);
	if (i >= MAX_EV)
		return;
	evs[i].type = ev->type;
	evs[i].ino = ev->ino;
	evs[i].offset = ev->offset;
	evs[i].length = ev->length;
	evs[i].waited_ns = ev->waited_ns;
	snprintf(evs[i].op, sizeof(evs[i].op), "%s", ev->op ? ev->op : "(null)");
	evs[i].npins = ev->npins;
	if (ev->npins && ev->pins)
		evs[i].pin0 = ev->pins[0];
}

static const struct dc_dcfs_ops ev_ops = { .event = on_event };

static void fx_ops(const char *spec, const char *opts, const struct dc_dcfs_ops *ops)
{
	CHECK_EQ(dc_region_create(spec, &R), 0);
	CHECK_EQ(dc_dcfs_mount(R, opts, ops, (void *)&nevs, &FS), 0);
	CHECK(dc_dcfs_region(FS) == R);
	CHECK(dc_region_holder(R) != NULL);
}

static void fx(const char *spec, const char *opts)
{
	fx_ops(spec, opts, NULL);
}

static void setup(void)
{
	R = NULL;
	FS = NULL;
	atomic_store(&nevs, 0);
	memset(evs, 0, sizeof(evs));
	dc__fault_set(0);
}

static void teardown(void)
{
	dcfs_teardown();
}

/* ---- helpers ------------------------------------------------------------------ */

static bool any_byte(const void *p, int c, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] == (uint8_t)c)
			return true;
	return false;
}

/* The device page backing file byte @off (UINT64_MAX: a hole). */
static uint64_t pgoff_of(int fd, uint64_t off)
{
	struct dc_dcfs_iomap m;

	CHECK_EQ(dc_dcfs_iomap(FS, fd, off, PG, 0, &m), 0);
	if (m.type == DC_DCFS_IOMAP_HOLE)
		return UINT64_MAX;
	CHECK_EQ(m.type, DC_DCFS_IOMAP_MAPPED);
	CHECK(m.offset <= off && off < m.offset + m.length);
	/* @pgoff is the device page of the mapping's first byte (m.offset). */
	return m.pgoff + ((off >> 12) - (m.offset >> 12));
}

/* The linear-map address of file byte @off inside mapping @m. */
static uint8_t *iomap_addr(const struct dc_dcfs_iomap *m, uint64_t off)
{
	CHECK_EQ(m->type, DC_DCFS_IOMAP_MAPPED);
	CHECK(m->offset <= off && off < m->offset + m->length);
	return (uint8_t *)dc_region_addr(R, m->pgoff + ((off >> 12) - (m->offset >> 12))) +
	       (off & (PG - 1));
}

/* The segments cover exactly [offset, offset + length). */
static void check_segs(const struct dc_dcfs_pinset *ps, uint64_t off, uint64_t len)
{
	uint64_t sum = 0;

	CHECK(ps->id != 0);
	CHECK_EQ(ps->offset, off);
	CHECK_EQ(ps->length, len);
	CHECK(ps->nsegs >= 1);
	CHECK(ps->segs != NULL);
	for (unsigned i = 0; i < ps->nsegs; i++) {
		CHECK(ps->segs[i].len > 0);
		CHECK(ps->segs[i].addr != NULL);
		sum += ps->segs[i].len;
	}
	CHECK_EQ(sum, len);
}

static void dma_write(const struct dc_dcfs_pinset *ps, int c)
{
	for (unsigned i = 0; i < ps->nsegs; i++)
		memset(ps->segs[i].addr, c, ps->segs[i].len);
}

static uint32_t refcount_at(uint64_t pgoff)
{
	struct dc_folio *f = dc_folio_lookup(R, pgoff);

	return f ? dc_folio_refcount(f) : 0;
}

/*
 * The helper thread of the "must wait for a pin" cases: it holds @ps,
 * writes @dma through it (when nonzero) until the operation is seen
 * waiting (break_waits past @waits0, or the slow-wait report when
 * @want_reports) or a cap passes, then sets @released and unpins.  It
 * records whether the operation had returned before (op_done).
 */
struct holder {
	struct dc_dcfs_pinset *ps;
	int dma;
	uint64_t waits0;
	unsigned want_reports; /* wait for this many slow reports instead */
	unsigned extra_ms;     /* hold this much longer once seen waiting */
	struct dc_cancel *cancel; /* fire this instead of unpinning */
	atomic_int started, released, op_done, early, unpin_ret;
	pthread_t t;
};

static void *holder_thread(void *arg)
{
	struct holder *h = arg;
	uint64_t cap = dc_now_ns() + 2000000000ull; /* a cap, not an assertion */

	atomic_store(&h->started, 1);
	for (;;) {
		struct dc_dcfs_statfs s;

		if (h->dma)
			dma_write(h->ps, h->dma);
		dc_dcfs_statfs(FS, &s);
		if (h->want_reports ? s.slow_reports >= h->want_reports : s.break_waits > h->waits0)
			break;
		if (dc_now_ns() > cap)
			break;
		usleep(200);
	}
	if (h->extra_ms) {
		uint64_t end = dc_now_ns() + h->extra_ms * 1000000ull;

		while (dc_now_ns() < end) {
			if (h->dma)
				dma_write(h->ps, h->dma);
			usleep(1000);
		}
	}
	if (atomic_load(&h->op_done))
		atomic_store(&h->early, 1);
	if (h->cancel) {
		dc_cancel_fire(h->cancel);
		return NULL;
	}
	atomic_store(&h->released, 1);
	atomic_store(&h->unpin_ret, dc_dcfs_unpin(FS, h->ps));
	return NULL;
}

static void holder_init(struct holder *h, struct dc_dcfs_pinset *ps, int dma)
{
	memset(h, 0, sizeof(*h));
	h->ps = ps;
	h->dma = dma;
	h->waits0 = sfs().break_waits;
}

static void holder_go(struct holder *h)
{
	CHECK_EQ(pthread_create(&h->t, NULL, holder_thread, h), 0);
	while (!atomic_load(&h->started))
		usleep(100);
}

static void holder_start(struct holder *h, struct dc_dcfs_pinset *ps, int dma)
{
	holder_init(h, ps, dma);
	holder_go(h);
}

/* After the operation returned: it waited for the unpin. */
static void holder_finish(struct holder *h)
{
	bool released = atomic_load(&h->released);

	atomic_store(&h->op_done, 1);
	if (!released)
		fprintf(stderr, "[%s] the operation returned while the pin was still held\n",
			t_current);
	CHECK(released);
	pthread_join(h->t, NULL);
	CHECK_EQ(atomic_load(&h->early), 0);
	CHECK_EQ(atomic_load(&h->unpin_ret), 0);
	CHECK_EQ(h->ps->id, 0);
}

static char longname[DC_DCFS_NAME_MAX + 2];

static const char *name_of_len(size_t n)
{
	CHECK(n < sizeof(longname));
	memset(longname, 'n', n);
	longname[n] = 0;
	return longname;
}

/* ---- namespace ---------------------------------------------------------------- */

TEST(create_open_close)
{
	struct dc_dcfs_stat st;
	int fd, fd2;

	fx("mem:64M", NULL);
	fd = xcreate("a");
	CHECK_EQ(dc_dcfs_create(FS, "a"), -EEXIST);
	st = xstat(fd);
	CHECK_EQ(st.size, 0);
	CHECK_EQ(st.blocks, 0);
	CHECK_EQ(st.extents, 0);
	CHECK_EQ(st.entries, 0);
	CHECK_EQ(st.pinned_pages, 0);
	CHECK_EQ(st.nlink, 1);
	CHECK_EQ(st.nopen, 1);
	fd2 = xopen("a", DC_DCFS_RDONLY);
	CHECK(fd2 != fd);
	CHECK_EQ(xstat(fd2).ino, st.ino);
	CHECK_EQ(xstat(fd).nopen, 2);
	CHECK_EQ(sfs().open, 2);
	CHECK_EQ(sfs().files, 1);
	CHECK_EQ(dc_dcfs_open(FS, "b", DC_DCFS_RDWR), -ENOENT);
	xclose(fd);
	CHECK_EQ(dc_dcfs_close(FS, fd), -EBADF);
	CHECK_EQ(xstat(fd2).nopen, 1);
	xclose(fd2);
	CHECK_EQ(sfs().open, 0);
	CHECK_EQ(dc_dcfs_lookup(FS, "a", &st), 0);
	CHECK_EQ(st.nopen, 0);
	CHECK_EQ(st.nlink, 1);
	CHECK_EQ(sfs().files, 1);
	/* Data written through one descriptor is seen through another. */
	fd = xopen("a", DC_DCFS_RDWR);
	fd2 = xopen("a", DC_DCFS_RDONLY);
	xwrite(fd, "hello", 5, 0);
	{
		char b[8] = { 0 };

		CHECK_EQ(dc_dcfs_pread(FS, fd2, b, 8, 0), 5);
		CHECK(!memcmp(b, "hello", 5));
	}
	xclose(fd);
	xclose(fd2);
	check_fs();
}

TEST(lookup_and_list)
{
	struct dc_dcfs_dirent ents[3];
	struct dc_dcfs_stat st;
	uint64_t inos[6], cur = 0, last = 0;
	char name[8];
	int n, seen = 0;

	fx("mem:64M", NULL);
	for (int i = 0; i < 6; i++) {
		int fd;

		snprintf(name, sizeof(name), "f%d", i);
		fd = xcreate(name);
		xwrite_byte(fd, 'a' + i, (size_t)(i + 1) * 1000, 0);
		inos[i] = xstat(fd).ino;
		if (i)
			CHECK(inos[i] > inos[i - 1]);
		xclose(fd);
	}
	CHECK_EQ(dc_dcfs_lookup(FS, "f3", &st), 0);
	CHECK_EQ(st.ino, inos[3]);
	CHECK_EQ(st.size, 4000);
	CHECK_EQ(st.blocks, 1);
	CHECK_EQ(dc_dcfs_lookup(FS, "nope", &st), -ENOENT);
	/* In inode order, 3 at a time; f1 goes and f6 comes in between. */
	n = dc_dcfs_list(FS, &cur, ents, 3);
	CHECK_EQ(n, 3);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		CHECK(!strcmp(ents[i].name, name));
		CHECK_EQ(ents[i].ino, inos[i]);
	}
	CHECK_EQ(dc_dcfs_unlink(FS, "f4"), 0);
	{
		int fd = xcreate("f6");

		xclose(fd);
	}
	while ((n = dc_dcfs_list(FS, &cur, ents, 3)) > 0) {
		for (int i = 0; i < n; i++) {
			CHECK(ents[i].ino > last);
			last = ents[i].ino;
			CHECK(strcmp(ents[i].name, "f4") != 0);
			seen |= 1 << (ents[i].name[1] - '0');
		}
	}
	CHECK_EQ(n, 0);
	CHECK_EQ(seen, (1 << 3) | (1 << 5) | (1 << 6));
	CHECK_EQ(dc_dcfs_list(FS, &cur, ents, 3), 0); /* stays at the end */
	/* max 1 */
	cur = 0;
	n = 0;
	while (dc_dcfs_list(FS, &cur, ents, 1) == 1)
		n++;
	CHECK_EQ(n, 6);
	CHECK_EQ(sfs().files, 6);
	check_fs();
}

TEST(rename_replace)
{
	struct dc_dcfs_stat st;
	uint64_t free0, ino_a, ino_b;
	char b[16];
	int fa, fb;

	fx("mem:64M", NULL);
	free0 = sfs().blocks_free;
	fa = xcreate("a");
	xwrite(fa, "AAAA", 4, 0);
	ino_a = xstat(fa).ino;
	xclose(fa);
	fb = xcreate("b");
	xwrite_byte(fb, 'B', 3 * PG, 0);
	ino_b = xstat(fb).ino;
	xclose(fb);
	CHECK_EQ(sfs().blocks_free, free0 - 4);
	/* Rename to itself: nothing. */
	CHECK_EQ(dc_dcfs_rename(FS, "a", "a"), 0);
	CHECK_EQ(dc_dcfs_lookup(FS, "a", &st), 0);
	CHECK_EQ(st.ino, ino_a);
	/* Plain rename. */
	CHECK_EQ(dc_dcfs_rename(FS, "a", "c"), 0);
	CHECK_EQ(dc_dcfs_lookup(FS, "a", &st), -ENOENT);
	CHECK_EQ(dc_dcfs_lookup(FS, "c", &st), 0);
	CHECK_EQ(st.ino, ino_a);
	CHECK_EQ(dc_dcfs_rename(FS, "a", "d"), -ENOENT);
	/* Replace: the idle "b" is evicted, its blocks are free. */
	CHECK_EQ(dc_dcfs_rename(FS, "c", "b"), 0);
	CHECK_EQ(dc_dcfs_lookup(FS, "c", &st), -ENOENT);
	CHECK_EQ(dc_dcfs_lookup(FS, "b", &st), 0);
	CHECK_EQ(st.ino, ino_a);
	CHECK_EQ(st.size, 4);
	CHECK_EQ(sfs().files, 1);
	CHECK_EQ(sfs().blocks_free, free0 - 1);
	fb = xopen("b", DC_DCFS_RDONLY);
	CHECK_EQ(dc_dcfs_pread(FS, fb, b, sizeof(b), 0), 4);
	CHECK(!memcmp(b, "AAAA", 4));
	/* Replace a file that is open: it lives on, unlinked, until closed. */
	fa = xcreate("x");
	xwrite_byte(fa, 'X', PG, 0);
	CHECK_EQ(dc_dcfs_rename(FS, "b", "x"), 0);
	st = xstat(fa);
	CHECK_EQ(st.nlink, 0);
	CHECK(st.ino != ino_a && st.ino != ino_b);
	CHECK_EQ(sfs().files, 2); /* "orphans" counts timed-out evictions only */
	CHECK_EQ(dc_dcfs_pread(FS, fa, b, 1, 0), 1);
	CHECK_EQ(b[0], 'X');
	xclose(fa);
	CHECK_EQ(sfs().files, 1);
	CHECK_EQ(sfs().blocks_free, free0 - 1);
	CHECK_EQ(dc_dcfs_lookup(FS, "x", &st), 0);
	CHECK_EQ(st.ino, ino_a);
	xclose(fb);
	check_fs();
}

TEST(unlink_semantics)
{
	struct dc_dcfs_stat st;
	uint64_t free0, ino;
	char b[8];
	int fd, fd2;

	fx("mem:64M", NULL);
	free0 = sfs().blocks_free;
	fd = xcreate("u");
	xwrite_byte(fd, 'U', 2 * PG, 0);
	ino = xstat(fd).ino;
	CHECK_EQ(dc_dcfs_unlink(FS, "u"), 0);
	CHECK_EQ(dc_dcfs_unlink(FS, "u"), -ENOENT);
	CHECK_EQ(dc_dcfs_lookup(FS, "u", &st), -ENOENT);
	st = xstat(fd);
	CHECK_EQ(st.nlink, 0);
	CHECK_EQ(st.blocks, 2);
	CHECK_EQ(sfs().files, 1);
	/* Still readable and writable through the descriptor. */
	CHECK_EQ(dc_dcfs_pread(FS, fd, b, 1, PG), 1);
	CHECK_EQ(b[0], 'U');
	xwrite(fd, "z", 1, 0);
	/* The name can be used again; a new inode. */
	fd2 = xcreate("u");
	CHECK(xstat(fd2).ino > ino);
	CHECK_EQ(fsize(fd2), 0);
	xclose(fd);
	CHECK_EQ(sfs().orphans, 0);
	CHECK_EQ(sfs().files, 1);
	CHECK_EQ(sfs().blocks_free, free0);
	xclose(fd2);
	check_fs();
}

/* ---- data ----------------------------------------------------------------------- */

TEST(pread_pwrite_sparse)
{
	uint8_t buf[3 * 4096], z[4096] = { 0 };
	struct dc_dcfs_stat st;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("s");
	xwrite(fd, "hello", 5, 10000);
	st = xstat(fd);
	CHECK_EQ(st.size, 10005);
	CHECK_EQ(st.blocks, 1);
	CHECK_EQ(st.extents, 1);
	memset(buf, 0x77, sizeof(buf));
	CHECK_EQ(dc_dcfs_pread(FS, fd, buf, sizeof(buf), 0), 10005);
	CHECK(all_bytes(buf, 0, 10000));
	CHECK(!memcmp(buf + 10000, "hello", 5));
	/* Short at EOF, 0 at and past it. */
	CHECK_EQ(dc_dcfs_pread(FS, fd, buf, 100, 10002), 3);
	CHECK(!memcmp(buf, "llo", 3));
	CHECK_EQ(dc_dcfs_pread(FS, fd, buf, 100, 10005), 0);
	CHECK_EQ(dc_dcfs_pread(FS, fd, buf, 100, 1 << 30), 0);
	CHECK_EQ(dc_dcfs_pread(FS, fd, buf, 0, 0), 0);
	/* A write far away: a second extent, the gap a hole. */
	xwrite(fd, "far", 3, 100 * PG);
	st = xstat(fd);
	CHECK_EQ(st.size, 100 * PG + 3);
	CHECK_EQ(st.blocks, 2);
	CHECK_EQ(st.extents, 2);
	for (uint64_t off = PG * 3; off < 100 * PG; off += PG) {
		CHECK_EQ(dc_dcfs_pread(FS, fd, buf, PG, off), (int64_t)PG);
		CHECK(!memcmp(buf, z, PG));
	}
	CHECK_EQ(pgoff_of(fd, 50 * PG), UINT64_MAX);
	CHECK(pgoff_of(fd, 100 * PG) != UINT64_MAX);
	xclose(fd);
	check_fs();
}

TEST(extending_writes)
{
	enum { LEN = 200000 };
	uint8_t *model = calloc(1, LEN), *src = malloc(LEN);
	uint64_t size = 0, rng = t_seed(11);
	int fd;

	CHECK(model && src);
	fx("mem:64M", NULL);
	fd = xcreate("e");
	pattern(src, LEN, 3);
	/* Appends of odd sizes crossing block boundaries, then overwrites. */
	while (size < LEN - 5000) {
		size_t n = 1 + t_rand(&rng) % 4999;

		xwrite(fd, src + size, n, size);
		memcpy(model + size, src + size, n);
		size += n;
		CHECK_EQ(fsize(fd), size);
	}
	for (int i = 0; i < 50; i++) {
		uint64_t off = t_rand(&rng) % size;
		size_t n = 1 + t_rand(&rng) % 9000;
		uint8_t tmp[9000];

		if (off + n > LEN)
			n = LEN - off;

		pattern(tmp, n, 100 + i);
		xwrite(fd, tmp, n, off);
		memcpy(model + off, tmp, n);
		if (off + n > size)
			size = off + n;
	}
	check_contents(fd, model, size);
	CHECK_EQ(xstat(fd).blocks, (size + PG - 1) / PG);
	xclose(fd);
	check_fs();
	free(model);
	free(src);
}

TEST(truncate_grow_exposes_zeros)
{
	uint8_t model[6 * 4096];
	struct dc_dcfs_stat st;
	uint64_t free0;
	int fd;

	fx("mem:64M", NULL);
	free0 = sfs().blocks_free;
	fd = xcreate("t");
	xwrite_byte(fd, 0xAA, 3 * PG, 0);
	CHECK_EQ(sfs().blocks_free, free0 - 3);
	/* Shrink into the middle of block 1: block 2 freed, 1's tail zeroed. */
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 5000, NULL), 0);
	st = xstat(fd);
	CHECK_EQ(st.size, 5000);
	CHECK_EQ(st.blocks, 2);
	CHECK_EQ(sfs().blocks_free, free0 - 2);
	/* Grow: a hole, and the old tail of block 1 reads zeros. */
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 6 * PG, NULL), 0);
	st = xstat(fd);
	CHECK_EQ(st.size, 6 * PG);
	CHECK_EQ(st.blocks, 2);
	memset(model, 0, sizeof(model));
	memset(model, 0xAA, 5000);
	check_contents(fd, model, sizeof(model));
	/* Also through a fault of block 1 (the linear map: what a view sees). */
	{
		struct dc_dcfs_fault_result res;

		CHECK_EQ(dc_dcfs_fault(FS, fd, 1, 0, 0, &res), 0);
		CHECK(!res.zero);
		CHECK(all_bytes(res.addr, 0xAA, 5000 - PG));
		CHECK(all_bytes((char *)res.addr + 5000 - PG, 0, 2 * PG - 5000));
	}
	/* Same size: nothing. Shrink to 0: every block free. */
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 6 * PG, NULL), 0);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 0, NULL), 0);
	st = xstat(fd);
	CHECK_EQ(st.size, 0);
	CHECK_EQ(st.blocks, 0);
	CHECK_EQ(st.extents, 0);
	CHECK_EQ(st.entries, 0);
	CHECK_EQ(sfs().blocks_free, free0);
	/* Grow again after shrink to 0: all zeros. */
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 2 * PG + 7, NULL), 0);
	memset(model, 0, sizeof(model));
	check_contents(fd, model, 2 * PG + 7);
	xclose(fd);
	check_fs();
}

TEST(fsync_flushes)
{
	struct dc_dcfs_fault_result res;
	int fd, ro;

	fx("mem:64M", NULL);
	fd = xcreate("y");
	xwrite_byte(fd, 1, 3 * PG, 0);
	CHECK_EQ(dc_dcfs_fsync(FS, fd, false), 0);
	CHECK_EQ(dc_dcfs_fsync(FS, fd, true), 0);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1, DC_DCFS_FAULT_WRITE, 0, &res), 0);
	memset(res.addr, 2, PG);
	CHECK_EQ(dc_dcfs_fsync(FS, fd, false), 0);
	CHECK_EQ(dc_dcfs_fsync(FS, fd, false), 0); /* nothing dirty: still 0 */
	ro = xopen("y", DC_DCFS_RDONLY);
	{
		uint8_t b[4096];

		CHECK_EQ(dc_dcfs_pread(FS, ro, b, PG, PG), (int64_t)PG);
		CHECK(all_bytes(b, 2, PG));
	}
	xclose(ro);
	xclose(fd);
	CHECK_EQ(dc_dcfs_fsync(FS, fd, false), -EBADF);
	check_fs();
}

/* The sync mount option: accepted, and writes and fsync still work. */
TEST(sync_mount)
{
	struct dc_dcfs_fault_result res;
	uint8_t b[100];
	int fd;

	fx("mem:64M", "sync");
	fd = xcreate("s");
	xwrite_byte(fd, 3, 100, 0);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 0, DC_DCFS_FAULT_WRITE, 0, &res), 0);
	((uint8_t *)res.addr)[0] = 4;
	CHECK_EQ(dc_dcfs_fsync(FS, fd, true), 0);
	CHECK_EQ(dc_dcfs_pread(FS, fd, b, 100, 0), 100);
	CHECK_EQ(b[0], 4);
	CHECK(all_bytes(b + 1, 3, 99));
	xclose(fd);
	check_fs();
}

/* ---- iomap and faults --------------------------------------------------------------- */

TEST(iomap_hole_and_mapped)
{
	struct dc_dcfs_iomap m;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("i");
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 8 * PG, NULL), 0);
	xwrite_byte(fd, 9, 2 * PG, 2 * PG);
	CHECK_EQ(dc_dcfs_iomap(FS, fd, 0, 8 * PG, 0, &m), 0);
	CHECK_EQ(m.type, DC_DCFS_IOMAP_HOLE);
	CHECK_EQ(m.offset, 0);
	CHECK_EQ(m.length, 2 * PG);
	CHECK(!m.fresh);
	CHECK_EQ(dc_dcfs_iomap(FS, fd, 2 * PG + 10, 8 * PG, 0, &m), 0);
	CHECK_EQ(m.type, DC_DCFS_IOMAP_MAPPED);
	CHECK(m.offset <= 2 * PG + 10);
	CHECK(m.offset + m.length <= 4 * PG);
	CHECK(!m.fresh);
	CHECK(all_bytes(iomap_addr(&m, 2 * PG + 10), 9, PG - 10));
	/* A write iomap of a hole allocates one zeroed block. */
	CHECK_EQ(dc_dcfs_iomap(FS, fd, 5 * PG, PG, DC_DCFS_IOMAP_WRITE, &m), 0);
	CHECK_EQ(m.type, DC_DCFS_IOMAP_MAPPED);
	CHECK(m.fresh);
	CHECK_EQ(m.offset, 5 * PG);
	CHECK(m.length >= PG);
	CHECK(all_bytes(iomap_addr(&m, 5 * PG), 0, PG));
	CHECK_EQ(xstat(fd).blocks, 3);
	/* Again: the same block, not fresh. */
	{
		uint64_t pg = m.pgoff;

		CHECK_EQ(dc_dcfs_iomap(FS, fd, 5 * PG, PG, DC_DCFS_IOMAP_WRITE, &m), 0);
		CHECK(!m.fresh);
		CHECK_EQ(m.pgoff, pg);
	}
	/* Past EOF: a hole, never allocated. */
	CHECK_EQ(dc_dcfs_iomap(FS, fd, 100 * PG, PG, DC_DCFS_IOMAP_WRITE, &m), 0);
	CHECK_EQ(m.type, DC_DCFS_IOMAP_HOLE);
	CHECK_EQ(xstat(fd).blocks, 3);
	CHECK_EQ(fsize(fd), 8 * PG);
	xclose(fd);
	check_fs();
}

/* A write iomap asking for 2 MiB of a hole gets a 2 MiB aligned run (zeroed). */
TEST(iomap_write_2m_run)
{
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_iomap m;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("run");
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 4u << 20, NULL), 0);
	CHECK_EQ(dc_dcfs_iomap(FS, fd, 2u << 20, 2u << 20, DC_DCFS_IOMAP_WRITE, &m), 0);
	CHECK_EQ(m.type, DC_DCFS_IOMAP_MAPPED);
	CHECK(m.fresh);
	CHECK_EQ(m.offset, 2u << 20);
	CHECK_EQ(m.length, 2u << 20);
	CHECK_EQ(m.pgoff % 512, 0);
	CHECK_EQ(xstat(fd).blocks, 512);
	CHECK(all_bytes(dc_region_addr(R, m.pgoff), 0, 2u << 20));
	CHECK_EQ(dc_dcfs_fault(FS, fd, 600, 0, 9, &res), 0);
	CHECK_EQ(res.order, 9);
	CHECK_EQ(res.index, 512);
	/* The other half is still a hole. */
	CHECK_EQ(dc_dcfs_iomap(FS, fd, 0, 2u << 20, 0, &m), 0);
	CHECK_EQ(m.type, DC_DCFS_IOMAP_HOLE);
	CHECK_EQ(m.length, 2u << 20);
	xclose(fd);
	check_fs();
}

TEST(fault_read_hole_then_write)
{
	struct dc_dcfs_fault_result res, w;
	struct dc_dcfs_stat st;
	uint64_t faults0;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("h");
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 4 * PG, NULL), 0);
	faults0 = sfs().faults;
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1, 0, 0, &res), 0);
	CHECK(res.zero);
	CHECK(!res.writable);
	CHECK_EQ(res.index, 1);
	CHECK_EQ(res.order, 0);
	CHECK(res.addr != NULL);
	CHECK(all_bytes(res.addr, 0, PG));
	st = xstat(fd);
	CHECK_EQ(st.blocks, 0);
	CHECK_EQ(st.entries, 1);
	CHECK(sfs().faults > faults0);
	/* The write fault allocates and replaces the zero page. */
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1, DC_DCFS_FAULT_WRITE, 0, &w), 0);
	CHECK(!w.zero);
	CHECK(w.writable);
	CHECK_EQ(w.index, 1);
	CHECK(w.addr != res.addr);
	CHECK(all_bytes(w.addr, 0, PG));
	CHECK_EQ(w.pgoff, pgoff_of(fd, PG));
	CHECK(w.addr == dc_region_addr(R, w.pgoff));
	st = xstat(fd);
	CHECK_EQ(st.blocks, 1);
	CHECK_EQ(st.entries, 1);
	memcpy(w.addr, "mapped", 6);
	{
		char b[8];

		CHECK_EQ(dc_dcfs_pread(FS, fd, b, 6, PG), 6);
		CHECK(!memcmp(b, "mapped", 6));
	}
	/* A read fault now maps the block. */
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1, 0, 0, &res), 0);
	CHECK(!res.zero);
	CHECK_EQ(res.pgoff, w.pgoff);
	/* The zero page stays zero for other holes. */
	CHECK_EQ(dc_dcfs_fault(FS, fd, 2, 0, 0, &res), 0);
	CHECK(res.zero);
	CHECK(all_bytes(res.addr, 0, PG));
	/* Past EOF: -EFAULT (SIGBUS), in both directions. */
	CHECK_EQ(dc_dcfs_fault(FS, fd, 4, 0, 0, &res), -EFAULT);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 4, DC_DCFS_FAULT_WRITE, 0, &res), -EFAULT);
	CHECK_EQ(xstat(fd).blocks, 1);
	/* A partial last page can be faulted. */
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 4 * PG + 1, NULL), 0);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 4, 0, 0, &res), 0);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 5, 0, 0, &res), -EFAULT);
	xclose(fd);
	check_fs();
}

/* Bug 20: pwrite into a hole mapped by the zero page must unmap that entry. */
TEST(pwrite_after_zero_page_fault)
{
	struct dc_dcfs_fault_result res;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("z");
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 4 * PG, NULL), 0);
	for (uint64_t i = 0; i < 4; i++) {
		CHECK_EQ(dc_dcfs_fault(FS, fd, i, 0, 0, &res), 0);
		CHECK(res.zero);
	}
	CHECK_EQ(xstat(fd).entries, 4);
	xwrite(fd, "data!", 5, PG + 100);
	xwrite_byte(fd, 0x42, 2 * PG, 2 * PG); /* two whole pages */
	check_fs(); /* a ZERO entry only over a hole */
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1, 0, 0, &res), 0);
	CHECK(!res.zero);
	CHECK_EQ(res.pgoff, pgoff_of(fd, PG));
	CHECK(!memcmp((char *)res.addr + 100, "data!", 5));
	for (uint64_t i = 2; i < 4; i++) {
		CHECK_EQ(dc_dcfs_fault(FS, fd, i, 0, 0, &res), 0);
		CHECK(!res.zero);
		CHECK(all_bytes(res.addr, 0x42, PG));
	}
	/* Page 0 is still a hole, still the zero page. */
	CHECK_EQ(dc_dcfs_fault(FS, fd, 0, 0, 0, &res), 0);
	CHECK(res.zero);
	xclose(fd);
	check_fs();
}

/* On a region of 2 MiB folios every entry is one folio (order 9). */
TEST(fault_order9_region)
{
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_stat st;
	int fd;

	if (dc_region_create("mem:64M,order=9", &R)) {
		R = NULL;
		t_skip("cannot create mem:64M,order=9");
	}
	CHECK_EQ(dc_dcfs_mount(R, NULL, NULL, NULL, &FS), 0);
	CHECK_EQ(sfs().block_size, 2u << 20);
	CHECK_EQ(sfs().blocks * sfs().block_size, 64u << 20);
	fd = xcreate("big");
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 4u << 20, NULL), 0);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 3, DC_DCFS_FAULT_WRITE, 0, &res), 0);
	CHECK_EQ(res.order, 9);
	CHECK_EQ(res.index, 0);
	CHECK(!res.zero);
	/* addr and pgoff are those of page 3, in a 2 MiB aligned block. */
	CHECK_EQ((res.pgoff - 3) % 512, 0);
	CHECK(res.addr == dc_region_addr(R, res.pgoff));
	CHECK(all_bytes((char *)res.addr - 3 * PG, 0, 2u << 20));
	st = xstat(fd);
	CHECK_EQ(st.blocks, 512);
	CHECK_EQ(sfs().blocks_free, sfs().blocks - 1);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 600, DC_DCFS_FAULT_WRITE, 9, &res), 0);
	CHECK_EQ(res.order, 9);
	CHECK_EQ(res.index, 512);
	CHECK_EQ(xstat(fd).blocks, 1024);
	/* A small write allocates one whole block. */
	xwrite(fd, "x", 1, 5u << 20);
	CHECK_EQ(xstat(fd).blocks, 1536);
	CHECK_EQ(fsize(fd), (5u << 20) + 1);
	/* Truncate into a block keeps it, and zeroes its tail. */
	CHECK_EQ(dc_dcfs_truncate(FS, fd, (4u << 20) + 10, NULL), 0);
	CHECK_EQ(xstat(fd).blocks, 1536);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 1u << 20, NULL), 0);
	CHECK_EQ(xstat(fd).blocks, 512);
	xclose(fd);
	check_fs();
}

/* A 2 MiB aligned large write on a 4 KiB region maps with one PMD entry. */
TEST(large_write_pmd_fault)
{
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_iomap m;
	uint8_t *buf = malloc(4u << 20);
	int fd;

	CHECK(buf);
	fx("mem:64M", NULL);
	CHECK_EQ(sfs().block_size, PG);
	fd = xcreate("pmd");
	pattern(buf, 4u << 20, 5);
	xwrite(fd, buf, 4u << 20, 0);
	CHECK_EQ(dc_dcfs_iomap(FS, fd, 0, 2u << 20, 0, &m), 0);
	CHECK_EQ(m.type, DC_DCFS_IOMAP_MAPPED);
	CHECK_EQ(m.offset, 0);
	CHECK_EQ(m.length, 2u << 20);
	CHECK_EQ(m.pgoff % 512, 0);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 5, 0, 9, &res), 0);
	CHECK_EQ(res.order, 9);
	CHECK_EQ(res.index, 0);
	CHECK_EQ(res.pgoff, m.pgoff + 5); /* the page of index 5 */
	CHECK(!memcmp((char *)res.addr - 5 * PG, buf, 2u << 20));
	CHECK_EQ(dc_dcfs_fault(FS, fd, 700, DC_DCFS_FAULT_WRITE, 9, &res), 0);
	CHECK_EQ(res.order, 9);
	CHECK_EQ(res.index, 512);
	CHECK(res.writable);
	CHECK_EQ((res.pgoff - (700 - 512)) % 512, 0);
	CHECK(!memcmp((char *)res.addr - (700 - 512) * PG, buf + (2u << 20), 2u << 20));
	CHECK_EQ(xstat(fd).entries, 2);
	/* A caller that can map 4 KiB only gets 4 KiB. */
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 8u << 20, NULL), 0);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1030, DC_DCFS_FAULT_WRITE, 0, &res), 0);
	CHECK_EQ(res.order, 0);
	CHECK_EQ(res.index, 1030);
	/* A 2 MiB range with a 4 KiB block only: no PMD. */
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1100, 0, 9, &res), 0);
	CHECK_EQ(res.order, 0);
	CHECK_EQ(res.index, 1100);
	xclose(fd);
	check_fs();
	free(buf);
}

TEST(stat_fields)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_stat st;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("st");
	xwrite_byte(fd, 1, PG, 0);
	xwrite_byte(fd, 2, 2 * PG, 10 * PG);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 20 * PG, NULL), 0);
	st = xstat(fd);
	CHECK_EQ(st.size, 20 * PG);
	CHECK_EQ(st.blocks, 3);
	CHECK_EQ(st.extents, 2);
	CHECK_EQ(st.entries, 0);
	CHECK_EQ(st.pinned_pages, 0);
	CHECK_EQ(st.nlink, 1);
	CHECK_EQ(st.nopen, 1);
	for (uint64_t i = 0; i < 3; i++)
		CHECK_EQ(dc_dcfs_fault(FS, fd, i * 5, 0, 0, &res), 0);
	CHECK_EQ(xstat(fd).entries, 3);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 10 * PG + 5, PG, 0, "st", &ps), 0); /* 2 pages */
	st = xstat(fd);
	CHECK_EQ(st.pinned_pages, 2);
	CHECK_EQ(sfs().pins, 1);
	CHECK_EQ(sfs().pinned_pages, 2);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(xstat(fd).pinned_pages, 0);
	CHECK_EQ(sfs().pins, 0);
	CHECK_EQ(sfs().pinned_pages, 0);
	{
		struct dc_dcfs_statfs s = sfs();

		CHECK_EQ(s.block_size, PG);
		CHECK_EQ(s.blocks, (64u << 20) / PG);
		CHECK_EQ(s.blocks_free, s.blocks - 3);
		CHECK_EQ(s.files, 1);
		CHECK_EQ(s.open, 1);
		CHECK_EQ(s.orphans, 0);
	}
	xclose(fd);
	check_fs();
}

/* ---- pins ------------------------------------------------------------------------------ */

TEST(pin_segments)
{
	struct dc_dcfs_pinset ps = { 0 };
	uint8_t b[3 * 4096];
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("p");
	xwrite_byte(fd, 0x11, 8 * PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, fd, PG + 100, 2 * PG, 0, "seg", &ps), 0);
	check_segs(&ps, PG + 100, 2 * PG);
	for (uint64_t off = PG + 100; off < 3 * PG + 100; off += PG)
		CHECK_EQ(pin_page(&ps, off, NULL), pgoff_of(fd, off));
	CHECK((char *)ps.segs[0].addr ==
	      (char *)dc_region_addr(R, ps.segs[0].pgoff) + 100);
	for (unsigned i = 0; i < ps.nsegs; i++) {
		CHECK(dc_folio_maybe_dma_pinned(dc_folio_lookup(R, ps.segs[i].pgoff)));
		if (i + 1 < ps.nsegs) /* merged when contiguous */
			CHECK((char *)ps.segs[i].addr + ps.segs[i].len != ps.segs[i + 1].addr);
	}
	CHECK_EQ(xstat(fd).pinned_pages, 3);
	dma_write(&ps, 0x22);
	CHECK_EQ(dc_dcfs_pread(FS, fd, b, sizeof(b), PG), (int64_t)sizeof(b));
	CHECK(all_bytes(b, 0x11, 100));
	CHECK(all_bytes(b + 100, 0x22, 2 * PG));
	CHECK(all_bytes(b + 100 + 2 * PG, 0x11, PG - 100));
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(ps.id, 0);
	CHECK(!dc_folio_maybe_dma_pinned(dc_folio_lookup(R, pgoff_of(fd, PG))));
	/* A pin of the whole file, and one byte. */
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, 8 * PG, 0, NULL, &ps), 0);
	check_segs(&ps, 0, 8 * PG);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 8 * PG - 1, 1, 0, NULL, &ps), 0);
	check_segs(&ps, 8 * PG - 1, 1);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	xclose(fd);
	check_fs();
}

TEST(pins_listing)
{
	struct dc_dcfs_pinset a = { 0 }, b = { 0 }, c = { 0 };
	struct dc_dcfs_pin_info info[4];
	uint64_t ino;
	int fd, ro;

	fx("mem:64M", NULL);
	fd = xcreate("l");
	xwrite_byte(fd, 1, 16 * PG, 0);
	ino = xstat(fd).ino;
	ro = xopen("l", DC_DCFS_RDONLY);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, 2 * PG, 0, "nic0", &a), 0);
	CHECK_EQ(dc_dcfs_pin(FS, ro, 8 * PG + 1, 3 * PG, DC_DCFS_PIN_READONLY, "gpu1", &b), 0);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 4 * PG, PG, 0, "a-tag-that-is-much-longer-than-31-bytes", &c),
		 0);
	CHECK(a.id && b.id && c.id && a.id != b.id && b.id != c.id && a.id != c.id);
	memset(info, 0, sizeof(info));
	CHECK_EQ(dc_dcfs_pins(FS, fd, 0, UINT64_MAX, info, 4), 3);
	CHECK_EQ(info[0].id, a.id);
	CHECK(!strcmp(info[0].tag, "nic0"));
	CHECK_EQ(info[0].ino, ino);
	CHECK_EQ(info[0].offset, 0);
	CHECK_EQ(info[0].length, 2 * PG);
	CHECK_EQ(info[0].pages, 2);
	CHECK_EQ(info[0].flags, 0);
	CHECK_EQ(info[1].id, b.id);
	CHECK(!strcmp(info[1].tag, "gpu1"));
	CHECK_EQ(info[1].offset, 8 * PG + 1);
	CHECK_EQ(info[1].length, 3 * PG);
	CHECK_EQ(info[1].pages, 4);
	CHECK_EQ(info[1].flags, DC_DCFS_PIN_READONLY);
	CHECK_EQ(info[2].id, c.id);
	CHECK_EQ(strlen(info[2].tag), DC_DCFS_TAG_MAX);
	CHECK(!strncmp(info[2].tag, "a-tag-that-is-much-longer-than-31-bytes", DC_DCFS_TAG_MAX));
	CHECK(info[0].age_ns >= info[1].age_ns && info[1].age_ns >= info[2].age_ns);
	/* Through either descriptor; a range selects. */
	CHECK_EQ(dc_dcfs_pins(FS, ro, 0, UINT64_MAX, NULL, 0), 3);
	CHECK_EQ(dc_dcfs_pins(FS, fd, 2 * PG, 2 * PG, info, 4), 0);
	CHECK_EQ(dc_dcfs_pins(FS, fd, 2 * PG, 2 * PG + 1, info, 4), 1);
	CHECK_EQ(info[0].id, c.id);
	CHECK_EQ(dc_dcfs_pins(FS, fd, 11 * PG, 1, info, 4), 1);
	CHECK_EQ(info[0].id, b.id);
	/* Pins hold whole pages: b holds page 11, not page 12. */
	CHECK_EQ(dc_dcfs_pins(FS, fd, 11 * PG + 1, 100, info, 4), 1);
	CHECK_EQ(dc_dcfs_pins(FS, fd, 12 * PG, 100, info, 4), 0);
	/* More than @max: the count, the first @max filled. */
	memset(info, 0, sizeof(info));
	CHECK_EQ(dc_dcfs_pins(FS, fd, 0, UINT64_MAX, info, 1), 3);
	CHECK_EQ(info[0].id, a.id);
	CHECK_EQ(info[1].id, 0);
	CHECK_EQ(sfs().pins, 3);
	CHECK_EQ(sfs().pinned_pages, 2 + 4 + 1);
	CHECK_EQ(xstat(fd).pinned_pages, 7);
	CHECK_EQ(dc_dcfs_unpin(FS, &b), 0);
	CHECK_EQ(dc_dcfs_pins(FS, fd, 0, UINT64_MAX, info, 4), 2);
	CHECK_EQ(info[0].id, a.id);
	CHECK_EQ(info[1].id, c.id);
	CHECK(!strcmp(info[1].tag, "a-tag-that-is-much-longer-than-"));
	CHECK_EQ(dc_dcfs_unpin(FS, &a), 0);
	CHECK_EQ(dc_dcfs_unpin(FS, &c), 0);
	CHECK_EQ(dc_dcfs_pins(FS, fd, 0, UINT64_MAX, info, 4), 0);
	/* A NULL tag is "". */
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, 1, 0, NULL, &a), 0);
	CHECK_EQ(dc_dcfs_pins(FS, fd, 0, UINT64_MAX, info, 4), 1);
	CHECK(!strcmp(info[0].tag, ""));
	CHECK_EQ(dc_dcfs_unpin(FS, &a), 0);
	xclose(ro);
	xclose(fd);
	check_fs();
}

/* Case 6: a write pin of a hole allocates a block; DMA never reaches the zero page. */
TEST(write_pin_of_hole_allocates)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_fault_result res;
	uint8_t b[4096];
	int fd, other;

	fx("mem:64M", NULL);
	fd = xcreate("hole");
	other = xcreate("other");
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 4 * PG, NULL), 0);
	CHECK_EQ(dc_dcfs_truncate(FS, other, 4 * PG, NULL), 0);
	/* A read fault of the hole first: the pin must not take the zero page. */
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1, 0, 0, &res), 0);
	CHECK(res.zero);
	CHECK_EQ(dc_dcfs_pin(FS, fd, PG, PG, 0, "dma", &ps), 0);
	check_segs(&ps, PG, PG);
	CHECK(ps.segs[0].pgoff != UINT64_MAX);
	CHECK(ps.segs[0].addr != res.addr);
	CHECK_EQ(ps.segs[0].pgoff, pgoff_of(fd, PG));
	CHECK_EQ(xstat(fd).blocks, 1);
	CHECK(all_bytes(ps.segs[0].addr, 0, PG));
	dma_write(&ps, 0xEE);
	/* The zero page still reads zeros: another sparse file, another hole. */
	CHECK_EQ(dc_dcfs_fault(FS, other, 0, 0, 0, &res), 0);
	CHECK(res.zero);
	CHECK(all_bytes(res.addr, 0, PG));
	CHECK_EQ(dc_dcfs_fault(FS, fd, 2, 0, 0, &res), 0);
	CHECK(res.zero);
	CHECK(all_bytes(res.addr, 0, PG));
	CHECK_EQ(dc_dcfs_pread(FS, other, b, PG, 3 * PG), (int64_t)PG);
	CHECK(all_bytes(b, 0, PG));
	/* The file sees the DMA. */
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1, 0, 0, &res), 0);
	CHECK(!res.zero);
	CHECK_EQ(res.pgoff, ps.segs[0].pgoff);
	CHECK_EQ(dc_dcfs_pread(FS, fd, b, PG, PG), (int64_t)PG);
	CHECK(all_bytes(b, 0xEE, PG));
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(xstat(other).blocks, 0);
	xclose(fd);
	xclose(other);
	check_fs();
}

TEST(readonly_pin_of_hole)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_stat st;
	int fd, ro;

	fx("mem:64M", NULL);
	fd = xcreate("rh");
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 4 * PG, NULL), 0);
	ro = xopen("rh", DC_DCFS_RDONLY);
	CHECK_EQ(dc_dcfs_pin(FS, ro, PG, 2 * PG, DC_DCFS_PIN_READONLY, "ro", &ps), 0);
	check_segs(&ps, PG, 2 * PG);
	for (unsigned i = 0; i < ps.nsegs; i++) {
		CHECK_EQ(ps.segs[i].pgoff, UINT64_MAX);
		CHECK(ps.segs[i].len <= PG); /* the zero page is one page */
		CHECK(all_bytes(ps.segs[i].addr, 0, ps.segs[i].len));
	}
	st = xstat(fd);
	CHECK_EQ(st.blocks, 0);
	CHECK_EQ(sfs().pins, 1);
	CHECK_EQ(sfs().blocks_free, sfs().blocks);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	/* A read-only pin of a block pins the block. */
	xwrite(fd, "abc", 3, PG);
	CHECK_EQ(dc_dcfs_pin(FS, ro, PG, 3, DC_DCFS_PIN_READONLY, "ro", &ps), 0);
	CHECK_EQ(ps.segs[0].pgoff, pgoff_of(fd, PG));
	CHECK(!memcmp(ps.segs[0].addr, "abc", 3));
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	xclose(ro);
	xclose(fd);
	check_fs();
}

/* Bug 21: a block newly given to a file reads as zeros, whichever path allocated it. */
TEST(no_stale_data)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_iomap m;
	uint64_t nb, blocks;
	uint8_t *b = malloc(PG);
	int fd, g;

	CHECK(b);
	fx("mem:4M", NULL);
	blocks = sfs().blocks;
	/* Every block of the region holds old data, then goes back free. */
	fd = xcreate("old");
	xwrite_byte(fd, 0xDA, blocks * PG, 0);
	CHECK_EQ(sfs().blocks_free, 0);
	xclose(fd);
	CHECK_EQ(dc_dcfs_unlink(FS, "old"), 0);
	CHECK_EQ(sfs().blocks_free, blocks);
	/* Take blocks back through every allocating path; each reads zeros. */
	nb = blocks / 8;
	g = xcreate("new");
	CHECK_EQ(dc_dcfs_truncate(FS, g, 8 * nb * PG, NULL), 0);
	for (uint64_t i = 0; i < nb; i++) {
		uint64_t base = 8 * i * PG;

		/* 0: a small pwrite; the rest of the block reads zeros. */
		xwrite(g, "w", 1, base + 17);
		/* 1: a write fault. */
		CHECK_EQ(dc_dcfs_fault(FS, g, 8 * i + 1, DC_DCFS_FAULT_WRITE, 0, &res), 0);
		CHECK(all_bytes(res.addr, 0, PG));
		/* 2: a write iomap. */
		CHECK_EQ(dc_dcfs_iomap(FS, g, base + 2 * PG, PG, DC_DCFS_IOMAP_WRITE, &m), 0);
		CHECK_EQ(m.type, DC_DCFS_IOMAP_MAPPED);
		CHECK(all_bytes(iomap_addr(&m, base + 2 * PG), 0, PG));
		/* 3: a write pin. */
		CHECK_EQ(dc_dcfs_pin(FS, g, base + 3 * PG + 5, 10, 0, "z", &ps), 0);
		CHECK(all_bytes((char *)ps.segs[0].addr - 5, 0, PG));
		CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
		/* 4: fallocate ALLOC, 5: ZERO, 6-7: a pwrite of two partial pages. */
		CHECK_EQ(dc_dcfs_fallocate(FS, g, DC_DCFS_FALLOC_ALLOC, base + 4 * PG, PG, NULL), 0);
		CHECK_EQ(dc_dcfs_fallocate(FS, g, DC_DCFS_FALLOC_ZERO, base + 5 * PG + 1, 10, NULL),
			 0);
		xwrite(g, "xy", 2, base + 7 * PG - 1);
	}
	CHECK_EQ(sfs().blocks_free, 0);
	for (uint64_t p = 0; p < 8 * nb; p++) {
		CHECK_EQ(dc_dcfs_pread(FS, g, b, PG, p * PG), (int64_t)PG);
		if (p % 8 == 0) {
			CHECK_EQ(b[17], 'w');
			b[17] = 0;
		}
		if (p % 8 == 6) {
			CHECK_EQ(b[PG - 1], 'x');
			b[PG - 1] = 0;
		}
		if (p % 8 == 7) {
			CHECK_EQ(b[0], 'y');
			b[0] = 0;
		}
		if (!all_bytes(b, 0, PG))
			fprintf(stderr, "[%s] page %llu (path %llu) holds stale data\n", t_current,
				(unsigned long long)p, (unsigned long long)(p % 8));
		CHECK(all_bytes(b, 0, PG));
	}
	xclose(g);
	check_fs();
	free(b);
}

/* ---- break layouts: pins vs. truncate, fallocate, eviction ------------------------------ */

/*
 * Case 1: DMA in flight, then truncate.  The region is full but for file
 * A's four blocks, so the file created after the truncate must get them.
 */
TEST(dma_in_flight_then_truncate)
{
	enum { NPG = 4 };
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_fault_result res;
	struct holder h;
	uint64_t old[NPG], filler;
	uint8_t model[NPG * 4096];
	uint8_t *big;
	int a, f, b;

	fx("mem:4M", NULL);
	a = xcreate("a");
	xwrite_byte(a, 0x11, NPG * PG, 0);
	for (int i = 0; i < NPG; i++)
		old[i] = pgoff_of(a, i * PG);
	filler = sfs().blocks_free;
	big = malloc(filler * PG);
	CHECK(big);
	memset(big, 0x22, filler * PG);
	f = xcreate("filler");
	xwrite(f, big, filler * PG, 0);
	free(big);
	CHECK_EQ(sfs().blocks_free, 0);
	xclose(f);

	CHECK_EQ(dc_dcfs_pin(FS, a, 0, NPG * PG, 0, "dma", &ps), 0);
	check_segs(&ps, 0, NPG * PG);
	for (int i = 0; i < NPG; i++)
		CHECK_EQ(pin_page(&ps, i * PG, NULL), old[i]);
	holder_start(&h, &ps, 0xDA);
	CHECK_EQ(dc_dcfs_truncate(FS, a, 0, NULL), 0);
	holder_finish(&h);
	CHECK_EQ(fsize(a), 0);
	CHECK_EQ(xstat(a).blocks, 0);
	CHECK_EQ(sfs().blocks_free, NPG);
	CHECK(sfs().break_waits > h.waits0);

	/* A new file gets the freed blocks; nothing of the DMA shows. */
	b = xcreate("b");
	memset(model, 0, sizeof(model));
	xwrite_byte(b, 0x33, 100, 0);
	memset(model, 0x33, 100);
	xwrite_byte(b, 0x33, 100, 3 * PG + 5);
	memset(model + 3 * PG + 5, 0x33, 100);
	CHECK_EQ(dc_dcfs_fault(FS, b, 1, DC_DCFS_FAULT_WRITE, 0, &res), 0);
	CHECK_EQ(sfs().blocks_free, 1);
	for (int i = 0; i < NPG; i++) {
		uint64_t pg = pgoff_of(b, i * PG);
		bool reused = false;

		if (i == 2) {
			CHECK_EQ(pg, UINT64_MAX);
			continue;
		}
		for (int j = 0; j < NPG; j++)
			reused |= pg == old[j];
		CHECK(reused);
		CHECK(!any_byte(dc_region_addr(R, pg), 0xDA, PG));
	}
	check_contents(b, model, 3 * PG + 105);
	CHECK(all_bytes(res.addr, 0, PG));
	xclose(b);
	xclose(a);
	check_fs();
}

/* Case 2: the fallocate modes over a pinned page wait for it. */
enum { FA_NPG = 8 };

static void falloc_over_pin(unsigned mode, uint64_t off, uint64_t len, uint64_t pin_page,
			    uint64_t want_blocks)
{
	uint8_t model[(FA_NPG + 4) * 4096], want[(FA_NPG + 4) * 4096];
	struct dc_dcfs_pinset ps = { 0 };
	uint64_t size = FA_NPG * PG, wsize;
	struct holder h;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("fa");
	pattern(model, size, 77);
	xwrite(fd, model, size, 0);
	CHECK_EQ(dc_dcfs_pin(FS, fd, pin_page * PG, PG, 0, "falloc", &ps), 0);
	holder_start(&h, &ps, 0xD5);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, mode, off, len, NULL), 0);
	holder_finish(&h);
	/* The DMA landed before the operation: the model has it. */
	memset(model + pin_page * PG, 0xD5, PG);
	memset(want, 0, sizeof(want));
	switch (mode) {
	case DC_DCFS_FALLOC_PUNCH:
	case DC_DCFS_FALLOC_ZERO:
		memcpy(want, model, size);
		memset(want + off, 0, len);
		wsize = size;
		break;
	case DC_DCFS_FALLOC_COLLAPSE:
		memcpy(want, model, off);
		memcpy(want + off, model + off + len, size - off - len);
		wsize = size - len;
		break;
	case DC_DCFS_FALLOC_INSERT:
		memcpy(want, model, off);
		memcpy(want + off + len, model + off, size - off);
		wsize = size + len;
		break;
	default:
		CHECK(0);
		return;
	}
	check_contents(fd, want, wsize);
	CHECK_EQ(xstat(fd).blocks, want_blocks);
	CHECK_EQ(xstat(fd).pinned_pages, 0);
	check_fs();
	xclose(fd);
}

TEST(punch_over_pin)
{
	/* Pages 2-3 freed, 1 and 4 zeroed in part; the pin on page 2. */
	falloc_over_pin(DC_DCFS_FALLOC_PUNCH, PG + 100, 3 * PG, 2, FA_NPG - 2);
}

TEST(zero_range_over_pin)
{
	falloc_over_pin(DC_DCFS_FALLOC_ZERO, 2 * PG + 10, PG, 2, FA_NPG);
}

TEST(collapse_over_pin)
{
	/* The pin is past the removed range: the shifted data includes its DMA. */
	falloc_over_pin(DC_DCFS_FALLOC_COLLAPSE, 2 * PG, 2 * PG, 5, FA_NPG - 2);
}

TEST(collapse_of_pinned_range)
{
	falloc_over_pin(DC_DCFS_FALLOC_COLLAPSE, 2 * PG, 2 * PG, 3, FA_NPG - 2);
}

TEST(insert_over_pin)
{
	falloc_over_pin(DC_DCFS_FALLOC_INSERT, 2 * PG, PG, 3, FA_NPG);
}

/* Case 3: unlink a pinned file, then close it: the eviction waits for the unpin. */
TEST(unlink_pinned_then_close)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct holder h;
	uint64_t free0;
	int fd;

	fx("mem:64M", NULL);
	free0 = sfs().blocks_free;
	fd = xcreate("pinned");
	xwrite_byte(fd, 1, 4 * PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, fd, PG, 2 * PG, 0, "evict", &ps), 0);
	CHECK_EQ(dc_dcfs_unlink(FS, "pinned"), 0);
	CHECK_EQ(xstat(fd).nlink, 0);
	holder_start(&h, &ps, 0xD1);
	CHECK_EQ(dc_dcfs_close(FS, fd), 0);
	holder_finish(&h);
	CHECK_EQ(sfs().orphans, 0);
	CHECK_EQ(sfs().files, 0);
	CHECK_EQ(sfs().blocks_free, free0);
	check_fs();
}

/*
 * The same with the descriptor closed first: unlink evicts the file now,
 * which waits for its pins as close does (dcfs.h, since 1c278b2); with a
 * deadline (deadline_ms) it times out, the name is gone all the same and
 * the file waits as an orphan until its last pin set goes.
 */
TEST(unlink_of_pinned_closed_file_waits)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_stat st;
	struct holder h;
	uint64_t free0;
	int fd;

	fx("mem:64M", NULL);
	free0 = sfs().blocks_free;
	fd = xcreate("p");
	xwrite_byte(fd, 1, 4 * PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, 4 * PG, 0, "orphan", &ps), 0);
	xclose(fd);
	dma_write(&ps, 0x5e); /* still pinned: DMA may go on */
	holder_start(&h, &ps, 0x5f);
	CHECK_EQ(dc_dcfs_unlink(FS, "p"), 0);
	holder_finish(&h);
	CHECK_EQ(dc_dcfs_lookup(FS, "p", &st), -ENOENT);
	CHECK_EQ(sfs().files, 0);
	CHECK_EQ(sfs().orphans, 0);
	CHECK_EQ(sfs().blocks_free, free0);
	check_fs();
}

TEST(unlink_of_pinned_closed_file_times_out)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_stat st;
	uint64_t free0;
	int fd;

	fx("mem:64M", "deadline_ms=30");
	free0 = sfs().blocks_free;
	fd = xcreate("p");
	xwrite_byte(fd, 1, 4 * PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, 4 * PG, 0, "orphan", &ps), 0);
	xclose(fd);
	CHECK_EQ(dc_dcfs_unlink(FS, "p"), -ETIMEDOUT);
	CHECK_EQ(dc_dcfs_lookup(FS, "p", &st), -ENOENT); /* the name is gone */
	CHECK_EQ(sfs().orphans, 1);
	CHECK_EQ(sfs().files, 1);
	CHECK_EQ(sfs().blocks_free, free0 - 4);
	dma_write(&ps, 0x5e); /* the blocks are still the file's */
	fd = xcreate("p"); /* the name can be used again */
	xclose(fd);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0); /* the last pin set: the eviction finishes */
	dc_quiesce();
	CHECK_EQ(sfs().orphans, 0);
	CHECK_EQ(sfs().files, 1);
	CHECK_EQ(sfs().blocks_free, free0);
	check_fs();
}

/*
 * A pin holder may look at the file while a truncate waits for its pin:
 * dc_dcfs_iomap() takes the extent lock only (its Context), fstat and
 * dc_dcfs_pins() no lock a truncate holds, and a fault of another page the
 * invalidate lock shared, which the truncate drops while it waits.  None
 * of them may need the truncate to give up first.
 */
struct trunc_arg {
	int fd;
	uint64_t size, deadline_ns;
	atomic_int done, ret;
};

static void *truncate_thread(void *arg)
{
	struct trunc_arg *a = arg;
	struct dc_wait_opts o = { .deadline_ns = a->deadline_ns };

	atomic_store(&a->ret, dc_dcfs_truncate(FS, a->fd, a->size, &o));
	atomic_store(&a->done, 1);
	return NULL;
}

static void wait_for_break_wait(uint64_t waits0)
{
	uint64_t cap = dc_now_ns() + 2000000000ull; /* a cap, not an assertion */

	while (sfs().break_waits <= waits0 && dc_now_ns() < cap)
		usleep(200);
}

TEST(pin_holder_inspects_file_while_truncate_waits)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_pin_info info;
	struct trunc_arg ta = { 0 };
	struct dc_dcfs_iomap m;
	struct dc_dcfs_stat st;
	pthread_t t;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("insp");
	xwrite_byte(fd, 1, 8 * PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 4 * PG, PG, 0, "inspect", &ps), 0);
	ta.fd = fd;
	ta.size = 2 * PG;
	ta.deadline_ns = dc_now_ns() + 3000000000ull; /* so that a bug fails, not hangs */
	{
		uint64_t w0 = sfs().break_waits;

		CHECK_EQ(pthread_create(&t, NULL, truncate_thread, &ta), 0);
		wait_for_break_wait(w0);
	}
	CHECK_EQ(dc_dcfs_fstat(FS, fd, &st), 0);
	CHECK_EQ(dc_dcfs_pins(FS, fd, 0, UINT64_MAX, &info, 1), 1);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 0, 0, 0, &res), 0);
	CHECK_EQ(atomic_load(&ta.done), 0);
	CHECK_EQ(dc_dcfs_iomap(FS, fd, 4 * PG, PG, 0, &m), 0);
	if (atomic_load(&ta.done))
		fprintf(stderr, "[%s] dc_dcfs_iomap() returned only after the truncate waiting "
			"for this pin gave up (%d)\n", t_current, atomic_load(&ta.ret));
	CHECK_EQ(atomic_load(&ta.done), 0);
	CHECK_EQ(m.type, DC_DCFS_IOMAP_MAPPED);
	CHECK_EQ(m.pgoff, ps.segs[0].pgoff);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	pthread_join(t, NULL);
	CHECK_EQ(atomic_load(&ta.ret), 0);
	CHECK_EQ(fsize(fd), 2 * PG);
	xclose(fd);
	check_fs();
}

/* Two pin sets on one page: the truncate waits for the last of them. */
TEST(two_pins_one_page)
{
	struct dc_dcfs_pinset a = { 0 }, b = { 0 };
	struct holder h;
	uint32_t idle;
	uint64_t pg;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("two");
	xwrite_byte(fd, 1, 4 * PG, 0);
	pg = pgoff_of(fd, 2 * PG);
	idle = refcount_at(pg);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 2 * PG, PG, 0, "first", &a), 0);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 2 * PG + 10, 20, DC_DCFS_PIN_READONLY, "second", &b), 0);
	CHECK_EQ(a.segs[0].pgoff, pg);
	CHECK_EQ(pin_page(&b, 2 * PG + 10, NULL), pg);
	CHECK(refcount_at(pg) >= idle + 2 * DC_PIN_BIAS);
	CHECK_EQ(xstat(fd).pinned_pages, 2);
	CHECK_EQ(dc_dcfs_unpin(FS, &a), 0);
	CHECK(dc_folio_maybe_dma_pinned(dc_folio_lookup(R, pg)));
	holder_start(&h, &b, 0);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, PG, NULL), 0);
	holder_finish(&h);
	CHECK_EQ(fsize(fd), PG);
	CHECK_EQ(xstat(fd).blocks, 1);
	xclose(fd);
	check_fs();
}

/* A read-only pin of a hole holds the zero page; pwrite fills the hole under it. */
TEST(readonly_pin_of_hole_then_pwrite)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_fault_result res;
	struct dc_wait_opts o = { 0 };
	uint8_t b[8];
	int fd, r;

	fx("mem:64M", NULL);
	fd = xcreate("rp");
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 4 * PG, NULL), 0);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1, 0, 0, &res), 0);
	CHECK(res.zero);
	CHECK_EQ(dc_dcfs_pin(FS, fd, PG + 8, 16, DC_DCFS_PIN_READONLY, "ro", &ps), 0);
	CHECK_EQ(ps.segs[0].pgoff, UINT64_MAX);
	xwrite(fd, "written!", 8, PG + 8);
	CHECK_EQ(dc_dcfs_pread(FS, fd, b, 8, PG + 8), 8);
	CHECK(!memcmp(b, "written!", 8));
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1, 0, 0, &res), 0);
	CHECK(!res.zero);
	CHECK(!memcmp((char *)res.addr + 8, "written!", 8));
	CHECK(all_bytes(ps.segs[0].addr, 0, ps.segs[0].len)); /* the zero page stays zero */
	check_fs();
	/* Nothing of the device is pinned: a truncate need not wait (it may). */
	o.deadline_ns = dc_now_ns() + 200000000ull;
	r = dc_dcfs_truncate(FS, fd, 0, &o);
	CHECK(r == 0 || r == -ETIMEDOUT);
	if (r)
		printf("note: a truncate waits for a read-only pin of the zero page\n");
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 0, NULL), 0);
	CHECK_EQ(xstat(fd).blocks, 0);
	xclose(fd);
	check_fs();
}

/* A read-only pin across data and a hole: device pages and the zero page, in order. */
TEST(readonly_pin_across_hole)
{
	struct dc_dcfs_pinset ps = { 0 };
	uint64_t pos;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("mix");
	xwrite_byte(fd, 0x71, PG, 0);
	xwrite_byte(fd, 0x72, PG, 3 * PG);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 100, 4 * PG - 200, DC_DCFS_PIN_READONLY, "mix", &ps), 0);
	check_segs(&ps, 100, 4 * PG - 200);
	pos = 100;
	for (unsigned i = 0; i < ps.nsegs; i++) {
		const struct dc_dcfs_seg *sg = &ps.segs[i];
		int want = pos < PG ? 0x71 : pos >= 3 * PG ? 0x72 : 0;

		if (want == 0)
			CHECK_EQ(sg->pgoff, UINT64_MAX);
		else
			CHECK_EQ(sg->pgoff, pgoff_of(fd, pos));
		CHECK(all_bytes(sg->addr, want, sg->len));
		if (sg->pgoff == UINT64_MAX) /* the zero page is one page: a segment per page */
			CHECK((pos >> 12) == ((pos + sg->len - 1) >> 12));
		pos += sg->len;
	}
	CHECK_EQ(xstat(fd).blocks, 2); /* nothing allocated */
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	xclose(fd);
	check_fs();
}

/* On a region of 2 MiB folios a pin holds the whole block; truncate waits for it. */
/*
 * A folio's reference count has a limit: pins of every page of a 2 MiB
 * folio reach it after 2,047 pin sets.  The next pin fails with -EOVERFLOW
 * (it spun forever before: the fast path said "not mapped", the fault
 * found it mapped, and so on), holding nothing; the others unpin cleanly.
 */
TEST(pin_at_the_reference_limit)
{
	enum { MAXSETS = 4096 };
	struct dc_dcfs_pinset *ps = calloc(MAXSETS, sizeof(*ps));
	uint64_t pg;
	uint32_t refs;
	int fd, n, ret = 0;

	CHECK(ps);
	if (dc_region_create("mem:64M,order=9", &R)) {
		R = NULL;
		free(ps);
		t_skip("cannot create mem:64M,order=9");
	}
	CHECK_EQ(dc_dcfs_mount(R, NULL, NULL, NULL, &FS), 0);
	fd = xcreate("limit");
	xwrite_byte(fd, 0x4c, 2u << 20, 0);
	for (n = 0; n < MAXSETS; n++) {
		ret = dc_dcfs_pin(FS, fd, 0, 2u << 20, 0, "many", &ps[n]);
		if (ret)
			break;
	}
	CHECK_EQ(ret, -EOVERFLOW);
	CHECK_EQ(n, 2047);
	pg = ps[0].segs[0].pgoff;
	refs = dc_folio_refcount(dc_folio_lookup(R, pg));
	CHECK(refs <= DC_FOLIO_REF_MAX);
	CHECK_EQ(xstat(fd).pinned_pages, (uint64_t)n * 512);
	for (int i = 0; i < n; i++)
		CHECK_EQ(dc_dcfs_unpin(FS, &ps[i]), 0);
	CHECK(dc_folio_refcount(dc_folio_lookup(R, pg)) <= 1); /* the entry's, if faulted */
	free(ps);
	xclose(fd);
	check_fs();
}

TEST(pin_on_order9_region)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct holder h;
	int fd;

	if (dc_region_create("mem:64M,order=9", &R)) {
		R = NULL;
		t_skip("cannot create mem:64M,order=9");
	}
	CHECK_EQ(dc_dcfs_mount(R, NULL, NULL, NULL, &FS), 0);
	fd = xcreate("p9");
	xwrite_byte(fd, 0x19, 3u << 20, 0);
	CHECK_EQ(dc_dcfs_pin(FS, fd, (1u << 20) + 5, 100, 0, "p9", &ps), 0);
	check_segs(&ps, (1u << 20) + 5, 100);
	CHECK_EQ(ps.segs[0].pgoff, pgoff_of(fd, 1u << 20));
	CHECK_EQ(ps.segs[0].pgoff % 512, 256);
	CHECK(all_bytes(ps.segs[0].addr, 0x19, 100));
	holder_start(&h, &ps, 0x91);
	/* The block holds bytes both sides of the new end: it stays, its tail zeroed. */
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 4096, NULL), 0);
	holder_finish(&h);
	CHECK_EQ(fsize(fd), 4096);
	CHECK_EQ(xstat(fd).blocks, 512);
	CHECK_EQ(sfs().blocks_free, sfs().blocks - 1);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 2u << 20, NULL), 0);
	{
		uint8_t *b = malloc(2u << 20);

		CHECK(b);
		CHECK_EQ(dc_dcfs_pread(FS, fd, b, 2u << 20, 0), (int64_t)(2u << 20));
		CHECK(all_bytes(b, 0x19, 4096));
		CHECK(all_bytes(b + 4096, 0, (2u << 20) - 4096)); /* the DMA too is gone */
		free(b);
	}
	xclose(fd);
	check_fs();
}

/* Case 5: a deadline on truncate expires and leaves the file as it was. */
TEST(truncate_deadline_times_out)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_wait_opts o = { 0 };
	struct dc_dcfs_stat before, after;
	struct dc_dcfs_fault_result res;
	uint8_t model[6 * 4096];
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("d");
	pattern(model, sizeof(model), 9);
	xwrite(fd, model, sizeof(model), 0);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 4, 0, 0, &res), 0);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 3 * PG, PG, 0, "late", &ps), 0);
	before = xstat(fd);
	o.deadline_ns = dc_now_ns() + 50000000ull;
	CHECK_EQ(dc_dcfs_truncate(FS, fd, PG, &o), -ETIMEDOUT);
	after = xstat(fd);
	CHECK_EQ(after.size, before.size);
	CHECK_EQ(after.blocks, before.blocks);
	CHECK_EQ(after.extents, before.extents);
	CHECK_EQ(after.pinned_pages, 1);
	check_contents(fd, model, sizeof(model));
	CHECK_EQ(pin_page(&ps, 3 * PG, NULL), pgoff_of(fd, 3 * PG));
	check_fs();
	/* The same for punch, collapse, insert and zero. */
	o.deadline_ns = dc_now_ns() + 20000000ull;
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, 0, 6 * PG, &o), -ETIMEDOUT);
	o.deadline_ns = dc_now_ns() + 20000000ull;
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_COLLAPSE, PG, PG, &o), -ETIMEDOUT);
	o.deadline_ns = dc_now_ns() + 20000000ull;
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_INSERT, PG, PG, &o), -ETIMEDOUT);
	o.deadline_ns = dc_now_ns() + 20000000ull;
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_ZERO, 3 * PG, 10, &o), -ETIMEDOUT);
	after = xstat(fd);
	CHECK_EQ(after.size, before.size);
	CHECK_EQ(after.blocks, before.blocks);
	CHECK_EQ(after.extents, before.extents);
	check_contents(fd, model, sizeof(model));
	check_fs();
	/* A deadline already past with no pin in the way: it just works. */
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	o.deadline_ns = dc_now_ns() - 1;
	CHECK_EQ(dc_dcfs_truncate(FS, fd, PG, &o), 0);
	CHECK_EQ(fsize(fd), PG);
	CHECK_EQ(xstat(fd).blocks, 1);
	xclose(fd);
	check_fs();
}

TEST(truncate_cancel_gives_eintr)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_wait_opts o = { 0 };
	struct dc_cancel c;
	struct dc_dcfs_stat before, after;
	uint8_t model[4 * 4096];
	struct holder h;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("c");
	pattern(model, sizeof(model), 10);
	xwrite(fd, model, sizeof(model), 0);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 2 * PG, PG, 0, "cancel", &ps), 0);
	before = xstat(fd);
	dc_cancel_init(&c);
	o.cancel = &c;
	/* Fired from another thread while it waits. */
	holder_init(&h, &ps, 0);
	h.cancel = &c;
	holder_go(&h);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 0, &o), -EINTR);
	atomic_store(&h.op_done, 1);
	pthread_join(h.t, NULL);
	CHECK_EQ(atomic_load(&h.early), 0);
	CHECK(dc_cancel_fired(&c));
	after = xstat(fd);
	CHECK_EQ(after.size, before.size);
	CHECK_EQ(after.blocks, before.blocks);
	check_contents(fd, model, sizeof(model));
	/* Already fired: -EINTR at once (punch too). */
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 0, &o), -EINTR);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, 2 * PG, PG, &o), -EINTR);
	check_contents(fd, model, sizeof(model));
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	xclose(fd);
	check_fs();
}

/*
 * Deadline and cancel bound waits; with nothing to wait for (no pin, no
 * lock held by another thread) they are not looked at (wait.h: "Cancel and
 * deadline are checked only when the condition is false"), so a truncate
 * or punch with a past deadline or a fired token just works.
 */
TEST(bounds_unused_without_a_wait)
{
	struct dc_wait_opts o = { 0 };
	struct dc_cancel c;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("nw");
	xwrite_byte(fd, 1, 4 * PG, 0);
	o.deadline_ns = dc_now_ns() - 1;
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 3 * PG, &o), 0);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, 0, PG, &o), 0);
	dc_cancel_init(&c);
	dc_cancel_fire(&c);
	o.deadline_ns = 0;
	o.cancel = &c;
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 2 * PG, &o), 0);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, PG, PG, &o), 0);
	CHECK_EQ(fsize(fd), 2 * PG);
	CHECK_EQ(xstat(fd).blocks, 0);
	xclose(fd);
	check_fs();
}

/* The slow-wait report names the pin's tag, once per wait. */
TEST(slow_wait_report)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct holder h;
	uint64_t ino, id;
	int fd;

	fx_ops("mem:64M", "slow_wait_ms=20", &ev_ops);
	fd = xcreate("slow");
	xwrite_byte(fd, 1, 8 * PG, 0);
	ino = xstat(fd).ino;
	CHECK_EQ(dc_dcfs_pin(FS, fd, 6 * PG, 2 * PG, 0, "rdma-qp-7", &ps), 0);
	/* Held for well over slow_wait_ms after the report: one report all the same. */
	id = ps.id;
	holder_init(&h, &ps, 0);
	h.want_reports = 1;
	h.extra_ms = 150;
	holder_go(&h);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 4 * PG, NULL), 0);
	holder_finish(&h);
	CHECK_EQ(atomic_load(&nevs), 1);
	CHECK_EQ(sfs().slow_reports, 1);
	CHECK_EQ(evs[0].type, DC_DCFS_EV_SLOW_WAIT);
	CHECK_EQ(evs[0].ino, ino);
	CHECK(!strcmp(evs[0].op, "truncate"));
	CHECK_EQ(evs[0].offset, 4 * PG);
	CHECK_EQ(evs[0].npins, 1);
	CHECK(!strcmp(evs[0].pin0.tag, "rdma-qp-7"));
	CHECK_EQ(evs[0].pin0.id, id);
	CHECK_EQ(evs[0].pin0.offset, 6 * PG);
	CHECK_EQ(evs[0].pin0.length, 2 * PG);
	CHECK_EQ(evs[0].pin0.ino, ino);
	CHECK(evs[0].waited_ns >= 20000000ull);
	/* A second wait: a second report, op "punch". */
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, 0, "second", &ps), 0);
	id = ps.id;
	holder_init(&h, &ps, 0);
	h.want_reports = 2;
	h.extra_ms = 60;
	holder_go(&h);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, 0, PG, NULL), 0);
	holder_finish(&h);
	CHECK_EQ(atomic_load(&nevs), 2);
	CHECK_EQ(sfs().slow_reports, 2);
	CHECK(!strcmp(evs[1].op, "punch"));
	CHECK_EQ(evs[1].offset, 0);
	CHECK_EQ(evs[1].length, PG);
	CHECK(!strcmp(evs[1].pin0.tag, "second"));
	CHECK_EQ(evs[1].pin0.id, id);
	/* A wait that does not happen reports nothing. */
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 0, NULL), 0);
	CHECK_EQ(atomic_load(&nevs), 2);
	xclose(fd);
	check_fs();
}

/* slow_wait_ms=0 reports at the first wait; each operation is named. */
TEST(slow_wait_ops_named)
{
	static const struct {
		const char *op;
		unsigned mode; /* fallocate mode, or 100: truncate, 101: evict */
		uint64_t off, len, pin_page;
	} ops[] = {
		{ "truncate", 100, 2 * PG, 0, 3 },
		{ "punch", DC_DCFS_FALLOC_PUNCH, 0, PG, 0 },
		{ "zero", DC_DCFS_FALLOC_ZERO, 0, 10, 0 },
		{ "collapse", DC_DCFS_FALLOC_COLLAPSE, PG, PG, 2 },
		{ "insert", DC_DCFS_FALLOC_INSERT, PG, PG, 1 },
		{ "evict", 101, 0, 0, 0 },
	};

	fx_ops("mem:64M", "slow_wait_ms=0", &ev_ops);
	for (unsigned k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		struct dc_dcfs_pinset ps = { 0 };
		struct holder h;
		uint64_t ino, id;
		int fd = xcreate("sw");

		xwrite_byte(fd, 1, 4 * PG, 0);
		ino = xstat(fd).ino;
		CHECK_EQ(dc_dcfs_pin(FS, fd, ops[k].pin_page * PG, PG, 0, ops[k].op, &ps), 0);
		id = ps.id;
		holder_init(&h, &ps, 0);
		h.want_reports = k + 1;
		holder_go(&h);
		if (ops[k].mode == 100) {
			CHECK_EQ(dc_dcfs_truncate(FS, fd, ops[k].off, NULL), 0);
		} else if (ops[k].mode == 101) {
			CHECK_EQ(dc_dcfs_unlink(FS, "sw"), 0);
			CHECK_EQ(dc_dcfs_close(FS, fd), 0);
		} else {
			CHECK_EQ(dc_dcfs_fallocate(FS, fd, ops[k].mode, ops[k].off, ops[k].len, NULL), 0);
		}
		holder_finish(&h);
		CHECK_EQ(atomic_load(&nevs), k + 1);
		CHECK_EQ(sfs().slow_reports, k + 1);
		CHECK(!strcmp(evs[k].op, ops[k].op));
		CHECK_EQ(evs[k].ino, ino);
		CHECK(evs[k].npins >= 1);
		CHECK_EQ(evs[k].pin0.id, id);
		CHECK(!strcmp(evs[k].pin0.tag, ops[k].op));
		if (ops[k].mode != 101) {
			xclose(fd);
			CHECK_EQ(dc_dcfs_unlink(FS, "sw"), 0);
		}
		check_fs();
	}
}

/*
 * The slow-wait callback runs holding only the changed file's I/O lock:
 * it may look at anything, use other files and release pins; reading,
 * writing or changing the layout of that same file is -EDEADLK.
 */
static struct dc_dcfs_pinset *cb_ps;
static int cb_same_fd, cb_other_fd;
static int cb_pread_same, cb_pwrite_same, cb_trunc_same, cb_pread_other, cb_fstat_same,
	cb_pins_same, cb_unpin, cb_calls;

static void cb_event(struct dc_dcfs *fs, const struct dc_dcfs_event *ev, void *arg)
{
	struct dc_dcfs_pin_info info;
	struct dc_dcfs_stat st;
	uint8_t b[4];

	(void)ev;
	(void)arg;
	cb_calls++;
	cb_pread_same = (int)dc_dcfs_pread(fs, cb_same_fd, b, 4, 0);
	cb_pwrite_same = (int)dc_dcfs_pwrite(fs, cb_same_fd, b, 4, 0);
	cb_trunc_same = dc_dcfs_truncate(fs, cb_same_fd, 0, NULL);
	cb_fstat_same = dc_dcfs_fstat(fs, cb_same_fd, &st);
	cb_pins_same = dc_dcfs_pins(fs, cb_same_fd, 0, UINT64_MAX, &info, 1);
	cb_pread_other = (int)dc_dcfs_pread(fs, cb_other_fd, b, 4, 0);
	cb_unpin = dc_dcfs_unpin(fs, cb_ps); /* the wait it reports ends */
}

static const struct dc_dcfs_ops cb_ops = { .event = cb_event };

TEST(event_callback_context)
{
	struct dc_dcfs_pinset ps = { 0 };

	fx_ops("mem:64M", "slow_wait_ms=0", &cb_ops);
	cb_same_fd = xcreate("same");
	cb_other_fd = xcreate("other");
	xwrite_byte(cb_same_fd, 1, 4 * PG, 0);
	xwrite_byte(cb_other_fd, 2, PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, cb_same_fd, 3 * PG, PG, 0, "cb", &ps), 0);
	cb_ps = &ps;
	cb_calls = 0;
	CHECK_EQ(dc_dcfs_truncate(FS, cb_same_fd, PG, NULL), 0); /* the callback unpins */
	CHECK_EQ(cb_calls, 1);
	CHECK_EQ(cb_pread_same, -EDEADLK);
	CHECK_EQ(cb_pwrite_same, -EDEADLK);
	CHECK_EQ(cb_trunc_same, -EDEADLK);
	CHECK_EQ(cb_fstat_same, 0);
	CHECK_EQ(cb_pins_same, 1);
	CHECK_EQ(cb_pread_other, 4);
	CHECK_EQ(cb_unpin, 0);
	CHECK_EQ(ps.id, 0);
	CHECK_EQ(fsize(cb_same_fd), PG);
	xclose(cb_same_fd);
	xclose(cb_other_fd);
	check_fs();
}

/*
 * Unmount while a close still evicts a file (waiting for its pin): -EBUSY,
 * nothing changed; create and open are refused with -EIO only while an
 * unmount runs, so they work again after it gave up.
 */
struct close_arg {
	int fd;
	atomic_int done, ret;
};

static void *close_thread(void *arg)
{
	struct close_arg *a = arg;

	atomic_store(&a->ret, dc_dcfs_close(FS, a->fd));
	atomic_store(&a->done, 1);
	return NULL;
}

TEST(unmount_while_close_evicts)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct close_arg ca = { 0 };
	uint64_t w0;
	pthread_t t;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("ev");
	xwrite_byte(fd, 1, 2 * PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, 0, "ev", &ps), 0);
	CHECK_EQ(dc_dcfs_unlink(FS, "ev"), 0);
	ca.fd = fd;
	w0 = sfs().break_waits;
	CHECK_EQ(pthread_create(&t, NULL, close_thread, &ca), 0);
	wait_for_break_wait(w0);
	CHECK_EQ(atomic_load(&ca.done), 0);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), -EBUSY);
	fd = xcreate("after"); /* the unmount gave up: the mount works */
	xclose(fd);
	CHECK_EQ(atomic_load(&ca.done), 0);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	pthread_join(t, NULL);
	CHECK_EQ(atomic_load(&ca.ret), 0);
	CHECK_EQ(sfs().files, 1);
	check_fs();
}

/* deadline_ms: a close whose eviction times out still closes; unmount evicts later. */
TEST(eviction_deadline)
{
	struct dc_dcfs_pinset ps = { 0 };
	int fd;

	fx("mem:64M", "deadline_ms=30");
	fd = xcreate("o");
	xwrite_byte(fd, 1, 2 * PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, 0, "stuck", &ps), 0);
	CHECK_EQ(dc_dcfs_unlink(FS, "o"), 0);
	CHECK_EQ(dc_dcfs_close(FS, fd), -ETIMEDOUT);
	CHECK_EQ(dc_dcfs_close(FS, fd), -EBADF); /* closed all the same */
	CHECK_EQ(sfs().open, 0);
	CHECK_EQ(sfs().orphans, 1);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), -EBUSY); /* the pin */
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0); /* the last pin set: the eviction finishes */
	dc_quiesce();
	CHECK_EQ(sfs().orphans, 0);
	CHECK_EQ(sfs().files, 0);
	CHECK_EQ(sfs().blocks_free, sfs().blocks);
	check_fs();
}

/* An orphan still pinned at unmount: -EBUSY; after the unpin the unmount evicts nothing. */
TEST(unmount_with_pinned_orphan)
{
	struct dc_dcfs_pinset ps = { 0 };
	int fd;

	fx("mem:64M", "deadline_ms=20");
	fd = xcreate("o");
	xwrite_byte(fd, 1, 2 * PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, 0, "stuck", &ps), 0);
	CHECK_EQ(dc_dcfs_unlink(FS, "o"), 0);
	CHECK_EQ(dc_dcfs_close(FS, fd), -ETIMEDOUT);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), -EBUSY);
	CHECK_EQ(sfs().orphans, 1);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	check_fs();
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), 0);
	FS = NULL;
}

/* ---- ENOSPC ------------------------------------------------------------------------------- */

TEST(enospc)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_iomap m;
	uint64_t blocks;
	uint8_t *buf;
	int64_t ret;
	int a, b;

	fx("mem:4M", NULL);
	blocks = sfs().blocks;
	CHECK_EQ(blocks, 1024);
	buf = malloc((blocks + 16) * PG);
	CHECK(buf);
	memset(buf, 0x61, (blocks + 16) * PG);
	a = xcreate("a");
	xwrite(a, buf, 10 * PG, 0);
	/* More than fits: the bytes written before it filled up. */
	ret = dc_dcfs_pwrite(FS, a, buf, (blocks + 16) * PG, 10 * PG);
	CHECK_EQ(ret, (int64_t)((blocks - 10) * PG));
	CHECK_EQ(sfs().blocks_free, 0);
	CHECK_EQ(fsize(a), blocks * PG);
	CHECK_EQ(xstat(a).blocks, blocks);
	/* Nothing fits now. */
	CHECK_EQ(dc_dcfs_pwrite(FS, a, buf, PG, blocks * PG), -ENOSPC);
	CHECK_EQ(fsize(a), blocks * PG);
	xwrite(a, "over", 4, 5); /* overwriting needs no block */
	b = xcreate("b");
	CHECK_EQ(dc_dcfs_pwrite(FS, b, buf, 1, 0), -ENOSPC);
	CHECK_EQ(fsize(b), 0);
	CHECK_EQ(dc_dcfs_truncate(FS, b, 4 * PG, NULL), 0);
	/* A read fault of a hole needs no block; a write fault fails cleanly. */
	CHECK_EQ(dc_dcfs_fault(FS, b, 0, 0, 0, &res), 0);
	CHECK(res.zero);
	CHECK_EQ(dc_dcfs_fault(FS, b, 0, DC_DCFS_FAULT_WRITE, 0, &res), -ENOSPC);
	CHECK_EQ(dc_dcfs_fault(FS, b, 1, DC_DCFS_FAULT_WRITE, 9, &res), -ENOSPC);
	CHECK_EQ(dc_dcfs_iomap(FS, b, 2 * PG, PG, DC_DCFS_IOMAP_WRITE, &m), -ENOSPC);
	CHECK_EQ(dc_dcfs_pin(FS, b, 0, 2 * PG, 0, "full", &ps), -ENOSPC);
	CHECK_EQ(ps.id, 0);
	CHECK_EQ(sfs().pins, 0);
	CHECK_EQ(dc_dcfs_fallocate(FS, b, DC_DCFS_FALLOC_ALLOC, 0, 8 * PG, NULL), -ENOSPC);
	CHECK_EQ(dc_dcfs_fallocate(FS, b, DC_DCFS_FALLOC_ZERO, 0, 8 * PG, NULL), -ENOSPC);
	CHECK_EQ(fsize(b), 4 * PG); /* the size did not change */
	CHECK_EQ(xstat(b).blocks, 0);
	/* A read-only pin of a hole still works. */
	CHECK_EQ(dc_dcfs_pin(FS, b, 0, PG, DC_DCFS_PIN_READONLY, "ro", &ps), 0);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	check_fs();
	/* Deleting a file gives its blocks back exactly. */
	xclose(a);
	CHECK_EQ(dc_dcfs_unlink(FS, "a"), 0);
	CHECK_EQ(sfs().blocks_free, blocks);
	CHECK_EQ(dc_dcfs_fault(FS, b, 0, DC_DCFS_FAULT_WRITE, 0, &res), 0);
	CHECK(!res.zero);
	CHECK(all_bytes(res.addr, 0, PG));
	CHECK_EQ(sfs().blocks_free, blocks - 1);
	xwrite(b, buf, (blocks - 1) * PG, PG);
	CHECK_EQ(sfs().blocks_free, 0);
	CHECK_EQ(dc_dcfs_truncate(FS, b, 0, NULL), 0);
	CHECK_EQ(sfs().blocks_free, blocks);
	xclose(b);
	check_fs();
	free(buf);
}

/*
 * A pwrite past the end of file that writes nothing (the file system is
 * full) leaves the size as it was: it must not grow to the write's offset.
 */
TEST(failed_pwrite_past_eof_keeps_size)
{
	static uint8_t buf[2 * PG];
	uint64_t blocks;
	int a, b;

	fx("mem:4M", NULL);
	blocks = sfs().blocks;
	a = xcreate("a");
	xwrite_byte(a, 0x62, blocks * PG, 0); /* full */
	CHECK_EQ(sfs().blocks_free, 0);
	b = xcreate("b");
	CHECK_EQ(dc_dcfs_pwrite(FS, b, buf, PG, 100 * PG), -ENOSPC);
	CHECK_EQ(fsize(b), 0);
	CHECK_EQ(dc_dcfs_truncate(FS, b, 3 * PG, NULL), 0);
	CHECK_EQ(dc_dcfs_pwrite(FS, b, buf, 2 * PG, 50 * PG + 7), -ENOSPC);
	CHECK_EQ(fsize(b), 3 * PG);
	CHECK_EQ(dc_dcfs_pwrite(FS, a, buf, PG, (blocks + 5) * PG), -ENOSPC);
	CHECK_EQ(fsize(a), blocks * PG);
	check_fs();
	xclose(a);
	xclose(b);
}

/* ALLOC and ZERO running out part-way: what was allocated stays, the size does not change. */
TEST(fallocate_enospc_part_way)
{
	struct dc_dcfs_stat st;
	uint64_t blocks;
	int a, b;

	fx("mem:4M", NULL);
	blocks = sfs().blocks;
	a = xcreate("a");
	xwrite_byte(a, 1, (blocks - 3) * PG, 0);
	CHECK_EQ(sfs().blocks_free, 3);
	b = xcreate("b");
	CHECK_EQ(dc_dcfs_truncate(FS, b, 8 * PG, NULL), 0);
	CHECK_EQ(dc_dcfs_fallocate(FS, b, DC_DCFS_FALLOC_ALLOC, 0, 8 * PG, NULL), -ENOSPC);
	st = xstat(b);
	CHECK_EQ(st.size, 8 * PG);
	CHECK(st.blocks <= 3);
	CHECK_EQ(sfs().blocks_free, 3 - st.blocks);
	check_fs();
	/* Past the end of file: the size does not change, nothing is left past it. */
	CHECK_EQ(dc_dcfs_truncate(FS, b, 0, NULL), 0);
	CHECK_EQ(dc_dcfs_fallocate(FS, b, DC_DCFS_FALLOC_ALLOC, 0, 8 * PG, NULL), -ENOSPC);
	CHECK_EQ(fsize(b), 0);
	check_fs();
	CHECK_EQ(dc_dcfs_fallocate(FS, b, DC_DCFS_FALLOC_ZERO, PG, 8 * PG, NULL), -ENOSPC);
	CHECK_EQ(fsize(b), 0);
	check_fs();
	CHECK_EQ(xstat(b).blocks, 0);
	CHECK_EQ(sfs().blocks_free, 3);
	/* Exactly what is left fits. */
	CHECK_EQ(dc_dcfs_fallocate(FS, b, DC_DCFS_FALLOC_ALLOC, 0, 3 * PG, NULL), 0);
	CHECK_EQ(fsize(b), 3 * PG);
	CHECK_EQ(sfs().blocks_free, 0);
	xclose(a);
	xclose(b);
	check_fs();
}

/* The fallocate modes without pins: sizes, blocks, contents. */
TEST(fallocate_modes)
{
	uint8_t model[16 * 4096];
	struct dc_dcfs_stat st;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("fm");
	memset(model, 0, sizeof(model));
	pattern(model, 4 * PG, 6);
	xwrite(fd, model, 4 * PG, 0);
	/* ALLOC past EOF extends, zeroed blocks; over data keeps it. */
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_ALLOC, 2 * PG, 4 * PG, NULL), 0);
	st = xstat(fd);
	CHECK_EQ(st.size, 6 * PG);
	CHECK_EQ(st.blocks, 6);
	check_contents(fd, model, 6 * PG);
	/* ALLOC inside the file does not shrink or extend it. */
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_ALLOC, 0, PG, NULL), 0);
	CHECK_EQ(fsize(fd), 6 * PG);
	/* PUNCH past EOF does not extend; partial blocks are zeroed, whole ones freed. */
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, 5 * PG + 100, 10 * PG, NULL), 0);
	st = xstat(fd);
	CHECK_EQ(st.size, 6 * PG);
	CHECK_EQ(st.blocks, 6);
	memset(model + 5 * PG + 100, 0, PG - 100);
	check_contents(fd, model, 6 * PG);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, 100, 2 * PG, NULL), 0);
	CHECK_EQ(xstat(fd).blocks, 5); /* page 1 freed; 0 and 2 zeroed in part */
	memset(model + 100, 0, 2 * PG);
	check_contents(fd, model, 6 * PG);
	CHECK_EQ(pgoff_of(fd, PG), UINT64_MAX);
	/* ZERO: reads zeros, blocks allocated (the punched page too), extends. */
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_ZERO, PG - 10, 2 * PG, NULL), 0);
	st = xstat(fd);
	CHECK_EQ(st.blocks, 6);
	CHECK(pgoff_of(fd, PG) != UINT64_MAX);
	memset(model + PG - 10, 0, 2 * PG);
	check_contents(fd, model, 6 * PG);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_ZERO, 7 * PG, PG + 1, NULL), 0);
	st = xstat(fd);
	CHECK_EQ(st.size, 8 * PG + 1);
	CHECK_EQ(st.blocks, 6 + 2);
	check_contents(fd, model, 8 * PG + 1);
	/* A punch of the whole file frees every block and keeps the size. */
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, 0, 9 * PG, NULL), 0);
	st = xstat(fd);
	CHECK_EQ(st.size, 8 * PG + 1);
	CHECK(st.blocks <= 1); /* the last block, partial in the file, may stay (zeroed) */
	memset(model, 0, sizeof(model));
	check_contents(fd, model, 8 * PG + 1);
	xclose(fd);
	check_fs();
}

/* A fault at or past the end of file is -EFAULT (SIGBUS), and changes nothing. */
TEST(fault_beyond_eof)
{
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_stat st;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("eof");
	CHECK_EQ(dc_dcfs_fault(FS, fd, 0, 0, 0, &res), -EFAULT); /* empty file */
	CHECK_EQ(dc_dcfs_fault(FS, fd, 0, DC_DCFS_FAULT_WRITE, 0, &res), -EFAULT);
	xwrite_byte(fd, 1, 2 * PG + 1, 0);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 2, DC_DCFS_FAULT_WRITE, 0, &res), 0);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 3, 0, 0, &res), -EFAULT);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 3, DC_DCFS_FAULT_WRITE, 0, &res), -EFAULT);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1000, DC_DCFS_FAULT_WRITE, 9, &res), -EFAULT);
	/* A PMD fault of a small file maps 4 KiB, never past EOF. */
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1, 0, 9, &res), 0);
	CHECK_EQ(res.order, 0);
	st = xstat(fd);
	CHECK_EQ(st.size, 2 * PG + 1);
	CHECK_EQ(st.blocks, 3);
	/* After a shrink the old pages fault -EFAULT too. */
	CHECK_EQ(dc_dcfs_truncate(FS, fd, PG, NULL), 0);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1, 0, 0, &res), -EFAULT);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 2, DC_DCFS_FAULT_WRITE, 0, &res), -EFAULT);
	CHECK_EQ(xstat(fd).blocks, 1);
	xclose(fd);
	check_fs();
}

/*
 * Removal of the region shuts the file system down: calls fail -EIO; with
 * no pin held and no call running the mount lets go of the region at once,
 * so removal completes; unmount still works afterwards (without the region,
 * which is gone and must not be touched).
 */
TEST(region_removal_shuts_down)
{
	struct dc_drain_opts d = { 0 };
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_statfs sf;
	struct dc_dcfs_stat st;
	uint8_t b[16];
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("sd");
	xwrite_byte(fd, 1, 2 * PG, 0);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 0, 0, 0, &res), 0);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1, DC_DCFS_FAULT_WRITE, 0, &res), 0);
	d.deadline_ns = dc_now_ns() + 5000000000ull; /* a bound: it must not need it */
	CHECK_EQ(dc_region_remove(R, &d), 0);
	R = NULL; /* gone: nothing may touch it */
	CHECK(dc_dcfs_region(FS) == NULL);
	CHECK_EQ(dc_dcfs_pread(FS, fd, b, 1, 0), -EIO);
	CHECK_EQ(dc_dcfs_pwrite(FS, fd, b, 1, 0), -EIO);
	CHECK_EQ(dc_dcfs_create(FS, "new"), -EIO);
	CHECK_EQ(dc_dcfs_open(FS, "sd", DC_DCFS_RDONLY), -EIO);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 1, 0, 0, &res), -EIO);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 0, NULL), -EIO);
	CHECK_EQ(dc_dcfs_unlink(FS, "sd"), -EIO);
	CHECK_EQ(dc_dcfs_fstat(FS, fd, &st), 0);
	CHECK_EQ(st.size, 2 * PG);
	CHECK_EQ(st.entries, 0);
	CHECK_EQ(dc_dcfs_lookup(FS, "sd", &st), 0);
	dc_dcfs_statfs(FS, &sf);
	CHECK(sf.shutdown);
	CHECK_EQ(dc_dcfs_check(FS), 0);
	CHECK_EQ(dc_dcfs_close(FS, fd), 0);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), 0);
	FS = NULL;
	dc_quiesce();
}

/* ---- bad input --------------------------------------------------------------------------- */

TEST(bad_mount_options)
{
	struct dc_dcfs *fs = NULL;
	struct dc_region *lim;

	CHECK_EQ(dc_region_create("mem:64M", &R), 0);
	CHECK_EQ(dc_dcfs_mount(R, "bogus", NULL, NULL, &fs), -EINVAL);
	CHECK(strstr(dc_errmsg(), "bogus"));
	CHECK_EQ(dc_dcfs_mount(R, "sync,frobnicate=3", NULL, NULL, &fs), -EINVAL);
	CHECK(strstr(dc_errmsg(), "frobnicate"));
	CHECK_EQ(dc_dcfs_mount(R, "quarantine=1", NULL, NULL, &fs), -EINVAL);
	/* quarantine (dcfs part 2): accepted. */
	CHECK_EQ(dc_dcfs_mount(R, "quarantine", NULL, NULL, &fs), 0);
	CHECK_EQ(dc_dcfs_unmount(fs, NULL), 0);
	fs = NULL;
	CHECK_EQ(dc_dcfs_mount(R, "quarantine,sync", NULL, NULL, &fs), 0);
	CHECK_EQ(dc_dcfs_unmount(fs, NULL), 0);
	fs = NULL;
	CHECK_EQ(dc_dcfs_mount(R, "slow_wait_ms=abc", NULL, NULL, &fs), -EINVAL);
	CHECK(strstr(dc_errmsg(), "slow_wait_ms"));
	CHECK_EQ(dc_dcfs_mount(R, "slow_wait_ms=", NULL, NULL, &fs), -EINVAL);
	CHECK_EQ(dc_dcfs_mount(R, "slow_wait_ms=12x", NULL, NULL, &fs), -EINVAL);
	CHECK_EQ(dc_dcfs_mount(R, "slow_wait_ms=-1", NULL, NULL, &fs), -EINVAL);
	CHECK_EQ(dc_dcfs_mount(R, "slow_wait_ms=99999999999999999999999", NULL, NULL, &fs),
		 -EINVAL);
	CHECK_EQ(dc_dcfs_mount(R, "deadline_ms=x", NULL, NULL, &fs), -EINVAL);
	CHECK(strstr(dc_errmsg(), "deadline_ms"));
	CHECK_EQ(dc_dcfs_mount(R, "sync=1", NULL, NULL, &fs), -EINVAL);
	CHECK_EQ(dc_dcfs_mount(NULL, NULL, NULL, NULL, &fs), -EINVAL);
	CHECK_EQ(dc_dcfs_mount(R, NULL, NULL, NULL, NULL), -EINVAL);
	CHECK(fs == NULL);
	/* Nothing of that claimed the region. */
	CHECK(dc_region_holder(R) == NULL);
	/* Limited and devdax regions are refused. */
	CHECK_EQ(dc_region_create("mem:4M,type=limited", &lim), 0);
	CHECK_EQ(dc_dcfs_mount(lim, NULL, NULL, NULL, &fs), -EINVAL);
	t_region_teardown(&lim);
	CHECK_EQ(dc_region_create("mem:4M,type=devdax", &lim), 0);
	CHECK_EQ(dc_dcfs_mount(lim, NULL, NULL, NULL, &fs), -EINVAL);
	t_region_teardown(&lim);
	/* Good options, in any order. */
	CHECK_EQ(dc_dcfs_mount(R, "slow_wait_ms=0,deadline_ms=100,sync", NULL, NULL, &FS), 0);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), 0);
	CHECK(dc_region_holder(R) == NULL);
	CHECK_EQ(dc_dcfs_mount(R, "", NULL, NULL, &FS), 0);
}

TEST(second_mount_is_busy)
{
	struct dc_dcfs *fs2 = NULL;

	fx("mem:64M", NULL);
	CHECK_EQ(dc_dcfs_mount(R, NULL, NULL, NULL, &fs2), -EBUSY);
	CHECK(fs2 == NULL);
	CHECK_EQ(dc_dcfs_mount(R, "sync", NULL, NULL, &fs2), -EBUSY);
	/* The first mount is untouched. */
	{
		int fd = xcreate("still");

		xwrite(fd, "ok", 2, 0);
		xclose(fd);
	}
	CHECK_EQ(dc_dcfs_unmount(NULL, NULL), -EINVAL);
	check_fs();
}

TEST(bad_names)
{
	struct dc_dcfs_stat st;
	int fd;

	fx("mem:64M", NULL);
	CHECK_EQ(dc_dcfs_create(FS, ""), -EINVAL);
	CHECK_EQ(dc_dcfs_create(FS, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_create(FS, name_of_len(DC_DCFS_NAME_MAX + 1)), -EINVAL);
	CHECK_EQ(dc_dcfs_create(FS, "a/b"), -EINVAL);
	CHECK_EQ(dc_dcfs_create(FS, "/"), -EINVAL);
	CHECK_EQ(dc_dcfs_create(FS, "abc/"), -EINVAL);
	CHECK_EQ(sfs().files, 0);
	fd = dc_dcfs_create(FS, name_of_len(DC_DCFS_NAME_MAX));
	CHECK(fd >= 0);
	xclose(fd);
	CHECK_EQ(dc_dcfs_lookup(FS, name_of_len(DC_DCFS_NAME_MAX), &st), 0);
	{
		struct dc_dcfs_dirent e;
		uint64_t cur = 0;

		CHECK_EQ(dc_dcfs_list(FS, &cur, &e, 1), 1);
		CHECK_EQ(strlen(e.name), DC_DCFS_NAME_MAX);
	}
	CHECK_EQ(dc_dcfs_open(FS, "", DC_DCFS_RDONLY), -EINVAL);
	CHECK_EQ(dc_dcfs_open(FS, NULL, DC_DCFS_RDONLY), -EINVAL);
	CHECK_EQ(dc_dcfs_open(FS, name_of_len(DC_DCFS_NAME_MAX + 1), DC_DCFS_RDONLY), -EINVAL);
	CHECK_EQ(dc_dcfs_open(FS, "x/y", DC_DCFS_RDONLY), -EINVAL);
	CHECK_EQ(dc_dcfs_open(FS, "nope", DC_DCFS_RDONLY), -ENOENT);
	CHECK_EQ(dc_dcfs_open(FS, name_of_len(DC_DCFS_NAME_MAX), 0x10), -EINVAL);
	CHECK_EQ(dc_dcfs_open(FS, name_of_len(DC_DCFS_NAME_MAX), 0x3), -EINVAL);
	CHECK_EQ(dc_dcfs_unlink(FS, ""), -EINVAL);
	CHECK_EQ(dc_dcfs_unlink(FS, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_unlink(FS, "a/b"), -EINVAL);
	CHECK_EQ(dc_dcfs_unlink(FS, name_of_len(DC_DCFS_NAME_MAX + 1)), -EINVAL);
	CHECK_EQ(dc_dcfs_unlink(FS, "nope"), -ENOENT);
	CHECK_EQ(dc_dcfs_lookup(FS, "", &st), -EINVAL);
	CHECK_EQ(dc_dcfs_lookup(FS, NULL, &st), -EINVAL);
	CHECK_EQ(dc_dcfs_lookup(FS, "a/b", &st), -EINVAL);
	CHECK_EQ(dc_dcfs_lookup(FS, name_of_len(DC_DCFS_NAME_MAX + 1), &st), -EINVAL);
	CHECK_EQ(dc_dcfs_lookup(FS, "nope", NULL), -EINVAL);
	fd = xcreate("r");
	xclose(fd);
	CHECK_EQ(dc_dcfs_rename(FS, "r", ""), -EINVAL);
	CHECK_EQ(dc_dcfs_rename(FS, "r", "a/b"), -EINVAL);
	CHECK_EQ(dc_dcfs_rename(FS, "r", NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_rename(FS, "r", name_of_len(DC_DCFS_NAME_MAX + 1)), -EINVAL);
	CHECK_EQ(dc_dcfs_rename(FS, "", "s"), -EINVAL);
	CHECK_EQ(dc_dcfs_rename(FS, NULL, "s"), -EINVAL);
	CHECK_EQ(dc_dcfs_rename(FS, "a/b", "s"), -EINVAL);
	CHECK_EQ(dc_dcfs_rename(FS, "nope", "s"), -ENOENT);
	CHECK_EQ(dc_dcfs_lookup(FS, "r", &st), 0); /* still there */
	CHECK_EQ(dc_dcfs_lookup(FS, "s", &st), -ENOENT);
	CHECK_EQ(sfs().files, 2);
	/* NULL file system. */
	CHECK_EQ(dc_dcfs_create(NULL, "x"), -EINVAL);
	CHECK_EQ(dc_dcfs_open(NULL, "r", 0), -EINVAL);
	CHECK_EQ(dc_dcfs_unlink(NULL, "r"), -EINVAL);
	CHECK_EQ(dc_dcfs_rename(NULL, "r", "s"), -EINVAL);
	CHECK_EQ(dc_dcfs_lookup(NULL, "r", &st), -EINVAL);
	{
		struct dc_dcfs_dirent e;
		uint64_t cur = 0;

		CHECK_EQ(dc_dcfs_list(NULL, &cur, &e, 1), -EINVAL);
		CHECK_EQ(dc_dcfs_list(FS, NULL, &e, 1), -EINVAL);
		CHECK_EQ(dc_dcfs_list(FS, &cur, NULL, 1), -EINVAL);
	}
	check_fs();
}

TEST(bad_ranges)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_pin_info info;
	struct dc_dcfs_iomap m;
	struct dc_dcfs_stat st;
	uint8_t buf[64] = { 0 };
	uint8_t model[4 * 4096];
	const uint64_t MAX = DC_DCFS_SIZE_MAX;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("r");
	pattern(model, sizeof(model), 1);
	xwrite(fd, model, sizeof(model), 0);
	/* pread */
	CHECK_EQ(dc_dcfs_pread(FS, fd, buf, 16, UINT64_MAX - 4), -EINVAL);
	CHECK_EQ(dc_dcfs_pread(FS, fd, buf, SIZE_MAX, 8), -EINVAL);
	CHECK_EQ(dc_dcfs_pread(FS, fd, NULL, 16, 0), -EINVAL);
	/* pwrite */
	CHECK_EQ(dc_dcfs_pwrite(FS, fd, buf, 16, UINT64_MAX - 4), -EINVAL);
	CHECK_EQ(dc_dcfs_pwrite(FS, fd, buf, SIZE_MAX, 8), -EINVAL);
	CHECK_EQ(dc_dcfs_pwrite(FS, fd, NULL, 16, 0), -EINVAL);
	CHECK_EQ(dc_dcfs_pwrite(FS, fd, buf, 2, MAX - 1), -EFBIG);
	CHECK_EQ(dc_dcfs_pwrite(FS, fd, buf, 1, MAX), -EFBIG);
	CHECK_EQ(dc_dcfs_pwrite(FS, fd, buf, 0, 0), 0);
	/* truncate */
	CHECK_EQ(dc_dcfs_truncate(FS, fd, MAX + 1, NULL), -EFBIG);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, UINT64_MAX, NULL), -EFBIG);
	/* fallocate */
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, 5, 0, PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, 0x100, 0, PG, NULL), -EINVAL);
	for (unsigned mode = 0; mode <= 4; mode++) {
		int r = dc_dcfs_fallocate(FS, fd, mode, UINT64_MAX - PG + 1, 2 * PG, NULL);

		CHECK(r == -EINVAL || r == -EFBIG); /* wraps */
		CHECK_EQ(dc_dcfs_fallocate(FS, fd, mode, 0, 0, NULL), 0); /* nothing to do */
	}
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_ALLOC, MAX - PG, 2 * PG, NULL), -EFBIG);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_ZERO, MAX, PG, NULL), -EFBIG);
	/* iomap */
	CHECK_EQ(dc_dcfs_iomap(FS, fd, UINT64_MAX - 4, 16, 0, &m), -EINVAL);
	CHECK_EQ(dc_dcfs_iomap(FS, fd, 0, PG, 0, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_iomap(FS, fd, 0, PG, 0x80, &m), -EINVAL);
	/* fault */
	CHECK_EQ(dc_dcfs_fault(FS, fd, 0, 0, 5, &res), -EINVAL);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 0, 0x40, 0, &res), -EINVAL);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 0, 0, 0, NULL), -EINVAL);
	{
		int r = dc_dcfs_fault(FS, fd, UINT64_MAX, 0, 0, &res);

		CHECK(r == -EFAULT || r == -EINVAL);
		r = dc_dcfs_fault(FS, fd, 1ull << 40, DC_DCFS_FAULT_WRITE, 0, &res);
		CHECK(r == -EFAULT || r == -EINVAL);
	}
	/* pin */
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, 0, 0, "t", &ps), -EINVAL);
	CHECK_EQ(dc_dcfs_pin(FS, fd, UINT64_MAX - 4, 16, 0, "t", &ps), -EINVAL);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, 0, "t", NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, 0x80, "t", &ps), -EINVAL);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 3 * PG, PG + 1, 0, "t", &ps), -EFAULT);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 4 * PG, 1, 0, "t", &ps), -EFAULT);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 1ull << 50, PG, DC_DCFS_PIN_READONLY, "t", &ps), -EFAULT);
	CHECK_EQ(ps.id, 0);
	/* pins */
	CHECK_EQ(dc_dcfs_pins(FS, fd, 0, UINT64_MAX, NULL, 1), -EINVAL);
	/* stat */
	CHECK_EQ(dc_dcfs_fstat(FS, fd, NULL), -EINVAL);
	/* NULL file system everywhere. */
	CHECK_EQ(dc_dcfs_pread(NULL, fd, buf, 1, 0), -EINVAL);
	CHECK_EQ(dc_dcfs_pwrite(NULL, fd, buf, 1, 0), -EINVAL);
	CHECK_EQ(dc_dcfs_truncate(NULL, fd, 0, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_fallocate(NULL, fd, 0, 0, PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_iomap(NULL, fd, 0, PG, 0, &m), -EINVAL);
	CHECK_EQ(dc_dcfs_fault(NULL, fd, 0, 0, 0, &res), -EINVAL);
	CHECK_EQ(dc_dcfs_pin(NULL, fd, 0, PG, 0, "t", &ps), -EINVAL);
	CHECK_EQ(dc_dcfs_unpin(NULL, &ps), -EINVAL);
	CHECK_EQ(dc_dcfs_pins(NULL, fd, 0, PG, &info, 1), -EINVAL);
	CHECK_EQ(dc_dcfs_fstat(NULL, fd, &st), -EINVAL);
	CHECK_EQ(dc_dcfs_fsync(NULL, fd, false), -EINVAL);
	CHECK_EQ(dc_dcfs_close(NULL, fd), -EINVAL);
	/* Nothing changed. */
	check_contents(fd, model, sizeof(model));
	st = xstat(fd);
	CHECK_EQ(st.blocks, 4);
	CHECK_EQ(st.pinned_pages, 0);
	CHECK_EQ(sfs().pins, 0);
	/* The largest size is allowed (a hole), and shrinks back. */
	CHECK_EQ(dc_dcfs_truncate(FS, fd, MAX, NULL), 0);
	CHECK_EQ(fsize(fd), MAX);
	CHECK_EQ(dc_dcfs_pread(FS, fd, buf, 64, MAX - 10), 10);
	CHECK(all_bytes(buf, 0, 10));
	xwrite(fd, "end", 3, MAX - 3);
	CHECK_EQ(dc_dcfs_pwrite(FS, fd, buf, 4, MAX - 3), -EFBIG);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_INSERT, 0, PG, NULL), -EFBIG);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 4 * PG, NULL), 0);
	check_contents(fd, model, sizeof(model));
	CHECK_EQ(xstat(fd).blocks, 4);
	xclose(fd);
	check_fs();
}

TEST(readonly_descriptor_refuses_writes)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_iomap m;
	uint8_t buf[16];
	int fd, ro;

	fx("mem:64M", NULL);
	fd = xcreate("ro");
	xwrite_byte(fd, 7, PG, 0);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 4 * PG, NULL), 0);
	xclose(fd);
	ro = xopen("ro", DC_DCFS_RDONLY);
	CHECK_EQ(dc_dcfs_pwrite(FS, ro, buf, 16, 0), -EBADF);
	CHECK_EQ(dc_dcfs_truncate(FS, ro, 0, NULL), -EBADF);
	CHECK_EQ(dc_dcfs_truncate(FS, ro, 8 * PG, NULL), -EBADF);
	for (unsigned mode = 0; mode <= 4; mode++)
		CHECK_EQ(dc_dcfs_fallocate(FS, ro, mode, 0, PG, NULL), -EBADF);
	CHECK_EQ(dc_dcfs_pin(FS, ro, 0, PG, 0, "w", &ps), -EBADF);
	CHECK_EQ(dc_dcfs_pin(FS, ro, PG, PG, 0, "w", &ps), -EBADF); /* a hole */
	CHECK_EQ(dc_dcfs_iomap(FS, ro, PG, PG, DC_DCFS_IOMAP_WRITE, &m), -EBADF);
	CHECK_EQ(dc_dcfs_fault(FS, ro, 0, DC_DCFS_FAULT_WRITE, 0, &res), -EBADF);
	CHECK_EQ(dc_dcfs_fault(FS, ro, 1, DC_DCFS_FAULT_WRITE, 0, &res), -EBADF);
	/* Reading works. */
	CHECK_EQ(dc_dcfs_pread(FS, ro, buf, 16, 0), 16);
	CHECK(all_bytes(buf, 7, 16));
	CHECK_EQ(dc_dcfs_fault(FS, ro, 0, 0, 0, &res), 0);
	CHECK_EQ(dc_dcfs_iomap(FS, ro, 0, PG, 0, &m), 0);
	CHECK_EQ(dc_dcfs_pin(FS, ro, 0, PG, DC_DCFS_PIN_READONLY, "r", &ps), 0);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(dc_dcfs_fsync(FS, ro, false), 0);
	{
		struct dc_dcfs_stat st = xstat(ro);

		CHECK_EQ(st.size, 4 * PG);
		CHECK_EQ(st.blocks, 1);
	}
	xclose(ro);
	check_fs();
}

TEST(closed_and_forged_descriptors)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_iomap m;
	struct dc_dcfs_stat st;
	struct dc_dcfs_pin_info info;
	uint8_t buf[16] = { 0 };
	int fd, fd2, keep, bad[8], nbad = 0;

	fx("mem:64M", NULL);
	keep = xcreate("k");
	xwrite_byte(keep, 1, PG, 0);
	fd = xopen("k", DC_DCFS_RDWR);
	xclose(fd);
	/* Stale descriptors: a reopen must not bring them back. */
	for (int i = 0; i < 100; i++) {
		fd2 = xopen("k", DC_DCFS_RDWR);
		CHECK(fd2 != fd);
		CHECK_EQ(dc_dcfs_pread(FS, fd, buf, 1, 0), -EBADF);
		CHECK_EQ(dc_dcfs_pwrite(FS, fd, buf, 1, 0), -EBADF);
		CHECK_EQ(dc_dcfs_close(FS, fd), -EBADF);
		CHECK_EQ(xstat(fd2).nopen, 2);
		fd = fd2;
		xclose(fd);
	}
	bad[nbad++] = fd; /* closed */
	bad[nbad++] = -1;
	bad[nbad++] = INT32_MIN;
	bad[nbad++] = INT32_MAX;
	bad[nbad++] = keep + 1;
	bad[nbad++] = keep ^ (1 << 24);
	bad[nbad++] = keep ^ (1 << 28);
	bad[nbad++] = 1 << 20;
	for (int i = 0; i < nbad; i++) {
		int b = bad[i];

		if (b == keep)
			continue;
		CHECK_EQ(dc_dcfs_pread(FS, b, buf, 1, 0), -EBADF);
		CHECK_EQ(dc_dcfs_pwrite(FS, b, buf, 1, 0), -EBADF);
		CHECK_EQ(dc_dcfs_fsync(FS, b, false), -EBADF);
		CHECK_EQ(dc_dcfs_truncate(FS, b, 0, NULL), -EBADF);
		CHECK_EQ(dc_dcfs_fallocate(FS, b, DC_DCFS_FALLOC_PUNCH, 0, PG, NULL), -EBADF);
		CHECK_EQ(dc_dcfs_iomap(FS, b, 0, PG, 0, &m), -EBADF);
		CHECK_EQ(dc_dcfs_fault(FS, b, 0, 0, 0, &res), -EBADF);
		CHECK_EQ(dc_dcfs_pin(FS, b, 0, PG, 0, "x", &ps), -EBADF);
		CHECK_EQ(dc_dcfs_pins(FS, b, 0, PG, &info, 1), -EBADF);
		CHECK_EQ(dc_dcfs_fstat(FS, b, &st), -EBADF);
		CHECK_EQ(dc_dcfs_close(FS, b), -EBADF);
	}
	CHECK_EQ(sfs().open, 1);
	CHECK_EQ(xstat(keep).size, PG);
	CHECK_EQ(xstat(keep).blocks, 1);
	xclose(keep);
	check_fs();
}

/*
 * A stale descriptor stays stale while its slot is reopened up to 32,767
 * times (a 15-bit generation, dcfs.h).
 */
TEST(stale_descriptor_after_many_reopens)
{
	uint8_t b[1];
	int first, fd, same = 0, at = -1;

	fx("mem:64M", NULL);
	fd = xcreate("g");
	xclose(fd);
	first = xopen("g", DC_DCFS_RDWR);
	xclose(first);
	for (int i = 0; i < 32767; i++) {
		fd = xopen("g", DC_DCFS_RDWR);
		if (fd == first || dc_dcfs_pread(FS, first, b, 1, 0) != -EBADF) {
			if (!same++)
				at = i;
		}
		xclose(fd);
	}
	if (same)
		fprintf(stderr, "[%s] the closed descriptor %d was accepted again %d times, first "
			"after %d reopens of its slot\n", t_current, first, same, at + 1);
	CHECK_EQ(same, 0);
	check_fs();
}

/* 65,536 descriptors open: the next open is -EMFILE; closing one makes room. */
TEST(emfile)
{
	int *fds = malloc(sizeof(int) << 16), n = 0, fd;

	CHECK(fds);
	fx("mem:4M", NULL);
	fds[n++] = xcreate("m");
	while (n < (1 << 16)) {
		fd = dc_dcfs_open(FS, "m", DC_DCFS_RDONLY);
		if (fd < 0) {
			fprintf(stderr, "[%s] open %d: %d\n", t_current, n, fd);
			CHECK(fd >= 0);
		}
		fds[n++] = fd;
	}
	CHECK_EQ(dc_dcfs_open(FS, "m", DC_DCFS_RDONLY), -EMFILE);
	CHECK_EQ(dc_dcfs_create(FS, "other"), -EMFILE);
	CHECK_EQ(sfs().files, 1);
	CHECK_EQ(sfs().open, 1u << 16);
	xclose(fds[12345]);
	fds[12345] = xopen("m", DC_DCFS_RDWR);
	for (int i = 0; i < n; i++)
		xclose(fds[i]);
	CHECK_EQ(sfs().open, 0);
	free(fds);
	check_fs();
}

TEST(double_and_forged_unpin)
{
	struct dc_dcfs_pinset ps = { 0 }, copy, forged = { 0 }, never = { 0 };
	uint32_t before, pinned;
	uint64_t pg;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("u");
	xwrite_byte(fd, 1, 2 * PG, 0);
	pg = pgoff_of(fd, 0);
	before = refcount_at(pg);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, 0, "once", &ps), 0);
	pinned = refcount_at(pg);
	CHECK(pinned >= before + DC_PIN_BIAS);
	copy = ps;
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(ps.id, 0);
	before = refcount_at(pg);
	CHECK(before < DC_PIN_BIAS);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), -EINVAL); /* twice */
	CHECK_EQ(dc_dcfs_unpin(FS, &copy), -EINVAL); /* a copy of the old one */
	CHECK_EQ(dc_dcfs_unpin(FS, &never), -EINVAL);
	forged.id = 0xdeadbeef;
	forged.length = PG;
	CHECK_EQ(dc_dcfs_unpin(FS, &forged), -EINVAL);
	CHECK_EQ(dc_dcfs_unpin(FS, NULL), -EINVAL);
	CHECK_EQ(refcount_at(pg), before); /* nothing released twice */
	/* A copy of a live pin set with another id: refused, the real one stays. */
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, 0, "live", &ps), 0);
	pinned = refcount_at(pg);
	copy = ps;
	copy.id ^= 0x5a5a0000;
	CHECK_EQ(dc_dcfs_unpin(FS, &copy), -EINVAL);
	CHECK_EQ(refcount_at(pg), pinned);
	CHECK_EQ(sfs().pins, 1);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(refcount_at(pg), before);
	/* LONGTERM through dc_dcfs_pin(): no revoke callback, refused, nothing pinned. */
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, DC_DCFS_PIN_LONGTERM, "lt", &ps), -EOPNOTSUPP);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, DC_DCFS_PIN_LONGTERM | DC_DCFS_PIN_READONLY, "lt",
			     &ps), -EOPNOTSUPP);
	CHECK_EQ(ps.id, 0);
	CHECK_EQ(sfs().pins, 0);
	CHECK_EQ(refcount_at(pg), before);
	xclose(fd);
	check_fs();
}

TEST(unmount_busy)
{
	struct dc_dcfs_pinset ps = { 0 };
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("b");
	xwrite_byte(fd, 1, PG, 0);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), -EBUSY);
	/* Nothing changed: the mount works. */
	xwrite(fd, "x", 1, 10);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, 0, "um", &ps), 0);
	xclose(fd);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), -EBUSY); /* the pin */
	CHECK_EQ(sfs().files, 1);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	check_fs();
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), 0); /* with a file left: evicted */
	FS = NULL;
	CHECK(dc_region_holder(R) == NULL);
	/* The region can be mounted again: an empty namespace. */
	CHECK_EQ(dc_dcfs_mount(R, NULL, NULL, NULL, &FS), 0);
	CHECK_EQ(sfs().files, 0);
	CHECK_EQ(sfs().blocks_free, sfs().blocks);
}

TEST(collapse_insert_misaligned)
{
	uint8_t model[8 * 4096];
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("ci");
	pattern(model, sizeof(model), 4);
	xwrite(fd, model, sizeof(model), 0);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_COLLAPSE, 100, PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_COLLAPSE, PG, 100, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_COLLAPSE, PG, 7 * PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_COLLAPSE, 6 * PG, 4 * PG, NULL),
		 -EINVAL);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_COLLAPSE, 8 * PG, PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_INSERT, 100, PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_INSERT, PG, 100, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_INSERT, 9 * PG, PG, NULL), -EINVAL);
	check_contents(fd, model, sizeof(model));
	/* Collapse up to just below the size works. */
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_COLLAPSE, 6 * PG, PG, NULL), 0);
	CHECK_EQ(fsize(fd), 7 * PG);
	{
		uint8_t want[7 * 4096];

		memcpy(want, model, 6 * PG);
		memcpy(want + 6 * PG, model + 7 * PG, PG);
		check_contents(fd, want, sizeof(want));
	}
	xclose(fd);
	check_fs();
}

/* Insert at the size: -EINVAL, as fallocate(2) (dcfs.h since 7af2199); grow with truncate. */
TEST(insert_at_eof_is_einval)
{
	uint8_t model[8 * 4096];
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("ie");
	pattern(model, 8 * PG, 4);
	xwrite(fd, model, 8 * PG, 0);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_INSERT, 8 * PG, PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_INSERT, 7 * PG, PG, NULL), 0);
	CHECK_EQ(xstat(fd).blocks, 8);
	CHECK_EQ(fsize(fd), 9 * PG);
	{
		uint8_t want[9 * 4096];

		memcpy(want, model, 7 * PG);
		memset(want + 7 * PG, 0, PG);
		memcpy(want + 8 * PG, model + 7 * PG, PG);
		check_contents(fd, want, sizeof(want));
	}
	xclose(fd);
	check_fs();
}

/* dc_dcfs_pins() with a range that wraps: -EINVAL (lengths that overflow). */
TEST(pins_range_overflow_refused)
{
	struct dc_dcfs_pin_info info;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("po");
	xwrite_byte(fd, 1, PG, 0);
	CHECK_EQ(dc_dcfs_pins(FS, fd, UINT64_MAX - 4, 16, &info, 1), -EINVAL);
	CHECK_EQ(dc_dcfs_pins(FS, fd, 2 * PG, UINT64_MAX - PG, &info, 1), -EINVAL);
	CHECK_EQ(dc_dcfs_pins(FS, fd, 0, UINT64_MAX, &info, 1), 0); /* to the end: fine */
	xclose(fd);
	check_fs();
}

/* Collapse and insert without pins, against a model, a few rounds. */
TEST(collapse_insert_model)
{
	enum { MAXP = 64 };
	uint8_t *model = calloc(MAXP + 16, PG), *tmp = malloc((MAXP + 16) * PG);
	uint64_t size = 32 * PG, rng = t_seed(3);
	int fd;

	CHECK(model && tmp);
	fx("mem:64M", NULL);
	fd = xcreate("m");
	pattern(model, size, 2);
	xwrite(fd, model, size, 0);
	for (int round = 0; round < 60; round++) {
		uint64_t pages = size / PG, r = t_rand(&rng);
		uint64_t off = (r % pages) * PG, len = (1 + (r >> 16) % 4) * PG;

		if ((r >> 32) & 1) {
			if (off + len >= size)
				continue;
			CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_COLLAPSE, off, len, NULL), 0);
			memmove(model + off, model + off + len, size - off - len);
			size -= len;
		} else {
			if (size + len > MAXP * PG)
				continue;
			CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_INSERT, off, len, NULL), 0);
			memmove(model + off + len, model + off, size - off);
			memset(model + off, 0, len);
			size += len;
		}
		if ((r >> 40) % 4 == 0) { /* write into the inserted hole */
			uint64_t w = (r >> 44) % size;
			size_t n = size - w < 3000 ? size - w : 3000;

			pattern(tmp, n, round);
			xwrite(fd, tmp, n, w);
			memcpy(model + w, tmp, n);
		}
		check_contents(fd, model, size);
		check_fs();
	}
	xclose(fd);
	free(model);
	free(tmp);
}

/* ---- allocation failures -------------------------------------------------------------- */

static void enomem_ok(long long r, long long want)
{
	if (r != want && r != -ENOMEM)
		fprintf(stderr, "[%s] got %lld, expected %lld or -ENOMEM\n", t_current, r, want);
	CHECK(r == want || r == -ENOMEM);
}

/* One create/write/fault/pin/truncate sequence; stops at the first -ENOMEM. */
static void alloc_sequence(uint8_t *buf)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_iomap m;
	int fd;
	long long r;

	fd = dc_dcfs_create(FS, "inj");
	enomem_ok(fd < 0 ? fd : 0, 0);
	if (fd < 0)
		return;
#define STEP(call, want)                  \
	do {                              \
		r = (call);               \
		enomem_ok(r, (want));     \
		if (r == -ENOMEM)         \
			goto out;         \
	} while (0)
	{
		int fd2 = dc_dcfs_open(FS, "inj", DC_DCFS_RDONLY);

		r = fd2 < 0 ? fd2 : 0;
		enomem_ok(r, 0);
		if (fd2 >= 0)
			CHECK_EQ(dc_dcfs_close(FS, fd2), 0);
		if (r)
			goto out;
	}
	STEP(dc_dcfs_rename(FS, "inj", "inj2"), 0);
	STEP(dc_dcfs_rename(FS, "inj2", "inj"), 0);
	STEP(dc_dcfs_pwrite(FS, fd, buf, 3 * PG + 100, 0), 3 * PG + 100);
	STEP(dc_dcfs_pwrite(FS, fd, buf, PG, 2u << 20), PG);
	STEP(dc_dcfs_pwrite(FS, fd, buf, 4u << 20, 4u << 20), 4u << 20);
	STEP(dc_dcfs_fault(FS, fd, 10, 0, 0, &res), 0);
	STEP(dc_dcfs_fault(FS, fd, 11, DC_DCFS_FAULT_WRITE, 0, &res), 0);
	STEP(dc_dcfs_fault(FS, fd, 10, DC_DCFS_FAULT_WRITE, 0, &res), 0);
	STEP(dc_dcfs_fault(FS, fd, 1024, 0, 9, &res), 0);
	STEP(dc_dcfs_iomap(FS, fd, 20 * PG, PG, DC_DCFS_IOMAP_WRITE, &m), 0);
	STEP(dc_dcfs_pin(FS, fd, PG, 12 * PG, 0, "inj", &ps), 0);
	r = dc_dcfs_unpin(FS, &ps);
	CHECK_EQ(r, 0);
	STEP(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, PG, PG, NULL), 0);
	STEP(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_COLLAPSE, 0, PG, NULL), 0);
	STEP(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_INSERT, PG, 2 * PG, NULL), 0);
	STEP(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_ZERO, 100, 2 * PG, NULL), 0);
	STEP(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_ALLOC, 30 * PG, 2 * PG, NULL), 0);
	STEP(dc_dcfs_truncate(FS, fd, 5000, NULL), 0);
	STEP(dc_dcfs_truncate(FS, fd, 0, NULL), 0);
#undef STEP
out:
	CHECK_EQ(ps.id, 0); /* a failed pin leaves nothing pinned */
	CHECK_EQ(dc_dcfs_close(FS, fd), 0);
	{
		struct dc_dcfs_stat st;
		const char *name = dc_dcfs_lookup(FS, "inj", &st) == 0 ? "inj" : "inj2";

		CHECK_EQ(dc_dcfs_unlink(FS, name), 0);
	}
}

TEST(alloc_failure_every_step)
{
	uint8_t *buf = malloc(4u << 20);
	unsigned long n, hit = 0;

	CHECK(buf);
	memset(buf, 0x3c, 4u << 20);
	fx("mem:64M", NULL);
	for (n = 1; n < 100000; n++) {
		unsigned long start = dc__alloc_count();
		bool reached;

		dc__fault_set(n);
		alloc_sequence(buf);
		reached = dc__alloc_count() - start >= n;
		dc__fault_set(0);
		check_fs();
		{
			struct dc_dcfs_statfs s = sfs();

			CHECK_EQ(s.open, 0);
			CHECK_EQ(s.pins, 0);
			CHECK_EQ(s.files, 0);
			CHECK_EQ(s.orphans, 0);
			CHECK_EQ(s.blocks_free, s.blocks);
		}
		if (!reached)
			break;
		hit++;
	}
	CHECK(n < 100000);
	printf("allocation failure injected at %lu points of the sequence\n", hit);
	free(buf);
}

TEST(alloc_failure_in_mount)
{
	unsigned long n;

	CHECK_EQ(dc_region_create("mem:16M", &R), 0);
	for (n = 1; n < 10000; n++) {
		unsigned long start = dc__alloc_count();
		int r, fd;

		bool reached;

		dc__fault_set(n);
		r = dc_dcfs_mount(R, NULL, NULL, NULL, &FS);
		reached = dc__alloc_count() - start >= n;
		dc__fault_set(0);
		if (r) {
			CHECK_EQ(r, -ENOMEM);
			CHECK(dc_region_holder(R) == NULL);
			FS = NULL;
			continue;
		}
		fd = xcreate("m");
		xwrite(fd, "m", 1, 0);
		xclose(fd);
		check_fs();
		if (!reached) /* the mount made fewer than n allocations */
			break;
		CHECK_EQ(dc_dcfs_unmount(FS, NULL), 0);
		FS = NULL;
	}
	CHECK(FS != NULL);
}

T_MAIN(setup, teardown)
