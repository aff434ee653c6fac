/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * harness.h - the test protocol: one program per module, made of named
 * cases; exit 0 pass, 1 fail, 77 skip (with a line that says why).  Stress
 * tests are deterministic from a seed and scale down under sanitizers.  A
 * watchdog (not a timing assertion) turns a hang into a failure.
 *
 * Cases: declare each with TEST(name) { ... } and end the file with
 * T_MAIN(setup, teardown) (either may be NULL).  Every case runs on a fresh
 * fixture: setup() before it, teardown() after it; teardown checks that the
 * case left nothing referenced, pinned or locked (t_region_teardown() does
 * that for a region).  `prog` runs every case, `prog NAME...` only those,
 * `prog --list` prints the names.  A case may call t_skip() to skip itself.
 * The watchdog is re-armed for each case (DAXCORE_CASE_TIMEOUT, default
 * 240 s); a setup that calls t_watchdog_total() also bounds the program.
 */
#ifndef DC_TEST_HARNESS_H
#define DC_TEST_HARNESS_H

#include <daxcore/daxcore.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <unistd.h>

/* Test-only hooks of the library (src/base/base.h): fail the nth allocation. */
void dc__fault_set(unsigned long nth);
unsigned long dc__alloc_count(void);

static const char *t_current = ""; /* the case running now */

#define T_PASS 0
#define T_FAIL 1
#define T_SKIP 77

#define CHECK(c)                                                                  \
	do {                                                                      \
		if (!(c)) {                                                       \
			fprintf(stderr, "%s:%d: [%s] CHECK(%s) failed (errmsg: %s)\n", \
				__FILE__, __LINE__, t_current, #c, dc_errmsg());  \
			exit(T_FAIL);                                             \
		}                                                                 \
	} while (0)

#define CHECK_EQ(a, b)                                                              \
	do {                                                                        \
		long long _a = (long long)(a), _b = (long long)(b);                 \
		if (_a != _b) {                                                     \
			fprintf(stderr, "%s:%d: [%s] %s == %lld, expected %s == %lld (errmsg: %s)\n", \
				__FILE__, __LINE__, t_current, #a, _a, #b, _b, dc_errmsg());   \
			exit(T_FAIL);                                               \
		}                                                                   \
	} while (0)

/* Skip the whole program (from main or setup), or, inside a case, that case. */
static jmp_buf *t_case_skip_jmp;
static inline void t_skip(const char *why)
{
	printf("SKIP: %s\n", why);
	fflush(stdout);
	if (t_case_skip_jmp)
		longjmp(*t_case_skip_jmp, 1);
	exit(T_SKIP);
}

static void t_watchdog_fire(int sig)
{
	static const char msg[] = "watchdog: test did not finish in time (hang or lost wake-up)";
	static const char in[] = " in case ";
	ssize_t w = write(2, msg, sizeof(msg) - 1);

	(void)sig;
	if (t_current[0]) { /* write() and strlen() only: async-signal-safe */
		w = write(2, in, sizeof(in) - 1);
		w = write(2, t_current, strlen(t_current));
	}
	w = write(2, "\n", 1);
	(void)w;
	_exit(T_FAIL);
}

/* Fail the test if it has not finished within @seconds. */
static inline void t_watchdog(unsigned seconds)
{
	signal(SIGALRM, t_watchdog_fire);
	alarm(seconds);
}

static inline int t_sanitized(void)
{
#ifdef DC_SANITIZED
	return 1;
#else
	return 0;
#endif
}

/* Iteration scale: DAXCORE_TEST_SCALE, default 1 (1/8 under sanitizers, min 1). */
static inline unsigned long t_scale(unsigned long n)
{
	const char *e = getenv("DAXCORE_TEST_SCALE");
	double s = e ? atof(e) : 1.0;
	unsigned long v = (unsigned long)(n * s);

	if (t_sanitized())
		v /= 8;
	return v ? v : 1;
}

/* Deterministic PRNG (xorshift64*), seeded from DAXCORE_TEST_SEED or @def. */
static inline uint64_t t_seed(uint64_t def)
{
	const char *e = getenv("DAXCORE_TEST_SEED");
	return e ? strtoull(e, NULL, 0) : def;
}

static inline uint64_t t_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* ---- the case registry -------------------------------------------------- */

struct t_case {
	const char *name;
	void (*fn)(void);
};

#define T_MAX_CASES 128
static struct t_case t_cases[T_MAX_CASES];
static unsigned t_ncases;

static inline void t_register(const char *name, void (*fn)(void))
{
	if (t_ncases == T_MAX_CASES) {
		fprintf(stderr, "harness: more than %d cases\n", T_MAX_CASES);
		exit(T_FAIL);
	}
	t_cases[t_ncases++] = (struct t_case){ name, fn };
}

/* The name of the case running now ("" outside cases). */
static inline const char *t_case_name(void) { return t_current; }

#define TEST(name)                                                              \
	static void t_case_##name(void);                                        \
	__attribute__((constructor)) static void t_register_##name(void)        \
	{                                                                       \
		t_register(#name, t_case_##name);                               \
	}                                                                       \
	static void t_case_##name(void)

/* Seconds each case may take before the watchdog fails it (DAXCORE_CASE_TIMEOUT). */
static inline unsigned t_case_limit(void)
{
	const char *e = getenv("DAXCORE_CASE_TIMEOUT");

	return e ? (unsigned)atoi(e) : 240;
}

static uint64_t t_start_ns; /* when t_run() started */

/*
 * A limit on the whole program (its cases together, as a t_watchdog() in
 * main() had before the registry): call it from setup.  It re-arms the
 * watchdog for what is left of @seconds since the program started, or for
 * the case limit if that comes sooner.
 */
static inline void t_watchdog_total(unsigned seconds)
{
	uint64_t used = (dc_now_ns() - t_start_ns) / 1000000000ull;
	unsigned left = used >= seconds ? 1 : seconds - (unsigned)used;
	unsigned c = t_case_limit();

	t_watchdog(c && c < left ? c : left);
}

static inline int t_run(int argc, char **argv, void (*setup)(void), void (*teardown)(void))
{
	volatile unsigned ran = 0, skipped = 0; /* live across setjmp() (-Wclobbered) */

	t_start_ns = dc_now_ns();

	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (unsigned i = 0; i < t_ncases; i++)
			printf("%s\n", t_cases[i].name);
		return T_PASS;
	}
	for (int a = 1; a < argc; a++) {
		bool found = false;

		for (unsigned i = 0; i < t_ncases; i++)
			found |= !strcmp(argv[a], t_cases[i].name);
		if (!found) {
			fprintf(stderr, "%s: no case named '%s' (--list names them)\n", argv[0],
				argv[a]);
			return T_FAIL;
		}
	}
	for (unsigned i = 0; i < t_ncases; i++) {
		jmp_buf jb;
		bool want = argc < 2;

		for (int a = 1; a < argc; a++)
			want |= !strcmp(argv[a], t_cases[i].name);
		if (!want)
			continue;
		t_current = t_cases[i].name;
		t_watchdog(t_case_limit());
		if (setup)
			setup();
		t_case_skip_jmp = &jb;
		if (setjmp(jb)) {
			t_case_skip_jmp = NULL;
			skipped++;
			if (teardown)
				teardown();
			printf("skip  %s\n", t_current);
		} else {
			t_cases[i].fn();
			t_case_skip_jmp = NULL;
			if (teardown)
				teardown(); /* checks what the case left behind */
			printf("ok    %s\n", t_current);
		}
		fflush(stdout);
		ran++;
	}
	alarm(0);
	t_current = "";
	if (ran && skipped == ran)
		return T_SKIP;
	return T_PASS;
}

#define T_MAIN(setup, teardown)                                \
	int main(int argc, char **argv)                        \
	{                                                      \
		return t_run(argc, argv, (setup), (teardown)); \
	}

/*
 * Teardown of a region fixture: the case must have left no folio
 * referenced or pinned (nothing busy), then the region is removed (which
 * must not wait: a deadline turns a leak into a failure) and RCU quiesced.
 */
static inline void t_region_teardown(struct dc_region **rp)
{
	struct dc_region_stats st;
	struct dc_drain_opts d = { 0 };

	if (!*rp)
		return;
	dc_region_stats(*rp, &st);
	if (st.busy) {
		fprintf(stderr, "case %s left %llu references in region %s\n", t_current,
			(unsigned long long)st.busy, dc_region_spec(*rp));
		exit(T_FAIL);
	}
	d.deadline_ns = dc_now_ns() + 5000000000ull;
	if (dc_region_remove(*rp, &d)) {
		fprintf(stderr, "case %s: region removal did not finish: %s\n", t_current,
			dc_errmsg());
		exit(T_FAIL);
	}
	*rp = NULL;
	dc_quiesce();
}

#endif
