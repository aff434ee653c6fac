// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * demo.c - `daxcore demo [-d SPEC] [--json]`, the main job (`make run`):
 * the story the seeds tell, on dcfs over one region (default mem:256M),
 * narrated as a timeline (demo_out.c):
 *
 *   1. a file is written; a DMA (the uring engine, tools/dma.c) pins 16 of
 *      its pages; a truncate in another thread waits for the pins (the
 *      slow-wait event names them), the DMA completes and unpins, the
 *      truncate completes and its blocks return to the allocator;
 *   2. a view of the file: stores through it reach the file; a truncate
 *      under it; loads and stores past the new end get SIGBUS;
 *   3. the same device mounted again with quarantine: a still-pinned file
 *      is unlinked at once, its pinned blocks wait in the quarantine and
 *      come back on the last unpin;
 *   4. a block reflinked into two files is poisoned: both are told;
 *   5. the device is removed while a pin is held: removal waits (the mount
 *      is shut down meanwhile) and completes after the unpin.
 *
 * Every step is checked (counts, contents, signals, dc_dcfs_check()); the
 * exit status is 0 only if every check held.  Public API only.
 * `demo --devdax` tells the device-dax story instead (demo_devdax.c).
 */
#include "demo.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEMO_SPEC "mem:256M"
#define DEVDAX_SPEC "mem:1G,order=9,type=devdax"
#define KIB 1024ull
#define MIB (1024ull * 1024)
#define SEC 1000000000ull

#define DMA_MS 250                /* the DMA's duration */
#define PIN_LEN (64 * KIB)        /* 16 pages, every pin of the story */
#define TRUNC_1 (32 * KIB)        /* the truncate the DMA makes wait */
#define TRUNC_2 (16 * KIB)        /* the truncate under the view */
#define BYTE_FILE 0x5a
#define BYTE_DMA 0xd1
#define BYTE_VIEW 0x77
#define BYTE_JOURNAL 0x4a

/* ---- the story's state ------------------------------------------------------ */

#define MAX_MF 8

struct mf_report {
	char name[DC_DCFS_NAME_MAX + 1];
	uint64_t ino, offset, length, pgoff;
};

static struct {
	struct dc_region *r;
	struct dc_dcfs *fs;
	uint64_t B;       /* block size */
	uint64_t bpages;  /* 4 KiB pages per block */
	uint64_t nblocks;
	uint64_t ino_data;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* what ->event received */
	unsigned slow_waits;
	uint64_t slow_pages, slow_npins;
	char slow_tag[DC_DCFS_TAG_MAX + 1];
	char slow_op[16];
	unsigned mf_n;
	struct mf_report mf[MAX_MF];
} S = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static struct dc_dcfs_statfs sf(void)
{
	struct dc_dcfs_statfs st;

	dc_dcfs_statfs(S.fs, &st);
	return st;
}

static const char *sz(uint64_t bytes)
{
	static char buf[8][32];
	static atomic_uint k;
	char *b = buf[atomic_fetch_add(&k, 1) % 8];

	return size_str(bytes, b, sizeof(buf[0]));
}

/* Wait until *@counter reaches @n (under S.lock), at most @ms. */
static bool wait_for(const unsigned *counter, unsigned n, unsigned ms)
{
	return wait_count(&S.lock, &S.cond, counter, n, ms);
}

static void wake(void)
{
	pthread_cond_broadcast(&S.cond);
	pthread_mutex_unlock(&S.lock);
}

/* ---- dcfs events --------------------------------------------------------------- */

static void on_slow_wait(const struct dc_dcfs_event *ev)
{
	char held[400] = "", pins[1200] = "[", q[80];
	size_t hn = 0, pn = 1;
	uint64_t pages = 0;
	struct jbuf j = { .n = 0 };
	/* The event names no file for a linked one (see the report): the
	 * story knows which ino it truncates. */
	const char *name = ev->name ? ev->name : ev->ino == S.ino_data ? "data" : "?";

	for (unsigned i = 0; i < ev->npins && i < 16; i++) {
		const struct dc_dcfs_pin_info *p = &ev->pins[i];

		pages += p->pages;
		hn += (size_t)snprintf(held + hn, hn < sizeof(held) ? sizeof(held) - hn : 0,
				       "%s%s (pin %" PRIu64 ", bytes %" PRIu64 "-%" PRIu64
				       ", pinned %" PRIu64 ".%01" PRIu64 " ms ago)", i ? ", " : "",
				       p->tag, p->id, p->offset, p->offset + p->length - 1,
				       p->age_ns / 1000000, p->age_ns / 100000 % 10);
		pn += (size_t)snprintf(pins + pn, pn < sizeof(pins) ? sizeof(pins) - pn : 0,
				       "%s{\"id\":%" PRIu64 ",\"tag\":%s,\"offset\":%" PRIu64
				       ",\"length\":%" PRIu64 ",\"pages\":%" PRIu64 "}", i ? "," : "",
				       p->id, json_quote(p->tag, q, sizeof(q)), p->offset, p->length,
				       p->pages);
	}
	if (pn + 2 > sizeof(pins))
		strcpy(pins, "[");
	strcat(pins, "]");
	jb_str(&j, "op", ev->op);
	jb_str(&j, "file", name);
	jb_u64(&j, "offset", ev->offset);
	if (ev->length == UINT64_MAX)
		jb_raw(&j, "length", "null");
	else
		jb_u64(&j, "length", ev->length);
	jb_ms(&j, "waited_ms", ev->waited_ns);
	jb_u64(&j, "pinned_pages", pages);
	jb_raw(&j, "pins", pins);
	tl_emit("slow_wait", &j, "%s of \"%s\" from %s: waiting for %" PRIu64 " pinned pages, "
		"held by %s", ev->op, name, sz(ev->offset), pages, held);

	pthread_mutex_lock(&S.lock);
	S.slow_waits++;
	S.slow_pages = pages;
	S.slow_npins = ev->npins;
	snprintf(S.slow_op, sizeof(S.slow_op), "%s", ev->op);
	snprintf(S.slow_tag, sizeof(S.slow_tag), "%s", ev->npins ? ev->pins[0].tag : "");
	wake();
}

static void on_memory_failure(const struct dc_dcfs_event *ev)
{
	struct jbuf j = { .n = 0 };
	const char *name = ev->name ? ev->name : "(unlinked)";

	jb_str(&j, "file", ev->name);
	jb_u64(&j, "ino", ev->ino);
	jb_u64(&j, "offset", ev->offset);
	jb_u64(&j, "length", ev->length);
	jb_u64(&j, "pgoff", ev->pgoff);
	tl_emit("memory_failure", &j, "memory failure reported to \"%s\": bytes %s-%s "
		"(device page %" PRIu64 ")", name, sz(ev->offset), sz(ev->offset + ev->length),
		ev->pgoff);
	pthread_mutex_lock(&S.lock);
	if (S.mf_n < MAX_MF) {
		struct mf_report *m = &S.mf[S.mf_n];

		snprintf(m->name, sizeof(m->name), "%s", ev->name ? ev->name : "");
		m->ino = ev->ino;
		m->offset = ev->offset;
		m->length = ev->length;
		m->pgoff = ev->pgoff;
	}
	S.mf_n++;
	wake();
}

static void on_event(struct dc_dcfs *fs, const struct dc_dcfs_event *ev, void *arg)
{
	(void)fs;
	(void)arg;
	if (ev->type == DC_DCFS_EV_SLOW_WAIT)
		on_slow_wait(ev);
	else if (ev->type == DC_DCFS_EV_MEMORY_FAILURE)
		on_memory_failure(ev);
}

static const struct dc_dcfs_ops demo_ops = { .event = on_event };

/* ---- file helpers -------------------------------------------------------------- */

static void write_byte(int fd, int c, uint64_t len, uint64_t off)
{
	uint8_t *buf = malloc(len);

	if (!buf)
		fatal("out of memory");
	memset(buf, c, len);
	if (MUST(dc_dcfs_pwrite(S.fs, fd, buf, len, off)) != (int64_t)len)
		fatal("dc_dcfs_pwrite wrote less than %" PRIu64 " bytes", len);
	free(buf);
}

/* Bytes [off, off + len) of the file all read @c. */
static bool reads_byte(int fd, int c, uint64_t len, uint64_t off)
{
	uint8_t *buf = malloc(len);
	bool ok;

	if (!buf)
		fatal("out of memory");
	ok = dc_dcfs_pread(S.fs, fd, buf, len, off) == (int64_t)len;
	for (uint64_t i = 0; ok && i < len; i++)
		ok = buf[i] == c;
	free(buf);
	return ok;
}

static struct dc_dcfs_stat fst(int fd)
{
	struct dc_dcfs_stat st;

	MUST(dc_dcfs_fstat(S.fs, fd, &st));
	return st;
}

static void fsck(const char *when)
{
	int ret = dc_dcfs_check(S.fs);
	struct jbuf j = { .n = 0 };

	if (check(ret == 0, "dc_dcfs_check %s: %s: %s", when, ename(ret), dc_errmsg())) {
		jb_str(&j, "when", when);
		tl_emit("fsck", &j, "dc_dcfs_check: consistent (%s)", when);
	}
}

static void mount(const char *opts)
{
	struct jbuf j = { .n = 0 };
	struct dc_dcfs_statfs st;

	MUST(dc_dcfs_mount(S.r, opts, &demo_ops, NULL, &S.fs));
	tl_attach(S.r, S.fs);
	st = sf();
	S.B = st.block_size;
	S.bpages = S.B >> DC_PAGE_SHIFT;
	S.nblocks = st.blocks;
	check(st.blocks_free == st.blocks && st.files == 0, "a new mount has every block free");
	check(st.blocks * S.B == dc_region_size(S.r), "the blocks cover the region");
	jb_str(&j, "options", opts);
	jb_u64(&j, "block_size", S.B);
	jb_u64(&j, "blocks", st.blocks);
	tl_emit("mount", &j, "mount dcfs -o %s: %" PRIu64 " blocks of %s", opts, st.blocks,
		sz(S.B));
}

static void unmount(const char *why)
{
	MUST(dc_dcfs_unmount(S.fs, NULL));
	S.fs = NULL;
	tl_attach(S.r, NULL);
	tl_emit("unmount", NULL, "unmount: %s", why);
	check(S.r == NULL || dc_region_holder(S.r) == NULL, "unmount released the region");
}

static struct dc_view_stats vstats(void)
{
	struct dc_view_stats st;

	dc_view_stats(&st);
	return st;
}

/* ---- threads: the truncate, the removal ---------------------------------------------- */

struct job {
	pthread_t t;
	int fd;
	uint64_t size;
	int ret;
	uint64_t waited_ns;
	atomic_bool done;
};

static void *truncate_thread(void *arg)
{
	struct job *jb = arg;
	struct dc_wait_opts w = { .deadline_ns = dc_now_ns() + 10 * SEC };
	uint64_t t0 = dc_now_ns();

	jb->ret = dc_dcfs_truncate(S.fs, jb->fd, jb->size, &w);
	jb->waited_ns = dc_now_ns() - t0;
	atomic_store(&jb->done, true);
	return NULL;
}

static void start(struct job *jb, void *(*fn)(void *))
{
	int ret = pthread_create(&jb->t, NULL, fn, jb);

	if (ret)
		fatal("pthread_create: %s", strerror(ret));
}

/* ---- 1. a DMA and a truncate that waits for it ------------------------------------------- */

static int act_dma_truncate(void)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_statfs st;
	struct dc_dcfs_stat fs_st;
	struct jbuf j = { .n = 0 };
	struct job tj = { .size = TRUNC_1 };
	struct dma *dma;
	uint64_t len, blocks, kept, t_dma, bytes, free0;
	enum dma_engine eng;
	char b1[32];
	int fd, ret;

	tl_section("a file, a DMA into it, and a truncate that waits for the DMA");
	mount("slow_wait_ms=0");
	tl_note("slow_wait_ms=0: a truncate that has to wait for pins reports them at once");
	len = S.B * 4 > MIB ? S.B * 4 : MIB;
	if (S.nblocks < len / S.B + 8 || S.B > 64 * MIB)
		fatal("%s is too small for the demo: %" PRIu64 " blocks of %s; it needs %" PRIu64
		      " blocks of at most 64 MiB", dc_region_spec(S.r), S.nblocks, sz(S.B),
		      len / S.B + 8);
	free0 = sf().blocks_free;

	fd = (int)MUST(dc_dcfs_create(S.fs, "data"));
	S.ino_data = fst(fd).ino;
	write_byte(fd, BYTE_FILE, len, 0);
	fs_st = fst(fd);
	blocks = len / S.B;
	jb_str(&j, "file", "data");
	jb_u64(&j, "bytes", len);
	tl_emit("write", &j, "create \"data\" and write %s of 0x%02x: %" PRIu64 " blocks",
		sz(len), BYTE_FILE, blocks);
	check(fs_st.size == len && fs_st.blocks == len >> DC_PAGE_SHIFT,
	      "\"data\" is %s in %" PRIu64 " pages", sz(len), len >> DC_PAGE_SHIFT);
	check(sf().blocks_free == free0 - blocks, "the write took %" PRIu64 " blocks", blocks);

	MUST(dc_dcfs_pin(S.fs, fd, 0, PIN_LEN, 0, "dma#1", &ps));
	j.n = 0;
	jb_str(&j, "tag", "dma#1");
	jb_u64(&j, "offset", 0);
	jb_u64(&j, "length", PIN_LEN);
	jb_u64(&j, "pin_id", ps.id);
	tl_emit("pin", &j, "pin bytes 0-%s of \"data\" for a DMA: pin set %" PRIu64 " (dma#1), %s"
		" (dc_dcfs_pin faults them in)", sz(PIN_LEN), ps.id,
		pages_str(PIN_LEN >> DC_PAGE_SHIFT, b1, sizeof(b1)));
	st = sf();
	check(st.pins == 1 && st.pinned_pages == PIN_LEN >> DC_PAGE_SHIFT,
	      "statfs counts 1 pin set of %llu pages", PIN_LEN >> DC_PAGE_SHIFT);

	MUST(dma_start(S.fs, &ps, DMA_URING, BYTE_DMA, DMA_MS, "dma#1", &dma));
	eng = dma_engine_used(dma);
	j.n = 0;
	jb_str(&j, "tag", "dma#1");
	jb_str(&j, "engine", dma_engine_name(eng));
	jb_u64(&j, "ms", DMA_MS);
	if (eng == DMA_URING)
		jb_str(&j, "source", dma_source(dma));
	tl_emit("dma_start", &j, "dma#1 starts: the %s engine writes 0x%02x into the pinned pages "
		"for %d ms (%s%s)", dma_engine_name(eng), BYTE_DMA, DMA_MS,
		eng == DMA_URING ? "io_uring O_DIRECT reads from a file in " :
		"a thread's memset: io_uring O_DIRECT cannot run here, stderr says why",
		eng == DMA_URING ? dma_source(dma) : "");

	tj.fd = fd;
	j.n = 0;
	jb_str(&j, "file", "data");
	jb_u64(&j, "size", TRUNC_1);
	tl_emit("truncate_start", &j, "another thread truncates \"data\" to %s (bytes from %s "
		"are pinned)", sz(TRUNC_1), sz(TRUNC_1));
	start(&tj, truncate_thread);

	/* The DMA holds its pins for DMA_MS: the truncate reaches them long before. */
	t_dma = dc_now_ns();
	while (!wait_for(&S.slow_waits, 1, 10) && !atomic_load(&tj.done) &&
	       dc_now_ns() - t_dma < 5 * SEC)
		;
	if (!check(S.slow_waits == 1, "the truncate reported a wait for dma#1's pins (%s)",
		   atomic_load(&tj.done) ? "it ended without one: did dma#1 end first?"
					 : "no report"))
		fatal("the truncate did not wait for the DMA: cannot go on");
	check(!strcmp(S.slow_op, "truncate") && S.slow_npins == 1 && !strcmp(S.slow_tag, "dma#1") &&
	      S.slow_pages == PIN_LEN >> DC_PAGE_SHIFT,
	      "the slow-wait report names 1 pin, dma#1's, of %llu pages (got %" PRIu64
	      " pins, \"%s\", %" PRIu64 " pages)", PIN_LEN >> DC_PAGE_SHIFT, S.slow_npins,
	      S.slow_tag, S.slow_pages);
	tl_note("the truncate sleeps (its invalidate lock dropped) until the pins are gone");

	t_dma = dc_now_ns();
	while (!dma_done(dma) && dc_now_ns() - t_dma < 10 * SEC)
		usleep(1000);
	bytes = dma_bytes(dma);
	eng = dma_engine_used(dma);
	ret = dma_wait(dma);
	check(ret == 0, "dma#1 ended without error (%s)", ename(ret));
	check(ps.id == 0, "dma#1 gave its pin set back");
	j.n = 0;
	jb_str(&j, "tag", "dma#1");
	jb_str(&j, "engine", dma_engine_name(eng));
	jb_u64(&j, "bytes", bytes);
	tl_emit("dma_done", &j, "dma#1 completes: %.1f MiB moved by %s; it unpins (dc_dcfs_unpin)",
		(double)bytes / MIB, dma_engine_name(eng));
	check(bytes >= PIN_LEN, "dma#1 moved at least its %s", sz(PIN_LEN));

	pthread_join(tj.t, NULL);
	check(tj.ret == 0, "the truncate succeeded (%s: %s)", ename(tj.ret), dc_errmsg());
	kept = (TRUNC_1 + S.B - 1) / S.B;
	st = sf();
	fs_st = fst(fd);
	j.n = 0;
	jb_str(&j, "file", "data");
	jb_u64(&j, "size", fs_st.size);
	jb_ms(&j, "waited_ms", tj.waited_ns);
	jb_u64(&j, "blocks_freed", blocks - kept);
	jb_u64(&j, "blocks_free_before", free0 - blocks);
	jb_u64(&j, "blocks_free_after", st.blocks_free);
	tl_emit("truncate_done", &j, "the truncate completes after %" PRIu64 ".%01" PRIu64
		" ms: %" PRIu64 " blocks back to the allocator (free blocks %" PRIu64 " -> %" PRIu64
		")", tj.waited_ns / 1000000, tj.waited_ns / 100000 % 10, blocks - kept,
		free0 - blocks, st.blocks_free);
	check(fs_st.size == TRUNC_1 && fs_st.blocks == kept * S.bpages,
	      "\"data\" is %s in %" PRIu64 " blocks", sz(TRUNC_1), kept);
	check(st.blocks_free == free0 - kept, "the blocks past the new end are free");
	check(st.pins == 0 && st.pinned_pages == 0, "no pin is left");
	check(st.slow_reports == 1 && st.break_waits >= 1, "one slow-wait report, %" PRIu64
	      " break-layouts waits", st.break_waits);

	j.n = 0;
	jb_str(&j, "file", "data");
	jb_u64(&j, "bytes", TRUNC_1);
	if (check(reads_byte(fd, BYTE_DMA, TRUNC_1, 0), "bytes 0-%s read 0x%02x (the DMA's)",
		  sz(TRUNC_1), BYTE_DMA))
		tl_emit("read", &j, "read bytes 0-%s: all 0x%02x: the DMA's data landed in the "
			"file", sz(TRUNC_1), BYTE_DMA);
	fsck("after the truncate");
	return fd;
}

/* ---- 2. a view, a truncate under it, SIGBUS ---------------------------------------------- */

static void act_view(int fd)
{
	struct dc_view v = { 0 };
	struct dc_view_stats v0, v1;
	struct jbuf j = { .n = 0 };
	uint64_t vlen = DC_PAGE_SIZE << dc_region_map_order(S.r), nbus, above, below;
	uint8_t first = 0;
	bool same = false;
	char b1[32];

	if (vlen < 64 * KIB)
		vlen = 64 * KIB;
	tl_section("a view: stores reach the file; a truncate under it; SIGBUS past the end");
	sigbus_install();
	MUST(dc_dcfs_map(S.fs, fd, 0, vlen, DC_VIEW_READ | DC_VIEW_WRITE, &v));
	jb_str(&j, "file", "data");
	jb_u64(&j, "length", vlen);
	tl_emit("view_map", &j, "map a %s view of \"data\" (dc_dcfs_map; the file is %s: the "
		"view reaches past its end)", sz(vlen), sz(TRUNC_1));
	tl_note("the SIGSEGV handler (dc_view_handler_install) serves its faults; the demo "
		"catches SIGBUS with sigaction and sigsetjmp");
	v0 = vstats();

	check(!view_store_guarded(v.addr, TRUNC_2, BYTE_VIEW),
	      "stores to view bytes 0-%s get no SIGBUS", sz(TRUNC_2));
	j.n = 0;
	jb_u64(&j, "offset", 0);
	jb_u64(&j, "length", TRUNC_2);
	v1 = vstats();
	tl_emit("view_store", &j, "store 0x%02x into view bytes 0-%s: %" PRIu64 " fault%s through "
		"the handler (dc_dcfs_fault, fault-around), then plain stores to the device",
		BYTE_VIEW, sz(TRUNC_2), v1.signal_faults - v0.signal_faults,
		v1.signal_faults - v0.signal_faults == 1 ? "" : "s");
	check(v1.signal_faults > v0.signal_faults, "the stores faulted through the handler");
	check(reads_byte(fd, BYTE_VIEW, TRUNC_2, 0), "pread sees the stores (0x%02x at 0-%s)",
	      BYTE_VIEW, sz(TRUNC_2));
	check(!view_cmp_guarded((uint8_t *)v.addr + TRUNC_2, TRUNC_1 - TRUNC_2, BYTE_DMA, &same) &&
	      same, "view bytes %s-%s load the DMA's 0x%02x", sz(TRUNC_2), sz(TRUNC_1), BYTE_DMA);
	tl_emit("view_load", NULL, "pread of bytes 0-%s returns the stores; view loads of %s-%s "
		"return the DMA's 0x%02x: one copy of the data, on the device", sz(TRUNC_2),
		sz(TRUNC_2), sz(TRUNC_1), BYTE_DMA);

	MUST(dc_dcfs_truncate(S.fs, fd, TRUNC_2, NULL));
	v0 = vstats();
	j.n = 0;
	jb_str(&j, "file", "data");
	jb_u64(&j, "size", TRUNC_2);
	tl_emit("truncate", &j, "truncate \"data\" to %s under the view: no pin, no wait; the "
		"view's pages past %s are revoked (%" PRIu64 " range%s so far)", sz(TRUNC_2),
		sz(TRUNC_2), v0.revokes, v0.revokes == 1 ? "" : "s");
	check(v0.revokes > v1.revokes, "the truncate revoked view pages");
	check(fst(fd).size == TRUNC_2, "\"data\" is %s", sz(TRUNC_2));

	below = view_probe_pages(&v, 0, TRUNC_2, &first);
	check(below == 0 && first == BYTE_VIEW,
	      "loads below the new end get no SIGBUS and read 0x%02x", BYTE_VIEW);
	v1 = vstats();
	above = (vlen - TRUNC_2) >> DC_PAGE_SHIFT;
	nbus = view_probe_pages(&v, TRUNC_2, vlen, &first);
	v0 = vstats();
	check(nbus == above, "every page past the new end gets SIGBUS (%" PRIu64 " of %" PRIu64
	      ")", nbus, above);
	check(v0.sigbus - v1.sigbus == above, "the view layer counted %" PRIu64 " SIGBUS", above);
	j.n = 0;
	jb_u64(&j, "from", TRUNC_2);
	jb_u64(&j, "to", vlen);
	jb_u64(&j, "sigbus", nbus);
	jb_u64(&j, "below_eof_sigbus", below);
	tl_emit("sigbus", &j, "a load in each page of the view: below %s 0x%02x, no signal; "
		"past it SIGBUS in %" PRIu64 " of %s (BUS_ADRERR, si_addr the byte loaded)",
		sz(TRUNC_2), BYTE_VIEW, nbus, pages_str(above, b1, sizeof(b1)));
	{
		volatile uint8_t *p = (uint8_t *)v.addr + TRUNC_2;
		bool bus = view_touch(p, true, 1, NULL);

		check(bus && sigbus_addr() == (const void *)p, "a store at view +%s gets SIGBUS", sz(TRUNC_2));
		j.n = 0;
		jb_u64(&j, "offset", TRUNC_2);
		jb_bool(&j, "store", true);
		tl_emit("sigbus", &j, "a store at view +%s: SIGBUS too; the file is still %s",
			sz(TRUNC_2), sz(fst(fd).size));
		check(fst(fd).size == TRUNC_2, "a store past the end does not grow the file");
	}
	fsck("after the truncate under the view");

	MUST(dc_view_unmap(&v));
	MUST(dc_dcfs_close(S.fs, fd));
	MUST(dc_dcfs_unlink(S.fs, "data"));
	tl_emit("unlink", NULL, "unmap the view, close and unlink \"data\": every block is free "
		"again");
	check(sf().blocks_free == S.nblocks && sf().files == 0, "every block is free");
	unmount("nothing open, mapped or pinned: the region has no holder");
}

/* ---- 3. quarantine: unlink a file that is still pinned ------------------------------------ */

static void act_quarantine(void)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct dc_dcfs_statfs st;
	struct jbuf j = { .n = 0 };
	uint64_t len, blocks, free0, qblocks;
	char b1[32];
	int fd;

	tl_section("quarantine: unlink a file that is still pinned");
	tl_note("quarantine is a mount option: truncate, punch, unlink ... do not wait for pins; "
		"pinned blocks leave the file at once and wait, quarantined, for their last unpin. "
		"So the device is mounted again with it (dcfs keeps nothing on the device: the new "
		"mount starts empty).");
	mount("quarantine,slow_wait_ms=0");
	len = S.B * 4 > 256 * KIB ? S.B * 4 : 256 * KIB;
	blocks = len / S.B;
	qblocks = (PIN_LEN + S.B - 1) / S.B;
	free0 = sf().blocks_free;
	fd = (int)MUST(dc_dcfs_create(S.fs, "scratch"));
	write_byte(fd, 0x33, len, 0);
	j.n = 0;
	jb_str(&j, "file", "scratch");
	jb_u64(&j, "bytes", len);
	tl_emit("write", &j, "create \"scratch\" and write %s: %" PRIu64 " blocks", sz(len),
		blocks);
	MUST(dc_dcfs_pin(S.fs, fd, 0, PIN_LEN, 0, "rdma#2", &ps));
	j.n = 0;
	jb_str(&j, "tag", "rdma#2");
	jb_u64(&j, "length", PIN_LEN);
	tl_emit("pin", &j, "an RDMA registration (rdma#2) pins bytes 0-%s of \"scratch\": %s",
		sz(PIN_LEN), pages_str(PIN_LEN >> DC_PAGE_SHIFT, b1, sizeof(b1)));
	MUST(dc_dcfs_close(S.fs, fd));
	MUST(dc_dcfs_unlink(S.fs, "scratch"));
	st = sf();
	j.n = 0;
	jb_str(&j, "file", "scratch");
	jb_u64(&j, "blocks_quarantined", st.blocks_quarantined);
	jb_u64(&j, "blocks_free", st.blocks_free);
	tl_emit("unlink", &j, "close and unlink \"scratch\" while rdma#2 holds it: no wait; %" PRIu64
		" blocks free at once, %" PRIu64 " quarantined (statfs)", blocks - qblocks,
		st.blocks_quarantined);
	check(st.blocks_quarantined == qblocks, "the %" PRIu64 " pinned blocks are quarantined",
	      qblocks);
	check(st.blocks_free == free0 - qblocks, "the other blocks are free");
	check(st.pins == 1, "rdma#2 still holds its pin set");
	for (unsigned i = 0; i < ps.nsegs; i++)
		memset(ps.segs[i].addr, 0xee, ps.segs[i].len);
	tl_emit("dma_write", NULL, "rdma#2 still writes into its pages: they belong to no file "
		"now, so no file sees it");
	fsck("with quarantined blocks");

	MUST(dc_dcfs_unpin(S.fs, &ps));
	st = sf();
	j.n = 0;
	jb_str(&j, "tag", "rdma#2");
	jb_u64(&j, "blocks_quarantined", st.blocks_quarantined);
	jb_u64(&j, "blocks_free", st.blocks_free);
	tl_emit("unpin", &j, "rdma#2 deregisters (dc_dcfs_unpin): the last unpin returns the "
		"quarantined blocks: quarantined %" PRIu64 " -> %" PRIu64 ", free %" PRIu64
		" -> %" PRIu64, qblocks, st.blocks_quarantined, free0 - qblocks, st.blocks_free);
	check(st.blocks_quarantined == 0 && st.blocks_free == free0,
	      "the quarantine is empty and every block free");
	fsck("after the last unpin");
}

/* ---- 4. a poisoned block that two files share -------------------------------------------- */

static bool mf_has(unsigned from, const char *name, uint64_t off)
{
	bool found = false;

	pthread_mutex_lock(&S.lock);
	for (unsigned i = from; i < S.mf_n && i < MAX_MF; i++)
		if (!strcmp(S.mf[i].name, name) && S.mf[i].offset == off && S.mf[i].length == S.B)
			found = true;
	pthread_mutex_unlock(&S.lock);
	return found;
}

static void act_poison(int *pa, int *pb, struct dc_view *v)
{
	struct dc_dcfs_iomap m;
	struct dc_dcfs_block blk;
	struct dc_dcfs_owner own[4];
	struct dc_dcfs_statfs st;
	struct jbuf j = { .n = 0 };
	uint64_t free0 = sf().blocks_free, pg;
	uint8_t buf[64], first = 0;
	unsigned mf0;
	int a, b, n;
	int64_t ra, rb;

	tl_section("memory failure of a block that two files share");
	a = (int)MUST(dc_dcfs_create(S.fs, "original"));
	for (int i = 0; i < 4; i++)
		write_byte(a, 0x10 + i, S.B, (uint64_t)i * S.B);
	b = (int)MUST(dc_dcfs_create(S.fs, "clone"));
	MUST(dc_dcfs_reflink(S.fs, a, 0, b, 0, 4 * S.B, NULL));
	st = sf();
	j.n = 0;
	jb_str(&j, "src", "original");
	jb_str(&j, "dst", "clone");
	jb_u64(&j, "blocks_shared", st.blocks_shared);
	tl_emit("reflink", &j, "write 4 blocks to \"original\" (bytes 0x10-0x13), reflink them into "
		"\"clone\": %" PRIu64 " blocks shared, none copied", st.blocks_shared);
	check(st.blocks_shared == 4 && st.blocks_free == free0 - 4,
	      "4 blocks shared, 4 allocated in all");

	MUST(dc_dcfs_iomap(S.fs, a, S.B, S.B, 0, &m));
	pg = m.pgoff;
	n = (int)MUST(dc_dcfs_rmap(S.fs, pg, &blk, own, 4));
	check(m.type == DC_DCFS_IOMAP_SHARED && n == 2 && blk.shares == 2,
	      "block 1 is shared by 2 (rmap: %d owners)", n);
	j.n = 0;
	jb_u64(&j, "pgoff", pg);
	jb_u64(&j, "owners", (uint64_t)n);
	tl_emit("poison", &j, "poison device page %" PRIu64 ", block 1 of both files "
		"(dc_folio_memory_failure: a hardware memory error)", pg);
	mf0 = S.mf_n;
	MUST(dc_folio_memory_failure(S.r, pg, 1));
	check(S.mf_n - mf0 == 2, "2 memory-failure reports (got %u)", S.mf_n - mf0);
	check(mf_has(mf0, "original", S.B) && mf_has(mf0, "clone", S.B),
	      "the reports name \"original\" and \"clone\" at offset %s", sz(S.B));
	st = sf();
	check(st.memory_failures == 2 && st.blocks_bad == 1, "statfs: 2 reports, 1 bad block");

	ra = dc_dcfs_pread(S.fs, a, buf, sizeof(buf), S.B);
	rb = dc_dcfs_pread(S.fs, b, buf, sizeof(buf), S.B);
	check(ra == -EIO && rb == -EIO, "reads of the poisoned block fail with -EIO (%s, %s)",
	      ename((int)ra), ename((int)rb));
	{
		bool intact = true;

		for (int i = 0; i < 4; i++)
			if (i != 1)
				intact = intact && reads_byte(a, 0x10 + i, S.B, (uint64_t)i * S.B) &&
					 reads_byte(b, 0x10 + i, S.B, (uint64_t)i * S.B);
		check(intact, "the other 3 blocks of both files read back intact");
	}
	j.n = 0;
	jb_u64(&j, "offset", S.B);
	jb_str(&j, "error", ename((int)ra));
	tl_emit("eio", &j, "pread of block 1: %s in \"original\", %s in \"clone\"; blocks 0, 2, 3 "
		"read back intact", ename((int)ra), ename((int)rb));

	MUST(dc_dcfs_map(S.fs, b, 0, 4 * S.B, DC_VIEW_READ, v));
	check(view_probe_pages(v, 0, DC_PAGE_SIZE, &first) == 0 && first == 0x10,
	      "a view load of clone's block 0 reads 0x10");
	{
		volatile uint8_t *p = (uint8_t *)v->addr + S.B;
		uint8_t x;

		check(view_touch(p, false, 0, &x) && sigbus_addr() == (const void *)p &&
		      !strcmp(sigbus_code(), "BUS_MCEERR_AR"),
		      "a view load of the poisoned block gets SIGBUS, BUS_MCEERR_AR (got %s)",
		      sigbus_code());
	}
	j.n = 0;
	jb_u64(&j, "offset", S.B);
	jb_str(&j, "file", "clone");
	jb_str(&j, "si_code", sigbus_code());
	tl_emit("sigbus", &j, "a read-only view of \"clone\": block 0 loads 0x10, the poisoned "
		"block 1 gets SIGBUS (%s)", sigbus_code());
	fsck("after the memory failure");
	*pa = a;
	*pb = b;
}

/* ---- 5. device removal while a pin is held ------------------------------------------------ */

static void act_remove(int a, int b, struct dc_view *v)
{
	struct dc_dcfs_pinset ps = { 0 };
	struct jbuf j = { .n = 0 };
	struct removal rm;
	int64_t rr, rc;
	uint8_t x = 0;
	char b1[32];
	bool bus;
	int jn;

	tl_section("device removal while a pin is held");
	jn = (int)MUST(dc_dcfs_create(S.fs, "journal"));
	write_byte(jn, BYTE_JOURNAL, PIN_LEN, 0);
	MUST(dc_dcfs_pin(S.fs, jn, 0, PIN_LEN, DC_DCFS_PIN_READONLY, "nic#3", &ps));
	jb_str(&j, "tag", "nic#3");
	jb_str(&j, "file", "journal");
	jb_u64(&j, "length", PIN_LEN);
	tl_emit("pin", &j, "write %s to \"journal\"; a NIC sends it: a read-only pin (nic#3), %s",
		sz(PIN_LEN), pages_str(PIN_LEN >> DC_PAGE_SHIFT, b1, sizeof(b1)));
	tl_emit("remove_start", NULL, "another thread removes the device: dc_region_remove (10 s "
		"deadline, progress every 10 ms)");
	removal_start(&rm, S.r);
	if (!check(removal_wait_progress(&rm, 5000), "removal reported progress while nic#3 holds "
		   "its pin"))
		fatal("removal does not wait: cannot go on");
	check(!atomic_load(&rm.done), "removal waits while the pin is held");
	check(!dc_region_alive(S.r), "the region is dead (dc_region_alive)");
	check(rm.first >= 1, "removal waits for at least one reference");

	rr = dc_dcfs_pread(S.fs, a, &x, 1, 0);
	rc = dc_dcfs_create(S.fs, "new");
	check(sf().shutdown && rr == -EIO && rc == -EIO, "the mount is shut down: pread %s, "
	      "create %s", ename((int)rr), ename((int)rc));
	j.n = 0;
	jb_bool(&j, "shutdown", sf().shutdown);
	jb_str(&j, "pread", ename((int)rr));
	tl_emit("shutdown", &j, "the mount is shut down (DC_MF_PRE_REMOVE): pread %s, create %s",
		ename((int)rr), ename((int)rc));
	bus = view_touch((uint8_t *)v->addr, false, 0, &x);
	check(bus, "a load through the view of \"clone\" gets SIGBUS after the shutdown");
	check(((volatile uint8_t *)ps.segs[0].addr)[0] == BYTE_JOURNAL,
	      "nic#3 still reads its pages");
	j.n = 0;
	jb_str(&j, "file", "clone");
	jb_str(&j, "si_code", bus ? sigbus_code() : NULL);
	tl_emit("sigbus", &j, "the view of \"clone\" was revoked: a load of block 0 gets SIGBUS "
		"(%s); nic#3 still reads its pinned pages (0x%02x)", bus ? sigbus_code() : "none",
		BYTE_JOURNAL);

	tl_detach_region(); /* from the unpin on, removal may free the region */
	MUST(dc_dcfs_unpin(S.fs, &ps));
	tl_emit("unpin", NULL, "nic#3 completes and unpins: the last folio reference (the region "
		"may be gone from now on: its columns stop)");
	removal_finish(&rm);
	S.r = NULL;
	MUST(dc_view_unmap(v));
	MUST(dc_dcfs_close(S.fs, a));
	MUST(dc_dcfs_close(S.fs, b));
	MUST(dc_dcfs_close(S.fs, jn));
	fsck("after the removal");
	unmount("the files are evicted without the region (gone)");
}

/* ---- the command ------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: daxcore demo [-d SPEC] [--json]\n"
		"       daxcore demo --devdax [-d SPEC] [--json]\n"
		"       daxcore demo --layers [SPEC]\n"
		"\n"
		"A narrated run of the DAX page-lifetime story on dcfs over a region: a DMA\n"
		"that a truncate waits for, a view that gets SIGBUS past the end of file, a\n"
		"pinned file unlinked into the quarantine, a poisoned block two files share,\n"
		"and a device removal that waits for a pin.  Each line: elapsed ms, the\n"
		"region's 4 KiB pages (idle, referenced, pinned, poisoned, quarantined, free)\n"
		"and what happened.  Exits 0 only if every check along the way held.\n"
		"\n"
		"  -d, --device SPEC  the region (default " DEMO_SPEC "; SPEC as 'daxcore help'\n"
		"                     describes it; dcfs needs an fsdax region)\n"
		"  --json             one JSON object per line instead of text\n"
		"  --devdax           the device-dax story instead, on a region of type\n"
		"                     devdax (default " DEVDAX_SPEC "): views\n"
		"                     of the device, a DMA pin, removal waiting for the pin,\n"
		"                     SIGBUS after it\n"
		"  --layers [SPEC]    the library-level demonstration instead: region, folios,\n"
		"                     a mapping's entries, removal, without a file system\n"
		"                     (default " DEMO_DEFAULT_SPEC ")\n"
		"  -h, --help         this help\n"
		"\n"
		"exit status: 0 every check held, 1 a check failed or the region could not be\n"
		"used, 2 usage error\n");
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "daxcore demo: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nrun 'daxcore help' for usage\n");
	return EXIT_USAGE;
}

int demo_main(int argc, char **argv)
{
	const char *spec = NULL;
	bool json = false, layers = false, devdax = false;
	int fa, fb, fd;
	struct dc_view view = { 0 };

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (!strcmp(a, "--layers")) {
			layers = true;
		} else if (!strcmp(a, "--devdax")) {
			devdax = true;
		} else if (!strcmp(a, "-d") || !strcmp(a, "--device")) {
			if (i + 1 >= argc)
				return usage_error("%s needs a SPEC", a);
			if (spec)
				return usage_error("one SPEC at most (%s)", argv[i + 1]);
			spec = argv[++i];
		} else if (!strncmp(a, "--device=", 9)) {
			if (spec)
				return usage_error("one SPEC at most (%s)", a + 9);
			spec = a + 9;
		} else if (a[0] == '-' && a[1]) {
			return usage_error("unknown option '%s'", a);
		} else if (layers && !spec) {
			spec = a;
		} else {
			return usage_error("unexpected argument '%s' (the region is -d SPEC)", a);
		}
	}
	if (layers && devdax)
		return usage_error("%s: --layers and --devdax are two demos: one at a time",
				   "--devdax");
	if (devdax)
		return demo_devdax(spec ? spec : DEVDAX_SPEC, json);
	if (layers) {
		if (json)
			return usage_error("%s: --layers prints text only", "--json");
		return demo_layers(spec ? spec : DEMO_DEFAULT_SPEC);
	}
	if (!spec)
		spec = DEMO_SPEC;

	tl_open(json);
	{
		struct jbuf j = { .n = 0 };
		struct dc_region_stats rs;
		int ret = dc_region_create(spec, &S.r);
		unsigned order;

		if (ret)
			fatal("%s: %s", spec, dc_errmsg());
		if (dc_region_type(S.r) == DC_REGION_DEVDAX)
			fatal("%s: dcfs needs an fsdax region, this one is devdax (try 'daxcore demo "
			      "--layers %s', or 'daxcore demo --devdax' for the device-dax story)",
			      spec, spec);
		if (dc_region_type(S.r) != DC_REGION_FSDAX)
			fatal("%s: dcfs needs an fsdax region, this one is limited (try 'daxcore "
			      "demo --layers %s')", spec, spec);
		tl_attach(S.r, NULL);
		order = dc_region_folio_order(S.r);
		dc_region_stats(S.r, &rs);
		jb_str(&j, "spec", spec);
		jb_str(&j, "version", dc_version());
		jb_u64(&j, "bytes", dc_region_size(S.r));
		jb_u64(&j, "npages", dc_region_npages(S.r));
		jb_u64(&j, "folio_order", order);
		if (!json)
			printf("daxcore %s demo: dcfs over %s\n"
			       "each line: elapsed ms; the region's 4 KiB pages by folio state (idle, "
			       "ref(erenced),\npin(ned), pois(oned)) and in dcfs's allocator "
			       "(quar(antined), free); what happened\n", dc_version(), spec);
		tl_section("the device");
		tl_emit("region", &j, "dc_region_create(\"%s\"): %s, %" PRIu64 " pages, %s folios, "
			"fsdax", spec, sz(dc_region_size(S.r)), dc_region_npages(S.r),
			sz(DC_PAGE_SIZE << order));
		check(rs.busy == 0, "a new region has no busy folio");
	}
	fd = act_dma_truncate();
	act_view(fd);
	act_quarantine();
	act_poison(&fa, &fb, &view);
	act_remove(fa, fb, &view);
	return tl_close();
}
