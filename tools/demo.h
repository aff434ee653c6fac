/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * demo.h - what the two halves of `daxcore demo` share: the story
 * (demo.c) and its timeline (demo_out.c: the page statistics of each step,
 * text or JSON lines, the invariant checks and their tally).
 */
#ifndef DC_TOOLS_DEMO_H
#define DC_TOOLS_DEMO_H

#include "cli.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* The region's pages at one step, in 4 KiB pages (-1: not known then). */
struct pagestats {
	int64_t idle;        /* folios with no reference */
	int64_t referenced;  /* referenced (mapped, held), not pinned */
	int64_t pinned;      /* DMA-pinned (refcount >= DC_PIN_BIAS) */
	int64_t poisoned;    /* folios marked poisoned */
	int64_t quarantined; /* dcfs: blocks no file has, waiting for their last unpin */
	int64_t free;        /* dcfs: free blocks */
};

/*
 * A JSON fragment of extra fields for one timeline line: ,"key":value...
 * (built with jb_*(); valid JSON whatever the strings hold).
 */
struct jbuf {
	char s[2048];
	size_t n;
};

void jb_str(struct jbuf *j, const char *key, const char *val);
void jb_u64(struct jbuf *j, const char *key, uint64_t val);
void jb_i64(struct jbuf *j, const char *key, int64_t val);
void jb_ms(struct jbuf *j, const char *key, uint64_t ns); /* milliseconds, 3 decimals */
void jb_bool(struct jbuf *j, const char *key, bool val);
void jb_raw(struct jbuf *j, const char *key, const char *json); /* an array or object as is */
/* @s as a JSON string (quotes included) into @out; returns @out. */
char *json_quote(const char *s, char *out, size_t n);

/*
 * The timeline.  tl_open() starts the clock and the output mode; tl_attach()
 * names what the page statistics are read from (either may be NULL: the
 * columns it gives print as "-"); lines are printed whole under one lock
 * (the truncate and removal threads print too).
 */
void tl_open(bool json);
void tl_attach(struct dc_region *r, struct dc_dcfs *fs);
/* Stop reading the region's folios (a removal may free them from now on). */
void tl_detach_region(void);
uint64_t tl_now_ns(void); /* since tl_open() */

/* A section heading: "-- 2. title --" in text, {"kind":"section",...} in JSON. */
void tl_section(const char *title);
/*
 * One timeline line: elapsed ms, the page statistics now, @kind (the JSON
 * "kind"), the text, and @extra's fields (JSON only; may be NULL).
 */
void tl_emit(const char *kind, const struct jbuf *extra, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A line of plain narration under the previous one (text: indented, no
 * columns; JSON: {"kind":"note"}). */
void tl_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Invariant checks: check() counts every one; a failed one prints its
 * description (kind "check_failed") and the run exits 1 at the end.
 * Returns @cond.
 */
bool check(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
unsigned checks_run(void);
unsigned checks_failed(void);

/*
 * A library call that must succeed failed (or something the story cannot
 * go on without): print it, with dc_errmsg(), and end the process with 1.
 */
void fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* fatal() unless @ret >= 0; returns @ret. */
int64_t must(int64_t ret, const char *call);
#define MUST(call) must((call), #call)

/* The final line: every check's tally.  Returns the exit status. */
int tl_close(void);

/*
 * demo_sigbus.c: accesses to views that may get SIGBUS (main thread only).
 * sigbus_install() installs the demo's SIGBUS handler and the views'
 * SIGSEGV handler.  Each access returns true if it got SIGBUS;
 * sigbus_addr() is then the si_addr it named.
 */
void sigbus_install(void);
/* Load the byte at @p into *@out, or store @val there. */
bool view_touch(volatile uint8_t *p, bool store, uint8_t val, uint8_t *out);
/* Store @c into [@p, @p + @n). */
bool view_store_guarded(uint8_t *p, size_t n, int c);
/* Whether [@p, @p + @n) all read @c (*@same). */
bool view_cmp_guarded(const uint8_t *p, size_t n, int c, bool *same);
/* Load one byte of each page of view bytes [@from, @to): the number of
 * pages that got SIGBUS (each checked to name its address, BUS_ADRERR);
 * the first byte loaded without one in *@first. */
uint64_t view_probe_pages(const struct dc_view *v, uint64_t from, uint64_t to, uint8_t *first);
const void *sigbus_addr(void);
const char *sigbus_code(void); /* "BUS_ADRERR", "BUS_MCEERR_AR", ... */

/*
 * demo_remove.c: dc_region_remove() in another thread (10 s deadline,
 * progress every 10 ms; the first report prints "removal waits: ...").
 * removal_wait_progress(): whether a report came within @ms.
 * removal_finish(): join it, check it succeeded, print "removal completes
 * after ..."; returns its result.
 */
struct removal {
	pthread_t t;
	struct dc_region *r;
	int ret;
	uint64_t waited_ns;
	atomic_bool done;
	pthread_mutex_t lock; /* progress, first */
	pthread_cond_t cond;
	unsigned progress;    /* reports so far */
	uint64_t first;       /* references outstanding at the first one */
};
void removal_start(struct removal *rm, struct dc_region *r);
/* Wait until *@counter (under @m, signalled on @cv) reaches @n, at most @ms. */
bool wait_count(pthread_mutex_t *m, pthread_cond_t *cv, const unsigned *counter, unsigned n,
		unsigned ms);
bool removal_wait_progress(struct removal *rm, unsigned ms);
int removal_finish(struct removal *rm);

/* demo_devdax.c: `daxcore demo --devdax [-d SPEC] [--json]`. */
int demo_devdax(const char *spec, bool json);

/* "16 pages" / "1 page" */
const char *pages_str(uint64_t n, char *buf, size_t len);

#endif
