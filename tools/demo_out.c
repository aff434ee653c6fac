// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * demo_out.c - the timeline of `daxcore demo`: each line is the elapsed
 * time, the region's page statistics at that moment and what happened, as
 * aligned text or as one JSON object per line; the invariant checks and
 * their tally.
 *
 * Page statistics, in 4 KiB pages: idle, referenced and pinned partition
 * the region by the folios' reference counts (a walk of dc_folio_lookup()
 * and dc_folio_refcount(); on regions of more than 2^20 folios, derived
 * from dc_region_stats() busy count and statfs instead), poisoned counts
 * poisoned folios; quarantined and free are dcfs's allocator
 * (dc_dcfs_statfs(), blocks times pages per block).  A folio counts whole:
 * one pinned page of a 2 MiB folio makes 512 pinned pages.
 */
#include "demo.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define WALK_MAX (UINT64_C(1) << 20) /* folios walked per step at most */

static struct {
	pthread_mutex_t lock;
	bool json;
	bool started; /* a line was printed */
	uint64_t t0;
	struct dc_region *r;
	struct dc_dcfs *fs;
	unsigned width; /* digits of a page count column */
	int columns;    /* the terminal's width: text wraps there (0: no wrapping) */
	unsigned checks, failed;
	char first_failed[512];
} T = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- JSON ------------------------------------------------------------------ */

/* The length of the valid UTF-8 sequence at @s (0: not one). */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	uint32_t c;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, c = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return n;
}

/* Quote @s: escapes for '"', '\\' and control characters, U+FFFD for bytes
 * that are not UTF-8; truncated (still valid) if @n is too small. */
char *json_quote(const char *s, char *out, size_t n)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t at = 0;

	if (n < 3) {
		if (n)
			out[0] = 0;
		return out;
	}
	out[at++] = '"';
	while (*p) {
		char esc[8];
		const char *piece = esc;
		size_t k = 1, len;

		if (*p == '"' || *p == '\\') {
			esc[0] = '\\', esc[1] = (char)*p, esc[2] = 0;
		} else if (*p == '\n') {
			strcpy(esc, "\\n");
		} else if (*p == '\t') {
			strcpy(esc, "\\t");
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
		} else if (*p < 0x80) {
			piece = (const char *)p;
		} else if ((k = utf8_len(p)) != 0) {
			piece = (const char *)p;
		} else {
			strcpy(esc, "\\ufffd");
			k = 1;
		}
		len = piece == esc ? strlen(esc) : k;
		if (at + len + 2 > n)
			break;
		memcpy(out + at, piece, len);
		at += len;
		p += k;
	}
	out[at++] = '"';
	out[at] = 0;
	return out;
}

static void jb_put(struct jbuf *j, const char *key, const char *val)
{
	char q[96];
	int w;

	if (j->n >= sizeof(j->s))
		return;
	w = snprintf(j->s + j->n, sizeof(j->s) - j->n, ",%s:%s", json_quote(key, q, sizeof(q)),
		     val);
	if (w < 0 || (size_t)w >= sizeof(j->s) - j->n)
		j->s[j->n] = 0; /* does not fit: leave it out, keep what is valid */
	else
		j->n += (size_t)w;
}

void jb_str(struct jbuf *j, const char *key, const char *val)
{
	char q[600];

	jb_put(j, key, val ? json_quote(val, q, sizeof(q)) : "null");
}

void jb_u64(struct jbuf *j, const char *key, uint64_t val)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRIu64, val);
	jb_put(j, key, b);
}

void jb_i64(struct jbuf *j, const char *key, int64_t val)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRId64, val);
	jb_put(j, key, b);
}

void jb_ms(struct jbuf *j, const char *key, uint64_t ns)
{
	char b[32];

	snprintf(b, sizeof(b), "%" PRIu64 ".%03" PRIu64, ns / 1000000, ns / 1000 % 1000);
	jb_put(j, key, b);
}

void jb_bool(struct jbuf *j, const char *key, bool val)
{
	jb_put(j, key, val ? "true" : "false");
}

void jb_raw(struct jbuf *j, const char *key, const char *json)
{
	jb_put(j, key, json);
}

/* ---- page statistics -------------------------------------------------------- */

static void pagestats(struct pagestats *ps)
{
	struct dc_dcfs_statfs sf;
	uint64_t bpages = 1;

	ps->idle = ps->referenced = ps->pinned = ps->poisoned = -1;
	ps->quarantined = ps->free = -1;
	if (T.fs) {
		dc_dcfs_statfs(T.fs, &sf);
		bpages = sf.block_size >> DC_PAGE_SHIFT;
		ps->quarantined = (int64_t)(sf.blocks_quarantined * bpages);
		ps->free = (int64_t)(sf.blocks_free * bpages);
	}
	if (!T.r)
		return;
	{
		unsigned order = dc_region_folio_order(T.r);
		uint64_t fpages = UINT64_C(1) << order, np = dc_region_npages(T.r);

		if (dc_region_type(T.r) == DC_REGION_LIMITED)
			return;
		if ((np >> order) <= WALK_MAX) {
			ps->idle = ps->referenced = ps->pinned = ps->poisoned = 0;
			for (uint64_t pg = 0; pg < np; pg += fpages) {
				struct dc_folio *f = dc_folio_lookup(T.r, pg);

				if (!f || dc_folio_idle(f))
					ps->idle += (int64_t)fpages;
				else if (dc_folio_maybe_dma_pinned(f))
					ps->pinned += (int64_t)fpages;
				else
					ps->referenced += (int64_t)fpages;
				if (f && dc_folio_poisoned(f))
					ps->poisoned += (int64_t)fpages;
			}
		} else {
			struct dc_region_stats rs;
			uint64_t busy, pinned = 0, bad = 0;

			dc_region_stats(T.r, &rs);
			busy = rs.busy * fpages < np ? rs.busy * fpages : np;
			if (T.fs) {
				pinned = sf.pinned_pages < busy ? sf.pinned_pages : busy;
				bad = sf.blocks_bad * bpages;
			}
			ps->idle = (int64_t)(np - busy);
			ps->pinned = (int64_t)pinned;
			ps->referenced = (int64_t)(busy - pinned);
			ps->poisoned = (int64_t)bad;
		}
	}
}

/* ---- the timeline ----------------------------------------------------------- */

void tl_open(bool json)
{
	struct winsize ws;

	T.json = json;
	T.t0 = dc_now_ns();
	T.width = 5;
	T.columns = 0;
	if (!json && isatty(STDOUT_FILENO))
		T.columns = !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col >= 80 ? ws.ws_col : 80;
}

void tl_attach(struct dc_region *r, struct dc_dcfs *fs)
{
	pthread_mutex_lock(&T.lock);
	T.r = r;
	T.fs = fs;
	if (r) {
		char b[24];
		unsigned w = (unsigned)snprintf(b, sizeof(b), "%" PRIu64, dc_region_npages(r));

		T.width = w > 5 ? w : 5;
	}
	pthread_mutex_unlock(&T.lock);
}

void tl_detach_region(void)
{
	pthread_mutex_lock(&T.lock);
	T.r = NULL;
	pthread_mutex_unlock(&T.lock);
}

uint64_t tl_now_ns(void)
{
	return dc_now_ns() - T.t0;
}

static void col(int64_t v)
{
	if (v < 0)
		printf(" %*s", (int)T.width, "-");
	else
		printf(" %*" PRId64, (int)T.width, v);
}

/* The width of the columns before the text: the time and six page counts. */
static int prefix_width(void)
{
	return 9 + 6 * ((int)T.width + 1) + 2;
}

/*
 * Print @text from the current column (@prefix_width() printed already):
 * on a terminal wrapped at spaces to its width, continuation lines indented
 * to the same column; elsewhere (a pipe, a file, a test) one line each.
 */
static void put_wrapped(const char *text)
{
	int indent = prefix_width(), width = T.columns - indent;
	const char *p = text;

	if (!T.columns) {
		printf("%s\n", p);
		return;
	}
	if (width < 40)
		width = 40;
	for (;;) {
		size_t len = strlen(p), cut;

		if (len <= (size_t)width) {
			printf("%s\n", p);
			return;
		}
		cut = (size_t)width;
		while (cut > 0 && p[cut] != ' ')
			cut--;
		if (!cut) { /* one long word: break it at the first space after */
			cut = (size_t)width;
			while (p[cut] && p[cut] != ' ')
				cut++;
			if (!p[cut]) {
				printf("%s\n", p);
				return;
			}
		}
		printf("%.*s\n%*s", (int)cut, p, indent, "");
		p += cut + 1;
	}
}

static void json_head(const char *kind, uint64_t t)
{
	char q[128];

	printf("{\"t_ms\":%" PRIu64 ".%03" PRIu64 ",\"kind\":%s", t / 1000000, t / 1000 % 1000,
	       json_quote(kind, q, sizeof(q)));
}

void tl_section(const char *title)
{
	static unsigned n;
	uint64_t t = tl_now_ns();
	char q[600];

	pthread_mutex_lock(&T.lock);
	n++;
	T.started = true;
	if (T.json) {
		json_head("section", t);
		printf(",\"section\":%u,\"text\":%s}\n", n, json_quote(title, q, sizeof(q)));
	} else {
		int len = printf("\n-- %u. %s ", n, title);

		for (int i = len; i < 78; i++)
			putchar('-');
		printf("\n%9s", "ms");
		printf(" %*s %*s %*s %*s %*s %*s  %s\n", (int)T.width, "idle", (int)T.width, "ref",
		       (int)T.width, "pin", (int)T.width, "pois", (int)T.width, "quar",
		       (int)T.width, "free", "what happened");
	}
	fflush(stdout);
	pthread_mutex_unlock(&T.lock);
}

static void vemit(const char *kind, const struct jbuf *extra, const char *fmt, va_list ap)
{
	struct pagestats ps;
	char text[1024], q[1200];
	uint64_t t;

	vsnprintf(text, sizeof(text), fmt, ap);
	pthread_mutex_lock(&T.lock);
	T.started = true;
	t = tl_now_ns();
	pagestats(&ps);
	if (T.json) {
		json_head(kind, t);
		printf(",\"text\":%s", json_quote(text, q, sizeof(q)));
		if (ps.idle >= 0 || ps.free >= 0) {
			const char *key[] = { "idle", "referenced", "pinned", "poisoned",
					      "quarantined", "free" };
			const int64_t val[] = { ps.idle, ps.referenced, ps.pinned, ps.poisoned,
						ps.quarantined, ps.free };

			printf(",\"pages\":{");
			for (int i = 0; i < 6; i++) {
				if (val[i] < 0)
					printf("%s\"%s\":null", i ? "," : "", key[i]);
				else
					printf("%s\"%s\":%" PRId64, i ? "," : "", key[i], val[i]);
			}
			printf("}");
		} else {
			printf(",\"pages\":null");
		}
		if (extra && extra->n)
			fputs(extra->s, stdout);
		printf("}\n");
	} else {
		printf("%9.3f", (double)t / 1e6);
		col(ps.idle);
		col(ps.referenced);
		col(ps.pinned);
		col(ps.poisoned);
		col(ps.quarantined);
		col(ps.free);
		printf("  ");
		put_wrapped(text);
	}
	fflush(stdout);
	pthread_mutex_unlock(&T.lock);
}

void tl_emit(const char *kind, const struct jbuf *extra, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit(kind, extra, fmt, ap);
	va_end(ap);
}

void tl_note(const char *fmt, ...)
{
	char text[1024], q[1200];
	va_list ap;
	uint64_t t = tl_now_ns();

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&T.lock);
	if (T.json) {
		json_head("note", t);
		printf(",\"text\":%s}\n", json_quote(text, q, sizeof(q)));
	} else {
		printf("%*s", prefix_width(), "");
		put_wrapped(text);
	}
	fflush(stdout);
	pthread_mutex_unlock(&T.lock);
}

/* ---- checks ------------------------------------------------------------------ */

bool check(bool cond, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	pthread_mutex_lock(&T.lock);
	T.checks++;
	pthread_mutex_unlock(&T.lock);
	if (cond)
		return true;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&T.lock);
	if (!T.failed++)
		snprintf(T.first_failed, sizeof(T.first_failed), "%s", what);
	pthread_mutex_unlock(&T.lock);
	{
		struct jbuf j = { .n = 0 };

		jb_str(&j, "check", what);
		tl_emit("check_failed", &j, "CHECK FAILED: %s", what);
	}
	fprintf(stderr, "daxcore demo: check failed: %s\n", what);
	return false;
}

unsigned checks_run(void)
{
	return T.checks;
}

unsigned checks_failed(void)
{
	return T.failed;
}

void fatal(const char *fmt, ...)
{
	char what[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* In text, a failure before the first line (the region) is stderr's only. */
	if (T.json || T.started) {
		struct jbuf j = { .n = 0 };

		jb_str(&j, "error", what);
		jb_bool(&j, "ok", false);
		tl_emit("fatal", &j, "FAILED: %s", what);
	}
	fprintf(stderr, "daxcore demo: %s\n", what);
	fflush(NULL);
	/* Threads of the story (a DMA, a truncate, a removal) may still run
	 * inside the library: leave without running exit handlers. */
	_exit(EXIT_FAILURE);
}

int64_t must(int64_t ret, const char *call)
{
	if (ret < 0)
		fatal("%s returned %s (%s): %s", call, ename((int)ret), dc_strerror((int)ret),
		      dc_errmsg());
	return ret;
}

int tl_close(void)
{
	struct jbuf j = { .n = 0 };
	bool ok = T.failed == 0;

	jb_u64(&j, "checks", T.checks);
	jb_u64(&j, "failed", T.failed);
	jb_bool(&j, "ok", ok);
	if (!ok)
		jb_str(&j, "first_failed", T.first_failed);
	if (!T.json)
		putchar('\n');
	if (ok)
		tl_emit("result", &j, "demo finished: all %u checks held", T.checks);
	else
		tl_emit("result", &j, "demo FAILED: %u of %u checks failed, the first: %s",
			T.failed, T.checks, T.first_failed);
	return ok ? 0 : EXIT_FAILURE;
}

const char *pages_str(uint64_t n, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64 " page%s", n, n == 1 ? "" : "s");
	return buf;
}
