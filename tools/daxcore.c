/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * daxcore.c - the daxcore command-line tool.
 *
 *   daxcore demo [SPEC]   a narrated demonstration of the page-lifetime
 *                         protocol on one region (the main job, `make run`)
 *   daxcore help          usage on stdout
 *   daxcore --version     the library version
 *
 * Subcommands are rows of cmds[] (name, synopsis, summary, function), so a
 * new one is one function and one row; `help` prints the table.  Exit
 * status: 0 success, 1 failure, 2 usage error.
 *
 * The demo uses the public API only (daxcore/daxcore.h).  It checks every
 * return value and every count it narrates; anything unexpected prints the
 * error (dc_strerror() and dc_errmsg()) and exits 1, so the demo doubles as
 * a smoke test.
 */
#include <daxcore/daxcore.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2
#define DEMO_DEFAULT_SPEC "mem:64M"

/* ---- small formatting helpers ------------------------------------------- */

static const char *errname(int err)
{
	switch (err) {
	case 0: return "0";
	case -EINVAL: return "-EINVAL";
	case -ENOMEM: return "-ENOMEM";
	case -ENXIO: return "-ENXIO";
	case -EBUSY: return "-EBUSY";
	case -EPERM: return "-EPERM";
	case -EOPNOTSUPP: return "-EOPNOTSUPP";
	case -EOVERFLOW: return "-EOVERFLOW";
	case -ETIMEDOUT: return "-ETIMEDOUT";
	case -EINTR: return "-EINTR";
	case -ENOENT: return "-ENOENT";
	case -EEXIST: return "-EEXIST";
	case -ERANGE: return "-ERANGE";
	case -EAGAIN: return "-EAGAIN";
	case -ENOSPC: return "-ENOSPC";
	case -EIO: return "-EIO";
	case -ESHUTDOWN: return "-ESHUTDOWN";
	default: {
		static char buf[32];

		snprintf(buf, sizeof(buf), "%d", err);
		return buf;
	}
	}
}

/* "64 MiB", "4 KiB", "1 GiB", or bytes when not a whole unit. */
static const char *size_str(uint64_t bytes, char *buf, size_t n)
{
	static const char *unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	while (u < 4 && bytes >= 1024 && !(bytes & 1023)) {
		bytes >>= 10;
		u++;
	}
	snprintf(buf, n, "%" PRIu64 " %s", bytes, unit[u]);
	return buf;
}

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
	else if (dc_entry_is_err(e))
		snprintf(buf, n, "error %s", errname(dc_entry_err(e)));
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

static void ranges_print(const char *what, const struct ranges *rg)
{
	printf("    <- %s", what);
	if (rg->calls > 1)
		printf(" x%" PRIu64, rg->calls);
	printf(":");
	for (unsigned i = 0; i < rg->n; i++) {
		if (rg->first[i] == rg->last[i])
			printf("%s %" PRIu64, i ? "," : "", rg->first[i]);
		else
			printf("%s %" PRIu64 "-%" PRIu64, i ? "," : "", rg->first[i], rg->last[i]);
	}
	printf("%s\n", rg->more ? ", ..." : "");
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
		fail(d, "%s returned %s (%s): %s", call, errname(ret), dc_strerror(ret),
		     dc_errmsg());
	return ret;
}
#define OK(d, call) ok((d), #call, (call))

/* A call that must fail with exactly @want. */
static void expect_err(struct demo *d, const char *call, int ret, int want)
{
	if (ret != want)
		fail(d, "%s returned %s (%s), expected %s; dc_errmsg: %s", call, errname(ret),
		     dc_strerror(ret), errname(want), dc_errmsg());
}
#define EXPECT_ERR(d, call, want) expect_err((d), #call, (call), (want))

/* A narrated fact that must hold. */
#define EXPECT(d, cond) \
	do { if (!(cond)) fail((d), "expected %s (%s:%d)", #cond, __FILE__, __LINE__); } while (0)

static dc_entry_t entry_ok(struct demo *d, const char *call, dc_entry_t e)
{
	if (dc_entry_is_fallback(e))
		fail(d, "%s returned DC_ENTRY_FALLBACK", call);
	if (dc_entry_is_err(e))
		fail(d, "%s returned %s (%s): %s", call, errname(dc_entry_err(e)),
		     dc_strerror(dc_entry_err(e)), dc_errmsg());
	return e;
}
#define ENTRY_OK(d, call) entry_ok((d), #call, (call))

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

/* ---- callbacks ----------------------------------------------------------- */

/* Holder: a folio became idle.  Runs under RCU: record only. */
static void on_page_free(struct dc_region *r, struct dc_folio *f, void *holder)
{
	struct demo *d = ((struct holder *)holder)->d;

	(void)r;
	ranges_add(&d->frees, dc_folio_pgoff(f), d->fpages);
	d->frees_total++;
}

/* Holder: pages failed or the region is going away: revoke everything. */
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
	n = dc_mapping_zap(d->m, 0, DC_MAPPING_INDEX_MAX, &busy);
	if (n < 0)
		fail(d, "dc_mapping_zap from notify_failure returned %s: %s", errname(n),
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

/* ---- demo helpers ------------------------------------------------------ */

/*
 * A fault: grab the entry (locked), then, under the region read lock,
 * check the region is alive, turn the offset into an address and insert;
 * unlock the entry.  Returns the inserted entry (unlocked value).
 */
static dc_entry_t fault(struct demo *d, uint64_t index, unsigned order, uint64_t pgoff,
			unsigned flags)
{
	dc_entry_t e, ne;
	void *addr;

	e = ENTRY_OK(d, dc_mapping_grab(d->m, index, order));
	dc_region_read_lock(d->r);
	if (!dc_region_alive(d->r)) {
		dc_region_read_unlock(d->r);
		fail(d, "region died during the fault");
	}
	addr = dc_region_addr(d->r, pgoff);
	EXPECT(d, addr != NULL);
	flags |= order == 18 ? DC_INSERT_PUD : order == 9 ? DC_INSERT_PMD : 0;
	ne = dc_mapping_insert(d->m, index, e, pgoff, flags);
	dc_region_read_unlock(d->r);
	if (dc_entry_is_err(ne)) {
		dc_mapping_unlock(d->m, index, e);
		entry_ok(d, "dc_mapping_insert", ne);
	}
	dc_mapping_unlock(d->m, index, ne);
	return ne & ~DC_ENTRY_LOCKED;
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
	say("dc_folio_request: %s: %s", errname(-EOPNOTSUPP), dc_errmsg());
	EXPECT_ERR(d, dc_mapping_create(d->r, NULL, NULL, &m), -EOPNOTSUPP);
	say("dc_mapping_create: %s: %s", errname(-EOPNOTSUPP), dc_errmsg());
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

static int demo_run(const char *spec)
{
	static const struct dc_holder_ops hops = {
		.page_free = on_page_free,
		.notify_failure = on_notify_failure,
	};
	static const struct dc_mapping_ops mops = { .revoke = on_revoke, .mkclean = on_mkclean };
	struct demo D = { .spec = spec }, *d = &D;
	struct holder holder = { .name = "demo-fs", .d = d };
	struct dc_region_stats st;
	struct dc_folio *f = NULL, *pinned = NULL, *busy = NULL, *g = NULL;
	struct dc_entry_lock lk;
	uint64_t cursor = 0, pg_req, pg_small = 0, pg_big = 0, idx_big = 0, idx_pin, pg_pin, mf_pg;
	unsigned order, big_order;
	bool have_small, have_big;
	dc_entry_t e;
	char b1[64];
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
	say("%s (%s): %s", errname(-EBUSY), dc_strerror(-EBUSY), dc_errmsg());

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
		step(d, "fault file pages 0-3: dc_mapping_grab (an EMPTY, LOCKED placeholder);");
		say("under dc_region_read_lock, dc_mapping_insert(device page %" PRIu64 "+i, "
		    "DIRTY); dc_mapping_unlock", pg_small);
		for (uint64_t i = 0; i < 4; i++)
			fault(d, i, 0, pg_small + i, DC_INSERT_DIRTY);
		e = dc_mapping_lookup(d->m, 1);
		EXPECT(d, dc_entry_is_real(e) && dc_entry_pgoff(e) == pg_small + 1);
		EXPECT(d, dc_folio_refcount(lookup(d, pg_small + 1)) == 1);
		say("file page 1 -> %s; folio refcount 1 (the entry's reference)",
		    entry_str(e, b1, sizeof(b1)));
	} else if (order) {
		step(d, "4 KiB entries skipped: this region's folios are %s (order %u)",
		     order_str(order), order);
		say("and an entry cannot be smaller than a folio");
	}
	if (have_big) {
		step(d, "fault file page %" PRIu64 " as one %s entry: grab(order %u),", idx_big,
		     order_str(big_order), big_order);
		say("insert device pages %" PRIu64 "-%" PRIu64 " (%s%s)", pg_big,
		    pg_big + (UINT64_C(1) << big_order) - 1,
		    big_order == 9 ? "DC_INSERT_PMD" : "DC_INSERT_PUD",
		    big_order == 9 ? ", DIRTY" : "");
		fault(d, idx_big, big_order, pg_big, big_order == 9 ? DC_INSERT_DIRTY : 0);
		e = dc_mapping_lookup(d->m, idx_big + 37);
		EXPECT(d, dc_entry_is_real(e) && dc_entry_pgoff(e) == pg_big);
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
	EXPECT(d, st.busy == (have_small ? 4 : 0) +
			     (have_big ? (UINT64_C(1) << big_order) / d->fpages : 0));
	say("file A has %" PRIu64 " %s; region busy count %" PRIu64 "; metadata sections %"
	    PRIu64 " of %" PRIu64, dc_mapping_count(d->m),
	    pl(dc_mapping_count(d->m), "entry", "entries"), st.busy, st.sections,
	    st.sections_max);

	/* The page the "DMA engine" will pin. */
	idx_pin = have_small ? 1 : idx_big + 1;
	pg_pin = have_small ? pg_small + 1 : pg_big + 1;
	mf_pg = have_big ? pg_big + 37 : pg_small + 2;

	{
		char *p;
		uint64_t dirty = 0, nent = have_small * 4 + have_big;

		step(d, "write through the linear map and write back");
		p = dc_region_addr(d->r, pg_pin);
		EXPECT(d, p != NULL);
		snprintf(p, 64, "hello from file A, page %" PRIu64, idx_pin);
		for (uint64_t i = 0; i < 4 && have_small; i++)
			dirty += dc_mapping_get_mark(d->m, i, DC_MARK_DIRTY);
		if (have_big)
			dirty += dc_mapping_get_mark(d->m, idx_big, DC_MARK_DIRTY);
		say("wrote \"%s\" at dc_region_addr(%" PRIu64 "); DIRTY entries: %" PRIu64, p,
		    pg_pin, dirty);
		EXPECT(d, dirty == nent - (have_big && big_order != 9));
		n = OK(d, dc_mapping_writeback(d->m, 0, DC_MAPPING_INDEX_MAX));
		EXPECT(d, (uint64_t)n == dirty && d->mkcleans == dirty);
		dirty = 0;
		for (uint64_t i = 0; i < 4 && have_small; i++)
			dirty += dc_mapping_get_mark(d->m, i, DC_MARK_DIRTY);
		if (have_big)
			dirty += dc_mapping_get_mark(d->m, idx_big, DC_MARK_DIRTY);
		EXPECT(d, dirty == 0);
		say("dc_mapping_writeback: %d %s flushed, mkclean called %" PRIu64
		    " %s; DIRTY entries now: 0", n, pl(n, "entry", "entries"), d->mkcleans,
		    pl(d->mkcleans, "time", "times"));
		if (have_big && big_order != 9)
			say("(the 1 GiB entry was inserted clean: writing it back flushes 1 GiB)");
	}

	step(d, "a \"DMA engine\" pins file page %" PRIu64 ": dc_mapping_get_folio(pin=true), "
	     "the lockless fast path", idx_pin);
	OK(d, dc_mapping_get_folio(d->m, idx_pin, true, &pinned));
	EXPECT(d, dc_folio_refcount(pinned) == 1 + DC_PIN_BIAS);
	say("device page %" PRIu64 ", refcount %u (the entry's 1 + a pin); it reads \"%s\"",
	    dc_folio_pgoff(pinned), dc_folio_refcount(pinned),
	    (char *)dc_region_addr(d->r, pg_pin));

	step(d, "memory failure at device page %" PRIu64 ": find its file with "
	     "dc_mapping_lock_folio", mf_pg);
	OK(d, dc_mapping_lock_folio(lookup(d, mf_pg), &lk));
	EXPECT(d, lk.mapping == d->m && dc_entry_is_locked(lk.entry));
	say("-> file %s, page %" PRIu64 ", entry at %" PRIu64 " (%s), locked; unlock",
	    lk.mapping == d->m ? "A" : "?",
	    lk.index + (mf_pg - dc_entry_pgoff(lk.entry)), lk.index,
	    entry_str(lk.entry, b1, sizeof(b1)));
	dc_mapping_unlock_folio(&lk);
	EXPECT(d, !dc_entry_is_locked(dc_mapping_lookup(d->m, lk.index)));

	/* ---- truncate ---- */
	section("Truncate file A to 0 while the DMA runs");
	step(d, "dc_mapping_zap(0, end): revoke every mapping, drop the entries' references");
	n = OK(d, dc_mapping_zap(d->m, 0, DC_MAPPING_INDEX_MAX, &busy));
	report_revokes(d);
	report_frees(d);
	EXPECT(d, (uint64_t)n == dc_mapping_count(d->m) && busy == pinned);
	say("%d %s zapped; busy folio: device page %" PRIu64 ", refcount %u (the DMA pin)",
	    n, pl(n, "entry", "entries"), dc_folio_pgoff(busy), dc_folio_refcount(busy));

	step(d, "the DMA engine tries to pin file page %" PRIu64 " again", idx_pin);
	EXPECT_ERR(d, dc_mapping_get_folio(d->m, idx_pin, true, &g), -EAGAIN);
	say("dc_mapping_get_folio: %s: no new pin through a zapped entry (%s)", errname(-EAGAIN),
	    entry_str(dc_mapping_lookup(d->m, idx_pin), b1, sizeof(b1)));

	step(d, "break layouts: dc_folio_wait_idle(device page %" PRIu64 ", 10 ms deadline)",
	     dc_folio_pgoff(busy));
	{
		struct dc_wait_opts w = { .deadline_ns = dc_now_ns() + 10000000ull };

		EXPECT_ERR(d, dc_folio_wait_idle(busy, 0, &w), -ETIMEDOUT);
	}
	say("%s: the pin is still held", errname(-ETIMEDOUT));

	step(d, "dc_mapping_delete(file page %" PRIu64 ") while it is pinned", idx_pin);
	EXPECT_ERR(d, dc_mapping_delete(d->m, idx_pin), -EBUSY);
	EXPECT(d, dc_mapping_violations(d->m) == 1);
	say("%s: %s", errname(-EBUSY), dc_errmsg());
	say("refused, violation counted (dc_mapping_violations: %" PRIu64 "); the block stays "
	    "with file A", dc_mapping_violations(d->m));
	if (have_small) {
		begin(d);
		OK(d, dc_mapping_delete(d->m, 0));
		OK(d, dc_mapping_delete(d->m, 2));
		OK(d, dc_mapping_delete(d->m, 3));
		if (have_big)
			OK(d, dc_mapping_delete(d->m, idx_big));
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
	EXPECT(d, dc_folio_idle(pinned));
	say("refcount 0: the last reference was the pin");

	step(d, "dc_mapping_delete(file page %" PRIu64 ") again", idx_pin);
	OK(d, dc_mapping_delete(d->m, idx_pin));
	EXPECT(d, dc_folio_idle(pinned) && dc_folio_owner(pinned) == 0);
	EXPECT(d, dc_mapping_count(d->m) == 0 && busy_count(d->r) == 0);
	EXPECT(d, dc_mapping_check(d->m));
	say("ok: device page %" PRIu64 " is idle and unowned: the owner may reuse it",
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
		say("%s: %s", errname(-ETIMEDOUT), dc_errmsg());

		step(d, "the region is dead but still there");
		EXPECT(d, !dc_region_alive(d->r));
		EXPECT_ERR(d, dc_folio_request(d->r, pg_req, d->fpages, &g),
			   -ENXIO);
		say("dc_region_alive: no; dc_folio_request: %s: %s", errname(-ENXIO), dc_errmsg());
		EXPECT_ERR(d, dc_mapping_get_folio(d->m, 0, true, &g), -EAGAIN);
		say("dc_mapping_get_folio(file page 0): %s (zapped by the holder)",
		    errname(-EAGAIN));

		step(d, "the DMA completes: dc_folio_unpin; evict file A");
		dc_folio_unpin(rf);
		EXPECT(d, d->frees.calls == 1);
		report_frees(d);
		OK(d, dc_mapping_truncate_final(d->m, NULL));
		OK(d, dc_mapping_destroy(d->m));
		d->m = NULL;
		say("dc_mapping_truncate_final + dc_mapping_destroy: ok");
	}

	step(d, "dc_region_remove again");
	OK(d, dc_region_remove(d->r, NULL));
	d->r = NULL;
	EXPECT(d, d->notifies == 1);
	say("ok: every reference drained; the region is unmapped and freed");
	say("holder callbacks in all: notify_failure %" PRIu64 ", page_free %" PRIu64,
	    d->notifies, d->frees_total);
	printf("demo finished: every call returned what was expected\n");
	return 0;
}

/* ---- subcommands --------------------------------------------------------- */

static int cmd_help(int argc, char **argv);

static void usage_hint(void)
{
	fprintf(stderr, "run 'daxcore help' for usage\n");
}

static int cmd_demo(int argc, char **argv)
{
	const char *spec = DEMO_DEFAULT_SPEC;

	if (argc > 2) {
		fprintf(stderr, "daxcore demo: too many arguments (one SPEC at most)\n");
		usage_hint();
		return EXIT_USAGE;
	}
	if (argc == 2) {
		if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
			return cmd_help(1, argv);
		if (argv[1][0] == '-') {
			fprintf(stderr, "daxcore demo: unknown option '%s'\n", argv[1]);
			usage_hint();
			return EXIT_USAGE;
		}
		spec = argv[1];
	}
	return demo_run(spec);
}

static int cmd_version(int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "daxcore --version: takes no arguments\n");
		return EXIT_USAGE;
	}
	printf("daxcore %s\n", dc_version());
	return 0;
}

struct cmd {
	const char *name;
	const char *synopsis;
	const char *summary;
	int (*fn)(int argc, char **argv); /* argv[0] is the command name */
};

static const struct cmd cmds[] = {
	{ "demo", "demo [SPEC]",
	  "narrated demonstration of the DAX page-lifetime protocol on a region\n"
	  "(default " DEMO_DEFAULT_SPEC "); exits 0 if every call behaved as expected", cmd_demo },
	{ "help", "help", "print this help", cmd_help },
	{ "--version", "--version", "print the version", cmd_version },
};

static int cmd_help(int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "daxcore %s: unexpected argument '%s'\n", argv[0], argv[1]);
		return EXIT_USAGE;
	}
	printf("usage: daxcore COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *s = cmds[i].summary, *nl;

		printf("  %-14s", cmds[i].synopsis);
		while ((nl = strchr(s, '\n'))) {
			printf("%.*s\n%16s", (int)(nl - s), s, "");
			s = nl + 1;
		}
		printf("%s\n", s);
	}
	printf("\nSPEC is a region spec:\n"
	       "  mem:SIZE[,huge][,OPTS]          anonymous memory (memfd); huge: 2 MiB pages\n"
	       "  file:PATH[,size=SIZE][,OPTS]    a file, mapped shared\n"
	       "  devdax:/dev/daxX.Y[,OPTS]       a device-dax character device\n"
	       "  OPTS: order=0|9|18 (4 KiB, 2 MiB, 1 GiB folios), type=fsdax|devdax|limited\n"
	       "  SIZE: a number with an optional K, M, G or T suffix\n"
	       "\nexit status: 0 success, 1 failure, 2 usage error\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "daxcore: missing command\n");
		usage_hint();
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return cmd_help(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "daxcore: unknown command '%s'\n", argv[1]);
	usage_hint();
	return EXIT_USAGE;
}
