// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * layers.c - `daxcore demo --layers`: the library-level demonstration of
 * the page-lifetime protocol, layer by layer (region, folios, a mapping's
 * entries, zap and break layouts, writeback, memory failure, removal), on
 * one region through the public API, without a file system.  Every return
 * value and every count it narrates is checked; anything unexpected exits 1.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small formatting helpers ------------------------------------------- */

/* "entry" or "entries" for @n. */
static const char *pl(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static const char *order_str(unsigned order)
{
	return order == 18 ? "1 GiB" : order == 9 ? "2 MiB" : order == 0 ? "4 KiB" : "?";
}

static const char *type_str(enum dc_region_type t)
{
	return t == DC_REGION_FSDAX ? "fsdax" : t == DC_REGION_DEVDAX ? "devdax"
		: t == DC_REGION_LIMITED ? "limited" : "?";
}

static const char *entry_str(dc_entry_t e, char *buf, size_t n)
{
	if (!e)
		snprintf(buf, n, "no entry");
	else if (dc_entry_is_empty(e) || dc_entry_is_zero(e))
		snprintf(buf, n, "%s %s%s", dc_entry_is_empty(e) ? "EMPTY" : "ZERO",
			 order_str(dc_entry_order(e)), dc_entry_is_locked(e) ? " LOCKED" : "");
	else
		snprintf(buf, n, "device page %" PRIu64 ", %s%s%s", dc_entry_pgoff(e),
			 order_str(dc_entry_order(e)), dc_entry_is_zapped(e) ? " ZAP" : "",
			 dc_entry_is_locked(e) ? " LOCKED" : "");
	return buf;
}

/* ---- the demo's state ----------------------------------------------------- */

#define MAX_RANGES 6

/* A short list of [first, last] ranges, merged when contiguous. */
struct ranges {
	uint64_t calls;
	unsigned n;
	bool more;
	uint64_t first[MAX_RANGES], last[MAX_RANGES];
};

struct demo {
	const char *spec;
	struct dc_region *r;
	struct dc_mapping *m;   /* file "A" */
	int step;
	uint64_t fpages;        /* pages per folio */

	/* what the callbacks received since the last report */
	struct ranges frees, revokes;
	uint64_t frees_total, mkcleans, notifies;
	unsigned notify_flags;

	/* what dc_mapping_break_layouts() reported waiting for */
	unsigned waits;
	uint64_t wait_index;
	struct dc_folio *wait_folio;
};

/* The holder (the owner of the region: a file system, in spirit). */
struct holder {
	const char *name;
	struct demo *d;
};

static void ranges_add(struct ranges *rg, uint64_t first, uint64_t nr)
{
	uint64_t last = first + nr - 1;

	rg->calls++;
	if (rg->n && rg->last[rg->n - 1] + 1 == first) {
		rg->last[rg->n - 1] = last;
		return;
	}
	if (rg->n == MAX_RANGES) {
		rg->more = true;
		return;
	}
	rg->first[rg->n] = first;
	rg->last[rg->n++] = last;
}

/* " 0-3, 512-1023" into @buf. */
static const char *ranges_str(const struct ranges *rg, char *buf, size_t n)
{
	size_t at = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < rg->n && at < n; i++) {
		if (rg->first[i] == rg->last[i])
			at += (size_t)snprintf(buf + at, n - at, "%s %" PRIu64, i ? "," : "",
					       rg->first[i]);
		else
			at += (size_t)snprintf(buf + at, n - at, "%s %" PRIu64 "-%" PRIu64,
					       i ? "," : "", rg->first[i], rg->last[i]);
	}
	if (rg->more && at < n)
		snprintf(buf + at, n - at, ", ...");
	return buf;
}

static void ranges_print(const char *what, const struct ranges *rg)
{
	char buf[160];

	printf("    <- %s", what);
	if (rg->calls > 1)
		printf(" x%" PRIu64, rg->calls);
	printf(":%s\n", ranges_str(rg, buf, sizeof(buf)));
}

/* ---- failure handling: every surprise ends the demo with exit 1 ---------- */

static void fail(struct demo *d, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));
static void fail(struct demo *d, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "daxcore demo: FAILED at step %d: ", d->step);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_FAILURE);
}

/* A call that must succeed (return >= 0). */
static int ok(struct demo *d, const char *call, int ret)
{
	if (ret < 0)
		fail(d, "%s returned %s (%s): %s", call, ename(ret), dc_strerror(ret),
		     dc_errmsg());
	return ret;
}
#define OK(d, call) ok((d), #call, (call))

/* A call that must fail with exactly @want. */
static void expect_err(struct demo *d, const char *call, int ret, int want)
{
	if (ret != want)
		fail(d, "%s returned %s (%s), expected %s; dc_errmsg: %s", call, ename(ret),
		     dc_strerror(ret), ename(want), dc_errmsg());
}
#define EXPECT_ERR(d, call, want) expect_err((d), #call, (call), (want))

/* A narrated fact that must hold. */
#define EXPECT(d, cond) \
	do { if (!(cond)) fail((d), "expected %s (%s:%d)", #cond, __FILE__, __LINE__); } while (0)

/* ---- narration ----------------------------------------------------------- */

static void section(const char *title)
{
	printf("%s\n", title);
}

/*
 * step() numbers and prints a step before its calls run (callbacks print
 * under it); begin() + show() print it after calls that print nothing, so
 * the outcome fits on the step's own line.  A failure names the step number.
 */
static void begin(struct demo *d)
{
	d->step++;
}

static void vshow(struct demo *d, const char *fmt, va_list ap)
{
	printf("%2d. ", d->step);
	vprintf(fmt, ap);
	putchar('\n');
}

static void show(struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void show(struct demo *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vshow(d, fmt, ap);
	va_end(ap);
}

static void step(struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void step(struct demo *d, const char *fmt, ...)
{
	va_list ap;

	begin(d);
	va_start(ap, fmt);
	vshow(d, fmt, ap);
	va_end(ap);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("    ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Print what page_free received since the last call; return how many. */
static uint64_t report_frees(struct demo *d)
{
	uint64_t n = d->frees.calls;

	if (n)
		ranges_print("page_free, device pages", &d->frees);
	memset(&d->frees, 0, sizeof(d->frees));
	return n;
}

static uint64_t report_revokes(struct demo *d)
{
	uint64_t n = d->revokes.calls;

	if (n)
		ranges_print("revoke, file pages", &d->revokes);
	memset(&d->revokes, 0, sizeof(d->revokes));
	return n;
}

static uint64_t busy_count(struct dc_region *r)
{
	struct dc_region_stats st;

	dc_region_stats(r, &st);
	return st.busy;
}

/* File A's entries, walked with dc_mapping_for_each(): how many (in all,
 * zapped, with @mark), and their file page ranges. */
struct census {
	uint64_t entries, zapped, marked;
	struct ranges pages;
};

static void census(struct dc_mapping *m, unsigned mark, struct census *c)
{
	struct dc_entry_info in;

	memset(c, 0, sizeof(*c));
	dc_mapping_for_each(m, 0, DC_MAPPING_INDEX_MAX, &in) {
		c->entries++;
		c->zapped += dc_entry_is_zapped(in.entry);
		c->marked += dc_mapping_get_mark(m, in.first, mark);
		ranges_add(&c->pages, in.first, UINT64_C(1) << in.order);
	}
}

/* ---- callbacks ----------------------------------------------------------- */

/* Holder: a folio became idle.  Record only: the narration prints it. */
static void on_page_free(struct dc_region *r, struct dc_folio *f, void *holder)
{
	struct demo *d = ((struct holder *)holder)->d;

	(void)r;
	ranges_add(&d->frees, dc_folio_pgoff(f), d->fpages);
	d->frees_total++;
}

/*
 * Holder: pages failed or the region is going away.  On DC_MF_PRE_REMOVE
 * it revokes everything (a zap: no waiting here, removal itself waits for
 * the references with the caller's deadline); the mapping is destroyed
 * later, before removal is called again.
 */
static int on_notify_failure(struct dc_region *r, uint64_t pgoff, uint64_t nr, unsigned flags,
			     void *holder)
{
	struct holder *h = holder;
	struct demo *d = h->d;
	struct dc_folio *busy = NULL;
	int n;

	(void)r;
	d->notifies++;
	d->notify_flags = flags;
	printf("    <- notify_failure(device pages %" PRIu64 "-%" PRIu64 ", %s) to holder %s\n",
	       pgoff, pgoff + nr - 1,
	       flags & DC_MF_PRE_REMOVE ? "DC_MF_PRE_REMOVE" :
	       flags & DC_MF_POISON ? "DC_MF_POISON" : "no flags", h->name);
	if (!(flags & DC_MF_PRE_REMOVE) || !d->m)
		return 0;
	n = dc_mapping_zap(d->m, 0, DC_MAPPING_INDEX_MAX, NULL, &busy);
	if (n < 0)
		fail(d, "dc_mapping_zap from notify_failure returned %s: %s", ename(n),
		     dc_errmsg());
	if (busy)
		say("   %s zaps file A: %d entr%s zapped; busy: device page %" PRIu64
		    ", refcount %u", h->name, n, n == 1 ? "y" : "ies", dc_folio_pgoff(busy),
		    dc_folio_refcount(busy));
	else
		say("   %s zaps file A: %d entr%s zapped; nothing busy", h->name, n,
		    n == 1 ? "y" : "ies");
	report_revokes(d);
	report_frees(d);
	return 0;
}

/* Mapping owner: client mappings of file pages go away (no views yet). */
static void on_revoke(struct dc_mapping *m, uint64_t index, uint64_t nr, void *priv)
{
	(void)m;
	ranges_add(&((struct demo *)priv)->revokes, index, nr);
}

static void on_mkclean(struct dc_mapping *m, uint64_t index, uint64_t nr, void *priv)
{
	(void)m; (void)index; (void)nr;
	((struct demo *)priv)->mkcleans++;
}

/*
 * Mapping owner: dc_mapping_break_layouts() is about to wait for busy folio
 * @f at file page @index.  Print what the zap before it did, then the folio.
 */
static void on_break_waiting(struct dc_mapping *m, uint64_t index, struct dc_folio *f, void *arg)
{
	struct demo *d = arg;

	(void)m;
	report_revokes(d);
	report_frees(d);
	printf("    <- waiting for file page %" PRIu64 ": device page %" PRIu64 ", refcount %u, "
	       "mapcount %u: busy (%s)\n", index, dc_folio_pgoff(f), dc_folio_refcount(f),
	       dc_folio_mapcount(f), dc_folio_maybe_dma_pinned(f) ? "a DMA pin" : "a reference");
	d->waits++;
	d->wait_index = index;
	d->wait_folio = f;
}

/* ---- demo helpers ------------------------------------------------------ */

/*
 * A fault: dc_mapping_grab() locks the entry into a handle (an EMPTY
 * placeholder if there was none), dc_mapping_insert() makes it map the
 * device pages (it checks the region is alive under the region's read lock
 * itself), dc_mapping_unlock() gives the handle back.  Returns the
 * inserted entry (unlocked value).
 */
static dc_entry_t fault(struct demo *d, uint64_t index, unsigned order, uint64_t pgoff,
			unsigned flags)
{
	struct dc_entry_handle h;
	dc_entry_t e;
	int ret;

	ret = dc_mapping_grab(d->m, index, order, NULL, &h);
	if (ret == DC_GRAB_FALLBACK)
		fail(d, "dc_mapping_grab(index %" PRIu64 ", order %u) returned DC_GRAB_FALLBACK",
		     index, order);
	ok(d, "dc_mapping_grab", ret);
	EXPECT(d, ret == 0 && h.order == order && dc_entry_is_locked(h.entry));
	ret = dc_mapping_insert(&h, pgoff, flags);
	if (ret) {
		int uret = dc_mapping_unlock(&h); /* the handle stays locked on error */

		ok(d, "dc_mapping_insert", ret);
		ok(d, "dc_mapping_unlock after a failed insert", uret);
	}
	EXPECT(d, dc_entry_is_live(h.entry) && dc_entry_pgoff(h.entry) == pgoff);
	e = h.entry & ~DC_ENTRY_LOCKED;
	OK(d, dc_mapping_unlock(&h));
	return e;
}

static struct dc_folio *lookup(struct demo *d, uint64_t pgoff)
{
	struct dc_folio *f = dc_folio_lookup(d->r, pgoff);

	if (!f)
		fail(d, "dc_folio_lookup(%" PRIu64 ") returned NULL", pgoff);
	return f;
}

/* Device-page layout: bump allocation of @pages pages aligned to @align. */
static bool place(struct demo *d, uint64_t *cursor, uint64_t pages, uint64_t align, uint64_t *out)
{
	uint64_t at = (*cursor + align - 1) & ~(align - 1);

	if (at + pages > dc_region_npages(d->r) || at + pages < at)
		return false;
	*out = at;
	*cursor = at + pages;
	return true;
}

/* ---- the demo ---------------------------------------------------------- */

static int demo_limited(struct demo *d)
{
	struct dc_mapping *m = NULL;
	struct dc_folio *f = NULL;
	char *p;

	step(d, "a limited region (CONFIG_FS_DAX_LIMITED): direct access only, no folios");
	EXPECT_ERR(d, dc_folio_request(d->r, 0, 1, &f), -EOPNOTSUPP);
	say("dc_folio_request: %s: %s", ename(-EOPNOTSUPP), dc_errmsg());
	EXPECT_ERR(d, dc_mapping_create(d->r, NULL, NULL, &m), -EOPNOTSUPP);
	say("dc_mapping_create: %s: %s", ename(-EOPNOTSUPP), dc_errmsg());
	dc_region_read_lock(d->r);
	p = dc_region_addr(d->r, 0);
	EXPECT(d, p != NULL);
	snprintf(p, 64, "direct access");
	say("wrote \"%s\" through dc_region_addr(0) under dc_region_read_lock", p);
	dc_region_read_unlock(d->r);
	step(d, "dc_region_remove: nothing to drain");
	OK(d, dc_region_remove(d->r, NULL));
	d->r = NULL;
	say("ok: the region is gone; notify_failure calls: %" PRIu64, d->notifies);
	printf("demo finished: every call returned what was expected\n");
	return 0;
}

int demo_layers(const char *spec)
{
	static const struct dc_holder_ops hops = {
		.page_free = on_page_free,
		.notify_failure = on_notify_failure,
	};
	static const struct dc_mapping_ops mops = { .revoke = on_revoke, .mkclean = on_mkclean };
	struct demo D = { .spec = spec }, *d = &D;
	const struct dc_break_report report = { .waiting = on_break_waiting, .arg = d };
	struct holder holder = { .name = "demo-fs", .d = d };
	struct dc_region_stats st;
	struct dc_folio *f = NULL, *pinned = NULL, *g = NULL;
	struct dc_entry_handle h;
	struct census c;
	uint64_t cursor = 0, pg_req, pg_small = 0, pg_big = 0, idx_big = 0, idx_pin, pg_pin, mf_pg;
	unsigned order, big_order;
	bool have_small, have_big;
	dc_entry_t e;
	char b1[64], b2[160];
	int ret, n;

	ret = dc_region_create(spec, &d->r);
	if (ret) {
		fprintf(stderr, "daxcore demo: %s: %s\n", spec, dc_errmsg());
		return EXIT_FAILURE;
	}
	order = dc_region_folio_order(d->r);
	d->fpages = UINT64_C(1) << order;
	dc_region_stats(d->r, &st);

	printf("daxcore %s demo on region %s\n", dc_version(), spec);
	section("Region");
	step(d, "dc_region_create(\"%s\"): %s, %" PRIu64 " pages, folio order %u "
	     "(%s folios), type %s", spec, size_str(dc_region_size(d->r), b1, sizeof(b1)),
	     dc_region_npages(d->r), order, order_str(order), type_str(dc_region_type(d->r)));
	EXPECT(d, st.sections == 0 && st.metadata_bytes == 0 && st.busy == 0);
	if (dc_region_type(d->r) == DC_REGION_LIMITED)
		say("no folio metadata at all: a limited region has no folios");
	else
		say("metadata sections allocated: %" PRIu64 " of %" PRIu64 " (%" PRIu64 " of %"
		    PRIu64 " bytes, 16 per folio): made on first touch", st.sections,
		    st.sections_max, st.metadata_bytes, st.metadata_bytes_full);

	begin(d);
	OK(d, dc_region_claim(d->r, &holder, &hops));
	EXPECT(d, dc_region_holder(d->r) == &holder);
	show(d, "dc_region_claim: holder \"%s\" with page_free and notify_failure callbacks: ok",
	     holder.name);

	if (dc_region_type(d->r) == DC_REGION_LIMITED)
		return demo_limited(d);

	/* Where things go on the device (all naturally aligned). */
	if (!place(d, &cursor, d->fpages, d->fpages, &pg_req)) /* cannot happen: size >= 1 folio */
		fail(d, "region too small for one folio");
	have_small = order == 0 && place(d, &cursor, 4, 1, &pg_small);
	big_order = order <= 9 ? 9 : 18;
	have_big = place(d, &cursor, UINT64_C(1) << big_order, UINT64_C(1) << big_order, &pg_big);
	idx_big = UINT64_C(1) << big_order;

	/* ---- folios ---- */
	section("Folios: request by offset, references, DMA pins");
	step(d, "dc_folio_request(pgoff %" PRIu64 ", %" PRIu64 " page%s)", pg_req, d->fpages,
	     d->fpages == 1 ? "" : "s");
	EXPECT(d, dc_folio_lookup(d->r, pg_req) == NULL); /* never touched: no record yet */
	OK(d, dc_folio_request(d->r, pg_req, d->fpages, &f));
	dc_region_stats(d->r, &st);
	EXPECT(d, dc_folio_refcount(f) == 1 && st.busy == 1 && st.sections == 1);
	say("refcount 0 -> %u; metadata sections %" PRIu64, dc_folio_refcount(f), st.sections);
	say("region busy count %" PRIu64 ": 1 liveness reference per non-idle folio",
	    st.busy);

	step(d, "request the same folio again");
	EXPECT_ERR(d, dc_folio_request(d->r, pg_req, d->fpages, &g), -EBUSY);
	say("%s (%s): %s", ename(-EBUSY), dc_strerror(-EBUSY), dc_errmsg());

	begin(d);
	OK(d, dc_folio_get(f));
	EXPECT(d, dc_folio_refcount(f) == 2);
	dc_folio_put(f);
	EXPECT(d, dc_folio_refcount(f) == 1 && d->frees.calls == 0);
	show(d, "dc_folio_get: refcount 2; dc_folio_put: refcount 1 (not the last: no page_free)");

	step(d, "dc_folio_pin (a DMA pin)");
	OK(d, dc_folio_pin(f));
	EXPECT(d, dc_folio_refcount(f) == 1 + DC_PIN_BIAS && dc_folio_maybe_dma_pinned(f));
	say("refcount %u = 1 + DC_PIN_BIAS (%u); dc_folio_maybe_dma_pinned: yes",
	    dc_folio_refcount(f), DC_PIN_BIAS);

	step(d, "dc_folio_unpin");
	dc_folio_unpin(f);
	EXPECT(d, dc_folio_refcount(f) == 1 && !dc_folio_maybe_dma_pinned(f));
	say("refcount %u; dc_folio_maybe_dma_pinned: no", dc_folio_refcount(f));

	step(d, "dc_folio_put: the last reference");
	dc_folio_put(f);
	EXPECT(d, d->frees.calls == 1 && d->frees.first[0] == pg_req);
	report_frees(d);
	EXPECT(d, dc_folio_idle(f) && busy_count(d->r) == 0);
	say("refcount 0: idle; page_free ran exactly once; region busy count 0");

	/* ---- a mapping ---- */
	section("File A: a mapping over the region");
	begin(d);
	OK(d, dc_mapping_create(d->r, &mops, d, &d->m));
	EXPECT(d, dc_mapping_count(d->m) == 0);
	show(d, "dc_mapping_create: file A, with revoke and mkclean callbacks: ok, 0 entries");

	if (have_small) {
		step(d, "fault file pages 0-3: dc_mapping_grab locks an EMPTY placeholder into "
		     "handle h;");
		say("dc_mapping_insert(&h, device page %" PRIu64 "+i, DIRTY), which takes the "
		    "region read lock; dc_mapping_unlock(&h)", pg_small);
		for (uint64_t i = 0; i < 4; i++)
			fault(d, i, 0, pg_small + i, DC_INSERT_DIRTY);
		e = dc_mapping_lookup(d->m, 1);
		EXPECT(d, dc_entry_is_live(e) && dc_entry_pgoff(e) == pg_small + 1);
		EXPECT(d, dc_folio_refcount(lookup(d, pg_small + 1)) == 1);
		EXPECT(d, dc_folio_mapcount(lookup(d, pg_small + 1)) == 1);
		say("file page 1 -> %s; folio refcount 1, mapcount 1 (the entry's reference)",
		    entry_str(e, b1, sizeof(b1)));
	} else if (order) {
		step(d, "4 KiB entries skipped: this region's folios are %s (order %u)",
		     order_str(order), order);
		say("and an entry cannot be smaller than a folio");
	}
	if (have_big) {
		step(d, "fault file page %" PRIu64 " as one %s entry: grab(order %u) (the handle "
		     "keeps the order),", idx_big, order_str(big_order), big_order);
		say("insert device pages %" PRIu64 "-%" PRIu64 "%s", pg_big,
		    pg_big + (UINT64_C(1) << big_order) - 1, big_order == 9 ? " (DIRTY)" : "");
		fault(d, idx_big, big_order, pg_big, big_order == 9 ? DC_INSERT_DIRTY : 0);
		e = dc_mapping_lookup(d->m, idx_big + 37);
		EXPECT(d, dc_entry_is_live(e) && dc_entry_pgoff(e) == pg_big);
		say("file page %" PRIu64 " finds the same entry: %s", idx_big + 37,
		    entry_str(e, b1, sizeof(b1)));
	} else if (have_small) {
		step(d, "%s entry skipped: the region has too few pages", order_str(big_order));
	}
	if (!have_small && !have_big) {
		step(d, "no room for more entries in %" PRIu64 " pages: skipping to removal",
		     dc_region_npages(d->r));
		goto removal;
	}
	dc_region_stats(d->r, &st);
	census(d->m, DC_MARK_DIRTY, &c);
	EXPECT(d, st.busy == (have_small ? 4 : 0) +
			     (have_big ? (UINT64_C(1) << big_order) / d->fpages : 0));
	EXPECT(d, c.entries == dc_mapping_count(d->m) && c.entries == have_small * 4u + have_big);
	say("file A has %" PRIu64 " %s (dc_mapping_for_each: file pages%s); region busy count %"
	    PRIu64 "; metadata sections %" PRIu64 " of %" PRIu64, c.entries,
	    pl(c.entries, "entry", "entries"), ranges_str(&c.pages, b2, sizeof(b2)), st.busy,
	    st.sections, st.sections_max);

	/* The page the "DMA engine" will pin. */
	idx_pin = have_small ? 1 : idx_big + 1;
	pg_pin = have_small ? pg_small + 1 : pg_big + 1;
	mf_pg = have_big ? pg_big + 37 : pg_small + 2;

	{
		char *p;
		uint64_t dirty;

		step(d, "write through the linear map and write back");
		p = dc_region_addr(d->r, pg_pin);
		EXPECT(d, p != NULL);
		snprintf(p, 64, "hello from file A, page %" PRIu64, idx_pin);
		dirty = c.marked;
		say("wrote \"%s\" at dc_region_addr(%" PRIu64 "); DIRTY entries: %" PRIu64, p,
		    pg_pin, dirty);
		EXPECT(d, dirty == c.entries - (have_big && big_order != 9));
		n = OK(d, dc_mapping_writeback(d->m, 0, DC_MAPPING_INDEX_MAX, NULL));
		EXPECT(d, (uint64_t)n == dirty && d->mkcleans == dirty);
		census(d->m, DC_MARK_DIRTY, &c);
		EXPECT(d, c.marked == 0);
		say("dc_mapping_writeback: %d %s flushed, mkclean called %" PRIu64
		    " %s; DIRTY entries now: 0", n, pl(n, "entry", "entries"), d->mkcleans,
		    pl(d->mkcleans, "time", "times"));
		if (have_big && big_order != 9)
			say("(the 1 GiB entry was inserted clean: writing it back flushes 1 GiB)");
	}

	step(d, "a \"DMA engine\" pins file page %" PRIu64 ": dc_mapping_get_folio(pin=true), "
	     "the lockless fast path", idx_pin);
	OK(d, dc_mapping_get_folio(d->m, idx_pin, true, &pinned));
	EXPECT(d, dc_folio_refcount(pinned) == 1 + DC_PIN_BIAS && dc_folio_busy(pinned));
	say("device page %" PRIu64 ", refcount %u (the entry's 1 + a pin): dc_folio_busy; it "
	    "reads \"%s\"", dc_folio_pgoff(pinned), dc_folio_refcount(pinned),
	    (char *)dc_region_addr(d->r, pg_pin));

	step(d, "memory failure at device page %" PRIu64 ": find its file with "
	     "dc_mapping_lock_folio", mf_pg);
	OK(d, dc_mapping_lock_folio(lookup(d, mf_pg), NULL, &h));
	EXPECT(d, h.mapping == d->m && dc_entry_is_locked(h.entry));
	EXPECT(d, dc_entry_is_locked(dc_mapping_lookup(d->m, h.index)));
	{
		uint64_t at = h.index;

		say("-> file %s, page %" PRIu64 ", entry at %" PRIu64 " (%s), locked in a handle",
		    h.mapping == d->m ? "A" : "?", at + (mf_pg - dc_entry_pgoff(h.entry)), at,
		    entry_str(h.entry, b1, sizeof(b1)));
		OK(d, dc_mapping_unlock(&h));
		EXPECT(d, !dc_entry_is_locked(dc_mapping_lookup(d->m, at)));
		EXPECT_ERR(d, dc_mapping_unlock(&h), -EINVAL);
		say("dc_mapping_unlock(&h): ok; again: %s (the handle holds nothing now)",
		    ename(-EINVAL));
	}

	/* ---- truncate ---- */
	section("Truncate file A to 0 while the DMA runs");
	step(d, "dc_mapping_break_layouts(0, end, 10 ms deadline): zap every entry, wait for "
	     "busy folios");
	{
		struct dc_wait_opts w = { .deadline_ns = dc_now_ns() + 10000000ull };

		EXPECT_ERR(d, dc_mapping_break_layouts(d->m, 0, DC_MAPPING_INDEX_MAX, &w, &report),
			   -ETIMEDOUT);
	}
	report_revokes(d);
	report_frees(d);
	census(d->m, DC_MARK_DIRTY, &c);
	/* The file page where the pinned folio starts (a huge folio: its first). */
	EXPECT(d, d->waits == 1 && d->wait_folio == pinned &&
		  d->wait_index == idx_pin - (pg_pin - dc_folio_pgoff(pinned)));
	EXPECT(d, c.zapped == c.entries && c.entries == dc_mapping_count(d->m));
	EXPECT(d, dc_folio_refcount(pinned) == DC_PIN_BIAS && dc_folio_mapcount(pinned) == 0);
	say("%s: %s", ename(-ETIMEDOUT), dc_errmsg());
	say("%" PRIu64 " %s zapped, references dropped; the pin is still held",
	    c.zapped, pl(c.zapped, "entry", "entries"));

	step(d, "the DMA engine tries to pin file page %" PRIu64 " again", idx_pin);
	EXPECT_ERR(d, dc_mapping_get_folio(d->m, idx_pin, true, &g), -EAGAIN);
	say("dc_mapping_get_folio: %s: no new pin through a zapped entry (%s)", ename(-EAGAIN),
	    entry_str(dc_mapping_lookup(d->m, idx_pin), b1, sizeof(b1)));

	step(d, "dc_mapping_delete(file page %" PRIu64 ") while it is pinned", idx_pin);
	EXPECT_ERR(d, dc_mapping_delete(d->m, idx_pin, NULL), -EBUSY);
	EXPECT(d, dc_mapping_violations(d->m) == 1);
	say("%s: %s", ename(-EBUSY), dc_errmsg());
	say("refused, violation counted (dc_mapping_violations: %" PRIu64 "); the block stays "
	    "with file A", dc_mapping_violations(d->m));
	if (have_small) {
		begin(d);
		OK(d, dc_mapping_delete(d->m, 0, NULL));
		OK(d, dc_mapping_delete(d->m, 2, NULL));
		OK(d, dc_mapping_delete(d->m, 3, NULL));
		if (have_big)
			OK(d, dc_mapping_delete(d->m, idx_big, NULL));
		EXPECT(d, dc_mapping_count(d->m) == 1);
		if (have_big)
			show(d, "dc_mapping_delete of the idle entries (file pages 0, 2, 3, %"
			     PRIu64 "): ok, 1 entry left", idx_big);
		else
			show(d, "dc_mapping_delete of the idle entries (file pages 0, 2, 3): ok, "
			     "1 entry left");
	}

	step(d, "the DMA completes: dc_folio_unpin");
	dc_folio_unpin(pinned);
	EXPECT(d, d->frees.calls == 1);
	report_frees(d);
	EXPECT(d, dc_folio_idle(pinned) && !dc_folio_busy(pinned));
	say("refcount 0: the last reference was the pin");

	step(d, "truncate again: dc_mapping_break_layouts, then dc_mapping_truncate(0, end)");
	d->waits = 0;
	n = OK(d, dc_mapping_break_layouts(d->m, 0, DC_MAPPING_INDEX_MAX, NULL, &report));
	EXPECT(d, n == 0 && d->waits == 0);
	OK(d, dc_mapping_truncate(d->m, 0, DC_MAPPING_INDEX_MAX, NULL));
	EXPECT(d, dc_folio_idle(pinned) && dc_folio_owner(pinned) == 0);
	EXPECT(d, dc_mapping_count(d->m) == 0 && busy_count(d->r) == 0);
	EXPECT(d, dc_mapping_violations(d->m) == 1 && dc_mapping_check(d->m));
	say("break layouts: %d waits (nothing busy); truncate: ok", n);
	say("device page %" PRIu64 " is idle and unowned: the owner may reuse it",
	    dc_folio_pgoff(pinned));
	say("file A has 0 entries; region busy count 0: every folio idle");

removal:
	/* ---- removal ---- */
	section("Region removal while a folio is pinned");
	{
		uint64_t fo = order == 0 ? 0 : order;
		struct dc_folio *rf;

		step(d, "fault file page 0 -> device page %" PRIu64 " (%s entry); a DMA engine "
		     "pins it", pg_req, order_str((unsigned)fo));
		fault(d, 0, (unsigned)fo, pg_req, 0);
		OK(d, dc_mapping_get_folio(d->m, 0, true, &rf));
		EXPECT(d, dc_folio_refcount(rf) == 1 + DC_PIN_BIAS);
		say("refcount %u; region busy count %" PRIu64, dc_folio_refcount(rf),
		    busy_count(d->r));

		step(d, "dc_region_remove with a 20 ms deadline");
		{
			struct dc_drain_opts o = { .deadline_ns = dc_now_ns() + 20000000ull };

			EXPECT_ERR(d, dc_region_remove(d->r, &o), -ETIMEDOUT);
		}
		EXPECT(d, d->notifies == 1 && d->notify_flags == DC_MF_PRE_REMOVE);
		EXPECT(d, dc_folio_refcount(rf) == DC_PIN_BIAS);
		say("%s: %s", ename(-ETIMEDOUT), dc_errmsg());

		step(d, "the region is dead but still there");
		EXPECT(d, !dc_region_alive(d->r));
		EXPECT_ERR(d, dc_folio_request(d->r, pg_req, d->fpages, &g), -ENXIO);
		say("dc_region_alive: no; dc_folio_request: %s: %s", ename(-ENXIO), dc_errmsg());
		EXPECT_ERR(d, dc_mapping_get_folio(d->m, 0, true, &g), -EAGAIN);
		say("dc_mapping_get_folio(file page 0): %s (zapped by the holder)",
		    ename(-EAGAIN));
		OK(d, dc_mapping_grab(d->m, 0, (unsigned)fo, NULL, &h));
		EXPECT_ERR(d, dc_mapping_insert(&h, pg_req, 0), -ENXIO);
		EXPECT(d, dc_entry_is_locked(h.entry) && dc_entry_is_zapped(h.entry));
		say("a fault: grab ok; dc_mapping_insert: %s: %s", ename(-ENXIO), dc_errmsg());
		OK(d, dc_mapping_unlock(&h));

		step(d, "the DMA completes: dc_folio_unpin");
		dc_folio_unpin(rf);
		EXPECT(d, d->frees.calls == 1);
		report_frees(d);
		EXPECT(d, busy_count(d->r) == 0);
		say("no folio references left; file A still has %" PRIu64 " %s",
		    dc_mapping_count(d->m), pl(dc_mapping_count(d->m), "entry", "entries"));

		step(d, "dc_region_remove again, 20 ms deadline");
		{
			struct dc_drain_opts o = { .deadline_ns = dc_now_ns() + 20000000ull };

			EXPECT_ERR(d, dc_region_remove(d->r, &o), -ETIMEDOUT);
		}
		EXPECT(d, d->notifies == 1);
		say("%s: %s", ename(-ETIMEDOUT), dc_errmsg());
		say("(a mapping holds its region: removal waits until it is destroyed)");

		begin(d);
		OK(d, dc_mapping_truncate_final(d->m, NULL));
		OK(d, dc_mapping_destroy(d->m));
		d->m = NULL;
		show(d, "evict file A: dc_mapping_truncate_final + dc_mapping_destroy: ok");
	}

	step(d, "dc_region_remove again");
	OK(d, dc_region_remove(d->r, NULL));
	d->r = NULL;
	EXPECT(d, d->notifies == 1);
	say("ok: every reference and mapping gone; the region is unmapped and freed");
	say("holder callbacks in all: notify_failure %" PRIu64 ", page_free %" PRIu64,
	    d->notifies, d->frees_total);
	printf("demo finished: every call returned what was expected\n");
	return 0;
}

