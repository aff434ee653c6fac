/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_dcfs_share - dcfs part 2, one behaviour at a time: reflink and
 * copy-on-write (by pwrite, by a write fault, by a write pin), the reverse
 * map and share counts (dc_dcfs_rmap(), statfs, stat), the quarantine
 * mount option, memory failure reported to every sharer, revocable
 * long-term pins, device removal, and bad input of the part-2 calls.
 *
 * The scenarios of issue 8 section 6 are named after it:
 *   1 reflink_cow_then_truncate_original
 *   3 quarantine_truncate_of_pinned_file
 *   4 memory_failure_on_reflinked_block
 *   5 longterm_pin_revoke
 *   6 device_removal_with_outstanding_pin
 *   7 bad_input_reflink, bad_input_rmap_and_poison, operations_after_shutdown
 * (2 is a concurrency test: test_conc_dcfs reflink_writers_vs_reflink_truncate).
 * The scenarios call dc_dcfs_check() after every step: share counts and
 * the reverse map must be exact at each one, not only at the end.
 *
 * Every case mounts its own file system (fx()) with an event callback that
 * copies what it is told (slow waits, memory failures).  The teardown
 * (dcfs_fixture.h) checks that nothing is open, pinned, shared or
 * quarantined, that every block but the bad ones is free again once every
 * file is unlinked, unmounts and removes the region (no reference left).
 *
 * No case measures time: a wait that must not happen is bounded by a
 * deadline (it fails -ETIMEDOUT instead of hanging), and one that must
 * happen is released by a helper thread after the operation is seen
 * waiting (statfs.break_waits grows, or a cap passes).
 */
#include "dcfs_fixture.h"

#include <stdarg.h>
#include <stdatomic.h>

/* ---- the fixture ------------------------------------------------------------ */

#define MAX_EV 32
struct ev_copy {
	enum dc_dcfs_event_type type;
	uint64_t ino, offset, length, pgoff;
	char op[24];
	char name[DC_DCFS_NAME_MAX + 1];
	bool named;
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
	evs[i].pgoff = ev->pgoff;
	snprintf(evs[i].op, sizeof(evs[i].op), "%s", ev->op ? ev->op : "(null)");
	evs[i].named = ev->name != NULL;
	snprintf(evs[i].name, sizeof(evs[i].name), "%s", ev->name ? ev->name : "");
	evs[i].npins = ev->npins;
	if (ev->npins && ev->pins)
		evs[i].pin0 = ev->pins[0];
}

static const struct dc_dcfs_ops ev_ops = { .event = on_event };

static void fx(const char *spec, const char *opts)
{
	CHECK_EQ(dc_region_create(spec, &R), 0);
	CHECK_EQ(dc_dcfs_mount(R, opts, &ev_ops, (void *)&nevs, &FS), 0);
	CHECK(dc_dcfs_region(FS) == R);
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

/* Events of @type so far. */
static int count_events(enum dc_dcfs_event_type type)
{
	int n = atomic_load(&nevs), c = 0;

	CHECK(n <= MAX_EV);
	for (int i = 0; i < n; i++)
		c += evs[i].type == type;
	return c;
}

/* ---- helpers ------------------------------------------------------------------ */

static uint64_t ino_of(int fd)
{
	return xstat(fd).ino;
}

/* Bytes [off, off + len) of the file equal @want. */
static void check_range(int fd, uint64_t off, const uint8_t *want, size_t len)
{
	uint8_t *got = malloc(len);

	CHECK(got);
	CHECK_EQ(dc_dcfs_pread(FS, fd, got, len, off), (int64_t)len);
	for (size_t i = 0; i < len; i++)
		if (got[i] != want[i]) {
			fprintf(stderr, "[%s] file byte %llu: 0x%02x, expected 0x%02x\n", t_current,
				(unsigned long long)(off + i), got[i], want[i]);
			CHECK(got[i] == want[i]);
		}
	free(got);
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

/*
 * The block of device page @pgoff is in @state and mapped by exactly the
 * @n (ino, offset) pairs that follow (in any order; the reverse map lists
 * them in ino order); its share count is @n.
 */
static void expect_block(uint64_t pgoff, enum dc_dcfs_block_state state, int n, ...)
{
	struct rmap_view v = rmap_of(pgoff);
	va_list ap;

	if (v.blk.state != state || v.n != n || v.blk.shares != (uint32_t)n) {
		fprintf(stderr, "[%s] block at page %llu: state %d, shares %u, %d owners; "
			"expected state %d, %d owners\n", t_current, (unsigned long long)pgoff,
			(int)v.blk.state, v.blk.shares, v.n, (int)state, n);
		for (int i = 0; i < v.n; i++)
			fprintf(stderr, "    owner ino %llu offset %llu\n",
				(unsigned long long)v.o[i].ino, (unsigned long long)v.o[i].offset);
	}
	CHECK_EQ(v.blk.state, state);
	CHECK_EQ(v.n, n);
	CHECK_EQ(v.blk.shares, n);
	CHECK_EQ(v.blk.block, pgoff); /* 4 KiB blocks: block number == device page */
	CHECK_EQ(v.blk.poisoned, state == DC_DCFS_BLOCK_BAD);
	for (int i = 1; i < v.n; i++)
		CHECK(v.o[i - 1].ino <= v.o[i].ino); /* in ino order */
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		uint64_t ino = va_arg(ap, uint64_t), off = va_arg(ap, uint64_t);

		if (!rmap_has(&v, ino, off))
			fprintf(stderr, "[%s] block at page %llu: no owner (ino %llu, offset %llu)\n",
				t_current, (unsigned long long)pgoff, (unsigned long long)ino,
				(unsigned long long)off);
		CHECK(rmap_has(&v, ino, off));
	}
	va_end(ap);
}

#define U(x) ((uint64_t)(x))

/*
 * A poisoned block: bad for good.  While files still map it, it may be
 * reported USED (poisoned) with those owners, or already BAD with none
 * (dcfs.h allows both: "bad, or poisoned while still in a file"); once no
 * file maps it, only BAD.  @n: the owners it may still list (@inos/@offs).
 */
static void expect_poisoned(uint64_t pgoff, int n, const uint64_t *inos, const uint64_t *offs)
{
	struct rmap_view v = rmap_of(pgoff);

	CHECK(v.blk.poisoned);
	CHECK_EQ(v.blk.shares, v.n);
	if (v.blk.state == DC_DCFS_BLOCK_BAD) {
		CHECK_EQ(v.n, 0);
		return;
	}
	if (v.blk.state != DC_DCFS_BLOCK_USED || v.n != n || !n)
		fprintf(stderr, "[%s] poisoned block at page %llu: state %d, %d owners (%d expected"
			" if still USED)\n", t_current, (unsigned long long)pgoff,
			(int)v.blk.state, v.n, n);
	CHECK(n > 0);
	CHECK_EQ(v.blk.state, DC_DCFS_BLOCK_USED);
	CHECK_EQ(v.n, n);
	for (int i = 0; i < n; i++)
		CHECK(rmap_has(&v, inos[i], offs[i]));
}

static struct dc_wait_opts deadline_in_ms(uint64_t ms)
{
	struct dc_wait_opts o = { 0 };

	o.deadline_ns = dc_now_ns() + ms * 1000000ull;
	return o;
}

/* A generous deadline for operations that must not wait at all. */
#define NO_WAIT_MS 5000

/*
 * Create @name and write into it until the file system is full (-ENOSPC);
 * return its descriptor.
 */
static int fill_fs(const char *name, int c)
{
	uint64_t nfree = sfs().blocks_free, n = nfree + 8;
	uint8_t *b = malloc(n * PG);
	int fd = xcreate(name);
	int64_t r;

	CHECK(b);
	memset(b, c, n * PG);
	r = dc_dcfs_pwrite(FS, fd, b, n * PG, 0);
	if (nfree)
		CHECK_EQ(r, (int64_t)(nfree * PG));
	else
		CHECK_EQ(r, -ENOSPC);
	CHECK_EQ(dc_dcfs_pwrite(FS, fd, b, PG, nfree * PG), -ENOSPC);
	CHECK_EQ(sfs().blocks_free, 0);
	free(b);
	return fd;
}

/*
 * None of the device pages @bad[0..n) backs any byte of @fd's file (iomap),
 * and the reverse map of none lists the file.
 */
static void check_not_in_file(int fd, const uint64_t *bad, unsigned n)
{
	uint64_t size = fsize(fd), off = 0, ino = ino_of(fd), mapped = 0;

	while (off < size) {
		struct dc_dcfs_iomap m;

		CHECK_EQ(dc_dcfs_iomap(FS, fd, off, size - off, 0, &m), 0);
		CHECK(m.offset <= off && m.offset + m.length > off);
		if (m.type != DC_DCFS_IOMAP_HOLE) {
			for (uint64_t k = 0; k < m.length >> 12; k++) {
				for (unsigned j = 0; j < n; j++)
					if (m.pgoff + k == bad[j]) {
						fprintf(stderr, "[%s] device page %llu was handed to "
							"file ino %llu at byte %llu\n", t_current,
							(unsigned long long)bad[j],
							(unsigned long long)ino,
							(unsigned long long)(m.offset + k * PG));
						CHECK(m.pgoff + k != bad[j]);
					}
			}
			mapped += m.length >> 12;
		}
		off = m.offset + m.length;
	}
	CHECK(mapped > 0); /* the check looked at something */
	for (unsigned j = 0; j < n; j++) {
		struct rmap_view v = rmap_of(bad[j]);

		for (int i = 0; i < v.n; i++)
			CHECK(v.o[i].ino != ino);
	}
}

/* The first device page whose block is free, from @from on. */
static uint64_t a_free_page(uint64_t from)
{
	uint64_t np = dc_region_npages(R);

	for (uint64_t p = from; p < np; p++)
		if (rmap_of(p).blk.state == DC_DCFS_BLOCK_FREE)
			return p;
	CHECK(!"no free block");
	return 0;
}

/* The segments cover exactly [offset, offset + length). */
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

static void dma_write(const struct dc_dcfs_pinset *ps, int c)
{
	for (unsigned i = 0; i < ps->nsegs; i++)
		memset(ps->segs[i].addr, c, ps->segs[i].len);
}

/* ---- revoke callbacks -------------------------------------------------------------- */

/*
 * What a revoke callback was told, and what it does: unpin @ps from inside
 * (@unpin), or only record (the pin is given back later, or never), and
 * optionally try a new revocable pin of a range while the break asks.
 */
struct rv_rec {
	atomic_int calls;
	uint64_t id, ino, offset, length;
	char op[24], tag[DC_DCFS_TAG_MAX + 1];
	struct dc_dcfs_pinset *ps; /* the pin set the callback is about */
	bool unpin;                /* unpin it from inside */
	int unpin_ret;
	/* A new revocable pin from inside the callback (again_len != 0). */
	int again_fd;
	uint64_t again_off, again_len;
	int again_ret;
	atomic_int *signal;        /* set to 1 (a helper thread unpins) */
};

static void rv_init(struct rv_rec *rv, struct dc_dcfs_pinset *ps, bool unpin)
{
	memset(rv, 0, sizeof(*rv));
	rv->ps = ps;
	rv->unpin = unpin;
	rv->unpin_ret = 1;
	rv->again_ret = 1;
}

static void rv_nop(struct dc_dcfs *fs, const struct dc_dcfs_revoke *r, void *arg)
{
	(void)fs;
	(void)r;
	(void)arg;
}

static void rv_cb(struct dc_dcfs *fs, const struct dc_dcfs_revoke *r, void *arg)
{
	struct rv_rec *rv = arg;

	CHECK(fs == FS);
	atomic_fetch_add(&rv->calls, 1);
	rv->id = r->id;
	rv->ino = r->ino;
	rv->offset = r->offset;
	rv->length = r->length;
	snprintf(rv->op, sizeof(rv->op), "%s", r->op ? r->op : "(null)");
	snprintf(rv->tag, sizeof(rv->tag), "%s", r->tag ? r->tag : "(null)");
	if (rv->again_len) {
		struct dc_dcfs_pinset again = { 0 };

		rv->again_ret = dc_dcfs_pin_revocable(fs, rv->again_fd, rv->again_off,
						      rv->again_len, 0, "again", rv_nop, NULL, &again);
		if (rv->again_ret == 0) /* wrong, but leave nothing behind */
			CHECK_EQ(dc_dcfs_unpin(fs, &again), 0);
	}
	if (rv->unpin)
		rv->unpin_ret = dc_dcfs_unpin(fs, rv->ps);
	if (rv->signal)
		atomic_store(rv->signal, 1);
}

/* The callback was called once for pin set @id of @ino, for @op on [off, off + len). */
static void rv_expect(const struct rv_rec *rv, uint64_t id, uint64_t ino, const char *op,
		      const char *tag, uint64_t off, uint64_t len)
{
	if (atomic_load(&rv->calls) != 1 || strcmp(rv->op, op))
		fprintf(stderr, "[%s] revoke: %d calls, last op \"%s\" (expected one, \"%s\")\n",
			t_current, atomic_load(&rv->calls), rv->op, op);
	CHECK_EQ(atomic_load(&rv->calls), 1);
	CHECK(!strcmp(rv->op, op));
	CHECK_EQ(rv->id, id);
	CHECK_EQ(rv->ino, ino);
	CHECK(!strcmp(rv->tag, tag));
	CHECK_EQ(rv->offset, off);
	CHECK_EQ(rv->length, len);
}

/* ---- reflink and copy-on-write ------------------------------------------------------ */

/* Reflink: same data from the same blocks, two owners each, counted shared. */
TEST(reflink_basics)
{
	uint8_t model[4 * 4096], bm[6 * 4096];
	uint64_t a_pg[4], ia, ib, free0;
	struct dc_dcfs_stat st;
	int a, b;

	fx("mem:64M", NULL);
	a = xcreate("a");
	pattern(model, sizeof(model), 1);
	xwrite(a, model, sizeof(model), 0);
	b = xcreate("b");
	xwrite_byte(b, 0x42, 2 * PG, 2 * PG); /* b's own blocks under the destination */
	ia = ino_of(a);
	ib = ino_of(b);
	CHECK(ia < ib);
	for (int i = 0; i < 4; i++)
		a_pg[i] = pg_of(a, i * PG);
	free0 = sfs().blocks_free;
	check_fs();
	/* Destination offset 2 pages: b grows to 6 pages, its first two a hole. */
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 2 * PG, 4 * PG, NULL), 0);
	check_fs();
	CHECK_EQ(sfs().blocks_free, free0 + 2); /* b's two old blocks freed, none allocated */
	CHECK_EQ(sfs().blocks_shared, 4);
	memset(bm, 0, sizeof(bm));
	memcpy(bm + 2 * PG, model, sizeof(model));
	check_contents(a, model, sizeof(model));
	check_contents(b, bm, sizeof(bm));
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(pg_of(b, (2 + i) * PG), a_pg[i]);
		CHECK_EQ(pg_of(a, i * PG), a_pg[i]);
		CHECK_EQ(type_of(a, i * PG), DC_DCFS_IOMAP_SHARED);
		CHECK_EQ(type_of(b, (2 + i) * PG), DC_DCFS_IOMAP_SHARED);
		expect_block(a_pg[i], DC_DCFS_BLOCK_USED, 2, ia, U(i * PG), ib, U((2 + i) * PG));
	}
	CHECK_EQ(type_of(b, 0), DC_DCFS_IOMAP_HOLE);
	st = xstat(a);
	CHECK_EQ(st.shared, 4);
	CHECK_EQ(st.size, 4 * PG);
	st = xstat(b);
	CHECK_EQ(st.shared, 4);
	CHECK_EQ(st.size, 6 * PG);
	CHECK_EQ(st.blocks, 4);
	/* The owner list is cut at @max; the count is all of them. */
	{
		struct dc_dcfs_block blk;
		struct dc_dcfs_owner o;

		CHECK_EQ(dc_dcfs_rmap(FS, a_pg[0], &blk, &o, 1), 2);
		CHECK_EQ(o.ino, ia);
		CHECK_EQ(o.offset, 0);
		CHECK_EQ(dc_dcfs_rmap(FS, a_pg[0], &blk, NULL, 0), 2);
		CHECK_EQ(blk.shares, 2);
	}
	/* Reflink again over the same destination: nothing changes. */
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 2 * PG, 4 * PG, NULL), 0);
	check_fs();
	for (int i = 0; i < 4; i++)
		expect_block(a_pg[i], DC_DCFS_BLOCK_USED, 2, ia, U(i * PG), ib, U((2 + i) * PG));
	CHECK_EQ(sfs().blocks_free, free0 + 2);
	/* A third sharer through a read-only source descriptor. */
	{
		int ro = xopen("a", DC_DCFS_RDONLY), c = xcreate("c");
		uint64_t ic = ino_of(c);

		CHECK_EQ(dc_dcfs_reflink(FS, ro, PG, c, 0, PG, NULL), 0);
		check_fs();
		expect_block(a_pg[1], DC_DCFS_BLOCK_USED, 3, ia, U(PG), ib, U(3 * PG), ic, U(0));
		CHECK_EQ(sfs().blocks_shared, 4);
		xclose(c);
		CHECK_EQ(dc_dcfs_unlink(FS, "c"), 0);
		check_fs();
		expect_block(a_pg[1], DC_DCFS_BLOCK_USED, 2, ia, U(PG), ib, U(3 * PG));
		xclose(ro);
	}
	xclose(a);
	xclose(b);
	check_fs();
}

/* Bug 24: a partial pwrite of a shared block copies it; the other sharer keeps the original. */
TEST(cow_by_pwrite)
{
	uint8_t model[4 * 4096], bm[4 * 4096];
	uint64_t a_pg[4], ia, ib, free0, cow0;
	int a, b;

	fx("mem:64M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	ia = ino_of(a);
	ib = ino_of(b);
	pattern(model, sizeof(model), 2);
	xwrite(a, model, sizeof(model), 0);
	for (int i = 0; i < 4; i++)
		a_pg[i] = pg_of(a, i * PG);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 4 * PG, NULL), 0);
	memcpy(bm, model, sizeof(bm));
	free0 = sfs().blocks_free;
	cow0 = sfs().cow_copies;
	check_fs();
	/* A few bytes into b's page 1: b gets a copy, the rest of the page kept. */
	xwrite(b, "copy-on-write", 13, PG + 100);
	memcpy(bm + PG + 100, "copy-on-write", 13);
	check_fs();
	CHECK_EQ(sfs().cow_copies, cow0 + 1);
	CHECK_EQ(sfs().blocks_free, free0 - 1);
	CHECK_EQ(sfs().blocks_shared, 3);
	check_contents(a, model, sizeof(model));
	check_contents(b, bm, sizeof(bm));
	CHECK_EQ(pg_of(a, PG), a_pg[1]);
	CHECK(pg_of(b, PG) != a_pg[1]);
	CHECK_EQ(type_of(a, PG), DC_DCFS_IOMAP_MAPPED);
	CHECK_EQ(type_of(b, PG), DC_DCFS_IOMAP_MAPPED);
	expect_block(a_pg[1], DC_DCFS_BLOCK_USED, 1, ia, U(PG));
	expect_block(pg_of(b, PG), DC_DCFS_BLOCK_USED, 1, ib, U(PG));
	CHECK_EQ(xstat(a).shared, 3);
	CHECK_EQ(xstat(b).shared, 3);
	/* The original side copies too: a's page 2. */
	xwrite(a, "orig", 4, 2 * PG + PG - 4);
	memcpy(model + 3 * PG - 4, "orig", 4);
	check_fs();
	CHECK_EQ(sfs().cow_copies, cow0 + 2);
	CHECK_EQ(pg_of(b, 2 * PG), a_pg[2]);
	CHECK(pg_of(a, 2 * PG) != a_pg[2]);
	expect_block(a_pg[2], DC_DCFS_BLOCK_USED, 1, ib, U(2 * PG));
	check_contents(a, model, sizeof(model));
	check_contents(b, bm, sizeof(bm));
	/* A write across the end of shared page 3 and on past EOF: page 3 copied, page 4 new. */
	{
		uint8_t w[200];

		pattern(w, sizeof(w), 20);
		xwrite(b, w, sizeof(w), 4 * PG - 100); /* page 3 and a new page 4 */
		memcpy(bm + 4 * PG - 100, w, 100);
		check_fs();
		CHECK_EQ(sfs().cow_copies, cow0 + 3);
		CHECK_EQ(fsize(b), 4 * PG + 100);
		check_range(b, 4 * PG, w + 100, 100);
		check_range(b, 0, bm, 4 * PG);
		CHECK_EQ(pg_of(a, 3 * PG), a_pg[3]);
		expect_block(a_pg[3], DC_DCFS_BLOCK_USED, 1, ia, U(3 * PG));
	}
	/* A whole-page overwrite: whether it counts a copy is the implementation's, the result is not. */
	xwrite_byte(b, 0x77, PG, 0);
	memset(bm, 0x77, PG);
	check_fs();
	CHECK(pg_of(b, 0) != a_pg[0]);
	CHECK_EQ(pg_of(a, 0), a_pg[0]);
	expect_block(a_pg[0], DC_DCFS_BLOCK_USED, 1, ia, U(0));
	check_contents(a, model, sizeof(model));
	check_range(b, 0, bm, 4 * PG);
	CHECK_EQ(sfs().blocks_shared, 0);
	CHECK_EQ(xstat(a).shared, 0);
	CHECK_EQ(xstat(b).shared, 0);
	/* Nothing is shared now: a write copies nothing. */
	cow0 = sfs().cow_copies;
	xwrite(a, "x", 1, 0);
	CHECK_EQ(sfs().cow_copies, cow0);
	CHECK_EQ(pg_of(a, 0), a_pg[0]);
	xclose(a);
	xclose(b);
	check_fs();
}

/* A write fault of a shared block maps a copy; a read fault maps the shared block read-only. */
TEST(cow_by_write_fault)
{
	struct dc_dcfs_fault_result r, w;
	uint8_t model[4 * 4096];
	uint64_t a_pg[4], ia, ib, cow0, free0;
	int a, b;

	fx("mem:64M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	ia = ino_of(a);
	ib = ino_of(b);
	pattern(model, sizeof(model), 3);
	xwrite(a, model, sizeof(model), 0);
	for (int i = 0; i < 4; i++)
		a_pg[i] = pg_of(a, i * PG);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 4 * PG, NULL), 0);
	check_fs();
	cow0 = sfs().cow_copies;
	free0 = sfs().blocks_free;
	/* Read faults, both sides: the shared block, read-only. */
	CHECK_EQ(dc_dcfs_fault(FS, b, 1, 0, 0, &r), 0);
	CHECK(!r.zero);
	CHECK(!r.writable);
	CHECK_EQ(r.pgoff, a_pg[1]);
	CHECK_EQ(r.index, 1);
	CHECK(r.addr == dc_region_addr(R, a_pg[1]));
	CHECK(!memcmp(r.addr, model + PG, PG));
	CHECK_EQ(dc_dcfs_fault(FS, a, 1, 0, 0, &r), 0);
	CHECK(!r.writable);
	CHECK_EQ(r.pgoff, a_pg[1]);
	check_fs();
	CHECK_EQ(sfs().cow_copies, cow0);
	/* The write fault copies: a new page, the same bytes, writable. */
	CHECK_EQ(dc_dcfs_fault(FS, b, 1, DC_DCFS_FAULT_WRITE, 0, &w), 0);
	check_fs();
	CHECK(!w.zero);
	CHECK(w.writable);
	CHECK_EQ(w.index, 1);
	CHECK(w.pgoff != a_pg[1]);
	CHECK(w.addr == dc_region_addr(R, w.pgoff));
	CHECK(!memcmp(w.addr, model + PG, PG));
	CHECK_EQ(sfs().cow_copies, cow0 + 1);
	CHECK_EQ(sfs().blocks_free, free0 - 1);
	CHECK_EQ(pg_of(b, PG), w.pgoff);
	expect_block(w.pgoff, DC_DCFS_BLOCK_USED, 1, ib, U(PG));
	expect_block(a_pg[1], DC_DCFS_BLOCK_USED, 1, ia, U(PG));
	/* A store through the new mapping reaches b only. */
	memcpy((uint8_t *)w.addr + 10, "through the view", 16);
	check_contents(a, model, sizeof(model));
	{
		uint8_t want[4096];

		memcpy(want, model + PG, PG);
		memcpy(want + 10, "through the view", 16);
		check_range(b, PG, want, PG);
	}
	/* A read fault of b now maps its own copy. */
	CHECK_EQ(dc_dcfs_fault(FS, b, 1, 0, 0, &r), 0);
	CHECK_EQ(r.pgoff, w.pgoff);
	/* Faulting it for write again copies nothing. */
	CHECK_EQ(dc_dcfs_fault(FS, b, 1, DC_DCFS_FAULT_WRITE, 0, &r), 0);
	CHECK_EQ(r.pgoff, w.pgoff);
	CHECK(r.writable);
	CHECK_EQ(sfs().cow_copies, cow0 + 1);
	/* The original side: a's page 2 (read-faulted shared first). */
	CHECK_EQ(dc_dcfs_fault(FS, a, 2, 0, 0, &r), 0);
	CHECK(!r.writable);
	CHECK_EQ(dc_dcfs_fault(FS, a, 2, DC_DCFS_FAULT_WRITE, 0, &w), 0);
	check_fs();
	CHECK(w.pgoff != a_pg[2]);
	CHECK(w.writable);
	CHECK_EQ(sfs().cow_copies, cow0 + 2);
	memset(w.addr, 0xAB, 8);
	CHECK_EQ(pg_of(b, 2 * PG), a_pg[2]);
	check_range(b, 2 * PG, model + 2 * PG, PG);
	expect_block(a_pg[2], DC_DCFS_BLOCK_USED, 1, ib, U(2 * PG));
	xclose(a);
	xclose(b);
	check_fs();
}

/*
 * A reflink makes the source's blocks shared: writable entries the source
 * had must not stay writable (its next write fault copies), or a store
 * through an old mapping would change both files.
 */
TEST(reflink_downgrades_writable_entries)
{
	struct dc_dcfs_fault_result w, w2;
	uint8_t model[2 * 4096];
	uint64_t pg0, cow0;
	int a, b;

	fx("mem:64M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	pattern(model, sizeof(model), 4);
	xwrite(a, model, sizeof(model), 0);
	CHECK_EQ(dc_dcfs_fault(FS, a, 0, DC_DCFS_FAULT_WRITE, 0, &w), 0);
	CHECK(w.writable);
	pg0 = w.pgoff;
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 2 * PG, NULL), 0);
	check_fs();
	cow0 = sfs().cow_copies;
	CHECK_EQ(dc_dcfs_fault(FS, a, 0, 0, 0, &w2), 0);
	CHECK(!w2.writable); /* the old writable entry is gone */
	CHECK_EQ(w2.pgoff, pg0);
	CHECK_EQ(dc_dcfs_fault(FS, a, 0, DC_DCFS_FAULT_WRITE, 0, &w2), 0);
	CHECK(w2.pgoff != pg0);
	CHECK_EQ(sfs().cow_copies, cow0 + 1);
	memset(w2.addr, 0xEE, PG);
	check_range(b, 0, model, 2 * PG);
	check_fs();
	xclose(a);
	xclose(b);
}

/* A write pin of a shared block pins a copy; a read-only pin pins the shared block. */
TEST(cow_by_write_pin)
{
	struct dc_dcfs_pinset ps = { 0 };
	uint8_t model[4 * 4096], bm[4 * 4096];
	uint64_t a_pg[4], ia, ib, cow0;
	int a, b;

	fx("mem:64M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	ia = ino_of(a);
	ib = ino_of(b);
	pattern(model, sizeof(model), 5);
	xwrite(a, model, sizeof(model), 0);
	for (int i = 0; i < 4; i++)
		a_pg[i] = pg_of(a, i * PG);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 4 * PG, NULL), 0);
	memcpy(bm, model, sizeof(bm));
	check_fs();
	cow0 = sfs().cow_copies;
	/* Read-only: no copy, the shared block itself. */
	CHECK_EQ(dc_dcfs_pin(FS, b, 0, PG, DC_DCFS_PIN_READONLY, "ro", &ps), 0);
	check_segs(&ps, 0, PG);
	CHECK_EQ(ps.segs[0].pgoff, a_pg[0]);
	CHECK_EQ(sfs().cow_copies, cow0);
	expect_block(a_pg[0], DC_DCFS_BLOCK_USED, 2, ia, U(0), ib, U(0));
	check_fs();
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	/* For write, across pages 1 and 2 (not whole): both copied first. */
	CHECK_EQ(dc_dcfs_pin(FS, b, PG + 100, 2 * PG - 200, 0, "dma-in", &ps), 0);
	check_fs();
	check_segs(&ps, PG + 100, 2 * PG - 200);
	CHECK_EQ(sfs().cow_copies, cow0 + 2);
	for (uint64_t off = PG + 100; off < 3 * PG; off += PG) {
		uint8_t *addr;
		uint64_t pg = pin_page(&ps, off, &addr);
		uint64_t page = off >> 12;

		CHECK(pg != UINT64_MAX);
		for (int i = 0; i < 4; i++)
			CHECK(pg != a_pg[i]);
		CHECK_EQ(pg, pg_of(b, page * PG));
		CHECK(!memcmp(addr, model + off, PG - (off & (PG - 1))));
		expect_block(pg, DC_DCFS_BLOCK_USED, 1, ib, page * PG);
		expect_block(a_pg[page], DC_DCFS_BLOCK_USED, 1, ia, page * PG);
	}
	dma_write(&ps, 0xD7);
	memset(bm + PG + 100, 0xD7, 2 * PG - 200);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	check_fs();
	check_contents(a, model, sizeof(model));
	check_contents(b, bm, sizeof(bm));
	CHECK_EQ(sfs().blocks_shared, 2);
	xclose(a);
	xclose(b);
	check_fs();
}

/* iomap says SHARED for shared blocks, only for them, also when asked for write. */
TEST(iomap_reports_shared)
{
	struct dc_dcfs_iomap m;
	uint64_t pg1;
	int a, b;

	fx("mem:64M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	xwrite_byte(a, 0x31, 4 * PG, 0);
	pg1 = pg_of(a, PG);
	/* Only pages 1-2 of a are shared. */
	CHECK_EQ(dc_dcfs_reflink(FS, a, PG, b, 0, 2 * PG, NULL), 0);
	check_fs();
	CHECK_EQ(dc_dcfs_iomap(FS, a, 0, 4 * PG, 0, &m), 0);
	CHECK_EQ(m.type, DC_DCFS_IOMAP_MAPPED);
	CHECK_EQ(m.offset, 0);
	CHECK_EQ(m.length, PG); /* the same answer stops where sharing starts */
	CHECK_EQ(dc_dcfs_iomap(FS, a, PG, 3 * PG, 0, &m), 0);
	CHECK_EQ(m.type, DC_DCFS_IOMAP_SHARED);
	CHECK_EQ(m.offset, PG);
	CHECK(m.length == PG || m.length == 2 * PG); /* one block, or both (contiguous) */
	CHECK_EQ(m.pgoff, pg1);
	CHECK(!m.fresh);
	CHECK_EQ(dc_dcfs_iomap(FS, a, 3 * PG, PG, 0, &m), 0);
	CHECK_EQ(m.type, DC_DCFS_IOMAP_MAPPED);
	CHECK_EQ(dc_dcfs_iomap(FS, b, 100, 2 * PG - 100, 0, &m), 0);
	CHECK_EQ(m.type, DC_DCFS_IOMAP_SHARED);
	CHECK(m.offset <= 100 && m.offset + m.length > 100);
	CHECK_EQ(m.pgoff + ((100 >> 12) - (m.offset >> 12)), pg1);
	/* For write: answered as it is (the write paths copy), nothing allocated. */
	{
		uint64_t free0 = sfs().blocks_free;

		CHECK_EQ(dc_dcfs_iomap(FS, b, PG, PG, DC_DCFS_IOMAP_WRITE, &m), 0);
		CHECK_EQ(m.type, DC_DCFS_IOMAP_SHARED);
		CHECK(!m.fresh);
		CHECK_EQ(m.pgoff + ((PG >> 12) - (m.offset >> 12)), pg1 + 1);
		CHECK_EQ(sfs().blocks_free, free0);
	}
	check_fs();
	xclose(a);
	xclose(b);
}

/* Reflink inside one file: non-overlapping ranges share; overlapping ones are refused. */
TEST(reflink_within_one_file)
{
	uint8_t model[10 * 4096];
	uint64_t pg[8], ia;
	int a;

	fx("mem:64M", NULL);
	a = xcreate("a");
	ia = ino_of(a);
	memset(model, 0, sizeof(model));
	pattern(model, 8 * PG, 6);
	xwrite(a, model, 8 * PG, 0);
	for (int i = 0; i < 8; i++)
		pg[i] = pg_of(a, i * PG);
	/* Overlapping: refused, nothing changed. */
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, a, PG, 2 * PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 2 * PG, a, PG, 2 * PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_reflink(FS, a, PG, a, PG, PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 6 * PG, a, 0, 4 * PG, NULL), -EINVAL); /* src past EOF */
	check_contents(a, model, 8 * PG);
	CHECK_EQ(sfs().blocks_shared, 0);
	check_fs();
	/* Pages 0-1 to 4-5: 4-5's blocks freed. */
	{
		uint64_t free0 = sfs().blocks_free;

		CHECK_EQ(dc_dcfs_reflink(FS, a, 0, a, 4 * PG, 2 * PG, NULL), 0);
		check_fs();
		CHECK_EQ(sfs().blocks_free, free0 + 2);
		expect_block(pg[4], DC_DCFS_BLOCK_FREE, 0);
		expect_block(pg[5], DC_DCFS_BLOCK_FREE, 0);
	}
	memcpy(model + 4 * PG, model, 2 * PG);
	check_contents(a, model, 8 * PG);
	expect_block(pg[0], DC_DCFS_BLOCK_USED, 2, ia, U(0), ia, U(4 * PG));
	expect_block(pg[1], DC_DCFS_BLOCK_USED, 2, ia, U(PG), ia, U(5 * PG));
	CHECK_EQ(pg_of(a, 4 * PG), pg[0]);
	CHECK_EQ(sfs().blocks_shared, 2);
	CHECK_EQ(xstat(a).shared, 4); /* pages 0, 1, 4, 5 */
	/* Adjacent, not overlapping: 6-7 to 8-9, extending the file. */
	CHECK_EQ(dc_dcfs_reflink(FS, a, 6 * PG, a, 8 * PG, 2 * PG, NULL), 0);
	check_fs();
	memcpy(model + 8 * PG, model + 6 * PG, 2 * PG);
	check_contents(a, model, 10 * PG);
	expect_block(pg[7], DC_DCFS_BLOCK_USED, 2, ia, U(7 * PG), ia, U(9 * PG));
	/* A write to one range copies; the other keeps the block. */
	xwrite(a, "w", 1, 4 * PG + 1);
	model[4 * PG + 1] = 'w';
	check_fs();
	check_contents(a, model, 10 * PG);
	expect_block(pg[0], DC_DCFS_BLOCK_USED, 1, ia, U(0));
	CHECK(pg_of(a, 4 * PG) != pg[0]);
	xclose(a);
	check_fs();
}

/*
 * A reflink within one file onto the neighbouring block makes two adjacent
 * file pages map one folio: a pin over both must give each its own device
 * page (the shared one twice), never the page after it, which the reflink
 * freed (found by `daxcore torture`: a DMA there lands in a free block).
 */
TEST(pin_of_neighbours_sharing_a_block)
{
	uint8_t model[4 * 4096];
	struct dc_dcfs_pinset ps;
	uint64_t pg1, pg2, ia, off;
	int a;

	fx("mem:64M", NULL);
	a = xcreate("a");
	ia = ino_of(a);
	pattern(model, 4 * PG, 3);
	xwrite(a, model, 4 * PG, 0);
	pg1 = pg_of(a, PG);
	pg2 = pg_of(a, 2 * PG);
	CHECK_EQ(dc_dcfs_reflink(FS, a, PG, a, 2 * PG, PG, NULL), 0);
	expect_block(pg2, DC_DCFS_BLOCK_FREE, 0);
	for (int ro = 0; ro < 2; ro++) {
		CHECK_EQ(dc_dcfs_pin(FS, a, 0, 4 * PG, ro ? DC_DCFS_PIN_READONLY : 0, "n", &ps), 0);
		off = 0;
		for (unsigned i = 0; i < ps.nsegs; off += ps.segs[i].len, i++)
			for (uint64_t at = 0; at < ps.segs[i].len; at += PG) {
				uint64_t p = ps.segs[i].pgoff + at / PG, want = pg_of(a, off + at);
				struct dc_dcfs_block b;

				CHECK_EQ(p, want);
				CHECK(dc_dcfs_rmap(FS, p, &b, NULL, 0) >= 1);
				CHECK(b.state != DC_DCFS_BLOCK_FREE);
				CHECK_EQ(memcmp((char *)ps.segs[i].addr + at,
						model + (off + at == 2 * PG ? PG : off + at), PG), 0);
			}
		if (!ro) { /* the write pin copied the shared block: the pages differ again */
			CHECK(pg_of(a, 2 * PG) != pg_of(a, PG));
			CHECK(pg_of(a, PG) == pg1 || pg_of(a, 2 * PG) == pg1);
		} else {
			CHECK_EQ(pg_of(a, 2 * PG), pg_of(a, PG));
		}
		CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
		check_fs();
		if (!ro) { /* share again for the read-only pin */
			CHECK_EQ(dc_dcfs_reflink(FS, a, PG, a, 2 * PG, PG, NULL), 0);
			check_fs();
		}
	}
	(void)ia;
	xclose(a);
	check_fs();
}

/* Holes in the source become holes; what the destination held there is freed. */
TEST(reflink_of_holes)
{
	uint8_t model[4 * 4096];
	uint64_t free0, b_pg[4];
	int a, b;

	fx("mem:64M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	memset(model, 0, sizeof(model));
	pattern(model, PG, 7);
	pattern(model + 3 * PG, PG, 8);
	xwrite(a, model, PG, 0);
	xwrite(a, model + 3 * PG, PG, 3 * PG);
	xwrite_byte(b, 0x5b, 4 * PG, 0);
	for (int i = 0; i < 4; i++)
		b_pg[i] = pg_of(b, i * PG);
	free0 = sfs().blocks_free;
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 4 * PG, NULL), 0);
	check_fs();
	CHECK_EQ(sfs().blocks_free, free0 + 4);
	for (int i = 0; i < 4; i++)
		expect_block(b_pg[i], DC_DCFS_BLOCK_FREE, 0);
	CHECK_EQ(type_of(b, PG), DC_DCFS_IOMAP_HOLE);
	CHECK_EQ(type_of(b, 2 * PG), DC_DCFS_IOMAP_HOLE);
	CHECK_EQ(type_of(b, 0), DC_DCFS_IOMAP_SHARED);
	CHECK_EQ(xstat(b).blocks, 2);
	CHECK_EQ(xstat(b).shared, 2);
	check_contents(b, model, sizeof(model));
	/* A whole-hole source range: the destination becomes a hole there. */
	xwrite_byte(b, 0x66, PG, PG);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 2 * PG, b, PG, PG, NULL), 0);
	check_fs();
	CHECK_EQ(type_of(b, PG), DC_DCFS_IOMAP_HOLE);
	check_contents(b, model, sizeof(model));
	xclose(a);
	xclose(b);
	check_fs();
}

/* A source whose size is not block-aligned: @len may end at its end of file. */
TEST(reflink_to_unaligned_eof)
{
	uint8_t model[2 * 4096 + 100];
	int a, b;

	fx("mem:64M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	pattern(model, sizeof(model), 9);
	xwrite(a, model, sizeof(model), 0);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, sizeof(model), NULL), 0);
	check_fs();
	check_contents(b, model, sizeof(model));
	CHECK_EQ(sfs().blocks_shared, 3);
	/* Not at EOF: an unaligned length is refused. */
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, PG + 100, NULL), -EINVAL);
	xclose(a);
	xclose(b);
	check_fs();
}

/*
 * Bug 25: a block two files share lives while one of them still has it:
 * truncating (or unlinking) the original leaves the copy's blocks in use,
 * owned by the copy alone, and only its drop frees them.
 */
TEST(truncate_original_keeps_shared_block)
{
	uint8_t model[2 * 4096];
	uint64_t pg[2], ib, free0;
	int a, b;

	fx("mem:64M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	ib = ino_of(b);
	pattern(model, sizeof(model), 10);
	xwrite(a, model, sizeof(model), 0);
	pg[0] = pg_of(a, 0);
	pg[1] = pg_of(a, PG);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 2 * PG, NULL), 0);
	free0 = sfs().blocks_free;
	CHECK_EQ(dc_dcfs_truncate(FS, a, 0, NULL), 0);
	check_fs();
	CHECK_EQ(sfs().blocks_free, free0);
	CHECK_EQ(sfs().blocks_shared, 0);
	for (int i = 0; i < 2; i++)
		expect_block(pg[i], DC_DCFS_BLOCK_USED, 1, ib, U(i * PG));
	CHECK_EQ(type_of(b, 0), DC_DCFS_IOMAP_MAPPED);
	CHECK_EQ(xstat(b).shared, 0);
	check_contents(b, model, sizeof(model));
	/* The original can get blocks again: not these. */
	xwrite_byte(a, 0x11, 2 * PG, 0);
	CHECK(pg_of(a, 0) != pg[0] && pg_of(a, 0) != pg[1]);
	CHECK(pg_of(a, PG) != pg[0] && pg_of(a, PG) != pg[1]);
	check_contents(b, model, sizeof(model));
	/* The copy drops them: free. */
	CHECK_EQ(dc_dcfs_truncate(FS, b, 0, NULL), 0);
	check_fs();
	for (int i = 0; i < 2; i++)
		expect_block(pg[i], DC_DCFS_BLOCK_FREE, 0);
	CHECK_EQ(sfs().blocks_free, free0);
	/* The same with unlink: a closed original unlinked, the copy keeps its blocks. */
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 2 * PG, NULL), 0);
	pg[0] = pg_of(a, 0);
	pg[1] = pg_of(a, PG);
	xclose(a);
	CHECK_EQ(dc_dcfs_unlink(FS, "a"), 0);
	check_fs();
	for (int i = 0; i < 2; i++)
		expect_block(pg[i], DC_DCFS_BLOCK_USED, 1, ib, U(i * PG));
	{
		uint8_t ones[2 * 4096];

		memset(ones, 0x11, sizeof(ones));
		check_contents(b, ones, sizeof(ones));
	}
	/* A punch of the copy frees them. */
	CHECK_EQ(dc_dcfs_fallocate(FS, b, DC_DCFS_FALLOC_PUNCH, 0, 2 * PG, NULL), 0);
	check_fs();
	for (int i = 0; i < 2; i++)
		expect_block(pg[i], DC_DCFS_BLOCK_FREE, 0);
	xclose(b);
	check_fs();
}

/*
 * Issue 8, section 6, test 1: reflink, write to the copy (copy-on-write),
 * the original is unchanged; truncate the original: the shared block lives
 * until the copy drops it.  Share counts, the reverse map and the free
 * count are exact at every step.
 */
TEST(reflink_cow_then_truncate_original)
{
	struct dc_dcfs_fault_result w;
	uint8_t model[4 * 4096], bm[4 * 4096];
	uint64_t a_pg[4], b1, b2, ia, ib, free0;
	int a, b;

	fx("mem:4M", NULL);
	free0 = sfs().blocks_free;
	a = xcreate("orig");
	b = xcreate("copy");
	ia = ino_of(a);
	ib = ino_of(b);
	pattern(model, sizeof(model), 11);
	xwrite(a, model, sizeof(model), 0);
	for (int i = 0; i < 4; i++)
		a_pg[i] = pg_of(a, i * PG);
	check_fs();
	CHECK_EQ(sfs().blocks_free, free0 - 4);

	/* 1. reflink */
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 4 * PG, NULL), 0);
	check_fs();
	memcpy(bm, model, sizeof(bm));
	CHECK_EQ(sfs().blocks_free, free0 - 4);
	CHECK_EQ(sfs().blocks_shared, 4);
	for (int i = 0; i < 4; i++)
		expect_block(a_pg[i], DC_DCFS_BLOCK_USED, 2, ia, U(i * PG), ib, U(i * PG));

	/* 2. the copy writes page 1 (pwrite): copied, the original unchanged */
	xwrite(b, "changed", 7, PG + 7);
	memcpy(bm + PG + 7, "changed", 7);
	check_fs();
	b1 = pg_of(b, PG);
	CHECK(b1 != a_pg[1]);
	CHECK_EQ(sfs().blocks_free, free0 - 5);
	CHECK_EQ(sfs().blocks_shared, 3);
	expect_block(a_pg[1], DC_DCFS_BLOCK_USED, 1, ia, U(PG));
	expect_block(b1, DC_DCFS_BLOCK_USED, 1, ib, U(PG));
	check_contents(a, model, sizeof(model));
	check_contents(b, bm, sizeof(bm));

	/* 3. the copy writes page 2 through a write fault */
	CHECK_EQ(dc_dcfs_fault(FS, b, 2, DC_DCFS_FAULT_WRITE, 0, &w), 0);
	check_fs();
	b2 = w.pgoff;
	CHECK(b2 != a_pg[2]);
	memset((uint8_t *)w.addr + 300, 0xF2, 50);
	memset(bm + 2 * PG + 300, 0xF2, 50);
	CHECK_EQ(sfs().blocks_free, free0 - 6);
	CHECK_EQ(sfs().blocks_shared, 2);
	expect_block(a_pg[2], DC_DCFS_BLOCK_USED, 1, ia, U(2 * PG));
	expect_block(b2, DC_DCFS_BLOCK_USED, 1, ib, U(2 * PG));
	check_contents(a, model, sizeof(model));
	check_contents(b, bm, sizeof(bm));

	/* 4. truncate the original to one page: 1 and 2 (its own) freed, 3 lives on in the copy */
	CHECK_EQ(dc_dcfs_truncate(FS, a, PG, NULL), 0);
	check_fs();
	CHECK_EQ(sfs().blocks_free, free0 - 4);
	CHECK_EQ(sfs().blocks_shared, 1);
	expect_block(a_pg[0], DC_DCFS_BLOCK_USED, 2, ia, U(0), ib, U(0));
	expect_block(a_pg[1], DC_DCFS_BLOCK_FREE, 0);
	expect_block(a_pg[2], DC_DCFS_BLOCK_FREE, 0);
	expect_block(a_pg[3], DC_DCFS_BLOCK_USED, 1, ib, U(3 * PG));
	check_contents(a, model, PG);
	check_contents(b, bm, sizeof(bm));

	/* 5. the copy drops everything: the last sharer of 3 lets go, 0 stays the original's */
	CHECK_EQ(dc_dcfs_truncate(FS, b, 0, NULL), 0);
	check_fs();
	CHECK_EQ(sfs().blocks_free, free0 - 1);
	CHECK_EQ(sfs().blocks_shared, 0);
	expect_block(a_pg[0], DC_DCFS_BLOCK_USED, 1, ia, U(0));
	expect_block(a_pg[3], DC_DCFS_BLOCK_FREE, 0);
	expect_block(b1, DC_DCFS_BLOCK_FREE, 0);
	expect_block(b2, DC_DCFS_BLOCK_FREE, 0);
	check_contents(a, model, PG);
	xclose(a);
	xclose(b);
	check_fs();
}

/*
 * A read-only pin of a shared block survives a copy-on-write of either
 * side: the pin keeps reading the original.  When the pinned file's own
 * write copied the block away and the last sharer then drops it, the block
 * belongs to no file but is still pinned: QUARANTINED, not reused (a
 * filler never gets it), FREE after the unpin.
 */
TEST(readonly_pin_survives_cow)
{
	struct dc_dcfs_pinset ps = { 0 }, ps1 = { 0 };
	uint8_t model[2 * 4096];
	uint64_t x0, x1, ia, ib;
	struct dc_wait_opts o;
	int a, b, f;

	fx("mem:4M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	ia = ino_of(a);
	ib = ino_of(b);
	pattern(model, sizeof(model), 12);
	xwrite(a, model, sizeof(model), 0);
	x0 = pg_of(a, 0);
	x1 = pg_of(a, PG);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 2 * PG, NULL), 0);
	check_fs();
	/* A pin of a's page 0; b (the other file) copies it by a write. */
	CHECK_EQ(dc_dcfs_pin(FS, a, 0, PG, DC_DCFS_PIN_READONLY, "ro-dma", &ps), 0);
	CHECK_EQ(ps.segs[0].pgoff, x0);
	xwrite(b, "B", 1, 0);
	check_fs();
	CHECK(pg_of(b, 0) != x0);
	CHECK(!memcmp(ps.segs[0].addr, model, PG));
	expect_block(x0, DC_DCFS_BLOCK_USED, 1, ia, U(0));
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	check_fs();
	/* A pin of a's page 1; a itself writes it: a gets a copy, the pin keeps x1. */
	CHECK_EQ(dc_dcfs_pin(FS, a, PG, PG, DC_DCFS_PIN_READONLY, "ro-dma", &ps1), 0);
	CHECK_EQ(ps1.segs[0].pgoff, x1);
	xwrite(a, "A", 1, PG);
	check_fs();
	CHECK(pg_of(a, PG) != x1);
	CHECK(!memcmp(ps1.segs[0].addr, model + PG, PG));
	expect_block(x1, DC_DCFS_BLOCK_USED, 1, ib, U(PG));
	/* b, the last sharer, drops x1 (no pin of b's in the way: no wait). */
	o = deadline_in_ms(NO_WAIT_MS);
	CHECK_EQ(dc_dcfs_truncate(FS, b, PG, &o), 0);
	check_fs();
	expect_block(x1, DC_DCFS_BLOCK_QUARANTINED, 0);
	CHECK_EQ(sfs().blocks_quarantined, 1);
	CHECK(!memcmp(ps1.segs[0].addr, model + PG, PG));
	/* Not reused while pinned. */
	f = fill_fs("filler", 0xF1);
	check_fs();
	check_not_in_file(f, &x1, 1);
	expect_block(x1, DC_DCFS_BLOCK_QUARANTINED, 0);
	CHECK(!memcmp(ps1.segs[0].addr, model + PG, PG));
	/* The unpin frees it; the next block the filler gets reads zeros. */
	CHECK_EQ(dc_dcfs_unpin(FS, &ps1), 0);
	check_fs();
	expect_block(x1, DC_DCFS_BLOCK_FREE, 0);
	CHECK_EQ(sfs().blocks_quarantined, 0);
	CHECK_EQ(sfs().blocks_free, 1);
	{
		uint64_t end = fsize(f);
		uint8_t buf[4096];

		xwrite(f, "z", 1, end);
		CHECK_EQ(pg_of(f, end), x1);
		CHECK_EQ(dc_dcfs_pread(FS, f, buf, PG, end), 1);
		CHECK_EQ(buf[0], 'z');
		CHECK_EQ(dc_dcfs_truncate(FS, f, end + PG, NULL), 0);
		CHECK_EQ(dc_dcfs_pread(FS, f, buf, PG, end), (int64_t)PG);
		CHECK(all_bytes(buf + 1, 0, PG - 1)); /* no stale data */
	}
	xclose(f);
	xclose(a);
	xclose(b);
	check_fs();
}

/* Collapse and insert move shared extents: the reverse map follows, exactly. */
TEST(collapse_insert_keep_rmap)
{
	uint8_t model[8 * 4096], bm[8 * 4096], am[7 * 4096];
	uint64_t p[8], ia, ib;
	int a, b;

	fx("mem:64M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	ia = ino_of(a);
	ib = ino_of(b);
	pattern(model, sizeof(model), 13);
	xwrite(a, model, sizeof(model), 0);
	for (int i = 0; i < 8; i++)
		p[i] = pg_of(a, i * PG);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 8 * PG, NULL), 0);
	check_fs();
	/* Collapse b's pages 2-3: b = a0 a1 a4 a5 a6 a7. */
	CHECK_EQ(dc_dcfs_fallocate(FS, b, DC_DCFS_FALLOC_COLLAPSE, 2 * PG, 2 * PG, NULL), 0);
	check_fs();
	memcpy(bm, model, 2 * PG);
	memcpy(bm + 2 * PG, model + 4 * PG, 4 * PG);
	check_contents(b, bm, 6 * PG);
	expect_block(p[0], DC_DCFS_BLOCK_USED, 2, ia, U(0), ib, U(0));
	expect_block(p[1], DC_DCFS_BLOCK_USED, 2, ia, U(PG), ib, U(PG));
	expect_block(p[2], DC_DCFS_BLOCK_USED, 1, ia, U(2 * PG));
	expect_block(p[3], DC_DCFS_BLOCK_USED, 1, ia, U(3 * PG));
	for (int i = 4; i < 8; i++)
		expect_block(p[i], DC_DCFS_BLOCK_USED, 2, ia, U(i * PG), ib, U((i - 2) * PG));
	CHECK_EQ(sfs().blocks_shared, 6);
	CHECK_EQ(xstat(b).shared, 6);
	CHECK_EQ(xstat(a).shared, 6);
	/* Insert 2 pages at b's page 1: b = a0 _ _ a1 a4 a5 a6 a7. */
	CHECK_EQ(dc_dcfs_fallocate(FS, b, DC_DCFS_FALLOC_INSERT, PG, 2 * PG, NULL), 0);
	check_fs();
	memset(bm, 0, sizeof(bm));
	memcpy(bm, model, PG);
	memcpy(bm + 3 * PG, model + PG, PG);
	memcpy(bm + 4 * PG, model + 4 * PG, 4 * PG);
	check_contents(b, bm, 8 * PG);
	expect_block(p[0], DC_DCFS_BLOCK_USED, 2, ia, U(0), ib, U(0));
	expect_block(p[1], DC_DCFS_BLOCK_USED, 2, ia, U(PG), ib, U(3 * PG));
	for (int i = 4; i < 8; i++)
		expect_block(p[i], DC_DCFS_BLOCK_USED, 2, ia, U(i * PG), ib, U(i * PG));
	/* Collapse the original's page 0: a = a1 .. a7; a0 is b's alone. */
	CHECK_EQ(dc_dcfs_fallocate(FS, a, DC_DCFS_FALLOC_COLLAPSE, 0, PG, NULL), 0);
	check_fs();
	memcpy(am, model + PG, 7 * PG);
	check_contents(a, am, 7 * PG);
	expect_block(p[0], DC_DCFS_BLOCK_USED, 1, ib, U(0));
	expect_block(p[1], DC_DCFS_BLOCK_USED, 2, ia, U(0), ib, U(3 * PG));
	expect_block(p[2], DC_DCFS_BLOCK_USED, 1, ia, U(PG));
	for (int i = 4; i < 8; i++)
		expect_block(p[i], DC_DCFS_BLOCK_USED, 2, ia, U((i - 1) * PG), ib, U(i * PG));
	/* A write after the moves still copies (the shares moved with the extents). */
	xwrite(b, "m", 1, 5 * PG);
	check_fs();
	expect_block(p[5], DC_DCFS_BLOCK_USED, 1, ia, U(4 * PG));
	check_contents(a, am, 7 * PG);
	xclose(a);
	xclose(b);
	check_fs();
}

/* A reflink waits for (plain) pins on either range: a DMA must not change both files. */
TEST(reflink_waits_for_pins)
{
	struct dc_dcfs_pinset ps = { 0 };
	uint8_t am[2 * 4096], bm[2 * 4096];
	struct dc_wait_opts o;
	int a, b;

	fx("mem:64M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	pattern(am, sizeof(am), 14);
	pattern(bm, sizeof(bm), 15);
	xwrite(a, am, sizeof(am), 0);
	xwrite(b, bm, sizeof(bm), 0);
	CHECK_EQ(dc_dcfs_pin(FS, a, PG, PG, 0, "src-dma", &ps), 0);
	o = deadline_in_ms(50);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 2 * PG, &o), -ETIMEDOUT);
	check_fs();
	check_contents(b, bm, sizeof(bm));
	CHECK_EQ(sfs().blocks_shared, 0);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(dc_dcfs_pin(FS, b, 0, PG, 0, "dst-dma", &ps), 0);
	o = deadline_in_ms(50);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 2 * PG, &o), -ETIMEDOUT);
	check_fs();
	check_contents(b, bm, sizeof(bm));
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 2 * PG, NULL), 0);
	check_contents(b, am, sizeof(am));
	check_fs();
	xclose(a);
	xclose(b);
}

/* ---- quarantine ----------------------------------------------------------------------- */

/*
 * Issue 8, section 6, test 3 (and bug 26): on a quarantine mount a
 * truncate of a pinned file returns at once; the pinned blocks are counted
 * quarantined (the others are free at once); a second file filling the
 * region never gets them, while DMA keeps landing in them; the last unpin
 * returns them.
 */
TEST(quarantine_truncate_of_pinned_file)
{
	enum { NPG = 16, P0 = 4, NP = 4 };
	struct dc_dcfs_pinset ps = { 0 };
	uint64_t pinned[NP], total;
	struct dc_wait_opts o;
	uint8_t *buf;
	int a, f;

	fx("mem:4M", "quarantine");
	total = sfs().blocks;
	a = xcreate("a");
	xwrite_byte(a, 0x1A, NPG * PG, 0);
	check_fs();
	CHECK_EQ(dc_dcfs_pin(FS, a, P0 * PG, NP * PG, 0, "nic", &ps), 0);
	check_segs(&ps, P0 * PG, NP * PG);
	for (int i = 0; i < NP; i++)
		pinned[i] = pin_page(&ps, (P0 + i) * PG, NULL);
	dma_write(&ps, 0xDA);
	check_fs();
	/* Returns at once: the deadline would turn a wait into -ETIMEDOUT. */
	o = deadline_in_ms(NO_WAIT_MS);
	CHECK_EQ(dc_dcfs_truncate(FS, a, 2 * PG, &o), 0);
	check_fs();
	CHECK_EQ(fsize(a), 2 * PG);
	CHECK_EQ(xstat(a).blocks, 2);
	CHECK_EQ(sfs().blocks_quarantined, NP);
	CHECK_EQ(sfs().blocks_free, total - 2 - NP);
	CHECK_EQ(sfs().pins, 1);
	for (int i = 0; i < NP; i++)
		expect_block(pinned[i], DC_DCFS_BLOCK_QUARANTINED, 0);
	/* The file's view is the new state: growing it shows zeros, not the DMA. */
	CHECK_EQ(dc_dcfs_truncate(FS, a, NPG * PG, NULL), 0);
	dma_write(&ps, 0xDB);
	buf = malloc(NPG * PG);
	CHECK(buf);
	CHECK_EQ(dc_dcfs_pread(FS, a, buf, NPG * PG, 0), (int64_t)(NPG * PG));
	CHECK(all_bytes(buf, 0x1A, 2 * PG));
	CHECK(all_bytes(buf + 2 * PG, 0, (NPG - 2) * PG));
	check_fs();
	/* A second file fills the region: never the quarantined blocks. */
	f = fill_fs("filler", 0x2F);
	check_fs();
	CHECK_EQ(fsize(f), (total - 2 - NP) * PG);
	check_not_in_file(f, pinned, NP);
	/* Nor does a write of the truncated file itself get them. */
	CHECK_EQ(dc_dcfs_pwrite(FS, a, buf, PG, 8 * PG), -ENOSPC);
	dma_write(&ps, 0xDC);
	CHECK_EQ(dc_dcfs_pread(FS, f, buf, PG, 0), (int64_t)PG);
	{
		uint64_t size = fsize(f);

		for (uint64_t off = 0; off < size; off += PG) {
			CHECK_EQ(dc_dcfs_pread(FS, f, buf, PG, off), (int64_t)PG);
			CHECK(all_bytes(buf, 0x2F, PG));
		}
	}
	for (int i = 0; i < NP; i++)
		expect_block(pinned[i], DC_DCFS_BLOCK_QUARANTINED, 0);
	/* The last unpin returns them. */
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	check_fs();
	CHECK_EQ(sfs().blocks_quarantined, 0);
	CHECK_EQ(sfs().blocks_free, NP);
	for (int i = 0; i < NP; i++)
		expect_block(pinned[i], DC_DCFS_BLOCK_FREE, 0);
	/* And they are usable again, zeroed. */
	xwrite(a, "x", 1, 8 * PG);
	CHECK_EQ(dc_dcfs_pread(FS, a, buf, PG, 8 * PG), (int64_t)PG);
	CHECK_EQ(buf[0], 'x');
	CHECK(all_bytes(buf + 1, 0, PG - 1));
	free(buf);
	xclose(a);
	xclose(f);
	check_fs();
}

/* Punch of pinned pages on a quarantine mount: no wait, the pinned blocks quarantined. */
TEST(quarantine_punch_of_pinned_pages)
{
	struct dc_dcfs_pinset ps = { 0 };
	uint64_t total, q[2];
	struct dc_wait_opts o;
	uint8_t buf[4096];
	int a;

	fx("mem:4M", "quarantine");
	total = sfs().blocks;
	a = xcreate("a");
	xwrite_byte(a, 0x3A, 8 * PG, 0);
	/* Punch pages 1-4, pages 2-3 pinned: 1 and 4 free now, 2 and 3 quarantined. */
	CHECK_EQ(dc_dcfs_pin(FS, a, 2 * PG, 2 * PG, 0, "punch", &ps), 0);
	q[0] = pin_page(&ps, 2 * PG, NULL);
	q[1] = pin_page(&ps, 3 * PG, NULL);
	o = deadline_in_ms(NO_WAIT_MS);
	CHECK_EQ(dc_dcfs_fallocate(FS, a, DC_DCFS_FALLOC_PUNCH, PG, 4 * PG, &o), 0);
	check_fs();
	CHECK_EQ(sfs().blocks_quarantined, 2);
	CHECK_EQ(sfs().blocks_free, total - 6);
	CHECK_EQ(xstat(a).blocks, 4);
	dma_write(&ps, 0xDA);
	for (uint64_t p = 1; p < 5; p++) {
		CHECK_EQ(dc_dcfs_pread(FS, a, buf, PG, p * PG), (int64_t)PG);
		CHECK(all_bytes(buf, 0, PG));
	}
	expect_block(q[0], DC_DCFS_BLOCK_QUARANTINED, 0);
	expect_block(q[1], DC_DCFS_BLOCK_QUARANTINED, 0);
	/* A second file filling the region never gets them. */
	{
		int f = fill_fs("filler", 0x2F);

		check_fs();
		check_not_in_file(f, q, 2);
		xclose(f);
		CHECK_EQ(dc_dcfs_unlink(FS, "filler"), 0);
		check_fs();
		CHECK_EQ(sfs().blocks_free, total - 6);
	}
	/* Writing the range again gives fresh blocks, not the quarantined ones. */
	xwrite_byte(a, 0x3B, 4 * PG, PG);
	check_fs();
	for (uint64_t p = 1; p < 5; p++)
		CHECK(pg_of(a, p * PG) != q[0] && pg_of(a, p * PG) != q[1]);
	dma_write(&ps, 0xDB);
	CHECK_EQ(dc_dcfs_pread(FS, a, buf, PG, 2 * PG), (int64_t)PG);
	CHECK(all_bytes(buf, 0x3B, PG));
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	check_fs();
	CHECK_EQ(sfs().blocks_quarantined, 0);
	CHECK_EQ(sfs().blocks_free, total - 8);
	expect_block(q[0], DC_DCFS_BLOCK_FREE, 0);
	xclose(a);
	check_fs();
}

/*
 * Zero of a pinned page on a quarantine mount: no wait, and the file's
 * view of the range is the new state (issue 8, section 2): the file reads
 * zeros whatever the DMA still writes, so the pinned block has left the
 * file (quarantined) for a zeroed one.
 */
TEST(quarantine_zero_of_pinned_page)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_wait_opts o;
	uint8_t buf[4096];
	uint64_t q;
	int a;

	fx("mem:4M", "quarantine");
	a = xcreate("a");
	xwrite_byte(a, 0x3A, 8 * PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, a, 6 * PG, PG, 0, "zero", &ps), 0);
	q = ps.segs[0].pgoff;
	o = deadline_in_ms(NO_WAIT_MS);
	CHECK_EQ(dc_dcfs_fallocate(FS, a, DC_DCFS_FALLOC_ZERO, 6 * PG, PG, &o), 0);
	check_fs();
	dma_write(&ps, 0xDC);
	CHECK_EQ(dc_dcfs_pread(FS, a, buf, PG, 6 * PG), (int64_t)PG);
	if (!all_bytes(buf, 0, PG))
		fprintf(stderr, "[%s] after the zero returned, DMA through the pin still shows in"
			" the file (device page %llu still at file page 6: %s)\n", t_current,
			(unsigned long long)q, pg_of(a, 6 * PG) == q ? "yes" : "no");
	CHECK(all_bytes(buf, 0, PG));
	CHECK(pg_of(a, 6 * PG) != q);
	CHECK_EQ(sfs().blocks_quarantined, 1);
	expect_block(q, DC_DCFS_BLOCK_QUARANTINED, 0);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	check_fs();
	CHECK_EQ(sfs().blocks_quarantined, 0);
	xclose(a);
	check_fs();
}

/* Collapse of a pinned page leaves the file (quarantined); insert over a pin does not wait. */
TEST(quarantine_collapse_insert_over_pins)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_wait_opts o;
	uint8_t buf[4096];
	uint64_t q;
	int a;

	fx("mem:4M", "quarantine");
	a = xcreate("a");
	xwrite_byte(a, 0x3A, 8 * PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, a, 5 * PG, PG, 0, "collapse", &ps), 0);
	q = ps.segs[0].pgoff;
	o = deadline_in_ms(NO_WAIT_MS);
	CHECK_EQ(dc_dcfs_fallocate(FS, a, DC_DCFS_FALLOC_COLLAPSE, 5 * PG, PG, &o), 0);
	check_fs();
	CHECK_EQ(fsize(a), 7 * PG);
	CHECK_EQ(sfs().blocks_quarantined, 1);
	expect_block(q, DC_DCFS_BLOCK_QUARANTINED, 0);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	check_fs();
	expect_block(q, DC_DCFS_BLOCK_FREE, 0);
	/* Insert over a pin does not wait (nothing leaves the file). */
	xwrite_byte(a, 0x3C, PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, a, 0, PG, 0, "insert", &ps), 0);
	o = deadline_in_ms(NO_WAIT_MS);
	CHECK_EQ(dc_dcfs_fallocate(FS, a, DC_DCFS_FALLOC_INSERT, 0, PG, &o), 0);
	check_fs();
	CHECK_EQ(fsize(a), 8 * PG);
	CHECK_EQ(dc_dcfs_pread(FS, a, buf, PG, 0), (int64_t)PG);
	CHECK(all_bytes(buf, 0, PG));
	CHECK_EQ(dc_dcfs_pread(FS, a, buf, PG, PG), (int64_t)PG);
	CHECK(all_bytes(buf, 0x3C, PG));
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	check_fs();
	CHECK_EQ(sfs().blocks_quarantined, 0);
	xclose(a);
	check_fs();
}

/*
 * Eviction of a pinned file on a quarantine mount (unlink of a closed
 * file, and the last close of an unlinked one) returns at once; the file
 * is gone, its pinned blocks quarantined, never given to a filler, and
 * returned by the last unpin.
 */
TEST(quarantine_evict_of_pinned_file)
{
	struct dc_dcfs_pinset pe = { 0 };
	struct dc_dcfs_stat st;
	uint8_t buf[4096];
	uint64_t total, qe[4];
	int e, f;

	fx("mem:4M", "quarantine,deadline_ms=5000"); /* a wait would be -ETIMEDOUT */
	total = sfs().blocks;
	e = xcreate("e");
	xwrite_byte(e, 0x3E, 4 * PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, e, 0, 4 * PG, 0, "evict", &pe), 0);
	for (int i = 0; i < 4; i++)
		qe[i] = pin_page(&pe, (uint64_t)i * PG, NULL);
	xclose(e);
	CHECK_EQ(dc_dcfs_unlink(FS, "e"), 0);
	check_fs();
	CHECK_EQ(dc_dcfs_lookup(FS, "e", &st), -ENOENT);
	CHECK_EQ(sfs().orphans, 0);
	CHECK_EQ(sfs().blocks_quarantined, 4);
	CHECK_EQ(sfs().blocks_free, total - 4);
	for (int i = 0; i < 4; i++)
		expect_block(qe[i], DC_DCFS_BLOCK_QUARANTINED, 0);
	f = fill_fs("filler", 0x2E);
	check_fs();
	check_not_in_file(f, qe, 4);
	dma_write(&pe, 0xDD);
	for (uint64_t off = 0; off < fsize(f); off += PG) {
		CHECK_EQ(dc_dcfs_pread(FS, f, buf, PG, off), (int64_t)PG);
		CHECK(all_bytes(buf, 0x2E, PG));
	}
	xclose(f);
	CHECK_EQ(dc_dcfs_unlink(FS, "filler"), 0);
	check_fs();
	CHECK_EQ(dc_dcfs_unpin(FS, &pe), 0);
	dc_quiesce();
	check_fs();
	CHECK_EQ(sfs().blocks_quarantined, 0);
	CHECK_EQ(sfs().files, 0);
	CHECK_EQ(sfs().blocks_free, total);
	/* At the last close of an unlinked, pinned file: the same. */
	e = xcreate("e2");
	xwrite_byte(e, 0x3F, 2 * PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, e, PG, PG, 0, "evict2", &pe), 0);
	CHECK_EQ(dc_dcfs_unlink(FS, "e2"), 0);
	CHECK_EQ(dc_dcfs_close(FS, e), 0);
	check_fs();
	CHECK_EQ(sfs().blocks_quarantined, 1);
	CHECK_EQ(sfs().blocks_free, total - 1);
	CHECK_EQ(dc_dcfs_unpin(FS, &pe), 0);
	dc_quiesce();
	check_fs();
	CHECK_EQ(sfs().blocks_quarantined, 0);
	CHECK_EQ(sfs().files, 0);
}

/* Unmount of a quarantine mount with a pin held: -EBUSY, nothing changed. */
TEST(quarantine_unmount_with_pin_is_busy)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_wait_opts o;
	int a;

	fx("mem:4M", "quarantine");
	a = xcreate("a");
	xwrite_byte(a, 1, 2 * PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, a, 0, 2 * PG, 0, "um", &ps), 0);
	xclose(a);
	CHECK_EQ(dc_dcfs_unlink(FS, "a"), 0);
	CHECK_EQ(sfs().blocks_quarantined, 2);
	o = deadline_in_ms(50);
	CHECK_EQ(dc_dcfs_unmount(FS, &o), -EBUSY);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), -EBUSY);
	check_fs();
	CHECK_EQ(sfs().blocks_quarantined, 2);
	dma_write(&ps, 0x44); /* still pinned, still DMA-able */
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	check_fs();
	CHECK_EQ(sfs().blocks_quarantined, 0);
}

/* ---- memory failure ------------------------------------------------------------------- */

/* The MEMORY_FAILURE events name (ino, name, offset) once each, for page @pgoff. */
static void expect_mf_events(int n, const uint64_t *inos, const char *const *names,
			     const uint64_t *offs, uint64_t pgoff)
{
	bool seen[16] = { false };

	CHECK(n <= 16);
	CHECK_EQ(count_events(DC_DCFS_EV_MEMORY_FAILURE), n);
	for (int i = 0; i < atomic_load(&nevs); i++) {
		const struct ev_copy *e = &evs[i];
		int k;

		if (e->type != DC_DCFS_EV_MEMORY_FAILURE)
			continue;
		for (k = 0; k < n; k++)
			if (e->ino == inos[k])
				break;
		if (k == n)
			fprintf(stderr, "[%s] memory failure reported for ino %llu\n", t_current,
				(unsigned long long)e->ino);
		CHECK(k < n);
		CHECK(!seen[k]); /* one report per file range */
		seen[k] = true;
		if (!e->named || strcmp(e->name, names[k]) || e->offset != offs[k])
			fprintf(stderr, "[%s] report for ino %llu: name \"%s\" offset %llu; "
				"expected \"%s\" %llu\n", t_current, (unsigned long long)e->ino,
				e->name, (unsigned long long)e->offset, names[k],
				(unsigned long long)offs[k]);
		CHECK(e->named);
		CHECK(!strcmp(e->name, names[k]));
		CHECK_EQ(e->offset, offs[k]);
		CHECK_EQ(e->length, PG);
		CHECK_EQ(e->pgoff, pgoff);
		CHECK(!strcmp(e->op, "memory_failure"));
	}
}

/*
 * Issue 8, section 6, test 4: a memory failure of a block reflinked into
 * two files is reported to both, with their offsets; reads and faults of
 * the range fail with -EIO, the rest of the files reads fine; the block is
 * never allocated again; punch (or truncate) and write recover each file.
 */
TEST(memory_failure_on_reflinked_block)
{
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_pinset ps = { 0 };
	uint8_t model[3 * 4096], buf[4096], fresh[4096];
	uint64_t x, ia, ib, free0, mf0, inos[2], offs[2];
	const char *names[2] = { "first", "second" };
	int a, b, f;

	fx("mem:4M", NULL);
	a = xcreate("first");
	b = xcreate("second");
	ia = ino_of(a);
	ib = ino_of(b);
	pattern(model, sizeof(model), 16);
	xwrite(a, model, sizeof(model), 0);
	x = pg_of(a, PG);
	/* b: a's three pages at b's page 2; x is b's page 3. */
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 2 * PG, 3 * PG, NULL), 0);
	check_fs();
	expect_block(x, DC_DCFS_BLOCK_USED, 2, ia, U(PG), ib, U(3 * PG));
	CHECK_EQ(dc_dcfs_fault(FS, a, 1, 0, 0, &res), 0); /* an entry to zap */
	CHECK_EQ(res.pgoff, x);
	free0 = sfs().blocks_free;
	mf0 = sfs().memory_failures;

	CHECK_EQ(dc_folio_memory_failure(R, x, 1), 0);
	check_fs();
	inos[0] = ia;
	inos[1] = ib;
	offs[0] = PG;
	offs[1] = 3 * PG;
	expect_mf_events(2, inos, names, offs, x);
	CHECK_EQ(sfs().memory_failures, mf0 + 2);
	CHECK_EQ(sfs().blocks_bad, 1);
	CHECK_EQ(sfs().blocks_free, free0);
	expect_poisoned(x, 2, inos, offs);
	/* Reads and faults of the range: -EIO; of the rest: fine. */
	CHECK_EQ(dc_dcfs_pread(FS, a, buf, PG, PG), -EIO);
	CHECK_EQ(dc_dcfs_pread(FS, a, buf, 10, PG + 100), -EIO);
	CHECK_EQ(dc_dcfs_pread(FS, b, buf, PG, 3 * PG), -EIO);
	CHECK_EQ(dc_dcfs_fault(FS, a, 1, 0, 0, &res), -EIO);
	CHECK_EQ(dc_dcfs_fault(FS, b, 3, 0, 0, &res), -EIO);
	CHECK_EQ(dc_dcfs_fault(FS, a, 1, DC_DCFS_FAULT_WRITE, 0, &res), -EIO);
	CHECK_EQ(dc_dcfs_fault(FS, b, 3, DC_DCFS_FAULT_WRITE, 0, &res), -EIO);
	CHECK_EQ(dc_dcfs_pin(FS, a, PG, PG, DC_DCFS_PIN_READONLY, "bad", &ps), -EIO);
	CHECK_EQ(dc_dcfs_pin(FS, b, 3 * PG, PG, 0, "bad", &ps), -EIO);
	CHECK_EQ(ps.id, 0);
	check_range(a, 0, model, PG);
	check_range(a, 2 * PG, model + 2 * PG, PG);
	check_range(b, 2 * PG, model, PG);
	check_range(b, 4 * PG, model + 2 * PG, PG);
	CHECK_EQ(dc_dcfs_fault(FS, b, 4, 0, 0, &res), 0);
	check_fs();

	/* a recovers by punch and write: a fresh block, the new data. */
	CHECK_EQ(dc_dcfs_fallocate(FS, a, DC_DCFS_FALLOC_PUNCH, PG, PG, NULL), 0);
	check_fs();
	CHECK_EQ(sfs().blocks_free, free0); /* the bad block is not freed */
	expect_poisoned(x, 1, &ib, &offs[1]);
	pattern(fresh, sizeof(fresh), 17);
	xwrite(a, fresh, PG, PG);
	check_fs();
	CHECK(pg_of(a, PG) != x);
	check_range(a, PG, fresh, PG);
	CHECK_EQ(dc_dcfs_pread(FS, b, buf, PG, 3 * PG), -EIO); /* b still bad there */
	/* b recovers by truncate and write. */
	CHECK_EQ(dc_dcfs_truncate(FS, b, 3 * PG, NULL), 0);
	check_fs();
	expect_block(x, DC_DCFS_BLOCK_BAD, 0);
	CHECK_EQ(sfs().blocks_bad, 1);
	xwrite(b, fresh, PG, 3 * PG);
	check_fs();
	CHECK(pg_of(b, 3 * PG) != x);
	check_range(b, 3 * PG, fresh, PG);
	CHECK_EQ(sfs().blocks_free, free0 - 2);
	CHECK_EQ(sfs().memory_failures, mf0 + 2); /* nothing reported again */
	/* Never allocated again: a filler takes every block but that one. */
	f = fill_fs("filler", 0x46);
	check_fs();
	check_not_in_file(f, &x, 1);
	expect_block(x, DC_DCFS_BLOCK_BAD, 0);
	xclose(f);
	CHECK_EQ(dc_dcfs_unlink(FS, "filler"), 0);
	check_fs();
	expect_block(x, DC_DCFS_BLOCK_BAD, 0);
	xclose(a);
	xclose(b);
	check_fs();
}

/* One block in eight files (at eight offsets): eight reports. */
TEST(memory_failure_eight_sharers)
{
	enum { N = 8 };
	uint64_t x, inos[N], offs[N];
	char names[N][8];
	const char *np[N];
	uint8_t model[4096], buf[4096];
	int fd[N];

	fx("mem:4M", NULL);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "s%d", i);
		np[i] = names[i];
		fd[i] = xcreate(names[i]);
		inos[i] = ino_of(fd[i]);
		offs[i] = (uint64_t)i * PG;
	}
	pattern(model, sizeof(model), 18);
	xwrite(fd[0], model, PG, 0);
	x = pg_of(fd[0], 0);
	for (int i = 1; i < N; i++) {
		CHECK_EQ(dc_dcfs_reflink(FS, fd[0], 0, fd[i], offs[i], PG, NULL), 0);
		check_fs();
	}
	{
		struct rmap_view v = rmap_of(x);

		CHECK_EQ(v.n, N);
		CHECK_EQ(v.blk.shares, N);
		for (int i = 0; i < N; i++)
			CHECK(rmap_has(&v, inos[i], offs[i]));
	}
	CHECK_EQ(sfs().blocks_shared, 1);
	CHECK_EQ(dc_folio_memory_failure(R, x, 1), 0);
	check_fs();
	expect_mf_events(N, inos, np, offs, x);
	CHECK_EQ(sfs().memory_failures, N);
	for (int i = 0; i < N; i++)
		CHECK_EQ(dc_dcfs_pread(FS, fd[i], buf, PG, offs[i]), -EIO);
	/* Each recovers. */
	for (int i = 0; i < N; i++) {
		CHECK_EQ(dc_dcfs_fallocate(FS, fd[i], DC_DCFS_FALLOC_PUNCH, offs[i], PG, NULL), 0);
		check_fs();
		xwrite_byte(fd[i], 0x80 + i, PG, offs[i]);
		check_fs();
		CHECK_EQ(dc_dcfs_pread(FS, fd[i], buf, PG, offs[i]), (int64_t)PG);
		CHECK(all_bytes(buf, 0x80 + i, PG));
		CHECK(pg_of(fd[i], offs[i]) != x);
	}
	expect_block(x, DC_DCFS_BLOCK_BAD, 0);
	CHECK_EQ(sfs().blocks_bad, 1);
	for (int i = 0; i < N; i++)
		xclose(fd[i]);
	check_fs();
}

/* A memory failure of a free block marks it bad: never allocated, nobody told. */
TEST(memory_failure_of_free_block)
{
	uint64_t x, free0;
	int a, f;

	fx("mem:4M", NULL);
	a = xcreate("a");
	xwrite_byte(a, 1, 4 * PG, 0);
	x = a_free_page(dc_region_npages(R) / 2);
	free0 = sfs().blocks_free;
	CHECK_EQ(dc_folio_memory_failure(R, x, 1), 0);
	check_fs();
	CHECK_EQ(atomic_load(&nevs), 0);
	CHECK_EQ(sfs().memory_failures, 0);
	CHECK_EQ(sfs().blocks_bad, 1);
	CHECK_EQ(sfs().blocks_free, free0 - 1);
	expect_block(x, DC_DCFS_BLOCK_BAD, 0);
	f = fill_fs("filler", 0x47);
	check_fs();
	check_not_in_file(f, &x, 1);
	CHECK_EQ(fsize(f), (free0 - 1) * PG);
	expect_block(x, DC_DCFS_BLOCK_BAD, 0);
	xclose(f);
	xclose(a);
	check_fs();
}

/* A memory failure of a quarantined block: it stays out after the unpin. */
TEST(memory_failure_of_quarantined_block)
{
	struct dc_dcfs_pinset ps = { 0 };
	uint64_t x, total;
	int a, f;

	fx("mem:4M", "quarantine");
	total = sfs().blocks;
	a = xcreate("a");
	xwrite_byte(a, 1, 4 * PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, a, PG, PG, 0, "q", &ps), 0);
	x = ps.segs[0].pgoff;
	CHECK_EQ(dc_dcfs_truncate(FS, a, 0, NULL), 0);
	check_fs();
	expect_block(x, DC_DCFS_BLOCK_QUARANTINED, 0);
	CHECK_EQ(dc_folio_memory_failure(R, x, 1), 0);
	check_fs();
	CHECK_EQ(count_events(DC_DCFS_EV_MEMORY_FAILURE), 0); /* no file has it */
	CHECK(rmap_of(x).blk.poisoned);
	CHECK_EQ(sfs().blocks_bad, 1);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	check_fs();
	expect_block(x, DC_DCFS_BLOCK_BAD, 0);
	CHECK_EQ(sfs().blocks_quarantined, 0);
	CHECK_EQ(sfs().blocks_bad, 1);
	CHECK_EQ(sfs().blocks_free, total - 1);
	f = fill_fs("filler", 0x48);
	check_fs();
	check_not_in_file(f, &x, 1);
	xclose(f);
	xclose(a);
	check_fs();
}

/* ---- revocable long-term pins --------------------------------------------------------------- */

/* LONGTERM without a revoke callback is refused; with one it is a pin like another. */
TEST(longterm_pin_needs_revoke_callback)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_pin_info info;
	struct rv_rec rv;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("lt");
	xwrite_byte(fd, 1, 4 * PG, 0);
	rv_init(&rv, &ps, false);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, DC_DCFS_PIN_LONGTERM, "lt", &ps), -EOPNOTSUPP);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, DC_DCFS_PIN_LONGTERM | DC_DCFS_PIN_READONLY, "lt", &ps),
		 -EOPNOTSUPP);
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 0, PG, 0, "lt", NULL, &rv, &ps), -EOPNOTSUPP);
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 0, PG, DC_DCFS_PIN_LONGTERM, "lt", NULL, &rv, &ps),
		 -EOPNOTSUPP);
	CHECK_EQ(ps.id, 0);
	CHECK_EQ(sfs().pins, 0);
	/* Bad flags, range, NULLs: -EINVAL. */
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 0, PG, 0x80, "lt", rv_cb, &rv, &ps), -EINVAL);
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 0, 0, 0, "lt", rv_cb, &rv, &ps), -EINVAL);
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 0, PG, 0, "lt", rv_cb, &rv, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_pin_revocable(NULL, fd, 0, PG, 0, "lt", rv_cb, &rv, &ps), -EINVAL);
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 3 * PG, 2 * PG, 0, "lt", rv_cb, &rv, &ps), -EFAULT);
	CHECK_EQ(sfs().pins, 0);
	/* With a callback. */
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, PG, 2 * PG, 0, "lease", rv_cb, &rv, &ps), 0);
	check_segs(&ps, PG, 2 * PG);
	CHECK_EQ(ps.segs[0].pgoff, pg_of(fd, PG));
	CHECK_EQ(dc_dcfs_pins(FS, fd, 0, UINT64_MAX, &info, 1), 1);
	CHECK_EQ(info.id, ps.id);
	CHECK(info.flags & DC_DCFS_PIN_LONGTERM);
	CHECK(!strcmp(info.tag, "lease"));
	CHECK_EQ(xstat(fd).pinned_pages, 2);
	check_fs();
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(atomic_load(&rv.calls), 0); /* nothing asked for it */
	CHECK_EQ(sfs().revokes, 0);
	/* Read-only, with the flag spelled out. */
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 0, PG, DC_DCFS_PIN_LONGTERM | DC_DCFS_PIN_READONLY,
				       "ro-lease", rv_cb, &rv, &ps), 0);
	CHECK_EQ(dc_dcfs_pins(FS, fd, 0, UINT64_MAX, &info, 1), 1);
	CHECK(info.flags & DC_DCFS_PIN_READONLY);
	CHECK(info.flags & DC_DCFS_PIN_LONGTERM);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	xclose(fd);
	check_fs();
}

/*
 * Every operation that takes pinned blocks away calls the callback once,
 * with its name and range; the callback gives the pin back from inside and
 * the operation completes.
 */
TEST(revoke_callback_unpins_inside)
{
	static const struct {
		const char *op;
		unsigned mode; /* fallocate mode, or 100: truncate, 101: evict, 102: reflink onto */
		uint64_t off, len, pin_page, want_off, want_len;
	} ops[] = {
		{ "truncate", 100, 2 * PG, 0, 3, 2 * PG, UINT64_MAX },
		{ "punch", DC_DCFS_FALLOC_PUNCH, PG, 2 * PG, 2, PG, 2 * PG },
		{ "zero", DC_DCFS_FALLOC_ZERO, 0, PG, 0, 0, PG },
		{ "collapse", DC_DCFS_FALLOC_COLLAPSE, PG, PG, 2, PG, UINT64_MAX },
		{ "insert", DC_DCFS_FALLOC_INSERT, PG, PG, 1, PG, UINT64_MAX },
		{ "reflink", 102, PG, PG, 1, PG, PG },
		{ "evict", 101, 0, 0, 0, 0, UINT64_MAX },
	};
	int src;

	fx("mem:64M", NULL);
	src = xcreate("src");
	xwrite_byte(src, 0x5C, 4 * PG, 0);
	for (unsigned k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		struct dc_dcfs_pinset ps = { 0 };
		struct dc_wait_opts o = deadline_in_ms(NO_WAIT_MS);
		struct rv_rec rv;
		uint64_t ino, id;
		int fd = xcreate("rv");

		xwrite_byte(fd, 1, 4 * PG, 0);
		ino = ino_of(fd);
		rv_init(&rv, &ps, true);
		CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, ops[k].pin_page * PG, PG, 0, ops[k].op, rv_cb,
					       &rv, &ps), 0);
		id = ps.id;
		if (ops[k].mode == 100) {
			CHECK_EQ(dc_dcfs_truncate(FS, fd, ops[k].off, &o), 0);
		} else if (ops[k].mode == 101) {
			CHECK_EQ(dc_dcfs_unlink(FS, "rv"), 0);
			CHECK_EQ(dc_dcfs_close(FS, fd), 0);
		} else if (ops[k].mode == 102) {
			CHECK_EQ(dc_dcfs_reflink(FS, src, 0, fd, ops[k].off, ops[k].len, &o), 0);
		} else {
			CHECK_EQ(dc_dcfs_fallocate(FS, fd, ops[k].mode, ops[k].off, ops[k].len, &o), 0);
		}
		if (ops[k].mode == 101) {
			CHECK_EQ(atomic_load(&rv.calls), 1);
			CHECK(!strcmp(rv.op, "evict"));
			CHECK_EQ(rv.id, id);
			CHECK_EQ(rv.ino, ino);
		} else {
			rv_expect(&rv, id, ino, ops[k].op, ops[k].op, ops[k].want_off,
				  ops[k].want_len);
		}
		CHECK_EQ(rv.unpin_ret, 0);
		CHECK_EQ(ps.id, 0);
		CHECK_EQ(sfs().revokes, k + 1);
		CHECK_EQ(sfs().pins, 0);
		if (ops[k].mode != 101) {
			xclose(fd);
			CHECK_EQ(dc_dcfs_unlink(FS, "rv"), 0);
		}
		check_fs();
	}
	/* Reflink from a pinned source revokes too ("a DMA into the source must not change both"). */
	{
		struct dc_dcfs_pinset ps = { 0 };
		struct dc_wait_opts o = deadline_in_ms(NO_WAIT_MS);
		struct rv_rec rv;
		int dst = xcreate("dst");

		rv_init(&rv, &ps, true);
		CHECK_EQ(dc_dcfs_pin_revocable(FS, src, PG, PG, 0, "src", rv_cb, &rv, &ps), 0);
		CHECK_EQ(dc_dcfs_reflink(FS, src, 0, dst, 0, 4 * PG, &o), 0);
		CHECK_EQ(atomic_load(&rv.calls), 1);
		CHECK(!strcmp(rv.op, "reflink"));
		CHECK_EQ(rv.ino, ino_of(src));
		CHECK_EQ(ps.id, 0);
		check_fs();
		xclose(dst);
	}
	xclose(src);
	check_fs();
}

/*
 * The callback only asks: a helper thread gives the pin back later.  The
 * truncate waits for it (it must not return before the unpin) and then
 * completes.
 */
struct later {
	struct dc_dcfs_pinset *ps;
	atomic_int asked, released, op_done, early, ret;
	uint64_t waits0;
};

static void *later_thread(void *arg)
{
	struct later *l = arg;
	uint64_t cap = dc_now_ns() + 2000000000ull; /* a cap, not an assertion */

	while (!atomic_load(&l->asked) && dc_now_ns() < cap)
		usleep(100);
	while (sfs().break_waits <= l->waits0 && dc_now_ns() < cap)
		usleep(200);
	if (atomic_load(&l->op_done))
		atomic_store(&l->early, 1);
	atomic_store(&l->released, 1);
	atomic_store(&l->ret, dc_dcfs_unpin(FS, l->ps));
	return NULL;
}

TEST(revoke_callback_unpin_later)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct later l;
	struct rv_rec rv;
	pthread_t t;
	uint64_t id;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("later");
	xwrite_byte(fd, 1, 8 * PG, 0);
	rv_init(&rv, &ps, false);
	memset(&l, 0, sizeof(l));
	l.ps = &ps;
	l.waits0 = sfs().break_waits;
	rv.signal = &l.asked;
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 6 * PG, PG, 0, "later", rv_cb, &rv, &ps), 0);
	id = ps.id;
	CHECK_EQ(pthread_create(&t, NULL, later_thread, &l), 0);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 4 * PG, NULL), 0);
	if (!atomic_load(&l.released))
		fprintf(stderr, "[%s] the truncate returned while the pin was still held\n",
			t_current);
	CHECK(atomic_load(&l.released));
	atomic_store(&l.op_done, 1);
	pthread_join(t, NULL);
	CHECK_EQ(atomic_load(&l.early), 0);
	CHECK_EQ(atomic_load(&l.ret), 0);
	rv_expect(&rv, id, ino_of(fd), "truncate", "later", 4 * PG, UINT64_MAX);
	CHECK(sfs().break_waits > l.waits0);
	CHECK_EQ(fsize(fd), 4 * PG);
	xclose(fd);
	check_fs();
}

/*
 * A callback that never gives the pin back: a truncate with a deadline
 * fails -ETIMEDOUT (the file as it was), the slow-wait report names the
 * tag, and the callback is asked once, also across a second truncate.
 */
TEST(revoke_callback_keeps_the_pin)
{
	struct dc_dcfs_pinset ps = { 0 };
	uint8_t model[8 * 4096];
	struct dc_wait_opts o;
	struct rv_rec rv;
	uint64_t id, ino;
	int fd;

	fx("mem:64M", "slow_wait_ms=0");
	fd = xcreate("stuck");
	ino = ino_of(fd);
	pattern(model, sizeof(model), 19);
	xwrite(fd, model, sizeof(model), 0);
	rv_init(&rv, &ps, false);
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 5 * PG, 2 * PG, 0, "rdma-mr-42", rv_cb, &rv, &ps),
		 0);
	id = ps.id;
	o = deadline_in_ms(100);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 2 * PG, &o), -ETIMEDOUT);
	check_fs();
	rv_expect(&rv, id, ino, "truncate", "rdma-mr-42", 2 * PG, UINT64_MAX);
	check_contents(fd, model, sizeof(model));
	CHECK_EQ(count_events(DC_DCFS_EV_SLOW_WAIT), 1);
	CHECK_EQ(evs[0].type, DC_DCFS_EV_SLOW_WAIT);
	CHECK(!strcmp(evs[0].op, "truncate"));
	CHECK_EQ(evs[0].ino, ino);
	CHECK(evs[0].npins >= 1);
	CHECK_EQ(evs[0].pin0.id, id);
	CHECK(!strcmp(evs[0].pin0.tag, "rdma-mr-42"));
	CHECK(evs[0].pin0.flags & DC_DCFS_PIN_LONGTERM);
	/* Again: no second call (once per pin), a second report, the same timeout. */
	o = deadline_in_ms(50);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 0, &o), -ETIMEDOUT);
	check_fs();
	CHECK_EQ(atomic_load(&rv.calls), 1);
	CHECK_EQ(sfs().revokes, 1);
	CHECK_EQ(count_events(DC_DCFS_EV_SLOW_WAIT), 2);
	CHECK(!strcmp(evs[1].pin0.tag, "rdma-mr-42"));
	check_contents(fd, model, sizeof(model));
	/* The holder gives it back at last: the truncate works. */
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 2 * PG, NULL), 0);
	CHECK_EQ(atomic_load(&rv.calls), 1);
	check_contents(fd, model, 2 * PG);
	xclose(fd);
	check_fs();
}

/*
 * A new revocable pin of a range whose pins are being asked back: -EAGAIN.
 * Tried from inside the revoke callback, which runs while the break is in
 * progress.
 */
TEST(revocable_pin_while_break_asks_is_eagain)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct rv_rec rv;
	int fd;

	fx("mem:64M", NULL);
	fd = xcreate("again");
	xwrite_byte(fd, 1, 8 * PG, 0);
	rv_init(&rv, &ps, true);
	rv.again_fd = fd;
	rv.again_off = 5 * PG;
	rv.again_len = PG;
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 6 * PG, PG, 0, "first", rv_cb, &rv, &ps), 0);
	{
		struct dc_wait_opts o = deadline_in_ms(NO_WAIT_MS);

		CHECK_EQ(dc_dcfs_truncate(FS, fd, 4 * PG, &o), 0);
	}
	CHECK_EQ(atomic_load(&rv.calls), 1);
	CHECK_EQ(rv.again_ret, -EAGAIN);
	CHECK_EQ(rv.unpin_ret, 0);
	CHECK_EQ(sfs().pins, 0);
	CHECK_EQ(fsize(fd), 4 * PG);
	/* After the break: a revocable pin works again. */
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 3 * PG, PG, 0, "after", rv_nop, NULL, &ps), 0);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	xclose(fd);
	check_fs();
}

/*
 * Issue 8, section 6, test 5: a long-term pin with a revoke callback;
 * without a callback the pin is refused; truncate calls the callback and
 * proceeds once the pin is returned; a callback that never returns the pin
 * makes a truncate with a deadline fail -ETIMEDOUT, the report naming the
 * tag.  The check passes after every step.
 */
TEST(longterm_pin_revoke)
{
	struct dc_dcfs_pinset ps = { 0 }, ps2 = { 0 };
	struct dc_wait_opts o;
	struct rv_rec rv, rv2;
	uint64_t ino, id;
	int fd;

	fx("mem:64M", "slow_wait_ms=0");
	fd = xcreate("lease");
	ino = ino_of(fd);
	xwrite_byte(fd, 0x4C, 8 * PG, 0);
	check_fs();
	/* 1. no callback: refused */
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, DC_DCFS_PIN_LONGTERM, "none", &ps), -EOPNOTSUPP);
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 0, PG, 0, "none", NULL, NULL, &ps), -EOPNOTSUPP);
	check_fs();
	/* 2. a callback that returns the pin: the truncate proceeds */
	rv_init(&rv, &ps, true);
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 6 * PG, 2 * PG, 0, "gpu-direct", rv_cb, &rv, &ps),
		 0);
	id = ps.id;
	check_fs();
	o = deadline_in_ms(NO_WAIT_MS);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 6 * PG, &o), 0);
	check_fs();
	rv_expect(&rv, id, ino, "truncate", "gpu-direct", 6 * PG, UINT64_MAX);
	CHECK_EQ(ps.id, 0);
	CHECK_EQ(fsize(fd), 6 * PG);
	/* 3. a callback that keeps it: -ETIMEDOUT, the report names the tag */
	rv_init(&rv2, &ps2, false);
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 4 * PG, PG, 0, "never-returns", rv_cb, &rv2, &ps2),
		 0);
	id = ps2.id;
	check_fs();
	o = deadline_in_ms(100);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 2 * PG, &o), -ETIMEDOUT);
	check_fs();
	rv_expect(&rv2, id, ino, "truncate", "never-returns", 2 * PG, UINT64_MAX);
	CHECK_EQ(fsize(fd), 6 * PG);
	CHECK(count_events(DC_DCFS_EV_SLOW_WAIT) >= 1);
	{
		bool named = false;

		for (int i = 0; i < atomic_load(&nevs) && i < MAX_EV; i++)
			if (evs[i].type == DC_DCFS_EV_SLOW_WAIT && evs[i].pin0.id == id)
				named |= !strcmp(evs[i].pin0.tag, "never-returns");
		CHECK(named);
	}
	CHECK_EQ(dc_dcfs_unpin(FS, &ps2), 0);
	check_fs();
	CHECK_EQ(sfs().revokes, 2);
	xclose(fd);
	check_fs();
}

/* A memory failure of a block under a long-term pin asks for the pin ("memory_failure"). */
TEST(revoke_on_memory_failure)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct rv_rec rv;
	uint64_t x, ino, id;
	const char *name = "mf";
	uint64_t off = PG;
	int fd;

	fx("mem:4M", NULL);
	fd = xcreate("mf");
	ino = ino_of(fd);
	xwrite_byte(fd, 1, 4 * PG, 0);
	rv_init(&rv, &ps, true);
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, PG, PG, 0, "mf-lease", rv_cb, &rv, &ps), 0);
	id = ps.id;
	x = ps.segs[0].pgoff;
	CHECK_EQ(dc_folio_memory_failure(R, x, 1), 0);
	check_fs();
	rv_expect(&rv, id, ino, "memory_failure", "mf-lease", PG, PG);
	CHECK_EQ(rv.unpin_ret, 0);
	CHECK_EQ(ps.id, 0);
	expect_mf_events(1, &ino, &name, &off, x);
	CHECK_EQ(sfs().revokes, 1);
	CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, PG, PG, NULL), 0);
	check_fs();
	expect_block(x, DC_DCFS_BLOCK_BAD, 0);
	xclose(fd);
	check_fs();
}

/* Region removal asks long-term pins back ("shutdown"); given back at once, removal completes. */
TEST(revoke_on_region_removal)
{
	struct dc_drain_opts d = { 0 };
	struct dc_dcfs_pinset ps = { 0 };
	struct rv_rec rv;
	uint64_t ino, id;
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("rm");
	ino = ino_of(fd);
	xwrite_byte(fd, 1, 4 * PG, 0);
	rv_init(&rv, &ps, true);
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 0, 2 * PG, 0, "rm-lease", rv_cb, &rv, &ps), 0);
	id = ps.id;
	d.deadline_ns = dc_now_ns() + 5000000000ull;
	CHECK_EQ(dc_region_remove(R, &d), 0);
	R = NULL; /* gone: not to be touched */
	CHECK_EQ(atomic_load(&rv.calls), 1);
	CHECK(!strcmp(rv.op, "shutdown"));
	CHECK_EQ(rv.id, id);
	CHECK_EQ(rv.ino, ino);
	CHECK(!strcmp(rv.tag, "rm-lease"));
	CHECK_EQ(rv.unpin_ret, 0);
	CHECK_EQ(ps.id, 0);
	CHECK(sfs().shutdown);
	CHECK_EQ(sfs().revokes, 1);
	check_fs();
	CHECK_EQ(dc_dcfs_close(FS, fd), 0);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), 0);
	FS = NULL;
	dc_quiesce();
}

/* ---- device removal ---------------------------------------------------------------------- */

/*
 * Every call of the mount but close, unpin, stat, lookup, list, pins,
 * statfs and unmount fails with -EIO once it is shut down.
 */
static void expect_shut_down(int fd, int ro, const char *name)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_iomap m;
	struct dc_dcfs_stat st;
	struct dc_dcfs_dirent ents[4];
	uint8_t b[16] = { 0 };
	uint64_t cur = 0;

	CHECK(sfs().shutdown);
	CHECK_EQ(dc_dcfs_create(FS, "new"), -EIO);
	CHECK_EQ(dc_dcfs_open(FS, name, DC_DCFS_RDONLY), -EIO);
	CHECK_EQ(dc_dcfs_rename(FS, name, "renamed"), -EIO);
	CHECK_EQ(dc_dcfs_unlink(FS, name), -EIO);
	CHECK_EQ(dc_dcfs_pread(FS, fd, b, 1, 0), -EIO);
	CHECK_EQ(dc_dcfs_pread(FS, ro, b, 1, 0), -EIO);
	CHECK_EQ(dc_dcfs_pwrite(FS, fd, b, 1, 0), -EIO);
	CHECK_EQ(dc_dcfs_fsync(FS, fd, false), -EIO);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 0, NULL), -EIO);
	for (unsigned mode = 0; mode <= 4; mode++)
		CHECK_EQ(dc_dcfs_fallocate(FS, fd, mode, 0, PG, NULL), -EIO);
	CHECK_EQ(dc_dcfs_iomap(FS, fd, 0, PG, 0, &m), -EIO);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 0, 0, 0, &res), -EIO);
	CHECK_EQ(dc_dcfs_fault(FS, fd, 0, DC_DCFS_FAULT_WRITE, 0, &res), -EIO);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, 0, "late", &ps), -EIO);
	CHECK_EQ(dc_dcfs_pin(FS, fd, 0, PG, DC_DCFS_PIN_READONLY, "late", &ps), -EIO);
	CHECK_EQ(dc_dcfs_pin_revocable(FS, fd, 0, PG, 0, "late", rv_nop, NULL, &ps), -EIO);
	CHECK_EQ(ps.id, 0);
	CHECK_EQ(dc_dcfs_reflink(FS, fd, 0, fd, 2 * PG, PG, NULL), -EIO);
	/* dc_dcfs_rmap(): its own case, rmap_after_shutdown. */
	/* These still work. */
	CHECK_EQ(dc_dcfs_fstat(FS, fd, &st), 0);
	CHECK_EQ(dc_dcfs_lookup(FS, name, &st), 0);
	CHECK(dc_dcfs_list(FS, &cur, ents, 4) >= 1);
	CHECK(dc_dcfs_pins(FS, fd, 0, UINT64_MAX, NULL, 0) >= 0);
}

/*
 * Issue 8, section 6, test 6: device removal with outstanding pins (a
 * plain one, and a long-term one whose holder does not give it back when
 * asked): removal waits (its deadline ends it: -ETIMEDOUT); from then on
 * every call fails with -EIO but close, unpin, stat, lookup, list, pins,
 * rmap, statfs, check and unmount; after the unpins removal completes; then close and
 * unmount succeed and nothing leaks (the ASan build checks).
 */
TEST(device_removal_with_outstanding_pin)
{
	struct dc_drain_opts d = { 0 };
	struct dc_dcfs_pinset ps = { 0 }, pl = { 0 };
	struct rv_rec rv;
	uint64_t ino_b, id;
	int a, b, ro;

	fx("mem:16M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	ino_b = ino_of(b);
	xwrite_byte(a, 1, 4 * PG, 0);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 4 * PG, NULL), 0);
	xwrite_byte(b, 2, PG, 4 * PG);
	ro = xopen("a", DC_DCFS_RDONLY);
	CHECK_EQ(dc_dcfs_pin(FS, a, 0, 2 * PG, 0, "plain-dma", &ps), 0);
	rv_init(&rv, &pl, false);
	CHECK_EQ(dc_dcfs_pin_revocable(FS, b, 4 * PG, PG, 0, "lease", rv_cb, &rv, &pl), 0);
	id = pl.id;
	check_fs();
	/* Removal waits for the pins: its deadline ends it. */
	d.deadline_ns = dc_now_ns() + 100000000ull;
	CHECK_EQ(dc_region_remove(R, &d), -ETIMEDOUT);
	CHECK(!dc_region_alive(R));
	CHECK_EQ(atomic_load(&rv.calls), 1);
	CHECK(!strcmp(rv.op, "shutdown"));
	CHECK_EQ(rv.id, id);
	CHECK_EQ(rv.ino, ino_b);
	CHECK(!strcmp(rv.tag, "lease"));
	expect_shut_down(a, ro, "a");
	CHECK_EQ(sfs().pins, 2);
	CHECK_EQ(dc_dcfs_pins(FS, a, 0, UINT64_MAX, NULL, 0), 1);
	check_fs();
	/* The DMA may still write until it gives the pin back. */
	dma_write(&ps, 0xDA);
	/* Again: still waiting; the callback is not asked twice. */
	d.deadline_ns = dc_now_ns() + 50000000ull;
	CHECK_EQ(dc_region_remove(R, &d), -ETIMEDOUT);
	CHECK_EQ(atomic_load(&rv.calls), 1);
	/* Unmount while pins are held: -EBUSY, nothing changed. */
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), -EBUSY);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	d.deadline_ns = dc_now_ns() + 50000000ull;
	CHECK_EQ(dc_region_remove(R, &d), -ETIMEDOUT); /* the long-term pin is still out */
	CHECK_EQ(dc_dcfs_unpin(FS, &pl), 0);
	CHECK_EQ(sfs().pins, 0);
	/* Nothing holds the region now: removal completes. */
	d.deadline_ns = dc_now_ns() + 5000000000ull;
	CHECK_EQ(dc_region_remove(R, &d), 0);
	R = NULL; /* gone: not to be touched */
	expect_shut_down(a, ro, "a");
	check_fs();
	CHECK_EQ(dc_dcfs_close(FS, a), 0);
	CHECK_EQ(dc_dcfs_close(FS, ro), 0);
	CHECK_EQ(dc_dcfs_close(FS, b), 0);
	CHECK_EQ(dc_dcfs_close(FS, b), -EBADF);
	CHECK_EQ(sfs().open, 0);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), 0);
	FS = NULL;
	dc_quiesce();
}

/* ---- bad input ------------------------------------------------------------------------ */

/* Issue 8, section 6, test 7: reflink of misaligned, overlapping, out-of-range or unknown files. */
TEST(bad_input_reflink)
{
	uint8_t am[4 * 4096], bm[2 * 4096];
	const uint64_t MAX = DC_DCFS_SIZE_MAX;
	struct dc_wait_opts o = { 0 };
	int a, b, ro, closed;

	fx("mem:64M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	pattern(am, sizeof(am), 21);
	pattern(bm, sizeof(bm), 22);
	xwrite(a, am, sizeof(am), 0);
	xwrite(b, bm, sizeof(bm), 0);
	ro = xopen("b", DC_DCFS_RDONLY);
	closed = xopen("a", DC_DCFS_RDWR);
	xclose(closed);
	/* Misaligned offsets and lengths. */
	CHECK_EQ(dc_dcfs_reflink(FS, a, 100, b, 0, PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 100, PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 100, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, PG + 1, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_reflink(FS, a, PG - 1, b, PG - 1, PG, NULL), -EINVAL);
	/* Overlapping ranges of one file. */
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, a, PG, 2 * PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_reflink(FS, a, PG, a, 0, 2 * PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, a, 0, PG, NULL), -EINVAL);
	/* The source range past its end. */
	CHECK_EQ(dc_dcfs_reflink(FS, a, 2 * PG, b, 0, 4 * PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 4 * PG, b, 0, PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 8 * PG, b, 0, PG, NULL), -EINVAL);
	CHECK_EQ(dc_dcfs_reflink(FS, a, UINT64_MAX - PG + 1, b, 0, PG, NULL), -EINVAL);
	{
		int r = dc_dcfs_reflink(FS, a, 0, b, 0, UINT64_MAX - PG + 1, NULL);

		CHECK(r == -EINVAL || r == -EFBIG); /* past the source's end, and too big */
	}
	/* The destination beyond the largest size. */
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, MAX, PG, NULL), -EFBIG);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, MAX - PG, 2 * PG, NULL), -EFBIG);
	{
		int r = dc_dcfs_reflink(FS, a, 0, b, UINT64_MAX - PG + 1, PG, NULL);

		CHECK(r == -EINVAL || r == -EFBIG); /* wraps */
	}
	/* Unknown, closed and read-only descriptors; no file system. */
	CHECK_EQ(dc_dcfs_reflink(FS, closed, 0, b, 0, PG, NULL), -EBADF);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, closed, 0, PG, NULL), -EBADF);
	CHECK_EQ(dc_dcfs_reflink(FS, -1, 0, b, 0, PG, NULL), -EBADF);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, -1, 0, PG, NULL), -EBADF);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b ^ (1 << 24), 0, PG, NULL), -EBADF);
	CHECK_EQ(dc_dcfs_reflink(FS, 1 << 20, 0, b, 0, PG, NULL), -EBADF);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, ro, 0, PG, NULL), -EBADF);
	CHECK_EQ(dc_dcfs_reflink(NULL, a, 0, b, 0, PG, NULL), -EINVAL);
	/* Nothing of that changed anything. */
	check_contents(a, am, sizeof(am));
	check_contents(b, bm, sizeof(bm));
	CHECK_EQ(sfs().blocks_shared, 0);
	CHECK_EQ(xstat(b).shared, 0);
	check_fs();
	/* len 0: nothing, wherever it points (aligned), even past the source's end. */
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 0, NULL), 0);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 4 * PG, b, 16 * PG, 0, NULL), 0);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, a, 0, 0, NULL), 0);
	check_contents(b, bm, sizeof(bm));
	CHECK_EQ(fsize(b), 2 * PG);
	CHECK_EQ(sfs().blocks_shared, 0);
	/* A deadline and cancel with nothing to wait for are not looked at. */
	o.deadline_ns = dc_now_ns() - 1;
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, PG, &o), 0);
	memcpy(bm, am, PG);
	check_contents(b, bm, sizeof(bm));
	/* A read-only source is fine. */
	{
		int aro = xopen("a", DC_DCFS_RDONLY);

		CHECK_EQ(dc_dcfs_reflink(FS, aro, PG, b, PG, PG, NULL), 0);
		xclose(aro);
	}
	memcpy(bm + PG, am + PG, PG);
	check_contents(b, bm, sizeof(bm));
	check_fs();
	xclose(ro);
	xclose(a);
	xclose(b);
	check_fs();
}

/* Issue 8, section 6, test 7: the reverse map and poison of offsets beyond the region. */
TEST(bad_input_rmap_and_poison)
{
	struct dc_dcfs_block blk;
	struct dc_dcfs_owner o[2];
	uint64_t np;

	fx("mem:4M", NULL);
	np = dc_region_npages(R);
	CHECK_EQ(dc_dcfs_rmap(FS, np, &blk, o, 2), -EINVAL);
	CHECK_EQ(dc_dcfs_rmap(FS, UINT64_MAX, &blk, o, 2), -EINVAL);
	CHECK_EQ(dc_dcfs_rmap(NULL, 0, &blk, o, 2), -EINVAL);
	CHECK_EQ(dc_dcfs_rmap(FS, 0, NULL, o, 2), -EINVAL);
	CHECK_EQ(dc_dcfs_rmap(FS, 0, &blk, NULL, 2), -EINVAL);
	/* The last page: a free block. */
	memset(&blk, 0xa5, sizeof(blk));
	CHECK_EQ(dc_dcfs_rmap(FS, np - 1, &blk, NULL, 0), 0);
	CHECK_EQ(blk.state, DC_DCFS_BLOCK_FREE);
	CHECK_EQ(blk.shares, 0);
	CHECK_EQ(blk.block, np - 1);
	CHECK(!blk.poisoned);
	/* Poison beyond the region: refused, nothing marked. */
	CHECK_EQ(dc_folio_memory_failure(R, np, 1), -EINVAL);
	CHECK_EQ(dc_folio_memory_failure(R, np - 1, 2), -EINVAL);
	CHECK_EQ(dc_folio_memory_failure(R, UINT64_MAX, 1), -EINVAL);
	CHECK_EQ(dc_folio_memory_failure(R, 1, UINT64_MAX), -EINVAL);
	CHECK_EQ(sfs().blocks_bad, 0);
	CHECK_EQ(sfs().memory_failures, 0);
	CHECK_EQ(atomic_load(&nevs), 0);
	CHECK_EQ(dc_dcfs_rmap(FS, np - 1, &blk, NULL, 0), 0);
	CHECK(!blk.poisoned);
	check_fs();
}

/*
 * Issue 8, section 6, test 7: operations after shutdown.  Removal with no
 * pin held completes at once (the mount lets go of the region when no
 * call runs); every later call fails -EIO but those that only look or let
 * go; unmount works.
 */
TEST(operations_after_shutdown)
{
	struct dc_drain_opts d = { 0 };
	struct dc_dcfs_fault_result res;
	int a, ro;

	fx("mem:16M", NULL);
	a = xcreate("a");
	xwrite_byte(a, 1, 4 * PG, 0);
	CHECK_EQ(dc_dcfs_fault(FS, a, 0, DC_DCFS_FAULT_WRITE, 0, &res), 0);
	CHECK_EQ(dc_dcfs_fault(FS, a, 1, 0, 0, &res), 0);
	ro = xopen("a", DC_DCFS_RDONLY);
	d.deadline_ns = dc_now_ns() + 5000000000ull;
	CHECK_EQ(dc_region_remove(R, &d), 0);
	R = NULL; /* gone: not to be touched */
	CHECK(dc_dcfs_region(FS) == NULL);
	expect_shut_down(a, ro, "a");
	CHECK_EQ(sfs().pins, 0);
	check_fs();
	CHECK_EQ(dc_dcfs_close(FS, a), 0);
	CHECK_EQ(dc_dcfs_close(FS, ro), 0);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), 0);
	FS = NULL;
	dc_quiesce();
}

/*
 * dc_dcfs_rmap() after shutdown: the reverse map is bookkeeping of the
 * mount, not of the region, so it still answers (dcfs.h lists it among the
 * calls that work once shut down), both while removal waits and after it
 * completed: the block is still the file's.
 */
TEST(rmap_after_shutdown)
{
	struct dc_drain_opts d = { 0 };
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_block blk;
	struct dc_dcfs_owner own[2];
	uint64_t pg;
	int a;

	fx("mem:16M", NULL);
	a = xcreate("a");
	xwrite_byte(a, 1, 2 * PG, 0);
	pg = pg_of(a, 0);
	CHECK_EQ(dc_dcfs_pin(FS, a, 0, PG, 0, "hold", &ps), 0);
	d.deadline_ns = dc_now_ns() + 50000000ull;
	CHECK_EQ(dc_region_remove(R, &d), -ETIMEDOUT);
	CHECK_EQ(dc_dcfs_rmap(FS, pg, &blk, own, 2), 1);
	CHECK_EQ(blk.state, DC_DCFS_BLOCK_USED);
	CHECK_EQ(own[0].offset, 0);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	d.deadline_ns = dc_now_ns() + 5000000000ull;
	CHECK_EQ(dc_region_remove(R, &d), 0);
	R = NULL;
	CHECK_EQ(dc_dcfs_rmap(FS, pg, &blk, own, 2), 1);
	CHECK_EQ(dc_dcfs_check(FS), 0);
	CHECK_EQ(dc_dcfs_close(FS, a), 0);
	CHECK_EQ(dc_dcfs_unmount(FS, NULL), 0);
	FS = NULL;
	dc_quiesce();
}

/* ---- regressions from the review of part 2 ------------------------------------------ */

/*
 * A truncate of one sharer does not wait for another file's pins on
 * blocks that file still shares (its entries go at once; the block stays
 * the other's), but it does wait for its own; the last sharer's truncate
 * waits for every pin on them, whoever took it.
 */
TEST(truncate_of_sharer_ignores_other_pins)
{
	struct dc_dcfs_pinset pb = { 0 }, pa = { 0 };
	struct dc_wait_opts w;
	uint64_t pg;
	int a, b;

	fx("mem:16M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	xwrite_byte(a, 'A', 2 * PG, 0);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 2 * PG, NULL), 0);
	pg = pg_of(a, 0);
	CHECK_EQ(dc_dcfs_pin(FS, b, 0, 2 * PG, DC_DCFS_PIN_READONLY, "bdma", &pb), 0);
	CHECK_EQ(dc_dcfs_pin(FS, a, 0, PG, DC_DCFS_PIN_READONLY, "adma", &pa), 0);
	w = deadline_in_ms(100);
	CHECK_EQ(dc_dcfs_truncate(FS, a, 0, &w), -ETIMEDOUT); /* a's own pin */
	CHECK_EQ(dc_dcfs_unpin(FS, &pa), 0);
	w = deadline_in_ms(NO_WAIT_MS);
	CHECK_EQ(dc_dcfs_truncate(FS, a, 0, &w), 0); /* b's pin: no reason to wait */
	expect_block(pg, DC_DCFS_BLOCK_USED, 1, ino_of(b), U(0));
	check_fs();
	CHECK_EQ(dc_dcfs_pin(FS, a, 0, PG, 0, "awrite", &pa), -EFAULT); /* a is empty */
	w = deadline_in_ms(100);
	CHECK_EQ(dc_dcfs_truncate(FS, b, 0, &w), -ETIMEDOUT); /* b's own pin */
	CHECK_EQ(dc_dcfs_unpin(FS, &pb), 0);
	CHECK_EQ(dc_dcfs_truncate(FS, b, 0, NULL), 0);
	expect_block(pg, DC_DCFS_BLOCK_FREE, 0);
	check_fs();
	xclose(a);
	xclose(b);
}

/*
 * With the quarantine, a write pin on a reflink's source is still waited
 * for: the source keeps its blocks, and a DMA into them must not reach
 * the destination (the review's D1).
 */
TEST(quarantine_reflink_waits_for_source_pins)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_wait_opts w;
	uint8_t buf[64];
	int a, b;

	fx("mem:16M", "quarantine");
	a = xcreate("a");
	b = xcreate("b");
	xwrite_byte(a, 'A', PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, a, 0, PG, 0, "dma", &ps), 0);
	w = deadline_in_ms(100);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, PG, &w), -ETIMEDOUT);
	CHECK_EQ(fsize(b), 0);
	dma_write(&ps, 'Z');
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, PG, NULL), 0);
	CHECK_EQ(dc_dcfs_pin(FS, a, 0, PG, 0, "dma2", &ps), 0); /* copies: a's block is shared */
	dma_write(&ps, 'Y');
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(dc_dcfs_pread(FS, b, buf, sizeof(buf), 0), (int64_t)sizeof(buf));
	CHECK(all_bytes(buf, 'Z', sizeof(buf)));
	CHECK_EQ(dc_dcfs_pread(FS, a, buf, sizeof(buf), 0), (int64_t)sizeof(buf));
	CHECK(all_bytes(buf, 'Y', sizeof(buf)));
	check_fs();
	xclose(a);
	xclose(b);
}

/*
 * The same after a layout change elsewhere in the pinned block's entry
 * took the entry away (bug 42, found by the torture): with the quarantine
 * a break abandons whole entries, so a punch of one page under a 2 MiB
 * entry of 4 KiB blocks leaves the other 511 blocks in the file, one of
 * them pinned, and no entry maps them.  A reflink of that block must still
 * wait for the pin: it asks the file's pins, not only the entries' folios
 * (else a DMA goes on writing a block the destination shares).
 */
TEST(quarantine_reflink_waits_for_pins_an_abandon_hid)
{
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_wait_opts w;
	uint8_t buf[64];
	int a, b;

	fx("mem:64M", "quarantine");
	a = xcreate("a");
	b = xcreate("b");
	CHECK_EQ(dc_dcfs_fallocate(FS, a, DC_DCFS_FALLOC_ZERO, 0, 2 * 1024 * 1024, NULL), 0);
	CHECK_EQ(dc_dcfs_fault(FS, a, 5, DC_DCFS_FAULT_WRITE, 9, &res), 0);
	if (res.order != 9)
		t_skip("no 2 MiB entry for an aligned 2 MiB extent here");
	CHECK_EQ(dc_dcfs_pin(FS, a, 5 * PG, PG, 0, "dma", &ps), 0);
	/* One page punched: the whole entry abandoned, page 5's block stays. */
	CHECK_EQ(dc_dcfs_fallocate(FS, a, DC_DCFS_FALLOC_PUNCH, 100 * PG, PG, NULL), 0);
	CHECK_EQ(ps.segs[0].pgoff, pg_of(a, 5 * PG));
	w = deadline_in_ms(100);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 5 * PG, b, 0, PG, &w), -ETIMEDOUT);
	CHECK_EQ(fsize(b), 0);
	dma_write(&ps, 'Z');
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 5 * PG, b, 0, PG, NULL), 0);
	CHECK_EQ(dc_dcfs_pread(FS, b, buf, sizeof(buf), 0), (int64_t)sizeof(buf));
	CHECK(all_bytes(buf, 'Z', sizeof(buf)));
	check_fs();
	xclose(a);
	xclose(b);
}

/*
 * A reflink of a page whose pinned block left the file (a punch on a
 * quarantine mount does not wait for the pin), written again since: the
 * file's block there is a new one, unpinned, and the reflink must not wait
 * for the DMA on the old one (a first fix of bug 42 waited for the file's
 * pin records, which still name the page; a hostile review found it).
 */
TEST(quarantine_reflink_ignores_a_pin_whose_block_left)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_wait_opts w;
	uint64_t x;
	int a, b;

	fx("mem:16M", "quarantine");
	a = xcreate("a");
	b = xcreate("b");
	xwrite_byte(a, 'A', 2 * PG, 0);
	x = pg_of(a, 0);
	CHECK_EQ(dc_dcfs_pin(FS, a, 0, PG, 0, "dma", &ps), 0);
	CHECK_EQ(dc_dcfs_fallocate(FS, a, DC_DCFS_FALLOC_PUNCH, 0, PG, NULL), 0); /* no wait */
	xwrite_byte(a, 'N', PG, 0);
	CHECK(pg_of(a, 0) != x);
	w = deadline_in_ms(5000);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, PG, &w), 0);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	check_fs();
	xclose(a);
	xclose(b);
}

/*
 * A zero-range past the end of file that fails after it allocated the
 * blocks past the end (bug 43, found by the torture's check on a full
 * quarantine mount): here the pinned last block has to move to a copy
 * before its tail is zeroed, and the file system has no block left for
 * the copy.  The call fails with -ENOSPC and must give the blocks past
 * the end back: the size stays, and no extent may lie past it.
 */
TEST(quarantine_failed_zero_past_eof_gives_blocks_back)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_statfs st;
	uint64_t free0;
	int a, fill;

	fx("mem:16M", "quarantine");
	a = xcreate("a");
	fill = xcreate("fill");
	xwrite_byte(a, 'A', PG, 0);
	CHECK_EQ(dc_dcfs_pin(FS, a, 0, PG, 0, "dma", &ps), 0);
	dc_dcfs_statfs(FS, &st);
	free0 = st.blocks_free;
	CHECK(free0 > 2);
	xwrite_byte(fill, 'F', (free0 - 2) * PG, 0); /* two blocks left: the zero's, not the copy's */
	dc_dcfs_statfs(FS, &st);
	CHECK_EQ(st.blocks_free, 2);
	CHECK_EQ(dc_dcfs_fallocate(FS, a, DC_DCFS_FALLOC_ZERO, 100, 3 * PG - 100, NULL), -ENOSPC);
	CHECK_EQ(fsize(a), PG);
	check_fs(); /* no extent past the end of file */
	dc_dcfs_statfs(FS, &st);
	CHECK_EQ(st.blocks_free, 2);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	check_fs();
	xclose(a);
	xclose(fill);
}

/*
 * Insert range in a file that maps one block at two offsets (a reflink
 * within it): each reverse-map record moves once (the review's D3: both
 * moved to the same offset, the check passed, a punch then died).
 */
TEST(insert_in_self_reflinked_file_keeps_rmap)
{
	uint64_t pg;
	int a;

	fx("mem:16M", NULL);
	a = xcreate("a");
	xwrite_byte(a, 'A', 2 * PG, 0);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, a, PG, PG, NULL), 0);
	pg = pg_of(a, 0);
	expect_block(pg, DC_DCFS_BLOCK_USED, 2, ino_of(a), U(0), ino_of(a), U(PG));
	CHECK_EQ(dc_dcfs_fallocate(FS, a, DC_DCFS_FALLOC_INSERT, 0, PG, NULL), 0);
	expect_block(pg, DC_DCFS_BLOCK_USED, 2, ino_of(a), U(PG), ino_of(a), U(2 * PG));
	check_fs();
	CHECK_EQ(dc_dcfs_fallocate(FS, a, DC_DCFS_FALLOC_PUNCH, PG, PG, NULL), 0);
	expect_block(pg, DC_DCFS_BLOCK_USED, 1, ino_of(a), U(2 * PG));
	CHECK_EQ(dc_dcfs_fallocate(FS, a, DC_DCFS_FALLOC_COLLAPSE, 0, PG, NULL), 0);
	expect_block(pg, DC_DCFS_BLOCK_USED, 1, ino_of(a), U(PG));
	check_fs();
	xclose(a);
}

/*
 * A truncate that must copy a shared last block on a full file system
 * fails before anything changed (the review's D7: the blocks past the new
 * end were freed first, the size stayed, data was lost).
 */
TEST(truncate_enospc_changes_nothing)
{
	uint8_t buf[PG];
	int a, b, full;

	fx("mem:16M", NULL);
	a = xcreate("a");
	xwrite_byte(a, 'A', 64 * PG, 0);
	b = xcreate("b");
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 64 * PG, NULL), 0);
	full = fill_fs("full", 'F');
	CHECK_EQ(dc_dcfs_truncate(FS, a, 10 * PG + 1, NULL), -ENOSPC);
	CHECK_EQ(fsize(a), 64 * PG);
	CHECK_EQ(xstat(a).blocks, 64);
	CHECK_EQ(dc_dcfs_pread(FS, a, buf, PG, 40 * PG), (int64_t)PG);
	CHECK(all_bytes(buf, 'A', PG));
	check_fs();
	xclose(full);
	CHECK_EQ(dc_dcfs_unlink(FS, "full"), 0);
	CHECK_EQ(dc_dcfs_truncate(FS, a, 10 * PG + 1, NULL), 0);
	CHECK_EQ(dc_dcfs_pread(FS, b, buf, PG, 10 * PG), (int64_t)PG); /* b keeps its block */
	CHECK(all_bytes(buf, 'A', PG));
	check_fs();
	xclose(a);
	xclose(b);
}

/*
 * With the quarantine, a truncate to the middle of a pinned block moves
 * that block to a copy before anything else changes: on a full file
 * system the copy fails and the file is as it was (the review's second
 * round: the blocks past the new end were gone first).
 */
TEST(quarantine_truncate_enospc_changes_nothing)
{
	struct dc_dcfs_pinset ps = { 0 };
	uint8_t buf[3 * PG];
	int a, b, full;

	fx("mem:16M", "quarantine");
	a = xcreate("a");
	xwrite_byte(a, 'A', PG, 0);
	xwrite_byte(a, 'B', PG, PG);
	xwrite_byte(a, 'C', PG, 2 * PG);
	b = xcreate("b");
	CHECK_EQ(dc_dcfs_reflink(FS, a, PG, b, 0, 2 * PG, NULL), 0); /* freeing them frees nothing */
	full = fill_fs("full", 'F');
	CHECK_EQ(dc_dcfs_pin(FS, a, 0, PG, DC_DCFS_PIN_READONLY, "dma", &ps), 0);
	CHECK_EQ(dc_dcfs_truncate(FS, a, 100, NULL), -ENOSPC);
	CHECK_EQ(fsize(a), 3 * PG);
	CHECK_EQ(xstat(a).blocks, 3);
	CHECK_EQ(dc_dcfs_pread(FS, a, buf, 3 * PG, 0), (int64_t)(3 * PG));
	CHECK(all_bytes(buf, 'A', PG) && all_bytes(buf + PG, 'B', PG) &&
	      all_bytes(buf + 2 * PG, 'C', PG));
	check_fs();
	xclose(full);
	CHECK_EQ(dc_dcfs_unlink(FS, "full"), 0);
	CHECK_EQ(dc_dcfs_truncate(FS, a, 100, NULL), 0); /* now it moves, and the pin keeps the old */
	CHECK_EQ(sfs().blocks_quarantined, 1);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	CHECK_EQ(sfs().blocks_quarantined, 0);
	check_fs();
	xclose(a);
	xclose(b);
}

/*
 * A pin checks the size again once its pages are pinned: here a truncate
 * runs (from the pin fast path's test hook) after the pin checked the size
 * and before it faulted its last page, which is then still inside the file
 * page-wise but past the new end byte-wise.  The pin must fail -EFAULT,
 * not hold bytes past the end of file (a DMA into them raced the zeroing
 * of a later growth; found by TSan in the review's stress).
 */
extern void (*dc__test_gup_hook)(struct dc_mapping *m) __attribute__((weak));
static int hook_fd;
static atomic_int hook_armed;

static void truncate_in_the_pin(struct dc_mapping *m)
{
	(void)m;
	if (atomic_exchange(&hook_armed, 0))
		CHECK_EQ(dc_dcfs_truncate(FS, hook_fd, 7 * PG + 100, NULL), 0);
}

TEST(pin_rechecks_size_after_pinning)
{
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_pinset ps = { 0 };
	int a;

	if (!&dc__test_gup_hook)
		t_skip("the library has no test hooks (built without DC_FAULT_INJECT)");
	fx("mem:16M", NULL);
	a = xcreate("a");
	xwrite_byte(a, 'A', 10 * PG, 0);
	CHECK_EQ(dc_dcfs_fault(FS, a, 6, 0, 0, &res), 0); /* page 6 mapped, page 7 not */
	hook_fd = a;
	atomic_store(&hook_armed, 1);
	dc__test_gup_hook = truncate_in_the_pin;
	CHECK_EQ(dc_dcfs_pin(FS, a, 6 * PG, 2 * PG, 0, "late", &ps), -EFAULT);
	dc__test_gup_hook = NULL;
	CHECK_EQ(atomic_load(&hook_armed), 0); /* the truncate ran inside the pin */
	CHECK_EQ(fsize(a), 7 * PG + 100);
	CHECK_EQ(sfs().pins, 0);
	check_fs();
	xclose(a);
}

/*
 * A write pin and a share drop of the same page by another caller (bug
 * 41, found by the torture): the drop runs, here from the pin's test
 * hook, after the fast path pinned the shared block and before the pin
 * checks the block for sharing.  It takes a's share, so the check finds
 * the old block unshared, but it is b's alone now: the pin must hold a
 * block of a alone, at the pinned offset, never b's (a DMA would write
 * b's data, and a punch of b would free the block under the pin).  The
 * drop: a CoW of the page (a pwrite), or on a quarantine mount, where
 * they do not wait for pins, a punch, a collapse or a reflink onto it
 * (the last three found by a hostile review of the first fix).
 */
extern void (*dc__test_pin_hook)(struct dc_dcfs *fs) __attribute__((weak));

enum drop { DROP_COW, DROP_PUNCH, DROP_COLLAPSE, DROP_REFLINK };
static enum drop drop_mode;
static int drop_src;

static void drop_in_the_pin(struct dc_dcfs *fs)
{
	(void)fs;
	if (!atomic_exchange(&hook_armed, 0))
		return;
	switch (drop_mode) {
	case DROP_COW:
		xwrite_byte(hook_fd, 'C', 100, 10); /* a's page 0 copied, b keeps the block */
		break;
	case DROP_PUNCH:
		CHECK_EQ(dc_dcfs_fallocate(FS, hook_fd, DC_DCFS_FALLOC_PUNCH, 0, PG, NULL), 0);
		break;
	case DROP_COLLAPSE:
		CHECK_EQ(dc_dcfs_fallocate(FS, hook_fd, DC_DCFS_FALLOC_COLLAPSE, 0, PG, NULL), 0);
		break;
	case DROP_REFLINK:
		CHECK_EQ(dc_dcfs_reflink(FS, drop_src, 0, hook_fd, 0, PG, NULL), 0);
		break;
	}
}

static void write_pin_racing_a_drop(enum drop mode)
{
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_pinset ps = { 0 };
	uint8_t bm[3 * 4096];
	uint64_t ia, ib, x, got;
	int a, b, c;

	if (!&dc__test_pin_hook)
		t_skip("the library has no test hooks (built without DC_FAULT_INJECT)");
	fx("mem:16M", mode == DROP_COW ? NULL : "quarantine");
	a = xcreate("a");
	b = xcreate("b");
	c = xcreate("c");
	ia = ino_of(a);
	ib = ino_of(b);
	xwrite_byte(a, 'A', 3 * PG, 0);
	xwrite_byte(c, 'C', 3 * PG, 0);
	x = pg_of(a, 0);
	CHECK_EQ(dc_dcfs_reflink(FS, a, 0, b, 0, 3 * PG, NULL), 0);
	CHECK_EQ(dc_dcfs_fault(FS, a, 0, 0, 0, &res), 0); /* mapped: the shared block */
	CHECK_EQ(res.pgoff, x);
	hook_fd = a;
	drop_mode = mode;
	drop_src = c;
	atomic_store(&hook_armed, 1);
	dc__test_pin_hook = drop_in_the_pin;
	CHECK_EQ(dc_dcfs_pin(FS, a, 0, PG, 0, "dma", &ps), 0);
	dc__test_pin_hook = NULL;
	CHECK_EQ(atomic_load(&hook_armed), 0); /* the drop ran inside the pin */
	check_segs(&ps, 0, PG);
	got = ps.segs[0].pgoff;
	CHECK(got != x);
	CHECK_EQ(got, pg_of(a, 0));
	expect_block(got, DC_DCFS_BLOCK_USED, 1, ia, U(0));
	expect_block(x, DC_DCFS_BLOCK_USED, 1, ib, U(0));
	dma_write(&ps, 0xD7);
	CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	memset(bm, 'A', sizeof(bm));
	check_contents(b, bm, sizeof(bm));
	check_fs();
	xclose(a);
	xclose(b);
	xclose(c);
	check_fs();
}

/*
 * A write pin while a CoW of its page is under way (bug 44, found by the
 * torture on 2 MiB blocks): the CoW checked that the block is shared,
 * copied it and holds the entry locked; meanwhile the other sharer lets
 * go, and a write pin through the fast path finds the old block unshared
 * and keeps it; then the CoW replaces it and drops the file's share, and
 * the DMA writes a block that left the file (quarantined, on a mount
 * without the quarantine).  The pin must not go through an entry a fault
 * holds: it faults, waits for the CoW, and pins the copy.
 */
extern void (*dc__test_cow_hook)(struct dc_dcfs *fs) __attribute__((weak));
static struct dc_dcfs_pinset cw_ps;
static atomic_int cw_state; /* 1: pin called, 2: it returned */
static int cw_a, cw_b, cw_ret;
static pthread_t cw_thread;

static void *cw_pinner(void *arg)
{
	(void)arg;
	atomic_store(&cw_state, 1);
	cw_ret = dc_dcfs_pin(FS, cw_a, 0, PG, 0, "dma", &cw_ps);
	atomic_store(&cw_state, 2);
	return NULL;
}

static void pin_during_the_cow(struct dc_dcfs *fs)
{
	(void)fs;
	if (!atomic_exchange(&hook_armed, 0))
		return;
	/* The other sharer lets go: the block is a's alone now. */
	CHECK_EQ(dc_dcfs_fallocate(FS, cw_b, DC_DCFS_FALLOC_PUNCH, 0, PG, NULL), 0);
	CHECK_EQ(pthread_create(&cw_thread, NULL, cw_pinner, NULL), 0);
	/* Time for the pin to land through the locked entry (the bug), or to
	 * block in its fault until this CoW is done (the fix). */
	for (int i = 0; i < 200 && atomic_load(&cw_state) != 2; i++)
		usleep(1000);
}

/* a and b share a's two pages, a's page 0 is mapped (the shared block): *@x, a's ino *@ia. */
static void cow_race_setup(uint64_t *x, uint64_t *ia)
{
	struct dc_dcfs_fault_result res;

	fx("mem:16M", NULL);
	cw_a = xcreate("a");
	cw_b = xcreate("b");
	*ia = ino_of(cw_a);
	xwrite_byte(cw_a, 'A', 2 * PG, 0);
	*x = pg_of(cw_a, 0);
	CHECK_EQ(dc_dcfs_reflink(FS, cw_a, 0, cw_b, 0, 2 * PG, NULL), 0);
	CHECK_EQ(dc_dcfs_fault(FS, cw_a, 0, 0, 0, &res), 0);
	CHECK_EQ(res.pgoff, *x);
	atomic_store(&hook_armed, 1);
}

/* The write pin @ps of a's page 0 holds a's copy, not the old block @x; then the end. */
static void cow_race_check(struct dc_dcfs_pinset *ps, uint64_t x, uint64_t ia)
{
	uint64_t got;

	check_segs(ps, 0, PG);
	got = ps->segs[0].pgoff;
	CHECK(got != x);
	CHECK_EQ(got, pg_of(cw_a, 0));
	expect_block(got, DC_DCFS_BLOCK_USED, 1, ia, U(0));
	dma_write(ps, 0xD7);
	CHECK_EQ(dc_dcfs_unpin(FS, ps), 0);
	check_fs();
	xclose(cw_a);
	xclose(cw_b);
	check_fs();
}

TEST(write_pin_during_a_cow_of_its_page)
{
	uint64_t ia, x;

	if (!&dc__test_cow_hook)
		t_skip("the library has no test hooks (built without DC_FAULT_INJECT)");
	cow_race_setup(&x, &ia);
	atomic_store(&cw_state, 0);
	dc__test_cow_hook = pin_during_the_cow;
	xwrite_byte(cw_a, 'C', 100, 10); /* a CoW of a's page 0: the hook runs inside it */
	dc__test_cow_hook = NULL;
	CHECK_EQ(atomic_load(&hook_armed), 0);
	pthread_join(cw_thread, NULL);
	CHECK_EQ(cw_ret, 0);
	cow_race_check(&cw_ps, x, ia);
}

/*
 * The other order (bug 45, found by a hostile review of bug 44's fix): the
 * write pin goes through the entry before the CoW takes it; the CoW finds
 * the block shared and copies it; the other sharer lets go; the pin's check
 * finds the block unshared and keeps it, and the CoW then replaces it.  The
 * CoW counts itself before its check, so the pin sees it and pins again
 * (it then waits for the CoW in its fault).  The pin runs in this thread,
 * stopped by its hook until the CoW (another thread) is inside its own.
 */
static atomic_int pc_state; /* 1: the sharer let go inside the CoW; 2: the pin returned */
static pthread_t pc_thread;

static void pc_cow_hook(struct dc_dcfs *fs)
{
	(void)fs;
	CHECK_EQ(dc_dcfs_fallocate(FS, cw_b, DC_DCFS_FALLOC_PUNCH, 0, PG, NULL), 0);
	atomic_store(&pc_state, 1);
	/* The pin's check runs now: with the bug it returns at once. */
	for (int i = 0; i < 500 && atomic_load(&pc_state) != 2; i++)
		usleep(1000);
}

static void *pc_writer(void *arg)
{
	(void)arg;
	xwrite_byte(cw_a, 'C', 100, 10); /* a CoW of a's page 0 */
	return NULL;
}

static void pc_pin_hook(struct dc_dcfs *fs)
{
	(void)fs;
	if (!atomic_exchange(&hook_armed, 0))
		return;
	dc__test_cow_hook = pc_cow_hook;
	CHECK_EQ(pthread_create(&pc_thread, NULL, pc_writer, NULL), 0);
	while (atomic_load(&pc_state) != 1)
		usleep(1000);
}

TEST(write_pin_before_a_cow_takes_its_entry)
{
	struct dc_dcfs_pinset ps = { 0 };
	uint64_t ia, x;

	if (!&dc__test_cow_hook || !&dc__test_pin_hook)
		t_skip("the library has no test hooks (built without DC_FAULT_INJECT)");
	cow_race_setup(&x, &ia);
	atomic_store(&pc_state, 0);
	dc__test_pin_hook = pc_pin_hook;
	CHECK_EQ(dc_dcfs_pin(FS, cw_a, 0, PG, 0, "dma", &ps), 0);
	atomic_store(&pc_state, 2);
	dc__test_pin_hook = NULL;
	pthread_join(pc_thread, NULL);
	dc__test_cow_hook = NULL;
	cow_race_check(&ps, x, ia);
}

TEST(write_pin_racing_a_cow_of_its_page)
{
	write_pin_racing_a_drop(DROP_COW);
}

TEST(write_pin_racing_a_quarantine_punch)
{
	write_pin_racing_a_drop(DROP_PUNCH);
}

TEST(write_pin_racing_a_quarantine_collapse)
{
	write_pin_racing_a_drop(DROP_COLLAPSE);
}

TEST(write_pin_racing_a_quarantine_reflink)
{
	write_pin_racing_a_drop(DROP_REFLINK);
}

T_MAIN(setup, teardown)
