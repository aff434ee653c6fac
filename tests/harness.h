/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * harness.h - the test protocol: one program per behaviour, exit 0 pass,
 * 1 fail, 77 skip (with a line that says why).  Stress tests are
 * deterministic from a seed and scale down under sanitizers.  A watchdog
 * (not a timing assertion) turns a hang into a failure.
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
#include <unistd.h>

/* Test-only hooks of the library (src/base/base.h): fail the nth allocation. */
void dc__fault_set(unsigned long nth);
unsigned long dc__alloc_count(void);

#define T_PASS 0
#define T_FAIL 1
#define T_SKIP 77

#define CHECK(c)                                                                  \
	do {                                                                      \
		if (!(c)) {                                                       \
			fprintf(stderr, "%s:%d: CHECK(%s) failed (errmsg: %s)\n", \
				__FILE__, __LINE__, #c, dc_errmsg());             \
			exit(T_FAIL);                                             \
		}                                                                 \
	} while (0)

#define CHECK_EQ(a, b)                                                              \
	do {                                                                        \
		long long _a = (long long)(a), _b = (long long)(b);                 \
		if (_a != _b) {                                                     \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld (errmsg: %s)\n", \
				__FILE__, __LINE__, #a, _a, #b, _b, dc_errmsg());   \
			exit(T_FAIL);                                               \
		}                                                                   \
	} while (0)

static inline void t_skip(const char *why)
{
	printf("SKIP: %s\n", why);
	exit(T_SKIP);
}

static void t_watchdog_fire(int sig)
{
	static const char msg[] = "watchdog: test did not finish in time (hang or lost wake-up)\n";
	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0) {
	}
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

#endif
