/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_conc_dcfs - dcfs under concurrency (also run under ThreadSanitizer).
 *
 * pins_vs_truncate_punch_collapse: each of NF files has an owner thread
 * that truncates, punches, collapses and inserts, then re-extends the file
 * and re-stamps it: every page starts with a stamp (magic, file id, page).
 * Pinner threads pin 1-4 pages of a random file (write pins), and while
 * the pin is held check that
 *   - each pinned page is still in the file's extent map at the device page
 *     the pin holds (dc_dcfs_iomap), right after the pin and again after
 *     holding it a while: "pin landed on a block that left the file";
 *   - the pinned memory holds this file's stamp (a zeroed block only while
 *     the owner is between a layout change and its re-stamp), and exactly
 *     (file, page) when no layout change ran across the pin (a per-file
 *     epoch, odd while the owner changes the layout, tells).
 * The stamps are written (pwrite) and read (through the pins) under a
 * per-file "stamp lock" of the test's; the layout operations never take it.
 *
 * dma_vs_block_reuse: DMA threads pin pages of file D and keep writing a
 * pattern through the pins (each transfer a while) while D is truncated to
 * 0 and re-extended in a loop (no new transfer starts while the truncate
 * runs, those under way finish first); another thread creates file O,
 * writes it, reads it back and unlinks it, over and over, on a region small
 * enough that O's blocks are blocks D had (counted, and required).  O must
 * never show a byte of the DMA pattern.
 *
 * reflink_writers_vs_reflink_truncate (issue 8, section 6, test 2): files
 * A and B share blocks (reflink); one writer thread per file writes stamps
 * (thread, iteration) into random pages of its file, by pwrite or through a
 * write fault, each a small write into a page that may be shared (so it
 * copies), and reads the whole page back at once: it must equal the
 * writer's model of that page (a lost write, or a copy-on-write that copied
 * wrong bytes or wrote into the shared block, shows).  A third thread
 * reflinks ranges of one file onto the other (both directions) and
 * truncates and regrows either file, in a loop.  The oracle is exact: each
 * page of each file has a mutex of the test's; a writer holds its page's,
 * the third thread holds those of every page it changes or reads (source
 * and destination), so the model follows every change.  While holding a
 * page's mutex, its thread also checks the reverse map: the block the
 * file's iomap maps there is USED and lists (file, offset) among its owners
 * (a block freed with a sharer left shows as FREE or without that owner).
 * At the end the files equal their models and the check passes.
 *
 * quarantine_pins_vs_truncate: on a quarantine mount, pinner threads pin
 * pages of file Q (each thread its own pages, as DMA engines do) and keep
 * writing a pattern through the pins, while another thread truncates Q and
 * regrows it, and a third creates, writes and checks file O over and over
 * on a small region.  While a pin is held, the reverse map of each pinned
 * device page must list Q at the pinned offset and nothing else (still in
 * Q), or nothing at all (QUARANTINED): never another file, never free.  O
 * must never show the pattern.  At the end nothing is quarantined.
 *
 * write_pins_vs_cow, write_pins_vs_quarantine_punch: write pins of A's
 * pages against writes that copy A's shared blocks (and, on a quarantine
 * mount, punches) and reflinks that share them again; a held write pin
 * must be on a block of A alone, at the pinned offset, or quarantined
 * (bug 41).
 *
 * namespace_races, faults_vs_layout, parallel_writers_model: the namespace,
 * the fault path and writers of separate files (one allocator, each file
 * checked against its model)
 * against each other and against truncate/punch; every call returns one
 * of the results its contract allows, and the check passes afterwards.
 *
 * Counts of violations are asserted to be 0; a watchdog bounds each case.
 */
#include "dcfs_fixture.h"

#include <sched.h>
#include <stdatomic.h>


static atomic_int stop;

static void setup(void)
{
	R = NULL;
	FS = NULL;
	atomic_store(&stop, 0);
}

/* Break-layouts waits for a busy page so far. */
static uint64_t break_waits_now(void)
{
	return sfs().break_waits;
}

static void teardown(void)
{
	dcfs_teardown();
}

static void fx(const char *spec, const char *opts)
{
	CHECK_EQ(dc_region_create(spec, &R), 0);
	CHECK_EQ(dc_dcfs_mount(R, opts, NULL, NULL, &FS), 0);
}

/* A generous deadline for a wait that must end (a hang fails, not times out the case). */
static struct dc_wait_opts bound_ms(uint64_t ms)
{
	struct dc_wait_opts o = { 0 };

	o.deadline_ns = dc_now_ns() + ms * 1000000ull;
	return o;
}

/* The device page of file byte @off now (UINT64_MAX: a hole). */
static uint64_t file_page(int fd, uint64_t off)
{
	struct dc_dcfs_iomap m;

	CHECK_EQ(dc_dcfs_iomap(FS, fd, off, PG, 0, &m), 0);
	if (m.type != DC_DCFS_IOMAP_MAPPED)
		return UINT64_MAX;
	return m.pgoff + ((off >> 12) - (m.offset >> 12));
}

/* ---- pins vs. truncate, punch, collapse, insert ------------------------------------- */

#define NF 4
#define NP 64
#define NPIN 3
#define MAGIC 0x44434653u /* "DCFS" */

struct stamp {
	uint32_t magic;
	uint32_t fid;
	uint64_t page;
};

struct pfile {
	char name[8];
	int fd;
	atomic_ulong epoch; /* odd while the owner changes the layout */
	pthread_rwlock_t stamp_lock;
	uint8_t *img;       /* NP stamped pages */
	unsigned long ops, done_extra;
};

static struct pfile pf[NF];
static long pin_target;
static atomic_long v_left, v_stamp, v_other, n_pins, n_efault, n_zero, owners_left;

static void restamp(struct pfile *f, uint64_t first, uint64_t n)
{
	pthread_rwlock_wrlock(&f->stamp_lock);
	CHECK_EQ(dc_dcfs_pwrite(FS, f->fd, f->img + first * PG, n * PG, first * PG),
		 (int64_t)(n * PG));
	pthread_rwlock_unlock(&f->stamp_lock);
}

static void *owner(void *arg)
{
	struct pfile *f = arg;
	uint64_t rng = t_seed(1000) + (uint64_t)(f - pf);

	/* The layout operations, and enough pins meanwhile to race them. */
	for (unsigned long i = 0; i < f->ops || atomic_load(&n_pins) < pin_target; i++) {
		uint64_t r = t_rand(&rng), a, n;
		int op = (int)(r % 4);

		atomic_fetch_add(&f->epoch, 1); /* odd */
		switch (op) {
		case 0: /* truncate to a page boundary, re-extend */
			a = (r >> 8) % NP;
			CHECK_EQ(dc_dcfs_truncate(FS, f->fd, a * PG, NULL), 0);
			restamp(f, a, NP - a);
			break;
		case 1: /* punch, refill */
			a = (r >> 8) % NP;
			n = 1 + (r >> 20) % 8;
			if (a + n > NP)
				n = NP - a;
			CHECK_EQ(dc_dcfs_fallocate(FS, f->fd, DC_DCFS_FALLOC_PUNCH, a * PG, n * PG, NULL),
				 0);
			restamp(f, a, n);
			break;
		case 2: /* collapse, re-extend, every page re-stamped */
			a = (r >> 8) % (NP - 1);
			n = 1 + (r >> 20) % 8;
			if (a + n >= NP)
				n = NP - 1 - a;
			CHECK_EQ(dc_dcfs_fallocate(FS, f->fd, DC_DCFS_FALLOC_COLLAPSE, a * PG, n * PG,
						   NULL), 0);
			restamp(f, 0, NP);
			break;
		default: /* insert, cut back to NP pages, re-stamp */
			a = (r >> 8) % NP;
			n = 1 + (r >> 20) % 4;
			CHECK_EQ(dc_dcfs_fallocate(FS, f->fd, DC_DCFS_FALLOC_INSERT, a * PG, n * PG,
						   NULL), 0);
			CHECK_EQ(dc_dcfs_truncate(FS, f->fd, NP * PG, NULL), 0);
			restamp(f, 0, NP);
			break;
		}
		atomic_fetch_add(&f->epoch, 1); /* even: stable and stamped */
		if (i >= f->ops)
			f->done_extra++;
		/* Let the pinners in: a layout change in a loop would starve them. */
		usleep(10 + (unsigned)((r >> 48) % 100));
	}
	atomic_fetch_sub(&owners_left, 1);
	return NULL;
}

static void *pinner(void *arg)
{
	uint64_t rng = t_seed(2000) + (uint64_t)(uintptr_t)arg;
	int fds[NF];

	for (int i = 0; i < NF; i++) {
		fds[i] = dc_dcfs_open(FS, pf[i].name, DC_DCFS_RDWR);
		CHECK(fds[i] >= 0);
	}
	while (atomic_load(&owners_left) > 0) {
		uint64_t r = t_rand(&rng), p = (r >> 8) % NP, npg = 1 + (r >> 16) % 4;
		unsigned fi = (unsigned)(r % NF);
		struct pfile *f = &pf[fi];
		struct dc_dcfs_pinset ps = { 0 };
		uint64_t dev[4], e1, e2;
		struct stamp st[4];
		int ret;

		if (p + npg > NP)
			npg = NP - p;
		e1 = atomic_load(&f->epoch);
		ret = dc_dcfs_pin(FS, fds[fi], p * PG, npg * PG, 0, "pinner", &ps);
		if (ret == -EFAULT) { /* past EOF for a moment: truncated, not yet re-extended */
			atomic_fetch_add(&n_efault, 1);
			continue;
		}
		CHECK_EQ(ret, 0);
		atomic_fetch_add(&n_pins, 1);
		for (uint64_t q = 0; q < npg; q++) {
			dev[q] = pin_page(&ps, (p + q) * PG, NULL);
			if (dev[q] == UINT64_MAX || file_page(fds[fi], (p + q) * PG) != dev[q])
				atomic_fetch_add(&v_left, 1);
		}
		pthread_rwlock_rdlock(&f->stamp_lock);
		for (uint64_t q = 0; q < npg; q++) {
			uint8_t *a;

			(void)pin_page(&ps, (p + q) * PG, &a);
			memcpy(&st[q], a, sizeof(st[q]));
		}
		pthread_rwlock_unlock(&f->stamp_lock);
		e2 = atomic_load(&f->epoch);
		for (uint64_t q = 0; q < npg; q++) {
			bool zero = !st[q].magic && !st[q].fid && !st[q].page;
			bool mine = st[q].magic == MAGIC && st[q].fid == fi;

			if (st[q].magic == MAGIC && st[q].fid != fi)
				atomic_fetch_add(&v_other, 1); /* another file's block */
			else if (e1 == e2 && !(e1 & 1) && !(mine && st[q].page == p + q))
				atomic_fetch_add(&v_stamp, 1);
			else if (!mine && !zero)
				atomic_fetch_add(&v_stamp, 1);
			if (zero)
				atomic_fetch_add(&n_zero, 1);
		}
		/* Hold it a little: layout changes of the range must wait. */
		if (r & (1ull << 40))
			usleep((unsigned)((r >> 44) % 50));
		else
			sched_yield();
		for (uint64_t q = 0; q < npg; q++)
			if (file_page(fds[fi], (p + q) * PG) != dev[q])
				atomic_fetch_add(&v_left, 1);
		CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	}
	for (int i = 0; i < NF; i++)
		CHECK_EQ(dc_dcfs_close(FS, fds[i]), 0);
	return NULL;
}

TEST(pins_vs_truncate_punch_collapse)
{
	pthread_t own[NF], pin[NPIN];
	unsigned long ops = t_scale(2000);
	uint64_t waits0;

	pin_target = (long)t_scale(20000);
	t_watchdog(t_case_limit() < 120 ? t_case_limit() : 120); /* seconds, not minutes */

	fx("mem:64M", NULL);
	atomic_store(&v_left, 0);
	atomic_store(&v_stamp, 0);
	atomic_store(&v_other, 0);
	atomic_store(&n_pins, 0);
	atomic_store(&n_efault, 0);
	atomic_store(&n_zero, 0);
	atomic_store(&owners_left, NF);
	for (int i = 0; i < NF; i++) {
		struct pfile *f = &pf[i];

		snprintf(f->name, sizeof(f->name), "f%d", i);
		f->fd = dc_dcfs_create(FS, f->name);
		CHECK(f->fd >= 0);
		atomic_store(&f->epoch, 0);
		CHECK_EQ(pthread_rwlock_init(&f->stamp_lock, NULL), 0);
		f->img = calloc(NP, PG);
		CHECK(f->img);
		for (uint64_t p = 0; p < NP; p++) {
			struct stamp s = { MAGIC, (uint32_t)i, p };

			memcpy(f->img + p * PG, &s, sizeof(s));
			memset(f->img + p * PG + sizeof(s), 0x80 + i, PG - sizeof(s));
		}
		f->ops = ops;
		f->done_extra = 0;
		restamp(f, 0, NP);
	}
	waits0 = sfs().break_waits;
	for (int i = 0; i < NPIN; i++)
		CHECK_EQ(pthread_create(&pin[i], NULL, pinner, (void *)(uintptr_t)i), 0);
	for (int i = 0; i < NF; i++)
		CHECK_EQ(pthread_create(&own[i], NULL, owner, &pf[i]), 0);
	for (int i = 0; i < NF; i++)
		pthread_join(own[i], NULL);
	for (int i = 0; i < NPIN; i++)
		pthread_join(pin[i], NULL);
	ops = 0;
	for (int i = 0; i < NF; i++)
		ops += pf[i].ops + pf[i].done_extra;
	printf("layout ops %lu, pins %ld (past EOF %ld, zeroed blocks seen %ld), break waits %llu;"
	       " violations: left the file %ld, another file's stamp %ld, wrong stamp %ld\n",
	       ops, (long)atomic_load(&n_pins), (long)atomic_load(&n_efault),
	       (long)atomic_load(&n_zero), (unsigned long long)(sfs().break_waits - waits0),
	       (long)atomic_load(&v_left), (long)atomic_load(&v_other),
	       (long)atomic_load(&v_stamp));
	CHECK_EQ(atomic_load(&v_left), 0);
	CHECK_EQ(atomic_load(&v_other), 0);
	CHECK_EQ(atomic_load(&v_stamp), 0);
	CHECK(atomic_load(&n_pins) > 0);
	check_fs();
	/* The files read as their stamps. */
	for (int i = 0; i < NF; i++) {
		uint8_t *b = malloc(NP * PG);

		CHECK(b);
		CHECK_EQ(dc_dcfs_pread(FS, pf[i].fd, b, NP * PG, 0), (int64_t)(NP * PG));
		CHECK(!memcmp(b, pf[i].img, NP * PG));
		free(b);
		CHECK_EQ(dc_dcfs_close(FS, pf[i].fd), 0);
		free(pf[i].img);
		pthread_rwlock_destroy(&pf[i].stamp_lock);
	}
}

/* ---- DMA through pins vs. block reuse by another file ------------------------------ */

#define NPD 128 /* pages of D */
#define NPO 384 /* pages of O */
#define NDMA 3
#define DMA_BYTE 0xDA
#define O_BYTE 0x0F

static int fd_d;
static atomic_int d_truncating; /* the driver is asked to start no new DMA */
static atomic_uchar *dma_used; /* device pages DMA ever wrote */
static atomic_long o_bad, o_dma, o_reused, o_rounds, d_rounds, dma_pins;

static void *dma_thread(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg, rng = t_seed(3000) + id;
	int fd = dc_dcfs_open(FS, "D", DC_DCFS_RDWR);

	CHECK(fd >= 0);
	while (!atomic_load(&stop)) {
		uint64_t r = t_rand(&rng);
		/* This thread's pages only: DMA engines do not share buffers. */
		uint64_t p = ((r >> 8) % (NPD / NDMA)) * NDMA + id;
		struct dc_dcfs_pinset ps = { 0 };
		int ret;

		/* While D is truncated no new transfer starts (those under way
		 * finish first): a truncate that drops the invalidate lock while it
		 * waits can otherwise starve behind transfers that keep coming,
		 * most of all under ThreadSanitizer. */
		if (atomic_load(&d_truncating)) {
			usleep(50);
			continue;
		}
		ret = dc_dcfs_pin(FS, fd, p * PG, PG, 0, "dma", &ps);
		if (ret == -EFAULT) /* D is truncated to 0 right now */
			continue;
		CHECK_EQ(ret, 0);
		atomic_fetch_add(&dma_pins, 1);
		for (unsigned i = 0; i < ps.nsegs; i++) {
			uint64_t pg = ps.segs[i].pgoff;

			CHECK(pg != UINT64_MAX);
			atomic_store(&dma_used[pg], 1);
		}
		/* A transfer of a while: it goes on writing for as long as it
		 * holds the pin, as a device does (bug 19 frees the block under it). */
		for (int k = 0; k < 16 + (int)((r >> 40) % 48); k++) {
			for (unsigned i = 0; i < ps.nsegs; i++)
				memset(ps.segs[i].addr, DMA_BYTE, ps.segs[i].len);
			sched_yield();
		}
		CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
		/* A DMA engine does not re-pin at once: without a pause the
		 * truncate, which drops the invalidate lock while it waits,
		 * starves (that is not what this case is about). */
		usleep(50 + (unsigned)((r >> 48) % 300));
	}
	CHECK_EQ(dc_dcfs_close(FS, fd), 0);
	return NULL;
}

static void *d_truncater(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		atomic_store(&d_truncating, 1);
		CHECK_EQ(dc_dcfs_truncate(FS, fd_d, 0, NULL), 0);
		atomic_store(&d_truncating, 0);
		CHECK_EQ(dc_dcfs_truncate(FS, fd_d, NPD * PG, NULL), 0);
		atomic_fetch_add(&d_rounds, 1);
		usleep(100);
	}
	return NULL;
}

static void check_o(int fd, uint8_t *b, const uint8_t *w)
{
	CHECK_EQ(dc_dcfs_pread(FS, fd, b, NPO * PG, 0), (int64_t)(NPO * PG));
	if (!memcmp(b, w, NPO * PG))
		return;
	for (uint64_t i = 0; i < NPO * PG; i++)
		if (b[i] != O_BYTE) {
			atomic_fetch_add(&o_bad, 1);
			if (b[i] == DMA_BYTE)
				atomic_fetch_add(&o_dma, 1);
		}
}

static void *o_cycler(void *arg)
{
	unsigned long rounds = (unsigned long)(uintptr_t)arg;
	uint8_t *w = malloc(NPO * PG), *b = malloc(NPO * PG);

	CHECK(w && b);
	memset(w, O_BYTE, NPO * PG);
	/* Enough rounds of O, and of D's truncate (blocks to reuse), as they come. */
	for (unsigned long i = 0; i < rounds || (unsigned long)atomic_load(&d_rounds) < rounds / 4;
	     i++) {
		int fd = dc_dcfs_create(FS, "O");

		CHECK(fd >= 0);
		CHECK_EQ(dc_dcfs_pwrite(FS, fd, w, NPO * PG, 0), (int64_t)(NPO * PG));
		check_o(fd, b, w);
		for (uint64_t p = 0; p < NPO; p++) {
			uint64_t pg = file_page(fd, p * PG);

			CHECK(pg != UINT64_MAX);
			if (atomic_load(&dma_used[pg]))
				atomic_fetch_add(&o_reused, 1);
		}
		sched_yield();
		check_o(fd, b, w); /* a late DMA would show now */
		CHECK_EQ(dc_dcfs_close(FS, fd), 0);
		CHECK_EQ(dc_dcfs_unlink(FS, "O"), 0);
		atomic_fetch_add(&o_rounds, 1);
	}
	atomic_store(&stop, 1);
	free(w);
	free(b);
	return NULL;
}

TEST(dma_vs_block_reuse)
{
	pthread_t dma[NDMA], td, to;
	t_watchdog(t_case_limit() < 120 ? t_case_limit() : 120); /* seconds, not minutes */

	fx("mem:4M", NULL);
	CHECK_EQ(sfs().blocks, 1024);
	dma_used = calloc(dc_region_npages(R), sizeof(*dma_used));
	CHECK(dma_used);
	atomic_store(&o_bad, 0);
	atomic_store(&o_dma, 0);
	atomic_store(&o_reused, 0);
	atomic_store(&o_rounds, 0);
	atomic_store(&d_rounds, 0);
	atomic_store(&dma_pins, 0);
	atomic_store(&d_truncating, 0);
	fd_d = dc_dcfs_create(FS, "D");
	CHECK(fd_d >= 0);
	CHECK_EQ(dc_dcfs_truncate(FS, fd_d, NPD * PG, NULL), 0);
	for (int i = 0; i < NDMA; i++)
		CHECK_EQ(pthread_create(&dma[i], NULL, dma_thread, (void *)(uintptr_t)i), 0);
	CHECK_EQ(pthread_create(&td, NULL, d_truncater, NULL), 0);
	/* At least 200 rounds even under sanitizers: a DMA that outlives its
	 * pin (bug 19) must meet a round of O to be seen. */
	CHECK_EQ(pthread_create(&to, NULL, o_cycler,
				(void *)(uintptr_t)(t_scale(1000) < 200 ? 200 : t_scale(1000))), 0);
	pthread_join(to, NULL);
	pthread_join(td, NULL);
	for (int i = 0; i < NDMA; i++)
		pthread_join(dma[i], NULL);
	printf("O rounds %ld, D truncates %ld, DMA pins %ld, O pages on blocks DMA had written"
	       " %ld; O bytes wrong %ld (DMA pattern %ld)\n",
	       (long)atomic_load(&o_rounds), (long)atomic_load(&d_rounds),
	       (long)atomic_load(&dma_pins), (long)atomic_load(&o_reused),
	       (long)atomic_load(&o_bad), (long)atomic_load(&o_dma));
	CHECK_EQ(atomic_load(&o_bad), 0);
	CHECK_EQ(atomic_load(&o_dma), 0);
	CHECK(atomic_load(&dma_pins) > 0);
	CHECK(atomic_load(&o_reused) > 0); /* the case tested what it says */
	check_fs();
	CHECK_EQ(dc_dcfs_close(FS, fd_d), 0);
	free((void *)dma_used);
	dma_used = NULL;
}

/* ---- the namespace under concurrency ------------------------------------------------ */

#define NNAMES 6
#define NNS 4
static atomic_long ns_bad, ns_ops;

static void ns_expect(long long r, long long a, long long b, long long c, const char *what)
{
	if (r != a && r != b && r != c) {
		fprintf(stderr, "[%s] %s returned %lld (%s)\n", t_current, what, r, dc_errmsg());
		atomic_fetch_add(&ns_bad, 1);
	}
}

static void *ns_thread(void *arg)
{
	uint64_t rng = t_seed(4000) + (uint64_t)(uintptr_t)arg;
	unsigned long n = t_scale(20000);
	uint8_t buf[256];

	memset(buf, (int)(uintptr_t)arg + 1, sizeof(buf));
	for (unsigned long i = 0; i < n; i++) {
		uint64_t r = t_rand(&rng);
		char a[4], b[4];
		int fd;

		snprintf(a, sizeof(a), "n%d", (int)((r >> 8) % NNAMES));
		snprintf(b, sizeof(b), "n%d", (int)((r >> 16) % NNAMES));
		switch (r % 7) {
		case 0:
			fd = dc_dcfs_create(FS, a);
			ns_expect(fd < 0 ? fd : 0, 0, -EEXIST, -EEXIST, "create");
			if (fd >= 0) {
				ns_expect(dc_dcfs_pwrite(FS, fd, buf, sizeof(buf), (r >> 24) % 20000),
					  sizeof(buf), sizeof(buf), sizeof(buf), "pwrite");
				ns_expect(dc_dcfs_close(FS, fd), 0, 0, 0, "close");
			}
			break;
		case 1:
			fd = dc_dcfs_open(FS, a, (r >> 30) & 1 ? DC_DCFS_RDWR : DC_DCFS_RDONLY);
			ns_expect(fd < 0 ? fd : 0, 0, -ENOENT, -ENOENT, "open");
			if (fd >= 0) {
				int64_t got = dc_dcfs_pread(FS, fd, buf, sizeof(buf), 0);
				struct dc_dcfs_stat st;

				ns_expect(got >= 0 ? 0 : got, 0, 0, 0, "pread");
				ns_expect(dc_dcfs_fstat(FS, fd, &st), 0, 0, 0, "fstat");
				if ((r >> 30) & 1)
					ns_expect(dc_dcfs_truncate(FS, fd, (r >> 32) % 30000, NULL), 0, 0,
						  0, "truncate");
				ns_expect(dc_dcfs_close(FS, fd), 0, 0, 0, "close");
			}
			break;
		case 2:
			ns_expect(dc_dcfs_unlink(FS, a), 0, -ENOENT, -ENOENT, "unlink");
			break;
		case 3:
			ns_expect(dc_dcfs_rename(FS, a, b), 0, -ENOENT, -ENOENT, "rename");
			break;
		case 4: {
			struct dc_dcfs_stat st;

			ns_expect(dc_dcfs_lookup(FS, a, &st), 0, -ENOENT, -ENOENT, "lookup");
			break;
		}
		case 5: {
			struct dc_dcfs_dirent ents[4];
			uint64_t cur = 0, last = 0;
			int k;

			while ((k = dc_dcfs_list(FS, &cur, ents, 4)) > 0)
				for (int j = 0; j < k; j++) {
					if (ents[j].ino <= last)
						atomic_fetch_add(&ns_bad, 1); /* inode order */
					last = ents[j].ino;
				}
			ns_expect(k, 0, 0, 0, "list");
			break;
		}
		default: {
			struct dc_dcfs_statfs s;

			dc_dcfs_statfs(FS, &s);
			if (s.blocks_free > s.blocks)
				atomic_fetch_add(&ns_bad, 1);
			break;
		}
		}
		atomic_fetch_add(&ns_ops, 1);
	}
	return NULL;
}

TEST(namespace_races)
{
	pthread_t t[NNS];
	t_watchdog(t_case_limit() < 120 ? t_case_limit() : 120); /* seconds, not minutes */

	fx("mem:16M", NULL);
	atomic_store(&ns_bad, 0);
	atomic_store(&ns_ops, 0);
	for (int i = 0; i < NNS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, ns_thread, (void *)(uintptr_t)i), 0);
	for (int i = 0; i < NNS; i++)
		pthread_join(t[i], NULL);
	printf("namespace ops %ld, unexpected results %ld, files left %llu\n",
	       (long)atomic_load(&ns_ops), (long)atomic_load(&ns_bad),
	       (unsigned long long)sfs().files);
	CHECK_EQ(atomic_load(&ns_bad), 0);
	CHECK(sfs().files <= NNAMES);
	CHECK_EQ(sfs().open, 0);
	check_fs();
}

/* ---- faults and pins vs. layout changes, same file ---------------------------------- */

#define NFP 256
static int fl_fd;
static atomic_long fl_bad, fl_faults, fl_layouts;

static void *fl_faulter(void *arg)
{
	uint64_t rng = t_seed(5000) + (uint64_t)(uintptr_t)arg;
	int fd = dc_dcfs_open(FS, "F", DC_DCFS_RDWR);

	CHECK(fd >= 0);
	while (!atomic_load(&stop)) {
		uint64_t r = t_rand(&rng), idx = (r >> 8) % NFP;
		struct dc_dcfs_fault_result res;
		unsigned order = (r >> 20) % 4 == 0 ? 9 : 0;
		bool write = (r >> 24) & 1;
		int ret = dc_dcfs_fault(FS, fd, idx, write ? DC_DCFS_FAULT_WRITE : 0, order, &res);

		if (ret == 0) {
			if (res.index > idx || idx >= res.index + (1ull << res.order) ||
			    (write && (res.zero || !res.writable)) || (res.zero && res.writable))
				atomic_fetch_add(&fl_bad, 1);
		} else if (ret != -EFAULT) {
			fprintf(stderr, "[%s] fault: %d (%s)\n", t_current, ret, dc_errmsg());
			atomic_fetch_add(&fl_bad, 1);
		}
		if ((r >> 28) % 8 == 0) { /* now and then a short read-only pin */
			struct dc_dcfs_pinset ps = { 0 };

			ret = dc_dcfs_pin(FS, fd, idx * PG, PG, DC_DCFS_PIN_READONLY, "ro", &ps);
			if (ret == 0)
				CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
			else if (ret != -EFAULT)
				atomic_fetch_add(&fl_bad, 1);
		}
		atomic_fetch_add(&fl_faults, 1);
	}
	CHECK_EQ(dc_dcfs_close(FS, fd), 0);
	return NULL;
}

TEST(faults_vs_layout)
{
	pthread_t t[3];
	unsigned long rounds = t_scale(1500);
	uint64_t rng = t_seed(6000);
	uint8_t *buf = malloc(NFP * PG);
	t_watchdog(t_case_limit() < 120 ? t_case_limit() : 120); /* seconds, not minutes */

	CHECK(buf);
	memset(buf, 0x3c, NFP * PG);
	fx("mem:64M", NULL);
	atomic_store(&fl_bad, 0);
	atomic_store(&fl_faults, 0);
	fl_fd = dc_dcfs_create(FS, "F");
	CHECK(fl_fd >= 0);
	CHECK_EQ(dc_dcfs_pwrite(FS, fl_fd, buf, NFP * PG, 0), (int64_t)(NFP * PG));
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, fl_faulter, (void *)(uintptr_t)i), 0);
	for (unsigned long i = 0; i < rounds; i++) {
		uint64_t r = t_rand(&rng), a = (r >> 8) % NFP, n = 1 + (r >> 20) % 64;

		if (a + n > NFP)
			n = NFP - a;
		switch (r % 6) {
		case 0:
			CHECK_EQ(dc_dcfs_truncate(FS, fl_fd, a * PG + (r >> 40) % PG, NULL), 0);
			break;
		case 4:
			CHECK_EQ(dc_dcfs_fallocate(FS, fl_fd, DC_DCFS_FALLOC_ALLOC, a * PG, n * PG, NULL),
				 0);
			break;
		case 5: {
			struct dc_dcfs_stat st;

			CHECK_EQ(dc_dcfs_fstat(FS, fl_fd, &st), 0);
			if (a * PG + n * PG < st.size)
				CHECK_EQ(dc_dcfs_fallocate(FS, fl_fd, DC_DCFS_FALLOC_COLLAPSE, a * PG,
							   n * PG, NULL), 0);
			else
				CHECK_EQ(dc_dcfs_fallocate(FS, fl_fd, DC_DCFS_FALLOC_INSERT, 0, PG, NULL),
					 0);
			if (st.size > NFP * PG)
				CHECK_EQ(dc_dcfs_truncate(FS, fl_fd, NFP * PG, NULL), 0);
			break;
		}
		case 1:
			CHECK_EQ(dc_dcfs_fallocate(FS, fl_fd, DC_DCFS_FALLOC_PUNCH, a * PG, n * PG, NULL),
				 0);
			break;
		case 2:
			CHECK_EQ(dc_dcfs_fallocate(FS, fl_fd, DC_DCFS_FALLOC_ZERO, a * PG + 7, n * PG,
						   NULL), 0);
			break;
		default:
			CHECK_EQ(dc_dcfs_pwrite(FS, fl_fd, buf, n * PG, a * PG), (int64_t)(n * PG));
			break;
		}
		if ((r >> 50) % 4 == 0) /* grow back */
			CHECK_EQ(dc_dcfs_pwrite(FS, fl_fd, buf, PG, (NFP - 1) * PG), (int64_t)PG);
		atomic_fetch_add(&fl_layouts, 1);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("faults %ld, layout changes %ld, unexpected results %ld\n",
	       (long)atomic_load(&fl_faults), (long)atomic_load(&fl_layouts),
	       (long)atomic_load(&fl_bad));
	CHECK_EQ(atomic_load(&fl_bad), 0);
	check_fs();
	CHECK_EQ(dc_dcfs_close(FS, fl_fd), 0);
	free(buf);
}

/* ---- writers of separate files share the allocator ------------------------------------ */

#define NW 4
#define WMAX (96 * PG)
static atomic_long w_bad;

static void *writer(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg, rng = t_seed(7000) + id, size = 0;
	uint8_t *model = calloc(1, WMAX), *buf = malloc(WMAX);
	unsigned long n = t_scale(20000);
	char name[8];
	int fd;

	CHECK(model && buf);
	snprintf(name, sizeof(name), "w%d", (int)id);
	fd = dc_dcfs_create(FS, name);
	CHECK(fd >= 0);
	for (unsigned long i = 0; i < n; i++) {
		uint64_t r = t_rand(&rng), off = (r >> 8) % WMAX, len = 1 + (r >> 32) % (4 * PG);

		if (off + len > WMAX)
			len = WMAX - off;
		switch (r % 5) {
		case 0:
		case 1:
			memset(buf, (int)(r >> 56) | 1, len);
			CHECK_EQ(dc_dcfs_pwrite(FS, fd, buf, len, off), (int64_t)len);
			memcpy(model + off, buf, len);
			if (off + len > size)
				size = off + len;
			break;
		case 2:
			CHECK_EQ(dc_dcfs_truncate(FS, fd, off, NULL), 0);
			if (off < size)
				memset(model + off, 0, size - off);
			size = off;
			break;
		case 3:
			CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, off, len, NULL), 0);
			if (off < size)
				memset(model + off, 0, (off + len < size ? off + len : size) - off);
			break;
		default: {
			int64_t got = dc_dcfs_pread(FS, fd, buf, len, off);
			int64_t want = off >= size ? 0 : (int64_t)(off + len <= size ? len : size - off);

			if (got != want || memcmp(buf, model + off, (size_t)want))
				atomic_fetch_add(&w_bad, 1);
			break;
		}
		}
	}
	CHECK_EQ(dc_dcfs_pread(FS, fd, buf, WMAX, 0), (int64_t)size);
	if (memcmp(buf, model, size))
		atomic_fetch_add(&w_bad, 1);
	CHECK_EQ(dc_dcfs_close(FS, fd), 0);
	free(model);
	free(buf);
	return NULL;
}

TEST(parallel_writers_model)
{
	pthread_t t[NW];

	t_watchdog(t_case_limit() < 120 ? t_case_limit() : 120);
	fx("mem:4M", NULL);
	atomic_store(&w_bad, 0);
	for (int i = 0; i < NW; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, writer, (void *)(uintptr_t)i), 0);
	for (int i = 0; i < NW; i++)
		pthread_join(t[i], NULL);
	printf("writers %d, reads that differed from the model %ld, blocks free %llu of %llu\n", NW,
	       (long)atomic_load(&w_bad), (unsigned long long)sfs().blocks_free,
	       (unsigned long long)sfs().blocks);
	CHECK_EQ(atomic_load(&w_bad), 0);
	check_fs();
}

/* ---- writers of both sides of a reflinked range vs. reflink and truncate ------------- */

#define RF_NP 32 /* pages of each file */
#define RF_SLOTS (4096 / 16)
#define RF_MAGIC 0x52464c4bu /* "RFLK" */

struct rf_stamp {
	uint32_t magic;
	uint16_t thread, file;
	uint32_t iter, page;
};

struct rf_file {
	char name[4];
	int fd;
	uint64_t ino;
	uint8_t *model;                /* RF_NP pages: what the file must read */
	pthread_mutex_t lock[RF_NP];   /* the test's per-page mutex */
};

static struct rf_file rf[2];
static atomic_long rf_lost, rf_freed, rf_writes, rf_fault_writes, rf_reflinks, rf_truncs,
	rf_writers_left;

/*
 * Called with rf[f].lock[p] held: the block file f maps at page p (if
 * any) is in use and lists (f, p) among its owners.
 */
static void rf_check_rmap(int f, uint64_t p)
{
	uint64_t pg = dev_page(rf[f].fd, p * PG, NULL);
	struct rmap_view v;

	if (pg == UINT64_MAX)
		return;
	v = rmap_of(pg);
	if (v.blk.state != DC_DCFS_BLOCK_USED || !rmap_has(&v, rf[f].ino, p * PG) ||
	    v.blk.shares != (uint32_t)v.n) {
		if (atomic_fetch_add(&rf_freed, 1) < 5)
			fprintf(stderr, "[%s] file %d page %llu maps device page %llu: state %d, "
				"shares %u, %d owners, (file, offset) %slisted\n", t_current, f,
				(unsigned long long)p, (unsigned long long)pg, (int)v.blk.state,
				v.blk.shares, v.n, rmap_has(&v, rf[f].ino, p * PG) ? "" : "not ");
	}
}

/* Called with the page's mutex held: the page reads as its model. */
static void rf_check_page(int f, uint64_t p, uint8_t *buf)
{
	int64_t got = dc_dcfs_pread(FS, rf[f].fd, buf, PG, p * PG);

	if (got != (int64_t)PG || memcmp(buf, rf[f].model + p * PG, PG)) {
		if (atomic_fetch_add(&rf_lost, 1) < 5)
			fprintf(stderr, "[%s] file %d page %llu differs from its model (pread %lld)\n",
				t_current, f, (unsigned long long)p, (long long)got);
	}
}

static void *rf_writer(void *arg)
{
	int f = (int)(uintptr_t)arg;
	uint64_t rng = t_seed(8000) + (uint64_t)f;
	unsigned long n = t_scale(8000);
	uint8_t *buf = malloc(PG);

	CHECK(buf);
	for (unsigned long i = 0; i < n; i++) {
		uint64_t r = t_rand(&rng), p = (r >> 8) % RF_NP, slot = (r >> 16) % RF_SLOTS;
		struct rf_stamp st = { RF_MAGIC, (uint16_t)(f + 1), (uint16_t)f, (uint32_t)i,
				       (uint32_t)p };
		uint64_t off = p * PG + slot * sizeof(st);

		pthread_mutex_lock(&rf[f].lock[p]);
		if ((r >> 40) & 1) {
			CHECK_EQ(dc_dcfs_pwrite(FS, rf[f].fd, &st, sizeof(st), off), (int64_t)sizeof(st));
		} else {
			struct dc_dcfs_fault_result res;

			CHECK_EQ(dc_dcfs_fault(FS, rf[f].fd, p, DC_DCFS_FAULT_WRITE, 0, &res), 0);
			CHECK(res.writable);
			CHECK(!res.zero);
			memcpy((uint8_t *)res.addr + slot * sizeof(st), &st, sizeof(st));
			atomic_fetch_add(&rf_fault_writes, 1);
		}
		memcpy(rf[f].model + off, &st, sizeof(st));
		rf_check_page(f, p, buf);
		rf_check_rmap(f, p);
		pthread_mutex_unlock(&rf[f].lock[p]);
		atomic_fetch_add(&rf_writes, 1);
		if ((r >> 50) % 8 == 0)
			sched_yield();
	}
	free(buf);
	atomic_fetch_sub(&rf_writers_left, 1);
	return NULL;
}

/* Take the page mutexes of file 0's [a0, a0 + n0) and file 1's [a1, a1 + n1), in one order. */
static void rf_lock(uint64_t a0, uint64_t n0, uint64_t a1, uint64_t n1, bool lock)
{
	for (uint64_t p = a0; p < a0 + n0; p++)
		lock ? pthread_mutex_lock(&rf[0].lock[p]) : pthread_mutex_unlock(&rf[0].lock[p]);
	for (uint64_t p = a1; p < a1 + n1; p++)
		lock ? pthread_mutex_lock(&rf[1].lock[p]) : pthread_mutex_unlock(&rf[1].lock[p]);
}

static void *rf_changer(void *arg)
{
	uint64_t rng = t_seed(9000);
	unsigned long min = (unsigned long)(uintptr_t)arg;
	uint8_t *buf = malloc(PG);

	CHECK(buf);
	for (unsigned long i = 0; i < min || atomic_load(&rf_writers_left) > 0; i++) {
		uint64_t r = t_rand(&rng), n = 1 + (r >> 8) % 6;
		uint64_t sa = (r >> 16) % (RF_NP - n + 1), da = (r >> 24) % (RF_NP - n + 1);
		int src = (int)((r >> 32) & 1), dst = 1 - src;
		struct dc_wait_opts o = bound_ms(10000);

		if ((r >> 36) % 4 != 0) {
			/* Reflink src [sa, sa + n) onto dst [da, da + n). */
			uint64_t a0 = src == 0 ? sa : da, a1 = src == 0 ? da : sa;

			rf_lock(a0, n, a1, n, true);
			CHECK_EQ(dc_dcfs_reflink(FS, rf[src].fd, sa * PG, rf[dst].fd, da * PG, n * PG,
						 &o), 0);
			memcpy(rf[dst].model + da * PG, rf[src].model + sa * PG, n * PG);
			for (uint64_t p = 0; p < n; p++) {
				rf_check_page(dst, da + p, buf);
				rf_check_rmap(dst, da + p);
				rf_check_rmap(src, sa + p);
			}
			rf_lock(a0, n, a1, n, false);
			atomic_fetch_add(&rf_reflinks, 1);
		} else {
			/* Truncate file dst to k pages, then regrow: a hole, or a reflink of src's tail. */
			uint64_t k = RF_NP / 2 + (r >> 40) % (RF_NP / 2), m = RF_NP - k;
			bool relink = (r >> 48) & 1;

			if (dst == 0)
				rf_lock(k, m, relink ? k : 0, relink ? m : 0, true);
			else
				rf_lock(relink ? k : 0, relink ? m : 0, k, m, true);
			CHECK_EQ(dc_dcfs_truncate(FS, rf[dst].fd, k * PG, &o), 0);
			memset(rf[dst].model + k * PG, 0, m * PG);
			if (relink) {
				CHECK_EQ(dc_dcfs_reflink(FS, rf[src].fd, k * PG, rf[dst].fd, k * PG,
							 m * PG, &o), 0);
				memcpy(rf[dst].model + k * PG, rf[src].model + k * PG, m * PG);
			} else {
				CHECK_EQ(dc_dcfs_truncate(FS, rf[dst].fd, RF_NP * PG, &o), 0);
			}
			for (uint64_t p = k; p < RF_NP; p++) {
				rf_check_page(dst, p, buf);
				rf_check_rmap(dst, p);
			}
			if (dst == 0)
				rf_lock(k, m, relink ? k : 0, relink ? m : 0, false);
			else
				rf_lock(relink ? k : 0, relink ? m : 0, k, m, false);
			atomic_fetch_add(&rf_truncs, 1);
		}
		if ((r >> 56) % 4 == 0)
			sched_yield();
	}
	free(buf);
	return NULL;
}

TEST(reflink_writers_vs_reflink_truncate)
{
	pthread_t w[2], c;
	uint8_t *buf = malloc(RF_NP * PG);
	uint64_t cow0;

	t_watchdog(t_case_limit() < 120 ? t_case_limit() : 120); /* seconds, not minutes */
	CHECK(buf);
	fx("mem:16M", NULL);
	atomic_store(&rf_lost, 0);
	atomic_store(&rf_freed, 0);
	atomic_store(&rf_writes, 0);
	atomic_store(&rf_fault_writes, 0);
	atomic_store(&rf_reflinks, 0);
	atomic_store(&rf_truncs, 0);
	atomic_store(&rf_writers_left, 2);
	for (int f = 0; f < 2; f++) {
		snprintf(rf[f].name, sizeof(rf[f].name), "%c", 'A' + f);
		rf[f].fd = dc_dcfs_create(FS, rf[f].name);
		CHECK(rf[f].fd >= 0);
		rf[f].ino = 0;
		{
			struct dc_dcfs_stat st;

			CHECK_EQ(dc_dcfs_fstat(FS, rf[f].fd, &st), 0);
			rf[f].ino = st.ino;
		}
		rf[f].model = calloc(RF_NP, PG);
		CHECK(rf[f].model);
		for (int p = 0; p < RF_NP; p++)
			CHECK_EQ(pthread_mutex_init(&rf[f].lock[p], NULL), 0);
	}
	/* A: a pattern; B: all of A, shared. */
	for (uint64_t i = 0; i < RF_NP * PG; i++)
		rf[0].model[i] = (uint8_t)(i * 7 + (i >> 12) * 13) | 1;
	CHECK_EQ(dc_dcfs_pwrite(FS, rf[0].fd, rf[0].model, RF_NP * PG, 0), (int64_t)(RF_NP * PG));
	CHECK_EQ(dc_dcfs_reflink(FS, rf[0].fd, 0, rf[1].fd, 0, RF_NP * PG, NULL), 0);
	memcpy(rf[1].model, rf[0].model, RF_NP * PG);
	check_fs();
	cow0 = sfs().cow_copies;
	for (int f = 0; f < 2; f++)
		CHECK_EQ(pthread_create(&w[f], NULL, rf_writer, (void *)(uintptr_t)f), 0);
	CHECK_EQ(pthread_create(&c, NULL, rf_changer, (void *)(uintptr_t)t_scale(3000)), 0);
	for (int f = 0; f < 2; f++)
		pthread_join(w[f], NULL);
	pthread_join(c, NULL);
	printf("writes %ld (through write faults %ld), reflinks %ld, truncates %ld, copies on write"
	       " %llu; violations: lost writes %ld, mapped blocks not in use by the file %ld\n",
	       (long)atomic_load(&rf_writes), (long)atomic_load(&rf_fault_writes),
	       (long)atomic_load(&rf_reflinks), (long)atomic_load(&rf_truncs),
	       (unsigned long long)(sfs().cow_copies - cow0), (long)atomic_load(&rf_lost),
	       (long)atomic_load(&rf_freed));
	CHECK_EQ(atomic_load(&rf_lost), 0);
	CHECK_EQ(atomic_load(&rf_freed), 0);
	CHECK(sfs().cow_copies > cow0); /* the case tested what it says */
	check_fs();
	for (int f = 0; f < 2; f++) {
		CHECK_EQ(dc_dcfs_pread(FS, rf[f].fd, buf, RF_NP * PG, 0), (int64_t)(RF_NP * PG));
		CHECK(!memcmp(buf, rf[f].model, RF_NP * PG));
		for (uint64_t p = 0; p < RF_NP; p++)
			rf_check_rmap(f, p);
	}
	CHECK_EQ(atomic_load(&rf_freed), 0);
	for (int f = 0; f < 2; f++) {
		CHECK_EQ(dc_dcfs_close(FS, rf[f].fd), 0);
		for (int p = 0; p < RF_NP; p++)
			pthread_mutex_destroy(&rf[f].lock[p]);
		free(rf[f].model);
	}
	free(buf);
	check_fs();
}

/* ---- quarantine: pins vs. truncate, and block reuse by another file ------------------ */

#define QP 64   /* pages of Q */
#define QO 128  /* pages of O */
#define NQPIN 2
#define Q_DMA 0xD9
#define Q_O 0x4F

/* ---- write pins vs. copy-on-write of their pages ---------------------------------- */

#define WC_NP 16
static int wc_a, wc_b;
static uint64_t wc_ia;
static bool wc_quar; /* a quarantine mount, and the writer punches too */
static atomic_long wc_astray, wc_pins, wc_cows, wc_shares, wc_pinners_left;

/*
 * Pinner: write pins of random pages of A; while each is held, the pinned
 * block must be A's alone, at that offset (no reflink can share it while
 * the pin holds it: the reflink waits; no CoW can take it: it is not
 * shared).  A pin through the fast path that a CoW of the page overtook
 * before the pin's sharing check holds B's block (bug 41).
 */
static void *wc_pinner(void *arg)
{
	uint64_t rng = t_seed(12000) + (uint64_t)(uintptr_t)arg;
	unsigned long n = t_scale(20000);

	for (unsigned long i = 0; i < n; i++) {
		uint64_t p = (t_rand(&rng) >> 8) % WC_NP;
		struct dc_dcfs_pinset ps = { 0 };
		struct rmap_view v;

		CHECK_EQ(dc_dcfs_pin(FS, wc_a, p * PG, PG, 0, "wc", &ps), 0);
		v = rmap_of(ps.segs[0].pgoff);
		if (wc_quar && v.blk.state == DC_DCFS_BLOCK_QUARANTINED && v.n == 0)
			; /* punched under the pin: it waits in the quarantine */
		else if (v.blk.state != DC_DCFS_BLOCK_USED || v.n != 1 ||
			 !rmap_has(&v, wc_ia, p * PG)) {
			if (atomic_fetch_add(&wc_astray, 1) < 5)
				fprintf(stderr, "[%s] write pin of A page %llu holds device page %llu: "
					"state %d, %d owner(s), first ino %llu offset %llu (A is %llu)\n",
					t_current, (unsigned long long)p,
					(unsigned long long)ps.segs[0].pgoff, (int)v.blk.state, v.n,
					(unsigned long long)(v.n > 0 ? v.o[0].ino : 0),
					(unsigned long long)(v.n > 0 ? v.o[0].offset : 0),
					(unsigned long long)wc_ia);
		}
		CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
		atomic_fetch_add(&wc_pins, 1);
	}
	atomic_fetch_sub(&wc_pinners_left, 1);
	return NULL;
}

/* The window between a write pin's fast path and its sharing check, widened (test builds). */
extern void (*dc__test_pin_hook)(struct dc_dcfs *fs) __attribute__((weak));

static void wc_widen(struct dc_dcfs *fs)
{
	(void)fs;
	sched_yield();
}

/*
 * CoW: small writes into A's pages (pwrite or a write fault), which copy a
 * shared block; on a quarantine mount also punches of single pages, which
 * take the block out without waiting for pins.
 */
static void *wc_cower(void *arg)
{
	uint64_t rng = t_seed(13000);
	uint64_t stamp = 0;

	(void)arg;
	while (atomic_load(&wc_pinners_left) > 0) {
		uint64_t r = t_rand(&rng), p = (r >> 8) % WC_NP;

		stamp++;
		if (wc_quar && (r >> 24) % 3 == 0) {
			CHECK_EQ(dc_dcfs_fallocate(FS, wc_a, DC_DCFS_FALLOC_PUNCH, p * PG, PG, NULL), 0);
		} else if ((r >> 20) & 1) {
			CHECK_EQ(dc_dcfs_pwrite(FS, wc_a, &stamp, sizeof(stamp), p * PG + 64),
				 (int64_t)sizeof(stamp));
		} else {
			struct dc_dcfs_fault_result res;

			CHECK_EQ(dc_dcfs_fault(FS, wc_a, p, DC_DCFS_FAULT_WRITE, 0, &res), 0);
		}
		atomic_fetch_add(&wc_cows, 1);
	}
	return NULL;
}

/* Sharer: reflink a page of A onto B again, then map it in A (a read fault: the shared block). */
static void *wc_sharer(void *arg)
{
	uint64_t rng = t_seed(14000);

	(void)arg;
	while (atomic_load(&wc_pinners_left) > 0) {
		uint64_t p = (t_rand(&rng) >> 8) % WC_NP;
		struct dc_wait_opts o = bound_ms(10000);
		struct dc_dcfs_fault_result res;

		CHECK_EQ(dc_dcfs_reflink(FS, wc_a, p * PG, wc_b, p * PG, PG, &o), 0);
		CHECK_EQ(dc_dcfs_fault(FS, wc_a, p, 0, 0, &res), 0);
		atomic_fetch_add(&wc_shares, 1);
	}
	return NULL;
}

/*
 * write_pins_vs_cow: two threads take write pins of single pages of A
 * while a third writes into A's pages (each write copies a shared block)
 * and a fourth reflinks pages of A onto B and maps them in A again, in a
 * loop (test builds widen the window between a pin's fast path and its
 * sharing check with a yield).  Counts write pins that held a block not
 * A's alone at the pinned offset; at the end the check passes.
 *
 * write_pins_vs_quarantine_punch: the same on a quarantine mount, the
 * writer punching pages too; a pinned block may also be quarantined (it
 * left A under the pin), never another file's.
 */
static void write_pins_vs_drops(bool quarantine)
{
	pthread_t pin[2], cow, share;
	uint64_t cow0;

	t_watchdog(t_case_limit() < 120 ? t_case_limit() : 120);
	wc_quar = quarantine;
	fx("mem:16M", quarantine ? "quarantine" : NULL);
	atomic_store(&wc_astray, 0);
	atomic_store(&wc_pins, 0);
	atomic_store(&wc_cows, 0);
	atomic_store(&wc_shares, 0);
	atomic_store(&wc_pinners_left, 2);
	wc_a = xcreate("a");
	wc_b = xcreate("b");
	{
		struct dc_dcfs_stat st;

		CHECK_EQ(dc_dcfs_fstat(FS, wc_a, &st), 0);
		wc_ia = st.ino;
	}
	xwrite_byte(wc_a, 'A', WC_NP * PG, 0);
	cow0 = sfs().cow_copies;
	if (&dc__test_pin_hook)
		dc__test_pin_hook = wc_widen;
	CHECK_EQ(pthread_create(&share, NULL, wc_sharer, NULL), 0);
	CHECK_EQ(pthread_create(&cow, NULL, wc_cower, NULL), 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&pin[i], NULL, wc_pinner, (void *)(uintptr_t)i), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(pin[i], NULL);
	pthread_join(cow, NULL);
	pthread_join(share, NULL);
	if (&dc__test_pin_hook)
		dc__test_pin_hook = NULL;
	printf("write pins %ld, writes %ld, reflinks %ld, copies on write %llu; violations: "
	       "write pins on a block not the file's %ld\n", (long)atomic_load(&wc_pins),
	       (long)atomic_load(&wc_cows), (long)atomic_load(&wc_shares),
	       (unsigned long long)(sfs().cow_copies - cow0), (long)atomic_load(&wc_astray));
	CHECK_EQ(atomic_load(&wc_astray), 0);
	CHECK(sfs().cow_copies > cow0); /* the case tested what it says */
	CHECK_EQ(sfs().pins, 0);
	check_fs();
	xclose(wc_a);
	xclose(wc_b);
	check_fs();
}

TEST(write_pins_vs_cow)
{
	write_pins_vs_drops(false);
}

TEST(write_pins_vs_quarantine_punch)
{
	write_pins_vs_drops(true);
}

static uint64_t q_ino;
static atomic_long q_bad_owner, q_freed, q_o_dma, q_quar_seen, q_pins, q_truncs, q_rounds,
	q_waited;
static atomic_int q_trunc_done;

/* A pinned device page: still Q's at @off, or quarantined; nothing else. */
static void q_check(uint64_t pg, uint64_t off)
{
	struct rmap_view v = rmap_of(pg);

	if (v.blk.state == DC_DCFS_BLOCK_USED && v.n == 1 && v.o[0].ino == q_ino &&
	    v.o[0].offset == off)
		return;
	if (v.blk.state == DC_DCFS_BLOCK_QUARANTINED && v.n == 0) {
		atomic_fetch_add(&q_quar_seen, 1);
		return;
	}
	if (v.blk.state == DC_DCFS_BLOCK_FREE)
		atomic_fetch_add(&q_freed, 1);
	else
		atomic_fetch_add(&q_bad_owner, 1);
	if (atomic_load(&q_freed) + atomic_load(&q_bad_owner) < 5)
		fprintf(stderr, "[%s] pinned device page %llu (Q byte %llu): state %d, %d owners, "
			"first ino %llu offset %llu\n", t_current, (unsigned long long)pg,
			(unsigned long long)off, (int)v.blk.state, v.n,
			(unsigned long long)(v.n ? v.o[0].ino : 0),
			(unsigned long long)(v.n ? v.o[0].offset : 0));
}

static void *q_pinner(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg, rng = t_seed(10000) + id;
	int fd = dc_dcfs_open(FS, "Q", DC_DCFS_RDWR);

	CHECK(fd >= 0);
	while (!atomic_load(&q_trunc_done)) {
		uint64_t r = t_rand(&rng);
		/* This thread's pages only: p, p + NQPIN, ... */
		uint64_t p = ((r >> 8) % (QP / NQPIN - 2)) * NQPIN + id, n = 1 + (r >> 16) % 2;
		struct dc_dcfs_pinset ps[2];
		uint64_t pg[2];
		int ret = 0;
		unsigned k;

		memset(ps, 0, sizeof(ps));
		for (k = 0; k < n; k++) {
			ret = dc_dcfs_pin(FS, fd, (p + k * NQPIN) * PG, PG, 0, "q-dma", &ps[k]);
			if (ret)
				break;
			pg[k] = ps[k].segs[0].pgoff;
			CHECK(pg[k] != UINT64_MAX);
		}
		if (ret && ret != -EFAULT) /* -EFAULT: Q is short right now */
			CHECK_EQ(ret, 0);
		atomic_fetch_add(&q_pins, k);
		for (int round = 0; round < 8; round++) {
			for (unsigned j = 0; j < k; j++) {
				memset(ps[j].segs[0].addr, Q_DMA, PG);
				q_check(pg[j], (p + j * NQPIN) * PG);
			}
			if (round & 1)
				usleep(20);
			else
				sched_yield();
		}
		for (unsigned j = 0; j < k; j++)
			CHECK_EQ(dc_dcfs_unpin(FS, &ps[j]), 0);
	}
	CHECK_EQ(dc_dcfs_close(FS, fd), 0);
	return NULL;
}

static void *q_truncater(void *arg)
{
	uint64_t rng = t_seed(11000);
	unsigned long n = (unsigned long)(uintptr_t)arg;
	int fd = dc_dcfs_open(FS, "Q", DC_DCFS_RDWR);

	CHECK(fd >= 0);
	/* Enough rounds of its own, and of O (blocks to reuse), as they come. */
	for (unsigned long i = 0; i < n || atomic_load(&q_rounds) < (long)t_scale(160); i++) {
		uint64_t r = t_rand(&rng), k = (r >> 8) % QP;
		struct dc_wait_opts o = bound_ms(10000);
		int ret;

		/* A quarantine mount does not wait for pins: a wait would run into the bound. */
		if ((r >> 20) & 1) {
			ret = dc_dcfs_truncate(FS, fd, k * PG, &o);
		} else {
			uint64_t len = (1 + (r >> 24) % 8) * PG;

			ret = dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, k * PG, len, &o);
		}
		if (ret == -ETIMEDOUT)
			atomic_fetch_add(&q_waited, 1);
		else
			CHECK_EQ(ret, 0);
		o = bound_ms(10000);
		ret = dc_dcfs_truncate(FS, fd, QP * PG, &o);
		if (ret == -ETIMEDOUT)
			atomic_fetch_add(&q_waited, 1);
		else
			CHECK_EQ(ret, 0);
		atomic_fetch_add(&q_truncs, 1);
		usleep(50 + (unsigned)((r >> 48) % 200));
	}
	atomic_store(&q_trunc_done, 1);
	CHECK_EQ(dc_dcfs_close(FS, fd), 0);
	return NULL;
}

static void *q_other(void *arg)
{
	uint8_t *w = malloc(QO * PG), *b = malloc(QO * PG);

	(void)arg;
	CHECK(w && b);
	memset(w, Q_O, QO * PG);
	while (!atomic_load(&q_trunc_done)) {
		int fd = dc_dcfs_create(FS, "O");
		int64_t got;

		CHECK(fd >= 0);
		got = dc_dcfs_pwrite(FS, fd, w, QO * PG, 0);
		CHECK(got > 0 || got == -ENOSPC); /* quarantined blocks are not free */
		if (got > 0) {
			CHECK_EQ(dc_dcfs_pread(FS, fd, b, (size_t)got, 0), got);
			for (int64_t i = 0; i < got; i++)
				if (b[i] != Q_O) {
					atomic_fetch_add(&q_o_dma, 1);
					break;
				}
		}
		CHECK_EQ(dc_dcfs_close(FS, fd), 0);
		CHECK_EQ(dc_dcfs_unlink(FS, "O"), 0);
		atomic_fetch_add(&q_rounds, 1);
		sched_yield();
	}
	free(w);
	free(b);
	return NULL;
}

TEST(quarantine_pins_vs_truncate)
{
	pthread_t pin[NQPIN], tt, to;
	struct dc_dcfs_stat st;
	int fd;

	t_watchdog(t_case_limit() < 120 ? t_case_limit() : 120); /* seconds, not minutes */
	fx("mem:2M", "quarantine");
	atomic_store(&q_bad_owner, 0);
	atomic_store(&q_freed, 0);
	atomic_store(&q_o_dma, 0);
	atomic_store(&q_quar_seen, 0);
	atomic_store(&q_pins, 0);
	atomic_store(&q_truncs, 0);
	atomic_store(&q_rounds, 0);
	atomic_store(&q_waited, 0);
	atomic_store(&q_trunc_done, 0);
	fd = dc_dcfs_create(FS, "Q");
	CHECK(fd >= 0);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, QP * PG, NULL), 0);
	CHECK_EQ(dc_dcfs_fstat(FS, fd, &st), 0);
	q_ino = st.ino;
	for (int i = 0; i < NQPIN; i++)
		CHECK_EQ(pthread_create(&pin[i], NULL, q_pinner, (void *)(uintptr_t)i), 0);
	CHECK_EQ(pthread_create(&to, NULL, q_other, NULL), 0);
	CHECK_EQ(pthread_create(&tt, NULL, q_truncater, (void *)(uintptr_t)t_scale(3000)), 0);
	pthread_join(tt, NULL);
	pthread_join(to, NULL);
	for (int i = 0; i < NQPIN; i++)
		pthread_join(pin[i], NULL);
	printf("truncates/punches %ld, pins %ld, pinned blocks seen quarantined %ld, O rounds %ld;"
	       " violations: waited %ld, pinned block freed %ld, given to another file or offset %ld,"
	       " pattern in O %ld\n", (long)atomic_load(&q_truncs), (long)atomic_load(&q_pins),
	       (long)atomic_load(&q_quar_seen), (long)atomic_load(&q_rounds),
	       (long)atomic_load(&q_waited), (long)atomic_load(&q_freed),
	       (long)atomic_load(&q_bad_owner), (long)atomic_load(&q_o_dma));
	CHECK_EQ(atomic_load(&q_waited), 0);
	CHECK_EQ(atomic_load(&q_freed), 0);
	CHECK_EQ(atomic_load(&q_bad_owner), 0);
	CHECK_EQ(atomic_load(&q_o_dma), 0);
	CHECK(atomic_load(&q_pins) > 0);
	CHECK(atomic_load(&q_quar_seen) > 0); /* the case tested what it says */
	CHECK_EQ(sfs().blocks_quarantined, 0);
	check_fs();
	CHECK_EQ(dc_dcfs_close(FS, fd), 0);
}

/*
 * Regressions from the review of part 2, sequenced by threads (no timing:
 * deadlines only bound a wait that the bug would make endless).
 *
 * reflink_wait_drops_both_locks: a DMA holds a pin of B and, to finish,
 * must fault A; a reflink A -> B waits for that pin.  Its wait must drop
 * A's invalidate lock too, or the fault (and so the unpin) never comes.
 *
 * self_reflink_rebreaks_destination: a reflink within one file waits for
 * a pin on its source range; meanwhile a write fault and a write pin land
 * in its destination range.  After the wait the destination is broken
 * again (it waits for the write pin), so the check passes afterwards: no
 * entry or pin is left on a block the file no longer has.
 *
 * create_vs_removal: creates race a device removal; a create that started
 * before the shutdown must not touch the region after removal returned
 * (an anchor mapping holds it until the mount lets go).
 */
struct xwait {
	int a, b;
	struct dc_dcfs_pinset ps;
	atomic_int phase;
	int fault_ret, unpin_ret;
};

static void *dma_that_faults_a(void *arg)
{
	struct xwait *x = arg;
	struct dc_dcfs_fault_result res;

	while (break_waits_now() == 0) /* the reflink waits for our pin */
		sched_yield();
	x->fault_ret = dc_dcfs_fault(FS, x->a, 0, 0, 0, &res);
	x->unpin_ret = dc_dcfs_unpin(FS, &x->ps);
	return NULL;
}

TEST(reflink_wait_drops_both_locks)
{
	struct xwait x = { 0 };
	struct dc_wait_opts w = { 0 };
	pthread_t t;

	fx("mem:16M", NULL);
	x.a = dc_dcfs_create(FS, "a");
	x.b = dc_dcfs_create(FS, "b");
	CHECK(x.a >= 0 && x.b >= 0);
	CHECK_EQ(dc_dcfs_truncate(FS, x.a, 4 * PG, NULL), 0);
	CHECK_EQ(dc_dcfs_truncate(FS, x.b, 4 * PG, NULL), 0);
	CHECK_EQ(dc_dcfs_pin(FS, x.b, 0, PG, 0, "dma", &x.ps), 0);
	CHECK_EQ(pthread_create(&t, NULL, dma_that_faults_a, &x), 0);
	w.deadline_ns = dc_now_ns() + 30000000000ull; /* the bug: -ETIMEDOUT */
	CHECK_EQ(dc_dcfs_reflink(FS, x.a, 0, x.b, 0, 4 * PG, &w), 0);
	pthread_join(t, NULL);
	CHECK_EQ(x.fault_ret, 0);
	CHECK_EQ(x.unpin_ret, 0);
	check_fs();
	CHECK_EQ(dc_dcfs_close(FS, x.a), 0);
	CHECK_EQ(dc_dcfs_close(FS, x.b), 0);
}

static void *sneak_into_destination(void *arg)
{
	struct xwait *x = arg;
	struct dc_dcfs_fault_result res;
	struct dc_dcfs_pinset wp;

	while (break_waits_now() == 0) /* the reflink sleeps in the source's break */
		sched_yield();
	x->fault_ret = dc_dcfs_fault(FS, x->a, 4, DC_DCFS_FAULT_WRITE, 0, &res);
	if (!x->fault_ret)
		*(volatile uint8_t *)res.addr = 'S';
	if (dc_dcfs_pin(FS, x->a, 4 * PG, PG, 0, "sneak", &wp) == 0) {
		memset(wp.segs[0].addr, 'W', wp.segs[0].len);
		atomic_store(&x->phase, 1);
		/* The source's pin goes; the reflink re-breaks page 4: our pin. */
		CHECK_EQ(dc_dcfs_unpin(FS, &x->ps), 0);
		while (break_waits_now() < 2)
			sched_yield();
		x->unpin_ret = dc_dcfs_unpin(FS, &wp);
	} else {
		x->unpin_ret = dc_dcfs_unpin(FS, &x->ps);
	}
	return NULL;
}

TEST(self_reflink_rebreaks_destination)
{
	struct xwait x = { 0 };
	struct dc_wait_opts w = { 0 };
	uint8_t buf[PG];
	pthread_t t;

	fx("mem:16M", NULL);
	x.a = dc_dcfs_create(FS, "a");
	CHECK(x.a >= 0);
	memset(buf, 'A', PG);
	CHECK_EQ(dc_dcfs_pwrite(FS, x.a, buf, PG, 0), (int64_t)PG);
	CHECK_EQ(dc_dcfs_truncate(FS, x.a, 8 * PG, NULL), 0);
	CHECK_EQ(dc_dcfs_pin(FS, x.a, 0, PG, DC_DCFS_PIN_READONLY, "src", &x.ps), 0);
	CHECK_EQ(pthread_create(&t, NULL, sneak_into_destination, &x), 0);
	w.deadline_ns = dc_now_ns() + 30000000000ull;
	CHECK_EQ(dc_dcfs_reflink(FS, x.a, 0, x.a, 4 * PG, PG, &w), 0);
	pthread_join(t, NULL);
	CHECK_EQ(x.fault_ret, 0);
	CHECK_EQ(x.unpin_ret, 0);
	CHECK_EQ(atomic_load(&x.phase), 1); /* the sneaking pin was taken, and waited for */
	CHECK_EQ(dc_dcfs_pread(FS, x.a, buf, PG, 4 * PG), (int64_t)PG);
	for (unsigned i = 0; i < PG; i++)
		CHECK_EQ(buf[i], 'A'); /* the clone, not what sneaked in before it */
	check_fs();
	CHECK_EQ(dc_dcfs_close(FS, x.a), 0);
}

static void *creator(void *arg)
{
	long me = (long)(uintptr_t)arg;

	for (int i = 0; i < 2000 && !atomic_load(&stop); i++) {
		char name[32];
		int fd;

		snprintf(name, sizeof(name), "c%ld-%d", me, i);
		fd = dc_dcfs_create(FS, name);
		if (fd < 0) {
			CHECK_EQ(fd, -EIO); /* shut down */
			break;
		}
		CHECK_EQ(dc_dcfs_close(FS, fd), 0);
	}
	return NULL;
}

TEST(create_vs_removal)
{
	for (unsigned long round = 0; round < t_scale(20); round++) {
		pthread_t t[3];

		atomic_store(&stop, 0);
		fx("mem:16M", NULL);
		for (long i = 0; i < 3; i++)
			CHECK_EQ(pthread_create(&t[i], NULL, creator, (void *)(uintptr_t)i), 0);
		sched_yield();
		CHECK_EQ(dc_region_remove(R, NULL), 0); /* no pins: completes */
		R = NULL;
		atomic_store(&stop, 1);
		for (int i = 0; i < 3; i++)
			pthread_join(t[i], NULL);
		CHECK(sfs().shutdown);
		CHECK_EQ(dc_dcfs_check(FS), 0);
		CHECK_EQ(dc_dcfs_unmount(FS, NULL), 0); /* evicts the files, without the region */
		FS = NULL;
	}
}

/*
 * unmount_vs_removal: an unmount races a device removal at varying offsets
 * (the review's second round: a teardown running in the remover's thread
 * while the unmount freed the mount under it).  Both must succeed, in
 * either order; ASan and TSan watch what the losing side touches.
 */
static struct dc_dcfs *ur_fs;
static struct dc_region *ur_r;
static atomic_int ur_go;
static int ur_unmount_ret, ur_remove_ret;
static uint64_t ur_t0;

static void *ur_unmounter(void *arg)
{
	(void)arg;
	while (!atomic_load(&ur_go))
		sched_yield();
	ur_unmount_ret = dc_dcfs_unmount(ur_fs, NULL);
	return NULL;
}

static void *ur_remover(void *arg)
{
	uint64_t delay = (uint64_t)(uintptr_t)arg;

	while (!atomic_load(&ur_go))
		sched_yield();
	while (dc_now_ns() < ur_t0 + delay)
		;
	ur_remove_ret = dc_region_remove(ur_r, NULL);
	return NULL;
}

TEST(unmount_vs_removal)
{
	uint8_t buf[PG];

	memset(buf, 7, PG);
	for (unsigned long it = 0; it < t_scale(300); it++) {
		pthread_t u, p;

		CHECK_EQ(dc_region_create("mem:8M", &ur_r), 0);
		CHECK_EQ(dc_dcfs_mount(ur_r, NULL, NULL, NULL, &ur_fs), 0);
		for (int i = 0; i < 16; i++) {
			char name[16];
			int fd;

			snprintf(name, sizeof(name), "f%d", i);
			fd = dc_dcfs_create(ur_fs, name);
			CHECK(fd >= 0);
			CHECK_EQ(dc_dcfs_pwrite(ur_fs, fd, buf, PG, 0), (int64_t)PG);
			CHECK_EQ(dc_dcfs_close(ur_fs, fd), 0);
		}
		atomic_store(&ur_go, 0);
		CHECK_EQ(pthread_create(&u, NULL, ur_unmounter, NULL), 0);
		CHECK_EQ(pthread_create(&p, NULL, ur_remover,
					(void *)(uintptr_t)((it * 997) % 200000)), 0);
		ur_t0 = dc_now_ns();
		atomic_store(&ur_go, 1);
		pthread_join(u, NULL);
		pthread_join(p, NULL);
		CHECK_EQ(ur_unmount_ret, 0);
		CHECK_EQ(ur_remove_ret, 0);
	}
}

/*
 * pins_vs_shrink_and_grow: a pinner pins ranges that end near the end of
 * file while another thread shrinks it into them and grows it back.  A
 * pin holds only bytes inside the file: while it is held the size never
 * drops below its end (a truncate waits for it, or the pin saw the new
 * size and failed -EFAULT).  The violation: a held pin past the end of
 * file (a pin that checked the size only before it pinned).
 */
static atomic_long sg_past_eof, sg_pins, sg_efault;

static void *sg_pinner(void *arg)
{
	int fd = *(int *)arg;
	uint64_t rng = t_seed(4242);

	while (!atomic_load(&stop)) {
		struct dc_dcfs_pinset ps;
		struct dc_dcfs_stat st;
		uint64_t off = (6 + t_rand(&rng) % 2) * PG;
		int ret = dc_dcfs_pin(FS, fd, off, 2 * PG, 0, "sg", &ps);

		if (ret == -EFAULT) {
			atomic_fetch_add(&sg_efault, 1);
			continue;
		}
		CHECK_EQ(ret, 0);
		atomic_fetch_add(&sg_pins, 1);
		CHECK_EQ(dc_dcfs_fstat(FS, fd, &st), 0);
		if (st.size < off + 2 * PG)
			atomic_fetch_add(&sg_past_eof, 1);
		memset(ps.segs[0].addr, 0x5a, ps.segs[0].len);
		CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
	}
	return NULL;
}

TEST(pins_vs_shrink_and_grow)
{
	pthread_t t;
	int fd;

	fx("mem:16M", NULL);
	fd = dc_dcfs_create(FS, "sg");
	CHECK(fd >= 0);
	CHECK_EQ(dc_dcfs_truncate(FS, fd, 10 * PG, NULL), 0);
	atomic_store(&sg_past_eof, 0);
	atomic_store(&sg_pins, 0);
	atomic_store(&sg_efault, 0);
	CHECK_EQ(pthread_create(&t, NULL, sg_pinner, &fd), 0);
	/* Until both sides did their share (a starved pinner makes no case). */
	for (unsigned long i = 0; i < 50 * t_scale(4000) &&
				  (i < t_scale(4000) || atomic_load(&sg_pins) < 100); i++) {
		CHECK_EQ(dc_dcfs_truncate(FS, fd, 7 * PG + 100, NULL), 0);
		CHECK_EQ(dc_dcfs_truncate(FS, fd, 10 * PG, NULL), 0);
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	printf("pins %ld, refused past EOF %ld; violations: pins held past EOF %ld\n",
	       (long)atomic_load(&sg_pins), (long)atomic_load(&sg_efault),
	       (long)atomic_load(&sg_past_eof));
	CHECK_EQ(atomic_load(&sg_past_eof), 0);
	CHECK(atomic_load(&sg_pins) > 0);
	check_fs();
	CHECK_EQ(dc_dcfs_close(FS, fd), 0);
}

T_MAIN(setup, teardown)
