// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * demo_devdax.c - `daxcore demo --devdax [-d SPEC] [--json]`: the
 * device-dax story (include/daxcore/devdax.h) on one region of type
 * devdax (default mem:1G,order=9,type=devdax), on the same timeline as
 * the dcfs story (demo_out.c):
 *
 *   1. the region is opened as one device of 2 MiB alignment;
 *   2. views of it: the mmaps drivers/dax/device.c refuses are refused (an
 *      unaligned length, a private view, a view past the end); one store
 *      faults a whole 2 MiB entry in; a second view sees the first's stores;
 *   3. a NIC pins 64 KiB through the view for DMA (one folio) and writes
 *      into it;
 *   4. the region is removed while the pin is held: the device is killed
 *      (its entries zapped, the views revoked: SIGBUS; new views and pins
 *      -ENXIO), the DMA still reaches its pages, removal waits and completes
 *      after the unpin;
 *   5. every access afterwards gets SIGBUS; the device closes.
 *
 * Every step is checked; the exit status is 0 only if every check held.
 * Public API only.
 */
#include "demo.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#define KIB 1024ull
#define MIB (1024ull * 1024)
#define VIEW_LEN (8 * MIB)
#define PIN_OFF (1 * MIB)  /* in view 1 */
#define PIN_LEN (64 * KIB)
#define BYTE_CPU 0x77
#define BYTE_DMA 0xd1

static struct {
	struct dc_region *r;
	struct dc_devdax *dd;
	uint64_t align;
} D;

static const char *sz(uint64_t bytes)
{
	static char buf[8][32];
	static unsigned k;

	return size_str(bytes, buf[k++ % 8], sizeof(buf[0]));
}

static struct dc_devdax_stats ds(void)
{
	struct dc_devdax_stats st;

	dc_devdax_stats(D.dd, &st);
	return st;
}

static void devcheck(const char *when)
{
	struct jbuf j = { .n = 0 };

	if (check(dc_devdax_check(D.dd), "dc_devdax_check %s (its report is on stderr)", when)) {
		jb_str(&j, "when", when);
		tl_emit("check", &j, "dc_devdax_check: consistent (%s)", when);
	}
}

/* ---- 1. the device ---------------------------------------------------------------- */

static void act_open(const char *spec, bool json)
{
	struct jbuf j = { .n = 0 };
	struct dc_devdax_stats st;
	unsigned order;
	int ret = dc_region_create(spec, &D.r);

	if (ret)
		fatal("%s: %s", spec, dc_errmsg());
	if (dc_region_type(D.r) != DC_REGION_DEVDAX)
		fatal("%s: demo --devdax needs a region of type devdax (type=devdax, or devdax:), "
		      "this one is %s", spec, dc_region_type(D.r) == DC_REGION_FSDAX ? "fsdax"
										  : "limited");
	order = dc_region_folio_order(D.r);
	/* The device's alignment is the larger of its folios and its fd's
	 * unit (dc_devdax_align()); the story needs 2 MiB and one folio per
	 * 2 MiB entry (a pin takes one folio). */
	ret = dc_devdax_open(D.r, &D.dd);
	if (ret)
		fatal("%s: dc_devdax_open: %s", spec, dc_errmsg());
	D.align = dc_devdax_align(D.dd);
	if (D.align != 2 * MIB)
		fatal("%s: demo --devdax tells the story of a 2 MiB-aligned device (order=9), this "
		      "one's alignment is %s", spec, sz(D.align));
	if (order != 9)
		fatal("%s: demo --devdax tells the story of a 2 MiB-aligned device (order=9) of one "
		      "folio per 2 MiB entry; this one is 2 MiB-aligned, its folios are %s "
		      "(order=%u)", spec, sz(DC_PAGE_SIZE << order), order);
	tl_attach(D.r, NULL);
	if (!json)
		printf("daxcore %s demo: device-dax over %s\n"
		       "each line: elapsed ms; the region's 4 KiB pages by folio state (idle, "
		       "ref(erenced),\npin(ned), pois(oned); device-dax has no allocator: quar and "
		       "free are '-'); what happened\n", dc_version(), spec);
	tl_section("the device");
	jb_str(&j, "spec", spec);
	jb_str(&j, "version", dc_version());
	jb_u64(&j, "bytes", dc_region_size(D.r));
	jb_u64(&j, "npages", dc_region_npages(D.r));
	jb_u64(&j, "folio_order", order);
	tl_emit("region", &j, "dc_region_create(\"%s\"): %s, %" PRIu64 " pages, %s folios, devdax",
		spec, sz(dc_region_size(D.r)), dc_region_npages(D.r), sz(DC_PAGE_SIZE << order));
	st = ds();
	j.n = 0;
	jb_u64(&j, "size", st.size);
	jb_u64(&j, "align", st.align);
	tl_emit("open", &j, "dc_devdax_open: the whole region is one device of %s, alignment %s "
		"(every entry a %s PMD, never smaller); no file system, no allocator",
		sz(st.size), sz(st.align), sz(st.align));
	check(st.size == dc_region_size(D.r) && st.align == 2 * MIB && st.entries == 0,
	      "the device is the region, 2 MiB-aligned, with no entry yet");
}

/* ---- 2. views -------------------------------------------------------------------- */

static void act_map(struct dc_view *v1, struct dc_view *v2)
{
	struct jbuf j = { .n = 0 };
	struct dc_devdax_stats st;
	struct dc_view x;
	uint64_t faults0, size = dc_devdax_size(D.dd);
	int small, priv, past;
	bool same = false, bus;

	tl_section("views of the device");
	small = dc_devdax_map(D.dd, 0, 4 * KIB, DC_DEVDAX_MAP_READ | DC_DEVDAX_MAP_WRITE, &x);
	priv = dc_devdax_map(D.dd, 0, D.align, DC_DEVDAX_MAP_READ | DC_DEVDAX_MAP_PRIVATE, &x);
	past = dc_devdax_map(D.dd, size - D.align, 2 * D.align, DC_DEVDAX_MAP_READ, &x);
	check(small == -EINVAL && priv == -EINVAL && past == -ENXIO,
	      "refused: a 4 KiB view -EINVAL (%s), a private view -EINVAL (%s), a view past the "
	      "end -ENXIO (%s)", ename(small), ename(priv), ename(past));
	jb_str(&j, "view_4k", ename(small));
	jb_str(&j, "private", ename(priv));
	jb_str(&j, "past_end", ename(past));
	tl_emit("refused", &j, "mmaps that drivers/dax/device.c refuses: a 4 KiB view %s (not a "
		"multiple of 2 MiB), a private view %s, a view past the end %s", ename(small),
		ename(priv), ename(past));

	MUST(dc_devdax_map(D.dd, 0, VIEW_LEN, DC_DEVDAX_MAP_READ | DC_DEVDAX_MAP_WRITE, v1));
	j.n = 0;
	jb_u64(&j, "offset", 0);
	jb_u64(&j, "length", VIEW_LEN);
	tl_emit("map", &j, "view 1: device bytes 0-%s, read-write; nothing is mapped until touched",
		sz(VIEW_LEN));
	faults0 = ds().faults;
	bus = view_store_guarded(v1->addr, (size_t)D.align, BYTE_CPU);
	st = ds();
	check(!bus && st.faults - faults0 == 1 && st.entries == 1,
	      "one fault maps the whole 2 MiB entry (faults +%" PRIu64 ", %" PRIu64 " entries)",
	      st.faults - faults0, st.entries);
	j.n = 0;
	jb_u64(&j, "faults", st.faults - faults0);
	jb_u64(&j, "entries", st.entries);
	tl_emit("store", &j, "store 0x%02x into view bytes 0-2 MiB: %" PRIu64 " fault, %" PRIu64
		" entry: the whole 2 MiB mapped at once", BYTE_CPU, st.faults - faults0,
		st.entries);

	MUST(dc_devdax_map(D.dd, 0, D.align, DC_DEVDAX_MAP_READ, v2));
	bus = view_cmp_guarded(v2->addr, (size_t)D.align, BYTE_CPU, &same);
	check(!bus && same && ds().views == 2, "view 2 reads the 0x%02x view 1 stored", BYTE_CPU);
	j.n = 0;
	jb_u64(&j, "views", ds().views);
	tl_emit("map", &j, "view 2: device bytes 0-2 MiB, read-only: it reads the 0x%02x that view 1 "
		"stored (two mappings of the same device pages)", BYTE_CPU);
	devcheck("after the faults");
}

/* ---- 3. a DMA pin through the view ------------------------------------------------ */

static void act_pin(struct dc_view *v1, struct dc_devdax_pinset *ps)
{
	struct jbuf j = { .n = 0 };
	char b[32];
	bool same = false, bus;

	tl_section("a DMA pin");
	MUST(dc_devdax_pin_user(D.dd, (uint8_t *)v1->addr + PIN_OFF, PIN_LEN, 0, ps));
	check(ps->offset == PIN_OFF && ps->length == PIN_LEN && ps->nfolios == 1,
	      "the pin is device bytes %s-%s, one folio (got %" PRIu64 ")", sz(PIN_OFF),
	      sz(PIN_OFF + PIN_LEN), ps->nfolios);
	check(ds().pins == 1, "the device counts 1 pin set");
	jb_str(&j, "tag", "rdma#1");
	jb_u64(&j, "offset", ps->offset);
	jb_u64(&j, "length", ps->length);
	jb_u64(&j, "folios", ps->nfolios);
	tl_emit("pin", &j, "an RDMA NIC registers view bytes %s-%s (rdma#1, pin_user through the "
		"view): %s, %" PRIu64 " folio pinned (the 2 MiB entry's)", sz(PIN_OFF),
		sz(PIN_OFF + PIN_LEN), pages_str(PIN_LEN >> DC_PAGE_SHIFT, b, sizeof(b)),
		ps->nfolios);
	memset(ps->addr, BYTE_DMA, PIN_LEN); /* the NIC's DMA writes */
	bus = view_cmp_guarded((uint8_t *)v1->addr + PIN_OFF, PIN_LEN, BYTE_DMA, &same);
	check(!bus && same, "view 1 reads the DMA's 0x%02x", BYTE_DMA);
	j.n = 0;
	jb_str(&j, "tag", "rdma#1");
	tl_emit("dma", &j, "rdma#1 writes 0x%02x into the pinned pages; view 1 reads it back",
		BYTE_DMA);
	devcheck("with the pin");
}

/* ---- 4. removal waits for the pin ------------------------------------------------- */

static void act_remove(struct dc_view *v1, struct dc_devdax_pinset *ps)
{
	struct jbuf j = { .n = 0 };
	struct dc_devdax_pinset late = { 0 };
	struct dc_devdax_stats st;
	struct removal rm;
	struct dc_view x;
	int rp, rv;
	uint8_t b = 0;
	bool bus;

	tl_section("device removal while the pin is held");
	tl_emit("remove_start", NULL, "another thread removes the device: dc_region_remove (10 s "
		"deadline, progress every 10 ms)");
	removal_start(&rm, D.r);
	if (!check(removal_wait_progress(&rm, 5000), "removal reported progress while rdma#1 "
		   "holds its pin"))
		fatal("removal does not wait: cannot go on");
	check(!atomic_load(&rm.done), "removal waits while the pin is held");
	check(!dc_region_alive(D.r), "the region is dead (dc_region_alive)");
	st = ds();
	check(st.killed && st.live_entries == 0 && st.entries == 1,
	      "the device is killed: no live entry, the pinned one waits (%" PRIu64 " entries)",
	      st.entries);
	j.n = 0;
	jb_bool(&j, "killed", st.killed);
	jb_u64(&j, "entries", st.entries);
	jb_u64(&j, "live_entries", st.live_entries);
	tl_emit("kill", &j, "the device is killed (kill_dev_dax, from DC_MF_PRE_REMOVE): every entry "
		"zapped, every view revoked; the pinned entry stays until its pin goes");

	bus = view_touch((volatile uint8_t *)v1->addr, false, 0, &b);
	check(bus && sigbus_addr() == v1->addr && !strcmp(sigbus_code(), "BUS_ADRERR"),
	      "a load through view 1 gets SIGBUS, BUS_ADRERR (got %s)", bus ? sigbus_code() : "none");
	rv = dc_devdax_map(D.dd, 0, D.align, DC_DEVDAX_MAP_READ, &x);
	rp = dc_devdax_pin(D.dd, 4 * MIB, 4 * KIB, 0, &late);
	check(rv == -ENXIO && rp == -ENXIO, "a new view %s, a new pin %s (-ENXIO)", ename(rv),
	      ename(rp));
	check(((volatile uint8_t *)ps->addr)[0] == BYTE_DMA, "rdma#1 still reaches its pages");
	j.n = 0;
	jb_str(&j, "si_code", bus ? sigbus_code() : NULL);
	jb_str(&j, "map", ename(rv));
	jb_str(&j, "pin", ename(rp));
	tl_emit("sigbus", &j, "a load through view 1 gets SIGBUS (%s); a new view %s, a new pin %s; "
		"rdma#1 still reaches its pinned pages (0x%02x)", bus ? sigbus_code() : "none",
		ename(rv), ename(rp), BYTE_DMA);

	tl_detach_region(); /* from the unpin on, removal may free the region */
	MUST(dc_devdax_unpin(D.dd, ps));
	tl_emit("unpin", NULL, "rdma#1 completes and unpins: the zapped entry goes, the last folio "
		"reference with it (the region may be gone from now on: its columns stop)");
	removal_finish(&rm);
	D.r = NULL;
	check(dc_devdax_region(D.dd) == NULL && ds().removed && ds().entries == 0,
	      "the device let go of its region, no entry left");
}

/* ---- 5. after removal ------------------------------------------------------------- */

static void act_after(struct dc_view *v1, struct dc_view *v2)
{
	struct jbuf j = { .n = 0 };
	uint64_t n1, n2, p1 = VIEW_LEN >> DC_PAGE_SHIFT, p2 = D.align >> DC_PAGE_SHIFT;
	uint8_t first = 0;

	tl_section("after the removal");
	n1 = view_probe_pages(v1, 0, VIEW_LEN, &first);
	n2 = view_probe_pages(v2, 0, D.align, &first);
	check(n1 == p1 && n2 == p2, "every page of both views gets SIGBUS (%" PRIu64 " of %" PRIu64
	      ", %" PRIu64 " of %" PRIu64 ")", n1, p1, n2, p2);
	j.n = 0;
	jb_u64(&j, "view1_sigbus", n1);
	jb_u64(&j, "view2_sigbus", n2);
	tl_emit("sigbus", &j, "a load in each page: SIGBUS in %" PRIu64 " of %" PRIu64 " pages of view "
		"1, %" PRIu64 " of %" PRIu64 " of view 2 (BUS_ADRERR)", n1, p1, n2, p2);
	MUST(dc_view_unmap(v1));
	MUST(dc_view_unmap(v2));
	MUST(dc_devdax_close(D.dd, NULL));
	D.dd = NULL;
	tl_emit("close", NULL, "unmap both views, close the device (dc_devdax_close)");
}

int demo_devdax(const char *spec, bool json)
{
	struct dc_view v1 = { 0 }, v2 = { 0 };
	struct dc_devdax_pinset ps = { 0 };

	tl_open(json);
	sigbus_install();
	act_open(spec, json);
	act_map(&v1, &v2);
	act_pin(&v1, &ps);
	act_remove(&v1, &ps);
	act_after(&v1, &v2);
	return tl_close();
}
