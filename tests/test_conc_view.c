/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_conc_view - views under concurrency (also run under ThreadSanitizer).
 *
 * faults_vs_truncate_punch_collapse (issue 9, section 3, test 9): file F
 * has a writable view a little longer than F; NT faulter threads load and
 * store through it (plain accesses: every fault goes through the SIGSEGV
 * handler), on pages all of them share, on pages of their own and on pages
 * past the end of file, while a layout thread truncates, punches and
 * collapses F in a loop and writes it back to its full size each time, and
 * a writer thread fills file G, reads it back and truncates it, over and
 * over, on a region small enough that G gets the blocks F lets go of (seen
 * and counted: a G page whose device page F had before).  Every page of
 * either file holds its file's bytes only: a stamp (magic, file id, page,
 * generation) and a fill byte of its file's own (F 0x11, G 0x22); stores
 * through the view write F's stamp or fill.  Violations, counted:
 *   - other: a load through F's view saw a byte of G's (a block that left
 *     F and went to G was still mapped in F's view);
 *   - g_corrupt: G read back something else than it wrote (a store through
 *     F's view landed in a block that now is G's);
 *   - garbage: a load saw a byte neither file writes;
 *   - lost: an access below the end of file got SIGBUS although the file
 *     had its full size for the whole access (the layout thread's epoch is
 *     odd while the file may be shorter than its full size: truncate and
 *     collapse run inside an odd epoch, punch does not change the size);
 *   - beyond: an access past the largest size the file ever has succeeded;
 *   - bus_addr: a SIGBUS whose si_addr is not the address accessed;
 *   - foreign: a SIGSEGV of a page of the test's own (another thread keeps
 *     touching a PROT_NONE page of its own) did not reach the handler
 *     installed before the library's, exactly once per touch.
 *
 * foreign_sigsegv_reaches_previous_handler: a SIGSEGV at an address that
 * is not a view reaches the handler installed before the library's; in a
 * child whose disposition before the library's was the default, the
 * child dies by SIGSEGV.
 *
 * concurrent_first_touch, budget_vs_faulters, calls_vs_unmap, faults_vs_removal: below,
 * at each case.
 *
 * forked_child_cannot_touch_views: a forked child touching the parent's
 * view (a page mapped in the parent, and one never faulted) dies by
 * SIGSEGV; the parent's views still work after the fork.
 *
 * Counts of violations are asserted to be 0; a watchdog bounds each case;
 * iterations scale down under sanitizers.
 */
#include "dcfs_fixture.h"

#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define RW (DC_VIEW_READ | DC_VIEW_WRITE)
#define WORDS (4096 / 8)

/* ---- the handlers: the test's SIGSEGV (installed first), SIGBUS under sigsetjmp ---- */

#define NFOREIGN 8
static uint8_t *foreign;                  /* NFOREIGN PROT_NONE pages of the test's own */
static atomic_long foreign_calls[NFOREIGN]; /* my_segv calls for each */

static void my_segv(int sig, siginfo_t *si, void *uc)
{
	uint8_t *a = si->si_addr;

	(void)sig;
	(void)uc;
	if (foreign && a >= foreign && a < foreign + NFOREIGN * PG) {
		uint64_t i = (uint64_t)(a - foreign) / PG;

		atomic_fetch_add(&foreign_calls[i], 1);
		mprotect(foreign + i * PG, PG, PROT_READ | PROT_WRITE); /* the access runs again */
		return;
	}
	signal(SIGSEGV, SIG_DFL); /* not ours: the default action */
}

static __thread sigjmp_buf *volatile bus_jmp;
static __thread void *volatile bus_addr;
static __thread volatile int bus_code;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *jb = bus_jmp;

	(void)sig;
	(void)uc;
	if (!jb) {
		static const char m[] = "test_conc_view: SIGBUS outside an access that expected one\n";
		ssize_t w = write(2, m, sizeof(m) - 1);

		(void)w;
		signal(SIGBUS, SIG_DFL);
		return;
	}
	bus_jmp = NULL;
	bus_addr = si->si_addr;
	bus_code = si->si_code;
	siglongjmp(*jb, 1);
}

static bool handlers_done;

/* The test's SIGSEGV handler first, then the library's on top (it chains to mine). */
static void install_handlers(void)
{
	struct sigaction sa;

	if (handlers_done)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = my_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGBUS, &sa, NULL), 0);
	CHECK_EQ(dc_view_handler_install(), 0);
	handlers_done = true;
}

/* Two loads: 0, or -1 if one got SIGBUS. */
static int try_load2(const uint64_t *a, const uint64_t *b, uint64_t *va, uint64_t *vb)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1))
		return -1;
	bus_jmp = &jb;
	atomic_signal_fence(memory_order_seq_cst);
	*va = __atomic_load_n(a, __ATOMIC_RELAXED);
	*vb = __atomic_load_n(b, __ATOMIC_RELAXED);
	atomic_signal_fence(memory_order_seq_cst);
	bus_jmp = NULL;
	return 0;
}

/* One store (@b NULL) or two. */
static int try_store2(uint64_t *a, uint64_t va, uint64_t *b, uint64_t vb)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1))
		return -1;
	bus_jmp = &jb;
	atomic_signal_fence(memory_order_seq_cst);
	__atomic_store_n(a, va, __ATOMIC_RELAXED);
	if (b)
		__atomic_store_n(b, vb, __ATOMIC_RELAXED);
	atomic_signal_fence(memory_order_seq_cst);
	bus_jmp = NULL;
	return 0;
}

static struct dc_view_stats vst(void)
{
	struct dc_view_stats s;

	memset(&s, 0xa5, sizeof(s));
	dc_view_stats(&s);
	return s;
}

static atomic_int stop;

static void setup(void)
{
	R = NULL;
	FS = NULL;
	atomic_store(&stop, 0);
	install_handlers();
}

static void teardown(void)
{
	struct dc_view_stats s = vst();

	if (s.views || s.vmas) {
		fprintf(stderr, "case %s left %llu views mapped (%llu VMAs counted)\n", t_current,
			(unsigned long long)s.views, (unsigned long long)s.vmas);
		exit(T_FAIL);
	}
	if (FS)
		CHECK_EQ(sfs().views, 0);
	dcfs_teardown();
}

static void fx(const char *spec, const char *opts)
{
	CHECK_EQ(dc_region_create(spec, &R), 0);
	CHECK_EQ(dc_dcfs_mount(R, opts, NULL, NULL, &FS), 0);
}

static struct dc_view xmap(int fd, uint64_t off, uint64_t len, unsigned prot)
{
	struct dc_view v;

	memset(&v, 0, sizeof(v));
	CHECK_EQ(dc_dcfs_map(FS, fd, off, len, prot, &v), 0);
	CHECK(v.id != 0);
	return v;
}

/* ---- the stress: faults vs. truncate, punch, collapse, and block reuse ------------------ */

#define NT 4          /* faulter threads */
#define NPF 64        /* F's full size in pages */
#define NPV 80        /* the view: 16 pages past the end of file */
#define NPG_G 32      /* G at most */
#define MAGIC 0x56494557u
#define FID_F 0x11111111u
#define FID_G 0x22222222u
#define FILL_F 0x1111111111111111ull
#define FILL_G 0x2222222222222222ull
#define REGION_PAGES 1024 /* mem:4M */

static int fd_f, fd_g;
static struct dc_view VF;
static atomic_ulong epoch;                  /* odd while F may be shorter than NPF pages */
static atomic_uchar f_had[REGION_PAGES];    /* device pages F held at some point */
static atomic_long v_other, v_garbage, v_lost, v_beyond, v_bus_addr, v_g_corrupt, v_foreign;
static atomic_long n_loads, n_stores, n_sigbus, n_zero, n_layout, n_g_rounds, n_reuse, n_touch;

static uint64_t stamp_word(uint32_t fid)
{
	return (uint64_t)MAGIC << 32 | fid;
}

/* A page of file @fid: its stamp, then its fill. */
static void make_page(uint64_t *w, uint32_t fid, uint64_t page, uint64_t gen)
{
	w[0] = stamp_word(fid);
	w[1] = page << 32 | (gen & 0xffffffffu);
	for (int i = 2; i < WORDS; i++)
		w[i] = fid == FID_F ? FILL_F : FILL_G;
}

/*
 * Classify a word loaded through F's view (@k its index in the page):
 * 0 fine (bytes of F's, or zeros: a hole, a fresh block, a write
 * half-done), 1 a byte of G's, 2 garbage.
 */
static int classify(uint64_t w, int k)
{
	uint64_t f = k == 0 ? stamp_word(FID_F) : FILL_F;
	uint64_t g = k == 0 ? stamp_word(FID_G) : FILL_G;
	int bad = 0;

	for (int i = 0; i < 8; i++) {
		uint8_t b = (uint8_t)(w >> (8 * i));

		if (b == 0 || b == (uint8_t)(f >> (8 * i)))
			continue;
		if (b == (uint8_t)(g >> (8 * i)))
			return 1;
		bad = 2;
	}
	return bad;
}

static void *faulter(void *arg)
{
	long me = (long)(uintptr_t)arg;
	uint64_t rng = t_seed(0x5eed) + (uint64_t)me * 7919, gen = 0;
	long reported = 0;

	while (!atomic_load(&stop)) {
		uint64_t r = t_rand(&rng), p, *page, e1, e2, x = 0, y = 0, *want_addr1, *want_addr2;
		unsigned kind = r % 10;
		int k = 2 + (int)((r >> 32) % (WORDS - 2)), ret;
		bool store = (r >> 8) & 1;

		if (kind < 4)
			p = (r >> 12) % 4; /* shared by all */
		else if (kind < 7)
			p = 4 + (uint64_t)me * 15 + (r >> 12) % 15; /* this thread's */
		else if (kind < 9)
			p = (r >> 12) % NPF;
		else
			p = NPF + (r >> 12) % (NPV - NPF); /* past the end of file */
		page = (uint64_t *)((uint8_t *)VF.addr + p * PG);
		if ((r >> 40) % 16 == 0)
			sched_yield(); /* interleave finely with the layout thread (2 CPUs) */
		e1 = atomic_load(&epoch);
		if (store && ((r >> 9) & 1)) {
			want_addr1 = &page[0];
			want_addr2 = &page[1];
			ret = try_store2(&page[0], stamp_word(FID_F), &page[1],
					 p << 32 | (++gen & 0xffffffffu));
		} else if (store) {
			want_addr1 = want_addr2 = &page[k];
			ret = try_store2(&page[k], FILL_F, NULL, 0);
		} else {
			want_addr1 = &page[0];
			want_addr2 = &page[k];
			ret = try_load2(&page[0], &page[k], &x, &y);
		}
		e2 = atomic_load(&epoch);
		if (ret) {
			atomic_fetch_add(&n_sigbus, 1);
			if (bus_addr != (void *)want_addr1 && bus_addr != (void *)want_addr2)
				atomic_fetch_add(&v_bus_addr, 1);
			if (bus_code != BUS_ADRERR)
				atomic_fetch_add(&v_bus_addr, 1);
			if (p < NPF && e1 == e2 && !(e1 & 1)) {
				if (reported++ < 3)
					fprintf(stderr, "[%s] lost fault: SIGBUS at page %llu while the "
						"file had its full size (epoch %llu)\n", t_current,
						(unsigned long long)p, (unsigned long long)e1);
				atomic_fetch_add(&v_lost, 1);
			}
			continue;
		}
		if (p >= NPF) {
			if (reported++ < 3)
				fprintf(stderr, "[%s] an access at page %llu, past the end of file, "
					"succeeded\n", t_current, (unsigned long long)p);
			atomic_fetch_add(&v_beyond, 1);
		}
		if (store) {
			atomic_fetch_add(&n_stores, 1);
			continue;
		}
		atomic_fetch_add(&n_loads, 1);
		if (x == 0)
			atomic_fetch_add(&n_zero, 1);
		{
			int c0 = classify(x, 0), c1 = classify(y, k);

			if (c0 == 1 || c1 == 1) {
				if (reported++ < 3)
					fprintf(stderr, "[%s] F's view, page %llu: G's bytes "
						"(%016llx, word %d %016llx)\n", t_current,
						(unsigned long long)p, (unsigned long long)x, k,
						(unsigned long long)y);
				atomic_fetch_add(&v_other, 1);
			} else if (c0 || c1) {
				if (reported++ < 3)
					fprintf(stderr, "[%s] F's view, page %llu: garbage "
						"(%016llx, word %d %016llx)\n", t_current,
						(unsigned long long)p, (unsigned long long)x, k,
						(unsigned long long)y);
				atomic_fetch_add(&v_garbage, 1);
			}
		}
	}
	return NULL;
}

/* The device page of F's (or G's) byte @off (UINT64_MAX: a hole). */
static uint64_t file_page(int fd, uint64_t off)
{
	struct dc_dcfs_iomap m;

	CHECK_EQ(dc_dcfs_iomap(FS, fd, off, PG, 0, &m), 0);
	if (m.type == DC_DCFS_IOMAP_HOLE)
		return UINT64_MAX;
	return m.pgoff + ((off >> 12) - (m.offset >> 12));
}

/* F pages [first, NPF) written again: the file has its full size after. */
static void restamp_f(uint64_t *buf, uint64_t first, uint64_t gen)
{
	for (uint64_t p = first; p < NPF; p++)
		make_page(buf + (p - first) * WORDS, FID_F, p, gen);
	CHECK_EQ(dc_dcfs_pwrite(FS, fd_f, buf, (NPF - first) * PG, first * PG),
		 (int64_t)((NPF - first) * PG));
	for (uint64_t p = first; p < NPF; p++) {
		uint64_t d = file_page(fd_f, p * PG);

		if (d < REGION_PAGES)
			atomic_store(&f_had[d], 1);
	}
}

static void *layout(void *arg)
{
	uint64_t *buf = malloc(NPF * PG);
	unsigned long iters = *(unsigned long *)arg;
	uint64_t rng = t_seed(0x1a70);

	CHECK(buf);
	for (unsigned long it = 0; it < iters; it++) {
		uint64_t r = t_rand(&rng);

		switch (r % 3) {
		case 0: { /* truncate into the file (a partial page too), and back */
			uint64_t size = (8 + (r >> 8) % (NPF - 8)) * PG + ((r >> 20) & 1 ? 0 : (r >> 24) % PG);

			atomic_fetch_add(&epoch, 1);
			CHECK_EQ(dc_dcfs_truncate(FS, fd_f, size, NULL), 0);
			restamp_f(buf, size / PG, it);
			atomic_fetch_add(&epoch, 1);
			break;
		}
		case 1: { /* punch whole pages (the size stays), and write them again */
			uint64_t off = (r >> 8) % NPF, len = 1 + (r >> 16) % 8;

			if (off + len > NPF)
				len = NPF - off;
			CHECK_EQ(dc_dcfs_fallocate(FS, fd_f, DC_DCFS_FALLOC_PUNCH, off * PG, len * PG,
						   NULL), 0);
			for (uint64_t p = off; p < off + len; p++)
				make_page(buf + (p - off) * WORDS, FID_F, p, it);
			CHECK_EQ(dc_dcfs_pwrite(FS, fd_f, buf, len * PG, off * PG), (int64_t)(len * PG));
			break;
		}
		default: { /* collapse a range, and write the end back */
			uint64_t off = (r >> 8) % (NPF - 8), len = 1 + (r >> 16) % 4;

			atomic_fetch_add(&epoch, 1);
			CHECK_EQ(dc_dcfs_fallocate(FS, fd_f, DC_DCFS_FALLOC_COLLAPSE, off * PG, len * PG,
						   NULL), 0);
			CHECK_EQ(fsize(fd_f), (NPF - len) * PG);
			restamp_f(buf, NPF - len, it);
			atomic_fetch_add(&epoch, 1);
			break;
		}
		}
		CHECK_EQ(fsize(fd_f), NPF * PG);
		atomic_fetch_add(&n_layout, 1);
		sched_yield();
	}
	free(buf);
	return NULL;
}

/* G: write, read back (it must be exactly what was written), note reuse, truncate; again. */
static void *g_writer(void *arg)
{
	uint64_t *buf = malloc(NPG_G * PG), *got = malloc(NPG_G * PG);
	uint64_t rng = t_seed(0x6e6e), gen = 0;
	long reported = 0;

	(void)arg;
	CHECK(buf && got);
	while (!atomic_load(&stop)) {
		uint64_t n = 1 + t_rand(&rng) % NPG_G;

		gen++;
		for (uint64_t p = 0; p < n; p++)
			make_page(buf + p * WORDS, FID_G, p, gen);
		CHECK_EQ(dc_dcfs_pwrite(FS, fd_g, buf, n * PG, 0), (int64_t)(n * PG));
		for (uint64_t p = 0; p < n; p++) {
			uint64_t d = file_page(fd_g, p * PG);

			if (d < REGION_PAGES && atomic_load(&f_had[d]))
				atomic_fetch_add(&n_reuse, 1);
		}
		sched_yield(); /* give stray stores a chance */
		CHECK_EQ(dc_dcfs_pread(FS, fd_g, got, n * PG, 0), (int64_t)(n * PG));
		for (uint64_t p = 0; p < n; p++)
			if (memcmp(got + p * WORDS, buf + p * WORDS, PG)) {
				if (reported++ < 3)
					for (int i = 0; i < WORDS; i++)
						if (got[p * WORDS + i] != buf[p * WORDS + i]) {
							fprintf(stderr, "[%s] G page %llu word %d: "
								"%016llx, written %016llx\n", t_current,
								(unsigned long long)p, i,
								(unsigned long long)got[p * WORDS + i],
								(unsigned long long)buf[p * WORDS + i]);
							break;
						}
				atomic_fetch_add(&v_g_corrupt, 1);
			}
		CHECK_EQ(dc_dcfs_truncate(FS, fd_g, 0, NULL), 0);
		atomic_fetch_add(&n_g_rounds, 1);
	}
	free(buf);
	free(got);
	return NULL;
}

/* Touch a PROT_NONE page of the test's own, over and over: my_segv must see each touch. */
static void *foreign_toucher(void *arg)
{
	long i = (long)(uintptr_t)arg;
	uint8_t *pg = foreign + i * PG;
	long touches = 0;

	while (!atomic_load(&stop)) {
		long before = atomic_load(&foreign_calls[i]);

		CHECK_EQ(mprotect(pg, PG, PROT_NONE), 0);
		*(volatile uint8_t *)(pg + (touches % PG)) = (uint8_t)touches; /* faults once */
		touches++;
		if (atomic_load(&foreign_calls[i]) != before + 1)
			atomic_fetch_add(&v_foreign, 1);
		if (*(volatile uint8_t *)(pg + ((touches - 1) % PG)) != (uint8_t)(touches - 1))
			atomic_fetch_add(&v_foreign, 1);
		atomic_fetch_add(&n_touch, 1);
		sched_yield();
		if (touches % 8 == 0)
			usleep(100); /* a background load, not a CPU hog */
	}
	return NULL;
}

TEST(faults_vs_truncate_punch_collapse)
{
	pthread_t ft[NT], lt, gt, tt;
	unsigned long iters = t_scale(20000);
	struct dc_view_stats s0, s1;
	uint64_t *buf = malloc(NPF * PG);

	CHECK(buf);
	fx("mem:4M", NULL);
	CHECK_EQ(dc_region_npages(R), REGION_PAGES);
	fd_f = xcreate("F");
	fd_g = xcreate("G");
	for (int i = 0; i < REGION_PAGES; i++)
		atomic_store(&f_had[i], 0);
	restamp_f(buf, 0, 0);
	free(buf);
	foreign = mmap(NULL, NFOREIGN * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(foreign != MAP_FAILED);
	for (int i = 0; i < NFOREIGN; i++)
		atomic_store(&foreign_calls[i], 0);
	VF = xmap(fd_f, 0, NPV * PG, RW);
	atomic_store(&epoch, 0);
	s0 = vst();
	for (long i = 0; i < NT; i++)
		CHECK_EQ(pthread_create(&ft[i], NULL, faulter, (void *)(uintptr_t)i), 0);
	CHECK_EQ(pthread_create(&gt, NULL, g_writer, NULL), 0);
	CHECK_EQ(pthread_create(&tt, NULL, foreign_toucher, (void *)(uintptr_t)0), 0);
	CHECK_EQ(pthread_create(&lt, NULL, layout, &iters), 0);
	pthread_join(lt, NULL);
	/* Until G has had a block of F's (a small region: it comes soon), within a bound. */
	for (int i = 0; i < 20000 && !atomic_load(&n_reuse); i++)
		sched_yield();
	atomic_store(&stop, 1);
	for (int i = 0; i < NT; i++)
		pthread_join(ft[i], NULL);
	pthread_join(gt, NULL);
	pthread_join(tt, NULL);
	s1 = vst();
	printf("layout ops %ld; loads %ld (zero %ld), stores %ld, SIGBUS %ld; signal faults %llu, "
	       "retries %llu, ranges revoked %llu; G rounds %ld, G pages on F's old blocks %ld; "
	       "foreign touches %ld\n",
	       (long)atomic_load(&n_layout), (long)atomic_load(&n_loads), (long)atomic_load(&n_zero),
	       (long)atomic_load(&n_stores), (long)atomic_load(&n_sigbus),
	       (unsigned long long)(s1.signal_faults - s0.signal_faults),
	       (unsigned long long)(s1.retries - s0.retries),
	       (unsigned long long)(s1.revokes - s0.revokes), (long)atomic_load(&n_g_rounds),
	       (long)atomic_load(&n_reuse), (long)atomic_load(&n_touch));
	printf("violations: other file %ld, G corrupted %ld, garbage %ld, lost faults %ld, "
	       "beyond EOF %ld, SIGBUS address %ld, foreign SIGSEGV %ld\n",
	       (long)atomic_load(&v_other), (long)atomic_load(&v_g_corrupt),
	       (long)atomic_load(&v_garbage), (long)atomic_load(&v_lost),
	       (long)atomic_load(&v_beyond), (long)atomic_load(&v_bus_addr),
	       (long)atomic_load(&v_foreign));
	CHECK_EQ(atomic_load(&v_other), 0);
	CHECK_EQ(atomic_load(&v_g_corrupt), 0);
	CHECK_EQ(atomic_load(&v_garbage), 0);
	CHECK_EQ(atomic_load(&v_lost), 0);
	CHECK_EQ(atomic_load(&v_beyond), 0);
	CHECK_EQ(atomic_load(&v_bus_addr), 0);
	CHECK_EQ(atomic_load(&v_foreign), 0);
	/* It did what it is about. */
	CHECK_EQ(atomic_load(&n_layout), (long)iters);
	CHECK(atomic_load(&n_loads) > 0);
	CHECK(atomic_load(&n_stores) > 0);
	CHECK(atomic_load(&n_sigbus) > 0);
	CHECK(atomic_load(&n_g_rounds) > 0);
	CHECK(atomic_load(&n_reuse) > 0);
	CHECK(atomic_load(&n_touch) > 0);
	CHECK(s1.signal_faults > s0.signal_faults);
	CHECK(s1.revokes > s0.revokes);
	CHECK(s1.sigbus - s0.sigbus >= (uint64_t)atomic_load(&n_sigbus));
	CHECK_EQ(dc_view_unmap(&VF), 0);
	CHECK_EQ(munmap(foreign, NFOREIGN * PG), 0);
	foreign = NULL;
	check_fs();
	xclose(fd_f);
	xclose(fd_g);
	check_fs();
}

/* ---- first touches racing: no store is lost ----------------------------------------------- */

/*
 * concurrent_first_touch: FT threads start together (a barrier) on a file
 * of holes and each stores its own word into every page, in an order of
 * its own, some pages loaded first (a read fault maps the zero page, the
 * store then faults for write), some faulted explicitly for write first:
 * write faults of one hole race each other and read faults.  After each
 * round every page holds every thread's word (pread, and through the
 * view); then the file is truncated to 0 and grown again (every page a
 * hole again, the view revoked).  Violations: a lost store, a load of my
 * own word that was not 0 before my store.
 */
#define FT 4
#define FT_PAGES 64

static struct dc_view FTV;
static pthread_barrier_t ft_bar;
static unsigned long ft_rounds;
static atomic_long ft_lost, ft_stale, ft_explicit_err;

static uint64_t ft_word(unsigned long round, long t, uint64_t p)
{
	return (uint64_t)0xF1 << 56 | (uint64_t)round << 24 | (uint64_t)t << 16 | p;
}

static void *first_toucher(void *arg)
{
	long me = (long)(uintptr_t)arg;
	uint64_t rng = t_seed(0xf7) + (uint64_t)me * 104729, order[FT_PAGES];

	for (unsigned long round = 0; round < ft_rounds; round++) {
		for (uint64_t i = 0; i < FT_PAGES; i++)
			order[i] = i;
		for (uint64_t i = FT_PAGES - 1; i > 0; i--) {
			uint64_t j = t_rand(&rng) % (i + 1), t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		pthread_barrier_wait(&ft_bar); /* start together */
		for (uint64_t i = 0; i < FT_PAGES; i++) {
			uint64_t p = order[i], r = t_rand(&rng);
			uint64_t *w = (uint64_t *)((uint8_t *)FTV.addr + p * PG);

			if (r % 3 == 0) {
				if (__atomic_load_n(&w[me], __ATOMIC_RELAXED) != 0)
					atomic_fetch_add(&ft_stale, 1);
			} else if (r % 3 == 1) {
				if (dc_view_fault(&FTV, p * PG, PG, DC_VIEW_FAULT_WRITE))
					atomic_fetch_add(&ft_explicit_err, 1);
			}
			__atomic_store_n(&w[me], ft_word(round, me, p), __ATOMIC_RELAXED);
		}
		pthread_barrier_wait(&ft_bar); /* all stored */
		pthread_barrier_wait(&ft_bar); /* checked, and holes again */
	}
	return NULL;
}

TEST(concurrent_first_touch)
{
	uint64_t *got = malloc(FT_PAGES * PG);
	pthread_t t[FT];
	int fd;

	CHECK(got);
	fx("mem:16M", NULL);
	fd = xcreate("ft");
	CHECK_EQ(dc_dcfs_truncate(FS, fd, FT_PAGES * PG, NULL), 0);
	FTV = xmap(fd, 0, FT_PAGES * PG, RW);
	ft_rounds = t_scale(300);
	atomic_store(&ft_lost, 0);
	atomic_store(&ft_stale, 0);
	atomic_store(&ft_explicit_err, 0);
	CHECK_EQ(pthread_barrier_init(&ft_bar, NULL, FT + 1), 0);
	for (long i = 0; i < FT; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, first_toucher, (void *)(uintptr_t)i), 0);
	for (unsigned long round = 0; round < ft_rounds; round++) {
		long lost = 0;

		pthread_barrier_wait(&ft_bar);
		pthread_barrier_wait(&ft_bar);
		CHECK_EQ(dc_dcfs_pread(FS, fd, got, FT_PAGES * PG, 0), (int64_t)(FT_PAGES * PG));
		for (uint64_t p = 0; p < FT_PAGES; p++)
			for (long k = 0; k < FT; k++) {
				uint64_t want = ft_word(round, k, p);
				uint64_t seen = __atomic_load_n((uint64_t *)((uint8_t *)FTV.addr + p * PG) + k,
								__ATOMIC_RELAXED);

				if (got[p * WORDS + k] != want || seen != want) {
					if (atomic_load(&ft_lost) + lost < 3)
						fprintf(stderr, "[%s] round %lu page %llu thread %ld: file "
							"%016llx, view %016llx, stored %016llx\n",
							t_current, round, (unsigned long long)p, k,
							(unsigned long long)got[p * WORDS + k],
							(unsigned long long)seen, (unsigned long long)want);
					lost++;
				}
			}
		atomic_fetch_add(&ft_lost, lost);
		CHECK_EQ(xstat(fd).blocks, FT_PAGES); /* one block per page, however raced */
		CHECK_EQ(dc_dcfs_truncate(FS, fd, 0, NULL), 0);
		CHECK_EQ(dc_dcfs_truncate(FS, fd, FT_PAGES * PG, NULL), 0);
		pthread_barrier_wait(&ft_bar);
	}
	for (int i = 0; i < FT; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&ft_bar);
	printf("rounds %lu; violations: lost stores %ld, my word not 0 before my store %ld, "
	       "explicit write faults failed %ld\n", ft_rounds, (long)atomic_load(&ft_lost),
	       (long)atomic_load(&ft_stale), (long)atomic_load(&ft_explicit_err));
	CHECK_EQ(atomic_load(&ft_lost), 0);
	CHECK_EQ(atomic_load(&ft_stale), 0);
	CHECK_EQ(atomic_load(&ft_explicit_err), 0);
	CHECK_EQ(dc_view_unmap(&FTV), 0);
	xclose(fd);
	check_fs();
	free(got);
}

/* ---- the VMA budget under many faulting threads --------------------------------------------- */

/*
 * budget_vs_faulters: with a VMA budget of 16, BT threads load and store
 * at random pages of a view of a file whose blocks are all apart, so
 * nearly every access faults and nearly every fault revokes other
 * threads' windows.  Each page starts with its own stamp, and each thread
 * keeps the last value it stored in its own word of each page.
 * Violations: a load saw another page's stamp; at the end a stored value
 * is missing (pread and the view).
 */
#define BT 4
#define BN 1024

static struct dc_view BV;
static uint64_t bt_last[BT][BN];
static atomic_long bt_wrong, bt_lost, bt_ops;
static atomic_int bt_done;

static void *budget_faulter(void *arg)
{
	long me = (long)(uintptr_t)arg;
	uint64_t rng = t_seed(0xb0d9) + (uint64_t)me * 31337;
	unsigned long n = t_scale(4000);

	for (unsigned long i = 0; i < n; i++) {
		uint64_t r = t_rand(&rng), p = r % BN;
		uint64_t *w = (uint64_t *)((uint8_t *)BV.addr + p * PG);

		if ((r >> 32) & 1) {
			uint64_t s = __atomic_load_n(&w[0], __ATOMIC_RELAXED);

			if (s != ((uint64_t)MAGIC << 32 | p))
				atomic_fetch_add(&bt_wrong, 1);
		} else {
			bt_last[me][p] = (uint64_t)me << 56 | i;
			__atomic_store_n(&w[2 + me], bt_last[me][p], __ATOMIC_RELAXED);
		}
		atomic_fetch_add(&bt_ops, 1);
	}
	atomic_fetch_add(&bt_done, 1);
	return NULL;
}

TEST(budget_vs_faulters)
{
	uint64_t page[WORDS], *got = malloc(BN * PG);
	struct dc_view_stats s0, s1;
	uint64_t budget0;
	pthread_t t[BT];
	long lost = 0;
	int a, b;

	CHECK(got);
	fx("mem:16M", NULL);
	a = xcreate("a");
	b = xcreate("b");
	memset(page, 0, sizeof(page));
	for (uint64_t p = 0; p < BN; p++) { /* in turn: a's blocks lie apart */
		page[0] = (uint64_t)MAGIC << 32 | p;
		xwrite(a, page, PG, p * PG);
		xwrite(b, page, PG, p * PG);
	}
	xclose(b);
	memset(bt_last, 0, sizeof(bt_last));
	atomic_store(&bt_wrong, 0);
	atomic_store(&bt_ops, 0);
	BV = xmap(a, 0, BN * PG, RW);
	budget0 = vst().vma_budget;
	CHECK_EQ(dc_view_set_vma_budget(16), 0); /* after a map (test_view vma_budget_set_before_first_map) */
	s0 = vst();
	atomic_store(&bt_done, 0);
	for (long i = 0; i < BT; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, budget_faulter, (void *)(uintptr_t)i), 0);
	/* A liveness bound, not a timing assertion: the accesses must keep completing. */
	{
		long last = -1;
		int still = 0;

		while (atomic_load(&bt_done) < BT) {
			long now = atomic_load(&bt_ops);

			still = now == last ? still + 1 : 0;
			last = now;
			if (still >= 300) { /* 30 s without one access completing */
				s1 = vst();
				fprintf(stderr, "[%s] no access completed for 30 s (%ld done): faults %llu, "
					"budget revokes %llu; the budget revokes the window its own "
					"fault just mapped?\n", t_current, now,
					(unsigned long long)(s1.faults - s0.faults),
					(unsigned long long)(s1.budget_revokes - s0.budget_revokes));
				CHECK(!"livelock");
			}
			usleep(100000);
		}
	}
	for (int i = 0; i < BT; i++)
		pthread_join(t[i], NULL);
	s1 = vst();
	CHECK_EQ(dc_dcfs_pread(FS, a, got, BN * PG, 0), (int64_t)(BN * PG));
	for (uint64_t p = 0; p < BN; p++)
		for (int k = 0; k < BT; k++) {
			uint64_t seen = __atomic_load_n((uint64_t *)((uint8_t *)BV.addr + p * PG) + 2 + k,
							__ATOMIC_RELAXED);

			if (got[p * WORDS + 2 + k] != bt_last[k][p] || seen != bt_last[k][p])
				lost++;
		}
	atomic_store(&bt_lost, lost);
	printf("accesses %ld, faults %llu, budget revokes %llu; violations: wrong stamp %ld, "
	       "lost stores %ld\n", (long)atomic_load(&bt_ops),
	       (unsigned long long)(s1.faults - s0.faults),
	       (unsigned long long)(s1.budget_revokes - s0.budget_revokes),
	       (long)atomic_load(&bt_wrong), lost);
	CHECK_EQ(atomic_load(&bt_wrong), 0);
	CHECK_EQ(atomic_load(&bt_lost), 0);
	CHECK(s1.budget_revokes > s0.budget_revokes);
	CHECK_EQ(dc_view_unmap(&BV), 0);
	CHECK_EQ(dc_view_set_vma_budget(budget0), 0);
	xclose(a);
	check_fs();
	free(got);
}

/* ---- explicit calls on views being unmapped --------------------------------------------- */

/*
 * calls_vs_unmap: the main thread maps a view, publishes a copy of its
 * struct, unmaps the view published before, over and over (new views may
 * land at the addresses of old ones); UT threads take the latest copy and
 * call dc_view_fault(), dc_view_resolve() and dc_dcfs_pin_user() on it.
 * Each must answer as for a mapped view or as for an unmapped one, never
 * anything else, nor touch freed memory (ASan, TSan).  Violations: any
 * other result, a resolve or pin at the wrong offset.
 */
#define UT 3
#define UV_PAGES 16
#define UV_SLOTS 4096

static struct dc_view uv_slot[UV_SLOTS];
static struct dc_view *_Atomic uv_pub;
static atomic_long uv_bad, uv_ok, uv_gone;

static void *unmap_caller(void *arg)
{
	long me = (long)(uintptr_t)arg;
	uint64_t rng = t_seed(0x0a4a) + (uint64_t)me * 65537;

	while (!atomic_load(&stop)) {
		struct dc_view v = *atomic_load(&uv_pub);
		uint64_t r = t_rand(&rng), off = (r % UV_PAGES) * PG + (r >> 32) % PG;
		struct dc_dcfs_pinset ps = { 0 };
		struct dc_view_ref ref;
		int ret;

		switch ((r >> 16) % 3) {
		case 0:
			ret = dc_view_fault(&v, off & ~(PG - 1), PG, (r >> 20) & 1 ? DC_VIEW_FAULT_WRITE : 0);
			if (ret == 0)
				atomic_fetch_add(&uv_ok, 1);
			else if (ret == -EINVAL)
				atomic_fetch_add(&uv_gone, 1);
			else
				atomic_fetch_add(&uv_bad, 1);
			break;
		case 1:
			ret = dc_view_resolve((uint8_t *)v.addr + off, 1, true, &ref);
			if (ret == 0) {
				if (ref.offset != off) /* every view here maps the file from 0 */
					atomic_fetch_add(&uv_bad, 1);
				dc_view_resolve_put(&ref);
				atomic_fetch_add(&uv_ok, 1);
			} else if (ret == -EFAULT) {
				atomic_fetch_add(&uv_gone, 1);
			} else {
				atomic_fetch_add(&uv_bad, 1);
			}
			break;
		default:
			ret = dc_dcfs_pin_user(FS, (uint8_t *)v.addr + off, 1, (r >> 20) & 1 ?
					       DC_DCFS_PIN_READONLY : 0, "uv", &ps);
			if (ret == 0) {
				if (ps.offset != off || ps.length != 1)
					atomic_fetch_add(&uv_bad, 1);
				CHECK_EQ(dc_dcfs_unpin(FS, &ps), 0);
				atomic_fetch_add(&uv_ok, 1);
			} else if (ret == -EFAULT) {
				atomic_fetch_add(&uv_gone, 1);
			} else {
				atomic_fetch_add(&uv_bad, 1);
			}
			break;
		}
	}
	return NULL;
}

TEST(calls_vs_unmap)
{
	unsigned long rounds = t_scale(UV_SLOTS - 1);
	pthread_t t[UT];
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("u");
	xwrite_byte(fd, 0x75, UV_PAGES * PG, 0);
	atomic_store(&uv_bad, 0);
	atomic_store(&uv_ok, 0);
	atomic_store(&uv_gone, 0);
	uv_slot[0] = xmap(fd, 0, UV_PAGES * PG, RW);
	atomic_store(&uv_pub, &uv_slot[0]);
	for (long i = 0; i < UT; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, unmap_caller, (void *)(uintptr_t)i), 0);
	for (unsigned long i = 1; i <= rounds; i++) {
		struct dc_view old = uv_slot[i - 1];

		uv_slot[i] = xmap(fd, 0, UV_PAGES * PG, RW);
		atomic_store(&uv_pub, &uv_slot[i]);
		CHECK_EQ(dc_view_unmap(&old), 0);
		if (i % 16 == 0)
			sched_yield();
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < UT; i++)
		pthread_join(t[i], NULL);
	printf("calls on mapped views %ld, on unmapped ones %ld; violations %ld\n",
	       (long)atomic_load(&uv_ok), (long)atomic_load(&uv_gone), (long)atomic_load(&uv_bad));
	CHECK_EQ(atomic_load(&uv_bad), 0);
	CHECK(atomic_load(&uv_ok) > 0);
	{
		struct dc_view last = uv_slot[rounds];

		CHECK_EQ(dc_view_unmap(&last), 0);
	}
	CHECK_EQ(sfs().pins, 0);
	xclose(fd);
	check_fs();
}

/* ---- faults vs. device removal ------------------------------------------------------------ */

/*
 * faults_vs_removal: RT threads load and store through two views (one
 * writable, one read-only) while the main thread removes the region (no
 * pin held: removal completes).  Before, an access works or gets SIGBUS
 * (the shutdown revokes everything); once removal has returned, every
 * access gets SIGBUS.  Violations: an access that succeeded after removal
 * returned (device memory of a removed region still mapped), a SIGBUS
 * before the removal began, a load that saw another byte than the file's.
 */
#define RT 4
#define RV_PAGES 32

static struct dc_view RVW, RVR;
static atomic_int rv_started, rv_removed;
static atomic_long rv_after, rv_early, rv_wrong, rv_bus_after, rv_ok_before;

static void *removal_faulter(void *arg)
{
	long me = (long)(uintptr_t)arg;
	uint64_t rng = t_seed(0x4e40) + (uint64_t)me * 257;
	long bus_after = 0, after = 0;

	while (after < 200) { /* 200 accesses that began after removal returned */
		uint64_t r = t_rand(&rng), p = r % RV_PAGES, x = 0, y = 0;
		bool ro = (r >> 8) & 1, store = !ro && ((r >> 9) & 1);
		uint64_t *w = (uint64_t *)((uint8_t *)(ro ? RVR.addr : RVW.addr) + p * PG) + 1 + me;
		int removed = atomic_load(&rv_removed), started, ret; /* removal done before the access */

		ret = store ? try_store2(w, 0x7272727272727272ull, NULL, 0) : try_load2(w, w, &x, &y);
		started = atomic_load(&rv_started); /* removal not begun by the end of the access */
		after += removed;
		if (!ret) {
			if (removed)
				atomic_fetch_add(&rv_after, 1);
			else
				atomic_fetch_add(&rv_ok_before, 1);
			if (!store && x != 0x7272727272727272ull)
				atomic_fetch_add(&rv_wrong, 1);
		} else {
			if (!started)
				atomic_fetch_add(&rv_early, 1);
			if (removed)
				bus_after++;
		}
	}
	atomic_fetch_add(&rv_bus_after, bus_after);
	return NULL;
}

TEST(faults_vs_removal)
{
	for (unsigned long round = 0; round < t_scale(10); round++) {
		struct dc_region *r;
		pthread_t t[RT];
		int fd;

		fx("mem:16M", NULL);
		fd = xcreate("rm");
		xwrite_byte(fd, 0x72, RV_PAGES * PG, 0);
		RVW = xmap(fd, 0, RV_PAGES * PG, RW);
		RVR = xmap(fd, 0, RV_PAGES * PG, DC_VIEW_READ);
		atomic_store(&rv_started, 0);
		atomic_store(&rv_removed, 0);
		atomic_store(&rv_ok_before, 0);
		for (long i = 0; i < RT; i++)
			CHECK_EQ(pthread_create(&t[i], NULL, removal_faulter, (void *)(uintptr_t)i), 0);
		while (atomic_load(&rv_ok_before) < 1000 * (long)(round % 4 + 1))
			sched_yield();
		r = R;
		atomic_store(&rv_started, 1);
		CHECK_EQ(dc_region_remove(r, NULL), 0); /* no pin: completes */
		R = NULL;
		atomic_store(&rv_removed, 1);
		for (int i = 0; i < RT; i++)
			pthread_join(t[i], NULL);
		CHECK(sfs().shutdown);
		CHECK_EQ(dc_view_unmap(&RVW), 0);
		CHECK_EQ(dc_view_unmap(&RVR), 0);
		CHECK_EQ(dc_dcfs_close(FS, fd), 0);
		CHECK_EQ(dc_dcfs_unmount(FS, NULL), 0);
		FS = NULL;
		dc_quiesce();
	}
	printf("SIGBUS after removal %ld; violations: access after removal %ld, SIGBUS before it "
	       "began %ld, wrong bytes %ld\n", (long)atomic_load(&rv_bus_after),
	       (long)atomic_load(&rv_after), (long)atomic_load(&rv_early),
	       (long)atomic_load(&rv_wrong));
	CHECK_EQ(atomic_load(&rv_after), 0);
	CHECK_EQ(atomic_load(&rv_early), 0);
	CHECK_EQ(atomic_load(&rv_wrong), 0);
}

/* ---- foreign faults, forked children ------------------------------------------------- */

/* The status of a child, in words, for a failure message. */
static void describe(int st, char *buf, size_t n)
{
	if (WIFSIGNALED(st))
		snprintf(buf, n, "died by signal %d", WTERMSIG(st));
	else if (WIFEXITED(st))
		snprintf(buf, n, "exited with %d", WEXITSTATUS(st));
	else
		snprintf(buf, n, "status %#x", st);
}

static void expect_sigsegv_death(pid_t pid, const char *what)
{
	char why[64];
	int st = 0;

	CHECK_EQ(waitpid(pid, &st, 0), pid);
	describe(st, why, sizeof(why));
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSEGV)
		fprintf(stderr, "[%s] %s: the child %s, expected death by SIGSEGV\n", t_current, what,
			why);
	CHECK(WIFSIGNALED(st));
	CHECK_EQ(WTERMSIG(st), SIGSEGV);
}

/*
 * A SIGSEGV that is not at a view goes to the handler installed before
 * the library's (here, from several threads while others fault views);
 * with the default disposition before it, a child dies by SIGSEGV.
 */
TEST(foreign_sigsegv_reaches_previous_handler)
{
	pthread_t tt[3];
	uint8_t model[16 * 4096];
	struct dc_view v;
	pid_t pid;
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("x");
	pattern(model, sizeof(model), 3);
	xwrite(fd, model, sizeof(model), 0);
	v = xmap(fd, 0, sizeof(model), DC_VIEW_READ);
	foreign = mmap(NULL, NFOREIGN * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(foreign != MAP_FAILED);
	for (int i = 0; i < NFOREIGN; i++)
		atomic_store(&foreign_calls[i], 0);
	/* One touch, one call of mine, and the access completes. */
	*(volatile uint8_t *)(foreign + 5 * PG + 9) = 0x42;
	CHECK_EQ(atomic_load(&foreign_calls[5]), 1);
	CHECK_EQ(*(volatile uint8_t *)(foreign + 5 * PG + 9), 0x42);
	CHECK_EQ(atomic_load(&foreign_calls[5]), 1);
	/* Threads touching their own pages while the main thread faults the view. */
	atomic_store(&v_foreign, 0);
	atomic_store(&n_touch, 0);
	atomic_store(&stop, 0);
	for (long i = 0; i < 3; i++)
		CHECK_EQ(pthread_create(&tt[i], NULL, foreign_toucher, (void *)(uintptr_t)i), 0);
	for (unsigned long it = 0; it < t_scale(200); it++) {
		CHECK(!memcmp(v.addr, model, sizeof(model)));
		/* Take a page of the view away, so that the next pass faults again. */
		CHECK_EQ(dc_dcfs_fallocate(FS, fd, DC_DCFS_FALLOC_PUNCH, 15 * PG, PG, NULL), 0);
		xwrite(fd, model + 15 * PG, PG, 15 * PG);
	}
	while (atomic_load(&n_touch) < 100)
		sched_yield();
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(tt[i], NULL);
	printf("foreign touches %ld, violations %ld\n", (long)atomic_load(&n_touch),
	       (long)atomic_load(&v_foreign));
	CHECK_EQ(atomic_load(&v_foreign), 0);

	/* A child whose disposition before the library's is the default dies by SIGSEGV. */
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct sigaction dfl, cur;
		uint8_t *none;

		alarm(20);
		if (dc_view_handler_remove() != 0) /* mine comes back */
			_exit(10);
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		if (sigaction(SIGSEGV, &dfl, NULL))
			_exit(11);
		if (dc_view_handler_install() != 0)
			_exit(12);
		if (sigaction(SIGSEGV, NULL, &cur) || cur.sa_handler == SIG_DFL)
			_exit(13);
		none = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (none == MAP_FAILED)
			_exit(14);
		*(volatile uint8_t *)(none + 1) = 1; /* must die here */
		_exit(0);
	}
	expect_sigsegv_death(pid, "a foreign fault with the default disposition");
	CHECK_EQ(munmap(foreign, NFOREIGN * PG), 0);
	foreign = NULL;
	CHECK(!memcmp(v.addr, model, sizeof(model)));
	CHECK_EQ(dc_view_unmap(&v), 0);
	xclose(fd);
	check_fs();
}

/* A forked child touching the parent's view dies by SIGSEGV (it inherits no view). */
TEST(forked_child_cannot_touch_views)
{
	uint8_t model[32 * 4096];
	struct dc_view v, w;
	pid_t pid;
	int fd;

	fx("mem:16M", NULL);
	fd = xcreate("parent");
	pattern(model, sizeof(model), 4);
	xwrite(fd, model, sizeof(model), 0);
	v = xmap(fd, 0, sizeof(model), RW);
	w = xmap(fd, 0, sizeof(model), DC_VIEW_READ);
	CHECK(!memcmp(v.addr, model, sizeof(model))); /* all of v mapped */
	CHECK_EQ(dc_view_fault(&v, 0, sizeof(model), DC_VIEW_FAULT_WRITE), 0);
	for (int which = 0; which < 3; which++) {
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			volatile uint8_t x;

			alarm(20);
			if (which == 0) /* a page the parent mapped writable */
				*(volatile uint8_t *)((uint8_t *)v.addr + 3 * PG) = 0xee;
			else if (which == 1) /* a load of it */
				x = *(volatile uint8_t *)((uint8_t *)v.addr + 5 * PG);
			else /* a page of a view the parent never faulted */
				x = *(volatile uint8_t *)((uint8_t *)w.addr + 7 * PG);
			(void)x;
			_exit(0);
		}
		expect_sigsegv_death(pid, which == 0 ? "a store to the parent's mapped view page"
					: which == 1 ? "a load of the parent's mapped view page"
						     : "a load of the parent's unfaulted view page");
	}
	/* The parent's views are untouched and still work. */
	CHECK(!memcmp(v.addr, model, sizeof(model)));
	CHECK(!memcmp(w.addr, model, sizeof(model)));
	check_contents(fd, model, sizeof(model));
	*(volatile uint8_t *)((uint8_t *)v.addr + 9) = 0x99;
	model[9] = 0x99;
	check_contents(fd, model, sizeof(model));
	CHECK_EQ(dc_view_unmap(&v), 0);
	CHECK_EQ(dc_view_unmap(&w), 0);
	xclose(fd);
	check_fs();
}

T_MAIN(setup, teardown)
