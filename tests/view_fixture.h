/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * view_fixture.h - catching SIGBUS from view accesses in tests: an access
 * that must get SIGBUS is made under sigsetjmp() (try_load(), try_store());
 * the handler records si_addr and si_code and siglongjmp()s back.  A SIGBUS
 * anywhere else kills the program (the access runs again with the default
 * action).  Per thread, so concurrent tests may use it from every thread.
 * Include after harness.h; call install_sigbus() once.
 */
#ifndef DC_TEST_VIEW_FIXTURE_H
#define DC_TEST_VIEW_FIXTURE_H

#include "harness.h"

#include <stdatomic.h>

/* ---- SIGBUS under sigsetjmp --------------------------------------------------- */

static __thread sigjmp_buf *volatile bus_jmp; /* armed around one access */
static __thread void *volatile bus_addr;
static __thread volatile int bus_code;

static inline void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *jb = bus_jmp;

	(void)sig;
	(void)uc;
	if (!jb) {
		static const char m[] = "SIGBUS outside an access that expected one\n";
		ssize_t w = write(2, m, sizeof(m) - 1);

		(void)w;
		signal(SIGBUS, SIG_DFL); /* the access runs again and dies */
		return;
	}
	bus_jmp = NULL;
	bus_addr = si->si_addr;
	bus_code = si->si_code;
	siglongjmp(*jb, 1);
}

static inline void install_sigbus(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGBUS, &sa, NULL), 0);
}

/*
 * One access of the byte at @p, a store of @val (@store) or a load into
 * *@out: 0, or -1 if it got SIGBUS (bus_addr, bus_code say how).
 */
static inline int try_access(volatile uint8_t *p, bool store, uint8_t val, uint8_t *out)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1))
		return -1;
	bus_jmp = &jb;
	atomic_signal_fence(memory_order_seq_cst);
	if (store)
		*p = val;
	else
		*out = *p;
	atomic_signal_fence(memory_order_seq_cst);
	bus_jmp = NULL;
	return 0;
}

static inline int try_load(const void *p, uint8_t *out)
{
	return try_access((volatile uint8_t *)(uintptr_t)p, false, 0, out);
}

static inline int try_store(void *p, uint8_t val)
{
	return try_access(p, true, val, NULL);
}

static inline struct dc_view_stats vst(void)
{
	struct dc_view_stats s;

	memset(&s, 0xa5, sizeof(s));
	dc_view_stats(&s);
	return s;
}

/* The access at @p (a load, or a store) gets SIGBUS at exactly @p, si_code @code, counted. */
static inline void expect_sigbus_code(void *p, bool store, int code)
{
	struct dc_view_stats s0 = vst();
	uint8_t b = 0;
	int r = store ? try_store(p, 0x99) : try_load(p, &b);

	if (r != -1)
		fprintf(stderr, "[%s] %s at %p did not get SIGBUS (read 0x%02x)\n", t_current,
			store ? "a store" : "a load", p, b);
	CHECK_EQ(r, -1);
	if (bus_addr != p)
		fprintf(stderr, "[%s] SIGBUS si_addr %p, the access was at %p\n", t_current,
			bus_addr, p);
	CHECK(bus_addr == p);
	CHECK_EQ(bus_code, code);
	CHECK_EQ(vst().sigbus, s0.sigbus + 1);
}

/* The same, BUS_ADRERR: past the end of file, shut down. */
static inline void expect_sigbus(void *p, bool store)
{
	expect_sigbus_code(p, store, BUS_ADRERR);
}

/* The byte at @p loads (no SIGBUS) and equals @want. */
static inline void expect_byte(const void *p, uint8_t want)
{
	uint8_t b = 0;

	if (try_load(p, &b))
		fprintf(stderr, "[%s] a load at %p got SIGBUS\n", t_current, p);
	CHECK_EQ(try_load(p, &b), 0);
	if (b != want)
		fprintf(stderr, "[%s] byte at %p: 0x%02x, expected 0x%02x\n", t_current, p, b, want);
	CHECK_EQ(b, want);
}

static inline void store_ok(void *p, uint8_t val)
{
	if (try_store(p, val))
		fprintf(stderr, "[%s] a store at %p got SIGBUS\n", t_current, p);
	CHECK_EQ(try_store(p, val), 0);
}

#endif
